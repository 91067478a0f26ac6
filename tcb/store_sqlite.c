/*
 * store_sqlite.c - the embedded IVT store: one SQLite file in WAL mode.
 * A commit is durable once the WAL is fsync'ed after it, and nothing is
 * acknowledged before that, so a crash at any instant loses only
 * transactions nobody acknowledged.  The WAL is fsync'ed by this file, not
 * by SQLite (synchronous=NORMAL, which syncs only around checkpoints):
 *
 *	commit            COMMIT (WAL frames written), then wal_sync: the
 *	                  same guarantee as synchronous=FULL
 *	commit_deferred   COMMIT, ticket = its number; the caller drops its
 *	                  own lock and calls durable(ticket), which returns
 *	                  once a WAL fdatasync that started after that COMMIT
 *	                  has completed.  One fdatasync covers every commit
 *	                  written before it started (group commit), and it
 *	                  runs outside the caller's lock.
 *
 * The WAL is kept (SQLITE_FCNTL_PERSIST_WAL) and opened once here, so the
 * descriptor always names the file SQLite appends to.  A failed fdatasync
 * poisons the store: no later commit is ever reported durable (the kernel
 * may have dropped the dirty pages), the daemon must be restarted.  If the
 * WAL cannot be opened, synchronous=FULL and every commit is durable on
 * return.  Statements are prepared once at open.  The schema is versioned
 * with PRAGMA user_version: 0 (new file) creates it, an older version is
 * upgraded one schema_step at a time (1 -> 2 -> 3 -> 4),
 * STORE_SCHEMA_VERSION opens, anything else is refused rather than guessed
 * at.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

static const char schema[] =
    "CREATE TABLE host ("
    " name TEXT PRIMARY KEY, state INTEGER NOT NULL, since INTEGER NOT NULL,"
    " enrolled INTEGER NOT NULL, reset_known INTEGER NOT NULL,"
    " reset_count INTEGER NOT NULL, spare_vcpus INTEGER NOT NULL,"
    " spare_mib INTEGER NOT NULL, passes INTEGER NOT NULL,"
    " fails INTEGER NOT NULL, pass_streak INTEGER NOT NULL,"
    " suspect_episodes INTEGER NOT NULL, last_suspect_at INTEGER NOT NULL,"
    " disproved INTEGER NOT NULL, untrusted INTEGER NOT NULL,"
    " accused INTEGER NOT NULL, direct_unreach INTEGER NOT NULL,"
    " direct_requested_at INTEGER NOT NULL, direct_pass_at INTEGER NOT NULL,"
    " rep_n INTEGER NOT NULL, rep_k INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE verdict ("
    " subject TEXT NOT NULL, verifier TEXT NOT NULL, pos INTEGER NOT NULL,"
    " time INTEGER NOT NULL, result INTEGER NOT NULL,"
    " reset_count INTEGER NOT NULL, disproved INTEGER NOT NULL,"
    " accuser INTEGER NOT NULL, reason TEXT NOT NULL,"
    " PRIMARY KEY (subject, verifier)) WITHOUT ROWID;"
    "CREATE TABLE event ("
    " seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " host TEXT NOT NULL, verifier TEXT NOT NULL, st_from INTEGER NOT NULL,"
    " st_to INTEGER NOT NULL, n INTEGER NOT NULL, k INTEGER NOT NULL,"
    " reason TEXT NOT NULL);"
    "PRAGMA user_version = 1;";

/*
 * Version 2 adds the registrar's AK bindings and the metadata table.  A
 * version 1 file is upgraded in place (the tables are new, nothing is
 * rewritten); a new file gets version 1 and then this.
 */
static const char schema_v2[] =
    "CREATE TABLE ak ("
    " host TEXT PRIMARY KEY, ak_pub BLOB NOT NULL, ak_name BLOB NOT NULL"
    " UNIQUE, spki BLOB NOT NULL, ek_sha256 BLOB NOT NULL,"
    " enrolled_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE meta ("
    " key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "PRAGMA user_version = 2;";

/*
 * Version 3 adds the alerts guards send (ALERT).  seq never repeats
 * (AUTOINCREMENT), so "newer" is "larger seq" even after pruning; the
 * index serves both the per-host pruning and the per-host query.
 */
static const char schema_v3[] =
    "CREATE TABLE alerts ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL,"
    " target TEXT NOT NULL, type TEXT NOT NULL, critical INTEGER NOT NULL,"
    " time INTEGER NOT NULL, received INTEGER NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX alerts_host ON alerts (host, seq);"
    "PRAGMA user_version = 3;";

/*
 * Version 4 adds the protected pairs and the migrations (evacuations,
 * docs/protocol.md 9).  Migration ids never repeat (AUTOINCREMENT); the
 * index serves "the running migration of this target".
 */
static const char schema_v4[] =
    "CREATE TABLE pairs ("
    " target TEXT PRIMARY KEY, guard TEXT NOT NULL, host TEXT NOT NULL,"
    " vcpus INTEGER NOT NULL, mem_mib INTEGER NOT NULL,"
    " added_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE migrations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,"
    " guard TEXT NOT NULL, source TEXT NOT NULL, dests TEXT NOT NULL,"
    " mode TEXT NOT NULL, strategy TEXT NOT NULL, phase TEXT NOT NULL,"
    " host TEXT NOT NULL, bytes INTEGER NOT NULL, total INTEGER NOT NULL,"
    " mbps REAL NOT NULL, result TEXT NOT NULL, error TEXT NOT NULL,"
    " target_paused INTEGER NOT NULL, tries INTEGER NOT NULL,"
    " downtime_ms INTEGER NOT NULL, total_ms INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL, ordered_at INTEGER NOT NULL);"
    "CREATE INDEX migrations_target ON migrations (target, result, id);"
    "PRAGMA user_version = 4;";

enum {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_PUT_HOST, Q_DEL_HOST, Q_DEL_VERDICTS,
	Q_PUT_VERDICT, Q_PUT_EVENT, Q_HOSTS, Q_VERDICTS, Q_EVENTS,
	Q_AK_OWNER, Q_PUT_AK, Q_DEL_AK, Q_AKS, Q_PUT_META, Q_GET_META,
	Q_PUT_ALERT, Q_PRUNE_ALERTS, Q_ALERTS,
	Q_PUT_PAIR, Q_DEL_PAIR, Q_PAIRS, Q_INS_MIG, Q_UPD_MIG, Q_GET_MIG,
	Q_MIGS, Q_COUNT_
};

#define MIG_COLS "id, target, guard, source, dests, mode, strategy, phase," \
	" host, bytes, total, mbps, result, error, target_paused, tries," \
	" downtime_ms, total_ms, created_at, updated_at, finished_at," \
	" ordered_at"


static const char *const sql[Q_COUNT_] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_PUT_HOST] = "INSERT OR REPLACE INTO host VALUES (?1,?2,?3,?4,?5,"
	    "?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)",
	[Q_DEL_HOST] = "DELETE FROM host WHERE name = ?1",
	[Q_DEL_VERDICTS] = "DELETE FROM verdict WHERE subject = ?1",
	[Q_PUT_VERDICT] = "INSERT OR REPLACE INTO verdict VALUES (?1,?2,"
	    "(SELECT count(*) FROM verdict WHERE subject = ?1),"
	    "?3,?4,?5,?6,?7,?8)",
	[Q_PUT_EVENT] = "INSERT INTO event (time, kind, host, verifier, st_from,"
	    " st_to, n, k, reason) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
	[Q_HOSTS] = "SELECT * FROM host ORDER BY name",
	[Q_VERDICTS] = "SELECT subject, verifier, time, result, reset_count,"
	    " disproved, accuser, reason FROM verdict ORDER BY subject, pos",
	[Q_EVENTS] = "SELECT seq, time, kind, host, verifier, st_from, st_to,"
	    " n, k, reason FROM event WHERE seq > ?1 ORDER BY seq LIMIT ?2",
	[Q_AK_OWNER] = "SELECT host FROM ak WHERE ak_name = ?1",
	[Q_PUT_AK] = "INSERT OR REPLACE INTO ak VALUES (?1,?2,?3,?4,?5,?6)",
	[Q_DEL_AK] = "DELETE FROM ak WHERE host = ?1",
	[Q_AKS] = "SELECT host, ak_pub, ak_name, spki, ek_sha256, enrolled_at"
	    " FROM ak ORDER BY host",
	[Q_PUT_META] = "INSERT OR REPLACE INTO meta VALUES (?1,?2)",
	[Q_GET_META] = "SELECT value FROM meta WHERE key = ?1",
	[Q_PUT_ALERT] = "INSERT INTO alerts (host, target, type, critical,"
	    " time, received, json) VALUES (?1,?2,?3,?4,?5,?6,?7)",
	/* everything of the host older than its keep-th newest */
	[Q_PRUNE_ALERTS] = "DELETE FROM alerts WHERE host = ?1 AND seq <"
	    " (SELECT seq FROM alerts WHERE host = ?1 ORDER BY seq DESC"
	    " LIMIT 1 OFFSET ?2)",
	[Q_ALERTS] = "SELECT seq, host, target, type, critical, time, received,"
	    " json FROM alerts WHERE (?1 IS NULL OR host = ?1) AND"
	    " (?2 IS NULL OR target = ?2) ORDER BY seq DESC LIMIT ?3",
	[Q_PUT_PAIR] = "INSERT OR REPLACE INTO pairs VALUES (?1,?2,?3,?4,?5,?6)",
	[Q_DEL_PAIR] = "DELETE FROM pairs WHERE target = ?1",
	[Q_PAIRS] = "SELECT target, guard, host, vcpus, mem_mib, added_at"
	    " FROM pairs ORDER BY target",
	[Q_INS_MIG] = "INSERT INTO migrations (target, guard, source, dests,"
	    " mode, strategy, phase, host, bytes, total, mbps, result, error,"
	    " target_paused, tries, downtime_ms, total_ms, created_at,"
	    " updated_at, finished_at, ordered_at) VALUES (?2,?3,?4,?5,?6,?7,"
	    "?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)",
	[Q_UPD_MIG] = "UPDATE migrations SET target=?2, guard=?3, source=?4,"
	    " dests=?5, mode=?6, strategy=?7, phase=?8, host=?9, bytes=?10,"
	    " total=?11, mbps=?12, result=?13, error=?14, target_paused=?15,"
	    " tries=?16, downtime_ms=?17, total_ms=?18, created_at=?19,"
	    " updated_at=?20, finished_at=?21, ordered_at=?22 WHERE id = ?1",
	[Q_GET_MIG] = "SELECT " MIG_COLS " FROM migrations WHERE id = ?1",
	[Q_MIGS] = "SELECT " MIG_COLS " FROM migrations WHERE"
	    " (?1 IS NULL OR target = ?1) AND (?2 = 0 OR result = '')"
	    " ORDER BY id DESC LIMIT ?3",
};

struct sq {
	sqlite3		*db;
	sqlite3_stmt	*st[Q_COUNT_];
	char		 path[512];
	/* WAL syncs (sync_mu guards all below; wal_fd is set at open) */
	int		 wal_fd;	/* -1: synchronous=FULL instead */
	pthread_mutex_t	 sync_mu;
	pthread_cond_t	 sync_cv;
	uint64_t	 written;	/* commits whose COMMIT returned */
	uint64_t	 synced;	/* commits known on disk */
	int		 syncing;	/* an fdatasync is running */
	int		 sync_errno;	/* set: poisoned */
};

static int
dberr(struct sq *q, struct vouch_err *e, const char *what)
{
	return vouch_err_set(e, VOUCH_E_IO, "%s: %s: %s", q->path, what,
	    sqlite3_errmsg(q->db));
}

static void
sq_close(void *ctx)
{
	struct sq *q = ctx;
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < Q_COUNT_; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	if (q->wal_fd >= 0)
		close(q->wal_fd);
	pthread_cond_destroy(&q->sync_cv);
	pthread_mutex_destroy(&q->sync_mu);
	free(q);
}

/* Run a pragma that returns one row; its text into buf. */
static int
pragma(struct sq *q, const char *stmt, char *buf, size_t cap,
    struct vouch_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(q->db, stmt, -1, &st, NULL) != SQLITE_OK)
		return dberr(q, e, stmt);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return dberr(q, e, stmt);
	}
	buf[0] = '\0';
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
		strncpy(buf, (const char *)sqlite3_column_text(st, 0), cap - 1);
		buf[cap - 1] = '\0';
	}
	sqlite3_finalize(st);
	return 0;
}

/*
 * Move the schema from version `from` by running ddl (which sets the new
 * user_version), under the write lock.  The version is re-read once the
 * lock is held: another process opening the same file may have done the
 * step first, and then there is nothing to do.
 */
static int
schema_step(struct sq *q, long from, const char *ddl, const char *what,
    struct vouch_err *e)
{
	char v[32], *msg = NULL;
	int r;

	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return dberr(q, e, what);
	if ((r = pragma(q, "PRAGMA user_version", v, sizeof(v), e)) < 0)
		goto rollback;
	if (strtol(v, NULL, 10) == from &&
	    sqlite3_exec(q->db, ddl, NULL, NULL, &msg) != SQLITE_OK) {
		r = vouch_err_set(e, VOUCH_E_IO, "%s: %s: %s", q->path, what,
		    msg != NULL ? msg : "?");
		sqlite3_free(msg);
		goto rollback;
	}
	if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return dberr(q, e, what);
	return 0;
rollback:
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/*
 * Take over the WAL's fsyncs (see the top of the file).  Up to here every
 * commit (the schema steps) ran with synchronous=FULL.
 */
static int
wal_open(struct sq *q, struct vouch_err *e)
{
	char wal[sizeof(q->path) + 8], v[32];
	int persist = 1;

	if (sqlite3_file_control(q->db, "main", SQLITE_FCNTL_PERSIST_WAL,
	    &persist) != SQLITE_OK)
		return 0;
	snprintf(wal, sizeof(wal), "%s-wal", q->path);
	if ((q->wal_fd = open(wal, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;	/* stays FULL */
	if (pragma(q, "PRAGMA synchronous=NORMAL", v, sizeof(v), e) < 0) {
		close(q->wal_fd);
		q->wal_fd = -1;
		return e != NULL ? e->code : VOUCH_E_IO;
	}
	return 0;
}

/* Wait until commit number ticket is on disk; one fdatasync at a time. */
static int
wal_sync(struct sq *q, uint64_t ticket, struct vouch_err *e)
{
	int err;

	if (q->wal_fd < 0)
		return 0;
	pthread_mutex_lock(&q->sync_mu);
	while (q->synced < ticket && q->sync_errno == 0) {
		uint64_t target;
		int r;

		if (q->syncing) {
			pthread_cond_wait(&q->sync_cv, &q->sync_mu);
			continue;
		}
		/* Covers every commit whose COMMIT returned before now. */
		q->syncing = 1;
		target = q->written;
		pthread_mutex_unlock(&q->sync_mu);
		r = fdatasync(q->wal_fd);
		err = errno;
		pthread_mutex_lock(&q->sync_mu);
		q->syncing = 0;
		if (r < 0)
			q->sync_errno = err != 0 ? err : EIO;
		else if (target > q->synced)
			q->synced = target;
		pthread_cond_broadcast(&q->sync_cv);
	}
	err = q->synced >= ticket ? 0 : q->sync_errno;
	pthread_mutex_unlock(&q->sync_mu);
	if (err != 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s-wal: fdatasync failed "
		    "(%s): commits are no longer known durable; restart the "
		    "daemon", q->path, strerror(err));
	return 0;
}

static int
sq_open(const char *where, void **ctx, struct vouch_err *e)
{
	struct sq *q;
	char v[32];
	long ver;
	int i, r;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "sqlite store");
	q->wal_fd = -1;
	pthread_mutex_init(&q->sync_mu, NULL);
	pthread_cond_init(&q->sync_cv, NULL);
	snprintf(q->path, sizeof(q->path), "%s", where);
	if (sqlite3_open_v2(where, &q->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		r = q->db != NULL ? dberr(q, e, "open")
		    : vouch_err_set(e, VOUCH_E_NOMEM, "%s: open", where);
		sq_close(q);
		return r;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, 5000);
	if ((r = pragma(q, "PRAGMA journal_mode=WAL", v, sizeof(v), e)) < 0)
		goto fail;
	if (strcmp(v, "wal") != 0) {
		r = vouch_err_set(e, VOUCH_E_IO, "%s: journal_mode is %s, not "
		    "wal", where, v);
		goto fail;
	}
	if ((r = pragma(q, "PRAGMA synchronous=FULL", v, sizeof(v), e)) < 0 ||
	    (r = pragma(q, "PRAGMA user_version", v, sizeof(v), e)) < 0)
		goto fail;
	ver = strtol(v, NULL, 10);
	if (ver == 0) {
		if ((r = schema_step(q, 0, schema, "create schema", e)) < 0)
			goto fail;
		ver = 1;
	}
	if (ver == 1) {
		if ((r = schema_step(q, 1, schema_v2, "upgrade schema", e)) < 0)
			goto fail;
		ver = 2;
	}
	if (ver == 2) {
		if ((r = schema_step(q, 2, schema_v3, "upgrade schema", e)) < 0)
			goto fail;
		ver = 3;
	}
	if (ver == 3) {
		if ((r = schema_step(q, 3, schema_v4, "upgrade schema", e)) < 0)
			goto fail;
	} else if (ver != STORE_SCHEMA_VERSION) {
		r = vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "%s: schema version %ld, this build knows %d", where, ver,
		    STORE_SCHEMA_VERSION);
		goto fail;
	}
	for (i = 0; i < Q_COUNT_; i++)
		if (sqlite3_prepare_v3(q->db, sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL) != SQLITE_OK) {
			r = dberr(q, e, sql[i]);
			goto fail;
		}
	if ((r = wal_open(q, e)) < 0)
		goto fail;
	*ctx = q;
	return 0;
fail:
	sq_close(q);
	return r;
}

/* Step a write statement to completion and reset it. */
static int
run(struct sq *q, int which, struct vouch_err *e)
{
	sqlite3_stmt *st = q->st[which];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s: %s", q->path,
		    sql[which], sqlite3_errstr(rc));
	return 0;
}

static int
sq_begin(void *ctx, struct vouch_err *e)
{
	return run(ctx, Q_BEGIN, e);
}

static int
sq_commit_deferred(void *ctx, uint64_t *ticket, struct vouch_err *e)
{
	struct sq *q = ctx;
	int r;

	if ((r = run(q, Q_COMMIT, e)) < 0)
		return r;
	pthread_mutex_lock(&q->sync_mu);
	*ticket = ++q->written;
	pthread_mutex_unlock(&q->sync_mu);
	return 0;
}

static int
sq_durable(void *ctx, uint64_t ticket, struct vouch_err *e)
{
	return wal_sync(ctx, ticket, e);
}

static int
sq_commit(void *ctx, struct vouch_err *e)
{
	uint64_t ticket;
	int r;

	if ((r = sq_commit_deferred(ctx, &ticket, e)) < 0)
		return r;
	return wal_sync(ctx, ticket, e);
}

static void
sq_rollback(void *ctx)
{
	struct sq *q = ctx;

	if (!sqlite3_get_autocommit(q->db))
		(void)run(q, Q_ROLLBACK, NULL);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void
bind_int(sqlite3_stmt *st, int i, long long v)
{
	sqlite3_bind_int64(st, i, v);
}

static int
sq_put_host(void *ctx, const struct ivt_host_rec *r, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_PUT_HOST];
	int rc;

	bind_text(q->st[Q_DEL_VERDICTS], 1, r->name);
	if ((rc = run(q, Q_DEL_VERDICTS, e)) < 0)
		return rc;
	bind_text(st, 1, r->name);
	bind_int(st, 2, r->state);
	bind_int(st, 3, r->since);
	bind_int(st, 4, r->enrolled);
	bind_int(st, 5, r->reset_known);
	bind_int(st, 6, r->reset_count);
	bind_int(st, 7, r->spare_vcpus);
	bind_int(st, 8, (long long)r->spare_mib);
	bind_int(st, 9, (long long)r->passes);
	bind_int(st, 10, (long long)r->fails);
	bind_int(st, 11, r->pass_streak);
	bind_int(st, 12, r->suspect_episodes);
	bind_int(st, 13, r->last_suspect_at);
	bind_int(st, 14, (long long)r->disproved);
	bind_int(st, 15, r->untrusted);
	bind_int(st, 16, r->accused);
	bind_int(st, 17, r->direct_unreach);
	bind_int(st, 18, r->direct_requested_at);
	bind_int(st, 19, r->direct_pass_at);
	bind_int(st, 20, r->rep_n);
	bind_int(st, 21, r->rep_k);
	return run(q, Q_PUT_HOST, e);
}

static int
sq_del_host(void *ctx, const char *name, struct vouch_err *e)
{
	struct sq *q = ctx;
	int rc;

	bind_text(q->st[Q_DEL_VERDICTS], 1, name);
	if ((rc = run(q, Q_DEL_VERDICTS, e)) < 0)
		return rc;
	bind_text(q->st[Q_DEL_HOST], 1, name);
	return run(q, Q_DEL_HOST, e);
}

static int
sq_put_verdict(void *ctx, const char *subject, const struct ivt_slot_rec *s,
    struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_PUT_VERDICT];

	bind_text(st, 1, subject);
	bind_text(st, 2, s->verifier);
	bind_int(st, 3, s->time);
	bind_int(st, 4, s->result);
	bind_int(st, 5, s->reset_count);
	bind_int(st, 6, s->disproved);
	bind_int(st, 7, s->accuser);
	bind_text(st, 8, s->reason);
	return run(q, Q_PUT_VERDICT, e);
}

static int
sq_record_event(void *ctx, const struct ivt_action *a, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_PUT_EVENT];

	bind_int(st, 1, a->time);
	bind_int(st, 2, a->kind);
	bind_text(st, 3, a->host);
	bind_text(st, 4, a->verifier);
	bind_int(st, 5, a->from);
	bind_int(st, 6, a->to);
	bind_int(st, 7, a->n);
	bind_int(st, 8, a->k);
	bind_text(st, 9, a->reason);
	return run(q, Q_PUT_EVENT, e);
}

static void
col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(dst, cap, "%s", s != NULL ? (const char *)s : "");
}

static long long
col(sqlite3_stmt *st, int i)
{
	return sqlite3_column_int64(st, i);
}

static int
done(struct sq *q, sqlite3_stmt *st, int rc, int r, struct vouch_err *e)
{
	sqlite3_reset(st);
	if (r < 0)
		return r;
	if (rc != SQLITE_DONE)
		return vouch_err_set(e, VOUCH_E_IO, "%s: read: %s", q->path,
		    sqlite3_errstr(rc));
	return 0;
}

/*
 * Hosts and verdicts both come sorted by subject: a merge join, one pass
 * over each table, no per-host query.
 */
static int
sq_load_all(void *ctx, store_host_cb cb, void *arg, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *hs = q->st[Q_HOSTS], *vs = q->st[Q_VERDICTS];
	struct ivt_host_rec *r;
	int hrc, vrc, ret = 0;

	if ((r = malloc(sizeof(*r))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "load");
	vrc = sqlite3_step(vs);
	while ((hrc = sqlite3_step(hs)) == SQLITE_ROW) {
		memset(r, 0, sizeof(*r));
		col_text(hs, 0, r->name, sizeof(r->name));
		r->state = (enum ivt_state)col(hs, 1);
		r->since = col(hs, 2);
		r->enrolled = (int)col(hs, 3);
		r->reset_known = (int)col(hs, 4);
		r->reset_count = (uint32_t)col(hs, 5);
		r->spare_vcpus = (uint32_t)col(hs, 6);
		r->spare_mib = (uint64_t)col(hs, 7);
		r->passes = (uint64_t)col(hs, 8);
		r->fails = (uint64_t)col(hs, 9);
		r->pass_streak = (uint32_t)col(hs, 10);
		r->suspect_episodes = (uint32_t)col(hs, 11);
		r->last_suspect_at = col(hs, 12);
		r->disproved = (uint64_t)col(hs, 13);
		r->untrusted = (int)col(hs, 14);
		r->accused = (int)col(hs, 15);
		r->direct_unreach = (int)col(hs, 16);
		r->direct_requested_at = col(hs, 17);
		r->direct_pass_at = col(hs, 18);
		r->rep_n = (unsigned)col(hs, 19);
		r->rep_k = (unsigned)col(hs, 20);
		r->quorum_at = -1;
		for (; vrc == SQLITE_ROW; vrc = sqlite3_step(vs)) {
			const char *subj = (const char *)sqlite3_column_text(vs, 0);
			int c = strcmp(subj != NULL ? subj : "", r->name);
			struct ivt_slot_rec *s;

			if (c > 0)
				break;
			if (c < 0)
				continue;	/* orphan: its host is gone */
			if (r->nslot == IVT_NBR_MAX) {
				ret = vouch_err_set(e, VOUCH_E_FORMAT,
				    "%s: %s: more than %d verdicts", q->path,
				    r->name, IVT_NBR_MAX);
				goto out;
			}
			s = &r->slot[r->nslot++];
			col_text(vs, 1, s->verifier, sizeof(s->verifier));
			s->time = col(vs, 2);
			s->result = (enum ivt_result)col(vs, 3);
			s->reset_count = (uint32_t)col(vs, 4);
			s->disproved = (int)col(vs, 5);
			s->accuser = (int)col(vs, 6);
			col_text(vs, 7, s->reason, sizeof(s->reason));
		}
		if (vrc != SQLITE_ROW && vrc != SQLITE_DONE) {
			hrc = vrc;
			break;
		}
		if ((ret = cb(arg, r, e)) < 0)
			goto out;
	}
out:
	sqlite3_reset(vs);
	ret = done(q, hs, ret < 0 ? SQLITE_DONE : hrc, ret, e);
	free(r);
	return ret;
}

static int
sq_events(void *ctx, long long after, struct ivt_action *out, int max,
    struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_EVENTS];
	int rc = SQLITE_DONE, n = 0;

	bind_int(st, 1, after);
	bind_int(st, 2, max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ivt_action *a = &out[n++];

		memset(a, 0, sizeof(*a));
		a->time = col(st, 1);
		a->kind = (enum ivt_act)col(st, 2);
		col_text(st, 3, a->host, sizeof(a->host));
		col_text(st, 4, a->verifier, sizeof(a->verifier));
		a->from = (enum ivt_state)col(st, 5);
		a->to = (enum ivt_state)col(st, 6);
		a->n = (unsigned)col(st, 7);
		a->k = (unsigned)col(st, 8);
		col_text(st, 9, a->reason, sizeof(a->reason));
	}
	if (n == max)
		rc = SQLITE_DONE;
	rc = done(q, st, rc, 0, e);
	return rc < 0 ? rc : n;
}

static int
sq_put_ak(void *ctx, const struct store_ak *ak, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_AK_OWNER];
	int rc;

	/* The UNIQUE constraint is the backstop; this names the owner. */
	sqlite3_bind_blob(st, 1, ak->ak_name, (int)ak->ak_name_len,
	    SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *h = sqlite3_column_text(st, 0);
		char owner[IVT_NAME_MAX + 1];

		snprintf(owner, sizeof(owner), "%s", h != NULL ?
		    (const char *)h : "");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (strcmp(owner, ak->host) != 0)
			return vouch_err_set(e, VOUCH_E_EXISTS,
			    "AK already bound to host %s", owner);
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_DONE)
			return vouch_err_set(e, VOUCH_E_IO, "%s: %s: %s",
			    q->path, sql[Q_AK_OWNER], sqlite3_errstr(rc));
	}
	st = q->st[Q_PUT_AK];
	bind_text(st, 1, ak->host);
	sqlite3_bind_blob(st, 2, ak->ak_pub, (int)ak->ak_pub_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, ak->ak_name, (int)ak->ak_name_len,
	    SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, ak->spki, (int)ak->spki_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, ak->ek_sha256, 32, SQLITE_STATIC);
	bind_int(st, 6, ak->enrolled_at);
	return run(q, Q_PUT_AK, e);
}

static int
sq_del_ak(void *ctx, const char *host, struct vouch_err *e)
{
	struct sq *q = ctx;

	bind_text(q->st[Q_DEL_AK], 1, host);
	return run(q, Q_DEL_AK, e);
}

/* Copy a blob column into dst[cap]; -1 if it does not fit exactly. */
static int
col_blob(sqlite3_stmt *st, int i, uint8_t *dst, size_t cap, size_t *len)
{
	const void *p = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (n < 0 || (size_t)n > cap || (n > 0 && p == NULL))
		return -1;
	if (n > 0)
		memcpy(dst, p, (size_t)n);
	*len = (size_t)n;
	return 0;
}

static int
sq_load_aks(void *ctx, store_ak_cb cb, void *arg, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_AKS];
	struct store_ak *ak;
	size_t eklen;
	int rc, r = 0;

	if ((ak = malloc(sizeof(*ak))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "load AKs");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(ak, 0, sizeof(*ak));
		col_text(st, 0, ak->host, sizeof(ak->host));
		if (col_blob(st, 1, ak->ak_pub, sizeof(ak->ak_pub),
		    &ak->ak_pub_len) < 0 ||
		    col_blob(st, 2, ak->ak_name, sizeof(ak->ak_name),
		    &ak->ak_name_len) < 0 ||
		    col_blob(st, 3, ak->spki, sizeof(ak->spki),
		    &ak->spki_len) < 0 ||
		    col_blob(st, 4, ak->ek_sha256, 32, &eklen) < 0 ||
		    eklen != 32) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s: AK of %s: a column has the wrong size",
			    q->path, ak->host);
			break;
		}
		ak->enrolled_at = col(st, 5);
		if ((r = cb(arg, ak, e)) < 0)
			break;
	}
	free(ak);
	return done(q, st, r < 0 ? SQLITE_DONE : rc, r, e);
}

static int
sq_put_meta(void *ctx, const char *key, int64_t value, struct vouch_err *e)
{
	struct sq *q = ctx;

	bind_text(q->st[Q_PUT_META], 1, key);
	bind_int(q->st[Q_PUT_META], 2, value);
	return run(q, Q_PUT_META, e);
}

static int
sq_get_meta(void *ctx, const char *key, int64_t *value, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_GET_META];
	int rc;

	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*value = col(st, 0);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return 0;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "meta %s: absent",
		    key);
	return vouch_err_set(e, VOUCH_E_IO, "%s: meta: %s", q->path,
	    sqlite3_errstr(rc));
}

static int
sq_put_alert(void *ctx, struct store_alert *a, unsigned keep,
    struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_PUT_ALERT];
	int rc;

	if (keep == 0 || a->json == NULL || a->json_len > INT32_MAX)
		return vouch_err_set(e, VOUCH_E_INVAL, "put_alert: bad "
		    "arguments");
	bind_text(st, 1, a->host);
	bind_text(st, 2, a->target);
	bind_text(st, 3, a->type);
	bind_int(st, 4, a->critical != 0);
	bind_int(st, 5, a->time);
	bind_int(st, 6, a->received);
	sqlite3_bind_text(st, 7, a->json, (int)a->json_len, SQLITE_STATIC);
	if ((rc = run(q, Q_PUT_ALERT, e)) < 0)
		return rc;
	a->seq = sqlite3_last_insert_rowid(q->db);
	st = q->st[Q_PRUNE_ALERTS];
	bind_text(st, 1, a->host);
	bind_int(st, 2, (long long)keep - 1);
	return run(q, Q_PRUNE_ALERTS, e);
}

static int
sq_alerts(void *ctx, const struct store_alert_query *qr, store_alert_cb cb,
    void *arg, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_ALERTS];
	struct store_alert a;
	int rc, r = 0;

	if (qr->host != NULL)
		bind_text(st, 1, qr->host);
	if (qr->target != NULL)
		bind_text(st, 2, qr->target);
	bind_int(st, 3, qr->max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *j = sqlite3_column_text(st, 7);

		memset(&a, 0, sizeof(a));
		a.seq = col(st, 0);
		col_text(st, 1, a.host, sizeof(a.host));
		col_text(st, 2, a.target, sizeof(a.target));
		col_text(st, 3, a.type, sizeof(a.type));
		a.critical = col(st, 4) != 0;
		a.time = col(st, 5);
		a.received = col(st, 6);
		a.json = j != NULL ? (const char *)j : "{}";
		a.json_len = j != NULL ? (size_t)sqlite3_column_bytes(st, 7) : 2;
		if ((r = cb(arg, &a, e)) < 0)
			break;
	}
	sqlite3_clear_bindings(st);
	return done(q, st, r < 0 ? SQLITE_DONE : rc, r, e);
}

static int
sq_put_pair(void *ctx, const struct store_pair *p, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_PUT_PAIR];

	bind_text(st, 1, p->target);
	bind_text(st, 2, p->guard);
	bind_text(st, 3, p->host);
	bind_int(st, 4, p->vcpus);
	bind_int(st, 5, (long long)p->mem_mib);
	bind_int(st, 6, p->added_at);
	return run(q, Q_PUT_PAIR, e);
}

static int
sq_del_pair(void *ctx, const char *target, struct vouch_err *e)
{
	struct sq *q = ctx;

	bind_text(q->st[Q_DEL_PAIR], 1, target);
	return run(q, Q_DEL_PAIR, e);
}

static int
sq_pairs(void *ctx, store_pair_cb cb, void *arg, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_PAIRS];
	struct store_pair p;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&p, 0, sizeof(p));
		col_text(st, 0, p.target, sizeof(p.target));
		col_text(st, 1, p.guard, sizeof(p.guard));
		col_text(st, 2, p.host, sizeof(p.host));
		p.vcpus = (uint32_t)col(st, 3);
		p.mem_mib = (uint64_t)col(st, 4);
		p.added_at = col(st, 5);
		if ((r = cb(arg, &p, e)) < 0)
			break;
	}
	return done(q, st, r < 0 ? SQLITE_DONE : rc, r, e);
}

static void
bind_mig(sqlite3_stmt *st, const struct store_mig *m)
{
	bind_int(st, 1, m->id);
	bind_text(st, 2, m->target);
	bind_text(st, 3, m->guard);
	bind_text(st, 4, m->source);
	bind_text(st, 5, m->dests);
	bind_text(st, 6, m->mode);
	bind_text(st, 7, m->strategy);
	bind_text(st, 8, m->phase);
	bind_text(st, 9, m->host);
	bind_int(st, 10, (long long)m->bytes);
	bind_int(st, 11, (long long)m->total);
	sqlite3_bind_double(st, 12, m->mbps);
	bind_text(st, 13, m->result);
	bind_text(st, 14, m->error);
	bind_int(st, 15, m->target_paused);
	bind_int(st, 16, m->tries);
	bind_int(st, 17, m->downtime_ms);
	bind_int(st, 18, m->total_ms);
	bind_int(st, 19, m->created_at);
	bind_int(st, 20, m->updated_at);
	bind_int(st, 21, m->finished_at);
	bind_int(st, 22, m->ordered_at);
}

static void
col_mig(sqlite3_stmt *st, struct store_mig *m)
{
	memset(m, 0, sizeof(*m));
	m->id = col(st, 0);
	col_text(st, 1, m->target, sizeof(m->target));
	col_text(st, 2, m->guard, sizeof(m->guard));
	col_text(st, 3, m->source, sizeof(m->source));
	col_text(st, 4, m->dests, sizeof(m->dests));
	col_text(st, 5, m->mode, sizeof(m->mode));
	col_text(st, 6, m->strategy, sizeof(m->strategy));
	col_text(st, 7, m->phase, sizeof(m->phase));
	col_text(st, 8, m->host, sizeof(m->host));
	m->bytes = (uint64_t)col(st, 9);
	m->total = (uint64_t)col(st, 10);
	m->mbps = sqlite3_column_double(st, 11);
	col_text(st, 12, m->result, sizeof(m->result));
	col_text(st, 13, m->error, sizeof(m->error));
	m->target_paused = (int)col(st, 14);
	m->tries = (int)col(st, 15);
	m->downtime_ms = col(st, 16);
	m->total_ms = col(st, 17);
	m->created_at = col(st, 18);
	m->updated_at = col(st, 19);
	m->finished_at = col(st, 20);
	m->ordered_at = col(st, 21);
}

static int
sq_put_mig(void *ctx, struct store_mig *m, struct vouch_err *e)
{
	struct sq *q = ctx;
	int which = m->id == 0 ? Q_INS_MIG : Q_UPD_MIG, r;

	bind_mig(q->st[which], m);
	if ((r = run(q, which, e)) < 0)
		return r;
	if (which == Q_INS_MIG)
		m->id = sqlite3_last_insert_rowid(q->db);
	else if (sqlite3_changes(q->db) != 1)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "migration %lld: "
		    "no such migration", m->id);
	return 0;
}

static int
sq_get_mig(void *ctx, long long id, struct store_mig *m, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_GET_MIG];
	int rc;

	bind_int(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		col_mig(st, m);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "migration %lld: no "
		    "such migration", id);
	return vouch_err_set(e, VOUCH_E_IO, "%s: migrations: %s", q->path,
	    sqlite3_errstr(rc));
}

static int
sq_migs(void *ctx, const struct store_mig_query *qr, store_mig_cb cb,
    void *arg, struct vouch_err *e)
{
	struct sq *q = ctx;
	sqlite3_stmt *st = q->st[Q_MIGS];
	struct store_mig *m;
	int rc, r = 0;

	if ((m = malloc(sizeof(*m))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if (qr->target != NULL)
		bind_text(st, 1, qr->target);
	bind_int(st, 2, qr->active_only != 0);
	bind_int(st, 3, qr->limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_mig(st, m);
		if ((r = cb(arg, m, e)) < 0)
			break;
	}
	sqlite3_clear_bindings(st);
	free(m);
	return done(q, st, r < 0 ? SQLITE_DONE : rc, r, e);
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.commit_deferred = sq_commit_deferred,
	.durable = sq_durable,
	.put_host = sq_put_host,
	.del_host = sq_del_host,
	.put_verdict = sq_put_verdict,
	.record_event = sq_record_event,
	.load_all = sq_load_all,
	.events = sq_events,
	.put_ak = sq_put_ak,
	.del_ak = sq_del_ak,
	.load_aks = sq_load_aks,
	.put_meta = sq_put_meta,
	.get_meta = sq_get_meta,
	.put_alert = sq_put_alert,
	.alerts = sq_alerts,
	.put_pair = sq_put_pair,
	.del_pair = sq_del_pair,
	.pairs = sq_pairs,
	.put_mig = sq_put_mig,
	.get_mig = sq_get_mig,
	.migs = sq_migs,
};
