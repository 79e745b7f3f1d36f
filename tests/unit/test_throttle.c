/* test_throttle.c: the limiter's keys (lib/throttle): what part of a client
 * address counts, how an account is named, and that the keys are keyed
 * digests under a server key. The SQL side is tested through the stack
 * (tests/integration/test_login_limiter.py). */
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
#include "keys.h"
#include "throttle.h"

static void
assert_subject(const char *ip, const char *want)
{
	char out[THROTTLE_ADDRESS_MAX];

	assert_int_equal(throttle_address_subject(ip, out), 0);
	assert_string_equal(out, want);
}

static void
test_ipv4_is_the_whole_address(void **state)
{
	(void)state;
	assert_subject("198.18.0.1", "4:198.18.0.1");
	assert_subject("203.0.113.255", "4:203.0.113.255");
}

static void
test_ipv6_is_its_slash64(void **state)
{
	(void)state;
	assert_subject("2001:db8:1:2:3:4:5:6", "6:2001:db8:1:2::/64");
	assert_subject("2001:db8:1:2:ffff:ffff:ffff:ffff",
	    "6:2001:db8:1:2::/64");
	assert_subject("2001:db8:1:2::", "6:2001:db8:1:2::/64");
	assert_subject("2001:db8:1:3::1", "6:2001:db8:1:3::/64");
	assert_subject("::1", "6:::/64");
	assert_subject("fe80::1234:5678", "6:fe80::/64");
	/* Any spelling of the address: the same subject. */
	assert_subject("2001:DB8:0001:0002:0:0:0:9", "6:2001:db8:1:2::/64");
}

static void
test_ipv4_mapped_ipv6_is_the_ipv4_address(void **state)
{
	(void)state;
	assert_subject("::ffff:198.18.0.1", "4:198.18.0.1");
	assert_subject("::FFFF:c612:1", "4:198.18.0.1");
	/* Not mapped: an ordinary IPv6 address. */
	assert_subject("::fffe:198.18.0.1", "6:::/64");
	/* NAT64 (RFC 6052 well-known prefix): the IPv4 host behind it. */
	assert_subject("64:ff9b::198.18.0.1", "4:198.18.0.1");
	assert_subject("64:ff9b::c612:2", "4:198.18.0.2");
	assert_subject("64:ff9b:1::198.18.0.1", "6:64:ff9b:1::/64");
}

static void
test_garbage_is_no_address(void **state)
{
	char out[THROTTLE_ADDRESS_MAX];
	const char *bad[] = { NULL, "", "localhost", "1.2.3", "1.2.3.4/24",
	    "2001:db8::1%lo", "::ffff:1.2.3.4.5", " 1.2.3.4", "1.2.3.4 ",
	    "2001:db8:::1", "[::1]" };

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(throttle_address_subject(bad[i], out), -1);
}

/* ---- keys ---- */

#define REFRESH_KEYS \
	"JWT_REFRESH_SECRET=r1:refresh-secret-refresh-secret-refresh"

static int
keys_equal(const struct throttle_keys *a, const struct throttle_keys *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->scope[i], b->scope[i]) != 0 ||
		    memcmp(a->key[i], b->key[i], CRYPTO_SHA256_LEN) != 0)
			return 0;
	return 1;
}

static void
test_untrusted_attempts_have_pair_address_and_account_keys(void **state)
{
	struct latch_config cfg;
	struct throttle_subject who = { 42, "alice", 0 };
	struct throttle_keys k;

	(void)state;
	config_fixture_load(&cfg, REFRESH_KEYS);
	assert_int_equal(throttle_keys_make(&cfg, &who, "198.18.0.1", NULL, &k),
	    0);
	assert_int_equal(k.n, 3);
	assert_string_equal(k.scope[0], "pair");
	assert_string_equal(k.scope[1], "address");
	assert_string_equal(k.scope[2], "account");
	assert_memory_not_equal(k.key[0], k.key[1], CRYPTO_SHA256_LEN);
	assert_memory_not_equal(k.key[1], k.key[2], CRYPTO_SHA256_LEN);
	config_free(&cfg);
}

static void
test_a_known_account_has_one_budget_whatever_its_name(void **state)
{
	struct latch_config cfg;
	struct throttle_subject by_name = { 42, "alice", 0 };
	struct throttle_subject by_mail = { 42, "alice@example.org", 1 };
	struct throttle_subject other = { 43, "alice", 0 };
	struct throttle_keys a, b, c;

	(void)state;
	config_fixture_load(&cfg, REFRESH_KEYS);
	assert_int_equal(throttle_keys_make(&cfg, &by_name, "198.18.0.1", NULL,
	    &a), 0);
	assert_int_equal(throttle_keys_make(&cfg, &by_mail, "198.18.0.1", NULL,
	    &b), 0);
	assert_int_equal(throttle_keys_make(&cfg, &other, "198.18.0.1", NULL,
	    &c), 0);
	assert_true(keys_equal(&a, &b));
	assert_memory_not_equal(a.key[2], c.key[2], CRYPTO_SHA256_LEN);
	/* The address key is the address's alone. */
	assert_memory_equal(a.key[1], c.key[1], CRYPTO_SHA256_LEN);
	config_free(&cfg);
}

static void
test_unknown_names_are_keyed_as_the_database_folded_them(void **state)
{
	struct latch_config cfg;
	struct throttle_subject folded = { 0, "kim@example.org", 0 };
	struct throttle_subject again = { 0, "kim@example.org", 0 };
	struct throttle_subject unfolded = { 0, "Kim@example.org", 0 };
	struct throttle_subject account = { 7, "kim@example.org", 0 };
	struct throttle_keys a, b, c, d;

	(void)state;
	config_fixture_load(&cfg, REFRESH_KEYS);
	assert_int_equal(throttle_keys_make(&cfg, &folded, "198.18.0.1", NULL,
	    &a), 0);
	assert_int_equal(throttle_keys_make(&cfg, &again, "198.18.0.1", NULL,
	    &b), 0);
	assert_int_equal(throttle_keys_make(&cfg, &unfolded, "198.18.0.1",
	    NULL, &c), 0);
	assert_int_equal(throttle_keys_make(&cfg, &account, "198.18.0.1", NULL,
	    &d), 0);
	assert_true(keys_equal(&a, &b));
	/* No second folding rule here: the one rule is the database's
	 * lower() (lib/user), so a name that reaches us unfolded is another
	 * name... */
	assert_memory_not_equal(a.key[2], c.key[2], CRYPTO_SHA256_LEN);
	/* ...and an unknown name never shares a known account's budget. */
	assert_memory_not_equal(a.key[2], d.key[2], CRYPTO_SHA256_LEN);
	config_free(&cfg);
}

static void
test_an_unknown_username_and_email_never_share_a_budget(void **state)
{
	struct latch_config cfg;
	struct throttle_subject as_name = { 0, "bob@example.org", 0 };
	struct throttle_subject as_mail = { 0, "bob@example.org", 1 };
	struct throttle_keys a, b;

	(void)state;
	config_fixture_load(&cfg, REFRESH_KEYS);
	assert_int_equal(throttle_keys_make(&cfg, &as_name, "198.18.0.1", NULL,
	    &a), 0);
	assert_int_equal(throttle_keys_make(&cfg, &as_mail, "198.18.0.1", NULL,
	    &b), 0);
	/* Else failures on a username "E" would block the email "E" only
	 * when no account has that email: an existence oracle. */
	assert_memory_not_equal(a.key[2], b.key[2], CRYPTO_SHA256_LEN);
	assert_memory_not_equal(a.key[0], b.key[0], CRYPTO_SHA256_LEN);
	config_free(&cfg);
}

static void
test_one_slash64_one_pair_and_address_key(void **state)
{
	struct latch_config cfg;
	struct throttle_subject who = { 42, "alice", 0 };
	struct throttle_keys a, b, c;

	(void)state;
	config_fixture_load(&cfg, REFRESH_KEYS);
	assert_int_equal(throttle_keys_make(&cfg, &who, "2001:db8:1:2::1", NULL,
	    &a), 0);
	assert_int_equal(throttle_keys_make(&cfg, &who, "2001:db8:1:2:a:b:c:d",
	    NULL, &b), 0);
	assert_int_equal(throttle_keys_make(&cfg, &who, "2001:db8:1:3::1", NULL,
	    &c), 0);
	assert_true(keys_equal(&a, &b));
	assert_memory_not_equal(a.key[0], c.key[0], CRYPTO_SHA256_LEN);
	assert_memory_not_equal(a.key[1], c.key[1], CRYPTO_SHA256_LEN);
	assert_memory_equal(a.key[2], c.key[2], CRYPTO_SHA256_LEN);
	config_free(&cfg);
}

static void
test_a_trusted_device_has_its_own_key_only(void **state)
{
	struct latch_config cfg;
	struct throttle_subject who = { 42, "alice", 0 };
	unsigned char dev1[CRYPTO_SHA256_LEN], dev2[CRYPTO_SHA256_LEN];
	struct throttle_keys a, b, c, plain;

	(void)state;
	memset(dev1, 1, sizeof dev1);
	memset(dev2, 2, sizeof dev2);
	config_fixture_load(&cfg, REFRESH_KEYS);
	assert_int_equal(throttle_keys_make(&cfg, &who, "198.18.0.1", dev1, &a),
	    0);
	assert_int_equal(throttle_keys_make(&cfg, &who, "2001:db8::9", dev1, &b),
	    0);
	assert_int_equal(throttle_keys_make(&cfg, &who, "198.18.0.1", dev2, &c),
	    0);
	assert_int_equal(throttle_keys_make(&cfg, &who, "198.18.0.1", NULL,
	    &plain), 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.scope[0], "device");
	assert_true(keys_equal(&a, &b));        /* wherever the device is */
	assert_memory_not_equal(a.key[0], c.key[0], CRYPTO_SHA256_LEN);
	for (size_t i = 0; i < plain.n; i++)
		assert_memory_not_equal(a.key[0], plain.key[i],
		    CRYPTO_SHA256_LEN);
	config_free(&cfg);
}

static void
test_keys_are_hmacs_under_the_derived_server_key(void **state)
{
	struct latch_config one, two;
	struct throttle_subject who = { 42, "alice", 0 };
	struct throttle_keys a, b;
	unsigned char server[KEY_DERIVED_LEN], want[CRYPTO_SHA256_LEN];
	static const char msg[] = "account\0id:42";

	(void)state;
	config_fixture_load(&one, REFRESH_KEYS);
	config_fixture_load(&two,
	    "JWT_REFRESH_SECRET=r1:another-secret-another-secret-another");
	assert_int_equal(throttle_keys_make(&one, &who, "198.18.0.1", NULL, &a),
	    0);
	assert_int_equal(throttle_keys_make(&two, &who, "198.18.0.1", NULL, &b),
	    0);
	for (size_t i = 0; i < a.n; i++)
		assert_memory_not_equal(a.key[i], b.key[i], CRYPTO_SHA256_LEN);
	assert_int_equal(key_derive(keyset_signing_key(&one.refresh_keys),
	    "latch login limiter v2", server), 0);
	assert_int_equal(crypto_hmac_sha256(server, sizeof server, msg,
	    sizeof msg, want), 0);
	assert_memory_equal(a.key[2], want, sizeof want);
	config_free(&one);
	config_free(&two);
}

static void
test_an_unusable_address_makes_no_keys(void **state)
{
	struct latch_config cfg;
	struct throttle_subject who = { 42, "alice", 0 };
	struct throttle_subject nobody = { 0, NULL, 0 };
	struct throttle_keys k;

	(void)state;
	config_fixture_load(&cfg, REFRESH_KEYS);
	assert_int_equal(throttle_keys_make(&cfg, &who, "not-an-ip", NULL, &k),
	    -1);
	assert_int_equal(k.n, 0);
	assert_int_equal(throttle_keys_make(&cfg, &nobody, "198.18.0.1", NULL,
	    &k), -1);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_is_the_whole_address),
		cmocka_unit_test(test_ipv6_is_its_slash64),
		cmocka_unit_test(test_ipv4_mapped_ipv6_is_the_ipv4_address),
		cmocka_unit_test(test_garbage_is_no_address),
		cmocka_unit_test(test_untrusted_attempts_have_pair_address_and_account_keys),
		cmocka_unit_test(test_a_known_account_has_one_budget_whatever_its_name),
		cmocka_unit_test(test_unknown_names_are_keyed_as_the_database_folded_them),
		cmocka_unit_test(test_an_unknown_username_and_email_never_share_a_budget),
		cmocka_unit_test(test_one_slash64_one_pair_and_address_key),
		cmocka_unit_test(test_a_trusted_device_has_its_own_key_only),
		cmocka_unit_test(test_keys_are_hmacs_under_the_derived_server_key),
		cmocka_unit_test(test_an_unusable_address_makes_no_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
