/*
 * checks.h - integrity checks of a running Linux guest, read from outside.
 *
 * Each check is one function with one name (VMI_CHECK_* / its string) and
 * appends findings of its own types.  Every list walk is bounded
 * (VMI_MAX_TASKS, VMI_MAX_MODULES) and cycle-checked; a walk that meets a
 * broken link (next->prev != cur: the guest changed the list under us) is
 * retried up to VMI_TORN_RETRIES times before it is reported as
 * VMI_F_UNREADABLE.  A cross-view finding (hidden process or module) is
 * confirmed by a second read before it is reported.
 *
 * The baseline is taken at pairing time, from the running guest, while
 * its host is trusted: the syscall table, the IDT handlers, and a SHA-256
 * per 4 KiB page of kernel .text and .rodata.  It is plain data (see
 * guard.h for its JSON form) so it can move with the guard.
 */
#ifndef VOUCH_IDS_CHECKS_H
#define VOUCH_IDS_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ids/linux.h"

#define VMI_MAX_TASKS		65536
#define VMI_MAX_MODULES		4096
#define VMI_IDT_ENTRIES		256
#define VMI_TORN_RETRIES	3

/* Check identifiers (bit mask for a guard's enabled set). */
enum vmi_check {
	VMI_CHECK_PROCESSES	= 1u << 0,	/* "processes": task list walk */
	VMI_CHECK_HIDDEN	= 1u << 1,	/* "hidden_processes": task list vs PID IDR */
	VMI_CHECK_SYSCALLS	= 1u << 2,	/* "syscall_table" */
	VMI_CHECK_IDT		= 1u << 3,	/* "idt" */
	VMI_CHECK_TEXT		= 1u << 4,	/* "kernel_text": .text and .rodata */
	VMI_CHECK_MODULES	= 1u << 5,	/* "modules": list vs module_kset */
	VMI_CHECK_CREDS		= 1u << 6,	/* "shared_cred" */
	VMI_CHECK_ALL		= (1u << 7) - 1,
};
const char *vmi_check_name(unsigned check);	/* one bit */
/* "processes" -> VMI_CHECK_PROCESSES; 0 if unknown. */
unsigned vmi_check_from_name(const char *name);

enum vmi_finding_type {
	VMI_F_HIDDEN_PROCESS = 1,	/* in the PID IDR, not in the task list */
	VMI_F_SYSCALL_HOOK,		/* entry differs from the baseline */
	VMI_F_SYSCALL_OUTSIDE_TEXT,	/* entry points outside kernel text */
	VMI_F_IDT_HOOK,
	VMI_F_IDT_OUTSIDE_TEXT,
	VMI_F_TEXT_MODIFIED,		/* a .text page hash differs */
	VMI_F_RODATA_MODIFIED,		/* a .rodata page hash differs */
	VMI_F_HIDDEN_MODULE,		/* in module_kset, not in the module list */
	VMI_F_UNLISTED_MODULE,		/* in the module list, not in module_kset */
	VMI_F_SHARED_CRED,		/* two thread groups share one cred */
	VMI_F_UNREADABLE,		/* a structure could not be read consistently */
	VMI_F_REPAIRED,			/* a repair was written (guard.c) */
};
const char *vmi_finding_type_name(enum vmi_finding_type t);	/* "syscall_hook" */

struct vmi_finding {
	enum vmi_finding_type type;
	unsigned	check;		/* VMI_CHECK_* that produced it */
	int		critical;	/* 1: integrity violated; 0: warning */
	int64_t		index;		/* syscall nr, vector, page no.; -1 */
	int32_t		pid;		/* -1 if none */
	uint64_t	addr;		/* guest-virtual address concerned */
	uint64_t	expected, actual;
	char		detail[256];	/* one line, for humans */
};

struct vmi_findings {
	struct vmi_finding *v;
	size_t		n, cap;
};
int vmi_findings_add(struct vmi_findings *f, const struct vmi_finding *x);
void vmi_findings_reset(struct vmi_findings *f);	/* n = 0, keep memory */
void vmi_findings_free(struct vmi_findings *f);

struct vmi_task {
	uint64_t	addr;		/* task_struct */
	int32_t		pid, tgid, ppid;
	uint32_t	uid, euid;
	uint64_t	cred, real_cred, mm;
	uint32_t	flags;
	char		comm[VMI_COMM_LEN];
};

/* Thread-group leaders on init_task.tasks, init_task (pid 0) first. */
int vmi_tasks(struct vmi_linux *lx, struct vmi_task **out, size_t *n,
    struct vouch_err *e);

/* Tasks reachable through init_pid_ns's PID IDR (every thread). */
int vmi_pid_tasks(struct vmi_linux *lx, struct vmi_task **out, size_t *n,
    struct vouch_err *e);

struct vmi_module {
	uint64_t	addr;		/* struct module */
	char		name[64];
};
int vmi_modules(struct vmi_linux *lx, struct vmi_module **out, size_t *n,
    struct vouch_err *e);

#define VMI_HASH_LEN	32

struct vmi_baseline {
	char		release[65];	/* kernel the baseline belongs to */
	uint64_t	slide;		/* KASLR slide when taken */
	uint32_t	nr_syscalls;
	uint64_t	syscalls[VMI_MAX_SYSCALLS];
	uint64_t	idt[VMI_IDT_ENTRIES];	/* handler address; 0 = not present */
	uint64_t	text_start, text_end;	/* [_stext, _etext) */
	uint64_t	rodata_start, rodata_end;
	size_t		text_pages, rodata_pages;
	uint8_t		(*text_hash)[VMI_HASH_LEN];	/* per page */
	uint8_t		(*rodata_hash)[VMI_HASH_LEN];
	/*
	 * Not serialised: a copy of the pages as hashed, so the periodic
	 * check is a memcmp and only differing pages are re-hashed.  NULL
	 * after a load; vmi_baseline_verify() fills it.
	 */
	uint8_t		*text_copy, *rodata_copy;
};

/* Take the baseline from the running guest. */
int vmi_baseline_take(struct vmi_linux *lx, struct vmi_baseline *b,
    struct vouch_err *e);
/*
 * Check the running guest's text/rodata page hashes against a loaded
 * baseline (after migration); appends findings; fills the copies when
 * everything matches.  Returns 0 even with findings (check f->n).
 */
int vmi_baseline_verify(struct vmi_linux *lx, struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e);
void vmi_baseline_free(struct vmi_baseline *b);

/*
 * The checks.  Each appends findings to f and returns 0 when it ran to
 * completion (findings or not), a negative code when it could not run.
 */
int vmi_check_hidden_processes(struct vmi_linux *lx, struct vmi_findings *f,
    struct vouch_err *e);
int vmi_check_syscalls(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e);
int vmi_check_idt(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e);
int vmi_check_text(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e);
int vmi_check_modules(struct vmi_linux *lx, struct vmi_findings *f,
    struct vouch_err *e);
int vmi_check_shared_cred(struct vmi_linux *lx, struct vmi_findings *f,
    struct vouch_err *e);

/*
 * Run the checks in mask; stats (may be NULL) get the process count.
 * The process walk (VMI_CHECK_PROCESSES) only fails on an unreadable
 * list.
 */
struct vmi_run_stats {
	size_t		tasks;
	uint64_t	bytes_read;
	uint64_t	ns;
};
int vmi_run_checks(struct vmi_linux *lx, const struct vmi_baseline *b,
    unsigned mask, struct vmi_findings *f, struct vmi_run_stats *st,
    struct vouch_err *e);

#endif
