/* user.c: SQL for the users table. */
#include "user.h"

#include <ctype.h>
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

int
user_id_parse(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (s[0] < '1' || s[0] > '9' || strlen(s) > 18)
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return 0;
}

int
user_valid_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > USER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
user_valid_signup_name(const char *s)
{
	size_t len = strlen(s);

	if (len < 3 || len > 32 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

int
user_valid_email(const char *s)
{
	const char *at = strchr(s, '@');
	size_t len = strlen(s);

	if (len < 3 || len > USER_NAME_MAX || at == NULL || at == s ||
	    at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
user_find_id(struct db *db, const char *username, int64_t *id)
{
	PGresult *res;
	int rc;

	*id = 0;
	rc = db_exec(db, "SELECT id FROM users WHERE username = $1", 1,
	    &username, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return rc;
	if (PQntuples(res) == 1)
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return DB_OK;
}

/* Runs a statement of a user change whose one row is (found, revoked). */
static int
user_change(struct db *db, const char *sql, int n, const char *const *params,
    int *found, int64_t *revoked)
{
	PGresult *res;
	int rc;

	*found = 0;
	*revoked = 0;
	rc = db_exec(db, sql, n, params, 0, &res);
	if (rc != DB_OK)
		return rc;
	*found = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	*revoked = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return DB_OK;
}

int
user_set_password(struct db *db, const char *username,
    const char *password_hash, int revoke_sessions, int *found,
    int64_t *revoked)
{
	static const char sql[] =
	    "WITH u AS (UPDATE users SET password_hash = $2, updated_at = now()"
	    "  WHERE username = $1 RETURNING id),"
	    " d AS (DELETE FROM device_tokens d USING u WHERE d.user_id = u.id)"
	    " SELECT (SELECT count(*) FROM u),"
	    " COALESCE((SELECT latch_revoke(u.id, NULL, 'password_changed',"
	    "  now()) FROM u WHERE $3::boolean), 0)";
	const char *params[3] = { username, password_hash,
	    revoke_sessions ? "true" : "false" };

	return user_change(db, sql, 3, params, found, revoked);
}

int
user_set_disabled(struct db *db, const char *username, int disabled,
    int *found, int64_t *revoked)
{
	static const char disable_sql[] =
	    "WITH u AS (UPDATE users SET disabled_at = COALESCE(disabled_at, now()),"
	    "  updated_at = now()"
	    "  WHERE username = $1 RETURNING id),"
	    " d AS (DELETE FROM device_tokens d USING u WHERE d.user_id = u.id)"
	    " SELECT (SELECT count(*) FROM u),"
	    " COALESCE((SELECT latch_revoke(u.id, NULL, 'user_disabled',"
	    "  now()) FROM u), 0)";
	static const char enable_sql[] =
	    "WITH u AS (UPDATE users SET disabled_at = NULL, updated_at = now()"
	    "  WHERE username = $1 RETURNING id)"
	    " SELECT (SELECT count(*) FROM u), 0";
	return user_change(db, disabled ? disable_sql : enable_sql, 1,
	    &username, found, revoked);
}

int
user_list(struct db *db, struct user_list *out)
{
	PGresult *res;
	int rc, n;

	memset(out, 0, sizeof *out);
	rc = db_exec(db, "SELECT id, username, email,"
	    " floor(extract(epoch FROM created_at))::bigint,"
	    " disabled_at IS NOT NULL FROM users ORDER BY id", 0, NULL,
	    DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (out->items = calloc((size_t)n,
	    sizeof *out->items)) == NULL) {
		PQclear(res);
		return DB_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		struct user_info *u = &out->items[i];

		u->id = PQgetvalue(res, i, 0);
		u->username = PQgetvalue(res, i, 1);
		u->email = db_value_or_null(res, i, 2);
		u->created_at = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		u->disabled = PQgetvalue(res, i, 4)[0] == 't';
	}
	out->n = (size_t)n;
	out->res = res;
	return DB_OK;
}

void
user_list_free(struct user_list *list)
{
	free(list->items);
	PQclear(list->res);
	memset(list, 0, sizeof *list);
}
