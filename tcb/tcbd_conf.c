/*
 * tcbd_conf.c - vouch-tcbd's configuration file (see tcbd_conf.h).
 */
#include <stdio.h>
#include <string.h>

#include <libconfig.h>

#include "common/conf.h"
#include "common/wire.h"
#include "tcb/tcbd_conf.h"

void
tcbd_conf_default(struct tcbd_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->admin_socket, sizeof(c->admin_socket), "%s",
	    TCBD_DEFAULT_SOCKET);
	c->max_connections = TCBD_DEFAULT_MAXCONN;
	c->evac_report_timeout = TCBD_DEFAULT_REPORT_TIMEOUT;
	ivt_config_default(&c->ivt);
	rank_weights_default(&c->rank);
}

/*
 * A path member: relative paths are resolved against the configuration
 * file's directory (a lab tree can be moved as a whole).
 */
static int
get_path(const config_setting_t *s, const char *key, int required,
    const char *base, char *dst, size_t cap, struct vouch_err *e)
{
	const char *v = NULL, *slash;
	int r, n;

	if ((r = conf_get_string(s, key, required, &v, e)) < 0)
		return r;
	if (v == NULL)
		return 0;
	if (v[0] == '\0')
		return conf_error(e, config_setting_get_member(s, key),
		    "empty path");
	if (v[0] == '/' || base == NULL || (slash = strrchr(base, '/')) == NULL)
		n = snprintf(dst, cap, "%s", v);
	else
		n = snprintf(dst, cap, "%.*s/%s", (int)(slash - base), base, v);
	if (n < 0 || (size_t)n >= cap)
		return conf_error(e, config_setting_get_member(s, key),
		    "path too long");
	return 0;
}

static int
get_uint(const config_setting_t *s, const char *key, long long min,
    long long max, unsigned *out, struct vouch_err *e)
{
	long long v = *out;
	int r;

	if ((r = conf_get_int(s, key, 0, min, max, &v, e)) < 0)
		return r;
	*out = (unsigned)v;
	return 0;
}

static int
load_rank(const config_setting_t *s, struct rank_weights *w,
    struct vouch_err *e)
{
	static const char *const keys[] = { "w_fresh", "w_history",
	    "w_capacity", "w_suspect", "streak_cap", "fit_cap",
	    "suspect_window", NULL };
	unsigned win = (unsigned)(w->suspect_window_ms / 1000);
	int r;

	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = get_uint(s, "w_fresh", 0, 1000, &w->fresh, e)) < 0 ||
	    (r = get_uint(s, "w_history", 0, 1000, &w->history, e)) < 0 ||
	    (r = get_uint(s, "w_capacity", 0, 1000, &w->capacity, e)) < 0 ||
	    (r = get_uint(s, "w_suspect", 0, 1000, &w->suspect, e)) < 0 ||
	    (r = get_uint(s, "streak_cap", 1, 1000000, &w->streak_cap, e)) < 0 ||
	    (r = get_uint(s, "fit_cap", 2, 1000, &w->fit_cap, e)) < 0 ||
	    (r = get_uint(s, "suspect_window", 1, 86400 * 365, &win, e)) < 0)
		return r;
	w->suspect_window_ms = (int64_t)win * 1000;
	return 0;
}

static int
load_evacuation(const config_setting_t *s, struct tcbd_conf *c,
    struct vouch_err *e)
{
	static const char *const keys[] = { "strategy", "report_timeout",
	    "host_vcpus", "host_mib", NULL };
	const char *strategy = NULL;
	long long mib = (long long)c->evac_host_mib;
	int r;

	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = conf_get_string(s, "strategy", 0, &strategy, e)) < 0)
		return r;
	if (strategy != NULL) {
		if (strcmp(strategy, "plain") == 0)
			c->evac_standby = 0;
		else if (strcmp(strategy, "standby") == 0)
			c->evac_standby = 1;
		else
			return conf_error(e, config_setting_get_member(s,
			    "strategy"), "'%s': strategy is \"plain\" or "
			    "\"standby\"", strategy);
	}
	if ((r = get_uint(s, "report_timeout", 5, 86400,
	    &c->evac_report_timeout, e)) < 0 ||
	    (r = get_uint(s, "host_vcpus", 0, 1000000, &c->evac_host_vcpus,
	    e)) < 0 ||
	    (r = conf_get_int(s, "host_mib", 0, 0, 1LL << 40, &mib, e)) < 0)
		return r;
	c->evac_host_mib = (unsigned long long)mib;
	return 0;
}

static int
load_tls(const config_setting_t *s, const char *base, struct tcbd_conf *c,
    struct vouch_err *e)
{
	static const char *const keys[] = { "cert", "key", "ca", NULL };
	int r;

	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = get_path(s, "cert", 1, base, c->tls_cert, sizeof(c->tls_cert),
	    e)) < 0 ||
	    (r = get_path(s, "key", 1, base, c->tls_key, sizeof(c->tls_key),
	    e)) < 0 ||
	    (r = get_path(s, "ca", 1, base, c->tls_ca, sizeof(c->tls_ca), e)) < 0)
		return r;
	return 0;
}

static int
load_admins(const config_setting_t *s, struct tcbd_conf *c,
    struct vouch_err *e)
{
	int i, n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_error(e, s, "must be a list of host names");
	n = config_setting_length(s);
	if (n > TCBD_ADMINS_MAX)
		return conf_error(e, s, "at most %d admin names", TCBD_ADMINS_MAX);
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(s,
		    (unsigned)i);
		const char *v = config_setting_get_string(el);

		if (v == NULL || !wire_host_name_ok(v, strlen(v)) ||
		    strlen(v) > IVT_NAME_MAX)
			return conf_error(e, el, "admin names must be lower-case "
			    "DNS names of at most %d bytes", IVT_NAME_MAX);
		snprintf(c->admins[i], sizeof(c->admins[i]), "%s", v);
	}
	c->nadmins = (unsigned)n;
	return 0;
}

static int
from_config(config_t *cfg, const char *base, struct tcbd_conf *out,
    struct vouch_err *e)
{
	static const char *const keys[] = { "name", "region", "policy",
	    "store", "admin_socket", "tls", "ek_ca", "admins", "interval",
	    "freshness", "neighbours", "quorum", "quorum_min",
	    "max_connections", "rank", "on_untrusted", "evacuation", "lab",
	    NULL };
	static const char *const lab_keys[] = { "allow_faults", NULL };
	const config_setting_t *root = config_root_setting(cfg), *s;
	struct tcbd_conf c;
	const char *name = NULL, *store = NULL;
	unsigned interval, freshness;
	int r;

	tcbd_conf_default(&c);
	snprintf(c.path, sizeof(c.path), "%s", base);
	if ((r = conf_check_keys(root, keys, e)) < 0 ||
	    (r = conf_get_string(root, "name", 1, &name, e)) < 0)
		return r;
	if (!wire_host_name_ok(name, strlen(name)) || strlen(name) > IVT_NAME_MAX)
		return conf_error(e, config_setting_get_member(root, "name"),
		    "'%s' is not a lower-case DNS name of at most %d bytes",
		    name, IVT_NAME_MAX);
	snprintf(c.name, sizeof(c.name), "%s", name);
	if ((r = get_path(root, "region", 1, base, c.region, sizeof(c.region),
	    e)) < 0 ||
	    (r = get_path(root, "policy", 1, base, c.policy, sizeof(c.policy),
	    e)) < 0 ||
	    (r = get_path(root, "admin_socket", 0, base, c.admin_socket,
	    sizeof(c.admin_socket), e)) < 0 ||
	    (r = get_path(root, "ek_ca", 0, base, c.ek_ca, sizeof(c.ek_ca),
	    e)) < 0 ||
	    (r = get_path(root, "on_untrusted", 0, base, c.on_untrusted,
	    sizeof(c.on_untrusted), e)) < 0 ||
	    (r = conf_get_string(root, "store", 1, &store, e)) < 0)
		return r;
	/* "sqlite:rel" and bare relative paths follow the file too. */
	if (strncmp(store, "sqlite:", 7) == 0 && store[7] != '/' &&
	    strrchr(base, '/') != NULL)
		r = snprintf(c.store, sizeof(c.store), "sqlite:%.*s/%s",
		    (int)(strrchr(base, '/') - base), base, store + 7);
	else if (strchr(store, ':') == NULL && store[0] != '/' &&
	    strrchr(base, '/') != NULL)
		r = snprintf(c.store, sizeof(c.store), "%.*s/%s",
		    (int)(strrchr(base, '/') - base), base, store);
	else
		r = snprintf(c.store, sizeof(c.store), "%s", store);
	if (r < 0 || (size_t)r >= sizeof(c.store))
		return conf_error(e, config_setting_get_member(root, "store"),
		    "too long");
	if ((s = config_setting_get_member(root, "tls")) == NULL)
		return conf_error(e, root, "missing required key 'tls'");
	if ((r = load_tls(s, base, &c, e)) < 0)
		return r;
	if ((s = config_setting_get_member(root, "admins")) != NULL &&
	    (r = load_admins(s, &c, e)) < 0)
		return r;
	interval = (unsigned)(c.ivt.interval_ms / 1000);
	freshness = (unsigned)(c.ivt.freshness_ms / 1000);
	if ((r = get_uint(root, "interval", 1, 3600, &interval, e)) < 0 ||
	    (r = get_uint(root, "freshness", 1, 86400, &freshness, e)) < 0 ||
	    (r = get_uint(root, "neighbours", 1, IVT_NBR_MAX,
	    &c.ivt.neighbours, e)) < 0 ||
	    (r = get_uint(root, "quorum", 1, IVT_NBR_MAX, &c.ivt.quorum,
	    e)) < 0 ||
	    (r = get_uint(root, "quorum_min", 1, IVT_NBR_MAX,
	    &c.ivt.quorum_min, e)) < 0 ||
	    (r = get_uint(root, "max_connections", 1, 65536,
	    &c.max_connections, e)) < 0)
		return r;
	c.ivt.interval_ms = (int64_t)interval * 1000;
	c.ivt.freshness_ms = (int64_t)freshness * 1000;
	if (freshness < interval)
		return conf_error(e, config_setting_get_member(root,
		    "freshness") ? config_setting_get_member(root, "freshness")
		    : root, "freshness (%u s) must be at least the interval "
		    "(%u s)", freshness, interval);
	if (c.ivt.quorum > c.ivt.neighbours)
		return conf_error(e, config_setting_get_member(root, "quorum") ?
		    config_setting_get_member(root, "quorum") : root,
		    "quorum %u exceeds neighbours %u", c.ivt.quorum,
		    c.ivt.neighbours);
	if (c.ivt.quorum_min > c.ivt.quorum)
		return conf_error(e, config_setting_get_member(root,
		    "quorum_min") ? config_setting_get_member(root, "quorum_min")
		    : root, "quorum_min %u exceeds quorum %u",
		    c.ivt.quorum_min, c.ivt.quorum);
	if ((r = ivt_config_check(&c.ivt, e)) < 0)
		return vouch_err_prefix(e, "%s", base);
	if ((s = config_setting_get_member(root, "rank")) != NULL &&
	    (r = load_rank(s, &c.rank, e)) < 0)
		return r;
	c.rank.freshness_ms = c.ivt.freshness_ms;
	if ((r = rank_weights_check(&c.rank, e)) < 0)
		return vouch_err_prefix(e, "%s: rank", base);
	if ((s = config_setting_get_member(root, "evacuation")) != NULL &&
	    (r = load_evacuation(s, &c, e)) < 0)
		return r;
	if ((s = config_setting_get_member(root, "lab")) != NULL) {
		if ((r = conf_check_keys(s, lab_keys, e)) < 0 ||
		    (r = conf_get_bool(s, "allow_faults", 0, &c.allow_faults,
		    e)) < 0)
			return r;
	}
	*out = c;
	return 0;
}

int
tcbd_conf_load(const char *path, struct tcbd_conf *out, struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load(path, &cfg, e)) == 0)
		r = from_config(&cfg, path, out, e);
	config_destroy(&cfg);
	return r;
}

int
tcbd_conf_load_string(const char *name, const char *text,
    struct tcbd_conf *out, struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load_string(name, text, &cfg, e)) == 0)
		r = from_config(&cfg, name, out, e);
	config_destroy(&cfg);
	return r;
}

int
tcbd_conf_is_admin(const struct tcbd_conf *c, const char *name)
{
	unsigned i;

	for (i = 0; i < c->nadmins; i++)
		if (strcmp(c->admins[i], name) == 0)
			return 1;
	return 0;
}

void
tcbd_conf_print(const struct tcbd_conf *c, FILE *f)
{
	unsigned i;

	fprintf(f, "# vouch-tcbd effective configuration (from %s)\n", c->path);
	fprintf(f, "name = \"%s\";\n", c->name);
	fprintf(f, "region = \"%s\";\n", c->region);
	fprintf(f, "policy = \"%s\";\n", c->policy);
	fprintf(f, "store = \"%s\";\n", c->store);
	fprintf(f, "admin_socket = \"%s\";\n", c->admin_socket);
	fprintf(f, "tls = { cert = \"%s\"; key = \"%s\"; ca = \"%s\"; };\n",
	    c->tls_cert, c->tls_key, c->tls_ca);
	if (c->ek_ca[0] != '\0')
		fprintf(f, "ek_ca = \"%s\";\n", c->ek_ca);
	else
		fprintf(f, "# ek_ca absent: EK certificates are NOT checked "
		    "(lab only)\n");
	fprintf(f, "admins = [");
	for (i = 0; i < c->nadmins; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : " ", c->admins[i]);
	fprintf(f, "%s];\n", c->nadmins ? " " : "");
	fprintf(f, "interval = %lld;\n", (long long)(c->ivt.interval_ms / 1000));
	fprintf(f, "freshness = %lld;\n",
	    (long long)(c->ivt.freshness_ms / 1000));
	fprintf(f, "neighbours = %u;\nquorum = %u;\nquorum_min = %u;\n",
	    c->ivt.neighbours, c->ivt.quorum, c->ivt.quorum_min);
	fprintf(f, "max_connections = %u;\n", c->max_connections);
	fprintf(f, "rank = { w_fresh = %u; w_history = %u; w_capacity = %u; "
	    "w_suspect = %u; streak_cap = %u; fit_cap = %u; "
	    "suspect_window = %lld; };\n", c->rank.fresh, c->rank.history,
	    c->rank.capacity, c->rank.suspect, c->rank.streak_cap,
	    c->rank.fit_cap, (long long)(c->rank.suspect_window_ms / 1000));
	if (c->on_untrusted[0] != '\0')
		fprintf(f, "on_untrusted = \"%s\";\n", c->on_untrusted);
	else
		fprintf(f, "# on_untrusted absent: no hook, log line only\n");
	fprintf(f, "evacuation = { strategy = \"%s\"; report_timeout = %u; "
	    "host_vcpus = %u; host_mib = %llu; };\n",
	    c->evac_standby ? "standby" : "plain", c->evac_report_timeout,
	    c->evac_host_vcpus, c->evac_host_mib);
	fprintf(f, "lab = { allow_faults = %s; };\n",
	    c->allow_faults ? "true" : "false");
}
