/* Unit tests: measure/pcr.c and common/ codecs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/rbuf.h"
#include "common/util.h"
#include "measure/pcr.h"

static void
test_selection_roundtrip(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "sha256:0-7,23", "sha256:0-7,23" },
		{ "sha256:0,1,2,3", "sha256:0-3" },
		{ "sha256:23,0", "sha256:0,23" },
		{ "sha1:0,1+sha256:4-6", "sha1:0,1+sha256:4-6" },
		{ "sha384:all", "sha384:0-23" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pcr_selection sel;
		char buf[128];
		assert_int_equal(pcr_selection_parse(cases[i].in, &sel, NULL), 0);
		assert_int_equal(pcr_selection_format(&sel, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].out);
	}
}

static void
test_selection_errors(void **state)
{
	static const char *const bad[] = { "", "sha256", "sha256:", "md5:0",
	    "sha256:24", "sha256:5-3", "sha256:0+sha256:1", "sha256:1x",
	    "sha256:-1", "sha1:0+sha256:0+sha384:0+sha512:0+sm3_256:0+sha1:1" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pcr_selection sel;
		struct vouch_err e = VOUCH_ERR_INIT;
		if (pcr_selection_parse(bad[i], &sel, &e) >= 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(e.msg[0] != '\0');
	}
}

/* Known answer: SHA-256 extend of zero PCR with SHA-256("abc"). */
static void
test_extend_known_answer(void **state)
{
	uint8_t pcr[32] = { 0 }, d[32], want[32];
	size_t n;

	(void)state;
	assert_int_equal(pcr_hash(PCR_ALG_SHA256, "abc", 3, d, NULL), 0);
	assert_int_equal(hex_decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    want, sizeof(want), &n, NULL), 0);
	assert_memory_equal(d, want, 32);
	assert_int_equal(pcr_extend(PCR_ALG_SHA256, pcr, d, NULL), 0);
	/* python3 -c "import hashlib;print(hashlib.sha256(bytes(32)+hashlib.sha256(b'abc').digest()).hexdigest())" */
	assert_int_equal(hex_decode("589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d",
	    want, sizeof(want), &n, NULL), 0);
	assert_memory_equal(pcr, want, 32);
	assert_int_equal(pcr_extend(0x0042, pcr, d, NULL), VOUCH_E_UNSUPPORTED);
}

/* Every bank's hash against hashlib's answer for "abc". */
static void
test_hash_known_answers(void **state)
{
	static const struct { uint16_t alg; const char *hex; } kats[] = {
		{ PCR_ALG_SHA1, "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ PCR_ALG_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ PCR_ALG_SHA384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7" },
		{ PCR_ALG_SHA512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
	};
	uint8_t d[64], want[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
		assert_int_equal(pcr_hash(kats[i].alg, "abc", 3, d, NULL), 0);
		assert_int_equal(hex_decode(kats[i].hex, want, sizeof(want), &n, NULL), 0);
		assert_int_equal(n, pcr_alg_by_id(kats[i].alg)->size);
		assert_memory_equal(d, want, n);
	}
}

static void
test_set_banks(void **state)
{
	struct pcr_set s;
	uint16_t algs[] = { PCR_ALG_SHA1, PCR_ALG_SHA256, PCR_ALG_SHA384,
	    PCR_ALG_SHA512, PCR_ALG_SM3_256 };
	size_t i;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (i = 0; i < 5; i++)
		assert_non_null(pcr_set_bank_add(&s, algs[i], NULL));
	assert_non_null(pcr_set_bank_add(&s, PCR_ALG_SHA1, NULL));	/* existing */
	assert_int_equal(s.nbanks, 5);
	assert_null(pcr_set_bank_add(&s, 0x0099, NULL));
	assert_non_null(pcr_set_bank_const(&s, PCR_ALG_SHA384));
}

static void
test_hex_b64(void **state)
{
	uint8_t buf[8], *out;
	char txt[32];
	size_t n, i;

	(void)state;
	assert_int_equal(hex_decode("00fFa5", buf, sizeof(buf), &n, NULL), 0);
	assert_int_equal(n, 3);
	hex_encode(buf, n, txt);
	assert_string_equal(txt, "00ffa5");
	assert_int_equal(hex_decode("abc", buf, sizeof(buf), &n, NULL), VOUCH_E_FORMAT);
	assert_int_equal(hex_decode("zz", buf, sizeof(buf), &n, NULL), VOUCH_E_FORMAT);
	assert_int_equal(hex_decode("001122334455667788", buf, sizeof(buf), &n, NULL),
	    VOUCH_E_LIMIT);
	/* RFC 4648 test vectors */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (i = 0; i < 7; i++) {
		b64_encode((const uint8_t *)plain[i], strlen(plain[i]), txt);
		assert_string_equal(txt, enc[i]);
		assert_int_equal(b64_decode(enc[i], strlen(enc[i]), 16, &out, &n, NULL), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(out, plain[i], n);
		free(out);
	}
	assert_int_equal(b64_decode("Zg=", 3, 16, &out, &n, NULL), VOUCH_E_FORMAT);
	assert_int_equal(b64_decode("Z!==", 4, 16, &out, &n, NULL), VOUCH_E_FORMAT);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, 5, &out, &n, NULL), VOUCH_E_LIMIT);
	assert_int_equal(b64_decode("Z=g=", 4, 16, &out, &n, NULL), VOUCH_E_FORMAT);
}

static void
test_rbuf_bounds(void **state)
{
	static const uint8_t data[] = { 1, 2, 3, 4, 5 };
	struct rbuf b;
	uint32_t v32;
	uint16_t v16;
	uint64_t v64;

	(void)state;
	rbuf_init(&b, data, sizeof(data));
	assert_int_equal(rbuf_get_u32le(&b, &v32), 0);
	assert_int_equal(v32, 0x04030201);
	assert_int_equal(rbuf_get_u16be(&b, &v16), -1);		/* 1 left */
	assert_int_equal(b.off, 4);				/* unchanged */
	assert_int_equal(rbuf_get_u64be(&b, &v64), -1);
	assert_int_equal(rbuf_skip(&b, 2), -1);
	assert_int_equal(rbuf_skip(&b, 1), 0);
	assert_int_equal(rbuf_left(&b), 0);
	rbuf_init(&b, data, sizeof(data));
	assert_int_equal(rbuf_get_u32be(&b, &v32), 0);
	assert_int_equal(v32, 0x01020304);
	assert_int_equal(rbuf_skip(&b, SIZE_MAX), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selection_roundtrip),
		cmocka_unit_test(test_selection_errors),
		cmocka_unit_test(test_extend_known_answer),
		cmocka_unit_test(test_hash_known_answers),
		cmocka_unit_test(test_set_banks),
		cmocka_unit_test(test_hex_b64),
		cmocka_unit_test(test_rbuf_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
