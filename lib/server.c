/* server.c: the FastCGI / CGI request loop and the router. */
#include "server.h"

#include <fcgiapp.h>
#include <fastcgi.h>
#include <openssl/crypto.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
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

/* Before FCGX_Finish_r frees them unwiped: unless wipe_answer is 0 (an
 * answer that holds no secret), the answer (tokens in its body and
 * Set-Cookie) is flushed, which sends nothing the finish would not have
 * sent, and leaves libfcgi's output buffer empty with its whole content
 * area at [wrNext, stop), public fields; that area is wiped. Then the
 * request's parameters (Cookie, Authorization) are wiped. */
static void
fcgi_scrub(FCGX_Request *r, int wipe_answer)
{
	FCGX_Stream *out = r->out;

	if (wipe_answer && FCGX_FFlush(out) == 0 && out->wrNext < out->stop)
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

/* Everything one request goes through, in API.md's order. Returns 1
 * when the answer must be wiped after it is sent (fcgi_scrub): always,
 * unless the request reached a route whose answers are public. */
static int
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
	int path_known = 0, wipe_answer = 1;

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

	app->reads_allowed = route->reads;
	app->read_db_behind = 0;
	route->handler(app, &req, body, arg, &resp);
	app->reads_allowed = 0;
	wipe_answer = !route->public_answer;

answer:
	/* The connection goes back idle before the client hears anything:
	 * no transaction can leak into the next request. */
	db_end_request(app->db);
	db_end_request(app->read_db);
	if (resp.status >= 500)
		log_event(LOG_WARN, "request_failed", "status=%d method=%s",
		    resp.status, method_name(req.method));
	http_response_write(io, &resp);
	json_wipe_put(body);
	http_response_free(&resp);
	http_request_free(&req);
	return wipe_answer;
}

/* Whether requests are closed at once (FCGX_Detach before the finish):
 * set by server_run before the first accept, read-only afterwards, so
 * every thread of an admitted intake may read it. */
static int close_at_once;

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

/* Ends an accepted request (its answer written and scrubbed). libfcgi's
 * close otherwise shuts the connection down and waits, up to 2 s, for the
 * web server to close its end first: a lingering close, which keeps
 * unread input from turning into a reset that could lose the answer.
 * Over a Unix socket the answer is already in the web server's queue,
 * while the wait held the process idle on every request (a third of a
 * short route's throughput, measured), so detaching makes FCGX_Finish_r
 * close at once; TCP keeps the lingering close. But Linux resets a Unix
 * stream too when it is closed with input still queued (a body refused
 * by its Content-Length, never read), and nginx then dropped the body of
 * the answer (a 413's, 7 times in 40): only a connection with nothing
 * left to read is closed at once. */
static void
finish_request(FCGX_Request *fr)
{
	int queued = 0;

	if (close_at_once && ioctl(fr->ipcFd, FIONREAD, &queued) == 0 &&
	    queued == 0)
		FCGX_Detach(fr);
	FCGX_Finish_r(fr);
}

/* ---- Stopping: SIGTERM, SIGUSR1, SIGHUP, SIGINT ---- */

/* What stops a FastCGI process gracefully: SIGTERM (web servers, systemd,
 * mod_fcgid before its SIGKILL about 3 s later), SIGUSR1 (mod_fcgid and
 * Apache's graceful restart), SIGHUP (latch has nothing to reload: the
 * configuration is read once, so a fresh process started by the web
 * server or supervisor is how a change is taken) and SIGINT (a terminal's
 * ^C). Each finishes the request in hand and exits; an idle process
 * exits at once. */
static const int stop_signals[] = { SIGTERM, SIGUSR1, SIGHUP, SIGINT };

/* The mask a thread waits for connections with: the process's, stop
 * signals deliverable. Set by stop_signals_init before any thread starts,
 * read-only afterwards. Outside accept_request's ppoll every thread
 * blocks the stop signals, so a signal stays pending until the acceptor
 * next waits and never interrupts a request's system calls: libfcgi does
 * not retry a read or write on EINTR, and would fail the request in
 * hand. */
static sigset_t accepting_mask;

/* The stop signal received, or 0. */
static volatile sig_atomic_t stop_signal;

/* Async-signal-safe: sets two flags, ours (accept_request's ppoll ends
 * with EINTR and tests it) and libfcgi's, which FCGX_ShutdownPending
 * sets and its accept loop tests. */
static void
on_stop_signal(int signo)
{
	stop_signal = signo;
	FCGX_ShutdownPending();
}

/* In FastCGI mode, after FCGX_Init (whose handlers for SIGTERM and
 * SIGUSR1 these replace) and before any thread starts: installs
 * on_stop_signal for stop_signals and blocks them in the calling thread,
 * so that every thread started later does too. Returns 0, or -1. */
static int
stop_signals_init(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0];
	    i++)
		sigaddset(&set, stop_signals[i]);
	sa.sa_mask = set;
	for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0];
	    i++)
		if (sigaction(stop_signals[i], &sa, NULL) != 0)
			return -1;
	if (pthread_sigmask(SIG_BLOCK, &set, &accepting_mask) != 0)
		return -1;
	for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0];
	    i++)
		sigdelset(&accepting_mask, stop_signals[i]);
	return 0;
}

/* FCGX_Accept_r, with the stop signals deliverable only while waiting
 * for a connection; called by one thread (the acceptor). Returns its
 * result, or -1 once a stop signal came. ppoll waits for a connection
 * (or, on a connection the web server keeps open, for its next request)
 * with the signals unblocked atomically, so that one arriving just before
 * the wait still ends it. FCGX_Accept_r then runs with them blocked, as a
 * request is served, so that no signal interrupts its reads (libfcgi
 * would close the connection unanswered) and no mask changes cost two
 * system calls a request: the listening socket is non-blocking
 * (listen_without_blocking), so a process that lost the connection to
 * another of its pool (a shared socket, spawn-fcgi -F) gets EAGAIN from
 * accept and goes back to ppoll instead of blocking where no signal could
 * end it. A signal that comes while the connection is taken is answered
 * once that request has been: the process stops at its next wait. */
static int
accept_request(FCGX_Request *fr)
{
	while (!stop_signal) {
		struct pollfd p = { fr->ipcFd >= 0 ? fr->ipcFd :
		    fr->listen_sock, POLLIN, 0 };
		int rc;

		if (ppoll(&p, 1, NULL, &accepting_mask) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (stop_signal)
			break;
		rc = FCGX_Accept_r(fr);
		if (rc == -EAGAIN || rc == -EWOULDBLOCK)
			continue;
		return rc;
	}
	return -1;
}

/* Makes the listening socket non-blocking, for accept_request. Accepted
 * connections do not inherit the flag on Linux: requests are read and
 * written blocking, as libfcgi expects. Returns 0, or -1. */
static int
listen_without_blocking(void)
{
	int flags = fcntl(FCGI_LISTENSOCK_FILENO, F_GETFL);

	if (flags < 0)
		return -1;
	return (flags & O_NONBLOCK) != 0 ? 0 :
	    fcntl(FCGI_LISTENSOCK_FILENO, F_SETFL, flags | O_NONBLOCK);
}

/* The stop signal's name for the log, or "none" (an accept error). */
static const char *
stop_signal_name(void)
{
	switch (stop_signal) {
	case SIGTERM: return "TERM";
	case SIGUSR1: return "USR1";
	case SIGHUP: return "HUP";
	case SIGINT: return "INT";
	}
	return "none";
}

/* ---- The admitted intake: an acceptor, a worker and a reaper ---- */

/* One accepted request. */
struct intake_slot {
	FCGX_Request fr;
};

/* Shared by the three threads, under mu: the acceptor (the main thread)
 * takes connections as they come and queues them; the worker serves the
 * queue in order; the reaper refuses what is still waiting at its
 * deadline, even while the worker is in the middle of a hash. Only the
 * worker touches database, crypto or json-c state: the others answer a
 * refusal with the canned bytes made before the threads started. */
struct intake {
	pthread_mutex_t mu;
	pthread_cond_t queued;          /* for the worker: queued, stopping */
	pthread_cond_t deadline;        /* for the reaper: the same */
	struct admission_queue queue;
	struct intake_slot slots[ADMISSION_SLOTS];
	struct intake_slot spare;       /* accepts to refuse when no slot is
					 * free */
	struct intake_slot *free_slots[ADMISSION_SLOTS];
	size_t nfree;
	int stopping;
	/* The worker's part: */
	struct app *app;
	const struct route *routes;
	size_t nroutes;
	/* The 503 as http_response_write writes it, and the body limit. */
	char refusal[1024];
	size_t refusal_len;
	size_t max_body;
	unsigned long refused;          /* since the last log line, under mu */
	time_t logged;                  /* when that line was written */
};

static int64_t
monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* http_io's write into intake.refusal, at start-up. */
static int
refusal_write(void *ctx, const char *buf, size_t n)
{
	struct intake *in = ctx;

	if (n > sizeof in->refusal - in->refusal_len)
		return -1;
	memcpy(in->refusal + in->refusal_len, buf, n);
	in->refusal_len += n;
	return 0;
}

/* The refusal, by the same code as every other answer, so that it has
 * the headers and the error body of API.md. Returns 0, or -1. */
static int
intake_make_refusal(struct intake *in)
{
	struct http_response resp;
	struct http_io io = { in, NULL, NULL, refusal_write };
	int rc;

	http_response_init(&resp);
	http_response_error(&resp, 503, "temporarily_unavailable",
	    "Too many logins at once; try again shortly");
	http_response_header(&resp, "Retry-After", "%d",
	    ADMISSION_RETRY_AFTER);
	rc = resp.status == 503 ? http_response_write(&io, &resp) : -1;
	http_response_free(&resp);
	return rc;
}

/* Gives slot back (the spare is never queued nor listed). */
static void
intake_release(struct intake *in, struct intake_slot *slot)
{
	if (slot == &in->spare)
		return;
	pthread_mutex_lock(&in->mu);
	in->free_slots[in->nfree++] = slot;
	pthread_mutex_unlock(&in->mu);
}

/* Answers slot with the canned 503 and releases it. The body is read
 * first (at most the body limit), through fcgi_read, which wipes
 * libfcgi's copy, and wiped here: it holds a password; then the answer
 * and parameters are scrubbed as a served request's are. Nothing is
 * hashed and the limiter counts nothing. Logs a line a second at most: a
 * flood is what this answers. Called with mu not held. */
static void
intake_refuse(struct intake *in, struct intake_slot *slot)
{
	char buf[4096];
	size_t total = 0;
	ssize_t got;
	time_t now = time(NULL);
	unsigned long refused = 0;

	do {
		got = fcgi_read(&slot->fr, buf, sizeof buf);
		if (got > 0)
			total += (size_t)got;
	} while (got > 0 && total <= in->max_body);
	OPENSSL_cleanse(buf, sizeof buf);
	(void)fcgi_write(&slot->fr, in->refusal, in->refusal_len);
	fcgi_scrub(&slot->fr, 1);
	finish_request(&slot->fr);
	intake_release(in, slot);

	pthread_mutex_lock(&in->mu);
	in->refused++;
	if (now != in->logged) {
		refused = in->refused;
		in->refused = 0;
		in->logged = now;
	}
	pthread_mutex_unlock(&in->mu);
	if (refused > 0)
		log_event(LOG_WARN, "login_shed", "refused=%lu wait_max_ms=%d",
		    refused, ADMISSION_WAIT_MS);
}

/* The worker hashes, so it runs as SCHED_IDLE besides the process's nice
 * and autogroup (lower_priority): those set its share of the CPU, this
 * sets how soon it gives the CPU up. Linux lets any normal task that
 * wakes preempt a SCHED_IDLE one at once, whatever their groups; a
 * nice-19 hash instead ran on to the end of its slice (measured: the fast
 * routes' p99 during a login flood 8x its value alone, and hardly better
 * at nice 19). The acceptor and the reaper stay normal, so that refusals
 * go out in time. Best effort, as lower_priority. */
static void
worker_yields_at_once(void)
{
	struct sched_param none = { 0 };
	int rc = pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);

	if (rc != 0)
		log_event(LOG_WARN, "worker_policy_unchanged", "errno=%d", rc);
}

/* The worker: serves the queue in order, one at a time. Once stopping
 * (SIGTERM), what still waits is refused, so that the process ends within
 * the web server's grace. */
static void *
intake_worker(void *arg)
{
	struct intake *in = arg;

	worker_yields_at_once();

	for (;;) {
		struct intake_slot *slot;
		int stale;

		pthread_mutex_lock(&in->mu);
		while ((slot = admission_take(&in->queue, monotonic_ns(),
		    &stale)) == NULL && !in->stopping)
			pthread_cond_wait(&in->queued, &in->mu);
		stale |= in->stopping;
		pthread_mutex_unlock(&in->mu);
		if (slot == NULL)
			return NULL;
		if (stale) {
			intake_refuse(in, slot);
		} else {
			struct http_io io = { &slot->fr, fcgi_param, fcgi_read,
			    fcgi_write };
			int64_t began = monotonic_ns();

			fcgi_scrub(&slot->fr, serve(in->app, in->routes,
			    in->nroutes, &io));
			finish_request(&slot->fr);
			intake_release(in, slot);
			pthread_mutex_lock(&in->mu);
			admission_served(&in->queue, monotonic_ns() - began);
			pthread_mutex_unlock(&in->mu);
		}
	}
}

/* The reaper: sleeps until the oldest waiting request's deadline and
 * refuses it then if the worker has not taken it. Once stopping, it
 * refuses everything still waiting at once, even while the worker
 * finishes a hash, and ends. */
static void *
intake_reaper(void *arg)
{
	struct intake *in = arg;

	pthread_mutex_lock(&in->mu);
	for (;;) {
		struct intake_slot *slot;
		int64_t when;
		int stale;

		slot = in->stopping ? admission_take(&in->queue, monotonic_ns(),
		    &stale) : admission_reap(&in->queue, monotonic_ns());
		if (slot != NULL) {
			pthread_mutex_unlock(&in->mu);
			intake_refuse(in, slot);
			pthread_mutex_lock(&in->mu);
			continue;
		}
		if (in->stopping)
			break;
		when = admission_deadline(&in->queue);
		if (when < 0) {
			pthread_cond_wait(&in->deadline, &in->mu);
		} else {
			/* 1 ms past it, so that the deadline has passed. */
			struct timespec ts;

			when += 1000000;
			ts.tv_sec = (time_t)(when / 1000000000);
			ts.tv_nsec = (long)(when % 1000000000);
			pthread_cond_timedwait(&in->deadline, &in->mu, &ts);
		}
	}
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

/* The acceptor: the calling thread, until a stop signal ends
 * accept_request (the worker and the reaper inherit the blocked stop
 * signals: only the acceptor takes them). Returns 0, or -1 when the
 * threads could not start. */
static int
intake_run(struct intake *in)
{
	pthread_t worker, reaper;
	int rc, started = 0;

	rc = pthread_create(&worker, NULL, intake_worker, in);
	if (rc == 0) {
		started = 1;
		rc = pthread_create(&reaper, NULL, intake_reaper, in);
		if (rc == 0)
			started = 2;
	}
	if (rc != 0)
		fprintf(stderr, "latch: cannot start a thread: %s\n",
		    strerror(rc));
	while (started == 2) {
		struct intake_slot *slot;
		int queued;

		pthread_mutex_lock(&in->mu);
		slot = in->nfree > 0 ? in->free_slots[--in->nfree] : &in->spare;
		pthread_mutex_unlock(&in->mu);
		if (accept_request(&slot->fr) < 0) {
			intake_release(in, slot);
			break;
		}
		pthread_mutex_lock(&in->mu);
		queued = slot != &in->spare &&
		    admission_push(&in->queue, slot, monotonic_ns()) == 0;
		if (queued) {
			pthread_cond_signal(&in->queued);
			pthread_cond_signal(&in->deadline);
		}
		pthread_mutex_unlock(&in->mu);
		if (!queued)
			intake_refuse(in, slot);
	}
	pthread_mutex_lock(&in->mu);
	in->stopping = 1;
	pthread_cond_broadcast(&in->queued);
	pthread_cond_broadcast(&in->deadline);
	pthread_mutex_unlock(&in->mu);
	if (started >= 1)
		pthread_join(worker, NULL);
	if (started == 2)
		pthread_join(reaper, NULL);
	return started == 2 ? 0 : -1;
}

/* Serves FastCGI requests through an intake. Returns 0, or -1. */
static int
serve_admitted(const char *program, struct app *app,
    const struct route *routes, size_t nroutes)
{
	struct intake *in;
	pthread_condattr_t ca;
	int rc = -1;

	/* A few KiB: not on the stack. */
	if ((in = calloc(1, sizeof *in)) == NULL) {
		fprintf(stderr, "latch %s: out of memory\n", program);
		return -1;
	}
	in->app = app;
	in->routes = routes;
	in->nroutes = nroutes;
	in->max_body = app->cfg->max_body;
	admission_init(&in->queue, (int64_t)ADMISSION_WAIT_MS * 1000000,
	    (int64_t)ADMISSION_ANSWER_MS * 1000000);
	if (intake_make_refusal(in) != 0 ||
	    FCGX_InitRequest(&in->spare.fr, 0, 0) != 0) {
		fprintf(stderr, "latch %s: cannot initialise\n", program);
		free(in);
		return -1;
	}
	for (size_t i = 0; i < ADMISSION_SLOTS; i++) {
		if (FCGX_InitRequest(&in->slots[i].fr, 0, 0) != 0) {
			fprintf(stderr, "latch %s: FCGX_InitRequest failed\n",
			    program);
			goto out;
		}
		in->free_slots[in->nfree++] = &in->slots[i];
	}
	/* The reaper's deadlines are CLOCK_MONOTONIC, as the queue's. */
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_mutex_init(&in->mu, NULL) != 0 ||
	    pthread_cond_init(&in->queued, NULL) != 0 ||
	    pthread_cond_init(&in->deadline, &ca) != 0) {
		fprintf(stderr, "latch %s: cannot initialise\n", program);
		goto out;
	}
	pthread_condattr_destroy(&ca);
	log_event(LOG_INFO, "started", "mode=fastcgi intake=admitted "
	    "slots=%d wait_max_ms=%d", ADMISSION_SLOTS, ADMISSION_WAIT_MS);
	rc = intake_run(in);
	log_event(LOG_INFO, "stopped", "mode=fastcgi signal=%s",
	    stop_signal_name());
	pthread_cond_destroy(&in->deadline);
	pthread_cond_destroy(&in->queued);
	pthread_mutex_destroy(&in->mu);
out:
	for (size_t i = 0; i < ADMISSION_SLOTS; i++)
		FCGX_Free(&in->slots[i].fr, 1);
	FCGX_Free(&in->spare.fr, 1);
	free(in);
	return rc;
}

/* Lowers the process's CPU priority to SERVER_ADMITTED_NICE, before any
 * thread starts (on Linux nice is per thread; threads inherit it). With
 * Linux's autogroups (sched_autogroup_enabled, the default of most
 * distributions) nice alone does not do it: CPU time is first shared
 * between sessions, and the web server's session, where a login process
 * starts, holds the fast routes' processes too; the session's share is
 * spread over whichever of its tasks are runnable, so while the fast ones
 * wait on PostgreSQL the hashes get the whole share (measured during a
 * login flood beside a refresh load: a nice-19 login pool took 45% of a
 * core, SCHED_IDLE 40%, and refresh fell to 0.75 of its rate). So with
 * own_group (FastCGI: once per process) it also starts a session of its
 * own (setsid: it has no terminal, and web servers signal their children
 * by pid) and gives that session's autogroup the same nice (then 16% of
 * a core, refresh at its full rate). Each step is best effort: a failure
 * is logged (at debug level where the system simply has no autogroups),
 * and the pool still keeps logins off the fast routes' processes. */
static void
lower_priority(int own_group)
{
	char nice[8];
	int fd, n;

	if (setpriority(PRIO_PROCESS, 0, SERVER_ADMITTED_NICE) != 0)
		log_event(LOG_WARN, "priority_unchanged", "nice=%d errno=%d",
		    SERVER_ADMITTED_NICE, errno);
	if (!own_group)
		return;
	if (setsid() < 0) {
		/* Already a process group leader (started from a shell):
		 * it has a session of its own or shares the shell's. */
		log_event(LOG_DEBUG, "session_kept", "errno=%d", errno);
	}
	fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		log_event(LOG_DEBUG, "autogroup_absent", "errno=%d", errno);
		return;
	}
	n = snprintf(nice, sizeof nice, "%d", SERVER_ADMITTED_NICE);
	/* Linux takes one such write every 100 ms from all unprivileged
	 * processes together (EAGAIN otherwise), and a pool starts its
	 * processes at once: a bounded retry, a second at most. */
	for (int i = 0; i < 20; i++) {
		if (write(fd, nice, (size_t)n) == n) {
			close(fd);
			return;
		}
		if (errno != EAGAIN)
			break;
		nanosleep(&(struct timespec){ 0, 50 * 1000000 }, NULL);
	}
	log_event(LOG_WARN, "autogroup_priority_unchanged", "nice=%d errno=%d",
	    SERVER_ADMITTED_NICE, errno);
	close(fd);
}

static int
server_run(const char *program, const struct route *routes, size_t nroutes,
    int admitted)
{
	struct latch_config cfg;
	struct app app;
	struct db *db = NULL, *read_db = NULL;
	struct password_ctx *pw = NULL;
	char err[512], read_name[32];
	int status = 1;

	log_init(program);
	/* Before FCGX_Init: configuration comes from the process
	 * environment, never from a request's parameters. */
	if (config_load(&cfg, CONFIG_NEED_KEYS, err, sizeof err) != 0) {
		fprintf(stderr, "latch %s: configuration error: %s\n", program,
		    err);
		return 1;
	}
	snprintf(read_name, sizeof read_name, "%s-read", program);
	if (db_new(cfg.database_url, program, &db) != DB_OK ||
	    (cfg.database_read_url != NULL &&
	    db_new(cfg.database_read_url, read_name, &read_db) != DB_OK) ||
	    password_ctx_new(cfg.bcrypt_cost, &pw) != 0) {
		fprintf(stderr, "latch %s: cannot initialise (out of memory or "
		    "no entropy)\n", program);
		goto out;
	}
	memset(&app, 0, sizeof app);
	app.cfg = &cfg;
	app.db = db;
	app.read_db = read_db;
	app.pw = pw;

	if (FCGX_Init() != 0) {
		fprintf(stderr, "latch %s: FCGX_Init failed\n", program);
		goto out;
	}
	if (admitted)
		lower_priority(!FCGX_IsCGI());
	if (FCGX_IsCGI()) {
		struct http_io io = { NULL, cgi_param, cgi_read, cgi_write };

		(void)serve(&app, routes, nroutes, &io);
		http_wipe_params(environ, 1);
		status = 0;
		goto out;
	}
	close_at_once = listens_on_unix_socket();
	if (listen_without_blocking() != 0 || stop_signals_init() != 0) {
		fprintf(stderr, "latch %s: cannot set up signal handling: %s\n",
		    program, strerror(errno));
		goto out;
	}
	if (admitted) {
		if (serve_admitted(program, &app, routes, nroutes) == 0)
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
		while (accept_request(&fr) >= 0) {
			fcgi_scrub(&fr, serve(&app, routes, nroutes, &io));
			finish_request(&fr);
		}
		FCGX_Free(&fr, 1);
		log_event(LOG_INFO, "stopped", "mode=fastcgi signal=%s",
		    stop_signal_name());
	}
	status = 0;
out:
	password_ctx_free(pw);
	db_free(read_db);
	db_free(db);
	config_free(&cfg);
	return status;
}

int
server_main(const char *program, const struct route *routes, size_t nroutes)
{
	return server_run(program, routes, nroutes, 0);
}

int
server_main_admitted(const char *program, const struct route *routes,
    size_t nroutes)
{
	return server_run(program, routes, nroutes, 1);
}
