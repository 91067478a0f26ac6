/*
 * cmd_guard.c - vouchctl guest ps | guest info | guard check | guard watch:
 * a guest read from outside (VM introspection, ids/), on demand.
 *
 * TARGET names a guard of the guard policy (--policy, default
 * GUARD_DEFAULT_POLICY); or --memory SPEC (ids/mem.h) names the guest's
 * memory directly, with optional --vmlinux / --system-map.  vouchctl
 * never writes guest memory: repair = true in the policy is ignored here
 * (vouch-guard does repairs), and the memory is opened read-only.
 *
 * guard check / watch take the baseline from the guard's state file when
 * it exists (the file is then only read); otherwise a fresh baseline is
 * taken from the guest as it is now, and written only with --save.
 *
 * Exit: 0 clean, 1 findings (guard check), 2 usage or error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "common/util.h"
#include "ids/checks.h"
#include "ids/guard.h"
#include "ids/linux.h"
#include "ids/mem.h"
#include "tools/vouchctl/vouchctl.h"

struct gopts {
	const char	*policy;
	const char	*memory, *vmlinux, *system_map, *state;
	const char	*target;
	const char	*symbol;	/* guest info --symbol */
	int		 json, save;
};

#define GOPT_COMMON \
	"  --policy FILE       guard policy (default " GUARD_DEFAULT_POLICY ")\n" \
	"  --memory SPEC       the guest's memory instead of a policy target:\n" \
	"                      qemu-file:PATH[,machine=q35|pc][,lowmem=BYTES],\n" \
	"                      dump:PATH or xen:DOMID[,pages=N]\n" \
	"  --vmlinux FILE      the guest kernel's image (optional)\n" \
	"  --system-map FILE   its real System.map (optional)\n" \
	"  --json              JSON output\n"

static void
guest_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl guest ps   TARGET | --memory SPEC [OPTIONS]\n"
	    "       vouchctl guest info TARGET | --memory SPEC [OPTIONS] "
	    "[--symbol NAME]\n"
	    "\n"
	    "Read a running Linux guest from outside (VM introspection).\n"
	    "  ps      its processes (thread-group leaders on the task list):\n"
	    "          PID PPID UID COMM\n"
	    "  info    its kernel profile: release, symbol source, KASLR slide,\n"
	    "          physical load address, page_offset_base, paging levels,\n"
	    "          system calls, structure offsets; with --symbol NAME\n"
	    "          only NAME's running (slid) address\n"
	    "\nOPTIONS:\n" GOPT_COMMON);
}

static void
guard_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl guard check TARGET | --memory SPEC [OPTIONS] "
	    "[--state FILE] [--save]\n"
	    "       vouchctl guard watch TARGET | --memory SPEC [OPTIONS] "
	    "[--state FILE] [--save]\n"
	    "\n"
	    "Run a guard's checks (docs/guards.md) without vouch-guard.\n"
	    "  check   one full run now; prints the findings and a summary\n"
	    "          line; exit 0 clean, 1 findings, 2 error\n"
	    "  watch   runs at the policy's period until interrupted; prints\n"
	    "          findings as they appear and a status line every second\n"
	    "\n"
	    "The baseline comes from the guard's state file if it exists;\n"
	    "otherwise it is taken from the guest now (so the syscall, IDT and\n"
	    "text checks compare the guest with itself) and saved only with\n"
	    "--save.  Guest memory is never written (no repairs).\n"
	    "\nOPTIONS:\n" GOPT_COMMON
	    "  --state FILE        state file (with --memory; default: none)\n"
	    "  --save              write a new baseline to the state file\n");
}

/* Options shared by the four commands; 0, or an exit status. */
static int
parse(int argc, char **argv, int guard_opts, void (*usage)(FILE *),
    struct gopts *o)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "vmlinux", required_argument, NULL, 'k' },
		{ "system-map", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'S' },
		{ "save", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "symbol", required_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->policy = GUARD_DEFAULT_POLICY;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
		switch (ch) {
		case 'p': o->policy = optarg; break;
		case 'm': o->memory = optarg; break;
		case 'k': o->vmlinux = optarg; break;
		case 's': o->system_map = optarg; break;
		case 'S':
			if (!guard_opts)
				goto bad;
			o->state = optarg;
			break;
		case 'w':
			if (!guard_opts)
				goto bad;
			o->save = 1;
			break;
		case 'j': o->json = 1; break;
		case 'y':
			if (guard_opts)
				goto bad;
			o->symbol = optarg;
			break;
		case 'h': usage(stdout); return -1;
		default: goto bad;
		}
	if (optind < argc)
		o->target = argv[optind++];
	if (optind != argc || (o->target == NULL && o->memory == NULL) ||
	    (o->state != NULL && o->memory == NULL))
		goto bad;
	return 0;
bad:
	usage(stderr);
	return EXIT_USAGE;
}

static int
copy_str(char *dst, size_t cap, const char *v, const char *what,
    struct vouch_err *e)
{
	int n = snprintf(dst, cap, "%s", v);

	if (n < 0 || (size_t)n >= cap)
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: too long (at most "
		    "%zu bytes)", what, cap - 1);
	return 0;
}

/* The guard configuration the options describe. */
static int
resolve(const struct gopts *o, struct guard_conf *c, struct vouch_err *e)
{
	int r;

	memset(c, 0, sizeof(*c));
	if (o->memory != NULL) {
		if ((r = copy_str(c->target, sizeof(c->target), o->target != NULL ?
		    o->target : "guest", "TARGET", e)) < 0 ||
		    (r = copy_str(c->memory, sizeof(c->memory), o->memory,
		    "--memory", e)) < 0 ||
		    (o->state != NULL && (r = copy_str(c->state,
		    sizeof(c->state), o->state, "--state", e)) < 0))
			return r;
		c->checks = VMI_CHECK_ALL;
		c->period_ms = GUARD_DEFAULT_PERIOD_MS;
	} else {
		struct guard_policy p = { NULL, 0 };
		const struct guard_conf *gc;

		if ((r = guard_policy_load(o->policy, &p, e)) < 0)
			return r;
		if ((gc = guard_policy_find(&p, o->target)) == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOTFOUND, "%s: no guard for "
			    "target '%s'", o->policy, o->target);
			guard_policy_free(&p);
			return r;
		}
		*c = *gc;
		guard_policy_free(&p);
	}
	if ((o->vmlinux != NULL && (r = copy_str(c->vmlinux,
	    sizeof(c->vmlinux), o->vmlinux, "--vmlinux", e)) < 0) ||
	    (o->system_map != NULL && (r = copy_str(c->system_map,
	    sizeof(c->system_map), o->system_map, "--system-map", e)) < 0))
		return r;
	c->repair = 0;		/* vouchctl never writes guest memory */
	return 0;
}

/* Memory (read-only) and the profile of the guest c names. */
static int
open_guest(const struct guard_conf *c, struct vmi_mem **m,
    struct vmi_linux **lx, struct vouch_err *e)
{
	struct vmi_linux_opts lo;
	int r;

	*m = NULL;
	*lx = NULL;
	if ((r = vmi_mem_open(c->memory, 0, m, e)) < 0)
		return r;
	lo.vmlinux = c->vmlinux[0] != '\0' ? c->vmlinux : NULL;
	lo.system_map = c->system_map[0] != '\0' ? c->system_map : NULL;
	if ((r = vmi_linux_open(*m, &lo, lx, e)) < 0) {
		vmi_mem_close(*m);
		*m = NULL;
	}
	return r;
}

static void
fmt_time(char *buf, size_t cap, int with_date)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (with_date)
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
	else
		snprintf(buf, cap, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min,
		    tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* A guest-controlled name, safe on a terminal: non-printables as \xNN. */
static void
safe_str(const char *in, size_t max, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < max && in[i] != '\0' && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

/* ---- guest ps / info -------------------------------------------------- */

static int
guest_ps(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct guard_conf c;
	struct gopts o;
	struct vmi_mem *m;
	struct vmi_linux *lx;
	struct vmi_task *t = NULL;
	size_t n = 0, i;
	int r;

	if ((r = parse(argc, argv, 0, guest_usage, &o)) != 0)
		return r < 0 ? 0 : r;
	if (o.symbol != NULL) {
		guest_usage(stderr);
		return EXIT_USAGE;
	}
	if (resolve(&o, &c, &e) < 0 || open_guest(&c, &m, &lx, &e) < 0) {
		ctl_err("%s", e.msg);
		return EXIT_USAGE;
	}
	if ((r = vmi_tasks(lx, &t, &n, &e)) < 0) {
		ctl_err("%s: process list: %s", c.target, e.msg);
		vmi_linux_close(lx);
		vmi_mem_close(m);
		return EXIT_USAGE;
	}
	if (o.json) {
		json_object *root = json_object_new_object();
		json_object *a = json_object_new_array();
		char comm[VMI_COMM_LEN + 1], hex[24];

		json_object_object_add(root, "target", json_object_new_string(
		    c.target));
		json_object_object_add(root, "release", json_object_new_string(
		    lx->release));
		for (i = 0; i < n; i++) {
			json_object *p = json_object_new_object();

			snprintf(comm, sizeof(comm), "%.*s", VMI_COMM_LEN,
			    t[i].comm);
			snprintf(hex, sizeof(hex), "0x%" PRIx64, t[i].addr);
			json_object_object_add(p, "pid", json_object_new_int(
			    t[i].pid));
			json_object_object_add(p, "ppid", json_object_new_int(
			    t[i].ppid));
			json_object_object_add(p, "uid", json_object_new_int64(
			    t[i].uid));
			json_object_object_add(p, "euid", json_object_new_int64(
			    t[i].euid));
			json_object_object_add(p, "comm", json_object_new_string(
			    comm));
			json_object_object_add(p, "task", json_object_new_string(
			    hex));
			json_object_array_add(a, p);
		}
		json_object_object_add(root, "processes", a);
		printf("%s\n", json_object_to_json_string_ext(root,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	} else {
		char comm[4 * VMI_COMM_LEN + 8];

		printf("%7s %7s %6s %s\n", "PID", "PPID", "UID", "COMM");
		for (i = 0; i < n; i++) {
			safe_str(t[i].comm, VMI_COMM_LEN, comm, sizeof(comm));
			printf("%7" PRId32 " %7" PRId32 " %6" PRIu32 " %s\n",
			    t[i].pid, t[i].ppid, t[i].uid, comm);
		}
	}
	free(t);
	vmi_linux_close(lx);
	vmi_mem_close(m);
	return 0;
}

static int
guest_info(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct guard_conf c;
	struct gopts o;
	struct vmi_mem *m;
	struct vmi_linux *lx;
	/* every member of struct vmi_linux_off is one uint32_t from BTF */
	size_t noff = sizeof(struct vmi_linux_off) / sizeof(uint32_t);
	int r;

	if ((r = parse(argc, argv, 0, guest_usage, &o)) != 0)
		return r < 0 ? 0 : r;
	if (resolve(&o, &c, &e) < 0 || open_guest(&c, &m, &lx, &e) < 0) {
		ctl_err("%s", e.msg);
		return EXIT_USAGE;
	}
	if (o.symbol != NULL) {
		uint64_t va = 0;

		if (vmi_linux_sym(lx, o.symbol, &va) < 0) {
			ctl_err("%s: no symbol '%s' in the guest kernel", c.target,
			    o.symbol);
			r = EXIT_FAILV;
		} else
			printf("0x%016" PRIx64 "\n", va);
		vmi_linux_close(lx);
		vmi_mem_close(m);
		return r;
	}
	if (o.json) {
		json_object *root = json_object_new_object();
		char hex[24];

#define HEX(k, v) do { snprintf(hex, sizeof(hex), "0x%" PRIx64, (uint64_t)(v)); \
	json_object_object_add(root, k, json_object_new_string(hex)); } while (0)
		json_object_object_add(root, "target", json_object_new_string(
		    c.target));
		json_object_object_add(root, "memory", json_object_new_string(
		    m->desc));
		json_object_object_add(root, "ram_bytes", json_object_new_int64(
		    (int64_t)m->ram_size));
		json_object_object_add(root, "release", json_object_new_string(
		    lx->release));
		json_object_object_add(root, "source", json_object_new_string(
		    lx->source));
		HEX("slide", lx->slide);
		HEX("text", lx->text_va);
		HEX("text_pa", lx->text_pa);
		HEX("page_offset_base", lx->page_offset_base);
		json_object_object_add(root, "levels", json_object_new_int(
		    lx->levels));
		json_object_object_add(root, "symbols", json_object_new_int64(
		    (int64_t)lx->syms.n));
		json_object_object_add(root, "nr_syscalls", json_object_new_int64(
		    lx->nr_syscalls));
		HEX("sys_call_table", lx->sys_call_table);
		HEX("idt_table", lx->idt_table);
		HEX("init_task", lx->init_task);
		json_object_object_add(root, "offsets", json_object_new_int64(
		    (int64_t)noff));
#undef HEX
		printf("%s\n", json_object_to_json_string_ext(root,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	} else {
		char rel[4 * sizeof(lx->release) + 8];

		safe_str(lx->release, sizeof(lx->release), rel, sizeof(rel));
		printf("target            %s\n", c.target);
		printf("memory            %s (%" PRIu64 " MiB)\n", m->desc,
		    m->ram_size >> 20);
		printf("release           %s\n", rel);
		printf("symbols           %s (%zu)\n", lx->source, lx->syms.n);
		printf("slide             0x%" PRIx64 "\n", lx->slide);
		printf("text              0x%" PRIx64 " (physical 0x%" PRIx64
		    ")\n", lx->text_va, lx->text_pa);
		printf("text_pa           0x%" PRIx64 "\n", lx->text_pa);
		printf("page_offset_base  0x%" PRIx64 "\n", lx->page_offset_base);
		printf("levels            %d\n", lx->levels);
		printf("nr_syscalls       %" PRIu32 " (sys_call_table 0x%" PRIx64
		    ")\n", lx->nr_syscalls, lx->sys_call_table);
		printf("idt_table         0x%" PRIx64 "\n", lx->idt_table);
		printf("init_task         0x%" PRIx64 "\n", lx->init_task);
		printf("offsets           %zu (from BTF)\n", noff);
	}
	vmi_linux_close(lx);
	vmi_mem_close(m);
	return 0;
}

/* ---- guard check / watch ---------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Milliseconds with three decimals (json-c would print all 17 digits). */
static json_object *
jms(uint64_t ns)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", (double)ns / 1e6);
	return json_object_new_double_s((double)ns / 1e6, buf);
}

/* "name+0x10" of a code address, or "?" */
static void
sym(const struct guard *gd, uint64_t addr, char *buf, size_t cap)
{
	uint64_t off = 0;
	const char *n = addr != 0 && gd->lx != NULL ?
	    ksym_name_at(&gd->lx->syms, addr, &off) : NULL;

	if (n == NULL || off >= (1u << 20))
		snprintf(buf, cap, "?");
	else if (off == 0)
		snprintf(buf, cap, "%s", n);
	else
		snprintf(buf, cap, "%s+0x%" PRIx64, n, off);
}

static void
print_finding(const struct guard *gd, const struct vmi_finding *x, int json)
{
	const char *cn = vmi_check_name(x->check);
	char detail[4 * sizeof(x->detail) + 8], idx[24] = "-";

	if (json) {
		guard_finding_json(gd, x, stdout);
		putchar('\n');
		fflush(stdout);
		return;
	}
	if (x->index >= 0)
		snprintf(idx, sizeof(idx), "%" PRId64, x->index);
	safe_str(x->detail, sizeof(x->detail), detail, sizeof(detail));
	printf("%-16s %-21s %-8s %6s  %s", cn, vmi_finding_type_name(x->type),
	    x->critical ? "CRITICAL" : "warning", idx, detail);
	if (x->type == VMI_F_SYSCALL_HOOK || x->type == VMI_F_IDT_HOOK ||
	    x->type == VMI_F_SYSCALL_OUTSIDE_TEXT ||
	    x->type == VMI_F_IDT_OUTSIDE_TEXT || x->type == VMI_F_REPAIRED) {
		char a[KSYM_NAME_MAX + 24], b[KSYM_NAME_MAX + 24];

		sym(gd, x->expected, a, sizeof(a));
		sym(gd, x->actual, b, sizeof(b));
		printf(" [expected %s, now %s]", a, b);
	}
	putchar('\n');
	fflush(stdout);
}

static void
print_header(int json)
{
	if (!json)
		printf("%-16s %-21s %-8s %6s  %s\n", "CHECK", "FINDING",
		    "SEVERITY", "INDEX", "DETAIL");
}

static int
same(const struct vmi_finding *a, const struct vmi_finding *b)
{
	return a->type == b->type && a->check == b->check &&
	    a->index == b->index && a->pid == b->pid && a->addr == b->addr &&
	    a->expected == b->expected && a->actual == b->actual;
}

static int
seen(const struct vmi_findings *f, const struct vmi_finding *x)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (same(&f->v[i], x))
			return 1;
	return 0;
}

/* Open the guard for check/watch: the state is read, never rewritten. */
static int
open_for_check(const struct gopts *o, struct guard **gd,
    struct vmi_findings *vf, int *fresh, struct vouch_err *e)
{
	struct guard_conf c;
	struct stat st;
	int r;

	if ((r = resolve(o, &c, e)) < 0)
		return r;
	*fresh = c.state[0] == '\0' || stat(c.state, &st) != 0;
	if (*fresh && !o->save)
		c.state[0] = '\0';
	if (*fresh && o->save && c.state[0] == '\0')
		return vouch_err_set(e, VOUCH_E_INVAL, "--save: target %s has "
		    "no state file", c.target);
	return guard_open(&c, gd, vf, e);
}

static int
guard_check(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_findings vf = { NULL, 0, 0 };
	struct guard *gd = NULL;
	struct gopts o;
	size_t i, ncrit = 0, n;
	int r, fresh = 0;

	if ((r = parse(argc, argv, 1, guard_usage, &o)) != 0)
		return r < 0 ? 0 : r;
	if (open_for_check(&o, &gd, &vf, &fresh, &e) < 0 ||
	    guard_run(gd, &e) < 0) {
		ctl_err("%s", e.msg);
		vmi_findings_free(&vf);
		guard_close(gd);
		return EXIT_USAGE;
	}
	if (fresh && !o.json)
		fprintf(stderr, "vouchctl: note: no state for %s: baseline "
		    "taken from the guest now%s\n", gd->conf.target, o.save ?
		    " and saved" : " (not saved; --save writes it)");
	n = vf.n + gd->last.n;
	if (n > 0)
		print_header(o.json);
	for (i = 0; i < vf.n; i++) {
		print_finding(gd, &vf.v[i], o.json);
		ncrit += vf.v[i].critical != 0;
	}
	for (i = 0; i < gd->last.n; i++) {
		/* the run's text check repeats what the verification found */
		if (seen(&vf, &gd->last.v[i])) {
			n--;
			continue;
		}
		print_finding(gd, &gd->last.v[i], o.json);
		ncrit += gd->last.v[i].critical != 0;
	}
	if (o.json) {
		json_object *s = json_object_new_object(), *sum;
		char t[40];

		fmt_time(t, sizeof(t), 1);
		sum = json_object_new_object();
		json_object_object_add(sum, "findings", json_object_new_int64(
		    (int64_t)n));
		json_object_object_add(sum, "critical", json_object_new_int64(
		    (int64_t)ncrit));
		json_object_object_add(sum, "tasks", json_object_new_int64(
		    (int64_t)gd->last_stats.tasks));
		json_object_object_add(sum, "ms", jms(
		    gd->last_stats.ns));
		json_object_object_add(sum, "release", json_object_new_string(
		    gd->lx->release));
		json_object_object_add(sum, "baseline", json_object_new_string(
		    fresh ? "fresh" : "state"));
		json_object_object_add(s, "time", json_object_new_string(t));
		json_object_object_add(s, "target", json_object_new_string(
		    gd->conf.target));
		json_object_object_add(s, "summary", sum);
		printf("%s\n", json_object_to_json_string_ext(s,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(s);
	} else
		printf("%s: %s, %zu process(es), %zu finding(s) (%zu critical) "
		    "in %.1f ms, baseline %s\n", gd->conf.target, n ? "FINDINGS" :
		    "clean", gd->last_stats.tasks, n, ncrit,
		    (double)gd->last_stats.ns / 1e6, fresh ? "taken now" :
		    "from the state");
	vmi_findings_free(&vf);
	guard_close(gd);
	return n > 0 ? EXIT_FAILV : 0;
}

static void
status_line(const struct guard *gd, unsigned runs, int64_t span_ms,
    const char *last, int failing, int json)
{
	double rate = span_ms > 0 ? runs * 1000.0 / (double)span_ms : 0;

	if (json) {
		json_object *s = json_object_new_object(), *st;
		char t[40];

		fmt_time(t, sizeof(t), 1);
		st = json_object_new_object();
		char rs[32];

		snprintf(rs, sizeof(rs), "%.1f", rate);
		json_object_object_add(st, "runs_per_s", json_object_new_double_s(
		    rate, rs));
		json_object_object_add(st, "runs", json_object_new_int64(
		    (int64_t)gd->runs));
		json_object_object_add(st, "last_check", last[0] ?
		    json_object_new_string(last) : NULL);
		json_object_object_add(st, "ms", jms(
		    gd->last_stats.ns));
		json_object_object_add(st, "tasks", json_object_new_int64(
		    (int64_t)gd->last_stats.tasks));
		json_object_object_add(st, "findings", json_object_new_int64(
		    (int64_t)gd->last.n));
		json_object_object_add(st, "failing", json_object_new_boolean(
		    failing));
		json_object_object_add(s, "time", json_object_new_string(t));
		json_object_object_add(s, "target", json_object_new_string(
		    gd->conf.target));
		json_object_object_add(s, "status", st);
		printf("%s\n", json_object_to_json_string_ext(s,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(s);
	} else
		printf("-- %s: %.1f runs/s, last check %s (%.2f ms, %zu "
		    "processes), %zu open finding(s)%s\n", gd->conf.target, rate,
		    last[0] ? last : "never", (double)gd->last_stats.ns / 1e6,
		    gd->last_stats.tasks, gd->last.n, failing ?
		    ", CHECKS FAILING" : "");
	fflush(stdout);
}

static int
guard_watch(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct vmi_findings vf = { NULL, 0, 0 }, prev = { NULL, 0, 0 };
	struct guard *gd = NULL;
	struct sigaction sa, old_int, old_term;
	struct gopts o;
	char last[40] = "";
	int64_t next_run, next_status, window;
	unsigned runs_in_window = 0;
	int r, fresh = 0, failing = 0;
	size_t i;

	if ((r = parse(argc, argv, 1, guard_usage, &o)) != 0)
		return r < 0 ? 0 : r;
	if (open_for_check(&o, &gd, &vf, &fresh, &e) < 0) {
		ctl_err("%s", e.msg);
		vmi_findings_free(&vf);
		return EXIT_USAGE;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: nanosleep returns */
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (!o.json)
		fprintf(stderr, "vouchctl: watching %s (%s, kernel %s) every %u "
		    "ms, baseline %s; ^C stops\n", gd->conf.target,
		    gd->conf.memory, gd->lx->release, gd->conf.period_ms, fresh ?
		    "taken now" : "from the state");
	print_header(o.json);
	for (i = 0; i < vf.n; i++)
		print_finding(gd, &vf.v[i], o.json);
	window = next_run = next_status = mono_ms();
	next_status += 1000;
	while (!interrupted) {
		int64_t now = mono_ms(), wake;

		if (now >= next_run) {
			e.msg[0] = '\0';
			if (guard_run(gd, &e) < 0) {
				if (!failing)
					ctl_err("%s", e.msg);
				failing = 1;
			} else {
				if (failing)
					ctl_err("%s: checks run again",
					    gd->conf.target);
				failing = 0;
				runs_in_window++;
				fmt_time(last, sizeof(last), 0);
				for (i = 0; i < gd->last.n; i++)
					if (!seen(&prev, &gd->last.v[i]))
						print_finding(gd, &gd->last.v[i],
						    o.json);
				vmi_findings_reset(&prev);
				for (i = 0; i < gd->last.n; i++)
					(void)vmi_findings_add(&prev,
					    &gd->last.v[i]);
			}
			next_run += gd->conf.period_ms;
			if (next_run < mono_ms())
				next_run = mono_ms();
		}
		now = mono_ms();
		if (now >= next_status) {
			status_line(gd, runs_in_window, now - window, last,
			    failing, o.json);
			runs_in_window = 0;
			window = now;
			next_status = now + 1000;
		}
		wake = next_run < next_status ? next_run : next_status;
		now = mono_ms();
		if (wake > now) {
			struct timespec ts = { (time_t)((wake - now) / 1000),
			    (long)((wake - now) % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	interrupted = 0;
	vmi_findings_free(&prev);
	vmi_findings_free(&vf);
	guard_close(gd);
	return 0;
}

int
cmd_guest(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "ps", guest_ps },
		{ "info", guest_info },
	};

	return ctl_dispatch("guest", subs, ARRAY_SIZE(subs), guest_usage, argc,
	    argv);
}

int
cmd_guard(int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
		{ "check", guard_check },
		{ "watch", guard_watch },
	};

	return ctl_dispatch("guard", subs, ARRAY_SIZE(subs), guard_usage, argc,
	    argv);
}
