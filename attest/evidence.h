/*
 * evidence.h - attestation evidence: a TPM2 quote plus the logs that
 * explain the quoted PCRs, and its one file format (JSON, documented in
 * docs/evidence.md, readable with jq):
 *
 * {
 *   "format": "vouch-evidence", "version": 1,
 *   "nonce": "<hex>",                         caller's nonce (extraData)
 *   "pcr_selection": "sha256:0-7,23",
 *   "quote": {
 *     "attest":    "<base64 TPMS_ATTEST, marshalled, as TPM2B_ATTEST.buffer>",
 *     "signature": "<base64 TPMT_SIGNATURE, marshalled>"
 *   },
 *   "pcrs": { "sha256": { "0": "<hex>", ..., "23": "<hex>" } },
 *   "event_log":   "<base64 binary_bios_measurements>",   optional
 *   "runtime_log": "<ima ascii log, as a JSON string>",   optional
 *   "host": "<name>", "created": "<RFC 3339 time>"       optional, informational
 * }
 *
 * Decoding is strict: unknown top-level keys, wrong types, bad hex or
 * base64, a PCR value of the wrong length, or anything over the limits
 * below is an error naming the field.  Nothing in here is trusted: the
 * verifier checks all of it.
 */
#ifndef VOUCH_EVIDENCE_H
#define VOUCH_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "measure/pcr.h"

#define EVIDENCE_MAX_FILE	(96u << 20)	/* JSON text */
#define EVIDENCE_MAX_ATTEST	1024		/* sizeof(TPMS_ATTEST) < 1024 */
#define EVIDENCE_MAX_SIG	1024
#define EVIDENCE_MAX_NONCE	64		/* TPM2B_DATA max */
#define EVIDENCE_MAX_HOST	255

struct evidence {
	uint8_t			 nonce[EVIDENCE_MAX_NONCE];
	size_t			 nonce_len;
	struct pcr_selection	 sel;
	uint8_t			*attest;	/* owned */
	size_t			 attest_len;
	uint8_t			*sig;		/* owned */
	size_t			 sig_len;
	struct pcr_set		 pcrs;		/* the quoted PCRs' values */
	uint8_t			*event_log;	/* owned, may be NULL */
	size_t			 event_log_len;
	char			*runtime_log;	/* owned, NUL-terminated, may be NULL */
	size_t			 runtime_log_len;
	char			 host[EVIDENCE_MAX_HOST + 1];	/* may be "" */
	char			 created[40];			/* may be "" */
};

struct evidence *evidence_new(void);
void evidence_free(struct evidence *ev);	/* NULL ok */

/* JSON text (malloc'd, NUL-terminated) into *json. */
int evidence_encode(const struct evidence *ev, char **json, size_t *len,
    struct vouch_err *e);
/* Parse JSON text; *out only on success. */
int evidence_decode(const char *json, size_t len, struct evidence **out,
    struct vouch_err *e);

/*
 * Attach the logs that explain the quote: the firmware event log file
 * (binary, at most EVENTLOG_MAX_SIZE) and the runtime log file (IMA
 * ASCII, at most IMALOG_MAX_SIZE, no NUL byte); either path may be NULL.
 * Replaces what ev held; nothing changes on failure.
 */
int evidence_attach_logs(struct evidence *ev, const char *eventlog,
    const char *runtime_log, struct vouch_err *e);

/* Convenience: file_read + evidence_decode, errors prefixed by path. */
int evidence_load(const char *path, struct evidence **out, struct vouch_err *e);
int evidence_save(const char *path, const struct evidence *ev,
    struct vouch_err *e);

#endif
