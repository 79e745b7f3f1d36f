/* authn.h: Bearer access tokens at latch's own routes (API.md, "Bearer
 * failures"): the JWT is verified, then its session and user are checked
 * in one query, so logout, revocation and disabling take effect at once. */
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

#endif
