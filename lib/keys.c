/* keys.c: JWT key lists (API.md, "Key lists"). */
#include "keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "crypto.h"

#define BARE_KID_LEN 8          /* characters of base64url(SHA-256) */

__attribute__((format(printf, 3, 4)))
static void
set_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	/* A truncated message is still one line; nothing else to do. */
	(void)vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	    c == '\f';
}

static int
is_kid_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int
key_kid_valid(const char *kid, size_t len)
{
	size_t i;

	if (kid == NULL || len < 1 || len > KEY_KID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!is_kid_char(kid[i]))
			return 0;
	return 1;
}

/* Appends a key to ks, copying the secret. The kid must be valid and the
 * secret's length checked. Returns 0, or -1 when out of memory. */
static int
add_key(struct keyset *ks, const char *kid, size_t kidlen,
    const char *secret, size_t secretlen)
{
	struct key *k = &ks->keys[ks->count];
	unsigned char *copy;

	if ((copy = malloc(secretlen)) == NULL)
		return -1;
	memcpy(copy, secret, secretlen);
	if (crypto_mac_new(copy, secretlen, &k->mac) != 0) {
		crypto_wipe_free(copy, secretlen);
		return -1;
	}
	memcpy(k->kid, kid, kidlen);
	k->kid[kidlen] = '\0';
	k->secret = copy;
	k->secret_len = secretlen;
	ks->count++;
	return 0;
}

/* Writes the bare-secret kid (first 8 characters of
 * base64url(SHA-256(secret))) and its NUL into kid. Returns 0 or -1. */
static int
bare_kid(const char *secret, size_t len, char kid[BARE_KID_LEN + 1])
{
	unsigned char md[CRYPTO_SHA256_LEN];
	char enc[64];
	int rc = -1;

	if (crypto_sha256(secret, len, md) != 0)
		goto fail;
	if (b64url_encode(md, sizeof(md), enc, sizeof(enc)) < BARE_KID_LEN)
		goto fail;
	memcpy(kid, enc, BARE_KID_LEN);
	kid[BARE_KID_LEN] = '\0';
	rc = 0;
fail:
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(enc, sizeof(enc));
	return rc;
}

/* Checks a secret's length and first byte; on failure writes a message
 * naming what (a label, never the secret) and returns -1. */
static int
check_secret(const char *secret, size_t len, const char *what, char *err,
    size_t errsz)
{
	if (len < KEY_SECRET_MIN) {
		set_err(err, errsz, "%s: secret is shorter than %d bytes", what,
		    KEY_SECRET_MIN);
		return -1;
	}
	if (len > KEY_SECRET_MAX) {
		set_err(err, errsz, "%s: secret is longer than %d bytes", what,
		    KEY_SECRET_MAX);
		return -1;
	}
	/* Item white space is trimmed, so a secret never ends with it; one
	 * that starts with it ("kid: secret") is almost surely a typo that
	 * other implementations given the same string would not share. */
	if (is_ws(secret[0])) {
		set_err(err, errsz, "%s: secret starts with white space after "
		    "the ':'", what);
		return -1;
	}
	return 0;
}

int
keyset_parse(const char *spec, struct keyset *out, char *err, size_t errsz)
{
	const char *p, *end, *item, *item_end, *colon, *secret;
	size_t pos, i, kidlen, secretlen;
	char kid[KEY_KID_MAX + 1];
	char what[96];          /* "item N (kid \"...\")": always fits */
	int last;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (spec == NULL) {
		set_err(err, errsz, "key list is not set");
		goto fail;
	}

	/* Trim the whole value. */
	p = spec;
	end = spec + strlen(spec);
	while (p < end && is_ws(*p))
		p++;
	while (end > p && is_ws(end[-1]))
		end--;
	if (p == end) {
		set_err(err, errsz, "key list is empty");
		goto fail;
	}

	if (memchr(p, ':', (size_t)(end - p)) == NULL &&
	    memchr(p, ',', (size_t)(end - p)) == NULL) {
		/* One bare secret. */
		secretlen = (size_t)(end - p);
		if (check_secret(p, secretlen, "bare key", err, errsz) < 0)
			goto fail;
		if (bare_kid(p, secretlen, kid) < 0) {
			set_err(err, errsz, "bare key: cannot hash the secret");
			goto fail;
		}
		if (add_key(out, kid, strlen(kid), p, secretlen) < 0) {
			set_err(err, errsz, "bare key: out of memory");
			goto fail;
		}
		return 0;
	}

	for (pos = 1, last = 0; !last; pos++) {
		item = p;
		item_end = memchr(item, ',', (size_t)(end - item));
		if (item_end == NULL)
			item_end = end;
		last = item_end == end;
		if (!last)
			p = item_end + 1;       /* past the ',' */

		while (item < item_end && is_ws(*item))
			item++;
		while (item_end > item && is_ws(item_end[-1]))
			item_end--;
		if (item == item_end) {
			set_err(err, errsz, "item %zu is empty (stray or "
			    "trailing ',')", pos);
			goto fail;
		}
		if (out->count == KEYSET_MAX) {
			set_err(err, errsz, "more than %d keys", KEYSET_MAX);
			goto fail;
		}
		colon = memchr(item, ':', (size_t)(item_end - item));
		if (colon == NULL) {
			set_err(err, errsz, "item %zu is not KID:SECRET (no ':')",
			    pos);
			goto fail;
		}
		kidlen = (size_t)(colon - item);
		/* Never echo an invalid kid: it may be part of a secret. */
		if (!key_kid_valid(item, kidlen)) {
			set_err(err, errsz, "item %zu: kid must be 1 to %d of "
			    "A-Z a-z 0-9 . _ -", pos, KEY_KID_MAX);
			goto fail;
		}
		memcpy(kid, item, kidlen);
		kid[kidlen] = '\0';
		for (i = 0; i < out->count; i++) {
			if (strcmp(out->keys[i].kid, kid) == 0) {
				set_err(err, errsz, "item %zu: kid \"%s\" is "
				    "listed twice", pos, kid);
				goto fail;
			}
		}
		secret = colon + 1;
		secretlen = (size_t)(item_end - secret);
		(void)snprintf(what, sizeof(what), "item %zu (kid \"%s\")", pos,
		    kid);
		if (check_secret(secret, secretlen, what, err, errsz) < 0)
			goto fail;
		if (add_key(out, kid, kidlen, secret, secretlen) < 0) {
			set_err(err, errsz, "%s: out of memory", what);
			goto fail;
		}
	}
	return 0;

fail:
	keyset_free(out);
	return -1;
}

void
keyset_free(struct keyset *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->count && i < KEYSET_MAX; i++) {
		if (ks->keys[i].secret != NULL) {
			OPENSSL_cleanse(ks->keys[i].secret,
			    ks->keys[i].secret_len);
			free(ks->keys[i].secret);
		}
		crypto_mac_free(ks->keys[i].mac);
		ks->keys[i].mac = NULL;
		ks->keys[i].secret = NULL;
		ks->keys[i].secret_len = 0;
		ks->keys[i].kid[0] = '\0';
	}
	ks->count = 0;
}

const struct key *
keyset_signing_key(const struct keyset *ks)
{
	if (ks == NULL || ks->count == 0)
		return NULL;
	return &ks->keys[0];
}

int
key_derive(const struct key *k, const char *label,
    unsigned char out[KEY_DERIVED_LEN])
{
	if (k == NULL || k->secret == NULL || label == NULL)
		return -1;
	return crypto_hkdf_sha256(k->secret, k->secret_len, NULL, 0, label,
	    strlen(label), out, KEY_DERIVED_LEN);
}

const struct key *
keyset_find(const struct keyset *ks, const char *kid, size_t kidlen)
{
	size_t i;

	/* Only a valid kid can be listed: anything else is no lookup. */
	if (ks == NULL || !key_kid_valid(kid, kidlen))
		return NULL;
	for (i = 0; i < ks->count && i < KEYSET_MAX; i++) {
		/* kids are public: an ordinary comparison is fine. */
		if (strlen(ks->keys[i].kid) == kidlen &&
		    memcmp(ks->keys[i].kid, kid, kidlen) == 0)
			return &ks->keys[i];
	}
	return NULL;
}

int
keyset_share_secret(const struct keyset *a, const struct keyset *b)
{
	size_t i, j;
	const struct key *ka, *kb;

	if (a == NULL || b == NULL)
		return 0;
	for (i = 0; i < a->count && i < KEYSET_MAX; i++) {
		ka = &a->keys[i];
		for (j = 0; j < b->count && j < KEYSET_MAX; j++) {
			kb = &b->keys[j];
			if (ka->secret_len == kb->secret_len &&
			    CRYPTO_memcmp(ka->secret, kb->secret,
			    ka->secret_len) == 0)
				return 1;
		}
	}
	return 0;
}
