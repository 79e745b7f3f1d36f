/* fuzz_json.c: libFuzzer harness for lib/json: any bytes, as a request
 * body, must parse or be refused without a crash, a leak or UB; what
 * parses must read into fields without trouble (a string field found is
 * NUL-free, of the length told and within its limit), and json_serialize
 * must write it as JSON that json-c reads back as an equal object and that
 * json_parse_object itself accepts again (the answers latch writes are
 * bodies latch would read); and the next parse on the thread is not
 * changed by this one. */
#include "fuzz_common.h"
#include "json.h"

/* Whatever the input was, the next body on this thread parses as if it
 * were the first: lib/json keeps one json-c tokener per thread, and
 * nothing of one request may reach the next (seeds/json/regress-tokener-
 * state-a left a high surrogate that turned this \u0041 into U+FFFD A). */
static void
probe_next_parse(void)
{
	static const char probe[] = "{\"b\":\"\\u0041\\u00e9\",\"n\":1.5}";
	json_object *o = NULL, *v;

	FUZZ_CHECK(json_parse_object(probe, sizeof probe - 1, &o) == JSON_OK);
	FUZZ_CHECK(json_object_object_get_ex(o, "b", &v) &&
	    strcmp(json_object_get_string(v), "A\xc3\xa9") == 0);
	FUZZ_CHECK(json_object_object_get_ex(o, "n", &v) &&
	    json_object_is_type(v, json_type_double));
	json_object_put(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *o = NULL;
	const char *a, *b;
	size_t alen;
	char why[128];
	const struct json_field fields[] = {
		{ "username", JSON_FIELD_STRING, 255, &a, &alen },
		{ "password", JSON_FIELD_STRING, 72, &b, NULL },
	};

	if (size > 16384)
		return 0;
	if (json_parse_object((const char *)data, size, &o) == JSON_OK) {
		char *text;
		size_t len;

		if (json_read_fields(o, fields, 2, why, sizeof why) == 0) {
			FUZZ_CHECK(a == NULL || (strlen(a) == alen &&
			    alen <= 255));
			FUZZ_CHECK(b == NULL || strlen(b) <= 72);
		} else {
			FUZZ_CHECK(why[0] != '\0');
		}
		/* Refused only for what JSON cannot say (json-c reads
		 * 1e999 as an infinity). */
		if (json_serialize(o, &text, &len) == JSON_OK) {
			json_object *back = json_tokener_parse(text);
			json_object *again = NULL;

			FUZZ_CHECK(back != NULL && strlen(text) == len &&
			    json_object_equal(o, back));
			FUZZ_CHECK(json_parse_object(text, len, &again) ==
			    JSON_OK && json_object_equal(o, again));
			json_object_put(again);
			json_object_put(back);
			json_text_free(text, len);
		}
		json_wipe_put(o);
	}
	probe_next_parse();
	return 0;
}
