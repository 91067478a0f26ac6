/*
 * wire.h - the one module that frames, encodes and decodes every message
 * between daemons (vouchd <-> vouchd, vouchd <-> vouch-tcbd), between
 * vouchctl and a daemon, and between the migration drivers of two hosts.
 * Nothing else parses network bytes.
 *
 * A frame is a fixed 16-byte header and a body of typed fields; all
 * integers are big endian (network order):
 *
 *	 0       4       6       8               12              16
 *	+-------+-------+-------+---------------+---------------+
 *	| magic |version| type  |   reserved    |   body_len    |
 *	| "VCHW"|  u16  |  u16  |  u32, zero    |      u32      |
 *	+-------+-------+-------+---------------+---------------+
 *	| field | field | ...  (exactly body_len bytes)         |
 *	+-------------------------------------------------------+
 *
 *	field:	 0       2               6
 *		+-------+---------------+------------------+
 *		|  tag  |      len      | value (len bytes) |
 *		|  u16  |      u32      |                   |
 *		+-------+---------------+------------------+
 *
 * Every limit (the hard maximum frame size, and per message type: which
 * tags, which are required, which repeat and how often, each value's
 * length and integer range) lives in one table in wire.c.  A frame's
 * maximum size per type is derived from that table, so a receiver learns
 * from the 16-byte header alone whether the body may be read at all:
 * wire_decode_header() rejects an oversize body_len before anyone
 * allocates or reads a byte of it.
 *
 * Message types and their fields ("1" required once, "?" optional,
 * "*N" repeatable up to N times; sizes in bytes):
 *
 *	HELLO		1  HOST		host	1..253
 *			1  ROLE		u8	1..3 (WIRE_ROLE_*)
 *			1  VERSION_MIN	u32	1..65535
 *			1  VERSION_MAX	u32	1..65535
 *	EPOCH		1  EPOCH	u64
 *			1  EPOCH_RANDOM	bytes	32
 *			*64 NEIGHBOUR	host	1..253
 *	CHALLENGE	1  NONCE	bytes	32
 *			1  PCR_SEL	string	1..256	("sha256:0-7,23")
 *			1  FLAGS	u32	0..WIRE_CHAL_FLAGS_ALL
 *	EVIDENCE	1  EVIDENCE	bytes	1..WIRE_EVIDENCE_MAX (JSON, opaque here)
 *	VERDICT		1  SUBJECT	host	1..253	(the attested host)
 *			1  VERIFIER	host	1..253	(the neighbour that appraised)
 *			1  TIME		u64	(seconds since the epoch, UTC)
 *			1  RESULT	u8	1..3 (WIRE_RESULT_*)
 *			*64 REASON	string	1..1024
 *			?  EVIDENCE	bytes	1..WIRE_EVIDENCE_MAX
 *			?  SEQ		u64	(sender's verdict number, echoed by ACK)
 *			?  EPOCH	u64	(region epoch the verdict belongs to)
 *	ENROL_REQUEST	1  EK_PUB	bytes	1..2048	(SubjectPublicKeyInfo DER)
 *			?  EK_CERT	bytes	1..8192	(X.509 DER)
 *			1  AK_PUB	bytes	1..1024	(marshalled TPM2B_PUBLIC)
 *			1  AK_NAME	bytes	22..66	(nameAlg + digest)
 *	ENROL_CHALLENGE	1  CREDENTIAL	bytes	1..1024	(TPM2B_ID_OBJECT)
 *			1  ENC_SECRET	bytes	1..1024	(TPM2B_ENCRYPTED_SECRET)
 *	ENROL_PROOF	1  SECRET	bytes	1..64	(the activated credential)
 *	STATUS_REQUEST	1  JSON		text	2..65536
 *	STATUS_REPLY	1  JSON		text	2..8 MiB
 *	ACK		1  SEQ		u64
 *	ERROR		1  CODE		u32	1..65535: -VOUCH_E_*, or
 *					WIRE_ERR_REASON_BASE + wire_reason
 *			1  MESSAGE	string	1..1024
 *	MIG_CONFIG	1  FORMAT	string	1..WIRE_MIG_FORMAT_MAX
 *					("vouch-xen-migration 1")
 *			1  JSON		text	2..WIRE_MIG_CONFIG_MAX
 *					(the domain's configuration)
 *	MIG_READY	(no fields: the body is empty)
 *	MIG_DATA	1  DATA		bytes	1..WIRE_MIG_DATA_MAX
 *					(a piece of the save stream)
 *	MIG_END		1  TOTAL	u64	(save-stream bytes sent)
 *	MIG_RESULT	1  TOTAL	u64	(save-stream bytes taken)
 *	ALERT		1  TARGET	string	1..WIRE_ALERT_TARGET_MAX (VM name)
 *			1  TYPE		string	1..WIRE_ALERT_TYPE_MAX
 *					("syscall_hook": the finding's type)
 *			1  CRITICAL	u8	0..1
 *			1  TIME		u64	(ms since the epoch, UTC)
 *			1  JSON		text	2..WIRE_ALERT_JSON_MAX
 *					(the finding, one JSON object)
 *			?  SEQ		u64	(sender's alert number, echoed
 *					by ACK)
 *	MIG_ORDER	1  SEQ		u64	(the migration's id, echoed by ACK)
 *			1  JSON		text	2..WIRE_MIG_JSON_MAX
 *					(the order, migrate/order.h)
 *	MIG_REPORT	1  SEQ		u64	(sender's report number, echoed
 *					by ACK)
 *			1  JSON		text	2..WIRE_MIG_JSON_MAX
 *					(one progress record, migrate/order.h)
 *	ATTEST_REQUEST	1  SUBJECT	host	1..253	(the host to attest now)
 *
 * The MIG_* types carry a hypervisor's live-migration stream between
 * two migration drivers (migrate/drv_xen.c): CONFIG -> READY | ERROR,
 * DATA*, END -> RESULT | ERROR; docs/protocol.md, conversation 7.
 *
 * ALERT carries one guard finding (vouch-guard -> vouch-tcbd after
 * HELLO, pipelined like VERDICTs: ALERT* -> ACK{SEQ} each once stored,
 * or ERROR); the sending host is its certificate's name, never a field.
 * TIME is in milliseconds here (VERDICT.TIME is in seconds).
 *
 * Evacuation (docs/protocol.md, conversation 9): vouch-tcbd sends
 * MIG_ORDER to the source host's vouchd (HELLO first, as for a direct
 * attestation) -> ACK{SEQ = id} once the order is queued, or ERROR.  The
 * executing vouchd reports progress to vouch-tcbd, pipelined like
 * VERDICTs: MIG_REPORT* -> ACK{SEQ} each once stored.  Before a stream
 * starts it asks ATTEST_REQUEST{SUBJECT} -> VERDICT{SUBJECT, VERIFIER =
 * the tcbd, TIME, RESULT, REASON*}: PASS only after a direct attestation
 * with a fresh nonce passed and the subject is TRUSTED.
 *
 * Value kinds: u8/u32/u64 have exactly 1/4/8 bytes (big endian) and a
 * range; "bytes" is opaque; "string" is well-formed UTF-8 without
 * control characters (C0, DEL, C1) and so without NUL; "text" is a string
 * that may also hold TAB, LF and CR; "host" is a lower-case DNS name:
 * labels of [a-z0-9-], 1..63 long, not starting or ending with '-',
 * separated by single dots, 1..253 in all.  Decoding validates every
 * value against its kind, so a getter never sees an invalid value.
 *
 * Fields may come in any order; repeated fields keep their order.  Tags
 * form one namespace (a tag has one kind everywhere) so a new message
 * type reuses tags.  To add a type: a WIRE_T_* value below, a rule list
 * and a row in the type table in wire.c, a line in docs/protocol.md.
 *
 * Versioning: the header version must lie in WIRE_VERSION_MIN..
 * WIRE_VERSION_MAX of the receiver, else the frame is rejected.  HELLO
 * carries the sender's range; a peer answers in the highest version both
 * support.  Until a version 2 exists every frame is version 1.
 *
 * Rejections carry a distinct enum wire_reason (optionally returned) and
 * a struct vouch_err whose msg starts "wire: <reason name>: ".
 */
#ifndef VOUCH_WIRE_H
#define VOUCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define WIRE_MAGIC		"VCHW"
#define WIRE_HDR_LEN		16
#define WIRE_FIELD_HDR_LEN	6
#define WIRE_VERSION		1	/* what this build sends */
#define WIRE_VERSION_MIN	1	/* what this build accepts */
#define WIRE_VERSION_MAX	1

/* Message types (header "type").  0 is never valid. */
enum wire_type {
	WIRE_T_HELLO = 1,
	WIRE_T_EPOCH,
	WIRE_T_CHALLENGE,
	WIRE_T_EVIDENCE,
	WIRE_T_VERDICT,
	WIRE_T_ENROL_REQUEST,
	WIRE_T_ENROL_CHALLENGE,
	WIRE_T_ENROL_PROOF,
	WIRE_T_STATUS_REQUEST,
	WIRE_T_STATUS_REPLY,
	WIRE_T_ACK,
	WIRE_T_ERROR,
	WIRE_T_MIG_CONFIG,	/* 13: migration stream, docs/protocol.md 7 */
	WIRE_T_MIG_READY,
	WIRE_T_MIG_DATA,
	WIRE_T_MIG_END,
	WIRE_T_MIG_RESULT,
	WIRE_T_ALERT,		/* 18: a guard finding, docs/protocol.md 8 */
	WIRE_T_MIG_ORDER,	/* 19: tcbd -> source vouchd, docs/protocol.md 9 */
	WIRE_T_MIG_REPORT,	/* 20: executing vouchd -> tcbd */
	WIRE_T_ATTEST_REQUEST,	/* 21: vouchd -> tcbd: attest a host now */
	WIRE_T_COUNT_		/* one past the last type */
};

/* Field tags (one namespace for all types).  0 is never valid. */
enum wire_tag {
	WIRE_F_HOST = 1,
	WIRE_F_ROLE,
	WIRE_F_VERSION_MIN,
	WIRE_F_VERSION_MAX,
	WIRE_F_EPOCH,
	WIRE_F_EPOCH_RANDOM,
	WIRE_F_NEIGHBOUR,
	WIRE_F_NONCE,
	WIRE_F_PCR_SEL,
	WIRE_F_FLAGS,
	WIRE_F_EVIDENCE,
	WIRE_F_SUBJECT,
	WIRE_F_VERIFIER,
	WIRE_F_TIME,
	WIRE_F_RESULT,
	WIRE_F_REASON,
	WIRE_F_SEQ,
	WIRE_F_EK_PUB,
	WIRE_F_EK_CERT,
	WIRE_F_AK_PUB,
	WIRE_F_AK_NAME,
	WIRE_F_CREDENTIAL,
	WIRE_F_ENC_SECRET,
	WIRE_F_SECRET,
	WIRE_F_JSON,
	WIRE_F_CODE,
	WIRE_F_MESSAGE,
	WIRE_F_FORMAT,		/* 28 */
	WIRE_F_DATA,
	WIRE_F_TOTAL,
	WIRE_F_TARGET,		/* 31 */
	WIRE_F_TYPE,
	WIRE_F_CRITICAL,
	WIRE_F_COUNT_		/* one past the last tag */
};

/* HELLO.ROLE */
#define WIRE_ROLE_VOUCHD	1
#define WIRE_ROLE_TCBD		2
#define WIRE_ROLE_CTL		3

/*
 * CHALLENGE.FLAGS.  Flags are allocated from bit 0 upwards so that
 * WIRE_CHAL_FLAGS_ALL (the table's upper bound) rejects unknown bits.
 */
#define WIRE_CHAL_FULL_LOG	0x1u	/* send the whole boot log, not a delta */
#define WIRE_CHAL_FLAGS_ALL	0x1u

/* VERDICT.RESULT */
#define WIRE_RESULT_PASS	1	/* evidence appraised and good */
#define WIRE_RESULT_FAIL	2	/* evidence appraised and bad */
#define WIRE_RESULT_ERROR	3	/* no appraisal possible (timeout, bad frame) */

/* ERROR.CODE for "your frame was rejected": base + enum wire_reason. */
#define WIRE_ERR_REASON_BASE	1000

#define WIRE_NONCE_LEN		32
#define WIRE_EPOCH_RANDOM_LEN	32
#define WIRE_HOST_MAX		253
/* Largest EVIDENCE value: 32 MiB less room for a VERDICT's other fields. */
#define WIRE_EVIDENCE_MAX	((32u << 20) - (256u << 10))
/*
 * Migration stream: MIG_CONFIG.FORMAT names the stream's format and
 * version; MIG_CONFIG.JSON is a domain configuration (libxl's are a few
 * KiB, tens with many devices); MIG_DATA.DATA is one piece of the
 * hypervisor's save stream, which a sender cuts into pieces of at most
 * this size.
 */
#define WIRE_MIG_FORMAT_MAX	64
#define WIRE_MIG_CONFIG_MAX	(1u << 20)
#define WIRE_MIG_DATA_MAX	(256u << 10)
/* ALERT: a VM name, a finding type ("syscall_outside_text"), the finding. */
#define WIRE_ALERT_TARGET_MAX	64
#define WIRE_ALERT_TYPE_MAX	32
#define WIRE_ALERT_JSON_MAX	(16u << 10)
/* MIG_ORDER / MIG_REPORT: one JSON object each (migrate/order.h). */
#define WIRE_MIG_JSON_MAX	(16u << 10)

/* Why a frame was rejected; each check has its own. */
enum wire_reason {
	WIRE_R_OK = 0,
	WIRE_R_SHORT_HEADER,	/* fewer than WIRE_HDR_LEN bytes */
	WIRE_R_BAD_MAGIC,
	WIRE_R_BAD_VERSION,	/* outside WIRE_VERSION_MIN..MAX */
	WIRE_R_UNKNOWN_TYPE,
	WIRE_R_RESERVED,	/* reserved header word not zero */
	WIRE_R_OVERSIZE,	/* body_len over the type's limit */
	WIRE_R_TRUNCATED,	/* fewer body bytes than body_len */
	WIRE_R_TRAILING,	/* more bytes than header + body_len */
	WIRE_R_FIELD_TRUNCATED,	/* a field runs past the end of the body */
	WIRE_R_UNKNOWN_TAG,	/* tag unknown to this version */
	WIRE_R_TAG_NOT_ALLOWED,	/* known tag, not part of this type */
	WIRE_R_DUPLICATE,	/* non-repeatable tag seen twice */
	WIRE_R_TOO_MANY,	/* repeatable tag over its count */
	WIRE_R_MISSING,		/* required tag absent */
	WIRE_R_LENGTH,		/* value length outside min..max */
	WIRE_R_RANGE,		/* integer outside its range */
	WIRE_R_BAD_STRING,	/* not UTF-8, or control characters */
	WIRE_R_BAD_HOST,	/* not a lower-case DNS name */
	WIRE_R_COUNT_
};

/* "bad-magic", ...; never NULL. */
const char *wire_reason_name(enum wire_reason r);
/* "HELLO", ... or NULL for an unknown type / tag. */
const char *wire_type_name(uint16_t type);
const char *wire_tag_name(uint16_t tag);

/*
 * Largest frame (header included) of a type, 0 for an unknown type;
 * type 0 gives the hard maximum over all types (32 MiB).
 */
size_t wire_frame_limit(uint16_t type);

/* 1 if s[0..len) is a valid host name (see above), else 0. */
int wire_host_name_ok(const char *s, size_t len);

/* ---- decoding ---- */

struct wire_hdr {
	uint16_t	version;
	uint16_t	type;
	uint32_t	body_len;
};

/*
 * Check a header (exactly the first WIRE_HDR_LEN bytes of a frame):
 * magic, version, known type, reserved zero, body_len within the type's
 * limit.  On success fills *h; a stream reader then reads body_len bytes.
 * why (may be NULL) gets the reason on failure.
 */
int wire_decode_header(const uint8_t *hdr, size_t len, struct wire_hdr *h,
    enum wire_reason *why, struct vouch_err *e);

/*
 * A decoded message.  Zero-copy: values point into the buffer given to
 * wire_decode(), which must outlive the message and stay unchanged.
 */
struct wire_msg;

/*
 * Decode one whole frame: buf[0..len) must be exactly header + body.
 * Every check of the table is applied; *out only on success (free with
 * wire_msg_free()).
 */
int wire_decode(const uint8_t *buf, size_t len, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e);
/*
 * Same, but on success the message takes ownership of buf (malloc'd),
 * which wire_msg_free() wipes and frees.  On failure the caller still
 * owns buf.  Used by the TLS reader.
 */
int wire_decode_owned(uint8_t *buf, size_t len, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e);
/* NULL is a no-op.  An owned buffer is wiped (it may hold secrets). */
void wire_msg_free(struct wire_msg *m);

uint16_t wire_msg_type(const struct wire_msg *m);
uint16_t wire_msg_version(const struct wire_msg *m);
/* Fields in frame order, for generic walkers (fuzzers, debug dumps). */
size_t wire_msg_nfields(const struct wire_msg *m);
int wire_msg_field(const struct wire_msg *m, size_t i, uint16_t *tag,
    const uint8_t **val, size_t *len);
/* How many times tag occurs (0 for absent or not allowed). */
size_t wire_count(const struct wire_msg *m, uint16_t tag);

/*
 * Typed getters.  The *_at forms take the occurrence index of a
 * repeatable tag; the plain forms read occurrence 0.  Errors:
 * VOUCH_E_NOTFOUND for an absent optional field (or index past the
 * count); VOUCH_E_INVAL if tag is not part of the type or is read as the
 * wrong kind (a caller bug).  Outputs are written only on success.
 */
int wire_get_u8(const struct wire_msg *m, uint16_t tag, uint8_t *v,
    struct vouch_err *e);
int wire_get_u32(const struct wire_msg *m, uint16_t tag, uint32_t *v,
    struct vouch_err *e);
int wire_get_u64(const struct wire_msg *m, uint16_t tag, uint64_t *v,
    struct vouch_err *e);
/*
 * Bytes (any kind but integers): *p points into the message's buffer
 * (not NUL-terminated), valid while the message lives.
 */
int wire_get_bytes(const struct wire_msg *m, uint16_t tag, const uint8_t **p,
    size_t *len, struct vouch_err *e);
int wire_get_bytes_at(const struct wire_msg *m, uint16_t tag, size_t idx,
    const uint8_t **p, size_t *len, struct vouch_err *e);
/*
 * String, text or host, copied NUL-terminated into buf[cap]; VOUCH_E_LIMIT
 * if it does not fit (nothing written then).
 */
int wire_get_str(const struct wire_msg *m, uint16_t tag, char *buf,
    size_t cap, struct vouch_err *e);
int wire_get_str_at(const struct wire_msg *m, uint16_t tag, size_t idx,
    char *buf, size_t cap, struct vouch_err *e);

/* ---- encoding ---- */

/*
 * A frame under construction in a growable buffer.  Every put checks the
 * same table as the decoder (tag allowed, kind, length, range, count,
 * string validity, body size) and leaves the frame unchanged on failure,
 * so the encoder cannot build a frame the decoder would reject.
 */
struct wire_enc;

int wire_enc_new(uint16_t type, struct wire_enc **out, struct vouch_err *e);
/* NULL is a no-op; the buffer is wiped (it may hold secrets). */
void wire_enc_free(struct wire_enc *w);

int wire_put_u8(struct wire_enc *w, uint16_t tag, uint8_t v,
    struct vouch_err *e);
int wire_put_u32(struct wire_enc *w, uint16_t tag, uint32_t v,
    struct vouch_err *e);
int wire_put_u64(struct wire_enc *w, uint16_t tag, uint64_t v,
    struct vouch_err *e);
/* Strings, texts and hosts, without their NUL. */
int wire_put_str(struct wire_enc *w, uint16_t tag, const char *s,
    struct vouch_err *e);
/* Any kind from its raw value bytes (integers big endian, exact size). */
int wire_put_bytes(struct wire_enc *w, uint16_t tag, const void *p,
    size_t len, struct vouch_err *e);

/*
 * Check required tags, fill in the header and hand out the frame:
 * *frame points into w (valid until the next put or wire_enc_free()).
 */
int wire_enc_finish(struct wire_enc *w, const uint8_t **frame, size_t *len,
    struct vouch_err *e);

#endif
