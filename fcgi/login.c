/* login.c: the /auth/ routes that run bcrypt: login and sign-up. They
 * are a binary of their own so that the web server gives them a process
 * pool of their own (API.md lets a route family be split), and the pool
 * runs them the way CPU-bound work is run beside latency-bound work
 * (lib/server.h, server_main_admitted): at a low CPU priority, and
 * refusing at once what it cannot start within a bound, so that a login
 * flood neither starves a refresh nor holds a connection for long.
 * Handlers turn a parsed request into a decision of lib/session and
 * lib/throttle and an answer; they never touch FastCGI or SQL. */
#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "authn.h"
#include "binding.h"
#include "dbsc.h"
#include "device.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "password.h"
#include "reply.h"
#include "server.h"
#include "session.h"
#include "throttle.h"
#include "user.h"

static int
parse_delivery(const char *s, enum reply_delivery *out)
{
	if (s == NULL || strcmp(s, "cookie") == 0)
		*out = REPLY_DELIVERY_COOKIE;
	else if (strcmp(s, "body") == 0)
		*out = REPLY_DELIVERY_BODY;
	else
		return -1;
	return 0;
}

/* The login request, as the rest of the handler sees it. */
struct login_request {
	const char *username;           /* exactly one of username, email */
	const char *email;
	const char *password;
	size_t password_len;
	enum reply_delivery delivery;
	const char *device_token;       /* from the body, or NULL */
	size_t device_token_len;
};

static int
parse_login(json_object *body, struct login_request *out, char *why,
    size_t whysz)
{
	const char *delivery;
	const struct json_field fields[] = {
		{ "username", JSON_FIELD_STRING, USER_NAME_MAX, &out->username,
		    NULL },
		{ "email", JSON_FIELD_STRING, USER_NAME_MAX, &out->email, NULL },
		{ "password", JSON_FIELD_STRING, PASSWORD_MAX, &out->password,
		    &out->password_len },
		{ "token_delivery", JSON_FIELD_STRING, 16, &delivery, NULL },
		{ "device_token", JSON_FIELD_STRING, DEVICE_TOKEN_MAX,
		    &out->device_token, &out->device_token_len },
	};

	if (json_read_fields(body, fields, sizeof fields / sizeof fields[0],
	    why, whysz) != 0)
		return -1;
	if ((out->username == NULL) == (out->email == NULL)) {
		snprintf(why, whysz, "Give either \"username\" or \"email\"");
		return -1;
	}
	if ((out->username != NULL && out->username[0] == '\0') ||
	    (out->email != NULL && out->email[0] == '\0')) {
		snprintf(why, whysz, "The username or email is empty");
		return -1;
	}
	if (out->password == NULL || out->password_len == 0) {
		snprintf(why, whysz, "\"password\" is required");
		return -1;
	}
	if (parse_delivery(delivery, &out->delivery) != 0) {
		snprintf(why, whysz, "\"token_delivery\" must be \"cookie\" or "
		    "\"body\"");
		return -1;
	}
	return 0;
}

static void
refuse_credentials(struct http_response *resp)
{
	/* One answer for every way a login can fail, so that it tells
	 * nothing about which usernames exist. */
	http_response_error(resp, 401, "invalid_credentials",
	    "The username or password is incorrect");
	http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"latch\"");
}

/* Takes the attempt with the limiter (counting it before any password is
 * looked at). Returns 1 when it may go ahead; otherwise 0 with resp set:
 * 429 with Retry-After while a block holds (even the right password gets
 * it), or 503 when the database is unreachable. */
static int
attempt_allowed(struct app *app, const struct throttle_keys *keys,
    struct http_response *resp)
{
	int wait, rc;

	rc = throttle_begin(app->db, keys, app->now, &wait);
	if (rc != DB_OK) {
		errors_respond(resp, rc);
		return 0;
	}
	if (wait <= 0)
		return 1;
	http_response_error(resp, 429, "too_many_requests",
	    "Too many failed attempts; try again later");
	http_response_header(resp, "Retry-After", "%d", wait);
	return 0;
}

/* The limiter's keys for an attempt on name (looked up as *who) from ip. */
static int
attempt_keys(struct app *app, const struct user_login *who, const char *ip,
    const unsigned char *device_hash, struct throttle_keys *keys)
{
	struct throttle_subject subject;

	subject.account_id = who->account_id;
	subject.folded_name = who->folded;
	subject.by_email = who->by_email;
	return throttle_keys_make(app->cfg, &subject, ip,
	    who->device_trusted ? device_hash : NULL, keys);
}

/* POST /auth/login */
static void
handle_login(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct login_request login;
	struct user_login who;
	struct session_tokens tokens;
	struct session_rehash rehash;
	struct throttle_keys keys;
	unsigned char device_hash[CRYPTO_SHA256_LEN];
	const char *device_token;
	char why[128], new_hash[PASSWORD_HASH_MAX], *new_device = NULL;
	char challenge[DBSC_CHALLENGE_MAX + 1];
	struct refresh_proof dpop;
	struct dpop_proof dpop_key;
	struct session_binding bind;
	size_t device_len;
	int rc, needs_rehash, have_device, has_dpop, fresh;

	(void)arg;
	memset(&who, 0, sizeof who);
	if (parse_login(body, &login, why, sizeof why) != 0) {
		http_response_error(resp, 400, "invalid_request", why);
		return;
	}
	if (authn_device_token(app->cfg, req, login.device_token,
	    login.device_token_len, &device_token, &device_len, resp) != 0)
		return;
	/* A proof that cannot be good is refused before any bcrypt, and is
	 * no failed guess of the password. */
	if (binding_dpop(app, req, &dpop, &dpop_key, &has_dpop, resp) != 0)
		return;
	/* A malformed token or one of an unlisted kid is simply no trusted
	 * device; the lookup says whether it is a live one of the account. */
	have_device = device_token != NULL && device_token_hash(app->cfg,
	    device_token, device_len, device_hash) == 0;
	rc = user_find_login(app->db, login.username != NULL ? login.username :
	    login.email, login.username == NULL, have_device ? device_hash : NULL,
	    app->now, &who);
	if (rc != DB_OK) {
		errors_respond(resp, rc);
		goto out;
	}
	if (attempt_keys(app, &who, req->client_ip, device_hash, &keys) != 0) {
		errors_respond(resp, LATCH_EFAIL);
		goto out;
	}
	/* Counted before the password is looked at, so that concurrent
	 * guesses are each counted; while a block holds, even the right
	 * password gets 429. */
	if (!attempt_allowed(app, &keys, resp))
		goto out;
	/* Unknown and disabled users are checked against the dummy hash:
	 * every failure costs one bcrypt at the configured cost. */
	rc = password_verify(app->pw, login.password, login.password_len,
	    who.cred.found && !who.cred.disabled ? who.cred.password_hash :
	    NULL);
	if (rc != PASSWORD_OK) {
		log_event(LOG_INFO, "login_failed", "ip=%s device=%s",
		    req->client_ip, who.device_trusted ? "trusted" : "none");
		refuse_credentials(resp);
		goto out;
	}
	/* A weaker or foreign hash is replaced while we hold the password,
	 * in the same statement that opens the session. */
	rehash.old_hash = who.cred.password_hash;
	rehash.new_hash = new_hash;
	needs_rehash = password_needs_rehash(who.cred.password_hash,
	    app->cfg->bcrypt_cost) && password_hash(app->pw, login.password,
	    login.password_len, new_hash, sizeof new_hash) == 0;
	if (has_dpop) {
		/* The jti once the password matched, so that garbage writes
		 * nothing; a replayed proof opens no session. */
		rc = session_proof_use(app, dpop.hash_hex, dpop.until, &fresh);
		if (rc != SESSION_OK) {
			errors_respond(resp, rc);
			goto out;
		}
		if (!fresh) {
			binding_refuse_dpop(resp, "The DPoP proof was used "
			    "before");
			goto out;
		}
		bind.kind = "dpop";
		bind.alg = jws_alg_name(dpop_key.alg);
		bind.jkt_hex = dpop.jkt_hex;
		bind.jwk = dpop_key.canonical;
	}
	rc = session_open(app, who.cred.id, req->user_agent, req->client_ip,
	    needs_rehash ? &rehash : NULL, has_dpop ? &bind : NULL, &tokens);
	OPENSSL_cleanse(new_hash, sizeof new_hash);
	if (rc == SESSION_EGONE) {
		/* Disabled or deleted between the check and the insert: a
		 * failure, and counted as one. */
		refuse_credentials(resp);
		goto out;
	}
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		goto out;
	}
	/* The attempt was not a guess after all. Neither step may fail the
	 * login: a settle that did not happen leaves one failure counted, a
	 * device token that was not issued leaves the client untrusted. */
	if (throttle_settle(app->db, &keys) != DB_OK)
		log_event(LOG_WARN, "throttle_settle_failed", "user=%" PRId64,
		    who.cred.id);
	if (device_issue(app, who.cred.id, who.device_trusted ? device_hash :
	    NULL, &new_device) != DB_OK)
		log_event(LOG_WARN, "device_token_not_issued", "user=%" PRId64,
		    who.cred.id);
	/* A browser's login over TLS is offered DBSC (issue 14): one that
	 * supports it registers a key at DBSC_REGISTER_PATH. Apps, plain
	 * http and DPoP-bound sessions are not; a failure to offer is no
	 * failure of the login. */
	if (login.delivery == REPLY_DELIVERY_COOKIE && req->https &&
	    app->cfg->dbsc_cookie_lifetime > 0 && !has_dpop &&
	    (dbsc_challenge_make(app->cfg, DBSC_FOR_REGISTRATION, tokens.sid,
	    app->now,
	    challenge) != 0 || dbsc_offer_registration(resp, challenge) != 0))
		log_event(LOG_WARN, "dbsc_not_offered", "sid=%s", tokens.sid);
	reply_tokens(app, &tokens, new_device, login.delivery, resp);
	session_tokens_free(&tokens);
out:
	device_token_free(new_device);
	OPENSSL_cleanse(&who, sizeof who);
	OPENSSL_cleanse(device_hash, sizeof device_hash);
}

/* POST /auth/register (only when ALLOW_SIGNUP=1) */
static void
handle_register(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	const char *username, *password, *email;
	size_t password_len;
	struct user_login who;
	struct throttle_keys keys;
	char why[128], hash[PASSWORD_HASH_MAX], id_text[24];
	const struct json_field fields[] = {
		{ "username", JSON_FIELD_STRING, USER_NAME_MAX, &username, NULL },
		{ "password", JSON_FIELD_STRING, app->cfg->max_body, &password,
		    &password_len },
		{ "email", JSON_FIELD_STRING, USER_NAME_MAX, &email, NULL },
	};
	json_object *o;
	int64_t id;
	int rc;

	(void)arg;
	if (json_read_fields(body, fields, sizeof fields / sizeof fields[0],
	    why, sizeof why) != 0) {
		http_response_error(resp, 400, "invalid_request", why);
		return;
	}
	if (username == NULL || !user_valid_signup_name(username)) {
		http_response_error(resp, 400, "invalid_request",
		    "\"username\" must be 3 to 32 of A-Z a-z 0-9 . _ -, "
		    "starting with a letter or digit");
		return;
	}
	if (email != NULL && !user_valid_email(email)) {
		http_response_error(resp, 400, "invalid_request",
		    "\"email\" is not an email address");
		return;
	}
	if (password == NULL) {
		http_response_error(resp, 400, "invalid_request",
		    "\"password\" is required");
		return;
	}
	if (password_len < 8 || password_len > PASSWORD_MAX) {
		http_response_error(resp, 400, "weak_password",
		    "The password must be 8 to 72 bytes long");
		return;
	}
	/* Sign-up is rate limited like login, and every attempt counts:
	 * each one costs a bcrypt, and a flood must not buy free ones. */
	/* A sign-up is about a name, taken or not: it is keyed on the
	 * folded name, so creating the account does not start a new count. */
	rc = user_find_login(app->db, username, 0, NULL, app->now, &who);
	if (rc != DB_OK) {
		errors_respond(resp, rc);
		return;
	}
	who.account_id = 0;
	if (attempt_keys(app, &who, req->client_ip, NULL, &keys) != 0) {
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	if (!attempt_allowed(app, &keys, resp))
		return;
	if (password_hash(app->pw, password, password_len, hash,
	    sizeof hash) != 0) {
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	rc = user_create(app->db, username, email, hash, &id);
	OPENSSL_cleanse(hash, sizeof hash);
	if (rc == DB_EUNIQUE) {
		http_response_error(resp, 409, "username_taken",
		    "That username or email is already registered");
		return;
	}
	if (rc != DB_OK) {
		errors_respond(resp, rc);
		return;
	}
	log_event(LOG_INFO, "user_registered", "user=%" PRId64 " ip=%s", id,
	    req->client_ip);
	snprintf(id_text, sizeof id_text, "%" PRId64, id);
	o = json_object_new_object();
	reply_json(resp, 201, o, o != NULL && (reply_put(o, "id",
	    json_object_new_string(id_text)) != 0 || reply_put(o, "username",
	    json_object_new_string(username)) != 0));
}

static int
signup_enabled(const struct latch_config *cfg)
{
	return cfg->allow_signup;
}

static const struct route login_routes[] = {
	{ .method = HTTP_POST, .path = "/auth/login",
	    .body = ROUTE_BODY_JSON, .handler = handle_login },
	{ .method = HTTP_POST, .path = "/auth/register",
	    .body = ROUTE_BODY_JSON, .handler = handle_register,
	    .enabled = signup_enabled },
};

int
main(void)
{
	return server_main_admitted("login", login_routes,
	    sizeof login_routes / sizeof login_routes[0]);
}
