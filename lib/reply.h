/* reply.h: the JSON answers the /auth/ binaries share: building a body
 * member by member with one check for memory, and the 200 that hands out
 * a token pair (the refresh token in the body or in its cookie). Login
 * (fcgi/login.c) and refresh (fcgi/auth.c) both answer with it. */
#ifndef LATCH_REPLY_H
#define LATCH_REPLY_H

#include <json-c/json.h>

#include <stdint.h>

#include "app.h"
#include "http.h"
#include "session.h"

enum reply_delivery {
	REPLY_DELIVERY_COOKIE,          /* browsers: HttpOnly cookie */
	REPLY_DELIVERY_BODY,            /* native apps: in the JSON */
};

/* Adds key: v to o, v being a new value (NULL: its allocation failed).
 * Returns 0, or -1 with v freed. */
int reply_put(json_object *o, const char *key, json_object *v);

/* Answers status with o, or 500 when o is NULL or building it failed
 * (failed is not 0): o is consumed either way. */
void reply_json(struct http_response *resp, int status, json_object *o,
    int failed);

/* Sets the refresh cookie; an empty value with max_age 0 clears it, with
 * the same name and attributes, so that it hits the same cookie. Returns
 * 0, or -1 (out of memory). */
int reply_refresh_cookie(const struct latch_config *cfg,
    struct http_response *resp, const char *value, int64_t max_age);

/* The refresh cookie's attributes as its Set-Cookie carries them, but for
 * Max-Age ("Path=/auth; HttpOnly; Secure; SameSite=Strict"): what a DBSC
 * registration names as the bound credential, which must match exactly.
 * A static string. */
const char *reply_refresh_cookie_attributes(const struct latch_config *cfg);

/* 200 with a token pair, the refresh token (and after a login the device
 * token, when there is one: device_token, else NULL) delivered as asked;
 * token_type "DPoP" when the session is bound to a DPoP key (t->dpop_bound),
 * else "Bearer". Without a refresh token (t->refresh_token NULL: see
 * REFRESH_DUPLICATE) the answer carries the access token only and sets no
 * cookie. */
void reply_tokens(const struct app *app, const struct session_tokens *t,
    const char *device_token, enum reply_delivery delivery,
    struct http_response *resp);

#endif
