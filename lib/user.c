/* user.c: SQL for the users table. */
#include "user.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The device check of both lookups: $2 is the hex of a device token's
 * stored hash or NULL, $3 the request's clock. */
#define DEVICE_OK(acct) \
	" " acct ".id IS NOT NULL AND $2::text IS NOT NULL AND EXISTS (" \
	"SELECT 1 FROM device_tokens d WHERE d.token_hash = decode($2, 'hex')" \
	" AND d.user_id = " acct ".id AND d.expires_at > to_timestamp($3::bigint))"

int
user_find_login(struct db *db, const char *name, int by_email,
    const unsigned char *device_hash, int64_t now, struct user_login *out)
{
	/* By username the credentials need the exact name, while the limit
	 * is the account's whatever the case (the folded name is unique). */
	static const char by_name[] =
	    "SELECT q.f, c.id, c.password_hash, c.disabled_at IS NOT NULL, a.id,"
	    DEVICE_OK("a")
	    " FROM (SELECT lower($1) AS f) q"
	    " LEFT JOIN users a ON lower(a.username) = q.f"
	    " LEFT JOIN users c ON c.username = $1";
	static const char by_mail[] =
	    "SELECT q.f, u.id, u.password_hash, u.disabled_at IS NOT NULL, u.id,"
	    DEVICE_OK("u")
	    " FROM (SELECT lower($1) AS f) q"
	    " LEFT JOIN users u ON lower(u.email) = q.f AND u.email IS NOT NULL";
	char hash_hex[2 * CRYPTO_SHA256_LEN + 1], now_s[24];
	const char *params[3] = { name, NULL, now_s };
	PGresult *res;
	int rc;

	memset(out, 0, sizeof *out);
	if (device_hash != NULL) {
		crypto_hex(device_hash, CRYPTO_SHA256_LEN, hash_hex);
		params[1] = hash_hex;
	}
	snprintf(now_s, sizeof now_s, "%" PRId64, now);
	rc = db_exec(db, by_email ? by_mail : by_name, 3, params, DB_IDEMPOTENT,
	    &res);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return DB_EQUERY;
	}
	snprintf(out->folded, sizeof out->folded, "%s", PQgetvalue(res, 0, 0));
	out->by_email = by_email != 0;
	if (!PQgetisnull(res, 0, 1)) {
		const char *hash = PQgetvalue(res, 0, 2);

		out->cred.found = 1;
		out->cred.id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		out->cred.disabled = PQgetvalue(res, 0, 3)[0] == 't';
		/* A hash too long for crypt can never verify: leave it empty. */
		if (strlen(hash) < sizeof out->cred.password_hash)
			memcpy(out->cred.password_hash, hash, strlen(hash) + 1);
	}
	if (!PQgetisnull(res, 0, 4))
		out->account_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	out->device_trusted = PQgetvalue(res, 0, 5)[0] == 't';
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
