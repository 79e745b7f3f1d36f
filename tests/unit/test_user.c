/* test_user.c: lib/user's validators, the one rule each for a user id in
 * a token's "sub" and for an email address (sign-up and latchctl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "user.h"

static void
test_user_id_parse_accepts_canonical_decimal(void **state)
{
	int64_t id = 0;

	(void)state;
	assert_int_equal(user_id_parse("1", &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(user_id_parse("999999999999999999", &id), 0);
	assert_true(id == 999999999999999999LL);
}

static void
test_user_id_parse_refuses_everything_else(void **state)
{
	static const char *const bad[] = {
		"", "0", "01", "-1", "+1", " 1", "1 ", "1a", "0x10",
		"1000000000000000000",          /* 19 digits */
		"9223372036854775808",          /* past int64_t */
		"99999999999999999999999",
	};
	int64_t id = 42;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(user_id_parse(bad[i], &id), -1);
		assert_int_equal(id, 42);
	}
}

static void
test_valid_names(void **state)
{
	/* An operator's name: anything printable; sign-up's: a narrow set
	 * that is always also an operator's. */
	static const char *const any_good[] = {
		"a", "Jane Doe", "x@y", "\xc3\xbcml", "a.b_c-d",
	};
	static const char *const any_bad[] = { "", "a\tb", "a\nb", "a\x7f" };
	static const char *const signup_good[] = {
		"abc", "a.b", "Z_9-x", "0abc", "abcdefghijklmnopqrstuvwxyz012345",
	};
	static const char *const signup_bad[] = {
		"", "ab", ".abc", "_abc", "-abc", "a b", "a@b", "\xc3\xbcml",
		"abcdefghijklmnopqrstuvwxyz0123456", "a\tbc",
	};
	char longest[USER_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof any_good / sizeof any_good[0]; i++)
		assert_true(user_valid_name(any_good[i]));
	for (size_t i = 0; i < sizeof any_bad / sizeof any_bad[0]; i++)
		assert_false(user_valid_name(any_bad[i]));
	for (size_t i = 0; i < sizeof signup_good / sizeof signup_good[0];
	    i++) {
		assert_true(user_valid_signup_name(signup_good[i]));
		assert_true(user_valid_name(signup_good[i]));
	}
	for (size_t i = 0; i < sizeof signup_bad / sizeof signup_bad[0]; i++)
		assert_false(user_valid_signup_name(signup_bad[i]));
	memset(longest, 'n', USER_NAME_MAX);
	longest[USER_NAME_MAX] = '\0';
	assert_true(user_valid_name(longest));
	longest[USER_NAME_MAX] = 'n';
	longest[USER_NAME_MAX + 1] = '\0';
	assert_false(user_valid_name(longest));
}

static void
test_valid_email(void **state)
{
	static const char *const good[] = {
		"a@b", "someone@example.com", "x.y+z@sub.example.org",
		"\xc3\xbc@example.com",
	};
	static const char *const bad[] = {
		"", "ab", "a b@c", "a@b c", "a\t@bc", "ab@", "@ab", "a@b@c",
		"abc", "a\x7f@bc", "a@\001bc",
	};

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_true(user_valid_email(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(user_valid_email(bad[i]));
}

static void
test_valid_email_length_bounds(void **state)
{
	char s[USER_NAME_MAX + 2];

	(void)state;
	memset(s, 'a', sizeof s);
	s[1] = '@';
	s[USER_NAME_MAX] = '\0';
	assert_true(user_valid_email(s));
	s[USER_NAME_MAX] = 'a';
	s[USER_NAME_MAX + 1] = '\0';
	assert_false(user_valid_email(s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_id_parse_accepts_canonical_decimal),
		cmocka_unit_test(test_user_id_parse_refuses_everything_else),
		cmocka_unit_test(test_valid_names),
		cmocka_unit_test(test_valid_email),
		cmocka_unit_test(test_valid_email_length_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
