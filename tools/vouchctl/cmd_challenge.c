/*
 * vouchctl challenge HOST --region FILE --cert PEM --key PEM --ca PEM
 *                         --nonce HEX [--pcrs SEL] [--full-log] [-o FILE]
 *
 * Send one CHALLENGE to a host's vouchd (docs/protocol.md, conversation
 * 3/5) over mutual TLS and write the EVIDENCE it returns, exactly as
 * received, to FILE (default standard output).  Nothing is appraised:
 * `vouchctl verify FILE --ak HOST-AK.pem --nonce HEX` does that.  The
 * HELLO names this client by its certificate (ROLE vouchctl).
 *
 * Exit status: 0 evidence written, 1 the host could not be reached or
 * refused, 2 usage or input error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/region.h"
#include "common/tls.h"
#include "common/util.h"
#include "common/wire.h"
#include "attest/agent.h"
#include "tools/vouchctl/vouchctl.h"

#define CHALLENGE_DEFAULT_PCRS	"sha256:0-9,23"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl challenge HOST --region FILE --cert PEM --key PEM "
	    "--ca PEM\n"
	    "                          --nonce HEX [--pcrs SEL] [--full-log] "
	    "[-o FILE]\n"
	    "\n"
	    "Challenge HOST's vouchd (address and port from the region file) "
	    "with a\n"
	    "32-byte nonce and write the evidence it returns (default: "
	    "standard output).\n"
	    "  --pcrs SEL    PCR selection to quote (default "
	    CHALLENGE_DEFAULT_PCRS ")\n"
	    "  --full-log    set the full-boot-log flag\n"
	    "Appraise the result with: vouchctl verify FILE --ak AK.pem "
	    "--nonce HEX\n"
	    "Exit status: 0 evidence written, 1 unreachable or refused, 2 "
	    "usage.\n");
}

/* The certificate's name as TLS reports it: first SAN DNS, else CN. */
static int
cert_name(const char *path, char *out, size_t cap)
{
	GENERAL_NAMES *sans;
	X509 *x = NULL;
	FILE *f;
	int i, n, ok = 0;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return -1;
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = sans != NULL ? sk_GENERAL_NAME_num(sans) : 0;
	for (i = 0; i < n && !ok; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type == GEN_DNS &&
		    (size_t)ASN1_STRING_length(g->d.dNSName) < cap) {
			memcpy(out, ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName));
			out[ASN1_STRING_length(g->d.dNSName)] = '\0';
			ok = 1;
		}
	}
	GENERAL_NAMES_free(sans);
	if (!ok && X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, out, (int)cap) > 0)
		ok = 1;
	X509_free(x);
	return ok && wire_host_name_ok(out, strlen(out)) ? 0 : -1;
}

int
cmd_challenge(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "pcrs", required_argument, NULL, 'p' },
		{ "full-log", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *region_path = NULL, *cert = NULL, *key = NULL, *ca = NULL,
	    *nonce_hex = NULL, *pcrs = CHALLENGE_DEFAULT_PCRS, *out = "-";
	struct region *rg = NULL;
	const struct region_host *h;
	struct tls_ctx *ctx = NULL;
	struct pcr_selection sel;
	uint8_t nonce[WIRE_NONCE_LEN], *raw = NULL;
	size_t nlen = 0, rawlen = 0;
	uint32_t flags = 0;
	char me[WIRE_HOST_MAX + 1];
	int c, rc = EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:c:k:a:n:p:Fo:h", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'r': region_path = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': ca = optarg; break;
		case 'n': nonce_hex = optarg; break;
		case 'p': pcrs = optarg; break;
		case 'F': flags |= WIRE_CHAL_FULL_LOG; break;
		case 'o': out = optarg; break;
		case 'h': usage(stdout); return EXIT_PASS;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || region_path == NULL || cert == NULL ||
	    key == NULL || ca == NULL || nonce_hex == NULL) {
		ctl_err("challenge: HOST, --region, --cert, --key, --ca and "
		    "--nonce are required");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (hex_decode(nonce_hex, nonce, sizeof(nonce), &nlen, &e) < 0 ||
	    nlen != WIRE_NONCE_LEN) {
		ctl_err("challenge: --nonce must be %d bytes of hex",
		    WIRE_NONCE_LEN);
		return EXIT_USAGE;
	}
	if (pcr_selection_parse(pcrs, &sel, &e) < 0) {
		ctl_err("challenge: --pcrs: %s", e.msg);
		return EXIT_USAGE;
	}
	if (cert_name(cert, me, sizeof(me)) < 0) {
		ctl_err("challenge: %s: no usable host name in the "
		    "certificate", cert);
		return EXIT_USAGE;
	}
	if (region_load(region_path, &rg, &e) < 0) {
		ctl_err("challenge: %s", e.msg);
		return EXIT_USAGE;
	}
	if ((h = region_find(rg, argv[optind])) == NULL) {
		ctl_err("challenge: '%s' is not a host of region '%s'",
		    argv[optind], region_name(rg));
		goto out;
	}
	if (tls_ctx_new(TLS_CLIENT, cert, key, ca, &ctx, &e) < 0) {
		ctl_err("challenge: %s", e.msg);
		goto out;
	}
	if (agent_challenge(ctx, me, WIRE_ROLE_CTL, h, nonce, pcrs, flags,
	    &raw, &rawlen, &e) < 0) {
		ctl_err("%s", e.msg);
		rc = EXIT_FAILV;
		goto out;
	}
	if (strcmp(out, "-") == 0) {
		if (fwrite(raw, 1, rawlen, stdout) != rawlen) {
			ctl_err("challenge: write error");
			goto out;
		}
	} else if (file_write_atomic(out, raw, rawlen, 0644, &e) < 0) {
		ctl_err("challenge: %s", e.msg);
		goto out;
	}
	rc = EXIT_PASS;
out:
	free(raw);
	tls_ctx_free(ctx);
	region_free(rg);
	return rc;
}
