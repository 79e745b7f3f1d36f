/* fuzz_config.c: libFuzzer harness for lib/config's file: config_load
 * reading the LATCH_CONFIG file (KEY=VALUE lines, '#' comments, trimming,
 * unknown and misspelt keys, the last of a key winning) and validating
 * every value in it.
 *
 * Input: the first byte's bit 0 asks for the JWT key lists
 * (CONFIG_NEED_KEYS), its bit 1 sets BCRYPT_COST=5 in the environment
 * (which must win over the file); the rest is the file, written to a memfd that
 * LATCH_CONFIG names (/proc/self/fd/N), so nothing touches the disk. The
 * environment holds none of the settings (the environment would win).
 *
 * Properties: a loaded configuration holds only valid values (durations
 * within ten years, positive where they must be, ranges of BCRYPT_COST
 * and MAX_BODY_BYTES, origins that normalise to themselves, proxies whose
 * canonical text parses back, key lists of valid unique kids when asked
 * for), and the environment's value where it set one; a refusal is one line that never shows a value: no value written
 * with a '~' in it (no message, key or path has one) appears in it. */
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"
#include "json.h"
#include "net.h"

#define TEN_YEARS (3650LL * 86400)

static int memfd = -1;

static void
setup(void)
{
	char name[64];

	if (memfd >= 0)
		return;
	for (size_t i = 0; config_keys[i] != NULL; i++)
		unsetenv(config_keys[i]);
	unsetenv("DOCUMENT_ROOT");
	memfd = memfd_create("latch-fuzz-config", MFD_CLOEXEC);
	FUZZ_CHECK(memfd >= 0);
	snprintf(name, sizeof name, "/proc/self/fd/%d", memfd);
	FUZZ_CHECK(setenv("LATCH_CONFIG", name, 1) == 0);
}

static void
check_loaded(const struct latch_config *cfg, unsigned flags)
{
	FUZZ_CHECK(cfg->access_ttl > 0 && cfg->access_ttl <= TEN_YEARS);
	FUZZ_CHECK(cfg->refresh_ttl > 0 && cfg->refresh_ttl <= TEN_YEARS);
	FUZZ_CHECK(cfg->session_max_age > 0 &&
	    cfg->session_max_age <= TEN_YEARS);
	FUZZ_CHECK(cfg->reuse_grace >= 0 && cfg->reuse_grace <= TEN_YEARS);
	FUZZ_CHECK(cfg->reuse_revokes == REUSE_REVOKES_SESSION ||
	    cfg->reuse_revokes == REUSE_REVOKES_USER);
	FUZZ_CHECK(cfg->bcrypt_cost >= 4 && cfg->bcrypt_cost <= 31);
	FUZZ_CHECK(cfg->max_body >= 1024 && cfg->max_body <= 1048576);
	FUZZ_CHECK(cfg->cookie_secure == 0 || cfg->cookie_secure == 1);
	FUZZ_CHECK(cfg->allow_signup == 0 || cfg->allow_signup == 1);
	FUZZ_CHECK(cfg->database_url == NULL || cfg->database_url[0] != '\0');
	FUZZ_CHECK(cfg->issuer == NULL || cfg->issuer[0] != '\0');
	/* They go into every token's claims: UTF-8, or refused at load. */
	FUZZ_CHECK(cfg->issuer == NULL ||
	    json_utf8_valid(cfg->issuer, strlen(cfg->issuer)));
	FUZZ_CHECK(cfg->audience == NULL ||
	    json_utf8_valid(cfg->audience, strlen(cfg->audience)));
	FUZZ_CHECK(cfg->n_origins <= CONFIG_ORIGINS_MAX);
	for (size_t i = 0; i < cfg->n_origins; i++) {
		char again[NET_ORIGIN_MAX + 1];

		FUZZ_CHECK(net_normalize_origin(cfg->origins[i], again,
		    sizeof again) == 0 && strcmp(again, cfg->origins[i]) == 0);
	}
	FUZZ_CHECK(cfg->n_proxies <= CONFIG_PROXIES_MAX);
	for (size_t i = 0; i < cfg->n_proxies; i++) {
		const struct net_cidr *p = &cfg->proxies[i];
		char ip[NET_IP_MAX], text[NET_IP_MAX + 8];
		struct net_cidr back;

		FUZZ_CHECK(inet_ntop(p->family, p->addr, ip, sizeof ip) != NULL);
		snprintf(text, sizeof text, "%s/%d", ip, p->prefix);
		FUZZ_CHECK(net_parse_cidr(text, &back) == 0 &&
		    back.family == p->family && back.prefix == p->prefix &&
		    memcmp(back.addr, p->addr, sizeof back.addr) == 0);
	}
	if (flags & CONFIG_NEED_KEYS) {
		FUZZ_CHECK(cfg->access_keys.count >= 1 &&
		    cfg->refresh_keys.count >= 1);
		FUZZ_CHECK(!keyset_share_secret(&cfg->access_keys,
		    &cfg->refresh_keys));
	} else {
		FUZZ_CHECK(cfg->access_keys.count == 0 &&
		    cfg->refresh_keys.count == 0);
	}
}

/* No value containing '~' (and at least 4 bytes long) shows in err. */
static void
check_refusal(const char *err, const uint8_t *file, size_t size)
{
	const char *p = (const char *)file, *end = p + size;

	FUZZ_CHECK(memchr(err, '\0', 512) != NULL);
	FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(le - p));

		if (eq != NULL) {
			const char *v = eq + 1, *ve = le;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' ||
			    ve[-1] == '\r'))
				ve--;
			if (ve - v >= 4 && memchr(v, '~', (size_t)(ve - v)))
				FUZZ_CHECK(!fuzz_contains(err, v,
				    (size_t)(ve - v)));
		}
		p = le + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct latch_config cfg;
	char err[512];
	unsigned flags;

	if (size == 0 || size > 70000)
		return 0;
	setup();
	flags = (data[0] & 1) ? CONFIG_NEED_KEYS : 0;
	FUZZ_CHECK(ftruncate(memfd, 0) == 0);
	FUZZ_CHECK(pwrite(memfd, data + 1, size - 1, 0) == (ssize_t)(size - 1));
	/* Bit 1: one setting in the environment too, which must win over
	 * whatever the file says of it; unset again after every input. */
	if (data[0] & 2)
		FUZZ_CHECK(setenv("BCRYPT_COST", "5", 1) == 0);
	memset(err, 0, sizeof err);
	if (config_load(&cfg, flags, err, sizeof err) == 0) {
		check_loaded(&cfg, flags);
		if (data[0] & 2)
			FUZZ_CHECK(cfg.bcrypt_cost == 5);
		config_free(&cfg);
	} else {
		check_refusal(err, data + 1, size - 1);
	}
	unsetenv("BCRYPT_COST");
	return 0;
}
