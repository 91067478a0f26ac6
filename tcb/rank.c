#include <string.h>

#include "rank.h"

void
rank_weights_default(struct rank_weights *w)
{
	w->fresh = 40;
	w->history = 20;
	w->capacity = 30;
	w->suspect = 50;
	w->streak_cap = 20;
	w->fit_cap = 4;
	w->freshness_ms = 90000;
	w->suspect_window_ms = 3600000;
}

int
rank_weights_check(const struct rank_weights *w, struct vouch_err *e)
{
	if (w->fresh > 1000 || w->history > 1000 || w->capacity > 1000 ||
	    w->suspect > 1000)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "ranking weights: each must be in 0..1000");
	if (w->streak_cap < 1 || w->streak_cap > 1000000)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "streak_cap: %u not in 1..1000000", w->streak_cap);
	if (w->fit_cap < 2 || w->fit_cap > 1000000)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "fit_cap: %u not in 2..1000000", w->fit_cap);
	if (w->freshness_ms < 1 || w->suspect_window_ms < 1)
		return vouch_err_set(e, VOUCH_E_CONFIG,
		    "freshness and suspect_window must be > 0");
	return 0;
}

/* 1e6 * (window - age) / window, clamped to 0..1e6. */
static int64_t
decay(int64_t age, int64_t window)
{
	if (age <= 0)
		return RANK_PPM;
	if (age >= window)
		return 0;
	return (window - age) * RANK_PPM / window;
}

/* spare / want in ppm, saturated at cap (ppm); want > 0.  Split into
 * quotient and remainder so huge reported values cannot overflow. */
static int64_t
ratio(uint64_t spare, uint64_t want, int64_t cap)
{
	uint64_t q = spare / want, rem = spare % want, frac;

	if (q >= (uint64_t)(cap / RANK_PPM))
		return cap;
	if (want > UINT64_MAX / (uint64_t)RANK_PPM)
		frac = rem / (want / (uint64_t)RANK_PPM);
	else
		frac = rem * (uint64_t)RANK_PPM / want;
	return (int64_t)q * RANK_PPM + (int64_t)frac;
}

int64_t
rank_score(const struct rank_cand *c, const struct rank_weights *w,
    const struct rank_request *req, int64_t now, int *eligible)
{
	int64_t fresh, hist, cap = 0, susp = 0, capmax, fit = -1;

	/* No room, or a quorum too old to count: not a destination. */
	*eligible = c->spare_vcpus >= req->vcpus && c->spare_mib >= req->mib &&
	    now - c->quorum_at < w->freshness_ms;
	if (!*eligible)
		return 0;
	fresh = decay(now - c->quorum_at, w->freshness_ms);
	hist = (int64_t)(c->pass_streak < w->streak_cap ? c->pass_streak :
	    w->streak_cap) * RANK_PPM / w->streak_cap;
	/*
	 * Capacity: how many copies of the request still fit, over the
	 * tightest requested dimension, from 1 (just fits: 0) up to fit_cap
	 * (1e6).  Bigger hosts beyond fit_cap gain nothing, so a huge host
	 * cannot outweigh fresh evidence.
	 */
	capmax = (int64_t)w->fit_cap * RANK_PPM;
	if (req->vcpus > 0)
		fit = ratio(c->spare_vcpus, req->vcpus, capmax);
	if (req->mib > 0) {
		int64_t f = ratio(c->spare_mib, req->mib, capmax);

		if (fit < 0 || f < fit)
			fit = f;
	}
	if (fit >= 0) {
		if (fit > capmax)
			fit = capmax;
		cap = (fit - RANK_PPM) / (int64_t)(w->fit_cap - 1);
	}
	if (c->last_suspect_at >= 0)
		susp = decay(now - c->last_suspect_at, w->suspect_window_ms);
	return (int64_t)w->fresh * fresh + (int64_t)w->history * hist +
	    (int64_t)w->capacity * cap - (int64_t)w->suspect * susp;
}

int
rank_before(const struct rank_cand *a, int64_t sa, const struct rank_cand *b,
    int64_t sb)
{
	int c;

	if (sa != sb)
		return sa > sb;
	/* Equal scores: the fresher proof of integrity wins... */
	if (a->quorum_at != b->quorum_at)
		return a->quorum_at > b->quorum_at;
	/* ...then the name, so every replica picks the same host. */
	c = strcmp(a->name, b->name);
	return c < 0;
}

/* Min-heap on "worst first" so the root is the one to evict. */
static int
worse(const struct rank_cand *c, const struct rank_result *x,
    const struct rank_result *y)
{
	return rank_before(&c[y->idx], y->score, &c[x->idx], x->score);
}

static void
sift_down(const struct rank_cand *c, struct rank_result *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct rank_result tmp;

		if (l < n && worse(c, &h[l], &h[m]))
			m = l;
		if (r < n && worse(c, &h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

static void
sift_up(const struct rank_cand *c, struct rank_result *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct rank_result tmp;

		if (!worse(c, &h[i], &h[p]))
			return;
		tmp = h[i];
		h[i] = h[p];
		h[p] = tmp;
		i = p;
	}
}

size_t
rank_top(const struct rank_cand *c, size_t m, const struct rank_weights *w,
    const struct rank_request *req, int64_t now, struct rank_result *out,
    size_t max)
{
	size_t i, n = 0;

	if (max == 0)
		return 0;
	/* out[] is the heap while selecting: no allocation per query. */
	for (i = 0; i < m; i++) {
		struct rank_result x;
		int ok;

		x.idx = i;
		x.score = rank_score(&c[i], w, req, now, &ok);
		if (!ok)
			continue;
		if (n < max) {
			out[n] = x;
			sift_up(c, out, n++);
		} else if (rank_before(&c[i], x.score, &c[out[0].idx],
		    out[0].score)) {
			out[0] = x;
			sift_down(c, out, n, 0);
		}
	}
	/* Heap sort in place: pop the worst to the end, best ends first. */
	for (i = n; i > 1; i--) {
		struct rank_result tmp = out[0];

		out[0] = out[i - 1];
		out[i - 1] = tmp;
		sift_down(c, out, i - 1, 0);
	}
	return n;
}
