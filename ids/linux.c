/*
 * linux.c - find the running Linux kernel in guest memory (see linux.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ids/linux.h"

/* A flat read-only view of guest RAM from gpa 0 for the kallsyms search. */
struct ram_view {
	const uint8_t	*p;
	size_t		len;
	uint8_t		*owned;
};

#define RAM_VIEW_MAX	(1ull << 30)	/* the kernel loads below 1 GiB here */

static int
ram_view_open(struct vmi_mem *mem, struct ram_view *v, struct vouch_err *e)
{
	uint64_t len = mem->gpa_end;
	uint64_t gpa;
	uint8_t *buf;

	memset(v, 0, sizeof(*v));
	if (len > RAM_VIEW_MAX)
		len = RAM_VIEW_MAX;
	if (len > mem->ram_size)
		len = mem->ram_size;
	len &= ~(uint64_t)(VMI_PAGE_SIZE - 1);
	if (len == 0)
		return vouch_err_set(e, VOUCH_E_NOTPRESENT, "%s: no RAM",
		    mem->desc);
	v->p = vmi_mem_map(mem, 0, (size_t)len);
	if (v->p != NULL) {
		v->len = (size_t)len;
		return 0;
	}
	/* Backends without a flat mapping: copy, absent pages read as 0. */
	if ((buf = malloc((size_t)len)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "RAM view");
	for (gpa = 0; gpa < len; gpa += VMI_PAGE_SIZE)
		if (vmi_mem_read(mem, gpa, buf + gpa, VMI_PAGE_SIZE, NULL) < 0)
			memset(buf + gpa, 0, VMI_PAGE_SIZE);
	v->p = v->owned = buf;
	v->len = (size_t)len;
	return 0;
}

static void
ram_view_close(struct ram_view *v)
{
	free(v->owned);
	memset(v, 0, sizeof(*v));
}

static int
need_sym(const struct vmi_linux *lx, const char *name, uint64_t *va,
    struct vouch_err *e)
{
	if (ksym_addr(&lx->syms, name, va) < 0)
		return vouch_err_set(e, VOUCH_E_NOTFOUND,
		    "kernel symbol %s not found (%s)", name, lx->source);
	return 0;
}

int
vmi_linux_sym(const struct vmi_linux *lx, const char *name, uint64_t *va)
{
	return ksym_addr(&lx->syms, name, va);
}

int
vmi_linux_in_text(const struct vmi_linux *lx, uint64_t va)
{
	return va >= lx->stext && va < lx->etext;
}

/*
 * Decode the kallsyms tables found at loc, then find where _text sits in
 * guest-physical memory.  The kallsyms tables do not name themselves, so
 * the anchor is the kernel's own page tables: _text is loaded at a 2 MiB
 * aligned address (x86_64's CONFIG_PHYSICAL_ALIGN is a multiple of
 * 2 MiB) no further below the tables than an image can be long; for each
 * such candidate, init_top_pgt is read at its linear offset and must map
 * _text's virtual address to exactly that candidate.  Random memory or a
 * stale image copy does not.
 */
#define KERNEL_ALIGN	0x200000ull
#define IMAGE_MAX	(256ull << 20)

static int
try_candidate(struct vmi_linux *lx, const struct ram_view *rv,
    const struct ksym_kallsyms_loc *loc, struct vouch_err *e)
{
	uint64_t pgd_va, l5va, pa, cand, lowest;
	uint32_t l5;
	int r, have_l5;

	ksym_free(&lx->syms);
	if ((r = ksym_load_kallsyms(rv->p, rv->len, loc, &lx->syms, e)) < 0)
		return r;
	snprintf(lx->source, sizeof(lx->source), "guest-kallsyms");
	if ((r = need_sym(lx, "_text", &lx->text_va, e)) < 0 ||
	    (r = need_sym(lx, "init_top_pgt", &pgd_va, e)) < 0)
		return r;
	if (pgd_va < lx->text_va || pgd_va - lx->text_va > IMAGE_MAX)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "init_top_pgt not within the kernel image");
	have_l5 = ksym_addr(&lx->syms, "__pgtable_l5_enabled", &l5va) == 0 &&
	    l5va >= lx->text_va && l5va - lx->text_va < IMAGE_MAX;
	lx->slide = lx->text_va - VMI_KERNEL_MAP_BASE;
	lowest = loc->token_table > IMAGE_MAX ? loc->token_table - IMAGE_MAX : 0;
	for (cand = loc->token_table & ~(KERNEL_ALIGN - 1);; cand -= KERNEL_ALIGN) {
		l5 = 0;
		if (have_l5)
			(void)vmi_mem_read(lx->mem, cand + (l5va - lx->text_va),
			    &l5, sizeof(l5), NULL);
		lx->levels = l5 != 0 ? 5 : 4;
		vmem_init(&lx->vm, lx->mem, cand + (pgd_va - lx->text_va),
		    lx->levels);
		if (vmem_v2p(&lx->vm, lx->text_va, &pa, NULL, NULL) == 0 &&
		    pa == cand) {
			lx->text_pa = cand;
			return 0;
		}
		if (cand < lowest + KERNEL_ALIGN)
			break;
	}
	return vouch_err_set(e, VOUCH_E_NOTFOUND,
	    "found kallsyms at guest-physical 0x%zx but no page tables there"
	    " that map _text (0x%llx) to the image", loc->token_table,
	    (unsigned long long)lx->text_va);
}

static int
locate_kernel(struct vmi_linux *lx, struct vouch_err *e)
{
	struct ram_view rv;
	struct ksym_kallsyms_loc loc;
	struct vouch_err last = VOUCH_ERR_INIT;
	size_t at = 0;
	int r, tries = 0;

	if ((r = ram_view_open(lx->mem, &rv, e)) < 0)
		return r;
	r = VOUCH_E_NOTFOUND;
	vouch_err_set(&last, r, "no kallsyms tables in guest memory (%zu MiB"
	    " searched): not a Linux 6.x guest with CONFIG_KALLSYMS?",
	    rv.len >> 20);
	while (at < rv.len && tries++ < 16) {
		struct vouch_err ce = VOUCH_ERR_INIT;

		if (ksym_find_kallsyms(rv.p + at, rv.len - at, &loc, NULL) < 0)
			break;
		loc.offsets += at;
		loc.relative_base += at;
		loc.num_syms_off += at;
		loc.names += at;
		loc.markers += at;
		loc.token_table += at;
		loc.token_index += at;
		if ((r = try_candidate(lx, &rv, &loc, &ce)) == 0)
			break;
		last = ce;
		at = loc.token_index + 1;
	}
	ram_view_close(&rv);
	if (r < 0) {
		ksym_free(&lx->syms);
		if (e != NULL)
			*e = last;
		return last.code ? last.code : r;
	}
	return 0;
}

/* Optional real System.map: replaces the names, keeps the slide. */
static int
apply_system_map(struct vmi_linux *lx, const char *path, struct vouch_err *e)
{
	struct ksyms map;
	uint8_t *text;
	size_t len, i;
	int r;

	if ((r = file_read(path, 64u << 20, &text, &len, e)) < 0)
		return r;
	memset(&map, 0, sizeof(map));
	r = ksym_load_system_map((const char *)text, len, &map, e);
	free(text);
	if (r == VOUCH_E_NOTFOUND)	/* Debian's placeholder: keep kallsyms */
		return 0;
	if (r < 0)
		return vouch_err_prefix(e, "%s", path);
	for (i = 0; i < map.n; i++)
		if (map.syms[i].addr >= 0xffffffff80000000ull)
			map.syms[i].addr += lx->slide;
	/* Sorted by address before; a constant shift keeps the order. */
	ksym_free(&lx->syms);
	lx->syms = map;
	snprintf(lx->source, sizeof(lx->source), "System.map");
	return 0;
}

static int
load_btf(struct vmi_linux *lx, const struct vmi_linux_opts *o,
    struct vouch_err *e)
{
	uint64_t start, stop;
	uint8_t *buf;
	int r;

	if (o != NULL && o->vmlinux != NULL && o->vmlinux[0] != '\0')
		return vmi_btf_load_elf(o->vmlinux, &lx->btf, e);
	if ((r = need_sym(lx, "__start_BTF", &start, e)) < 0 ||
	    (r = need_sym(lx, "__stop_BTF", &stop, e)) < 0)
		return r;
	if (stop <= start || stop - start > VMI_BTF_MAX)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "BTF [0x%llx, 0x%llx) empty or larger than %u bytes",
		    (unsigned long long)start, (unsigned long long)stop,
		    VMI_BTF_MAX);
	if ((buf = malloc((size_t)(stop - start))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "BTF");
	r = vmem_read(&lx->vm, start, buf, (size_t)(stop - start), e);
	if (r == 0)
		r = vmi_btf_load(buf, (size_t)(stop - start), &lx->btf, e);
	free(buf);
	if (r < 0)
		return vouch_err_prefix(e, "kernel BTF from guest memory");
	return 0;
}

static int
off(const struct vmi_linux *lx, const char *type, const char *path,
    uint32_t *out, struct vouch_err *e)
{
	return vmi_btf_offset(lx->btf, type, path, out, NULL, e);
}

static int
load_offsets(struct vmi_linux *lx, struct vouch_err *e)
{
	struct vmi_linux_off *o = &lx->off;
	int r;

	if ((r = off(lx, "task_struct", "tasks", &o->task_tasks, e)) < 0 ||
	    (r = off(lx, "task_struct", "pid", &o->task_pid, e)) < 0 ||
	    (r = off(lx, "task_struct", "tgid", &o->task_tgid, e)) < 0 ||
	    (r = off(lx, "task_struct", "comm", &o->task_comm, e)) < 0 ||
	    (r = off(lx, "task_struct", "cred", &o->task_cred, e)) < 0 ||
	    (r = off(lx, "task_struct", "real_cred", &o->task_real_cred, e)) < 0 ||
	    (r = off(lx, "task_struct", "real_parent", &o->task_real_parent, e)) < 0 ||
	    (r = off(lx, "task_struct", "mm", &o->task_mm, e)) < 0 ||
	    (r = off(lx, "task_struct", "flags", &o->task_flags, e)) < 0 ||
	    (r = off(lx, "task_struct", "pid_links", &o->task_pid_links, e)) < 0 ||
	    (r = off(lx, "task_struct", "group_leader", &o->task_group_leader, e)) < 0 ||
	    (r = off(lx, "pid", "numbers", &o->pid_numbers, e)) < 0 ||
	    (r = off(lx, "pid", "tasks", &o->pid_tasks, e)) < 0 ||
	    (r = off(lx, "pid", "level", &o->pid_level, e)) < 0 ||
	    (r = off(lx, "upid", "nr", &o->upid_nr, e)) < 0 ||
	    (r = vmi_btf_sizeof(lx->btf, "upid", &o->upid_size, e)) < 0 ||
	    (r = off(lx, "pid_namespace", "idr.idr_rt.xa_head", &o->pidns_idr, e)) < 0 ||
	    (r = off(lx, "pid_namespace", "level", &o->pidns_level, e)) < 0 ||
	    (r = off(lx, "xa_node", "shift", &o->xa_node_shift, e)) < 0 ||
	    (r = off(lx, "xa_node", "slots", &o->xa_node_slots, e)) < 0 ||
	    (r = off(lx, "module", "list", &o->mod_list, e)) < 0 ||
	    (r = vmi_btf_offset(lx->btf, "module", "name", &o->mod_name, &o->mod_name_len, e)) < 0 ||
	    (r = off(lx, "module", "mkobj", &o->mod_mkobj, e)) < 0 ||
	    (r = off(lx, "module", "state", &o->mod_state, e)) < 0 ||
	    (r = off(lx, "module_kobject", "kobj", &o->mkobj_kobj, e)) < 0 ||
	    (r = off(lx, "module_kobject", "mod", &o->mkobj_mod, e)) < 0 ||
	    (r = off(lx, "kobject", "entry", &o->kobj_entry, e)) < 0 ||
	    (r = off(lx, "kobject", "name", &o->kobj_name, e)) < 0 ||
	    (r = off(lx, "kset", "list", &o->kset_list, e)) < 0 ||
	    (r = off(lx, "cred", "uid", &o->cred_uid, e)) < 0 ||
	    (r = off(lx, "cred", "euid", &o->cred_euid, e)) < 0 ||
	    (r = vmi_btf_offset(lx->btf, "uts_namespace", "name.release",
	    &o->uts_release, &o->uts_release_len, e)) < 0)
		return vouch_err_prefix(e, "kernel BTF");
	if (o->uts_release_len == 0 || o->uts_release_len > 65 ||
	    o->mod_name_len == 0 || o->mod_name_len > 64 || o->upid_size == 0 ||
	    o->upid_size > 64)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "kernel BTF: implausible sizes (release %u, module name %u,"
		    " upid %u)", o->uts_release_len, o->mod_name_len,
		    o->upid_size);
	return 0;
}

static int
load_addresses(struct vmi_linux *lx, struct vouch_err *e)
{
	uint64_t uts, rp, pob;
	size_t i;
	int r;

	if ((r = need_sym(lx, "init_task", &lx->init_task, e)) < 0 ||
	    (r = need_sym(lx, "init_pid_ns", &lx->init_pid_ns, e)) < 0 ||
	    (r = need_sym(lx, "modules", &lx->modules, e)) < 0 ||
	    (r = need_sym(lx, "module_kset", &lx->module_kset, e)) < 0 ||
	    (r = need_sym(lx, "sys_call_table", &lx->sys_call_table, e)) < 0 ||
	    (r = need_sym(lx, "idt_table", &lx->idt_table, e)) < 0 ||
	    (r = need_sym(lx, "_stext", &lx->stext, e)) < 0 ||
	    (r = need_sym(lx, "_etext", &lx->etext, e)) < 0 ||
	    (r = need_sym(lx, "__start_rodata", &lx->start_rodata, e)) < 0 ||
	    (r = need_sym(lx, "__end_rodata", &lx->end_rodata, e)) < 0 ||
	    (r = need_sym(lx, "init_uts_ns", &uts, e)) < 0)
		return r;
	if (lx->etext <= lx->stext || lx->etext - lx->stext > (256u << 20) ||
	    lx->end_rodata <= lx->start_rodata ||
	    lx->end_rodata - lx->start_rodata > (256u << 20))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "implausible kernel text/rodata bounds");
	{
		uint64_t sz = ksym_size(&lx->syms, "sys_call_table") / 8;

		if (sz == 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "cannot size sys_call_table");
		lx->nr_syscalls = (uint32_t)(sz > VMI_MAX_SYSCALLS ?
		    VMI_MAX_SYSCALLS : sz);
	}
	/* The symbol's extent includes alignment padding: trailing zeros. */
	while (lx->nr_syscalls > 0) {
		uint64_t v;

		if ((r = vmem_read_u64(&lx->vm, lx->sys_call_table +
		    8ull * (lx->nr_syscalls - 1), &v, e)) < 0)
			return vouch_err_prefix(e, "sys_call_table");
		if (v != 0)
			break;
		lx->nr_syscalls--;
	}
	if (lx->nr_syscalls == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "sys_call_table is empty");
	if (ksym_addr(&lx->syms, "page_offset_base", &pob) == 0) {
		if ((r = vmem_read_u64(&lx->vm, pob, &lx->page_offset_base,
		    e)) < 0)
			return vouch_err_prefix(e, "page_offset_base");
	} else {
		lx->page_offset_base = lx->levels == 5 ?
		    0xff11000000000000ull : 0xffff888000000000ull;
	}
	/* Sanity: init_task is its own real parent. */
	if ((r = vmem_read_u64(&lx->vm, lx->init_task +
	    lx->off.task_real_parent, &rp, e)) < 0)
		return vouch_err_prefix(e, "init_task");
	if (rp != lx->init_task)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "init_task.real_parent is 0x%llx, not init_task 0x%llx:"
		    " profile does not match the guest",
		    (unsigned long long)rp, (unsigned long long)lx->init_task);
	if ((r = vmem_read(&lx->vm, uts + lx->off.uts_release, lx->release,
	    lx->off.uts_release_len, e)) < 0)
		return vouch_err_prefix(e, "init_uts_ns");
	lx->release[sizeof(lx->release) - 1] = '\0';
	if (lx->release[0] == '\0')
		return vouch_err_set(e, VOUCH_E_FORMAT, "empty kernel release");
	for (i = 0; lx->release[i] != '\0'; i++)
		if (lx->release[i] < 0x21 || lx->release[i] > 0x7e)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "kernel release is not printable");
	return 0;
}

int
vmi_linux_open(struct vmi_mem *mem, const struct vmi_linux_opts *o,
    struct vmi_linux **out, struct vouch_err *e)
{
	struct vmi_linux *lx;
	int r;

	*out = NULL;
	if (mem == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "no guest memory");
	if ((lx = calloc(1, sizeof(*lx))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "profile");
	lx->mem = mem;
	if ((r = locate_kernel(lx, e)) < 0)
		goto fail;
	if (o != NULL && o->system_map != NULL && o->system_map[0] != '\0' &&
	    (r = apply_system_map(lx, o->system_map, e)) < 0)
		goto fail;
	if ((r = load_btf(lx, o, e)) < 0 || (r = load_offsets(lx, e)) < 0 ||
	    (r = load_addresses(lx, e)) < 0)
		goto fail;
	*out = lx;
	return 0;
fail:
	vmi_linux_close(lx);
	return r;
}

int
vmi_linux_rebind(struct vmi_linux *lx, struct vmi_mem *mem,
    struct vouch_err *e)
{
	char release[sizeof(lx->release)];
	uint64_t pa, rp;
	int r;

	if (lx == NULL || mem == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "rebind: NULL argument");
	lx->mem = mem;
	vmem_init(&lx->vm, mem, lx->vm.pgd, lx->levels);
	if ((r = vmem_v2p(&lx->vm, lx->text_va, &pa, NULL, e)) < 0)
		return vouch_err_set(e, VOUCH_E_STATE, "rebind: %s", e ? e->msg : "");
	if (pa != lx->text_pa)
		return vouch_err_set(e, VOUCH_E_STATE, "rebind: _text now at"
		    " 0x%llx, was 0x%llx", (unsigned long long)pa,
		    (unsigned long long)lx->text_pa);
	if (vmem_read_u64(&lx->vm, lx->init_task + lx->off.task_real_parent,
	    &rp, NULL) < 0 || rp != lx->init_task)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "rebind: init_task does not check out");
	memset(release, 0, sizeof(release));
	{
		uint64_t uts;

		if (ksym_addr(&lx->syms, "init_uts_ns", &uts) < 0 ||
		    vmem_read(&lx->vm, uts + lx->off.uts_release, release,
		    lx->off.uts_release_len, NULL) < 0)
			return vouch_err_set(e, VOUCH_E_STATE,
			    "rebind: release unreadable");
	}
	release[sizeof(release) - 1] = '\0';
	if (strcmp(release, lx->release) != 0)
		return vouch_err_set(e, VOUCH_E_STATE, "rebind: kernel %s, was"
		    " %s", release, lx->release);
	return 0;
}

void
vmi_linux_close(struct vmi_linux *lx)
{
	if (lx == NULL)
		return;
	ksym_free(&lx->syms);
	vmi_btf_free(lx->btf);
	free(lx);
}
