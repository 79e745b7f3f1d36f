/* dpop.h: DPoP proofs (RFC 9449 section 4) as the refresh and login
 * routes check them before anything is changed: the JWS (lib/jwk, typ
 * "dpop+jwt", the key in the header), htm, htu and iat. Whether the jti
 * was seen before, and whether the key is the session's, are the
 * database's to say (one answer for every process and host): this module
 * hands the caller what it needs for that. Pure: the time is a parameter. */
#ifndef LATCH_DPOP_H
#define LATCH_DPOP_H

#include <stddef.h>
#include <stdint.h>

#include "jwk.h"

#define DPOP_ALGS (JWS_ES256 | JWS_RS256 | JWS_EDDSA)   /* offered */
#define DPOP_IAT_WINDOW 60      /* seconds iat may be before or after now */
#define DPOP_JTI_MAX 128        /* bytes of jti */
#define DPOP_HTU_MAX 2048       /* bytes of htu */

enum dpop_err {
	DPOP_OK = 0,
	DPOP_EPROOF = -1,       /* the JWS or its key (jwk_err in *detail) */
	DPOP_EHTM = -2,         /* htm missing, not a string, not the method */
	DPOP_EHTU = -3,         /* htu missing, not a string, too long, not
				 * an absolute http(s) URI, or not the URI
				 * of this request */
	DPOP_EIAT = -4,         /* iat missing, not an integer, or more than
				 * DPOP_IAT_WINDOW from now */
	DPOP_EJTI = -5,         /* jti missing, not a string, empty or over
				 * DPOP_JTI_MAX */
	DPOP_ENOMEM = -6,
};

/* What a proof that passed yields. */
struct dpop_proof {
	enum jws_alg alg;
	unsigned char thumbprint[JWK_THUMBPRINT_LEN];   /* the key's */
	char jkt[JWK_JKT_LEN + 1];
	char canonical[JWK_TEXT_MAX + 1];       /* the key, to store */
	char jti[DPOP_JTI_MAX + 1];
	int64_t iat;
};

/* Verifies the DPoP header value (len bytes at proof, exactly one compact
 * JWS, no white space around it) of a request with method (upper case,
 * "POST") at htu: the URI the server was reached at, scheme, host, port
 * when not the default, and path, without query or fragment, as the
 * server reconstructs it. The proof's htu is compared to it after
 * RFC 3986 section 6.2.2 and 6.2.3 normalisation (case of scheme and
 * host, default port, empty path as "/", percent-encoding case), with
 * its query and fragment ignored (RFC 9449 section 4.3 point 9). A
 * "nonce" or "ath" claim is ignored. Returns DPOP_OK with *out filled, or
 * a negative enum dpop_err (with the jwk_err in *detail when it is
 * DPOP_EPROOF; detail may be NULL). */
int dpop_verify(const char *proof, size_t len, const char *method,
    const char *htu, int64_t now, struct dpop_proof *out, int *detail);

/* 1 when the n bytes at proof_htu name the same URI as expected (given as
 * dpop_verify takes htu) under the rules above, else 0. */
int dpop_htu_matches(const char *proof_htu, size_t n, const char *expected);

/* A short English description of err (and of detail when err is
 * DPOP_EPROOF) for an error_description; it never quotes the proof. */
const char *dpop_strerror(int err, int detail);

#endif
