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

#endif
