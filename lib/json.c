/* json.c: strict request-body parsing on top of json-c. */
#include "json.h"
#include "crypto.h"

#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of 4 hex digits at s[at], or -1. */
static long
hex4(const char *s, size_t len, size_t at)
{
	long v = 0;

	if (at + 4 > len)
		return -1;
	for (size_t k = at; k < at + 4; k++) {
		char c = s[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* json-c's strict mode still takes single-quoted strings, NaN and
 * Infinity, control characters unescaped inside strings and lone UTF-16
 * surrogate escapes, and it merges duplicate keys. This pass over text
 * json-c has already accepted enforces RFC 8259's tokens outside strings,
 * refuses raw control characters (U+0000 to U+001F) inside them, and
 * lone surrogates, and counts the
 * top-level object's keys, so a duplicate shows as a count larger than
 * the parsed object's member count. Returns the count, or -1 when a token
 * is not RFC 8259 JSON. */
static long
scan_top_level(const char *s, size_t len)
{
	long keys = 0;
	size_t i;
	int depth = 0, in_string = 0, string_at_depth1 = 0;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if ((unsigned char)c < 0x20)
				return -1;      /* RFC 8259: escaped, always */
			if (c == '\\' && i + 1 < len && s[i + 1] == 'u') {
				/* json-c turns a lone surrogate into U+FFFD
				 * silently: refuse it, as invalid UTF-8 is. */
				long cp = hex4(s, len, i + 2);

				if (cp >= 0xdc00 && cp <= 0xdfff)
					return -1;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					long lo = (i + 7 < len && s[i + 6] ==
					    '\\' && s[i + 7] == 'u') ?
					    hex4(s, len, i + 8) : -1;

					if (lo < 0xdc00 || lo > 0xdfff)
						return -1;
					i += 6;
				}
				i += 5;
			} else if (c == '\\') {
				i++;
			} else if (c == '"') {
				in_string = 0;
			}
			continue;
		}
		if (c >= 'a' && c <= 'z') {
			size_t start = i, wlen;

			while (i + 1 < len && s[i + 1] >= 'a' && s[i + 1] <= 'z')
				i++;
			wlen = i - start + 1;
			if (!((wlen == 4 && memcmp(s + start, "true", 4) == 0) ||
			    (wlen == 5 && memcmp(s + start, "false", 5) == 0) ||
			    (wlen == 4 && memcmp(s + start, "null", 4) == 0)) &&
			    !(wlen == 1 && s[start] == 'e'))
				return -1;
			string_at_depth1 = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_string = 1;
			string_at_depth1 = (depth == 1);
			break;
		case '{':
		case '[':
			depth++;
			string_at_depth1 = 0;
			break;
		case '}':
		case ']':
			depth--;
			string_at_depth1 = 0;
			break;
		case ':':
			if (depth == 1 && string_at_depth1)
				keys++;
			string_at_depth1 = 0;
			break;
		case ' ': case '\t': case '\r': case '\n':
			break;
		case ',': case '-': case '+': case '.': case 'E':
		case '0': case '1': case '2': case '3': case '4':
		case '5': case '6': case '7': case '8': case '9':
			string_at_depth1 = 0;
			break;
		default:
			return -1;      /* ', N(aN), I(nfinity), ... */
		}
	}
	return keys;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above
 * U+10FFFF. (json-c's own check lets all three through.) */
static int
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;      /* overlong */
			else if (c == 0xed)
				hi = 0x9f;      /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;      /* overlong */
			else if (c == 0xf4)
				hi = 0x8f;      /* above U+10FFFF */
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return 0;
		i += n + 1;
	}
	return 1;
}

/* Each thread keeps its tokener from one parse to the next: making one
 * per parse (its stack, its print buffer, which then grows for the body)
 * showed in a perf profile of GET /api/profile, whose token is two
 * parses. Its print buffer is wiped after every parse, and once more when
 * the thread ends. */
static pthread_key_t tokener_key;
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;
static int tokener_key_ready;

static void
tokener_drop(void *p)
{
	struct json_tokener *tok = p;

	/* struct json_tokener and its pb are public in json-c 0.16, if
	 * marked as internal; there is no other way to wipe them. */
	OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
}

static void
tokener_key_make(void)
{
	tokener_key_ready = pthread_key_create(&tokener_key, tokener_drop) == 0;
}

/* This thread's tokener, ready for a parse; *kept is 1 when it stays the
 * thread's (pthread_setspecific), 0 when the caller frees it (the key
 * could not be had). NULL when out of memory. */
static struct json_tokener *
thread_tokener(int *kept)
{
	struct json_tokener *tok;

	*kept = 0;
	(void)pthread_once(&tokener_once, tokener_key_make);
	if (tokener_key_ready &&
	    (tok = pthread_getspecific(tokener_key)) != NULL) {
		json_tokener_reset(tok);
		/* json_tokener_reset leaves these as the last parse left
		 * them: a body cut after "\ud800" kept high_surrogate, and
		 * the next body's first \u escape (another client's,
		 * perhaps) gained a U+FFFD. A kept tokener must start as a
		 * new one. */
		tok->high_surrogate = 0;
		tok->ucs_char = 0;
		tok->st_pos = 0;
		tok->is_double = 0;
		tok->quote_char = '\0';
		tok->char_offset = 0;
		*kept = 1;
		return tok;
	}
	if ((tok = json_tokener_new_ex(JSON_MAX_DEPTH)) == NULL)
		return NULL;
	if (tokener_key_ready && pthread_setspecific(tokener_key, tok) == 0)
		*kept = 1;
	return tok;
}

int
json_utf8_valid(const char *s, size_t len)
{
	return utf8_valid((const unsigned char *)s, len);
}

int
json_parse_object(const char *buf, size_t len, json_object **out)
{
	struct json_tokener *tok = NULL;
	int kept = 0;
	json_object *obj = NULL;
	char *copy = NULL;
	enum json_tokener_error jerr;
	long keys;
	int rc;

	if (len > (size_t)0x7ffffffe)
		return JSON_EINVALID;
	/* json-c needs to see the terminating NUL to know the input ended. */
	if ((copy = malloc(len + 1)) == NULL)
		return JSON_ENOMEM;
	memcpy(copy, buf, len);
	copy[len] = '\0';
	rc = JSON_EINVALID;
	if (memchr(copy, '\0', len) != NULL ||
	    !utf8_valid((const unsigned char *)copy, len))
		goto out;
	if ((tok = thread_tokener(&kept)) == NULL) {
		rc = JSON_ENOMEM;
		goto out;
	}
	/* The tokener gathers every string in its print buffer, which
	 * doubles by realloc as a long one arrives, leaving freed pieces of
	 * passwords and tokens behind. Grown once to hold the whole body, it
	 * never moves, and is wiped before it is freed. */
	if (printbuf_memset(tok->pb, 0, 0, (int)len + 1) < 0) {
		rc = JSON_ENOMEM;
		goto out;
	}
	printbuf_reset(tok->pb);
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, copy, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_error_depth) {
		rc = JSON_ETOODEEP;
		goto out;
	}
	if (jerr != json_tokener_success) {
		rc = JSON_EINVALID;
		goto out;
	}
	/* A top-level null parses to NULL. */
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		rc = JSON_ENOTOBJECT;
		goto out;
	}
	keys = scan_top_level(copy, len);
	if (keys < 0) {
		rc = JSON_EINVALID;
		goto out;
	}
	if (keys != (long)json_object_object_length(obj)) {
		rc = JSON_EDUPLICATE;
		goto out;
	}
	*out = obj;
	obj = NULL;
	rc = JSON_OK;
out:
	json_wipe_put(obj);
	if (tok != NULL) {
		/* What this parse may have put in the print buffer: it was
		 * grown to len + 1 bytes above, and no string is longer. */
		size_t used = (size_t)tok->pb->size < len + 1 ?
		    (size_t)tok->pb->size : len + 1;

		OPENSSL_cleanse(tok->pb->buf, used);
		printbuf_reset(tok->pb);
		if (!kept)
			tokener_drop(tok);
	}
	crypto_wipe_free(copy, len);    /* bodies carry passwords */
	return rc;
}

/* Overwrites the text of every string in obj, recursively. json-c keeps a
 * string's bytes inside its object (or in one buffer it owns), so the
 * const pointer it lends is to writable memory that is freed with obj. */
static void
wipe_strings(json_object *obj, int depth)
{
	size_t n;

	if (obj == NULL || depth > JSON_WRITE_MAX_DEPTH)
		return;
	switch (json_object_get_type(obj)) {
	case json_type_string:
		OPENSSL_cleanse((char *)json_object_get_string(obj),
		    (size_t)json_object_get_string_len(obj));
		break;
	case json_type_array:
		n = json_object_array_length(obj);
		for (size_t i = 0; i < n; i++)
			wipe_strings(json_object_array_get_idx(obj, i),
			    depth + 1);
		break;
	case json_type_object: {
		json_object_object_foreach(obj, key, val) {
			(void)key;      /* member names are ours or refused */
			wipe_strings(val, depth + 1);
		}
		break;
	}
	default:
		break;
	}
}

void
json_wipe_put(json_object *obj)
{
	if (obj == NULL)
		return;
	wipe_strings(obj, 0);
	json_object_put(obj);
}

int
json_read_fields(json_object *obj, const struct json_field *fields, size_t n,
    char *why, size_t whysz)
{
	for (size_t i = 0; i < n; i++) {
		*fields[i].value = NULL;
		if (fields[i].len != NULL)
			*fields[i].len = 0;
	}
	json_object_object_foreach(obj, key, val) {
		const struct json_field *f = NULL;
		const char *s;
		size_t slen;

		for (size_t i = 0; i < n; i++)
			if (strcmp(fields[i].name, key) == 0)
				f = &fields[i];
		if (f == NULL) {
			/* The name is not echoed: it is the client's text. */
			snprintf(why, whysz, "unexpected member in the request "
			    "body");
			return -1;
		}
		if (!json_object_is_type(val, json_type_string)) {
			snprintf(why, whysz, "\"%s\" must be a string", f->name);
			return -1;
		}
		s = json_object_get_string(val);
		slen = (size_t)json_object_get_string_len(val);
		if (strlen(s) != slen) {
			snprintf(why, whysz, "\"%s\" contains a NUL character",
			    f->name);
			return -1;
		}
		if (slen > f->max_len) {
			snprintf(why, whysz, "\"%s\" is longer than %zu bytes",
			    f->name, f->max_len);
			return -1;
		}
		*f->value = s;
		if (f->len != NULL)
			*f->len = slen;
	}
	return 0;
}

/* The serialiser below writes what json-c would (RFC 8259, compact),
 * into one buffer of the exact size: json-c's own print buffer grows by
 * realloc and is freed unwiped, so each answer carrying a token would
 * leave copies of it behind. */

struct writer {
	char *buf;              /* NULL: only count */
	size_t len;
};

static void
put(struct writer *w, const char *s, size_t n)
{
	if (w->buf != NULL)
		memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void
put_string(struct writer *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		switch (c) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default:
			if (c < 0x20)
				put(w, esc, sizeof esc);
			else
				put(w, (const char *)&s[i], 1);
		}
	}
	put(w, "\"", 1);
}

static int
put_value(struct writer *w, json_object *obj, int depth)
{
	char num[32];
	int n, first = 1;

	if (depth > JSON_WRITE_MAX_DEPTH)
		return -1;
	switch (json_object_get_type(obj)) {
	case json_type_null:
		put(w, "null", 4);
		return 0;
	case json_type_boolean:
		if (json_object_get_boolean(obj))
			put(w, "true", 4);
		else
			put(w, "false", 5);
		return 0;
	case json_type_int:
		/* json-c keeps an int64 or a uint64; INT64_MAX may be the
		 * clamp of a larger uint64. */
		if (json_object_get_int64(obj) == INT64_MAX)
			n = snprintf(num, sizeof num, "%" PRIu64,
			    json_object_get_uint64(obj));
		else
			n = snprintf(num, sizeof num, "%" PRId64,
			    json_object_get_int64(obj));
		break;
	case json_type_double: {
		double d = json_object_get_double(obj);

		if (!isfinite(d))
			return -1;      /* JSON has no NaN or Infinity */
		n = snprintf(num, sizeof num, "%.17g", d);
		/* Still a double when read back, as json-c writes it. */
		if (n > 0 && (size_t)n + 2 < sizeof num &&
		    strpbrk(num, ".e") == NULL) {
			memcpy(num + n, ".0", 3);
			n += 2;
		}
		break;
	}
	case json_type_string:
		put_string(w, json_object_get_string(obj),
		    (size_t)json_object_get_string_len(obj));
		return 0;
	case json_type_array:
		put(w, "[", 1);
		for (size_t i = 0; i < json_object_array_length(obj); i++) {
			if (i > 0)
				put(w, ",", 1);
			if (put_value(w, json_object_array_get_idx(obj, i),
			    depth + 1) != 0)
				return -1;
		}
		put(w, "]", 1);
		return 0;
	case json_type_object: {
		put(w, "{", 1);
		json_object_object_foreach(obj, key, val) {
			if (!first)
				put(w, ",", 1);
			first = 0;
			put_string(w, key, strlen(key));
			put(w, ":", 1);
			if (put_value(w, val, depth + 1) != 0)
				return -1;
		}
		put(w, "}", 1);
		return 0;
	}
	default:
		return -1;
	}
	if (n < 0 || (size_t)n >= sizeof num)
		return -1;
	put(w, num, (size_t)n);
	return 0;
}

int
json_serialize(json_object *obj, char **out, size_t *len)
{
	struct writer w = { NULL, 0 };

	*out = NULL;
	*len = 0;
	/* A json-c NULL is JSON null, as json-c prints it. */
	if (obj != NULL && put_value(&w, obj, 0) != 0)
		return JSON_EINVALID;
	if (obj == NULL)
		w.len = 4;
	if ((w.buf = malloc(w.len + 1)) == NULL)
		return JSON_ENOMEM;
	*len = w.len;
	w.len = 0;
	if (obj == NULL)
		put(&w, "null", 4);
	else
		(void)put_value(&w, obj, 0);    /* it succeeded when counting */
	w.buf[w.len] = '\0';
	*out = w.buf;
	return JSON_OK;
}

void
json_text_free(char *text, size_t len)
{
	if (text == NULL)
		return;
	OPENSSL_cleanse(text, len);
	free(text);
}
