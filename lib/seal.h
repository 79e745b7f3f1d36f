/* seal.h: keeping a successor refresh token for the grace window without
 * storing anything usable. The successor is encrypted (AES-256-GCM) under
 * a key derived (HKDF-SHA-256) from its predecessor token, which the
 * server never stores: only a client that presents the predecessor can
 * open it, and a database dump opens nothing. */
#ifndef LATCH_SEAL_H
#define LATCH_SEAL_H

#include <stddef.h>

#define SEAL_OVERHEAD (12 + 16)         /* nonce and tag */

/* Seals the secret_len bytes at secret under predecessor (pred_len bytes),
 * binding context (a NUL-terminated string such as the session id) as
 * associated data. On success returns 0 and *out (malloc'd, *out_len
 * bytes: nonce, ciphertext, tag) belongs to the caller; otherwise -1 and
 * nothing to free. */
int seal_encrypt(const char *pred, size_t pred_len, const char *context,
    const char *secret, size_t secret_len, unsigned char **out,
    size_t *out_len);

/* Opens what seal_encrypt made with the same predecessor and context.
 * On success returns 0 and *out is a malloc'd NUL-terminated copy of the
 * secret (wipe and free it); -1 when the data was altered, the key is
 * wrong, or memory ran out. */
int seal_decrypt(const char *pred, size_t pred_len, const char *context,
    const unsigned char *sealed, size_t sealed_len, char **out);

#endif
