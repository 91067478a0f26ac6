/*
 * eventlog.h - the TCG PC Client firmware event log, crypto-agile binary
 * format (what Linux exposes as binary_bios_measurements), parsed with
 * explicit bounds and replayed into PCR values per bank.
 *
 * Layout (little endian; TCG PC Client Platform Firmware Profile 2.0):
 *
 *   first event, TCG_PCClientPCREvent (SHA-1 log format):
 *	u32 pcr | u32 type (EV_NO_ACTION) | u8 digest[20] (zero) |
 *	u32 size | TCG_EfiSpecIdEvent "Spec ID Event03\0" ...
 *		u32 platformClass | u8 verMinor | u8 verMajor | u8 errata |
 *		u8 uintnSize | u32 numberOfAlgorithms |
 *		{ u16 algId | u16 digestSize } [n] | u8 vendorInfoSize | ...
 *   every following event, TCG_PCR_EVENT2:
 *	u32 pcr | u32 type | u32 count | { u16 alg | u8 digest[size] } [count] |
 *	u32 size | u8 event[size]
 *
 * Digest sizes come only from the Spec ID event; an alg not listed there
 * makes the log malformed (we cannot know how far to skip).
 * A "StartupLocality\0" EV_NO_ACTION event sets PCR 0's initial value to
 * the locality (0...0L) instead of zero.  EV_NO_ACTION events are never
 * extended.  Limits: see EVENTLOG_MAX_*.
 */
#ifndef VOUCH_EVENTLOG_H
#define VOUCH_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "measure/pcr.h"

#define EVENTLOG_MAX_SIZE	(8u << 20)	/* whole log */
#define EVENTLOG_MAX_EVENTS	65536
#define EVENTLOG_MAX_EVENT_DATA	(1u << 20)	/* one event's data */

/* Event types we name (others print as hex). */
#define EV_PREBOOT_CERT			0x00000000
#define EV_POST_CODE			0x00000001
#define EV_NO_ACTION			0x00000003
#define EV_SEPARATOR			0x00000004
#define EV_ACTION			0x00000005
#define EV_EVENT_TAG			0x00000006
#define EV_S_CRTM_CONTENTS		0x00000007
#define EV_S_CRTM_VERSION		0x00000008
#define EV_CPU_MICROCODE		0x00000009
#define EV_PLATFORM_CONFIG_FLAGS	0x0000000A
#define EV_TABLE_OF_DEVICES		0x0000000B
#define EV_COMPACT_HASH			0x0000000C
#define EV_IPL				0x0000000D
#define EV_IPL_PARTITION_DATA		0x0000000E
#define EV_NONHOST_CODE			0x0000000F
#define EV_NONHOST_CONFIG		0x00000010
#define EV_NONHOST_INFO			0x00000011
#define EV_OMIT_BOOT_DEVICE_EVENTS	0x00000012
#define EV_EFI_EVENT_BASE		0x80000000
#define EV_EFI_VARIABLE_DRIVER_CONFIG	0x80000001
#define EV_EFI_VARIABLE_BOOT		0x80000002
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003
#define EV_EFI_BOOT_SERVICES_DRIVER	0x80000004
#define EV_EFI_RUNTIME_SERVICES_DRIVER	0x80000005
#define EV_EFI_GPT_EVENT		0x80000006
#define EV_EFI_ACTION			0x80000007
#define EV_EFI_PLATFORM_FIRMWARE_BLOB	0x80000008
#define EV_EFI_HANDOFF_TABLES		0x80000009
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2	0x8000000A
#define EV_EFI_HANDOFF_TABLES2		0x8000000B
#define EV_EFI_VARIABLE_BOOT2		0x8000000C
#define EV_EFI_HCRTM_EVENT		0x80000010
#define EV_EFI_VARIABLE_AUTHORITY	0x800000E0
#define EV_EFI_SPDM_FIRMWARE_BLOB	0x800000E1
#define EV_EFI_SPDM_FIRMWARE_CONFIG	0x800000E2

struct eventlog_event {
	size_t			 index;		/* 0 = the Spec ID header event */
	size_t			 offset;	/* byte offset in the log */
	uint32_t		 pcr;
	uint32_t		 type;
	size_t			 ndigests;
	struct pcr_digest	 digests[PCR_BANKS_MAX];
	const uint8_t		*data;		/* points into the log buffer */
	uint32_t		 data_len;
};

struct eventlog;	/* opaque */

/*
 * Parse len bytes at buf.  The log keeps pointers into buf: buf must
 * outlive *out.  On error, *e names the event index and byte offset.
 * Errors: VOUCH_E_FORMAT, VOUCH_E_TRUNCATED, VOUCH_E_LIMIT, VOUCH_E_NOMEM.
 */
int eventlog_parse(const uint8_t *buf, size_t len, struct eventlog **out,
    struct vouch_err *e);
void eventlog_free(struct eventlog *log);	/* NULL ok */

/* Events including the header event at index 0. */
size_t eventlog_count(const struct eventlog *log);
const struct eventlog_event *eventlog_get(const struct eventlog *log, size_t i);
/* Banks declared in the Spec ID event. */
size_t eventlog_banks(const struct eventlog *log, uint16_t *algs, size_t max);
/* Startup locality (0 if no StartupLocality event). */
uint8_t eventlog_locality(const struct eventlog *log);

/*
 * Replay every event into *out (cleared first): one bank per algorithm
 * of the Spec ID event; bank.set marks PCRs that some event extended
 * (PCR 0 is marked whenever a StartupLocality event is present).
 * An event lacking a digest for a declared bank is an error.
 */
int eventlog_replay(const struct eventlog *log, struct pcr_set *out,
    struct vouch_err *e);

/* "EV_SEPARATOR", or NULL for an unknown type. */
const char *eventlog_type_name(uint32_t type);
/*
 * One-line, printable description of an event's data (for show and for
 * reference-value names): e.g. the EFI variable name, the device path
 * text if cheaply derivable, the ASCII of EV_ACTION, or "N bytes".
 * Never prints raw non-printable bytes.
 */
void eventlog_describe(const struct eventlog_event *ev, char *buf, size_t n);

#endif
