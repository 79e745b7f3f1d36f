/* jwt.c: HS256 JSON Web Tokens (RFC 7515, RFC 7519) as API.md ("Tokens")
 * fixes them, with the RFC 8725 habits: the algorithm and the type are
 * pinned, never taken from the token. */
#include "jwt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "crypto.h"
#include "json.h"

#define HS256_LEN 32                    /* bytes of an HMAC-SHA-256 */
#define HS256_B64_LEN 43                /* its base64url characters */
#define NUMERIC_MAX ((INT64_C(1) << 53) - 1) /* largest exact JS integer */
#define APP_PREFIX "application/"
#define APP_PREFIX_LEN (sizeof(APP_PREFIX) - 1)
/* Decoded size of the longest part of a token of JWT_MAX_LEN, plus NUL. */
#define PART_MAX (JWT_MAX_LEN / 4 * 3 + 3)

static const char *
typ_of(enum jwt_kind kind)
{
	switch (kind) {
	case JWT_ACCESS:
		return "at+jwt";
	case JWT_REFRESH:
		return "refresh+jwt";
	}
	return NULL;
}

/* Lower-cases an ASCII letter; leaves every other byte alone (no locale). */
static unsigned char
ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* 1 when the n bytes at a and b are equal ignoring ASCII case. */
static int
ascii_case_eq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_lower((unsigned char)a[i]) !=
		    ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* 1 when the typ header value (n bytes) names kind: compared ignoring case,
 * with an optional "application/" prefix (RFC 7515 section 4.1.9). */
static int
typ_matches(const char *typ, size_t n, enum jwt_kind kind)
{
	const char *want = typ_of(kind);
	size_t wantlen;

	if (want == NULL)
		return 0;
	wantlen = strlen(want);
	if (n >= APP_PREFIX_LEN && ascii_case_eq(typ, APP_PREFIX,
	    APP_PREFIX_LEN)) {
		typ += APP_PREFIX_LEN;
		n -= APP_PREFIX_LEN;
	}
	return n == wantlen && ascii_case_eq(typ, want, wantlen);
}

/* The signature of n bytes at input under mac, base64url-encoded into out
 * (44 bytes: 43 characters and a NUL). Returns 0 or -1. */
static int
sign_b64(const struct crypto_mac *mac, const char *input, size_t n,
    char out[HS256_B64_LEN + 1])
{
	unsigned char md[HS256_LEN];
	int rc = -1;

	if (crypto_mac_sha256(mac, input, n, md) != 0)
		goto fail;
	if (b64url_encode(md, sizeof(md), out, HS256_B64_LEN + 1) !=
	    HS256_B64_LEN)
		goto fail;
	rc = 0;
fail:
	OPENSSL_cleanse(md, sizeof(md));
	return rc;
}

int
jwt_hs256_b64(const unsigned char *key, size_t keylen, const char *input,
    size_t n, char out[44])
{
	struct crypto_mac *mac;
	int rc;

	if (out == NULL || (key == NULL && keylen > 0) ||
	    (input == NULL && n > 0) || crypto_mac_new(key, keylen, &mac) != 0)
		return -1;
	rc = sign_b64(mac, input, n, out);
	crypto_mac_free(mac);
	return rc;
}

/* Parses the len bytes at buf as one JSON object with lib/json's strict
 * parser, the one request bodies go through (RFC 8259 tokens, valid
 * UTF-8, no duplicate member, at most JSON_MAX_DEPTH deep). Returns JWT_OK
 * and sets *obj (the caller puts it), JWT_ENOMEM, or JWT_EMALFORMED for
 * anything else. */
static int
parse_part(const unsigned char *buf, size_t len, json_object **obj)
{
	switch (json_parse_object((const char *)buf, len, obj)) {
	case JSON_OK:
		return JWT_OK;
	case JSON_ENOMEM:
		return JWT_ENOMEM;
	default:
		return JWT_EMALFORMED;
	}
}

/* Looks up a string member. Returns 1 and sets *s and *n when key holds a
 * string without NUL bytes; 0 when key is absent; -1 when it holds anything
 * else. *s is borrowed from obj. */
static int
get_str(json_object *obj, const char *key, const char **s, size_t *n)
{
	json_object *v;
	const char *str;
	int len;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	str = json_object_get_string(v);
	len = json_object_get_string_len(v);
	if (str == NULL || len < 0 || strlen(str) != (size_t)len)
		return -1;
	*s = str;
	*n = (size_t)len;
	return 1;
}

/* Looks up a NumericDate member. Returns 1 and sets *v when key holds a JSON
 * integer in 0..2^53-1 (what every JWT library represents exactly); 0 when
 * absent; -1 for anything else (a double, a string, out of range). */
static int
get_num(json_object *obj, const char *key, int64_t *v)
{
	json_object *o;
	int64_t x;

	if (!json_object_object_get_ex(obj, key, &o))
		return 0;
	if (!json_object_is_type(o, json_type_int))
		return -1;
	/* json-c clamps out-of-range integers to INT64_MIN/MAX: both fail. */
	x = json_object_get_int64(o);
	if (x < 0 || x > NUMERIC_MAX)
		return -1;
	*v = x;
	return 1;
}

/* 1 when the string s (n bytes) equals the NUL-terminated want. */
static int
str_eq(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(s, want, n) == 0;
}

/* 1 when aud is the string want or an array of strings holding it. */
static int
aud_contains(json_object *claims, const char *want)
{
	json_object *aud, *el;
	const char *s;
	size_t i, n, count;
	int len;

	if (!json_object_object_get_ex(claims, "aud", &aud))
		return 0;
	if (json_object_is_type(aud, json_type_string)) {
		s = json_object_get_string(aud);
		len = json_object_get_string_len(aud);
		return s != NULL && len >= 0 && strlen(s) == (size_t)len &&
		    str_eq(s, (size_t)len, want);
	}
	if (!json_object_is_type(aud, json_type_array))
		return 0;
	count = json_object_array_length(aud);
	for (i = 0; i < count; i++) {
		el = json_object_array_get_idx(aud, i);
		if (!json_object_is_type(el, json_type_string))
			return 0;
		s = json_object_get_string(el);
		len = json_object_get_string_len(el);
		if (s == NULL || len < 0 || strlen(s) != (size_t)len)
			return 0;
		n = (size_t)len;
		if (str_eq(s, n, want))
			return 1;
	}
	return 0;
}

/* Checks an optional short string claim (sid, jti) and copies it into dst
 * (JWT_CLAIM_MAX + 1 bytes), empty when absent. Returns 0 or -1. */
static int
copy_opt_claim(json_object *claims, const char *key, char *dst)
{
	const char *s;
	size_t n;
	int r;

	dst[0] = '\0';
	r = get_str(claims, key, &s, &n);
	if (r < 0 || (r == 1 && n > JWT_CLAIM_MAX))
		return -1;
	if (r == 1) {
		memcpy(dst, s, n);
		dst[n] = '\0';
	}
	return 0;
}

/* 1 when the NumericDate v lies more than JWT_FUTURE_SKEW seconds after
 * now; computed without signed overflow. */
static int
too_far_ahead(int64_t v, int64_t now)
{
	return v > now && (uint64_t)v - (uint64_t)now > JWT_FUTURE_SKEW;
}

/* The header as jwt_sign writes it, byte for byte:
 * {"alg":"HS256","typ":"<typ of kind>","kid":"<kid>"}. Every token latch
 * issued has it, and such a header says all the JSON checks below would
 * find (alg HS256, the right typ, no crit, a kid), so it is taken without
 * a JSON parse, the largest part of checking a Bearer token after the
 * database (perf of GET /api/profile). A kid holds no character JSON
 * escapes (key_kid_valid). Returns 1 with the kid at *kid (*kidlen
 * bytes, inside h); 0 for a header of any other form, which is then
 * parsed and checked as JSON like any other. */
static int
issued_header(const unsigned char *h, size_t n, enum jwt_kind kind,
    const char **kid, size_t *kidlen)
{
	static const char alg_typ[] = "{\"alg\":\"HS256\",\"typ\":\"";
	static const char then_kid[] = "\",\"kid\":\"";
	const char *p = (const char *)h, *end = p + n, *typ = typ_of(kind),
	    *close;
	size_t tlen;

	if (typ == NULL)
		return 0;
	tlen = strlen(typ);
	if ((size_t)(end - p) < sizeof alg_typ - 1 + tlen + sizeof then_kid -
	    1 + 2 || memcmp(p, alg_typ, sizeof alg_typ - 1) != 0)
		return 0;
	p += sizeof alg_typ - 1;
	if (memcmp(p, typ, tlen) != 0)
		return 0;
	p += tlen;
	if (memcmp(p, then_kid, sizeof then_kid - 1) != 0)
		return 0;
	p += sizeof then_kid - 1;
	/* The kid runs to the closing quote, which must end the object. */
	close = end - 2;
	if (close < p || close[0] != '"' || close[1] != '}' ||
	    !key_kid_valid(p, (size_t)(close - p)))
		return 0;
	*kid = p;
	*kidlen = (size_t)(close - p);
	return 1;
}

int
jwt_verify(const char *token, size_t len, const struct jwt_verify_opts *opts,
    struct jwt_claims *out)
{
	unsigned char hbuf[PART_MAX], pbuf[PART_MAX], sig[PART_MAX];
	unsigned char md[HS256_LEN];
	json_object *header = NULL, *claims = NULL;
	const char *dot1, *dot2, *s;
	size_t hlen, plen, slen, n;
	const struct key *key;
	struct jwt_claims c;
	int64_t v;
	int r, rc, issued;

	memset(&c, 0, sizeof(c));

	/* Length first: longer tokens are not read at all. */
	if (len > JWT_MAX_LEN)
		return JWT_ETOOLONG;
	if (token == NULL || opts == NULL || out == NULL)
		return JWT_EMALFORMED;

	/* Structure: exactly three base64url parts. */
	rc = JWT_EMALFORMED;
	if ((dot1 = memchr(token, '.', len)) == NULL)
		goto fail;
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL)
		goto fail;
	if (memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		goto fail;
	if (b64url_decode(token, (size_t)(dot1 - token), hbuf,
	    sizeof(hbuf) - 1, &hlen) < 0)
		goto fail;
	if (b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), pbuf,
	    sizeof(pbuf) - 1, &plen) < 0)
		goto fail;
	if (b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig,
	    sizeof(sig), &slen) < 0)
		goto fail;
	/* The checks keep their order (a malformed part before a wrong
	 * alg, typ, crit or kid) whichever way the header is read. */
	issued = issued_header(hbuf, hlen, opts->kind, &s, &n);
	if (!issued && (rc = parse_part(hbuf, hlen, &header)) != JWT_OK)
		goto fail;
	if ((rc = parse_part(pbuf, plen, &claims)) != JWT_OK)
		goto fail;

	if (!issued) {
		/* alg: exactly "HS256", whatever the token would like. */
		rc = JWT_EALG;
		if (get_str(header, "alg", &s, &n) != 1 ||
		    !str_eq(s, n, "HS256"))
			goto fail;

		rc = JWT_ETYP;
		if (get_str(header, "typ", &s, &n) != 1 ||
		    !typ_matches(s, n, opts->kind))
			goto fail;

		/* No extension is understood, so any crit is one we do not
		 * know. */
		rc = JWT_ECRIT;
		if (json_object_object_get_ex(header, "crit", NULL))
			goto fail;

		rc = JWT_EKID;
		if (get_str(header, "kid", &s, &n) != 1)
			goto fail;
	}
	rc = JWT_EKID;
	if ((key = keyset_find(opts->keys, s, n)) == NULL)
		goto fail;
	memcpy(c.kid, s, n);    /* keyset_find bounds n by KEY_KID_MAX */
	c.kid[n] = '\0';

	/* Signature over the first two parts, exactly as sent. */
	rc = JWT_ESIGNATURE;
	if (slen != HS256_LEN)
		goto fail;
	if (crypto_mac_sha256(key->mac, token, (size_t)(dot2 - token),
	    md) != 0) {
		rc = JWT_ENOMEM;
		goto fail;
	}
	if (CRYPTO_memcmp(md, sig, HS256_LEN) != 0)
		goto fail;

	/* Claims: exp, nbf/iat, sub/sid/jti, iss, aud. */
	rc = JWT_ECLAIMS;
	if (get_num(claims, "exp", &c.exp) != 1)
		goto fail;
	if (c.exp <= opts->now && !opts->allow_expired) {
		rc = JWT_EEXPIRED;
		goto fail;
	}
	if ((r = get_num(claims, "nbf", &v)) < 0)
		goto fail;
	if (r == 1 && too_far_ahead(v, opts->now)) {
		rc = JWT_ENOTYET;
		goto fail;
	}
	if ((r = get_num(claims, "iat", &c.iat)) < 0)
		goto fail;
	if (r == 1 && too_far_ahead(c.iat, opts->now)) {
		rc = JWT_ENOTYET;
		goto fail;
	}

	if (get_str(claims, "sub", &s, &n) != 1 || n == 0 || n > JWT_CLAIM_MAX)
		goto fail;
	memcpy(c.sub, s, n);
	c.sub[n] = '\0';
	if (copy_opt_claim(claims, "sid", c.sid) < 0 ||
	    copy_opt_claim(claims, "jti", c.jti) < 0)
		goto fail;
	if (opts->require_sid && c.sid[0] == '\0')
		goto fail;

	rc = JWT_EISSUER;
	if (opts->issuer != NULL && (get_str(claims, "iss", &s, &n) != 1 ||
	    !str_eq(s, n, opts->issuer)))
		goto fail;

	rc = JWT_EAUDIENCE;
	if (opts->audience != NULL && !aud_contains(claims, opts->audience))
		goto fail;

	*out = c;
	rc = JWT_OK;
fail:
	json_object_put(header);
	json_object_put(claims);
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(&c, sizeof(c));
	return rc;
}

const char *
jwt_strerror(int err)
{
	switch (err) {
	case JWT_OK:
		return "token is valid";
	case JWT_EMALFORMED:
		return "token is malformed";
	case JWT_ETOOLONG:
		return "token is too long";
	case JWT_EALG:
		return "token algorithm is not accepted";
	case JWT_ETYP:
		return "token is of the wrong type";
	case JWT_EKID:
		return "token key id is missing or unknown";
	case JWT_ECRIT:
		return "token has a critical header that is not understood";
	case JWT_ESIGNATURE:
		return "token signature is invalid";
	case JWT_EEXPIRED:
		return "token expired";
	case JWT_ENOTYET:
		return "token is not valid yet";
	case JWT_ECLAIMS:
		return "token claims are missing or invalid";
	case JWT_EISSUER:
		return "token issuer is not accepted";
	case JWT_EAUDIENCE:
		return "token audience is not accepted";
	case JWT_ENOMEM:
		return "out of memory while checking the token";
	}
	return "token is invalid";
}

/* Adds key: string value to obj. Returns 0 or -1 (out of memory). */
static int
add_str(json_object *obj, const char *key, const char *val)
{
	json_object *v;

	if ((v = json_object_new_string(val)) == NULL)
		return -1;
	/* On failure json-c has not taken v: put it ourselves. */
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int
add_int(json_object *obj, const char *key, int64_t val)
{
	json_object *v;

	if ((v = json_object_new_int64(val)) == NULL)
		return -1;
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* 1 when s is NULL or at most JWT_CLAIM_MAX bytes. */
static int
opt_claim_ok(const char *s)
{
	return s == NULL || strlen(s) <= JWT_CLAIM_MAX;
}

int
jwt_sign(const struct jwt_sign_input *in, char **out)
{
	json_object *header = NULL, *claims = NULL, *back = NULL;
	const char *hjson, *cjson, *typ;
	size_t hjlen, cjlen, hlen, clen, total = 0, o;
	char *tok = NULL;
	char sigb64[HS256_B64_LEN + 1];
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	int rc;

	if (in == NULL || out == NULL)
		return JWT_ECLAIMS;
	if (in->key == NULL || in->key->secret == NULL ||
	    in->key->kid[0] == '\0')
		return JWT_EKID;
	if ((typ = typ_of(in->kind)) == NULL)
		return JWT_ETYP;
	/* Refuse what jwt_verify would refuse. */
	if (in->sub == NULL || in->sub[0] == '\0' ||
	    strlen(in->sub) > JWT_CLAIM_MAX || !opt_claim_ok(in->sid) ||
	    !opt_claim_ok(in->jti) || in->iat < 0 || in->iat > NUMERIC_MAX ||
	    in->exp < 0 || in->exp > NUMERIC_MAX)
		return JWT_ECLAIMS;

	rc = JWT_ENOMEM;
	if ((header = json_object_new_object()) == NULL ||
	    (claims = json_object_new_object()) == NULL)
		goto fail;
	if (add_str(header, "alg", "HS256") < 0 ||
	    add_str(header, "typ", typ) < 0 ||
	    add_str(header, "kid", in->key->kid) < 0)
		goto fail;
	if (add_str(claims, "sub", in->sub) < 0 ||
	    (in->sid != NULL && add_str(claims, "sid", in->sid) < 0) ||
	    (in->jti != NULL && add_str(claims, "jti", in->jti) < 0) ||
	    add_int(claims, "iat", in->iat) < 0 ||
	    add_int(claims, "exp", in->exp) < 0 ||
	    (in->issuer != NULL && add_str(claims, "iss", in->issuer) < 0) ||
	    (in->audience != NULL && add_str(claims, "aud", in->audience) < 0))
		goto fail;
	if ((hjson = json_object_to_json_string_length(header, flags,
	    &hjlen)) == NULL ||
	    (cjson = json_object_to_json_string_length(claims, flags,
	    &cjlen)) == NULL)
		goto fail;

	/* The token must be one that jwt_verify reads. */
	rc = JWT_ETOOLONG;
	hlen = b64url_encoded_len(hjlen);
	clen = b64url_encoded_len(cjlen);
	if (hjlen > JWT_MAX_LEN || cjlen > JWT_MAX_LEN)
		goto fail;
	total = hlen + 1 + clen + 1 + HS256_B64_LEN;
	if (total > JWT_MAX_LEN)
		goto fail;

	/* The claims must be JSON that jwt_verify reads: json-c writes a
	 * string's bytes as they are, and the parser refuses invalid UTF-8
	 * (a JWT_ISSUER of Latin-1 bytes would make every token
	 * unverifiable). The same parser, so the same rule. */
	if ((rc = json_parse_object(cjson, cjlen, &back)) != JSON_OK) {
		rc = rc == JSON_ENOMEM ? JWT_ENOMEM : JWT_ECLAIMS;
		goto fail;
	}
	json_object_put(back);
	back = NULL;

	rc = JWT_ENOMEM;
	if ((tok = malloc(total + 1)) == NULL)
		goto fail;
	o = 0;
	if (b64url_encode((const unsigned char *)hjson, hjlen, tok + o,
	    total + 1 - o) != (int)hlen)
		goto fail;
	o += hlen;
	tok[o++] = '.';
	if (b64url_encode((const unsigned char *)cjson, cjlen, tok + o,
	    total + 1 - o) != (int)clen)
		goto fail;
	o += clen;
	if (sign_b64(in->key->mac, tok, o, sigb64) < 0)
		goto fail;
	tok[o++] = '.';
	memcpy(tok + o, sigb64, HS256_B64_LEN);
	o += HS256_B64_LEN;
	tok[o] = '\0';

	*out = tok;
	tok = NULL;
	rc = JWT_OK;
fail:
	crypto_wipe_free(tok, total + 1);
	OPENSSL_cleanse(sigb64, sizeof(sigb64));
	json_object_put(header);
	json_object_put(claims);
	return rc;
}
