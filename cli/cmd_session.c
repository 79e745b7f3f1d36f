/* cmd_session.c: latchctl session list | revoke. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"
#include "http.h"
#include "session.h"
#include "user.h"

static const char session_usage[] =
    "usage: latchctl session list [USER] [--json]\n"
    "       latchctl session revoke ID\n"
    "       latchctl session revoke --user NAME\n"
    "\n"
    "list    live sessions, newest first, one line each: id, username,\n"
    "        created_at, last_used_at, expires_at, ip, user agent,\n"
    "        tab-separated; --json for a JSON array\n"
    "revoke  ends one session by id, or every session of a user\n";

/* The session's fields for --json. Returns 0, or -1 (memory). */
static int
session_json(json_object *arr, const struct session_info *s)
{
	json_object *o = json_object_new_object();
	char t[3][21];

	if (o == NULL || json_object_array_add(arr, o) != 0) {
		json_object_put(o);
		return -1;
	}
	http_format_time(s->created_at, t[0]);
	http_format_time(s->last_used_at, t[1]);
	http_format_time(s->expires_at, t[2]);
	return cli_json_put(o, "id", s->id) || cli_json_put(o, "username",
	    s->username) || cli_json_put(o, "created_at", t[0]) ||
	    cli_json_put(o, "last_used_at", t[1]) ||
	    cli_json_put(o, "expires_at", t[2]) ||
	    cli_json_put(o, "ip", s->ip) ||
	    cli_json_put(o, "user_agent", s->user_agent) ||
	    cli_json_put(o, "binding", s->binding) ? -1 : 0;
}

static int
list_sessions(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct latch_config cfg;
	struct app app;
	struct session_list list = { 0 };
	struct db *db = NULL;
	const char *user = NULL;
	json_object *arr = NULL;
	int64_t user_id = 0;
	int c, json = 0, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(session_usage, 0);
		if (c != 'j')
			return cli_usage(session_usage, EXIT_USAGE);
		json = 1;
	}
	if (argc - optind > 1)
		return cli_usage(session_usage, EXIT_USAGE);
	if (argc - optind == 1)
		user = argv[optind];
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0)
		goto out;
	cli_app(&app, &cfg, db);
	/* An empty list is an answer; an unknown user is not, and must not
	 * print one first. */
	if (user != NULL && cli_db(user_find_id(db, user, &user_id),
	    "finding the user") != 0)
		goto out;
	if (user != NULL && user_id == 0) {
		cli_fail("no user %s", user);
		goto out;
	}
	if (cli_db(session_list(&app, user_id, NULL, 0, &list),
	    "listing sessions") != 0)
		goto out;
	if (json && (arr = json_object_new_array()) == NULL)
		goto oom;
	for (size_t i = 0; i < list.n; i++) {
		const struct session_info *s = &list.items[i];
		char t[3][21];

		if (json) {
			if (session_json(arr, s) != 0)
				goto oom;
			continue;
		}
		http_format_time(s->created_at, t[0]);
		http_format_time(s->last_used_at, t[1]);
		http_format_time(s->expires_at, t[2]);
		printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s->id, s->username,
		    t[0], t[1], t[2], s->ip != NULL ? s->ip : "-",
		    s->user_agent != NULL ? s->user_agent : "-");
	}
	if (json && cli_json_print(arr) != 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	cli_fail("out of memory");
out:
	json_object_put(arr);
	session_list_free(&list);
	db_free(db);
	config_free(&cfg);
	return rc;
}

static int
revoke_sessions(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct latch_config cfg;
	struct app app;
	struct db *db = NULL;
	const char *user = NULL, *id = NULL;
	int64_t user_id = 0, revoked = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(session_usage, 0);
		if (c != 'u')
			return cli_usage(session_usage, EXIT_USAGE);
		user = optarg;
	}
	if (user == NULL && argc - optind == 1)
		id = argv[optind];
	else if (user == NULL || argc - optind != 0)
		return cli_usage(session_usage, EXIT_USAGE);
	if (id != NULL && !crypto_is_uuid(id))
		return cli_fail("%s is not a session id", id);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	rc = EXIT_REFUSED;
	if (cli_open_db(&cfg, &db) != 0)
		goto out;
	cli_app(&app, &cfg, db);
	if (user != NULL) {
		if (cli_db(user_find_id(db, user, &user_id),
		    "finding the user") != 0)
			goto out;
		if (user_id == 0) {
			cli_fail("no user %s", user);
			goto out;
		}
	}
	if (cli_db(session_revoke(&app, user_id, id, SESSION_REASON_ADMIN,
	    &revoked), "revoking") != 0)
		goto out;
	if (id != NULL && revoked != 1) {
		cli_fail("no live session %s", id);
		goto out;
	}
	if (id != NULL)
		printf("revoked session %s\n", id);
	else
		printf("revoked %lld sessions of %s\n", (long long)revoked,
		    user);
	rc = 0;
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}

int
cmd_session(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(session_usage, EXIT_USAGE);
	if (strcmp(argv[1], "list") == 0)
		return list_sessions(argc - 1, argv + 1);
	if (strcmp(argv[1], "revoke") == 0)
		return revoke_sessions(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0)
		return cli_usage(session_usage, 0);
	return cli_usage(session_usage, EXIT_USAGE);
}
