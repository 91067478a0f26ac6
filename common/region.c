#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/region.h"
#include "common/wire.h"

struct region {
	char			 name[REGION_NAME_MAX + 1];
	struct region_host	 tcbd;
	struct region_host	*hosts;
	size_t			 nhosts;
};

void
region_free(struct region *r)
{
	if (r == NULL)
		return;
	free(r->hosts);
	free(r);
}

static int
load_host(const config_setting_t *s, struct region_host *h, struct vouch_err *e)
{
	static const char *const keys[] = { "name", "addr", "port", NULL };
	const char *name = NULL, *addr = NULL;
	long long port = 0;
	unsigned char buf[16];
	int r;

	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = conf_get_string(s, "name", 1, &name, e)) < 0 ||
	    (r = conf_get_string(s, "addr", 1, &addr, e)) < 0 ||
	    (r = conf_get_int(s, "port", 1, 1, 65535, &port, e)) < 0)
		return r;
	if (!wire_host_name_ok(name, strlen(name)))
		return conf_error(e, config_setting_get_member(s, "name"),
		    "'%s' is not a lower-case DNS name", name);
	if (strlen(addr) > REGION_ADDR_MAX || (inet_pton(AF_INET, addr, buf) != 1 &&
	    inet_pton(AF_INET6, addr, buf) != 1))
		return conf_error(e, config_setting_get_member(s, "addr"),
		    "'%s' is not a numeric IPv4 or IPv6 address", addr);
	memset(h, 0, sizeof(*h));
	strcpy(h->name, name);
	strcpy(h->addr, addr);
	h->port = (uint16_t)port;
	return 0;
}

static int
region_from_config(config_t *cfg, struct region **out, struct vouch_err *e)
{
	static const char *const top[] = { "region", NULL };
	static const char *const keys[] = { "name", "tcbd", "hosts", NULL };
	const config_setting_t *root = config_root_setting(cfg), *s, *l;
	struct region *rg;
	const char *name = "region";
	size_t i, j;
	int r, n;

	if ((r = conf_check_keys(root, top, e)) < 0)
		return r;
	if ((s = config_setting_get_member(root, "region")) == NULL)
		return conf_error(e, root, "missing required key 'region'");
	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = conf_get_string(s, "name", 0, &name, e)) < 0)
		return r;
	if (strlen(name) > REGION_NAME_MAX)
		return conf_error(e, s, "name too long");
	if ((rg = calloc(1, sizeof(*rg))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	strcpy(rg->name, name);
	if ((l = config_setting_get_member(s, "tcbd")) == NULL) {
		r = conf_error(e, s, "missing required key 'tcbd'");
		goto fail;
	}
	if ((r = load_host(l, &rg->tcbd, e)) < 0)
		goto fail;
	if ((l = config_setting_get_member(s, "hosts")) == NULL ||
	    !config_setting_is_list(l)) {
		r = conf_error(e, l ? l : s, "'hosts' must be a list ( { ... }, ... )");
		goto fail;
	}
	n = config_setting_length(l);
	if (n > (int)REGION_MAX_HOSTS) {
		r = conf_error(e, l, "more than %u hosts", REGION_MAX_HOSTS);
		goto fail;
	}
	if ((rg->hosts = calloc((size_t)n + 1, sizeof(*rg->hosts))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < (size_t)n; i++) {
		const config_setting_t *x = config_setting_get_elem(l, (unsigned)i);
		if ((r = load_host(x, &rg->hosts[i], e)) < 0)
			goto fail;
		if (strcmp(rg->hosts[i].name, rg->tcbd.name) == 0) {
			r = conf_error(e, x, "host '%s' has the tcbd's name",
			    rg->hosts[i].name);
			goto fail;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(rg->hosts[i].name, rg->hosts[j].name) == 0) {
				r = conf_error(e, x, "host '%s' listed twice",
				    rg->hosts[i].name);
				goto fail;
			}
			if (strcmp(rg->hosts[i].addr, rg->hosts[j].addr) == 0 &&
			    rg->hosts[i].port == rg->hosts[j].port) {
				r = conf_error(e, x, "%s port %u already used by '%s'",
				    rg->hosts[i].addr, rg->hosts[i].port,
				    rg->hosts[j].name);
				goto fail;
			}
		}
		rg->nhosts++;
	}
	*out = rg;
	return 0;
fail:
	region_free(rg);
	return r;
}

int
region_load(const char *path, struct region **out, struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load(path, &cfg, e)) == 0)
		r = region_from_config(&cfg, out, e);
	config_destroy(&cfg);
	return r;
}

int
region_load_string(const char *name, const char *text, struct region **out,
    struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load_string(name, text, &cfg, e)) == 0)
		r = region_from_config(&cfg, out, e);
	config_destroy(&cfg);
	return r;
}

const char *
region_name(const struct region *r)
{
	return r->name;
}

const struct region_host *
region_tcbd(const struct region *r)
{
	return &r->tcbd;
}

size_t
region_count(const struct region *r)
{
	return r->nhosts;
}

const struct region_host *
region_get(const struct region *r, size_t i)
{
	return i < r->nhosts ? &r->hosts[i] : NULL;
}

const struct region_host *
region_find(const struct region *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		if (strcmp(r->hosts[i].name, name) == 0)
			return &r->hosts[i];
	return NULL;
}
