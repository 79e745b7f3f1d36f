/* password.c: crypt_rn verification and crypt_gensalt_rn hashing. */
#include "password.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct password_ctx {
	struct crypt_data *scratch;     /* 32 KiB: keep it off the stack */
	int cost;
	char dummy[CRYPT_GENSALT_OUTPUT_SIZE];
};

int
password_ctx_new(int cost, struct password_ctx **out)
{
	struct password_ctx *ctx;

	if (cost < 4 || cost > 31)
		return -1;
	if ((ctx = calloc(1, sizeof *ctx)) == NULL)
		return -1;
	/* crypt_data must start zeroed (crypt.h). */
	if ((ctx->scratch = calloc(1, sizeof *ctx->scratch)) == NULL)
		goto fail;
	ctx->cost = cost;
	/* A setting is enough to make crypt do a full bcrypt of that cost;
	 * no hash can equal it, so the dummy never verifies. */
	if (crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, ctx->dummy,
	    sizeof ctx->dummy) == NULL || ctx->dummy[0] == '*')
		goto fail;
	*out = ctx;
	return 0;
fail:
	password_ctx_free(ctx);
	return -1;
}

void
password_ctx_free(struct password_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->scratch != NULL) {
		OPENSSL_cleanse(ctx->scratch, sizeof *ctx->scratch);
		free(ctx->scratch);
	}
	OPENSSL_cleanse(ctx, sizeof *ctx);
	free(ctx);
}

/* crypt wants a C string; the caller's buffer may not be one. */
static int
copy_password(const char *pw, size_t pwlen, char buf[PASSWORD_MAX + 1])
{
	if (pwlen > PASSWORD_MAX || memchr(pw, '\0', pwlen) != NULL)
		return -1;
	memcpy(buf, pw, pwlen);
	buf[pwlen] = '\0';
	return 0;
}

/* A hash we can ever verify: libxcrypt accepts its setting as current or
 * legacy. "*", "!" and other locked or garbage values are refused. */
static int
hash_usable(const char *stored)
{
	int st;

	if (stored == NULL || stored[0] == '\0' || stored[0] == '*' ||
	    stored[0] == '!' || strlen(stored) >= CRYPT_OUTPUT_SIZE)
		return 0;
	st = crypt_checksalt(stored);
	return st == CRYPT_SALT_OK || st == CRYPT_SALT_METHOD_LEGACY;
}

enum password_result
password_verify(struct password_ctx *ctx, const char *pw, size_t pwlen,
    const char *stored)
{
	char buf[PASSWORD_MAX + 1];
	const char *setting, *h;
	enum password_result rc = PASSWORD_MISMATCH;
	int usable;

	if (copy_password(pw, pwlen, buf) != 0) {
		/* Still spend the time: the caller may answer alike. */
		buf[0] = '\0';
		stored = NULL;
	}
	usable = hash_usable(stored);
	setting = usable ? stored : ctx->dummy;
	h = crypt_rn(buf, setting, ctx->scratch, (int)sizeof *ctx->scratch);
	if (h == NULL || h[0] == '*')
		goto out;
	if (usable && strlen(h) == strlen(stored) &&
	    CRYPTO_memcmp(h, stored, strlen(stored)) == 0)
		rc = PASSWORD_OK;
out:
	OPENSSL_cleanse(buf, sizeof buf);
	OPENSSL_cleanse(ctx->scratch, sizeof *ctx->scratch);
	return rc;
}

int
password_hash(struct password_ctx *ctx, const char *pw, size_t pwlen,
    char *out, size_t outsz)
{
	char buf[PASSWORD_MAX + 1];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	size_t len;
	int rc = -1;

	if (copy_password(pw, pwlen, buf) != 0)
		goto out;
	if (crypt_gensalt_rn("$2b$", (unsigned long)ctx->cost, NULL, 0,
	    setting, sizeof setting) == NULL || setting[0] == '*')
		goto out;
	h = crypt_rn(buf, setting, ctx->scratch, (int)sizeof *ctx->scratch);
	if (h == NULL || h[0] == '*')
		goto out;
	len = strlen(h);
	if (len + 1 > outsz)
		goto out;
	memcpy(out, h, len + 1);
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof buf);
	OPENSSL_cleanse(ctx->scratch, sizeof *ctx->scratch);
	return rc;
}

int
password_needs_rehash(const char *stored, int cost)
{
	int stored_cost;

	if (stored == NULL || strncmp(stored, "$2b$", 4) != 0)
		return 1;
	if (stored[4] < '0' || stored[4] > '9' || stored[5] < '0' ||
	    stored[5] > '9' || stored[6] != '$')
		return 1;
	stored_cost = (stored[4] - '0') * 10 + (stored[5] - '0');
	return stored_cost < cost;
}
