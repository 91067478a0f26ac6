/*
 * vouch-guard - the guard daemon: a thin main() around ids/guard.h.
 *
 *	vouch-guard [--policy FILE] [--target NAME ... | --all] [--once]
 *	    [--json-log FILE] [--alert-cmd PROG] [--verbose]
 *	    [--memory SPEC] [--status FILE] [--console FILE] [--detached]
 *	    [--control DEV]
 *	    [--vouchd-conf FILE | --region FILE --host NAME --cert PEM
 *	     --key PEM --ca PEM]
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
 *
 * Alerts to vouch-tcbd (docs/protocol.md, conversation 8): with the
 * host's credentials (--vouchd-conf, i.e. vouchd's configuration: host,
 * region and tls; or --region/--host/--cert/--key/--ca, same meaning),
 * every new critical finding and every repair is sent once as an ALERT
 * carrying the finding's JSON.  The guard threads only queue it: a
 * sender thread connects (mutual TLS, HELLO as the host), pipelines the
 * queue and drops each alert vouch-tcbd ACKs.  The queue is bounded
 * (ALERTQ_MAX): while vouch-tcbd is unreachable the oldest alerts are
 * dropped and counted; reconnects back off from ALERT_BACKOFF_MIN_MS to
 * ALERT_BACKOFF_MAX_MS.  An alert vouch-tcbd answers with ERROR (refused)
 * is dropped and logged.  So checks never wait for the network.
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
 *	--control DEV	the same commands on a serial line, answered on it
 *		(see control_main below): no shell between host and guard.
 *
 * Exit status: 0 clean stop (or policy OK), 1 runtime failure (a guard
 * cannot be opened, the findings stream cannot be written), 2 usage or
 * policy error.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/region.h"
#include "common/tls.h"
#include "common/util.h"
#include "common/wire.h"
#include "attest/agent.h"
#include "attest/agent_client.h"
#include "attest/agent_conf.h"
#include "ids/guard.h"

#define GUARD_REPEAT_MS		60000	/* persisting findings: re-written */
#define GUARD_FAIL_LOG_MS	60000	/* a failing guard: logged this often */
#define ALERT_MAX_CHILDREN	8
#define ALERT_MAX_FINDINGS	32	/* per alert: stays below a pipe buffer */
#define MAX_TARGETS		GUARD_MAX_GUARDS
#define ATTACH_WAIT_MS		10000	/* attach: the window to appear */
#define STATUS_MAX_PS		1024	/* processes listed in the status */
#define ALERTQ_MAX		256	/* alerts waiting for vouch-tcbd */
#define ALERT_PIPELINE		64	/* = SVC_BATCH_MAX of vouch-tcbd */
#define ALERT_BACKOFF_MIN_MS	500
#define ALERT_BACKOFF_MAX_MS	30000
#define ALERT_LOG_MS		60000	/* an unreachable vouch-tcbd: logged */

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
	pthread_cond_t	 ev_cond;	/* seq changed (with lock) */
	const char	*control;	/* --control, or NULL */
} g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.out_lock = PTHREAD_MUTEX_INITIALIZER,
	.ev_cond = PTHREAD_COND_INITIALIZER,
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
	    "                   [--control DEV]\n"
	    "                   [--vouchd-conf FILE | --region FILE --host NAME"
	    " --cert PEM\n"
	    "                    --key PEM --ca PEM]\n"
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
	    "      --control DEV    commands on a serial line: \"attach|detach|"
	    "status TOKEN\"\n"
	    "                       answered \"TOKEN EVENT\" (guard VMs)\n"
	    "  -c, --vouchd-conf FILE  send new critical findings and repairs\n"
	    "                       to vouch-tcbd as ALERTs with this host's\n"
	    "                       credentials from vouchd's configuration\n"
	    "      --region FILE --host NAME --cert PEM --key PEM --ca PEM\n"
	    "                       the same, credentials given one by one\n"
	    "SIGUSR1 detaches (closes the memory), SIGUSR2 attaches again\n"
	    "(reopen, verify against the baseline).\n"
	    "\n"
	    "Exit status: 0 clean stop, 1 runtime failure, 2 usage or policy "
	    "error.\nSee vouch-guard(8) and docs/guards.md.\n");
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

/* ---- alerts to vouch-tcbd (conversation 8) ---------------------------- */

struct aq_item {
	char		 target[WIRE_ALERT_TARGET_MAX + 1];
	char		 type[WIRE_ALERT_TYPE_MAX + 1];
	int		 critical;
	uint64_t	 time_ms;
	char		*json;
};

static struct {
	int			 on;		/* credentials given */
	pthread_mutex_t		 mu;		/* everything below */
	pthread_cond_t		 cv;
	struct aq_item		 q[ALERTQ_MAX];	/* ring: oldest at head */
	size_t			 head, n;
	uint64_t		 dropped, dropped_logged;
	int			 stop, final_tried;
	/* the sender thread's own (no lock needed) */
	pthread_t		 thread;
	int			 started;
	struct tls_ctx		*ctx;
	struct region		*region;	/* --region, or conf's */
	struct agent_conf	*conf;		/* --vouchd-conf */
	char			 host[WIRE_HOST_MAX + 1];
	uint64_t		 seq;		/* last SEQ sent */
} aq = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

static uint64_t
real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
aq_item_free(struct aq_item *it)
{
	free(it->json);
	it->json = NULL;
}

/* Under aq.mu: append, dropping the oldest when full. */
static void
aq_push_locked(struct aq_item *it)
{
	if (aq.n == ALERTQ_MAX) {
		aq_item_free(&aq.q[aq.head]);
		aq.head = (aq.head + 1) % ALERTQ_MAX;
		aq.n--;
		aq.dropped++;
	}
	aq.q[(aq.head + aq.n) % ALERTQ_MAX] = *it;
	aq.n++;
}

/*
 * Queue one finding for vouch-tcbd (guard threads; never blocks on the
 * network).
 */
static void
alert_queue(const struct guard *gd, const struct vmi_finding *x)
{
	struct aq_item it;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	if (!aq.on)
		return;
	memset(&it, 0, sizeof(it));
	if ((mf = open_memstream(&buf, &len)) == NULL)
		return;
	guard_finding_json(gd, x, mf);
	if (fclose(mf) != 0 || len < 2 || len > WIRE_ALERT_JSON_MAX) {
		log_warn("alert for %s: finding of %zu bytes not sent",
		    gd->conf.target, len);
		free(buf);
		return;
	}
	snprintf(it.target, sizeof(it.target), "%s", gd->conf.target);
	snprintf(it.type, sizeof(it.type), "%s",
	    vmi_finding_type_name(x->type));
	it.critical = x->critical != 0;
	it.time_ms = real_ms();
	it.json = buf;
	pthread_mutex_lock(&aq.mu);
	aq_push_locked(&it);
	pthread_cond_signal(&aq.cv);
	pthread_mutex_unlock(&aq.mu);
}

static int
alert_send(struct tls_conn *c, const struct aq_item *it, uint64_t seq,
    struct vouch_err *e)
{
	struct wire_enc *w;
	int r;

	if ((r = wire_enc_new(WIRE_T_ALERT, &w, e)) < 0)
		return r;
	if ((r = wire_put_str(w, WIRE_F_TARGET, it->target, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_TYPE, it->type, e)) < 0 ||
	    (r = wire_put_u8(w, WIRE_F_CRITICAL, (uint8_t)it->critical,
	    e)) < 0 ||
	    (r = wire_put_u64(w, WIRE_F_TIME, it->time_ms, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_JSON, it->json, e)) < 0 ||
	    (r = wire_put_u64(w, WIRE_F_SEQ, seq, e)) < 0) {
		wire_enc_free(w);
		return r;
	}
	return agent_send_enc(c, w, e);
}

/*
 * One connection: send v[0..n) pipelined, read their ACKs in order.
 * *done gets how many were acknowledged, *refused 1 if v[*done] was
 * answered with ERROR (then the connection is over).  0, or the error
 * that ended the connection.
 */
static int
alert_batch(struct tls_conn *c, const struct aq_item *v, size_t n,
    size_t *done, int *refused, struct vouch_err *e)
{
	struct wire_msg *m = NULL;
	uint64_t first = aq.seq + 1, seq;
	size_t i;
	int r;

	*done = 0;
	*refused = 0;
	for (i = 0; i < n; i++)
		if ((r = alert_send(c, &v[i], first + i, e)) < 0)
			return r;
	aq.seq += n;
	for (i = 0; i < n; i++) {
		if ((r = tls_recv(c, AGENT_TIMEOUT_MS, &m, NULL, e)) < 0)
			return r;
		if (wire_msg_type(m) == WIRE_T_ERROR) {
			char msg[1025] = "";

			(void)wire_get_str(m, WIRE_F_MESSAGE, msg, sizeof(msg),
			    NULL);
			wire_msg_free(m);
			*refused = 1;
			return vouch_err_set(e, VOUCH_E_STATE, "alert on %s "
			    "(%s) refused: %s", v[i].target, v[i].type, msg);
		}
		if (wire_msg_type(m) != WIRE_T_ACK ||
		    wire_get_u64(m, WIRE_F_SEQ, &seq, NULL) < 0 ||
		    seq != first + i) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "vouch-tcbd answered "
			    "an ALERT with %s, not ACK %llu",
			    wire_type_name(wire_msg_type(m)),
			    (unsigned long long)(first + i));
			wire_msg_free(m);
			return r;
		}
		wire_msg_free(m);
		m = NULL;
		(*done)++;
	}
	return 0;
}

static void *
alert_sender(void *arg)
{
	const struct region_host *tcbd = region_tcbd(aq.region);
	struct aq_item v[ALERT_PIPELINE];
	int64_t retry_at = 0, logged_at = 0, backoff = 0;
	int failing = 0;

	(void)arg;
	pthread_mutex_lock(&aq.mu);
	for (;;) {
		struct vouch_err e = VOUCH_ERR_INIT;
		struct tls_conn *c = NULL;
		size_t n = 0, done = 0, i;
		int r, refused = 0;

		while (!aq.stop && (aq.n == 0 || mono_ms() < retry_at)) {
			int64_t until = aq.n == 0 ? mono_ms() + 1000 : retry_at;
			struct timespec ts;

			ts.tv_sec = (time_t)(until / 1000);
			ts.tv_nsec = (long)(until % 1000) * 1000000L;
			pthread_cond_timedwait(&aq.cv, &aq.mu, &ts);
		}
		if (aq.dropped != aq.dropped_logged) {
			log_warn("alerts: %llu dropped so far (queue of %d full: "
			    "vouch-tcbd unreachable)",
			    (unsigned long long)aq.dropped, ALERTQ_MAX);
			aq.dropped_logged = aq.dropped;
		}
		if (aq.stop) {
			/* one last try to flush, then go */
			if (aq.n == 0 || aq.final_tried)
				break;
			aq.final_tried = 1;
		}
		/* take a batch out; what is not acknowledged goes back */
		while (n < ALERT_PIPELINE && aq.n > 0) {
			v[n++] = aq.q[aq.head];
			aq.head = (aq.head + 1) % ALERTQ_MAX;
			aq.n--;
		}
		pthread_mutex_unlock(&aq.mu);

		r = agent_dial(aq.ctx, aq.host, WIRE_ROLE_VOUCHD, tcbd, &c, &e);
		while (r == 0 && n > 0) {
			r = alert_batch(c, v, n, &done, &refused, &e);
			for (i = 0; i < done; i++)
				aq_item_free(&v[i]);
			if (refused) {
				/* refusals cannot be helped by re-sending */
				log_warn("alerts: %s", e.msg);
				aq_item_free(&v[done++]);
			}
			memmove(v, v + done, (n - done) * sizeof(v[0]));
			n -= done;
			if (r < 0 || n > 0)
				break;
			/* more queued meanwhile? same connection */
			pthread_mutex_lock(&aq.mu);
			while (n < ALERT_PIPELINE && aq.n > 0) {
				v[n++] = aq.q[aq.head];
				aq.head = (aq.head + 1) % ALERTQ_MAX;
				aq.n--;
			}
			pthread_mutex_unlock(&aq.mu);
		}
		tls_close(c);

		pthread_mutex_lock(&aq.mu);
		/* back to the front, oldest first; a full queue drops them */
		for (i = n; i > 0; i--) {
			if (aq.n == ALERTQ_MAX) {
				aq_item_free(&v[i - 1]);
				aq.dropped++;
				continue;
			}
			aq.head = (aq.head + ALERTQ_MAX - 1) % ALERTQ_MAX;
			aq.q[aq.head] = v[i - 1];
			aq.n++;
		}
		if (r == 0 || refused) {
			if (failing)
				log_info("alerts: vouch-tcbd %s reached again",
				    tcbd->name);
			failing = 0;
			backoff = 0;
			retry_at = 0;
			continue;
		}
		backoff = backoff == 0 ? ALERT_BACKOFF_MIN_MS :
		    backoff * 2 > ALERT_BACKOFF_MAX_MS ? ALERT_BACKOFF_MAX_MS :
		    backoff * 2;
		retry_at = mono_ms() + backoff;
		if (!failing || mono_ms() - logged_at >= ALERT_LOG_MS) {
			log_warn("alerts: cannot deliver to vouch-tcbd: %s (%zu "
			    "queued, retrying with backoff)", e.msg, aq.n);
			logged_at = mono_ms();
		} else
			log_debug("alerts: %s", e.msg);
		failing = 1;
	}
	pthread_mutex_unlock(&aq.mu);
	return NULL;
}

/*
 * The host's credentials: vouchd's configuration, or the options one by
 * one.  Loaded (and the TLS context made, which checks that the
 * certificate verifies against the CA and matches the key) before any
 * guard opens.  0, or -1 after logging (a usage/config error).
 */
static int
alerts_setup(const char *vouchd_conf, const char *region, const char *host,
    const char *cert, const char *key, const char *ca)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	pthread_condattr_t ca_attr;
	int any = region != NULL || host != NULL || cert != NULL ||
	    key != NULL || ca != NULL;

	if (vouchd_conf == NULL && !any)
		return 0;
	if (vouchd_conf != NULL && any) {
		log_err("--vouchd-conf replaces --region, --host, --cert, --key "
		    "and --ca: give one or the other");
		return -1;
	}
	if (vouchd_conf != NULL) {
		if (agent_conf_load(vouchd_conf, &aq.conf, &e) < 0) {
			log_err("%s", e.msg);
			return -1;
		}
		region = aq.conf->region_path;
		host = aq.conf->host;
		cert = aq.conf->tls_cert;
		key = aq.conf->tls_key;
		ca = aq.conf->tls_ca;
	} else if (region == NULL || host == NULL || cert == NULL ||
	    key == NULL || ca == NULL) {
		log_err("alerts need --region, --host, --cert, --key and --ca "
		    "(or --vouchd-conf)");
		return -1;
	}
	if (!wire_host_name_ok(host, strlen(host))) {
		log_err("--host %s: not a lower-case host name", host);
		return -1;
	}
	snprintf(aq.host, sizeof(aq.host), "%s", host);
	if (aq.conf != NULL)
		aq.region = aq.conf->region;
	else if (region_load(region, &aq.region, &e) < 0) {
		log_err("%s", e.msg);
		return -1;
	}
	if (region_find(aq.region, aq.host) == NULL)
		log_warn("alerts: %s is not a host of region %s: vouch-tcbd "
		    "will refuse its alerts", aq.host, region_name(aq.region));
	if (tls_ctx_new(TLS_CLIENT, cert, key, ca, &aq.ctx, &e) < 0) {
		log_err("alerts: %s", e.msg);
		return -1;
	}
	pthread_condattr_init(&ca_attr);
	pthread_condattr_setclock(&ca_attr, CLOCK_MONOTONIC);
	pthread_cond_init(&aq.cv, &ca_attr);
	pthread_condattr_destroy(&ca_attr);
	/* SEQ increases across restarts too: start at the time in us */
	aq.seq = real_ms() * 1000;
	aq.on = 1;
	return 0;
}

static void
alerts_start(void)
{
	if (!aq.on)
		return;
	if (pthread_create(&aq.thread, NULL, alert_sender, NULL) != 0) {
		log_err("alerts: cannot start the sender thread");
		return;
	}
	aq.started = 1;
	log_info("alerts: to vouch-tcbd %s as %s", region_tcbd(aq.region)->name,
	    aq.host);
}

/* Stop the sender after one last attempt to flush, free everything. */
static void
alerts_stop(void)
{
	size_t i;

	if (aq.started) {
		pthread_mutex_lock(&aq.mu);
		aq.stop = 1;
		pthread_cond_signal(&aq.cv);
		pthread_mutex_unlock(&aq.mu);
		pthread_join(aq.thread, NULL);
		aq.started = 0;
	}
	if (aq.n > 0)
		log_warn("alerts: %zu not delivered at exit", aq.n);
	for (i = 0; i < aq.n; i++)
		aq_item_free(&aq.q[(aq.head + i) % ALERTQ_MAX]);
	aq.n = 0;
	tls_ctx_free(aq.ctx);
	aq.ctx = NULL;
	if (aq.conf != NULL)
		agent_conf_free(aq.conf);	/* owns the region */
	else
		region_free(aq.region);
	aq.conf = NULL;
	aq.region = NULL;
}

/*
 * Write the findings of a run that are new (or all of them when the
 * repeat is due); alert on the new critical ones (and send them and new
 * repairs to vouch-tcbd).  Returns 1 if the set
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
			if (x->critical || x->type == VMI_F_REPAIRED)
				alert_queue(w->gd, x);
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
	pthread_cond_broadcast(&g.ev_cond);
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
attach_one(struct worker *w, int64_t *window_ms, struct vouch_err *e)
{
	struct vmi_findings f = { NULL, 0, 0 };
	struct vmi_mem *probe = NULL;
	int64_t t0 = mono_ms(), until = t0 + ATTACH_WAIT_MS, last_rescan = 0;
	int r;

	if (w->gd != NULL && !w->gd->detached) {
		save_state(w->gd);
		guard_detach(w->gd);
	}
	for (;;) {
		/* a hot-plugged window: rescan at most every 100 ms */
		if (strncmp(w->conf.memory, "ivshmem:", 8) == 0 &&
		    mono_ms() - last_rescan >= 100) {
			pci_rescan();
			last_rescan = mono_ms();
		}
		if ((r = vmi_mem_open(w->conf.memory, 0, &probe, e)) == 0)
			break;
		if (mono_ms() >= until)
			return r;
		usleep(10000);
	}
	vmi_mem_close(probe);
	*window_ms += mono_ms() - t0;
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
	int64_t t0 = mono_ms(), window_ms = 0;
	int r = 0;

	for (i = 0; i < nworkers && r == 0; i++) {
		struct worker *w = &workers[i];

		pthread_mutex_lock(&w->mu);
		e.msg[0] = '\0';
		if ((r = attach_one(w, &window_ms, &e)) == 0) {
			nf += w->prev.n;
			status_snap(w);
		}
		pthread_mutex_unlock(&w->mu);
	}
	if (r < 0)
		control_event("ATTACHED FAIL %s", e.msg);
	else
		control_event("ATTACHED OK %zu finding(s) (window %lld ms, "
		    "verified in %lld ms)", nf, (long long)window_ms,
		    (long long)(mono_ms() - t0 - window_ms));
}

/*
 * The control port (--control DEV: a serial line of the guard VM whose
 * other end is the host's, e.g. QEMU's third -serial as a unix socket).
 * One command per line, "VERB TOKEN" (TOKEN: up to 32 characters of
 * [A-Za-z0-9-], echoed so that a client can tell its answer from a late
 * one): "detach" and "attach" do what SIGUSR1 and SIGUSR2 do (main runs
 * them: the request is that very signal) and answer with the event,
 * "status" answers "state ATTACHED|DETACHED seq N".  Answers are one
 * line, "TOKEN TEXT".  Anything else: "TOKEN ERROR ...", or no answer
 * for a line without a token.  It saves a shell round trip per command:
 * what a co-migration's guard detach and attach wait for.
 */
#define CONTROL_LINE_MAX	128
#define CONTROL_TOKEN_MAX	32
#define CONTROL_WAIT_MS		(ATTACH_WAIT_MS + 60000)

static pthread_t control_thread;
static int control_fd = -1, control_started;

static void
control_reply(const char *token, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
control_reply(const char *token, const char *fmt, ...)
{
	char line[CONTROL_TOKEN_MAX + 8 + sizeof(g.event)];
	size_t off = 0;
	int n;
	va_list ap;

	n = snprintf(line, sizeof(line), "%s ", token);
	if (n > 0)
		off = (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - off - 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		off += (size_t)n < sizeof(line) - off - 1 ? (size_t)n :
		    sizeof(line) - off - 2;
	line[off++] = '\n';
	if (write(control_fd, line, off) != (ssize_t)off)
		log_debug("%s: short write", g.control);
}

/* Have main run the signal's action; answer with the event it records. */
static void
control_signal(const char *token, int sig)
{
	struct timespec until;
	unsigned seq;
	int r = 0;

	pthread_mutex_lock(&g.lock);
	seq = g.seq;
	pthread_mutex_unlock(&g.lock);
	kill(getpid(), sig);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CONTROL_WAIT_MS / 1000;
	pthread_mutex_lock(&g.lock);
	while (g.seq == seq && !g.stopping && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&g.ev_cond, &g.lock, &until);
	if (g.seq != seq)
		control_reply(token, "%s", g.event);
	else
		control_reply(token, "ERROR %s", g.stopping ? "stopping" :
		    "no answer");
	pthread_mutex_unlock(&g.lock);
}

static void
control_command(char *line)
{
	char *verb = line, *token, *end;
	size_t i;

	if ((token = strchr(line, ' ')) == NULL)
		return;			/* no token: nobody to answer */
	*token++ = '\0';
	if ((end = strchr(token, ' ')) != NULL)
		*end = '\0';
	if (token[0] == '\0' || strlen(token) > CONTROL_TOKEN_MAX)
		return;
	for (i = 0; token[i] != '\0'; i++)
		if (!isalnum((unsigned char)token[i]) && token[i] != '-')
			return;
	if (strcmp(verb, "attach") == 0)
		control_signal(token, SIGUSR2);
	else if (strcmp(verb, "detach") == 0)
		control_signal(token, SIGUSR1);
	else if (strcmp(verb, "status") == 0) {
		size_t k, attached = 0;

		pthread_mutex_lock(&g.out_lock);
		for (k = 0; k < nworkers; k++)
			attached += workers[k].ps != NULL;
		pthread_mutex_unlock(&g.out_lock);
		pthread_mutex_lock(&g.lock);
		control_reply(token, "state %s seq %u", attached == nworkers ?
		    "ATTACHED" : "DETACHED", g.seq);
		pthread_mutex_unlock(&g.lock);
	} else
		control_reply(token, "ERROR unknown command");
}

static void *
control_main(void *arg)
{
	char buf[CONTROL_LINE_MAX + 1];
	size_t n = 0;
	int skip = 0;

	(void)arg;
	while (!stopping()) {
		struct pollfd p = { control_fd, POLLIN, 0 };
		char c;
		ssize_t k;

		if (poll(&p, 1, 500) <= 0)
			continue;
		if ((k = read(control_fd, &c, 1)) <= 0) {
			if (k < 0 && errno != EINTR && errno != EAGAIN) {
				log_warn("%s: %s", g.control, strerror(errno));
				sleep_ms(500);
			}
			continue;
		}
		if (c == '\r')
			continue;
		if (c != '\n') {
			if (n < CONTROL_LINE_MAX)
				buf[n++] = c;
			else
				skip = 1;	/* overlong: dropped whole */
			continue;
		}
		buf[n] = '\0';
		if (!skip && n > 0)
			control_command(buf);
		n = 0;
		skip = 0;
	}
	return NULL;
}

/* Open --control (raw mode: no echo, no line editing) and start its thread. */
static int
control_start(void)
{
	struct termios t;

	if (g.control == NULL)
		return 0;
	if ((control_fd = open(g.control, O_RDWR | O_NOCTTY | O_CLOEXEC |
	    O_NONBLOCK)) < 0) {
		log_err("--control %s: %s", g.control, strerror(errno));
		return -1;
	}
	if (isatty(control_fd) && tcgetattr(control_fd, &t) == 0) {
		cfmakeraw(&t);
		if (tcsetattr(control_fd, TCSANOW, &t) < 0)
			log_warn("--control %s: raw mode: %s", g.control,
			    strerror(errno));
	}
	if (pthread_create(&control_thread, NULL, control_main, NULL) != 0) {
		log_err("cannot start the control thread");
		close(control_fd);
		control_fd = -1;
		return -1;
	}
	control_started = 1;
	return 0;
}

static void
control_stop(void)
{
	if (control_started)
		pthread_join(control_thread, NULL);
	control_started = 0;
	if (control_fd >= 0)
		close(control_fd);
	control_fd = -1;
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
		{ "control", required_argument, NULL, 'X' },
		{ "vouchd-conf", required_argument, NULL, 'c' },
		{ "region", required_argument, NULL, 'R' },
		{ "host", required_argument, NULL, 'H' },
		{ "cert", required_argument, NULL, 'E' },
		{ "key", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 }
	};
	struct vouch_err e = VOUCH_ERR_INIT;
	struct guard_policy pol = { NULL, 0 };
	const char *policy = GUARD_DEFAULT_POLICY, *json_log = NULL;
	const char *memory = NULL, *console = NULL;
	const char *vconf = NULL, *a_region = NULL, *a_host = NULL;
	const char *a_cert = NULL, *a_key = NULL, *a_ca = NULL;
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

	while ((c = getopt_long(argc, argv, "p:t:a1j:A:vnhm:s:C:Dc:", longopts,
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
		case 'X': g.control = optarg; break;
		case 'c': vconf = optarg; break;
		case 'R': a_region = optarg; break;
		case 'H': a_host = optarg; break;
		case 'E': a_cert = optarg; break;
		case 'K': a_key = optarg; break;
		case 'Q': a_ca = optarg; break;
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
	if (alerts_setup(vconf, a_region, a_host, a_cert, a_key, a_ca) < 0) {
		alerts_stop();
		guard_policy_free(&pol);
		return 2;
	}
	if (check) {
		alerts_stop();
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
		alerts_stop();
		guard_policy_free(&pol);
		return 1;
	}
	if (console != NULL && (g.con = fopen(console, "ae")) == NULL) {
		log_err("%s: %s", console, strerror(errno));
		if (g.out != stdout)
			fclose(g.out);
		alerts_stop();
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
		alerts_stop();
		guard_policy_free(&pol);
		return 1;
	}
	/* after SIGPIPE is ignored and the stop signals are blocked */
	alerts_start();
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
	if (control_start() < 0)
		stop_all(1);
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
	control_stop();
	for (i = 0; i < nsel; i++)
		if (w[i].started)
			pthread_join(w[i].thread, NULL);
out:
	alerts_stop();
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
