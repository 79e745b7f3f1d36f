/* test_admission.c: the login queue (lib/admission): what is queued, what
 * is refused at once, what is refused at its deadline, in which order the
 * worker gets what waits. The threads that act on it are tested through
 * the stack (tests/integration/test_login_admission.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admission.h"

#define MS ((int64_t)1000000)

static int items[ADMISSION_SLOTS + 2];
static int in_hand;

/* The worker takes one to serve and has not finished it: whatever comes
 * now waits behind it. */
static void
busy_worker(struct admission_queue *q)
{
	int stale;

	assert_int_equal(admission_push(q, &in_hand, 0), 0);
	assert_ptr_equal(admission_take(q, 0, &stale), &in_hand);
	assert_int_equal(stale, 0);
}

static void
test_empty_queue_has_nothing(void **state)
{
	struct admission_queue q;
	int stale = 7;

	(void)state;
	admission_init(&q, 2000 * MS, 3000 * MS);
	assert_null(admission_take(&q, 0, &stale));
	assert_int_equal(stale, 0);
	assert_null(admission_reap(&q, INT64_MAX / 2));
	assert_int_equal(admission_deadline(&q), -1);
}

static void
test_full_queue_refuses_at_once(void **state)
{
	struct admission_queue q;
	int stale;

	(void)state;
	admission_init(&q, 2000 * MS, 3000 * MS);
	for (int i = 0; i < ADMISSION_SLOTS; i++)
		assert_int_equal(admission_push(&q, &items[i], i), 0);
	assert_int_equal(admission_push(&q, &items[ADMISSION_SLOTS], 99), -1);
	/* A slot freed is a slot again. */
	assert_ptr_equal(admission_take(&q, 100, &stale), &items[0]);
	assert_int_equal(admission_push(&q, &items[ADMISSION_SLOTS], 100), 0);
	assert_int_equal(admission_push(&q, &items[ADMISSION_SLOTS + 1], 100),
	    -1);
}

static void
test_worker_takes_oldest_first_across_the_ring(void **state)
{
	struct admission_queue q;
	int stale;

	(void)state;
	admission_init(&q, 2000 * MS, 3000 * MS);
	/* Wrap the ring around: push and take past its end. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < ADMISSION_SLOTS - 1; i++)
			assert_int_equal(admission_push(&q, &items[i], i), 0);
		for (int i = 0; i < ADMISSION_SLOTS - 1; i++) {
			assert_ptr_equal(admission_take(&q, i, &stale),
			    &items[i]);
			assert_int_equal(stale, 0);
		}
	}
	assert_null(admission_take(&q, 0, &stale));
}

static void
test_stale_only_past_the_bound(void **state)
{
	struct admission_queue q;
	int stale;

	(void)state;
	admission_init(&q, 2000 * MS, 3000 * MS);
	busy_worker(&q);
	admission_push(&q, &items[0], 1000 * MS);
	admission_push(&q, &items[1], 1500 * MS);
	assert_int_equal(admission_deadline(&q), 3000 * MS);
	/* Exactly at the bound is still in time. */
	assert_ptr_equal(admission_take(&q, 3000 * MS, &stale), &items[0]);
	assert_int_equal(stale, 0);
	assert_ptr_equal(admission_take(&q, 3500 * MS + 1, &stale), &items[1]);
	assert_int_equal(stale, 1);
}

static void
test_slow_service_shortens_the_wait(void **state)
{
	struct admission_queue q;
	int64_t deadline;
	int stale;

	(void)state;
	admission_init(&q, 3000 * MS, 4000 * MS);
	/* Fast hashes: the whole wait bound. */
	admission_served(&q, 300 * MS);
	busy_worker(&q);
	assert_int_equal(admission_push(&q, &items[0], 0), 0);
	assert_int_equal(admission_deadline(&q), 3000 * MS);

	/* A first hash of 2 s sets the average and a spread of half of it:
	 * 2 s + 2 x 1 s expected leaves no room, so the tenth of the bound
	 * is all a request may wait. */
	admission_init(&q, 3000 * MS, 4000 * MS);
	admission_served(&q, 2000 * MS);
	busy_worker(&q);
	assert_int_equal(admission_push(&q, &items[0], 0), 0);
	assert_int_equal(admission_push(&q, &items[1], 0), 0);
	assert_int_equal(admission_deadline(&q), 300 * MS);
	assert_null(admission_reap(&q, 300 * MS));
	assert_ptr_equal(admission_reap(&q, 300 * MS + 1), &items[0]);
	assert_ptr_equal(admission_take(&q, 300 * MS + 1, &stale), &items[1]);
	assert_int_equal(stale, 1);

	/* Steady 2 s hashes: the spread dies away, and a request may wait
	 * nearly 2 s, to be answered by 4 s. */
	for (int i = 0; i < 40; i++)
		admission_served(&q, 2000 * MS);
	busy_worker(&q);
	assert_int_equal(admission_push(&q, &items[0], 0), 0);
	deadline = admission_deadline(&q);
	assert_true(deadline > 1990 * MS && deadline <= 2000 * MS);
	assert_ptr_equal(admission_take(&q, 0, &stale), &items[0]);

	/* One fast hash moves the average a quarter of the way (1.5 s) and
	 * widens the spread by a quarter of its miss (0.5 s): 2.5 s
	 * expected, so a 1.5 s wait. */
	admission_served(&q, 0);
	busy_worker(&q);
	assert_int_equal(admission_push(&q, &items[0], 0), 0);
	deadline = admission_deadline(&q);
	assert_true(deadline > 1490 * MS && deadline <= 1500 * MS);
	assert_ptr_equal(admission_take(&q, 0, &stale), &items[0]);
}

static void
test_uneven_service_waits_less_than_even(void **state)
{
	struct admission_queue even, uneven;
	int64_t even_deadline, uneven_deadline;

	(void)state;
	/* The same average, 1.5 s: even hashes, and hashes of 0.5 s and
	 * 2.5 s in turn. The uneven ones' answers would be late half the
	 * time on the average alone; their spread shortens the wait. */
	admission_init(&even, 3000 * MS, 4000 * MS);
	admission_init(&uneven, 3000 * MS, 4000 * MS);
	for (int i = 0; i < 40; i++) {
		admission_served(&even, 1500 * MS);
		admission_served(&uneven, (i % 2 ? 2500 : 500) * MS);
	}
	busy_worker(&even);
	busy_worker(&uneven);
	assert_int_equal(admission_push(&even, &items[0], 0), 0);
	assert_int_equal(admission_push(&uneven, &items[1], 0), 0);
	even_deadline = admission_deadline(&even);
	uneven_deadline = admission_deadline(&uneven);
	assert_true(even_deadline > 2490 * MS && even_deadline <= 2500 * MS);
	/* Average near 1.5 s, spread near 1 s: a wait under 1 s. */
	assert_true(uneven_deadline >= 300 * MS &&
	    uneven_deadline < 1000 * MS);
}

static void
test_very_slow_service_still_serves_some(void **state)
{
	struct admission_queue q;
	int stale;

	(void)state;
	admission_init(&q, 3000 * MS, 4000 * MS);
	admission_served(&q, 9000 * MS);
	busy_worker(&q);
	/* Past the answer bound, a request still waits a tenth of the wait
	 * bound, so that serving goes on and the average can come down. */
	assert_int_equal(admission_push(&q, &items[0], 0), 0);
	assert_int_equal(admission_deadline(&q), 300 * MS);
	assert_ptr_equal(admission_take(&q, 300 * MS, &stale), &items[0]);
	assert_int_equal(stale, 0);
	assert_int_equal(admission_push(&q, &items[1], 0), 0);
	assert_ptr_equal(admission_take(&q, 300 * MS + 1, &stale), &items[1]);
	assert_int_equal(stale, 1);
}

static void
test_reap_removes_only_the_overdue(void **state)
{
	struct admission_queue q;
	int stale;

	(void)state;
	admission_init(&q, 2000 * MS, 3000 * MS);
	busy_worker(&q);
	admission_push(&q, &items[0], 0);
	admission_push(&q, &items[1], 500 * MS);
	admission_push(&q, &items[2], 2500 * MS);
	assert_null(admission_reap(&q, 2000 * MS));
	assert_ptr_equal(admission_reap(&q, 2600 * MS), &items[0]);
	assert_ptr_equal(admission_reap(&q, 2600 * MS), &items[1]);
	assert_null(admission_reap(&q, 2600 * MS));
	/* The next deadline is the one left's. */
	assert_int_equal(admission_deadline(&q), 4500 * MS);
	assert_ptr_equal(admission_take(&q, 2600 * MS, &stale), &items[2]);
	assert_int_equal(stale, 0);
	assert_int_equal(admission_deadline(&q), -1);
}

static void
test_a_login_to_an_idle_worker_is_never_refused(void **state)
{
	struct admission_queue q;
	int stale;

	(void)state;
	admission_init(&q, 3000 * MS, 4000 * MS);
	admission_served(&q, 9000 * MS);
	/* The worker is idle and the queue empty: however late the worker
	 * comes to it, it is served, and the reaper leaves it alone. */
	assert_int_equal(admission_push(&q, &items[0], 0), 0);
	assert_int_equal(admission_deadline(&q), -1);
	assert_null(admission_reap(&q, 60000 * MS));
	/* One behind it may be refused, at its own deadline; the prompt
	 * one stays at the head. */
	assert_int_equal(admission_push(&q, &items[1], 100 * MS), 0);
	assert_int_equal(admission_push(&q, &items[2], 200 * MS), 0);
	assert_int_equal(admission_deadline(&q), 400 * MS);
	assert_null(admission_reap(&q, 400 * MS));
	assert_ptr_equal(admission_reap(&q, 400 * MS + 1), &items[1]);
	assert_int_equal(admission_deadline(&q), 500 * MS);
	assert_ptr_equal(admission_take(&q, 60000 * MS, &stale), &items[0]);
	assert_int_equal(stale, 0);
	/* The worker is busy now: the next one is an ordinary wait. */
	assert_ptr_equal(admission_take(&q, 60000 * MS, &stale), &items[2]);
	assert_int_equal(stale, 1);
	assert_null(admission_take(&q, 60000 * MS, &stale));
	/* Served: idle again, and the next to an empty queue is prompt. */
	admission_served(&q, 300 * MS);
	assert_int_equal(admission_push(&q, &items[3], 70000 * MS), 0);
	assert_ptr_equal(admission_take(&q, 90000 * MS, &stale), &items[3]);
	assert_int_equal(stale, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_queue_has_nothing),
		cmocka_unit_test(test_full_queue_refuses_at_once),
		cmocka_unit_test(test_worker_takes_oldest_first_across_the_ring),
		cmocka_unit_test(test_stale_only_past_the_bound),
		cmocka_unit_test(test_reap_removes_only_the_overdue),
		cmocka_unit_test(test_slow_service_shortens_the_wait),
		cmocka_unit_test(test_uneven_service_waits_less_than_even),
		cmocka_unit_test(test_very_slow_service_still_serves_some),
		cmocka_unit_test(test_a_login_to_an_idle_worker_is_never_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
