/*
 * ksym.c - kallsyms tables found by their structure, and System.map.
 *
 * Linux 6.1 (CONFIG_KALLSYMS_BASE_RELATIVE, _ALL, _ABSOLUTE_PERCPU) has
 * scripts/kallsyms.c emit, in this order, each label .balign 8:
 *
 *	kallsyms_offsets	int32[S]      >= 0: absolute (percpu) address
 *	                                      <  0: base - 1 - offset
 *	kallsyms_relative_base	u64           lowest non-absolute address
 *	kallsyms_num_syms	u32 (+4 pad)  S
 *	kallsyms_names		S entries: len (1 byte, or 2 if bit 7 of the
 *				first is set: (b0 & 0x7f) | b1 << 7), then
 *				len token indices; the expansion's first
 *				char is the nm type letter
 *	kallsyms_markers	u32[ceil(S/256)]  names offset of entry 256*k
 *	kallsyms_seqs_of_names	(optional) u8[3][S], big-endian symbol
 *				indices in name order: 6.2 added it and
 *				Debian's 6.1 kernels carry the backport
 *	kallsyms_token_table	256 NUL-terminated tokens; a character used
 *				in any name is its own token (so "0".."9"
 *				are tokens 0x30..0x39, back to back)
 *	kallsyms_token_index	u16[256]  offset of each token in the table
 *
 * The kallsyms_* labels themselves are not in the table (scripts/
 * kallsyms.c leaves them out: their addresses change between passes).
 *
 * The finder anchors on the digit tokens with memmem, proves the token
 * table against the index that follows it, walks back over the markers
 * (directly before the table, or before seqs_of_names: then the gap
 * fixes S), looks for num_syms in the window the last marker allows and
 * checks the whole set (every marker against the name stream, every
 * name within bounds and printable, seqs_of_names a permutation, the
 * padding zero, the offsets sorted with the first relative one at
 * base).  Alignment is taken relative to the token table, so a buffer
 * need not start 8-aligned.
 *
 * Cost: token walks of neighbouring anchors are shared (struct
 * ks_chain), the index check mostly fails on two reads, and at most
 * KS_MAX_FULL token tables go on to the (bounded) marker and name
 * searches: linear in the buffer size whatever it holds.  A 128 MiB
 * buffer of nothing but digit tokens, the worst case, takes ~1.5 s;
 * real guest memory ~0.03 s.
 */
#define _GNU_SOURCE	/* memmem: glibc's skips ahead, linear time */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ids/ksym.h"

#define KS_NTOK		256
#define KS_BLOCK	256			/* symbols per marker */
#define KS_MAX_MARKERS	((KSYM_MAX_SYMS + KS_BLOCK - 1) / KS_BLOCK)
#define KS_ENTRY_MAX	(2 + KSYM_NAME_MAX)	/* len bytes + tokens */
#define KS_MAX_FULL	64	/* token tables that reach the name search */
#define KS_WINDOW	4096	/* bytes per memmem call */

static const char ks_anchor[] = "0\0" "1\0" "2\0" "3\0" "4\0"
    "5\0" "6\0" "7\0" "8\0" "9";	/* + the implicit NUL: 20 bytes */

/* Everything the checker learnt about one candidate set. */
struct ks_set {
	struct ksym_kallsyms_loc loc;
	uint16_t	tok_off[KS_NTOK];
	uint16_t	tok_len[KS_NTOK];
	uint8_t		tok_ok[KS_NTOK];	/* all chars printable */
	uint32_t	nmarkers;
	size_t		names_end;
	size_t		expanded;		/* sum of name lengths + NULs */
};

/* --- bounded little-endian reads ---------------------------------------- */

static int
ld16(const uint8_t *b, size_t len, size_t off, uint16_t *v)
{
	if (off > len || len - off < 2)
		return -1;
	*v = (uint16_t)(b[off] | b[off + 1] << 8);
	return 0;
}

static int
ld32(const uint8_t *b, size_t len, size_t off, uint32_t *v)
{
	if (off > len || len - off < 4)
		return -1;
	*v = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 |
	    (uint32_t)b[off + 2] << 16 | (uint32_t)b[off + 3] << 24;
	return 0;
}

static int
ld64(const uint8_t *b, size_t len, size_t off, uint64_t *v)
{
	uint32_t lo, hi;

	if (ld32(b, len, off, &lo) < 0 || ld32(b, len, off + 4, &hi) < 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

static int
all_zero(const uint8_t *b, size_t from, size_t to)
{
	for (; from < to; from++)
		if (b[from] != 0)
			return 0;
	return 1;
}

static int
sym_char_ok(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

/* --- the token table and its index ------------------------------------- */

/*
 * The token table whose '0' token is at a, with its index at x.  Fills
 * tok_off/len/ok and the table/index locations.
 */
static int
check_tokens(const uint8_t *buf, size_t len, size_t a, size_t x,
    struct ks_set *s, struct vouch_err *e)
{
	uint16_t idx[KS_NTOK], v0 = 1, v30 = 0;
	size_t t, end, p;
	unsigned i;

	/* cheap rejections first: most anchors fail here */
	if (x > len || len - x < 2 * KS_NTOK)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "token index at 0x%zx: runs past the buffer", x);
	(void)ld16(buf, len, x, &v0);
	(void)ld16(buf, len, x + 2 * '0', &v30);
	if (v0 != 0 || v30 > a || v30 < 2 * '0')
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "token index at 0x%zx: bad first entries", x);
	for (i = 0; i < KS_NTOK; i++)
		(void)ld16(buf, len, x + 2 * i, &idx[i]);
	t = a - idx['0'];
	if ((x - t) % 8 != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "token index at 0x%zx: not 8-aligned to table 0x%zx", x, t);
	p = t;
	for (i = 0; i < KS_NTOK; i++) {
		const uint8_t *z;
		size_t n;

		if (p - t != idx[i])
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "token index at 0x%zx: entry %u is %u, token "
			    "starts at %zu", x, i, idx[i], p - t);
		if (p >= x)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "token table at 0x%zx: token %u overlaps the "
			    "index", t, i);
		z = memchr(buf + p, 0, x - p);
		if (z == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "token table at 0x%zx: token %u unterminated",
			    t, i);
		n = (size_t)(z - (buf + p));
		if (n == 0 || n > KSYM_NAME_MAX)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "token table at 0x%zx: token %u has length %zu",
			    t, i, n);
		s->tok_off[i] = idx[i];
		s->tok_len[i] = (uint16_t)n;
		s->tok_ok[i] = 1;
		for (size_t k = 0; k < n; k++)
			if (!sym_char_ok(buf[p + k]))
				s->tok_ok[i] = 0;
		p += n + 1;
	}
	end = p;
	if (x - end >= 8 || !all_zero(buf, end, x))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "token table at 0x%zx: bad padding before the index", t);
	s->loc.token_table = t;
	s->loc.token_index = x;
	return 0;
}

/* Round up to a multiple of 8 (arguments are bounded far below SIZE_MAX). */
static size_t
up8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/*
 * Without kallsyms_seqs_of_names the markers end at the token table
 * (after 4 bytes of padding when their count is odd) and start with
 * their only zero entry: walk back to it.
 */
static int
walk_markers(const uint8_t *buf, size_t len, const struct ks_set *s,
    size_t *mp, uint32_t *np, struct vouch_err *e)
{
	size_t t = s->loc.token_table, end, m;
	uint32_t v = 0, prev;

	if (t < 8)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "token table at 0x%zx: no room for markers", t);
	(void)ld32(buf, len, t - 4, &v);
	end = v == 0 ? t - 4 : t;
	m = end - 4;
	prev = UINT32_MAX;
	for (;;) {
		(void)ld32(buf, len, m, &v);
		if (v == 0)
			break;
		if (v >= prev)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "markers before 0x%zx: not ascending at 0x%zx",
			    t, m);
		if ((end - m) / 4 >= KS_MAX_MARKERS || m < 4)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "markers before 0x%zx: no first (zero) marker", t);
		prev = v;
		m -= 4;
	}
	*mp = m;
	*np = (uint32_t)((end - m) / 4);
	return 0;
}

/* n markers at m: ascending from 0, zero-padded to 8 bytes. */
static int
check_markers(const uint8_t *buf, size_t len, size_t m, uint32_t n,
    struct vouch_err *e)
{
	uint32_t i, v, prev = 0;

	if (m > len || len - m < up8(4 * (size_t)n))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "markers at 0x%zx: %u of them run past the buffer", m, n);
	for (i = 0; i < n; i++) {
		(void)ld32(buf, len, m + 4 * (size_t)i, &v);
		if ((i == 0 && v != 0) || (i > 0 && v <= prev))
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "markers at 0x%zx: entry %u (%u) out of order",
			    m, i, v);
		prev = v;
	}
	if (!all_zero(buf, m + 4 * (size_t)n, m + up8(4 * (size_t)n)))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "markers at 0x%zx: non-zero padding", m);
	return 0;
}

/*
 * kallsyms_seqs_of_names (6.2, and backported to Debian's 6.1): for
 * each symbol in name order its index, 3 bytes big-endian.  It must be
 * a permutation of 0..nsyms-1 and fill [p, end) up to the padding.
 */
static int
check_seqs(const uint8_t *buf, size_t len, size_t p, size_t end,
    uint32_t nsyms, struct vouch_err *e)
{
	uint8_t *seen;
	uint32_t i, v;

	if (end > len || end < p || end - p != up8(3 * (size_t)nsyms))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "%zu bytes between markers and token table: not "
		    "seqs_of_names for %u symbols", end - p, nsyms);
	if ((seen = calloc(nsyms / 8 + 1, 1)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < nsyms; i++) {
		const uint8_t *q = buf + p + 3 * (size_t)i;

		v = (uint32_t)q[0] << 16 | (uint32_t)q[1] << 8 | q[2];
		if (v >= nsyms || (seen[v / 8] & (1u << (v % 8)))) {
			free(seen);
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "seqs_of_names at 0x%zx: entry %u (%u) bad or "
			    "repeated", p, i, v);
		}
		seen[v / 8] |= (uint8_t)(1u << (v % 8));
	}
	free(seen);
	if (!all_zero(buf, p + 3 * (size_t)nsyms, end))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "seqs_of_names at 0x%zx: non-zero padding", p);
	return 0;
}

static uint32_t
marker(const uint8_t *buf, size_t len, const struct ks_set *s, uint32_t k)
{
	uint32_t v = 0;

	(void)ld32(buf, len, s->loc.markers + 4 * (size_t)k, &v);
	return v;
}

/*
 * Read one name entry at *pos (bounded by lim): its token indices are
 * buf[*tp .. *tp + *tn).
 */
static int
entry_at(const uint8_t *buf, size_t lim, size_t *pos, size_t *tp, size_t *tn)
{
	size_t p = *pos, n;

	if (p >= lim)
		return -1;
	n = buf[p++];
	if (n & 0x80) {
		if (p >= lim)
			return -1;
		n = (n & 0x7f) | (size_t)buf[p++] << 7;
	}
	if (n == 0 || n > lim - p || n > KSYM_NAME_MAX)
		return -1;
	*tp = p;
	*tn = n;
	*pos = p + n;
	return 0;
}

/*
 * Check the whole set given num_syms and the names start (s->loc has
 * token table/index and markers already).
 */
static int
check_names(const uint8_t *buf, size_t len, struct ks_set *s, size_t names,
    uint32_t nsyms, struct vouch_err *e)
{
	size_t lim = s->loc.markers, pos = names, tp, tn, offs, osize, k;
	size_t expanded = 0;
	uint64_t base = 0, prev_addr = 0;
	int have_rel = 0;
	int32_t max_neg = INT32_MIN;
	uint32_t i, u;

	if (nsyms == 0 || nsyms > KSYM_MAX_SYMS ||
	    (nsyms + KS_BLOCK - 1) / KS_BLOCK != s->nmarkers)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "num_syms %u does not match %u markers", nsyms,
		    s->nmarkers);
	osize = ((size_t)nsyms * 4 + 7) & ~(size_t)7;
	if (names < 16 + osize || names > lim)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "names at 0x%zx: no room for %u offsets", names, nsyms);
	offs = names - 16 - osize;
	if (!all_zero(buf, offs + 4 * (size_t)nsyms, names - 16) ||
	    !all_zero(buf, names - 4, names))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "names at 0x%zx: non-zero padding", names);
	for (i = 0; i < nsyms; i++) {
		if (i % KS_BLOCK == 0 &&
		    marker(buf, len, s, i / KS_BLOCK) != pos - names)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "marker %u is %u, name %u is at %zu", i / KS_BLOCK,
			    marker(buf, len, s, i / KS_BLOCK), i, pos - names);
		if (entry_at(buf, lim, &pos, &tp, &tn) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "name %u at 0x%zx: bad length or past the markers",
			    i, pos);
		size_t n = 0;
		for (k = 0; k < tn; k++) {
			uint8_t t = buf[tp + k];
			if (!s->tok_ok[t])
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "name %u: unprintable token %u", i, t);
			n += s->tok_len[t];
		}
		if (n < 2 || n > KSYM_NAME_MAX)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "name %u: expands to %zu chars", i, n);
		expanded += n;	/* type char dropped, NUL added */
	}
	if (lim - pos >= 8 || !all_zero(buf, pos, lim))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "names end at 0x%zx, markers at 0x%zx: bad padding", pos,
		    lim);
	(void)ld64(buf, len, names - 16, &base);
	/*
	 * The kernel binary-searches these addresses, so they are sorted;
	 * the first relative symbol is the base itself (offset -1).
	 */
	for (i = 0; i < nsyms; i++) {
		int32_t o;
		uint64_t a;

		(void)ld32(buf, len, offs + 4 * (size_t)i, &u);
		o = (int32_t)u;
		if (o >= 0)
			continue;
		a = base - 1 - (uint64_t)(int64_t)o;
		if (have_rel && a < prev_addr)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "offset %u at 0x%zx: addresses not sorted", i,
			    offs + 4 * (size_t)i);
		if (o > max_neg)
			max_neg = o;
		prev_addr = a;
		have_rel = 1;
	}
	if (!have_rel || max_neg != -1)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "offsets at 0x%zx: no symbol at relative_base", offs);
	s->loc.offsets = offs;
	s->loc.relative_base = names - 16;
	s->loc.num_syms_off = names - 8;
	s->loc.names = names;
	s->loc.base = base;
	s->loc.num_syms = nsyms;
	s->names_end = pos;
	s->expanded = expanded;
	return 0;
}

/*
 * The whole set, given the markers at m, the names at names and
 * nsyms (s has the token table and index): markers, the optional
 * seqs_of_names between them and the token table, names, offsets.
 */
static int
check_set(const uint8_t *buf, size_t len, struct ks_set *s, size_t m,
    size_t names, uint32_t nsyms, struct vouch_err *e)
{
	size_t t = s->loc.token_table, p;
	uint32_t nm = 0;
	int r;

	if (nsyms == 0 || nsyms > KSYM_MAX_SYMS)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "num_syms %u out of range", nsyms);
	nm = (nsyms + KS_BLOCK - 1) / KS_BLOCK;
	if ((r = check_markers(buf, len, m, nm, e)) < 0)
		return r;
	p = m + up8(4 * (size_t)nm);
	if (p > t)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "markers at 0x%zx overlap the token table", m);
	if (p < t && (r = check_seqs(buf, len, p, t, nsyms, e)) < 0)
		return r;
	s->loc.markers = m;
	s->nmarkers = nm;
	return check_names(buf, len, s, names, nsyms, e);
}

/*
 * Look for num_syms before the names: the last block of up to 256
 * entries starts markers[last] bytes into the names, and each entry
 * takes 2..KS_ENTRY_MAX bytes, which bounds where the names can start.
 * want: the symbol count if already known (seqs_of_names), else 0.
 */
static int
find_names(const uint8_t *buf, size_t len, struct ks_set *s, size_t m,
    uint32_t nm, uint32_t want, struct vouch_err *e)
{
	size_t lo, hi, n;
	uint32_t last = 0, nsyms, pad;
	int r = vouch_err_set(e, VOUCH_E_NOTFOUND,
	    "markers at 0x%zx: no kallsyms_num_syms before them", m);

	(void)ld32(buf, len, m + 4 * ((size_t)nm - 1), &last);
	if ((size_t)last + 2 > m)
		return r;
	hi = m - last - 2;
	lo = m - last >= 7 + KS_BLOCK * KS_ENTRY_MAX ?
	    m - last - 7 - KS_BLOCK * KS_ENTRY_MAX : 0;
	/* names is 8-aligned relative to the markers: the last such <= hi */
	n = m - (m - hi + 7) / 8 * 8;
	if (n > hi)	/* wrapped below zero */
		return r;
	for (; n >= lo && n >= 16; n -= 8) {
		struct vouch_err e2 = VOUCH_ERR_INIT;

		(void)ld32(buf, len, n - 8, &nsyms);
		(void)ld32(buf, len, n - 4, &pad);
		if (pad != 0 || nsyms == 0 || (want != 0 && nsyms != want) ||
		    (nsyms + KS_BLOCK - 1) / KS_BLOCK != nm)
			continue;
		if (check_set(buf, len, s, m, n, nsyms, &e2) == 0)
			return 0;
		r = vouch_err_set(e, VOUCH_E_NOTFOUND, "%s", e2.msg);
	}
	return r;
}

/*
 * With seqs_of_names, roundup8(3 * nsyms) bytes sit between the
 * markers' end p and the token table: try each p, each nsyms that fits
 * and the markers that nsyms implies; cheap tests first.
 */
static int
find_with_seqs(const uint8_t *buf, size_t len, struct ks_set *s,
    struct vouch_err *e)
{
	size_t t = s->loc.token_table, p, d, m, sz;
	uint32_t nsyms, nm, v0 = 1, v1 = 0;
	int r = vouch_err_set(e, VOUCH_E_NOTFOUND,
	    "token table at 0x%zx: no markers before it", t);

	for (d = 8; d <= t && d <= up8(3 * (size_t)KSYM_MAX_SYMS); d += 8) {
		p = t - d;
		for (nsyms = (uint32_t)((d - 5) / 3); nsyms <= d / 3;
		    nsyms++) {
			if (nsyms == 0 || up8(3 * (size_t)nsyms) != d)
				continue;
			nm = (nsyms + KS_BLOCK - 1) / KS_BLOCK;
			sz = up8(4 * (size_t)nm);
			if (sz > p)
				continue;
			m = p - sz;
			(void)ld32(buf, len, m, &v0);
			(void)ld32(buf, len, m + 4, &v1);
			if (v0 != 0 || (nm > 1 && v1 == 0) ||
			    check_markers(buf, len, m, nm, NULL) < 0)
				continue;
			if ((r = find_names(buf, len, s, m, nm, nsyms,
			    e)) == 0)
				return 0;
		}
	}
	return r;
}

/*
 * The anchor a is token '0' and p is the end of token 0xff: find the
 * index after p (up to 7 bytes of zero padding), then the rest.  1 if
 * there is no token index (e untouched: formatting a reason for each of
 * millions of anchors would dominate the search).
 */
static int
try_anchor(const uint8_t *buf, size_t len, size_t a, size_t p,
    struct ks_set *s, int *full, struct vouch_err *e)
{
	size_t x, m = 0;
	uint32_t nm = 0;
	int r, found = 0;

	for (x = p; x < p + 8 && x < len; x++) {
		if (x > p && buf[x - 1] != 0)
			break;
		if (check_tokens(buf, len, a, x, s, NULL) == 0) {
			found = 1;
			break;
		}
	}
	if (!found)
		return 1;	/* the common case: the caller words it */
	if (++*full > KS_MAX_FULL)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "more than %d candidate token tables", KS_MAX_FULL);
	/* the 6.1 layout first, then with seqs_of_names */
	if (walk_markers(buf, len, s, &m, &nm, e) == 0 &&
	    (r = find_names(buf, len, s, m, nm, 0, e)) == 0)
		return 0;
	return find_with_seqs(buf, len, s, e);
}

/*
 * Consecutive non-empty strings (each at most KSYM_NAME_MAX long): the
 * token walk.  Anchors come in increasing order, and an anchor inside
 * the current chain is one of its string starts, so walks share their
 * steps and the whole search reads each byte a bounded number of times
 * (a buffer of nothing but digit tokens would otherwise cost 208 steps
 * per 20 bytes).
 */
#define KS_WALK		(KS_NTOK - '0')	/* strings from '0' past 0xff */
#define KS_RING		512

struct ks_chain {
	size_t		start[KS_RING];
	size_t		head, n;
};

static size_t
chain_at(const struct ks_chain *c, size_t i)
{
	return c->start[(c->head + i) % KS_RING];
}

static void
chain_push(struct ks_chain *c, size_t v)
{
	c->start[(c->head + c->n) % KS_RING] = v;
	c->n++;
}

/*
 * Make the chain start at anchor a and reach KS_WALK strings further:
 * the end of the token table is then chain_at(c, KS_WALK).  On a bad
 * string (empty, too long, cut off) return -1 with *bad its position:
 * every anchor up to there fails the same way.
 */
static int
chain_walk(const uint8_t *buf, size_t len, struct ks_chain *c, size_t a,
    size_t *bad)
{
	while (c->n > 0 && chain_at(c, 0) < a) {
		c->head = (c->head + 1) % KS_RING;
		c->n--;
	}
	if (c->n == 0 || chain_at(c, 0) != a) {
		c->head = 0;
		c->n = 0;
		chain_push(c, a);
	}
	while (c->n <= KS_WALK) {
		size_t st = chain_at(c, c->n - 1), q = st;
		size_t lim = len - st < KSYM_NAME_MAX + 1 ?
		    st + (len - st) : st + KSYM_NAME_MAX + 1;

		/* tokens are short: a plain loop beats memchr's set-up */
		while (q < lim && buf[q] != 0)
			q++;
		if (q == lim || q == st) {
			*bad = st;
			c->n = 0;
			return -1;
		}
		chain_push(c, q + 1);
	}
	return 0;
}

static int
find_set(const uint8_t *buf, size_t len, struct ks_set *s,
    struct vouch_err *e)
{
	struct ks_chain *c;
	size_t pos = 0, last = 0, bad = 0;
	int full = 0, r = VOUCH_E_NOTFOUND, why = 0;

	if (buf == NULL)
		len = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	while (pos < len) {
		/*
		 * In windows: sanitizers check the whole haystack on every
		 * call, which would make a flood of anchors quadratic.
		 */
		size_t win = len - pos < KS_WINDOW + sizeof(ks_anchor) ?
		    len - pos : KS_WINDOW + sizeof(ks_anchor);
		const uint8_t *hit = memmem(buf + pos, win, ks_anchor,
		    sizeof(ks_anchor));
		size_t a;

		if (hit == NULL) {
			pos += win > KS_WINDOW ? KS_WINDOW : win;
			continue;
		}
		a = (size_t)(hit - buf);
		pos = a + 1;
		/* '0' is token 0x30: a token (and its NUL) precedes it */
		if (a < 2 || buf[a - 1] != 0)
			continue;
		last = a;
		if (chain_walk(buf, len, c, a, &bad) < 0) {
			why = 1;
			pos = bad + 1;
			continue;
		}
		memset(s, 0, sizeof(*s));
		r = try_anchor(buf, len, a, chain_at(c, KS_WALK), s, &full, e);
		if (r == 0 || r == VOUCH_E_LIMIT)
			break;
		why = r > 0 ? 2 : 3;	/* 3: reason already in e */
	}
	free(c);
	if (r == 0)
		return 0;
	if (r == VOUCH_E_LIMIT)
		return r;
	if (why == 0)
		(void)vouch_err_set(e, VOUCH_E_NOTFOUND, "no kallsyms token "
		    "table (no digit tokens) in %zu bytes", len);
	else if (why == 1)
		(void)vouch_err_set(e, VOUCH_E_NOTFOUND, "last anchor at "
		    "0x%zx: bad token at 0x%zx", last, bad);
	else if (why == 2)
		(void)vouch_err_set(e, VOUCH_E_NOTFOUND, "last anchor at "
		    "0x%zx: no token index", last);
	if (e != NULL)
		e->code = VOUCH_E_NOTFOUND;
	return VOUCH_E_NOTFOUND;
}

int
ksym_find_kallsyms(const uint8_t *buf, size_t len,
    struct ksym_kallsyms_loc *loc, struct vouch_err *e)
{
	struct ks_set *s;
	int r;

	if (loc == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "no output");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = find_set(buf, len, s, e)) == 0)
		*loc = s->loc;
	free(s);
	return r;
}

/* --- decoding ------------------------------------------------------------ */

struct ks_sort {
	uint64_t	 addr;
	const char	*name;
	uint32_t	 idx;
	char		 type;
};

static int
cmp_addr(const void *pa, const void *pb)
{
	const struct ks_sort *a = pa, *b = pb;
	int c;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if ((c = strcmp(a->name, b->name)) != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int
cmp_name(const void *pa, const void *pb)
{
	const struct ks_sort *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->name, b->name)) != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/*
 * Sort raw symbols (names already in tbl.names) into *out; frees
 * nothing on failure except what it allocated.
 */
static int
finish(struct ksyms *tbl, struct ksyms *out, struct vouch_err *e)
{
	struct ks_sort *v;
	size_t i;

	if (tbl->n == 0) {
		*out = *tbl;
		return 0;
	}
	v = calloc(tbl->n, sizeof(*v));
	tbl->by_name = calloc(tbl->n, sizeof(*tbl->by_name));
	if (v == NULL || tbl->by_name == NULL) {
		free(v);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	for (i = 0; i < tbl->n; i++) {
		v[i].addr = tbl->syms[i].addr;
		v[i].name = tbl->names + tbl->syms[i].name;
		v[i].idx = (uint32_t)i;
		v[i].type = tbl->syms[i].type;
	}
	qsort(v, tbl->n, sizeof(*v), cmp_addr);
	for (i = 0; i < tbl->n; i++) {
		tbl->syms[i].addr = v[i].addr;
		tbl->syms[i].name = (uint32_t)(v[i].name - tbl->names);
		tbl->syms[i].type = v[i].type;
		v[i].idx = (uint32_t)i;
	}
	qsort(v, tbl->n, sizeof(*v), cmp_name);
	for (i = 0; i < tbl->n; i++)
		tbl->by_name[i] = v[i].idx;
	free(v);
	*out = *tbl;
	return 0;
}

int
ksym_load_kallsyms(const uint8_t *buf, size_t len,
    const struct ksym_kallsyms_loc *loc, struct ksyms *out,
    struct vouch_err *e)
{
	struct ksyms tbl = { 0 };
	struct ks_set *s;
	size_t pos, tp, tn, k, np = 0;
	uint32_t i, nsyms, u;
	int r;

	if (buf == NULL || loc == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "no buffer or output");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	/* Re-prove the whole set from loc: the buffer may have changed. */
	r = 1;
	if (loc->token_index < len && loc->token_table < loc->token_index &&
	    loc->token_index - loc->token_table > 2u * '0') {
		uint16_t o = 0;

		if (ld16(buf, len, loc->token_index + 2 * '0', &o) == 0 &&
		    o < loc->token_index - loc->token_table &&
		    (r = check_tokens(buf, len, loc->token_table + o,
		    loc->token_index, s, e)) == 0) {
			if (ld32(buf, len, loc->num_syms_off, &nsyms) < 0 ||
			    loc->num_syms_off + 8 != loc->names)
				r = vouch_err_set(e, VOUCH_E_FORMAT,
				    "num_syms at 0x%zx out of place",
				    loc->num_syms_off);
			else
				r = check_set(buf, len, s, loc->markers,
				    loc->names, nsyms, e);
		}
	}
	if (r == 1)
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "kallsyms location does not fit the buffer");
	if (r == 0 && (s->loc.token_table != loc->token_table ||
	    s->loc.num_syms != loc->num_syms || s->loc.base != loc->base ||
	    s->loc.offsets != loc->offsets))
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "kallsyms tables changed since they were found");
	if (r < 0)
		goto out;

	nsyms = s->loc.num_syms;
	tbl.syms = calloc(nsyms, sizeof(*tbl.syms));
	tbl.names = malloc(s->expanded);
	if (tbl.syms == NULL || tbl.names == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	/*
	 * check_set proved every entry, but buf may be live guest memory
	 * that changes under us: decode as if unchecked, never writing
	 * past the sizes proved, and check what was copied.
	 */
	pos = s->loc.names;
	for (i = 0; i < nsyms; i++) {
		size_t start = np;
		int32_t o;

		if (entry_at(buf, s->loc.markers, &pos, &tp, &tn) < 0)
			goto changed;
		tbl.syms[i].name = (uint32_t)np;
		for (k = 0; k < tn; k++) {
			uint8_t t = buf[tp + k];
			size_t tl = s->tok_len[t];

			if (tl > s->expanded - np)
				goto changed;
			memcpy(tbl.names + np, buf + s->loc.token_table +
			    s->tok_off[t], tl);
			np += tl;
		}
		/* the first char is the type: shift the name over it */
		if (np - start < 2)
			goto changed;
		tbl.syms[i].type = tbl.names[start];
		memmove(tbl.names + start, tbl.names + start + 1,
		    np - start - 1);
		np--;
		for (k = start; k < np; k++)
			if (!sym_char_ok((uint8_t)tbl.names[k]))
				goto changed;
		tbl.names[np++] = '\0';
		(void)ld32(buf, len, s->loc.offsets + 4 * (size_t)i, &u);
		o = (int32_t)u;
		tbl.syms[i].addr = o >= 0 ? (uint64_t)o :
		    s->loc.base - 1 - (uint64_t)(int64_t)o;
	}
	tbl.n = nsyms;
	tbl.names_len = np;
	r = finish(&tbl, out, e);
	goto out;
changed:
	r = vouch_err_set(e, VOUCH_E_FORMAT,
	    "kallsyms name %u changed while it was decoded", i);
out:
	if (r < 0) {
		free(tbl.syms);
		free(tbl.names);
		free(tbl.by_name);
	}
	free(s);
	return r;
}

/* --- System.map ---------------------------------------------------------- */

int
ksym_load_system_map(const char *text, size_t len, struct ksyms *out,
    struct vouch_err *e)
{
	static const char placeholder[] = "The real System.map is in";
	struct ksyms tbl = { 0 };
	size_t pos = 0, line = 0, cap = 0, ncap = 0;
	int r = 0;

	if (out == NULL || (text == NULL && len > 0))
		return vouch_err_set(e, VOUCH_E_INVAL, "no text or output");
	if (len > 0 && memmem(text, len, placeholder,
	    sizeof(placeholder) - 1) != NULL)
		return vouch_err_set(e, VOUCH_E_NOTFOUND,
		    "placeholder System.map (the real one is in the "
		    "linux-image-*-dbg package)");
	while (pos < len) {
		const char *l = text + pos, *nl;
		size_t ll, i = 0, nlen;
		uint64_t addr = 0;
		int digits = 0, h;
		char type;

		nl = memchr(l, '\n', len - pos);
		ll = nl != NULL ? (size_t)(nl - l) : len - pos;
		pos += ll + (nl != NULL);
		line++;
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			continue;
		while (i < ll && (h = hex_digit(l[i])) >= 0) {
			if (++digits > 16)
				break;
			addr = addr << 4 | (uint64_t)h;
			i++;
		}
		if (digits == 0 || digits > 16 || i + 3 > ll || l[i] != ' ' ||
		    !isalpha((unsigned char)l[i + 1]) || l[i + 2] != ' ') {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "System.map line %zu: not \"ADDR TYPE NAME\"", line);
			goto fail;
		}
		type = l[i + 1];
		i += 3;
		nlen = ll - i;
		if (nlen == 0 || nlen >= KSYM_NAME_MAX) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "System.map line %zu: name length %zu", line, nlen);
			goto fail;
		}
		for (size_t k = i; k < ll; k++)
			if (!sym_char_ok((uint8_t)l[k])) {
				r = vouch_err_set(e, VOUCH_E_FORMAT,
				    "System.map line %zu: bad character in "
				    "name", line);
				goto fail;
			}
		if (tbl.n >= KSYM_MAX_SYMS) {
			r = vouch_err_set(e, VOUCH_E_LIMIT,
			    "System.map: more than %u symbols",
			    (unsigned)KSYM_MAX_SYMS);
			goto fail;
		}
		if (tbl.n == cap) {
			size_t c = cap ? cap * 2 : 1024;
			struct ksym *p = realloc(tbl.syms, c * sizeof(*p));

			if (p == NULL)
				goto nomem;
			tbl.syms = p;
			cap = c;
		}
		if (ncap - tbl.names_len < nlen + 1) {
			size_t c = (ncap + nlen + 1) * 2;
			char *p = realloc(tbl.names, c);

			if (p == NULL)
				goto nomem;
			tbl.names = p;
			ncap = c;
		}
		tbl.syms[tbl.n].addr = addr;
		tbl.syms[tbl.n].type = type;
		tbl.syms[tbl.n].name = (uint32_t)tbl.names_len;
		memcpy(tbl.names + tbl.names_len, l + i, nlen);
		tbl.names[tbl.names_len + nlen] = '\0';
		tbl.names_len += nlen + 1;
		tbl.n++;
	}
	if (tbl.n == 0) {
		r = vouch_err_set(e, VOUCH_E_NOTFOUND,
		    "System.map: no symbols");
		goto fail;
	}
	if ((r = finish(&tbl, out, e)) == 0)
		return 0;
	goto fail;
nomem:
	r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
fail:
	free(tbl.syms);
	free(tbl.names);
	free(tbl.by_name);
	return r;
}

/* --- lookups ------------------------------------------------------------- */

/* Index into syms of the first by-name entry for name, or -1. */
static long
find_name(const struct ksyms *s, const char *name)
{
	size_t lo = 0, hi;

	if (s == NULL || name == NULL || s->n == 0)
		return -1;
	hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(s->names + s->syms[s->by_name[mid]].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->n || strcmp(s->names + s->syms[s->by_name[lo]].name,
	    name) != 0)
		return -1;
	return (long)s->by_name[lo];
}

int
ksym_addr(const struct ksyms *s, const char *name, uint64_t *addr)
{
	long i = find_name(s, name);

	if (i < 0)
		return VOUCH_E_NOTFOUND;
	if (addr != NULL)
		*addr = s->syms[i].addr;
	return 0;
}

/* First index with syms[i].addr > addr (s->n if none). */
static size_t
upper_bound(const struct ksyms *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t
ksym_size(const struct ksyms *s, const char *name)
{
	long i = find_name(s, name);
	size_t j;

	if (i < 0)
		return 0;
	j = upper_bound(s, s->syms[i].addr);
	if (j >= s->n)
		return 0;
	return s->syms[j].addr - s->syms[i].addr;
}

const char *
ksym_name_at(const struct ksyms *s, uint64_t addr, uint64_t *off)
{
	size_t j;

	if (s == NULL || s->n == 0)
		return NULL;
	j = upper_bound(s, addr);
	if (j == 0)
		return NULL;
	j--;
	/* of several symbols at one address, the first by name */
	while (j > 0 && s->syms[j - 1].addr == s->syms[j].addr)
		j--;
	if (off != NULL)
		*off = addr - s->syms[j].addr;
	return s->names + s->syms[j].name;
}

void
ksym_free(struct ksyms *s)
{
	if (s == NULL)
		return;
	free(s->syms);
	free(s->names);
	free(s->by_name);
	memset(s, 0, sizeof(*s));
}
