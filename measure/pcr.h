/*
 * pcr.h - PCR banks in software: hash algorithms by TCG id, PCR
 * selections ("sha256:0-7,23+sha1:0"), sets of PCR values, and the
 * extend operation PCR := H(PCR || digest) used by every log replay.
 */
#ifndef VOUCH_PCR_H
#define VOUCH_PCR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define PCR_NUM		24	/* PCRs 0..23 (PC Client) */
#define PCR_DIGEST_MAX	64	/* SHA-512 */
#define PCR_BANKS_MAX	5	/* sha1 sha256 sha384 sha512 sm3_256 */

/* TCG algorithm ids (TPM_ALG_*), as they appear in logs and quotes. */
#define PCR_ALG_SHA1	0x0004
#define PCR_ALG_SHA256	0x000B
#define PCR_ALG_SHA384	0x000C
#define PCR_ALG_SHA512	0x000D
#define PCR_ALG_SM3_256	0x0012

struct pcr_alg {
	uint16_t	 id;
	const char	*name;	/* "sha256" (tpm2-tools spelling) */
	size_t		 size;	/* digest bytes */
};

/* NULL if unknown. */
const struct pcr_alg *pcr_alg_by_id(uint16_t id);
const struct pcr_alg *pcr_alg_by_name(const char *name);

/*
 * Hash len bytes with alg into out (pcr_alg_by_id(alg)->size bytes).
 * VOUCH_E_UNSUPPORTED for an unknown alg (or one OpenSSL lacks).
 */
int pcr_hash(uint16_t alg, const void *data, size_t len, uint8_t *out,
    struct vouch_err *e);
/* pcr := H(pcr || digest), both of the alg's size. */
int pcr_extend(uint16_t alg, uint8_t *pcr, const uint8_t *digest,
    struct vouch_err *e);

/* One digest tagged with its algorithm. */
struct pcr_digest {
	uint16_t	alg;
	uint8_t		d[PCR_DIGEST_MAX];	/* pcr_alg_by_id(alg)->size used */
};

/* Which PCRs of which banks: at most PCR_BANKS_MAX banks, each once. */
struct pcr_selection {
	size_t		nbanks;
	struct {
		uint16_t	alg;
		uint32_t	mask;	/* bit i = PCR i */
	} bank[PCR_BANKS_MAX];
};

/*
 * Parse "sha256:0-7,23" or "sha256:0,1+sha1:all" into *out.
 * Errors name the offending token.
 */
int pcr_selection_parse(const char *s, struct pcr_selection *out,
    struct vouch_err *e);
/* Canonical text ("sha256:0-7,23"); returns 0 or VOUCH_E_LIMIT. */
int pcr_selection_format(const struct pcr_selection *sel, char *buf,
    size_t n);
/* Mask for alg, 0 if the bank is not selected. */
uint32_t pcr_selection_mask(const struct pcr_selection *sel, uint16_t alg);

/* PCR values for several banks; set marks which PCRs hold a value. */
struct pcr_bank {
	uint16_t	alg;
	uint32_t	set;
	uint8_t		v[PCR_NUM][PCR_DIGEST_MAX];
};

struct pcr_set {
	size_t		nbanks;
	struct pcr_bank	bank[PCR_BANKS_MAX];
};

/* Bank for alg, or NULL; pcr_set_bank_add creates it (zeroed). */
struct pcr_bank *pcr_set_bank(struct pcr_set *s, uint16_t alg);
const struct pcr_bank *pcr_set_bank_const(const struct pcr_set *s,
    uint16_t alg);
struct pcr_bank *pcr_set_bank_add(struct pcr_set *s, uint16_t alg,
    struct vouch_err *e);

#endif
