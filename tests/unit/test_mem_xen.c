/*
 * Unit tests: ids/mem_xen.c over a fake foreign-memory layer.
 *
 * The fake "domain" is an unlinked temporary file, one 4 KiB page per
 * gfn.  The fake map does what privcmd does: it reserves n pages of
 * address space and maps each accepted gfn's page of the file there
 * (MAP_SHARED, so writes reach the domain); a refused gfn gets err[i] !=
 * 0 and stays inaccessible.  Every map and unmap is counted and checked
 * against the set of live mappings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "ids/mem.h"

#define PG		4096u
#define DOM_PAGES	1100u		/* > 17 batches of 64 */
#define MAX_LIVE	64

enum { FAIL_NONE, FAIL_BATCH, FAIL_ALL };

static struct fake {
	int		 fd;
	unsigned	 opens, closes, maps, unmaps, bad_unmaps;
	unsigned	 mapped;		/* maps that succeeded */
	int		 fail_open, fail_map;
	struct {
		void	*addr;
		size_t	 n;
		uint64_t base;
	}		 live[MAX_LIVE];
	size_t		 nlive;
	uint64_t	 last_gfns[64];
	size_t		 last_n;
	uint32_t	 last_dom;
	int		 last_prot;
} fk;

static int
refused(uint64_t gfn)
{
	return gfn == 5 || gfn == 70 || gfn >= DOM_PAGES;
}

static void *
fake_open(void)
{
	if (fk.fail_open) {
		errno = EACCES;
		return NULL;
	}
	fk.opens++;
	return &fk;
}

static int
fake_close(void *h)
{
	assert_ptr_equal(h, &fk);
	fk.closes++;
	return 0;
}

static void *
fake_map(void *h, uint32_t dom, int prot, size_t n, const uint64_t *gfns,
    int *errs)
{
	uint8_t *addr;
	size_t i;

	assert_ptr_equal(h, &fk);
	assert_true(n >= 1 && n <= 64);
	fk.maps++;
	fk.last_dom = dom;
	fk.last_prot = prot;
	fk.last_n = n;
	memcpy(fk.last_gfns, gfns, n * sizeof(*gfns));
	if (fk.fail_map == FAIL_ALL || (fk.fail_map == FAIL_BATCH && n > 1)) {
		errno = EINVAL;
		return NULL;
	}
	addr = mmap(NULL, n * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	    0);
	assert_true(addr != MAP_FAILED);
	for (i = 0; i < n; i++) {
		if (refused(gfns[i])) {
			errs[i] = -EFAULT;
			continue;
		}
		errs[i] = 0;
		assert_true(mmap(addr + i * PG, PG, prot, MAP_SHARED |
		    MAP_FIXED, fk.fd, (off_t)(gfns[i] * PG)) != MAP_FAILED);
	}
	assert_true(fk.nlive < MAX_LIVE);
	fk.live[fk.nlive].addr = addr;
	fk.live[fk.nlive].n = n;
	fk.live[fk.nlive].base = gfns[0];
	fk.nlive++;
	fk.mapped++;
	return addr;
}

static int
fake_unmap(void *h, void *addr, size_t pages)
{
	size_t i;

	assert_ptr_equal(h, &fk);
	fk.unmaps++;
	for (i = 0; i < fk.nlive; i++)
		if (fk.live[i].addr == addr)
			break;
	if (i == fk.nlive || fk.live[i].n != pages) {
		fk.bad_unmaps++;
		return -1;
	}
	munmap(addr, pages * PG);
	fk.live[i] = fk.live[--fk.nlive];
	return 0;
}

static const struct vmi_xen_api fake_api = {
	.open = fake_open,
	.close = fake_close,
	.map = fake_map,
	.unmap = fake_unmap,
};

/* 1 if a live mapping starts at gfn base. */
static int
live_has(uint64_t base)
{
	size_t i;

	for (i = 0; i < fk.nlive; i++)
		if (fk.live[i].base == base)
			return 1;
	return 0;
}

/* Each qword of the domain: gfn << 32 | byte offset in the page. */
static int
setup(void **state)
{
	char path[] = "/tmp/vouch-test-xen.XXXXXX";
	uint64_t *page;
	uint64_t g, i;

	(void)state;
	memset(&fk, 0, sizeof(fk));
	fk.fd = mkstemp(path);
	assert_true(fk.fd >= 0);
	unlink(path);
	page = malloc(PG);
	assert_non_null(page);
	for (g = 0; g < DOM_PAGES; g++) {
		for (i = 0; i < PG / 8; i++)
			page[i] = g << 32 | i * 8;
		assert_int_equal(pwrite(fk.fd, page, PG, (off_t)(g * PG)),
		    (ssize_t)PG);
	}
	free(page);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	close(fk.fd);
	return 0;
}

static uint64_t
rd64(struct vmi_mem *m, uint64_t gpa)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t v = 0;

	if (vmi_mem_read_u64(m, gpa, &v, &e) != 0)
		fail_msg("read 0x%llx: %s", (unsigned long long)gpa, e.msg);
	return v;
}

static void
check_closed(void)
{
	assert_int_equal(fk.closes, fk.opens);
	assert_int_equal(fk.unmaps, fk.mapped);
	assert_int_equal(fk.nlive, 0);
	assert_int_equal(fk.bad_unmaps, 0);
}

static void
test_batching(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	uint64_t q[2];
	size_t i;

	(void)state;
	assert_int_equal(vmi_mem_open_xen(7, 256, 0, &fake_api, &m, &e), 0);
	assert_string_equal(m->ops->name, "xen");
	assert_string_equal(m->desc, "xen:7");
	assert_int_equal(m->gpa_end, 256 * PG);
	assert_int_equal(fk.opens, 1);
	assert_int_equal(fk.maps, 0);		/* lazy */
	assert_int_equal(rd64(m, 0x10), 0x10);
	assert_int_equal(fk.maps, 1);
	assert_int_equal(fk.last_n, 64);
	assert_int_equal(fk.last_dom, 7);
	assert_int_equal(fk.last_prot, PROT_READ);
	for (i = 0; i < 64; i++)
		assert_int_equal(fk.last_gfns[i], i);
	/* the same batch is reused */
	assert_int_equal(rd64(m, 3 * PG + 0xff8), 3ull << 32 | 0xff8);
	assert_int_equal(rd64(m, 63 * PG), 63ull << 32);
	assert_int_equal(fk.maps, 1);
	/* a read across the batch boundary maps the next batch */
	assert_int_equal(vmi_mem_read(m, 64 * PG - 8, q, 16, &e), 0);
	assert_int_equal(q[0], 63ull << 32 | 0xff8);
	assert_int_equal(q[1], 64ull << 32);
	assert_int_equal(fk.maps, 2);
	for (i = 0; i < 64; i++)
		assert_int_equal(fk.last_gfns[i], 64 + i);
	assert_int_equal(rd64(m, 200 * PG + 8), 200ull << 32 | 8);
	assert_int_equal(fk.maps, 3);
	assert_int_equal(fk.last_gfns[0], 192);
	/* beyond max_gfn: refused before any map */
	assert_int_equal(vmi_mem_read(m, 256 * PG, q, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(fk.maps, 3);
	/* no zero-copy map for Xen */
	assert_null(vmi_mem_map(m, 0, 8));
	vmi_mem_close(m);
	check_closed();

	/* a last, partial batch */
	assert_int_equal(vmi_mem_open_xen(1, 200, 0, &fake_api, &m, &e), 0);
	assert_int_equal(rd64(m, 199 * PG), 199ull << 32);
	assert_int_equal(fk.last_n, 8);
	assert_int_equal(fk.last_gfns[0], 192);
	assert_int_equal(fk.last_gfns[7], 199);
	vmi_mem_close(m);
	check_closed();
}

static void
test_refused(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	uint64_t q[2];

	(void)state;
	assert_int_equal(vmi_mem_open_xen(3, 1200, 0, &fake_api, &m, &e), 0);
	assert_int_equal(rd64(m, 4 * PG), 4ull << 32);
	assert_int_equal(vmi_mem_read(m, 5 * PG, q, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "gfn 0x5"));
	assert_int_equal(vmi_mem_read(m, 5 * PG - 8, q, 16, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(rd64(m, 6 * PG), 6ull << 32);
	assert_int_equal(vmi_mem_read(m, 70 * PG + 100, q, 1, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(rd64(m, 71 * PG), 71ull << 32);
	/* inside max_gfn but not populated in the domain */
	assert_int_equal(vmi_mem_read(m, 1150 * PG, q, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(fk.maps, 3);		/* refusals are cached too */
	assert_int_equal(vmi_mem_read(m, 5 * PG, q, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(fk.maps, 3);
	vmi_mem_close(m);
	check_closed();
}

static void
test_lru(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	uint64_t b;

	(void)state;
	assert_int_equal(vmi_mem_open_xen(9, DOM_PAGES, 0, &fake_api, &m, &e),
	    0);
	for (b = 0; b < 16; b++)
		assert_int_equal(rd64(m, (b * 64 + 1) * PG), (b * 64 + 1) << 32);
	assert_int_equal(fk.maps, 16);
	assert_int_equal(fk.unmaps, 0);
	assert_int_equal(fk.nlive, 16);
	/* touch batch 0 again: a hit, now most recent */
	assert_int_equal(rd64(m, 2 * PG), 2ull << 32);
	assert_int_equal(fk.maps, 16);
	/* batch 16 evicts the least recently used: batch 1 */
	assert_int_equal(rd64(m, 16 * 64 * PG), (16ull * 64) << 32);
	assert_int_equal(fk.maps, 17);
	assert_int_equal(fk.unmaps, 1);
	assert_false(live_has(64));
	assert_true(live_has(0));
	assert_int_equal(fk.nlive, 16);
	assert_int_equal(rd64(m, 3 * PG), 3ull << 32);
	assert_int_equal(fk.maps, 17);
	/* batch 1 comes back, evicting batch 2 */
	assert_int_equal(rd64(m, 65 * PG), 65ull << 32);
	assert_int_equal(fk.maps, 18);
	assert_false(live_has(128));
	assert_true(live_has(64));
	vmi_mem_close(m);
	/* every mapping unmapped exactly once, with its own size */
	check_closed();
	assert_int_equal(fk.unmaps, 18);
}

static void
test_write(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	char back[8];

	(void)state;
	assert_int_equal(vmi_mem_open_xen(4, 256, VMI_MEM_WRITE, &fake_api,
	    &m, &e), 0);
	assert_int_equal(vmi_mem_write(m, 10 * PG - 3, "abcdef", 6, &e), 0);
	assert_int_equal(fk.last_prot, PROT_READ | PROT_WRITE);
	assert_int_equal(pread(fk.fd, back, 6, 10 * PG - 3), 6);
	assert_memory_equal(back, "abcdef", 6);
	assert_int_equal(vmi_mem_write(m, 5 * PG, "x", 1, &e),
	    VOUCH_E_NOTPRESENT);
	vmi_mem_close(m);
	check_closed();

	/* read-only handle */
	assert_int_equal(vmi_mem_open_xen(4, 256, 0, &fake_api, &m, &e), 0);
	assert_int_equal(vmi_mem_write(m, 0, "x", 1, &e), VOUCH_E_STATE);
	assert_int_equal(m->ops->write(m, 0, "x", 1, &e), VOUCH_E_STATE);
	assert_int_equal(pread(fk.fd, back, 1, 0), 1);
	assert_int_equal(back[0], 0);
	vmi_mem_close(m);
	check_closed();
}

static void
test_failures(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	struct vmi_xen_api half = fake_api;
	uint64_t q;

	(void)state;
	fk.fail_open = 1;
	assert_int_equal(vmi_mem_open_xen(4, 256, 0, &fake_api, &m, &e),
	    VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "xenforeignmemory_open"));
	fk.fail_open = 0;
	half.unmap = NULL;
	assert_int_equal(vmi_mem_open_xen(4, 256, 0, &half, &m, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open_xen(4, (1ull << 40) + 1, 0, &fake_api,
	    &m, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open_xen(4, 256, 0x10, &fake_api, &m, &e),
	    VOUCH_E_INVAL);

	/* a batch Xen will not map: the one frame is tried alone */
	assert_int_equal(vmi_mem_open_xen(4, 256, 0, &fake_api, &m, &e), 0);
	fk.fail_map = FAIL_BATCH;
	assert_int_equal(rd64(m, 10 * PG), 10ull << 32);
	assert_int_equal(fk.maps, 2);
	assert_int_equal(fk.last_n, 1);
	assert_int_equal(fk.last_gfns[0], 10);
	assert_int_equal(rd64(m, 10 * PG + 8), 10ull << 32 | 8);
	assert_int_equal(fk.maps, 2);
	assert_int_equal(rd64(m, 11 * PG), 11ull << 32);
	assert_int_equal(fk.maps, 4);
	/* nothing maps: an I/O error, nothing cached */
	fk.fail_map = FAIL_ALL;
	assert_int_equal(vmi_mem_read(m, 20 * PG, &q, 8, &e), VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "gfn 0x14"));
	fk.fail_map = FAIL_NONE;
	assert_int_equal(rd64(m, 20 * PG), 20ull << 32);
	vmi_mem_close(m);
	check_closed();

	/* default max_gfn: the whole physical address space */
	assert_int_equal(vmi_mem_open_xen(4, 0, 0, &fake_api, &m, &e), 0);
	assert_int_equal(m->gpa_end, 1ull << 52);
	assert_int_equal(rd64(m, 1099 * PG), 1099ull << 32);
	assert_int_equal(vmi_mem_read(m, 1100 * PG, &q, 8, &e),
	    VOUCH_E_NOTPRESENT);
	vmi_mem_close(m);
	check_closed();
}

static void
test_specs(void **state)
{
	static const char *const bad[] = {
		"xen:", "xen:abc", "xen:-1", "xen:1,pages=", "xen:1,pages=x",
		"xen:1,pages=0", "xen:1,foo=2", "xen:1x", "xen:99999",
		"xen:1,pages=99999999999999999999999",
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.code = 0;
		if (vmi_mem_open(bad[i], 0, &m, &e) != VOUCH_E_INVAL)
			fail_msg("%s: got %d", bad[i], e.code);
	}
	assert_non_null(vmi_xen_api_default.open);
	assert_non_null(vmi_xen_api_default.map);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
		cmocka_unit_test(test_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
