/*
 * evacuate.h - vouchd's migration executor: runs the co-migration engine
 * (migrate/comigrate.h) for an evacuation order from vouch-tcbd and
 * reports every engine event back (docs/evacuation.md; the wire is
 * docs/protocol.md conversation 9).
 *
 *	vouch-tcbd			vouchd (source host)
 *	HELLO, MIG_ORDER{SEQ=id, JSON} ->  evac_admit(): peer, source, id, target
 *		<- ACK{SEQ=id} | ERROR	   then one thread per order runs:
 *					   locate (site hook), comig_run():
 *					     prepare/guard/abandon: site hook
 *					     attest: ATTEST_REQUEST -> VERDICT
 *		<- HELLO, MIG_REPORT*	   event/final: the sender thread,
 *		   ACK{SEQ} ->		   in order, retried until ACKed
 *
 * Admission (evac_admit, a pure function of its inputs, unit-tested):
 * the peer's certificate name must be the region's tcbd; the migration
 * section must exist; the order must decode (order_decode); SEQ must be
 * its id; its source must be this host; its strategy one the host
 * accepts; its id never seen before (an id is never run twice, also not
 * after a vouchd restart: seen ids are kept in state_dir/evac-ids); its
 * target and guard not part of a running migration; at most
 * EVAC_RUNNING_MAX migrations at once.  A seen id is refused, except
 * the very same order again (same id, target and guard: vouch-tcbd
 * re-sends an order whose ACK it did not get): that is acknowledged
 * again and not run.  Orders for different targets run
 * in parallel, each in its own thread.
 *
 * The site hook (argv, never a shell; stdout one JSON line; exit 0 = ok;
 * stderr goes into the error message; killed after hook_timeout), with
 * VOUCH_HOST = this host's name in its environment:
 *	hook ARGS... locate VM
 *		-> {"qmp": PATH, "mem": PATH, "window": ID}
 *	hook ARGS... prepare DEST TARGET GUARD plain|standby
 *		-> {"target_qmp", "guard_qmp", "target_uri", "guard_uri",
 *		    "target_mem", "peer", "tls_src", "tls_dst"}
 *	hook ARGS... guard HOST GUARD detach|attach	(exit 0 = done;
 *		attach = attached and verified against the baseline)
 *	hook ARGS... abandon DEST TARGET GUARD plain|standby
 * Every reply is parsed by evac_hook_parse (one parser, bounded).
 *
 * Reports.  Every engine event becomes a MIG_REPORT (progress events of
 * a stream at most one per EVAC_PROGRESS_MS; phase starts and ends
 * always), then one final report with the comig_result (ok,
 * target_paused, tries, downtime, total, error; msg = the alerts).  The
 * sender thread delivers them in order over one connection to vouch-tcbd
 * and retries with a backoff (EVAC_RETRY_MIN_MS doubling to
 * EVAC_RETRY_MAX_MS) until each is ACKed, so a vouch-tcbd restart loses
 * none; an ERROR answer drops that report (re-sending cannot help).
 * Report numbers (SEQ) start at the start-up time in microseconds, so
 * they grow across restarts too.  Reports still queued when vouchd stops
 * are lost (logged).
 */
#ifndef VOUCH_EVACUATE_H
#define VOUCH_EVACUATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/tls.h"
#include "attest/agent_conf.h"
#include "migrate/order.h"

#define EVAC_RUNNING_MAX	8	/* migrations at once */
#define EVAC_SEEN_MAX		4096	/* ids remembered */
#define EVAC_HOOK_OUT_MAX	8192	/* hook stdout / stderr kept */
#define EVAC_PROGRESS_MS	1000
#define EVAC_RETRY_MIN_MS	200
#define EVAC_RETRY_MAX_MS	5000
#define EVAC_QUEUE_MAX		4096	/* reports held for vouch-tcbd */
#define EVAC_ATTEST_TIMEOUT_MS	60000	/* ATTEST_REQUEST -> VERDICT */
/*
 * vouch-tcbd unreachable when a destination is to be attested (it is
 * restarting): keep dialling this long before the destination counts as
 * not attested.  The pair keeps running at the source with its guard.
 */
#define EVAC_ATTEST_DIAL_MS	30000

/* ---- hook replies (pure) ---------------------------------------------- */

enum evac_verb { EVAC_LOCATE = 0, EVAC_PREPARE };

struct evac_hook_reply {
	/* locate */
	char	qmp[256], mem[256], window[64];
	/* prepare */
	char	target_qmp[256], guard_qmp[256];
	char	target_uri[128], guard_uri[128];
	char	target_mem[256];
	char	peer[64];
	char	tls_src[256], tls_dst[256];	/* "" = no TLS */
};

/*
 * Parse a hook's stdout (one JSON object; trailing white space allowed)
 * for verb.  locate: "qmp" and "mem" required absolute paths, "window"
 * optional (1..63 of [A-Za-z0-9_-]).  prepare: every key required,
 * target_qmp/guard_qmp/target_mem absolute paths, the URIs "tcp:HOST:
 * PORT" or "unix:PATH", peer a host name (wire_host_name_ok), tls_src
 * and tls_dst both "" or both absolute paths.  Unknown keys, wrong types,
 * overlong or control characters are errors naming the key.  *out only
 * on success.
 */
int evac_hook_parse(enum evac_verb verb, const char *json, size_t len,
    struct evac_hook_reply *out, struct vouch_err *e);

/* ---- admission (pure) --------------------------------------------------- */

/* What evac_admit needs to know; the caller keeps it consistent. */
struct evac_book {
	const char	*self;		/* this host's name */
	const char	*tcbd;		/* the region's tcbd certificate name */
	int		 enabled;	/* the migration section exists */
	enum agent_mig_strategy strategy;
	struct {
		uint64_t id;
		char	target[ORDER_NAME_MAX], guard[ORDER_NAME_MAX];
	} seen[EVAC_SEEN_MAX];			/* oldest first */
	size_t		 nseen;
	struct {
		char	target[ORDER_NAME_MAX], guard[ORDER_NAME_MAX];
		uint64_t id;
	} running[EVAC_RUNNING_MAX];
	size_t		 nrunning;
};

/*
 * Admit one MIG_ORDER from peer (its certificate name) with SEQ seq and
 * JSON json[0..len): see "Admission" above.  On success *o is the order,
 * its id is recorded as seen and its pair as running (release with
 * evac_book_done).  1: the same order was admitted before (*o is it):
 * acknowledge, do not run.  Refusals: VOUCH_E_STATE (wrong peer, no migration
 * section, wrong source, strategy not accepted, too many running),
 * VOUCH_E_FORMAT (the order does not decode, SEQ differs from its id),
 * VOUCH_E_EXISTS (id seen before, target or guard already migrating),
 * with a reason fit for the ERROR answer.
 */
int evac_admit(struct evac_book *b, const char *peer, uint64_t seq,
    const char *json, size_t len, struct mig_order *o, struct vouch_err *e);
/* The migration with this id ended: its pair may be ordered again. */
void evac_book_done(struct evac_book *b, uint64_t id);
/* Record an id as seen (evac_admit does; for loading state_dir/evac-ids). */
void evac_book_seen(struct evac_book *b, uint64_t id, const char *target,
    const char *guard);

/* ---- the executor ------------------------------------------------------- */

struct evac;

/* Log lines for the daemon (level: 0 info, 1 warn, 2 error). */
typedef void (*evac_log_fn)(void *arg, int level, const char *msg);

/*
 * The executor of conf's host: TLS client context from conf->tls_*, the
 * seen ids from state_dir/evac-ids, the report sender thread.  conf is
 * borrowed and must outlive it; log may be NULL.  *out only on success.
 */
int evac_new(const struct agent_conf *conf, evac_log_fn log, void *log_arg,
    struct evac **out, struct vouch_err *e);
/*
 * NULL ok.  Waits up to wait_ms for running migrations and queued reports
 * (then abandons them: the threads are detached and the process is
 * expected to exit).
 */
void evac_free(struct evac *ev, int wait_ms);

/*
 * One MIG_ORDER (decoded frame fields) from peer: admit it and start its
 * thread.  0: answer ACK{SEQ=*ack}; negative: answer ERROR with e.
 */
int evac_order(struct evac *ev, const char *peer, uint64_t seq,
    const char *json, size_t len, uint64_t *ack, struct vouch_err *e);

/* Migrations running, reports queued (for logs and tests). */
size_t evac_running(struct evac *ev);
size_t evac_queued(struct evac *ev);

/*
 * Run the site hook once: argv = hook, hook_args..., args[0..nargs);
 * VOUCH_HOST=self in the environment; stdout (at most out_cap - 1 bytes,
 * NUL-terminated) into out; killed after timeout_ms.  0 on exit status
 * 0; otherwise VOUCH_E_IO with "hook VERB: exit N: <stderr>".  out may
 * be NULL (stdout discarded).
 */
int evac_hook_run(const struct agent_migration *m, const char *self,
    const char *const *args, size_t nargs, int timeout_ms, char *out,
    size_t out_cap, struct vouch_err *e);

#endif
