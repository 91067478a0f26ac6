/*
 * store.c - backend selection and the two operations the daemon uses:
 * store_sync (IVT changes -> one transaction) and store_load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct store {
	const struct store_ops	*ops;
	void			*ctx;
};

int
store_open_ops(const struct store_ops *ops, const char *where,
    struct store **out, struct vouch_err *e)
{
	struct store *s;
	int r;

	if (ops == NULL || where == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "store_open: no backend");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "store_open");
	s->ops = ops;
	if ((r = ops->open(where, &s->ctx, e)) < 0) {
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

int
store_open(const char *uri, struct store **out, struct vouch_err *e)
{
	if (uri == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "store_open: no URI");
	if (strncmp(uri, "sqlite:", 7) == 0)
		return store_open_ops(&store_sqlite_ops, uri + 7, out, e);
	if (strncmp(uri, "etcd:", 5) == 0)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "%s: the etcd backend is not built yet", uri);
	if (strchr(uri, ':') != NULL && strchr(uri, '/') == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "%s: unknown store backend", uri);
	return store_open_ops(&store_sqlite_ops, uri, out, e);
}

void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->ctx);
	free(s);
}

const struct store_ops *
store_backend(const struct store *s)
{
	return s->ops;
}

/* ticket NULL: commit and wait for the disk; else a deferred commit. */
static int
sync_ivt(struct store *s, struct ivt *t, const struct ivt_actions *acts,
    uint64_t *ticket, struct vouch_err *e)
{
	struct ivt_host_rec *rec;
	size_t i, n = ivt_dirty_count(t);
	unsigned j;
	int r;

	if (ticket != NULL)
		*ticket = 0;
	if (n == 0 && (acts == NULL || acts->n == 0))
		return 0;
	/* 4.5 KiB: off the stack of a daemon's event loop. */
	if ((rec = malloc(sizeof(*rec))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "store_sync");
	if ((r = s->ops->begin(s->ctx, e)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const char *name = ivt_dirty_name(t, i);

		if (ivt_host_get(t, name, rec, NULL) < 0) {
			if ((r = s->ops->del_host(s->ctx, name, e)) < 0)
				goto fail;
			continue;
		}
		if ((r = s->ops->put_host(s->ctx, rec, e)) < 0)
			goto fail;
		for (j = 0; j < rec->nslot; j++)
			if ((r = s->ops->put_verdict(s->ctx, rec->name,
			    &rec->slot[j], e)) < 0)
				goto fail;
	}
	for (i = 0; acts != NULL && i < acts->n; i++)
		if ((r = s->ops->record_event(s->ctx, &acts->v[i], e)) < 0)
			goto fail;
	if (ticket != NULL && s->ops->commit_deferred != NULL &&
	    s->ops->durable != NULL)
		r = s->ops->commit_deferred(s->ctx, ticket, e);
	else
		r = s->ops->commit(s->ctx, e);
	if (r < 0)
		goto fail;
	ivt_dirty_clear(t);
	r = 0;
	goto out;
fail:
	s->ops->rollback(s->ctx);
out:
	free(rec);
	return r;
}

int
store_sync(struct store *s, struct ivt *t, const struct ivt_actions *acts,
    struct vouch_err *e)
{
	return sync_ivt(s, t, acts, NULL, e);
}

int
store_sync_deferred(struct store *s, struct ivt *t,
    const struct ivt_actions *acts, uint64_t *ticket, struct vouch_err *e)
{
	return sync_ivt(s, t, acts, ticket, e);
}

int
store_durable(struct store *s, uint64_t ticket, struct vouch_err *e)
{
	if (ticket == 0 || s->ops->durable == NULL ||
	    s->ops->commit_deferred == NULL)
		return 0;
	return s->ops->durable(s->ctx, ticket, e);
}

struct load_arg {
	struct ivt	*t;
};

static int
load_host(void *arg, const struct ivt_host_rec *rec, struct vouch_err *e)
{
	struct load_arg *la = arg;

	return ivt_restore_host(la->t, rec, e);
}

int
store_load(struct store *s, struct ivt *t, int64_t now,
    struct ivt_actions *acts, struct vouch_err *e)
{
	struct load_arg la = { t };
	int r;

	if (ivt_size(t) != 0)
		return vouch_err_set(e, VOUCH_E_STATE,
		    "store_load: the IVT is not empty");
	if ((r = s->ops->load_all(s->ctx, load_host, &la, e)) < 0)
		return r;
	ivt_dirty_clear(t);
	return ivt_restore_done(t, now, acts, e);
}

int
store_events(struct store *s, long long after, struct ivt_action *out,
    int max, struct vouch_err *e)
{
	return s->ops->events(s->ctx, after, out, max, e);
}

/* One write in its own transaction: the wrappers below. */
static int
store_txn(struct store *s, int (*fn)(struct store *, const void *, const void *,
    struct vouch_err *), const void *a, const void *b, struct vouch_err *e)
{
	int r;

	if ((r = s->ops->begin(s->ctx, e)) < 0)
		return r;
	if ((r = fn(s, a, b, e)) < 0 || (r = s->ops->commit(s->ctx, e)) < 0) {
		s->ops->rollback(s->ctx);
		return r;
	}
	return 0;
}

static int
do_put_ak(struct store *s, const void *a, const void *b, struct vouch_err *e)
{
	(void)b;
	return s->ops->put_ak(s->ctx, a, e);
}

static int
do_del_ak(struct store *s, const void *a, const void *b, struct vouch_err *e)
{
	(void)b;
	return s->ops->del_ak(s->ctx, a, e);
}

static int
do_put_meta(struct store *s, const void *a, const void *b, struct vouch_err *e)
{
	return s->ops->put_meta(s->ctx, a, *(const int64_t *)b, e);
}

static int
no_ops(const struct store *s, struct vouch_err *e)
{
	return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
	    "store %s: no AK bindings or metadata", s->ops->name);
}

int
store_ak_put(struct store *s, const struct store_ak *ak, struct vouch_err *e)
{
	if (s->ops->put_ak == NULL)
		return no_ops(s, e);
	return store_txn(s, do_put_ak, ak, NULL, e);
}

int
store_ak_del(struct store *s, const char *host, struct vouch_err *e)
{
	if (s->ops->del_ak == NULL)
		return no_ops(s, e);
	return store_txn(s, do_del_ak, host, NULL, e);
}

int
store_aks_load(struct store *s, store_ak_cb cb, void *arg, struct vouch_err *e)
{
	if (s->ops->load_aks == NULL)
		return no_ops(s, e);
	return s->ops->load_aks(s->ctx, cb, arg, e);
}

int
store_meta_put(struct store *s, const char *key, int64_t value,
    struct vouch_err *e)
{
	if (s->ops->put_meta == NULL)
		return no_ops(s, e);
	return store_txn(s, do_put_meta, key, &value, e);
}

int
store_meta_get(struct store *s, const char *key, int64_t *value,
    struct vouch_err *e)
{
	if (s->ops->get_meta == NULL)
		return no_ops(s, e);
	return s->ops->get_meta(s->ctx, key, value, e);
}

int
store_alerts_put(struct store *s, struct store_alert *v, size_t n,
    unsigned keep, struct vouch_err *e)
{
	size_t i;
	int r;

	if (s->ops->put_alert == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "store %s: no alerts", s->ops->name);
	if (n == 0)
		return 0;
	if ((r = s->ops->begin(s->ctx, e)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if ((r = s->ops->put_alert(s->ctx, &v[i], keep, e)) < 0)
			goto fail;
	if ((r = s->ops->commit(s->ctx, e)) < 0)
		goto fail;
	return 0;
fail:
	s->ops->rollback(s->ctx);
	for (i = 0; i < n; i++)
		v[i].seq = 0;
	return r;
}

int
store_alerts(struct store *s, const struct store_alert_query *q,
    store_alert_cb cb, void *arg, struct vouch_err *e)
{
	if (s->ops->alerts == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "store %s: no alerts", s->ops->name);
	return s->ops->alerts(s->ctx, q, cb, arg, e);
}

/* ---- pairs and migrations (schema 4) ---- */

static int
no_migs(const struct store *s, struct vouch_err *e)
{
	return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
	    "store %s: no pairs or migrations", s->ops->name);
}

static int
do_put_pair(struct store *s, const void *a, const void *b,
    struct vouch_err *e)
{
	(void)b;
	return s->ops->put_pair(s->ctx, a, e);
}

int
store_pair_put(struct store *s, const struct store_pair *p,
    struct vouch_err *e)
{
	if (s->ops->put_pair == NULL)
		return no_migs(s, e);
	return store_txn(s, do_put_pair, p, NULL, e);
}

struct pair_find {
	const char		*target;
	struct store_pair	*out;
	int			 found;
};

static int
pair_find_cb(void *arg, const struct store_pair *p, struct vouch_err *e)
{
	struct pair_find *f = arg;

	(void)e;
	if (strcmp(p->target, f->target) == 0) {
		*f->out = *p;
		f->found = 1;
	}
	return 0;
}

int
store_pair_get(struct store *s, const char *target, struct store_pair *p,
    struct vouch_err *e)
{
	struct store_pair tmp;
	struct pair_find f = { target, &tmp, 0 };
	int r;

	if (s->ops->pairs == NULL)
		return no_migs(s, e);
	if ((r = s->ops->pairs(s->ctx, pair_find_cb, &f, e)) < 0)
		return r;
	if (!f.found)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "%s: not a protected "
		    "target", target);
	*p = tmp;
	return 0;
}

static int
do_del_pair(struct store *s, const void *a, const void *b,
    struct vouch_err *e)
{
	(void)b;
	return s->ops->del_pair(s->ctx, a, e);
}

int
store_pair_del(struct store *s, const char *target, struct vouch_err *e)
{
	struct store_pair p;
	int r;

	if (s->ops->del_pair == NULL)
		return no_migs(s, e);
	if ((r = store_pair_get(s, target, &p, e)) < 0)
		return r;
	return store_txn(s, do_del_pair, target, NULL, e);
}

int
store_pair_move(struct store *s, const char *target, const char *host,
    struct vouch_err *e)
{
	struct store_pair p;
	int r;

	if ((r = store_pair_get(s, target, &p, e)) < 0)
		return r;
	snprintf(p.host, sizeof(p.host), "%s", host);
	return store_pair_put(s, &p, e);
}

int
store_pairs(struct store *s, store_pair_cb cb, void *arg, struct vouch_err *e)
{
	if (s->ops->pairs == NULL)
		return no_migs(s, e);
	return s->ops->pairs(s->ctx, cb, arg, e);
}

int
store_mig_put(struct store *s, struct store_mig *m, int move_pair,
    struct vouch_err *e)
{
	struct store_pair p;
	int have_pair = 0, r;

	if (s->ops->put_mig == NULL)
		return no_migs(s, e);
	if (move_pair && m->host[0] != '\0' &&
	    store_pair_get(s, m->target, &p, NULL) == 0) {
		snprintf(p.host, sizeof(p.host), "%s", m->host);
		have_pair = 1;
	}
	if ((r = s->ops->begin(s->ctx, e)) < 0)
		return r;
	if ((r = s->ops->put_mig(s->ctx, m, e)) < 0 ||
	    (have_pair && (r = s->ops->put_pair(s->ctx, &p, e)) < 0) ||
	    (r = s->ops->commit(s->ctx, e)) < 0) {
		s->ops->rollback(s->ctx);
		return r;
	}
	return 0;
}

int
store_mig_get(struct store *s, long long id, struct store_mig *m,
    struct vouch_err *e)
{
	if (s->ops->get_mig == NULL)
		return no_migs(s, e);
	return s->ops->get_mig(s->ctx, id, m, e);
}

int
store_migs(struct store *s, const struct store_mig_query *q, store_mig_cb cb,
    void *arg, struct vouch_err *e)
{
	if (s->ops->migs == NULL)
		return no_migs(s, e);
	return s->ops->migs(s->ctx, q, cb, arg, e);
}

static int
mig_first_cb(void *arg, const struct store_mig *m, struct vouch_err *e)
{
	struct store_mig *out = arg;

	(void)e;
	if (out->id == 0)
		*out = *m;
	return 0;
}

int
store_mig_active(struct store *s, const char *target, struct store_mig *m,
    struct vouch_err *e)
{
	struct store_mig_query q = { target, 1, 1 };
	struct store_mig *tmp;
	int r;

	if ((tmp = calloc(1, sizeof(*tmp))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = store_migs(s, &q, mig_first_cb, tmp, e)) == 0) {
		if (tmp->id == 0)
			r = vouch_err_set(e, VOUCH_E_NOTFOUND, "%s: no running "
			    "migration", target);
		else
			*m = *tmp;
	}
	free(tmp);
	return r;
}
