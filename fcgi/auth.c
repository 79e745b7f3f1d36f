/* auth.c: the /auth/ routes of a session's life: refresh, logout,
 * logout-all and the session list. Login and sign-up, which run bcrypt,
 * are fcgi/login.c's: a process pool of their own, so that a login flood
 * never queues a refresh behind a hash. Handlers turn a parsed request
 * into a decision of lib/session and an answer; they never touch FastCGI
 * or SQL. */
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
#include "reply.h"
#include "server.h"
#include "session.h"

static void
clear_refresh_cookie(const struct latch_config *cfg, struct http_response *resp)
{
	reply_refresh_cookie(cfg, resp, "", 0);
}

/* Adds key: the string s, or null when s is NULL. Returns 0, or -1. */
static int
put_string_or_null(json_object *o, const char *key, const char *s)
{
	if (s == NULL)
		return json_object_object_add(o, key, NULL) == 0 ? 0 : -1;
	return reply_put(o, key, json_object_new_string(s));
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
		reply_tokens(app, &tokens, NULL, pt.from_cookie ?
		    REPLY_DELIVERY_COOKIE : REPLY_DELIVERY_BODY, resp);
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
	reply_json(resp, 200, o, o != NULL && reply_put(o, "message",
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
	reply_json(resp, 200, o, o != NULL && reply_put(o, "revoked",
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
	return reply_put(o, key, json_object_new_string(buf));
}

/* API.md's {"sessions": [{"id", "created_at", "last_used_at",
 * "expires_at", "user_agent", "ip", "current"}]} of list, current marking
 * current_sid. Returns a new object, or NULL when memory ran out. */
static json_object *
sessions_json(const struct session_list *list, const char *current_sid)
{
	json_object *root = json_object_new_object(), *arr = NULL;

	if (root == NULL || reply_put(root, "sessions",
	    arr = json_object_new_array()) != 0)
		goto fail;
	for (size_t i = 0; i < list->n; i++) {
		const struct session_info *s = &list->items[i];
		json_object *o = json_object_new_object();

		if (o == NULL || json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			goto fail;
		}
		if (reply_put(o, "id", json_object_new_string(s->id)) != 0 ||
		    put_time(o, "created_at", s->created_at) != 0 ||
		    put_time(o, "last_used_at", s->last_used_at) != 0 ||
		    put_time(o, "expires_at", s->expires_at) != 0 ||
		    put_string_or_null(o, "user_agent", s->user_agent) != 0 ||
		    put_string_or_null(o, "ip", s->ip) != 0 ||
		    reply_put(o, "current", json_object_new_boolean(
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
	reply_json(resp, 200, sessions_json(&list, who.sid), 0);
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

static const struct route auth_routes[] = {
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
};

int
main(void)
{
	return server_main("auth", auth_routes,
	    sizeof auth_routes / sizeof auth_routes[0]);
}
