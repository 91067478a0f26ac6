/*
 * vouch-guard - the guard daemon: a thin main() around ids/guard.h.
 *
 *	vouch-guard [--policy FILE] [--target NAME ... | --all] [--once]
 *	    [--json-log FILE] [--alert-cmd PROG] [--verbose]
 *	    [--memory SPEC] [--status FILE] [--console FILE] [--detached]
 *	vouch-guard -n [-v] [--policy FILE]	check the policy [and print it]
 *
 * Threads:
 *	main		opens every guard (start-up failures are fatal), then
 *			waits for SIGTERM/SIGINT (sigtimedwait, 1 s), reaping
 *			finished alert commands in between
 *	one per guard	runs the guard's checks every period_ms on its own
 *			memory handle (handles are not shared between
 *			threads); the guest is never paused: the checks read
 *			a running guest and retry torn list walks
 *
 * Findings stream: each finding as one JSON line (guard.h) on standard
 * output, or appended to --json-log and flushed line by line.  A finding
 * is written when it first appears; while it persists it is written
 * again every GUARD_REPEAT_MS, not every run.  Logs go to standard error.
 *
 * State: saved (atomically) after every run whose set of findings
 * changed, and at exit.
 *
 * Alerts: a run with new critical findings starts --alert-cmd once
 * (fork + execve, never a shell; argv = PROG TARGET, environment
 * VOUCH_GUARD_TARGET only besides PATH), with those findings as JSON lines
 * on its standard input and its standard output sent to standard error.
 * This is the hook for forwarding to vouchd / vouch-tcbd: a later wire
 * ALERT message will carry the same JSON.
 *
 * Guard VM control (a guard running inside a VM that sees its target
 * through an ivshmem window, docs/guards.md "The guard as a VM"):
 *	SIGUSR1	detach: wait for a run in progress, save the state, close
 *		the memory (the window may then be unplugged); the guard
 *		keeps running, reading nothing.  Event "DETACHED".
 *	SIGUSR2	attach: rescan the PCI bus (ivshmem: specs), wait (bounded)
 *		for the memory to appear, reopen it, rebuild the profile and
 *		verify the running target against the baseline of the state
 *		file (guard_open); the verification's findings are reported
 *		as new.  Event "ATTACHED OK" or "ATTACHED FAIL <reason>".
 *	--status FILE	rewritten (atomically) after every event and every
 *		second: "seq N" (counts events), "event ...", "state
 *		ATTACHED|DETACHED", a "guard" line per guard with its last
 *		run's statistics, and "ps PID COMM" per process of the last
 *		run's task list (comm made printable).
 *	--console FILE	each finding again as "VOUCH-FINDING <json>", each
 *		event as "VOUCH-GUARD <event>" (the guard VM's serial console).
 *	--memory SPEC	replaces the memory spec of the one selected guard
 *		(e.g. "ivshmem:", found at open time).
 *	--detached	start detached (no window yet): attach on SIGUSR2.
 *
 * Exit status: 0 clean stop (or policy OK), 1 runtime failure (a guard
 * cannot be opened, the findings stream cannot be written), 2 usage or
 * policy error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ids/guard.h"

#define GUARD_REPEAT_MS		60000	/* persisting findings: re-written */
#define GUARD_FAIL_LOG_MS	60000	/* a failing guard: logged this often */
#define ALERT_MAX_CHILDREN	8
#define ALERT_MAX_FINDINGS	32	/* per alert: stays below a pipe buffer */
#define MAX_TARGETS		GUARD_MAX_GUARDS
#define ATTACH_WAIT_MS		10000	/* attach: the window to appear */
#define STATUS_MAX_PS		1024	/* processes listed in the status */

struct worker {
	struct guard_conf	 conf;		/* the policy's, --memory applied */
	pthread_mutex_t		 mu;		/* gd and the fields below */
	struct guard		*gd;		/* NULL while detached */
	char			*ps;		/* status: "ps PID COMM\n"...;
						   under g.out_lock */
	pthread_t		 thread;
	int			 started;
	struct vmi_findings	 prev;		/* findings of the previous run */
	int64_t			 repeat_at;	/* monotonic ms */
	int64_t			 fail_logged;	/* monotonic ms; 0 = healthy */
};

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 stopping;
	int		 failed;
	pthread_mutex_t	 out_lock;
	FILE		*out;
	const char	*alert_cmd;
	int		 children;
	unsigned	 alerts_dropped;
	long		 max_fd;
	FILE		*con;		/* --console, or NULL */
	const char	*status;	/* --status, or NULL */
	unsigned	 seq;		/* control events so far */
	char		 event[320];	/* the last control event */
} g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.out_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vouch-guard [--policy FILE] [--target NAME ... | --all] "
	    "[--once]\n"
	    "                   [--json-log FILE] [--alert-cmd PROG] "
	    "[--verbose]\n"
	    "                   [--memory SPEC] [--status FILE] "
	    "[--console FILE] [--detached]\n"
	    "       vouch-guard -n [-v] [--policy FILE]\n"
	    "\n"
	    "Watch target VMs from outside (VM introspection) with the guards\n"
	    "of a guard policy: each guard's checks run every period_ms.\n"
	    "\n"
	    "  -p, --policy FILE    guard policy (default " GUARD_DEFAULT_POLICY ")\n"
	    "  -t, --target NAME    run this guard (repeatable)\n"
	    "  -a, --all            run every guard of the policy (the default)\n"
	    "  -1, --once           one run of each guard, then exit\n"
	    "  -j, --json-log FILE  append findings (JSON lines) to FILE, not\n"
	    "                       standard output\n"
	    "  -A, --alert-cmd PROG on new critical findings run PROG TARGET\n"
	    "                       (absolute path, no shell) with the findings\n"
	    "                       as JSON lines on its standard input\n"
	    "  -v, --verbose        debug logging; with -n: print the policy\n"
	    "  -n, --check          check the policy and exit\n"
	    "  -m, --memory SPEC    memory spec of the one selected guard\n"
	    "                       (e.g. ivshmem: inside a guard VM)\n"
	    "  -s, --status FILE    status file (events, last run, processes)\n"
	    "  -C, --console FILE   findings as \"VOUCH-FINDING <json>\" lines\n"
	    "                       and events on FILE (a serial console)\n"
	    "  -D, --detached       start detached; SIGUSR2 attaches\n"
	    "SIGUSR1 detaches (closes the memory), SIGUSR2 attaches again\n"
	    "(reopen, verify against the baseline).\n"
	    "\n"
	    "Exit status: 0 clean stop, 1 runtime failure, 2 usage or policy "
	    "error.\nSee vouch-guard(8) and docs/guards.md.\n");
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
stopping(void)
{
	int s;

	pthread_mutex_lock(&g.lock);
	s = g.stopping;
	pthread_mutex_unlock(&g.lock);
	return s;
}

static void
stop_all(int failed)
{
	pthread_mutex_lock(&g.lock);
	g.stopping = 1;
	if (failed)
		g.failed = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
}

/* ---- findings stream and alerts --------------------------------------- */

static void
emit(const struct guard *gd, const struct vmi_finding *x)
{
	int bad;

	pthread_mutex_lock(&g.out_lock);
	guard_finding_json(gd, x, g.out);
	fputc('\n', g.out);
	bad = fflush(g.out) != 0 || ferror(g.out);
	if (g.con != NULL) {
		/* best effort: a console that fails is not the stream */
		fputs("VOUCH-FINDING ", g.con);
		guard_finding_json(gd, x, g.con);
		fputc('\n', g.con);
		fflush(g.con);
		clearerr(g.con);
	}
	pthread_mutex_unlock(&g.out_lock);
	if (bad) {
		log_err("cannot write the findings stream: %s: stopping",
		    strerror(errno));
		stop_all(1);
		kill(getpid(), SIGTERM);
	}
}

static int
same_finding(const struct vmi_finding *a, const struct vmi_finding *b)
{
	return a->type == b->type && a->check == b->check &&
	    a->index == b->index && a->pid == b->pid && a->addr == b->addr &&
	    a->expected == b->expected && a->actual == b->actual;
}

static int
in_set(const struct vmi_findings *f, const struct vmi_finding *x)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (same_finding(&f->v[i], x))
			return 1;
	return 0;
}

/*
 * Start the alert command with the findings on its stdin.  Called from
 * guard threads: between fork and execve the child only calls
 * async-signal-safe functions.
 */
static void
alert(const struct guard *gd, const struct vmi_finding *const *v, size_t n)
{
	char *buf = NULL, env_target[96];
	size_t len = 0, i;
	char *argv[3], *envp[3];
	FILE *mf;
	int p[2], fd;
	pid_t pid;

	if (g.alert_cmd == NULL || n == 0)
		return;
	pthread_mutex_lock(&g.lock);
	if (g.children >= ALERT_MAX_CHILDREN) {
		g.alerts_dropped++;
		pthread_mutex_unlock(&g.lock);
		return;
	}
	g.children++;
	pthread_mutex_unlock(&g.lock);
	if ((mf = open_memstream(&buf, &len)) == NULL)
		goto fail;
	for (i = 0; i < n && i < ALERT_MAX_FINDINGS; i++) {
		guard_finding_json(gd, v[i], mf);
		fputc('\n', mf);
	}
	if (fclose(mf) != 0)
		goto fail;
	snprintf(env_target, sizeof(env_target), "VOUCH_GUARD_TARGET=%s",
	    gd->conf.target);
	argv[0] = (char *)g.alert_cmd;
	argv[1] = (char *)gd->conf.target;
	argv[2] = NULL;
	envp[0] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
	    "/usr/bin:/sbin:/bin";
	envp[1] = env_target;
	envp[2] = NULL;
	/* Other children close every fd above 2: no O_CLOEXEC race. */
	if (pipe(p) < 0)
		goto fail;
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		goto fail;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[0], 0) < 0 || dup2(2, 1) < 0)
			_exit(127);
		for (fd = 3; fd < g.max_fd; fd++)
			close(fd);
		execve(g.alert_cmd, argv, envp);
		_exit(127);
	}
	close(p[0]);
	(void)fcntl(p[1], F_SETFL, O_NONBLOCK);
	if (write(p[1], buf, len) != (ssize_t)len)
		log_warn("alert command for %s: could not pass all findings",
		    gd->conf.target);
	close(p[1]);
	free(buf);
	log_info("alert command started for %s (pid %ld, %zu finding(s))",
	    gd->conf.target, (long)pid, n < ALERT_MAX_FINDINGS ? n :
	    (size_t)ALERT_MAX_FINDINGS);
	return;
fail:
	log_err("alert command for %s: %s", gd->conf.target, strerror(errno));
	free(buf);
	pthread_mutex_lock(&g.lock);
	g.children--;
	pthread_mutex_unlock(&g.lock);
}

static void
reap_children(int wait_all)
{
	int64_t until = mono_ms() + 5000;
	int status;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			pthread_mutex_lock(&g.lock);
			g.children--;
			pthread_mutex_unlock(&g.lock);
			if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
				log_warn("alert command (pid %ld) exited with %d",
				    (long)pid, WEXITSTATUS(status));
			else if (WIFSIGNALED(status))
				log_warn("alert command (pid %ld) killed by "
				    "signal %d", (long)pid, WTERMSIG(status));
			continue;
		}
		if (!wait_all || pid < 0 || mono_ms() >= until)
			break;
		usleep(20000);
	}
	pthread_mutex_lock(&g.lock);
	if (g.alerts_dropped > 0) {
		log_warn("%u alert(s) dropped: %d alert commands still running",
		    g.alerts_dropped, ALERT_MAX_CHILDREN);
		g.alerts_dropped = 0;
	}
	pthread_mutex_unlock(&g.lock);
}

/*
 * Write the findings of a run that are new (or all of them when the
 * repeat is due); alert on the new critical ones.  Returns 1 if the set
 * of findings changed since the previous run.
 */
static int
report(struct worker *w, const struct vmi_findings *now, int first)
{
	const struct vmi_finding *crit[ALERT_MAX_FINDINGS];
	size_t i, ncrit = 0, nnew = 0;
	int64_t t = mono_ms();
	int repeat = !first && now->n > 0 && t >= w->repeat_at;
	int changed = first ? now->n > 0 : now->n != w->prev.n;

	for (i = 0; i < now->n; i++) {
		const struct vmi_finding *x = &now->v[i];
		int fresh = first || !in_set(&w->prev, x);

		if (fresh) {
			changed = 1;
			nnew++;
			if (x->critical && ncrit < ALERT_MAX_FINDINGS)
				crit[ncrit++] = x;
		}
		if (fresh || repeat)
			emit(w->gd, x);
	}
	for (i = 0; !changed && i < w->prev.n; i++)
		if (!in_set(now, &w->prev.v[i]))
			changed = 1;
	if (repeat || nnew > 0)
		w->repeat_at = t + GUARD_REPEAT_MS;
	if (nnew > 0)
		log_info("%s: %zu new finding(s)%s", w->gd->conf.target, nnew,
		    ncrit ? ", critical" : "");
	alert(w->gd, crit, ncrit);
	return changed;
}

static void
keep_prev(struct worker *w, const struct vmi_findings *now)
{
	size_t i;

	vmi_findings_reset(&w->prev);
	for (i = 0; i < now->n; i++)
		if (vmi_findings_add(&w->prev, &now->v[i]) < 0)
			break;	/* out of memory: some findings repeat */
}

static void
save_state(struct guard *gd)
{
	struct vouch_err e = VOUCH_ERR_INIT;

	if (gd->conf.state[0] != '\0' &&
	    guard_state_save(gd, gd->conf.state, &e) < 0)
		log_err("%s", e.msg);
}

/* ---- guard VM control: status file, detach, attach ----------------- */

static struct worker *workers;		/* for the status file */
static size_t nworkers;

/*
 * Rewrite the status file from the workers' last runs.  Callers hold
 * no worker's mu, or only their own: nothing here takes one (a worker's
 * gd fields are read racily for the figures, never dereferenced when
 * NULL: gd only changes under mu by main, which calls this after).
 */
static void
status_write(void)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	char *buf = NULL;
	size_t len = 0, i;
	int attached = 0;
	FILE *mf;

	if (g.status == NULL)
		return;
	pthread_mutex_lock(&g.out_lock);
	if ((mf = open_memstream(&buf, &len)) == NULL)
		goto out;
	pthread_mutex_lock(&g.lock);
	fprintf(mf, "seq %u\nevent %s\n", g.seq, g.event);
	pthread_mutex_unlock(&g.lock);
	for (i = 0; i < nworkers; i++)
		attached += workers[i].ps != NULL;
	fprintf(mf, "state %s\n", attached == (int)nworkers ? "ATTACHED" :
	    "DETACHED");
	for (i = 0; i < nworkers; i++)
		if (workers[i].ps != NULL)
			fputs(workers[i].ps, mf);
		else
			fprintf(mf, "guard %s detached memory %s\n",
			    workers[i].conf.target, workers[i].conf.memory);
	if (fclose(mf) != 0)
		goto out;
	if (file_write_atomic(g.status, buf, len, 0644, &e) < 0)
		log_warn("%s", e.msg);
out:
	pthread_mutex_unlock(&g.out_lock);
	free(buf);
}

/*
 * The worker's status text after a run or an attach (under w->mu): its
 * guard line and its task list.  Comms are guest-controlled: anything
 * but printable ASCII becomes '?'.
 */
static void
status_snap(struct worker *w)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	const struct guard *gd = w->gd;
	struct vmi_task *t = NULL;
	char *buf = NULL, *old;
	size_t len = 0, n = 0, i, k;
	FILE *mf;

	if (g.status == NULL || gd == NULL ||
	    (mf = open_memstream(&buf, &len)) == NULL)
		return;
	fprintf(mf, "guard %s attached memory %s runs %" PRIu64 " findings %zu"
	    " tasks %zu check_ms %.3f\n", gd->conf.target, gd->mem->desc,
	    gd->runs, gd->last.n, gd->last_stats.tasks,
	    (double)gd->last_stats.ns / 1e6);
	for (i = 0; i < gd->last.n; i++) {
		fputs("finding ", mf);
		guard_finding_json(gd, &gd->last.v[i], mf);
		fputc('\n', mf);
	}
	if (vmi_tasks(gd->lx, &t, &n, &e) == 0) {
		for (i = 0; i < n && i < STATUS_MAX_PS; i++) {
			char comm[VMI_COMM_LEN];

			memcpy(comm, t[i].comm, sizeof(comm));
			comm[sizeof(comm) - 1] = '\0';
			for (k = 0; comm[k] != '\0'; k++)
				if (comm[k] <= ' ' || comm[k] > '~')
					comm[k] = '?';
			fprintf(mf, "ps %" PRId32 " %s\n", t[i].pid, comm);
		}
		free(t);
	} else
		fprintf(mf, "ps-error %s\n", e.msg);
	if (fclose(mf) != 0) {
		free(buf);
		return;
	}
	pthread_mutex_lock(&g.out_lock);
	old = w->ps;
	w->ps = buf;
	pthread_mutex_unlock(&g.out_lock);
	free(old);
}

/* Record a control event: status file, console, log. */
static void
control_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
control_event(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&g.lock);
	va_start(ap, fmt);
	vsnprintf(g.event, sizeof(g.event), fmt, ap);
	va_end(ap);
	g.seq++;
	pthread_mutex_unlock(&g.lock);
	log_info("%s", g.event);
	pthread_mutex_lock(&g.out_lock);
	if (g.con != NULL) {
		fprintf(g.con, "VOUCH-GUARD %s\n", g.event);
		fflush(g.con);
		clearerr(g.con);
	}
	pthread_mutex_unlock(&g.out_lock);
	status_write();
}

/* Close every guard's memory: the window can go. */
static void
detach_all(void)
{
	size_t i;
	char *old;

	for (i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		pthread_mutex_lock(&w->mu);
		if (w->gd != NULL) {
			save_state(w->gd);
			/* keep profile and baseline: re-attach is cheap */
			guard_detach(w->gd);
		}
		pthread_mutex_lock(&g.out_lock);
		old = w->ps;
		w->ps = NULL;
		pthread_mutex_unlock(&g.out_lock);
		pthread_mutex_unlock(&w->mu);
		free(old);
	}
	control_event("DETACHED");
}

/* Ask the kernel to rescan the PCI bus (a hot-plugged window). */
static void
pci_rescan(void)
{
	const char *root = getenv("VOUCH_SYSFS_ROOT");
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/bus/pci/rescan",
	    root != NULL && root[0] != '\0' ? root : "/sys");
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return;
	if (write(fd, "1", 1) != 1)
		log_debug("%s: %s", path, strerror(errno));
	close(fd);
}

/*
 * (Re)open one guard: wait (bounded) until its memory opens, then
 * guard_open, which rebuilds the profile and verifies the running
 * target against the state's baseline.  Under w->mu.
 */
static int
attach_one(struct worker *w, struct vouch_err *e)
{
	struct vmi_findings f = { NULL, 0, 0 };
	struct vmi_mem *probe = NULL;
	int64_t until = mono_ms() + ATTACH_WAIT_MS;
	int r;

	if (w->gd != NULL && !w->gd->detached) {
		save_state(w->gd);
		guard_detach(w->gd);
	}
	for (;;) {
		if (strncmp(w->conf.memory, "ivshmem:", 8) == 0)
			pci_rescan();
		if ((r = vmi_mem_open(w->conf.memory, 0, &probe, e)) == 0)
			break;
		if (mono_ms() >= until)
			return r;
		usleep(100000);
	}
	vmi_mem_close(probe);
	if (w->gd != NULL) {
		/* Same guard, window back: re-validate and verify only. */
		if ((r = guard_reattach(w->gd, &f, e)) < 0) {
			vmi_findings_free(&f);
			return r;
		}
	} else if ((r = guard_open(&w->conf, &w->gd, &f, e)) < 0) {
		vmi_findings_free(&f);
		return r;
	}
	w->fail_logged = 0;
	vmi_findings_reset(&w->prev);
	if (report(w, &f, 1))
		save_state(w->gd);
	keep_prev(w, &f);
	vmi_findings_free(&f);
	return 0;
}

static void
attach_all(void)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	size_t i, nf = 0;
	int r = 0;

	for (i = 0; i < nworkers && r == 0; i++) {
		struct worker *w = &workers[i];

		pthread_mutex_lock(&w->mu);
		e.msg[0] = '\0';
		if ((r = attach_one(w, &e)) == 0) {
			nf += w->prev.n;
			status_snap(w);
		}
		pthread_mutex_unlock(&w->mu);
	}
	if (r < 0)
		control_event("ATTACHED FAIL %s", e.msg);
	else
		control_event("ATTACHED OK %zu finding(s)", nf);
}

/* One run of one guard with its reporting.  0, or -1 if the run failed. */
static int
run_once(struct worker *w)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct guard *gd = w->gd;
	int64_t t = mono_ms();

	if (guard_run(gd, &e) < 0) {
		if (w->fail_logged == 0 || t - w->fail_logged >=
		    GUARD_FAIL_LOG_MS) {
			log_err("%s (retrying every %u ms)", e.msg,
			    gd->conf.period_ms);
			w->fail_logged = t;
		}
		return -1;
	}
	if (w->fail_logged != 0) {
		log_info("%s: checks run again", gd->conf.target);
		w->fail_logged = 0;
	}
	log_debug("%s: run %" PRIu64 ": %zu task(s), %zu finding(s), %.3f ms",
	    gd->conf.target, gd->runs, gd->last_stats.tasks, gd->last.n,
	    (double)gd->last_stats.ns / 1e6);
	if (report(w, &gd->last, 0))
		save_state(gd);
	keep_prev(w, &gd->last);
	if (g.status != NULL) {
		status_snap(w);
		status_write();
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned period = w->conf.period_ms;
	int64_t next = mono_ms();
	struct timespec ts;

	for (;;) {
		pthread_mutex_lock(&w->mu);
		if (w->gd != NULL && !w->gd->detached)	/* detached: nothing to read */
			run_once(w);
		pthread_mutex_unlock(&w->mu);
		next += period;
		if (next < mono_ms())
			next = mono_ms();	/* overran: no backlog */
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_mutex_lock(&g.lock);
		while (!g.stopping &&
		    pthread_cond_timedwait(&g.cond, &g.lock, &ts) == 0)
			;
		if (g.stopping) {
			pthread_mutex_unlock(&g.lock);
			break;
		}
		pthread_mutex_unlock(&g.lock);
	}
	return NULL;
}

/* ---- main ------------------------------------------------------------- */

static void
print_policy(const struct guard_policy *p)
{
	size_t i;
	unsigned bit;

	printf("version = 1;\nguards = (\n");
	for (i = 0; i < p->n; i++) {
		const struct guard_conf *c = &p->g[i];
		const char *sep = "";

		printf("  { target = \"%s\";\n    memory = \"%s\";\n", c->target,
		    c->memory);
		if (c->vmlinux[0])
			printf("    vmlinux = \"%s\";\n", c->vmlinux);
		if (c->system_map[0])
			printf("    system_map = \"%s\";\n", c->system_map);
		printf("    checks = [ ");
		for (bit = 1; bit & VMI_CHECK_ALL; bit <<= 1)
			if (c->checks & bit) {
				printf("%s\"%s\"", sep, vmi_check_name(bit));
				sep = ", ";
			}
		printf(" ];\n    period_ms = %u;\n    repair = %s;\n",
		    c->period_ms, c->repair ? "true" : "false");
		if (c->state[0])
			printf("    state = \"%s\";\n", c->state);
		printf("  }%s\n", i + 1 < p->n ? "," : "");
	}
	printf(");\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "target", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "once", no_argument, NULL, '1' },
		{ "json-log", required_argument, NULL, 'j' },
		{ "alert-cmd", required_argument, NULL, 'A' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "memory", required_argument, NULL, 'm' },
		{ "status", required_argument, NULL, 's' },
		{ "console", required_argument, NULL, 'C' },
		{ "detached", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct guard_policy pol = { NULL, 0 };
	const char *policy = GUARD_DEFAULT_POLICY, *json_log = NULL;
	const char *memory = NULL, *console = NULL;
	int detached = 0;
	const char *targets[MAX_TARGETS];
	const struct guard_conf *sel[MAX_TARGETS];
	struct worker *w = NULL;
	size_t ntargets = 0, nsel = 0, i, j;
	int c, all = 0, once = 0, verbose = 0, check = 0, sig, rc = 0;
	struct sigaction sa;
	struct timespec tick = { 1, 0 };
	pthread_condattr_t ca;
	struct rlimit rl;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "p:t:a1j:A:vnhm:s:C:D", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'p': policy = optarg; break;
		case 't':
			if (ntargets == MAX_TARGETS) {
				fprintf(stderr, "vouch-guard: too many "
				    "--target\n");
				return 2;
			}
			targets[ntargets++] = optarg;
			break;
		case 'a': all = 1; break;
		case '1': once = 1; break;
		case 'j': json_log = optarg; break;
		case 'A': g.alert_cmd = optarg; break;
		case 'v': verbose = 1; break;
		case 'n': check = 1; break;
		case 'h': usage(stdout); return 0;
		case 'm': memory = optarg; break;
		case 's': g.status = optarg; break;
		case 'C': console = optarg; break;
		case 'D': detached = 1; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (all && ntargets > 0) || (detached && once)) {
		usage(stderr);
		return 2;
	}
	log_init("vouch-guard", verbose && !check ? LOG_LVL_DEBUG :
	    LOG_LVL_INFO, LOG_TO_STDERR);
	if (g.alert_cmd != NULL && (g.alert_cmd[0] != '/' ||
	    access(g.alert_cmd, X_OK) != 0)) {
		log_err("--alert-cmd %s: not an executable absolute path",
		    g.alert_cmd);
		return 2;
	}
	if (guard_policy_load(policy, &pol, &e) < 0) {
		log_err("%s", e.msg);
		return 2;
	}
	if (ntargets == 0)
		for (i = 0; i < pol.n; i++)
			sel[nsel++] = &pol.g[i];
	for (i = 0; i < ntargets; i++) {
		const struct guard_conf *gc = guard_policy_find(&pol, targets[i]);

		if (gc == NULL) {
			log_err("%s: no guard for target '%s'", policy,
			    targets[i]);
			guard_policy_free(&pol);
			return 2;
		}
		for (j = 0; j < nsel && sel[j] != gc; j++)
			;
		if (j == nsel)
			sel[nsel++] = gc;
	}
	if (memory != NULL && (nsel != 1 || strlen(memory) >=
	    sizeof(pol.g[0].memory))) {
		log_err("--memory: needs exactly one guard (--target) and a "
		    "spec shorter than %zu bytes", sizeof(pol.g[0].memory));
		guard_policy_free(&pol);
		return 2;
	}
	if (check) {
		if (verbose)
			print_policy(&pol);
		else
			printf("%s: policy OK (%zu guard(s))\n", policy, pol.n);
		guard_policy_free(&pol);
		return 0;
	}

	g.out = stdout;
	if (json_log != NULL && (g.out = fopen(json_log, "ae")) == NULL) {
		log_err("%s: %s", json_log, strerror(errno));
		guard_policy_free(&pol);
		return 1;
	}
	if (console != NULL && (g.con = fopen(console, "ae")) == NULL) {
		log_err("%s: %s", console, strerror(errno));
		if (g.out != stdout)
			fclose(g.out);
		guard_policy_free(&pol);
		return 1;
	}
	g.max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536 ?
	    (long)rl.rlim_cur : 65536;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* Only main receives the stop signals (sigtimedwait). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g.cond, &ca);
	pthread_condattr_destroy(&ca);

	if ((w = calloc(nsel, sizeof(*w))) == NULL) {
		log_err("out of memory");
		guard_policy_free(&pol);
		return 1;
	}
	workers = w;
	nworkers = nsel;
	for (i = 0; i < nsel; i++) {
		w[i].conf = *sel[i];
		if (memory != NULL)
			snprintf(w[i].conf.memory, sizeof(w[i].conf.memory),
			    "%s", memory);
		pthread_mutex_init(&w[i].mu, NULL);
	}
	if (detached)
		control_event("DETACHED");
	for (i = 0; i < nsel && !detached; i++) {
		struct vmi_findings f = { NULL, 0, 0 };

		e.msg[0] = '\0';
		if (guard_open(&w[i].conf, &w[i].gd, &f, &e) < 0) {
			log_err("%s", e.msg);
			vmi_findings_free(&f);
			rc = 1;
			goto out;
		}
		log_info("guard %s: %s, kernel %s (symbols: %s), %" PRIu64
		    " run(s) so far, every %u ms%s", sel[i]->target,
		    w[i].conf.memory, w[i].gd->lx->release,
		    w[i].gd->lx->source, w[i].gd->runs, sel[i]->period_ms,
		    sel[i]->repair ? ", REPAIRS ON" : "");
		/* findings of verifying a moved baseline */
		if (report(&w[i], &f, 1))
			save_state(w[i].gd);
		keep_prev(&w[i], &f);
		vmi_findings_free(&f);
		status_snap(&w[i]);
	}
	if (!detached && g.status != NULL)
		control_event("ATTACHED OK");
	if (once) {
		for (i = 0; i < nsel && !stopping(); i++)
			if (run_once(&w[i]) < 0)
				rc = 1;
		goto out;
	}
	for (i = 0; i < nsel; i++) {
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			log_err("cannot start the thread of %s",
			    w[i].gd->conf.target);
			stop_all(1);
			break;
		}
		w[i].started = 1;
	}
	while (!stopping()) {
		sig = sigtimedwait(&set, NULL, &tick);
		reap_children(0);
		if (sig == SIGHUP)
			log_info("SIGHUP ignored: restart vouch-guard to re-read "
			    "its policy");
		else if (sig == SIGUSR1)
			detach_all();
		else if (sig == SIGUSR2)
			attach_all();
		else if (sig < 0)
			status_write();
		else if (sig > 0) {
			log_info("signal %d: stopping", sig);
			break;
		}
	}
	stop_all(0);
	for (i = 0; i < nsel; i++)
		if (w[i].started)
			pthread_join(w[i].thread, NULL);
out:
	reap_children(1);
	for (i = 0; i < nsel; i++) {
		if (w[i].gd != NULL) {
			save_state(w[i].gd);
			guard_close(w[i].gd);
		}
		vmi_findings_free(&w[i].prev);
		free(w[i].ps);
		pthread_mutex_destroy(&w[i].mu);
	}
	workers = NULL;
	nworkers = 0;
	free(w);
	pthread_mutex_lock(&g.lock);
	if (g.failed)
		rc = 1;
	pthread_mutex_unlock(&g.lock);
	if (g.con != NULL)
		fclose(g.con);
	if (g.out != stdout && g.out != NULL && fclose(g.out) != 0) {
		log_err("%s: %s", json_log, strerror(errno));
		rc = 1;
	}
	guard_policy_free(&pol);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
