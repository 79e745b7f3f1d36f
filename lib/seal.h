/* seal.h: keeping a successor refresh token for the grace window without
 * storing anything usable. The successor is encrypted (AES-256-GCM) under
 * a key derived (HKDF-SHA-256) from two secrets, neither of which the
 * database ever holds: its predecessor token (only its hash is stored)
 * and a server key derived from the refresh key that signed that
 * predecessor. A database dump therefore opens nothing, not even for
 * someone who also holds old refresh tokens: without the server key no
 * token yields a seal's key. (The database also deletes each seal as soon
 * as it can no longer be used; see migrations/005_seal_lifetime.sql.) */
#ifndef LATCH_SEAL_H
#define LATCH_SEAL_H

#include <stddef.h>

#include "keys.h"

#define SEAL_OVERHEAD (12 + 16)         /* nonce and tag */
#define SEAL_SERVER_KEY_LEN KEY_DERIVED_LEN

/* The server half of a seal's key: key_derive(k, "latch successor seal
 * v2"), where k is the refresh key whose kid the predecessor token names.
 * Taking the predecessor's own key (rather than whichever key signs now)
 * keeps a key-list rotation from breaking the grace window: a token that
 * still verifies has its key still listed, so the key that sealed its
 * successor is still there to open it. Returns 0, or -1 (out is then
 * wiped). The caller wipes out after use. */
int seal_server_key(const struct key *k,
    unsigned char out[SEAL_SERVER_KEY_LEN]);

/* Seals the secret_len bytes at secret under server_key and predecessor
 * (pred_len bytes), binding context (a NUL-terminated string such as the
 * session id) both into the key and as associated data. On success
 * returns 0 and *out (malloc'd, *out_len bytes: nonce, ciphertext, tag)
 * belongs to the caller; otherwise -1 and nothing to free. */
int seal_encrypt(const unsigned char server_key[SEAL_SERVER_KEY_LEN],
    const char *pred, size_t pred_len, const char *context,
    const char *secret, size_t secret_len, unsigned char **out,
    size_t *out_len);

/* Opens what seal_encrypt made with the same server key, predecessor and
 * context. On success returns 0 and *out is a malloc'd NUL-terminated
 * copy of the secret (wipe and free it); -1 when the data was altered,
 * either key half is wrong, or memory ran out (*out is then untouched). */
int seal_decrypt(const unsigned char server_key[SEAL_SERVER_KEY_LEN],
    const char *pred, size_t pred_len, const char *context,
    const unsigned char *sealed, size_t sealed_len, char **out);

#endif
