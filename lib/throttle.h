/* throttle.h: the brute-force limiter of login and sign-up (migrations 003
 * and 006). Attempts are counted in PostgreSQL, so the limit holds across
 * processes and hosts, under keys that are HMAC-SHA-256 digests under a
 * server key derived from the refresh key list: the table names no account
 * and no address, and a dump cannot confirm a guess.
 *
 * An untrusted attempt (no valid device token) is counted under three keys:
 * the account with the client address ("pair"), the address alone
 * ("address") and the account from anywhere ("account"). An attempt that
 * presents a valid device token of the account is counted under that
 * device's key alone ("device"), so that no stranger can keep the owner
 * out. The limits themselves live in migration 006.
 *
 * Flow: throttle_keys_make, then throttle_begin before the password is
 * checked (it counts the attempt as a failure, or says how long to wait),
 * then throttle_settle after a success (it takes the attempt back). */
#ifndef LATCH_THROTTLE_H
#define LATCH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "crypto.h"
#include "db.h"

#define THROTTLE_KEYS_MAX 3
/* "6:" + an IPv6 text of its /64 + "/64", or "4:" + an IPv4 text. */
#define THROTTLE_ADDRESS_MAX 64

/* Who an attempt is on. A known account is named by its id, however the
 * login named it (username or email, in any spelling the database folds
 * together); an unknown name by the database's fold of it (lower(), as
 * lib/user returns it) and by how it was given (username or email), so
 * that unknown names are limited alike without telling which is which: a
 * username and an email that match no account never share a budget, as
 * they never would if either matched one. */
struct throttle_subject {
	int64_t account_id;             /* > 0: a known account */
	const char *folded_name;        /* used when account_id is 0 */
	int by_email;                   /* the name was given as an email */
};

/* The keys of one attempt. */
struct throttle_keys {
	size_t n;
	const char *scope[THROTTLE_KEYS_MAX];   /* literals */
	unsigned char key[THROTTLE_KEYS_MAX][CRYPTO_SHA256_LEN];
};

/* The part of a client address the limiter keys on, as text into out:
 * "4:a.b.c.d" for IPv4, for IPv4-mapped IPv6 (::ffff:a.b.c.d) and for
 * NAT64's well-known prefix (64:ff9b::a.b.c.d, RFC 6052), and
 * "6:<prefix>/64" for any other IPv6 address, since whoever holds one
 * address of a /64 usually holds all 2^64 of them. Returns 0, or -1 when
 * ip is not an IPv4 or IPv6 address. */
int throttle_address_subject(const char *ip, char out[THROTTLE_ADDRESS_MAX]);

/* Derives the keys of an attempt by who from the client address ip. With
 * trusted_device (the stored hash of a device token that lib/user found
 * live for that account, CRYPTO_SHA256_LEN bytes), the one key is that
 * device's; otherwise (NULL) the pair, address and account keys. The HMAC key is derived from cfg's refresh
 * signing key, so a key rotation starts every count afresh. Returns 0, or
 * -1 (ip unusable, out of memory: *out is then empty). */
int throttle_keys_make(const struct latch_config *cfg,
    const struct throttle_subject *who, const char *ip,
    const unsigned char *trusted_device, struct throttle_keys *out);

/* Takes the attempt: when a key is blocked, *wait_seconds is how long to
 * wait and nothing is counted; otherwise the attempt is counted as a
 * failure under every key and *wait_seconds is 0. Concurrent attempts take
 * turns, so each sees all those before it. Returns DB_OK or a negative
 * enum db_err (nothing counted). */
int throttle_begin(struct db *db, const struct throttle_keys *keys,
    int64_t now, int *wait_seconds);

/* After a successful login: takes the attempt of throttle_begin back (the
 * pair and device keys start again from zero). Returns DB_OK or a negative
 * enum db_err (the attempt then stays counted: the safe side). */
int throttle_settle(struct db *db, const struct throttle_keys *keys);

#endif
