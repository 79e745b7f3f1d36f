/* password.c: crypt_rn verification and crypt_gensalt_rn hashing.
 *
 * Why failures are padded in CPU time, not slept to a wall-clock target:
 * an unknown name costs one bcrypt of the dummy at the configured cost,
 * which is CPU work, so its wall-clock time stretches with the share of
 * a core the process gets. An attacker can make the machine busy (with
 * logins of unknown names, if nothing else). A failure padded by sleeping
 * up to a duration measured earlier would stay short while real bcrypts
 * grow, and imported accounts would show exactly when the host is loaded.
 * Padding with CPU work until the thread's CPU clock has reached the CPU
 * time of a full-cost check makes both paths the same amount of work,
 * scheduled alike: under contention both stretch by the same factor.
 * The CPU time of a bcrypt of fixed cost hardly depends on the load, so
 * one measurement per process is enough (each further full-cost run moves
 * the estimate a little, following frequency or SMT changes). A fresh
 * process measures lazily, inside its first padded failure, from a bcrypt
 * of a quarter of the work scaled up, which then counts as part of the
 * padding: CGI, a fresh process per request, never pays a calibration at
 * start and still pads its one failure precisely. The padding spends no
 * more CPU than the unknown-name path already does: one full check per
 * failure, whatever the stored scheme. */
#include "password.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILLER_COST 4           /* one unit of padding: about 1 ms of CPU */

struct password_ctx {
	struct crypt_data *scratch;     /* 32 KiB: keep it off the stack */
	int cost;
	long long full_ns;              /* CPU ns of one full-cost check; 0:
	                                 * not measured yet */
	unsigned long samples;
	unsigned long padded;
	char dummy[CRYPT_GENSALT_OUTPUT_SIZE];
	char filler[CRYPT_GENSALT_OUTPUT_SIZE];
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
	if (crypt_gensalt_rn("$2b$", FILLER_COST, NULL, 0, ctx->filler,
	    sizeof ctx->filler) == NULL || ctx->filler[0] == '*')
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

/* The cost of a bcrypt setting or hash ("$2b$12$..."), or -1 when s is
 * not one. */
static int
bcrypt_cost(const char *s)
{
	if (s == NULL || s[0] != '$' || s[1] != '2' || s[2] == '\0' ||
	    strchr("abxy", s[2]) == NULL || s[3] != '$')
		return -1;
	if (s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' ||
	    s[6] != '$')
		return -1;
	return (s[4] - '0') * 10 + (s[5] - '0');
}

int
password_at_full_cost(const char *stored, int cost)
{
	return bcrypt_cost(stored) >= cost;
}

/* This thread's CPU time in ns, or -1. */
static long long
cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Folds the CPU time since start (a crypt at exactly ctx's cost) into the
 * estimate: the first sample sets it, later ones move it by a quarter, so
 * one odd run cannot shift the target much. */
static void
record_full_cost(struct password_ctx *ctx, long long start)
{
	long long end = cpu_ns();

	if (start < 0 || end <= start)
		return;
	ctx->full_ns = ctx->full_ns == 0 ? end - start :
	    (3 * ctx->full_ns + (end - start)) / 4;
	ctx->samples++;
}

/* Measures a bcrypt CALIB_STEPS costs below ctx's and scales it up (each
 * step doubles the work; two steps down, the fixed part of a bcrypt is far
 * below 1 % of it), so a process without an estimate learns one for a
 * quarter of a full check, and that quarter is part of the padding.
 * Returns 0, or -1 (no clock, a failed crypt, a cost too low to step). */
#define CALIB_STEPS 2

static int
calibrate(struct password_ctx *ctx)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	long long t0, t1;
	int low = ctx->cost - CALIB_STEPS;
	const char *h;

	if (low < 4 || crypt_gensalt_rn("$2b$", (unsigned long)low, NULL, 0,
	    setting, sizeof setting) == NULL || setting[0] == '*')
		return -1;
	if ((t0 = cpu_ns()) < 0)
		return -1;
	h = crypt_rn("", setting, ctx->scratch, (int)sizeof *ctx->scratch);
	if (h == NULL || h[0] == '*' || (t1 = cpu_ns()) <= t0)
		return -1;
	ctx->full_ns = (t1 - t0) << CALIB_STEPS;
	ctx->samples++;
	return 0;
}

/* Brings a failed check that began at CPU time start up to the cost of a
 * full one (see the top of the file), calibrating first when this process
 * has no estimate yet. Without a CPU clock (or a cost too low to
 * calibrate below), the dummy itself is the padding, and is measured.
 * Overshoot is at most one filler run. */
static void
pad_failure(struct password_ctx *ctx, long long start)
{
	long long now;

	ctx->padded++;
	if (start >= 0 && (ctx->full_ns > 0 || calibrate(ctx) == 0)) {
		while ((now = cpu_ns()) >= 0 && now - start < ctx->full_ns)
			(void)crypt_rn("", ctx->filler, ctx->scratch,
			    (int)sizeof *ctx->scratch);
		if (now >= 0)
			return;
	}
	now = cpu_ns();
	if (crypt_rn("", ctx->dummy, ctx->scratch,
	    (int)sizeof *ctx->scratch) != NULL)
		record_full_cost(ctx, now);
}

enum password_result
password_verify(struct password_ctx *ctx, const char *pw, size_t pwlen,
    const char *stored)
{
	char buf[PASSWORD_MAX + 1];
	const char *setting, *h;
	enum password_result rc = PASSWORD_MISMATCH;
	long long start = cpu_ns();
	int usable, full = 0;

	if (copy_password(pw, pwlen, buf) != 0) {
		/* Still spend the time: the caller may answer alike. */
		buf[0] = '\0';
		stored = NULL;
	}
	usable = hash_usable(stored);
	setting = usable ? stored : ctx->dummy;
	h = crypt_rn(buf, setting, ctx->scratch, (int)sizeof *ctx->scratch);
	if (h != NULL && h[0] != '*') {
		/* Only a run at exactly our cost measures the target; a
		 * higher-cost hash would inflate it. */
		if (bcrypt_cost(setting) == ctx->cost)
			record_full_cost(ctx, start);
		full = password_at_full_cost(setting, ctx->cost);
		if (usable && strlen(h) == strlen(stored) &&
		    CRYPTO_memcmp(h, stored, strlen(stored)) == 0)
			rc = PASSWORD_OK;
	}
	/* A match is not padded: it goes on to rehash such a hash anyway. */
	if (rc != PASSWORD_OK && !full)
		pad_failure(ctx, start);
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
	long long start;
	int rc = -1;

	if (copy_password(pw, pwlen, buf) != 0)
		goto out;
	if (crypt_gensalt_rn("$2b$", (unsigned long)ctx->cost, NULL, 0,
	    setting, sizeof setting) == NULL || setting[0] == '*')
		goto out;
	start = cpu_ns();
	h = crypt_rn(buf, setting, ctx->scratch, (int)sizeof *ctx->scratch);
	if (h == NULL || h[0] == '*')
		goto out;
	record_full_cost(ctx, start);   /* a full-cost run: as good a sample */
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
	if (stored == NULL || strncmp(stored, "$2b$", 4) != 0)
		return 1;
	return bcrypt_cost(stored) < cost;
}

void
password_ctx_stats(const struct password_ctx *ctx, struct password_stats *out)
{
	out->full_cost_ns = ctx->full_ns;
	out->samples = ctx->samples;
	out->padded = ctx->padded;
}
