/*
 * vouch-tcbd - the Region Critical TCB: option parsing, sockets, threads.
 * The logic is tcb/service.c; this file only moves frames and time.
 *
 *	main thread     accept loop: TLS listener (region tcbd addr:port)
 *	                and the admin unix socket; a thread per connection
 *	                up to max_connections (concurrent clients never wait
 *	                for each other; the IVT has one lock inside svc)
 *	ticker          svc_tick(): epochs, freshness, retries, hook reaping
 *	workers (2)     direct attestations (conversation 5)
 *	orders          evacuation orders to source hosts (conversation 9);
 *	                ATTEST_REQUESTs run in their connection's thread
 *
 * Signals: SIGTERM/SIGINT end the accept loop through a self-pipe, the
 * threads are stopped and joined, and the process exits 0; SIGPIPE is
 * ignored (a peer that vanished is an I/O error, not a death).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/region.h"
#include "common/tls.h"
#include "common/util.h"
#include "attest/policy.h"
#include "tcb/service.h"
#include "tcb/tcbd_conf.h"

#define DEFAULT_CONFIG		"/etc/vouch/tcbd.cfg"
#define DIRECT_WORKERS		2
#define LOG_WARN_PER_SEC	20	/* remote peers can trigger warnings */
#define SHUTDOWN_WAIT_MS	20000

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t stopping;

struct daemon {
	struct tcbd_conf	 conf;
	struct svc		*svc;
	struct tls_ctx		*server;
	int			 tls_fd, admin_fd;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	unsigned		 active;	/* connection threads */
	int			 stop;
	/* log rate limit */
	int64_t			 rl_sec;
	unsigned		 rl_count, rl_dropped;
};

struct conn_arg {
	struct daemon	*d;
	int		 fd;
	int		 local;		/* admin unix socket */
};

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	stopping = 1;
	if (sig_pipe[1] >= 0)
		(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

/* svc's messages: warnings (peer-triggerable) are rate limited. */
static void
on_event(void *arg, enum svc_level lvl, const char *msg)
{
	struct daemon *d = arg;

	if (lvl == SVC_WARN || lvl == SVC_DEBUG) {
		int64_t sec = mono_ms() / 1000;
		unsigned dropped = 0;
		int ok;

		pthread_mutex_lock(&d->mu);
		if (sec != d->rl_sec) {
			dropped = d->rl_dropped;
			d->rl_sec = sec;
			d->rl_count = 0;
			d->rl_dropped = 0;
		}
		ok = d->rl_count++ < LOG_WARN_PER_SEC;
		if (!ok)
			d->rl_dropped++;
		pthread_mutex_unlock(&d->mu);
		if (dropped > 0)
			log_warn("%u messages suppressed (rate limit)", dropped);
		if (!ok)
			return;
	}
	switch (lvl) {
	case SVC_ERR: log_err("%s", msg); break;
	case SVC_WARN: log_warn("%s", msg); break;
	case SVC_INFO: log_info("%s", msg); break;
	case SVC_DEBUG: log_debug("%s", msg); break;
	}
}

/* ---- one connection ------------------------------------------------- */

struct chan {
	struct tls_conn	*tls;
	int		 fd;
};

static int
chan_recv(struct chan *ch, int timeout_ms, struct wire_msg **m,
    enum wire_reason *why, struct vouch_err *e)
{
	if (ch->tls != NULL)
		return tls_recv(ch->tls, timeout_ms, m, why, e);
	return svc_fd_recv(ch->fd, timeout_ms, m, why, e);
}

static int
chan_send(struct chan *ch, const uint8_t *f, size_t len, struct vouch_err *e)
{
	if (ch->tls != NULL)
		return tls_send(ch->tls, f, len, SVC_FRAME_TIMEOUT_MS, e);
	return svc_fd_send(ch->fd, f, len, SVC_FRAME_TIMEOUT_MS, e);
}

/* 1 if a frame's bytes are already waiting (or arrive within ms). */
static int
chan_readable(struct chan *ch, int ms)
{
	struct pollfd p;

	if (ch->tls != NULL && tls_pending(ch->tls))
		return 1;
	p.fd = ch->tls != NULL ? tls_conn_fd(ch->tls) : ch->fd;
	p.events = POLLIN;
	p.revents = 0;
	return poll(&p, 1, ms) > 0;
}

/*
 * The replies of one input, in order.  Several (the ACKs of a pipelined
 * batch) go out as one write: one TLS record and one syscall instead of
 * one per frame; the peer reads frames, not records.
 */
static int
send_all(struct chan *ch, const struct svc_reply *out, struct vouch_err *e)
{
	uint8_t *buf;
	size_t i, total = 0, off = 0;
	int r;

	if (out->n == 1)
		return chan_send(ch, out->frame[0], out->len[0], e);
	for (i = 0; i < out->n; i++)
		total += out->len[i];
	/* tls_send takes at most one frame's worth per call. */
	if (out->n == 0 || total > wire_frame_limit(0) ||
	    (buf = malloc(total)) == NULL) {
		for (i = 0; i < out->n; i++)
			if ((r = chan_send(ch, out->frame[i], out->len[i],
			    e)) < 0)
				return r;
		return 0;
	}
	for (i = 0; i < out->n; i++) {
		memcpy(buf + off, out->frame[i], out->len[i]);
		off += out->len[i];
	}
	r = chan_send(ch, buf, total, e);
	free(buf);
	return r;
}

static void
serve(struct daemon *d, struct chan *ch, struct svc_conv *c, const char *peer)
{
	struct wire_msg *batch[SVC_BATCH_MAX];
	struct svc_reply out = SVC_REPLY_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	enum wire_reason why;
	size_t n, i, max;
	int done = 0;

	while (!done && !d->stop) {
		n = 0;
		if (svc_conv_at_choice(c) && !chan_readable(ch, SVC_IDLE_MS)) {
			svc_conv_idle(c, &out);
		} else if ((why = WIRE_R_OK, chan_recv(ch, SVC_FRAME_TIMEOUT_MS,
		    &batch[n], &why, &e)) < 0) {
			if (why != WIRE_R_OK) {
				log_debug("%s: frame rejected: %s", peer, e.msg);
				svc_conv_reject(c, why, &e, &out);
			} else
				done = 1;	/* closed, timed out: nothing to say */
		} else {
			enum wire_reason bad = WIRE_R_OK;
			struct vouch_err be = VOUCH_ERR_INIT;

			n = 1;
			max = svc_conv_batch_max(c);
			/* Pipelined frames that are already here: one commit. */
			while (n < max && chan_readable(ch, 0)) {
				bad = WIRE_R_OK;
				if (chan_recv(ch, SVC_FRAME_TIMEOUT_MS, &batch[n],
				    &bad, &be) < 0)
					break;
				n++;
			}
			/* The good frames before a bad one still count. */
			svc_conv_input(c, batch, n, &out);
			if (bad != WIRE_R_OK && !out.close) {
				log_debug("%s: frame rejected: %s", peer, be.msg);
				svc_conv_reject(c, bad, &be, &out);
			}
		}
		for (i = 0; i < n; i++)
			wire_msg_free(batch[i]);
		if (send_all(ch, &out, &e) < 0)
			done = 1;
		if (out.close)
			done = 1;
		svc_reply_reset(&out);
	}
	svc_reply_free(&out);
}

static void *
conn_main(void *p)
{
	struct conn_arg *a = p;
	struct daemon *d = a->d;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct chan ch = { NULL, -1 };
	struct svc_conv *c = NULL;
	const char *peer = "local-admin";

	if (a->local) {
		ch.fd = a->fd;
	} else if (tls_accept_fd(d->server, a->fd, SVC_FRAME_TIMEOUT_MS,
	    &ch.tls, &e) < 0) {
		/* A refused certificate ends here, before any frame. */
		on_event(d, SVC_WARN, e.msg);
		goto out;
	} else
		peer = tls_peer_name(ch.tls);
	if (svc_conv_new(d->svc, a->local ? SVC_LOCAL : SVC_TLS, peer, &c,
	    &e) < 0) {
		on_event(d, SVC_WARN, e.msg);
		goto out;
	}
	serve(d, &ch, c, peer);
out:
	svc_conv_free(c);
	tls_close(ch.tls);
	if (ch.fd >= 0)
		close(ch.fd);
	free(a);
	pthread_mutex_lock(&d->mu);
	d->active--;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static void
spawn_conn(struct daemon *d, int fd, int local)
{
	struct conn_arg *a;
	pthread_attr_t at;
	pthread_t th;
	int full;

	pthread_mutex_lock(&d->mu);
	full = d->active >= d->conf.max_connections;
	if (!full)
		d->active++;
	pthread_mutex_unlock(&d->mu);
	if (full) {
		on_event(d, SVC_WARN, "connection refused: max_connections "
		    "reached");
		close(fd);
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto fail;
	a->d = d;
	a->fd = fd;
	a->local = local;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, conn_main, a) != 0) {
		pthread_attr_destroy(&at);
		free(a);
		goto fail;
	}
	pthread_attr_destroy(&at);
	return;
fail:
	log_err("cannot start a connection thread");
	close(fd);
	pthread_mutex_lock(&d->mu);
	d->active--;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* ---- background threads --------------------------------------------- */

static void *
ticker_main(void *p)
{
	struct daemon *d = p;
	int64_t step = d->conf.ivt.interval_ms / 4;
	struct vouch_err e = VOUCH_ERR_INIT;

	if (step > 250)
		step = 250;
	while (!d->stop) {
		struct timespec ts = { 0, (long)step * 1000000L };

		if (svc_tick(d->svc, &e) < 0)
			log_err("tick: %s", e.msg);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *
worker_main(void *p)
{
	struct daemon *d = p;
	struct svc_job job;
	int r;

	while ((r = svc_direct_next(d->svc, 500, &job)) >= 0)
		if (r == 1)
			svc_direct_run(d->svc, &job);
	return NULL;
}

/* Delivers evacuation orders (MIG_ORDER) to source hosts, one at a time. */
static void *
order_main(void *p)
{
	struct daemon *d = p;
	struct svc_order_job job;
	int r;

	while ((r = svc_order_next(d->svc, 500, &job)) >= 0)
		if (r == 1)
			svc_order_run(d->svc, &job);
	return NULL;
}

/* ---- sockets -------------------------------------------------------- */

static int
admin_listen(const char *path, struct vouch_err *e)
{
	struct sockaddr_un sa;
	char dir[TCBD_PATH_MAX], *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return vouch_err_set(e, VOUCH_E_CONFIG, "admin socket path too "
		    "long: %s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (dir_create(dir, 0700, e) < 0)
			return e->code;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "socket: %s", strerror(errno));
	(void)unlink(path);
	/* 0600 from the start: no window where others may connect. */
	{
		mode_t old = umask(0177);
		int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));

		umask(old);
		if (r < 0 || listen(fd, 64) < 0) {
			int err = errno;

			close(fd);
			return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
			    strerror(err));
		}
	}
	return fd;
}

static int
accept_one(int lfd)
{
	int fd = accept(lfd, NULL, NULL);

	if (fd >= 0) {
		/* The per-call deadlines of tls.c and svc_fd_* poll. */
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0)
			(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	return fd;
}

/* ---- main ----------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f, "usage: vouch-tcbd [-d] [-n [-v]] [-f CONFIG]\n"
	    "  -f CONFIG  configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -n         check the configuration (and the files it names) "
	    "and exit\n"
	    "  -v         with -n: print the effective configuration\n"
	    "  -d         stay in the foreground, log to stderr, debug "
	    "level\n");
}

/* -n: everything a start-up would read, without opening the store. */
static int
check_only(const struct tcbd_conf *c, int verbose)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct region *rg = NULL;
	struct policy *p = NULL;
	struct tls_ctx *t = NULL;
	int r;

	if ((r = region_load(c->region, &rg, &e)) < 0 ||
	    (r = policy_load(c->policy, &p, &e)) < 0 ||
	    (r = tls_ctx_new(TLS_SERVER, c->tls_cert, c->tls_key, c->tls_ca,
	    &t, &e)) < 0) {
		fprintf(stderr, "vouch-tcbd: %s\n", e.msg);
		goto out;
	}
	if (strcmp(region_tcbd(rg)->name, c->name) != 0) {
		fprintf(stderr, "vouch-tcbd: %s: name '%s' is not the region's "
		    "tcbd ('%s')\n", c->path, c->name, region_tcbd(rg)->name);
		r = VOUCH_E_CONFIG;
		goto out;
	}
	if (verbose)
		tcbd_conf_print(c, stdout);
	else
		printf("configuration OK\n");
	if (c->ek_ca[0] == '\0')
		fprintf(stderr, "vouch-tcbd: warning: no ek_ca: EK certificates "
		    "are NOT checked (lab only)\n");
out:
	tls_ctx_free(t);
	policy_free(p);
	region_free(rg);
	return r < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	struct daemon d;
	struct svc_hooks hooks;
	struct vouch_err e = VOUCH_ERR_INIT;
	const struct region_host *me;
	struct region *rg = NULL;
	pthread_t ticker, orders, workers[DIRECT_WORKERS];
	struct sigaction sa;
	int ch, check = 0, verbose = 0, debug = 0, i, r, rc = 1;
	char *abspath;
	uint16_t port;

	while ((ch = getopt(argc, argv, "df:nvh")) != -1)
		switch (ch) {
		case 'd': debug = 1; break;
		case 'f': path = optarg; break;
		case 'n': check = 1; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	if (optind != argc || (verbose && !check)) {
		usage(stderr);
		return 2;
	}
	memset(&d, 0, sizeof(d));
	d.tls_fd = d.admin_fd = -1;
	/* Absolute, so paths relative to it do not depend on the cwd. */
	if ((abspath = realpath(path, NULL)) == NULL) {
		fprintf(stderr, "vouch-tcbd: %s: %s\n", path, strerror(errno));
		return 1;
	}
	r = tcbd_conf_load(abspath, &d.conf, &e);
	free(abspath);
	if (r < 0) {
		fprintf(stderr, "vouch-tcbd: %s\n", e.msg);
		return 1;
	}
	if (check)
		return check_only(&d.conf, verbose);

	/* Always in the foreground: systemd (Type=simple) supervises. */
	log_init("vouch-tcbd", debug ? LOG_LVL_DEBUG : LOG_LVL_INFO,
	    debug ? LOG_TO_STDERR : LOG_TO_SYSLOG | LOG_TO_STDERR);
	signal(SIGPIPE, SIG_IGN);
	if (pipe(sig_pipe) < 0)
		fatal("pipe: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		(void)fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
		(void)fcntl(sig_pipe[i], F_SETFL, O_NONBLOCK);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);

	if (d.conf.ek_ca[0] == '\0')
		log_warn("no ek_ca configured: EK certificates are NOT checked "
		    "at enrolment; this is for the lab only");
	memset(&hooks, 0, sizeof(hooks));
	hooks.event = on_event;
	hooks.arg = &d;
	if (svc_new(&d.conf, &hooks, &d.svc, &e) < 0) {
		log_err("%s", e.msg);
		goto out;
	}
	if (region_load(d.conf.region, &rg, &e) < 0 ||
	    tls_ctx_new(TLS_SERVER, d.conf.tls_cert, d.conf.tls_key,
	    d.conf.tls_ca, &d.server, &e) < 0) {
		log_err("%s", e.msg);
		goto out;
	}
	me = region_tcbd(rg);
	if (tls_listen(me->addr, me->port, &d.tls_fd, &port, &e) < 0) {
		log_err("listen %s:%u: %s", me->addr, me->port, e.msg);
		goto out;
	}
	if ((d.admin_fd = admin_listen(d.conf.admin_socket, &e)) < 0) {
		log_err("%s", e.msg);
		goto out;
	}
	if (pthread_create(&ticker, NULL, ticker_main, &d) != 0)
		fatal("cannot start the ticker");
	if (pthread_create(&orders, NULL, order_main, &d) != 0)
		fatal("cannot start the order worker");
	for (i = 0; i < DIRECT_WORKERS; i++)
		if (pthread_create(&workers[i], NULL, worker_main, &d) != 0)
			fatal("cannot start a worker");
	log_info("serving region %s as %s on %s:%u, admin socket %s",
	    region_name(rg), d.conf.name, me->addr, port, d.conf.admin_socket);

	while (!stopping) {
		struct pollfd p[3];
		int fd;

		p[0].fd = d.tls_fd;
		p[1].fd = d.admin_fd;
		p[2].fd = sig_pipe[0];
		for (i = 0; i < 3; i++) {
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		if (poll(p, 3, 1000) < 0) {
			if (errno == EINTR)
				continue;
			log_err("poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents & POLLIN && (fd = accept_one(d.tls_fd)) >= 0)
			spawn_conn(&d, fd, 0);
		if (p[1].revents & POLLIN && (fd = accept_one(d.admin_fd)) >= 0)
			spawn_conn(&d, fd, 1);
	}
	log_info("shutting down");
	d.stop = 1;
	svc_stop(d.svc);
	pthread_join(ticker, NULL);
	pthread_join(orders, NULL);
	for (i = 0; i < DIRECT_WORKERS; i++)
		pthread_join(workers[i], NULL);
	/* Connection threads end within their frame deadlines. */
	{
		int64_t until = mono_ms() + SHUTDOWN_WAIT_MS;

		pthread_mutex_lock(&d.mu);
		while (d.active > 0 && mono_ms() < until) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&d.cv, &d.mu, &ts);
		}
		rc = d.active == 0 ? 0 : 1;
		pthread_mutex_unlock(&d.mu);
	}
	if (rc != 0) {
		/* A thread still uses svc: exit without freeing under it. */
		log_err("%u connections did not end; exiting anyway", d.active);
		_exit(1);
	}
out:
	if (d.admin_fd >= 0) {
		close(d.admin_fd);
		unlink(d.conf.admin_socket);
	}
	if (d.tls_fd >= 0)
		close(d.tls_fd);
	tls_ctx_free(d.server);
	region_free(rg);
	svc_free(d.svc);
	return rc;
}
