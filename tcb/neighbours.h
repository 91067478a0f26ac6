/*
 * neighbours.h - who challenges whom: a ring over the sorted member list.
 *
 * The verifiers (enrolled hosts that are not UNTRUSTED, see
 * nbr_eligible()) are kept sorted by name in a ring; member i is
 * challenged by the next n members:
 *
 *	ring (sorted):  a   b   c   d   e        n = 2
 *	a <- b, c       b <- c, d      ...       e <- a, b   (wraps)
 *
 * The assignment is a pure function of the member set, so every RC-TCB
 * replica, and an RC-TCB restarted from its store, computes the same one,
 * and a join or leave moves only the hosts next to the change.  With
 * fewer than n + 1 members a host gets m - 1 neighbours and the quorum
 * degrades with it; nbr_quorum() says so explicitly (degraded = 1) so the
 * caller reports it, never silently.
 */
#ifndef VOUCH_NEIGHBOURS_H
#define VOUCH_NEIGHBOURS_H

#include <stddef.h>

#include "common/err.h"

#define NBR_MAX		8	/* neighbours per host, hard limit */

/*
 * A sorted set of (name, item) pairs.  Names are borrowed: the item
 * (e.g. the IVT's host record) owns the string and must keep it alive
 * and unchanged while it is in the ring.  Lookups are binary searches,
 * insert/remove move the tail (O(m)); both are fine for regions of
 * thousands of hosts, and inserting in sorted order costs O(1).
 */
struct nbr_ring;

struct nbr_ring *nbr_ring_new(void);		/* NULL on ENOMEM */
void nbr_ring_free(struct nbr_ring *r);		/* NULL ok; items untouched */
size_t nbr_ring_size(const struct nbr_ring *r);
/* Item and name at index i (0 <= i < size), in name order. */
void *nbr_ring_item(const struct nbr_ring *r, size_t i);
const char *nbr_ring_name(const struct nbr_ring *r, size_t i);
/* 1 and *idx if name is in the ring; else 0 and *idx = insertion point. */
int nbr_ring_find(const struct nbr_ring *r, const char *name, size_t *idx);
/* VOUCH_E_EXISTS if the name is already present, VOUCH_E_NOMEM. */
int nbr_ring_insert(struct nbr_ring *r, const char *name, void *item,
    struct vouch_err *e);
/* VOUCH_E_NOTFOUND if absent. */
int nbr_ring_remove(struct nbr_ring *r, const char *name, struct vouch_err *e);

/* 1 if a host with these properties may act as a verifier (and subject). */
int nbr_eligible(int enrolled, int untrusted);

/*
 * Neighbours of ring member i among m members, n wanted: writes the ring
 * indices of its verifiers, in challenge order, to out[] and returns
 * their number, min(n, m - 1) (0 for a lone member).  n <= NBR_MAX.
 */
unsigned nbr_assign(size_t m, size_t i, unsigned n, size_t out[NBR_MAX]);

/* The quorum a ring of m members can give: nominal k of n, effective. */
struct nbr_quorum {
	unsigned	n_nominal;	/* neighbours the policy asks for */
	unsigned	k_nominal;	/* quorum the policy asks for */
	unsigned	n;		/* neighbours actually assigned */
	unsigned	k;		/* quorum actually required: min(k, n) */
	int		degraded;	/* n < n_nominal or k < k_nominal */
};
void nbr_quorum(size_t m, unsigned n, unsigned k, struct nbr_quorum *q);

#endif
