/*
 * linux.h - the Linux guest profile: where the running kernel is and how
 * its structures are laid out, found from guest memory alone.
 *
 * No debug package, no hard-coded offset, no heuristic guess at KASLR:
 *  1. the kernel's kallsyms tables are located in guest-physical memory
 *     (ids/ksym.h) -- or, given the vmlinux image, by the exact bytes of
 *     its token table -- and decoded.  kallsyms_relative_base is
 *     relocated at boot, so the decoded addresses are the running
 *     (slid) ones: the virtual KASLR slide is _text - 0xffffffff81000000
 *     exactly, and the physical load address of _text is where the token
 *     table was found minus its distance from _text.
 *  2. the kernel image is read through that linear mapping only long
 *     enough to find init_top_pgt and __pgtable_l5_enabled; everything
 *     after goes through the software page walk (ids/vmem.h) on the
 *     kernel's own page tables, so direct-map (page_offset_base,
 *     randomised too), vmalloc and module addresses all work.
 *  3. structure offsets come from the kernel's BTF: the bytes between
 *     __start_BTF and __stop_BTF in guest memory, or the image's .BTF.
 *  4. sanity: init_task.real_parent must point at init_task, and
 *     init_uts_ns must hold a printable release string; else the profile
 *     is refused (wrong kernel, not Linux, or garbage).
 *
 * A real System.map, when given, replaces the kallsyms-derived names
 * (its unslid addresses plus the slide found in step 1).
 */
#ifndef VOUCH_IDS_LINUX_H
#define VOUCH_IDS_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ids/btf.h"
#include "ids/ksym.h"
#include "ids/mem.h"
#include "ids/vmem.h"

#define VMI_KERNEL_MAP_BASE	0xffffffff81000000ull	/* unslid _text */
#define VMI_COMM_LEN		16
#define VMI_MAX_SYSCALLS	1024	/* entries of sys_call_table read */

struct vmi_linux_opts {
	const char	*vmlinux;	/* ELF image (optional) */
	const char	*system_map;	/* real System.map (optional) */
};

/* Byte offsets, all from BTF. */
struct vmi_linux_off {
	uint32_t task_tasks, task_pid, task_tgid, task_comm, task_cred,
	    task_real_cred, task_real_parent, task_mm, task_flags,
	    task_pid_links, task_group_leader;
	uint32_t pid_numbers, pid_tasks, pid_level, upid_size, upid_nr;
	uint32_t pidns_idr, pidns_level, xa_head, xa_node_shift, xa_node_slots;
	uint32_t mod_list, mod_name, mod_name_len, mod_mkobj, mod_state;
	uint32_t mkobj_kobj, mkobj_mod, kobj_entry, kobj_name, kset_list;
	uint32_t cred_uid, cred_euid;
	uint32_t uts_release, uts_release_len;
};

struct vmi_linux {
	struct vmi_mem	*mem;		/* not owned */
	struct vmem	vm;
	struct ksyms	syms;		/* running (slid) addresses */
	struct vmi_btf	*btf;
	struct vmi_linux_off off;
	int		levels;		/* 4 or 5 */
	uint64_t	slide;		/* virtual KASLR slide */
	uint64_t	text_va;	/* _text, running */
	uint64_t	text_pa;	/* its guest-physical address */
	uint64_t	page_offset_base;
	/* running addresses of what the checks use */
	uint64_t	init_task, init_pid_ns, modules, module_kset;
	uint64_t	sys_call_table, idt_table;
	uint32_t	nr_syscalls;
	uint64_t	stext, etext, start_rodata, end_rodata;
	char		release[65];	/* init_uts_ns release, e.g. 6.1.0-56-amd64 */
	char		source[32];	/* "guest-kallsyms", "vmlinux", "System.map" */
};

int vmi_linux_open(struct vmi_mem *mem, const struct vmi_linux_opts *o,
    struct vmi_linux **out, struct vouch_err *e);
void vmi_linux_close(struct vmi_linux *lx);	/* NULL ok; mem stays open */

/*
 * Point the profile at another view of the same guest (a guard's window
 * re-plugged, the target migrated: same kernel, same guest-physical
 * layout) without rebuilding it: checks that the kernel's page tables
 * still map _text to the same place, init_task is still its own parent
 * and the release string is unchanged.  VOUCH_E_STATE if not (the caller
 * then builds a new profile).  Cheap: a few page walks, no RAM scan.
 */
int vmi_linux_rebind(struct vmi_linux *lx, struct vmi_mem *mem,
    struct vouch_err *e);

/* Symbol lookup on the running kernel (0 or VOUCH_E_NOTFOUND). */
int vmi_linux_sym(const struct vmi_linux *lx, const char *name, uint64_t *va);

/* 1 if va lies in the kernel's text [_stext, _etext). */
int vmi_linux_in_text(const struct vmi_linux *lx, uint64_t va);

#endif
