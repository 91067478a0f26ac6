/*
 * tpm.h - the host's TPM 2.0 through tpm2-tss ESAPI.
 *
 * One context per TCTI string: "swtpm:host=127.0.0.1,port=2321" in the
 * lab and tests, "device:/dev/tpmrm0" in production; same code path.
 * The string comes from the caller (--tcti), else $VOUCH_TCTI, else
 * "device:/dev/tpmrm0".
 *
 * Keys.  The endorsement key (EK) is a primary key re-created on demand
 * from the TCG default template (EK Credential Profile 2.0, low range:
 * RSA-2048 or ECC NIST P-256 matching the AK type), so nothing about it
 * is stored.  The attestation key (AK) is a restricted signing key
 * created *under the EK* (endorsement hierarchy, with a PolicySecret
 * session) so that quotes carry real resetCount/restartCount: under the
 * owner hierarchy they come out obfuscated.
 *
 * State directory (created by tpm_init_state, mode 0700):
 *	ak.pub		TPM2B_PUBLIC, marshalled
 *	ak.priv		TPM2B_PRIVATE, marshalled (wrapped by the EK)
 *	ak.pem		AK public key, SubjectPublicKeyInfo PEM
 *	ak.name		the AK's TPM name, hex
 *	ek.pem		EK public key, PEM
 *	ek-cert.der	EK certificate from TPM NV, if the TPM has one
 *
 * Handles.  libtpms holds only 3 loaded objects and 3 sessions; every
 * transient object and session is flushed on every path.  A loaded AK
 * (struct tpm_ak) holds one object slot until tpm_ak_close().
 */
#ifndef VOUCH_TPM_H
#define VOUCH_TPM_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "measure/pcr.h"
#include "attest/evidence.h"

#define TPM_DEFAULT_TCTI	"device:/dev/tpmrm0"

enum tpm_ak_type { TPM_AK_ECC_P256 = 0, TPM_AK_RSA_2048 = 1 };

struct tpm_ctx;
struct tpm_ak;

/* tcti may be NULL (see above).  Errors name the TCTI. */
int tpm_open(const char *tcti, struct tpm_ctx **out, struct vouch_err *e);
void tpm_close(struct tpm_ctx *t);	/* NULL ok; flushes what it holds */
/* The TCTI string actually used. */
const char *tpm_tcti(const struct tpm_ctx *t);

/*
 * Create the EK (transient) and a new AK under it; write the state
 * directory.  Refuses (VOUCH_E_EXISTS) to overwrite an existing ak.pub
 * unless force is set.
 */
int tpm_init_state(struct tpm_ctx *t, const char *statedir,
    enum tpm_ak_type type, int force, struct vouch_err *e);

/* Load the AK of statedir (re-creating the EK as its parent). */
int tpm_ak_open(struct tpm_ctx *t, const char *statedir, struct tpm_ak **out,
    struct vouch_err *e);
void tpm_ak_close(struct tpm_ak *ak);	/* NULL ok; flushes */
enum tpm_ak_type tpm_ak_type(const struct tpm_ak *ak);

/*
 * Quote sel with nonce (at most 64 bytes) and fill ev->attest, ev->sig,
 * ev->sel, ev->nonce and ev->pcrs.  The PCR values are read around the
 * quote and the read is retried (bounded) until their digest equals the
 * quote's pcrDigest, so a PCR extended concurrently cannot produce
 * inconsistent evidence.  Signature scheme: ECDSA-SHA256 or
 * RSASSA-SHA256 (pinned by the AK type).
 */
int tpm_quote(struct tpm_ak *ak, const uint8_t *nonce, size_t nonce_len,
    const struct pcr_selection *sel, struct evidence *ev, struct vouch_err *e);

/* Read the PCRs of sel (PCR_Read returns 8 per call; looped). */
int tpm_pcr_read(struct tpm_ctx *t, const struct pcr_selection *sel,
    struct pcr_set *out, struct vouch_err *e);

/*
 * The PCR banks the TPM has allocated (algorithms into algs, at most max).
 */
int tpm_pcr_banks(struct tpm_ctx *t, uint16_t *algs, size_t max, size_t *n,
    struct vouch_err *e);

/*
 * Extend pcr with n digests in one TPM2_PCR_Extend (one per allocated
 * bank; the caller computes them with pcr_hash).
 */
int tpm_pcr_extend(struct tpm_ctx *t, uint32_t pcr, const struct pcr_digest *d,
    size_t n, struct vouch_err *e);

/* Count loaded transient objects and sessions (for leak tests). */
int tpm_handle_counts(struct tpm_ctx *t, size_t *objects, size_t *sessions,
    struct vouch_err *e);

#endif
