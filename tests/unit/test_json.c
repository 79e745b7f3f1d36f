/* test_json.c: lib/json's strict parsing and typed field reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static int
parse(const char *s, json_object **out)
{
	return json_parse_object(s, strlen(s), out);
}

static void
test_accepts_plain_object(void **state)
{
	json_object *o = NULL;

	(void)state;
	assert_int_equal(parse(" {\"a\": \"x\", \"b\": [1, {\"c\": 2}],"
	    " \"n\": -1.5e3, \"t\": [true, false, null]}\n", &o), JSON_OK);
	assert_int_equal(json_object_object_length(o), 4);
	json_object_put(o);
}

static void
test_rejects_non_objects(void **state)
{
	static const char *const inputs[] = { "[]", "1", "\"s\"", "null",
	    "true" };
	json_object *o = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		assert_int_equal(parse(inputs[i], &o), JSON_ENOTOBJECT);
	assert_null(o);
}

static void
test_rejects_invalid_json(void **state)
{
	static const char *const inputs[] = {
		"", "{", "{\"a\":1,}", "{\"a\":1} x", "{'a':1}", "{\"a\":01}",
		"{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{a:1}", "{\"a\" 1}",
		"{\"a\":1}{\"b\":2}", "{\"a\":NaN}", "{\"a\":Infinity}",
		"{\"a\":-Infinity}", "{\"a\":nan}", "{\"a\":True}",
	};
	json_object *o = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		int rc = parse(inputs[i], &o);

		if (rc != JSON_EINVALID)
			fail_msg("input %zu (%s) gave %d", i, inputs[i], rc);
	}
	assert_null(o);
}

static void
test_rejects_invalid_utf8(void **state)
{
	static const char *const inputs[] = {
		"{\"a\":\"\xc0\xaf\"}",              /* overlong '/' */
		"{\"a\":\"\xe0\x80\xaf\"}",          /* overlong, 3 bytes */
		"{\"a\":\"\xed\xa0\x80\"}",          /* UTF-16 surrogate */
		"{\"a\":\"\xf4\x90\x80\x80\"}",      /* above U+10FFFF */
		"{\"a\":\"\xf8\x88\x80\x80\x80\"}",  /* 5-byte form */
		"{\"a\":\"\xe2\x82\"}",              /* truncated */
		"{\"a\":\"\x80\"}",                  /* lone continuation */
		"{\"a\":\"x\\ud800y\"}",               /* lone high surrogate */
		"{\"a\":\"\\udc00\"}",                 /* lone low surrogate */
		"{\"a\":\"\\ud800\\u0041\"}",          /* high, then no low */
	};
	json_object *o = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		if (parse(inputs[i], &o) != JSON_EINVALID)
			fail_msg("input %zu accepted", i);
	/* An escaped pair is fine. */
	assert_int_equal(parse("{\"a\":\"\\ud83d\\udd11\\u00e9\"}", &o), JSON_OK);
	json_object_put(o);
	/* The real thing passes: é, €, U+10FFFF, an emoji. */
	assert_int_equal(parse("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf"
	    "\xf0\x9f\x94\x91\"}", &o), JSON_OK);
	json_object_put(o);
}

static void
test_rejects_raw_control_characters_in_strings(void **state)
{
	/* RFC 8259 section 7: U+0000 to U+001F must be escaped in strings.
	 * Outside strings, only space, tab, CR and LF may separate tokens. */
	static const char *const inputs[] = {
		"{\"pa\x11ss\":\"x\"}",
		"{\"a\":\"x\x01\"}",
		"{\"a\":\"line\nbreak\"}",
		"{\"a\":\"tab\there\"}",
		"{\"a\":\"\x1f\"}",
		"{\"a\":\x0b\"x\"}",
	};
	json_object *o = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		if (parse(inputs[i], &o) != JSON_EINVALID)
			fail_msg("input %zu accepted", i);
	/* Escaped, they are fine; so is whitespace between tokens. */
	assert_int_equal(parse("{\"a\":\"line\\nbreak\\t\\u0011\"}", &o),
	    JSON_OK);
	assert_string_equal(json_object_get_string(json_object_object_get(o,
	    "a")), "line\nbreak\t\x11");
	json_object_put(o);
	assert_int_equal(parse("{\t\"a\"\r\n:\n\"x\" }", &o), JSON_OK);
	json_object_put(o);
}

static void
test_rejects_raw_nul_byte(void **state)
{
	json_object *o = NULL;

	(void)state;
	assert_int_equal(json_parse_object("{\"a\":\"x\0\"}", 10, &o),
	    JSON_EINVALID);
}

static void
test_rejects_duplicate_top_level_keys(void **state)
{
	json_object *o = NULL;

	(void)state;
	assert_int_equal(parse("{\"a\":\"x\",\"a\":\"y\"}", &o), JSON_EDUPLICATE);
	/* Escaped spellings of the same key are the same key. */
	assert_int_equal(parse("{\"a\":\"x\",\"\\u0061\":\"y\"}", &o),
	    JSON_EDUPLICATE);
	/* Keys inside strings or nested objects are not top-level keys. */
	assert_int_equal(parse("{\"a\":\"\\\"a\\\":\",\"b\":{\"a\":1,\"c\":2}}",
	    &o), JSON_OK);
	json_object_put(o);
}

static void
test_rejects_deep_nesting(void **state)
{
	char deep[64];
	json_object *o = NULL;
	size_t n = 0;

	(void)state;
	deep[n++] = '{';
	memcpy(deep + n, "\"a\":", 4);
	n += 4;
	for (int i = 0; i < 20; i++)
		deep[n++] = '[';
	for (int i = 0; i < 20; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	assert_int_equal(json_parse_object(deep, n, &o), JSON_ETOODEEP);
}

/* One parse must not leak into the next on the same thread (found by
 * tests/fuzz/fuzz_json.c, seeds/json/regress-tokener-state): a body cut
 * after a high surrogate and half an escape left json-c's tokener, which
 * each thread keeps, holding the surrogate, and the next body's first
 * \u escape read as U+FFFD and the character. */
static void
test_parse_keeps_nothing_from_the_last_one(void **state)
{
	static const char *const cut[] = {
		"{\"a\":\"\\ud800\\u00", "{\"a\":\"\\ud800", "{\"a\":\"\\u00",
		"{\"a\":1.", "{\"a\":\"x",
	};
	const char *next = "{\"b\":\"\\u0041\"}";
	json_object *o, *v;

	(void)state;
	for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
		o = NULL;
		assert_int_equal(json_parse_object(cut[i], strlen(cut[i]), &o),
		    JSON_EINVALID);
		assert_int_equal(json_parse_object(next, strlen(next), &o),
		    JSON_OK);
		assert_true(json_object_object_get_ex(o, "b", &v));
		assert_string_equal(json_object_get_string(v), "A");
		json_object_put(o);
	}
}

static void
test_read_fields_types_and_limits(void **state)
{
	const char *user, *pw;
	size_t pwlen;
	char why[128];
	struct json_field fields[] = {
		{ "username", JSON_FIELD_STRING, 5, &user, NULL },
		{ "password", JSON_FIELD_STRING, 8, &pw, &pwlen },
	};
	json_object *o;

	(void)state;
	assert_int_equal(parse("{\"username\":\"bob\"}", &o), JSON_OK);
	assert_int_equal(json_read_fields(o, fields, 2, why, sizeof why), 0);
	assert_string_equal(user, "bob");
	assert_null(pw);
	json_object_put(o);

	assert_int_equal(parse("{\"username\":\"bobby1\"}", &o), JSON_OK);
	assert_int_equal(json_read_fields(o, fields, 2, why, sizeof why), -1);
	json_object_put(o);

	assert_int_equal(parse("{\"username\":5}", &o), JSON_OK);
	assert_int_equal(json_read_fields(o, fields, 2, why, sizeof why), -1);
	assert_non_null(strstr(why, "must be a string"));
	json_object_put(o);

	assert_int_equal(parse("{\"password\":null}", &o), JSON_OK);
	assert_int_equal(json_read_fields(o, fields, 2, why, sizeof why), -1);
	json_object_put(o);

	assert_int_equal(parse("{\"password\":\"a\\u0000b\"}", &o), JSON_OK);
	assert_int_equal(json_read_fields(o, fields, 2, why, sizeof why), -1);
	assert_non_null(strstr(why, "NUL"));
	json_object_put(o);

	assert_int_equal(parse("{\"other\":\"x\"}", &o), JSON_OK);
	assert_int_equal(json_read_fields(o, fields, 2, why, sizeof why), -1);
	json_object_put(o);
}

/* The answer text is written by json_serialize, not json-c's printer
 * (whose growing buffer is freed unwiped): it must be the same bytes
 * json-c writes with PLAIN | NOSLASHESCAPE, so that clients see nothing
 * change. Strings carry every escape JSON has. */
static void
test_serialize_writes_what_json_c_writes(void **state)
{
	static const char escapes[] =
	    "q\"b\\s/n\nr\rt\tb\bf\f\x01\x1f\x7f \xc3\xa9";
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	char *text;
	size_t len;
	const char *want;

	(void)state;
	json_object_object_add(o, "access_token",
	    json_object_new_string("eyJ.a-b_c.d/e+f="));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_in", json_object_new_int64(900));
	json_object_object_add(o, "neg", json_object_new_int64(INT64_MIN));
	json_object_object_add(o, "big", json_object_new_uint64(UINT64_MAX));
	json_object_object_add(o, "max", json_object_new_int64(INT64_MAX));
	json_object_object_add(o, "escapes", json_object_new_string_len(
	    escapes, sizeof escapes - 1));
	json_object_object_add(o, "nul", json_object_new_string_len("a\0b", 3));
	json_object_object_add(o, "k\"ey", json_object_new_boolean(1));
	json_object_array_add(a, json_object_new_boolean(0));
	json_object_array_add(a, NULL);
	json_object_array_add(a, json_object_new_object());
	json_object_array_add(a, json_object_new_array());
	json_object_array_add(a, json_object_new_string(""));
	json_object_object_add(o, "list", a);
	json_object_object_add(o, "none", NULL);

	want = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	assert_int_equal(json_serialize(o, &text, &len), JSON_OK);
	assert_int_equal(len, strlen(want));
	assert_string_equal(text, want);
	json_text_free(text, len);
	json_object_put(o);

	assert_int_equal(json_serialize(NULL, &text, &len), JSON_OK);
	assert_string_equal(text, "null");
	json_text_free(text, len);
}

/* Doubles are written so that they read back as the same double. */
static void
test_serialize_doubles_read_back(void **state)
{
	const double values[] = { 0.0, -0.0, 1.5, -1e300, 3.0, 0.1,
	    1e-320 };
	char *text;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		json_object *d = json_object_new_double(values[i]), *back;

		assert_int_equal(json_serialize(d, &text, &len), JSON_OK);
		back = json_tokener_parse(text);
		assert_non_null(back);
		assert_true(json_object_is_type(back, json_type_double));
		assert_true(json_object_get_double(back) == values[i]);
		json_object_put(back);
		json_text_free(text, len);
		json_object_put(d);
	}
}

/* What JSON cannot say is refused rather than written wrongly. */
static void
test_serialize_refuses_nan_and_infinity(void **state)
{
	json_object *o = json_object_new_object();
	char *text = (char *)"untouched";
	size_t len = 7;

	(void)state;
	json_object_object_add(o, "x", json_object_new_double(strtod("nan",
	    NULL)));
	assert_int_equal(json_serialize(o, &text, &len), JSON_EINVALID);
	assert_null(text);
	assert_int_equal(len, 0);
	json_object_put(o);
	o = json_object_new_array();
	json_object_array_add(o, json_object_new_double(strtod("inf", NULL)));
	assert_int_equal(json_serialize(o, &text, &len), JSON_EINVALID);
	json_object_put(o);
}

/* json_wipe_put blanks every string at any depth before the put. To look
 * at a string after it, the test keeps its own reference to it. */
static void
test_wipe_put_blanks_every_string(void **state)
{
	json_object *o, *deep, *top;
	const char *deep_text, *top_text;

	(void)state;
	assert_int_equal(parse("{\"refresh_token\": \"secret-one\", "
	    "\"l\": [{\"p\": \"secret-two\"}], \"n\": 5}", &o), JSON_OK);
	assert_true(json_object_object_get_ex(o, "refresh_token", &top));
	deep = json_object_object_get(json_object_array_get_idx(
	    json_object_object_get(o, "l"), 0), "p");
	json_object_get(top);
	json_object_get(deep);
	top_text = json_object_get_string(top);
	deep_text = json_object_get_string(deep);
	json_wipe_put(o);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(top_text[i], 0);
		assert_int_equal(deep_text[i], 0);
	}
	json_object_put(top);
	json_object_put(deep);
	json_wipe_put(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_plain_object),
		cmocka_unit_test(test_rejects_non_objects),
		cmocka_unit_test(test_rejects_invalid_json),
		cmocka_unit_test(test_rejects_invalid_utf8),
		cmocka_unit_test(test_rejects_raw_control_characters_in_strings),
		cmocka_unit_test(test_rejects_raw_nul_byte),
		cmocka_unit_test(test_rejects_duplicate_top_level_keys),
		cmocka_unit_test(test_rejects_deep_nesting),
		cmocka_unit_test(test_parse_keeps_nothing_from_the_last_one),
		cmocka_unit_test(test_read_fields_types_and_limits),
		cmocka_unit_test(test_serialize_writes_what_json_c_writes),
		cmocka_unit_test(test_serialize_doubles_read_back),
		cmocka_unit_test(test_serialize_refuses_nan_and_infinity),
		cmocka_unit_test(test_wipe_put_blanks_every_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
