/*
 * cmd_verify.c - `vouchctl verify`: run the verifier's checklist on
 * evidence (our JSON, or tpm2-tools' quote files) and print the verdict
 * with one line per check and every reason.
 *
 * Exit status: 0 PASS, 1 FAIL, 2 usage or input error (unreadable or
 * malformed evidence, key, nonce, policy or history).  A malformed quote
 * *inside* well-formed evidence is a FAIL with a reason, not an input
 * error: it is exactly what the verifier exists to judge.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/tpm2tools.h"
#include "attest/verify.h"
#include "tools/vouchctl/vouchctl.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl verify EVIDENCE --ak AK.pem --nonce HEX "
	    "[--policy FILE]\n"
	    "                [--history FILE] [--json]\n"
	    "       vouchctl verify --tpm2-tools PREFIX --ak AK.pem --nonce HEX "
	    "[--policy FILE]\n"
	    "                [--history FILE] [--json]\n"
	    "\n"
	    "Verify attestation evidence: the quote's signature by the AK "
	    "(scheme pinned by\n"
	    "the key type), its structure, the nonce, the PCR selection and "
	    "digest, the\n"
	    "replay of the event log and runtime log, the reference values "
	    "of the policy,\n"
	    "and the quote's counters against the history of the AK.\n"
	    "\n"
	    "  EVIDENCE            evidence JSON file ('-' for standard input)\n"
	    "  --tpm2-tools PREFIX read PREFIX.msg, PREFIX.sig, PREFIX.pcrs "
	    "(tpm2_quote -m -s -o)\n"
	    "  --ak AK.pem         the attestation key (PEM public key)\n"
	    "  --nonce HEX         the nonce the quote must carry (1..64 bytes)\n"
	    "  --policy FILE       appraise against this policy's reference "
	    "values\n"
	    "  --history FILE      replay protection: the last accepted "
	    "counters per AK;\n"
	    "                      updated on PASS (created if missing)\n"
	    "  --json              print the result as a JSON object\n"
	    "\n"
	    "Exit status: 0 PASS, 1 FAIL, 2 usage or input error.\n");
}

enum check_status { ST_OK, ST_FAIL, ST_SKIPPED };

static enum check_status
status_of(const struct verify_result *res, enum verify_check c)
{
	size_t i;

	if (res->skipped & (1u << c))
		return ST_SKIPPED;
	for (i = 0; i < res->nreasons; i++)
		if (res->reasons[i].check == c)
			return ST_FAIL;
	/* Neither ran nor skipped cannot pass. */
	return (res->ran & (1u << c)) ? ST_OK : ST_FAIL;
}

static void
print_human(const struct verify_result *res)
{
	static const char *const st[] = { "ok", "FAIL", "skipped" };
	int c;
	size_t i;

	printf("%s\n", res->pass ? "PASS" : "FAIL");
	for (c = 0; c < VERIFY_NCHECKS; c++) {
		enum check_status s = status_of(res, (enum verify_check)c);

		if (s == ST_SKIPPED)
			printf("  %-12s skipped (%s)\n",
			    verify_check_name((enum verify_check)c),
			    res->skip_why[c]);
		else
			printf("  %-12s %s\n",
			    verify_check_name((enum verify_check)c), st[s]);
		for (i = 0; i < res->nreasons; i++)
			if ((int)res->reasons[i].check == c)
				printf("      - %s\n", res->reasons[i].msg);
	}
	if (res->dropped)
		printf("  (%zu more reasons not shown)\n", res->dropped);
	if (res->reboot)
		printf("  note: the TPM was reset since the last accepted "
		    "quote (reboot)\n");
}

static int
jadd(json_object *o, const char *k, json_object *v)
{
	if (v == NULL)
		return -1;
	if (json_object_object_add(o, k, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int
print_json(const struct verify_result *res)
{
	static const char *const st[] = { "ok", "fail", "skipped" };
	json_object *root, *checks, *ctr;
	int c, r = -1;
	size_t i;

	if ((root = json_object_new_object()) == NULL)
		return -1;
	if (jadd(root, "result", json_object_new_string(res->pass ? "PASS" :
	    "FAIL")) < 0 || (checks = json_object_new_array()) == NULL ||
	    jadd(root, "checks", checks) < 0)
		goto out;
	for (c = 0; c < VERIFY_NCHECKS; c++) {
		enum check_status s = status_of(res, (enum verify_check)c);
		json_object *ck, *reasons;

		if ((ck = json_object_new_object()) == NULL)
			goto out;
		if (json_object_array_add(checks, ck) != 0) {
			json_object_put(ck);
			goto out;
		}
		if (jadd(ck, "check", json_object_new_string(
		    verify_check_name((enum verify_check)c))) < 0 ||
		    jadd(ck, "status", json_object_new_string(st[s])) < 0)
			goto out;
		if (s == ST_SKIPPED && jadd(ck, "why",
		    json_object_new_string(res->skip_why[c])) < 0)
			goto out;
		if ((reasons = json_object_new_array()) == NULL ||
		    jadd(ck, "reasons", reasons) < 0)
			goto out;
		for (i = 0; i < res->nreasons; i++) {
			json_object *m;

			if ((int)res->reasons[i].check != c)
				continue;
			if ((m = json_object_new_string(
			    res->reasons[i].msg)) == NULL)
				goto out;
			if (json_object_array_add(reasons, m) != 0) {
				json_object_put(m);
				goto out;
			}
		}
	}
	if ((ctr = json_object_new_object()) == NULL ||
	    jadd(root, "counters", ctr) < 0 ||
	    jadd(ctr, "clock", json_object_new_uint64(res->counters.clock)) < 0 ||
	    jadd(ctr, "reset_count", json_object_new_int64(
	    res->counters.reset_count)) < 0 ||
	    jadd(ctr, "restart_count", json_object_new_int64(
	    res->counters.restart_count)) < 0 ||
	    jadd(ctr, "safe", json_object_new_boolean(res->counters.safe)) < 0 ||
	    jadd(ctr, "firmware_version", json_object_new_uint64(
	    res->counters.firmware_version)) < 0 ||
	    jadd(root, "reboot", json_object_new_boolean(res->reboot)) < 0 ||
	    jadd(root, "dropped_reasons", json_object_new_int64(
	    (int64_t)res->dropped)) < 0)
		goto out;
	printf("%s\n", json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	r = 0;
out:
	json_object_put(root);
	return r;
}

int
cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ak", required_argument, NULL, 'a' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "policy", required_argument, NULL, 'p' },
		{ "history", required_argument, NULL, 'H' },
		{ "tpm2-tools", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ak_path = NULL, *nonce_hex = NULL, *policy_path = NULL,
	    *history_path = NULL, *prefix = NULL, *ev_path = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct verify_result *res = NULL;
	struct verify_history *hist = NULL;
	struct verify_input in;
	struct evidence *ev = NULL;
	struct policy *pol = NULL;
	EVP_PKEY *ak = NULL;
	uint8_t nonce[EVIDENCE_MAX_NONCE];
	size_t nonce_len = 0;
	int json = 0, c, rc = EXIT_USAGE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': ak_path = optarg; break;
		case 'n': nonce_hex = optarg; break;
		case 'p': policy_path = optarg; break;
		case 'H': history_path = optarg; break;
		case 't': prefix = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			usage(stdout);
			return EXIT_PASS;
		default:
			if (optopt != 0)
				ctl_err("verify: option '%s' needs an argument "
				    "or is unknown (see --help)",
				    argv[optind - 1]);
			else
				ctl_err("verify: unknown option '%s' (see "
				    "--help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		ev_path = argv[optind++];
	if (optind < argc) {
		ctl_err("verify: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if ((ev_path == NULL) == (prefix == NULL)) {
		ctl_err("verify: give either an EVIDENCE file or "
		    "--tpm2-tools PREFIX (see --help)");
		return EXIT_USAGE;
	}
	if (ak_path == NULL || nonce_hex == NULL) {
		ctl_err("verify: --ak and --nonce are required (see --help)");
		return EXIT_USAGE;
	}
	if (hex_decode(nonce_hex, nonce, sizeof(nonce), &nonce_len, &e) < 0) {
		ctl_err("verify: --nonce: %s", e.msg);
		return EXIT_USAGE;
	}
	if (nonce_len == 0) {
		ctl_err("verify: --nonce: empty");
		return EXIT_USAGE;
	}

	if (verify_load_pubkey(ak_path, &ak, &e) < 0) {
		ctl_err("verify: --ak: %s", e.msg);
		goto out;
	}
	if (prefix != NULL ? tpm2tools_read(prefix, &ev, &e) < 0 :
	    evidence_load(ev_path, &ev, &e) < 0) {
		ctl_err("verify: evidence: %s", e.msg);
		goto out;
	}
	if (policy_path != NULL && policy_load(policy_path, &pol, &e) < 0) {
		ctl_err("verify: --policy: %s", e.msg);
		goto out;
	}
	if (history_path != NULL &&
	    verify_history_load(history_path, &hist, &e) < 0) {
		ctl_err("verify: --history: %s", e.msg);
		goto out;
	}
	if ((res = malloc(sizeof(*res))) == NULL) {
		ctl_err("verify: out of memory");
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.ev = ev;
	in.ak = ak;
	in.nonce = nonce;
	in.nonce_len = nonce_len;
	in.policy = pol;
	in.history = hist;
	if (verify_evidence(&in, res, &e) < 0) {
		ctl_err("verify: %s", e.msg);
		goto out;
	}
	if (json ? print_json(res) < 0 : (print_human(res), 0)) {
		ctl_err("verify: out of memory");
		goto out;
	}
	if (fflush(stdout) != 0) {
		ctl_err("verify: writing the result failed");
		goto out;
	}
	if (res->pass && hist != NULL &&
	    verify_history_save(hist, &e) < 0) {
		/* A PASS not recorded would let the quote be replayed. */
		ctl_err("verify: --history: not saved: %s", e.msg);
		goto out;
	}
	rc = res->pass ? EXIT_PASS : EXIT_FAILV;
out:
	free(res);
	verify_history_free(hist);
	policy_free(pol);
	evidence_free(ev);
	EVP_PKEY_free(ak);
	return rc;
}
