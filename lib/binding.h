/* binding.h: the edge of sender-constrained sessions (API.md
 * "Sender-constrained sessions"): a request's DPoP header into a verified
 * struct refresh_proof, and the one answer that refuses a proof. The
 * login and refresh routes share it; DBSC's routes use lib/dbsc. */
#ifndef LATCH_BINDING_H
#define LATCH_BINDING_H

#include "app.h"
#include "dpop.h"
#include "http.h"
#include "session.h"

/* The DPoP proof of req, a POST to this server at req->path: verified by
 * lib/dpop against the URI the request reached (authn_own_origin and the
 * path) at app->now. Returns 0 with *present 0 when there is no DPoP
 * header, or 1 with *proof (kind "dpop", its key's thumbprint, its
 * single-use id: the jti with the thumbprint, hashed, until the proof's
 * age would refuse it anyway) and *dp (the key to bind at a login)
 * filled; or -1 with resp set to 401 invalid_dpop_proof. */
int binding_dpop(const struct app *app, const struct http_request *req,
    struct refresh_proof *proof, struct dpop_proof *dp, int *present,
    struct http_response *resp);

/* 401 invalid_dpop_proof (RFC 9449 section 7.1's code) with why as the
 * description, and a WWW-Authenticate that names both schemes latch
 * speaks: Bearer (API.md: every 401) and DPoP with the algorithms it
 * takes. */
void binding_refuse_dpop(struct http_response *resp, const char *why);

#endif
