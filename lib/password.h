/* password.h: password checks with crypt(3) from libxcrypt, so every hash
 * it knows verifies ($2a$, $2b$, $2y$ bcrypt, $y$ yescrypt, $6$ ...), and
 * new hashes are $2b$ bcrypt at the configured cost. */
#ifndef LATCH_PASSWORD_H
#define LATCH_PASSWORD_H

#include <stddef.h>

#define PASSWORD_MAX 72         /* bytes: bcrypt ignores the rest */
#define PASSWORD_HASH_MAX 384   /* CRYPT_OUTPUT_SIZE */

enum password_result {
	PASSWORD_OK = 0,        /* the password matches */
	PASSWORD_MISMATCH = 1,  /* it does not, the hash can never match, or
				 * crypt itself failed: never a match */
};

struct password_ctx;

/* Creates a context for hashing at cost (4..31): one 32 KiB crypt_data
 * scratch area and a dummy bcrypt setting of that cost, used to spend the
 * same time when there is no usable hash to check. Returns 0, or -1.
 * It measures nothing yet: the estimate of a full-cost check (see
 * password_verify) is taken from the first full-cost crypt it runs. */
int password_ctx_new(int cost, struct password_ctx **out);

/* Wipes and frees ctx. NULL is fine. */
void password_ctx_free(struct password_ctx *ctx);

/* Checks pw (pwlen bytes, no NUL inside) against the stored crypt(3) hash.
 * When stored is NULL (no such user) or can never verify (a locked "*" or
 * "!" value, an unknown scheme), the dummy setting is hashed instead and
 * PASSWORD_MISMATCH is returned. The comparison is constant-time.
 *
 * Every PASSWORD_MISMATCH costs at least one full check at ctx's cost,
 * whatever stored is: a mismatch against a hash that is not at full cost
 * (see password_at_full_cost: $6$, $y$, bcrypt of a lower cost) is padded
 * with CPU work up to the CPU time a full-cost check takes in this process
 * (measured from its full-cost runs; the first padded failure of a process
 * without one measures a bcrypt two costs lower and scales it, as part of
 * its padding). So a wrong password for an imported account is as slow as
 * an unknown name, under any load. A match is never padded, and neither
 * is a mismatch against a hash at or above full cost. */
enum password_result password_verify(struct password_ctx *ctx, const char *pw,
    size_t pwlen, const char *stored);

/* Hashes pw as $2b$ at ctx's cost with a salt from the OS into out
 * (outsz bytes, PASSWORD_HASH_MAX is enough). Returns 0, or -1 (pw over
 * PASSWORD_MAX bytes, a NUL inside, or a failure). */
int password_hash(struct password_ctx *ctx, const char *pw, size_t pwlen,
    char *out, size_t outsz);

/* 1 when stored should be replaced by a fresh hash: it is not $2b$, or
 * its cost is below cost. A higher cost is left alone. */
int password_needs_rehash(const char *stored, int cost);

/* 1 when checking stored costs at least as much as the dummy of that
 * cost: a bcrypt hash ($2a$, $2b$, $2x$, $2y$: one algorithm) of that
 * cost or higher. 0 for every other scheme, whose cost this module does
 * not try to compare with bcrypt's, and for NULL or garbage. */
int password_at_full_cost(const char *stored, int cost);

/* What a context has measured and done, for tests and diagnostics. */
struct password_stats {
	long long full_cost_ns;         /* CPU ns of one full-cost check, the
	                                 * padding target; 0: not measured */
	unsigned long samples;          /* full-cost crypt runs measured */
	unsigned long padded;           /* mismatches padded */
};

/* Copies ctx's counters into *out. */
void password_ctx_stats(const struct password_ctx *ctx,
    struct password_stats *out);

#endif
