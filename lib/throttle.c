/* throttle.c: keys and SQL of the login limiter. */
#include "throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* The label of the limiter's server key (lib/keys key_derive). */
#define THROTTLE_KEY_LABEL "latch login limiter v2"

int
throttle_address_subject(const char *ip, char out[THROTTLE_ADDRESS_MAX])
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	int n;

	if (ip == NULL)
		return -1;
	if (inet_pton(AF_INET, ip, a) == 1) {
		if (inet_ntop(AF_INET, a, text, sizeof text) == NULL)
			return -1;
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0, 0xff, 0xff };
		/* RFC 6052's well-known NAT64 prefix 64:ff9b::/96: every IPv4
		 * host behind a NAT64 gateway would else share one /64. */
		static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b,
		    0, 0, 0, 0, 0, 0, 0, 0 };

		if (memcmp(a, mapped, sizeof mapped) == 0 ||
		    memcmp(a, nat64, sizeof nat64) == 0) {
			if (inet_ntop(AF_INET, a + 12, text, sizeof text) == NULL)
				return -1;
		} else {
			/* RFC 4291: the interface identifier is the low 64
			 * bits; a subscriber is given at least a /64. */
			memset(a + 8, 0, 8);
			if (inet_ntop(AF_INET6, a, text, sizeof text) == NULL)
				return -1;
			n = snprintf(out, THROTTLE_ADDRESS_MAX, "6:%s/64", text);
			return n > 0 && n < THROTTLE_ADDRESS_MAX ? 0 : -1;
		}
	} else {
		return -1;
	}
	n = snprintf(out, THROTTLE_ADDRESS_MAX, "4:%s", text);
	return n > 0 && n < THROTTLE_ADDRESS_MAX ? 0 : -1;
}

/* HMAC of the NUL-separated parts under key: "scope\0part\0part...". The
 * separators keep ("ab", "c") and ("a", "bc") apart. */
static int
keyed_digest(const unsigned char key[KEY_DERIVED_LEN], const char *const *parts,
    size_t nparts, unsigned char out[CRYPTO_SHA256_LEN])
{
	size_t len = 0, off = 0;
	char *msg;
	int rc;

	for (size_t i = 0; i < nparts; i++)
		len += strlen(parts[i]) + 1;
	if ((msg = malloc(len)) == NULL)
		return -1;
	for (size_t i = 0; i < nparts; i++) {
		size_t l = strlen(parts[i]);

		memcpy(msg + off, parts[i], l);
		msg[off + l] = '\0';
		off += l + 1;
	}
	rc = crypto_hmac_sha256(key, KEY_DERIVED_LEN, msg, len, out);
	OPENSSL_cleanse(msg, len);
	free(msg);
	return rc;
}

static int
add_key(struct throttle_keys *out, const unsigned char key[KEY_DERIVED_LEN],
    const char *scope, const char *const *parts, size_t nparts)
{
	const char *all[4];

	if (out->n == THROTTLE_KEYS_MAX || nparts > 3)
		return -1;
	all[0] = scope;
	for (size_t i = 0; i < nparts; i++)
		all[i + 1] = parts[i];
	if (keyed_digest(key, all, nparts + 1, out->key[out->n]) != 0)
		return -1;
	out->scope[out->n++] = scope;
	return 0;
}

int
throttle_keys_make(const struct latch_config *cfg,
    const struct throttle_subject *who, const char *ip,
    const unsigned char *trusted_device, struct throttle_keys *out)
{
	unsigned char key[KEY_DERIVED_LEN];
	char address[THROTTLE_ADDRESS_MAX];
	char *account = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (key_derive(keyset_signing_key(&cfg->refresh_keys),
	    THROTTLE_KEY_LABEL, key) != 0)
		goto out;
	if (trusted_device != NULL) {
		char hex[2 * CRYPTO_SHA256_LEN + 1];
		const char *parts[1] = { hex };

		crypto_hex(trusted_device, CRYPTO_SHA256_LEN, hex);

		rc = add_key(out, key, "device", parts, 1);
		goto out;
	}
	if (throttle_address_subject(ip, address) != 0)
		goto out;
	if (who->account_id > 0) {
		if (asprintf(&account, "id:%" PRId64, who->account_id) < 0)
			account = NULL;
	} else if (who->folded_name != NULL) {
		if (asprintf(&account, "%s:%s", who->by_email ? "email" :
		    "username", who->folded_name) < 0)
			account = NULL;
	}
	if (account == NULL)
		goto out;
	{
		const char *pair[2] = { account, address };
		const char *addr[1] = { address };
		const char *acct[1] = { account };

		if (add_key(out, key, "pair", pair, 2) != 0 ||
		    add_key(out, key, "address", addr, 1) != 0 ||
		    add_key(out, key, "account", acct, 1) != 0)
			goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	crypto_free_secret(account);
	if (rc != 0)
		memset(out, 0, sizeof *out);
	return rc;
}

/* The keys as the SQL functions take them: scopes and hex digests, each a
 * comma-separated list in the same order. */
struct key_lists {
	char scopes[THROTTLE_KEYS_MAX * 8 + 1];
	char hex[THROTTLE_KEYS_MAX * (2 * CRYPTO_SHA256_LEN + 1) + 1];
};

static int
key_lists(const struct throttle_keys *keys, struct key_lists *out)
{
	size_t s = 0, h = 0;

	if (keys->n == 0 || keys->n > THROTTLE_KEYS_MAX)
		return -1;
	for (size_t i = 0; i < keys->n; i++) {
		int n = snprintf(out->scopes + s, sizeof out->scopes - s, "%s%s",
		    i > 0 ? "," : "", keys->scope[i]);

		if (n < 0 || (size_t)n >= sizeof out->scopes - s)
			return -1;
		s += (size_t)n;
		if (i > 0)
			out->hex[h++] = ',';
		crypto_hex(keys->key[i], CRYPTO_SHA256_LEN, out->hex + h);
		h += 2 * CRYPTO_SHA256_LEN;
	}
	out->hex[h] = '\0';
	return 0;
}

int
throttle_begin(struct db *db, const struct throttle_keys *keys, int64_t now,
    int *wait_seconds)
{
	struct key_lists lists;
	char now_s[24];
	const char *params[3] = { lists.scopes, lists.hex, now_s };
	PGresult *res;
	int rc;

	*wait_seconds = 0;
	if (key_lists(keys, &lists) != 0)
		return DB_EQUERY;
	snprintf(now_s, sizeof now_s, "%" PRId64, now);
	rc = db_exec(db, "SELECT latch_throttle_begin($1, $2,"
	    " to_timestamp($3::bigint))", 3, params, 0, &res);
	if (rc != DB_OK)
		return rc;
	*wait_seconds = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return DB_OK;
}

int
throttle_settle(struct db *db, const struct throttle_keys *keys)
{
	struct key_lists lists;
	const char *params[2] = { lists.scopes, lists.hex };
	PGresult *res;
	int rc;

	if (key_lists(keys, &lists) != 0)
		return DB_EQUERY;
	rc = db_exec(db, "SELECT latch_throttle_settle($1, $2)", 2, params, 0,
	    &res);
	if (rc == DB_OK)
		PQclear(res);
	return rc;
}
