/* config.h: the process configuration (API.md, "Configuration"), read once
 * at start-up from the environment and an optional file (KEY=VALUE lines,
 * '#' comments): the one LATCH_CONFIG names, or, when LATCH_CONFIG is
 * unset, latch.conf in the home directory of the user the process runs as
 * (password database), if it is there, private to that user and outside
 * DOCUMENT_ROOT: the rule for shared hosting, where nothing can set
 * LATCH_CONFIG. The environment wins over the file. Every value is
 * validated here, so the rest of the code can trust struct latch_config. */
#ifndef LATCH_CONFIG_H
#define LATCH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "net.h"

#define CONFIG_ORIGINS_MAX 16
#define CONFIG_ORIGIN_MAX NET_ORIGIN_MAX
#define CONFIG_PROXIES_MAX 32

enum reuse_revokes {
	REUSE_REVOKES_SESSION,
	REUSE_REVOKES_USER,
};

struct latch_config {
	char *database_url;             /* owned; NULL: libpq defaults */
	char *database_read_url;        /* owned; NULL: the routes that only
					 * read use database_url too */
	struct keyset access_keys;      /* empty unless CONFIG_NEED_KEYS */
	struct keyset refresh_keys;
	int64_t access_ttl;             /* seconds */
	int64_t refresh_ttl;
	int64_t session_max_age;
	int64_t reuse_grace;            /* may be 0: no grace window */
	int64_t dbsc_cookie_lifetime;   /* 0: DBSC off; capped at
					 * refresh_ttl */
	enum reuse_revokes reuse_revokes;
	char *issuer;                   /* owned; NULL: unset */
	char *audience;                 /* owned; NULL: unset */
	int bcrypt_cost;
	int cookie_secure;
	int allow_signup;
	size_t max_body;                /* bytes */
	size_t n_origins;               /* 0: the server's own origin */
	char origins[CONFIG_ORIGINS_MAX][CONFIG_ORIGIN_MAX + 1];
	size_t n_proxies;
	struct net_cidr proxies[CONFIG_PROXIES_MAX];
};

/* The settings (API.md, "Configuration"), in API.md's order, NULL-ended:
 * the one list of them. A configuration file may set only these; the
 * environment is read for these (and LATCH_CONFIG, which names the file
 * and is no setting). `latchctl config keys` prints it for the scripts
 * that must know the names. */
extern const char *const config_keys[];

/* Flags for config_load. */
#define CONFIG_NEED_KEYS 0x1    /* the JWT key lists must be present */

/* Looks a key up; returns NULL when it is not set. */
typedef const char *(*config_lookup_fn)(void *ctx, const char *key);

/* Loads the configuration from the environment and the file above, if
 * any. On success returns 0 and *cfg is owned by the
 * caller (config_free). On failure returns -1, writes one line naming the
 * key and the problem (never a secret) into err, and leaves nothing to
 * free. */
int config_load(struct latch_config *cfg, unsigned flags, char *err,
    size_t errsz);

/* As config_load, with the values coming from lookup(ctx, key) only. */
int config_load_from(struct latch_config *cfg, unsigned flags,
    config_lookup_fn lookup, void *ctx, char *err, size_t errsz);

/* Frees and wipes what cfg owns. NULL is fine. */
void config_free(struct latch_config *cfg);

/* Parses a duration: digits with an optional suffix s, m, h or d (no sign,
 * no space), at most ten years. Returns 0 and sets *seconds, or -1. */
int config_parse_duration(const char *s, int64_t *seconds);

#endif
