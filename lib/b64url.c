/* b64url.c: strict base64url without padding (RFC 4648 section 5). */
#include "b64url.h"

#include <limits.h>
#include <stdint.h>

static const char enc_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a base64url character, or -1. Branches on the value: nothing
 * this module decodes is secret (tokens and signatures come from clients,
 * key-list secrets are used as written). */
static int
dec_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t
b64url_encoded_len(size_t n)
{
	size_t rem = n % 3;

	return (n / 3) * 4 + (rem ? rem + 1 : 0);
}

size_t
b64url_decoded_max(size_t n)
{
	size_t rem = n % 4;

	return (n / 4) * 3 + (rem > 1 ? rem - 1 : 0);
}

int
b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	size_t need, i, o = 0;
	uint32_t v;

	if (out == NULL || (in == NULL && n > 0))
		return -1;
	/* (n / 3) * 4 must neither overflow nor exceed what an int returns. */
	if (n > (size_t)INT_MAX / 4 * 3)
		return -1;
	need = b64url_encoded_len(n);
	if (need >= outsz)
		return -1;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = enc_alphabet[v >> 18 & 0x3f];
		out[o++] = enc_alphabet[v >> 12 & 0x3f];
		out[o++] = enc_alphabet[v >> 6 & 0x3f];
		out[o++] = enc_alphabet[v & 0x3f];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = enc_alphabet[v >> 18 & 0x3f];
		out[o++] = enc_alphabet[v >> 12 & 0x3f];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = enc_alphabet[v >> 18 & 0x3f];
		out[o++] = enc_alphabet[v >> 12 & 0x3f];
		out[o++] = enc_alphabet[v >> 6 & 0x3f];
	}
	out[o] = '\0';
	return (int)o;
}

int
b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz,
    size_t *outlen)
{
	size_t i, o = 0, rem = n % 4, full = n - rem;
	uint32_t v;
	int d[4], k;

	if (outlen == NULL || (in == NULL && n > 0) || rem == 1)
		return -1;
	if (b64url_decoded_max(n) > outsz || (out == NULL && n > 0))
		return -1;

	for (i = 0; i < full; i += 4) {
		for (k = 0; k < 4; k++)
			if ((d[k] = dec_value((unsigned char)in[i + k])) < 0)
				return -1;
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		    (uint32_t)d[2] << 6 | (uint32_t)d[3];
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	if (rem > 0) {
		for (k = 0; k < (int)rem; k++)
			if ((d[k] = dec_value((unsigned char)in[full + k])) < 0)
				return -1;
		if (rem == 2) {
			/* 12 bits carry 8: the low 4 must be zero. */
			if (d[1] & 0x0f)
				return -1;
			out[o++] = (unsigned char)(d[0] << 2 | d[1] >> 4);
		} else {
			/* 18 bits carry 16: the low 2 must be zero. */
			if (d[2] & 0x03)
				return -1;
			v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
			    (uint32_t)d[2] << 6;
			out[o++] = (unsigned char)(v >> 16);
			out[o++] = (unsigned char)(v >> 8);
		}
	}
	*outlen = o;
	return 0;
}
