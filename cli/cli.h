/* cli.h: what latchctl's subcommands share. Each subcommand is a function
 * from its arguments (argv[0] is its own name) to an exit status: 0 done,
 * 1 refused or failed (the reason on stderr), 2 bad usage. */
#ifndef LATCH_CLI_H
#define LATCH_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "app.h"
#include "config.h"
#include "db.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2

/* Prints "latchctl: <message>" on stderr; returns EXIT_REFUSED. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints text (a subcommand's usage) to stdout and returns 0 when status
 * is 0, else to stderr and returns status. */
int cli_usage(const char *text, int status);

/* Loads the configuration (keys only when flags asks). Returns 0, or -1
 * after printing why. */
int cli_load_config(struct latch_config *cfg, unsigned flags);

/* Opens the database of cfg and checks that it answers. Returns 0 and
 * *db (db_free), or -1 after printing why. */
int cli_open_db(const struct latch_config *cfg, struct db **db);

/* Runs one parameterised statement; on failure prints what failed and
 * returns -1. *res is the caller's to PQclear on success. */
int cli_exec(struct db *db, const char *what, const char *sql, int n,
    const char *const *params, PGresult **res);

/* Reads a new password: one line from stdin, or asked twice on the
 * terminal without echo. Returns its length (8 to 72 bytes), or -1 after
 * printing why. buf holds PASSWORD_MAX + 2 bytes; wipe it after use. */
long cli_read_new_password(int from_stdin, char *buf, size_t size);

/* Reports a failed lib/ call (rc a negative enum db_err or enum
 * session_err: they share lib/errors.h's codes) about what, as cli_exec
 * does. Returns 0 when rc is 0, else -1 after printing why. */
int cli_db(int rc, const char *what);

/* The process context lib/ takes, for one command: cfg, db and the clock
 * read now (an operator's command is one request). */
void cli_app(struct app *app, const struct latch_config *cfg, struct db *db);

/* Adds key: the string s (NULL: null) to the JSON object o. Returns 0, or
 * -1 when memory ran out. */
int cli_json_put(json_object *o, const char *key, const char *s);

/* Writes v (--json output) compactly, unescaped slashes, and a newline.
 * Returns 0, or -1 when memory ran out (nothing written). */
int cli_json_print(json_object *v);

int cmd_migrate(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_session(int argc, char **argv);
int cmd_secret(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_purge(int argc, char **argv);

#endif
