/*
 * mem.h - guest-physical memory behind one ops table.
 *
 * Everything above this layer (page-table walk, Linux profile, checks,
 * guards) reads guest memory only through struct vmi_mem and never knows
 * which backend it runs on.  Backends:
 *
 *	qemu-file:PATH[,machine=q35|pc][,lowmem=BYTES]
 *		QEMU's RAM file (-object memory-backend-file,share=on,
 *		mem-path=PATH).  mmap'd once (read-only unless VMI_MEM_WRITE):
 *		reads are memcpy from the mapping, map() is zero-copy.  The
 *		file is laid out as QEMU lays out RAM: bytes [0, lowmem) are
 *		gpa [0, lowmem), the rest starts at gpa 4 GiB.  lowmem defaults
 *		to QEMU's rule for the machine type (q35: all RAM below 4 GiB
 *		up to 2 GiB if the RAM is >= 2.75 GiB, else all of it up to
 *		2.75 GiB; pc: 3 GiB if RAM >= 3.5 GiB else all of it).
 *	dump:PATH
 *		A QMP dump-guest-memory file: ELF core (PT_LOAD p_paddr gives
 *		the gpa of each segment) or a raw image (gpa == file offset),
 *		detected by the ELF magic.  mmap'd read-only; never writable.
 *	xen:DOMID
 *		A Xen domain through libxenforeignmemory: pages mapped in
 *		batches (xenforeignmemory_map with a vector of gfns), kept in
 *		a small cache of batches, unmapped on close.  A gfn Xen refuses
 *		(err[i] != 0) is "not present".  The libxenforeignmemory calls
 *		go through struct vmi_xen_api so unit tests substitute a fake
 *		foreign-memory layer; nothing else differs.
 *
 * Reads never return wrong bytes: a range that is not backed, not mapped
 * or beyond RAM fails with VOUCH_E_NOTPRESENT (and the buffer must then
 * be treated as garbage).  A later remote backend (pages fetched from
 * another host) plugs in through the same table.
 *
 * Not thread-safe per handle; open one handle per thread.
 */
#ifndef VOUCH_IDS_MEM_H
#define VOUCH_IDS_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VMI_PAGE_SIZE	4096u
#define VMI_MEM_WRITE	0x1u	/* open for writing (repairs, tests) */

struct vmi_mem;

struct vmi_mem_ops {
	const char *name;	/* "qemu-file", "dump", "xen" */
	/* Copy len bytes at gpa into buf; 0 or VOUCH_E_NOTPRESENT/IO. */
	int (*read)(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
	    struct vouch_err *e);
	/* Write len bytes at gpa; NULL op or read-only handle: E_STATE. */
	int (*write)(struct vmi_mem *m, uint64_t gpa, const void *buf,
	    size_t len, struct vouch_err *e);
	/*
	 * Zero-copy pointer to len bytes at gpa when the backend holds them
	 * contiguously (qemu-file, dump); NULL otherwise (caller falls back
	 * to read).  Valid until close.  May be NULL.
	 */
	const void *(*map)(struct vmi_mem *m, uint64_t gpa, size_t len);
	void (*close)(struct vmi_mem *m);
};

struct vmi_mem {
	const struct vmi_mem_ops *ops;
	void		*priv;
	uint64_t	ram_size;	/* bytes of RAM (sum of ranges) */
	uint64_t	gpa_end;	/* highest backed gpa + 1 */
	unsigned	flags;		/* VMI_MEM_* given at open */
	char		desc[160];	/* the spec, for messages */
};

/* Open a backend from a spec string (see above).  *out freed by close. */
int vmi_mem_open(const char *spec, unsigned flags, struct vmi_mem **out,
    struct vouch_err *e);
void vmi_mem_close(struct vmi_mem *m);		/* NULL ok */

/* Convenience wrappers over the ops (bounds and NULL ops checked). */
int vmi_mem_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e);
int vmi_mem_write(struct vmi_mem *m, uint64_t gpa, const void *buf,
    size_t len, struct vouch_err *e);
const void *vmi_mem_map(struct vmi_mem *m, uint64_t gpa, size_t len);

/*
 * Guest data is little endian (x86_64): decode/encode it explicitly, the
 * same on any host.  One set for every ids/ parser.
 */
static inline uint16_t
vmi_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
vmi_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
vmi_le64(const uint8_t *p)
{
	return (uint64_t)vmi_le32(p) | (uint64_t)vmi_le32(p + 4) << 32;
}

static inline void
vmi_put_le64(uint64_t v, uint8_t out[8])
{
	int i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

/* Little-endian scalar reads (guest is x86_64). */
int vmi_mem_read_u64(struct vmi_mem *m, uint64_t gpa, uint64_t *v,
    struct vouch_err *e);

/* Backend constructors (vmi_mem_open dispatches to these). */
int vmi_mem_open_qemu_file(const char *path, const char *opts, unsigned flags,
    struct vmi_mem **out, struct vouch_err *e);
int vmi_mem_open_dump(const char *path, struct vmi_mem **out,
    struct vouch_err *e);

/*
 * The slice of libxenforeignmemory the Xen backend uses.  The default
 * (vmi_xen_api_default) calls the real library; tests pass a fake.
 */
struct vmi_xen_api {
	void *(*open)(void);	/* xenforeignmemory_open(NULL, 0) */
	int (*close)(void *h);
	/* xenforeignmemory_map(h, dom, prot, n, gfns, errs) */
	void *(*map)(void *h, uint32_t dom, int prot, size_t n,
	    const uint64_t *gfns, int *errs);
	int (*unmap)(void *h, void *addr, size_t pages);
};
extern const struct vmi_xen_api vmi_xen_api_default;

/* A xentoollog logger that drops everything (Xen's libraries must not
 * print from library code); shared with migrate/drv_xen.c's libxl ctx. */
struct xentoollog_logger;
struct xentoollog_logger *vmi_xen_null_logger(void);

/*
 * Open domain domid with max_gfn (highest guest frame + 1; 0 = ask the
 * caller's spec "xen:DOMID,pages=N").  api NULL = the real library.
 */
int vmi_mem_open_xen(uint32_t domid, uint64_t max_gfn, unsigned flags,
    const struct vmi_xen_api *api, struct vmi_mem **out, struct vouch_err *e);

#endif
