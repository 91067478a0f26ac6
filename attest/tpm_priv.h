/*
 * tpm_priv.h - helpers of tpm.c shared with enrol.c, not part of the
 * public TPM interface (tpm.h).  Both work on public areas only and need
 * no TPM: the registrar computes an AK's name and key from its ak.pub.
 */
#ifndef VOUCH_TPM_PRIV_H
#define VOUCH_TPM_PRIV_H

#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

/* SHA-256 name length: nameAlg (u16be) + digest. */
#define TPM_NAME_LEN	34

/*
 * OpenSSL public key of an RSA or ECC P-256 public area (exponent 0
 * means 65537).  *out is the caller's (EVP_PKEY_free).
 */
int tpm_pub_to_pkey(const TPMT_PUBLIC *p, EVP_PKEY **out,
    struct vouch_err *e);

/*
 * TPM name of p: nameAlg (u16be) || SHA-256(marshalled TPMT_PUBLIC).
 * p->nameAlg must be SHA-256 (the caller checks).
 */
int tpm_object_name(const TPMT_PUBLIC *p, uint8_t name[TPM_NAME_LEN],
    struct vouch_err *e);

#endif
