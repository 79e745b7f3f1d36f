/* fuzz_jwt.c: libFuzzer harness for lib/jwt and lib/b64url: any bytes
 * as a token are verified (and refused) without a crash, a leak or UB. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "b64url.h"
#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct keyset keys;
	static int ready;
	struct jwt_verify_opts opts;
	struct jwt_claims claims;
	unsigned char out[8192];
	size_t outlen;
	char err[128];

	if (!ready) {
		if (keyset_parse("k1:0123456789abcdef0123456789abcdef,"
		    "k2:fedcba9876543210fedcba9876543210", &keys, err,
		    sizeof err) != 0)
			return 0;
		ready = 1;
	}
	(void)b64url_decode((const char *)data, size, out, sizeof out, &outlen);
	memset(&opts, 0, sizeof opts);
	opts.keys = &keys;
	opts.now = 1795000000;
	opts.issuer = "https://id.example";
	opts.audience = "api";
	for (int kind = JWT_ACCESS; kind <= JWT_REFRESH; kind++) {
		opts.kind = (enum jwt_kind)kind;
		(void)jwt_verify((const char *)data, size, &opts, &claims);
	}
	return 0;
}
