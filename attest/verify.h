/*
 * verify.h - the verifier: a checklist, one distinct reason per step,
 * OpenSSL only (a verifier host needs no TPM).
 *
 *   signature    TPMT_SIGNATURE by the AK, scheme pinned by the key type
 *                (EC key: ECDSA-SHA256; RSA key: RSASSA-PKCS1v1.5-SHA256);
 *                never "try another scheme until one passes"
 *   attest       TPMS_ATTEST magic TPM_GENERATED_VALUE, type ATTEST_QUOTE,
 *                well-formed with nothing trailing
 *   nonce        extraData == the verifier's nonce (constant time)
 *   pcr-select   the quote's selection == the evidence's == the policy's
 *   pcr-digest   H(selected PCR values in TPM order) == quote pcrDigest
 *   eventlog     replay of the firmware log == the quoted PCRs it covers
 *   runtime-log  replay of the runtime (IMA) log == the quoted runtime PCR
 *   refvals      every appraised log entry / pinned PCR value is in the policy
 *   counters     (resetCount, restartCount, clock) newer than the last
 *                accepted quote of this AK (replay protection)
 *
 * Every check runs, so a FAIL lists every reason, not the first one.
 * A check with nothing to check against (no policy, no history) is
 * reported as skipped, never silently passed.
 */
#ifndef VOUCH_VERIFY_H
#define VOUCH_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "attest/evidence.h"
#include "attest/policy.h"

enum verify_check {
	VERIFY_SIGNATURE = 0,
	VERIFY_ATTEST,
	VERIFY_NONCE,
	VERIFY_PCR_SELECT,
	VERIFY_PCR_DIGEST,
	VERIFY_EVENTLOG,
	VERIFY_RUNTIME_LOG,
	VERIFY_REFVALS,
	VERIFY_COUNTERS,
	VERIFY_NCHECKS
};

/* "signature", "attest", "nonce", "pcr-select", ... */
const char *verify_check_name(enum verify_check c);

#define VERIFY_MAX_REASONS	64
#define VERIFY_REASON_MAX	320

struct verify_reason {
	enum verify_check	check;
	char			msg[VERIFY_REASON_MAX];
};

struct verify_counters {
	uint64_t	clock;
	uint32_t	reset_count;
	uint32_t	restart_count;
	uint8_t		safe;
	uint64_t	firmware_version;
};

struct verify_result {
	int			pass;		/* 1: every check run passed */
	uint32_t		ran;		/* bit per enum verify_check */
	uint32_t		skipped;	/* bit per check not run */
	char			skip_why[VERIFY_NCHECKS][96];
	size_t			nreasons;
	size_t			dropped;	/* reasons beyond the array */
	struct verify_reason	reasons[VERIFY_MAX_REASONS];
	struct verify_counters	counters;	/* from the quote (if parsed) */
	int			reboot;		/* resetCount rose since history */
};

/*
 * Replay protection: the last accepted counters per AK (keyed by the
 * SHA-256 of the AK's DER SubjectPublicKeyInfo), in a small text file.
 */
struct verify_history;

/* A missing file is an empty history (it is created by _save). */
int verify_history_load(const char *path, struct verify_history **out,
    struct vouch_err *e);
int verify_history_save(const struct verify_history *h, struct vouch_err *e);
void verify_history_free(struct verify_history *h);	/* NULL ok */

struct verify_input {
	const struct evidence	*ev;
	EVP_PKEY		*ak;		/* pinned AK public key */
	const uint8_t		*nonce;		/* expected extraData */
	size_t			 nonce_len;
	const struct policy	*policy;	/* NULL: refvals skipped */
	struct verify_history	*history;	/* NULL: counters skipped;
						   updated in memory on PASS */
	int			 no_cache;	/* 1: parse the runtime log
						   afresh, bypassing the
						   verifier's log cache */
};

/*
 * Run the checklist.  Returns 0 with *res filled (PASS or FAIL), or a
 * negative code if the inputs themselves are unusable (e.g. NULL ev).
 */
int verify_evidence(const struct verify_input *in, struct verify_result *res,
    struct vouch_err *e);

/* Load a PEM public key (SubjectPublicKeyInfo). */
int verify_load_pubkey(const char *path, EVP_PKEY **out, struct vouch_err *e);

#endif
