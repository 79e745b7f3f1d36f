/* user.h: the users table. */
#ifndef LATCH_USER_H
#define LATCH_USER_H

#include <stdint.h>

#include "db.h"
#include "password.h"

#define USER_NAME_MAX 255       /* bytes in a username or an email */

struct user_credentials {
	int found;                      /* 0: no such user */
	int64_t id;
	int disabled;
	char password_hash[PASSWORD_HASH_MAX];
};

/* Looks up the user a login names: by exact username, or by email
 * (case-insensitively) when username is NULL. Returns DB_OK with
 * out->found 0 or 1, or a negative enum db_err. */
int user_find_credentials(struct db *db, const char *username,
    const char *email, struct user_credentials *out);

/* Inserts a user. email may be NULL. Returns DB_OK and sets *id,
 * DB_EUNIQUE when the username or email is taken (case-insensitively), or
 * another negative enum db_err. */
int user_create(struct db *db, const char *username, const char *email,
    const char *password_hash, int64_t *id);

#endif
