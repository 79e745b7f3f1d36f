/* admission.c: the login queue. */
#include "admission.h"

#include <string.h>

void
admission_init(struct admission_queue *q, int64_t wait_max_ns,
    int64_t answer_max_ns)
{
	memset(q, 0, sizeof *q);
	q->wait_max_ns = wait_max_ns;
	q->answer_max_ns = answer_max_ns;
}

void
admission_served(struct admission_queue *q, int64_t service_ns)
{
	int64_t miss;

	q->busy = 0;
	if (service_ns < 0)
		service_ns = 0;
	/* A quarter of each new one: a few hashes follow a change of load,
	 * and one odd hash moves the expectation by a quarter only. The
	 * first sets it. The spread moves the same way, by how far each
	 * one was from the expectation (as TCP estimates its round trip,
	 * RFC 6298). */
	if (q->service_ns == 0 && q->spread_ns == 0) {
		q->service_ns = service_ns;
		q->spread_ns = service_ns / 2;
		return;
	}
	miss = service_ns - q->service_ns;
	q->service_ns += miss / 4;
	q->spread_ns += ((miss < 0 ? -miss : miss) - q->spread_ns) / 4;
}

/* How long the oldest may wait: the wait bound, or less when the answer
 * would otherwise come after answer_max_ns, but never under a tenth of
 * the bound: a request that finds the worker free is served however slow
 * the last ones were, or nothing would be served again to show that
 * serving got faster. What a hash is expected to take is the average
 * plus twice the spread: hashes at low priority take longer whenever the
 * fast routes' load rises, and a login served on the average alone was
 * answered after 5.9 s (measured, make bench, an answer bound of 4 s). */
static int64_t
wait_bound(const struct admission_queue *q)
{
	int64_t room = q->answer_max_ns - q->service_ns - 2 * q->spread_ns;
	int64_t floor = q->wait_max_ns / 10;

	if (room < floor)
		room = floor;
	return room < q->wait_max_ns ? room : q->wait_max_ns;
}

int
admission_push(struct admission_queue *q, void *item, int64_t now_ns)
{
	size_t at;

	if (q->n >= ADMISSION_SLOTS)
		return -1;
	at = (q->head + q->n) % ADMISSION_SLOTS;
	q->item[at] = item;
	q->since[at] = now_ns;
	q->prompt[at] = q->n == 0 && !q->busy;
	q->n++;
	return 0;
}

static void *
pop(struct admission_queue *q)
{
	void *item = q->item[q->head];

	q->item[q->head] = NULL;
	q->head = (q->head + 1) % ADMISSION_SLOTS;
	q->n--;
	return item;
}

/* The ring position of the oldest request that may be refused, or -1:
 * the head, or the one after a prompt head. */
static long
oldest_refusable(const struct admission_queue *q)
{
	if (q->n == 0)
		return -1;
	if (!q->prompt[q->head])
		return (long)q->head;
	return q->n >= 2 ? (long)((q->head + 1) % ADMISSION_SLOTS) : -1;
}

void *
admission_take(struct admission_queue *q, int64_t now_ns, int *stale)
{
	*stale = 0;
	if (q->n == 0)
		return NULL;
	*stale = !q->prompt[q->head] &&
	    now_ns - q->since[q->head] > wait_bound(q);
	if (!*stale)
		q->busy = 1;
	return pop(q);
}

void *
admission_reap(struct admission_queue *q, int64_t now_ns)
{
	long at = oldest_refusable(q);
	void *item;

	if (at < 0 || now_ns - q->since[at] <= wait_bound(q))
		return NULL;
	if ((size_t)at == q->head)
		return pop(q);
	/* The one behind a prompt head: the head moves into its place. */
	item = q->item[at];
	q->item[at] = q->item[q->head];
	q->since[at] = q->since[q->head];
	q->prompt[at] = q->prompt[q->head];
	(void)pop(q);
	return item;
}

int64_t
admission_deadline(const struct admission_queue *q)
{
	long at = oldest_refusable(q);

	return at < 0 ? -1 : q->since[at] + wait_bound(q);
}
