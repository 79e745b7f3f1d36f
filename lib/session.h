/* session.h: the domain of login sessions: opening one at login with its
 * first refresh token, and minting the tokens a client receives. The SQL
 * lives here too, one statement per state change. (Refresh rotation,
 * logout and the session list build on this.) */
#ifndef LATCH_SESSION_H
#define LATCH_SESSION_H

#include <stdint.h>

#include <json-c/json.h>

#include "app.h"
#include "crypto.h"

/* What a client receives after login or refresh. */
struct session_tokens {
	char sid[CRYPTO_UUID_LEN + 1];
	char *access_token;             /* owned */
	int64_t access_expires_in;      /* seconds */
	char *refresh_token;            /* owned, wiped on free */
	int64_t refresh_expires_in;     /* seconds, capped by the session */
};

enum session_err {
	SESSION_OK = 0,
	SESSION_EGONE = -1,             /* the user vanished or was disabled */
	SESSION_EUNAVAILABLE = -2,      /* database unreachable: 503 */
	SESSION_EFAIL = -3,             /* anything else: logged, 500 */
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
 * refresh token's hash and, when rehash is not NULL, the user's new
 * password hash. The refresh token expires after the
 * inactivity lifetime, capped at the session's absolute end. On success
 * returns SESSION_OK and *out is owned by the caller
 * (session_tokens_free); otherwise a negative enum session_err and *out
 * holds nothing to free. */
int session_open(struct app *app, int64_t user_id, const char *user_agent,
    const char *ip, const struct session_rehash *rehash,
    struct session_tokens *out);

enum refresh_outcome {
	REFRESH_ROTATED,        /* a new successor */
	REFRESH_DUPLICATE,      /* the same successor again (grace window) */
	REFRESH_REFUSED,        /* invalid, expired, revoked, unknown */
	REFRESH_REUSE,          /* theft: the session (or user) was revoked */
};

/* Exchanges the refresh token at token (len bytes) for a new access token
 * and a successor refresh token, in one database transaction (API.md,
 * POST /auth/refresh): verifies the JWT, then rotates, recognises a
 * concurrent duplicate within REFRESH_REUSE_GRACE (answering with the same
 * successor), or recognises reuse and revokes (committed although the
 * request fails; logged with user, session and ip). Serialization failures
 * and lock timeouts are retried a few times here.
 * Returns SESSION_OK and sets *outcome; for ROTATED and DUPLICATE *out
 * holds the tokens (session_tokens_free), otherwise nothing. Returns
 * SESSION_EUNAVAILABLE or SESSION_EFAIL when the database could not
 * decide. */
int session_refresh(struct app *app, const char *token, size_t len,
    const char *ip, struct session_tokens *out,
    enum refresh_outcome *outcome);

/* The session a refresh token names, for logout: verifies the JWT
 * (expired or otherwise invalid tokens yield nothing) and revokes that
 * session when the token belongs to it. Returns SESSION_OK (also when
 * there was nothing to revoke), SESSION_EUNAVAILABLE or SESSION_EFAIL. */
int session_logout(struct app *app, const char *token, size_t len,
    const char *ip);

/* Revokes every live session of user_id (logout-all). Returns SESSION_OK
 * and the count in *revoked, or SESSION_EUNAVAILABLE / SESSION_EFAIL. */
int session_revoke_all(struct app *app, int64_t user_id, int64_t *revoked);

/* Revokes the live session sid if it belongs to user_id. Returns
 * SESSION_OK with *found 1 when it did, 0 when there was no such live
 * session of that user; or SESSION_EUNAVAILABLE / SESSION_EFAIL. */
int session_revoke_one(struct app *app, int64_t user_id, const char *sid,
    int *found);

/* The user's live sessions, newest first, as API.md's
 * {"sessions": [{"id", "created_at", "last_used_at", "expires_at",
 * "user_agent", "ip", "current"}]}, current marking current_sid. On
 * SESSION_OK *out is a new object the caller owns. */
int session_list(struct app *app, int64_t user_id, const char *current_sid,
    json_object **out);

/* Wipes and frees the tokens. */
void session_tokens_free(struct session_tokens *t);

/* Hex SHA-256 of a refresh token: the only form the database sees. */
int session_token_hash_hex(const char *token, size_t len,
    char out[2 * CRYPTO_SHA256_LEN + 1]);

#endif
