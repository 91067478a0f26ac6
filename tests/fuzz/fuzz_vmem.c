/*
 * libFuzzer target: ids/vmem.c, the page-table walk over hostile guest
 * memory.
 *
 *	byte 0..7   pgd (bit 7 of byte 0 clear: taken modulo the RAM size,
 *	            so most inputs walk tables inside the input)
 *	byte 8..15  va
 *	byte 16..   guest RAM, gpa 0 = byte 16 (a copy, so writes are legal)
 *
 * Both paging depths are walked; translation, reads, strings and writes
 * must never crash, and two properties abort on violation:
 *  - a translation keeps the page offset and names a 4K/2M/1G size;
 *  - a second translation (a TLB hit) agrees with the first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids/vmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ram {
	uint8_t	*p;
	size_t	 len;
};

static int
ram_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e)
{
	const struct ram *r = m->priv;

	if (gpa > r->len || len > r->len - gpa)
		return vouch_err_set(e, VOUCH_E_NOTPRESENT, "beyond RAM");
	memcpy(buf, r->p + gpa, len);
	return 0;
}

static int
ram_write(struct vmi_mem *m, uint64_t gpa, const void *buf, size_t len,
    struct vouch_err *e)
{
	const struct ram *r = m->priv;

	if (gpa > r->len || len > r->len - gpa)
		return vouch_err_set(e, VOUCH_E_NOTPRESENT, "beyond RAM");
	memcpy(r->p + gpa, buf, len);
	return 0;
}

static void
ram_close(struct vmi_mem *m)
{
	(void)m;
}

static const struct vmi_mem_ops ram_ops = {
	.name = "fuzz", .read = ram_read, .write = ram_write, .map = NULL,
	.close = ram_close,
};

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_vmem: property violated: %s\n", what);
		abort();
	}
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
exercise(struct vmem *v, uint64_t va)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t pa, pa2, sz, sz2, u64;
	uint32_t u32;
	uint8_t buf[64];
	char s[128];
	int r;

	r = vmem_v2p(v, va, &pa, &sz, &e);
	check(r == 0 || r == VOUCH_E_NOTPRESENT, "v2p error code");
	if (r == 0) {
		check(sz == 0x1000 || sz == 0x200000 || sz == 0x40000000,
		    "page size");
		check((pa & (sz - 1)) == (va & (sz - 1)), "page offset kept");
		check(vmem_v2p(v, va, &pa2, &sz2, &e) == 0, "TLB hit fails");
		check(pa2 == pa && sz2 == sz, "TLB disagrees with walk");
	} else
		check(e.msg[0] != '\0', "error without a reason");
	(void)vmem_read(v, va, buf, sizeof(buf), NULL);
	(void)vmem_read_u64(v, va + 0xffc, &u64, NULL);
	(void)vmem_read_u32(v, va + 0xffe, &u32, NULL);
	r = vmem_read_str(v, va, s, sizeof(s), NULL);
	if (r == 0)
		check(memchr(s, '\0', sizeof(s)) != NULL, "unterminated");
	(void)vmem_read_str(v, va + 0xff0, s, 9, NULL);
	(void)vmem_write(v, va + 0xff8, "fuzzfuzzfuzzfuzz", 16, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_mem mem;
	struct ram ram;
	struct vmem *v;
	uint64_t pgd, va;
	int levels, i;

	if (size < 16)
		return 0;
	ram.len = size - 16;
	if ((ram.p = malloc(ram.len + 1)) == NULL)
		return 0;
	memcpy(ram.p, data + 16, ram.len);
	memset(&mem, 0, sizeof(mem));
	mem.ops = &ram_ops;
	mem.priv = &ram;
	mem.ram_size = ram.len;
	mem.gpa_end = ram.len;
	mem.flags = VMI_MEM_WRITE;
	snprintf(mem.desc, sizeof(mem.desc), "fuzz");

	pgd = le64(data);
	if (!(data[0] & 0x80) && ram.len > 0)
		pgd %= ram.len;
	va = le64(data + 8);
	if ((v = malloc(sizeof(*v))) == NULL) {
		free(ram.p);
		return 0;
	}
	for (levels = 4; levels <= 5; levels++) {
		vmem_init(v, &mem, pgd, levels);
		for (i = 0; i < 8; i++)
			exercise(v, va + (uint64_t)i * 0x1000);
		exercise(v, va ^ 0xffff000000000000ull);
		vmem_flush(v);
		exercise(v, va);
	}
	free(v);
	free(ram.p);
	return 0;
}
