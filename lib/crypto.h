/* crypto.h: the few OpenSSL primitives latch needs, with uniform error
 * returns. */
#ifndef LATCH_CRYPTO_H
#define LATCH_CRYPTO_H

#include <stddef.h>

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
 * Returns 0, or -1. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data,
    size_t n, unsigned char out[CRYPTO_SHA256_LEN]);

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
