/*
 * test_comigrate - the co-migration engine over a fake hypervisor.
 *
 * The fake world holds VMs on hosts with run states, streams and guard
 * windows.  After EVERY driver operation the invariant is checked: a
 * running target has a running guard on the same host, attached to it.
 * Failures are injected per host: attestation refused, destination
 * killed mid-stream, guard verification refused, guard stream failing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate/comigrate.h"

#define MAXVM 32

struct fvm {
	struct mig_vm	vm;
	char		host[16];
	int		is_guard;
	enum mig_run_state st;
	int		attached;	/* guard: window attached */
	struct fvm	*watches;	/* guard: the target its window shows */
	struct fvm	*peer;		/* stream destination */
	int		polls;
	int		fail_stream;	/* dst: dies mid-stream */
	char		uri[64];
	int		listening;
};

static struct fvm vms[MAXVM];
static int nvm, violations, ops, alerts, abandons;
static char refuse_attest[64], kill_dst[64], refuse_verify[64];
static int fail_guard_stream;
static char order[1024];

static void
note(const char *s)
{
	strncat(order, s, sizeof(order) - strlen(order) - 2);
	strncat(order, " ", sizeof(order) - strlen(order) - 1);
}

/* The invariant, checked after every operation. */
static void
check_invariant(void)
{
	int i, j, ok;

	ops++;
	for (i = 0; i < nvm; i++) {
		if (vms[i].is_guard || vms[i].st != MIG_VM_RUNNING)
			continue;
		ok = 0;
		for (j = 0; j < nvm; j++)
			if (vms[j].is_guard && vms[j].st == MIG_VM_RUNNING &&
			    vms[j].attached && vms[j].watches == &vms[i] &&
			    strcmp(vms[j].host, vms[i].host) == 0)
				ok = 1;
		if (!ok) {
			violations++;
			fprintf(stderr, "# INVARIANT: target on %s runs"
			    " without its guard\n", vms[i].host);
		}
	}
}

static struct fvm *
F(struct mig_vm *vm)
{
	return (struct fvm *)vm;
}

static int
f_state(struct mig_vm *vm, enum mig_run_state *st, struct vouch_err *e)
{
	(void)e;
	*st = F(vm)->st;
	check_invariant();
	return 0;
}

static int
f_pause(struct mig_vm *vm, struct vouch_err *e)
{
	if (F(vm)->st == MIG_VM_GONE)
		return vouch_err_set(e, VOUCH_E_STATE, "gone");
	F(vm)->st = MIG_VM_PAUSED;
	check_invariant();
	return 0;
}

static int
f_resume(struct mig_vm *vm, struct vouch_err *e)
{
	if (F(vm)->st == MIG_VM_GONE)
		return vouch_err_set(e, VOUCH_E_STATE, "gone");
	F(vm)->st = MIG_VM_RUNNING;
	note(F(vm)->is_guard ? "resume-guard" : "resume-target");
	check_invariant();
	return 0;
}

static int
f_destroy(struct mig_vm *vm, struct vouch_err *e)
{
	(void)e;
	F(vm)->st = MIG_VM_GONE;
	F(vm)->attached = 0;
	check_invariant();
	return 0;
}

static int
f_incoming(struct mig_vm *vm, const char *uri, const struct mig_tls *t,
    struct vouch_err *e)
{
	(void)t;
	(void)e;
	snprintf(F(vm)->uri, sizeof(F(vm)->uri), "%s", uri);
	F(vm)->listening = 1;
	F(vm)->st = MIG_VM_INMIGRATE;
	check_invariant();
	return 0;
}

static int
f_migrate(struct mig_vm *vm, const char *uri, const struct mig_tls *t,
    uint64_t bw, struct vouch_err *e)
{
	int i;

	(void)t;
	(void)bw;
	for (i = 0; i < nvm; i++)
		if (vms[i].listening && strcmp(vms[i].uri, uri) == 0) {
			F(vm)->peer = &vms[i];
			F(vm)->polls = 0;
			note(F(vm)->is_guard ? "stream-guard" : "stream-target");
			check_invariant();
			return 0;
		}
	return vouch_err_set(e, VOUCH_E_IO, "nobody listens on %s", uri);
}

static int
f_progress(struct mig_vm *vm, struct mig_progress *p, struct vouch_err *e)
{
	struct fvm *s = F(vm), *d = s->peer;

	(void)e;
	memset(p, 0, sizeof(*p));
	p->total = 128u << 20;
	if (d == NULL) {
		p->status = MIG_STREAM_NONE;
		return 0;
	}
	if (++s->polls < 3) {
		p->status = MIG_STREAM_ACTIVE;
		p->transferred = (uint64_t)s->polls << 20;
	} else if (d->fail_stream || d->st == MIG_VM_GONE ||
	    (s->is_guard && fail_guard_stream)) {
		p->status = MIG_STREAM_FAILED;
		snprintf(p->error, sizeof(p->error), "connection reset");
		d->st = MIG_VM_GONE;
		s->peer = NULL;		/* the source keeps running */
	} else {
		p->status = MIG_STREAM_COMPLETED;
		p->transferred = p->total;
		p->total_time_ms = 100;
		p->downtime_ms = 3;
		s->st = MIG_VM_POSTMIGRATE;
		d->st = MIG_VM_PAUSED;
		d->listening = 0;
		s->peer = NULL;
	}
	check_invariant();
	return 0;
}

static int
f_cancel(struct mig_vm *vm, struct vouch_err *e)
{
	(void)vm;
	(void)e;
	return 0;
}

static int
f_detach(struct mig_vm *vm, const char *id, struct vouch_err *e)
{
	(void)id;
	(void)e;
	F(vm)->attached = 0;
	F(vm)->watches = NULL;
	note("detach");
	check_invariant();
	return 0;
}

static struct fvm *
by_mem(const char *mem)
{
	int i;

	for (i = 0; i < nvm; i++)
		if (!vms[i].is_guard && strcmp(vms[i].vm.name, mem) == 0 &&
		    vms[i].st != MIG_VM_GONE)
			return &vms[i];
	return NULL;
}

static int
f_attach(struct mig_vm *vm, const char *id, const char *mem,
    struct vouch_err *e)
{
	(void)id;
	F(vm)->watches = by_mem(mem);
	if (F(vm)->watches == NULL)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "no memory %s", mem);
	F(vm)->attached = 1;
	note("attach");
	check_invariant();
	return 0;
}

static void
f_close(struct mig_vm *vm)
{
	(void)vm;
}

static const struct mig_driver_ops fake_ops = {
	"fake", f_state, f_pause, f_resume, f_destroy, f_incoming, f_migrate,
	f_progress, f_cancel, f_detach, f_attach, f_close,
};

static struct fvm *
mkvm(const char *host, const char *name, int guard, enum mig_run_state st)
{
	struct fvm *v = &vms[nvm++];

	memset(v, 0, sizeof(*v));
	v->vm.ops = &fake_ops;
	v->vm.priv = v;
	/* memory identity = "<host>/<name>" for targets */
	snprintf(v->vm.name, sizeof(v->vm.name), "%s/%s", host, name);
	snprintf(v->host, sizeof(v->host), "%s", host);
	v->is_guard = guard;
	v->st = st;
	return v;
}

/* --- hooks ----------------------------------------------------------- */

static int
h_prepare(void *arg, const char *host, const struct comig_pair *p,
    enum comig_strategy s, struct comig_dest *d, struct vouch_err *e)
{
	struct fvm *t, *g;

	(void)arg;
	(void)p;
	(void)e;
	t = mkvm(host, "t", 0, MIG_VM_PAUSED);
	g = mkvm(host, "g", 1, s == COMIG_STANDBY ? MIG_VM_RUNNING :
	    MIG_VM_PAUSED);
	t->fail_stream = strcmp(host, kill_dst) == 0;
	d->target = &t->vm;
	d->guard = &g->vm;
	snprintf(d->target_uri, sizeof(d->target_uri), "tcp:%s:1", host);
	snprintf(d->guard_uri, sizeof(d->guard_uri), "tcp:%s:2", host);
	snprintf(d->target_mem, sizeof(d->target_mem), "%s", t->vm.name);
	snprintf(d->peer_name, sizeof(d->peer_name), "%s", host);
	check_invariant();
	return 0;
}

static int
h_attest(void *arg, const char *host, struct vouch_err *e)
{
	(void)arg;
	note("attest");
	if (strcmp(host, refuse_attest) == 0)
		return vouch_err_set(e, VOUCH_E_STATE, "%s is UNTRUSTED", host);
	return 0;
}

static int
h_detach(void *arg, struct mig_vm *guard, struct vouch_err *e)
{
	(void)arg;
	(void)guard;
	(void)e;
	return 0;
}

static int
h_verify(void *arg, const char *host, struct mig_vm *guard,
    struct vouch_err *e)
{
	struct fvm *g = F(guard);

	(void)arg;
	note("verify");
	if (g->st != MIG_VM_RUNNING || !g->attached || g->watches == NULL ||
	    g->watches->st == MIG_VM_RUNNING)
		return vouch_err_set(e, VOUCH_E_STATE, "guard not ready");
	if (strcmp(host, refuse_verify) == 0)
		return vouch_err_set(e, VOUCH_E_STATE, "kernel text differs");
	return 0;
}

static void
h_abandon(void *arg, const char *host, struct comig_dest *d)
{
	(void)arg;
	(void)host;
	abandons++;
	if (d->target != NULL)
		F(d->target)->st = MIG_VM_GONE;
	if (d->guard != NULL) {
		F(d->guard)->st = MIG_VM_GONE;
		F(d->guard)->attached = 0;
	}
	check_invariant();
}

static void
h_alert(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
	alerts++;
}

static const struct comig_hooks hooks = {
	h_prepare, h_attest, h_detach, h_verify, h_abandon, NULL, h_alert,
};

static struct fvm *src_t, *src_g;
static struct comig_pair pair;

static int
setup(void **state)
{
	(void)state;
	nvm = violations = ops = alerts = abandons = 0;
	fail_guard_stream = 0;
	refuse_attest[0] = kill_dst[0] = refuse_verify[0] = order[0] = '\0';
	src_t = mkvm("A", "t", 0, MIG_VM_RUNNING);
	src_g = mkvm("A", "g", 1, MIG_VM_RUNNING);
	src_g->attached = 1;
	src_g->watches = src_t;
	memset(&pair, 0, sizeof(pair));
	pair.target = "t";
	pair.guard = "g";
	pair.target_src = &src_t->vm;
	pair.guard_src = &src_g->vm;
	pair.window_id = "win";
	pair.target_src_mem = src_t->vm.name;
	check_invariant();
	return 0;
}

static struct fvm *
find(const char *host, int guard)
{
	int i;

	for (i = nvm - 1; i >= 0; i--)
		if (strcmp(vms[i].host, host) == 0 && vms[i].is_guard == guard &&
		    vms[i].st != MIG_VM_GONE)
			return &vms[i];
	return NULL;
}

static int
run(enum comig_mode mode, enum comig_strategy s, const char *const *d,
    size_t n, struct comig_result *res)
{
	struct comig_opts o = { mode, s, 0, 5000 };
	struct vouch_err e = VOUCH_ERR_INIT;

	return comig_run(&pair, d, n, &o, &hooks, NULL, res, &e);
}

static void
test_plain_ok(void **state)
{
	const char *d[] = { "B", "C" };
	struct comig_result res;

	(void)state;
	assert_int_equal(run(COMIG_EVACUATE, COMIG_PLAIN, d, 2, &res), 0);
	assert_string_equal(res.host, "B");
	assert_int_equal(violations, 0);
	assert_true(ops > 10);	/* the invariant was sampled throughout */
	assert_int_equal(find("B", 0)->st, MIG_VM_RUNNING);
	assert_int_equal(find("B", 1)->st, MIG_VM_RUNNING);
	assert_true(find("B", 1)->attached);
	assert_int_equal(src_t->st, MIG_VM_GONE);
	assert_int_equal(src_g->st, MIG_VM_GONE);
	/* attestation before the stream; verify before the target resumes */
	assert_non_null(strstr(order, "attest stream-target detach stream-guard"
	    " attach resume-guard verify resume-target"));
}

static void
test_standby_ok(void **state)
{
	const char *d[] = { "B" };
	struct comig_result res;

	(void)state;
	assert_int_equal(run(COMIG_EVACUATE, COMIG_STANDBY, d, 1, &res), 0);
	assert_int_equal(violations, 0);
	assert_null(strstr(order, "stream-guard"));
	assert_non_null(strstr(order, "attest attach stream-target verify"
	    " resume-target"));
	assert_int_equal(src_g->st, MIG_VM_GONE);
}

static void
test_attest_refused_next(void **state)
{
	const char *d[] = { "B", "C" };
	struct comig_result res;

	(void)state;
	snprintf(refuse_attest, sizeof(refuse_attest), "B");
	assert_int_equal(run(COMIG_EVACUATE, COMIG_PLAIN, d, 2, &res), 0);
	assert_string_equal(res.host, "C");
	assert_int_equal(res.tries, 2);
	assert_int_equal(abandons, 1);
	assert_int_equal(violations, 0);
}

static void
test_dest_killed_next(void **state)
{
	const char *d[] = { "B", "C" };
	struct comig_result res;

	(void)state;
	snprintf(kill_dst, sizeof(kill_dst), "B");
	assert_int_equal(run(COMIG_EVACUATE, COMIG_PLAIN, d, 2, &res), 0);
	assert_string_equal(res.host, "C");
	assert_int_equal(violations, 0);
	assert_int_equal(find("C", 0)->st, MIG_VM_RUNNING);
}

static void
test_no_trusted_dest_paused(void **state)
{
	const char *d[] = { "B" };
	struct comig_result res;

	(void)state;
	snprintf(refuse_attest, sizeof(refuse_attest), "B");
	assert_true(run(COMIG_EVACUATE, COMIG_PLAIN, d, 1, &res) < 0);
	assert_true(res.target_paused);
	assert_int_equal(src_t->st, MIG_VM_PAUSED);
	assert_int_equal(src_g->st, MIG_VM_RUNNING);	/* still watching */
	assert_true(src_g->attached);
	assert_true(alerts >= 1);
	assert_int_equal(violations, 0);
}

static void
test_verify_refused_stays_paused(void **state)
{
	const char *d[] = { "B", "C" };
	struct comig_result res;

	(void)state;
	snprintf(refuse_verify, sizeof(refuse_verify), "B");
	assert_true(run(COMIG_EVACUATE, COMIG_PLAIN, d, 2, &res) < 0);
	assert_true(res.target_paused);
	assert_int_equal(find("B", 0)->st, MIG_VM_PAUSED);	/* never resumed */
	assert_null(strstr(order, "resume-target"));
	assert_true(alerts >= 1);
	assert_int_equal(violations, 0);
}

static void
test_manual_guard_stream_fails_rollback(void **state)
{
	const char *d[] = { "B" };
	struct comig_result res;

	(void)state;
	fail_guard_stream = 1;
	assert_true(run(COMIG_MANUAL, COMIG_PLAIN, d, 1, &res) < 0);
	assert_true(res.rolled_back);
	assert_int_equal(src_t->st, MIG_VM_RUNNING);
	assert_int_equal(src_g->st, MIG_VM_RUNNING);
	assert_true(src_g->attached);
	assert_ptr_equal(src_g->watches, src_t);
	/* re-verified at the source before the target ran again */
	assert_non_null(strstr(order, "attach verify resume-target"));
	assert_int_equal(violations, 0);
}

static void
test_bad_args(void **state)
{
	struct comig_result res;
	struct comig_opts o = { COMIG_EVACUATE, COMIG_PLAIN, 0, 0 };
	struct comig_hooks h = hooks;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	h.guard_verify = NULL;
	assert_int_equal(comig_run(&pair, NULL, 0, &o, &h, NULL, &res, &e),
	    VOUCH_E_INVAL);
	assert_string_equal(comig_phase_name(COMIG_PH_GUARD_ATTACH),
	    "guard-attach");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_plain_ok, setup),
		cmocka_unit_test_setup(test_standby_ok, setup),
		cmocka_unit_test_setup(test_attest_refused_next, setup),
		cmocka_unit_test_setup(test_dest_killed_next, setup),
		cmocka_unit_test_setup(test_no_trusted_dest_paused, setup),
		cmocka_unit_test_setup(test_verify_refused_stays_paused, setup),
		cmocka_unit_test_setup(test_manual_guard_stream_fails_rollback,
		    setup),
		cmocka_unit_test_setup(test_bad_args, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
