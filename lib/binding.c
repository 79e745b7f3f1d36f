/* binding.c: DPoP headers into verified proofs. */
#include "binding.h"

#include <stdio.h>
#include <string.h>

#include "authn.h"
#include "crypto.h"
#include "log.h"

void
binding_refuse_dpop(struct http_response *resp, const char *why)
{
	http_response_error(resp, 401, "invalid_dpop_proof", why);
	/* One header, two challenges (RFC 9110 section 11.6.1). The
	 * description is one of lib/dpop's fixed texts: no quote in it. */
	http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"latch\", "
	    "DPoP algs=\"ES256 RS256 EdDSA\", error=\"invalid_dpop_proof\", "
	    "error_description=\"%s\"", why);
}

int
binding_dpop(const struct app *app, const struct http_request *req,
    struct refresh_proof *proof, struct dpop_proof *dp, int *present,
    struct http_response *resp)
{
	char htu[NET_ORIGIN_MAX + HTTP_PATH_MAX + 2];
	char origin[NET_ORIGIN_MAX + 1];
	char id[sizeof "dpop" + JWK_THUMBPRINT_LEN + DPOP_JTI_MAX];
	unsigned char digest[CRYPTO_SHA256_LEN];
	size_t jti_len;
	int rc, detail = 0;

	memset(proof, 0, sizeof *proof);
	memset(dp, 0, sizeof *dp);
	*present = 0;
	if (req->dpop == NULL)
		return 0;
	if (authn_own_origin(req, origin, sizeof origin) != 0) {
		binding_refuse_dpop(resp, "The request's Host names no origin "
		    "a DPoP proof could be for");
		return -1;
	}
	snprintf(htu, sizeof htu, "%s%s", origin, req->path);
	rc = dpop_verify(req->dpop, strlen(req->dpop), "POST", htu, app->now,
	    dp, &detail);
	if (rc != DPOP_OK) {
		log_event(LOG_INFO, "dpop_refused", "ip=%s why=%d.%d",
		    req->client_ip, rc, detail);
		binding_refuse_dpop(resp, dpop_strerror(rc, detail));
		return -1;
	}
	/* Single use per key: a label, the thumbprint, the jti. */
	jti_len = strlen(dp->jti);
	memcpy(id, "dpop", sizeof "dpop");
	memcpy(id + sizeof "dpop", dp->thumbprint, JWK_THUMBPRINT_LEN);
	memcpy(id + sizeof "dpop" + JWK_THUMBPRINT_LEN, dp->jti, jti_len);
	if (crypto_sha256(id, sizeof "dpop" + JWK_THUMBPRINT_LEN + jti_len,
	    digest) != 0) {
		binding_refuse_dpop(resp, "The DPoP proof could not be checked");
		return -1;
	}
	proof->kind = "dpop";
	crypto_hex(dp->thumbprint, JWK_THUMBPRINT_LEN, proof->jkt_hex);
	crypto_hex(digest, sizeof digest, proof->hash_hex);
	/* After that its iat is out of the window: refused for its age. */
	proof->until = dp->iat + DPOP_IAT_WINDOW + 1;
	*present = 1;
	return 0;
}
