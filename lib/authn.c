/* authn.c: Bearer token authentication against live sessions. */
#include "authn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"
#include "server.h"

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

int
authn_bearer(struct app *app, const struct http_request *req,
    struct http_response *resp, struct authn_principal *out)
{
	static const char sql[] =
	    "SELECT u.username, u.email, floor(extract(epoch FROM u.created_at))::bigint"
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
	rc = db_exec(app->db, sql, 3, params, DB_IDEMPOTENT, &res);
	if (rc != DB_OK) {
		server_database_error(resp, rc);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		authn_challenge(resp, "invalid_token", "The session has ended");
		return -1;
	}
	snprintf(out->username, sizeof out->username, "%s",
	    PQgetvalue(res, 0, 0));
	out->has_email = !PQgetisnull(res, 0, 1);
	if (out->has_email)
		snprintf(out->email, sizeof out->email, "%s",
		    PQgetvalue(res, 0, 1));
	out->created_at = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return 0;
}
