/*
 * Unit tests: ids/mem.c (front end, qemu-file) and ids/mem_dump.c over
 * temporary files.
 *
 * The q35/pc layouts are checked on a sparse 6 GiB file (only the marker
 * pages are ever written, so the disk cost is a few KiB).  ELF cores are
 * built here byte by byte, independent of the parser.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ids/mem.h"

#define GIB	(1ull << 30)
#define MIB	(1ull << 20)

/* --- temp files ----------------------------------------------------------- */

static char tmp_path[64];

static int
tmp_open(void)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/vouch-test-mem.XXXXXX");
	fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	return fd;
}

static void
tmp_write(const void *buf, size_t len)
{
	int fd = tmp_open();

	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void
put_at(int fd, uint64_t off, uint64_t v)
{
	assert_int_equal(pwrite(fd, &v, sizeof(v), (off_t)off), 8);
}

static char spec[160];

static const char *
mkspec(const char *kind, const char *opts)
{
	snprintf(spec, sizeof(spec), "%s:%s%s", kind, tmp_path, opts);
	return spec;
}

static uint64_t
rd64(struct vmi_mem *m, uint64_t gpa)
{
	uint64_t v = 0;

	assert_int_equal(vmi_mem_read_u64(m, gpa, &v, NULL), 0);
	return v;
}

/* --- qemu-file ------------------------------------------------------------ */

static void
test_qemu_small(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	uint8_t *img, buf[16];
	const uint8_t *p;
	size_t i;

	(void)state;
	img = malloc(MIB);
	assert_non_null(img);
	for (i = 0; i < MIB; i++)
		img[i] = (uint8_t)(i * 7 + (i >> 12));
	tmp_write(img, MIB);
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ",machine=pc"), 0,
	    &m, &e), 0);
	assert_string_equal(m->ops->name, "qemu-file");
	assert_string_equal(m->desc, spec);
	assert_int_equal(m->ram_size, MIB);
	assert_int_equal(m->gpa_end, MIB);
	assert_int_equal(vmi_mem_read(m, 0x1234, buf, sizeof(buf), &e), 0);
	assert_memory_equal(buf, img + 0x1234, sizeof(buf));
	assert_int_equal(vmi_mem_read(m, MIB - 8, buf, 8, &e), 0);
	assert_memory_equal(buf, img + MIB - 8, 8);
	assert_int_equal(vmi_mem_read(m, MIB - 8, buf, 16, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, 4 * GIB, buf, 1, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, UINT64_MAX - 3, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, 5, buf, 0, &e), 0);
	assert_int_equal(vmi_mem_read(m, 5, NULL, 1, &e), VOUCH_E_INVAL);
	assert_int_equal(rd64(m, 0x800), (uint64_t)img[0x800] |
	    (uint64_t)img[0x801] << 8 | (uint64_t)img[0x802] << 16 |
	    (uint64_t)img[0x803] << 24 | (uint64_t)img[0x804] << 32 |
	    (uint64_t)img[0x805] << 40 | (uint64_t)img[0x806] << 48 |
	    (uint64_t)img[0x807] << 56);
	p = vmi_mem_map(m, 0x3000, 0x1000);
	assert_non_null(p);
	assert_memory_equal(p, img + 0x3000, 0x1000);
	assert_null(vmi_mem_map(m, MIB - 4, 8));
	assert_null(vmi_mem_map(m, 0, 0));
	/* read-only: writes refused, memory unchanged */
	assert_int_equal(vmi_mem_write(m, 0x10, "x", 1, &e), VOUCH_E_STATE);
	assert_int_equal(vmi_mem_read(m, 0x10, buf, 1, &e), 0);
	assert_int_equal(buf[0], img[0x10]);
	vmi_mem_close(m);
	vmi_mem_close(NULL);
	unlink(tmp_path);
	free(img);
}

static void
test_qemu_layouts(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	const uint64_t *p;
	uint8_t buf[8];
	int fd;

	(void)state;
	fd = tmp_open();
	assert_int_equal(ftruncate(fd, (off_t)(6 * GIB)), 0);
	put_at(fd, 0, 0x1111);
	put_at(fd, 2 * GIB - 8, 0x2222);
	put_at(fd, 2 * GIB, 0x3333);
	put_at(fd, 3 * GIB, 0x4444);
	put_at(fd, 6 * GIB - 8, 0x5555);

	/* q35, >= 2.75 GiB: 2 GiB low, 4 GiB above 4G */
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ""), 0, &m, &e), 0);
	assert_int_equal(m->ram_size, 6 * GIB);
	assert_int_equal(m->gpa_end, 8 * GIB);
	assert_int_equal(rd64(m, 0), 0x1111);
	assert_int_equal(rd64(m, 2 * GIB - 8), 0x2222);
	assert_int_equal(rd64(m, 4 * GIB), 0x3333);
	assert_int_equal(rd64(m, 5 * GIB), 0x4444);
	assert_int_equal(rd64(m, 8 * GIB - 8), 0x5555);
	assert_int_equal(vmi_mem_read(m, 2 * GIB, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, 3 * GIB, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, 2 * GIB - 4, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);	/* runs into the hole */
	assert_int_equal(vmi_mem_read(m, 4 * GIB - 4, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);	/* starts in the hole */
	assert_int_equal(vmi_mem_read(m, 8 * GIB - 4, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);
	p = vmi_mem_map(m, 4 * GIB, 8);
	assert_non_null(p);
	assert_int_equal(*p, 0x3333);
	assert_null(vmi_mem_map(m, 2 * GIB - 4, 8));
	vmi_mem_close(m);

	/* explicit machine=q35 is the same */
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ",machine=q35"), 0,
	    &m, &e), 0);
	assert_int_equal(m->gpa_end, 8 * GIB);
	vmi_mem_close(m);

	/* pc, >= 3.5 GiB: 3 GiB low */
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ",machine=pc"), 0,
	    &m, &e), 0);
	assert_int_equal(m->gpa_end, 7 * GIB);
	assert_int_equal(rd64(m, 2 * GIB), 0x3333);
	assert_int_equal(rd64(m, 4 * GIB), 0x4444);
	assert_int_equal(rd64(m, 7 * GIB - 8), 0x5555);
	assert_int_equal(vmi_mem_read(m, 3 * GIB, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);
	vmi_mem_close(m);

	/* lowmem= wins over the machine rule, in any notation */
	assert_int_equal(vmi_mem_open(mkspec("qemu-file",
	    ",machine=pc,lowmem=1G"), 0, &m, &e), 0);
	assert_int_equal(m->gpa_end, 9 * GIB);
	assert_int_equal(rd64(m, 5 * GIB), 0x3333);
	assert_int_equal(rd64(m, 6 * GIB), 0x4444);
	vmi_mem_close(m);
	assert_int_equal(vmi_mem_open(mkspec("qemu-file",
	    ",lowmem=0x40000000"), 0, &m, &e), 0);
	assert_int_equal(m->gpa_end, 9 * GIB);
	vmi_mem_close(m);
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ",lowmem=1024M"), 0,
	    &m, &e), 0);
	assert_int_equal(rd64(m, 5 * GIB), 0x3333);
	vmi_mem_close(m);

	/* q35 below 2.75 GiB: all of it low */
	assert_int_equal(ftruncate(fd, (off_t)(5 * GIB / 2)), 0);
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ""), 0, &m, &e), 0);
	assert_int_equal(m->gpa_end, 5 * GIB / 2);
	assert_int_equal(rd64(m, 2 * GIB), 0x3333);
	assert_int_equal(vmi_mem_read(m, 4 * GIB, buf, 8, &e),
	    VOUCH_E_NOTPRESENT);
	vmi_mem_close(m);
	/* q35 at exactly 2.75 GiB: 2 GiB low */
	assert_int_equal(ftruncate(fd, (off_t)0xb0000000), 0);
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ""), 0, &m, &e), 0);
	assert_int_equal(m->gpa_end, 4 * GIB + 0x30000000);
	assert_int_equal(rd64(m, 4 * GIB), 0x3333);
	vmi_mem_close(m);
	/* pc below 3.5 GiB: all low */
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ",machine=pc"), 0,
	    &m, &e), 0);
	assert_int_equal(m->gpa_end, 0xb0000000);
	vmi_mem_close(m);
	/* lowmem larger than the file: all low */
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ",lowmem=4G"), 0,
	    &m, &e), 0);
	assert_int_equal(m->gpa_end, 0xb0000000);
	vmi_mem_close(m);
	close(fd);
	unlink(tmp_path);
}

static void
test_qemu_write(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	char back[8];
	int fd;

	(void)state;
	fd = tmp_open();
	assert_int_equal(ftruncate(fd, (off_t)(3 * GIB)), 0);
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ""), VMI_MEM_WRITE,
	    &m, &e), 0);
	assert_int_equal(m->flags, VMI_MEM_WRITE);
	assert_int_equal(vmi_mem_write(m, 0x100, "hello", 5, &e), 0);
	assert_int_equal(vmi_mem_write(m, 4 * GIB + 0x10, "world", 5, &e), 0);
	assert_int_equal(vmi_mem_write(m, 2 * GIB - 2, "abcd", 4, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_write(m, 5 * GIB - 2, "abcd", 4, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_write(m, 0, "", 0, &e), 0);
	vmi_mem_close(m);
	/* MAP_SHARED: the bytes are in the file */
	assert_int_equal(pread(fd, back, 5, 0x100), 5);
	assert_memory_equal(back, "hello", 5);
	assert_int_equal(pread(fd, back, 5, (off_t)(2 * GIB + 0x10)), 5);
	assert_memory_equal(back, "world", 5);
	assert_int_equal(pread(fd, back, 2, (off_t)(2 * GIB - 2)), 2);
	assert_int_equal(back[0], 0);
	assert_int_equal(back[1], 0);
	close(fd);
	unlink(tmp_path);
}

static void
test_bad_specs(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	static const char *const bad_opts[] = {
		",machine=isapc", ",foo=1", ",lowmem=", ",lowmem=5G",
		",lowmem=123", ",lowmem=abc", ",lowmem=1X", ",",
		",lowmem=99999999999999999999999",
	};
	char dir[] = "/tmp/vouch-test-memdir.XXXXXX";
	size_t i;
	int fd;

	(void)state;
	assert_int_equal(vmi_mem_open("nope:/x", 0, &m, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("qemu-file:", 0, &m, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("qemu-file:,lowmem=1G", 0, &m, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("dump:", 0, &m, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("qemu-file:/nonexistent/x", 0, &m, &e),
	    VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "/nonexistent/x"));
	assert_int_equal(vmi_mem_open("dump:/nonexistent/x", 0, &m, &e),
	    VOUCH_E_IO);
	assert_int_equal(vmi_mem_open(NULL, 0, &m, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("dump:/x", 0, NULL, NULL),
	    VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("dump:/x", 0x80, &m, &e),
	    VOUCH_E_INVAL);
	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "qemu-file:%s", dir);
	assert_int_equal(vmi_mem_open(spec, 0, &m, &e), VOUCH_E_INVAL);
	snprintf(spec, sizeof(spec), "dump:%s", dir);
	assert_int_equal(vmi_mem_open(spec, 0, &m, &e), VOUCH_E_INVAL);
	rmdir(dir);

	fd = tmp_open();		/* empty */
	assert_int_equal(vmi_mem_open(mkspec("qemu-file", ""), 0, &m, &e),
	    VOUCH_E_FORMAT);
	assert_int_equal(vmi_mem_open(mkspec("dump", ""), 0, &m, &e),
	    VOUCH_E_FORMAT);
	assert_int_equal(ftruncate(fd, 1 << 16), 0);
	for (i = 0; i < sizeof(bad_opts) / sizeof(bad_opts[0]); i++) {
		e.code = 0;
		assert_int_equal(vmi_mem_open(mkspec("qemu-file", bad_opts[i]),
		    0, &m, &e), VOUCH_E_INVAL);
		assert_int_equal(e.code, VOUCH_E_INVAL);
	}
	/* dumps are never writable */
	assert_int_equal(vmi_mem_open(mkspec("dump", ""), VMI_MEM_WRITE, &m,
	    &e), VOUCH_E_UNSUPPORTED);
	close(fd);
	unlink(tmp_path);
}

/* --- dump: ELF cores ------------------------------------------------------ */

struct eb {
	uint8_t	 p[0x8000];
	size_t	 len;
};

static void
w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
w32(uint8_t *p, uint32_t v)
{
	w16(p, (uint16_t)v);
	w16(p + 2, (uint16_t)(v >> 16));
}

static void
w64(uint8_t *p, uint64_t v)
{
	w32(p, (uint32_t)v);
	w32(p + 4, (uint32_t)(v >> 32));
}

#define NPH	5
#define PH(i)	(64 + (size_t)(i) * 56)
#define NOTE_OFF (PH(NPH))
#define DATA_OFF 0x1000

struct segdef {
	uint32_t	type;
	uint64_t	gpa, filesz, memsz;
};

/*
 * PT_NOTE, then PT_LOADs listed out of gpa order:
 *	gpa 0x0      8K   (file DATA_OFF)
 *	gpa 0x100000 4K
 *	gpa 0x2000   4K   (adjacent to the first)
 *	gpa 0x200000 filesz 0, memsz 4K (filtered out: no bytes)
 * Every qword of segment data holds 0xd000... | its gpa.
 */
static const struct segdef segs[NPH] = {
	{ 4, 0, 16, 16 },
	{ 1, 0x0, 0x2000, 0x2000 },
	{ 1, 0x100000, 0x1000, 0x1000 },
	{ 1, 0x2000, 0x1000, 0x1000 },
	{ 1, 0x200000, 0, 0x1000 },
};

static void
build_elf(struct eb *b)
{
	uint64_t off = DATA_OFF, j;
	size_t i;

	memset(b, 0, sizeof(*b));
	memcpy(b->p, "\177ELF", 4);
	b->p[4] = 2;			/* ELFCLASS64 */
	b->p[5] = 1;			/* ELFDATA2LSB */
	b->p[6] = 1;			/* EV_CURRENT */
	w16(b->p + 16, 4);		/* ET_CORE */
	w16(b->p + 18, 62);		/* EM_X86_64 */
	w32(b->p + 20, 1);
	w64(b->p + 32, 64);		/* e_phoff */
	w16(b->p + 52, 64);		/* e_ehsize */
	w16(b->p + 54, 56);		/* e_phentsize */
	w16(b->p + 56, NPH);
	for (i = 0; i < NPH; i++) {
		uint8_t *ph = b->p + PH(i);

		w32(ph, segs[i].type);
		w32(ph + 4, 4);
		if (segs[i].type == 4) {
			w64(ph + 8, NOTE_OFF);
			memcpy(b->p + NOTE_OFF, "CORE note bytes", 16);
		} else {
			w64(ph + 8, off);
			for (j = 0; j < segs[i].filesz; j += 8)
				w64(b->p + off + j, 0xd000000000000000ull |
				    (segs[i].gpa + j));
			off += segs[i].filesz;
		}
		w64(ph + 16, 0xffffffff80000000ull + segs[i].gpa);
		w64(ph + 24, segs[i].gpa);
		w64(ph + 32, segs[i].filesz);
		w64(ph + 40, segs[i].memsz);
	}
	b->len = (size_t)off;
}

static int
open_buf(const uint8_t *p, size_t len, struct vmi_mem **m,
    struct vouch_err *e)
{
	int r;

	tmp_write(p, len);
	r = vmi_mem_open(mkspec("dump", ""), 0, m, e);
	unlink(tmp_path);
	return r;
}

static void
test_dump_elf(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	struct eb b;
	uint64_t q[2];
	const uint64_t *p;

	(void)state;
	build_elf(&b);
	assert_int_equal(open_buf(b.p, b.len, &m, &e), 0);
	assert_string_equal(m->ops->name, "dump");
	assert_int_equal(m->ram_size, 0x4000);
	assert_int_equal(m->gpa_end, 0x101000);
	assert_int_equal(m->flags, 0);
	assert_int_equal(rd64(m, 0), 0xd000000000000000ull);
	assert_int_equal(rd64(m, 0x1ff8), 0xd000000000001ff8ull);
	assert_int_equal(rd64(m, 0x2000), 0xd000000000002000ull);
	assert_int_equal(rd64(m, 0x100ff8), 0xd000000000100ff8ull);
	/* a read spanning two adjacent segments */
	assert_int_equal(vmi_mem_read(m, 0x1ff8, q, 16, &e), 0);
	assert_int_equal(q[0], 0xd000000000001ff8ull);
	assert_int_equal(q[1], 0xd000000000002000ull);
	/* gaps, the filtered segment, beyond the end */
	assert_int_equal(vmi_mem_read(m, 0x2ff8, q, 16, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, 0x50000, q, 8, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, 0xffff8, q, 16, &e),
	    VOUCH_E_NOTPRESENT);
	assert_int_equal(vmi_mem_read(m, 0x200000, q, 8, &e),
	    VOUCH_E_NOTPRESENT);
	/* map within one segment only */
	p = vmi_mem_map(m, 0x1000, 0x1000);
	assert_non_null(p);
	assert_int_equal(p[0], 0xd000000000001000ull);
	assert_null(vmi_mem_map(m, 0x1ff8, 16));
	assert_null(vmi_mem_map(m, 0x3000, 8));
	assert_non_null(vmi_mem_map(m, 0x100ff8, 8));
	/* never writable */
	assert_int_equal(vmi_mem_write(m, 0, "x", 1, &e), VOUCH_E_STATE);
	vmi_mem_close(m);
}

static void
test_dump_xnum(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	struct eb b;
	uint8_t *sh;

	(void)state;
	build_elf(&b);
	/* PN_XNUM: count in section header 0 (put at the end of the file) */
	w16(b.p + 56, 0xffff);
	w16(b.p + 58, 64);
	w16(b.p + 60, 1);
	w64(b.p + 40, b.len);
	sh = b.p + b.len;
	memset(sh, 0, 64);
	w32(sh + 44, 3);		/* only the first three headers */
	assert_int_equal(open_buf(b.p, b.len + 64, &m, &e), 0);
	assert_int_equal(m->ram_size, 0x3000);
	assert_int_equal(m->gpa_end, 0x101000);
	vmi_mem_close(m);
	/* section header beyond the file */
	w64(b.p + 40, b.len + 8);
	assert_int_equal(open_buf(b.p, b.len + 64, &m, &e),
	    VOUCH_E_TRUNCATED);
	/* absurd count */
	w64(b.p + 40, b.len);
	w32(sh + 44, 0xffffffffu);
	assert_int_equal(open_buf(b.p, b.len + 64, &m, &e), VOUCH_E_LIMIT);
	w32(sh + 44, 1000);
	assert_int_equal(open_buf(b.p, b.len + 64, &m, &e),
	    VOUCH_E_TRUNCATED);
	w16(b.p + 58, 40);
	assert_int_equal(open_buf(b.p, b.len + 64, &m, &e), VOUCH_E_FORMAT);
}

static void
test_dump_raw(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	uint8_t img[0x3000], buf[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i ^ (i >> 8));
	img[0] = 0x7f;			/* not quite ELF */
	img[1] = 'E';
	assert_int_equal(open_buf(img, sizeof(img), &m, &e), 0);
	assert_int_equal(m->ram_size, sizeof(img));
	assert_int_equal(m->gpa_end, sizeof(img));
	assert_int_equal(vmi_mem_read(m, 0x1ffe, buf, 4, &e), 0);
	assert_memory_equal(buf, img + 0x1ffe, 4);
	assert_int_equal(vmi_mem_read(m, 0x2ffe, buf, 4, &e),
	    VOUCH_E_NOTPRESENT);
	assert_ptr_not_equal(vmi_mem_map(m, 0x2000, 0x1000), NULL);
	vmi_mem_close(m);
	/* a 3-byte file that starts like ELF is a raw image too */
	assert_int_equal(open_buf((const uint8_t *)"\177EL", 3, &m, &e), 0);
	assert_int_equal(m->gpa_end, 3);
	vmi_mem_close(m);
}

/* Cut the core at every length: each prefix is TRUNCATED. */
static void
test_dump_truncated(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	struct eb b;
	size_t len;

	(void)state;
	build_elf(&b);
	for (len = 4; len < b.len; len += len < DATA_OFF + 64 ? 1 : 509) {
		e.code = 0;
		assert_int_equal(open_buf(b.p, len, &m, &e),
		    VOUCH_E_TRUNCATED);
		assert_int_equal(e.code, VOUCH_E_TRUNCATED);
	}
	assert_int_equal(open_buf(b.p, b.len - 1, &m, &e), VOUCH_E_TRUNCATED);
}

static void
test_dump_garbage(void **state)
{
	static const struct {
		size_t	 off;
		int	 width;		/* 1, 2, 4, 8 bytes */
		uint64_t val;
		int	 want;
	} cases[] = {
		{ 4, 1, 1, VOUCH_E_UNSUPPORTED },	/* ELFCLASS32 */
		{ 5, 1, 2, VOUCH_E_UNSUPPORTED },	/* big endian */
		{ 4, 1, 3, VOUCH_E_FORMAT },
		{ 6, 1, 0, VOUCH_E_FORMAT },
		{ 16, 2, 2, VOUCH_E_FORMAT },		/* ET_EXEC */
		{ 18, 2, 3, VOUCH_E_FORMAT },		/* EM_386 */
		{ 54, 2, 32, VOUCH_E_FORMAT },		/* e_phentsize */
		{ 56, 2, 0, VOUCH_E_FORMAT },		/* no phdrs */
		{ 32, 8, UINT64_MAX, VOUCH_E_TRUNCATED },	/* e_phoff */
		{ 32, 8, 0x7000, VOUCH_E_TRUNCATED },
		{ 56, 2, 400, VOUCH_E_TRUNCATED },	/* too many */
		/* segment 3 (gpa 0x2000) moved onto segment 1 */
		{ PH(3) + 24, 8, 0x1000, VOUCH_E_FORMAT },
		{ PH(3) + 24, 8, 0x1ff8, VOUCH_E_FORMAT },
		{ PH(2) + 24, 8, 1ull << 52, VOUCH_E_FORMAT },
		{ PH(2) + 24, 8, (1ull << 52) - 0x800, VOUCH_E_FORMAT },
		{ PH(2) + 24, 8, UINT64_MAX - 0x10, VOUCH_E_FORMAT },
		{ PH(2) + 40, 8, 0x800, VOUCH_E_FORMAT },	/* filesz>memsz */
		{ PH(2) + 8, 8, UINT64_MAX, VOUCH_E_TRUNCATED },
		{ PH(2) + 8, 8, 0x4f00, VOUCH_E_TRUNCATED },
		{ PH(2) + 32, 8, 1ull << 40, VOUCH_E_FORMAT },	/* > memsz */
		{ PH(4) + 8, 8, UINT64_MAX, 0 },	/* filesz 0: ignored */
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	struct eb b;
	size_t i, bit;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		build_elf(&b);
		switch (cases[i].width) {
		case 1: b.p[cases[i].off] = (uint8_t)cases[i].val; break;
		case 2: w16(b.p + cases[i].off, (uint16_t)cases[i].val); break;
		case 4: w32(b.p + cases[i].off, (uint32_t)cases[i].val); break;
		default: w64(b.p + cases[i].off, cases[i].val); break;
		}
		e.code = 0;
		e.msg[0] = '\0';
		r = open_buf(b.p, b.len, &m, &e);
		if (r != cases[i].want)
			fail_msg("case %zu: got %d (%s), want %d", i, r, e.msg,
			    cases[i].want);
		if (r == 0)
			vmi_mem_close(m);
		else
			assert_non_null(strstr(e.msg, "dump:"));
	}
	/* big segment sizes with memsz to match: truncated, not a crash */
	build_elf(&b);
	w64(b.p + PH(2) + 32, 1ull << 40);
	w64(b.p + PH(2) + 40, 1ull << 40);
	assert_int_equal(open_buf(b.p, b.len, &m, &e), VOUCH_E_TRUNCATED);
	/* no PT_LOAD at all */
	build_elf(&b);
	for (i = 1; i < NPH; i++)
		w32(b.p + PH(i), 6);
	assert_int_equal(open_buf(b.p, b.len, &m, &e), VOUCH_E_FORMAT);
	/* every single-bit flip of the headers: opens or fails cleanly */
	for (bit = 0; bit < NOTE_OFF * 8; bit++) {
		build_elf(&b);
		b.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r = open_buf(b.p, b.len, &m, &e);
		if (r == 0) {
			uint8_t x[16];

			(void)vmi_mem_read(m, 0, x, sizeof(x), NULL);
			(void)vmi_mem_read(m, m->gpa_end - 1, x, 1, NULL);
			vmi_mem_close(m);
			continue;
		}
		assert_true(r == VOUCH_E_FORMAT || r == VOUCH_E_TRUNCATED ||
		    r == VOUCH_E_UNSUPPORTED || r == VOUCH_E_LIMIT);
	}
}

/* --- ivshmem: a fake sysfs tree under VOUCH_SYSFS_ROOT ---------------------- */

static void
fake_pci(const char *root, const char *bdf, const char *ven, const char *dev,
    uint64_t bar2)
{
	char p[256];
	FILE *f;
	int fd;

	snprintf(p, sizeof(p), "%s/bus/pci/devices/%s", root, bdf);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/bus/pci/devices/%s/vendor", root, bdf);
	assert_non_null(f = fopen(p, "w"));
	fprintf(f, "%s\n", ven);
	fclose(f);
	snprintf(p, sizeof(p), "%s/bus/pci/devices/%s/device", root, bdf);
	assert_non_null(f = fopen(p, "w"));
	fprintf(f, "%s\n", dev);
	fclose(f);
	if (bar2 == 0)
		return;
	snprintf(p, sizeof(p), "%s/bus/pci/devices/%s/resource2", root, bdf);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bar2), 0);
	put_at(fd, 0x100, bar2);	/* marker: which window was opened */
	close(fd);
}

static void
test_ivshmem(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *m = NULL;
	char root[64], p[128], cmd[160];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/vouch-test-sysfs.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/bus", root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/bus/pci", root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/bus/pci/devices", root);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(setenv("VOUCH_SYSFS_ROOT", root, 1), 0);

	/* no window yet: not present, and the message says why */
	fake_pci(root, "0000:00:01.0", "0x1234", "0x1111", 0);
	assert_int_equal(vmi_mem_open("ivshmem:", 0, &m, &e),
	    VOUCH_E_NOTPRESENT);
	assert_non_null(strstr(e.msg, "1af4:1110"));
	/* two windows and a look-alike: the lowest BDF of 1af4:1110 wins */
	fake_pci(root, "0000:02:00.0", "0x1af4", "0x1110", 2 * MIB);
	fake_pci(root, "0000:01:00.0", "0x1af4", "0x1110", MIB);
	fake_pci(root, "0000:00:02.0", "0x1af4", "0x1041", 4 * MIB);
	assert_int_equal(vmi_mem_open("ivshmem:", 0, &m, &e), 0);
	assert_string_equal(m->ops->name, "qemu-file");
	assert_int_equal(m->ram_size, MIB);
	assert_int_equal(rd64(m, 0x100), MIB);
	assert_string_equal(m->desc, "ivshmem:");
	vmi_mem_close(m);
	/* by id, by address, with options */
	assert_int_equal(vmi_mem_open("ivshmem:1af4:1041", 0, &m, &e), 0);
	assert_int_equal(rd64(m, 0x100), 4 * MIB);
	vmi_mem_close(m);
	assert_int_equal(vmi_mem_open("ivshmem:0000:02:00.0,machine=pc", 0,
	    &m, &e), 0);
	assert_int_equal(rd64(m, 0x100), 2 * MIB);
	vmi_mem_close(m);
	/* bad forms: a path that walks, a trailing comma, a missing BDF */
	assert_int_equal(vmi_mem_open("ivshmem:../../etc", 0, &m, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("ivshmem:,", 0, &m, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_mem_open("ivshmem:0000:09:00.0", 0, &m, &e),
	    VOUCH_E_IO);
	assert_int_equal(vmi_mem_open("ivshmem:1af4:9999", 0, &m, &e),
	    VOUCH_E_NOTPRESENT);
	unsetenv("VOUCH_SYSFS_ROOT");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_small),
		cmocka_unit_test(test_qemu_layouts),
		cmocka_unit_test(test_qemu_write),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_dump_elf),
		cmocka_unit_test(test_dump_xnum),
		cmocka_unit_test(test_dump_raw),
		cmocka_unit_test(test_dump_truncated),
		cmocka_unit_test(test_dump_garbage),
		cmocka_unit_test(test_ivshmem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
