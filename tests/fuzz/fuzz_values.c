/* fuzz_values.c: libFuzzer harness for every value syntax of the
 * settings (API.md, "Configuration"), each against a reference or a
 * round trip. The first byte picks the setting (its value modulo the
 * number of settings, in config_keys' order); the rest of the input is
 * its value, handed to config_load_from alone (the other settings unset,
 * the key lists valid unless the value is one of them), and for
 * durations and key lists also to config_parse_duration and
 * keyset_parse directly.
 *
 * Properties:
 *   durations   accepted exactly when ^[0-9]+[smhd]?$ within ten years
 *               (computed here without overflow), and the seconds
 *               printed as "Ns" (and "Nd" when whole days) parse back
 *               to the same; 0 refused where a positive one is needed;
 *   key lists   1 to 16 keys of valid, unique kids and secrets of 32 to
 *               1024 bytes, each found by its kid, the first signing;
 *               a refusal names no secret (no '~'-holding piece);
 *   booleans    exactly 1 true yes on / 0 false no off, any case;
 *   origins     each normalises to itself, one per non-empty item;
 *   CIDR lists  each proxy's canonical text parses back to it, one per
 *               non-empty item;
 *   integers    BCRYPT_COST 4..31 and MAX_BODY_BYTES 1024..1048576 as
 *               decimal, the value read exactly;
 *   strings     DATABASE_URL, JWT_ISSUER, JWT_AUDIENCE kept as given. */
#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"
#include "fuzz_common.h"
#include "json.h"
#include "keys.h"
#include "net.h"

#define TEN_YEARS (3650LL * 86400)
#define OTHER_ACCESS "a1:access-secret-0123456789abcdef0123"
#define OTHER_REFRESH "r1:refresh-secret-0123456789abcdef012"

struct lookup {
	const char *key;
	const char *value;
};

static const char *
lookup(void *ctx, const char *key)
{
	const struct lookup *l = ctx;

	if (strcmp(key, l->key) == 0)
		return l->value;
	if (strcmp(key, "JWT_ACCESS_SECRET") == 0)
		return OTHER_ACCESS;
	if (strcmp(key, "JWT_REFRESH_SECRET") == 0)
		return OTHER_REFRESH;
	return NULL;
}

/* The duration rule, written again: digits, one optional unit, at most
 * ten years. Returns 0 and *out, or -1. */
static int
ref_duration(const char *s, int64_t *out)
{
	int64_t v = 0, unit = 1;
	size_t i = 0;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	for (; isdigit((unsigned char)s[i]); i++)
		if ((v = v * 10 + (s[i] - '0')) > TEN_YEARS)
			return -1;
	if (s[i] != '\0') {
		const char *units = "smhd";
		static const int64_t secs[] = { 1, 60, 3600, 86400 };
		const char *u = strchr(units, s[i]);

		if (u == NULL || s[i + 1] != '\0')
			return -1;
		unit = secs[u - units];
	}
	if (v > TEN_YEARS / unit)
		return -1;
	*out = v * unit;
	return 0;
}

static void
check_duration(const char *s)
{
	int64_t v, w, again;
	char text[32];
	int rc = config_parse_duration(s, &v);

	FUZZ_CHECK(rc == ref_duration(s, &w));
	if (rc != 0)
		return;
	FUZZ_CHECK(v == w && v >= 0 && v <= TEN_YEARS);
	snprintf(text, sizeof text, "%llds", (long long)v);
	FUZZ_CHECK(config_parse_duration(text, &again) == 0 && again == v);
	snprintf(text, sizeof text, "%lld", (long long)v);
	FUZZ_CHECK(config_parse_duration(text, &again) == 0 && again == v);
	if (v % 86400 == 0) {
		snprintf(text, sizeof text, "%lldd", (long long)(v / 86400));
		FUZZ_CHECK(config_parse_duration(text, &again) == 0 &&
		    again == v);
	}
}

/* Every piece of s between separators (',' ':' white space) that holds a
 * '~' and is at least 8 bytes: none may show in err. */
static void
check_no_secret(const char *err, const char *s)
{
	const char *p = s;

	FUZZ_CHECK(strchr(err, '\n') == NULL);
	while (*p != '\0') {
		size_t n = strcspn(p, ",: \t\r\n\v\f");

		if (n >= 8 && memchr(p, '~', n) != NULL)
			FUZZ_CHECK(!fuzz_contains(err, p, n));
		p += n;
		if (*p != '\0')
			p++;
	}
}

static void
check_keys(const char *s)
{
	struct keyset ks;
	char err[256];

	memset(err, 0, sizeof err);
	if (keyset_parse(s, &ks, err, sizeof err) != 0) {
		FUZZ_CHECK(ks.count == 0 && err[0] != '\0');
		check_no_secret(err, s);
		return;
	}
	FUZZ_CHECK(ks.count >= 1 && ks.count <= KEYSET_MAX);
	FUZZ_CHECK(keyset_signing_key(&ks) == &ks.keys[0]);
	for (size_t i = 0; i < ks.count; i++) {
		const struct key *k = &ks.keys[i];

		FUZZ_CHECK(key_kid_valid(k->kid, strlen(k->kid)));
		FUZZ_CHECK(k->secret_len >= KEY_SECRET_MIN &&
		    k->secret_len <= KEY_SECRET_MAX);
		FUZZ_CHECK(keyset_find(&ks, k->kid, strlen(k->kid)) == k);
		FUZZ_CHECK(fuzz_contains(s, (const char *)k->secret,
		    k->secret_len));
	}
	keyset_free(&ks);
	FUZZ_CHECK(ks.count == 0);
}

/* The items for_each_item would hand on: non-empty once trimmed of
 * spaces and tabs. */
static size_t
count_items(const char *s)
{
	size_t n = 0;

	while (1) {
		size_t len = strcspn(s, ",");
		size_t a = 0, b = len;

		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' ||
		    s[b - 1] == '\r'))
			b--;
		n += b > a;
		if (s[len] == '\0')
			return n;
		s += len + 1;
	}
}

static int
ref_bool(const char *s, int *out)
{
	static const char *const words[] = { "0", "false", "no", "off", "1",
	    "true", "yes", "on" };

	for (int i = 0; i < 8; i++)
		if (strcasecmp(s, words[i]) == 0) {
			*out = i >= 4;
			return 0;
		}
	return -1;
}

static int
ref_int(const char *s, long lo, long hi, long *out)
{
	long v = 0;

	if (s[0] == '\0')
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
		if (v > hi)
			return -1;
	}
	if (v < lo)
		return -1;
	*out = v;
	return 0;
}

static void
check_setting(const char *key, const char *v)
{
	struct lookup l = { key, v };
	struct latch_config cfg;
	char err[512];
	int rc, want, b;
	int64_t d;
	long n;

	memset(err, 0, sizeof err);
	rc = config_load_from(&cfg, CONFIG_NEED_KEYS, lookup, &l, err,
	    sizeof err);
	if (rc != 0) {
		FUZZ_CHECK(err[0] != '\0');
		/* A refusal names the setting first. */
		FUZZ_CHECK(strncmp(err, key, strlen(key)) == 0 ||
		    strstr(err, "share a secret") != NULL);
		check_no_secret(err, v);
	}
	if (strstr(key, "EXPIRES") || strcmp(key, "SESSION_MAX_AGE") == 0 ||
	    strcmp(key, "REFRESH_REUSE_GRACE") == 0) {
		int zero_ok = strcmp(key, "REFRESH_REUSE_GRACE") == 0;
		int64_t got = key[4] == 'A' ? cfg.access_ttl :
		    key[4] == 'R' ? cfg.refresh_ttl :
		    key[0] == 'S' ? cfg.session_max_age : cfg.reuse_grace;

		if (v[0] == '\0')
			want = 0;
		else
			want = ref_duration(v, &d) == 0 && (d > 0 || zero_ok)
			    ? 0 : -1;
		FUZZ_CHECK(rc == want);
		if (rc == 0 && v[0] != '\0')
			FUZZ_CHECK(got == d);
	} else if (strcmp(key, "COOKIE_SECURE") == 0 ||
	    strcmp(key, "ALLOW_SIGNUP") == 0) {
		int got = key[0] == 'C' ? cfg.cookie_secure : cfg.allow_signup;

		want = v[0] == '\0' ? 0 : ref_bool(v, &b);
		FUZZ_CHECK(rc == want);
		if (rc == 0)
			FUZZ_CHECK(got == (v[0] == '\0' ? key[0] == 'C' : b));
	} else if (strcmp(key, "BCRYPT_COST") == 0 ||
	    strcmp(key, "MAX_BODY_BYTES") == 0) {
		int cost = key[0] == 'B';

		want = v[0] == '\0' ? 0 : ref_int(v, cost ? 4 : 1024,
		    cost ? 31 : 1048576, &n);
		FUZZ_CHECK(rc == want);
		if (rc == 0 && v[0] != '\0')
			FUZZ_CHECK(cost ? cfg.bcrypt_cost == n :
			    (long)cfg.max_body == n);
	} else if (strcmp(key, "REUSE_REVOKES") == 0) {
		want = v[0] == '\0' || strcmp(v, "session") == 0 ||
		    strcmp(v, "user") == 0 ? 0 : -1;
		FUZZ_CHECK(rc == want);
	} else if (strcmp(key, "ALLOWED_ORIGINS") == 0 && rc == 0) {
		FUZZ_CHECK(cfg.n_origins == count_items(v));
		for (size_t i = 0; i < cfg.n_origins; i++) {
			char again[NET_ORIGIN_MAX + 1];

			FUZZ_CHECK(net_normalize_origin(cfg.origins[i], again,
			    sizeof again) == 0 &&
			    strcmp(again, cfg.origins[i]) == 0);
		}
	} else if (strcmp(key, "TRUSTED_PROXIES") == 0 && rc == 0) {
		FUZZ_CHECK(cfg.n_proxies == count_items(v));
		for (size_t i = 0; i < cfg.n_proxies; i++) {
			const struct net_cidr *p = &cfg.proxies[i];
			char ip[NET_IP_MAX], text[NET_IP_MAX + 8];
			struct net_cidr back;

			FUZZ_CHECK(inet_ntop(p->family, p->addr, ip,
			    sizeof ip) != NULL);
			snprintf(text, sizeof text, "%s/%d", ip, p->prefix);
			FUZZ_CHECK(net_parse_cidr(text, &back) == 0 &&
			    back.prefix == p->prefix &&
			    memcmp(back.addr, p->addr, sizeof back.addr) == 0);
		}
	} else if (strcmp(key, "DATABASE_URL") == 0 ||
	    strcmp(key, "JWT_ISSUER") == 0 || strcmp(key, "JWT_AUDIENCE") == 0) {
		const char *got = key[0] == 'D' ? cfg.database_url :
		    key[4] == 'I' ? cfg.issuer : cfg.audience;

		/* Any text, but the two that go into tokens' claims only
		 * as UTF-8. */
		if (key[0] != 'D' && !json_utf8_valid(v, strlen(v))) {
			FUZZ_CHECK(rc != 0);
		} else {
			FUZZ_CHECK(rc == 0);
			FUZZ_CHECK(v[0] == '\0' ? got == NULL :
			    strcmp(got, v) == 0);
		}
	}
	if (rc == 0)
		config_free(&cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nkeys = 0;
	const char *key;
	char *v;

	if (size == 0 || size > 8192)
		return 0;
	while (config_keys[nkeys] != NULL)
		nkeys++;
	key = config_keys[data[0] % nkeys];
	if ((v = fuzz_strndup(data + 1, size - 1)) == NULL)
		return 0;
	if (strstr(key, "EXPIRES") || strcmp(key, "SESSION_MAX_AGE") == 0 ||
	    strcmp(key, "REFRESH_REUSE_GRACE") == 0)
		check_duration(v);
	if (strstr(key, "SECRET") != NULL)
		check_keys(v);
	check_setting(key, v);
	free(v);
	return 0;
}
