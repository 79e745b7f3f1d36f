/* dbhosts.h: a connection string that asks for a read-write server
 * (target_session_attrs=read-write or primary), split into one connection
 * string per host it lists (one, when it lists one or none), so that
 * lib/db.c can ask each host's server itself whether it takes writes.
 *
 * Why not leave it to libpq: libpq 14 and later decide "read-write" from
 * what the server reports when a session starts (in_hot_standby,
 * default_transaction_read_only), and a pooler reports what its first
 * server connection said, maybe long ago. PgBouncer 1.18 in front of a
 * promoted replica still says "standby", and in front of a dead primary
 * still says "primary", so libpq keeps choosing the dead one (measured:
 * tests/cluster). A statement goes through to the real server. */
#ifndef LATCH_DBHOSTS_H
#define LATCH_DBHOSTS_H

#include <stddef.h>

/* At most this many hosts are tried, in the order listed. */
#define DBHOSTS_MAX 16

struct dbhosts;

/* Parses conninfo (a URI or keyword string, as libpq takes it). Returns
 * 0 with *out NULL when it is not such a string (no read-write wish:
 * libpq does all), 0 with *out set (owned by the caller, dbhosts_free),
 * or -1 when it cannot be parsed or lists ports that do not pair with
 * the hosts (libpq then says why when it connects), lists more than
 * DBHOSTS_MAX hosts, or memory ran out. */
int dbhosts_parse(const char *conninfo, struct dbhosts **out);

size_t dbhosts_count(const struct dbhosts *h);

/* Host i's connection keywords: first each of defaults_keys (NULL
 * terminated, with defaults_values) the connection string does not set,
 * then everything the string sets, with host, hostaddr and port those of
 * host i alone and target_session_attrs=any. keys and values receive
 * max entries at most, NULL terminated; they point into h and the
 * defaults, valid while both are. Returns 0, or -1 when max is too small. */
int dbhosts_params(const struct dbhosts *h, size_t i,
    const char *const *defaults_keys, const char *const *defaults_values,
    const char **keys, const char **values, size_t max);

/* Frees h (its strings may hold a password: wiped). NULL is fine. */
void dbhosts_free(struct dbhosts *h);

#endif
