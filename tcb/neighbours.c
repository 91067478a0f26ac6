#include <stdlib.h>
#include <string.h>

#include "neighbours.h"

struct nbr_entry {
	const char	*name;
	void		*item;
};

struct nbr_ring {
	struct nbr_entry	*v;
	size_t			 n, cap;
};

struct nbr_ring *
nbr_ring_new(void)
{
	return calloc(1, sizeof(struct nbr_ring));
}

void
nbr_ring_free(struct nbr_ring *r)
{
	if (r == NULL)
		return;
	free(r->v);
	free(r);
}

size_t
nbr_ring_size(const struct nbr_ring *r)
{
	return r->n;
}

void *
nbr_ring_item(const struct nbr_ring *r, size_t i)
{
	return i < r->n ? r->v[i].item : NULL;
}

const char *
nbr_ring_name(const struct nbr_ring *r, size_t i)
{
	return i < r->n ? r->v[i].name : NULL;
}

int
nbr_ring_find(const struct nbr_ring *r, const char *name, size_t *idx)
{
	size_t lo = 0, hi = r->n;

	/* The common case while loading a store sorted by name: append. */
	if (r->n > 0 && strcmp(r->v[r->n - 1].name, name) < 0) {
		*idx = r->n;
		return 0;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->v[mid].name, name);

		if (c == 0) {
			*idx = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx = lo;
	return 0;
}

int
nbr_ring_insert(struct nbr_ring *r, const char *name, void *item,
    struct vouch_err *e)
{
	size_t at;

	if (nbr_ring_find(r, name, &at))
		return vouch_err_set(e, VOUCH_E_EXISTS, "%s: already a member",
		    name);
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct nbr_entry *v = realloc(r->v, cap * sizeof(*v));

		if (v == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "ring of %zu",
			    r->n);
		r->v = v;
		r->cap = cap;
	}
	memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof(r->v[0]));
	r->v[at].name = name;
	r->v[at].item = item;
	r->n++;
	return 0;
}

int
nbr_ring_remove(struct nbr_ring *r, const char *name, struct vouch_err *e)
{
	size_t at;

	if (!nbr_ring_find(r, name, &at))
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "%s: not a member",
		    name);
	memmove(&r->v[at], &r->v[at + 1], (r->n - at - 1) * sizeof(r->v[0]));
	r->n--;
	return 0;
}

int
nbr_eligible(int enrolled, int untrusted)
{
	/*
	 * Unenrolled hosts have no attestation key the others could check;
	 * an UNTRUSTED host's verdicts are worthless.  Everyone else,
	 * SUSPECT and UNREACHABLE included, keeps verifying: a suspicion is
	 * not a conviction, and dropping them would reshuffle the ring on
	 * every accusation (which a liar could then provoke at will).
	 */
	return enrolled && !untrusted;
}

unsigned
nbr_assign(size_t m, size_t i, unsigned n, size_t out[NBR_MAX])
{
	unsigned j, cnt;

	if (n > NBR_MAX)
		n = NBR_MAX;
	if (m <= 1 || i >= m)
		return 0;
	cnt = m - 1 < n ? (unsigned)(m - 1) : n;
	for (j = 0; j < cnt; j++)
		out[j] = (i + 1 + j) % m;
	return cnt;
}

void
nbr_quorum(size_t m, unsigned n, unsigned k, struct nbr_quorum *q)
{
	if (n > NBR_MAX)
		n = NBR_MAX;
	q->n_nominal = n;
	q->k_nominal = k;
	q->n = m <= 1 ? 0 : (m - 1 < n ? (unsigned)(m - 1) : n);
	q->k = k < q->n ? k : q->n;
	q->degraded = q->n < n || q->k < k;
}
