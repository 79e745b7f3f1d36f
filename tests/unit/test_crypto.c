/* test_crypto.c: lib/crypto's HMAC, HKDF and hex decoder, and the server
 * keys lib/keys derives from a key list for one purpose each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "keys.h"

/* FIPS 180-2's "abc", as the hex a token's hash is sent in. */
static void
test_sha256_hex_of_abc(void **state)
{
	char hex[2 * CRYPTO_SHA256_LEN + 1];

	(void)state;
	assert_int_equal(crypto_sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_wipe_free_takes_null_and_secrets(void **state)
{
	char *s = strdup("a secret");

	(void)state;
	assert_non_null(s);
	crypto_wipe_free(NULL, 8);
	crypto_free_secret(NULL);
	crypto_free_secret(s);
}

static void
unhex_or_fail(const char *hex, unsigned char *out, size_t n)
{
	assert_int_equal(crypto_unhex(hex, out, n), 0);
}

/* RFC 5869, appendix A.1. */
static void
test_hkdf_rfc5869_case_1(void **state)
{
	unsigned char ikm[22], salt[13], info[10], want[42], got[42];

	(void)state;
	memset(ikm, 0x0b, sizeof ikm);
	unhex_or_fail("000102030405060708090a0b0c", salt, sizeof salt);
	unhex_or_fail("f0f1f2f3f4f5f6f7f8f9", info, sizeof info);
	unhex_or_fail("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56"
	    "ecc4c5bf34007208d5b887185865", want, sizeof want);
	assert_int_equal(crypto_hkdf_sha256(ikm, sizeof ikm, salt, sizeof salt,
	    info, sizeof info, got, sizeof got), 0);
	assert_memory_equal(got, want, sizeof want);
}

/* RFC 5869, appendix A.3: no salt, no info. */
static void
test_hkdf_rfc5869_case_3(void **state)
{
	unsigned char ikm[22], want[42], got[42];

	(void)state;
	memset(ikm, 0x0b, sizeof ikm);
	unhex_or_fail("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f"
	    "3c738d2d9d201395faa4b61a96c8", want, sizeof want);
	assert_int_equal(crypto_hkdf_sha256(ikm, sizeof ikm, NULL, 0, "", 0,
	    got, sizeof got), 0);
	assert_memory_equal(got, want, sizeof want);
}

/* RFC 4231, test case 2. */
static void
test_hmac_rfc4231_case_2(void **state)
{
	unsigned char want[32], got[32];
	static const char data[] = "what do ya want for nothing?";

	(void)state;
	unhex_or_fail("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b9"
	    "64ec3843", want, sizeof want);
	assert_int_equal(crypto_hmac_sha256("Jefe", 4, data, strlen(data), got),
	    0);
	assert_memory_equal(got, want, sizeof want);
}

/* A keyed crypto_mac gives the same answer for every message it is used
 * for, in any order: each use leaves the keyed state as it was. */
static void
test_keyed_mac_is_reusable(void **state)
{
	unsigned char want[32], got[32], other[32];
	static const char data[] = "what do ya want for nothing?";
	struct crypto_mac *m;

	(void)state;
	unhex_or_fail("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b9"
	    "64ec3843", want, sizeof want);
	assert_int_equal(crypto_mac_new("Jefe", 4, &m), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(crypto_mac_sha256(m, data, strlen(data), got),
		    0);
		assert_memory_equal(got, want, sizeof want);
		assert_int_equal(crypto_mac_sha256(m, "x", 1, other), 0);
		assert_memory_not_equal(other, want, sizeof want);
	}
	assert_int_equal(crypto_mac_sha256(NULL, data, 1, got), -1);
	crypto_mac_free(m);
	crypto_mac_free(NULL);
}

static void
test_unhex_accepts_both_cases_and_exact_length(void **state)
{
	unsigned char b[3];

	(void)state;
	assert_int_equal(crypto_unhex("00aBfF", b, 3), 0);
	assert_int_equal(b[0], 0x00);
	assert_int_equal(b[1], 0xab);
	assert_int_equal(b[2], 0xff);
	assert_int_equal(crypto_unhex("", b, 0), 0);
}

static void
test_unhex_refuses_garbage(void **state)
{
	unsigned char b[4];

	(void)state;
	assert_int_equal(crypto_unhex("00ab", b, 3), -1);        /* short */
	assert_int_equal(crypto_unhex("00abff00", b, 3), -1);    /* long */
	assert_int_equal(crypto_unhex("00ag", b, 2), -1);
	assert_int_equal(crypto_unhex("\\x00", b, 2), -1);       /* escape form */
	assert_int_equal(crypto_unhex("0 ab", b, 2), -1);
	assert_int_equal(crypto_unhex("0", b, 1), -1);
}

static void
parse_or_fail(const char *spec, struct keyset *ks)
{
	char err[256];

	assert_int_equal(keyset_parse(spec, ks, err, sizeof err), 0);
}

static void
test_derived_keys_differ_by_label_and_secret(void **state)
{
	struct keyset a, b;
	unsigned char k1[KEY_DERIVED_LEN], k2[KEY_DERIVED_LEN];
	unsigned char k3[KEY_DERIVED_LEN], k1again[KEY_DERIVED_LEN];

	(void)state;
	parse_or_fail("one:0123456789abcdef0123456789abcdef", &a);
	parse_or_fail("one:0123456789abcdef0123456789abcdeF", &b);
	assert_int_equal(key_derive(&a.keys[0], "latch purpose one v1", k1), 0);
	assert_int_equal(key_derive(&a.keys[0], "latch purpose two v1", k2), 0);
	assert_int_equal(key_derive(&b.keys[0], "latch purpose one v1", k3), 0);
	assert_int_equal(key_derive(&a.keys[0], "latch purpose one v1",
	    k1again), 0);
	assert_memory_equal(k1, k1again, sizeof k1);     /* deterministic */
	assert_memory_not_equal(k1, k2, sizeof k1);      /* per purpose */
	assert_memory_not_equal(k1, k3, sizeof k1);      /* per secret */
	/* Never the secret itself. */
	assert_memory_not_equal(k1, a.keys[0].secret, sizeof k1);
	keyset_free(&a);
	keyset_free(&b);
}

static void
test_derived_key_is_hkdf_of_the_secret_with_the_label(void **state)
{
	struct keyset ks;
	unsigned char got[KEY_DERIVED_LEN], want[KEY_DERIVED_LEN];
	static const char secret[] = "0123456789abcdef0123456789abcdef";

	(void)state;
	parse_or_fail("k1:0123456789abcdef0123456789abcdef", &ks);
	assert_int_equal(key_derive(&ks.keys[0], "label", got), 0);
	assert_int_equal(crypto_hkdf_sha256(secret, strlen(secret), NULL, 0,
	    "label", 5, want, sizeof want), 0);
	assert_memory_equal(got, want, sizeof want);
	assert_int_equal(key_derive(NULL, "label", got), -1);
	keyset_free(&ks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hkdf_rfc5869_case_1),
		cmocka_unit_test(test_hkdf_rfc5869_case_3),
		cmocka_unit_test(test_hmac_rfc4231_case_2),
		cmocka_unit_test(test_keyed_mac_is_reusable),
		cmocka_unit_test(test_unhex_accepts_both_cases_and_exact_length),
		cmocka_unit_test(test_unhex_refuses_garbage),
		cmocka_unit_test(test_sha256_hex_of_abc),
		cmocka_unit_test(test_wipe_free_takes_null_and_secrets),
		cmocka_unit_test(test_derived_keys_differ_by_label_and_secret),
		cmocka_unit_test(test_derived_key_is_hkdf_of_the_secret_with_the_label),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
