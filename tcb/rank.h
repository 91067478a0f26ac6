/*
 * rank.h - ranking TRUSTED hosts as migration destinations.  Pure: the
 * candidates, the weights and the clock are inputs (ivt_candidates()
 * fills the candidates from the IVT).
 *
 * Score (integers throughout, so equal inputs tie exactly; every term is
 * in parts per million, 0..1,000,000; docs/tcb.md has a worked example):
 *
 *   fresh    = 1e6 * (F - age) / F        age = now - quorum_at, F = freshness
 *                                         (age < 0, clock skew: 1e6)
 *   history  = 1e6 * min(streak, S) / S   S = streak_cap
 *   capacity = (min(fit, C) - 1e6) / (C/1e6 - 1)
 *                                         fit = 1e6 * min over requested
 *                                         dimensions of spare / requested;
 *                                         C = fit_cap * 1e6 (0 if the
 *                                         request is empty)
 *   suspect  = 1e6 * (W - since) / W      since = now - last_suspect_at,
 *                                         W = suspect_window (0 if older
 *                                         or never)
 *
 *   score = w_fresh*fresh + w_history*history + w_capacity*capacity
 *           - w_suspect*suspect
 *
 * Excluded: hosts whose spare vCPUs or MiB are below the request, and
 * hosts whose quorum is F or more old (no longer TRUSTED at now).
 * Order: higher score; then the fresher quorum (larger quorum_at); then
 * the name (strcmp, ascending).  rank_top() selects the best max with a
 * bounded heap: O(m log max), no sort of the whole region.
 */
#ifndef VOUCH_RANK_H
#define VOUCH_RANK_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define RANK_PPM	1000000LL

struct rank_cand {
	const char	*name;		/* borrowed */
	int64_t		 quorum_at;	/* when trust was last renewed (ms) */
	uint32_t	 pass_streak;
	uint32_t	 spare_vcpus;
	uint64_t	 spare_mib;
	int64_t		 last_suspect_at;	/* -1: never */
};

struct rank_weights {
	uint32_t	fresh;		/* 0..1000 each (policy) */
	uint32_t	history;
	uint32_t	capacity;
	uint32_t	suspect;
	uint32_t	streak_cap;	/* >= 1 */
	uint32_t	fit_cap;	/* >= 2: fits beyond this score the same */
	int64_t		freshness_ms;	/* the IVT's freshness window, > 0 */
	int64_t		suspect_window_ms;	/* > 0 */
};

struct rank_request {
	uint32_t	vcpus;		/* 0: not a constraint */
	uint64_t	mib;
};

struct rank_result {
	size_t		idx;		/* index into the candidates array */
	int64_t		score;
};

/* fresh 40, history 20, capacity 30, suspect 50, streak_cap 20, fit_cap 4,
 * freshness 90 s, suspect window 1 h. */
void rank_weights_default(struct rank_weights *w);
int rank_weights_check(const struct rank_weights *w, struct vouch_err *e);

/* Score of one candidate; 0 and *eligible = 0 if excluded (above). */
int64_t rank_score(const struct rank_cand *c, const struct rank_weights *w,
    const struct rank_request *req, int64_t now, int *eligible);

/* 1 if a ranks before b (score first, then the tie-breaks above). */
int rank_before(const struct rank_cand *a, int64_t score_a,
    const struct rank_cand *b, int64_t score_b);

/*
 * The best min(max, eligible) of the m candidates, best first, into
 * out[]; returns how many were written.  Weights are not checked here
 * (check them once, when the policy is loaded).
 */
size_t rank_top(const struct rank_cand *c, size_t m, const struct rank_weights *w,
    const struct rank_request *req, int64_t now, struct rank_result *out,
    size_t max);

#endif
