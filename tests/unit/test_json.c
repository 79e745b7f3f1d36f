/* test_json.c: lib/json's strict parsing and typed field reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_plain_object),
		cmocka_unit_test(test_rejects_non_objects),
		cmocka_unit_test(test_rejects_invalid_json),
		cmocka_unit_test(test_rejects_invalid_utf8),
		cmocka_unit_test(test_rejects_raw_nul_byte),
		cmocka_unit_test(test_rejects_duplicate_top_level_keys),
		cmocka_unit_test(test_rejects_deep_nesting),
		cmocka_unit_test(test_read_fields_types_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
