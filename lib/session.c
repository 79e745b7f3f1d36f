/* session.c: login sessions and the tokens they issue. */
#include "session.h"

#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "reads.h"
#include "seal.h"
#include "user.h"

#define USER_AGENT_MAX 512

/* A database error (enum db_err) in the session vocabulary. */
static int
map_db(int dbrc)
{
	return dbrc == DB_EUNAVAILABLE ? SESSION_EUNAVAILABLE : SESSION_EFAIL;
}

void
session_tokens_free(struct session_tokens *t)
{
	/* Access tokens too: a core dump should not hand out a usable
	 * bearer token any more than a refresh token. */
	crypto_free_secret(t->access_token);
	crypto_free_secret(t->refresh_token);
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
    const struct session_binding *bind, struct session_tokens *out)
{
	static const char sql[] =
	    "WITH rehash AS ("
	    " UPDATE users SET password_hash = $9,"
	    "  updated_at = to_timestamp($3::float8)"
	    " WHERE id = $2::bigint AND $9::text IS NOT NULL"
	    " AND password_hash = $10), "
	    "s AS ("
	    " INSERT INTO sessions (id, user_id, created_at, last_used_at,"
	    "  absolute_expires_at, idle_expires_at, user_agent, ip)"
	    " SELECT $1::uuid, u.id, to_timestamp($3::float8),"
	    "  to_timestamp($3::float8), to_timestamp($4::bigint),"
	    "  to_timestamp($5::bigint), $6, $7::inet"
	    " FROM users u WHERE u.id = $2::bigint AND u.disabled_at IS NULL"
	    " RETURNING id), "
	    "k AS ("
	    " INSERT INTO session_keys (session_id, kind, alg, jkt, public_jwk,"
	    "  bound_at)"
	    " SELECT s.id, $11, $12, decode($13, 'hex'), $14,"
	    "  to_timestamp($3::float8) FROM s WHERE $11::text IS NOT NULL)"
	    " INSERT INTO refresh_tokens (session_id, token_hash, issued_at,"
	    "  expires_at)"
	    " SELECT s.id, decode($8, 'hex'), to_timestamp($3::float8),"
	    "  to_timestamp($5::bigint) FROM s RETURNING id";
	const struct latch_config *cfg = app->cfg;
	char sub[24], now_s[32], abs_s[24], idle_s[24];
	char ua[USER_AGENT_MAX + 1];
	char hash[2 * CRYPTO_SHA256_LEN + 1];
	const char *params[14];
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
	    crypto_sha256_hex(out->refresh_token,
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
	params[10] = bind != NULL ? bind->kind : NULL;
	params[11] = bind != NULL ? bind->alg : NULL;
	params[12] = bind != NULL ? bind->jkt_hex : NULL;
	params[13] = bind != NULL ? bind->jwk : NULL;
	dbrc = db_exec(app->db, sql, 14, params, 0, &res);
	if (dbrc != DB_OK) {
		rc = map_db(dbrc);
		goto fail;
	}
	if (PQntuples(res) != 1) {
		rc = SESSION_EGONE;
		goto fail;
	}
	PQclear(res);
	out->dpop_bound = bind != NULL && strcmp(bind->kind, "dpop") == 0;
	log_event(LOG_INFO, "session_opened", "user=%" PRId64 " sid=%s ip=%s"
	    " binding=%s", user_id, out->sid, ip, bind != NULL ? bind->kind :
	    "none");
	return SESSION_OK;
fail:
	PQclear(res);
	session_tokens_free(out);
	return rc;
}

int
session_proof_use(struct app *app, const char *hash_hex, int64_t until,
    int *fresh)
{
	char until_s[24], now_s[32];
	const char *params[3] = { hash_hex, until_s, now_s };
	PGresult *res;
	int rc;

	*fresh = 0;
	snprintf(until_s, sizeof until_s, "%" PRId64, until);
	app_now_text(app, now_s);
	rc = db_exec(app->db, "SELECT latch_proof_use(decode($1, 'hex'),"
	    " to_timestamp($2::bigint), to_timestamp($3::float8))", 3, params,
	    0, &res);
	if (rc != DB_OK)
		return map_db(rc);
	*fresh = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return SESSION_OK;
}

/* The one rule for a refresh token, of session_verify_refresh and of
 * logout: the JWT rules of lib/jwt with a UUID sid and a user id sub.
 * allow_expired (logout only) lets exp lie in the past; nothing else is
 * relaxed. 0 with *claims and *user_id, or -1. */
static int
verify_refresh(const struct app *app, const char *token, size_t len,
    int allow_expired, struct jwt_claims *claims, int64_t *user_id)
{
	struct jwt_verify_opts opts;

	memset(&opts, 0, sizeof opts);
	opts.keys = &app->cfg->refresh_keys;
	opts.kind = JWT_REFRESH;
	opts.now = app->now;
	opts.issuer = app->cfg->issuer;
	opts.require_sid = 1;
	opts.allow_expired = allow_expired;
	if (jwt_verify(token, len, &opts, claims) != JWT_OK ||
	    !crypto_is_uuid(claims->sid) ||
	    user_id_parse(claims->sub, user_id) != 0)
		return -1;
	return 0;
}

int
session_verify_refresh(const struct app *app, const char *token, size_t len,
    struct jwt_claims *claims, int64_t *user_id)
{
	return verify_refresh(app, token, len, 0, claims, user_id);
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
	int64_t exp;
};

static void
successor_free(struct successor *s)
{
	crypto_free_secret(s->token);
	crypto_free_secret(s->sealed_hex);
	memset(s, 0, sizeof *s);
}

/* Mints the successor of the token pred (pred_len bytes, whose verified
 * claims are claims) expiring at exp, and seals it under pred for the
 * grace window (unless there is none, or no pred: a refresh proven by a
 * key alone). Returns 0 and fills *out (successor_free), or -1 with
 * nothing to free. */
static int
successor_make(const struct app *app, const char *pred, size_t pred_len,
    const struct jwt_claims *claims, int64_t exp, struct successor *out)
{
	unsigned char key[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	memset(key, 0, sizeof key);
	out->exp = exp;
	if (mint(app, JWT_REFRESH, claims->sub, claims->sid, exp,
	    &out->token) != 0 ||
	    crypto_sha256_hex(out->token, strlen(out->token), out->hash) != 0)
		goto out;
	if (app->cfg->reuse_grace > 0 && pred != NULL) {
		if (seal_key_for(app, claims, key) != 0 ||
		    seal_encrypt(key, pred, pred_len, claims->sid, out->token,
		    strlen(out->token), &sealed, &sealed_len) != 0 ||
		    (out->sealed_hex = malloc(2 * sealed_len + 1)) == NULL)
			goto out;
		crypto_hex(sealed, sealed_len, out->sealed_hex);
	}
	rc = 0;
out:
	crypto_wipe_free(sealed, sealed_len);
	OPENSSL_cleanse(key, sizeof key);
	if (rc != 0)
		successor_free(out);
	return rc;
}

/* Opens the seal latch_refresh answered a duplicate with (n bytes) with
 * the presented token pred. Returns 0 and *out (the successor, for
 * session_tokens_free), or -1 with *out untouched. */
static int
successor_open(const struct app *app, const char *pred, size_t pred_len,
    const struct jwt_claims *claims, const unsigned char *sealed, size_t n,
    char **out)
{
	unsigned char key[SEAL_SERVER_KEY_LEN];
	int rc;

	rc = seal_key_for(app, claims, key) == 0 &&
	    seal_decrypt(key, pred, pred_len, claims->sid, sealed, n,
	    out) == 0 ? 0 : -1;
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

/* What one call of latch_refresh answered (see session.h). */
enum refresh_answer {
	ANSWER_ROTATED,
	ANSWER_DUPLICATE,
	ANSWER_RECAP,
	ANSWER_REUSE,
	ANSWER_INVALID,
	ANSWER_LATE,
	ANSWER_UNPROVEN,
	ANSWER_REPLAYED,
	ANSWER_ACCESS_ONLY,
};

static const struct {
	const char *text;
	enum refresh_answer answer;
} refresh_answers[] = {
	{ "rotated", ANSWER_ROTATED },
	{ "duplicate", ANSWER_DUPLICATE },
	{ "recap", ANSWER_RECAP },
	{ "reuse", ANSWER_REUSE },
	{ "invalid", ANSWER_INVALID },
	{ "late", ANSWER_LATE },
	{ "unproven", ANSWER_UNPROVEN },
	{ "replayed", ANSWER_REPLAYED },
	{ "access_only", ANSWER_ACCESS_ONLY },
};

struct refresh_reply {
	enum refresh_answer answer;
	unsigned char *sealed;  /* DUPLICATE: the seal (NULL: none that
				 * decodes), wiped on free */
	size_t sealed_len;
	int64_t expires_at;     /* ROTATED, DUPLICATE: the successor's;
				 * RECAP: the one it must have */
	long long revoked;      /* REUSE: sessions revoked */
	int dpop_bound;         /* ROTATED, DUPLICATE: the session is */
};

static void
refresh_reply_clear(struct refresh_reply *r)
{
	crypto_wipe_free(r->sealed, r->sealed_len);
	memset(r, 0, sizeof *r);
}

/* Not an error: the call changed nothing and may simply be made again. */
#define REFRESH_CALL_RETRY 1

/* One call of latch_refresh with params (see session_refresh), parsed
 * into *reply. Returns SESSION_OK (*reply valid: refresh_reply_clear),
 * REFRESH_CALL_RETRY (a lost deadlock or a serialization failure), or
 * SESSION_EUNAVAILABLE / SESSION_EFAIL (logged; *reply holds nothing). */
#define REFRESH_PARAMS 18

static int
refresh_call(struct app *app, const char *const params[REFRESH_PARAMS],
    struct refresh_reply *reply)
{
	static const char sql[] =
	    "SELECT r_outcome, encode(r_sealed, 'hex'),"
	    " floor(extract(epoch FROM r_expires_at))::bigint, r_revoked,"
	    " r_binding"
	    " FROM latch_refresh(decode($1, 'hex'), $2::uuid, $3::bigint,"
	    "  to_timestamp($4::float8), make_interval(secs => $5::bigint),"
	    "  to_timestamp($6::bigint), to_timestamp($7::bigint),"
	    "  decode($8, 'hex'), decode($9, 'hex'), $10::inet, $11::boolean,"
	    "  $12, decode($13, 'hex'), decode($14, 'hex'),"
	    "  to_timestamp($15::bigint), make_interval(secs => $16::bigint),"
	    "  $17, $18)";
	PGresult *res = NULL;
	const char *text;
	size_t i, n = sizeof refresh_answers / sizeof refresh_answers[0];
	int rc;

	memset(reply, 0, sizeof *reply);
	rc = db_exec(app->db, sql, REFRESH_PARAMS, params, 0, &res);
	if (rc == DB_ERETRY)
		return REFRESH_CALL_RETRY;
	if (rc != DB_OK)
		return map_db(rc);
	rc = SESSION_EFAIL;
	if (PQntuples(res) != 1 || PQnfields(res) != 5) {
		log_event(LOG_ERROR, "refresh_bad_result", "rows=%d",
		    PQntuples(res));
		goto out;
	}
	text = PQgetvalue(res, 0, 0);
	for (i = 0; i < n && strcmp(text, refresh_answers[i].text) != 0; i++)
		;
	if (i == n) {
		log_event(LOG_ERROR, "refresh_unknown_outcome", "outcome=%.32s",
		    text);
		goto out;
	}
	reply->answer = refresh_answers[i].answer;
	if (!PQgetisnull(res, 0, 2))
		reply->expires_at = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	reply->revoked = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	reply->dpop_bound = strcmp(PQgetvalue(res, 0, 4), "dpop") == 0;
	if (reply->answer == ANSWER_DUPLICATE && !PQgetisnull(res, 0, 1)) {
		size_t len = (size_t)PQgetlength(res, 0, 1) / 2;

		/* A seal that does not decode is one that will not open. */
		if (len >= SEAL_OVERHEAD && (reply->sealed = malloc(len)) != NULL) {
			reply->sealed_len = len;
			if (crypto_unhex(PQgetvalue(res, 0, 1), reply->sealed,
			    len) != 0) {
				crypto_wipe_free(reply->sealed, len);
				reply->sealed = NULL;
				reply->sealed_len = 0;
			}
		}
	}
	rc = SESSION_OK;
out:
	/* The memory PQgetvalue points into belongs to the result: wipe the
	 * seal it may carry before it goes. */
	if (PQntuples(res) == 1 && PQnfields(res) > 1 && !PQgetisnull(res, 0, 1))
		OPENSSL_cleanse(PQgetvalue(res, 0, 1),
		    (size_t)PQgetlength(res, 0, 1));
	PQclear(res);
	return rc;
}

/* Builds the answer to the presented token (claims, of user_id, from ip)
 * out of reply and the successor minted for it: *out and *outcome as
 * session_refresh returns them. Returns SESSION_OK or SESSION_EFAIL. */
static int
refresh_answer(struct app *app, const char *token, size_t len,
    const struct jwt_claims *claims, int64_t user_id, const char *ip,
    struct successor *succ, const struct refresh_reply *reply,
    struct session_tokens *out, enum refresh_outcome *outcome)
{
	int rc = SESSION_OK;

	switch (reply->answer) {
	case ANSWER_ROTATED:
		out->refresh_token = succ->token;
		succ->token = NULL;
		out->refresh_expires_in = succ->exp - app->now;
		*outcome = REFRESH_ROTATED;
		break;
	case ANSWER_DUPLICATE:
		if (reply->sealed == NULL || successor_open(app, token, len,
		    claims, reply->sealed, reply->sealed_len,
		    &out->refresh_token) != 0) {
			/* A seal this process cannot open (made by a binary
			 * of an older scheme during a rolling upgrade, or
			 * under a key since removed): nothing to answer the
			 * duplicate with. Refused, as a lost seal is, and
			 * nothing revoked. */
			log_event(LOG_WARN, "refresh_unseal_failed", "sid=%s",
			    claims->sid);
			break;
		}
		out->refresh_expires_in = reply->expires_at - app->now;
		*outcome = REFRESH_DUPLICATE;
		log_event(LOG_INFO, "refresh_duplicate",
		    "user=%" PRId64 " sid=%s ip=%s", user_id, claims->sid, ip);
		break;
	case ANSWER_REUSE:
		*outcome = REFRESH_REUSE;
		log_event(LOG_WARN, "refresh_reuse", "user=%" PRId64
		    " sid=%s ip=%s revoked_sessions=%lld scope=%s", user_id,
		    claims->sid, ip, reply->revoked,
		    app->cfg->reuse_revokes == REUSE_REVOKES_USER ? "user" :
		    "session");
		break;
	case ANSWER_INVALID:
		break;
	case ANSWER_ACCESS_ONLY:
		/* A duplicate that may not carry the successor (migration
		 * 011): an access token, and the cookie left as it is. */
		*outcome = REFRESH_DUPLICATE;
		log_event(LOG_INFO, "refresh_duplicate_access_only",
		    "user=%" PRId64 " sid=%s ip=%s", user_id, claims->sid, ip);
		break;
	case ANSWER_UNPROVEN:
	case ANSWER_REPLAYED:
		/* Not theft: nothing was consumed, and the owner's next
		 * refresh with a proof of its key goes through. */
		*outcome = REFRESH_UNPROVEN;
		log_event(LOG_WARN, reply->answer == ANSWER_UNPROVEN ?
		    "refresh_unproven" : "refresh_proof_replayed",
		    "user=%" PRId64 " sid=%s ip=%s", user_id, claims->sid, ip);
		break;
	case ANSWER_RECAP:
	case ANSWER_LATE:
		/* session_refresh calls again on a recap and answers a late
		 * call itself: never here. */
		rc = SESSION_EFAIL;
		break;
	}
	if (rc == SESSION_OK && (*outcome == REFRESH_ROTATED ||
	    *outcome == REFRESH_DUPLICATE)) {
		memcpy(out->sid, claims->sid, sizeof out->sid);
		out->dpop_bound = reply->dpop_bound;
		out->access_expires_in = app->cfg->access_ttl;
		if (mint(app, JWT_ACCESS, claims->sub, claims->sid,
		    app->now + app->cfg->access_ttl, &out->access_token) != 0) {
			log_event(LOG_ERROR, "token_mint_failed",
			    "user=%" PRId64, user_id);
			rc = SESSION_EFAIL;
		}
	}
	return rc;
}

#define REFRESH_ATTEMPTS 4

/* session_refresh and session_refresh_proven: the presented token (len
 * bytes; NULL when a DBSC proof stands alone) whose verified claims, or
 * for no token the session's sid and sub, are claims. */
static int
refresh_run(struct app *app, const char *token, size_t len,
    const struct jwt_claims *claims, int64_t user_id, const char *ip,
    const struct refresh_proof *proof, struct session_tokens *out,
    enum refresh_outcome *outcome)
{
	const struct latch_config *cfg = app->cfg;
	struct successor succ;
	struct refresh_reply reply;
	char hash[2 * CRYPTO_SHA256_LEN + 1];
	char now_s[32], grace_s[24], uncapped_s[24], exp_s[24];
	char until_s[24], life_s[24];
	const char *params[REFRESH_PARAMS];
	int64_t uncapped, exp;
	int rc = SESSION_OK, attempt;
	int dbsc = proof != NULL && strcmp(proof->kind, "dbsc") == 0;

	memset(&succ, 0, sizeof succ);
	memset(&reply, 0, sizeof reply);
	reply.answer = ANSWER_INVALID;
	if (token != NULL && crypto_sha256_hex(token, len, hash) != 0)
		goto out;

	/* The successor's expiry: the inactivity lifetime, capped at the
	 * session's absolute end; a DBSC proof's, the cookie lifetime. A
	 * token that was itself capped (or is a DBSC-bound session's)
	 * carries its end as its exp; otherwise the database corrects us
	 * (recap) the one time it matters. */
	uncapped = app->now + cfg->refresh_ttl;
	exp = uncapped;
	if (dbsc)
		exp = app->now + cfg->dbsc_cookie_lifetime;
	else if (token != NULL && claims->exp - claims->iat < cfg->refresh_ttl &&
	    claims->exp < exp)
		exp = claims->exp;

	app_now_text(app, now_s);
	snprintf(grace_s, sizeof grace_s, "%" PRId64, cfg->reuse_grace);
	snprintf(uncapped_s, sizeof uncapped_s, "%" PRId64, uncapped);
	snprintf(life_s, sizeof life_s, "%" PRId64, cfg->dbsc_cookie_lifetime);
	memset(params, 0, sizeof params);
	params[0] = token != NULL ? hash : NULL;
	params[1] = claims->sid;
	params[2] = claims->sub;
	params[3] = now_s;
	params[4] = grace_s;
	params[5] = uncapped_s;
	params[9] = ip;
	params[10] = cfg->reuse_revokes == REUSE_REVOKES_USER ? "true" :
	    "false";
	if (proof != NULL) {
		snprintf(until_s, sizeof until_s, "%" PRId64, proof->until);
		params[11] = proof->kind;
		params[12] = proof->jkt_hex;
		params[13] = proof->hash_hex;
		params[14] = until_s;
		params[16] = proof->bind_alg;
		params[17] = proof->bind_jwk;
	}
	params[15] = life_s;

	for (attempt = 0;; attempt++) {
		if (attempt == REFRESH_ATTEMPTS) {
			/* Still contended after every attempt: nothing
			 * changed, the client may simply try again. */
			log_event(LOG_ERROR, "refresh_gave_up",
			    "sid=%s attempts=%d", claims->sid, attempt);
			rc = SESSION_EUNAVAILABLE;
			break;
		}
		if (succ.token == NULL || succ.exp != exp) {
			successor_free(&succ);
			if (successor_make(app, token, len, claims, exp,
			    &succ) != 0) {
				log_event(LOG_ERROR, "token_mint_failed",
				    "user=%" PRId64, user_id);
				rc = SESSION_EFAIL;
				break;
			}
		}
		snprintf(exp_s, sizeof exp_s, "%" PRId64, succ.exp);
		params[6] = exp_s;
		params[7] = succ.hash;
		params[8] = succ.sealed_hex;
		refresh_reply_clear(&reply);
		rc = refresh_call(app, params, &reply);
		if (rc == REFRESH_CALL_RETRY) {
			/* Lost a deadlock or a serialization race: nothing
			 * was changed; try again. */
			struct timespec pause = { 0, 20000000L * (attempt + 1) };

			nanosleep(&pause, NULL);
			continue;
		}
		if (rc == SESSION_OK && reply.answer == ANSWER_LATE) {
			/* The call reached the database after its grace
			 * window (migration 010): it changed nothing, and
			 * this request has waited long enough. */
			log_event(LOG_WARN, "refresh_late", "sid=%s",
			    claims->sid);
			rc = SESSION_EUNAVAILABLE;
			break;
		}
		if (rc != SESSION_OK || reply.answer != ANSWER_RECAP)
			break;
		/* The session's end, which is still ahead (the session is
		 * live), or a bound token's: mint a successor expiring
		 * then. */
		exp = reply.expires_at;
	}
	if (rc == SESSION_OK)
		rc = refresh_answer(app, token, len, claims, user_id, ip,
		    &succ, &reply, out, outcome);
out:
	if (rc != SESSION_OK || (*outcome != REFRESH_ROTATED &&
	    *outcome != REFRESH_DUPLICATE))
		session_tokens_free(out);
	if (rc != SESSION_OK)
		*outcome = REFRESH_REFUSED;
	refresh_reply_clear(&reply);
	successor_free(&succ);
	return rc;
}

int
session_refresh(struct app *app, const char *token, size_t len,
    const struct jwt_claims *claims, int64_t user_id, const char *ip,
    const struct refresh_proof *proof, struct session_tokens *out,
    enum refresh_outcome *outcome)
{
	struct jwt_claims succ_claims;
	int64_t succ_user;
	char *succ;
	int rc;

	memset(out, 0, sizeof *out);
	*outcome = REFRESH_REFUSED;
	rc = refresh_run(app, token, len, claims, user_id, ip, proof, out,
	    outcome);
	if (rc != SESSION_OK || *outcome != REFRESH_DUPLICATE ||
	    proof == NULL || strcmp(proof->kind, "dbsc") != 0 ||
	    out->refresh_token == NULL)
		return rc;
	/* A signed refresh that brought a grace duplicate (the page's own
	 * refresh got there first): the key proves the session, so the live
	 * successor the seal held is rotated in turn, with the proof the
	 * duplicate left unspent, to a full cookie lifetime. */
	succ = out->refresh_token;
	out->refresh_token = NULL;
	session_tokens_free(out);
	if (session_verify_refresh(app, succ, strlen(succ), &succ_claims,
	    &succ_user) != 0 || strcmp(succ_claims.sid, claims->sid) != 0) {
		crypto_free_secret(succ);
		*outcome = REFRESH_REFUSED;
		return SESSION_OK;
	}
	rc = refresh_run(app, succ, strlen(succ), &succ_claims, succ_user, ip,
	    proof, out, outcome);
	crypto_free_secret(succ);
	return rc;
}

int
session_refresh_proven(struct app *app, const char *sid, int64_t user_id,
    const char *ip, const struct refresh_proof *proof,
    struct session_tokens *out, enum refresh_outcome *outcome)
{
	struct jwt_claims claims;

	memset(out, 0, sizeof *out);
	memset(&claims, 0, sizeof claims);
	*outcome = REFRESH_REFUSED;
	if (!crypto_is_uuid(sid) || proof == NULL ||
	    strcmp(proof->kind, "dbsc") != 0)
		return SESSION_EFAIL;
	snprintf(claims.sid, sizeof claims.sid, "%s", sid);
	snprintf(claims.sub, sizeof claims.sub, "%" PRId64, user_id);
	return refresh_run(app, NULL, 0, &claims, user_id, ip, proof, out,
	    outcome);
}

int
session_dbsc_key(struct app *app, const char *sid, struct session_key *out,
    int *found)
{
	static const char sql[] =
	    "SELECT s.user_id, k.alg, k.public_jwk"
	    " FROM session_keys k JOIN sessions s ON s.id = k.session_id"
	    " WHERE k.session_id = $1::uuid AND k.kind = 'dbsc'"
	    " AND latch_session_live(s, to_timestamp($2::float8))";
	char now_s[32];
	const char *params[2] = { sid, now_s };
	PGresult *res;
	int rc;

	memset(out, 0, sizeof *out);
	*found = 0;
	if (!crypto_is_uuid(sid))
		return SESSION_OK;
	app_now_text(app, now_s);
	rc = db_exec(app->db, sql, 2, params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return map_db(rc);
	if (PQntuples(res) == 1 && PQnfields(res) == 3 &&
	    user_id_parse(PQgetvalue(res, 0, 0), &out->user_id) == 0 &&
	    (size_t)PQgetlength(res, 0, 1) < sizeof out->alg &&
	    (size_t)PQgetlength(res, 0, 2) < sizeof out->jwk) {
		memcpy(out->alg, PQgetvalue(res, 0, 1),
		    (size_t)PQgetlength(res, 0, 1) + 1);
		memcpy(out->jwk, PQgetvalue(res, 0, 2),
		    (size_t)PQgetlength(res, 0, 2) + 1);
		*found = 1;
	}
	PQclear(res);
	return SESSION_OK;
}

int
session_logout(struct app *app, const char *token, size_t len, const char *ip)
{
	/* No row when the token is not one of the session's, or is expired
	 * and no longer its live one. */
	static const char sql[] =
	    "SELECT latch_revoke($2::bigint, $1::uuid, 'logout',"
	    " to_timestamp($4::float8))"
	    " FROM refresh_tokens t"
	    " WHERE t.token_hash = decode($3, 'hex') AND t.session_id = $1::uuid"
	    " AND (t.rotated_at IS NULL"
	    " OR t.expires_at > to_timestamp($4::float8))";
	struct jwt_claims claims;
	char hash[2 * CRYPTO_SHA256_LEN + 1], now_s[32];
	const char *params[4];
	int64_t user_id;
	PGresult *res;
	int rc;

	/* Logout is idempotent and no oracle: a token that does not verify
	 * revokes nothing and the caller answers the same. An expired one
	 * that does (our signature, every other claim as a refresh token's)
	 * still ends its session if it is the session's live token: a
	 * DBSC-bound session outlives its 10-minute cookie, and a logout
	 * that came with the cookie just run out (a client clock or a
	 * request in flight at its expiry) would otherwise have left the
	 * session to the browser's next signed refresh. An expired token
	 * that was rotated ends nothing, so an old copy cannot log the owner
	 * out for the rest of the session's life. */
	if (verify_refresh(app, token, len, 1, &claims, &user_id) != 0 ||
	    crypto_sha256_hex(token, len, hash) != 0)
		return SESSION_OK;
	app_now_text(app, now_s);
	params[0] = claims.sid;
	params[1] = claims.sub;
	params[2] = hash;
	params[3] = now_s;
	rc = db_exec(app->db, sql, 4, params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return map_db(rc);
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0)
		log_event(LOG_INFO, "logout", "user=%" PRId64 " sid=%s ip=%s",
		    user_id, claims.sid, ip);
	PQclear(res);
	return SESSION_OK;
}

int
session_revoke(struct app *app, int64_t user_id, const char *sid,
    const char *reason, int64_t *revoked)
{
	char uid[24], now_s[32];
	const char *params[4] = { user_id != 0 ? uid : NULL, sid, reason,
	    now_s };
	PGresult *res;
	int rc;

	*revoked = 0;
	if (user_id == 0 && sid == NULL)
		return SESSION_EFAIL;
	snprintf(uid, sizeof uid, "%" PRId64, user_id);
	app_now_text(app, now_s);
	rc = db_exec(app->db, "SELECT latch_revoke($1::bigint, $2::uuid, $3,"
	    " to_timestamp($4::float8))", 4, params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK)
		return map_db(rc);
	*revoked = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return SESSION_OK;
}

int
session_list(struct app *app, int64_t user_id, const char *username,
    size_t limit, struct session_list *out)
{
	static const char sql[] =
	    "SELECT s.id::text, u.username,"
	    " floor(extract(epoch FROM s.created_at))::bigint,"
	    " floor(extract(epoch FROM s.last_used_at))::bigint,"
	    " floor(extract(epoch FROM LEAST(s.idle_expires_at,"
	    "  s.absolute_expires_at)))::bigint,"
	    " s.user_agent, host(s.ip),"
	    " (SELECT k.kind FROM session_keys k WHERE k.session_id = s.id)"
	    " FROM sessions s JOIN users u ON u.id = s.user_id"
	    " WHERE latch_session_live(s, to_timestamp($4::float8))"
	    " AND ($1::bigint IS NULL OR s.user_id = $1::bigint)"
	    " AND ($2::text IS NULL OR u.username = $2)"
	    " ORDER BY s.created_at DESC, s.id"
	    " LIMIT $3::bigint";
	char uid[24], lim[24], now_s[32];
	const char *params[4] = { user_id != 0 ? uid : NULL, username,
	    limit != 0 ? lim : NULL, now_s };
	PGresult *res;
	int rc, n;

	memset(out, 0, sizeof *out);
	snprintf(uid, sizeof uid, "%" PRId64, user_id);
	snprintf(lim, sizeof lim, "%zu", limit);
	app_now_text(app, now_s);
	/* Read from the replica where the route allows it: a list without
	 * a row (not even the caller's own session) is lag, asked again of
	 * the primary (lib/reads.h). */
	rc = reads_exec(app, sql, 4, params, READS_ROW, &res);
	if (rc != DB_OK)
		return map_db(rc);
	n = PQntuples(res);
	if (n > 0 && (out->items = calloc((size_t)n,
	    sizeof *out->items)) == NULL) {
		log_event(LOG_ERROR, "out_of_memory", "what=session_list");
		PQclear(res);
		return SESSION_EFAIL;
	}
	for (int i = 0; i < n; i++) {
		struct session_info *s = &out->items[i];

		s->id = PQgetvalue(res, i, 0);
		s->username = PQgetvalue(res, i, 1);
		s->created_at = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		s->last_used_at = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		s->expires_at = strtoll(PQgetvalue(res, i, 4), NULL, 10);
		s->user_agent = db_value_or_null(res, i, 5);
		s->ip = db_value_or_null(res, i, 6);
		s->binding = db_value_or_null(res, i, 7);
	}
	out->n = (size_t)n;
	out->res = res;
	return SESSION_OK;
}

void
session_list_free(struct session_list *list)
{
	free(list->items);
	PQclear(list->res);
	memset(list, 0, sizeof *list);
}
