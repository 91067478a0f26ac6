/*
 * Integration-style unit test: ids/ksym.c on Debian's real 6.1 kernel.
 *
 * The decompressed vmlinux comes from $VOUCH_VMLINUX, or is extracted
 * from the cached bzImage ($VOUCH_VMLINUZ, default the build cache) into
 * a temporary directory: setup_sects at 0x1f1, payload_offset/length at
 * 0x248/0x24c, payload at (setup_sects + 1) * 512 + payload_offset, piped
 * through `xz -dc --single-stream`.  Without either, the program prints
 * one TAP skip line with the reason (cmocka 1.1's skip() reports
 * "not ok", which tests/run.sh counts as a failure).
 *
 * Truths (readelf -S, pahole): __start_BTF is the .BTF section address,
 * _etext - _stext is the .text size, _text is 0xffffffff81000000.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <cmocka.h>

#include "common/util.h"
#include "ids/ksym.h"

#define DEFAULT_VMLINUZ	"build/cache/kernel/linux-image-6.1.0-56-amd64/vmlinuz"
#define IMAGE_MAX	(512u << 20)

struct image {
	char		 dir[64];	/* temp dir if we extracted */
	char		 path[128];
	char		 why[256];	/* reason to skip */
	uint8_t		*buf;
	size_t		 len;
};

static struct image img;

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Extract the bzImage's XZ payload to img.dir/vmlinux; 0 or -1 + why. */
static int
extract(const char *vmlinuz)
{
	uint8_t *z = NULL;
	size_t zlen, ss, off, plen;
	char cmd[256];
	FILE *f;
	int rc = -1;

	if (file_read(vmlinuz, 64u << 20, &z, &zlen, NULL) < 0) {
		snprintf(img.why, sizeof(img.why), "no %s and no "
		    "$VOUCH_VMLINUX", vmlinuz);
		return -1;
	}
	if (zlen < 0x250 || memcmp(z + 0x202, "HdrS", 4) != 0) {
		snprintf(img.why, sizeof(img.why), "%s: not a bzImage",
		    vmlinuz);
		goto out;
	}
	ss = z[0x1f1] ? z[0x1f1] : 4;
	off = (ss + 1) * 512 + le32(z + 0x248);
	plen = le32(z + 0x24c);
	if (off > zlen || plen > zlen - off || plen < 6 ||
	    memcmp(z + off, "\xfd" "7zXZ", 5) != 0) {
		snprintf(img.why, sizeof(img.why), "%s: no XZ payload",
		    vmlinuz);
		goto out;
	}
	snprintf(img.dir, sizeof(img.dir), "/tmp/vouch-ksym-XXXXXX");
	if (mkdtemp(img.dir) == NULL) {
		img.dir[0] = '\0';
		snprintf(img.why, sizeof(img.why), "mkdtemp failed");
		goto out;
	}
	snprintf(img.path, sizeof(img.path), "%s/vmlinux", img.dir);
	snprintf(cmd, sizeof(cmd), "xz -dc --single-stream > %s 2>/dev/null",
	    img.path);
	if ((f = popen(cmd, "w")) == NULL) {
		snprintf(img.why, sizeof(img.why), "cannot run xz");
		goto out;
	}
	if (fwrite(z + off, 1, plen, f) != plen) {
		(void)pclose(f);
		snprintf(img.why, sizeof(img.why), "writing to xz failed");
		goto out;
	}
	if (pclose(f) != 0) {
		snprintf(img.why, sizeof(img.why), "xz -dc failed (xz-utils "
		    "missing?)");
		goto out;
	}
	rc = 0;
out:
	free(z);
	return rc;
}

static void
load_image(void)
{
	const char *v = getenv("VOUCH_VMLINUX");
	const char *zpath = getenv("VOUCH_VMLINUZ");

	memset(&img, 0, sizeof(img));
	if (v != NULL && *v != '\0')
		snprintf(img.path, sizeof(img.path), "%s", v);
	else if (extract(zpath != NULL ? zpath : DEFAULT_VMLINUZ) < 0)
		return;
	if (file_read(img.path, IMAGE_MAX, &img.buf, &img.len, NULL) < 0) {
		snprintf(img.why, sizeof(img.why), "cannot read %s", img.path);
		img.buf = NULL;
	}
}

static void
unload_image(void)
{
	free(img.buf);
	if (img.dir[0] != '\0') {
		(void)unlink(img.path);
		(void)rmdir(img.dir);
	}
}

/* Section sh_addr/sh_size by name, from the (trusted, local) ELF. */
static int
section(const char *name, uint64_t *addr, uint64_t *size, uint64_t *off)
{
	const Elf64_Ehdr *eh = (const void *)img.buf;
	const Elf64_Shdr *sh;
	const char *str;

	assert_true(img.len > sizeof(*eh));
	assert_true(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) <=
	    img.len);
	sh = (const void *)(img.buf + eh->e_shoff);
	str = (const char *)img.buf + sh[eh->e_shstrndx].sh_offset;
	for (unsigned i = 0; i < eh->e_shnum; i++)
		if (strcmp(str + sh[i].sh_name, name) == 0) {
			*addr = sh[i].sh_addr;
			*size = sh[i].sh_size;
			*off = sh[i].sh_offset;
			return 0;
		}
	return -1;
}

/* File offset of a virtual address in a PROGBITS section, or -1. */
static long long
va_to_off(uint64_t va)
{
	const Elf64_Ehdr *eh = (const void *)img.buf;
	const Elf64_Shdr *sh = (const void *)(img.buf + eh->e_shoff);

	for (unsigned i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_PROGBITS && sh[i].sh_addr != 0 &&
		    va >= sh[i].sh_addr && va - sh[i].sh_addr < sh[i].sh_size)
			return (long long)(sh[i].sh_offset + va - sh[i].sh_addr);
	return -1;
}

/*
 * An independent truth: __ksymtab{,_gpl} entries (x86-64, PREL32:
 * int32 value, name, namespace offsets, each relative to itself) give
 * the address and name of every exported symbol.
 */
static void
check_ksymtab(const struct ksyms *k, const char *sec, size_t *ok,
    size_t *bad)
{
	uint64_t addr, soff, ssize, a;
	size_t i;

	assert_int_equal(section(sec, &addr, &ssize, &soff), 0);
	for (i = 0; i + 12 <= ssize; i += 12) {
		int32_t vo, no;
		uint64_t va = addr + i;
		long long noff;

		memcpy(&vo, img.buf + soff + i, 4);
		memcpy(&no, img.buf + soff + i + 4, 4);
		noff = va_to_off(va + 4 + (uint64_t)(int64_t)no);
		assert_true(noff > 0 && (size_t)noff < img.len);
		if (ksym_addr(k, (const char *)img.buf + noff, &a) == 0 &&
		    a == va + (uint64_t)(int64_t)vo) {
			(*ok)++;
			continue;
		}
		/* a static of the same name may come first: look at all */
		a = va + (uint64_t)(int64_t)vo;
		for (size_t j = 0; j < k->n; j++)
			if (k->syms[j].addr == a && strcmp(k->names +
			    k->syms[j].name, (const char *)img.buf + noff) == 0) {
				(*ok)++;
				a = 0;
				break;
			}
		if (a != 0)
			(*bad)++;
	}
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const must[] = {
	"init_task", "sys_call_table", "idt_table", "_text", "_stext",
	"_etext", "__start_rodata", "__end_rodata", "__start_BTF",
	"__stop_BTF", "init_top_pgt", "page_offset_base", "init_pid_ns",
	"module_kset", "modules",
};

static void
t_image_kallsyms(void **state)
{
	struct ksym_kallsyms_loc loc;
	struct ksyms k;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t a, b, saddr, ssize, soff;
	double t0, t1;
	size_t i, nrel = 0;

	(void)state;
	t0 = now();
	if (ksym_find_kallsyms(img.buf, img.len, &loc, &e) != 0)
		fail_msg("find: %s", e.msg);
	t1 = now();
	print_message("# kallsyms found in %.3f s: %u symbols, base 0x%llx, "
	    "names at file offset 0x%zx\n", t1 - t0, loc.num_syms,
	    (unsigned long long)loc.base, loc.names);
	if (ksym_load_kallsyms(img.buf, img.len, &loc, &k, &e) != 0)
		fail_msg("load: %s", e.msg);
	assert_int_equal(k.n, loc.num_syms);
	assert_true(k.n > 50000);
	assert_true(loc.base == 0xffffffff81000000ull);
	/* the tables live in .rodata */
	assert_int_equal(section(".rodata", &saddr, &ssize, &soff), 0);
	assert_true(loc.offsets >= soff && loc.token_index < soff + ssize);

	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (ksym_addr(&k, must[i], &a) != 0)
			fail_msg("symbol %s missing", must[i]);
	assert_int_equal(ksym_addr(&k, "_text", &a), 0);
	assert_true(a == 0xffffffff81000000ull);
	assert_int_equal(section(".BTF", &saddr, &ssize, &soff), 0);
	assert_int_equal(ksym_addr(&k, "__start_BTF", &a), 0);
	assert_true(a == saddr);
	assert_true(a == 0xffffffff824c1b88ull);
	assert_int_equal(ksym_addr(&k, "__stop_BTF", &b), 0);
	assert_true(b - a == ssize);
	assert_int_equal(section(".text", &saddr, &ssize, &soff), 0);
	assert_int_equal(ksym_addr(&k, "_stext", &a), 0);
	assert_int_equal(ksym_addr(&k, "_etext", &b), 0);
	assert_true(a == saddr && b - a == ssize);
	assert_int_equal(section(".rodata", &saddr, &ssize, &soff), 0);
	assert_int_equal(ksym_addr(&k, "__start_rodata", &a), 0);
	assert_true(a == saddr);
	assert_int_equal(ksym_addr(&k, "init_task", &a), 0);
	print_message("# init_task 0x%llx sys_call_table ",
	    (unsigned long long)a);
	assert_int_equal(ksym_addr(&k, "sys_call_table", &a), 0);
	print_message("0x%llx\n", (unsigned long long)a);
	assert_true(ksym_size(&k, "init_task") > 4096);
	{
		uint64_t off;
		const char *n = ksym_name_at(&k, a + 8, &off);

		assert_non_null(n);
		assert_string_equal(n, "sys_call_table");
		assert_true(off == 8);
	}
	/* every name printable; kernel addresses sorted, above the base */
	for (i = 0; i < k.n; i++) {
		const char *s = k.names + k.syms[i].name;

		for (; *s != '\0'; s++)
			assert_true(*s > 0x20 && *s < 0x7f);
		if (i > 0)
			assert_true(k.syms[i - 1].addr <= k.syms[i].addr);
		if (k.syms[i].addr >= loc.base)
			nrel++;
	}
	assert_true(nrel > k.n / 2);
	{
		size_t ok = 0, bad = 0;

		check_ksymtab(&k, "__ksymtab", &ok, &bad);
		check_ksymtab(&k, "__ksymtab_gpl", &ok, &bad);
		print_message("# exported symbols: %zu agree with __ksymtab, "
		    "%zu differ\n", ok, bad);
		assert_true(ok > 5000);
		assert_int_equal(bad, 0);
	}
	ksym_free(&k);
}

/* The image somewhere in 128 MiB of other bytes, as in guest RAM. */
static void
t_image_in_ram(void **state)
{
	const size_t ram = 128u << 20, at = 37u << 20;
	struct ksym_kallsyms_loc loc, ref;
	uint8_t *p;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	double t0, t1;
	size_t i;

	(void)state;
	assert_int_equal(ksym_find_kallsyms(img.buf, img.len, &ref, NULL), 0);
	p = malloc(ram);
	assert_non_null(p);
	/* pseudo-random pages with zero pages among them */
	for (i = 0; i + 8 <= ram; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if ((i >> 12) % 3 == 0)
			memset(p + i, 0, 8);
		else
			memcpy(p + i, &x, 8);
	}
	/* an odd placement: the finder must not assume alignment */
	assert_true(at + 3 + img.len <= ram);
	memcpy(p + at + 3, img.buf, img.len);
	t0 = now();
	assert_int_equal(ksym_find_kallsyms(p, ram, &loc, NULL), 0);
	t1 = now();
	print_message("# 128 MiB buffer: kallsyms found in %.3f s\n", t1 - t0);
	assert_int_equal(loc.names, ref.names + at + 3);
	assert_int_equal(loc.num_syms, ref.num_syms);
	/* generous for sanitizer builds; the release build is far faster */
	assert_true(t1 - t0 < 5.0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_image_kallsyms),
		cmocka_unit_test(t_image_in_ram),
	};

	int r;

	load_image();
	if (img.buf == NULL) {
		printf("ok - test_ksym_image # SKIP real kernel image: %s\n",
		    img.why);
		unload_image();
		return 0;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unload_image();
	return r;
}
