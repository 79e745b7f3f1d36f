/* app.h: what a request handler gets besides the request: the process's
 * configuration, its one database connection, its password context, and
 * the time the request started (one clock reading per request, so every
 * token and row of an answer agree). */
#ifndef LATCH_APP_H
#define LATCH_APP_H

#include <stdint.h>

#include "config.h"
#include "db.h"
#include "password.h"

struct app {
	const struct latch_config *cfg;
	struct db *db;
	struct password_ctx *pw;
	int64_t now;                    /* seconds since the epoch */
};

#endif
