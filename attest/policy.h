/*
 * policy.h - the attestation policy: which PCRs to quote, what to
 * measure at run time, and the reference values evidence is appraised
 * against.  A libconfig file, validated completely on load: unknown keys,
 * wrong types and bad digests are errors with file:line and the field.
 * The language is documented in docs/policy.md; templates in policies/.
 *
 *	version = 1;
 *	name = "xen-grub";
 *	attestation = {
 *	  pcrs = "sha256:0-9,23";	quoted selection
 *	  runtime_pcr = 23;		PCR of the runtime (ima-ng) log
 *	  ak = "ecc";			"ecc" (P-256) or "rsa" (2048)
 *	  ignore_pcrs = [ 1 ];		quoted, replayed, but events not appraised
 *	};
 *	measure = { files = [ "/boot/xen.gz", ... ]; interval = 30; };
 *	reference = {
 *	  boot = ( { pcr = 0; digest = "sha256:<hex>"; type = "EV_POST_CODE";
 *	             desc = "..."; }, ... );	type, desc: informational
 *	  pcr_values = ( { pcr = 17; value = "sha256:<hex>"; }, ... );
 *	  runtime = ( { path = "/boot/xen.gz"; digest = "sha256:<hex>"; }, ... );
 *	};
 *
 * Several reference entries may name the same PCR or path (any matches).
 * A PCR with a pcr_values entry is appraised by its value alone (e.g. the
 * D-RTM PCRs 17-19 of a TXT launch, whose log is not in the firmware log).
 */
#ifndef VOUCH_POLICY_H
#define VOUCH_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "measure/pcr.h"

#define POLICY_MAX_FILES	4096
#define POLICY_MAX_REFVALS	(1u << 20)

struct policy;

int policy_load(const char *path, struct policy **out, struct vouch_err *e);
int policy_load_string(const char *name, const char *text, struct policy **out,
    struct vouch_err *e);
void policy_free(struct policy *p);	/* NULL ok */

const char *policy_name(const struct policy *p);
const struct pcr_selection *policy_pcrs(const struct policy *p);
uint32_t policy_runtime_pcr(const struct policy *p);
/* "ecc" -> 0 (TPM_AK_ECC_P256), "rsa" -> 1 (TPM_AK_RSA_2048). */
int policy_ak_type(const struct policy *p);
uint32_t policy_ignore_mask(const struct policy *p);
/* Files to measure at run time; *files valid while p lives. */
size_t policy_files(const struct policy *p, const char *const **files);
/* Re-measure interval in seconds. */
unsigned policy_measure_interval(const struct policy *p);

/* 1 if (pcr, alg, digest) is a boot reference value; O(1). */
int policy_boot_known(const struct policy *p, uint32_t pcr, uint16_t alg,
    const uint8_t *digest);
/* 1 if the policy holds any boot reference value in bank alg. */
int policy_has_boot_alg(const struct policy *p, uint16_t alg);

/* If the policy pins a value for (alg, pcr): 1 and *value; else 0. */
int policy_pcr_value(const struct policy *p, uint16_t alg, uint32_t pcr,
    const uint8_t **value);

enum policy_rt {
	POLICY_RT_OK = 0,
	POLICY_RT_UNKNOWN_PATH,		/* path not in the reference values */
	POLICY_RT_MISMATCH,		/* path known, digest is not */
};
enum policy_rt policy_runtime_check(const struct policy *p, const char *path,
    uint16_t alg, const uint8_t *digest);

#endif
