/*
 * vouchctl region init --dir DIR [--days N]
 * vouchctl host cert HOST --ca-dir DIR [--ip ADDR] [--out DIR2] [--days N]
 *
 * The region's mutual-TLS PKI (common/pki.h): one region CA, then a
 * certificate per host that vouchd, vouch-tcbd and vouchctl present to
 * each other.  Run on an offline admin machine; copy HOST.pem, HOST.key
 * and ca.pem (never ca.key) to the host.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pki.h"
#include "common/util.h"
#include "tools/vouchctl/vouchctl.h"

static void
region_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl region init --dir DIR [--days N]\n"
	    "\n"
	    "init  create the region CA: DIR/ca.pem (certificate) and DIR/ca.key\n"
	    "      (private key, mode 0600; keep it offline).  Refuses to replace\n"
	    "      an existing CA.\n"
	    "  --dir DIR   directory for the CA (created 0700 if missing)\n"
	    "  --days N    validity in days (default %d, at most %d)\n",
	    PKI_CA_DAYS_DEFAULT, PKI_DAYS_MAX);
}

static void
host_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl host cert HOST --ca-dir DIR [--ip ADDR] [--out DIR2]\n"
	    "                          [--days N]\n"
	    "\n"
	    "cert  issue a mutual-TLS certificate for HOST, signed by the region CA:\n"
	    "      DIR2/HOST.pem and DIR2/HOST.key (mode 0600), replacing old ones.\n"
	    "  HOST          lower-case DNS name (a-z, 0-9, '-', dots); it becomes\n"
	    "                the certificate's SAN DNS name and CN\n"
	    "  --ca-dir DIR  directory holding ca.pem and ca.key\n"
	    "  --ip ADDR     also put IPv4/IPv6 address ADDR in the SAN\n"
	    "  --out DIR2    output directory (default: the current directory)\n"
	    "  --days N      validity in days (default %d; never past the CA's)\n",
	    PKI_HOST_DAYS_DEFAULT);
}

static int
parse_days(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v < 1 || v > PKI_DAYS_MAX)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
region_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "days", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *dir = NULL;
	unsigned days = PKI_CA_DAYS_DEFAULT;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n':
			if (parse_days(optarg, &days) < 0) {
				ctl_err("region init: --days wants 1..%d, not "
				    "'%s'", PKI_DAYS_MAX, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': region_usage(stdout); return 0;
		default: region_usage(stderr); return EXIT_USAGE;
		}
	}
	if (dir == NULL || optind != argc) {
		region_usage(stderr);
		return EXIT_USAGE;
	}
	if (pki_ca_create(dir, days, &e) < 0) {
		ctl_err("region init: %s", e.msg);
		return EXIT_USAGE;
	}
	printf("region CA: %s/ca.pem (key %s/ca.key, keep it offline)\n", dir,
	    dir);
	return 0;
}

static int
host_cert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca-dir", required_argument, NULL, 'c' },
		{ "ip", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "days", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *ca_dir = NULL, *ip = NULL, *out = ".", *host;
	unsigned days = PKI_HOST_DAYS_DEFAULT;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:i:o:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ca_dir = optarg; break;
		case 'i': ip = optarg; break;
		case 'o': out = optarg; break;
		case 'n':
			if (parse_days(optarg, &days) < 0) {
				ctl_err("host cert: --days wants 1..%d, not "
				    "'%s'", PKI_DAYS_MAX, optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': host_usage(stdout); return 0;
		default: host_usage(stderr); return EXIT_USAGE;
		}
	}
	if (ca_dir == NULL || optind + 1 != argc) {
		host_usage(stderr);
		return EXIT_USAGE;
	}
	host = argv[optind];
	if (pki_host_issue(ca_dir, host, ip, days, out, &e) < 0) {
		ctl_err("host cert: %s", e.msg);
		return EXIT_USAGE;
	}
	printf("host certificate: %s/%s.pem (key %s/%s.key)\n", out, host, out,
	    host);
	return 0;
}

int
cmd_region(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "init", region_init },
	};

	return ctl_dispatch("region", subs, ARRAY_SIZE(subs), region_usage, argc, argv);
}

int
cmd_host(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "cert", host_cert },
	};

	return ctl_dispatch("host", subs, ARRAY_SIZE(subs), host_usage, argc, argv);
}
