/* db.h: a PostgreSQL connection (a process has one, and a second for
 * DATABASE_READ_URL: lib/reads.h): opened lazily, re-opened
 * after the server restarts, never waited for past a deadline. Values never enter SQL text: a statement
 * with parameters runs as a named prepared statement (prepared again
 * wherever PgBouncer's transaction pooling finds it missing), one without
 * as a simple query. */
#ifndef LATCH_DB_H
#define LATCH_DB_H

#include <libpq-fe.h>

/* The bounds on every connection (docs: README "Faults and timeouts").
 * Connection keywords, defaults that the connection string overrides:
 * connect_timeout (seconds, per address tried), TCP keepalives (an idle
 * connection whose peer is gone is found dead after about idle +
 * interval x count seconds) and tcp_user_timeout (ms: sent data left
 * unacknowledged that long ends the connection). Server settings, in
 * force for every statement (db_settings below): statement_timeout,
 * lock_timeout, idle_in_transaction_session_timeout (ms). */
#define DB_CONNECT_TIMEOUT_S            3
#define DB_KEEPALIVES_IDLE_S            10
#define DB_KEEPALIVES_INTERVAL_S        5
#define DB_KEEPALIVES_COUNT             3
#define DB_TCP_USER_TIMEOUT_MS          10000
#define DB_STATEMENT_TIMEOUT_MS         5000
#define DB_LOCK_TIMEOUT_MS              3000
#define DB_IDLE_TX_TIMEOUT_MS           10000
/* The client's own bound: the longest wait for the answer to one command
 * (statement_timeout, and a second for the answer's way back). A server
 * that stops answering (SIGSTOP, a lost host, a Unix socket nobody reads)
 * cancels nothing; at this deadline the connection is dropped and the
 * statement fails DB_EUNAVAILABLE. Thus, from the moment the server stops
 * answering, a request waits at most this long (or, when it must
 * connect, what DB_SETUP_WAIT_MS says), then answers 503: a first wait
 * fails every later statement of the same request at once (until
 * db_end_request). */
#define DB_ANSWER_WAIT_MS               (DB_STATEMENT_TIMEOUT_MS + 1000)
/* The longest wait for the answer to each statement of a connection's
 * set-up (whether the server takes writes, its settings): a trivial
 * statement on a fresh connection, so a server that cannot answer it
 * this soon is taken as down. So a request that must connect waits, per
 * host tried, at most connect_timeout (per address) plus this once (one
 * host) or twice (a host list, lib/dbhosts.h), before its statement; a
 * host list is tried host after host, and a statement refused as
 * read-only goes once more through it. */
#define DB_SETUP_WAIT_MS                (DB_CONNECT_TIMEOUT_S * 1000)

/* The server settings every statement of latch runs under: the three
 * timeouts above, and UTC. `latchctl migrate` stores them as the role's
 * defaults in its database (ALTER ROLE ... IN DATABASE ... SET), so that
 * every server connection has them from its start whoever it serves:
 * behind PgBouncer's transaction pooling one client's statements run on
 * many server connections, and a setting made by one client stays with
 * the server connection for the next. At every connect latch compares
 * them with what is in force and sets, for its session only, any that
 * differs (a database migrated by psql-migrate.sh, a pooler that logs in
 * as another role), logging db_settings_not_stored once per process:
 * right on a direct connection, not enough behind transaction pooling.
 * value is as pg_settings.setting shows it (milliseconds for a time), a
 * form SET also takes. */
struct db_setting {
	const char *name;
	const char *value;
};
#define DB_SETTINGS_COUNT 4
extern const struct db_setting db_settings[DB_SETTINGS_COUNT];

enum db_err {
	DB_OK = 0,
	DB_EUNAVAILABLE = -1,   /* cannot reach the server, it did not answer
				 * in time, it gave up waiting itself
				 * (lock_timeout, statement_timeout), or it
				 * is a standby that refused a write (after
				 * a failover): answer 503 */
	DB_EUNIQUE = -2,        /* a unique constraint refused the row */
	DB_ERETRY = -3,         /* serialization failure or deadlock */
	DB_EQUERY = -4,         /* any other error: a bug; logged */
	DB_ENOMEM = -5,
};

struct db;

/* Creates the handle without connecting. conninfo (a URI or keyword
 * string, NULL for libpq's defaults) is copied. One that lists several
 * hosts with target_session_attrs=read-write (or primary) is not left to
 * libpq, which would believe what a pooler reports for its server: each
 * host is connected to alone and asked whether it takes writes, starting
 * with the one that served last (DB_SETUP_WAIT_MS says how long each may
 * take; lib/dbhosts.h), so that a failover is followed through PgBouncer
 * too. The one that served last is this process's memory only: a new
 * process starts with the first listed.
 * Returns 0, or DB_ENOMEM. */
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
 * run once more on a fresh one (never one that met a deadline or a
 * timeout); a statement a server refused because it is read-only (a
 * demoted primary, or a pooler still in front of one) was not run, and
 * is run once more on a fresh connection, which a multi-host connection
 * string with target_session_attrs=read-write makes to the new primary.
 * A connection whose server said it is going away or cannot serve (an
 * 08, 57P0x, 53300 or 25006 error) is dropped, so that the next
 * statement connects afresh. Each answer is awaited at most DB_ANSWER_WAIT_MS; success
 * means the server said the statement was done (its implicit COMMIT
 * included). A DB_EUNAVAILABLE for a statement that changes rows does
 * not say it was not done: its answer may have been lost on the way.
 * On success returns DB_OK and *res (which
 * the caller PQclears) holds PGRES_TUPLES_OK or PGRES_COMMAND_OK; on
 * failure returns a negative enum db_err, *res is NULL, and the error is
 * logged by SQLSTATE and message, never with parameter values. */
int db_exec(struct db *db, const char *sql, int nparams,
    const char *const *params, unsigned flags, PGresult **res);

/* Ends a request: rolls back any transaction left open so that the next
 * request starts idle, and lets the next request wait for the server
 * again (see DB_ANSWER_WAIT_MS). */
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
