/* jwk.h: public keys that clients hold (RFC 7517 JWK) and the compact JWS
 * (RFC 7515) they sign with them: DPoP proofs (RFC 9449, lib/dpop) and
 * Device Bound Session Credentials proofs (W3C webappsec-dbsc, lib/dbsc).
 * Everything here is untrusted input parsed once, with a limit on every
 * field. Pure functions: no clock, no database, no globals. */
#ifndef LATCH_JWK_H
#define LATCH_JWK_H

#include <stddef.h>

#include <json-c/json.h>
#include <openssl/types.h>

#define JWS_MAX_LEN 8192        /* bytes of a compact JWS read at all */
#define JWK_TEXT_MAX 1024       /* bytes of a key's canonical text (an
				 * RSA-4096 key's is about 740) */
#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BITS 4096
#define JWK_THUMBPRINT_LEN 32   /* SHA-256 */
#define JWK_JKT_LEN 43          /* base64url of the thumbprint, no NUL */

/* Signature algorithms (RFC 7518 names), as bits so that a caller lists
 * the ones it offers. "none" and every HMAC algorithm are never among
 * them: a proof must be signed by a private key the client holds. */
enum jws_alg {
	JWS_ES256 = 1,          /* ECDSA P-256 SHA-256, signature r||s */
	JWS_RS256 = 2,          /* RSASSA-PKCS1-v1_5 SHA-256 */
	JWS_EDDSA = 4,          /* Ed25519 (RFC 8037) */
};

enum jwk_err {
	JWK_OK = 0,
	JWK_EMALFORMED = -1,    /* not three base64url parts, a header or
				 * payload that is not one JSON object
				 * (json_parse_object), a duplicate member */
	JWK_ETOOLONG = -2,      /* over JWS_MAX_LEN */
	JWK_EALG = -3,          /* alg missing, not a string, not offered
				 * (none, HS256, ...), or not the key's */
	JWK_ETYP = -4,          /* typ missing or not the one required */
	JWK_EKEY = -5,          /* jwk missing where required, present where
				 * a key was given and not that key,
				 * private members (d, p, q, dp, dq, qi,
				 * oth, k), unknown kty or crv, members of
				 * the wrong type or size, a point not on
				 * the curve, an RSA modulus outside
				 * JWK_RSA_MIN_BITS..JWK_RSA_MAX_BITS or
				 * even, an even or tiny exponent, an RSA
				 * integer with a leading zero byte (so that
				 * one key has one canonical text) */
	JWK_ECRIT = -6,         /* a crit header (no extension understood) */
	JWK_ESIGNATURE = -7,    /* signature missing, of the wrong size, or
				 * not valid */
	JWK_ENOMEM = -8,
};

/* A client's public key. */
struct jwk {
	EVP_PKEY *pkey;                 /* owned: jwk_clear */
	enum jws_alg alg;               /* the one algorithm it verifies:
					 * EC P-256 ES256, RSA RS256,
					 * OKP Ed25519 EdDSA */
	/* RFC 7638 section 3: the required members only, in lexicographic
	 * order, no white space: {"crv","kty","x","y"}, {"e","kty","n"},
	 * {"crv","kty","x"}. It is also how a key is stored (PostgreSQL)
	 * and read back (jwk_parse_text). NUL-terminated. */
	char canonical[JWK_TEXT_MAX + 1];
	size_t canonical_len;
	unsigned char thumbprint[JWK_THUMBPRINT_LEN];   /* SHA-256 of it */
	char jkt[JWK_JKT_LEN + 1];      /* base64url of the thumbprint */
};

/* Reads the JWK object obj (a "jwk" header member) into *out: kty EC with
 * crv P-256 and 32-byte x and y, kty RSA with n and e, or kty OKP with crv
 * Ed25519 and a 32-byte x; members other than the required ones are
 * ignored (alg, use, kid, key_ops, ext) unless they are private-key
 * members, which are refused. base64url strictly as lib/b64url decodes
 * it. Returns JWK_OK with *out owned by the caller (jwk_clear), or
 * JWK_EKEY / JWK_ENOMEM with *out holding nothing to free. */
int jwk_parse(json_object *obj, struct jwk *out);

/* jwk_parse of the len bytes of JSON text at text (at most JWK_TEXT_MAX):
 * a stored key's canonical text. */
int jwk_parse_text(const char *text, size_t len, struct jwk *out);

/* Frees the key; *k may be all zero or already cleared. */
void jwk_clear(struct jwk *k);

/* What jws_verify checks. */
struct jws_verify_opts {
	const char *typ;        /* required typ, e.g. "dpop+jwt", compared
				 * case-insensitively, with or without an
				 * "application/" prefix (RFC 7515 section
				 * 4.1.9); NULL: typ is not checked (no
				 * route passes NULL: for tests and tools) */
	unsigned algs;          /* offered algorithms: a set of enum jws_alg */
	/* NULL: the header must carry the key as "jwk" (a DPoP proof, a
	 * DBSC registration), and the signature is checked with it. Not
	 * NULL: the stored key of a bound session (a DBSC refresh); the
	 * header's alg must be that key's, and a header "jwk", if any, must
	 * have the same thumbprint. */
	const struct jwk *key;
};

/* A verified proof. */
struct jws_proof {
	enum jws_alg alg;
	struct jwk key;         /* the header's key (key NULL in the opts),
				 * else a copy of the given one's canonical
				 * text, thumbprint and jkt with pkey NULL */
	json_object *payload;   /* owned: the claims, one JSON object */
};

/* Verifies the compact JWS of len bytes at compact (no NUL needed):
 * three base64url parts, header and payload each one JSON object
 * (json_parse_object: strict, no duplicate members; in the header none
 * at any depth either, the jwk's members included), header alg one of
 * opts->algs, typ opts->typ, no crit, the key as opts->key says, and the
 * signature (ES256: exactly 64 bytes r||s, converted to DER for OpenSSL;
 * RS256 and EdDSA as RFC 7518 / RFC 8037 say). Claims are not read: the
 * caller checks them in out->payload. Returns JWK_OK with *out owned by
 * the caller (jws_proof_clear), or a negative enum jwk_err with *out
 * holding nothing to free. */
int jws_verify(const char *compact, size_t len,
    const struct jws_verify_opts *opts, struct jws_proof *out);

/* Frees the proof's key and payload; *p may be all zero. */
void jws_proof_clear(struct jws_proof *p);

/* Checks an already split signature: the n bytes of signing input (the
 * "header.payload" text) against the sig_len bytes of signature under key
 * with alg. Returns JWK_OK, JWK_EALG (alg is not key->alg) or
 * JWK_ESIGNATURE. Exposed for the RFC 7515 appendix A.2 / A.3 vectors,
 * whose headers carry no typ. */
int jws_verify_signature(const struct jwk *key, enum jws_alg alg,
    const char *input, size_t n, const unsigned char *sig, size_t sig_len);

/* The RFC 7518 name of alg ("ES256", "RS256", "EdDSA"), or NULL. */
const char *jws_alg_name(enum jws_alg alg);

/* A short English description of err for an error_description: it never
 * quotes any part of the proof. */
const char *jwk_strerror(int err);

#endif
