/*
 * libFuzzer target: measure/eventlog.c.  Parse, replay, and describe
 * every event of arbitrary bytes; ASan/UBSan catch what the bounds miss.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "measure/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eventlog *log = NULL;
	struct pcr_set set;
	uint16_t algs[PCR_BANKS_MAX];
	char desc[96];
	size_t i, n;

	if (eventlog_parse(data, size, &log, NULL) != 0)
		return 0;
	n = eventlog_banks(log, algs, PCR_BANKS_MAX);
	(void)n;
	(void)eventlog_locality(log);
	(void)eventlog_replay(log, &set, NULL);
	for (i = 0; i < eventlog_count(log); i++) {
		const struct eventlog_event *ev = eventlog_get(log, i);
		(void)eventlog_type_name(ev->type);
		eventlog_describe(ev, desc, sizeof(desc));
		/* The description contract: printable ASCII only. */
		for (n = 0; desc[n] != '\0'; n++)
			if (desc[n] < 0x20 || desc[n] > 0x7e)
				__builtin_trap();
		eventlog_describe(ev, desc, 3);
	}
	eventlog_free(log);
	return 0;
}
