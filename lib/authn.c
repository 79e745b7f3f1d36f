/* authn.c: which credential a request presents and whether it may be
 * used here: Bearer access tokens against live sessions, the refresh
 * token of a body or cookie (with the cross-site check a cookie needs),
 * and the device token of a login. */
#include "authn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "net.h"
#include "reads.h"

void
authn_challenge(struct http_response *resp, const char *error,
    const char *description)
{
	if (error == NULL) {
		http_response_error(resp, 401, "invalid_request", description);
		http_response_header(resp, "WWW-Authenticate",
		    "Bearer realm=\"latch\"");
		return;
	}
	/* description is ours and free of '"' and '\\', as RFC 6750 section
	 * 3 requires of the quoted values. */
	http_response_error(resp, 401, error, description);
	http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"latch\", "
	    "error=\"%s\", error_description=\"%s\"", error, description);
}

/* Reads the principal lookup's one row (username, email or NULL, the
 * user's creation in seconds since the epoch) into who. Returns 0, or -1
 * when a value does not fit. */
static int
read_principal(const PGresult *res, struct authn_principal *who)
{
	const char *email = db_value_or_null(res, 0, 1);
	char *end;
	int n;

	n = snprintf(who->username, sizeof who->username, "%s",
	    PQgetvalue(res, 0, 0));
	if (n < 0 || (size_t)n >= sizeof who->username)
		return -1;
	who->has_email = email != NULL;
	if (email != NULL) {
		n = snprintf(who->email, sizeof who->email, "%s", email);
		if (n < 0 || (size_t)n >= sizeof who->email)
			return -1;
	}
	who->created_at = strtoll(PQgetvalue(res, 0, 2), &end, 10);
	return *end == '\0' ? 0 : -1;
}

int
authn_bearer(struct app *app, const struct http_request *req,
    struct http_response *resp, struct authn_principal *out)
{
	/* The user of the token's live session, if enabled: one prepared
	 * statement (lib/db.c), planned once per server connection. */
	static const char sql[] =
	    "SELECT u.username, u.email,"
	    " floor(extract(epoch FROM u.created_at))::bigint"
	    " FROM sessions s JOIN users u ON u.id = s.user_id"
	    " WHERE s.id = $1::uuid AND u.id = $2::bigint"
	    " AND latch_session_live(s, to_timestamp($3::float8))"
	    " AND u.disabled_at IS NULL";
	struct jwt_verify_opts opts;
	struct jwt_claims claims;
	const char *token, *params[3];
	char now_s[32];
	size_t len;
	PGresult *res;
	int rc;

	memset(out, 0, sizeof *out);
	if (req->authorization_too_large) {
		/* Far over any token we accept (4 KiB): a malformed one. */
		authn_challenge(resp, "invalid_token",
		    "The access token is too long");
		return -1;
	}
	rc = http_bearer_token(req->authorization, &token, &len);
	if (rc == HTTP_BEARER_NONE) {
		authn_challenge(resp, NULL, "A Bearer access token is required");
		return -1;
	}
	if (rc != HTTP_BEARER_OK) {
		/* Presented but not even token68: a token, and a bad one. */
		authn_challenge(resp, "invalid_token",
		    "The access token is malformed");
		return -1;
	}
	memset(&opts, 0, sizeof opts);
	opts.keys = &app->cfg->access_keys;
	opts.kind = JWT_ACCESS;
	opts.now = app->now;
	opts.issuer = app->cfg->issuer;
	opts.audience = app->cfg->audience;
	opts.require_sid = 1;
	rc = jwt_verify(token, len, &opts, &claims);
	if (rc != JWT_OK) {
		authn_challenge(resp, "invalid_token", jwt_strerror(rc));
		return -1;
	}
	if (user_id_parse(claims.sub, &out->user_id) != 0 ||
	    !crypto_is_uuid(claims.sid)) {
		authn_challenge(resp, "invalid_token",
		    "The token was not issued by this server");
		return -1;
	}
	memcpy(out->sid, claims.sid, sizeof out->sid);
	params[0] = claims.sid;
	params[1] = claims.sub;
	app_now_text(app, now_s);
	params[2] = now_s;
	/* A replica that lacks the session (made a moment ago) is not
	 * believed: the primary is asked (lib/reads.h). */
	rc = reads_exec(app, sql, 3, params, READS_ROW, &res);
	if (rc != DB_OK) {
		errors_respond(resp, rc);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		authn_challenge(resp, "invalid_token", "The session has ended");
		return -1;
	}
	rc = read_principal(res, out);
	PQclear(res);
	if (rc != 0) {
		log_event(LOG_ERROR, "principal_unreadable", "sid=%s", out->sid);
		errors_respond(resp, LATCH_EFAIL);
		return -1;
	}
	return 0;
}

const char *
authn_refresh_cookie_name(const struct latch_config *cfg)
{
	return cfg->cookie_secure ? "__Secure-refresh_token" : "refresh_token";
}

const char *
authn_device_cookie_name(const struct latch_config *cfg)
{
	return cfg->cookie_secure ? "__Secure-latch_device" : "latch_device";
}

int
authn_own_origin(const struct http_request *req, char *out, size_t outsz)
{
	char raw[NET_ORIGIN_MAX + 16];
	int n;

	if (req->host == NULL)
		return -1;
	n = snprintf(raw, sizeof raw, "%s://%s", req->https ? "https" : "http",
	    req->host);
	if (n < 0 || (size_t)n >= sizeof raw ||
	    net_normalize_origin(raw, out, outsz) != 0)
		return -1;
	return 0;
}

/* Cross-site request forgery defence for cookie-authenticated requests:
 * an Origin outside ALLOWED_ORIGINS (by default the server's own origin)
 * or Sec-Fetch-Site: cross-site is refused. A request with neither header
 * (a native client) passes. */
static int
origin_allowed(const struct latch_config *cfg, const struct http_request *req)
{
	char origin[NET_ORIGIN_MAX + 1], own[NET_ORIGIN_MAX + 1];

	if (req->sec_fetch_site != NULL &&
	    strcasecmp(req->sec_fetch_site, "cross-site") == 0)
		return 0;
	if (req->origin == NULL)
		return 1;
	if (net_normalize_origin(req->origin, origin, sizeof origin) != 0)
		return 0;       /* "null" and other opaque origins */
	if (cfg->n_origins > 0) {
		for (size_t i = 0; i < cfg->n_origins; i++)
			if (strcmp(cfg->origins[i], origin) == 0)
				return 1;
		return 0;
	}
	if (authn_own_origin(req, own, sizeof own) != 0)
		return 0;
	return strcmp(own, origin) == 0;
}

/* The credential a request presents: the body's member when it is a
 * non-empty string, otherwise the one cookie cookie_name, if any. Sets
 * *token (into body or req, not owned; NULL: none) and *len; returns 0,
 * or -1 with resp a 400 when several such cookies came ("Several
 * <what> cookies were sent"). */
static int
present_credential(const struct http_request *req, const char *from_body,
    size_t body_len, const char *cookie_name, const char *what,
    const char **token, size_t *len, struct http_response *resp)
{
	char why[96];
	int n;

	*token = NULL;
	*len = 0;
	if (from_body != NULL && body_len > 0) {
		*token = from_body;
		*len = body_len;
		return 0;
	}
	n = http_cookie_find(req->cookie, cookie_name, token, len);
	if (n > 1) {
		snprintf(why, sizeof why, "Several %s cookies were sent", what);
		http_response_error(resp, 400, "invalid_request", why);
		*token = NULL;
		return -1;
	}
	if (n == 0 || *len == 0)
		*token = NULL;
	return 0;
}

static void
refuse_origin(struct http_response *resp)
{
	http_response_error(resp, 403, "invalid_origin",
	    "Cross-site requests may not use the refresh cookie");
}

int
authn_refresh_token(const struct latch_config *cfg,
    const struct http_request *req, json_object *body,
    struct authn_refresh *out, struct http_response *resp)
{
	const char *from_body = NULL;
	size_t body_len = 0;
	char why[128];
	const struct json_field fields[] = {
		{ "refresh_token", JSON_FIELD_STRING, cfg->max_body,
		    &from_body, &body_len },
	};

	memset(out, 0, sizeof *out);
	if (body != NULL && json_read_fields(body, fields, 1, why,
	    sizeof why) != 0) {
		http_response_error(resp, 400, "invalid_request", why);
		return -1;
	}
	if (present_credential(req, from_body, body_len,
	    authn_refresh_cookie_name(cfg), "refresh token", &out->token,
	    &out->len, resp) != 0)
		return -1;
	out->from_cookie = from_body == NULL || body_len == 0;
	if (out->from_cookie && out->token != NULL &&
	    !origin_allowed(cfg, req)) {
		refuse_origin(resp);
		return -1;
	}
	return 0;
}

int
authn_device_token(const struct latch_config *cfg,
    const struct http_request *req, const char *from_body, size_t body_len,
    const char **token, size_t *len, struct http_response *resp)
{
	return present_credential(req, from_body, body_len,
	    authn_device_cookie_name(cfg), "device token", token, len, resp);
}
