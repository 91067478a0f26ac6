/*
 * driver.h - one hypervisor driver-ops table for the migration engine.
 *
 * The co-migration engine (comigrate.h) drives VMs only through these
 * ops; it never knows whether QEMU (QMP, drv_qemu.c) or Xen (libxl,
 * drv_xen.c) is underneath.  A struct mig_vm is one VM on one host as
 * seen by the local toolstack: the source copy, or a destination copy
 * started paused and waiting for a stream.
 *
 * Streams: pre-copy only (never post-copy: a failure after switchover
 * would lose the VM).  With TLS, both ends use x509 credentials from a
 * directory in QEMU's layout (ca-cert.pem, server-cert.pem,
 * server-key.pem for the listening end; client-cert.pem, client-key.pem
 * for the sending end) and verify the peer; the sender also checks that
 * the server certificate names peer_name (the destination host that was
 * just attested), so the stream can only go to that host.
 */
#ifndef VOUCH_MIGRATE_DRIVER_H
#define VOUCH_MIGRATE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum mig_run_state {
	MIG_VM_UNKNOWN = 0,
	MIG_VM_RUNNING,
	MIG_VM_PAUSED,		/* stopped, e.g. a destination before cont */
	MIG_VM_INMIGRATE,	/* destination receiving */
	MIG_VM_POSTMIGRATE,	/* source after a completed migration */
	MIG_VM_FINISHMIGRATE,	/* source at switchover */
	MIG_VM_SHUTDOWN,
	MIG_VM_GONE,		/* no such VM (process exited, domain gone) */
};
const char *mig_run_state_name(enum mig_run_state s);

struct mig_tls {
	const char	*dir;		/* credentials, QEMU's file names */
	const char	*peer_name;	/* sender: expected server cert name */
};

enum mig_stream_status {
	MIG_STREAM_NONE = 0,
	MIG_STREAM_SETUP,
	MIG_STREAM_ACTIVE,
	MIG_STREAM_COMPLETED,
	MIG_STREAM_FAILED,
	MIG_STREAM_CANCELLED,
};

struct mig_progress {
	enum mig_stream_status status;
	uint64_t	transferred;	/* bytes sent so far */
	uint64_t	remaining;
	uint64_t	total;		/* guest RAM */
	int64_t		total_time_ms;	/* at completion */
	int64_t		downtime_ms;	/* at completion, as the hypervisor saw it */
	double		mbps;
	char		error[160];	/* why, when FAILED */
};

struct mig_vm;

struct mig_driver_ops {
	const char *name;	/* "qemu", "xen" */
	int (*state)(struct mig_vm *vm, enum mig_run_state *st,
	    struct vouch_err *e);
	int (*pause)(struct mig_vm *vm, struct vouch_err *e);
	int (*resume)(struct mig_vm *vm, struct vouch_err *e);
	/* Stop and remove this copy of the VM (source after success,
	 * destination after failure). */
	int (*destroy)(struct mig_vm *vm, struct vouch_err *e);
	/* Destination: listen on uri ("tcp:HOST:PORT") for the stream. */
	int (*incoming)(struct mig_vm *vm, const char *uri,
	    const struct mig_tls *tls, struct vouch_err *e);
	/* Source: start sending to uri; max_bw bytes/s (0: unlimited). */
	int (*migrate)(struct mig_vm *vm, const char *uri,
	    const struct mig_tls *tls, uint64_t max_bw, struct vouch_err *e);
	int (*progress)(struct mig_vm *vm, struct mig_progress *p,
	    struct vouch_err *e);
	int (*cancel)(struct mig_vm *vm, struct vouch_err *e);
	/*
	 * A guard's introspection window on its target's memory (QEMU: an
	 * ivshmem-plain device on the target's RAM file; Xen: the FLASK map
	 * right).  Detach before the guard migrates; attach at the
	 * destination to the destination target's memory (mem: the target's
	 * RAM file path / domain id).  NULL where unsupported.
	 */
	int (*window_detach)(struct mig_vm *guard, const char *id,
	    struct vouch_err *e);
	int (*window_attach)(struct mig_vm *guard, const char *id,
	    const char *mem, struct vouch_err *e);
	void (*close)(struct mig_vm *vm);	/* forget the handle only */
};

struct mig_vm {
	const struct mig_driver_ops *ops;
	void		*priv;
	char		name[64];
};

/* Wrappers: NULL-op checks, uniform error prefixes ("vm NAME: ..."). */
int mig_state(struct mig_vm *vm, enum mig_run_state *st, struct vouch_err *e);
int mig_pause(struct mig_vm *vm, struct vouch_err *e);
int mig_resume(struct mig_vm *vm, struct vouch_err *e);
int mig_destroy(struct mig_vm *vm, struct vouch_err *e);
int mig_incoming(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    struct vouch_err *e);
int mig_migrate(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    uint64_t max_bw, struct vouch_err *e);
int mig_progress(struct mig_vm *vm, struct mig_progress *p,
    struct vouch_err *e);
int mig_cancel(struct mig_vm *vm, struct vouch_err *e);
int mig_window_detach(struct mig_vm *guard, const char *id,
    struct vouch_err *e);
int mig_window_attach(struct mig_vm *guard, const char *id, const char *mem,
    struct vouch_err *e);
void mig_close(struct mig_vm *vm);		/* NULL ok */

/* QEMU: a VM reachable on its QMP socket (drv_qemu.c). */
int mig_qemu_open(const char *qmp_path, const char *name, struct mig_vm **out,
    struct vouch_err *e);

#endif
