/* test_password.c: lib/password against hashes from other ecosystems. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "password.h"

#define PW "correct horse battery"

/* Made outside latch: pgcrypto's crypt(pw, gen_salt('bf', 4)), PHP-style
 * $2y$, libxcrypt $2b$, glibc-style SHA-512 and Debian's default yescrypt. */
static const char *const foreign_hashes[] = {
	"$2a$04$S1fVEmlwby8zC9vuDR2vDeaVpvF5UE4dzRBeJotHOxtvv/7f6wiL6",
	"$2b$04$.aMORJgvLQOVkRdzY0aX1.CAU8x1pDYlIqduPKBSOUHKM5/NO.Khm",
	"$2y$04$sGcitVaSlfGVfa3d2OIUWOrw4qqMhL68wRv6TervYkdlvbOuRcZvu",
	"$6$rounds=5000$xCOqkip6SbhlPv1n$3KFeq6qJm6lbg/PQgOH4HXhyNxnZ0fCPVPhiWbRrkMl2u3E31Stnvc88.sCbDv3T/m6HJ5NM618Li/0Im0GHs/",
	"$y$j9T$AbuC.HsrZvJeJM2LVv9UZ1$mYKcIWLDy4h3pqYvEFLbtLkndpJxKpj26dAjyQ5H8X/",
};

static int
setup(void **state)
{
	struct password_ctx *ctx;

	if (password_ctx_new(4, &ctx) != 0)
		return -1;
	*state = ctx;
	return 0;
}

static int
teardown(void **state)
{
	password_ctx_free(*state);
	return 0;
}

static void
test_foreign_hashes_verify(void **state)
{
	for (size_t i = 0; i < sizeof foreign_hashes / sizeof foreign_hashes[0];
	    i++)
		assert_int_equal(password_verify(*state, PW, strlen(PW),
		    foreign_hashes[i]), PASSWORD_OK);
}

static void
test_foreign_hashes_refuse_wrong_password(void **state)
{
	for (size_t i = 0; i < sizeof foreign_hashes / sizeof foreign_hashes[0];
	    i++)
		assert_int_equal(password_verify(*state, "correct horse batterz",
		    strlen(PW), foreign_hashes[i]), PASSWORD_MISMATCH);
}

static void
test_unusable_hashes_never_verify(void **state)
{
	static const char *const locked[] = {
		"*", "!", "!$2b$04$.aMORJgvLQOVkRdzY0aX1.CAU8x1pDYlIqduPKBSOUHKM5/NO.Khm",
		"", "plaintext", "$2b$04$", "*0",
	};

	for (size_t i = 0; i < sizeof locked / sizeof locked[0]; i++)
		assert_int_equal(password_verify(*state, PW, strlen(PW),
		    locked[i]), PASSWORD_MISMATCH);
	assert_int_equal(password_verify(*state, PW, strlen(PW), NULL),
	    PASSWORD_MISMATCH);
}

static void
test_embedded_nul_and_overlong_passwords_never_verify(void **state)
{
	char longpw[80];

	/* "correct horse battery\0x" must not be checked as its prefix. */
	assert_int_equal(password_verify(*state, PW "\0x", strlen(PW) + 2,
	    foreign_hashes[1]), PASSWORD_MISMATCH);
	memset(longpw, 'a', sizeof longpw);
	assert_int_equal(password_verify(*state, longpw, 73, foreign_hashes[1]),
	    PASSWORD_MISMATCH);
}

static void
test_hash_is_2b_at_configured_cost_and_verifies(void **state)
{
	char hash[PASSWORD_HASH_MAX], other[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash(*state, PW, strlen(PW), hash,
	    sizeof hash), 0);
	assert_memory_equal(hash, "$2b$04$", 7);
	assert_int_equal(strlen(hash), 60);
	assert_int_equal(password_verify(*state, PW, strlen(PW), hash),
	    PASSWORD_OK);
	/* A fresh salt every time. */
	assert_int_equal(password_hash(*state, PW, strlen(PW), other,
	    sizeof other), 0);
	assert_string_not_equal(hash, other);
}

static void
test_hash_refuses_overlong_and_nul(void **state)
{
	char hash[PASSWORD_HASH_MAX], longpw[73];

	memset(longpw, 'a', sizeof longpw);
	assert_int_equal(password_hash(*state, longpw, 73, hash, sizeof hash),
	    -1);
	assert_int_equal(password_hash(*state, "ab\0cd", 5, hash, sizeof hash),
	    -1);
	assert_int_equal(password_hash(*state, PW, strlen(PW), hash, 10), -1);
}

static void
test_72_byte_password_verifies(void **state)
{
	char pw[72], hash[PASSWORD_HASH_MAX];

	memset(pw, 'z', sizeof pw);
	assert_int_equal(password_hash(*state, pw, sizeof pw, hash,
	    sizeof hash), 0);
	assert_int_equal(password_verify(*state, pw, sizeof pw, hash),
	    PASSWORD_OK);
	pw[71] = 'y';
	assert_int_equal(password_verify(*state, pw, sizeof pw, hash),
	    PASSWORD_MISMATCH);
}

static void
test_needs_rehash(void **state)
{
	(void)state;
	assert_int_equal(password_needs_rehash(foreign_hashes[0], 4), 1); /* $2a$ */
	assert_int_equal(password_needs_rehash(foreign_hashes[1], 4), 0);
	assert_int_equal(password_needs_rehash(foreign_hashes[1], 12), 1);
	assert_int_equal(password_needs_rehash(foreign_hashes[2], 4), 1); /* $2y$ */
	assert_int_equal(password_needs_rehash(foreign_hashes[3], 4), 1); /* $6$ */
	assert_int_equal(password_needs_rehash(foreign_hashes[4], 4), 1); /* $y$ */
	assert_int_equal(password_needs_rehash("$2b$13$xxxxxxxxxxxxxxxxxxxxxx", 12),
	    0);
	assert_int_equal(password_needs_rehash("$2b$x", 12), 1);
	assert_int_equal(password_needs_rehash(NULL, 12), 1);
}

static void
test_context_refuses_bad_cost(void **state)
{
	struct password_ctx *ctx = NULL;

	(void)state;
	assert_int_equal(password_ctx_new(3, &ctx), -1);
	assert_int_equal(password_ctx_new(32, &ctx), -1);
	assert_null(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_hashes_verify),
		cmocka_unit_test(test_foreign_hashes_refuse_wrong_password),
		cmocka_unit_test(test_unusable_hashes_never_verify),
		cmocka_unit_test(test_embedded_nul_and_overlong_passwords_never_verify),
		cmocka_unit_test(test_hash_is_2b_at_configured_cost_and_verifies),
		cmocka_unit_test(test_hash_refuses_overlong_and_nul),
		cmocka_unit_test(test_72_byte_password_verifies),
		cmocka_unit_test(test_needs_rehash),
		cmocka_unit_test(test_context_refuses_bad_cost),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
