/* cmd_migrate.c: latchctl migrate: numbered SQL files applied in order,
 * each once and in its own transaction, recorded in schema_migrations,
 * under a transaction's advisory lock so that two hosts migrating at once
 * take turns; then the server settings of lib/db.h stored for the role.
 * Every transaction is whole (BEGIN to COMMIT) and nothing is kept on the
 * session between them, so it works through PgBouncer's transaction
 * pooling as well as on a direct connection. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"

#ifndef LATCH_MIGRATIONS_DIR
#define LATCH_MIGRATIONS_DIR "/usr/local/share/latch/migrations"
#endif

#define MIGRATIONS_MAX 1000
#define MIGRATION_FILE_MAX (1024 * 1024)

static const char migrate_usage[] =
    "usage: latchctl migrate [--dir DIR] [--status]\n"
    "\n"
    "Applies the pending migrations of DIR (default " LATCH_MIGRATIONS_DIR ")\n"
    "in order, each in its own transaction. --status lists them as\n"
    "\"applied NAME\" or \"pending NAME\" lines, then \"N pending\".\n";

struct migration {
	long version;
	char name[256];
};

static int
migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Lists NNN_name.sql files of dir, sorted by number. Returns the count or
 * -1 (with a message). */
static int
list_migrations(const char *dir, struct migration *out, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL) {
		fprintf(stderr, "latchctl: cannot open migrations directory "
		    "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		const char *s = e->d_name;
		size_t len = strlen(s);
		char *end;
		long v;

		if (len < 6 || len >= sizeof out[0].name ||
		    strcmp(s + len - 4, ".sql") != 0 || s[0] < '0' || s[0] > '9')
			continue;
		v = strtol(s, &end, 10);
		if (*end != '_' || v <= 0)
			continue;
		if (n == max) {
			closedir(d);
			fprintf(stderr, "latchctl: too many migrations\n");
			return -1;
		}
		out[n].version = v;
		memcpy(out[n].name, s, len + 1);
		n++;
	}
	closedir(d);
	qsort(out, n, sizeof out[0], migration_cmp);
	for (size_t i = 1; i < n; i++)
		if (out[i].version == out[i - 1].version) {
			fprintf(stderr, "latchctl: two migrations numbered %ld\n",
			    out[i].version);
			return -1;
		}
	return (int)n;
}

static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len;

	if (fp == NULL)
		return NULL;
	if ((buf = malloc(MIGRATION_FILE_MAX + 1)) == NULL)
		goto out;
	len = fread(buf, 1, MIGRATION_FILE_MAX + 1, fp);
	if (ferror(fp) || len > MIGRATION_FILE_MAX) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[len] = '\0';
out:
	fclose(fp);
	return buf;
}

/* Runs sql (a constant or a trusted migration file) and checks that it
 * succeeded. Returns 0, or -1 after printing the server's message. */
static int
run(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "latchctl: %s failed: %s", what,
		    PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Opens the transaction every step of migrate runs in: the migrations'
 * lock, held to its end (a lock of the session would stay behind on a
 * pooler's server connection), and no timeout of latch's own (db.h's
 * settings, stored for the role: a migration may take minutes on a big
 * table). Returns 0 or -1 after a message. */
static int
begin_locked(PGconn *conn)
{
	if (run(conn, "BEGIN", "BEGIN") != 0)
		return -1;
	if (run(conn, "SET LOCAL client_min_messages = warning; "
	    "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0; "
	    "SET LOCAL idle_in_transaction_session_timeout = 0; "
	    "SELECT pg_advisory_xact_lock(7316001)", "locking") != 0) {
		run(conn, "ROLLBACK", "ROLLBACK");
		return -1;
	}
	return 0;
}

/* Stores lib/db.h's server settings as the defaults of the role we are
 * connected as, in this database, so that every server connection
 * latch's statements land on has them from its start (db.h says why).
 * Each ALTER ROLE is made by format() from the names and values, so
 * quoted by the server. Returns 0, or -1 after a message that says what
 * to run instead. */
static int
store_role_settings(PGconn *conn)
{
	PGresult *res;

	/* Under the lock: two hosts storing them at once would collide on
	 * the catalog's row ("tuple concurrently updated"). */
	if (begin_locked(conn) != 0)
		return -1;
	for (size_t i = 0; i < DB_SETTINGS_COUNT; i++) {
		const char *params[2] = { db_settings[i].name,
		    db_settings[i].value };
		res = PQexecParams(conn, "SELECT format("
		    "'ALTER ROLE %I IN DATABASE %I SET %s = %L', current_user,"
		    " current_database(), $1::text, $2::text)", 2, NULL, params,
		    NULL, NULL, 0);
		int rc;

		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1) {
			fprintf(stderr, "latchctl: storing the role's settings "
			    "failed: %s", PQerrorMessage(conn));
			PQclear(res);
			run(conn, "ROLLBACK", "ROLLBACK");
			return -1;
		}
		rc = run(conn, PQgetvalue(res, 0, 0), "storing the role's "
		    "settings");
		if (rc != 0)
			fprintf(stderr, "latchctl: as a role that may, run: "
			    "%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		if (rc != 0) {
			run(conn, "ROLLBACK", "ROLLBACK");
			return -1;
		}
	}
	if (run(conn, "COMMIT", "COMMIT") != 0)
		return -1;
	/* Whose they are: the role latchctl connected as, which must be
	 * the one latch's processes use. */
	res = PQexec(conn, "SELECT current_user, current_database()");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		printf("server settings stored for role %s in database %s\n",
		    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

static int
is_applied(PGconn *conn, long version, int *applied)
{
	char v[24];
	const char *params[1] = { v };
	PGresult *res;

	snprintf(v, sizeof v, "%ld", version);
	res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE "
	    "version = $1::integer", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "latchctl: reading schema_migrations failed: %s",
		    PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	*applied = PQntuples(res) == 1;
	PQclear(res);
	return 0;
}

static int
apply_one(PGconn *conn, const char *dir, const struct migration *m)
{
	char path[4096], v[24];
	const char *params[2] = { v, m->name };
	char *sql;
	PGresult *res;
	int n, applied = 0;

	n = snprintf(path, sizeof path, "%s/%s", dir, m->name);
	if (n < 0 || (size_t)n >= sizeof path)
		return cli_fail("migration path too long: %s", m->name);
	if ((sql = read_file(path)) == NULL)
		return cli_fail("cannot read %s (missing, unreadable or over 1 MiB)",
		    path);
	snprintf(v, sizeof v, "%ld", m->version);
	/* Each migration and its record commit together, or not at all,
	 * under the lock; another host may have applied it while we waited
	 * for the lock. */
	if (begin_locked(conn) != 0) {
		free(sql);
		return EXIT_REFUSED;
	}
	if (is_applied(conn, m->version, &applied) != 0 || applied) {
		free(sql);
		run(conn, "ROLLBACK", "ROLLBACK");
		return applied ? 0 : EXIT_REFUSED;
	}
	if (run(conn, sql, m->name) != 0) {
		free(sql);
		run(conn, "ROLLBACK", "ROLLBACK");
		return EXIT_REFUSED;
	}
	free(sql);
	res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) "
	    "VALUES ($1::integer, $2)", 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "latchctl: recording %s failed: %s", m->name,
		    PQerrorMessage(conn));
		PQclear(res);
		run(conn, "ROLLBACK", "ROLLBACK");
		return EXIT_REFUSED;
	}
	PQclear(res);
	if (run(conn, "COMMIT", "COMMIT") != 0)
		return EXIT_REFUSED;
	printf("applied %s\n", m->name);
	return 0;
}

int
cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "status", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct migration list[MIGRATIONS_MAX];
	struct latch_config cfg;
	const char *dir = LATCH_MIGRATIONS_DIR;
	PGconn *conn = NULL;
	int c, n, status_only = 0, rc = EXIT_REFUSED, pending = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's': status_only = 1; break;
		case 'h': return cli_usage(migrate_usage, 0);
		default: return cli_usage(migrate_usage, EXIT_USAGE);
		}
	}
	if (optind != argc)
		return cli_usage(migrate_usage, EXIT_USAGE);
	if (cli_load_config(&cfg, 0) != 0)
		return EXIT_REFUSED;
	if ((n = list_migrations(dir, list, MIGRATIONS_MAX)) < 0)
		goto out;
	conn = PQconnectdb(cfg.database_url != NULL ? cfg.database_url : "");
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "latchctl: cannot connect to the database: %s",
		    PQerrorMessage(conn));
		goto out;
	}
	/* Two hosts migrating at once take turns, migration by migration;
	 * the second finds nothing left to do. */
	if (begin_locked(conn) != 0)
		goto out;
	if (run(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())",
	    "creating schema_migrations") != 0 ||
	    run(conn, "COMMIT", "COMMIT") != 0) {
		run(conn, "ROLLBACK", "ROLLBACK");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int applied;

		if (is_applied(conn, list[i].version, &applied) != 0)
			goto out;
		if (status_only) {
			printf("%s %s\n", applied ? "applied" : "pending",
			    list[i].name);
			pending += !applied;
			continue;
		}
		if (!applied && apply_one(conn, dir, &list[i]) != 0)
			goto out;
	}
	if (!status_only) {
		if (store_role_settings(conn) != 0)
			goto out;
		printf("schema up to date (%d migrations)\n", n);
	}
	rc = 0;
out:
	if (conn != NULL)
		PQfinish(conn);
	config_free(&cfg);
	if (rc == 0 && status_only)
		printf("%d pending\n", pending);
	return rc;
}

