/* user.h: the users table. */
#ifndef LATCH_USER_H
#define LATCH_USER_H

#include <stdint.h>

#include "crypto.h"
#include "db.h"
#include "password.h"

#define USER_NAME_MAX 255       /* bytes in a username or an email */

struct user_credentials {
	int found;                      /* 0: no such user */
	int64_t id;
	int disabled;
	char password_hash[PASSWORD_HASH_MAX];
};

/* What a login (or sign-up) attempt names, as the limiter and the password
 * check need it. */
struct user_login {
	struct user_credentials cred;   /* the account the login matches */
	int64_t account_id;             /* the account limited: 0 if none */
	char folded[4 * USER_NAME_MAX + 1];     /* the name, case-folded */
	int by_email;                   /* looked up as an email */
	int device_trusted;             /* the device token is account's */
};

/* Looks up a login attempt in one statement: the credentials the name
 * matches (exact username, or email case-insensitively when by_email);
 * the account it counts against, which is the same account however it is
 * named, username or email, in any spelling that folds to it; the name
 * folded; and whether the device token whose stored hash is device_hash
 * (32 bytes, or NULL) is a live one of that account at now.
 *
 * Folding is PostgreSQL's lower() under the database's collation, the
 * expression of the unique indexes on users: the one case rule, kept in
 * the database so that what the indexes make unique, the lookup finds and
 * the limiter counts are the same thing. Returns DB_OK or a negative enum
 * db_err. */
int user_find_login(struct db *db, const char *name, int by_email,
    const unsigned char *device_hash, int64_t now, struct user_login *out);

/* Inserts a user. email may be NULL. Returns DB_OK and sets *id,
 * DB_EUNIQUE when the username or email is taken (case-insensitively), or
 * another negative enum db_err. */
int user_create(struct db *db, const char *username, const char *email,
    const char *password_hash, int64_t *id);

/* A user id in its text form (a token's "sub"): decimal digits only, no
 * sign, no leading zero, at most 18 digits (so always within int64_t and
 * the column's bigint). Returns 0 and *out, or -1. */
int user_id_parse(const char *s, int64_t *out);

/* 1 when s may be a username: 1 to USER_NAME_MAX bytes, no control
 * characters (what an operator may create with latchctl; login accepts
 * any name and finds none other); else 0. */
int user_valid_name(const char *s);

/* 1 when s may be chosen at sign-up: 3 to 32 of A-Z a-z 0-9 . _ -,
 * starting with a letter or digit, so that it is unambiguous in URLs,
 * logs and mail; else 0. Every such name is also a user_valid_name. */
int user_valid_signup_name(const char *s);

/* 1 when s is an email address as latch stores one: one '@' between a
 * non-empty local part and domain, 3 to USER_NAME_MAX bytes, no white
 * space or control characters (deliverability is the mail system's
 * business); else 0. Sign-up and latchctl both hold emails to it. */
int user_valid_email(const char *s);

/* The id of the user named exactly username into *id (0: none). Returns
 * DB_OK or a negative enum db_err. */
int user_find_id(struct db *db, const char *username, int64_t *id);

/* Sets the password hash of the user named username and forgets the
 * user's device tokens (one won with the old password is no trusted
 * device, lib/device.h); with revoke_sessions also revokes the user's
 * live sessions (reason password_changed). The database's clock: an
 * operator's command has no request's. Returns DB_OK with
 * *found 0 or 1 and the number revoked in *revoked, or a negative enum
 * db_err (nothing changed). */
int user_set_password(struct db *db, const char *username,
    const char *password_hash, int revoke_sessions, int *found,
    int64_t *revoked);

/* Disables (disabled 1: refusing logins, refreshes and access tokens,
 * revoking the live sessions with reason user_disabled and forgetting the
 * device tokens) or enables the user named username, as
 * user_set_password does.
 * Returns DB_OK with *found and *revoked (0 when enabling), or a negative
 * enum db_err. */
int user_set_disabled(struct db *db, const char *username, int disabled,
    int *found, int64_t *revoked);

/* One user, as latchctl lists them. */
struct user_info {
	const char *id;                 /* decimal */
	const char *username;
	const char *email;              /* NULL: none */
	int64_t created_at;             /* seconds since the epoch */
	int disabled;
};

/* Every user, by id; the strings point into the result it owns. */
struct user_list {
	struct user_info *items;
	size_t n;
	PGresult *res;                  /* private */
};

/* Lists the users into *out (user_list_free). Returns DB_OK, or a
 * negative enum db_err with nothing to free. */
int user_list(struct db *db, struct user_list *out);

void user_list_free(struct user_list *list);

#endif
