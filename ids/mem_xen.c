/*
 * mem_xen.c - the Xen backend: a domain's memory through
 * libxenforeignmemory.
 *
 * Guest frames are mapped in aligned batches of XEN_BATCH gfns (one
 * xenforeignmemory_map call with a vector of gfns) and kept in a cache of
 * XEN_CACHE batches, least recently used evicted.  Xen reports each frame
 * it refuses (ballooned out, MMIO, beyond the p2m) in err[i]; such a
 * frame reads as VOUCH_E_NOTPRESENT, never as the zero or garbage page
 * the mapping may hold in its place.  If a whole batch fails to map, the
 * single frame asked for is tried alone before giving up, so one bad
 * region does not hide its neighbours.
 *
 *	cache[16]:  { base gfn (multiple of 64), n <= 64, addr, err[64] }
 *	gpa -> gfn = gpa >> 12 -> batch (gfn & ~63) -> addr + (gfn - base)*4K
 *
 * The cache is the only state: nothing is held between calls but
 * mappings, and all of them are unmapped on close.  map() is not offered
 * (a pointer would die when its batch is evicted).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xentoollog.h>
#include <xenforeignmemory.h>

#include "ids/mem.h"

#define XEN_BATCH	64		/* gfns per xenforeignmemory_map */
#define XEN_CACHE	16		/* batches kept mapped */
#define XEN_MAX_GFN	(1ull << 40)	/* 52-bit physical addresses */
#define PAGE_SHIFT_	12

_Static_assert(sizeof(xen_pfn_t) == sizeof(uint64_t),
    "xen_pfn_t must be 64 bits for the gfn vector");

struct xbatch {
	uint64_t	 base;		/* first gfn */
	size_t		 n;		/* frames mapped; 0 = empty slot */
	uint8_t		*addr;
	uint64_t	 used;		/* LRU clock at last use */
	int		 err[XEN_BATCH];
};

struct xen {
	const struct vmi_xen_api *api;
	void		*h;
	uint32_t	 dom;
	int		 prot;
	uint64_t	 max_gfn;
	uint64_t	 clock;
	struct xbatch	 cache[XEN_CACHE];
};

/* --- the real library ----------------------------------------------------- */

/*
 * Xen's libraries log to stderr unless given a logger; library code never
 * prints, so they get one that drops everything (also migrate/drv_xen.c's
 * libxl context).
 */
static void
null_vmessage(struct xentoollog_logger *l, xentoollog_level level,
    int errnoval, const char *context, const char *format, va_list al)
{
	(void)l;
	(void)level;
	(void)errnoval;
	(void)context;
	(void)format;
	(void)al;
}

static void
null_progress(struct xentoollog_logger *l, const char *context,
    const char *doing_what, int percent, unsigned long done,
    unsigned long total)
{
	(void)l;
	(void)context;
	(void)doing_what;
	(void)percent;
	(void)done;
	(void)total;
}

static void
null_destroy(struct xentoollog_logger *l)
{
	(void)l;
}

static struct xentoollog_logger null_logger = {
	.vmessage = null_vmessage,
	.progress = null_progress,
	.destroy = null_destroy,
};

struct xentoollog_logger *
vmi_xen_null_logger(void)
{
	return &null_logger;
}

static void *
xa_open(void)
{
	return xenforeignmemory_open(&null_logger, 0);
}

static int
xa_close(void *h)
{
	return xenforeignmemory_close(h);
}

static void *
xa_map(void *h, uint32_t dom, int prot, size_t n, const uint64_t *gfns,
    int *errs)
{
	return xenforeignmemory_map(h, dom, prot, n,
	    (const xen_pfn_t *)gfns, errs);
}

static int
xa_unmap(void *h, void *addr, size_t pages)
{
	return xenforeignmemory_unmap(h, addr, pages);
}

const struct vmi_xen_api vmi_xen_api_default = {
	.open = xa_open,
	.close = xa_close,
	.map = xa_map,
	.unmap = xa_unmap,
};

/* --- the cache ------------------------------------------------------------ */

static void
batch_drop(struct xen *x, struct xbatch *b)
{
	if (b->n > 0)
		(void)x->api->unmap(x->h, b->addr, b->n);
	memset(b, 0, sizeof(*b));
}

/* Map n frames from base into slot b; 0 or -1 (errno from the api). */
static int
batch_map(struct xen *x, struct xbatch *b, uint64_t base, size_t n)
{
	uint64_t gfns[XEN_BATCH];
	size_t i;

	for (i = 0; i < n; i++) {
		gfns[i] = base + i;
		b->err[i] = 0;
	}
	b->addr = x->api->map(x->h, x->dom, x->prot, n, gfns, b->err);
	if (b->addr == NULL)
		return -1;
	b->base = base;
	b->n = n;
	return 0;
}

/*
 * Pointer to the 4 KiB of frame gfn (< max_gfn), mapping its batch if
 * needed.  VOUCH_E_NOTPRESENT if Xen refused the frame.
 */
static int
xen_page(struct vmi_mem *m, uint64_t gfn, uint8_t **page,
    struct vouch_err *e)
{
	struct xen *x = m->priv;
	struct xbatch *b = NULL, *victim = &x->cache[0];
	uint64_t base;
	size_t i, n;
	int saved;

	for (i = 0; i < XEN_CACHE; i++) {
		struct xbatch *c = &x->cache[i];

		if (c->n > 0 && gfn >= c->base && gfn - c->base < c->n) {
			b = c;
			break;
		}
		if (victim->n > 0 && (c->n == 0 || c->used < victim->used))
			victim = c;
	}
	if (b == NULL) {
		b = victim;
		batch_drop(x, b);
		base = gfn - gfn % XEN_BATCH;
		n = x->max_gfn - base < XEN_BATCH ?
		    (size_t)(x->max_gfn - base) : XEN_BATCH;
		if (batch_map(x, b, base, n) < 0 &&
		    batch_map(x, b, gfn, 1) < 0) {
			saved = errno;
			memset(b, 0, sizeof(*b));
			return vouch_err_set(e, VOUCH_E_IO,
			    "%s: mapping gfn 0x%llx: %s", m->desc,
			    (unsigned long long)gfn, strerror(saved));
		}
	}
	b->used = ++x->clock;
	if (b->err[gfn - b->base] != 0)
		return vouch_err_set(e, VOUCH_E_NOTPRESENT,
		    "%s: gfn 0x%llx refused by Xen (error %d)", m->desc,
		    (unsigned long long)gfn, b->err[gfn - b->base]);
	*page = b->addr + (size_t)(gfn - b->base) * VMI_PAGE_SIZE;
	return 0;
}

/* Copy between buf and guest memory, page by page. */
static int
xen_copy(struct vmi_mem *m, uint64_t gpa, uint8_t *buf, size_t len,
    int to_guest, struct vouch_err *e)
{
	uint8_t *page;
	size_t off, n;
	int r;

	while (len > 0) {
		if ((r = xen_page(m, gpa >> PAGE_SHIFT_, &page, e)) < 0)
			return r;
		off = (size_t)(gpa & (VMI_PAGE_SIZE - 1));
		n = VMI_PAGE_SIZE - off;
		if (n > len)
			n = len;
		if (to_guest)
			memcpy(page + off, buf, n);
		else
			memcpy(buf, page + off, n);
		buf += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

static int
xen_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e)
{
	return xen_copy(m, gpa, buf, len, 0, e);
}

static int
xen_write(struct vmi_mem *m, uint64_t gpa, const void *buf, size_t len,
    struct vouch_err *e)
{
	if (!(m->flags & VMI_MEM_WRITE))
		return vouch_err_set(e, VOUCH_E_STATE,
		    "%s: not opened for writing", m->desc);
	/* xen_copy only reads buf when to_guest is set. */
	return xen_copy(m, gpa, (uint8_t *)(uintptr_t)buf, len, 1, e);
}

static void
xen_close(struct vmi_mem *m)
{
	struct xen *x = m->priv;
	size_t i;

	if (x != NULL) {
		for (i = 0; i < XEN_CACHE; i++)
			batch_drop(x, &x->cache[i]);
		(void)x->api->close(x->h);
		free(x);
	}
	free(m);
}

static const struct vmi_mem_ops xen_ops = {
	.name = "xen",
	.read = xen_read,
	.write = xen_write,
	.map = NULL,
	.close = xen_close,
};

int
vmi_mem_open_xen(uint32_t domid, uint64_t max_gfn, unsigned flags,
    const struct vmi_xen_api *api, struct vmi_mem **out, struct vouch_err *e)
{
	struct vmi_mem *m;
	struct xen *x;

	if (out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmi_mem_open_xen: NULL");
	if (flags & ~VMI_MEM_WRITE)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "xen:%u: unknown flags 0x%x", domid, flags);
	if (api == NULL)
		api = &vmi_xen_api_default;
	if (api->open == NULL || api->close == NULL || api->map == NULL ||
	    api->unmap == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "xen:%u: incomplete foreign-memory api", domid);
	/*
	 * Without a frame count the whole physical address space is
	 * addressable and Xen decides, frame by frame, what exists.
	 */
	if (max_gfn == 0)
		max_gfn = XEN_MAX_GFN;
	if (max_gfn > XEN_MAX_GFN)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "xen:%u: %llu frames exceed 2^40", domid,
		    (unsigned long long)max_gfn);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		free(m);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	x->api = api;
	x->dom = domid;
	x->max_gfn = max_gfn;
	x->prot = PROT_READ | ((flags & VMI_MEM_WRITE) ? PROT_WRITE : 0);
	if ((x->h = api->open()) == NULL) {
		int saved = errno;

		free(x);
		free(m);
		return vouch_err_set(e, VOUCH_E_IO,
		    "xen:%u: xenforeignmemory_open: %s", domid,
		    strerror(saved));
	}
	m->ops = &xen_ops;
	m->priv = x;
	m->gpa_end = max_gfn << PAGE_SHIFT_;
	m->ram_size = m->gpa_end;
	m->flags = flags;
	snprintf(m->desc, sizeof(m->desc), "xen:%u", domid);
	*out = m;
	return 0;
}
