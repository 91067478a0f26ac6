/*
 * wire.c - frames and typed fields; every limit of the protocol is in the
 * tables at the top of this file.  Layout and semantics: wire.h and
 * docs/protocol.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "rbuf.h"
#include "util.h"
#include "wire.h"

/* ===================== the limits: one table ===================== */

/*
 * The hard maximum of any frame, header included.  It bounds what a
 * receiver will ever allocate for one message; per-type limits below are
 * usually far smaller.
 */
#define WIRE_MAX_FRAME		(32u << 20)
#define WIRE_MAX_BODY		(WIRE_MAX_FRAME - WIRE_HDR_LEN)

enum kind { K_U8, K_U32, K_U64, K_BYTES, K_STR, K_TEXT, K_HOST };

static const struct tag_def {
	const char	*name;
	enum kind	 kind;
} tags[WIRE_F_COUNT_] = {
	[WIRE_F_HOST]		= { "HOST", K_HOST },
	[WIRE_F_ROLE]		= { "ROLE", K_U8 },
	[WIRE_F_VERSION_MIN]	= { "VERSION_MIN", K_U32 },
	[WIRE_F_VERSION_MAX]	= { "VERSION_MAX", K_U32 },
	[WIRE_F_EPOCH]		= { "EPOCH", K_U64 },
	[WIRE_F_EPOCH_RANDOM]	= { "EPOCH_RANDOM", K_BYTES },
	[WIRE_F_NEIGHBOUR]	= { "NEIGHBOUR", K_HOST },
	[WIRE_F_NONCE]		= { "NONCE", K_BYTES },
	[WIRE_F_PCR_SEL]	= { "PCR_SEL", K_STR },
	[WIRE_F_FLAGS]		= { "FLAGS", K_U32 },
	[WIRE_F_EVIDENCE]	= { "EVIDENCE", K_BYTES },
	[WIRE_F_SUBJECT]	= { "SUBJECT", K_HOST },
	[WIRE_F_VERIFIER]	= { "VERIFIER", K_HOST },
	[WIRE_F_TIME]		= { "TIME", K_U64 },
	[WIRE_F_RESULT]		= { "RESULT", K_U8 },
	[WIRE_F_REASON]		= { "REASON", K_STR },
	[WIRE_F_SEQ]		= { "SEQ", K_U64 },
	[WIRE_F_EK_PUB]		= { "EK_PUB", K_BYTES },
	[WIRE_F_EK_CERT]	= { "EK_CERT", K_BYTES },
	[WIRE_F_AK_PUB]		= { "AK_PUB", K_BYTES },
	[WIRE_F_AK_NAME]	= { "AK_NAME", K_BYTES },
	[WIRE_F_CREDENTIAL]	= { "CREDENTIAL", K_BYTES },
	[WIRE_F_ENC_SECRET]	= { "ENC_SECRET", K_BYTES },
	[WIRE_F_SECRET]		= { "SECRET", K_BYTES },
	[WIRE_F_JSON]		= { "JSON", K_TEXT },
	[WIRE_F_CODE]		= { "CODE", K_U32 },
	[WIRE_F_MESSAGE]	= { "MESSAGE", K_STR },
	[WIRE_F_FORMAT]		= { "FORMAT", K_STR },
	[WIRE_F_DATA]		= { "DATA", K_BYTES },
	[WIRE_F_TOTAL]		= { "TOTAL", K_U64 },
	[WIRE_F_TARGET]		= { "TARGET", K_STR },
	[WIRE_F_TYPE]		= { "TYPE", K_STR },
	[WIRE_F_CRITICAL]	= { "CRITICAL", K_U8 },
};

/*
 * One field of one message type: value length min..max, occurrences
 * min..max (min 1 = required, max > 1 = repeatable), and for integers
 * the value range.
 */
struct rule {
	uint16_t	tag;
	uint32_t	min_len, max_len;
	uint16_t	min_count, max_count;
	uint64_t	vmin, vmax;
};

#define REQ	1
#define OPT	0
#define U8(t, req, lo, hi)	{ t, 1, 1, req, 1, lo, hi }
#define U32(t, req, lo, hi)	{ t, 4, 4, req, 1, lo, hi }
#define U64(t, req)		{ t, 8, 8, req, 1, 0, UINT64_MAX }
#define VAR(t, req, rep, lo, hi) { t, lo, hi, req, rep, 0, 0 }

static const struct rule r_hello[] = {
	VAR(WIRE_F_HOST, REQ, 1, 1, WIRE_HOST_MAX),
	U8(WIRE_F_ROLE, REQ, WIRE_ROLE_VOUCHD, WIRE_ROLE_CTL),
	U32(WIRE_F_VERSION_MIN, REQ, 1, 65535),
	U32(WIRE_F_VERSION_MAX, REQ, 1, 65535),
};
static const struct rule r_epoch[] = {
	U64(WIRE_F_EPOCH, REQ),
	VAR(WIRE_F_EPOCH_RANDOM, REQ, 1, WIRE_EPOCH_RANDOM_LEN,
	    WIRE_EPOCH_RANDOM_LEN),
	VAR(WIRE_F_NEIGHBOUR, OPT, 64, 1, WIRE_HOST_MAX),
};
static const struct rule r_challenge[] = {
	VAR(WIRE_F_NONCE, REQ, 1, WIRE_NONCE_LEN, WIRE_NONCE_LEN),
	VAR(WIRE_F_PCR_SEL, REQ, 1, 1, 256),
	U32(WIRE_F_FLAGS, REQ, 0, WIRE_CHAL_FLAGS_ALL),
};
static const struct rule r_evidence[] = {
	VAR(WIRE_F_EVIDENCE, REQ, 1, 1, WIRE_EVIDENCE_MAX),
};
static const struct rule r_verdict[] = {
	VAR(WIRE_F_SUBJECT, REQ, 1, 1, WIRE_HOST_MAX),
	VAR(WIRE_F_VERIFIER, REQ, 1, 1, WIRE_HOST_MAX),
	U64(WIRE_F_TIME, REQ),
	U8(WIRE_F_RESULT, REQ, WIRE_RESULT_PASS, WIRE_RESULT_ERROR),
	VAR(WIRE_F_REASON, OPT, 64, 1, 1024),
	VAR(WIRE_F_EVIDENCE, OPT, 1, 1, WIRE_EVIDENCE_MAX),
	U64(WIRE_F_SEQ, OPT),
	U64(WIRE_F_EPOCH, OPT),
};
static const struct rule r_enrol_request[] = {
	VAR(WIRE_F_EK_PUB, REQ, 1, 1, 2048),
	VAR(WIRE_F_EK_CERT, OPT, 1, 1, 8192),
	VAR(WIRE_F_AK_PUB, REQ, 1, 1, 1024),
	VAR(WIRE_F_AK_NAME, REQ, 1, 2 + 20, 2 + 64),
};
static const struct rule r_enrol_challenge[] = {
	VAR(WIRE_F_CREDENTIAL, REQ, 1, 1, 1024),
	VAR(WIRE_F_ENC_SECRET, REQ, 1, 1, 1024),
};
static const struct rule r_enrol_proof[] = {
	VAR(WIRE_F_SECRET, REQ, 1, 1, 64),
};
static const struct rule r_status_request[] = {
	VAR(WIRE_F_JSON, REQ, 1, 2, 64u << 10),
};
static const struct rule r_status_reply[] = {
	VAR(WIRE_F_JSON, REQ, 1, 2, 8u << 20),
};
static const struct rule r_ack[] = {
	U64(WIRE_F_SEQ, REQ),
};
static const struct rule r_error[] = {
	U32(WIRE_F_CODE, REQ, 1, 65535),
	VAR(WIRE_F_MESSAGE, REQ, 1, 1, 1024),
};
/* The migration stream (MIG_READY has no fields, so no rule list). */
static const struct rule r_mig_config[] = {
	VAR(WIRE_F_FORMAT, REQ, 1, 1, WIRE_MIG_FORMAT_MAX),
	VAR(WIRE_F_JSON, REQ, 1, 2, WIRE_MIG_CONFIG_MAX),
};
static const struct rule r_mig_data[] = {
	VAR(WIRE_F_DATA, REQ, 1, 1, WIRE_MIG_DATA_MAX),
};
static const struct rule r_mig_total[] = {	/* MIG_END and MIG_RESULT */
	U64(WIRE_F_TOTAL, REQ),
};

/* A guard finding (TIME in ms; SEQ echoed by ACK). */
static const struct rule r_alert[] = {
	VAR(WIRE_F_TARGET, REQ, 1, 1, WIRE_ALERT_TARGET_MAX),
	VAR(WIRE_F_TYPE, REQ, 1, 1, WIRE_ALERT_TYPE_MAX),
	U8(WIRE_F_CRITICAL, REQ, 0, 1),
	U64(WIRE_F_TIME, REQ),
	VAR(WIRE_F_JSON, REQ, 1, 2, WIRE_ALERT_JSON_MAX),
	U64(WIRE_F_SEQ, OPT),
};

/* Evacuation orders and their progress (JSON: migrate/order.h). */
static const struct rule r_mig_json[] = {	/* MIG_ORDER and MIG_REPORT */
	U64(WIRE_F_SEQ, REQ),
	VAR(WIRE_F_JSON, REQ, 1, 2, WIRE_MIG_JSON_MAX),
};
static const struct rule r_attest_request[] = {
	VAR(WIRE_F_SUBJECT, REQ, 1, 1, WIRE_HOST_MAX),
};

static const struct type_def {
	const char		*name;
	const struct rule	*rules;
	size_t			 nrules;
} types[WIRE_T_COUNT_] = {
#define T(id, n, r)	[id] = { n, r, ARRAY_SIZE(r) }
	T(WIRE_T_HELLO, "HELLO", r_hello),
	T(WIRE_T_EPOCH, "EPOCH", r_epoch),
	T(WIRE_T_CHALLENGE, "CHALLENGE", r_challenge),
	T(WIRE_T_EVIDENCE, "EVIDENCE", r_evidence),
	T(WIRE_T_VERDICT, "VERDICT", r_verdict),
	T(WIRE_T_ENROL_REQUEST, "ENROL_REQUEST", r_enrol_request),
	T(WIRE_T_ENROL_CHALLENGE, "ENROL_CHALLENGE", r_enrol_challenge),
	T(WIRE_T_ENROL_PROOF, "ENROL_PROOF", r_enrol_proof),
	T(WIRE_T_STATUS_REQUEST, "STATUS_REQUEST", r_status_request),
	T(WIRE_T_STATUS_REPLY, "STATUS_REPLY", r_status_reply),
	T(WIRE_T_ACK, "ACK", r_ack),
	T(WIRE_T_ERROR, "ERROR", r_error),
	T(WIRE_T_MIG_CONFIG, "MIG_CONFIG", r_mig_config),
	[WIRE_T_MIG_READY] = { "MIG_READY", NULL, 0 },	/* empty body */
	T(WIRE_T_MIG_DATA, "MIG_DATA", r_mig_data),
	T(WIRE_T_MIG_END, "MIG_END", r_mig_total),
	T(WIRE_T_MIG_RESULT, "MIG_RESULT", r_mig_total),
	T(WIRE_T_ALERT, "ALERT", r_alert),
	T(WIRE_T_MIG_ORDER, "MIG_ORDER", r_mig_json),
	T(WIRE_T_MIG_REPORT, "MIG_REPORT", r_mig_json),
	T(WIRE_T_ATTEST_REQUEST, "ATTEST_REQUEST", r_attest_request),
#undef T
};

/* ========================== lookups ========================== */

static const char *const reason_names[WIRE_R_COUNT_] = {
	[WIRE_R_OK] = "ok",
	[WIRE_R_SHORT_HEADER] = "short-header",
	[WIRE_R_BAD_MAGIC] = "bad-magic",
	[WIRE_R_BAD_VERSION] = "bad-version",
	[WIRE_R_UNKNOWN_TYPE] = "unknown-type",
	[WIRE_R_RESERVED] = "reserved-nonzero",
	[WIRE_R_OVERSIZE] = "oversize",
	[WIRE_R_TRUNCATED] = "truncated",
	[WIRE_R_TRAILING] = "trailing-bytes",
	[WIRE_R_FIELD_TRUNCATED] = "field-truncated",
	[WIRE_R_UNKNOWN_TAG] = "unknown-tag",
	[WIRE_R_TAG_NOT_ALLOWED] = "tag-not-allowed",
	[WIRE_R_DUPLICATE] = "duplicate-tag",
	[WIRE_R_TOO_MANY] = "too-many",
	[WIRE_R_MISSING] = "missing-tag",
	[WIRE_R_LENGTH] = "bad-length",
	[WIRE_R_RANGE] = "out-of-range",
	[WIRE_R_BAD_STRING] = "bad-string",
	[WIRE_R_BAD_HOST] = "bad-host",
};

const char *
wire_reason_name(enum wire_reason r)
{
	if ((unsigned)r >= WIRE_R_COUNT_)
		return "unknown-reason";
	return reason_names[r];
}

static const struct type_def *
type_def(uint16_t type)
{
	if (type == 0 || type >= WIRE_T_COUNT_)
		return NULL;
	return &types[type];
}

const char *
wire_type_name(uint16_t type)
{
	const struct type_def *td = type_def(type);

	return td ? td->name : NULL;
}

const char *
wire_tag_name(uint16_t tag)
{
	if (tag == 0 || tag >= WIRE_F_COUNT_)
		return NULL;
	return tags[tag].name;
}

static const struct rule *
rule_of(const struct type_def *td, uint16_t tag)
{
	size_t i;

	for (i = 0; i < td->nrules; i++)
		if (td->rules[i].tag == tag)
			return &td->rules[i];
	return NULL;
}

/*
 * A type's body limit follows from its rules: every field at its largest,
 * as often as allowed.  Capped at the hard maximum.
 */
static uint32_t
max_body(const struct type_def *td)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < td->nrules; i++)
		sum += (uint64_t)td->rules[i].max_count *
		    (WIRE_FIELD_HDR_LEN + (uint64_t)td->rules[i].max_len);
	return sum > WIRE_MAX_BODY ? WIRE_MAX_BODY : (uint32_t)sum;
}

static size_t
max_fields(const struct type_def *td)
{
	size_t i, n = 0;

	for (i = 0; i < td->nrules; i++)
		n += td->rules[i].max_count;
	return n;
}

size_t
wire_frame_limit(uint16_t type)
{
	const struct type_def *td;

	if (type == 0)
		return WIRE_MAX_FRAME;
	if ((td = type_def(type)) == NULL)
		return 0;
	return WIRE_HDR_LEN + (size_t)max_body(td);
}

/* ======================== value checks ======================== */

/*
 * Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF)
 * without C0 controls, DEL or C1 controls; text also allows TAB/LF/CR.
 */
static int
string_ok(const uint8_t *s, size_t len, int text)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			if (c == 0x7f || (c < 0x20 && !(text &&
			    (c == '\t' || c == '\n' || c == '\r'))))
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1fu;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0fu;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07u;
		} else
			return 0;
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return 0;
		i += n + 1;
	}
	return 1;
}

int
wire_host_name_ok(const char *s, size_t len)
{
	size_t i, label = 0;

	if (s == NULL || len == 0 || len > WIRE_HOST_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

static uint64_t
get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = n; i > 0; i--) {
		p[i - 1] = (uint8_t)v;
		v >>= 8;
	}
}

static int
reject(struct vouch_err *e, enum wire_reason *why, enum wire_reason r,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Record a rejection: the reason (for callers that branch on it, and for
 * ERROR.CODE) and a message naming it.
 */
static int
reject(struct vouch_err *e, enum wire_reason *why, enum wire_reason r,
    const char *fmt, ...)
{
	char msg[VOUCH_ERR_MSG_MAX];
	va_list ap;
	int code;

	switch (r) {
	case WIRE_R_SHORT_HEADER:
	case WIRE_R_TRUNCATED:
	case WIRE_R_FIELD_TRUNCATED:
		code = VOUCH_E_TRUNCATED;
		break;
	case WIRE_R_OVERSIZE:
	case WIRE_R_TOO_MANY:
		code = VOUCH_E_LIMIT;
		break;
	case WIRE_R_BAD_VERSION:
	case WIRE_R_UNKNOWN_TYPE:
		code = VOUCH_E_UNSUPPORTED;
		break;
	default:
		code = VOUCH_E_FORMAT;
		break;
	}
	if (why != NULL)
		*why = r;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vouch_err_set(e, code, "wire: %s: %s", wire_reason_name(r), msg);
}

/* Check one value against its tag's kind and its rule. */
static int
value_ok(const struct type_def *td, const struct rule *ru, const uint8_t *v,
    size_t len, enum wire_reason *why, struct vouch_err *e)
{
	const struct tag_def *t = &tags[ru->tag];
	uint64_t x;

	if (len < ru->min_len || len > ru->max_len)
		return reject(e, why, WIRE_R_LENGTH,
		    "%s.%s: %zu bytes, allowed %u..%u", td->name, t->name, len,
		    (unsigned)ru->min_len, (unsigned)ru->max_len);
	switch (t->kind) {
	case K_U8:
	case K_U32:
	case K_U64:
		x = get_be(v, len);
		if (x < ru->vmin || x > ru->vmax)
			return reject(e, why, WIRE_R_RANGE,
			    "%s.%s: %llu, allowed %llu..%llu", td->name,
			    t->name, (unsigned long long)x,
			    (unsigned long long)ru->vmin,
			    (unsigned long long)ru->vmax);
		break;
	case K_STR:
	case K_TEXT:
		if (!string_ok(v, len, t->kind == K_TEXT))
			return reject(e, why, WIRE_R_BAD_STRING,
			    "%s.%s: not printable UTF-8", td->name, t->name);
		break;
	case K_HOST:
		if (!wire_host_name_ok((const char *)v, len))
			return reject(e, why, WIRE_R_BAD_HOST,
			    "%s.%s: not a lower-case DNS name", td->name,
			    t->name);
		break;
	case K_BYTES:
		break;
	}
	return 0;
}

/* ========================== decoding ========================== */

struct wire_field {
	uint16_t	 tag;
	size_t		 len;
	const uint8_t	*val;
};

struct wire_msg {
	uint16_t		 version, type;
	const struct type_def	*td;
	uint8_t			*owned;		/* buffer to wipe + free, or NULL */
	size_t			 owned_len;
	size_t			 nfields;
	struct wire_field	 f[];		/* max_fields(td) slots */
};

int
wire_decode_header(const uint8_t *hdr, size_t len, struct wire_hdr *h,
    enum wire_reason *why, struct vouch_err *e)
{
	const struct type_def *td;
	struct rbuf b;
	uint8_t magic[4];
	uint16_t version, type;
	uint32_t reserved, body_len;

	rbuf_init(&b, hdr, len);
	if (rbuf_get_bytes(&b, magic, 4) < 0 ||
	    rbuf_get_u16be(&b, &version) < 0 ||
	    rbuf_get_u16be(&b, &type) < 0 ||
	    rbuf_get_u32be(&b, &reserved) < 0 ||
	    rbuf_get_u32be(&b, &body_len) < 0)
		return reject(e, why, WIRE_R_SHORT_HEADER,
		    "%zu bytes, a header has %d", len, WIRE_HDR_LEN);
	if (memcmp(magic, WIRE_MAGIC, 4) != 0)
		return reject(e, why, WIRE_R_BAD_MAGIC,
		    "%02x%02x%02x%02x is not \"" WIRE_MAGIC "\"", magic[0],
		    magic[1], magic[2], magic[3]);
	if (version < WIRE_VERSION_MIN || version > WIRE_VERSION_MAX)
		return reject(e, why, WIRE_R_BAD_VERSION,
		    "version %u, supported %d..%d", version, WIRE_VERSION_MIN,
		    WIRE_VERSION_MAX);
	if ((td = type_def(type)) == NULL)
		return reject(e, why, WIRE_R_UNKNOWN_TYPE, "type %u", type);
	if (reserved != 0)
		return reject(e, why, WIRE_R_RESERVED, "reserved word 0x%08x",
		    reserved);
	if (body_len > max_body(td))
		return reject(e, why, WIRE_R_OVERSIZE,
		    "%s body of %u bytes, at most %u allowed", td->name,
		    body_len, max_body(td));
	h->version = version;
	h->type = type;
	h->body_len = body_len;
	return 0;
}

/* Walk the body, checking each field against the rules and the counts. */
static int
decode_body(struct wire_msg *m, struct rbuf *b, enum wire_reason *why,
    struct vouch_err *e)
{
	const struct type_def *td = m->td;
	uint16_t counts[WIRE_F_COUNT_] = { 0 };
	size_t i, cap = max_fields(td);

	while (rbuf_left(b) > 0) {
		const struct rule *ru;
		const uint8_t *v;
		uint16_t tag;
		uint32_t len;
		size_t at = b->off - WIRE_HDR_LEN;
		int r;

		if (rbuf_get_u16be(b, &tag) < 0 || rbuf_get_u32be(b, &len) < 0)
			return reject(e, why, WIRE_R_FIELD_TRUNCATED,
			    "%s: field header at body offset %zu cut short",
			    td->name, at);
		if (wire_tag_name(tag) == NULL)
			return reject(e, why, WIRE_R_UNKNOWN_TAG,
			    "%s: tag %u at body offset %zu", td->name, tag, at);
		if ((ru = rule_of(td, tag)) == NULL)
			return reject(e, why, WIRE_R_TAG_NOT_ALLOWED,
			    "%s has no %s field", td->name, tags[tag].name);
		if (counts[tag] >= ru->max_count) {
			if (ru->max_count == 1)
				return reject(e, why, WIRE_R_DUPLICATE,
				    "%s.%s given twice", td->name,
				    tags[tag].name);
			return reject(e, why, WIRE_R_TOO_MANY,
			    "%s.%s more than %u times", td->name,
			    tags[tag].name, ru->max_count);
		}
		if (len < ru->min_len || len > ru->max_len)
			return reject(e, why, WIRE_R_LENGTH,
			    "%s.%s: %u bytes, allowed %u..%u", td->name,
			    tags[tag].name, len, (unsigned)ru->min_len,
			    (unsigned)ru->max_len);
		if (rbuf_get_ptr(b, &v, len) < 0)
			return reject(e, why, WIRE_R_FIELD_TRUNCATED,
			    "%s.%s: %u bytes claimed, %zu left", td->name,
			    tags[tag].name, len, rbuf_left(b));
		if ((r = value_ok(td, ru, v, len, why, e)) < 0)
			return r;
		if (m->nfields >= cap)	/* the counts make this impossible */
			return vouch_err_set(e, VOUCH_E_INTERNAL,
			    "wire: field table overflow");
		counts[tag]++;
		m->f[m->nfields].tag = tag;
		m->f[m->nfields].len = len;
		m->f[m->nfields].val = v;
		m->nfields++;
	}
	for (i = 0; i < td->nrules; i++)
		if (counts[td->rules[i].tag] < td->rules[i].min_count)
			return reject(e, why, WIRE_R_MISSING,
			    "%s without its %s field", td->name,
			    tags[td->rules[i].tag].name);
	return 0;
}

static int
decode(const uint8_t *buf, size_t len, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e)
{
	struct wire_hdr h;
	struct wire_msg *m;
	struct rbuf b;
	int r;

	if (buf == NULL && len > 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "wire: NULL buffer");
	if ((r = wire_decode_header(buf, len, &h, why, e)) < 0)
		return r;
	if (len - WIRE_HDR_LEN < h.body_len)
		return reject(e, why, WIRE_R_TRUNCATED,
		    "%s body of %u bytes, %zu present", wire_type_name(h.type),
		    h.body_len, len - WIRE_HDR_LEN);
	if (len - WIRE_HDR_LEN > h.body_len)
		return reject(e, why, WIRE_R_TRAILING,
		    "%zu bytes after the %s frame",
		    len - WIRE_HDR_LEN - h.body_len, wire_type_name(h.type));
	m = calloc(1, sizeof(*m) +
	    max_fields(type_def(h.type)) * sizeof(m->f[0]));
	if (m == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	m->version = h.version;
	m->type = h.type;
	m->td = type_def(h.type);
	rbuf_init(&b, buf, len);
	b.off = WIRE_HDR_LEN;
	if ((r = decode_body(m, &b, why, e)) < 0) {
		free(m);
		return r;
	}
	if (why != NULL)
		*why = WIRE_R_OK;
	*out = m;
	return 0;
}

int
wire_decode(const uint8_t *buf, size_t len, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e)
{
	return decode(buf, len, out, why, e);
}

int
wire_decode_owned(uint8_t *buf, size_t len, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e)
{
	int r;

	if ((r = decode(buf, len, out, why, e)) < 0)
		return r;
	(*out)->owned = buf;
	(*out)->owned_len = len;
	return 0;
}

void
wire_msg_free(struct wire_msg *m)
{
	if (m == NULL)
		return;
	free_secret(m->owned, m->owned_len);
	free(m);
}

uint16_t
wire_msg_type(const struct wire_msg *m)
{
	return m->type;
}

uint16_t
wire_msg_version(const struct wire_msg *m)
{
	return m->version;
}

size_t
wire_msg_nfields(const struct wire_msg *m)
{
	return m->nfields;
}

int
wire_msg_field(const struct wire_msg *m, size_t i, uint16_t *tag,
    const uint8_t **val, size_t *len)
{
	if (i >= m->nfields)
		return VOUCH_E_NOTFOUND;
	*tag = m->f[i].tag;
	*val = m->f[i].val;
	*len = m->f[i].len;
	return 0;
}

size_t
wire_count(const struct wire_msg *m, uint16_t tag)
{
	size_t i, n = 0;

	for (i = 0; i < m->nfields; i++)
		if (m->f[i].tag == tag)
			n++;
	return n;
}

/*
 * The idx-th occurrence of tag, after checking that the caller asks for
 * a tag of this type in the kind it has.
 */
static int
lookup(const struct wire_msg *m, uint16_t tag, size_t idx, int want_int,
    const struct wire_field **out, struct vouch_err *e)
{
	size_t i, n = 0;
	int is_int;

	if (wire_tag_name(tag) == NULL || rule_of(m->td, tag) == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "wire: %s has no tag %u",
		    m->td->name, tag);
	is_int = tags[tag].kind == K_U8 || tags[tag].kind == K_U32 ||
	    tags[tag].kind == K_U64;
	if (is_int != want_int)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "wire: %s.%s read as the wrong kind", m->td->name,
		    tags[tag].name);
	for (i = 0; i < m->nfields; i++) {
		if (m->f[i].tag != tag)
			continue;
		if (n++ == idx) {
			*out = &m->f[i];
			return 0;
		}
	}
	return vouch_err_set(e, VOUCH_E_NOTFOUND, "wire: %s.%s[%zu] absent",
	    m->td->name, tags[tag].name, idx);
}

static int
get_int(const struct wire_msg *m, uint16_t tag, size_t size, uint64_t *v,
    struct vouch_err *e)
{
	const struct wire_field *f;
	int r;

	if ((r = lookup(m, tag, 0, 1, &f, e)) < 0)
		return r;
	if (f->len != size)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "wire: %s.%s is %zu bytes, read as %zu", m->td->name,
		    tags[tag].name, f->len, size);
	*v = get_be(f->val, f->len);
	return 0;
}

int
wire_get_u8(const struct wire_msg *m, uint16_t tag, uint8_t *v,
    struct vouch_err *e)
{
	uint64_t x;
	int r;

	if ((r = get_int(m, tag, 1, &x, e)) < 0)
		return r;
	*v = (uint8_t)x;
	return 0;
}

int
wire_get_u32(const struct wire_msg *m, uint16_t tag, uint32_t *v,
    struct vouch_err *e)
{
	uint64_t x;
	int r;

	if ((r = get_int(m, tag, 4, &x, e)) < 0)
		return r;
	*v = (uint32_t)x;
	return 0;
}

int
wire_get_u64(const struct wire_msg *m, uint16_t tag, uint64_t *v,
    struct vouch_err *e)
{
	return get_int(m, tag, 8, v, e);
}

int
wire_get_bytes_at(const struct wire_msg *m, uint16_t tag, size_t idx,
    const uint8_t **p, size_t *len, struct vouch_err *e)
{
	const struct wire_field *f;
	int r;

	if ((r = lookup(m, tag, idx, 0, &f, e)) < 0)
		return r;
	*p = f->val;
	*len = f->len;
	return 0;
}

int
wire_get_bytes(const struct wire_msg *m, uint16_t tag, const uint8_t **p,
    size_t *len, struct vouch_err *e)
{
	return wire_get_bytes_at(m, tag, 0, p, len, e);
}

int
wire_get_str_at(const struct wire_msg *m, uint16_t tag, size_t idx, char *buf,
    size_t cap, struct vouch_err *e)
{
	const struct wire_field *f;
	enum kind k;
	int r;

	if ((r = lookup(m, tag, idx, 0, &f, e)) < 0)
		return r;
	k = tags[tag].kind;
	if (k != K_STR && k != K_TEXT && k != K_HOST)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "wire: %s.%s is bytes, not a string", m->td->name,
		    tags[tag].name);
	if (f->len >= cap)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "wire: %s.%s: %zu bytes do not fit in %zu", m->td->name,
		    tags[tag].name, f->len, cap);
	memcpy(buf, f->val, f->len);
	buf[f->len] = '\0';
	return 0;
}

int
wire_get_str(const struct wire_msg *m, uint16_t tag, char *buf, size_t cap,
    struct vouch_err *e)
{
	return wire_get_str_at(m, tag, 0, buf, cap, e);
}

/* ========================== encoding ========================== */

struct wire_enc {
	uint16_t		 type;
	const struct type_def	*td;
	uint8_t			*buf;		/* header slot + body */
	size_t			 len, cap;
	uint16_t		 counts[WIRE_F_COUNT_];
};

int
wire_enc_new(uint16_t type, struct wire_enc **out, struct vouch_err *e)
{
	const struct type_def *td = type_def(type);
	struct wire_enc *w;

	if (td == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "wire: cannot encode unknown type %u", type);
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->buf = calloc(1, 256)) == NULL) {
		free(w);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	w->type = type;
	w->td = td;
	w->cap = 256;
	w->len = WIRE_HDR_LEN;
	*out = w;
	return 0;
}

void
wire_enc_free(struct wire_enc *w)
{
	if (w == NULL)
		return;
	free_secret(w->buf, w->cap);
	free(w);
}

/*
 * Grow by copying rather than realloc(), so that no unwiped copy of a
 * secret field is left behind in freed memory.
 */
static int
reserve(struct wire_enc *w, size_t more, struct vouch_err *e)
{
	size_t cap = w->cap;
	uint8_t *nb;

	if (w->len + more <= w->cap)
		return 0;
	while (cap < w->len + more)
		cap *= 2;
	if ((nb = malloc(cap)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	memcpy(nb, w->buf, w->len);
	free_secret(w->buf, w->cap);
	w->buf = nb;
	w->cap = cap;
	return 0;
}

int
wire_put_bytes(struct wire_enc *w, uint16_t tag, const void *p, size_t len,
    struct vouch_err *e)
{
	const struct rule *ru;
	enum wire_reason why;
	size_t body;
	int r;

	if (p == NULL && len > 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "wire: NULL value");
	if (wire_tag_name(tag) == NULL || (ru = rule_of(w->td, tag)) == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "wire: %s has no tag %u",
		    w->td->name, tag);
	if (w->counts[tag] >= ru->max_count)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "wire: %s.%s at most %u time(s)", w->td->name,
		    tags[tag].name, ru->max_count);
	if ((r = value_ok(w->td, ru, p, len, &why, e)) < 0)
		return r;
	body = w->len - WIRE_HDR_LEN;
	if (WIRE_FIELD_HDR_LEN + len > max_body(w->td) - body)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "wire: %s body would exceed %u bytes", w->td->name,
		    max_body(w->td));
	if ((r = reserve(w, WIRE_FIELD_HDR_LEN + len, e)) < 0)
		return r;
	put_be(w->buf + w->len, tag, 2);
	put_be(w->buf + w->len + 2, len, 4);
	if (len > 0)
		memcpy(w->buf + w->len + WIRE_FIELD_HDR_LEN, p, len);
	w->len += WIRE_FIELD_HDR_LEN + len;
	w->counts[tag]++;
	return 0;
}

static int
put_int(struct wire_enc *w, uint16_t tag, uint64_t v, size_t size,
    struct vouch_err *e)
{
	uint8_t b[8];

	if (wire_tag_name(tag) != NULL && rule_of(w->td, tag) != NULL &&
	    rule_of(w->td, tag)->max_len != size)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "wire: %s.%s is not a %zu-byte integer", w->td->name,
		    tags[tag].name, size);
	put_be(b, v, size);
	return wire_put_bytes(w, tag, b, size, e);
}

int
wire_put_u8(struct wire_enc *w, uint16_t tag, uint8_t v, struct vouch_err *e)
{
	return put_int(w, tag, v, 1, e);
}

int
wire_put_u32(struct wire_enc *w, uint16_t tag, uint32_t v,
    struct vouch_err *e)
{
	return put_int(w, tag, v, 4, e);
}

int
wire_put_u64(struct wire_enc *w, uint16_t tag, uint64_t v,
    struct vouch_err *e)
{
	return put_int(w, tag, v, 8, e);
}

int
wire_put_str(struct wire_enc *w, uint16_t tag, const char *s,
    struct vouch_err *e)
{
	enum kind k;

	if (s == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "wire: NULL string");
	if (wire_tag_name(tag) != NULL) {
		k = tags[tag].kind;
		if (k != K_STR && k != K_TEXT && k != K_HOST)
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "wire: %s is not a string field", tags[tag].name);
	}
	return wire_put_bytes(w, tag, s, strlen(s), e);
}

int
wire_enc_finish(struct wire_enc *w, const uint8_t **frame, size_t *len,
    struct vouch_err *e)
{
	struct wire_msg *m = NULL;
	struct vouch_err de = VOUCH_ERR_INIT;
	size_t i;

	for (i = 0; i < w->td->nrules; i++) {
		const struct rule *ru = &w->td->rules[i];
		if (w->counts[ru->tag] < ru->min_count)
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "wire: %s needs its %s field", w->td->name,
			    tags[ru->tag].name);
	}
	memcpy(w->buf, WIRE_MAGIC, 4);
	put_be(w->buf + 4, WIRE_VERSION, 2);
	put_be(w->buf + 6, w->type, 2);
	put_be(w->buf + 8, 0, 4);
	put_be(w->buf + 12, w->len - WIRE_HDR_LEN, 4);
	/*
	 * The puts already applied every rule; decoding the result proves
	 * the encoder and decoder agree, at the cost of one linear pass.
	 */
	if (wire_decode(w->buf, w->len, &m, NULL, &de) < 0)
		return vouch_err_set(e, VOUCH_E_INTERNAL,
		    "wire: encoder built a frame the decoder rejects: %s",
		    de.msg);
	wire_msg_free(m);
	*frame = w->buf;
	*len = w->len;
	return 0;
}
