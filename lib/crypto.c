/* crypto.c: thin wrappers over OpenSSL. */
#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "b64url.h"

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

	if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 ||
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
