/* test_jwk.c: client-held keys and compact JWS (lib/jwk.c): the RFC 7638,
 * RFC 7515 and RFC 8037 known answers, keys made here with OpenSSL, and
 * every documented refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jwk.h"
#include "jws_fixture.h"

/* RFC 7638 section 3.1: the RSA key of RFC 7517 appendix A.1, with the
 * optional members that must not change its thumbprint. */
#define RFC7638_N "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4" \
	"cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknj" \
	"hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ" \
	"R0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr" \
	"n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPks" \
	"INHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
static const char rfc7638_key[] = "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N
	"\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
static const char rfc7638_canonical[] = "{\"e\":\"AQAB\",\"kty\":\"RSA\","
	"\"n\":\"" RFC7638_N "\"}";
static const char rfc7638_jkt[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* RFC 7515 appendices A.2 (RS256) and A.3 (ES256): one payload. */
#define RFC7515_PAYLOAD "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog" \
	"Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
static const char a2_input[] = "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD;
static const char a2_sig[] =
	"cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
	"AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
	"BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
	"0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
	"hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
	"p0igcN_IoypGlUPQGe77Rw";
static const char a2_key[] = "{\"kty\":\"RSA\",\"n\":\""
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
	"HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
	"D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
	"SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
	"MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
	"NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
	"\"e\":\"AQAB\"}";
static const char a3_input[] = "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD;
static const char a3_sig[] = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXF"
	"CgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char a3_key[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

/* RFC 8037 appendix A: the Ed25519 key (A.2), its thumbprint (A.3) and
 * the JWS of A.4, verified in A.5. */
static const char a8037_key[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	"\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char a8037_jkt[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
static const char a8037_input[] =
	"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char a8037_sig[] = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR"
	"6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/* The order n of P-256, for signatures with s at or above it. */
static const char p256_order_hex[] =
	"FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

static void
parse_str(const char *text, struct jwk *k, int want)
{
	assert_int_equal(jwk_parse_text(text, strlen(text), k), want);
	if (want != JWK_OK)
		assert_null(k->pkey);
}

static size_t
unb64(const char *s, unsigned char *out, size_t outsz)
{
	size_t n;

	assert_int_equal(b64url_decode(s, strlen(s), out, outsz, &n), 0);
	return n;
}

/* The key pairs the tests share, made once. */
static EVP_PKEY *ec_key, *ec_other, *rsa_key, *ed_key;

static int
setup_keys(void **state)
{
	(void)state;
	ec_key = fx_keygen(JWS_ES256, 0);
	ec_other = fx_keygen(JWS_ES256, 0);
	rsa_key = fx_keygen(JWS_RS256, 2048);
	ed_key = fx_keygen(JWS_EDDSA, 0);
	return 0;
}

static int
teardown_keys(void **state)
{
	(void)state;
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(ec_other);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ed_key);
	return 0;
}

static EVP_PKEY *
key_for(enum jws_alg alg)
{
	return alg == JWS_ES256 ? ec_key : alg == JWS_RS256 ? rsa_key : ed_key;
}

static const struct jws_verify_opts dpop_opts = {
	.typ = "dpop+jwt", .algs = JWS_ES256 | JWS_RS256 | JWS_EDDSA,
};

static const char claims[] = "{\"jti\":\"x\",\"iat\":1}";

/* jws_verify of the NUL-terminated compact under opts. */
static int
verify(const char *compact, const struct jws_verify_opts *o,
    struct jws_proof *p)
{
	return jws_verify(compact, strlen(compact), o, p);
}

/* A proof whose header is header, signed by the key of alg. */
static int
verify_header(const char *header, enum jws_alg alg,
    const struct jws_verify_opts *o)
{
	static char tok[FX_TEXT];
	struct jws_proof p;
	int rc;

	fx_jws(key_for(alg), alg, header, claims, tok);
	rc = verify(tok, o, &p);
	if (rc != JWK_OK)
		assert_null(p.payload);
	jws_proof_clear(&p);
	return rc;
}

static void
test_rfc7638_thumbprint_of_the_rsa_key(void **state)
{
	struct jwk k;

	(void)state;
	parse_str(rfc7638_key, &k, JWK_OK);
	assert_int_equal(k.alg, JWS_RS256);
	assert_string_equal(k.canonical, rfc7638_canonical);
	assert_int_equal(k.canonical_len, strlen(rfc7638_canonical));
	assert_string_equal(k.jkt, rfc7638_jkt);
	jwk_clear(&k);
	/* The canonical text itself reads back to the same thumbprint. */
	parse_str(rfc7638_canonical, &k, JWK_OK);
	assert_string_equal(k.jkt, rfc7638_jkt);
	jwk_clear(&k);
}

/* Verifies input/sig under key, then with each byte of the signature
 * and of the input changed in turn (every one refused). */
static void
known_answer(const char *keytext, enum jws_alg alg, const char *input,
    const char *sigtext)
{
	unsigned char sig[512];
	char in[1024];
	size_t sl = unb64(sigtext, sig, sizeof sig), n = strlen(input);
	struct jwk k;

	parse_str(keytext, &k, JWK_OK);
	assert_int_equal(k.alg, alg);
	assert_int_equal(jws_verify_signature(&k, alg, input, n, sig, sl),
	    JWK_OK);
	for (size_t i = 0; i < sl; i++) {
		sig[i] ^= 0x01;
		assert_int_equal(jws_verify_signature(&k, alg, input, n, sig,
		    sl), JWK_ESIGNATURE);
		sig[i] ^= 0x01;
	}
	memcpy(in, input, n);
	for (size_t i = 0; i < n; i++) {
		in[i] ^= 0x01;
		assert_int_equal(jws_verify_signature(&k, alg, in, n, sig, sl),
		    JWK_ESIGNATURE);
		in[i] ^= 0x01;
	}
	/* Truncated by one byte: refused by size. */
	assert_int_equal(jws_verify_signature(&k, alg, input, n, sig, sl - 1),
	    JWK_ESIGNATURE);
	jwk_clear(&k);
}

static void
test_rfc7515_a2_rs256_verifies_and_one_byte_changed_does_not(void **state)
{
	(void)state;
	known_answer(a2_key, JWS_RS256, a2_input, a2_sig);
}

static void
test_rfc7515_a3_es256_verifies_and_one_byte_changed_does_not(void **state)
{
	(void)state;
	known_answer(a3_key, JWS_ES256, a3_input, a3_sig);
}

static void
test_rfc8037_ed25519_verifies_and_has_its_thumbprint(void **state)
{
	struct jwk k;

	(void)state;
	known_answer(a8037_key, JWS_EDDSA, a8037_input, a8037_sig);
	parse_str(a8037_key, &k, JWK_OK);
	assert_string_equal(k.jkt, a8037_jkt);
	assert_string_equal(k.canonical, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}");
	jwk_clear(&k);
}

static void
test_rfc7515_vectors_refused_under_another_alg(void **state)
{
	unsigned char sig[512];
	size_t sl = unb64(a3_sig, sig, sizeof sig);
	struct jwk k;

	(void)state;
	parse_str(a3_key, &k, JWK_OK);
	assert_int_equal(jws_verify_signature(&k, JWS_RS256, a3_input,
	    strlen(a3_input), sig, sl), JWK_EALG);
	assert_int_equal(jws_verify_signature(&k, JWS_EDDSA, a3_input,
	    strlen(a3_input), sig, sl), JWK_EALG);
	jwk_clear(&k);
}

/* A fresh key of each kind: a proof with its jwk verifies, yields the
 * payload and a key whose canonical text reads back to the same
 * thumbprint; the header's extra members of the JWK change nothing. */
static void
test_fresh_keys_of_each_kind_verify_and_round_trip(void **state)
{
	static const enum jws_alg algs[] = { JWS_ES256, JWS_RS256, JWS_EDDSA };
	static char header[FX_TEXT], tok[FX_TEXT], jwk[FX_TEXT];
	struct jws_proof p;
	struct jwk back, decorated;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		enum jws_alg alg = algs[i];

		fx_header(key_for(alg), alg, "dpop+jwt", header);
		fx_jws(key_for(alg), alg, header, claims, tok);
		assert_int_equal(verify(tok, &dpop_opts, &p), JWK_OK);
		assert_int_equal(p.alg, alg);
		assert_int_equal(p.key.alg, alg);
		assert_non_null(p.key.pkey);
		assert_non_null(p.payload);
		assert_int_equal(json_object_get_int(json_object_object_get(
		    p.payload, "iat")), 1);
		assert_int_equal(strlen(p.key.jkt), JWK_JKT_LEN);
		assert_int_equal(jwk_parse_text(p.key.canonical,
		    p.key.canonical_len, &back), JWK_OK);
		assert_memory_equal(back.thumbprint, p.key.thumbprint,
		    JWK_THUMBPRINT_LEN);
		assert_string_equal(back.canonical, p.key.canonical);
		fx_jwk_json(key_for(alg), alg, ",\"kid\":\"k1\",\"use\":\"sig\","
		    "\"alg\":\"x\",\"key_ops\":[\"verify\"],\"ext\":true", jwk);
		assert_int_equal(jwk_parse_text(jwk, strlen(jwk), &decorated),
		    JWK_OK);
		assert_string_equal(decorated.jkt, p.key.jkt);
		jwk_clear(&decorated);
		jwk_clear(&back);
		jws_proof_clear(&p);
		assert_null(p.payload);
		assert_null(p.key.pkey);
	}
}

static void
test_alg_none_hmac_unknown_and_unoffered_are_refused(void **state)
{
	static char jwk[FX_TEXT], header[FX_TEXT];
	static const char *const bad[] = {
		"none", "HS256", "HS384", "HS512", "es256", "ES384", "PS256",
		"RS512", "Ed25519", "",
	};
	struct jws_verify_opts only_rs = dpop_opts;

	(void)state;
	fx_jwk_json(ec_key, JWS_ES256, "", jwk);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fx_fmt(header, "{\"typ\":\"dpop+jwt\","
		    "\"alg\":\"%s\",\"jwk\":%s}", bad[i], jwk);
		assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
		    JWK_EALG);
	}
	fx_fmt(header, "{\"typ\":\"dpop+jwt\",\"jwk\":%s}",
	    jwk);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_EALG);
	fx_fmt(header, "{\"typ\":\"dpop+jwt\",\"alg\":1,"
	    "\"jwk\":%s}", jwk);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_EALG);
	/* ES256 and a right signature, but not among the offered. */
	only_rs.algs = JWS_RS256;
	fx_header(ec_key, JWS_ES256, "dpop+jwt", header);
	assert_int_equal(verify_header(header, JWS_ES256, &only_rs),
	    JWK_EALG);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_OK);
}

/* alg none with an empty signature, as an attacker sends it. */
static void
test_unsigned_none_token_is_refused(void **state)
{
	static char header[FX_TEXT], jwk[FX_TEXT], tok[FX_TEXT];
	struct jws_proof p;

	(void)state;
	fx_jwk_json(ec_key, JWS_ES256, "", jwk);
	fx_fmt(header, "{\"typ\":\"dpop+jwt\","
	    "\"alg\":\"none\",\"jwk\":%s}", jwk);
	fx_signing_input(header, claims, tok);
	strcat(tok, ".");
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EALG);
}

/* An RSA key in the header with alg ES256 (and the other pairings): the
 * key decides the algorithm, never the header alone. */
static void
test_alg_confusion_between_key_and_header_is_refused(void **state)
{
	static char jwk[FX_TEXT], header[FX_TEXT];
	static const enum jws_alg algs[] = { JWS_ES256, JWS_RS256, JWS_EDDSA };

	(void)state;
	for (size_t k = 0; k < 3; k++)
		for (size_t a = 0; a < 3; a++) {
			if (k == a)
				continue;
			fx_jwk_json(key_for(algs[k]), algs[k], "", jwk);
			fx_fmt(header, "{\"typ\":\"dpop+jwt\","
			    "\"alg\":\"%s\",\"jwk\":%s}",
			    jws_alg_name(algs[a]), jwk);
			/* Signed with the key of the header's alg. */
			assert_int_equal(verify_header(header, algs[a],
			    &dpop_opts), JWK_EALG);
		}
}

static void
test_typ_is_required_case_insensitively(void **state)
{
	static char header[FX_TEXT], jwk[FX_TEXT];
	struct jws_verify_opts no_typ = dpop_opts;

	(void)state;
	fx_header(ec_key, JWS_ES256, "DPoP+JWT", header);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts), JWK_OK);
	fx_header(ec_key, JWS_ES256, "application/dpop+jwt", header);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts), JWK_OK);
	fx_header(ec_key, JWS_ES256, "JWT", header);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ETYP);
	fx_header(ec_key, JWS_ES256, "dbsc+jwt", header);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ETYP);
	fx_header(ec_key, JWS_ES256, "dpop+jwt ", header);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ETYP);
	fx_jwk_json(ec_key, JWS_ES256, "", jwk);
	fx_fmt(header, "{\"alg\":\"ES256\",\"jwk\":%s}", jwk);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ETYP);
	/* typ NULL in the options: not checked. */
	no_typ.typ = NULL;
	assert_int_equal(verify_header(header, JWS_ES256, &no_typ), JWK_OK);
	fx_fmt(header, "{\"typ\":[\"dpop+jwt\"],"
	    "\"alg\":\"ES256\",\"jwk\":%s}", jwk);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ETYP);
}

static void
test_crit_is_refused(void **state)
{
	static char header[FX_TEXT], jwk[FX_TEXT];

	(void)state;
	fx_jwk_json(ec_key, JWS_ES256, "", jwk);
	fx_fmt(header, "{\"typ\":\"dpop+jwt\",\"alg\":"
	    "\"ES256\",\"crit\":[\"exp\"],\"exp\":1,\"jwk\":%s}", jwk);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ECRIT);
	fx_fmt(header, "{\"typ\":\"dpop+jwt\",\"alg\":"
	    "\"ES256\",\"crit\":[],\"jwk\":%s}", jwk);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ECRIT);
}

static void
test_private_members_are_refused(void **state)
{
	static const char *const priv[] = {
		"d", "p", "q", "dp", "dq", "qi", "oth", "k",
	};
	static char jwk[FX_TEXT], extra[64], header[FX_TEXT];
	struct jwk k;

	(void)state;
	for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++) {
		snprintf(extra, sizeof extra, ",\"%s\":\"AQAB\"", priv[i]);
		fx_jwk_json(ec_key, JWS_ES256, extra, jwk);
		parse_str(jwk, &k, JWK_EKEY);
		fx_fmt(header, "{\"typ\":\"dpop+jwt\","
		    "\"alg\":\"ES256\",\"jwk\":%s}", jwk);
		assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
		    JWK_EKEY);
	}
	/* A symmetric key altogether. */
	parse_str("{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMko\"}",
	    &k, JWK_EKEY);
}

static void
test_malformed_keys_are_refused(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"kty\":\"oct\"}",
		"{\"kty\":\"ec\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1g"
		    "HMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pC"
		    "yStikYjKIWI5a0\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1g"
		    "HMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pC"
		    "yStikYjKIWI5a0\"}",
		/* No crv. */
		"{\"kty\":\"EC\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvR"
		    "VEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
		/* x of 31 bytes. */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"83OJ3D2xF1Bg8vub9tLe1gHM"
		    "zV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyS"
		    "tikYjKIWI5a0\"}",
		/* y missing, y not a string. */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1g"
		    "HMzV76e8Tus9uPHvRVEU\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1g"
		    "HMzV76e8Tus9uPHvRVEU\",\"y\":7}",
		/* A point not on the curve (y's last byte changed). */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1g"
		    "HMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pC"
		    "yStikYjKIWI5a4\"}",
		/* Coordinates of all ones (above p) and the all-zero point. */
		"{\"kty\":\"EC\",\"crv\":\"P-256\","
		    "\"x\":\"______________________________"
		    "____________w\","
		    "\"y\":\"______________________________"
		    "____________w\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-256\","
		    "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAAAAAAAAA\","
		    "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAAAAAAAAA\"}",
		/* Padding, standard alphabet: not strict base64url. */
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQH"
		    "Og7hcvPapiMlrwIaaPcHURo=\"}",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS/7TyWQH"
		    "Og7hcvPapiMlrwIaaPcHURo\"}",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"11qYAYKxCrfVS_7TyWQH"
		    "Og7hcvPapiMlrwIaaPcHURo\"}",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"\"}",
		/* RSA without e, with e even, e = 1, a leading zero in n. */
		"{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\"}",
		"{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAA\"}",
		"{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQ\"}",
		"{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AAEAAQ\"}",
		"{\"kty\":\"RSA\",\"n\":\"AA" RFC7638_N "\",\"e\":\"AQAB\"}",
		/* A 264-bit modulus. */
		"{\"kty\":\"RSA\",\"n\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAQ\",\"e\":\"AQAB\"}",
		"[1]", "\"x\"", "{\"kty\":\"EC\",", "",
	};
	struct jwk k;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		parse_str(bad[i], &k, JWK_EKEY);
	assert_int_equal(jwk_parse(NULL, &k), JWK_EKEY);
	jwk_clear(&k);
	jwk_clear(&k);          /* twice: nothing left */
}

/* The RFC 7638 modulus made even (its last character 'w' carries the
 * low bits 11, 'g' carries 10): refused, while the same text with 'w'
 * is accepted. */
static void
test_even_rsa_modulus_is_refused(void **state)
{
	static char text[FX_TEXT];
	struct jwk k;
	char *w;

	(void)state;
	fx_fmt(text, "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"%s\"}",
	    RFC7638_N);
	parse_str(text, &k, JWK_OK);
	jwk_clear(&k);
	w = strstr(text, "Kgw\"");
	assert_non_null(w);
	w[2] = 'g';
	parse_str(text, &k, JWK_EKEY);
}

/* 1024 and 4096 bits: the limits of JWK_RSA_MIN_BITS..MAX_BITS; a
 * 4097-bit modulus needs 513 bytes and is refused by its size. */
static void
test_rsa_modulus_sizes(void **state)
{
	static char jwk[FX_TEXT], n513[FX_TEXT], text[FX_TEXT];
	static unsigned char big[513];
	EVP_PKEY *small = fx_keygen(JWS_RS256, 1024);
	EVP_PKEY *k3072 = fx_keygen(JWS_RS256, 3072);
	EVP_PKEY *k4096 = fx_keygen(JWS_RS256, 4096);
	struct jwk k;

	(void)state;
	fx_jwk_json(small, JWS_RS256, "", jwk);
	parse_str(jwk, &k, JWK_EKEY);
	fx_jwk_json(k3072, JWS_RS256, "", jwk);
	parse_str(jwk, &k, JWK_OK);
	jwk_clear(&k);
	fx_jwk_json(k4096, JWS_RS256, "", jwk);
	parse_str(jwk, &k, JWK_OK);
	assert_true(k.canonical_len < JWK_TEXT_MAX);
	jwk_clear(&k);
	memset(big, 0xff, sizeof big);
	big[0] = 0x01;
	fx_b64(big, sizeof big, n513);
	fx_fmt(text, "{\"kty\":\"RSA\",\"e\":\"AQAB\","
	    "\"n\":\"%s\"}", n513);
	assert_int_equal(jwk_parse_text(text, strlen(text), &k), JWK_EKEY);
	EVP_PKEY_free(small);
	EVP_PKEY_free(k3072);
	EVP_PKEY_free(k4096);
}

static void
test_text_over_jwk_text_max_is_refused(void **state)
{
	static char text[JWK_TEXT_MAX + 64];
	size_t n = strlen(a3_key);
	struct jwk k;

	(void)state;
	/* The key with white space padding it to exactly the limit: read;
	 * one byte more: refused unread. */
	memcpy(text, a3_key, n - 1);
	memset(text + n - 1, ' ', JWK_TEXT_MAX - n);
	text[JWK_TEXT_MAX - 1] = '}';
	assert_int_equal(jwk_parse_text(text, JWK_TEXT_MAX, &k), JWK_OK);
	jwk_clear(&k);
	memset(text + n - 1, ' ', JWK_TEXT_MAX + 1 - n);
	text[JWK_TEXT_MAX] = '}';
	assert_int_equal(jwk_parse_text(text, JWK_TEXT_MAX + 1, &k),
	    JWK_EKEY);
}

static void
test_jws_over_jws_max_len_is_too_long(void **state)
{
	static char tok[JWS_MAX_LEN + 16];
	struct jws_proof p;

	(void)state;
	memset(tok, 'A', sizeof tok);
	tok[10] = '.';
	tok[20] = '.';
	assert_int_equal(jws_verify(tok, JWS_MAX_LEN + 1, &dpop_opts, &p),
	    JWK_ETOOLONG);
	assert_int_equal(jws_verify(tok, JWS_MAX_LEN, &dpop_opts, &p),
	    JWK_EMALFORMED);
}

static void
test_malformed_compact_forms(void **state)
{
	static char header[FX_TEXT], tok[FX_TEXT], jwk[FX_TEXT], h2[FX_TEXT];
	static char b[FX_TEXT];
	struct jws_proof p;
	size_t n;

	(void)state;
	fx_header(ec_key, JWS_ES256, "dpop+jwt", header);
	n = fx_jws(ec_key, JWS_ES256, header, claims, tok);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_OK);
	jws_proof_clear(&p);
	/* White space around, a fourth part, two parts, empty parts. */
	memmove(tok + 1, tok, n + 1);
	tok[0] = ' ';
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EMALFORMED);
	memmove(tok, tok + 1, n + 1);
	strcat(tok, ".AA");
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EMALFORMED);
	assert_int_equal(verify("abc.def", &dpop_opts, &p), JWK_EMALFORMED);
	assert_int_equal(verify("..", &dpop_opts, &p), JWK_EMALFORMED);
	assert_int_equal(verify("", &dpop_opts, &p), JWK_EMALFORMED);
	assert_int_equal(jws_verify(NULL, 0, &dpop_opts, &p), JWK_EMALFORMED);
	/* A header that is not JSON, or not an object. */
	fx_signing_input("not json", claims, tok);
	strcat(tok, ".AAAA");
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EMALFORMED);
	fx_signing_input("[1,2]", claims, tok);
	strcat(tok, ".AAAA");
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EMALFORMED);
	/* A duplicate member in the header, and inside its jwk. */
	fx_jwk_json(ec_key, JWS_ES256, "", jwk);
	fx_fmt(h2, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\","
	    "\"alg\":\"ES256\",\"jwk\":%s}", jwk);
	assert_int_equal(verify_header(h2, JWS_ES256, &dpop_opts),
	    JWK_EMALFORMED);
	fx_jwk_json(ec_other, JWS_ES256, "", b);
	/* {"kty":..,"crv":..,"x":other's x,"y":other's y, then ours. */
	b[strlen(b) - 1] = '\0';
	fx_fmt(h2, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\","
	    "\"jwk\":%s,%s}", b, jwk + 1);
	assert_int_equal(verify_header(h2, JWS_ES256, &dpop_opts),
	    JWK_EMALFORMED);
	/* A payload that is not one object, or has a duplicate. */
	fx_jws(ec_key, JWS_ES256, header, "[1]", tok);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EMALFORMED);
	fx_jws(ec_key, JWS_ES256, header, "{\"jti\":\"a\",\"jti\":\"b\"}", tok);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EMALFORMED);
	fx_jws(ec_key, JWS_ES256, header, "", tok);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_EMALFORMED);
	/* Colons inside strings are not members: still accepted. */
	fx_jwk_json(ec_key, JWS_ES256, ",\"kid\":\"a:b\\\":c\"", jwk);
	fx_fmt(h2, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\","
	    "\"jwk\":%s,\"x\":[{\"y\":\":\"}]}", jwk);
	assert_int_equal(verify_header(h2, JWS_ES256, &dpop_opts), JWK_OK);
}

static void
test_jwk_missing_or_invalid_in_header(void **state)
{
	static char header[FX_TEXT];

	(void)state;
	assert_int_equal(verify_header("{\"typ\":\"dpop+jwt\","
	    "\"alg\":\"ES256\"}", JWS_ES256, &dpop_opts), JWK_EKEY);
	assert_int_equal(verify_header("{\"typ\":\"dpop+jwt\","
	    "\"alg\":\"ES256\",\"jwk\":\"x\"}", JWS_ES256, &dpop_opts),
	    JWK_EKEY);
	fx_fmt(header, "{\"typ\":\"dpop+jwt\","
	    "\"alg\":\"ES256\",\"jwk\":%s}", a8037_key);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_EALG);
}

/* The header's jwk is ec_other's while the signature is ec_key's. */
static void
test_signature_by_another_key_than_the_header_s(void **state)
{
	static char header[FX_TEXT];

	(void)state;
	fx_header(ec_other, JWS_ES256, "dpop+jwt", header);
	assert_int_equal(verify_header(header, JWS_ES256, &dpop_opts),
	    JWK_ESIGNATURE);
}

/* A proof with a stored key: no jwk needed, the same jwk accepted, any
 * other refused, and the alg must be the stored key's. */
static void
test_stored_key(void **state)
{
	static char jwk[FX_TEXT], header[FX_TEXT], tok[FX_TEXT];
	struct jws_verify_opts o = dpop_opts;
	struct jws_proof p;
	struct jwk stored;

	(void)state;
	fx_jwk_json(ec_key, JWS_ES256, "", jwk);
	parse_str(jwk, &stored, JWK_OK);
	o.key = &stored;
	o.typ = "dbsc+jwt";
	fx_jws(ec_key, JWS_ES256, "{\"typ\":\"dbsc+jwt\",\"alg\":\"ES256\"}",
	    claims, tok);
	assert_int_equal(verify(tok, &o, &p), JWK_OK);
	assert_null(p.key.pkey);
	assert_string_equal(p.key.jkt, stored.jkt);
	assert_string_equal(p.key.canonical, stored.canonical);
	assert_int_equal(p.key.canonical_len, stored.canonical_len);
	assert_memory_equal(p.key.thumbprint, stored.thumbprint,
	    JWK_THUMBPRINT_LEN);
	assert_int_equal(p.key.alg, JWS_ES256);
	assert_non_null(p.payload);
	jws_proof_clear(&p);
	fx_header(ec_key, JWS_ES256, "dbsc+jwt", header);
	assert_int_equal(verify_header(header, JWS_ES256, &o), JWK_OK);
	fx_header(ec_other, JWS_ES256, "dbsc+jwt", header);
	assert_int_equal(verify_header(header, JWS_ES256, &o), JWK_EKEY);
	/* Signed by another key altogether, without a jwk. */
	fx_jws(ec_other, JWS_ES256, "{\"typ\":\"dbsc+jwt\",\"alg\":\"ES256\"}",
	    claims, tok);
	assert_int_equal(verify(tok, &o, &p), JWK_ESIGNATURE);
	/* The RSA key's alg against the stored EC key. */
	fx_jws(rsa_key, JWS_RS256, "{\"typ\":\"dbsc+jwt\",\"alg\":\"RS256\"}",
	    claims, tok);
	assert_int_equal(verify(tok, &o, &p), JWK_EALG);
	jwk_clear(&stored);
}

/* Signs the proof's input, then hands the raw signature to mangle before
 * it is encoded; returns jws_verify's answer. */
static int
verify_es256_sig(const unsigned char *sig, size_t n)
{
	static char header[FX_TEXT], tok[FX_TEXT];
	struct jws_proof p;
	int rc;

	fx_header(ec_key, JWS_ES256, "dpop+jwt", header);
	fx_signing_input(header, claims, tok);
	fx_append_sig(tok, sig, n);
	rc = verify(tok, &dpop_opts, &p);
	jws_proof_clear(&p);
	return rc;
}

static void
test_es256_signature_forms(void **state)
{
	static char header[FX_TEXT], input[FX_TEXT];
	unsigned char sig[128], bad[128], der[80], *dp = der;
	BIGNUM *order = NULL, *s = NULL, *r = NULL;
	ECDSA_SIG *es;
	size_t n;
	int dl;

	(void)state;
	fx_header(ec_key, JWS_ES256, "dpop+jwt", header);
	n = fx_signing_input(header, claims, input);
	assert_int_equal(fx_sign_raw(ec_key, JWS_ES256, input, n, sig), 64);
	assert_int_equal(verify_es256_sig(sig, 64), JWK_OK);
	/* 63 and 65 bytes. */
	assert_int_equal(verify_es256_sig(sig, 63), JWK_ESIGNATURE);
	memcpy(bad, sig, 64);
	bad[64] = 0;
	assert_int_equal(verify_es256_sig(bad, 65), JWK_ESIGNATURE);
	memmove(bad + 1, sig, 64);
	bad[0] = 0;
	assert_int_equal(verify_es256_sig(bad, 65), JWK_ESIGNATURE);
	/* The same signature DER-encoded, as OpenSSL makes it. */
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	assert_non_null(es = ECDSA_SIG_new());
	assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
	dl = i2d_ECDSA_SIG(es, &dp);
	assert_true(dl > 0);
	ECDSA_SIG_free(es);
	assert_int_equal(verify_es256_sig(der, (size_t)dl), JWK_ESIGNATURE);
	/* r or s zero. */
	memcpy(bad, sig, 64);
	memset(bad, 0, 32);
	assert_int_equal(verify_es256_sig(bad, 64), JWK_ESIGNATURE);
	memcpy(bad, sig, 64);
	memset(bad + 32, 0, 32);
	assert_int_equal(verify_es256_sig(bad, 64), JWK_ESIGNATURE);
	/* High S (n - s): the same signature's other valid form. WebCrypto
	 * and BoringSSL do not normalise S, so refusing it would refuse
	 * half of the browsers' proofs; a replay is caught by the jti, not
	 * by the signature bytes. Accepted. */
	assert_int_equal(BN_hex2bn(&order, p256_order_hex), 64);
	s = BN_bin2bn(sig + 32, 32, NULL);
	assert_int_equal(BN_sub(s, order, s), 1);
	memcpy(bad, sig, 32);
	assert_int_equal(BN_bn2binpad(s, bad + 32, 32), 32);
	assert_int_equal(verify_es256_sig(bad, 64), JWK_OK);
	/* s + n does not fit 32 bytes; s = n and r = n are out of range. */
	memcpy(bad, sig, 32);
	assert_int_equal(BN_bn2binpad(order, bad + 32, 32), 32);
	assert_int_equal(verify_es256_sig(bad, 64), JWK_ESIGNATURE);
	memcpy(bad + 32, sig + 32, 32);
	assert_int_equal(BN_bn2binpad(order, bad, 32), 32);
	assert_int_equal(verify_es256_sig(bad, 64), JWK_ESIGNATURE);
	/* Missing altogether. */
	assert_int_equal(verify_es256_sig(sig, 0), JWK_ESIGNATURE);
	BN_free(s);
	BN_free(order);
}

static void
test_rs256_and_eddsa_signature_sizes(void **state)
{
	static char header[FX_TEXT], input[FX_TEXT], tok[FX_TEXT];
	unsigned char sig[1024];
	struct jws_proof p;
	size_t n, sl;

	(void)state;
	fx_header(rsa_key, JWS_RS256, "dpop+jwt", header);
	n = fx_signing_input(header, claims, input);
	sl = fx_sign_raw(rsa_key, JWS_RS256, input, n, sig);
	assert_int_equal(sl, 256);
	strcpy(tok, input);
	fx_append_sig(tok, sig, sl - 1);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_ESIGNATURE);
	memmove(sig + 1, sig, sl);
	sig[0] = 0;
	strcpy(tok, input);
	fx_append_sig(tok, sig, sl + 1);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_ESIGNATURE);
	fx_header(ed_key, JWS_EDDSA, "dpop+jwt", header);
	n = fx_signing_input(header, claims, input);
	sl = fx_sign_raw(ed_key, JWS_EDDSA, input, n, sig);
	assert_int_equal(sl, 64);
	strcpy(tok, input);
	fx_append_sig(tok, sig, 63);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_ESIGNATURE);
	strcpy(tok, input);
	fx_append_sig(tok, sig, 64);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_OK);
	jws_proof_clear(&p);
	/* A signature too long to decode at all. */
	memset(sig, 1, sizeof sig);
	strcpy(tok, input);
	fx_append_sig(tok, sig, 600);
	assert_int_equal(verify(tok, &dpop_opts, &p), JWK_ESIGNATURE);
}

static void
test_names_and_messages(void **state)
{
	static const int errs[] = {
		JWK_OK, JWK_EMALFORMED, JWK_ETOOLONG, JWK_EALG, JWK_ETYP,
		JWK_EKEY, JWK_ECRIT, JWK_ESIGNATURE, JWK_ENOMEM,
	};
	struct jws_proof zero;
	struct jwk zk;

	(void)state;
	assert_string_equal(jws_alg_name(JWS_ES256), "ES256");
	assert_string_equal(jws_alg_name(JWS_RS256), "RS256");
	assert_string_equal(jws_alg_name(JWS_EDDSA), "EdDSA");
	assert_null(jws_alg_name(0));
	assert_null(jws_alg_name(JWS_ES256 | JWS_RS256));
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		assert_non_null(jwk_strerror(errs[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(jwk_strerror(errs[i]),
			    jwk_strerror(errs[j]));
	}
	assert_non_null(jwk_strerror(-99));
	memset(&zero, 0, sizeof zero);
	jws_proof_clear(&zero);
	jws_proof_clear(NULL);
	memset(&zk, 0, sizeof zk);
	jwk_clear(&zk);
	jwk_clear(NULL);
	assert_int_equal(jws_verify_signature(NULL, JWS_ES256, "a", 1,
	    (const unsigned char *)"a", 1), JWK_EALG);
	assert_int_equal(jws_verify_signature(&zk, JWS_ES256, "a", 1,
	    (const unsigned char *)"a", 1), JWK_EALG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7638_thumbprint_of_the_rsa_key),
		cmocka_unit_test(
		    test_rfc7515_a2_rs256_verifies_and_one_byte_changed_does_not),
		cmocka_unit_test(
		    test_rfc7515_a3_es256_verifies_and_one_byte_changed_does_not),
		cmocka_unit_test(
		    test_rfc8037_ed25519_verifies_and_has_its_thumbprint),
		cmocka_unit_test(test_rfc7515_vectors_refused_under_another_alg),
		cmocka_unit_test(
		    test_fresh_keys_of_each_kind_verify_and_round_trip),
		cmocka_unit_test(
		    test_alg_none_hmac_unknown_and_unoffered_are_refused),
		cmocka_unit_test(test_unsigned_none_token_is_refused),
		cmocka_unit_test(
		    test_alg_confusion_between_key_and_header_is_refused),
		cmocka_unit_test(test_typ_is_required_case_insensitively),
		cmocka_unit_test(test_crit_is_refused),
		cmocka_unit_test(test_private_members_are_refused),
		cmocka_unit_test(test_malformed_keys_are_refused),
		cmocka_unit_test(test_even_rsa_modulus_is_refused),
		cmocka_unit_test(test_rsa_modulus_sizes),
		cmocka_unit_test(test_text_over_jwk_text_max_is_refused),
		cmocka_unit_test(test_jws_over_jws_max_len_is_too_long),
		cmocka_unit_test(test_malformed_compact_forms),
		cmocka_unit_test(test_jwk_missing_or_invalid_in_header),
		cmocka_unit_test(
		    test_signature_by_another_key_than_the_header_s),
		cmocka_unit_test(test_stored_key),
		cmocka_unit_test(test_es256_signature_forms),
		cmocka_unit_test(test_rs256_and_eddsa_signature_sizes),
		cmocka_unit_test(test_names_and_messages),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
