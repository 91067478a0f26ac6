/*
 * libFuzzer target: common/wire.c decoder.  Header check, whole-frame
 * decode, every getter on every tag and occurrence, and two properties
 * that abort on violation:
 *  - a frame the decoder accepts re-encodes, field by field, to exactly
 *    the same bytes (the encoder accepts it and nothing was reinterpreted);
 *  - a rejection always names a reason, and the header check agrees with
 *    the full decode about frames it accepts.
 * Nothing here names a message type or tag (getters walk every tag up to
 * WIRE_F_COUNT_), so a new type is fuzzed once it has a seed.
 * Seeds: tests/fuzz/corpus/wire/ (one valid frame per message type,
 * mig_*.bin for the migration stream; mig_ready.bin is a bare header).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_wire: property violated: %s\n", what);
		abort();
	}
}

static void
exercise_getters(const struct wire_msg *m)
{
	static char big[(8u << 20) + 1];
	char small[8];
	uint16_t tag;

	for (tag = 0; tag <= WIRE_F_COUNT_; tag++) {
		size_t n = wire_count(m, tag), i, len;
		const uint8_t *p;
		uint64_t u64;
		uint32_t u32;
		uint8_t u8;

		(void)wire_get_u8(m, tag, &u8, NULL);
		(void)wire_get_u32(m, tag, &u32, NULL);
		(void)wire_get_u64(m, tag, &u64, NULL);
		for (i = 0; i <= n; i++) {
			int rb = wire_get_bytes_at(m, tag, i, &p, &len, NULL);
			int rs = wire_get_str_at(m, tag, i, big, sizeof(big),
			    NULL);

			check(i < n || rb < 0, "bytes getter past the count");
			if (rs == 0) {
				check(rb == 0 && strlen(big) == len &&
				    memcmp(big, p, len) == 0,
				    "string getter disagrees with bytes getter");
			}
			(void)wire_get_str_at(m, tag, i, small, sizeof(small),
			    NULL);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_msg *m = NULL;
	struct wire_enc *w = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	enum wire_reason why = WIRE_R_OK;
	struct wire_hdr h;
	const uint8_t *out, *v;
	size_t i, n, vlen;
	uint16_t tag;

	if (wire_decode(data, size, &m, &why, &e) < 0) {
		check(why != WIRE_R_OK && e.msg[0] != '\0',
		    "rejection without a reason");
		check(m == NULL, "output written on failure");
		return 0;
	}
	check(wire_decode_header(data, size, &h, NULL, NULL) == 0 &&
	    h.type == wire_msg_type(m) &&
	    (size_t)h.body_len + WIRE_HDR_LEN == size &&
	    size <= wire_frame_limit(h.type), "header disagrees with decode");
	exercise_getters(m);

	check(wire_enc_new(wire_msg_type(m), &w, NULL) == 0, "enc_new");
	for (i = 0; i < wire_msg_nfields(m); i++) {
		check(wire_msg_field(m, i, &tag, &v, &vlen) == 0, "field");
		if (wire_put_bytes(w, tag, v, vlen, &e) < 0) {
			fprintf(stderr, "%s\n", e.msg);
			check(0, "encoder refused a field the decoder accepted");
		}
	}
	check(wire_enc_finish(w, &out, &n, &e) == 0,
	    "encoder refused a frame the decoder accepted");
	check(n == size && memcmp(out, data, size) == 0,
	    "re-encoding changed the frame");
	wire_enc_free(w);
	wire_msg_free(m);
	return 0;
}
