/* admission.h: the queue of a login process (lib/server.c,
 * server_main_admitted). A login holds its process for one bcrypt (about
 * 0.3 s at cost 12), so a process that took connections as they came
 * would hold a flood's worth for tens of seconds. Instead every accepted
 * request waits here for its turn, at most ADMISSION_WAIT_MS; one that
 * finds every slot taken is refused at once, and one still waiting at its
 * deadline is refused then, unserved, whether or not the worker is free
 * to look at it. Refusing at the deadline rather than on arrival is what
 * keeps a flood cheap: a client that retries at once still sends one
 * login per connection per wait bound, not one per millisecond, so the
 * web server is not kept busy answering refusals either.
 *
 * A plain FIFO, with no locking and no clock of its own (times are
 * parameters), so that its decisions are tested alone. */
#ifndef LATCH_ADMISSION_H
#define LATCH_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

/* The most requests a process holds accepted and waiting: a bound on
 * memory (libfcgi's buffers, about 24 KiB a request) and on connections;
 * above the flood a pool of two meets (issue 10: four times the
 * processes, 16 connections) with room to spare. */
#define ADMISSION_SLOTS 32
/* The longest a request waits for its turn before it is refused unserved:
 * within the fail-fast bound (issue 10: an answer within 5 s) with 2 s to
 * spare for a refusal that is late on a busy machine, and long enough
 * that a burst of a few logins per process is served, not refused, even
 * when each hash takes several times its 0.3 s (cost 12) on a busy
 * machine. */
#define ADMISSION_WAIT_MS 3000
/* The longest a served login may take from its arrival to its answer,
 * wait and hash together: under the fail-fast bound of 5 s with a second
 * to spare. A hash at low priority takes several times its 0.3 s while
 * the fast routes keep the CPU busy (measured: a served login's answer
 * after 6.2 s, a 3 s wait and then a slow hash), so a request is only
 * served while its wait so far plus the recent hashes' time fits. */
#define ADMISSION_ANSWER_MS 4000
/* Retry-After of a refusal, in seconds: one wait bound. */
#define ADMISSION_RETRY_AFTER ((ADMISSION_WAIT_MS + 999) / 1000)

struct admission_queue {
	void *item[ADMISSION_SLOTS];    /* a ring, oldest at head */
	int64_t since[ADMISSION_SLOTS]; /* when each was queued, ns */
	/* Came to an empty queue and an idle worker: it waits behind no
	 * one, so it is never refused (only the head can be one). */
	unsigned char prompt[ADMISSION_SLOTS];
	size_t head, n;
	int busy;           /* the worker serves one (taken, not yet served) */
	int64_t wait_max_ns;
	int64_t answer_max_ns;
	int64_t service_ns; /* recent time to serve one, a moving average */
	int64_t spread_ns;  /* how far from it they were, a moving average */
};

/* Empties q; requests may wait wait_max_ns, and are answered within
 * answer_max_ns of their arrival when served. */
void admission_init(struct admission_queue *q, int64_t wait_max_ns,
    int64_t answer_max_ns);

/* The worker served the one it took in service_ns (its wall-clock time,
 * hash and database): the worker is idle again, and the expectation that
 * shortens the wait of the next ones when serving is slow is updated. */
void admission_served(struct admission_queue *q, int64_t service_ns);

/* Queues item (not NULL), arrived at now_ns. Returns 0, or -1 when every
 * slot is taken: the request is then to be refused at once. One that
 * finds the queue empty and the worker idle is never refused: however
 * late the worker gets the CPU to take it (a busy machine, a low
 * priority), it waited behind no other login. */
int admission_push(struct admission_queue *q, void *item, int64_t now_ns);

/* The oldest request, removed, for the worker to serve; NULL when none
 * waits. *stale is 1 when it waited past its bound by now_ns (refuse it
 * unserved), else 0, and the worker is then busy until admission_served.
 * A request's bound is wait_max_ns, shortened so that the wait plus the
 * expected service time (the recent average plus twice the recent
 * spread) stays within answer_max_ns, down to a tenth of wait_max_ns at
 * the least. */
void *admission_take(struct admission_queue *q, int64_t now_ns, int *stale);

/* The oldest request that may be refused, removed, when it has waited
 * past its bound by now_ns; otherwise NULL and nothing changes. */
void *admission_reap(struct admission_queue *q, int64_t now_ns);

/* When the wait of the oldest request that may be refused ends (ns, the
 * clock of now_ns), or -1 when none waits. No other request's ends
 * sooner: they came later. */
int64_t admission_deadline(const struct admission_queue *q);

#endif
