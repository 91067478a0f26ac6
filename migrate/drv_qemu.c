/*
 * drv_qemu.c - the QEMU migration driver: driver.h's ops over QMP.
 *
 * One QMP connection per handle, opened lazily and reopened after it
 * breaks (QEMU serves one QMP client at a time, so the handle holds the
 * socket between calls and close gives it back).  Commands used (QEMU
 * 7.2):
 *
 *	state		query-status; a socket nobody listens on: MIG_VM_GONE
 *	pause/resume	stop / cont
 *	destroy		quit; QEMU answers, then closes the socket
 *	incoming	[object-add tls-creds-x509 endpoint=server verify-peer]
 *			migrate-set-parameters {tls-creds}; migrate-incoming
 *	migrate		migrate-set-capabilities (events on, postcopy off),
 *			migrate-set-parameters {max-bandwidth, tls-creds,
 *			tls-hostname}; migrate
 *	progress	query-migrate
 *	cancel		migrate_cancel
 *	window_detach	qom-get memdev, device_del, then DEVICE_DELETED
 *			(the guest must ack the unplug: it must run), then
 *			object-del of that memory backend
 *	window_attach	object-add memory-backend-file "<id>-mem" (share)
 *			+ device_add ivshmem-plain on a free hot-pluggable
 *			port
 *
 * Hotplug on q35 (the lab machine): the root complex (pcie.0) does not
 * take hot-plugged devices ("Bus 'pcie.0' does not support
 * hotplugging"); a device can only be hot-plugged into a pcie-root-port
 * that was there at boot (and on the destination, with the same id and
 * properties: migration compares the device tree).  window_attach picks
 * the first root port (a PCI bridge with a qdev id) with nothing behind
 * it, from query-pci.  The guard VM therefore needs e.g.
 *	-device pcie-root-port,id=rp-win,chassis=1,slot=1,pref64-reserve=1G
 * pref64-reserve: the window is a 64-bit prefetchable BAR as large as the
 * target's RAM; without a reservation the firmware gives the empty port
 * a 2 MiB window and the guest kernel says "BAR 2 ...: can't assign; no
 * space" (measured: 128 MiB BAR, no reserve: fails; 256M: assigned).
 * Q35 in 7.2 hot-plugs on root ports through ACPI by default: the guest's
 * ack of device_del (DEVICE_DELETED) came in ~0.09 s.  The guest must
 * run for that ack: a paused guard never acks (window_detach times out;
 * the unplug completes when it runs again).  device_add into a paused
 * guard works; the guest sees the device when it runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"
#include "migrate/driver.h"
#include "migrate/qmp.h"

#define QEMU_CONNECT_MS		5000
#define QEMU_CMD_MS		10000
#define QEMU_QUIT_MS		10000	/* quit until the socket closes */
#define QEMU_UNPLUG_MS		10000	/* guest's ack of device_del */
#define QEMU_REQUERY_MAX	50	/* "completed" with total-time 0 */

/*
 * "Unlimited" is sent as a cap nothing on a host link reaches (1 TiB/s),
 * not as 0: QEMU's parameter is a byte rate whose 0 means "no limit" in
 * 7.2's stream rate limiter (measured: 0 and 1 TiB/s give the same 0.3-
 * 0.5 s for 128 MiB) but not in every version and parameter (e.g.
 * max-postcopy-bandwidth 0 means "use max-bandwidth"), and the default
 * when nobody sets it is 128 MiB/s.  Parameters persist in a QEMU, so
 * every migrate sets all of them.
 */
#define QEMU_BW_UNLIMITED	(1ull << 40)

#define TLS_ID_SERVER		"vouch-mig-tls-server"
#define TLS_ID_CLIENT		"vouch-mig-tls-client"

struct qemu_vm {
	struct qmp	*q;
	char		 path[108];
};

static struct qemu_vm *
qv(struct mig_vm *vm)
{
	return vm->priv;
}

/* --- QMP plumbing ---------------------------------------------------------- */

static int
conn(struct qemu_vm *v, struct vouch_err *e)
{
	if (v->q != NULL)
		return 0;
	return qmp_connect(v->path, QEMU_CONNECT_MS, &v->q, e);
}

static void
drop(struct qemu_vm *v)
{
	qmp_close(v->q);
	v->q = NULL;
}

/*
 * One command.  A connection-level failure (anything but a QMP error
 * answer) drops the connection, so the next call starts afresh.
 */
static int
call(struct qemu_vm *v, const char *cmd, struct json_object *args,
    struct json_object **ret, struct vouch_err *e)
{
	int r;

	if ((r = conn(v, e)) < 0)
		return r;
	r = qmp_exec(v->q, cmd, args, ret, QEMU_CMD_MS, e);
	if (r < 0 && r != VOUCH_E_STATE)
		drop(v);
	return r;
}

/* call() that consumes args. */
static int
callp(struct qemu_vm *v, const char *cmd, struct json_object *args,
    struct json_object **ret, struct vouch_err *e)
{
	int r;

	if (args == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "%s: out of memory",
		    cmd);
	r = call(v, cmd, args, ret, e);
	json_object_put(args);
	return r;
}

static struct json_object *
obj(void)
{
	return json_object_new_object();
}

static void
put_str(struct json_object *o, const char *k, const char *v)
{
	if (o != NULL)
		json_object_object_add(o, k, json_object_new_string(v));
}

static void
put_bool(struct json_object *o, const char *k, int v)
{
	if (o != NULL)
		json_object_object_add(o, k, json_object_new_boolean(v));
}

static void
put_u64(struct json_object *o, const char *k, uint64_t v)
{
	if (o != NULL)
		json_object_object_add(o, k,
		    json_object_new_int64(v > INT64_MAX ? INT64_MAX :
		    (int64_t)v));
}

static struct json_object *
one_str(const char *k, const char *v)
{
	struct json_object *o = obj();

	put_str(o, k, v);
	return o;
}

static const char *
get_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A non-negative integer member, 0 if absent or not an integer. */
static uint64_t
get_u64(struct json_object *o, const char *k)
{
	struct json_object *v;
	int64_t n;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	n = json_object_get_int64(v);
	return n > 0 ? (uint64_t)n : 0;
}

/* --- state, pause, resume, destroy ---------------------------------------- */

static const struct {
	const char		*qemu;
	enum mig_run_state	 st;
} status_map[] = {
	{ "running",		MIG_VM_RUNNING },
	{ "paused",		MIG_VM_PAUSED },
	{ "prelaunch",		MIG_VM_PAUSED },	/* -S, not started */
	{ "suspended",		MIG_VM_PAUSED },
	{ "debug",		MIG_VM_PAUSED },
	{ "io-error",		MIG_VM_PAUSED },
	{ "watchdog",		MIG_VM_PAUSED },
	{ "save-vm",		MIG_VM_PAUSED },
	{ "restore-vm",		MIG_VM_PAUSED },
	{ "inmigrate",		MIG_VM_INMIGRATE },
	{ "postmigrate",	MIG_VM_POSTMIGRATE },
	{ "finish-migrate",	MIG_VM_FINISHMIGRATE },
	{ "shutdown",		MIG_VM_SHUTDOWN },
	{ "guest-panicked",	MIG_VM_SHUTDOWN },
	{ "internal-error",	MIG_VM_SHUTDOWN },
};

static int
q_state(struct mig_vm *vm, enum mig_run_state *st, struct vouch_err *e)
{
	struct qemu_vm *v = qv(vm);
	struct json_object *ret = NULL;
	const char *s;
	size_t i;
	int r, tries;

	/* A broken connection gets one fresh try: QEMU may still live. */
	for (tries = 0; tries < 2; tries++) {
		r = call(v, "query-status", NULL, &ret, e);
		if (r == VOUCH_E_NOTFOUND) {	/* nobody listens */
			*st = MIG_VM_GONE;
			return 0;
		}
		if (r != VOUCH_E_IO)
			break;
	}
	if (r < 0)
		return r;
	s = get_str(ret, "status");
	*st = MIG_VM_UNKNOWN;
	for (i = 0; s != NULL && i < sizeof(status_map) / sizeof(status_map[0]);
	    i++)
		if (strcmp(s, status_map[i].qemu) == 0) {
			*st = status_map[i].st;
			break;
		}
	json_object_put(ret);
	return 0;
}

static int
q_pause(struct mig_vm *vm, struct vouch_err *e)
{
	return call(qv(vm), "stop", NULL, NULL, e);
}

static int
q_resume(struct mig_vm *vm, struct vouch_err *e)
{
	return call(qv(vm), "cont", NULL, NULL, e);
}

static int
q_destroy(struct mig_vm *vm, struct vouch_err *e)
{
	struct qemu_vm *v = qv(vm);
	struct json_object *ev = NULL;
	int r;

	r = call(v, "quit", NULL, NULL, e);
	if (r == VOUCH_E_NOTFOUND)	/* already gone */
		return 0;
	if (r == VOUCH_E_IO)		/* closed before it answered */
		return 0;
	if (r < 0)
		return r;
	/* QEMU closes the socket as it exits: wait for that end. */
	for (;;) {
		r = qmp_wait_event(v->q, "vouch-never", QEMU_QUIT_MS, &ev, e);
		if (r == 0) {
			json_object_put(ev);
			continue;
		}
		break;
	}
	drop(v);
	if (r == VOUCH_E_NOTFOUND)
		return vouch_err_set(e, VOUCH_E_STATE, "quit: QEMU still "
		    "holds its QMP socket after %d ms", QEMU_QUIT_MS);
	return 0;
}

/* --- streams ---------------------------------------------------------------- */

/* (Re)create the x509 credentials object id for endpoint. */
static int
tls_creds(struct qemu_vm *v, const char *id, const char *dir,
    const char *endpoint, struct vouch_err *e)
{
	struct json_object *o;
	int r;
	struct vouch_err e2 = VOUCH_ERR_INIT;

	/* A retry towards another destination may bring another dir;
	 * "not found" (a QMP error) is the usual answer. */
	r = callp(v, "object-del", one_str("id", id), NULL, &e2);
	if (r < 0 && r != VOUCH_E_STATE)
		return vouch_err_set(e, r, "%s", e2.msg);
	o = obj();
	put_str(o, "qom-type", "tls-creds-x509");
	put_str(o, "id", id);
	put_str(o, "dir", dir);
	put_str(o, "endpoint", endpoint);
	put_bool(o, "verify-peer", 1);
	return callp(v, "object-add", o, NULL, e);
}

static int
q_incoming(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    struct vouch_err *e)
{
	struct qemu_vm *v = qv(vm);
	struct json_object *caps, *c;
	int r;

	if (tls != NULL &&
	    (r = tls_creds(v, TLS_ID_SERVER, tls->dir, "server", e)) < 0)
		return r;
	if ((r = callp(v, "migrate-set-parameters",
	    one_str("tls-creds", tls ? TLS_ID_SERVER : ""), NULL, e)) < 0)
		return r;
	/* Events on here too: MIGRATION events tell the state changes. */
	caps = json_object_new_array();
	c = obj();
	put_str(c, "capability", "events");
	put_bool(c, "state", 1);
	if (caps != NULL && c != NULL)
		json_object_array_add(caps, c);
	c = obj();
	if (c != NULL)
		json_object_object_add(c, "capabilities", caps);
	if ((r = callp(v, "migrate-set-capabilities", c, NULL, e)) < 0)
		return r;
	return callp(v, "migrate-incoming", one_str("uri", uri), NULL, e);
}

static struct json_object *
cap(const char *name, int on)
{
	struct json_object *c = obj();

	put_str(c, "capability", name);
	put_bool(c, "state", on);
	return c;
}

static int
q_migrate(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    uint64_t max_bw, struct vouch_err *e)
{
	struct qemu_vm *v = qv(vm);
	struct json_object *caps, *a;
	int r;

	/* Pre-copy only: after a post-copy switchover a failure loses
	 * the VM. */
	caps = json_object_new_array();
	if (caps != NULL) {
		json_object_array_add(caps, cap("events", 1));
		json_object_array_add(caps, cap("postcopy-ram", 0));
	}
	a = obj();
	if (a != NULL)
		json_object_object_add(a, "capabilities", caps);
	else
		json_object_put(caps);
	if ((r = callp(v, "migrate-set-capabilities", a, NULL, e)) < 0)
		return r;
	if (tls != NULL &&
	    (r = tls_creds(v, TLS_ID_CLIENT, tls->dir, "client", e)) < 0)
		return r;
	a = obj();
	put_u64(a, "max-bandwidth", max_bw ? max_bw : QEMU_BW_UNLIMITED);
	put_str(a, "tls-creds", tls ? TLS_ID_CLIENT : "");
	put_str(a, "tls-hostname", tls ? tls->peer_name : "");
	if ((r = callp(v, "migrate-set-parameters", a, NULL, e)) < 0)
		return r;
	if (v->q != NULL)
		qmp_clear_events(v->q);	/* old MIGRATION events */
	return callp(v, "migrate", one_str("uri", uri), NULL, e);
}

static enum mig_stream_status
stream_status(const char *s)
{
	if (s == NULL || strcmp(s, "none") == 0)
		return MIG_STREAM_NONE;
	if (strcmp(s, "setup") == 0)
		return MIG_STREAM_SETUP;
	if (strcmp(s, "completed") == 0)
		return MIG_STREAM_COMPLETED;
	if (strcmp(s, "failed") == 0)
		return MIG_STREAM_FAILED;
	if (strcmp(s, "cancelled") == 0)
		return MIG_STREAM_CANCELLED;
	/* active, cancelling, pre-switchover, device, wait-unplug, ... */
	return MIG_STREAM_ACTIVE;
}

static int
q_progress(struct mig_vm *vm, struct mig_progress *p, struct vouch_err *e)
{
	struct qemu_vm *v = qv(vm);
	struct json_object *ret = NULL, *ram = NULL, *x;
	struct mig_progress out;
	const char *s;
	int r, n;

	for (n = 0;; n++) {
		if ((r = call(v, "query-migrate", NULL, &ret, e)) < 0)
			return r;
		s = get_str(ret, "status");
		/* QEMU 7.2 can say "completed" before it filled in the
		 * times: ask again. */
		if (s != NULL && strcmp(s, "completed") == 0 &&
		    get_u64(ret, "total-time") == 0 && n < QEMU_REQUERY_MAX) {
			json_object_put(ret);
			ret = NULL;
			sleep_ms(10);
			continue;
		}
		break;
	}
	memset(&out, 0, sizeof(out));
	out.status = stream_status(s);
	if (json_object_object_get_ex(ret, "ram", &ram) &&
	    json_object_is_type(ram, json_type_object)) {
		out.transferred = get_u64(ram, "transferred");
		out.remaining = get_u64(ram, "remaining");
		out.total = get_u64(ram, "total");
		if (json_object_object_get_ex(ram, "mbps", &x) &&
		    (json_object_is_type(x, json_type_double) ||
		    json_object_is_type(x, json_type_int)))
			out.mbps = json_object_get_double(x);
	}
	out.total_time_ms = (int64_t)get_u64(ret, "total-time");
	out.downtime_ms = (int64_t)get_u64(ret, "downtime");
	if ((s = get_str(ret, "error-desc")) != NULL)
		snprintf(out.error, sizeof(out.error), "%s", s);
	json_object_put(ret);
	*p = out;
	return 0;
}

static int
q_cancel(struct mig_vm *vm, struct vouch_err *e)
{
	return call(qv(vm), "migrate_cancel", NULL, NULL, e);
}

/* --- the introspection window ---------------------------------------------- */

static int
q_window_detach(struct mig_vm *vm, const char *id, struct vouch_err *e)
{
	struct qemu_vm *v = qv(vm);
	struct json_object *ev = NULL, *data, *a, *ret = NULL;
	char mem_id[128];
	const char *dev, *slash;
	int r;

	/*
	 * The backend the window shows, whatever its name (ours are
	 * "<id>-mem"; one plugged at boot may have another): left behind,
	 * it would be migrated with the guard as one more RAM block that
	 * the destination does not have.
	 */
	a = obj();
	put_str(a, "path", id);
	put_str(a, "property", "memdev");
	if ((r = callp(v, "qom-get", a, &ret, e)) < 0)
		return r;
	dev = json_object_is_type(ret, json_type_string) ?
	    json_object_get_string(ret) : "";
	slash = strrchr(dev, '/');
	snprintf(mem_id, sizeof(mem_id), "%s", slash ? slash + 1 : dev);
	json_object_put(ret);
	if (v->q != NULL)
		qmp_clear_events(v->q);	/* an old DEVICE_DELETED */
	if ((r = callp(v, "device_del", one_str("id", id), NULL, e)) < 0)
		return r;
	/* device_del only asks the guest; the device is gone when the
	 * guest's hotplug driver acked (DEVICE_DELETED). */
	for (;;) {
		r = qmp_wait_event(v->q, "DEVICE_DELETED", QEMU_UNPLUG_MS,
		    &ev, e);
		if (r == VOUCH_E_NOTFOUND)
			return vouch_err_set(e, VOUCH_E_STATE, "device %s: "
			    "the guest did not release it within %d ms (no "
			    "PCIe hotplug in the guest, or the guest is "
			    "paused?)", id, QEMU_UNPLUG_MS);
		if (r < 0) {
			drop(v);
			return r;
		}
		dev = NULL;
		if (json_object_object_get_ex(ev, "data", &data))
			dev = get_str(data, "device");
		r = dev != NULL && strcmp(dev, id) == 0;
		json_object_put(ev);
		if (r)
			break;
	}
	if (mem_id[0] == '\0')
		return 0;
	return callp(v, "object-del", one_str("id", mem_id), NULL, e);
}

/* The qdev id of the first root port with nothing plugged in, or NULL. */
static char *
free_port(struct json_object *buses)
{
	struct json_object *bus, *devs, *d, *br, *sub;
	const char *qid;
	size_t i, j, nb, nd;

	if (!json_object_is_type(buses, json_type_array))
		return NULL;
	nb = json_object_array_length(buses);
	for (i = 0; i < nb; i++) {
		bus = json_object_array_get_idx(buses, i);
		if (!json_object_object_get_ex(bus, "devices", &devs) ||
		    !json_object_is_type(devs, json_type_array))
			continue;
		nd = json_object_array_length(devs);
		for (j = 0; j < nd; j++) {
			d = json_object_array_get_idx(devs, j);
			if (!json_object_object_get_ex(d, "pci_bridge", &br))
				continue;
			qid = get_str(d, "qdev_id");
			if (qid == NULL || *qid == '\0')
				continue;
			if (json_object_object_get_ex(br, "devices", &sub) &&
			    json_object_is_type(sub, json_type_array) &&
			    json_object_array_length(sub) > 0)
				continue;
			return strdup(qid);
		}
	}
	return NULL;
}

static int
q_window_attach(struct mig_vm *vm, const char *id, const char *mem,
    struct vouch_err *e)
{
	struct qemu_vm *v = qv(vm);
	struct json_object *o, *buses = NULL;
	struct stat st;
	char mem_id[128], *port = NULL;
	int r;

	if (strlen(id) > 100)
		return vouch_err_set(e, VOUCH_E_INVAL, "window id too long");
	if (stat(mem, &st) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", mem,
		    strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size <= 0)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "%s: not a non-empty regular file", mem);
	if ((r = call(v, "query-pci", NULL, &buses, e)) < 0)
		return r;
	port = free_port(buses);
	json_object_put(buses);
	if (port == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "no free "
		    "hot-pluggable port (q35: start the VM with a "
		    "pcie-root-port that has an id)");

	snprintf(mem_id, sizeof(mem_id), "%s-mem", id);
	o = obj();
	put_str(o, "qom-type", "memory-backend-file");
	put_str(o, "id", mem_id);
	put_str(o, "mem-path", mem);
	put_u64(o, "size", (uint64_t)st.st_size);
	put_bool(o, "share", 1);
	if ((r = callp(v, "object-add", o, NULL, e)) < 0)
		goto out;
	o = obj();
	put_str(o, "driver", "ivshmem-plain");
	put_str(o, "memdev", mem_id);
	put_str(o, "id", id);
	put_str(o, "bus", port);
	if ((r = callp(v, "device_add", o, NULL, e)) < 0) {
		callp(v, "object-del", one_str("id", mem_id), NULL, NULL);
		goto out;
	}
out:
	free(port);
	return r;
}

static void
q_close(struct mig_vm *vm)
{
	struct qemu_vm *v = qv(vm);

	if (v != NULL)
		qmp_close(v->q);
	free(v);
	free(vm);
}

static const struct mig_driver_ops qemu_ops = {
	.name = "qemu",
	.state = q_state,
	.pause = q_pause,
	.resume = q_resume,
	.destroy = q_destroy,
	.incoming = q_incoming,
	.migrate = q_migrate,
	.progress = q_progress,
	.cancel = q_cancel,
	.window_detach = q_window_detach,
	.window_attach = q_window_attach,
	.close = q_close,
};

int
mig_qemu_open(const char *qmp_path, const char *name, struct mig_vm **out,
    struct vouch_err *e)
{
	struct mig_vm *vm;
	struct qemu_vm *v;

	if (qmp_path == NULL || name == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "mig_qemu_open: NULL");
	if (strlen(qmp_path) >= sizeof(v->path))
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: path too long",
		    qmp_path);
	if (strlen(name) >= sizeof(vm->name))
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: name too long",
		    name);
	vm = calloc(1, sizeof(*vm));
	v = calloc(1, sizeof(*v));
	if (vm == NULL || v == NULL) {
		free(vm);
		free(v);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	memcpy(v->path, qmp_path, strlen(qmp_path) + 1);
	memcpy(vm->name, name, strlen(name) + 1);
	vm->ops = &qemu_ops;
	vm->priv = v;
	*out = vm;
	return 0;
}
