/* seal.c: the seal's key from HKDF-SHA-256 (lib/crypto), the seal itself
 * AES-256-GCM from OpenSSL 3. */
#include "seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define CONTEXT_MAX 64          /* a session id is 36 */

/* One label for both derivations, with a version: seals of an older
 * scheme (v1: HKDF of the predecessor alone) never open under this one. */
static const char label[] = "latch successor seal v2";

int
seal_server_key(const struct key *k, unsigned char out[SEAL_SERVER_KEY_LEN])
{
	return key_derive(k, label, out);
}

/* The AES key: HKDF with the predecessor token as input keying material
 * and the server key as salt, so its extract step is
 * HMAC-SHA-256(server key, predecessor): a keyed hash of the token under
 * a key the database never sees (RFC 5869, section 3.1, allows a secret
 * salt; here it is what makes a dump plus old tokens useless). The info
 * binds the label and the context (the session id), so no two sessions
 * or purposes share a key even if a token were ever reused. */
static int
derive_key(const unsigned char server_key[SEAL_SERVER_KEY_LEN],
    const char *pred, size_t pred_len, const char *context,
    unsigned char key[KEY_LEN])
{
	char info[sizeof label + CONTEXT_MAX];
	size_t clen = strlen(context);

	if (clen > CONTEXT_MAX)
		return -1;
	/* label, a NUL as separator (neither part contains one), context */
	memcpy(info, label, sizeof label);
	memcpy(info + sizeof label, context, clen);
	return crypto_hkdf_sha256(pred, pred_len, server_key,
	    SEAL_SERVER_KEY_LEN, info, sizeof label + clen, key, KEY_LEN);
}

int
seal_encrypt(const unsigned char server_key[SEAL_SERVER_KEY_LEN],
    const char *pred, size_t pred_len, const char *context,
    const char *secret, size_t secret_len, unsigned char **out,
    size_t *out_len)
{
	unsigned char key[KEY_LEN];
	unsigned char *buf = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	const EVP_CIPHER *cipher;
	int n, total, rc = -1;

	if (secret_len > INT_MAX - SEAL_OVERHEAD)
		return -1;
	if (derive_key(server_key, pred, pred_len, context, key) != 0)
		goto out;
	if ((buf = malloc(secret_len + SEAL_OVERHEAD)) == NULL)
		goto out;
	/* A fresh nonce each time, though each key seals only once. */
	if (crypto_random(buf, NONCE_LEN) != 0)
		goto out;
	if ((cipher = crypto_aes_256_gcm()) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, cipher, NULL, key, buf) != 1 ||
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
	/* Frees the cipher context after wiping its key schedule. */
	EVP_CIPHER_CTX_free(ctx);
	free(buf);              /* ciphertext only (or nothing yet) */
	return rc;
}

int
seal_decrypt(const unsigned char server_key[SEAL_SERVER_KEY_LEN],
    const char *pred, size_t pred_len, const char *context,
    const unsigned char *sealed, size_t sealed_len, char **out)
{
	unsigned char key[KEY_LEN];
	unsigned char tag[TAG_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	const EVP_CIPHER *cipher;
	char *plain = NULL;
	size_t len;
	int n, total, rc = -1;

	if (sealed_len < SEAL_OVERHEAD || sealed_len > INT_MAX)
		return -1;
	len = sealed_len - SEAL_OVERHEAD;
	if (derive_key(server_key, pred, pred_len, context, key) != 0)
		goto out;
	if ((plain = malloc(len + 1)) == NULL)
		goto out;
	memcpy(tag, sealed + sealed_len - TAG_LEN, TAG_LEN);
	if ((cipher = crypto_aes_256_gcm()) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, cipher, NULL, key, sealed) != 1 ||
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
	/* Unauthenticated plaintext, or a copy never handed out. */
	crypto_wipe_free(plain, len + 1);
	return rc;
}
