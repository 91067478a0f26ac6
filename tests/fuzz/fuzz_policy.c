/*
 * libFuzzer target: the libconfig-based configuration surfaces an admin
 * (or an attacker with write access to a config path) controls: the
 * attestation policy and the region topology.  Every accepted policy is
 * also queried, so lookups over whatever the loader built are exercised.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/policy.h"
#include "common/region.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	struct region *r = NULL;
	const char *const *files;
	const uint8_t *v;
	uint8_t d[PCR_DIGEST_MAX] = { 0 };
	char *text;
	size_t i;

	if (size > 1 << 16 || (text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (policy_load_string("fuzz", text, &p, NULL) == 0) {
		(void)policy_boot_known(p, 0, PCR_ALG_SHA256, d);
		(void)policy_pcr_value(p, PCR_ALG_SHA256, 17, &v);
		for (i = 0; i < policy_files(p, &files); i++)
			(void)policy_runtime_check(p, files[i], PCR_ALG_SHA256, d);
		policy_free(p);
	}
	if (region_load_string("fuzz", text, &r, NULL) == 0) {
		for (i = 0; i < region_count(r); i++)
			(void)region_find(r, region_get(r, i)->name);
		region_free(r);
	}
	free(text);
	return 0;
}
