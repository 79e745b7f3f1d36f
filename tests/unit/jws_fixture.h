/* jws_fixture.h: for the units of lib/jwk and lib/dpop: fresh key pairs
 * made with OpenSSL (EVP_PKEY_Q_keygen), their public JWK as JSON text,
 * and compact JWS signed with them, including deliberately wrong
 * signatures. Header-only; every failure is a cmocka assertion. */
#ifndef LATCH_TEST_JWS_FIXTURE_H
#define LATCH_TEST_JWS_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "jwk.h"

#define FX_TEXT 16384

/* snprintf into out of FX_TEXT bytes, asserting that it fits. */
static void fx_fmt(char *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fx_fmt(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, FX_TEXT, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && n < FX_TEXT);
}

/* A fresh key pair for alg (RSA: of bits bits). */
static EVP_PKEY *
fx_keygen(enum jws_alg alg, unsigned bits)
{
	EVP_PKEY *k = NULL;

	switch (alg) {
	case JWS_ES256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case JWS_RS256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
		break;
	case JWS_EDDSA:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	}
	assert_non_null(k);
	return k;
}

/* base64url of the n bytes at b into out (capacity FX_TEXT). */
static void
fx_b64(const void *b, size_t n, char *out)
{
	assert_true(b64url_encode(b, n, out, FX_TEXT) >= 0);
}

/* The big-endian bytes of the BIGNUM parameter name of k, padded to pad
 * bytes (0: minimal), base64url into out. */
static void
fx_bn_b64(const EVP_PKEY *k, const char *name, int pad, char *out)
{
	unsigned char buf[1024];
	BIGNUM *bn = NULL;
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	assert_true(n > 0);
	fx_b64(buf, (size_t)n, out);
	BN_free(bn);
}

/* The public JWK of k as JSON text into out (FX_TEXT), with extra (a
 * JSON fragment starting with ',', or "") before the closing brace. */
static void
fx_jwk_json(const EVP_PKEY *k, enum jws_alg alg, const char *extra,
    char *out)
{
	static char a[FX_TEXT], b[FX_TEXT];
	unsigned char raw[32];
	size_t rawlen = sizeof raw;

	switch (alg) {
	case JWS_ES256:
		fx_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 32, a);
		fx_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, b);
		fx_fmt(out, "{\"kty\":\"EC\",\"crv\":\"P-256\","
		    "\"x\":\"%s\",\"y\":\"%s\"%s}", a, b, extra);
		break;
	case JWS_RS256:
		fx_bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0, a);
		fx_bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0, b);
		fx_fmt(out, "{\"kty\":\"RSA\",\"n\":\"%s\","
		    "\"e\":\"%s\"%s}", a, b, extra);
		break;
	case JWS_EDDSA:
		assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &rawlen),
		    1);
		fx_b64(raw, rawlen, a);
		fx_fmt(out, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		    "\"x\":\"%s\"%s}", a, extra);
		break;
	}
}

/* The raw JWS signature (ES256: r||s, 64 bytes) of the n bytes at input
 * under k into sig (capacity 1024); returns its length. */
static size_t
fx_sign_raw(EVP_PKEY *k, enum jws_alg alg, const char *input, size_t n,
    unsigned char *sig)
{
	unsigned char der[1024];
	size_t len = sizeof der;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL,
	    alg == JWS_EDDSA ? NULL : "SHA256", NULL, NULL, k, NULL), 1);
	assert_int_equal(EVP_DigestSign(ctx, der, &len,
	    (const unsigned char *)input, n), 1);
	EVP_MD_CTX_free(ctx);
	if (alg == JWS_ES256) {
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
		const BIGNUM *r, *s;

		assert_non_null(es);
		ECDSA_SIG_get0(es, &r, &s);
		assert_int_equal(BN_bn2binpad(r, sig, 32), 32);
		assert_int_equal(BN_bn2binpad(s, sig + 32, 32), 32);
		ECDSA_SIG_free(es);
		return 64;
	}
	memcpy(sig, der, len);
	return len;
}

/* "b64(header).b64(payload)" into out (FX_TEXT); returns its length. */
static size_t
fx_signing_input(const char *header, const char *payload, char *out)
{
	static char a[FX_TEXT], b[FX_TEXT];

	fx_b64(header, strlen(header), a);
	fx_b64(payload, strlen(payload), b);
	fx_fmt(out, "%s.%s", a, b);
	return strlen(out);
}

/* Appends ".b64(sig)" to the signing input in out. */
static size_t
fx_append_sig(char *out, const unsigned char *sig, size_t n)
{
	size_t at = strlen(out);

	out[at] = '.';
	assert_true(b64url_encode(sig, n, out + at + 1, FX_TEXT - at - 1) >=
	    0);
	return strlen(out);
}

/* A compact JWS of header and payload (JSON texts) signed under k with
 * alg into out (FX_TEXT); returns its length. */
static size_t
fx_jws(EVP_PKEY *k, enum jws_alg alg, const char *header,
    const char *payload, char *out)
{
	unsigned char sig[1024];
	size_t n = fx_signing_input(header, payload, out);
	size_t sl = fx_sign_raw(k, alg, out, n, sig);

	return fx_append_sig(out, sig, sl);
}

/* A DPoP-style header: typ, alg and the key of k as jwk. */
static void
fx_header(const EVP_PKEY *k, enum jws_alg alg, const char *typ, char *out)
{
	static char jwk[FX_TEXT];

	fx_jwk_json(k, alg, "", jwk);
	fx_fmt(out, "{\"typ\":\"%s\",\"alg\":\"%s\",\"jwk\":%s}",
	    typ, jws_alg_name(alg), jwk);
}

#endif
