/* b64url.h: strict base64url (RFC 4648 section 5) without padding, as JWS
 * (RFC 7515 section 2) uses it. */
#ifndef LATCH_B64URL_H
#define LATCH_B64URL_H

#include <stddef.h>

/* Number of characters (without the terminating NUL) that encoding n bytes
 * produces. */
size_t b64url_encoded_len(size_t n);

/* Largest number of bytes that decoding n characters can produce. */
size_t b64url_decoded_max(size_t n);

/* Encodes n bytes of in into out, NUL-terminated, no padding.
 * outsz is the capacity of out including the NUL.
 * Returns the number of characters written (without the NUL), or -1 when
 * out is too small (out is then untouched). */
int b64url_encode(const unsigned char *in, size_t n, char *out, size_t outsz);

/* Decodes n characters of in into out (capacity outsz bytes).
 * Strict: only A-Z a-z 0-9 '-' '_', no padding, no white space, a length
 * that is not 1 modulo 4, and unused trailing bits zero, so that every byte
 * string has exactly one accepted encoding.
 * Returns 0 and sets *outlen on success; -1 on malformed input or when out
 * is too small. out and *outlen are only valid on success. */
int b64url_decode(const char *in, size_t n, unsigned char *out, size_t outsz,
    size_t *outlen);

#endif
