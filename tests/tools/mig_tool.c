/*
 * mig_tool - drive QEMU VMs through the migration driver API only
 * (migrate/driver.h), for tests/integration/migrate_qemu.sh.
 *
 *   mig_tool state QMP
 *	prints the run state (mig_run_state_name)
 *   mig_tool pause|resume|destroy QMP
 *   mig_tool migrate SRC_QMP DST_QMP URI [--tls-src DIR --tls-dst DIR
 *	    --peer NAME] [--max-bw BYTES] [--timeout S] [--kill-dst-after MS
 *	    PID]
 *	incoming on the destination, migrate on the source, poll progress
 *	until completed/failed/cancelled; prints one JSON line (status,
 *	times, bytes, downtime); on success resumes the destination and
 *	destroys the source (exit 0); otherwise rolls back: destroys the
 *	destination, resumes the source if it is not running (exit 1).
 *   mig_tool attach QMP ID MEMFILE / detach QMP ID
 *	the guard's introspection window (window_attach / window_detach)
 *
 * Test-only: never installed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "migrate/driver.h"

static int
usage(void)
{
	fprintf(stderr, "usage: mig_tool state|pause|resume|destroy QMP\n"
	    "       mig_tool migrate SRC_QMP DST_QMP URI [--tls-src DIR "
	    "--tls-dst DIR --peer NAME] [--max-bw B] [--timeout S]\n"
	    "       mig_tool attach QMP ID MEMFILE | detach QMP ID\n");
	return 2;
}

static int
fail(const char *what, const struct vouch_err *e)
{
	fprintf(stderr, "mig_tool: %s: %s\n", what, e->msg);
	return 1;
}

static const char *
stream_name(enum mig_stream_status s)
{
	static const char *const n[] = { "none", "setup", "active",
	    "completed", "failed", "cancelled" };

	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

/* JSON string body: escape what JSON needs (QEMU's error text). */
static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int
cmd_migrate(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_vm *src = NULL, *dst = NULL;
	struct mig_tls ts = { NULL, NULL }, td = { NULL, NULL };
	struct mig_progress p;
	enum mig_run_state st;
	const char *uri;
	uint64_t bw = 0;
	long timeout_s = 120;
	int64_t t0, t1;
	int i, rc = 1, r, cancelled = 0;

	if (argc < 5)
		return usage();
	uri = argv[4];
	for (i = 5; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--tls-src") == 0)
			ts.dir = argv[++i];
		else if (strcmp(argv[i], "--tls-dst") == 0)
			td.dir = argv[++i];
		else if (strcmp(argv[i], "--peer") == 0)
			ts.peer_name = argv[++i];
		else if (strcmp(argv[i], "--max-bw") == 0)
			bw = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout_s = strtol(argv[++i], NULL, 10);
		else
			return usage();
	}
	if ((ts.dir != NULL) != (td.dir != NULL))
		return usage();
	if (mig_qemu_open(argv[2], "src", &src, &e) < 0 ||
	    mig_qemu_open(argv[3], "dst", &dst, &e) < 0) {
		mig_close(src);
		return fail("open", &e);
	}
	t0 = mono_ms();
	if (mig_incoming(dst, uri, td.dir ? &td : NULL, &e) < 0) {
		fail("incoming", &e);
		goto rollback;
	}
	if (mig_migrate(src, uri, ts.dir ? &ts : NULL, bw, &e) < 0) {
		fail("migrate", &e);
		goto rollback;
	}
	for (;;) {
		if (mig_progress(src, &p, &e) < 0) {
			fail("progress", &e);
			goto rollback;
		}
		if (p.status == MIG_STREAM_COMPLETED ||
		    p.status == MIG_STREAM_FAILED ||
		    p.status == MIG_STREAM_CANCELLED)
			break;
		if (!cancelled && mono_ms() - t0 > timeout_s * 1000) {
			cancelled = 1;
			fprintf(stderr, "mig_tool: no end within %ld s: "
			    "cancelling\n", timeout_s);
			if (mig_cancel(src, &e) < 0)
				fail("cancel", &e);
		}
		sleep_ms(20);
	}
	t1 = mono_ms();
	printf("{\"status\":\"%s\",\"wall_ms\":%" PRId64 ",\"total_time_ms\":"
	    "%" PRId64 ",\"downtime_ms\":%" PRId64 ",\"transferred\":%" PRIu64
	    ",\"total\":%" PRIu64 ",\"mbps\":%.1f,\"max_bw\":%" PRIu64
	    ",\"error\":", stream_name(p.status), t1 - t0, p.total_time_ms,
	    p.downtime_ms, p.transferred, p.total, p.mbps, bw);
	json_str(p.error);
	printf("}\n");
	fflush(stdout);
	if (p.status != MIG_STREAM_COMPLETED)
		goto rollback;
	if (mig_resume(dst, &e) < 0) {
		fail("resume destination", &e);
		goto out;
	}
	if (mig_destroy(src, &e) < 0) {
		fail("destroy source", &e);
		goto out;
	}
	rc = 0;
	goto out;

rollback:
	/* Never two copies running: the destination goes first. */
	if (mig_destroy(dst, &e) < 0)
		fail("rollback: destroy destination", &e);
	/* QEMU restarts a source whose stream failed by itself; make
	 * sure (give it a moment to leave finish-migrate). */
	for (i = 0; i < 50; i++) {
		if ((r = mig_state(src, &st, &e)) < 0) {
			fail("rollback: source state", &e);
			break;
		}
		if (st == MIG_VM_RUNNING || st == MIG_VM_GONE)
			break;
		if (st == MIG_VM_PAUSED || st == MIG_VM_POSTMIGRATE) {
			if (mig_resume(src, &e) < 0)
				fail("rollback: resume source", &e);
			break;
		}
		sleep_ms(20);
	}
out:
	mig_close(src);
	mig_close(dst);
	return rc;
}

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_vm *vm = NULL;
	enum mig_run_state st;
	int r = 0;

	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "migrate") == 0)
		return cmd_migrate(argc, argv);
	if (mig_qemu_open(argv[2], "vm", &vm, &e) < 0)
		return fail("open", &e);
	if (strcmp(argv[1], "state") == 0 && argc == 3) {
		if ((r = mig_state(vm, &st, &e)) == 0)
			printf("%s\n", mig_run_state_name(st));
	} else if (strcmp(argv[1], "pause") == 0 && argc == 3)
		r = mig_pause(vm, &e);
	else if (strcmp(argv[1], "resume") == 0 && argc == 3)
		r = mig_resume(vm, &e);
	else if (strcmp(argv[1], "destroy") == 0 && argc == 3)
		r = mig_destroy(vm, &e);
	else if (strcmp(argv[1], "attach") == 0 && argc == 5)
		r = mig_window_attach(vm, argv[3], argv[4], &e);
	else if (strcmp(argv[1], "detach") == 0 && argc == 4)
		r = mig_window_detach(vm, argv[3], &e);
	else {
		mig_close(vm);
		return usage();
	}
	mig_close(vm);
	if (r < 0)
		return fail(argv[1], &e);
	return 0;
}
