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
#include "binding.h"
#include "dbsc.h"
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

/* POST /auth/refresh's refusal of the token pt: refused and reuse answer
 * alike, so the thief learns nothing. */
static void
refuse_grant(const struct app *app, const struct authn_refresh *pt,
    struct http_response *resp)
{
	http_response_error(resp, 403, "invalid_grant",
	    "The refresh token is invalid, expired or revoked");
	if (pt->from_cookie)
		clear_refresh_cookie(app->cfg, resp);
}

/* POST /auth/refresh */
static void
handle_refresh(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_refresh pt;
	struct session_tokens tokens;
	enum refresh_outcome outcome;
	struct refresh_proof proof;
	struct dpop_proof dp;
	struct jwt_claims claims;
	int64_t user_id;
	int rc, has_proof;

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
	/* The token's HMAC first: it costs a hash, a DPoP signature an RSA
	 * or EC verification, so a token that is not ours (refused below
	 * whatever the proof) never makes us do the expensive one. */
	if (session_verify_refresh(app, pt.token, pt.len, &claims,
	    &user_id) != 0) {
		refuse_grant(app, &pt, resp);
		return;
	}
	/* Checked before the token is consumed (verifying it above consumed
	 * nothing): a bad proof changes nothing, and the owner can still
	 * refresh. */
	if (binding_dpop(app, req, &proof, &dp, &has_proof, resp) != 0)
		return;
	rc = session_refresh(app, pt.token, pt.len, &claims, user_id,
	    req->client_ip, has_proof ? &proof : NULL, &tokens, &outcome);
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		return;
	}
	if (outcome == REFRESH_UNPROVEN) {
		binding_refuse_dpop(resp, has_proof ? "The DPoP proof is not "
		    "of this session's key, or was used before" : "This "
		    "session is bound to a DPoP key: a proof is required");
		return;
	}
	if (outcome == REFRESH_ROTATED || outcome == REFRESH_DUPLICATE) {
		reply_tokens(app, &tokens, NULL, pt.from_cookie ?
		    REPLY_DELIVERY_COOKIE : REPLY_DELIVERY_BODY, resp);
		session_tokens_free(&tokens);
		return;
	}
	refuse_grant(app, &pt, resp);
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
		    strcmp(s->id, current_sid) == 0)) != 0 ||
		    put_string_or_null(o, "binding", s->binding) != 0)
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

/* A DBSC answer that a proof is needed (or was not good): 403 with a
 * fresh challenge for sid, nothing changed (the draft: 403 means sign
 * this and try again). */
static void
dbsc_ask_proof(struct app *app, const char *sid, const char *why,
    struct http_response *resp)
{
	char challenge[DBSC_CHALLENGE_MAX + 1];

	if (dbsc_challenge_make(app->cfg, DBSC_FOR_REFRESH, sid, app->now,
	    challenge) != 0) {
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	http_response_error(resp, 403, "dbsc_proof_required", why);
	dbsc_send_challenge(resp, challenge, sid);
}

/* The end of a DBSC session (ended, revoked, reused, unknown): 401, which
 * makes the browser drop it, and the clearing cookie. A session id (and
 * a proof) was presented and refused, so the challenge names the error
 * (API.md: every 401). */
static void
dbsc_end(struct app *app, struct http_response *resp)
{
	authn_challenge(resp, "invalid_grant", "The session has ended");
	clear_refresh_cookie(app->cfg, resp);
}

/* 200 after a registration or a signed refresh: the new short-lived
 * cookie, the next challenge (so the browser's next refresh signs at
 * once) and the session instructions. */
static void
dbsc_answer(struct app *app, const struct http_request *req,
    const struct session_tokens *t, struct http_response *resp)
{
	char challenge[DBSC_CHALLENGE_MAX + 1], origin[NET_ORIGIN_MAX + 1];
	char host[NET_ORIGIN_MAX + 1];
	const char *h;

	/* The scope's domain is the origin's host, without the port. */
	if (authn_own_origin(req, origin, sizeof origin) != 0 ||
	    dbsc_challenge_make(app->cfg, DBSC_FOR_REFRESH, t->sid, app->now,
	    challenge) != 0) {
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	h = strstr(origin, "://") + 3;
	snprintf(host, sizeof host, "%.*s", (int)(h[0] == '[' ?
	    strcspn(h, "]") + 1 : strcspn(h, ":")), h);
	if (reply_refresh_cookie(app->cfg, resp, t->refresh_token,
	    t->refresh_expires_in) != 0 ||
	    dbsc_send_challenge(resp, challenge, t->sid) != 0) {
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	reply_json(resp, 200, dbsc_instructions(t->sid, origin, host,
	    authn_refresh_cookie_name(app->cfg),
	    reply_refresh_cookie_attributes(app->cfg)), 0);
}

/* The refresh proof of a verified DBSC proof p whose challenge ch passed,
 * signed by the key with thumbprint. */
static void
dbsc_proof_fill(struct refresh_proof *proof, const struct dbsc_challenge *ch,
    const unsigned char thumbprint[JWK_THUMBPRINT_LEN])
{
	memset(proof, 0, sizeof *proof);
	proof->kind = "dbsc";
	crypto_hex(thumbprint, JWK_THUMBPRINT_LEN, proof->jkt_hex);
	memcpy(proof->hash_hex, ch->hash_hex, sizeof proof->hash_hex);
	proof->until = ch->expires_at;
}

/* POST /auth/dbsc/register: the browser's key for the session of the
 * refresh cookie, proven over the challenge the login offered. */
static void
handle_dbsc_register(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_refresh pt;
	struct jwt_claims claims;
	struct dbsc_proof p;
	struct dbsc_challenge ch;
	struct refresh_proof proof;
	struct session_tokens tokens;
	enum refresh_outcome outcome;
	int64_t user_id;
	int rc;

	(void)body;
	(void)arg;
	memset(&p, 0, sizeof p);
	/* Offered only over TLS and while DBSC is on (fcgi/login.c): a key
	 * registered anywhere else was never asked for. */
	if (!req->https || app->cfg->dbsc_cookie_lifetime == 0) {
		http_response_error(resp, 404, "not_found",
		    "DBSC is not offered here");
		return;
	}
	if (authn_refresh_token(app->cfg, req, NULL, &pt, resp) != 0)
		return;
	if (pt.token == NULL || session_verify_refresh(app, pt.token, pt.len,
	    &claims, &user_id) != 0) {
		http_response_error(resp, 403, "invalid_grant",
		    "No valid refresh cookie: log in first");
		return;
	}
	if (req->dbsc_response == NULL) {
		http_response_error(resp, 400, "invalid_request",
		    "No Secure-Session-Response proof was sent");
		return;
	}
	rc = dbsc_verify_proof(req->dbsc_response, strlen(req->dbsc_response),
	    NULL, &p);
	if (rc != JWK_OK) {
		log_event(LOG_INFO, "dbsc_register_refused", "sid=%s why=%d",
		    claims.sid, rc);
		http_response_error(resp, 400, "invalid_request",
		    jwk_strerror(rc));
		return;
	}
	if (dbsc_challenge_check(app->cfg, DBSC_FOR_REGISTRATION, claims.sid,
	    p.challenge,
	    p.challenge_len, app->now, &ch) != 0) {
		http_response_error(resp, 400, "invalid_request", "The proof "
		    "does not answer a current challenge of this session");
		goto out;
	}
	dbsc_proof_fill(&proof, &ch, p.jws.key.thumbprint);
	proof.bind_alg = jws_alg_name(p.jws.alg);
	proof.bind_jwk = p.jws.key.canonical;
	rc = session_refresh(app, pt.token, pt.len, &claims, user_id,
	    req->client_ip, &proof, &tokens, &outcome);
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		goto out;
	}
	switch (outcome) {
	case REFRESH_ROTATED:
	case REFRESH_DUPLICATE:
		log_event(LOG_INFO, "dbsc_registered", "user=%" PRId64
		    " sid=%s alg=%s", user_id, claims.sid, proof.bind_alg);
		dbsc_answer(app, req, &tokens, resp);
		session_tokens_free(&tokens);
		break;
	case REFRESH_UNPROVEN:
		http_response_error(resp, 400, "invalid_request", "The session "
		    "is bound to another key, or the challenge was used");
		break;
	default:
		/* The cookie stays: the page's own refresh may have rotated
		 * it while this registration was on its way, and the
		 * browser's session goes on unbound, as without DBSC. */
		http_response_error(resp, 403, "invalid_grant",
		    "The refresh token is not the session's live one");
		break;
	}
out:
	dbsc_proof_clear(&p);
}

/* POST /auth/dbsc/refresh: the browser's signed refresh of a bound
 * session, asked for with 403 and a challenge when it came unsigned. */
static void
handle_dbsc_refresh(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct authn_refresh pt;
	struct jwt_claims claims;
	struct session_key key;
	struct jwk jwk;
	struct dbsc_proof p;
	struct dbsc_challenge ch;
	struct refresh_proof proof;
	struct session_tokens tokens;
	enum refresh_outcome outcome;
	const char *sid = req->dbsc_session_id;
	int64_t user_id;
	int rc, found;

	(void)body;
	(void)arg;
	memset(&jwk, 0, sizeof jwk);
	memset(&p, 0, sizeof p);
	/* DBSC is an https protocol: browsers never speak it over http. */
	if (!req->https) {
		http_response_error(resp, 404, "not_found",
		    "DBSC is not offered here");
		return;
	}
	if (sid == NULL || !crypto_is_uuid(sid)) {
		http_response_error(resp, 400, "invalid_request",
		    "Sec-Secure-Session-Id must name a session");
		return;
	}
	/* DBSC turned off (DBSC_COOKIE_LIFETIME=0): the browser ends its
	 * DBSC session, and the session goes on as an unbound one
	 * (latch_refresh ignores a DBSC binding then). */
	if (app->cfg->dbsc_cookie_lifetime == 0) {
		authn_challenge(resp, "invalid_grant",
		    "DBSC is turned off: refresh with the cookie");
		return;
	}
	if (authn_refresh_token(app->cfg, req, NULL, &pt, resp) != 0)
		return;
	if (req->dbsc_response == NULL) {
		/* Stateless: a challenge costs no row. */
		dbsc_ask_proof(app, sid, "Sign the challenge with the "
		    "session's key", resp);
		return;
	}
	rc = session_dbsc_key(app, sid, &key, &found);
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		return;
	}
	if (!found) {
		dbsc_end(app, resp);
		return;
	}
	if (jwk_parse_text(key.jwk, strlen(key.jwk), &jwk) != JWK_OK) {
		log_event(LOG_ERROR, "dbsc_stored_key_unreadable", "sid=%s",
		    sid);
		errors_respond(resp, LATCH_EFAIL);
		return;
	}
	rc = dbsc_verify_proof(req->dbsc_response, strlen(req->dbsc_response),
	    &jwk, &p);
	if (rc != JWK_OK || dbsc_challenge_check(app->cfg, DBSC_FOR_REFRESH, sid,
	    p.challenge,
	    p.challenge_len, app->now, &ch) != 0) {
		log_event(LOG_INFO, "dbsc_proof_refused", "sid=%s why=%d", sid,
		    rc);
		dbsc_ask_proof(app, sid, rc != JWK_OK ? jwk_strerror(rc) :
		    "The proof does not answer a current challenge", resp);
		goto out;
	}
	dbsc_proof_fill(&proof, &ch, jwk.thumbprint);
	/* The cookie when it is this session's (reuse detection as on
	 * /auth/refresh); none, or an expired one, when the browser comes
	 * back after its cookie ran out: the key alone proves it. */
	if (pt.token != NULL && session_verify_refresh(app, pt.token, pt.len,
	    &claims, &user_id) == 0 && strcmp(claims.sid, sid) == 0)
		rc = session_refresh(app, pt.token, pt.len, &claims, user_id,
		    req->client_ip, &proof, &tokens, &outcome);
	else
		rc = session_refresh_proven(app, sid, key.user_id,
		    req->client_ip, &proof, &tokens, &outcome);
	if (rc != SESSION_OK) {
		errors_respond(resp, rc);
		goto out;
	}
	switch (outcome) {
	case REFRESH_ROTATED:
	case REFRESH_DUPLICATE:
		dbsc_answer(app, req, &tokens, resp);
		session_tokens_free(&tokens);
		break;
	case REFRESH_UNPROVEN:
		dbsc_ask_proof(app, sid, "The challenge was used before",
		    resp);
		break;
	default:
		dbsc_end(app, resp);
		break;
	}
out:
	dbsc_proof_clear(&p);
	jwk_clear(&jwk);
}

static const struct route auth_routes[] = {
	{ .method = HTTP_POST, .path = "/auth/refresh",
	    .body = ROUTE_BODY_JSON_OR_EMPTY, .handler = handle_refresh },
	{ .method = HTTP_POST, .path = "/auth/logout",
	    .body = ROUTE_BODY_JSON_OR_EMPTY, .handler = handle_logout },
	{ .method = HTTP_POST, .path = DBSC_REGISTER_PATH,
	    .body = ROUTE_BODY_NONE, .handler = handle_dbsc_register },
	{ .method = HTTP_POST, .path = DBSC_REFRESH_PATH,
	    .body = ROUTE_BODY_NONE, .handler = handle_dbsc_refresh },
	{ .method = HTTP_POST, .path = "/auth/logout-all",
	    .body = ROUTE_BODY_NONE, .handler = handle_logout_all,
	    .bearer = 1 },
	{ .method = HTTP_GET, .path = "/auth/sessions",
	    .body = ROUTE_BODY_NONE, .handler = handle_sessions,
	    .bearer = 1, .reads = 1 },
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
