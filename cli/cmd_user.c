/* cmd_user.c: latchctl user add | passwd | disable | enable | list. */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "password.h"
#include "user.h"

static const char user_usage[] =
    "usage: latchctl user add NAME [--email EMAIL] [--password-stdin]\n"
    "       latchctl user passwd NAME [--password-stdin] [--keep-sessions]\n"
    "       latchctl user disable NAME\n"
    "       latchctl user enable NAME\n"
    "       latchctl user list [--json]\n"
    "\n"
    "add      creates a user; the password (8 to 72 bytes) is asked for\n"
    "         twice without echo, or read as one line from stdin\n"
    "passwd   sets a new password and revokes the user's sessions, unless\n"
    "         --keep-sessions\n"
    "disable  refuses the user's logins, refreshes and access tokens, and\n"
    "         revokes their sessions; enable lets them log in again\n"
    "list     one line per user: id, username, email (or -), created_at,\n"
    "         enabled|disabled, tab-separated; --json for a JSON array\n";

/* Options shared by the user subcommands; each accepts only its own. */
struct user_opts {
	const char *email;
	int password_stdin;
	int keep_sessions;
	int json;
};

static int
parse_opts(int argc, char **argv, const char *allowed, struct user_opts *o,
    const char **name)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'e' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "keep-sessions", no_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, want_name = name != NULL;

	memset(o, 0, sizeof *o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(user_usage, 0) - 1;    /* -1: done */
		if (c == '?' || strchr(allowed, c) == NULL)
			return EXIT_USAGE;
		switch (c) {
		case 'e': o->email = optarg; break;
		case 'p': o->password_stdin = 1; break;
		case 'k': o->keep_sessions = 1; break;
		case 'j': o->json = 1; break;
		}
	}
	if (argc - optind != want_name)
		return EXIT_USAGE;
	if (want_name)
		*name = argv[optind];
	return 0;
}

static int
valid_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > USER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Hashes a password read per the options. Returns 0, or -1 (printed). */
static int
new_password_hash(const struct latch_config *cfg, int from_stdin, char *hash,
    size_t hashsz)
{
	char password[PASSWORD_MAX + 2];
	struct password_ctx *pw = NULL;
	long len;
	int rc = -1;

	len = cli_read_new_password(from_stdin, password, sizeof password);
	if (len < 0)
		goto out;
	if (password_ctx_new(cfg->bcrypt_cost, &pw) != 0 ||
	    password_hash(pw, password, (size_t)len, hash, hashsz) != 0) {
		cli_fail("hashing the password failed");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(password, sizeof password);
	password_ctx_free(pw);
	return rc;
}

static int
user_add(int argc, char **argv)
{
	struct latch_config cfg;
	struct user_opts o;
	struct db *db = NULL;
	const char *name;
	char hash[PASSWORD_HASH_MAX];
	int64_t id;
	int rc;

	if ((rc = parse_opts(argc, argv, "ep", &o, &name)) != 0)
		return rc < 0 ? 0 : cli_usage(user_usage, rc);
	if (!valid_name(name))
		return cli_fail("invalid username: 1 to %d bytes, no control "
		    "characters", USER_NAME_MAX);
	if (o.email != NULL && (!valid_name(o.email) ||
	    strchr(o.email, '@') == NULL))
		return cli_fail("invalid email address");
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (new_password_hash(&cfg, o.password_stdin, hash, sizeof hash) != 0 ||
	    cli_open_db(&cfg, &db) != 0)
		goto out;
	switch (user_create(db, name, o.email, hash, &id)) {
	case DB_OK:
		printf("created user %s (id %lld)\n", name, (long long)id);
		rc = 0;
		break;
	case DB_EUNIQUE:
		cli_fail("user %s already exists (username or email taken)",
		    name);
		break;
	default:
		cli_fail("creating the user failed");
		break;
	}
out:
	OPENSSL_cleanse(hash, sizeof hash);
	db_free(db);
	config_free(&cfg);
	return rc;
}

static int
user_passwd(int argc, char **argv)
{
	static const char sql[] =
	    "WITH u AS (UPDATE users SET password_hash = $2, updated_at = now()"
	    "  WHERE username = $1 RETURNING id),"
	    " r AS (UPDATE sessions s SET revoked_at = now(),"
	    "  revoked_reason = 'password_changed' FROM u"
	    "  WHERE s.user_id = u.id AND s.revoked_at IS NULL"
	    "  AND NOT $3::boolean RETURNING 1),"
	    /* A device token won with the old password stays no trusted
	     * device (lib/device.h), whatever happens to the sessions. */
	    " d AS (DELETE FROM device_tokens d USING u WHERE d.user_id = u.id)"
	    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM r)";
	struct latch_config cfg;
	struct user_opts o;
	struct db *db = NULL;
	const char *name, *params[3];
	char hash[PASSWORD_HASH_MAX];
	PGresult *res = NULL;
	int rc;

	if ((rc = parse_opts(argc, argv, "pk", &o, &name)) != 0)
		return rc < 0 ? 0 : cli_usage(user_usage, rc);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0 ||
	    new_password_hash(&cfg, o.password_stdin, hash, sizeof hash) != 0)
		goto out;
	params[0] = name;
	params[1] = hash;
	params[2] = o.keep_sessions ? "true" : "false";
	if (cli_exec(db, "setting the password", sql, 3, params, &res) != 0)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		cli_fail("no user %s", name);
		goto out;
	}
	printf("password of %s changed; %s sessions revoked\n", name,
	    PQgetvalue(res, 0, 1));
	rc = 0;
out:
	PQclear(res);
	OPENSSL_cleanse(hash, sizeof hash);
	db_free(db);
	config_free(&cfg);
	return rc;
}

static int
user_set_enabled(int argc, char **argv, int enable)
{
	static const char disable_sql[] =
	    "WITH u AS (UPDATE users SET disabled_at = COALESCE(disabled_at, now()),"
	    "  updated_at = now() WHERE username = $1 RETURNING id),"
	    " r AS (UPDATE sessions s SET revoked_at = now(),"
	    "  revoked_reason = 'user_disabled' FROM u"
	    "  WHERE s.user_id = u.id AND s.revoked_at IS NULL RETURNING 1),"
	    " d AS (DELETE FROM device_tokens d USING u WHERE d.user_id = u.id)"
	    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM r)";
	static const char enable_sql[] =
	    "WITH u AS (UPDATE users SET disabled_at = NULL, updated_at = now()"
	    "  WHERE username = $1 RETURNING id)"
	    " SELECT (SELECT count(*) FROM u), 0";
	struct latch_config cfg;
	struct user_opts o;
	struct db *db = NULL;
	const char *name;
	PGresult *res = NULL;
	int rc;

	if ((rc = parse_opts(argc, argv, "", &o, &name)) != 0)
		return rc < 0 ? 0 : cli_usage(user_usage, rc);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0 ||
	    cli_exec(db, enable ? "enabling" : "disabling",
	    enable ? enable_sql : disable_sql, 1, &name, &res) != 0)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		cli_fail("no user %s", name);
		goto out;
	}
	if (enable)
		printf("enabled %s\n", name);
	else
		printf("disabled %s; %s sessions revoked\n", name,
		    PQgetvalue(res, 0, 1));
	rc = 0;
out:
	PQclear(res);
	db_free(db);
	config_free(&cfg);
	return rc;
}

static int
user_list(int argc, char **argv)
{
	struct latch_config cfg;
	struct user_opts o;
	struct db *db = NULL;
	PGresult *res = NULL;
	int rc;

	if ((rc = parse_opts(argc, argv, "j", &o, NULL)) != 0)
		return rc < 0 ? 0 : cli_usage(user_usage, rc);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0 ||
	    cli_exec(db, "listing users", "SELECT id, username, email,"
	    " floor(extract(epoch FROM created_at))::bigint, disabled_at IS NOT NULL"
	    " FROM users ORDER BY id", 0, NULL, &res) != 0)
		goto out;
	if (o.json)
		fputc('[', stdout);
	for (int i = 0; i < PQntuples(res); i++) {
		char created[21];
		const char *email = PQgetisnull(res, i, 2) ? NULL :
		    PQgetvalue(res, i, 2);
		int disabled = PQgetvalue(res, i, 4)[0] == 't';

		http_format_time(strtoll(PQgetvalue(res, i, 3), NULL, 10),
		    created);
		if (!o.json) {
			printf("%s\t%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1), email != NULL ? email : "-",
			    created, disabled ? "disabled" : "enabled");
			continue;
		}
		printf("%s{\"id\":\"%s\",\"username\":", i ? "," : "",
		    PQgetvalue(res, i, 0));
		cli_json_string(stdout, PQgetvalue(res, i, 1));
		fputs(",\"email\":", stdout);
		cli_json_string(stdout, email);
		printf(",\"created_at\":\"%s\",\"disabled\":%s}", created,
		    disabled ? "true" : "false");
	}
	if (o.json)
		fputs("]\n", stdout);
	rc = 0;
out:
	PQclear(res);
	db_free(db);
	config_free(&cfg);
	return rc;
}

int
cmd_user(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(user_usage, EXIT_USAGE);
	if (strcmp(argv[1], "add") == 0)
		return user_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "passwd") == 0)
		return user_passwd(argc - 1, argv + 1);
	if (strcmp(argv[1], "disable") == 0)
		return user_set_enabled(argc - 1, argv + 1, 0);
	if (strcmp(argv[1], "enable") == 0)
		return user_set_enabled(argc - 1, argv + 1, 1);
	if (strcmp(argv[1], "list") == 0)
		return user_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0)
		return cli_usage(user_usage, 0);
	return cli_usage(user_usage, EXIT_USAGE);
}
