/*
 * enrol.h - binding a host's attestation key to its TPM (credential
 * activation), the registrar's half and the host's half.
 *
 *   host (vouchd)                               registrar (vouch-tcbd)
 *   enrol_request_load(statedir)  -- EK pub, EK cert, AK pub, AK name -->
 *                                              enrol_challenge_make():
 *                                                check EK cert (EK CA),
 *                                                check AK attributes + name,
 *                                                TPM2_MakeCredential in
 *                                                software (OpenSSL)
 *                      <-- credential blob, encrypted secret --
 *   tpm_activate_credential() (in the TPM:
 *   only the TPM holding both EK and AK can)
 *                      -- secret -->           enrol_proof_check()
 *
 * MakeCredential (TPM 2.0 Part 1, "Credential Protection"): a random seed
 * is encrypted to the EK (RSA-OAEP-SHA256 with label "IDENTITY\0" for an
 * RSA EK; ECDH on the EK's curve + KDFe for an ECC EK); from the seed,
 * KDFa derives an AES-128-CFB key (bound to the AK's name) that encrypts
 * the secret and an HMAC key for the integrity of the blob.
 */
#ifndef VOUCH_ENROL_H
#define VOUCH_ENROL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "attest/tpm.h"

#define ENROL_SECRET_LEN	32
#define ENROL_MAX_BLOB		1024
#define ENROL_MAX_DER		8192

/* What a host sends: read from its state directory (tpm.h layout). */
struct enrol_request {
	uint8_t		*ek_pub_der;	/* SubjectPublicKeyInfo DER */
	size_t		 ek_pub_len;
	uint8_t		*ek_cert_der;	/* may be NULL */
	size_t		 ek_cert_len;
	uint8_t		*ak_pub;	/* marshalled TPM2B_PUBLIC */
	size_t		 ak_pub_len;
	uint8_t		*ak_name;	/* nameAlg (u16be) + digest */
	size_t		 ak_name_len;
};

/* Read ek.pem, ek-cert.der (if present), ak.pub, ak.name of statedir. */
int enrol_request_load(const char *statedir, struct enrol_request *out,
    struct vouch_err *e);
void enrol_request_clear(struct enrol_request *r);	/* frees members */

/* The registrar's challenge and what it expects back. */
struct enrol_challenge {
	uint8_t		credential[ENROL_MAX_BLOB];	/* TPM2B_ID_OBJECT */
	size_t		credential_len;
	uint8_t		enc_secret[ENROL_MAX_BLOB];	/* TPM2B_ENCRYPTED_SECRET */
	size_t		enc_secret_len;
	uint8_t		secret[ENROL_SECRET_LEN];	/* keep private; wipe */
};

/*
 * Registrar: validate a request and make the credential.
 *  - ek_ca_path: PEM file of the EK CA(s).  Non-NULL: the request must
 *    carry an EK certificate that chains to it and certifies ek_pub.
 *    NULL: EK certificates are not checked (lab only; caller logs it).
 *  - The AK must be restricted + sign + fixedTPM + fixedParent +
 *    sensitiveDataOrigin + userWithAuth, ECC P-256 or RSA-2048, and
 *    ak_name must equal nameAlg || H(TPMT_PUBLIC of ak_pub).
 * Every refusal has its own reason in *e.
 */
int enrol_challenge_make(const struct enrol_request *req,
    const char *ek_ca_path, struct enrol_challenge *out, struct vouch_err *e);

/* Registrar: 1 if proof equals the challenge's secret (constant time). */
int enrol_proof_check(const struct enrol_challenge *c, const uint8_t *proof,
    size_t len);

/* The AK's public key as OpenSSL sees it (for verify), from ak_pub. */
int enrol_ak_pubkey(const uint8_t *ak_pub, size_t len, EVP_PKEY **out,
    struct vouch_err *e);

/*
 * Host: TPM2_ActivateCredential with the AK of statedir under the EK
 * (PolicySecret session for the EK).  secret gets at most
 * ENROL_SECRET_LEN bytes.  Flushes everything it loads.
 */
int tpm_activate_credential(struct tpm_ctx *t, const char *statedir,
    const uint8_t *credential, size_t credential_len,
    const uint8_t *enc_secret, size_t enc_secret_len,
    uint8_t *secret, size_t *secret_len, struct vouch_err *e);

#endif
