/*
 * drv_xen.c - the Xen migration driver: driver.h ops over libxl (see
 * drv_xen.h for the contract and the stream layout).
 *
 * Threads of one stream, all owned by the handle:
 *
 *	sender:    suspend helper:  libxl_domain_suspend -> sp[0], close
 *		   worker:          sp[1] -> DATA frames -> END -> RESULT
 *	receiver:  worker:          accept -> CONFIG/READY -> DATA frames
 *				    -> sp[1] -> END -> RESULT
 *		   restore helper:  sp[0] -> libxl_domain_create_restore
 *
 * sp is a socketpair, so libxl only ever sees a plain fd and TLS stays
 * in tls.c.  Either side of a pump stops the other by shutting its end
 * of sp (libxl then fails on EPIPE/EOF).  cancel() shuts the network
 * socket under the handle's lock (the worker closes it under the same
 * lock, so a stale fd number is never shut) and joins the worker, which
 * joins its helper.  The handle's mutex guards the progress record, the
 * cancel flag, the socket number and the binding; everything else is
 * touched by one thread at a time (before the threads start or after
 * they are joined).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Pin the libxl API (4.13+: pause/unpause/retrieve take an ao_how). */
#define LIBXL_API_VERSION 0x041300
#include <libxl.h>		/* clean under the strict flags: no pragmas */
#include <libxl_utils.h>

#include "common/util.h"
#include "common/tls.h"
#include "common/wire.h"
#include "ids/mem.h"
#include "migrate/drv_xen.h"

_Static_assert(MIG_XEN_ERR_NOTFOUND == ERROR_DOMAIN_NOTFOUND,
    "MIG_XEN_ERR_NOTFOUND must be libxl's ERROR_DOMAIN_NOTFOUND");

/*
 * The stream's frames are wire.h's migration types: MIG_CONFIG{FORMAT,
 * JSON}, MIG_READY, MIG_DATA{DATA}, MIG_END{TOTAL}, MIG_RESULT{TOTAL};
 * any refusal or failure is ERROR (code = -VOUCH_E_*, message).
 */
#define XMIG_FORMAT	"vouch-xen-migration 1"	/* MIG_CONFIG.FORMAT */
#define XMIG_CHUNK	WIRE_MIG_DATA_MAX	/* largest MIG_DATA payload */
#define XMIG_HANDSHAKE_MS 10000		/* connect, TLS, CONFIG, READY */
#define XMIG_IDLE_MS	60000		/* between two frames of a stream */
#define XMIG_RESULT_MS	300000		/* END -> RESULT (device model start) */
#define XMIG_POLL_MS	200		/* cancel latency of idle waits */

enum { XS_NONE, XS_SEND, XS_RECV };

struct xconn {
	int		 fd;		/* plain TCP, or -1 */
	struct tls_conn	*tls;		/* or TLS */
};

struct xvm {
	const struct mig_xen_api *api;
	void		*ctx;
	char		 name[64];

	pthread_mutex_t	 mu;
	int		 bound;		/* domid names a domain of ours */
	uint32_t	 domid;
	int		 cancel;
	int		 sockfd;	/* live connection, for cancel */
	struct mig_progress prog;
	int64_t		 t0, t1;	/* stream start, end (ms) */

	/* the stream: set up before its threads, reaped after them */
	int		 role;		/* XS_* of the last stream */
	int		 worker_live;
	pthread_t	 worker, helper;
	struct tls_ctx	*tctx;
	struct xconn	 conn;
	int		 lfd;
	int		 sp[2];
	uint64_t	 max_bw;
	char		*config;	/* the domain's libxl JSON */
	uint32_t	 src_domid;	/* sender: the domain being sent */
	int		 helper_rc;	/* libxl result of the helper */
	uint32_t	 new_domid;	/* receiver: the restored domain */
};

/* --- the real libxl ------------------------------------------------------- */

static void *
xl_open(void)
{
	libxl_ctx *ctx = NULL;

	if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, vmi_xen_null_logger()) != 0)
		return NULL;
	return ctx;
}

static void
xl_close(void *ctx)
{
	(void)libxl_ctx_free(ctx);
}

static int
xl_name_to_domid(void *ctx, const char *name, uint32_t *domid)
{
	return libxl_name_to_domid(ctx, name, domid);
}

static int
xl_domain_info(void *ctx, uint32_t domid, struct mig_xen_dominfo *out)
{
	libxl_dominfo info;
	int rc;

	libxl_dominfo_init(&info);
	if ((rc = libxl_domain_info(ctx, &info, domid)) == 0) {
		memset(out, 0, sizeof(*out));
		out->paused = info.paused;
		out->shutdown = info.shutdown;
		out->suspended = info.shutdown &&
		    info.shutdown_reason == LIBXL_SHUTDOWN_REASON_SUSPEND;
		out->dying = info.dying;
		out->mem_bytes = info.current_memkb * 1024u;
	}
	libxl_dominfo_dispose(&info);
	return rc;
}

static int
xl_pause(void *ctx, uint32_t domid)
{
	return libxl_domain_pause(ctx, domid, NULL);
}

static int
xl_unpause(void *ctx, uint32_t domid)
{
	return libxl_domain_unpause(ctx, domid, NULL);
}

static int
xl_resume(void *ctx, uint32_t domid)
{
	return libxl_domain_resume(ctx, domid, 1, NULL);
}

static int
xl_destroy(void *ctx, uint32_t domid)
{
	return libxl_domain_destroy(ctx, domid, NULL);
}

static int
xl_config_json(void *ctx, uint32_t domid, char **json)
{
	libxl_domain_config dc;
	char *s = NULL;
	int rc;

	libxl_domain_config_init(&dc);
	if ((rc = libxl_retrieve_domain_configuration(ctx, domid, &dc,
	    NULL)) == 0 &&
	    (s = libxl_domain_config_to_json(ctx, &dc)) == NULL)
		rc = ERROR_FAIL;
	libxl_domain_config_dispose(&dc);
	if (rc == 0)
		*json = s;
	return rc;
}

static int
xl_suspend(void *ctx, uint32_t domid, int fd)
{
	return libxl_domain_suspend(ctx, domid, fd, LIBXL_SUSPEND_LIVE, NULL);
}

static int
xl_create_restore(void *ctx, const char *json, const char *name, int fd,
    uint32_t *domid)
{
	libxl_domain_config dc;
	libxl_domain_restore_params params;
	uint32_t id = INVALID_DOMID;
	int rc;

	libxl_domain_config_init(&dc);
	libxl_domain_restore_params_init(&params);
	if ((rc = libxl_domain_config_from_json(ctx, &dc, json)) != 0)
		goto out;
	free(dc.c_info.name);
	if ((dc.c_info.name = strdup(name)) == NULL) {
		rc = ERROR_NOMEM;
		goto out;
	}
	params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
	params.stream_version = 2;	/* what libxl_domain_suspend writes */
	/* libxl leaves a new domain paused; xl unpauses it unless -p. */
	rc = libxl_domain_create_restore(ctx, &dc, &id, fd, -1, &params,
	    NULL, NULL);
	if (rc == 0)
		*domid = id;
out:
	libxl_domain_restore_params_dispose(&params);
	libxl_domain_config_dispose(&dc);
	return rc;
}

const struct mig_xen_api mig_xen_api_default = {
	.open = xl_open,
	.close = xl_close,
	.name_to_domid = xl_name_to_domid,
	.domain_info = xl_domain_info,
	.pause = xl_pause,
	.unpause = xl_unpause,
	.resume = xl_resume,
	.destroy = xl_destroy,
	.config_json = xl_config_json,
	.suspend = xl_suspend,
	.create_restore = xl_create_restore,
};

/* --- small helpers -------------------------------------------------------- */

static int
cancelled(struct xvm *x)
{
	int c;

	pthread_mutex_lock(&x->mu);
	c = x->cancel;
	pthread_mutex_unlock(&x->mu);
	return c;
}

/* Record why a stream failed (the first reason wins). */
static void
xs_error(struct xvm *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
xs_error(struct xvm *x, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&x->mu);
	if (x->prog.error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(x->prog.error, sizeof(x->prog.error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&x->mu);
}

static void
xs_finish(struct xvm *x, enum mig_stream_status st)
{
	pthread_mutex_lock(&x->mu);
	if (x->cancel && st != MIG_STREAM_COMPLETED)
		st = MIG_STREAM_CANCELLED;
	x->prog.status = st;
	x->t1 = mono_ms();
	x->prog.total_time_ms = x->t1 - x->t0;
	pthread_mutex_unlock(&x->mu);
}

static void
xs_add(struct xvm *x, uint64_t n)
{
	pthread_mutex_lock(&x->mu);
	x->prog.transferred += n;
	pthread_mutex_unlock(&x->mu);
}

/* "tcp:HOST:PORT" (HOST may be [v6]) into host[cap] and *port. */
static int
parse_uri(const char *uri, char *host, size_t cap, uint16_t *port,
    struct vouch_err *e)
{
	const char *h, *hend, *p;
	unsigned long v = 0;
	size_t n;

	if (uri == NULL || strncmp(uri, "tcp:", 4) != 0)
		goto bad;
	h = uri + 4;
	if (*h == '[') {
		h++;
		if ((hend = strchr(h, ']')) == NULL || hend[1] != ':')
			goto bad;
		p = hend + 2;
	} else {
		if ((hend = strchr(h, ':')) == NULL || strchr(hend + 1, ':'))
			goto bad;
		p = hend + 1;
	}
	n = (size_t)(hend - h);
	if (n == 0 || n >= cap || *p == '\0' || strlen(p) > 5)
		goto bad;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)v;
	return 0;
bad:
	return vouch_err_set(e, VOUCH_E_INVAL,
	    "xen: migration uri \"%s\" is not tcp:HOST:PORT", uri ? uri : "");
}

static int
cred_path(char *buf, size_t cap, const char *dir, const char *file,
    struct vouch_err *e)
{
	if ((size_t)snprintf(buf, cap, "%s/%s", dir, file) >= cap)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "xen: tls dir too long");
	return 0;
}

static int
tls_ctx_for(enum tls_side side, const struct mig_tls *tls,
    struct tls_ctx **out, struct vouch_err *e)
{
	char cert[1024], key[1024], ca[1024];
	int r;

	if (tls->dir == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "xen: tls without dir");
	if ((r = cred_path(cert, sizeof(cert), tls->dir, side == TLS_SERVER ?
	    "server-cert.pem" : "client-cert.pem", e)) < 0 ||
	    (r = cred_path(key, sizeof(key), tls->dir, side == TLS_SERVER ?
	    "server-key.pem" : "client-key.pem", e)) < 0 ||
	    (r = cred_path(ca, sizeof(ca), tls->dir, "ca-cert.pem", e)) < 0)
		return r;
	return tls_ctx_new(side, cert, key, ca, out, e);
}

/* --- one connection: wire frames over plain TCP or TLS --------------------- */

static int
fd_wait(int fd, short ev, int64_t deadline, struct vouch_err *e)
{
	struct pollfd p;
	int64_t left;
	int r;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return vouch_err_set(e, VOUCH_E_IO, "xen: stream timed out");
		p.fd = fd;
		p.events = ev;
		p.revents = 0;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;	/* errors show at the next read/write */
		if (r < 0 && errno != EINTR)
			return vouch_err_set(e, VOUCH_E_IO, "xen: poll: %s",
			    strerror(errno));
	}
}

static int
plain_write(int fd, const uint8_t *p, size_t n, int64_t deadline,
    struct vouch_err *e)
{
	ssize_t w;
	int r;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = fd_wait(fd, POLLOUT, deadline, e)) < 0)
				return r;
			continue;
		}
		return vouch_err_set(e, VOUCH_E_IO, "xen: stream write: %s",
		    w < 0 ? strerror(errno) : "no progress");
	}
	return 0;
}

static int
plain_read(int fd, uint8_t *p, size_t n, int64_t deadline,
    struct vouch_err *e)
{
	ssize_t got;
	int r;

	while (n > 0) {
		got = recv(fd, p, n, 0);
		if (got > 0) {
			p += got;
			n -= (size_t)got;
			continue;
		}
		if (got == 0)
			return vouch_err_set(e, VOUCH_E_IO,
			    "xen: stream: peer closed the connection");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((r = fd_wait(fd, POLLIN, deadline, e)) < 0)
				return r;
			continue;
		}
		return vouch_err_set(e, VOUCH_E_IO, "xen: stream read: %s",
		    strerror(errno));
	}
	return 0;
}

static int
xconn_fd(const struct xconn *c)
{
	return c->tls != NULL ? tls_conn_fd(c->tls) : c->fd;
}

static void
xconn_close(struct xconn *c)
{
	if (c->tls != NULL)
		tls_close(c->tls);
	else if (c->fd >= 0)
		close(c->fd);
	c->tls = NULL;
	c->fd = -1;
}

static int
xconn_send(struct xconn *c, const uint8_t *frame, size_t len, int timeout_ms,
    struct vouch_err *e)
{
	if (c->tls != NULL)
		return tls_send(c->tls, frame, len, timeout_ms, e);
	return plain_write(c->fd, frame, len, mono_ms() + timeout_ms, e);
}

/*
 * One whole frame.  Plain TCP reads it the way tls_recv() does: header
 * first, checked by wire_decode_header() before the body is allocated.
 */
static int
xconn_recv(struct xconn *c, int timeout_ms, struct wire_msg **out,
    struct vouch_err *e)
{
	int64_t deadline = mono_ms() + timeout_ms;
	uint8_t hdr[WIRE_HDR_LEN], *buf;
	struct wire_hdr h;
	size_t len;
	int r;

	if (c->tls != NULL)
		return tls_recv(c->tls, timeout_ms, out, NULL, e);
	if ((r = plain_read(c->fd, hdr, sizeof(hdr), deadline, e)) < 0 ||
	    (r = wire_decode_header(hdr, sizeof(hdr), &h, NULL, e)) < 0)
		return r;
	len = WIRE_HDR_LEN + (size_t)h.body_len;
	if ((buf = malloc(len)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	memcpy(buf, hdr, sizeof(hdr));
	if ((r = plain_read(c->fd, buf + WIRE_HDR_LEN, h.body_len, deadline,
	    e)) < 0 ||
	    (r = wire_decode_owned(buf, len, out, NULL, e)) < 0) {
		free(buf);
		return r;
	}
	return 0;
}

/* Finish w and send it; frees w either way. */
static int
send_frame(struct xconn *c, struct wire_enc *w, int timeout_ms,
    struct vouch_err *e)
{
	const uint8_t *frame;
	size_t len;
	int r;

	if ((r = wire_enc_finish(w, &frame, &len, e)) == 0)
		r = xconn_send(c, frame, len, timeout_ms, e);
	wire_enc_free(w);
	return r;
}

static int
send_config(struct xconn *c, const char *json, int timeout_ms,
    struct vouch_err *e)
{
	struct wire_enc *w = NULL;
	int r;

	if ((r = wire_enc_new(WIRE_T_MIG_CONFIG, &w, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_FORMAT, XMIG_FORMAT, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_JSON, json, e)) < 0) {
		wire_enc_free(w);
		return r;
	}
	return send_frame(c, w, timeout_ms, e);
}

static int
send_ready(struct xconn *c, int timeout_ms, struct vouch_err *e)
{
	struct wire_enc *w = NULL;
	int r;

	if ((r = wire_enc_new(WIRE_T_MIG_READY, &w, e)) < 0)
		return r;
	return send_frame(c, w, timeout_ms, e);
}

static int
send_data(struct xconn *c, const void *p, size_t n, int timeout_ms,
    struct vouch_err *e)
{
	struct wire_enc *w = NULL;
	int r;

	if ((r = wire_enc_new(WIRE_T_MIG_DATA, &w, e)) < 0 ||
	    (r = wire_put_bytes(w, WIRE_F_DATA, p, n, e)) < 0) {
		wire_enc_free(w);
		return r;
	}
	return send_frame(c, w, timeout_ms, e);
}

/* MIG_END or MIG_RESULT: a save-stream byte count. */
static int
send_total(struct xconn *c, uint16_t type, uint64_t total, int timeout_ms,
    struct vouch_err *e)
{
	struct wire_enc *w = NULL;
	int r;

	if ((r = wire_enc_new(type, &w, e)) < 0 ||
	    (r = wire_put_u64(w, WIRE_F_TOTAL, total, e)) < 0) {
		wire_enc_free(w);
		return r;
	}
	return send_frame(c, w, timeout_ms, e);
}

/* Best effort: tell the peer why (code -VOUCH_E_*, printable message). */
static void
send_error(struct xconn *c, int code, const char *msg)
{
	struct wire_enc *w = NULL;
	const uint8_t *frame;
	char clean[256];
	size_t i, len;

	snprintf(clean, sizeof(clean), "%s", msg[0] ? msg : "failed");
	for (i = 0; clean[i] != '\0'; i++)
		if ((unsigned char)clean[i] < 0x20 ||
		    (unsigned char)clean[i] >= 0x7f)
			clean[i] = '?';
	if (code >= 0 || code < -65535)
		code = VOUCH_E_INTERNAL;
	if (wire_enc_new(WIRE_T_ERROR, &w, NULL) == 0 &&
	    wire_put_u32(w, WIRE_F_CODE, (uint32_t)-code, NULL) == 0 &&
	    wire_put_str(w, WIRE_F_MESSAGE, clean, NULL) == 0 &&
	    wire_enc_finish(w, &frame, &len, NULL) == 0)
		(void)xconn_send(c, frame, len, XMIG_POLL_MS * 5, NULL);
	wire_enc_free(w);
}

/*
 * Wait for the receiver's answer: MIG_READY, or MIG_RESULT (its TOTAL in
 * *total), as want says; or ERROR from the peer (returned as the peer's
 * code, message prefixed "peer: ").
 */
static int
recv_reply(struct xconn *c, int timeout_ms, uint16_t want, uint64_t *total,
    struct vouch_err *e)
{
	struct wire_msg *m = NULL;
	char msg[1025];
	uint32_t code = 0;
	int r;

	if ((r = xconn_recv(c, timeout_ms, &m, e)) < 0)
		return r;
	switch (wire_msg_type(m)) {
	case WIRE_T_MIG_READY:
	case WIRE_T_MIG_RESULT:
		if (wire_msg_type(m) != want)
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "xen: stream: %s where %s was expected",
			    wire_type_name(wire_msg_type(m)),
			    wire_type_name(want));
		else if (want == WIRE_T_MIG_RESULT)
			r = wire_get_u64(m, WIRE_F_TOTAL, total, e);
		break;
	case WIRE_T_ERROR:
		if (wire_get_u32(m, WIRE_F_CODE, &code, NULL) < 0 ||
		    wire_get_str(m, WIRE_F_MESSAGE, msg, sizeof(msg), NULL) < 0)
			snprintf(msg, sizeof(msg), "(unreadable error)");
		r = vouch_err_set(e, code >= 1 && code <= -VOUCH_E_MAX_ ?
		    -(int)code : VOUCH_E_IO, "peer: %s", msg);
		break;
	default:
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "xen: stream: unexpected %s frame",
		    wire_type_name(wire_msg_type(m)));
	}
	wire_msg_free(m);
	return r;
}

/* --- stream bookkeeping --------------------------------------------------- */

/* Join the last stream's threads and free what it held. */
static void
stream_reap(struct xvm *x)
{
	if (x->worker_live) {
		pthread_join(x->worker, NULL);
		x->worker_live = 0;
	}
	tls_ctx_free(x->tctx);
	x->tctx = NULL;
	free(x->config);
	x->config = NULL;
}

/* 1 while the last stream has not reached a final status. */
static int
stream_busy(struct xvm *x)
{
	int busy;

	pthread_mutex_lock(&x->mu);
	busy = x->prog.status == MIG_STREAM_SETUP ||
	    x->prog.status == MIG_STREAM_ACTIVE;
	pthread_mutex_unlock(&x->mu);
	return busy;
}

static void
stream_start(struct xvm *x, int role, enum mig_stream_status st,
    uint64_t total)
{
	pthread_mutex_lock(&x->mu);
	memset(&x->prog, 0, sizeof(x->prog));
	x->prog.status = st;
	x->prog.total = total;
	x->cancel = 0;
	x->t0 = mono_ms();
	x->t1 = 0;
	pthread_mutex_unlock(&x->mu);
	x->role = role;
}

/* Hand the connection to cancel() (fd -1: take it back) under the lock. */
static void
conn_publish(struct xvm *x, int fd)
{
	pthread_mutex_lock(&x->mu);
	x->sockfd = fd;
	pthread_mutex_unlock(&x->mu);
}

static void
conn_drop(struct xvm *x)
{
	pthread_mutex_lock(&x->mu);
	x->sockfd = -1;
	xconn_close(&x->conn);
	pthread_mutex_unlock(&x->mu);
}

/* --- sender --------------------------------------------------------------- */

static void *
suspend_helper(void *arg)
{
	struct xvm *x = arg;

	x->helper_rc = x->api->suspend(x->ctx, x->src_domid, x->sp[0]);
	close(x->sp[0]);	/* EOF for the pump */
	x->sp[0] = -1;
	return NULL;
}

/* Keep the average rate at or under max_bw bytes/s. */
static void
throttle(struct xvm *x, uint64_t sent)
{
	int64_t due, left;

	if (x->max_bw == 0)
		return;
	due = x->t0 + (int64_t)(sent / x->max_bw * 1000 +
	    sent % x->max_bw * 1000 / x->max_bw);
	while ((left = due - mono_ms()) > 0 && !cancelled(x))
		sleep_ms(left > XMIG_POLL_MS ? XMIG_POLL_MS : left);
}

static void *
send_worker(void *arg)
{
	struct xvm *x = arg;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_xen_dominfo info;
	struct pollfd p;
	uint64_t sent = 0, took = 0;
	uint8_t *buf;
	ssize_t n;
	int ok = 0, pumped = 0, rc;

	if ((buf = malloc(XMIG_CHUNK)) == NULL) {
		xs_error(x, "out of memory");
		goto stop;
	}
	for (;;) {
		if (cancelled(x))
			goto stop;
		p.fd = x->sp[1];
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, XMIG_POLL_MS) == 0)
			continue;
		n = read(x->sp[1], buf, XMIG_CHUNK);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			xs_error(x, "reading libxl's stream: %s",
			    strerror(errno));
			goto stop;
		}
		if (send_data(&x->conn, buf, (size_t)n, XMIG_IDLE_MS,
		    &e) < 0) {
			xs_error(x, "sending: %s", e.msg);
			goto stop;
		}
		sent += (uint64_t)n;
		xs_add(x, (uint64_t)n);
		throttle(x, sent);
	}
	pumped = 1;
stop:
	free(buf);
	/* libxl gets EPIPE if it is still writing. */
	(void)shutdown(x->sp[1], SHUT_RDWR);
	pthread_join(x->helper, NULL);
	close(x->sp[1]);
	x->sp[1] = -1;
	if (pumped && x->helper_rc != 0)
		xs_error(x, "libxl_domain_suspend failed (libxl error %d)",
		    x->helper_rc);
	if (pumped && x->helper_rc == 0) {
		if ((rc = send_total(&x->conn, WIRE_T_MIG_END, sent,
		    XMIG_IDLE_MS, &e)) < 0 ||
		    (rc = recv_reply(&x->conn, XMIG_RESULT_MS,
		    WIRE_T_MIG_RESULT, &took, &e)) < 0)
			xs_error(x, "%s", e.msg);
		else if (took != sent)
			xs_error(x, "receiver took %llu of %llu bytes",
			    (unsigned long long)took, (unsigned long long)sent);
		else
			ok = 1;
	} else if (!cancelled(x)) {
		send_error(&x->conn, VOUCH_E_IO, x->prog.error);
	}
	conn_drop(x);
	if (!ok && x->api->domain_info(x->ctx, x->src_domid, &info) == 0 &&
	    info.suspended && (rc = x->api->resume(x->ctx, x->src_domid)) != 0)
		/*
		 * Never lose the VM: xl resumes the source the same way.
		 * If that fails too the engine sees SHUTDOWN.
		 */
		xs_error(x, "and resuming the source failed (libxl error %d)",
		    rc);
	xs_finish(x, ok ? MIG_STREAM_COMPLETED : MIG_STREAM_FAILED);
	return NULL;
}

static int
xconn_connect(struct xvm *x, const char *host, uint16_t port,
    const struct mig_tls *tls, struct vouch_err *e)
{
	x->conn.fd = -1;
	x->conn.tls = NULL;
	if (tls != NULL)
		return tls_connect(x->tctx, host, port, tls->peer_name,
		    XMIG_HANDSHAKE_MS, &x->conn.tls, e);
	if (tls_tcp_connect(host, port, XMIG_HANDSHAKE_MS, &x->conn.fd, e) < 0)
		return vouch_err_prefix(e, "xen");
	return 0;
}

static int
xen_migrate(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    uint64_t max_bw, struct vouch_err *e)
{
	struct xvm *x = vm->priv;
	struct mig_xen_dominfo info;
	char host[256];
	uint16_t port;
	int r;

	if (stream_busy(x))
		return vouch_err_set(e, VOUCH_E_STATE,
		    "a migration stream is already running");
	stream_reap(x);
	if ((r = parse_uri(uri, host, sizeof(host), &port, e)) < 0)
		return r;
	if (tls != NULL && (tls->peer_name == NULL || tls->peer_name[0] == 0))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "xen: tls needs the destination's peer name");
	pthread_mutex_lock(&x->mu);
	x->src_domid = x->domid;
	r = x->bound;
	pthread_mutex_unlock(&x->mu);
	if (!r || (r = x->api->domain_info(x->ctx, x->src_domid, &info)) ==
	    MIG_XEN_ERR_NOTFOUND || (r == 0 && info.dying))
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "domain gone");
	if (r != 0)
		return vouch_err_set(e, VOUCH_E_IO,
		    "libxl_domain_info failed (libxl error %d)", r);
	if (info.shutdown)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "domain %u is shut down%s", x->src_domid,
		    info.suspended ? " (suspended)" : "");
	if ((r = x->api->config_json(x->ctx, x->src_domid, &x->config)) != 0)
		return vouch_err_set(e, VOUCH_E_IO,
		    "domain %u: its configuration (libxl error %d)",
		    x->src_domid, r);
	if (tls != NULL && (r = tls_ctx_for(TLS_CLIENT, tls, &x->tctx, e)) < 0)
		goto fail;
	/* Connect and handshake here, so refusals reach the caller. */
	if ((r = xconn_connect(x, host, port, tls, e)) < 0)
		goto fail;
	if ((r = send_config(&x->conn, x->config, XMIG_HANDSHAKE_MS, e)) < 0 ||
	    (r = recv_reply(&x->conn, XMIG_HANDSHAKE_MS, WIRE_T_MIG_READY,
	    NULL, e)) < 0)
		goto fail_conn;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->sp) < 0) {
		r = vouch_err_set(e, VOUCH_E_IO, "socketpair: %s",
		    strerror(errno));
		goto fail_conn;
	}
	x->max_bw = max_bw;
	stream_start(x, XS_SEND, MIG_STREAM_ACTIVE, info.mem_bytes);
	conn_publish(x, xconn_fd(&x->conn));
	if ((r = pthread_create(&x->helper, NULL, suspend_helper, x)) != 0) {
		close(x->sp[0]);
		close(x->sp[1]);
		conn_drop(x);
		xs_finish(x, MIG_STREAM_FAILED);
		r = vouch_err_set(e, VOUCH_E_INTERNAL, "pthread_create: %s",
		    strerror(r));
		goto fail;
	}
	if ((r = pthread_create(&x->worker, NULL, send_worker, x)) != 0) {
		/* Stop the helper the way the worker would, and resume. */
		xs_error(x, "pthread_create: %s", strerror(r));
		x->cancel = 1;
		send_worker(x);
		return vouch_err_set(e, VOUCH_E_INTERNAL, "pthread_create: %s",
		    strerror(r));
	}
	x->worker_live = 1;
	return 0;
fail_conn:
	xconn_close(&x->conn);
fail:
	stream_reap(x);
	return r;
}

/* --- receiver ------------------------------------------------------------- */

static void *
restore_helper(void *arg)
{
	struct xvm *x = arg;

	x->helper_rc = x->api->create_restore(x->ctx, x->config, x->name,
	    x->sp[0], &x->new_domid);
	close(x->sp[0]);	/* EPIPE for the pump if it still writes */
	x->sp[0] = -1;
	return NULL;
}

/*
 * Read and check MIG_CONFIG; keep the libxl JSON in x->config.  On a bad
 * CONFIG the sender is told why.
 */
static int
recv_config(struct xvm *x, struct vouch_err *e)
{
	struct wire_msg *m = NULL;
	const uint8_t *p, *fmt;
	size_t n, fl;
	int r;

	if ((r = xconn_recv(&x->conn, XMIG_HANDSHAKE_MS, &m, e)) < 0)
		return r;
	if (wire_msg_type(m) != WIRE_T_MIG_CONFIG) {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "xen: expected MIG_CONFIG, got a %s frame",
		    wire_type_name(wire_msg_type(m)));
	} else if ((r = wire_get_bytes(m, WIRE_F_FORMAT, &fmt, &fl, e)) < 0 ||
	    (r = wire_get_bytes(m, WIRE_F_JSON, &p, &n, e)) < 0) {
		;
	} else if (fl != strlen(XMIG_FORMAT) ||
	    memcmp(fmt, XMIG_FORMAT, fl) != 0 || p[0] != '{') {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "xen: not a " XMIG_FORMAT " CONFIG");
	} else if ((x->config = malloc(n + 1)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	} else {
		memcpy(x->config, p, n);
		x->config[n] = '\0';
	}
	wire_msg_free(m);
	if (r < 0)
		send_error(&x->conn, r, e->msg);
	return r;
}

/*
 * Accept until one sender gets READY (1), or cancel (0).  Connections
 * that fail TLS or send a bad CONFIG are dropped; the reason is kept in
 * the progress record until the stream starts.
 */
static int
accept_sender(struct xvm *x)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct pollfd p;
	int fd;

	while (!cancelled(x)) {
		p.fd = x->lfd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, XMIG_POLL_MS) <= 0)
			continue;
		if ((fd = accept(x->lfd, NULL, NULL)) < 0)
			continue;
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		x->conn.fd = -1;
		x->conn.tls = NULL;
		if (x->tctx != NULL) {
			if (tls_accept_fd(x->tctx, fd, XMIG_HANDSHAKE_MS,
			    &x->conn.tls, &e) < 0) {
				xs_error(x, "refused a sender: %s", e.msg);
				continue;
			}
		} else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) |
		    O_NONBLOCK) < 0) {
			close(fd);
			continue;
		} else {
			x->conn.fd = fd;
		}
		conn_publish(x, xconn_fd(&x->conn));
		if (recv_config(x, &e) == 0 &&
		    send_ready(&x->conn, XMIG_HANDSHAKE_MS, &e) == 0)
			return 1;
		xs_error(x, "refused a sender: %s", e.msg);
		free(x->config);
		x->config = NULL;
		conn_drop(x);
	}
	return 0;
}

static void *
recv_worker(void *arg)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct xvm *x = arg;
	struct wire_msg *m = NULL;
	struct mig_xen_dominfo info;
	const uint8_t *p;
	uint64_t got = 0, end = 0;
	size_t n;
	int ok = 0, have_end = 0, r;

	r = accept_sender(x);
	close(x->lfd);
	x->lfd = -1;
	if (!r) {
		xs_finish(x, MIG_STREAM_CANCELLED);
		return NULL;
	}
	pthread_mutex_lock(&x->mu);
	x->prog.status = MIG_STREAM_ACTIVE;
	x->prog.error[0] = '\0';	/* earlier refused senders */
	pthread_mutex_unlock(&x->mu);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->sp) < 0) {
		xs_error(x, "socketpair: %s", strerror(errno));
		goto done;
	}
	if ((r = pthread_create(&x->helper, NULL, restore_helper, x)) != 0) {
		close(x->sp[0]);
		close(x->sp[1]);
		xs_error(x, "pthread_create: %s", strerror(r));
		goto done;
	}
	for (;;) {
		if (xconn_recv(&x->conn, XMIG_IDLE_MS, &m, &e) < 0) {
			xs_error(x, "stream cut after %llu bytes: %s",
			    (unsigned long long)got, e.msg);
			break;
		}
		if (wire_msg_type(m) == WIRE_T_MIG_DATA &&
		    wire_get_bytes(m, WIRE_F_DATA, &p, &n, NULL) == 0) {
			if (plain_write(x->sp[1], p, n, mono_ms() + XMIG_IDLE_MS,
			    &e) < 0) {
				xs_error(x, "libxl stopped reading the stream "
				    "after %llu bytes", (unsigned long long)got);
				break;
			}
			got += n;
			xs_add(x, n);
		} else if (wire_msg_type(m) == WIRE_T_MIG_END &&
		    wire_get_u64(m, WIRE_F_TOTAL, &end, NULL) == 0) {
			have_end = 1;
			break;
		} else if (wire_msg_type(m) == WIRE_T_ERROR) {
			char msg[1025] = "";

			(void)wire_get_str(m, WIRE_F_MESSAGE, msg, sizeof(msg),
			    NULL);
			xs_error(x, "sender failed: %s", msg);
			break;
		} else {
			xs_error(x, "unexpected %s frame in the stream",
			    wire_type_name(wire_msg_type(m)));
			break;
		}
		wire_msg_free(m);
		m = NULL;
	}
	wire_msg_free(m);
	m = NULL;
	/* EOF for libxl: it fails if it wanted more. */
	(void)shutdown(x->sp[1], SHUT_WR);
	pthread_join(x->helper, NULL);
	close(x->sp[1]);
	x->sp[1] = -1;
	if (have_end && end != got)
		xs_error(x, "sender sent %llu bytes, %llu arrived",
		    (unsigned long long)end, (unsigned long long)got);
	if (x->helper_rc != 0) {
		xs_error(x, "libxl_domain_create_restore failed (libxl error "
		    "%d)", x->helper_rc);
		goto done;
	}
	/* A domain exists now; it stays only for a whole, ended stream. */
	if (!have_end || end != got || cancelled(x) ||
	    x->api->domain_info(x->ctx, x->new_domid, &info) != 0 ||
	    (!info.paused && x->api->pause(x->ctx, x->new_domid) != 0)) {
		xs_error(x, "restored domain %u could not be kept paused",
		    x->new_domid);
		(void)x->api->destroy(x->ctx, x->new_domid);
		goto done;
	}
	if (send_total(&x->conn, WIRE_T_MIG_RESULT, got, XMIG_IDLE_MS,
	    &e) < 0) {
		/* The sender will resume its copy: ours must go. */
		xs_error(x, "reporting success: %s", e.msg);
		(void)x->api->destroy(x->ctx, x->new_domid);
		goto done;
	}
	pthread_mutex_lock(&x->mu);
	x->domid = x->new_domid;
	x->bound = 1;
	pthread_mutex_unlock(&x->mu);
	ok = 1;
done:
	if (!ok && !cancelled(x))
		send_error(&x->conn, VOUCH_E_IO, x->prog.error);
	conn_drop(x);
	xs_finish(x, ok ? MIG_STREAM_COMPLETED : MIG_STREAM_FAILED);
	return NULL;
}

static int
xen_incoming(struct mig_vm *vm, const char *uri, const struct mig_tls *tls,
    struct vouch_err *e)
{
	struct xvm *x = vm->priv;
	char host[256];
	uint32_t other;
	uint16_t port;
	int r, bound;

	if (stream_busy(x))
		return vouch_err_set(e, VOUCH_E_STATE,
		    "a migration stream is already running");
	stream_reap(x);
	pthread_mutex_lock(&x->mu);
	bound = x->bound;
	other = x->domid;
	pthread_mutex_unlock(&x->mu);
	if (bound)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "already domain %u: incoming needs a name not in use",
		    other);
	if (x->api->name_to_domid(x->ctx, x->name, &other) == 0)
		return vouch_err_set(e, VOUCH_E_EXISTS,
		    "a domain %u is named %s on this host", other, x->name);
	if ((r = parse_uri(uri, host, sizeof(host), &port, e)) < 0)
		return r;
	if (tls != NULL && (r = tls_ctx_for(TLS_SERVER, tls, &x->tctx, e)) < 0)
		return r;
	if ((r = tls_listen(host, port, &x->lfd, NULL, e)) < 0) {
		stream_reap(x);
		return r;
	}
	x->conn.fd = -1;
	x->conn.tls = NULL;
	stream_start(x, XS_RECV, MIG_STREAM_SETUP, 0);
	if ((r = pthread_create(&x->worker, NULL, recv_worker, x)) != 0) {
		close(x->lfd);
		x->lfd = -1;
		xs_finish(x, MIG_STREAM_FAILED);
		stream_reap(x);
		return vouch_err_set(e, VOUCH_E_INTERNAL, "pthread_create: %s",
		    strerror(r));
	}
	x->worker_live = 1;
	return 0;
}

/* --- the other ops -------------------------------------------------------- */

/*
 * The bound domain's info: 0, or VOUCH_E_NOTFOUND when gone (unbound,
 * not found, dying), or VOUCH_E_IO.
 */
static int
dom_info(struct xvm *x, uint32_t *domid, struct mig_xen_dominfo *info,
    struct vouch_err *e)
{
	int bound, r;

	pthread_mutex_lock(&x->mu);
	bound = x->bound;
	*domid = x->domid;
	pthread_mutex_unlock(&x->mu);
	if (!bound)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "domain gone");
	if ((r = x->api->domain_info(x->ctx, *domid, info)) ==
	    MIG_XEN_ERR_NOTFOUND || (r == 0 && info->dying))
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "domain %u gone",
		    *domid);
	if (r != 0)
		return vouch_err_set(e, VOUCH_E_IO,
		    "libxl_domain_info(%u) failed (libxl error %d)", *domid, r);
	return 0;
}

static int
xen_state(struct mig_vm *vm, enum mig_run_state *st, struct vouch_err *e)
{
	struct xvm *x = vm->priv;
	struct mig_xen_dominfo info;
	enum mig_stream_status ss;
	uint32_t domid;
	int r, bound;

	pthread_mutex_lock(&x->mu);
	ss = x->prog.status;
	bound = x->bound;
	pthread_mutex_unlock(&x->mu);
	if (!bound) {
		*st = x->role == XS_RECV && (ss == MIG_STREAM_SETUP ||
		    ss == MIG_STREAM_ACTIVE) ? MIG_VM_INMIGRATE : MIG_VM_GONE;
		return 0;
	}
	if ((r = dom_info(x, &domid, &info, e)) == VOUCH_E_NOTFOUND) {
		*st = MIG_VM_GONE;
		return 0;
	}
	if (r < 0)
		return r;
	if (info.suspended && x->role == XS_SEND &&
	    ss == MIG_STREAM_COMPLETED)
		*st = MIG_VM_POSTMIGRATE;
	else if (info.suspended && x->role == XS_SEND &&
	    ss == MIG_STREAM_ACTIVE)
		*st = MIG_VM_FINISHMIGRATE;
	else if (info.shutdown)
		*st = MIG_VM_SHUTDOWN;
	else if (info.paused)
		*st = MIG_VM_PAUSED;
	else
		*st = MIG_VM_RUNNING;
	return 0;
}

static int
xen_pause(struct mig_vm *vm, struct vouch_err *e)
{
	struct xvm *x = vm->priv;
	struct mig_xen_dominfo info;
	uint32_t domid;
	int r;

	if ((r = dom_info(x, &domid, &info, e)) < 0)
		return r;
	if ((r = x->api->pause(x->ctx, domid)) == MIG_XEN_ERR_NOTFOUND)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "domain %u gone",
		    domid);
	if (r != 0)
		return vouch_err_set(e, VOUCH_E_IO,
		    "libxl_domain_pause(%u) failed (libxl error %d)", domid, r);
	return 0;
}

static int
xen_resume(struct mig_vm *vm, struct vouch_err *e)
{
	struct xvm *x = vm->priv;
	struct mig_xen_dominfo info;
	uint32_t domid;
	int r;

	if (x->role == XS_SEND && stream_busy(x))
		return vouch_err_set(e, VOUCH_E_STATE,
		    "migration stream running: cancel it first");
	if ((r = dom_info(x, &domid, &info, e)) < 0)
		return r;
	if (info.suspended)
		r = x->api->resume(x->ctx, domid);
	else if (info.shutdown)
		return vouch_err_set(e, VOUCH_E_STATE, "domain %u is shut down",
		    domid);
	else
		r = x->api->unpause(x->ctx, domid);
	if (r == MIG_XEN_ERR_NOTFOUND)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "domain %u gone",
		    domid);
	if (r != 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s(%u) failed (libxl "
		    "error %d)", info.suspended ? "libxl_domain_resume" :
		    "libxl_domain_unpause", domid, r);
	return 0;
}

static int
xen_cancel(struct mig_vm *vm, struct vouch_err *e)
{
	struct xvm *x = vm->priv;

	(void)e;
	pthread_mutex_lock(&x->mu);
	if (x->prog.status == MIG_STREAM_SETUP ||
	    x->prog.status == MIG_STREAM_ACTIVE) {
		x->cancel = 1;
		if (x->sockfd >= 0)
			(void)shutdown(x->sockfd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&x->mu);
	stream_reap(x);
	return 0;
}

static int
xen_destroy(struct mig_vm *vm, struct vouch_err *e)
{
	struct xvm *x = vm->priv;
	struct mig_xen_dominfo info;
	uint32_t domid;
	int r;

	(void)xen_cancel(vm, NULL);
	if ((r = dom_info(x, &domid, &info, e)) < 0)
		return r;
	if ((r = x->api->destroy(x->ctx, domid)) != 0 &&
	    r != MIG_XEN_ERR_NOTFOUND)
		return vouch_err_set(e, VOUCH_E_IO,
		    "libxl_domain_destroy(%u) failed (libxl error %d)", domid,
		    r);
	pthread_mutex_lock(&x->mu);
	x->bound = 0;
	pthread_mutex_unlock(&x->mu);
	if (r != 0)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "domain %u gone",
		    domid);
	return 0;
}

static int
xen_progress(struct mig_vm *vm, struct mig_progress *p, struct vouch_err *e)
{
	struct xvm *x = vm->priv;
	int64_t ms;

	(void)e;
	pthread_mutex_lock(&x->mu);
	*p = x->prog;
	if (p->status != MIG_STREAM_NONE) {
		ms = (x->t1 != 0 ? x->t1 : mono_ms()) - x->t0;
		p->mbps = ms > 0 ? (double)p->transferred * 8.0 / 1000.0 /
		    (double)ms : 0.0;
	}
	pthread_mutex_unlock(&x->mu);
	return 0;
}

static int
xen_window_detach(struct mig_vm *guard, const char *id, struct vouch_err *e)
{
	(void)guard;
	(void)id;
	return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
	    "xen: a guard's window is a FLASK policy right, not a device; "
	    "not implemented yet");
}

static int
xen_window_attach(struct mig_vm *guard, const char *id, const char *mem,
    struct vouch_err *e)
{
	(void)mem;
	return xen_window_detach(guard, id, e);
}

static void
xen_close(struct mig_vm *vm)
{
	struct xvm *x;

	if (vm == NULL)
		return;
	if ((x = vm->priv) != NULL) {
		(void)xen_cancel(vm, NULL);
		x->api->close(x->ctx);
		pthread_mutex_destroy(&x->mu);
		free(x);
	}
	free(vm);
}

static const struct mig_driver_ops xen_ops = {
	.name = "xen",
	.state = xen_state,
	.pause = xen_pause,
	.resume = xen_resume,
	.destroy = xen_destroy,
	.incoming = xen_incoming,
	.migrate = xen_migrate,
	.progress = xen_progress,
	.cancel = xen_cancel,
	.window_detach = xen_window_detach,
	.window_attach = xen_window_attach,
	.close = xen_close,
};

int
mig_xen_open(const char *domain, const struct mig_xen_api *api,
    struct mig_vm **out, struct vouch_err *e)
{
	struct mig_xen_dominfo info;
	struct mig_vm *vm;
	struct xvm *x;
	unsigned long v = 0;
	size_t i, n;
	int numeric, r;

	if (domain == NULL || out == NULL ||
	    (n = strlen(domain)) == 0 || n >= sizeof(vm->name))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "xen: domain name or id of 1..63 characters needed");
	if (api == NULL)
		api = &mig_xen_api_default;
	if (api->open == NULL || api->close == NULL ||
	    api->name_to_domid == NULL || api->domain_info == NULL ||
	    api->pause == NULL || api->unpause == NULL ||
	    api->resume == NULL || api->destroy == NULL ||
	    api->config_json == NULL || api->suspend == NULL ||
	    api->create_restore == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "xen: incomplete api");
	numeric = n <= 5;
	for (i = 0; i < n && numeric; i++) {
		if (domain[i] < '0' || domain[i] > '9')
			numeric = 0;
		else
			v = v * 10 + (unsigned long)(domain[i] - '0');
	}
	if (numeric && v >= 0x7ff0)	/* DOMID_FIRST_RESERVED */
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "xen: domid %lu is reserved", v);
	if ((vm = calloc(1, sizeof(*vm))) == NULL ||
	    (x = calloc(1, sizeof(*x))) == NULL) {
		free(vm);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	x->api = api;
	x->sockfd = -1;
	x->lfd = -1;
	x->sp[0] = x->sp[1] = -1;
	x->conn.fd = -1;
	memcpy(x->name, domain, n + 1);
	if ((x->ctx = api->open()) == NULL) {
		r = vouch_err_set(e, VOUCH_E_IO, "xen: libxl_ctx_alloc failed");
		goto fail;
	}
	if (numeric) {
		x->domid = (uint32_t)v;
		if ((r = api->domain_info(x->ctx, x->domid, &info)) ==
		    MIG_XEN_ERR_NOTFOUND) {
			r = vouch_err_set(e, VOUCH_E_NOTFOUND,
			    "xen: no domain %lu", v);
			goto fail_ctx;
		}
		if (r != 0) {
			r = vouch_err_set(e, VOUCH_E_IO, "xen: libxl_domain_info"
			    "(%lu) failed (libxl error %d)", v, r);
			goto fail_ctx;
		}
		x->bound = 1;
	} else if (api->name_to_domid(x->ctx, domain, &x->domid) == 0) {
		x->bound = 1;
	}
	if ((r = pthread_mutex_init(&x->mu, NULL)) != 0) {
		r = vouch_err_set(e, VOUCH_E_INTERNAL, "pthread_mutex_init");
		goto fail_ctx;
	}
	vm->ops = &xen_ops;
	vm->priv = x;
	memcpy(vm->name, domain, n + 1);
	*out = vm;
	return 0;
fail_ctx:
	api->close(x->ctx);
fail:
	free(x);
	free(vm);
	return r;
}
