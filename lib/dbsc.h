/* dbsc.h: the server's side of Device Bound Session Credentials (W3C
 * webappsec-dbsc, as Chromium speaks it: ../shared/notes/dbsc.md): the
 * challenges latch issues, the headers that carry them, the proofs a
 * browser signs, and the session instructions it registers. Deciding
 * what a proof allows is lib/session's (latch_refresh, migration 011);
 * this module only says whether a proof and its challenge are genuine.
 *
 * Challenges are stateless until used: "<exp>.<random>.<mac>", the MAC an
 * HMAC-SHA-256, under a key derived from a refresh key, of the session id,
 * the expiry and the random part. So a 403 that asks for a proof writes
 * nothing, a challenge is good for one session only, and its single use is
 * recorded when it is spent (proofs_seen). */
#ifndef LATCH_DBSC_H
#define LATCH_DBSC_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "config.h"
#include "crypto.h"
#include "http.h"
#include "jwk.h"

#define DBSC_ALGS (JWS_ES256 | JWS_RS256)       /* offered to browsers */
#define DBSC_CHALLENGE_MAX 96   /* bytes of a challenge, ours or not */
/* How long a refresh challenge stays good past the cookie's lifetime: a
 * browser signs the one a 200 gave it when the next cookie runs out, which
 * is one lifetime later. A registration challenge lives this alone: the
 * browser answers a login's offer at once. */
#define DBSC_CHALLENGE_SLACK 120
#define DBSC_REGISTER_PATH "/auth/dbsc/register"
#define DBSC_REFRESH_PATH "/auth/dbsc/refresh"

/* What a challenge may be answered for. Each has its own MAC key, so a
 * challenge the refresh route hands to anyone who names a session can
 * never register a key: only a login's answer carries a registration
 * challenge. */
enum dbsc_purpose {
	DBSC_FOR_REGISTRATION,
	DBSC_FOR_REFRESH,
};

/* Makes a challenge for purpose and session sid (canonical UUID text) at
 * now, good until now + DBSC_CHALLENGE_SLACK, plus cfg's cookie lifetime
 * for a refresh challenge,
 * under the refresh signing key. Returns 0 with the NUL-terminated
 * challenge in out, or -1 (the random generator or HMAC failed). */
int dbsc_challenge_make(const struct latch_config *cfg,
    enum dbsc_purpose purpose, const char *sid, int64_t now,
    char out[DBSC_CHALLENGE_MAX + 1]);

/* A challenge that passed dbsc_challenge_check. */
struct dbsc_challenge {
	char hash_hex[2 * CRYPTO_SHA256_LEN + 1];       /* its single-use
							 * id, for
							 * proofs_seen */
	int64_t expires_at;
};

/* Whether the n bytes at c are a challenge latch made for purpose and sid
 * (under any refresh key of cfg, so rotating keys spoils none) that has
 * not expired at now. Returns 0 and fills *out, or -1. */
int dbsc_challenge_check(const struct latch_config *cfg,
    enum dbsc_purpose purpose, const char *sid, const char *c, size_t n,
    int64_t now, struct dbsc_challenge *out);

/* Adds Secure-Session-Registration offering DBSC_ALGS, the registration
 * path and challenge. Returns 0, or -1 (out of header room or memory). */
int dbsc_offer_registration(struct http_response *resp,
    const char *challenge);

/* Adds Secure-Session-Challenge: "<challenge>";id="<sid>". Returns 0 or
 * -1. */
int dbsc_send_challenge(struct http_response *resp, const char *challenge,
    const char *sid);

/* A verified proof: its challenge (jti) and its key. */
struct dbsc_proof {
	struct jws_proof jws;           /* owned: dbsc_proof_clear */
	const char *challenge;          /* into jws.payload */
	size_t challenge_len;
};

/* Verifies the Secure-Session-Response value (len bytes at value: a bare
 * compact JWS, or the same as an RFC 8941 string in double quotes): typ
 * "dbsc+jwt", alg one of DBSC_ALGS, the key in the header "jwk" when key
 * is NULL (registration), else signed by key (the stored one); payload
 * member jti a string of 1..DBSC_CHALLENGE_MAX bytes. The challenge is
 * not judged here (dbsc_challenge_check). Returns JWK_OK with *out filled
 * (dbsc_proof_clear), or a negative enum jwk_err (JWK_EMALFORMED also
 * for a missing or mistyped jti) with nothing to free. */
int dbsc_verify_proof(const char *value, size_t len, const struct jwk *key,
    struct dbsc_proof *out);

void dbsc_proof_clear(struct dbsc_proof *p);

/* The session instructions a registration or refresh answers with
 * (session_identifier sid, refresh_url, a scope of the paths under /auth/
 * on origin, and the refresh cookie as credential with cookie_attributes
 * exactly as its Set-Cookie carries them, Max-Age aside). Returns a new
 * object, or NULL when memory ran out. */
json_object *dbsc_instructions(const char *sid, const char *origin,
    const char *host, const char *cookie_name, const char *cookie_attributes);

#endif
