/*
 * vmem.h - guest-virtual memory: a software x86_64 page-table walk.
 *
 * 4-level (48-bit) and 5-level (57-bit, LA57) paging, 1 GiB and 2 MiB
 * large pages, 4 KiB pages.  Every page-table entry is read from guest
 * memory through struct vmi_mem; nothing is trusted: a non-present entry,
 * a non-canonical address or a table outside RAM gives VOUCH_E_NOTPRESENT.
 *
 * A small software TLB (direct-mapped, keyed by the virtual page of the
 * mapping's size) keeps translations between vmem_flush() calls; callers
 * flush at the start of each check run so a guest that changes its page
 * tables is seen at the next run.  Reads that cross pages are split and
 * each page translated.
 */
#ifndef VOUCH_IDS_VMEM_H
#define VOUCH_IDS_VMEM_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ids/mem.h"

#define VMEM_TLB_SIZE	256

struct vmem_tlb_entry {
	uint64_t	va;	/* base of the mapping (aligned to its size) */
	uint64_t	pa;	/* its physical base */
	uint64_t	size;	/* 4K, 2M or 1G; 0 = empty slot */
};

struct vmem {
	struct vmi_mem	*mem;
	uint64_t	pgd;	/* physical address of the top-level table */
	int		levels;	/* 4 or 5 */
	uint64_t	walks;	/* statistics: page walks done */
	uint64_t	hits;	/* TLB hits */
	struct vmem_tlb_entry tlb[VMEM_TLB_SIZE];
};

/* pgd: physical address (CR3 & ~0xfff); levels 4 or 5. */
void vmem_init(struct vmem *v, struct vmi_mem *mem, uint64_t pgd, int levels);
void vmem_flush(struct vmem *v);

/*
 * Translate va; *pa gets the physical address, *page_size (may be NULL)
 * the size of the mapping that covers it.
 */
int vmem_v2p(struct vmem *v, uint64_t va, uint64_t *pa, uint64_t *page_size,
    struct vouch_err *e);

int vmem_read(struct vmem *v, uint64_t va, void *buf, size_t len,
    struct vouch_err *e);
int vmem_write(struct vmem *v, uint64_t va, const void *buf, size_t len,
    struct vouch_err *e);
int vmem_read_u64(struct vmem *v, uint64_t va, uint64_t *out,
    struct vouch_err *e);
int vmem_read_u32(struct vmem *v, uint64_t va, uint32_t *out,
    struct vouch_err *e);
/*
 * Read a NUL-terminated string of at most cap-1 bytes into out (always
 * NUL-terminated on success; a string without NUL within cap-1 bytes is
 * truncated, not an error).
 */
int vmem_read_str(struct vmem *v, uint64_t va, char *out, size_t cap,
    struct vouch_err *e);

/* 1 if va is canonical for the given paging depth. */
int vmem_canonical(uint64_t va, int levels);

#endif
