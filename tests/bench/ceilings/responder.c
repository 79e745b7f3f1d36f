/*
 * tests/bench/ceilings/responder.c: the FastCGI ceilings of `make bench`.
 *
 *   ceil-responder noop     a fixed small JSON body, no other work
 *   ceil-responder select1  "SELECT 1" per request
 *   ceil-responder pk       one prepared primary-key SELECT per request:
 *                           users by id (?id=N): username, email, created_at
 *
 * What each measures: the most a FastCGI responder can do for a route of
 * latch's shape, behind the same lighttpd, over the same sockets and with
 * as many processes as latch's api pool (tests/bench/run.sh writes them
 * into the stack's lighttpd.conf beside latch's own). `noop` is the round
 * trip lighttpd <-> FastCGI alone; `select1` adds what /api/health must do
 * (one database round trip; the ceiling for health); `pk` adds what
 * /api/profile must do (one indexed row by id; the ceiling for profile).
 *
 * Why it is a fair ceiling: it does strictly less than latch, never more.
 * One libpq connection per process, opened at start and kept (as latch's
 * lib/db keeps its own); `pk` prepares its statement once per process
 * (PQprepare) and runs PQexecPrepared, the cheapest way libpq has to run a
 * query, with no parsing or planning per request. The response carries the
 * same headers latch sends (Content-Type, Cache-Control, Pragma,
 * X-Content-Type-Options) and a JSON body of the same size class, built in
 * one buffer and written with one FCGX_PutStr. No token checks, no clock,
 * no logging, no routing: nothing of latch's code (libfcgi + libpq only).
 * What it skips is what latch is allowed to spend: the target ratios in
 * `make bench` (0.80 for profile, 0.90 for health) leave room for it.
 *
 * DATABASE_URL (from the web's bin-environment) names the database for
 * select1 and pk. A request that fails gets a 503 with a JSON body; a lost
 * connection is reset once for the next request.
 */
#include <fastcgi.h>
#include <fcgiapp.h>
#include <sys/socket.h>
#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum mode { MODE_NOOP, MODE_SELECT1, MODE_PK };

static const char headers[] =
    "Status: %d\r\n"
    "Content-Type: application/json\r\n"
    "Cache-Control: no-store\r\n"
    "Pragma: no-cache\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Length: %d\r\n"
    "\r\n";

/* The headers and body as one write. */
static void
answer(FCGX_Request *r, int status, const char *body)
{
	char buf[2048];
	int hl, bl = (int)strlen(body);

	hl = snprintf(buf, sizeof buf, headers, status, bl);
	if (hl < 0 || (size_t)hl + (size_t)bl >= sizeof buf) {
		FCGX_PutS("Status: 500\r\n\r\n", r->out);
		return;
	}
	memcpy(buf + hl, body, (size_t)bl);
	FCGX_PutStr(buf, hl + bl, r->out);
}

/* Appends s to out[*n] as a JSON string (the few escapes a username or
 * an email can need); 0 when it fits. */
static int
json_str(char *out, size_t cap, size_t *n, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	if (*n + 1 >= cap)
		return -1;
	out[(*n)++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (*n + 7 >= cap)
			return -1;
		if (c == '"' || c == '\\') {
			out[(*n)++] = '\\';
			out[(*n)++] = (char)c;
		} else if (c < 0x20) {
			memcpy(out + *n, "\\u00", 4);
			out[*n + 4] = hex[c >> 4];
			out[*n + 5] = hex[c & 15];
			*n += 6;
		} else {
			out[(*n)++] = (char)c;
		}
	}
	out[(*n)++] = '"';
	out[*n] = '\0';
	return 0;
}

/* The digits of id=N in the query string (the user to read), or NULL. */
static const char *
query_id(FCGX_Request *r, char *buf, size_t cap)
{
	const char *q = FCGX_GetParam("QUERY_STRING", r->envp);
	size_t n;

	if (q == NULL || strncmp(q, "id=", 3) != 0)
		return NULL;
	q += 3;
	n = strspn(q, "0123456789");
	if (n == 0 || n >= cap)
		return NULL;
	memcpy(buf, q, n);
	buf[n] = '\0';
	return buf;
}

/* The profile body of row 0 of res (username, email, created_at epoch). */
static int
profile_body(PGresult *res, const char *id, char *out, size_t cap)
{
	size_t n;
	time_t t = (time_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	struct tm tm;
	char when[32];
	int w;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	w = snprintf(out, cap, "{\"id\":\"%s\",\"username\":", id);
	if (w < 0 || (size_t)w >= cap)
		return -1;
	n = (size_t)w;
	if (json_str(out, cap, &n, PQgetvalue(res, 0, 0)) != 0)
		return -1;
	if (n + 10 >= cap)
		return -1;
	memcpy(out + n, ",\"email\":", 10);
	n += 9;
	if (PQgetisnull(res, 0, 1)) {
		if (n + 5 >= cap)
			return -1;
		memcpy(out + n, "null", 5);
		n += 4;
	} else if (json_str(out, cap, &n, PQgetvalue(res, 0, 1)) != 0) {
		return -1;
	}
	w = snprintf(out + n, cap - n, ",\"created_at\":\"%s\"}", when);
	return w < 0 || (size_t)w >= cap - n ? -1 : 0;
}

static const char pk_sql[] =
    "SELECT username, email, floor(extract(epoch FROM created_at))::bigint"
    " FROM users WHERE id = $1::bigint";

/* The statement "pk" on conn, once per connection; 0 when done. */
static int
prepare(PGconn *conn)
{
	PGresult *res = PQprepare(conn, "pk", pk_sql, 1, NULL);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "ceil-responder: prepare: %s",
		    PQerrorMessage(conn));
	PQclear(res);
	return ok ? 0 : -1;
}

/* One request of mode m on conn; the answer is written. */
static void
serve(FCGX_Request *r, enum mode m, PGconn *conn)
{
	static const char unavailable[] =
	    "{\"error\":\"temporarily_unavailable\"}";
	PGresult *res;
	char idbuf[24], body[1024];
	const char *id;
	int ok;

	switch (m) {
	case MODE_NOOP:
		answer(r, 200, "{\"status\":\"ok\",\"ceiling\":\"noop\"}");
		return;
	case MODE_SELECT1:
		res = PQexec(conn, "SELECT 1");
		ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		PQclear(res);
		answer(r, ok ? 200 : 503, ok ?
		    "{\"status\":\"ok\",\"database\":\"ok\"}" : unavailable);
		break;
	case MODE_PK:
		if ((id = query_id(r, idbuf, sizeof idbuf)) == NULL) {
			answer(r, 400, "{\"error\":\"invalid_request\"}");
			return;
		}
		res = PQexecPrepared(conn, "pk", 1, &id, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			answer(r, 503, unavailable);
		} else if (PQntuples(res) != 1) {
			answer(r, 404, "{\"error\":\"not_found\"}");
		} else if (profile_body(res, id, body, sizeof body) != 0) {
			answer(r, 500, "{\"error\":\"server_error\"}");
		} else {
			answer(r, 200, body);
		}
		PQclear(res);
		break;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		PQreset(conn);
		if (m == MODE_PK && PQstatus(conn) == CONNECTION_OK)
			(void)prepare(conn);
	}
}

/* Connects (and for pk prepares); NULL after saying why on stderr. */
static PGconn *
open_db(enum mode m)
{
	const char *url = getenv("DATABASE_URL");
	PGconn *conn;

	if (url == NULL) {
		fprintf(stderr, "ceil-responder: DATABASE_URL is not set\n");
		return NULL;
	}
	conn = PQconnectdb(url);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "ceil-responder: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	if (m == MODE_PK && prepare(conn) != 0) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

int
main(int argc, char **argv)
{
	FCGX_Request fr;
	PGconn *conn = NULL;
	enum mode m;

	if (argc == 2 && strcmp(argv[1], "noop") == 0) {
		m = MODE_NOOP;
	} else if (argc == 2 && strcmp(argv[1], "select1") == 0) {
		m = MODE_SELECT1;
	} else if (argc == 2 && strcmp(argv[1], "pk") == 0) {
		m = MODE_PK;
	} else {
		fprintf(stderr, "usage: ceil-responder noop|select1|pk\n");
		return 2;
	}
	if (m != MODE_NOOP && (conn = open_db(m)) == NULL)
		return 1;
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0, 0) != 0) {
		fprintf(stderr, "ceil-responder: FastCGI set-up failed\n");
		PQfinish(conn);
		return 1;
	}
	/* libfcgi's SIGTERM handler ends the loop when lighttpd stops. */
	/* Closed the way latch closes (lib/server.c): at once over a Unix
	 * socket, without libfcgi's lingering close, so that the ceiling
	 * never does more than latch. */
	{
		struct sockaddr_storage addr;
		socklen_t alen = sizeof addr;
		int local = getsockname(FCGI_LISTENSOCK_FILENO,
		    (struct sockaddr *)&addr, &alen) == 0 &&
		    addr.ss_family == AF_UNIX;

		while (FCGX_Accept_r(&fr) >= 0) {
			serve(&fr, m, conn);
			if (local)
				FCGX_Detach(&fr);
			FCGX_Finish_r(&fr);
		}
	}
	FCGX_Free(&fr, 1);
	PQfinish(conn);
	return 0;
}
