/* server.h: the request loop shared by every FastCGI binary: load the
 * configuration (or refuse to start with one clear line), then serve
 * requests through FCGX_Accept_r, or exactly one when started as plain
 * CGI. Each request is parsed at the edge, routed through a static table,
 * checked in API.md's order (path 404, method 405, a header over its
 * limit 400, content type 415, size 413, body 400) on every route, handed
 * to its handler (which goes on with origin 403, rate limit 429 and
 * credentials), written, and freed with every buffer that held a secret
 * wiped, libfcgi's own included where its interface reaches them. */
#ifndef LATCH_SERVER_H
#define LATCH_SERVER_H

#include <json-c/json.h>

#include "app.h"
#include "http.h"

/* What a route takes as its body. Every kind runs the same checks in
 * API.md's order (a non-empty body of another type 415, over the limit
 * 413, not a strict JSON object 400); they differ in what passes. */
enum route_body {
	ROUTE_BODY_NONE,                /* nothing, or "{}": a JSON object
					 * whose documented members are
					 * none; any member is 400 */
	ROUTE_BODY_JSON,                /* a JSON object is required */
	ROUTE_BODY_JSON_OR_EMPTY,       /* a JSON object, or nothing */
};

/* A handler answers through resp. body is the parsed request object (NULL
 * when the route takes none or it was empty), borrowed, and wiped once
 * the answer is written. arg is the final
 * path segment for routes whose path ends in "/ *" (without the space),
 * else NULL. */
typedef void (*route_handler)(struct app *app, const struct http_request *req,
    json_object *body, const char *arg, struct http_response *resp);

struct route {
	enum http_method method;
	const char *path;               /* exact, or ending in "/ *" */
	enum route_body body;
	route_handler handler;
	/* NULL, or says whether the configuration enables the route; a
	 * disabled route's path is unknown (404), whatever the method. */
	int (*enabled)(const struct latch_config *cfg);
	/* The handler authenticates with a Bearer token (lib/authn): an
	 * oversized Authorization header is then a malformed token (401
	 * invalid_token), for other routes a malformed request (400). */
	int bearer;
	/* Whatever the handler answers holds no secret (no token, no
	 * password): the answer is left to libfcgi to send with the end of
	 * the request, unflushed and unwiped, which saves a write per
	 * request. Every other route's answer is flushed and wiped from
	 * libfcgi's buffer before the request ends (server.c fcgi_scrub).
	 * The request's parameters are wiped either way. */
	int public_answer;
	/* The handler only reads: with DATABASE_READ_URL set its reads go
	 * to that server (lib/reads.h), lag and all. */
	int reads;
};

/* Runs the process: returns the exit status for main. program names it in
 * logs ("auth", "api"). In FastCGI mode SIGTERM, SIGUSR1, SIGHUP and
 * SIGINT each stop it gracefully: the request in hand is finished and
 * answered, then the process exits with status 0; an idle one exits at
 * once. As plain CGI none of this is set up: signals keep the handling
 * libfcgi's FCGX_Init and the system give them. */
int server_main(const char *program, const struct route *routes,
    size_t nroutes);

/* The nice value a process of server_main_admitted runs at (and, in
 * FastCGI mode, the autogroup of its own session). Low enough that bcrypt
 * takes little CPU from the fast routes (measured, during a login flood
 * beside a refresh load: 16% of a core, refresh at full throughput), not
 * the lowest: at 19 a started hash gets 1.5% of a CPU against each busy
 * session (at 10: 10%) and, on a busy machine, takes tens of seconds. */
#define SERVER_ADMITTED_NICE 10

/* As server_main, for routes that are CPU-bound for a long time (login's
 * bcrypt): the process first lowers its own CPU priority to
 * SERVER_ADMITTED_NICE (whatever web server started it). In FastCGI mode
 * it also moves to a session and autogroup of its own at that nice (see
 * lower_priority in server.c), then accepts every connection at once on
 * one thread and serves them one at a time, in order, on another; a
 * request still waiting ADMISSION_WAIT_MS after it came (or finding every
 * slot taken) is answered 503 temporarily_unavailable with Retry-After,
 * unserved (nothing hashed, nothing counted by the limiter), with its
 * body read and wiped as a served one's is. As plain CGI it serves its one
 * request like server_main: the web server starts a process per request
 * and decides how many run, so there is no queue in latch to bound (and
 * no autogroup: Linux takes one autogroup change per 100 ms). */
int server_main_admitted(const char *program, const struct route *routes,
    size_t nroutes);

#endif
