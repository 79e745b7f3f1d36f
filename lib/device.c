/* device.c: minting, hashing and storing device tokens. */
#include "device.h"

#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define DEVICE_KEY_LABEL "latch device token v1"
#define DEVICE_RANDOM_BYTES 32
#define DEVICE_RANDOM_CHARS 43          /* base64url of 32 bytes */

static int
is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
device_token_hash(const struct latch_config *cfg, const char *token,
    size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned char key[KEY_DERIVED_LEN];
	const struct key *k;
	const char *dot;
	size_t kidlen;
	int rc;

	if (token == NULL || len == 0 || len > DEVICE_TOKEN_MAX ||
	    (dot = memchr(token, '.', len)) == NULL)
		return -1;
	kidlen = (size_t)(dot - token);
	if (len - kidlen - 1 != DEVICE_RANDOM_CHARS)
		return -1;
	for (size_t i = kidlen + 1; i < len; i++)
		if (!is_b64url_char(token[i]))
			return -1;
	if ((k = keyset_find(&cfg->refresh_keys, token, kidlen)) == NULL)
		return -1;
	if (key_derive(k, DEVICE_KEY_LABEL, key) != 0)
		return -1;
	rc = crypto_hmac_sha256(key, sizeof key, token, len, out);
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

void
device_token_free(char *token)
{
	crypto_free_secret(token);
}

int
device_issue(struct app *app, int64_t user_id, const unsigned char *old_hash,
    char **token)
{
	const struct key *signer = keyset_signing_key(&app->cfg->refresh_keys);
	unsigned char hash[CRYPTO_SHA256_LEN];
	char new_hex[2 * CRYPTO_SHA256_LEN + 1], old_hex[2 * CRYPTO_SHA256_LEN + 1];
	char uid[24], now_s[32], life_s[24], random[DEVICE_RANDOM_CHARS + 1];
	const char *params[5] = { uid, new_hex, NULL, now_s, life_s };
	char *t = NULL;
	PGresult *res;
	int rc = DB_EQUERY;

	*token = NULL;
	/* Sized exactly and written once: asprintf would leave a freed
	 * copy of the token behind when it shrinks its buffer. */
	if (signer == NULL ||
	    crypto_random_b64url(DEVICE_RANDOM_BYTES, random, sizeof random) != 0 ||
	    (t = malloc(strlen(signer->kid) + 1 + sizeof random)) == NULL)
		goto out;
	snprintf(t, strlen(signer->kid) + 1 + sizeof random, "%s.%s",
	    signer->kid, random);
	if (device_token_hash(app->cfg, t, strlen(t), hash) != 0)
		goto out;
	crypto_hex(hash, sizeof hash, new_hex);
	if (old_hash != NULL) {
		crypto_hex(old_hash, CRYPTO_SHA256_LEN, old_hex);
		params[2] = old_hex;
	}
	snprintf(uid, sizeof uid, "%" PRId64, user_id);
	app_now_text(app, now_s);
	snprintf(life_s, sizeof life_s, "%" PRId64, DEVICE_TOKEN_LIFETIME);
	rc = db_exec(app->db, "SELECT latch_device_issue($1::bigint,"
	    " decode($2, 'hex'), decode($3, 'hex'), to_timestamp($4::float8),"
	    " to_timestamp($4::float8) + make_interval(secs => $5::bigint))",
	    5, params, 0, &res);
	if (rc != DB_OK)
		goto out;
	PQclear(res);
	*token = t;
	t = NULL;
out:
	OPENSSL_cleanse(random, sizeof random);
	device_token_free(t);
	return rc;
}

int
device_revoke_all(struct db *db, int64_t user_id)
{
	char uid[24];
	const char *params[1] = { uid };
	PGresult *res;
	int rc;

	snprintf(uid, sizeof uid, "%" PRId64, user_id);
	rc = db_exec(db, "DELETE FROM device_tokens WHERE user_id = $1::bigint",
	    1, params, DB_IDEMPOTENT, &res);
	if (rc == DB_OK)
		PQclear(res);
	return rc;
}
