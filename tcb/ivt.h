/*
 * ivt.h - the integrity validation table (IVT) of the RC-TCB, as a pure
 * state machine: no I/O, no clock reads, no logging.  Time is an input
 * (int64_t milliseconds of the RC-TCB's own clock, never a timestamp
 * taken from a neighbour's message: a liar could post-date its PASS).
 *
 * Inputs                                  Outputs (appended to an ivt_actions)
 *   ivt_host_join / enrol / leave           IVT_ACT_STATE            host from -> to
 *   ivt_host_capacity                       IVT_ACT_ATTEST_DIRECTLY  RC-TCB must attest host
 *   ivt_verdict (a neighbour's appraisal)   IVT_ACT_EMIT_UNTRUSTED   the alert
 *   ivt_direct_result (RC-TCB's own)        IVT_ACT_REASSIGN_NEIGHBOURS  host's verifiers changed
 *   ivt_tick (freshness, retries)           IVT_ACT_REAPPRAISE       host rebooted: full logs
 *                                           IVT_ACT_QUORUM_DEGRADED / _RESTORED
 *                                           IVT_ACT_DISPROVED        a verifier lied
 *
 * The daemon is a thin executor: feed an input, persist (store_sync),
 * acknowledge, then perform the actions.  The states and every
 * transition are in docs/tcb.md; in short, after every input each host's
 * state is re-derived from its record:
 *
 *	UNTRUSTED    a direct attestation by the RC-TCB failed (latched
 *	             until the host leaves and is enrolled again)
 *	SUSPECT      a neighbour's FAIL is not yet resolved by a direct
 *	             attestation (a PASS from anyone cannot outvote it)
 *	UNREACHABLE  as SUSPECT, but the direct attestation could not reach
 *	             the host; or no accusation, no quorum, and a fresh
 *	             neighbour verdict says UNREACHABLE
 *	TRUSTED      >= k fresh PASSes from the host's assigned neighbours
 *	             (k = the policy quorum, degraded explicitly when the
 *	             region is too small; never below quorum_min)
 *	PENDING      anything else: new, unenrolled, freshness expired,
 *	             rebooted and not yet re-appraised by a quorum
 *
 * A direct PASS resolves an accusation: each accuser's disproved counter
 * rises and its FAIL counts as a PASS dated at the direct attestation,
 * so the host is TRUSTED again once the remaining neighbours agree.
 *
 * Return values: 0 when the input was applied; a negative VOUCH_E_* code
 * when it was refused or ignored, with the machine-readable reason in
 * *why (may be NULL) and a human one in *e.  Nothing changes in the IVT
 * when an input is refused.  VOUCH_E_NOMEM may leave the actions list
 * short: the daemon must treat it as fatal and restart from the store.
 */
#ifndef VOUCH_IVT_H
#define VOUCH_IVT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "tcb/neighbours.h"

#define IVT_NAME_MAX	63	/* host names: [A-Za-z0-9._-], 1..63 */
#define IVT_REASON_MAX	128	/* reason summaries are truncated to fit */
#define IVT_NBR_MAX	NBR_MAX

enum ivt_state {
	IVT_PENDING = 0,
	IVT_TRUSTED,
	IVT_SUSPECT,
	IVT_UNTRUSTED,
	IVT_UNREACHABLE,
};

enum ivt_result {
	IVT_NONE = 0,		/* no verdict yet (or voided by a reboot) */
	IVT_PASS,
	IVT_FAIL,
	IVT_UNREACH,
};

/* Why an input was not applied. */
enum ivt_why {
	IVT_WHY_OK = 0,
	IVT_WHY_BAD_INPUT,	/* bad name, result or time */
	IVT_WHY_UNKNOWN_HOST,	/* subject (or host) not in the IVT */
	IVT_WHY_EXISTS,		/* join of a member */
	IVT_WHY_NOT_NEIGHBOUR,	/* verifier is not assigned to the subject */
	IVT_WHY_STALE,		/* older than the verifier's stored verdict */
	IVT_WHY_DUPLICATE,	/* same time as the stored verdict */
	IVT_WHY_RESET_BACKWARDS,/* quote's resetCount below one already seen */
	IVT_WHY_UNTRUSTED,	/* subject is UNTRUSTED: re-enrol it first */
	IVT_WHY_NOT_REQUESTED,	/* direct PASS/UNREACHABLE nobody asked for */
	IVT_WHY_NOMEM,
};

struct ivt_config {
	unsigned	neighbours;	/* n: verifiers per host, 1..IVT_NBR_MAX (2) */
	unsigned	quorum;		/* k: fresh PASSes for TRUSTED, 1..n (2) */
	unsigned	quorum_min;	/* degraded quorum floor, 1..k (1) */
	int64_t		freshness_ms;	/* PASS counts while younger (90 s) */
	int64_t		interval_ms;	/* challenge period; direct retries (30 s) */
};

void ivt_config_default(struct ivt_config *c);
/* VOUCH_E_CONFIG naming the field if out of range. */
int ivt_config_check(const struct ivt_config *c, struct vouch_err *e);

/* --- actions --------------------------------------------------------- */

enum ivt_act {
	IVT_ACT_STATE = 0,		/* host: from -> to */
	IVT_ACT_ATTEST_DIRECTLY,	/* attest host now; reason: the accusation */
	IVT_ACT_EMIT_UNTRUSTED,		/* alert: host is UNTRUSTED; reason */
	IVT_ACT_REASSIGN_NEIGHBOURS,	/* host's verifier list changed */
	IVT_ACT_REAPPRAISE,		/* host rebooted: demand full boot logs */
	IVT_ACT_QUORUM_DEGRADED,	/* host: n neighbours, quorum k, < policy */
	IVT_ACT_QUORUM_RESTORED,	/* host: back to the policy's n and k */
	IVT_ACT_DISPROVED,		/* verifier's FAIL on host was disproved */
};

struct ivt_action {
	enum ivt_act	kind;
	int64_t		time;
	char		host[IVT_NAME_MAX + 1];
	char		verifier[IVT_NAME_MAX + 1];	/* DISPROVED; else "" */
	enum ivt_state	from, to;			/* STATE */
	unsigned	n, k;				/* QUORUM_* */
	char		reason[IVT_REASON_MAX];
};

/*
 * A caller-owned list the IVT appends to; the caller reads v[0..n) and
 * empties it with ivt_actions_reset() once performed.  Zero-initialise
 * (IVT_ACTIONS_INIT) before first use.
 */
struct ivt_actions {
	struct ivt_action	*v;
	size_t			 n, cap;
};
#define IVT_ACTIONS_INIT	{ NULL, 0, 0 }
void ivt_actions_reset(struct ivt_actions *a);
void ivt_actions_free(struct ivt_actions *a);	/* NULL ok; reusable after */

/* --- records: snapshots for daemons, tests and stores ---------------- */

/* One neighbour's last verdict on a host. */
struct ivt_slot_rec {
	char		verifier[IVT_NAME_MAX + 1];
	int64_t		time;		/* RC-TCB time it was accepted; -1: none */
	enum ivt_result	result;
	uint32_t	reset_count;
	int		disproved;	/* a FAIL the RC-TCB disproved */
	int		accuser;	/* FAILed in the unresolved episode */
	char		reason[IVT_REASON_MAX];
};

struct ivt_host_rec {
	/* persisted */
	char		name[IVT_NAME_MAX + 1];
	enum ivt_state	state;
	int64_t		since;		/* time of the last state change */
	int		enrolled;
	int		reset_known;	/* a quote's resetCount has been seen */
	uint32_t	reset_count;
	uint32_t	spare_vcpus;	/* reported by the host */
	uint64_t	spare_mib;
	uint64_t	passes;		/* PASS verdicts + direct PASSes */
	uint64_t	fails;		/* FAIL verdicts + direct FAILs */
	uint32_t	pass_streak;	/* PASSes since the last UNREACHABLE */
	uint32_t	suspect_episodes;
	int64_t		last_suspect_at;	/* -1: never */
	uint64_t	disproved;	/* as a verifier: accusations disproved */
	int		untrusted;	/* latched by a direct FAIL */
	int		accused;	/* an accusation awaits a direct result */
	int		direct_unreach;	/* ...and the last attempt was UNREACHABLE */
	int64_t		direct_requested_at;	/* -1: none */
	int64_t		direct_pass_at;		/* -1: none */
	unsigned	rep_n, rep_k;	/* quorum last reported (QUORUM_* actions) */
	unsigned	nslot;
	struct ivt_slot_rec slot[IVT_NBR_MAX];	/* neighbours, challenge order */
	/* derived, filled by ivt_host_get(), ignored by ivt_restore_host() */
	int64_t		quorum_at;	/* k-th freshest PASS: trust renewed; -1 */
	unsigned	fresh_passes;
	struct nbr_quorum quorum;
};

/* --- the table ------------------------------------------------------- */

struct ivt;

/* cfg is copied; VOUCH_E_CONFIG if it fails ivt_config_check(). */
int ivt_new(const struct ivt_config *cfg, struct ivt **out, struct vouch_err *e);
void ivt_free(struct ivt *t);	/* NULL ok */
const struct ivt_config *ivt_config(const struct ivt *t);
size_t ivt_size(const struct ivt *t);
/* Largest time seen in any input. */
int64_t ivt_now(const struct ivt *t);

/*
 * Membership.  A joined host is PENDING; it becomes a subject and a
 * verifier once enrolled (its AK bound to its EK by the registrar).
 * Joining, enrolling and leaving recompute the neighbour ring
 * (REASSIGN_NEIGHBOURS for every host whose verifiers changed; verdicts
 * from verifiers no longer assigned are dropped).  An UNTRUSTED host
 * stays UNTRUSTED until it leaves; re-admitting it is a new join.
 */
int ivt_host_join(struct ivt *t, const char *name, int enrolled, int64_t now,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e);
int ivt_host_enrol(struct ivt *t, const char *name, int64_t now,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e);
int ivt_host_leave(struct ivt *t, const char *name, int64_t now,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e);
/* Spare capacity the host reports (for ranking); no state change. */
int ivt_host_capacity(struct ivt *t, const char *name, uint32_t vcpus,
    uint64_t mib, int64_t now, enum ivt_why *why, struct vouch_err *e);

/* A neighbour's verdict on a subject. */
struct ivt_verdict {
	const char	*subject;
	const char	*verifier;
	int64_t		 time;		/* RC-TCB clock at receipt */
	enum ivt_result	 result;	/* PASS, FAIL or UNREACH */
	uint32_t	 reset_count;	/* quote's resetCount; unused for UNREACH */
	const char	*reason;	/* verifier's summary; may be NULL */
};

/*
 * Apply a verdict.  Refused: unknown subject, UNTRUSTED subject, verifier
 * not assigned to the subject; ignored: time <= the verifier's stored
 * verdict (STALE, DUPLICATE), resetCount below one already seen.
 * FAIL (subject not accused yet) -> SUSPECT + ATTEST_DIRECTLY.
 * resetCount above the last seen -> REAPPRAISE, other neighbours' verdicts
 * voided (they appraised the previous boot).
 */
int ivt_verdict(struct ivt *t, const struct ivt_verdict *v,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e);

/*
 * The RC-TCB's own appraisal of host.  FAIL is always accepted (also
 * unsolicited, e.g. a destination's pre-migration check):
 * -> UNTRUSTED + EMIT_UNTRUSTED.  PASS and UNREACH are accepted only
 * while an accusation is open (else NOT_REQUESTED): PASS disproves the
 * accusers (DISPROVED each), UNREACH -> UNREACHABLE, retried by ivt_tick.
 */
int ivt_direct_result(struct ivt *t, const char *host, int64_t time,
    enum ivt_result result, const char *reason, struct ivt_actions *acts,
    enum ivt_why *why, struct vouch_err *e);

/*
 * Advance the clock: hosts whose PASSes are no longer fresh leave
 * TRUSTED; open accusations whose direct attestation was requested at
 * least interval_ms ago get ATTEST_DIRECTLY again.  O(hosts).
 */
int ivt_tick(struct ivt *t, int64_t now, struct ivt_actions *acts,
    struct vouch_err *e);

/* Snapshot of one host; VOUCH_E_NOTFOUND.  Derived fields at ivt_now(). */
int ivt_host_get(const struct ivt *t, const char *name, struct ivt_host_rec *out,
    struct vouch_err *e);
/* Name of the i-th host in name order (i < ivt_size()), or NULL. */
const char *ivt_host_name(const struct ivt *t, size_t i);
/*
 * Hosts that verifier must challenge (it is one of their neighbours), in
 * name order; returns how many exist, writes at most max names
 * (borrowed, valid until the next membership change).  O(hosts).
 */
size_t ivt_subjects_of(const struct ivt *t, const char *verifier,
    const char **names, size_t max);

/*
 * Hosts changed since ivt_dirty_clear(): what the store must write.  A
 * name whose host is gone (ivt_host_get fails) must be deleted.
 */
size_t ivt_dirty_count(const struct ivt *t);
const char *ivt_dirty_name(const struct ivt *t, size_t i);
void ivt_dirty_clear(struct ivt *t);

/*
 * Rebuilding from a store: restore every host (rec's slots included;
 * derived fields ignored) into an empty IVT, then ivt_restore_done()
 * recomputes the ring (deterministic, so the same as before), drops
 * slots of verifiers no longer assigned and re-derives states at now,
 * appending actions for whatever changed while the RC-TCB was down.
 */
int ivt_restore_host(struct ivt *t, const struct ivt_host_rec *rec,
    struct vouch_err *e);
int ivt_restore_done(struct ivt *t, int64_t now, struct ivt_actions *acts,
    struct vouch_err *e);

/*
 * Migration candidates: every TRUSTED host whose quorum is still fresh at
 * now, as struct rank_cand (tcb/rank.h) with names borrowed from the IVT
 * (valid until the host leaves).  Returns the number of TRUSTED hosts;
 * writes at most max.
 */
struct rank_cand;
struct rank_weights;
struct rank_request;
size_t ivt_candidates(const struct ivt *t, int64_t now, struct rank_cand *out,
    size_t max);

/*
 * The query a migration asks: the best max (<= IVT_RANK_MAX) TRUSTED
 * hosts with a fresh quorum at now and room for req, best first, by
 * rank_top() over the IVT's dense candidate array (no copy, no sort of
 * the region).  names[] are borrowed (valid until the host leaves);
 * scores may be NULL.  w->freshness_ms is taken from the IVT's config.
 */
#define IVT_RANK_MAX	64
size_t ivt_rank(const struct ivt *t, int64_t now, const struct rank_weights *w,
    const struct rank_request *req, const char **names, int64_t *scores,
    size_t max);

const char *ivt_state_name(enum ivt_state s);
const char *ivt_result_name(enum ivt_result r);
const char *ivt_act_name(enum ivt_act a);
const char *ivt_why_name(enum ivt_why w);

#endif
