/* http.c: request parsing and response writing for CGI and FastCGI. */
#include "http.h"
#include "crypto.h"
#include "json.h"
#include "net.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Copies the header value s (NULL: absent) into *out. A value over
 * HTTP_HEADER_MAX is dropped and flagged in *too_large. Returns 0, or -1
 * when out of memory: a header that was sent but could not be copied must
 * not look absent (an Authorization header would then be a 401 where the
 * server failed). */
static int
copy_bounded(const char *s, char **out, int *too_large)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	if (strnlen(s, HTTP_HEADER_MAX + 1) > HTTP_HEADER_MAX) {
		*too_large = 1;
		return 0;
	}
	return (*out = strdup(s)) == NULL ? -1 : 0;
}

static enum http_method
parse_method(const char *m)
{
	static const struct {
		const char *name;
		enum http_method method;
	} methods[] = {
		{ "GET", HTTP_GET }, { "POST", HTTP_POST }, { "PUT", HTTP_PUT },
		{ "PATCH", HTTP_PATCH }, { "DELETE", HTTP_DELETE },
		{ "HEAD", HTTP_HEAD }, { "OPTIONS", HTTP_OPTIONS },
	};

	if (m == NULL)
		return HTTP_OTHER;
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(methods[i].name, m) == 0)
			return methods[i].method;
	return HTTP_OTHER;
}

/* 1 when the address ip is one of cfg's trusted proxies. */
static int
trusted_proxy(const struct latch_config *cfg, const char *ip)
{
	return net_in_networks(cfg->proxies, cfg->n_proxies, ip);
}

/* The client behind trusted proxies: walk X-Forwarded-For from the right,
 * skipping proxies we trust; the first other address is the client. A
 * malformed entry stops the walk at the last address we could vouch for. */
static void
resolve_client_ip(const struct latch_config *cfg, const char *remote,
    const char *xff, char out[HTTP_IP_MAX])
{
	char candidate[HTTP_IP_MAX];
	const char *end;

	if (remote == NULL ||
	    net_canonical_ip(remote, strlen(remote), out) != 0) {
		/* No usable peer address (a CGI test harness): a fixed,
		 * documented placeholder keeps the row valid. */
		snprintf(out, HTTP_IP_MAX, "0.0.0.0");
		return;
	}
	if (xff == NULL || !trusted_proxy(cfg, out))
		return;
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end, *a, *b;

		while (start > xff && start[-1] != ',')
			start--;
		a = start;
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (net_canonical_ip(a, (size_t)(b - a), candidate) != 0)
			return;
		memcpy(out, candidate, HTTP_IP_MAX);
		if (!trusted_proxy(cfg, candidate))
			return;
		end = start > xff ? start - 1 : xff;
	}
}

/* RFC 3875 section 4.1.2: CONTENT_LENGTH is 1*digit. */
static int
parse_content_length(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;

	if (s == NULL || s[0] == '\0') {
		*out = 0;
		return 0;
	}
	for (const char *p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		/* Beyond any limit: still a number, so still "too large". */
		if (v > (~0ULL - 9) / 10)
			v = ~0ULL;
		else
			v = v * 10 + (unsigned)(*p - '0');
	}
	*out = v;
	return 0;
}

int
http_request_parse(const struct http_io *io, const struct latch_config *cfg,
    struct http_request *req)
{
	const char *uri, *https, *remote;
	int big = 0;

	memset(req, 0, sizeof *req);
	req->method = parse_method(io->param(io->ctx, "REQUEST_METHOD"));

	/* REQUEST_URI is what the client asked for under every server we
	 * target; SCRIPT_NAME + PATH_INFO is the CGI fallback. */
	uri = io->param(io->ctx, "REQUEST_URI");
	if (uri != NULL) {
		size_t len = strcspn(uri, "?#");

		if (len > HTTP_PATH_MAX)
			len = HTTP_PATH_MAX + 1;        /* matches no route */
		req->path = strndup(uri, len);
	} else {
		const char *script = io->param(io->ctx, "SCRIPT_NAME");
		const char *info = io->param(io->ctx, "PATH_INFO");
		char buf[2 * HTTP_PATH_MAX + 2];

		snprintf(buf, sizeof buf, "%s%s", script ? script : "",
		    info ? info : "");
		req->path = strndup(buf, HTTP_PATH_MAX + 1);
	}
	if (req->path == NULL)
		return HTTP_ENOMEM;

	if (parse_content_length(io->param(io->ctx, "CONTENT_LENGTH"),
	    &req->content_length) != 0)
		req->bad_content_length = 1;
	if (copy_bounded(io->param(io->ctx, "CONTENT_TYPE"),
	    &req->content_type, &req->content_type_too_large) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_AUTHORIZATION"),
	    &req->authorization, &req->authorization_too_large) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_COOKIE"), &req->cookie,
	    &big) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_ORIGIN"), &req->origin,
	    &big) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_SEC_FETCH_SITE"),
	    &req->sec_fetch_site, &big) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_HOST"), &req->host,
	    &big) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_USER_AGENT"),
	    &req->user_agent, &big) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_DPOP"), &req->dpop,
	    &big) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_SECURE_SESSION_RESPONSE"),
	    &req->dbsc_response, &big) != 0 ||
	    copy_bounded(io->param(io->ctx, "HTTP_SEC_SECURE_SESSION_ID"),
	    &req->dbsc_session_id, &big) != 0)
		return HTTP_ENOMEM;
	req->header_too_large = big;

	remote = io->param(io->ctx, "REMOTE_ADDR");
	resolve_client_ip(cfg, remote, io->param(io->ctx,
	    "HTTP_X_FORWARDED_FOR"), req->client_ip);

	https = io->param(io->ctx, "HTTPS");
	req->https = https != NULL && strcasecmp(https, "on") == 0;
	if (remote != NULL && trusted_proxy(cfg, remote)) {
		const char *proto = io->param(io->ctx, "HTTP_X_FORWARDED_PROTO");

		if (proto != NULL && strcasecmp(proto, "https") == 0)
			req->https = 1;
		else if (proto != NULL && strcasecmp(proto, "http") == 0)
			req->https = 0;
	}
	return HTTP_OK;
}

int
http_read_body(const struct http_io *io, struct http_request *req, size_t max)
{
	size_t want, got = 0;
	int rc = HTTP_OK;

	if (req->content_length > max)
		return HTTP_ETOOLARGE;
	want = (size_t)req->content_length;
	if ((req->body = malloc(want + 1)) == NULL)
		return HTTP_ENOMEM;
	/* Exactly CONTENT_LENGTH bytes and not one more: RFC 3875 section
	 * 4.2 forbids reading past it, and under CGI the server may keep
	 * standard input open, so a read beyond it would wait for ever. */
	while (got < want) {
		ssize_t n = io->read(io->ctx, req->body + got, want - got);

		if (n < 0 || n == 0) {
			rc = n < 0 ? HTTP_EIO : HTTP_ESHORT;
			break;
		}
		got += (size_t)n;
	}
	if (rc != HTTP_OK) {
		/* Part of a password may have arrived. */
		crypto_wipe_free(req->body, got);
		req->body = NULL;
		return rc;
	}
	req->body[want] = '\0';
	req->body_len = want;
	return HTTP_OK;
}

void
http_wipe_params(char **envp, int client_headers_only)
{
	if (envp == NULL)
		return;
	for (char **e = envp; *e != NULL; e++) {
		char *eq = strchr(*e, '=');

		if (eq == NULL || (client_headers_only &&
		    strncmp(*e, "HTTP_", 5) != 0))
			continue;
		OPENSSL_cleanse(eq + 1, strlen(eq + 1));
	}
}

void
http_request_free(struct http_request *req)
{
	free(req->path);
	free(req->content_type);
	crypto_free_secret(req->authorization);
	crypto_free_secret(req->cookie);
	free(req->origin);
	free(req->sec_fetch_site);
	free(req->host);
	free(req->user_agent);
	free(req->dpop);
	free(req->dbsc_response);
	free(req->dbsc_session_id);
	crypto_wipe_free(req->body, req->body_len);
	memset(req, 0, sizeof *req);
}

int
http_is_json_type(const char *ct)
{
	const char *p;

	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
		return 0;
	p = ct + 16;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 1;
	if (*p++ != ';')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return 0;
	p += 8;
	if (strncasecmp(p, "utf-8", 5) == 0)
		p += 5;
	else if (strncasecmp(p, "\"utf-8\"", 7) == 0)
		p += 7;
	else
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0';
}

int
http_cookie_find(const char *header, const char *name, const char **value,
    size_t *len)
{
	size_t namelen = strlen(name);
	int count = 0;
	const char *p = header;

	if (header == NULL)
		return 0;
	/* RFC 6265 section 4.2.1: cookie-pair *( ";" SP cookie-pair ); be
	 * lenient about the spaces, strict about the name. */
	while (*p != '\0') {
		const char *end = strchr(p, ';');
		const char *eq;

		if (end == NULL)
			end = p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && (size_t)(eq - p) == namelen &&
		    memcmp(p, name, namelen) == 0) {
			const char *v = eq + 1, *ve = end;

			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
				v++;
				ve--;
			}
			count++;
			*value = v;
			*len = (size_t)(ve - v);
		}
		p = *end == ';' ? end + 1 : end;
	}
	return count;
}

int
http_bearer_token(const char *header, const char **token, size_t *len)
{
	const char *p, *end;

	/* RFC 7235 section 2.1: credentials = auth-scheme [ 1*SP token68 ].
	 * Anything but "Bearer" followed by a space or the end is another
	 * scheme (or none): no credential for us. */
	if (header == NULL || strncasecmp(header, "Bearer", 6) != 0 ||
	    (header[6] != ' ' && header[6] != '\0'))
		return HTTP_BEARER_NONE;
	p = header + 6;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return HTTP_BEARER_NONE;        /* an empty token */
	end = p;
	/* token68 (RFC 7235 section 2.1) */
	while (*end != '\0' && (isalnum((unsigned char)*end) ||
	    strchr("-._~+/", *end) != NULL))
		end++;
	if (end == p)
		return HTTP_BEARER_MALFORMED;
	while (*end == '=')
		end++;
	*len = (size_t)(end - p);
	while (*end == ' ')
		end++;
	/* Something was presented, but it is no token68: RFC 6750 section
	 * 3.1 calls that invalid_token, and API.md agrees. */
	if (*end != '\0')
		return HTTP_BEARER_MALFORMED;
	*token = p;
	return HTTP_BEARER_OK;
}

void
http_response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	resp->status = 500;
}

int
http_response_header(struct http_response *resp, const char *name,
    const char *fmt, ...)
{
	va_list ap;
	char *value;
	int n;

	if (resp->nheaders == HTTP_RESPONSE_HEADERS_MAX)
		return -1;
	/* Measured, then written into a buffer of that size: glibc's
	 * vasprintf grows its buffer by copying and frees the old ones
	 * unwiped, and a Set-Cookie value is a refresh token. */
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (value = malloc((size_t)n + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	if (vsnprintf(value, (size_t)n + 1, fmt, ap) != n) {
		va_end(ap);
		crypto_free_secret(value);
		return -1;
	}
	va_end(ap);
	resp->headers[resp->nheaders].name = name;
	resp->headers[resp->nheaders].value = value;
	resp->nheaders++;
	return 0;
}

void
http_response_json(struct http_response *resp, int status, json_object *body)
{
	json_wipe_put(resp->body);
	resp->status = status;
	resp->body = body;
}

void
http_response_error(struct http_response *resp, int status, const char *code,
    const char *description)
{
	json_object *o = json_object_new_object();

	if (o != NULL) {
		json_object_object_add(o, "error", json_object_new_string(code));
		json_object_object_add(o, "error_description",
		    json_object_new_string(description));
	}
	http_response_json(resp, status, o);
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

int
http_response_write(const struct http_io *io, struct http_response *resp)
{
	static const char oom_body[] = "{\"error\":\"server_error\","
	    "\"error_description\":\"The server could not complete the "
	    "request\"}";
	char line[HTTP_HEADER_MAX + 64];
	char *text = NULL;
	const char *body = NULL;
	size_t body_len = 0, used = 0;
	int n, rc = -1;

	if (resp->body != NULL &&
	    json_serialize(resp->body, &text, &body_len) == JSON_OK) {
		body = text;
	} else if (resp->status != 204) {
		/* Only reachable when memory ran out while building it. */
		resp->status = 500;
		resp->nheaders = 0;
		body = oom_body;
		body_len = sizeof oom_body - 1;
	}
	n = snprintf(line, sizeof line, "Status: %d %s\r\n%s"
	    "Cache-Control: no-store\r\nPragma: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n", resp->status,
	    reason_phrase(resp->status),
	    body != NULL ? "Content-Type: application/json\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof line || io->write(io->ctx, line,
	    (size_t)n) != 0)
		goto out;
	for (size_t i = 0; i < resp->nheaders; i++) {
		n = snprintf(line, sizeof line, "%s: %s\r\n",
		    resp->headers[i].name, resp->headers[i].value);
		if (n > 0 && (size_t)n > used)
			used = (size_t)n < sizeof line ? (size_t)n :
			    sizeof line - 1;
		if (n < 0 || (size_t)n >= sizeof line)
			continue;       /* never reached: our values are short */
		if (io->write(io->ctx, line, (size_t)n) != 0)
			goto out;
	}
	if (io->write(io->ctx, "\r\n", 2) != 0)
		goto out;
	if (body != NULL && io->write(io->ctx, body, body_len) != 0)
		goto out;
	rc = 0;
out:
	/* Set-Cookie lines and bodies carry tokens: the longest header
	 * line formatted is the part of line ever used (the status line
	 * holds none; the whole of line is over 8 KiB, and wiping it all
	 * on every answer showed in a perf profile of GET /api/health). */
	OPENSSL_cleanse(line, used);
	json_text_free(text, body_len);
	return rc;
}

void
http_response_free(struct http_response *resp)
{
	for (size_t i = 0; i < HTTP_RESPONSE_HEADERS_MAX; i++)
		crypto_free_secret(resp->headers[i].value);
	/* Access and refresh tokens are string members of bodies. */
	json_wipe_put(resp->body);
	memset(resp, 0, sizeof *resp);
}

void
http_format_time(long long epoch, char out[21])
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		snprintf(out, 21, "1970-01-01T00:00:00Z");
}
