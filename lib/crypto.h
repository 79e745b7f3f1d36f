/* crypto.h: the few OpenSSL primitives latch needs, with uniform error
 * returns. */
#ifndef LATCH_CRYPTO_H
#define LATCH_CRYPTO_H

#include <stddef.h>

#include <openssl/types.h>

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_UUID_LEN 36      /* characters, without the NUL */

/* Fills buf with n bytes from the OpenSSL CSPRNG. Returns 0, or -1 when the
 * generator failed (buf is then unusable). */
int crypto_random(void *buf, size_t n);

/* SHA-256 of n bytes at data into out. Returns 0, or -1. */
int crypto_sha256(const void *data, size_t n,
    unsigned char out[CRYPTO_SHA256_LEN]);

/* Lower-case hex of n bytes into out (capacity 2n+1). */
void crypto_hex(const unsigned char *in, size_t n, char *out);

/* The hex SHA-256 of n bytes at data, the form in which a token's hash is
 * sent to PostgreSQL (decode($n, 'hex')). Returns 0, or -1. */
int crypto_sha256_hex(const void *data, size_t n,
    char out[2 * CRYPTO_SHA256_LEN + 1]);

/* Wipes n bytes at p, then frees p. NULL is fine. The one way a buffer
 * that held a secret (a token, a seal, a key) goes back to the heap. */
void crypto_wipe_free(void *p, size_t n);

/* crypto_wipe_free of the NUL-terminated string s. NULL is fine. */
void crypto_free_secret(char *s);

/* HMAC-SHA-256 of n bytes at data under key (key_len bytes) into out.
 * Returns 0, or -1. For a key used once; a key used for many messages is
 * held as a struct crypto_mac. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
    size_t n, unsigned char out[CRYPTO_SHA256_LEN]);

/* An HMAC-SHA-256 key, keyed once: what a long-lived key (a JWT key) is
 * held as, so that each message costs only its hashing (keying and
 * OpenSSL's algorithm lookup cost more than hashing a token). Opaque;
 * the context holds the key's padded state, wiped when it is freed. */
struct crypto_mac;

/* Keys a new crypto_mac with key_len bytes at key (copied into OpenSSL's
 * state: the caller keeps its own copy). Returns 0 with *out owned by the
 * caller (crypto_mac_free), or -1 (out of memory, OpenSSL failure). */
int crypto_mac_new(const void *key, size_t key_len, struct crypto_mac **out);

/* HMAC-SHA-256 of n bytes at data under m into out. m is only read, so
 * one crypto_mac may serve several threads. Returns 0, or -1. */
int crypto_mac_sha256(const struct crypto_mac *m, const void *data, size_t n,
    unsigned char out[CRYPTO_SHA256_LEN]);

/* Wipes and frees m. NULL is fine. */
void crypto_mac_free(struct crypto_mac *m);

/* AES-256-GCM as fetched once for the process (OpenSSL's implicit fetch
 * on each EVP_EncryptInit_ex with EVP_aes_256_gcm() is a lookup under a
 * lock per call). Borrowed: never freed by the caller. NULL when OpenSSL
 * cannot provide it. */
const EVP_CIPHER *crypto_aes_256_gcm(void);

/* HKDF-SHA-256 (RFC 5869): out_len bytes from the input keying material
 * ikm, an optional salt (NULL or salt_len 0: none) and info. Returns 0, or
 * -1 (out is then unusable and wiped). */
int crypto_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt,
    size_t salt_len, const void *info, size_t info_len, unsigned char *out,
    size_t out_len);

/* Decodes exactly 2n hex digits (either case) at hex into n bytes at out.
 * Returns 0, or -1 when hex is not 2n hex digits followed by a NUL. The
 * one hex decoder: bytes read from PostgreSQL come as encode(x, 'hex'),
 * whatever the server's bytea_output. */
int crypto_unhex(const char *hex, unsigned char *out, size_t n);

/* A random (version 4) UUID in its canonical lower-case text form.
 * Returns 0, or -1 when the generator failed. */
int crypto_uuid4(char out[CRYPTO_UUID_LEN + 1]);

/* 1 when s is a canonical lower- or upper-case UUID text of 36 characters,
 * else 0. */
int crypto_is_uuid(const char *s);

/* n random bytes, base64url-encoded into out (capacity outsz). Returns 0,
 * or -1 when the generator failed or out is too small. */
int crypto_random_b64url(size_t n, char *out, size_t outsz);

#endif
