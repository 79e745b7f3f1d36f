/* crypto.c: thin wrappers over OpenSSL. */
#include "crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"

/* The algorithms latch uses, fetched once for the process: an implicit
 * fetch (EVP_sha256(), HMAC(), EVP_KDF_fetch per call) looks each one up
 * in OpenSSL's provider store under a lock on every use, which profiled
 * as more than the hashing of a token itself. Fetched on first use under
 * pthread_once (a login process may run more than one thread), freed at
 * exit. */
static struct {
	EVP_MD *sha256;
	EVP_MAC *hmac;
	EVP_KDF *hkdf;
	EVP_CIPHER *aes_gcm;
	int ok;
} algs;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void
algs_free(void)
{
	EVP_MD_free(algs.sha256);
	EVP_MAC_free(algs.hmac);
	EVP_KDF_free(algs.hkdf);
	EVP_CIPHER_free(algs.aes_gcm);
	memset(&algs, 0, sizeof algs);
}

static void
algs_fetch(void)
{
	algs.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	algs.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	algs.hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	algs.aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	algs.ok = algs.sha256 != NULL && algs.hmac != NULL &&
	    algs.hkdf != NULL && algs.aes_gcm != NULL;
	/* Registered after OpenSSL's own exit handler (the fetches above
	 * initialised the library), so it runs before OpenSSL cleans up. */
	if (atexit(algs_free) != 0)
		algs.ok = 0;
}

/* 1 when the algorithms are there, else 0. */
static int
algs_ready(void)
{
	return pthread_once(&algs_once, algs_fetch) == 0 && algs.ok;
}

const EVP_CIPHER *
crypto_aes_256_gcm(void)
{
	return algs_ready() ? algs.aes_gcm : NULL;
}

int
crypto_random(void *buf, size_t n)
{
	if (n > INT_MAX)
		return -1;
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int
crypto_sha256(const void *data, size_t n, unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned int len = 0;

	if (!algs_ready() ||
	    EVP_Digest(data, n, out, &len, algs.sha256, NULL) != 1 ||
	    len != CRYPTO_SHA256_LEN)
		return -1;
	return 0;
}

void
crypto_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int
crypto_sha256_hex(const void *data, size_t n,
    char out[2 * CRYPTO_SHA256_LEN + 1])
{
	unsigned char md[CRYPTO_SHA256_LEN];

	if (crypto_sha256(data, n, md) != 0)
		return -1;
	crypto_hex(md, sizeof md, out);
	return 0;
}

void
crypto_wipe_free(void *p, size_t n)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

void
crypto_free_secret(char *s)
{
	if (s != NULL)
		crypto_wipe_free(s, strlen(s));
}

struct crypto_mac {
	EVP_MAC_CTX *keyed;     /* initialised with the key, never finalised */
};

int
crypto_mac_new(const void *key, size_t key_len, struct crypto_mac **out)
{
	static const unsigned char empty[1];
	OSSL_PARAM params[2];
	struct crypto_mac *m;

	*out = NULL;
	if (!algs_ready() || (m = calloc(1, sizeof *m)) == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((m->keyed = EVP_MAC_CTX_new(algs.hmac)) == NULL ||
	    EVP_MAC_init(m->keyed, key_len > 0 ? key : empty, key_len,
	    params) != 1) {
		crypto_mac_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

int
crypto_mac_sha256(const struct crypto_mac *m, const void *data, size_t n,
    unsigned char out[CRYPTO_SHA256_LEN])
{
	static const unsigned char empty[1];
	EVP_MAC_CTX *ctx;
	size_t len = 0;
	int rc = -1;

	/* A copy of the keyed state per message: m stays untouched. */
	if (m == NULL || (ctx = EVP_MAC_CTX_dup(m->keyed)) == NULL)
		return -1;
	if (EVP_MAC_update(ctx, n > 0 ? data : empty, n) == 1 &&
	    EVP_MAC_final(ctx, out, &len, CRYPTO_SHA256_LEN) == 1 &&
	    len == CRYPTO_SHA256_LEN)
		rc = 0;
	EVP_MAC_CTX_free(ctx);
	return rc;
}

void
crypto_mac_free(struct crypto_mac *m)
{
	if (m == NULL)
		return;
	/* OpenSSL wipes the HMAC state (the padded key) as it frees it. */
	EVP_MAC_CTX_free(m->keyed);
	free(m);
}

int
crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
    size_t n, unsigned char out[CRYPTO_SHA256_LEN])
{
	struct crypto_mac *m;
	int rc;

	if (crypto_mac_new(key, key_len, &m) != 0)
		return -1;
	rc = crypto_mac_sha256(m, data, n, out);
	crypto_mac_free(m);
	return rc;
}

int
crypto_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt,
    size_t salt_len, const void *info, size_t info_len, unsigned char *out,
    size_t out_len)
{
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -1;

	if (!algs_ready() || (kctx = EVP_KDF_CTX_new(algs.hkdf)) == NULL)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)ikm, ikm_len);
	if (salt != NULL && salt_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		    (void *)salt, salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		OPENSSL_cleanse(out, out_len);
	EVP_KDF_CTX_free(kctx);
	return rc;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
crypto_unhex(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (hex[2 * i] == '\0' || (hi = hex_value(hex[2 * i])) < 0 ||
		    (lo = hex_value(hex[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0' ? 0 : -1;
}

int
crypto_uuid4(char out[CRYPTO_UUID_LEN + 1])
{
	unsigned char b[16];
	char hex[33];

	if (crypto_random(b, sizeof b) != 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
	crypto_hex(b, sizeof b, hex);
	snprintf(out, CRYPTO_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s",
	    hex, hex + 8, hex + 12, hex + 16, hex + 20);
	OPENSSL_cleanse(b, sizeof b);
	return 0;
}

int
crypto_is_uuid(const char *s)
{
	for (size_t i = 0; i < CRYPTO_UUID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F'))) {
			return 0;
		}
	}
	return s[CRYPTO_UUID_LEN] == '\0';
}

int
crypto_random_b64url(size_t n, char *out, size_t outsz)
{
	unsigned char buf[64];
	int rc = -1;

	if (n > sizeof buf || crypto_random(buf, n) != 0)
		goto out;
	if (b64url_encode(buf, n, out, outsz) < 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof buf);
	return rc;
}
