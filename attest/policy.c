/*
 * policy.c - load and query the attestation policy (see policy.h).
 *
 * Reference values live in two open-addressing hash tables so that the
 * verifier's per-event lookups are O(1) with no allocation:
 *   boot:    key (pcr, alg, digest)   -> present
 *   runtime: key path                 -> list of (alg, digest)
 * Both are built once at load and never change afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/util.h"
#include "attest/policy.h"

struct boot_ref {
	uint32_t	pcr;
	uint16_t	alg;
	uint8_t		digest[PCR_DIGEST_MAX];
};

struct rt_ref {
	char		*path;
	uint16_t	 alg;
	uint8_t		 digest[PCR_DIGEST_MAX];
	struct rt_ref	*next_same_path;
};

struct pin_ref {
	uint16_t	alg;
	uint32_t	pcr;
	uint8_t		value[PCR_DIGEST_MAX];
};

struct policy {
	char			*name;
	struct pcr_selection	 pcrs;
	uint32_t		 runtime_pcr;
	int			 ak_type;
	uint32_t		 ignore_mask;
	char			**files;
	size_t			 nfiles;
	unsigned		 interval;

	struct boot_ref		*boot;
	size_t			 nboot;
	size_t			*boot_tab;	/* index+1 into boot; 0 = empty */
	size_t			 boot_cap;	/* power of two */
	uint32_t		 boot_algs;	/* bit per known alg slot */

	struct rt_ref		*rt;
	size_t			 nrt;
	struct rt_ref		**rt_tab;	/* head of each path's list */
	size_t			 rt_cap;

	struct pin_ref		*pins;
	size_t			 npins;
};

/* FNV-1a: keys are digests (already uniform) and short paths. */
static uint64_t
fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
boot_hash(uint32_t pcr, uint16_t alg, const uint8_t *digest, size_t dlen)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = fnv1a(&pcr, sizeof(pcr), h);
	h = fnv1a(&alg, sizeof(alg), h);
	return fnv1a(digest, dlen, h);
}

static size_t
table_cap(size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 1)
		cap *= 2;
	return cap;
}

static int
alg_bit(uint16_t alg)
{
	switch (alg) {
	case PCR_ALG_SHA1: return 0;
	case PCR_ALG_SHA256: return 1;
	case PCR_ALG_SHA384: return 2;
	case PCR_ALG_SHA512: return 3;
	default: return 4;
	}
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->name);
	for (i = 0; i < p->nfiles; i++)
		free(p->files[i]);
	free(p->files);
	free(p->boot);
	free(p->boot_tab);
	for (i = 0; i < p->nrt; i++)
		free(p->rt[i].path);
	free(p->rt);
	free(p->rt_tab);
	free(p->pins);
	free(p);
}

/* "sha256:<hex>" -> alg, digest (exact size of the alg). */
static int
parse_digest(const config_setting_t *s, const char *text, uint16_t *alg,
    uint8_t *digest, struct vouch_err *e)
{
	const struct pcr_alg *a;
	const char *colon = strchr(text, ':');
	char name[16];
	size_t n;
	struct vouch_err he = VOUCH_ERR_INIT;

	if (colon == NULL || (size_t)(colon - text) >= sizeof(name))
		return conf_error(e, s, "expected ALG:HEX, e.g. sha256:9f86...");
	memcpy(name, text, (size_t)(colon - text));
	name[colon - text] = '\0';
	if ((a = pcr_alg_by_name(name)) == NULL)
		return conf_error(e, s, "unknown hash algorithm '%s'", name);
	if (hex_decode(colon + 1, digest, PCR_DIGEST_MAX, &n, &he) < 0)
		return conf_error(e, s, "%s", he.msg);
	if (n != a->size)
		return conf_error(e, s, "%s digest must be %zu bytes, not %zu",
		    a->name, a->size, n);
	*alg = a->id;
	return 0;
}

static int
load_attestation(struct policy *p, const config_setting_t *s,
    struct vouch_err *e)
{
	static const char *const keys[] = { "pcrs", "runtime_pcr", "ak",
	    "ignore_pcrs", NULL };
	const config_setting_t *ign;
	const char *pcrs = "sha256:0-9,23", *ak = "ecc";
	long long rpcr = 23;
	struct vouch_err pe = VOUCH_ERR_INIT;
	int r, i;

	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = conf_get_string(s, "pcrs", 0, &pcrs, e)) < 0 ||
	    (r = conf_get_int(s, "runtime_pcr", 0, 0, PCR_NUM - 1, &rpcr, e)) < 0 ||
	    (r = conf_get_string(s, "ak", 0, &ak, e)) < 0)
		return r;
	if (pcr_selection_parse(pcrs, &p->pcrs, &pe) < 0)
		return conf_error(e, config_setting_get_member(s, "pcrs") ?
		    config_setting_get_member(s, "pcrs") : s, "%s", pe.msg);
	p->runtime_pcr = (uint32_t)rpcr;
	if (strcmp(ak, "ecc") == 0)
		p->ak_type = 0;
	else if (strcmp(ak, "rsa") == 0)
		p->ak_type = 1;
	else
		return conf_error(e, config_setting_get_member(s, "ak"),
		    "expected \"ecc\" or \"rsa\"");
	if ((ign = config_setting_get_member(s, "ignore_pcrs")) != NULL) {
		if (!config_setting_is_array(ign))
			return conf_error(e, ign, "expected an array [ ... ]");
		for (i = 0; i < config_setting_length(ign); i++) {
			const config_setting_t *x =
			    config_setting_get_elem(ign, (unsigned)i);
			int v;
			if (config_setting_type(x) != CONFIG_TYPE_INT)
				return conf_error(e, x, "expected a PCR index");
			v = config_setting_get_int(x);
			if (v < 0 || v >= PCR_NUM)
				return conf_error(e, x, "PCR %d out of range 0..%d",
				    v, PCR_NUM - 1);
			p->ignore_mask |= 1u << v;
		}
	}
	return 0;
}

static int
load_measure(struct policy *p, const config_setting_t *s, struct vouch_err *e)
{
	static const char *const keys[] = { "files", "interval", NULL };
	const config_setting_t *f;
	long long interval = 30;
	int r, i, n;

	if ((r = conf_check_keys(s, keys, e)) < 0 ||
	    (r = conf_get_int(s, "interval", 0, 1, 86400, &interval, e)) < 0)
		return r;
	p->interval = (unsigned)interval;
	if ((f = config_setting_get_member(s, "files")) == NULL)
		return 0;
	if (!config_setting_is_array(f))
		return conf_error(e, f, "expected an array of paths [ \"...\" ]");
	n = config_setting_length(f);
	if (n > (int)POLICY_MAX_FILES)
		return conf_error(e, f, "more than %u files", POLICY_MAX_FILES);
	if ((p->files = calloc((size_t)n + 1, sizeof(*p->files))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const config_setting_t *x = config_setting_get_elem(f, (unsigned)i);
		const char *path = config_setting_get_string(x);
		if (path == NULL || path[0] != '/')
			return conf_error(e, x, "expected an absolute path");
		if (strpbrk(path, " \t\n\r") != NULL)
			return conf_error(e, x, "paths with white space cannot "
			    "appear in an ima-ng log");
		if ((p->files[i] = strdup(path)) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		p->nfiles++;
	}
	return 0;
}

static int
boot_insert(struct policy *p, const struct boot_ref *ref)
{
	size_t dlen = pcr_alg_by_id(ref->alg)->size;
	size_t i = (size_t)boot_hash(ref->pcr, ref->alg, ref->digest, dlen) &
	    (p->boot_cap - 1);

	for (;; i = (i + 1) & (p->boot_cap - 1)) {
		size_t k = p->boot_tab[i];
		if (k == 0) {
			p->boot_tab[i] = (size_t)(ref - p->boot) + 1;
			return 1;
		}
		if (p->boot[k - 1].pcr == ref->pcr &&
		    p->boot[k - 1].alg == ref->alg &&
		    memcmp(p->boot[k - 1].digest, ref->digest, dlen) == 0)
			return 0;	/* duplicate: harmless */
	}
}

static const config_setting_t *
list_member(const config_setting_t *s, const char *name, struct vouch_err *e,
    int *rc)
{
	const config_setting_t *l = config_setting_get_member(s, name);

	*rc = 0;
	if (l == NULL)
		return NULL;
	if (!config_setting_is_list(l) && !config_setting_is_array(l)) {
		*rc = conf_error(e, l, "expected a list ( { ... }, ... )");
		return NULL;
	}
	if (config_setting_length(l) > (int)POLICY_MAX_REFVALS) {
		*rc = conf_error(e, l, "more than %u entries", POLICY_MAX_REFVALS);
		return NULL;
	}
	return l;
}

static int
load_boot(struct policy *p, const config_setting_t *l, struct vouch_err *e)
{
	static const char *const keys[] = { "pcr", "digest", "type", "desc", NULL };
	int i, r, n = config_setting_length(l);

	if ((p->boot = calloc((size_t)n + 1, sizeof(*p->boot))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	p->boot_cap = table_cap((size_t)n);
	if ((p->boot_tab = calloc(p->boot_cap, sizeof(*p->boot_tab))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const config_setting_t *x = config_setting_get_elem(l, (unsigned)i);
		struct boot_ref *ref = &p->boot[p->nboot];
		const char *digest = NULL, *str = NULL;
		long long pcr = 0;

		if ((r = conf_check_keys(x, keys, e)) < 0 ||
		    (r = conf_get_int(x, "pcr", 1, 0, PCR_NUM - 1, &pcr, e)) < 0 ||
		    (r = conf_get_string(x, "digest", 1, &digest, e)) < 0 ||
		    (r = conf_get_string(x, "type", 0, &str, e)) < 0 ||
		    (r = conf_get_string(x, "desc", 0, &str, e)) < 0)
			return r;
		ref->pcr = (uint32_t)pcr;
		if ((r = parse_digest(config_setting_get_member(x, "digest"),
		    digest, &ref->alg, ref->digest, e)) < 0)
			return r;
		p->boot_algs |= 1u << alg_bit(ref->alg);
		if (boot_insert(p, ref))
			p->nboot++;
	}
	return 0;
}

static uint64_t
path_hash(const char *path)
{
	return fnv1a(path, strlen(path), 0xcbf29ce484222325ULL);
}

static struct rt_ref **
rt_slot(const struct policy *p, const char *path)
{
	size_t i = (size_t)path_hash(path) & (p->rt_cap - 1);

	for (;; i = (i + 1) & (p->rt_cap - 1))
		if (p->rt_tab[i] == NULL || strcmp(p->rt_tab[i]->path, path) == 0)
			return &p->rt_tab[i];
}

static int
load_runtime(struct policy *p, const config_setting_t *l, struct vouch_err *e)
{
	static const char *const keys[] = { "path", "digest", NULL };
	int i, r, n = config_setting_length(l);

	if ((p->rt = calloc((size_t)n + 1, sizeof(*p->rt))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	p->rt_cap = table_cap((size_t)n);
	if ((p->rt_tab = calloc(p->rt_cap, sizeof(*p->rt_tab))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const config_setting_t *x = config_setting_get_elem(l, (unsigned)i);
		struct rt_ref *ref = &p->rt[p->nrt], **slot;
		const char *path = NULL, *digest = NULL;

		if ((r = conf_check_keys(x, keys, e)) < 0 ||
		    (r = conf_get_string(x, "path", 1, &path, e)) < 0 ||
		    (r = conf_get_string(x, "digest", 1, &digest, e)) < 0)
			return r;
		if ((r = parse_digest(config_setting_get_member(x, "digest"),
		    digest, &ref->alg, ref->digest, e)) < 0)
			return r;
		if ((ref->path = strdup(path)) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		p->nrt++;
		slot = rt_slot(p, path);
		ref->next_same_path = *slot;
		*slot = ref;
	}
	return 0;
}

static int
load_pins(struct policy *p, const config_setting_t *l, struct vouch_err *e)
{
	static const char *const keys[] = { "pcr", "value", NULL };
	int i, r, n = config_setting_length(l);
	size_t j;

	if ((p->pins = calloc((size_t)n + 1, sizeof(*p->pins))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const config_setting_t *x = config_setting_get_elem(l, (unsigned)i);
		struct pin_ref *pin = &p->pins[p->npins];
		const char *value = NULL;
		long long pcr = 0;

		if ((r = conf_check_keys(x, keys, e)) < 0 ||
		    (r = conf_get_int(x, "pcr", 1, 0, PCR_NUM - 1, &pcr, e)) < 0 ||
		    (r = conf_get_string(x, "value", 1, &value, e)) < 0)
			return r;
		pin->pcr = (uint32_t)pcr;
		if ((r = parse_digest(config_setting_get_member(x, "value"),
		    value, &pin->alg, pin->value, e)) < 0)
			return r;
		for (j = 0; j < p->npins; j++)
			if (p->pins[j].alg == pin->alg && p->pins[j].pcr == pin->pcr)
				return conf_error(e, x, "PCR %u of this bank is "
				    "already pinned", pin->pcr);
		p->npins++;
	}
	return 0;
}

static int
load_reference(struct policy *p, const config_setting_t *s,
    struct vouch_err *e)
{
	static const char *const keys[] = { "boot", "runtime", "pcr_values", NULL };
	const config_setting_t *l;
	int r;

	if ((r = conf_check_keys(s, keys, e)) < 0)
		return r;
	if ((l = list_member(s, "boot", e, &r)) != NULL)
		r = load_boot(p, l, e);
	if (r < 0)
		return r;
	if ((l = list_member(s, "runtime", e, &r)) != NULL)
		r = load_runtime(p, l, e);
	if (r < 0)
		return r;
	if ((l = list_member(s, "pcr_values", e, &r)) != NULL)
		r = load_pins(p, l, e);
	return r;
}

/* Empty tables so lookups need no NULL checks. */
static int
ensure_tables(struct policy *p, struct vouch_err *e)
{
	if (p->boot_tab == NULL) {
		p->boot_cap = 16;
		if ((p->boot_tab = calloc(p->boot_cap, sizeof(*p->boot_tab))) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	if (p->rt_tab == NULL) {
		p->rt_cap = 16;
		if ((p->rt_tab = calloc(p->rt_cap, sizeof(*p->rt_tab))) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	return 0;
}

static int
policy_from_config(config_t *cfg, struct policy **out, struct vouch_err *e)
{
	static const char *const keys[] = { "version", "name", "attestation",
	    "measure", "reference", NULL };
	const config_setting_t *root = config_root_setting(cfg), *s;
	struct policy *p;
	const char *name = "unnamed";
	long long version = 0;
	struct vouch_err pe = VOUCH_ERR_INIT;
	int r;

	if ((r = conf_check_keys(root, keys, e)) < 0 ||
	    (r = conf_get_int(root, "version", 1, 1, 1, &version, e)) < 0 ||
	    (r = conf_get_string(root, "name", 0, &name, e)) < 0)
		return r;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	p->runtime_pcr = 23;
	p->interval = 30;
	if ((p->name = strdup(name)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((s = config_setting_get_member(root, "attestation")) != NULL)
		r = load_attestation(p, s, e);
	else
		r = pcr_selection_parse("sha256:0-9,23", &p->pcrs, &pe);
	if (r < 0)
		goto fail;
	if ((s = config_setting_get_member(root, "measure")) != NULL &&
	    (r = load_measure(p, s, e)) < 0)
		goto fail;
	if ((s = config_setting_get_member(root, "reference")) != NULL &&
	    (r = load_reference(p, s, e)) < 0)
		goto fail;
	if ((r = ensure_tables(p, e)) < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	policy_free(p);
	return r;
}

int
policy_load(const char *path, struct policy **out, struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load(path, &cfg, e)) == 0)
		r = policy_from_config(&cfg, out, e);
	config_destroy(&cfg);
	return r;
}

int
policy_load_string(const char *name, const char *text, struct policy **out,
    struct vouch_err *e)
{
	config_t cfg;
	int r;

	if ((r = conf_load_string(name, text, &cfg, e)) == 0)
		r = policy_from_config(&cfg, out, e);
	config_destroy(&cfg);
	return r;
}

const char *
policy_name(const struct policy *p)
{
	return p->name;
}

const struct pcr_selection *
policy_pcrs(const struct policy *p)
{
	return &p->pcrs;
}

uint32_t
policy_runtime_pcr(const struct policy *p)
{
	return p->runtime_pcr;
}

int
policy_ak_type(const struct policy *p)
{
	return p->ak_type;
}

uint32_t
policy_ignore_mask(const struct policy *p)
{
	return p->ignore_mask;
}

size_t
policy_files(const struct policy *p, const char *const **files)
{
	*files = (const char *const *)p->files;
	return p->nfiles;
}

unsigned
policy_measure_interval(const struct policy *p)
{
	return p->interval;
}

int
policy_boot_known(const struct policy *p, uint32_t pcr, uint16_t alg,
    const uint8_t *digest)
{
	const struct pcr_alg *a = pcr_alg_by_id(alg);
	size_t i;

	if (a == NULL)
		return 0;
	i = (size_t)boot_hash(pcr, alg, digest, a->size) & (p->boot_cap - 1);
	for (;; i = (i + 1) & (p->boot_cap - 1)) {
		size_t k = p->boot_tab[i];
		if (k == 0)
			return 0;
		if (p->boot[k - 1].pcr == pcr && p->boot[k - 1].alg == alg &&
		    ct_equal(p->boot[k - 1].digest, digest, a->size))
			return 1;
	}
}

int
policy_has_boot_alg(const struct policy *p, uint16_t alg)
{
	return (p->boot_algs >> alg_bit(alg)) & 1;
}

int
policy_pcr_value(const struct policy *p, uint16_t alg, uint32_t pcr,
    const uint8_t **value)
{
	size_t i;

	for (i = 0; i < p->npins; i++)
		if (p->pins[i].alg == alg && p->pins[i].pcr == pcr) {
			*value = p->pins[i].value;
			return 1;
		}
	return 0;
}

enum policy_rt
policy_runtime_check(const struct policy *p, const char *path, uint16_t alg,
    const uint8_t *digest)
{
	const struct pcr_alg *a = pcr_alg_by_id(alg);
	const struct rt_ref *r = *rt_slot(p, path);

	if (r == NULL)
		return POLICY_RT_UNKNOWN_PATH;
	for (; r != NULL && a != NULL; r = r->next_same_path)
		if (r->alg == alg && ct_equal(r->digest, digest, a->size))
			return POLICY_RT_OK;
	return POLICY_RT_MISMATCH;
}
