/* fuzz_jwt.c: libFuzzer harness for lib/jwt and lib/b64url. The first
 * byte of the input chooses a mode (its value modulo 3); the rest is:
 *   0  a token, verified as both kinds, with and without issuer and
 *      audience, and the bytes given to b64url both ways;
 *   1  a header and claims, as JSON text or anything else, separated by
 *      the first '\n': encoded and signed here with a listed key, so that
 *      verification gets past the signature to the JSON and the claims
 *      (and the header again with a space after its '{', which must be
 *      answered alike: the shortcut for jwt_sign's own header agrees
 *      with the JSON path);
 *   2  sub, sid, jti, iss and aud lines and two time bytes, signed by
 *      jwt_sign and verified back.
 * Properties: b64url decode(encode(x)) == x, and a string that decodes
 * is the encoding of what it decodes to (one accepted encoding per byte
 * string); a verified token's claims obey API.md's rules (a listed kid,
 * exp after now, nbf and iat not too far ahead, sub non-empty, the
 * configured iss and aud); a token jwt_sign makes verifies with exactly
 * the claims it was made from, and one byte of it changed never does. */
#include "b64url.h"
#include "fuzz_common.h"
#include "jwt.h"

#define NOW 1795000000

static struct keyset keys;

static void
keys_ready(void)
{
	char err[128];

	if (keys.count > 0)
		return;
	FUZZ_CHECK(keyset_parse("k1:0123456789abcdef0123456789abcdef,"
	    "k2:fedcba9876543210fedcba9876543210", &keys, err,
	    sizeof err) == 0);
}

static void
check_b64(const uint8_t *data, size_t size)
{
	static unsigned char dec[16384];
	static char enc[16384 / 3 * 4 + 8];
	size_t n;
	int len;

	len = b64url_encode(data, size, enc, sizeof enc);
	if (len >= 0) {
		FUZZ_CHECK((size_t)len == b64url_encoded_len(size));
		FUZZ_CHECK(b64url_decoded_max((size_t)len) >= size);
		FUZZ_CHECK(b64url_decode(enc, (size_t)len, dec, sizeof dec,
		    &n) == 0);
		FUZZ_CHECK(n == size && memcmp(dec, data, size) == 0);
		/* Too small by one byte: refused, not truncated. */
		FUZZ_CHECK(b64url_encode(data, size, enc, (size_t)len) == -1);
	}
	if (b64url_decode((const char *)data, size, dec, sizeof dec, &n) == 0) {
		FUZZ_CHECK(n <= b64url_decoded_max(size));
		len = b64url_encode(dec, n, enc, sizeof enc);
		FUZZ_CHECK(len >= 0 && (size_t)len == size &&
		    memcmp(enc, data, size) == 0);
	}
}

static void
check_claims(const struct jwt_verify_opts *o, const struct jwt_claims *c)
{
	FUZZ_CHECK(keyset_find(o->keys, c->kid, strlen(c->kid)) != NULL);
	FUZZ_CHECK(o->allow_expired || c->exp > o->now);
	FUZZ_CHECK(c->iat <= o->now + JWT_FUTURE_SKEW);
	FUZZ_CHECK(c->sub[0] != '\0' && strlen(c->sub) <= JWT_CLAIM_MAX);
	FUZZ_CHECK(strlen(c->sid) <= JWT_CLAIM_MAX &&
	    strlen(c->jti) <= JWT_CLAIM_MAX);
	if (o->require_sid)
		FUZZ_CHECK(c->sid[0] != '\0');
}

static int
same_claims(const struct jwt_claims *a, const struct jwt_claims *b)
{
	return strcmp(a->kid, b->kid) == 0 && strcmp(a->sub, b->sub) == 0 &&
	    strcmp(a->sid, b->sid) == 0 && strcmp(a->jti, b->jti) == 0 &&
	    a->iat == b->iat && a->exp == b->exp;
}

/* Verifies token under every combination of kind, issuer, audience and
 * sid requirement; returns how many accepted it, and each answer in rcs
 * (NULL: not wanted). Each is also verified with allow_expired (logout's
 * rule): it must accept what the strict rule accepts, with the same
 * claims, and differ only on a token whose exp has passed. */
static int
verify_all(const char *token, size_t len, int rcs[8])
{
	struct jwt_verify_opts o;
	struct jwt_claims c, relaxed;
	int ok = 0, rc;

	for (int v = 0; v < 8; v++) {
		memset(&o, 0, sizeof o);
		o.keys = &keys;
		o.now = NOW;
		o.kind = (v & 1) ? JWT_REFRESH : JWT_ACCESS;
		o.issuer = (v & 2) ? "https://id.example" : NULL;
		o.audience = (v & 4) ? "api" : NULL;
		o.require_sid = v == 7;
		if ((rc = jwt_verify(token, len, &o, &c)) == JWT_OK) {
			check_claims(&o, &c);
			ok++;
		}
		if (rcs != NULL)
			rcs[v] = rc;
		o.allow_expired = 1;
		if (jwt_verify(token, len, &o, &relaxed) == JWT_OK) {
			check_claims(&o, &relaxed);
			FUZZ_CHECK(rc == JWT_OK ? same_claims(&c, &relaxed) :
			    rc == JWT_EEXPIRED && relaxed.exp <= o.now);
		} else {
			FUZZ_CHECK(rc != JWT_OK);
		}
	}
	return ok;
}

/* b64url(header) "." b64url(claims) "." HMAC under k, verified; the
 * answers in rcs. Returns 0, or -1 when it does not fit. */
static int
forge_one(const uint8_t *h, size_t hlen, const uint8_t *cl, size_t clen,
    const struct key *k, int rcs[8])
{
	static char tok[JWT_MAX_LEN * 2];
	char sig[44];
	int a, b;

	if ((a = b64url_encode(h, hlen, tok, sizeof tok)) < 0)
		return -1;
	tok[a] = '.';
	if ((b = b64url_encode(cl, clen, tok + a + 1,
	    sizeof tok - (size_t)a - 1)) < 0)
		return -1;
	FUZZ_CHECK(jwt_hs256_b64(k->secret, k->secret_len, tok,
	    (size_t)a + 1 + (size_t)b, sig) == 0);
	if ((size_t)a + (size_t)b + 2 + 43 >= sizeof tok)
		return -1;
	tok[a + 1 + b] = '.';
	memcpy(tok + a + 2 + b, sig, 43);
	(void)verify_all(tok, (size_t)a + 2 + (size_t)b + 43, rcs);
	return 0;
}

/* Mode 1: a header and claims signed under k1 or k2. A header that opens
 * with '{' is also tried with a space after it: the same JSON, which
 * jwt_verify must then read through its JSON path, never the shortcut it
 * takes for the header exactly as jwt_sign writes it (issued_header), and
 * both must answer alike. */
static void
forge(const uint8_t *data, size_t size, int key)
{
	static uint8_t spaced[JWT_MAX_LEN * 2];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl != NULL ? (size_t)(nl - data) : size;
	size_t clen = nl != NULL ? size - hlen - 1 : 0;
	const uint8_t *cl = data + hlen + (nl != NULL);
	const struct key *k = &keys.keys[key];
	int rcs[8], again[8];

	if (forge_one(data, hlen, cl, clen, k, rcs) != 0 || hlen == 0 ||
	    data[0] != '{' || hlen + 1 > sizeof spaced)
		return;
	spaced[0] = '{';
	spaced[1] = ' ';
	memcpy(spaced + 2, data + 1, hlen - 1);
	if (forge_one(spaced, hlen + 1, cl, clen, k, again) != 0)
		return;
	for (int v = 0; v < 8; v++)
		FUZZ_CHECK(rcs[v] == again[v] || (rcs[v] == JWT_ETOOLONG) !=
		    (again[v] == JWT_ETOOLONG));
}

/* 1 when s (NULL is fine) is all ASCII: then it is UTF-8 for sure. */
static int
ascii(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* Mode 2: jwt_sign and back. */
static void
sign_back(const uint8_t *data, size_t size)
{
	char *text, *line[5] = { NULL };
	struct jwt_sign_input in;
	struct jwt_verify_opts o;
	struct jwt_claims c;
	char *tok = NULL;
	size_t n;
	int rc;

	if (size < 3)
		return;
	if ((text = fuzz_strndup(data + 3, size - 3)) == NULL)
		return;
	n = fuzz_lines(text, line, 5);
	memset(&in, 0, sizeof in);
	in.kind = (data[0] & 1) ? JWT_REFRESH : JWT_ACCESS;
	in.key = &keys.keys[(data[0] >> 1) & 1];
	in.sub = line[0];
	in.sid = n > 1 && line[1][0] != '\0' ? line[1] : NULL;
	in.jti = n > 2 && line[2][0] != '\0' ? line[2] : NULL;
	in.issuer = n > 3 ? line[3] : NULL;
	in.audience = n > 4 ? line[4] : NULL;
	in.iat = NOW - data[1];
	in.exp = NOW + 1 + data[2];
	rc = jwt_sign(&in, &tok);
	if (rc == JWT_OK) {
		size_t len = strlen(tok);

		memset(&o, 0, sizeof o);
		o.keys = &keys;
		o.now = NOW;
		o.kind = in.kind;
		o.issuer = in.issuer;
		o.audience = in.audience;
		o.require_sid = in.sid != NULL;
		FUZZ_CHECK(jwt_verify(tok, len, &o, &c) == JWT_OK);
		FUZZ_CHECK(strcmp(c.sub, in.sub) == 0);
		FUZZ_CHECK(strcmp(c.sid, in.sid ? in.sid : "") == 0);
		FUZZ_CHECK(strcmp(c.jti, in.jti ? in.jti : "") == 0);
		FUZZ_CHECK(strcmp(c.kid, in.key->kid) == 0);
		FUZZ_CHECK(c.iat == in.iat && c.exp == in.exp);
		/* The other kind is refused. */
		o.kind = in.kind == JWT_ACCESS ? JWT_REFRESH : JWT_ACCESS;
		FUZZ_CHECK(jwt_verify(tok, len, &o, &c) == JWT_ETYP);
		o.kind = in.kind;
		/* Any one byte changed (chosen by the input) is refused. */
		{
			size_t at = ((size_t)data[1] << 8 | data[2]) % len;
			char was = tok[at];

			tok[at] = (char)(was ^ (data[0] | 1));
			FUZZ_CHECK(jwt_verify(tok, len, &o, &c) != JWT_OK);
			tok[at] = was;
		}
		free(tok);
	} else {
		FUZZ_CHECK(tok == NULL);
		/* Refused only for what jwt_verify would refuse. */
		FUZZ_CHECK(rc == JWT_ECLAIMS || rc == JWT_ETOOLONG);
		FUZZ_CHECK(rc != JWT_ECLAIMS || in.sub[0] == '\0' ||
		    strlen(in.sub) > JWT_CLAIM_MAX ||
		    (in.sid && strlen(in.sid) > JWT_CLAIM_MAX) ||
		    (in.jti && strlen(in.jti) > JWT_CLAIM_MAX) ||
		    !ascii(in.sub) || !ascii(in.sid) || !ascii(in.jti) ||
		    !ascii(in.issuer) || !ascii(in.audience));
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 12000)
		return 0;
	keys_ready();
	switch (data[0] % 3) {
	case 0:
		check_b64(data + 1, size - 1);
		(void)verify_all((const char *)data + 1, size - 1, NULL);
		break;
	case 1:
		forge(data + 1, size - 1, (data[0] >> 2) & 1);
		break;
	default:
		sign_back(data + 1, size - 1);
		break;
	}
	return 0;
}
