/*
 * guard_conf.c - the guard policy (libconfig; see guard.h, docs/guards.md).
 *
 * Validated completely at load: unknown keys, wrong types, unknown check
 * names, out-of-range periods, duplicate targets and state files are
 * VOUCH_E_CONFIG errors naming file:line and the field.  Relative paths
 * (vmlinux, system_map, state, and the PATH of a qemu-file:/dump: memory
 * spec) are resolved against the policy file's directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "common/conf.h"
#include "ids/guard.h"

/* Target names: what a VM name may be, and safe in file names and logs. */
static int
target_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= sizeof(((struct guard_conf *)0)->target))
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    (c == '.' && i > 0)))
			return 0;
	}
	return 1;
}

/* Join base's directory and a relative path v (absolute v: as is). */
static int
resolve(const char *base, const char *v, size_t vlen, char *dst, size_t cap)
{
	const char *slash = base != NULL ? strrchr(base, '/') : NULL;
	int n;

	if (v[0] == '/' || slash == NULL)
		n = snprintf(dst, cap, "%.*s", (int)vlen, v);
	else
		n = snprintf(dst, cap, "%.*s/%.*s", (int)(slash - base), base,
		    (int)vlen, v);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
get_path(const config_setting_t *s, const char *key, const char *base,
    char *dst, size_t cap, struct vouch_err *e)
{
	const char *v = NULL;
	int r;

	if ((r = conf_get_string(s, key, 0, &v, e)) < 0)
		return r;
	if (v == NULL)
		return 0;
	if (v[0] == '\0')
		return conf_error(e, config_setting_get_member(s, key),
		    "empty path");
	if (resolve(base, v, strlen(v), dst, cap) < 0)
		return conf_error(e, config_setting_get_member(s, key),
		    "path too long (at most %zu bytes)", cap - 1);
	return 0;
}

/* memory: "qemu-file:PATH[,opts]" and "dump:PATH" follow the file. */
static int
get_memory(const config_setting_t *s, const char *base, char *dst, size_t cap,
    struct vouch_err *e)
{
	const config_setting_t *m = config_setting_get_member(s, "memory");
	const char *v = NULL, *path, *opts;
	size_t plen;
	int r, n;

	if ((r = conf_get_string(s, "memory", 1, &v, e)) < 0)
		return r;
	if (strncmp(v, "qemu-file:", 10) == 0)
		path = v + 10;
	else if (strncmp(v, "dump:", 5) == 0)
		path = v + 5;
	else if (strncmp(v, "xen:", 4) == 0 || strncmp(v, "ivshmem:", 8) == 0)
		path = NULL;
	else
		return conf_error(e, m, "'%s' is not a memory spec (qemu-file:"
		    "PATH, dump:PATH, xen:DOMID or ivshmem:[ID])", v);
	if (path == NULL || path[0] == '/') {
		n = snprintf(dst, cap, "%s", v);
		if (n < 0 || (size_t)n >= cap)
			return conf_error(e, m, "too long (at most %zu bytes)",
			    cap - 1);
		return 0;
	}
	opts = strchr(path, ',');
	plen = opts != NULL ? (size_t)(opts - path) : strlen(path);
	if (plen == 0)
		return conf_error(e, m, "no path in the memory spec");
	{
		char full[sizeof(((struct guard_conf *)0)->memory)];

		if (resolve(base, path, plen, full, sizeof(full)) < 0)
			return conf_error(e, m, "too long");
		n = snprintf(dst, cap, "%.*s%s%s", (int)(path - v), v, full,
		    opts != NULL ? opts : "");
	}
	if (n < 0 || (size_t)n >= cap)
		return conf_error(e, m, "too long (at most %zu bytes)", cap - 1);
	return 0;
}

static int
get_checks(const config_setting_t *s, unsigned *mask, struct vouch_err *e)
{
	const config_setting_t *c = config_setting_get_member(s, "checks");
	int i, n;

	if (c == NULL) {
		*mask = VMI_CHECK_ALL;
		return 0;
	}
	if (!config_setting_is_array(c) && !config_setting_is_list(c))
		return conf_error(e, c, "must be a list of check names");
	n = config_setting_length(c);
	if (n == 0)
		return conf_error(e, c, "no checks enabled (omit 'checks' for "
		    "all of them)");
	*mask = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(c,
		    (unsigned)i);
		const char *v = config_setting_get_string(el);
		unsigned bit;

		if (v == NULL)
			return conf_error(e, el, "expected a check name (a "
			    "string)");
		if ((bit = vmi_check_from_name(v)) == 0)
			return conf_error(e, el, "unknown check '%s' (processes, "
			    "hidden_processes, syscall_table, idt, kernel_text, "
			    "modules, shared_cred)", v);
		if (*mask & bit)
			return conf_error(e, el, "check '%s' listed twice", v);
		*mask |= bit;
	}
	return 0;
}

static int
load_guard(const config_setting_t *s, const char *base, struct guard_conf *g,
    struct vouch_err *e)
{
	static const char *const keys[] = { "target", "memory", "vmlinux",
	    "system_map", "checks", "period_ms", "repair", "state", NULL };
	const char *target = NULL;
	long long period = GUARD_DEFAULT_PERIOD_MS;
	int r, repair = 0;

	memset(g, 0, sizeof(*g));
	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = conf_get_string(s, "target", 1, &target, e)) < 0)
		return r;
	if (!target_ok(target))
		return conf_error(e, config_setting_get_member(s, "target"),
		    "'%s' is not a target name (1..%zu of A-Z a-z 0-9 . _ -)",
		    target, sizeof(g->target) - 1);
	snprintf(g->target, sizeof(g->target), "%s", target);
	if ((r = get_memory(s, base, g->memory, sizeof(g->memory), e)) < 0 ||
	    (r = get_path(s, "vmlinux", base, g->vmlinux, sizeof(g->vmlinux),
	    e)) < 0 ||
	    (r = get_path(s, "system_map", base, g->system_map,
	    sizeof(g->system_map), e)) < 0 ||
	    (r = get_path(s, "state", base, g->state, sizeof(g->state), e)) < 0 ||
	    (r = get_checks(s, &g->checks, e)) < 0 ||
	    (r = conf_get_int(s, "period_ms", 0, GUARD_PERIOD_MIN_MS,
	    GUARD_PERIOD_MAX_MS, &period, e)) < 0 ||
	    (r = conf_get_bool(s, "repair", 0, &repair, e)) < 0)
		return r;
	g->period_ms = (unsigned)period;
	g->repair = repair;
	return 0;
}

static int
from_config(config_t *cfg, const char *base, struct guard_policy *out,
    struct vouch_err *e)
{
	static const char *const keys[] = { "version", "guards", NULL };
	const config_setting_t *root = config_root_setting(cfg), *gs;
	struct guard_policy p = { NULL, 0 };
	long long version = 0;
	int i, j, n, r;

	if ((r = conf_check_keys(root, keys, e)) < 0 ||
	    (r = conf_get_int(root, "version", 1, 1, 1, &version, e)) < 0)
		return r;
	if ((gs = config_setting_get_member(root, "guards")) == NULL)
		return conf_error(e, root, "missing required key 'guards'");
	if (!config_setting_is_list(gs))
		return conf_error(e, gs, "must be a list ( { ... }, ... )");
	n = config_setting_length(gs);
	if (n == 0)
		return conf_error(e, gs, "no guards");
	if (n > GUARD_MAX_GUARDS)
		return conf_error(e, gs, "at most %d guards", GUARD_MAX_GUARDS);
	if ((p.g = calloc((size_t)n, sizeof(*p.g))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(gs,
		    (unsigned)i);

		if (!config_setting_is_group(el)) {
			r = conf_error(e, el, "expected a group { ... }");
			goto fail;
		}
		if ((r = load_guard(el, base, &p.g[i], e)) < 0)
			goto fail;
		for (j = 0; j < i; j++) {
			if (strcmp(p.g[j].target, p.g[i].target) == 0) {
				r = conf_error(e, config_setting_get_member(el,
				    "target"), "target '%s' listed twice (first "
				    "at guards[%d])", p.g[i].target, j);
				goto fail;
			}
			if (p.g[i].state[0] != '\0' &&
			    strcmp(p.g[j].state, p.g[i].state) == 0) {
				r = conf_error(e, config_setting_get_member(el,
				    "state"), "state file '%s' already used by "
				    "target '%s'", p.g[i].state, p.g[j].target);
				goto fail;
			}
		}
		p.n++;
	}
	*out = p;
	return 0;
fail:
	free(p.g);
	return r;
}

int
guard_policy_load(const char *path, struct guard_policy *p,
    struct vouch_err *e)
{
	config_t cfg;
	int r;

	if (path == NULL || p == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "guard_policy_load: "
		    "NULL argument");
	if ((r = conf_load(path, &cfg, e)) == 0)
		r = from_config(&cfg, path, p, e);
	config_destroy(&cfg);
	return r;
}

int
guard_policy_load_string(const char *name, const char *text,
    struct guard_policy *p, struct vouch_err *e)
{
	config_t cfg;
	int r;

	if (name == NULL || text == NULL || p == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "guard_policy_load_"
		    "string: NULL argument");
	/* No file: relative paths stay relative (to the working directory). */
	if ((r = conf_load_string(name, text, &cfg, e)) == 0)
		r = from_config(&cfg, NULL, p, e);
	config_destroy(&cfg);
	return r;
}

void
guard_policy_free(struct guard_policy *p)
{
	if (p == NULL)
		return;
	free(p->g);
	p->g = NULL;
	p->n = 0;
}

const struct guard_conf *
guard_policy_find(const struct guard_policy *p, const char *target)
{
	size_t i;

	if (p == NULL || target == NULL)
		return NULL;
	for (i = 0; i < p->n; i++)
		if (strcmp(p->g[i].target, target) == 0)
			return &p->g[i];
	return NULL;
}
