/*
 * test_evacuate - vouchd's migration executor: the site hook's JSON
 * parser, the order admission rules (wrong peer, wrong source, duplicate
 * id, same target twice, ...), the hook runner (argv, exit status,
 * stderr, timeout, VOUCH_HOST) and the migration section of vouchd's
 * configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "attest/agent_conf.h"
#include "attest/evacuate.h"

/* ---- hook replies ---- */

static int
parse(enum evac_verb v, const char *json, struct evac_hook_reply *r,
    struct vouch_err *e)
{
	return evac_hook_parse(v, json, strlen(json), r, e);
}

static void
test_locate_ok(void **state)
{
	struct evac_hook_reply r;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_int_equal(parse(EVAC_LOCATE, "{\"qmp\": \"/v/t/qmp.sock\", "
	    "\"mem\": \"/dev/shm/x\", \"window\": \"win\"}\n", &r, &e), 0);
	assert_string_equal(r.qmp, "/v/t/qmp.sock");
	assert_string_equal(r.mem, "/dev/shm/x");
	assert_string_equal(r.window, "win");
	/* window is optional (targets have none) */
	assert_int_equal(parse(EVAC_LOCATE, "{\"qmp\": \"/q\", \"mem\": "
	    "\"/m\"}", &r, &e), 0);
	assert_string_equal(r.window, "");
}

static void
test_locate_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1, 2]",
		"{\"qmp\": \"/q\"}",				/* mem missing */
		"{\"qmp\": \"q\", \"mem\": \"/m\"}",		/* relative */
		"{\"qmp\": 5, \"mem\": \"/m\"}",		/* type */
		"{\"qmp\": \"/q\", \"mem\": \"/m\", \"x\": \"1\"}", /* unknown */
		"{\"qmp\": \"/q\", \"mem\": \"/m\"} trailing",
		"{\"qmp\": \"/q\", \"mem\": \"/m\", \"window\": \"a b\"}",
		"{\"qmp\": \"/q\\u0001\", \"mem\": \"/m\"}",	/* control */
		"{\"qmp\": \"/q\\u0000x\", \"mem\": \"/m\"}",	/* NUL */
		NULL
	};
	struct evac_hook_reply r;
	struct vouch_err e = VOUCH_ERR_INIT;
	char longpath[400];
	char json[600];
	size_t i;

	(void)state;
	memset(&r, 0x5a, sizeof(r));
	for (i = 0; bad[i] != NULL; i++) {
		e.msg[0] = '\0';
		assert_true(parse(EVAC_LOCATE, bad[i], &r, &e) < 0);
		assert_true(strncmp(e.msg, "hook locate", 11) == 0);
	}
	/* nothing written on failure */
	assert_int_equal((unsigned char)r.qmp[0], 0x5a);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"qmp\": \"%s\", \"mem\": \"/m\"}",
	    longpath);
	assert_true(parse(EVAC_LOCATE, json, &r, &e) < 0);
	assert_non_null(strstr(e.msg, "qmp"));
}

#define PREP(tls_src, tls_dst, peer, uri) \
	"{\"target_qmp\": \"/d/t/qmp.sock\", \"guard_qmp\": \"/d/g/qmp.sock\"," \
	" \"target_uri\": \"" uri "\", \"guard_uri\": \"tcp:127.0.0.1:4002\"," \
	" \"target_mem\": \"/dev/shm/t\", \"peer\": \"" peer "\"," \
	" \"tls_src\": \"" tls_src "\", \"tls_dst\": \"" tls_dst "\"}"

static void
test_prepare(void **state)
{
	struct evac_hook_reply r;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_int_equal(parse(EVAC_PREPARE, PREP("/s", "/d", "h3",
	    "tcp:127.0.0.1:4001"), &r, &e), 0);
	assert_string_equal(r.target_qmp, "/d/t/qmp.sock");
	assert_string_equal(r.guard_qmp, "/d/g/qmp.sock");
	assert_string_equal(r.target_uri, "tcp:127.0.0.1:4001");
	assert_string_equal(r.guard_uri, "tcp:127.0.0.1:4002");
	assert_string_equal(r.target_mem, "/dev/shm/t");
	assert_string_equal(r.peer, "h3");
	assert_string_equal(r.tls_src, "/s");
	assert_string_equal(r.tls_dst, "/d");
	/* no TLS: both empty */
	assert_int_equal(parse(EVAC_PREPARE, PREP("", "", "h3",
	    "unix:/run/m.sock"), &r, &e), 0);
	/* half TLS, bad peer, bad URI, a locate reply */
	assert_true(parse(EVAC_PREPARE, PREP("/s", "", "h3",
	    "tcp:127.0.0.1:4001"), &r, &e) < 0);
	assert_non_null(strstr(e.msg, "tls"));
	assert_true(parse(EVAC_PREPARE, PREP("", "", "H3!",
	    "tcp:127.0.0.1:4001"), &r, &e) < 0);
	assert_non_null(strstr(e.msg, "peer"));
	assert_true(parse(EVAC_PREPARE, PREP("", "", "h3", "exec:sh"), &r,
	    &e) < 0);
	assert_non_null(strstr(e.msg, "target_uri"));
	assert_true(parse(EVAC_PREPARE, "{\"qmp\": \"/q\", \"mem\": \"/m\"}",
	    &r, &e) < 0);
}

/* ---- admission ---- */

static struct evac_book book;

static int
setup_book(void **state)
{
	(void)state;
	memset(&book, 0, sizeof(book));
	book.self = "h1";
	book.tcbd = "tcbd";
	book.enabled = 1;
	book.strategy = AGENT_MIG_ANY;
	return 0;
}

static const char *
order_json(char *buf, size_t cap, unsigned id, const char *target,
    const char *guard, const char *source, const char *strategy)
{
	snprintf(buf, cap, "{\"id\": %u, \"target\": \"%s\", \"guard\": \"%s\","
	    " \"mode\": \"evacuate\", \"strategy\": \"%s\", \"source\": \"%s\","
	    " \"dests\": [\"h3\", \"h2\"]}", id, target, guard, strategy,
	    source);
	return buf;
}

static int
admit(const char *peer, uint64_t seq, const char *json, struct mig_order *o,
    struct vouch_err *e)
{
	return evac_admit(&book, peer, seq, json, strlen(json), o, e);
}

static void
test_admit_ok(void **state)
{
	struct mig_order o;
	struct vouch_err e = VOUCH_ERR_INIT;
	char j[512];

	(void)state;
	assert_int_equal(admit("tcbd", 17, order_json(j, sizeof(j), 17, "t1",
	    "g1", "h1", "plain"), &o, &e), 0);
	assert_int_equal(o.id, 17);
	assert_string_equal(o.target, "t1");
	assert_string_equal(o.guard, "g1");
	assert_int_equal(o.ndests, 2);
	assert_string_equal(o.dests[0], "h3");
	assert_int_equal(book.nrunning, 1);
	assert_int_equal(book.nseen, 1);
	/* another pair runs in parallel */
	assert_int_equal(admit("tcbd", 18, order_json(j, sizeof(j), 18, "t2",
	    "g2", "h1", "standby"), &o, &e), 0);
	assert_int_equal(book.nrunning, 2);
}

static void
test_admit_wrong_peer(void **state)
{
	struct mig_order o;
	struct vouch_err e = VOUCH_ERR_INIT;
	char j[512];

	(void)state;
	memset(&o, 0x5a, sizeof(o));
	order_json(j, sizeof(j), 17, "t1", "g1", "h1", "plain");
	assert_int_equal(admit("h2", 17, j, &o, &e), VOUCH_E_STATE);
	assert_non_null(strstr(e.msg, "only from"));
	assert_int_equal(admit("tcbd2", 17, j, &o, &e), VOUCH_E_STATE);
	assert_int_equal(admit(NULL, 17, j, &o, &e), VOUCH_E_STATE);
	assert_int_equal(book.nseen, 0);
	assert_int_equal(book.nrunning, 0);
	assert_int_equal((unsigned char)o.target[0], 0x5a);
	/* a refused peer does not burn the id: tcbd's order still runs */
	assert_int_equal(admit("tcbd", 17, j, &o, &e), 0);
}

static void
test_admit_wrong_source(void **state)
{
	struct mig_order o;
	struct vouch_err e = VOUCH_ERR_INIT;
	char j[512];

	(void)state;
	assert_int_equal(admit("tcbd", 17, order_json(j, sizeof(j), 17, "t1",
	    "g1", "h5", "plain"), &o, &e), VOUCH_E_STATE);
	assert_non_null(strstr(e.msg, "source"));
	assert_int_equal(book.nrunning, 0);
}

static void
test_admit_duplicate_id(void **state)
{
	struct mig_order o;
	struct vouch_err e = VOUCH_ERR_INIT;
	char j[512];

	(void)state;
	order_json(j, sizeof(j), 17, "t1", "g1", "h1", "plain");
	assert_int_equal(admit("tcbd", 17, j, &o, &e), 0);
	/*
	 * The same order again (tcbd lost the ACK), while running and after
	 * it ended: acknowledged (1), never admitted to run again.
	 */
	assert_int_equal(admit("tcbd", 17, j, &o, &e), 1);
	assert_int_equal(book.nrunning, 1);
	evac_book_done(&book, 17);
	assert_int_equal(book.nrunning, 0);
	assert_int_equal(admit("tcbd", 17, j, &o, &e), 1);
	assert_int_equal(book.nrunning, 0);
	assert_int_equal(book.nseen, 1);
	/* the same id for another pair: refused */
	assert_int_equal(admit("tcbd", 17, order_json(j, sizeof(j), 17, "t9",
	    "g9", "h1", "plain"), &o, &e), VOUCH_E_EXISTS);
	assert_non_null(strstr(e.msg, "never run twice"));
	assert_int_equal(admit("tcbd", 17, order_json(j, sizeof(j), 17, "t1",
	    "g2", "h1", "plain"), &o, &e), VOUCH_E_EXISTS);
	/* ids loaded from state_dir/evac-ids count as seen */
	evac_book_seen(&book, 30, "t3", "g3");
	assert_int_equal(admit("tcbd", 30, order_json(j, sizeof(j), 30, "t3",
	    "g3", "h1", "plain"), &o, &e), 1);
	assert_int_equal(book.nrunning, 0);
}

static void
test_admit_same_target_twice(void **state)
{
	struct mig_order o;
	struct vouch_err e = VOUCH_ERR_INIT;
	char j[512];

	(void)state;
	assert_int_equal(admit("tcbd", 17, order_json(j, sizeof(j), 17, "t1",
	    "g1", "h1", "plain"), &o, &e), 0);
	assert_int_equal(admit("tcbd", 18, order_json(j, sizeof(j), 18, "t1",
	    "g1", "h1", "plain"), &o, &e), VOUCH_E_EXISTS);
	assert_non_null(strstr(e.msg, "being migrated by order 17"));
	/* the guard alone, or a name swapped, is the same pair too */
	assert_int_equal(admit("tcbd", 19, order_json(j, sizeof(j), 19, "t5",
	    "g1", "h1", "plain"), &o, &e), VOUCH_E_EXISTS);
	assert_int_equal(admit("tcbd", 20, order_json(j, sizeof(j), 20, "g1",
	    "g7", "h1", "plain"), &o, &e), VOUCH_E_EXISTS);
	/* once 17 ended, a new order (new id) for t1 is admitted */
	evac_book_done(&book, 17);
	assert_int_equal(admit("tcbd", 21, order_json(j, sizeof(j), 21, "t1",
	    "g1", "h1", "plain"), &o, &e), 0);
}

static void
test_admit_other_refusals(void **state)
{
	struct mig_order o;
	struct vouch_err e = VOUCH_ERR_INIT;
	char j[512];
	unsigned i;

	(void)state;
	order_json(j, sizeof(j), 17, "t1", "g1", "h1", "plain");
	/* SEQ is not the id */
	assert_int_equal(admit("tcbd", 16, j, &o, &e), VOUCH_E_FORMAT);
	/* not an order */
	assert_int_equal(admit("tcbd", 17, "{\"id\": 17}", &o, &e),
	    VOUCH_E_FORMAT);
	/* no migration section */
	book.enabled = 0;
	assert_int_equal(admit("tcbd", 17, j, &o, &e), VOUCH_E_STATE);
	assert_non_null(strstr(e.msg, "no migration section"));
	book.enabled = 1;
	/* strategy this host does not run */
	book.strategy = AGENT_MIG_STANDBY;
	assert_int_equal(admit("tcbd", 17, j, &o, &e), VOUCH_E_STATE);
	assert_non_null(strstr(e.msg, "strategy"));
	book.strategy = AGENT_MIG_ANY;
	assert_int_equal(book.nseen, 0);
	/* at most EVAC_RUNNING_MAX at once */
	for (i = 0; i < EVAC_RUNNING_MAX; i++) {
		char t[16], g[16];

		snprintf(t, sizeof(t), "t%u", i);
		snprintf(g, sizeof(g), "g%u", i);
		assert_int_equal(admit("tcbd", 100 + i, order_json(j, sizeof(j),
		    100 + i, t, g, "h1", "plain"), &o, &e), 0);
	}
	assert_int_equal(admit("tcbd", 200, order_json(j, sizeof(j), 200,
	    "tx", "gx", "h1", "plain"), &o, &e), VOUCH_E_STATE);
	evac_book_done(&book, 103);
	assert_int_equal(admit("tcbd", 200, j, &o, &e), 0);
}

/* ---- the hook runner ---- */

static char dir[] = "/tmp/test_evacuate.XXXXXX";
static char hookpath[300];

static int
setup_hook(void **state)
{
	FILE *f;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(hookpath, sizeof(hookpath), "%s/hook", dir);
	if ((f = fopen(hookpath, "w")) == NULL)
		return -1;
	fputs("#!/bin/sh\n"
	    "case \"$2\" in\n"
	    "echo) b=$1; shift 2; echo \"$VOUCH_HOST $b $*\" ;;\n"
	    "fail) echo \"it broke\" >&2; exit 3 ;;\n"
	    "sleep) exec sleep 30 ;;\n"
	    "daemon) (sleep 30 &) ; echo started ;;\n"
	    "esac\n", f);
	fclose(f);
	chmod(hookpath, 0755);
	return 0;
}

static int
teardown_hook(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_hook_run(void **state)
{
	struct agent_migration m;
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *echo[] = { "echo", "a b", "c" }, *fail[] = { "fail" },
	    *slp[] = { "sleep" }, *dmn[] = { "daemon" };
	char out[256];
	int64_t t0;

	(void)state;
	memset(&m, 0, sizeof(m));
	snprintf(m.hook, sizeof(m.hook), "%s", hookpath);
	snprintf(m.hook_args[0], sizeof(m.hook_args[0]), "BASE");
	m.nhook_args = 1;
	/* argv stays argv (no shell splitting), VOUCH_HOST set */
	assert_int_equal(evac_hook_run(&m, "h1", echo, 3, 5000, out,
	    sizeof(out), &e), 0);
	assert_string_equal(out, "h1 BASE a b c\n");
	/* exit status and stderr in the message */
	assert_int_equal(evac_hook_run(&m, "h1", fail, 1, 5000, out,
	    sizeof(out), &e), VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "exit 3"));
	assert_non_null(strstr(e.msg, "it broke"));
	/* timeout */
	t0 = mono_ms();
	assert_int_equal(evac_hook_run(&m, "h1", slp, 1, 300, out,
	    sizeof(out), &e), VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "killed"));
	assert_true(mono_ms() - t0 < 5000);
	/* a daemon holding stdout open does not hold the hook up */
	t0 = mono_ms();
	assert_int_equal(evac_hook_run(&m, "h1", dmn, 1, 10000, out,
	    sizeof(out), &e), 0);
	assert_string_equal(out, "started\n");
	assert_true(mono_ms() - t0 < 5000);
	/* a missing hook */
	snprintf(m.hook, sizeof(m.hook), "%s/none", dir);
	assert_int_equal(evac_hook_run(&m, "h1", echo, 3, 5000, out,
	    sizeof(out), &e), VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "exit 127"));
}

/* ---- configuration ---- */

static char *
conf_text(const char *migration)
{
	static char buf[4096];

	/* region and policy files from the unit-test data */
	snprintf(buf, sizeof(buf),
	    "host = \"h1\";\nstate_dir = \"/tmp\";\n"
	    "region = \"%s/region.cfg\";\npolicy = \"%s/policy.cfg\";\n"
	    "tls = { cert = \"/c\"; key = \"/k\"; ca = \"/a\"; };\n%s",
	    dir, dir, migration);
	return buf;
}

static int
setup_conf(void **state)
{
	FILE *f;
	char p[400];

	if (setup_hook(state) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/region.cfg", dir);
	if ((f = fopen(p, "w")) == NULL)
		return -1;
	fputs("region = { name = \"lab-x\"; tcbd = { name = \"tcbd\"; addr = "
	    "\"127.0.0.1\"; port = 7000; }; hosts = ( { name = \"h1\"; addr = "
	    "\"127.0.0.1\"; port = 7001; } ); };\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/policy.cfg", dir);
	if ((f = fopen(p, "w")) == NULL)
		return -1;
	fputs("version = 1;\nname = \"p\";\nattestation = { pcrs = "
	    "\"sha256:23\"; runtime_pcr = 23; };\n", f);
	fclose(f);
	return 0;
}

static void
test_conf(void **state)
{
	struct agent_conf *c = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_int_equal(agent_conf_load_string("v.cfg", conf_text(""), &c,
	    &e), 0);
	assert_int_equal(c->migration.enabled, 0);
	agent_conf_free(c);
	c = NULL;
	assert_int_equal(agent_conf_load_string("v.cfg", conf_text(
	    "migration = { hook = \"/usr/lib/vmhook\"; hook_args = [ \"/srv\","
	    " \"x y\" ]; strategy = \"plain\"; stream_timeout = 60; max_bw = "
	    "1000000; };\n"), &c, &e), 0);
	assert_int_equal(c->migration.enabled, 1);
	assert_string_equal(c->migration.hook, "/usr/lib/vmhook");
	assert_int_equal(c->migration.nhook_args, 2);
	assert_string_equal(c->migration.hook_args[1], "x y");
	assert_int_equal(c->migration.strategy, AGENT_MIG_PLAIN);
	assert_int_equal(c->migration.stream_timeout, 60);
	assert_int_equal(c->migration.max_bw, 1000000);
	assert_int_equal(c->migration.hook_timeout, 300);
	agent_conf_free(c);
	c = NULL;
	/* errors carry file:line and the field */
	assert_true(agent_conf_load_string("v.cfg", conf_text(
	    "migration = { hook = \"rel/hook\"; };\n"), &c, &e) < 0);
	assert_non_null(strstr(e.msg, ":6: migration.hook"));
	assert_non_null(strstr(e.msg, "absolute"));
	assert_true(agent_conf_load_string("v.cfg", conf_text(
	    "migration = { hook = \"/h\"; strategy = \"fast\"; };\n"), &c,
	    &e) < 0);
	assert_non_null(strstr(e.msg, "fast"));
	assert_true(agent_conf_load_string("v.cfg", conf_text(
	    "migration = { hook = \"/h\"; stream_timeout = 0; };\n"), &c,
	    &e) < 0);
	assert_true(agent_conf_load_string("v.cfg", conf_text(
	    "migration = { hook = \"/h\"; hook_args = [ 1 ]; };\n"), &c,
	    &e) < 0);
	assert_true(agent_conf_load_string("v.cfg", conf_text(
	    "migration = { hook = \"/h\"; shell = \"sh\"; };\n"), &c,
	    &e) < 0);
	assert_non_null(strstr(e.msg, "shell"));
	assert_true(agent_conf_load_string("v.cfg", conf_text(
	    "migration = { strategy = \"plain\"; };\n"), &c, &e) < 0);
	assert_non_null(strstr(e.msg, "hook"));
	assert_null(c);
}

int
main(void)
{
	const struct CMUnitTest parser[] = {
		cmocka_unit_test(test_locate_ok),
		cmocka_unit_test(test_locate_bad),
		cmocka_unit_test(test_prepare),
	};
	const struct CMUnitTest admission[] = {
		cmocka_unit_test_setup(test_admit_ok, setup_book),
		cmocka_unit_test_setup(test_admit_wrong_peer, setup_book),
		cmocka_unit_test_setup(test_admit_wrong_source, setup_book),
		cmocka_unit_test_setup(test_admit_duplicate_id, setup_book),
		cmocka_unit_test_setup(test_admit_same_target_twice, setup_book),
		cmocka_unit_test_setup(test_admit_other_refusals, setup_book),
	};
	const struct CMUnitTest runner[] = {
		cmocka_unit_test(test_hook_run),
		cmocka_unit_test(test_conf),
	};
	int r = 0;

	r |= cmocka_run_group_tests_name("hook replies", parser, NULL, NULL);
	r |= cmocka_run_group_tests_name("admission", admission, NULL, NULL);
	r |= cmocka_run_group_tests_name("hook runner and config", runner,
	    setup_conf, teardown_hook);
	return r;
}
