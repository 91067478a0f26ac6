/*
 * vouchctl enrol challenge --request DIR (--ek-ca CA.pem | --no-ek-ca)
 *                          -o CHAL_DIR
 * vouchctl enrol activate  --state DIR --challenge CHAL_DIR -o PROOF
 *                          [--tcti T]
 * vouchctl enrol check     --challenge CHAL_DIR --proof PROOF
 *
 * Credential activation by hand (attest/enrol.h), the same two halves a
 * registrar and a host run over the wire.  CHAL_DIR:
 *	credential.bin		TPM2B_ID_OBJECT, marshalled (for the host)
 *	secret.enc		TPM2B_ENCRYPTED_SECRET, marshalled (for the host)
 *	expected.secret		the secret, mode 0600 (the registrar's only)
 *
 * Exit: 0 success / the proof matches, 1 refused (request checks,
 * activation, wrong proof), 2 usage or unreadable input.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "attest/enrol.h"
#include "attest/tpm.h"
#include "tools/vouchctl/vouchctl.h"

static void
enrol_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl enrol challenge --request DIR (--ek-ca CA.pem | --no-ek-ca)\n"
	    "                                -o CHAL_DIR\n"
	    "       vouchctl enrol activate --state DIR --challenge CHAL_DIR -o PROOF\n"
	    "                               [--tcti T]\n"
	    "       vouchctl enrol check --challenge CHAL_DIR --proof PROOF\n"
	    "\n"
	    "challenge  registrar: check a host's request (the ek.pem, ek-cert.der,\n"
	    "           ak.pub, ak.name of its state DIR) and make a credential only\n"
	    "           the TPM holding both that EK and that AK can activate; writes\n"
	    "           CHAL_DIR/credential.bin, secret.enc, expected.secret (0600)\n"
	    "             --ek-ca CA.pem  the EK certificate must chain to CA.pem\n"
	    "             --no-ek-ca      do not check the EK certificate (lab only)\n"
	    "activate   host: activate the credential with the TPM (AK of DIR under\n"
	    "           the EK) and write the recovered secret to PROOF\n"
	    "check      registrar: exit 0 if PROOF is the challenge's secret, else 1\n"
	    "\n"
	    "The TPM is --tcti, else $VOUCH_TCTI, else %s.\n",
	    TPM_DEFAULT_TCTI);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Input faults exit 2, refusals and TPM failures 1. */
static int
fail(const char *what, const struct vouch_err *e, int input)
{
	ctl_err("enrol %s: %s", what, e->msg);
	return input ? EXIT_USAGE : EXIT_FAILV;
}

static int
chal_path(char *buf, size_t n, const char *dir, const char *file)
{
	int w = snprintf(buf, n, "%s/%s", dir, file);

	if (w < 0 || (size_t)w >= n) {
		ctl_err("enrol: path too long: %s/%s", dir, file);
		return -1;
	}
	return 0;
}

static int
enrol_challenge_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "request", required_argument, NULL, 'r' },
		{ "ek-ca", required_argument, NULL, 'c' },
		{ "no-ek-ca", no_argument, NULL, 'N' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct enrol_request req;
	struct enrol_challenge *ch = NULL;
	const char *reqdir = NULL, *ca = NULL, *out = NULL;
	char path[4096];
	int c, no_ca = 0, r, rc = EXIT_FAILV;
	double t0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:c:No:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': reqdir = optarg; break;
		case 'c': ca = optarg; break;
		case 'N': no_ca = 1; break;
		case 'o': out = optarg; break;
		case 'h': enrol_usage(stdout); return 0;
		default: enrol_usage(stderr); return EXIT_USAGE;
		}
	}
	if (reqdir == NULL || out == NULL || optind != argc ||
	    (ca == NULL) == (no_ca == 0)) {
		ctl_err("enrol challenge: --request, -o and exactly one of "
		    "--ek-ca or --no-ek-ca are required");
		return EXIT_USAGE;
	}
	if (no_ca)
		fprintf(stderr, "vouchctl: enrol challenge: WARNING: the EK "
		    "certificate is not checked (--no-ek-ca)\n");
	memset(&req, 0, sizeof(req));
	if (enrol_request_load(reqdir, &req, &e) < 0)
		return fail("challenge", &e, 1);
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		ctl_err("enrol challenge: out of memory");
		goto out;
	}
	t0 = now();
	if ((r = enrol_challenge_make(&req, ca, ch, &e)) < 0) {
		rc = fail("challenge", &e, r == VOUCH_E_IO);
		goto out;
	}
	fprintf(stderr, "vouchctl: challenge made in %.1f ms\n",
	    (now() - t0) * 1e3);
	if (dir_create(out, 0700, &e) < 0 ||
	    chal_path(path, sizeof(path), out, "expected.secret") < 0 ||
	    file_write_atomic(path, ch->secret, sizeof(ch->secret), 0600,
	    &e) < 0 ||
	    chal_path(path, sizeof(path), out, "credential.bin") < 0 ||
	    file_write_atomic(path, ch->credential, ch->credential_len, 0644,
	    &e) < 0 ||
	    chal_path(path, sizeof(path), out, "secret.enc") < 0 ||
	    file_write_atomic(path, ch->enc_secret, ch->enc_secret_len, 0644,
	    &e) < 0) {
		if (e.msg[0] != '\0')
			ctl_err("enrol challenge: %s", e.msg);
		goto out;
	}
	rc = 0;
out:
	if (ch != NULL)
		OPENSSL_cleanse(ch, sizeof(*ch));
	free(ch);
	enrol_request_clear(&req);
	return rc;
}

/* Read CHAL_DIR/file (at most max bytes). */
static int
chal_read(const char *dir, const char *file, size_t max, uint8_t **buf,
    size_t *len, struct vouch_err *e)
{
	char path[4096];

	if (chal_path(path, sizeof(path), dir, file) < 0)
		return vouch_err_set(e, VOUCH_E_LIMIT, "path too long");
	return file_read(path, max, buf, len, e);
}

static int
enrol_activate_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "challenge", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "tcti", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tpm_ctx *t = NULL;
	const char *state = NULL, *chal = NULL, *out = NULL, *tcti = NULL;
	uint8_t *cred = NULL, *encs = NULL, secret[ENROL_SECRET_LEN];
	size_t credlen = 0, encslen = 0, slen = 0;
	int c, rc = EXIT_FAILV;
	double t0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:c:o:T:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'c': chal = optarg; break;
		case 'o': out = optarg; break;
		case 'T': tcti = optarg; break;
		case 'h': enrol_usage(stdout); return 0;
		default: enrol_usage(stderr); return EXIT_USAGE;
		}
	}
	if (state == NULL || chal == NULL || out == NULL || optind != argc) {
		ctl_err("enrol activate: --state, --challenge and -o are "
		    "required");
		return EXIT_USAGE;
	}
	if (chal_read(chal, "credential.bin", ENROL_MAX_BLOB, &cred, &credlen,
	    &e) < 0 ||
	    chal_read(chal, "secret.enc", ENROL_MAX_BLOB, &encs, &encslen,
	    &e) < 0) {
		rc = fail("activate", &e, 1);
		goto out;
	}
	if (tpm_open(tcti, &t, &e) < 0) {
		rc = fail("activate", &e, 0);
		goto out;
	}
	t0 = now();
	if (tpm_activate_credential(t, state, cred, credlen, encs, encslen,
	    secret, &slen, &e) < 0) {
		/* unreadable or malformed state or blobs: input errors */
		rc = fail("activate", &e, e.code == VOUCH_E_IO ||
		    e.code == VOUCH_E_FORMAT);
		goto out;
	}
	fprintf(stderr, "vouchctl: credential activated in %.1f ms\n",
	    (now() - t0) * 1e3);
	if (file_write_atomic(out, secret, slen, 0600, &e) < 0) {
		rc = fail("activate", &e, 1);
		goto out;
	}
	rc = 0;
out:
	tpm_close(t);
	OPENSSL_cleanse(secret, sizeof(secret));
	free(cred);
	free(encs);
	return rc;
}

static int
enrol_check_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "challenge", required_argument, NULL, 'c' },
		{ "proof", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct enrol_challenge *ch = NULL;
	const char *chal = NULL, *proof_path = NULL;
	uint8_t *want = NULL, *proof = NULL;
	size_t wantlen = 0, prooflen = 0;
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': chal = optarg; break;
		case 'p': proof_path = optarg; break;
		case 'h': enrol_usage(stdout); return 0;
		default: enrol_usage(stderr); return EXIT_USAGE;
		}
	}
	if (chal == NULL || proof_path == NULL || optind != argc) {
		ctl_err("enrol check: --challenge and --proof are required");
		return EXIT_USAGE;
	}
	if (chal_read(chal, "expected.secret", ENROL_SECRET_LEN, &want,
	    &wantlen, &e) < 0 ||
	    file_read(proof_path, ENROL_MAX_BLOB, &proof, &prooflen, &e) < 0) {
		rc = fail("check", &e, 1);
		goto out;
	}
	if (wantlen != ENROL_SECRET_LEN) {
		ctl_err("enrol check: %s/expected.secret: %zu bytes, not %d",
		    chal, wantlen, ENROL_SECRET_LEN);
		goto out;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		ctl_err("enrol check: out of memory");
		rc = EXIT_FAILV;
		goto out;
	}
	memcpy(ch->secret, want, wantlen);
	if (enrol_proof_check(ch, proof, prooflen)) {
		printf("PASS: the proof matches the challenge's secret\n");
		rc = EXIT_PASS;
	} else {
		printf("FAIL: the proof does not match the challenge's "
		    "secret\n");
		rc = EXIT_FAILV;
	}
out:
	if (ch != NULL)
		OPENSSL_cleanse(ch, sizeof(*ch));
	free(ch);
	free_secret(want, wantlen);
	free_secret(proof, prooflen);
	return rc;
}

int
cmd_enrol(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "challenge", enrol_challenge_cmd },
		{ "activate", enrol_activate_cmd },
		{ "check", enrol_check_cmd },
	};

	return ctl_dispatch("enrol", subs, ARRAY_SIZE(subs), enrol_usage, argc, argv);
}
