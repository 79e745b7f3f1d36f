/* http.h: the edge. A CGI or FastCGI request's parameters, headers and
 * body become typed fields here, with limits; a response is a status,
 * headers and a JSON body written back in CGI form. This is the only
 * module that reads raw bytes from the network. */
#ifndef LATCH_HTTP_H
#define LATCH_HTTP_H

#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "config.h"

#define HTTP_HEADER_MAX 8192            /* bytes in one header value */
#define HTTP_PATH_MAX 1024              /* bytes in the request path */
#define HTTP_RESPONSE_HEADERS_MAX 8
#define HTTP_IP_MAX NET_IP_MAX

/* How the request reaches us: FastCGI streams, or CGI's environment and
 * standard streams. */
struct http_io {
	void *ctx;
	/* A request parameter (CGI meta-variable) or NULL. The string lives
	 * until the request ends. */
	const char *(*param)(void *ctx, const char *name);
	/* Reads up to n body bytes; returns the count, 0 at the end, -1 on
	 * error. */
	ssize_t (*read)(void *ctx, char *buf, size_t n);
	/* Writes n bytes; returns 0 or -1. */
	int (*write)(void *ctx, const char *buf, size_t n);
};

enum http_method {
	HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_HEAD,
	HTTP_OPTIONS, HTTP_OTHER,
};

struct http_request {
	enum http_method method;
	char *path;                     /* without the query string */
	char *content_type;             /* NULL when absent */
	unsigned long long content_length;      /* 0 when absent */
	char *authorization;            /* NULL when absent */
	char *cookie;
	char *origin;
	char *sec_fetch_site;
	char *host;
	char *user_agent;
	char *dpop;                     /* DPoP: a proof (RFC 9449) */
	char *dbsc_response;            /* Secure-Session-Response: a DBSC
					 * proof */
	char *dbsc_session_id;          /* Sec-Secure-Session-Id */
	char client_ip[HTTP_IP_MAX];    /* canonical text of the client */
	int https;                      /* reached over TLS: HTTPS=on, or
					 * X-Forwarded-Proto of a trusted
					 * proxy */
	int header_too_large;           /* a header was over the limit */
	int content_type_too_large;     /* CONTENT_TYPE was over it */
	int authorization_too_large;    /* Authorization was over it: a
					 * token far past any JWT limit */
	int bad_content_length;         /* CONTENT_LENGTH was not a number */
	char *body;                     /* after http_read_body; NUL-ended */
	size_t body_len;
};

enum http_err {
	HTTP_OK = 0,
	HTTP_ENOMEM = -1,
	HTTP_ETOOLARGE = -2,    /* the body is over the limit */
	HTTP_ESHORT = -3,       /* fewer body bytes than CONTENT_LENGTH */
	HTTP_EIO = -4,
};

/* Fills *req from io's parameters. Headers over HTTP_HEADER_MAX are
 * dropped and flagged rather than failing here, so that the checks before
 * them still answer first: content_type_too_large (the content-type
 * check), authorization_too_large (on a Bearer route the credentials
 * check: a malformed token) and header_too_large (the others). The client address is REMOTE_ADDR,
 * or, when REMOTE_ADDR is one of cfg's trusted proxies, the right-most
 * X-Forwarded-For entry that is not; such a proxy's X-Forwarded-Proto
 * (http or https) also says whether the request came over TLS. Returns
 * HTTP_OK, or HTTP_ENOMEM (also when a header that was sent could not be
 * copied: it must not pass for absent); in both cases the caller frees
 * req with http_request_free. */
int http_request_parse(const struct http_io *io, const struct latch_config *cfg,
    struct http_request *req);

/* Reads the body announced by CONTENT_LENGTH, refusing more than max
 * bytes (from CONTENT_LENGTH alone, before reading). It never asks io for
 * a byte past CONTENT_LENGTH (RFC 3875 section 4.2), so a server that
 * keeps the input open cannot make it wait. Returns HTTP_OK (req->body
 * then holds body_len bytes and a NUL), HTTP_ETOOLARGE, HTTP_ESHORT (the
 * input ended early), HTTP_ENOMEM or HTTP_EIO; on failure req->body is
 * NULL and whatever was read is wiped. */
int http_read_body(const struct http_io *io, struct http_request *req,
    size_t max);

/* Wipes and frees what req owns. */
void http_request_free(struct http_request *req);

/* Overwrites the values of the "NAME=value" strings of envp (NULL
 * terminated), all of them or, with client_headers_only, those of the
 * HTTP_* meta-variables (RFC 3875 section 4.1.18): Cookie and
 * Authorization carry tokens, and libfcgi frees its copies unwiped. Call
 * it once nothing points into envp any more (after the request is freed:
 * struct http_request holds copies). NULL is fine. */
void http_wipe_params(char **envp, int client_headers_only);

/* 1 when ct is application/json, with at most a charset=utf-8 parameter
 * (case-insensitive, optionally quoted), else 0. */
int http_is_json_type(const char *ct);

/* Finds the cookie called name in a Cookie header. Returns the number of
 * cookies of that name (0, 1 or more); when 1, *value and *len point into
 * header. */
int http_cookie_find(const char *header, const char *name, const char **value,
    size_t *len);

enum http_bearer {
	HTTP_BEARER_OK = 0,
	HTTP_BEARER_NONE = -1,          /* no header, another scheme, empty */
	HTTP_BEARER_MALFORMED = -2,     /* a credential that is no token68 */
};

/* Extracts the credential of an "Authorization: Bearer <token>" header
 * (scheme case-insensitive, RFC 6750 section 2.1). Returns HTTP_BEARER_OK
 * and sets *token and *len (pointing into header); HTTP_BEARER_NONE when
 * header is NULL, of another scheme, or has an empty token (API.md: 401
 * invalid_request); HTTP_BEARER_MALFORMED when a token was presented but
 * is not token68 (API.md: 401 invalid_token). *token is only valid on
 * HTTP_BEARER_OK. */
int http_bearer_token(const char *header, const char **token, size_t *len);

struct http_response {
	int status;
	size_t nheaders;
	struct {
		const char *name;       /* a literal */
		char *value;            /* owned, wiped on free */
	} headers[HTTP_RESPONSE_HEADERS_MAX];
	json_object *body;              /* owned; NULL for 204 */
};

void http_response_init(struct http_response *resp);

/* Adds a header; name must be a string literal. Returns 0, or -1 when out
 * of room or memory (the response is then still valid without it). */
int http_response_header(struct http_response *resp, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets the status and takes ownership of body (NULL for no body). Any
 * previous body is released. */
void http_response_json(struct http_response *resp, int status,
    json_object *body);

/* An error answer: {"error": code, "error_description": description}. */
void http_response_error(struct http_response *resp, int status,
    const char *code, const char *description);

/* Writes resp as a CGI response (Status line, Content-Type for a body,
 * Cache-Control: no-store on every answer, then the headers and the
 * body). Returns 0, or -1 when the client went away. */
int http_response_write(const struct http_io *io, struct http_response *resp);

/* Wipes and frees what resp owns; it may then be initialised again. */
void http_response_free(struct http_response *resp);

/* Formats a time as RFC 3339 in UTC, e.g. 2026-11-22T10:00:00Z. */
void http_format_time(long long epoch, char out[21]);

#endif
