/* reads.c: reads on the replica when allowed, the primary otherwise. */
#include "reads.h"

#include <time.h>

#include "log.h"

static int64_t
monotonic_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether the replica may be asked now. */
static int
replica_usable(const struct app *app)
{
	return app->read_db != NULL &&
	    monotonic_ns() >= app->read_db_resting_until_ns;
}

static void
replica_failed(struct app *app)
{
	app->read_db_resting_until_ns = monotonic_ns() +
	    (int64_t)READS_RESTING_S * 1000000000;
	log_event(LOG_WARN, "read_db_unavailable", "action=read_primary "
	    "resting_s=%d", READS_RESTING_S);
}

int
reads_exec(struct app *app, const char *sql, int nparams,
    const char *const *params, enum reads_want want, PGresult **res)
{
	int rc;

	if (app->reads_allowed && !app->read_db_behind &&
	    replica_usable(app)) {
		rc = db_exec(app->read_db, sql, nparams, params, DB_IDEMPOTENT,
		    res);
		if (rc == DB_OK && (want == READS_ANY || PQntuples(*res) > 0))
			return DB_OK;
		if (rc == DB_OK) {
			/* Maybe only lag: the primary says. */
			PQclear(*res);
			*res = NULL;
			app->read_db_behind = 1;
		} else if (rc == DB_EUNAVAILABLE) {
			replica_failed(app);
		} else {
			return rc;
		}
	}
	return db_exec(app->db, sql, nparams, params, DB_IDEMPOTENT, res);
}

const char *
reads_replica_state(struct app *app)
{
	if (app->read_db == NULL)
		return NULL;
	if (!replica_usable(app))
		return "unavailable";
	if (db_ping(app->read_db) != DB_OK) {
		replica_failed(app);
		return "unavailable";
	}
	return "ok";
}
