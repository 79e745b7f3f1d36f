/* config.c: environment and file configuration, validated once. */
#include "config.h"
#include "crypto.h"
#include "json.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (64 * 1024)
#define CONFIG_FILE_KEYS 64
#define TEN_YEARS (3650LL * 86400)
/* The file read when LATCH_CONFIG is unset, in the home directory. */
#define CONFIG_HOME_FILE "latch.conf"

const char *const config_keys[] = {
	"DATABASE_URL", "JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET",
	"JWT_ACCESS_EXPIRES", "JWT_REFRESH_EXPIRES", "SESSION_MAX_AGE",
	"REFRESH_REUSE_GRACE", "REUSE_REVOKES", "JWT_ISSUER", "JWT_AUDIENCE",
	"BCRYPT_COST", "COOKIE_SECURE", "ALLOWED_ORIGINS", "ALLOW_SIGNUP",
	"TRUSTED_PROXIES", "MAX_BODY_BYTES", "DBSC_COOKIE_LIFETIME",
	"DATABASE_READ_URL", NULL,
};

/* The file's KEY=VALUE pairs, pointing into one owned buffer. */
struct config_file {
	char *text;                     /* CONFIG_FILE_MAX + 1 bytes */
	size_t n;
	const char *key[CONFIG_FILE_KEYS];
	const char *value[CONFIG_FILE_KEYS];
	size_t line[CONFIG_FILE_KEYS];  /* where each pair was written */
};

static void
config_file_free(struct config_file *f)
{
	/* The whole buffer: parsing cut it into strings at every line end
	 * and '=', so strlen would reach only the first line. */
	crypto_wipe_free(f->text, CONFIG_FILE_MAX + 1);
	memset(f, 0, sizeof *f);
}

static int
is_known_key(const char *key)
{
	for (size_t i = 0; config_keys[i] != NULL; i++)
		if (strcmp(config_keys[i], key) == 0)
			return 1;
	return 0;
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* A key as config files spell them: ^[A-Z][A-Z0-9_]{0,63}$. Only such a
 * key is ever named in a message. Anything else left of a line's '=' may
 * be part of a value (a key list wrapped onto the next line, a secret
 * holding '='), and a message must never show a byte of a value. */
static int
key_well_formed(const char *key)
{
	size_t i;

	if (key[0] < 'A' || key[0] > 'Z')
		return 0;
	for (i = 1; key[i] != '\0'; i++) {
		if (i == 64)
			return 0;
		if (!((key[i] >= 'A' && key[i] <= 'Z') ||
		    (key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
			return 0;
	}
	return 1;
}

/* The edit distance (Levenshtein) between two key-shaped strings of at
 * most 64 characters. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[65], cur[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) :
			    (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof cur[0]);
	}
	return prev[lb];
}

/* The known key an unknown, well-formed key is a typo of (at most three
 * edits away), or NULL. Only such a key is ever named in a message: a
 * key-shaped fragment of a wrapped secret ("CD9Q" from "CD9Q==") is
 * nowhere near a setting's name, so it is never echoed. */
static const char *
typo_of(const char *key)
{
	const char *best = NULL;
	size_t best_d = 4;

	for (size_t i = 0; config_keys[i] != NULL; i++) {
		size_t d = edit_distance(key, config_keys[i]);

		if (d < best_d) {
			best_d = d;
			best = config_keys[i];
		}
	}
	return best;
}

/* Reads the whole file into buf (CONFIG_FILE_MAX + 1 bytes) with read(2),
 * not stdio, so that no unwiped stdio buffer ever holds the secrets.
 * Returns the length, or -1 with errno set (EFBIG when over the limit). */
static ssize_t
read_file(int fd, char *buf)
{
	size_t len = 0;

	while (len <= CONFIG_FILE_MAX) {
		ssize_t n = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return (ssize_t)len;
		len += (size_t)n;
	}
	errno = EFBIG;
	return -1;
}

/* Refuses the file found in the home directory (config_home_path) unless
 * it is the account's own and private: a regular file of the effective
 * user, neither readable nor writable by group or others (it holds the
 * secrets, and a file another user can write could name their database
 * and keys), and not inside DOCUMENT_ROOT when the web server says where
 * that is (plain CGI), where anyone could download it. */
static int
config_file_private(int fd, const char *path, char *err, size_t errsz)
{
	struct stat st;
	const char *docroot = getenv("DOCUMENT_ROOT");
	char *real_doc, *real_path;
	size_t n;
	int inside;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: %s is not a regular file",
		    CONFIG_HOME_FILE, path);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(err, errsz, "%s: %s must belong to uid %u and be "
		    "readable by it alone (chmod 600)", CONFIG_HOME_FILE, path,
		    (unsigned)geteuid());
		return -1;
	}
	if (docroot == NULL || docroot[0] == '\0')
		return 0;
	real_doc = realpath(docroot, NULL);
	real_path = realpath(path, NULL);
	n = real_doc == NULL ? 0 : strlen(real_doc);
	inside = real_doc != NULL && real_path != NULL &&
	    strncmp(real_path, real_doc, n) == 0 &&
	    (real_path[n] == '/' || (n == 1 && real_doc[0] == '/'));
	free(real_doc);
	free(real_path);
	if (inside) {
		snprintf(err, errsz, "%s: %s is inside the document root %s, "
		    "where anyone can download it: move it out",
		    CONFIG_HOME_FILE, path, docroot);
		return -1;
	}
	return 0;
}

/* Reads path into f; what names the file in messages (LATCH_CONFIG, or
 * CONFIG_HOME_FILE for the one found in the home directory, which must
 * also pass config_file_private). Unknown keys are refused so that a typo
 * does not silently leave a default in place. Messages name the file and
 * the line, and a key only when it is well formed (key_well_formed);
 * never any part of a value. */
static int
config_file_read(const char *path, const char *what, struct config_file *f,
    char *err, size_t errsz)
{
	ssize_t got;
	size_t len, lineno = 0;
	char *line, *next;
	int fd = -1, continued = 0;

	memset(f, 0, sizeof *f);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errsz, "%s: cannot open %s: %s", what, path,
		    strerror(errno));
		goto fail;
	}
	if (strcmp(what, CONFIG_HOME_FILE) == 0 &&
	    config_file_private(fd, path, err, errsz) != 0)
		goto fail;
	if ((f->text = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		snprintf(err, errsz, "%s: out of memory", what);
		goto fail;
	}
	if ((got = read_file(fd, f->text)) < 0) {
		if (errno == EFBIG)
			snprintf(err, errsz, "%s: %s is over %d bytes", what,
			    path, CONFIG_FILE_MAX);
		else
			snprintf(err, errsz, "%s: cannot read %s: %s", what,
			    path, strerror(errno));
		goto fail;
	}
	len = (size_t)got;
	f->text[len] = '\0';
	if (memchr(f->text, '\0', len) != NULL) {
		snprintf(err, errsz, "%s: %s contains a NUL byte", what,
		    path);
		goto fail;
	}
	for (line = f->text; line != NULL; line = next) {
		char *eq, *key, *value;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		if ((eq = strchr(line, '=')) == NULL) {
			snprintf(err, errsz, "%s: %s line %zu: "
			    "expected KEY=VALUE", what, path, lineno);
			goto fail;
		}
		*eq = '\0';
		key = trim(line);
		if (!key_well_formed(key)) {
			snprintf(err, errsz, "%s: %s line %zu: "
			    "expected KEY=VALUE with a KEY of A-Z, 0-9 and _ "
			    "(a value must fit on one line)", what, path,
			    lineno);
			goto fail;
		}
		if (!is_known_key(key) && continued) {
			/* The value before ended in ',': this line is most
			 * likely the rest of a wrapped key list, so even a
			 * key-shaped start of it is not echoed. */
			snprintf(err, errsz, "%s: %s line %zu: "
			    "unknown key; the value on the line before ends "
			    "with ',' (a value must fit on one line)", what,
			    path, lineno);
			goto fail;
		}
		if (!is_known_key(key) && typo_of(key) != NULL) {
			snprintf(err, errsz, "%s: %s line %zu: "
			    "unknown key %s (did you mean %s?)", what,
			    path, lineno, key, typo_of(key));
			goto fail;
		}
		if (!is_known_key(key)) {
			/* Far from every setting: perhaps the rest of a value
			 * that was wrapped, so not even it is shown. */
			snprintf(err, errsz, "%s: %s line %zu: "
			    "unknown key (not shown: it is no setting's name "
			    "and may be part of a value; a value must fit on "
			    "one line)", what, path, lineno);
			goto fail;
		}
		if (f->n == CONFIG_FILE_KEYS) {
			snprintf(err, errsz, "%s: %s: more than %d "
			    "settings", what, path, CONFIG_FILE_KEYS);
			goto fail;
		}
		value = trim(eq + 1);
		continued = value[0] != '\0' && value[strlen(value) - 1] == ',';
		f->key[f->n] = key;
		f->value[f->n] = value;
		f->line[f->n] = lineno;
		f->n++;
	}
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	config_file_free(f);
	return -1;
}

struct env_and_file {
	const struct config_file *file;
};

/* The index of the file's line that sets key (the last one wins, as in a
 * shell environment file), or -1. */
static long
file_find(const struct config_file *f, const char *key)
{
	for (size_t i = f->n; i > 0; i--)
		if (strcmp(f->key[i - 1], key) == 0)
			return (long)(i - 1);
	return -1;
}

static const char *
lookup_env_then_file(void *ctx, const char *key)
{
	const struct env_and_file *ef = ctx;
	const char *v = getenv(key);
	long i;

	if (v != NULL)
		return v;
	i = file_find(ef->file, key);
	return i < 0 ? NULL : ef->file->value[i];
}

/* A refusal of a value names its key first ("KEY: ..."); when that value
 * came from the file, the file and line are added, so that the operator
 * knows where to look without the message showing the value. */
static void
add_file_line(const struct config_file *f, const char *path, char *err,
    size_t errsz)
{
	char key[65], *tail;
	size_t n = strcspn(err, ": ");
	long i;

	if (n == 0 || n >= sizeof key)
		return;
	memcpy(key, err, n);
	key[n] = '\0';
	if (!is_known_key(key) || getenv(key) != NULL ||
	    (i = file_find(f, key)) < 0)
		return;
	if ((tail = strdup(err + n)) == NULL)
		return;
	/* Truncation keeps one line; nothing more to do about it. */
	(void)snprintf(err, errsz, "%s (%s line %zu)%s", key, path, f->line[i],
	    tail);
	free(tail);
}

/* Writes into buf the path of CONFIG_HOME_FILE in the home directory of
 * the effective user, from the password database: not $HOME, which
 * neither Apache's CGI nor mod_fcgid passes to the programs it starts.
 * Returns 0, or -1 when the user has no entry, its home is not absolute,
 * or the path does not fit. */
static int
config_home_path(char *buf, size_t bufsz)
{
	struct passwd pw, *found = NULL;
	char strings[16384];
	int n;

	if (getpwuid_r(geteuid(), &pw, strings, sizeof strings, &found) != 0 ||
	    found == NULL || pw.pw_dir == NULL || pw.pw_dir[0] != '/')
		return -1;
	n = snprintf(buf, bufsz, "%s/%s", strcmp(pw.pw_dir, "/") == 0 ? "" :
	    pw.pw_dir, CONFIG_HOME_FILE);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

/* The file config_load reads, in this order: the one LATCH_CONFIG names
 * (set but empty: none at all); else CONFIG_HOME_FILE in the home
 * directory, when it exists; else none. Sets *path (NULL: none) and
 * *what, the name messages give it. */
static void
config_pick_file(char *home, size_t homesz, const char **path,
    const char **what)
{
	const char *named = getenv("LATCH_CONFIG");
	struct stat st;

	*what = "LATCH_CONFIG";
	*path = NULL;
	home[0] = '\0';
	if (named != NULL) {
		*path = named[0] != '\0' ? named : NULL;
		return;
	}
	if (config_home_path(home, homesz) != 0)
		home[0] = '\0';
	else if (stat(home, &st) == 0) {
		*what = CONFIG_HOME_FILE;
		*path = home;
	}
}

/* Adds to a refusal, when no file was read, where none was found: on a
 * shared host the error log is all an operator sees. home as
 * config_pick_file left it. */
static void
add_no_file(const char *home, char *err, size_t errsz)
{
	size_t n = strlen(err);
	const char *named = getenv("LATCH_CONFIG");

	if (n >= errsz - 1)
		return;
	/* Truncation keeps one line; nothing more to do about it. */
	if (named != NULL)
		(void)snprintf(err + n, errsz - n, " (no configuration file: "
		    "LATCH_CONFIG is empty)");
	else if (home[0] != '\0')
		(void)snprintf(err + n, errsz - n, " (no configuration file: "
		    "LATCH_CONFIG is unset and there is no %s)", home);
	else
		(void)snprintf(err + n, errsz - n, " (no configuration file: "
		    "LATCH_CONFIG is unset and uid %u has no home directory)",
		    (unsigned)geteuid());
}

int
config_load(struct latch_config *cfg, unsigned flags, char *err, size_t errsz)
{
	struct config_file file;
	struct env_and_file ef = { &file };
	char home[4096];
	const char *path, *what;
	int rc;

	memset(&file, 0, sizeof file);
	config_pick_file(home, sizeof home, &path, &what);
	if (path != NULL &&
	    config_file_read(path, what, &file, err, errsz) != 0)
		return -1;
	rc = config_load_from(cfg, flags, lookup_env_then_file, &ef, err,
	    errsz);
	if (rc != 0 && file.n > 0)
		add_file_line(&file, path, err, errsz);
	if (rc != 0 && path == NULL)
		add_no_file(home, err, errsz);
	config_file_free(&file);
	return rc;
}

int
config_parse_duration(const char *s, int64_t *seconds)
{
	int64_t v = 0, unit = 1;
	const char *p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p - '0');
		if (v > TEN_YEARS)
			return -1;
		p++;
	}
	switch (*p) {
	case '\0': break;
	case 's': unit = 1; p++; break;
	case 'm': unit = 60; p++; break;
	case 'h': unit = 3600; p++; break;
	case 'd': unit = 86400; p++; break;
	default: return -1;
	}
	if (*p != '\0' || v > TEN_YEARS / unit)
		return -1;
	*seconds = v * unit;
	return 0;
}

static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
parse_int_range(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Splits a comma list, trimming white space, calling item() for each
 * non-empty item. Returns -1 as soon as item() does. */
static int
for_each_item(const char *list, int (*item)(const char *, void *), void *ctx)
{
	char buf[4096];
	char *p, *next;
	size_t len = strlen(list);

	if (len >= sizeof buf)
		return -1;
	memcpy(buf, list, len + 1);
	for (p = buf; p != NULL; p = next) {
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		p = trim(p);
		if (*p != '\0' && item(p, ctx) != 0)
			return -1;
	}
	return 0;
}

static int
add_origin(const char *s, void *ctx)
{
	struct latch_config *cfg = ctx;

	if (cfg->n_origins == CONFIG_ORIGINS_MAX)
		return -1;
	if (net_normalize_origin(s, cfg->origins[cfg->n_origins],
	    sizeof cfg->origins[0]) != 0)
		return -1;
	cfg->n_origins++;
	return 0;
}

static int
add_proxy(const char *s, void *ctx)
{
	struct latch_config *cfg = ctx;

	if (cfg->n_proxies == CONFIG_PROXIES_MAX)
		return -1;
	if (net_parse_cidr(s, &cfg->proxies[cfg->n_proxies]) != 0)
		return -1;
	cfg->n_proxies++;
	return 0;
}

static int
dup_optional(const char *v, char **out)
{
	*out = NULL;
	if (v == NULL || v[0] == '\0')
		return 0;
	return (*out = strdup(v)) == NULL ? -1 : 0;
}

static int
load_duration(config_lookup_fn lookup, void *ctx, const char *key,
    const char *def, int allow_zero, int64_t *out, char *err, size_t errsz)
{
	const char *v = lookup(ctx, key);

	if (v == NULL || v[0] == '\0')
		v = def;
	if (config_parse_duration(v, out) != 0 || (*out == 0 && !allow_zero)) {
		snprintf(err, errsz, "%s: expected a %sduration such as 15m, "
		    "7d or 30s (suffix s, m, h or d, at most 3650d)", key,
		    allow_zero ? "" : "positive ");
		return -1;
	}
	return 0;
}

static int
load_keys(config_lookup_fn lookup, void *ctx, const char *key,
    struct keyset *ks, char *err, size_t errsz)
{
	char why[256];
	const char *v = lookup(ctx, key);

	if (v == NULL || v[0] == '\0') {
		snprintf(err, errsz, "%s is not set: give a key list "
		    "(KID:SECRET,... or one secret of at least %d bytes; "
		    "`latchctl secret gen` makes one)", key, KEY_SECRET_MIN);
		return -1;
	}
	if (keyset_parse(v, ks, why, sizeof why) != 0) {
		snprintf(err, errsz, "%s: %s", key, why);
		return -1;
	}
	return 0;
}

static int
load_bool(config_lookup_fn lookup, void *ctx, const char *key, int def,
    int *out, char *err, size_t errsz)
{
	const char *v = lookup(ctx, key);

	*out = def;
	if (v == NULL || v[0] == '\0')
		return 0;
	if (parse_bool(v, out) != 0) {
		snprintf(err, errsz, "%s: expected 0 or 1 (or true/false, "
		    "yes/no, on/off)", key);
		return -1;
	}
	return 0;
}

int
config_load_from(struct latch_config *cfg, unsigned flags,
    config_lookup_fn lookup, void *ctx, char *err, size_t errsz)
{
	const char *v;
	long long n;

	memset(cfg, 0, sizeof *cfg);
	if (dup_optional(lookup(ctx, "DATABASE_URL"), &cfg->database_url) ||
	    dup_optional(lookup(ctx, "DATABASE_READ_URL"),
	    &cfg->database_read_url) ||
	    dup_optional(lookup(ctx, "JWT_ISSUER"), &cfg->issuer) ||
	    dup_optional(lookup(ctx, "JWT_AUDIENCE"), &cfg->audience)) {
		snprintf(err, errsz, "configuration: out of memory");
		goto fail;
	}
	/* Both go into every token's claims, which jwt_sign refuses unless
	 * they are UTF-8 (as jwt_verify would): say so now, not at the first
	 * login. */
	if (cfg->issuer != NULL &&
	    !json_utf8_valid(cfg->issuer, strlen(cfg->issuer))) {
		snprintf(err, errsz, "JWT_ISSUER: not valid UTF-8");
		goto fail;
	}
	if (cfg->audience != NULL &&
	    !json_utf8_valid(cfg->audience, strlen(cfg->audience))) {
		snprintf(err, errsz, "JWT_AUDIENCE: not valid UTF-8");
		goto fail;
	}
	if (flags & CONFIG_NEED_KEYS) {
		if (load_keys(lookup, ctx, "JWT_ACCESS_SECRET",
		    &cfg->access_keys, err, errsz) != 0 ||
		    load_keys(lookup, ctx, "JWT_REFRESH_SECRET",
		    &cfg->refresh_keys, err, errsz) != 0)
			goto fail;
		if (keyset_share_secret(&cfg->access_keys, &cfg->refresh_keys)) {
			snprintf(err, errsz, "JWT_ACCESS_SECRET and "
			    "JWT_REFRESH_SECRET share a secret: each token kind "
			    "needs its own keys");
			goto fail;
		}
	}
	if (load_duration(lookup, ctx, "JWT_ACCESS_EXPIRES", "15m", 0,
	    &cfg->access_ttl, err, errsz) ||
	    load_duration(lookup, ctx, "JWT_REFRESH_EXPIRES", "7d", 0,
	    &cfg->refresh_ttl, err, errsz) ||
	    load_duration(lookup, ctx, "SESSION_MAX_AGE", "30d", 0,
	    &cfg->session_max_age, err, errsz) ||
	    load_duration(lookup, ctx, "REFRESH_REUSE_GRACE", "10s", 1,
	    &cfg->reuse_grace, err, errsz) ||
	    load_duration(lookup, ctx, "DBSC_COOKIE_LIFETIME", "10m", 1,
	    &cfg->dbsc_cookie_lifetime, err, errsz))
		goto fail;
	/* A bound session's cookie never lives longer than an unbound
	 * one's: past the inactivity lifetime it would be a session kept
	 * alive without its key. */
	if (cfg->dbsc_cookie_lifetime > cfg->refresh_ttl)
		cfg->dbsc_cookie_lifetime = cfg->refresh_ttl;

	v = lookup(ctx, "REUSE_REVOKES");
	if (v == NULL || v[0] == '\0' || strcmp(v, "session") == 0) {
		cfg->reuse_revokes = REUSE_REVOKES_SESSION;
	} else if (strcmp(v, "user") == 0) {
		cfg->reuse_revokes = REUSE_REVOKES_USER;
	} else {
		snprintf(err, errsz, "REUSE_REVOKES: expected session or "
		    "user");
		goto fail;
	}

	v = lookup(ctx, "BCRYPT_COST");
	cfg->bcrypt_cost = 12;
	if (v != NULL && v[0] != '\0') {
		if (parse_int_range(v, 4, 31, &n) != 0) {
			snprintf(err, errsz, "BCRYPT_COST: expected a whole "
			    "number from 4 to 31");
			goto fail;
		}
		cfg->bcrypt_cost = (int)n;
	}

	v = lookup(ctx, "MAX_BODY_BYTES");
	cfg->max_body = 16384;
	if (v != NULL && v[0] != '\0') {
		if (parse_int_range(v, 1024, 1048576, &n) != 0) {
			snprintf(err, errsz, "MAX_BODY_BYTES: expected a whole "
			    "number from 1024 to 1048576");
			goto fail;
		}
		cfg->max_body = (size_t)n;
	}

	if (load_bool(lookup, ctx, "COOKIE_SECURE", 1, &cfg->cookie_secure,
	    err, errsz) ||
	    load_bool(lookup, ctx, "ALLOW_SIGNUP", 0, &cfg->allow_signup, err,
	    errsz))
		goto fail;

	v = lookup(ctx, "ALLOWED_ORIGINS");
	if (v != NULL && for_each_item(v, add_origin, cfg) != 0) {
		snprintf(err, errsz, "ALLOWED_ORIGINS: expected a comma list of "
		    "at most %d origins such as https://app.example.com",
		    CONFIG_ORIGINS_MAX);
		goto fail;
	}
	v = lookup(ctx, "TRUSTED_PROXIES");
	if (v != NULL && for_each_item(v, add_proxy, cfg) != 0) {
		snprintf(err, errsz, "TRUSTED_PROXIES: expected a comma list of "
		    "at most %d IP addresses or CIDR networks",
		    CONFIG_PROXIES_MAX);
		goto fail;
	}
	return 0;
fail:
	config_free(cfg);
	return -1;
}

void
config_free(struct latch_config *cfg)
{
	if (cfg == NULL)
		return;
	/* A connection string may hold the database password. */
	crypto_free_secret(cfg->database_url);
	crypto_free_secret(cfg->database_read_url);
	free(cfg->issuer);
	free(cfg->audience);
	keyset_free(&cfg->access_keys);
	keyset_free(&cfg->refresh_keys);
	memset(cfg, 0, sizeof *cfg);
}
