/* fuzz_http.c: libFuzzer harness for the request edge: lib/http (CGI
 * parameters, headers, path, Content-Length, the body) and the credential
 * readers of lib/authn that need no database (the refresh and device
 * cookies, the cross-site Origin check), in the order lib/server.c runs
 * them; then the answer is written as CGI.
 *
 * Input: a first line whose first byte chooses the configuration (bit 0
 * COOKIE_SECURE, bit 1 an ALLOWED_ORIGINS list, bit 2 trusted proxies,
 * bit 3 a body read 3 bytes at a time, bit 4 only HTTP_* parameters
 * wiped), then "NAME=value" lines (NAME one
 * of the CGI meta-variables below; any other name picks one by its first
 * byte) until an empty line; the rest is the body.
 *
 * Properties: the path is the URI's up to '?' or '#' and bounded; a
 * header is copied exactly, or dropped and flagged when over
 * HTTP_HEADER_MAX; the client address is canonical; HTTPS is believed
 * only from the server or a trusted proxy; the body is exactly
 * CONTENT_LENGTH bytes and never a byte more is read; a refresh cookie is
 * only handed out when the cross-site check passes; every pointer handed
 * out points into the header it came from; the wipe of the parameters
 * blanks every value it must and no other byte. */
#include <ctype.h>
#include <strings.h>

#include "authn.h"
#include "fuzz_common.h"
#include "http.h"
#include "json.h"
#include "net.h"

#define MAX_PARAMS 24

static const char *const known[] = {
	"REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO",
	"CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_AUTHORIZATION", "HTTP_COOKIE",
	"HTTP_ORIGIN", "HTTP_SEC_FETCH_SITE", "HTTP_HOST", "HTTP_USER_AGENT",
	"REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTPS", "HTTP_X_FORWARDED_PROTO",
};
#define N_KNOWN (sizeof known / sizeof known[0])

struct fuzz_io {
	const char *names[MAX_PARAMS];
	const char *values[MAX_PARAMS];
	size_t n;
	const char *body;
	size_t body_len, pos, chunk;
	size_t written;
	int first_write_ok;
};

/* The last value given for name wins, as in an environment. */
static const char *
fz_param(void *ctx, const char *name)
{
	struct fuzz_io *f = ctx;

	for (size_t i = f->n; i > 0; i--)
		if (strcmp(f->names[i - 1], name) == 0)
			return f->values[i - 1];
	return NULL;
}

static ssize_t
fz_read(void *ctx, char *buf, size_t n)
{
	struct fuzz_io *f = ctx;
	size_t left = f->body_len - f->pos;

	if (n > left)
		n = left;
	if (f->chunk > 0 && n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static int
fz_write(void *ctx, const char *buf, size_t n)
{
	struct fuzz_io *f = ctx;

	if (f->written == 0)
		f->first_write_ok = n >= 8 && memcmp(buf, "Status: ", 8) == 0;
	f->written += n;
	return 0;
}

static void
set_config(struct latch_config *cfg, unsigned char flags)
{
	static const char *const proxies[] = { "127.0.0.0/8", "::1/128",
	    "10.0.0.0/8" };
	static const char *const origins[] = { "https://app.example",
	    "http://localhost:8080" };

	memset(cfg, 0, sizeof *cfg);
	cfg->cookie_secure = flags & 1;
	cfg->max_body = 4096;
	if (flags & 2)
		for (size_t i = 0; i < 2; i++)
			FUZZ_CHECK(net_normalize_origin(origins[i],
			    cfg->origins[cfg->n_origins++],
			    sizeof cfg->origins[0]) == 0);
	if (flags & 4)
		for (size_t i = 0; i < 3; i++)
			FUZZ_CHECK(net_parse_cidr(proxies[i],
			    &cfg->proxies[cfg->n_proxies++]) == 0);
}

static const char *
name_of(const char *line)
{
	for (size_t i = 0; i < N_KNOWN; i++)
		if (strcmp(known[i], line) == 0)
			return known[i];
	return known[(unsigned char)line[0] % N_KNOWN];
}

/* A header as http_request_parse must have copied it. */
static void
check_copy(const char *param, const char *copy, int flagged)
{
	if (param == NULL) {
		FUZZ_CHECK(copy == NULL);
	} else if (strlen(param) > HTTP_HEADER_MAX) {
		FUZZ_CHECK(copy == NULL && flagged);
	} else {
		FUZZ_CHECK(copy != NULL && strcmp(copy, param) == 0);
	}
}

static int
over(const char *s)
{
	return s != NULL && strlen(s) > HTTP_HEADER_MAX;
}

static int
inside(const char *p, size_t len, const char *s)
{
	return s != NULL && p >= s && p + len <= s + strlen(s);
}

/* The client address, worked out again: from the peer (canonical text
 * in ip) leftwards through X-Forwarded-For while the address in hand is
 * a trusted proxy, stopping at an entry that is no address. */
static void
ref_client_ip(const struct latch_config *cfg, char ip[NET_IP_MAX],
    const char *xff)
{
	size_t end;

	if (xff == NULL)
		return;
	end = strlen(xff);
	while (net_in_networks(cfg->proxies, cfg->n_proxies, ip)) {
		size_t start = end, a, b;
		char next[NET_IP_MAX];

		while (start > 0 && xff[start - 1] != ',')
			start--;
		for (a = start; a < end && (xff[a] == ' ' || xff[a] == '\t');)
			a++;
		for (b = end; b > a && (xff[b - 1] == ' ' || xff[b - 1] == '\t');)
			b--;
		if (net_canonical_ip(xff + a, b - a, next) != 0)
			return;
		memcpy(ip, next, NET_IP_MAX);
		if (start == 0)
			return;
		end = start - 1;
	}
}

static void
check_parsed(struct fuzz_io *f, const struct latch_config *cfg,
    const struct http_request *req)
{
	const char *uri = fz_param(f, "REQUEST_URI");
	const char *remote = fz_param(f, "REMOTE_ADDR");
	const char *cl = fz_param(f, "CONTENT_LENGTH");
	const char *https = fz_param(f, "HTTPS");
	char canon[NET_IP_MAX];
	int digits = 1;

	FUZZ_CHECK(req->path != NULL);
	FUZZ_CHECK(strlen(req->path) <= HTTP_PATH_MAX + 1);
	if (uri != NULL) {
		FUZZ_CHECK(strncmp(req->path, uri, strlen(req->path)) == 0);
		FUZZ_CHECK(strpbrk(req->path, "?#") == NULL);
	}
	check_copy(fz_param(f, "CONTENT_TYPE"), req->content_type,
	    req->content_type_too_large);
	check_copy(fz_param(f, "HTTP_AUTHORIZATION"), req->authorization,
	    req->authorization_too_large);
	check_copy(fz_param(f, "HTTP_COOKIE"), req->cookie,
	    req->header_too_large);
	check_copy(fz_param(f, "HTTP_ORIGIN"), req->origin,
	    req->header_too_large);
	check_copy(fz_param(f, "HTTP_SEC_FETCH_SITE"), req->sec_fetch_site,
	    req->header_too_large);
	check_copy(fz_param(f, "HTTP_HOST"), req->host, req->header_too_large);
	check_copy(fz_param(f, "HTTP_USER_AGENT"), req->user_agent,
	    req->header_too_large);
	FUZZ_CHECK(req->header_too_large == (over(fz_param(f, "HTTP_COOKIE")) || over(fz_param(f, "HTTP_ORIGIN")) ||
	    over(fz_param(f, "HTTP_SEC_FETCH_SITE")) ||
	    over(fz_param(f, "HTTP_HOST")) ||
	    over(fz_param(f, "HTTP_USER_AGENT"))));
	FUZZ_CHECK(req->content_type_too_large ==
	    over(fz_param(f, "CONTENT_TYPE")));
	FUZZ_CHECK(req->authorization_too_large ==
	    over(fz_param(f, "HTTP_AUTHORIZATION")));

	/* CONTENT_LENGTH: 1*digit (RFC 3875 section 4.1.2), or absent. */
	for (const char *p = cl; p != NULL && *p != '\0'; p++)
		digits &= isdigit((unsigned char)*p) != 0;
	FUZZ_CHECK(req->bad_content_length == !digits);
	if (cl == NULL || cl[0] == '\0')
		FUZZ_CHECK(req->content_length == 0);

	/* The client address: canonical, or the documented placeholder. */
	FUZZ_CHECK(strnlen(req->client_ip, NET_IP_MAX) < NET_IP_MAX);
	FUZZ_CHECK(net_canonical_ip(req->client_ip, strlen(req->client_ip),
	    canon) == 0 && strcmp(canon, req->client_ip) == 0);
	if (remote == NULL || net_canonical_ip(remote, strlen(remote),
	    canon) != 0) {
		FUZZ_CHECK(strcmp(req->client_ip, "0.0.0.0") == 0);
	} else {
		ref_client_ip(cfg, canon, fz_param(f, "HTTP_X_FORWARDED_FOR"));
		FUZZ_CHECK(strcmp(req->client_ip, canon) == 0);
		/* Nobody we trust vouches for X-Forwarded-Proto. */
		if (!net_in_networks(cfg->proxies, cfg->n_proxies, remote))
			FUZZ_CHECK(req->https == (https != NULL &&
			    strcasecmp(https, "on") == 0));
	}
}

static void
check_body(struct fuzz_io *f, const struct latch_config *cfg,
    struct http_request *req)
{
	int rc;

	if (req->bad_content_length)
		return;
	rc = http_read_body(&(struct http_io){ f, fz_param, fz_read,
	    fz_write }, req, cfg->max_body);
	/* RFC 3875 section 4.2: never a byte past CONTENT_LENGTH. */
	FUZZ_CHECK(f->pos <= req->content_length);
	if (req->content_length > cfg->max_body) {
		FUZZ_CHECK(rc == HTTP_ETOOLARGE && f->pos == 0);
	} else if (f->body_len < req->content_length) {
		FUZZ_CHECK(rc == HTTP_ESHORT && req->body == NULL);
	} else {
		FUZZ_CHECK(rc == HTTP_OK);
		FUZZ_CHECK(req->body_len == req->content_length);
		FUZZ_CHECK(f->pos == req->content_length);
		FUZZ_CHECK(req->body[req->body_len] == '\0');
		FUZZ_CHECK(memcmp(req->body, f->body, req->body_len) == 0);
	}
}

/* The credentials a request presents, as the refresh, logout and login
 * handlers ask for them. */
static void
check_credentials(const struct latch_config *cfg,
    const struct http_request *req, json_object *body,
    const struct http_io *io)
{
	struct http_response resp;
	struct authn_refresh rt;
	const char *tok, *v;
	size_t len;
	int rc, n;

	n = http_cookie_find(req->cookie, authn_refresh_cookie_name(cfg), &v,
	    &len);
	FUZZ_CHECK(n >= 0);
	if (n == 1)
		FUZZ_CHECK(inside(v, len, req->cookie));

	http_response_init(&resp);
	rc = authn_refresh_token(cfg, req, body, &rt, &resp);
	if (rc == 0 && rt.token != NULL && rt.from_cookie) {
		char origin[NET_ORIGIN_MAX + 1];
		int listed = 0;

		FUZZ_CHECK(n == 1 && rt.token == v && rt.len == len);
		FUZZ_CHECK(req->sec_fetch_site == NULL ||
		    strcasecmp(req->sec_fetch_site, "cross-site") != 0);
		if (req->origin != NULL) {
			FUZZ_CHECK(net_normalize_origin(req->origin, origin,
			    sizeof origin) == 0);
			for (size_t i = 0; i < cfg->n_origins; i++)
				listed |= strcmp(cfg->origins[i], origin) == 0;
			FUZZ_CHECK(cfg->n_origins == 0 || listed);
		}
	} else if (rc == 0 && rt.token != NULL) {
		json_object *m;

		FUZZ_CHECK(body != NULL &&
		    json_object_object_get_ex(body, "refresh_token", &m) &&
		    json_object_get_string(m) == rt.token);
	} else if (rc != 0) {
		FUZZ_CHECK(resp.status == 400 || resp.status == 403);
	}
	if (rc == 0 && n > 1)
		FUZZ_CHECK(rt.token != NULL && !rt.from_cookie);

	rc = authn_device_token(cfg, req, NULL, 0, &tok, &len, &resp);
	if (rc == 0 && tok != NULL)
		FUZZ_CHECK(inside(tok, len, req->cookie) && len > 0);

	rc = http_bearer_token(req->authorization, &tok, &len);
	if (rc == HTTP_BEARER_OK)
		FUZZ_CHECK(len > 0 && inside(tok, len, req->authorization));

	FUZZ_CHECK(http_response_write(io, &resp) == 0);
	http_response_free(&resp);
}

/* http_wipe_params over the parameters as an environment: every value
 * (or every HTTP_* one) becomes NULs of its length, names untouched. */
static void
check_wipe(const struct fuzz_io *f, int client_headers_only)
{
	char *env[MAX_PARAMS + 1];
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++) {
		size_t nl = strlen(f->names[i]), vl = strlen(f->values[i]);

		if ((env[n] = malloc(nl + vl + 2)) == NULL)
			break;
		memcpy(env[n], f->names[i], nl);
		env[n][nl] = '=';
		memcpy(env[n] + nl + 1, f->values[i], vl + 1);
		n++;
	}
	env[n] = NULL;
	http_wipe_params(env, client_headers_only);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(f->names[i]), vl = strlen(f->values[i]);
		int wiped = !client_headers_only ||
		    strncmp(f->names[i], "HTTP_", 5) == 0;

		FUZZ_CHECK(memcmp(env[i], f->names[i], nl) == 0 &&
		    env[i][nl] == '=');
		for (size_t k = 0; k < vl; k++)
			FUZZ_CHECK(wiped ? env[i][nl + 1 + k] == '\0' :
			    env[i][nl + 1 + k] == f->values[i][k]);
		free(env[i]);
	}
	http_wipe_params(NULL, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct latch_config cfg;
	struct fuzz_io f;
	struct http_io io = { &f, fz_param, fz_read, fz_write };
	struct http_request req;
	json_object *body = NULL;
	char *text, *line, *next, *sep;
	unsigned char flags;

	if (size > 20000 || (text = fuzz_strndup(data, size)) == NULL)
		return 0;
	memset(&f, 0, sizeof f);
	line = text;
	flags = (unsigned char)line[0];
	set_config(&cfg, flags);
	f.chunk = (flags & 8) ? 3 : 0;
	line = strchr(line, '\n');
	line = line != NULL ? line + 1 : NULL;
	for (; line != NULL && f.n < MAX_PARAMS; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line == '\0') {
			f.body = next;
			break;
		}
		if ((sep = strchr(line, '=')) == NULL)
			continue;
		*sep = '\0';
		f.names[f.n] = name_of(line);
		f.values[f.n] = sep + 1;
		f.n++;
	}
	if (f.body == NULL)
		f.body = "";
	f.body_len = strlen(f.body);

	check_wipe(&f, flags & 16);
	FUZZ_CHECK(http_request_parse(&io, &cfg, &req) == HTTP_OK);
	check_parsed(&f, &cfg, &req);
	check_body(&f, &cfg, &req);
	if (req.body != NULL && req.body_len > 0 &&
	    http_is_json_type(req.content_type) &&
	    json_parse_object(req.body, req.body_len, &body) != JSON_OK)
		body = NULL;
	check_credentials(&cfg, &req, body, &io);
	FUZZ_CHECK(f.first_write_ok);
	json_wipe_put(body);
	http_request_free(&req);
	config_free(&cfg);
	free(text);
	return 0;
}
