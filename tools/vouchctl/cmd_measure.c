/*
 * cmd_measure.c - vouchctl measure: IMA-style runtime measurement of
 * files into a PCR (default 23) and an ima-ng ASCII log.  The crash-safe
 * order (log line fsync'd, then extend) and the locking live in
 * measure/rtlog.h, shared with vouchd.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/tpm.h"
#include "common/util.h"
#include "measure/imalog.h"
#include "measure/rtlog.h"
#include "tools/vouchctl/vouchctl.h"

#define MEASURE_DEFAULT_LOG	"/var/lib/vouch/runtime_measurements"
#define MEASURE_DEFAULT_PCR	23
#define LINE_BUF		(IMALOG_MAX_PATH + 256)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl measure [--tcti T] [--log FILE] [--pcr N] "
	    "[--alg ALG] [--no-extend] PATH...\n"
	    "\n"
	    "Hash each file (--alg, default sha256), append an ima-ng line to\n"
	    "the log (default " MEASURE_DEFAULT_LOG ", fsync'd) and\n"
	    "then extend the PCR (default %d) in every bank the TPM has\n"
	    "allocated, each bank with ALG(template data).  The log is\n"
	    "written before the extend so the TPM never holds an extension\n"
	    "the log cannot explain.  --no-extend only writes the log.\n"
	    "--tcti defaults to $VOUCH_TCTI, then " TPM_DEFAULT_TCTI ".\n"
	    "Paths are logged canonical (realpath); paths with spaces or\n"
	    "control bytes are refused (the IMA format cannot carry them).\n"
	    "\n"
	    "Exit status: 0 ok, 2 usage, file, log or TPM error.\n",
	    MEASURE_DEFAULT_PCR);
}

struct measure_opts {
	const char	*tcti;
	const char	*log;
	uint32_t	 pcr;
	uint16_t	 alg;
	int		 no_extend;
};

/* rtlog's extend callback: the TPM behind it. */
static int
extend_tpm(void *arg, uint32_t pcr, const struct pcr_digest *d, size_t n,
    struct vouch_err *e)
{
	return tpm_pcr_extend(arg, pcr, d, n, e);
}

/* One file: canonical path, hash, then rtlog's append + extend. */
static int
measure_one(const struct measure_opts *o, struct tpm_ctx *tpm,
    const uint16_t *banks, size_t nbanks, const char *arg)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint8_t digest[PCR_DIGEST_MAX];
	char path[PATH_MAX], line[LINE_BUF];

	if (realpath(arg, path) == NULL) {
		ctl_err("%s: %s", arg, strerror(errno));
		return -1;
	}
	if (measure_file(path, o->alg, digest, &e) < 0) {
		ctl_err("%s", e.msg);
		return -1;
	}
	if (rtlog_measure(o->log, o->pcr, o->alg, digest, path, banks,
	    tpm != NULL ? nbanks : 0, tpm != NULL ? extend_tpm : NULL, tpm,
	    line, sizeof(line), &e) < 0) {
		ctl_err("%s", e.msg);
		return -1;
	}
	fputs(line, stdout);
	return 0;
}

int
cmd_measure(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 't' },
		{ "log", required_argument, NULL, 'l' },
		{ "pcr", required_argument, NULL, 'p' },
		{ "alg", required_argument, NULL, 'a' },
		{ "no-extend", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct measure_opts o = { NULL, MEASURE_DEFAULT_LOG,
	    MEASURE_DEFAULT_PCR, PCR_ALG_SHA256, 0 };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tpm_ctx *tpm = NULL;
	const struct pcr_alg *a;
	uint16_t banks[PCR_BANKS_MAX];
	size_t nbanks = 0;
	char *end;
	long v;
	int c, i, rc = EXIT_PASS;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_PASS;
		case 't':
			o.tcti = optarg;
			break;
		case 'l':
			o.log = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    v < 0 || v >= PCR_NUM) {
				ctl_err("measure: --pcr '%s': want 0..%d",
				    optarg, PCR_NUM - 1);
				return EXIT_USAGE;
			}
			o.pcr = (uint32_t)v;
			break;
		case 'a':
			if ((a = pcr_alg_by_name(optarg)) == NULL) {
				ctl_err("measure: --alg '%s': unknown "
				    "algorithm", optarg);
				return EXIT_USAGE;
			}
			o.alg = a->id;
			break;
		case 'n':
			o.no_extend = 1;
			break;
		default:
			ctl_err("measure: unknown option or missing argument "
			    "'%s'", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_err("measure: no PATH given");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!o.no_extend) {
		if (tpm_open(o.tcti, &tpm, &e) < 0 ||
		    tpm_pcr_banks(tpm, banks, PCR_BANKS_MAX, &nbanks, &e) < 0) {
			ctl_err("measure: %s", e.msg);
			tpm_close(tpm);
			return EXIT_USAGE;
		}
		if (nbanks == 0) {
			ctl_err("measure: the TPM has no PCR bank allocated");
			tpm_close(tpm);
			return EXIT_USAGE;
		}
	}
	for (i = optind; i < argc; i++)
		if (measure_one(&o, tpm, banks, nbanks, argv[i]) < 0) {
			rc = EXIT_USAGE;
			break;
		}
	tpm_close(tpm);
	return rc;
}
