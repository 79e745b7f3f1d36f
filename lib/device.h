/* device.h: device tokens (API.md, POST /auth/login, "Device tokens";
 * OWASP "Slow Down Online Guessing Attacks with Device Cookies"). A
 * successful login gives the client a device token bound to that user; a
 * later login that presents it is limited on that device's own key, so the
 * account-wide limit that strangers fill cannot keep the owner out.
 *
 * A token is "<kid>.<43 base64url characters>": 256 random bits, and the
 * kid of the refresh key whose derived server key hashes it. Only
 * HMAC-SHA-256(key_derive(that key, "latch device token v1"), token) is
 * stored (table device_tokens, migration 006), so a dump holds nothing a
 * client could present, and a key-list rotation keeps tokens valid for as
 * long as their kid stays listed. */
#ifndef LATCH_DEVICE_H
#define LATCH_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "crypto.h"

#define DEVICE_TOKEN_MAX 128            /* bytes accepted from a client */
#define DEVICE_TOKEN_LIFETIME ((int64_t)180 * 86400)   /* seconds */

/* The stored hash of the len bytes at token. Returns 0 and fills out, or
 * -1 when token is not of the form above or names a kid that is not in
 * cfg's refresh key list (then it can be no valid token). */
int device_token_hash(const struct latch_config *cfg, const char *token,
    size_t len, unsigned char out[CRYPTO_SHA256_LEN]);

/* Issues a new device token to user_id, valid for DEVICE_TOKEN_LIFETIME
 * from app->now, replacing the user's token whose hash is old_hash (NULL:
 * none), in one statement. On DB_OK *token is a malloc'd NUL-terminated
 * string the caller wipes and frees (device_token_free); otherwise a
 * negative enum db_err and *token is NULL. */
int device_issue(struct app *app, int64_t user_id,
    const unsigned char *old_hash, char **token);

/* Forgets every device token of user_id, so that none stays trusted
 * (logout-all: the owner may be shutting an intruder out; latchctl does the
 * same when a password changes or a user is disabled). Returns DB_OK or a
 * negative enum db_err. */
int device_revoke_all(struct db *db, int64_t user_id);

/* Wipes and frees a token from device_issue. NULL is fine. */
void device_token_free(char *token);

#endif
