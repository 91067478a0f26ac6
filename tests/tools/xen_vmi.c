/*
 * xen_vmi - the Xen VMI backend against a real domain, for the Xen lab
 * (tools/xenlab/xenlab.sh: run in dom0 through --bin).
 *
 *   xen_vmi DOMID PAGES [GPA]
 *	Open "xen:DOMID,pages=PAGES" (ids/mem_xen.c: libxenforeignmemory),
 *	read the 4 KiB page at GPA (default 0x1000000, inside the kernel
 *	image of a PVH Linux) and print
 *	    page GPA sha256 HEX nonzero N
 *	then build the Linux profile from guest memory alone (ids/linux.c)
 *	and print
 *	    release RELEASE
 *	    text_va 0x... text_pa 0x... source SOURCE
 *	    linux_banner BANNER
 *	    profile_ms MS
 *	Exit 0 if everything was found, 1 otherwise (the reason on stderr).
 *
 * Test-only: never installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ids/linux.h"
#include "ids/mem.h"

static int
fail(const char *what, const struct vouch_err *e)
{
	fprintf(stderr, "xen_vmi: %s: %s\n", what, e->msg);
	return 1;
}

static unsigned long long
num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || end == s) {
		fprintf(stderr, "xen_vmi: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_linux_opts o = { NULL, NULL };
	struct vmi_mem *m = NULL;
	struct vmi_linux *lx = NULL;
	unsigned char page[VMI_PAGE_SIZE], md[EVP_MAX_MD_SIZE];
	char spec[96], banner[256];
	unsigned mdlen = 0, i, nz = 0;
	unsigned long long dom, pages, gpa = 0x1000000;
	uint64_t va;
	double t0;
	int rc = 1;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: xen_vmi DOMID PAGES [GPA]\n");
		return 2;
	}
	dom = num(argv[1]);
	pages = num(argv[2]);
	if (argc == 4)
		gpa = num(argv[3]);
	snprintf(spec, sizeof(spec), "xen:%llu,pages=%llu", dom, pages);
	if (vmi_mem_open(spec, 0, &m, &e) != 0)
		return fail(spec, &e);
	if (vmi_mem_read(m, gpa & ~(uint64_t)(VMI_PAGE_SIZE - 1), page,
	    sizeof(page), &e) != 0) {
		rc = fail("read", &e);
		goto out;
	}
	if (EVP_Digest(page, sizeof(page), md, &mdlen, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "xen_vmi: sha256 failed\n");
		goto out;
	}
	for (i = 0; i < sizeof(page); i++)
		nz += page[i] != 0;
	printf("page 0x%llx sha256 ", gpa & ~(unsigned long long)(VMI_PAGE_SIZE - 1));
	for (i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
	printf(" nonzero %u\n", nz);
	fflush(stdout);

	t0 = now_ms();
	if (vmi_linux_open(m, &o, &lx, &e) != 0) {
		rc = fail("linux profile", &e);
		goto out;
	}
	printf("release %s\n", lx->release);
	printf("text_va 0x%llx text_pa 0x%llx source %s\n",
	    (unsigned long long)lx->text_va, (unsigned long long)lx->text_pa,
	    lx->source);
	if (vmi_linux_sym(lx, "linux_banner", &va) != 0) {
		fprintf(stderr, "xen_vmi: no linux_banner symbol\n");
		goto out;
	}
	memset(banner, 0, sizeof(banner));
	if (vmem_read(&lx->vm, va, banner, sizeof(banner) - 1, &e) != 0) {
		rc = fail("read linux_banner", &e);
		goto out;
	}
	banner[strcspn(banner, "\n")] = '\0';
	printf("linux_banner %s\n", banner);
	printf("profile_ms %.1f\n", now_ms() - t0);
	rc = 0;
out:
	vmi_linux_close(lx);
	vmi_mem_close(m);
	return rc;
}
