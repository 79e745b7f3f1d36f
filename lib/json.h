/* json.h: request bodies as json-c objects, parsed strictly and with
 * limits, and read into typed fields. */
#ifndef LATCH_JSON_H
#define LATCH_JSON_H

#include <stddef.h>

#include <json-c/json.h>

#define JSON_MAX_DEPTH 8

enum json_err {
	JSON_OK = 0,
	JSON_EINVALID = -1,     /* not JSON, trailing bytes, invalid UTF-8 */
	JSON_ENOTOBJECT = -2,   /* valid JSON but not an object */
	JSON_EDUPLICATE = -3,   /* a key appears twice in one object */
	JSON_ETOODEEP = -4,     /* nested deeper than the limit */
	JSON_ENOMEM = -5,
};

/* Parses the len bytes at buf (no NUL needed) as one JSON object with
 * strict syntax (RFC 8259: no trailing commas, no garbage after it) and
 * valid UTF-8, nested at most JSON_MAX_DEPTH deep, with no duplicate keys
 * at its top level (json-c would silently keep the last one).
 * On success returns JSON_OK and *out is a new reference the caller puts;
 * otherwise a negative enum json_err and *out is untouched. */
int json_parse_object(const char *buf, size_t len, json_object **out);

enum json_field_type {
	JSON_FIELD_STRING,
};

/* One expected member of a request object. */
struct json_field {
	const char *name;
	enum json_field_type type;
	size_t max_len;         /* bytes, for strings */
	const char **value;     /* out: borrowed from the object, or NULL */
	size_t *len;            /* out: byte length, may be NULL */
};

/* Reads obj's members into fields. Every member must be one of fields
 * (by exact name) and of its type; strings must not contain NUL and must
 * be at most max_len bytes. Absent fields get *value = NULL. Returns 0, or
 * -1 with a short English reason (naming the member, never its value) in
 * why (whysz bytes). The strings stay owned by obj. */
int json_read_fields(json_object *obj, const struct json_field *fields,
    size_t n, char *why, size_t whysz);

/* Serialises obj compactly (no slash escaping). The string is owned by
 * obj. */
const char *json_text(json_object *obj, size_t *len);

#endif
