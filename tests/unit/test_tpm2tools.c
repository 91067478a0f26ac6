/*
 * Unit tests: attest/tpm2tools.c, the tpm2-tools 5.4 quote files.
 * No TPM: files in a temporary directory, built from known bytes.
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

#include "common/util.h"
#include "measure/pcr.h"
#include "attest/evidence.h"
#include "attest/tpm2tools.h"

#define PCRS_HDR	136	/* TPML_PCR_SELECTION (132) + list count */
#define LIST_SIZE	532	/* TPML_DIGEST */

static char dir[64];
static char prefix[128];

/*
 * A quote TPMS_ATTEST, big endian (see tpm2tools.c):
 * magic, type, qualifiedSigner (34), extraData (4), clockInfo (17),
 * firmwareVersion (8), pcrSelect {1, sha256, 3, ff 00 80}, pcrDigest (32).
 */
static const uint8_t msg_ok[] = {
	0xff, 0x54, 0x43, 0x47, 0x80, 0x18,
	0x00, 0x22, 0x00, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
	31, 32,
	0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,
	0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 3, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0x20, 0x19, 0x10, 0x23,
	0, 0, 0, 1, 0x00, 0x0b, 3, 0xff, 0x00, 0x80,
	0x00, 0x20, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
	0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5,
	0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};
/* Offsets into msg_ok used by the corruption cases. */
#define MSG_EXTRA	42	/* extraData size (u16) */
#define MSG_SELCOUNT	76	/* low byte of pcrSelect count (u32) */
#define MSG_SIZEOFSEL	79	/* first entry's sizeofSelect */

/* TPMT_SIGNATURE, ECDSA-SHA256: alg, hash, r (32), s (32). */
static uint8_t sig_ok[4 + 2 * 34];

static void
init_sig(void)
{
	size_t i;

	sig_ok[0] = 0x00; sig_ok[1] = 0x18;
	sig_ok[2] = 0x00; sig_ok[3] = 0x0b;
	sig_ok[4] = 0x00; sig_ok[5] = 0x20;
	sig_ok[38] = 0x00; sig_ok[39] = 0x20;
	for (i = 0; i < 32; i++) {
		sig_ok[6 + i] = (uint8_t)(0x40 + i);
		sig_ok[40 + i] = (uint8_t)(0x80 + i);
	}
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vouch-t2t.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(prefix, sizeof(prefix), "%s/q", dir);
	init_sig();
	return 0;
}

static int
teardown(void **state)
{
	static const char *const ext[] = { ".msg", ".sig", ".pcrs" };
	char p[160];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", prefix, ext[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

/* Evidence with sel and PCR values derived from (bank, index, seed). */
static struct evidence *
make_ev(const char *sel, uint8_t seed)
{
	struct evidence *ev = evidence_new();
	size_t b, k;
	int i;

	assert_non_null(ev);
	assert_int_equal(pcr_selection_parse(sel, &ev->sel, NULL), 0);
	for (b = 0; b < ev->sel.nbanks; b++) {
		const struct pcr_alg *a = pcr_alg_by_id(ev->sel.bank[b].alg);
		struct pcr_bank *pb = pcr_set_bank_add(&ev->pcrs, a->id, NULL);

		assert_non_null(pb);
		for (i = 0; i < PCR_NUM; i++) {
			if (!(ev->sel.bank[b].mask & (1u << i)))
				continue;
			for (k = 0; k < a->size; k++)
				pb->v[i][k] = (uint8_t)(seed + 31 * b + 7 * i + k);
			pb->set |= 1u << i;
		}
	}
	ev->attest = malloc(sizeof(msg_ok));
	ev->sig = malloc(sizeof(sig_ok));
	assert_non_null(ev->attest);
	assert_non_null(ev->sig);
	memcpy(ev->attest, msg_ok, sizeof(msg_ok));
	ev->attest_len = sizeof(msg_ok);
	memcpy(ev->sig, sig_ok, sizeof(sig_ok));
	ev->sig_len = sizeof(sig_ok);
	return ev;
}

static void
slurp(const char *ext, uint8_t **buf, size_t *len)
{
	char p[160];

	snprintf(p, sizeof(p), "%s%s", prefix, ext);
	assert_int_equal(file_read(p, 1 << 20, buf, len, NULL), 0);
}

static void
spit(const char *ext, const uint8_t *buf, size_t len)
{
	char p[160];

	snprintf(p, sizeof(p), "%s%s", prefix, ext);
	assert_int_equal(file_write_atomic(p, buf, len, 0600, NULL), 0);
}

/* Expect tpm2tools_read to fail, naming the file (and an offset). */
static void
expect_reject(const char *ext, const char *what)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct evidence *ev = (struct evidence *)&e;	/* must stay as is */
	char name[160];

	snprintf(name, sizeof(name), "%s%s", prefix, ext);
	if (tpm2tools_read(prefix, &ev, &e) >= 0)
		fail_msg("accepted %s: %s", ext, what);
	assert_ptr_equal(ev, (struct evidence *)&e);
	if (strstr(e.msg, name) == NULL)
		fail_msg("%s: error does not name %s: %s", what, name, e.msg);
}

static void
assert_same(const struct evidence *a, const struct evidence *b)
{
	size_t i;

	assert_int_equal(a->attest_len, b->attest_len);
	assert_memory_equal(a->attest, b->attest, a->attest_len);
	assert_int_equal(a->sig_len, b->sig_len);
	assert_memory_equal(a->sig, b->sig, a->sig_len);
	assert_int_equal(a->sel.nbanks, b->sel.nbanks);
	for (i = 0; i < a->sel.nbanks; i++) {
		const struct pcr_alg *al = pcr_alg_by_id(a->sel.bank[i].alg);
		const struct pcr_bank *pa, *pb;
		int k;

		assert_int_equal(a->sel.bank[i].alg, b->sel.bank[i].alg);
		assert_int_equal(a->sel.bank[i].mask, b->sel.bank[i].mask);
		pa = pcr_set_bank_const(&a->pcrs, al->id);
		pb = pcr_set_bank_const(&b->pcrs, al->id);
		assert_non_null(pa);
		assert_non_null(pb);
		assert_int_equal(pa->set, pb->set);
		for (k = 0; k < PCR_NUM; k++)
			if (pa->set & (1u << k))
				assert_memory_equal(pa->v[k], pb->v[k], al->size);
	}
}

static void
test_roundtrip(void **state)
{
	static const char *const sels[] = {
		"sha256:0-7,23",
		"sha256:0",
		"sha256:0-23",				/* 3 lists */
		"sha1:0-3,16+sha256:0-23+sha384:7",	/* lists span banks */
		"sha1:all+sha256:all+sha384:all+sha512:all+sm3_256:all",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(sels); i++) {
		struct evidence *ev = make_ev(sels[i], (uint8_t)i), *back = NULL;
		struct vouch_err e = VOUCH_ERR_INIT;

		assert_int_equal(tpm2tools_write(prefix, ev, &e), 0);
		if (tpm2tools_read(prefix, &back, &e) < 0)
			fail_msg("%s: %s", sels[i], e.msg);
		assert_same(ev, back);
		assert_int_equal(back->nonce_len, 0);
		assert_null(back->event_log);
		assert_null(back->runtime_log);
		evidence_free(ev);
		evidence_free(back);
	}
}

/*
 * The bytes tpm2_quote (tpm2-tools 5.4) wrote with -o for sha256:0-7,23
 * on a swtpm whose PCR 23 held SHA-256 extend of SHA-256("abc") and the
 * rest zero: 1200 bytes, these non-zero.
 */
static void
test_layout_matches_tpm2_quote(void **state)
{
	static const struct { uint16_t off; uint8_t v; } nz[] = {
		{ 0, 0x01 }, { 4, 0x0b }, { 6, 0x03 }, { 7, 0xff }, { 9, 0x80 },
		{ 132, 0x02 }, { 136, 0x08 }, { 140, 0x20 }, { 206, 0x20 },
		{ 272, 0x20 }, { 338, 0x20 }, { 404, 0x20 }, { 470, 0x20 },
		{ 536, 0x20 }, { 602, 0x20 }, { 668, 0x01 }, { 672, 0x20 },
	};
	static const char pcr23[] =
	    "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d";
	struct evidence *ev = make_ev("sha256:0-7,23", 0);
	struct pcr_bank *pb = pcr_set_bank(&ev->pcrs, PCR_ALG_SHA256);
	uint8_t want[1200], *got = NULL;
	size_t n, len, i;

	(void)state;
	memset(pb->v, 0, sizeof(pb->v));
	assert_int_equal(hex_decode(pcr23, pb->v[23], 32, &n, NULL), 0);
	memset(want, 0, sizeof(want));
	for (i = 0; i < ARRAY_SIZE(nz); i++)
		want[nz[i].off] = nz[i].v;
	memcpy(want + 674, pb->v[23], 32);
	assert_int_equal(tpm2tools_write(prefix, ev, NULL), 0);
	slurp(".pcrs", &got, &len);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	free(got);
	evidence_free(ev);
}

/* Every proper prefix of every file is refused, naming the file. */
static void
test_truncation(void **state)
{
	static const char *const ext[] = { ".msg", ".sig", ".pcrs" };
	struct evidence *ev = make_ev("sha1:0-3+sha256:0-9", 3);
	size_t f, cut;

	(void)state;
	for (f = 0; f < ARRAY_SIZE(ext); f++) {
		uint8_t *full = NULL;
		size_t len = 0;

		assert_int_equal(tpm2tools_write(prefix, ev, NULL), 0);
		slurp(ext[f], &full, &len);
		for (cut = 0; cut < len; cut++) {
			char what[64];

			spit(ext[f], full, cut);
			snprintf(what, sizeof(what), "cut at %zu of %zu", cut,
			    len);
			expect_reject(ext[f], what);
		}
		/* and one byte too many */
		full = realloc(full, len + 1);
		assert_non_null(full);
		full[len] = 0;
		spit(ext[f], full, len + 1);
		expect_reject(ext[f], "trailing byte");
		free(full);
	}
	evidence_free(ev);
}

static void
put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Counts and sizes out of range in the .pcrs file. */
static void
test_pcrs_bad_counts(void **state)
{
	/* sha256:0-9 = 10 digests: lists of 8 and 2 */
	struct evidence *ev = make_ev("sha256:0-9", 5);
	uint8_t *good = NULL, *b;
	size_t len = 0;
	/* offsets of the two TPML_DIGESTs' counts */
	const size_t l0 = PCRS_HDR, l1 = PCRS_HDR + LIST_SIZE;
#define L0	((size_t)-1)
#define L1	((size_t)-2)
	static const struct { size_t off; uint32_t v; int u32; const char *what; }
	    cases[] = {
		{ 0, 0, 1, "selection count 0" },
		{ 0, 6, 1, "selection count 6" },
		{ 0, 17, 1, "selection count 17" },
		{ 0, 0xffffffffu, 1, "selection count 2^32-1" },
		{ 4, 0x0042, 0, "unknown bank" },
		{ 6, 5, 0, "sizeofSelect 5" },
		{ 132, 0, 1, "list count 0" },
		{ 132, 1, 1, "list count 1 (file has 2)" },
		{ 132, 3, 1, "list count 3 (file has 2)" },
		{ 132, 33, 1, "list count 33" },
		{ 132, 0x80000000u, 1, "list count 2^31" },
		{ L0, 9, 1, "digest list count 9" },
		{ L0, 0, 1, "digest list count 0" },
		{ L0, 7, 1, "first list one short" },
		{ L1, 3, 1, "second list one long" },
		{ L1, 1, 1, "second list one short" },
	};
	size_t i;

	(void)state;
	assert_int_equal(tpm2tools_write(prefix, ev, NULL), 0);
	slurp(".pcrs", &good, &len);
	assert_int_equal(len, PCRS_HDR + 2 * LIST_SIZE);
	assert_non_null(b = malloc(len + LIST_SIZE));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t off = cases[i].off;

		if (off == L0)
			off = l0;
		else if (off == L1)
			off = l1;
		memcpy(b, good, len);
		if (cases[i].u32)
			put32le(b + off, cases[i].v);
		else if (off == 4) {
			b[4] = (uint8_t)cases[i].v;
			b[5] = (uint8_t)(cases[i].v >> 8);
		} else
			b[off] = (uint8_t)cases[i].v;
		spit(".pcrs", b, len);
		expect_reject(".pcrs", cases[i].what);
	}

	/* digest of the wrong size */
	memcpy(b, good, len);
	b[l0 + 4 + 3 * 66] = 20;
	spit(".pcrs", b, len);
	expect_reject(".pcrs", "digest size 20 in a sha256 bank");

	/* PCR 24..31 selected */
	memcpy(b, good, len);
	b[6] = 4;
	b[10] = 0x01;
	spit(".pcrs", b, len);
	expect_reject(".pcrs", "PCR 24 selected");

	/* bank with an empty bitmap */
	memcpy(b, good, len);
	b[7] = b[8] = b[9] = 0;
	spit(".pcrs", b, len);
	expect_reject(".pcrs", "empty bank");

	/* the same bank twice */
	memcpy(b, good, len);
	put32le(b, 2);
	memcpy(b + 12, b + 4, 8);
	spit(".pcrs", b, len);
	expect_reject(".pcrs", "bank twice");

	/* a third, well-formed list that no selected PCR needs */
	memcpy(b, good, len);
	put32le(b + 132, 3);
	memcpy(b + len, good + l1, LIST_SIZE);
	spit(".pcrs", b, len + LIST_SIZE);
	expect_reject(".pcrs", "one list too many");

	/* the untouched file still reads */
	spit(".pcrs", good, len);
	{
		struct evidence *back = NULL;
		assert_int_equal(tpm2tools_read(prefix, &back, NULL), 0);
		assert_same(ev, back);
		evidence_free(back);
	}
	free(b);
	free(good);
	evidence_free(ev);
}

static void
test_msg_sig_bad(void **state)
{
	struct evidence *ev = make_ev("sha256:0-7,23", 9);
	uint8_t m[sizeof(msg_ok)], s[sizeof(sig_ok)];
	struct evidence *back = NULL;

	(void)state;
	assert_int_equal(tpm2tools_write(prefix, ev, NULL), 0);

	memcpy(m, msg_ok, sizeof(m)); m[0] ^= 1;
	spit(".msg", m, sizeof(m));
	expect_reject(".msg", "magic");
	memcpy(m, msg_ok, sizeof(m)); m[5] = 0x17;	/* 0x8017: certify */
	spit(".msg", m, sizeof(m));
	expect_reject(".msg", "not a quote");
	memcpy(m, msg_ok, sizeof(m)); m[MSG_EXTRA + 1] = 65;
	spit(".msg", m, sizeof(m));
	expect_reject(".msg", "extraData of 65");
	memcpy(m, msg_ok, sizeof(m)); m[MSG_SELCOUNT] = 17;
	spit(".msg", m, sizeof(m));
	expect_reject(".msg", "pcrSelect count 17");
	memcpy(m, msg_ok, sizeof(m)); m[MSG_SIZEOFSEL] = 5;
	spit(".msg", m, sizeof(m));
	expect_reject(".msg", "sizeofSelect 5");
	memcpy(m, msg_ok, sizeof(m)); m[MSG_EXTRA + 6 + 16] = 2;
	spit(".msg", m, sizeof(m));
	expect_reject(".msg", "safe = 2");
	spit(".msg", msg_ok, sizeof(msg_ok));

	memcpy(s, sig_ok, sizeof(s)); s[1] = 0x17;	/* HMAC */
	spit(".sig", s, sizeof(s));
	expect_reject(".sig", "HMAC signature");
	memcpy(s, sig_ok, sizeof(s)); s[3] = 0x42;
	spit(".sig", s, sizeof(s));
	expect_reject(".sig", "unknown hash");
	memcpy(s, sig_ok, sizeof(s)); s[5] = 0x21;
	spit(".sig", s, sizeof(s));
	expect_reject(".sig", "r one byte longer than there is");
	memcpy(s, sig_ok, sizeof(s)); s[4] = 0x02;	/* 0x0220 > 128 */
	spit(".sig", s, sizeof(s));
	expect_reject(".sig", "r of 544 bytes");
	spit(".sig", sig_ok, sizeof(sig_ok));

	assert_int_equal(tpm2tools_read(prefix, &back, NULL), 0);
	evidence_free(back);
	evidence_free(ev);
}

/* Write refuses incomplete evidence and then leaves no files behind. */
static void
test_write_rejects(void **state)
{
	struct evidence *ev = make_ev("sha256:0-3", 1);
	struct pcr_bank *pb = pcr_set_bank(&ev->pcrs, PCR_ALG_SHA256);
	struct vouch_err e = VOUCH_ERR_INIT;
	char p[160];

	(void)state;
	teardown(NULL);
	assert_int_equal(setup(NULL), 0);
	pb->set &= ~(1u << 2);
	assert_true(tpm2tools_write(prefix, ev, &e) < 0);
	assert_non_null(strstr(e.msg, "missing"));
	snprintf(p, sizeof(p), "%s.msg", prefix);
	assert_int_equal(access(p, F_OK), -1);
	pb->set |= 1u << 2;
	free(ev->sig);
	ev->sig = NULL;
	assert_true(tpm2tools_write(prefix, ev, NULL) < 0);
	assert_int_equal(access(p, F_OK), -1);
	evidence_free(ev);
	/* a prefix with no files at all */
	{
		struct evidence *back = NULL;
		assert_true(tpm2tools_read(prefix, &back, &e) < 0);
		assert_null(back);
		assert_non_null(strstr(e.msg, ".msg"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_layout_matches_tpm2_quote),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_pcrs_bad_counts),
		cmocka_unit_test(test_msg_sig_bad),
		cmocka_unit_test(test_write_rejects),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
