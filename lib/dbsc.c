/* dbsc.c: DBSC challenges, headers, proofs and instructions. */
#include "dbsc.h"

#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "keys.h"
#include "reply.h"

/* The MAC keys' labels, one per purpose (key_derive). */
static const char *const challenge_labels[] = {
	[DBSC_FOR_REGISTRATION] = "latch dbsc registration challenge v1",
	[DBSC_FOR_REFRESH] = "latch dbsc refresh challenge v1",
};

#define CHALLENGE_RANDOM 16     /* bytes */
#define CHALLENGE_TIME_MAX 12   /* digits of the expiry */

/* The MAC of one challenge under k: HMAC(derived key, sid NUL exp NUL
 * random), base64url into out (44 bytes). */
static int
challenge_mac(const struct key *k, enum dbsc_purpose purpose, const char *sid,
    const char *exp, size_t exp_len, const char *rnd, size_t rnd_len,
    char out[44])
{
	unsigned char key[KEY_DERIVED_LEN], mac[CRYPTO_SHA256_LEN];
	char msg[CRYPTO_UUID_LEN + 1 + CHALLENGE_TIME_MAX + 1 + 32];
	size_t sid_len = strlen(sid), n;
	int rc = -1;

	if (sid_len != CRYPTO_UUID_LEN || exp_len > CHALLENGE_TIME_MAX ||
	    rnd_len > 32 || (purpose != DBSC_FOR_REGISTRATION &&
	    purpose != DBSC_FOR_REFRESH))
		return -1;
	memcpy(msg, sid, sid_len);
	msg[sid_len] = '\0';
	memcpy(msg + sid_len + 1, exp, exp_len);
	msg[sid_len + 1 + exp_len] = '\0';
	memcpy(msg + sid_len + 2 + exp_len, rnd, rnd_len);
	n = sid_len + 2 + exp_len + rnd_len;
	if (key_derive(k, challenge_labels[purpose], key) == 0 &&
	    crypto_hmac_sha256(key, sizeof key, msg, n, mac) == 0 &&
	    b64url_encode(mac, sizeof mac, out, 44) == 43)
		rc = 0;
	OPENSSL_cleanse(key, sizeof key);
	return rc;
}

int
dbsc_challenge_make(const struct latch_config *cfg, enum dbsc_purpose purpose,
    const char *sid, int64_t now, char out[DBSC_CHALLENGE_MAX + 1])
{
	const struct key *k = keyset_signing_key(&cfg->refresh_keys);
	char exp[CHALLENGE_TIME_MAX + 2], rnd[32], mac[44];
	int n;

	n = snprintf(exp, sizeof exp, "%" PRId64, now + DBSC_CHALLENGE_SLACK +
	    (purpose == DBSC_FOR_REFRESH ? cfg->dbsc_cookie_lifetime : 0));
	if (k == NULL || n <= 0 || n > CHALLENGE_TIME_MAX ||
	    crypto_random_b64url(CHALLENGE_RANDOM, rnd, sizeof rnd) != 0 ||
	    challenge_mac(k, purpose, sid, exp, (size_t)n, rnd, strlen(rnd),
	    mac) != 0)
		return -1;
	n = snprintf(out, DBSC_CHALLENGE_MAX + 1, "%s.%s.%s", exp, rnd, mac);
	return n > 0 && n <= DBSC_CHALLENGE_MAX ? 0 : -1;
}

int
dbsc_challenge_check(const struct latch_config *cfg, enum dbsc_purpose purpose,
    const char *sid, const char *c, size_t n, int64_t now,
    struct dbsc_challenge *out)
{
	const char *dot1, *dot2, *end = c + n;
	char mac[44], hashed[sizeof "dbsc" + DBSC_CHALLENGE_MAX];
	unsigned char digest[CRYPTO_SHA256_LEN];
	int64_t exp = 0;
	size_t exp_len, rnd_len;
	int ok = 0;

	if (n == 0 || n > DBSC_CHALLENGE_MAX || strlen(sid) != CRYPTO_UUID_LEN)
		return -1;
	dot1 = memchr(c, '.', n);
	if (dot1 == NULL)
		return -1;
	dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
	if (dot2 == NULL || (size_t)(end - dot2 - 1) != 43)
		return -1;
	exp_len = (size_t)(dot1 - c);
	rnd_len = (size_t)(dot2 - dot1 - 1);
	if (exp_len == 0 || exp_len > CHALLENGE_TIME_MAX || rnd_len == 0 ||
	    rnd_len > 31)
		return -1;
	for (size_t i = 0; i < exp_len; i++) {
		if (c[i] < '0' || c[i] > '9')
			return -1;
		exp = exp * 10 + (c[i] - '0');
	}
	if (exp <= now)
		return -1;
	/* Any listed refresh key: a key rotation spoils no challenge. The
	 * comparison is constant-time; which key matched leaks nothing. */
	for (size_t i = 0; i < cfg->refresh_keys.count; i++) {
		if (challenge_mac(&cfg->refresh_keys.keys[i], purpose, sid, c,
		    exp_len, dot1 + 1, rnd_len, mac) == 0 &&
		    CRYPTO_memcmp(mac, dot2 + 1, 43) == 0)
			ok = 1;
	}
	if (!ok)
		return -1;
	/* Its single-use id: a label and the challenge, hashed. */
	memcpy(hashed, "dbsc", sizeof "dbsc");
	memcpy(hashed + sizeof "dbsc", c, n);
	if (crypto_sha256(hashed, sizeof "dbsc" + n, digest) != 0)
		return -1;
	crypto_hex(digest, sizeof digest, out->hash_hex);
	out->expires_at = exp;
	return 0;
}

int
dbsc_offer_registration(struct http_response *resp, const char *challenge)
{
	return http_response_header(resp, "Secure-Session-Registration",
	    "(ES256 RS256);path=\"%s\";challenge=\"%s\"", DBSC_REGISTER_PATH,
	    challenge);
}

int
dbsc_send_challenge(struct http_response *resp, const char *challenge,
    const char *sid)
{
	return http_response_header(resp, "Secure-Session-Challenge",
	    "\"%s\";id=\"%s\"", challenge, sid);
}

int
dbsc_verify_proof(const char *value, size_t len, const struct jwk *key,
    struct dbsc_proof *out)
{
	struct jws_verify_opts opts;
	json_object *jti;
	int rc;

	memset(out, 0, sizeof *out);
	/* Chromium sends the JWT bare; an RFC 8941 string of it (the
	 * draft's earlier form) holds the same characters, none of which
	 * needs escaping. */
	if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
		value++;
		len -= 2;
	}
	memset(&opts, 0, sizeof opts);
	opts.typ = "dbsc+jwt";
	opts.algs = DBSC_ALGS;
	opts.key = key;
	rc = jws_verify(value, len, &opts, &out->jws);
	if (rc != JWK_OK)
		return rc;
	if (!json_object_object_get_ex(out->jws.payload, "jti", &jti) ||
	    !json_object_is_type(jti, json_type_string) ||
	    json_object_get_string_len(jti) < 1 ||
	    json_object_get_string_len(jti) > DBSC_CHALLENGE_MAX) {
		dbsc_proof_clear(out);
		return JWK_EMALFORMED;
	}
	out->challenge = json_object_get_string(jti);
	out->challenge_len = (size_t)json_object_get_string_len(jti);
	return JWK_OK;
}

void
dbsc_proof_clear(struct dbsc_proof *p)
{
	jws_proof_clear(&p->jws);
	memset(p, 0, sizeof *p);
}

/* One scope rule: {"type", "domain", "path"}. */
static json_object *
scope_rule(const char *type, const char *host, const char *path)
{
	json_object *o = json_object_new_object();

	if (o == NULL || reply_put(o, "type", json_object_new_string(type)) ||
	    reply_put(o, "domain", json_object_new_string(host)) ||
	    reply_put(o, "path", json_object_new_string(path))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

json_object *
dbsc_instructions(const char *sid, const char *origin, const char *host,
    const char *cookie_name, const char *cookie_attributes)
{
	json_object *root = json_object_new_object();
	json_object *scope = NULL, *spec = NULL, *creds = NULL, *cred = NULL;
	json_object *rule;

	if (root == NULL ||
	    reply_put(root, "session_identifier", json_object_new_string(sid)) ||
	    reply_put(root, "refresh_url",
	    json_object_new_string(DBSC_REFRESH_PATH)) ||
	    reply_put(root, "scope", scope = json_object_new_object()) ||
	    reply_put(scope, "origin", json_object_new_string(origin)) ||
	    reply_put(scope, "include_site", json_object_new_boolean(0)) ||
	    reply_put(scope, "scope_specification",
	    spec = json_object_new_array()))
		goto fail;
	/* Only the routes the cookie goes to (Path=/auth) wait for a
	 * refresh: pages and /api/ never do. */
	for (int i = 0; i < 2; i++) {
		rule = i == 0 ? scope_rule("exclude", host, "/") :
		    scope_rule("include", host, "/auth/");
		if (rule == NULL || json_object_array_add(spec, rule) != 0) {
			json_object_put(rule);
			goto fail;
		}
	}
	if (reply_put(root, "credentials", creds = json_object_new_array()) ||
	    (cred = json_object_new_object()) == NULL ||
	    json_object_array_add(creds, cred) != 0) {
		json_object_put(cred);
		goto fail;
	}
	if (reply_put(cred, "type", json_object_new_string("cookie")) ||
	    reply_put(cred, "name", json_object_new_string(cookie_name)) ||
	    reply_put(cred, "attributes",
	    json_object_new_string(cookie_attributes)))
		goto fail;
	return root;
fail:
	json_object_put(root);
	return NULL;
}
