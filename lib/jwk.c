/* jwk.c: clients' public keys (RFC 7517, RFC 7518 section 6, RFC 8037)
 * into OpenSSL 3 EVP_PKEYs, their RFC 7638 thumbprints, and the compact
 * JWS (RFC 7515) signed with them. Every length is checked before any
 * buffer is filled; the buffers are on the stack and bounded by the
 * limits of jwk.h. */
#include "jwk.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "b64url.h"
#include "crypto.h"
#include "json.h"

#define EC_COORD_LEN 32                         /* P-256 */
#define ED25519_LEN 32
#define RSA_N_MAX (JWK_RSA_MAX_BITS / 8)        /* 512 bytes */
#define RSA_E_MAX 8                             /* bytes of the exponent */
#define SIG_MAX RSA_N_MAX                       /* the largest signature */
/* Characters of n bytes in base64url, a constant expression. */
#define B64_LEN(n) (((n) * 4 + 2) / 3)

/* Members that only a private (or symmetric) key has. */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

/* The string member name of obj, decoded strictly into out (capacity
 * outsz) with its length in *outlen. The encoded text is checked against
 * the capacity before decoding. Returns 0, or -1 when it is missing, not
 * a string, or not base64url of at most outsz bytes. */
static int
member_b64(json_object *obj, const char *name, unsigned char *out,
    size_t outsz, size_t *outlen)
{
	json_object *v;
	const char *s;
	size_t n;

	if (!json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > b64url_encoded_len(outsz))
		return -1;
	return b64url_decode(s, n, out, outsz, outlen);
}

/* 1 when obj's string member name is exactly want. */
static int
member_is(json_object *obj, const char *name, const char *want)
{
	json_object *v;

	return json_object_object_get_ex(obj, name, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), want) == 0 &&
	    (size_t)json_object_get_string_len(v) == strlen(want);
}

/* Appends ",\"name\":\"<b64url of the n bytes at b>\"" (without the
 * leading comma when first) to the canonical text. Returns 0, or -1 when
 * it does not fit JWK_TEXT_MAX. */
static int
canon_b64(struct jwk *k, const char *name, const unsigned char *b,
    size_t n, int first)
{
	char enc[B64_LEN(RSA_N_MAX) + 1];
	int w;

	if (b64url_encode(b, n, enc, sizeof enc) < 0)
		return -1;
	w = snprintf(k->canonical + k->canonical_len,
	    sizeof k->canonical - k->canonical_len, "%s\"%s\":\"%s\"",
	    first ? "" : ",", name, enc);
	if (w < 0 || (size_t)w >= sizeof k->canonical - k->canonical_len)
		return -1;
	k->canonical_len += (size_t)w;
	return 0;
}

/* Appends the literal text s. Returns 0, or -1 when it does not fit. */
static int
canon_lit(struct jwk *k, const char *s)
{
	size_t n = strlen(s);

	if (n >= sizeof k->canonical - k->canonical_len)
		return -1;
	memcpy(k->canonical + k->canonical_len, s, n + 1);
	k->canonical_len += n;
	return 0;
}

/* A public key from the params built in bld, of OpenSSL type name.
 * Importing an EC point checks that it is on the curve (EC_POINT_oct2point;
 * an uncompressed point cannot be the point at infinity, and P-256 has
 * cofactor 1, so nothing else is left to check). EVP_PKEY_public_check is
 * not run: on RSA keys it runs a Miller-Rabin test on the modulus, about
 * 60 ms for 4096 bits, which an unauthenticated proof must not be able to
 * buy (a modulus that is no product of two primes only verifies what its
 * owner signed), and on EC keys it adds a multiplication by the order
 * that P-256 does not need. Returns JWK_OK with *out, JWK_EKEY or
 * JWK_ENOMEM. */
static int
pkey_from(OSSL_PARAM_BLD *bld, const char *name, EVP_PKEY **out)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = JWK_ENOMEM;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL)) == NULL)
		goto out;
	rc = JWK_EKEY;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*out = pkey;
	rc = JWK_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

static int
parse_ec(json_object *obj, struct jwk *k)
{
	unsigned char x[EC_COORD_LEN], y[EC_COORD_LEN];
	unsigned char point[1 + 2 * EC_COORD_LEN];
	OSSL_PARAM_BLD *bld;
	size_t xl, yl;
	int rc;

	if (!member_is(obj, "crv", "P-256") ||
	    member_b64(obj, "x", x, sizeof x, &xl) != 0 ||
	    member_b64(obj, "y", y, sizeof y, &yl) != 0 ||
	    xl != EC_COORD_LEN || yl != EC_COORD_LEN)
		return JWK_EKEY;
	point[0] = 0x04;        /* SEC 1 uncompressed */
	memcpy(point + 1, x, EC_COORD_LEN);
	memcpy(point + 1 + EC_COORD_LEN, y, EC_COORD_LEN);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return JWK_ENOMEM;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "P-256", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    point, sizeof point) != 1)
		rc = JWK_ENOMEM;
	else
		rc = pkey_from(bld, "EC", &k->pkey);
	OSSL_PARAM_BLD_free(bld);
	if (rc != JWK_OK)
		return rc;
	k->alg = JWS_ES256;
	if (canon_lit(k, "{\"crv\":\"P-256\",\"kty\":\"EC\"") != 0 ||
	    canon_b64(k, "x", x, EC_COORD_LEN, 0) != 0 ||
	    canon_b64(k, "y", y, EC_COORD_LEN, 0) != 0 || canon_lit(k, "}"))
		return JWK_EKEY;
	return JWK_OK;
}

/* The number of significant bits of the n bytes at b (b[0] != 0). */
static size_t
bit_length(const unsigned char *b, size_t n)
{
	size_t bits = n * 8;

	for (unsigned char c = b[0]; (c & 0x80) == 0; c <<= 1)
		bits--;
	return bits;
}

static int
parse_rsa(json_object *obj, struct jwk *k)
{
	unsigned char n[RSA_N_MAX], e[RSA_E_MAX];
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	size_t nl, el, bits;
	int rc = JWK_ENOMEM;

	/* Minimal big-endian integers (RFC 7518 section 6.3.1: no leading
	 * zero), so that one key has one canonical text and thumbprint. */
	if (member_b64(obj, "n", n, sizeof n, &nl) != 0 || nl == 0 ||
	    n[0] == 0 ||
	    member_b64(obj, "e", e, sizeof e, &el) != 0 || el == 0 ||
	    e[0] == 0)
		return JWK_EKEY;
	bits = bit_length(n, nl);
	if (bits < JWK_RSA_MIN_BITS || bits > JWK_RSA_MAX_BITS ||
	    (n[nl - 1] & 1) == 0)
		return JWK_EKEY;
	/* An odd exponent of at least 3 (OpenSSL's check takes e = 1). */
	if ((e[el - 1] & 1) == 0 || (el == 1 && e[0] < 3))
		return JWK_EKEY;
	if ((bn = BN_bin2bn(n, (int)nl, NULL)) == NULL ||
	    (be = BN_bin2bn(e, (int)el, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1)
		goto out;
	if ((rc = pkey_from(bld, "RSA", &k->pkey)) != JWK_OK)
		goto out;
	k->alg = JWS_RS256;
	if (canon_lit(k, "{") != 0 || canon_b64(k, "e", e, el, 1) != 0 ||
	    canon_lit(k, ",\"kty\":\"RSA\"") != 0 ||
	    canon_b64(k, "n", n, nl, 0) != 0 || canon_lit(k, "}") != 0)
		rc = JWK_EKEY;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return rc;
}

static int
parse_okp(json_object *obj, struct jwk *k)
{
	unsigned char x[ED25519_LEN];
	size_t xl;

	if (!member_is(obj, "crv", "Ed25519") ||
	    member_b64(obj, "x", x, sizeof x, &xl) != 0 || xl != ED25519_LEN)
		return JWK_EKEY;
	k->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x,
	    sizeof x);
	if (k->pkey == NULL)
		return JWK_EKEY;
	k->alg = JWS_EDDSA;
	if (canon_lit(k, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\"") != 0 ||
	    canon_b64(k, "x", x, sizeof x, 0) != 0 || canon_lit(k, "}") != 0)
		return JWK_EKEY;
	return JWK_OK;
}

int
jwk_parse(json_object *obj, struct jwk *out)
{
	int rc;

	memset(out, 0, sizeof *out);
	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return JWK_EKEY;
	for (size_t i = 0; i < sizeof private_members /
	    sizeof private_members[0]; i++)
		if (json_object_object_get_ex(obj, private_members[i], NULL))
			return JWK_EKEY;
	if (member_is(obj, "kty", "EC"))
		rc = parse_ec(obj, out);
	else if (member_is(obj, "kty", "RSA"))
		rc = parse_rsa(obj, out);
	else if (member_is(obj, "kty", "OKP"))
		rc = parse_okp(obj, out);
	else
		rc = JWK_EKEY;
	if (rc == JWK_OK && (crypto_sha256(out->canonical, out->canonical_len,
	    out->thumbprint) != 0 ||
	    b64url_encode(out->thumbprint, sizeof out->thumbprint, out->jkt,
	    sizeof out->jkt) != JWK_JKT_LEN))
		rc = JWK_ENOMEM;
	if (rc != JWK_OK)
		jwk_clear(out);
	return rc;
}

int
jwk_parse_text(const char *text, size_t len, struct jwk *out)
{
	json_object *obj = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	if (text == NULL || len > JWK_TEXT_MAX)
		return JWK_EKEY;
	if ((rc = json_parse_object(text, len, &obj)) != JSON_OK)
		return rc == JSON_ENOMEM ? JWK_ENOMEM : JWK_EKEY;
	rc = jwk_parse(obj, out);
	json_object_put(obj);
	return rc;
}

void
jwk_clear(struct jwk *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof *k);
}

const char *
jws_alg_name(enum jws_alg alg)
{
	switch (alg) {
	case JWS_ES256:
		return "ES256";
	case JWS_RS256:
		return "RS256";
	case JWS_EDDSA:
		return "EdDSA";
	}
	return NULL;
}

/* The algorithm named by the len bytes at s, or 0. Exact case: RFC 7518
 * names are case-sensitive. */
static enum jws_alg
alg_by_name(const char *s, size_t len)
{
	static const enum jws_alg all[] = { JWS_ES256, JWS_RS256, JWS_EDDSA };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		const char *name = jws_alg_name(all[i]);

		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return all[i];
	}
	return 0;
}

/* The DER ECDSA-Sig-Value of a 64-byte r||s into der (capacity dersz).
 * Returns its length, or 0 when r or s is zero or it does not fit (r or
 * s at or above the group order are refused by the verification). */
static size_t
es256_der(const unsigned char *sig, unsigned char *der, size_t dersz)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = der;
	size_t n = 0;
	int len;

	if ((r = BN_bin2bn(sig, EC_COORD_LEN, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + EC_COORD_LEN, EC_COORD_LEN, NULL)) == NULL ||
	    BN_is_zero(r) || BN_is_zero(s) || (es = ECDSA_SIG_new()) == NULL)
		goto out;
	if (ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL;   /* owned by es now */
	len = i2d_ECDSA_SIG(es, NULL);
	if (len <= 0 || (size_t)len > dersz)
		goto out;
	if (i2d_ECDSA_SIG(es, &p) == len)
		n = (size_t)len;
out:
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	return n;
}

int
jws_verify_signature(const struct jwk *key, enum jws_alg alg,
    const char *input, size_t n, const unsigned char *sig, size_t sig_len)
{
	unsigned char der[80];  /* 2 x (2 + 33) + 3 at most for P-256 */
	const unsigned char *s = sig;
	const char *md = "SHA256";
	EVP_MD_CTX *ctx;
	size_t slen = sig_len;
	int ok;

	if (key == NULL || key->pkey == NULL || alg != key->alg)
		return JWK_EALG;
	switch (alg) {
	case JWS_ES256:
		if (sig_len != 2 * EC_COORD_LEN ||
		    (slen = es256_der(sig, der, sizeof der)) == 0)
			return JWK_ESIGNATURE;
		s = der;
		break;
	case JWS_RS256:
		if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey))
			return JWK_ESIGNATURE;
		break;
	case JWS_EDDSA:
		if (sig_len != 64)
			return JWK_ESIGNATURE;
		md = NULL;      /* Ed25519 hashes inside: one-shot only */
		break;
	default:
		return JWK_EALG;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return JWK_ENOMEM;
	ok = EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, key->pkey,
	    NULL) == 1 &&
	    EVP_DigestVerify(ctx, s, slen, (const unsigned char *)input,
	    n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? JWK_OK : JWK_ESIGNATURE;
}

/* The number of ':' outside strings in the n bytes of JSON text at s:
 * one per object member at any depth (s is JSON json-c accepted). */
static size_t
count_members_text(const char *s, size_t n)
{
	size_t colons = 0;
	int in_string = 0;

	for (size_t i = 0; i < n; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = 0;
		} else if (s[i] == '"') {
			in_string = 1;
		} else if (s[i] == ':') {
			colons++;
		}
	}
	return colons;
}

/* The number of object members in v at any depth. */
static size_t
count_members_tree(json_object *v)
{
	size_t n = 0;

	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val) {
			(void)key;
			n += 1 + count_members_tree(val);
		}
	} else if (json_object_is_type(v, json_type_array)) {
		size_t len = json_object_array_length(v);

		for (size_t i = 0; i < len; i++)
			n += count_members_tree(json_object_array_get_idx(v,
			    i));
	}
	return n;
}

/* Decodes the base64url part of n characters at s (into buf, capacity
 * bufsz) and parses it as one JSON object. deep: refuse a duplicate
 * member at any depth (json_parse_object looks at the top level only;
 * json-c keeps the last of a nested duplicate, as in the header's jwk).
 * Returns JWK_OK with *out, JWK_EMALFORMED or JWK_ENOMEM. */
static int
part_object(const char *s, size_t n, unsigned char *buf, size_t bufsz,
    int deep, json_object **out)
{
	json_object *obj = NULL;
	size_t len;
	int rc;

	if (n == 0 || b64url_decode(s, n, buf, bufsz, &len) != 0)
		return JWK_EMALFORMED;
	if ((rc = json_parse_object((const char *)buf, len, &obj)) != JSON_OK)
		return rc == JSON_ENOMEM ? JWK_ENOMEM : JWK_EMALFORMED;
	if (deep && count_members_text((const char *)buf, len) !=
	    count_members_tree(obj)) {
		json_object_put(obj);
		return JWK_EMALFORMED;
	}
	*out = obj;
	return JWK_OK;
}

/* 1 when the typ value (len bytes at s) is want, case-insensitively,
 * with or without the "application/" prefix (RFC 7515 section 4.1.9). */
static int
typ_matches(const char *s, size_t len, const char *want)
{
	static const char prefix[] = "application/";
	size_t wl = strlen(want), pl = sizeof prefix - 1;

	if (len == pl + wl && strncasecmp(s, prefix, pl) == 0) {
		s += pl;
		len -= pl;
	}
	return len == wl && strncasecmp(s, want, wl) == 0 &&
	    memchr(s, '\0', len) == NULL;
}

/* The header checks: alg, typ, crit and the key. On success *alg is the
 * header's algorithm and *key the key to verify with: the header's
 * (parsed into hkey, which the caller clears) or opts->key. */
static int
check_header(json_object *h, const struct jws_verify_opts *opts,
    enum jws_alg *alg, struct jwk *hkey, const struct jwk **key)
{
	json_object *v;
	int rc;

	if (!json_object_object_get_ex(h, "alg", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (*alg = alg_by_name(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v))) == 0 ||
	    (opts->algs & (unsigned)*alg) == 0)
		return JWK_EALG;
	if (opts->typ != NULL && (!json_object_object_get_ex(h, "typ", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !typ_matches(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), opts->typ)))
		return JWK_ETYP;
	if (json_object_object_get_ex(h, "crit", NULL))
		return JWK_ECRIT;
	if (json_object_object_get_ex(h, "jwk", &v)) {
		if ((rc = jwk_parse(v, hkey)) != JWK_OK)
			return rc;
		if (opts->key != NULL && memcmp(hkey->thumbprint,
		    opts->key->thumbprint, JWK_THUMBPRINT_LEN) != 0)
			return JWK_EKEY;
	} else if (opts->key == NULL) {
		return JWK_EKEY;
	}
	*key = opts->key != NULL ? opts->key : hkey;
	if ((*key)->alg != *alg)
		return JWK_EALG;
	return JWK_OK;
}

int
jws_verify(const char *compact, size_t len,
    const struct jws_verify_opts *opts, struct jws_proof *out)
{
	unsigned char buf[JWS_MAX_LEN], sig[SIG_MAX];
	json_object *header = NULL, *payload = NULL;
	const struct jwk *key = NULL;
	const char *dot1, *dot2;
	struct jwk hkey;
	enum jws_alg alg = 0;
	size_t hl, pl, sl, siglen;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&hkey, 0, sizeof hkey);
	if (compact == NULL || opts == NULL)
		return JWK_EMALFORMED;
	if (len > JWS_MAX_LEN)
		return JWK_ETOOLONG;
	if ((dot1 = memchr(compact, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 -
	    compact))) == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - compact)) != NULL)
		return JWK_EMALFORMED;
	hl = (size_t)(dot1 - compact);
	pl = (size_t)(dot2 - dot1 - 1);
	sl = len - (size_t)(dot2 + 1 - compact);
	if ((rc = part_object(compact, hl, buf, sizeof buf, 1,
	    &header)) != JWK_OK)
		goto out;
	if ((rc = check_header(header, opts, &alg, &hkey, &key)) != JWK_OK)
		goto out;
	rc = JWK_ESIGNATURE;
	if (sl == 0 || sl > b64url_encoded_len(sizeof sig) ||
	    b64url_decode(dot2 + 1, sl, sig, sizeof sig, &siglen) != 0)
		goto out;
	if ((rc = jws_verify_signature(key, alg, compact, hl + 1 + pl, sig,
	    siglen)) != JWK_OK)
		goto out;
	if ((rc = part_object(dot1 + 1, pl, buf, sizeof buf, 0,
	    &payload)) != JWK_OK)
		goto out;
	out->alg = alg;
	out->payload = payload;
	payload = NULL;
	if (opts->key != NULL) {
		memcpy(out->key.canonical, key->canonical,
		    sizeof out->key.canonical);
		out->key.canonical_len = key->canonical_len;
		memcpy(out->key.thumbprint, key->thumbprint,
		    sizeof out->key.thumbprint);
		memcpy(out->key.jkt, key->jkt, sizeof out->key.jkt);
		out->key.alg = key->alg;
		jwk_clear(&hkey);
	} else {
		out->key = hkey;        /* moved: its pkey is the proof's now */
		memset(&hkey, 0, sizeof hkey);
	}
out:
	jwk_clear(&hkey);
	json_object_put(header);
	json_object_put(payload);
	return rc;
}

void
jws_proof_clear(struct jws_proof *p)
{
	if (p == NULL)
		return;
	jwk_clear(&p->key);
	json_object_put(p->payload);
	memset(p, 0, sizeof *p);
}

const char *
jwk_strerror(int err)
{
	switch (err) {
	case JWK_OK:
		return "valid";
	case JWK_EMALFORMED:
		return "the proof is not a compact JWS of two JSON objects";
	case JWK_ETOOLONG:
		return "the proof is too long";
	case JWK_EALG:
		return "the proof's alg is not accepted or not the key's";
	case JWK_ETYP:
		return "the proof's typ is missing or not the one required";
	case JWK_EKEY:
		return "the proof's key is missing, invalid or not the one "
		    "bound";
	case JWK_ECRIT:
		return "the proof has a crit header";
	case JWK_ESIGNATURE:
		return "the proof's signature is not valid";
	case JWK_ENOMEM:
		return "out of memory";
	}
	return "invalid proof";
}
