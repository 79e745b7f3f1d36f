/* throttle.c: SQL of the login limiter. */
#include "throttle.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "user.h"

static int
digest_hex(const char *a, const char *b, char out[2 * CRYPTO_SHA256_LEN + 1])
{
	char buf[2 * USER_NAME_MAX + 64];
	unsigned char md[CRYPTO_SHA256_LEN];
	int n;

	n = snprintf(buf, sizeof buf, "%s\n%s", a, b != NULL ? b : "");
	if (n < 0 || (size_t)n >= sizeof buf || crypto_sha256(buf,
	    (size_t)n, md) != 0)
		return -1;
	crypto_hex(md, sizeof md, out);
	return 0;
}

int
throttle_keys_make(const char *account, const char *ip,
    struct throttle_keys *out)
{
	char folded[USER_NAME_MAX + 1];
	size_t len = strnlen(account, USER_NAME_MAX);

	for (size_t i = 0; i < len; i++)
		folded[i] = (char)tolower((unsigned char)account[i]);
	folded[len] = '\0';
	if (digest_hex(folded, ip, out->pair) != 0 ||
	    digest_hex("", ip, out->address) != 0 ||
	    digest_hex(folded, "", out->account) != 0)
		return -1;
	return 0;
}

int
throttle_wait(struct db *db, const struct throttle_keys *keys, int64_t now,
    int *seconds)
{
	char now_s[24];
	const char *params[4] = { keys->pair, keys->address, keys->account,
	    now_s };
	PGresult *res;
	int rc;

	snprintf(now_s, sizeof now_s, "%" PRId64, now);
	rc = db_exec(db, "SELECT latch_throttle_wait(decode($1, 'hex'),"
	    " decode($2, 'hex'), decode($3, 'hex'), to_timestamp($4::bigint))",
	    4, params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return rc;
	*seconds = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return DB_OK;
}

int
throttle_fail(struct db *db, const struct throttle_keys *keys, int64_t now)
{
	char now_s[24];
	const char *params[4] = { keys->pair, keys->address, keys->account,
	    now_s };
	PGresult *res;
	int rc;

	snprintf(now_s, sizeof now_s, "%" PRId64, now);
	rc = db_exec(db, "SELECT latch_throttle_fail(decode($1, 'hex'),"
	    " decode($2, 'hex'), decode($3, 'hex'), to_timestamp($4::bigint))",
	    4, params, 0, &res);
	if (rc == DB_OK)
		PQclear(res);
	return rc;
}

int
throttle_clear_pair(struct db *db, const struct throttle_keys *keys)
{
	const char *params[1] = { keys->pair };
	PGresult *res;
	int rc;

	rc = db_exec(db, "DELETE FROM login_throttle WHERE scope = 'pair'"
	    " AND key_hash = decode($1, 'hex')", 1, params, DB_IDEMPOTENT, &res);
	if (rc == DB_OK)
		PQclear(res);
	return rc;
}
