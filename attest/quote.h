/*
 * quote.h - the one parser of the TPM structures in a quote: TPMS_ATTEST
 * (of type TPM_ST_ATTEST_QUOTE, with its TPML_PCR_SELECTION) and
 * TPMT_SIGNATURE.  The verifier and the tpm2-tools file reader both read
 * through here; nothing else in vouch looks at these bytes.
 *
 * Both are TPM wire structures: big endian, no padding, every TPM2B is
 * u16 size | size bytes.  Every length is checked against the QUOTE_MAX_*
 * limits below before it is used, and nothing may trail.
 *
 * TPMS_ATTEST (TPM2B_ATTEST.attestationData, what the AK signs):
 *
 *	off  size
 *	  0  4     magic            TPM_GENERATED_VALUE 0xff544347
 *	  4  2     type             TPM_ST_ATTEST_QUOTE 0x8018
 *	  6  2+n   qualifiedSigner  TPM2B_NAME          n <= QUOTE_MAX_NAME
 *	     2+m   extraData        TPM2B_DATA          m <= QUOTE_MAX_EXTRA
 *	     8     clockInfo.clock          \
 *	     4     clockInfo.resetCount      | TPMS_CLOCK_INFO
 *	     4     clockInfo.restartCount    |
 *	     1     clockInfo.safe           /  TPMI_YES_NO: 0 or 1
 *	     8     firmwareVersion
 *	           attested.quote (TPMS_QUOTE_INFO):
 *	     4+    pcrSelect        TPML_PCR_SELECTION  (below)
 *	     2+d   pcrDigest        TPM2B_DIGEST        d <= QUOTE_MAX_DIGEST
 *
 * TPML_PCR_SELECTION:
 *
 *	u32 count                                  count <= QUOTE_MAX_BANKS
 *	count x TPMS_PCR_SELECTION:
 *	  u16 hash | u8 sizeofSelect | u8 pcrSelect[sizeofSelect]
 *	                                     sizeofSelect <= QUOTE_MAX_SELECT
 *	  bit i of pcrSelect[i / 8] selects PCR i; the hash must be a bank
 *	  vouch knows (pcr.h), listed once, selecting only PCRs 0..23.
 *
 * TPMT_SIGNATURE:
 *
 *	u16 sigAlg | u16 hash | TPMU_SIGNATURE by sigAlg:
 *	  RSASSA 0x0014, RSAPSS 0x0016:  TPM2B sig        1..QUOTE_MAX_RSA_SIG
 *	  ECDSA  0x0018:                 TPM2B r, TPM2B s 1..QUOTE_MAX_ECC_PARAM
 *	The hash must be one pcr.h knows.  Other schemes (HMAC, ECDAA, SM2,
 *	ECSCHNORR, NULL) are not recognised: VOUCH_E_UNSUPPORTED.
 *
 * Recognising a scheme is not accepting it: which scheme and hash a
 * signature must use is the verifier's decision (verify.h pins it by the
 * AK's type); this module only says what the bytes are.
 *
 * Nothing is copied: the parsed structures point into the caller's
 * buffer, which must outlive them.  Errors are VOUCH_E_TRUNCATED,
 * VOUCH_E_LIMIT, VOUCH_E_FORMAT or VOUCH_E_UNSUPPORTED, with a reason
 * naming the field and its byte offset ("extraData at byte 42: ...").
 */
#ifndef VOUCH_QUOTE_H
#define VOUCH_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* TPM constants (TPM 2.0 Part 2), named here to keep tss2 out. */
#define QUOTE_GENERATED_VALUE	0xff544347u	/* TPM_GENERATED_VALUE */
#define QUOTE_ST_ATTEST_QUOTE	0x8018		/* TPM_ST_ATTEST_QUOTE */
#define QUOTE_ALG_HMAC		0x0005
#define QUOTE_ALG_NULL		0x0010
#define QUOTE_ALG_RSASSA	0x0014
#define QUOTE_ALG_RSAPSS	0x0016
#define QUOTE_ALG_ECDSA		0x0018
#define QUOTE_ALG_ECDAA		0x001a
#define QUOTE_ALG_SM2		0x001b
#define QUOTE_ALG_ECSCHNORR	0x001c

/* Every length the parsers accept, in one place. */
#define QUOTE_MAX_NAME		66	/* TPMT_HA: u16 alg + SHA-512 */
#define QUOTE_MAX_EXTRA		66	/* TPM2B_DATA: sizeof(TPMT_HA) */
#define QUOTE_MAX_BANKS		16	/* TPM2_NUM_PCR_BANKS */
#define QUOTE_MAX_SELECT	4	/* TPM2_PCR_SELECT_MAX (32 PCRs) */
#define QUOTE_MAX_DIGEST	64	/* TPM2B_DIGEST: SHA-512 */
#define QUOTE_MAX_ECC_PARAM	66	/* P-521 coordinate */
#define QUOTE_MAX_RSA_SIG	512	/* RSA-4096 */
#define QUOTE_MAX_ATTEST	1024	/* whole TPMS_ATTEST, well over the
					   largest the limits above allow */
#define QUOTE_MAX_SIG		1024	/* whole TPMT_SIGNATURE */

/* One TPMS_PCR_SELECTION, in quote order (empty banks kept). */
struct quote_bank {
	uint16_t	alg;		/* a pcr.h bank */
	uint32_t	mask;		/* bit i = PCR i, i < 24 */
};

/* A parsed quote TPMS_ATTEST; pointers into the parsed buffer. */
struct quote_attest {
	const uint8_t		*signer;	/* qualifiedSigner */
	uint16_t		 signer_len;
	const uint8_t		*extra;		/* extraData */
	uint16_t		 extra_len;
	uint64_t		 clock;
	uint32_t		 reset_count;
	uint32_t		 restart_count;
	uint8_t			 safe;		/* 0 or 1 */
	uint64_t		 firmware_version;
	size_t			 nbanks;
	struct quote_bank	 bank[QUOTE_MAX_BANKS];
	const uint8_t		*digest;	/* pcrDigest */
	uint16_t		 digest_len;
};

/*
 * Parse buf[0..len) as exactly one quote TPMS_ATTEST.  *q is written in
 * any case (partly on failure); it is meaningful only on success.
 */
int quote_attest_parse(const uint8_t *buf, size_t len, struct quote_attest *q,
    struct vouch_err *e);

/* A parsed TPMT_SIGNATURE; pointers into the parsed buffer. */
struct quote_sig {
	unsigned	 have;		/* QUOTE_HAVE_*: fields read so far */
	uint16_t	 alg;		/* QUOTE_ALG_RSASSA/RSAPSS/ECDSA */
	uint16_t	 hash;		/* a pcr.h algorithm */
	const uint8_t	*r;		/* ECDSA: r; RSA: the signature */
	uint16_t	 r_len;
	const uint8_t	*s;		/* ECDSA: s; RSA: NULL */
	uint16_t	 s_len;
};

#define QUOTE_HAVE_ALG	0x1u	/* sig->alg was read (maybe unrecognised) */
#define QUOTE_HAVE_HASH	0x2u	/* sig->hash was read (maybe unknown) */

/*
 * Parse buf[0..len) as exactly one TPMT_SIGNATURE.  On failure sig->have
 * still tells which of alg and hash were read, so a caller can refuse an
 * unrecognised scheme by name (VOUCH_E_UNSUPPORTED: sigAlg not RSASSA,
 * RSAPSS or ECDSA, or a hash pcr.h does not know).
 */
int quote_sig_parse(const uint8_t *buf, size_t len, struct quote_sig *sig,
    struct vouch_err *e);

/* "RSASSA", "ECDSA", "HMAC", ... or "unknown"; never NULL. */
const char *quote_sig_alg_name(uint16_t alg);

#endif
