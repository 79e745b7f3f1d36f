/* test_password.c: lib/password against hashes from other ecosystems. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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

static void
test_at_full_cost(void **state)
{
	(void)state;
	/* Bcrypt of every variant at or above the cost: as dear as the
	 * dummy. */
	assert_int_equal(password_at_full_cost(
	    "$2b$12$.aMORJgvLQOVkRdzY0aX1.CAU8x1pDYlIqduPKBSOUHKM5/NO.Khm", 12),
	    1);
	assert_int_equal(password_at_full_cost("$2a$12$xxxxxxxxxxxxxxxxxxxxxx",
	    12), 1);
	assert_int_equal(password_at_full_cost("$2y$13$xxxxxxxxxxxxxxxxxxxxxx",
	    12), 1);
	assert_int_equal(password_at_full_cost("$2x$31$xxxxxxxxxxxxxxxxxxxxxx",
	    12), 1);
	/* Lower bcrypt costs and other schemes are padded. */
	assert_int_equal(password_at_full_cost("$2a$10$xxxxxxxxxxxxxxxxxxxxxx",
	    12), 0);
	assert_int_equal(password_at_full_cost(foreign_hashes[1], 12), 0);
	assert_int_equal(password_at_full_cost(foreign_hashes[1], 4), 1);
	assert_int_equal(password_at_full_cost(foreign_hashes[3], 4), 0);
	assert_int_equal(password_at_full_cost(foreign_hashes[4], 4), 0);
	assert_int_equal(password_at_full_cost("$6$rounds=999999$salt$x", 4),
	    0);
	/* Garbage is never full cost. */
	assert_int_equal(password_at_full_cost("$2c$12$xxxxxxxxxxxxxxxxxxxxxx",
	    12), 0);
	assert_int_equal(password_at_full_cost("$2b$1x$", 4), 0);
	assert_int_equal(password_at_full_cost("$2b$12", 4), 0);
	assert_int_equal(password_at_full_cost("$2$12$", 4), 0);
	assert_int_equal(password_at_full_cost("", 4), 0);
	assert_int_equal(password_at_full_cost(NULL, 4), 0);
}

static long long
thread_cpu_ns(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define WRONG "wrong horse battery"

/* Which checks are padded and which measure the target, on a context of
 * cost 6 (hashes of cost 4 are weaker, 7 stronger). */
static void
test_weak_mismatches_are_padded(void **state)
{
	struct password_ctx *ctx, *ctx7;
	struct password_stats st;
	char h6[PASSWORD_HASH_MAX], h7[PASSWORD_HASH_MAX];
	long long t0, used;

	(void)state;
	assert_int_equal(password_ctx_new(6, &ctx), 0);
	assert_int_equal(password_ctx_new(7, &ctx7), 0);
	assert_int_equal(password_hash(ctx7, PW, strlen(PW), h7, sizeof h7),
	    0);
	password_ctx_stats(ctx, &st);
	assert_int_equal(st.full_cost_ns, 0);   /* no calibration at start */
	assert_int_equal(st.samples, 0);
	assert_int_equal(st.padded, 0);

	/* The first weak mismatch has no target yet: it calibrates, then
	 * pads up to what it measured, at least, in CPU time (the clock the
	 * padding itself reads, so this holds under any load). */
	t0 = thread_cpu_ns();
	assert_int_equal(password_verify(ctx, WRONG, strlen(WRONG),
	    foreign_hashes[3]), PASSWORD_MISMATCH);
	used = thread_cpu_ns() - t0;
	password_ctx_stats(ctx, &st);
	assert_int_equal(st.padded, 1);
	assert_int_equal(st.samples, 1);
	assert_true(st.full_cost_ns > 0);
	assert_true(used >= st.full_cost_ns);

	/* Later ones pad likewise, without measuring again. */
	for (size_t i = 0; i < sizeof foreign_hashes / sizeof foreign_hashes[0];
	    i++) {
		password_ctx_stats(ctx, &st);
		t0 = thread_cpu_ns();
		assert_int_equal(password_verify(ctx, WRONG, strlen(WRONG),
		    foreign_hashes[i]), PASSWORD_MISMATCH);
		used = thread_cpu_ns() - t0;
		assert_true(used >= st.full_cost_ns);
	}
	password_ctx_stats(ctx, &st);
	assert_int_equal(st.padded, 6);
	assert_int_equal(st.samples, 1);        /* padding measures nothing */

	/* A weak match is not padded. */
	assert_int_equal(password_verify(ctx, PW, strlen(PW),
	    foreign_hashes[4]), PASSWORD_OK);
	password_ctx_stats(ctx, &st);
	assert_int_equal(st.padded, 6);

	/* Our own cost: a mismatch is not padded, and is a sample, as are
	 * hashing and an unknown user's dummy. */
	assert_int_equal(password_hash(ctx, PW, strlen(PW), h6, sizeof h6), 0);
	assert_int_equal(password_verify(ctx, WRONG, strlen(WRONG), h6),
	    PASSWORD_MISMATCH);
	assert_int_equal(password_verify(ctx, WRONG, strlen(WRONG), NULL),
	    PASSWORD_MISMATCH);
	assert_int_equal(password_verify(ctx, PW, strlen(PW), "*"),
	    PASSWORD_MISMATCH);
	password_ctx_stats(ctx, &st);
	assert_int_equal(st.padded, 6);
	assert_int_equal(st.samples, 5);

	/* A higher cost is neither padded nor a sample (it would inflate
	 * the target). */
	assert_int_equal(password_verify(ctx, WRONG, strlen(WRONG), h7),
	    PASSWORD_MISMATCH);
	assert_int_equal(password_verify(ctx, PW, strlen(PW), h7),
	    PASSWORD_OK);
	password_ctx_stats(ctx, &st);
	assert_int_equal(st.padded, 6);
	assert_int_equal(st.samples, 5);

	/* An overlong password for a weak hash is checked as the dummy. */
	{
		char longpw[80];

		memset(longpw, 'a', sizeof longpw);
		assert_int_equal(password_verify(ctx, longpw, sizeof longpw,
		    foreign_hashes[3]), PASSWORD_MISMATCH);
		password_ctx_stats(ctx, &st);
		assert_int_equal(st.padded, 6);
		assert_int_equal(st.samples, 6);
	}
	password_ctx_free(ctx);
	password_ctx_free(ctx7);
}

/* Below cost 6 there is no cheaper bcrypt to calibrate with: the first
 * weak mismatch of a fresh context runs the dummy as its padding, and
 * measures that. */
static void
test_low_cost_context_calibrates_with_the_dummy(void **state)
{
	struct password_ctx *ctx;
	struct password_stats st;
	long long t0, used;

	(void)state;
	assert_int_equal(password_ctx_new(5, &ctx), 0);
	t0 = thread_cpu_ns();
	assert_int_equal(password_verify(ctx, WRONG, strlen(WRONG),
	    foreign_hashes[0]), PASSWORD_MISMATCH);
	used = thread_cpu_ns() - t0;
	password_ctx_stats(ctx, &st);
	assert_int_equal(st.padded, 1);
	assert_int_equal(st.samples, 1);
	assert_true(st.full_cost_ns > 0);
	assert_true(used >= st.full_cost_ns);
	password_ctx_free(ctx);
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
		cmocka_unit_test(test_at_full_cost),
		cmocka_unit_test(test_weak_mismatches_are_padded),
		cmocka_unit_test(test_low_cost_context_calibrates_with_the_dummy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
