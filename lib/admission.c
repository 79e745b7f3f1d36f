/* admission.c: the login queue. */
#include "admission.h"

#include <string.h>

void
admission_init(struct admission_queue *q, int64_t wait_max_ns)
{
	memset(q, 0, sizeof *q);
	q->wait_max_ns = wait_max_ns;
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

void *
admission_take(struct admission_queue *q, int64_t now_ns, int *stale)
{
	*stale = 0;
	if (q->n == 0)
		return NULL;
	*stale = now_ns - q->since[q->head] > q->wait_max_ns;
	return pop(q);
}

void *
admission_reap(struct admission_queue *q, int64_t now_ns)
{
	if (q->n == 0 || now_ns - q->since[q->head] <= q->wait_max_ns)
		return NULL;
	return pop(q);
}

int64_t
admission_deadline(const struct admission_queue *q)
{
	return q->n == 0 ? -1 : q->since[q->head] + q->wait_max_ns;
}
