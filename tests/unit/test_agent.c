/*
 * Unit tests: attest/agent.c and attest/agent_conf.c, the parts without
 * a TPM or a network: the challenge nonce (against known answers
 * computed independently), the lab fault switch, reason cleaning, and
 * configuration validation with file:line errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "attest/agent.h"
#include "attest/agent_conf.h"

/*
 * Known answers, computed with python3 hashlib, independently of the C
 * code:
 *   import hashlib, struct
 *   hashlib.sha256(b'vouch-challenge-v1' + bytes(range(32)) +
 *       struct.pack('>Q', 0x0102030405060708) + b'host-a' + b'\x00' +
 *       b'host-b').hexdigest()
 *   hashlib.sha256(b'vouch-challenge-v1' + bytes(32) +
 *       struct.pack('>Q', 0) + b'h1' + b'\x00' + b'h2').hexdigest()
 */
#define KA1 "45c950dc529a47def2abc42f68d48887fe49015317a2c2bdd5efdcf3a58d29fe"
#define KA2 "3c36153bea4e4776440fdbc62e7ca7e44501b88fa3d50e4ebb88c3558872b9b8"

static void
test_nonce_known_answer(void **state)
{
	uint8_t rnd[32], n[32], n2[32];
	char hex[65];
	int i;

	(void)state;
	for (i = 0; i < 32; i++)
		rnd[i] = (uint8_t)i;
	assert_int_equal(agent_nonce(rnd, 0x0102030405060708ull, "host-a",
	    "host-b", n, NULL), 0);
	hex_encode(n, 32, hex);
	assert_string_equal(hex, KA1);
	memset(rnd, 0, sizeof(rnd));
	assert_int_equal(agent_nonce(rnd, 0, "h1", "h2", n, NULL), 0);
	hex_encode(n, 32, hex);
	assert_string_equal(hex, KA2);
	/* Direction matters: A challenging B is not B challenging A. */
	assert_int_equal(agent_nonce(rnd, 0, "h2", "h1", n2, NULL), 0);
	assert_memory_not_equal(n, n2, 32);
	/* The separator: ("h1","2x") must differ from ("h12","x"). */
	assert_int_equal(agent_nonce(rnd, 0, "h1", "2x", n, NULL), 0);
	assert_int_equal(agent_nonce(rnd, 0, "h12", "x", n2, NULL), 0);
	assert_memory_not_equal(n, n2, 32);
	/* Each input changes it. */
	assert_int_equal(agent_nonce(rnd, 1, "h1", "h2", n2, NULL), 0);
	hex_encode(n2, 32, hex);
	assert_string_not_equal(hex, KA2);
	rnd[31] = 1;
	assert_int_equal(agent_nonce(rnd, 0, "h1", "h2", n2, NULL), 0);
	hex_encode(n2, 32, hex);
	assert_string_not_equal(hex, KA2);
}

static void
test_nonce_bad_names(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	uint8_t rnd[32] = { 0 }, n[32];

	(void)state;
	assert_int_equal(agent_nonce(rnd, 0, "H1", "h2", n, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(agent_nonce(rnd, 0, "h1", "", n, &e), VOUCH_E_INVAL);
	assert_int_equal(agent_nonce(rnd, 0, NULL, "h2", n, &e),
	    VOUCH_E_INVAL);
}

static void
test_lie(void **state)
{
	(void)state;
	assert_int_equal(agent_apply_lie(AGENT_LIE_NONE, WIRE_RESULT_PASS),
	    WIRE_RESULT_PASS);
	assert_int_equal(agent_apply_lie(AGENT_LIE_NONE, WIRE_RESULT_FAIL),
	    WIRE_RESULT_FAIL);
	assert_int_equal(agent_apply_lie(AGENT_LIE_FAIL, WIRE_RESULT_PASS),
	    WIRE_RESULT_FAIL);
	assert_int_equal(agent_apply_lie(AGENT_LIE_PASS, WIRE_RESULT_FAIL),
	    WIRE_RESULT_PASS);
	/* ERROR carries no evidence: never turned into a judgement. */
	assert_int_equal(agent_apply_lie(AGENT_LIE_FAIL, WIRE_RESULT_ERROR),
	    WIRE_RESULT_ERROR);
	assert_int_equal(agent_apply_lie(AGENT_LIE_PASS, WIRE_RESULT_ERROR),
	    WIRE_RESULT_ERROR);
}

static void
test_reason_clean(void **state)
{
	char out[1100], big[2000];

	(void)state;
	agent_reason_clean("nonce: bad\x01\n\x7f\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "nonce: bad?????");
	agent_reason_clean("", out, sizeof(out));
	assert_string_equal(out, "?");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	agent_reason_clean(big, out, sizeof(out));
	assert_int_equal(strlen(out), 1024);
	agent_reason_clean("abcdef", out, 4);
	assert_string_equal(out, "abc");
}

/* ---- configuration -------------------------------------------------- */

static char dir[64];
static char region_path[128], labregion_path[128], policy_path[128];

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_agent.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(region_path, sizeof(region_path), "%s/region.cfg", dir);
	snprintf(labregion_path, sizeof(labregion_path), "%s/lab.cfg", dir);
	snprintf(policy_path, sizeof(policy_path), "%s/policy.cfg", dir);
	write_file(region_path,
	    "region = { name = \"prod-eu\";\n"
	    "  tcbd = { name = \"tcbd\"; addr = \"127.0.0.1\"; port = 7000; };\n"
	    "  hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 7001; },\n"
	    "            { name = \"h2\"; addr = \"127.0.0.2\"; port = 7002; } ); };\n");
	write_file(labregion_path,
	    "region = { name = \"lab1\";\n"
	    "  tcbd = { name = \"tcbd\"; addr = \"127.0.0.1\"; port = 7000; };\n"
	    "  hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 7001; } ); };\n");
	write_file(policy_path,
	    "version = 1; name = \"t\";\n"
	    "attestation = { pcrs = \"sha256:0-7,23\"; runtime_pcr = 23; ak = \"ecc\"; };\n"
	    "measure = { files = [ \"/etc/hostname\" ]; interval = 17; };\n"
	    "reference = { boot = ( ); runtime = ( ); };\n");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A config with the given region and extra lines, written to a file. */
static int
load(const char *region, const char *extra, struct agent_conf **c,
    struct vouch_err *e, char *path, size_t cap)
{
	char text[4096];

	snprintf(path, cap, "%s/vouchd.cfg", dir);
	snprintf(text, sizeof(text),
	    "host = \"h1\";\n"
	    "state_dir = \"%s/state\";\n"
	    "region = \"%s\";\n"
	    "policy = \"%s\";\n"
	    "tls = { cert = \"/x/h1.pem\"; key = \"/x/h1.key\"; ca = \"/x/ca.pem\"; };\n"
	    "%s", dir, region, policy_path, extra);
	write_file(path, text);
	return agent_conf_load(path, c, e);
}

static void
test_conf_good(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct agent_conf *c = NULL;
	char path[128], want[160];

	(void)state;
	assert_int_equal(load(region_path, "", &c, &e, path, sizeof(path)), 0);
	assert_string_equal(c->host, "h1");
	/* Defaults: listen from the region, runtime log in the state dir,
	 * interval from the policy, honest. */
	assert_string_equal(c->listen_addr, "127.0.0.1");
	assert_int_equal(c->listen_port, 7001);
	snprintf(want, sizeof(want), "%s/state/runtime_measurements", dir);
	assert_string_equal(c->runtime_log, want);
	assert_int_equal(c->interval, 17);
	assert_int_equal(c->lie, AGENT_LIE_NONE);
	assert_int_equal(c->lab, 0);
	assert_string_equal(c->tcti, "");
	agent_conf_free(c);
	c = NULL;

	assert_int_equal(load(region_path,
	    "listen = \"[::1]:9000\";\ninterval = 3;\n"
	    "tcti = \"swtpm:host=127.0.0.1,port=2321\";\n"
	    "eventlog = \"/sys/kernel/security/tpm0/binary_bios_measurements\";\n",
	    &c, &e, path, sizeof(path)), 0);
	assert_string_equal(c->listen_addr, "::1");
	assert_int_equal(c->listen_port, 9000);
	assert_int_equal(c->interval, 3);
	assert_string_equal(c->tcti, "swtpm:host=127.0.0.1,port=2321");
	agent_conf_free(c);
	c = NULL;

	/* The fault switch in a lab region with lab mode. */
	assert_int_equal(load(labregion_path,
	    "lab = { enabled = true; lie = \"fail\"; };\n", &c, &e, path,
	    sizeof(path)), 0);
	assert_int_equal(c->lie, AGENT_LIE_FAIL);
	assert_int_equal(c->lab, 1);
	agent_conf_free(c);
	agent_conf_free(NULL);
}

static void
test_conf_errors(void **state)
{
	static const struct { int lab; const char *extra, *want; } cases[] = {
		{ 0, "colour = 1;\n", "vouchd.cfg:6: colour: unknown key" },
		{ 0, "interval = 0;\n", "vouchd.cfg:6: interval: 0 is out of range" },
		{ 0, "interval = \"x\";\n", ":6: interval: expected an integer" },
		{ 0, "listen = \"127.0.0.1\";\n", ":6: listen: '127.0.0.1': want ADDR:PORT" },
		{ 0, "listen = \"localhost:1\";\n", ":6: listen: 'localhost' is not a numeric" },
		{ 0, "listen = \"127.0.0.1:0\";\n", ":6: listen: '0': port must be 1..65535" },
		{ 0, "eventlog = \"rel/path\";\n", ":6: eventlog: 'rel/path' is not an absolute path" },
		{ 0, "runtime_log = \"\";\n", ":6: runtime_log: must not be empty" },
		{ 0, "lab = { lie = \"fail\"; };\n",
		  ":6: lab.lie: the lab fault switch and lab mode are refused outside the lab" },
		{ 0, "lab = { enabled = true; };\n",
		  ":6: lab: the lab fault switch and lab mode are refused outside the lab" },
		{ 1, "lab = { lie = \"fail\"; };\n",
		  ":6: lab.lie: lie = \"fail\" needs lab mode (lab.enabled = true)" },
		{ 1, "lab = { enabled = true; lie = \"maybe\"; };\n",
		  ":6: lab.lie: 'maybe': want \"none\", \"fail\" or \"pass\"" },
		{ 1, "lab = { enabled = 1; };\n", ":6: lab.enabled: expected true or false" },
		{ 1, "lab = { enabled = true; colour = 2; };\n", ":6: lab.colour: unknown key" },
		{ 0, "tls2 = 1;\n", ":6: tls2: unknown key" },
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct agent_conf *c = NULL;
	char path[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e.msg[0] = '\0';
		c = NULL;
		assert_int_equal(load(cases[i].lab ? labregion_path :
		    region_path, cases[i].extra, &c, &e, path, sizeof(path)),
		    VOUCH_E_CONFIG);
		assert_null(c);
		if (strstr(e.msg, cases[i].want) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
			    cases[i].want);
		/* Every message names the file. */
		assert_non_null(strstr(e.msg, path));
	}
}

static void
test_conf_structure(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct agent_conf *c = NULL;
	char path[128], text[1024];

	(void)state;
	snprintf(path, sizeof(path), "%s/s.cfg", dir);
	/* Missing required keys, bad host, host not in region. */
	write_file(path, "host = \"h1\";\n");
	assert_int_equal(agent_conf_load(path, &c, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "missing required key 'state_dir'"));

	snprintf(text, sizeof(text), "host = \"H1\";\nstate_dir = \"/s\";\n"
	    "region = \"%s\";\npolicy = \"%s\";\n"
	    "tls = { cert = \"/a\"; key = \"/b\"; ca = \"/c\"; };\n",
	    region_path, policy_path);
	write_file(path, text);
	assert_int_equal(agent_conf_load(path, &c, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "s.cfg:1: host: 'H1' is not a lower-case"));

	snprintf(text, sizeof(text), "host = \"h9\";\nstate_dir = \"/s\";\n"
	    "region = \"%s\";\npolicy = \"%s\";\n"
	    "tls = { cert = \"/a\"; key = \"/b\"; ca = \"/c\"; };\n",
	    region_path, policy_path);
	write_file(path, text);
	assert_int_equal(agent_conf_load(path, &c, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "s.cfg:1: host: 'h9' is not a host of "
	    "region 'prod-eu'"));

	/* tls group incomplete */
	snprintf(text, sizeof(text), "host = \"h1\";\nstate_dir = \"/s\";\n"
	    "region = \"%s\";\npolicy = \"%s\";\n"
	    "tls = { cert = \"/a\"; key = \"/b\"; };\n",
	    region_path, policy_path);
	write_file(path, text);
	assert_int_equal(agent_conf_load(path, &c, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "s.cfg:5: tls: missing required key 'ca'"));

	/* A broken policy file is reported with its own file:line. */
	snprintf(text, sizeof(text), "host = \"h1\";\nstate_dir = \"/s\";\n"
	    "region = \"%s\";\npolicy = \"%s\";\n"
	    "tls = { cert = \"/a\"; key = \"/b\"; ca = \"/c\"; };\n",
	    region_path, region_path);
	write_file(path, text);
	assert_int_equal(agent_conf_load(path, &c, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "s.cfg:4: policy: "));
	assert_non_null(strstr(e.msg, "region.cfg:1: "));

	/* Syntax errors name the line. */
	write_file(path, "host = \"h1\";\nstate_dir = ;\n");
	assert_int_equal(agent_conf_load(path, &c, &e), VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "s.cfg:2: "));
	assert_null(c);
}

static void
test_conf_print(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct agent_conf *c = NULL;
	char path[128], out[4096];
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(load(labregion_path,
	    "lab = { enabled = true; lie = \"pass\"; };\n", &c, &e, path,
	    sizeof(path)), 0);
	f = tmpfile();
	assert_non_null(f);
	agent_conf_print(c, f);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	assert_non_null(strstr(out, "listen = \"127.0.0.1:7001\";"));
	assert_non_null(strstr(out, "interval = 17;"));
	assert_non_null(strstr(out, "lab = { enabled = true; lie = \"pass\"; };"));
	assert_non_null(strstr(out, "runtime_log = \""));
	agent_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nonce_known_answer),
		cmocka_unit_test(test_nonce_bad_names),
		cmocka_unit_test(test_lie),
		cmocka_unit_test(test_reason_clean),
		cmocka_unit_test(test_conf_good),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_conf_structure),
		cmocka_unit_test(test_conf_print),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
