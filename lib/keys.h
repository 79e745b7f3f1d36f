/* keys.h: JWT key lists (API.md, "Key lists"): "KID:SECRET,..." or one bare
 * secret whose kid is derived from its SHA-256. The first key signs, every
 * listed key verifies. */
#ifndef LATCH_KEYS_H
#define LATCH_KEYS_H

#include <stddef.h>

#define KEY_KID_MAX 32          /* characters in a kid */
#define KEY_SECRET_MIN 32       /* bytes in a secret */
#define KEY_SECRET_MAX 1024     /* bytes in a secret */
#define KEYSET_MAX 16           /* keys in one list */

struct crypto_mac;

struct key {
	char kid[KEY_KID_MAX + 1];
	unsigned char *secret;  /* owned, secret_len bytes, wiped on free */
	size_t secret_len;
	struct crypto_mac *mac; /* owned: HMAC-SHA-256 keyed with secret,
				 * what signs and verifies (lib/crypto) */
};

struct keyset {
	size_t count;
	struct key keys[KEYSET_MAX];
};

/* 1 when the len bytes at kid (NULL is fine) are a kid: 1 to KEY_KID_MAX
 * of A-Z a-z 0-9 . _ -, else 0. The one rule for a kid, wherever one is
 * read (a key list, a token's header, a device token, latchctl). */
int key_kid_valid(const char *kid, size_t len);

/* Parses spec into *out (which the caller provides and which need not be
 * initialised). On failure returns -1, leaves *out empty (count 0, nothing
 * to free) and writes one line for an operator into err (errsz bytes),
 * naming the problem and the item's position or kid, never the secret.
 * Rules: items separated by ',', white space around items ignored; an item
 * is KID ':' SECRET split at the first ':'; a kid is 1 to 32 of
 * A-Z a-z 0-9 . _ -; a secret is at least 32 bytes; kids are unique. A value
 * with neither ':' nor ',' is one bare secret whose kid is the first 8
 * characters of base64url(SHA-256(secret)). Returns 0 on success; the caller
 * then owns *out and frees it with keyset_free. */
int keyset_parse(const char *spec, struct keyset *out, char *err, size_t errsz);

/* Wipes and frees the secrets of ks and sets count to 0. NULL is fine. */
void keyset_free(struct keyset *ks);

/* The key that signs (the first), or NULL when ks is empty. */
const struct key *keyset_signing_key(const struct keyset *ks);

/* The key whose kid equals the kidlen bytes at kid, or NULL (always for
 * bytes that are no valid kid). */
const struct key *keyset_find(const struct keyset *ks, const char *kid,
    size_t kidlen);

#define KEY_DERIVED_LEN 32      /* bytes in a derived server key */

/* A server key for one purpose, derived from k's secret: HKDF-SHA-256 with
 * the secret as input keying material and label (a NUL-terminated string
 * naming the purpose and its version, e.g. "latch successor seal v2") as
 * info, so that no two purposes share a key and none of them is the JWT
 * signing key itself. The database never sees a derived key. Returns 0,
 * or -1 (out is then wiped). */
int key_derive(const struct key *k, const char *label,
    unsigned char out[KEY_DERIVED_LEN]);

/* 1 when some secret of a equals some secret of b, else 0. */
int keyset_share_secret(const struct keyset *a, const struct keyset *b);

#endif
