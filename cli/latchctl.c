/* latchctl.c: the operator's command. One subcommand per routine task;
 * each reads the same configuration as the FastCGI binaries and answers
 * with plain lines (or --json for lists) and an exit status: 0 done,
 * 1 refused or failed, 2 bad usage. */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>

#include "cli.h"
#include "errors.h"
#include "log.h"
#include "password.h"

static const char usage_text[] =
    "usage: latchctl COMMAND [ARGS]   (latchctl COMMAND --help for more)\n"
    "\n"
    "  migrate [--dir DIR] [--status]      apply pending migrations (or list)\n"
    "  user add NAME [--email E] [--password-stdin]\n"
    "  user passwd NAME [--password-stdin] [--keep-sessions]\n"
    "  user disable NAME | user enable NAME\n"
    "  user list [--json]\n"
    "  session list [USER] [--json]\n"
    "  session revoke ID | session revoke --user NAME\n"
    "  secret gen [--kid ID]               a new 256-bit signing key\n"
    "  config check                        validate configuration and database\n"
    "  config keys                         the settings' names, one a line\n"
    "  purge [--batch N]                   delete ended sessions and old rows\n"
    "\n"
    "Configuration comes from the environment and the file named by\n"
    "LATCH_CONFIG (DATABASE_URL, BCRYPT_COST, the key lists, ...).\n"
    "Exit status: 0 done, 1 refused or failed, 2 bad usage.\n";

int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("latchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_REFUSED;
}

int
cli_usage(const char *text, int status)
{
	fputs(text, status == 0 ? stdout : stderr);
	return status;
}

int
cli_load_config(struct latch_config *cfg, unsigned flags)
{
	char err[512];

	if (config_load(cfg, flags, err, sizeof err) != 0) {
		fprintf(stderr, "latchctl: configuration error: %s\n", err);
		return -1;
	}
	return 0;
}

int
cli_open_db(const struct latch_config *cfg, struct db **db)
{
	if (db_new(cfg->database_url, "latchctl", db) != DB_OK) {
		cli_fail("out of memory");
		return -1;
	}
	if (db_ping(*db) != DB_OK) {
		cli_fail("cannot reach the database (DATABASE_URL)");
		db_free(*db);
		*db = NULL;
		return -1;
	}
	return 0;
}

int
cli_exec(struct db *db, const char *what, const char *sql, int n,
    const char *const *params, PGresult **res)
{
	return cli_db(db_exec(db, sql, n, params, 0, res), what);
}

/* Reads one line (without its newline). Returns its length, or -1 when
 * it is too long or unreadable. */
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

long
cli_read_new_password(int from_stdin, char *buf, size_t size)
{
	char again[PASSWORD_MAX + 2];
	long len;

	if (from_stdin) {
		len = read_line(stdin, buf, size);
	} else {
		len = prompt_password("Password: ", buf, size);
		if (len < 0) {
			cli_fail("no terminal to ask on: use --password-stdin");
			return -1;
		}
		if (prompt_password("Again: ", again, sizeof again) != len ||
		    strcmp(buf, again) != 0) {
			OPENSSL_cleanse(again, sizeof again);
			cli_fail("the passwords differ");
			return -1;
		}
		OPENSSL_cleanse(again, sizeof again);
	}
	if (len < 8 || len > PASSWORD_MAX || strlen(buf) != (size_t)len) {
		cli_fail("the password must be 8 to 72 bytes");
		return -1;
	}
	return len;
}

int
cli_db(int rc, const char *what)
{
	if (rc == 0)
		return 0;
	if (rc == LATCH_EUNAVAILABLE)
		cli_fail("%s: cannot reach the database", what);
	else
		cli_fail("%s failed (is the schema up to date? latchctl migrate)",
		    what);
	return -1;
}

void
cli_app(struct app *app, const struct latch_config *cfg, struct db *db)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(app, 0, sizeof *app);
	app->cfg = cfg;
	app->db = db;
	app->now = (int64_t)ts.tv_sec;
	app->now_usec = ts.tv_nsec / 1000;
}

int
cli_json_put(json_object *o, const char *key, const char *s)
{
	json_object *v = NULL;

	if (s != NULL && (v = json_object_new_string(s)) == NULL)
		return -1;
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

int
cli_json_print(json_object *v)
{
	const char *text = json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (text == NULL)
		return -1;
	printf("%s\n", text);
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "migrate", cmd_migrate },
	{ "user", cmd_user },
	{ "session", cmd_session },
	{ "secret", cmd_secret },
	{ "config", cmd_config },
	{ "purge", cmd_purge },
};

int
main(int argc, char **argv)
{
	log_init("latchctl");
	if (argc < 2)
		return cli_usage(usage_text, EXIT_USAGE);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		return cli_usage(usage_text, 0);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, argv[1]) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "latchctl: unknown command %s\n", argv[1]);
	return cli_usage(usage_text, EXIT_USAGE);
}
