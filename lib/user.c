/* user.c: SQL for the users table. */
#include "user.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
user_find_credentials(struct db *db, const char *username, const char *email,
    struct user_credentials *out)
{
	static const char by_name[] =
	    "SELECT id, password_hash, disabled_at IS NOT NULL "
	    "FROM users WHERE username = $1";
	static const char by_email[] =
	    "SELECT id, password_hash, disabled_at IS NOT NULL "
	    "FROM users WHERE lower(email) = lower($1) AND email IS NOT NULL";
	const char *params[1] = { username != NULL ? username : email };
	PGresult *res;
	const char *hash;
	int rc;

	memset(out, 0, sizeof *out);
	rc = db_exec(db, username != NULL ? by_name : by_email, 1, params,
	    DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) == 1) {
		hash = PQgetvalue(res, 0, 1);
		out->found = 1;
		out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		out->disabled = PQgetvalue(res, 0, 2)[0] == 't';
		/* A hash too long for crypt can never verify: leave it empty. */
		if (strlen(hash) < sizeof out->password_hash)
			memcpy(out->password_hash, hash, strlen(hash) + 1);
	}
	PQclear(res);
	return DB_OK;
}

int
user_create(struct db *db, const char *username, const char *email,
    const char *password_hash, int64_t *id)
{
	const char *params[3] = { username, email, password_hash };
	PGresult *res;
	int rc;

	rc = db_exec(db, "INSERT INTO users (username, email, password_hash) "
	    "VALUES ($1, $2, $3) RETURNING id", 3, params, 0, &res);
	if (rc != DB_OK)
		return rc;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return DB_OK;
}
