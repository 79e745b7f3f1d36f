/* db.h: the process's one PostgreSQL connection: opened lazily, re-opened
 * after the server restarts. Values never enter SQL text: a statement
 * with parameters runs as a named prepared statement (prepared again
 * wherever PgBouncer's transaction pooling finds it missing), one without
 * as a simple query. */
#ifndef LATCH_DB_H
#define LATCH_DB_H

#include <libpq-fe.h>

enum db_err {
	DB_OK = 0,
	DB_EUNAVAILABLE = -1,   /* cannot reach the server: answer 503 */
	DB_EUNIQUE = -2,        /* a unique constraint refused the row */
	DB_ERETRY = -3,         /* serialization failure or deadlock */
	DB_EQUERY = -4,         /* any other error: a bug; logged */
	DB_ENOMEM = -5,
};

struct db;

/* Creates the handle without connecting. conninfo (a URI or keyword
 * string, NULL for libpq's defaults) is copied. Returns 0, or DB_ENOMEM. */
int db_new(const char *conninfo, const char *application_name,
    struct db **out);

/* Closes the connection and frees db. NULL is fine. */
void db_free(struct db *db);

/* May be retried transparently after a reconnect: the statement is
 * read-only or otherwise harmless to run twice. */
#define DB_IDEMPOTENT 0x1

/* Runs one statement with text parameters (NULL for SQL NULL), as a
 * prepared statement named after its text; one without parameters
 * (nparams 0) must be a constant, and goes as a simple query, so it must
 * be a single statement. Either way it must not be a transaction's
 * part (BEGIN ... COMMIT from several calls): a transaction is one call
 * of a function in SQL. Connects
 * first when needed. A connection found broken is re-opened; with
 * DB_IDEMPOTENT a statement that failed because the connection broke is
 * run once more on a fresh one. On success returns DB_OK and *res (which
 * the caller PQclears) holds PGRES_TUPLES_OK or PGRES_COMMAND_OK; on
 * failure returns a negative enum db_err, *res is NULL, and the error is
 * logged by SQLSTATE and message, never with parameter values. */
int db_exec(struct db *db, const char *sql, int nparams,
    const char *const *params, unsigned flags, PGresult **res);

/* Ends a request: rolls back any transaction left open so that the next
 * request starts idle. */
void db_end_request(struct db *db);

/* Runs "SELECT 1" (idempotent). Returns DB_OK or DB_EUNAVAILABLE. */
int db_ping(struct db *db);

/* The text of row, col of res, or NULL when the value is SQL NULL (the
 * pointer is into res). */
static inline const char *
db_value_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL :
	    PQgetvalue(res, row, col);
}

#endif
