/* server.c: the FastCGI / CGI request loop and the router. */
#include "server.h"

#include <fcgiapp.h>
#include <fastcgi.h>
#include <openssl/crypto.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "json.h"
#include "log.h"

/* ---- I/O over FastCGI streams ---- */

static const char *
fcgi_param(void *ctx, const char *name)
{
	FCGX_Request *r = ctx;

	return FCGX_GetParam(name, r->envp);
}

/* Reads body bytes and wipes them where libfcgi kept them: its input
 * buffer is freed unwiped at the end of the request, and a body holds a
 * password or a refresh token. The wipe uses only the public stream
 * fields: bytes waiting in the buffer are [rdNext, stop), so a read of at
 * most that many takes them from exactly there. */
static ssize_t
fcgi_read(void *ctx, char *buf, size_t n)
{
	FCGX_Request *r = ctx;
	FCGX_Stream *in = r->in;
	unsigned char *from;
	int want, got;

	if (n > 65536)
		n = 65536;
	if (in->rdNext < in->stop) {
		from = in->rdNext;
		want = (int)(n < (size_t)(in->stop - from) ? n :
		    (size_t)(in->stop - from));
		got = FCGX_GetStr(buf, want, in);
		if (got > 0)
			OPENSSL_cleanse(from, (size_t)got);
		return got < 0 ? -1 : got;
	}
	/* Nothing buffered: one byte makes libfcgi read the next record,
	 * and that byte is the one just before the new rdNext. */
	got = FCGX_GetStr(buf, 1, in);
	if (got == 1)
		OPENSSL_cleanse(in->rdNext - 1, 1);
	return got < 0 ? -1 : got;
}

static int
fcgi_write(void *ctx, const char *buf, size_t n)
{
	FCGX_Request *r = ctx;

	while (n > 0) {
		int chunk = n > 65536 ? 65536 : (int)n;

		if (FCGX_PutStr(buf, chunk, r->out) != chunk)
			return -1;
		buf += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

/* Before FCGX_Finish_r frees them unwiped: the answer (tokens in its
 * body and Set-Cookie) is flushed, which sends nothing the finish would
 * not have sent, and leaves libfcgi's output buffer empty with its whole
 * content area at [wrNext, stop), public fields; that area is wiped. Then
 * the request's parameters (Cookie, Authorization) are wiped. */
static void
fcgi_scrub(FCGX_Request *r)
{
	FCGX_Stream *out = r->out;

	if (FCGX_FFlush(out) == 0 && out->wrNext < out->stop)
		OPENSSL_cleanse(out->wrNext, (size_t)(out->stop - out->wrNext));
	http_wipe_params(r->envp, 0);
}

/* ---- I/O for plain CGI ---- */

static const char *
cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

/* read(2) and write(2) on the standard descriptors, not stdio: a stdio
 * buffer would read ahead of CONTENT_LENGTH (RFC 3875 section 4.2) and
 * keep unwiped copies of the body and of the answer, which carry
 * passwords and tokens. */
static ssize_t
cgi_read(void *ctx, char *buf, size_t n)
{
	ssize_t got;

	(void)ctx;
	do
		got = read(STDIN_FILENO, buf, n);
	while (got < 0 && errno == EINTR);
	return got;
}

static int
cgi_write(void *ctx, const char *buf, size_t n)
{
	(void)ctx;
	while (n > 0) {
		ssize_t put = write(STDOUT_FILENO, buf, n);

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return -1;
		buf += put;
		n -= (size_t)put;
	}
	return 0;
}

static const char *
method_name(enum http_method m)
{
	switch (m) {
	case HTTP_GET: return "GET";
	case HTTP_POST: return "POST";
	case HTTP_PUT: return "PUT";
	case HTTP_PATCH: return "PATCH";
	case HTTP_DELETE: return "DELETE";
	case HTTP_HEAD: return "HEAD";
	case HTTP_OPTIONS: return "OPTIONS";
	case HTTP_OTHER: break;
	}
	return "OTHER";
}

/* Matches path against a route pattern; for "/x/ *" patterns the final
 * segment (non-empty, no '/') is returned through arg. */
static int
path_matches(const char *pattern, const char *path, const char **arg)
{
	size_t plen = strlen(pattern);

	*arg = NULL;
	if (plen >= 2 && pattern[plen - 1] == '*' && pattern[plen - 2] == '/') {
		const char *rest;

		if (strncmp(pattern, path, plen - 1) != 0)
			return 0;
		rest = path + plen - 1;
		if (*rest == '\0' || strchr(rest, '/') != NULL)
			return 0;
		*arg = rest;
		return 1;
	}
	return strcmp(pattern, path) == 0;
}

/* Content type (415), size (413) and well-formedness (400) of the body,
 * in that order. Returns 0 with *body the parsed object, or NULL when the
 * body is empty; otherwise -1 with resp set. */
static int
check_body(struct app *app, const struct route *route,
    const struct http_io *io, struct http_request *req, json_object **body,
    struct http_response *resp)
{
	int empty = req->content_length == 0 && !req->bad_content_length;
	int rc;

	*body = NULL;
	/* An empty body passes whatever its type; the route decides
	 * whether empty is acceptable. */
	if (!empty && !http_is_json_type(req->content_type)) {
		http_response_error(resp, 415, "unsupported_media_type",
		    "The request body must be application/json");
		return -1;
	}
	if (req->bad_content_length) {
		http_response_error(resp, 400, "invalid_request",
		    "Content-Length is not a number");
		return -1;
	}
	rc = http_read_body(io, req, app->cfg->max_body);
	if (rc == HTTP_ETOOLARGE) {
		http_response_error(resp, 413, "payload_too_large",
		    "The request body is too large");
		return -1;
	}
	if (rc == HTTP_ESHORT || rc == HTTP_EIO) {
		http_response_error(resp, 400, "invalid_request",
		    "The request body is incomplete");
		return -1;
	}
	if (rc != HTTP_OK) {
		errors_respond(resp, LATCH_EFAIL);
		return -1;
	}
	if (req->body_len == 0 && route->body == ROUTE_BODY_JSON) {
		http_response_error(resp, 400, "invalid_request",
		    "The request body must be a JSON object");
		return -1;
	}
	if (req->body_len == 0)
		return 0;
	rc = json_parse_object(req->body, req->body_len, body);
	if (rc == JSON_ENOMEM) {
		errors_respond(resp, LATCH_EFAIL);
		return -1;
	}
	if (rc != JSON_OK) {
		http_response_error(resp, 400, "invalid_request",
		    rc == JSON_EDUPLICATE ? "The request body repeats a member" :
		    rc == JSON_ETOODEEP ? "The request body is nested too deeply" :
		    rc == JSON_ENOTOBJECT ? "The request body must be a JSON object" :
		    "The request body is not valid JSON");
		return -1;
	}
	return 0;
}

/* Everything one request goes through, in API.md's order. */
static void
serve(struct app *app, const struct route *routes, size_t nroutes,
    const struct http_io *io)
{
	struct http_request req;
	struct http_response resp;
	const struct route *route = NULL;
	const char *arg = NULL;
	json_object *body = NULL;
	char allow[64] = "";
	struct timespec ts;
	int path_known = 0;

	http_response_init(&resp);
	clock_gettime(CLOCK_REALTIME, &ts);
	app->now = (int64_t)ts.tv_sec;
	app->now_usec = ts.tv_nsec / 1000;
	if (http_request_parse(io, app->cfg, &req) != HTTP_OK) {
		errors_respond(&resp, LATCH_EFAIL);
		goto answer;
	}

	for (size_t i = 0; i < nroutes; i++) {
		const char *a;

		if (!path_matches(routes[i].path, req.path, &a) ||
		    (routes[i].enabled != NULL && !routes[i].enabled(app->cfg)))
			continue;
		path_known = 1;
		if (strlen(allow) + 10 < sizeof allow) {
			if (allow[0] != '\0')
				strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
			strncat(allow, method_name(routes[i].method),
			    sizeof allow - strlen(allow) - 1);
		}
		if (routes[i].method == req.method) {
			route = &routes[i];
			arg = a;
		}
	}
	if (!path_known) {
		http_response_error(&resp, 404, "not_found",
		    "No such endpoint");
		goto answer;
	}
	if (route == NULL) {
		http_response_error(&resp, 405, "method_not_allowed",
		    "This endpoint does not support that method");
		http_response_header(&resp, "Allow", "%s", allow);
		goto answer;
	}
	if (req.content_type_too_large) {
		http_response_error(&resp, 400, "invalid_request",
		    "The Content-Type header is too large");
		goto answer;
	}

	/* Every route runs the same body checks, in API.md's order, also
	 * those that take no body: for them a body is a JSON object whose
	 * documented members are none, so a body of another type is 415,
	 * an oversized one 413 and one with members 400, as anywhere else. */
	if (check_body(app, route, io, &req, &body, &resp) != 0)
		goto answer;
	/* After the body checks, which come first in API.md's order: an
	 * oversized Cookie, Origin or Host makes the request malformed. */
	if (req.header_too_large ||
	    (req.authorization_too_large && !route->bearer)) {
		http_response_error(&resp, 400, "invalid_request",
		    "A request header is too large");
		goto answer;
	}
	if (route->body == ROUTE_BODY_NONE && body != NULL) {
		if (json_object_object_length(body) != 0) {
			http_response_error(&resp, 400, "invalid_request",
			    "This endpoint takes no request body");
			goto answer;
		}
		/* "{}": nothing for the handler. */
		json_wipe_put(body);
		body = NULL;
	}

	route->handler(app, &req, body, arg, &resp);

answer:
	/* The connection goes back idle before the client hears anything:
	 * no transaction can leak into the next request. */
	db_end_request(app->db);
	if (resp.status >= 500)
		log_event(LOG_WARN, "request_failed", "status=%d method=%s",
		    resp.status, method_name(req.method));
	http_response_write(io, &resp);
	json_wipe_put(body);
	http_response_free(&resp);
	http_request_free(&req);
}

/* 1 when the FastCGI listening socket (descriptor 0, as the web server
 * passes it) is a Unix socket, else 0. */
static int
listens_on_unix_socket(void)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof addr;

	if (getsockname(FCGI_LISTENSOCK_FILENO, (struct sockaddr *)&addr,
	    &len) != 0)
		return 0;
	return addr.ss_family == AF_UNIX;
}

int
server_main(const char *program, const struct route *routes, size_t nroutes)
{
	struct latch_config cfg;
	struct app app;
	struct db *db = NULL;
	struct password_ctx *pw = NULL;
	char err[512];
	int status = 1;

	log_init(program);
	/* Before FCGX_Init: configuration comes from the process
	 * environment, never from a request's parameters. */
	if (config_load(&cfg, CONFIG_NEED_KEYS, err, sizeof err) != 0) {
		fprintf(stderr, "latch %s: configuration error: %s\n", program,
		    err);
		return 1;
	}
	if (db_new(cfg.database_url, program, &db) != DB_OK ||
	    password_ctx_new(cfg.bcrypt_cost, &pw) != 0) {
		fprintf(stderr, "latch %s: cannot initialise (out of memory or "
		    "no entropy)\n", program);
		goto out;
	}
	memset(&app, 0, sizeof app);
	app.cfg = &cfg;
	app.db = db;
	app.pw = pw;

	if (FCGX_Init() != 0) {
		fprintf(stderr, "latch %s: FCGX_Init failed\n", program);
		goto out;
	}
	if (FCGX_IsCGI()) {
		struct http_io io = { NULL, cgi_param, cgi_read, cgi_write };

		serve(&app, routes, nroutes, &io);
		http_wipe_params(environ, 1);
		status = 0;
		goto out;
	}
	{
		FCGX_Request fr;
		struct http_io io = { &fr, fcgi_param, fcgi_read, fcgi_write };

		if (FCGX_InitRequest(&fr, 0, 0) != 0) {
			fprintf(stderr, "latch %s: FCGX_InitRequest failed\n",
			    program);
			goto out;
		}
		log_event(LOG_INFO, "started", "mode=fastcgi");
		/* libfcgi's own SIGTERM/SIGUSR1 handlers end this loop
		 * cleanly; installing ours with signal() would hang accept. */
		int local = listens_on_unix_socket();

		while (FCGX_Accept_r(&fr) >= 0) {
			serve(&app, routes, nroutes, &io);
			fcgi_scrub(&fr);
			/* libfcgi's close otherwise shuts the connection
			 * down and waits, up to 2 s, for the web server to
			 * close its end first: a lingering close, which
			 * keeps unread input from turning into a TCP reset
			 * that could lose the answer. Over a Unix socket no
			 * reset exists and the answer is already in the web
			 * server's queue, while the wait held this process
			 * idle on every request (about a third of the
			 * throughput of a short route, measured). Detaching
			 * makes FCGX_Finish_r close at once. */
			if (local)
				FCGX_Detach(&fr);
			FCGX_Finish_r(&fr);
		}
		FCGX_Free(&fr, 1);
		log_event(LOG_INFO, "stopped", "mode=fastcgi");
	}
	status = 0;
out:
	password_ctx_free(pw);
	db_free(db);
	config_free(&cfg);
	return status;
}
