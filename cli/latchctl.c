/* latchctl.c: the operator's command: database migrations and users.
 * Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 bad
 * usage. It reads the same configuration as the FastCGI binaries. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "password.h"
#include "user.h"

#ifndef LATCH_MIGRATIONS_DIR
#define LATCH_MIGRATIONS_DIR "/usr/local/share/latch/migrations"
#endif

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define MIGRATIONS_MAX 1000
#define MIGRATION_FILE_MAX (1024 * 1024)

static const char usage_text[] =
    "usage: latchctl COMMAND [ARGS]\n"
    "\n"
    "  migrate [--dir DIR] [--status]    apply pending migrations (or list them)\n"
    "  user add NAME [--email EMAIL] [--password-stdin]\n"
    "                                    create a user; the password is asked\n"
    "                                    for (no echo) or read from stdin\n"
    "\n"
    "Configuration comes from the environment and the file named by\n"
    "LATCH_CONFIG, as for the FastCGI binaries (DATABASE_URL, BCRYPT_COST).\n"
    "Exit status: 0 done, 1 refused or failed, 2 bad usage.\n";

static int
usage(FILE *fp, int status)
{
	fputs(usage_text, fp);
	return status;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "latchctl: <message>" and returns the refusal status. */
static int
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("latchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_REFUSED;
}

static int
load_config(struct latch_config *cfg)
{
	char err[512];

	if (config_load(cfg, 0, err, sizeof err) != 0) {
		fprintf(stderr, "latchctl: configuration error: %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- migrate ---- */

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
	int n;

	n = snprintf(path, sizeof path, "%s/%s", dir, m->name);
	if (n < 0 || (size_t)n >= sizeof path)
		return fail("migration path too long: %s", m->name);
	if ((sql = read_file(path)) == NULL)
		return fail("cannot read %s (missing, unreadable or over 1 MiB)",
		    path);
	snprintf(v, sizeof v, "%ld", m->version);
	/* Each migration and its record commit together, or not at all. */
	if (run(conn, "BEGIN", "BEGIN") != 0 || run(conn, sql, m->name) != 0) {
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

static int
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
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, EXIT_USAGE);
		}
	}
	if (optind != argc)
		return usage(stderr, EXIT_USAGE);
	if (load_config(&cfg) != 0)
		return EXIT_REFUSED;
	if ((n = list_migrations(dir, list, MIGRATIONS_MAX)) < 0)
		goto out;
	conn = PQconnectdb(cfg.database_url != NULL ? cfg.database_url : "");
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "latchctl: cannot connect to the database: %s",
		    PQerrorMessage(conn));
		goto out;
	}
	/* Two hosts migrating at once take turns; the second finds
	 * nothing left to do. */
	if (run(conn, "SET client_min_messages = warning", "setup") != 0 ||
	    run(conn, "SELECT pg_advisory_lock(7316001)", "locking") != 0 ||
	    run(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())",
	    "creating schema_migrations") != 0)
		goto out;
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
	if (!status_only)
		printf("schema up to date (%d migrations)\n", n);
	rc = 0;
out:
	if (conn != NULL)
		PQfinish(conn);
	config_free(&cfg);
	(void)pending;
	return rc;
}

/* ---- user add ---- */

/* Reads one line (without its newline) into buf. Returns its length, or
 * -1 when it is too long or unreadable. */
static long
read_line(FILE *fp, char *buf, size_t size)
{
	size_t len;

	if (fgets(buf, (int)size, fp) == NULL)
		return -1;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (!feof(fp))
		return -1;      /* longer than the buffer */
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return (long)len;
}

static long
prompt_password(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	long len;

	if (tty == NULL)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) != 0) {
		fclose(tty);
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	len = read_line(tty, buf, size);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	return len;
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

static int
cmd_user_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'e' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct latch_config cfg;
	struct password_ctx *pw = NULL;
	struct db *db = NULL;
	const char *email = NULL, *name;
	char password[PASSWORD_MAX + 2], again[PASSWORD_MAX + 2];
	char hash[PASSWORD_HASH_MAX];
	int64_t id;
	long len;
	int c, from_stdin = 0, rc = EXIT_REFUSED;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': email = optarg; break;
		case 'p': from_stdin = 1; break;
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, EXIT_USAGE);
		}
	}
	if (optind + 1 != argc)
		return usage(stderr, EXIT_USAGE);
	name = argv[optind];
	if (!valid_name(name))
		return fail("invalid username: 1 to %d bytes, no control "
		    "characters", USER_NAME_MAX);
	if (email != NULL && (!valid_name(email) || strchr(email, '@') == NULL))
		return fail("invalid email address");
	if (load_config(&cfg) != 0)
		return EXIT_REFUSED;

	if (from_stdin) {
		len = read_line(stdin, password, sizeof password);
	} else {
		len = prompt_password("Password: ", password, sizeof password);
		if (len >= 0 && prompt_password("Again: ", again,
		    sizeof again) != len)
			len = -2;
		else if (len >= 0 && strcmp(password, again) != 0)
			len = -2;
		OPENSSL_cleanse(again, sizeof again);
	}
	if (len == -2) {
		rc = fail("the passwords differ");
		goto out;
	}
	if (len < 8 || len > PASSWORD_MAX) {
		rc = fail("the password must be 8 to 72 bytes");
		goto out;
	}
	if (password_ctx_new(cfg.bcrypt_cost, &pw) != 0 ||
	    password_hash(pw, password, (size_t)len, hash, sizeof hash) != 0) {
		rc = fail("hashing the password failed");
		goto out;
	}
	if (db_new(cfg.database_url, "latchctl", &db) != DB_OK)
		goto out;
	switch (user_create(db, name, email, hash, &id)) {
	case DB_OK:
		printf("created user %s (id %lld)\n", name, (long long)id);
		rc = 0;
		break;
	case DB_EUNIQUE:
		rc = fail("user %s already exists (username or email taken)",
		    name);
		break;
	case DB_EUNAVAILABLE:
		rc = fail("cannot reach the database");
		break;
	default:
		rc = fail("creating the user failed");
		break;
	}
out:
	OPENSSL_cleanse(password, sizeof password);
	OPENSSL_cleanse(hash, sizeof hash);
	password_ctx_free(pw);
	db_free(db);
	config_free(&cfg);
	return rc;
}

static int
cmd_user(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	if (strcmp(argv[1], "add") == 0)
		return cmd_user_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0)
		return usage(stdout, 0);
	return usage(stderr, EXIT_USAGE);
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "migrate", cmd_migrate },
	{ "user", cmd_user },
};

int
main(int argc, char **argv)
{
	log_init("latchctl");
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		return usage(stdout, 0);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, argv[1]) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "latchctl: unknown command %s\n", argv[1]);
	return usage(stderr, EXIT_USAGE);
}
