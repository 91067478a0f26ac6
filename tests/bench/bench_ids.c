/*
 * bench_ids - introspection of a running lab guest, one core.
 *
 *   bench_ids MEMSPEC SECONDS
 *
 *   profile load          kallsyms search + BTF + page tables, once
 *   full check            every check (processes, hidden processes,
 *                         syscall table, IDT, kernel .text/.rodata vs the
 *                         baseline, modules, shared creds), median
 *   per process           median task-list walk / tasks walked
 *   guest memory read     bytes the full check reads / its time, next to
 *                         memcpy of the same amount in this run
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids/checks.h"
#include "ids/linux.h"
#include "ids/mem.h"

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
	fprintf(stderr, "bench_ids: %s: %s\n", what, e->msg);
	exit(2);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

#define MAXRUNS 100000

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *mem;
	struct vmi_linux *lx;
	struct vmi_baseline b;
	struct vmi_findings f = { NULL, 0, 0 };
	struct vmi_run_stats st;
	static double full[MAXRUNS], walk[MAXRUNS];
	size_t nfull = 0, nwalk = 0, tasks = 0, i;
	uint64_t bytes = 0;
	double t0, secs, t, mc;
	uint8_t *src, *dst;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_ids MEMSPEC SECONDS\n");
		return 2;
	}
	secs = atof(argv[2]);
	if (vmi_mem_open(argv[1], 0, &mem, &e) < 0)
		die(argv[1], &e);
	t = now_s();
	if (vmi_linux_open(mem, NULL, &lx, &e) < 0)
		die("profile", &e);
	printf("profile load: %.1f ms (kernel %s, slide 0x%llx)\n",
	    (now_s() - t) * 1e3, lx->release, (unsigned long long)lx->slide);
	t = now_s();
	if (vmi_baseline_take(lx, &b, &e) < 0)
		die("baseline", &e);
	printf("baseline: %.1f ms (%zu text + %zu rodata pages, SHA-256)\n",
	    (now_s() - t) * 1e3, b.text_pages, b.rodata_pages);

	t0 = now_s();
	while (now_s() - t0 < secs && nfull < MAXRUNS) {
		vmi_findings_reset(&f);
		if (vmi_run_checks(lx, &b, VMI_CHECK_ALL, &f, &st, &e) < 0)
			die("checks", &e);
		full[nfull++] = (double)st.ns / 1e6;
		bytes = st.bytes_read;
		tasks = st.tasks;
	}
	for (i = 0; i < f.n; i++)
		fprintf(stderr, "bench_ids: finding on a clean guest: %s\n",
		    f.v[i].detail);
	t0 = now_s();
	while (now_s() - t0 < secs / 2 && nwalk < MAXRUNS) {
		vmi_findings_reset(&f);
		(void)vmi_run_checks(lx, &b, VMI_CHECK_PROCESSES, &f, &st, &e);
		walk[nwalk++] = (double)st.ns / 1e3 / (double)(st.tasks ? st.tasks : 1);
	}
	t = median(full, nfull);
	printf("full check: %.2f ms (median of %zu; %zu processes, %llu bytes read)\n",
	    t, nfull, tasks, (unsigned long long)bytes);
	printf("per process: %.2f us (median task-list walk / tasks)\n",
	    median(walk, nwalk));

	/* memcpy of the same byte count, same run. */
	src = malloc(bytes ? bytes : 1);
	dst = malloc(bytes ? bytes : 1);
	if (src == NULL || dst == NULL)
		return 2;
	memset(src, 1, bytes);
	memset(dst, 0, bytes);
	for (i = 0, t0 = now_s(); now_s() - t0 < 0.5; i++)
		memcpy(dst, src, bytes), src[i % (bytes ? bytes : 1)] ^= dst[0];
	mc = (double)bytes * (double)i / (now_s() - t0);
	printf("guest memory read: %.0f MB/s, memcpy: %.0f MB/s, ratio: %.2f\n",
	    (double)bytes / (t / 1e3) / 1e6, mc / 1e6,
	    ((double)bytes / (t / 1e3)) / mc);
	free(src);
	free(dst);
	vmi_findings_free(&f);
	vmi_baseline_free(&b);
	vmi_linux_close(lx);
	vmi_mem_close(mem);
	return 0;
}
