/* reads.c: reads on the replica when allowed, the primary otherwise. */
#include "reads.h"

#include "log.h"

/* Whether the replica may be asked now. */
static int
replica_usable(const struct app *app)
{
	return app->read_db != NULL && app->now >= app->read_db_resting_until;
}

static void
replica_failed(struct app *app, int rc)
{
	app->read_db_resting_until = app->now + READS_RESTING_S;
	log_event(LOG_WARN, "read_db_unavailable", "error=%d action=read_primary "
	    "resting_s=%d", rc, READS_RESTING_S);
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
		} else if (rc == DB_ENOMEM) {
			return rc;
		} else if (rc == DB_ERETRY) {
			/* A conflict with the replica's replay: this once. */
			app->read_db_behind = 1;
		} else {
			/* Unreachable, silent, or not the schema the primary
			 * has (a replica behind a migration, the wrong
			 * database): it decides nothing, the primary
			 * answers, and it rests. */
			replica_failed(app, rc);
		}
	}
	return db_exec(app->db, sql, nparams, params, DB_IDEMPOTENT, res);
}
