/* cmd_ops.c: latchctl secret gen, config check and keys, and purge. */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64url.h"
#include "cli.h"
#include "crypto.h"
#include "keys.h"

/* The newest migration this build carries, which config check requires:
 * the Makefile passes the highest NNN of migrations/NNN_*.sql. */
#ifndef LATCH_SCHEMA_VERSION
#error "LATCH_SCHEMA_VERSION: build with the Makefile (the newest migration)"
#endif

/* ---- secret gen ---- */

static const char secret_usage[] =
    "usage: latchctl secret gen [--kid ID]\n"
    "\n"
    "Prints a new 256-bit key (from the OpenSSL CSPRNG, base64url) as one\n"
    "KID:SECRET item for JWT_ACCESS_SECRET or JWT_REFRESH_SECRET. The kid\n"
    "defaults to k<UTC date and time>; give 1 to 32 of A-Z a-z 0-9 . _ -.\n";

int
cmd_secret(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kid", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char kid[KEY_KID_MAX + 1], secret[64];
	const char *want = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int c;

	if (argc < 2 || strcmp(argv[1], "gen") != 0)
		return cli_usage(secret_usage, argc >= 2 &&
		    strcmp(argv[1], "--help") == 0 ? 0 : EXIT_USAGE);
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(secret_usage, 0);
		if (c != 'k')
			return cli_usage(secret_usage, EXIT_USAGE);
		want = optarg;
	}
	if (optind != argc)
		return cli_usage(secret_usage, EXIT_USAGE);
	if (want != NULL) {
		if (!key_kid_valid(want, strlen(want)))
			return cli_fail("a kid is 1 to 32 of A-Z a-z 0-9 . _ -");
		snprintf(kid, sizeof kid, "%s", want);
	} else if (gmtime_r(&now, &tm) == NULL ||
	    strftime(kid, sizeof kid, "k%Y%m%d%H%M%S", &tm) == 0) {
		return cli_fail("cannot read the clock");
	}
	if (crypto_random_b64url(32, secret, sizeof secret) != 0)
		return cli_fail("the random number generator failed");
	printf("%s:%s\n", kid, secret);
	OPENSSL_cleanse(secret, sizeof secret);
	fprintf(stderr, "latchctl: put it first in the list, keeping the old "
	    "key after it (e.g. JWT_REFRESH_SECRET=%s:...,OLD); drop the old "
	    "key once the tokens it signed have expired\n", kid);
	return 0;
}

/* ---- config check ---- */

static const char config_usage[] =
    "usage: latchctl config check | config keys\n"
    "\n"
    "check: loads and validates the configuration (as the FastCGI binaries\n"
    "do), connects to the database, checks that the schema is up to date,\n"
    "and prints what would be served, one key=value line each (never a\n"
    "secret: key lists show their kids).\n"
    "keys: prints the name of every setting, one a line, in API.md's\n"
    "order (without LATCH_CONFIG, which names the file); reads nothing.\n";

/* latchctl config keys: the list lib/config owns, for scripts. */
static int
print_config_keys(void)
{
	for (size_t i = 0; config_keys[i] != NULL; i++)
		printf("%s\n", config_keys[i]);
	return fflush(stdout) == 0 ? 0 : cli_fail("cannot write the keys");
}

static void
print_kids(const char *name, const struct keyset *ks)
{
	printf("%s=", name);
	for (size_t i = 0; i < ks->count; i++)
		printf("%s%s", i ? "," : "", ks->keys[i].kid);
	printf(" (signing: %s)\n", ks->count ? ks->keys[0].kid : "-");
}

int
cmd_config(int argc, char **argv)
{
	struct latch_config cfg;
	struct db *db = NULL, *read_db = NULL;
	PGresult *res = NULL;
	long version;
	int rc;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0)
			return cli_usage(config_usage, 0);
	if (argc == 2 && strcmp(argv[1], "keys") == 0)
		return print_config_keys();
	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return cli_usage(config_usage, EXIT_USAGE);
	if (cli_load_config(&cfg, CONFIG_NEED_KEYS) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	printf("configuration=ok\n");
	print_kids("access_keys", &cfg.access_keys);
	print_kids("refresh_keys", &cfg.refresh_keys);
	printf("access_ttl=%llds\nrefresh_ttl=%llds\nsession_max_age=%llds\n"
	    "reuse_grace=%llds\nreuse_revokes=%s\ndbsc_cookie_lifetime=%llds\n",
	    (long long)cfg.access_ttl, (long long)cfg.refresh_ttl,
	    (long long)cfg.session_max_age, (long long)cfg.reuse_grace,
	    cfg.reuse_revokes == REUSE_REVOKES_USER ? "user" : "session",
	    (long long)cfg.dbsc_cookie_lifetime);
	printf("issuer=%s\naudience=%s\n", cfg.issuer ? cfg.issuer : "-",
	    cfg.audience ? cfg.audience : "-");
	printf("bcrypt_cost=%d\ncookie_secure=%d\nallow_signup=%d\n"
	    "max_body_bytes=%zu\n", cfg.bcrypt_cost, cfg.cookie_secure,
	    cfg.allow_signup, cfg.max_body);
	printf("allowed_origins=");
	if (cfg.n_origins == 0)
		printf("(the server's own origin)");
	for (size_t i = 0; i < cfg.n_origins; i++)
		printf("%s%s", i ? "," : "", cfg.origins[i]);
	printf("\ntrusted_proxies=%zu\n", cfg.n_proxies);
	if (cli_open_db(&cfg, &db) != 0)
		goto out;
	printf("database=ok\n");
	/* The replica the read routes use: it must answer too, or they
	 * read from the primary (lib/reads.h) and it is no help. */
	if (cfg.database_read_url != NULL) {
		if (db_new(cfg.database_read_url, "latchctl-read", &read_db) !=
		    DB_OK) {
			cli_fail("out of memory");
			goto out;
		}
		if (db_ping(read_db) != DB_OK) {
			cli_fail("cannot reach the read database "
			    "(DATABASE_READ_URL)");
			goto out;
		}
		/* And it must be latch's database, as migrated: else its
		 * every read fails and goes to the primary. */
		if (db_exec(read_db, "SELECT COALESCE(max(version), 0) FROM"
		    " schema_migrations", 0, NULL, DB_IDEMPOTENT, &res) !=
		    DB_OK) {
			cli_fail("the read database (DATABASE_READ_URL) has no "
			    "schema_migrations: not latch's database");
			goto out;
		}
		version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		res = NULL;
		if (version < LATCH_SCHEMA_VERSION) {
			cli_fail("the read database (DATABASE_READ_URL) is at "
			    "schema version %ld, this build needs %d", version,
			    LATCH_SCHEMA_VERSION);
			goto out;
		}
		printf("read_database=ok\n");
	} else {
		printf("read_database=-\n");
	}
	if (cli_exec(db, "reading schema_migrations", "SELECT"
	    " COALESCE(max(version), 0) FROM schema_migrations", 0, NULL,
	    &res) != 0)
		goto out;
	version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	printf("schema_version=%ld\n", version);
	if (version < LATCH_SCHEMA_VERSION) {
		cli_fail("the schema is at version %ld, this build needs %d: run "
		    "latchctl migrate", version, LATCH_SCHEMA_VERSION);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	db_free(read_db);
	db_free(db);
	config_free(&cfg);
	return rc;
}

/* ---- purge ---- */

static const char purge_usage[] =
    "usage: latchctl purge [--batch N]\n"
    "\n"
    "Deletes ended sessions (past their absolute or idle end, or revoked\n"
    "more than a day ago) with all their tokens, and login-limiter rows\n"
    "idle for 15 minutes; then clears the sealed successors whose grace\n"
    "window has passed, and deletes expired device tokens. N rows\n"
    "(default 5000, 1 to 100000) per committed statement so no lock is\n"
    "held for long. Never deletes anything of a live session. Prints one\n"
    "line: sessions=S tokens=T throttle=L\n"
    "batches=B seconds=X (B counts the batches of the session walk).\n";

/* Runs sql, one committed batch of at most batch rows per call ($1), until
 * a call comes back short (column 0 counts what it did). With nparams 2
 * the walk has a cursor: column 1 is the last id a call reached, passed
 * back as $2 (NULL at first). Returns 0, or -1 (with a message). */
static int
purge_walk(struct db *db, const char *what, const char *sql, int nparams,
    const char *batch_s, long long batch)
{
	char after[24] = "";
	const char *params[2] = { batch_s, NULL };
	long rounds = 0;

	for (;;) {
		PGresult *res;
		long long n;

		if (cli_exec(db, what, sql, nparams, params, &res) != 0)
			return -1;
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (nparams == 2 && !PQgetisnull(res, 0, 1)) {
			snprintf(after, sizeof after, "%s", PQgetvalue(res, 0, 1));
			params[1] = after;
		}
		PQclear(res);
		if (n < batch || ++rounds >= 1000000)
			return 0;
	}
}

int
cmd_purge(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct latch_config cfg;
	struct db *db = NULL;
	struct timespec t0, t1;
	long long sessions = 0, tokens = 0, throttle = 0, batch = 5000;
	long batches = 0;
	char batch_s[24], after[CRYPTO_UUID_LEN + 1] = "", *end;
	const char *params[2] = { batch_s, NULL };
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(purge_usage, 0);
		if (c != 'b')
			return cli_usage(purge_usage, EXIT_USAGE);
		batch = strtoll(optarg, &end, 10);
		if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' ||
		    batch < 1 || batch > 100000)
			return cli_usage(purge_usage, EXIT_USAGE);
	}
	if (optind != argc)
		return cli_usage(purge_usage, EXIT_USAGE);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0)
		goto out;
	snprintf(batch_s, sizeof batch_s, "%lld", batch);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Each call is its own transaction; a short batch means done. The
	 * bound only guards against a runaway. */
	for (;;) {
		PGresult *res;
		long long s, t, l;

		/* Batches walk the sessions in id order from where the last
		 * one stopped, so the whole run reads the table once. */
		if (cli_exec(db, "purging", "SELECT * FROM latch_purge_batch("
		    "$1::integer, $2::uuid)", 2, params, &res) != 0)
			goto out;
		s = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		t = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		l = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		if (!PQgetisnull(res, 0, 3)) {
			snprintf(after, sizeof after, "%s", PQgetvalue(res, 0, 3));
			params[1] = after;
		}
		PQclear(res);
		sessions += s;
		tokens += t;
		throttle += l;
		batches++;
		if ((s < batch && l < batch) || batches >= 1000000)
			break;
	}
	/* The seal sweep walks the token rows in id order (migration 005);
	 * expired device tokens (migration 006) and single-use proofs
	 * (migration 011) go a batch at a time. */
	if (purge_walk(db, "clearing expired seals", "SELECT * FROM"
	    " latch_unseal_batch($1::integer, $2::bigint)", 2, batch_s,
	    batch) != 0 ||
	    purge_walk(db, "deleting expired device tokens", "SELECT"
	    " latch_purge_device_tokens($1::integer)", 1, batch_s, batch) != 0 ||
	    purge_walk(db, "deleting expired single-use proofs", "SELECT"
	    " latch_purge_proofs($1::integer)", 1, batch_s, batch) != 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("sessions=%lld tokens=%lld throttle=%lld batches=%ld "
	    "seconds=%.3f\n", sessions, tokens, throttle, batches,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	rc = 0;
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}
