/* fuzz_net.c: libFuzzer harness for lib/net, the names latch compares:
 * Origin normalisation (the Origin and Host headers, ALLOWED_ORIGINS),
 * CIDR parsing (TRUSTED_PROXIES), the canonical text of an address
 * (REMOTE_ADDR, X-Forwarded-For) and the proxy matcher.
 *
 * Each line of the input is tried as all of these. Properties:
 *   - a normalised origin is an http(s) origin with no upper-case letter
 *     that normalises to itself, and fits exactly in strlen + 1 bytes;
 *   - a parsed CIDR's canonical text ("ADDR/PREFIX") parses to the same
 *     network, and the network contains its own address;
 *   - canonical address text is canonical (it maps to itself) and is what
 *     a CIDR of the same text without a prefix holds;
 *   - net_in_networks agrees with a bit-by-bit reference over the
 *     networks parsed from all lines but the last, for every line. */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "net.h"

#define MAX_LINES 33

static void
check_origin(const char *s)
{
	char out[NET_ORIGIN_MAX + 1], again[NET_ORIGIN_MAX + 1];
	size_t len;

	if (net_normalize_origin(s, out, sizeof out) != 0)
		return;
	len = strlen(out);
	FUZZ_CHECK(strncmp(out, "http://", 7) == 0 ||
	    strncmp(out, "https://", 8) == 0);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK(out[i] < 'A' || out[i] > 'Z');
	FUZZ_CHECK(net_normalize_origin(out, again, sizeof again) == 0);
	FUZZ_CHECK(strcmp(out, again) == 0);
	/* The size rule: exactly what fits, never a truncated origin. */
	FUZZ_CHECK(net_normalize_origin(s, again, len + 1) == 0);
	FUZZ_CHECK(strcmp(out, again) == 0);
	FUZZ_CHECK(net_normalize_origin(s, again, len) != 0);
}

/* Bit-by-bit: the first prefix bits of addr equal those of the net. */
static int
ref_in_net(const struct net_cidr *net, int family, const unsigned char *addr)
{
	if (net->family != family)
		return 0;
	for (int bit = 0; bit < net->prefix; bit++) {
		int mask = 0x80 >> (bit % 8);

		if ((net->addr[bit / 8] & mask) != (addr[bit / 8] & mask))
			return 0;
	}
	return 1;
}

static void
check_cidr(const char *s, struct net_cidr *net, int *ok)
{
	char text[NET_IP_MAX + 8], canon[NET_IP_MAX], again[NET_IP_MAX];
	struct net_cidr back;
	int maxp;

	*ok = net_parse_cidr(s, net) == 0;
	if (!*ok)
		return;
	FUZZ_CHECK(net->family == AF_INET || net->family == AF_INET6);
	maxp = net->family == AF_INET ? 32 : 128;
	FUZZ_CHECK(net->prefix >= 0 && net->prefix <= maxp);
	FUZZ_CHECK(inet_ntop(net->family, net->addr, canon, sizeof canon) !=
	    NULL);
	snprintf(text, sizeof text, "%s/%d", canon, net->prefix);
	FUZZ_CHECK(net_parse_cidr(text, &back) == 0);
	FUZZ_CHECK(back.family == net->family && back.prefix == net->prefix);
	FUZZ_CHECK(memcmp(back.addr, net->addr, sizeof net->addr) == 0);
	/* Its own address lies in it. */
	FUZZ_CHECK(net_in_networks(net, 1, canon) == 1);
	/* Canonical text is a fixed point. */
	FUZZ_CHECK(net_canonical_ip(canon, strlen(canon), again) == 0);
	FUZZ_CHECK(strcmp(canon, again) == 0);
	if (strchr(s, '/') == NULL) {
		FUZZ_CHECK(net->prefix == maxp);
		FUZZ_CHECK(net_canonical_ip(s, strlen(s), again) == 0);
		FUZZ_CHECK(strcmp(canon, again) == 0);
	}
}

static void
check_match(const struct net_cidr *nets, size_t n, const char *ip)
{
	unsigned char addr[16];
	int family = 0, want = 0;
	char canon[NET_IP_MAX];

	memset(addr, 0, sizeof addr);
	if (strlen(ip) < 64 && inet_pton(AF_INET, ip, addr) == 1)
		family = AF_INET;
	else if (strlen(ip) < 64 && inet_pton(AF_INET6, ip, addr) == 1)
		family = AF_INET6;
	for (size_t i = 0; family != 0 && i < n && !want; i++)
		want = ref_in_net(&nets[i], family, addr);
	FUZZ_CHECK(net_in_networks(nets, n, ip) == want);
	/* An address and its canonical text are the same address. */
	if (family != 0) {
		FUZZ_CHECK(net_canonical_ip(ip, strlen(ip), canon) == 0);
		FUZZ_CHECK(net_in_networks(nets, n, canon) == want);
	} else {
		FUZZ_CHECK(net_canonical_ip(ip, strlen(ip), canon) != 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *line[MAX_LINES];
	struct net_cidr nets[MAX_LINES];
	size_t n, nn = 0;
	int ok;

	if (size > 8192 || (text = fuzz_strndup(data, size)) == NULL)
		return 0;
	n = fuzz_lines(text, line, MAX_LINES);
	for (size_t i = 0; i < n; i++) {
		check_origin(line[i]);
		check_cidr(line[i], &nets[nn], &ok);
		if (ok && i + 1 < n)
			nn++;
	}
	FUZZ_CHECK(net_in_networks(nets, nn, NULL) == 0);
	for (size_t i = 0; i < n; i++)
		check_match(nets, nn, line[i]);
	/* The len bytes need no NUL: each line in a buffer of exactly its
	 * length (ASan sees a read past it), whole and cut short. */
	for (size_t i = 0; i < n; i++) {
		char canon[NET_IP_MAX], *exact;
		size_t len = strlen(line[i]);

		for (size_t cut = len > 2 ? len - 2 : 0; cut <= len; cut++) {
			if ((exact = malloc(cut + 1)) == NULL)
				break;
			memcpy(exact, line[i], cut);
			(void)net_canonical_ip(exact, cut, canon);
			free(exact);
		}
	}
	free(text);
	return 0;
}
