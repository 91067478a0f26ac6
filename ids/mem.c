/*
 * mem.c - the vmi_mem front end (spec dispatch, checked wrappers) and the
 * qemu-file backend.
 *
 * The qemu-file backend maps QEMU's RAM file once, MAP_SHARED so that a
 * running guest's stores are seen, and translates a gpa to a file offset
 * with QEMU's two-block layout:
 *
 *	file  0 ........ lowmem ................ size
 *	      | below 4G |        above 4G       |
 *	gpa   0 ........ lowmem   4G ........... 4G + size - lowmem
 *	                 `-- hole: MMIO, PCI --'
 *
 * A read inside the hole, across its edges or beyond the last byte is
 * VOUCH_E_NOTPRESENT.  (The legacy VGA window 0xa0000-0xfffff is RAM in
 * the file even though the guest sees MMIO there; we return the file.)
 * If the file is truncated under us the mapping raises SIGBUS: QEMU never
 * shrinks it while the guest runs, and the caller owns that risk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ids/mem.h"

#define GIB		(1ull << 30)
#define MIB		(1ull << 20)
#define FOUR_GIB	(4 * GIB)

/* QEMU's below-4G split (hw/i386/pc_q35.c, pc_piix.c). */
#define Q35_THRESHOLD	0xb0000000ull	/* 2.75 GiB */
#define Q35_LOWMEM	0x80000000ull	/* 2 GiB */
#define PC_THRESHOLD	0xe0000000ull	/* 3.5 GiB */
#define PC_LOWMEM	0xc0000000ull	/* 3 GiB */

/* Longest path in a spec. */
#define SPEC_PATH_MAX	4096

/* --- ivshmem: a window onto another VM's RAM, seen from inside a VM ------ */

#define IVSHMEM_VENDOR	0x1af4u		/* Red Hat / virtio */
#define IVSHMEM_DEVICE	0x1110u		/* ivshmem (-device ivshmem-plain) */

/* "0x1af4\n" from a sysfs id file; -1 if unreadable or malformed. */
static long
sysfs_id(const char *path)
{
	char buf[16], *end;
	ssize_t n;
	long v;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 16);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    v < 0 || v > 0xffff)
		return -1;
	return v;
}

static int
is_hex4(const char *s)
{
	size_t i;

	for (i = 0; i < 4; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/*
 * The BAR 2 resource file of an ivshmem device: "" = the first (lowest
 * BDF) 1af4:1110 under $VOUCH_SYSFS_ROOT/bus/pci/devices (root "/sys"
 * by default; tests point it at a fake tree); "VVVV:DDDD" = the first
 * device with that id; otherwise arg is a BDF (0000:01:00.0).  The BAR's
 * sysfs file is a regular file of the BAR's size: mmap'd it is the
 * other VM's RAM file.
 */
static int
ivshmem_find(const char *spec, const char *arg, char *out, size_t cap,
    struct vouch_err *e)
{
	const char *root = getenv("VOUCH_SYSFS_ROOT");
	char dir[SPEC_PATH_MAX], p[SPEC_PATH_MAX], best[64] = "";
	long ven = IVSHMEM_VENDOR, dev = IVSHMEM_DEVICE;
	struct dirent *de;
	DIR *d;
	size_t i;
	int n;

	if (root == NULL || root[0] == '\0')
		root = "/sys";
	n = snprintf(dir, sizeof(dir), "%s/bus/pci/devices", root);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: sysfs root too "
		    "long", spec);
	if (strlen(arg) == 9 && arg[4] == ':' && is_hex4(arg) &&
	    is_hex4(arg + 5)) {
		ven = strtol(arg, NULL, 16);
		dev = strtol(arg + 5, NULL, 16);
	} else if (arg[0] != '\0') {
		/* a BDF: hex digits, ':' and '.', nothing that walks */
		for (i = 0; arg[i] != '\0'; i++)
			if (strchr("0123456789abcdefABCDEF:.", arg[i]) == NULL)
				return vouch_err_set(e, VOUCH_E_INVAL,
				    "%s: '%s' is neither VENDOR:DEVICE nor a "
				    "PCI address", spec, arg);
		snprintf(best, sizeof(best), "%s", arg);
	}
	if (best[0] == '\0') {
		if ((d = opendir(dir)) == NULL)
			return vouch_err_set(e, VOUCH_E_IO, "%s: %s: %s", spec,
			    dir, strerror(errno));
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' ||
			    strlen(de->d_name) >= sizeof(best))
				continue;
			if (best[0] != '\0' && strcmp(de->d_name, best) >= 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s/vendor", dir, de->d_name);
			if (sysfs_id(p) != ven)
				continue;
			snprintf(p, sizeof(p), "%s/%s/device", dir, de->d_name);
			if (sysfs_id(p) != dev)
				continue;
			snprintf(best, sizeof(best), "%s", de->d_name);
		}
		closedir(d);
		if (best[0] == '\0')
			return vouch_err_set(e, VOUCH_E_NOTPRESENT,
			    "%s: no PCI device %04lx:%04lx in %s (window not "
			    "attached?)", spec, ven, dev, dir);
	}
	n = snprintf(out, cap, "%s/%s/resource2", dir, best);
	if (n < 0 || (size_t)n >= cap)
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: path too long",
		    spec);
	return 0;
}

/* --- the front end -------------------------------------------------------- */

int
vmi_mem_open(const char *spec, unsigned flags, struct vmi_mem **out,
    struct vouch_err *e)
{
	struct vmi_mem *m = NULL;
	char path[SPEC_PATH_MAX], id[64];
	const char *rest, *comma;
	size_t plen;
	int r;

	if (spec == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmi_mem_open: NULL");
	if (flags & ~VMI_MEM_WRITE)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "%s: unknown flags 0x%x", spec, flags);
	if (strncmp(spec, "qemu-file:", 10) == 0) {
		/* The path ends at the first comma; options follow. */
		rest = spec + 10;
		comma = strchr(rest, ',');
		plen = comma ? (size_t)(comma - rest) : strlen(rest);
		if (plen == 0 || plen >= sizeof(path) ||
		    (comma != NULL && comma[1] == '\0'))
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "%s: bad path", spec);
		memcpy(path, rest, plen);
		path[plen] = '\0';
		r = vmi_mem_open_qemu_file(path, comma ? comma + 1 : NULL,
		    flags, &m, e);
	} else if (strncmp(spec, "dump:", 5) == 0) {
		if (flags & VMI_MEM_WRITE)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
			    "%s: dump files are never writable", spec);
		if (spec[5] == '\0')
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "%s: bad path", spec);
		r = vmi_mem_open_dump(spec + 5, &m, e);
	} else if (strncmp(spec, "xen:", 4) == 0) {
		unsigned long long dom, pages = 0;
		char *end;

		rest = spec + 4;
		if (*rest < '0' || *rest > '9')
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "%s: want xen:DOMID[,pages=N]", spec);
		errno = 0;
		dom = strtoull(rest, &end, 10);
		if (errno != 0 || dom > 0x7fefu)	/* DOMID_FIRST_RESERVED */
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "%s: bad domain id", spec);
		if (strncmp(end, ",pages=", 7) == 0) {
			rest = end + 7;
			if (*rest < '0' || *rest > '9')
				return vouch_err_set(e, VOUCH_E_INVAL,
				    "%s: bad pages=", spec);
			errno = 0;
			pages = strtoull(rest, &end, 0);
			if (errno != 0 || pages == 0)
				return vouch_err_set(e, VOUCH_E_INVAL,
				    "%s: bad pages=", spec);
		}
		if (*end != '\0')
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "%s: trailing \"%s\"; want xen:DOMID[,pages=N]",
			    spec, end);
		r = vmi_mem_open_xen((uint32_t)dom, pages, flags, NULL, &m, e);
	} else if (strncmp(spec, "ivshmem:", 8) == 0) {
		comma = strchr(spec + 8, ',');
		plen = comma ? (size_t)(comma - (spec + 8)) : strlen(spec + 8);
		if (plen >= 64 || (comma != NULL && comma[1] == '\0'))
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "%s: want ivshmem:[VENDOR:DEVICE|BDF][,opts]", spec);
		memcpy(id, spec + 8, plen);
		id[plen] = '\0';
		if ((r = ivshmem_find(spec, id, path, sizeof(path), e)) < 0)
			return r;
		r = vmi_mem_open_qemu_file(path, comma ? comma + 1 : NULL,
		    flags, &m, e);
	} else
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "%s: unknown memory backend (want qemu-file:, dump:, "
		    "xen: or ivshmem:)", spec);
	if (r < 0)
		return r;
	snprintf(m->desc, sizeof(m->desc), "%s", spec);
	*out = m;
	return 0;
}

void
vmi_mem_close(struct vmi_mem *m)
{
	if (m == NULL)
		return;
	/* A backend without close owns its handle's memory itself. */
	if (m->ops != NULL && m->ops->close != NULL)
		m->ops->close(m);
}

/* 1 if [gpa, gpa+len) lies below gpa_end (no overflow possible). */
static int
in_bounds(const struct vmi_mem *m, uint64_t gpa, size_t len)
{
	return gpa <= m->gpa_end && len <= m->gpa_end - gpa;
}

int
vmi_mem_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e)
{
	if (m == NULL || m->ops == NULL || m->ops->read == NULL ||
	    (buf == NULL && len > 0))
		return vouch_err_set(e, VOUCH_E_INVAL, "vmi_mem_read: NULL");
	if (len == 0)
		return 0;
	if (!in_bounds(m, gpa, len))
		return vouch_err_set(e, VOUCH_E_NOTPRESENT,
		    "%s: gpa 0x%llx+%zu beyond RAM (end 0x%llx)", m->desc,
		    (unsigned long long)gpa, len,
		    (unsigned long long)m->gpa_end);
	return m->ops->read(m, gpa, buf, len, e);
}

int
vmi_mem_write(struct vmi_mem *m, uint64_t gpa, const void *buf, size_t len,
    struct vouch_err *e)
{
	if (m == NULL || m->ops == NULL || (buf == NULL && len > 0))
		return vouch_err_set(e, VOUCH_E_INVAL, "vmi_mem_write: NULL");
	if (m->ops->write == NULL || !(m->flags & VMI_MEM_WRITE))
		return vouch_err_set(e, VOUCH_E_STATE,
		    "%s: not opened for writing", m->desc);
	if (len == 0)
		return 0;
	if (!in_bounds(m, gpa, len))
		return vouch_err_set(e, VOUCH_E_NOTPRESENT,
		    "%s: gpa 0x%llx+%zu beyond RAM (end 0x%llx)", m->desc,
		    (unsigned long long)gpa, len,
		    (unsigned long long)m->gpa_end);
	return m->ops->write(m, gpa, buf, len, e);
}

const void *
vmi_mem_map(struct vmi_mem *m, uint64_t gpa, size_t len)
{
	if (m == NULL || m->ops == NULL || m->ops->map == NULL || len == 0 ||
	    !in_bounds(m, gpa, len))
		return NULL;
	return m->ops->map(m, gpa, len);
}

int
vmi_mem_read_u64(struct vmi_mem *m, uint64_t gpa, uint64_t *v,
    struct vouch_err *e)
{
	uint8_t b[8];
	int r;

	if (v == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vmi_mem_read_u64: NULL");
	if ((r = vmi_mem_read(m, gpa, b, sizeof(b), e)) < 0)
		return r;
	*v = vmi_le64(b);
	return 0;
}

/* --- qemu-file ------------------------------------------------------------ */

struct qf {
	uint8_t		*base;
	size_t		 size;		/* file size = RAM size */
	uint64_t	 lowmem;	/* file bytes mapped below 4 GiB */
};

/*
 * File offset of [gpa, gpa+len), or -1 if the range is not inside one of
 * the two RAM blocks.
 */
static int
qf_offset(const struct qf *q, uint64_t gpa, size_t len, size_t *off)
{
	uint64_t high = q->size - q->lowmem;

	if (gpa < q->lowmem) {
		if (len > q->lowmem - gpa)
			return -1;
		*off = (size_t)gpa;
		return 0;
	}
	if (gpa >= FOUR_GIB && gpa - FOUR_GIB <= high &&
	    len <= high - (gpa - FOUR_GIB)) {
		*off = (size_t)(q->lowmem + (gpa - FOUR_GIB));
		return 0;
	}
	return -1;
}

static int
qf_notpresent(struct vmi_mem *m, uint64_t gpa, size_t len,
    struct vouch_err *e)
{
	return vouch_err_set(e, VOUCH_E_NOTPRESENT,
	    "%s: gpa 0x%llx+%zu not in RAM (hole or beyond the end)",
	    m->desc, (unsigned long long)gpa, len);
}

static int
qf_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e)
{
	const struct qf *q = m->priv;
	size_t off;

	if (qf_offset(q, gpa, len, &off) < 0)
		return qf_notpresent(m, gpa, len, e);
	memcpy(buf, q->base + off, len);
	return 0;
}

static int
qf_write(struct vmi_mem *m, uint64_t gpa, const void *buf, size_t len,
    struct vouch_err *e)
{
	const struct qf *q = m->priv;
	size_t off;

	if (!(m->flags & VMI_MEM_WRITE))
		return vouch_err_set(e, VOUCH_E_STATE,
		    "%s: not opened for writing", m->desc);
	if (qf_offset(q, gpa, len, &off) < 0)
		return qf_notpresent(m, gpa, len, e);
	memcpy(q->base + off, buf, len);
	return 0;
}

static const void *
qf_map(struct vmi_mem *m, uint64_t gpa, size_t len)
{
	const struct qf *q = m->priv;
	size_t off;

	if (qf_offset(q, gpa, len, &off) < 0)
		return NULL;
	return q->base + off;
}

static void
qf_close(struct vmi_mem *m)
{
	struct qf *q = m->priv;

	if (q != NULL) {
		if (q->base != NULL)
			munmap(q->base, q->size);
		free(q);
	}
	free(m);
}

static const struct vmi_mem_ops qf_ops = {
	.name = "qemu-file",
	.read = qf_read,
	.write = qf_write,
	.map = qf_map,
	.close = qf_close,
};

/* "1073741824", "0x40000000", "1G", "1024M", "1048576K". */
static int
parse_size(const char *s, size_t n, uint64_t *out)
{
	char buf[32], *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (n == 0 || n >= sizeof(buf) || s[0] < '0' || s[0] > '9')
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 0);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm': case 'M':
		mul = MIB;
		end++;
		break;
	case 'g': case 'G':
		mul = GIB;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/*
 * Options "machine=q35|pc" and "lowmem=BYTES", comma-separated.  An
 * explicit lowmem (QEMU's max-ram-below-4g, or anything the machine type
 * rule gets wrong) wins over the machine rule.
 */
static int
qf_parse_opts(const char *path, const char *opts, uint64_t size,
    uint64_t *lowmem, struct vouch_err *e)
{
	const char *p = opts, *end;
	size_t n;
	int q35 = 1, have_low = 0;
	uint64_t low = 0;

	if (p != NULL && *p == '\0')
		p = NULL;
	while (p != NULL) {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n == 11 && strncmp(p, "machine=q35", 11) == 0)
			q35 = 1;
		else if (n == 10 && strncmp(p, "machine=pc", 10) == 0)
			q35 = 0;
		else if (n > 7 && strncmp(p, "lowmem=", 7) == 0) {
			if (parse_size(p + 7, n - 7, &low) < 0)
				return vouch_err_set(e, VOUCH_E_INVAL,
				    "qemu-file:%s: bad lowmem= \"%.*s\"",
				    path, (int)(n - 7), p + 7);
			if (low > FOUR_GIB || low % VMI_PAGE_SIZE != 0)
				return vouch_err_set(e, VOUCH_E_INVAL,
				    "qemu-file:%s: lowmem=0x%llx must be a "
				    "page multiple <= 4 GiB", path,
				    (unsigned long long)low);
			have_low = 1;
		} else
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "qemu-file:%s: unknown option \"%.*s\" (want "
			    "machine=q35|pc, lowmem=BYTES)", path, (int)n, p);
		p = end ? end + 1 : NULL;
	}
	if (!have_low) {
		if (q35)
			low = size >= Q35_THRESHOLD ? Q35_LOWMEM : size;
		else
			low = size >= PC_THRESHOLD ? PC_LOWMEM : size;
	}
	*lowmem = low < size ? low : size;
	return 0;
}

int
vmi_mem_open_qemu_file(const char *path, const char *opts, unsigned flags,
    struct vmi_mem **out, struct vouch_err *e)
{
	struct vmi_mem *m = NULL;
	struct qf *q = NULL;
	struct stat st;
	uint64_t lowmem = 0;
	void *p;
	int fd = -1, r, prot;

	if (path == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "vmi_mem_open_qemu_file: NULL");
	if (flags & ~VMI_MEM_WRITE)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "qemu-file:%s: unknown flags 0x%x", path, flags);
	fd = open(path, ((flags & VMI_MEM_WRITE) ? O_RDWR : O_RDONLY) |
	    O_CLOEXEC);
	if (fd < 0)
		return vouch_err_set(e, VOUCH_E_IO, "qemu-file:%s: open: %s",
		    path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = vouch_err_set(e, VOUCH_E_IO, "qemu-file:%s: fstat: %s",
		    path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = vouch_err_set(e, VOUCH_E_INVAL,
		    "qemu-file:%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size <= 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "qemu-file:%s: empty file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > (1ull << 52)) {	/* MAXPHYADDR */
		r = vouch_err_set(e, VOUCH_E_LIMIT,
		    "qemu-file:%s: %lld bytes is too large", path,
		    (long long)st.st_size);
		goto fail;
	}
	if ((r = qf_parse_opts(path, opts, (uint64_t)st.st_size, &lowmem,
	    e)) < 0)
		goto fail;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (q = calloc(1, sizeof(*q))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	q->size = (size_t)st.st_size;
	q->lowmem = lowmem;
	prot = PROT_READ | ((flags & VMI_MEM_WRITE) ? PROT_WRITE : 0);
	p = mmap(NULL, q->size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = vouch_err_set(e, VOUCH_E_IO, "qemu-file:%s: mmap: %s",
		    path, strerror(errno));
		goto fail;
	}
	close(fd);
	q->base = p;
	m->ops = &qf_ops;
	m->priv = q;
	m->ram_size = q->size;
	m->gpa_end = q->size > lowmem ? FOUR_GIB + (q->size - lowmem) :
	    lowmem;
	m->flags = flags;
	snprintf(m->desc, sizeof(m->desc), "qemu-file:%s", path);
	*out = m;
	return 0;
fail:
	free(q);
	free(m);
	if (fd >= 0)
		close(fd);
	return r;
}
