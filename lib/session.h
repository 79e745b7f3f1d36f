/* session.h: the domain of login sessions. It decides: opening a session
 * at login with its first refresh token, rotating refresh tokens (with
 * the grace window and reuse detection), logout and the other
 * revocations, and which sessions are live. It does not present: results
 * are typed (tokens, outcomes, lists) and the edge (fcgi/auth.c,
 * latchctl) turns them into answers. The session rules themselves,
 * liveness and revocation, are SQL functions (migration 007) that every
 * statement here calls; the request's clock (app->now) is always passed. */
#ifndef LATCH_SESSION_H
#define LATCH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "crypto.h"
#include "errors.h"
#include "jwk.h"
#include "jwt.h"

/* What a client receives after login or refresh. */
struct session_tokens {
	char sid[CRYPTO_UUID_LEN + 1];
	char *access_token;             /* owned, wiped on free */
	int64_t access_expires_in;      /* seconds */
	char *refresh_token;            /* owned, wiped on free */
	int64_t refresh_expires_in;     /* seconds, capped by the session */
	int dpop_bound;                 /* the session is bound to a DPoP
					 * key: token_type "DPoP" */
};

/* A key a session is bound to, or is being bound to (migration 011). The
 * strings are borrowed from the caller. */
struct session_binding {
	const char *kind;               /* "dpop" or "dbsc" */
	const char *alg;                /* "ES256", "RS256", "EdDSA" */
	const char *jkt_hex;            /* the RFC 7638 thumbprint, hex */
	const char *jwk;                /* its canonical text (lib/jwk) */
};

/* The module's errors, in the shared vocabulary (lib/errors.h) where they
 * mean the same; SESSION_EGONE is the one of its own. */
enum session_err {
	SESSION_OK = LATCH_OK,
	SESSION_EUNAVAILABLE = LATCH_EUNAVAILABLE, /* database unreachable */
	SESSION_EFAIL = LATCH_EFAIL,    /* anything else: logged */
	SESSION_EGONE = -10,            /* the user vanished or was disabled */
};

/* A stronger hash to store at login, replacing old_hash (only if the row
 * still holds it, so a concurrent password change wins). */
struct session_rehash {
	const char *old_hash;
	const char *new_hash;
};

/* Opens a session for user_id (which must exist and be enabled at commit
 * time) from a client at ip (canonical text) with user_agent (may be NULL,
 * truncated to 512 bytes), in one statement: the session row, its first
 * refresh token's hash, when bind is not NULL the key it is bound to (a
 * DPoP login: out->dpop_bound is then set), and when rehash is not NULL
 * the user's new password hash. The refresh token expires after the
 * inactivity lifetime, capped at the session's absolute end. On success
 * returns SESSION_OK and *out is owned by the caller
 * (session_tokens_free); otherwise a negative enum session_err and *out
 * holds nothing to free. */
int session_open(struct app *app, int64_t user_id, const char *user_agent,
    const char *ip, const struct session_rehash *rehash,
    const struct session_binding *bind, struct session_tokens *out);

/* Records the single-use proof whose id is hash_hex (a DPoP jti with its
 * key, lib/dpop; a DBSC challenge, lib/dbsc) as used until until. Returns
 * SESSION_OK with *fresh 1 the first time, 0 when it was used before; or
 * SESSION_EUNAVAILABLE / SESSION_EFAIL. */
int session_proof_use(struct app *app, const char *hash_hex, int64_t until,
    int *fresh);

/* The proof a refresh carries, already verified by lib/dpop or lib/dbsc
 * (signature and claims); latch_refresh decides whether its key is the
 * session's and whether it was used before. */
struct refresh_proof {
	const char *kind;               /* "dpop" or "dbsc" */
	char jkt_hex[2 * JWK_THUMBPRINT_LEN + 1];       /* its key's */
	char hash_hex[2 * CRYPTO_SHA256_LEN + 1];       /* single-use id */
	int64_t until;                  /* when its single use may lapse */
	const char *bind_alg;           /* a DBSC registration: the key to */
	const char *bind_jwk;           /* bind (borrowed), else NULL */
};

enum refresh_outcome {
	REFRESH_ROTATED,        /* a new successor */
	REFRESH_DUPLICATE,      /* the same successor again (grace window);
				 * or, for a DBSC-bound session refreshed
				 * without a proof whose successor a signed
				 * refresh made, an access token only:
				 * refresh_token NULL */
	REFRESH_REFUSED,        /* invalid, expired, revoked, unknown */
	REFRESH_REUSE,          /* theft: the session (or user) was revoked */
	REFRESH_UNPROVEN,       /* a bound session and no proof of its key,
				 * or a proof used before: nothing changed */
};

/* Verifies the refresh token at token (len bytes), without the database:
 * 0 with its claims (a UUID sid) and user in *claims and *user_id, or -1
 * (invalid, expired, of no session). What session_refresh needs first. */
int session_verify_refresh(const struct app *app, const char *token,
    size_t len, struct jwt_claims *claims, int64_t *user_id);

/* Exchanges the refresh token at token (len bytes) for a new access token
 * and a successor refresh token (API.md, POST /auth/refresh). claims and
 * user_id are what session_verify_refresh gave for that token: the caller
 * verifies it first (once), so that it can refuse a token that is not
 * ours before checking a proof, and a proof before anything is consumed.
 * Then one call of the SQL function latch_refresh (migrations
 * 002, 005, 007), one transaction, which rotates, recognises a concurrent
 * duplicate within REFRESH_REUSE_GRACE (answering with the same
 * successor), or recognises reuse and revokes (committed although the
 * request fails; logged with user, session and ip).
 *
 * The exchange with latch_refresh: C mints the successor before the call,
 * expiring at the inactivity lifetime or at the presented token's own exp
 * when that was capped, and passes both that expiry (p_new_exp) and the
 * uncapped one (p_uncapped_exp). Only the database knows the session's
 * absolute end; when it caps the successor below p_new_exp it answers
 * "recap" with the expiry the successor must have, changing nothing, and
 * C mints again and calls again (at most once in practice: the answer is
 * the session's end). Serialization failures and lost deadlocks are also
 * retried, a few times in all; a lock or statement timeout is not (lib/db:
 * SESSION_EUNAVAILABLE). A call that reached the database later than the
 * grace window after app->now answers "late", having changed nothing
 * (migration 010): SESSION_EUNAVAILABLE, so the client retries with the
 * same token. Every outcome string (rotated, duplicate, recap, reuse,
 * invalid, late) is matched; any other is logged as an error and answered
 * SESSION_EFAIL.
 *
 * Returns SESSION_OK and sets *outcome; for ROTATED and DUPLICATE *out
 * holds the tokens (session_tokens_free), otherwise nothing. Returns
 * SESSION_EUNAVAILABLE or SESSION_EFAIL when the database could not
 * decide; *out then holds nothing. */
int session_refresh(struct app *app, const char *token, size_t len,
    const struct jwt_claims *claims, int64_t user_id, const char *ip,
    const struct refresh_proof *proof, struct session_tokens *out,
    enum refresh_outcome *outcome);
/* (The proof, NULL when there is none, goes to latch_refresh with the
 * token: a DPoP-bound session refreshes only with a proof of its key; a
 * DBSC-bound one refreshed without a proof gets a successor expiring no
 * later than the presented token, with one (kind "dbsc") a successor
 * living DBSC_COOKIE_LIFETIME and an idle end moved on; a DBSC proof with
 * bind_jwk set is a registration, which binds an unbound session first.
 * REFRESH_UNPROVEN when the proof does not fit the session or was used
 * before, with nothing changed.) */

/* session_refresh of the DBSC-bound session sid of user_id, proven by
 * proof (kind "dbsc") alone, without a token: for a browser whose
 * expired cookie is gone. The session's unrotated token is rotated; no
 * grace duplicate can answer such a call. */
int session_refresh_proven(struct app *app, const char *sid,
    int64_t user_id, const char *ip, const struct refresh_proof *proof,
    struct session_tokens *out, enum refresh_outcome *outcome);

/* The key of a live DBSC-bound session, as a DBSC refresh needs it. */
struct session_key {
	int64_t user_id;
	char alg[8];
	char jwk[JWK_TEXT_MAX + 1];
};

/* Looks up the key of the live, DBSC-bound session sid (canonical UUID
 * text). Returns SESSION_OK with *found 1 and *out filled, or *found 0
 * (no such live bound session); or SESSION_EUNAVAILABLE / SESSION_EFAIL. */
int session_dbsc_key(struct app *app, const char *sid, struct session_key *out,
    int *found);

/* The session a refresh token names, for logout: verifies the JWT as
 * session_verify_refresh does except that its exp may have passed (the
 * session's live token, expired, still ends it, which may live on: a
 * DBSC-bound one outlives its cookie; an expired rotated token, or one
 * that fails any other rule, yields nothing) and revokes that session
 * when the token belongs to it. Returns SESSION_OK (also when
 * there was nothing to revoke), SESSION_EUNAVAILABLE or SESSION_EFAIL. */
int session_logout(struct app *app, const char *token, size_t len,
    const char *ip);

/* Why a session was revoked: the values of sessions.revoked_reason that
 * lib/ and latchctl write (reuse is latch_refresh's own). */
#define SESSION_REASON_LOGOUT_ALL "logout_all"
#define SESSION_REASON_REVOKED "revoked"        /* by its user, by id */
#define SESSION_REASON_ADMIN "admin"            /* by latchctl */

/* Revokes, for reason, the live session sid, or when sid is NULL every
 * live session of user_id; user_id 0 (only with a sid) means whoever's it
 * is. Returns SESSION_OK with the number revoked in *revoked (0 when
 * there was no such live session), or SESSION_EUNAVAILABLE /
 * SESSION_EFAIL. */
int session_revoke(struct app *app, int64_t user_id, const char *sid,
    const char *reason, int64_t *revoked);

/* One live session, as a list shows it. */
struct session_info {
	const char *id;                 /* canonical UUID text */
	const char *username;
	int64_t created_at;             /* seconds since the epoch */
	int64_t last_used_at;
	int64_t expires_at;             /* the idle end or the absolute end */
	const char *user_agent;         /* NULL: none recorded */
	const char *ip;                 /* NULL: none recorded */
	const char *binding;            /* NULL, "dbsc" or "dpop" */
};

/* A list of sessions; the strings point into the result it owns. */
struct session_list {
	struct session_info *items;
	size_t n;
	PGresult *res;                  /* private */
};

/* The live sessions, newest first: of user_id when it is not 0, else of
 * the user named username when that is not NULL, else of everyone; at
 * most limit of them (0: no limit). On SESSION_OK *out holds the list
 * (session_list_free); otherwise nothing. */
int session_list(struct app *app, int64_t user_id, const char *username,
    size_t limit, struct session_list *out);

/* Frees the list's storage. */
void session_list_free(struct session_list *list);

/* Wipes and frees the tokens. */
void session_tokens_free(struct session_tokens *t);

#endif
