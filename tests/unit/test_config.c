/* test_config.c: lib/config's parsing and start-up validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pwd.h>

#include "config.h"

#define ACCESS "a1:0123456789abcdef0123456789abcdef"
#define REFRESH "r1:fedcba9876543210fedcba9876543210"

/* A lookup over a NULL-terminated list of "KEY=VALUE" strings. */
static const char *
lookup(void *ctx, const char *key)
{
	const char *const *kv = ctx;
	size_t klen = strlen(key);

	for (; *kv != NULL; kv++)
		if (strncmp(*kv, key, klen) == 0 && (*kv)[klen] == '=')
			return *kv + klen + 1;
	return NULL;
}

static int
load(const char *const *kv, struct latch_config *cfg, char *err, size_t errsz)
{
	return config_load_from(cfg, CONFIG_NEED_KEYS, lookup, (void *)kv, err,
	    errsz);
}

static void
test_issuer_and_audience_must_be_utf8(void **state)
{
	struct latch_config cfg;
	char err[256];
	const char *latin1_iss[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH, "JWT_ISSUER=https://caf\xe9.example",
	    NULL };
	const char *overlong_aud[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH, "JWT_AUDIENCE=\xc0\xaf", NULL };
	const char *utf8[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH,
	    "JWT_ISSUER=https://caf\xc3\xa9.example",
	    "JWT_AUDIENCE=caf\xc3\xa9", NULL };

	(void)state;
	assert_int_equal(load(latin1_iss, &cfg, err, sizeof err), -1);
	assert_string_equal(err, "JWT_ISSUER: not valid UTF-8");
	assert_int_equal(load(overlong_aud, &cfg, err, sizeof err), -1);
	assert_string_equal(err, "JWT_AUDIENCE: not valid UTF-8");
	assert_int_equal(load(utf8, &cfg, err, sizeof err), 0);
	assert_string_equal(cfg.issuer, "https://caf\xc3\xa9.example");
	config_free(&cfg);
}

static void
test_durations(void **state)
{
	int64_t s;

	(void)state;
	assert_int_equal(config_parse_duration("15m", &s), 0);
	assert_int_equal(s, 900);
	assert_int_equal(config_parse_duration("7d", &s), 0);
	assert_int_equal(s, 604800);
	assert_int_equal(config_parse_duration("10s", &s), 0);
	assert_int_equal(s, 10);
	assert_int_equal(config_parse_duration("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(config_parse_duration("45", &s), 0);
	assert_int_equal(s, 45);
	assert_int_equal(config_parse_duration("0s", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(config_parse_duration("3650d", &s), 0);
	static const char *const bad[] = { "", "m", "-5s", "+5s", " 5s", "5s ",
	    "5 s", "5ms", "5w", "1.5h", "3651d", "99999999999999999999",
	    "5S", "0x10" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (config_parse_duration(bad[i], &s) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(config_parse_duration(NULL, &s), -1);
}

static void
test_defaults(void **state)
{
	const char *const kv[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH, NULL };
	struct latch_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(load(kv, &cfg, err, sizeof err), 0);
	assert_int_equal(cfg.access_ttl, 900);
	assert_int_equal(cfg.refresh_ttl, 7 * 86400);
	assert_int_equal(cfg.session_max_age, 30 * 86400);
	assert_int_equal(cfg.reuse_grace, 10);
	assert_int_equal(cfg.reuse_revokes, REUSE_REVOKES_SESSION);
	assert_int_equal(cfg.dbsc_cookie_lifetime, 600);
	assert_int_equal(cfg.bcrypt_cost, 12);
	assert_int_equal(cfg.cookie_secure, 1);
	assert_int_equal(cfg.allow_signup, 0);
	assert_int_equal(cfg.max_body, 16384);
	assert_int_equal(cfg.n_origins, 0);
	assert_null(cfg.issuer);
	assert_null(cfg.database_url);
	assert_null(cfg.database_read_url);
	assert_int_equal(cfg.access_keys.count, 1);
	assert_string_equal(cfg.access_keys.keys[0].kid, "a1");
	config_free(&cfg);
}

/* A bound session's cookie never outlives an unbound one's. */
static void
test_dbsc_lifetime_capped_by_refresh(void **state)
{
	const char *const kv[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH, "JWT_REFRESH_EXPIRES=5m",
	    "DBSC_COOKIE_LIFETIME=10m", NULL };
	const char *const off[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH, "DBSC_COOKIE_LIFETIME=0", NULL };
	const char *const bad[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH, "DBSC_COOKIE_LIFETIME=-1", NULL };
	struct latch_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(load(kv, &cfg, err, sizeof err), 0);
	assert_int_equal(cfg.dbsc_cookie_lifetime, 300);
	config_free(&cfg);
	assert_int_equal(load(off, &cfg, err, sizeof err), 0);
	assert_int_equal(cfg.dbsc_cookie_lifetime, 0);
	config_free(&cfg);
	assert_int_equal(load(bad, &cfg, err, sizeof err), -1);
	assert_non_null(strstr(err, "DBSC_COOKIE_LIFETIME"));
}

static void
test_every_key_is_read(void **state)
{
	const char *const kv[] = { "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=" REFRESH, "JWT_ACCESS_EXPIRES=5s",
	    "JWT_REFRESH_EXPIRES=1h", "SESSION_MAX_AGE=2d",
	    "REFRESH_REUSE_GRACE=0", "REUSE_REVOKES=user",
	    "JWT_ISSUER=https://id.example", "JWT_AUDIENCE=api",
	    "BCRYPT_COST=10", "COOKIE_SECURE=0", "ALLOW_SIGNUP=1",
	    "ALLOWED_ORIGINS=https://App.Example.com:443, http://localhost:8080",
	    "TRUSTED_PROXIES=10.0.0.0/8, ::1", "MAX_BODY_BYTES=4096",
	    "DBSC_COOKIE_LIFETIME=30m", "DATABASE_URL=postgresql:///latch",
	    "DATABASE_READ_URL=postgresql://replica/latch", NULL };
	struct latch_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(load(kv, &cfg, err, sizeof err), 0);
	assert_int_equal(cfg.access_ttl, 5);
	assert_int_equal(cfg.refresh_ttl, 3600);
	assert_int_equal(cfg.session_max_age, 172800);
	assert_int_equal(cfg.reuse_grace, 0);
	assert_int_equal(cfg.reuse_revokes, REUSE_REVOKES_USER);
	assert_int_equal(cfg.dbsc_cookie_lifetime, 1800);
	assert_string_equal(cfg.issuer, "https://id.example");
	assert_string_equal(cfg.audience, "api");
	assert_int_equal(cfg.bcrypt_cost, 10);
	assert_int_equal(cfg.cookie_secure, 0);
	assert_int_equal(cfg.allow_signup, 1);
	assert_int_equal(cfg.max_body, 4096);
	assert_int_equal(cfg.n_origins, 2);
	assert_string_equal(cfg.origins[0], "https://app.example.com");
	assert_string_equal(cfg.origins[1], "http://localhost:8080");
	assert_int_equal(cfg.n_proxies, 2);
	assert_true(net_in_networks(cfg.proxies, cfg.n_proxies, "10.1.2.3"));
	assert_true(net_in_networks(cfg.proxies, cfg.n_proxies, "::1"));
	assert_false(net_in_networks(cfg.proxies, cfg.n_proxies, "11.0.0.1"));
	assert_false(net_in_networks(cfg.proxies, cfg.n_proxies, "127.0.0.1"));
	assert_false(net_in_networks(cfg.proxies, cfg.n_proxies, "garbage"));
	assert_string_equal(cfg.database_url, "postgresql:///latch");
	assert_string_equal(cfg.database_read_url,
	    "postgresql://replica/latch");
	config_free(&cfg);
}

/* Each refusal names the key, never the secret. */
static void
expect_refusal(const char *const *kv, const char *key)
{
	struct latch_config cfg;
	char err[512];

	err[0] = '\0';
	assert_int_equal(load(kv, &cfg, err, sizeof err), -1);
	if (strstr(err, key) == NULL)
		fail_msg("message \"%s\" does not name %s", err, key);
	for (const char *const *p = kv; *p != NULL; p++) {
		const char *colon = strchr(*p, ':');

		const char *value = strchr(*p, '=') + 1;

		if (strncmp(*p, "JWT_", 4) == 0 && colon != NULL &&
		    strlen(colon + 1) >= 8 && strstr(err, colon + 1) != NULL)
			fail_msg("message \"%s\" reveals a secret", err);
		/* No value is ever echoed: a value is where secrets live. */
		if (strlen(value) >= 4 && strstr(err, value) != NULL)
			fail_msg("message \"%s\" echoes the value of %s", err,
			    *p);
	}
	assert_null(strchr(err, '\n'));
}

static void
test_refuses_missing_or_bad_keys(void **state)
{
	(void)state;
	expect_refusal((const char *const[]){ "JWT_REFRESH_SECRET=" REFRESH,
	    NULL }, "JWT_ACCESS_SECRET");
	expect_refusal((const char *const[]){ "JWT_ACCESS_SECRET=" ACCESS,
	    NULL }, "JWT_REFRESH_SECRET");
	expect_refusal((const char *const[]){ "JWT_ACCESS_SECRET=",
	    "JWT_REFRESH_SECRET=" REFRESH, NULL }, "JWT_ACCESS_SECRET");
	expect_refusal((const char *const[]){ "JWT_ACCESS_SECRET=k:tooshort",
	    "JWT_REFRESH_SECRET=" REFRESH, NULL }, "JWT_ACCESS_SECRET");
	expect_refusal((const char *const[]){
	    "JWT_ACCESS_SECRET=bad kid!:0123456789abcdef0123456789abcdef",
	    "JWT_REFRESH_SECRET=" REFRESH, NULL }, "JWT_ACCESS_SECRET");
	expect_refusal((const char *const[]){ "JWT_ACCESS_SECRET=" ACCESS,
	    "JWT_REFRESH_SECRET=r9:0123456789abcdef0123456789abcdef", NULL },
	    "share");
}

static void
test_refuses_bad_values(void **state)
{
	static const char *const bad[][2] = {
		{ "JWT_ACCESS_EXPIRES=0", "JWT_ACCESS_EXPIRES" },
		{ "JWT_ACCESS_EXPIRES=15 minutes", "JWT_ACCESS_EXPIRES" },
		{ "JWT_REFRESH_EXPIRES=-1d", "JWT_REFRESH_EXPIRES" },
		{ "SESSION_MAX_AGE=forever", "SESSION_MAX_AGE" },
		{ "REFRESH_REUSE_GRACE=10x", "REFRESH_REUSE_GRACE" },
		{ "REUSE_REVOKES=everything", "REUSE_REVOKES" },
		{ "BCRYPT_COST=3", "BCRYPT_COST" },
		{ "BCRYPT_COST=32", "BCRYPT_COST" },
		{ "BCRYPT_COST=twelve", "BCRYPT_COST" },
		{ "COOKIE_SECURE=maybe", "COOKIE_SECURE" },
		{ "ALLOW_SIGNUP=2", "ALLOW_SIGNUP" },
		{ "ALLOWED_ORIGINS=ftp://x", "ALLOWED_ORIGINS" },
		{ "ALLOWED_ORIGINS=https://x.example/path", "ALLOWED_ORIGINS" },
		{ "TRUSTED_PROXIES=10.0.0.0/33", "TRUSTED_PROXIES" },
		{ "TRUSTED_PROXIES=proxy.example", "TRUSTED_PROXIES" },
		{ "MAX_BODY_BYTES=10", "MAX_BODY_BYTES" },
		{ "MAX_BODY_BYTES=hunter2-not-a-number", "MAX_BODY_BYTES" },
		{ "JWT_ACCESS_EXPIRES=hunter2", "JWT_ACCESS_EXPIRES" },
		{ "COOKIE_SECURE=hunter2", "COOKIE_SECURE" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *const kv[] = { "JWT_ACCESS_SECRET=" ACCESS,
		    "JWT_REFRESH_SECRET=" REFRESH, bad[i][0], NULL };

		expect_refusal(kv, bad[i][1]);
	}
}

static void
test_keys_not_needed_for_tools(void **state)
{
	const char *const kv[] = { "BCRYPT_COST=4", NULL };
	struct latch_config cfg;
	char err[256];

	(void)state;
	assert_int_equal(config_load_from(&cfg, 0, lookup, (void *)kv, err,
	    sizeof err), 0);
	assert_int_equal(cfg.access_keys.count, 0);
	assert_int_equal(cfg.bcrypt_cost, 4);
	config_free(&cfg);
}

static void
test_config_file_and_environment(void **state)
{
	char path[] = "/tmp/latch-config-test-XXXXXX";
	struct latch_config cfg;
	char err[512];
	FILE *fp;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fprintf(fp, "# comment\n\nJWT_ACCESS_SECRET = %s\nJWT_REFRESH_SECRET=%s\n"
	    "JWT_ACCESS_EXPIRES=1m\n", ACCESS, REFRESH);
	fclose(fp);
	setenv("LATCH_CONFIG", path, 1);
	setenv("JWT_ACCESS_EXPIRES", "2m", 1);  /* the environment wins */
	assert_int_equal(config_load(&cfg, CONFIG_NEED_KEYS, err, sizeof err), 0);
	assert_int_equal(cfg.access_ttl, 120);
	assert_string_equal(cfg.refresh_keys.keys[0].kid, "r1");
	config_free(&cfg);

	fp = fopen(path, "a");
	fprintf(fp, "JWT_ACCES_EXPIRES=5m\n");  /* a typo is refused */
	fclose(fp);
	assert_int_equal(config_load(&cfg, CONFIG_NEED_KEYS, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "unknown key"));
	unlink(path);
	assert_int_equal(config_load(&cfg, CONFIG_NEED_KEYS, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "cannot open"));
	unsetenv("LATCH_CONFIG");
	unsetenv("JWT_ACCESS_EXPIRES");
}

/* With no file to read, a refusal says where none was found: LATCH_CONFIG
 * set but empty reads none at all; unset, latch.conf in the home
 * directory of the user we run as (password database), which this test
 * does not create (it is skipped where one exists). */
static void
test_refusal_without_file_says_where_it_looked(void **state)
{
	struct latch_config cfg;
	struct passwd *pw = getpwuid(geteuid());
	char err[512], home_conf[4096];

	(void)state;
	unsetenv("JWT_ACCESS_SECRET");
	setenv("LATCH_CONFIG", "", 1);
	assert_int_equal(config_load(&cfg, CONFIG_NEED_KEYS, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "JWT_ACCESS_SECRET is not set"));
	assert_non_null(strstr(err,
	    "(no configuration file: LATCH_CONFIG is empty)"));
	unsetenv("LATCH_CONFIG");
	if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/')
		skip();
	snprintf(home_conf, sizeof home_conf, "%s/latch.conf",
	    strcmp(pw->pw_dir, "/") == 0 ? "" : pw->pw_dir);
	if (access(home_conf, F_OK) == 0)
		skip();
	assert_int_equal(config_load(&cfg, CONFIG_NEED_KEYS, err, sizeof err),
	    -1);
	assert_non_null(strstr(err, "JWT_ACCESS_SECRET is not set"));
	assert_non_null(strstr(err, "LATCH_CONFIG is unset and there is no "));
	assert_non_null(strstr(err, home_conf));
}

/* Writes text to a new temporary file whose name goes into path. */
static void
write_temp(char path[], const char *text)
{
	int fd = mkstemp(path);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Loads the file given as text; returns the refusal message in err. */
static void
refused_file(const char *text, char *err, size_t errsz)
{
	char path[] = "/tmp/latch-config-test-XXXXXX";
	struct latch_config cfg;

	write_temp(path, text);
	setenv("LATCH_CONFIG", path, 1);
	err[0] = '\0';
	assert_int_equal(config_load(&cfg, CONFIG_NEED_KEYS, err, errsz), -1);
	unsetenv("LATCH_CONFIG");
	unlink(path);
	if (strstr(err, path) == NULL)
		fail_msg("message \"%s\" does not name the file", err);
	assert_null(strchr(err, '\n'));
}

/* 1 when err holds any 4 consecutive bytes of secret. */
static int
shares_four_bytes(const char *err, const char *secret)
{
	size_t len = strlen(secret);

	for (size_t i = 0; i + 4 <= len; i++) {
		char piece[5];

		memcpy(piece, secret + i, 4);
		piece[4] = '\0';
		if (strstr(err, piece) != NULL)
			return 1;
	}
	return 0;
}

/* Issue 8, item 10: a key list wrapped onto the next line put the start
 * of a secret into the "unknown key" message. A line is named by number,
 * and its text only when it is a well-formed key. */
static void
test_file_messages_never_show_a_value(void **state)
{
	/* Each: file text, the line's secret part, the line number. */
	static const struct {
		const char *text;
		const char *secret;
		const char *line;
	} cases[] = {
		/* wrapped after a ',': the rest holds '=' (base64 padding) */
		{ "JWT_ACCESS_SECRET=" ACCESS ",\n"
		    "  a2:c2VjcmV0LXRoYXQtd3JhcHBlZC1vbnRv==\n",
		    "a2:c2VjcmV0LXRoYXQtd3JhcHBlZC1vbnRv", "line 2" },
		/* wrapped after a ',': the rest looks like a key */
		{ "# comment\nJWT_REFRESH_SECRET=" REFRESH ",\n"
		    "QZX7VKWJ3M9TNC2H=rest-of-the-secret\n",
		    "QZX7VKWJ3M9TNC2H", "line 3" },
		/* wrapped inside a secret: what is left of '=' is no key */
		{ "JWT_ACCESS_SECRET=a1:0123456789abcdef\n"
		    "ghijk-Secret_Tail=0123456789\n",
		    "ghijk-Secret_Tail", "line 2" },
		{ "JWT_ACCESS_SECRET=" ACCESS "\nlower_case_secret=x\n",
		    "lower_case_secret", "line 2" },
		{ "JWT_ACCESS_SECRET=" ACCESS "\nTWO WORDS=x\n", "TWO WORDS",
		    "line 2" },
		{ "=bXZ4-9Qk7-zz1r\n", "bXZ4-9Qk7-zz1r", "line 1" },
		/* key-shaped but longer than any key: not echoed either */
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ"
		    "KLMNO=x\n", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRST"
		    "UVWXYZABCDEFGHIJKLMNO", "line 1" },
		/* no '=' at all */
		{ "JWT_ACCESS_SECRET=" ACCESS "\n  a2:c2VjcmV0LXRoYXQtd3Jh\n",
		    "a2:c2VjcmV0LXRoYXQtd3Jh", "line 2" },
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		refused_file(cases[i].text, err, sizeof err);
		if (strstr(err, cases[i].line) == NULL)
			fail_msg("case %zu: \"%s\" does not say %s", i, err,
			    cases[i].line);
		if (shares_four_bytes(err, cases[i].secret))
			fail_msg("case %zu: \"%s\" shows part of the line", i,
			    err);
	}
	/* A well-formed unknown key is named: it is a typo to fix. */
	refused_file("JWT_ACCESS_SECRET=" ACCESS "\nJWT_ACCES_EXPIRES=5m\n", err,
	    sizeof err);
	assert_non_null(strstr(err, "line 2"));
	assert_non_null(strstr(err, "unknown key JWT_ACCES_EXPIRES (did you "
	    "mean JWT_ACCESS_EXPIRES?)"));
	/* Past the file's name, whose random part may hold "5m". */
	assert_null(strstr(strstr(err, " line 2"), "5m"));
	/* A key-shaped piece of a secret wrapped at any point but a ','
	 * (here the end of a base64 secret) is not named. */
	refused_file("JWT_ACCESS_SECRET=a1:0123456789abcdefghijklmnopqrstuv\n"
	    "CD9Q==\n", err, sizeof err);
	assert_non_null(strstr(err, "line 2"));
	assert_null(strstr(err, "CD9"));
	assert_null(strstr(err, "D9Q"));
	refused_file("JWT_REFRESH_SECRET=r1:0123456789abcdefghijklmnopqrstuv\n"
	    "ABCDEFGHIJKLMNOP_QRST=\n", err, sizeof err);
	assert_null(strstr(err, "ABCD"));
	assert_null(strstr(err, "QRST"));
}

/* Values read from the file are checked as the environment's are, and
 * their messages show no value either. */
static void
test_file_value_messages_never_show_a_value(void **state)
{
	char err[512];

	(void)state;
	refused_file("JWT_ACCESS_SECRET=" ACCESS "\nJWT_REFRESH_SECRET=" REFRESH
	    "\nSESSION_MAX_AGE=pa55w0rd-by-mistake\n", err, sizeof err);
	assert_non_null(strstr(err, "SESSION_MAX_AGE ("));
	assert_non_null(strstr(err, " line 3): expected"));
	assert_false(shares_four_bytes(err, "pa55w0rd-by-mistake"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key_is_read),
		cmocka_unit_test(test_dbsc_lifetime_capped_by_refresh),
		cmocka_unit_test(test_refuses_missing_or_bad_keys),
		cmocka_unit_test(test_refuses_bad_values),
		cmocka_unit_test(test_keys_not_needed_for_tools),
		cmocka_unit_test(test_config_file_and_environment),
		cmocka_unit_test(test_refusal_without_file_says_where_it_looked),
		cmocka_unit_test(test_file_messages_never_show_a_value),
		cmocka_unit_test(test_file_value_messages_never_show_a_value),
		cmocka_unit_test(test_issuer_and_audience_must_be_utf8),
	};

	/* The environment must not leak into the file test. */
	unsetenv("JWT_ACCESS_SECRET");
	unsetenv("JWT_REFRESH_SECRET");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
