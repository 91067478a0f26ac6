#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

static int
load_result(config_t *cfg, const char *name, int ok, struct vouch_err *e)
{
	if (ok == CONFIG_TRUE)
		return 0;
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
		return vouch_err_set(e, VOUCH_E_IO, "%s: cannot read file", name);
	return vouch_err_set(e, VOUCH_E_CONFIG, "%s:%d: %s",
	    config_error_file(cfg) ? config_error_file(cfg) : name,
	    config_error_line(cfg), config_error_text(cfg));
}

int
conf_load(const char *path, config_t *cfg, struct vouch_err *e)
{
	config_init(cfg);
	return load_result(cfg, path, config_read_file(cfg, path), e);
}

int
conf_load_string(const char *name, const char *text, config_t *cfg,
    struct vouch_err *e)
{
	config_init(cfg);
	return load_result(cfg, name, config_read_string(cfg, text), e);
}

/* Dotted path of s ("attestation.pcrs", "reference.boot.[3].digest"). */
static void
setting_path(const config_setting_t *s, char *buf, size_t n)
{
	const config_setting_t *chain[32];
	size_t depth = 0, i, off = 0;

	buf[0] = '\0';
	for (; s != NULL && !config_setting_is_root(s) && depth < 32;
	    s = config_setting_parent(s))
		chain[depth++] = s;
	for (i = depth; i > 0 && off < n; i--) {
		const config_setting_t *c = chain[i - 1];
		const char *name = config_setting_name(c);
		int w;
		if (name != NULL)
			w = snprintf(buf + off, n - off, "%s%s", off ? "." : "",
			    name);
		else
			w = snprintf(buf + off, n - off, "[%d]",
			    config_setting_index(c));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

int
conf_error(struct vouch_err *e, const config_setting_t *s, const char *fmt, ...)
{
	char path[256], msg[VOUCH_ERR_MSG_MAX];
	const char *file;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	setting_path(s, path, sizeof(path));
	file = config_setting_source_file(s);
	return vouch_err_set(e, VOUCH_E_CONFIG, "%s:%u: %s%s%s",
	    file ? file : "<config>", config_setting_source_line(s), path,
	    path[0] ? ": " : "", msg);
}

int
conf_check_keys(const config_setting_t *s, const char *const *allowed,
    struct vouch_err *e)
{
	int i, n = config_setting_length(s);

	if (!config_setting_is_group(s))
		return conf_error(e, s, "expected a group { ... }");
	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *const *a;
		for (a = allowed; *a != NULL; a++)
			if (name != NULL && strcmp(*a, name) == 0)
				break;
		if (*a == NULL)
			return conf_error(e, m, "unknown key");
	}
	return 0;
}

static const config_setting_t *
member(const config_setting_t *s, const char *name, int required,
    struct vouch_err *e, int *rc)
{
	const config_setting_t *m = config_setting_get_member(s, name);

	*rc = 0;
	if (m == NULL && required)
		*rc = conf_error(e, s, "missing required key '%s'", name);
	return m;
}

int
conf_get_string(const config_setting_t *s, const char *name, int required,
    const char **out, struct vouch_err *e)
{
	const config_setting_t *m;
	int rc;

	if ((m = member(s, name, required, e, &rc)) == NULL)
		return rc;
	if (config_setting_type(m) != CONFIG_TYPE_STRING)
		return conf_error(e, m, "expected a string");
	*out = config_setting_get_string(m);
	return 0;
}

int
conf_get_int(const config_setting_t *s, const char *name, int required,
    long long min, long long max, long long *out, struct vouch_err *e)
{
	const config_setting_t *m;
	long long v;
	int rc;

	if ((m = member(s, name, required, e, &rc)) == NULL)
		return rc;
	if (config_setting_type(m) == CONFIG_TYPE_INT)
		v = config_setting_get_int(m);
	else if (config_setting_type(m) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(m);
	else
		return conf_error(e, m, "expected an integer");
	if (v < min || v > max)
		return conf_error(e, m, "%lld is out of range %lld..%lld", v,
		    min, max);
	*out = v;
	return 0;
}

int
conf_get_bool(const config_setting_t *s, const char *name, int required,
    int *out, struct vouch_err *e)
{
	const config_setting_t *m;
	int rc;

	if ((m = member(s, name, required, e, &rc)) == NULL)
		return rc;
	if (config_setting_type(m) != CONFIG_TYPE_BOOL)
		return conf_error(e, m, "expected true or false");
	*out = config_setting_get_bool(m);
	return 0;
}
