/* fuzz_http.c: libFuzzer harness for lib/http, the edge: the input is
 * split into CGI parameters (NAME=value lines) and a body; parsing, the
 * body limit (never reading past CONTENT_LENGTH), cookie and Bearer
 * extraction and the JSON type check must hold on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_io {
	char *names[16];
	char *values[16];
	size_t n;
	const char *body;
	size_t body_len, pos;
};

static const char *
fz_param(void *ctx, const char *name)
{
	struct fuzz_io *f = ctx;

	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

static ssize_t
fz_read(void *ctx, char *buf, size_t n)
{
	struct fuzz_io *f = ctx;
	size_t left = f->body_len - f->pos;

	if (n > left)
		n = left;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static int
fz_write(void *ctx, const char *buf, size_t n)
{
	(void)ctx;
	(void)buf;
	(void)n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const known[] = { "REQUEST_METHOD", "REQUEST_URI",
	    "CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_AUTHORIZATION",
	    "HTTP_COOKIE", "HTTP_ORIGIN", "REMOTE_ADDR", "HTTP_X_FORWARDED_FOR",
	    "HTTP_HOST", "HTTPS", "SCRIPT_NAME", "PATH_INFO" };
	struct latch_config cfg;
	struct fuzz_io f;
	struct http_io io = { &f, fz_param, fz_read, fz_write };
	struct http_request req;
	char *text = malloc(size + 1), *line, *next, *sep;
	const char *v, *tok;
	size_t len;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&f, 0, sizeof f);
	memset(&cfg, 0, sizeof cfg);
	cfg.n_proxies = 1;                      /* 127.0.0.0/8 is trusted */
	cfg.proxies[0].family = 2;
	cfg.proxies[0].addr[0] = 127;
	cfg.proxies[0].prefix = 8;
	/* Lines "i=value" until an empty line; then the body. */
	for (line = text; line != NULL && f.n < 16; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line == '\0') {
			f.body = next != NULL ? next : "";
			break;
		}
		if ((sep = strchr(line, '=')) == NULL)
			continue;
		*sep = '\0';
		f.names[f.n] = (char *)known[(unsigned char)line[0] %
		    (sizeof known / sizeof known[0])];
		f.values[f.n] = sep + 1;
		f.n++;
	}
	if (f.body == NULL)
		f.body = "";
	f.body_len = strlen(f.body);
	if (http_request_parse(&io, &cfg, &req) == HTTP_OK) {
		(void)http_read_body(&io, &req, 1024);
		/* RFC 3875 section 4.2: never a byte past CONTENT_LENGTH. */
		if (f.pos > req.content_length)
			abort();
		(void)http_is_json_type(req.content_type);
		(void)http_cookie_find(req.cookie, "refresh_token", &v, &len);
		if (http_bearer_token(req.authorization, &tok, &len) ==
		    HTTP_BEARER_OK && (len == 0 || tok < req.authorization ||
		    tok + len > req.authorization + strlen(req.authorization)))
			abort();
	}
	http_request_free(&req);
	free(text);
	return 0;
}
