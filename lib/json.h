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

/* Whether the len bytes at s are RFC 3629 UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF): what json_parse_object accepts in
 * a string, and so what a value must be to go into a JSON text latch
 * writes and reads back (a JWT's claims). 1 or 0. */
int json_utf8_valid(const char *s, size_t len);

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

/* Puts obj (NULL is fine) after overwriting the bytes of every string it
 * holds, at any depth: for objects that held a password or a token (a
 * parsed request body, a response). The object must not be shared: any
 * other reference would see its strings blanked. */
void json_wipe_put(json_object *obj);

#define JSON_WRITE_MAX_DEPTH 32

/* Serialises obj compactly as RFC 8259 JSON (json-c's PLAIN and
 * NOSLASHESCAPE output: members in insertion order, no white space, '/'
 * not escaped) into one new buffer of the exact size, which json-c's own
 * printer does not give (it grows its buffer by realloc and frees the
 * copies unwiped). Returns JSON_OK with *out (NUL-terminated, *len bytes
 * before the NUL) owned by the caller, who frees it with json_text_free;
 * JSON_EINVALID for what JSON cannot express (NaN, infinities, nesting
 * deeper than JSON_WRITE_MAX_DEPTH); JSON_ENOMEM. */
int json_serialize(json_object *obj, char **out, size_t *len);

/* Wipes the len bytes of text and frees it. NULL is fine. */
void json_text_free(char *text, size_t len);

#endif
