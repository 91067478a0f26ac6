/*
 * ivt.c - the IVT state machine.  Every host's state is re-derived from
 * its record after each input (host_settle); inputs only change records.
 * That keeps the rules in one function (derive) that reads like
 * docs/tcb.md, and makes restoring from a store trivial.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ivt.h"
#include "rank.h"

struct host {
	struct ivt_host_rec	r;	/* persisted fields + slots */
	int			in_ring;
	int			dirty;
	unsigned		mark;	/* reassign pass that saw it in the ring */
	int64_t			quorum_at;	/* cached by host_settle, -1 */
	unsigned		fresh;
	size_t			cidx;	/* index in ivt.cand, or NO_CAND */
};

#define NO_CAND	((size_t)-1)

struct ivt {
	struct ivt_config	 cfg;
	struct nbr_ring		*all;	/* every member, by name */
	struct nbr_ring		*ring;	/* verifiers (eligible members) */
	int64_t			 now;
	unsigned		 epoch;
	int			 oom;	/* an action could not be appended */
	char			(*dirty)[IVT_NAME_MAX + 1];
	size_t			 ndirty, capdirty;
	/*
	 * TRUSTED hosts as a dense array of rank candidates, kept up to date
	 * by host_settle: a rank query scans 40-byte entries instead of
	 * chasing 10,000 host records through the cache.
	 */
	struct rank_cand	*cand;
	struct host		**cand_host;
	size_t			 ncand, capcand;
};

static const char *const state_names[] = {
	"PENDING", "TRUSTED", "SUSPECT", "UNTRUSTED", "UNREACHABLE",
};
static const char *const result_names[] = { "NONE", "PASS", "FAIL", "UNREACHABLE" };
static const char *const act_names[] = {
	"STATE", "ATTEST_DIRECTLY", "EMIT_UNTRUSTED", "REASSIGN_NEIGHBOURS",
	"REAPPRAISE", "QUORUM_DEGRADED", "QUORUM_RESTORED", "DISPROVED",
};
static const char *const why_names[] = {
	"ok", "bad input", "unknown host", "already a member",
	"verifier is not an assigned neighbour", "stale verdict",
	"duplicate verdict", "resetCount went backwards", "host is UNTRUSTED",
	"no direct attestation was requested", "out of memory",
};

const char *
ivt_state_name(enum ivt_state s)
{
	return (unsigned)s < 5 ? state_names[s] : "?";
}

const char *
ivt_result_name(enum ivt_result r)
{
	return (unsigned)r < 4 ? result_names[r] : "?";
}

const char *
ivt_act_name(enum ivt_act a)
{
	return (unsigned)a < 8 ? act_names[a] : "?";
}

const char *
ivt_why_name(enum ivt_why w)
{
	return (unsigned)w <= IVT_WHY_NOMEM ? why_names[w] : "?";
}

void
ivt_config_default(struct ivt_config *c)
{
	c->neighbours = 2;
	c->quorum = 2;
	c->quorum_min = 1;
	c->freshness_ms = 90000;
	c->interval_ms = 30000;
}

int
ivt_config_check(const struct ivt_config *c, struct vouch_err *e)
{
	if (c->neighbours < 1 || c->neighbours > IVT_NBR_MAX)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "neighbours: %u not in 1..%d", c->neighbours, IVT_NBR_MAX);
	if (c->quorum < 1 || c->quorum > c->neighbours)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "quorum: %u not in 1..%u", c->quorum, c->neighbours);
	if (c->quorum_min < 1 || c->quorum_min > c->quorum)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "quorum_min: %u not in 1..%u", c->quorum_min, c->quorum);
	if (c->interval_ms < 1)
		return vouch_err_set(e, VOUCH_E_CONFIG, "interval: must be > 0");
	/* A freshness window shorter than the challenge period would make
	 * every host flap out of TRUSTED between two rounds. */
	if (c->freshness_ms < c->interval_ms)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "freshness: %lld ms shorter than interval %lld ms",
		    (long long)c->freshness_ms, (long long)c->interval_ms);
	return 0;
}

/* --- actions --------------------------------------------------------- */

void
ivt_actions_reset(struct ivt_actions *a)
{
	a->n = 0;
}

void
ivt_actions_free(struct ivt_actions *a)
{
	if (a == NULL)
		return;
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

/* Copy outside text, truncated, control characters replaced: reasons
 * come from neighbours and end up in alerts and logs. */
static void
copy_text(char *dst, size_t cap, const char *src)
{
	size_t i;

	if (src == NULL)
		src = "";
	for (i = 0; i + 1 < cap && src[i] != '\0'; i++)
		dst[i] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : src[i];
	dst[i] = '\0';
}

static struct ivt_action *
act_push(struct ivt *t, struct ivt_actions *a, enum ivt_act kind,
    const struct host *h)
{
	struct ivt_action *x;

	if (a == NULL)
		return NULL;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct ivt_action *v = realloc(a->v, cap * sizeof(*v));

		if (v == NULL) {
			t->oom = 1;
			return NULL;
		}
		a->v = v;
		a->cap = cap;
	}
	x = &a->v[a->n++];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	x->time = t->now;
	memcpy(x->host, h->r.name, sizeof(x->host));
	return x;
}

/* --- helpers --------------------------------------------------------- */

static int
name_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= IVT_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static struct host *
find(const struct ivt *t, const char *name)
{
	size_t i;

	if (name == NULL || !nbr_ring_find(t->all, name, &i))
		return NULL;
	return nbr_ring_item(t->all, i);
}

static int
refuse(enum ivt_why *why, enum ivt_why w, struct vouch_err *e, int code,
    const char *what)
{
	if (why != NULL)
		*why = w;
	return vouch_err_set(e, code, "%s: %s", what != NULL ? what : "(null)",
	    ivt_why_name(w));
}

static void
mark_dirty_name(struct ivt *t, const char *name)
{
	if (t->ndirty == t->capdirty) {
		size_t cap = t->capdirty ? t->capdirty * 2 : 64;
		void *v = realloc(t->dirty, cap * sizeof(t->dirty[0]));

		if (v == NULL) {
			t->oom = 1;
			return;
		}
		t->dirty = v;
		t->capdirty = cap;
	}
	copy_text(t->dirty[t->ndirty++], sizeof(t->dirty[0]), name);
}

static void
mark_dirty(struct ivt *t, struct host *h)
{
	if (h->dirty)
		return;
	h->dirty = 1;
	mark_dirty_name(t, h->r.name);
}

static void
advance(struct ivt *t, int64_t time)
{
	if (time > t->now)
		t->now = time;
}

static int
fresh(const struct ivt *t, int64_t at)
{
	return at >= 0 && t->now - at < t->cfg.freshness_ms;
}

static void
quorum_of(const struct ivt *t, const struct host *h, struct nbr_quorum *q)
{
	nbr_quorum(h->in_ring ? nbr_ring_size(t->ring) : 0, t->cfg.neighbours,
	    t->cfg.quorum, q);
}

/*
 * Effective PASS time of a slot: its own time for a PASS, the direct
 * attestation's for a FAIL the RC-TCB disproved, -1 otherwise.
 */
static int64_t
pass_time(const struct host *h, const struct ivt_slot_rec *s)
{
	if (s->result == IVT_PASS)
		return s->time;
	if (s->result == IVT_FAIL && s->disproved)
		return h->r.direct_pass_at;
	return -1;
}

/*
 * The fresh PASSes of h and the quorum time: the k-th most recent of them
 * (the moment the current quorum was last renewed), -1 if fewer than k.
 */
static unsigned
fresh_passes(const struct ivt *t, const struct host *h, unsigned k,
    int64_t *quorum_at)
{
	int64_t v[IVT_NBR_MAX];
	unsigned i, j, n = 0;

	for (i = 0; i < h->r.nslot; i++) {
		int64_t at = pass_time(h, &h->r.slot[i]);

		if (!fresh(t, at))
			continue;
		/* insertion sort, newest first; at most 8 entries */
		for (j = n; j > 0 && v[j - 1] < at; j--)
			v[j] = v[j - 1];
		v[j] = at;
		n++;
	}
	*quorum_at = (k >= 1 && n >= k) ? v[k - 1] : -1;
	return n;
}

static void
accusers(const struct host *h, char *buf, size_t cap)
{
	size_t off = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < h->r.nslot && off + 1 < cap; i++) {
		int r;

		if (!h->r.slot[i].accuser)
			continue;
		r = snprintf(buf + off, cap - off, "%s%s", off ? "," : "",
		    h->r.slot[i].verifier);
		if (r < 0)
			break;
		off += (size_t)r;
	}
	if (off >= cap)
		buf[cap - 1] = '\0';
}

/* The rules, in order of precedence (docs/tcb.md, "States"). */
static enum ivt_state
derive(const struct ivt *t, struct host *h, char *why, size_t cap)
{
	struct nbr_quorum q;
	char acc[IVT_REASON_MAX];
	unsigned i, floor;

	h->quorum_at = -1;
	h->fresh = 0;
	if (h->r.untrusted) {
		snprintf(why, cap, "direct attestation failed");
		return IVT_UNTRUSTED;
	}
	if (h->r.accused) {
		accusers(h, acc, sizeof(acc));
		if (h->r.direct_unreach) {
			snprintf(why, cap, "accused by %s; direct attestation "
			    "could not reach it", acc[0] ? acc : "?");
			return IVT_UNREACHABLE;
		}
		snprintf(why, cap, "accused by %s; direct attestation pending",
		    acc[0] ? acc : "?");
		return IVT_SUSPECT;
	}
	if (!h->in_ring) {
		snprintf(why, cap, "not enrolled");
		return IVT_PENDING;
	}
	quorum_of(t, h, &q);
	h->fresh = fresh_passes(t, h, q.k, &h->quorum_at);
	floor = t->cfg.quorum_min;
	if (q.k >= floor && h->quorum_at >= 0) {
		snprintf(why, cap, "%u fresh PASSes, quorum %u of %u%s", h->fresh,
		    q.k, q.n, q.degraded ? " (degraded)" : "");
		return IVT_TRUSTED;
	}
	h->quorum_at = -1;
	for (i = 0; i < h->r.nslot; i++) {
		const struct ivt_slot_rec *s = &h->r.slot[i];

		if (s->result == IVT_UNREACH && fresh(t, s->time)) {
			snprintf(why, cap, "unreachable from %s", s->verifier);
			return IVT_UNREACHABLE;
		}
	}
	if (q.k < floor)
		snprintf(why, cap, "quorum %u of %u below the minimum %u",
		    q.k, q.n, floor);
	else
		snprintf(why, cap, "%u fresh PASSes, quorum %u of %u", h->fresh,
		    q.k, q.n);
	return IVT_PENDING;
}

static void
cand_remove(struct ivt *t, struct host *h)
{
	size_t i = h->cidx, last = t->ncand - 1;

	if (i == NO_CAND)
		return;
	if (i != last) {
		t->cand[i] = t->cand[last];
		t->cand_host[i] = t->cand_host[last];
		t->cand_host[i]->cidx = i;
	}
	t->ncand--;
	h->cidx = NO_CAND;
}

static void
cand_update(struct ivt *t, struct host *h)
{
	struct rank_cand *c;

	if (h->r.state != IVT_TRUSTED || h->quorum_at < 0) {
		cand_remove(t, h);
		return;
	}
	if (h->cidx == NO_CAND) {
		if (t->ncand == t->capcand) {
			size_t cap = t->capcand ? t->capcand * 2 : 64;
			struct rank_cand *v = realloc(t->cand, cap * sizeof(*v));
			struct host **hv;

			if (v == NULL) {
				t->oom = 1;
				return;
			}
			t->cand = v;
			if ((hv = realloc(t->cand_host, cap * sizeof(*hv))) == NULL) {
				t->oom = 1;
				return;
			}
			t->cand_host = hv;
			t->capcand = cap;
		}
		h->cidx = t->ncand++;
		t->cand_host[h->cidx] = h;
	}
	c = &t->cand[h->cidx];
	c->name = h->r.name;
	c->quorum_at = h->quorum_at;
	c->pass_streak = h->r.pass_streak;
	c->spare_vcpus = h->r.spare_vcpus;
	c->spare_mib = h->r.spare_mib;
	c->last_suspect_at = h->r.last_suspect_at;
}

static void
host_settle(struct ivt *t, struct host *h, struct ivt_actions *acts)
{
	char why[IVT_REASON_MAX];
	enum ivt_state s = derive(t, h, why, sizeof(why));
	struct ivt_action *x;

	if (s != h->r.state) {
		if ((x = act_push(t, acts, IVT_ACT_STATE, h)) != NULL) {
			x->from = h->r.state;
			x->to = s;
			copy_text(x->reason, sizeof(x->reason), why);
		}
		h->r.state = s;
		h->r.since = t->now;
		mark_dirty(t, h);
	}
	cand_update(t, h);
}

static void
slot_clear(struct ivt_slot_rec *s, const char *verifier)
{
	memset(s, 0, sizeof(*s));
	copy_text(s->verifier, sizeof(s->verifier), verifier);
	s->time = -1;
	s->result = IVT_NONE;
}

/* Give h the verifiers idx[0..cnt) of the ring, keeping their verdicts. */
static void
set_neighbours(struct ivt *t, struct host *h, const size_t *idx, unsigned cnt,
    struct ivt_actions *acts)
{
	struct ivt_slot_rec old[IVT_NBR_MAX];
	unsigned i, j, nold = h->r.nslot;
	struct ivt_action *x;
	size_t off = 0;

	for (i = 0; i < cnt; i++)
		if (i >= nold || strcmp(h->r.slot[i].verifier,
		    nbr_ring_name(t->ring, idx[i])) != 0)
			break;
	if (i == cnt && cnt == nold)
		return;		/* unchanged */
	memcpy(old, h->r.slot, sizeof(old));
	for (i = 0; i < cnt; i++) {
		const char *v = nbr_ring_name(t->ring, idx[i]);

		slot_clear(&h->r.slot[i], v);
		for (j = 0; j < nold; j++)
			if (strcmp(old[j].verifier, v) == 0)
				h->r.slot[i] = old[j];
	}
	for (; i < IVT_NBR_MAX; i++)
		memset(&h->r.slot[i], 0, sizeof(h->r.slot[i]));
	h->r.nslot = cnt;
	mark_dirty(t, h);
	if ((x = act_push(t, acts, IVT_ACT_REASSIGN_NEIGHBOURS, h)) == NULL)
		return;
	x->n = cnt;
	for (i = 0; i < cnt && off + 1 < sizeof(x->reason); i++) {
		int r = snprintf(x->reason + off, sizeof(x->reason) - off,
		    "%s%s", i ? "," : "", h->r.slot[i].verifier);

		if (r < 0)
			break;
		off += (size_t)r;
	}
}

/*
 * Recompute the ring assignment of every host and re-derive every state.
 * O(hosts * neighbours); membership changes are rare next to verdicts.
 */
static void
reassign(struct ivt *t, struct ivt_actions *acts)
{
	size_t m = nbr_ring_size(t->ring), n = nbr_ring_size(t->all), i;
	struct nbr_quorum q;

	nbr_quorum(m, t->cfg.neighbours, t->cfg.quorum, &q);
	t->epoch++;
	for (i = 0; i < m; i++) {
		struct host *h = nbr_ring_item(t->ring, i);
		size_t idx[NBR_MAX];
		unsigned cnt = nbr_assign(m, i, t->cfg.neighbours, idx);
		struct ivt_action *x;

		h->mark = t->epoch;
		set_neighbours(t, h, idx, cnt, acts);
		if (q.n != h->r.rep_n || q.k != h->r.rep_k) {
			x = act_push(t, acts, q.degraded ? IVT_ACT_QUORUM_DEGRADED
			    : IVT_ACT_QUORUM_RESTORED, h);
			if (x != NULL) {
				x->n = q.n;
				x->k = q.k;
				snprintf(x->reason, sizeof(x->reason),
				    "%u neighbours, quorum %u (policy: %u of %u)",
				    q.n, q.k, q.k_nominal, q.n_nominal);
			}
			h->r.rep_n = q.n;
			h->r.rep_k = q.k;
			mark_dirty(t, h);
		}
	}
	for (i = 0; i < n; i++) {
		struct host *h = nbr_ring_item(t->all, i);

		if (h->mark != t->epoch && h->r.nslot > 0)
			set_neighbours(t, h, NULL, 0, acts);
		host_settle(t, h, acts);
	}
}

static int
finish(struct ivt *t, enum ivt_why *why, struct vouch_err *e)
{
	if (t->oom) {
		t->oom = 0;
		if (why != NULL)
			*why = IVT_WHY_NOMEM;
		return vouch_err_set(e, VOUCH_E_NOMEM,
		    "actions list: out of memory (restart from the store)");
	}
	if (why != NULL)
		*why = IVT_WHY_OK;
	return 0;
}

/* --- table ----------------------------------------------------------- */

int
ivt_new(const struct ivt_config *cfg, struct ivt **out, struct vouch_err *e)
{
	struct ivt *t;
	int r;

	if ((r = ivt_config_check(cfg, e)) < 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->all = nbr_ring_new()) == NULL ||
	    (t->ring = nbr_ring_new()) == NULL) {
		ivt_free(t);
		return vouch_err_set(e, VOUCH_E_NOMEM, "ivt_new");
	}
	t->cfg = *cfg;
	t->now = 0;
	*out = t;
	return 0;
}

void
ivt_free(struct ivt *t)
{
	size_t i;

	if (t == NULL)
		return;
	if (t->all != NULL)
		for (i = 0; i < nbr_ring_size(t->all); i++)
			free(nbr_ring_item(t->all, i));
	nbr_ring_free(t->all);
	nbr_ring_free(t->ring);
	free(t->dirty);
	free(t->cand);
	free(t->cand_host);
	free(t);
}

const struct ivt_config *
ivt_config(const struct ivt *t)
{
	return &t->cfg;
}

size_t
ivt_size(const struct ivt *t)
{
	return nbr_ring_size(t->all);
}

int64_t
ivt_now(const struct ivt *t)
{
	return t->now;
}

const char *
ivt_host_name(const struct ivt *t, size_t i)
{
	return nbr_ring_name(t->all, i);
}

/* --- membership ------------------------------------------------------ */

static struct host *
host_alloc(const struct ivt *t, const char *name, int enrolled, int64_t now)
{
	struct host *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	copy_text(h->r.name, sizeof(h->r.name), name);
	h->r.state = IVT_PENDING;
	h->r.since = now;
	h->r.enrolled = enrolled != 0;
	h->r.last_suspect_at = -1;
	h->r.direct_requested_at = -1;
	h->r.direct_pass_at = -1;
	/* Reported as the policy's quorum until a ring says otherwise, so a
	 * host joining a large region reports nothing. */
	h->r.rep_n = t->cfg.neighbours;
	h->r.rep_k = t->cfg.quorum;
	h->quorum_at = -1;
	h->cidx = NO_CAND;
	return h;
}

static int
ring_enter(struct ivt *t, struct host *h, struct vouch_err *e)
{
	int r;

	if (h->in_ring || !nbr_eligible(h->r.enrolled, h->r.untrusted))
		return 0;
	if ((r = nbr_ring_insert(t->ring, h->r.name, h, e)) < 0)
		return r;
	h->in_ring = 1;
	return 0;
}

static void
ring_leave(struct ivt *t, struct host *h)
{
	if (!h->in_ring)
		return;
	(void)nbr_ring_remove(t->ring, h->r.name, NULL);
	h->in_ring = 0;
}

int
ivt_host_join(struct ivt *t, const char *name, int enrolled, int64_t now,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e)
{
	struct host *h;
	int r;

	if (!name_ok(name) || now < 0)
		return refuse(why, IVT_WHY_BAD_INPUT, e, VOUCH_E_INVAL, name);
	if (find(t, name) != NULL)
		return refuse(why, IVT_WHY_EXISTS, e, VOUCH_E_EXISTS, name);
	advance(t, now);
	if ((h = host_alloc(t, name, enrolled, t->now)) == NULL)
		return refuse(why, IVT_WHY_NOMEM, e, VOUCH_E_NOMEM, name);
	if ((r = nbr_ring_insert(t->all, h->r.name, h, e)) < 0) {
		free(h);
		return refuse(why, IVT_WHY_NOMEM, e, r, name);
	}
	if ((r = ring_enter(t, h, e)) < 0) {
		(void)nbr_ring_remove(t->all, h->r.name, NULL);
		free(h);
		return refuse(why, IVT_WHY_NOMEM, e, r, name);
	}
	mark_dirty(t, h);
	if (h->in_ring)
		reassign(t, acts);
	return finish(t, why, e);
}

int
ivt_host_enrol(struct ivt *t, const char *name, int64_t now,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e)
{
	struct host *h = find(t, name);
	int r;

	if (h == NULL)
		return refuse(why, IVT_WHY_UNKNOWN_HOST, e, VOUCH_E_NOTFOUND, name);
	advance(t, now);
	if (h->r.enrolled)
		return finish(t, why, e);
	h->r.enrolled = 1;
	if ((r = ring_enter(t, h, e)) < 0) {
		h->r.enrolled = 0;
		return refuse(why, IVT_WHY_NOMEM, e, r, name);
	}
	mark_dirty(t, h);
	reassign(t, acts);
	return finish(t, why, e);
}

int
ivt_host_leave(struct ivt *t, const char *name, int64_t now,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e)
{
	struct host *h = find(t, name);

	if (h == NULL)
		return refuse(why, IVT_WHY_UNKNOWN_HOST, e, VOUCH_E_NOTFOUND, name);
	advance(t, now);
	ring_leave(t, h);
	cand_remove(t, h);
	(void)nbr_ring_remove(t->all, h->r.name, NULL);
	if (!h->dirty)
		mark_dirty_name(t, h->r.name);
	/* The others' slots name h, never point at it: free after. */
	reassign(t, acts);
	free(h);
	return finish(t, why, e);
}

int
ivt_host_capacity(struct ivt *t, const char *name, uint32_t vcpus,
    uint64_t mib, int64_t now, enum ivt_why *why, struct vouch_err *e)
{
	struct host *h = find(t, name);

	if (h == NULL)
		return refuse(why, IVT_WHY_UNKNOWN_HOST, e, VOUCH_E_NOTFOUND, name);
	advance(t, now);
	h->r.spare_vcpus = vcpus;
	h->r.spare_mib = mib;
	mark_dirty(t, h);
	cand_update(t, h);
	return finish(t, why, e);
}

/* --- verdicts -------------------------------------------------------- */

int
ivt_verdict(struct ivt *t, const struct ivt_verdict *v,
    struct ivt_actions *acts, enum ivt_why *why, struct vouch_err *e)
{
	struct ivt_slot_rec *s = NULL;
	struct ivt_action *x;
	struct host *h;
	unsigned i;
	int reboot;

	if (v == NULL || !name_ok(v->subject) || !name_ok(v->verifier) ||
	    v->time < 0 || (v->result != IVT_PASS && v->result != IVT_FAIL &&
	    v->result != IVT_UNREACH))
		return refuse(why, IVT_WHY_BAD_INPUT, e, VOUCH_E_INVAL,
		    v != NULL ? v->subject : NULL);
	if ((h = find(t, v->subject)) == NULL)
		return refuse(why, IVT_WHY_UNKNOWN_HOST, e, VOUCH_E_NOTFOUND,
		    v->subject);
	if (h->r.untrusted)
		return refuse(why, IVT_WHY_UNTRUSTED, e, VOUCH_E_STATE, v->subject);
	for (i = 0; i < h->r.nslot; i++)
		if (strcmp(h->r.slot[i].verifier, v->verifier) == 0)
			s = &h->r.slot[i];
	if (s == NULL) {
		if (why != NULL)
			*why = IVT_WHY_NOT_NEIGHBOUR;
		return vouch_err_set(e, VOUCH_E_STATE,
		    "%s: verdict from %s: %s", v->subject, v->verifier,
		    ivt_why_name(IVT_WHY_NOT_NEIGHBOUR));
	}
	if (s->time >= 0 && v->time <= s->time) {
		enum ivt_why w = v->time == s->time ? IVT_WHY_DUPLICATE
		    : IVT_WHY_STALE;

		if (why != NULL)
			*why = w;
		return vouch_err_set(e, VOUCH_E_STATE,
		    "%s: verdict from %s at %lld: %s (stored: %lld)", v->subject,
		    v->verifier, (long long)v->time, ivt_why_name(w),
		    (long long)s->time);
	}
	if (v->result != IVT_UNREACH && h->r.reset_known &&
	    v->reset_count < h->r.reset_count) {
		if (why != NULL)
			*why = IVT_WHY_RESET_BACKWARDS;
		return vouch_err_set(e, VOUCH_E_STATE,
		    "%s: verdict from %s: resetCount %u < %u already seen",
		    v->subject, v->verifier, v->reset_count, h->r.reset_count);
	}

	advance(t, v->time);
	reboot = v->result != IVT_UNREACH && h->r.reset_known &&
	    v->reset_count > h->r.reset_count;
	if (reboot) {
		/*
		 * The other neighbours appraised the previous boot: their
		 * verdicts say nothing about this one.  Times are kept so a
		 * delayed verdict from before the reboot stays stale.
		 */
		for (i = 0; i < h->r.nslot; i++) {
			h->r.slot[i].result = IVT_NONE;
			h->r.slot[i].disproved = 0;
		}
		if ((x = act_push(t, acts, IVT_ACT_REAPPRAISE, h)) != NULL)
			snprintf(x->reason, sizeof(x->reason),
			    "resetCount %u -> %u (reported by %s)",
			    h->r.reset_count, v->reset_count, v->verifier);
	}
	if (v->result != IVT_UNREACH) {
		h->r.reset_known = 1;
		h->r.reset_count = v->reset_count;
	}
	s->time = v->time;
	s->result = v->result;
	s->reset_count = v->result != IVT_UNREACH ? v->reset_count : 0;
	s->disproved = 0;
	copy_text(s->reason, sizeof(s->reason), v->reason);
	switch (v->result) {
	case IVT_PASS:
		h->r.passes++;
		h->r.pass_streak++;
		break;
	case IVT_FAIL:
		h->r.fails++;
		s->accuser = 1;
		if (h->r.accused)
			break;	/* one direct attestation per episode */
		h->r.accused = 1;
		h->r.direct_unreach = 0;
		h->r.suspect_episodes++;
		h->r.last_suspect_at = t->now;
		h->r.direct_requested_at = t->now;
		if ((x = act_push(t, acts, IVT_ACT_ATTEST_DIRECTLY, h)) != NULL)
			snprintf(x->reason, sizeof(x->reason), "FAIL from %s: %s",
			    v->verifier, s->reason);
		break;
	default:
		h->r.pass_streak = 0;
		break;
	}
	mark_dirty(t, h);
	host_settle(t, h, acts);
	return finish(t, why, e);
}

int
ivt_direct_result(struct ivt *t, const char *name, int64_t time,
    enum ivt_result result, const char *reason, struct ivt_actions *acts,
    enum ivt_why *why, struct vouch_err *e)
{
	char acc[IVT_REASON_MAX], txt[IVT_REASON_MAX];
	struct ivt_action *x;
	struct host *h;
	unsigned i;

	if (time < 0 || (result != IVT_PASS && result != IVT_FAIL &&
	    result != IVT_UNREACH))
		return refuse(why, IVT_WHY_BAD_INPUT, e, VOUCH_E_INVAL, name);
	if ((h = find(t, name)) == NULL)
		return refuse(why, IVT_WHY_UNKNOWN_HOST, e, VOUCH_E_NOTFOUND, name);
	if (h->r.untrusted)
		return refuse(why, IVT_WHY_UNTRUSTED, e, VOUCH_E_STATE, name);
	if (result != IVT_FAIL && !h->r.accused)
		return refuse(why, IVT_WHY_NOT_REQUESTED, e, VOUCH_E_STATE, name);
	advance(t, time);
	copy_text(txt, sizeof(txt), reason);
	mark_dirty(t, h);

	if (result == IVT_FAIL) {
		/* Confirmed by the RC-TCB itself: no PASS from anyone counts. */
		accusers(h, acc, sizeof(acc));
		h->r.untrusted = 1;
		h->r.accused = 0;
		h->r.direct_unreach = 0;
		h->r.fails++;
		h->r.pass_streak = 0;
		for (i = 0; i < h->r.nslot; i++)
			h->r.slot[i].accuser = 0;
		host_settle(t, h, acts);
		if ((x = act_push(t, acts, IVT_ACT_EMIT_UNTRUSTED, h)) != NULL)
			snprintf(x->reason, sizeof(x->reason),
			    "direct attestation failed: %s%s%s", txt,
			    acc[0] ? "; accused by " : "", acc);
		/* Its verdicts on others are void from now on. */
		if (h->in_ring) {
			ring_leave(t, h);
			reassign(t, acts);
		}
		return finish(t, why, e);
	}
	if (result == IVT_UNREACH) {
		h->r.direct_unreach = 1;
		h->r.pass_streak = 0;
		host_settle(t, h, acts);
		return finish(t, why, e);
	}
	h->r.accused = 0;
	h->r.direct_unreach = 0;
	h->r.direct_pass_at = t->now;
	h->r.passes++;
	h->r.pass_streak++;
	for (i = 0; i < h->r.nslot; i++) {
		struct ivt_slot_rec *s = &h->r.slot[i];

		if (s->accuser) {
			struct host *liar = find(t, s->verifier);

			if (liar != NULL) {
				liar->r.disproved++;
				mark_dirty(t, liar);
			}
			if ((x = act_push(t, acts, IVT_ACT_DISPROVED, h)) != NULL) {
				copy_text(x->verifier, sizeof(x->verifier),
				    s->verifier);
				snprintf(x->reason, sizeof(x->reason),
				    "direct attestation passed: %s", txt);
			}
			s->accuser = 0;
		}
		if (s->result == IVT_FAIL)
			s->disproved = 1;
	}
	host_settle(t, h, acts);
	return finish(t, why, e);
}

int
ivt_tick(struct ivt *t, int64_t now, struct ivt_actions *acts,
    struct vouch_err *e)
{
	size_t i, n = nbr_ring_size(t->all);

	advance(t, now);
	for (i = 0; i < n; i++) {
		struct host *h = nbr_ring_item(t->all, i);
		struct ivt_action *x;

		if (h->r.accused && t->now - h->r.direct_requested_at >=
		    t->cfg.interval_ms) {
			h->r.direct_requested_at = t->now;
			mark_dirty(t, h);
			if ((x = act_push(t, acts, IVT_ACT_ATTEST_DIRECTLY, h)) != NULL)
				snprintf(x->reason, sizeof(x->reason),
				    "retry: accusation still open");
		}
		host_settle(t, h, acts);
	}
	return finish(t, NULL, e);
}

/* --- queries --------------------------------------------------------- */

int
ivt_host_get(const struct ivt *t, const char *name, struct ivt_host_rec *out,
    struct vouch_err *e)
{
	struct host *h = find(t, name);
	char why[IVT_REASON_MAX];
	struct host tmp;
	int64_t unused;

	if (h == NULL)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "%s: not in the IVT",
		    name != NULL ? name : "(null)");
	/* Derived fields at ivt_now(), without touching the table. */
	tmp = *h;
	(void)derive(t, &tmp, why, sizeof(why));
	*out = h->r;
	quorum_of(t, h, &out->quorum);
	out->quorum_at = tmp.quorum_at;
	out->fresh_passes = fresh_passes(t, h, out->quorum.k, &unused);
	return 0;
}

size_t
ivt_subjects_of(const struct ivt *t, const char *verifier, const char **names,
    size_t max)
{
	size_t i, cnt = 0, n = nbr_ring_size(t->all);
	unsigned j;

	for (i = 0; i < n; i++) {
		const struct host *h = nbr_ring_item(t->all, i);

		for (j = 0; j < h->r.nslot; j++)
			if (strcmp(h->r.slot[j].verifier, verifier) == 0) {
				if (cnt < max)
					names[cnt] = h->r.name;
				cnt++;
				break;
			}
	}
	return cnt;
}

size_t
ivt_dirty_count(const struct ivt *t)
{
	return t->ndirty;
}

const char *
ivt_dirty_name(const struct ivt *t, size_t i)
{
	return i < t->ndirty ? t->dirty[i] : NULL;
}

void
ivt_dirty_clear(struct ivt *t)
{
	size_t i;

	for (i = 0; i < t->ndirty; i++) {
		struct host *h = find(t, t->dirty[i]);

		if (h != NULL)
			h->dirty = 0;
	}
	t->ndirty = 0;
}

/* --- restore --------------------------------------------------------- */

int
ivt_restore_host(struct ivt *t, const struct ivt_host_rec *rec,
    struct vouch_err *e)
{
	struct host *h;
	unsigned i;
	int r;

	if (!name_ok(rec->name) || rec->nslot > IVT_NBR_MAX ||
	    (unsigned)rec->state > IVT_UNREACHABLE)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%.64s: bad host record",
		    rec->name);
	for (i = 0; i < rec->nslot; i++)
		if (!name_ok(rec->slot[i].verifier) ||
		    (unsigned)rec->slot[i].result > IVT_UNREACH)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s: bad verdict record %u", rec->name, i);
	if (find(t, rec->name) != NULL)
		return vouch_err_set(e, VOUCH_E_EXISTS, "%s: restored twice",
		    rec->name);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "%s", rec->name);
	h->r = *rec;
	h->r.name[IVT_NAME_MAX] = '\0';
	for (i = 0; i < IVT_NBR_MAX; i++) {
		h->r.slot[i].verifier[IVT_NAME_MAX] = '\0';
		h->r.slot[i].reason[IVT_REASON_MAX - 1] = '\0';
		if (i >= rec->nslot)
			memset(&h->r.slot[i], 0, sizeof(h->r.slot[i]));
	}
	h->quorum_at = -1;
	h->cidx = NO_CAND;
	if ((r = nbr_ring_insert(t->all, h->r.name, h, e)) < 0) {
		free(h);
		return r;
	}
	if ((r = ring_enter(t, h, e)) < 0) {
		(void)nbr_ring_remove(t->all, h->r.name, NULL);
		free(h);
		return r;
	}
	if (rec->since > t->now)
		t->now = rec->since;
	return 0;
}

int
ivt_restore_done(struct ivt *t, int64_t now, struct ivt_actions *acts,
    struct vouch_err *e)
{
	advance(t, now);
	reassign(t, acts);
	return finish(t, NULL, e);
}

/* --- ranking bridge -------------------------------------------------- */

size_t
ivt_candidates(const struct ivt *t, int64_t now, struct rank_cand *out,
    size_t max)
{
	size_t i, cnt = 0;

	for (i = 0; i < t->ncand; i++) {
		/* TRUSTED as of the last input, and still fresh at now
		 * (a tick may not have run since the quorum aged out). */
		if (now - t->cand[i].quorum_at >= t->cfg.freshness_ms)
			continue;
		if (cnt < max)
			out[cnt] = t->cand[i];
		cnt++;
	}
	return cnt;
}

size_t
ivt_rank(const struct ivt *t, int64_t now, const struct rank_weights *w,
    const struct rank_request *req, const char **names, int64_t *scores,
    size_t max)
{
	struct rank_result best[IVT_RANK_MAX];
	struct rank_weights wf = *w;
	size_t i, n;

	if (max > IVT_RANK_MAX)
		max = IVT_RANK_MAX;
	/* The IVT's window decides freshness, whatever the policy copied. */
	wf.freshness_ms = t->cfg.freshness_ms;
	n = rank_top(t->cand, t->ncand, &wf, req, now, best, max);
	for (i = 0; i < n; i++) {
		names[i] = t->cand[best[i].idx].name;
		if (scores != NULL)
			scores[i] = best[i].score;
	}
	return n;
}
