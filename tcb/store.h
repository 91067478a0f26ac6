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
 * synchronous=FULL).  The daemon acknowledges the inputs of a batch only
 * after store_sync() returned 0, so `kill -9` at any instant loses
 * nothing acknowledged.  If store_sync() fails, the IVT in memory is
 * ahead of the store: acknowledge nothing, drop the IVT and reload it
 * with store_load() (or exit and let the supervisor restart).
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

#define STORE_SCHEMA_VERSION	3	/* 1: no ak/meta tables, 2: no alerts
					   (both upgraded in place) */

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

#endif
