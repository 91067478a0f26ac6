/*
 * comig_lab - drive the co-migration engine over lab "hosts" (test-only).
 *
 *   comig_lab [--standby] [--manual] [--solo] [--max-bw BYTES]
 *             [--mem MB] SRCHOST DSTHOST...
 *
 * A lab host is a directory: HOST/target and HOST/guard are lab guests
 * (tools/guest/labguest.sh), HOST/attest (optional, executable) is run
 * as the destination's fresh attestation (exit 0: trusted), HOST/tls-src
 * and HOST/tls-dst (optional) hold x509 credentials for the streams,
 * HOST/name the host's certificate name.  The source host's target and
 * guard run; destinations are started here, paused (--incoming), except a
 * --standby guard, which must already run at each destination with its
 * window off.  --solo migrates the source target alone to the first
 * destination (the "solo downtime" baseline).
 *
 * Prints one JSON line with the result (phase, host, times, downtime) and
 * progress lines ("# phase ...") on stderr.  This is lab glue: in a
 * region the same engine runs in vouchd with hooks that talk to the
 * destination's vouchd and to vouch-tcbd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common/util.h"
#include "migrate/comigrate.h"

static const char *labguest = "tools/guest/labguest.sh";
static int mem_mb = 128;
static int standby;

/* Run argv, capture stdout (up to cap-1 bytes) into out; exit status. */
static int
run(char *const argv[], char *out, size_t cap)
{
	int fd[2], st;
	pid_t pid;
	size_t n = 0;
	ssize_t k;

	if (pipe(fd) < 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	while ((k = read(fd[0], out != NULL ? out + n : (char[256]){ 0 },
	    out != NULL ? cap - 1 - n : 256)) > 0)
		if (out != NULL) {
			n += (size_t)k;
			if (n + 1 >= cap)
				break;
		}
	close(fd[0]);
	if (out != NULL)
		out[n] = '\0';
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &l) < 0)
		port = 0;
	else
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static int
read_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	if (f == NULL || fgets(out, (int)cap, f) == NULL) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int
start_incoming(const char *dir, const char *guard_of, struct vouch_err *e)
{
	char mem[16], out[512];
	char *argv[10];
	int n = 0;

	snprintf(mem, sizeof(mem), "%d", mem_mb);
	argv[n++] = (char *)labguest;
	argv[n++] = (char *)"start";
	argv[n++] = (char *)dir;
	argv[n++] = (char *)"--incoming";
	if (guard_of != NULL) {
		argv[n++] = (char *)"--guard-of";
		argv[n++] = (char *)guard_of;
		argv[n++] = (char *)"--window-off";
	} else {
		argv[n++] = (char *)"--mem";
		argv[n++] = mem;
	}
	argv[n] = NULL;
	if (run(argv, out, sizeof(out)) != 0)
		return vouch_err_set(e, VOUCH_E_IO, "labguest start %s failed",
		    dir);
	return 0;
}

static void
stop_guest(const char *dir)
{
	char *argv[] = { (char *)labguest, (char *)"stop", (char *)dir, NULL };

	(void)run(argv, NULL, 0);
}

/*
 * vouch-guard's control port (DIR/guard.sock, the guard VM's ttyS2):
 * send "WORD TOKEN", wait (bounded) for "TOKEN TEXT"; 0 if TEXT starts
 * with want.  Direct, like a site hook in C would do it: no shell, no
 * interpreter between the engine and the guard.
 */
static int
guard_cmd(const char *dir, const char *word, const char *want,
    struct vouch_err *e)
{
	struct sockaddr_un a;
	char line[512], token[32], buf[1024];
	size_t n = 0, tl;
	int64_t until = mono_ms() + 90000;
	int fd;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if ((size_t)snprintf(a.sun_path, sizeof(a.sun_path), "%s/guard.sock",
	    dir) >= sizeof(a.sun_path))
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: path too long", dir);
	snprintf(token, sizeof(token), "c%ld-%lld", (long)getpid(),
	    (long long)(mono_ms() % 1000000));
	tl = strlen(token);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", a.sun_path,
		    strerror(errno));
	}
	snprintf(line, sizeof(line), "\n%s %s\n", word, token);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_IO, "%s: write", a.sun_path);
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		char *nl;
		ssize_t k;
		int64_t left = until - mono_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			close(fd);
			return vouch_err_set(e, VOUCH_E_IO, "guard %s: no "
			    "answer", word);
		}
		if ((k = read(fd, buf + n, sizeof(buf) - 1 - n)) <= 0) {
			close(fd);
			return vouch_err_set(e, VOUCH_E_IO, "guard %s: closed",
			    word);
		}
		n += (size_t)k;
		buf[n] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			if (nl > buf && nl[-1] == '\r')
				nl[-1] = '\0';
			if (strncmp(buf, token, tl) == 0 && buf[tl] == ' ') {
				int ok = strncmp(buf + tl + 1, want,
				    strlen(want)) == 0;

				close(fd);
				return ok ? 0 : vouch_err_set(e, VOUCH_E_STATE,
				    "guard %s: %s", word, buf + tl + 1);
			}
			n -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, n + 1);
		}
		if (n == sizeof(buf) - 1)
			n = 0;		/* an overlong line: not ours */
	}
}

struct lab {
	char	src[256];
	struct mig_vm *opened[2 * COMIG_MAX_DESTS];
	int	nopened;
};

static int
open_vm(struct lab *l, const char *dir, const char *name, struct mig_vm **vm,
    struct vouch_err *e)
{
	char q[300];
	int r;

	snprintf(q, sizeof(q), "%s/qmp.sock", dir);
	if ((r = mig_qemu_open(q, name, vm, e)) < 0)
		return r;
	if (l->nopened < (int)(sizeof(l->opened) / sizeof(l->opened[0])))
		l->opened[l->nopened++] = *vm;
	return 0;
}

static int
h_prepare(void *arg, const char *host, const struct comig_pair *p,
    enum comig_strategy s, struct comig_dest *d, struct vouch_err *e)
{
	struct lab *l = arg;
	char td[300], gd[300], path[400];
	int r;

	(void)p;
	snprintf(td, sizeof(td), "%s/target", host);
	snprintf(gd, sizeof(gd), "%s/guard", host);
	if ((r = start_incoming(td, NULL, e)) < 0)
		return r;
	if (s == COMIG_PLAIN && (r = start_incoming(gd, td, e)) < 0)
		return r;
	if ((r = open_vm(l, td, "target", &d->target, e)) < 0 ||
	    (r = open_vm(l, gd, "guard", &d->guard, e)) < 0)
		return r;
	snprintf(d->target_uri, sizeof(d->target_uri), "tcp:127.0.0.1:%d",
	    free_port());
	snprintf(d->guard_uri, sizeof(d->guard_uri), "tcp:127.0.0.1:%d",
	    free_port());
	snprintf(path, sizeof(path), "%s/ram.path", td);
	if (read_line(path, d->target_mem, sizeof(d->target_mem)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: no ram.path", td);
	snprintf(path, sizeof(path), "%s/name", host);
	if (read_line(path, d->peer_name, sizeof(d->peer_name)) < 0)
		d->peer_name[0] = '\0';
	snprintf(path, sizeof(path), "%s/tls-dst", host);
	if (access(path, F_OK) == 0) {
		snprintf(d->tls_dir_dst, sizeof(d->tls_dir_dst), "%s", path);
		snprintf(d->tls_dir_src, sizeof(d->tls_dir_src), "%s/tls-src",
		    l->src);
	}
	return 0;
}

static int
h_attest(void *arg, const char *host, struct vouch_err *e)
{
	char path[300], out[512];
	char *argv[] = { path, NULL };

	(void)arg;
	snprintf(path, sizeof(path), "%s/attest", host);
	if (access(path, X_OK) != 0)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "%s has no attestation command: refused", host);
	if (run(argv, out, sizeof(out)) != 0) {
		out[strcspn(out, "\n")] = '\0';
		return vouch_err_set(e, VOUCH_E_STATE, "%s", out);
	}
	return 0;
}

static int
h_detach(void *arg, struct mig_vm *guard, struct vouch_err *e)
{
	struct lab *l = arg;
	char gd[300];

	(void)guard;
	snprintf(gd, sizeof(gd), "%s/guard", l->src);
	return guard_cmd(gd, "detach", "DETACHED", e);
}

static int
h_verify(void *arg, const char *host, struct mig_vm *guard,
    struct vouch_err *e)
{
	struct lab *l = arg;
	char gd[300];

	(void)guard;
	snprintf(gd, sizeof(gd), "%s/guard", strcmp(host, "source") == 0 ?
	    l->src : host);
	return guard_cmd(gd, "attach", "ATTACHED OK", e);
}

static void
h_abandon(void *arg, const char *host, struct comig_dest *d)
{
	char dir[300];

	(void)arg;
	(void)d;
	snprintf(dir, sizeof(dir), "%s/target", host);
	stop_guest(dir);
	if (!standby) {
		snprintf(dir, sizeof(dir), "%s/guard", host);
		stop_guest(dir);
	}
}

static void
h_event(void *arg, const struct comig_event *ev)
{
	(void)arg;
	fprintf(stderr, "# %6lld ms %-12s %-5s %s%s%s", (long long)ev->t_ms,
	    comig_phase_name(ev->phase), ev->done ? "done" : "start",
	    ev->host != NULL ? ev->host : "", ev->msg ? ": " : "",
	    ev->msg ? ev->msg : "");
	if (ev->total > 0)
		fprintf(stderr, " %.1f/%.1f MiB %.0f Mbit/s",
		    (double)ev->bytes / 1048576.0,
		    (double)ev->total / 1048576.0, ev->mbps);
	fputc('\n', stderr);
}

static void
h_alert(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "# ALERT %s\n", msg);
}

/* Make s safe inside a JSON string (quotes, backslashes, controls). */
static const char *
jsafe(char *s)
{
	char *c;

	for (c = s; *c != '\0'; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = '\'';
	return s;
}

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct comig_hooks h = { h_prepare, h_attest, h_detach, h_verify,
	    h_abandon, h_event, h_alert };
	struct comig_opts o = { COMIG_EVACUATE, COMIG_PLAIN, 0, 0 };
	struct comig_result res;
	struct comig_pair p;
	struct lab l;
	char td[300], gd[300], srcmem[256], path[400];
	const char *dests[COMIG_MAX_DESTS];
	size_t nd = 0;
	int i, solo = 0, rc;
	const char *lg = getenv("VOUCH_LABGUEST");

	if (lg != NULL)
		labguest = lg;
	memset(&l, 0, sizeof(l));
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--standby") == 0)
			o.strategy = COMIG_STANDBY, standby = 1;
		else if (strcmp(argv[i], "--manual") == 0)
			o.mode = COMIG_MANUAL;
		else if (strcmp(argv[i], "--solo") == 0)
			solo = 1;
		else if (strcmp(argv[i], "--max-bw") == 0 && i + 1 < argc)
			o.max_bw = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--mem") == 0 && i + 1 < argc)
			mem_mb = atoi(argv[++i]);
		else {
			fprintf(stderr, "comig_lab: unknown option %s\n",
			    argv[i]);
			return 2;
		}
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: comig_lab [--standby] [--manual] [--solo]"
		    " [--max-bw B] [--mem MB] SRCHOST DSTHOST...\n");
		return 2;
	}
	snprintf(l.src, sizeof(l.src), "%s", argv[i++]);
	for (; i < argc && nd < COMIG_MAX_DESTS; i++)
		dests[nd++] = argv[i];
	snprintf(td, sizeof(td), "%s/target", l.src);
	snprintf(gd, sizeof(gd), "%s/guard", l.src);
	memset(&p, 0, sizeof(p));
	p.target = "target";
	p.guard = "guard";
	p.window_id = "win";
	snprintf(path, sizeof(path), "%s/ram.path", td);
	if (read_line(path, srcmem, sizeof(srcmem)) < 0) {
		fprintf(stderr, "comig_lab: %s not running\n", td);
		return 2;
	}
	p.target_src_mem = srcmem;
	if (open_vm(&l, td, "target", &p.target_src, &e) < 0 ||
	    (!solo && open_vm(&l, gd, "guard", &p.guard_src, &e) < 0)) {
		fprintf(stderr, "comig_lab: %s\n", e.msg);
		return 2;
	}
	if (solo) {
		struct comig_dest d;
		char dtd[300];

		memset(&d, 0, sizeof(d));
		snprintf(dtd, sizeof(dtd), "%s/target", dests[0]);
		if ((rc = start_incoming(dtd, NULL, &e)) == 0 &&
		    (rc = open_vm(&l, dtd, "target", &d.target, &e)) == 0) {
			snprintf(d.target_uri, sizeof(d.target_uri),
			    "tcp:127.0.0.1:%d", free_port());
			rc = comig_solo(p.target_src, d.target, d.target_uri,
			    NULL, NULL, &o, &res, &e);
			if (rc == 0)
				(void)mig_destroy(p.target_src, NULL);
		}
	} else {
		rc = comig_run(&p, dests, nd, &o, &h, &l, &res, &e);
	}
	printf("{\"ok\": %s, \"phase\": \"%s\", \"host\": \"%s\", \"tries\": %d,"
	    " \"target_paused\": %s, \"rolled_back\": %s,"
	    " \"target_stream_ms\": %lld, \"guard_stream_ms\": %lld,"
	    " \"verify_ms\": %lld, \"target_downtime_ms\": %lld,"
	    " \"total_ms\": %lld, \"target_bytes\": %llu, \"error\": \"%s\"}\n",
	    rc == 0 ? "true" : "false", comig_phase_name(res.phase), res.host,
	    res.tries, res.target_paused ? "true" : "false",
	    res.rolled_back ? "true" : "false",
	    (long long)res.target_stream_ms, (long long)res.guard_stream_ms,
	    (long long)res.verify_ms, (long long)res.target_downtime_ms,
	    (long long)res.total_ms, (unsigned long long)res.target_bytes,
	    rc == 0 ? "" : jsafe(e.msg));
	for (i = 0; i < l.nopened; i++)
		mig_close(l.opened[i]);
	return rc == 0 ? 0 : 1;
}
