/* test_jwt.c: HS256 tokens (lib/jwt.c) against API.md "Tokens": one
 * rejection rule per test. Test tokens are assembled here from JSON text
 * and signed with jwt_hs256_b64, so that invalid ones can be crafted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64url.h"
#include "jwt.h"
#include "keys.h"

#define NOW INT64_C(1700000000)
#define SECRET1 "access-secret-one-0123456789abcdef"
#define SECRET2 "access-secret-two-0123456789abcdef"
#define SECRET_OTHER "some-other-secret-0123456789abcdef"

#define HDR_AT "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}"
#define HDR_RT "{\"alg\":\"HS256\",\"typ\":\"refresh+jwt\",\"kid\":\"k1\"}"
/* exp is NOW + 900, iat is NOW. */
#define PAYLOAD "{\"sub\":\"42\",\"sid\":\"s-1\",\"jti\":\"j-1\"," \
	"\"iat\":1700000000,\"exp\":1700000900}"

/* k1 signs, k2 (an older key) still verifies. */
static struct keyset keys;

static const struct jwt_verify_opts ACCESS = {
	.keys = &keys, .kind = JWT_ACCESS, .now = NOW,
};
static const struct jwt_verify_opts REFRESH = {
	.keys = &keys, .kind = JWT_REFRESH, .now = NOW,
};

static int
setup_keys(void **state)
{
	char err[256];

	(void)state;
	if (keyset_parse("k1:" SECRET1 ",k2:" SECRET2, &keys, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "keyset_parse: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown_keys(void **state)
{
	(void)state;
	keyset_free(&keys);
	return 0;
}

/* Returns a malloc'd "B64(h).B64(p)" with room for "." and a signature
 * after it. */
static char *
join(const char *h, size_t hn, const char *p, size_t pn)
{
	size_t hl = b64url_encoded_len(hn), pl = b64url_encoded_len(pn);
	size_t cap = hl + 1 + pl + 1 + 44 + 1;
	char *t = malloc(cap);

	assert_non_null(t);
	assert_int_equal(b64url_encode((const unsigned char *)h, hn, t, cap),
	    (int)hl);
	t[hl] = '.';
	assert_int_equal(b64url_encode((const unsigned char *)p, pn,
	    t + hl + 1, cap - hl - 1), (int)pl);
	return t;
}

/* The token of header h and payload p (hn, pn bytes) signed with secret. */
static char *
sign_n(const char *h, size_t hn, const char *p, size_t pn,
    const char *secret)
{
	char *t = join(h, hn, p, pn);
	size_t n = strlen(t);
	char sig[44];

	assert_int_equal(jwt_hs256_b64((const unsigned char *)secret,
	    strlen(secret), t, n, sig), 0);
	t[n] = '.';
	memcpy(t + n + 1, sig, 44);
	return t;
}

static char *
sign_with(const char *h, const char *p, const char *secret)
{
	return sign_n(h, strlen(h), p, strlen(p), secret);
}

/* "B64(h).B64(p)" followed by tail verbatim (for example "." or ".xyz"). */
static char *
with_tail(const char *h, const char *p, const char *tail)
{
	char *t = join(h, strlen(h), p, strlen(p));
	size_t n = strlen(t), tn = strlen(tail);
	char *r = realloc(t, n + tn + 1);

	assert_non_null(r);
	memcpy(r + n, tail, tn + 1);
	return r;
}

/* Verifies tok and frees it; returns the result. */
static int
verify_free(char *tok, const struct jwt_verify_opts *o,
    struct jwt_claims *c)
{
	struct jwt_claims scratch;
	int rc = jwt_verify(tok, strlen(tok), o, c ? c : &scratch);

	free(tok);
	return rc;
}

/* Header h and payload p, signed with SECRET1, checked with options o. */
static int
check_opts(const char *h, const char *p, const struct jwt_verify_opts *o)
{
	return verify_free(sign_with(h, p, SECRET1), o, NULL);
}

/* Same, as an access token. */
static int
check(const char *h, const char *p)
{
	return check_opts(h, p, &ACCESS);
}

/* An access-token payload with the standard claims and extra members
 * (text like ",\"nbf\":1" or empty), in a static buffer. */
static const char *
payload_plus(const char *extra)
{
	static char buf[8192];
	int w = snprintf(buf, sizeof(buf),
	    "{\"sub\":\"42\",\"sid\":\"s-1\",\"iat\":1700000000,"
	    "\"exp\":1700000900%s}", extra);

	assert_true(w > 0 && (size_t)w < sizeof(buf));
	return buf;
}

/* ---- RFC 7515 appendix A.1 ---- */

static void
test_hs256_matches_rfc7515_appendix_a1(void **state)
{
	static const char k[] = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"
	    "1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
	static const char input[] =
	    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
	    "."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
	static const char header[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
	unsigned char key[64], hdr[64];
	size_t keylen, hdrlen;
	char sig[44];

	(void)state;
	assert_int_equal(b64url_decode(k, strlen(k), key, sizeof(key),
	    &keylen), 0);
	assert_int_equal(keylen, 64);
	/* The first part really is the appendix's header bytes. */
	assert_int_equal(b64url_decode(input, 40, hdr, sizeof(hdr), &hdrlen),
	    0);
	assert_int_equal(hdrlen, strlen(header));
	assert_memory_equal(hdr, header, hdrlen);

	assert_int_equal(jwt_hs256_b64(key, keylen, input, strlen(input), sig),
	    0);
	assert_string_equal(sig, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
}

/* ---- signing ---- */

static void
test_signed_access_token_verifies_with_its_claims(void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_ACCESS, .key = keyset_signing_key(&keys),
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
	};
	struct jwt_claims c;
	char *tok = NULL;

	(void)state;
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_non_null(tok);
	assert_int_equal(jwt_verify(tok, strlen(tok), &ACCESS, &c), JWT_OK);
	assert_string_equal(c.kid, "k1");
	assert_string_equal(c.sub, "42");
	assert_string_equal(c.sid, "s-1");
	assert_string_equal(c.jti, "j-1");
	assert_int_equal(c.iat, NOW);
	assert_int_equal(c.exp, NOW + 900);
	free(tok);
}

static void
test_signed_refresh_token_verifies_with_its_claims(void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_REFRESH, .key = keyset_signing_key(&keys),
		.sub = "7", .sid = "6f1c7a52-3b2e-4e8a-9d0c-1a2b3c4d5e6f",
		.jti = "r-99", .iat = NOW - 10, .exp = NOW + 7 * 86400,
	};
	struct jwt_verify_opts o = REFRESH;
	struct jwt_claims c;
	char *tok = NULL;

	(void)state;
	o.require_sid = 1;
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_int_equal(jwt_verify(tok, strlen(tok), &o, &c), JWT_OK);
	assert_string_equal(c.sub, "7");
	assert_string_equal(c.sid, "6f1c7a52-3b2e-4e8a-9d0c-1a2b3c4d5e6f");
	assert_string_equal(c.jti, "r-99");
	assert_int_equal(c.iat, NOW - 10);
	assert_int_equal(c.exp, NOW + 7 * 86400);
	free(tok);
}

static void
test_signed_token_has_header_alg_typ_kid_in_order_and_plain_claims(
    void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_ACCESS, .key = keyset_signing_key(&keys),
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
		.issuer = "https://auth.example/", .audience = "api",
	};
	unsigned char part[512];
	const char *dot1, *dot2;
	size_t n;
	char *tok = NULL;

	(void)state;
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_null(strchr(tok, '='));
	dot1 = strchr(tok, '.');
	assert_non_null(dot1);
	dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	assert_null(strchr(dot2 + 1, '.'));
	assert_int_equal(strlen(dot2 + 1), 43);

	assert_int_equal(b64url_decode(tok, (size_t)(dot1 - tok), part,
	    sizeof(part) - 1, &n), 0);
	part[n] = '\0';
	assert_string_equal((char *)part,
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}");
	assert_int_equal(b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1),
	    part, sizeof(part) - 1, &n), 0);
	part[n] = '\0';
	assert_string_equal((char *)part,
	    "{\"sub\":\"42\",\"sid\":\"s-1\",\"jti\":\"j-1\","
	    "\"iat\":1700000000,\"exp\":1700000900,"
	    "\"iss\":\"https://auth.example/\",\"aud\":\"api\"}");
	free(tok);
}

static void
test_signed_refresh_token_header_has_refresh_typ(void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_REFRESH, .key = keyset_signing_key(&keys),
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
	};
	unsigned char part[256];
	size_t n;
	char *tok = NULL;

	(void)state;
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_int_equal(b64url_decode(tok, (size_t)(strchr(tok, '.') - tok),
	    part, sizeof(part) - 1, &n), 0);
	part[n] = '\0';
	assert_string_equal((char *)part,
	    "{\"alg\":\"HS256\",\"typ\":\"refresh+jwt\",\"kid\":\"k1\"}");
	free(tok);
}

static void
test_signed_token_with_issuer_and_audience_verifies_when_configured(
    void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_ACCESS, .key = keyset_signing_key(&keys),
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
		.issuer = "https://auth.example/", .audience = "api",
	};
	struct jwt_verify_opts o = ACCESS;
	struct jwt_claims c;
	char *tok = NULL;

	(void)state;
	o.issuer = "https://auth.example/";
	o.audience = "api";
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_int_equal(jwt_verify(tok, strlen(tok), &o, &c), JWT_OK);
	free(tok);
}

static void
test_sign_refuses_what_verify_would_refuse(void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_ACCESS, .key = keyset_signing_key(&keys),
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
	};
	struct jwt_sign_input bad;
	char longstr[JWT_MAX_LEN + 1];
	char *tok = (char *)"untouched";

	(void)state;
	memset(longstr, 'x', sizeof(longstr) - 1);
	longstr[sizeof(longstr) - 1] = '\0';

	bad = in;
	bad.sub = "";
	assert_int_equal(jwt_sign(&bad, &tok), JWT_ECLAIMS);
	bad = in;
	bad.sub = NULL;
	assert_int_equal(jwt_sign(&bad, &tok), JWT_ECLAIMS);
	bad = in;
	bad.sid = longstr + sizeof(longstr) - 1 - (JWT_CLAIM_MAX + 1);
	assert_int_equal(jwt_sign(&bad, &tok), JWT_ECLAIMS);
	bad = in;
	bad.jti = longstr + sizeof(longstr) - 1 - (JWT_CLAIM_MAX + 1);
	assert_int_equal(jwt_sign(&bad, &tok), JWT_ECLAIMS);
	bad = in;
	bad.exp = -1;
	assert_int_equal(jwt_sign(&bad, &tok), JWT_ECLAIMS);
	bad = in;
	bad.key = NULL;
	assert_int_equal(jwt_sign(&bad, &tok), JWT_EKID);
	bad = in;
	bad.issuer = longstr;
	assert_int_equal(jwt_sign(&bad, &tok), JWT_ETOOLONG);
	assert_string_equal(tok, "untouched");
}

/* ---- algorithm ---- */

static void
test_rejects_alg_none_with_empty_signature(void **state)
{
	(void)state;
	assert_int_equal(verify_free(with_tail(
	    "{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD,
	    "."), &ACCESS, NULL), JWT_EALG);
}

static void
test_rejects_alg_none_without_signature_part(void **state)
{
	(void)state;
	assert_int_equal(verify_free(with_tail(
	    "{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD,
	    ""), &ACCESS, NULL), JWT_EMALFORMED);
}

static void
test_rejects_alg_none_even_with_a_valid_hmac(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_EALG);
}

static void
test_rejects_alg_hs384(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"HS384\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_EALG);
}

static void
test_rejects_alg_rs256(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_EALG);
}

static void
test_rejects_alg_lowercase_hs256(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"hs256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_EALG);
}

static void
test_rejects_alg_missing_or_not_a_string(void **state)
{
	(void)state;
	assert_int_equal(check("{\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_EALG);
	assert_int_equal(check(
	    "{\"alg\":[\"HS256\"],\"typ\":\"at+jwt\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_EALG);
}

/* ---- type ---- */

static void
test_rejects_refresh_token_shown_as_access_token(void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_REFRESH, .key = keyset_signing_key(&keys),
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
	};
	char *tok = NULL;

	(void)state;
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_ETYP);
	assert_int_equal(check(HDR_RT, PAYLOAD), JWT_ETYP);
}

static void
test_rejects_access_token_shown_as_refresh_token(void **state)
{
	struct jwt_sign_input in = {
		.kind = JWT_ACCESS, .key = keyset_signing_key(&keys),
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
	};
	char *tok = NULL;

	(void)state;
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_int_equal(verify_free(tok, &REFRESH, NULL), JWT_ETYP);
	assert_int_equal(check_opts(HDR_AT, PAYLOAD, &REFRESH), JWT_ETYP);
}

static void
test_accepts_typ_in_any_case(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"AT+JWT\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_OK);
	assert_int_equal(check_opts(
	    "{\"alg\":\"HS256\",\"typ\":\"Refresh+Jwt\",\"kid\":\"k1\"}",
	    PAYLOAD, &REFRESH), JWT_OK);
}

static void
test_accepts_typ_with_application_prefix(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"application/at+jwt\",\"kid\":\"k1\"}",
	    PAYLOAD), JWT_OK);
	assert_int_equal(check_opts(
	    "{\"alg\":\"HS256\",\"typ\":\"APPLICATION/refresh+JWT\","
	    "\"kid\":\"k1\"}", PAYLOAD, &REFRESH), JWT_OK);
}

static void
test_rejects_typ_missing(void **state)
{
	(void)state;
	assert_int_equal(check("{\"alg\":\"HS256\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_ETYP);
}

static void
test_rejects_other_typ_values(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_ETYP);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"application/\",\"kid\":\"k1\"}",
	    PAYLOAD), JWT_ETYP);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"application/application/at+jwt\","
	    "\"kid\":\"k1\"}", PAYLOAD), JWT_ETYP);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt \",\"kid\":\"k1\"}", PAYLOAD),
	    JWT_ETYP);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":1,\"kid\":\"k1\"}", PAYLOAD), JWT_ETYP);
}

/* ---- crit ---- */

static void
test_rejects_unknown_crit(void **state)
{
	(void)state;
	assert_int_equal(check("{\"alg\":\"HS256\",\"typ\":\"at+jwt\","
	    "\"kid\":\"k1\",\"crit\":[\"exp\"]}", PAYLOAD), JWT_ECRIT);
	assert_int_equal(check("{\"alg\":\"HS256\",\"typ\":\"at+jwt\","
	    "\"kid\":\"k1\",\"crit\":[\"b64\"],\"b64\":false}", PAYLOAD),
	    JWT_ECRIT);
}

/* ---- kid and keys ---- */

static void
test_rejects_kid_missing(void **state)
{
	(void)state;
	assert_int_equal(check("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
	    PAYLOAD), JWT_EKID);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":1}", PAYLOAD),
	    JWT_EKID);
}

static void
test_rejects_kid_not_in_the_list(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k9\"}", PAYLOAD),
	    JWT_EKID);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"K1\"}", PAYLOAD),
	    JWT_EKID);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"\"}", PAYLOAD),
	    JWT_EKID);
}

static void
test_verifies_with_second_key_of_the_list(void **state)
{
	struct jwt_claims c;

	(void)state;
	assert_int_equal(verify_free(sign_with(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k2\"}", PAYLOAD,
	    SECRET2), &ACCESS, &c), JWT_OK);
	assert_string_equal(c.kid, "k2");
}

static void
test_rotation_keeps_tokens_of_the_old_key_valid(void **state)
{
	struct keyset before, after;
	struct jwt_sign_input in = {
		.kind = JWT_REFRESH,
		.sub = "42", .sid = "s-1", .jti = "j-1",
		.iat = NOW, .exp = NOW + 900,
	};
	struct jwt_verify_opts o = REFRESH;
	char err[256];
	char *tok = NULL;

	(void)state;
	assert_int_equal(keyset_parse("old:" SECRET1, &before, err,
	    sizeof(err)), 0);
	assert_int_equal(keyset_parse("new:" SECRET_OTHER ",old:" SECRET1,
	    &after, err, sizeof(err)), 0);
	in.key = keyset_signing_key(&before);
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	o.keys = &after;
	assert_int_equal(jwt_verify(tok, strlen(tok), &o, &(struct jwt_claims){
	    0 }), JWT_OK);
	free(tok);

	/* And the new first key is the one that signs from now on. */
	in.key = keyset_signing_key(&after);
	assert_string_equal(in.key->kid, "new");
	assert_int_equal(jwt_sign(&in, &tok), JWT_OK);
	assert_int_equal(jwt_verify(tok, strlen(tok), &o, &(struct jwt_claims){
	    0 }), JWT_OK);
	o.keys = &before;
	assert_int_equal(jwt_verify(tok, strlen(tok), &o, &(struct jwt_claims){
	    0 }), JWT_EKID);
	free(tok);
	keyset_free(&before);
	keyset_free(&after);
}

/* ---- signature ---- */

static void
test_rejects_signature_by_another_secret(void **state)
{
	(void)state;
	assert_int_equal(verify_free(sign_with(HDR_AT, PAYLOAD, SECRET_OTHER),
	    &ACCESS, NULL), JWT_ESIGNATURE);
}

static void
test_rejects_signature_by_another_listed_key(void **state)
{
	(void)state;
	/* kid k1 names SECRET1; a MAC under k2's secret does not count. */
	assert_int_equal(verify_free(sign_with(HDR_AT, PAYLOAD, SECRET2),
	    &ACCESS, NULL), JWT_ESIGNATURE);
}

static void
test_rejects_altered_signature(void **state)
{
	char *tok = sign_with(HDR_AT, PAYLOAD, SECRET1);
	char *sig = strrchr(tok, '.') + 1;

	(void)state;
	sig[0] = sig[0] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_ESIGNATURE);
}

static void
test_rejects_altered_payload(void **state)
{
	char *good = sign_with(HDR_AT, PAYLOAD, SECRET1);
	char *evil = with_tail(HDR_AT,
	    "{\"sub\":\"1\",\"sid\":\"s-1\",\"jti\":\"j-1\","
	    "\"iat\":1700000000,\"exp\":1700000900}", strrchr(good, '.'));

	(void)state;
	free(good);
	assert_int_equal(verify_free(evil, &ACCESS, NULL), JWT_ESIGNATURE);
}

static void
test_rejects_missing_signature(void **state)
{
	(void)state;
	assert_int_equal(verify_free(with_tail(HDR_AT, PAYLOAD, "."), &ACCESS,
	    NULL), JWT_ESIGNATURE);
}

static void
test_rejects_truncated_or_extended_signature(void **state)
{
	char *tok = sign_with(HDR_AT, PAYLOAD, SECRET1);
	size_t n = strlen(tok);
	char *longer = malloc(n + 2);

	(void)state;
	assert_non_null(longer);
	memcpy(longer, tok, n);
	memcpy(longer + n, "A", 2);     /* 44 characters: 33 bytes */
	tok[n - 3] = '\0';              /* 40 characters: 30 bytes */
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_ESIGNATURE);
	assert_int_equal(verify_free(longer, &ACCESS, NULL), JWT_ESIGNATURE);
}

static void
test_rejects_noncanonical_signature_encoding(void **state)
{
	char *tok = sign_with(HDR_AT, PAYLOAD, SECRET1);
	size_t n = strlen(tok);
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *pos = strchr(alpha, tok[n - 1]);

	(void)state;
	assert_non_null(pos);
	/* The last of 43 characters carries 4 bits and 2 zero bits: setting
	 * one of those names the same bytes in a second spelling. */
	assert_int_equal((pos - alpha) & 3, 0);
	tok[n - 1] = alpha[(pos - alpha) + 1];
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_EMALFORMED);
}

/* ---- claims ---- */

static void
test_returns_claims_and_empty_optional_ones(void **state)
{
	struct jwt_claims c;

	(void)state;
	assert_int_equal(verify_free(sign_with(HDR_AT,
	    "{\"sub\":\"42\",\"exp\":1700000900}", SECRET1), &ACCESS, &c),
	    JWT_OK);
	assert_string_equal(c.sub, "42");
	assert_string_equal(c.sid, "");
	assert_string_equal(c.jti, "");
	assert_int_equal(c.iat, 0);
	assert_int_equal(c.exp, NOW + 900);
}

static void
test_rejects_missing_exp(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"iat\":1700000000}"),
	    JWT_ECLAIMS);
}

static void
test_rejects_missing_sub(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, "{\"sid\":\"s-1\",\"exp\":1700000900}"),
	    JWT_ECLAIMS);
}

static void
test_rejects_empty_or_non_string_sub(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, "{\"sub\":\"\",\"exp\":1700000900}"),
	    JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT, "{\"sub\":42,\"exp\":1700000900}"),
	    JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT, "{\"sub\":null,\"exp\":1700000900}"),
	    JWT_ECLAIMS);
}

static void
test_rejects_exp_equal_to_now(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":1700000000}"),
	    JWT_EEXPIRED);
}

static void
test_rejects_exp_before_now(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":1699999999}"),
	    JWT_EEXPIRED);
}

static void
test_accepts_exp_one_second_after_now(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":1700000001}"),
	    JWT_OK);
}

static void
test_rejects_exp_as_a_string(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"exp\":\"1700000900\"}"), JWT_ECLAIMS);
}

static void
test_rejects_exp_as_a_double(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"exp\":1700000900.0}"), JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":1.7000009e9}"),
	    JWT_ECLAIMS);
}

static void
test_rejects_exp_out_of_range_or_of_other_types(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"exp\":99999999999999999999999}"), JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"exp\":9007199254740992}"), JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":-1}"),
	    JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":true}"),
	    JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":null}"),
	    JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"exp\":9007199254740991}"), JWT_OK);
}

static void
test_rejects_nbf_31_seconds_ahead(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, payload_plus(",\"nbf\":1700000031")),
	    JWT_ENOTYET);
}

static void
test_accepts_nbf_30_seconds_ahead(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, payload_plus(",\"nbf\":1700000030")),
	    JWT_OK);
	assert_int_equal(check(HDR_AT, payload_plus(",\"nbf\":1600000000")),
	    JWT_OK);
}

static void
test_rejects_iat_31_seconds_ahead(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"iat\":1700000031,\"exp\":1700000900}"),
	    JWT_ENOTYET);
}

static void
test_accepts_iat_30_seconds_ahead(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"iat\":1700000030,\"exp\":1700000900}"), JWT_OK);
}

static void
test_rejects_nbf_or_iat_of_wrong_type(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, payload_plus(",\"nbf\":\"0\"")),
	    JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"iat\":1.5,\"exp\":1700000900}"), JWT_ECLAIMS);
}

static void
test_rejects_wrong_issuer_when_configured(void **state)
{
	struct jwt_verify_opts o = ACCESS;

	(void)state;
	o.issuer = "https://auth.example";
	assert_int_equal(check_opts(HDR_AT,
	    payload_plus(",\"iss\":\"https://evil.example\""), &o),
	    JWT_EISSUER);
	assert_int_equal(check_opts(HDR_AT,
	    payload_plus(",\"iss\":\"https://AUTH.example\""), &o),
	    JWT_EISSUER);
	assert_int_equal(check_opts(HDR_AT, payload_plus(""), &o),
	    JWT_EISSUER);
	assert_int_equal(check_opts(HDR_AT,
	    payload_plus(",\"iss\":[\"https://auth.example\"]"), &o),
	    JWT_EISSUER);
	assert_int_equal(check_opts(HDR_AT,
	    payload_plus(",\"iss\":\"https://auth.example\""), &o), JWT_OK);
}

static void
test_ignores_issuer_and_audience_when_not_configured(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    payload_plus(",\"iss\":\"anyone\",\"aud\":[\"x\",1]")), JWT_OK);
}

static void
test_rejects_wrong_audience_string_when_configured(void **state)
{
	struct jwt_verify_opts o = ACCESS;

	(void)state;
	o.audience = "api";
	assert_int_equal(check_opts(HDR_AT, payload_plus(",\"aud\":\"web\""),
	    &o), JWT_EAUDIENCE);
	assert_int_equal(check_opts(HDR_AT, payload_plus(",\"aud\":\"API\""),
	    &o), JWT_EAUDIENCE);
	assert_int_equal(check_opts(HDR_AT, payload_plus(""), &o),
	    JWT_EAUDIENCE);
	assert_int_equal(check_opts(HDR_AT, payload_plus(",\"aud\":\"api\""),
	    &o), JWT_OK);
}

static void
test_rejects_wrong_audience_array_when_configured(void **state)
{
	struct jwt_verify_opts o = ACCESS;

	(void)state;
	o.audience = "api";
	assert_int_equal(check_opts(HDR_AT,
	    payload_plus(",\"aud\":[\"web\",\"mobile\"]"), &o), JWT_EAUDIENCE);
	assert_int_equal(check_opts(HDR_AT, payload_plus(",\"aud\":[]"), &o),
	    JWT_EAUDIENCE);
	assert_int_equal(check_opts(HDR_AT,
	    payload_plus(",\"aud\":[1,\"api\"]"), &o), JWT_EAUDIENCE);
	assert_int_equal(check_opts(HDR_AT,
	    payload_plus(",\"aud\":[\"web\",\"api\"]"), &o), JWT_OK);
}

static void
test_require_sid_rejects_token_without_sid(void **state)
{
	struct jwt_verify_opts o = REFRESH;

	(void)state;
	o.require_sid = 1;
	assert_int_equal(check_opts(HDR_RT,
	    "{\"sub\":\"42\",\"exp\":1700000900}", &o), JWT_ECLAIMS);
	assert_int_equal(check_opts(HDR_RT,
	    "{\"sub\":\"42\",\"sid\":\"\",\"exp\":1700000900}", &o),
	    JWT_ECLAIMS);
	o.require_sid = 0;
	assert_int_equal(check_opts(HDR_RT,
	    "{\"sub\":\"42\",\"exp\":1700000900}", &o), JWT_OK);
}

static void
test_rejects_sid_or_jti_of_wrong_type(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"sid\":7,\"exp\":1700000900}"), JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"jti\":[],\"exp\":1700000900}"), JWT_ECLAIMS);
}

static void
test_accepts_claims_of_64_bytes_and_rejects_65(void **state)
{
	static const struct {
		const char *before;     /* members ahead of the one tested */
		const char *name;
	} cases[] = {
		{ "", "sub" },
		{ "\"sub\":\"1\",", "sid" },
		{ "\"sub\":\"1\",", "jti" },
	};
	char val[JWT_CLAIM_MAX + 2], p[256];
	struct jwt_claims c;
	size_t i;
	int w;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(val, 'v', JWT_CLAIM_MAX);
		val[JWT_CLAIM_MAX] = '\0';
		w = snprintf(p, sizeof(p), "{%s\"%s\":\"%s\",\"exp\":1700000900}",
		    cases[i].before, cases[i].name, val);
		assert_true(w > 0 && w < (int)sizeof(p));
		assert_int_equal(verify_free(sign_with(HDR_AT, p, SECRET1),
		    &ACCESS, &c), JWT_OK);
		val[JWT_CLAIM_MAX] = 'v';
		val[JWT_CLAIM_MAX + 1] = '\0';
		w = snprintf(p, sizeof(p), "{%s\"%s\":\"%s\",\"exp\":1700000900}",
		    cases[i].before, cases[i].name, val);
		assert_true(w > 0 && w < (int)sizeof(p));
		assert_int_equal(check(HDR_AT, p), JWT_ECLAIMS);
	}
}

static void
test_rejects_embedded_nul_in_claims(void **state)
{
	struct jwt_verify_opts o = ACCESS;

	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"4\\u00002\",\"exp\":1700000900}"), JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"sid\":\"s\\u0000x\",\"exp\":1700000900}"),
	    JWT_ECLAIMS);
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"42\",\"jti\":\"\\u0000\",\"exp\":1700000900}"),
	    JWT_ECLAIMS);
	o.issuer = "https://auth.example";
	assert_int_equal(check_opts(HDR_AT, payload_plus(
	    ",\"iss\":\"https://auth.example\\u0000.evil\""), &o),
	    JWT_EISSUER);
	o = ACCESS;
	o.audience = "api";
	assert_int_equal(check_opts(HDR_AT, payload_plus(
	    ",\"aud\":[\"api\\u0000x\"]"), &o), JWT_EAUDIENCE);
}

static void
test_rejects_embedded_nul_in_header_values(void **state)
{
	(void)state;
	assert_int_equal(check(
	    "{\"alg\":\"HS256\\u0000\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	    PAYLOAD), JWT_EALG);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\\u0000\",\"kid\":\"k1\"}",
	    PAYLOAD), JWT_ETYP);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\\u0000\"}",
	    PAYLOAD), JWT_EKID);
}

/* ---- size and structure ---- */

static void
test_rejects_token_over_4096_bytes_unread(void **state)
{
	char *junk = malloc(JWT_MAX_LEN + 2);

	(void)state;
	assert_non_null(junk);
	memset(junk, '.', JWT_MAX_LEN + 1);
	junk[JWT_MAX_LEN + 1] = '\0';
	assert_int_equal(verify_free(junk, &ACCESS, NULL), JWT_ETOOLONG);
}

static void
test_accepts_4096_bytes_and_rejects_4097(void **state)
{
	/* Two header spellings, so that every total length is reachable
	 * (base64url never produces a length of 1 modulo 4). */
	static const char *headers[] = {
		HDR_AT,
		"{\"alg\":\"HS256\", \"typ\":\"at+jwt\",\"kid\":\"k1\"}",
	};
	char pad[JWT_MAX_LEN], extra[JWT_MAX_LEN + 16];
	size_t n, h, len;
	int seen4096 = 0, seen4097 = 0;
	char *tok;

	(void)state;
	/* Grow a padding claim until the token crosses the limit. */
	for (n = 2800; n < 3100 && !(seen4096 && seen4097); n++) {
		memset(pad, 'p', n);
		pad[n] = '\0';
		assert_true(snprintf(extra, sizeof(extra), ",\"pad\":\"%s\"",
		    pad) < (int)sizeof(extra));
		for (h = 0; h < 2; h++) {
			tok = sign_with(headers[h], payload_plus(extra),
			    SECRET1);
			len = strlen(tok);
			if (len == JWT_MAX_LEN) {
				seen4096 = 1;
				assert_int_equal(verify_free(tok, &ACCESS,
				    NULL), JWT_OK);
			} else if (len == JWT_MAX_LEN + 1) {
				seen4097 = 1;
				assert_int_equal(verify_free(tok, &ACCESS,
				    NULL), JWT_ETOOLONG);
			} else {
				free(tok);
			}
		}
	}
	assert_true(seen4096);
	assert_true(seen4097);
}

static void
test_verify_reads_only_len_bytes(void **state)
{
	char *tok = sign_with(HDR_AT, PAYLOAD, SECRET1);
	size_t n = strlen(tok);
	char *more = malloc(n + 8);
	struct jwt_claims c;

	(void)state;
	assert_non_null(more);
	memcpy(more, tok, n);
	memcpy(more + n, "garbage", 8);
	assert_int_equal(jwt_verify(more, n, &ACCESS, &c), JWT_OK);
	assert_int_equal(jwt_verify(more, n + 7, &ACCESS, &c), JWT_EMALFORMED);
	free(more);
	free(tok);
}

static void
test_rejects_two_parts(void **state)
{
	(void)state;
	assert_int_equal(verify_free(with_tail(HDR_AT, PAYLOAD, ""), &ACCESS,
	    NULL), JWT_EMALFORMED);
}

static void
test_rejects_four_parts(void **state)
{
	char *tok = sign_with(HDR_AT, PAYLOAD, SECRET1);
	size_t n = strlen(tok);
	char *four = malloc(n + 6);

	(void)state;
	assert_non_null(four);
	memcpy(four, tok, n);
	memcpy(four + n, ".e30", 5);
	free(tok);
	assert_int_equal(verify_free(four, &ACCESS, NULL), JWT_EMALFORMED);
}

static void
test_rejects_empty_token_and_empty_parts(void **state)
{
	struct jwt_claims c;

	(void)state;
	assert_int_equal(jwt_verify("", 0, &ACCESS, &c), JWT_EMALFORMED);
	assert_int_equal(jwt_verify("..", 2, &ACCESS, &c), JWT_EMALFORMED);
	assert_int_equal(verify_free(sign_with(HDR_AT, "", SECRET1), &ACCESS,
	    NULL), JWT_EMALFORMED);
}

static void
test_rejects_bad_base64(void **state)
{
	char *tok;

	(void)state;
	/* A character outside the alphabet in the header. */
	tok = sign_with(HDR_AT, PAYLOAD, SECRET1);
	tok[3] = '*';
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_EMALFORMED);
	/* Standard base64 in the signature. */
	tok = sign_with(HDR_AT, PAYLOAD, SECRET1);
	strrchr(tok, '.')[1] = '+';
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_EMALFORMED);
	/* Padding after the payload. */
	tok = with_tail(HDR_AT, PAYLOAD, "=.AAAA");
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_EMALFORMED);
	/* White space in a part. */
	tok = with_tail(HDR_AT, PAYLOAD, ". AAA");
	assert_int_equal(verify_free(tok, &ACCESS, NULL), JWT_EMALFORMED);
}

static void
test_rejects_header_that_is_not_json(void **state)
{
	(void)state;
	assert_int_equal(check("alg=HS256", PAYLOAD), JWT_EMALFORMED);
	assert_int_equal(check("{'alg':'HS256'}x", PAYLOAD), JWT_EMALFORMED);
	assert_int_equal(check(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\",}", PAYLOAD),
	    JWT_EMALFORMED);
	assert_int_equal(check(HDR_AT " {}", PAYLOAD), JWT_EMALFORMED);
}

static void
test_rejects_header_that_is_a_json_array(void **state)
{
	(void)state;
	assert_int_equal(check("[\"HS256\",\"at+jwt\",\"k1\"]", PAYLOAD),
	    JWT_EMALFORMED);
	assert_int_equal(check("\"HS256\"", PAYLOAD), JWT_EMALFORMED);
}

static void
test_rejects_payload_that_is_not_a_json_object(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, "[1700000900]"), JWT_EMALFORMED);
	assert_int_equal(check(HDR_AT, "1700000900"), JWT_EMALFORMED);
	assert_int_equal(check(HDR_AT, "{\"sub\":\"42\",\"exp\":1700000900"),
	    JWT_EMALFORMED);
}

static void
test_rejects_invalid_utf8_in_json(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT,
	    "{\"sub\":\"\xff\",\"exp\":1700000900}"), JWT_EMALFORMED);
}

static void
test_rejects_raw_nul_byte_in_json(void **state)
{
	static const char h[] = HDR_AT "\0{}";

	(void)state;
	assert_int_equal(verify_free(sign_n(h, sizeof(h) - 1, PAYLOAD,
	    strlen(PAYLOAD), SECRET1), &ACCESS, NULL), JWT_EMALFORMED);
}

static void
test_rejects_deeply_nested_json(void **state)
{
	(void)state;
	assert_int_equal(check(HDR_AT, payload_plus(
	    ",\"x\":[[[[[[[[[[[[1]]]]]]]]]]]]")), JWT_EMALFORMED);
}

/* ---- messages ---- */

static void
test_strerror_is_distinct_and_safe_in_a_quoted_string(void **state)
{
	static const int codes[] = {
		JWT_OK, JWT_EMALFORMED, JWT_ETOOLONG, JWT_EALG, JWT_ETYP,
		JWT_EKID, JWT_ECRIT, JWT_ESIGNATURE, JWT_EEXPIRED,
		JWT_ENOTYET, JWT_ECLAIMS, JWT_EISSUER, JWT_EAUDIENCE,
		JWT_ENOMEM, -999,
	};
	const size_t n = sizeof(codes) / sizeof(codes[0]);
	size_t i, j;
	const char *s, *p;

	(void)state;
	for (i = 0; i < n; i++) {
		s = jwt_strerror(codes[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		for (p = s; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f && *p != '"' &&
			    *p != '\\');
		for (j = 0; j < i; j++)
			assert_string_not_equal(s, jwt_strerror(codes[j]));
	}
	assert_string_equal(jwt_strerror(JWT_EEXPIRED), "token expired");
	assert_string_equal(jwt_strerror(JWT_ESIGNATURE),
	    "token signature is invalid");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs256_matches_rfc7515_appendix_a1),
		cmocka_unit_test(test_signed_access_token_verifies_with_its_claims),
		cmocka_unit_test(
		    test_signed_refresh_token_verifies_with_its_claims),
		cmocka_unit_test(
		    test_signed_token_has_header_alg_typ_kid_in_order_and_plain_claims),
		cmocka_unit_test(test_signed_refresh_token_header_has_refresh_typ),
		cmocka_unit_test(
		    test_signed_token_with_issuer_and_audience_verifies_when_configured),
		cmocka_unit_test(test_sign_refuses_what_verify_would_refuse),
		cmocka_unit_test(test_rejects_alg_none_with_empty_signature),
		cmocka_unit_test(test_rejects_alg_none_without_signature_part),
		cmocka_unit_test(test_rejects_alg_none_even_with_a_valid_hmac),
		cmocka_unit_test(test_rejects_alg_hs384),
		cmocka_unit_test(test_rejects_alg_rs256),
		cmocka_unit_test(test_rejects_alg_lowercase_hs256),
		cmocka_unit_test(test_rejects_alg_missing_or_not_a_string),
		cmocka_unit_test(test_rejects_refresh_token_shown_as_access_token),
		cmocka_unit_test(test_rejects_access_token_shown_as_refresh_token),
		cmocka_unit_test(test_accepts_typ_in_any_case),
		cmocka_unit_test(test_accepts_typ_with_application_prefix),
		cmocka_unit_test(test_rejects_typ_missing),
		cmocka_unit_test(test_rejects_other_typ_values),
		cmocka_unit_test(test_rejects_unknown_crit),
		cmocka_unit_test(test_rejects_kid_missing),
		cmocka_unit_test(test_rejects_kid_not_in_the_list),
		cmocka_unit_test(test_verifies_with_second_key_of_the_list),
		cmocka_unit_test(test_rotation_keeps_tokens_of_the_old_key_valid),
		cmocka_unit_test(test_rejects_signature_by_another_secret),
		cmocka_unit_test(test_rejects_signature_by_another_listed_key),
		cmocka_unit_test(test_rejects_altered_signature),
		cmocka_unit_test(test_rejects_altered_payload),
		cmocka_unit_test(test_rejects_missing_signature),
		cmocka_unit_test(test_rejects_truncated_or_extended_signature),
		cmocka_unit_test(test_rejects_noncanonical_signature_encoding),
		cmocka_unit_test(test_returns_claims_and_empty_optional_ones),
		cmocka_unit_test(test_rejects_missing_exp),
		cmocka_unit_test(test_rejects_missing_sub),
		cmocka_unit_test(test_rejects_empty_or_non_string_sub),
		cmocka_unit_test(test_rejects_exp_equal_to_now),
		cmocka_unit_test(test_rejects_exp_before_now),
		cmocka_unit_test(test_accepts_exp_one_second_after_now),
		cmocka_unit_test(test_rejects_exp_as_a_string),
		cmocka_unit_test(test_rejects_exp_as_a_double),
		cmocka_unit_test(test_rejects_exp_out_of_range_or_of_other_types),
		cmocka_unit_test(test_rejects_nbf_31_seconds_ahead),
		cmocka_unit_test(test_accepts_nbf_30_seconds_ahead),
		cmocka_unit_test(test_rejects_iat_31_seconds_ahead),
		cmocka_unit_test(test_accepts_iat_30_seconds_ahead),
		cmocka_unit_test(test_rejects_nbf_or_iat_of_wrong_type),
		cmocka_unit_test(test_rejects_wrong_issuer_when_configured),
		cmocka_unit_test(
		    test_ignores_issuer_and_audience_when_not_configured),
		cmocka_unit_test(
		    test_rejects_wrong_audience_string_when_configured),
		cmocka_unit_test(test_rejects_wrong_audience_array_when_configured),
		cmocka_unit_test(test_require_sid_rejects_token_without_sid),
		cmocka_unit_test(test_rejects_sid_or_jti_of_wrong_type),
		cmocka_unit_test(test_accepts_claims_of_64_bytes_and_rejects_65),
		cmocka_unit_test(test_rejects_embedded_nul_in_claims),
		cmocka_unit_test(test_rejects_embedded_nul_in_header_values),
		cmocka_unit_test(test_rejects_token_over_4096_bytes_unread),
		cmocka_unit_test(test_accepts_4096_bytes_and_rejects_4097),
		cmocka_unit_test(test_verify_reads_only_len_bytes),
		cmocka_unit_test(test_rejects_two_parts),
		cmocka_unit_test(test_rejects_four_parts),
		cmocka_unit_test(test_rejects_empty_token_and_empty_parts),
		cmocka_unit_test(test_rejects_bad_base64),
		cmocka_unit_test(test_rejects_header_that_is_not_json),
		cmocka_unit_test(test_rejects_header_that_is_a_json_array),
		cmocka_unit_test(test_rejects_payload_that_is_not_a_json_object),
		cmocka_unit_test(test_rejects_invalid_utf8_in_json),
		cmocka_unit_test(test_rejects_raw_nul_byte_in_json),
		cmocka_unit_test(test_rejects_deeply_nested_json),
		cmocka_unit_test(
		    test_strerror_is_distinct_and_safe_in_a_quoted_string),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
