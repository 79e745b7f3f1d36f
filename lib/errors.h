/* errors.h: the one error vocabulary of the modules behind a handler, and
 * the one place where it becomes an HTTP answer. A module's failure is
 * either "unavailable" (the database could not be reached, or stayed
 * contended: nothing was decided, the client may retry) or "failed"
 * (already logged: a bug or an exhausted resource). Module enums (enum
 * db_err, enum session_err) use these values for these meanings; any
 * other negative code of theirs is a failure of its own kind that the
 * caller handles before it gets here, and is answered as failed if not. */
#ifndef LATCH_ERRORS_H
#define LATCH_ERRORS_H

struct http_response;

enum latch_err {
	LATCH_OK = 0,
	LATCH_EUNAVAILABLE = -1,        /* 503 temporarily_unavailable */
	LATCH_EFAIL = -4,               /* 500 server_error */
};

/* Sets resp to the answer for the module error err (negative): 503
 * temporarily_unavailable with Retry-After for LATCH_EUNAVAILABLE,
 * otherwise 500 server_error with nothing internal in it. */
void errors_respond(struct http_response *resp, int err);

#endif
