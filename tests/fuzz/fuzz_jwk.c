/* fuzz_jwk.c: libFuzzer harness for lib/jwk and lib/dpop. The first byte
 * of the input chooses a mode (its value modulo 3); the rest is:
 *   0  a compact JWS, a JWK text and a DPoP header value all at once:
 *      jws_verify with no stored key and every algorithm (typ dpop+jwt,
 *      and typ unchecked), jwk_parse_text, dpop_verify;
 *   1  a header and claims, as JSON text or anything else, separated by
 *      the first '\n': the header gets this harness's own key as "jwk"
 *      after its '{' and the whole is signed with it (Ed25519 or ES256,
 *      by the next byte's low bit), so that verification gets past the
 *      signature to the header's alg, typ, crit and key checks and to
 *      the claims;
 *   2  two URIs separated by the first '\n', given to dpop_htu_matches.
 * Properties: nothing crashes or leaks; a key that is accepted yields a
 * canonical text of at most JWK_TEXT_MAX bytes that jwk_parse_text
 * accepts, with the same thumbprint and the same canonical text again;
 * a verified proof has a payload object, an offered alg that is its
 * key's; a DPoP proof that passes has a jti of 1..DPOP_JTI_MAX bytes
 * and an iat within the window; dpop_htu_matches is symmetric. */
#include "dpop.h"
#include "fuzz_common.h"
#include "jwk.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "b64url.h"

#define NOW 1795000000
#define HTU "https://id.example.com/auth/refresh"
#define ALL_ALGS (JWS_ES256 | JWS_RS256 | JWS_EDDSA)

/* A key's canonical text reads back to itself. */
static void
check_key(const struct jwk *k)
{
	struct jwk back;

	FUZZ_CHECK(k->canonical_len > 0 && k->canonical_len <= JWK_TEXT_MAX);
	FUZZ_CHECK(strlen(k->canonical) == k->canonical_len);
	FUZZ_CHECK(strlen(k->jkt) == JWK_JKT_LEN);
	FUZZ_CHECK(jws_alg_name(k->alg) != NULL);
	FUZZ_CHECK(jwk_parse_text(k->canonical, k->canonical_len, &back) ==
	    JWK_OK);
	FUZZ_CHECK(memcmp(back.thumbprint, k->thumbprint,
	    JWK_THUMBPRINT_LEN) == 0);
	FUZZ_CHECK(strcmp(back.canonical, k->canonical) == 0);
	FUZZ_CHECK(strcmp(back.jkt, k->jkt) == 0);
	FUZZ_CHECK(back.alg == k->alg);
	jwk_clear(&back);
}

static void
check_jws(const char *s, size_t n, const char *typ)
{
	struct jws_verify_opts o = { .typ = typ, .algs = ALL_ALGS };
	struct jws_proof p;
	int rc = jws_verify(s, n, &o, &p);

	if (rc == JWK_OK) {
		FUZZ_CHECK(p.payload != NULL &&
		    json_object_is_type(p.payload, json_type_object));
		FUZZ_CHECK(p.alg == p.key.alg && (o.algs & (unsigned)p.alg));
		FUZZ_CHECK(p.key.pkey != NULL);
		check_key(&p.key);
		/* The same proof against its own key as a stored one. */
		{
			struct jws_verify_opts so = o;
			struct jws_proof q;

			so.key = &p.key;
			FUZZ_CHECK(jws_verify(s, n, &so, &q) == JWK_OK);
			FUZZ_CHECK(q.key.pkey == NULL &&
			    strcmp(q.key.jkt, p.key.jkt) == 0);
			jws_proof_clear(&q);
		}
		jws_proof_clear(&p);
	} else {
		FUZZ_CHECK(rc < 0 && rc >= JWK_ENOMEM);
		FUZZ_CHECK(p.payload == NULL && p.key.pkey == NULL);
		FUZZ_CHECK(jwk_strerror(rc) != NULL);
	}
}

static void
check_dpop(const char *s, size_t n)
{
	struct dpop_proof d;
	struct jwk back;
	int detail, rc = dpop_verify(s, n, "POST", HTU, NOW, &d, &detail);

	FUZZ_CHECK(dpop_strerror(rc, detail) != NULL);
	if (rc != DPOP_OK) {
		FUZZ_CHECK(rc < 0 && rc >= DPOP_ENOMEM);
		FUZZ_CHECK(rc == DPOP_EPROOF || rc == DPOP_ENOMEM ||
		    detail == JWK_OK);
		FUZZ_CHECK(d.jti[0] == '\0' && d.canonical[0] == '\0');
		return;
	}
	FUZZ_CHECK(d.jti[0] != '\0' && strlen(d.jti) <= DPOP_JTI_MAX);
	FUZZ_CHECK(d.iat >= NOW - DPOP_IAT_WINDOW &&
	    d.iat <= NOW + DPOP_IAT_WINDOW);
	FUZZ_CHECK(jwk_parse_text(d.canonical, strlen(d.canonical), &back) ==
	    JWK_OK);
	FUZZ_CHECK(memcmp(back.thumbprint, d.thumbprint,
	    JWK_THUMBPRINT_LEN) == 0);
	FUZZ_CHECK(strcmp(back.jkt, d.jkt) == 0 && back.alg == d.alg);
	jwk_clear(&back);
}

static void
raw(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct jwk k;

	check_jws(s, size, "dpop+jwt");
	check_jws(s, size, NULL);
	if (jwk_parse_text(s, size, &k) == JWK_OK) {
		FUZZ_CHECK(size <= JWK_TEXT_MAX && k.pkey != NULL);
		check_key(&k);
		jwk_clear(&k);
	} else {
		FUZZ_CHECK(k.pkey == NULL);
	}
	check_dpop(s, size);
}

/* This harness's keys: Ed25519 from a fixed seed and one P-256 key, with
 * their JWK texts. */
static EVP_PKEY *ed, *ec;
static char ed_jwk[128], ec_jwk[192];

static void
b64(const unsigned char *b, size_t n, char *out, size_t outsz)
{
	FUZZ_CHECK(b64url_encode(b, n, out, outsz) >= 0);
}

static void
keys_ready(void)
{
	static const unsigned char seed[32] = { 7, 1, 4 };
	unsigned char pub[65], x[44], y[44];
	size_t n = 32;

	if (ed != NULL)
		return;
	ed = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed,
	    sizeof seed);
	FUZZ_CHECK(ed != NULL);
	FUZZ_CHECK(EVP_PKEY_get_raw_public_key(ed, pub, &n) == 1 && n == 32);
	b64(pub, 32, (char *)x, sizeof x);
	snprintf(ed_jwk, sizeof ed_jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":\"%s\"}", (char *)x);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FUZZ_CHECK(ec != NULL);
	FUZZ_CHECK(EVP_PKEY_get_octet_string_param(ec,
	    OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &n) == 1 && n == 65);
	b64(pub + 1, 32, (char *)x, sizeof x);
	b64(pub + 33, 32, (char *)y, sizeof y);
	snprintf(ec_jwk, sizeof ec_jwk, "{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"%s\",\"y\":\"%s\"}", (char *)x, (char *)y);
}

/* The JWS signature of n bytes at in under k: Ed25519, or ES256 as
 * r||s. Returns its length. */
static size_t
sign(EVP_PKEY *k, int es256, const char *in, size_t n, unsigned char *sig)
{
	unsigned char der[128];
	size_t len = sizeof der;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	FUZZ_CHECK(ctx != NULL);
	FUZZ_CHECK(EVP_DigestSignInit_ex(ctx, NULL, es256 ? "SHA256" : NULL,
	    NULL, NULL, k, NULL) == 1);
	FUZZ_CHECK(EVP_DigestSign(ctx, der, &len, (const unsigned char *)in,
	    n) == 1);
	EVP_MD_CTX_free(ctx);
	if (es256) {
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
		const BIGNUM *r, *s;

		FUZZ_CHECK(es != NULL);
		ECDSA_SIG_get0(es, &r, &s);
		FUZZ_CHECK(BN_bn2binpad(r, sig, 32) == 32 &&
		    BN_bn2binpad(s, sig + 32, 32) == 32);
		ECDSA_SIG_free(es);
		return 64;
	}
	memcpy(sig, der, len);
	return len;
}

static void
forge(const uint8_t *data, size_t size)
{
	static char header[JWS_MAX_LEN], tok[JWS_MAX_LEN * 2];
	const uint8_t *nl, *h, *cl;
	unsigned char sig[128];
	size_t hlen, clen, n, at;
	const char *jwk;
	int es256, a, b;

	if (size < 1)
		return;
	es256 = data[0] & 1;
	data++;
	size--;
	nl = memchr(data, '\n', size);
	h = data;
	hlen = nl != NULL ? (size_t)(nl - data) : size;
	cl = data + hlen + (nl != NULL);
	clen = nl != NULL ? size - hlen - 1 : 0;
	jwk = es256 ? ec_jwk : ed_jwk;
	/* The header with "jwk":<our key>, inserted after its '{'. */
	n = 0;
	if (hlen > 0 && h[0] == '{') {
		size_t jl = strlen(jwk);

		if (hlen + jl + 8 > sizeof header)
			return;
		header[n++] = '{';
		memcpy(header + n, "\"jwk\":", 6);
		n += 6;
		memcpy(header + n, jwk, jl);
		n += jl;
		if (hlen > 1 && h[1] != '}')
			header[n++] = ',';
		memcpy(header + n, h + 1, hlen - 1);
		n += hlen - 1;
	} else {
		if (hlen > sizeof header)
			return;
		memcpy(header, h, hlen);
		n = hlen;
	}
	if ((a = b64url_encode((const unsigned char *)header, n, tok,
	    sizeof tok)) < 0)
		return;
	tok[a] = '.';
	if ((b = b64url_encode(cl, clen, tok + a + 1,
	    sizeof tok - (size_t)a - 1)) < 0)
		return;
	at = (size_t)a + 1 + (size_t)b;
	n = sign(es256 ? ec : ed, es256, tok, at, sig);
	if (at + 1 + b64url_encoded_len(n) + 1 > sizeof tok)
		return;
	tok[at] = '.';
	FUZZ_CHECK(b64url_encode(sig, n, tok + at + 1, sizeof tok - at - 1) >=
	    0);
	at += 1 + b64url_encoded_len(n);
	check_jws(tok, at, "dpop+jwt");
	check_jws(tok, at, NULL);
	check_dpop(tok, at);
}

static void
htu(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size), *line[2] = { NULL, NULL };
	size_t n;

	if (text == NULL)
		return;
	n = fuzz_lines(text, line, 2);
	if (n == 2) {
		int ab = dpop_htu_matches(line[0], strlen(line[0]), line[1]);
		int ba = dpop_htu_matches(line[1], strlen(line[1]), line[0]);

		FUZZ_CHECK(ab == ba);
		if (ab)
			FUZZ_CHECK(dpop_htu_matches(line[0], strlen(line[0]),
			    line[0]) == 1);
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
		raw(data + 1, size - 1);
		break;
	case 1:
		forge(data + 1, size - 1);
		break;
	default:
		htu(data + 1, size - 1);
		break;
	}
	return 0;
}
