/*
 * Unit tests: ids/vmem.c over synthetic page tables in a fake memory.
 *
 * The fake is a struct vmi_mem with its own ops over 8 MiB of malloc'd
 * "RAM" (gpa == offset), an optional unreadable hole, and a read count.
 * Page tables live in the first pages:
 *
 *	0x1000 PML4   0x2000 PDPT   0x3000 PD   0x4000 PT   0x5000 PML5
 *	0x6000 PDPT2 (kernel)       0x7000 PML4b, 0x8000 PDPT3 (5-level
 *	kernel half)
 *
 *	VA_USER		 4K pages: PT[0] -> 0x400000, PT[1] -> 0x401000 (NX and
 *			 ignored high bits set), PT[2] not present,
 *			 PT[511] -> 0x402000
 *	VA_USER + 2M	 a 2M page -> 0x600000
 *	VA_1G		 a 1G page -> 0 (NX)
 *	VA5_KERN	 (5-level) a 1G page -> 1G
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ids/vmem.h"

#define RAM_SIZE	(8u << 20)
#define PML4		0x1000ull
#define PDPT		0x2000ull
#define PD		0x3000ull
#define PT		0x4000ull
#define PML5		0x5000ull
#define PDPT2		0x6000ull
#define PML4B		0x7000ull
#define PDPT3		0x8000ull

#define P		0x1ull
#define RW		0x2ull
#define PS		0x80ull
#define NX		(1ull << 63)
#define IGN		(0x7ffull << 52)	/* bits 52..62 */

#define VA_USER		0x00007f0000000000ull
#define VA_1G		0xffff888000000000ull
#define VA_BADPS	0x0000100000000000ull
#define VA5_USER	(VA_USER | (1ull << 48))	/* PML5 index 1 */
#define VA5_KERN	0xff11000000000000ull		/* LA57 direct map */
#define TOP		0xfffffffffffff000ull		/* the last page */

struct fmem {
	struct vmi_mem	 m;
	uint8_t		*ram;
	uint64_t	 hole_lo, hole_hi;	/* reads touching it fail */
	unsigned	 reads;
};

static int
f_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e)
{
	struct fmem *f = m->priv;

	f->reads++;
	if (gpa < f->hole_hi && gpa + len > f->hole_lo)
		return vouch_err_set(e, VOUCH_E_NOTPRESENT, "hole");
	memcpy(buf, f->ram + gpa, len);
	return 0;
}

static int
f_write(struct vmi_mem *m, uint64_t gpa, const void *buf, size_t len,
    struct vouch_err *e)
{
	struct fmem *f = m->priv;

	(void)e;
	memcpy(f->ram + gpa, buf, len);
	return 0;
}

static void
f_close(struct vmi_mem *m)
{
	(void)m;
}

static const struct vmi_mem_ops f_ops = {
	.name = "fake", .read = f_read, .write = f_write, .map = NULL,
	.close = f_close,
};

static void
fmem_init(struct fmem *f)
{
	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	f->m.ops = &f_ops;
	f->m.priv = f;
	f->m.ram_size = RAM_SIZE;
	f->m.gpa_end = RAM_SIZE;
	f->m.flags = VMI_MEM_WRITE;
	snprintf(f->m.desc, sizeof(f->m.desc), "fake");
}

static void
put64(struct fmem *f, uint64_t pa, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		f->ram[pa + (uint64_t)i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
idx(uint64_t va, int level)
{
	return (va >> (12 + 9 * (level - 1))) & 0x1ff;
}

static void
set_pte(struct fmem *f, uint64_t table, int level, uint64_t va, uint64_t v)
{
	put64(f, table + idx(va, level) * 8, v);
}

/* The tables described at the top. */
static void
build(struct fmem *f)
{
	uint64_t i;

	fmem_init(f);
	set_pte(f, PML4, 4, VA_USER, PDPT | P | RW);
	set_pte(f, PDPT, 3, VA_USER, PD | P | RW);
	set_pte(f, PD, 2, VA_USER, PT | P | RW);
	set_pte(f, PD, 2, VA_USER + 0x200000, 0x600000 | P | PS | RW);
	set_pte(f, PT, 1, VA_USER, 0x400000 | P | RW);
	set_pte(f, PT, 1, VA_USER + 0x1000, 0x401000 | P | NX | IGN);
	set_pte(f, PT, 1, VA_USER + 0x2000, 0x403000);	/* not present */
	set_pte(f, PT, 1, VA_USER + 0x1ff000, 0x402000 | P | RW);
	set_pte(f, PML4, 4, VA_1G, PDPT2 | P | RW);
	set_pte(f, PDPT2, 3, VA_1G, 0 | P | PS | NX);
	set_pte(f, PML4, 4, VA_BADPS, PDPT | P | PS);
	/* 5-level: PML5[1] reuses the 4-level tree, the kernel half its own. */
	set_pte(f, PML5, 5, VA5_USER, PML4 | P | RW);
	set_pte(f, PML5, 5, VA5_KERN, PML4B | P | RW);
	set_pte(f, PML4B, 4, VA5_KERN, PDPT3 | P | RW);
	set_pte(f, PDPT3, 3, VA5_KERN, 0x40000000ull | P | PS);
	/* page data: each qword holds its own physical address */
	for (i = 0x400000; i < RAM_SIZE; i += 8)
		put64(f, i, i);
}

static void
test_canonical(void **state)
{
	(void)state;
	assert_true(vmem_canonical(0, 4));
	assert_true(vmem_canonical(0x00007fffffffffffull, 4));
	assert_false(vmem_canonical(0x0000800000000000ull, 4));
	assert_true(vmem_canonical(0xffff800000000000ull, 4));
	assert_false(vmem_canonical(0xfffe800000000000ull, 4));
	assert_true(vmem_canonical(0x0000800000000000ull, 5));
	assert_true(vmem_canonical(0x00ffffffffffffffull, 5));
	assert_false(vmem_canonical(0x0100000000000000ull, 5));
	assert_true(vmem_canonical(0xff00000000000000ull, 5));
	assert_false(vmem_canonical(0xfeff000000000000ull, 5));
	assert_false(vmem_canonical(0, 3));
}

static void
test_4level(void **state)
{
	struct fmem f;
	struct vmem v;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t pa, sz, x;
	uint32_t y;

	(void)state;
	build(&f);
	vmem_init(&v, &f.m, PML4 | 0x18, 4);	/* PCID bits ignored */
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x123, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x400123);
	assert_int_equal(sz, 0x1000);
	/* NX and ignored bits 52..62 do not leak into the address */
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x1008, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x401008);
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x1ff010, &pa, NULL, &e), 0);
	assert_int_equal(pa, 0x402010);
	/* 2M page */
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x200000 + 0x12345, &pa, &sz,
	    &e), 0);
	assert_int_equal(pa, 0x612345);
	assert_int_equal(sz, 0x200000);
	/* 1G page */
	assert_int_equal(vmem_v2p(&v, VA_1G + 0x654321, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x654321);
	assert_int_equal(sz, 0x40000000);
	assert_int_equal(vmem_read_u64(&v, VA_1G + 0x700000, &x, &e), 0);
	assert_int_equal(x, 0x700000);
	assert_int_equal(vmem_read_u32(&v, VA_USER + 0x200000 + 0x8, &y, &e),
	    0);
	assert_int_equal(y, 0x600008);
	/* not present: PT entry, PD entry, PML4 entry */
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x2000, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "PT entry not present"));
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x400000, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmem_v2p(&v, 0x1000, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "PML4"));
	/* PS in a PML4 entry is reserved */
	assert_int_equal(vmem_v2p(&v, VA_BADPS, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "reserved"));
	/* non-canonical, and 5-level-only addresses */
	assert_int_equal(vmem_v2p(&v, 0x0000800000000000ull, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "canonical"));
	assert_int_equal(vmem_v2p(&v, VA5_USER, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	/* a read on a non-present page fails whole */
	assert_int_equal(vmem_read_u64(&v, VA_USER + 0x1ffc, &x, &e),
	    VOUCH_E_NOTPRESENT);
	free(f.ram);
}

static void
test_5level(void **state)
{
	struct fmem f;
	struct vmem v;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t pa, sz;

	(void)state;
	build(&f);
	vmem_init(&v, &f.m, PML5, 5);
	assert_int_equal(vmem_v2p(&v, VA5_USER + 0x10, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x400010);
	assert_int_equal(vmem_v2p(&v, VA5_USER + 0x200000, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x600000);
	assert_int_equal(sz, 0x200000);
	assert_int_equal(vmem_v2p(&v, VA5_KERN + 0x20, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x40000020);
	assert_int_equal(sz, 0x40000000);
	/* PML5 index 0 is empty: the 4-level address is not mapped here */
	assert_int_equal(vmem_v2p(&v, VA_USER, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "PML5"));
	assert_int_equal(vmem_v2p(&v, 0x0100000000000000ull, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	/* bad depth */
	vmem_init(&v, &f.m, PML4, 3);
	assert_int_equal(vmem_v2p(&v, VA_USER, &pa, &sz, &e), VOUCH_E_INVAL);
	/* top-level table outside RAM */
	vmem_init(&v, &f.m, 0x100000000ull, 4);
	assert_int_equal(vmem_v2p(&v, VA_USER, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	free(f.ram);
}

static void
test_cross_page(void **state)
{
	struct fmem f;
	struct vmem v;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t q[4];
	uint8_t w[16], back[16];
	size_t i;

	(void)state;
	build(&f);
	vmem_init(&v, &f.m, PML4, 4);
	/* last 16 bytes of the 4K page PT[511], first 16 of the 2M page */
	assert_int_equal(vmem_read(&v, VA_USER + 0x200000 - 16, q, sizeof(q),
	    &e), 0);
	assert_int_equal(q[0], 0x402ff0);
	assert_int_equal(q[1], 0x402ff8);
	assert_int_equal(q[2], 0x600000);
	assert_int_equal(q[3], 0x600008);
	/* 4K -> 4K across PT[0]/PT[1] */
	assert_int_equal(vmem_read(&v, VA_USER + 0xff8, q, 16, &e), 0);
	assert_int_equal(q[0], 0x400ff8);
	assert_int_equal(q[1], 0x401000);
	/* writes split the same way */
	for (i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(vmem_write(&v, VA_USER + 0x200000 - 8, w, sizeof(w),
	    &e), 0);
	assert_memory_equal(f.ram + 0x402ff8, w, 8);
	assert_memory_equal(f.ram + 0x600000, w + 8, 8);
	assert_int_equal(vmem_read(&v, VA_USER + 0x200000 - 8, back,
	    sizeof(back), &e), 0);
	assert_memory_equal(back, w, sizeof(w));
	/* a write reaching an unmapped page fails, writing nothing */
	memset(f.ram + 0x401ff8, 0x55, 8);
	assert_int_equal(vmem_write(&v, VA_USER + 0x1ff8, w, sizeof(w), &e),
	    VOUCH_E_NOTPRESENT);
	for (i = 0; i < 8; i++)
		assert_int_equal(f.ram[0x401ff8 + i], 0x55);
	/* wrap-around at the top of the address space */
	assert_int_equal(vmem_read(&v, 0xfffffffffffffff8ull, q, 16, &e),
	    VOUCH_E_NOTPRESENT);
	/* zero length is fine */
	assert_int_equal(vmem_read(&v, 0x0000800000000000ull, q, 0, &e), 0);
	free(f.ram);
}

static void
test_tlb(void **state)
{
	struct fmem f;
	struct vmem v;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t pa, sz;
	unsigned reads;

	(void)state;
	build(&f);
	vmem_init(&v, &f.m, PML4, 4);
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x10, &pa, &sz, &e), 0);
	assert_int_equal(v.walks, 1);
	assert_int_equal(v.hits, 0);
	reads = f.reads;
	assert_int_equal(vmem_v2p(&v, VA_USER + 0xff0, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x400ff0);
	assert_int_equal(v.walks, 1);
	assert_int_equal(v.hits, 1);
	assert_int_equal(f.reads, reads);	/* no table read on a hit */
	/* a 2M and a 1G mapping are each walked once */
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x200000, &pa, &sz, &e), 0);
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x3ff000, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x7ff000);
	assert_int_equal(vmem_v2p(&v, VA_1G, &pa, &sz, &e), 0);
	assert_int_equal(vmem_v2p(&v, VA_1G + 0x3fffffff, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x3fffffff);
	assert_int_equal(v.walks, 3);
	assert_int_equal(v.hits, 3);
	/* failures are not cached */
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x2000, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x2000, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(v.walks, 5);
	/* the guest remaps PT[0]: stale until flushed */
	set_pte(&f, PT, 1, VA_USER, 0x405000 | P);
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x10, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x400010);
	vmem_flush(&v);
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x10, &pa, &sz, &e), 0);
	assert_int_equal(pa, 0x405010);
	assert_int_equal(v.walks, 6);
	/* and unmapping is seen after a flush */
	set_pte(&f, PT, 1, VA_USER, 0);
	vmem_flush(&v);
	assert_int_equal(vmem_v2p(&v, VA_USER + 0x10, &pa, &sz, &e),
	    VOUCH_E_NOTPRESENT);
	free(f.ram);
}

static void
test_read_str(void **state)
{
	struct fmem f;
	struct vmem v;
	struct vouch_err e = VOUCH_ERR_INIT;
	char s[64];
	uint64_t va;

	(void)state;
	build(&f);
	vmem_init(&v, &f.m, PML4, 4);
	/* "hel" ends the 4K page PT[511], "lo" starts the 2M page */
	memcpy(f.ram + 0x402ffd, "hel", 3);
	memcpy(f.ram + 0x600000, "lo\0", 3);
	va = VA_USER + 0x200000 - 3;
	assert_int_equal(vmem_read_str(&v, va, s, sizeof(s), &e), 0);
	assert_string_equal(s, "hello");
	assert_int_equal(vmem_read_str(&v, va, s, 3, &e), 0);
	assert_string_equal(s, "he");
	assert_int_equal(vmem_read_str(&v, va, s, 1, &e), 0);
	assert_string_equal(s, "");
	assert_int_equal(vmem_read_str(&v, va, s, 0, &e), VOUCH_E_INVAL);
	/* a short string at the end of a page never touches the next */
	memcpy(f.ram + 0x401ffe, "x\0", 2);
	assert_int_equal(vmem_read_str(&v, VA_USER + 0x1ffe, s, sizeof(s),
	    &e), 0);
	assert_string_equal(s, "x");
	/* ... but one running into it fails */
	memcpy(f.ram + 0x401ffe, "xy", 2);
	assert_int_equal(vmem_read_str(&v, VA_USER + 0x1ffe, s, sizeof(s),
	    &e), VOUCH_E_NOTPRESENT);
	assert_string_equal(s, "");
	/* unterminated: truncated at cap - 1 */
	memset(f.ram + 0x400000, 'A', 0x1000);
	assert_int_equal(vmem_read_str(&v, VA_USER, s, sizeof(s), &e), 0);
	assert_int_equal(strlen(s), sizeof(s) - 1);
	/* a string running off the top of the address space */
	set_pte(&f, PML4, 4, TOP, 0x9000 | P);
	set_pte(&f, 0x9000, 3, TOP, 0xa000 | P);
	set_pte(&f, 0xa000, 2, TOP, 0xb000 | P);
	set_pte(&f, 0xb000, 1, TOP, 0x500000 | P);
	memcpy(f.ram + 0x500ffc, "ab\0", 3);
	assert_int_equal(vmem_read_str(&v, TOP + 0xffc, s, sizeof(s), &e), 0);
	assert_string_equal(s, "ab");
	memcpy(f.ram + 0x500ffc, "abcd", 4);
	assert_int_equal(vmem_read_str(&v, TOP + 0xffc, s, sizeof(s), &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "wraps"));
	/* backend refuses part of the chunk: read up to the NUL anyway */
	memcpy(f.ram + 0x4017f0, "abc\0", 4);
	f.hole_lo = 0x401800;
	f.hole_hi = 0x402000;
	assert_int_equal(vmem_read_str(&v, VA_USER + 0x17f0, s, sizeof(s),
	    &e), 0);
	assert_string_equal(s, "abc");
	memset(f.ram + 0x4017f0, 'B', 0x10);
	assert_int_equal(vmem_read_str(&v, VA_USER + 0x17f0, s, sizeof(s),
	    &e), VOUCH_E_NOTPRESENT);
	free(f.ram);
}

/* A table whose every entry points back at itself ends after `levels`. */
static void
test_cyclic(void **state)
{
	struct fmem f;
	struct vmem v;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t pa, sz, i;
	char s[32];

	(void)state;
	fmem_init(&f);
	for (i = 0; i < 512; i++)
		put64(&f, PML4 + i * 8, PML4 | P);
	vmem_init(&v, &f.m, PML4, 4);
	assert_int_equal(vmem_v2p(&v, 0x123, &pa, &sz, &e), 0);
	assert_int_equal(pa, PML4 + 0x123);
	assert_int_equal(sz, 0x1000);
	assert_int_equal(v.walks, 1);
	assert_int_equal(vmem_read_str(&v, 0xffff800000000000ull, s,
	    sizeof(s), &e), 0);
	vmem_init(&v, &f.m, PML4, 5);
	assert_int_equal(vmem_v2p(&v, 0xff00000000000456ull, &pa, &sz, &e),
	    0);
	assert_int_equal(pa, PML4 + 0x456);
	free(f.ram);
}

/* Random bytes as page tables: every walk ends, with 0 or NOTPRESENT. */
static void
test_garbage(void **state)
{
	struct fmem f;
	struct vmem v;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t pa, sz, va, x, seed = 0x9e3779b97f4a7c15ull;
	char s[40];
	size_t i;
	int r, lv;

	(void)state;
	fmem_init(&f);
	for (i = 0; i < RAM_SIZE; i += 8) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		x = seed;
		/* three in four look like entries pointing into RAM */
		if ((seed >> 62) != 0)
			x = (seed & (RAM_SIZE - 1) & ~0xfffull) |
			    ((seed >> 40) & 0xff) | (seed & NX);
		put64(&f, i, x);
	}
	for (lv = 4; lv <= 5; lv++) {
		vmem_init(&v, &f.m, 0x3000, lv);
		for (i = 0; i < 20000; i++) {
			seed = seed * 6364136223846793005ull +
			    1442695040888963407ull;
			va = seed;
			if (i & 1)
				va &= 0x00007fffffffffffull;
			r = vmem_v2p(&v, va, &pa, &sz, &e);
			assert_true(r == 0 || r == VOUCH_E_NOTPRESENT);
			if (r == 0)
				assert_true(sz == 0x1000 || sz == 0x200000 ||
				    sz == 0x40000000);
			r = vmem_read_str(&v, va, s, sizeof(s), &e);
			assert_true(r == 0 || r == VOUCH_E_NOTPRESENT);
			if (r == 0)
				assert_true(strlen(s) < sizeof(s));
		}
		assert_true(v.walks > 0);
	}
	free(f.ram);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_4level),
		cmocka_unit_test(test_5level),
		cmocka_unit_test(test_cross_page),
		cmocka_unit_test(test_tlb),
		cmocka_unit_test(test_read_str),
		cmocka_unit_test(test_cyclic),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
