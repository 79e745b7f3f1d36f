/* auth.c: the /auth/ routes: login, refresh, logout, logout-all, the
 * session list and sign-up. Handlers turn a parsed request into a decision of
 * lib/session and an answer; they never touch FastCGI or SQL. */
#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "authn.h"
#include "device.h"
#include "errors.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "password.h"
#include "server.h"
#include "session.h"
#include "throttle.h"
#include "user.h"

enum delivery {
	DELIVERY_COOKIE,                /* browsers: HttpOnly cookie */
	DELIVERY_BODY,                  /* native apps: in the JSON */
};

/* Sets the refresh cookie; an empty value with max_age 0 clears it, with
 * the same name and attributes, so that it hits the same cookie. */
static int
set_refresh_cookie(const struct latch_config *cfg, struct http_response *resp,
    const char *value, int64_t max_age)
{
	return http_response_header(resp, "Set-Cookie",
	    "%s=%s; Path=/auth; Max-Age=%" PRId64 "; HttpOnly;%s "
	    "SameSite=Strict", authn_refresh_cookie_name(cfg), value, max_age,
	    cfg->cookie_secure ? " Secure;" : "");
}

static void
clear_refresh_cookie(const struct latch_config *cfg, struct http_response *resp)
{
	set_refresh_cookie(cfg, resp, "", 0);
}

static int
set_device_cookie(const struct latch_config *cfg, struct http_response *resp,
    const char *value)
{
	return http_response_header(resp, "Set-Cookie",
	    "%s=%s; Path=/auth/login; Max-Age=%" PRId64 "; HttpOnly;%s "
	    "SameSite=Strict", authn_device_cookie_name(cfg), value,
	    DEVICE_TOKEN_LIFETIME, cfg->cookie_secure ? " Secure;" : "");
}

/* Adds key: v to o, v being a new value (NULL: its allocation failed).
 * Returns 0, or -1 with v freed. */
static int
put(json_object *o, const char *key, json_object *v)
{
	if (v == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* Adds key: the string s, or null when s is NULL. Returns 0, or -1. */
static int
put_string_or_null(json_object *o, const char *key, const char *s)
{
	if (s == NULL)
		return json_object_object_add(o, key, NULL) == 0 ? 0 : -1;
	return put(o, key, json_object_new_string(s));
}

/* Answers status with o, or 500 when o is NULL or building it failed
 * (failed is not 0): o is consumed either way. */
static void
respond_json(struct http_response *resp, int status, json_object *o,
    int failed)
{
	if (o == NULL || failed) {
		json_object_put(o);
		log_event(LOG_ERROR, "out_of_memory", "what=response");
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	http_response_json(resp, status, o);
}

/* 200 with a token pair, the refresh token (and after a login the device
 * token, when there is one) delivered as asked. */
static void
respond_tokens(const struct app *app, const struct session_tokens *t,
    const char *device_token, enum delivery delivery,
    struct http_response *resp)
{
	json_object *o = json_object_new_object();
	int failed = o == NULL ||
	    put(o, "access_token", json_object_new_string(t->access_token)) ||
	    put(o, "token_type", json_object_new_string("Bearer")) ||
	    put(o, "expires_in", json_object_new_int64(t->access_expires_in));

	if (!failed && delivery == DELIVERY_BODY)
		failed = put(o, "refresh_token",
		    json_object_new_string(t->refresh_token)) ||
		    put(o, "refresh_expires_in",
		    json_object_new_int64(t->refresh_expires_in)) ||
		    (device_token != NULL && put(o, "device_token",
		    json_object_new_string(device_token)));
	else if (!failed)
		failed = set_refresh_cookie(app->cfg, resp, t->refresh_token,
		    t->refresh_expires_in) != 0 || (device_token != NULL &&
		    set_device_cookie(app->cfg, resp, device_token) != 0);
	respond_json(resp, 200, o, failed);
}

static int
parse_delivery(const char *s, enum delivery *out)
{
	if (s == NULL || strcmp(s, "cookie") == 0)
		*out = DELIVERY_COOKIE;
	else if (strcmp(s, "body") == 0)
		*out = DELIVERY_BODY;
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
	enum delivery delivery;
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
	size_t device_len;
	int rc, needs_rehash, have_device;

	(void)arg;
	memset(&who, 0, sizeof who);
	if (parse_login(body, &login, why, sizeof why) != 0) {
		http_response_error(resp, 400, "invalid_request", why);
		return;
	}
	if (authn_device_token(app->cfg, req, login.device_token,
	    login.device_token_len, &device_token, &device_len, resp) != 0)
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
	rc = session_open(app, who.cred.id, req->user_agent, req->client_ip,
	    needs_rehash ? &rehash : NULL, &tokens);
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
	respond_tokens(app, &tokens, new_device, login.delivery, resp);
	session_tokens_free(&tokens);
out:
	device_token_free(new_device);
	OPENSSL_cleanse(&who, sizeof who);
	OPENSSL_cleanse(device_hash, sizeof device_hash);
}

/* POST /auth/refresh */
static void
handle_refresh(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_refresh pt;
	struct session_tokens tokens;
	enum refresh_outcome outcome;
	int rc;

	(void)arg;
	if (authn_refresh_token(app->cfg, req, body, &pt, resp) != 0)
		return;
	if (pt.token == NULL) {
		http_response_error(resp, 401, "invalid_request",
		    "No refresh token was presented");
		http_response_header(resp, "WWW-Authenticate",
		    "Bearer realm=\"latch\"");
		return;
	}
	rc = session_refresh(app, pt.token, pt.len, req->client_ip, &tokens,
	    &outcome);
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		return;
	}
	if (outcome == REFRESH_ROTATED || outcome == REFRESH_DUPLICATE) {
		respond_tokens(app, &tokens, NULL, pt.from_cookie ?
		    DELIVERY_COOKIE : DELIVERY_BODY, resp);
		session_tokens_free(&tokens);
		return;
	}
	/* Refused and reuse answer alike: the thief learns nothing. */
	http_response_error(resp, 403, "invalid_grant",
	    "The refresh token is invalid, expired or revoked");
	if (pt.from_cookie)
		clear_refresh_cookie(app->cfg, resp);
}

/* POST /auth/logout */
static void
handle_logout(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_refresh pt;
	json_object *o;
	int rc;

	(void)arg;
	if (authn_refresh_token(app->cfg, req, body, &pt, resp) != 0)
		return;
	if (pt.token != NULL) {
		/* Unreachable database: not revoked, and RFC 7009's 503
		 * says so. */
		rc = session_logout(app, pt.token, pt.len, req->client_ip);
		if (rc != SESSION_OK) {
			errors_respond(resp, rc);
			return;
		}
	}
	o = json_object_new_object();
	respond_json(resp, 200, o, o != NULL && put(o, "message",
	    json_object_new_string("logged out")) != 0);
	clear_refresh_cookie(app->cfg, resp);
}

/* POST /auth/logout-all */
static void
handle_logout_all(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_principal who;
	json_object *o;
	int64_t revoked;
	int rc;

	(void)body;
	(void)arg;
	if (authn_bearer(app, req, resp, &who) != 0)
		return;
	rc = session_revoke(app, who.user_id, NULL, SESSION_REASON_LOGOUT_ALL,
	    &revoked);
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		return;
	}
	/* Logging out everywhere is how an owner shuts an intruder out: no
	 * device token stays trusted either (the next login issues one). */
	rc = device_revoke_all(app->db, who.user_id);
	if (rc != DB_OK) {
		errors_respond(resp, rc);
		return;
	}
	log_event(LOG_WARN, "logout_all", "user=%" PRId64 " sid=%s ip=%s "
	    "revoked_sessions=%" PRId64, who.user_id, who.sid, req->client_ip,
	    revoked);
	o = json_object_new_object();
	respond_json(resp, 200, o, o != NULL && put(o, "revoked",
	    json_object_new_int64(revoked)) != 0);
	clear_refresh_cookie(app->cfg, resp);
}

/* The most sessions GET /auth/sessions lists. */
#define SESSIONS_LISTED 1000

/* Adds key: the time t in API.md's form. Returns 0, or -1. */
static int
put_time(json_object *o, const char *key, int64_t t)
{
	char buf[21];

	http_format_time(t, buf);
	return put(o, key, json_object_new_string(buf));
}

/* API.md's {"sessions": [{"id", "created_at", "last_used_at",
 * "expires_at", "user_agent", "ip", "current"}]} of list, current marking
 * current_sid. Returns a new object, or NULL when memory ran out. */
static json_object *
sessions_json(const struct session_list *list, const char *current_sid)
{
	json_object *root = json_object_new_object(), *arr = NULL;

	if (root == NULL || put(root, "sessions",
	    arr = json_object_new_array()) != 0)
		goto fail;
	for (size_t i = 0; i < list->n; i++) {
		const struct session_info *s = &list->items[i];
		json_object *o = json_object_new_object();

		if (o == NULL || json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			goto fail;
		}
		if (put(o, "id", json_object_new_string(s->id)) != 0 ||
		    put_time(o, "created_at", s->created_at) != 0 ||
		    put_time(o, "last_used_at", s->last_used_at) != 0 ||
		    put_time(o, "expires_at", s->expires_at) != 0 ||
		    put_string_or_null(o, "user_agent", s->user_agent) != 0 ||
		    put_string_or_null(o, "ip", s->ip) != 0 ||
		    put(o, "current", json_object_new_boolean(
		    strcmp(s->id, current_sid) == 0)) != 0)
			goto fail;
	}
	return root;
fail:
	json_object_put(root);
	return NULL;
}

/* GET /auth/sessions */
static void
handle_sessions(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_principal who;
	struct session_list list;
	int rc;

	(void)body;
	(void)arg;
	if (authn_bearer(app, req, resp, &who) != 0)
		return;
	rc = session_list(app, who.user_id, NULL, SESSIONS_LISTED, &list);
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		return;
	}
	respond_json(resp, 200, sessions_json(&list, who.sid), 0);
	session_list_free(&list);
}

/* DELETE /auth/sessions/{id} */
static void
handle_session_delete(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_principal who;
	int64_t found = 0;
	int rc;

	(void)body;
	if (authn_bearer(app, req, resp, &who) != 0)
		return;
	/* Someone else's, unknown or malformed: all the same 404. */
	if (arg != NULL && crypto_is_uuid(arg)) {
		rc = session_revoke(app, who.user_id, arg,
		    SESSION_REASON_REVOKED, &found);
		if (rc != SESSION_OK) {
			errors_respond(resp, rc);
			return;
		}
	}
	if (!found) {
		http_response_error(resp, 404, "not_found", "No such session");
		return;
	}
	log_event(LOG_INFO, "session_revoked", "user=%" PRId64 " sid=%s "
	    "by_sid=%s ip=%s", who.user_id, arg, who.sid, req->client_ip);
	http_response_json(resp, 204, NULL);
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
	respond_json(resp, 201, o, o != NULL && (put(o, "id",
	    json_object_new_string(id_text)) != 0 || put(o, "username",
	    json_object_new_string(username)) != 0));
}

static int
signup_enabled(const struct latch_config *cfg)
{
	return cfg->allow_signup;
}

static const struct route auth_routes[] = {
	{ .method = HTTP_POST, .path = "/auth/login",
	    .body = ROUTE_BODY_JSON, .handler = handle_login },
	{ .method = HTTP_POST, .path = "/auth/refresh",
	    .body = ROUTE_BODY_JSON_OR_EMPTY, .handler = handle_refresh },
	{ .method = HTTP_POST, .path = "/auth/logout",
	    .body = ROUTE_BODY_JSON_OR_EMPTY, .handler = handle_logout },
	{ .method = HTTP_POST, .path = "/auth/logout-all",
	    .body = ROUTE_BODY_NONE, .handler = handle_logout_all,
	    .bearer = 1 },
	{ .method = HTTP_GET, .path = "/auth/sessions",
	    .body = ROUTE_BODY_NONE, .handler = handle_sessions,
	    .bearer = 1 },
	{ .method = HTTP_DELETE, .path = "/auth/sessions/*",
	    .body = ROUTE_BODY_NONE, .handler = handle_session_delete,
	    .bearer = 1 },
	{ .method = HTTP_POST, .path = "/auth/register",
	    .body = ROUTE_BODY_JSON, .handler = handle_register,
	    .enabled = signup_enabled },
};

int
main(void)
{
	return server_main("auth", auth_routes,
	    sizeof auth_routes / sizeof auth_routes[0]);
}
