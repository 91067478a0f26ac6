/*
 * Unit tests: ids/guard.c - the guard state file (JSON round trip with a
 * synthetic baseline; every corrupted field refused, naming the field;
 * every truncation refused) and the findings JSON.
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

#include <json-c/json.h>

#include "common/util.h"
#include "ids/guard.h"

static char dir[64], path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vouch-guard-state-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/web1.json", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

/* A guard with a synthetic baseline: no memory, no profile. */
static void
synth(struct guard *g)
{
	struct vmi_baseline *b = &g->base;
	struct vmi_finding x;
	size_t i;

	memset(g, 0, sizeof(*g));
	snprintf(g->conf.target, sizeof(g->conf.target), "web1");
	snprintf(b->release, sizeof(b->release), "6.1.0-56-amd64");
	b->slide = 0x2a00000;
	b->nr_syscalls = 5;
	for (i = 0; i < b->nr_syscalls; i++)
		b->syscalls[i] = 0xffffffff83a00000ull + 0x10 * i;
	for (i = 0; i < VMI_IDT_ENTRIES; i++)
		b->idt[i] = i % 3 ? 0xffffffff84000000ull + i : 0;
	b->text_start = 0xffffffff83a00000ull;
	b->text_end = b->text_start + 2 * 4096 + 100;	/* 3 pages */
	b->text_pages = 3;
	b->rodata_start = 0xffffffff84c00000ull;
	b->rodata_end = b->rodata_start + 2 * 4096;	/* 2 pages */
	b->rodata_pages = 2;
	b->text_hash = calloc(3, VMI_HASH_LEN);
	b->rodata_hash = calloc(2, VMI_HASH_LEN);
	assert_non_null(b->text_hash);
	assert_non_null(b->rodata_hash);
	for (i = 0; i < 3 * VMI_HASH_LEN; i++)
		b->text_hash[i / VMI_HASH_LEN][i % VMI_HASH_LEN] = (uint8_t)i;
	for (i = 0; i < 2 * VMI_HASH_LEN; i++)
		b->rodata_hash[i / VMI_HASH_LEN][i % VMI_HASH_LEN] =
		    (uint8_t)(0xff - i);
	g->have_base = 1;
	g->runs = 1234567;
	g->paired_at_ms = 1795000000123LL;
	g->last_run_ms = 1795000999456LL;

	memset(&x, 0, sizeof(x));
	x.type = VMI_F_SYSCALL_HOOK;
	x.check = VMI_CHECK_SYSCALLS;
	x.critical = 1;
	x.index = 39;
	x.pid = -1;
	x.addr = 0xffffffff84200138ull;
	x.expected = 0xffffffff83a00010ull;
	x.actual = 0xffffffffc0a01000ull;
	snprintf(x.detail, sizeof(x.detail), "sys_call_table[39] \"hooked\"\n"
	    "\\ \x01");
	assert_int_equal(vmi_findings_add(&g->last, &x), 0);
	memset(&x, 0, sizeof(x));
	x.type = VMI_F_HIDDEN_PROCESS;
	x.check = VMI_CHECK_HIDDEN;
	x.critical = 1;
	x.index = -1;
	x.pid = 4242;
	x.addr = 0xffff888004a1c000ull;
	snprintf(x.detail, sizeof(x.detail), "pid 4242 (evil) not in the "
	    "task list");
	assert_int_equal(vmi_findings_add(&g->last, &x), 0);
	memset(&x, 0, sizeof(x));
	x.type = VMI_F_UNREADABLE;	/* no single check */
	x.index = -1;
	x.pid = -1;
	assert_int_equal(vmi_findings_add(&g->last, &x), 0);
}

static void
unsynth(struct guard *g)
{
	vmi_baseline_free(&g->base);
	vmi_findings_free(&g->last);
}

static void
test_round_trip(void **state)
{
	struct guard *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct vouch_err e = VOUCH_ERR_INIT;
	size_t i;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	synth(a);
	if (guard_state_save(a, path, &e) != 0)
		fail_msg("%s", e.msg);
	snprintf(b->conf.target, sizeof(b->conf.target), "web1");
	if (guard_state_load(b, path, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(b->have_base, 1);
	assert_string_equal(b->base.release, a->base.release);
	assert_true(b->base.slide == a->base.slide);
	assert_int_equal(b->base.nr_syscalls, 5);
	assert_memory_equal(b->base.syscalls, a->base.syscalls,
	    5 * sizeof(uint64_t));
	assert_memory_equal(b->base.idt, a->base.idt, sizeof(a->base.idt));
	assert_true(b->base.text_start == a->base.text_start);
	assert_true(b->base.text_end == a->base.text_end);
	assert_true(b->base.rodata_start == a->base.rodata_start);
	assert_true(b->base.rodata_end == a->base.rodata_end);
	assert_int_equal(b->base.text_pages, 3);
	assert_int_equal(b->base.rodata_pages, 2);
	assert_memory_equal(b->base.text_hash, a->base.text_hash,
	    3 * VMI_HASH_LEN);
	assert_memory_equal(b->base.rodata_hash, a->base.rodata_hash,
	    2 * VMI_HASH_LEN);
	assert_null(b->base.text_copy);
	assert_true(b->runs == a->runs);
	assert_true(b->paired_at_ms == a->paired_at_ms);
	assert_true(b->last_run_ms == a->last_run_ms);
	assert_int_equal(b->last.n, a->last.n);
	for (i = 0; i < a->last.n; i++) {
		const struct vmi_finding *x = &a->last.v[i], *y = &b->last.v[i];

		assert_int_equal(x->type, y->type);
		assert_int_equal(x->check, y->check);
		assert_int_equal(x->critical, y->critical);
		assert_true(x->index == y->index);
		assert_int_equal(x->pid, y->pid);
		assert_true(x->addr == y->addr);
		assert_true(x->expected == y->expected);
		assert_true(x->actual == y->actual);
		assert_string_equal(x->detail, y->detail);
	}
	/* a second load replaces, does not append */
	if (guard_state_load(b, path, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(b->last.n, a->last.n);

	/* the state of another target is refused */
	unsynth(b);
	memset(b, 0, sizeof(*b));
	snprintf(b->conf.target, sizeof(b->conf.target), "web2");
	assert_int_equal(guard_state_load(b, path, &e), VOUCH_E_STATE);
	assert_non_null(strstr(e.msg, "target"));
	assert_int_equal(b->have_base, 0);
	/* no target configured: any */
	b->conf.target[0] = '\0';
	assert_int_equal(guard_state_load(b, path, &e), 0);
	unsynth(a);
	unsynth(b);
	free(a);
	free(b);
}

/* Set a value in a JSON tree by a path like "baseline.text.pages[2]". */
static void
jset(json_object *root, const char *p, json_object *v)
{
	char buf[128], *tok, *save = NULL;
	json_object *cur = root, *parent = NULL;
	char last[64] = "";
	long idx = -1;

	snprintf(buf, sizeof(buf), "%s", p);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".",
	    &save)) {
		char *br = strchr(tok, '[');

		idx = -1;
		if (br != NULL) {
			idx = strtol(br + 1, NULL, 10);
			*br = '\0';
		}
		parent = cur;
		snprintf(last, sizeof(last), "%s", tok);
		if (idx >= 0) {
			json_object *arr = NULL;

			assert_true(json_object_object_get_ex(cur, tok, &arr));
			parent = arr;
			cur = json_object_array_get_idx(arr, (size_t)idx);
		} else if (!json_object_object_get_ex(cur, tok, &cur))
			cur = NULL;
	}
	if (idx >= 0)
		json_object_array_put_idx(parent, (size_t)idx, v);
	else
		json_object_object_add(parent, last, v);
}

static void
write_text(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static json_object *
jparse(const char *v)
{
	return json_tokener_parse(v);
}

static void
test_corrupt(void **state)
{
	/* path, new value (JSON text; "DEL" removes the member), wanted text */
	static const struct { const char *path, *value, *want; } cases[] = {
		{ "version", "2", "field version: 2 is not supported" },
		{ "version", "\"1\"", "field version: expected an integer" },
		{ "version", "DEL", "field version: missing" },
		{ "colour", "1", "field colour: unknown member" },
		{ "target", "\"\"", "field target: expected a target name" },
		{ "target", "\"web1\\u0000x\"", "field target:" },
		{ "release", "\"6.1\\n\"", "field release: expected 1 to 64 printable" },
		{ "release", "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
		  "field release:" },
		{ "release", "7", "field release: expected a string, not an integer" },
		{ "paired_at", "\"yesterday\"", "field paired_at: expected an RFC 3339" },
		{ "paired_at", "\"2026-13-01T00:00:00Z\"", "field paired_at:" },
		{ "paired_at", "\"2026-01-01T00:00:00\"", "field paired_at:" },
		{ "slide", "\"2a00000\"", "field slide: expected \"0x\"" },
		{ "slide", "\"0x\"", "field slide:" },
		{ "slide", "\"0x10000000000000000\"", "field slide:" },
		{ "slide", "\"0xfg\"", "field slide:" },
		{ "baseline", "[]", "field baseline: expected an object, not an array" },
		{ "baseline.extra", "{}", "field baseline.extra: unknown member" },
		{ "baseline.syscalls", "[]", "field baseline.syscalls: 0 entries, expected 1 to 1024" },
		{ "baseline.syscalls[3]", "\"0xffffffff8100000000\"", "field baseline.syscalls[3]:" },
		{ "baseline.syscalls[4]", "5", "field baseline.syscalls[4]:" },
		{ "baseline.idt", "[\"0x1\"]", "field baseline.idt: 1 entries, expected 256" },
		{ "baseline.idt[255]", "null", "field baseline.idt[255]:" },
		{ "baseline.text", "DEL", "field baseline.text: missing" },
		{ "baseline.text.start", "\"0x1000\"", "field baseline.text.start: 0x1000 is not a kernel address" },
		{ "baseline.text.end", "\"0xffffffff83a00000\"", "field baseline.text.end: 0xffffffff83a00000 is not above start" },
		{ "baseline.text.end", "\"0xffffffff83a01000\"", "field baseline.text.pages: 3 page hashes for a range of 1 pages" },
		{ "baseline.text.end", "\"0xffffffff83a04000\"", "field baseline.text.pages: 3 page hashes for a range of 4 pages" },
		{ "baseline.text.end", "\"0xffffffffffffffff\"", "field baseline.text.end: range of" },
		{ "baseline.text.pages[1]", "\"00\"", "field baseline.text.pages[1]: expected 64 hex digits" },
		{ "baseline.text.pages[2]",
		  "\"g000000000000000000000000000000000000000000000000000000000000000\"",
		  "field baseline.text.pages[2]:" },
		{ "baseline.rodata.pages", "[]", "field baseline.rodata.pages: 0 page hashes for a range of 2 pages" },
		{ "baseline.rodata.size", "1", "field baseline.rodata.size: unknown member" },
		{ "runs", "-1", "field runs: -1 is negative" },
		{ "runs", "1.5", "field runs: expected an integer" },
		{ "last_run", "\"2026\"", "field last_run:" },
		{ "last_run", "DEL", "field last_run: missing" },
		{ "last_findings", "{}", "field last_findings: expected an array" },
		{ "last_findings[0]", "[]", "field last_findings[0]: expected an object" },
		{ "last_findings[0].check", "\"rootkit\"", "field last_findings[0].check: not a check name" },
		{ "last_findings[0].check", "DEL", "field last_findings[0].check: missing" },
		{ "last_findings[1].type", "\"hook\"", "field last_findings[1].type: not a finding type" },
		{ "last_findings[1].critical", "1", "field last_findings[1].critical: expected a boolean" },
		{ "last_findings[1].pid", "4294967296", "field last_findings[1].pid: 4294967296 is out of range" },
		{ "last_findings[1].pid", "-2", "field last_findings[1].pid:" },
		{ "last_findings[0].addr", "\"12\"", "field last_findings[0].addr:" },
		{ "last_findings[0].index", "DEL", "field last_findings[0].index: missing" },
		{ "last_findings[0].why", "\"x\"", "field last_findings[0].why: unknown member" },
		{ "last_findings[0].expected_sym", "3", "field last_findings[0].expected_sym: expected a string or null" },
		{ "last_findings[2].detail", "\"x\\u0000y\"", "field last_findings[2].detail:" },
	};
	struct guard *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct vouch_err e = VOUCH_ERR_INIT;
	char *good;
	uint8_t *buf;
	size_t i, len;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	synth(a);
	assert_int_equal(guard_state_save(a, path, &e), 0);
	assert_int_equal(file_read(path, 1 << 20, &buf, &len, &e), 0);
	good = (char *)buf;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *root = json_tokener_parse(good);
		int r;

		assert_non_null(root);
		if (strcmp(cases[i].value, "DEL") == 0) {
			/* only top-level or one-level-deep deletes are used */
			const char *dot = strrchr(cases[i].path, '.');

			if (dot == NULL)
				json_object_object_del(root, cases[i].path);
			else {
				char head[64];
				json_object *p = root;

				snprintf(head, sizeof(head), "%.*s",
				    (int)(dot - cases[i].path), cases[i].path);
				if (strchr(head, '[') != NULL) {
					json_object *arr;
					json_object_object_get_ex(root,
					    "last_findings", &arr);
					p = json_object_array_get_idx(arr,
					    (size_t)strtol(strchr(head, '[') + 1,
					    NULL, 10));
				} else
					json_object_object_get_ex(root, head, &p);
				json_object_object_del(p, dot + 1);
			}
		} else
			jset(root, cases[i].path, jparse(cases[i].value));
		write_text(json_object_to_json_string_ext(root,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(root);
		snprintf(b->conf.target, sizeof(b->conf.target), "web1");
		r = guard_state_load(b, path, &e);
		if (r >= 0 || strstr(e.msg, cases[i].want) == NULL)
			fail_msg("case %zu (%s): r %d msg '%s', want '%s'", i,
			    cases[i].path, r, e.msg, cases[i].want);
		assert_int_equal(b->have_base, 0);
		assert_int_equal(b->last.n, 0);
	}
	/* not JSON, trailing data, nesting, NUL */
	{
		static const char *const bad[] = { "", "{", "[1]", "null",
		    "{\"version\": 1} x", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]" };

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			write_text(bad[i]);
			if (guard_state_load(b, path, &e) >= 0)
				fail_msg("'%s' accepted", bad[i]);
		}
	}
	/* every truncation of a good state is refused */
	for (len = 0; len + 1 < strlen(good); len += 3) {
		FILE *f = fopen(path, "w");
		int r;

		assert_non_null(f);
		fwrite(good, 1, len, f);
		fclose(f);
		if ((r = guard_state_load(b, path, &e)) >= 0)
			fail_msg("truncated at %zu accepted", len);
		assert_int_equal(b->have_base, 0);
	}
	/* and the good one still loads */
	write_text(good);
	assert_int_equal(guard_state_load(b, path, &e), 0);
	free(good);
	unsynth(a);
	unsynth(b);
	free(a);
	free(b);
}

static void
test_finding_json(void **state)
{
	struct guard *a = calloc(1, sizeof(*a));
	json_object *o, *m;
	char *text = NULL;
	size_t size = 0;
	FILE *f;

	(void)state;
	assert_non_null(a);
	synth(a);
	f = open_memstream(&text, &size);
	assert_non_null(f);
	guard_finding_json(a, &a->last.v[0], f);
	fclose(f);
	assert_null(strchr(text, '\n'));	/* one line */
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "target", &m));
	assert_string_equal(json_object_get_string(m), "web1");
	assert_true(json_object_object_get_ex(o, "check", &m));
	assert_string_equal(json_object_get_string(m), "syscall_table");
	assert_true(json_object_object_get_ex(o, "type", &m));
	assert_string_equal(json_object_get_string(m), "syscall_hook");
	assert_true(json_object_object_get_ex(o, "critical", &m));
	assert_true(json_object_get_boolean(m));
	assert_true(json_object_object_get_ex(o, "index", &m));
	assert_int_equal(json_object_get_int64(m), 39);
	assert_true(json_object_object_get_ex(o, "actual", &m));
	assert_string_equal(json_object_get_string(m), "0xffffffffc0a01000");
	assert_true(json_object_object_get_ex(o, "time", &m));
	assert_string_equal(json_object_get_string(m), "2026-11-18T11:23:19.456Z");
	/* no profile: the symbol members are null */
	assert_true(json_object_object_get_ex(o, "expected_sym", &m));
	assert_null(m);
	/* escaping survives */
	assert_true(json_object_object_get_ex(o, "detail", &m));
	assert_string_equal(json_object_get_string(m), a->last.v[0].detail);
	json_object_put(o);
	free(text);
	unsynth(a);
	free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test(test_finding_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
