/* test_seal.c: lib/seal, the successor kept for the grace window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seal.h"

static const char pred[] = "eyJhbGciOiJIUzI1NiJ9.cHJlZGVjZXNzb3I.c2ln";
static const char succ[] = "eyJhbGciOiJIUzI1NiJ9.c3VjY2Vzc29y.c2ln";
static const char sid[] = "3f2c1a9e-8a7b-4c5d-9e0f-112233445566";

static void
test_round_trip(void **state)
{
	unsigned char *sealed;
	size_t len;
	char *opened;

	(void)state;
	assert_int_equal(seal_encrypt(pred, strlen(pred), sid, succ,
	    strlen(succ), &sealed, &len), 0);
	assert_int_equal(len, strlen(succ) + SEAL_OVERHEAD);
	/* What is stored does not contain the token. */
	assert_null(memmem(sealed, len, "c3VjY2Vzc29y", 12));
	assert_int_equal(seal_decrypt(pred, strlen(pred), sid, sealed, len,
	    &opened), 0);
	assert_string_equal(opened, succ);
	free(opened);
	free(sealed);
}

static void
test_only_the_predecessor_opens_it(void **state)
{
	unsigned char *sealed;
	size_t len;
	char *opened = NULL;
	char other[sizeof pred];

	(void)state;
	assert_int_equal(seal_encrypt(pred, strlen(pred), sid, succ,
	    strlen(succ), &sealed, &len), 0);
	memcpy(other, pred, sizeof pred);
	other[5] ^= 1;
	assert_int_equal(seal_decrypt(other, strlen(other), sid, sealed, len,
	    &opened), -1);
	/* Bound to its session: another context fails. */
	assert_int_equal(seal_decrypt(pred, strlen(pred),
	    "00000000-0000-4000-8000-000000000000", sealed, len, &opened), -1);
	assert_null(opened);
	free(sealed);
}

static void
test_any_altered_byte_is_refused(void **state)
{
	unsigned char *sealed;
	size_t len;
	char *opened = NULL;

	(void)state;
	assert_int_equal(seal_encrypt(pred, strlen(pred), sid, succ,
	    strlen(succ), &sealed, &len), 0);
	for (size_t i = 0; i < len; i++) {
		sealed[i] ^= 0x01;
		if (seal_decrypt(pred, strlen(pred), sid, sealed, len,
		    &opened) != -1)
			fail_msg("byte %zu altered but accepted", i);
		sealed[i] ^= 0x01;
	}
	assert_int_equal(seal_decrypt(pred, strlen(pred), sid, sealed, len - 1,
	    &opened), -1);
	assert_int_equal(seal_decrypt(pred, strlen(pred), sid, sealed, 5,
	    &opened), -1);
	free(sealed);
}

static void
test_nonces_differ(void **state)
{
	unsigned char *a, *b;
	size_t alen, blen;

	(void)state;
	assert_int_equal(seal_encrypt(pred, strlen(pred), sid, succ,
	    strlen(succ), &a, &alen), 0);
	assert_int_equal(seal_encrypt(pred, strlen(pred), sid, succ,
	    strlen(succ), &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_not_equal(a, b, alen);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_only_the_predecessor_opens_it),
		cmocka_unit_test(test_any_altered_byte_is_refused),
		cmocka_unit_test(test_nonces_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
