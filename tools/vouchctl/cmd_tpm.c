/*
 * vouchctl tpm init    --state DIR [--tcti T] [--ak ecc|rsa] [--force]
 * vouchctl tpm quote   --state DIR --nonce HEX --pcrs SEL [-o EVIDENCE]
 *                      [--eventlog FILE] [--runtime-log FILE] [--host NAME]
 *                      [--tpm2-tools PREFIX] [--tcti T]
 * vouchctl tpm pcrread [--tcti T] [--json] SELECTION
 * vouchctl tpm handles [--tcti T] [--json]
 *
 * The TCTI is --tcti, else $VOUCH_TCTI, else the device (attest/tpm.h).
 * Exit 2 for usage and input errors (bad option, unreadable or malformed
 * file, state directory missing), 1 when the TPM or a library fails.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/util.h"
#include "measure/eventlog.h"
#include "measure/imalog.h"
#include "attest/evidence.h"
#include "attest/tpm.h"
#include "attest/tpm2tools.h"
#include "tools/vouchctl/vouchctl.h"

/* Upper bound of the hidden --count (leak and latency tests). */
#define TPM_CMD_COUNT_MAX	1000000L

static void
tpm_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl tpm init --state DIR [--tcti T] [--ak ecc|rsa] [--force]\n"
	    "       vouchctl tpm quote --state DIR --nonce HEX --pcrs SEL [-o EVIDENCE]\n"
	    "                          [--eventlog FILE] [--runtime-log FILE] [--host NAME]\n"
	    "                          [--tpm2-tools PREFIX] [--tcti T]\n"
	    "       vouchctl tpm pcrread [--tcti T] [--json] SELECTION\n"
	    "       vouchctl tpm handles [--tcti T] [--json]\n"
	    "\n"
	    "init     create an attestation key (AK) under the TPM's endorsement key and\n"
	    "         write DIR: ak.pub ak.priv ak.pem ak.name ek.pem [ek-cert.der]\n"
	    "           --ak ecc    ECC P-256, ECDSA-SHA256 (default)\n"
	    "           --ak rsa    RSA-2048, RSASSA-SHA256\n"
	    "           --force     replace an existing AK\n"
	    "quote    quote PCRs with the AK of DIR and the verifier's nonce; write the\n"
	    "         evidence JSON (default: standard output, also with -o -)\n"
	    "           --pcrs SEL           e.g. sha256:0-7,23 or sha1:0+sha256:0-9\n"
	    "           --eventlog FILE      firmware event log to include\n"
	    "           --runtime-log FILE   runtime (IMA ASCII) log to include\n"
	    "           --host NAME          informational host name (default: hostname)\n"
	    "           --tpm2-tools PREFIX  also write PREFIX.msg .sig .pcrs for\n"
	    "                                tpm2_checkquote -m -s -f\n"
	    "pcrread  print PCR values of SELECTION\n"
	    "handles  count transient objects and sessions loaded in the TPM\n"
	    "\n"
	    "The TPM is --tcti, else $VOUCH_TCTI, else %s.\n",
	    TPM_DEFAULT_TCTI);
}

/* Library error code to exit status: input faults 2, the rest 1. */
static int
exit_for(int code)
{
	switch (code) {
	case VOUCH_E_INVAL:
	case VOUCH_E_IO:
	case VOUCH_E_FORMAT:
	case VOUCH_E_TRUNCATED:
	case VOUCH_E_LIMIT:
	case VOUCH_E_NOTFOUND:
	case VOUCH_E_EXISTS:
	case VOUCH_E_UNSUPPORTED:
	case VOUCH_E_CONFIG:
		return EXIT_USAGE;
	}
	return EXIT_FAILV;
}

static int
fail(const char *what, const struct vouch_err *e)
{
	ctl_err("tpm %s: %s", what, e->msg);
	return exit_for(e->code);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
tpm_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "tcti", required_argument, NULL, 'T' },
		{ "ak", required_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tpm_ctx *t = NULL;
	const char *state = NULL, *tcti = NULL;
	enum tpm_ak_type type = TPM_AK_ECC_P256;
	int c, force = 0, r;
	double t0;
	char cert[4096];

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:T:a:fh", opts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'T': tcti = optarg; break;
		case 'a':
			if (strcmp(optarg, "ecc") == 0)
				type = TPM_AK_ECC_P256;
			else if (strcmp(optarg, "rsa") == 0)
				type = TPM_AK_RSA_2048;
			else {
				ctl_err("tpm init: --ak must be ecc or rsa, "
				    "not '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'f': force = 1; break;
		case 'h': tpm_usage(stdout); return 0;
		default: tpm_usage(stderr); return EXIT_USAGE;
		}
	}
	if (state == NULL || optind != argc) {
		ctl_err("tpm init: --state DIR is required (no other arguments)");
		return EXIT_USAGE;
	}
	if ((r = tpm_open(tcti, &t, &e)) < 0)
		return fail("init", &e);
	t0 = now();
	r = tpm_init_state(t, state, type, force, &e);
	tpm_close(t);
	if (r < 0)
		return fail("init", &e);
	snprintf(cert, sizeof(cert), "%s/ek-cert.der", state);
	printf("AK (%s) created under the EK in %.0f ms\n"
	    "AK public key: %s/ak.pem\nEK certificate: %s\n",
	    type == TPM_AK_RSA_2048 ? "RSA-2048, RSASSA-SHA256" :
	    "ECC P-256, ECDSA-SHA256", (now() - t0) * 1e3, state,
	    access(cert, R_OK) == 0 ? cert : "none in the TPM");
	return 0;
}

/* Optional logs into ev; errors are input errors (exit 2). */
static int
add_logs(struct evidence *ev, const char *eventlog, const char *runtime)
{
	struct vouch_err e = VOUCH_ERR_INIT;

	if (evidence_attach_logs(ev, eventlog, runtime, &e) < 0)
		return fail("quote", &e);
	return 0;
}

static int
tpm_quote_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "eventlog", required_argument, NULL, 'E' },
		{ "runtime-log", required_argument, NULL, 'R' },
		{ "host", required_argument, NULL, 'H' },
		{ "tpm2-tools", required_argument, NULL, 'P' },
		{ "tcti", required_argument, NULL, 'T' },
		/* hidden: quote N times with one loaded AK (leak tests) */
		{ "count", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tpm_ctx *t = NULL;
	struct tpm_ak *ak = NULL;
	struct evidence *ev = NULL;
	struct pcr_selection sel;
	const char *state = NULL, *nonce_hex = NULL, *pcrs = NULL,
	    *out = "-", *eventlog = NULL, *runtime = NULL, *host = NULL,
	    *prefix = NULL, *tcti = NULL;
	uint8_t nonce[EVIDENCE_MAX_NONCE];
	size_t nonce_len = 0;
	long count = 1, i;
	char *end;
	int c, r, rc = EXIT_FAILV;
	double t0, t1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:n:p:o:E:R:H:P:T:C:h", opts,
	    NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'n': nonce_hex = optarg; break;
		case 'p': pcrs = optarg; break;
		case 'o': out = optarg; break;
		case 'E': eventlog = optarg; break;
		case 'R': runtime = optarg; break;
		case 'H': host = optarg; break;
		case 'P': prefix = optarg; break;
		case 'T': tcti = optarg; break;
		case 'C':
			count = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || count < 1 ||
			    count > TPM_CMD_COUNT_MAX) {
				ctl_err("tpm quote: --count must be 1..%ld",
				    TPM_CMD_COUNT_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'h': tpm_usage(stdout); return 0;
		default: tpm_usage(stderr); return EXIT_USAGE;
		}
	}
	if (state == NULL || nonce_hex == NULL || pcrs == NULL ||
	    optind != argc) {
		ctl_err("tpm quote: --state, --nonce and --pcrs are required "
		    "(see vouchctl tpm --help)");
		return EXIT_USAGE;
	}
	if (hex_decode(nonce_hex, nonce, sizeof(nonce), &nonce_len, &e) < 0) {
		ctl_err("tpm quote: --nonce: %s", e.msg);
		return EXIT_USAGE;
	}
	if (pcr_selection_parse(pcrs, &sel, &e) < 0) {
		ctl_err("tpm quote: --pcrs: %s", e.msg);
		return EXIT_USAGE;
	}
	if (host != NULL && strlen(host) > EVIDENCE_MAX_HOST) {
		ctl_err("tpm quote: --host: longer than %d bytes",
		    EVIDENCE_MAX_HOST);
		return EXIT_USAGE;
	}
	if ((ev = evidence_new()) == NULL) {
		ctl_err("tpm quote: out of memory");
		return EXIT_FAILV;
	}
	if ((r = add_logs(ev, eventlog, runtime)) != 0) {
		evidence_free(ev);
		return r;
	}
	if (host != NULL)
		memcpy(ev->host, host, strlen(host) + 1);
	else if (gethostname(ev->host, sizeof(ev->host)) != 0)
		ev->host[0] = '\0';
	ev->host[sizeof(ev->host) - 1] = '\0';

	if ((r = tpm_open(tcti, &t, &e)) < 0 ||
	    (r = tpm_ak_open(t, state, &ak, &e)) < 0) {
		rc = fail("quote", &e);
		goto out;
	}
	t0 = now();
	for (i = 0; i < count; i++)
		if ((r = tpm_quote(ak, nonce, nonce_len, &sel, ev, &e)) < 0) {
			if (count > 1)
				vouch_err_prefix(&e, "quote %ld of %ld",
				    i + 1, count);
			rc = fail("quote", &e);
			goto out;
		}
	t1 = now();
	if (count > 1)
		fprintf(stderr, "vouchctl: %ld quotes in %.2f s (%.3f ms "
		    "each)\n", count, t1 - t0, (t1 - t0) * 1e3 / (double)count);
	{
		time_t tt = time(NULL);
		struct tm tm;

		if (gmtime_r(&tt, &tm) != NULL)
			strftime(ev->created, sizeof(ev->created),
			    "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (prefix != NULL && tpm2tools_write(prefix, ev, &e) < 0) {
		rc = fail("quote", &e);
		goto out;
	}
	if (evidence_save(out, ev, &e) < 0) {
		rc = fail("quote", &e);
		goto out;
	}
	rc = 0;
out:
	tpm_ak_close(ak);
	tpm_close(t);
	evidence_free(ev);
	return rc;
}

static int
tpm_pcrread(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tpm_ctx *t = NULL;
	struct pcr_selection sel;
	struct pcr_set set;
	const char *tcti = NULL;
	json_object *root = NULL;
	char hex[2 * PCR_DIGEST_MAX + 1], idx[8];
	size_t b;
	int c, i, json = 0, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "T:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'T': tcti = optarg; break;
		case 'j': json = 1; break;
		case 'h': tpm_usage(stdout); return 0;
		default: tpm_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		ctl_err("tpm pcrread: one SELECTION expected, e.g. sha256:0-7");
		return EXIT_USAGE;
	}
	if (pcr_selection_parse(argv[optind], &sel, &e) < 0) {
		ctl_err("tpm pcrread: %s", e.msg);
		return EXIT_USAGE;
	}
	if ((r = tpm_open(tcti, &t, &e)) == 0)
		r = tpm_pcr_read(t, &sel, &set, &e);
	tpm_close(t);
	if (r < 0)
		return fail("pcrread", &e);
	if (json)
		root = json_object_new_object();
	for (b = 0; b < sel.nbanks; b++) {
		const struct pcr_alg *a = pcr_alg_by_id(sel.bank[b].alg);
		const struct pcr_bank *pb = pcr_set_bank_const(&set, a->id);
		json_object *bank = NULL;

		if (json)
			bank = json_object_new_object();
		else
			printf("%s:\n", a->name);
		for (i = 0; i < PCR_NUM; i++) {
			if (!(sel.bank[b].mask & (1u << i)))
				continue;
			hex_encode(pb->v[i], a->size, hex);
			if (json) {
				snprintf(idx, sizeof(idx), "%d", i);
				json_object_object_add(bank, idx,
				    json_object_new_string(hex));
			} else
				printf("  %2d : 0x%s\n", i, hex);
		}
		if (json)
			json_object_object_add(root, a->name, bank);
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(root,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	}
	return 0;
}

static int
tpm_handles(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tpm_ctx *t = NULL;
	const char *tcti = NULL;
	size_t objects = 0, sessions = 0;
	int c, json = 0, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "T:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'T': tcti = optarg; break;
		case 'j': json = 1; break;
		case 'h': tpm_usage(stdout); return 0;
		default: tpm_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		ctl_err("tpm handles: no arguments expected");
		return EXIT_USAGE;
	}
	if ((r = tpm_open(tcti, &t, &e)) == 0)
		r = tpm_handle_counts(t, &objects, &sessions, &e);
	tpm_close(t);
	if (r < 0)
		return fail("handles", &e);
	if (json)
		printf("{ \"transient_objects\": %zu, \"sessions\": %zu }\n",
		    objects, sessions);
	else
		printf("transient objects: %zu\nsessions: %zu\n", objects,
		    sessions);
	return 0;
}

int
cmd_tpm(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "init", tpm_init },
		{ "quote", tpm_quote_cmd },
		{ "pcrread", tpm_pcrread },
		{ "handles", tpm_handles },
	};

	return ctl_dispatch("tpm", subs, ARRAY_SIZE(subs), tpm_usage, argc, argv);
}
