/*
 * checks.c - integrity checks of a running Linux guest (see checks.h).
 *
 * Everything read here is guest data: every pointer is followed through
 * the page walk (a bad one is "not present", never a crash), every list
 * walk is bounded and cycle-checked, and a link that does not point back
 * (next->prev != cur) means the guest changed the list while we read it:
 * the walk is retried, then reported as unreadable.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "ids/checks.h"
#include "measure/pcr.h"

#define TASK_WINDOW_MAX	8192u
#define XA_CHUNK_SIZE	64u
#define XA_MAX_NODES	(1u << 16)
#define PF_EXITING	0x00000004u
#define MODULE_STATE_UNFORMED 3u

static const char *const check_names[] = {
	"processes", "hidden_processes", "syscall_table", "idt",
	"kernel_text", "modules", "shared_cred",
};

const char *
vmi_check_name(unsigned check)
{
	size_t i;

	for (i = 0; i < sizeof(check_names) / sizeof(check_names[0]); i++)
		if (check == 1u << i)
			return check_names[i];
	return "unknown";
}

unsigned
vmi_check_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(check_names) / sizeof(check_names[0]); i++)
		if (strcmp(name, check_names[i]) == 0)
			return 1u << i;
	return 0;
}

const char *
vmi_finding_type_name(enum vmi_finding_type t)
{
	switch (t) {
	case VMI_F_HIDDEN_PROCESS:	return "hidden_process";
	case VMI_F_SYSCALL_HOOK:	return "syscall_hook";
	case VMI_F_SYSCALL_OUTSIDE_TEXT: return "syscall_outside_text";
	case VMI_F_IDT_HOOK:		return "idt_hook";
	case VMI_F_IDT_OUTSIDE_TEXT:	return "idt_outside_text";
	case VMI_F_TEXT_MODIFIED:	return "text_modified";
	case VMI_F_RODATA_MODIFIED:	return "rodata_modified";
	case VMI_F_HIDDEN_MODULE:	return "hidden_module";
	case VMI_F_UNLISTED_MODULE:	return "unlisted_module";
	case VMI_F_SHARED_CRED:		return "shared_cred";
	case VMI_F_UNREADABLE:		return "unreadable";
	case VMI_F_REPAIRED:		return "repaired";
	}
	return "unknown";
}

/* --- findings -------------------------------------------------------- */

int
vmi_findings_add(struct vmi_findings *f, const struct vmi_finding *x)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct vmi_finding *v;

		if (cap > 65536)
			return VOUCH_E_LIMIT;
		if ((v = realloc(f->v, cap * sizeof(*v))) == NULL)
			return VOUCH_E_NOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = *x;
	return 0;
}

void
vmi_findings_reset(struct vmi_findings *f)
{
	f->n = 0;
}

void
vmi_findings_free(struct vmi_findings *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static void add(struct vmi_findings *f, enum vmi_finding_type type,
    unsigned check, int critical, int64_t index, int32_t pid, uint64_t addr,
    uint64_t expected, uint64_t actual, const char *fmt, ...)
    __attribute__((format(printf, 10, 11)));

static void
add(struct vmi_findings *f, enum vmi_finding_type type, unsigned check,
    int critical, int64_t index, int32_t pid, uint64_t addr,
    uint64_t expected, uint64_t actual, const char *fmt, ...)
{
	struct vmi_finding x;
	va_list ap;

	memset(&x, 0, sizeof(x));
	x.type = type;
	x.check = check;
	x.critical = critical;
	x.index = index;
	x.pid = pid;
	x.addr = addr;
	x.expected = expected;
	x.actual = actual;
	va_start(ap, fmt);
	vsnprintf(x.detail, sizeof(x.detail), fmt, ap);
	va_end(ap);
	(void)vmi_findings_add(f, &x);	/* beyond 64k findings: dropped */
}

/* --- a set of guest addresses (cycle detection, cross-views) ---------- */

struct aset {
	uint64_t	*v;
	size_t		cap, n;	/* cap: power of two */
};

static int
aset_init(struct aset *s, size_t want)
{
	size_t cap = 64;

	while (cap < want * 2)
		cap <<= 1;
	s->v = calloc(cap, sizeof(*s->v));
	s->cap = cap;
	s->n = 0;
	return s->v ? 0 : VOUCH_E_NOMEM;
}

static void
aset_free(struct aset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static size_t
aset_slot(const struct aset *s, uint64_t a)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 20) & (s->cap - 1);
}

static int
aset_grow(struct aset *s)
{
	struct aset n;
	size_t i;

	if (aset_init(&n, s->cap) < 0)	/* twice the slots */
		return -1;
	for (i = 0; i < s->cap; i++) {
		size_t j;

		if (s->v[i] == 0)
			continue;
		for (j = aset_slot(&n, s->v[i]); n.v[j] != 0; j = (j + 1) & (n.cap - 1))
			;
		n.v[j] = s->v[i];
		n.n++;
	}
	free(s->v);
	*s = n;
	return 0;
}

/* 1 if present, else inserts (growing); -1 out of memory.  0 never stored. */
static int
aset_add(struct aset *s, uint64_t a)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap && aset_grow(s) < 0)
		return -1;
	i = aset_slot(s, a);
	while (s->v[i] != 0) {
		if (s->v[i] == a)
			return 1;
		i = (i + 1) & (s->cap - 1);
	}
	s->v[i] = a;
	s->n++;
	return 0;
}

static int
aset_has(const struct aset *s, uint64_t a)
{
	size_t i = aset_slot(s, a);

	while (s->v[i] != 0) {
		if (s->v[i] == a)
			return 1;
		i = (i + 1) & (s->cap - 1);
	}
	return 0;
}

/* --- reading tasks ---------------------------------------------------- */

struct task_win {
	uint32_t lo, len;
};

static int
task_window(const struct vmi_linux *lx, struct task_win *w,
    struct vouch_err *e)
{
	const struct vmi_linux_off *o = &lx->off;
	const uint32_t f[][2] = {
		{ o->task_tasks, 16 }, { o->task_pid, 4 }, { o->task_tgid, 4 },
		{ o->task_comm, VMI_COMM_LEN }, { o->task_cred, 8 },
		{ o->task_real_cred, 8 }, { o->task_real_parent, 8 },
		{ o->task_mm, 8 }, { o->task_flags, 4 },
	};
	uint32_t lo = UINT32_MAX, hi = 0;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i][0] < lo)
			lo = f[i][0];
		if (f[i][0] + f[i][1] > hi)
			hi = f[i][0] + f[i][1];
	}
	if (hi - lo > TASK_WINDOW_MAX)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "task_struct fields span %u bytes", hi - lo);
	w->lo = lo;
	w->len = hi - lo;
	return 0;
}

/*
 * Read one task_struct: *next and *prev get its tasks links.  want_ids: also
 * follow real_parent and cred for ppid/uid (two more small reads).
 */
static int
read_task(struct vmi_linux *lx, const struct task_win *w, uint64_t task,
    struct vmi_task *t, uint64_t *next, uint64_t *prev, int want_ids,
    uint64_t *bytes, struct vouch_err *e)
{
	const struct vmi_linux_off *o = &lx->off;
	uint8_t buf[TASK_WINDOW_MAX];
	uint64_t rp;
	uint32_t ids[2];
	int r;

	if ((r = vmem_read(&lx->vm, task + w->lo, buf, w->len, e)) < 0)
		return r;
	*bytes += w->len;
#define F(off) (buf + ((off) - w->lo))
	memset(t, 0, sizeof(*t));
	t->addr = task;
	*next = vmi_le64(F(o->task_tasks));
	*prev = vmi_le64(F(o->task_tasks + 8));
	t->pid = (int32_t)vmi_le32(F(o->task_pid));
	t->tgid = (int32_t)vmi_le32(F(o->task_tgid));
	memcpy(t->comm, F(o->task_comm), VMI_COMM_LEN);
	t->comm[VMI_COMM_LEN - 1] = '\0';
	t->cred = vmi_le64(F(o->task_cred));
	t->real_cred = vmi_le64(F(o->task_real_cred));
	t->mm = vmi_le64(F(o->task_mm));
	t->flags = vmi_le32(F(o->task_flags));
	rp = vmi_le64(F(o->task_real_parent));
#undef F
	t->ppid = -1;
	if (!want_ids)
		return 0;
	if (rp == task)
		t->ppid = t->pid;
	else if (rp != 0 && vmem_read_u32(&lx->vm, rp + o->task_tgid,
	    (uint32_t *)&t->ppid, NULL) == 0)
		*bytes += 4;
	if (t->cred != 0 && vmem_read(&lx->vm, t->cred + o->cred_uid, &ids[0],
	    4, NULL) == 0 && vmem_read(&lx->vm, t->cred + o->cred_euid,
	    &ids[1], 4, NULL) == 0) {
		t->uid = ids[0];
		t->euid = ids[1];
		*bytes += 8;
	}
	return 0;
}

struct task_vec {
	struct vmi_task	*v;
	size_t		n, cap;
};

static int
tv_push(struct task_vec *tv, const struct vmi_task *t)
{
	if (tv->n == tv->cap) {
		size_t cap = tv->cap ? tv->cap * 2 : 128;
		struct vmi_task *v;

		if (tv->cap >= VMI_MAX_TASKS)
			return VOUCH_E_LIMIT;
		if ((v = realloc(tv->v, cap * sizeof(*v))) == NULL)
			return VOUCH_E_NOMEM;
		tv->v = v;
		tv->cap = cap;
	}
	tv->v[tv->n++] = *t;
	return 0;
}

/* One pass over init_task.tasks; VOUCH_E_STATE if the list moved. */
static int
walk_tasks_once(struct vmi_linux *lx, const struct task_win *w,
    struct task_vec *tv, struct aset *seen, int want_ids, uint64_t *bytes,
    struct vouch_err *e)
{
	uint64_t head = lx->init_task + lx->off.task_tasks;
	uint64_t cur = lx->init_task, expect_prev = 0, next, prev;
	struct vmi_task t;
	int r;

	for (;;) {
		if ((r = read_task(lx, w, cur, &t, &next, &prev, want_ids,
		    bytes, e)) < 0)
			return r == VOUCH_E_NOTPRESENT ? VOUCH_E_STATE : r;
		if (expect_prev != 0 && prev != expect_prev)
			return vouch_err_set(e, VOUCH_E_STATE,
			    "task 0x%llx: tasks.prev does not point back",
			    (unsigned long long)cur);
		if ((r = aset_add(seen, cur)) != 0)
			return vouch_err_set(e, r < 0 ? VOUCH_E_LIMIT :
			    VOUCH_E_STATE, "task list %s at 0x%llx",
			    r < 0 ? "too long" : "has a cycle",
			    (unsigned long long)cur);
		if ((r = tv_push(tv, &t)) < 0)
			return vouch_err_set(e, r, "more than %u tasks",
			    VMI_MAX_TASKS);
		if (next == head)
			return 0;
		if (next < lx->off.task_tasks)
			return vouch_err_set(e, VOUCH_E_STATE, "null task link");
		expect_prev = cur + lx->off.task_tasks;
		cur = next - lx->off.task_tasks;
	}
}

static int
walk_tasks(struct vmi_linux *lx, struct task_vec *tv, int want_ids,
    uint64_t *bytes, struct vouch_err *e)
{
	struct task_win w;
	struct aset seen;
	int r, i;

	if ((r = task_window(lx, &w, e)) < 0)
		return r;
	if (aset_init(&seen, 256) < 0)
		return vouch_err_set(e, VOUCH_E_NOMEM, "task set");
	for (i = 0; i <= VMI_TORN_RETRIES; i++) {
		tv->n = 0;
		memset(seen.v, 0, seen.cap * sizeof(*seen.v));
		seen.n = 0;
		r = walk_tasks_once(lx, &w, tv, &seen, want_ids, bytes, e);
		if (r != VOUCH_E_STATE)
			break;
	}
	aset_free(&seen);
	if (r == VOUCH_E_STATE)
		vouch_err_prefix(e, "task list inconsistent on %d reads",
		    VMI_TORN_RETRIES + 1);
	return r;
}

int
vmi_tasks(struct vmi_linux *lx, struct vmi_task **out, size_t *n,
    struct vouch_err *e)
{
	struct task_vec tv = { NULL, 0, 0 };
	uint64_t bytes = 0;
	int r;

	*out = NULL;
	*n = 0;
	vmem_flush(&lx->vm);
	if ((r = walk_tasks(lx, &tv, 1, &bytes, e)) < 0) {
		free(tv.v);
		return r;
	}
	*out = tv.v;
	*n = tv.n;
	return 0;
}

/* --- the PID IDR (an xarray of struct pid *) --------------------------- */

static int
walk_pid_idr(struct vmi_linux *lx, struct task_vec *tv, int want_ids,
    uint64_t *bytes, struct vouch_err *e)
{
	const struct vmi_linux_off *o = &lx->off;
	struct task_win w;
	struct aset nodes;
	struct { uint64_t entry; int shift; } stack[64 * 8];
	size_t sp = 0, visited = 0;
	uint64_t head;
	int r;

	if ((r = task_window(lx, &w, e)) < 0)
		return r;
	if ((r = vmem_read_u64(&lx->vm, lx->init_pid_ns + o->pidns_idr, &head,
	    e)) < 0)
		return vouch_err_prefix(e, "init_pid_ns.idr");
	if (aset_init(&nodes, 64) < 0)
		return vouch_err_set(e, VOUCH_E_NOMEM, "node set");
	stack[sp].entry = head;
	stack[sp++].shift = 64;
	r = 0;
	while (sp > 0 && r == 0) {
		uint64_t entry = stack[--sp].entry;
		int pshift = stack[sp].shift;

		if (entry == 0)
			continue;
		if ((entry & 3) == 2) {		/* internal entry */
			uint64_t node = entry - 2, slots[XA_CHUNK_SIZE];
			uint8_t shift;
			size_t i;

			if (entry <= 4096)	/* sibling, retry, zero */
				continue;
			if (++visited > XA_MAX_NODES || aset_add(&nodes, node))
				r = vouch_err_set(e, VOUCH_E_STATE,
				    "PID IDR: node 0x%llx repeats or too many"
				    " nodes", (unsigned long long)node);
			else if ((r = vmem_read(&lx->vm, node + o->xa_node_shift,
			    &shift, 1, e)) < 0 ||
			    (r = vmem_read(&lx->vm, node + o->xa_node_slots,
			    slots, sizeof(slots), e)) < 0)
				r = VOUCH_E_STATE;
			else if (shift % 6 != 0 || (int)shift >= pshift)
				r = vouch_err_set(e, VOUCH_E_STATE,
				    "PID IDR: node 0x%llx has shift %u under %d",
				    (unsigned long long)node, shift, pshift);
			else {
				*bytes += 1 + sizeof(slots);
				for (i = XA_CHUNK_SIZE; i-- > 0 && r == 0;) {
					if (slots[i] == 0)
						continue;
					if (sp == sizeof(stack) / sizeof(stack[0]))
						r = vouch_err_set(e,
						    VOUCH_E_LIMIT, "PID IDR too deep");
					else {
						stack[sp].entry = slots[i];
						stack[sp++].shift = shift;
					}
				}
			}
			continue;
		}
		if ((entry & 3) != 0)		/* value entry: not a pid */
			continue;
		{
			uint64_t first, next, prev;
			struct vmi_task t;

			if (vmem_read_u64(&lx->vm, entry + o->pid_tasks,
			    &first, NULL) < 0 || first == 0)
				continue;	/* no task for this pid */
			*bytes += 8;
			if (first < o->task_pid_links)
				continue;
			if (read_task(lx, &w, first - o->task_pid_links, &t,
			    &next, &prev, want_ids, bytes, NULL) < 0)
				continue;
			if (tv_push(tv, &t) < 0)
				r = vouch_err_set(e, VOUCH_E_LIMIT,
				    "more than %u pids", VMI_MAX_TASKS);
		}
	}
	aset_free(&nodes);
	return r;
}

int
vmi_pid_tasks(struct vmi_linux *lx, struct vmi_task **out, size_t *n,
    struct vouch_err *e)
{
	struct task_vec tv = { NULL, 0, 0 };
	uint64_t bytes = 0;
	int r;

	*out = NULL;
	*n = 0;
	vmem_flush(&lx->vm);
	if ((r = walk_pid_idr(lx, &tv, 1, &bytes, e)) < 0) {
		free(tv.v);
		return r;
	}
	*out = tv.v;
	*n = tv.n;
	return 0;
}

/* Leaders in the IDR that are missing from the task list. */
static int
hidden_candidates(const struct task_vec *list, const struct task_vec *idr,
    struct aset *hidden)
{
	struct aset in_list;
	size_t i;

	if (aset_init(&in_list, list->n + 1) < 0)
		return VOUCH_E_NOMEM;
	for (i = 0; i < list->n; i++)
		(void)aset_add(&in_list, list->v[i].addr);
	for (i = 0; i < idr->n; i++) {
		const struct vmi_task *t = &idr->v[i];

		if (t->pid != t->tgid || t->pid <= 0 ||
		    (t->flags & PF_EXITING) != 0)
			continue;
		if (!aset_has(&in_list, t->addr))
			(void)aset_add(hidden, t->addr);
	}
	aset_free(&in_list);
	return 0;
}

static int
check_hidden(struct vmi_linux *lx, const struct task_vec *list,
    struct vmi_findings *f, uint64_t *bytes, struct vouch_err *e)
{
	struct task_vec idr = { NULL, 0, 0 }, list2 = { NULL, 0, 0 },
	    idr2 = { NULL, 0, 0 };
	struct aset h1, h2;
	size_t i;
	int r;

	memset(&h1, 0, sizeof(h1));
	memset(&h2, 0, sizeof(h2));
	if ((r = walk_pid_idr(lx, &idr, 0, bytes, e)) < 0)
		goto out;
	if ((r = aset_init(&h1, idr.n + 1)) < 0 ||
	    (r = hidden_candidates(list, &idr, &h1)) < 0)
		goto out;
	if (h1.n == 0)
		goto out;
	/* Confirm with a second read of both views: tasks come and go. */
	if ((r = walk_tasks(lx, &list2, 0, bytes, e)) < 0 ||
	    (r = walk_pid_idr(lx, &idr2, 0, bytes, e)) < 0)
		goto out;
	if ((r = aset_init(&h2, idr2.n + 1)) < 0 ||
	    (r = hidden_candidates(&list2, &idr2, &h2)) < 0)
		goto out;
	for (i = 0; i < idr2.n; i++) {
		const struct vmi_task *t = &idr2.v[i];

		if (!aset_has(&h2, t->addr) || !aset_has(&h1, t->addr))
			continue;
		add(f, VMI_F_HIDDEN_PROCESS, VMI_CHECK_HIDDEN, 1, -1, t->pid,
		    t->addr, 0, 0, "pid %d (%s) is in the PID table but not on"
		    " the task list", t->pid, t->comm);
	}
out:
	free(idr.v);
	free(list2.v);
	free(idr2.v);
	aset_free(&h1);
	aset_free(&h2);
	if (r == VOUCH_E_NOMEM)
		vouch_err_set(e, r, "hidden-process check");
	return r;
}

int
vmi_check_hidden_processes(struct vmi_linux *lx, struct vmi_findings *f,
    struct vouch_err *e)
{
	struct task_vec list = { NULL, 0, 0 };
	uint64_t bytes = 0;
	int r;

	vmem_flush(&lx->vm);
	if ((r = walk_tasks(lx, &list, 0, &bytes, e)) == 0)
		r = check_hidden(lx, &list, f, &bytes, e);
	free(list.v);
	return r;
}

/* --- two thread groups, one cred -------------------------------------- */

static int
check_creds(const struct task_vec *list, struct vmi_findings *f)
{
	struct cred_ref { uint64_t cred; size_t who; } *idx;
	size_t i, j, n = 0;

	if ((idx = malloc((list->n * 2 + 1) * sizeof(*idx))) == NULL)
		return VOUCH_E_NOMEM;
	for (i = 0; i < list->n; i++) {
		idx[n].cred = list->v[i].cred;
		idx[n++].who = i;
		if (list->v[i].real_cred != list->v[i].cred) {
			idx[n].cred = list->v[i].real_cred;
			idx[n++].who = i;
		}
	}
	/* Insertion sort by cred: n is the number of processes. */
	for (i = 1; i < n; i++) {
		struct cred_ref k = idx[i];

		for (j = i; j > 0 && idx[j - 1].cred > k.cred; j--)
			idx[j] = idx[j - 1];
		idx[j] = k;
	}
	for (i = 1; i < n; i++) {
		const struct vmi_task *a = &list->v[idx[i - 1].who];
		const struct vmi_task *b = &list->v[idx[i].who];

		if (idx[i].cred == 0 || idx[i].cred != idx[i - 1].cred ||
		    a->tgid == b->tgid)
			continue;
		add(f, VMI_F_SHARED_CRED, VMI_CHECK_CREDS, 1, -1, b->pid,
		    idx[i].cred, (uint64_t)a->pid, (uint64_t)b->pid,
		    "pid %d (%s) and pid %d (%s) share cred 0x%llx",
		    a->pid, a->comm, b->pid, b->comm,
		    (unsigned long long)idx[i].cred);
	}
	free(idx);
	return 0;
}

int
vmi_check_shared_cred(struct vmi_linux *lx, struct vmi_findings *f,
    struct vouch_err *e)
{
	struct task_vec list = { NULL, 0, 0 };
	uint64_t bytes = 0;
	int r;

	vmem_flush(&lx->vm);
	if ((r = walk_tasks(lx, &list, 0, &bytes, e)) == 0 &&
	    (r = check_creds(&list, f)) < 0)
		vouch_err_set(e, r, "shared-cred check");
	free(list.v);
	return r;
}

/* --- syscall table and IDT -------------------------------------------- */

static int
read_syscalls(struct vmi_linux *lx, uint64_t *tab, uint64_t *bytes,
    struct vouch_err *e)
{
	int r;

	if ((r = vmem_read(&lx->vm, lx->sys_call_table, tab,
	    (size_t)lx->nr_syscalls * 8, e)) < 0)
		return vouch_err_prefix(e, "sys_call_table");
	*bytes += (uint64_t)lx->nr_syscalls * 8;
	return 0;
}

static int
read_idt(struct vmi_linux *lx, uint64_t *handlers, uint64_t *bytes,
    struct vouch_err *e)
{
	uint8_t raw[VMI_IDT_ENTRIES * 16];
	size_t i;
	int r;

	if ((r = vmem_read(&lx->vm, lx->idt_table, raw, sizeof(raw), e)) < 0)
		return vouch_err_prefix(e, "idt_table");
	*bytes += sizeof(raw);
	for (i = 0; i < VMI_IDT_ENTRIES; i++) {
		const uint8_t *g = raw + i * 16;
		uint16_t lo, mid, bits;
		uint32_t hi;

		memcpy(&lo, g, 2);
		memcpy(&bits, g + 4, 2);
		memcpy(&mid, g + 6, 2);
		memcpy(&hi, g + 8, 4);
		handlers[i] = (bits & 0x8000u) == 0 ? 0 :
		    (uint64_t)lo | (uint64_t)mid << 16 | (uint64_t)hi << 32;
	}
	return 0;
}

static const char *
symname(const struct vmi_linux *lx, uint64_t va, char *buf, size_t cap)
{
	uint64_t o;
	const char *n = ksym_name_at(&lx->syms, va, &o);

	if (n == NULL)
		snprintf(buf, cap, "0x%llx", (unsigned long long)va);
	else if (o == 0)
		snprintf(buf, cap, "%s", n);
	else
		snprintf(buf, cap, "%s+0x%llx", n, (unsigned long long)o);
	return buf;
}

static int
check_syscalls(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, uint64_t *bytes, struct vouch_err *e)
{
	uint64_t tab[VMI_MAX_SYSCALLS];
	char s1[96], s2[96];
	uint32_t i;
	int r;

	if ((r = read_syscalls(lx, tab, bytes, e)) < 0)
		return r;
	for (i = 0; i < lx->nr_syscalls; i++) {
		if (b != NULL && i < b->nr_syscalls && tab[i] != b->syscalls[i])
			add(f, VMI_F_SYSCALL_HOOK, VMI_CHECK_SYSCALLS, 1, i, -1,
			    lx->sys_call_table + 8ull * i, b->syscalls[i],
			    tab[i], "sys_call_table[%u] is %s, baseline %s", i,
			    symname(lx, tab[i], s1, sizeof(s1)),
			    symname(lx, b->syscalls[i], s2, sizeof(s2)));
		if (!vmi_linux_in_text(lx, tab[i]))
			add(f, VMI_F_SYSCALL_OUTSIDE_TEXT, VMI_CHECK_SYSCALLS,
			    1, i, -1, lx->sys_call_table + 8ull * i, 0, tab[i],
			    "sys_call_table[%u] = 0x%llx is outside kernel text",
			    i, (unsigned long long)tab[i]);
	}
	return 0;
}

int
vmi_check_syscalls(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e)
{
	uint64_t bytes = 0;

	vmem_flush(&lx->vm);
	return check_syscalls(lx, b, f, &bytes, e);
}

static int
check_idt(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, uint64_t *bytes, struct vouch_err *e)
{
	uint64_t h[VMI_IDT_ENTRIES];
	char s1[96], s2[96];
	int r, i;

	if ((r = read_idt(lx, h, bytes, e)) < 0)
		return r;
	for (i = 0; i < VMI_IDT_ENTRIES; i++) {
		if (b != NULL && h[i] != b->idt[i])
			add(f, VMI_F_IDT_HOOK, VMI_CHECK_IDT, 1, i, -1,
			    lx->idt_table + 16ull * (unsigned)i, b->idt[i],
			    h[i], "IDT vector %d is %s, baseline %s", i,
			    symname(lx, h[i], s1, sizeof(s1)),
			    symname(lx, b->idt[i], s2, sizeof(s2)));
		/*
		 * Outside text only counts for handlers the baseline does not
		 * hold: Linux 6.1 leaves the reserved vectors 20-31 on its
		 * early handlers in .init.text, which a baseline records.
		 */
		if (h[i] != 0 && !vmi_linux_in_text(lx, h[i]) &&
		    (b == NULL || h[i] != b->idt[i]))
			add(f, VMI_F_IDT_OUTSIDE_TEXT, VMI_CHECK_IDT, 1, i, -1,
			    lx->idt_table + 16ull * (unsigned)i, 0, h[i],
			    "IDT vector %d = 0x%llx is outside kernel text", i,
			    (unsigned long long)h[i]);
	}
	return 0;
}

int
vmi_check_idt(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e)
{
	uint64_t bytes = 0;

	vmem_flush(&lx->vm);
	return check_idt(lx, b, f, &bytes, e);
}

/* --- kernel text and rodata ------------------------------------------- */

/* Pointer to the 4 KiB guest page at va: zero-copy if possible. */
static const uint8_t *
page_at(struct vmi_linux *lx, uint64_t va, uint8_t *tmp, struct vouch_err *e)
{
	uint64_t pa;
	const uint8_t *p;

	if (vmem_v2p(&lx->vm, va, &pa, NULL, e) < 0)
		return NULL;
	if ((p = vmi_mem_map(lx->mem, pa, VMI_PAGE_SIZE)) != NULL)
		return p;
	if (vmi_mem_read(lx->mem, pa, tmp, VMI_PAGE_SIZE, e) < 0)
		return NULL;
	return tmp;
}

static void
section_bounds(uint64_t start, uint64_t end, uint64_t *s, uint64_t *en,
    size_t *pages)
{
	*s = start & ~(uint64_t)(VMI_PAGE_SIZE - 1);
	*en = (end + VMI_PAGE_SIZE - 1) & ~(uint64_t)(VMI_PAGE_SIZE - 1);
	*pages = (size_t)((*en - *s) / VMI_PAGE_SIZE);
}

/*
 * Compare one section with its baseline.  copy: fast memcmp path (pages
 * that differ are hashed to decide); without it every page is hashed.
 */
static int
check_pages(struct vmi_linux *lx, uint64_t start, size_t first, size_t count,
    const uint8_t (*hash)[VMI_HASH_LEN], const uint8_t *copy, int is_text,
    struct vmi_findings *f, uint64_t *bytes, struct vouch_err *e)
{
	uint8_t tmp[VMI_PAGE_SIZE], h[VMI_HASH_LEN];
	const uint8_t *p;
	size_t i, j;
	int r;

	for (i = first; i < first + count; i++) {
		uint64_t va = start + i * VMI_PAGE_SIZE;

		if ((p = page_at(lx, va, tmp, e)) == NULL)
			return vouch_err_prefix(e, "%s page 0x%llx",
			    is_text ? "text" : "rodata",
			    (unsigned long long)va);
		*bytes += VMI_PAGE_SIZE;
		if (copy != NULL &&
		    memcmp(p, copy + i * VMI_PAGE_SIZE, VMI_PAGE_SIZE) == 0)
			continue;
		if ((r = pcr_hash(PCR_ALG_SHA256, p, VMI_PAGE_SIZE, h, e)) < 0)
			return r;
		if (memcmp(h, hash[i], VMI_HASH_LEN) == 0)
			continue;
		j = 0;
		if (copy != NULL)
			while (j < VMI_PAGE_SIZE &&
			    p[j] == copy[i * VMI_PAGE_SIZE + j])
				j++;
		{
			char s[96];
			uint64_t at = va + (j < VMI_PAGE_SIZE ? j : 0);

			add(f, is_text ? VMI_F_TEXT_MODIFIED :
			    VMI_F_RODATA_MODIFIED, VMI_CHECK_TEXT, 1,
			    (int64_t)i, -1, at, 0, 0, "kernel %s page %zu (%s)"
			    " differs from the baseline", is_text ? ".text" :
			    ".rodata", i, symname(lx, at, s, sizeof(s)));
		}
	}
	return 0;
}

/*
 * Compare one section with its baseline.  With the copy: one memcmp per
 * contiguous guest mapping (2 MiB pages for kernel text), and only a
 * mapping that differs is looked at page by page and hashed.  Without
 * it (just after a load) every page is hashed.
 */
static int
check_section(struct vmi_linux *lx, uint64_t start, size_t pages,
    const uint8_t (*hash)[VMI_HASH_LEN], const uint8_t *copy, int is_text,
    struct vmi_findings *f, uint64_t *bytes, struct vouch_err *e)
{
	size_t i = 0, run;
	uint64_t pa, psize, va;
	const uint8_t *p;

	if (copy == NULL)
		return check_pages(lx, start, 0, pages, hash, NULL, is_text, f,
		    bytes, e);
	while (i < pages) {
		va = start + i * VMI_PAGE_SIZE;
		if (vmem_v2p(&lx->vm, va, &pa, &psize, e) < 0)
			return vouch_err_prefix(e, "%s page 0x%llx",
			    is_text ? "text" : "rodata",
			    (unsigned long long)va);
		run = (size_t)((psize - (va & (psize - 1))) / VMI_PAGE_SIZE);
		if (run == 0)
			run = 1;
		if (run > pages - i)
			run = pages - i;
		p = vmi_mem_map(lx->mem, pa, run * VMI_PAGE_SIZE);
		if (p != NULL && memcmp(p, copy + i * VMI_PAGE_SIZE,
		    run * VMI_PAGE_SIZE) == 0) {
			*bytes += run * VMI_PAGE_SIZE;
		} else {
			int r = check_pages(lx, start, i, run, hash, copy,
			    is_text, f, bytes, e);

			if (r < 0)
				return r;
		}
		i += run;
	}
	return 0;
}

static int
check_text(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, uint64_t *bytes, struct vouch_err *e)
{
	int r;

	if (b == NULL || b->text_hash == NULL || b->rodata_hash == NULL)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "kernel text check needs a baseline");
	if ((r = check_section(lx, b->text_start, b->text_pages,
	    (const uint8_t (*)[VMI_HASH_LEN])b->text_hash, b->text_copy, 1,
	    f, bytes, e)) < 0)
		return r;
	return check_section(lx, b->rodata_start, b->rodata_pages,
	    (const uint8_t (*)[VMI_HASH_LEN])b->rodata_hash, b->rodata_copy, 0,
	    f, bytes, e);
}

int
vmi_check_text(struct vmi_linux *lx, const struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e)
{
	uint64_t bytes = 0;

	vmem_flush(&lx->vm);
	return check_text(lx, b, f, &bytes, e);
}

/* Hash (and copy) every page of one section. */
static int
take_section(struct vmi_linux *lx, uint64_t start, size_t pages,
    uint8_t (**hash)[VMI_HASH_LEN], uint8_t **copy, struct vouch_err *e)
{
	uint8_t tmp[VMI_PAGE_SIZE];
	const uint8_t *p;
	size_t i;
	int r;

	*hash = calloc(pages ? pages : 1, VMI_HASH_LEN);
	*copy = malloc(pages ? pages * VMI_PAGE_SIZE : 1);
	if (*hash == NULL || *copy == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "baseline");
	for (i = 0; i < pages; i++) {
		uint64_t va = start + i * VMI_PAGE_SIZE;

		if ((p = page_at(lx, va, tmp, e)) == NULL)
			return vouch_err_prefix(e, "page 0x%llx",
			    (unsigned long long)va);
		memcpy(*copy + i * VMI_PAGE_SIZE, p, VMI_PAGE_SIZE);
		if ((r = pcr_hash(PCR_ALG_SHA256, *copy + i * VMI_PAGE_SIZE,
		    VMI_PAGE_SIZE, (*hash)[i], e)) < 0)
			return r;
	}
	return 0;
}

int
vmi_baseline_take(struct vmi_linux *lx, struct vmi_baseline *b,
    struct vouch_err *e)
{
	uint64_t bytes = 0;
	int r;

	memset(b, 0, sizeof(*b));
	vmem_flush(&lx->vm);
	snprintf(b->release, sizeof(b->release), "%s", lx->release);
	b->slide = lx->slide;
	b->nr_syscalls = lx->nr_syscalls;
	if ((r = read_syscalls(lx, b->syscalls, &bytes, e)) < 0 ||
	    (r = read_idt(lx, b->idt, &bytes, e)) < 0)
		goto fail;
	section_bounds(lx->stext, lx->etext, &b->text_start, &b->text_end,
	    &b->text_pages);
	section_bounds(lx->start_rodata, lx->end_rodata, &b->rodata_start,
	    &b->rodata_end, &b->rodata_pages);
	if ((r = take_section(lx, b->text_start, b->text_pages, &b->text_hash,
	    &b->text_copy, e)) < 0 ||
	    (r = take_section(lx, b->rodata_start, b->rodata_pages,
	    &b->rodata_hash, &b->rodata_copy, e)) < 0)
		goto fail;
	return 0;
fail:
	vmi_baseline_free(b);
	return r;
}

int
vmi_baseline_verify(struct vmi_linux *lx, struct vmi_baseline *b,
    struct vmi_findings *f, struct vouch_err *e)
{
	uint8_t (*th)[VMI_HASH_LEN] = NULL, (*rh)[VMI_HASH_LEN] = NULL;
	uint8_t *tc = NULL, *rc = NULL;
	size_t before = f->n, tp, rp;
	uint64_t s, en, bytes = 0;
	int r;

	if (b->text_hash == NULL || b->rodata_hash == NULL)
		return vouch_err_set(e, VOUCH_E_STATE, "baseline has no hashes");
	if (strcmp(b->release, lx->release) != 0)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "baseline is for kernel %s, guest runs %s", b->release,
		    lx->release);
	section_bounds(lx->stext, lx->etext, &s, &en, &tp);
	if (s != b->text_start || tp != b->text_pages)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "kernel text moved: baseline [0x%llx, +%zu pages), guest"
		    " [0x%llx, +%zu pages)", (unsigned long long)b->text_start,
		    b->text_pages, (unsigned long long)s, tp);
	section_bounds(lx->start_rodata, lx->end_rodata, &s, &en, &rp);
	if (s != b->rodata_start || rp != b->rodata_pages)
		return vouch_err_set(e, VOUCH_E_STATE, "kernel rodata moved");
	vmem_flush(&lx->vm);
	if ((r = check_section(lx, b->text_start, b->text_pages,
	    (const uint8_t (*)[VMI_HASH_LEN])b->text_hash, NULL, 1, f, &bytes,
	    e)) < 0 ||
	    (r = check_section(lx, b->rodata_start, b->rodata_pages,
	    (const uint8_t (*)[VMI_HASH_LEN])b->rodata_hash, NULL, 0, f,
	    &bytes, e)) < 0)
		return r;
	if (f->n != before)
		return 0;
	/* All pages match: keep copies for the fast periodic compare. */
	if ((r = take_section(lx, b->text_start, b->text_pages, &th, &tc,
	    e)) < 0 || (r = take_section(lx, b->rodata_start, b->rodata_pages,
	    &rh, &rc, e)) < 0) {
		free(th); free(tc); free(rh); free(rc);
		return r;
	}
	free(th);
	free(rh);
	free(b->text_copy);
	free(b->rodata_copy);
	b->text_copy = tc;
	b->rodata_copy = rc;
	return 0;
}

void
vmi_baseline_free(struct vmi_baseline *b)
{
	if (b == NULL)
		return;
	free(b->text_hash);
	free(b->rodata_hash);
	free(b->text_copy);
	free(b->rodata_copy);
	b->text_hash = b->rodata_hash = NULL;
	b->text_copy = b->rodata_copy = NULL;
}

/* --- modules ----------------------------------------------------------- */

struct mod_vec {
	struct vmi_module *v;
	size_t		n, cap;
};

static int
mv_push(struct mod_vec *mv, const struct vmi_module *m)
{
	if (mv->n == mv->cap) {
		size_t cap = mv->cap ? mv->cap * 2 : 32;
		struct vmi_module *v;

		if (mv->cap >= VMI_MAX_MODULES)
			return VOUCH_E_LIMIT;
		if ((v = realloc(mv->v, cap * sizeof(*v))) == NULL)
			return VOUCH_E_NOMEM;
		mv->v = v;
		mv->cap = cap;
	}
	mv->v[mv->n++] = *m;
	return 0;
}

/*
 * Walk a list_head ring from head, calling each entry's address back.
 * Bounded, cycle- and back-link-checked.
 */
static int
walk_ring(struct vmi_linux *lx, uint64_t head, size_t max,
    int (*cb)(struct vmi_linux *, uint64_t, void *), void *arg,
    uint64_t *bytes, struct vouch_err *e)
{
	uint64_t links[2], cur = head, prev = head;
	struct aset seen;
	size_t n = 0;
	int r = 0;

	if (aset_init(&seen, 64) < 0)
		return vouch_err_set(e, VOUCH_E_NOMEM, "list walk");
	for (;;) {
		if ((r = vmem_read(&lx->vm, cur, links, sizeof(links), e)) < 0) {
			r = VOUCH_E_STATE;
			break;
		}
		*bytes += sizeof(links);
		if (cur != head && links[1] != prev) {
			r = vouch_err_set(e, VOUCH_E_STATE,
			    "list entry 0x%llx: prev does not point back",
			    (unsigned long long)cur);
			break;
		}
		if (links[0] == head)
			break;
		if (++n > max || aset_add(&seen, links[0]) != 0) {
			r = vouch_err_set(e, VOUCH_E_STATE,
			    "list at 0x%llx is cyclic or longer than %zu",
			    (unsigned long long)head, max);
			break;
		}
		prev = cur;
		cur = links[0];
		if ((r = cb(lx, cur, arg)) < 0)
			break;
	}
	aset_free(&seen);
	return r;
}

static int
mod_list_cb(struct vmi_linux *lx, uint64_t entry, void *arg)
{
	struct mod_vec *mv = arg;
	struct vmi_module m;
	uint32_t state = 0;

	memset(&m, 0, sizeof(m));
	m.addr = entry - lx->off.mod_list;
	if (vmem_read(&lx->vm, m.addr + lx->off.mod_name, m.name,
	    lx->off.mod_name_len, NULL) < 0)
		return VOUCH_E_STATE;
	m.name[sizeof(m.name) - 1] = '\0';
	(void)vmem_read_u32(&lx->vm, m.addr + lx->off.mod_state, &state, NULL);
	if (state == MODULE_STATE_UNFORMED)
		return 0;
	return mv_push(mv, &m);
}

struct kset_arg {
	struct mod_vec	*mv;
};

static int
kset_cb(struct vmi_linux *lx, uint64_t entry, void *arg)
{
	struct kset_arg *ka = arg;
	struct vmi_module m;
	uint64_t kobj = entry - lx->off.kobj_entry, mk, name;

	if (kobj < lx->off.mkobj_kobj)
		return 0;
	mk = kobj - lx->off.mkobj_kobj;
	memset(&m, 0, sizeof(m));
	if (vmem_read_u64(&lx->vm, mk + lx->off.mkobj_mod, &m.addr, NULL) < 0)
		return VOUCH_E_STATE;
	if (m.addr == 0)		/* a built-in module's parameters */
		return 0;
	if (vmem_read_u64(&lx->vm, kobj + lx->off.kobj_name, &name, NULL) < 0 ||
	    vmem_read_str(&lx->vm, name, m.name, sizeof(m.name), NULL) < 0)
		snprintf(m.name, sizeof(m.name), "?");
	return mv_push(ka->mv, &m);
}

static int
walk_modules(struct vmi_linux *lx, struct mod_vec *list, struct mod_vec *kset,
    uint64_t *bytes, struct vouch_err *e)
{
	uint64_t ks;
	struct kset_arg ka = { kset };
	int r, i;

	for (i = 0; i <= VMI_TORN_RETRIES; i++) {
		list->n = 0;
		if ((r = walk_ring(lx, lx->modules, VMI_MAX_MODULES,
		    mod_list_cb, list, bytes, e)) != VOUCH_E_STATE)
			break;
	}
	if (r < 0)
		return vouch_err_prefix(e, "module list");
	if (kset == NULL)
		return 0;
	if ((r = vmem_read_u64(&lx->vm, lx->module_kset, &ks, e)) < 0)
		return vouch_err_prefix(e, "module_kset");
	if (ks == 0)
		return 0;
	for (i = 0; i <= VMI_TORN_RETRIES; i++) {
		kset->n = 0;
		if ((r = walk_ring(lx, ks + lx->off.kset_list, VMI_MAX_MODULES * 4,
		    kset_cb, &ka, bytes, e)) != VOUCH_E_STATE)
			break;
	}
	if (r < 0)
		return vouch_err_prefix(e, "module_kset list");
	return 0;
}

int
vmi_modules(struct vmi_linux *lx, struct vmi_module **out, size_t *n,
    struct vouch_err *e)
{
	struct mod_vec list = { NULL, 0, 0 };
	uint64_t bytes = 0;
	int r;

	*out = NULL;
	*n = 0;
	vmem_flush(&lx->vm);
	if ((r = walk_modules(lx, &list, NULL, &bytes, e)) < 0) {
		free(list.v);
		return r;
	}
	*out = list.v;
	*n = list.n;
	return 0;
}

static int
check_modules(struct vmi_linux *lx, struct vmi_findings *f, uint64_t *bytes,
    struct vouch_err *e)
{
	struct mod_vec list = { NULL, 0, 0 }, kset = { NULL, 0, 0 };
	struct aset a, b;
	size_t i;
	int r;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if ((r = walk_modules(lx, &list, &kset, bytes, e)) < 0)
		goto out;
	if (aset_init(&a, list.n + 1) < 0 || aset_init(&b, kset.n + 1) < 0) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "module check");
		goto out;
	}
	for (i = 0; i < list.n; i++)
		(void)aset_add(&a, list.v[i].addr);
	for (i = 0; i < kset.n; i++)
		(void)aset_add(&b, kset.v[i].addr);
	for (i = 0; i < kset.n; i++)
		if (!aset_has(&a, kset.v[i].addr))
			add(f, VMI_F_HIDDEN_MODULE, VMI_CHECK_MODULES, 1, -1,
			    -1, kset.v[i].addr, 0, 0, "module %s (0x%llx) is in"
			    " /sys/module but not on the module list",
			    kset.v[i].name,
			    (unsigned long long)kset.v[i].addr);
	for (i = 0; i < list.n; i++)
		if (!aset_has(&b, list.v[i].addr))
			add(f, VMI_F_UNLISTED_MODULE, VMI_CHECK_MODULES, 0, -1,
			    -1, list.v[i].addr, 0, 0, "module %s (0x%llx) is on"
			    " the module list but not in /sys/module",
			    list.v[i].name,
			    (unsigned long long)list.v[i].addr);
out:
	free(list.v);
	free(kset.v);
	aset_free(&a);
	aset_free(&b);
	return r;
}

int
vmi_check_modules(struct vmi_linux *lx, struct vmi_findings *f,
    struct vouch_err *e)
{
	uint64_t bytes = 0;

	vmem_flush(&lx->vm);
	return check_modules(lx, f, &bytes, e);
}

/* --- one run ----------------------------------------------------------- */

static void
unreadable(struct vmi_findings *f, unsigned check, const struct vouch_err *ce)
{
	add(f, VMI_F_UNREADABLE, check, 0, -1, -1, 0, 0, 0, "%s: %s",
	    vmi_check_name(check), ce->msg[0] ? ce->msg : "read failed");
}

int
vmi_run_checks(struct vmi_linux *lx, const struct vmi_baseline *b,
    unsigned mask, struct vmi_findings *f, struct vmi_run_stats *st,
    struct vouch_err *e)
{
	struct task_vec list = { NULL, 0, 0 };
	struct vmi_run_stats s = { 0, 0, 0 };
	uint64_t t0 = mono_ns();
	int r, have_list = 0;

	(void)e;
	vmem_flush(&lx->vm);
	if (mask & (VMI_CHECK_PROCESSES | VMI_CHECK_HIDDEN | VMI_CHECK_CREDS)) {
		struct vouch_err ce = VOUCH_ERR_INIT;

		if (walk_tasks(lx, &list, 0, &s.bytes_read, &ce) == 0) {
			have_list = 1;
			s.tasks = list.n;
		} else {
			unreadable(f, VMI_CHECK_PROCESSES, &ce);
		}
	}
	if ((mask & VMI_CHECK_HIDDEN) && have_list) {
		struct vouch_err ce = VOUCH_ERR_INIT;

		if ((r = check_hidden(lx, &list, f, &s.bytes_read, &ce)) < 0)
			unreadable(f, VMI_CHECK_HIDDEN, &ce);
	}
	if ((mask & VMI_CHECK_CREDS) && have_list)
		(void)check_creds(&list, f);
	if (mask & VMI_CHECK_SYSCALLS) {
		struct vouch_err ce = VOUCH_ERR_INIT;

		if (check_syscalls(lx, b, f, &s.bytes_read, &ce) < 0)
			unreadable(f, VMI_CHECK_SYSCALLS, &ce);
	}
	if (mask & VMI_CHECK_IDT) {
		struct vouch_err ce = VOUCH_ERR_INIT;

		if (check_idt(lx, b, f, &s.bytes_read, &ce) < 0)
			unreadable(f, VMI_CHECK_IDT, &ce);
	}
	if ((mask & VMI_CHECK_TEXT) && b != NULL && b->text_hash != NULL) {
		struct vouch_err ce = VOUCH_ERR_INIT;

		if (check_text(lx, b, f, &s.bytes_read, &ce) < 0)
			unreadable(f, VMI_CHECK_TEXT, &ce);
	}
	if (mask & VMI_CHECK_MODULES) {
		struct vouch_err ce = VOUCH_ERR_INIT;

		if (check_modules(lx, f, &s.bytes_read, &ce) < 0)
			unreadable(f, VMI_CHECK_MODULES, &ce);
	}
	free(list.v);
	s.ns = mono_ns() - t0;
	if (st != NULL)
		*st = s;
	return 0;
}
