/* errors.c: module errors to HTTP, in one place. */
#include "errors.h"

#include "db.h"
#include "http.h"

_Static_assert((int)DB_EUNAVAILABLE == (int)LATCH_EUNAVAILABLE &&
    (int)DB_EQUERY == (int)LATCH_EFAIL, "lib/db speaks the shared vocabulary");

void
errors_respond(struct http_response *resp, int err)
{
	if (err == LATCH_EUNAVAILABLE) {
		http_response_error(resp, 503, "temporarily_unavailable",
		    "The database is unavailable; try again shortly");
		http_response_header(resp, "Retry-After", "5");
		return;
	}
	http_response_error(resp, 500, "server_error",
	    "The server could not complete the request");
}
