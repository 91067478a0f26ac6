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

static int
hide_pid(struct vmi_linux *lx, long pid)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_task *t;
	uint64_t links[2], self;
	size_t n, i;
	int r;

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
	if (vmem_read(&lx->vm, self, links, sizeof(links), &e) < 0)
		return fail("links", &e);
	/* prev->next = next; next->prev = prev; self-link. */
	if ((r = vmem_write(&lx->vm, links[1], &links[0], 8, &e)) < 0 ||
	    (r = vmem_write(&lx->vm, links[0] + 8, &links[1], 8, &e)) < 0)
		return fail("unlink", &e);
	links[0] = links[1] = self;
	if (vmem_write(&lx->vm, self, links, sizeof(links), &e) < 0)
		return fail("self-link", &e);
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
		    " hook-syscall NR SRC | text-byte\n");
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
