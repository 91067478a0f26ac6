/*
 * quote.c - TPMS_ATTEST and TPMT_SIGNATURE through the bounded reader
 * (layouts and contract: quote.h).
 *
 * Each fault is reported with the offset of the field it is in, so a
 * caller can locate it in a file without re-parsing.
 */
#include <stdio.h>
#include <string.h>

#include "common/rbuf.h"
#include "measure/pcr.h"
#include "attest/quote.h"

/*
 * A TPM2B at b: u16 size (<= max) then size bytes, pointed at.  what
 * names the field in the reason.
 */
static int
get_tpm2b(struct rbuf *b, size_t max, const uint8_t **p, uint16_t *n,
    const char *what, struct vouch_err *e)
{
	size_t off = b->off;

	if (rbuf_get_u16be(b, n) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "%s at byte %zu: size truncated", what, off);
	if (*n > max)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "%s at byte %zu: size %u is longer than %zu bytes", what,
		    off, *n, max);
	if (rbuf_get_ptr(b, p, *n) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "%s at byte %zu: truncated, %u bytes claimed, %zu left",
		    what, off, *n, rbuf_left(b));
	return 0;
}

/* TPML_PCR_SELECTION into q->bank[] (layout and rules: quote.h). */
static int
get_selection(struct rbuf *b, struct quote_attest *q, struct vouch_err *e)
{
	const struct pcr_alg *a;
	uint32_t count, i, j;
	uint16_t alg;
	uint8_t sz, sel[QUOTE_MAX_SELECT];
	size_t off = b->off;

	if (rbuf_get_u32be(b, &count) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "pcrSelect at byte %zu: count truncated", off);
	if (count > QUOTE_MAX_BANKS)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "pcrSelect at byte %zu: count %u is over %d", off, count,
		    QUOTE_MAX_BANKS);
	for (i = 0; i < count; i++) {
		off = b->off;
		if (rbuf_get_u16be(b, &alg) < 0 || rbuf_get_u8(b, &sz) < 0)
			return vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "pcrSelections[%u] at byte %zu: truncated", i, off);
		if (sz > QUOTE_MAX_SELECT)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "pcrSelections[%u] at byte %zu: sizeofSelect %u "
			    "is over %d", i, off, sz, QUOTE_MAX_SELECT);
		memset(sel, 0, sizeof(sel));
		if (rbuf_get_bytes(b, sel, sz) < 0)
			return vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "pcrSelections[%u] at byte %zu: bitmap truncated",
			    i, off);
		if ((a = pcr_alg_by_id(alg)) == NULL)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
			    "pcrSelections[%u] at byte %zu: unknown bank "
			    "0x%04x", i, off, alg);
		for (j = 0; j < q->nbanks; j++)
			if (q->bank[j].alg == alg)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "pcrSelections[%u] at byte %zu: bank %s "
				    "selected twice", i, off, a->name);
		/* PCR_NUM is 24: a fourth byte may be present, but empty. */
		if (sel[3] != 0)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
			    "pcrSelections[%u] at byte %zu: selects PCRs "
			    "above %d", i, off, PCR_NUM - 1);
		q->bank[q->nbanks].alg = alg;
		q->bank[q->nbanks].mask = (uint32_t)sel[0] |
		    (uint32_t)sel[1] << 8 | (uint32_t)sel[2] << 16;
		q->nbanks++;
	}
	return 0;
}

int
quote_attest_parse(const uint8_t *buf, size_t len, struct quote_attest *q,
    struct vouch_err *e)
{
	struct rbuf b;
	uint32_t magic;
	uint16_t type;
	size_t off;
	int r;

	memset(q, 0, sizeof(*q));
	if (len > QUOTE_MAX_ATTEST)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "%zu bytes, over the %d of any quote", len,
		    QUOTE_MAX_ATTEST);
	rbuf_init(&b, buf, len);
	if (rbuf_get_u32be(&b, &magic) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "truncated at byte 0: no magic");
	if (magic != QUOTE_GENERATED_VALUE)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "magic 0x%08x at byte 0 is not TPM_GENERATED_VALUE "
		    "0x%08x: not made by a TPM", magic, QUOTE_GENERATED_VALUE);
	if (rbuf_get_u16be(&b, &type) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "truncated at byte 4: no type");
	if (type != QUOTE_ST_ATTEST_QUOTE)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "type 0x%04x at byte 4 is not TPM_ST_ATTEST_QUOTE 0x%04x",
		    type, QUOTE_ST_ATTEST_QUOTE);
	if ((r = get_tpm2b(&b, QUOTE_MAX_NAME, &q->signer, &q->signer_len,
	    "qualifiedSigner", e)) < 0 ||
	    (r = get_tpm2b(&b, QUOTE_MAX_EXTRA, &q->extra, &q->extra_len,
	    "extraData", e)) < 0)
		return r;
	off = b.off;
	if (rbuf_get_u64be(&b, &q->clock) < 0 ||
	    rbuf_get_u32be(&b, &q->reset_count) < 0 ||
	    rbuf_get_u32be(&b, &q->restart_count) < 0 ||
	    rbuf_get_u8(&b, &q->safe) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "clockInfo at byte %zu: truncated", off);
	if (q->safe > 1)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "clockInfo.safe at byte %zu: safe is %u, not YES/NO",
		    off + 16, q->safe);
	if (rbuf_get_u64be(&b, &q->firmware_version) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "firmwareVersion at byte %zu: truncated", b.off);
	if ((r = get_selection(&b, q, e)) < 0 ||
	    (r = get_tpm2b(&b, QUOTE_MAX_DIGEST, &q->digest, &q->digest_len,
	    "pcrDigest", e)) < 0)
		return r;
	if (rbuf_left(&b) != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "%zu bytes trailing after pcrDigest, at byte %zu",
		    rbuf_left(&b), b.off);
	return 0;
}

const char *
quote_sig_alg_name(uint16_t alg)
{
	switch (alg) {
	case QUOTE_ALG_RSASSA:		return "RSASSA";
	case QUOTE_ALG_RSAPSS:		return "RSAPSS";
	case QUOTE_ALG_ECDSA:		return "ECDSA";
	case QUOTE_ALG_ECDAA:		return "ECDAA";
	case QUOTE_ALG_SM2:		return "SM2";
	case QUOTE_ALG_ECSCHNORR:	return "ECSCHNORR";
	case QUOTE_ALG_HMAC:		return "HMAC";
	case QUOTE_ALG_NULL:		return "NULL";
	}
	return "unknown";
}

/* A non-empty TPM2B of at most max bytes. */
static int
get_param(struct rbuf *b, size_t max, const uint8_t **p, uint16_t *n,
    const char *what, struct vouch_err *e)
{
	size_t off = b->off;
	int r;

	if ((r = get_tpm2b(b, max, p, n, what, e)) < 0)
		return r;
	if (*n == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s at byte %zu: empty", what, off);
	return 0;
}

int
quote_sig_parse(const uint8_t *buf, size_t len, struct quote_sig *sig,
    struct vouch_err *e)
{
	struct rbuf b;
	int r;

	memset(sig, 0, sizeof(*sig));
	if (len > QUOTE_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "%zu bytes, over the %d of any signature", len,
		    QUOTE_MAX_SIG);
	rbuf_init(&b, buf, len);
	if (rbuf_get_u16be(&b, &sig->alg) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "truncated at byte 0: no sigAlg");
	sig->have |= QUOTE_HAVE_ALG;
	if (rbuf_get_u16be(&b, &sig->hash) < 0)
		return vouch_err_set(e, VOUCH_E_TRUNCATED,
		    "truncated at byte 2: no hash");
	sig->have |= QUOTE_HAVE_HASH;
	switch (sig->alg) {
	case QUOTE_ALG_RSASSA:
	case QUOTE_ALG_RSAPSS:
	case QUOTE_ALG_ECDSA:
		break;
	default:
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "sigAlg %s (0x%04x) at byte 0 is not RSASSA, RSAPSS or "
		    "ECDSA", quote_sig_alg_name(sig->alg), sig->alg);
	}
	if (pcr_alg_by_id(sig->hash) == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "hash 0x%04x at byte 2 is not a known algorithm",
		    sig->hash);
	if (sig->alg == QUOTE_ALG_ECDSA) {
		if ((r = get_param(&b, QUOTE_MAX_ECC_PARAM, &sig->r,
		    &sig->r_len, "ECDSA signatureR", e)) < 0 ||
		    (r = get_param(&b, QUOTE_MAX_ECC_PARAM, &sig->s,
		    &sig->s_len, "ECDSA signatureS", e)) < 0)
			return r;
	} else if ((r = get_param(&b, QUOTE_MAX_RSA_SIG, &sig->r, &sig->r_len,
	    "RSA signature", e)) < 0)
		return r;
	if (rbuf_left(&b) != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "%zu bytes trailing after the %s signature, at byte %zu",
		    rbuf_left(&b), quote_sig_alg_name(sig->alg), b.off);
	return 0;
}
