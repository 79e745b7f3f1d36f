/* session.c: login sessions and the tokens they issue. */
#include "session.h"

#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "jwt.h"
#include "log.h"
#include "seal.h"

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

/* Wipes the NUL-terminated s (a token) and frees it. NULL is fine. */
static void
token_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void
session_tokens_free(struct session_tokens *t)
{
	/* Access tokens too: a core dump should not hand out a usable
	 * bearer token any more than a refresh token. */
	token_free(t->access_token);
	token_free(t->refresh_token);
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
	    " SELECT $1::uuid, u.id, to_timestamp($3::float8),"
	    "  to_timestamp($3::float8), to_timestamp($4::bigint),"
	    "  to_timestamp($5::bigint), $6, $7::inet"
	    " FROM users u WHERE u.id = $2::bigint AND u.disabled_at IS NULL"
	    " RETURNING id)"
	    " INSERT INTO refresh_tokens (session_id, token_hash, issued_at,"
	    "  expires_at)"
	    " SELECT s.id, decode($8, 'hex'), to_timestamp($3::float8),"
	    "  to_timestamp($5::bigint) FROM s RETURNING id";
	const struct latch_config *cfg = app->cfg;
	char sub[24], now_s[32], abs_s[24], idle_s[24];
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

	app_now_text(app, now_s);
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

/* Verifies a refresh token and pulls out its user and session. */
static int
verify_refresh(const struct app *app, const char *token, size_t len,
    struct jwt_claims *claims, int64_t *user_id)
{
	struct jwt_verify_opts opts;
	char *end;
	long long id;

	memset(&opts, 0, sizeof opts);
	opts.keys = &app->cfg->refresh_keys;
	opts.kind = JWT_REFRESH;
	opts.now = app->now;
	opts.issuer = app->cfg->issuer;
	opts.require_sid = 1;
	if (jwt_verify(token, len, &opts, claims) != JWT_OK)
		return -1;
	if (!crypto_is_uuid(claims->sid) || claims->sub[0] < '1' ||
	    claims->sub[0] > '9')
		return -1;
	id = strtoll(claims->sub, &end, 10);
	if (*end != '\0' || id <= 0)
		return -1;
	*user_id = id;
	return 0;
}

/* The server half of the key of a seal whose predecessor is the token
 * claims describe: derived from the refresh key that signed that token
 * (see seal_server_key for why that one). */
static int
seal_key_for(const struct app *app, const struct jwt_claims *claims,
    unsigned char out[SEAL_SERVER_KEY_LEN])
{
	const struct key *k = keyset_find(&app->cfg->refresh_keys, claims->kid,
	    strlen(claims->kid));

	if (k == NULL)
		return -1;
	return seal_server_key(k, out);
}

/* The successor-to-be: minted, hashed and sealed for one call. */
struct successor {
	char *token;
	char hash[2 * CRYPTO_SHA256_LEN + 1];
	char *sealed_hex;       /* NULL when there is no grace window */
	size_t sealed_hex_len;
	int64_t exp;
};

static void
successor_free(struct successor *s)
{
	token_free(s->token);
	if (s->sealed_hex != NULL) {
		OPENSSL_cleanse(s->sealed_hex, s->sealed_hex_len);
		free(s->sealed_hex);
	}
	memset(s, 0, sizeof *s);
}

/* Mints the successor of the token pred (pred_len bytes, whose verified
 * claims are claims) expiring at exp, and seals it under pred for the
 * grace window (unless there is none). Returns 0 and fills *out
 * (successor_free), or -1 with nothing to free. */
static int
successor_make(const struct app *app, const char *pred, size_t pred_len,
    const struct jwt_claims *claims, int64_t exp, struct successor *out)
{
	unsigned char key[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	out->exp = exp;
	if (mint(app, JWT_REFRESH, claims->sub, claims->sid, exp,
	    &out->token) != 0 ||
	    session_token_hash_hex(out->token, strlen(out->token),
	    out->hash) != 0)
		goto out;
	if (app->cfg->reuse_grace > 0) {
		if (seal_key_for(app, claims, key) != 0 ||
		    seal_encrypt(key, pred, pred_len, claims->sid, out->token,
		    strlen(out->token), &sealed, &sealed_len) != 0 ||
		    (out->sealed_hex = malloc(2 * sealed_len + 1)) == NULL)
			goto out;
		crypto_hex(sealed, sealed_len, out->sealed_hex);
		out->sealed_hex_len = 2 * sealed_len;
	}
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	if (sealed != NULL) {
		OPENSSL_cleanse(sealed, sealed_len);
		free(sealed);
	}
	if (rc != 0)
		successor_free(out);
	return rc;
}

/* Opens the seal that latch_refresh returned as hex text (hexlen
 * characters; encode(x, 'hex'), so whatever the server's bytea_output)
 * with the presented token pred. Returns 0 and *out (the successor, for
 * session_tokens_free), or -1 with *out untouched. */
static int
successor_open(const struct app *app, const char *pred, size_t pred_len,
    const struct jwt_claims *claims, const char *hex, size_t hexlen,
    char **out)
{
	unsigned char key[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed = NULL;
	size_t n = hexlen / 2;
	int rc = -1;

	if (hexlen % 2 != 0 || n < SEAL_OVERHEAD ||
	    (sealed = malloc(n)) == NULL)
		goto out;
	if (crypto_unhex(hex, sealed, n) != 0 ||
	    seal_key_for(app, claims, key) != 0 ||
	    seal_decrypt(key, pred, pred_len, claims->sid, sealed, n,
	    out) != 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	if (sealed != NULL) {
		OPENSSL_cleanse(sealed, n);
		free(sealed);
	}
	return rc;
}

/* Frees a latch_refresh result, wiping the seal it may carry first: the
 * memory PQgetvalue points into belongs to the PGresult. NULL is fine. */
static void
refresh_result_clear(PGresult *res)
{
	if (res != NULL && PQntuples(res) == 1 && PQnfields(res) > 1 &&
	    !PQgetisnull(res, 0, 1))
		OPENSSL_cleanse(PQgetvalue(res, 0, 1),
		    (size_t)PQgetlength(res, 0, 1));
	PQclear(res);
}

#define REFRESH_ATTEMPTS 4

int
session_refresh(struct app *app, const char *token, size_t len, const char *ip,
    struct session_tokens *out, enum refresh_outcome *outcome)
{
	static const char sql[] =
	    "SELECT r_outcome, encode(r_sealed, 'hex'),"
	    " floor(extract(epoch FROM r_expires_at))::bigint, r_revoked"
	    " FROM latch_refresh(decode($1, 'hex'), $2::uuid, $3::bigint,"
	    "  to_timestamp($4::float8), make_interval(secs => $5::bigint),"
	    "  to_timestamp($6::bigint), to_timestamp($7::bigint),"
	    "  decode($8, 'hex'), decode($9, 'hex'), $10::inet, $11::boolean)";
	const struct latch_config *cfg = app->cfg;
	struct jwt_claims claims;
	struct successor succ;
	char hash[2 * CRYPTO_SHA256_LEN + 1];
	char now_s[32], grace_s[24], uncapped_s[24], exp_s[24];
	const char *params[11];
	int64_t user_id, uncapped, exp;
	PGresult *res = NULL;
	int rc = SESSION_EFAIL, attempt, dbrc;

	memset(out, 0, sizeof *out);
	memset(&succ, 0, sizeof succ);
	*outcome = REFRESH_REFUSED;
	if (verify_refresh(app, token, len, &claims, &user_id) != 0 ||
	    session_token_hash_hex(token, len, hash) != 0)
		return SESSION_OK;

	/* The successor's expiry: the inactivity lifetime, capped at the
	 * session's absolute end. A token that was itself capped carries
	 * that end as its exp; otherwise the database corrects us (recap)
	 * the one time it matters. */
	uncapped = app->now + cfg->refresh_ttl;
	exp = uncapped;
	if (claims.exp - claims.iat < cfg->refresh_ttl && claims.exp < exp)
		exp = claims.exp;

	app_now_text(app, now_s);
	snprintf(grace_s, sizeof grace_s, "%" PRId64, cfg->reuse_grace);
	snprintf(uncapped_s, sizeof uncapped_s, "%" PRId64, uncapped);
	params[0] = hash;
	params[1] = claims.sid;
	params[2] = claims.sub;
	params[3] = now_s;
	params[4] = grace_s;
	params[5] = uncapped_s;
	params[9] = ip;
	params[10] = cfg->reuse_revokes == REUSE_REVOKES_USER ? "true" :
	    "false";

	for (attempt = 0; attempt < REFRESH_ATTEMPTS; attempt++) {
		const char *what;

		if (succ.token == NULL || succ.exp != exp) {
			successor_free(&succ);
			if (successor_make(app, token, len, &claims, exp,
			    &succ) != 0)
				goto out;
		}
		snprintf(exp_s, sizeof exp_s, "%" PRId64, succ.exp);
		params[6] = exp_s;
		params[7] = succ.hash;
		params[8] = succ.sealed_hex;
		refresh_result_clear(res);
		res = NULL;
		dbrc = db_exec(app->db, sql, 11, params, 0, &res);
		if (dbrc == DB_ERETRY) {
			/* Waited too long for the session's lock or lost a
			 * deadlock: nothing was changed; try again. */
			struct timespec pause = { 0, 20000000L * (attempt + 1) };

			nanosleep(&pause, NULL);
			continue;
		}
		if (dbrc == DB_EUNAVAILABLE) {
			rc = SESSION_EUNAVAILABLE;
			goto out;
		}
		if (dbrc != DB_OK || PQntuples(res) != 1)
			goto out;
		what = PQgetvalue(res, 0, 0);
		if (strcmp(what, "recap") == 0) {
			exp = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
			if (exp <= app->now)
				break;
			continue;
		}
		if (strcmp(what, "rotated") == 0) {
			out->refresh_token = succ.token;
			succ.token = NULL;
			out->refresh_expires_in = succ.exp - app->now;
			*outcome = REFRESH_ROTATED;
		} else if (strcmp(what, "duplicate") == 0) {
			if (PQgetisnull(res, 0, 1) || successor_open(app, token,
			    len, &claims, PQgetvalue(res, 0, 1),
			    (size_t)PQgetlength(res, 0, 1),
			    &out->refresh_token) != 0) {
				/* A seal this process cannot open (made by
				 * a binary of an older scheme during a
				 * rolling upgrade, or under a key since
				 * removed): nothing to answer the duplicate
				 * with. Refused, as a lost seal is, and
				 * nothing revoked. */
				log_event(LOG_WARN, "refresh_unseal_failed",
				    "sid=%s", claims.sid);
				rc = SESSION_OK;
				goto out;
			}
			out->refresh_expires_in = strtoll(PQgetvalue(res, 0, 2),
			    NULL, 10) - app->now;
			*outcome = REFRESH_DUPLICATE;
			log_event(LOG_INFO, "refresh_duplicate",
			    "user=%" PRId64 " sid=%s ip=%s", user_id,
			    claims.sid, ip);
		} else if (strcmp(what, "reuse") == 0) {
			*outcome = REFRESH_REUSE;
			log_event(LOG_WARN, "refresh_reuse", "user=%" PRId64
			    " sid=%s ip=%s revoked_sessions=%s scope=%s",
			    user_id, claims.sid, ip, PQgetvalue(res, 0, 3),
			    params[10][0] == 't' ? "user" : "session");
			rc = SESSION_OK;
			goto out;
		} else {
			rc = SESSION_OK;        /* refused */
			goto out;
		}
		memcpy(out->sid, claims.sid, sizeof out->sid);
		if (mint(app, JWT_ACCESS, claims.sub, claims.sid,
		    app->now + cfg->access_ttl, &out->access_token) != 0)
			goto out;
		out->access_expires_in = cfg->access_ttl;
		rc = SESSION_OK;
		goto done;
	}
	/* Still contended after every attempt: nothing changed, the client
	 * may simply try again. */
	log_event(LOG_ERROR, "refresh_gave_up", "sid=%s attempts=%d",
	    claims.sid, attempt);
	rc = SESSION_EUNAVAILABLE;
out:
	if (rc != SESSION_OK || (*outcome != REFRESH_ROTATED &&
	    *outcome != REFRESH_DUPLICATE))
		session_tokens_free(out);
	if (rc != SESSION_OK)
		*outcome = REFRESH_REFUSED;
done:
	refresh_result_clear(res);
	successor_free(&succ);
	return rc;
}

/* The tail of a revoking statement whose CTE r returns the ids of the
 * sessions it revoked: their seals go too (no request can use them any
 * more), and the statement answers how many sessions it revoked. The
 * ARRAY() is evaluated once r has run, so session row locks are always
 * taken before token row locks, as latch_refresh takes them. A seal that
 * a rotation committed while we waited for its session's lock is not
 * seen here (our snapshot predates it); the purge clears it once its
 * window has passed. */
#define UNSEAL_REVOKED \
	", unsealed AS (UPDATE refresh_tokens" \
	" SET successor_sealed = NULL, sealed_until = NULL" \
	" WHERE session_id = ANY (ARRAY(SELECT id FROM r))" \
	" AND successor_sealed IS NOT NULL)" \
	" SELECT count(*) FROM r"

int
session_logout(struct app *app, const char *token, size_t len, const char *ip)
{
	static const char sql[] =
	    "WITH r AS ("
	    " UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'"
	    " WHERE id = $1::uuid AND user_id = $2::bigint"
	    " AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_tokens t"
	    "  WHERE t.token_hash = decode($3, 'hex') AND t.session_id = $1::uuid)"
	    " RETURNING id)" UNSEAL_REVOKED;
	struct jwt_claims claims;
	char hash[2 * CRYPTO_SHA256_LEN + 1];
	const char *params[3];
	int64_t user_id;
	PGresult *res;
	int rc;

	/* Logout is idempotent and no oracle: a token that does not verify
	 * revokes nothing and the caller answers the same. */
	if (verify_refresh(app, token, len, &claims, &user_id) != 0 ||
	    session_token_hash_hex(token, len, hash) != 0)
		return SESSION_OK;
	params[0] = claims.sid;
	params[1] = claims.sub;
	params[2] = hash;
	rc = db_exec(app->db, sql, 3, params, DB_IDEMPOTENT, &res);
	if (rc == DB_EUNAVAILABLE)
		return SESSION_EUNAVAILABLE;
	if (rc != DB_OK)
		return SESSION_EFAIL;
	if (strcmp(PQgetvalue(res, 0, 0), "1") == 0)
		log_event(LOG_INFO, "logout", "user=%" PRId64 " sid=%s ip=%s",
		    user_id, claims.sid, ip);
	PQclear(res);
	return SESSION_OK;
}

static int
map_db(int dbrc)
{
	return dbrc == DB_EUNAVAILABLE ? SESSION_EUNAVAILABLE : SESSION_EFAIL;
}

int
session_revoke_all(struct app *app, int64_t user_id, int64_t *revoked)
{
	char uid[24];
	const char *params[1] = { uid };
	PGresult *res;
	int rc;

	snprintf(uid, sizeof uid, "%" PRId64, user_id);
	rc = db_exec(app->db, "WITH r AS (UPDATE sessions SET revoked_at = now(),"
	    " revoked_reason = 'logout_all'"
	    " WHERE user_id = $1::bigint AND revoked_at IS NULL RETURNING id)"
	    UNSEAL_REVOKED, 1, params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return map_db(rc);
	*revoked = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return SESSION_OK;
}

int
session_revoke_one(struct app *app, int64_t user_id, const char *sid,
    int *found)
{
	char uid[24];
	const char *params[2] = { sid, uid };
	PGresult *res;
	int rc;

	snprintf(uid, sizeof uid, "%" PRId64, user_id);
	rc = db_exec(app->db, "WITH r AS (UPDATE sessions SET revoked_at = now(),"
	    " revoked_reason = 'revoked'"
	    " WHERE id = $1::uuid AND user_id = $2::bigint"
	    " AND revoked_at IS NULL AND absolute_expires_at > now()"
	    " AND idle_expires_at > now() RETURNING id)" UNSEAL_REVOKED, 2,
	    params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return map_db(rc);
	*found = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	PQclear(res);
	return SESSION_OK;
}

static json_object *
time_or_null(PGresult *res, int row, int col)
{
	char buf[21];

	if (PQgetisnull(res, row, col))
		return NULL;
	http_format_time(strtoll(PQgetvalue(res, row, col), NULL, 10), buf);
	return json_object_new_string(buf);
}

static json_object *
text_or_null(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_object_new_string(PQgetvalue(res, row, col));
}

int
session_list(struct app *app, int64_t user_id, const char *current_sid,
    json_object **out)
{
	static const char sql[] =
	    "SELECT id::text, floor(extract(epoch FROM created_at))::bigint,"
	    " floor(extract(epoch FROM last_used_at))::bigint,"
	    " floor(extract(epoch FROM LEAST(idle_expires_at, absolute_expires_at)))::bigint,"
	    " user_agent, host(ip)"
	    " FROM sessions WHERE user_id = $1::bigint AND revoked_at IS NULL"
	    " AND absolute_expires_at > now() AND idle_expires_at > now()"
	    " ORDER BY created_at DESC, id"
	    " LIMIT 1000";
	char uid[24];
	const char *params[1] = { uid };
	json_object *root = NULL, *list;
	PGresult *res;
	int rc;

	snprintf(uid, sizeof uid, "%" PRId64, user_id);
	rc = db_exec(app->db, sql, 1, params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return map_db(rc);
	if ((root = json_object_new_object()) == NULL ||
	    (list = json_object_new_array()) == NULL) {
		json_object_put(root);
		PQclear(res);
		return SESSION_EFAIL;
	}
	json_object_object_add(root, "sessions", list);
	for (int i = 0; i < PQntuples(res); i++) {
		json_object *o = json_object_new_object();

		if (o == NULL)
			break;
		json_object_object_add(o, "id", text_or_null(res, i, 0));
		json_object_object_add(o, "created_at", time_or_null(res, i, 1));
		json_object_object_add(o, "last_used_at",
		    time_or_null(res, i, 2));
		json_object_object_add(o, "expires_at", time_or_null(res, i, 3));
		json_object_object_add(o, "user_agent", text_or_null(res, i, 4));
		json_object_object_add(o, "ip", text_or_null(res, i, 5));
		json_object_object_add(o, "current", json_object_new_boolean(
		    strcmp(PQgetvalue(res, i, 0), current_sid) == 0));
		json_object_array_add(list, o);
	}
	PQclear(res);
	*out = root;
	return SESSION_OK;
}
