/*
 * store.c - backend selection and the two operations the daemon uses:
 * store_sync (IVT changes -> one transaction) and store_load.
 */
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

int
store_sync(struct store *s, struct ivt *t, const struct ivt_actions *acts,
    struct vouch_err *e)
{
	struct ivt_host_rec *rec;
	size_t i, n = ivt_dirty_count(t);
	unsigned j;
	int r;

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
	if ((r = s->ops->commit(s->ctx, e)) < 0)
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
