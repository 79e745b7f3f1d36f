/* config_fixture.h: for unit tests that need a loaded configuration (the
 * key lists) without an environment: config_fixture_load(&cfg, "KEY=VALUE")
 * with a refresh key list; the access list is a fixed test key. Free it
 * with config_free. */
#ifndef LATCH_TEST_CONFIG_FIXTURE_H
#define LATCH_TEST_CONFIG_FIXTURE_H

#include <string.h>

#include "config.h"

static const char *
config_fixture_lookup(void *ctx, const char *key)
{
	const char *const *kv = ctx;
	size_t n = strlen(key);

	for (; *kv != NULL; kv++)
		if (strncmp(*kv, key, n) == 0 && (*kv)[n] == '=')
			return *kv + n + 1;
	return NULL;
}

static void
config_fixture_load(struct latch_config *cfg, const char *refresh)
{
	const char *kv[] = {
		"JWT_ACCESS_SECRET=a1:access-secret-access-secret-access-secret",
		refresh, NULL,
	};
	char err[256];

	assert_int_equal(config_load_from(cfg, CONFIG_NEED_KEYS,
	    config_fixture_lookup, (void *)kv, err, sizeof err), 0);
}

#endif
