/*
 * vmem.c - a software x86_64 page-table walk over struct vmi_mem.
 *
 *	 63   57 56    48 47    39 38    30 29    21 20    12 11      0
 *	| sign  | PML5   | PML4   | PDPT   | PD     | PT     | offset   |
 *	         (LA57)
 *
 * An entry: bit 0 present, bit 7 PS (a leaf at PDPT: 1 GiB, at PD:
 * 2 MiB; reserved at PML5/PML4), bits 12..51 the next table or the page
 * frame (for large pages the frame is aligned to the page size and the low
 * bits include PAT), bit 63 NX and bits 52..62 ignored here.  The walk
 * does exactly `levels` reads at most, so a page table that points at
 * itself (or is garbage) cannot make it loop; every table address comes
 * from the mask and is bounds-checked by vmi_mem_read.
 *
 * The TLB is direct-mapped: a mapping of size S at virtual base V lives
 * in slot hash(V / S, S); a lookup probes the three sizes.
 */
#include <string.h>

#include "ids/vmem.h"

#define PTE_P		0x1ull
#define PTE_PS		0x80ull
#define PTE_ADDR	0x000ffffffffff000ull	/* bits 12..51 */
#define SZ_4K		0x1000ull
#define SZ_2M		0x200000ull
#define SZ_1G		0x40000000ull

int
vmem_canonical(uint64_t va, int levels)
{
	int bits = levels == 5 ? 57 : 48;
	uint64_t top = va >> (bits - 1);	/* sign bit and above */

	if (levels != 4 && levels != 5)
		return 0;
	return top == 0 || top == (UINT64_MAX >> (bits - 1));
}

void
vmem_init(struct vmem *v, struct vmi_mem *mem, uint64_t pgd, int levels)
{
	memset(v, 0, sizeof(*v));
	v->mem = mem;
	v->pgd = pgd & PTE_ADDR;
	v->levels = levels;
}

void
vmem_flush(struct vmem *v)
{
	memset(v->tlb, 0, sizeof(v->tlb));
}

static size_t
tlb_slot(uint64_t va, uint64_t size)
{
	uint64_t vpn = va / size;

	vpn ^= vpn >> 8 ^ vpn >> 16;
	return (size_t)((vpn + (size >> 12)) % VMEM_TLB_SIZE);
}

static int
tlb_lookup(struct vmem *v, uint64_t va, uint64_t *pa, uint64_t *size)
{
	static const uint64_t sizes[] = { SZ_4K, SZ_2M, SZ_1G };
	const struct vmem_tlb_entry *t;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		t = &v->tlb[tlb_slot(va, sizes[i])];
		if (t->size == sizes[i] && t->va == (va & ~(sizes[i] - 1))) {
			*pa = t->pa + (va & (sizes[i] - 1));
			*size = sizes[i];
			return 1;
		}
	}
	return 0;
}

static int
walk(struct vmem *v, uint64_t va, uint64_t *pa, uint64_t *size,
    struct vouch_err *e)
{
	static const char *const names[] = { "", "PT", "PD", "PDPT", "PML4",
	    "PML5" };
	uint64_t table = v->pgd, pte, psize;
	int level, shift, r;

	v->walks++;
	for (level = v->levels; level >= 1; level--) {
		shift = 12 + 9 * (level - 1);
		r = vmi_mem_read_u64(v->mem,
		    table + ((va >> shift) & 0x1ff) * 8, &pte, e);
		if (r < 0) {
			(void)vouch_err_prefix(e,
			    "va 0x%llx: %s table at 0x%llx",
			    (unsigned long long)va, names[level],
			    (unsigned long long)table);
			return r;
		}
		if (!(pte & PTE_P))
			return vouch_err_set(e, VOUCH_E_NOTPRESENT,
			    "va 0x%llx: %s entry not present",
			    (unsigned long long)va, names[level]);
		if (pte & PTE_PS) {
			if (level > 3)
				return vouch_err_set(e, VOUCH_E_NOTPRESENT,
				    "va 0x%llx: reserved PS bit in %s entry",
				    (unsigned long long)va, names[level]);
			if (level >= 2) {
				psize = 1ull << shift;
				*size = psize;
				*pa = pte & PTE_ADDR & ~(psize - 1);
				return 0;
			}
			/* level 1: bit 7 is PAT, not PS */
		}
		table = pte & PTE_ADDR;
	}
	*size = SZ_4K;
	*pa = table;
	return 0;
}

int
vmem_v2p(struct vmem *v, uint64_t va, uint64_t *pa, uint64_t *page_size,
    struct vouch_err *e)
{
	struct vmem_tlb_entry *t;
	uint64_t base = 0, size = 0;
	int r;

	if (v == NULL || v->mem == NULL || pa == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmem_v2p: NULL");
	if (v->levels != 4 && v->levels != 5)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "vmem: %d paging levels (want 4 or 5)", v->levels);
	if (!vmem_canonical(va, v->levels))
		return vouch_err_set(e, VOUCH_E_NOTPRESENT,
		    "va 0x%llx is not canonical for %d-level paging",
		    (unsigned long long)va, v->levels);
	if (tlb_lookup(v, va, pa, &size)) {
		v->hits++;
		if (page_size != NULL)
			*page_size = size;
		return 0;
	}
	if ((r = walk(v, va, &base, &size, e)) < 0)
		return r;
	t = &v->tlb[tlb_slot(va, size)];
	t->va = va & ~(size - 1);
	t->pa = base;
	t->size = size;
	*pa = base + (va & (size - 1));
	if (page_size != NULL)
		*page_size = size;
	return 0;
}

/*
 * Walk [va, va+len) one mapping at a time; each piece is copied between
 * buf and guest memory by the backend (one read per mapping, not per 4K).
 */
static int
vmem_copy(struct vmem *v, uint64_t va, uint8_t *buf, size_t len,
    int to_guest, struct vouch_err *e)
{
	uint64_t pa, size, n, at, left;
	int r;

	if (v == NULL || (buf == NULL && len > 0))
		return vouch_err_set(e, VOUCH_E_INVAL, "vmem: NULL");
	if (len > 0 && va + (len - 1) < va)
		return vouch_err_set(e, VOUCH_E_NOTPRESENT,
		    "va 0x%llx+%zu wraps around", (unsigned long long)va, len);
	/*
	 * A write translates the whole range first, so an unmapped page in
	 * the middle does not leave a half-written object in the guest.
	 */
	for (at = va, left = len; to_guest && left > 0; at += n, left -= n) {
		if ((r = vmem_v2p(v, at, &pa, &size, e)) < 0)
			return r;
		n = size - (at & (size - 1));
		if (n > left)
			n = left;
	}
	while (len > 0) {
		if ((r = vmem_v2p(v, va, &pa, &size, e)) < 0)
			return r;
		n = size - (va & (size - 1));
		if (n > len)
			n = len;
		r = to_guest ? vmi_mem_write(v->mem, pa, buf, (size_t)n, e) :
		    vmi_mem_read(v->mem, pa, buf, (size_t)n, e);
		if (r < 0)
			return r;
		buf += n;
		va += n;
		len -= (size_t)n;
	}
	return 0;
}

int
vmem_read(struct vmem *v, uint64_t va, void *buf, size_t len,
    struct vouch_err *e)
{
	return vmem_copy(v, va, buf, len, 0, e);
}

int
vmem_write(struct vmem *v, uint64_t va, const void *buf, size_t len,
    struct vouch_err *e)
{
	/* vmem_copy only reads buf when to_guest is set. */
	return vmem_copy(v, va, (uint8_t *)(uintptr_t)buf, len, 1, e);
}

int
vmem_read_u64(struct vmem *v, uint64_t va, uint64_t *out,
    struct vouch_err *e)
{
	uint8_t b[8];
	int r;

	if (out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmem_read_u64: NULL");
	if ((r = vmem_read(v, va, b, sizeof(b), e)) < 0)
		return r;
	*out = vmi_le64(b);
	return 0;
}

int
vmem_read_u32(struct vmem *v, uint64_t va, uint32_t *out,
    struct vouch_err *e)
{
	uint8_t b[4];
	int r;

	if (out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmem_read_u32: NULL");
	if ((r = vmem_read(v, va, b, sizeof(b), e)) < 0)
		return r;
	*out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
	return 0;
}

/*
 * Strings are read in pieces that end at a 4K boundary (so a short string
 * at the end of a page never touches the next one).  A piece the backend
 * cannot read whole (a dump segment ending mid-page) is retried a byte at
 * a time, so the string is read exactly up to its NUL.
 */
#define STR_CHUNK	256

int
vmem_read_str(struct vmem *v, uint64_t va, char *out, size_t cap,
    struct vouch_err *e)
{
	size_t got = 0, n, i;
	int r;

	if (out == NULL || cap == 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmem_read_str: no room");
	while (got < cap - 1) {
		if (got > 0 && va + got == 0) {		/* ran off the top */
			out[0] = '\0';
			return vouch_err_set(e, VOUCH_E_NOTPRESENT,
			    "string at va 0x%llx wraps around",
			    (unsigned long long)va);
		}
		n = (size_t)(SZ_4K - ((va + got) & (SZ_4K - 1)));
		if (n > STR_CHUNK)
			n = STR_CHUNK;
		if (n > cap - 1 - got)
			n = cap - 1 - got;
		r = vmem_read(v, va + got, out + got, n, e);
		if (r == VOUCH_E_NOTPRESENT && n > 1) {
			for (i = 0; i < n; i++) {
				r = vmem_read(v, va + got + i, out + got + i,
				    1, e);
				if (r < 0)
					break;
				if (out[got + i] == '\0')
					return 0;
			}
		}
		if (r < 0) {
			out[0] = '\0';
			return r;
		}
		if (memchr(out + got, '\0', n) != NULL)
			return 0;
		got += n;
	}
	out[got] = '\0';
	return 0;
}
