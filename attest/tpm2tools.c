/*
 * tpm2tools.c - tpm2-tools 5.4 quote files (contract: tpm2tools.h).
 *
 * PREFIX.msg and PREFIX.sig are TPM wire structures, TPMS_ATTEST and
 * TPMT_SIGNATURE, parsed by quote.c (layouts drawn in quote.h): here they
 * are only checked to be well-formed, and kept as they are.
 *
 * PREFIX.pcrs is not a wire format: tpm2_quote fwrite()s its in-memory C
 * structures with the integers converted to little endian (lib/pcr.c,
 * pcr_fwrite_serialized), so the layout is that of the tss2 headers on
 * x86-64, padding included:
 *
 *	off 0    TPML_PCR_SELECTION                          132 bytes
 *	         count u32le (banks, <= 16)
 *	         16 x TPMS_PCR_SELECTION                     8 bytes each
 *	              hash u16le | sizeofSelect u8 | pcrSelect[4] | pad u8
 *	off 132  n u32le: TPML_DIGESTs that follow (<= 32)
 *	off 136  n x TPML_DIGEST                             532 bytes each
 *	         count u32le (<= 8)
 *	         8 x TPM2B_DIGEST                            66 bytes each
 *	              size u16le | buffer[64]
 *
 * The digests are the selected PCRs in selection order (bank by bank,
 * PCR index ascending), cut into lists of at most 8: tpm2_quote stores
 * one list per PCR_Read answer.  tpm2_checkquote walks them in that
 * order.  Entries past a count are unused (zero when we write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rbuf.h"
#include "common/util.h"
#include "attest/quote.h"
#include "attest/tpm2tools.h"

#define T2T_SEL_BANKS		16	/* TPM2_NUM_PCR_BANKS */
#define T2T_SEL_ENTRY		8	/* sizeof(TPMS_PCR_SELECTION) */
#define T2T_SEL_SIZE		(4 + T2T_SEL_BANKS * T2T_SEL_ENTRY)	/* 132 */
#define T2T_PCR_SELECT_MAX	4	/* TPM2_PCR_SELECT_MAX */
#define T2T_LISTS_MAX		32	/* TPM2_MAX_PCRS: tpm2_pcrs.pcr_values */
#define T2T_LIST_DIGESTS	8	/* TPML_DIGEST.digests */
#define T2T_DIGEST_SIZE		(2 + 64)				/* 66 */
#define T2T_LIST_SIZE		(4 + T2T_LIST_DIGESTS * T2T_DIGEST_SIZE)	/* 532 */
#define T2T_PCRS_MAX		(T2T_SEL_SIZE + 4 + T2T_LISTS_MAX * T2T_LIST_SIZE)

static void
put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static int
path_of(char *buf, size_t n, const char *prefix, const char *ext,
    struct vouch_err *e)
{
	int w = snprintf(buf, n, "%s%s", prefix, ext);

	if (w < 0 || (size_t)w >= n)
		return vouch_err_set(e, VOUCH_E_LIMIT, "path too long: %s%s",
		    prefix, ext);
	return 0;
}

/* Number of selected PCRs in sel. */
static size_t
sel_count(const struct pcr_selection *sel)
{
	size_t b, n = 0;
	int i;

	for (b = 0; b < sel->nbanks; b++)
		for (i = 0; i < PCR_NUM; i++)
			if (sel->bank[b].mask & (1u << i))
				n++;
	return n;
}

/* The .pcrs file of ev into a malloc'd buffer. */
static int
pcrs_encode(const struct evidence *ev, uint8_t **out, size_t *outlen,
    struct vouch_err *e)
{
	const struct pcr_selection *sel = &ev->sel;
	size_t total = sel_count(sel), nlists, len, b, k = 0;
	uint8_t *buf;
	int i;

	if (sel->nbanks == 0 || sel->nbanks > PCR_BANKS_MAX || total == 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "empty PCR selection");
	nlists = (total + T2T_LIST_DIGESTS - 1) / T2T_LIST_DIGESTS;
	if (nlists > T2T_LISTS_MAX)
		return vouch_err_set(e, VOUCH_E_LIMIT, "%zu PCRs selected",
		    total);
	len = T2T_SEL_SIZE + 4 + nlists * T2T_LIST_SIZE;
	if ((buf = calloc(1, len)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");

	put32le(buf, (uint32_t)sel->nbanks);
	for (b = 0; b < sel->nbanks; b++) {
		uint8_t *s = buf + 4 + b * T2T_SEL_ENTRY;
		uint32_t m = sel->bank[b].mask;

		put16le(s, sel->bank[b].alg);
		s[2] = 3;	/* 24 PCRs, as tpm2_quote writes */
		s[3] = (uint8_t)m;
		s[4] = (uint8_t)(m >> 8);
		s[5] = (uint8_t)(m >> 16);
	}
	put32le(buf + T2T_SEL_SIZE, (uint32_t)nlists);
	for (b = 0; b < sel->nbanks; b++) {
		const struct pcr_alg *a = pcr_alg_by_id(sel->bank[b].alg);
		const struct pcr_bank *pb;

		if (a == NULL || (pb = pcr_set_bank_const(&ev->pcrs, a->id)) ==
		    NULL || (pb->set & sel->bank[b].mask) != sel->bank[b].mask) {
			free(buf);
			return vouch_err_set(e, VOUCH_E_INVAL, "PCR values of "
			    "bank 0x%04x missing from the evidence",
			    sel->bank[b].alg);
		}
		for (i = 0; i < PCR_NUM; i++) {
			uint8_t *list, *d;

			if (!(sel->bank[b].mask & (1u << i)))
				continue;
			list = buf + T2T_SEL_SIZE + 4 +
			    (k / T2T_LIST_DIGESTS) * T2T_LIST_SIZE;
			d = list + 4 + (k % T2T_LIST_DIGESTS) * T2T_DIGEST_SIZE;
			put32le(list, (uint32_t)(k % T2T_LIST_DIGESTS + 1));
			put16le(d, (uint16_t)a->size);
			memcpy(d + 2, pb->v[i], a->size);
			k++;
		}
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int
tpm2tools_write(const char *prefix, const struct evidence *ev,
    struct vouch_err *e)
{
	char path[4096];
	uint8_t *pcrs = NULL;
	size_t pcrslen = 0;
	int r;

	if (ev->attest == NULL || ev->attest_len == 0 ||
	    ev->attest_len > EVIDENCE_MAX_ATTEST || ev->sig == NULL ||
	    ev->sig_len == 0 || ev->sig_len > EVIDENCE_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "evidence without a quote and signature");
	/* Everything is encoded before the first file is touched. */
	if ((r = pcrs_encode(ev, &pcrs, &pcrslen, e)) < 0)
		return r;
	if ((r = path_of(path, sizeof(path), prefix, ".msg", e)) < 0 ||
	    (r = file_write_atomic(path, ev->attest, ev->attest_len, 0644,
	    e)) < 0 ||
	    (r = path_of(path, sizeof(path), prefix, ".sig", e)) < 0 ||
	    (r = file_write_atomic(path, ev->sig, ev->sig_len, 0644, e)) < 0 ||
	    (r = path_of(path, sizeof(path), prefix, ".pcrs", e)) < 0 ||
	    (r = file_write_atomic(path, pcrs, pcrslen, 0644, e)) < 0) {
		free(pcrs);
		return r;
	}
	free(pcrs);
	return 0;
}

/* "FILE: offset N: " + reason; *b's offset is where the fault starts. */
static int
at(struct vouch_err *e, int code, const char *file, size_t off,
    const char *why)
{
	return vouch_err_set(e, code, "%s: offset %zu: %s", file, off, why);
}

/*
 * .msg must be one well-formed quote TPMS_ATTEST, nothing after it, whose
 * extraData fits the evidence's nonce (EVIDENCE_MAX_NONCE).
 */
static int
msg_check(const uint8_t *p, size_t len, const char *file, struct vouch_err *e)
{
	struct quote_attest q;
	int r;

	if ((r = quote_attest_parse(p, len, &q, e)) < 0) {
		if (e != NULL)
			vouch_err_prefix(e, "%s", file);
		return r;
	}
	if (q.extra_len > EVIDENCE_MAX_NONCE)
		return at(e, VOUCH_E_LIMIT, file, 8 + (size_t)q.signer_len,
		    "extraData longer than an evidence nonce (64 bytes)");
	return 0;
}

/* .sig must be one TPMT_SIGNATURE (RSASSA, RSAPSS or ECDSA), exactly. */
static int
sig_check(const uint8_t *p, size_t len, const char *file, struct vouch_err *e)
{
	struct quote_sig sig;
	int r;

	if ((r = quote_sig_parse(p, len, &sig, e)) < 0 && e != NULL)
		vouch_err_prefix(e, "%s", file);
	return r;
}

/* Parse the .pcrs layout drawn above into ev->sel and ev->pcrs. */
static int
pcrs_parse(const uint8_t *p, size_t len, const char *file,
    struct evidence *ev, struct vouch_err *e)
{
	struct pcr_selection sel;
	struct pcr_set set;
	struct rbuf b;
	uint32_t nbanks, nlists, lcount = 0, li = 0, di = 0, k;
	size_t bi, off;
	char why[128];
	int i;

	memset(&sel, 0, sizeof(sel));
	memset(&set, 0, sizeof(set));
	rbuf_init(&b, p, len);
	if (len < T2T_SEL_SIZE + 4)
		return at(e, VOUCH_E_TRUNCATED, file, len,
		    "file ends inside the PCR selection header (136 bytes)");
	(void)rbuf_get_u32le(&b, &nbanks);
	if (nbanks == 0 || nbanks > PCR_BANKS_MAX)
		return at(e, VOUCH_E_FORMAT, file, 0,
		    "PCR selection count is not 1..5");
	for (bi = 0; bi < nbanks; bi++) {
		const uint8_t *s = p + 4 + bi * T2T_SEL_ENTRY;
		uint16_t alg = (uint16_t)(s[0] | s[1] << 8);
		uint32_t m = 0;
		const struct pcr_alg *a = pcr_alg_by_id(alg);

		off = 4 + bi * T2T_SEL_ENTRY;
		if (a == NULL)
			return at(e, VOUCH_E_UNSUPPORTED, file, off,
			    "unknown PCR bank algorithm");
		if (s[2] > T2T_PCR_SELECT_MAX)
			return at(e, VOUCH_E_FORMAT, file, off + 2,
			    "sizeofSelect > 4");
		for (k = 0; k < s[2]; k++)
			m |= (uint32_t)s[3 + k] << (8 * k);
		if (m >> PCR_NUM != 0)
			return at(e, VOUCH_E_UNSUPPORTED, file, off + 3,
			    "PCR index above 23 selected");
		if (m == 0)
			return at(e, VOUCH_E_FORMAT, file, off + 3,
			    "bank with no PCR selected");
		if (pcr_set_bank(&set, alg) != NULL)
			return at(e, VOUCH_E_FORMAT, file, off,
			    "bank selected twice");
		sel.bank[sel.nbanks].alg = alg;
		sel.bank[sel.nbanks].mask = m;
		sel.nbanks++;
		if (pcr_set_bank_add(&set, alg, NULL) == NULL)
			return vouch_err_set(e, VOUCH_E_INTERNAL, "bank add");
	}
	b.off = T2T_SEL_SIZE;
	(void)rbuf_get_u32le(&b, &nlists);
	if (nlists == 0 || nlists > T2T_LISTS_MAX)
		return at(e, VOUCH_E_FORMAT, file, T2T_SEL_SIZE,
		    "digest list count is not 1..32");
	if (len != T2T_SEL_SIZE + 4 + (size_t)nlists * T2T_LIST_SIZE) {
		snprintf(why, sizeof(why), "%u digest lists need %zu bytes, "
		    "the file has %zu", nlists,
		    T2T_SEL_SIZE + 4 + (size_t)nlists * T2T_LIST_SIZE, len);
		return at(e, len < T2T_SEL_SIZE + 4 + (size_t)nlists *
		    T2T_LIST_SIZE ? VOUCH_E_TRUNCATED : VOUCH_E_FORMAT, file,
		    len, why);
	}
	/* Walk the selection, taking digests from the lists in order. */
	for (bi = 0; bi < sel.nbanks; bi++) {
		const struct pcr_alg *a = pcr_alg_by_id(sel.bank[bi].alg);
		struct pcr_bank *pb = pcr_set_bank(&set, a->id);

		for (i = 0; i < PCR_NUM; i++) {
			const uint8_t *list, *d;
			uint16_t dsize;

			if (!(sel.bank[bi].mask & (1u << i)))
				continue;
			if (li >= nlists)
				return at(e, VOUCH_E_FORMAT, file, len,
				    "fewer digests than selected PCRs");
			list = p + T2T_SEL_SIZE + 4 + (size_t)li * T2T_LIST_SIZE;
			if (di == 0) {
				lcount = (uint32_t)(list[0] | list[1] << 8 |
				    list[2] << 16 | (uint32_t)list[3] << 24);
				if (lcount == 0 || lcount > T2T_LIST_DIGESTS)
					return at(e, VOUCH_E_FORMAT, file,
					    (size_t)(list - p),
					    "digest list count is not 1..8");
			}
			d = list + 4 + (size_t)di * T2T_DIGEST_SIZE;
			dsize = (uint16_t)(d[0] | d[1] << 8);
			if (dsize != a->size) {
				snprintf(why, sizeof(why), "%s PCR %d: digest "
				    "size %u, want %zu", a->name, i, dsize,
				    a->size);
				return at(e, VOUCH_E_FORMAT, file,
				    (size_t)(d - p), why);
			}
			memcpy(pb->v[i], d + 2, a->size);
			pb->set |= 1u << i;
			if (++di == lcount) {
				di = 0;
				li++;
			}
		}
	}
	if (di != 0 || li != nlists)
		return at(e, VOUCH_E_FORMAT, file, T2T_SEL_SIZE + 4 +
		    (size_t)li * T2T_LIST_SIZE,
		    "more digests than selected PCRs");
	ev->sel = sel;
	ev->pcrs = set;
	return 0;
}

/*
 * The three files' contents into a new evidence; names[] label the
 * files in errors (paths when read from disk).
 */
static int
decode_named(const uint8_t *msg, size_t msglen, const uint8_t *sig,
    size_t siglen, const uint8_t *pcrs, size_t pcrslen,
    const char *const names[3], struct evidence **out, struct vouch_err *e)
{
	struct evidence *ev;
	int r;

	if ((msg == NULL && msglen > 0) || (sig == NULL && siglen > 0) ||
	    (pcrs == NULL && pcrslen > 0) || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "tpm2tools: NULL input");
	if (pcrslen > T2T_PCRS_MAX)
		return vouch_err_set(e, VOUCH_E_LIMIT, "%s: %zu bytes, over "
		    "%d", names[2], pcrslen, T2T_PCRS_MAX);
	if ((r = msg_check(msg, msglen, names[0], e)) < 0 ||
	    (r = sig_check(sig, siglen, names[1], e)) < 0)
		return r;
	if ((ev = evidence_new()) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = pcrs_parse(pcrs, pcrslen, names[2], ev, e)) < 0)
		goto fail;
	/* Lengths are bounded by the parsers (QUOTE_MAX_*) above. */
	if ((ev->attest = malloc(msglen ? msglen : 1)) == NULL ||
	    (ev->sig = malloc(siglen ? siglen : 1)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	memcpy(ev->attest, msg, msglen);
	ev->attest_len = msglen;
	memcpy(ev->sig, sig, siglen);
	ev->sig_len = siglen;
	*out = ev;
	return 0;
fail:
	evidence_free(ev);
	return r;
}

int
tpm2tools_decode(const uint8_t *msg, size_t msglen, const uint8_t *sig,
    size_t siglen, const uint8_t *pcrs, size_t pcrslen, struct evidence **out,
    struct vouch_err *e)
{
	static const char *const names[3] = { ".msg", ".sig", ".pcrs" };

	return decode_named(msg, msglen, sig, siglen, pcrs, pcrslen, names,
	    out, e);
}

static int
read_one(const char *prefix, const char *ext, size_t max, char *path,
    size_t pathlen, uint8_t **buf, size_t *len, struct vouch_err *e)
{
	int r;

	if ((r = path_of(path, pathlen, prefix, ext, e)) < 0)
		return r;
	if ((r = file_read(path, max, buf, len, e)) < 0)
		return vouch_err_prefix(e, "%s", path);
	return 0;
}

int
tpm2tools_read(const char *prefix, struct evidence **out,
    struct vouch_err *e)
{
	char path[3][4096];
	const char *const names[3] = { path[0], path[1], path[2] };
	uint8_t *msg = NULL, *sig = NULL, *pcrs = NULL;
	size_t msglen = 0, siglen = 0, pcrslen = 0;
	int r;

	/*
	 * Each file is checked as soon as it is read, so a bad .msg is
	 * reported as such even when .sig is missing; decode_named checks
	 * them again (a few hundred nanoseconds) with everything else.
	 */
	if ((r = read_one(prefix, ".msg", EVIDENCE_MAX_ATTEST, path[0],
	    sizeof(path[0]), &msg, &msglen, e)) < 0 ||
	    (r = msg_check(msg, msglen, path[0], e)) < 0 ||
	    (r = read_one(prefix, ".sig", EVIDENCE_MAX_SIG, path[1],
	    sizeof(path[1]), &sig, &siglen, e)) < 0 ||
	    (r = sig_check(sig, siglen, path[1], e)) < 0 ||
	    (r = read_one(prefix, ".pcrs", T2T_PCRS_MAX, path[2],
	    sizeof(path[2]), &pcrs, &pcrslen, e)) < 0)
		goto out;
	r = decode_named(msg, msglen, sig, siglen, pcrs, pcrslen, names, out,
	    e);
out:
	free(msg);
	free(sig);
	free(pcrs);
	return r;
}
