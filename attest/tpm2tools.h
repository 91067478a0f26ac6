/*
 * tpm2tools.h - the quote files of tpm2-tools 5.x, for interop both ways:
 * what `tpm2_quote -m PREFIX.msg -s PREFIX.sig -o PREFIX.pcrs -g sha256`
 * writes and `tpm2_checkquote -m -s -f` reads.
 *
 *	PREFIX.msg	TPMS_ATTEST, marshalled (the TPM2B_ATTEST's buffer)
 *	PREFIX.sig	TPMT_SIGNATURE, marshalled ("tss" format)
 *	PREFIX.pcrs	tpm2-tools' serialised PCR file (selection + values),
 *			the layout tpm2_quote -o writes in tpm2-tools 5.4
 *
 * No TPM is needed: pure encoding/decoding with bounds checks.
 */
#ifndef VOUCH_TPM2TOOLS_H
#define VOUCH_TPM2TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "attest/evidence.h"

/* Write PREFIX.msg/.sig/.pcrs from ev (attest, sig, sel, pcrs). */
int tpm2tools_write(const char *prefix, const struct evidence *ev,
    struct vouch_err *e);
/*
 * Read PREFIX.msg/.sig/.pcrs into a new evidence (attest, sig, sel, pcrs;
 * no nonce, no logs): the three files, then tpm2tools_decode.  Errors
 * name the file and the byte offset.
 */
int tpm2tools_read(const char *prefix, struct evidence **out,
    struct vouch_err *e);
/*
 * The same from the three files' contents in memory (nothing is kept
 * pointing into them: *out owns copies).  Errors name ".msg", ".sig" or
 * ".pcrs" and the byte offset.  *out is written only on success.
 */
int tpm2tools_decode(const uint8_t *msg, size_t msglen, const uint8_t *sig,
    size_t siglen, const uint8_t *pcrs, size_t pcrslen, struct evidence **out,
    struct vouch_err *e);

#endif
