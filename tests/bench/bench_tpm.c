/*
 * bench_tpm - TPM quotes per second through the production code path
 * (tpm_quote with a loaded AK), against whatever TCTI is given.
 *
 *   bench_tpm TCTI STATEDIR PCRS SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/tpm.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tpm_ctx *t = NULL;
	struct tpm_ak *ak = NULL;
	struct pcr_selection sel;
	uint8_t nonce[32] = { 0 };
	double seconds, t0, t1;
	long n = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_tpm TCTI STATEDIR PCRS SECONDS\n");
		return 2;
	}
	seconds = atof(argv[4]);
	if (pcr_selection_parse(argv[3], &sel, &e) < 0 ||
	    tpm_open(argv[1], &t, &e) < 0 ||
	    tpm_ak_open(t, argv[2], &ak, &e) < 0) {
		fprintf(stderr, "bench_tpm: %s\n", e.msg);
		return 2;
	}
	t0 = now();
	do {
		struct evidence *ev = evidence_new();
		memcpy(nonce, &n, sizeof(n));
		if (ev == NULL || tpm_quote(ak, nonce, sizeof(nonce), &sel, ev, &e) < 0) {
			fprintf(stderr, "bench_tpm: %s\n", e.msg);
			return 2;
		}
		evidence_free(ev);
		n++;
		t1 = now();
	} while (t1 - t0 < seconds);
	printf("tpm quote (%s, swtpm): %.0f/s  (%.2f ms each)\n", argv[3],
	    (double)n / (t1 - t0), (t1 - t0) / (double)n * 1e3);
	tpm_ak_close(ak);
	tpm_close(t);
	return 0;
}
