/* dpop.c: DPoP proofs (RFC 9449 section 4.3): the JWS through lib/jwk,
 * then the claims htm, htu, iat and jti, each bounded and type-checked. */
#include "dpop.h"

#include <stdint.h>
#include <string.h>

#include "jwk.h"

/* Room for a normalised htu: never longer than the text plus the "/" of
 * an empty path. */
#define HTU_BUF (DPOP_HTU_MAX + 2)

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* RFC 3986 section 2.3. */
static int
is_unreserved(int c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' ||
	    c == '_' || c == '~';
}

/* Writes the RFC 3986 section 6.2.2 / 6.2.3 normal form of the absolute
 * http(s) URI in the n bytes at s into out (capacity HTU_BUF, not
 * NUL-terminated): scheme and host in lower case, no port when it is the
 * scheme's default (nor an empty one), leading zeros of a port dropped,
 * an empty path as "/", percent-encodings with upper-case hex and those
 * of unreserved characters decoded, and the query and fragment cut off.
 * Returns the length, or -1 when s is not such a URI: another scheme, no
 * "//" authority, user information, an empty or percent-encoded host, a
 * port that is not a number up to 65535, a bad percent-encoding, or a
 * byte that is not printable ASCII. */
static long
htu_normalise(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0, hend, port_at;
	unsigned long port = 0;
	int https;

	if (n > DPOP_HTU_MAX)
		return -1;
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)s[k] <= 0x20 || (unsigned char)s[k] >= 0x7f)
			return -1;
	/* Scheme. */
	while (i < n && s[i] != ':')
		i++;
	if (i == 4 && lower(s[0]) == 'h' && lower(s[1]) == 't' &&
	    lower(s[2]) == 't' && lower(s[3]) == 'p')
		https = 0;
	else if (i == 5 && lower(s[0]) == 'h' && lower(s[1]) == 't' &&
	    lower(s[2]) == 't' && lower(s[3]) == 'p' && lower(s[4]) == 's')
		https = 1;
	else
		return -1;
	if (i + 3 > n || s[i + 1] != '/' || s[i + 2] != '/')
		return -1;
	memcpy(out, https ? "https://" : "http://", https ? 8 : 7);
	o = https ? 8 : 7;
	i += 3;
	/* Authority: host [":" port], up to the path, query or fragment. */
	for (hend = i; hend < n && s[hend] != '/' && s[hend] != '?' &&
	    s[hend] != '#'; hend++)
		if (s[hend] == '@' || s[hend] == '%')
			return -1;
	port_at = hend;
	if (i < hend && s[i] == '[') {
		size_t k = i;

		while (k < hend && s[k] != ']')
			k++;
		if (k == hend)
			return -1;
		port_at = k + 1;
		if (port_at < hend && s[port_at] != ':')
			return -1;
	} else {
		for (size_t k = i; k < hend; k++)
			if (s[k] == ':') {
				port_at = k;
				break;
			}
	}
	if (port_at == i)
		return -1;      /* no host */
	for (size_t k = i; k < port_at; k++)
		out[o++] = (char)lower(s[k]);
	if (port_at < hend) {
		size_t k = port_at + 1;

		if (k < hend) {
			for (; k < hend; k++) {
				if (!is_digit(s[k]))
					return -1;
				port = port * 10 + (unsigned long)(s[k] - '0');
				if (port > 65535)
					return -1;
			}
			if (port != (https ? 443UL : 80UL)) {
				char digits[6];
				int d = 0;

				out[o++] = ':';
				do {
					digits[d++] = (char)('0' + port % 10);
					port /= 10;
				} while (port > 0);
				while (d > 0)
					out[o++] = digits[--d];
			}
		}
	}
	/* Path, up to the query or fragment. */
	i = hend;
	if (i >= n || s[i] != '/')
		out[o++] = '/';
	for (; i < n && s[i] != '?' && s[i] != '#'; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		{
			int hi, lo, c;

			if (i + 2 >= n || (hi = hex_value(s[i + 1])) < 0 ||
			    (lo = hex_value(s[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			if (is_unreserved(c)) {
				out[o++] = (char)c;
			} else {
				out[o++] = '%';
				out[o++] = "0123456789ABCDEF"[hi];
				out[o++] = "0123456789ABCDEF"[lo];
			}
			i += 2;
		}
	}
	return (long)o;
}

int
dpop_htu_matches(const char *proof_htu, size_t n, const char *expected)
{
	char a[HTU_BUF], b[HTU_BUF];
	long la, lb;

	if (proof_htu == NULL || expected == NULL)
		return 0;
	la = htu_normalise(proof_htu, n, a);
	lb = htu_normalise(expected, strlen(expected), b);
	return la >= 0 && la == lb && memcmp(a, b, (size_t)la) == 0;
}

/* The string member name of obj: its bytes in *s and length in *n.
 * Returns 0, or -1 when it is missing or not a string. */
static int
claim_string(json_object *obj, const char *name, const char **s, size_t *n)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -1;
	*s = json_object_get_string(v);
	*n = (size_t)json_object_get_string_len(v);
	return 0;
}

/* Whether the claims of a verified JWS fit the request; fills the
 * claims' part of *out. */
static int
check_claims(json_object *c, const char *method, const char *htu,
    int64_t now, struct dpop_proof *out)
{
	json_object *v;
	const char *s;
	size_t n;
	uint64_t skew;

	if (claim_string(c, "htm", &s, &n) != 0 || method == NULL ||
	    n != strlen(method) || memcmp(s, method, n) != 0)
		return DPOP_EHTM;
	if (claim_string(c, "htu", &s, &n) != 0 || n > DPOP_HTU_MAX ||
	    memchr(s, '\0', n) != NULL || !dpop_htu_matches(s, n, htu))
		return DPOP_EHTU;
	if (!json_object_object_get_ex(c, "iat", &v) ||
	    !json_object_is_type(v, json_type_int))
		return DPOP_EIAT;
	out->iat = json_object_get_int64(v);
	/* The distance computed in unsigned arithmetic: exact, and no
	 * overflow whatever the two values. */
	skew = out->iat < now ? (uint64_t)now - (uint64_t)out->iat :
	    (uint64_t)out->iat - (uint64_t)now;
	if (skew > DPOP_IAT_WINDOW)
		return DPOP_EIAT;
	if (claim_string(c, "jti", &s, &n) != 0 || n == 0 ||
	    n > DPOP_JTI_MAX || memchr(s, '\0', n) != NULL)
		return DPOP_EJTI;
	memcpy(out->jti, s, n);
	out->jti[n] = '\0';
	return DPOP_OK;
}

int
dpop_verify(const char *proof, size_t len, const char *method,
    const char *htu, int64_t now, struct dpop_proof *out, int *detail)
{
	struct jws_verify_opts opts = {
		.typ = "dpop+jwt",
		.algs = DPOP_ALGS,
		.key = NULL,
	};
	struct jws_proof p;
	int rc;

	memset(out, 0, sizeof *out);
	if (detail != NULL)
		*detail = JWK_OK;
	if ((rc = jws_verify(proof, len, &opts, &p)) != JWK_OK) {
		if (detail != NULL)
			*detail = rc;
		return rc == JWK_ENOMEM ? DPOP_ENOMEM : DPOP_EPROOF;
	}
	rc = check_claims(p.payload, method, htu, now, out);
	if (rc == DPOP_OK) {
		out->alg = p.alg;
		memcpy(out->thumbprint, p.key.thumbprint,
		    sizeof out->thumbprint);
		memcpy(out->jkt, p.key.jkt, sizeof out->jkt);
		memcpy(out->canonical, p.key.canonical, sizeof out->canonical);
	} else {
		memset(out, 0, sizeof *out);
	}
	jws_proof_clear(&p);
	return rc;
}

const char *
dpop_strerror(int err, int detail)
{
	switch (err) {
	case DPOP_OK:
		return "valid";
	case DPOP_EPROOF:
		return jwk_strerror(detail);
	case DPOP_EHTM:
		return "the proof's htm is not this request's method";
	case DPOP_EHTU:
		return "the proof's htu is not this request's URI";
	case DPOP_EIAT:
		return "the proof's iat is missing or not within 60 seconds";
	case DPOP_EJTI:
		return "the proof's jti is missing, empty or too long";
	case DPOP_ENOMEM:
		return "out of memory";
	}
	return "invalid DPoP proof";
}
