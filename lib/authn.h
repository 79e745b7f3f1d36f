/* authn.h: which credential a request presents, and whether it may be
 * used here. Bearer access tokens at latch's own routes (API.md, "Bearer
 * failures"): the JWT is verified, then its session and user are checked
 * in one query, so logout, revocation and disabling take effect at once.
 * Refresh tokens from the body or the cookie, with the cross-site check
 * the cookie needs (API.md, "Refresh cookie"), and the device token of a
 * login (API.md, "Device tokens"). Handlers get the credential or the
 * answer that refuses the request; none of them reads a cookie or an
 * Origin itself. */
#ifndef LATCH_AUTHN_H
#define LATCH_AUTHN_H

#include <stdint.h>

#include "app.h"
#include "crypto.h"
#include "http.h"
#include "user.h"

struct authn_principal {
	int64_t user_id;
	char sid[CRYPTO_UUID_LEN + 1];
	char username[USER_NAME_MAX + 1];
	char email[USER_NAME_MAX + 1];
	int has_email;
	int64_t created_at;             /* the user's, seconds since epoch */
};

/* Authenticates req's Bearer token. Returns 0 and fills *out when the
 * token is valid and its session live and its user enabled. Otherwise
 * returns -1 with resp set to the answer: 401 invalid_request (no
 * Authorization header, another scheme, an empty token), 401 invalid_token
 * (a token that is malformed or refused, with the error in
 * WWW-Authenticate), or 503 when the database is unreachable. */
int authn_bearer(struct app *app, const struct http_request *req,
    struct http_response *resp, struct authn_principal *out);

/* Sets resp to a 401 with WWW-Authenticate for the given RFC 6750 error
 * code (NULL when no credential was presented) and description. */
void authn_challenge(struct http_response *resp, const char *error,
    const char *description);

/* The server's own origin as req reached it (RFC 6454 serialisation of
 * the scheme, https when req->https, and the Host header): the default
 * of ALLOWED_ORIGINS, the origin of a DBSC scope and of a DPoP htu.
 * Returns 0 with the NUL-terminated origin in out (outsz bytes, at least
 * NET_ORIGIN_MAX + 1), or -1 when there is no Host or it is no host. */
int authn_own_origin(const struct http_request *req, char *out, size_t outsz);

/* The names of the refresh and device cookies: the __Secure- prefix needs
 * Secure, so with COOKIE_SECURE=0 they are refresh_token and
 * latch_device. The server reads only the names it sets; the device
 * cookie is only ever sent back to the login route (Path=/auth/login). */
const char *authn_refresh_cookie_name(const struct latch_config *cfg);
const char *authn_device_cookie_name(const struct latch_config *cfg);

/* The refresh token a request presents. */
struct authn_refresh {
	const char *token;              /* NULL: none presented */
	size_t len;
	int from_cookie;                /* 0: from the body */
};

/* Finds the refresh token of a refresh or logout request: the body's
 * "refresh_token" member (body may be NULL) wins over the refresh cookie.
 * A cookie may only be used when the request passes the cross-site check:
 * no Sec-Fetch-Site: cross-site, and an Origin (when sent) equal, once
 * normalised, to one of ALLOWED_ORIGINS, or by default to the server's own
 * origin (the scheme it was reached by and the Host header). An empty
 * token is none. Returns 0 with *out filled (out->token pointing into body
 * or req, NULL when none was presented; a request without one is not
 * refused here), or -1 with resp set: 400 invalid_request (a body member
 * other than refresh_token, or one of the wrong type or over max_body;
 * several cookies of the name) or 403 invalid_origin. */
int authn_refresh_token(const struct latch_config *cfg,
    const struct http_request *req, json_object *body,
    struct authn_refresh *out, struct http_response *resp);

/* Finds the device token of a login: from_body (body_len bytes, the body's
 * "device_token" member; NULL when absent) wins over the device cookie; an
 * empty one is none. Returns 0 with *token and *len set (*token NULL when
 * there is none, else pointing into from_body or req), or -1 with resp set
 * to 400 invalid_request when several device cookies were sent. Whether
 * the token is valid is lib/device's to say. */
int authn_device_token(const struct latch_config *cfg,
    const struct http_request *req, const char *from_body, size_t body_len,
    const char **token, size_t *len, struct http_response *resp);

#endif
