/* cmd_session.c: latchctl session list | revoke. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto.h"
#include "http.h"

static const char session_usage[] =
    "usage: latchctl session list [USER] [--json]\n"
    "       latchctl session revoke ID\n"
    "       latchctl session revoke --user NAME\n"
    "\n"
    "list    live sessions, newest first, one line each: id, username,\n"
    "        created_at, last_used_at, expires_at, ip, user agent,\n"
    "        tab-separated; --json for a JSON array\n"
    "revoke  ends one session by id, or every session of a user\n";

static int
session_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char sql[] =
	    "SELECT s.id, u.username, floor(extract(epoch FROM s.created_at))::bigint,"
	    " floor(extract(epoch FROM s.last_used_at))::bigint,"
	    " floor(extract(epoch FROM LEAST(s.idle_expires_at,"
	    "  s.absolute_expires_at)))::bigint, host(s.ip), s.user_agent"
	    " FROM sessions s JOIN users u ON u.id = s.user_id"
	    " WHERE s.revoked_at IS NULL AND s.absolute_expires_at > now()"
	    " AND s.idle_expires_at > now() AND ($1::text IS NULL OR"
	    " u.username = $1) ORDER BY s.created_at DESC, s.id";
	struct latch_config cfg;
	struct db *db = NULL;
	const char *user = NULL;
	PGresult *res = NULL;
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
	if (cli_open_db(&cfg, &db) != 0 ||
	    cli_exec(db, "listing sessions", sql, 1, &user, &res) != 0)
		goto out;
	if (user != NULL && PQntuples(res) == 0) {
		/* An empty list is an answer; an unknown user is not, and
		 * must not print one first. */
		PGresult *u = NULL;

		if (cli_exec(db, "finding the user", "SELECT 1 FROM users"
		    " WHERE username = $1", 1, &user, &u) != 0)
			goto out;
		if (PQntuples(u) == 0) {
			PQclear(u);
			cli_fail("no user %s", user);
			goto out;
		}
		PQclear(u);
	}
	if (json)
		fputc('[', stdout);
	for (int i = 0; i < PQntuples(res); i++) {
		char t[3][21];
		const char *ip = PQgetisnull(res, i, 5) ? NULL :
		    PQgetvalue(res, i, 5);
		const char *ua = PQgetisnull(res, i, 6) ? NULL :
		    PQgetvalue(res, i, 6);

		for (int k = 0; k < 3; k++)
			http_format_time(strtoll(PQgetvalue(res, i, 2 + k),
			    NULL, 10), t[k]);
		if (!json) {
			printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), t[0],
			    t[1], t[2], ip != NULL ? ip : "-",
			    ua != NULL ? ua : "-");
			continue;
		}
		printf("%s{\"id\":\"%s\",\"username\":", i ? "," : "",
		    PQgetvalue(res, i, 0));
		cli_json_string(stdout, PQgetvalue(res, i, 1));
		printf(",\"created_at\":\"%s\",\"last_used_at\":\"%s\","
		    "\"expires_at\":\"%s\",\"ip\":", t[0], t[1], t[2]);
		cli_json_string(stdout, ip);
		fputs(",\"user_agent\":", stdout);
		cli_json_string(stdout, ua);
		fputc('}', stdout);
	}
	if (json)
		fputs("]\n", stdout);
	rc = 0;
out:
	PQclear(res);
	db_free(db);
	config_free(&cfg);
	return rc;
}

static int
session_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char by_id[] =
	    "UPDATE sessions SET revoked_at = now(), revoked_reason = 'admin'"
	    " WHERE id = $1::uuid AND revoked_at IS NULL";
	static const char by_user[] =
	    "WITH u AS (SELECT id FROM users WHERE username = $1),"
	    " r AS (UPDATE sessions s SET revoked_at = now(),"
	    "  revoked_reason = 'admin' FROM u WHERE s.user_id = u.id"
	    "  AND s.revoked_at IS NULL RETURNING 1)"
	    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM r)";
	struct latch_config cfg;
	struct db *db = NULL;
	const char *user = NULL, *id = NULL;
	PGresult *res = NULL;
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
	if (id != NULL) {
		if (cli_exec(db, "revoking", by_id, 1, &id, &res) != 0)
			goto out;
		if (strcmp(PQcmdTuples(res), "1") != 0) {
			cli_fail("no live session %s", id);
			goto out;
		}
		printf("revoked session %s\n", id);
	} else {
		if (cli_exec(db, "revoking", by_user, 1, &user, &res) != 0)
			goto out;
		if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
			cli_fail("no user %s", user);
			goto out;
		}
		printf("revoked %s sessions of %s\n", PQgetvalue(res, 0, 1),
		    user);
	}
	rc = 0;
out:
	PQclear(res);
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
		return session_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "revoke") == 0)
		return session_revoke(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0)
		return cli_usage(session_usage, 0);
	return cli_usage(session_usage, EXIT_USAGE);
}
