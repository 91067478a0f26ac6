/*
 * eventlog.c - TCG PC Client crypto-agile event log: parse and replay.
 *
 * Every byte is read through an rbuf, so no length claimed by the log
 * can move a read past the buffer.  The parser is strict: the Spec ID
 * event must be first and well formed, every later event must carry
 * exactly one digest for each algorithm the Spec ID event declares, and
 * the log must end on an event boundary.  Errors say "event I at offset
 * O: what".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rbuf.h"
#include "measure/eventlog.h"

/*
 * Algorithms one Spec ID event may declare.  The TCG registry has a
 * handful of hash algorithms; 16 leaves room for ones pcr.h does not
 * know (their digests are skipped, see below) while bounding the work per
 * event.
 */
#define SPECID_MAX_ALGS		16
#define SPECID_SIGNATURE	"Spec ID Event03"	/* + NUL = 16 bytes */
#define STARTUP_LOCALITY_SIG	"StartupLocality"	/* + NUL = 16 bytes */
#define SHA1_SIZE		20

struct specid_alg {
	uint16_t	alg;
	uint16_t	size;
	int		known;	/* pcr_alg_by_id() knows it: stored, replayed */
};

struct eventlog {
	struct eventlog_event	*ev;
	size_t			 n, cap;
	struct specid_alg	 algs[SPECID_MAX_ALGS];
	size_t			 nalgs;
	uint8_t			 locality;
	int			 has_locality;
};

static const struct {
	uint32_t	 type;
	const char	*name;
} type_names[] = {
	{ EV_PREBOOT_CERT, "EV_PREBOOT_CERT" },
	{ EV_POST_CODE, "EV_POST_CODE" },
	{ EV_NO_ACTION, "EV_NO_ACTION" },
	{ EV_SEPARATOR, "EV_SEPARATOR" },
	{ EV_ACTION, "EV_ACTION" },
	{ EV_EVENT_TAG, "EV_EVENT_TAG" },
	{ EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS" },
	{ EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION" },
	{ EV_CPU_MICROCODE, "EV_CPU_MICROCODE" },
	{ EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS" },
	{ EV_TABLE_OF_DEVICES, "EV_TABLE_OF_DEVICES" },
	{ EV_COMPACT_HASH, "EV_COMPACT_HASH" },
	{ EV_IPL, "EV_IPL" },
	{ EV_IPL_PARTITION_DATA, "EV_IPL_PARTITION_DATA" },
	{ EV_NONHOST_CODE, "EV_NONHOST_CODE" },
	{ EV_NONHOST_CONFIG, "EV_NONHOST_CONFIG" },
	{ EV_NONHOST_INFO, "EV_NONHOST_INFO" },
	{ EV_OMIT_BOOT_DEVICE_EVENTS, "EV_OMIT_BOOT_DEVICE_EVENTS" },
	{ EV_EFI_EVENT_BASE, "EV_EFI_EVENT_BASE" },
	{ EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
	{ EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT" },
	{ EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION" },
	{ EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER" },
	{ EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
	{ EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT" },
	{ EV_EFI_ACTION, "EV_EFI_ACTION" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
	{ EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES" },
	{ EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
	{ EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2" },
	{ EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2" },
	{ EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT" },
	{ EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY" },
	{ EV_EFI_SPDM_FIRMWARE_BLOB, "EV_EFI_SPDM_FIRMWARE_BLOB" },
	{ EV_EFI_SPDM_FIRMWARE_CONFIG, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

const char *
eventlog_type_name(uint32_t type)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return NULL;
}

/* A short read is VOUCH_E_TRUNCATED, naming the event and field. */
static int
trunc_err(struct vouch_err *e, size_t idx, size_t off, const char *what,
    const struct rbuf *b)
{
	return vouch_err_set(e, VOUCH_E_TRUNCATED,
	    "event %zu at offset %zu: truncated in %s (%zu bytes left)",
	    idx, off, what, rbuf_left(b));
}

static int
log_push(struct eventlog *log, const struct eventlog_event *ev,
    struct vouch_err *e)
{
	struct eventlog_event *nev;
	size_t ncap;

	if (log->n == EVENTLOG_MAX_EVENTS)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "event %zu at offset %zu: more than %u events",
		    ev->index, ev->offset, (unsigned)EVENTLOG_MAX_EVENTS);
	if (log->n == log->cap) {
		ncap = log->cap ? log->cap * 2 : 64;
		if (ncap > EVENTLOG_MAX_EVENTS)
			ncap = EVENTLOG_MAX_EVENTS;
		if ((nev = realloc(log->ev, ncap * sizeof(*nev))) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		log->ev = nev;
		log->cap = ncap;
	}
	log->ev[log->n++] = *ev;
	return 0;
}

/*
 * The header event, in the SHA-1 log format (TCG_PCClientPCREvent):
 *
 *	u32 pcr (0) | u32 type (EV_NO_ACTION) | u8 digest[20] (zero) |
 *	u32 size | TCG_EfiSpecIdEvent:
 *	    u8 signature[16] "Spec ID Event03\0" | u32 platformClass |
 *	    u8 specVersionMinor | u8 specVersionMajor (2) | u8 specErrata |
 *	    u8 uintnSize (1 or 2) | u32 numberOfAlgorithms |
 *	    { u16 algorithmId | u16 digestSize } [numberOfAlgorithms] |
 *	    u8 vendorInfoSize | u8 vendorInfo[vendorInfoSize]
 *
 * The Spec ID structure must fill the event's size exactly.
 */
static int
parse_specid(struct eventlog *log, struct rbuf *b, struct vouch_err *e)
{
	struct eventlog_event ev;
	struct rbuf s;
	const uint8_t *digest, *sig;
	uint32_t nalgs, platform;
	uint8_t minor, major, errata, uintn, vlen;
	size_t i, j;

	memset(&ev, 0, sizeof(ev));
	if (rbuf_get_u32le(b, &ev.pcr) < 0)
		return trunc_err(e, 0, 0, "PCR index", b);
	if (rbuf_get_u32le(b, &ev.type) < 0)
		return trunc_err(e, 0, 0, "event type", b);
	if (rbuf_get_ptr(b, &digest, SHA1_SIZE) < 0)
		return trunc_err(e, 0, 0, "SHA-1 digest", b);
	if (rbuf_get_u32le(b, &ev.data_len) < 0)
		return trunc_err(e, 0, 0, "event size", b);
	if (ev.pcr != 0 || ev.type != EV_NO_ACTION)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: not a Spec ID header event "
		    "(PCR %u, type 0x%08x; want PCR 0, EV_NO_ACTION); "
		    "SHA-1-only logs are not supported", ev.pcr, ev.type);
	for (i = 0; i < SHA1_SIZE; i++)
		if (digest[i] != 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "event 0 at offset 0: header digest is not zero");
	if (ev.data_len > EVENTLOG_MAX_EVENT_DATA)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "event 0 at offset 0: event size %u exceeds %u",
		    ev.data_len, (unsigned)EVENTLOG_MAX_EVENT_DATA);
	if (rbuf_get_ptr(b, &ev.data, ev.data_len) < 0)
		return trunc_err(e, 0, 0, "Spec ID event data", b);

	rbuf_init(&s, ev.data, ev.data_len);
	if (rbuf_get_ptr(&s, &sig, 16) < 0 ||
	    memcmp(sig, SPECID_SIGNATURE, 16) != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: no \"" SPECID_SIGNATURE "\" signature");
	if (rbuf_get_u32le(&s, &platform) < 0 || rbuf_get_u8(&s, &minor) < 0 ||
	    rbuf_get_u8(&s, &major) < 0 || rbuf_get_u8(&s, &errata) < 0 ||
	    rbuf_get_u8(&s, &uintn) < 0 || rbuf_get_u32le(&s, &nalgs) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: Spec ID event too short");
	if (major != 2)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: Spec ID version %u.%u, want 2.x",
		    major, minor);
	if (uintn != 1 && uintn != 2)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: bad uintnSize %u", uintn);
	if (nalgs == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: Spec ID declares no algorithms");
	if (nalgs > SPECID_MAX_ALGS)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "event 0 at offset 0: %u algorithms (at most %d)",
		    nalgs, SPECID_MAX_ALGS);
	for (i = 0; i < nalgs; i++) {
		struct specid_alg *a = &log->algs[i];
		const struct pcr_alg *pa;

		if (rbuf_get_u16le(&s, &a->alg) < 0 ||
		    rbuf_get_u16le(&s, &a->size) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "event 0 at offset 0: Spec ID algorithm list "
			    "too short");
		for (j = 0; j < i; j++)
			if (log->algs[j].alg == a->alg)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "event 0 at offset 0: algorithm 0x%04x "
				    "declared twice", a->alg);
		if (a->size == 0 || a->size > 1024)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "event 0 at offset 0: algorithm 0x%04x has "
			    "digest size %u", a->alg, a->size);
		/*
		 * A known algorithm with a size other than its own would
		 * make every replay silently wrong.
		 */
		if ((pa = pcr_alg_by_id(a->alg)) != NULL) {
			if (pa->size != a->size)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "event 0 at offset 0: %s digest size %u, "
				    "want %zu", pa->name, a->size, pa->size);
			a->known = 1;
		}
	}
	log->nalgs = nalgs;
	if (rbuf_get_u8(&s, &vlen) < 0 || rbuf_skip(&s, vlen) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: Spec ID vendor info too short");
	if (rbuf_left(&s) != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event 0 at offset 0: %zu stray bytes after the Spec ID "
		    "structure", rbuf_left(&s));
	(void)platform;
	(void)errata;

	ev.index = 0;
	ev.offset = 0;
	ev.ndigests = 1;
	ev.digests[0].alg = PCR_ALG_SHA1;	/* the zero SHA-1 field */
	return log_push(log, &ev, e);
}

/*
 * StartupLocality (TCG PC Client PFP, EV_NO_ACTION on PCR 0):
 *	u8 signature[16] "StartupLocality\0" | u8 locality
 * Returns 1 if ev is one (locality in *loc), 0 if not, <0 if malformed.
 */
static int
startup_locality(const struct eventlog_event *ev, uint8_t *loc,
    struct vouch_err *e)
{
	if (ev->type != EV_NO_ACTION || ev->data_len < 16 ||
	    memcmp(ev->data, STARTUP_LOCALITY_SIG, 16) != 0)
		return 0;
	if (ev->data_len != 17)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event %zu at offset %zu: StartupLocality event of %u "
		    "bytes, want 17", ev->index, ev->offset, ev->data_len);
	if (ev->pcr != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event %zu at offset %zu: StartupLocality on PCR %u",
		    ev->index, ev->offset, ev->pcr);
	if (ev->data[16] > 4)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event %zu at offset %zu: StartupLocality %u (0..4)",
		    ev->index, ev->offset, ev->data[16]);
	*loc = ev->data[16];
	return 1;
}

/*
 *	u32 pcr | u32 type | u32 count |
 *	{ u16 alg | u8 digest[size from Spec ID] } [count] |
 *	u32 size | u8 event[size]
 */
static int
parse_event2(struct eventlog *log, struct rbuf *b, int *pcr0_extended,
    struct vouch_err *e)
{
	struct eventlog_event ev;
	uint32_t count, i;
	size_t j, idx = log->n, off = b->off;
	uint32_t seen = 0;	/* bit per Spec ID algorithm */
	uint8_t loc = 0;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.index = idx;
	ev.offset = off;
	if (rbuf_get_u32le(b, &ev.pcr) < 0)
		return trunc_err(e, idx, off, "PCR index", b);
	if (rbuf_get_u32le(b, &ev.type) < 0)
		return trunc_err(e, idx, off, "event type", b);
	if (rbuf_get_u32le(b, &count) < 0)
		return trunc_err(e, idx, off, "digest count", b);
	if (ev.pcr >= PCR_NUM)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event %zu at offset %zu: PCR index %u out of range",
		    idx, off, ev.pcr);
	if (count != log->nalgs)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "event %zu at offset %zu: %u digests, the Spec ID event "
		    "declares %zu algorithms", idx, off, count, log->nalgs);
	for (i = 0; i < count; i++) {
		const struct specid_alg *a = NULL;
		const uint8_t *d;
		uint16_t alg;

		if (rbuf_get_u16le(b, &alg) < 0)
			return trunc_err(e, idx, off, "digest algorithm", b);
		for (j = 0; j < log->nalgs; j++)
			if (log->algs[j].alg == alg) {
				a = &log->algs[j];
				break;
			}
		/* Without a size from the Spec ID we cannot skip it. */
		if (a == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "event %zu at offset %zu: digest algorithm 0x%04x "
			    "not declared in the Spec ID event", idx, off, alg);
		if (seen & (1u << j))
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "event %zu at offset %zu: two digests for "
			    "algorithm 0x%04x", idx, off, alg);
		seen |= 1u << j;
		if (rbuf_get_ptr(b, &d, a->size) < 0)
			return trunc_err(e, idx, off, "digest", b);
		/* Unknown algorithms: skipped (never replayed). */
		if (!a->known)
			continue;
		if (ev.ndigests == PCR_BANKS_MAX)
			return vouch_err_set(e, VOUCH_E_INTERNAL,
			    "event %zu: too many known digests", idx);
		ev.digests[ev.ndigests].alg = alg;
		memcpy(ev.digests[ev.ndigests].d, d, a->size);
		ev.ndigests++;
	}
	if (rbuf_get_u32le(b, &ev.data_len) < 0)
		return trunc_err(e, idx, off, "event size", b);
	if (ev.data_len > EVENTLOG_MAX_EVENT_DATA)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "event %zu at offset %zu: event size %u exceeds %u",
		    idx, off, ev.data_len, (unsigned)EVENTLOG_MAX_EVENT_DATA);
	if (rbuf_get_ptr(b, &ev.data, ev.data_len) < 0)
		return trunc_err(e, idx, off, "event data", b);

	if ((r = startup_locality(&ev, &loc, e)) < 0)
		return r;
	if (r == 1) {
		/*
		 * The locality is PCR 0's value before the first extend;
		 * one that arrives later (or twice) cannot be replayed.
		 */
		if (log->has_locality || *pcr0_extended)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "event %zu at offset %zu: StartupLocality after "
			    "%s", idx, off, log->has_locality ?
			    "another StartupLocality" : "PCR 0 was extended");
		log->has_locality = 1;
		log->locality = loc;
	}
	if (ev.pcr == 0 && ev.type != EV_NO_ACTION)
		*pcr0_extended = 1;
	return log_push(log, &ev, e);
}

int
eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **out,
    struct vouch_err *e)
{
	struct eventlog *log;
	struct rbuf b;
	int r, pcr0_extended = 0;

	if (buf == NULL && len > 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "NULL buffer");
	if (len > EVENTLOG_MAX_SIZE)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "event log of %zu bytes exceeds %u", len,
		    (unsigned)EVENTLOG_MAX_SIZE);
	if ((log = calloc(1, sizeof(*log))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	rbuf_init(&b, buf, len);
	if ((r = parse_specid(log, &b, e)) < 0)
		goto fail;
	while (rbuf_left(&b) > 0)
		if ((r = parse_event2(log, &b, &pcr0_extended, e)) < 0)
			goto fail;
	*out = log;
	return 0;
fail:
	eventlog_free(log);
	return r;
}

void
eventlog_free(struct eventlog *log)
{
	if (log == NULL)
		return;
	free(log->ev);
	free(log);
}

size_t
eventlog_count(const struct eventlog *log)
{
	return log->n;
}

const struct eventlog_event *
eventlog_get(const struct eventlog *log, size_t i)
{
	return i < log->n ? &log->ev[i] : NULL;
}

size_t
eventlog_banks(const struct eventlog *log, uint16_t *algs, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < log->nalgs; i++) {
		if (!log->algs[i].known)
			continue;
		if (n < max)
			algs[n] = log->algs[i].alg;
		n++;
	}
	return n < max ? n : max;
}

uint8_t
eventlog_locality(const struct eventlog *log)
{
	return log->locality;
}

int
eventlog_replay(const struct eventlog *log, struct pcr_set *out,
    struct vouch_err *e)
{
	struct pcr_set s;
	size_t i, k, d;
	int r;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < log->nalgs; i++) {
		const struct pcr_alg *a = pcr_alg_by_id(log->algs[i].alg);
		struct pcr_bank *bank;

		if (a == NULL)
			continue;
		if ((bank = pcr_set_bank_add(&s, a->id, e)) == NULL)
			return e ? e->code : VOUCH_E_INTERNAL;
		/*
		 * Initial values (PC Client PTP/PFP): PCRs 0-16 and 23 reset
		 * to zero at TPM2_Startup; PCRs 17-22 are the D-RTM PCRs,
		 * reset to all ones at startup and to zero only by a D-RTM
		 * event (which a firmware log does not describe).  PCR 0
		 * starts at the startup locality in its last byte.
		 */
		for (k = 0; k < PCR_NUM; k++)
			memset(bank->v[k], (k >= 17 && k <= 22) ? 0xff : 0,
			    a->size);
		bank->v[0][a->size - 1] = log->locality;
		if (log->has_locality)
			bank->set |= 1u;
	}
	for (i = 1; i < log->n; i++) {
		const struct eventlog_event *ev = &log->ev[i];

		if (ev->type == EV_NO_ACTION)
			continue;
		for (k = 0; k < s.nbanks; k++) {
			struct pcr_bank *bank = &s.bank[k];

			for (d = 0; d < ev->ndigests; d++)
				if (ev->digests[d].alg == bank->alg)
					break;
			if (d == ev->ndigests)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "event %zu at offset %zu: no digest for "
				    "bank 0x%04x", ev->index, ev->offset,
				    bank->alg);
			if ((r = pcr_extend(bank->alg, bank->v[ev->pcr],
			    ev->digests[d].d, e)) < 0) {
				if (e != NULL)
					vouch_err_prefix(e, "event %zu at "
					    "offset %zu", ev->index, ev->offset);
				return r;
			}
			bank->set |= 1u << ev->pcr;
		}
	}
	*out = s;
	return 0;
}

/* --- descriptions ------------------------------------------------------ */

/* Appends to a bounded string; never writes a non-printable byte. */
struct sbuf {
	char	*p;
	size_t	 n, off;
};

static void
sb_putc(struct sbuf *sb, char c)
{
	if (sb->n == 0)
		return;
	if (c < 0x20 || c > 0x7e)
		c = '?';
	if (sb->off + 1 < sb->n)
		sb->p[sb->off++] = c;
	sb->p[sb->off] = '\0';
}

static void
sb_puts(struct sbuf *sb, const char *s)
{
	while (*s != '\0')
		sb_putc(sb, *s++);
}

static void
sb_bytes(struct sbuf *sb, size_t len)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%zu bytes", len);
	sb_puts(sb, tmp);
}

/* 1 if p[0..len) is printable ASCII, allowing trailing NULs. */
static int
is_text(const uint8_t *p, size_t len)
{
	while (len > 0 && p[len - 1] == 0)
		len--;
	if (len == 0)
		return 0;
	for (; len > 0; len--, p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return 1;
}

static void
sb_ascii(struct sbuf *sb, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && p[i] != 0; i++)
		sb_putc(sb, (char)p[i]);
}

/* UTF-16LE to ASCII; anything outside ASCII becomes '?'. */
static void
sb_utf16(struct sbuf *sb, const uint8_t *p, size_t nchars)
{
	size_t i;

	for (i = 0; i < nchars; i++) {
		uint16_t c = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
		if (c == 0)
			break;
		sb_putc(sb, c < 0x80 ? (char)c : '?');
	}
}

/* 1 if p looks like a NUL-terminated (or full) UTF-16LE ASCII string. */
static int
is_utf16_text(const uint8_t *p, size_t len)
{
	size_t i;

	if (len < 2 || len % 2 != 0)
		return 0;
	for (i = 0; i + 1 < len; i += 2) {
		uint16_t c = (uint16_t)(p[i] | p[i + 1] << 8);
		if (c == 0)
			return i > 0;
		if (c < 0x20 || c > 0x7e)
			return 0;
	}
	return 1;
}

/*
 * UEFI_VARIABLE_DATA:
 *	EFI_GUID VariableName | u64 UnicodeNameLength (chars) |
 *	u64 VariableDataLength | CHAR16 UnicodeName[] | u8 VariableData[]
 */
static int
describe_variable(struct sbuf *sb, const struct eventlog_event *ev)
{
	struct rbuf b;
	const uint8_t *name;
	uint64_t nlen, dlen;

	rbuf_init(&b, ev->data, ev->data_len);
	if (rbuf_skip(&b, 16) < 0 || rbuf_get_u64le(&b, &nlen) < 0 ||
	    rbuf_get_u64le(&b, &dlen) < 0 || nlen == 0 ||
	    nlen > rbuf_left(&b) / 2 ||
	    rbuf_get_ptr(&b, &name, (size_t)nlen * 2) < 0)
		return 0;
	sb_utf16(sb, name, (size_t)nlen);
	return 1;
}

/*
 * UEFI_IMAGE_LOAD_EVENT:
 *	u64 ImageLocationInMemory | u64 ImageLengthInMemory |
 *	u64 ImageLinkTimeAddress | u64 LengthOfDevicePath |
 *	EFI_DEVICE_PATH DevicePath[]
 * Device path nodes: u8 type | u8 subtype | u16 length (incl. header).
 * Media (4) / File Path (4) nodes carry a UTF-16 name: those are the
 * cheaply derivable part; other nodes are left out.
 */
static int
describe_image(struct sbuf *sb, const struct eventlog_event *ev)
{
	struct rbuf b, dp;
	const uint8_t *path, *node;
	uint64_t dplen;
	size_t nodes = 0;
	int any = 0;

	rbuf_init(&b, ev->data, ev->data_len);
	if (rbuf_skip(&b, 24) < 0 || rbuf_get_u64le(&b, &dplen) < 0 ||
	    dplen > rbuf_left(&b) ||
	    rbuf_get_ptr(&b, &path, (size_t)dplen) < 0)
		return 0;
	rbuf_init(&dp, path, (size_t)dplen);
	while (rbuf_left(&dp) >= 4 && nodes++ < 64) {
		uint8_t type, sub;
		uint16_t nl;

		if (rbuf_get_u8(&dp, &type) < 0 || rbuf_get_u8(&dp, &sub) < 0 ||
		    rbuf_get_u16le(&dp, &nl) < 0 || nl < 4 ||
		    rbuf_get_ptr(&dp, &node, (size_t)nl - 4) < 0)
			break;
		if (type == 0x7f)	/* end of device path */
			break;
		if (type == 4 && sub == 4 && is_utf16_text(node, nl - 4u)) {
			if (any)
				sb_putc(sb, '/');
			sb_utf16(sb, node, (nl - 4u) / 2);
			any = 1;
		}
	}
	if (!any)
		return 0;
	sb_puts(sb, " (");
	sb_bytes(sb, ev->data_len);
	sb_putc(sb, ')');
	return 1;
}

void
eventlog_describe(const struct eventlog_event *ev, char *buf, size_t n)
{
	struct sbuf sb = { buf, n, 0 };
	const uint8_t *p = ev->data;
	size_t len = ev->data_len;

	if (n == 0)
		return;
	buf[0] = '\0';
	switch (ev->type) {
	case EV_NO_ACTION:
		if (len == 17 && memcmp(p, STARTUP_LOCALITY_SIG, 16) == 0) {
			char tmp[32];
			snprintf(tmp, sizeof(tmp), "StartupLocality %u", p[16]);
			sb_puts(&sb, tmp);
			return;
		}
		/* Signature-tagged (Spec ID, SP800-155, NvIndexInstance). */
		if (len >= 16 && is_text(p, 16)) {
			sb_ascii(&sb, p, 16);
			return;
		}
		break;
	case EV_SEPARATOR:
		if (len == 4) {
			char tmp[16];
			snprintf(tmp, sizeof(tmp), "0x%08x", (unsigned)(p[0] |
			    p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24));
			sb_puts(&sb, tmp);
			return;
		}
		break;
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_VARIABLE_BOOT:
	case EV_EFI_VARIABLE_BOOT2:
	case EV_EFI_VARIABLE_AUTHORITY:
		if (describe_variable(&sb, ev))
			return;
		break;
	case EV_EFI_BOOT_SERVICES_APPLICATION:
	case EV_EFI_BOOT_SERVICES_DRIVER:
	case EV_EFI_RUNTIME_SERVICES_DRIVER:
		if (describe_image(&sb, ev))
			return;
		break;
	case EV_EVENT_TAG:
		/*
		 * TCG_PCClientTaggedEvent: u32 taggedEventID |
		 * u32 taggedEventDataSize | data (Linux's EFI stub tags its
		 * initrd and command-line measurements with text).
		 */
		if (len >= 8 && (size_t)(p[4] | p[5] << 8 | p[6] << 16 |
		    (uint32_t)p[7] << 24) == len - 8 && is_text(p + 8, len - 8)) {
			sb_ascii(&sb, p + 8, len - 8);
			return;
		}
		break;
	case EV_EFI_PLATFORM_FIRMWARE_BLOB2:
	case EV_EFI_HANDOFF_TABLES2:
		/* u8 BlobDescriptionSize | u8 BlobDescription[] | ... */
		if (len >= 1 && p[0] > 0 && (size_t)p[0] + 1 <= len &&
		    is_text(p + 1, p[0])) {
			sb_ascii(&sb, p + 1, p[0]);
			return;
		}
		break;
	default:
		break;
	}
	/* Free-form text: EV_ACTION, EV_EFI_ACTION, EV_IPL, versions. */
	if (is_text(p, len)) {
		sb_ascii(&sb, p, len);
		return;
	}
	if (is_utf16_text(p, len)) {
		sb_utf16(&sb, p, len / 2);
		return;
	}
	sb_bytes(&sb, len);
}
