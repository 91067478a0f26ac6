/*
 * Unit tests: migrate/order.c - the MIG_ORDER / MIG_REPORT JSON codec.
 * Round trips, every refusal naming its key, hostile documents (NUL
 * bytes, duplicate keys, trailing bytes, deep nesting, huge numbers,
 * oversize input), and every truncation of a valid document refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/wire.h"
#include "migrate/order.h"

static struct mig_order
sample_order(void)
{
	struct mig_order o;

	memset(&o, 0, sizeof(o));
	o.id = 17;
	strcpy(o.target, "web1");
	strcpy(o.guard, "web1-guard");
	o.mode = COMIG_EVACUATE;
	o.strategy = COMIG_STANDBY;
	strcpy(o.source, "h1");
	strcpy(o.dests[0], "h3");
	strcpy(o.dests[1], "h2");
	o.ndests = 2;
	return o;
}

static struct mig_report
sample_report(int final)
{
	struct mig_report r;

	memset(&r, 0, sizeof(r));
	r.id = 17;
	r.phase = final ? COMIG_PH_DONE : COMIG_PH_TARGET;
	r.done = final;
	strcpy(r.host, "h3");
	r.t_ms = 812;
	r.bytes = 12345;
	r.total = 268435456;
	r.mbps = 910.5;
	strcpy(r.msg, "streaming");
	r.final = final;
	if (final) {
		r.ok = 1;
		r.tries = 1;
		r.target_downtime_ms = 45;
		r.total_ms = 3021;
	}
	return r;
}

/* Decode s; expect failure with msg containing want. */
static void
order_refused(const char *s, const char *want)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_order o;

	memset(&o, 0xa5, sizeof(o));
	assert_true(order_decode(s, strlen(s), &o, &e) < 0);
	if (strstr(e.msg, want) == NULL)
		fail_msg("'%s': got '%s', want '%s'", s, e.msg, want);
	assert_int_equal(((unsigned char *)&o)[0], 0xa5);	/* untouched */
}

static void
report_refused(const char *s, const char *want)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_report r;

	assert_true(report_decode(s, strlen(s), &r, &e) < 0);
	if (strstr(e.msg, want) == NULL)
		fail_msg("'%s': got '%s', want '%s'", s, e.msg, want);
}

static void
test_order_round_trip(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_order o = sample_order(), back;
	char *json = NULL;

	(void)state;
	assert_int_equal(order_encode(&o, &json, &e), 0);
	assert_non_null(strstr(json, "\"dests\":[\"h3\",\"h2\"]"));
	assert_int_equal(order_decode(json, strlen(json), &back, &e), 0);
	assert_int_equal(back.id, 17);
	assert_string_equal(back.target, "web1");
	assert_string_equal(back.guard, "web1-guard");
	assert_int_equal(back.mode, COMIG_EVACUATE);
	assert_int_equal(back.strategy, COMIG_STANDBY);
	assert_string_equal(back.source, "h1");
	assert_int_equal(back.ndests, 2);
	assert_string_equal(back.dests[0], "h3");
	assert_string_equal(back.dests[1], "h2");
	free(json);

	/* The maximum: 16 destinations of 253 bytes fit the wire limit. */
	o.mode = COMIG_MANUAL;
	for (o.ndests = 0; o.ndests < COMIG_MAX_DESTS; o.ndests++) {
		char *d = o.dests[o.ndests];

		memset(d, 'a', 253);
		d[0] = (char)('a' + o.ndests);
		d[63] = '.';
		d[127] = '.';
		d[191] = '.';
		d[253] = '\0';
	}
	assert_int_equal(order_encode(&o, &json, &e), 0);
	assert_true(strlen(json) < WIRE_MIG_JSON_MAX);
	assert_int_equal(order_decode(json, strlen(json), &back, &e), 0);
	assert_int_equal(back.ndests, COMIG_MAX_DESTS);
	assert_int_equal(back.mode, COMIG_MANUAL);
	free(json);
}

static void
test_order_encode_refuses(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_order o;
	char *json = NULL;

	(void)state;
	o = sample_order();
	o.ndests = 0;
	assert_true(order_encode(&o, &json, &e) < 0);
	assert_non_null(strstr(e.msg, "dests"));
	o = sample_order();
	strcpy(o.dests[1], "h1");
	assert_true(order_encode(&o, &json, &e) < 0);
	assert_non_null(strstr(e.msg, "dests[1]: the source host"));
	o = sample_order();
	strcpy(o.target, "-rf");
	assert_true(order_encode(&o, &json, &e) < 0);
	assert_non_null(strstr(e.msg, "target: not a VM name"));
	o = sample_order();
	o.id = 0;
	assert_true(order_encode(&o, &json, &e) < 0);
	assert_non_null(strstr(e.msg, "id"));
	o = sample_order();
	o.mode = (enum comig_mode)7;
	assert_true(order_encode(&o, &json, &e) < 0);
	assert_null(json);
}

#define ORD(fields) "{\"id\":17,\"target\":\"web1\",\"guard\":\"g1\"," \
	"\"mode\":\"evacuate\",\"strategy\":\"plain\",\"source\":\"h1\"" fields "}"

static void
test_order_refusals(void **state)
{
	(void)state;
	order_refused(ORD(",\"dests\":[\"h2\",\"H3\"]"),
	    "order: dests[1]: not a host name");
	order_refused(ORD(",\"dests\":[\"h2\",\"h2\"]"),
	    "dests[1]: repeats dests[0]");
	order_refused(ORD(",\"dests\":[\"h1\"]"), "dests[0]: the source host");
	order_refused(ORD(",\"dests\":[]"), "dests: 0 entries");
	order_refused(ORD(",\"dests\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\","
	    "\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\","
	    "\"q\"]"), "dests: 17 entries");
	order_refused(ORD(",\"dests\":[2]"), "dests[0]: not a string");
	order_refused(ORD(",\"dests\":\"h2\""), "dests: not an array");
	order_refused(ORD(""), "dests: missing");
	order_refused(ORD(",\"dests\":[\"h2\"],\"extra\":1"),
	    "unknown key 'extra'");
	order_refused(ORD(",\"dests\":[\"h2\"],\"id\":18"), "key appears twice");
	order_refused("{\"id\":0,\"target\":\"web1\",\"guard\":\"g1\","
	    "\"mode\":\"evacuate\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "id: 0 out of range");
	order_refused("{\"id\":-3,\"target\":\"web1\",\"guard\":\"g1\","
	    "\"mode\":\"evacuate\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "id: negative");
	order_refused("{\"id\":99999999999999999999999,\"target\":\"web1\","
	    "\"guard\":\"g1\",\"mode\":\"evacuate\",\"strategy\":\"plain\","
	    "\"source\":\"h1\",\"dests\":[\"h2\"]}", "order");
	order_refused("{\"id\":1.5,\"target\":\"web1\",\"guard\":\"g1\","
	    "\"mode\":\"evacuate\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "id: not an integer");
	order_refused("{\"id\":\"1\",\"target\":\"web1\",\"guard\":\"g1\","
	    "\"mode\":\"evacuate\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "id: not an integer");
	order_refused("{\"id\":1,\"target\":\"web 1\",\"guard\":\"g1\","
	    "\"mode\":\"evacuate\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "target: not a VM name");
	order_refused("{\"id\":1,\"target\":\"g1\",\"guard\":\"g1\","
	    "\"mode\":\"evacuate\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "guard: the same VM");
	order_refused("{\"id\":1,\"target\":\"w\",\"guard\":\"g1\","
	    "\"mode\":\"flee\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "mode: unknown value 'flee'");
	order_refused("{\"id\":1,\"target\":\"w\",\"guard\":\"g1\","
	    "\"mode\":\"manual\",\"strategy\":\"warm\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "strategy: unknown value");
	order_refused("{\"id\":1,\"target\":\"w\",\"guard\":\"g1\","
	    "\"mode\":\"manual\",\"strategy\":\"plain\",\"source\":\"-h1\","
	    "\"dests\":[\"h2\"]}", "source: not a host name");
	order_refused("{\"id\":1,\"target\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"guard\":\"g1\","
	    "\"mode\":\"manual\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "target: 64 bytes");
	order_refused("{\"id\":1,\"target\":\"w\\u0000x\",\"guard\":\"g1\","
	    "\"mode\":\"manual\",\"strategy\":\"plain\",\"source\":\"h1\","
	    "\"dests\":[\"h2\"]}", "target: NUL");
	/* Hostile shapes. */
	order_refused("", "order: empty");
	order_refused("[]", "not a JSON object");
	order_refused("{\"id\":1} {}", "order: not one JSON object");
	order_refused("{\"id\":1,}", "not one JSON object");
	order_refused("{'id':1}", "not one JSON object");
	order_refused("{\"a\":[[[[[[[[1]]]]]]]]}", "not one JSON object");
	order_refused("{\"id\":NaN}", "id: not an integer");
	order_refused("{\"id\":\"\xff\"}", "not one JSON object");
}

static void
test_order_nul_and_size(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_order o = sample_order();
	char *json = NULL, *big;
	size_t len;

	(void)state;
	assert_int_equal(order_encode(&o, &json, &e), 0);
	len = strlen(json);
	/* A NUL byte anywhere inside the length is refused. */
	json[5] = '\0';
	assert_true(order_decode(json, len, &o, &e) < 0);
	assert_non_null(strstr(e.msg, "NUL"));
	free(json);

	big = malloc(WIRE_MIG_JSON_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', WIRE_MIG_JSON_MAX + 1);
	big[0] = '{';
	big[WIRE_MIG_JSON_MAX] = '}';
	assert_true(order_decode(big, WIRE_MIG_JSON_MAX + 1, &o, &e) < 0);
	assert_int_equal(e.code, VOUCH_E_LIMIT);
	free(big);
	assert_true(order_decode(NULL, 0, &o, &e) < 0);
}

/* Every prefix of a valid order and report is refused. */
static void
test_truncations(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_order o = sample_order(), ob;
	struct mig_report r = sample_report(1), rb;
	char *oj = NULL, *rj = NULL;
	size_t n;

	(void)state;
	assert_int_equal(order_encode(&o, &oj, &e), 0);
	assert_int_equal(report_encode(&r, &rj, &e), 0);
	for (n = 0; n < strlen(oj); n++)
		assert_true(order_decode(oj, n, &ob, NULL) < 0);
	for (n = 0; n < strlen(rj); n++)
		assert_true(report_decode(rj, n, &rb, NULL) < 0);
	/* The order is not a report and the other way round. */
	assert_true(report_decode(oj, strlen(oj), &rb, NULL) < 0);
	assert_true(order_decode(rj, strlen(rj), &ob, NULL) < 0);
	free(oj);
	free(rj);
}

static void
test_report_round_trip(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_report r = sample_report(0), back;
	char *json = NULL;

	(void)state;
	assert_int_equal(report_encode(&r, &json, &e), 0);
	assert_null(strstr(json, "\"ok\""));
	assert_non_null(strstr(json, "\"phase\":\"target\""));
	assert_int_equal(report_decode(json, strlen(json), &back, &e), 0);
	assert_int_equal(back.id, 17);
	assert_int_equal(back.phase, COMIG_PH_TARGET);
	assert_int_equal(back.done, 0);
	assert_string_equal(back.host, "h3");
	assert_int_equal(back.t_ms, 812);
	assert_int_equal(back.bytes, 12345);
	assert_int_equal(back.total, 268435456);
	assert_true(back.mbps > 910.49 && back.mbps < 910.51);
	assert_string_equal(back.msg, "streaming");
	assert_int_equal(back.final, 0);
	free(json);

	r = sample_report(1);
	r.ok = 0;
	r.phase = COMIG_PH_FAILED;
	r.target_paused = 1;
	r.tries = 2;
	strcpy(r.error, "guard refused: kernel text differs \xc3\xa9");
	r.host[0] = '\0';
	assert_int_equal(report_encode(&r, &json, &e), 0);
	assert_int_equal(report_decode(json, strlen(json), &back, &e), 0);
	assert_int_equal(back.final, 1);
	assert_int_equal(back.ok, 0);
	assert_int_equal(back.target_paused, 1);
	assert_int_equal(back.tries, 2);
	assert_int_equal(back.target_downtime_ms, 45);
	assert_int_equal(back.total_ms, 3021);
	assert_string_equal(back.host, "");
	assert_string_equal(back.error, r.error);
	free(json);

	/* Every phase name round-trips. */
	for (int p = COMIG_PH_PREPARE; p <= COMIG_PH_FAILED; p++)
		assert_int_equal(order_phase_from_name(
		    comig_phase_name((enum comig_phase)p)), p);
	assert_int_equal(order_phase_from_name("TARGET"), -1);
	assert_int_equal(order_phase_from_name(NULL), -1);
}

#define REP(fields) "{\"id\":3,\"phase\":\"target\",\"done\":false," \
	"\"host\":\"h3\",\"t_ms\":1,\"bytes\":2,\"total\":3" fields "}"

static void
test_report_refusals(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_report r = sample_report(0);
	char *json = NULL;

	(void)state;
	report_refused(REP(",\"mbps\":1,\"final\":false,\"msg\":\"\","
	    "\"ok\":true"), "report: ok: only in a final report");
	report_refused(REP(",\"mbps\":1,\"final\":true,\"msg\":\"\""),
	    "report: ok: missing");
	report_refused(REP(",\"mbps\":1,\"final\":true,\"msg\":\"\","
	    "\"ok\":true,\"target_paused\":true,\"tries\":1,"
	    "\"target_downtime_ms\":0,\"total_ms\":0,\"error\":\"\""),
	    "target_paused: true in a successful report");
	report_refused(REP(",\"mbps\":1,\"final\":true,\"msg\":\"\","
	    "\"ok\":false,\"target_paused\":true,\"tries\":17,"
	    "\"target_downtime_ms\":0,\"total_ms\":0,\"error\":\"\""),
	    "tries: 17 out of range");
	report_refused(REP(",\"mbps\":-1,\"final\":false,\"msg\":\"\""),
	    "mbps: out of range");
	report_refused(REP(",\"mbps\":1e300,\"final\":false,\"msg\":\"\""),
	    "mbps: out of range");
	report_refused(REP(",\"mbps\":NaN,\"final\":false,\"msg\":\"\""),
	    "mbps: out of range");
	report_refused(REP(",\"mbps\":-Infinity,\"final\":false,\"msg\":\"\""),
	    "mbps");
	report_refused(REP(",\"mbps\":\"1\",\"final\":false,\"msg\":\"\""),
	    "mbps: not a number");
	report_refused(REP(",\"final\":false,\"msg\":\"\""), "mbps: missing");
	report_refused(REP(",\"mbps\":1,\"final\":0,\"msg\":\"\""),
	    "final: not a boolean");
	report_refused(REP(",\"mbps\":1,\"final\":false,\"msg\":\"a\\nb\""),
	    "msg: control characters");
	report_refused(REP(",\"mbps\":1,\"final\":false,\"msg\":\"\\u0085\""),
	    "msg: control characters");
	report_refused(REP(",\"mbps\":1,\"final\":false,\"msg\":\"\","
	    "\"msg\":\"x\""), "key appears twice");
	report_refused("{\"id\":3,\"phase\":\"TARGET\",\"done\":false,"
	    "\"host\":\"h3\",\"t_ms\":1,\"bytes\":2,\"total\":3,\"mbps\":1,"
	    "\"final\":false,\"msg\":\"\"}", "phase: unknown value 'TARGET'");
	report_refused("{\"id\":3,\"phase\":\"target\",\"done\":false,"
	    "\"host\":\"h_3\",\"t_ms\":1,\"bytes\":2,\"total\":3,\"mbps\":1,"
	    "\"final\":false,\"msg\":\"\"}", "host: not a host name");
	report_refused("{\"id\":3,\"phase\":\"target\",\"done\":false,"
	    "\"host\":\"h3\",\"t_ms\":1,\"bytes\":-2,\"total\":3,\"mbps\":1,"
	    "\"final\":false,\"msg\":\"\"}", "bytes: negative");
	report_refused("{\"id\":3,\"phase\":\"target\",\"done\":false,"
	    "\"host\":\"h3\",\"t_ms\":1,\"bytes\":18446744073709551615,"
	    "\"total\":3,\"mbps\":1,\"final\":false,\"msg\":\"\"}",
	    "bytes: 18446744073709551615 out of range");
	/* A key with an escape is still one key: duplicates are caught. */
	report_refused(REP(",\"mbps\":1,\"final\":false,\"msg\":\"\","
	    "\"i\\u0064\":4"), "key appears twice");

	/* Encoder: a message with a control character is refused. */
	strcpy(r.msg, "a\tb");
	assert_true(report_encode(&r, &json, &e) < 0);
	assert_null(json);
	r = sample_report(0);
	strcpy(r.host, "Not_A_Host");
	assert_true(report_encode(&r, &json, &e) < 0);
	assert_non_null(strstr(e.msg, "host"));
}

static void
test_vm_names(void **state)
{
	char long_name[ORDER_NAME_MAX + 1];

	(void)state;
	assert_true(order_vm_name_ok("web1"));
	assert_true(order_vm_name_ok("Web_1.guard-2"));
	assert_false(order_vm_name_ok(""));
	assert_false(order_vm_name_ok(NULL));
	assert_false(order_vm_name_ok("-x"));
	assert_false(order_vm_name_ok(".."));
	assert_false(order_vm_name_ok("a/b"));
	assert_false(order_vm_name_ok("a b"));
	memset(long_name, 'a', ORDER_NAME_MAX - 1);
	long_name[ORDER_NAME_MAX - 1] = '\0';
	assert_true(order_vm_name_ok(long_name));
	long_name[ORDER_NAME_MAX - 1] = 'a';
	long_name[ORDER_NAME_MAX] = '\0';
	assert_false(order_vm_name_ok(long_name));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_round_trip),
		cmocka_unit_test(test_order_encode_refuses),
		cmocka_unit_test(test_order_refusals),
		cmocka_unit_test(test_order_nul_and_size),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_report_round_trip),
		cmocka_unit_test(test_report_refusals),
		cmocka_unit_test(test_vm_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
