/* seal.c: HKDF-SHA-256 and AES-256-GCM from OpenSSL 3. */
#include "seal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16

static const char hkdf_salt[] = "latch refresh successor seal v1";

static int
derive_key(const char *pred, size_t pred_len, const char *context,
    unsigned char key[KEY_LEN])
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	int rc = -1;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)pred, pred_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)hkdf_salt, sizeof hkdf_salt - 1);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)context, strlen(context));
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, key, KEY_LEN, params) != 1)
		goto out;
	rc = 0;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

int
seal_encrypt(const char *pred, size_t pred_len, const char *context,
    const char *secret, size_t secret_len, unsigned char **out,
    size_t *out_len)
{
	unsigned char key[KEY_LEN];
	unsigned char *buf = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n, total, rc = -1;

	if (secret_len > INT_MAX - SEAL_OVERHEAD || strlen(context) > INT_MAX)
		return -1;
	if (derive_key(pred, pred_len, context, key) != 0)
		goto out;
	if ((buf = malloc(secret_len + SEAL_OVERHEAD)) == NULL)
		goto out;
	/* A fresh nonce each time, though each key seals only once. */
	if (crypto_random(buf, NONCE_LEN) != 0)
		goto out;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)context,
	    (int)strlen(context)) != 1 ||
	    EVP_EncryptUpdate(ctx, buf + NONCE_LEN, &n,
	    (const unsigned char *)secret, (int)secret_len) != 1)
		goto out;
	total = n;
	if (EVP_EncryptFinal_ex(ctx, buf + NONCE_LEN + total, &n) != 1)
		goto out;
	total += n;
	if ((size_t)total != secret_len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	    buf + NONCE_LEN + total) != 1)
		goto out;
	*out = buf;
	*out_len = secret_len + SEAL_OVERHEAD;
	buf = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	return rc;
}

int
seal_decrypt(const char *pred, size_t pred_len, const char *context,
    const unsigned char *sealed, size_t sealed_len, char **out)
{
	unsigned char key[KEY_LEN];
	unsigned char tag[TAG_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	char *plain = NULL;
	size_t len;
	int n, total, rc = -1;

	if (sealed_len < SEAL_OVERHEAD || sealed_len > INT_MAX ||
	    strlen(context) > INT_MAX)
		return -1;
	len = sealed_len - SEAL_OVERHEAD;
	if (derive_key(pred, pred_len, context, key) != 0)
		goto out;
	if ((plain = malloc(len + 1)) == NULL)
		goto out;
	memcpy(tag, sealed + sealed_len - TAG_LEN, TAG_LEN);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, sealed) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)context,
	    (int)strlen(context)) != 1 ||
	    EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n,
	    sealed + NONCE_LEN, (int)len) != 1)
		goto out;
	total = n;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + total, &n) != 1)
		goto out;
	total += n;
	if ((size_t)total != len || memchr(plain, '\0', len) != NULL)
		goto out;
	plain[len] = '\0';
	*out = plain;
	plain = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	EVP_CIPHER_CTX_free(ctx);
	if (plain != NULL) {
		OPENSSL_cleanse(plain, len + 1);
		free(plain);
	}
	return rc;
}
