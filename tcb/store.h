/*
 * store.h - where the IVT survives the RC-TCB: an ops table, chosen from
 * the configuration by a URI, so code above it never asks which backend
 * it has.
 *
 *	"sqlite:/var/lib/vouch/ivt.db"   (or a bare path)  embedded, default
 *	"etcd:https://..."               replicated region  (not written yet)
 *
 * Durability contract: store_sync() writes everything the IVT changed
 * since the last sync (hosts, their verdicts, the actions as events) in
 * ONE transaction and returns only once it is durable (SQLite: WAL,
 * fsync'ed after the commit).  The daemon acknowledges the inputs of a
 * batch only after store_sync() returned 0, so `kill -9` at any instant
 * loses nothing acknowledged.  If store_sync() fails, the IVT in memory is
 * ahead of the store: acknowledge nothing, drop the IVT and reload it
 * with store_load() (or exit and let the supervisor restart).
 *
 * Group commit: store_sync_deferred() is store_sync() up to the commit,
 * without waiting for the disk; it hands out a ticket, and
 * store_durable(ticket) waits until that commit is on disk.  Only
 * store_durable() may be called without the lock that serialises the
 * other calls, from any number of threads: one disk flush serves every
 * commit made before it started, and nobody holds the caller's lock while
 * the disk works.  Acknowledge only after store_durable() returned 0; if
 * it fails, the store refuses to call anything durable again (restart).
 *
 * Layout (the same for every backend; SQLite tables, etcd key prefixes):
 *
 *	host/<name>                 one ivt_host_rec without slots
 *	verdict/<subject>/<verifier> one ivt_slot_rec
 *	event/<seq>                 one ivt_action (append-only audit log)
 *	ak/<host>                   one store_ak: the host's enrolled AK
 *	meta/<key>                  one int64 (e.g. "epoch": the region epoch)
 *	alert/<seq>                 one store_alert: a guard finding a host
 *	                            sent (ALERT, docs/protocol.md 8); the
 *	                            newest STORE_ALERT_KEEP per host are kept
 *	pair/<target>               one store_pair: a protected target VM,
 *	                            its guard VM and the host they run on
 *	migration/<id>              one store_mig: an evacuation or manual
 *	                            co-migration and its progress
 *	                            (docs/protocol.md 9); ids never repeat
 *
 * The AK binding is the registrar's record (enrolment, docs/protocol.md
 * conversation 1): it is written only after a successful credential
 * activation, and an AK name is bound to at most one host (the backend
 * refuses a second binding with VOUCH_E_EXISTS).  It lives beside the
 * IVT rather than in it because the IVT is pure decision logic and knows
 * nothing of keys.
 *
 * put_host replaces the host and deletes its verdicts (put_verdict then
 * writes the current ones), so a backend never keeps a verdict of a
 * verifier that is no longer assigned.
 */
#ifndef VOUCH_STORE_H
#define VOUCH_STORE_H

#include "common/err.h"
#include "tcb/ivt.h"

#define STORE_SCHEMA_VERSION	4	/* 1: no ak/meta tables, 2: no alerts,
					   3: no pairs/migrations (all
					   upgraded in place) */

#define STORE_AK_PUB_MAX	1024	/* marshalled TPM2B_PUBLIC */
#define STORE_AK_NAME_MAX	66	/* nameAlg + digest */
#define STORE_AK_SPKI_MAX	1024	/* SubjectPublicKeyInfo DER */
#define STORE_META_KEY_MAX	32
#define STORE_ALERT_KEEP	10000	/* alerts kept per host, newest */
#define STORE_ALERT_TARGET_MAX	64	/* = WIRE_ALERT_TARGET_MAX */
#define STORE_ALERT_TYPE_MAX	32	/* = WIRE_ALERT_TYPE_MAX */

/*
 * One alert: a guard's finding as a host sent it.  host is the sender's
 * certificate name; json the finding object (not NUL-terminated on
 * put: json_len bytes; NUL-terminated when handed to a store_alert_cb).
 */
struct store_alert {
	long long	seq;		/* assigned by put_alert, increasing */
	char		host[IVT_NAME_MAX + 1];
	char		target[STORE_ALERT_TARGET_MAX + 1];
	char		type[STORE_ALERT_TYPE_MAX + 1];
	int		critical;
	int64_t		time;		/* the sender's clock, ms */
	int64_t		received;	/* RC-TCB clock, ms */
	const char	*json;		/* borrowed */
	size_t		json_len;
};

/* Which alerts: host/target NULL = any; newest first, at most max. */
struct store_alert_query {
	const char	*host;
	const char	*target;
	int		 max;
};

/* Called by alerts, newest first; the record is valid during the call. */
typedef int (*store_alert_cb)(void *arg, const struct store_alert *a,
    struct vouch_err *e);

/* One host's enrolled attestation key. */
struct store_ak {
	char		host[IVT_NAME_MAX + 1];
	uint8_t		ak_pub[STORE_AK_PUB_MAX];	/* TPM2B_PUBLIC */
	size_t		ak_pub_len;
	uint8_t		ak_name[STORE_AK_NAME_MAX];	/* the TPM name */
	size_t		ak_name_len;
	uint8_t		spki[STORE_AK_SPKI_MAX];	/* for the verifier */
	size_t		spki_len;
	uint8_t		ek_sha256[32];	/* SHA-256 of the EK's SPKI DER */
	int64_t		enrolled_at;	/* RC-TCB clock, ms */
};

/* Called by load_aks in host-name order; valid during the call only. */
typedef int (*store_ak_cb)(void *arg, const struct store_ak *ak,
    struct vouch_err *e);

/*
 * A protected pair: the target VM and its guard VM run together on host
 * (updated when a migration of the pair finishes DONE).  vcpus and
 * mem_mib are the pair's together (target + guard): what a destination
 * must have room for.
 */
#define STORE_VM_MAX		64	/* VM names with the NUL (ORDER_NAME_MAX) */
#define STORE_DESTS_MAX		16	/* = COMIG_MAX_DESTS */
#define STORE_MSG_MAX		256	/* = ORDER_MSG_MAX */

struct store_pair {
	char		target[STORE_VM_MAX], guard[STORE_VM_MAX];
	char		host[IVT_NAME_MAX + 1];
	uint32_t	vcpus;
	uint64_t	mem_mib;
	int64_t		added_at;	/* RC-TCB clock, ms */
};
typedef int (*store_pair_cb)(void *arg, const struct store_pair *p,
    struct vouch_err *e);

/*
 * One migration.  result: "" while it runs, then "DONE", "FAILED" or
 * "LOST" (no report for the report timeout).  dests: the ranked
 * destinations, comma-separated, best first; host: the destination in
 * use ("" none yet).  phase: a comig_phase_name().  ordered_at: when
 * the source's vouchd acknowledged the MIG_ORDER (0: not yet; the
 * RC-TCB re-sends orders not acknowledged, also after a restart).
 */
#define STORE_RESULT_RUNNING	""
struct store_mig {
	long long	id;		/* 0 on create: assigned */
	char		target[STORE_VM_MAX], guard[STORE_VM_MAX];
	char		source[IVT_NAME_MAX + 1];
	char		dests[STORE_DESTS_MAX * (IVT_NAME_MAX + 1)];
	char		mode[16];	/* "evacuate" | "manual" */
	char		strategy[16];	/* "plain" | "standby" */
	char		phase[24];
	char		host[IVT_NAME_MAX + 1];
	uint64_t	bytes, total;
	double		mbps;
	char		result[8];
	char		error[STORE_MSG_MAX];
	int		target_paused, tries;
	int64_t		downtime_ms, total_ms;
	int64_t		created_at, updated_at, finished_at;	/* ms; 0 none */
	int64_t		ordered_at;
};

/* Which migrations: target NULL = any; active_only = result ""; newest
 * (largest id) first, at most limit. */
struct store_mig_query {
	const char	*target;
	int		 active_only;
	int		 limit;
};
typedef int (*store_mig_cb)(void *arg, const struct store_mig *m,
    struct vouch_err *e);

/* Called by load_all, hosts in name order, each with all its verdicts
 * (rec->nslot, rec->slot[]); the record is valid during the call only. */
typedef int (*store_host_cb)(void *arg, const struct ivt_host_rec *rec,
    struct vouch_err *e);

struct store_ops {
	const char *name;		/* "sqlite" */
	/* where: the part of the URI after "name:". Creates if absent. */
	int	(*open)(const char *where, void **ctx, struct vouch_err *e);
	void	(*close)(void *ctx);	/* NULL ok; uncommitted work is lost */
	int	(*begin)(void *ctx, struct vouch_err *e);
	int	(*commit)(void *ctx, struct vouch_err *e);	/* durable on 0 */
	void	(*rollback)(void *ctx);
	/*
	 * Group commit (may both be NULL: commit is then used and every
	 * ticket is durable at once).  commit_deferred commits without
	 * waiting for the disk and numbers the commit (*ticket, increasing);
	 * durable waits until commit ticket is on disk, is thread-safe and
	 * may run concurrently with every other op.
	 */
	int	(*commit_deferred)(void *ctx, uint64_t *ticket,
		    struct vouch_err *e);
	int	(*durable)(void *ctx, uint64_t ticket, struct vouch_err *e);
	/* Within begin/commit: */
	int	(*put_host)(void *ctx, const struct ivt_host_rec *rec,
		    struct vouch_err *e);
	int	(*del_host)(void *ctx, const char *name, struct vouch_err *e);
	int	(*put_verdict)(void *ctx, const char *subject,
		    const struct ivt_slot_rec *s, struct vouch_err *e);
	int	(*record_event)(void *ctx, const struct ivt_action *a,
		    struct vouch_err *e);
	/* Outside a transaction: */
	int	(*load_all)(void *ctx, store_host_cb cb, void *arg,
		    struct vouch_err *e);
	/* Events with sequence > after, oldest first, at most max (for
	 * vouchctl and tests); returns how many were written. */
	int	(*events)(void *ctx, long long after, struct ivt_action *out,
		    int max, struct vouch_err *e);
	/*
	 * AK bindings and metadata.  put_ak/del_ak/put_meta run within
	 * begin/commit; put_ak replaces the host's binding and fails with
	 * VOUCH_E_EXISTS if the AK name is bound to another host.
	 * load_aks and get_meta run outside a transaction; get_meta gives
	 * VOUCH_E_NOTFOUND for an absent key.  A backend may leave all five
	 * NULL (then the wrappers below answer VOUCH_E_UNSUPPORTED).
	 */
	int	(*put_ak)(void *ctx, const struct store_ak *ak,
		    struct vouch_err *e);
	int	(*del_ak)(void *ctx, const char *host, struct vouch_err *e);
	int	(*load_aks)(void *ctx, store_ak_cb cb, void *arg,
		    struct vouch_err *e);
	int	(*put_meta)(void *ctx, const char *key, int64_t value,
		    struct vouch_err *e);
	int	(*get_meta)(void *ctx, const char *key, int64_t *value,
		    struct vouch_err *e);
	/*
	 * Alerts.  put_alert runs within begin/commit: it stores a (and
	 * sets a->seq), then deletes the host's alerts older than its
	 * newest keep.  alerts runs outside a transaction.  A backend may
	 * leave both NULL (VOUCH_E_UNSUPPORTED from the wrappers).
	 */
	int	(*put_alert)(void *ctx, struct store_alert *a, unsigned keep,
		    struct vouch_err *e);
	int	(*alerts)(void *ctx, const struct store_alert_query *q,
		    store_alert_cb cb, void *arg, struct vouch_err *e);
	/*
	 * Pairs and migrations (schema 4).  put_pair (insert or replace),
	 * del_pair and put_mig run within begin/commit; put_mig inserts
	 * when m->id is 0 (and sets it), else replaces row m->id.  pairs,
	 * get_mig (VOUCH_E_NOTFOUND) and migs run outside.  A backend may
	 * leave all five NULL (VOUCH_E_UNSUPPORTED from the wrappers).
	 */
	int	(*put_pair)(void *ctx, const struct store_pair *p,
		    struct vouch_err *e);
	int	(*del_pair)(void *ctx, const char *target, struct vouch_err *e);
	int	(*pairs)(void *ctx, store_pair_cb cb, void *arg,
		    struct vouch_err *e);
	int	(*put_mig)(void *ctx, struct store_mig *m, struct vouch_err *e);
	int	(*get_mig)(void *ctx, long long id, struct store_mig *m,
		    struct vouch_err *e);
	int	(*migs)(void *ctx, const struct store_mig_query *q,
		    store_mig_cb cb, void *arg, struct vouch_err *e);
};

extern const struct store_ops store_sqlite_ops;

struct store;

/* Backend from the URI scheme (a bare path is SQLite). */
int store_open(const char *uri, struct store **out, struct vouch_err *e);
/* A given backend (tests plug in a fake one to script failures). */
int store_open_ops(const struct store_ops *ops, const char *where,
    struct store **out, struct vouch_err *e);
void store_free(struct store *s);	/* closes; NULL ok */
const struct store_ops *store_backend(const struct store *s);

/*
 * One transaction: every host named by ivt_dirty_*() (deleted if gone),
 * its verdicts, and acts (may be NULL) as events; then ivt_dirty_clear().
 * On failure the transaction is rolled back and the dirty list kept.
 */
int store_sync(struct store *s, struct ivt *t, const struct ivt_actions *acts,
    struct vouch_err *e);
/*
 * store_sync() without waiting for the disk: *ticket (0 if there was
 * nothing to write) for store_durable(), which is the only call that may
 * run concurrently with others (see the top of this file).
 */
int store_sync_deferred(struct store *s, struct ivt *t,
    const struct ivt_actions *acts, uint64_t *ticket, struct vouch_err *e);
int store_durable(struct store *s, uint64_t ticket, struct vouch_err *e);

/*
 * Fill an empty IVT from the store and re-derive states at now
 * (ivt_restore_done: acts gets what changed while the RC-TCB was down;
 * may be NULL).  The dirty list is cleared except for those changes.
 */
int store_load(struct store *s, struct ivt *t, int64_t now,
    struct ivt_actions *acts, struct vouch_err *e);

/* Read back the audit log (see store_ops.events). */
int store_events(struct store *s, long long after, struct ivt_action *out,
    int max, struct vouch_err *e);

/*
 * AK bindings and metadata, each write in its own durable transaction.
 * store_ak_put: VOUCH_E_EXISTS if ak's name is bound to another host.
 */
int store_ak_put(struct store *s, const struct store_ak *ak,
    struct vouch_err *e);
int store_ak_del(struct store *s, const char *host, struct vouch_err *e);
int store_aks_load(struct store *s, store_ak_cb cb, void *arg,
    struct vouch_err *e);
int store_meta_put(struct store *s, const char *key, int64_t value,
    struct vouch_err *e);
/* VOUCH_E_NOTFOUND if absent; *value only on success. */
int store_meta_get(struct store *s, const char *key, int64_t *value,
    struct vouch_err *e);

/*
 * Store n alerts in ONE durable transaction (group commit: the daemon
 * acknowledges them after it returned 0), keeping the newest keep per
 * host; v[i].seq set on success.  On failure nothing is stored.
 */
int store_alerts_put(struct store *s, struct store_alert *v, size_t n,
    unsigned keep, struct vouch_err *e);
/* Read alerts back (see store_ops.alerts). */
int store_alerts(struct store *s, const struct store_alert_query *q,
    store_alert_cb cb, void *arg, struct vouch_err *e);

/*
 * Protected pairs, each write in its own durable transaction.
 * store_pair_del: VOUCH_E_NOTFOUND if target is not protected.
 * store_pair_move: the pair's host := host (VOUCH_E_NOTFOUND if absent).
 * store_pairs: every pair, in target order.
 */
int store_pair_put(struct store *s, const struct store_pair *p,
    struct vouch_err *e);
int store_pair_del(struct store *s, const char *target, struct vouch_err *e);
int store_pair_move(struct store *s, const char *target, const char *host,
    struct vouch_err *e);
int store_pairs(struct store *s, store_pair_cb cb, void *arg,
    struct vouch_err *e);
/* The pair of target (VOUCH_E_NOTFOUND); *p only on success. */
int store_pair_get(struct store *s, const char *target, struct store_pair *p,
    struct vouch_err *e);

/*
 * Migrations.  store_mig_put creates (m->id 0: the new id is set) or
 * replaces row m->id, durably; if move_pair, the same transaction also
 * moves m->target's pair to m->host (a migration that finished DONE).
 * store_mig_get: VOUCH_E_NOTFOUND if no such id.  store_migs: see
 * struct store_mig_query.  store_mig_active: the running migration of
 * target (result ""), VOUCH_E_NOTFOUND if none.
 */
int store_mig_put(struct store *s, struct store_mig *m, int move_pair,
    struct vouch_err *e);
int store_mig_get(struct store *s, long long id, struct store_mig *m,
    struct vouch_err *e);
int store_migs(struct store *s, const struct store_mig_query *q,
    store_mig_cb cb, void *arg, struct vouch_err *e);
int store_mig_active(struct store *s, const char *target, struct store_mig *m,
    struct vouch_err *e);

#endif
