/* Unit tests: attest/policy.c - loading, validation errors, lookups. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "attest/policy.h"
#include "common/util.h"

#define D1 "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define D2 "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

static const char good[] =
    "version = 1;\n"
    "name = \"lab\";\n"
    "attestation = { pcrs = \"sha256:0-7,23\"; runtime_pcr = 23; ak = \"rsa\";\n"
    "  ignore_pcrs = [ 1, 6 ]; };\n"
    "measure = { files = [ \"/boot/xen.gz\", \"/usr/sbin/xl\" ]; interval = 5; };\n"
    "reference = {\n"
    "  boot = ( { pcr = 0; digest = \"" D1 "\"; type = \"EV_POST_CODE\"; },\n"
    "           { pcr = 4; digest = \"" D2 "\"; desc = \"kernel\"; } );\n"
    "  runtime = ( { path = \"/boot/xen.gz\"; digest = \"" D1 "\"; },\n"
    "              { path = \"/boot/xen.gz\"; digest = \"" D2 "\"; } );\n"
    "  pcr_values = ( { pcr = 17; value = \"" D2 "\"; } );\n"
    "};\n";

static void
digest_of(const char *s, uint8_t *out)
{
	size_t n;

	assert_int_equal(hex_decode(strchr(s, ':') + 1, out, 64, &n, NULL), 0);
	assert_int_equal(n, 32);
}

static void
test_load_good(void **state)
{
	struct policy *p = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *const *files;
	const uint8_t *pin;
	uint8_t d1[32], d2[32];

	(void)state;
	assert_int_equal(policy_load_string("good", good, &p, &e), 0);
	assert_string_equal(policy_name(p), "lab");
	assert_int_equal(pcr_selection_mask(policy_pcrs(p), PCR_ALG_SHA256),
	    0xffu | (1u << 23));
	assert_int_equal(policy_runtime_pcr(p), 23);
	assert_int_equal(policy_ak_type(p), 1);
	assert_int_equal(policy_ignore_mask(p), (1u << 1) | (1u << 6));
	assert_int_equal(policy_files(p, &files), 2);
	assert_string_equal(files[1], "/usr/sbin/xl");
	assert_int_equal(policy_measure_interval(p), 5);

	digest_of(D1, d1);
	digest_of(D2, d2);
	assert_true(policy_boot_known(p, 0, PCR_ALG_SHA256, d1));
	assert_false(policy_boot_known(p, 1, PCR_ALG_SHA256, d1));
	assert_false(policy_boot_known(p, 0, PCR_ALG_SHA256, d2));
	assert_false(policy_boot_known(p, 0, PCR_ALG_SHA1, d1));
	assert_true(policy_boot_known(p, 4, PCR_ALG_SHA256, d2));
	assert_true(policy_has_boot_alg(p, PCR_ALG_SHA256));
	assert_false(policy_has_boot_alg(p, PCR_ALG_SHA1));

	assert_int_equal(policy_runtime_check(p, "/boot/xen.gz", PCR_ALG_SHA256, d1),
	    POLICY_RT_OK);
	assert_int_equal(policy_runtime_check(p, "/boot/xen.gz", PCR_ALG_SHA256, d2),
	    POLICY_RT_OK);
	d2[0] ^= 1;
	assert_int_equal(policy_runtime_check(p, "/boot/xen.gz", PCR_ALG_SHA256, d2),
	    POLICY_RT_MISMATCH);
	assert_int_equal(policy_runtime_check(p, "/bin/sh", PCR_ALG_SHA256, d1),
	    POLICY_RT_UNKNOWN_PATH);

	assert_int_equal(policy_pcr_value(p, PCR_ALG_SHA256, 17, &pin), 1);
	d2[0] ^= 1;
	assert_memory_equal(pin, d2, 32);
	assert_int_equal(policy_pcr_value(p, PCR_ALG_SHA256, 18, &pin), 0);
	policy_free(p);
	policy_free(NULL);
}

static void
test_defaults(void **state)
{
	struct policy *p = NULL;

	(void)state;
	assert_int_equal(policy_load_string("min", "version = 1;", &p, NULL), 0);
	assert_int_equal(policy_runtime_pcr(p), 23);
	assert_int_equal(pcr_selection_mask(policy_pcrs(p), PCR_ALG_SHA256),
	    0x3ffu | (1u << 23));
	assert_false(policy_boot_known(p, 0, PCR_ALG_SHA256,
	    (const uint8_t *)"0123456789abcdef0123456789abcdef"));
	assert_int_equal(policy_runtime_check(p, "/x", PCR_ALG_SHA256,
	    (const uint8_t *)"0123456789abcdef0123456789abcdef"),
	    POLICY_RT_UNKNOWN_PATH);
	policy_free(p);
}

/* Each bad policy must fail with a message containing line and field. */
static void
test_errors(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "version = 2;", ":1: version: 2 is out of range" },
		{ "name = \"x\";", "missing required key 'version'" },
		{ "version = 1;\nbogus = 1;", ":2: bogus: unknown key" },
		{ "version = 1;\nattestation = { pcrs = \"sha999:0\"; };",
		  "attestation.pcrs: unknown PCR bank 'sha999'" },
		{ "version = 1;\nattestation = { runtime_pcr = 24; };",
		  "attestation.runtime_pcr: 24 is out of range" },
		{ "version = 1;\nattestation = { ak = \"dsa\"; };",
		  "attestation.ak: expected \"ecc\" or \"rsa\"" },
		{ "version = 1;\nattestation = { ignore_pcrs = [ 30 ]; };",
		  "PCR 30 out of range" },
		{ "version = 1;\nmeasure = { files = [ \"relative\" ]; };",
		  "expected an absolute path" },
		{ "version = 1;\nreference = {\n boot = ( { pcr = 0; digest = \"sha256:00\"; } ); };",
		  ":3: reference.boot[0].digest: sha256 digest must be 32 bytes" },
		{ "version = 1;\nreference = {\n boot = ( { pcr = 0; digest = \"sha256:zz\"; } ); };",
		  "bad hex digit" },
		{ "version = 1;\nreference = {\n boot = ( { pcr = 0; } ); };",
		  "missing required key 'digest'" },
		{ "version = 1;\nreference = {\n runtime = ( { path = \"/x\"; digest = \"md5:00\"; color = 1; } ); };",
		  "color: unknown key" },
		{ "version = 1;\nreference = { pcr_values = ( { pcr = 17; value = \"" D1 "\"; },\n"
		  " { pcr = 17; value = \"" D2 "\"; } ); };", "already pinned" },
		{ "version = 1;\nreference = {", "syntax error" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct policy *p = NULL;
		struct vouch_err e = VOUCH_ERR_INIT;
		int r = policy_load_string("t", cases[i].text, &p, &e);
		if (r >= 0 || strstr(e.msg, cases[i].want) == NULL)
			fail_msg("case %zu: r=%d msg='%s' want '%s'", i, r, e.msg,
			    cases[i].want);
		assert_null(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
