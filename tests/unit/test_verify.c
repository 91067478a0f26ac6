/*
 * Unit tests: attest/verify.c - the checklist, one test per reason.
 *
 * The quotes here are test fixtures for the verifier's parser: a
 * TPMS_ATTEST marshalled by the test and signed with OpenSSL keys (P-256
 * and RSA-2048), with a firmware event log, an ima-ng runtime log and a
 * policy built to match.  Real TPM quotes are covered by
 * tests/integration/verify.sh and interop.sh.  Expected PCR values are
 * computed here by extending by hand, not by the replay code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/util.h"
#include "measure/eventlog.h"
#include "measure/imalog.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/verify.h"

#define ALG_RSASSA	0x0014
#define ALG_RSAPSS	0x0016
#define ALG_ECDSA	0x0018

static EVP_PKEY *ec_key, *ec_key2, *rsa_key;

/* ---- byte writer ---- */

struct wbuf {
	uint8_t	b[8192];
	size_t	n;
};

static void
put(struct wbuf *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
put_be(struct wbuf *w, uint64_t v, size_t n)
{
	uint8_t t[8];
	size_t i;

	for (i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	put(w, t, n);
}

static void
put_le(struct wbuf *w, uint64_t v, size_t n)
{
	uint8_t t[8];
	size_t i;

	for (i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	put(w, t, n);
}

static void
put_tpm2b(struct wbuf *w, const void *p, size_t n)
{
	put_be(w, n, 2);
	put(w, p, n);
}

static void
sha256_of(const void *p, size_t n, uint8_t out[32])
{
	assert_int_equal(pcr_hash(PCR_ALG_SHA256, p, n, out, NULL), 0);
}

/* ---- the fixture ---- */

#define NEVENTS		11
#define NRT		5

static const struct {
	uint32_t	pcr, type;
	const char	*data;
} events[NEVENTS] = {
	{ 0, EV_S_CRTM_VERSION, "crtm-1.0" },
	{ 0, EV_POST_CODE, "bios" },
	{ 0, EV_NO_ACTION, "not extended" },
	{ 1, EV_PLATFORM_CONFIG_FLAGS, "flags" },
	{ 4, EV_EFI_BOOT_SERVICES_APPLICATION, "grubx64.efi" },
	{ 4, EV_IPL, "xen.gz" },
	{ 0, EV_SEPARATOR, "\0\0\0" },
	{ 1, EV_SEPARATOR, "\0\0\0" },
	{ 4, EV_SEPARATOR, "\0\0\0" },
	{ 5, EV_SEPARATOR, "\0\0\0" },
	{ 7, EV_SEPARATOR, "\0\0\0" },
};

static const char *const rt_paths[NRT] = {
	"/boot/xen.gz", "/usr/sbin/xl", "/usr/lib/xen/bin/qemu",
	"/etc/xen/xl.conf", "/usr/sbin/xenstored",
};

/* Runtime log lines the next fx_init builds (a prefix of rt_paths). */
static size_t fx_nrt = NRT;

struct fx {
	EVP_PKEY	*key;
	int		 rsa;
	uint8_t		 nonce[32];
	struct pcr_set	 truth;		/* what the "TPM" holds */
	struct wbuf	 elog;
	char		 rlog[4096];
	size_t		 rlog_len;
	uint8_t		 ev_digest[NEVENTS][32];
	uint8_t		 rt_digest[NRT][32];
	/* quote fields, changed by tests before fx_quote() */
	uint32_t	 magic;
	uint16_t	 type;
	uint64_t	 clock;
	uint32_t	 reset, restart;
	uint8_t		 safe;
	uint32_t	 qmask;		/* sha256 PCRs quoted */
	uint16_t	 sigalg, sighash;
	int		 pss;
	size_t		 trailing;
	struct evidence	*ev;
	struct policy	*pol;
};

static void
build_eventlog(struct fx *f)
{
	struct wbuf *w = &f->elog;
	struct pcr_bank *b = pcr_set_bank_add(&f->truth, PCR_ALG_SHA256, NULL);
	static const uint8_t zero[32];
	size_t i;

	assert_non_null(b);
	w->n = 0;
	/* Spec ID header, SHA-1 format. */
	put_le(w, 0, 4);
	put_le(w, EV_NO_ACTION, 4);
	put(w, zero, 20);
	put_le(w, 16 + 4 + 4 + 4 + 4 + 1, 4);
	put(w, "Spec ID Event03", 16);
	put_le(w, 0, 4);		/* platformClass */
	put_le(w, 0, 1);		/* minor */
	put_le(w, 2, 1);		/* major */
	put_le(w, 0, 1);		/* errata */
	put_le(w, 2, 1);		/* uintnSize */
	put_le(w, 1, 4);		/* one algorithm */
	put_le(w, PCR_ALG_SHA256, 2);
	put_le(w, 32, 2);
	put_le(w, 0, 1);		/* vendorInfoSize */
	for (i = 0; i < NEVENTS; i++) {
		size_t len = strlen(events[i].data) + (events[i].type ==
		    EV_SEPARATOR ? 4 : 0);

		if (events[i].type == EV_NO_ACTION)
			memset(f->ev_digest[i], 0, 32);
		else
			sha256_of(events[i].data, len, f->ev_digest[i]);
		put_le(w, events[i].pcr, 4);
		put_le(w, events[i].type, 4);
		put_le(w, 1, 4);
		put_le(w, PCR_ALG_SHA256, 2);
		put(w, f->ev_digest[i], 32);
		put_le(w, len, 4);
		put(w, events[i].data, len);
		if (events[i].type != EV_NO_ACTION) {
			assert_int_equal(pcr_extend(PCR_ALG_SHA256,
			    b->v[events[i].pcr], f->ev_digest[i], NULL), 0);
			b->set |= 1u << events[i].pcr;
		}
	}
}

/* ima-ng template data built by hand: d-ng then n-ng fields. */
static void
build_runtime_log(struct fx *f)
{
	struct pcr_bank *b = pcr_set_bank(&f->truth, PCR_ALG_SHA256);
	size_t i;

	f->rlog_len = 0;
	for (i = 0; i < NRT; i++)
		sha256_of(rt_paths[i], strlen(rt_paths[i]), f->rt_digest[i]);
	for (i = 0; i < fx_nrt; i++) {
		struct ima_entry ent;
		struct wbuf td;
		uint8_t h[32];
		char line[512];

		td.n = 0;
		put_le(&td, 7 + 1 + 32, 4);
		put(&td, "sha256:", 8);
		put(&td, f->rt_digest[i], 32);
		put_le(&td, strlen(rt_paths[i]) + 1, 4);
		put(&td, rt_paths[i], strlen(rt_paths[i]) + 1);
		sha256_of(td.b, td.n, h);
		assert_int_equal(pcr_extend(PCR_ALG_SHA256, b->v[23], h, NULL),
		    0);
		b->set |= 1u << 23;

		assert_int_equal(ima_entry_make(&ent, 23, PCR_ALG_SHA256,
		    f->rt_digest[i], rt_paths[i], NULL), 0);
		assert_int_equal(ima_entry_format(&ent, line, sizeof(line),
		    NULL), 0);
		ima_entry_clear(&ent);
		assert_true(f->rlog_len + strlen(line) < sizeof(f->rlog));
		memcpy(f->rlog + f->rlog_len, line, strlen(line) + 1);
		f->rlog_len += strlen(line);
	}
}

/* Policy text matching the fixture; skip_* leave one value out. */
static struct policy *
make_policy(struct fx *f, const char *pcrs, int skip_boot, int skip_rt,
    const char *extra)
{
	static char text[16384];
	char hex[65];
	size_t off = 0, i;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct policy *p = NULL;
	int first = 1;

#define OUT(...) off += (size_t)snprintf(text + off, sizeof(text) - off, __VA_ARGS__)
	OUT("version = 1;\nname = \"unit\";\n"
	    "attestation = { pcrs = \"%s\"; runtime_pcr = 23; ak = \"%s\"; };\n"
	    "reference = {\n  boot = (", pcrs, f->rsa ? "rsa" : "ecc");
	for (i = 0; i < NEVENTS; i++) {
		if (events[i].type == EV_NO_ACTION || (int)i == skip_boot)
			continue;
		hex_encode(f->ev_digest[i], 32, hex);
		OUT("%s{ pcr = %u; digest = \"sha256:%s\"; }", first ? "" : ",\n",
		    events[i].pcr, hex);
		first = 0;
	}
	OUT(");\n  runtime = (");
	first = 1;
	for (i = 0; i < NRT; i++) {
		if ((int)i == skip_rt)
			continue;
		hex_encode(f->rt_digest[i], 32, hex);
		OUT("%s{ path = \"%s\"; digest = \"sha256:%s\"; }",
		    first ? "" : ",\n", rt_paths[i], hex);
		first = 0;
	}
	OUT(");\n%s};\n", extra ? extra : "");
#undef OUT
	if (policy_load_string("unit", text, &p, &e) != 0)
		fail_msg("policy: %s\n%s", e.msg, text);
	return p;
}

static void
fx_init(struct fx *f, int rsa)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->rsa = rsa;
	f->key = rsa ? rsa_key : ec_key;
	for (i = 0; i < sizeof(f->nonce); i++)
		f->nonce[i] = (uint8_t)(0xa0 + i);
	build_eventlog(f);
	build_runtime_log(f);
	f->magic = 0xff544347;
	f->type = 0x8018;
	f->clock = 1000;
	f->reset = 3;
	f->restart = 1;
	f->safe = 1;
	f->qmask = 0xffu | 1u << 23;
	f->sigalg = rsa ? ALG_RSASSA : ALG_ECDSA;
	f->sighash = PCR_ALG_SHA256;
}

static void
fx_free(struct fx *f)
{
	evidence_free(f->ev);
	policy_free(f->pol);
	f->ev = NULL;
	f->pol = NULL;
}

static void
sign(struct fx *f, const uint8_t *msg, size_t len, struct wbuf *sig)
{
	const EVP_MD *md = f->sighash == PCR_ALG_SHA1 ? EVP_sha1() :
	    EVP_sha256();
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	uint8_t der[1024];
	size_t dl = sizeof(der);

	assert_non_null(m);
	assert_int_equal(EVP_DigestSignInit(m, &pc, md, NULL, f->key), 1);
	if (f->rsa && f->pss)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc,
		    RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_DigestSign(m, der, &dl, msg, len), 1);
	EVP_MD_CTX_free(m);
	sig->n = 0;
	put_be(sig, f->sigalg, 2);
	put_be(sig, f->sighash, 2);
	if (!f->rsa) {
		const uint8_t *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
		uint8_t r[32], s[32];

		assert_non_null(es);
		assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), r, 32), 32);
		assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), s, 32), 32);
		ECDSA_SIG_free(es);
		put_tpm2b(sig, r, 32);
		put_tpm2b(sig, s, 32);
	} else
		put_tpm2b(sig, der, dl);
}

/*
 * The quote: TPMS_ATTEST over the truth's PCRs of qmask, signed; and the
 * evidence carrying it with the truth's values and both logs.
 */
static void
fx_quote(struct fx *f)
{
	const struct pcr_bank *b = pcr_set_bank_const(&f->truth,
	    PCR_ALG_SHA256);
	struct wbuf a, sig, cat;
	uint8_t digest[32];
	static const uint8_t name[34] = { 0x00, 0x0b, 1, 2, 3 };
	int i;

	cat.n = 0;
	for (i = 0; i < PCR_NUM; i++)
		if (f->qmask & (1u << i))
			put(&cat, b->v[i], 32);
	sha256_of(cat.b, cat.n, digest);

	a.n = 0;
	put_be(&a, f->magic, 4);
	put_be(&a, f->type, 2);
	put_tpm2b(&a, name, sizeof(name));
	put_tpm2b(&a, f->nonce, sizeof(f->nonce));
	put_be(&a, f->clock, 8);
	put_be(&a, f->reset, 4);
	put_be(&a, f->restart, 4);
	put_be(&a, f->safe, 1);
	put_be(&a, 0x0001000200030004ull, 8);
	put_be(&a, 1, 4);
	put_be(&a, PCR_ALG_SHA256, 2);
	put_be(&a, 3, 1);
	put_be(&a, f->qmask & 0xff, 1);
	put_be(&a, f->qmask >> 8 & 0xff, 1);
	put_be(&a, f->qmask >> 16 & 0xff, 1);
	put_tpm2b(&a, digest, 32);
	for (i = 0; i < (int)f->trailing; i++)
		put_be(&a, 0, 1);
	sign(f, a.b, a.n, &sig);

	evidence_free(f->ev);
	assert_non_null(f->ev = evidence_new());
	memcpy(f->ev->nonce, f->nonce, sizeof(f->nonce));
	f->ev->nonce_len = sizeof(f->nonce);
	f->ev->sel.nbanks = 1;
	f->ev->sel.bank[0].alg = PCR_ALG_SHA256;
	f->ev->sel.bank[0].mask = f->qmask;
	f->ev->pcrs = f->truth;
	f->ev->pcrs.bank[0].set = f->qmask;
	assert_non_null(f->ev->attest = malloc(a.n));
	memcpy(f->ev->attest, a.b, a.n);
	f->ev->attest_len = a.n;
	assert_non_null(f->ev->sig = malloc(sig.n));
	memcpy(f->ev->sig, sig.b, sig.n);
	f->ev->sig_len = sig.n;
	assert_non_null(f->ev->event_log = malloc(f->elog.n));
	memcpy(f->ev->event_log, f->elog.b, f->elog.n);
	f->ev->event_log_len = f->elog.n;
	assert_non_null(f->ev->runtime_log = strdup(f->rlog));
	f->ev->runtime_log_len = f->rlog_len;
}

static void
run(struct fx *f, EVP_PKEY *key, struct verify_history *h,
    struct verify_result *res)
{
	struct verify_input in;
	struct vouch_err e = VOUCH_ERR_INIT;

	memset(&in, 0, sizeof(in));
	in.ev = f->ev;
	in.ak = key ? key : f->key;
	in.nonce = f->nonce;
	in.nonce_len = sizeof(f->nonce);
	in.policy = f->pol;
	in.history = h;
	assert_int_equal(verify_evidence(&in, res, &e), 0);
}

static void
dump(const struct verify_result *res)
{
	size_t i;

	for (i = 0; i < res->nreasons; i++)
		print_message("#   %s: %s\n",
		    verify_check_name(res->reasons[i].check),
		    res->reasons[i].msg);
}

/* Exactly the reasons of check c (and at least one matching sub). */
static void
expect_fail(const struct verify_result *res, enum verify_check c,
    const char *sub)
{
	size_t i;
	int found = 0;

	if (res->pass)
		fail_msg("PASS, expected %s FAIL", verify_check_name(c));
	for (i = 0; i < res->nreasons; i++)
		if (res->reasons[i].check == c &&
		    strstr(res->reasons[i].msg, sub) != NULL)
			found = 1;
	if (!found) {
		dump(res);
		fail_msg("no %s reason with '%s'", verify_check_name(c), sub);
	}
}

static void
expect_only(const struct verify_result *res, enum verify_check c)
{
	size_t i;

	for (i = 0; i < res->nreasons; i++)
		if (res->reasons[i].check != c) {
			dump(res);
			fail_msg("unexpected %s reason",
			    verify_check_name(res->reasons[i].check));
		}
}

static void
expect_pass(const struct verify_result *res)
{
	if (!res->pass || res->nreasons != 0) {
		dump(res);
		fail_msg("expected PASS");
	}
}

static struct verify_history *
tmp_history(char *path, size_t n)
{
	struct verify_history *h = NULL;

	snprintf(path, n, "/tmp/vouch-test-history.%ld", (long)getpid());
	unlink(path);
	assert_int_equal(verify_history_load(path, &h, NULL), 0);
	return h;
}

/* ---- tests ---- */

static void
test_pass(void **state)
{
	struct verify_result res;
	struct fx f;
	int rsa;

	(void)state;
	for (rsa = 0; rsa <= 1; rsa++) {
		fx_init(&f, rsa);
		fx_quote(&f);
		run(&f, NULL, NULL, &res);
		expect_pass(&res);
		/* No policy, no history: those two are skipped, not passed. */
		assert_true(res.skipped & (1u << VERIFY_REFVALS));
		assert_true(res.skipped & (1u << VERIFY_COUNTERS));
		assert_string_equal(res.skip_why[VERIFY_REFVALS], "no policy");
		assert_int_equal(res.ran & 0x7f, 0x7f);
		assert_int_equal(res.counters.clock, 1000);
		assert_int_equal(res.counters.reset_count, 3);
		assert_int_equal(res.counters.restart_count, 1);

		f.pol = make_policy(&f, "sha256:0-7,23", -1, -1, NULL);
		run(&f, NULL, NULL, &res);
		expect_pass(&res);
		assert_true(res.ran & (1u << VERIFY_REFVALS));
		fx_free(&f);
	}
}

static void
test_wrong_nonce(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	f.nonce[0] ^= 1;	/* the verifier expects another nonce */
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_NONCE, "is not the expected nonce");
	expect_only(&res, VERIFY_NONCE);
	fx_free(&f);
}

static void
test_wrong_key(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	run(&f, ec_key2, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "does not verify with the AK");
	expect_only(&res, VERIFY_SIGNATURE);
	/* An RSA AK: the ECDSA signature is refused by scheme, not tried. */
	run(&f, rsa_key, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "signature scheme ECDSA (0x0018) "
	    "refused: an RSA AK must sign with RSASSA-SHA256");
	expect_only(&res, VERIFY_SIGNATURE);
	fx_free(&f);
}

static void
test_wrong_scheme(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	/* A valid RSA-PSS signature labelled RSAPSS: refused. */
	fx_init(&f, 1);
	f.pss = 1;
	f.sigalg = ALG_RSAPSS;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "RSAPSS (0x0016) refused");
	expect_only(&res, VERIFY_SIGNATURE);
	/* The same PSS bytes labelled RSASSA: no fallback to PSS. */
	f.sigalg = ALG_RSASSA;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "does not verify");
	expect_only(&res, VERIFY_SIGNATURE);
	fx_free(&f);

	/* A valid ECDSA-SHA1 signature: refused by its hash. */
	fx_init(&f, 0);
	f.sighash = PCR_ALG_SHA1;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "hash sha1 (0x0004) refused");
	expect_only(&res, VERIFY_SIGNATURE);
	fx_free(&f);

	/* Policy says rsa, key is EC. */
	fx_init(&f, 0);
	fx_quote(&f);
	f.rsa = 1;
	f.pol = make_policy(&f, "sha256:0-7,23", -1, -1, NULL);
	f.rsa = 0;
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "the policy requires an rsa AK");
	expect_only(&res, VERIFY_SIGNATURE);
	fx_free(&f);
}

static void
test_flipped_bytes(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	f.ev->attest[50] ^= 0x01;	/* in clockInfo */
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "does not verify");
	f.ev->attest[50] ^= 0x01;
	f.ev->sig[10] ^= 0x80;		/* in r */
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_SIGNATURE, "does not verify");
	expect_only(&res, VERIFY_SIGNATURE);
	fx_free(&f);
}

static void
test_attest_malformed(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	/* Each one signed properly: only the attest check can catch it. */
	fx_init(&f, 0);
	f.magic = 0xff544346;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_ATTEST, "not TPM_GENERATED_VALUE");
	assert_true(res.skipped & (1u << VERIFY_NONCE));
	assert_true(res.skipped & (1u << VERIFY_PCR_DIGEST));

	f.magic = 0xff544347;
	f.type = 0x8017;	/* TPM_ST_ATTEST_CERTIFY */
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_ATTEST, "is not TPM_ST_ATTEST_QUOTE");

	f.type = 0x8018;
	f.trailing = 1;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_ATTEST, "1 bytes trailing");
	expect_only(&res, VERIFY_ATTEST);

	f.trailing = 0;
	f.safe = 2;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_ATTEST, "safe is 2");
	fx_free(&f);
}

static void
test_pcr_value_changed(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	f.ev->pcrs.bank[0].v[4][0] ^= 0x55;
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_PCR_DIGEST, "a PCR value in the evidence is "
	    "not the quoted one");
	/* The log no longer explains the forged value either. */
	expect_fail(&res, VERIFY_EVENTLOG, "sha256 PCR 4: event log replays");

	/* A quoted value missing from the evidence. */
	f.ev->pcrs.bank[0].v[4][0] ^= 0x55;
	f.ev->pcrs.bank[0].set &= ~(1u << 5);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_PCR_DIGEST, "sha256 PCR 5 is quoted but the "
	    "evidence has no value");
	fx_free(&f);
}

static void
test_pcr_select(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	/* The evidence claims fewer PCRs than the quote covers. */
	f.ev->sel.bank[0].mask = 0xff;
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_PCR_SELECT, "the quote selects "
	    "sha256:0-7,23, the evidence claims sha256:0-7");

	/* The policy asks for more than was quoted. */
	fx_quote(&f);
	f.pol = make_policy(&f, "sha256:0-9,23", -1, -1, NULL);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_PCR_SELECT, "the policy requires "
	    "sha256:0-9,23");
	fx_free(&f);
}

static void
test_eventlog_mismatch(void **state)
{
	struct verify_result res;
	struct fx f;
	size_t off;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	/* The digest of the first event after the header (PCR 0). */
	off = 32 + 33 + 4 + 4 + 4 + 2;
	f.ev->event_log[off] ^= 1;
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_EVENTLOG, "sha256 PCR 0: event log replays "
	    "to");
	expect_only(&res, VERIFY_EVENTLOG);

	/* No event log at all: boot PCRs are not explained. */
	free(f.ev->event_log);
	f.ev->event_log = NULL;
	f.ev->event_log_len = 0;
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_EVENTLOG, "sha256 PCR 0 not explained by any "
	    "log: the evidence has no event log");
	/* PCR 2 holds its initial value: nothing to explain. */
	assert_null(strstr(res.reasons[1].msg, "PCR 2"));

	/* A PCR no event extends must hold its initial value. */
	pcr_set_bank(&f.truth, PCR_ALG_SHA256)->v[2][31] = 1;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_EVENTLOG, "sha256 PCR 2 not explained by any "
	    "log: no event log entry extends it, and its value "
	    "0000000000000000... is not the initial");
	expect_only(&res, VERIFY_EVENTLOG);

	/* Garbage event log. */
	free(f.ev->event_log);
	assert_non_null(f.ev->event_log = malloc(10));
	memset(f.ev->event_log, 0x41, 10);
	f.ev->event_log_len = 10;
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_EVENTLOG, "event log malformed");
	fx_free(&f);
}

static void
test_runtime_mismatch(void **state)
{
	struct verify_result res;
	struct fx f;
	char *nl;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	/* Drop the last line: the log no longer replays to PCR 23. */
	f.ev->runtime_log[f.ev->runtime_log_len - 1] = '\0';
	nl = strrchr(f.ev->runtime_log, '\n');
	nl[1] = '\0';
	f.ev->runtime_log_len = strlen(f.ev->runtime_log);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_RUNTIME_LOG, "sha256 PCR 23: runtime log (4 "
	    "entries) replays to");
	expect_only(&res, VERIFY_RUNTIME_LOG);

	/* Garbage. */
	strcpy(f.ev->runtime_log, "23 zz ima-ng\n");
	f.ev->runtime_log_len = strlen(f.ev->runtime_log);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_RUNTIME_LOG, "runtime log malformed");

	/* A runtime log while PCR 23 is not quoted: not bound. */
	fx_free(&f);
	fx_init(&f, 0);
	f.qmask = 0xff;
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_RUNTIME_LOG, "not bound to the quote");
	fx_free(&f);
}


/*
 * The runtime log cache: a log that extends one verified before is parsed
 * only in its new lines; results (and line numbers) must be those of a
 * fresh parse.
 */
static void
test_runtime_cache(void **state)
{
	struct verify_result res;
	struct fx f;
	char *p;

	(void)state;
	/* Sizes no other test uses, so this starts from a miss. */
	fx_nrt = 1;
	fx_init(&f, 0);
	fx_quote(&f);
	f.pol = make_policy(&f, "sha256:0-7,23", -1, -1, NULL);
	run(&f, NULL, NULL, &res);
	expect_pass(&res);
	run(&f, NULL, NULL, &res);	/* the same log: a hit */
	expect_pass(&res);
	fx_free(&f);

	/* One more line: only it is parsed, replayed on the cached value. */
	fx_nrt = 2;
	fx_init(&f, 0);
	fx_quote(&f);
	f.pol = make_policy(&f, "sha256:0-7,23", -1, 1, NULL);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_REFVALS, "runtime log line 2: /usr/sbin/xl "
	    "is not in the reference values");
	expect_only(&res, VERIFY_REFVALS);
	policy_free(f.pol);
	f.pol = make_policy(&f, "sha256:0-7,23", -1, -1, NULL);
	run(&f, NULL, NULL, &res);
	expect_pass(&res);
	/* The quote of the 2-line PCR 23 against the 1-line log. */
	fx_free(&f);
	fx_nrt = 1;
	fx_init(&f, 0);
	fx_nrt = 2;
	{
		struct fx g;

		fx_init(&g, 0);
		fx_quote(&g);
		free(g.ev->runtime_log);
		g.ev->runtime_log = strdup(f.rlog);
		g.ev->runtime_log_len = f.rlog_len;
		run(&g, NULL, NULL, &res);
		expect_fail(&res, VERIFY_RUNTIME_LOG, "runtime log (1 entries) "
		    "replays to");
		fx_free(&g);
	}
	fx_free(&f);

	/* The 3-line prefix again, now with a broken 5th line. */
	fx_nrt = 3;
	fx_init(&f, 0);
	fx_quote(&f);
	run(&f, NULL, NULL, &res);
	fx_free(&f);
	fx_nrt = NRT;
	fx_init(&f, 0);
	fx_quote(&f);
	p = strrchr(f.ev->runtime_log, ' ');
	p[-3] = 'z';	/* inside line 5's file digest */
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_RUNTIME_LOG, "runtime log malformed: line 5");
	fx_free(&f);

	/* And a log of the same length with other bytes: not the cached one. */
	fx_init(&f, 0);
	fx_quote(&f);
	p = strstr(f.ev->runtime_log, "/usr/sbin/xl");
	p[10] = 'X';
	run(&f, NULL, NULL, &res);
	if (res.pass)
		fail_msg("a changed log passed (stale cache)");
	fx_free(&f);
}

static void
test_refvals(void **state)
{
	struct verify_result res;
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	/* The event "xen.gz" (index 5 here, entry 6 in the log) unknown. */
	f.pol = make_policy(&f, "sha256:0-7,23", 5, -1, NULL);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_REFVALS, "event log entry 6 (PCR 4, EV_IPL");
	expect_fail(&res, VERIFY_REFVALS, "not in the reference values");
	expect_only(&res, VERIFY_REFVALS);
	policy_free(f.pol);

	/* PCR 1's flags event unknown (test_ignore_pcrs ignores PCR 1). */
	f.pol = make_policy(&f, "sha256:0-7,23", 3, -1, NULL);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_REFVALS, "entry 4 (PCR 1");
	policy_free(f.pol);

	/* A runtime path the policy does not know. */
	f.pol = make_policy(&f, "sha256:0-7,23", -1, 2, NULL);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_REFVALS, "runtime log line 3: "
	    "/usr/lib/xen/bin/qemu is not in the reference values "
	    "(unknown path)");
	expect_only(&res, VERIFY_REFVALS);
	policy_free(f.pol);

	/* A known path with another digest. */
	f.rt_digest[1][0] ^= 1;
	f.pol = make_policy(&f, "sha256:0-7,23", -1, -1, NULL);
	f.rt_digest[1][0] ^= 1;
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_REFVALS, "runtime log line 2: /usr/sbin/xl: "
	    "sha256 digest");
	expect_fail(&res, VERIFY_REFVALS, "matches none of its reference "
	    "values");
	expect_only(&res, VERIFY_REFVALS);
	fx_free(&f);
}

static void
test_refvals_ignore_and_pin(void **state)
{
	struct verify_result res;
	struct fx f;
	char extra[256], hex[65];
	const struct pcr_bank *b;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	b = pcr_set_bank_const(&f.truth, PCR_ALG_SHA256);

	hex_encode(b->v[7], 32, hex);
	snprintf(extra, sizeof(extra),
	    "  pcr_values = ( { pcr = 7; value = \"sha256:%s\"; } );\n", hex);
	/* Pin PCR 7 to its true value: PASS, and its events not needed. */
	f.pol = make_policy(&f, "sha256:0-7,23", 10, -1, extra);
	run(&f, NULL, NULL, &res);
	expect_pass(&res);
	policy_free(f.pol);

	/* Pin PCR 7 to another value: refvals says so. */
	hex[0] = hex[0] == '0' ? '1' : '0';
	snprintf(extra, sizeof(extra),
	    "  pcr_values = ( { pcr = 7; value = \"sha256:%s\"; } );\n", hex);
	f.pol = make_policy(&f, "sha256:0-7,23", -1, -1, extra);
	run(&f, NULL, NULL, &res);
	expect_fail(&res, VERIFY_REFVALS, "sha256 PCR 7: value");
	expect_fail(&res, VERIFY_REFVALS, "is not the policy's pinned value");
	expect_only(&res, VERIFY_REFVALS);
	fx_free(&f);
}

static void
test_ignore_pcrs(void **state)
{
	struct verify_result res;
	struct fx f;
	char text[16384];
	struct policy *p = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	char *at;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	/* Build the normal policy text, without PCR 1's flags event, and
	 * add ignore_pcrs = [1]: the unknown event is not appraised. */
	f.pol = make_policy(&f, "sha256:0-7,23", 3, -1, NULL);
	policy_free(f.pol);
	f.pol = NULL;
	snprintf(text, sizeof(text), "version = 1;\nname = \"ign\";\n"
	    "attestation = { pcrs = \"sha256:0-7,23\"; ak = \"ecc\"; "
	    "ignore_pcrs = [ 1 ]; };\n");
	at = text + strlen(text);
	{
		char hex[65];
		size_t i, off = 0, cap = sizeof(text) - strlen(text);
		off += (size_t)snprintf(at + off, cap - off,
		    "reference = { boot = (");
		for (i = 0; i < NEVENTS; i++) {
			if (events[i].type == EV_NO_ACTION || i == 3)
				continue;
			hex_encode(f.ev_digest[i], 32, hex);
			off += (size_t)snprintf(at + off, cap - off,
			    "%s{ pcr = %u; digest = \"sha256:%s\"; }",
			    off > 24 ? "," : "", events[i].pcr, hex);
		}
		off += (size_t)snprintf(at + off, cap - off, "); runtime = (");
		for (i = 0; i < NRT; i++) {
			hex_encode(f.rt_digest[i], 32, hex);
			off += (size_t)snprintf(at + off, cap - off,
			    "%s{ path = \"%s\"; digest = \"sha256:%s\"; }",
			    i ? "," : "", rt_paths[i], hex);
		}
		snprintf(at + off, cap - off, "); };\n");
	}
	if (policy_load_string("ign", text, &p, &e) != 0)
		fail_msg("%s\n%s", e.msg, text);
	f.pol = p;
	run(&f, NULL, NULL, &res);
	expect_pass(&res);
	fx_free(&f);
}

static void
test_counters(void **state)
{
	struct verify_result res;
	struct verify_history *h, *h2 = NULL;
	char path[128];
	struct fx f;

	(void)state;
	h = tmp_history(path, sizeof(path));
	fx_init(&f, 0);
	fx_quote(&f);
	run(&f, NULL, h, &res);
	expect_pass(&res);
	assert_true(res.ran & (1u << VERIFY_COUNTERS));

	/* The same quote again: replayed. */
	run(&f, NULL, h, &res);
	expect_fail(&res, VERIFY_COUNTERS, "quote not newer than the last "
	    "accepted (replayed?)");
	expect_only(&res, VERIFY_COUNTERS);

	/* The history survives a save and load. */
	assert_int_equal(verify_history_save(h, NULL), 0);
	verify_history_free(h);
	assert_int_equal(verify_history_load(path, &h2, NULL), 0);
	h = h2;
	run(&f, NULL, h, &res);
	expect_fail(&res, VERIFY_COUNTERS, "not newer");

	/* Later clock: accepted. */
	f.clock = 2000;
	fx_quote(&f);
	run(&f, NULL, h, &res);
	expect_pass(&res);

	/* Older restartCount at the same resetCount. */
	f.clock = 3000;
	f.restart = 0;
	fx_quote(&f);
	run(&f, NULL, h, &res);
	expect_fail(&res, VERIFY_COUNTERS, "restartCount went backwards");

	/* Older resetCount. */
	f.restart = 1;
	f.reset = 2;
	fx_quote(&f);
	run(&f, NULL, h, &res);
	expect_fail(&res, VERIFY_COUNTERS, "resetCount went backwards");

	/* Reboot without the event log: refused. */
	f.reset = 4;
	f.clock = 10;
	f.qmask = 1u << 23;	/* only the runtime PCR: no boot PCR needs it */
	fx_quote(&f);
	free(f.ev->event_log);
	f.ev->event_log = NULL;
	f.ev->event_log_len = 0;
	run(&f, NULL, h, &res);
	expect_fail(&res, VERIFY_COUNTERS, "a reboot demands the full boot "
	    "log");
	expect_only(&res, VERIFY_COUNTERS);
	assert_int_equal(res.reboot, 1);

	/* Reboot with the event log: accepted, and flagged. */
	f.qmask = 0xffu | 1u << 23;
	fx_quote(&f);
	run(&f, NULL, h, &res);
	expect_pass(&res);
	assert_int_equal(res.reboot, 1);

	/* A different AK has its own history. */
	fx_free(&f);
	fx_init(&f, 1);
	fx_quote(&f);
	run(&f, NULL, h, &res);
	expect_pass(&res);
	assert_int_equal(verify_history_save(h, NULL), 0);
	verify_history_free(h);
	unlink(path);
	fx_free(&f);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_history_file(void **state)
{
	static const char *const bad[] = {
		"zz\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1 2\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1 2 3 4\n",
		"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef 1 2 3\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1 2 4294967296\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 01 2 3\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef -1 2 3\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1  2 3\n",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1 2 3",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1 2 3\n"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 5 6 7\n",
		"\n",
	};
	struct verify_history *h = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	char path[128];
	size_t i;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/vouch-test-hist.%ld",
	    (long)getpid());
	write_file(path, "# comment\n"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
	    "18446744073709551615 4294967295 0\n");
	assert_int_equal(verify_history_load(path, &h, &e), 0);
	verify_history_free(h);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		h = NULL;
		write_file(path, bad[i]);
		if (verify_history_load(path, &h, &e) != VOUCH_E_FORMAT)
			fail_msg("accepted bad history #%zu", i);
		assert_null(h);
		assert_non_null(strstr(e.msg, path));
	}
	unlink(path);
	/* Missing: empty. */
	assert_int_equal(verify_history_load(path, &h, &e), 0);
	verify_history_free(h);
}

/*
 * STYLE.md point 6: flip every bit of the attest and of the signature,
 * truncate both at every length: every variant must FAIL, none crash.
 */
static void
mutate_all(struct fx *f)
{
	struct verify_result res;
	uint8_t *a = f->ev->attest, *s = f->ev->sig;
	size_t alen = f->ev->attest_len, slen = f->ev->sig_len, i;
	int bit;

	for (i = 0; i < alen; i++)
		for (bit = 0; bit < 8; bit++) {
			a[i] ^= (uint8_t)(1u << bit);
			run(f, NULL, NULL, &res);
			if (res.pass)
				fail_msg("attest bit %zu.%d flipped: PASS", i,
				    bit);
			a[i] ^= (uint8_t)(1u << bit);
		}
	for (i = 0; i < slen; i++)
		for (bit = 0; bit < 8; bit++) {
			s[i] ^= (uint8_t)(1u << bit);
			run(f, NULL, NULL, &res);
			if (res.pass)
				fail_msg("signature bit %zu.%d flipped: PASS",
				    i, bit);
			s[i] ^= (uint8_t)(1u << bit);
		}
	for (i = 0; i < alen; i++) {
		f->ev->attest_len = i;
		run(f, NULL, NULL, &res);
		if (res.pass)
			fail_msg("attest truncated to %zu: PASS", i);
	}
	f->ev->attest_len = alen;
	for (i = 0; i < slen; i++) {
		f->ev->sig_len = i;
		run(f, NULL, NULL, &res);
		if (res.pass)
			fail_msg("signature truncated to %zu: PASS", i);
	}
	f->ev->sig_len = slen;
	run(f, NULL, NULL, &res);
	expect_pass(&res);
}

static void
test_mutations(void **state)
{
	struct fx f;
	int rsa;

	(void)state;
	for (rsa = 0; rsa <= 1; rsa++) {
		fx_init(&f, rsa);
		fx_quote(&f);
		f.pol = make_policy(&f, "sha256:0-7,23", -1, -1, NULL);
		mutate_all(&f);
		fx_free(&f);
	}
}

static void
test_load_pubkey(void **state)
{
	char path[128];
	EVP_PKEY *k = NULL, *small;
	struct vouch_err e = VOUCH_ERR_INIT;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/vouch-test-ak.%ld.pem",
	    (long)getpid());
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(PEM_write_PUBKEY(fp, ec_key), 1);
	fclose(fp);
	assert_int_equal(verify_load_pubkey(path, &k, &e), 0);
	assert_int_equal(EVP_PKEY_eq(k, ec_key), 1);
	EVP_PKEY_free(k);

	write_file(path, "-----BEGIN PUBLIC KEY-----\nAAAA\n"
	    "-----END PUBLIC KEY-----\n");
	k = NULL;
	assert_int_equal(verify_load_pubkey(path, &k, &e), VOUCH_E_FORMAT);
	assert_null(k);
	assert_non_null(strstr(e.msg, "not a PEM public key"));

	assert_non_null(small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)1024));
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(PEM_write_PUBKEY(fp, small), 1);
	fclose(fp);
	EVP_PKEY_free(small);
	assert_int_equal(verify_load_pubkey(path, &k, &e),
	    VOUCH_E_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "1024 bits"));
	unlink(path);
	assert_int_equal(verify_load_pubkey(path, &k, &e), VOUCH_E_IO);
}

static void
test_bad_input(void **state)
{
	struct verify_input in;
	struct verify_result res;
	struct fx f;

	(void)state;
	fx_init(&f, 0);
	fx_quote(&f);
	memset(&in, 0, sizeof(in));
	in.ev = f.ev;
	in.ak = f.key;
	assert_int_equal(verify_evidence(&in, &res, NULL), VOUCH_E_INVAL);
	in.nonce = f.nonce;
	in.nonce_len = 65;
	assert_int_equal(verify_evidence(&in, &res, NULL), VOUCH_E_INVAL);
	in.nonce_len = 32;
	in.ev = NULL;
	assert_int_equal(verify_evidence(&in, &res, NULL), VOUCH_E_INVAL);
	assert_string_equal(verify_check_name(VERIFY_PCR_SELECT), "pcr-select");
	assert_string_equal(verify_check_name(VERIFY_NCHECKS), "?");
	fx_free(&f);
}

static int
setup(void **state)
{
	(void)state;
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec_key2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return ec_key && ec_key2 && rsa_key ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(ec_key2);
	EVP_PKEY_free(rsa_key);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_wrong_nonce),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_wrong_scheme),
		cmocka_unit_test(test_flipped_bytes),
		cmocka_unit_test(test_attest_malformed),
		cmocka_unit_test(test_pcr_value_changed),
		cmocka_unit_test(test_pcr_select),
		cmocka_unit_test(test_eventlog_mismatch),
		cmocka_unit_test(test_runtime_mismatch),
		cmocka_unit_test(test_runtime_cache),
		cmocka_unit_test(test_refvals),
		cmocka_unit_test(test_refvals_ignore_and_pin),
		cmocka_unit_test(test_ignore_pcrs),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_history_file),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_load_pubkey),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
