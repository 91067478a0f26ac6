/*
 * Unit tests: migrate/drv_xen.c over a fake libxl.
 *
 * Two fake "hypervisors" (host A, host B) live in one process, each a
 * table of domains behind its own api (open() returns the host).  The
 * fake save stream is self-delimiting like libxl's:
 *
 *	"FAKESAVE" | u64 LE n | n bytes, byte i = (i * 7 + 3) & 0xff | "DONE"
 *
 * fake suspend writes it (or, scripted, a truncated one, or fails half
 * way) and leaves the domain suspended as libxl does; fake create_restore
 * reads exactly that and creates the domain paused, or fails on any
 * short or wrong byte.  Migrations run over loopback TCP, plain and with
 * the region's mutual TLS (certificates made with common/pki.h).  The
 * ops are called directly (not through driver.c's wrappers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/pki.h"
#include "common/wire.h"
#include "migrate/drv_xen.h"

#define MAXDOM		8
#define ERR_FAIL	(-3)		/* libxl ERROR_FAIL */
#define ERR_INVAL	(-6)		/* libxl ERROR_INVAL */
#define SAVE_LEN	((3u << 20) + 12345u)	/* > 12 DATA chunks */
#define STREAM_LEN	(SAVE_LEN + 20u)

enum { SUSP_OK, SUSP_TRUNC, SUSP_FAIL };

struct fdom {
	int		used;
	uint32_t	domid;
	char		name[64];
	int		paused, shutdown, suspended, dying;
	char		config[256];
};

struct fhost {
	pthread_mutex_t	mu;
	struct fdom	d[MAXDOM];
	uint32_t	next;
	int		suspend_mode;
	unsigned	opens, closes, suspends, restores, resumes, destroys;
};

static struct fhost ha, hb;

/* --- the fake libxl ------------------------------------------------------- */

static struct fdom *
find(struct fhost *h, uint32_t domid)
{
	size_t i;

	for (i = 0; i < MAXDOM; i++)
		if (h->d[i].used && h->d[i].domid == domid)
			return &h->d[i];
	return NULL;
}

static uint32_t
add_dom(struct fhost *h, const char *name, int paused)
{
	size_t i;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < MAXDOM && h->d[i].used; i++)
		;
	assert_true(i < MAXDOM);
	memset(&h->d[i], 0, sizeof(h->d[i]));
	h->d[i].used = 1;
	h->d[i].domid = h->next++;
	h->d[i].paused = paused;
	snprintf(h->d[i].name, sizeof(h->d[i].name), "%s", name);
	snprintf(h->d[i].config, sizeof(h->d[i].config),
	    "{\"c_info\":{\"name\":\"%s\"},\"b_info\":{\"max_memkb\":131072}}",
	    name);
	pthread_mutex_unlock(&h->mu);
	return h->d[i].domid;
}

static unsigned
ndoms(struct fhost *h)
{
	unsigned n = 0;
	size_t i;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < MAXDOM; i++)
		n += h->d[i].used != 0;
	pthread_mutex_unlock(&h->mu);
	return n;
}

/* A copy of domain name's record; 0 if there is none. */
static int
dom_named(struct fhost *h, const char *name, struct fdom *out)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < MAXDOM; i++)
		if (h->d[i].used && strcmp(h->d[i].name, name) == 0) {
			*out = h->d[i];
			found = 1;
		}
	pthread_mutex_unlock(&h->mu);
	return found;
}

static void *
open_a(void)
{
	ha.opens++;
	return &ha;
}

static void *
open_b(void)
{
	hb.opens++;
	return &hb;
}

static void
f_close(void *ctx)
{
	((struct fhost *)ctx)->closes++;
}

static int
f_name_to_domid(void *ctx, const char *name, uint32_t *domid)
{
	struct fhost *h = ctx;
	size_t i;
	int r = ERR_INVAL;

	pthread_mutex_lock(&h->mu);
	for (i = 0; i < MAXDOM; i++)
		if (h->d[i].used && strcmp(h->d[i].name, name) == 0) {
			*domid = h->d[i].domid;
			r = 0;
		}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int
f_domain_info(void *ctx, uint32_t domid, struct mig_xen_dominfo *info)
{
	struct fhost *h = ctx;
	struct fdom *d;
	int r = MIG_XEN_ERR_NOTFOUND;

	pthread_mutex_lock(&h->mu);
	if ((d = find(h, domid)) != NULL) {
		memset(info, 0, sizeof(*info));
		info->paused = d->paused;
		info->shutdown = d->shutdown;
		info->suspended = d->suspended;
		info->dying = d->dying;
		info->mem_bytes = 128u << 20;
		r = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

/* Set or clear a flag of a live domain; libxl fails on a missing one. */
static int
f_flag(void *ctx, uint32_t domid, size_t off, int v, unsigned *count)
{
	struct fhost *h = ctx;
	struct fdom *d;
	int r = ERR_FAIL;

	pthread_mutex_lock(&h->mu);
	if ((d = find(h, domid)) != NULL) {
		*(int *)(void *)((char *)d + off) = v;
		if (count != NULL)
			(*count)++;
		r = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int
f_pause(void *ctx, uint32_t domid)
{
	return f_flag(ctx, domid, offsetof(struct fdom, paused), 1, NULL);
}

static int
f_unpause(void *ctx, uint32_t domid)
{
	return f_flag(ctx, domid, offsetof(struct fdom, paused), 0, NULL);
}

static int
f_resume(void *ctx, uint32_t domid)
{
	struct fhost *h = ctx;
	struct fdom *d;
	int r = ERR_FAIL;

	pthread_mutex_lock(&h->mu);
	if ((d = find(h, domid)) != NULL && d->suspended) {
		d->suspended = d->shutdown = 0;
		d->paused = 0;
		h->resumes++;
		r = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int
f_destroy(void *ctx, uint32_t domid)
{
	struct fhost *h = ctx;
	struct fdom *d;
	int r = MIG_XEN_ERR_NOTFOUND;

	pthread_mutex_lock(&h->mu);
	if ((d = find(h, domid)) != NULL) {
		d->used = 0;
		h->destroys++;
		r = 0;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int
f_config_json(void *ctx, uint32_t domid, char **json)
{
	struct fhost *h = ctx;
	struct fdom *d;
	int r = ERR_FAIL;

	pthread_mutex_lock(&h->mu);
	if ((d = find(h, domid)) != NULL) {
		*json = strdup(d->config);
		r = *json != NULL ? 0 : ERR_FAIL;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, b, n)) <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	ssize_t got;

	while (n > 0) {
		if ((got = read(fd, b, n)) <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			return -1;
		}
		b += got;
		n -= (size_t)got;
	}
	return 0;
}

static int
f_suspend(void *ctx, uint32_t domid, int fd)
{
	struct fhost *h = ctx;
	struct fdom *d;
	uint8_t hdr[16], *body;
	uint64_t n = SAVE_LEN;
	size_t i, wr = SAVE_LEN;
	int mode, r = 0;

	pthread_mutex_lock(&h->mu);
	d = find(h, domid);
	mode = h->suspend_mode;
	h->suspends++;
	pthread_mutex_unlock(&h->mu);
	if (d == NULL)
		return MIG_XEN_ERR_NOTFOUND;
	memcpy(hdr, "FAKESAVE", 8);
	for (i = 0; i < 8; i++)
		hdr[8 + i] = (uint8_t)(n >> (8 * i));
	body = malloc(SAVE_LEN);
	assert_non_null(body);
	for (i = 0; i < SAVE_LEN; i++)
		body[i] = (uint8_t)(i * 7 + 3);
	if (mode != SUSP_OK)
		wr = SAVE_LEN / 2;
	/* the live phase, then the domain is suspended for the last pages */
	if (write_all(fd, hdr, sizeof(hdr)) < 0 ||
	    write_all(fd, body, wr / 2) < 0)
		r = ERR_FAIL;
	(void)f_flag(ctx, domid, offsetof(struct fdom, shutdown), 1, NULL);
	(void)f_flag(ctx, domid, offsetof(struct fdom, suspended), 1, NULL);
	if (r == 0 && (write_all(fd, body + wr / 2, wr - wr / 2) < 0 ||
	    (mode == SUSP_OK && write_all(fd, "DONE", 4) < 0)))
		r = ERR_FAIL;
	free(body);
	return mode == SUSP_FAIL ? ERR_FAIL : r;
}

static int
f_create_restore(void *ctx, const char *json, const char *name, int fd,
    uint32_t *domid)
{
	struct fhost *h = ctx;
	uint8_t hdr[16], *body, tail[4];
	uint64_t n = 0;
	size_t i;
	uint32_t id;
	int r = 0;

	pthread_mutex_lock(&h->mu);
	h->restores++;
	pthread_mutex_unlock(&h->mu);
	if (read_all(fd, hdr, sizeof(hdr)) < 0 ||
	    memcmp(hdr, "FAKESAVE", 8) != 0)
		return ERR_FAIL;
	for (i = 0; i < 8; i++)
		n |= (uint64_t)hdr[8 + i] << (8 * i);
	if (n > (64u << 20) || (body = malloc(n)) == NULL)
		return ERR_FAIL;
	if (read_all(fd, body, n) < 0 || read_all(fd, tail, 4) < 0 ||
	    memcmp(tail, "DONE", 4) != 0)
		r = ERR_FAIL;
	for (i = 0; r == 0 && i < n; i++)
		if (body[i] != (uint8_t)(i * 7 + 3))
			r = ERR_FAIL;
	free(body);
	if (r != 0)
		return r;
	id = add_dom(h, name, 1);	/* libxl leaves it paused */
	pthread_mutex_lock(&h->mu);
	snprintf(find(h, id)->config, sizeof(find(h, id)->config), "%s",
	    json);
	pthread_mutex_unlock(&h->mu);
	*domid = id;
	return 0;
}

#define FAKE_API(open_fn) {						\
	.open = open_fn, .close = f_close,				\
	.name_to_domid = f_name_to_domid, .domain_info = f_domain_info,	\
	.pause = f_pause, .unpause = f_unpause, .resume = f_resume,	\
	.destroy = f_destroy, .config_json = f_config_json,		\
	.suspend = f_suspend, .create_restore = f_create_restore,	\
}
static const struct mig_xen_api api_a = FAKE_API(open_a);
static const struct mig_xen_api api_b = FAKE_API(open_b);

/* --- helpers -------------------------------------------------------------- */

static int
setup(void **state)
{
	(void)state;
	pthread_mutex_destroy(&ha.mu);
	pthread_mutex_destroy(&hb.mu);
	memset(&ha, 0, sizeof(ha));
	memset(&hb, 0, sizeof(hb));
	pthread_mutex_init(&ha.mu, NULL);
	pthread_mutex_init(&hb.mu, NULL);
	ha.next = 1;
	hb.next = 40;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(ha.opens, ha.closes);
	assert_int_equal(hb.opens, hb.closes);
	return 0;
}

static struct mig_vm *
xopen(const char *dom, const struct mig_xen_api *api)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_vm *vm = NULL;

	if (mig_xen_open(dom, api, &vm, &e) != 0)
		fail_msg("open %s: %s", dom, e.msg);
	return vm;
}

static enum mig_run_state
st(struct mig_vm *vm)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	enum mig_run_state s = MIG_VM_UNKNOWN;

	if (vm->ops->state(vm, &s, &e) != 0)
		fail_msg("state: %s", e.msg);
	return s;
}

/* Wait (10 s at most) for the stream to reach a final status. */
static struct mig_progress
wait_done(struct mig_vm *vm)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct mig_progress p;
	int i;

	for (i = 0; i < 1000; i++) {
		assert_int_equal(vm->ops->progress(vm, &p, NULL), 0);
		if (p.status != MIG_STREAM_SETUP &&
		    p.status != MIG_STREAM_ACTIVE)
			return p;
		nanosleep(&ts, NULL);
	}
	fail_msg("stream of %s never ended", vm->name);
	return p;
}

static uint16_t
free_port(void)
{
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
uri_of(char *buf, size_t cap, uint16_t port)
{
	snprintf(buf, cap, "tcp:127.0.0.1:%u", (unsigned)port);
}

/* --- tests ---------------------------------------------------------------- */

static void
test_states_and_ops(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_xen_api half = api_a;
	struct mig_progress p;
	struct mig_vm *vm, *v2, *v3, *v4, *gone, *byid;
	uint32_t id1, id3, id4;
	char id[16];

	(void)state;
	id1 = add_dom(&ha, "vm1", 0);
	(void)add_dom(&ha, "vm2", 1);
	id3 = add_dom(&ha, "vm3", 0);
	id4 = add_dom(&ha, "vm4", 0);
	ha.d[2].shutdown = 1;		/* vm3: shut down (not suspended) */
	ha.d[3].dying = 1;		/* vm4: being destroyed */
	(void)id3;
	(void)id4;

	vm = xopen("vm1", &api_a);
	assert_string_equal(vm->ops->name, "xen");
	assert_string_equal(vm->name, "vm1");
	assert_int_equal(st(vm), MIG_VM_RUNNING);
	v2 = xopen("vm2", &api_a);
	assert_int_equal(st(v2), MIG_VM_PAUSED);
	v3 = xopen("vm3", &api_a);
	assert_int_equal(st(v3), MIG_VM_SHUTDOWN);
	assert_int_equal(v3->ops->resume(v3, &e), VOUCH_E_STATE);
	v4 = xopen("vm4", &api_a);
	assert_int_equal(st(v4), MIG_VM_GONE);
	assert_int_equal(v4->ops->pause(v4, &e), VOUCH_E_NOTFOUND);

	/* by domid */
	snprintf(id, sizeof(id), "%u", id1);
	byid = xopen(id, &api_a);
	assert_int_equal(st(byid), MIG_VM_RUNNING);
	assert_int_equal(mig_xen_open("77", &api_a, &gone, &e),
	    VOUCH_E_NOTFOUND);
	assert_int_equal(mig_xen_open("32752", &api_a, &gone, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(mig_xen_open("", &api_a, &gone, &e), VOUCH_E_INVAL);
	half.suspend = NULL;
	assert_int_equal(mig_xen_open("vm1", &half, &gone, &e), VOUCH_E_INVAL);

	/* pause / resume map onto the domain */
	assert_int_equal(vm->ops->pause(vm, &e), 0);
	assert_int_equal(st(vm), MIG_VM_PAUSED);
	assert_int_equal(st(byid), MIG_VM_PAUSED);
	assert_int_equal(vm->ops->resume(vm, &e), 0);
	assert_int_equal(st(vm), MIG_VM_RUNNING);

	/* a name not in use: an unbound handle, GONE, nothing to act on */
	gone = xopen("nosuch", &api_a);
	assert_int_equal(st(gone), MIG_VM_GONE);
	assert_int_equal(gone->ops->pause(gone, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(gone->ops->resume(gone, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(gone->ops->destroy(gone, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(gone->ops->migrate(gone, "tcp:127.0.0.1:1", NULL, 0,
	    &e), VOUCH_E_NOTFOUND);
	/* the handle is not re-bound when the name appears later */
	(void)add_dom(&ha, "nosuch", 0);
	assert_int_equal(st(gone), MIG_VM_GONE);
	assert_int_equal(gone->ops->incoming(gone, "tcp:127.0.0.1:1", NULL,
	    &e), VOUCH_E_EXISTS);

	/* destroy, then everything says gone */
	assert_int_equal(vm->ops->destroy(vm, &e), 0);
	assert_int_equal(ha.destroys, 1);
	assert_int_equal(st(vm), MIG_VM_GONE);
	assert_int_equal(st(byid), MIG_VM_GONE);
	assert_int_equal(vm->ops->destroy(vm, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(vm->ops->pause(vm, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(byid->ops->pause(byid, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(byid->ops->resume(byid, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(byid->ops->destroy(byid, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(ha.destroys, 1);

	/* no stream: nothing to cancel, progress NONE */
	assert_int_equal(v2->ops->cancel(v2, &e), 0);
	assert_int_equal(v2->ops->progress(v2, &p, &e), 0);
	assert_int_equal(p.status, MIG_STREAM_NONE);
	/* bad uris, incoming on a bound handle */
	assert_int_equal(v2->ops->migrate(v2, "unix:/x", NULL, 0, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(v2->ops->migrate(v2, "tcp:host", NULL, 0, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(v2->ops->migrate(v2, "tcp:h:99999", NULL, 0, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(v2->ops->migrate(v2, "tcp::1:5", NULL, 0, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(v2->ops->incoming(v2, "tcp:127.0.0.1:1", NULL, &e),
	    VOUCH_E_STATE);
	/* window ops: FLASK on Xen, not done here */
	assert_int_equal(v2->ops->window_detach(v2, "w", &e),
	    VOUCH_E_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "FLASK"));
	assert_int_equal(v2->ops->window_attach(v2, "w", "5", &e),
	    VOUCH_E_UNSUPPORTED);

	vm->ops->close(vm);
	v2->ops->close(v2);
	v3->ops->close(v3);
	v4->ops->close(v4);
	byid->ops->close(byid);
	gone->ops->close(gone);
	assert_int_equal(ndoms(&ha), 4);	/* close never destroys */
}

/* Source vm1 on A, destination "vm1" on B: a whole migration. */
static void
loopback(const struct mig_tls *stls, const struct mig_tls *dtls,
    uint64_t max_bw)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	struct mig_vm *src, *dst;
	struct mig_progress ps, pd;
	struct fdom d, s;
	char uri[64];

	(void)add_dom(&ha, "vm1", 0);
	src = xopen("vm1", &api_a);
	dst = xopen("vm1", &api_b);
	assert_int_equal(st(dst), MIG_VM_GONE);
	uri_of(uri, sizeof(uri), free_port());
	if (dst->ops->incoming(dst, uri, dtls, &e) != 0)
		fail_msg("incoming: %s", e.msg);
	assert_int_equal(st(dst), MIG_VM_INMIGRATE);
	assert_int_equal(dst->ops->progress(dst, &pd, &e), 0);
	assert_int_equal(pd.status, MIG_STREAM_SETUP);
	/* a second incoming on the same handle is refused */
	assert_int_equal(dst->ops->incoming(dst, uri, dtls, &e),
	    VOUCH_E_STATE);

	if (src->ops->migrate(src, uri, stls, max_bw, &e) != 0)
		fail_msg("migrate: %s", e.msg);
	assert_int_equal(src->ops->migrate(src, uri, stls, 0, &e),
	    VOUCH_E_STATE);
	assert_int_equal(src->ops->resume(src, &e), VOUCH_E_STATE);
	ps = wait_done(src);
	pd = wait_done(dst);
	if (ps.status != MIG_STREAM_COMPLETED)
		fail_msg("sender: %d %s", ps.status, ps.error);
	assert_int_equal(pd.status, MIG_STREAM_COMPLETED);
	assert_int_equal(ps.transferred, STREAM_LEN);
	assert_int_equal(pd.transferred, STREAM_LEN);
	assert_int_equal(ps.total, 128u << 20);
	assert_true(ps.total_time_ms >= 0);
	if (max_bw > 0)
		assert_true(ps.total_time_ms >=
		    (int64_t)(STREAM_LEN * 1000 / max_bw) - 50);

	/* the destination exists, paused, with the source's config */
	assert_true(dom_named(&hb, "vm1", &d));
	assert_true(dom_named(&ha, "vm1", &s));
	assert_true(d.paused);
	assert_string_equal(d.config, s.config);
	assert_int_equal(st(dst), MIG_VM_PAUSED);
	/* the source: suspended, never destroyed by the driver */
	assert_int_equal(st(src), MIG_VM_POSTMIGRATE);
	assert_int_equal(ha.destroys, 0);
	nanosleep(&ts, NULL);
	assert_true(dom_named(&hb, "vm1", &d));
	assert_true(d.paused);			/* still paused */
	assert_int_equal(st(dst), MIG_VM_PAUSED);

	/* resume the destination only when told */
	assert_int_equal(dst->ops->resume(dst, &e), 0);
	assert_int_equal(st(dst), MIG_VM_RUNNING);
	assert_int_equal(st(src), MIG_VM_POSTMIGRATE);
	assert_int_equal(src->ops->destroy(src, &e), 0);
	assert_int_equal(ha.destroys, 1);
	assert_int_equal(ndoms(&ha), 0);
	assert_int_equal(st(src), MIG_VM_GONE);
	assert_int_equal(src->ops->pause(src, &e), VOUCH_E_NOTFOUND);
	assert_int_equal(hb.destroys, 0);
	src->ops->close(src);
	dst->ops->close(dst);
	assert_int_equal(ndoms(&hb), 1);
}

static void
test_loopback_plain(void **state)
{
	(void)state;
	loopback(NULL, NULL, 0);
}

static void
test_loopback_throttled(void **state)
{
	(void)state;
	loopback(NULL, NULL, STREAM_LEN * 4);	/* about 250 ms */
}

/* The sender's stream ends early or fails: no domain at B, A runs on. */
static void
test_truncated(void **state)
{
	static const int modes[] = { SUSP_TRUNC, SUSP_FAIL };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct mig_vm *src, *dst;
	struct mig_progress ps, pd;
	char uri[64];
	size_t i;

	(void)state;
	(void)add_dom(&ha, "vm1", 0);
	src = xopen("vm1", &api_a);
	for (i = 0; i < 2; i++) {
		ha.suspend_mode = modes[i];
		dst = xopen("vm1", &api_b);
		uri_of(uri, sizeof(uri), free_port());
		assert_int_equal(dst->ops->incoming(dst, uri, NULL, &e), 0);
		if (src->ops->migrate(src, uri, NULL, 0, &e) != 0)
			fail_msg("migrate: %s", e.msg);
		ps = wait_done(src);
		pd = wait_done(dst);
		assert_int_equal(ps.status, MIG_STREAM_FAILED);
		assert_int_equal(pd.status, MIG_STREAM_FAILED);
		if (modes[i] == SUSP_TRUNC) {
			assert_non_null(strstr(pd.error,
			    "libxl_domain_create_restore failed"));
			assert_non_null(strstr(ps.error, "peer:"));
		} else {
			assert_non_null(strstr(ps.error,
			    "libxl_domain_suspend failed"));
			assert_non_null(strstr(pd.error, "sender failed"));
		}
		/* nothing restored at B; the source resumed and running */
		assert_int_equal(ndoms(&hb), 0);
		assert_int_equal(st(dst), MIG_VM_GONE);
		assert_int_equal(ha.resumes, i + 1);
		assert_int_equal(st(src), MIG_VM_RUNNING);
		assert_int_equal(ha.destroys, 0);
		assert_int_equal(dst->ops->destroy(dst, &e), VOUCH_E_NOTFOUND);
		dst->ops->close(dst);
	}
	src->ops->close(src);
}

/* --- a hand-made sender (the frames the driver expects) ------------------- */

static int
raw_connect(uint16_t port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), i;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 100; i++) {
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		usleep(10000);
	}
	fail_msg("connect: %s", strerror(errno));
	return -1;
}

/* One frame of one field; integer tags (SEQ, TOTAL) carry n itself. */
static void
raw_send(int fd, uint16_t type, uint16_t tag, const void *p, size_t n)
{
	struct wire_enc *w = NULL;
	const uint8_t *frame;
	size_t len;

	assert_int_equal(wire_enc_new(type, &w, NULL), 0);
	if (tag == WIRE_F_SEQ || tag == WIRE_F_TOTAL)
		assert_int_equal(wire_put_u64(w, tag, (uint64_t)n, NULL), 0);
	else
		assert_int_equal(wire_put_bytes(w, tag, p, n, NULL), 0);
	assert_int_equal(wire_enc_finish(w, &frame, &len, NULL), 0);
	assert_int_equal(write_all(fd, frame, len), 0);
	wire_enc_free(w);
}

static void
raw_config(int fd, const char *format, const char *json)
{
	struct wire_enc *w = NULL;
	const uint8_t *frame;
	size_t len;

	assert_int_equal(wire_enc_new(WIRE_T_MIG_CONFIG, &w, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_FORMAT, format, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_JSON, json, NULL), 0);
	assert_int_equal(wire_enc_finish(w, &frame, &len, NULL), 0);
	assert_int_equal(write_all(fd, frame, len), 0);
	wire_enc_free(w);
}

static uint16_t
raw_recv_type(int fd)
{
	uint8_t hdr[WIRE_HDR_LEN], *buf;
	struct wire_hdr h;
	struct wire_msg *m = NULL;
	uint16_t t;

	assert_int_equal(read_all(fd, hdr, sizeof(hdr)), 0);
	assert_int_equal(wire_decode_header(hdr, sizeof(hdr), &h, NULL, NULL),
	    0);
	buf = malloc(WIRE_HDR_LEN + h.body_len);
	memcpy(buf, hdr, sizeof(hdr));
	assert_int_equal(read_all(fd, buf + WIRE_HDR_LEN, h.body_len), 0);
	assert_int_equal(wire_decode_owned(buf, WIRE_HDR_LEN + h.body_len, &m,
	    NULL, NULL), 0);
	t = wire_msg_type(m);
	wire_msg_free(m);
	return t;
}

static void
test_bad_senders(void **state)
{
	static const char good[] = "vouch-xen-migration 1";
	static const char bad[] = "vouch-xen-migration 2";
	static const char cfg[] = "{\"c_info\":{}}";
	/* what a sender of the stop-gap framing sent first */
	static const char old[] = "vouch-xen-migration 1\n{\"c_info\":{}}";
	struct vouch_err e = VOUCH_ERR_INIT;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	struct mig_vm *dst;
	struct mig_progress pd;
	uint8_t junk[100];
	uint16_t port = free_port();
	char uri[64];
	int fd;

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	dst = xopen("vm9", &api_b);
	uri_of(uri, sizeof(uri), port);
	assert_int_equal(dst->ops->incoming(dst, uri, NULL, &e), 0);

	/* a wrong CONFIG is answered with ERROR; the listener waits on */
	fd = raw_connect(port);
	raw_config(fd, bad, cfg);
	assert_int_equal(raw_recv_type(fd), WIRE_T_ERROR);
	close(fd);
	nanosleep(&ts, NULL);
	assert_int_equal(dst->ops->progress(dst, &pd, &e), 0);
	assert_int_equal(pd.status, MIG_STREAM_SETUP);
	/* (the progress record keeps the first refusal's reason) */
	assert_non_null(strstr(pd.error, "not a vouch-xen-migration 1"));
	/* so is a config that is not a JSON object */
	fd = raw_connect(port);
	raw_config(fd, good, "[]");
	assert_int_equal(raw_recv_type(fd), WIRE_T_ERROR);
	close(fd);
	nanosleep(&ts, NULL);
	assert_int_equal(dst->ops->progress(dst, &pd, &e), 0);
	assert_int_equal(pd.status, MIG_STREAM_SETUP);
	/* and the stop-gap framing (CONFIG in STATUS_REPLY) */
	fd = raw_connect(port);
	raw_send(fd, WIRE_T_STATUS_REPLY, WIRE_F_JSON, old, strlen(old));
	assert_int_equal(raw_recv_type(fd), WIRE_T_ERROR);
	close(fd);
	nanosleep(&ts, NULL);
	assert_int_equal(dst->ops->progress(dst, &pd, &e), 0);
	assert_int_equal(pd.status, MIG_STREAM_SETUP);
	assert_non_null(strstr(pd.error, "refused a sender"));
	/* a frame of the wrong type first, likewise */
	fd = raw_connect(port);
	raw_send(fd, WIRE_T_MIG_DATA, WIRE_F_DATA, junk, sizeof(junk));
	assert_int_equal(raw_recv_type(fd), WIRE_T_ERROR);
	close(fd);
	nanosleep(&ts, NULL);
	assert_int_equal(st(dst), MIG_VM_INMIGRATE);

	/* accepted, then the stream is cut in the middle */
	fd = raw_connect(port);
	raw_config(fd, good, cfg);
	assert_int_equal(raw_recv_type(fd), WIRE_T_MIG_READY);
	raw_send(fd, WIRE_T_MIG_DATA, WIRE_F_DATA, "FAKESAVE", 8);
	raw_send(fd, WIRE_T_MIG_DATA, WIRE_F_DATA, junk, sizeof(junk));
	close(fd);
	pd = wait_done(dst);
	assert_int_equal(pd.status, MIG_STREAM_FAILED);
	assert_int_equal(pd.transferred, 108);
	assert_non_null(strstr(pd.error, "stream cut after 108 bytes"));
	assert_int_equal(ndoms(&hb), 0);
	assert_int_equal(hb.restores, 1);
	assert_int_equal(st(dst), MIG_VM_GONE);

	/* END with a byte count that does not match */
	uri_of(uri, sizeof(uri), port = free_port());
	assert_int_equal(dst->ops->incoming(dst, uri, NULL, &e), 0);
	fd = raw_connect(port);
	raw_config(fd, good, cfg);
	assert_int_equal(raw_recv_type(fd), WIRE_T_MIG_READY);
	raw_send(fd, WIRE_T_MIG_DATA, WIRE_F_DATA, junk, sizeof(junk));
	raw_send(fd, WIRE_T_MIG_END, WIRE_F_TOTAL, NULL, 99);
	assert_int_equal(raw_recv_type(fd), WIRE_T_ERROR);
	close(fd);
	pd = wait_done(dst);
	assert_int_equal(pd.status, MIG_STREAM_FAILED);
	assert_non_null(strstr(pd.error, "sender sent 99 bytes, 100 arrived"));
	assert_int_equal(ndoms(&hb), 0);

	/* cancel a waiting incoming */
	uri_of(uri, sizeof(uri), port = free_port());
	assert_int_equal(dst->ops->incoming(dst, uri, NULL, &e), 0);
	assert_int_equal(dst->ops->cancel(dst, &e), 0);
	assert_int_equal(dst->ops->progress(dst, &pd, &e), 0);
	assert_int_equal(pd.status, MIG_STREAM_CANCELLED);
	assert_int_equal(st(dst), MIG_VM_GONE);
	/* and one closed while waiting */
	uri_of(uri, sizeof(uri), port = free_port());
	assert_int_equal(dst->ops->incoming(dst, uri, NULL, &e), 0);
	dst->ops->close(dst);
}

/* --- TLS ------------------------------------------------------------------ */

static char tdir[64];

static void
link_as(const char *dir, const char *target, const char *name)
{
	char from[256], to[256];

	snprintf(from, sizeof(from), "%s/ca/%s", tdir, target);
	snprintf(to, sizeof(to), "%s/%s/%s", tdir, dir, name);
	assert_int_equal(symlink(from, to), 0);
}

static int
tls_setup(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	char ca[128], sub[128];

	setup(state);
	snprintf(tdir, sizeof(tdir), "/tmp/vouch-test-drvxen.XXXXXX");
	assert_non_null(mkdtemp(tdir));
	snprintf(ca, sizeof(ca), "%s/ca", tdir);
	if (pki_ca_create(ca, 30, &e) < 0 ||
	    pki_host_issue(ca, "host-a", "127.0.0.1", 30, ca, &e) < 0 ||
	    pki_host_issue(ca, "host-b", "127.0.0.1", 30, ca, &e) < 0)
		fail_msg("pki: %s", e.msg);
	snprintf(sub, sizeof(sub), "%s/src", tdir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/dst", tdir);
	assert_int_equal(mkdir(sub, 0700), 0);
	link_as("src", "ca.pem", "ca-cert.pem");
	link_as("src", "host-a.pem", "client-cert.pem");
	link_as("src", "host-a.key", "client-key.pem");
	link_as("dst", "ca.pem", "ca-cert.pem");
	link_as("dst", "host-b.pem", "server-cert.pem");
	link_as("dst", "host-b.key", "server-key.pem");
	return 0;
}

static int
tls_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
	assert_int_equal(system(cmd), 0);
	return teardown(state);
}

static void
test_tls(void **state)
{
	char sdir[128], ddir[128];
	struct mig_tls s, d;

	(void)state;
	snprintf(sdir, sizeof(sdir), "%s/src", tdir);
	snprintf(ddir, sizeof(ddir), "%s/dst", tdir);
	s.dir = sdir;
	s.peer_name = "host-b";
	d.dir = ddir;
	d.peer_name = NULL;
	loopback(&s, &d, 0);
}

static void
test_tls_refused(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	char sdir[128], ddir[128], uri[64];
	struct mig_tls s, d;
	struct mig_vm *src, *dst;
	struct mig_progress ps, pd;

	(void)state;
	snprintf(sdir, sizeof(sdir), "%s/src", tdir);
	snprintf(ddir, sizeof(ddir), "%s/dst", tdir);
	s.dir = sdir;
	d.dir = ddir;
	d.peer_name = NULL;
	(void)add_dom(&ha, "vm1", 0);
	src = xopen("vm1", &api_a);
	dst = xopen("vm1", &api_b);
	uri_of(uri, sizeof(uri), free_port());
	assert_int_equal(dst->ops->incoming(dst, uri, &d, &e), 0);

	/* the destination's certificate does not name host-c */
	s.peer_name = "host-c";
	assert_int_equal(src->ops->migrate(src, uri, &s, 0, &e),
	    VOUCH_E_CRYPTO);
	assert_int_equal(src->ops->progress(src, &ps, &e), 0);
	assert_int_equal(ps.status, MIG_STREAM_NONE);
	assert_int_equal(st(src), MIG_VM_RUNNING);
	assert_int_equal(ha.suspends, 0);
	/* no peer name at all */
	s.peer_name = NULL;
	assert_int_equal(src->ops->migrate(src, uri, &s, 0, &e),
	    VOUCH_E_INVAL);
	/* plain TCP to a TLS listener fails too */
	assert_true(src->ops->migrate(src, uri, NULL, 0, &e) < 0);
	assert_int_equal(ha.suspends, 0);
	nanosleep(&ts, NULL);
	assert_int_equal(dst->ops->progress(dst, &pd, &e), 0);
	assert_int_equal(pd.status, MIG_STREAM_SETUP);
	assert_int_equal(ndoms(&hb), 0);

	/* the right name still gets through to the same listener */
	s.peer_name = "host-b";
	if (src->ops->migrate(src, uri, &s, 0, &e) != 0)
		fail_msg("migrate: %s", e.msg);
	ps = wait_done(src);
	pd = wait_done(dst);
	assert_int_equal(ps.status, MIG_STREAM_COMPLETED);
	assert_int_equal(pd.status, MIG_STREAM_COMPLETED);
	assert_int_equal(st(dst), MIG_VM_PAUSED);
	src->ops->close(src);
	dst->ops->close(dst);

	/* a missing credential directory fails before any connection */
	s.dir = "/nonexistent";
	src = xopen("vm1", &api_a);
	assert_true(src->ops->migrate(src, uri, &s, 0, &e) < 0);
	src->ops->close(src);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_states_and_ops, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loopback_plain, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loopback_throttled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_senders, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls, tls_setup,
		    tls_teardown),
		cmocka_unit_test_setup_teardown(test_tls_refused, tls_setup,
		    tls_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
