/*
 * Unit tests: tcb/rank.c - the score (one case per weight, the worked
 * example of docs/tcb.md to the unit), capacity exclusion, one case per
 * tie-break, and the bounded-heap selection against a full sort.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tcb/rank.h"

#define NOW	10000000000LL

static struct rank_weights
only(uint32_t fresh, uint32_t history, uint32_t capacity, uint32_t suspect)
{
	struct rank_weights w;

	rank_weights_default(&w);
	w.fresh = fresh;
	w.history = history;
	w.capacity = capacity;
	w.suspect = suspect;
	return w;
}

static struct rank_cand
cand(const char *name, int64_t qage, uint32_t streak, uint32_t vcpus,
    uint64_t mib, int64_t suspect_age)
{
	struct rank_cand c;

	c.name = name;
	c.quorum_at = NOW - qage;
	c.pass_streak = streak;
	c.spare_vcpus = vcpus;
	c.spare_mib = mib;
	c.last_suspect_at = suspect_age < 0 ? -1 : NOW - suspect_age;
	return c;
}

static int64_t
score(const struct rank_cand *c, const struct rank_weights *w,
    const struct rank_request *q)
{
	int ok;
	int64_t s = rank_score(c, w, q, NOW, &ok);

	assert_true(ok);
	return s;
}

/* The example in docs/tcb.md, "Ranking". */
static void
test_worked_example(void **state)
{
	struct rank_weights w;
	struct rank_request q = { 4, 8192 };
	struct rank_cand c[3] = {
		cand("alpha", 30000, 10, 16, 32768, -1),
		cand("bravo", 5000, 25, 6, 12288, 600000),
		cand("charlie", 1000, 20, 2, 65536, -1),
	};
	struct rank_result out[3];
	int ok;

	(void)state;
	rank_weights_default(&w);
	assert_int_equal(score(&c[0], &w, &q), 66666640);
	assert_int_equal(score(&c[1], &w, &q), 21111090);
	(void)rank_score(&c[2], &w, &q, NOW, &ok);
	assert_false(ok);
	assert_int_equal(rank_top(c, 3, &w, &q, NOW, out, 3), 2);
	assert_int_equal(out[0].idx, 0);
	assert_int_equal(out[0].score, 66666640);
	assert_int_equal(out[1].idx, 1);
}

static void
test_weight_fresh(void **state)
{
	struct rank_weights w = only(1, 0, 0, 0);
	struct rank_request q = { 1, 1 };
	struct rank_cand c[2] = {
		cand("a", 60000, 5, 8, 8192, -1),	/* older quorum */
		cand("b", 0, 5, 8, 8192, -1),
	};
	struct rank_result out[2];

	(void)state;
	assert_int_equal(score(&c[1], &w, &q), RANK_PPM);
	assert_int_equal(score(&c[0], &w, &q), 333333);
	c[0].quorum_at = NOW - 89999;	/* 1 ms left: 11 ppm */
	assert_int_equal(score(&c[0], &w, &q), 11);
	c[0].quorum_at = NOW - 90000;	/* as old as the window: excluded */
	{
		int ok;

		assert_int_equal(rank_score(&c[0], &w, &q, NOW, &ok), 0);
		assert_false(ok);
	}
	c[0].quorum_at = NOW + 5;	/* clock skew: capped at 1e6 */
	assert_int_equal(score(&c[0], &w, &q), RANK_PPM);
	c[0].quorum_at = NOW - 60000;
	assert_int_equal(rank_top(c, 2, &w, &q, NOW, out, 2), 2);
	assert_string_equal(c[out[0].idx].name, "b");
}

static void
test_weight_history(void **state)
{
	struct rank_weights w = only(0, 1, 0, 0);
	struct rank_request q = { 1, 1 };
	struct rank_cand c[3] = {
		cand("a", 0, 5, 8, 8192, -1),
		cand("b", 0, 20, 8, 8192, -1),
		cand("c", 0, 500, 8, 8192, -1),	/* capped: same as b */
	};
	struct rank_result out[3];

	(void)state;
	assert_int_equal(score(&c[0], &w, &q), 250000);
	assert_int_equal(score(&c[1], &w, &q), RANK_PPM);
	assert_int_equal(score(&c[2], &w, &q), RANK_PPM);
	assert_int_equal(rank_top(c, 3, &w, &q, NOW, out, 3), 3);
	assert_string_equal(c[out[0].idx].name, "b");	/* tie with c: name */
	assert_string_equal(c[out[1].idx].name, "c");
	assert_string_equal(c[out[2].idx].name, "a");
}

static void
test_weight_capacity(void **state)
{
	struct rank_weights w = only(0, 0, 1, 0);
	struct rank_request q = { 2, 4096 };
	struct rank_request none = { 0, 0 };
	struct rank_cand c[3] = {
		cand("a", 0, 0, 2, 4096, -1),		/* just fits: 0 */
		cand("b", 0, 0, 5, 4096 * 100, -1),	/* vCPUs bind: 2.5x */
		cand("c", 0, 0, 64, 1 << 30, -1),	/* beyond fit_cap: 1e6 */
	};
	struct rank_result out[3];

	(void)state;
	assert_int_equal(score(&c[0], &w, &q), 0);
	assert_int_equal(score(&c[1], &w, &q), 500000);	/* (2.5-1)/(4-1) */
	assert_int_equal(score(&c[2], &w, &q), RANK_PPM);
	assert_int_equal(rank_top(c, 3, &w, &q, NOW, out, 3), 3);
	assert_string_equal(c[out[0].idx].name, "c");
	assert_string_equal(c[out[2].idx].name, "a");
	/* An empty request constrains nothing and scores nothing. */
	assert_int_equal(score(&c[2], &w, &none), 0);
	/* Memory can bind too. */
	q.vcpus = 0;
	c[0].spare_mib = 4096 * 3;
	assert_int_equal(score(&c[0], &w, &q), 666666);
}

static void
test_weight_suspect(void **state)
{
	struct rank_weights w = only(1, 0, 0, 1);
	struct rank_request q = { 1, 1 };
	struct rank_cand c[3] = {
		cand("a", 0, 0, 8, 8192, 0),		/* SUSPECT just now */
		cand("b", 0, 0, 8, 8192, 1800000),	/* half a window ago */
		cand("c", 0, 0, 8, 8192, 3600000),	/* a window ago: forgotten */
	};
	struct rank_result out[3];

	(void)state;
	assert_int_equal(score(&c[0], &w, &q), 0);
	assert_int_equal(score(&c[1], &w, &q), 500000);
	assert_int_equal(score(&c[2], &w, &q), RANK_PPM);
	assert_int_equal(rank_top(c, 3, &w, &q, NOW, out, 3), 3);
	assert_string_equal(c[out[0].idx].name, "c");
	assert_string_equal(c[out[1].idx].name, "b");
	assert_string_equal(c[out[2].idx].name, "a");
	/* The penalty can push a score below zero. */
	w = only(0, 0, 0, 1);
	assert_int_equal(score(&c[0], &w, &q), -RANK_PPM);
}

static void
test_capacity_exclusion(void **state)
{
	struct rank_weights w;
	struct rank_request q = { 4, 8192 };
	struct rank_cand c[4] = {
		cand("few-cpus", 0, 0, 3, 1 << 20, -1),
		cand("few-mib", 0, 0, 64, 8191, -1),
		cand("exact", 0, 0, 4, 8192, -1),
		cand("zero", 0, 0, 0, 0, -1),
	};
	struct rank_result out[4];
	int ok;

	(void)state;
	rank_weights_default(&w);
	assert_int_equal(rank_top(c, 4, &w, &q, NOW, out, 4), 1);
	assert_string_equal(c[out[0].idx].name, "exact");
	assert_int_equal(rank_score(&c[0], &w, &q, NOW, &ok), 0);
	assert_false(ok);
	q.vcpus = 0;
	q.mib = 0;
	assert_int_equal(rank_top(c, 4, &w, &q, NOW, out, 4), 4);
}

/* Tie-break 1: equal scores, the fresher quorum first. */
static void
test_tiebreak_fresher(void **state)
{
	struct rank_weights w = only(0, 1, 0, 0);
	struct rank_request q = { 0, 0 };
	struct rank_cand c[2] = {
		cand("a", 500, 7, 8, 8192, -1),
		cand("b", 100, 7, 8, 8192, -1),
	};
	struct rank_result out[2];

	(void)state;
	assert_int_equal(score(&c[0], &w, &q), score(&c[1], &w, &q));
	assert_int_equal(rank_top(c, 2, &w, &q, NOW, out, 2), 2);
	assert_string_equal(c[out[0].idx].name, "b");
	assert_true(rank_before(&c[1], 5, &c[0], 5));
	assert_false(rank_before(&c[0], 5, &c[1], 5));
	/* ...but the score comes first. */
	assert_true(rank_before(&c[0], 6, &c[1], 5));
}

/* Tie-break 2: equal score and quorum time, the name, in any input order. */
static void
test_tiebreak_name(void **state)
{
	struct rank_weights w;
	struct rank_request q = { 1, 1 };
	struct rank_cand c[3] = {
		cand("host-b", 100, 7, 8, 8192, -1),
		cand("host-c", 100, 7, 8, 8192, -1),
		cand("host-a", 100, 7, 8, 8192, -1),
	};
	struct rank_result out[3];

	(void)state;
	rank_weights_default(&w);
	assert_int_equal(rank_top(c, 3, &w, &q, NOW, out, 3), 3);
	assert_string_equal(c[out[0].idx].name, "host-a");
	assert_string_equal(c[out[1].idx].name, "host-b");
	assert_string_equal(c[out[2].idx].name, "host-c");
	assert_int_equal(rank_top(c, 3, &w, &q, NOW, out, 1), 1);
	assert_string_equal(c[out[0].idx].name, "host-a");
	assert_false(rank_before(&c[0], 1, &c[0], 1));	/* strict */
}

static const struct rank_cand *sort_c;
static const int64_t *sort_s;

static int
cmp_full(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (rank_before(&sort_c[i], sort_s[i], &sort_c[j], sort_s[j]))
		return -1;
	if (rank_before(&sort_c[j], sort_s[j], &sort_c[i], sort_s[i]))
		return 1;
	return 0;
}

/* The bounded heap gives exactly the head of a full sort. */
static void
test_top_matches_full_sort(void **state)
{
	enum { M = 3000 };
	static struct rank_cand c[M];
	static char names[M][16];
	static int64_t s[M];
	static size_t order[M];
	static struct rank_result out[M + 10];
	static const size_t maxes[] = { 1, 2, 5, 64, M, M + 10 };
	struct rank_weights w;
	struct rank_request q = { 2, 2048 };
	size_t i, k, n, eligible = 0;

	(void)state;
	rank_weights_default(&w);
	srand(7);
	for (i = 0; i < M; i++) {
		int ok;

		snprintf(names[i], sizeof(names[i]), "h%05d", rand() % 100000);
		/* coarse values so that many scores tie */
		c[i] = cand(names[i], (rand() % 4) * 20000, (uint32_t)(rand() % 4) * 5,
		    (uint32_t)(rand() % 6), (uint64_t)(rand() % 6) * 1024,
		    rand() % 3 ? -1 : (rand() % 2) * 1800000);
		s[i] = rank_score(&c[i], &w, &q, NOW, &ok);
		if (ok)
			order[eligible++] = i;
	}
	sort_c = c;
	sort_s = s;
	qsort(order, eligible, sizeof(order[0]), cmp_full);
	for (k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++) {
		n = rank_top(c, M, &w, &q, NOW, out, maxes[k]);
		assert_int_equal(n, maxes[k] < eligible ? maxes[k] : eligible);
		for (i = 0; i < n; i++) {
			/* same candidate, or an exact duplicate of it */
			if (out[i].idx != order[i])
				assert_int_equal(cmp_full(&out[i].idx, &order[i]), 0);
			assert_int_equal(out[i].score, s[order[i]]);
		}
	}
	assert_int_equal(rank_top(c, M, &w, &q, NOW, out, 0), 0);
	assert_int_equal(rank_top(c, 0, &w, &q, NOW, out, 5), 0);
}

static void
test_huge_values(void **state)
{
	struct rank_weights w = only(0, 0, 1000, 0);
	struct rank_request q = { 1, 3 };
	struct rank_cand c = cand("big", 0, UINT32_MAX, UINT32_MAX, UINT64_MAX, -1);

	(void)state;
	w.fit_cap = 1000000;
	assert_int_equal(score(&c, &w, &q), 1000 * RANK_PPM);
	q.mib = UINT64_MAX - 1;		/* spare barely above the request */
	assert_int_equal(score(&c, &w, &q), 0);
	w = only(1000, 1000, 1000, 1000);
	w.streak_cap = 1;
	q.mib = 1;
	assert_true(score(&c, &w, &q) > 0);
}

static void
test_weights_check(void **state)
{
	struct rank_weights w;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	rank_weights_default(&w);
	assert_int_equal(rank_weights_check(&w, &e), 0);
	w.fresh = 1001;
	assert_int_equal(rank_weights_check(&w, &e), VOUCH_E_CONFIG);
	rank_weights_default(&w);
	w.fit_cap = 1;
	assert_int_equal(rank_weights_check(&w, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "fit_cap"));
	rank_weights_default(&w);
	w.streak_cap = 0;
	assert_int_equal(rank_weights_check(&w, &e), VOUCH_E_CONFIG);
	rank_weights_default(&w);
	w.suspect_window_ms = 0;
	assert_int_equal(rank_weights_check(&w, &e), VOUCH_E_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_example),
		cmocka_unit_test(test_weight_fresh),
		cmocka_unit_test(test_weight_history),
		cmocka_unit_test(test_weight_capacity),
		cmocka_unit_test(test_weight_suspect),
		cmocka_unit_test(test_capacity_exclusion),
		cmocka_unit_test(test_tiebreak_fresher),
		cmocka_unit_test(test_tiebreak_name),
		cmocka_unit_test(test_top_matches_full_sort),
		cmocka_unit_test(test_huge_values),
		cmocka_unit_test(test_weights_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
