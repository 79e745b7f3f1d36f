/* db.c: one lazily opened, self-healing libpq connection. */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "log.h"

/* Statements with parameters run as named prepared statements, so that
 * the server parses and plans each once per connection instead of once
 * per request (an unnamed PQexecParams of GET /api/profile's call cost
 * the server 60% more than the prepared one, measured with pgbench). The
 * most kept per process: latch has about twenty; past this, the unnamed
 * way. */
#define DB_STATEMENTS 64
/* "latch_" and 32 hex digits: half a SHA-256 of the text. */
#define DB_NAME_LEN 38

struct db_statement {
	char *sql;                      /* the text, owned */
	char name[DB_NAME_LEN + 1];
	int prepared;                   /* on the current connection */
};

/* How long after its last answer a connection is taken as alive without
 * a look at its socket (db_ensure): a process under load sends its next
 * statement within microseconds, and the look is a system call a
 * statement (a sixtieth of GET /api/health's CPU, measured). */
#define DB_PROBE_AFTER_NS (100LL * 1000000)

struct db {
	char *conninfo;                 /* "" for libpq defaults */
	char *application_name;
	PGconn *conn;
	int64_t answered_ns;            /* monotonic, of the last answer */
	struct db_statement stmt[DB_STATEMENTS];
	size_t nstmt;
};

int
db_new(const char *conninfo, const char *application_name, struct db **out)
{
	struct db *db = calloc(1, sizeof *db);

	if (db == NULL)
		return DB_ENOMEM;
	db->conninfo = strdup(conninfo != NULL ? conninfo : "");
	db->application_name = strdup(application_name);
	if (db->conninfo == NULL || db->application_name == NULL) {
		db_free(db);
		return DB_ENOMEM;
	}
	*out = db;
	return DB_OK;
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	for (size_t i = 0; i < db->nstmt; i++)
		free(db->stmt[i].sql);
	free(db->conninfo);
	free(db->application_name);
	free(db);
}

/* First line of a libpq message, for a log value. */
static void
log_db_error(const char *event, const char *sqlstate, const char *msg)
{
	size_t len = msg != NULL ? strcspn(msg, "\n") : 0;

	log_event(LOG_ERROR, event, "sqlstate=%s message=\"%.*s\"",
	    sqlstate != NULL ? sqlstate : "none", (int)(len > 200 ? 200 : len),
	    msg != NULL ? msg : "");
}

static int
db_connect(struct db *db)
{
	/* Defaults first: whatever the connection string says wins
	 * (expand_dbname applies later entries over earlier ones). */
	const char *keys[] = { "connect_timeout", "application_name",
	    "dbname", NULL };
	const char *values[] = { "3", db->application_name, db->conninfo,
	    NULL };
	PGresult *res;

	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	/* A new connection has none of our statements. */
	for (size_t i = 0; i < db->nstmt; i++)
		db->stmt[i].prepared = 0;
	db->conn = PQconnectdbParams(keys, values, 1);
	if (db->conn == NULL)
		return DB_ENOMEM;
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_db_error("db_connect_failed", NULL,
		    PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
		return DB_EUNAVAILABLE;
	}
	/* Bound every wait, so a stuck lock or query cannot hold a worker
	 * (and its client) for long. Session settings, not conninfo
	 * options, because PgBouncer refuses startup options. */
	res = PQexec(db->conn, "SELECT set_config('statement_timeout', '5s', "
	    "false), set_config('lock_timeout', '3s', false), "
	    "set_config('idle_in_transaction_session_timeout', '10s', false), "
	    "set_config('TimeZone', 'UTC', false)");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_db_error("db_session_setup_failed",
		    PQresultErrorField(res, PG_DIAG_SQLSTATE),
		    PQerrorMessage(db->conn));
		PQclear(res);
		PQfinish(db->conn);
		db->conn = NULL;
		return DB_EUNAVAILABLE;
	}
	PQclear(res);
	return DB_OK;
}

/* CLOCK_MONOTONIC_COARSE: read without a system call, and fine enough
 * for DB_PROBE_AFTER_NS. */
static int64_t
coarse_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether the idle connection's socket has something to read: an idle
 * connection is sent nothing, unless its server is going away (a restart
 * sends FATAL 57P01, then closes). PQconsumeInput was the look before,
 * and it reads that error without parsing it and reports the connection
 * fine, so the next statement failed: after a restart, the first refresh
 * of every process was a 503. Returns 1 when something (or the end) is
 * waiting or the socket is unusable, 0 when nothing is. */
static int
idle_input_waiting(PGconn *conn)
{
	struct pollfd p = { PQsocket(conn), POLLIN, 0 };
	int rc;

	if (p.fd < 0)
		return 1;
	do
		rc = poll(&p, 1, 0);
	while (rc < 0 && errno == EINTR);
	return rc != 0;
}

/* Makes sure there is a connection that still looks alive: an idle one
 * that has been sent anything is opened afresh. A connection that
 * answered within DB_PROBE_AFTER_NS is not looked at: one that died since
 * fails its statement as it would have died just after the look, and
 * db_exec then reconnects (and retries what is idempotent). */
static int
db_ensure(struct db *db)
{
	int64_t now = coarse_now_ns();

	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
		/* In a transaction, a new connection would lose it: the
		 * statement fails on its own if the server went away. */
		if (PQtransactionStatus(db->conn) != PQTRANS_IDLE)
			return DB_OK;
		if (now - db->answered_ns < DB_PROBE_AFTER_NS && now != 0)
			return DB_OK;
		if (!idle_input_waiting(db->conn))
			return DB_OK;
	}
	return db_connect(db);
}

static int
classify(const char *sqlstate, int connection_bad)
{
	if (connection_bad || sqlstate == NULL)
		return DB_EUNAVAILABLE;
	if (strncmp(sqlstate, "08", 2) == 0 ||          /* connection */
	    strcmp(sqlstate, "57P01") == 0 ||           /* admin shutdown */
	    strcmp(sqlstate, "57P02") == 0 ||           /* crash shutdown */
	    strcmp(sqlstate, "57P03") == 0 ||           /* cannot connect now */
	    strcmp(sqlstate, "53300") == 0)             /* too many conns */
		return DB_EUNAVAILABLE;
	if (strcmp(sqlstate, "23505") == 0)
		return DB_EUNIQUE;
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0 ||
	    strcmp(sqlstate, "55P03") == 0)             /* lock timeout */
		return DB_ERETRY;
	return DB_EQUERY;
}

/* The entry of sql, made when new: its name is derived from the text
 * alone, so that every process gives one statement one name. NULL when
 * the table is full or memory is short (the caller goes unnamed). */
static struct db_statement *
statement_of(struct db *db, const char *sql)
{
	unsigned char digest[CRYPTO_SHA256_LEN];
	struct db_statement *st;

	for (size_t i = 0; i < db->nstmt; i++)
		if (strcmp(db->stmt[i].sql, sql) == 0)
			return &db->stmt[i];
	if (db->nstmt == DB_STATEMENTS ||
	    crypto_sha256(sql, strlen(sql), digest) != 0)
		return NULL;
	st = &db->stmt[db->nstmt];
	if ((st->sql = strdup(sql)) == NULL)
		return NULL;
	memcpy(st->name, "latch_", 6);
	crypto_hex(digest, (DB_NAME_LEN - 6) / 2, st->name + 6);
	st->prepared = 0;
	db->nstmt++;
	return st;
}

static int
failed(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return res == NULL || (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK);
}

static int
sqlstate_is(const PGresult *res, const char *state)
{
	const char *s = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s != NULL && strcmp(s, state) == 0;
}

/* Runs st as a named prepared statement, preparing it first where the
 * server connection lacks it. Behind PgBouncer's transaction pooling
 * (1.18: it carries no prepared statement from one server connection to
 * another) each statement may reach another server connection, so a
 * missing statement (26000) is prepared again, and one that exists there
 * already (42P05: prepared by another of our processes, under the same
 * name, so with the same text) is simply used; after a few rounds every
 * server connection holds it. Bounded: past three rounds, or when the
 * server cannot keep it (a result type changed by a migration: 0A000),
 * the statement runs unnamed. Returns what PQexec* returned. */
static PGresult *
run_prepared(struct db *db, struct db_statement *st, int nparams,
    const char *const *params)
{
	PGresult *res;

	for (int round = 0; round < 3; round++) {
		if (!st->prepared) {
			res = PQprepare(db->conn, st->name, st->sql, nparams,
			    NULL);
			if (failed(res) && !sqlstate_is(res, "42P05"))
				return res; /* a broken connection or bad SQL */
			PQclear(res);
			st->prepared = 1;
		}
		res = PQexecPrepared(db->conn, st->name, nparams, params, NULL,
		    NULL, 0);
		if (!failed(res))
			return res;
		if (sqlstate_is(res, "0A000")) {
			/* "cached plan must not change result type": drop
			 * it and go unnamed this once; the next request
			 * prepares it anew. */
			PQclear(res);
			res = PQexec(db->conn, "DEALLOCATE ALL");
			PQclear(res);
			for (size_t i = 0; i < db->nstmt; i++)
				db->stmt[i].prepared = 0;
			break;
		}
		if (!sqlstate_is(res, "26000"))
			return res;
		PQclear(res);
		st->prepared = 0;
	}
	return PQexecParams(db->conn, st->sql, nparams, NULL, params, NULL,
	    NULL, 0);
}

int
db_exec(struct db *db, const char *sql, int nparams, const char *const *params,
    unsigned flags, PGresult **out)
{
	int attempt, rc = DB_EUNAVAILABLE;

	*out = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		struct db_statement *stmt;
		PGresult *res;
		const char *sqlstate;
		int bad;

		if ((rc = db_ensure(db)) != DB_OK)
			return rc;
		/* A statement without parameters goes as a simple query:
		 * one message instead of the extended protocol's five, which
		 * is measurably cheaper for the server (GET /api/health's
		 * "SELECT 1"). Every such statement is a constant. The
		 * others go prepared. */
		if (nparams == 0)
			res = PQexec(db->conn, sql);
		else if ((stmt = statement_of(db, sql)) != NULL)
			res = run_prepared(db, stmt, nparams, params);
		else
			res = PQexecParams(db->conn, sql, nparams, NULL,
			    params, NULL, NULL, 0);
		if (!failed(res)) {
			db->answered_ns = coarse_now_ns();
			*out = res;
			return DB_OK;
		}
		sqlstate = res != NULL ? PQresultErrorField(res,
		    PG_DIAG_SQLSTATE) : NULL;
		bad = PQstatus(db->conn) != CONNECTION_OK;
		rc = classify(sqlstate, bad);
		if (rc == DB_EUNIQUE)
			/* Expected by callers (a taken name): not a fault. */
			;
		else
			log_db_error(rc == DB_EUNAVAILABLE ? "db_unavailable" :
			    "db_error", sqlstate, res != NULL ?
			    PQresultErrorMessage(res) : PQerrorMessage(db->conn));
		PQclear(res);
		if (rc != DB_EUNAVAILABLE || !(flags & DB_IDEMPOTENT))
			return rc;
		/* Connection lost: reconnect and, being idempotent, retry. */
		if (db->conn != NULL) {
			PQfinish(db->conn);
			db->conn = NULL;
		}
	}
	return rc;
}

void
db_end_request(struct db *db)
{
	PGresult *res;

	if (db == NULL || db->conn == NULL)
		return;
	switch (PQtransactionStatus(db->conn)) {
	case PQTRANS_IDLE:
		return;
	case PQTRANS_INTRANS:
	case PQTRANS_INERROR:
		res = PQexec(db->conn, "ROLLBACK");
		PQclear(res);
		log_event(LOG_WARN, "db_transaction_left_open",
		    "action=rollback");
		return;
	default:
		/* Unknown or active: the connection is not trustworthy. */
		PQfinish(db->conn);
		db->conn = NULL;
		return;
	}
}

int
db_ping(struct db *db)
{
	PGresult *res;
	int rc = db_exec(db, "SELECT 1", 0, NULL, DB_IDEMPOTENT, &res);

	PQclear(res);
	return rc == DB_OK ? DB_OK : DB_EUNAVAILABLE;
}
