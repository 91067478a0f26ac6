/*
 * driver.c - the mig_* wrappers over a driver-ops table (driver.h): a
 * missing op is VOUCH_E_UNSUPPORTED, and every error reason starts with
 * "vm NAME: " so that the engine's logs say which copy failed.
 */
#include <stddef.h>

#include "migrate/driver.h"

const char *
mig_run_state_name(enum mig_run_state s)
{
	switch (s) {
	case MIG_VM_UNKNOWN:		return "unknown";
	case MIG_VM_RUNNING:		return "running";
	case MIG_VM_PAUSED:		return "paused";
	case MIG_VM_INMIGRATE:		return "inmigrate";
	case MIG_VM_POSTMIGRATE:	return "postmigrate";
	case MIG_VM_FINISHMIGRATE:	return "finish-migrate";
	case MIG_VM_SHUTDOWN:		return "shutdown";
	case MIG_VM_GONE:		return "gone";
	}
	return "unknown";
}

#define HAS(v, op)	((v) != NULL && (v)->ops != NULL && (v)->ops->op != NULL)

/* Check vm and that it has the op; r < 0 means: return r. */
static int
pre(struct mig_vm *vm, int has, const char *what, struct vouch_err *e)
{
	if (vm == NULL || vm->ops == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: NULL vm", what);
	if (!has)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "vm %s: %s: not supported by the %s driver", vm->name,
		    what, vm->ops->name ? vm->ops->name : "?");
	return 0;
}

static int
post(struct mig_vm *vm, int r, const char *what, struct vouch_err *e)
{
	if (r < 0 && e != NULL)
		vouch_err_prefix(e, "vm %s: %s", vm->name, what);
	return r;
}

int
mig_state(struct mig_vm *vm, enum mig_run_state *st, struct vouch_err *e)
{
	int r;

	if ((r = pre(vm, HAS(vm, state), "state", e)) < 0)
		return r;
	if (st == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "vm %s: state: NULL",
		    vm->name);
	return post(vm, vm->ops->state(vm, st, e), "state", e);
}

#define SIMPLE(fn, op)							\
int									\
fn(struct mig_vm *vm, struct vouch_err *e)				\
{									\
	int r;								\
									\
	if ((r = pre(vm, HAS(vm, op), #op, e)) < 0)			\
		return r;						\
	return post(vm, vm->ops->op(vm, e), #op, e);			\
}

SIMPLE(mig_pause, pause)
SIMPLE(mig_resume, resume)
SIMPLE(mig_destroy, destroy)
SIMPLE(mig_cancel, cancel)

int
mig_incoming(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    struct vouch_err *e)
{
	int r;

	if ((r = pre(vm, HAS(vm, incoming), "incoming", e)) < 0)
		return r;
	if (uri == NULL || *uri == '\0' || (tls != NULL && tls->dir == NULL))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "vm %s: incoming: no uri or no TLS directory", vm->name);
	return post(vm, vm->ops->incoming(vm, uri, tls, e), "incoming", e);
}

int
mig_migrate(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    uint64_t max_bw, struct vouch_err *e)
{
	int r;

	if ((r = pre(vm, HAS(vm, migrate), "migrate", e)) < 0)
		return r;
	/* The sender must name the attested host: no TLS without it. */
	if (uri == NULL || *uri == '\0' || (tls != NULL &&
	    (tls->dir == NULL || tls->peer_name == NULL ||
	    *tls->peer_name == '\0')))
		return vouch_err_set(e, VOUCH_E_INVAL, "vm %s: migrate: no "
		    "uri, or TLS without a directory or peer name", vm->name);
	return post(vm, vm->ops->migrate(vm, uri, tls, max_bw, e), "migrate",
	    e);
}

int
mig_progress(struct mig_vm *vm, struct mig_progress *p, struct vouch_err *e)
{
	int r;

	if ((r = pre(vm, HAS(vm, progress), "progress", e)) < 0)
		return r;
	if (p == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "vm %s: progress: NULL", vm->name);
	return post(vm, vm->ops->progress(vm, p, e), "progress", e);
}

int
mig_window_detach(struct mig_vm *guard, const char *id, struct vouch_err *e)
{
	int r;

	if ((r = pre(guard, HAS(guard, window_detach), "window detach",
	    e)) < 0)
		return r;
	if (id == NULL || *id == '\0')
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "vm %s: window detach: no id", guard->name);
	return post(guard, guard->ops->window_detach(guard, id, e),
	    "window detach", e);
}

int
mig_window_attach(struct mig_vm *guard, const char *id, const char *mem,
    struct vouch_err *e)
{
	int r;

	if ((r = pre(guard, HAS(guard, window_attach), "window attach",
	    e)) < 0)
		return r;
	if (id == NULL || *id == '\0' || mem == NULL || *mem == '\0')
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "vm %s: window attach: no id or memory", guard->name);
	return post(guard, guard->ops->window_attach(guard, id, mem, e),
	    "window attach", e);
}

void
mig_close(struct mig_vm *vm)
{
	if (vm == NULL)
		return;
	if (vm->ops != NULL && vm->ops->close != NULL)
		vm->ops->close(vm);
}
