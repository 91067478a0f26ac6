/*
 * Unit tests: common/wire.c - round trip of every message type, every
 * rejection reason, truncation at every length, bit flips, size limits
 * checked from the header alone, encoder refusals, getter contracts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/wire.h"

static const uint8_t nonce[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    30, 31, 32 };
static const char evidence_json[] =
    "{\"format\": \"vouch-evidence\", \"version\": 1, \"nonce\": \"00\"}";
static const char mig_format[] = "vouch-xen-migration 1";
static const char mig_json[] = "{\n\t\"c_info\": {\"name\": \"vm1\"}\r\n}";
static const char alert_json[] = "{\"target\":\"web1\",\"type\":"
    "\"syscall_hook\",\"critical\":true,\"index\":39}";

#define OK(x)	assert_int_equal((x), 0)

/* Fill an encoder with every field the type allows, repeatables twice. */
static void
fill(struct wire_enc *w, uint16_t type)
{
	uint8_t ek[91], akpub[300], akname[34], cred[150], encs[256], sec[32];
	uint8_t data[300];
	size_t i;

	memset(ek, 0x30, sizeof(ek));
	memset(akpub, 0x01, sizeof(akpub));
	memset(akname, 0x0b, sizeof(akname));
	memset(cred, 0xc7, sizeof(cred));
	memset(encs, 0xe5, sizeof(encs));
	memset(sec, 0x5e, sizeof(sec));
	for (i = 0; i < sizeof(data); i++)	/* NULs and all: opaque */
		data[i] = (uint8_t)i;
	switch (type) {
	case WIRE_T_HELLO:
		OK(wire_put_str(w, WIRE_F_HOST, "host-a.region1", NULL));
		OK(wire_put_u8(w, WIRE_F_ROLE, WIRE_ROLE_VOUCHD, NULL));
		OK(wire_put_u32(w, WIRE_F_VERSION_MIN, 1, NULL));
		OK(wire_put_u32(w, WIRE_F_VERSION_MAX, 3, NULL));
		break;
	case WIRE_T_EPOCH:
		OK(wire_put_u64(w, WIRE_F_EPOCH, 0x0102030405060708ull, NULL));
		OK(wire_put_bytes(w, WIRE_F_EPOCH_RANDOM, nonce, 32, NULL));
		OK(wire_put_str(w, WIRE_F_NEIGHBOUR, "host-b", NULL));
		OK(wire_put_str(w, WIRE_F_NEIGHBOUR, "host-c", NULL));
		break;
	case WIRE_T_CHALLENGE:
		OK(wire_put_bytes(w, WIRE_F_NONCE, nonce, 32, NULL));
		OK(wire_put_str(w, WIRE_F_PCR_SEL, "sha256:0-7,23", NULL));
		OK(wire_put_u32(w, WIRE_F_FLAGS, WIRE_CHAL_FULL_LOG, NULL));
		break;
	case WIRE_T_EVIDENCE:
		OK(wire_put_bytes(w, WIRE_F_EVIDENCE, evidence_json,
		    strlen(evidence_json), NULL));
		break;
	case WIRE_T_VERDICT:
		OK(wire_put_str(w, WIRE_F_SUBJECT, "host-b", NULL));
		OK(wire_put_str(w, WIRE_F_VERIFIER, "host-a", NULL));
		OK(wire_put_u64(w, WIRE_F_TIME, 1700000000, NULL));
		OK(wire_put_u8(w, WIRE_F_RESULT, WIRE_RESULT_FAIL, NULL));
		OK(wire_put_str(w, WIRE_F_REASON, "pcr 4: digest mismatch", NULL));
		OK(wire_put_str(w, WIRE_F_REASON, "runtime: /usr/sbin/xl \xc3\xa9",
		    NULL));
		OK(wire_put_bytes(w, WIRE_F_EVIDENCE, evidence_json,
		    strlen(evidence_json), NULL));
		OK(wire_put_u64(w, WIRE_F_SEQ, 77, NULL));
		OK(wire_put_u64(w, WIRE_F_EPOCH, 5, NULL));
		break;
	case WIRE_T_ENROL_REQUEST:
		OK(wire_put_bytes(w, WIRE_F_EK_PUB, ek, sizeof(ek), NULL));
		OK(wire_put_bytes(w, WIRE_F_EK_CERT, ek, 50, NULL));
		OK(wire_put_bytes(w, WIRE_F_AK_PUB, akpub, sizeof(akpub), NULL));
		OK(wire_put_bytes(w, WIRE_F_AK_NAME, akname, sizeof(akname), NULL));
		break;
	case WIRE_T_ENROL_CHALLENGE:
		OK(wire_put_bytes(w, WIRE_F_CREDENTIAL, cred, sizeof(cred), NULL));
		OK(wire_put_bytes(w, WIRE_F_ENC_SECRET, encs, sizeof(encs), NULL));
		break;
	case WIRE_T_ENROL_PROOF:
		OK(wire_put_bytes(w, WIRE_F_SECRET, sec, sizeof(sec), NULL));
		break;
	case WIRE_T_STATUS_REQUEST:
		OK(wire_put_str(w, WIRE_F_JSON, "{\"what\": \"ivt\"}", NULL));
		break;
	case WIRE_T_STATUS_REPLY:
		OK(wire_put_str(w, WIRE_F_JSON,
		    "{\n\t\"hosts\": [\"host-a\"]\r\n}", NULL));
		break;
	case WIRE_T_ACK:
		OK(wire_put_u64(w, WIRE_F_SEQ, UINT64_MAX, NULL));
		break;
	case WIRE_T_ERROR:
		OK(wire_put_u32(w, WIRE_F_CODE, WIRE_ERR_REASON_BASE +
		    WIRE_R_BAD_MAGIC, NULL));
		OK(wire_put_str(w, WIRE_F_MESSAGE, "wire: bad-magic", NULL));
		break;
	case WIRE_T_MIG_CONFIG:
		OK(wire_put_str(w, WIRE_F_FORMAT, mig_format, NULL));
		OK(wire_put_str(w, WIRE_F_JSON, mig_json, NULL));
		break;
	case WIRE_T_MIG_READY:
		break;		/* no fields */
	case WIRE_T_MIG_DATA:
		OK(wire_put_bytes(w, WIRE_F_DATA, data, sizeof(data), NULL));
		break;
	case WIRE_T_MIG_END:
		OK(wire_put_u64(w, WIRE_F_TOTAL, 0x0102030405060708ull, NULL));
		break;
	case WIRE_T_MIG_RESULT:
		OK(wire_put_u64(w, WIRE_F_TOTAL, UINT64_MAX, NULL));
		break;
	case WIRE_T_ALERT:
		OK(wire_put_str(w, WIRE_F_TARGET, "web1", NULL));
		OK(wire_put_str(w, WIRE_F_TYPE, "syscall_hook", NULL));
		OK(wire_put_u8(w, WIRE_F_CRITICAL, 1, NULL));
		OK(wire_put_u64(w, WIRE_F_TIME, 1700000000123ull, NULL));
		OK(wire_put_str(w, WIRE_F_JSON, alert_json, NULL));
		OK(wire_put_u64(w, WIRE_F_SEQ, 9, NULL));
		break;
	case WIRE_T_MIG_ORDER:
	case WIRE_T_MIG_REPORT:
		OK(wire_put_u64(w, WIRE_F_SEQ, 77, NULL));
		OK(wire_put_str(w, WIRE_F_JSON, alert_json, NULL));
		break;
	case WIRE_T_ATTEST_REQUEST:
		OK(wire_put_str(w, WIRE_F_SUBJECT, "h2.lab", NULL));
		break;
	default:
		fail_msg("no filler for type %u", type);
	}
}

/* A malloc'd copy of a complete frame of type. */
static uint8_t *
frame_of(uint16_t type, size_t *len)
{
	struct wire_enc *w = NULL;
	const uint8_t *f;
	uint8_t *copy;

	OK(wire_enc_new(type, &w, NULL));
	fill(w, type);
	OK(wire_enc_finish(w, &f, len, NULL));
	copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, f, *len);
	wire_enc_free(w);
	return copy;
}

static void
check_str(const struct wire_msg *m, uint16_t tag, size_t idx, const char *want)
{
	char buf[256];

	OK(wire_get_str_at(m, tag, idx, buf, sizeof(buf), NULL));
	assert_string_equal(buf, want);
}

static void
check_bytes(const struct wire_msg *m, uint16_t tag, size_t len, uint8_t fillv)
{
	const uint8_t *p;
	size_t n, i;

	OK(wire_get_bytes(m, tag, &p, &n, NULL));
	assert_int_equal(n, len);
	for (i = 0; i < n; i++)
		assert_int_equal(p[i], fillv);
}

/* What fill() put in, read back through the typed getters. */
static void
check_msg(const struct wire_msg *m, uint16_t type)
{
	const uint8_t *p;
	uint64_t u64;
	uint32_t u32;
	uint8_t u8;
	size_t n;

	assert_int_equal(wire_msg_type(m), type);
	assert_int_equal(wire_msg_version(m), WIRE_VERSION);
	switch (type) {
	case WIRE_T_HELLO:
		check_str(m, WIRE_F_HOST, 0, "host-a.region1");
		OK(wire_get_u8(m, WIRE_F_ROLE, &u8, NULL));
		assert_int_equal(u8, WIRE_ROLE_VOUCHD);
		OK(wire_get_u32(m, WIRE_F_VERSION_MIN, &u32, NULL));
		assert_int_equal(u32, 1);
		OK(wire_get_u32(m, WIRE_F_VERSION_MAX, &u32, NULL));
		assert_int_equal(u32, 3);
		break;
	case WIRE_T_EPOCH:
		OK(wire_get_u64(m, WIRE_F_EPOCH, &u64, NULL));
		assert_true(u64 == 0x0102030405060708ull);
		OK(wire_get_bytes(m, WIRE_F_EPOCH_RANDOM, &p, &n, NULL));
		assert_int_equal(n, 32);
		assert_memory_equal(p, nonce, 32);
		assert_int_equal(wire_count(m, WIRE_F_NEIGHBOUR), 2);
		check_str(m, WIRE_F_NEIGHBOUR, 0, "host-b");
		check_str(m, WIRE_F_NEIGHBOUR, 1, "host-c");
		break;
	case WIRE_T_CHALLENGE:
		OK(wire_get_bytes(m, WIRE_F_NONCE, &p, &n, NULL));
		assert_int_equal(n, 32);
		assert_memory_equal(p, nonce, 32);
		check_str(m, WIRE_F_PCR_SEL, 0, "sha256:0-7,23");
		OK(wire_get_u32(m, WIRE_F_FLAGS, &u32, NULL));
		assert_int_equal(u32, WIRE_CHAL_FULL_LOG);
		break;
	case WIRE_T_EVIDENCE:
		OK(wire_get_bytes(m, WIRE_F_EVIDENCE, &p, &n, NULL));
		assert_int_equal(n, strlen(evidence_json));
		assert_memory_equal(p, evidence_json, n);
		break;
	case WIRE_T_VERDICT:
		check_str(m, WIRE_F_SUBJECT, 0, "host-b");
		check_str(m, WIRE_F_VERIFIER, 0, "host-a");
		OK(wire_get_u64(m, WIRE_F_TIME, &u64, NULL));
		assert_int_equal(u64, 1700000000);
		OK(wire_get_u8(m, WIRE_F_RESULT, &u8, NULL));
		assert_int_equal(u8, WIRE_RESULT_FAIL);
		assert_int_equal(wire_count(m, WIRE_F_REASON), 2);
		check_str(m, WIRE_F_REASON, 0, "pcr 4: digest mismatch");
		check_str(m, WIRE_F_REASON, 1, "runtime: /usr/sbin/xl \xc3\xa9");
		OK(wire_get_bytes(m, WIRE_F_EVIDENCE, &p, &n, NULL));
		assert_memory_equal(p, evidence_json, n);
		OK(wire_get_u64(m, WIRE_F_SEQ, &u64, NULL));
		assert_int_equal(u64, 77);
		OK(wire_get_u64(m, WIRE_F_EPOCH, &u64, NULL));
		assert_int_equal(u64, 5);
		break;
	case WIRE_T_ENROL_REQUEST:
		check_bytes(m, WIRE_F_EK_PUB, 91, 0x30);
		check_bytes(m, WIRE_F_EK_CERT, 50, 0x30);
		check_bytes(m, WIRE_F_AK_PUB, 300, 0x01);
		check_bytes(m, WIRE_F_AK_NAME, 34, 0x0b);
		break;
	case WIRE_T_ENROL_CHALLENGE:
		check_bytes(m, WIRE_F_CREDENTIAL, 150, 0xc7);
		check_bytes(m, WIRE_F_ENC_SECRET, 256, 0xe5);
		break;
	case WIRE_T_ENROL_PROOF:
		check_bytes(m, WIRE_F_SECRET, 32, 0x5e);
		break;
	case WIRE_T_STATUS_REQUEST:
		check_str(m, WIRE_F_JSON, 0, "{\"what\": \"ivt\"}");
		break;
	case WIRE_T_STATUS_REPLY:
		check_str(m, WIRE_F_JSON, 0, "{\n\t\"hosts\": [\"host-a\"]\r\n}");
		break;
	case WIRE_T_ACK:
		OK(wire_get_u64(m, WIRE_F_SEQ, &u64, NULL));
		assert_true(u64 == UINT64_MAX);
		break;
	case WIRE_T_ERROR:
		OK(wire_get_u32(m, WIRE_F_CODE, &u32, NULL));
		assert_int_equal(u32, WIRE_ERR_REASON_BASE + WIRE_R_BAD_MAGIC);
		check_str(m, WIRE_F_MESSAGE, 0, "wire: bad-magic");
		break;
	case WIRE_T_MIG_CONFIG:
		check_str(m, WIRE_F_FORMAT, 0, mig_format);
		check_str(m, WIRE_F_JSON, 0, mig_json);
		break;
	case WIRE_T_MIG_READY:
		assert_int_equal(wire_msg_nfields(m), 0);
		break;
	case WIRE_T_MIG_DATA:
		OK(wire_get_bytes(m, WIRE_F_DATA, &p, &n, NULL));
		assert_int_equal(n, 300);
		for (n = 0; n < 300; n++)
			assert_int_equal(p[n], (uint8_t)n);
		break;
	case WIRE_T_MIG_END:
		OK(wire_get_u64(m, WIRE_F_TOTAL, &u64, NULL));
		assert_true(u64 == 0x0102030405060708ull);
		break;
	case WIRE_T_MIG_RESULT:
		OK(wire_get_u64(m, WIRE_F_TOTAL, &u64, NULL));
		assert_true(u64 == UINT64_MAX);
		break;
	case WIRE_T_ALERT:
		check_str(m, WIRE_F_TARGET, 0, "web1");
		check_str(m, WIRE_F_TYPE, 0, "syscall_hook");
		OK(wire_get_u8(m, WIRE_F_CRITICAL, &u8, NULL));
		assert_int_equal(u8, 1);
		OK(wire_get_u64(m, WIRE_F_TIME, &u64, NULL));
		assert_true(u64 == 1700000000123ull);
		check_str(m, WIRE_F_JSON, 0, alert_json);
		OK(wire_get_u64(m, WIRE_F_SEQ, &u64, NULL));
		assert_int_equal(u64, 9);
		break;
	case WIRE_T_MIG_ORDER:
	case WIRE_T_MIG_REPORT:
		OK(wire_get_u64(m, WIRE_F_SEQ, &u64, NULL));
		assert_int_equal(u64, 77);
		check_str(m, WIRE_F_JSON, 0, alert_json);
		break;
	case WIRE_T_ATTEST_REQUEST:
		check_str(m, WIRE_F_SUBJECT, 0, "h2.lab");
		break;
	default:
		fail_msg("no checker for type %u", type);
	}
}

static void
test_roundtrip_all_types(void **state)
{
	uint16_t t;

	(void)state;
	for (t = 1; t < WIRE_T_COUNT_; t++) {
		struct wire_msg *m = NULL;
		struct vouch_err e = VOUCH_ERR_INIT;
		enum wire_reason why = WIRE_R_COUNT_;
		size_t len;
		uint8_t *f = frame_of(t, &len);

		assert_non_null(wire_type_name(t));
		assert_memory_equal(f, WIRE_MAGIC, 4);
		if (wire_decode(f, len, &m, &why, &e) < 0)
			fail_msg("%s: %s", wire_type_name(t), e.msg);
		assert_int_equal(why, WIRE_R_OK);
		check_msg(m, t);
		wire_msg_free(m);
		free(f);
	}
}

/* Re-encode a decoded message field by field: must give the same bytes. */
static void
assert_reencodes(const struct wire_msg *m, const uint8_t *frame, size_t len)
{
	struct wire_enc *w = NULL;
	const uint8_t *out, *v;
	size_t i, n, vlen;
	uint16_t tag;

	OK(wire_enc_new(wire_msg_type(m), &w, NULL));
	for (i = 0; i < wire_msg_nfields(m); i++) {
		OK(wire_msg_field(m, i, &tag, &v, &vlen));
		OK(wire_put_bytes(w, tag, v, vlen, NULL));
	}
	OK(wire_enc_finish(w, &out, &n, NULL));
	assert_int_equal(n, len);
	assert_memory_equal(out, frame, len);
	wire_enc_free(w);
}

/* Every proper prefix of every valid frame is rejected. */
static void
test_truncation_every_length(void **state)
{
	uint16_t t;

	(void)state;
	for (t = 1; t < WIRE_T_COUNT_; t++) {
		size_t len, k;
		uint8_t *f = frame_of(t, &len);

		for (k = 0; k < len; k++) {
			/* Exact-size copy: ASan catches any read past k. */
			uint8_t *p = malloc(k ? k : 1);
			struct wire_msg *m = NULL;
			enum wire_reason why = WIRE_R_OK;

			assert_non_null(p);
			memcpy(p, f, k);
			if (wire_decode(p, k, &m, &why, NULL) == 0)
				fail_msg("%s cut at %zu/%zu accepted",
				    wire_type_name(t), k, len);
			assert_int_equal(why, k < WIRE_HDR_LEN ?
			    WIRE_R_SHORT_HEADER : WIRE_R_TRUNCATED);
			assert_null(m);
			free(p);
		}
		free(f);
	}
}

/*
 * Flip every bit of every frame (header and body): each variant is either
 * rejected, or decodes to a message that re-encodes to exactly the
 * flipped bytes (no silent reinterpretation).  Header flips are always
 * rejected except in the type field, where a flip may land on another
 * type with a compatible schema.
 */
static void
test_bit_flips(void **state)
{
	uint16_t t;

	(void)state;
	for (t = 1; t < WIRE_T_COUNT_; t++) {
		size_t len, bit;
		uint8_t *f = frame_of(t, &len);

		for (bit = 0; bit < len * 8; bit++) {
			struct wire_msg *m = NULL;
			enum wire_reason why = WIRE_R_OK;

			f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (wire_decode(f, len, &m, &why, NULL) == 0) {
				if (bit < WIRE_HDR_LEN * 8 &&
				    !(bit >= 48 && bit < 64))
					fail_msg("%s: header bit %zu flipped, "
					    "accepted", wire_type_name(t), bit);
				assert_int_equal(why, WIRE_R_OK);
				assert_reencodes(m, f, len);
				wire_msg_free(m);
			} else {
				assert_int_not_equal(why, WIRE_R_OK);
				assert_null(m);
			}
			f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		free(f);
	}
}

/* ---- hand-made frames for each rejection reason ---- */

struct raw {
	uint8_t	b[4096];
	size_t	len;
};

static void
be(uint8_t *p, uint64_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static void
raw_hdr(struct raw *r, const char *magic, uint16_t ver, uint16_t type,
    uint32_t reserved)
{
	memcpy(r->b, magic, 4);
	be(r->b + 4, ver, 2);
	be(r->b + 6, type, 2);
	be(r->b + 8, reserved, 4);
	be(r->b + 12, 0, 4);
	r->len = WIRE_HDR_LEN;
}

static void
raw_field(struct raw *r, uint16_t tag, const void *v, uint32_t len)
{
	assert_true(r->len + 6 + len <= sizeof(r->b));
	be(r->b + r->len, tag, 2);
	be(r->b + r->len + 2, len, 4);
	if (len > 0)
		memcpy(r->b + r->len + 6, v, len);
	r->len += 6 + len;
	be(r->b + 12, r->len - WIRE_HDR_LEN, 4);
}

static void
raw_u64(struct raw *r, uint16_t tag, uint64_t v)
{
	uint8_t b[8];

	be(b, v, 8);
	raw_field(r, tag, b, 8);
}

static void
raw_u8(struct raw *r, uint16_t tag, uint8_t v)
{
	raw_field(r, tag, &v, 1);
}

static void
raw_u32(struct raw *r, uint16_t tag, uint32_t v)
{
	uint8_t b[4];

	be(b, v, 4);
	raw_field(r, tag, b, 4);
}

static void
raw_str(struct raw *r, uint16_t tag, const char *s)
{
	raw_field(r, tag, s, (uint32_t)strlen(s));
}

/* A valid HELLO with the given host bytes. */
static void
raw_hello(struct raw *r, const char *host, size_t hlen)
{
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_HELLO, 0);
	raw_field(r, WIRE_F_HOST, host, (uint32_t)hlen);
	raw_u8(r, WIRE_F_ROLE, 1);
	raw_u32(r, WIRE_F_VERSION_MIN, 1);
	raw_u32(r, WIRE_F_VERSION_MAX, 1);
}

static void
raw_challenge(struct raw *r, const char *sel, uint32_t flags)
{
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_CHALLENGE, 0);
	raw_field(r, WIRE_F_NONCE, nonce, 32);
	raw_str(r, WIRE_F_PCR_SEL, sel);
	raw_u32(r, WIRE_F_FLAGS, flags);
}

static int reasons_seen[WIRE_R_COUNT_];

static void
expect(const uint8_t *b, size_t len, enum wire_reason want, const char *what)
{
	struct wire_msg *m = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	enum wire_reason why = WIRE_R_OK;
	char prefix[64];
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, b, len);
	if (wire_decode(copy, len, &m, &why, &e) == 0)
		fail_msg("%s: accepted, want %s", what, wire_reason_name(want));
	if (why != want)
		fail_msg("%s: rejected as %s (%s), want %s", what,
		    wire_reason_name(why), e.msg, wire_reason_name(want));
	snprintf(prefix, sizeof(prefix), "wire: %s: ", wire_reason_name(want));
	assert_true(strncmp(e.msg, prefix, strlen(prefix)) == 0);
	assert_true(e.code < 0);
	assert_null(m);
	reasons_seen[want] = 1;
	free(copy);
}

static void
expect_ok(const uint8_t *b, size_t len, const char *what)
{
	struct wire_msg *m = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;

	if (wire_decode(b, len, &m, NULL, &e) < 0)
		fail_msg("%s: rejected: %s", what, e.msg);
	wire_msg_free(m);
}

static void
test_rejection_reasons(void **state)
{
	struct raw r;
	uint8_t big[70];
	char label[80];
	int i;

	(void)state;
	memset(reasons_seen, 0, sizeof(reasons_seen));

	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0);
	raw_u64(&r, WIRE_F_SEQ, 1);
	expect_ok(r.b, r.len, "plain ACK");
	expect(r.b, 10, WIRE_R_SHORT_HEADER, "10-byte header");
	expect(r.b, 0, WIRE_R_SHORT_HEADER, "empty");
	expect(r.b, r.len - 1, WIRE_R_TRUNCATED, "body one short");
	r.b[r.len++] = 0;
	expect(r.b, r.len, WIRE_R_TRAILING, "one byte too many");

	raw_hdr(&r, "VCHX", 1, WIRE_T_ACK, 0);
	raw_u64(&r, WIRE_F_SEQ, 1);
	expect(r.b, r.len, WIRE_R_BAD_MAGIC, "magic");
	raw_hdr(&r, WIRE_MAGIC, 0, WIRE_T_ACK, 0);
	raw_u64(&r, WIRE_F_SEQ, 1);
	expect(r.b, r.len, WIRE_R_BAD_VERSION, "version 0");
	raw_hdr(&r, WIRE_MAGIC, WIRE_VERSION_MAX + 1, WIRE_T_ACK, 0);
	raw_u64(&r, WIRE_F_SEQ, 1);
	expect(r.b, r.len, WIRE_R_BAD_VERSION, "version from the future");
	raw_hdr(&r, WIRE_MAGIC, 1, 0, 0);
	expect(r.b, r.len, WIRE_R_UNKNOWN_TYPE, "type 0");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_COUNT_, 0);
	expect(r.b, r.len, WIRE_R_UNKNOWN_TYPE, "type past the last");
	raw_hdr(&r, WIRE_MAGIC, 1, 0xffff, 0);
	expect(r.b, r.len, WIRE_R_UNKNOWN_TYPE, "type 0xffff");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0x80000000u);
	raw_u64(&r, WIRE_F_SEQ, 1);
	expect(r.b, r.len, WIRE_R_RESERVED, "reserved bit");

	/* Oversize: only the 16 header bytes exist, and that is enough. */
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0);
	be(r.b + 12, 1000, 4);
	expect(r.b, WIRE_HDR_LEN, WIRE_R_OVERSIZE, "ACK claiming 1000 bytes");

	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_STATUS_REQUEST, 0);
	raw_str(&r, WIRE_F_JSON, "{}");
	r.b[r.len++] = 0;
	r.b[r.len++] = 1;
	r.b[r.len++] = 0;
	be(r.b + 12, r.len - WIRE_HDR_LEN, 4);
	expect(r.b, r.len, WIRE_R_FIELD_TRUNCATED, "half a field header");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_EVIDENCE, 0);
	raw_field(&r, WIRE_F_EVIDENCE, "{}", 2);
	be(r.b + WIRE_HDR_LEN + 2, 3, 4);	/* claims 3, has 2 */
	expect(r.b, r.len, WIRE_R_FIELD_TRUNCATED, "value past the body");

	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0);
	raw_u64(&r, 0, 1);
	expect(r.b, r.len, WIRE_R_UNKNOWN_TAG, "tag 0");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0);
	raw_u64(&r, WIRE_F_COUNT_, 1);
	expect(r.b, r.len, WIRE_R_UNKNOWN_TAG, "tag past the last");
	/*
	 * (An ACK's limit is one SEQ field exactly, so extra fields there
	 * are already oversize; a VERDICT has room to show the others.)
	 */
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0);
	raw_u64(&r, WIRE_F_SEQ, 1);
	raw_u64(&r, WIRE_F_SEQ, 2);
	expect(r.b, r.len, WIRE_R_OVERSIZE, "SEQ twice in an ACK");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_VERDICT, 0);
	raw_u64(&r, WIRE_F_SEQ, 1);
	raw_str(&r, WIRE_F_HOST, "host-a");
	expect(r.b, r.len, WIRE_R_TAG_NOT_ALLOWED, "HOST in a VERDICT");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_VERDICT, 0);
	raw_u64(&r, WIRE_F_SEQ, 1);
	raw_u64(&r, WIRE_F_SEQ, 2);
	expect(r.b, r.len, WIRE_R_DUPLICATE, "SEQ twice in a VERDICT");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0);
	expect(r.b, r.len, WIRE_R_MISSING, "ACK without SEQ");

	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_EPOCH, 0);
	raw_u64(&r, WIRE_F_EPOCH, 1);
	raw_field(&r, WIRE_F_EPOCH_RANDOM, nonce, 32);
	for (i = 0; i < 64; i++) {
		snprintf(label, sizeof(label), "h%d", i);
		raw_str(&r, WIRE_F_NEIGHBOUR, label);
	}
	expect_ok(r.b, r.len, "64 neighbours");
	raw_str(&r, WIRE_F_NEIGHBOUR, "h64");
	expect(r.b, r.len, WIRE_R_TOO_MANY, "65 neighbours");

	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_CHALLENGE, 0);
	raw_field(&r, WIRE_F_NONCE, nonce, 31);
	raw_str(&r, WIRE_F_PCR_SEL, "sha256:0");
	raw_u32(&r, WIRE_F_FLAGS, 0);
	expect(r.b, r.len, WIRE_R_LENGTH, "31-byte nonce");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ACK, 0);
	raw_u32(&r, WIRE_F_SEQ, 1);
	expect(r.b, r.len, WIRE_R_LENGTH, "4-byte u64");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ERROR, 0);
	raw_u32(&r, WIRE_F_CODE, 5);
	raw_field(&r, WIRE_F_MESSAGE, "", 0);
	expect(r.b, r.len, WIRE_R_LENGTH, "empty message");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ENROL_REQUEST, 0);
	raw_field(&r, WIRE_F_EK_PUB, big, 10);
	raw_field(&r, WIRE_F_AK_PUB, big, 10);
	raw_field(&r, WIRE_F_AK_NAME, big, 67);
	expect(r.b, r.len, WIRE_R_LENGTH, "67-byte AK name");

	raw_challenge(&r, "sha256:0", WIRE_CHAL_FLAGS_ALL);
	expect_ok(r.b, r.len, "known flags");
	raw_challenge(&r, "sha256:0", WIRE_CHAL_FLAGS_ALL + 1);
	expect(r.b, r.len, WIRE_R_RANGE, "unknown flag bit");
	raw_hello(&r, "a", 1);
	be(r.b + WIRE_HDR_LEN + 6 + 1 + 6, 0, 1);	/* ROLE = 0 */
	expect(r.b, r.len, WIRE_R_RANGE, "role 0");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ERROR, 0);
	raw_u32(&r, WIRE_F_CODE, 0);
	raw_str(&r, WIRE_F_MESSAGE, "x");
	expect(r.b, r.len, WIRE_R_RANGE, "error code 0");

	raw_challenge(&r, "sha256:0\n", 0);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "LF in a string");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_ERROR, 0);
	raw_u32(&r, WIRE_F_CODE, 5);
	raw_field(&r, WIRE_F_MESSAGE, "a\0b", 3);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "NUL in a string");
	raw_challenge(&r, "\xc0\x80", 0);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "overlong NUL");
	raw_challenge(&r, "\xed\xa0\x80", 0);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "surrogate");
	raw_challenge(&r, "\xf4\x90\x80\x80", 0);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "past U+10FFFF");
	raw_challenge(&r, "\xc2\x85", 0);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "C1 control");
	raw_challenge(&r, "abc\xe2\x82", 0);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "cut multibyte");
	raw_challenge(&r, "\x7f", 0);
	expect(r.b, r.len, WIRE_R_BAD_STRING, "DEL");
	raw_challenge(&r, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0);
	expect_ok(r.b, r.len, "UTF-8 string");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_STATUS_REQUEST, 0);
	raw_str(&r, WIRE_F_JSON, "{\n\t\"a\": 1\r\n}");
	expect_ok(r.b, r.len, "text with TAB, LF, CR");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_STATUS_REQUEST, 0);
	raw_str(&r, WIRE_F_JSON, "{\x1b}");
	expect(r.b, r.len, WIRE_R_BAD_STRING, "ESC in text");

	{
		static const char *const bad_hosts[] = { "Host-a", "-a", "a-",
		    "a..b", "a.", ".a", "a_b", "a b", "a/b", "a.-b", "a-.b" };
		size_t k;
		for (k = 0; k < sizeof(bad_hosts) / sizeof(bad_hosts[0]); k++) {
			raw_hello(&r, bad_hosts[k], strlen(bad_hosts[k]));
			expect(r.b, r.len, WIRE_R_BAD_HOST, bad_hosts[k]);
		}
		memset(label, 'a', 64);
		raw_hello(&r, label, 64);
		expect(r.b, r.len, WIRE_R_BAD_HOST, "64-char label");
		raw_hello(&r, label, 63);
		expect_ok(r.b, r.len, "63-char label");
		raw_hello(&r, "a.b-c.0", 7);
		expect_ok(r.b, r.len, "dotted host");
	}

	for (i = 1; i < WIRE_R_COUNT_; i++)
		if (!reasons_seen[i])
			fail_msg("reason %s never tested", wire_reason_name(i));
}

/* Limits come from the header alone, before any body exists. */
static void
test_oversize_from_header(void **state)
{
	uint16_t t;

	(void)state;
	assert_int_equal(wire_frame_limit(0), 32u << 20);
	assert_int_equal(wire_frame_limit(WIRE_T_COUNT_), 0);
	for (t = 1; t < WIRE_T_COUNT_; t++) {
		struct raw r;
		struct wire_hdr h;
		enum wire_reason why = WIRE_R_OK;
		size_t lim = wire_frame_limit(t);

		/* (MIG_READY has no fields: its limit is the header.) */
		assert_true(lim >= WIRE_HDR_LEN && lim <= wire_frame_limit(0));
		raw_hdr(&r, WIRE_MAGIC, 1, t, 0);
		be(r.b + 12, lim - WIRE_HDR_LEN, 4);
		OK(wire_decode_header(r.b, WIRE_HDR_LEN, &h, &why, NULL));
		assert_int_equal(h.type, t);
		assert_int_equal(h.body_len, lim - WIRE_HDR_LEN);
		be(r.b + 12, lim - WIRE_HDR_LEN + 1, 4);
		assert_int_equal(wire_decode_header(r.b, WIRE_HDR_LEN, &h,
		    &why, NULL), VOUCH_E_LIMIT);
		assert_int_equal(why, WIRE_R_OVERSIZE);
		be(r.b + 12, UINT32_MAX, 4);
		assert_int_equal(wire_decode_header(r.b, WIRE_HDR_LEN, &h,
		    &why, NULL), VOUCH_E_LIMIT);
	}
	/* The numbers docs/protocol.md publishes. */
	{
		static const size_t documented[WIRE_T_COUNT_] = { 0, 302,
		    16644, 326, 33292310, 33358797, 11370, 2076, 86, 65558,
		    8388630, 30, 1056, 1048668, 16, 262166, 30, 30, 16549, 16420,
		    16420, 275 };
		for (t = 1; t < WIRE_T_COUNT_; t++)
			assert_int_equal(wire_frame_limit(t), documented[t]);
	}
	/* The small types really are small. */
	assert_true(wire_frame_limit(WIRE_T_ACK) < 64);
	assert_true(wire_frame_limit(WIRE_T_CHALLENGE) < 1024);
	assert_true(wire_frame_limit(WIRE_T_HELLO) < 1024);
	assert_true(wire_frame_limit(WIRE_T_EVIDENCE) > WIRE_EVIDENCE_MAX);
	assert_int_equal(wire_frame_limit(WIRE_T_MIG_READY), WIRE_HDR_LEN);
	assert_int_equal(wire_frame_limit(WIRE_T_MIG_DATA),
	    WIRE_HDR_LEN + WIRE_FIELD_HDR_LEN + WIRE_MIG_DATA_MAX);
}

/* The largest evidence fits a VERDICT with every other field at its max. */
static void
test_largest_frames(void **state)
{
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const uint8_t *f;
	uint8_t *ev;
	char reason[1025], host[254];
	size_t len, i;

	(void)state;
	ev = malloc(WIRE_EVIDENCE_MAX + 1);
	assert_non_null(ev);
	memset(ev, '{', WIRE_EVIDENCE_MAX + 1);
	memset(reason, 'r', 1024);
	reason[1024] = '\0';
	for (i = 0; i < 253; i++)
		host[i] = (i % 64 == 63) ? '.' : 'h';
	host[253] = '\0';

	OK(wire_enc_new(WIRE_T_VERDICT, &w, NULL));
	OK(wire_put_str(w, WIRE_F_SUBJECT, host, NULL));
	OK(wire_put_str(w, WIRE_F_VERIFIER, host, NULL));
	OK(wire_put_u64(w, WIRE_F_TIME, 1, NULL));
	OK(wire_put_u8(w, WIRE_F_RESULT, WIRE_RESULT_PASS, NULL));
	for (i = 0; i < 64; i++)
		OK(wire_put_str(w, WIRE_F_REASON, reason, NULL));
	assert_int_equal(wire_put_str(w, WIRE_F_REASON, reason, &e),
	    VOUCH_E_LIMIT);
	assert_true(wire_put_bytes(w, WIRE_F_EVIDENCE, ev,
	    WIRE_EVIDENCE_MAX + 1, NULL) < 0);
	OK(wire_put_bytes(w, WIRE_F_EVIDENCE, ev, WIRE_EVIDENCE_MAX, NULL));
	OK(wire_put_u64(w, WIRE_F_SEQ, 1, NULL));
	OK(wire_put_u64(w, WIRE_F_EPOCH, 1, NULL));
	if (wire_enc_finish(w, &f, &len, &e) < 0)
		fail_msg("%s", e.msg);
	assert_true(len <= wire_frame_limit(WIRE_T_VERDICT));
	OK(wire_decode(f, len, &m, NULL, NULL));
	assert_int_equal(wire_count(m, WIRE_F_REASON), 64);
	wire_msg_free(m);
	wire_enc_free(w);
	free(ev);
}

/* The encoder refuses whatever the decoder would reject. */
static void
test_encoder_refusals(void **state)
{
	struct wire_enc *w = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const uint8_t *f = NULL;
	uint8_t b31[31] = { 0 };
	size_t len = 0;

	(void)state;
	assert_int_equal(wire_enc_new(0, &w, &e), VOUCH_E_INVAL);
	assert_int_equal(wire_enc_new(WIRE_T_COUNT_, &w, &e), VOUCH_E_INVAL);
	assert_null(w);

	OK(wire_enc_new(WIRE_T_CHALLENGE, &w, NULL));
	assert_int_equal(wire_put_str(w, WIRE_F_HOST, "a", &e), VOUCH_E_INVAL);
	assert_int_equal(wire_put_bytes(w, 999, "a", 1, &e), VOUCH_E_INVAL);
	assert_true(wire_put_bytes(w, WIRE_F_NONCE, b31, 31, &e) < 0);
	assert_true(wire_put_str(w, WIRE_F_PCR_SEL, "a\tb", &e) < 0);
	assert_true(wire_put_u32(w, WIRE_F_FLAGS, 2, &e) < 0);
	assert_int_equal(wire_put_u64(w, WIRE_F_FLAGS, 1, &e), VOUCH_E_INVAL);
	assert_int_equal(wire_put_str(w, WIRE_F_NONCE, "x", &e), VOUCH_E_INVAL);
	/* Nothing of the refused puts got in: only required tags missing. */
	assert_int_equal(wire_enc_finish(w, &f, &len, &e), VOUCH_E_INVAL);
	assert_null(f);
	OK(wire_put_bytes(w, WIRE_F_NONCE, nonce, 32, NULL));
	assert_int_equal(wire_put_bytes(w, WIRE_F_NONCE, nonce, 32, &e),
	    VOUCH_E_LIMIT);
	OK(wire_put_str(w, WIRE_F_PCR_SEL, "sha256:0", NULL));
	assert_int_equal(wire_enc_finish(w, &f, &len, &e), VOUCH_E_INVAL);
	OK(wire_put_u32(w, WIRE_F_FLAGS, 0, NULL));
	OK(wire_enc_finish(w, &f, &len, NULL));
	assert_int_equal(len, WIRE_HDR_LEN + 6 + 32 + 6 + 8 + 6 + 4);
	wire_enc_free(w);

	OK(wire_enc_new(WIRE_T_HELLO, &w, NULL));
	assert_int_equal(wire_put_str(w, WIRE_F_HOST, "Host", &e),
	    VOUCH_E_FORMAT);
	assert_true(strstr(e.msg, "bad-host") != NULL);
	assert_true(wire_put_u8(w, WIRE_F_ROLE, 4, &e) < 0);
	wire_enc_free(w);
	wire_enc_free(NULL);
	wire_msg_free(NULL);
}

static void
test_getter_contracts(void **state)
{
	struct wire_msg *m = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const uint8_t *p = NULL;
	uint64_t u64 = 42;
	uint32_t u32 = 42;
	uint8_t u8 = 42;
	size_t len, n = 99;
	char small[4] = "xyz", buf[64];
	uint8_t *f;
	struct raw r;

	(void)state;
	f = frame_of(WIRE_T_HELLO, &len);
	OK(wire_decode(f, len, &m, NULL, NULL));
	/* Wrong kind, not in the type: INVAL, outputs untouched. */
	assert_int_equal(wire_get_u64(m, WIRE_F_HOST, &u64, &e), VOUCH_E_INVAL);
	assert_int_equal(wire_get_u32(m, WIRE_F_ROLE, &u32, &e), VOUCH_E_INVAL);
	assert_int_equal(wire_get_u8(m, WIRE_F_SEQ, &u8, &e), VOUCH_E_INVAL);
	assert_int_equal(wire_get_bytes(m, WIRE_F_ROLE, &p, &n, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(wire_get_str(m, WIRE_F_NONCE, buf, sizeof(buf), &e),
	    VOUCH_E_INVAL);
	assert_int_equal(wire_get_u8(m, 0, &u8, &e), VOUCH_E_INVAL);
	assert_int_equal(wire_get_u8(m, 0xffff, &u8, &e), VOUCH_E_INVAL);
	assert_true(u64 == 42 && u32 == 42 && u8 == 42 && p == NULL && n == 99);
	/* Too small a buffer: LIMIT, buffer untouched. */
	assert_int_equal(wire_get_str(m, WIRE_F_HOST, small, sizeof(small), &e),
	    VOUCH_E_LIMIT);
	assert_string_equal(small, "xyz");
	assert_int_equal(wire_get_str_at(m, WIRE_F_HOST, 1, buf, sizeof(buf),
	    &e), VOUCH_E_NOTFOUND);
	/* Host through the bytes getter: zero-copy into the frame. */
	OK(wire_get_bytes(m, WIRE_F_HOST, &p, &n, NULL));
	assert_true(p > f && p + n <= f + len);
	assert_int_equal(wire_msg_nfields(m), 4);
	assert_int_equal(wire_msg_field(m, 4, &(uint16_t){ 0 }, &p, &n),
	    VOUCH_E_NOTFOUND);
	wire_msg_free(m);
	free(f);

	/* Optional absent: NOTFOUND. */
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_VERDICT, 0);
	raw_str(&r, WIRE_F_SUBJECT, "b");
	raw_str(&r, WIRE_F_VERIFIER, "a");
	raw_u64(&r, WIRE_F_TIME, 9);
	raw_u8(&r, WIRE_F_RESULT, WIRE_RESULT_ERROR);
	OK(wire_decode(r.b, r.len, &m, NULL, NULL));
	assert_int_equal(wire_get_u64(m, WIRE_F_SEQ, &u64, &e),
	    VOUCH_E_NOTFOUND);
	assert_int_equal(wire_get_bytes(m, WIRE_F_EVIDENCE, &p, &n, &e),
	    VOUCH_E_NOTFOUND);
	assert_int_equal(wire_count(m, WIRE_F_REASON), 0);
	wire_msg_free(m);
}

/* Owned buffers: freed with the message (ASan reports a leak otherwise). */
static void
test_decode_owned(void **state)
{
	struct wire_msg *m = NULL;
	size_t len;
	uint8_t *f;

	(void)state;
	f = frame_of(WIRE_T_ENROL_PROOF, &len);
	OK(wire_decode_owned(f, len, &m, NULL, NULL));
	check_msg(m, WIRE_T_ENROL_PROOF);
	wire_msg_free(m);		/* frees f */
	f = frame_of(WIRE_T_ENROL_PROOF, &len);
	f[0] ^= 1;
	assert_true(wire_decode_owned(f, len, &m, NULL, NULL) < 0);
	free(f);			/* still ours after a failure */
}

/*
 * A frame of type with one field tag of len bytes, all fillv, followed by
 * the raw fields of extra (already encoded, elen bytes); malloc'd.  For
 * values too large for struct raw.
 */
static uint8_t *
big_frame(uint16_t type, uint16_t tag, size_t len, uint8_t fillv,
    const uint8_t *extra, size_t elen, size_t *flen)
{
	uint8_t *f;

	*flen = WIRE_HDR_LEN + WIRE_FIELD_HDR_LEN + len + elen;
	f = malloc(*flen);
	assert_non_null(f);
	memcpy(f, WIRE_MAGIC, 4);
	be(f + 4, WIRE_VERSION, 2);
	be(f + 6, type, 2);
	be(f + 8, 0, 4);
	be(f + 12, *flen - WIRE_HDR_LEN, 4);
	be(f + WIRE_HDR_LEN, tag, 2);
	be(f + WIRE_HDR_LEN + 2, len, 4);
	memset(f + WIRE_HDR_LEN + WIRE_FIELD_HDR_LEN, fillv, len);
	if (elen > 0)
		memcpy(f + WIRE_HDR_LEN + WIRE_FIELD_HDR_LEN + len, extra, elen);
	return f;
}

static void
raw_mig_config(struct raw *r, const char *format, size_t flen,
    const char *json)
{
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_MIG_CONFIG, 0);
	raw_field(r, WIRE_F_FORMAT, format, (uint32_t)flen);
	raw_str(r, WIRE_F_JSON, json);
}

/*
 * The migration-stream types (conversation 7): every bound on both
 * sides of it, every required field missing, stray fields.
 */
static void
test_migration_types(void **state)
{
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const uint8_t *f;
	uint8_t *big, fmt_field[6 + sizeof(mig_format) - 1];
	char fmt[WIRE_MIG_FORMAT_MAX + 2], *json;
	uint64_t u64 = 7;
	size_t len;
	struct raw r;

	(void)state;
	memset(fmt, 'f', sizeof(fmt));
	fmt[sizeof(fmt) - 1] = '\0';

	/* MIG_CONFIG.FORMAT: string 1..WIRE_MIG_FORMAT_MAX */
	raw_mig_config(&r, mig_format, strlen(mig_format), "{}");
	expect_ok(r.b, r.len, "smallest MIG_CONFIG");
	raw_mig_config(&r, fmt, WIRE_MIG_FORMAT_MAX, "{}");
	expect_ok(r.b, r.len, "FORMAT at its maximum");
	raw_mig_config(&r, fmt, WIRE_MIG_FORMAT_MAX + 1, "{}");
	expect(r.b, r.len, WIRE_R_LENGTH, "FORMAT one over its maximum");
	raw_mig_config(&r, "", 0, "{}");
	expect(r.b, r.len, WIRE_R_LENGTH, "empty FORMAT");
	raw_mig_config(&r, "vouch-xen-migration 1\n", 22, "{}");
	expect(r.b, r.len, WIRE_R_BAD_STRING, "LF in FORMAT (a string)");
	/* MIG_CONFIG.JSON: text 2..WIRE_MIG_CONFIG_MAX */
	raw_mig_config(&r, mig_format, strlen(mig_format), "{");
	expect(r.b, r.len, WIRE_R_LENGTH, "1-byte JSON");
	raw_mig_config(&r, mig_format, strlen(mig_format), "{\x01}");
	expect(r.b, r.len, WIRE_R_BAD_STRING, "control character in JSON");
	be(fmt_field, WIRE_F_FORMAT, 2);
	be(fmt_field + 2, strlen(mig_format), 4);
	memcpy(fmt_field + 6, mig_format, strlen(mig_format));
	big = big_frame(WIRE_T_MIG_CONFIG, WIRE_F_JSON, WIRE_MIG_CONFIG_MAX,
	    ' ', fmt_field, sizeof(fmt_field), &len);
	assert_int_equal(len, wire_frame_limit(WIRE_T_MIG_CONFIG) -
	    (WIRE_MIG_FORMAT_MAX - strlen(mig_format)));
	expect_ok(big, len, "JSON at its maximum");
	free(big);
	/* one more byte: the frame still fits (FORMAT is short), the value not */
	big = big_frame(WIRE_T_MIG_CONFIG, WIRE_F_JSON, WIRE_MIG_CONFIG_MAX + 1,
	    ' ', fmt_field, sizeof(fmt_field), &len);
	assert_true(len <= wire_frame_limit(WIRE_T_MIG_CONFIG));
	expect(big, len, WIRE_R_LENGTH, "JSON one over its maximum");
	free(big);
	json = malloc(WIRE_MIG_CONFIG_MAX + 2);
	assert_non_null(json);
	memset(json, ' ', WIRE_MIG_CONFIG_MAX + 1);
	json[WIRE_MIG_CONFIG_MAX + 1] = '\0';
	OK(wire_enc_new(WIRE_T_MIG_CONFIG, &w, NULL));
	assert_int_equal(wire_put_str(w, WIRE_F_JSON, json, &e),
	    VOUCH_E_FORMAT);
	assert_int_equal(wire_put_str(w, WIRE_F_FORMAT, fmt, &e),
	    VOUCH_E_FORMAT);
	json[WIRE_MIG_CONFIG_MAX] = '\0';
	OK(wire_put_str(w, WIRE_F_JSON, json, NULL));
	assert_int_equal(wire_enc_finish(w, &f, &len, &e), VOUCH_E_INVAL);
	assert_non_null(strstr(e.msg, "FORMAT"));
	OK(wire_put_str(w, WIRE_F_FORMAT, mig_format, NULL));
	OK(wire_enc_finish(w, &f, &len, NULL));
	wire_enc_free(w);
	free(json);
	/* required, once each, nothing else */
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_MIG_CONFIG, 0);
	raw_str(&r, WIRE_F_JSON, "{}");
	expect(r.b, r.len, WIRE_R_MISSING, "MIG_CONFIG without FORMAT");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_MIG_CONFIG, 0);
	raw_str(&r, WIRE_F_FORMAT, mig_format);
	expect(r.b, r.len, WIRE_R_MISSING, "MIG_CONFIG without JSON");
	raw_mig_config(&r, mig_format, strlen(mig_format), "{}");
	raw_str(&r, WIRE_F_FORMAT, mig_format);
	expect(r.b, r.len, WIRE_R_DUPLICATE, "FORMAT twice");
	raw_mig_config(&r, mig_format, strlen(mig_format), "{}");
	raw_u64(&r, WIRE_F_TOTAL, 1);
	expect(r.b, r.len, WIRE_R_TAG_NOT_ALLOWED, "TOTAL in a MIG_CONFIG");

	/* MIG_READY: an empty body, exactly */
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_MIG_READY, 0);
	expect_ok(r.b, r.len, "MIG_READY");
	OK(wire_decode(r.b, r.len, &m, NULL, NULL));
	assert_int_equal(wire_msg_nfields(m), 0);
	assert_int_equal(wire_get_u64(m, WIRE_F_TOTAL, &u64, &e),
	    VOUCH_E_INVAL);
	assert_true(u64 == 7);
	wire_msg_free(m);
	raw_u64(&r, WIRE_F_SEQ, 0);
	expect(r.b, r.len, WIRE_R_OVERSIZE, "MIG_READY with a field");
	OK(wire_enc_new(WIRE_T_MIG_READY, &w, NULL));
	assert_int_equal(wire_put_u64(w, WIRE_F_TOTAL, 0, &e), VOUCH_E_INVAL);
	OK(wire_enc_finish(w, &f, &len, NULL));
	assert_int_equal(len, WIRE_HDR_LEN);
	wire_enc_free(w);

	/* MIG_DATA.DATA: bytes 1..WIRE_MIG_DATA_MAX */
	big = big_frame(WIRE_T_MIG_DATA, WIRE_F_DATA, WIRE_MIG_DATA_MAX, 0,
	    NULL, 0, &len);
	assert_int_equal(len, wire_frame_limit(WIRE_T_MIG_DATA));
	expect_ok(big, len, "DATA at its maximum");
	free(big);
	/* one more byte is decided from the header alone */
	big = big_frame(WIRE_T_MIG_DATA, WIRE_F_DATA, WIRE_MIG_DATA_MAX + 1, 0,
	    NULL, 0, &len);
	expect(big, WIRE_HDR_LEN, WIRE_R_OVERSIZE, "DATA one over its maximum");
	OK(wire_enc_new(WIRE_T_MIG_DATA, &w, NULL));
	assert_int_equal(wire_put_bytes(w, WIRE_F_DATA, big,
	    WIRE_MIG_DATA_MAX + 1, &e), VOUCH_E_FORMAT);
	OK(wire_put_bytes(w, WIRE_F_DATA, big, WIRE_MIG_DATA_MAX, NULL));
	assert_int_equal(wire_put_bytes(w, WIRE_F_DATA, big, 1, &e),
	    VOUCH_E_LIMIT);
	OK(wire_enc_finish(w, &f, &len, NULL));
	wire_enc_free(w);
	free(big);
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_MIG_DATA, 0);
	raw_field(&r, WIRE_F_DATA, "", 0);
	expect(r.b, r.len, WIRE_R_LENGTH, "empty DATA");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_MIG_DATA, 0);
	expect(r.b, r.len, WIRE_R_MISSING, "MIG_DATA without DATA");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_MIG_DATA, 0);
	raw_field(&r, WIRE_F_DATA, "ab", 2);
	raw_field(&r, WIRE_F_DATA, "cd", 2);
	expect(r.b, r.len, WIRE_R_DUPLICATE, "DATA twice");
	raw_hdr(&r, WIRE_MAGIC, 1, WIRE_T_MIG_DATA, 0);
	raw_field(&r, WIRE_F_EVIDENCE, "ab", 2);
	expect(r.b, r.len, WIRE_R_TAG_NOT_ALLOWED, "EVIDENCE in a MIG_DATA");

	/* MIG_END and MIG_RESULT.TOTAL: u64, any value, 8 bytes exactly */
	{
		static const uint16_t tt[] = { WIRE_T_MIG_END,
		    WIRE_T_MIG_RESULT };
		size_t k;

		for (k = 0; k < 2; k++) {
			raw_hdr(&r, WIRE_MAGIC, 1, tt[k], 0);
			raw_u64(&r, WIRE_F_TOTAL, 0);
			expect_ok(r.b, r.len, "TOTAL 0");
			raw_hdr(&r, WIRE_MAGIC, 1, tt[k], 0);
			raw_u32(&r, WIRE_F_TOTAL, 1);
			expect(r.b, r.len, WIRE_R_LENGTH, "4-byte TOTAL");
			raw_hdr(&r, WIRE_MAGIC, 1, tt[k], 0);
			expect(r.b, r.len, WIRE_R_MISSING, "no TOTAL");
			raw_hdr(&r, WIRE_MAGIC, 1, tt[k], 0);
			raw_u64(&r, WIRE_F_SEQ, 1);
			expect(r.b, r.len, WIRE_R_TAG_NOT_ALLOWED,
			    "SEQ instead of TOTAL");
			raw_hdr(&r, WIRE_MAGIC, 1, tt[k], 0);
			raw_u64(&r, WIRE_F_TOTAL, 1);
			raw_u64(&r, WIRE_F_TOTAL, 1);
			expect(r.b, r.len, WIRE_R_OVERSIZE, "TOTAL twice");
			OK(wire_enc_new(tt[k], &w, NULL));
			assert_int_equal(wire_put_u32(w, WIRE_F_TOTAL, 1, &e),
			    VOUCH_E_INVAL);
			assert_int_equal(wire_enc_finish(w, &f, &len, &e),
			    VOUCH_E_INVAL);
			OK(wire_put_u64(w, WIRE_F_TOTAL, 12345, NULL));
			OK(wire_enc_finish(w, &f, &len, NULL));
			OK(wire_decode(f, len, &m, NULL, NULL));
			OK(wire_get_u64(m, WIRE_F_TOTAL, &u64, NULL));
			assert_int_equal(u64, 12345);
			wire_msg_free(m);
			wire_enc_free(w);
		}
	}
	assert_string_equal(wire_type_name(WIRE_T_MIG_CONFIG), "MIG_CONFIG");
	assert_string_equal(wire_type_name(WIRE_T_MIG_RESULT), "MIG_RESULT");
	assert_string_equal(wire_tag_name(WIRE_F_TOTAL), "TOTAL");
	/* appended: the existing numbers did not move */
	assert_int_equal(WIRE_T_ERROR, 12);
	assert_int_equal(WIRE_T_MIG_CONFIG, 13);
	assert_int_equal(WIRE_T_MIG_RESULT, 17);
	assert_int_equal(WIRE_F_MESSAGE, 27);
	assert_int_equal(WIRE_F_FORMAT, 28);
}

/* ALERT (appended): its bounds, one rejection per rule. */
static void
test_alert(void **state)
{
	static const uint16_t tags[] = { WIRE_F_TARGET, WIRE_F_TYPE,
	    WIRE_F_CRITICAL, WIRE_F_TIME, WIRE_F_JSON };
	struct wire_enc *w = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct raw *r = malloc(sizeof(*r));
	char target[WIRE_ALERT_TARGET_MAX + 2], type[WIRE_ALERT_TYPE_MAX + 2];
	char *json;
	const uint8_t *f;
	size_t len, k;

	(void)state;
	assert_non_null(r);
	assert_int_equal(WIRE_T_ALERT, 18);
	assert_int_equal(WIRE_F_TARGET, 31);
	assert_int_equal(WIRE_F_TYPE, 32);
	assert_int_equal(WIRE_F_CRITICAL, 33);
	assert_string_equal(wire_type_name(WIRE_T_ALERT), "ALERT");
	assert_string_equal(wire_tag_name(WIRE_F_CRITICAL), "CRITICAL");
	assert_int_equal(wire_frame_limit(WIRE_T_ALERT), 16549);

	/* SEQ is optional: the five required fields make an ALERT. */
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_TARGET, "web1");
	raw_str(r, WIRE_F_TYPE, "syscall_hook");
	raw_u8(r, WIRE_F_CRITICAL, 0);
	raw_u64(r, WIRE_F_TIME, 1);
	raw_str(r, WIRE_F_JSON, "{}");
	expect_ok(r->b, r->len, "ALERT without SEQ");
	/* each required field missing */
	for (k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
		raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
		if (tags[k] != WIRE_F_TARGET)
			raw_str(r, WIRE_F_TARGET, "web1");
		if (tags[k] != WIRE_F_TYPE)
			raw_str(r, WIRE_F_TYPE, "syscall_hook");
		if (tags[k] != WIRE_F_CRITICAL)
			raw_u8(r, WIRE_F_CRITICAL, 1);
		if (tags[k] != WIRE_F_TIME)
			raw_u64(r, WIRE_F_TIME, 1);
		if (tags[k] != WIRE_F_JSON)
			raw_str(r, WIRE_F_JSON, "{}");
		expect(r->b, r->len, WIRE_R_MISSING, wire_tag_name(tags[k]));
	}
	/* CRITICAL is 0 or 1 */
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_TARGET, "web1");
	raw_str(r, WIRE_F_TYPE, "syscall_hook");
	raw_u8(r, WIRE_F_CRITICAL, 2);
	raw_u64(r, WIRE_F_TIME, 1);
	raw_str(r, WIRE_F_JSON, "{}");
	expect(r->b, r->len, WIRE_R_RANGE, "CRITICAL 2");
	/* TARGET and TYPE lengths; control characters */
	memset(target, 'a', sizeof(target));
	target[WIRE_ALERT_TARGET_MAX + 1] = '\0';
	memset(type, 'b', sizeof(type));
	type[WIRE_ALERT_TYPE_MAX + 1] = '\0';
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_TARGET, target);
	expect(r->b, r->len, WIRE_R_LENGTH, "TARGET of 65");
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_TYPE, type);
	expect(r->b, r->len, WIRE_R_LENGTH, "TYPE of 33");
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_TARGET, "");
	expect(r->b, r->len, WIRE_R_LENGTH, "empty TARGET");
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_TARGET, "web\n1");
	expect(r->b, r->len, WIRE_R_BAD_STRING, "TARGET with LF");
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_JSON, "{");
	expect(r->b, r->len, WIRE_R_LENGTH, "JSON of 1");
	/* a tag of another type */
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_ALERT, 0);
	raw_str(r, WIRE_F_SUBJECT, "h1");
	expect(r->b, r->len, WIRE_R_TAG_NOT_ALLOWED, "ALERT.SUBJECT");
	/* and the new tags in an old type */
	raw_hdr(r, WIRE_MAGIC, 1, WIRE_T_VERDICT, 0);
	raw_str(r, WIRE_F_TARGET, "web1");
	expect(r->b, r->len, WIRE_R_TAG_NOT_ALLOWED, "VERDICT.TARGET");

	/* encoder: the same bounds; JSON up to 16 KiB exactly */
	json = malloc(WIRE_ALERT_JSON_MAX + 2);
	assert_non_null(json);
	memset(json, ' ', WIRE_ALERT_JSON_MAX + 1);
	json[0] = '{';
	json[WIRE_ALERT_JSON_MAX - 1] = '}';
	json[WIRE_ALERT_JSON_MAX + 1] = '\0';
	OK(wire_enc_new(WIRE_T_ALERT, &w, NULL));
	assert_int_equal(wire_put_str(w, WIRE_F_TARGET, target, &e),
	    VOUCH_E_FORMAT);
	assert_int_equal(wire_put_u8(w, WIRE_F_CRITICAL, 7, &e),
	    VOUCH_E_FORMAT);
	assert_int_equal(wire_put_str(w, WIRE_F_JSON, json, &e),
	    VOUCH_E_FORMAT);
	json[WIRE_ALERT_JSON_MAX] = '\0';
	OK(wire_put_str(w, WIRE_F_TARGET, "web1", NULL));
	OK(wire_put_str(w, WIRE_F_TYPE, "text_modified", NULL));
	OK(wire_put_u8(w, WIRE_F_CRITICAL, 1, NULL));
	assert_int_equal(wire_enc_finish(w, &f, &len, &e), VOUCH_E_INVAL);
	OK(wire_put_u64(w, WIRE_F_TIME, 5, NULL));
	OK(wire_put_str(w, WIRE_F_JSON, json, NULL));
	OK(wire_put_u64(w, WIRE_F_SEQ, UINT64_MAX, NULL));
	OK(wire_enc_finish(w, &f, &len, NULL));
	assert_int_equal(len, wire_frame_limit(WIRE_T_ALERT) - 70 + 10 - 38 +
	    19);
	wire_enc_free(w);
	free(json);
	free(r);
}

static void
test_names(void **state)
{
	int i;

	(void)state;
	for (i = 1; i < WIRE_F_COUNT_; i++)
		assert_non_null(wire_tag_name((uint16_t)i));
	for (i = 1; i < WIRE_R_COUNT_; i++) {
		int j;
		assert_string_not_equal(wire_reason_name(i), "unknown-reason");
		for (j = 1; j < i; j++)
			assert_string_not_equal(wire_reason_name(i),
			    wire_reason_name(j));
	}
	assert_null(wire_tag_name(0));
	assert_null(wire_type_name(0));
	assert_string_equal(wire_reason_name(WIRE_R_COUNT_), "unknown-reason");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_truncation_every_length),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_rejection_reasons),
		cmocka_unit_test(test_oversize_from_header),
		cmocka_unit_test(test_largest_frames),
		cmocka_unit_test(test_encoder_refusals),
		cmocka_unit_test(test_getter_contracts),
		cmocka_unit_test(test_decode_owned),
		cmocka_unit_test(test_migration_types),
		cmocka_unit_test(test_alert),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
