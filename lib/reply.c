/* reply.c: the JSON answers the /auth/ binaries share. */
#include "reply.h"

#include <inttypes.h>

#include "authn.h"
#include "device.h"
#include "errors.h"
#include "log.h"

/* The refresh cookie's attributes after its Path (API.md). */
#define REFRESH_COOKIE_PATH "Path=/auth"
#define REFRESH_COOKIE_SECURE "HttpOnly; Secure; SameSite=Strict"
#define REFRESH_COOKIE_PLAIN "HttpOnly; SameSite=Strict"   /* COOKIE_SECURE=0 */

const char *
reply_refresh_cookie_attributes(const struct latch_config *cfg)
{
	return cfg->cookie_secure ?
	    REFRESH_COOKIE_PATH "; " REFRESH_COOKIE_SECURE :
	    REFRESH_COOKIE_PATH "; " REFRESH_COOKIE_PLAIN;
}

int
reply_refresh_cookie(const struct latch_config *cfg,
    struct http_response *resp, const char *value, int64_t max_age)
{
	/* The attributes above, Max-Age after the Path. */
	return http_response_header(resp, "Set-Cookie",
	    "%s=%s; " REFRESH_COOKIE_PATH "; Max-Age=%" PRId64 "; %s",
	    authn_refresh_cookie_name(cfg), value, max_age,
	    cfg->cookie_secure ? REFRESH_COOKIE_SECURE : REFRESH_COOKIE_PLAIN);
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

int
reply_put(json_object *o, const char *key, json_object *v)
{
	if (v == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

void
reply_json(struct http_response *resp, int status, json_object *o,
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

void
reply_tokens(const struct app *app, const struct session_tokens *t,
    const char *device_token, enum reply_delivery delivery,
    struct http_response *resp)
{
	json_object *o = json_object_new_object();
	int failed = o == NULL ||
	    reply_put(o, "access_token", json_object_new_string(t->access_token)) ||
	    reply_put(o, "token_type", json_object_new_string(
	    t->dpop_bound ? "DPoP" : "Bearer")) ||
	    reply_put(o, "expires_in", json_object_new_int64(t->access_expires_in));

	/* Without a refresh token, an access token only: the cookie stays
	 * as it is. */
	if (!failed && t->refresh_token != NULL) {
		if (delivery == REPLY_DELIVERY_BODY)
			failed = reply_put(o, "refresh_token",
			    json_object_new_string(t->refresh_token)) ||
			    reply_put(o, "refresh_expires_in",
			    json_object_new_int64(t->refresh_expires_in)) ||
			    (device_token != NULL && reply_put(o,
			    "device_token", json_object_new_string(
			    device_token)));
		else
			failed = reply_refresh_cookie(app->cfg, resp,
			    t->refresh_token, t->refresh_expires_in) != 0 ||
			    (device_token != NULL && set_device_cookie(
			    app->cfg, resp, device_token) != 0);
	}
	reply_json(resp, 200, o, failed);
}
