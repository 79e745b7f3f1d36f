/* errors.c: module errors to HTTP, in one place. */
#include "errors.h"

#include "db.h"
#include "http.h"

_Static_assert((int)DB_EUNAVAILABLE == (int)LATCH_EUNAVAILABLE &&
    (int)DB_EQUERY == (int)LATCH_EFAIL, "lib/db speaks the shared vocabulary");

/* Seconds a client is told to wait before it tries again. A refresh
 * answered 503 may have been rotated all the same (its answer lost after
 * the COMMIT): the client's retry with the same token must come within
 * the grace window (REFRESH_REUSE_GRACE, 10 s by default) of the
 * rotation to be answered with its successor rather than taken for a
 * reuse. The answer may come as late as lib/db's deadline after the
 * rotation; the retry, this much later. */
#define RETRY_AFTER_S 2
_Static_assert(DB_ANSWER_WAIT_MS / 1000 + RETRY_AFTER_S < 10,
    "a retry after Retry-After falls within the default grace window");

void
errors_respond(struct http_response *resp, int err)
{
	if (err == LATCH_EUNAVAILABLE) {
		http_response_error(resp, 503, "temporarily_unavailable",
		    "The database is unavailable; try again shortly");
		http_response_header(resp, "Retry-After", "%d",
		    RETRY_AFTER_S);
		return;
	}
	http_response_error(resp, 500, "server_error",
	    "The server could not complete the request");
}
