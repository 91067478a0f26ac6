/*
 * bench_tcb - the RC-TCB's hot paths on one core.
 *
 *   bench_tcb DIR SECONDS
 *
 *   verdict ingest (pure ivt, 1000 hosts)      ivt_verdict() alone
 *   verdict ingest (ivt + sqlite store)        ivt_verdict() + store_sync()
 *                                              per verdict: one durable
 *                                              transaction (WAL, fsync) per
 *                                              acknowledged verdict, in DIR
 *   rank query (10000 hosts)                   ivt_rank(top 5)
 *                                              over a region of 10,000
 *                                              TRUSTED hosts, mean per query
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcb/ivt.h"
#include "tcb/rank.h"
#include "tcb/store.h"

#define T0	1000000000LL

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const struct vouch_err *e)
{
	fprintf(stderr, "bench_tcb: %s: %s\n", what, e != NULL ? e->msg : "");
	exit(2);
}

static struct ivt *
region(size_t n, struct ivt_actions *a)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt_config c;
	struct ivt *t = NULL;
	char name[16];
	size_t i;

	ivt_config_default(&c);
	if (ivt_new(&c, &t, &e) < 0)
		die("ivt_new", &e);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "h%05zu", i);
		if (ivt_host_join(t, name, 1, T0, a, NULL, &e) < 0)
			die("join", &e);
	}
	ivt_actions_reset(a);
	return t;
}

/* Verdict number i: subject i % n, from its (i / n) % 2-th neighbour. */
static void
verdict(struct ivt *t, size_t n, long i, struct ivt_actions *a)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	char subj[16], ver[16];
	size_t s = (size_t)i % n;
	struct ivt_verdict v;

	snprintf(subj, sizeof(subj), "h%05zu", s);
	snprintf(ver, sizeof(ver), "h%05zu", (s + 1 + ((size_t)i / n) % 2) % n);
	v.subject = subj;
	v.verifier = ver;
	v.time = T0 + 1 + i;
	v.result = IVT_PASS;
	v.reset_count = 1;
	v.reason = "ok";
	if (ivt_verdict(t, &v, a, NULL, &e) < 0)
		die("verdict", &e);
}

static double
bench_pure(double seconds)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = region(1000, &a);
	double t0 = now_s(), el;
	long i = 0;

	do {
		long j;

		for (j = 0; j < 10000; j++, i++) {
			verdict(t, 1000, i, &a);
			ivt_actions_reset(&a);
		}
		ivt_dirty_clear(t);
	} while ((el = now_s() - t0) < seconds);
	ivt_free(t);
	ivt_actions_free(&a);
	return (double)i / el;
}

static double
bench_store(const char *dir, double seconds, int batch)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = region(1000, &a);
	struct store *s = NULL;
	char path[512];
	double t0, el;
	long i = 0;

	snprintf(path, sizeof(path), "%s/bench-ivt-%d.db", dir, batch);
	unlink(path);
	if (store_open(path, &s, &e) < 0)
		die("store_open", &e);
	if (store_sync(s, t, &a, &e) < 0)
		die("store_sync", &e);
	t0 = now_s();
	do {
		int j;

		for (j = 0; j < batch; j++, i++)
			verdict(t, 1000, i, &a);
		if (store_sync(s, t, &a, &e) < 0)
			die("store_sync", &e);
		ivt_actions_reset(&a);
	} while ((el = now_s() - t0) < seconds);
	store_free(s);
	ivt_free(t);
	ivt_actions_free(&a);
	snprintf(path, sizeof(path), "%s/bench-ivt-%d.db", dir, batch);
	unlink(path);
	strncat(path, "-wal", sizeof(path) - strlen(path) - 1);
	unlink(path);
	path[strlen(path) - 4] = '\0';
	strncat(path, "-shm", sizeof(path) - strlen(path) - 1);
	unlink(path);
	return (double)i / el;
}

/* 10,000 TRUSTED hosts, built as a daemon restarting from its store. */
static double
bench_rank(double seconds, double *worst)
{
	enum { N = 10000, TOP = 5 };
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *names[TOP];
	int64_t scores[TOP];
	struct rank_request req = { 4, 8192 };
	struct rank_weights w;
	struct ivt_host_rec *r = calloc(1, sizeof(*r));
	struct rank_cand *cand = calloc(N, sizeof(*cand));
	struct ivt_config c;
	struct ivt *t = NULL;
	int64_t now = T0 + 60000;
	double t0, el, q0, q;
	size_t i, n, got = 0;
	long queries = 0;

	ivt_config_default(&c);
	rank_weights_default(&w);
	if (r == NULL || cand == NULL || ivt_new(&c, &t, &e) < 0)
		die("set-up", &e);
	srand(1);
	for (i = 0; i < N; i++) {
		unsigned j;

		memset(r, 0, sizeof(*r));
		snprintf(r->name, sizeof(r->name), "h%05zu", i);
		r->state = IVT_TRUSTED;
		r->enrolled = 1;
		r->reset_known = 1;
		r->reset_count = 1;
		r->spare_vcpus = (uint32_t)(rand() % 64);
		r->spare_mib = (uint64_t)(rand() % 262144);
		r->pass_streak = (uint32_t)(rand() % 40);
		r->last_suspect_at = rand() % 10 ? -1 : T0 - rand() % 3600000;
		r->direct_requested_at = r->direct_pass_at = -1;
		r->rep_n = r->rep_k = 2;
		r->nslot = 2;
		for (j = 0; j < 2; j++) {
			snprintf(r->slot[j].verifier, sizeof(r->slot[j].verifier),
			    "h%05zu", (i + 1 + j) % N);
			r->slot[j].time = T0 + rand() % 50000;
			r->slot[j].result = IVT_PASS;
			r->slot[j].reset_count = 1;
		}
		if (ivt_restore_host(t, r, &e) < 0)
			die("restore", &e);
	}
	if (ivt_restore_done(t, now, &a, &e) < 0)
		die("restore_done", &e);
	*worst = 0;
	t0 = now_s();
	do {
		q0 = now_s();
		got = ivt_rank(t, now, &w, &req, names, scores, TOP);
		q = now_s() - q0;
		if (q > *worst)
			*worst = q;
		queries++;
	} while ((el = now_s() - t0) < seconds);
	n = ivt_candidates(t, now, cand, N);
	if (n != N || got != TOP)
		die("rank: not every host TRUSTED", NULL);
	ivt_free(t);
	ivt_actions_free(&a);
	free(r);
	free(cand);
	return el / (double)queries;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	double seconds = argc > 2 ? atof(argv[2]) : 2;
	double worst, mean;

	if (seconds <= 0)
		seconds = 2;
	printf("verdict ingest (pure ivt, 1000 hosts): %.0f verdicts/s\n",
	    bench_pure(seconds));
	printf("verdict ingest (ivt + sqlite store): %.0f verdicts/s\n",
	    bench_store(dir, seconds, 1));
	printf("verdict ingest (ivt + sqlite store, 100 per transaction): "
	    "%.0f verdicts/s\n", bench_store(dir, seconds, 100));
	mean = bench_rank(seconds, &worst);
	printf("rank query (10000 hosts): %.3f ms\n", mean * 1e3);
	return 0;
}
