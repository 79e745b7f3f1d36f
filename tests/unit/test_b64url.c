/* test_b64url.c: strict base64url (lib/b64url.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "b64url.h"

/* RFC 4648 section 10 vectors; base64url without padding is the base64
 * text with the '=' removed (none of them holds '+' or '/'). */
static const struct {
	const char *plain;
	const char *encoded;
} rfc4648[] = {
	{ "", "" },
	{ "f", "Zg" },
	{ "fo", "Zm8" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg" },
	{ "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" },
};

#define NVEC (sizeof(rfc4648) / sizeof(rfc4648[0]))

/* Decodes the NUL-terminated s; returns what b64url_decode returns. */
static int
decode_str(const char *s, unsigned char *out, size_t outsz, size_t *outlen)
{
	return b64url_decode(s, strlen(s), out, outsz, outlen);
}

static void
test_round_trip_of_random_bytes_of_every_length_0_to_64(void **state)
{
	unsigned char in[64], back[64];
	char enc[100];
	size_t n, outlen;
	int w;

	(void)state;
	for (n = 0; n <= 64; n++) {
		if (n > 0)
			assert_int_equal(RAND_bytes(in, (int)n), 1);
		w = b64url_encode(in, n, enc, sizeof(enc));
		assert_int_equal(w, (int)b64url_encoded_len(n));
		assert_int_equal(strlen(enc), (size_t)w);
		assert_true(b64url_decoded_max((size_t)w) >= n);
		assert_int_equal(b64url_decode(enc, (size_t)w, back,
		    sizeof(back), &outlen), 0);
		assert_int_equal(outlen, n);
		assert_memory_equal(back, in, n);
	}
}

static void
test_round_trip_of_all_byte_values(void **state)
{
	unsigned char in[256], back[256];
	char enc[400];
	size_t i, outlen;
	int w;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)i;
	w = b64url_encode(in, sizeof(in), enc, sizeof(enc));
	assert_int_equal(w, 342);
	assert_int_equal(b64url_decode(enc, (size_t)w, back, sizeof(back),
	    &outlen), 0);
	assert_int_equal(outlen, sizeof(in));
	assert_memory_equal(back, in, sizeof(in));
}

static void
test_encodes_rfc4648_vectors_without_padding(void **state)
{
	char enc[16];
	size_t i;

	(void)state;
	for (i = 0; i < NVEC; i++) {
		assert_int_equal(b64url_encode(
		    (const unsigned char *)rfc4648[i].plain,
		    strlen(rfc4648[i].plain), enc, sizeof(enc)),
		    (int)strlen(rfc4648[i].encoded));
		assert_string_equal(enc, rfc4648[i].encoded);
	}
}

static void
test_decodes_rfc4648_vectors_without_padding(void **state)
{
	unsigned char out[16];
	size_t i, outlen;

	(void)state;
	for (i = 0; i < NVEC; i++) {
		assert_int_equal(decode_str(rfc4648[i].encoded, out,
		    sizeof(out), &outlen), 0);
		assert_int_equal(outlen, strlen(rfc4648[i].plain));
		assert_memory_equal(out, rfc4648[i].plain, outlen);
	}
}

static void
test_uses_url_alphabet_minus_and_underscore(void **state)
{
	static const unsigned char in[] = { 0xfb, 0xff, 0xbf };
	unsigned char out[4];
	char enc[8];
	size_t outlen;

	(void)state;
	assert_int_equal(b64url_encode(in, sizeof(in), enc, sizeof(enc)), 4);
	assert_string_equal(enc, "-_-_");
	assert_int_equal(decode_str("-_-_", out, sizeof(out), &outlen), 0);
	assert_int_equal(outlen, 3);
	assert_memory_equal(out, in, 3);
}

static void
test_lengths_follow_the_formula(void **state)
{
	(void)state;
	assert_int_equal(b64url_encoded_len(0), 0);
	assert_int_equal(b64url_encoded_len(1), 2);
	assert_int_equal(b64url_encoded_len(2), 3);
	assert_int_equal(b64url_encoded_len(3), 4);
	assert_int_equal(b64url_encoded_len(32), 43);
	assert_int_equal(b64url_decoded_max(0), 0);
	assert_int_equal(b64url_decoded_max(2), 1);
	assert_int_equal(b64url_decoded_max(3), 2);
	assert_int_equal(b64url_decoded_max(4), 3);
	assert_int_equal(b64url_decoded_max(43), 32);
}

static void
test_decode_rejects_padding(void **state)
{
	unsigned char out[16];
	size_t outlen;

	(void)state;
	assert_int_equal(decode_str("Zg==", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zm8=", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zg=", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("====", out, sizeof(out), &outlen), -1);
}

static void
test_decode_rejects_standard_alphabet_plus_and_slash(void **state)
{
	unsigned char out[16];
	size_t outlen;

	(void)state;
	assert_int_equal(decode_str("+_-_", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("-/-_", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("+/+/", out, sizeof(out), &outlen), -1);
}

static void
test_decode_rejects_white_space(void **state)
{
	unsigned char out[16];
	size_t outlen;

	(void)state;
	assert_int_equal(decode_str(" Zm9v", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zm9v\n", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zm 9v", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zm9v\tYg", out, sizeof(out), &outlen),
	    -1);
	assert_int_equal(decode_str("Zm9v\r\n", out, sizeof(out), &outlen),
	    -1);
}

static void
test_decode_rejects_other_bytes_and_nul(void **state)
{
	unsigned char out[16];
	size_t outlen;

	(void)state;
	assert_int_equal(b64url_decode("Zm\0v", 4, out, sizeof(out), &outlen),
	    -1);
	assert_int_equal(decode_str("Zm9.", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zm9\xc3\xa9", out, sizeof(out), &outlen),
	    -1);
}

static void
test_decode_rejects_length_1_modulo_4(void **state)
{
	unsigned char out[16];
	size_t outlen;

	(void)state;
	assert_int_equal(decode_str("Z", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zm9vY", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Zm9vYmFyZ", out, sizeof(out), &outlen),
	    -1);
}

static void
test_decode_rejects_nonzero_trailing_bits(void **state)
{
	unsigned char out[16];
	size_t outlen;

	(void)state;
	/* "a" is YQ; YR..YZ carry the same byte with stray low bits. */
	assert_int_equal(decode_str("YQ", out, sizeof(out), &outlen), 0);
	assert_int_equal(outlen, 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(decode_str("YR", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("Yf", out, sizeof(out), &outlen), -1);
	/* "ab" is YWI; YWJ has one stray bit. */
	assert_int_equal(decode_str("YWI", out, sizeof(out), &outlen), 0);
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, "ab", 2);
	assert_int_equal(decode_str("YWJ", out, sizeof(out), &outlen), -1);
	assert_int_equal(decode_str("YWL", out, sizeof(out), &outlen), -1);
}

static void
test_decode_rejects_too_small_output_buffer(void **state)
{
	unsigned char out[8];
	size_t outlen;

	(void)state;
	assert_int_equal(decode_str("Zm9vYmFy", out, 5, &outlen), -1);
	assert_int_equal(decode_str("Zm9vYmFy", out, 6, &outlen), 0);
	assert_int_equal(outlen, 6);
	assert_int_equal(decode_str("Zm9vYg", out, 3, &outlen), -1);
	assert_int_equal(decode_str("Zm9vYg", out, 4, &outlen), 0);
}

static void
test_encode_rejects_too_small_output_buffer_untouched(void **state)
{
	char enc[8];

	(void)state;
	memset(enc, 'x', sizeof(enc));
	/* "foo" needs 4 characters and the NUL. */
	assert_int_equal(b64url_encode((const unsigned char *)"foo", 3, enc, 4),
	    -1);
	assert_memory_equal(enc, "xxxxxxxx", 8);
	assert_int_equal(b64url_encode((const unsigned char *)"foo", 3, enc, 5),
	    4);
	assert_string_equal(enc, "Zm9v");
	assert_int_equal(b64url_encode((const unsigned char *)"", 0, enc, 0),
	    -1);
	assert_int_equal(b64url_encode((const unsigned char *)"", 0, enc, 1), 0);
	assert_string_equal(enc, "");
}

static void
test_decode_of_empty_input_gives_nothing(void **state)
{
	unsigned char out[1];
	size_t outlen = 99;

	(void)state;
	assert_int_equal(b64url_decode("", 0, out, 0, &outlen), 0);
	assert_int_equal(outlen, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_round_trip_of_random_bytes_of_every_length_0_to_64),
		cmocka_unit_test(test_round_trip_of_all_byte_values),
		cmocka_unit_test(test_encodes_rfc4648_vectors_without_padding),
		cmocka_unit_test(test_decodes_rfc4648_vectors_without_padding),
		cmocka_unit_test(test_uses_url_alphabet_minus_and_underscore),
		cmocka_unit_test(test_lengths_follow_the_formula),
		cmocka_unit_test(test_decode_rejects_padding),
		cmocka_unit_test(
		    test_decode_rejects_standard_alphabet_plus_and_slash),
		cmocka_unit_test(test_decode_rejects_white_space),
		cmocka_unit_test(test_decode_rejects_other_bytes_and_nul),
		cmocka_unit_test(test_decode_rejects_length_1_modulo_4),
		cmocka_unit_test(test_decode_rejects_nonzero_trailing_bits),
		cmocka_unit_test(test_decode_rejects_too_small_output_buffer),
		cmocka_unit_test(
		    test_encode_rejects_too_small_output_buffer_untouched),
		cmocka_unit_test(test_decode_of_empty_input_gives_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
