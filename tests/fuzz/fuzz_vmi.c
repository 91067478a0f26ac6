/*
 * fuzz_vmi - hostile "guest memory" under the introspection checks.
 *
 * A 4 MiB guest whose kernel half is mapped by real page tables (2 MiB
 * pages) built here; the fuzzer's bytes are the rest of RAM: task
 * structs, list links, the PID IDR, module lists, the syscall table and
 * IDT, and even the page tables' neighbours.  The profile is synthetic
 * (fixed offsets), so every input reaches the walks.  Must not crash,
 * hang (cycles!) or read outside RAM.  A second pass feeds the same bytes
 * to the profile loader (kallsyms search + sanity checks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ids/checks.h"
#include "ids/linux.h"
#include "ids/mem.h"

#define RAM	(4u << 20)
#define KBASE	0xffffffff80000000ull

static uint8_t ram[RAM];

static int
fm_read(struct vmi_mem *m, uint64_t gpa, void *buf, size_t len,
    struct vouch_err *e)
{
	(void)m;
	if (gpa >= RAM || len > RAM - gpa)
		return vouch_err_set(e, VOUCH_E_NOTPRESENT, "beyond RAM");
	memcpy(buf, ram + gpa, len);
	return 0;
}

static const void *
fm_map(struct vmi_mem *m, uint64_t gpa, size_t len)
{
	(void)m;
	if (gpa >= RAM || len > RAM - gpa)
		return NULL;
	return ram + gpa;
}

static void
fm_close(struct vmi_mem *m)
{
	(void)m;
}

static const struct vmi_mem_ops fm_ops = {
	"fuzz", fm_read, NULL, fm_map, fm_close,
};

static void
put64(uint64_t pa, uint64_t v)
{
	memcpy(ram + pa, &v, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_mem mem;
	struct vmi_linux lx;
	struct vmi_baseline b;
	struct vmi_findings f = { NULL, 0, 0 };
	struct vmi_run_stats st;
	struct vmi_linux *plx = NULL;

	memset(ram, 0, sizeof(ram));
	if (size > RAM - 0x4000)
		size = RAM - 0x4000;
	memcpy(ram + 0x4000, data, size);
	/* PML4[511] -> PDPT; PDPT[510] -> PD; PD[0..1] = 2 MiB pages 0, 2M */
	put64(0x1000 + 511 * 8, 0x2000 | 0x3);
	put64(0x2000 + 510 * 8, 0x3000 | 0x3);
	put64(0x3000 + 0 * 8, 0x000000 | 0x83);
	put64(0x3000 + 1 * 8, 0x200000 | 0x83);

	memset(&mem, 0, sizeof(mem));
	mem.ops = &fm_ops;
	mem.ram_size = mem.gpa_end = RAM;
	memset(&lx, 0, sizeof(lx));
	lx.mem = &mem;
	lx.levels = 4;
	vmem_init(&lx.vm, &mem, 0x1000, 4);
	lx.off = (struct vmi_linux_off){
		.task_tasks = 0, .task_pid = 16, .task_tgid = 20,
		.task_comm = 24, .task_cred = 40, .task_real_cred = 48,
		.task_real_parent = 56, .task_mm = 64, .task_flags = 72,
		.task_pid_links = 80, .task_group_leader = 96,
		.pid_numbers = 16, .pid_tasks = 8, .pid_level = 4,
		.upid_size = 16, .upid_nr = 0,
		.pidns_idr = 8, .pidns_level = 0, .xa_head = 0,
		.xa_node_shift = 0, .xa_node_slots = 32,
		.mod_list = 8, .mod_name = 24, .mod_name_len = 56,
		.mod_mkobj = 96, .mod_state = 0,
		.mkobj_kobj = 0, .mkobj_mod = 64, .kobj_entry = 8,
		.kobj_name = 0, .kset_list = 0, .cred_uid = 4, .cred_euid = 8,
		.uts_release = 0, .uts_release_len = 65,
	};
	lx.init_task = KBASE + 0x10000;
	lx.init_pid_ns = KBASE + 0x11000;
	lx.modules = KBASE + 0x12000;
	lx.module_kset = KBASE + 0x12100;
	lx.sys_call_table = KBASE + 0x20000;
	lx.nr_syscalls = 64;
	lx.idt_table = KBASE + 0x21000;
	lx.stext = KBASE + 0x100000;
	lx.etext = KBASE + 0x110000;
	lx.start_rodata = KBASE + 0x110000;
	lx.end_rodata = KBASE + 0x114000;
	memcpy(lx.release, "fuzz", 5);

	if (vmi_baseline_take(&lx, &b, NULL) == 0) {
		/* Same memory, and again after flipping a text byte. */
		(void)vmi_run_checks(&lx, &b, VMI_CHECK_ALL, &f, &st, NULL);
		ram[0x100000 + (size % 0x10000)] ^= 0x01;
		(void)vmi_run_checks(&lx, &b, VMI_CHECK_ALL, &f, &st, NULL);
		vmi_baseline_free(&b);
	}
	vmi_findings_free(&f);

	/* The profile loader over the same RAM: must refuse cleanly. */
	if (vmi_linux_open(&mem, NULL, &plx, NULL) == 0)
		vmi_linux_close(plx);
	return 0;
}
