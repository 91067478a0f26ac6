/*
 * vouchd - the per-host attestation daemon: a thin main() around
 * attest/agent.h.
 *
 *	vouchd [-d] [-f CONFIG]		run (in the foreground; systemd)
 *	vouchd -n [-v] [-f CONFIG]	check the configuration [and print it]
 *
 * Threads:
 *	main		waits for SIGTERM/SIGINT (sigwait), then stops the rest
 *	listener	accepts connections; one short-lived thread per
 *			connection (at most VOUCHD_MAX_CONN at once) answers
 *			a CHALLENGE with evidence, or admits a MIG_ORDER
 *			from vouch-tcbd (with a migration section)
 *	migrations	(attest/evacuate.h) one thread per admitted order
 *			runs the co-migration engine; one sender thread
 *			delivers its MIG_REPORTs to vouch-tcbd
 *	worker		every interval: re-measure, enrol (until it
 *			succeeds), fetch the epoch, challenge the assigned
 *			neighbours, report the verdicts
 * Privilege separation: before any thread or socket exists, vouchd forks
 * a privileged child that alone holds the TPM, the AK and the runtime
 * log (agent_priv_run) and answers a fixed table of requests over a
 * socketpair, one at a time; the parent (network side: TLS keys,
 * listener, verifier) never opens the TPM.  The child ignores stop
 * signals and exits when the parent closes the socketpair, flushing the
 * AK; the parent waits for it.
 *
 * Exit status: 0 clean stop or config OK, 1 start-up failure, 2 usage or
 * configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tls.h"
#include "attest/agent.h"
#include "attest/agent_conf.h"
#include "attest/evacuate.h"

#define VOUCHD_DEFAULT_CONF	"/etc/vouch/vouchd.cfg"
#define VOUCHD_MAX_CONN		16
#define VOUCHD_STOP_WAIT_MS	1500
/* Migrations running at SIGTERM: this long to finish and report. */
#define VOUCHD_EVAC_WAIT_MS	3000
/* Peer-triggered log lines: at most this many per window. */
#define VOUCHD_RATE_LINES	10
#define VOUCHD_RATE_WINDOW	10

static struct {
	struct agent		*agent;
	struct evac		*evac;		/* NULL: no migration section */
	const struct agent_conf	*conf;
	int			 lfd;
	int			 stop_pipe[2];
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 stopping;
	int			 worker_done;
	int			 listener_done;
	int			 active;	/* connection threads */
	int			 failed;	/* stop with status 1 */
	pid_t			 priv_pid;
	/* rate limit of peer-triggered lines */
	time_t			 rl_window;
	unsigned		 rl_count;
	unsigned		 rl_dropped;
} g = {
	.lfd = -1,
	.stop_pipe = { -1, -1 },
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchd [-d] [-f CONFIG]\n"
	    "       vouchd -n [-v] [-f CONFIG]\n"
	    "\n"
	    "  -f CONFIG  configuration file (default " VOUCHD_DEFAULT_CONF ")\n"
	    "  -n         check the configuration (and the region and policy\n"
	    "             files it names) and exit\n"
	    "  -v         with -n: print the effective configuration\n"
	    "  -d         debug logging\n"
	    "\n"
	    "vouchd runs in the foreground and logs to standard error.\n"
	    "See vouchd(8).\n");
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

/* A line a remote peer can cause: rate limited. */
static void
peer_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
peer_warn(const char *fmt, ...)
{
	char msg[1024];
	time_t now = time(NULL);
	unsigned dropped = 0;
	int emit = 0;
	va_list ap;

	pthread_mutex_lock(&g.lock);
	if (now - g.rl_window >= VOUCHD_RATE_WINDOW) {
		dropped = g.rl_dropped;
		g.rl_window = now;
		g.rl_count = 0;
		g.rl_dropped = 0;
	}
	if (g.rl_count < VOUCHD_RATE_LINES) {
		g.rl_count++;
		emit = 1;
	} else
		g.rl_dropped++;
	pthread_mutex_unlock(&g.lock);
	if (dropped > 0)
		log_warn("%u peer messages suppressed", dropped);
	if (!emit)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s", msg);
}

/* ---- connections ---------------------------------------------------- */

static void
evac_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level >= 2)
		log_err("%s", msg);
	else if (level == 1)
		log_warn("%s", msg);
	else
		log_info("%s", msg);
}

static int
order_handler(void *arg, const char *peer, uint64_t seq, const char *json,
    size_t len, uint64_t *ack, struct vouch_err *e)
{
	return evac_order(arg, peer, seq, json, len, ack, e);
}

static void *
conn_main(void *arg)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	char peer[WIRE_HOST_MAX + 1];
	uint16_t served = 0;
	int fd = (int)(intptr_t)arg;

	if (agent_serve(g.agent, fd, peer, sizeof(peer), &served, &e) < 0) {
		if (served == WIRE_T_MIG_ORDER)
			peer_warn("migration order from %s refused: %s", peer,
			    e.msg);
		else
			peer_warn("connection from %s: %s", peer[0] ? peer :
			    "(no certificate yet)", e.msg);
	} else if (served == WIRE_T_MIG_ORDER)
		log_info("migration order from %s accepted", peer);
	else
		log_info("answered a challenge from %s", peer);
	pthread_mutex_lock(&g.lock);
	g.active--;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

static void *
listener_main(void *arg)
{
	struct pollfd p[2];
	pthread_attr_t attr;
	pthread_t t;
	int fd, busy;

	(void)arg;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	p[0].fd = g.lfd;
	p[0].events = POLLIN;
	p[1].fd = g.stop_pipe[0];
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents != 0 || stopping())
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		if ((fd = accept(g.lfd, NULL, NULL)) < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				peer_warn("accept: %s", strerror(errno));
			continue;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		pthread_mutex_lock(&g.lock);
		busy = g.active >= VOUCHD_MAX_CONN;
		if (!busy)
			g.active++;
		pthread_mutex_unlock(&g.lock);
		if (busy) {
			peer_warn("%d connections in progress: one refused",
			    VOUCHD_MAX_CONN);
			close(fd);
			continue;
		}
		if (pthread_create(&t, &attr, conn_main,
		    (void *)(intptr_t)fd) != 0) {
			log_err("pthread_create failed: connection dropped");
			close(fd);
			pthread_mutex_lock(&g.lock);
			g.active--;
			pthread_mutex_unlock(&g.lock);
		}
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&g.lock);
	g.listener_done = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

/* ---- periodic work ---------------------------------------------------- */

static const char *
result_name(uint8_t r)
{
	switch (r) {
	case WIRE_RESULT_PASS:	return "PASS";
	case WIRE_RESULT_FAIL:	return "FAIL";
	default:		return "ERROR";
	}
}

static void
round_once(struct agent *a)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct agent_epoch ep;
	struct agent_outcome o;
	char note[AGENT_NOTE_MAX];
	size_t changed = 0, acked, refused, i;
	int fresh = 0;

	if (agent_measure(a, &changed, note, &e) < 0)
		log_warn("measure: %s", e.msg);
	if (changed > 0)
		log_info("measured %zu changed file(s): %s", changed, note);
	if (stopping())
		return;
	if (!agent_enrolled(a)) {
		e.msg[0] = '\0';
		if (agent_enrol(a, &e) < 0) {
			log_warn("enrolment with vouch-tcbd: %s (retrying "
			    "every interval)", e.msg);
			return;
		}
		log_info("enrolled with vouch-tcbd (AK bound to the EK)");
	}
	if (agent_epoch_fetch(a, &ep, &fresh, &e) < 0) {
		log_warn("epoch: %s", e.msg);
	} else if (fresh) {
		log_debug("epoch %llu: %zu neighbour(s)",
		    (unsigned long long)ep.epoch, ep.nneighbours);
		for (i = 0; i < ep.nneighbours && !stopping(); i++) {
			if (agent_attest(a, &ep, ep.neighbours[i], &o, &e) < 0) {
				log_err("attest %s: %s", ep.neighbours[i],
				    e.msg);
				continue;
			}
			log_info("epoch %llu: %s %s%s%s%s",
			    (unsigned long long)ep.epoch, ep.neighbours[i],
			    result_name(o.result),
			    o.lied ? " (lab fault switch)" : "",
			    o.nreasons ? ": " : "", o.reason);
			if (o.note[0] != '\0')
				log_warn("attest %s: %s", ep.neighbours[i],
				    o.note);
		}
	}
	if (agent_queued(a) > 0 && !stopping()) {
		if (agent_report(a, &acked, &refused, &e) < 0)
			log_warn("report: %s (%zu verdict(s) still queued)",
			    e.msg, agent_queued(a));
		if (acked > 0 || refused > 0)
			log_info("reported %zu verdict(s) to vouch-tcbd%s",
			    acked, refused ? " (some refused)" : "");
	}
}

static void *
worker_main(void *arg)
{
	struct agent *a = arg;
	struct timespec until;

	for (;;) {
		round_once(a);
		if (!agent_priv_alive(a)) {
			log_err("the privileged (TPM) process has gone away: "
			    "stopping");
			pthread_mutex_lock(&g.lock);
			g.failed = 1;
			pthread_mutex_unlock(&g.lock);
			kill(getpid(), SIGTERM);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)g.conf->interval;
		pthread_mutex_lock(&g.lock);
		while (!g.stopping &&
		    pthread_cond_timedwait(&g.cond, &g.lock, &until) == 0)
			;
		if (g.stopping) {
			pthread_mutex_unlock(&g.lock);
			break;
		}
		pthread_mutex_unlock(&g.lock);
	}
	pthread_mutex_lock(&g.lock);
	g.worker_done = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

/* ---- the privileged process ------------------------------------------ */

/* The child: the TPM and the runtime log, nothing else.  Never returns. */
static void __attribute__((noreturn))
priv_main(struct agent_conf *conf, int sv[2])
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct sigaction sa;
	int r;

	close(sv[0]);
	log_init("vouchd[tpm]", log_get_level(), LOG_TO_STDERR);
	/* It stops when the network side closes the socketpair. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	r = agent_priv_run(conf, sv[1], &e);
	/* Start-up failures are the parent's to report (agent_new). */
	if (r < 0 && strncmp(e.msg, "privsep:", 8) == 0)
		log_err("%s", e.msg);
	close(sv[1]);
	agent_conf_free(conf);
	exit(r < 0 ? 1 : 0);
}

/* Wait (bounded) for the privileged child, which exits at EOF. */
static void
reap_priv(void)
{
	int i, status;

	if (g.priv_pid <= 0)
		return;
	for (i = 0; i < 100; i++) {
		if (waitpid(g.priv_pid, &status, WNOHANG) == g.priv_pid) {
			g.priv_pid = 0;
			return;
		}
		usleep(10000);
	}
	log_warn("the privileged process did not exit: killing it");
	kill(g.priv_pid, SIGKILL);
	waitpid(g.priv_pid, &status, 0);
	g.priv_pid = 0;
}

/* ---- main ----------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct agent_conf *conf = NULL;
	const char *path = VOUCHD_DEFAULT_CONF;
	struct sigaction sa;
	struct timespec until;
	sigset_t set;
	pthread_t worker, listener;
	int c, check = 0, verbose = 0, debug = 0, sig = 0, clean, sv[2];

	while ((c = getopt(argc, argv, "f:nvdh")) != -1) {
		switch (c) {
		case 'f': path = optarg; break;
		case 'n': check = 1; break;
		case 'v': verbose = 1; break;
		case 'd': debug = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (verbose && !check)) {
		usage(stderr);
		return 2;
	}
	log_init("vouchd", debug ? LOG_LVL_DEBUG : LOG_LVL_INFO,
	    LOG_TO_STDERR);
	if (agent_conf_load(path, &conf, &e) < 0) {
		log_err("%s", e.msg);
		return 2;
	}
	if (check) {
		if (verbose)
			agent_conf_print(conf, stdout);
		else
			printf("%s: configuration OK\n", path);
		agent_conf_free(conf);
		return 0;
	}
	g.conf = conf;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* Only main receives the stop signals (sigwait). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (conf->lie != AGENT_LIE_NONE)
		log_warn("LAB FAULT SWITCH: this host reports every verdict "
		    "as %s (region %s)", conf->lie == AGENT_LIE_FAIL ?
		    "FAIL" : "PASS", region_name(conf->region));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		log_err("socketpair: %s", strerror(errno));
		return 1;
	}
	if ((g.priv_pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		return 1;
	}
	if (g.priv_pid == 0)
		priv_main(conf, sv);
	close(sv[1]);
	if (agent_new(conf, sv[0], &g.agent, &e) < 0) {
		log_err("start-up: %s", e.msg);
		reap_priv();
		agent_conf_free(conf);
		return 1;
	}
	if (agent_note(g.agent)[0] != '\0')
		log_warn("start-up: %s", agent_note(g.agent));
	if (tls_listen(conf->listen_addr, conf->listen_port, &g.lfd, NULL,
	    &e) < 0) {
		log_err("listen %s port %u: %s", conf->listen_addr,
		    conf->listen_port, e.msg);
		agent_free(g.agent);
		reap_priv();
		agent_conf_free(conf);
		return 1;
	}
	if (conf->migration.enabled) {
		if (evac_new(conf, evac_log, NULL, &g.evac, &e) < 0) {
			log_err("migration executor: %s", e.msg);
			close(g.lfd);
			agent_free(g.agent);
			reap_priv();
			agent_conf_free(conf);
			return 1;
		}
		agent_set_order_handler(g.agent, order_handler, g.evac);
		log_info("migration orders accepted from %s; site hook %s",
		    region_tcbd(conf->region)->name, conf->migration.hook);
	}
	if (pipe(g.stop_pipe) < 0) {
		log_err("pipe: %s", strerror(errno));
		return 1;
	}
	log_info("host %s, region %s, policy %s, listening on %s port %u, "
	    "interval %u s", conf->host, region_name(conf->region),
	    policy_name(conf->policy), conf->listen_addr, conf->listen_port,
	    conf->interval);
	if (pthread_create(&listener, NULL, listener_main, NULL) != 0 ||
	    pthread_create(&worker, NULL, worker_main, g.agent) != 0) {
		log_err("cannot start threads");
		return 1;
	}

	while (sigwait(&set, &sig) != 0 || sig == SIGHUP) {
		if (sig == SIGHUP)
			log_info("SIGHUP ignored: restart vouchd to re-read "
			    "its configuration");
	}
	log_info("signal %d: stopping", sig);
	pthread_mutex_lock(&g.lock);
	g.stopping = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	if (write(g.stop_pipe[1], "x", 1) < 0)
		log_warn("stop pipe: %s", strerror(errno));

	/* Bounded: a peer in the middle of a 5 s frame must not delay exit. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(VOUCHD_STOP_WAIT_MS % 1000) * 1000000L;
	until.tv_sec += VOUCHD_STOP_WAIT_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&g.lock);
	while (!(g.worker_done && g.listener_done && g.active == 0) &&
	    pthread_cond_timedwait(&g.cond, &g.lock, &until) == 0)
		;
	clean = g.worker_done && g.listener_done && g.active == 0;
	pthread_mutex_unlock(&g.lock);

	/* Running migrations get a moment to finish and report. */
	evac_free(g.evac, clean ? VOUCHD_EVAC_WAIT_MS : 0);
	/* No TPM handle may outlive vouchd (swtpm has no resource manager). */
	agent_tpm_shutdown(g.agent);
	reap_priv();
	if (clean) {
		pthread_join(worker, NULL);
		pthread_join(listener, NULL);
		close(g.lfd);
		agent_free(g.agent);
		agent_conf_free(conf);
		log_info("stopped");
	} else
		log_warn("stopped with work in progress (abandoned)");
	return g.failed ? 1 : 0;
}
