/* test_net.c: lib/net, the syntax of origins and IP networks that both
 * the settings and the request headers use. Each table row is one input
 * and what the code before lib/net answered for it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "net.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A parser's answer rc for in, with its text out: refused (-1) when want
 * is NULL, else 0 with out equal to want. */
static void
expect_text(const char *in, int rc, const char *out, const char *want)
{
	if (want == NULL) {
		if (rc != -1)
			fail_msg("accepted \"%s\"", in);
		return;
	}
	if (rc != 0)
		fail_msg("refused \"%s\"", in);
	assert_string_equal(out, want);
}

static void
test_origins(void **state)
{
	static const struct {
		const char *in;
		const char *want;       /* NULL: refused */
	} cases[] = {
		/* case, default ports */
		{ "HTTPS://Example.COM:443", "https://example.com" },
		{ "http://example.com:80", "http://example.com" },
		{ "http://example.com:443", "http://example.com:443" },
		{ "https://example.com:80", "https://example.com:80" },
		{ "HtTp://LocalHost:8080", "http://localhost:8080" },
		{ "http://localhost:08080", "http://localhost:8080" },
		{ "http://a:65535", "http://a:65535" },
		{ "http://a-b.c-d.example", "http://a-b.c-d.example" },
		/* IPv6 literals */
		{ "http://[::1]:8080", "http://[::1]:8080" },
		{ "http://[::1]", "http://[::1]" },
		{ "https://[2001:DB8::1]:443", "https://[2001:db8::1]" },
		{ "http://127.0.0.1:80", "http://127.0.0.1" },
		/* no path, not even a trailing slash; no user info, query */
		{ "http://example.com/", NULL },
		{ "http://example.com/path", NULL },
		{ "http://example.com:8080/", NULL },
		{ "http://u@a", NULL },
		{ "http://a?x=1", NULL },
		{ "http://a#f", NULL },
		/* ports out of range or not decimal */
		{ "http://a:0", NULL },
		{ "http://a:65536", NULL },
		{ "http://a:99999", NULL },
		{ "http://a:", NULL },
		{ "http://a:8x", NULL },
		{ "http://a:+80", NULL },
		{ "http://a:-1", NULL },
		{ "http://a: 80", NULL },
		/* garbage */
		{ "null", NULL },
		{ "", NULL },
		{ "http://", NULL },
		{ "https://", NULL },
		{ "http:/a", NULL },
		{ "ftp://a", NULL },
		{ "//a", NULL },
		{ " http://a", NULL },
		{ "http://a ", NULL },
		{ "http://[::1", NULL },
		{ "http://a_b", NULL },
		{ "http://a\xc3\xa9", NULL },
	};
	char out[NET_ORIGIN_MAX + 1];

	(void)state;
	for (size_t i = 0; i < N(cases); i++)
		expect_text(cases[i].in, net_normalize_origin(cases[i].in, out,
		    sizeof out), out, cases[i].want);
}

static void
test_origin_lengths(void **state)
{
	char in[NET_ORIGIN_MAX + 32], out[NET_ORIGIN_MAX + 1], small[10];

	(void)state;
	/* The longest host that still fits once "http://" is added. */
	memcpy(in, "http://", 7);
	memset(in + 7, 'a', NET_ORIGIN_MAX - 7);
	in[NET_ORIGIN_MAX] = '\0';
	assert_int_equal(net_normalize_origin(in, out, sizeof out), 0);
	assert_int_equal(strlen(out), NET_ORIGIN_MAX);
	/* One more byte is refused, as is a host over the limit. */
	memset(in + 7, 'a', NET_ORIGIN_MAX - 6);
	in[NET_ORIGIN_MAX + 1] = '\0';
	assert_int_equal(net_normalize_origin(in, out, sizeof out), -1);
	memset(in + 7, 'a', NET_ORIGIN_MAX + 1);
	in[NET_ORIGIN_MAX + 8] = '\0';
	assert_int_equal(net_normalize_origin(in, out, sizeof out), -1);
	/* A result that does not fit the caller's buffer. */
	assert_int_equal(net_normalize_origin("http://example.com", small,
	    sizeof small), -1);
}

static void
test_networks(void **state)
{
	static const struct {
		const char *in;
		int family;             /* 0: refused */
		int prefix;
	} cases[] = {
		{ "10.0.0.0/8", AF_INET, 8 },
		{ "10.1.2.3", AF_INET, 32 },
		{ "10.1.2.3/32", AF_INET, 32 },
		{ "0.0.0.0/0", AF_INET, 0 },
		{ "10.0.0.0/08", AF_INET, 8 },
		{ "::1", AF_INET6, 128 },
		{ "::/0", AF_INET6, 0 },
		{ "2001:db8::/32", AF_INET6, 32 },
		{ "2001:DB8::1/128", AF_INET6, 128 },
		{ "::ffff:10.0.0.1", AF_INET6, 128 },
		{ "10.0.0.0/33", 0, 0 },
		{ "::/129", 0, 0 },
		{ "10.0.0.0/", 0, 0 },
		{ "10.0.0.0/x", 0, 0 },
		{ "10.0.0.0/-1", 0, 0 },
		{ "10.0.0.0/+8", 0, 0 },
		{ "10.0.0.0/8/8", 0, 0 },
		{ "10.0.0.0 /8", 0, 0 },
		{ " 10.0.0.1", 0, 0 },
		{ "10.0.0.256", 0, 0 },
		{ "10.0.0", 0, 0 },
		{ "/8", 0, 0 },
		{ "", 0, 0 },
		{ "garbage", 0, 0 },
		{ "localhost", 0, 0 },
		{ "[::1]", 0, 0 },
		{ "::1%eth0", 0, 0 },
	};
	struct net_cidr net;

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		int rc = net_parse_cidr(cases[i].in, &net);

		if (cases[i].family == 0) {
			if (rc != -1)
				fail_msg("accepted \"%s\"", cases[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("refused \"%s\"", cases[i].in);
		assert_int_equal(net.family, cases[i].family);
		assert_int_equal(net.prefix, cases[i].prefix);
	}
}

static void
test_membership(void **state)
{
	static const struct {
		const char *net;
		const char *ip;
		int in;
	} cases[] = {
		{ "10.0.0.0/8", "10.1.2.3", 1 },
		{ "10.0.0.0/8", "11.0.0.1", 0 },
		{ "10.128.0.0/9", "10.200.0.1", 1 },    /* a partial byte */
		{ "10.128.0.0/9", "10.1.0.1", 0 },
		{ "10.1.2.3/32", "10.1.2.3", 1 },
		{ "10.1.2.3/32", "10.1.2.4", 0 },
		{ "10.1.2.3", "10.1.2.3", 1 },
		{ "0.0.0.0/0", "203.0.113.9", 1 },
		{ "0.0.0.0/0", "::1", 0 },              /* the other family */
		{ "::/0", "2001:db8::1", 1 },
		{ "::/0", "1.2.3.4", 0 },
		{ "::1", "::1", 1 },
		{ "::1", "0:0:0:0:0:0:0:1", 1 },
		{ "::1/128", "::2", 0 },
		{ "2001:db8::/32", "2001:DB8:ffff::1", 1 },
		{ "2001:db8::/32", "2001:db9::1", 0 },
		{ "2001:db8::1/128", "2001:db8::1", 1 },
		{ "2001:db8::1/128", "2001:db8::2", 0 },
		{ "10.0.0.0/8", "::ffff:10.0.0.1", 0 }, /* mapped is IPv6 */
		{ "10.0.0.0/8", "10.0.0.1/32", 0 },     /* an address only */
		{ "10.0.0.0/8", "garbage", 0 },
		{ "10.0.0.0/8", "", 0 },
		{ "10.0.0.0/8", " 10.0.0.1", 0 },
	};
	struct net_cidr net;

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		assert_int_equal(net_parse_cidr(cases[i].net, &net), 0);
		if (net_in_networks(&net, 1, cases[i].ip) != cases[i].in)
			fail_msg("%s in %s: expected %d", cases[i].ip,
			    cases[i].net, cases[i].in);
	}
	assert_int_equal(net_in_networks(&net, 1, NULL), 0);
	assert_int_equal(net_in_networks(NULL, 0, "10.0.0.1"), 0);
}

static void
test_canonical_addresses(void **state)
{
	static const struct {
		const char *in;
		size_t len;             /* 0: strlen */
		const char *want;       /* NULL: refused */
	} cases[] = {
		{ "10.0.0.1", 0, "10.0.0.1" },
		{ "2001:DB8:0:0:0:0:0:1", 0, "2001:db8::1" },
		{ "0:0:0:0:0:0:0:1", 0, "::1" },
		{ "10.0.0.1, 10.0.0.2", 8, "10.0.0.1" },
		{ "::ffff:10.0.0.1", 0, "::ffff:10.0.0.1" },
		{ "", 0, NULL },
		{ "10.0.0.1/32", 0, NULL },
		{ "10.0.0.1 ", 0, NULL },
		{ "unknown", 0, NULL },
	};
	char out[NET_IP_MAX];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);

		expect_text(cases[i].in, net_canonical_ip(cases[i].in, len, out),
		    out, cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origins),
		cmocka_unit_test(test_origin_lengths),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_canonical_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
