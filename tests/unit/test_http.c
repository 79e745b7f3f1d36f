/* test_http.c: lib/http, the edge: request parsing limits and response
 * form, driven through a fake CGI environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

struct fake {
	const char *const *params;      /* "NAME=value", NULL-terminated */
	const char *body;
	size_t body_len, pos;
	char out[8192];
	size_t out_len;
};

static const char *
fake_param(void *ctx, const char *name)
{
	struct fake *f = ctx;
	size_t n = strlen(name);

	for (const char *const *p = f->params; *p != NULL; p++)
		if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
			return *p + n + 1;
	return NULL;
}

static ssize_t
fake_read(void *ctx, char *buf, size_t n)
{
	struct fake *f = ctx;
	size_t left = f->body_len - f->pos;

	if (n > left)
		n = left;
	if (n > 3)
		n = 3;          /* short reads must be handled */
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

static int
fake_write(void *ctx, const char *buf, size_t n)
{
	struct fake *f = ctx;

	if (f->out_len + n >= sizeof f->out)
		return -1;
	memcpy(f->out + f->out_len, buf, n);
	f->out_len += n;
	f->out[f->out_len] = '\0';
	return 0;
}

static struct latch_config no_proxies;

/* strdup, made to fail for one value: how lib/http copies headers. */
static const char *fail_strdup_of;

char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (fail_strdup_of != NULL && strcmp(s, fail_strdup_of) == 0)
		return NULL;
	if ((p = malloc(n)) != NULL)
		memcpy(p, s, n);
	return p;
}

static void
parse(struct fake *f, struct http_request *req, struct http_io *io)
{
	io->ctx = f;
	io->param = fake_param;
	io->read = fake_read;
	io->write = fake_write;
	assert_int_equal(http_request_parse(io, &no_proxies, req), HTTP_OK);
}

static void
test_parses_method_path_and_headers(void **state)
{
	const char *const params[] = { "REQUEST_METHOD=POST",
	    "REQUEST_URI=/auth/login?x=1", "CONTENT_TYPE=application/json",
	    "CONTENT_LENGTH=12", "HTTP_AUTHORIZATION=Bearer abc",
	    "HTTP_COOKIE=a=b", "HTTP_ORIGIN=http://x", "HTTP_HOST=x",
	    "HTTP_USER_AGENT=ua", "REMOTE_ADDR=127.0.0.1", "HTTPS=on", NULL };
	struct fake f = { .params = params };
	struct http_request req;
	struct http_io io;

	(void)state;
	parse(&f, &req, &io);
	assert_int_equal(req.method, HTTP_POST);
	assert_string_equal(req.path, "/auth/login");
	assert_string_equal(req.content_type, "application/json");
	assert_int_equal(req.content_length, 12);
	assert_string_equal(req.authorization, "Bearer abc");
	assert_string_equal(req.client_ip, "127.0.0.1");
	assert_true(req.https);
	assert_false(req.header_too_large);
	http_request_free(&req);
}

static void
test_unknown_method_and_script_name_fallback(void **state)
{
	const char *const params[] = { "REQUEST_METHOD=BREW",
	    "SCRIPT_NAME=/api", "PATH_INFO=/health", NULL };
	struct fake f = { .params = params };
	struct http_request req;
	struct http_io io;

	(void)state;
	parse(&f, &req, &io);
	assert_int_equal(req.method, HTTP_OTHER);
	assert_string_equal(req.path, "/api/health");
	assert_string_equal(req.client_ip, "0.0.0.0");
	http_request_free(&req);
}

static void
test_oversized_header_is_flagged_not_kept(void **state)
{
	char *big = malloc(HTTP_HEADER_MAX + 32);
	const char *params[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/", big,
	    NULL };
	struct fake f = { .params = params };
	struct http_request req;
	struct http_io io;

	(void)state;
	memcpy(big, "HTTP_COOKIE=", 12);
	memset(big + 12, 'c', HTTP_HEADER_MAX + 1);
	big[12 + HTTP_HEADER_MAX + 1] = '\0';
	parse(&f, &req, &io);
	assert_true(req.header_too_large);
	assert_null(req.cookie);
	http_request_free(&req);
	free(big);
}

/* A header that was sent but could not be copied is a failure of the
 * server (500), never an absent header (a missing Authorization is 401). */
static void
test_failed_header_copy_is_no_absent_header(void **state)
{
	static const char *const headers[] = { "HTTP_AUTHORIZATION",
	    "HTTP_COOKIE", "HTTP_ORIGIN", "HTTP_HOST", "CONTENT_TYPE" };
	char params_buf[5][64];
	const char *params[] = { params_buf[0], params_buf[1], params_buf[2],
	    params_buf[3], params_buf[4], NULL };
	struct fake f = { .params = params };
	struct http_io io = { &f, fake_param, fake_read, fake_write };
	struct http_request req;
	char value[32];

	(void)state;
	for (size_t i = 0; i < 5; i++)
		snprintf(params_buf[i], sizeof params_buf[i], "%s=value %zu",
		    headers[i], i);
	for (size_t i = 0; i < 5; i++) {
		snprintf(value, sizeof value, "value %zu", i);
		fail_strdup_of = value;
		assert_int_equal(http_request_parse(&io, &no_proxies, &req),
		    HTTP_ENOMEM);
		http_request_free(&req);
	}
	fail_strdup_of = NULL;
	assert_int_equal(http_request_parse(&io, &no_proxies, &req), HTTP_OK);
	assert_string_equal(req.authorization, "value 0");
	http_request_free(&req);
}

static void
test_long_path_matches_nothing(void **state)
{
	char *uri = malloc(HTTP_PATH_MAX + 64);
	const char *params[] = { uri, NULL };
	struct fake f = { .params = params };
	struct http_request req;
	struct http_io io;

	(void)state;
	memcpy(uri, "REQUEST_URI=/", 13);
	memset(uri + 13, 'a', HTTP_PATH_MAX + 20);
	uri[13 + HTTP_PATH_MAX + 20] = '\0';
	parse(&f, &req, &io);
	assert_int_equal(strlen(req.path), HTTP_PATH_MAX + 1);
	http_request_free(&req);
	free(uri);
}

static void
test_content_length_must_be_digits(void **state)
{
	static const char *const bad[] = { "CONTENT_LENGTH=-1",
	    "CONTENT_LENGTH= 5", "CONTENT_LENGTH=5x", "CONTENT_LENGTH=0x10",
	    "CONTENT_LENGTH=1e3" };

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *params[] = { bad[i], NULL };
		struct fake f = { .params = params };
		struct http_request req;
		struct http_io io;

		parse(&f, &req, &io);
		assert_true(req.bad_content_length);
		http_request_free(&req);
	}
}

static void
test_huge_content_length_is_a_large_number(void **state)
{
	const char *params[] = { "CONTENT_LENGTH=99999999999999999999999",
	    NULL };
	struct fake f = { .params = params };
	struct http_request req;
	struct http_io io;

	(void)state;
	parse(&f, &req, &io);
	assert_false(req.bad_content_length);
	assert_int_equal(http_read_body(&io, &req, 16384), HTTP_ETOOLARGE);
	http_request_free(&req);
}

static void
test_body_reading_limits(void **state)
{
	const char *const params[] = { "CONTENT_LENGTH=10", NULL };
	struct http_request req;
	struct http_io io;

	(void)state;
	{       /* exactly as announced, read in short pieces */
		struct fake f = { .params = params, .body = "0123456789",
		    .body_len = 10 };

		parse(&f, &req, &io);
		assert_int_equal(http_read_body(&io, &req, 10), HTTP_OK);
		assert_int_equal(req.body_len, 10);
		assert_string_equal(req.body, "0123456789");
		http_request_free(&req);
	}
	{       /* over the limit: refused before reading */
		struct fake f = { .params = params, .body = "0123456789",
		    .body_len = 10 };

		parse(&f, &req, &io);
		assert_int_equal(http_read_body(&io, &req, 9), HTTP_ETOOLARGE);
		assert_int_equal(f.pos, 0);
		http_request_free(&req);
	}
	{       /* shorter than announced */
		struct fake f = { .params = params, .body = "01234",
		    .body_len = 5 };

		parse(&f, &req, &io);
		assert_int_equal(http_read_body(&io, &req, 100), HTTP_ESHORT);
		/* What was read (it may hold part of a password) is wiped
		 * and freed at once, not left for http_request_free. */
		assert_null(req.body);
		assert_int_equal(req.body_len, 0);
		http_request_free(&req);
	}
	{       /* more on the input than announced: RFC 3875 section 4.2
		 * forbids reading past CONTENT_LENGTH (under CGI the input
		 * may stay open), so the body is the announced 10 bytes */
		struct fake f = { .params = params, .body = "0123456789AB",
		    .body_len = 12 };

		parse(&f, &req, &io);
		assert_int_equal(http_read_body(&io, &req, 100), HTTP_OK);
		assert_int_equal(req.body_len, 10);
		assert_string_equal(req.body, "0123456789");
		assert_int_equal(f.pos, 10);
		http_request_free(&req);
	}
}

static void
test_json_content_types(void **state)
{
	(void)state;
	assert_true(http_is_json_type("application/json"));
	assert_true(http_is_json_type("Application/JSON"));
	assert_true(http_is_json_type("application/json; charset=utf-8"));
	assert_true(http_is_json_type("application/json;charset=UTF-8"));
	assert_true(http_is_json_type("application/json; charset=\"utf-8\""));
	assert_false(http_is_json_type(NULL));
	assert_false(http_is_json_type(""));
	assert_false(http_is_json_type("text/plain"));
	assert_false(http_is_json_type("application/jsonx"));
	assert_false(http_is_json_type("application/json; charset=latin1"));
	assert_false(http_is_json_type("application/json; boundary=x"));
	assert_false(http_is_json_type("application/x-www-form-urlencoded"));
}

static void
test_cookie_lookup(void **state)
{
	const char *v = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(http_cookie_find("a=1; refresh_token=abc; b=2",
	    "refresh_token", &v, &len), 1);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "abc", 3);
	assert_int_equal(http_cookie_find("refresh_token=\"q\"", "refresh_token",
	    &v, &len), 1);
	assert_int_equal(len, 1);
	assert_int_equal(http_cookie_find("xrefresh_token=a; refresh_tokenx=b",
	    "refresh_token", &v, &len), 0);
	assert_int_equal(http_cookie_find("refresh_token=a;refresh_token=b",
	    "refresh_token", &v, &len), 2);
	assert_int_equal(http_cookie_find(NULL, "refresh_token", &v, &len), 0);
	assert_int_equal(http_cookie_find("", "refresh_token", &v, &len), 0);
	assert_int_equal(http_cookie_find(";;;", "refresh_token", &v, &len), 0);
}

static void
test_bearer_credentials(void **state)
{
	const char *t = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(http_bearer_token("Bearer a.b.c", &t, &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(http_bearer_token("bearer a.b-c_d", &t, &len), 0);
	assert_int_equal(http_bearer_token("BEARER   abc==  ", &t, &len), 0);
	assert_int_equal(len, 5);
	/* No credential: 401 invalid_request. */
	assert_int_equal(http_bearer_token(NULL, &t, &len), HTTP_BEARER_NONE);
	assert_int_equal(http_bearer_token("Bearer", &t, &len),
	    HTTP_BEARER_NONE);
	assert_int_equal(http_bearer_token("Bearer ", &t, &len),
	    HTTP_BEARER_NONE);
	assert_int_equal(http_bearer_token("Bearer    ", &t, &len),
	    HTTP_BEARER_NONE);
	assert_int_equal(http_bearer_token("Basic YWI6Y2Q=", &t, &len),
	    HTTP_BEARER_NONE);
	assert_int_equal(http_bearer_token("Bearerabc", &t, &len),
	    HTTP_BEARER_NONE);
	/* A token that is not token68: 401 invalid_token. */
	assert_int_equal(http_bearer_token("Bearer a b", &t, &len),
	    HTTP_BEARER_MALFORMED);
	assert_int_equal(http_bearer_token("Bearer a\"b", &t, &len),
	    HTTP_BEARER_MALFORMED);
	assert_int_equal(http_bearer_token("Bearer !!!", &t, &len),
	    HTTP_BEARER_MALFORMED);
	assert_int_equal(http_bearer_token("bearer ==abc", &t, &len),
	    HTTP_BEARER_MALFORMED);
	assert_int_equal(http_bearer_token("Bearer a.b=c", &t, &len),
	    HTTP_BEARER_MALFORMED);
	assert_int_equal(http_bearer_token("Bearer ==", &t, &len),
	    HTTP_BEARER_MALFORMED);
	assert_int_equal(http_bearer_token("Bearer \tabc", &t, &len),
	    HTTP_BEARER_MALFORMED);
}

static void
test_forwarded_for_only_from_trusted_proxies(void **state)
{
	const char *const params[] = { "REMOTE_ADDR=10.0.0.2",
	    "HTTP_X_FORWARDED_FOR=6.6.6.6, 203.0.113.9, 10.0.0.3",
	    "HTTP_X_FORWARDED_PROTO=https", NULL };
	struct latch_config cfg;
	struct fake f = { .params = params };
	struct http_request req;
	struct http_io io = { &f, fake_param, fake_read, fake_write };

	(void)state;
	/* Not trusted: the peer is the client, the header is ignored. */
	assert_int_equal(http_request_parse(&io, &no_proxies, &req), HTTP_OK);
	assert_string_equal(req.client_ip, "10.0.0.2");
	assert_false(req.https);
	http_request_free(&req);

	/* Trusted: the right-most untrusted entry is the client; the
	 * spoofable left-most one is not believed. */
	memset(&cfg, 0, sizeof cfg);
	cfg.n_proxies = 1;
	cfg.proxies[0].family = 2;      /* AF_INET */
	cfg.proxies[0].addr[0] = 10;
	cfg.proxies[0].prefix = 8;
	assert_int_equal(http_request_parse(&io, &cfg, &req), HTTP_OK);
	assert_string_equal(req.client_ip, "203.0.113.9");
	assert_true(req.https);
	http_request_free(&req);
}

static void
test_response_form(void **state)
{
	struct fake f = { .params = NULL };
	struct http_io io = { &f, fake_param, fake_read, fake_write };
	struct http_response resp;

	(void)state;
	http_response_init(&resp);
	http_response_error(&resp, 405, "method_not_allowed", "no");
	assert_int_equal(http_response_header(&resp, "Allow", "%s", "POST"), 0);
	assert_int_equal(http_response_write(&io, &resp), 0);
	assert_string_equal(f.out,
	    "Status: 405 Method Not Allowed\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "Pragma: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Allow: POST\r\n"
	    "\r\n"
	    "{\"error\":\"method_not_allowed\",\"error_description\":\"no\"}");
	http_response_free(&resp);

	f.out_len = 0;
	http_response_init(&resp);
	http_response_json(&resp, 204, NULL);
	assert_int_equal(http_response_write(&io, &resp), 0);
	if (strstr(f.out, "\nContent-Type:") != NULL)
		fail_msg("%s", f.out);
	assert_non_null(strstr(f.out, "Status: 204 No Content\r\n"));
	http_response_free(&resp);
}

static void
test_rfc3339_times(void **state)
{
	char out[21];

	(void)state;
	http_format_time(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	http_format_time(1795341600, out);
	assert_string_equal(out, "2026-11-22T10:00:00Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_method_path_and_headers),
		cmocka_unit_test(test_unknown_method_and_script_name_fallback),
		cmocka_unit_test(test_oversized_header_is_flagged_not_kept),
		cmocka_unit_test(test_failed_header_copy_is_no_absent_header),
		cmocka_unit_test(test_long_path_matches_nothing),
		cmocka_unit_test(test_content_length_must_be_digits),
		cmocka_unit_test(test_huge_content_length_is_a_large_number),
		cmocka_unit_test(test_body_reading_limits),
		cmocka_unit_test(test_json_content_types),
		cmocka_unit_test(test_cookie_lookup),
		cmocka_unit_test(test_bearer_credentials),
		cmocka_unit_test(test_forwarded_for_only_from_trusted_proxies),
		cmocka_unit_test(test_response_form),
		cmocka_unit_test(test_rfc3339_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
