/*
 * agent_conf.c - vouchd's configuration: load, validate, print.  The
 * format is drawn in agent_conf.h.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/wire.h"
#include "attest/agent_conf.h"

#define AGENT_DEFAULT_RTLOG	"runtime_measurements"

const char *
agent_lie_name(enum agent_lie lie)
{
	switch (lie) {
	case AGENT_LIE_FAIL:	return "fail";
	case AGENT_LIE_PASS:	return "pass";
	case AGENT_LIE_NONE:	break;
	}
	return "none";
}

void
agent_conf_free(struct agent_conf *c)
{
	if (c == NULL)
		return;
	region_free(c->region);
	policy_free(c->policy);
	free(c);
}

/* Copy a string member into buf[cap]; absolute paths only when path. */
static int
get_str(const config_setting_t *s, const char *name, int required, int path,
    char *buf, size_t cap, struct vouch_err *e)
{
	const char *v = NULL;
	int r;

	if ((r = conf_get_string(s, name, required, &v, e)) < 0 || v == NULL)
		return r;
	if (v[0] == '\0')
		return conf_error(e, config_setting_get_member(s, name),
		    "must not be empty");
	if (strlen(v) >= cap)
		return conf_error(e, config_setting_get_member(s, name),
		    "longer than %zu bytes", cap - 1);
	if (path && v[0] != '/')
		return conf_error(e, config_setting_get_member(s, name),
		    "'%s' is not an absolute path", v);
	memcpy(buf, v, strlen(v) + 1);
	return 0;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT", numeric address, port 1..65535. */
static int
parse_listen(const config_setting_t *m, const char *v, struct agent_conf *c,
    struct vouch_err *e)
{
	const char *colon, *a = v;
	size_t alen;
	unsigned char buf[16];
	char addr[REGION_ADDR_MAX + 1], *end;
	long port;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || rb[1] != ':')
			return conf_error(e, m, "'%s': want [ADDR]:PORT", v);
		a = v + 1;
		alen = (size_t)(rb - a);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(v, ':')) == NULL)
			return conf_error(e, m, "'%s': want ADDR:PORT", v);
		alen = (size_t)(colon - v);
	}
	if (alen == 0 || alen > REGION_ADDR_MAX)
		return conf_error(e, m, "'%s': bad address", v);
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, buf) != 1 &&
	    inet_pton(AF_INET6, addr, buf) != 1)
		return conf_error(e, m, "'%s' is not a numeric IPv4 or IPv6 "
		    "address", addr);
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		return conf_error(e, m, "'%s': port must be 1..65535",
		    colon + 1);
	memcpy(c->listen_addr, addr, alen + 1);
	c->listen_port = (uint16_t)port;
	return 0;
}

static int
load_tls(const config_setting_t *root, struct agent_conf *c,
    struct vouch_err *e)
{
	static const char *const keys[] = { "cert", "key", "ca", NULL };
	const config_setting_t *t = config_setting_get_member(root, "tls");
	int r;

	if (t == NULL)
		return conf_error(e, root, "missing required key 'tls'");
	if ((r = conf_check_keys(t, keys, e)) < 0 ||
	    (r = get_str(t, "cert", 1, 1, c->tls_cert, sizeof(c->tls_cert),
	    e)) < 0 ||
	    (r = get_str(t, "key", 1, 1, c->tls_key, sizeof(c->tls_key),
	    e)) < 0 ||
	    (r = get_str(t, "ca", 1, 1, c->tls_ca, sizeof(c->tls_ca), e)) < 0)
		return r;
	return 0;
}

/*
 * lab = { enabled = BOOL; lie = "none"|"fail"|"pass"; }: checked against
 * the region's name after the region is loaded.
 */
static int
load_lab(const config_setting_t *root, struct agent_conf *c,
    const config_setting_t **lie_setting, struct vouch_err *e)
{
	static const char *const keys[] = { "enabled", "lie", NULL };
	const config_setting_t *l = config_setting_get_member(root, "lab");
	const char *lie = NULL;
	int r;

	*lie_setting = l;
	if (l == NULL)
		return 0;
	if ((r = conf_check_keys(l, keys, e)) < 0 ||
	    (r = conf_get_bool(l, "enabled", 0, &c->lab, e)) < 0 ||
	    (r = conf_get_string(l, "lie", 0, &lie, e)) < 0)
		return r;
	if (lie != NULL) {
		*lie_setting = config_setting_get_member(l, "lie");
		if (strcmp(lie, "none") == 0)
			c->lie = AGENT_LIE_NONE;
		else if (strcmp(lie, "fail") == 0)
			c->lie = AGENT_LIE_FAIL;
		else if (strcmp(lie, "pass") == 0)
			c->lie = AGENT_LIE_PASS;
		else
			return conf_error(e, *lie_setting, "'%s': want "
			    "\"none\", \"fail\" or \"pass\"", lie);
	}
	return 0;
}

const char *
agent_mig_strategy_name(enum agent_mig_strategy s)
{
	switch (s) {
	case AGENT_MIG_PLAIN:	return "plain";
	case AGENT_MIG_STANDBY:	return "standby";
	case AGENT_MIG_ANY:	break;
	}
	return "any";
}

/*
 * migration = { hook; hook_args; strategy; stream_timeout; max_bw;
 * hook_timeout; } (agent_conf.h).
 */
static int
load_migration(const config_setting_t *root, struct agent_conf *c,
    struct vouch_err *e)
{
	static const char *const keys[] = { "hook", "hook_args", "strategy",
	    "stream_timeout", "max_bw", "hook_timeout", NULL };
	const config_setting_t *m = config_setting_get_member(root,
	    "migration"), *args, *el;
	struct agent_migration *mg = &c->migration;
	const char *strategy = NULL, *v;
	long long st = 600, bw = 0, ht = 300;
	int i, n, r;

	if (m == NULL)
		return 0;
	if (!config_setting_is_group(m))
		return conf_error(e, m, "must be a group { ... }");
	if ((r = conf_check_keys(m, keys, e)) < 0 ||
	    (r = get_str(m, "hook", 1, 1, mg->hook, sizeof(mg->hook),
	    e)) < 0 ||
	    (r = conf_get_string(m, "strategy", 0, &strategy, e)) < 0 ||
	    (r = conf_get_int(m, "stream_timeout", 0, 1,
	    AGENT_STREAM_TIMEOUT_MAX, &st, e)) < 0 ||
	    (r = conf_get_int(m, "max_bw", 0, 0, 1LL << 40, &bw, e)) < 0 ||
	    (r = conf_get_int(m, "hook_timeout", 0, 1, AGENT_HOOK_TIMEOUT_MAX,
	    &ht, e)) < 0)
		return r;
	if (strategy == NULL || strcmp(strategy, "any") == 0)
		mg->strategy = AGENT_MIG_ANY;
	else if (strcmp(strategy, "plain") == 0)
		mg->strategy = AGENT_MIG_PLAIN;
	else if (strcmp(strategy, "standby") == 0)
		mg->strategy = AGENT_MIG_STANDBY;
	else
		return conf_error(e, config_setting_get_member(m, "strategy"),
		    "'%s': want \"plain\", \"standby\" or \"any\"",
		    strategy);
	if ((args = config_setting_get_member(m, "hook_args")) != NULL) {
		if (!config_setting_is_array(args) &&
		    !config_setting_is_list(args))
			return conf_error(e, args, "must be a list of strings "
			    "[ \"...\" ]");
		n = config_setting_length(args);
		if (n > AGENT_HOOK_ARGS_MAX)
			return conf_error(e, args, "%d arguments: at most %d",
			    n, AGENT_HOOK_ARGS_MAX);
		for (i = 0; i < n; i++) {
			el = config_setting_get_elem(args, (unsigned)i);
			if (el == NULL ||
			    config_setting_type(el) != CONFIG_TYPE_STRING)
				return conf_error(e, el != NULL ? el : args,
				    "hook_args[%d]: not a string", i);
			v = config_setting_get_string(el);
			if (strlen(v) >= AGENT_HOOK_ARG_LEN)
				return conf_error(e, el, "hook_args[%d]: longer "
				    "than %d bytes", i, AGENT_HOOK_ARG_LEN - 1);
			memcpy(mg->hook_args[i], v, strlen(v) + 1);
		}
		mg->nhook_args = (size_t)n;
	}
	mg->stream_timeout = (unsigned)st;
	mg->max_bw = (uint64_t)bw;
	mg->hook_timeout = (unsigned)ht;
	mg->enabled = 1;
	return 0;
}

static int
from_config(const char *path, config_t *cfg, struct agent_conf **out,
    struct vouch_err *e)
{
	static const char *const keys[] = { "host", "tcti", "state_dir",
	    "listen", "region", "policy", "tls", "eventlog", "runtime_log",
	    "interval", "lab", "migration", NULL };
	const config_setting_t *root = config_root_setting(cfg), *lab;
	const struct region_host *me;
	struct agent_conf *c;
	const char *listen = NULL;
	long long interval = 0;
	struct vouch_err sub = VOUCH_ERR_INIT;
	int r;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if (strlen(path) >= sizeof(c->path)) {
		r = vouch_err_set(e, VOUCH_E_CONFIG, "config path too long");
		goto fail;
	}
	memcpy(c->path, path, strlen(path) + 1);
	if ((r = conf_check_keys(root, keys, e)) < 0 ||
	    (r = get_str(root, "host", 1, 0, c->host, sizeof(c->host),
	    e)) < 0 ||
	    (r = get_str(root, "tcti", 0, 0, c->tcti, sizeof(c->tcti),
	    e)) < 0 ||
	    (r = get_str(root, "state_dir", 1, 1, c->state_dir,
	    sizeof(c->state_dir), e)) < 0 ||
	    (r = conf_get_string(root, "listen", 0, &listen, e)) < 0 ||
	    (r = get_str(root, "region", 1, 1, c->region_path,
	    sizeof(c->region_path), e)) < 0 ||
	    (r = get_str(root, "policy", 1, 1, c->policy_path,
	    sizeof(c->policy_path), e)) < 0 ||
	    (r = load_tls(root, c, e)) < 0 ||
	    (r = get_str(root, "eventlog", 0, 1, c->eventlog,
	    sizeof(c->eventlog), e)) < 0 ||
	    (r = get_str(root, "runtime_log", 0, 1, c->runtime_log,
	    sizeof(c->runtime_log), e)) < 0 ||
	    (r = conf_get_int(root, "interval", 0, 1, AGENT_INTERVAL_MAX,
	    &interval, e)) < 0 ||
	    (r = load_lab(root, c, &lab, e)) < 0 ||
	    (r = load_migration(root, c, e)) < 0)
		goto fail;
	if (!wire_host_name_ok(c->host, strlen(c->host))) {
		r = conf_error(e, config_setting_get_member(root, "host"),
		    "'%s' is not a lower-case DNS name", c->host);
		goto fail;
	}
	if (listen != NULL && (r = parse_listen(config_setting_get_member(root,
	    "listen"), listen, c, e)) < 0)
		goto fail;
	if (c->runtime_log[0] == '\0') {
		if (strlen(c->state_dir) + 1 + strlen(AGENT_DEFAULT_RTLOG) >=
		    sizeof(c->runtime_log)) {
			r = conf_error(e, config_setting_get_member(root,
			    "state_dir"), "too long");
			goto fail;
		}
		snprintf(c->runtime_log, sizeof(c->runtime_log), "%s/%s",
		    c->state_dir, AGENT_DEFAULT_RTLOG);
	}

	/* The files it names, each with its own file:line errors. */
	if ((r = region_load(c->region_path, &c->region, &sub)) < 0) {
		r = conf_error(e, config_setting_get_member(root, "region"),
		    "%s", sub.msg);
		goto fail;
	}
	if ((r = policy_load(c->policy_path, &c->policy, &sub)) < 0) {
		r = conf_error(e, config_setting_get_member(root, "policy"),
		    "%s", sub.msg);
		goto fail;
	}
	if ((me = region_find(c->region, c->host)) == NULL) {
		r = conf_error(e, config_setting_get_member(root, "host"),
		    "'%s' is not a host of region '%s' (%s)", c->host,
		    region_name(c->region), c->region_path);
		goto fail;
	}
	if (listen == NULL) {
		memcpy(c->listen_addr, me->addr, sizeof(c->listen_addr));
		c->listen_port = me->port;
	}
	c->interval = interval > 0 ? (unsigned)interval :
	    policy_measure_interval(c->policy);
	if (c->interval == 0)
		c->interval = 30;

	/* The fault switch: lab mode in a lab region, or nothing. */
	if ((c->lab || c->lie != AGENT_LIE_NONE) &&
	    strncmp(region_name(c->region), "lab", 3) != 0) {
		r = conf_error(e, lab, "the lab fault switch and lab mode are "
		    "refused outside the lab (region '%s' does not start with "
		    "\"lab\")", region_name(c->region));
		goto fail;
	}
	if (c->lie != AGENT_LIE_NONE && !c->lab) {
		r = conf_error(e, lab, "lie = \"%s\" needs lab mode "
		    "(lab.enabled = true)", agent_lie_name(c->lie));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	agent_conf_free(c);
	return r;
}

int
agent_conf_load(const char *path, struct agent_conf **out,
    struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load(path, &cfg, e)) == 0)
		r = from_config(path, &cfg, out, e);
	config_destroy(&cfg);
	return r;
}

int
agent_conf_load_string(const char *name, const char *text,
    struct agent_conf **out, struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load_string(name, text, &cfg, e)) == 0)
		r = from_config(name, &cfg, out, e);
	config_destroy(&cfg);
	return r;
}

void
agent_conf_print(const struct agent_conf *c, FILE *f)
{
	size_t i;

	fprintf(f, "# effective configuration of %s\n", c->path);
	fprintf(f, "host = \"%s\";\n", c->host);
	fprintf(f, "tcti = \"%s\";\n", c->tcti[0] ? c->tcti :
	    "(default: $VOUCH_TCTI, else device:/dev/tpmrm0)");
	fprintf(f, "state_dir = \"%s\";\n", c->state_dir);
	if (strchr(c->listen_addr, ':') != NULL)
		fprintf(f, "listen = \"[%s]:%u\";\n", c->listen_addr,
		    c->listen_port);
	else
		fprintf(f, "listen = \"%s:%u\";\n", c->listen_addr,
		    c->listen_port);
	fprintf(f, "region = \"%s\";\t# region '%s', %zu hosts, tcbd %s "
	    "at %s:%u\n", c->region_path, region_name(c->region),
	    region_count(c->region), region_tcbd(c->region)->name,
	    region_tcbd(c->region)->addr, region_tcbd(c->region)->port);
	fprintf(f, "policy = \"%s\";\t# policy '%s'\n", c->policy_path,
	    policy_name(c->policy));
	fprintf(f, "tls = { cert = \"%s\"; key = \"%s\"; ca = \"%s\"; };\n",
	    c->tls_cert, c->tls_key, c->tls_ca);
	if (c->eventlog[0])
		fprintf(f, "eventlog = \"%s\";\n", c->eventlog);
	else
		fprintf(f, "# eventlog: none\n");
	fprintf(f, "runtime_log = \"%s\";\n", c->runtime_log);
	fprintf(f, "interval = %u;\n", c->interval);
	fprintf(f, "lab = { enabled = %s; lie = \"%s\"; };\n",
	    c->lab ? "true" : "false", agent_lie_name(c->lie));
	if (!c->migration.enabled)
		return;		/* no section: MIG_ORDER refused */
	fprintf(f, "migration = {\n\thook = \"%s\";\n\thook_args = [",
	    c->migration.hook);
	for (i = 0; i < c->migration.nhook_args; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : " ",
		    c->migration.hook_args[i]);
	fprintf(f, "%s];\n\tstrategy = \"%s\";\n\tstream_timeout = %u;\n"
	    "\tmax_bw = %llu;\n\thook_timeout = %u;\n};\n",
	    c->migration.nhook_args ? " " : "",
	    agent_mig_strategy_name(c->migration.strategy),
	    c->migration.stream_timeout,
	    (unsigned long long)c->migration.max_bw, c->migration.hook_timeout);
}
