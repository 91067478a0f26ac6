/*
 * mem_dump.c - the dump backend: QMP dump-guest-memory ELF cores and raw
 * memory images, mapped read-only.
 *
 * An ELF core (x86_64 guests are always dumped as ELF64, little endian):
 *
 *	Elf64_Ehdr (64 bytes)
 *	    e_ident "\x7fELF" class=2 data=1 | e_type=ET_CORE (u16 @16) |
 *	    e_machine=EM_X86_64 (u16 @18) | e_phoff (u64 @32) |
 *	    e_shoff (u64 @40) | e_phentsize=56 (u16 @54) | e_phnum (u16 @56) |
 *	    e_shentsize (u16 @58) | e_shnum (u16 @60)
 *	Elf64_Phdr[e_phnum] (56 bytes each) at e_phoff
 *	    p_type (u32 @0) | p_offset (u64 @8) | p_paddr (u64 @24) |
 *	    p_filesz (u64 @32) | p_memsz (u64 @40)
 *	e_phnum == PN_XNUM (0xffff): the real count is sh_info (u32 @44) of
 *	section header 0 at e_shoff (QEMU does this for > 65534 segments).
 *
 * One PT_LOAD per guest RAM block (or per run of pages when QEMU filters):
 * bytes [p_offset, p_offset + p_filesz) of the file are gpa [p_paddr,
 * p_paddr + p_filesz).  p_memsz beyond p_filesz is not in the file and
 * reads as not present.  The file is hostile input: every header field is
 * checked against the file size before use; overlapping segments or
 * segments beyond the 52-bit physical address space are rejected.
 *
 * Without the ELF magic the file is a raw image: gpa == file offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ids/mem.h"

#define EHDR_SIZE	64
#define PHDR_SIZE	56
#define SHDR_SIZE	64
#define ET_CORE_	4
#define EM_X86_64_	62
#define PT_LOAD_	1
#define PN_XNUM_	0xffffu
#define MAX_PA		(1ull << 52)	/* x86_64 MAXPHYADDR limit */
#define DUMP_MAX_SEGS	(1u << 20)	/* far above any real dump */

struct seg {
	uint64_t	gpa;
	uint64_t	len;
	uint64_t	off;
};

struct dump {
	const uint8_t	*base;
	size_t		 size;
	struct seg	*seg;		/* sorted by gpa, disjoint */
	size_t		 nseg;
};

/* Index of the segment holding gpa, or nseg. */
static size_t
seg_find(const struct dump *d, uint64_t gpa)
{
	size_t lo = 0, hi = d->nseg, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (gpa < d->seg[mid].gpa)
			hi = mid;
		else if (gpa - d->seg[mid].gpa >= d->seg[mid].len)
			lo = mid + 1;
		else
			return mid;
	}
	return d->nseg;
}

/* Reads may span segments that are adjacent in gpa space. */
static int
dump_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e)
{
	const struct dump *d = m->priv;
	uint8_t *out = buf;
	uint64_t at = gpa, skip, n;
	size_t left = len, i;

	i = seg_find(d, at);
	while (left > 0) {
		if (i >= d->nseg || at < d->seg[i].gpa ||
		    at - d->seg[i].gpa >= d->seg[i].len)
			return vouch_err_set(e, VOUCH_E_NOTPRESENT,
			    "%s: gpa 0x%llx not in the dump (reading "
			    "0x%llx+%zu)", m->desc, (unsigned long long)at,
			    (unsigned long long)gpa, len);
		skip = at - d->seg[i].gpa;
		n = d->seg[i].len - skip;
		if (n > left)
			n = left;
		memcpy(out, d->base + d->seg[i].off + skip, (size_t)n);
		out += n;
		at += n;
		left -= (size_t)n;
		i++;
	}
	return 0;
}

static const void *
dump_map(struct vmi_mem *m, uint64_t gpa, size_t len)
{
	const struct dump *d = m->priv;
	size_t i = seg_find(d, gpa);
	uint64_t skip;

	if (i >= d->nseg)
		return NULL;
	skip = gpa - d->seg[i].gpa;
	if (len > d->seg[i].len - skip)
		return NULL;
	return d->base + d->seg[i].off + skip;
}

static void
dump_free(struct dump *d)
{
	if (d == NULL)
		return;
	if (d->base != NULL)
		munmap((void *)(uintptr_t)d->base, d->size);
	free(d->seg);
	free(d);
}

static void
dump_close(struct vmi_mem *m)
{
	dump_free(m->priv);
	free(m);
}

static const struct vmi_mem_ops dump_ops = {
	.name = "dump",
	.read = dump_read,
	.write = NULL,
	.map = dump_map,
	.close = dump_close,
};

static int
seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Parse the ELF core in d->base into d->seg.  Errors name the field. */
static int
parse_elf(const char *path, struct dump *d, struct vouch_err *e)
{
	const uint8_t *h = d->base, *ph;
	uint64_t phoff, shoff, off, gpa, filesz, memsz;
	uint32_t phnum;
	size_t i, n;

	if (d->size < EHDR_SIZE)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "dump:%s: ELF header truncated (%zu bytes)", path, d->size);
	if (h[4] == 1 || h[5] == 2)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "dump:%s: ELF32 or big-endian dump (x86_64 guests are "
		    "dumped as ELF64 little endian)", path);
	if (h[4] != 2 || h[5] != 1 || h[6] != 1)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "dump:%s: bad ELF ident (class %u, data %u, version %u)",
		    path, h[4], h[5], h[6]);
	if (vmi_le16(h + 16) != ET_CORE_)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "dump:%s: e_type %u is not ET_CORE", path, vmi_le16(h + 16));
	if (vmi_le16(h + 18) != EM_X86_64_)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "dump:%s: e_machine %u is not EM_X86_64", path,
		    vmi_le16(h + 18));
	if (vmi_le16(h + 54) != PHDR_SIZE)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "dump:%s: e_phentsize %u, want %u", path, vmi_le16(h + 54),
		    PHDR_SIZE);
	phoff = vmi_le64(h + 32);
	phnum = vmi_le16(h + 56);
	if (phnum == PN_XNUM_) {
		/* Extended numbering: the count lives in section header 0. */
		shoff = vmi_le64(h + 40);
		if (vmi_le16(h + 58) != SHDR_SIZE)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "dump:%s: PN_XNUM with e_shentsize %u", path,
			    vmi_le16(h + 58));
		if (shoff > d->size || d->size - shoff < SHDR_SIZE)
			return vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "dump:%s: section header 0 at 0x%llx beyond the "
			    "file", path, (unsigned long long)shoff);
		phnum = vmi_le32(h + shoff + 44);
	}
	if (phnum == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "dump:%s: no program headers", path);
	if (phnum > DUMP_MAX_SEGS)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "dump:%s: %u program headers (at most %u)", path, phnum,
		    DUMP_MAX_SEGS);
	if (phoff > d->size ||
	    (d->size - phoff) / PHDR_SIZE < (uint64_t)phnum)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "dump:%s: %u program headers at 0x%llx beyond the file",
		    path, phnum, (unsigned long long)phoff);
	if ((d->seg = calloc(phnum, sizeof(*d->seg))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0, n = 0; i < phnum; i++) {
		ph = h + phoff + i * PHDR_SIZE;
		if (vmi_le32(ph) != PT_LOAD_)
			continue;
		off = vmi_le64(ph + 8);
		gpa = vmi_le64(ph + 24);
		filesz = vmi_le64(ph + 32);
		memsz = vmi_le64(ph + 40);
		if (filesz > memsz)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "dump:%s: segment %zu: p_filesz 0x%llx > p_memsz "
			    "0x%llx", path, i, (unsigned long long)filesz,
			    (unsigned long long)memsz);
		if (gpa >= MAX_PA || filesz > MAX_PA - gpa)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "dump:%s: segment %zu: gpa 0x%llx+0x%llx beyond "
			    "2^52", path, i, (unsigned long long)gpa,
			    (unsigned long long)filesz);
		if (filesz == 0)
			continue;	/* all of it filtered out: no bytes */
		if (off > d->size || filesz > d->size - off)
			return vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "dump:%s: segment %zu: file bytes 0x%llx+0x%llx "
			    "beyond the end (0x%zx)", path, i,
			    (unsigned long long)off,
			    (unsigned long long)filesz, d->size);
		d->seg[n].gpa = gpa;
		d->seg[n].len = filesz;
		d->seg[n].off = off;
		n++;
	}
	if (n == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "dump:%s: no PT_LOAD segment with data", path);
	qsort(d->seg, n, sizeof(*d->seg), seg_cmp);
	for (i = 1; i < n; i++)
		if (d->seg[i].gpa - d->seg[i - 1].gpa < d->seg[i - 1].len)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "dump:%s: segments at gpa 0x%llx and 0x%llx "
			    "overlap", path,
			    (unsigned long long)d->seg[i - 1].gpa,
			    (unsigned long long)d->seg[i].gpa);
	d->nseg = n;
	return 0;
}

int
vmi_mem_open_dump(const char *path, struct vmi_mem **out,
    struct vouch_err *e)
{
	struct vmi_mem *m = NULL;
	struct dump *d = NULL;
	struct stat st;
	size_t i;
	void *p;
	int fd, r;

	if (path == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmi_mem_open_dump: NULL");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "dump:%s: open: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = vouch_err_set(e, VOUCH_E_IO, "dump:%s: fstat: %s", path,
		    strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "dump:%s: not a regular file", path);
	}
	if (st.st_size <= 0) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_FORMAT, "dump:%s: empty file",
		    path);
	}
	if ((uint64_t)st.st_size > MAX_PA) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "dump:%s: %lld bytes is too large", path,
		    (long long)st.st_size);
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	d->size = (size_t)st.st_size;
	p = mmap(NULL, d->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		free(d);
		return vouch_err_set(e, VOUCH_E_IO, "dump:%s: mmap: %s", path,
		    strerror(errno));
	}
	d->base = p;

	if (d->size >= 4 && memcmp(d->base, "\177ELF", 4) == 0) {
		if ((r = parse_elf(path, d, e)) < 0)
			goto fail;
	} else {
		if ((d->seg = calloc(1, sizeof(*d->seg))) == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
			goto fail;
		}
		d->seg[0].len = d->size;
		d->nseg = 1;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	m->ops = &dump_ops;
	m->priv = d;
	for (i = 0; i < d->nseg; i++)
		m->ram_size += d->seg[i].len;
	m->gpa_end = d->seg[d->nseg - 1].gpa + d->seg[d->nseg - 1].len;
	m->flags = 0;
	snprintf(m->desc, sizeof(m->desc), "dump:%s", path);
	*out = m;
	return 0;
fail:
	dump_free(d);
	return r;
}
