/* net.h: the syntax of the network names latch compares: web origins
 * (RFC 6454) and IP addresses and networks. Written once, for both the
 * settings that list them (lib/config validates ALLOWED_ORIGINS and
 * TRUSTED_PROXIES with these) and the untrusted request headers that
 * carry them (lib/http: REMOTE_ADDR, X-Forwarded-For; lib/authn: Origin,
 * Host). Pure functions: no allocation, no global state. */
#ifndef LATCH_NET_H
#define LATCH_NET_H

#include <stddef.h>

#define NET_ORIGIN_MAX 255              /* bytes in a normalised origin */
#define NET_IP_MAX 46                   /* INET6_ADDRSTRLEN */

/* An IPv4 or IPv6 network; an address is a network of its full length. */
struct net_cidr {
	int family;                     /* AF_INET or AF_INET6 */
	unsigned char addr[16];         /* network byte order */
	int prefix;                     /* bits: 0..32 or 0..128 */
};

/* Normalises an origin as RFC 6454 serialises it: lower-case scheme
 * (http or https) and host (a name of letters, digits, '-' and '.', or a
 * bracketed IPv6 literal), the default port (80 for http, 443 for https)
 * dropped, any other port 1..65535 kept in decimal. Nothing may follow:
 * a path (even "/"), query, fragment or user info makes s no origin.
 * Returns 0 and writes the NUL-terminated result into out (outsz bytes),
 * or -1 when s is no http(s) origin or the result does not fit; out is
 * only valid on success. */
int net_normalize_origin(const char *s, char *out, size_t outsz);

/* Parses "ADDRESS" or "ADDRESS/PREFIX" (IPv4 dotted quad or IPv6 text as
 * inet_pton(3) takes it; PREFIX decimal, at most 32 for IPv4 and 128 for
 * IPv6; no white space). Without a prefix the network is the one address.
 * Returns 0 and fills *net, or -1; *net is only valid on success. */
int net_parse_cidr(const char *s, struct net_cidr *net);

/* Writes the canonical text of the IPv4 or IPv6 address in the len bytes
 * at s (not NUL-terminated; no prefix) into out, as inet_ntop(3) does.
 * Returns 0, or -1 when those bytes are no address (out then undefined). */
int net_canonical_ip(const char *s, size_t len, char out[NET_IP_MAX]);

/* 1 when the textual address ip (no prefix; NULL is fine) lies in one of
 * the n networks, else 0. An address never matches a network of the
 * other family (an IPv4-mapped IPv6 address is IPv6 here). */
int net_in_networks(const struct net_cidr *nets, size_t n, const char *ip);

#endif
