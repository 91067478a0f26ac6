/*
 * test_store_ak.c - the registrar's part of the store (store.h): AK
 * bindings (one host per AK, replaced only for the same host), metadata,
 * survival across reopen, and the in-place upgrade of a schema 1 file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tcb/store.h"

struct seen {
	int		n;
	char		host[4][IVT_NAME_MAX + 1];
	uint8_t		name0[4];
};

static int
collect(void *arg, const struct store_ak *ak, struct vouch_err *e)
{
	struct seen *s = arg;

	(void)e;
	if (s->n < 4) {
		snprintf(s->host[s->n], sizeof(s->host[0]), "%s", ak->host);
		s->name0[s->n] = ak->ak_name[2];
	}
	s->n++;
	return 0;
}

static void
mk_ak(struct store_ak *ak, const char *host, uint8_t id)
{
	memset(ak, 0, sizeof(*ak));
	snprintf(ak->host, sizeof(ak->host), "%s", host);
	ak->ak_pub[0] = id;
	ak->ak_pub_len = 1;
	ak->ak_name[0] = 0;
	ak->ak_name[1] = 0x0b;
	memset(ak->ak_name + 2, id, 32);
	ak->ak_name_len = 34;
	ak->spki[0] = id;
	ak->spki_len = 1;
	ak->enrolled_at = 1000 + id;
}

static void
test_bindings(void **state)
{
	char dir[] = "/tmp/test_store_ak.XXXXXX", path[128], cmd[160];
	struct store_ak *ak = calloc(1, sizeof(*ak));
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store *s;
	struct seen seen;
	int64_t v = 0;

	(void)state;
	assert_non_null(ak);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "sqlite:%s/ivt.db", dir);
	assert_int_equal(store_open(path, &s, &e), 0);
	mk_ak(ak, "alpha", 1);
	assert_int_equal(store_ak_put(s, ak, &e), 0);
	mk_ak(ak, "bravo", 2);
	assert_int_equal(store_ak_put(s, ak, &e), 0);
	/* the same AK for another host: refused, naming the owner */
	mk_ak(ak, "charlie", 1);
	assert_int_equal(store_ak_put(s, ak, &e), VOUCH_E_EXISTS);
	assert_non_null(strstr(e.msg, "alpha"));
	/* a host replaces its own AK */
	mk_ak(ak, "alpha", 3);
	assert_int_equal(store_ak_put(s, ak, &e), 0);
	/* ...and its old AK is free again */
	mk_ak(ak, "charlie", 1);
	assert_int_equal(store_ak_put(s, ak, &e), 0);
	assert_int_equal(store_ak_del(s, "charlie", &e), 0);
	assert_int_equal(store_meta_get(s, "epoch", &v, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(store_meta_put(s, "epoch", 41, &e), 0);
	assert_int_equal(store_meta_put(s, "epoch", 42, &e), 0);
	store_free(s);

	assert_int_equal(store_open(path, &s, &e), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_aks_load(s, collect, &seen, &e), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.host[0], "alpha");
	assert_int_equal(seen.name0[0], 3);
	assert_string_equal(seen.host[1], "bravo");
	assert_int_equal(store_meta_get(s, "epoch", &v, &e), 0);
	assert_int_equal(v, 42);
	store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(ak);
}

static void
test_upgrade_v1(void **state)
{
	char dir[] = "/tmp/test_store_ak.XXXXXX", path[128], cmd[160];
	struct store_ak ak;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store *s;
	sqlite3 *db;
	sqlite3_stmt *st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ivt.db", dir);
	/* a schema 1 file as the first release wrote it */
	assert_int_equal(store_open(path, &s, &e), 0);
	store_free(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE ak; DROP TABLE meta; DROP TABLE alerts; "
	    "DROP TABLE pairs; DROP TABLE migrations; "
	    "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* reopened: upgraded in place, usable */
	assert_int_equal(store_open(path, &s, &e), 0);
	mk_ak(&ak, "alpha", 7);
	assert_int_equal(store_ak_put(s, &ak, &e), 0);
	store_free(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), STORE_SCHEMA_VERSION);
	sqlite3_finalize(st);
	sqlite3_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bindings),
		cmocka_unit_test(test_upgrade_v1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
