/* Unit tests: ids/guard_conf.c - the guard policy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ids/guard.h"

#define G1 "{ target = \"web1\"; memory = \"qemu-file:/dev/shm/web1\"; }"

static void
test_good(void **state)
{
	static const char text[] =
	    "version = 1;\n"
	    "guards = (\n"
	    "  { target = \"web1\";\n"
	    "    memory = \"qemu-file:/dev/shm/web1,machine=q35\";\n"
	    "    vmlinux = \"/var/lib/vouch/vmlinux\";\n"
	    "    system_map = \"/var/lib/vouch/System.map\";\n"
	    "    checks = [ \"processes\", \"syscall_table\", \"idt\" ];\n"
	    "    period_ms = 100;\n"
	    "    repair = true;\n"
	    "    state = \"/var/lib/vouch/guard/web1.json\";\n"
	    "  },\n"
	    "  { target = \"db.2\"; memory = \"dump:/tmp/db.core\"; },\n"
	    "  { target = \"x_3\"; memory = \"xen:7\"; period_ms = 3600000; }\n"
	    ");\n";
	struct guard_policy p = { NULL, 0 };
	struct vouch_err e = VOUCH_ERR_INIT;
	const struct guard_conf *g;

	(void)state;
	if (guard_policy_load_string("t", text, &p, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(p.n, 3);
	g = guard_policy_find(&p, "web1");
	assert_non_null(g);
	assert_string_equal(g->memory, "qemu-file:/dev/shm/web1,machine=q35");
	assert_string_equal(g->vmlinux, "/var/lib/vouch/vmlinux");
	assert_string_equal(g->system_map, "/var/lib/vouch/System.map");
	assert_int_equal(g->checks, VMI_CHECK_PROCESSES | VMI_CHECK_SYSCALLS |
	    VMI_CHECK_IDT);
	assert_int_equal(g->period_ms, 100);
	assert_int_equal(g->repair, 1);
	assert_string_equal(g->state, "/var/lib/vouch/guard/web1.json");
	/* defaults */
	g = guard_policy_find(&p, "db.2");
	assert_non_null(g);
	assert_int_equal(g->checks, VMI_CHECK_ALL);
	assert_int_equal(g->period_ms, 1000);
	assert_int_equal(g->repair, 0);
	assert_string_equal(g->state, "");
	assert_string_equal(g->vmlinux, "");
	assert_int_equal(guard_policy_find(&p, "x_3")->period_ms, 3600000);
	assert_null(guard_policy_find(&p, "web2"));
	assert_null(guard_policy_find(NULL, "web1"));
	guard_policy_free(&p);
	assert_null(p.g);
	guard_policy_free(&p);
	guard_policy_free(NULL);
}

/* A policy file: relative paths follow the file's directory. */
static void
test_file_relative(void **state)
{
	char dir[] = "/tmp/vouch-guard-conf-XXXXXX", path[128];
	struct guard_policy p = { NULL, 0 };
	struct vouch_err e = VOUCH_ERR_INIT;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/guards.cfg", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "version = 1;\nguards = ( { target = \"a\";\n"
	    "  memory = \"qemu-file:ram/a,lowmem=1024\";\n"
	    "  state = \"state/a.json\"; vmlinux = \"/abs/vmlinux\"; } );\n");
	fclose(f);
	if (guard_policy_load(path, &p, &e) != 0)
		fail_msg("%s", e.msg);
	{
		char want[256];

		snprintf(want, sizeof(want), "qemu-file:%s/ram/a,lowmem=1024",
		    dir);
		assert_string_equal(p.g[0].memory, want);
		snprintf(want, sizeof(want), "%s/state/a.json", dir);
		assert_string_equal(p.g[0].state, want);
		assert_string_equal(p.g[0].vmlinux, "/abs/vmlinux");
	}
	guard_policy_free(&p);

	/* errors in a file name the file and the line */
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "version = 1;\nguards = (\n { target = \"a\";\n"
	    "   memory = \"qemu-file:/x\";\n   checks = [ \"idt\", \"bogus\" ]; } );\n");
	fclose(f);
	assert_int_equal(guard_policy_load(path, &p, &e), VOUCH_E_CONFIG);
	{
		char want[256];

		snprintf(want, sizeof(want), "%s:5: guards[0].checks[1]: unknown "
		    "check 'bogus'", path);
		if (strstr(e.msg, want) == NULL)
			fail_msg("msg '%s', want '%s'", e.msg, want);
	}
	/* a missing file is an I/O error */
	unlink(path);
	assert_int_equal(guard_policy_load(path, &p, &e), VOUCH_E_IO);
	rmdir(dir);
}

static void
test_errors(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "version = 1;\nguards = ( " G1 " );\ncolour = 1;\n",
		  ":3: colour: unknown key" },
		{ "guards = ( " G1 " );", "missing required key 'version'" },
		{ "version = 2;\nguards = ( " G1 " );", ":1: version: 2 is out of range 1..1" },
		{ "version = \"1\";\nguards = ( " G1 " );", "version: expected an integer" },
		{ "version = 1;\n", "missing required key 'guards'" },
		{ "version = 1;\nguards = ();\n", ":2: guards: no guards" },
		{ "version = 1;\nguards = { a = 1; };\n", ":2: guards: must be a list" },
		{ "version = 1;\nguards = ( 1 );\n", "guards[0]: expected a group" },
		{ "version = 1;\nguards = (\n { memory = \"xen:1\"; } );\n",
		  ":3: guards[0]: missing required key 'target'" },
		{ "version = 1;\nguards = (\n { target = \"a\"; } );\n",
		  "missing required key 'memory'" },
		{ "version = 1;\nguards = (\n { target = \"a\";\n memory = \"xen:1\";\n size = 3; } );\n",
		  ":5: guards[0].size: unknown key" },
		{ "version = 1;\nguards = (\n { target = \"a b\"; memory = \"xen:1\"; } );\n",
		  ":3: guards[0].target: 'a b' is not a target name" },
		{ "version = 1;\nguards = (\n { target = \"\"; memory = \"xen:1\"; } );\n",
		  "guards[0].target: '' is not a target name" },
		{ "version = 1;\nguards = (\n { target = 5; memory = \"xen:1\"; } );\n",
		  "guards[0].target: expected a string" },
		{ "version = 1;\nguards = (\n { target = \"a\";\n memory = \"file:/x\"; } );\n",
		  ":4: guards[0].memory: 'file:/x' is not a memory spec" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  checks = [ \"processes\", \"rootkits\" ]; } );\n",
		  ":4: guards[0].checks[1]: unknown check 'rootkits'" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  checks = [ \"idt\", \"idt\" ]; } );\n",
		  "guards[0].checks[1]: check 'idt' listed twice" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  checks = [ ]; } );\n", "guards[0].checks: no checks enabled" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  checks = \"idt\"; } );\n", "guards[0].checks: must be a list" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  checks = ( 1 ); } );\n", "guards[0].checks[0]: expected a check name" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  period_ms = 9; } );\n", ":4: guards[0].period_ms: 9 is out of range 10..3600000" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  period_ms = 3600001; } );\n", "guards[0].period_ms: 3600001 is out of range" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  period_ms = 1.5; } );\n", "guards[0].period_ms: expected an integer" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  repair = 1; } );\n", ":4: guards[0].repair: expected true or false" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\";\n"
		  "  state = \"\"; } );\n", ":4: guards[0].state: empty path" },
		{ "version = 1;\nguards = (\n " G1 ",\n { target = \"web1\"; memory = \"xen:2\"; } );\n",
		  ":4: guards[1].target: target 'web1' listed twice" },
		{ "version = 1;\nguards = (\n { target = \"a\"; memory = \"xen:1\"; state = \"/s\"; },\n"
		  " { target = \"b\"; memory = \"xen:2\";\n state = \"/s\"; } );\n",
		  ":5: guards[1].state: state file '/s' already used by target 'a'" },
		{ "version = 1;\nguards = ( " G1 " );\n}\n", ":3: syntax error" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct guard_policy p = { NULL, 0 };
		struct vouch_err e = VOUCH_ERR_INIT;
		int r = guard_policy_load_string("t", cases[i].text, &p, &e);

		if (r != VOUCH_E_CONFIG || strstr(e.msg, cases[i].want) == NULL)
			fail_msg("case %zu: r %d msg '%s', want '%s'", i, r, e.msg,
			    cases[i].want);
		assert_null(p.g);
		assert_int_equal(p.n, 0);
	}
}

/* Long strings: bounded, never truncated silently. */
static void
test_limits(void **state)
{
	char text[2048], longname[80], longpath[300];
	struct guard_policy p = { NULL, 0 };
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	memset(longname, 'a', 64);
	longname[64] = '\0';
	snprintf(text, sizeof(text), "version = 1;\nguards = ( { target = "
	    "\"%s\"; memory = \"xen:1\"; } );\n", longname);
	assert_int_equal(guard_policy_load_string("t", text, &p, &e),
	    VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, "is not a target name"));
	longname[63] = '\0';
	snprintf(text, sizeof(text), "version = 1;\nguards = ( { target = "
	    "\"%s\"; memory = \"xen:1\"; } );\n", longname);
	assert_int_equal(guard_policy_load_string("t", text, &p, &e), 0);
	guard_policy_free(&p);

	longpath[0] = '/';
	memset(longpath + 1, 'p', 260);
	longpath[261] = '\0';
	snprintf(text, sizeof(text), "version = 1;\nguards = ( { target = "
	    "\"a\"; memory = \"xen:1\";\n state = \"%s\"; } );\n", longpath);
	assert_int_equal(guard_policy_load_string("t", text, &p, &e),
	    VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, ":3: guards[0].state: path too long"));
	snprintf(text, sizeof(text), "version = 1;\nguards = ( { target = "
	    "\"a\";\n memory = \"qemu-file:%s\"; } );\n", longpath);
	assert_int_equal(guard_policy_load_string("t", text, &p, &e),
	    VOUCH_E_CONFIG);
	assert_non_null(strstr(e.msg, ":3: guards[0].memory: too long"));
}

static void
test_many(void **state)
{
	size_t cap = 64 + 80 * (GUARD_MAX_GUARDS + 1), off, i;
	char *text = malloc(cap);
	struct guard_policy p = { NULL, 0 };
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_non_null(text);
	for (int n = GUARD_MAX_GUARDS; n <= GUARD_MAX_GUARDS + 1; n++) {
		off = (size_t)snprintf(text, cap, "version = 1;\nguards = (");
		for (i = 0; i < (size_t)n; i++)
			off += (size_t)snprintf(text + off, cap - off,
			    "%s{ target = \"t%zu\"; memory = \"xen:%zu\"; }",
			    i ? "," : "", i, i + 1);
		snprintf(text + off, cap - off, ");\n");
		if (n == GUARD_MAX_GUARDS) {
			if (guard_policy_load_string("t", text, &p, &e) != 0)
				fail_msg("%s", e.msg);
			assert_int_equal(p.n, GUARD_MAX_GUARDS);
			assert_non_null(guard_policy_find(&p, "t255"));
			guard_policy_free(&p);
		} else {
			assert_int_equal(guard_policy_load_string("t", text, &p,
			    &e), VOUCH_E_CONFIG);
			assert_non_null(strstr(e.msg, "at most 256 guards"));
		}
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_file_relative),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
