/* db.c: one lazily opened, self-healing libpq connection, every answer
 * awaited under a deadline. */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "dbhosts.h"
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

#define DB_STR_(x) #x
#define DB_STR(x) DB_STR_(x)

/* Keywords one connection may be opened with: libpq has about fifty. */
#define DB_CONNECT_PARAMS 96

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

const struct db_setting db_settings[DB_SETTINGS_COUNT] = {
	{ "statement_timeout", DB_STR(DB_STATEMENT_TIMEOUT_MS) },
	{ "lock_timeout", DB_STR(DB_LOCK_TIMEOUT_MS) },
	{ "idle_in_transaction_session_timeout", DB_STR(DB_IDLE_TX_TIMEOUT_MS) },
	{ "TimeZone", "UTC" },
};

/* The connect's one statement: sets, for this session, each of
 * db_settings ($1 name, $2 value, $3 name, ...) that is not in force,
 * and names it. No row: all were, as stored for the role. */
static const char settings_sql[] =
    "SELECT w.name, set_config(w.name, w.value, false)"
    " FROM (VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8)) AS w(name, value)"
    " JOIN pg_settings s ON s.name = w.name"
    " WHERE s.setting IS DISTINCT FROM w.value";
_Static_assert(DB_SETTINGS_COUNT == 4, "settings_sql has four pairs");

struct db {
	char *conninfo;                 /* "" for libpq defaults */
	char *application_name;
	/* NULL, or the hosts of a connection string that lists several and
	 * wants a read-write one: latch asks each itself (lib/dbhosts.h) */
	struct dbhosts *hosts;
	size_t good_host;               /* the one that served last */
	PGconn *conn;                   /* non-blocking once connected */
	int64_t answered_ns;            /* monotonic, of the last answer */
	int gave_up;                    /* this request met a server that
					 * did not answer in time or could
					 * not be reached: every later
					 * statement fails at once, until
					 * db_end_request */
	int settings_warned;            /* db_settings_not_stored logged */
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
	/* Unparsable: libpq says why at connect (or it is a list of more
	 * hosts than latch takes over: libpq has it, as it would). */
	if (db->conninfo != NULL &&
	    dbhosts_parse(db->conninfo, &db->hosts) != 0) {
		db->hosts = NULL;
		log_event(LOG_WARN, "db_hosts_left_to_libpq", "max_hosts=%d",
		    DBHOSTS_MAX);
	}
	if (db->conninfo == NULL || db->application_name == NULL) {
		db_free(db);
		return DB_ENOMEM;
	}
	*out = db;
	return DB_OK;
}

/* Drops the connection without waiting for the server: on a non-blocking
 * connection PQfinish only tries once to send its Terminate message, so a
 * server that stopped reading cannot hold us here either. (A cancel
 * request would not help: it goes to the same stopped server, and waits
 * for its answer.) */
static void
db_drop(struct db *db)
{
	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
}

void
db_free(struct db *db)
{
	if (db == NULL)
		return;
	db_drop(db);
	for (size_t i = 0; i < db->nstmt; i++)
		free(db->stmt[i].sql);
	crypto_free_secret(db->conninfo);       /* may hold a password */
	free(db->application_name);
	dbhosts_free(db->hosts);
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

/* CLOCK_MONOTONIC_COARSE: read without a system call, and fine enough
 * for DB_PROBE_AFTER_NS and for deadlines of seconds. */
static int64_t
coarse_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits until conn's socket is ready for events or deadline (monotonic
 * ns) passes. Returns 1 when ready, 0 at the deadline, -1 when the socket
 * is unusable. */
static int
wait_socket(PGconn *conn, short events, int64_t deadline)
{
	struct pollfd p = { PQsocket(conn), events, 0 };

	if (p.fd < 0)
		return -1;
	for (;;) {
		int64_t left = deadline - coarse_now_ns();
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)((left + 999999) / 1000000));
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* Awaits the answer to what PQsend* just queued on db->conn (sent: what
 * it returned), as PQexec would but never past DB_ANSWER_WAIT_MS: the
 * server's statement_timeout ends any statement before that, so a server
 * silent that long has stopped answering (stopped by a signal, a host or
 * network gone, a socket that no keepalive watches). The connection is
 * then dropped, db->gave_up set, and NULL returned. Also NULL, the
 * connection dropped, when the command could not be sent or the
 * connection broke before the server said it was done (ReadyForQuery),
 * whatever it had answered: a COMMIT's fate is not known until then. Otherwise the last result (an error
 * result included), for PQclear. The common case costs what PQexec's
 * blocking wait did: the send, one poll, one read. */
static PGresult *
round_trip_within(struct db *db, int sent, int wait_ms)
{
	PGconn *conn = db->conn;
	PGresult *last = NULL, *res;
	int64_t deadline;
	int rc;

	if (!sent)
		goto broken;
	deadline = coarse_now_ns() + (int64_t)wait_ms * 1000000;
	/* What the socket's buffer did not take at once. */
	while ((rc = PQflush(conn)) == 1) {
		if ((rc = wait_socket(conn, POLLIN | POLLOUT, deadline)) == 0)
			goto silent;
		if (rc < 0)
			goto broken;
		if (!PQconsumeInput(conn))
			goto broken;
	}
	if (rc < 0)
		goto broken;
	for (;;) {
		while (PQisBusy(conn)) {
			/* Under TLS the answer may be decrypted already and
			 * no longer in the socket, where poll would miss it
			 * (libpq's own waits ask OpenSSL first): a read
			 * before each wait, which costs a system call. */
			if (PQsslInUse(conn)) {
				if (!PQconsumeInput(conn))
					goto broken;
				if (!PQisBusy(conn))
					break;
			}
			if ((rc = wait_socket(conn, POLLIN, deadline)) == 0)
				goto silent;
			if (rc < 0)
				goto broken;
			if (!PQconsumeInput(conn))
				goto broken;
		}
		if ((res = PQgetResult(conn)) == NULL)
			return last;
		PQclear(last);
		last = res;
	}
broken:
	/* Broken before ReadyForQuery: whatever was answered, the end of
	 * the statement (its COMMIT) was not. */
	PQclear(last);
	log_db_error("db_connection_lost", NULL, PQerrorMessage(conn));
	db_drop(db);
	return NULL;
silent:
	PQclear(last);
	log_event(LOG_ERROR, "db_timeout", "waited_ms=%d action=disconnect",
	    wait_ms);
	db_drop(db);
	db->gave_up = 1;
	return NULL;
}

static PGresult *
round_trip(struct db *db, int sent)
{
	return round_trip_within(db, sent, DB_ANSWER_WAIT_MS);
}

/* The connection defaults, which whatever the connection string says
 * overrides. The keepalives find the dead peer of an idle TCP connection
 * (db_ensure then sees the socket's error and connects afresh instead of
 * sending into it), the user timeout one that stopped acknowledging what
 * was sent. Neither means anything on a Unix socket: there round_trip's
 * deadline is the only bound. */
static const char *const connect_keys[] = { "connect_timeout", "keepalives",
    "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", NULL };
static const char *const connect_values[] = { DB_STR(DB_CONNECT_TIMEOUT_S),
    "1", DB_STR(DB_KEEPALIVES_IDLE_S), DB_STR(DB_KEEPALIVES_INTERVAL_S),
    DB_STR(DB_KEEPALIVES_COUNT), DB_STR(DB_TCP_USER_TIMEOUT_MS), NULL };

/* Whether the server takes writes, asked of the server itself (a pooler
 * passes the statement on; what it reports at login may be old:
 * lib/dbhosts.h). */
static const char writable_sql[] =
    "SELECT NOT (pg_is_in_recovery() OR"
    " current_setting('transaction_read_only')::boolean)";

/* Opens db->conn with keys/values (expand: the last value is a
 * connection string to expand), makes sure it takes writes when asked
 * (host: its index in the list, for the log), and sets it up. Returns
 * DB_OK, DB_ENOMEM, or DB_EUNAVAILABLE with no connection. */
static int
connect_one(struct db *db, const char *const *keys,
    const char *const *values, int expand, long host)
{
	const char *params[2 * DB_SETTINGS_COUNT];
	PGresult *res;

	db->conn = PQconnectdbParams(keys, values, expand);
	if (db->conn == NULL)
		return DB_ENOMEM;
	/* From here on every command is sent, and its answer awaited, by
	 * round_trip under its deadline. */
	if (PQstatus(db->conn) != CONNECTION_OK ||
	    PQsetnonblocking(db->conn, 1) != 0) {
		log_db_error("db_connect_failed", NULL,
		    PQerrorMessage(db->conn));
		db_drop(db);
		return DB_EUNAVAILABLE;
	}
	if (host >= 0) {
		/* A server that cannot say this within connect_timeout is
		 * no better than one that cannot be reached. */
		const char *why = NULL;

		res = round_trip_within(db, PQsendQuery(db->conn,
		    writable_sql), DB_SETUP_WAIT_MS);
		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1)
			why = "no_answer";
		else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
			why = "read_only";
		PQclear(res);
		if (why != NULL) {
			log_event(LOG_WARN, "db_host_skipped",
			    "host_index=%ld reason=%s", host, why);
			db_drop(db);
			return DB_EUNAVAILABLE;
		}
	}
	/* Bound every wait on the server's side too, so a stuck lock or
	 * query cannot hold a worker (and its client) for long; the same
	 * timeouts make round_trip's deadline. Stored for the role by
	 * latchctl migrate, so normally in force already; set here, for
	 * this session, where not (db.h: db_settings). A statement, not
	 * startup options, because PgBouncer refuses startup options. */
	for (size_t i = 0; i < DB_SETTINGS_COUNT; i++) {
		params[2 * i] = db_settings[i].name;
		params[2 * i + 1] = db_settings[i].value;
	}
	res = round_trip_within(db, PQsendQueryParams(db->conn, settings_sql,
	    2 * DB_SETTINGS_COUNT, NULL, params, NULL, NULL, 0),
	    DB_SETUP_WAIT_MS);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_db_error("db_session_setup_failed", res != NULL ?
		    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL,
		    db->conn != NULL ? PQerrorMessage(db->conn) :
		    "connection dropped");
		PQclear(res);
		db_drop(db);
		return DB_EUNAVAILABLE;
	}
	if (PQntuples(res) > 0 && !db->settings_warned) {
		char names[200] = "";
		size_t len = 0;

		for (int r = 0; r < PQntuples(res) && len < sizeof names; r++)
			len += (size_t)snprintf(names + len,
			    sizeof names - len, "%s%s", r > 0 ? "," : "",
			    PQgetvalue(res, r, 0));
		log_event(LOG_WARN, "db_settings_not_stored",
		    "settings=%s action=set_for_session hint=\"run latchctl "
		    "migrate: behind transaction pooling they must be the "
		    "role's\"", names);
		db->settings_warned = 1;
	}
	PQclear(res);
	return DB_OK;
}

static int
db_connect(struct db *db)
{
	const char *keys[DB_CONNECT_PARAMS], *values[DB_CONNECT_PARAMS];
	const char *dkeys[sizeof connect_keys / sizeof connect_keys[0] + 1];
	const char *dvalues[sizeof dkeys / sizeof dkeys[0]];
	size_t n, d;
	int rc;

	db_drop(db);
	/* A new connection has none of our statements. */
	for (size_t i = 0; i < db->nstmt; i++)
		db->stmt[i].prepared = 0;
	if (db->hosts == NULL) {
		/* libpq does it all: defaults first, the connection string
		 * (expanded last, so it wins) after. */
		for (d = 0; connect_keys[d] != NULL; d++) {
			keys[d] = connect_keys[d];
			values[d] = connect_values[d];
		}
		keys[d] = "application_name";
		values[d++] = db->application_name;
		keys[d] = "dbname";
		values[d++] = db->conninfo;
		keys[d] = values[d] = NULL;
		return connect_one(db, keys, values, 1, -1);
	}
	/* Several hosts and a read-write one wanted: each asked in turn,
	 * starting with the one that served last. The same defaults, and
	 * our application_name unless the string names one. */
	for (d = 0; connect_keys[d] != NULL; d++) {
		dkeys[d] = connect_keys[d];
		dvalues[d] = connect_values[d];
	}
	dkeys[d] = "application_name";
	dvalues[d++] = db->application_name;
	dkeys[d] = dvalues[d] = NULL;
	n = dbhosts_count(db->hosts);
	for (size_t k = 0; k < n; k++) {
		size_t i = (db->good_host + k) % n;

		if (dbhosts_params(db->hosts, i, dkeys, dvalues, keys, values,
		    DB_CONNECT_PARAMS) != 0)
			return DB_ENOMEM;
		rc = connect_one(db, keys, values, 0, (long)i);
		if (rc != DB_EUNAVAILABLE) {
			if (rc == DB_OK)
				db->good_host = i;
			return rc;
		}
		/* A skipped host's wait is not the request's. */
		db->gave_up = 0;
	}
	return DB_EUNAVAILABLE;
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

/* A server that says this of a statement cannot serve latch on this
 * connection: it is going away, cannot take it, or is read-only (a
 * standby: the primary failed over, or a pooler's server did). Another
 * connection may reach one that can. */
static int
connection_refused(const char *sqlstate)
{
	return sqlstate != NULL &&
	    (strncmp(sqlstate, "08", 2) == 0 ||         /* connection */
	    strcmp(sqlstate, "57P01") == 0 ||           /* admin shutdown */
	    strcmp(sqlstate, "57P02") == 0 ||           /* crash shutdown */
	    strcmp(sqlstate, "57P03") == 0 ||           /* cannot connect now */
	    strcmp(sqlstate, "53300") == 0 ||           /* too many conns */
	    strcmp(sqlstate, "25006") == 0);            /* read-only */
}

static int
classify(const char *sqlstate, int connection_bad)
{
	if (connection_bad || sqlstate == NULL || connection_refused(sqlstate))
		return DB_EUNAVAILABLE;
	/* The server's own bounds: lock_timeout, statement_timeout. The
	 * database stayed contended for seconds; nothing was done, and a
	 * retry at once would wait as long again. */
	if (strcmp(sqlstate, "55P03") == 0 ||           /* lock timeout */
	    strcmp(sqlstate, "57014") == 0)             /* statement timeout */
		return DB_EUNAVAILABLE;
	if (strcmp(sqlstate, "23505") == 0)
		return DB_EUNIQUE;
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
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
 * the statement runs unnamed. Returns what round_trip returned (NULL:
 * the connection broke, or was dropped at the deadline). */
static PGresult *
run_prepared(struct db *db, struct db_statement *st, int nparams,
    const char *const *params)
{
	PGresult *res;

	for (int round = 0; round < 3; round++) {
		if (!st->prepared) {
			res = round_trip(db, PQsendPrepare(db->conn, st->name,
			    st->sql, nparams, NULL));
			if (failed(res) && !sqlstate_is(res, "42P05"))
				return res; /* a broken connection or bad SQL */
			PQclear(res);
			st->prepared = 1;
		}
		res = round_trip(db, PQsendQueryPrepared(db->conn, st->name,
		    nparams, params, NULL, NULL, 0));
		if (!failed(res))
			return res;
		if (sqlstate_is(res, "0A000")) {
			/* "cached plan must not change result type": drop
			 * it and go unnamed this once; the next request
			 * prepares it anew. */
			PQclear(res);
			res = round_trip(db, PQsendQuery(db->conn,
			    "DEALLOCATE ALL"));
			if (res == NULL)
				return NULL;
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
	return round_trip(db, PQsendQueryParams(db->conn, st->sql, nparams,
	    NULL, params, NULL, NULL, 0));
}

int
db_exec(struct db *db, const char *sql, int nparams, const char *const *params,
    unsigned flags, PGresult **out)
{
	int attempt, rc = DB_EUNAVAILABLE;

	*out = NULL;
	/* This request already waited for a server that does not answer:
	 * one wait per request, not one per statement. */
	if (db->gave_up)
		return DB_EUNAVAILABLE;
	for (attempt = 0; attempt < 2; attempt++) {
		struct db_statement *stmt;
		PGresult *res;
		const char *sqlstate;
		int bad, not_run, refused;

		if ((rc = db_ensure(db)) != DB_OK) {
			if (rc == DB_EUNAVAILABLE)
				db->gave_up = 1;
			return rc;
		}
		/* A statement without parameters goes as a simple query:
		 * one message instead of the extended protocol's five, which
		 * is measurably cheaper for the server (GET /api/health's
		 * "SELECT 1"). Every such statement is a constant. The
		 * others go prepared. */
		if (nparams == 0)
			res = round_trip(db, PQsendQuery(db->conn, sql));
		else if ((stmt = statement_of(db, sql)) != NULL)
			res = run_prepared(db, stmt, nparams, params);
		else
			res = round_trip(db, PQsendQueryParams(db->conn, sql,
			    nparams, NULL, params, NULL, NULL, 0));
		if (!failed(res)) {
			db->answered_ns = coarse_now_ns();
			*out = res;
			return DB_OK;
		}
		sqlstate = res != NULL ? PQresultErrorField(res,
		    PG_DIAG_SQLSTATE) : NULL;
		bad = db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK;
		rc = classify(sqlstate, bad);
		if (rc == DB_EUNIQUE)
			/* Expected by callers (a taken name): not a fault. */
			;
		else
			log_db_error(rc == DB_EUNAVAILABLE ? "db_unavailable" :
			    "db_error", sqlstate, res != NULL ?
			    PQresultErrorMessage(res) : db->conn != NULL ?
			    PQerrorMessage(db->conn) : "connection lost");
		/* A read-only server ran nothing of the statement: it may
		 * run again, on another server, whatever it does. */
		not_run = !bad && sqlstate_is(res, "25006");
		refused = !bad && connection_refused(sqlstate);
		PQclear(res);       /* and with it sqlstate */
		/* Only a statement that failed because its connection broke
		 * is run again, and only one that may run twice (or that was
		 * not run): what else failed may have been done (a COMMIT
		 * whose answer was lost) or will fail again (a lock still
		 * held), and a server that did not answer in time would be
		 * waited for twice. A connection whose server cannot serve
		 * is left either way, for a fresh one (the next host of a
		 * multi-host list). */
		if (refused)
			db_drop(db);
		if (rc != DB_EUNAVAILABLE || db->gave_up ||
		    !(not_run || (bad && (flags & DB_IDEMPOTENT))))
			return rc;
		db_drop(db);
	}
	return rc;
}

void
db_end_request(struct db *db)
{
	PGresult *res;

	if (db == NULL)
		return;
	db->gave_up = 0;
	if (db->conn == NULL)
		return;
	switch (PQtransactionStatus(db->conn)) {
	case PQTRANS_IDLE:
		return;
	case PQTRANS_INTRANS:
	case PQTRANS_INERROR:
		res = round_trip(db, PQsendQuery(db->conn, "ROLLBACK"));
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			db_drop(db);
		PQclear(res);
		/* The wait above is this request's, not the next one's. */
		db->gave_up = 0;
		log_event(LOG_WARN, "db_transaction_left_open",
		    "action=rollback");
		return;
	default:
		/* Unknown or active: the connection is not trustworthy. */
		db_drop(db);
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
