/* session.c: login sessions and the tokens they issue. */
#include "session.h"

#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "log.h"

#define USER_AGENT_MAX 512

int
session_token_hash_hex(const char *token, size_t len,
    char out[2 * CRYPTO_SHA256_LEN + 1])
{
	unsigned char md[CRYPTO_SHA256_LEN];

	if (crypto_sha256(token, len, md) != 0)
		return -1;
	crypto_hex(md, sizeof md, out);
	return 0;
}

void
session_tokens_free(struct session_tokens *t)
{
	free(t->access_token);
	if (t->refresh_token != NULL) {
		OPENSSL_cleanse(t->refresh_token, strlen(t->refresh_token));
		free(t->refresh_token);
	}
	memset(t, 0, sizeof *t);
}

/* Signs one token of kind for the session. */
static int
mint(const struct app *app, enum jwt_kind kind, const char *sub,
    const char *sid, int64_t exp, char **out)
{
	const struct latch_config *cfg = app->cfg;
	struct jwt_sign_input in;
	char jti[32];

	if (crypto_random_b64url(16, jti, sizeof jti) != 0)
		return -1;
	memset(&in, 0, sizeof in);
	in.kind = kind;
	in.key = keyset_signing_key(kind == JWT_ACCESS ? &cfg->access_keys :
	    &cfg->refresh_keys);
	in.sub = sub;
	in.sid = sid;
	in.jti = jti;
	in.iat = app->now;
	in.exp = exp;
	/* iss and aud describe who accepts access tokens; refresh tokens
	 * only ever come back to us, but carrying them costs nothing. */
	in.issuer = cfg->issuer;
	in.audience = kind == JWT_ACCESS ? cfg->audience : NULL;
	return jwt_sign(&in, out) == JWT_OK ? 0 : -1;
}

int
session_open(struct app *app, int64_t user_id, const char *user_agent,
    const char *ip, const struct session_rehash *rehash,
    struct session_tokens *out)
{
	static const char sql[] =
	    "WITH rehash AS ("
	    " UPDATE users SET password_hash = $9, updated_at = now()"
	    " WHERE id = $2::bigint AND $9::text IS NOT NULL"
	    " AND password_hash = $10), "
	    "s AS ("
	    " INSERT INTO sessions (id, user_id, created_at, last_used_at,"
	    "  absolute_expires_at, idle_expires_at, user_agent, ip)"
	    " SELECT $1::uuid, u.id, to_timestamp($3::bigint),"
	    "  to_timestamp($3::bigint), to_timestamp($4::bigint),"
	    "  to_timestamp($5::bigint), $6, $7::inet"
	    " FROM users u WHERE u.id = $2::bigint AND u.disabled_at IS NULL"
	    " RETURNING id)"
	    " INSERT INTO refresh_tokens (session_id, token_hash, issued_at,"
	    "  expires_at)"
	    " SELECT s.id, decode($8, 'hex'), to_timestamp($3::bigint),"
	    "  to_timestamp($5::bigint) FROM s RETURNING id";
	const struct latch_config *cfg = app->cfg;
	char sub[24], now_s[24], abs_s[24], idle_s[24];
	char ua[USER_AGENT_MAX + 1];
	char hash[2 * CRYPTO_SHA256_LEN + 1];
	const char *params[10];
	int64_t absolute_end, refresh_exp;
	PGresult *res = NULL;
	int rc = SESSION_EFAIL, dbrc;

	memset(out, 0, sizeof *out);
	absolute_end = app->now + cfg->session_max_age;
	refresh_exp = app->now + cfg->refresh_ttl;
	if (refresh_exp > absolute_end)
		refresh_exp = absolute_end;

	snprintf(sub, sizeof sub, "%" PRId64, user_id);
	if (crypto_uuid4(out->sid) != 0 ||
	    mint(app, JWT_REFRESH, sub, out->sid, refresh_exp,
	    &out->refresh_token) != 0 ||
	    mint(app, JWT_ACCESS, sub, out->sid, app->now + cfg->access_ttl,
	    &out->access_token) != 0 ||
	    session_token_hash_hex(out->refresh_token,
	    strlen(out->refresh_token), hash) != 0) {
		log_event(LOG_ERROR, "token_mint_failed", "user=%" PRId64,
		    user_id);
		goto fail;
	}
	out->access_expires_in = cfg->access_ttl;
	out->refresh_expires_in = refresh_exp - app->now;

	snprintf(now_s, sizeof now_s, "%" PRId64, app->now);
	snprintf(abs_s, sizeof abs_s, "%" PRId64, absolute_end);
	snprintf(idle_s, sizeof idle_s, "%" PRId64, refresh_exp);
	if (user_agent != NULL) {
		/* Stored for the session list; browsers send ASCII. Anything
		 * else (invalid UTF-8 would make PostgreSQL refuse the row)
		 * becomes '?'. */
		size_t len = strnlen(user_agent, USER_AGENT_MAX);

		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)user_agent[i];

			ua[i] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
		}
		ua[len] = '\0';
	}
	params[0] = out->sid;
	params[1] = sub;
	params[2] = now_s;
	params[3] = abs_s;
	params[4] = idle_s;
	params[5] = user_agent != NULL ? ua : NULL;
	params[6] = ip;
	params[7] = hash;
	params[8] = rehash != NULL ? rehash->new_hash : NULL;
	params[9] = rehash != NULL ? rehash->old_hash : NULL;
	dbrc = db_exec(app->db, sql, 10, params, 0, &res);
	if (dbrc == DB_EUNAVAILABLE) {
		rc = SESSION_EUNAVAILABLE;
		goto fail;
	}
	if (dbrc != DB_OK)
		goto fail;
	if (PQntuples(res) != 1) {
		rc = SESSION_EGONE;
		goto fail;
	}
	PQclear(res);
	log_event(LOG_INFO, "session_opened", "user=%" PRId64 " sid=%s ip=%s",
	    user_id, out->sid, ip);
	return SESSION_OK;
fail:
	PQclear(res);
	session_tokens_free(out);
	return rc;
}
