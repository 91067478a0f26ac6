/*
 * Unit tests: measure/eventlog.c with hand-built crypto-agile logs.
 *
 * Expected PCR values are computed here with OpenSSL directly (not with
 * pcr_extend), so a bug in the replay cannot hide behind the same code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "measure/eventlog.h"

/* --- a growable byte buffer to build logs -------------------------------- */

struct lb {
	uint8_t	*p;
	size_t	 len, cap;
	size_t	 ends[64];	/* offset after each event */
	size_t	 nends;
};

static void
lb_put(struct lb *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n > 0)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void
lb_u8(struct lb *b, uint8_t v)
{
	lb_put(b, &v, 1);
}

static void
lb_u16(struct lb *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	lb_put(b, x, 2);
}

static void
lb_u32(struct lb *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 24) };
	lb_put(b, x, 4);
}

static void
lb_u64(struct lb *b, uint64_t v)
{
	lb_u32(b, (uint32_t)v);
	lb_u32(b, (uint32_t)(v >> 32));
}

static void
lb_mark(struct lb *b)
{
	if (b->nends < 64)
		b->ends[b->nends++] = b->len;
}

static void
lb_free(struct lb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

struct alg_decl {
	uint16_t	alg;
	uint16_t	size;
};

/* The SHA-1-format header event with a Spec ID event declaring algs. */
static void
lb_specid(struct lb *b, const struct alg_decl *algs, size_t n)
{
	static const uint8_t zero[20];
	size_t i;

	lb_u32(b, 0);
	lb_u32(b, EV_NO_ACTION);
	lb_put(b, zero, 20);
	lb_u32(b, (uint32_t)(16 + 4 + 4 + 4 + 4 * n + 1));
	lb_put(b, "Spec ID Event03", 16);
	lb_u32(b, 0);		/* platformClass */
	lb_u8(b, 0);		/* minor */
	lb_u8(b, 2);		/* major */
	lb_u8(b, 0);		/* errata */
	lb_u8(b, 2);		/* uintnSize */
	lb_u32(b, (uint32_t)n);
	for (i = 0; i < n; i++) {
		lb_u16(b, algs[i].alg);
		lb_u16(b, algs[i].size);
	}
	lb_u8(b, 0);		/* vendorInfoSize */
	lb_mark(b);
}

static const struct alg_decl two_banks[] = {
	{ PCR_ALG_SHA1, 20 }, { PCR_ALG_SHA256, 32 },
};

static void
md(const char *name, const void *d, size_t n, uint8_t *out)
{
	unsigned int len;

	assert_int_equal(EVP_Digest(d, n, out, &len,
	    EVP_get_digestbyname(name), NULL), 1);
}

/* An event with sha1 and sha256 digests of its own data. */
static void
lb_event(struct lb *b, uint32_t pcr, uint32_t type, const void *data,
    uint32_t len)
{
	uint8_t d1[20], d256[32];

	md("SHA1", data, len, d1);
	md("SHA256", data, len, d256);
	lb_u32(b, pcr);
	lb_u32(b, type);
	lb_u32(b, 2);
	lb_u16(b, PCR_ALG_SHA1);
	lb_put(b, d1, 20);
	lb_u16(b, PCR_ALG_SHA256);
	lb_put(b, d256, 32);
	lb_u32(b, len);
	lb_put(b, data, len);
	lb_mark(b);
}

/* UEFI_VARIABLE_DATA for a variable name (ASCII, encoded UTF-16LE). */
static size_t
efi_var(uint8_t *out, const char *name)
{
	struct lb v = { 0 };
	size_t i, n = strlen(name);
	static const uint8_t guid[16] = { 0x61, 0xdf, 0xe4, 0x8b };

	lb_put(&v, guid, 16);
	lb_u64(&v, n);
	lb_u64(&v, 1);
	for (i = 0; i < n; i++)
		lb_u16(&v, (uint8_t)name[i]);
	lb_u8(&v, 1);		/* variable data */
	memcpy(out, v.p, v.len);
	n = v.len;
	lb_free(&v);
	return n;
}

static const uint8_t startup_loc3[17] = "StartupLocality\0\3";
static const uint8_t sep0[4] = { 0, 0, 0, 0 };

/*
 * The reference log:
 *	0 Spec ID (sha1, sha256)
 *	1 StartupLocality 3 (EV_NO_ACTION, PCR 0)
 *	2 EV_NO_ACTION on PCR 4 with real-looking digests: never extended
 *	3 EV_POST_CODE PCR 0 "POST"
 *	4 EV_EFI_VARIABLE_DRIVER_CONFIG PCR 7 "SecureBoot"
 *	5 EV_EFI_ACTION PCR 5 "Calling EFI Application"
 *	6 EV_SEPARATOR PCR 7
 *	7 EV_ACTION PCR 17 (a D-RTM PCR: starts at ff..ff)
 */
static void
build_reference(struct lb *b)
{
	uint8_t var[128];
	size_t vlen = efi_var(var, "SecureBoot");

	lb_specid(b, two_banks, 2);
	lb_event(b, 0, EV_NO_ACTION, startup_loc3, sizeof(startup_loc3));
	lb_event(b, 4, EV_NO_ACTION, "noise", 5);
	lb_event(b, 0, EV_POST_CODE, "POST", 4);
	lb_event(b, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, var, (uint32_t)vlen);
	lb_event(b, 5, EV_EFI_ACTION, "Calling EFI Application", 23);
	lb_event(b, 7, EV_SEPARATOR, sep0, 4);
	lb_event(b, 17, EV_ACTION, "drtm", 4);
}

/* Expected PCR after extending start with H(data_i) for each data_i. */
static void
expect_pcr(const char *name, size_t size, uint8_t init_fill, uint8_t last,
    const void *const *data, const size_t *lens, size_t n, uint8_t *out)
{
	uint8_t buf[128], d[64];
	size_t i;

	memset(out, init_fill, size);
	out[size - 1] = last ? last : init_fill;
	for (i = 0; i < n; i++) {
		md(name, data[i], lens[i], d);
		memcpy(buf, out, size);
		memcpy(buf + size, d, size);
		md(name, buf, 2 * size, out);
	}
}

static void
test_replay_two_banks(void **state)
{
	struct lb b = { 0 };
	struct eventlog *log = NULL;
	struct pcr_set set;
	struct vouch_err e = VOUCH_ERR_INIT;
	const struct pcr_bank *bk;
	uint16_t algs[4];
	uint8_t var[128], want[32];
	size_t vlen = efi_var(var, "SecureBoot");

	(void)state;
	build_reference(&b);
	assert_int_equal(eventlog_parse(b.p, b.len, &log, &e), 0);
	assert_int_equal(eventlog_count(log), 8);
	assert_int_equal(eventlog_locality(log), 3);
	assert_int_equal(eventlog_banks(log, algs, 4), 2);
	assert_int_equal(algs[0], PCR_ALG_SHA1);
	assert_int_equal(algs[1], PCR_ALG_SHA256);
	assert_int_equal(eventlog_get(log, 3)->offset, b.ends[2]);
	assert_int_equal(eventlog_get(log, 4)->pcr, 7);
	assert_null(eventlog_get(log, 8));
	assert_int_equal(eventlog_replay(log, &set, &e), 0);
	assert_int_equal(set.nbanks, 2);

	bk = pcr_set_bank_const(&set, PCR_ALG_SHA256);
	assert_non_null(bk);
	/* PCR 4's EV_NO_ACTION must not count; PCR 0 marked by locality. */
	assert_int_equal(bk->set, (1u << 0) | (1u << 5) | (1u << 7) | (1u << 17));
	{
		const void *d[] = { "POST" };
		size_t l[] = { 4 };
		expect_pcr("SHA256", 32, 0, 3, d, l, 1, want);
		assert_memory_equal(bk->v[0], want, 32);
	}
	{
		const void *d[] = { var, sep0 };
		size_t l[] = { vlen, 4 };
		expect_pcr("SHA256", 32, 0, 0, d, l, 2, want);
		assert_memory_equal(bk->v[7], want, 32);
	}
	{
		const void *d[] = { "drtm" };
		size_t l[] = { 4 };
		expect_pcr("SHA256", 32, 0xff, 0, d, l, 1, want);
		assert_memory_equal(bk->v[17], want, 32);
	}
	/* Never extended: PCR 4 stays zero, PCR 20 stays all ones. */
	memset(want, 0, 32);
	assert_memory_equal(bk->v[4], want, 32);
	memset(want, 0xff, 32);
	assert_memory_equal(bk->v[20], want, 32);

	bk = pcr_set_bank_const(&set, PCR_ALG_SHA1);
	assert_non_null(bk);
	{
		const void *d[] = { "Calling EFI Application" };
		size_t l[] = { 23 };
		expect_pcr("SHA1", 20, 0, 0, d, l, 1, want);
		assert_memory_equal(bk->v[5], want, 20);
	}
	{
		const void *d[] = { "POST" };
		size_t l[] = { 4 };
		expect_pcr("SHA1", 20, 0, 3, d, l, 1, want);
		assert_memory_equal(bk->v[0], want, 20);
	}
	eventlog_free(log);
	lb_free(&b);
}

static void
test_no_locality(void **state)
{
	struct lb b = { 0 };
	struct eventlog *log = NULL;
	struct pcr_set set;
	uint8_t want[32];

	(void)state;
	lb_specid(&b, two_banks, 2);
	lb_event(&b, 0, EV_POST_CODE, "POST", 4);
	assert_int_equal(eventlog_parse(b.p, b.len, &log, NULL), 0);
	assert_int_equal(eventlog_locality(log), 0);
	assert_int_equal(eventlog_replay(log, &set, NULL), 0);
	{
		const void *d[] = { "POST" };
		size_t l[] = { 4 };
		expect_pcr("SHA256", 32, 0, 0, d, l, 1, want);
		assert_memory_equal(pcr_set_bank_const(&set,
		    PCR_ALG_SHA256)->v[0], want, 32);
	}
	assert_int_equal(pcr_set_bank_const(&set, PCR_ALG_SHA256)->set, 1u);
	eventlog_free(log);
	lb_free(&b);

	/* Only the header: no PCR is marked. */
	lb_specid(&b, two_banks, 2);
	assert_int_equal(eventlog_parse(b.p, b.len, &log, NULL), 0);
	assert_int_equal(eventlog_count(log), 1);
	assert_int_equal(eventlog_replay(log, &set, NULL), 0);
	assert_int_equal(set.bank[0].set, 0);
	eventlog_free(log);
	lb_free(&b);
}

/* Every proper prefix: a clean prefix log at event ends, else TRUNCATED. */
static void
test_truncation_every_length(void **state)
{
	struct lb b = { 0 };
	size_t len, k, nev;

	(void)state;
	build_reference(&b);
	for (len = 0; len < b.len; len++) {
		struct eventlog *log = NULL;
		struct vouch_err e = VOUCH_ERR_INIT;
		uint8_t *copy = malloc(len ? len : 1);
		int r;

		assert_non_null(copy);
		memcpy(copy, b.p, len);
		r = eventlog_parse(copy, len, &log, &e);
		for (nev = 0, k = 0; k < b.nends; k++)
			if (b.ends[k] == len)
				nev = k + 1;
		if (nev > 0) {
			if (r != 0)
				fail_msg("len %zu (event boundary): %s", len,
				    e.msg);
			assert_int_equal(eventlog_count(log), nev);
		} else {
			if (r != VOUCH_E_TRUNCATED)
				fail_msg("len %zu: got %d (%s), want truncated",
				    len, r, e.msg);
			assert_null(log);
			assert_non_null(strstr(e.msg, "offset"));
			assert_non_null(strstr(e.msg, "event"));
		}
		eventlog_free(log);
		free(copy);
	}
	lb_free(&b);
}

/* Flip every bit: parse and replay must never crash or leak. */
static void
test_bitflips(void **state)
{
	struct lb b = { 0 };
	size_t i, parsed = 0, rejected = 0;
	int bit;

	(void)state;
	build_reference(&b);
	for (i = 0; i < b.len; i++)
		for (bit = 0; bit < 8; bit++) {
			struct eventlog *log = NULL;
			struct pcr_set set;
			char desc[64];
			size_t k;

			b.p[i] ^= (uint8_t)(1u << bit);
			if (eventlog_parse(b.p, b.len, &log, NULL) == 0) {
				parsed++;
				(void)eventlog_replay(log, &set, NULL);
				for (k = 0; k < eventlog_count(log); k++)
					eventlog_describe(eventlog_get(log, k),
					    desc, sizeof(desc));
			} else
				rejected++;
			eventlog_free(log);
			b.p[i] ^= (uint8_t)(1u << bit);
		}
	/* Both happen: digests/data flips parse, structure flips do not. */
	assert_true(parsed > 0);
	assert_true(rejected > 0);
	lb_free(&b);
}

static void
expect_error(const struct lb *b, int code, const char *needle)
{
	struct eventlog *log = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	int r = eventlog_parse(b->p, b->len, &log, &e);

	if (r != code)
		fail_msg("got %d (%s), want %d", r, e.msg, code);
	assert_null(log);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("'%s' lacks '%s'", e.msg, needle);
}

static void
test_unknown_alg_in_event(void **state)
{
	struct lb b = { 0 };
	uint8_t d[32] = { 0 };

	(void)state;
	lb_specid(&b, two_banks, 2);
	lb_event(&b, 0, EV_POST_CODE, "POST", 4);
	lb_u32(&b, 1);
	lb_u32(&b, EV_ACTION);
	lb_u32(&b, 2);
	lb_u16(&b, PCR_ALG_SHA1);
	lb_put(&b, d, 20);
	lb_u16(&b, PCR_ALG_SHA384);	/* not declared in the Spec ID */
	lb_put(&b, d, 32);
	lb_u32(&b, 0);
	expect_error(&b, VOUCH_E_FORMAT, "event 2 at offset");
	expect_error(&b, VOUCH_E_FORMAT, "0x000c");
	lb_free(&b);
}

static void
test_digest_count_mismatch(void **state)
{
	struct lb b = { 0 };
	uint8_t d[32] = { 0 };
	char where[64];

	(void)state;
	lb_specid(&b, two_banks, 2);
	snprintf(where, sizeof(where), "event 1 at offset %zu", b.len);
	lb_u32(&b, 0);
	lb_u32(&b, EV_POST_CODE);
	lb_u32(&b, 1);			/* one digest, two declared */
	lb_u16(&b, PCR_ALG_SHA256);
	lb_put(&b, d, 32);
	lb_u32(&b, 0);
	expect_error(&b, VOUCH_E_FORMAT, where);
	lb_free(&b);

	/* Right count, the same algorithm twice. */
	lb_specid(&b, two_banks, 2);
	lb_u32(&b, 0);
	lb_u32(&b, EV_POST_CODE);
	lb_u32(&b, 2);
	lb_u16(&b, PCR_ALG_SHA1);
	lb_put(&b, d, 20);
	lb_u16(&b, PCR_ALG_SHA1);
	lb_put(&b, d, 20);
	lb_u32(&b, 0);
	expect_error(&b, VOUCH_E_FORMAT, "two digests");
	lb_free(&b);
}

static void
test_huge_sizes(void **state)
{
	struct lb b = { 0 };
	struct eventlog *log = NULL;
	uint8_t d[32] = { 0 }, one = 0;
	size_t i;

	(void)state;
	/* Event data size far past the end and past the limit. */
	lb_specid(&b, two_banks, 2);
	lb_u32(&b, 0);
	lb_u32(&b, EV_POST_CODE);
	lb_u32(&b, 2);
	lb_u16(&b, PCR_ALG_SHA1);
	lb_put(&b, d, 20);
	lb_u16(&b, PCR_ALG_SHA256);
	lb_put(&b, d, 32);
	lb_u32(&b, 0xffffffffu);
	expect_error(&b, VOUCH_E_LIMIT, "event 1");
	b.len -= 4;
	lb_u32(&b, EVENTLOG_MAX_EVENT_DATA + 1);
	expect_error(&b, VOUCH_E_LIMIT, "exceeds");
	b.len -= 4;
	lb_u32(&b, EVENTLOG_MAX_EVENT_DATA);	/* allowed, but absent */
	expect_error(&b, VOUCH_E_TRUNCATED, "event data");
	lb_free(&b);

	/* Spec ID claiming 2^32-1 algorithms. */
	lb_specid(&b, two_banks, 2);
	b.p[32 + 24] = b.p[32 + 25] = b.p[32 + 26] = b.p[32 + 27] = 0xff;
	expect_error(&b, VOUCH_E_LIMIT, "algorithms");
	lb_free(&b);

	/* Header event size past the limit. */
	lb_specid(&b, two_banks, 2);
	b.p[28] = b.p[29] = b.p[30] = b.p[31] = 0xff;
	expect_error(&b, VOUCH_E_LIMIT, "event 0");
	lb_free(&b);

	/* A whole log larger than the limit (checked before any read). */
	assert_int_equal(eventlog_parse(&one, (size_t)EVENTLOG_MAX_SIZE + 1,
	    &log, NULL), VOUCH_E_LIMIT);

	/* More events than EVENTLOG_MAX_EVENTS (sha1-only, 38 bytes each). */
	{
		static const struct alg_decl sha1[] = { { PCR_ALG_SHA1, 20 } };
		lb_specid(&b, sha1, 1);
		for (i = 0; i < EVENTLOG_MAX_EVENTS; i++) {
			lb_u32(&b, 1);
			lb_u32(&b, EV_ACTION);
			lb_u32(&b, 1);
			lb_u16(&b, PCR_ALG_SHA1);
			lb_put(&b, d, 20);
			lb_u32(&b, 0);
		}
		expect_error(&b, VOUCH_E_LIMIT, "more than 65536 events");
		/* One fewer is fine. */
		b.len -= 38;
		assert_int_equal(eventlog_parse(b.p, b.len, &log, NULL), 0);
		assert_int_equal(eventlog_count(log), EVENTLOG_MAX_EVENTS);
		eventlog_free(log);
		lb_free(&b);
	}
}

static void
test_specid_errors(void **state)
{
	struct lb b = { 0 };
	static const struct alg_decl dup[] = {
		{ PCR_ALG_SHA256, 32 }, { PCR_ALG_SHA256, 32 } };
	static const struct alg_decl badsize[] = { { PCR_ALG_SHA256, 20 } };

	(void)state;
	lb_specid(&b, two_banks, 2);
	b.p[4] = 1;			/* type EV_POST_CODE */
	expect_error(&b, VOUCH_E_FORMAT, "Spec ID header");
	lb_free(&b);

	lb_specid(&b, two_banks, 2);
	b.p[32] = 'X';			/* signature */
	expect_error(&b, VOUCH_E_FORMAT, "signature");
	lb_free(&b);

	lb_specid(&b, dup, 2);
	expect_error(&b, VOUCH_E_FORMAT, "declared twice");
	lb_free(&b);

	lb_specid(&b, badsize, 1);
	expect_error(&b, VOUCH_E_FORMAT, "digest size");
	lb_free(&b);

	lb_specid(&b, two_banks, 2);
	b.p[32 + 21] = 1;		/* specVersionMajor */
	expect_error(&b, VOUCH_E_FORMAT, "version");
	lb_free(&b);

	/* A Spec ID event one byte longer than its structure. */
	lb_specid(&b, two_banks, 2);
	b.p[28]++;
	lb_u8(&b, 0);
	expect_error(&b, VOUCH_E_FORMAT, "stray");
	lb_free(&b);

	/* PCR index out of range in a later event. */
	lb_specid(&b, two_banks, 2);
	lb_event(&b, 24, EV_ACTION, "x", 1);
	expect_error(&b, VOUCH_E_FORMAT, "PCR index 24");
	lb_free(&b);
}

static void
test_locality_rules(void **state)
{
	struct lb b = { 0 };
	static const uint8_t loc9[17] = "StartupLocality\0\x09";

	(void)state;
	lb_specid(&b, two_banks, 2);
	lb_event(&b, 0, EV_POST_CODE, "POST", 4);
	lb_event(&b, 0, EV_NO_ACTION, startup_loc3, sizeof(startup_loc3));
	expect_error(&b, VOUCH_E_FORMAT, "after PCR 0 was extended");
	lb_free(&b);

	lb_specid(&b, two_banks, 2);
	lb_event(&b, 0, EV_NO_ACTION, startup_loc3, sizeof(startup_loc3));
	lb_event(&b, 0, EV_NO_ACTION, startup_loc3, sizeof(startup_loc3));
	expect_error(&b, VOUCH_E_FORMAT, "another StartupLocality");
	lb_free(&b);

	lb_specid(&b, two_banks, 2);
	lb_event(&b, 0, EV_NO_ACTION, loc9, sizeof(loc9));
	expect_error(&b, VOUCH_E_FORMAT, "StartupLocality 9");
	lb_free(&b);
}

/* An algorithm pcr.h does not know: skipped by size, never replayed. */
static void
test_unknown_declared_alg(void **state)
{
	static const struct alg_decl algs[] = {
		{ 0x0099, 24 }, { PCR_ALG_SHA256, 32 } };
	struct lb b = { 0 };
	struct eventlog *log = NULL;
	struct pcr_set set;
	uint8_t d[32], want[32];
	uint16_t banks[4];

	(void)state;
	lb_specid(&b, algs, 2);
	md("SHA256", "POST", 4, d);
	lb_u32(&b, 0);
	lb_u32(&b, EV_POST_CODE);
	lb_u32(&b, 2);
	lb_u16(&b, 0x0099);
	lb_put(&b, "abcdefghijklmnopqrstuvwx", 24);
	lb_u16(&b, PCR_ALG_SHA256);
	lb_put(&b, d, 32);
	lb_u32(&b, 4);
	lb_put(&b, "POST", 4);
	assert_int_equal(eventlog_parse(b.p, b.len, &log, NULL), 0);
	assert_int_equal(eventlog_banks(log, banks, 4), 1);
	assert_int_equal(banks[0], PCR_ALG_SHA256);
	assert_int_equal(eventlog_get(log, 1)->ndigests, 1);
	assert_int_equal(eventlog_replay(log, &set, NULL), 0);
	assert_int_equal(set.nbanks, 1);
	{
		const void *dd[] = { "POST" };
		size_t l[] = { 4 };
		expect_pcr("SHA256", 32, 0, 0, dd, l, 1, want);
		assert_memory_equal(set.bank[0].v[0], want, 32);
	}
	eventlog_free(log);
	lb_free(&b);
}

static void
test_describe(void **state)
{
	struct lb b = { 0 };
	struct eventlog *log = NULL;
	char buf[128], small[5];
	static const uint8_t binary[6] = { 'a', 0x1b, '[', '2', 'J', 0xff };
	static const uint8_t sepff[4] = { 0xff, 0xff, 0xff, 0xff };
	size_t i;

	(void)state;
	build_reference(&b);
	lb_event(&b, 1, EV_EFI_ACTION, binary, sizeof(binary));
	lb_event(&b, 2, EV_SEPARATOR, sepff, 4);
	lb_event(&b, 9, EV_EVENT_TAG, "\xed\x22\x3b\x8f\x0d\0\0\0Linux initrd", 21);
	assert_int_equal(eventlog_parse(b.p, b.len, &log, NULL), 0);
	eventlog_describe(eventlog_get(log, 0), buf, sizeof(buf));
	assert_string_equal(buf, "Spec ID Event03");
	eventlog_describe(eventlog_get(log, 1), buf, sizeof(buf));
	assert_string_equal(buf, "StartupLocality 3");
	eventlog_describe(eventlog_get(log, 4), buf, sizeof(buf));
	assert_string_equal(buf, "SecureBoot");
	eventlog_describe(eventlog_get(log, 5), buf, sizeof(buf));
	assert_string_equal(buf, "Calling EFI Application");
	eventlog_describe(eventlog_get(log, 6), buf, sizeof(buf));
	assert_string_equal(buf, "0x00000000");
	eventlog_describe(eventlog_get(log, 8), buf, sizeof(buf));
	assert_string_equal(buf, "6 bytes");	/* escape codes never printed */
	eventlog_describe(eventlog_get(log, 9), buf, sizeof(buf));
	assert_string_equal(buf, "0xffffffff");
	eventlog_describe(eventlog_get(log, 10), buf, sizeof(buf));
	assert_string_equal(buf, "Linux initrd");
	eventlog_describe(eventlog_get(log, 5), small, sizeof(small));
	assert_string_equal(small, "Call");
	for (i = 0; i < eventlog_count(log); i++) {
		const char *p;
		eventlog_describe(eventlog_get(log, i), buf, sizeof(buf));
		for (p = buf; *p; p++)
			assert_true(*p >= 0x20 && *p <= 0x7e);
	}
	assert_string_equal(eventlog_type_name(EV_SEPARATOR), "EV_SEPARATOR");
	assert_string_equal(eventlog_type_name(EV_EFI_VARIABLE_AUTHORITY),
	    "EV_EFI_VARIABLE_AUTHORITY");
	assert_null(eventlog_type_name(0x12345678));
	eventlog_free(log);
	lb_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_two_banks),
		cmocka_unit_test(test_no_locality),
		cmocka_unit_test(test_truncation_every_length),
		cmocka_unit_test(test_bitflips),
		cmocka_unit_test(test_unknown_alg_in_event),
		cmocka_unit_test(test_digest_count_mismatch),
		cmocka_unit_test(test_huge_sizes),
		cmocka_unit_test(test_specid_errors),
		cmocka_unit_test(test_locality_rules),
		cmocka_unit_test(test_unknown_declared_alg),
		cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
