/* app.h: what a request handler gets besides the request: the process's
 * configuration, its one database connection, its password context, and
 * the time the request started (one clock reading per request, so every
 * token and row of an answer agree). */
#ifndef LATCH_APP_H
#define LATCH_APP_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "db.h"
#include "password.h"

struct app {
	const struct latch_config *cfg;
	struct db *db;                  /* the primary: every write */
	/* DATABASE_READ_URL's connection (NULL when unset), for what the
	 * routes marked route.reads read (lib/reads.h decides). */
	struct db *read_db;
	int64_t read_db_resting_until;  /* seconds since the epoch: after a
					 * failure the primary reads instead,
					 * until then */
	int reads_allowed;              /* this request's route is marked */
	int read_db_behind;             /* this request met the replica
					 * without a row the primary had */
	struct password_ctx *pw;
	int64_t now;                    /* seconds since the epoch */
	long now_usec;                  /* and microseconds past it */
};

/* The request's clock reading as "seconds.micro" for to_timestamp():
 * rows that are compared with each other (rotation times against the
 * grace window, creation order) keep sub-second precision, while token
 * claims carry whole seconds. */
static inline void
app_now_text(const struct app *app, char out[32])
{
	snprintf(out, 32, "%lld.%06ld", (long long)app->now, app->now_usec);
}

#endif
