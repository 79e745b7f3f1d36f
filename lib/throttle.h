/* throttle.h: the brute-force limiter of login and sign-up (migration
 * 003): failures counted in PostgreSQL per account and client address,
 * per address, and per account, with doubling blocks. */
#ifndef LATCH_THROTTLE_H
#define LATCH_THROTTLE_H

#include <stdint.h>

#include "crypto.h"
#include "db.h"

/* The three keys of one attempt, as hex SHA-256 digests. */
struct throttle_keys {
	char pair[2 * CRYPTO_SHA256_LEN + 1];
	char address[2 * CRYPTO_SHA256_LEN + 1];
	char account[2 * CRYPTO_SHA256_LEN + 1];
};

/* Derives the keys of an attempt on account (a username or email, folded
 * to lower case so that "Alice" and "alice" share a limit) from ip (the
 * canonical client address). Returns 0, or -1. */
int throttle_keys_make(const char *account, const char *ip,
    struct throttle_keys *out);

/* How long the attempt must wait: *seconds is 0 when it may go ahead.
 * Returns DB_OK or a negative enum db_err. */
int throttle_wait(struct db *db, const struct throttle_keys *keys,
    int64_t now, int *seconds);

/* Counts one failed attempt under all three keys. Returns DB_OK or a
 * negative enum db_err. */
int throttle_fail(struct db *db, const struct throttle_keys *keys,
    int64_t now);

/* A successful login clears its account-and-address key. Returns DB_OK or
 * a negative enum db_err. */
int throttle_clear_pair(struct db *db, const struct throttle_keys *keys);

#endif
