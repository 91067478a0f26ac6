/*
 * evacuate.c - vouchd's migration executor.  Contract and the site hook's
 * verbs: evacuate.h; operations: docs/evacuation.md.
 *
 * Layout:
 *	hook replies	evac_hook_parse (the one parser of hook stdout)
 *	admission	evac_admit / evac_book_done (pure)
 *	hook runner	evac_hook_run (fork + execve, pipes, deadline)
 *	reports		the queue and its sender thread
 *	jobs		one thread per admitted order: locate, comig_run
 *			with hooks (site hook, ATTEST_REQUEST), final report
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "common/util.h"
#include "common/wire.h"
#include "migrate/comigrate.h"
#include "migrate/driver.h"
#include "attest/agent.h"
#include "attest/agent_client.h"
#include "attest/evacuate.h"

extern char **environ;

/* ---- hook replies ------------------------------------------------------- */

enum kind { K_PATH, K_URI, K_HOST, K_ID, K_PATH_OR_EMPTY };

struct key {
	const char	*name;
	enum kind	 kind;
	int		 required;
	size_t		 off, cap;
};

#define KEY(n, k, req) { #n, k, req, offsetof(struct evac_hook_reply, n), \
	sizeof(((struct evac_hook_reply *)0)->n) }

static const struct key locate_keys[] = {
	KEY(qmp, K_PATH, 1), KEY(mem, K_PATH, 1), KEY(window, K_ID, 0),
	{ NULL, K_PATH, 0, 0, 0 }
};
static const struct key prepare_keys[] = {
	KEY(target_qmp, K_PATH, 1), KEY(guard_qmp, K_PATH, 1),
	KEY(target_uri, K_URI, 1), KEY(guard_uri, K_URI, 1),
	KEY(target_mem, K_PATH, 1), KEY(peer, K_HOST, 1),
	KEY(tls_src, K_PATH_OR_EMPTY, 1), KEY(tls_dst, K_PATH_OR_EMPTY, 1),
	{ NULL, K_PATH, 0, 0, 0 }
};

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

static int
value_ok(enum kind k, const char *v)
{
	size_t i;

	switch (k) {
	case K_PATH_OR_EMPTY:
		if (v[0] == '\0')
			return 1;
		/* FALLTHROUGH */
	case K_PATH:
		return v[0] == '/' && printable(v);
	case K_URI:
		return (strncmp(v, "tcp:", 4) == 0 && strchr(v + 4, ':') !=
		    NULL && v[4] != ':') || (strncmp(v, "unix:/", 6) == 0 &&
		    printable(v));
	case K_HOST:
		return wire_host_name_ok(v, strlen(v));
	case K_ID:
		if (v[0] == '\0')
			return 0;
		for (i = 0; v[i] != '\0'; i++)
			if (!((v[i] >= 'a' && v[i] <= 'z') ||
			    (v[i] >= 'A' && v[i] <= 'Z') ||
			    (v[i] >= '0' && v[i] <= '9') || v[i] == '_' ||
			    v[i] == '-'))
				return 0;
		return 1;
	}
	return 0;
}

int
evac_hook_parse(enum evac_verb verb, const char *json, size_t len,
    struct evac_hook_reply *out, struct vouch_err *e)
{
	const struct key *keys = verb == EVAC_PREPARE ? prepare_keys :
	    locate_keys, *k;
	const char *what = verb == EVAC_PREPARE ? "prepare" : "locate";
	struct evac_hook_reply rep;
	json_tokener *tok;
	json_object *o = NULL, *v;
	size_t used;
	int r = 0;

	memset(&rep, 0, sizeof(rep));
	if (len == 0 || len >= EVAC_HOOK_OUT_MAX)
		return vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: %s output",
		    what, len == 0 ? "no" : "overlong");
	if ((tok = json_tokener_new()) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	o = json_tokener_parse_ex(tok, json, (int)len);
	used = (size_t)json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: stdout is not "
		    "one JSON object", what);
		goto out;
	}
	for (; used < len; used++)
		if (json[used] != ' ' && json[used] != '\n' &&
		    json[used] != '\r' && json[used] != '\t') {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: text "
			    "after the JSON object", what);
			goto out;
		}
	{
		json_object_iter it;

		json_object_object_foreachC(o, it) {
			for (k = keys; k->name != NULL; k++)
				if (strcmp(k->name, it.key) == 0)
					break;
			if (k->name == NULL) {
				r = vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: "
				    "unknown key \"%.64s\"", what, it.key);
				goto out;
			}
		}
	}
	for (k = keys; k->name != NULL; k++) {
		const char *s;

		if (!json_object_object_get_ex(o, k->name, &v)) {
			if (!k->required)
				continue;
			r = vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: missing "
			    "\"%s\"", what, k->name);
			goto out;
		}
		if (!json_object_is_type(v, json_type_string)) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: \"%s\" "
			    "is not a string", what, k->name);
			goto out;
		}
		s = json_object_get_string(v);
		if ((size_t)json_object_get_string_len(v) != strlen(s) ||
		    strlen(s) >= k->cap) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: \"%s\" "
			    "too long or holds NUL", what, k->name);
			goto out;
		}
		if (!value_ok(k->kind, s)) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "hook %s: \"%s\": "
			    "not %s", what, k->name,
			    k->kind == K_URI ? "tcp:HOST:PORT or unix:/PATH" :
			    k->kind == K_HOST ? "a host name" :
			    k->kind == K_ID ? "an id of [A-Za-z0-9_-]" :
			    "an absolute path");
			goto out;
		}
		memcpy((char *)&rep + k->off, s, strlen(s) + 1);
	}
	if (verb == EVAC_PREPARE &&
	    (rep.tls_src[0] == '\0') != (rep.tls_dst[0] == '\0')) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "hook prepare: tls_src "
		    "and tls_dst must both be set or both be empty");
		goto out;
	}
	*out = rep;
out:
	json_object_put(o);
	return r;
}

/* ---- admission -------------------------------------------------------- */

/* 1 and *at if id was seen. */
static int
seen_at(const struct evac_book *b, uint64_t id, size_t *at)
{
	size_t i;

	for (i = 0; i < b->nseen; i++)
		if (b->seen[i].id == id) {
			*at = i;
			return 1;
		}
	return 0;
}

void
evac_book_seen(struct evac_book *b, uint64_t id, const char *target,
    const char *guard)
{
	if (b->nseen == EVAC_SEEN_MAX) {
		memmove(&b->seen[0], &b->seen[1], (EVAC_SEEN_MAX - 1) *
		    sizeof(b->seen[0]));
		b->nseen--;
	}
	b->seen[b->nseen].id = id;
	snprintf(b->seen[b->nseen].target, sizeof(b->seen[0].target), "%s",
	    target);
	snprintf(b->seen[b->nseen].guard, sizeof(b->seen[0].guard), "%s",
	    guard);
	b->nseen++;
}

int
evac_admit(struct evac_book *b, const char *peer, uint64_t seq,
    const char *json, size_t len, struct mig_order *o, struct vouch_err *e)
{
	struct vouch_err why = VOUCH_ERR_INIT;
	struct mig_order ord;
	size_t i;

	if (peer == NULL || b->tcbd == NULL || strcmp(peer, b->tcbd) != 0)
		return vouch_err_set(e, VOUCH_E_STATE, "MIG_ORDER is accepted "
		    "only from the region's tcbd '%s', not from '%s'",
		    b->tcbd != NULL ? b->tcbd : "?", peer != NULL ? peer : "?");
	if (!b->enabled)
		return vouch_err_set(e, VOUCH_E_STATE, "no migration section "
		    "in this host's configuration");
	if (order_decode(json, len, &ord, &why) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s", why.msg);
	if (ord.id != seq)
		return vouch_err_set(e, VOUCH_E_FORMAT, "MIG_ORDER SEQ %llu is "
		    "not the order's id %llu", (unsigned long long)seq,
		    (unsigned long long)ord.id);
	if (strcmp(ord.source, b->self) != 0)
		return vouch_err_set(e, VOUCH_E_STATE, "order %llu: source is "
		    "'%s', this host is '%s'", (unsigned long long)ord.id,
		    ord.source, b->self);
	if ((b->strategy == AGENT_MIG_PLAIN && ord.strategy != COMIG_PLAIN) ||
	    (b->strategy == AGENT_MIG_STANDBY &&
	    ord.strategy != COMIG_STANDBY))
		return vouch_err_set(e, VOUCH_E_STATE, "order %llu: strategy "
		    "%s is not accepted here (migration.strategy = \"%s\")",
		    (unsigned long long)ord.id, ord.strategy == COMIG_PLAIN ?
		    "plain" : "standby", agent_mig_strategy_name(b->strategy));
	if (seen_at(b, ord.id, &i)) {
		if (strcmp(b->seen[i].target, ord.target) == 0 &&
		    strcmp(b->seen[i].guard, ord.guard) == 0) {
			/* A re-send (its ACK was lost): ACK, never run. */
			*o = ord;
			return 1;
		}
		return vouch_err_set(e, VOUCH_E_EXISTS, "order %llu was "
		    "received before for %s/%s: never run twice",
		    (unsigned long long)ord.id, b->seen[i].target,
		    b->seen[i].guard);
	}
	for (i = 0; i < b->nrunning; i++) {
		if (strcmp(b->running[i].target, ord.target) == 0 ||
		    strcmp(b->running[i].guard, ord.guard) == 0 ||
		    strcmp(b->running[i].target, ord.guard) == 0 ||
		    strcmp(b->running[i].guard, ord.target) == 0)
			return vouch_err_set(e, VOUCH_E_EXISTS, "order %llu: "
			    "%s/%s is being migrated by order %llu",
			    (unsigned long long)ord.id, ord.target, ord.guard,
			    (unsigned long long)b->running[i].id);
	}
	if (b->nrunning == EVAC_RUNNING_MAX)
		return vouch_err_set(e, VOUCH_E_STATE, "order %llu: %d "
		    "migrations running, try again later",
		    (unsigned long long)ord.id, EVAC_RUNNING_MAX);
	evac_book_seen(b, ord.id, ord.target, ord.guard);
	memcpy(b->running[b->nrunning].target, ord.target,
	    sizeof(ord.target));
	memcpy(b->running[b->nrunning].guard, ord.guard, sizeof(ord.guard));
	b->running[b->nrunning].id = ord.id;
	b->nrunning++;
	*o = ord;
	return 0;
}

void
evac_book_done(struct evac_book *b, uint64_t id)
{
	size_t i;

	for (i = 0; i < b->nrunning; i++)
		if (b->running[i].id == id) {
			memmove(&b->running[i], &b->running[i + 1],
			    (b->nrunning - i - 1) * sizeof(b->running[0]));
			b->nrunning--;
			return;
		}
}

/* ---- the hook runner ---------------------------------------------------- */

static void
append(char *buf, size_t cap, size_t *n, const char *p, size_t len)
{
	if (cap == 0 || *n + 1 >= cap)
		return;
	if (len > cap - 1 - *n)
		len = cap - 1 - *n;
	memcpy(buf + *n, p, len);
	*n += len;
	buf[*n] = '\0';
}

/* Read what is there now (non-blocking fd); 0 at EOF. */
static int
drain(int fd, char *buf, size_t cap, size_t *n)
{
	char tmp[4096];
	ssize_t k;

	for (;;) {
		k = read(fd, tmp, sizeof(tmp));
		if (k > 0) {
			append(buf, cap, n, tmp, (size_t)k);
			continue;
		}
		if (k == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return 1;	/* EAGAIN: open, nothing now */
	}
}

int
evac_hook_run(const struct agent_migration *m, const char *self,
    const char *const *args, size_t nargs, int timeout_ms, char *out,
    size_t out_cap, struct vouch_err *e)
{
	char *argv[AGENT_HOOK_ARGS_MAX + 16], **envp = NULL, hostenv[300];
	char obuf[EVAC_HOOK_OUT_MAX], ebuf[1024];
	size_t on = 0, en = 0, i, n = 0, nenv = 0;
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, st = 0, r, open_o, open_e;
	int64_t deadline;
	pid_t pid, w = 0;

	obuf[0] = ebuf[0] = '\0';
	if (nargs + m->nhook_args + 2 > sizeof(argv) / sizeof(argv[0]))
		return vouch_err_set(e, VOUCH_E_INVAL, "hook: too many "
		    "arguments");
	argv[n++] = (char *)m->hook;
	for (i = 0; i < m->nhook_args; i++)
		argv[n++] = (char *)m->hook_args[i];
	for (i = 0; i < nargs; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	/* The environment, built before fork (the child only execs). */
	snprintf(hostenv, sizeof(hostenv), "VOUCH_HOST=%s", self);
	while (environ != NULL && environ[nenv] != NULL)
		nenv++;
	if ((envp = calloc(nenv + 2, sizeof(*envp))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0, n = 0; i < nenv; i++)
		if (strncmp(environ[i], "VOUCH_HOST=", 11) != 0)
			envp[n++] = environ[i];
	envp[n++] = hostenv;
	envp[n] = NULL;
	if (pipe(po) < 0 || pipe(pe) < 0) {
		r = vouch_err_set(e, VOUCH_E_IO, "hook: pipe: %s",
		    strerror(errno));
		goto out;
	}
	for (i = 0; i < 2; i++) {
		(void)fcntl(po[i], F_SETFD, FD_CLOEXEC);
		(void)fcntl(pe[i], F_SETFD, FD_CLOEXEC);
	}
	if ((pid = fork()) < 0) {
		r = vouch_err_set(e, VOUCH_E_IO, "hook: fork: %s",
		    strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		/* Its own process group: a timeout kills the hook's children. */
		setpgid(0, 0);
		if (null < 0 || dup2(null, 0) < 0 || dup2(po[1], 1) < 0 ||
		    dup2(pe[1], 2) < 0)
			_exit(126);
		/* Nothing of vouchd (sockets, the TPM channel) leaks on. */
		(void)syscall(SYS_close_range, 3U, ~0U, 0U);
		{
			struct sigaction sa;
			sigset_t none;

			/* vouchd blocks the stop signals, ignores SIGPIPE. */
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = SIG_DFL;
			sigaction(SIGPIPE, &sa, NULL);
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
		}
		execve(argv[0], argv, envp);
		_exit(127);
	}
	(void)setpgid(pid, pid);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	(void)fcntl(po[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(pe[0], F_SETFL, O_NONBLOCK);
	deadline = mono_ms() + timeout_ms;
	open_o = open_e = 1;
	/*
	 * Until it exits: a daemon it started (a QEMU) may hold the pipes
	 * open for ever, so EOF is not awaited once the hook has exited.
	 */
	for (;;) {
		struct pollfd p[2];
		int np = 0;

		if (open_o) {
			p[np].fd = po[0];
			p[np++].events = POLLIN;
		}
		if (open_e) {
			p[np].fd = pe[0];
			p[np++].events = POLLIN;
		}
		if (np > 0)
			(void)poll(p, (nfds_t)np, 50);
		else
			sleep_ms(20);
		if (open_o)
			open_o = drain(po[0], obuf, sizeof(obuf), &on);
		if (open_e)
			open_e = drain(pe[0], ebuf, sizeof(ebuf), &en);
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (mono_ms() > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			r = vouch_err_set(e, VOUCH_E_IO, "hook %s: killed after "
			    "%d ms%s%s", nargs ? args[0] : "", timeout_ms,
			    en ? ": " : "", ebuf);
			goto out;
		}
	}
	if (open_o)
		(void)drain(po[0], obuf, sizeof(obuf), &on);
	if (open_e)
		(void)drain(pe[0], ebuf, sizeof(ebuf), &en);
	while (en > 0 && (ebuf[en - 1] == '\n' || ebuf[en - 1] == '\r'))
		ebuf[--en] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char clean[1025];

		agent_reason_clean(en ? ebuf : "no message", clean,
		    sizeof(clean));
		if (WIFEXITED(st))
			r = vouch_err_set(e, VOUCH_E_IO, "hook %s: exit %d: %s",
			    nargs ? args[0] : "", WEXITSTATUS(st), clean);
		else
			r = vouch_err_set(e, VOUCH_E_IO, "hook %s: signal %d: "
			    "%s", nargs ? args[0] : "", WTERMSIG(st), clean);
		goto out;
	}
	if (out != NULL && out_cap > 0) {
		if (on >= out_cap)
			on = out_cap - 1;
		memcpy(out, obuf, on);
		out[on] = '\0';
	}
	r = 0;
out:
	for (i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(envp);
	return r;
}

/* ---- the executor ----------------------------------------------------- */

struct qreport {
	uint64_t	 seq;
	uint64_t	 id;
	int		 final;
	char		*json;
};

struct evac {
	const struct agent_conf	*conf;
	evac_log_fn		 log;
	void			*log_arg;
	struct tls_ctx		*cli;
	char			 seen_path[PATH_MAX + 16];

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct evac_book	 book;
	size_t			 jobs;		/* threads running orders */
	int			 stopping;
	struct qreport		*q;
	size_t			 nq;
	uint64_t		 seq;
	int			 sender_done;
	pthread_t		 sender;
};

static void
elog(struct evac *ev, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
elog(struct evac *ev, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (ev->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ev->log(ev->log_arg, level, msg);
}

size_t
evac_running(struct evac *ev)
{
	size_t n;

	pthread_mutex_lock(&ev->lock);
	n = ev->jobs;
	pthread_mutex_unlock(&ev->lock);
	return n;
}

size_t
evac_queued(struct evac *ev)
{
	size_t n;

	pthread_mutex_lock(&ev->lock);
	n = ev->nq;
	pthread_mutex_unlock(&ev->lock);
	return n;
}

/* Queue one report (takes json). */
static void
queue_report(struct evac *ev, const struct mig_report *rep)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct qreport *grown;
	char *json = NULL;

	if (report_encode(rep, &json, &e) < 0) {
		elog(ev, 2, "migration %llu: report not encoded: %s",
		    (unsigned long long)rep->id, e.msg);
		return;
	}
	pthread_mutex_lock(&ev->lock);
	if (ev->nq == EVAC_QUEUE_MAX) {
		/*
		 * vouch-tcbd away for very long: drop the oldest report that
		 * is not final, never the head (the sender may be sending it).
		 */
		size_t i;

		for (i = 1; i < ev->nq && ev->q[i].final; i++)
			;
		if (i == ev->nq)
			i = 1;
		free(ev->q[i].json);
		memmove(&ev->q[i], &ev->q[i + 1], (ev->nq - i - 1) *
		    sizeof(ev->q[0]));
		ev->nq--;
	}
	if ((grown = realloc(ev->q, (ev->nq + 1) * sizeof(*grown))) == NULL) {
		pthread_mutex_unlock(&ev->lock);
		free(json);
		elog(ev, 2, "migration %llu: report dropped: out of memory",
		    (unsigned long long)rep->id);
		return;
	}
	ev->q = grown;
	ev->q[ev->nq].seq = ev->seq++;
	ev->q[ev->nq].id = rep->id;
	ev->q[ev->nq].final = rep->final;
	ev->q[ev->nq].json = json;
	ev->nq++;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

/* Wait ms or until stopping (lock held); 1 if stopping. */
static int
nap(struct evac *ev, int64_t ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!ev->stopping &&
	    pthread_cond_timedwait(&ev->cond, &ev->lock, &until) == 0)
		;
	return ev->stopping;
}

/* Send the head report on c and wait for its answer; pops it on ACK/ERROR. */
static int
send_head(struct evac *ev, struct tls_conn *c, struct vouch_err *e)
{
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	uint64_t seq, id, got = 0;
	char *json, msg[1025] = "";
	int r, refused = 0;

	pthread_mutex_lock(&ev->lock);
	seq = ev->q[0].seq;
	id = ev->q[0].id;
	json = ev->q[0].json;	/* only this thread frees queued json */
	pthread_mutex_unlock(&ev->lock);
	if ((r = wire_enc_new(WIRE_T_MIG_REPORT, &w, e)) < 0)
		return r;
	if ((r = wire_put_u64(w, WIRE_F_SEQ, seq, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_JSON, json, e)) < 0) {
		wire_enc_free(w);
		/* Cannot ever be sent: drop it. */
		refused = 1;
		snprintf(msg, sizeof(msg), "%s", e != NULL ? e->msg : "");
		goto pop;
	}
	if ((r = agent_send_enc(c, w, e)) < 0 ||
	    (r = tls_recv(c, AGENT_TIMEOUT_MS, &m, NULL, e)) < 0)
		return r;
	if (wire_msg_type(m) == WIRE_T_ERROR) {
		(void)wire_get_str(m, WIRE_F_MESSAGE, msg, sizeof(msg), NULL);
		refused = 1;
	} else if (wire_msg_type(m) != WIRE_T_ACK ||
	    wire_get_u64(m, WIRE_F_SEQ, &got, NULL) < 0 || got != seq) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "vouch-tcbd answered "
		    "MIG_REPORT %llu with %s %llu", (unsigned long long)seq,
		    wire_type_name(wire_msg_type(m)) ?
		    wire_type_name(wire_msg_type(m)) : "?",
		    (unsigned long long)got);
		wire_msg_free(m);
		return r;
	}
	wire_msg_free(m);
pop:
	if (refused)
		elog(ev, 1, "migration %llu: report %llu refused by "
		    "vouch-tcbd: %s", (unsigned long long)id,
		    (unsigned long long)seq, msg);
	pthread_mutex_lock(&ev->lock);
	free(ev->q[0].json);
	memmove(&ev->q[0], &ev->q[1], (ev->nq - 1) * sizeof(ev->q[0]));
	ev->nq--;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	return 0;
}

static void *
sender_main(void *arg)
{
	struct evac *ev = arg;
	struct tls_conn *c = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	int64_t backoff = EVAC_RETRY_MIN_MS;
	int failing = 0, stop;

	for (;;) {
		pthread_mutex_lock(&ev->lock);
		while (ev->nq == 0 && !ev->stopping) {
			if (c != NULL) {
				/* Idle: let the connection go. */
				pthread_mutex_unlock(&ev->lock);
				tls_close(c);
				c = NULL;
				pthread_mutex_lock(&ev->lock);
				continue;
			}
			pthread_cond_wait(&ev->cond, &ev->lock);
		}
		stop = ev->stopping && ev->nq == 0;
		pthread_mutex_unlock(&ev->lock);
		if (stop)
			break;
		if (c == NULL && agent_dial(ev->cli, ev->conf->host,
		    WIRE_ROLE_VOUCHD, region_tcbd(ev->conf->region), &c,
		    &e) < 0)
			c = NULL;
		else if (send_head(ev, c, &e) == 0) {
			if (failing)
				elog(ev, 0, "reports reach vouch-tcbd again");
			failing = 0;
			backoff = EVAC_RETRY_MIN_MS;
			continue;
		} else {
			tls_close(c);
			c = NULL;
		}
		if (!failing)
			elog(ev, 1, "migration report to vouch-tcbd: %s "
			    "(retrying)", e.msg);
		failing = 1;
		pthread_mutex_lock(&ev->lock);
		stop = nap(ev, backoff);
		pthread_mutex_unlock(&ev->lock);
		if (stop)
			break;
		backoff = backoff * 2 > EVAC_RETRY_MAX_MS ? EVAC_RETRY_MAX_MS :
		    backoff * 2;
	}
	tls_close(c);
	pthread_mutex_lock(&ev->lock);
	ev->sender_done = 1;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/* ---- one order ------------------------------------------------------ */

#define JOB_VMS		(2 + 2 * COMIG_MAX_DESTS)

struct job {
	struct evac		*ev;
	struct mig_order	 o;
	struct mig_vm		*vms[JOB_VMS];
	size_t			 nvms;
	char			 alerts[ORDER_MSG_MAX];
	int64_t			 last_progress;
	char			 source_guard_host[ORDER_HOST_MAX];
};

static const char *
strategy_word(enum comig_strategy s)
{
	return s == COMIG_STANDBY ? "standby" : "plain";
}

static int
hook(struct job *j, const char *const *args, size_t nargs, char *out,
    size_t cap, struct vouch_err *e)
{
	const struct agent_migration *m = &j->ev->conf->migration;

	return evac_hook_run(m, j->ev->conf->host, args, nargs,
	    (int)m->hook_timeout * 1000, out, cap, e);
}

static int
open_vm(struct job *j, const char *qmp, const char *name, struct mig_vm **vm,
    struct vouch_err *e)
{
	int r;

	if (j->nvms == JOB_VMS)
		return vouch_err_set(e, VOUCH_E_LIMIT, "too many VM handles");
	if ((r = mig_qemu_open(qmp, name, vm, e)) < 0)
		return r;
	j->vms[j->nvms++] = *vm;
	return 0;
}

static int
locate(struct job *j, const char *vm, struct evac_hook_reply *rep,
    struct vouch_err *e)
{
	const char *args[] = { "locate", vm };
	char out[EVAC_HOOK_OUT_MAX];
	int r;

	if ((r = hook(j, args, 2, out, sizeof(out), e)) < 0 ||
	    (r = evac_hook_parse(EVAC_LOCATE, out, strlen(out), rep, e)) < 0)
		vouch_err_prefix(e, "locate %s", vm);
	return r;
}

static int
h_prepare(void *arg, const char *host, const struct comig_pair *p,
    enum comig_strategy s, struct comig_dest *d, struct vouch_err *e)
{
	struct job *j = arg;
	const char *args[] = { "prepare", host, p->target, p->guard,
	    strategy_word(s) };
	char out[EVAC_HOOK_OUT_MAX];
	struct evac_hook_reply rep;
	int r;

	if ((r = hook(j, args, 5, out, sizeof(out), e)) < 0 ||
	    (r = evac_hook_parse(EVAC_PREPARE, out, strlen(out), &rep,
	    e)) < 0)
		return r;
	if ((r = open_vm(j, rep.target_qmp, p->target, &d->target, e)) < 0 ||
	    (r = open_vm(j, rep.guard_qmp, p->guard, &d->guard, e)) < 0)
		return r;
	snprintf(d->target_uri, sizeof(d->target_uri), "%s", rep.target_uri);
	snprintf(d->guard_uri, sizeof(d->guard_uri), "%s", rep.guard_uri);
	snprintf(d->target_mem, sizeof(d->target_mem), "%s", rep.target_mem);
	snprintf(d->tls_dir_src, sizeof(d->tls_dir_src), "%s", rep.tls_src);
	snprintf(d->tls_dir_dst, sizeof(d->tls_dir_dst), "%s", rep.tls_dst);
	snprintf(d->peer_name, sizeof(d->peer_name), "%s", rep.peer);
	return 0;
}

/*
 * A fresh attestation of host by vouch-tcbd: ATTEST_REQUEST{SUBJECT} ->
 * VERDICT; PASS only with RESULT PASS about exactly that subject.
 */
static int
h_attest(void *arg, const char *host, struct vouch_err *e)
{
	struct job *j = arg;
	struct evac *ev = j->ev;
	struct tls_conn *c = NULL;
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	char subject[WIRE_HOST_MAX + 1], reason[1025] = "", msg[1025] = "";
	uint8_t result = 0;
	uint32_t code = 0;
	int64_t until = mono_ms() + EVAC_ATTEST_DIAL_MS;
	int r, stop = 0, warned = 0;

	/* an unreachable vouch-tcbd is not a refused destination: retry */
	while ((r = agent_dial(ev->cli, ev->conf->host, WIRE_ROLE_VOUCHD,
	    region_tcbd(ev->conf->region), &c, e)) < 0) {
		if (mono_ms() >= until || stop)
			return r;
		if (!warned++)
			elog(ev, 1, "migration %llu: attest %s: %s (retrying "
			    "for %d s)", (unsigned long long)j->o.id, host,
			    e->msg, EVAC_ATTEST_DIAL_MS / 1000);
		pthread_mutex_lock(&ev->lock);
		stop = nap(ev, 500);
		pthread_mutex_unlock(&ev->lock);
	}
	if ((r = wire_enc_new(WIRE_T_ATTEST_REQUEST, &w, e)) < 0)
		goto out;
	if ((r = wire_put_str(w, WIRE_F_SUBJECT, host, e)) < 0) {
		wire_enc_free(w);
		goto out;
	}
	if ((r = agent_send_enc(c, w, e)) < 0 ||
	    (r = tls_recv(c, EVAC_ATTEST_TIMEOUT_MS, &m, NULL, e)) < 0)
		goto out;
	if (wire_msg_type(m) == WIRE_T_ERROR) {
		(void)wire_get_u32(m, WIRE_F_CODE, &code, NULL);
		(void)wire_get_str(m, WIRE_F_MESSAGE, msg, sizeof(msg), NULL);
		r = vouch_err_set(e, VOUCH_E_STATE, "vouch-tcbd refused to "
		    "attest %s: ERROR %u: %s", host, code, msg);
		goto out;
	}
	if (wire_msg_type(m) != WIRE_T_VERDICT ||
	    (r = wire_get_str(m, WIRE_F_SUBJECT, subject, sizeof(subject),
	    e)) < 0 || (r = wire_get_u8(m, WIRE_F_RESULT, &result, e)) < 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "vouch-tcbd answered "
		    "ATTEST_REQUEST with %s", wire_type_name(wire_msg_type(m)) ?
		    wire_type_name(wire_msg_type(m)) : "?");
		goto out;
	}
	(void)wire_get_str(m, WIRE_F_REASON, reason, sizeof(reason), NULL);
	if (strcmp(subject, host) != 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "vouch-tcbd's verdict is "
		    "about %s, not %s", subject, host);
		goto out;
	}
	if (result != WIRE_RESULT_PASS) {
		r = vouch_err_set(e, VOUCH_E_STATE, "%s: fresh attestation %s%s"
		    "%s", host, result == WIRE_RESULT_FAIL ? "FAIL" : "ERROR",
		    reason[0] ? ": " : "", reason);
		goto out;
	}
	r = 0;
out:
	wire_msg_free(m);
	tls_close(c);
	return r;
}

static int
h_detach(void *arg, struct mig_vm *guard, struct vouch_err *e)
{
	struct job *j = arg;
	const char *args[] = { "guard", j->ev->conf->host, j->o.guard,
	    "detach" };

	(void)guard;
	return hook(j, args, 4, NULL, 0, e);
}

static int
h_verify(void *arg, const char *host, struct mig_vm *guard,
    struct vouch_err *e)
{
	struct job *j = arg;
	const char *args[] = { "guard", strcmp(host, "source") == 0 ?
	    j->ev->conf->host : host, j->o.guard, "attach" };

	(void)guard;
	return hook(j, args, 4, NULL, 0, e);
}

static void
h_abandon(void *arg, const char *host, struct comig_dest *d)
{
	struct job *j = arg;
	struct vouch_err e = VOUCH_ERR_INIT;
	const char *args[] = { "abandon", host, j->o.target, j->o.guard,
	    strategy_word(j->o.strategy) };

	(void)d;
	if (hook(j, args, 5, NULL, 0, &e) < 0)
		elog(j->ev, 1, "migration %llu: abandon %s: %s",
		    (unsigned long long)j->o.id, host, e.msg);
}

static void
h_event(void *arg, const struct comig_event *cev)
{
	struct job *j = arg;
	struct mig_report rep;
	int64_t now = mono_ms();

	/* Stream progress: at most one per EVAC_PROGRESS_MS. */
	if (!cev->done && cev->total > 0 && cev->msg == NULL) {
		if (now - j->last_progress < EVAC_PROGRESS_MS)
			return;
		j->last_progress = now;
	}
	memset(&rep, 0, sizeof(rep));
	rep.id = j->o.id;
	rep.phase = cev->phase;
	rep.done = cev->done;
	if (cev->host != NULL)
		snprintf(rep.host, sizeof(rep.host), "%s", cev->host);
	rep.t_ms = cev->t_ms;
	rep.bytes = cev->bytes;
	rep.total = cev->total;
	rep.mbps = cev->mbps;
	if (cev->msg != NULL)
		agent_reason_clean(cev->msg, rep.msg, sizeof(rep.msg));
	if (cev->msg != NULL || cev->phase == COMIG_PH_ATTEST)
		elog(j->ev, cev->msg != NULL ? 1 : 0, "migration %llu: %s %s "
		    "%s%s%s", (unsigned long long)j->o.id,
		    comig_phase_name(cev->phase), cev->done ? "done" : "start",
		    rep.host, cev->msg ? ": " : "", cev->msg ? cev->msg : "");
	queue_report(j->ev, &rep);
}

static void
h_alert(void *arg, const char *msg)
{
	struct job *j = arg;
	size_t n = strlen(j->alerts);

	elog(j->ev, 2, "ALERT migration %llu (%s/%s): %s",
	    (unsigned long long)j->o.id, j->o.target, j->o.guard, msg);
	if (n + 3 < sizeof(j->alerts))
		snprintf(j->alerts + n, sizeof(j->alerts) - n, "%s%s",
		    n ? "; " : "", msg);
}

static void
final_report(struct job *j, int ok, const struct comig_result *res,
    const char *error)
{
	struct mig_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.id = j->o.id;
	rep.phase = res->phase;
	rep.done = 1;
	rep.final = 1;
	snprintf(rep.host, sizeof(rep.host), "%s", res->host);
	rep.t_ms = res->total_ms;
	rep.bytes = res->target_bytes + res->guard_bytes;
	agent_reason_clean(j->alerts[0] ? j->alerts : "", rep.msg,
	    sizeof(rep.msg));
	if (j->alerts[0] == '\0')
		rep.msg[0] = '\0';
	rep.ok = ok;
	rep.target_paused = res->target_paused;
	rep.tries = res->tries;
	rep.target_downtime_ms = res->target_downtime_ms;
	rep.total_ms = res->total_ms;
	if (!ok)
		agent_reason_clean(error[0] ? error : "failed", rep.error,
		    sizeof(rep.error));
	queue_report(j->ev, &rep);
}

static void *
job_main(void *arg)
{
	struct job *j = arg;
	struct evac *ev = j->ev;
	const struct agent_migration *m = &ev->conf->migration;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct comig_hooks h = { h_prepare, h_attest, h_detach, h_verify,
	    h_abandon, h_event, h_alert };
	struct comig_opts o;
	struct comig_result res;
	struct comig_pair p;
	struct evac_hook_reply tl, gl;
	const char *dests[COMIG_MAX_DESTS];
	int64_t t0 = mono_ms();
	size_t i;
	int rc;

	memset(&res, 0, sizeof(res));
	memset(&p, 0, sizeof(p));
	memset(&o, 0, sizeof(o));
	for (i = 0; i < j->o.ndests; i++)
		dests[i] = j->o.dests[i];
	o.mode = j->o.mode;
	o.strategy = j->o.strategy;
	o.max_bw = m->max_bw;
	o.stream_timeout_ms = (int)m->stream_timeout * 1000;
	elog(ev, 0, "migration %llu: %s %s/%s (%s) from %s, %zu "
	    "destination(s), first %s", (unsigned long long)j->o.id,
	    j->o.mode == COMIG_MANUAL ? "manual" : "evacuate", j->o.target,
	    j->o.guard, strategy_word(j->o.strategy), j->o.source,
	    j->o.ndests, j->o.dests[0]);
	res.phase = COMIG_PH_PREPARE;
	if ((rc = locate(j, j->o.target, &tl, &e)) < 0 ||
	    (rc = locate(j, j->o.guard, &gl, &e)) < 0)
		goto done;
	if (gl.window[0] == '\0') {
		rc = vouch_err_set(&e, VOUCH_E_FORMAT, "locate %s: no "
		    "\"window\" for the guard", j->o.guard);
		goto done;
	}
	p.target = j->o.target;
	p.guard = j->o.guard;
	p.window_id = gl.window;
	p.target_src_mem = tl.mem;
	if ((rc = open_vm(j, tl.qmp, j->o.target, &p.target_src, &e)) < 0 ||
	    (rc = open_vm(j, gl.qmp, j->o.guard, &p.guard_src, &e)) < 0)
		goto done;
	rc = comig_run(&p, dests, j->o.ndests, &o, &h, j, &res, &e);
done:
	if (res.total_ms == 0)
		res.total_ms = mono_ms() - t0;
	if (rc == 0)
		elog(ev, 0, "migration %llu: %s/%s DONE at %s: %d tries, "
		    "target downtime %lld ms, total %lld ms",
		    (unsigned long long)j->o.id, j->o.target, j->o.guard,
		    res.host, res.tries, (long long)res.target_downtime_ms,
		    (long long)res.total_ms);
	else
		elog(ev, 2, "migration %llu: %s/%s FAILED in %s: %s%s",
		    (unsigned long long)j->o.id, j->o.target, j->o.guard,
		    comig_phase_name(res.phase), e.msg, res.target_paused ?
		    " (target left paused)" : "");
	if (rc < 0 && res.phase != COMIG_PH_FAILED && res.phase !=
	    COMIG_PH_ROLLBACK)
		res.phase = COMIG_PH_FAILED;
	final_report(j, rc == 0, &res, rc == 0 ? "" : e.msg);
	for (i = 0; i < j->nvms; i++)
		mig_close(j->vms[i]);
	pthread_mutex_lock(&ev->lock);
	evac_book_done(&ev->book, j->o.id);
	ev->jobs--;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	free(j);
	return NULL;
}

int
evac_order(struct evac *ev, const char *peer, uint64_t seq, const char *json,
    size_t len, uint64_t *ack, struct vouch_err *e)
{
	struct vouch_err fe = VOUCH_ERR_INIT;
	struct job *j;
	pthread_attr_t attr;
	pthread_t t;
	char line[32 + 2 * ORDER_NAME_MAX];
	int r;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	j->ev = ev;
	pthread_mutex_lock(&ev->lock);
	if (ev->stopping)
		r = vouch_err_set(e, VOUCH_E_STATE, "vouchd is stopping");
	else
		r = evac_admit(&ev->book, peer, seq, json, len, &j->o, e);
	if (r == 1) {
		pthread_mutex_unlock(&ev->lock);
		elog(ev, 1, "order %llu (%s/%s) received again: acknowledged, "
		    "not run again", (unsigned long long)j->o.id, j->o.target,
		    j->o.guard);
		free(j);
		*ack = seq;
		return 0;
	}
	if (r == 0) {
		/* Never run twice, not even across a restart. */
		snprintf(line, sizeof(line), "%llu %s %s\n",
		    (unsigned long long)j->o.id, j->o.target, j->o.guard);
		if (file_append_sync(ev->seen_path, line, strlen(line),
		    &fe) < 0) {
			evac_book_done(&ev->book, j->o.id);
			r = vouch_err_set(e, VOUCH_E_IO, "order %llu not "
			    "recorded: %s", (unsigned long long)j->o.id,
			    fe.msg);
		}
	}
	if (r == 0)
		ev->jobs++;
	pthread_mutex_unlock(&ev->lock);
	if (r < 0) {
		free(j);
		return r;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, job_main, j) != 0) {
		pthread_attr_destroy(&attr);
		pthread_mutex_lock(&ev->lock);
		evac_book_done(&ev->book, j->o.id);
		ev->jobs--;
		pthread_mutex_unlock(&ev->lock);
		free(j);
		return vouch_err_set(e, VOUCH_E_NOMEM, "no thread for the "
		    "order");
	}
	pthread_attr_destroy(&attr);
	*ack = seq;
	return 0;
}

/* Seen ids from state_dir/evac-ids (the newest EVAC_SEEN_MAX). */
static int
load_seen(struct evac *ev, struct vouch_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char *p, *q, *end, t[ORDER_NAME_MAX], g[ORDER_NAME_MAX];
	unsigned long long id;
	int r;

	if (access(ev->seen_path, F_OK) != 0)
		return 0;
	if ((r = file_read(ev->seen_path, 64u << 20, &buf, &len, e)) < 0)
		return r;
	p = (char *)buf;
	while (p < (char *)buf + len) {
		end = memchr(p, '\n', (size_t)((char *)buf + len - p));
		if (end == NULL)
			break;	/* a torn last line: not recorded */
		*end = '\0';
		/* "ID TARGET GUARD" (the names were validated then). */
		errno = 0;
		id = strtoull(p, &q, 10);
		if (errno == 0 && id > 0 && sscanf(q, " %63s %63s", t, g) == 2)
			evac_book_seen(&ev->book, id, t, g);
		p = end + 1;
	}
	free(buf);
	return 0;
}

int
evac_new(const struct agent_conf *conf, evac_log_fn log, void *log_arg,
    struct evac **out, struct vouch_err *e)
{
	struct evac *ev;
	struct timespec ts;
	int r;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	ev->conf = conf;
	ev->log = log;
	ev->log_arg = log_arg;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
	ev->book.self = conf->host;
	ev->book.tcbd = region_tcbd(conf->region)->name;
	ev->book.enabled = conf->migration.enabled;
	ev->book.strategy = conf->migration.strategy;
	clock_gettime(CLOCK_REALTIME, &ts);
	ev->seq = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	snprintf(ev->seen_path, sizeof(ev->seen_path), "%s/evac-ids",
	    conf->state_dir);
	if ((r = load_seen(ev, e)) < 0 ||
	    (r = tls_ctx_new(TLS_CLIENT, conf->tls_cert, conf->tls_key,
	    conf->tls_ca, &ev->cli, e)) < 0)
		goto fail;
	if (pthread_create(&ev->sender, NULL, sender_main, ev) != 0) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "no report thread");
		goto fail;
	}
	*out = ev;
	return 0;
fail:
	tls_ctx_free(ev->cli);
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->cond);
	free(ev);
	return r;
}

void
evac_free(struct evac *ev, int wait_ms)
{
	int64_t until;
	size_t i;
	int clean;

	if (ev == NULL)
		return;
	until = mono_ms() + wait_ms;
	pthread_mutex_lock(&ev->lock);
	while ((ev->jobs > 0 || ev->nq > 0) && mono_ms() < until) {
		pthread_mutex_unlock(&ev->lock);
		sleep_ms(20);
		pthread_mutex_lock(&ev->lock);
	}
	ev->stopping = 1;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	/* The sender stops within a frame timeout at most. */
	until = mono_ms() + AGENT_TIMEOUT_MS + 1000;
	pthread_mutex_lock(&ev->lock);
	while (!ev->sender_done && mono_ms() < until) {
		pthread_mutex_unlock(&ev->lock);
		sleep_ms(20);
		pthread_mutex_lock(&ev->lock);
	}
	clean = ev->sender_done && ev->jobs == 0;
	pthread_mutex_unlock(&ev->lock);
	if (!clean) {
		/* Threads still use it: the process is about to exit. */
		elog(ev, 1, "stopping with %zu migration(s) running and %zu "
		    "report(s) unsent", ev->jobs, ev->nq);
		return;
	}
	pthread_join(ev->sender, NULL);
	if (ev->nq > 0)
		elog(ev, 1, "%zu migration report(s) not delivered", ev->nq);
	for (i = 0; i < ev->nq; i++)
		free(ev->q[i].json);
	free(ev->q);
	tls_ctx_free(ev->cli);
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->cond);
	free(ev);
}
