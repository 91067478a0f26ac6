/*
 * rtlog.h - appending to the runtime measurement log (ima-ng ASCII,
 * imalog.h) in the crash-safe order, shared by `vouchctl measure` and
 * vouchd.  measure/ knows no TPM: the PCR extension is a callback
 * (attest/tpm.h's tpm_pcr_extend behind it in practice).
 *
 * Order per measurement: append + fsync the log line FIRST, then extend.
 *
 *	crash between the two	log		TPM
 *	log first (chosen)	one entry more	consistent prefix
 *	extend first		entry missing	holds an extension nobody
 *						can explain until reboot
 *
 * With log-first, every extension the TPM holds is explained by a line
 * already on disk; a crash (or a failed extend) can only leave the log
 * ahead of the TPM by trailing lines, which are found by replaying the
 * log against the PCR and cut (vouchd does so at start-up, agent.h:
 * the verifier demands an exact replay).  The reverse order would make
 * the host unattestable until reboot.
 *
 * Writers serialise on an exclusive flock of the log file held across
 * each append+extend pair (so the log order is the extend order even
 * with concurrent writers); a reader that must see the log and the PCR
 * agree (evidence: read the log, then quote) holds a shared flock across
 * both.
 */
#ifndef VOUCH_RTLOG_H
#define VOUCH_RTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "measure/pcr.h"

/* Extend pcr with n digests (one per bank) in one operation. */
typedef int (*rtlog_extend_fn)(void *arg, uint32_t pcr,
    const struct pcr_digest *d, size_t n, struct vouch_err *e);

/*
 * Open (creating it and its directory, mode 0644/0755) and flock the log:
 * exclusive (shared = 0) for writers, shared for readers.  *fd only on
 * success; close(*fd) releases the lock.
 */
int rtlog_lock(const char *log, int shared, int *fd, struct vouch_err *e);

/*
 * Record one measurement of path (its file_alg digest already computed)
 * for pcr: build the ima-ng entry, compute one extend digest per bank
 * (banks[0..nbanks), each bank's hash of the template data), then under
 * the exclusive lock append + fsync the line and call extend (NULL:
 * log only).  line (cap bytes, may be NULL) gets the log line.
 * If extend fails after the append, its error code is returned with a
 * message saying the log is now ahead of the TPM by this entry.
 */
int rtlog_measure(const char *log, uint32_t pcr, uint16_t file_alg,
    const uint8_t *digest, const char *path, const uint16_t *banks,
    size_t nbanks, rtlog_extend_fn extend, void *arg, char *line, size_t cap,
    struct vouch_err *e);

#endif
