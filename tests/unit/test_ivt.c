/*
 * Unit tests: tcb/ivt.c - the IVT state machine.
 *
 * Two halves.  First an exhaustive check: every sequence of up to five
 * events over a ten-letter alphabet (neighbour PASS/FAIL/UNREACHABLE,
 * direct PASS/FAIL/UNREACHABLE, a reboot, a tick past the freshness
 * window), and every permutation of the five key events, run
 * against an oracle: a separate, deliberately naive model of the rules
 * in docs/tcb.md.  After each event the state, the return code, the
 * actions and the disproved counters must agree, and three invariants
 * hold whatever the oracle says (UNTRUSTED only after a direct FAIL;
 * never TRUSTED with an accusation open; UNREACHABLE verdicts alone
 * never make a host UNTRUSTED).  Then one case per rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tcb/ivt.h"
#include "tcb/rank.h"

#define T0	1000000
#define F	90000
#define I	30000

static struct ivt_config
cfg_default(void)
{
	struct ivt_config c;

	ivt_config_default(&c);
	assert_int_equal(c.freshness_ms, F);
	assert_int_equal(c.interval_ms, I);
	return c;
}

/* A region of n enrolled hosts h0..h(n-1) joined at T0. */
static struct ivt *
mk(unsigned n, const struct ivt_config *c, struct ivt_actions *acts)
{
	struct ivt *t = NULL;
	char name[16];
	unsigned i;

	assert_int_equal(ivt_new(c, &t, NULL), 0);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "h%u", i);
		assert_int_equal(ivt_host_join(t, name, 1, T0, acts, NULL, NULL), 0);
	}
	if (acts != NULL)
		ivt_actions_reset(acts);
	ivt_dirty_clear(t);
	return t;
}

static int
vd(struct ivt *t, const char *subj, const char *ver, int64_t time,
    enum ivt_result r, uint32_t rc, struct ivt_actions *a, enum ivt_why *why)
{
	struct ivt_verdict v = { subj, ver, time, r, rc, "summary" };

	return ivt_verdict(t, &v, a, why, NULL);
}

static size_t
count(const struct ivt_actions *a, enum ivt_act k, const char *host)
{
	size_t i, n = 0;

	for (i = 0; i < a->n; i++)
		if (a->v[i].kind == k && (host == NULL ||
		    strcmp(a->v[i].host, host) == 0))
			n++;
	return n;
}

static enum ivt_state
st(const struct ivt *t, const char *name)
{
	struct ivt_host_rec r;

	assert_int_equal(ivt_host_get(t, name, &r, NULL), 0);
	return r.state;
}

static uint64_t
disproved(const struct ivt *t, const char *name)
{
	struct ivt_host_rec r;

	assert_int_equal(ivt_host_get(t, name, &r, NULL), 0);
	return r.disproved;
}

/* ---- the oracle ------------------------------------------------------
 * Subject h0 in a ring h0, h1, h2: its neighbours are n1 = h1, n2 = h2.
 * The clock moves 1 s per event; a tick moves it F + 1 s.
 */
enum ev {
	E_N1_PASS, E_N2_PASS, E_N1_FAIL, E_N2_FAIL, E_N1_UNREACH,
	E_D_PASS, E_D_FAIL, E_D_UNREACH, E_TICK, E_N2_REBOOT, E_COUNT
};

static const char *const ev_names[E_COUNT] = {
	"n1 PASS", "n2 PASS", "n1 FAIL", "n2 FAIL", "n1 UNREACH",
	"direct PASS", "direct FAIL", "direct UNREACH", "tick", "n2 PASS(reboot)",
};

struct mslot {
	int64_t	t;
	int	res;		/* enum ivt_result */
	int	disproved, accuser;
};

struct model {
	int64_t		now;
	int		untrusted, accused, dunreach, direct_failed;
	int64_t		dreq, dpass;
	struct mslot	s[2];
	uint64_t	liar[2];	/* disproved counters of h1, h2 */
	uint32_t	boot;
	int		boot_known;
	enum ivt_state	state;
};

struct expect {
	int		rc;		/* 0 or the refusal */
	enum ivt_why	why;
	size_t		attest, emit, disproved_n1, disproved_n2, reappraise;
	size_t		reassign;	/* over all hosts */
	int		changed;
	enum ivt_state	from, to;
};

static enum ivt_state
m_derive(const struct model *m)
{
	int j, pass = 0;

	if (m->untrusted)
		return IVT_UNTRUSTED;
	if (m->accused)
		return m->dunreach ? IVT_UNREACHABLE : IVT_SUSPECT;
	for (j = 0; j < 2; j++) {
		int64_t at = -1;

		if (m->s[j].res == IVT_PASS)
			at = m->s[j].t;
		else if (m->s[j].res == IVT_FAIL && m->s[j].disproved)
			at = m->dpass;
		if (at >= 0 && m->now - at < F)
			pass++;
	}
	if (pass >= 2)
		return IVT_TRUSTED;
	for (j = 0; j < 2; j++)
		if (m->s[j].res == IVT_UNREACH && m->now - m->s[j].t < F)
			return IVT_UNREACHABLE;
	return IVT_PENDING;
}

static void
m_verdict(struct model *m, int j, int res, uint32_t boot, struct expect *x)
{
	int k;

	if (m->untrusted) {
		x->rc = VOUCH_E_STATE;
		x->why = IVT_WHY_UNTRUSTED;
		return;
	}
	if (res != IVT_UNREACH) {
		if (m->boot_known && boot > m->boot) {
			x->reappraise = 1;
			for (k = 0; k < 2; k++) {
				m->s[k].res = IVT_NONE;
				m->s[k].disproved = 0;
			}
		}
		m->boot = boot;
		m->boot_known = 1;
	}
	m->s[j].t = m->now;
	m->s[j].res = res;
	m->s[j].disproved = 0;
	if (res == IVT_FAIL) {
		m->s[j].accuser = 1;
		if (!m->accused) {
			m->accused = 1;
			m->dunreach = 0;
			m->dreq = m->now;
			x->attest = 1;
		}
	}
}

static void
m_direct(struct model *m, int res, struct expect *x)
{
	int j;

	if (m->untrusted) {
		x->rc = VOUCH_E_STATE;
		x->why = IVT_WHY_UNTRUSTED;
		return;
	}
	if (res == IVT_FAIL) {
		m->untrusted = 1;
		m->direct_failed = 1;
		x->emit = 1;
		/* h0 loses its verifiers; h1 and h2 lose h0 as a verifier */
		x->reassign = 3;
		return;
	}
	if (!m->accused) {
		x->rc = VOUCH_E_STATE;
		x->why = IVT_WHY_NOT_REQUESTED;
		return;
	}
	if (res == IVT_UNREACH) {
		m->dunreach = 1;
		return;
	}
	for (j = 0; j < 2; j++) {
		if (m->s[j].accuser) {
			m->liar[j]++;
			if (j == 0)
				x->disproved_n1 = 1;
			else
				x->disproved_n2 = 1;
			m->s[j].accuser = 0;
		}
		if (m->s[j].res == IVT_FAIL)
			m->s[j].disproved = 1;
	}
	m->accused = 0;
	m->dunreach = 0;
	m->dpass = m->now;
}

static void
m_step(struct model *m, enum ev ev, struct expect *x)
{
	memset(x, 0, sizeof(*x));
	x->from = m->state;
	if (ev == E_TICK) {
		m->now += F + 1000;
		if (m->accused && !m->untrusted && m->now - m->dreq >= I) {
			x->attest = 1;
			m->dreq = m->now;
		}
	} else {
		m->now += 1000;
	}
	switch (ev) {
	case E_N1_PASS:	m_verdict(m, 0, IVT_PASS, m->boot, x); break;
	case E_N2_PASS:	m_verdict(m, 1, IVT_PASS, m->boot, x); break;
	case E_N1_FAIL:	m_verdict(m, 0, IVT_FAIL, m->boot, x); break;
	case E_N2_FAIL:	m_verdict(m, 1, IVT_FAIL, m->boot, x); break;
	case E_N1_UNREACH: m_verdict(m, 0, IVT_UNREACH, 0, x); break;
	case E_N2_REBOOT: m_verdict(m, 1, IVT_PASS, m->boot + 1, x); break;
	case E_D_PASS:	m_direct(m, IVT_PASS, x); break;
	case E_D_FAIL:	m_direct(m, IVT_FAIL, x); break;
	case E_D_UNREACH: m_direct(m, IVT_UNREACH, x); break;
	default:	break;
	}
	x->to = m_derive(m);
	x->changed = x->to != x->from;
	m->state = x->to;
}

/* Apply ev to the real IVT with the same clock and compare. */
static void
real_step(struct ivt *t, const struct model *m, enum ev ev, uint32_t boot_before,
    const struct expect *x, struct ivt_actions *a, const char *trace)
{
	enum ivt_why why = IVT_WHY_OK;
	struct ivt_host_rec r;
	int rc = 0;

	ivt_actions_reset(a);
	switch (ev) {
	case E_N1_PASS: rc = vd(t, "h0", "h1", m->now, IVT_PASS, boot_before, a, &why); break;
	case E_N2_PASS: rc = vd(t, "h0", "h2", m->now, IVT_PASS, boot_before, a, &why); break;
	case E_N1_FAIL: rc = vd(t, "h0", "h1", m->now, IVT_FAIL, boot_before, a, &why); break;
	case E_N2_FAIL: rc = vd(t, "h0", "h2", m->now, IVT_FAIL, boot_before, a, &why); break;
	case E_N1_UNREACH: rc = vd(t, "h0", "h1", m->now, IVT_UNREACH, 0, a, &why); break;
	case E_N2_REBOOT: rc = vd(t, "h0", "h2", m->now, IVT_PASS, boot_before + 1, a, &why); break;
	case E_D_PASS: rc = ivt_direct_result(t, "h0", m->now, IVT_PASS, "ok", a, &why, NULL); break;
	case E_D_FAIL: rc = ivt_direct_result(t, "h0", m->now, IVT_FAIL, "pcr 4", a, &why, NULL); break;
	case E_D_UNREACH: rc = ivt_direct_result(t, "h0", m->now, IVT_UNREACH, "timeout", a, &why, NULL); break;
	case E_TICK: rc = ivt_tick(t, m->now, a, NULL); break;
	default: fail();
	}
	if (rc != x->rc || (x->rc != 0 && why != x->why) ||
	    count(a, IVT_ACT_ATTEST_DIRECTLY, "h0") != x->attest ||
	    count(a, IVT_ACT_EMIT_UNTRUSTED, "h0") != x->emit ||
	    count(a, IVT_ACT_REAPPRAISE, "h0") != x->reappraise ||
	    count(a, IVT_ACT_REASSIGN_NEIGHBOURS, NULL) != x->reassign ||
	    count(a, IVT_ACT_STATE, "h0") != (size_t)x->changed ||
	    st(t, "h0") != x->to || disproved(t, "h1") != m->liar[0] ||
	    disproved(t, "h2") != m->liar[1]) {
		print_error("sequence: %s\n  at %s: rc %d/%d why %s/%s attest "
		    "%zu/%zu emit %zu/%zu reappraise %zu/%zu reassign %zu/%zu "
		    "state %s/%s disproved %llu,%llu/%llu,%llu\n", trace,
		    ev_names[ev], rc, x->rc, ivt_why_name(why),
		    ivt_why_name(x->why), count(a, IVT_ACT_ATTEST_DIRECTLY, "h0"),
		    x->attest, count(a, IVT_ACT_EMIT_UNTRUSTED, "h0"), x->emit,
		    count(a, IVT_ACT_REAPPRAISE, "h0"), x->reappraise,
		    count(a, IVT_ACT_REASSIGN_NEIGHBOURS, NULL), x->reassign,
		    ivt_state_name(st(t, "h0")), ivt_state_name(x->to),
		    (unsigned long long)disproved(t, "h1"),
		    (unsigned long long)disproved(t, "h2"),
		    (unsigned long long)m->liar[0],
		    (unsigned long long)m->liar[1]);
		fail();
	}
	if (x->changed) {
		size_t i;

		for (i = 0; i < a->n; i++)
			if (a->v[i].kind == IVT_ACT_STATE &&
			    strcmp(a->v[i].host, "h0") == 0) {
				assert_int_equal(a->v[i].from, x->from);
				assert_int_equal(a->v[i].to, x->to);
			}
	}
	if (x->disproved_n1 || x->disproved_n2) {
		size_t i, n1 = 0, n2 = 0;

		for (i = 0; i < a->n; i++)
			if (a->v[i].kind == IVT_ACT_DISPROVED) {
				n1 += strcmp(a->v[i].verifier, "h1") == 0;
				n2 += strcmp(a->v[i].verifier, "h2") == 0;
			}
		assert_int_equal(n1, x->disproved_n1);
		assert_int_equal(n2, x->disproved_n2);
	}
	/* Invariants, independent of the oracle. */
	assert_int_equal(ivt_host_get(t, "h0", &r, NULL), 0);
	if (r.state == IVT_UNTRUSTED && !m->direct_failed) {
		print_error("UNTRUSTED without a direct FAIL: %s\n", trace);
		fail();
	}
	if (r.state == IVT_TRUSTED && r.accused) {
		print_error("TRUSTED with an open accusation: %s\n", trace);
		fail();
	}
}

static size_t
run_sequence(const enum ev *seq, size_t len, struct ivt_actions *a)
{
	struct ivt_config c = cfg_default();
	struct ivt *t = mk(3, &c, NULL);
	struct model m;
	char trace[256];
	size_t i, off = 0;

	memset(&m, 0, sizeof(m));
	m.now = T0;
	m.boot = 1;
	m.state = IVT_PENDING;
	trace[0] = '\0';
	for (i = 0; i < len; i++) {
		struct expect x;
		uint32_t boot = m.boot;

		off += (size_t)snprintf(trace + off, sizeof(trace) - off, "%s%s",
		    i ? ", " : "", ev_names[seq[i]]);
		m_step(&m, seq[i], &x);
		real_step(t, &m, seq[i], boot, &x, a, trace);
	}
	ivt_free(t);
	return len;
}

/* Every word of length 1..5 over the ten events: 111,110 sequences. */
static void
test_exhaustive_words(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	enum ev seq[5];
	size_t len, n = 0, events = 0;

	(void)state;
	for (len = 1; len <= 5; len++) {
		size_t total = 1, w, i;

		for (i = 0; i < len; i++)
			total *= E_COUNT;
		for (w = 0; w < total; w++) {
			size_t v = w;

			for (i = 0; i < len; i++) {
				seq[i] = (enum ev)(v % E_COUNT);
				v /= E_COUNT;
			}
			events += run_sequence(seq, len, &a);
			n++;
		}
	}
	assert_int_equal(n, 111110);
	assert_int_equal(events, 10 + 200 + 3000 + 40000 + 500000);
	ivt_actions_free(&a);
}

static int
next_perm(enum ev *p, size_t n)
{
	size_t i = n - 1, j;
	enum ev tmp;

	while (i > 0 && p[i - 1] >= p[i])
		i--;
	if (i == 0)
		return 0;
	j = n - 1;
	while (p[j] <= p[i - 1])
		j--;
	tmp = p[i - 1]; p[i - 1] = p[j]; p[j] = tmp;
	for (j = n - 1; i < j; i++, j--) {
		tmp = p[i]; p[i] = p[j]; p[j] = tmp;
	}
	return 1;
}

/*
 * The key scenario: every ordering of {n1 PASS, n2 PASS, n1 FAIL,
 * direct D, tick past freshness} for D in PASS, FAIL, UNREACHABLE, with
 * the end states the rules imply checked directly as well.
 */
static void
test_permutations(void **state)
{
	static const enum ev direct[] = { E_D_PASS, E_D_FAIL, E_D_UNREACH };
	struct ivt_actions a = IVT_ACTIONS_INIT;
	size_t d, perms = 0;

	(void)state;
	for (d = 0; d < 3; d++) {
		enum ev p[5] = { E_N1_PASS, E_N2_PASS, E_N1_FAIL, direct[d], E_TICK };
		enum ev s[5];

		/* sort for next_perm */
		memcpy(s, p, sizeof(s));
		for (size_t i = 0; i < 5; i++)
			for (size_t j = i + 1; j < 5; j++)
				if (s[j] < s[i]) {
					enum ev tmp = s[i]; s[i] = s[j]; s[j] = tmp;
				}
		do {
			struct ivt_config c = cfg_default();
			struct ivt *t;
			size_t i, fail_at = 0, d_at = 0;

			for (i = 0; i < 5; i++) {
				if (s[i] == E_N1_FAIL)
					fail_at = i;
				if (s[i] == direct[d])
					d_at = i;
			}
			run_sequence(s, 5, &a);
			perms++;
			/* Re-run to read the final state directly. */
			t = mk(3, &c, NULL);
			{
				struct model m;
				struct expect x;

				memset(&m, 0, sizeof(m));
				m.now = T0;
				m.boot = 1;
				for (i = 0; i < 5; i++) {
					uint32_t boot = m.boot;

					m_step(&m, s[i], &x);
					real_step(t, &m, s[i], boot, &x, &a, "perm");
				}
			}
			if (direct[d] == E_D_FAIL)	/* always accepted */
				assert_int_equal(st(t, "h0"), IVT_UNTRUSTED);
			else if (d_at < fail_at)	/* unsolicited: refused */
				assert_true(st(t, "h0") == IVT_SUSPECT);
			else if (direct[d] == E_D_UNREACH)
				assert_int_equal(st(t, "h0"), IVT_UNREACHABLE);
			else
				assert_int_not_equal(st(t, "h0"), IVT_UNTRUSTED);
			if (direct[d] == E_D_PASS && d_at > fail_at)
				assert_int_equal(disproved(t, "h1"), 1);
			else
				assert_int_equal(disproved(t, "h1"), 0);
			ivt_free(t);
		} while (next_perm(s, 5));
	}
	assert_int_equal(perms, 360);
	ivt_actions_free(&a);
}

/* ---- one case per rule ---------------------------------------------- */

static void
test_quorum_trusted(void **state)
{
	struct ivt_config c = cfg_default();
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = mk(3, &c, &a);
	struct ivt_host_rec r;

	(void)state;
	assert_int_equal(vd(t, "h0", "h1", T0 + 1, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_PENDING);
	assert_int_equal(count(&a, IVT_ACT_STATE, NULL), 0);
	assert_int_equal(vd(t, "h0", "h2", T0 + 2, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	assert_int_equal(count(&a, IVT_ACT_STATE, "h0"), 1);
	assert_int_equal(a.v[0].from, IVT_PENDING);
	assert_int_equal(a.v[0].to, IVT_TRUSTED);
	assert_int_equal(ivt_host_get(t, "h0", &r, NULL), 0);
	assert_int_equal(r.since, T0 + 2);
	assert_int_equal(r.quorum_at, T0 + 1);	/* the older of the two */
	assert_int_equal(r.fresh_passes, 2);
	assert_int_equal(r.passes, 2);
	assert_int_equal(r.pass_streak, 2);
	ivt_actions_free(&a);
	ivt_free(t);
}

static struct ivt *
trusted_h0(struct ivt_actions *a)
{
	struct ivt_config c = cfg_default();
	struct ivt *t = mk(3, &c, a);

	assert_int_equal(vd(t, "h0", "h1", T0 + 1, IVT_PASS, 1, a, NULL), 0);
	assert_int_equal(vd(t, "h0", "h2", T0 + 2, IVT_PASS, 1, a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	ivt_actions_reset(a);
	return t;
}

static void
test_one_fail_suspect(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	struct ivt_host_rec r;

	(void)state;
	assert_int_equal(vd(t, "h0", "h1", T0 + 10, IVT_FAIL, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_SUSPECT);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, "h0"), 1);
	assert_non_null(strstr(a.v[0].reason, "h1"));
	/* A second accuser in the same episode: no second request. */
	ivt_actions_reset(&a);
	assert_int_equal(vd(t, "h0", "h2", T0 + 11, IVT_FAIL, 1, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, NULL), 0);
	/* A PASS cannot outvote the FAIL. */
	assert_int_equal(vd(t, "h0", "h2", T0 + 12, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h0", "h1", T0 + 13, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_SUSPECT);
	assert_int_equal(ivt_host_get(t, "h0", &r, NULL), 0);
	assert_int_equal(r.suspect_episodes, 1);
	assert_int_equal(r.last_suspect_at, T0 + 10);
	assert_true(r.accused);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_direct_fail_untrusted(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	enum ivt_why why;
	size_t i, emit = 0;
	const char *subj[4];

	(void)state;
	assert_int_equal(ivt_subjects_of(t, "h0", subj, 4), 2);	/* h1, h2 */
	assert_int_equal(vd(t, "h0", "h1", T0 + 10, IVT_FAIL, 1, &a, NULL), 0);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_direct_result(t, "h0", T0 + 20, IVT_FAIL,
	    "PCR 4 digest mismatch", &a, NULL, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_UNTRUSTED);
	for (i = 0; i < a.n; i++)
		if (a.v[i].kind == IVT_ACT_EMIT_UNTRUSTED) {
			emit++;
			assert_string_equal(a.v[i].host, "h0");
			assert_non_null(strstr(a.v[i].reason, "PCR 4"));
			assert_non_null(strstr(a.v[i].reason, "accused by h1"));
		}
	assert_int_equal(emit, 1);
	assert_true(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, NULL) >= 1);
	/* It no longer verifies anyone, and nobody verifies it. */
	assert_int_equal(ivt_subjects_of(t, "h0", subj, 4), 0);
	assert_int_equal(vd(t, "h1", "h0", T0 + 21, IVT_PASS, 1, &a, &why),
	    VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_NOT_NEIGHBOUR);
	assert_int_equal(ivt_direct_result(t, "h0", T0 + 22, IVT_PASS, "", &a,
	    &why, NULL), VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_UNTRUSTED);
	/* Stays UNTRUSTED through time. */
	assert_int_equal(ivt_tick(t, T0 + 10 * F, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_UNTRUSTED);
	/* Re-admission is a new join. */
	assert_int_equal(ivt_host_leave(t, "h0", T0 + 10 * F, &a, NULL, NULL), 0);
	assert_int_equal(ivt_host_join(t, "h0", 1, T0 + 10 * F, &a, NULL, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_PENDING);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_direct_pass_disproves_liar(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	struct ivt_host_rec r;
	size_t i, n = 0;

	(void)state;
	assert_int_equal(vd(t, "h0", "h1", T0 + 10, IVT_FAIL, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_SUSPECT);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_direct_result(t, "h0", T0 + 20, IVT_PASS, "all good",
	    &a, NULL, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	assert_int_equal(disproved(t, "h1"), 1);
	assert_int_equal(disproved(t, "h2"), 0);
	for (i = 0; i < a.n; i++)
		if (a.v[i].kind == IVT_ACT_DISPROVED) {
			n++;
			assert_string_equal(a.v[i].host, "h0");
			assert_string_equal(a.v[i].verifier, "h1");
		}
	assert_int_equal(n, 1);
	/* The disproved FAIL stands for a PASS dated at the direct check. */
	assert_int_equal(ivt_host_get(t, "h0", &r, NULL), 0);
	assert_int_equal(r.quorum_at, T0 + 2);
	assert_true(r.slot[0].disproved);
	/* ...and expires with it: h2's PASS at T0+2 goes first. */
	assert_int_equal(ivt_tick(t, T0 + 2 + F, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_PENDING);
	/* The liar lies again: a new episode, a new direct attestation. */
	ivt_actions_reset(&a);
	assert_int_equal(vd(t, "h0", "h2", T0 + 3 + F, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	assert_int_equal(vd(t, "h0", "h1", T0 + 4 + F, IVT_FAIL, 1, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, "h0"), 1);
	assert_int_equal(ivt_direct_result(t, "h0", T0 + 5 + F, IVT_PASS, "",
	    &a, NULL, NULL), 0);
	assert_int_equal(disproved(t, "h1"), 2);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_lying_pass_cannot_shield(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	enum ivt_why why;

	(void)state;
	/* h2 tells the truth (FAIL); h1 lies (PASS), before and after. */
	assert_int_equal(vd(t, "h0", "h2", T0 + 10, IVT_FAIL, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h0", "h1", T0 + 11, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_SUSPECT);
	assert_int_equal(ivt_direct_result(t, "h0", T0 + 12, IVT_FAIL, "bad",
	    &a, NULL, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_UNTRUSTED);
	assert_int_equal(vd(t, "h0", "h1", T0 + 13, IVT_PASS, 1, &a, &why),
	    VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_UNTRUSTED);
	assert_int_equal(st(t, "h0"), IVT_UNTRUSTED);
	assert_int_equal(disproved(t, "h2"), 0);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_freshness_expiry(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	struct rank_cand cand[4];

	(void)state;
	/* quorum_at = T0+1 (the older PASS): fresh while now - 1 - T0 < F */
	assert_int_equal(ivt_tick(t, T0 + F, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	assert_int_equal(ivt_candidates(t, T0 + F, cand, 4), 1);
	assert_int_equal(ivt_candidates(t, T0 + F + 1, cand, 4), 0);
	assert_int_equal(ivt_tick(t, T0 + 1 + F, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_PENDING);
	assert_int_equal(count(&a, IVT_ACT_STATE, "h0"), 1);
	/* One fresh PASS is not a quorum. */
	assert_int_equal(vd(t, "h0", "h1", T0 + 2 + F, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_PENDING);
	assert_int_equal(vd(t, "h0", "h2", T0 + 3 + F, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_unreachable_never_untrusted(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	int64_t now = T0 + 10;
	int i;

	(void)state;
	assert_int_equal(vd(t, "h0", "h1", now, IVT_UNREACH, 0, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_UNREACHABLE);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, NULL), 0);
	for (i = 0; i < 20; i++) {
		now += I;
		assert_int_equal(vd(t, "h0", "h1", now, IVT_UNREACH, 0, &a, NULL), 0);
		assert_int_equal(vd(t, "h0", "h2", now, IVT_UNREACH, 0, &a, NULL), 0);
		assert_int_equal(ivt_tick(t, now, &a, NULL), 0);
		assert_int_equal(st(t, "h0"), IVT_UNREACHABLE);
	}
	assert_int_equal(count(&a, IVT_ACT_EMIT_UNTRUSTED, NULL), 0);
	/* Silence after that expires into PENDING, not UNTRUSTED. */
	assert_int_equal(ivt_tick(t, now + F, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_PENDING);
	/* An accused host the RC-TCB cannot reach: UNREACHABLE, retried. */
	now += F + 1;
	assert_int_equal(vd(t, "h0", "h1", now, IVT_FAIL, 1, &a, NULL), 0);
	assert_int_equal(ivt_direct_result(t, "h0", now + 1, IVT_UNREACH, "",
	    &a, NULL, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_UNREACHABLE);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_tick(t, now + I, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, "h0"), 1);
	assert_int_equal(st(t, "h0"), IVT_UNREACHABLE);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_reset_rise_reappraise(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	enum ivt_why why;
	struct ivt_host_rec r;

	(void)state;
	assert_int_equal(vd(t, "h0", "h1", T0 + 10, IVT_PASS, 2, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_REAPPRAISE, "h0"), 1);
	assert_non_null(strstr(a.v[0].reason, "1 -> 2"));
	/* h2's PASS was about the previous boot: no quorum any more. */
	assert_int_equal(st(t, "h0"), IVT_PENDING);
	assert_int_equal(ivt_host_get(t, "h0", &r, NULL), 0);
	assert_int_equal(r.reset_count, 2);
	assert_int_equal(r.slot[1].result, IVT_NONE);
	/* A delayed verdict on the old boot is refused. */
	assert_int_equal(vd(t, "h0", "h2", T0 + 11, IVT_PASS, 1, &a, &why),
	    VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_RESET_BACKWARDS);
	ivt_actions_reset(&a);
	assert_int_equal(vd(t, "h0", "h2", T0 + 12, IVT_PASS, 2, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_REAPPRAISE, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_non_neighbour_refused(void **state)
{
	struct ivt_config c = cfg_default();
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = mk(4, &c, &a);
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt_host_rec r;
	struct ivt_verdict v = { "h0", "h3", T0 + 1, IVT_PASS, 1, NULL };
	enum ivt_why why;

	(void)state;
	/* ring h0 h1 h2 h3: h0 is challenged by h1 and h2, not h3 */
	assert_int_equal(ivt_host_get(t, "h0", &r, NULL), 0);
	assert_int_equal(r.nslot, 2);
	assert_string_equal(r.slot[0].verifier, "h1");
	assert_string_equal(r.slot[1].verifier, "h2");
	assert_int_equal(ivt_verdict(t, &v, &a, &why, &e), VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_NOT_NEIGHBOUR);
	assert_non_null(strstr(e.msg, "h3"));
	assert_int_equal(a.n, 0);
	assert_int_equal(ivt_dirty_count(t), 0);
	/* nor a verdict on oneself */
	v.verifier = "h0";
	assert_int_equal(ivt_verdict(t, &v, &a, &why, &e), VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_NOT_NEIGHBOUR);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_stale_duplicate_ignored(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	enum ivt_why why;

	(void)state;
	assert_int_equal(vd(t, "h0", "h1", T0 + 1, IVT_FAIL, 1, &a, &why),
	    VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_DUPLICATE);
	assert_int_equal(vd(t, "h0", "h1", T0, IVT_FAIL, 1, &a, &why),
	    VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_STALE);
	assert_int_equal(st(t, "h0"), IVT_TRUSTED);
	assert_int_equal(a.n, 0);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_bad_input(void **state)
{
	struct ivt_config c = cfg_default();
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = mk(3, &c, &a);
	enum ivt_why why;

	(void)state;
	assert_int_equal(vd(t, "nope", "h1", T0, IVT_PASS, 1, &a, &why),
	    VOUCH_E_NOTFOUND);
	assert_int_equal(why, IVT_WHY_UNKNOWN_HOST);
	assert_int_equal(vd(t, "h0", "h1", -5, IVT_PASS, 1, &a, &why), VOUCH_E_INVAL);
	assert_int_equal(vd(t, "h0", "h1", T0, IVT_NONE, 1, &a, &why), VOUCH_E_INVAL);
	assert_int_equal(vd(t, "h0", "h 1", T0, IVT_PASS, 1, &a, &why), VOUCH_E_INVAL);
	assert_int_equal(ivt_host_join(t, "h0", 1, T0, &a, &why, NULL), VOUCH_E_EXISTS);
	assert_int_equal(why, IVT_WHY_EXISTS);
	assert_int_equal(ivt_host_join(t, "a/b", 1, T0, &a, &why, NULL), VOUCH_E_INVAL);
	assert_int_equal(ivt_host_join(t, "", 1, T0, &a, &why, NULL), VOUCH_E_INVAL);
	assert_int_equal(ivt_host_join(t, "x234567890123456789012345678901234567890"
	    "123456789012345678901234", 1, T0, &a, &why, NULL), VOUCH_E_INVAL);
	assert_int_equal(ivt_host_join(t, "x234567890123456789012345678901234567890"
	    "12345678901234567890123", 1, T0, &a, &why, NULL), 0);
	assert_int_equal(ivt_host_leave(t, "x234567890123456789012345678901234567890"
	    "12345678901234567890123", T0, &a, &why, NULL), 0);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_host_leave(t, "zz", T0, &a, &why, NULL), VOUCH_E_NOTFOUND);
	assert_int_equal(ivt_direct_result(t, "h0", T0, IVT_NONE, "", &a, &why,
	    NULL), VOUCH_E_INVAL);
	assert_int_equal(a.n, 0);
	assert_int_equal(ivt_size(t), 3);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_direct_not_requested(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	enum ivt_why why;

	(void)state;
	/* Nobody accused it: a direct PASS is no substitute for neighbours. */
	assert_int_equal(ivt_direct_result(t, "h1", T0 + 5, IVT_PASS, "", &a,
	    &why, NULL), VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_NOT_REQUESTED);
	assert_int_equal(st(t, "h1"), IVT_PENDING);
	assert_int_equal(ivt_direct_result(t, "h1", T0 + 5, IVT_UNREACH, "", &a,
	    &why, NULL), VOUCH_E_STATE);
	assert_int_equal(why, IVT_WHY_NOT_REQUESTED);
	/* ...but an unsolicited FAIL (pre-migration check) is final. */
	assert_int_equal(ivt_direct_result(t, "h0", T0 + 6, IVT_FAIL, "preflight",
	    &a, &why, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_UNTRUSTED);
	assert_int_equal(count(&a, IVT_ACT_EMIT_UNTRUSTED, "h0"), 1);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_direct_retry(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);

	(void)state;
	assert_int_equal(vd(t, "h0", "h1", T0 + 10, IVT_FAIL, 1, &a, NULL), 0);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_tick(t, T0 + 10 + I - 1, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, NULL), 0);
	assert_int_equal(ivt_tick(t, T0 + 10 + I, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, "h0"), 1);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_tick(t, T0 + 10 + I + 1, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_ATTEST_DIRECTLY, NULL), 0);
	/* The accusation does not time out: still SUSPECT much later. */
	assert_int_equal(ivt_tick(t, T0 + 100 * F, &a, NULL), 0);
	assert_int_equal(st(t, "h0"), IVT_SUSPECT);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_quorum_degraded(void **state)
{
	struct ivt_config c = cfg_default();
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt_host_rec r;
	struct ivt *t = NULL;

	(void)state;
	assert_int_equal(ivt_new(&c, &t, NULL), 0);
	assert_int_equal(ivt_host_join(t, "a", 1, T0, &a, NULL, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_QUORUM_DEGRADED, "a"), 1);
	assert_int_equal(a.v[0].n, 0);
	assert_int_equal(a.v[0].k, 0);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_host_join(t, "b", 1, T0, &a, NULL, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_QUORUM_DEGRADED, NULL), 2);
	assert_int_equal(ivt_host_get(t, "a", &r, NULL), 0);
	assert_int_equal(r.quorum.n, 1);
	assert_int_equal(r.quorum.k, 1);
	assert_true(r.quorum.degraded);
	/* Two hosts: one PASS is the (reported) degraded quorum. */
	assert_int_equal(vd(t, "a", "b", T0 + 1, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "a"), IVT_TRUSTED);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_host_join(t, "c", 1, T0 + 2, &a, NULL, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_QUORUM_RESTORED, NULL), 3 - 1);
	assert_int_equal(count(&a, IVT_ACT_QUORUM_DEGRADED, NULL), 0);
	/* Back to 2 of 2: a's single PASS no longer suffices. */
	assert_int_equal(st(t, "a"), IVT_PENDING);
	ivt_actions_free(&a);
	ivt_free(t);

	/* quorum_min = 2: a two-host region never trusts anyone. */
	c.quorum_min = 2;
	assert_int_equal(ivt_new(&c, &t, NULL), 0);
	assert_int_equal(ivt_host_join(t, "a", 1, T0, &a, NULL, NULL), 0);
	assert_int_equal(ivt_host_join(t, "b", 1, T0, &a, NULL, NULL), 0);
	assert_int_equal(vd(t, "a", "b", T0 + 1, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "a"), IVT_PENDING);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_reassign_join_leave(void **state)
{
	struct ivt_config c = cfg_default();
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = mk(5, &c, &a);	/* h0..h4 */
	struct ivt_host_rec r;
	const char *subj[8];

	(void)state;
	/* h1 is verified by h2, h3; give it a quorum. */
	assert_int_equal(vd(t, "h1", "h2", T0 + 1, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h1", "h3", T0 + 2, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h1"), IVT_TRUSTED);
	ivt_actions_reset(&a);
	/* "h2a" sorts between h2 and h3: h1 (h2, h2a) and h2 (h2a, h3)
	 * change, and h2a itself gets h3, h4. */
	assert_int_equal(ivt_host_join(t, "h2a", 1, T0 + 3, &a, NULL, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, NULL), 3);
	assert_int_equal(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, "h1"), 1);
	assert_int_equal(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, "h2"), 1);
	assert_int_equal(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, "h2a"), 1);
	assert_int_equal(ivt_host_get(t, "h1", &r, NULL), 0);
	assert_string_equal(r.slot[0].verifier, "h2");
	assert_int_equal(r.slot[0].result, IVT_PASS);	/* kept */
	assert_string_equal(r.slot[1].verifier, "h2a");
	assert_int_equal(r.slot[1].result, IVT_NONE);	/* h3's dropped */
	assert_int_equal(st(t, "h1"), IVT_PENDING);
	assert_int_equal(ivt_subjects_of(t, "h2a", subj, 8), 2);
	assert_string_equal(subj[0], "h1");
	assert_string_equal(subj[1], "h2");
	/* Leaving restores the previous assignment (deterministic). */
	ivt_actions_reset(&a);
	assert_int_equal(ivt_host_leave(t, "h2a", T0 + 4, &a, NULL, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, NULL), 2);
	assert_int_equal(ivt_host_get(t, "h1", &r, NULL), 0);
	assert_string_equal(r.slot[1].verifier, "h3");
	assert_int_equal(r.slot[1].result, IVT_NONE);
	/* An unenrolled member is neither subject nor verifier until enrolled. */
	ivt_actions_reset(&a);
	assert_int_equal(ivt_host_join(t, "h0b", 0, T0 + 5, &a, NULL, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, NULL), 0);
	assert_int_equal(ivt_host_get(t, "h0b", &r, NULL), 0);
	assert_int_equal(r.nslot, 0);
	assert_int_equal(ivt_host_enrol(t, "h0b", T0 + 6, &a, NULL, NULL), 0);
	assert_int_equal(ivt_host_get(t, "h0b", &r, NULL), 0);
	assert_int_equal(r.nslot, 2);
	assert_string_equal(r.slot[0].verifier, "h1");
	assert_int_equal(count(&a, IVT_ACT_REASSIGN_NEIGHBOURS, "h4"), 1);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_untrusted_verifier_voided(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt_config c = cfg_default();
	struct ivt *t = mk(4, &c, &a);	/* h1 verified by h2, h3 */

	(void)state;
	assert_int_equal(vd(t, "h1", "h2", T0 + 1, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h1", "h3", T0 + 2, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h1"), IVT_TRUSTED);
	/* h2 is convicted: its PASS on h1 is worth nothing any more. */
	assert_int_equal(ivt_direct_result(t, "h2", T0 + 3, IVT_FAIL, "", &a,
	    NULL, NULL), 0);
	assert_int_equal(st(t, "h1"), IVT_PENDING);
	assert_int_equal(vd(t, "h1", "h3", T0 + 4, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h1", "h0", T0 + 5, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(st(t, "h1"), IVT_TRUSTED);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_candidates_and_restore(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a), *u = NULL;
	struct ivt_host_rec r, r2;
	struct rank_cand cand[4];
	size_t i;

	(void)state;
	assert_int_equal(ivt_host_capacity(t, "h0", 8, 16384, T0 + 3, NULL, NULL), 0);
	assert_int_equal(ivt_candidates(t, T0 + 3, cand, 4), 1);
	assert_string_equal(cand[0].name, "h0");
	assert_int_equal(cand[0].quorum_at, T0 + 1);
	assert_int_equal(cand[0].spare_vcpus, 8);
	assert_int_equal(cand[0].spare_mib, 16384);
	assert_int_equal(cand[0].pass_streak, 2);
	assert_int_equal(ivt_candidates(t, T0 + 3, cand, 0), 1);
	/* Restore into a fresh table: same records, same states. */
	assert_int_equal(ivt_new(ivt_config(t), &u, NULL), 0);
	for (i = 0; i < ivt_size(t); i++) {
		assert_int_equal(ivt_host_get(t, ivt_host_name(t, i), &r, NULL), 0);
		assert_int_equal(ivt_restore_host(u, &r, NULL), 0);
	}
	assert_int_equal(ivt_restore_host(u, &r, NULL), VOUCH_E_EXISTS);
	ivt_actions_reset(&a);
	assert_int_equal(ivt_restore_done(u, T0 + 3, &a, NULL), 0);
	assert_int_equal(a.n, 0);
	for (i = 0; i < ivt_size(t); i++) {
		assert_int_equal(ivt_host_get(t, ivt_host_name(t, i), &r, NULL), 0);
		assert_int_equal(ivt_host_get(u, ivt_host_name(t, i), &r2, NULL), 0);
		assert_memory_equal(&r, &r2, sizeof(r));
	}
	/* Restored at a later time: expiry is reported as it happens. */
	ivt_free(u);
	assert_int_equal(ivt_new(ivt_config(t), &u, NULL), 0);
	for (i = 0; i < ivt_size(t); i++) {
		assert_int_equal(ivt_host_get(t, ivt_host_name(t, i), &r, NULL), 0);
		assert_int_equal(ivt_restore_host(u, &r, NULL), 0);
	}
	assert_int_equal(ivt_restore_done(u, T0 + 10 * F, &a, NULL), 0);
	assert_int_equal(count(&a, IVT_ACT_STATE, "h0"), 1);
	assert_int_equal(st(u, "h0"), IVT_PENDING);
	ivt_free(u);
	ivt_actions_free(&a);
	ivt_free(t);
}

/* ivt_rank: only TRUSTED, fresh, with room; follows every state change. */
static void
test_rank_query(void **state)
{
	struct ivt_config c = cfg_default();
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = mk(4, &c, &a);	/* h0 <- h1,h2  h1 <- h2,h3 */
	struct rank_weights w;
	struct rank_request q = { 2, 1024 };
	const char *names[8];
	int64_t scores[8];

	(void)state;
	rank_weights_default(&w);
	assert_int_equal(ivt_rank(t, T0, &w, &q, names, scores, 8), 0);
	assert_int_equal(vd(t, "h0", "h1", T0 + 1, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h0", "h2", T0 + 2, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h1", "h2", T0 + 3, IVT_PASS, 1, &a, NULL), 0);
	assert_int_equal(vd(t, "h1", "h3", T0 + 4, IVT_PASS, 1, &a, NULL), 0);
	/* no capacity reported yet: excluded */
	assert_int_equal(ivt_rank(t, T0 + 5, &w, &q, names, scores, 8), 0);
	assert_int_equal(ivt_host_capacity(t, "h0", 4, 4096, T0 + 5, NULL, NULL), 0);
	assert_int_equal(ivt_host_capacity(t, "h1", 4, 4096, T0 + 5, NULL, NULL), 0);
	assert_int_equal(ivt_host_capacity(t, "h2", 64, 65536, T0 + 5, NULL, NULL), 0);
	assert_int_equal(ivt_rank(t, T0 + 5, &w, &q, names, scores, 8), 2);
	/* equal but for the fresher quorum of h1 */
	assert_string_equal(names[0], "h1");
	assert_string_equal(names[1], "h0");
	assert_true(scores[0] > scores[1]);
	assert_int_equal(ivt_rank(t, T0 + 5, &w, &q, names, NULL, 1), 1);
	assert_string_equal(names[0], "h1");
	/* h1 accused: gone; cleared: back */
	assert_int_equal(vd(t, "h1", "h3", T0 + 6, IVT_FAIL, 1, &a, NULL), 0);
	assert_int_equal(ivt_rank(t, T0 + 6, &w, &q, names, scores, 8), 1);
	assert_string_equal(names[0], "h0");
	assert_int_equal(ivt_direct_result(t, "h1", T0 + 7, IVT_PASS, "", &a,
	    NULL, NULL), 0);
	assert_int_equal(ivt_rank(t, T0 + 7, &w, &q, names, scores, 8), 2);
	/* h0's quorum ages out even without a tick */
	assert_int_equal(ivt_rank(t, T0 + 1 + F, &w, &q, names, scores, 8), 1);
	assert_string_equal(names[0], "h1");
	/* h0 convicted, h1 leaves: nobody */
	assert_int_equal(ivt_direct_result(t, "h0", T0 + 8, IVT_FAIL, "", &a,
	    NULL, NULL), 0);
	assert_int_equal(ivt_host_leave(t, "h1", T0 + 9, &a, NULL, NULL), 0);
	assert_int_equal(ivt_rank(t, T0 + 9, &w, &q, names, scores, 8), 0);
	ivt_actions_free(&a);
	ivt_free(t);
}

static void
test_config_check(void **state)
{
	struct ivt_config c;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = NULL;

	(void)state;
	ivt_config_default(&c);
	assert_int_equal(ivt_config_check(&c, &e), 0);
	c.quorum = 3;
	assert_int_equal(ivt_new(&c, &t, &e), VOUCH_E_CONFIG);
	assert_null(t);
	assert_non_null(strstr(e.msg, "quorum"));
	ivt_config_default(&c);
	c.neighbours = IVT_NBR_MAX + 1;
	assert_int_equal(ivt_config_check(&c, &e), VOUCH_E_CONFIG);
	ivt_config_default(&c);
	c.quorum_min = 0;
	assert_int_equal(ivt_config_check(&c, &e), VOUCH_E_CONFIG);
	ivt_config_default(&c);
	c.freshness_ms = c.interval_ms - 1;
	assert_int_equal(ivt_config_check(&c, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "freshness"));
	ivt_free(NULL);
	ivt_actions_free(NULL);
}

static void
test_reason_sanitised(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = trusted_h0(&a);
	struct ivt_verdict v = { "h0", "h1", T0 + 5, IVT_FAIL, 1,
	    "bad\n\x1b[31mPCR" };
	struct ivt_host_rec r;

	(void)state;
	assert_int_equal(ivt_verdict(t, &v, &a, NULL, NULL), 0);
	assert_int_equal(ivt_host_get(t, "h0", &r, NULL), 0);
	assert_string_equal(r.slot[0].reason, "bad??[31mPCR");
	assert_null(strchr(a.v[0].reason, '\n'));
	ivt_actions_free(&a);
	ivt_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quorum_trusted),
		cmocka_unit_test(test_one_fail_suspect),
		cmocka_unit_test(test_direct_fail_untrusted),
		cmocka_unit_test(test_direct_pass_disproves_liar),
		cmocka_unit_test(test_lying_pass_cannot_shield),
		cmocka_unit_test(test_freshness_expiry),
		cmocka_unit_test(test_unreachable_never_untrusted),
		cmocka_unit_test(test_reset_rise_reappraise),
		cmocka_unit_test(test_non_neighbour_refused),
		cmocka_unit_test(test_stale_duplicate_ignored),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_direct_not_requested),
		cmocka_unit_test(test_direct_retry),
		cmocka_unit_test(test_quorum_degraded),
		cmocka_unit_test(test_reassign_join_leave),
		cmocka_unit_test(test_untrusted_verifier_voided),
		cmocka_unit_test(test_candidates_and_restore),
		cmocka_unit_test(test_rank_query),
		cmocka_unit_test(test_config_check),
		cmocka_unit_test(test_reason_sanitised),
		cmocka_unit_test(test_permutations),
		cmocka_unit_test(test_exhaustive_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
