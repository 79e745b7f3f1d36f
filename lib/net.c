/* net.c: origins and IP networks, parsed strictly. */
#include "net.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NET_TEXT_MAX 64                 /* bytes of "address/prefix" */

/* A decimal number of at most max, digits only (leading zeros allowed).
 * Returns 0 and sets *out, or -1. */
static int
parse_decimal(const char *s, long max, long *out)
{
	long v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* The address in the len bytes at s as a full-length network. */
static int
parse_addr(const char *s, size_t len, struct net_cidr *net)
{
	char buf[NET_TEXT_MAX];

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(net, 0, sizeof *net);
	if (inet_pton(AF_INET, buf, net->addr) == 1) {
		net->family = AF_INET;
		net->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
		net->family = AF_INET6;
		net->prefix = 128;
	} else {
		return -1;
	}
	return 0;
}

int
net_parse_cidr(const char *s, struct net_cidr *net)
{
	const char *slash = strchr(s, '/');
	long prefix;

	if (strlen(s) >= NET_TEXT_MAX)
		return -1;
	if (parse_addr(s, slash != NULL ? (size_t)(slash - s) : strlen(s),
	    net) != 0)
		return -1;
	if (slash == NULL)
		return 0;
	if (parse_decimal(slash + 1, net->prefix, &prefix) != 0)
		return -1;
	net->prefix = (int)prefix;
	return 0;
}

int
net_canonical_ip(const char *s, size_t len, char out[NET_IP_MAX])
{
	struct net_cidr a;

	if (parse_addr(s, len, &a) != 0)
		return -1;
	return inet_ntop(a.family, a.addr, out, NET_IP_MAX) != NULL ? 0 : -1;
}

int
net_in_networks(const struct net_cidr *nets, size_t n, const char *ip)
{
	struct net_cidr a;

	if (ip == NULL || parse_addr(ip, strlen(ip), &a) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct net_cidr *net = &nets[i];
		int full = net->prefix / 8, rest = net->prefix % 8;

		if (net->family != a.family ||
		    memcmp(net->addr, a.addr, (size_t)full) != 0)
			continue;
		if (rest != 0) {
			unsigned char mask = (unsigned char)(0xff << (8 - rest));

			if ((net->addr[full] & mask) != (a.addr[full] & mask))
				continue;
		}
		return 1;
	}
	return 0;
}

int
net_normalize_origin(const char *s, char *out, size_t outsz)
{
	const char *host, *p;
	char scheme[6], hostbuf[NET_ORIGIN_MAX + 1];
	size_t hostlen;
	long port = -1;
	int n;

	if (strncasecmp(s, "http://", 7) == 0) {
		memcpy(scheme, "http", 5);
		host = s + 7;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		memcpy(scheme, "https", 6);
		host = s + 8;
	} else {
		return -1;
	}
	/* Host: a bracketed IPv6 literal or a run of name characters. */
	p = host;
	if (*p == '[') {
		p = strchr(p, ']');
		if (p == NULL)
			return -1;
		p++;
	} else {
		while (isalnum((unsigned char)*p) || *p == '-' || *p == '.')
			p++;
	}
	hostlen = (size_t)(p - host);
	if (hostlen == 0 || hostlen >= sizeof hostbuf)
		return -1;
	for (size_t i = 0; i < hostlen; i++)
		hostbuf[i] = (char)tolower((unsigned char)host[i]);
	hostbuf[hostlen] = '\0';
	if (*p == ':') {
		if (parse_decimal(p + 1, 65535, &port) != 0 || port == 0)
			return -1;
	} else if (*p != '\0') {
		return -1;      /* a path, query or user info: not an origin */
	}
	if ((port == 80 && scheme[4] == '\0') || (port == 443 && scheme[4] == 's'))
		port = -1;
	if (port < 0)
		n = snprintf(out, outsz, "%s://%s", scheme, hostbuf);
	else
		n = snprintf(out, outsz, "%s://%s:%ld", scheme, hostbuf, port);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}
