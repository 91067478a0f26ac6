/*
 * comigrate.h - synchronised co-migration of a protected target VM and
 * its guard VM, only to a freshly attested destination.
 *
 * The invariant (DESIGN.md): at every instant the target runs, its guard
 * runs on the same host and is attached to it.  The engine keeps it by
 * order alone, over the driver-ops table (driver.h):
 *
 *  plain strategy (the guard VM migrates too):
 *   1. prepare: destination copies of target and guard started paused
 *   2. attest: the destination proves its integrity with a fresh nonce
 *      right now (else: next destination)
 *   3. target stream (pre-copy; the target stops at switchover while its
 *      guard still runs attached at the source)
 *   4. the guard stops reading, its window is detached, the guard streams
 *   5. at the destination: window attached to the destination target's
 *      memory, guard resumed, guard verifies the target's kernel against
 *      the baseline recorded while the source was trusted
 *   6. only then the target resumes; 7. the source copies are destroyed
 *
 *  standby strategy (a warm-standby guard VM, booted earlier at the
 *  destination from the same measured image, takes over; the source
 *  guard is not migrated):
 *   1. prepare: destination target paused; the standby guard's window is
 *      attached to the destination target's memory (it does not read yet)
 *   2. attest; 3. target stream
 *   4. the standby guard attaches and verifies (as 5 above)
 *   5. target resumes; 6. source target and source guard destroyed
 *  The target waits only for the verification, not for a guard stream.
 *
 * Failures before the target resumes never resume a target without its
 * guard.  Evacuation (source UNTRUSTED): the next ranked destination is
 * tried while the target has not left the source; once it has, a failure
 * leaves it paused at the destination and raises an alert.  Manual
 * (source healthy): everything is rolled back to the source, both
 * resumed there.
 */
#ifndef VOUCH_MIGRATE_COMIGRATE_H
#define VOUCH_MIGRATE_COMIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "migrate/driver.h"

#define COMIG_MAX_DESTS		16
#define COMIG_POLL_MS		5

enum comig_mode { COMIG_EVACUATE = 0, COMIG_MANUAL };
enum comig_strategy { COMIG_PLAIN = 0, COMIG_STANDBY };

enum comig_phase {
	COMIG_PH_PREPARE = 0,
	COMIG_PH_ATTEST,
	COMIG_PH_TARGET,	/* target stream */
	COMIG_PH_GUARD_DETACH,
	COMIG_PH_GUARD,		/* guard stream (plain) */
	COMIG_PH_GUARD_ATTACH,	/* window attached, guard verifying */
	COMIG_PH_RESUME,	/* target resumed at the destination */
	COMIG_PH_CLEANUP,	/* source copies destroyed */
	COMIG_PH_ROLLBACK,
	COMIG_PH_DONE,
	COMIG_PH_FAILED,
};
const char *comig_phase_name(enum comig_phase p);

struct comig_pair {
	const char	*target, *guard;	/* names, for records */
	struct mig_vm	*target_src, *guard_src;
	const char	*window_id;		/* the guard's window device */
	const char	*target_src_mem;	/* source target memory (rollback) */
};

/* Destination copies, filled by hooks->prepare. */
struct comig_dest {
	struct mig_vm	*target;	/* paused, waiting for the stream */
	struct mig_vm	*guard;		/* plain: paused, waiting; standby: running */
	char		target_uri[128], guard_uri[128];
	char		target_mem[256];	/* for the guard's window */
	char		tls_dir_src[256];	/* sender credentials ("" = no TLS) */
	char		tls_dir_dst[256];	/* receiver credentials */
	char		peer_name[64];		/* the attested host's cert name */
};

struct comig_event {
	enum comig_phase phase;
	const char	*host;		/* destination being tried */
	int		done;		/* 0: phase starts, 1: phase ended */
	int64_t		t_ms;		/* since comig_run started */
	uint64_t	bytes, total;	/* stream progress (TARGET/GUARD) */
	double		mbps;
	const char	*msg;		/* failures, alerts */
};

struct comig_hooks {
	/* Start the destination copies on host (see struct comig_dest). */
	int (*prepare)(void *arg, const char *host, const struct comig_pair *p,
	    enum comig_strategy s, struct comig_dest *d, struct vouch_err *e);
	/* Fresh attestation of host: 0 only if TRUSTED with fresh evidence. */
	int (*attest)(void *arg, const char *host, struct vouch_err *e);
	/* The running guard must stop reading (its window is going away). */
	int (*guard_detach)(void *arg, struct mig_vm *guard,
	    struct vouch_err *e);
	/*
	 * The guard on host runs with its window on the destination target:
	 * wait until it attached and verified the target against the
	 * baseline (0), or refused (negative: never resume the target).
	 */
	int (*guard_verify)(void *arg, const char *host, struct mig_vm *guard,
	    struct vouch_err *e);
	/* Remove what prepare started on host (after a failure). */
	void (*abandon)(void *arg, const char *host, struct comig_dest *d);
	/* Phase changes and progress (records, progress bars); may be NULL. */
	void (*event)(void *arg, const struct comig_event *ev);
	/* An alert for the operators (target left paused, ...); may be NULL. */
	void (*alert)(void *arg, const char *msg);
};

struct comig_opts {
	enum comig_mode	mode;
	enum comig_strategy strategy;
	uint64_t	max_bw;		/* bytes/s per stream, 0 = unlimited */
	int		stream_timeout_ms;	/* per stream; 0 = 600 s */
};

struct comig_result {
	enum comig_phase phase;		/* DONE, FAILED (where it stopped) */
	char		host[64];	/* destination used ("" if none) */
	int		tries;		/* destinations tried */
	int		target_paused;	/* 1: target left paused (alert raised) */
	int		rolled_back;	/* 1: manual migration undone */
	int64_t		target_stream_ms;	/* target migration total */
	int64_t		guard_stream_ms;	/* plain strategy */
	int64_t		verify_ms;		/* guard attach + verify */
	/*
	 * Target downtime: the hypervisor's downtime (stop at the source to
	 * switchover) plus the time from switchover to the target resumed.
	 */
	int64_t		target_downtime_ms;
	int64_t		total_ms;
	uint64_t	target_bytes, guard_bytes;
	char		error[256];
};

/*
 * Co-migrate pair to the first destination in dests (best-ranked first)
 * that prepares, attests and completes.  0 on DONE; negative with
 * res->phase/res->error on failure (res->target_paused says whether the
 * target was left paused somewhere).
 */
int comig_run(const struct comig_pair *p, const char *const *dests,
    size_t ndests, const struct comig_opts *o, const struct comig_hooks *h,
    void *arg, struct comig_result *res, struct vouch_err *e);

/*
 * Migrate one VM alone (no guard): the baseline for "solo downtime".
 * dst must be paused and waiting; resumes it at once after completion.
 */
int comig_solo(struct mig_vm *src, struct mig_vm *dst, const char *uri,
    const struct mig_tls *tls_src, const struct mig_tls *tls_dst,
    const struct comig_opts *o, struct comig_result *res,
    struct vouch_err *e);

#endif
