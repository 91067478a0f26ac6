/*
 * imalog.c - IMA ASCII runtime measurement log: parse, verify each
 * line's template hash, replay, and build ima-ng entries.
 *
 * A line is trusted only after SHA1(template data rebuilt from its
 * fields) equals its TEMPLATE-SHA1; a misparsed path or digest therefore
 * fails that check instead of replaying to a wrong value.  A verifier
 * that replays against a quote may skip that check
 * (IMALOG_SKIP_TEMPLATE_CHECK; imalog.h says why the replay covers it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/util.h"
#include "measure/imalog.h"

#define SHA1_SIZE	20
/* "ima" template: the name is NUL-padded to IMA_EVENT_NAME_LEN_MAX + 1. */
#define IMA_NAME_FIELD	256
/*
 * Largest template data: ima-sig with the longest algorithm prefix
 * ("sha512:\0"), digest, path and signature, each with its u32 length.
 */
#define TD_MAX		(4 + 16 + PCR_DIGEST_MAX + 4 + IMALOG_MAX_PATH + \
			 4 + IMALOG_MAX_SIG)
#define LINE_MAX_LEN	(2 * TD_MAX + 128)

struct td_chunk;

struct ima_log {
	struct ima_entry	*ent;
	size_t			 n, cap;
	struct td_chunk		*chunks;	/* template data, paths, sigs */
};

enum tmpl { TMPL_IMA_NG, TMPL_IMA, TMPL_IMA_SIG };

/*
 * Digest algorithm names as the kernel spells them in the d-ng field
 * (crypto/hash_info.c); they are hashed into the template data, so the
 * spelling matters ("sm3", not "sm3_256").
 */
static const struct {
	uint16_t	 alg;
	const char	*name;
} ima_algs[] = {
	{ PCR_ALG_SHA1, "sha1" },
	{ PCR_ALG_SHA256, "sha256" },
	{ PCR_ALG_SHA384, "sha384" },
	{ PCR_ALG_SHA512, "sha512" },
	{ PCR_ALG_SM3_256, "sm3" },
};

static const char *
ima_alg_name(uint16_t alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ima_algs); i++)
		if (ima_algs[i].alg == alg)
			return ima_algs[i].name;
	return NULL;
}

static int
ima_alg_by_name(const char *s, size_t len, uint16_t *alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ima_algs); i++)
		if (strlen(ima_algs[i].name) == len &&
		    memcmp(ima_algs[i].name, s, len) == 0) {
			*alg = ima_algs[i].alg;
			return 0;
		}
	return -1;
}

static enum tmpl
tmpl_of(const char *name)
{
	if (strcmp(name, "ima") == 0)
		return TMPL_IMA;
	if (strcmp(name, "ima-sig") == 0)
		return TMPL_IMA_SIG;
	return TMPL_IMA_NG;
}

int
ima_entry_is_violation(const struct ima_entry *ent)
{
	size_t i;

	for (i = 0; i < SHA1_SIZE; i++)
		if (ent->template_sha1[i] != 0)
			return 0;
	return 1;
}

static void
put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * Template data layouts (see imalog.h):
 *   ima-ng:  u32 len | "alg:" NUL digest | u32 len | path NUL
 *   ima-sig: the same, then u32 len | signature
 *   ima:     u8 sha1[20] | path NUL-padded to 256 bytes (no lengths)
 */
int
ima_entry_template_data(const struct ima_entry *ent, uint8_t *buf,
    size_t cap, size_t *lenp, struct vouch_err *e)
{
	const struct pcr_alg *a = pcr_alg_by_id(ent->file_alg);
	const char *an = ima_alg_name(ent->file_alg);
	enum tmpl t = tmpl_of(ent->template_name);
	size_t plen, need, off = 0, dlen;

	if (ent->path == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "entry has no path");
	plen = strlen(ent->path);
	if (t == TMPL_IMA) {
		if (ent->file_alg != PCR_ALG_SHA1)
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "template ima carries only SHA-1 digests");
		if (plen >= IMA_NAME_FIELD)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "path of %zu bytes too long for template ima", plen);
		if (cap < SHA1_SIZE + IMA_NAME_FIELD)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "template data buffer too small");
		memcpy(buf, ent->file_digest, SHA1_SIZE);
		memset(buf + SHA1_SIZE, 0, IMA_NAME_FIELD);
		memcpy(buf + SHA1_SIZE, ent->path, plen);
		*lenp = SHA1_SIZE + IMA_NAME_FIELD;
		return 0;
	}
	if (a == NULL || an == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "file digest algorithm 0x%04x not supported", ent->file_alg);
	if (plen >= IMALOG_MAX_PATH)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "path of %zu bytes exceeds %u", plen, IMALOG_MAX_PATH);
	if (ent->sig_len > IMALOG_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "signature of %zu bytes exceeds %u", ent->sig_len,
		    IMALOG_MAX_SIG);
	dlen = strlen(an) + 2 + a->size;
	need = 4 + dlen + 4 + plen + 1;
	if (t == TMPL_IMA_SIG)
		need += 4 + ent->sig_len;
	if (need > cap)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "template data of %zu bytes exceeds the buffer (%zu)",
		    need, cap);
	put_u32le(buf + off, (uint32_t)dlen);
	off += 4;
	memcpy(buf + off, an, strlen(an));
	off += strlen(an);
	buf[off++] = ':';
	buf[off++] = '\0';
	memcpy(buf + off, ent->file_digest, a->size);
	off += a->size;
	put_u32le(buf + off, (uint32_t)(plen + 1));
	off += 4;
	memcpy(buf + off, ent->path, plen + 1);
	off += plen + 1;
	if (t == TMPL_IMA_SIG) {
		put_u32le(buf + off, (uint32_t)ent->sig_len);
		off += 4;
		if (ent->sig_len > 0)
			memcpy(buf + off, ent->sig, ent->sig_len);
		off += ent->sig_len;
	}
	*lenp = off;
	return 0;
}

void
ima_entry_clear(struct ima_entry *ent)
{
	if (ent == NULL)
		return;
	free(ent->path);
	free(ent->sig);
	memset(ent, 0, sizeof(*ent));
}

int
ima_entry_make(struct ima_entry *ent, uint32_t pcr, uint16_t file_alg,
    const uint8_t *file_digest, const char *path, struct vouch_err *e)
{
	uint8_t td[TD_MAX];
	struct ima_entry t;
	const struct pcr_alg *a = pcr_alg_by_id(file_alg);
	size_t len;
	int r;

	if (pcr >= PCR_NUM)
		return vouch_err_set(e, VOUCH_E_INVAL, "PCR %u out of range",
		    pcr);
	if (a == NULL || ima_alg_name(file_alg) == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "file digest algorithm 0x%04x not supported", file_alg);
	memset(&t, 0, sizeof(t));
	t.pcr = pcr;
	strcpy(t.template_name, "ima-ng");
	t.file_alg = file_alg;
	memcpy(t.file_digest, file_digest, a->size);
	if ((t.path = strdup(path)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = ima_entry_template_data(&t, td, sizeof(td), &len, e)) < 0 ||
	    (r = pcr_hash(PCR_ALG_SHA1, td, len, t.template_sha1, e)) < 0) {
		ima_entry_clear(&t);
		return r;
	}
	*ent = t;
	return 0;
}

static int
path_printable(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
			return 0;
	return 1;
}

int
ima_entry_format(const struct ima_entry *ent, char *buf, size_t n,
    struct vouch_err *e)
{
	const struct pcr_alg *a = pcr_alg_by_id(ent->file_alg);
	enum tmpl t = tmpl_of(ent->template_name);
	char th[2 * SHA1_SIZE + 1], dh[2 * PCR_DIGEST_MAX + 1], *sh = NULL;
	int w;

	if (ent->path == NULL || ent->path[0] == '\0')
		return vouch_err_set(e, VOUCH_E_INVAL, "entry has no path");
	if (!path_printable(ent->path))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "path contains a space or control byte; the IMA ASCII "
		    "format cannot carry it");
	if (a == NULL || ima_alg_name(ent->file_alg) == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "file digest algorithm 0x%04x not supported", ent->file_alg);
	if (ent->sig_len > IMALOG_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT, "signature too long");
	hex_encode(ent->template_sha1, SHA1_SIZE, th);
	hex_encode(ent->file_digest, a->size, dh);
	switch (t) {
	case TMPL_IMA:
		w = snprintf(buf, n, "%u %s ima %s %s\n", ent->pcr, th, dh,
		    ent->path);
		break;
	case TMPL_IMA_SIG:
		if ((sh = malloc(2 * ent->sig_len + 1)) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		hex_encode(ent->sig, ent->sig_len, sh);
		/* An empty signature still gets its separator (as IMA). */
		w = snprintf(buf, n, "%u %s ima-sig %s:%s %s %s\n", ent->pcr,
		    th, ima_alg_name(ent->file_alg), dh, ent->path, sh);
		free(sh);
		break;
	default:
		w = snprintf(buf, n, "%u %s ima-ng %s:%s %s\n", ent->pcr, th,
		    ima_alg_name(ent->file_alg), dh, ent->path);
		break;
	}
	if (w < 0 || (size_t)w >= n)
		return vouch_err_set(e, VOUCH_E_LIMIT, "line buffer too small");
	return 0;
}

/* --- parsing ------------------------------------------------------------ */

/*
 * Cost.  A verifier parses and replays a log it has not seen for every
 * quote of a new host, so a line is read once, left to right: tokens are
 * cut without copying, hex goes through a table, and the template data
 * is built once, straight into an arena (below), where the entry's path
 * and signature then live too.  Replay hashes that stored template data
 * instead of rebuilding it per bank.
 *
 * Arena: template data in chunks that never move (a chunk is never
 * realloc'd, a full one is followed by a new one), so entries can point
 * into them while the entry array itself grows:
 *
 *	chunk:  next | cap | used | td(entry 0) td(entry 1) ... | free
 *	                             ^ ent[0].td  ^ ent[1].td
 *	ima-ng td:  u32 dlen | "sha256:" NUL digest | u32 plen+1 | path NUL
 *	                                                           ^ ent.path
 */
struct td_chunk {
	struct td_chunk	*next;
	size_t		 cap, used;
	uint8_t		 data[];
};

#define TD_CHUNK_MIN	(64u << 10)

/* Hex digit value + 1 (0: not a hex digit), upper and lower case; for
 * the tail hex8 does not cover. */
static const uint8_t hexv[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
	['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Eight bytes at p as a little-endian u64 (one load on most hosts). */
static uint64_t
load_le64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint64_t)u[0] | (uint64_t)u[1] << 8 | (uint64_t)u[2] << 16 |
	    (uint64_t)u[3] << 24 | (uint64_t)u[4] << 32 |
	    (uint64_t)u[5] << 40 | (uint64_t)u[6] << 48 | (uint64_t)u[7] << 56;
}

/*
 * Eight hex digits in x (byte k = digit k) into four bytes, or -1.  Per
 * byte b, all at once (no byte >= 0x80, checked first, so no carry
 * crosses a byte):
 *	b + (0x80 - lo) has bit 7 set  iff  b >= lo
 *	b + (0x7f - hi) has bit 7 set  iff  b >  hi
 * digit: '0' <= b <= '9'; letter: 'a' <= (b | 0x20) <= 'f'.  The value is
 * the low nibble, plus 9 for a letter ('a' & 0xf == 1).
 */
static int
hex8(uint64_t x, uint8_t *out)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	uint64_t l = x | 0x20 * ones, dig, let, v, t;

	if (x & high)
		return -1;
	dig = (x + (0x80 - '0') * ones) & ~(x + (0x7f - '9') * ones) & high;
	let = (l + (0x80 - 'a') * ones) & ~(l + (0x7f - 'f') * ones) & high;
	if ((dig | let) != high)
		return -1;
	v = (x & 0x0f * ones) + (let >> 7) * 9;
	/* byte 2i of t = v[2i] << 4 | v[2i + 1] */
	t = v << 4 | v >> 8;
	out[0] = (uint8_t)t;
	out[1] = (uint8_t)(t >> 16);
	out[2] = (uint8_t)(t >> 32);
	out[3] = (uint8_t)(t >> 48);
	return 0;
}

#if defined(__SSE2__)
/*
 * Sixteen hex digits at s into eight bytes, or -1: hex8's method on a
 * 16-byte vector (signed compares: a byte >= 0x80 is negative, so it is
 * neither a digit nor a letter).  Pairs are joined in 16-bit lanes,
 * lane = v[2i] | v[2i + 1] << 8, into (v[2i] << 4 | v[2i + 1]).
 */
static int
hex16(const char *s, uint8_t *out)
{
	const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
	const __m128i l = _mm_or_si128(x, _mm_set1_epi8(0x20));
	__m128i dig, let, v, b;

	dig = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
	    _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
	let = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
	    _mm_cmplt_epi8(l, _mm_set1_epi8('f' + 1)));
	if (_mm_movemask_epi8(_mm_or_si128(dig, let)) != 0xffff)
		return -1;
	v = _mm_add_epi8(_mm_and_si128(x, _mm_set1_epi8(0x0f)),
	    _mm_and_si128(let, _mm_set1_epi8(9)));
	b = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v,
	    _mm_set1_epi16(0x00ff)), 4), _mm_srli_epi16(v, 8));
	_mm_storel_epi64((__m128i *)(void *)out, _mm_packus_epi16(b, b));
	return 0;
}
#endif

/* Decode n bytes from 2n hex digits at s: sixteen or eight at a time. */
static int
hex_n(const char *s, uint8_t *out, size_t n)
{
	size_t i = 0;

#if defined(__SSE2__)
	for (; i + 8 <= n; i += 8)
		if (hex16(s + 2 * i, out + i) < 0)
			return -1;
#endif
	for (; i + 4 <= n; i += 4)
		if (hex8(load_le64(s + 2 * i), out + i) < 0)
			return -1;
	for (; i < n; i++) {
		unsigned hi = hexv[(unsigned char)s[2 * i]];
		unsigned lo = hexv[(unsigned char)s[2 * i + 1]];

		if (hi == 0 || lo == 0)
			return -1;
		out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
	}
	return 0;
}

/* Decode exactly want bytes of lower/upper-case hex from s[0..len). */
static int
hex_exact(const char *s, size_t len, uint8_t *out, size_t want)
{
	if (len != 2 * want)
		return -1;
	return hex_n(s, out, want);
}

/* Next space-separated token of line[*pos..len): start and length. */
static int
next_token(const char *line, size_t len, size_t *pos, const char **tok,
    size_t *tlen)
{
	const char *s = line + *pos, *sp;

	if (*pos >= len || *s == ' ')
		return -1;
	if ((sp = memchr(s, ' ', len - *pos)) == NULL)
		sp = line + len;
	*tok = s;
	*tlen = (size_t)(sp - s);
	*pos = (size_t)(sp - line) + (sp < line + len);
	return 0;
}

/*
 * Index of the first control byte (< 0x20 or 0x7f) in s[0..len), or len.
 * Eight bytes at a time: the scan is over every byte of the log, and a
 * byte loop was most of the parse.  (x - 0x20..20) & ~x & 0x80..80 is
 * non-zero iff some byte of x is below 0x20; the same on x ^ 0x7f..7f
 * with 0x01..01 finds a 0x7f.  The exact column comes from the byte loop.
 */
static size_t
ctl_byte(const char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	size_t i = 0;
	uint64_t x, y;

#if defined(__SSE2__)
	/* Sixteen at a time: min(b, 0x1f) == b iff b < 0x20 (unsigned). */
	for (; i + 16 <= len; i += 16) {
		const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)
		    (s + i));
		const __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v,
		    _mm_set1_epi8(0x1f)), v), _mm_cmpeq_epi8(v,
		    _mm_set1_epi8(0x7f)));
		const int m = _mm_movemask_epi8(bad);

		if (m != 0)
			return i + (size_t)__builtin_ctz((unsigned)m);
	}
#endif
	for (; i + 8 <= len; i += 8) {
		memcpy(&x, s + i, 8);
		y = x ^ (0x7f * ones);
		if (((x - 0x20 * ones) & ~x & high) != 0 ||
		    ((y - ones) & ~y & high) != 0)
			break;
	}
	for (; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return i;
	return len;
}

/* n bytes of arena for one entry's template data, or NULL. */
static uint8_t *
td_alloc(struct ima_log *log, size_t n, size_t hint)
{
	struct td_chunk *c = log->chunks;

	if (c == NULL || c->cap - c->used < n) {
		size_t cap = hint > n ? hint : n;

		if (c != NULL && cap < TD_CHUNK_MIN)
			cap = TD_CHUNK_MIN;
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->next = log->chunks;
		c->cap = cap;
		c->used = 0;
		log->chunks = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

/* Internal parse_line flag: the caller found no control byte in line. */
#define PARSE_NO_CTL	0x100u

static int
parse_line(struct ima_log *log, const char *line, size_t len, size_t lineno,
    unsigned flags, struct ima_entry *ent, size_t hint, struct vouch_err *e)
{
	struct ima_entry *const t = ent;
	const struct pcr_alg *a;
	const char *tok, *colon, *path, *sigp = NULL, *an = NULL;
	size_t tlen, pos = 0, plen, siglen = 0, i, dlen = 0, need, off;
	uint8_t h[SHA1_SIZE], *td;
	enum tmpl tm;

	if (!(flags & PARSE_NO_CTL) && (i = ctl_byte(line, len)) < len)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: control byte 0x%02x at column %zu",
		    lineno, (unsigned char)line[i], i + 1);
	/*
	 * Written in place in the log's array (a failed parse frees it all);
	 * not memset whole: that was a tenth of the parse.
	 */
	t->pcr = 0;
	t->line = lineno;
	memset(t->template_name, 0, sizeof(t->template_name));
	t->path = NULL;
	t->sig = NULL;
	t->sig_len = 0;
	t->td = NULL;
	t->td_len = 0;
	/* PCR: decimal, 0..23 */
	if (next_token(line, len, &pos, &tok, &tlen) < 0 || tlen > 2)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: bad PCR field", lineno);
	for (i = 0; i < tlen; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: bad PCR field", lineno);
		t->pcr = t->pcr * 10 + (uint32_t)(tok[i] - '0');
	}
	if (t->pcr >= PCR_NUM)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: PCR %u out of range", lineno, t->pcr);
	if (next_token(line, len, &pos, &tok, &tlen) < 0 ||
	    hex_exact(tok, tlen, t->template_sha1, SHA1_SIZE) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: template hash is not 40 hex digits", lineno);
	if (next_token(line, len, &pos, &tok, &tlen) < 0 ||
	    tlen >= sizeof(t->template_name))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: bad template name", lineno);
	memcpy(t->template_name, tok, tlen);
	if (tlen == 6 && memcmp(tok, "ima-ng", 6) == 0)
		tm = TMPL_IMA_NG;
	else if (tlen == 3 && memcmp(tok, "ima", 3) == 0)
		tm = TMPL_IMA;
	else if (tlen == 7 && memcmp(tok, "ima-sig", 7) == 0)
		tm = TMPL_IMA_SIG;
	else
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "line %zu: template '%s' not supported (ima-ng, ima, "
		    "ima-sig)", lineno, t->template_name);

	/* Digest: "alg:hex" (ima-ng, ima-sig) or 40 hex digits (ima). */
	if (next_token(line, len, &pos, &tok, &tlen) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: missing file digest", lineno);
	if (tm == TMPL_IMA) {
		t->file_alg = PCR_ALG_SHA1;
		memset(t->file_digest + SHA1_SIZE, 0,
		    PCR_DIGEST_MAX - SHA1_SIZE);
		if (hex_exact(tok, tlen, t->file_digest, SHA1_SIZE) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: file digest is not 40 hex digits",
			    lineno);
	} else {
		if ((colon = memchr(tok, ':', tlen)) == NULL ||
		    ima_alg_by_name(tok, (size_t)(colon - tok),
		    &t->file_alg) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: file digest is not ALG:HEX with a "
			    "known algorithm", lineno);
		a = pcr_alg_by_id(t->file_alg);
		memset(t->file_digest + a->size, 0, PCR_DIGEST_MAX - a->size);
		an = tok;
		dlen = (size_t)(colon - tok) + 2 + a->size;
		if (hex_exact(colon + 1, tlen - (size_t)(colon + 1 - tok),
		    t->file_digest, a->size) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: %s digest is not %zu hex digits",
			    lineno, a->name, 2 * a->size);
	}

	/*
	 * The path is the rest of the line (ima, ima-ng: it may hold
	 * spaces).  ima-sig always has a separator before its signature
	 * field, even an empty one, so the path ends at the last space.
	 */
	path = line + pos;
	plen = len - pos;
	if (tm == TMPL_IMA_SIG) {
		const char *sp = NULL;
		for (i = plen; i > 0; i--)
			if (path[i - 1] == ' ') {
				sp = path + i - 1;
				break;
			}
		if (sp == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: ima-sig entry lacks a signature field",
			    lineno);
		sigp = sp + 1;
		siglen = (size_t)(path + plen - sigp);
		plen = (size_t)(sp - path);
	}
	if (plen == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: missing path", lineno);
	if (plen >= (tm == TMPL_IMA ? IMA_NAME_FIELD : IMALOG_MAX_PATH))
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "line %zu: path of %zu bytes too long", lineno, plen);
	if (siglen > 2 * IMALOG_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "line %zu: signature longer than %u bytes", lineno,
		    IMALOG_MAX_SIG);
	if (siglen % 2 != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: signature is not hex", lineno);
	t->sig_len = siglen / 2;

	/* The template data (layouts: imalog.h), once, into the arena. */
	if (tm == TMPL_IMA)
		need = SHA1_SIZE + IMA_NAME_FIELD;
	else
		need = 4 + dlen + 4 + plen + 1 +
		    (tm == TMPL_IMA_SIG ? 4 + t->sig_len : 0);
	if ((td = td_alloc(log, need, hint)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if (tm == TMPL_IMA) {
		memcpy(td, t->file_digest, SHA1_SIZE);
		memcpy(td + SHA1_SIZE, path, plen);
		memset(td + SHA1_SIZE + plen, 0, IMA_NAME_FIELD - plen);
		t->path = (char *)td + SHA1_SIZE;
	} else {
		const size_t dsz = pcr_alg_by_id(t->file_alg)->size;

		/* "alg:" as on the line: it matched the kernel's spelling. */
		put_u32le(td, (uint32_t)dlen);
		off = 4 + dlen - dsz - 2;
		memcpy(td + 4, an, off - 4);
		td[off++] = ':';
		td[off++] = '\0';
		memcpy(td + off, t->file_digest, dsz);
		off += dsz;
		put_u32le(td + off, (uint32_t)(plen + 1));
		off += 4;
		t->path = (char *)td + off;
		memcpy(td + off, path, plen);
		off += plen;
		td[off++] = '\0';
		if (tm == TMPL_IMA_SIG) {
			put_u32le(td + off, (uint32_t)t->sig_len);
			off += 4;
			if (t->sig_len > 0) {
				t->sig = td + off;
				if (hex_n(sigp, t->sig, t->sig_len) < 0)
					return vouch_err_set(e, VOUCH_E_FORMAT,
					    "line %zu: signature is not hex",
					    lineno);
			}
		}
	}
	t->td = td;
	t->td_len = need;

	/*
	 * TEMPLATE-SHA1 == SHA1(template data), unless a violation (all
	 * zero) or the caller asked to skip it (imalog.h says when that is
	 * safe).
	 */
	if (!(flags & IMALOG_SKIP_TEMPLATE_CHECK) &&
	    !ima_entry_is_violation(t)) {
		int r;

		if ((r = pcr_hash(PCR_ALG_SHA1, td, need, h, e)) < 0) {
			if (e != NULL)
				vouch_err_prefix(e, "line %zu", lineno);
			return r;
		}
		if (!ct_equal(h, t->template_sha1, SHA1_SIZE))
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: template hash does not match the "
			    "template data", lineno);
	}
	return 0;
}

int
imalog_parse(const char *text, size_t len, struct ima_log **out,
    struct vouch_err *e)
{
	return imalog_parse_ex(text, len, 0, out, e);
}

int
imalog_parse_ex(const char *text, size_t len, unsigned flags,
    struct ima_log **out, struct vouch_err *e)
{
	struct ima_log *log;
	size_t pos = 0, lineno = 0, hint;
	int r;

	if (text == NULL && len > 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "NULL text");
	if (len > IMALOG_MAX_SIZE)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "IMA log of %zu bytes exceeds %u", len, IMALOG_MAX_SIZE);
	if (flags & ~IMALOG_SKIP_TEMPLATE_CHECK)
		return vouch_err_set(e, VOUCH_E_INVAL, "unknown flags 0x%x",
		    flags);
	if ((log = calloc(1, sizeof(*log))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	/*
	 * ima-ng template data is shorter than its line (the hex halves),
	 * so a first chunk of the text's size (and some) holds most logs.
	 */
	hint = len < TD_CHUNK_MIN ? len + 2 * SHA1_SIZE + IMA_NAME_FIELD :
	    TD_CHUNK_MIN;
	while (pos < len) {
		const char *nl;
		size_t ll = ctl_byte(text + pos, len - pos);
		unsigned lf = flags;

		/*
		 * The first control byte from pos is usually the line's LF:
		 * one scan then finds the line and clears it of control
		 * bytes.  Otherwise look for the LF and let parse_line name
		 * the stray byte, in the usual order of checks.
		 */
		lineno++;
		if (ll < len - pos && text[pos + ll] == '\n') {
			nl = text + pos + ll;
			lf |= PARSE_NO_CTL;
		} else
			nl = memchr(text + pos, '\n', len - pos);
		if (nl == NULL) {
			r = vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "line %zu: no newline at the end (truncated?)",
			    lineno);
			goto fail;
		}
		ll = (size_t)(nl - (text + pos));
		if (ll > LINE_MAX_LEN) {
			r = vouch_err_set(e, VOUCH_E_LIMIT,
			    "line %zu: longer than %d bytes", lineno,
			    LINE_MAX_LEN);
			goto fail;
		}
		if (log->n == IMALOG_MAX_ENTRIES) {
			r = vouch_err_set(e, VOUCH_E_LIMIT,
			    "line %zu: more than %u entries", lineno,
			    IMALOG_MAX_ENTRIES);
			goto fail;
		}
		if (log->n == log->cap) {
			size_t ncap = log->cap ? log->cap * 2 : 128;
			struct ima_entry *ne;

			if (ncap > IMALOG_MAX_ENTRIES)
				ncap = IMALOG_MAX_ENTRIES;
			if ((ne = realloc(log->ent, ncap * sizeof(*ne))) == NULL) {
				r = vouch_err_set(e, VOUCH_E_NOMEM,
				    "out of memory");
				goto fail;
			}
			log->ent = ne;
			log->cap = ncap;
		}
		if ((r = parse_line(log, text + pos, ll, lineno, lf,
		    &log->ent[log->n], hint, e)) < 0)
			goto fail;
		log->n++;
		pos += ll + 1;
	}
	*out = log;
	return 0;
fail:
	imalog_free(log);
	return r;
}

void
imalog_free(struct ima_log *log)
{
	struct td_chunk *c, *next;

	if (log == NULL)
		return;
	/* Entries' path and sig live in the chunks: nothing per entry. */
	for (c = log->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(log->ent);
	free(log);
}

size_t
imalog_count(const struct ima_log *log)
{
	return log->n;
}

const struct ima_entry *
imalog_get(const struct ima_log *log, size_t i)
{
	return i < log->n ? &log->ent[i] : NULL;
}

int
imalog_replay(const struct ima_log *log, uint16_t alg, struct pcr_set *set,
    struct vouch_err *e)
{
	uint8_t td[TD_MAX];
	const struct pcr_alg *a = pcr_alg_by_id(alg);
	struct pcr_bank bank, *dst;
	uint8_t ext[2 * PCR_DIGEST_MAX];
	size_t i, tdlen;
	int r;

	if (a == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "hash algorithm 0x%04x not supported", alg);
	/* Work on a copy: *set changes only if the whole log replays. */
	if ((dst = pcr_set_bank(set, alg)) != NULL)
		bank = *dst;
	else {
		if (set->nbanks == PCR_BANKS_MAX)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "too many PCR banks");
		memset(&bank, 0, sizeof(bank));
		bank.alg = alg;
	}
	/*
	 * PCR := H(PCR || H(template data)): the extend input is built in
	 * ext[] in place (the PCR, then the digest written after it), so
	 * each line costs the two hashes and two copies of a digest.
	 */
	for (i = 0; i < log->n; i++) {
		const struct ima_entry *ent = &log->ent[i];
		uint8_t *pcr = bank.v[ent->pcr];

		if (!(bank.set & (1u << ent->pcr))) {
			memset(pcr, 0, a->size);
			bank.set |= 1u << ent->pcr;
		}
		memcpy(ext, pcr, a->size);
		if (ima_entry_is_violation(ent))
			memset(ext + a->size, 0xff, a->size);
		else if (ent->td != NULL) {
			if ((r = pcr_hash(alg, ent->td, ent->td_len,
			    ext + a->size, e)) < 0)
				goto fail;
		} else if ((r = ima_entry_template_data(ent, td, sizeof(td),
		    &tdlen, e)) < 0 ||
		    (r = pcr_hash(alg, td, tdlen, ext + a->size, e)) < 0)
			goto fail;
		if ((r = pcr_hash(alg, ext, 2 * a->size, pcr, e)) < 0)
			goto fail;
	}
	if ((dst = pcr_set_bank_add(set, alg, e)) == NULL)
		return e ? e->code : VOUCH_E_INTERNAL;
	*dst = bank;
	return 0;
fail:
	if (e != NULL)
		vouch_err_prefix(e, "line %zu", log->ent[i].line);
	return r;
}

/* --- measuring files ------------------------------------------------------ */

static const EVP_MD *
evp_md(uint16_t alg)
{
	switch (alg) {
	case PCR_ALG_SHA1:
		return EVP_sha1();
	case PCR_ALG_SHA256:
		return EVP_sha256();
	case PCR_ALG_SHA384:
		return EVP_sha384();
	case PCR_ALG_SHA512:
		return EVP_sha512();
	case PCR_ALG_SM3_256:
		return EVP_get_digestbyname("SM3");
	}
	return NULL;
}

int
measure_file(const char *path, uint16_t alg, uint8_t *digest,
    struct vouch_err *e)
{
	const EVP_MD *md = evp_md(alg);
	EVP_MD_CTX *ctx = NULL;
	uint8_t buf[65536], out[EVP_MAX_MD_SIZE];
	unsigned int olen;
	struct stat st;
	ssize_t n;
	int fd, r, err;

	if (md == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "hash algorithm 0x%04x not supported", alg);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
		    strerror(errno));
	/* A FIFO or device would block or never end; IMA measures files. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "%s: not a regular file", path);
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		r = vouch_err_set(e, VOUCH_E_CRYPTO, "EVP_DigestInit failed");
		goto out;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			r = vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
			    strerror(err));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = vouch_err_set(e, VOUCH_E_CRYPTO,
			    "EVP_DigestUpdate failed");
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, out, &olen) != 1) {
		r = vouch_err_set(e, VOUCH_E_CRYPTO, "EVP_DigestFinal failed");
		goto out;
	}
	memcpy(digest, out, olen);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return r;
}
