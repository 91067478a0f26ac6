/* Unit tests: tcb/neighbours.c - the sorted ring and the assignment. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tcb/neighbours.h"

static void
test_ring_sorted(void **state)
{
	static const char *const names[] = { "delta", "alpha", "echo", "charlie", "bravo" };
	struct nbr_ring *r = nbr_ring_new();
	int items[5];
	size_t i, at;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < 5; i++)
		assert_int_equal(nbr_ring_insert(r, names[i], &items[i], NULL), 0);
	assert_int_equal(nbr_ring_insert(r, "charlie", NULL, NULL), VOUCH_E_EXISTS);
	assert_int_equal(nbr_ring_size(r), 5);
	assert_string_equal(nbr_ring_name(r, 0), "alpha");
	assert_string_equal(nbr_ring_name(r, 1), "bravo");
	assert_string_equal(nbr_ring_name(r, 4), "echo");
	assert_ptr_equal(nbr_ring_item(r, 0), &items[1]);
	assert_null(nbr_ring_item(r, 5));
	assert_true(nbr_ring_find(r, "delta", &at));
	assert_int_equal(at, 3);
	assert_false(nbr_ring_find(r, "c", &at));
	assert_int_equal(at, 2);
	assert_false(nbr_ring_find(r, "zulu", &at));
	assert_int_equal(at, 5);
	assert_int_equal(nbr_ring_remove(r, "bravo", NULL), 0);
	assert_int_equal(nbr_ring_remove(r, "bravo", NULL), VOUCH_E_NOTFOUND);
	assert_string_equal(nbr_ring_name(r, 1), "charlie");
	assert_int_equal(nbr_ring_size(r), 4);
	nbr_ring_free(r);
	nbr_ring_free(NULL);
}

static void
test_assign_ring(void **state)
{
	size_t out[NBR_MAX];

	(void)state;
	/* a b c d e, n = 2: each challenged by the next two, wrapping */
	assert_int_equal(nbr_assign(5, 0, 2, out), 2);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2);
	assert_int_equal(nbr_assign(5, 3, 2, out), 2);
	assert_int_equal(out[0], 4);
	assert_int_equal(out[1], 0);
	assert_int_equal(nbr_assign(5, 4, 2, out), 2);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 1);
	/* fewer members: fewer neighbours, never oneself */
	assert_int_equal(nbr_assign(2, 1, 2, out), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(nbr_assign(1, 0, 2, out), 0);
	assert_int_equal(nbr_assign(0, 0, 2, out), 0);
	assert_int_equal(nbr_assign(3, 3, 2, out), 0);	/* out of range */
	/* n capped at NBR_MAX */
	assert_int_equal(nbr_assign(100, 0, NBR_MAX + 5, out), NBR_MAX);
}

static void
test_every_member_equally_loaded(void **state)
{
	size_t m, i, out[NBR_MAX];
	unsigned n, j, load[20];

	(void)state;
	/* Each member verifies exactly min(n, m-1) others: no hot spots. */
	for (m = 1; m <= 20; m++)
		for (n = 1; n <= 4; n++) {
			memset(load, 0, sizeof(load));
			for (i = 0; i < m; i++) {
				unsigned c = nbr_assign(m, i, n, out);

				for (j = 0; j < c; j++) {
					assert_int_not_equal(out[j], i);
					load[out[j]]++;
				}
			}
			for (i = 0; i < m; i++)
				assert_int_equal(load[i], m - 1 < n ? m - 1 : n);
		}
}

static void
test_quorum_degrades(void **state)
{
	struct nbr_quorum q;

	(void)state;
	nbr_quorum(10, 2, 2, &q);
	assert_int_equal(q.n, 2);
	assert_int_equal(q.k, 2);
	assert_false(q.degraded);
	nbr_quorum(3, 2, 2, &q);
	assert_false(q.degraded);
	nbr_quorum(2, 2, 2, &q);
	assert_int_equal(q.n, 1);
	assert_int_equal(q.k, 1);
	assert_true(q.degraded);
	nbr_quorum(1, 2, 2, &q);
	assert_int_equal(q.n, 0);
	assert_int_equal(q.k, 0);
	assert_true(q.degraded);
	/* 3 of 4 in a region of 4: n = 3, k stays 3, still degraded */
	nbr_quorum(4, 4, 3, &q);
	assert_int_equal(q.n, 3);
	assert_int_equal(q.k, 3);
	assert_true(q.degraded);
	assert_int_equal(q.n_nominal, 4);
	assert_int_equal(q.k_nominal, 3);
}

static void
test_eligible(void **state)
{
	(void)state;
	assert_true(nbr_eligible(1, 0));
	assert_false(nbr_eligible(0, 0));
	assert_false(nbr_eligible(1, 1));
	assert_false(nbr_eligible(0, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_sorted),
		cmocka_unit_test(test_assign_ring),
		cmocka_unit_test(test_every_member_equally_loaded),
		cmocka_unit_test(test_quorum_degrades),
		cmocka_unit_test(test_eligible),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
