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
	if (!user_valid_name(name))
		return cli_fail("invalid username: 1 to %d bytes, no control "
		    "characters", USER_NAME_MAX);
	if (o.email != NULL && !user_valid_email(o.email))
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
	struct latch_config cfg;
	struct user_opts o;
	struct db *db = NULL;
	const char *name;
	char hash[PASSWORD_HASH_MAX];
	int64_t revoked;
	int rc, found;

	if ((rc = parse_opts(argc, argv, "pk", &o, &name)) != 0)
		return rc < 0 ? 0 : cli_usage(user_usage, rc);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0 ||
	    new_password_hash(&cfg, o.password_stdin, hash, sizeof hash) != 0 ||
	    cli_db(user_set_password(db, name, hash, !o.keep_sessions, &found,
	    &revoked), "setting the password") != 0)
		goto out;
	if (!found) {
		cli_fail("no user %s", name);
		goto out;
	}
	printf("password of %s changed; %lld sessions revoked\n", name,
	    (long long)revoked);
	rc = 0;
out:
	OPENSSL_cleanse(hash, sizeof hash);
	db_free(db);
	config_free(&cfg);
	return rc;
}

static int
user_set_enabled(int argc, char **argv, int enable)
{
	struct latch_config cfg;
	struct user_opts o;
	struct db *db = NULL;
	const char *name;
	int64_t revoked;
	int rc, found;

	if ((rc = parse_opts(argc, argv, "", &o, &name)) != 0)
		return rc < 0 ? 0 : cli_usage(user_usage, rc);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0 ||
	    cli_db(user_set_disabled(db, name, !enable, &found, &revoked),
	    enable ? "enabling" : "disabling") != 0)
		goto out;
	if (!found) {
		cli_fail("no user %s", name);
		goto out;
	}
	if (enable)
		printf("enabled %s\n", name);
	else
		printf("disabled %s; %lld sessions revoked\n", name,
		    (long long)revoked);
	rc = 0;
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}

/* The user's fields for --json. Returns 0, or -1 (memory). */
static int
user_json(json_object *arr, const struct user_info *u, const char *created)
{
	json_object *o = json_object_new_object(), *b;

	if (o == NULL || json_object_array_add(arr, o) != 0) {
		json_object_put(o);
		return -1;
	}
	if (cli_json_put(o, "id", u->id) || cli_json_put(o, "username",
	    u->username) || cli_json_put(o, "email", u->email) ||
	    cli_json_put(o, "created_at", created))
		return -1;
	if ((b = json_object_new_boolean(u->disabled)) == NULL ||
	    json_object_object_add(o, "disabled", b) != 0) {
		json_object_put(b);
		return -1;
	}
	return 0;
}

static int
user_list_cmd(int argc, char **argv)
{
	struct latch_config cfg;
	struct user_opts o;
	struct user_list list = { 0 };
	struct db *db = NULL;
	json_object *arr = NULL;
	int rc;

	if ((rc = parse_opts(argc, argv, "j", &o, NULL)) != 0)
		return rc < 0 ? 0 : cli_usage(user_usage, rc);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0 ||
	    cli_db(user_list(db, &list), "listing users") != 0)
		goto out;
	if (o.json && (arr = json_object_new_array()) == NULL)
		goto oom;
	for (size_t i = 0; i < list.n; i++) {
		const struct user_info *u = &list.items[i];
		char created[21];

		http_format_time(u->created_at, created);
		if (o.json) {
			if (user_json(arr, u, created) != 0)
				goto oom;
			continue;
		}
		printf("%s\t%s\t%s\t%s\t%s\n", u->id, u->username,
		    u->email != NULL ? u->email : "-", created,
		    u->disabled ? "disabled" : "enabled");
	}
	if (o.json && cli_json_print(arr) != 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	cli_fail("out of memory");
out:
	json_object_put(arr);
	user_list_free(&list);
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
		return user_list_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0)
		return cli_usage(user_usage, 0);
	return cli_usage(user_usage, EXIT_USAGE);
}
