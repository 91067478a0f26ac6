/* Unit tests: common/region.c - topology loading and validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/region.h"

static void
test_good(void **state)
{
	static const char text[] =
	    "region = { name = \"lab\";\n"
	    "  tcbd = { name = \"tcbd\"; addr = \"127.0.0.1\"; port = 7000; };\n"
	    "  hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 7001; },\n"
	    "            { name = \"h2\"; addr = \"::1\"; port = 7001; } ); };\n";
	struct region *r = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_int_equal(region_load_string("t", text, &r, &e), 0);
	assert_string_equal(region_name(r), "lab");
	assert_string_equal(region_tcbd(r)->name, "tcbd");
	assert_int_equal(region_tcbd(r)->port, 7000);
	assert_int_equal(region_count(r), 2);
	assert_string_equal(region_get(r, 1)->addr, "::1");
	assert_null(region_get(r, 2));
	assert_non_null(region_find(r, "h2"));
	assert_null(region_find(r, "tcbd"));
	assert_null(region_find(r, "h3"));
	region_free(r);
	region_free(NULL);
}

static void
test_errors(void **state)
{
#define T "tcbd = { name = \"tcbd\"; addr = \"127.0.0.1\"; port = 7000; };\n"
	static const struct { const char *text, *want; } cases[] = {
		{ "x = 1;", "x: unknown key" },
		{ "region = { hosts = (); };", "missing required key 'tcbd'" },
		{ "region = {\n" T "};", "'hosts' must be a list" },
		{ "region = {\n" T "hosts = ( { name = \"H1\"; addr = \"127.0.0.1\"; port = 1; } ); };",
		  "'H1' is not a lower-case DNS name" },
		{ "region = {\n" T "hosts = ( { name = \"h1\"; addr = \"localhost\"; port = 1; } ); };",
		  "not a numeric IPv4 or IPv6 address" },
		{ "region = {\n" T "hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 70000; } ); };",
		  "port: 70000 is out of range" },
		{ "region = {\n" T "hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 1; },\n"
		  "{ name = \"h1\"; addr = \"127.0.0.1\"; port = 2; } ); };", "listed twice" },
		{ "region = {\n" T "hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 1; },\n"
		  "{ name = \"h2\"; addr = \"127.0.0.1\"; port = 1; } ); };", "already used by 'h1'" },
		{ "region = {\n" T "hosts = ( { name = \"tcbd\"; addr = \"127.0.0.1\"; port = 1; } ); };",
		  "has the tcbd's name" },
		{ "region = {\n" T "hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 1; color = 2; } ); };",
		  ":3: region.hosts[0].color: unknown key" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct region *r = NULL;
		struct vouch_err e = VOUCH_ERR_INIT;
		if (region_load_string("t", cases[i].text, &r, &e) >= 0 ||
		    strstr(e.msg, cases[i].want) == NULL)
			fail_msg("case %zu: msg '%s', want '%s'", i, e.msg, cases[i].want);
		assert_null(r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
