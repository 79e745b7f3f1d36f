/* reads.h: where a statement that only reads goes. With DATABASE_READ_URL
 * set (a streaming replica, say), the routes marked route.reads
 * (GET /api/profile, GET /auth/sessions) run their reads there, so that
 * the primary serves only what writes; every other route, and every write,
 * uses the primary (DATABASE_URL) alone. A replica lags: what it answers
 * is the primary's state of a moment ago. A row it has is taken as it is
 * (a session revoked on the primary reads as live there for the lag); a
 * row it lacks is looked for on the primary (a session made a moment ago
 * is found), and the rest of that request reads from the primary. The
 * replica decides nothing alone: whatever error it answers, the primary
 * is asked instead; one that fails (cannot be reached, does not answer in
 * time, lacks the schema) is then left alone for READS_RESTING_S, so that
 * a dead replica costs one wait per process, not one per request (a wait
 * bounded as lib/db.h says, then the primary's). A conflict with its
 * replay (40001) only sends that request to the primary. */
#ifndef LATCH_READS_H
#define LATCH_READS_H

#include "app.h"

#define READS_RESTING_S 10

/* What a missing row means to the caller. */
enum reads_want {
	READS_ANY,                      /* any answer, rows or none */
	READS_ROW,                      /* an answer without rows is not
					 * trusted from the replica */
};

/* As db_exec (same parameters, results and errors, DB_IDEMPOTENT
 * implied), on the replica when app allows it and it is resting from no
 * failure, else on the primary. */
int reads_exec(struct app *app, const char *sql, int nparams,
    const char *const *params, enum reads_want want, PGresult **res);

#endif
