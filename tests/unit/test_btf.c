/*
 * Unit tests: ids/btf.c with a BTF blob built here through libbpf's
 * writer API, hand-made ELF files around it, and Debian's real 6.1 BTF
 * (extracted as in test_ksym_image.c; skipped when unavailable).
 *
 * The synthetic layout (offsets in bytes):
 *
 *	struct list_head { struct list_head *next @0, *prev @8; }  16
 *	struct upid { int nr @0; void *ns @8; }                     16
 *	struct pid { int count @0; unsigned level @4;
 *	             struct upid numbers[2] @8; }                   40
 *	typedef struct pid pid_alias;
 *	struct nest { long pad @0; struct list_head inner @8; }     24
 *	struct task {
 *		volatile long state @0;
 *		struct list_head tasks @16;
 *		union { int a; struct { char x @32; char y @33; }; } @32;
 *		struct nest nest @40;
 *		int flags:3 @64;
 *		const struct pid cp @72;
 *		pid_alias pa @112;
 *		struct pid *p @152;
 *		char comm[16] @160;
 *	}                                                           176
 *	union u { int i; long l; }                                   8
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elf.h>
#include <cmocka.h>

#include <bpf/btf.h>

#include "common/util.h"
#include "ids/btf.h"

#define DEFAULT_VMLINUZ	"build/cache/kernel/linux-image-6.1.0-56-amd64/vmlinuz"

static uint8_t *raw;		/* the synthetic blob */
static size_t rawlen;

static void
build_blob(void)
{
	struct btf *b = btf__new_empty();
	int i32, u32, i64, chr, lh, lhp, upid, upid_arr, pid, alias, nest;
	int anon_s, anon_u, task, cpid, vlong, comm, pidp, u;
	const void *d;
	__u32 n;

	assert_non_null(b);
	i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
	u32 = btf__add_int(b, "unsigned int", 4, 0);
	i64 = btf__add_int(b, "long", 8, BTF_INT_SIGNED);
	chr = btf__add_int(b, "char", 1, BTF_INT_CHAR);
	assert_true(i32 > 0 && u32 > 0 && i64 > 0 && chr > 0);

	lhp = btf__add_ptr(b, (int)btf__type_cnt(b) + 1);
	lh = btf__add_struct(b, "list_head", 16);
	assert_int_equal(lhp + 1, lh);
	assert_int_equal(btf__add_field(b, "next", lhp, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "prev", lhp, 64, 0), 0);

	{
		int vp = btf__add_ptr(b, 0);	/* void * */

		upid = btf__add_struct(b, "upid", 16);
		assert_int_equal(btf__add_field(b, "nr", i32, 0, 0), 0);
		assert_int_equal(btf__add_field(b, "ns", vp, 64, 0), 0);
	}
	upid_arr = btf__add_array(b, i32, upid, 2);
	pid = btf__add_struct(b, "pid", 40);
	assert_int_equal(btf__add_field(b, "count", i32, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "level", u32, 32, 0), 0);
	assert_int_equal(btf__add_field(b, "numbers", upid_arr, 64, 0), 0);
	alias = btf__add_typedef(b, "pid_alias", pid);
	nest = btf__add_struct(b, "nest", 24);
	assert_int_equal(btf__add_field(b, "pad", i64, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "inner", lh, 64, 0), 0);

	anon_s = btf__add_struct(b, NULL, 2);
	assert_int_equal(btf__add_field(b, "x", chr, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "y", chr, 8, 0), 0);
	anon_u = btf__add_union(b, NULL, 4);
	assert_int_equal(btf__add_field(b, "a", i32, 0, 0), 0);
	assert_int_equal(btf__add_field(b, NULL, anon_s, 0, 0), 0);

	cpid = btf__add_const(b, pid);
	vlong = btf__add_volatile(b, i64);
	comm = btf__add_array(b, i32, chr, 16);
	pidp = btf__add_ptr(b, pid);
	task = btf__add_struct(b, "task", 176);
	assert_true(task > 0);
	assert_int_equal(btf__add_field(b, "state", vlong, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "tasks", lh, 128, 0), 0);
	assert_int_equal(btf__add_field(b, NULL, anon_u, 256, 0), 0);
	assert_int_equal(btf__add_field(b, "nest", nest, 320, 0), 0);
	assert_int_equal(btf__add_field(b, "flags", i32, 512, 3), 0);
	assert_int_equal(btf__add_field(b, "cp", cpid, 576, 0), 0);
	assert_int_equal(btf__add_field(b, "pa", alias, 896, 0), 0);
	assert_int_equal(btf__add_field(b, "p", pidp, 1216, 0), 0);
	assert_int_equal(btf__add_field(b, "comm", comm, 1280, 0), 0);

	u = btf__add_union(b, "u", 8);
	assert_int_equal(btf__add_field(b, "i", i32, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "l", i64, 0, 0), 0);

	assert_true(btf__add_enum(b, "pid_type", 4) > 0);
	assert_int_equal(btf__add_enum_value(b, "PIDTYPE_PID", 0), 0);
	assert_int_equal(btf__add_enum_value(b, "PIDTYPE_TGID", 1), 0);
	assert_int_equal(btf__add_enum_value(b, "PIDTYPE_MAX", 4), 0);
	assert_true(btf__add_enum(b, "signed_e", 4) > 0);
	assert_int_equal(btf__add_enum_value(b, "NEG_FIVE", -5), 0);
	assert_true(btf__add_enum64(b, "big_e", 8, false) > 0);
	assert_int_equal(btf__add_enum64_value(b, "BIG_ONE",
	    0x100000001ull), 0);
	(void)upid;
	(void)u;

	d = btf__raw_data(b, &n);
	assert_non_null(d);
	raw = malloc(n);
	assert_non_null(raw);
	memcpy(raw, d, n);
	rawlen = n;
	btf__free(b);
}

static int
setup(void **state)
{
	(void)state;
	build_blob();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(raw);
	return 0;
}

static void
expect_off(const struct vmi_btf *b, const char *type, const char *path,
    uint32_t off, uint32_t size)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint32_t o = 0xdead, s = 0xdead;

	if (vmi_btf_offset(b, type, path, &o, &s, &e) != 0)
		fail_msg("%s.%s: %s", type, path, e.msg);
	if (o != off || s != size)
		fail_msg("%s.%s: offset %u size %u, want %u %u", type, path,
		    o, s, off, size);
}

static void
expect_err(const struct vmi_btf *b, const char *type, const char *path,
    int code)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint32_t o = 0xdead;
	int r = vmi_btf_offset(b, type, path, &o, NULL, &e);

	if (r != code)
		fail_msg("%s.%s: got %d (%s), want %d", type, path, r, e.msg,
		    code);
	assert_int_equal(e.code, code);
	assert_true(e.msg[0] != '\0');
	assert_int_equal(o, 0xdead);	/* outputs only on success */
}

static void
t_paths(void **state)
{
	struct vmi_btf *b = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_int_equal(vmi_btf_load(raw, rawlen, &b, &e), 0);
	expect_off(b, "task", "state", 0, 8);
	expect_off(b, "task", "tasks", 16, 16);
	expect_off(b, "task", "tasks.prev", 24, 8);
	expect_off(b, "task", "a", 32, 4);		/* anonymous union */
	expect_off(b, "task", "y", 33, 1);		/* union > struct */
	expect_off(b, "task", "nest", 40, 24);
	expect_off(b, "task", "nest.inner.prev", 56, 8);
	expect_off(b, "task", "cp.level", 76, 4);	/* through const */
	expect_off(b, "task", "pa.level", 116, 4);	/* through typedef */
	expect_off(b, "task", "pa.numbers", 120, 32);	/* whole array */
	expect_off(b, "task", "pa.numbers.ns", 128, 8);	/* element 0 */
	expect_off(b, "task", "comm", 160, 16);
	expect_off(b, "pid", "numbers.nr", 8, 4);
	expect_off(b, "pid_alias", "level", 4, 4);	/* typedef name */
	expect_off(b, "u", "l", 0, 8);
	expect_off(b, "list_head", "next", 0, 8);

	expect_err(b, "task", "flags", VOUCH_E_UNSUPPORTED);
	expect_err(b, "task", "missing", VOUCH_E_NOTFOUND);
	expect_err(b, "task", "tasks.missing", VOUCH_E_NOTFOUND);
	expect_err(b, "task", "p.level", VOUCH_E_NOTFOUND);	/* pointer */
	expect_err(b, "task", "comm.x", VOUCH_E_NOTFOUND);	/* char[] */
	expect_err(b, "nosuch", "a", VOUCH_E_NOTFOUND);
	expect_err(b, "int", "a", VOUCH_E_NOTFOUND);
	expect_err(b, "task", "", VOUCH_E_INVAL);
	expect_err(b, "task", "tasks.", VOUCH_E_INVAL);
	expect_err(b, "task", ".tasks", VOUCH_E_INVAL);
	expect_err(b, "task", "tasks..next", VOUCH_E_INVAL);
	vmi_btf_free(b);
	vmi_btf_free(NULL);
}

static void
t_sizeof_enum(void **state)
{
	struct vmi_btf *b = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint32_t sz;
	int64_t v;

	(void)state;
	assert_int_equal(vmi_btf_load(raw, rawlen, &b, &e), 0);
	assert_int_equal(vmi_btf_sizeof(b, "task", &sz, &e), 0);
	assert_int_equal(sz, 176);
	assert_int_equal(vmi_btf_sizeof(b, "u", &sz, &e), 0);
	assert_int_equal(sz, 8);
	assert_int_equal(vmi_btf_sizeof(b, "pid_alias", &sz, &e), 0);
	assert_int_equal(sz, 40);
	assert_int_equal(vmi_btf_sizeof(b, "long", &sz, &e),
	    VOUCH_E_NOTFOUND);

	assert_int_equal(vmi_btf_enum(b, "PIDTYPE_TGID", &v, &e), 0);
	assert_true(v == 1);
	assert_int_equal(vmi_btf_enum(b, "PIDTYPE_MAX", &v, &e), 0);
	assert_true(v == 4);
	assert_int_equal(vmi_btf_enum(b, "NEG_FIVE", &v, &e), 0);
	assert_true(v == -5);
	assert_int_equal(vmi_btf_enum(b, "BIG_ONE", &v, &e), 0);
	assert_true(v == 0x100000001ll);
	assert_int_equal(vmi_btf_enum(b, "NOPE", &v, &e), VOUCH_E_NOTFOUND);
	vmi_btf_free(b);
}

/* Garbage and truncations are refused, and libbpf prints nothing. */
static void
t_bad_blobs(void **state)
{
	struct vmi_btf *b = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint8_t junk[256];
	FILE *tmp;
	int saved;
	size_t i;
	long spoke;

	(void)state;
	assert_int_equal(vmi_btf_load(raw, 0, &b, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_btf_load(NULL, 10, &b, &e), VOUCH_E_INVAL);
	assert_int_equal(vmi_btf_load(raw, (size_t)VMI_BTF_MAX + 1, &b, &e),
	    VOUCH_E_LIMIT);
	assert_null(b);

	tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	assert_int_equal(vmi_btf_load(junk, sizeof(junk), &b, &e),
	    VOUCH_E_FORMAT);
	for (i = 1; i < rawlen; i += (i < 64 ? 1 : 61))
		assert_true(vmi_btf_load(raw, i, &b, NULL) < 0);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	fseek(tmp, 0, SEEK_END);
	spoke = ftell(tmp);
	fclose(tmp);
	assert_int_equal(spoke, 0);
	assert_null(b);
}

/*
 * Anonymous unions sharing types: 2^30 paths to search.  The lookup of
 * a missing member must end (budget) instead of running for hours.
 */
static void
t_hostile_dag(void **state)
{
	struct btf *w = btf__new_empty();
	struct vmi_btf *b = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const void *d;
	uint32_t off = 1, n;
	int i32, prev, k;

	(void)state;
	assert_non_null(w);
	i32 = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
	prev = btf__add_struct(w, NULL, 4);
	assert_int_equal(btf__add_field(w, "z", i32, 0, 0), 0);
	for (k = 0; k < 30; k++) {
		int u = btf__add_union(w, NULL, 4);

		assert_int_equal(btf__add_field(w, NULL, prev, 0, 0), 0);
		assert_int_equal(btf__add_field(w, NULL, prev, 0, 0), 0);
		prev = u;
	}
	assert_true(btf__add_struct(w, "dag", 4) > 0);
	assert_int_equal(btf__add_field(w, NULL, prev, 0, 0), 0);
	d = btf__raw_data(w, &n);
	assert_int_equal(vmi_btf_load(d, n, &b, &e), 0);
	btf__free(w);
	assert_int_equal(vmi_btf_offset(b, "dag", "z", &off, NULL, &e), 0);
	assert_int_equal(off, 0);
	assert_int_equal(vmi_btf_offset(b, "dag", "missing", &off, NULL, &e),
	    VOUCH_E_FORMAT);
	vmi_btf_free(b);
}

/* --- ELF ------------------------------------------------------------------ */

/*
 * A minimal ELF64: header, .BTF (the blob), .shstrtab, section headers.
 * Mutations are applied through the callback before writing.
 */
static char *
write_elf(const char *dir, const char *name, const char *secname,
    void (*mut)(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh))
{
	char shstr[64], *path;
	size_t shstrlen, off_btf, off_str, off_sh, len;
	Elf64_Ehdr eh;
	Elf64_Shdr sh[3];
	uint8_t *p;
	FILE *f;

	/* "\0" secname "\0" ".shstrtab\0" */
	memset(shstr, 0, sizeof(shstr));
	memcpy(shstr + 1, secname, strlen(secname));
	memcpy(shstr + 2 + strlen(secname), ".shstrtab", 10);
	shstrlen = 2 + strlen(secname) + 10;

	off_btf = sizeof(eh);
	off_str = off_btf + rawlen;
	off_sh = (off_str + shstrlen + 7) & ~(size_t)7;
	len = off_sh + sizeof(sh);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_ehsize = sizeof(eh);
	eh.e_shoff = off_sh;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 3;
	eh.e_shstrndx = 2;
	memset(sh, 0, sizeof(sh));
	sh[1].sh_name = 1;
	sh[1].sh_type = SHT_PROGBITS;
	sh[1].sh_offset = off_btf;
	sh[1].sh_size = rawlen;
	sh[2].sh_name = (uint32_t)(2 + strlen(secname));
	sh[2].sh_type = SHT_STRTAB;
	sh[2].sh_offset = off_str;
	sh[2].sh_size = shstrlen;
	p = calloc(1, len);
	assert_non_null(p);
	memcpy(p + off_btf, raw, rawlen);
	memcpy(p + off_str, shstr, shstrlen);
	if (mut != NULL)
		mut(p, len, &eh, sh);
	memcpy(p, &eh, sizeof(eh));
	memcpy(p + off_sh, sh, sizeof(sh));
	path = malloc(256);
	assert_non_null(path);
	snprintf(path, 256, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
	free(p);
	return path;
}

static void
mut_shoff(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
	(void)p;
	(void)sh;
	eh->e_shoff = len - 8;	/* table runs past the end */
}

static void
mut_btf_off(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
	(void)p;
	(void)eh;
	sh[1].sh_offset = len - 4;
}

static void
mut_btf_huge(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
	(void)p;
	(void)len;
	(void)eh;
	sh[1].sh_size = UINT64_MAX - 2;
}

static void
mut_class32(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
	(void)p;
	(void)len;
	(void)sh;
	eh->e_ident[EI_CLASS] = ELFCLASS32;
}

static void
mut_strndx(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
	(void)p;
	(void)len;
	(void)sh;
	eh->e_shstrndx = 7;
}

static void
mut_name_off(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
	(void)p;
	(void)len;
	(void)eh;
	sh[1].sh_name = 0x7fffffff;	/* outside the name table */
}

static void
mut_btf_bytes(uint8_t *p, size_t len, Elf64_Ehdr *eh, Elf64_Shdr *sh)
{
	(void)len;
	(void)eh;
	memset(p + sh[1].sh_offset, 0x5a, 16);	/* BTF header destroyed */
}

static void
t_elf(void **state)
{
	static const struct {
		const char	*sec;
		void		(*mut)(uint8_t *, size_t, Elf64_Ehdr *,
				    Elf64_Shdr *);
		int		 want;
	} cases[] = {
		{ ".BTF", NULL, 0 },
		{ ".data", NULL, VOUCH_E_NOTFOUND },
		{ ".BTF", mut_shoff, VOUCH_E_FORMAT },
		{ ".BTF", mut_btf_off, VOUCH_E_FORMAT },
		{ ".BTF", mut_btf_huge, VOUCH_E_FORMAT },
		{ ".BTF", mut_class32, VOUCH_E_UNSUPPORTED },
		{ ".BTF", mut_strndx, VOUCH_E_FORMAT },
		{ ".BTF", mut_name_off, VOUCH_E_NOTFOUND },
		{ ".BTF", mut_btf_bytes, VOUCH_E_FORMAT },
	};
	char dir[] = "/tmp/vouch-btf-XXXXXX", *path;
	struct vmi_btf *b;
	struct vouch_err e = VOUCH_ERR_INIT;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[32];
		int r;

		snprintf(name, sizeof(name), "elf%zu", i);
		path = write_elf(dir, name, cases[i].sec, cases[i].mut);
		b = NULL;
		r = vmi_btf_load_elf(path, &b, &e);
		if (r != cases[i].want)
			fail_msg("case %zu: got %d (%s), want %d", i, r, e.msg,
			    cases[i].want);
		if (r == 0) {
			expect_off(b, "task", "pa.numbers.ns", 128, 8);
			vmi_btf_free(b);
		} else
			assert_null(b);
		unlink(path);
		free(path);
	}
	/* not ELF at all; missing; a directory */
	path = malloc(256);
	assert_non_null(path);
	snprintf(path, 256, "%s/raw", dir);
	{
		FILE *f = fopen(path, "wb");

		assert_non_null(f);
		fwrite(raw, 1, rawlen, f);
		fclose(f);
	}
	assert_int_equal(vmi_btf_load_elf(path, &b, &e), VOUCH_E_FORMAT);
	unlink(path);
	assert_int_equal(vmi_btf_load_elf(path, &b, &e), VOUCH_E_IO);
	free(path);
	assert_int_equal(vmi_btf_load_elf(dir, &b, &e), VOUCH_E_IO);
	rmdir(dir);
}

/* --- the real kernel ------------------------------------------------------ */

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/*
 * $VOUCH_VMLINUX, or the cached bzImage's XZ payload decompressed into
 * dir/vmlinux (see test_ksym_image.c).  0, or -1 with why filled.
 */
static int
real_vmlinux(char *dir, size_t dirlen, char *path, size_t pathlen,
    char *why, size_t whylen)
{
	const char *v = getenv("VOUCH_VMLINUX"), *zp = getenv("VOUCH_VMLINUZ");
	uint8_t *z = NULL;
	size_t zlen, off, plen, ss;
	char cmd[256];
	FILE *f;
	int rc = -1;

	dir[0] = '\0';
	if (v != NULL && *v != '\0') {
		snprintf(path, pathlen, "%s", v);
		return 0;
	}
	if (zp == NULL)
		zp = DEFAULT_VMLINUZ;
	if (file_read(zp, 64u << 20, &z, &zlen, NULL) < 0) {
		snprintf(why, whylen, "no %s and no $VOUCH_VMLINUX", zp);
		return -1;
	}
	if (zlen < 0x250 || memcmp(z + 0x202, "HdrS", 4) != 0) {
		snprintf(why, whylen, "%s: not a bzImage", zp);
		goto out;
	}
	ss = z[0x1f1] ? z[0x1f1] : 4;
	off = (ss + 1) * 512 + le32(z + 0x248);
	plen = le32(z + 0x24c);
	if (off > zlen || plen > zlen - off) {
		snprintf(why, whylen, "%s: bad payload", zp);
		goto out;
	}
	snprintf(dir, dirlen, "/tmp/vouch-btf-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		snprintf(why, whylen, "mkdtemp failed");
		goto out;
	}
	snprintf(path, pathlen, "%s/vmlinux", dir);
	snprintf(cmd, sizeof(cmd), "xz -dc --single-stream > %s 2>/dev/null",
	    path);
	if ((f = popen(cmd, "w")) == NULL) {
		snprintf(why, whylen, "cannot run xz");
		goto out;
	}
	if (fwrite(z + off, 1, plen, f) != plen || pclose(f) != 0) {
		snprintf(why, whylen, "xz -dc failed");
		goto out;
	}
	rc = 0;
out:
	free(z);
	return rc;
}

static char real_dir[64], real_path[128], real_why[256];
static int have_real;

static void
t_real_kernel(void **state)
{
	const char *path = real_path;
	struct vmi_btf *b = NULL, *b2 = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint32_t off, sz;
	int64_t v;
	uint8_t *img;
	size_t len;

	(void)state;
	if (vmi_btf_load_elf(path, &b, &e) != 0)
		fail_msg("%s", e.msg);
	/* pahole -F btf truths for Debian 6.1.0-56-amd64 */
	expect_off(b, "task_struct", "tasks", 2192, 16);
	expect_off(b, "task_struct", "pid", 2416, 4);
	expect_off(b, "task_struct", "comm", 2976, 16);
	expect_off(b, "task_struct", "mm", 2272, 8);
	expect_off(b, "task_struct", "tasks.next", 2192, 8);
	assert_int_equal(vmi_btf_offset(b, "pid", "numbers.nr", &off, &sz,
	    &e), 0);
	assert_int_equal(sz, 4);
	assert_int_equal(vmi_btf_offset(b, "module", "mkobj.kobj.entry",
	    &off, &sz, &e), 0);
	assert_int_equal(sz, 16);
	assert_int_equal(vmi_btf_sizeof(b, "list_head", &sz, &e), 0);
	assert_int_equal(sz, 16);
	assert_int_equal(vmi_btf_enum(b, "PIDTYPE_PID", &v, &e), 0);
	assert_true(v == 0);
	assert_int_equal(vmi_btf_enum(b, "PIDTYPE_TGID", &v, &e), 0);
	assert_true(v == 1);

	/* the same bytes as a guest would hold them: __start_BTF.. */
	assert_int_equal(file_read(path, 512u << 20, &img, &len, &e), 0);
	{
		const Elf64_Ehdr *eh = (const void *)img;
		const Elf64_Shdr *sh = (const void *)(img + eh->e_shoff);
		const char *str = (const char *)img +
		    sh[eh->e_shstrndx].sh_offset;

		for (unsigned i = 0; i < eh->e_shnum; i++)
			if (strcmp(str + sh[i].sh_name, ".BTF") == 0)
				assert_int_equal(vmi_btf_load(img +
				    sh[i].sh_offset, sh[i].sh_size, &b2, &e),
				    0);
	}
	assert_non_null(b2);
	assert_int_equal(vmi_btf_offset(b2, "task_struct", "comm", &off,
	    NULL, &e), 0);
	assert_int_equal(off, 2976);
	free(img);
	vmi_btf_free(b2);
	vmi_btf_free(b);
}

int
main(void)
{
	const struct CMUnitTest synthetic[] = {
		cmocka_unit_test(t_paths),
		cmocka_unit_test(t_sizeof_enum),
		cmocka_unit_test(t_bad_blobs),
		cmocka_unit_test(t_hostile_dag),
		cmocka_unit_test(t_elf),
	};
	const struct CMUnitTest all[] = {
		cmocka_unit_test(t_paths),
		cmocka_unit_test(t_sizeof_enum),
		cmocka_unit_test(t_bad_blobs),
		cmocka_unit_test(t_hostile_dag),
		cmocka_unit_test(t_elf),
		cmocka_unit_test(t_real_kernel),
	};
	int r;

	/* cmocka 1.1's skip() reports "not ok": leave the test out */
	have_real = real_vmlinux(real_dir, sizeof(real_dir), real_path,
	    sizeof(real_path), real_why, sizeof(real_why)) == 0;
	if (have_real)
		r = cmocka_run_group_tests(all, setup, teardown);
	else {
		printf("ok - t_real_kernel # SKIP real kernel BTF: %s\n",
		    real_why);
		r = cmocka_run_group_tests(synthetic, setup, teardown);
	}
	if (real_dir[0] != '\0') {
		unlink(real_path);
		rmdir(real_dir);
	}
	return r;
}
