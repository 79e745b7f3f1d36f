/* db.c: one lazily opened, self-healing libpq connection. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

struct db {
	char *conninfo;                 /* "" for libpq defaults */
	char *application_name;
	PGconn *conn;
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

/* Makes sure there is a connection that still looks alive. A server that
 * restarted while we were idle has closed the socket; PQconsumeInput
 * notices that without a round trip. */
static int
db_ensure(struct db *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK &&
	    PQconsumeInput(db->conn) == 1 &&
	    PQstatus(db->conn) == CONNECTION_OK)
		return DB_OK;
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

int
db_exec(struct db *db, const char *sql, int nparams, const char *const *params,
    unsigned flags, PGresult **out)
{
	int attempt, rc = DB_EUNAVAILABLE;

	*out = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		PGresult *res;
		ExecStatusType st;
		const char *sqlstate;
		int bad;

		if ((rc = db_ensure(db)) != DB_OK)
			return rc;
		/* A statement without parameters goes as a simple query:
		 * one message instead of the extended protocol's five, which
		 * is measurably cheaper for the server (GET /api/health's
		 * "SELECT 1"). Every such statement is a constant. */
		res = nparams == 0 ? PQexec(db->conn, sql) :
		    PQexecParams(db->conn, sql, nparams, NULL, params, NULL,
		    NULL, 0);
		st = PQresultStatus(res);
		if (res != NULL && (st == PGRES_TUPLES_OK ||
		    st == PGRES_COMMAND_OK)) {
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
