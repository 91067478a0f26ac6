/*
 * bench_verify - full verifications per second on one core, against raw
 * ECDSA P-256 verifications per second measured in the same run.
 *
 *   bench_verify EVIDENCE AK.pem NONCE-HEX POLICY SECONDS
 *
 * A full verification is what `vouchctl verify` does per quote: decode
 * nothing (the evidence is decoded once, as a daemon would hold it), then
 * signature + attest + nonce + PCR digest + replay of the logs + a
 * reference-value lookup per log entry.  The raw figure is ECDSA P-256
 * verification of a 32-byte digest with a context prepared once, as
 * `openssl speed ecdsap256` measures it.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/verify.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The three figures are taken in interleaved slices (full, cached, raw,
 * full, ...) of SLICE seconds each, so a change in machine load during
 * the run moves all three alike and the ratios stay meaningful.
 */
#define SLICE	0.02

struct meter {
	double	secs;
	long	n;
};

static EVP_PKEY_CTX *
raw_setup(EVP_PKEY **key, uint8_t *sig, size_t *siglen,
    const uint8_t *dgst)
{
	EVP_PKEY_CTX *ctx;

	if ((*key = EVP_EC_gen("P-256")) == NULL ||
	    (ctx = EVP_PKEY_CTX_new(*key, NULL)) == NULL ||
	    EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, sig, siglen, dgst, 32) != 1 ||
	    EVP_PKEY_verify_init(ctx) != 1) {
		fprintf(stderr, "bench_verify: OpenSSL ECDSA set-up failed\n");
		exit(2);
	}
	return ctx;
}

/* One slice of raw ECDSA P-256 verifications of a 32-byte digest. */
static void
slice_raw(EVP_PKEY_CTX *ctx, const uint8_t *sig, size_t siglen,
    const uint8_t *dgst, struct meter *m)
{
	double t0 = now(), t;

	do {
		int i;
		for (i = 0; i < 20; i++)
			if (EVP_PKEY_verify(ctx, sig, siglen, dgst, 32) != 1) {
				fprintf(stderr, "bench_verify: raw verify failed\n");
				exit(2);
			}
		m->n += 20;
		t = now();
	} while (t - t0 < SLICE);
	m->secs += t - t0;
}

/* One slice of full verifications of in; exits on a FAIL. */
static void
slice_full(const struct verify_input *in, struct verify_result *res,
    struct meter *m)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	double t0 = now(), t;

	do {
		int i;
		for (i = 0; i < 10; i++)
			if (verify_evidence(in, res, &e) < 0 || !res->pass) {
				fprintf(stderr, "bench_verify: verification failed\n");
				exit(2);
			}
		m->n += 10;
		t = now();
	} while (t - t0 < SLICE);
	m->secs += t - t0;
}

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct evidence *ev = NULL;
	struct policy *pol = NULL;
	struct verify_input in;
	struct verify_result *res;
	EVP_PKEY *ak = NULL;
	uint8_t nonce[64];
	size_t nonce_len;
	double seconds, full, cached, raw, t0;
	struct meter m[3];
	EVP_PKEY *rawkey;
	EVP_PKEY_CTX *rawctx;
	uint8_t dgst[32] = { 1, 2, 3 }, sig[128];
	size_t siglen = sizeof(sig);
	cpu_set_t cpus;

	if (argc != 6) {
		fprintf(stderr, "usage: bench_verify EVIDENCE AK.pem NONCE POLICY SECONDS\n");
		return 2;
	}
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);	/* one core, both loops */
	seconds = atof(argv[5]);
	if (evidence_load(argv[1], &ev, &e) < 0 ||
	    verify_load_pubkey(argv[2], &ak, &e) < 0 ||
	    hex_decode(argv[3], nonce, sizeof(nonce), &nonce_len, &e) < 0 ||
	    policy_load(argv[4], &pol, &e) < 0) {
		fprintf(stderr, "bench_verify: %s\n", e.msg);
		return 2;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL)
		return 2;
	memset(&in, 0, sizeof(in));
	in.ev = ev;
	in.ak = ak;
	in.nonce = nonce;
	in.nonce_len = nonce_len;
	in.policy = pol;
	if (verify_evidence(&in, res, &e) < 0 || !res->pass) {
		fprintf(stderr, "bench_verify: the benchmark evidence does not "
		    "verify (%s)\n", res->nreasons ? res->reasons[0].msg : e.msg);
		return 2;
	}
	/*
	 * Headline: every verification parses and replays the whole log
	 * (no_cache), i.e. a log this verifier has never seen.  Then the
	 * steady state of a verifier re-attesting the same host, whose log
	 * it already parsed (the cache re-checks reference values but does
	 * not re-parse or re-hash known lines).
	 */
	rawctx = raw_setup(&rawkey, sig, &siglen, dgst);
	memset(m, 0, sizeof(m));
	t0 = now();
	do {
		in.no_cache = 1;
		slice_full(&in, res, &m[0]);
		in.no_cache = 0;
		slice_full(&in, res, &m[1]);
		slice_raw(rawctx, sig, siglen, dgst, &m[2]);
	} while (now() - t0 < 3 * seconds);
	full = (double)m[0].n / m[0].secs;
	cached = (double)m[1].n / m[1].secs;
	raw = (double)m[2].n / m[2].secs;
	EVP_PKEY_CTX_free(rawctx);
	EVP_PKEY_free(rawkey);
	printf("verify: %.0f/s  ecdsa-p256: %.0f/s  ratio: %.2f\n", full, raw,
	    full / raw);
	printf("verify (log already seen, cached): %.0f/s  ratio: %.2f\n",
	    cached, cached / raw);
	free(res);
	policy_free(pol);
	evidence_free(ev);
	EVP_PKEY_free(ak);
	return 0;
}
