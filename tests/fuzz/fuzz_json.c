/* fuzz_json.c: libFuzzer harness for lib/json: any bytes, as a request
 * body, must parse or be refused without a crash, a leak or UB; what
 * parses must read into fields without trouble, and json_serialize must
 * write it as JSON that json-c reads back as an equal object. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

		(void)json_read_fields(o, fields, 2, why, sizeof why);
		/* Refused only for what JSON cannot say (json-c reads
		 * 1e999 as an infinity). */
		if (json_serialize(o, &text, &len) == JSON_OK) {
			json_object *back = json_tokener_parse(text);

			if (back == NULL || strlen(text) != len ||
			    !json_object_equal(o, back))
				abort();
			json_object_put(back);
			json_text_free(text, len);
		}
		json_wipe_put(o);
	}
	return 0;
}
