/* test_seal.c: lib/seal, the successor kept for the grace window: its key
 * needs both the predecessor token and the server key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "keys.h"
#include "seal.h"

static const char pred[] = "eyJhbGciOiJIUzI1NiJ9.cHJlZGVjZXNzb3I.c2ln";
static const char succ[] = "eyJhbGciOiJIUzI1NiJ9.c3VjY2Vzc29y.c2ln";
static const char sid[] = "3f2c1a9e-8a7b-4c5d-9e0f-112233445566";

static unsigned char secret_a[] = "refresh-secret-a-0123456789abcdef0123";
static unsigned char secret_b[] = "refresh-secret-b-0123456789abcdef0123";
static const struct key key_a = { "r1", secret_a, sizeof secret_a - 1,
    NULL };
static const struct key key_b = { "r2", secret_b, sizeof secret_b - 1,
    NULL };

static void
server_key(const struct key *k, unsigned char out[SEAL_SERVER_KEY_LEN])
{
	assert_int_equal(seal_server_key(k, out), 0);
}

static void
seal(const unsigned char *skey, unsigned char **sealed, size_t *len)
{
	assert_int_equal(seal_encrypt(skey, pred, strlen(pred), sid, succ,
	    strlen(succ), sealed, len), 0);
}

static void
test_round_trip(void **state)
{
	unsigned char skey[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed;
	size_t len;
	char *opened;

	(void)state;
	server_key(&key_a, skey);
	seal(skey, &sealed, &len);
	assert_int_equal(len, strlen(succ) + SEAL_OVERHEAD);
	/* What is stored does not contain the token. */
	assert_null(memmem(sealed, len, "c3VjY2Vzc29y", 12));
	/* The same inputs, derived afresh, open it. */
	server_key(&key_a, skey);
	assert_int_equal(seal_decrypt(skey, pred, strlen(pred), sid, sealed,
	    len, &opened), 0);
	assert_string_equal(opened, succ);
	free(opened);
	free(sealed);
}

static void
test_only_the_predecessor_opens_it(void **state)
{
	unsigned char skey[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed;
	size_t len;
	char *opened = NULL;
	char other[sizeof pred];

	(void)state;
	server_key(&key_a, skey);
	seal(skey, &sealed, &len);
	memcpy(other, pred, sizeof pred);
	other[5] ^= 1;
	assert_int_equal(seal_decrypt(skey, other, strlen(other), sid, sealed,
	    len, &opened), -1);
	/* The successor itself (the token a client holds next) neither. */
	assert_int_equal(seal_decrypt(skey, succ, strlen(succ), sid, sealed,
	    len, &opened), -1);
	/* Bound to its session: another context fails. */
	assert_int_equal(seal_decrypt(skey, pred, strlen(pred),
	    "00000000-0000-4000-8000-000000000000", sealed, len, &opened), -1);
	assert_null(opened);
	free(sealed);
}

static void
test_only_the_server_key_opens_it(void **state)
{
	unsigned char skey[SEAL_SERVER_KEY_LEN], wrong[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed;
	size_t len;
	char *opened = NULL;

	(void)state;
	server_key(&key_a, skey);
	seal(skey, &sealed, &len);
	/* Another refresh key's server key. */
	server_key(&key_b, wrong);
	assert_int_equal(seal_decrypt(wrong, pred, strlen(pred), sid, sealed,
	    len, &opened), -1);
	/* The right key's derivation for another purpose. */
	assert_int_equal(key_derive(&key_a, "latch throttle key v1", wrong), 0);
	assert_int_equal(seal_decrypt(wrong, pred, strlen(pred), sid, sealed,
	    len, &opened), -1);
	/* All zeros: what HKDF uses without a salt, i.e. the predecessor
	 * token alone. */
	memset(wrong, 0, sizeof wrong);
	assert_int_equal(seal_decrypt(wrong, pred, strlen(pred), sid, sealed,
	    len, &opened), -1);
	/* The secret itself, not derived. */
	memcpy(wrong, secret_a, sizeof wrong);
	assert_int_equal(seal_decrypt(wrong, pred, strlen(pred), sid, sealed,
	    len, &opened), -1);
	/* One bit off. */
	memcpy(wrong, skey, sizeof wrong);
	wrong[31] ^= 0x80;
	assert_int_equal(seal_decrypt(wrong, pred, strlen(pred), sid, sealed,
	    len, &opened), -1);
	assert_null(opened);
	free(sealed);
}

static void
test_server_key_is_per_key_and_purpose(void **state)
{
	unsigned char a1[SEAL_SERVER_KEY_LEN], a2[SEAL_SERVER_KEY_LEN];
	unsigned char b[SEAL_SERVER_KEY_LEN], other[KEY_DERIVED_LEN];
	unsigned char zero[SEAL_SERVER_KEY_LEN] = { 0 };

	(void)state;
	server_key(&key_a, a1);
	server_key(&key_a, a2);
	server_key(&key_b, b);
	assert_memory_equal(a1, a2, sizeof a1);
	assert_memory_not_equal(a1, b, sizeof a1);
	assert_memory_not_equal(a1, zero, sizeof a1);
	assert_memory_not_equal(a1, secret_a, sizeof a1);
	/* Its own label: no other purpose derives the same key. */
	assert_int_equal(key_derive(&key_a, "latch successor seal v2", other),
	    0);
	assert_memory_equal(a1, other, sizeof a1);
	assert_int_equal(key_derive(&key_a, "latch successor seal v1", other),
	    0);
	assert_memory_not_equal(a1, other, sizeof a1);
	assert_int_equal(seal_server_key(NULL, a1), -1);
}

static void
test_any_altered_byte_is_refused(void **state)
{
	unsigned char skey[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed;
	size_t len;
	char *opened = NULL;

	(void)state;
	server_key(&key_a, skey);
	seal(skey, &sealed, &len);
	for (size_t i = 0; i < len; i++) {
		sealed[i] ^= 0x01;
		if (seal_decrypt(skey, pred, strlen(pred), sid, sealed, len,
		    &opened) != -1)
			fail_msg("byte %zu altered but accepted", i);
		sealed[i] ^= 0x01;
	}
	assert_int_equal(seal_decrypt(skey, pred, strlen(pred), sid, sealed,
	    len - 1, &opened), -1);
	assert_int_equal(seal_decrypt(skey, pred, strlen(pred), sid, sealed, 5,
	    &opened), -1);
	free(sealed);
}

static void
test_nonces_differ(void **state)
{
	unsigned char skey[SEAL_SERVER_KEY_LEN];
	unsigned char *a, *b;
	size_t alen, blen;

	(void)state;
	server_key(&key_a, skey);
	seal(skey, &a, &alen);
	seal(skey, &b, &blen);
	assert_int_equal(alen, blen);
	assert_memory_not_equal(a, b, alen);
	free(a);
	free(b);
}

static void
test_overlong_context_is_refused(void **state)
{
	unsigned char skey[SEAL_SERVER_KEY_LEN];
	unsigned char *sealed = NULL;
	size_t len;
	char context[100];

	(void)state;
	server_key(&key_a, skey);
	memset(context, 'x', sizeof context - 1);
	context[sizeof context - 1] = '\0';
	assert_int_equal(seal_encrypt(skey, pred, strlen(pred), context, succ,
	    strlen(succ), &sealed, &len), -1);
	assert_null(sealed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_only_the_predecessor_opens_it),
		cmocka_unit_test(test_only_the_server_key_opens_it),
		cmocka_unit_test(test_server_key_is_per_key_and_purpose),
		cmocka_unit_test(test_any_altered_byte_is_refused),
		cmocka_unit_test(test_nonces_differ),
		cmocka_unit_test(test_overlong_context_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
