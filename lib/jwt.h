/* jwt.h: HS256 JSON Web Tokens as API.md ("Tokens") fixes them: signing with
 * the first key of a key list, strict verification against all of them.
 * Pure functions: the current time is always a parameter. */
#ifndef LATCH_JWT_H
#define LATCH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define JWT_MAX_LEN 4096        /* longer tokens are rejected unread */
#define JWT_FUTURE_SKEW 30      /* seconds nbf/iat may lie in the future */
#define JWT_CLAIM_MAX 64        /* bytes in sub, sid, jti */

enum jwt_kind {
	JWT_ACCESS,             /* typ "at+jwt" */
	JWT_REFRESH,            /* typ "refresh+jwt" */
};

enum jwt_err {
	JWT_OK = 0,
	JWT_EMALFORMED = -1,    /* not three base64url parts of JSON objects */
	JWT_ETOOLONG = -2,      /* over JWT_MAX_LEN */
	JWT_EALG = -3,          /* alg is not exactly "HS256" */
	JWT_ETYP = -4,          /* typ missing or of the other kind */
	JWT_EKID = -5,          /* kid missing or not in the key list */
	JWT_ECRIT = -6,         /* a crit header (no extension is understood) */
	JWT_ESIGNATURE = -7,    /* signature missing or wrong */
	JWT_EEXPIRED = -8,      /* exp at or before now */
	JWT_ENOTYET = -9,       /* nbf or iat more than JWT_FUTURE_SKEW ahead */
	JWT_ECLAIMS = -10,      /* exp, sub (or sid) missing or mistyped */
	JWT_EISSUER = -11,      /* iss differs from the configured issuer */
	JWT_EAUDIENCE = -12,    /* aud lacks the configured audience */
	JWT_ENOMEM = -13,
};

/* What verification yields. Strings are NUL-terminated copies. */
struct jwt_claims {
	char kid[KEY_KID_MAX + 1];
	char sub[JWT_CLAIM_MAX + 1];
	char sid[JWT_CLAIM_MAX + 1];    /* empty when the token has none */
	char jti[JWT_CLAIM_MAX + 1];    /* empty when the token has none */
	int64_t iat;                    /* 0 when absent */
	int64_t exp;
};

struct jwt_verify_opts {
	const struct keyset *keys;
	enum jwt_kind kind;
	int64_t now;                    /* seconds since the epoch */
	const char *issuer;             /* NULL: not checked */
	const char *audience;           /* NULL: not checked */
	int require_sid;                /* 1: a string sid claim must be present */
	int allow_expired;              /* 1: exp may be at or before now (it
					 * must still be present and well
					 * formed, and every other rule
					 * holds): for ending a session only,
					 * never for granting anything */
};

/* Verifies the len bytes at token (not necessarily NUL-terminated).
 * Rules (API.md): at most JWT_MAX_LEN bytes; header and claims each one
 * JSON object as json_parse_object (lib/json) takes them, duplicate
 * members refused; header alg exactly "HS256";
 * typ equal to the kind's type, compared case-insensitively with an
 * optional "application/" prefix; kid present and listed; no crit; HMAC
 * compared in constant time; exp present and after now (no leeway; with
 * allow_expired present only); sub a
 * non-empty string; nbf and iat not more than JWT_FUTURE_SKEW seconds
 * ahead; iss and aud checked when configured (aud may be a string or an
 * array of strings). Returns JWT_OK and fills *out, or a negative
 * enum jwt_err; *out is only valid on success. */
int jwt_verify(const char *token, size_t len, const struct jwt_verify_opts *opts,
    struct jwt_claims *out);

/* A short English description of err, safe for an error_description (it
 * never includes any part of a token). */
const char *jwt_strerror(int err);

struct jwt_sign_input {
	enum jwt_kind kind;
	const struct key *key;          /* signs; its kid goes in the header */
	const char *sub;
	const char *sid;
	const char *jti;
	int64_t iat;
	int64_t exp;
	const char *issuer;             /* NULL: no iss claim */
	const char *audience;           /* NULL: no aud claim */
};

/* Builds and signs a token: header {"alg":"HS256","typ":...,"kid":...},
 * claims sub, sid, jti, iat, exp (and iss, aud when given).
 * On success returns JWT_OK and sets *out to a malloc'd NUL-terminated
 * token that the caller frees (after OPENSSL_cleanse for refresh tokens);
 * otherwise returns a negative enum jwt_err and leaves *out untouched:
 * JWT_ECLAIMS for claims jwt_verify would refuse (an empty or overlong
 * sub, an overlong sid or jti, a time out of range, a string that is not
 * UTF-8). */
int jwt_sign(const struct jwt_sign_input *in, char **out);

/* HMAC-SHA-256 of the n bytes at input under key, base64url-encoded into
 * out (44 bytes: 43 characters and a NUL). Returns 0, or -1 on failure.
 * Exposed for the RFC 7515 appendix A.1 test. */
int jwt_hs256_b64(const unsigned char *key, size_t keylen, const char *input,
    size_t n, char out[44]);

#endif
