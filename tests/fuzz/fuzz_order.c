/*
 * libFuzzer target: migrate/order.c, the MIG_ORDER / MIG_REPORT JSON a
 * peer daemon sends.  Both decoders on every input, and a property that
 * aborts on violation: whatever a decoder accepts, the encoder accepts
 * and re-encodes to a document that decodes to the same struct.
 * Seeds: tests/fuzz/corpus/order/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/order.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_order: property violated: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_order o, o2;
	struct mig_report r, r2;
	char *json;

	if (order_decode((const char *)data, size, &o, NULL) == 0) {
		check(order_encode(&o, &json, NULL) == 0, "order re-encodes");
		check(order_decode(json, strlen(json), &o2, NULL) == 0,
		    "order re-decodes");
		check(o.id == o2.id && o.ndests == o2.ndests &&
		    o.mode == o2.mode && o.strategy == o2.strategy &&
		    strcmp(o.target, o2.target) == 0 &&
		    strcmp(o.guard, o2.guard) == 0 &&
		    strcmp(o.source, o2.source) == 0, "order round trip");
		for (size_t i = 0; i < o.ndests; i++)
			check(strcmp(o.dests[i], o2.dests[i]) == 0, "dests");
		free(json);
	}
	if (report_decode((const char *)data, size, &r, NULL) == 0) {
		check(report_encode(&r, &json, NULL) == 0, "report re-encodes");
		check(report_decode(json, strlen(json), &r2, NULL) == 0,
		    "report re-decodes");
		check(r.id == r2.id && r.phase == r2.phase &&
		    r.done == r2.done && r.final == r2.final &&
		    r.bytes == r2.bytes && r.total == r2.total &&
		    r.t_ms == r2.t_ms && r.ok == r2.ok &&
		    r.target_paused == r2.target_paused &&
		    r.tries == r2.tries && r.total_ms == r2.total_ms &&
		    r.target_downtime_ms == r2.target_downtime_ms &&
		    strcmp(r.host, r2.host) == 0 &&
		    strcmp(r.msg, r2.msg) == 0 &&
		    strcmp(r.error, r2.error) == 0, "report round trip");
		free(json);
	}
	return 0;
}
