/* fuzz_dbsc.c: libFuzzer harness for lib/dbsc, the parsers of what a
 * browser sends on the DBSC routes. The first byte of the input chooses a
 * mode (its value modulo 2); the rest is:
 *   0  a challenge, checked for two sessions at two times; and the same
 *      bytes appended to a genuine challenge, and put in place of each of
 *      its three parts;
 *   1  a Secure-Session-Response value, verified as a registration (key
 *      in the header) and as a refresh by a fixed stored key.
 * Properties: a challenge is accepted only for the session it was made
 * for and for the purpose it was made for, only before its expiry, and
 * only when it is byte for byte one
 * dbsc_challenge_make made (so nothing but the genuine one, of the ones
 * built here, passes); an accepted proof has a jti of 1 to
 * DBSC_CHALLENGE_MAX bytes, an algorithm offered to browsers, and for a
 * registration a key whose canonical text parses back to the same
 * thumbprint. */
#include "dbsc.h"
#include "fuzz_common.h"

#define NOW 1795000000
#define SID "0b7e0f52-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define SID2 "0b7e0f52-3c4d-4e5f-8a9b-0c1d2e3f4a5c"
/* A P-256 public key (RFC 7515 appendix A.3's). */
#define STORED "{\"crv\":\"P-256\",\"kty\":\"EC\"," \
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"," \
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"

static struct latch_config cfg;
static struct jwk stored;

static const char *
lookup(void *ctx, const char *key)
{
	(void)ctx;
	if (strcmp(key, "JWT_ACCESS_SECRET") == 0)
		return "a1:access-secret-access-secret-access-secret";
	if (strcmp(key, "JWT_REFRESH_SECRET") == 0)
		return "r2:refresh-secret-two-refresh-secret-two,"
		    "r1:refresh-secret-one-refresh-secret-one";
	return NULL;
}

static void
ready(void)
{
	char err[128];

	if (cfg.refresh_keys.count > 0)
		return;
	FUZZ_CHECK(config_load_from(&cfg, CONFIG_NEED_KEYS, lookup, NULL, err,
	    sizeof err) == 0);
	FUZZ_CHECK(jwk_parse_text(STORED, strlen(STORED), &stored) == JWK_OK);
}

static void
challenges(const char *s, size_t n)
{
	static char buf[4 * DBSC_CHALLENGE_MAX];
	char good[DBSC_CHALLENGE_MAX + 1];
	struct dbsc_challenge ch;
	const char *dot1, *dot2;
	size_t glen;

	/* Bytes of nobody: refused, whoever and whenever. */
	FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REFRESH, SID, s, n, NOW,
	    &ch) != 0);
	FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REGISTRATION, SID2, s, n,
	    0, &ch) != 0);
	FUZZ_CHECK(dbsc_challenge_make(&cfg, DBSC_FOR_REFRESH, SID, NOW,
	    good) == 0);
	glen = strlen(good);
	FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REFRESH, SID, good, glen,
	    NOW, &ch) == 0);
	FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REFRESH, SID2, good, glen,
	    NOW, &ch) != 0);
	FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REGISTRATION, SID, good,
	    glen, NOW, &ch) != 0);
	FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REFRESH, SID, good, glen,
	    ch.expires_at, &ch) != 0);
	/* The genuine one with the input after it, or instead of a part. */
	if (n == 0 || glen + n > sizeof buf)
		return;
	memcpy(buf, good, glen);
	memcpy(buf + glen, s, n);
	FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REFRESH, SID, buf,
	    glen + n, NOW, &ch) != 0);
	dot1 = strchr(good, '.');
	dot2 = strchr(dot1 + 1, '.');
	for (int part = 0; part < 3; part++) {
		const char *from = part == 0 ? good : part == 1 ? dot1 + 1 :
		    dot2 + 1;
		const char *to = part == 0 ? dot1 : part == 1 ? dot2 :
		    good + glen;
		size_t head = (size_t)(from - good), tail = glen - (size_t)(to -
		    good), len = head + n + tail;

		if ((size_t)(to - from) == n && memcmp(from, s, n) == 0)
			continue;       /* the same part: still genuine */
		memcpy(buf, good, head);
		memcpy(buf + head, s, n);
		memcpy(buf + head + n, to, tail);
		FUZZ_CHECK(dbsc_challenge_check(&cfg, DBSC_FOR_REFRESH, SID,
		    buf, len, NOW, &ch) != 0);
	}
}

static void
check_proof(const struct dbsc_proof *p, int registration)
{
	struct jwk back;

	FUZZ_CHECK(p->challenge_len >= 1 &&
	    p->challenge_len <= DBSC_CHALLENGE_MAX);
	FUZZ_CHECK((p->jws.alg & DBSC_ALGS) != 0);
	if (!registration)
		return;
	FUZZ_CHECK(jwk_parse_text(p->jws.key.canonical,
	    p->jws.key.canonical_len, &back) == JWK_OK);
	FUZZ_CHECK(memcmp(back.thumbprint, p->jws.key.thumbprint,
	    JWK_THUMBPRINT_LEN) == 0);
	jwk_clear(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbsc_proof p;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;

	ready();
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0) {
		challenges(s, n);
		return 0;
	}
	if (dbsc_verify_proof(s, n, NULL, &p) == JWK_OK) {
		check_proof(&p, 1);
		dbsc_proof_clear(&p);
	}
	if (dbsc_verify_proof(s, n, &stored, &p) == JWK_OK) {
		check_proof(&p, 0);
		dbsc_proof_clear(&p);
	}
	return 0;
}
