/* auth.c: the /auth/ routes: login (and, as they land, refresh, logout
 * and the session list). Handlers turn a parsed request into a decision of
 * lib/session and an answer; they never touch FastCGI or SQL. */
#include <openssl/crypto.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "authn.h"
#include "json.h"
#include "log.h"
#include "password.h"
#include "server.h"
#include "session.h"
#include "user.h"

enum delivery {
	DELIVERY_COOKIE,                /* browsers: HttpOnly cookie */
	DELIVERY_BODY,                  /* native apps: in the JSON */
};

/* The refresh cookie's name: the __Secure- prefix needs Secure. */
static const char *
cookie_name(const struct latch_config *cfg)
{
	return cfg->cookie_secure ? "__Secure-refresh_token" : "refresh_token";
}

static int
add_refresh_cookie(const struct latch_config *cfg, struct http_response *resp,
    const char *value, int64_t max_age)
{
	return http_response_header(resp, "Set-Cookie",
	    "%s=%s; Path=/auth; Max-Age=%" PRId64 "; HttpOnly;%s "
	    "SameSite=Strict", cookie_name(cfg), value, max_age,
	    cfg->cookie_secure ? " Secure;" : "");
}

/* 200 with a token pair, the refresh token delivered as asked. */
static void
respond_tokens(const struct app *app, const struct session_tokens *t,
    enum delivery delivery, struct http_response *resp)
{
	json_object *o = json_object_new_object();

	if (o == NULL) {
		server_internal_error(resp);
		return;
	}
	json_object_object_add(o, "access_token",
	    json_object_new_string(t->access_token));
	json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(o, "expires_in",
	    json_object_new_int64(t->access_expires_in));
	if (delivery == DELIVERY_BODY) {
		json_object_object_add(o, "refresh_token",
		    json_object_new_string(t->refresh_token));
		json_object_object_add(o, "refresh_expires_in",
		    json_object_new_int64(t->refresh_expires_in));
	} else if (add_refresh_cookie(app->cfg, resp, t->refresh_token,
	    t->refresh_expires_in) != 0) {
		json_object_put(o);
		server_internal_error(resp);
		return;
	}
	http_response_json(resp, 200, o);
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

/* POST /auth/login */
static void
handle_login(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp)
{
	struct login_request login;
	struct user_credentials user;
	struct session_tokens tokens;
	struct session_rehash rehash;
	char why[128], new_hash[PASSWORD_HASH_MAX];
	int rc, needs_rehash;

	(void)arg;
	if (parse_login(body, &login, why, sizeof why) != 0) {
		http_response_error(resp, 400, "invalid_request", why);
		return;
	}
	/* Seam: the brute-force limiter (429) goes here, before the
	 * password is looked at. */
	rc = user_find_credentials(app->db, login.username, login.email, &user);
	if (rc != DB_OK) {
		server_database_error(resp, rc);
		return;
	}
	/* Unknown and disabled users are checked against the dummy hash:
	 * every failure costs one bcrypt at the configured cost. */
	rc = password_verify(app->pw, login.password, login.password_len,
	    user.found && !user.disabled ? user.password_hash : NULL);
	if (rc != PASSWORD_OK) {
		OPENSSL_cleanse(user.password_hash, sizeof user.password_hash);
		log_event(LOG_INFO, "login_failed", "ip=%s", req->client_ip);
		refuse_credentials(resp);
		return;
	}
	/* A weaker or foreign hash is replaced while we hold the password,
	 * in the same statement that opens the session. */
	rehash.old_hash = user.password_hash;
	rehash.new_hash = new_hash;
	needs_rehash = password_needs_rehash(user.password_hash,
	    app->cfg->bcrypt_cost) && password_hash(app->pw, login.password,
	    login.password_len, new_hash, sizeof new_hash) == 0;
	rc = session_open(app, user.id, req->user_agent, req->client_ip,
	    needs_rehash ? &rehash : NULL, &tokens);
	OPENSSL_cleanse(user.password_hash, sizeof user.password_hash);
	OPENSSL_cleanse(new_hash, sizeof new_hash);
	if (rc == SESSION_EGONE) {
		/* Disabled or deleted between the check and the insert. */
		refuse_credentials(resp);
		return;
	}
	if (rc == SESSION_EUNAVAILABLE) {
		server_database_error(resp, DB_EUNAVAILABLE);
		return;
	}
	if (rc != SESSION_OK) {
		server_internal_error(resp);
		return;
	}
	respond_tokens(app, &tokens, login.delivery, resp);
	session_tokens_free(&tokens);
}

static const struct route auth_routes[] = {
	{ HTTP_POST, "/auth/login", ROUTE_BODY_JSON, handle_login },
};

int
main(void)
{
	return server_main("auth", auth_routes,
	    sizeof auth_routes / sizeof auth_routes[0]);
}
