/* test_keys.c: JWT key lists (lib/keys.c, API.md "Key lists"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "keys.h"

/* Secrets of exactly 32 bytes and longer. */
#define S32A "0123456789abcdef0123456789abcdef"
#define S32B "fedcba9876543210fedcba9876543210"
#define S31 "0123456789abcdef0123456789abcde"
#define SBARE "bare-secret-0123456789-abcdefghijklmnop"
/* printf %s SBARE | openssl dgst -sha256 -binary | basenc --base64url */
#define SBARE_KID "8M_IEdmc"

/* Parses spec and asserts success; returns nothing, fills ks. */
static void
parse_ok(const char *spec, struct keyset *ks)
{
	char err[256];

	err[0] = '\0';
	if (keyset_parse(spec, ks, err, sizeof(err)) != 0)
		fail_msg("keyset_parse failed: %s", err);
}

/* Parses spec, asserts failure, an empty set and a one-line message;
 * the message is left in err. */
static void
parse_fails(const char *spec, char *err, size_t errsz)
{
	struct keyset ks;

	memset(&ks, 0xa5, sizeof(ks));  /* need not be initialised */
	assert_int_equal(keyset_parse(spec, &ks, err, errsz), -1);
	assert_int_equal(ks.count, 0);
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
	keyset_free(&ks);
}

static void
assert_key(const struct key *k, const char *kid, const char *secret)
{
	assert_non_null(k);
	assert_string_equal(k->kid, kid);
	assert_int_equal(k->secret_len, strlen(secret));
	assert_memory_equal(k->secret, secret, k->secret_len);
}

static void
test_parses_one_item(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("k1:" S32A, &ks);
	assert_int_equal(ks.count, 1);
	assert_key(&ks.keys[0], "k1", S32A);
	keyset_free(&ks);
}

static void
test_parses_several_items_and_first_signs(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("new:" S32B ",old:" S32A, &ks);
	assert_int_equal(ks.count, 2);
	assert_key(&ks.keys[0], "new", S32B);
	assert_key(&ks.keys[1], "old", S32A);
	assert_ptr_equal(keyset_signing_key(&ks), &ks.keys[0]);
	keyset_free(&ks);
}

static void
test_ignores_white_space_around_items(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("  a:" S32A " ,\tb:" S32B "\n", &ks);
	assert_int_equal(ks.count, 2);
	assert_key(&ks.keys[0], "a", S32A);
	assert_key(&ks.keys[1], "b", S32B);
	keyset_free(&ks);
}

static void
test_keeps_white_space_inside_a_secret(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("a:correct horse battery staple and more", &ks);
	assert_key(&ks.keys[0], "a", "correct horse battery staple and more");
	keyset_free(&ks);
}

static void
test_splits_at_the_first_colon(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("a:b:" S32A ":", &ks);
	assert_int_equal(ks.count, 1);
	assert_key(&ks.keys[0], "a", "b:" S32A ":");
	keyset_free(&ks);
}

static void
test_accepts_every_kid_character_and_32_of_them(void **state)
{
	struct keyset ks;
	const char *kid32 = "ABCXYZabcxyz0189._-0123456789abc";

	(void)state;
	assert_int_equal(strlen(kid32), 32);
	parse_ok("ABCXYZabcxyz0189._-0123456789abc:" S32A ",x:" S32B, &ks);
	assert_key(&ks.keys[0], kid32, S32A);
	assert_key(&ks.keys[1], "x", S32B);
	keyset_free(&ks);
}

static void
test_rejects_kid_of_33_characters(void **state)
{
	char err[256];

	(void)state;
	parse_fails("ABCXYZabcxyz0189._-0123456789abcd:" S32A, err,
	    sizeof(err));
}

static void
test_rejects_empty_kid(void **state)
{
	char err[256];

	(void)state;
	parse_fails(":" S32A, err, sizeof(err));
	parse_fails("a:" S32A ",:" S32B, err, sizeof(err));
}

static void
test_rejects_kid_with_characters_outside_the_set(void **state)
{
	char err[256];

	(void)state;
	parse_fails("a b:" S32A, err, sizeof(err));
	parse_fails("a/b:" S32A, err, sizeof(err));
	parse_fails("a+b:" S32A, err, sizeof(err));
	parse_fails("k\xc3\xa9:" S32A, err, sizeof(err));
	parse_fails("a :" S32A, err, sizeof(err));
}

static void
test_accepts_secret_of_32_bytes_and_rejects_31(void **state)
{
	struct keyset ks;
	char err[256];

	(void)state;
	parse_ok("a:" S32A, &ks);
	keyset_free(&ks);
	parse_fails("a:" S31, err, sizeof(err));
	assert_non_null(strstr(err, "shorter"));
	parse_fails("a:", err, sizeof(err));
}

static void
test_rejects_secret_over_the_maximum(void **state)
{
	char spec[KEY_SECRET_MAX + 16], err[256];
	struct keyset ks;

	(void)state;
	memcpy(spec, "a:", 2);
	memset(spec + 2, 'x', KEY_SECRET_MAX);
	spec[2 + KEY_SECRET_MAX] = '\0';
	parse_ok(spec, &ks);
	assert_int_equal(ks.keys[0].secret_len, KEY_SECRET_MAX);
	keyset_free(&ks);
	spec[2 + KEY_SECRET_MAX] = 'x';
	spec[3 + KEY_SECRET_MAX] = '\0';
	parse_fails(spec, err, sizeof(err));
}

static void
test_rejects_secret_starting_with_white_space(void **state)
{
	char err[256];

	(void)state;
	parse_fails("a: " S32A, err, sizeof(err));
}

static void
test_rejects_duplicate_kid(void **state)
{
	char err[256];

	(void)state;
	parse_fails("a:" S32A ",b:" S32B ",a:" S32B "x", err, sizeof(err));
	assert_non_null(strstr(err, "twice"));
	assert_non_null(strstr(err, "item 3"));
}

static void
test_rejects_empty_item_in_the_middle(void **state)
{
	char err[256];

	(void)state;
	parse_fails("a:" S32A ",,b:" S32B, err, sizeof(err));
	assert_non_null(strstr(err, "item 2"));
	parse_fails("a:" S32A ", ,b:" S32B, err, sizeof(err));
}

static void
test_rejects_trailing_and_leading_comma(void **state)
{
	char err[256];

	(void)state;
	parse_fails("a:" S32A ",", err, sizeof(err));
	parse_fails("a:" S32A ", ", err, sizeof(err));
	parse_fails(",a:" S32A, err, sizeof(err));
	parse_fails(",", err, sizeof(err));
}

static void
test_rejects_list_item_without_colon(void **state)
{
	char err[256];

	(void)state;
	parse_fails("a:" S32A "," S32B, err, sizeof(err));
	assert_non_null(strstr(err, "item 2"));
}

static void
test_rejects_missing_or_empty_list(void **state)
{
	char err[256];

	(void)state;
	parse_fails(NULL, err, sizeof(err));
	parse_fails("", err, sizeof(err));
	parse_fails(" \t\n", err, sizeof(err));
}

static void
test_rejects_more_than_keyset_max_keys(void **state)
{
	char spec[KEYSET_MAX * 48 + 64], err[256];
	struct keyset ks;
	size_t o = 0;
	int i, w;

	(void)state;
	for (i = 0; i < KEYSET_MAX; i++) {
		w = snprintf(spec + o, sizeof(spec) - o, "%sk%d:%s",
		    i ? "," : "", i, S32A);
		assert_true(w > 0 && (size_t)w < sizeof(spec) - o);
		o += (size_t)w;
	}
	parse_ok(spec, &ks);
	assert_int_equal(ks.count, KEYSET_MAX);
	keyset_free(&ks);
	w = snprintf(spec + o, sizeof(spec) - o, ",extra:%s", S32B);
	assert_true(w > 0 && (size_t)w < sizeof(spec) - o);
	parse_fails(spec, err, sizeof(err));
}

static void
test_bare_secret_gets_kid_from_its_sha256(void **state)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char enc[64];
	struct keyset ks;

	(void)state;
	/* Independently: SHA-256, base64url, first 8 characters. */
	assert_non_null(SHA256((const unsigned char *)SBARE, strlen(SBARE),
	    md));
	assert_int_equal(b64url_encode(md, sizeof(md), enc, sizeof(enc)), 43);
	enc[8] = '\0';
	assert_string_equal(enc, SBARE_KID);

	parse_ok(SBARE, &ks);
	assert_int_equal(ks.count, 1);
	assert_key(&ks.keys[0], SBARE_KID, SBARE);
	keyset_free(&ks);
}

static void
test_bare_secret_is_trimmed_of_surrounding_white_space(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("  " SBARE "\n", &ks);
	assert_key(&ks.keys[0], SBARE_KID, SBARE);
	keyset_free(&ks);
}

static void
test_bare_secret_shorter_than_32_bytes_is_rejected(void **state)
{
	char err[256];

	(void)state;
	parse_fails(S31, err, sizeof(err));
	assert_non_null(strstr(err, "shorter"));
}

static void
test_error_messages_never_contain_the_secret(void **state)
{
	static const char secret[] = "Sup3rS3cretValue";   /* 16 bytes */
	static const char *specs[] = {
		"Sup3rS3cretValue",                     /* bare, too short */
		"a:Sup3rS3cretValue",                   /* too short */
		"a:Sup3rS3cretValue,",                  /* trailing comma */
		"a:Sup3rS3cretValueSup3rS3cretValue,Sup3rS3cretValue",
		"Sup3rS3cretValue Sup3rS3cretValue:x",  /* bad kid */
		"Sup3rS3cretValueSup3rS3cretValue0:xx", /* kid too long */
		"a:Sup3rS3cretValueSup3rS3cretValue,a:Sup3rS3cretValueSup3rS3",
		"a: Sup3rS3cretValueSup3rS3cretValue",
		",Sup3rS3cretValueSup3rS3cretValue",
	};
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		parse_fails(specs[i], err, sizeof(err));
		if (strstr(err, secret) != NULL || strstr(err, "Sup3r") != NULL)
			fail_msg("spec %zu: message holds the secret: %s", i,
			    err);
	}
}

static void
test_error_message_fits_a_small_buffer(void **state)
{
	char err[8];

	(void)state;
	parse_fails("a:" S31, err, sizeof(err));
	assert_int_equal(strlen(err), sizeof(err) - 1);
	/* No buffer at all is fine too. */
	{
		struct keyset ks;
		assert_int_equal(keyset_parse("a:" S31, &ks, NULL, 0), -1);
		assert_int_equal(ks.count, 0);
	}
}

static void
test_find_matches_the_exact_kid_only(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("abc:" S32A ",ab:" S32B, &ks);
	assert_ptr_equal(keyset_find(&ks, "abc", 3), &ks.keys[0]);
	assert_ptr_equal(keyset_find(&ks, "ab", 2), &ks.keys[1]);
	assert_ptr_equal(keyset_find(&ks, "abcd", 3), &ks.keys[0]);
	assert_null(keyset_find(&ks, "a", 1));
	assert_null(keyset_find(&ks, "abcd", 4));
	assert_null(keyset_find(&ks, "ABC", 3));
	assert_null(keyset_find(&ks, "", 0));
	assert_null(keyset_find(NULL, "abc", 3));
	keyset_free(&ks);
}

static void
test_signing_key_of_empty_set_is_null(void **state)
{
	struct keyset ks;

	(void)state;
	ks.count = 0;
	assert_null(keyset_signing_key(&ks));
	assert_null(keyset_signing_key(NULL));
}

static void
test_share_secret_finds_a_common_secret(void **state)
{
	struct keyset a, b, c;

	(void)state;
	parse_ok("a1:" S32A ",a2:" S32B, &a);
	parse_ok("b1:" S32B "x,b2:" S32B, &b);  /* b2 shares a2's secret */
	parse_ok("c1:" S32A "x,c2:" S32B "y", &c);
	assert_int_equal(keyset_share_secret(&a, &b), 1);
	assert_int_equal(keyset_share_secret(&b, &a), 1);
	assert_int_equal(keyset_share_secret(&a, &c), 0);
	assert_int_equal(keyset_share_secret(&b, &c), 0);
	assert_int_equal(keyset_share_secret(&a, NULL), 0);
	keyset_free(&a);
	keyset_free(&b);
	keyset_free(&c);
}

static void
test_share_secret_sees_a_bare_key_in_a_list(void **state)
{
	struct keyset a, b;

	(void)state;
	parse_ok(SBARE, &a);
	parse_ok("x:" S32A ",y:" SBARE, &b);
	assert_int_equal(keyset_share_secret(&a, &b), 1);
	keyset_free(&a);
	keyset_free(&b);
}

static void
test_free_empties_the_set_and_tolerates_null_and_repeats(void **state)
{
	struct keyset ks;

	(void)state;
	parse_ok("a:" S32A, &ks);
	keyset_free(&ks);
	assert_int_equal(ks.count, 0);
	assert_null(ks.keys[0].secret);
	keyset_free(&ks);
	keyset_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_one_item),
		cmocka_unit_test(test_parses_several_items_and_first_signs),
		cmocka_unit_test(test_ignores_white_space_around_items),
		cmocka_unit_test(test_keeps_white_space_inside_a_secret),
		cmocka_unit_test(test_splits_at_the_first_colon),
		cmocka_unit_test(
		    test_accepts_every_kid_character_and_32_of_them),
		cmocka_unit_test(test_rejects_kid_of_33_characters),
		cmocka_unit_test(test_rejects_empty_kid),
		cmocka_unit_test(
		    test_rejects_kid_with_characters_outside_the_set),
		cmocka_unit_test(
		    test_accepts_secret_of_32_bytes_and_rejects_31),
		cmocka_unit_test(test_rejects_secret_over_the_maximum),
		cmocka_unit_test(test_rejects_secret_starting_with_white_space),
		cmocka_unit_test(test_rejects_duplicate_kid),
		cmocka_unit_test(test_rejects_empty_item_in_the_middle),
		cmocka_unit_test(test_rejects_trailing_and_leading_comma),
		cmocka_unit_test(test_rejects_list_item_without_colon),
		cmocka_unit_test(test_rejects_missing_or_empty_list),
		cmocka_unit_test(test_rejects_more_than_keyset_max_keys),
		cmocka_unit_test(test_bare_secret_gets_kid_from_its_sha256),
		cmocka_unit_test(
		    test_bare_secret_is_trimmed_of_surrounding_white_space),
		cmocka_unit_test(
		    test_bare_secret_shorter_than_32_bytes_is_rejected),
		cmocka_unit_test(test_error_messages_never_contain_the_secret),
		cmocka_unit_test(test_error_message_fits_a_small_buffer),
		cmocka_unit_test(test_find_matches_the_exact_kid_only),
		cmocka_unit_test(test_signing_key_of_empty_set_is_null),
		cmocka_unit_test(test_share_secret_finds_a_common_secret),
		cmocka_unit_test(test_share_secret_sees_a_bare_key_in_a_list),
		cmocka_unit_test(
		    test_free_empties_the_set_and_tolerates_null_and_repeats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
