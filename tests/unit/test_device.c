/* test_device.c: device token hashing (lib/device): which presented values
 * can be a token at all, and that the stored hash is keyed per kid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_fixture.h"
#include "config.h"
#include "crypto.h"
#include "device.h"
#include "keys.h"

#define RANDOM43 "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE"

static int
hash_of(const struct latch_config *cfg, const char *token,
    unsigned char out[CRYPTO_SHA256_LEN])
{
	return device_token_hash(cfg, token, strlen(token), out);
}

static void
test_a_well_formed_token_of_a_listed_kid_hashes(void **state)
{
	struct latch_config cfg;
	unsigned char h[CRYPTO_SHA256_LEN], server[KEY_DERIVED_LEN];
	unsigned char want[CRYPTO_SHA256_LEN];
	static const char token[] = "r1." RANDOM43;

	(void)state;
	config_fixture_load(&cfg,
	    "JWT_REFRESH_SECRET=r1:refresh-secret-refresh-secret-refresh,"
	    "r0:older-secret-older-secret-older-secret");
	assert_int_equal(strlen(RANDOM43), 43);
	assert_int_equal(hash_of(&cfg, token, h), 0);
	/* HMAC of the whole token under the kid's derived key: no sha256. */
	assert_int_equal(key_derive(keyset_find(&cfg.refresh_keys, "r1", 2),
	    "latch device token v1", server), 0);
	assert_int_equal(crypto_hmac_sha256(server, sizeof server, token,
	    strlen(token), want), 0);
	assert_memory_equal(h, want, sizeof want);
	/* A token of the older, still listed key hashes under that key. */
	assert_int_equal(hash_of(&cfg, "r0." RANDOM43, h), 0);
	assert_memory_not_equal(h, want, sizeof want);
	config_free(&cfg);
}

static void
test_malformed_tokens_and_unlisted_kids_are_refused(void **state)
{
	struct latch_config cfg;
	unsigned char h[CRYPTO_SHA256_LEN];
	const char *bad[] = {
		"", ".", "r1", "r1.", "." RANDOM43, "r2." RANDOM43,
		"r1." RANDOM43 "A", "r1.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCd",
		"r1.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbC=",
		"r1.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdE",
		"r1..bCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE",
		"R1." RANDOM43,
	};

	(void)state;
	config_fixture_load(&cfg,
	    "JWT_REFRESH_SECRET=r1:refresh-secret-refresh-secret-refresh");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(hash_of(&cfg, bad[i], h), -1);
	assert_int_equal(device_token_hash(&cfg, NULL, 0, h), -1);
	/* Over the limit, whatever it holds. */
	{
		char big[DEVICE_TOKEN_MAX + 2];

		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		assert_int_equal(hash_of(&cfg, big, h), -1);
	}
	/* A NUL inside the counted length is not a token. */
	assert_int_equal(device_token_hash(&cfg, "r1.\0" RANDOM43,
	    3 + 1 + 43, h), -1);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_well_formed_token_of_a_listed_kid_hashes),
		cmocka_unit_test(test_malformed_tokens_and_unlisted_kids_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
