/*
 * imalog.h - the runtime measurement log in the IMA ASCII format
 * (ascii_runtime_measurements), templates "ima-ng" (and read-only
 * "ima" and "ima-sig"), so existing IMA tooling reads our logs and we
 * read the kernel's.
 *
 * One line per measurement:
 *	PCR SP TEMPLATE-SHA1 SP TEMPLATE-NAME SP FIELDS... LF
 *	10 91f3...  ima-ng sha256:8a2f...  /usr/bin/bash
 *
 * ima-ng template data (what TEMPLATE-SHA1 and each bank's extend hash):
 *	u32le len | "sha256:" NUL digest          (d-ng field)
 *	u32le len | path NUL                      (n-ng field)
 * A PCR bank with algorithm A is extended with A(template data), except
 * that an all-zero TEMPLATE-SHA1 (an IMA "violation") extends 0xff..ff.
 * "ima" template data: u8 sha1[20] | path padded with NULs to 256 bytes.
 * "ima-sig" adds a third field, u32le len | signature bytes (hex in
 * the ASCII log, may be empty).
 */
#ifndef VOUCH_IMALOG_H
#define VOUCH_IMALOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "measure/pcr.h"

#define IMALOG_MAX_SIZE		(64u << 20)
#define IMALOG_MAX_ENTRIES	(1u << 20)
#define IMALOG_MAX_PATH		4096
#define IMALOG_MAX_SIG		4096

struct ima_entry {
	uint32_t	 pcr;
	uint8_t		 template_sha1[20];
	char		 template_name[16];	/* "ima-ng", "ima", "ima-sig" */
	uint16_t	 file_alg;		/* PCR_ALG_*; SHA1 for "ima" */
	uint8_t		 file_digest[PCR_DIGEST_MAX];
	char		*path;			/* NUL-terminated */
	uint8_t		*sig;			/* ima-sig only */
	size_t		 sig_len;
	size_t		 line;			/* 1-based line in the log */
	const uint8_t	*td;			/* template data, or NULL */
	size_t		 td_len;
};

/*
 * Ownership: an entry from ima_entry_make owns path and sig (free with
 * ima_entry_clear) and has td NULL.  An entry from imalog_get belongs to
 * its log: path, sig and td point into the log's template data (path and
 * sig are fields of it) and live until imalog_free; never clear it.
 */

struct ima_log;		/* opaque */

/*
 * Parse an ASCII log.  Each line is checked: the PCR index, the hex,
 * the template name, and TEMPLATE-SHA1 == SHA1(template data) (unless
 * it is a violation entry).  Errors name the line.
 */
int imalog_parse(const char *text, size_t len, struct ima_log **out,
    struct vouch_err *e);

/*
 * imalog_parse with flags:
 *
 * IMALOG_SKIP_TEMPLATE_CHECK: do not check TEMPLATE-SHA1 against
 * SHA1(template data).  Every other check still runs.  For a verifier
 * that replays the log against a quote this loses nothing: the replay
 * (imalog_replay) hashes the template data rebuilt from the parsed fields,
 * never TEMPLATE-SHA1, so a misparsed or altered path or digest changes
 * the replayed PCR and fails against the quote; TEMPLATE-SHA1 then only
 * says whether an entry is a violation (all zero, extends 0xff..ff), and
 * that too is bound by the replay.  What is lost is the early, per-line
 * diagnosis ("line N: template hash does not match"), and the check of a
 * field nothing reads.  Tools that read a log without a quote to replay
 * it against (vouchctl policy refvals) keep the check.  The verifier
 * keeps it too when it replays the SHA-1 bank, the bank TEMPLATE-SHA1
 * belongs to.
 */
#define IMALOG_SKIP_TEMPLATE_CHECK	0x1u

int imalog_parse_ex(const char *text, size_t len, unsigned flags,
    struct ima_log **out, struct vouch_err *e);
void imalog_free(struct ima_log *log);	/* NULL ok */
size_t imalog_count(const struct ima_log *log);
const struct ima_entry *imalog_get(const struct ima_log *log, size_t i);
/* 1 for an all-zero template hash (IMA's measurement violation). */
int ima_entry_is_violation(const struct ima_entry *ent);

/*
 * Replay the log into bank alg of *set (the bank is added if missing and
 * its PCRs start at zero unless already .set): every entry extends its
 * PCR.  Marks the extended PCRs in bank.set.
 */
int imalog_replay(const struct ima_log *log, uint16_t alg, struct pcr_set *set,
    struct vouch_err *e);

/* Template data of an entry, into buf (cap bytes); *len gets its size. */
int ima_entry_template_data(const struct ima_entry *ent, uint8_t *buf,
    size_t cap, size_t *len, struct vouch_err *e);

/*
 * Build an ima-ng entry for pcr measuring a file whose digest (file_alg)
 * is given; fills template_sha1.  ent->path is strdup'd (free with
 * ima_entry_clear).
 */
int ima_entry_make(struct ima_entry *ent, uint32_t pcr, uint16_t file_alg,
    const uint8_t *file_digest, const char *path, struct vouch_err *e);
void ima_entry_clear(struct ima_entry *ent);
/*
 * The ASCII line for ent, with trailing LF, into buf.  Paths with spaces
 * or control bytes are refused (IMA's format cannot carry them).
 */
int ima_entry_format(const struct ima_entry *ent, char *buf, size_t n,
    struct vouch_err *e);

/*
 * Hash a file with alg (streaming, bounded memory), into digest.
 */
int measure_file(const char *path, uint16_t alg, uint8_t *digest,
    struct vouch_err *e);

#endif
