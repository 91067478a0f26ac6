/*
 * Unit tests: tcb/store.c + tcb/store_sqlite.c - round trip, reopen,
 * crash safety (a child killed with SIGKILL, or _exit()ing without
 * closing, loses nothing it acknowledged), schema versioning, and a fake
 * backend that fails a commit to prove store_sync rolls back and keeps
 * the dirty list; deferred commits and their durability tickets.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "tcb/ivt.h"
#include "tcb/store.h"

#define T0	1000000

static char dir[64];
static char db[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vouch-store.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(db, sizeof(db), "%s/ivt.db", dir);
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

static int
vd(struct ivt *t, const char *subj, const char *ver, int64_t time,
    enum ivt_result r, struct ivt_actions *a)
{
	struct ivt_verdict v = { subj, ver, time, r, 1, "why" };

	return ivt_verdict(t, &v, a, NULL, NULL);
}

/* A region with something in every field: trusted, accused, untrusted,
 * disproved, unenrolled, capacity. */
static struct ivt *
populated(struct ivt_actions *a)
{
	struct ivt_config c;
	struct ivt *t = NULL;
	char name[8];
	int i;

	ivt_config_default(&c);
	assert_int_equal(ivt_new(&c, &t, NULL), 0);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		assert_int_equal(ivt_host_join(t, name, 1, T0, a, NULL, NULL), 0);
	}
	assert_int_equal(ivt_host_join(t, "new", 0, T0, a, NULL, NULL), 0);
	assert_int_equal(ivt_host_capacity(t, "h0", 12, 24576, T0, NULL, NULL), 0);
	assert_int_equal(vd(t, "h0", "h1", T0 + 1, IVT_PASS, a), 0);
	assert_int_equal(vd(t, "h0", "h2", T0 + 2, IVT_PASS, a), 0);
	assert_int_equal(vd(t, "h1", "h2", T0 + 3, IVT_PASS, a), 0);
	assert_int_equal(vd(t, "h1", "h3", T0 + 4, IVT_FAIL, a), 0);	/* lie */
	assert_int_equal(ivt_direct_result(t, "h1", T0 + 5, IVT_PASS, "ok", a,
	    NULL, NULL), 0);
	assert_int_equal(vd(t, "h2", "h3", T0 + 6, IVT_FAIL, a), 0);	/* open */
	assert_int_equal(vd(t, "h4", "h5", T0 + 7, IVT_FAIL, a), 0);
	assert_int_equal(ivt_direct_result(t, "h4", T0 + 8, IVT_FAIL, "pcr", a,
	    NULL, NULL), 0);
	assert_int_equal(vd(t, "h5", "h0", T0 + 9, IVT_UNREACH, a), 0);
	return t;
}

static void
rec_equal(const struct ivt_host_rec *x, const struct ivt_host_rec *y)
{
	unsigned i;

	assert_string_equal(x->name, y->name);
	assert_int_equal(x->state, y->state);
	assert_int_equal(x->since, y->since);
	assert_int_equal(x->enrolled, y->enrolled);
	assert_int_equal(x->reset_known, y->reset_known);
	assert_int_equal(x->reset_count, y->reset_count);
	assert_int_equal(x->spare_vcpus, y->spare_vcpus);
	assert_int_equal(x->spare_mib, y->spare_mib);
	assert_int_equal(x->passes, y->passes);
	assert_int_equal(x->fails, y->fails);
	assert_int_equal(x->pass_streak, y->pass_streak);
	assert_int_equal(x->suspect_episodes, y->suspect_episodes);
	assert_int_equal(x->last_suspect_at, y->last_suspect_at);
	assert_int_equal(x->disproved, y->disproved);
	assert_int_equal(x->untrusted, y->untrusted);
	assert_int_equal(x->accused, y->accused);
	assert_int_equal(x->direct_unreach, y->direct_unreach);
	assert_int_equal(x->direct_requested_at, y->direct_requested_at);
	assert_int_equal(x->direct_pass_at, y->direct_pass_at);
	assert_int_equal(x->rep_n, y->rep_n);
	assert_int_equal(x->rep_k, y->rep_k);
	assert_int_equal(x->quorum_at, y->quorum_at);
	assert_int_equal(x->fresh_passes, y->fresh_passes);
	assert_int_equal(x->nslot, y->nslot);
	for (i = 0; i < x->nslot; i++) {
		assert_string_equal(x->slot[i].verifier, y->slot[i].verifier);
		assert_int_equal(x->slot[i].time, y->slot[i].time);
		assert_int_equal(x->slot[i].result, y->slot[i].result);
		assert_int_equal(x->slot[i].reset_count, y->slot[i].reset_count);
		assert_int_equal(x->slot[i].disproved, y->slot[i].disproved);
		assert_int_equal(x->slot[i].accuser, y->slot[i].accuser);
		assert_string_equal(x->slot[i].reason, y->slot[i].reason);
	}
}

static void
ivt_equal(const struct ivt *a, const struct ivt *b)
{
	struct ivt_host_rec x, y;
	size_t i;

	assert_int_equal(ivt_size(a), ivt_size(b));
	for (i = 0; i < ivt_size(a); i++) {
		assert_string_equal(ivt_host_name(a, i), ivt_host_name(b, i));
		assert_int_equal(ivt_host_get(a, ivt_host_name(a, i), &x, NULL), 0);
		assert_int_equal(ivt_host_get(b, ivt_host_name(a, i), &y, NULL), 0);
		rec_equal(&x, &y);
	}
}

static struct ivt *
reload(struct ivt_actions *a, int64_t now)
{
	struct ivt_config c;
	struct store *s = NULL;
	struct ivt *u = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;

	ivt_config_default(&c);
	assert_int_equal(ivt_new(&c, &u, NULL), 0);
	assert_int_equal(store_open(db, &s, &e), 0);
	if (store_load(s, u, now, a, &e) < 0)
		fail_msg("load: %s", e.msg);
	store_free(s);
	return u;
}

static void
test_round_trip(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt_action ev[256];
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = populated(&a), *u;
	struct store *s = NULL;
	size_t nacts = a.n;
	int n;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	assert_string_equal(store_backend(s)->name, "sqlite");
	assert_int_equal(store_sync(s, t, &a, &e), 0);
	assert_int_equal(ivt_dirty_count(t), 0);
	n = store_events(s, 0, ev, 256, &e);
	assert_int_equal(n, (int)nacts);
	assert_int_equal(ev[0].kind, a.v[0].kind);
	assert_string_equal(ev[n - 1].host, a.v[nacts - 1].host);
	assert_string_equal(ev[n - 1].reason, a.v[nacts - 1].reason);
	assert_int_equal(store_events(s, n - 1, ev, 256, &e), 1);
	store_free(s);
	store_free(NULL);

	ivt_actions_reset(&a);
	u = reload(&a, ivt_now(t));
	assert_int_equal(a.n, 0);	/* nothing changed while "down" */
	ivt_equal(t, u);
	ivt_free(u);

	/* More changes, a leave (rows deleted), a second transaction. */
	ivt_actions_reset(&a);
	assert_int_equal(ivt_host_leave(t, "h3", T0 + 20, &a, NULL, NULL), 0);
	assert_int_equal(vd(t, "h0", "h1", T0 + 21, IVT_PASS, &a), 0);
	assert_int_equal(store_open("sqlite:" "", &s, &e) < 0, 1);
	{
		char uri[160];

		snprintf(uri, sizeof(uri), "sqlite:%s", db);
		assert_int_equal(store_open(uri, &s, &e), 0);
	}
	assert_int_equal(store_sync(s, t, &a, &e), 0);
	store_free(s);
	ivt_actions_reset(&a);
	u = reload(&a, ivt_now(t));
	ivt_equal(t, u);
	ivt_free(u);
	ivt_free(t);
	ivt_actions_free(&a);
}

/* Number of hosts with a STATE action (each is listed once). */
static size_t
st_count(const struct ivt_actions *a)
{
	size_t i, n = 0;

	for (i = 0; i < a->n; i++)
		n += a->v[i].kind == IVT_ACT_STATE;
	return n;
}

static void
test_reload_after_downtime(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt *t = populated(&a), *u;
	struct store *s = NULL;
	size_t i, expired = 0;

	(void)state;
	assert_int_equal(store_open(db, &s, NULL), 0);
	assert_int_equal(store_sync(s, t, &a, NULL), 0);
	store_free(s);
	ivt_actions_reset(&a);
	/* Restarted ten minutes later: h0's quorum has expired. */
	u = reload(&a, T0 + 600000);
	for (i = 0; i < a.n; i++)
		if (a.v[i].kind == IVT_ACT_STATE && strcmp(a.v[i].host, "h0") == 0 &&
		    a.v[i].to == IVT_PENDING)
			expired++;
	assert_int_equal(expired, 1);
	/* what changed while down is dirty, to be written by the next sync */
	for (i = 0, expired = 0; i < ivt_dirty_count(u); i++)
		expired += strcmp(ivt_dirty_name(u, i), "h0") == 0;
	assert_int_equal(expired, 1);
	assert_int_equal(st_count(&a), ivt_dirty_count(u));
	ivt_free(u);
	ivt_free(t);
	ivt_actions_free(&a);
}

/*
 * The child ingests verdicts, one store_sync per verdict, and writes the
 * verdict's number to a pipe only after the sync returned: that is the
 * acknowledgement.  Then it dies (SIGKILL from the parent at a random
 * point, or _exit without closing anything).
 */
static void
child(int fd, int count, int do_exit)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt_config c;
	struct store *s = NULL;
	struct ivt *t = NULL;
	int i;

	ivt_config_default(&c);
	if (ivt_new(&c, &t, NULL) < 0 || store_open(db, &s, NULL) < 0)
		_exit(3);
	if (ivt_host_join(t, "h0", 1, T0, &a, NULL, NULL) < 0 ||
	    ivt_host_join(t, "h1", 1, T0, &a, NULL, NULL) < 0 ||
	    ivt_host_join(t, "h2", 1, T0, &a, NULL, NULL) < 0 ||
	    store_sync(s, t, &a, NULL) < 0)
		_exit(4);
	for (i = 1; count == 0 || i <= count; i++) {
		ivt_actions_reset(&a);
		if (vd(t, "h0", i % 2 ? "h1" : "h2", T0 + i, IVT_PASS, &a) < 0 ||
		    store_sync(s, t, &a, NULL) < 0)
			_exit(5);
		if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
			_exit(6);
	}
	if (do_exit)
		_exit(0);	/* no store_free: nothing closed */
	for (;;)
		pause();
}

static void
check_acked(int acked)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct ivt_host_rec r;
	struct ivt *u = reload(&a, T0 + acked);
	unsigned j;

	assert_int_equal(ivt_host_get(u, "h0", &r, NULL), 0);
	/* every acknowledged PASS is counted (one more may have committed
	 * without its acknowledgement reaching us: that is allowed) */
	assert_true(r.passes >= (uint64_t)acked);
	assert_true(r.passes <= (uint64_t)acked + 1);
	for (j = 0; j < r.nslot; j++) {
		int last = strcmp(r.slot[j].verifier, "h1") == 0 ?
		    (acked % 2 ? acked : acked - 1) : (acked % 2 ? acked - 1 : acked);

		if (last >= 1)
			assert_true(r.slot[j].time >= T0 + last);
	}
	if (acked >= 2)
		assert_int_equal(r.state, IVT_TRUSTED);
	ivt_free(u);
	ivt_actions_free(&a);
}

static void
test_crash_kill9(void **state)
{
	int round;

	(void)state;
	for (round = 0; round < 3; round++) {
		int p[2], acked = 0, v, status, want = 20 + 37 * round;
		pid_t pid;

		setup(NULL);
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child(p[1], 0, 0);
		}
		close(p[1]);
		while (acked < want && read(p[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
			acked = v;
		assert_int_equal(acked, want);
		/* kill mid-flight: the child is writing the next verdicts */
		assert_int_equal(kill(pid, SIGKILL), 0);
		while (read(p[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
			acked = v;	/* acks sent before death count too */
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		close(p[0]);
		check_acked(acked);
		teardown(NULL);
	}
	setup(NULL);
}

static void
test_crash_exit_without_close(void **state)
{
	int p[2], acked = 0, v, status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(p[1], 50, 1);
	}
	close(p[1]);
	while (read(p[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
		acked = v;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(acked, 50);
	check_acked(50);
}

/* A backend whose commit fails on demand, delegating to SQLite. */
static int fail_commit, rollbacks;

static int
fk_commit(void *ctx, struct vouch_err *e)
{
	if (fail_commit) {
		fail_commit = 0;
		return vouch_err_set(e, VOUCH_E_IO, "scripted commit failure");
	}
	return store_sqlite_ops.commit(ctx, e);
}

static void
fk_rollback(void *ctx)
{
	rollbacks++;
	store_sqlite_ops.rollback(ctx);
}

static void
test_sync_failure_keeps_dirty(void **state)
{
	struct store_ops fake = store_sqlite_ops;
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = populated(&a), *u;
	struct store *s = NULL;
	size_t dirty = ivt_dirty_count(t);

	(void)state;
	fake.name = "fake";
	fake.commit = fk_commit;
	fake.rollback = fk_rollback;
	assert_int_equal(store_open_ops(&fake, db, &s, &e), 0);
	fail_commit = 1;
	rollbacks = 0;
	assert_int_equal(store_sync(s, t, &a, &e), VOUCH_E_IO);
	assert_non_null(strstr(e.msg, "scripted"));
	assert_int_equal(rollbacks, 1);
	assert_int_equal(ivt_dirty_count(t), dirty);
	/* Nothing of the failed transaction is visible. */
	{
		struct ivt_action ev[4];

		assert_int_equal(store_events(s, 0, ev, 4, &e), 0);
	}
	assert_int_equal(store_sync(s, t, &a, &e), 0);
	assert_int_equal(ivt_dirty_count(t), 0);
	store_free(s);
	ivt_actions_reset(&a);
	u = reload(&a, ivt_now(t));
	ivt_equal(t, u);
	ivt_free(u);
	ivt_free(t);
	ivt_actions_free(&a);
}

/*
 * Group commit: store_sync_deferred hands out increasing tickets (0 when
 * there was nothing to write), store_durable waits for them, also from
 * several threads at once, and what was committed reloads; a backend
 * without the deferred ops commits durably and hands out 0.
 */
struct durable_arg {
	struct store	*s;
	uint64_t	 ticket;
	int		 r;
};

static void *
durable_main(void *p)
{
	struct durable_arg *d = p;

	d->r = store_durable(d->s, d->ticket, NULL);
	return NULL;
}

static void
test_deferred_commit(void **state)
{
	struct store_ops plain = store_sqlite_ops;
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = populated(&a), *u;
	struct store *s = NULL;
	struct durable_arg d[4];
	pthread_t th[4];
	uint64_t t1 = 0, t2 = 0, t3 = 7;
	int i;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	assert_int_equal(store_sync_deferred(s, t, &a, &t1, &e), 0);
	assert_true(t1 > 0);
	assert_int_equal(ivt_dirty_count(t), 0);
	assert_int_equal(store_sync_deferred(s, t, NULL, &t3, &e), 0);
	assert_int_equal(t3, 0);	/* nothing to write */
	assert_int_equal(store_durable(s, 0, &e), 0);
	ivt_actions_reset(&a);
	assert_int_equal(vd(t, "h0", "h1", T0 + 20, IVT_PASS, &a), 0);
	assert_int_equal(store_sync_deferred(s, t, &a, &t2, &e), 0);
	assert_true(t2 > t1);
	for (i = 0; i < 4; i++) {
		d[i].s = s;
		d[i].ticket = i % 2 ? t1 : t2;
		d[i].r = -1;
		assert_int_equal(pthread_create(&th[i], NULL, durable_main,
		    &d[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(d[i].r, 0);
	}
	store_free(s);
	ivt_actions_reset(&a);
	u = reload(&a, ivt_now(t));
	ivt_equal(t, u);
	ivt_free(u);

	/* No deferred ops: a durable commit and ticket 0. */
	plain.name = "plain";
	plain.commit_deferred = NULL;
	plain.durable = NULL;
	assert_int_equal(store_open_ops(&plain, db, &s, &e), 0);
	ivt_actions_reset(&a);
	assert_int_equal(vd(t, "h0", "h2", T0 + 30, IVT_PASS, &a), 0);
	assert_int_equal(store_sync_deferred(s, t, &a, &t3, &e), 0);
	assert_int_equal(t3, 0);
	assert_int_equal(ivt_dirty_count(t), 0);
	store_free(s);
	ivt_actions_reset(&a);
	u = reload(&a, ivt_now(t));
	ivt_equal(t, u);
	ivt_free(u);
	ivt_free(t);
	ivt_actions_free(&a);
}

static void
test_schema_and_pragmas(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store *s = NULL;
	sqlite3 *h;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	store_free(s);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(store_open(db, &s, &e), VOUCH_E_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "schema version 99"));
	assert_int_equal(store_open("etcd:https://127.0.0.1:2379", &s, &e),
	    VOUCH_E_UNSUPPORTED);
	assert_int_equal(store_open("redis:x", &s, &e), VOUCH_E_UNSUPPORTED);
	assert_int_equal(store_open("/nonexistent/dir/ivt.db", &s, &e), VOUCH_E_IO);
}

/* ---- alerts (schema 3) ---- */

struct got {
	int		n;
	long long	seq[16];
	char		target[16][8];
	char		json[16][64];
};

static int
got_cb(void *arg, const struct store_alert *a, struct vouch_err *e)
{
	struct got *g = arg;

	(void)e;
	assert_true(g->n < 16);
	assert_int_equal(strlen(a->json), a->json_len);
	g->seq[g->n] = a->seq;
	snprintf(g->target[g->n], sizeof(g->target[0]), "%s", a->target);
	snprintf(g->json[g->n], sizeof(g->json[0]), "%s", a->json);
	g->n++;
	return 0;
}

static void
alert_fill(struct store_alert *a, const char *host, const char *target,
    const char *json)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", host);
	snprintf(a->target, sizeof(a->target), "%s", target);
	snprintf(a->type, sizeof(a->type), "syscall_hook");
	a->critical = 1;
	a->time = 1700000000000;
	a->received = 1700000000100;
	a->json = json;
	a->json_len = strlen(json);
}

static void
test_alerts(void **state)
{
	struct store_ops fake = store_sqlite_ops;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store_alert v[4];
	struct store_alert_query q = { NULL, NULL, 16 };
	struct store *s = NULL;
	struct got g;
	char js[4][32];
	int i;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	/* h1: four alerts with keep = 3 -> the oldest is pruned */
	for (i = 0; i < 4; i++) {
		snprintf(js[i], sizeof(js[i]), "{\"n\":%d}", i);
		alert_fill(&v[i], "h1", i % 2 ? "web2" : "web1", js[i]);
	}
	assert_int_equal(store_alerts_put(s, v, 4, 3, &e), 0);
	for (i = 1; i < 4; i++)
		assert_true(v[i].seq > v[i - 1].seq);
	alert_fill(&v[0], "h2", "web1", "{\"h2\":1}");
	assert_int_equal(store_alerts_put(s, v, 1, 3, &e), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_alerts(s, &q, got_cb, &g, &e), 0);
	assert_int_equal(g.n, 4);		/* 3 of h1, 1 of h2 */
	assert_string_equal(g.json[0], "{\"h2\":1}");	/* newest first */
	assert_string_equal(g.json[1], "{\"n\":3}");
	assert_string_equal(g.json[3], "{\"n\":1}");	/* n=0 pruned */
	/* filters */
	q.host = "h1";
	q.target = "web1";
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_alerts(s, &q, got_cb, &g, &e), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.json[0], "{\"n\":2}");
	q.host = NULL;
	q.target = NULL;
	q.max = 2;
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_alerts(s, &q, got_cb, &g, &e), 0);
	assert_int_equal(g.n, 2);
	store_free(s);

	/* survives a reopen; a failed commit stores nothing */
	fake.name = "fake";
	fake.commit = fk_commit;
	fake.rollback = fk_rollback;
	assert_int_equal(store_open_ops(&fake, db, &s, &e), 0);
	fail_commit = 1;
	rollbacks = 0;
	alert_fill(&v[0], "h3", "web9", "{}");
	assert_int_equal(store_alerts_put(s, v, 1, 3, &e), VOUCH_E_IO);
	assert_int_equal(rollbacks, 1);
	assert_int_equal(v[0].seq, 0);
	q.max = 16;
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_alerts(s, &q, got_cb, &g, &e), 0);
	assert_int_equal(g.n, 4);
	fail_commit = 0;
	store_free(s);

	/* a backend without alerts says so */
	fake = store_sqlite_ops;
	fake.put_alert = NULL;
	fake.alerts = NULL;
	assert_int_equal(store_open_ops(&fake, db, &s, &e), 0);
	assert_int_equal(store_alerts_put(s, v, 1, 3, &e), VOUCH_E_UNSUPPORTED);
	assert_int_equal(store_alerts(s, &q, got_cb, &g, &e),
	    VOUCH_E_UNSUPPORTED);
	store_free(s);
}

/* A version 2 file (no alerts table) is upgraded in place to 4. */
static void
test_schema_upgrade_v2(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = populated(&a), *u;
	struct store_alert v;
	struct store_alert_query q = { "h1", NULL, 16 };
	struct store *s = NULL;
	struct got g;
	sqlite3 *h;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	assert_int_equal(store_sync(s, t, &a, &e), 0);
	store_free(s);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "DROP TABLE alerts;"
	    "DROP TABLE pairs; DROP TABLE migrations;"
	    "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(store_open(db, &s, &e), 0);
	alert_fill(&v, "h1", "web1", "{}");
	assert_int_equal(store_alerts_put(s, &v, 1, STORE_ALERT_KEEP, &e), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_alerts(s, &q, got_cb, &g, &e), 0);
	assert_int_equal(g.n, 1);
	store_free(s);
	/* the IVT of the version 2 file is intact */
	ivt_actions_reset(&a);
	u = reload(&a, ivt_now(t));
	ivt_equal(t, u);
	ivt_free(u);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
	assert_int_equal(STORE_SCHEMA_VERSION, 4);
	sqlite3_finalize(st);
	sqlite3_close(h);
	ivt_free(t);
	ivt_actions_free(&a);
}

/* ---- pairs and migrations (schema 4) ---- */

static int
pair_count_cb(void *arg, const struct store_pair *p, struct vouch_err *e)
{
	(void)p;
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static int
mig_ids_cb(void *arg, const struct store_mig *m, struct vouch_err *e)
{
	long long *v = arg;

	(void)e;
	v[++v[0]] = m->id;
	return 0;
}

static void
fill_pair(struct store_pair *p, const char *target, const char *host)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->target, sizeof(p->target), "%s", target);
	snprintf(p->guard, sizeof(p->guard), "%s-guard", target);
	snprintf(p->host, sizeof(p->host), "%s", host);
	p->vcpus = 3;
	p->mem_mib = 1536;
	p->added_at = T0;
}

static void
fill_mig(struct store_mig *m, const char *target, const char *source)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->target, sizeof(m->target), "%s", target);
	snprintf(m->guard, sizeof(m->guard), "%s-guard", target);
	snprintf(m->source, sizeof(m->source), "%s", source);
	snprintf(m->dests, sizeof(m->dests), "h2,h3");
	snprintf(m->mode, sizeof(m->mode), "evacuate");
	snprintf(m->strategy, sizeof(m->strategy), "plain");
	snprintf(m->phase, sizeof(m->phase), "prepare");
	m->created_at = m->updated_at = T0;
}

static void
test_pairs_migrations(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store *s = NULL;
	struct store_pair p;
	struct store_mig m, got;
	struct store_mig_query q = { NULL, 0, 10 };
	long long ids[16];
	int n = 0;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	fill_pair(&p, "web1", "h1");
	assert_int_equal(store_pair_put(s, &p, &e), 0);
	fill_pair(&p, "db1", "h1");
	assert_int_equal(store_pair_put(s, &p, &e), 0);
	assert_int_equal(store_pairs(s, pair_count_cb, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_pair_get(s, "web1", &p, &e), 0);
	assert_string_equal(p.guard, "web1-guard");
	assert_int_equal(p.mem_mib, 1536);
	assert_int_equal(store_pair_get(s, "nope", &p, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(store_pair_del(s, "nope", &e), VOUCH_E_NOTFOUND);

	/* create, update, active lookup, finish with the pair moved */
	fill_mig(&m, "web1", "h1");
	assert_int_equal(store_mig_put(s, &m, 0, &e), 0);
	assert_int_equal(m.id, 1);
	assert_int_equal(store_mig_active(s, "web1", &got, &e), 0);
	assert_int_equal(got.id, 1);
	assert_int_equal(store_mig_active(s, "db1", &got, &e),
	    VOUCH_E_NOTFOUND);
	snprintf(m.host, sizeof(m.host), "h3");
	snprintf(m.phase, sizeof(m.phase), "done");
	snprintf(m.result, sizeof(m.result), "DONE");
	m.bytes = 1u << 30;
	m.mbps = 812.5;
	m.finished_at = T0 + 5;
	assert_int_equal(store_mig_put(s, &m, 1, &e), 0);
	assert_int_equal(store_mig_get(s, 1, &got, &e), 0);
	assert_string_equal(got.result, "DONE");
	assert_string_equal(got.dests, "h2,h3");
	assert_int_equal(got.bytes, 1u << 30);
	assert_true(got.mbps > 812.4 && got.mbps < 812.6);
	assert_int_equal(store_mig_active(s, "web1", &got, &e),
	    VOUCH_E_NOTFOUND);
	assert_int_equal(store_pair_get(s, "web1", &p, &e), 0);
	assert_string_equal(p.host, "h3");
	assert_int_equal(store_mig_get(s, 99, &got, &e), VOUCH_E_NOTFOUND);
	m.id = 99;
	assert_int_equal(store_mig_put(s, &m, 0, &e), VOUCH_E_NOTFOUND);

	/* newest first, limit, survives reopen; ids never repeat */
	fill_mig(&m, "db1", "h1");
	assert_int_equal(store_mig_put(s, &m, 0, &e), 0);
	assert_int_equal(m.id, 2);
	store_free(s);
	assert_int_equal(store_open(db, &s, &e), 0);
	ids[0] = 0;
	assert_int_equal(store_migs(s, &q, mig_ids_cb, ids, &e), 0);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 2);
	assert_int_equal(ids[2], 1);
	q.limit = 1;
	ids[0] = 0;
	assert_int_equal(store_migs(s, &q, mig_ids_cb, ids, &e), 0);
	assert_int_equal(ids[0], 1);
	assert_int_equal(store_pair_del(s, "web1", &e), 0);
	n = 0;
	assert_int_equal(store_pairs(s, pair_count_cb, &n, &e), 0);
	assert_int_equal(n, 1);
	store_free(s);
}

/* A version 3 file (no pairs, no migrations) is upgraded in place. */
static void
test_schema_upgrade_v3(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = populated(&a), *u;
	struct store *s = NULL;
	struct store_pair p;
	sqlite3 *h;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	assert_int_equal(store_sync(s, t, &a, &e), 0);
	store_free(s);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "DROP TABLE pairs;"
	    "DROP TABLE migrations; PRAGMA user_version = 3", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(store_open(db, &s, &e), 0);
	fill_pair(&p, "web1", "h1");
	assert_int_equal(store_pair_put(s, &p, &e), 0);
	store_free(s);
	ivt_actions_reset(&a);
	u = reload(&a, ivt_now(t));
	ivt_equal(t, u);
	ivt_free(u);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 4);
	sqlite3_finalize(st);
	sqlite3_close(h);
	ivt_free(t);
	ivt_actions_free(&a);
}

static void
test_load_needs_empty_ivt(void **state)
{
	struct ivt_actions a = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt *t = populated(&a);
	struct store *s = NULL;

	(void)state;
	assert_int_equal(store_open(db, &s, &e), 0);
	assert_int_equal(store_load(s, t, T0, &a, &e), VOUCH_E_STATE);
	store_free(s);
	ivt_free(t);
	ivt_actions_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_after_downtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_kill9, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_exit_without_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_failure_keeps_dirty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_and_pragmas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_needs_empty_ivt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alerts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade_v3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pairs_migrations, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
