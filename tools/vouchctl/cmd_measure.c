/*
 * cmd_measure.c - vouchctl measure: IMA-style runtime measurement of
 * files into a PCR (default 23) and an ima-ng ASCII log.
 *
 * Order per file: append + fsync the log line FIRST, then extend.
 *
 *	crash between the two	log		TPM
 *	log first (chosen)	one entry more	consistent prefix
 *	extend first		entry missing	holds an extension nobody
 *						can explain until reboot
 *
 * With log-first, every extension the TPM holds is explained by a line
 * already on disk; a crash (or a failed extend) can only leave the log
 * ahead of the TPM by trailing lines, which a verifier recognises by
 * replaying a prefix of the log to the quoted value and which are simply
 * not attested.  The reverse order would make the host unattestable.
 *
 * Concurrent runs would interleave "append A, append B, extend B,
 * extend A", so the log order would no longer be the extend order: an
 * exclusive flock on the log file covers each append+extend pair.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "attest/tpm.h"
#include "common/util.h"
#include "measure/imalog.h"
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

static int
open_log_locked(const char *path, int *fdp, struct vouch_err *e)
{
	char *copy, *dir;
	int fd, r;

	if ((copy = strdup(path)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	dir = dirname(copy);
	r = dir_create(dir, 0755, e);
	free(copy);
	if (r < 0)
		return r;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
		    strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		r = vouch_err_set(e, VOUCH_E_IO, "lock %s: %s", path,
		    strerror(errno));
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

/* One file: hash, entry, line, then (locked) append + extend. */
static int
measure_one(const struct measure_opts *o, struct tpm_ctx *tpm,
    const uint16_t *banks, size_t nbanks, const char *arg)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ima_entry ent;
	struct pcr_digest d[PCR_BANKS_MAX];
	uint8_t digest[PCR_DIGEST_MAX], td[LINE_BUF + 128];
	char path[PATH_MAX], line[LINE_BUF];
	size_t tdlen, i;
	int fd = -1, rc = -1;

	memset(&ent, 0, sizeof(ent));
	if (realpath(arg, path) == NULL) {
		ctl_err("%s: %s", arg, strerror(errno));
		return -1;
	}
	if (measure_file(path, o->alg, digest, &e) < 0) {
		ctl_err("%s", e.msg);
		return -1;
	}
	if (ima_entry_make(&ent, o->pcr, o->alg, digest, path, &e) < 0 ||
	    ima_entry_format(&ent, line, sizeof(line), &e) < 0 ||
	    ima_entry_template_data(&ent, td, sizeof(td), &tdlen, &e) < 0) {
		ctl_err("%s: %s", path, e.msg);
		goto out;
	}
	/* Every digest is computed before anything is written. */
	for (i = 0; i < nbanks; i++) {
		d[i].alg = banks[i];
		if (pcr_hash(banks[i], td, tdlen, d[i].d, &e) < 0) {
			ctl_err("%s: TPM bank: %s", path, e.msg);
			goto out;
		}
	}
	if (open_log_locked(o->log, &fd, &e) < 0 ||
	    file_append_sync(o->log, line, strlen(line), &e) < 0) {
		ctl_err("%s", e.msg);
		goto out;
	}
	if (tpm != NULL && tpm_pcr_extend(tpm, o->pcr, d, nbanks, &e) < 0) {
		ctl_err("%s: PCR %u extend failed after the log line was "
		    "written (the log is now ahead of the TPM by this "
		    "entry): %s", path, o->pcr, e.msg);
		goto out;
	}
	fputs(line, stdout);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);	/* releases the lock */
	ima_entry_clear(&ent);
	return rc;
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
