/*
 * comigrate.c - the co-migration engine (see comigrate.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "migrate/comigrate.h"

static const char *const phase_names[] = {
	"prepare", "attest", "target", "guard-detach", "guard",
	"guard-attach", "resume", "cleanup", "rollback", "done", "failed",
};

const char *
comig_phase_name(enum comig_phase p)
{
	if ((unsigned)p < sizeof(phase_names) / sizeof(phase_names[0]))
		return phase_names[p];
	return "unknown";
}

struct run {
	const struct comig_pair *p;
	const struct comig_opts *o;
	const struct comig_hooks *h;
	void		*arg;
	struct comig_result *res;
	int64_t		t0;
	const char	*host;
};

static void
emit(struct run *r, enum comig_phase ph, int done, uint64_t bytes,
    uint64_t total, double mbps, const char *msg)
{
	struct comig_event ev;

	r->res->phase = ph;
	if (r->h->event == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.phase = ph;
	ev.host = r->host;
	ev.done = done;
	ev.t_ms = mono_ms() - r->t0;
	ev.bytes = bytes;
	ev.total = total;
	ev.mbps = mbps;
	ev.msg = msg;
	r->h->event(r->arg, &ev);
}

static void alert(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
alert(struct run *r, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->h->alert != NULL)
		r->h->alert(r->arg, msg);
	emit(r, r->res->phase, 1, 0, 0, 0, msg);
}

/*
 * One pre-copy stream src -> dst.  *t_done gets the time completion was
 * seen; *downtime the hypervisor's downtime.
 */
static int
stream(struct run *r, enum comig_phase ph, struct mig_vm *src,
    struct mig_vm *dst, const char *uri, const struct mig_tls *tls_src,
    const struct mig_tls *tls_dst, uint64_t max_bw, int timeout_ms,
    uint64_t *bytes, int64_t *ms, int64_t *downtime, int64_t *t_done,
    struct vouch_err *e)
{
	struct mig_progress pr;
	int64_t start = mono_ms(), last_ev = 0;
	int rc, requery = 0;

	if ((rc = mig_incoming(dst, uri, tls_dst, e)) < 0 ||
	    (rc = mig_migrate(src, uri, tls_src, max_bw, e)) < 0)
		return rc;
	for (;;) {
		memset(&pr, 0, sizeof(pr));
		if ((rc = mig_progress(src, &pr, e)) < 0)
			return rc;
		if (pr.status == MIG_STREAM_COMPLETED) {
			/* QEMU may say completed with total-time 0: ask again */
			if (pr.total_time_ms == 0 && requery++ < 20) {
				sleep_ms(1);
				continue;
			}
			*t_done = mono_ms();
			*bytes = pr.transferred;
			*ms = pr.total_time_ms > 0 ? pr.total_time_ms :
			    *t_done - start;
			*downtime = pr.downtime_ms;
			emit(r, ph, 1, pr.transferred, pr.total, pr.mbps, NULL);
			return 0;
		}
		if (pr.status == MIG_STREAM_FAILED ||
		    pr.status == MIG_STREAM_CANCELLED)
			return vouch_err_set(e, VOUCH_E_IO, "%s stream to %s %s%s%s",
			    comig_phase_name(ph), uri,
			    pr.status == MIG_STREAM_FAILED ? "failed" :
			    "was cancelled", pr.error[0] ? ": " : "", pr.error);
		if (mono_ms() - start > timeout_ms) {
			(void)mig_cancel(src, NULL);
			return vouch_err_set(e, VOUCH_E_IO,
			    "%s stream to %s timed out after %d ms",
			    comig_phase_name(ph), uri, timeout_ms);
		}
		if (mono_ms() - last_ev >= 100) {
			last_ev = mono_ms();
			emit(r, ph, 0, pr.transferred, pr.total, pr.mbps, NULL);
		}
		sleep_ms(COMIG_POLL_MS);
	}
}

static void
tls_of(const char *dir, const char *peer, struct mig_tls *t,
    const struct mig_tls **out)
{
	t->dir = dir;
	t->peer_name = peer;
	*out = dir[0] != '\0' ? t : NULL;
}

/*
 * Manual migration, target already stopped at the source: bring the
 * pair back up there.  The guard is re-attached to the source target and
 * must verify it before the target resumes (same rule as anywhere).
 */
static int
rollback(struct run *r, int window_detached, struct vouch_err *e)
{
	const struct comig_pair *p = r->p;
	enum mig_run_state st;
	int rc;

	emit(r, COMIG_PH_ROLLBACK, 0, 0, 0, 0, NULL);
	if (mig_state(p->guard_src, &st, e) < 0)
		return -1;
	if (st != MIG_VM_RUNNING && (rc = mig_resume(p->guard_src, e)) < 0)
		return rc;
	if (window_detached) {
		if ((rc = mig_window_attach(p->guard_src, p->window_id,
		    p->target_src_mem, e)) < 0)
			return rc;
		if ((rc = r->h->guard_verify(r->arg, "source", p->guard_src,
		    e)) < 0)
			return rc;
	}
	if ((rc = mig_resume(p->target_src, e)) < 0)
		return rc;
	r->res->rolled_back = 1;
	emit(r, COMIG_PH_ROLLBACK, 1, 0, 0, 0, NULL);
	return 0;
}

/*
 * The target has left the source and something failed before it could
 * resume at the destination.  Evacuation: leave it paused and alert.
 * Manual: roll back to the source.
 */
static int
after_switchover_failure(struct run *r, struct comig_dest *d,
    int window_detached, const struct vouch_err *why, struct vouch_err *e)
{
	struct vouch_err re = VOUCH_ERR_INIT;

	if (r->o->mode == COMIG_MANUAL) {
		if (rollback(r, window_detached, &re) == 0) {
			if (r->h->abandon != NULL)
				r->h->abandon(r->arg, r->host, d);
			return vouch_err_set(e, why->code ? why->code : VOUCH_E_IO,
			    "%s (rolled back: the pair runs at the source)",
			    why->msg);
		}
		alert(r, "rollback to the source failed: %s", re.msg);
	}
	r->res->target_paused = 1;
	alert(r, "target %s left paused (at %s, not resumed at the source):"
	    " %s", r->p->target, r->host, why->msg);
	return vouch_err_set(e, why->code ? why->code : VOUCH_E_IO,
	    "%s; target %s left paused", why->msg, r->p->target);
}

/* One destination.  1 = try the next one, 0 = done, <0 = stop. */
static int
try_dest(struct run *r, const char *host, struct vouch_err *e)
{
	const struct comig_pair *p = r->p;
	const struct comig_opts *o = r->o;
	struct comig_dest d;
	struct mig_tls ts, tdst;
	const struct mig_tls *tls_src, *tls_dst;
	struct vouch_err ce = VOUCH_ERR_INIT;
	int64_t tmig, tdown, tdone, gms, gdown, gdone, t1;
	uint64_t bytes;
	int timeout = o->stream_timeout_ms > 0 ? o->stream_timeout_ms : 600000;
	int window_detached = 0;

	r->host = host;
	memset(&d, 0, sizeof(d));
	emit(r, COMIG_PH_PREPARE, 0, 0, 0, 0, NULL);
	if (r->h->prepare(r->arg, host, p, o->strategy, &d, &ce) < 0) {
		emit(r, COMIG_PH_PREPARE, 1, 0, 0, 0, ce.msg);
		snprintf(r->res->error, sizeof(r->res->error), "%s: %s", host,
		    ce.msg);
		return 1;
	}
	emit(r, COMIG_PH_PREPARE, 1, 0, 0, 0, NULL);
	tls_of(d.tls_dir_src, d.peer_name, &ts, &tls_src);
	tls_of(d.tls_dir_dst, NULL, &tdst, &tls_dst);

	/* Fresh attestation right before the stream starts. */
	emit(r, COMIG_PH_ATTEST, 0, 0, 0, 0, NULL);
	if (r->h->attest(r->arg, host, &ce) < 0) {
		emit(r, COMIG_PH_ATTEST, 1, 0, 0, 0, ce.msg);
		snprintf(r->res->error, sizeof(r->res->error),
		    "%s refused by the fresh attestation: %s", host, ce.msg);
		goto next;
	}
	emit(r, COMIG_PH_ATTEST, 1, 0, 0, 0, NULL);
	if (o->strategy == COMIG_STANDBY &&
	    mig_window_attach(d.guard, p->window_id, d.target_mem, &ce) < 0) {
		snprintf(r->res->error, sizeof(r->res->error),
		    "%s: standby guard window: %s", host, ce.msg);
		goto next;
	}

	/* The target streams; it stops at switchover, its guard still runs. */
	emit(r, COMIG_PH_TARGET, 0, 0, 0, 0, NULL);
	if (stream(r, COMIG_PH_TARGET, p->target_src, d.target, d.target_uri,
	    tls_src, tls_dst, o->max_bw, timeout, &bytes, &tmig, &tdown,
	    &tdone, &ce) < 0) {
		enum mig_run_state st = MIG_VM_UNKNOWN;

		emit(r, COMIG_PH_TARGET, 1, 0, 0, 0, ce.msg);
		snprintf(r->res->error, sizeof(r->res->error), "%s: %s", host,
		    ce.msg);
		/* A failed pre-copy leaves the source as it was. */
		(void)mig_state(p->target_src, &st, NULL);
		if (st != MIG_VM_RUNNING && st != MIG_VM_PAUSED) {
			alert(r, "target %s is %s at the source after a failed"
			    " stream", p->target, mig_run_state_name(st));
			if (r->h->abandon != NULL)
				r->h->abandon(r->arg, host, &d);
			r->res->target_paused = 1;
			return vouch_err_set(e, VOUCH_E_STATE, "%s", ce.msg);
		}
		goto next;
	}
	r->res->target_stream_ms = tmig;
	r->res->target_bytes = bytes;

	if (o->strategy == COMIG_PLAIN) {
		emit(r, COMIG_PH_GUARD_DETACH, 0, 0, 0, 0, NULL);
		if (r->h->guard_detach(r->arg, p->guard_src, &ce) < 0 ||
		    mig_window_detach(p->guard_src, p->window_id, &ce) < 0)
			return after_switchover_failure(r, &d, 0, &ce, e);
		window_detached = 1;
		emit(r, COMIG_PH_GUARD_DETACH, 1, 0, 0, 0, NULL);
		emit(r, COMIG_PH_GUARD, 0, 0, 0, 0, NULL);
		if (stream(r, COMIG_PH_GUARD, p->guard_src, d.guard,
		    d.guard_uri, tls_src, tls_dst, o->max_bw, timeout, &bytes,
		    &gms, &gdown, &gdone, &ce) < 0)
			return after_switchover_failure(r, &d, window_detached,
			    &ce, e);
		r->res->guard_stream_ms = gms;
		r->res->guard_bytes = bytes;
		if (mig_window_attach(d.guard, p->window_id, d.target_mem,
		    &ce) < 0 || mig_resume(d.guard, &ce) < 0)
			return after_switchover_failure(r, &d, window_detached,
			    &ce, e);
	}

	/* The guard at the destination attaches and verifies the target. */
	emit(r, COMIG_PH_GUARD_ATTACH, 0, 0, 0, 0, NULL);
	t1 = mono_ms();
	if (r->h->guard_verify(r->arg, host, d.guard, &ce) < 0)
		return after_switchover_failure(r, &d, window_detached, &ce, e);
	r->res->verify_ms = mono_ms() - t1;
	emit(r, COMIG_PH_GUARD_ATTACH, 1, 0, 0, 0, NULL);

	/* Only now the target runs again. */
	emit(r, COMIG_PH_RESUME, 0, 0, 0, 0, NULL);
	if (mig_resume(d.target, &ce) < 0)
		return after_switchover_failure(r, &d, window_detached, &ce, e);
	r->res->target_downtime_ms = tdown + (mono_ms() - tdone);
	emit(r, COMIG_PH_RESUME, 1, 0, 0, 0, NULL);

	emit(r, COMIG_PH_CLEANUP, 0, 0, 0, 0, NULL);
	if (mig_destroy(p->target_src, &ce) < 0)
		alert(r, "source target %s not destroyed: %s", p->target,
		    ce.msg);
	if (mig_destroy(p->guard_src, &ce) < 0)
		alert(r, "source guard %s not destroyed: %s", p->guard, ce.msg);
	emit(r, COMIG_PH_CLEANUP, 1, 0, 0, 0, NULL);
	snprintf(r->res->host, sizeof(r->res->host), "%s", host);
	r->res->error[0] = '\0';
	return 0;
next:
	if (r->h->abandon != NULL)
		r->h->abandon(r->arg, host, &d);
	return 1;
}

int
comig_run(const struct comig_pair *p, const char *const *dests, size_t ndests,
    const struct comig_opts *o, const struct comig_hooks *h, void *arg,
    struct comig_result *res, struct vouch_err *e)
{
	struct run r;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	if (p == NULL || o == NULL || h == NULL || p->target_src == NULL ||
	    p->guard_src == NULL || h->prepare == NULL || h->attest == NULL ||
	    h->guard_verify == NULL ||
	    (o->strategy == COMIG_PLAIN && h->guard_detach == NULL) ||
	    p->window_id == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "comig_run: incomplete"
		    " pair, options or hooks");
	if (ndests > COMIG_MAX_DESTS)
		ndests = COMIG_MAX_DESTS;
	memset(&r, 0, sizeof(r));
	r.p = p;
	r.o = o;
	r.h = h;
	r.arg = arg;
	r.res = res;
	r.t0 = mono_ms();
	for (i = 0; i < ndests; i++) {
		res->tries++;
		rc = try_dest(&r, dests[i], e);
		if (rc == 0) {
			res->total_ms = mono_ms() - r.t0;
			emit(&r, COMIG_PH_DONE, 1, 0, 0, 0, NULL);
			return 0;
		}
		if (rc < 0) {
			snprintf(res->error, sizeof(res->error), "%s",
			    e != NULL ? e->msg : "failed");
			res->total_ms = mono_ms() - r.t0;
			res->phase = COMIG_PH_FAILED;
			return rc;
		}
	}
	res->total_ms = mono_ms() - r.t0;
	r.host = NULL;
	if (res->error[0] == '\0')
		snprintf(res->error, sizeof(res->error),
		    "no destination to try");
	if (o->mode == COMIG_EVACUATE) {
		/*
		 * Still at the source, running with its guard (a failed
		 * stream resumes the source).  The source is untrusted: stop
		 * the target there (its guard keeps watching it) and alert.
		 */
		struct vouch_err pe = VOUCH_ERR_INIT;

		if (mig_pause(p->target_src, &pe) == 0)
			res->target_paused = 1;
		alert(&r, "no trusted destination took target %s (%s); target"
		    " %s at the source", p->target, res->error,
		    res->target_paused ? "paused" : "NOT paused");
	}
	res->phase = COMIG_PH_FAILED;
	return vouch_err_set(e, VOUCH_E_NOTFOUND, "co-migration of %s failed"
	    " on every destination: %s", p->target, res->error);
}

int
comig_solo(struct mig_vm *src, struct mig_vm *dst, const char *uri,
    const struct mig_tls *tls_src, const struct mig_tls *tls_dst,
    const struct comig_opts *o, struct comig_result *res,
    struct vouch_err *e)
{
	struct comig_hooks h;
	struct comig_pair p;
	struct run r;
	int64_t tmig, tdown, tdone;
	uint64_t bytes;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&h, 0, sizeof(h));
	memset(&p, 0, sizeof(p));
	memset(&r, 0, sizeof(r));
	p.target = src->name;
	r.p = &p;
	r.o = o;
	r.h = &h;
	r.res = res;
	r.t0 = mono_ms();
	if ((rc = stream(&r, COMIG_PH_TARGET, src, dst, uri, tls_src, tls_dst,
	    o->max_bw, o->stream_timeout_ms > 0 ? o->stream_timeout_ms :
	    600000, &bytes, &tmig, &tdown, &tdone, e)) < 0)
		return rc;
	if ((rc = mig_resume(dst, e)) < 0)
		return rc;
	res->target_downtime_ms = tdown + (mono_ms() - tdone);
	res->target_stream_ms = tmig;
	res->target_bytes = bytes;
	res->total_ms = mono_ms() - r.t0;
	res->phase = COMIG_PH_DONE;
	return 0;
}
