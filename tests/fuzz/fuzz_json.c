/* fuzz_json.c: libFuzzer harness for lib/json: any bytes, as a request
 * body, must parse or be refused without a crash, a leak or UB; what
 * parses must read into fields without trouble. */
#include <stddef.h>
#include <stdint.h>

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
		(void)json_read_fields(o, fields, 2, why, sizeof why);
		json_object_put(o);
	}
	return 0;
}
