/*
 * libFuzzer target: measure/imalog.c.  Parse arbitrary text, replay it
 * into two banks, and rebuild/format every entry; a formatted entry must
 * parse back to the same template hash.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "measure/imalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t td[16384];
	static char line[16384];
	struct ima_log *log = NULL, *back = NULL;
	struct pcr_set set;
	size_t i, len;

	if (imalog_parse((const char *)data, size, &log, NULL) != 0)
		return 0;
	memset(&set, 0, sizeof(set));
	(void)imalog_replay(log, PCR_ALG_SHA256, &set, NULL);
	(void)imalog_replay(log, PCR_ALG_SHA1, &set, NULL);
	for (i = 0; i < imalog_count(log); i++) {
		const struct ima_entry *ent = imalog_get(log, i);

		(void)ima_entry_is_violation(ent);
		(void)ima_entry_template_data(ent, td, sizeof(td), &len, NULL);
		if (ima_entry_format(ent, line, sizeof(line), NULL) != 0)
			continue;
		if (imalog_parse(line, strlen(line), &back, NULL) != 0 ||
		    imalog_count(back) != 1 ||
		    memcmp(imalog_get(back, 0)->template_sha1,
		    ent->template_sha1, 20) != 0)
			__builtin_trap();
		imalog_free(back);
		back = NULL;
	}
	imalog_free(log);
	return 0;
}
