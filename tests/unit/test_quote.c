/*
 * Unit tests: attest/quote.c, the one parser of TPMS_ATTEST and
 * TPMT_SIGNATURE.  Structures are built here byte by byte (layouts in
 * quote.h); each case changes one field and expects one error code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "measure/pcr.h"
#include "attest/quote.h"

struct wbuf {
	uint8_t	b[4096];
	size_t	n;
};

static void
put(struct wbuf *w, const void *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	if (n > 0)
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
put_tpm2b(struct wbuf *w, size_t n, uint8_t fill)
{
	uint8_t t[1024];

	assert_true(n <= sizeof(t));
	memset(t, fill, n);
	put_be(w, n, 2);
	put(w, t, n);
}

/* What a quote is built from; tests change one field. */
struct aspec {
	uint32_t	magic;
	uint16_t	type;
	size_t		name_len, extra_len, digest_len;
	uint8_t		safe;
	size_t		count;		/* as written (u32) */
	size_t		nsel;		/* entries actually written */
	struct {
		uint16_t	alg;
		uint8_t		sz;
		uint8_t		sel[8];
	}		sel[20];
	size_t		trailing;
};

static void
aspec_default(struct aspec *s)
{
	memset(s, 0, sizeof(*s));
	s->magic = QUOTE_GENERATED_VALUE;
	s->type = QUOTE_ST_ATTEST_QUOTE;
	s->name_len = 34;
	s->extra_len = 32;
	s->digest_len = 32;
	s->safe = 1;
	s->count = s->nsel = 2;
	s->sel[0].alg = PCR_ALG_SHA256;
	s->sel[0].sz = 3;
	s->sel[0].sel[0] = 0xff;
	s->sel[0].sel[2] = 0x80;
	s->sel[1].alg = PCR_ALG_SHA1;
	s->sel[1].sz = 3;
	s->sel[1].sel[1] = 0x01;
}

static void
build_attest(const struct aspec *s, struct wbuf *w)
{
	size_t i;

	w->n = 0;
	put_be(w, s->magic, 4);
	put_be(w, s->type, 2);
	put_tpm2b(w, s->name_len, 0x11);
	put_tpm2b(w, s->extra_len, 0x22);
	put_be(w, 0x0102030405060708ull, 8);	/* clock */
	put_be(w, 7, 4);			/* resetCount */
	put_be(w, 9, 4);			/* restartCount */
	put_be(w, s->safe, 1);
	put_be(w, 0x1122334455667788ull, 8);	/* firmwareVersion */
	put_be(w, s->count, 4);
	for (i = 0; i < s->nsel; i++) {
		put_be(w, s->sel[i].alg, 2);
		put_be(w, s->sel[i].sz, 1);
		put(w, s->sel[i].sel, s->sel[i].sz);
	}
	put_tpm2b(w, s->digest_len, 0x33);
	for (i = 0; i < s->trailing; i++)
		put_be(w, 0, 1);
}

static int
parse_spec(const struct aspec *s, struct quote_attest *q, struct vouch_err *e)
{
	struct wbuf w;

	build_attest(s, &w);
	return quote_attest_parse(w.b, w.n, q, e);
}

static void
expect_attest(const struct aspec *s, int code, const char *needle)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct quote_attest q;
	int r = parse_spec(s, &q, &e);

	if (r != code)
		fail_msg("got %d (%s), want %d", r, e.msg, code);
	if (needle != NULL && strstr(e.msg, needle) == NULL)
		fail_msg("'%s' lacks '%s'", e.msg, needle);
}

static void
test_attest_ok(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct quote_attest q;
	struct aspec s;
	struct wbuf w;

	(void)state;
	aspec_default(&s);
	build_attest(&s, &w);
	if (quote_attest_parse(w.b, w.n, &q, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(q.signer_len, 34);
	assert_ptr_equal(q.signer, w.b + 8);
	assert_int_equal(q.extra_len, 32);
	assert_ptr_equal(q.extra, w.b + 8 + 34 + 2);
	assert_true(q.clock == 0x0102030405060708ull);
	assert_int_equal(q.reset_count, 7);
	assert_int_equal(q.restart_count, 9);
	assert_int_equal(q.safe, 1);
	assert_true(q.firmware_version == 0x1122334455667788ull);
	assert_int_equal(q.nbanks, 2);
	assert_int_equal(q.bank[0].alg, PCR_ALG_SHA256);
	assert_int_equal(q.bank[0].mask, 0xffu | 1u << 23);
	assert_int_equal(q.bank[1].alg, PCR_ALG_SHA1);
	assert_int_equal(q.bank[1].mask, 1u << 8);
	assert_int_equal(q.digest_len, 32);
	assert_ptr_equal(q.digest, w.b + w.n - 32);

	/* Edge values that are valid: empty fields, maxima, 4-byte select. */
	s.name_len = QUOTE_MAX_NAME;
	s.extra_len = 0;
	s.digest_len = QUOTE_MAX_DIGEST;
	s.safe = 0;
	s.sel[0].sz = 4;
	s.sel[1].sz = 0;
	expect_attest(&s, 0, NULL);
	s.extra_len = QUOTE_MAX_EXTRA;
	s.count = s.nsel = 0;
	s.digest_len = 0;
	expect_attest(&s, 0, NULL);
}

/* Every proper prefix is refused as truncated; a longer one as trailing. */
static void
test_attest_truncated(void **state)
{
	struct quote_attest q;
	struct aspec s;
	struct wbuf w;
	size_t cut;

	(void)state;
	aspec_default(&s);
	build_attest(&s, &w);
	for (cut = 0; cut < w.n; cut++) {
		struct vouch_err e = VOUCH_ERR_INIT;
		int r = quote_attest_parse(w.b, cut, &q, &e);

		if (r != VOUCH_E_TRUNCATED)
			fail_msg("cut at %zu of %zu: got %d (%s)", cut, w.n, r,
			    e.msg);
		if (strstr(e.msg, "byte") == NULL)
			fail_msg("cut at %zu: no offset in '%s'", cut, e.msg);
	}
	s.trailing = 1;
	expect_attest(&s, VOUCH_E_FORMAT, "1 bytes trailing");
	s.trailing = 7;
	expect_attest(&s, VOUCH_E_FORMAT, "7 bytes trailing");
	/* A NULL buffer of length 0 is just empty. */
	assert_int_equal(quote_attest_parse(NULL, 0, &q, NULL),
	    VOUCH_E_TRUNCATED);
}

static void
test_attest_bad_fields(void **state)
{
	struct aspec s;

	(void)state;
	aspec_default(&s);
	s.magic = 0xff544346;
	expect_attest(&s, VOUCH_E_FORMAT, "not TPM_GENERATED_VALUE");
	aspec_default(&s);
	s.type = 0x8017;	/* TPM_ST_ATTEST_CERTIFY */
	expect_attest(&s, VOUCH_E_FORMAT, "is not TPM_ST_ATTEST_QUOTE");
	aspec_default(&s);
	s.safe = 2;
	expect_attest(&s, VOUCH_E_FORMAT, "safe is 2");
	aspec_default(&s);
	s.sel[1].alg = 0x0042;
	expect_attest(&s, VOUCH_E_UNSUPPORTED, "pcrSelections[1]");
	aspec_default(&s);
	s.sel[1].alg = PCR_ALG_SHA256;
	expect_attest(&s, VOUCH_E_FORMAT, "selected twice");
	aspec_default(&s);
	s.sel[0].sz = 4;
	s.sel[0].sel[3] = 0x01;	/* PCR 24 */
	expect_attest(&s, VOUCH_E_UNSUPPORTED, "above 23");
}

/* Each limit: the maximum parses (above), one over is VOUCH_E_LIMIT. */
static void
test_attest_limits(void **state)
{
	static const uint16_t banks[] = { PCR_ALG_SHA1, PCR_ALG_SHA256,
	    PCR_ALG_SHA384, PCR_ALG_SHA512, PCR_ALG_SM3_256 };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct quote_attest q;
	uint8_t *big;
	struct aspec s;
	size_t i;

	(void)state;
	aspec_default(&s);
	s.name_len = QUOTE_MAX_NAME + 1;
	expect_attest(&s, VOUCH_E_LIMIT, "qualifiedSigner at byte 6");
	aspec_default(&s);
	s.extra_len = QUOTE_MAX_EXTRA + 1;
	expect_attest(&s, VOUCH_E_LIMIT, "extraData at byte 42");
	aspec_default(&s);
	s.digest_len = QUOTE_MAX_DIGEST + 1;
	expect_attest(&s, VOUCH_E_LIMIT, "pcrDigest");
	aspec_default(&s);
	s.sel[0].sz = QUOTE_MAX_SELECT + 1;
	expect_attest(&s, VOUCH_E_LIMIT, "sizeofSelect 5");
	/* 16 banks is the limit: 17 is refused before any is read. */
	aspec_default(&s);
	s.count = QUOTE_MAX_BANKS + 1;
	s.nsel = 0;
	expect_attest(&s, VOUCH_E_LIMIT, "count 17");
	aspec_default(&s);
	s.count = 0xffffffffu;
	s.nsel = 0;
	expect_attest(&s, VOUCH_E_LIMIT, "count");
	/* The whole message has a hard maximum, checked first. */
	assert_non_null(big = calloc(1, QUOTE_MAX_ATTEST + 1));
	assert_int_equal(quote_attest_parse(big, QUOTE_MAX_ATTEST + 1, &q, &e),
	    VOUCH_E_LIMIT);
	free(big);
	/*
	 * Every known bank once (empty selections too) parses; one more
	 * can only repeat a bank.
	 */
	aspec_default(&s);
	s.count = s.nsel = ARRAY_SIZE(banks);
	for (i = 0; i < s.nsel; i++) {
		s.sel[i].alg = banks[i];
		s.sel[i].sz = 0;
	}
	expect_attest(&s, 0, NULL);
	s.count = s.nsel = ARRAY_SIZE(banks) + 1;
	s.sel[ARRAY_SIZE(banks)].alg = PCR_ALG_SHA1;
	expect_attest(&s, VOUCH_E_FORMAT, "selected twice");
}

/* ---- TPMT_SIGNATURE ---- */

static void
build_sig(struct wbuf *w, uint16_t alg, uint16_t hash, size_t rn, size_t sn,
    size_t trailing)
{
	size_t i;

	w->n = 0;
	put_be(w, alg, 2);
	put_be(w, hash, 2);
	put_tpm2b(w, rn, 0x44);
	if (alg == QUOTE_ALG_ECDSA)
		put_tpm2b(w, sn, 0x55);
	for (i = 0; i < trailing; i++)
		put_be(w, 0, 1);
}

static void
expect_sig(const struct wbuf *w, int code, const char *needle)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct quote_sig sig;
	int r = quote_sig_parse(w->b, w->n, &sig, &e);

	if (r != code)
		fail_msg("got %d (%s), want %d", r, e.msg, code);
	if (needle != NULL && strstr(e.msg, needle) == NULL)
		fail_msg("'%s' lacks '%s'", e.msg, needle);
}

static void
test_sig_ok(void **state)
{
	struct quote_sig sig;
	struct wbuf w;

	(void)state;
	build_sig(&w, QUOTE_ALG_ECDSA, PCR_ALG_SHA256, 32, 31, 0);
	assert_int_equal(quote_sig_parse(w.b, w.n, &sig, NULL), 0);
	assert_int_equal(sig.have, QUOTE_HAVE_ALG | QUOTE_HAVE_HASH);
	assert_int_equal(sig.alg, QUOTE_ALG_ECDSA);
	assert_int_equal(sig.hash, PCR_ALG_SHA256);
	assert_int_equal(sig.r_len, 32);
	assert_ptr_equal(sig.r, w.b + 6);
	assert_int_equal(sig.s_len, 31);
	assert_ptr_equal(sig.s, w.b + 6 + 32 + 2);

	/* Recognised is not accepted: RSAPSS and SHA-1 parse fine. */
	build_sig(&w, QUOTE_ALG_RSAPSS, PCR_ALG_SHA1, 256, 0, 0);
	assert_int_equal(quote_sig_parse(w.b, w.n, &sig, NULL), 0);
	assert_int_equal(sig.alg, QUOTE_ALG_RSAPSS);
	assert_int_equal(sig.r_len, 256);
	assert_null(sig.s);
	build_sig(&w, QUOTE_ALG_RSASSA, PCR_ALG_SHA256, QUOTE_MAX_RSA_SIG, 0,
	    0);
	expect_sig(&w, 0, NULL);
	build_sig(&w, QUOTE_ALG_ECDSA, PCR_ALG_SHA384, QUOTE_MAX_ECC_PARAM,
	    QUOTE_MAX_ECC_PARAM, 0);
	expect_sig(&w, 0, NULL);
}

static void
test_sig_truncated(void **state)
{
	static const uint16_t algs[] = { QUOTE_ALG_ECDSA, QUOTE_ALG_RSASSA };
	struct quote_sig sig;
	struct wbuf w;
	size_t a, cut;

	(void)state;
	for (a = 0; a < ARRAY_SIZE(algs); a++) {
		build_sig(&w, algs[a], PCR_ALG_SHA256, 32, 32, 0);
		for (cut = 0; cut < w.n; cut++) {
			struct vouch_err e = VOUCH_ERR_INIT;
			int r = quote_sig_parse(w.b, cut, &sig, &e);

			if (r != VOUCH_E_TRUNCATED)
				fail_msg("alg 0x%04x cut at %zu: got %d (%s)",
				    algs[a], cut, r, e.msg);
			/* What was read is reported, for naming a scheme. */
			assert_int_equal(!!(sig.have & QUOTE_HAVE_ALG),
			    cut >= 2);
			assert_int_equal(!!(sig.have & QUOTE_HAVE_HASH),
			    cut >= 4);
		}
		build_sig(&w, algs[a], PCR_ALG_SHA256, 32, 32, 1);
		expect_sig(&w, VOUCH_E_FORMAT, "1 bytes trailing");
	}
}

static void
test_sig_bad(void **state)
{
	struct quote_sig sig;
	struct wbuf w;
	uint8_t *big;

	(void)state;
	build_sig(&w, QUOTE_ALG_HMAC, PCR_ALG_SHA256, 32, 0, 0);
	expect_sig(&w, VOUCH_E_UNSUPPORTED, "HMAC");
	assert_int_equal(quote_sig_parse(w.b, w.n, &sig, NULL),
	    VOUCH_E_UNSUPPORTED);
	assert_int_equal(sig.alg, QUOTE_ALG_HMAC);
	assert_true(sig.have & QUOTE_HAVE_ALG);
	build_sig(&w, 0x4242, PCR_ALG_SHA256, 32, 0, 0);
	expect_sig(&w, VOUCH_E_UNSUPPORTED, "0x4242");
	build_sig(&w, QUOTE_ALG_ECDSA, 0x0042, 32, 32, 0);
	expect_sig(&w, VOUCH_E_UNSUPPORTED, "hash 0x0042");
	build_sig(&w, QUOTE_ALG_ECDSA, PCR_ALG_SHA256, 0, 32, 0);
	expect_sig(&w, VOUCH_E_FORMAT, "signatureR at byte 4: empty");
	build_sig(&w, QUOTE_ALG_ECDSA, PCR_ALG_SHA256, 32, 0, 0);
	expect_sig(&w, VOUCH_E_FORMAT, "signatureS at byte 38: empty");
	build_sig(&w, QUOTE_ALG_RSASSA, PCR_ALG_SHA256, 0, 0, 0);
	expect_sig(&w, VOUCH_E_FORMAT, "empty");
	build_sig(&w, QUOTE_ALG_ECDSA, PCR_ALG_SHA256, QUOTE_MAX_ECC_PARAM + 1,
	    32, 0);
	expect_sig(&w, VOUCH_E_LIMIT, "signatureR");
	build_sig(&w, QUOTE_ALG_ECDSA, PCR_ALG_SHA256, 32,
	    QUOTE_MAX_ECC_PARAM + 1, 0);
	expect_sig(&w, VOUCH_E_LIMIT, "signatureS");
	build_sig(&w, QUOTE_ALG_RSASSA, PCR_ALG_SHA256, QUOTE_MAX_RSA_SIG + 1,
	    0, 0);
	expect_sig(&w, VOUCH_E_LIMIT, "RSA signature");
	assert_non_null(big = calloc(1, QUOTE_MAX_SIG + 1));
	assert_int_equal(quote_sig_parse(big, QUOTE_MAX_SIG + 1, &sig, NULL),
	    VOUCH_E_LIMIT);
	free(big);
	assert_string_equal(quote_sig_alg_name(QUOTE_ALG_ECSCHNORR),
	    "ECSCHNORR");
	assert_string_equal(quote_sig_alg_name(0x7777), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attest_ok),
		cmocka_unit_test(test_attest_truncated),
		cmocka_unit_test(test_attest_bad_fields),
		cmocka_unit_test(test_attest_limits),
		cmocka_unit_test(test_sig_ok),
		cmocka_unit_test(test_sig_truncated),
		cmocka_unit_test(test_sig_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
