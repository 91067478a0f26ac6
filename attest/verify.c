/*
 * verify.c - the verifier's checklist (see verify.h for the list).
 *
 * The quote arrives as two marshalled TPM structures, TPMS_ATTEST and
 * TPMT_SIGNATURE, parsed by quote.c (layouts and limits drawn in quote.h);
 * this file only decides what the parsed fields must be.
 *
 * The scheme is pinned by the key: an EC AK must sign ECDSA-SHA256, an RSA
 * AK RSASSA-PKCS1v1.5-SHA256.  Anything else is refused as it stands; no
 * second scheme is ever tried (tpm2_checkquote's padding-guessing loop is
 * what we do not do).
 *
 * Cost.  A verification is dominated by the one public-key operation
 * and, for a log not seen before, by the two hashes per runtime log line
 * its replay needs; the rest is kept cheap: the quote is hashed once and
 * its signature checked on a context prepared once per AK (see "Prepared
 * verify contexts"), the quote is parsed in place (pointers into the
 * caller's buffer), result fields are reset rather than the whole
 * (large) result cleared, the AK's fingerprint for the replay history is
 * cached with a reference on the key so an address can never be reused
 * under it, a runtime log is parsed without the SHA-1 template-hash check
 * its replay makes redundant (imalog.h), and runtime logs already parsed
 * and replayed are kept (see "runtime log cache").
 *
 * Measured (bench_verify, 100-line ima-ng log, P-256 AK, one core, no
 * cache): parse ~20 us, replay ~35 us, reference lookups ~11 us, the rest
 * within a few us of a raw ECDSA P-256 verification (~100 us).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/rbuf.h"
#include "common/util.h"
#include "measure/eventlog.h"
#include "measure/imalog.h"
#include "attest/quote.h"
#include "attest/verify.h"

/* Every length the verifier itself bounds; quote.h has the parsers'. */
#define SIG_DER_MAX		(2 * QUOTE_MAX_ECC_PARAM + 16)
#define AK_PEM_MAX		(64u << 10)
#define AK_RSA_MIN_BITS		2048

/* The runtime PCR when there is no policy to name one. */
#define VERIFY_DEFAULT_RT_PCR	23

/* History file: one line per AK, sorted by fingerprint. */
#define HISTORY_MAX_FILE	(16u << 20)
#define HISTORY_MAX_AKS		65536
#define HISTORY_HEADER \
	"# vouch verify history v1: AK-SHA256(SPKI-DER) CLOCK RESET RESTART\n"

/* Bytes of a digest shown in a reason: enough to tell two apart. */
#define PFX_BYTES		8

static const char *const check_names[VERIFY_NCHECKS] = {
	[VERIFY_SIGNATURE] = "signature",
	[VERIFY_ATTEST] = "attest",
	[VERIFY_NONCE] = "nonce",
	[VERIFY_PCR_SELECT] = "pcr-select",
	[VERIFY_PCR_DIGEST] = "pcr-digest",
	[VERIFY_EVENTLOG] = "eventlog",
	[VERIFY_RUNTIME_LOG] = "runtime-log",
	[VERIFY_REFVALS] = "refvals",
	[VERIFY_COUNTERS] = "counters",
};

const char *
verify_check_name(enum verify_check c)
{
	if ((unsigned)c >= VERIFY_NCHECKS)
		return "?";
	return check_names[c];
}

/* ---- the SHA-256 method, fetched once ---------------------------------- */

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

/* ---- result helpers ----------------------------------------------------- */

static void
result_reset(struct verify_result *res)
{
	size_t i;

	res->pass = 0;
	res->ran = 0;
	res->skipped = 0;
	res->nreasons = 0;
	res->dropped = 0;
	res->reboot = 0;
	memset(&res->counters, 0, sizeof(res->counters));
	for (i = 0; i < VERIFY_NCHECKS; i++)
		res->skip_why[i][0] = '\0';
}

static void
ran(struct verify_result *res, enum verify_check c)
{
	res->ran |= 1u << c;
}

static void reason(struct verify_result *res, enum verify_check c,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
reason(struct verify_result *res, enum verify_check c, const char *fmt, ...)
{
	struct verify_reason *r;
	va_list ap;

	res->ran |= 1u << c;
	if (res->nreasons == VERIFY_MAX_REASONS) {
		res->dropped++;
		return;
	}
	r = &res->reasons[res->nreasons++];
	r->check = c;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

static void skip(struct verify_result *res, enum verify_check c,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
skip(struct verify_result *res, enum verify_check c, const char *fmt, ...)
{
	va_list ap;

	res->skipped |= 1u << c;
	va_start(ap, fmt);
	vsnprintf(res->skip_why[c], sizeof(res->skip_why[c]), fmt, ap);
	va_end(ap);
}

/* A digest's first bytes as hex with "..." ("3d458cfe55cc03ea..."). */
struct pfx {
	char s[2 * PFX_BYTES + 4];
};

static struct pfx
pfx(const uint8_t *p, size_t n)
{
	struct pfx x;

	if (n > PFX_BYTES) {
		hex_encode(p, PFX_BYTES, x.s);
		memcpy(x.s + 2 * PFX_BYTES, "...", 4);
	} else
		hex_encode(p, n, x.s);
	return x;
}

/* A hostile string made safe for a one-line reason (and bounded). */
struct safe {
	char s[112];
};

static struct safe
safe_str(const char *in)
{
	struct safe x;
	size_t i;

	for (i = 0; in[i] != '\0' && i + 4 < sizeof(x.s); i++)
		x.s[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	if (in[i] != '\0')
		memcpy(x.s + i, "...", 4);
	else
		x.s[i] = '\0';
	return x;
}

static const char *
alg_name(uint16_t alg)
{
	const struct pcr_alg *a = pcr_alg_by_id(alg);

	return a != NULL ? a->name : "unknown-bank";
}

static const char *
hash_name(uint16_t alg)
{
	const struct pcr_alg *a = pcr_alg_by_id(alg);

	return a != NULL ? a->name : "unknown";
}

/* ---- signature ---------------------------------------------------------- */

/*
 * Check the parsed TPMT_SIGNATURE is the key's one scheme and decode it
 * into DER (ECDSA) or raw (RSA) bytes in der[].  Returns 0, or -1 with a
 * reason recorded.  The scheme is judged before anything else about the
 * signature, so a foreign scheme is refused by name even when the rest
 * of its bytes would not parse.
 */
static int
sig_decode(const uint8_t *sig, size_t sig_len, int keytype, int keybytes,
    uint8_t *der, size_t *der_len, struct verify_result *res)
{
	const uint16_t want = keytype == EVP_PKEY_EC ? QUOTE_ALG_ECDSA :
	    QUOTE_ALG_RSASSA;
	const char *kname = keytype == EVP_PKEY_EC ? "EC" : "RSA";
	struct vouch_err why = VOUCH_ERR_INIT;
	struct quote_sig qs;
	int r;

	r = quote_sig_parse(sig, sig_len, &qs, &why);
	if ((qs.have & QUOTE_HAVE_ALG) && qs.alg != want) {
		reason(res, VERIFY_SIGNATURE,
		    "signature scheme %s (0x%04x) refused: an %s AK must sign "
		    "with %s-SHA256, no other scheme is tried",
		    quote_sig_alg_name(qs.alg), qs.alg, kname,
		    quote_sig_alg_name(want));
		return -1;
	}
	if ((qs.have & QUOTE_HAVE_HASH) && qs.hash != PCR_ALG_SHA256) {
		reason(res, VERIFY_SIGNATURE,
		    "signature hash %s (0x%04x) refused: %s-SHA256 only",
		    hash_name(qs.hash), qs.hash, quote_sig_alg_name(want));
		return -1;
	}
	if (r < 0) {
		reason(res, VERIFY_SIGNATURE, "TPMT_SIGNATURE malformed: %s",
		    why.msg);
		return -1;
	}
	if (qs.alg == QUOTE_ALG_ECDSA) {
		ECDSA_SIG *es;
		BIGNUM *br, *bs;
		unsigned char *out = der;
		int n;

		if ((es = ECDSA_SIG_new()) == NULL)
			goto nomem;
		br = BN_bin2bn(qs.r, qs.r_len, NULL);
		bs = BN_bin2bn(qs.s, qs.s_len, NULL);
		if (br == NULL || bs == NULL || !ECDSA_SIG_set0(es, br, bs)) {
			BN_free(br);
			BN_free(bs);
			ECDSA_SIG_free(es);
			goto nomem;
		}
		n = i2d_ECDSA_SIG(es, NULL);
		if (n <= 0 || (size_t)n > SIG_DER_MAX) {
			ECDSA_SIG_free(es);
			goto nomem;
		}
		n = i2d_ECDSA_SIG(es, &out);
		ECDSA_SIG_free(es);
		if (n <= 0)
			goto nomem;
		*der_len = (size_t)n;
		return 0;
	}
	if ((int)qs.r_len != keybytes) {
		reason(res, VERIFY_SIGNATURE,
		    "RSA signature is %u bytes, the AK's modulus %d", qs.r_len,
		    keybytes);
		return -1;
	}
	memcpy(der, qs.r, qs.r_len);
	*der_len = qs.r_len;
	return 0;
nomem:
	ERR_clear_error();
	reason(res, VERIFY_SIGNATURE,
	    "ECDSA signature could not be encoded (OpenSSL failure)");
	return -1;
}

/*
 * Prepared verify contexts, per AK.  EVP_DigestVerifyInit builds a new
 * EVP_PKEY_CTX for every call (provider key export, method fetches), a
 * fifth of a P-256 verification.  So the quote is hashed here (pcr_hash,
 * SHA-256, the pinned scheme's hash) and the digest verified with
 * EVP_PKEY_verify on a context set up once per key for exactly the
 * pinned scheme: ECDSA with a SHA-256 digest for EC keys, RSASSA
 * PKCS#1 v1.5 with SHA-256 (DigestInfo checked) for RSA keys; that is
 * what EVP_DigestVerify did, without the per-call set-up.
 *
 * A context serves one caller at a time (busy), is keyed by the EVP_PKEY
 * pointer with a reference held on the key (so the address cannot be
 * reused for another key while cached), and is dropped rather than
 * reused after any verification that did not succeed.  A context not
 * in the table (a miss, or its key's busy) is made for the call and
 * offered to the table afterwards.
 *
 * The table is sized for a region's AKs (an RC-TCB verifies every host's
 * quotes round after round): a key hashes to a window of SIG_CTX_WAYS
 * slots, least recently used replaced within the window, so a lookup is
 * a few comparisons whatever the region's size.
 */
#define SIG_CTX_SLOTS	4096
#define SIG_CTX_WAYS	8

struct sig_slot {
	EVP_PKEY	*key;		/* referenced */
	EVP_PKEY_CTX	*ctx;
	int		 busy;
	uint64_t	 used;
};

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sig_slot sig_slots[SIG_CTX_SLOTS];
static uint64_t sig_tick;

static EVP_PKEY_CTX *
sig_ctx_new(EVP_PKEY *ak, int keytype)
{
	EVP_PKEY_CTX *ctx;

	if (sha256() == NULL || (ctx = EVP_PKEY_CTX_new(ak, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_verify_init(ctx) != 1 ||
	    (keytype == EVP_PKEY_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) ||
	    EVP_PKEY_CTX_set_signature_md(ctx, sha256()) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* First slot of ak's window (pointer hash; the window wraps). */
static size_t
sig_window(const EVP_PKEY *ak)
{
	uint64_t h = (uint64_t)(uintptr_t)ak;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)(h % SIG_CTX_SLOTS);
}

/* A context for ak: *slot is its table index, or -1 if made afresh. */
static EVP_PKEY_CTX *
sig_ctx_get(EVP_PKEY *ak, int keytype, int *slot)
{
	size_t w = sig_window(ak), k, i;

	pthread_mutex_lock(&sig_lock);
	for (k = 0; k < SIG_CTX_WAYS; k++) {
		i = (w + k) % SIG_CTX_SLOTS;
		if (sig_slots[i].key == ak && !sig_slots[i].busy) {
			sig_slots[i].busy = 1;
			sig_slots[i].used = ++sig_tick;
			pthread_mutex_unlock(&sig_lock);
			*slot = (int)i;
			return sig_slots[i].ctx;
		}
	}
	pthread_mutex_unlock(&sig_lock);
	*slot = -1;
	return sig_ctx_new(ak, keytype);
}

/* Give ctx back after use; ok: it is fit for reuse. */
static void
sig_ctx_put(EVP_PKEY *ak, EVP_PKEY_CTX *ctx, int slot, int ok)
{
	EVP_PKEY *oldkey = NULL;
	EVP_PKEY_CTX *oldctx = NULL;
	size_t w = sig_window(ak), k, i, victim = SIG_CTX_SLOTS;

	pthread_mutex_lock(&sig_lock);
	if (slot >= 0) {
		if (ok) {
			sig_slots[slot].busy = 0;
			pthread_mutex_unlock(&sig_lock);
			return;
		}
		/* Not reused after a failure: out of the table. */
		oldkey = sig_slots[slot].key;
		sig_slots[slot].key = NULL;
		sig_slots[slot].ctx = NULL;
		sig_slots[slot].busy = 0;
		pthread_mutex_unlock(&sig_lock);
		EVP_PKEY_CTX_free(ctx);
		EVP_PKEY_free(oldkey);
		return;
	}
	for (k = 0; ok && k < SIG_CTX_WAYS; k++) {
		i = (w + k) % SIG_CTX_SLOTS;
		if (sig_slots[i].key == NULL) {
			victim = i;
			break;
		}
		if (!sig_slots[i].busy && (victim == SIG_CTX_SLOTS ||
		    sig_slots[i].used < sig_slots[victim].used))
			victim = i;
	}
	if (victim < SIG_CTX_SLOTS && EVP_PKEY_up_ref(ak) == 1) {
		oldkey = sig_slots[victim].key;
		oldctx = sig_slots[victim].ctx;
		sig_slots[victim].key = ak;
		sig_slots[victim].ctx = ctx;
		sig_slots[victim].used = ++sig_tick;
		ctx = NULL;
	}
	pthread_mutex_unlock(&sig_lock);
	EVP_PKEY_CTX_free(oldctx);
	EVP_PKEY_free(oldkey);
	EVP_PKEY_CTX_free(ctx);
}

static void
check_signature(const struct verify_input *in, int keytype,
    struct verify_result *res)
{
	const struct evidence *ev = in->ev;
	uint8_t sig[QUOTE_MAX_RSA_SIG > SIG_DER_MAX ? QUOTE_MAX_RSA_SIG :
	    SIG_DER_MAX];
	uint8_t d[32];
	size_t sig_len;
	EVP_PKEY_CTX *pctx;
	int slot, ok;

	ran(res, VERIFY_SIGNATURE);
	if (keytype != EVP_PKEY_EC && keytype != EVP_PKEY_RSA) {
		reason(res, VERIFY_SIGNATURE,
		    "the AK is neither an EC nor an RSA key");
		return;
	}
	if (in->policy != NULL &&
	    policy_ak_type(in->policy) != (keytype == EVP_PKEY_EC ? 0 : 1))
		reason(res, VERIFY_SIGNATURE,
		    "the policy requires an %s AK, the given AK is %s",
		    policy_ak_type(in->policy) == 0 ? "ecc" : "rsa",
		    keytype == EVP_PKEY_EC ? "EC" : "RSA");
	if (sig_decode(ev->sig, ev->sig_len, keytype, EVP_PKEY_get_size(in->ak),
	    sig, &sig_len, res) < 0)
		return;
	if (pcr_hash(PCR_ALG_SHA256, ev->attest, ev->attest_len, d,
	    NULL) < 0) {
		ERR_clear_error();
		reason(res, VERIFY_SIGNATURE, "OpenSSL: no SHA-256");
		return;
	}
	if ((pctx = sig_ctx_get(in->ak, keytype, &slot)) == NULL) {
		ERR_clear_error();
		reason(res, VERIFY_SIGNATURE,
		    "OpenSSL refused to set up %s-SHA256 with the AK",
		    keytype == EVP_PKEY_EC ? "ECDSA" : "RSASSA");
		return;
	}
	ok = EVP_PKEY_verify(pctx, sig, sig_len, d, sizeof(d)) == 1;
	sig_ctx_put(in->ak, pctx, slot, ok);
	if (!ok)
		reason(res, VERIFY_SIGNATURE,
		    "%s-SHA256 signature does not verify with the AK over "
		    "the %zu-byte quote", keytype == EVP_PKEY_EC ? "ECDSA" :
		    "RSASSA", ev->attest_len);
	ERR_clear_error();
}

/* ---- nonce, selection, digest ------------------------------------------- */

static void
check_nonce(const struct verify_input *in, const struct quote_attest *q,
    struct verify_result *res)
{
	const struct evidence *ev = in->ev;

	ran(res, VERIFY_NONCE);
	if (q->extra_len != in->nonce_len ||
	    !ct_equal(q->extra, in->nonce, in->nonce_len))
		reason(res, VERIFY_NONCE,
		    "quote extraData (%u bytes, %s) is not the expected nonce "
		    "(%zu bytes, %s): stale or replayed quote",
		    q->extra_len, pfx(q->extra, q->extra_len).s,
		    in->nonce_len, pfx(in->nonce, in->nonce_len).s);
	/* The evidence's copy is informational, but must not contradict. */
	if (ev->nonce_len != 0 && (ev->nonce_len != in->nonce_len ||
	    !ct_equal(ev->nonce, in->nonce, in->nonce_len)))
		reason(res, VERIFY_NONCE,
		    "the evidence's nonce field (%s) is not the expected nonce "
		    "(%s)", pfx(ev->nonce, ev->nonce_len).s,
		    pfx(in->nonce, in->nonce_len).s);
}

/* The quote's selection without empty banks, as a struct pcr_selection. */
static int
quote_selection(const struct quote_attest *q, struct pcr_selection *sel)
{
	size_t i;

	sel->nbanks = 0;
	for (i = 0; i < q->nbanks; i++) {
		if (q->bank[i].mask == 0)
			continue;
		if (sel->nbanks == PCR_BANKS_MAX)
			return -1;
		sel->bank[sel->nbanks].alg = q->bank[i].alg;
		sel->bank[sel->nbanks].mask = q->bank[i].mask;
		sel->nbanks++;
	}
	return 0;
}

static int
sel_equal(const struct pcr_selection *a, const struct pcr_selection *b)
{
	size_t i, na = 0, nb = 0;

	for (i = 0; i < a->nbanks; i++) {
		if (a->bank[i].mask == 0)
			continue;
		na++;
		if (pcr_selection_mask(b, a->bank[i].alg) != a->bank[i].mask)
			return 0;
	}
	for (i = 0; i < b->nbanks; i++)
		nb += b->bank[i].mask != 0;
	return na == nb;
}

static void
sel_text(const struct pcr_selection *sel, char *buf, size_t n)
{
	if (pcr_selection_format(sel, buf, n) < 0 || buf[0] == '\0')
		snprintf(buf, n, "%s", sel->nbanks ? "(too long)" : "(none)");
}

static void
check_pcr_select(const struct verify_input *in, const struct quote_attest *q,
    struct verify_result *res)
{
	struct pcr_selection qs;
	char a[256], b[256];

	ran(res, VERIFY_PCR_SELECT);
	if (quote_selection(q, &qs) < 0) {
		reason(res, VERIFY_PCR_SELECT,
		    "the quote selects more than %d banks", PCR_BANKS_MAX);
		return;
	}
	if (qs.nbanks == 0)
		reason(res, VERIFY_PCR_SELECT, "the quote selects no PCR");
	if (!sel_equal(&qs, &in->ev->sel)) {
		sel_text(&qs, a, sizeof(a));
		sel_text(&in->ev->sel, b, sizeof(b));
		reason(res, VERIFY_PCR_SELECT,
		    "the quote selects %s, the evidence claims %s", a, b);
	}
	if (in->policy != NULL && !sel_equal(&qs, policy_pcrs(in->policy))) {
		sel_text(&qs, a, sizeof(a));
		sel_text(policy_pcrs(in->policy), b, sizeof(b));
		reason(res, VERIFY_PCR_SELECT,
		    "the quote selects %s, the policy requires %s", a, b);
	}
}

/*
 * pcrDigest = SHA-256 (the AK scheme's hash) over the selected PCR values
 * concatenated in TPM order: banks as listed in the quote, PCRs ascending.
 */
static void
check_pcr_digest(const struct verify_input *in, const struct quote_attest *q,
    struct verify_result *res)
{
	uint8_t buf[PCR_BANKS_MAX * PCR_NUM * PCR_DIGEST_MAX];
	uint8_t d[32];
	size_t off = 0, i;
	int missing = 0, k;

	ran(res, VERIFY_PCR_DIGEST);
	for (i = 0; i < q->nbanks; i++) {
		const struct pcr_bank *pb;
		const struct pcr_alg *a;

		if (q->bank[i].mask == 0)
			continue;
		a = pcr_alg_by_id(q->bank[i].alg);
		pb = pcr_set_bank_const(&in->ev->pcrs, q->bank[i].alg);
		for (k = 0; k < PCR_NUM; k++) {
			if (!(q->bank[i].mask & (1u << k)))
				continue;
			if (pb == NULL || !(pb->set & (1u << k))) {
				reason(res, VERIFY_PCR_DIGEST,
				    "%s PCR %d is quoted but the evidence has "
				    "no value for it", a->name, k);
				missing = 1;
				continue;
			}
			if (off + a->size > sizeof(buf)) {
				reason(res, VERIFY_PCR_DIGEST,
				    "too many quoted PCR values");
				return;
			}
			memcpy(buf + off, pb->v[k], a->size);
			off += a->size;
		}
	}
	if (missing)
		return;
	if (q->digest_len != sizeof(d)) {
		reason(res, VERIFY_PCR_DIGEST,
		    "pcrDigest is %u bytes, a SHA-256 digest (the AK scheme's "
		    "hash) is 32", q->digest_len);
		return;
	}
	if (sha256() == NULL ||
	    EVP_Digest(buf, off, d, NULL, sha256(), NULL) != 1) {
		ERR_clear_error();
		reason(res, VERIFY_PCR_DIGEST, "OpenSSL: SHA-256 failed");
		return;
	}
	if (!ct_equal(d, q->digest, sizeof(d)))
		reason(res, VERIFY_PCR_DIGEST,
		    "quote pcrDigest %s != SHA-256 of the evidence's PCR "
		    "values %s: a PCR value in the evidence is not the quoted "
		    "one", pfx(q->digest, q->digest_len).s,
		    pfx(d, sizeof(d)).s);
}

/* ---- runtime log cache ------------------------------------------------ */

/*
 * Parsing and replaying a runtime log costs two hashes per line and the
 * parse, about half the signature check for a log of a hundred lines
 * (three hashes when the SHA-1 template hashes are checked).  A host's
 * log only grows (IMA appends), and a verifier sees the same host again
 * and again, so the work is kept: a small table of logs already parsed,
 * with their replay per bank.  A log that equals a cached one is not
 * parsed again; a log that extends one at a line boundary has only its new
 * lines parsed (a new segment) and replayed on top of the cached values.
 * Everything cached is a pure function of the log text, compared in full
 * (memcmp) before use, so a hit gives exactly the result of a fresh parse.
 *
 * Template hashes: a log is parsed with IMALOG_SKIP_TEMPLATE_CHECK (see
 * imalog.h for why the replay makes that check redundant here) unless the
 * SHA-1 bank is replayed; an entry records whether its lines were
 * checked, and a request that replays SHA-1 uses only checked entries.
 *
 * Ownership: an entry in the table is immutable while anyone holds a
 * reference; it is only extended after being taken out of the table with
 * no references, and freed by the last release once out of the table.
 */
#define RT_CACHE_SLOTS		8
#define RT_CACHE_MAX_TEXT	(16u << 20)	/* larger logs: not kept */
#define RT_MAX_SEGS		32

struct rt_seg {
	struct ima_log	*log;
	size_t		 line0;		/* lines before this segment */
};

struct rt_ent {
	char		*text;
	size_t		 len;
	size_t		 nlines;	/* == entries: one per line */
	struct rt_seg	 seg[RT_MAX_SEGS];
	size_t		 nseg;
	struct pcr_set	 rep;		/* unseeded replay, banks done */
	int		 checked;	/* template hashes checked */
	unsigned	 refs;
	int		 in_table;
	uint64_t	 used;
};

static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rt_ent *rt_table[RT_CACHE_SLOTS];
static uint64_t rt_tick;

static void
rt_free(struct rt_ent *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nseg; i++)
		imalog_free(r->seg[i].log);
	free(r->text);
	free(r);
}

static void
rt_release(struct rt_ent *r)
{
	int last;

	if (r == NULL)
		return;
	pthread_mutex_lock(&rt_lock);
	last = --r->refs == 0 && !r->in_table;
	pthread_mutex_unlock(&rt_lock);
	if (last)
		rt_free(r);
}

/* Add a parsed segment; replay it on top of every bank already replayed. */
static void
rt_add_seg(struct rt_ent *r, struct ima_log *log)
{
	size_t b;

	r->seg[r->nseg].log = log;
	r->seg[r->nseg].line0 = r->nlines;
	r->nseg++;
	r->nlines += imalog_count(log);
	for (b = 0; b < r->rep.nbanks; b++)
		if (imalog_replay(log, r->rep.bank[b].alg, &r->rep, NULL) < 0) {
			r->rep.nbanks = 0;	/* recomputed on demand */
			break;
		}
}

/* Replay banks algs[] not yet in r->rep (r exclusively owned). */
static void
rt_replay_into(struct rt_ent *r, const uint16_t *algs, size_t nalgs)
{
	struct pcr_set tmp;
	size_t i, k;

	for (i = 0; i < nalgs; i++) {
		if (pcr_set_bank_const(&r->rep, algs[i]) != NULL)
			continue;
		tmp = r->rep;
		for (k = 0; k < r->nseg; k++)
			if (imalog_replay(r->seg[k].log, algs[i], &tmp,
			    NULL) < 0)
				break;
		if (k == r->nseg)
			r->rep = tmp;
	}
}

static void
rt_publish(struct rt_ent *r)
{
	size_t i, victim = RT_CACHE_SLOTS;

	if (r->len > RT_CACHE_MAX_TEXT)
		return;
	pthread_mutex_lock(&rt_lock);
	for (i = 0; i < RT_CACHE_SLOTS; i++) {
		if (rt_table[i] == NULL) {
			victim = i;
			break;
		}
		if (rt_table[i]->refs == 0 && (victim == RT_CACHE_SLOTS ||
		    rt_table[i]->used < rt_table[victim]->used))
			victim = i;
	}
	if (victim < RT_CACHE_SLOTS) {
		struct rt_ent *old = rt_table[victim];

		rt_table[victim] = r;
		r->in_table = 1;
		r->used = ++rt_tick;
		pthread_mutex_unlock(&rt_lock);
		rt_free(old);	/* refs == 0: nobody else holds it */
		return;
	}
	pthread_mutex_unlock(&rt_lock);
}

/*
 * The parsed runtime log for text, with a reference (rt_release it), its
 * replay done for algs where possible.  NULL and *e if it does not parse.
 */
static struct rt_ent *
rt_get(const char *text, size_t len, const uint16_t *algs, size_t nalgs,
    int use_cache, struct vouch_err *e)
{
	struct rt_ent *r = NULL;
	struct ima_log *log;
	size_t i;
	int check = 0;

	for (i = 0; i < nalgs; i++)
		if (algs[i] == PCR_ALG_SHA1)
			check = 1;
	if (!use_cache)
		goto fresh;
	pthread_mutex_lock(&rt_lock);
	for (i = 0; i < RT_CACHE_SLOTS; i++) {
		struct rt_ent *t = rt_table[i];

		if (t != NULL && (t->checked || !check) && t->len == len &&
		    memcmp(t->text, text, len) == 0) {
			t->refs++;
			t->used = ++rt_tick;
			pthread_mutex_unlock(&rt_lock);
			return t;
		}
	}
	/* A cached prefix ending on a line, free to take: extend it. */
	for (i = 0; i < RT_CACHE_SLOTS; i++) {
		struct rt_ent *t = rt_table[i];

		if (t != NULL && (t->checked || !check) && t->refs == 0 &&
		    t->len > 0 && t->len < len &&
		    t->nseg < RT_MAX_SEGS && text[t->len - 1] == '\n' &&
		    memcmp(t->text, text, t->len) == 0) {
			rt_table[i] = NULL;
			t->in_table = 0;
			r = t;
			break;
		}
	}
	pthread_mutex_unlock(&rt_lock);

	if (r != NULL) {
		char *nt;

		/* The new lines as checked as the old: r->checked holds. */
		if (imalog_parse_ex(text + r->len, len - r->len, r->checked ?
		    0 : IMALOG_SKIP_TEMPLATE_CHECK, &log, NULL) == 0) {
			if ((nt = realloc(r->text, len + 1)) != NULL) {
				r->text = nt;
				memcpy(r->text + r->len, text + r->len,
				    len - r->len);
				r->text[len] = '\0';
				r->len = len;
				rt_add_seg(r, log);
				goto ready;
			}
			imalog_free(log);
		}
		/* Parse it whole below: its errors name the right line. */
		rt_free(r);
		r = NULL;
	}
fresh:
	if (imalog_parse_ex(text, len, check ? 0 : IMALOG_SKIP_TEMPLATE_CHECK,
	    &log, e) < 0)
		return NULL;
	/* The text is kept only to be compared by a later lookup. */
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (use_cache && (r->text = malloc(len + 1)) == NULL)) {
		free(r);
		imalog_free(log);
		vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		return NULL;
	}
	if (use_cache) {
		memcpy(r->text, text, len);
		r->text[len] = '\0';
	}
	r->len = len;
	r->checked = check;
	rt_add_seg(r, log);
ready:
	rt_replay_into(r, algs, nalgs);
	r->refs = 1;
	if (use_cache)
		rt_publish(r);	/* else in_table == 0: rt_release frees it */
	return r;
}

/* Entry i of the whole log (segments in order). */
static const struct ima_entry *
rt_entry(const struct rt_ent *r, size_t i, size_t *line)
{
	size_t k;

	for (k = 0; k + 1 < r->nseg && i >= r->seg[k + 1].line0; k++)
		;
	*line = r->seg[k].line0 +
	    imalog_get(r->seg[k].log, i - r->seg[k].line0)->line;
	return imalog_get(r->seg[k].log, i - r->seg[k].line0);
}

/*
 * The replayed bank alg: the cached one, or (seeded by a boot value, or
 * not cached) replayed now into *tmp.  NULL with *e on failure.
 */
static const struct pcr_bank *
rt_bank(const struct rt_ent *r, uint16_t alg, const struct pcr_set *seed,
    struct pcr_set *tmp, struct vouch_err *e)
{
	const struct pcr_bank *b;
	size_t k;

	if (seed == NULL && (b = pcr_set_bank_const(&r->rep, alg)) != NULL)
		return b;
	if (seed != NULL)
		*tmp = *seed;
	else
		tmp->nbanks = 0;
	for (k = 0; k < r->nseg; k++)
		if (imalog_replay(r->seg[k].log, alg, tmp, e) < 0)
			return NULL;
	return pcr_set_bank_const(tmp, alg);
}

/* ---- logs --------------------------------------------------------------- */

/* Which source explains a quoted (bank, PCR). */
enum owner { OWN_EVENTLOG, OWN_RUNTIME, OWN_PINNED };

struct ctx {
	const struct verify_input	*in;
	const struct evidence		*ev;
	uint32_t			 rt_pcr;
	struct eventlog			*elog;		/* NULL: none/bad */
	int				 elog_ok;	/* replayed */
	struct pcr_set			 boot;		/* its replay */
	struct rt_ent			*rlog;		/* NULL: none/bad */
};

static enum owner
owner(const struct ctx *c, uint16_t alg, uint32_t pcr)
{
	const uint8_t *v;

	if (c->in->policy != NULL &&
	    policy_pcr_value(c->in->policy, alg, pcr, &v))
		return OWN_PINNED;
	if (pcr == c->rt_pcr && c->ev->runtime_log != NULL)
		return OWN_RUNTIME;
	return OWN_EVENTLOG;
}

/* What a PCR holds after TPM2_Startup(CLEAR): zero, -1 for 17..22. */
static void
initial_value(uint32_t pcr, size_t size, uint8_t *out)
{
	memset(out, pcr >= 17 && pcr <= 22 ? 0xff : 0x00, size);
}

/* Value the evidence gives for a quoted (bank, PCR), or NULL. */
static const uint8_t *
ev_value(const struct evidence *ev, uint16_t alg, uint32_t pcr)
{
	const struct pcr_bank *pb = pcr_set_bank_const(&ev->pcrs, alg);

	if (pb == NULL || !(pb->set & (1u << pcr)))
		return NULL;
	return pb->v[pcr];
}

static void
check_eventlog(struct ctx *c, struct verify_result *res)
{
	const struct evidence *ev = c->ev;
	struct vouch_err why = VOUCH_ERR_INIT;
	uint8_t init[PCR_DIGEST_MAX];
	size_t b;
	uint32_t k;
	int need = 0;

	for (b = 0; b < ev->sel.nbanks; b++)
		for (k = 0; k < PCR_NUM; k++)
			if ((ev->sel.bank[b].mask & (1u << k)) &&
			    owner(c, ev->sel.bank[b].alg, k) == OWN_EVENTLOG)
				need = 1;
	if (ev->event_log == NULL) {
		if (!need) {
			skip(res, VERIFY_EVENTLOG, "no event log, and no "
			    "quoted PCR needs one");
			return;
		}
	} else if (eventlog_parse(ev->event_log, ev->event_log_len, &c->elog,
	    &why) < 0) {
		c->elog = NULL;
		reason(res, VERIFY_EVENTLOG, "event log malformed: %s",
		    why.msg);
		return;
	} else if (eventlog_replay(c->elog, &c->boot, &why) < 0) {
		reason(res, VERIFY_EVENTLOG, "event log does not replay: %s",
		    why.msg);
		return;
	} else
		c->elog_ok = 1;
	ran(res, VERIFY_EVENTLOG);

	for (b = 0; b < ev->sel.nbanks; b++) {
		const uint16_t alg = ev->sel.bank[b].alg;
		const struct pcr_alg *a = pcr_alg_by_id(alg);
		const struct pcr_bank *rb = NULL;
		int nobank = 0;

		if (a == NULL)
			continue;
		if (c->elog_ok)
			rb = pcr_set_bank_const(&c->boot, alg);
		for (k = 0; k < PCR_NUM; k++) {
			const uint8_t *want, *got;

			if (!(ev->sel.bank[b].mask & (1u << k)) ||
			    owner(c, alg, k) != OWN_EVENTLOG ||
			    (got = ev_value(ev, alg, k)) == NULL)
				continue;
			initial_value(k, a->size, init);
			if (c->elog_ok && rb == NULL) {
				/* Only a PCR at its initial value needs no log. */
				if (ct_equal(got, init, a->size))
					continue;
				if (!nobank++)
					reason(res, VERIFY_EVENTLOG,
					    "%s PCR %u not explained by any "
					    "log: the event log has no %s bank",
					    a->name, k, a->name);
				continue;
			}
			want = (rb != NULL && (rb->set & (1u << k))) ?
			    rb->v[k] : init;
			if (ct_equal(got, want, a->size))
				continue;
			if (rb != NULL && (rb->set & (1u << k)))
				reason(res, VERIFY_EVENTLOG,
				    "%s PCR %u: event log replays to %s, the "
				    "quote has %s", a->name, k,
				    pfx(want, a->size).s, pfx(got, a->size).s);
			else
				reason(res, VERIFY_EVENTLOG,
				    "%s PCR %u not explained by any log: %s, "
				    "and its value %s is not the initial %s",
				    a->name, k, c->elog_ok ? "no event log "
				    "entry extends it" : "the evidence has no "
				    "event log", pfx(got, a->size).s,
				    pfx(init, a->size).s);
		}
	}
}

static void
check_runtime_log(struct ctx *c, struct verify_result *res)
{
	const struct evidence *ev = c->ev;
	struct vouch_err why = VOUCH_ERR_INIT;
	struct pcr_set rs, seed;
	uint16_t algs[PCR_BANKS_MAX];
	size_t b, i, n, line, nalgs = 0, stray = 0;
	uint32_t bit = 1u << c->rt_pcr;
	int quoted = 0;

	if (ev->runtime_log == NULL) {
		skip(res, VERIFY_RUNTIME_LOG, "no runtime log in the evidence");
		return;
	}
	ran(res, VERIFY_RUNTIME_LOG);
	for (b = 0; b < ev->sel.nbanks; b++)
		if ((ev->sel.bank[b].mask & bit) &&
		    owner(c, ev->sel.bank[b].alg, c->rt_pcr) == OWN_RUNTIME)
			algs[nalgs++] = ev->sel.bank[b].alg;
	if ((c->rlog = rt_get(ev->runtime_log, ev->runtime_log_len, algs,
	    nalgs, !c->in->no_cache, &why)) == NULL) {
		reason(res, VERIFY_RUNTIME_LOG, "runtime log malformed: %s",
		    why.msg);
		return;
	}
	n = c->rlog->nlines;
	for (i = 0; i < n; i++) {
		const struct ima_entry *ent = rt_entry(c->rlog, i, &line);

		if (ent->pcr != c->rt_pcr && stray++ == 0)
			reason(res, VERIFY_RUNTIME_LOG,
			    "runtime log line %zu (%s) extends PCR %u, not "
			    "the runtime PCR %u", line,
			    safe_str(ent->path).s, ent->pcr, c->rt_pcr);
	}
	if (stray > 1)
		reason(res, VERIFY_RUNTIME_LOG,
		    "%zu runtime log lines in all extend a PCR other than %u",
		    stray, c->rt_pcr);
	for (b = 0; b < ev->sel.nbanks; b++) {
		const uint16_t alg = ev->sel.bank[b].alg;
		const struct pcr_alg *a = pcr_alg_by_id(alg);
		const struct pcr_bank *bb, *rb;
		struct pcr_bank *sb;
		const uint8_t *got;
		int seeded = 0;

		if (!(ev->sel.bank[b].mask & bit) || a == NULL)
			continue;
		quoted = 1;
		if (owner(c, alg, c->rt_pcr) != OWN_RUNTIME ||
		    (got = ev_value(ev, alg, c->rt_pcr)) == NULL)
			continue;
		/*
		 * Runtime entries extend on top of whatever boot events put in
		 * the same PCR; the replay starts from the event log's value.
		 */
		if (c->elog_ok &&
		    (bb = pcr_set_bank_const(&c->boot, alg)) != NULL &&
		    (bb->set & bit)) {
			seed.nbanks = 0;
			if ((sb = pcr_set_bank_add(&seed, alg, &why)) == NULL) {
				reason(res, VERIFY_RUNTIME_LOG, "%s", why.msg);
				continue;
			}
			memcpy(sb->v[c->rt_pcr], bb->v[c->rt_pcr], a->size);
			sb->set |= bit;
			seeded = 1;
		}
		why.code = 0;
		if ((rb = rt_bank(c->rlog, alg, seeded ? &seed : NULL, &rs,
		    &why)) == NULL && why.code != 0) {
			reason(res, VERIFY_RUNTIME_LOG,
			    "runtime log does not replay in %s: %s", a->name,
			    why.msg);
			continue;
		}
		if (rb == NULL || !(rb->set & bit)) {
			uint8_t init[PCR_DIGEST_MAX];

			initial_value(c->rt_pcr, a->size, init);
			if (!ct_equal(got, init, a->size))
				reason(res, VERIFY_RUNTIME_LOG,
				    "%s PCR %u: the runtime log has no entry "
				    "for it, but it holds %s", a->name,
				    c->rt_pcr, pfx(got, a->size).s);
			continue;
		}
		if (!ct_equal(got, rb->v[c->rt_pcr], a->size))
			reason(res, VERIFY_RUNTIME_LOG,
			    "%s PCR %u: runtime log (%zu entries) replays to "
			    "%s, the quote has %s", a->name, c->rt_pcr, n,
			    pfx(rb->v[c->rt_pcr], a->size).s,
			    pfx(got, a->size).s);
	}
	if (!quoted)
		reason(res, VERIFY_RUNTIME_LOG,
		    "the evidence has a runtime log but the runtime PCR %u is "
		    "not quoted: the log is not bound to the quote", c->rt_pcr);
}

/* ---- reference values --------------------------------------------------- */

static void
refvals_pinned(const struct ctx *c, struct verify_result *res)
{
	const struct evidence *ev = c->ev;
	const uint8_t *want, *got;
	size_t b;
	uint32_t k;

	for (b = 0; b < ev->sel.nbanks; b++) {
		const uint16_t alg = ev->sel.bank[b].alg;
		const struct pcr_alg *a = pcr_alg_by_id(alg);

		for (k = 0; a != NULL && k < PCR_NUM; k++) {
			if (!(ev->sel.bank[b].mask & (1u << k)) ||
			    !policy_pcr_value(c->in->policy, alg, k, &want) ||
			    (got = ev_value(ev, alg, k)) == NULL)
				continue;
			if (!ct_equal(got, want, a->size))
				reason(res, VERIFY_REFVALS,
				    "%s PCR %u: value %s is not the policy's "
				    "pinned value %s", a->name, k,
				    pfx(got, a->size).s, pfx(want, a->size).s);
		}
	}
}

static void
refvals_boot(const struct ctx *c, struct verify_result *res)
{
	const struct evidence *ev = c->ev;
	const struct policy *p = c->in->policy;
	const uint32_t ignore = policy_ignore_mask(p);
	uint32_t norefs = 0;	/* bit per bank index: reported once */
	size_t i, n, b, j;
	char desc[80];

	n = eventlog_count(c->elog);
	for (i = 1; i < n; i++) {
		const struct eventlog_event *e = eventlog_get(c->elog, i);
		const uint32_t bit = e->pcr < PCR_NUM ? 1u << e->pcr : 0;

		if (e->type == EV_NO_ACTION || bit == 0 || (ignore & bit))
			continue;
		for (b = 0; b < ev->sel.nbanks; b++) {
			const uint16_t alg = ev->sel.bank[b].alg;
			const uint8_t *d = NULL, *v;

			if (!(ev->sel.bank[b].mask & bit) ||
			    policy_pcr_value(p, alg, e->pcr, &v))
				continue;
			if (!policy_has_boot_alg(p, alg)) {
				if (!(norefs & (1u << b)))
					reason(res, VERIFY_REFVALS,
					    "the policy has no %s boot "
					    "reference values, but event log "
					    "entries extend quoted %s PCRs "
					    "(first: entry %zu, PCR %u)",
					    alg_name(alg), alg_name(alg), i,
					    e->pcr);
				norefs |= 1u << b;
				continue;
			}
			for (j = 0; j < e->ndigests; j++)
				if (e->digests[j].alg == alg)
					d = e->digests[j].d;
			if (d != NULL && policy_boot_known(p, e->pcr, alg, d))
				continue;
			/* Described only on failure: it costs. */
			eventlog_describe(e, desc, sizeof(desc));
			if (d == NULL)
				reason(res, VERIFY_REFVALS,
				    "event log entry %zu (PCR %u, %s): no %s "
				    "digest to appraise", i, e->pcr,
				    safe_str(desc).s, alg_name(alg));
			else {
				const char *tn = eventlog_type_name(e->type);
				char tbuf[16];

				if (tn == NULL) {
					snprintf(tbuf, sizeof(tbuf), "0x%08x",
					    e->type);
					tn = tbuf;
				}
				reason(res, VERIFY_REFVALS,
				    "event log entry %zu (PCR %u, %s, \"%s\"): "
				    "%s digest %s not in the reference values",
				    i, e->pcr, tn, safe_str(desc).s,
				    alg_name(alg), pfx(d,
				    pcr_alg_by_id(alg)->size).s);
			}
		}
	}
}

static void
refvals_runtime(const struct ctx *c, struct verify_result *res)
{
	const struct policy *p = c->in->policy;
	size_t i, line, n = c->rlog->nlines;

	for (i = 0; i < n; i++) {
		const struct ima_entry *ent = rt_entry(c->rlog, i, &line);
		const struct pcr_alg *a = pcr_alg_by_id(ent->file_alg);

		if (ent->pcr != c->rt_pcr)
			continue;
		if (ima_entry_is_violation(ent)) {
			reason(res, VERIFY_REFVALS,
			    "runtime log line %zu: %s: measurement violation "
			    "(file changed while measured), cannot be "
			    "appraised", line, safe_str(ent->path).s);
			continue;
		}
		switch (policy_runtime_check(p, ent->path, ent->file_alg,
		    ent->file_digest)) {
		case POLICY_RT_OK:
			break;
		case POLICY_RT_UNKNOWN_PATH:
			reason(res, VERIFY_REFVALS,
			    "runtime log line %zu: %s is not in the reference "
			    "values (unknown path)", line,
			    safe_str(ent->path).s);
			break;
		case POLICY_RT_MISMATCH:
		default:
			reason(res, VERIFY_REFVALS,
			    "runtime log line %zu: %s: %s digest %s matches "
			    "none of its reference values", line,
			    safe_str(ent->path).s, a ? a->name : "?",
			    pfx(ent->file_digest, a ? a->size : 0).s);
			break;
		}
	}
}

static void
check_refvals(const struct ctx *c, struct verify_result *res)
{
	const struct evidence *ev = c->ev;
	size_t b;
	int rt_bound = 0;

	if (c->in->policy == NULL) {
		skip(res, VERIFY_REFVALS, "no policy");
		return;
	}
	ran(res, VERIFY_REFVALS);
	refvals_pinned(c, res);
	if (c->elog != NULL)
		refvals_boot(c, res);
	/* Appraise the runtime log only where it explains a quoted PCR. */
	for (b = 0; b < ev->sel.nbanks; b++)
		if ((ev->sel.bank[b].mask & (1u << c->rt_pcr)) &&
		    owner(c, ev->sel.bank[b].alg, c->rt_pcr) == OWN_RUNTIME)
			rt_bound = 1;
	if (c->rlog != NULL && rt_bound)
		refvals_runtime(c, res);
}

/* ---- replay history ----------------------------------------------------- */

struct hist_ent {
	uint8_t		fp[32];
	uint64_t	clock;
	uint32_t	reset;
	uint32_t	restart;
};

struct verify_history {
	char		*path;
	struct hist_ent	*ent;		/* sorted by fp */
	size_t		 n, cap;
	EVP_PKEY	*fp_key;	/* referenced: whose fp is cached */
	uint8_t		 fp_cache[32];
};

static int
ak_fingerprint(struct verify_history *h, EVP_PKEY *ak, uint8_t fp[32])
{
	unsigned char *der = NULL;
	int n;

	if (h->fp_key == ak) {
		memcpy(fp, h->fp_cache, 32);
		return 0;
	}
	if ((n = i2d_PUBKEY(ak, &der)) <= 0 || sha256() == NULL ||
	    EVP_Digest(der, (size_t)n, fp, NULL, sha256(), NULL) != 1) {
		OPENSSL_free(der);
		ERR_clear_error();
		return -1;
	}
	OPENSSL_free(der);
	if (EVP_PKEY_up_ref(ak) == 1) {
		EVP_PKEY_free(h->fp_key);
		h->fp_key = ak;
		memcpy(h->fp_cache, fp, 32);
	}
	return 0;
}

/* Index of fp, or -(insertion point) - 1. */
static long
hist_find(const struct verify_history *h, const uint8_t fp[32])
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(h->ent[mid].fp, fp, 32);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int
hist_insert(struct verify_history *h, size_t at, const struct hist_ent *ent)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		struct hist_ent *ne;

		if (h->n >= HISTORY_MAX_AKS)
			return VOUCH_E_LIMIT;
		if ((ne = realloc(h->ent, cap * sizeof(*ne))) == NULL)
			return VOUCH_E_NOMEM;
		h->ent = ne;
		h->cap = cap;
	}
	memmove(&h->ent[at + 1], &h->ent[at], (h->n - at) * sizeof(*ent));
	h->ent[at] = *ent;
	h->n++;
	return 0;
}

void
verify_history_free(struct verify_history *h)
{
	if (h == NULL)
		return;
	EVP_PKEY_free(h->fp_key);
	free(h->ent);
	free(h->path);
	free(h);
}

/* Canonical unsigned decimal (no sign, no leading zero) up to max. */
static int
parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* "<64 hex> <clock> <reset> <restart>": one line, without its LF. */
static int
hist_parse_line(const char *s, size_t n, struct hist_ent *ent)
{
	const char *f[4];
	size_t fl[4], k = 0, i, start = 0;
	uint64_t v;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != ' ')
			continue;
		if (k == 4)
			return -1;
		f[k] = s + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	if (k != 4 || fl[0] != 64)
		return -1;
	for (i = 0; i < 64; i++)
		if (!((f[0][i] >= '0' && f[0][i] <= '9') ||
		    (f[0][i] >= 'a' && f[0][i] <= 'f')))
			return -1;
	for (i = 0; i < 32; i++) {
		unsigned hi = (unsigned)(f[0][2 * i] <= '9' ? f[0][2 * i] - '0' :
		    f[0][2 * i] - 'a' + 10);
		unsigned lo = (unsigned)(f[0][2 * i + 1] <= '9' ?
		    f[0][2 * i + 1] - '0' : f[0][2 * i + 1] - 'a' + 10);
		ent->fp[i] = (uint8_t)(hi << 4 | lo);
	}
	if (parse_dec(f[1], fl[1], UINT64_MAX, &ent->clock) < 0)
		return -1;
	if (parse_dec(f[2], fl[2], UINT32_MAX, &v) < 0)
		return -1;
	ent->reset = (uint32_t)v;
	if (parse_dec(f[3], fl[3], UINT32_MAX, &v) < 0)
		return -1;
	ent->restart = (uint32_t)v;
	return 0;
}

int
verify_history_load(const char *path, struct verify_history **out,
    struct vouch_err *e)
{
	struct verify_history *h;
	uint8_t *buf = NULL;
	size_t len = 0, off, line = 0;
	FILE *f;
	int r;

	if (path == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "history: no path");
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->path = strdup(path)) == NULL) {
		free(h);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	/* A missing file is an empty history; anything else must read. */
	if ((f = fopen(path, "r")) == NULL) {
		*out = h;
		return 0;
	}
	fclose(f);
	if ((r = file_read(path, HISTORY_MAX_FILE, &buf, &len, e)) < 0) {
		verify_history_free(h);
		return r;
	}
	for (off = 0; off < len; ) {
		const char *s = (const char *)buf + off;
		const char *nl = memchr(s, '\n', len - off);
		struct hist_ent ent;
		size_t n;
		long at;

		line++;
		if (nl == NULL) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s:%zu: last line has no newline (truncated?)",
			    path, line);
			goto fail;
		}
		n = (size_t)(nl - s);
		off += n + 1;
		if (n > 0 && s[0] == '#')
			continue;
		if (hist_parse_line(s, n, &ent) < 0) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s:%zu: expected '<64 lower-case hex> CLOCK RESET "
			    "RESTART' (decimal)", path, line);
			goto fail;
		}
		if ((at = hist_find(h, ent.fp)) >= 0) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s:%zu: AK listed twice", path, line);
			goto fail;
		}
		if ((r = hist_insert(h, (size_t)(-at - 1), &ent)) < 0) {
			vouch_err_set(e, r, "%s:%zu: %s", path, line,
			    r == VOUCH_E_LIMIT ? "more than 65536 AKs" :
			    "out of memory");
			goto fail;
		}
	}
	free(buf);
	*out = h;
	return 0;
fail:
	free(buf);
	verify_history_free(h);
	return r;
}

int
verify_history_save(const struct verify_history *h, struct vouch_err *e)
{
	const size_t linemax = 64 + 3 * 21 + 2;
	char *buf, *p, hex[65];
	size_t i, cap;
	int r;

	if (h == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "history: NULL");
	cap = sizeof(HISTORY_HEADER) + h->n * linemax;
	if ((buf = malloc(cap)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	p = buf;
	memcpy(p, HISTORY_HEADER, sizeof(HISTORY_HEADER) - 1);
	p += sizeof(HISTORY_HEADER) - 1;
	for (i = 0; i < h->n; i++) {
		hex_encode(h->ent[i].fp, 32, hex);
		p += snprintf(p, linemax, "%s %llu %lu %lu\n", hex,
		    (unsigned long long)h->ent[i].clock,
		    (unsigned long)h->ent[i].reset,
		    (unsigned long)h->ent[i].restart);
	}
	r = file_write_atomic(h->path, buf, (size_t)(p - buf), 0600, e);
	free(buf);
	return r;
}

static void
check_counters(const struct verify_input *in, const struct quote_attest *q,
    struct verify_result *res, struct hist_ent *next, long *slot)
{
	const struct hist_ent *last;
	struct verify_history *h = in->history;
	long at;

	ran(res, VERIFY_COUNTERS);
	if (ak_fingerprint(h, in->ak, next->fp) < 0) {
		reason(res, VERIFY_COUNTERS,
		    "cannot compute the AK's fingerprint (OpenSSL failure)");
		return;
	}
	next->clock = q->clock;
	next->reset = q->reset_count;
	next->restart = q->restart_count;
	*slot = at = hist_find(h, next->fp);
	if (at < 0)
		return;		/* first quote of this AK: nothing to compare */
	last = &h->ent[at];
	if (next->reset < last->reset)
		reason(res, VERIFY_COUNTERS,
		    "resetCount went backwards: %u < %u last accepted "
		    "(replayed quote or TPM state rolled back)", next->reset,
		    last->reset);
	else if (next->reset > last->reset) {
		res->reboot = 1;
		if (in->ev->event_log == NULL)
			reason(res, VERIFY_COUNTERS,
			    "the TPM was reset (resetCount %u > %u last "
			    "accepted) but the evidence has no event log: a "
			    "reboot demands the full boot log", next->reset,
			    last->reset);
	} else if (next->restart < last->restart)
		reason(res, VERIFY_COUNTERS,
		    "restartCount went backwards: %u < %u last accepted "
		    "(replayed quote?)", next->restart, last->restart);
	else if (next->restart == last->restart && next->clock <= last->clock)
		reason(res, VERIFY_COUNTERS,
		    "quote not newer than the last accepted (replayed?): "
		    "clock %llu <= %llu at resetCount %u restartCount %u",
		    (unsigned long long)next->clock,
		    (unsigned long long)last->clock, next->reset, next->restart);
}

/* ---- the checklist ------------------------------------------------------ */

int
verify_evidence(const struct verify_input *in, struct verify_result *res,
    struct vouch_err *e)
{
	const struct evidence *ev;
	struct quote_attest q;
	struct ctx c;
	struct hist_ent next;
	struct vouch_err why = VOUCH_ERR_INIT;
	long slot = 0;
	int parsed, keytype, r;

	if (in == NULL || res == NULL || in->ev == NULL || in->ak == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "verify: no evidence or no AK");
	if (in->nonce == NULL || in->nonce_len == 0 ||
	    in->nonce_len > EVIDENCE_MAX_NONCE)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "verify: the expected nonce must be 1..%d bytes",
		    EVIDENCE_MAX_NONCE);
	ev = in->ev;
	if (ev->attest == NULL || ev->sig == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "verify: the evidence has no quote");
	result_reset(res);
	keytype = EVP_PKEY_get_base_id(in->ak);

	check_signature(in, keytype, res);

	ran(res, VERIFY_ATTEST);
	parsed = quote_attest_parse(ev->attest, ev->attest_len, &q,
	    &why) == 0;
	if (!parsed) {
		reason(res, VERIFY_ATTEST, "TPMS_ATTEST malformed: %s",
		    why.msg);
		skip(res, VERIFY_NONCE, "the quote could not be parsed");
		skip(res, VERIFY_PCR_SELECT, "the quote could not be parsed");
		skip(res, VERIFY_PCR_DIGEST, "the quote could not be parsed");
	} else {
		res->counters.clock = q.clock;
		res->counters.reset_count = q.reset_count;
		res->counters.restart_count = q.restart_count;
		res->counters.safe = q.safe;
		res->counters.firmware_version = q.firmware_version;
		check_nonce(in, &q, res);
		check_pcr_select(in, &q, res);
		check_pcr_digest(in, &q, res);
	}

	c.in = in;
	c.ev = ev;
	c.rt_pcr = in->policy != NULL ? policy_runtime_pcr(in->policy) :
	    VERIFY_DEFAULT_RT_PCR;
	if (c.rt_pcr >= PCR_NUM)
		c.rt_pcr = VERIFY_DEFAULT_RT_PCR;
	c.elog = NULL;
	c.elog_ok = 0;
	c.boot.nbanks = 0;
	c.rlog = NULL;
	check_eventlog(&c, res);
	check_runtime_log(&c, res);
	check_refvals(&c, res);

	if (in->history == NULL)
		skip(res, VERIFY_COUNTERS, "no history: replay protection "
		    "off");
	else if (!parsed)
		skip(res, VERIFY_COUNTERS, "the quote could not be parsed");
	else
		check_counters(in, &q, res, &next, &slot);

	eventlog_free(c.elog);
	rt_release(c.rlog);

	res->pass = parsed && res->nreasons == 0 && res->dropped == 0;
	if (res->pass && in->history != NULL) {
		if (slot >= 0)
			in->history->ent[slot] = next;
		else if ((r = hist_insert(in->history, (size_t)(-slot - 1),
		    &next)) < 0) {
			/* Accepting without recording would reopen replay. */
			res->pass = 0;
			reason(res, VERIFY_COUNTERS,
			    "cannot record the accepted counters: %s",
			    vouch_strerror(r));
		}
	}
	return 0;
}

/* ---- keys --------------------------------------------------------------- */

int
verify_load_pubkey(const char *path, EVP_PKEY **out, struct vouch_err *e)
{
	EVP_PKEY *k = NULL;
	uint8_t *buf;
	size_t len;
	BIO *bio;
	int r, type;

	if ((r = file_read(path, AK_PEM_MAX, &buf, &len, e)) < 0)
		return r;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL) {
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	free(buf);
	ERR_clear_error();
	if (k == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: not a PEM public key (-----BEGIN PUBLIC KEY-----)",
		    path);
	type = EVP_PKEY_get_base_id(k);
	if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(k) < AK_RSA_MIN_BITS) {
		r = vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "%s: RSA key of %d bits, at least %d required", path,
		    EVP_PKEY_get_bits(k), AK_RSA_MIN_BITS);
		EVP_PKEY_free(k);
		return r;
	}
	if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "%s: the AK must be an EC or RSA key", path);
	}
	*out = k;
	return 0;
}
