/*
 * order.c - the MIG_ORDER / MIG_REPORT JSON codec (see order.h).
 *
 * Decoding is a checklist: size and NUL bytes, strict JSON (json-c,
 * UTF-8 validated, nothing after the object), one object and no key
 * twice, no unknown key, every required key with the right type and
 * range.  Encoding builds the object and then decodes its own output, so
 * an encoder can never emit a document the decoder would refuse.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/util.h"
#include "common/wire.h"
#include "migrate/order.h"

#define ORDER_INT_MAX	((uint64_t)INT64_MAX)	/* what the store can hold */
#define ORDER_MBPS_MAX	1e9

static const char *const mode_names[] = { "evacuate", "manual" };
static const char *const strategy_names[] = { "plain", "standby" };

int
order_vm_name_ok(const char *s)
{
	size_t i;

	/* A leading '-' would read as an option to a hypervisor tool. */
	if (s == NULL || s[0] == '\0' || s[0] == '-' || s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= ORDER_NAME_MAX - 1)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
order_phase_from_name(const char *name)
{
	int p;

	if (name == NULL)
		return -1;
	for (p = COMIG_PH_PREPARE; p <= COMIG_PH_FAILED; p++)
		if (strcmp(name, comig_phase_name((enum comig_phase)p)) == 0)
			return p;
	return -1;
}

/* ---- decoding helpers ---- */

/*
 * Number of keys of the top-level object in text (already validated as
 * one JSON object by json-c): a string at depth 1 followed by ':'.  json-c
 * keeps only the last of two equal keys, so a count above the object's
 * length means a duplicate.
 */
static size_t
count_top_keys(const char *s, size_t len)
{
	size_t i, n = 0;
	int depth = 0, in_str = 0, esc = 0;
	size_t str_depth = 0;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"') {
				size_t j = i + 1;

				in_str = 0;
				while (j < len && (s[j] == ' ' || s[j] == '\t' ||
				    s[j] == '\n' || s[j] == '\r'))
					j++;
				if (str_depth == 1 && j < len && s[j] == ':')
					n++;
			}
			continue;
		}
		if (c == '"') {
			in_str = 1;
			str_depth = (size_t)depth;
		} else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
	}
	return n;
}

static int
parse_object(const char *what, const char *json, size_t len,
    json_object **out, struct vouch_err *e)
{
	struct json_tokener *tok;
	json_object *o;
	size_t n, have;

	if (json == NULL || len < 2)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: empty", what);
	if (len > WIRE_MIG_JSON_MAX)
		return vouch_err_set(e, VOUCH_E_LIMIT, "%s: %zu bytes, over "
		    "the limit of %u", what, len, WIRE_MIG_JSON_MAX);
	if (memchr(json, '\0', len) != NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: NUL byte in the "
		    "JSON", what);
	/* Depth 3 is enough: the object, the dests array, a string. */
	if ((tok = json_tokener_new_ex(4)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o == NULL || json_tokener_get_parse_end(tok) != len) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		json_object_put(o);
		json_tokener_free(tok);
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: not one JSON "
		    "object (%s)", what, o == NULL && je != json_tokener_success ?
		    json_tokener_error_desc(je) : "trailing bytes");
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: not a JSON "
		    "object", what);
	}
	n = count_top_keys(json, len);
	have = (size_t)json_object_object_length(o);
	if (n != have) {
		json_object_put(o);
		/* Fewer: json-c took a key we do not see ('single quotes'). */
		return vouch_err_set(e, VOUCH_E_FORMAT, n > have ?
		    "%s: a key appears twice" :
		    "%s: not one JSON object (non-standard quoting)", what);
	}
	*out = o;
	return 0;
}

/* Every key of o must be in keys[] (NULL-terminated). */
static int
check_keys(const char *what, json_object *o, const char *const *keys,
    struct vouch_err *e)
{
	json_object_object_foreach(o, k, v) {
		size_t i;

		(void)v;
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (keys[i] == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT, "%s: unknown "
			    "key '%.64s'", what, k);
	}
	return 0;
}

static int
get(const char *what, json_object *o, const char *key, json_type t,
    const char *tname, json_object **v, struct vouch_err *e)
{
	if (!json_object_object_get_ex(o, key, v))
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: missing",
		    what, key);
	if (!json_object_is_type(*v, t))
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: not %s",
		    what, key, tname);
	return 0;
}

static int
get_uint(const char *what, json_object *o, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct vouch_err *e)
{
	json_object *v;
	uint64_t u;
	int r;

	if ((r = get(what, o, key, json_type_int, "an integer", &v, e)) < 0)
		return r;
	/* json-c saturates out-of-range numbers; max <= INT64_MAX < them. */
	if (json_object_get_int64(v) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: negative",
		    what, key);
	u = json_object_get_uint64(v);
	if (u < min || u > max)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: %llu out of "
		    "range %llu..%llu", what, key, (unsigned long long)u,
		    (unsigned long long)min, (unsigned long long)max);
	*out = u;
	return 0;
}

static int
get_bool(const char *what, json_object *o, const char *key, int *out,
    struct vouch_err *e)
{
	json_object *v;
	int r;

	if ((r = get(what, o, key, json_type_boolean, "a boolean", &v,
	    e)) < 0)
		return r;
	*out = json_object_get_boolean(v) ? 1 : 0;
	return 0;
}

/* The JSON string v into out[cap] (no NUL inside, shorter than cap). */
static int
str_value(const char *what, const char *key, json_object *v, char *out,
    size_t cap, struct vouch_err *e)
{
	const char *s;
	size_t n;

	if (!json_object_is_type(v, json_type_string))
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: not a string",
		    what, key);
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (strlen(s) != n)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: NUL in the "
		    "string", what, key);
	if (n >= cap)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: %zu bytes, "
		    "at most %zu", what, key, n, cap - 1);
	memcpy(out, s, n + 1);
	return 0;
}

static int
get_str(const char *what, json_object *o, const char *key, char *out,
    size_t cap, struct vouch_err *e)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: missing",
		    what, key);
	return str_value(what, key, v, out, cap, e);
}

/* Printable UTF-8 (validated by the tokener): no C0, DEL or C1. */
static int
text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return 0;
	}
	return 1;
}

static int
get_text(const char *what, json_object *o, const char *key, char *out,
    size_t cap, struct vouch_err *e)
{
	int r;

	if ((r = get_str(what, o, key, out, cap, e)) < 0)
		return r;
	if (!text_ok(out))
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: control "
		    "characters", what, key);
	return 0;
}

static int
get_host(const char *what, json_object *o, const char *key, int may_be_empty,
    char *out, struct vouch_err *e)
{
	int r;

	if ((r = get_str(what, o, key, out, ORDER_HOST_MAX, e)) < 0)
		return r;
	if (may_be_empty && out[0] == '\0')
		return 0;
	if (!wire_host_name_ok(out, strlen(out)))
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: not a host "
		    "name", what, key);
	return 0;
}

static int
get_vm(const char *what, json_object *o, const char *key, char *out,
    struct vouch_err *e)
{
	int r;

	if ((r = get_str(what, o, key, out, ORDER_NAME_MAX, e)) < 0)
		return r;
	if (!order_vm_name_ok(out))
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: not a VM "
		    "name", what, key);
	return 0;
}

static int
get_enum(const char *what, json_object *o, const char *key,
    const char *const *names, size_t n, int *out, struct vouch_err *e)
{
	char buf[32];
	size_t i;
	int r;

	if ((r = get_str(what, o, key, buf, sizeof(buf), e)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if (strcmp(buf, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	return vouch_err_set(e, VOUCH_E_FORMAT, "%s: %s: unknown value "
	    "'%s'", what, key, buf);
}

/* ---- order ---- */

static const char *const order_keys[] = {
	"id", "target", "guard", "mode", "strategy", "source", "dests", NULL
};

int
order_decode(const char *json, size_t len, struct mig_order *o,
    struct vouch_err *e)
{
	static const char what[] = "order";
	struct mig_order *t;
	json_object *obj = NULL, *d;
	int r, mode, strategy;
	size_t i, j, n;

	if (o == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "order: no output");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = parse_object(what, json, len, &obj, e)) < 0)
		goto out;
	if ((r = check_keys(what, obj, order_keys, e)) < 0 ||
	    (r = get_uint(what, obj, "id", 1, ORDER_INT_MAX, &t->id, e)) < 0 ||
	    (r = get_vm(what, obj, "target", t->target, e)) < 0 ||
	    (r = get_vm(what, obj, "guard", t->guard, e)) < 0 ||
	    (r = get_enum(what, obj, "mode", mode_names,
	    ARRAY_SIZE(mode_names), &mode, e)) < 0 ||
	    (r = get_enum(what, obj, "strategy", strategy_names,
	    ARRAY_SIZE(strategy_names), &strategy, e)) < 0 ||
	    (r = get_host(what, obj, "source", 0, t->source, e)) < 0 ||
	    (r = get(what, obj, "dests", json_type_array, "an array", &d,
	    e)) < 0)
		goto out;
	if (strcmp(t->target, t->guard) == 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "order: guard: the same "
		    "VM as the target");
		goto out;
	}
	t->mode = (enum comig_mode)mode;
	t->strategy = (enum comig_strategy)strategy;
	n = json_object_array_length(d);
	if (n < 1 || n > COMIG_MAX_DESTS) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "order: dests: %zu "
		    "entries, want 1..%d", n, COMIG_MAX_DESTS);
		goto out;
	}
	for (i = 0; i < n; i++) {
		char key[16];

		snprintf(key, sizeof(key), "dests[%zu]", i);
		if ((r = str_value(what, key, json_object_array_get_idx(d, i),
		    t->dests[i], ORDER_HOST_MAX, e)) < 0)
			goto out;
		if (!wire_host_name_ok(t->dests[i], strlen(t->dests[i]))) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "order: %s: not "
			    "a host name", key);
			goto out;
		}
		if (strcmp(t->dests[i], t->source) == 0) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "order: %s: the "
			    "source host", key);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (strcmp(t->dests[i], t->dests[j]) == 0) {
				r = vouch_err_set(e, VOUCH_E_FORMAT, "order: "
				    "%s: repeats dests[%zu]", key, j);
				goto out;
			}
	}
	t->ndests = n;
	*o = *t;
	r = 0;
out:
	json_object_put(obj);
	free(t);
	return r;
}

/* Serialise obj and check the result with check(); obj is consumed. */
static int
finish(json_object *obj, int ok, char **json,
    int (*check)(const char *, size_t, void *, struct vouch_err *),
    struct vouch_err *e)
{
	const char *s;
	char *dup;
	int r;

	if (!ok) {
		json_object_put(obj);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || (dup = strdup(s)) == NULL) {
		json_object_put(obj);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	json_object_put(obj);
	if ((r = check(dup, strlen(dup), NULL, e)) < 0) {
		free(dup);
		return r;
	}
	*json = dup;
	return 0;
}

/* add: 1 on success (json-c's own add returns 0 on success). */
static int
add(json_object *obj, const char *key, json_object *v)
{
	if (v == NULL)
		return 0;
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return 0;
	}
	return 1;
}

static int
order_check(const char *json, size_t len, void *unused, struct vouch_err *e)
{
	struct mig_order o;

	(void)unused;
	return order_decode(json, len, &o, e);
}

int
order_encode(const struct mig_order *o, char **json, struct vouch_err *e)
{
	json_object *obj, *d = NULL;
	size_t i;
	int ok;

	if (o == NULL || json == NULL || o->ndests > COMIG_MAX_DESTS ||
	    (unsigned)o->mode >= ARRAY_SIZE(mode_names) ||
	    (unsigned)o->strategy >= ARRAY_SIZE(strategy_names) ||
	    memchr(o->target, '\0', sizeof(o->target)) == NULL ||
	    memchr(o->guard, '\0', sizeof(o->guard)) == NULL ||
	    memchr(o->source, '\0', sizeof(o->source)) == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "order: invalid "
		    "order to encode");
	if ((obj = json_object_new_object()) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	ok = add(obj, "id", json_object_new_uint64(o->id)) &&
	    add(obj, "target", json_object_new_string(o->target)) &&
	    add(obj, "guard", json_object_new_string(o->guard)) &&
	    add(obj, "mode", json_object_new_string(mode_names[o->mode])) &&
	    add(obj, "strategy",
	    json_object_new_string(strategy_names[o->strategy])) &&
	    add(obj, "source", json_object_new_string(o->source)) &&
	    add(obj, "dests", d = json_object_new_array());
	for (i = 0; ok && i < o->ndests; i++) {
		json_object *v;

		if (memchr(o->dests[i], '\0', ORDER_HOST_MAX) == NULL ||
		    (v = json_object_new_string(o->dests[i])) == NULL) {
			ok = 0;
			break;
		}
		if (json_object_array_add(d, v) != 0) {
			json_object_put(v);
			ok = 0;
		}
	}
	return finish(obj, ok, json, order_check, e);
}

/* ---- report ---- */

static const char *const report_keys[] = {
	"id", "phase", "done", "host", "t_ms", "bytes", "total", "mbps",
	"final", "msg",
	/* final reports only: */
	"ok", "target_paused", "tries", "target_downtime_ms", "total_ms",
	"error", NULL
};
#define REPORT_NONFINAL_KEYS	10

int
report_decode(const char *json, size_t len, struct mig_report *r,
    struct vouch_err *e)
{
	static const char what[] = "report";
	struct mig_report *t;
	json_object *obj = NULL, *v;
	char phase[32];
	uint64_t u;
	int rc, p;
	size_t i;

	if (r == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "report: no output");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((rc = parse_object(what, json, len, &obj, e)) < 0)
		goto out;
	if ((rc = check_keys(what, obj, report_keys, e)) < 0 ||
	    (rc = get_uint(what, obj, "id", 1, ORDER_INT_MAX, &t->id, e)) < 0 ||
	    (rc = get_str(what, obj, "phase", phase, sizeof(phase), e)) < 0)
		goto out;
	if ((p = order_phase_from_name(phase)) < 0) {
		rc = vouch_err_set(e, VOUCH_E_FORMAT, "report: phase: unknown "
		    "value '%s'", phase);
		goto out;
	}
	t->phase = (enum comig_phase)p;
	if ((rc = get_bool(what, obj, "done", &t->done, e)) < 0 ||
	    (rc = get_host(what, obj, "host", 1, t->host, e)) < 0 ||
	    (rc = get_uint(what, obj, "t_ms", 0, ORDER_INT_MAX, &u, e)) < 0)
		goto out;
	t->t_ms = (int64_t)u;
	if ((rc = get_uint(what, obj, "bytes", 0, ORDER_INT_MAX, &t->bytes,
	    e)) < 0 ||
	    (rc = get_uint(what, obj, "total", 0, ORDER_INT_MAX, &t->total,
	    e)) < 0)
		goto out;
	if (!json_object_object_get_ex(obj, "mbps", &v)) {
		rc = vouch_err_set(e, VOUCH_E_FORMAT, "report: mbps: missing");
		goto out;
	}
	if (!json_object_is_type(v, json_type_double) &&
	    !json_object_is_type(v, json_type_int)) {
		rc = vouch_err_set(e, VOUCH_E_FORMAT, "report: mbps: not a "
		    "number");
		goto out;
	}
	t->mbps = json_object_get_double(v);
	if (!isfinite(t->mbps) || t->mbps < 0 || t->mbps > ORDER_MBPS_MAX) {
		rc = vouch_err_set(e, VOUCH_E_FORMAT, "report: mbps: out of "
		    "range 0..%g", ORDER_MBPS_MAX);
		goto out;
	}
	if ((rc = get_bool(what, obj, "final", &t->final, e)) < 0 ||
	    (rc = get_text(what, obj, "msg", t->msg, sizeof(t->msg), e)) < 0)
		goto out;
	if (!t->final) {
		for (i = REPORT_NONFINAL_KEYS; report_keys[i] != NULL; i++)
			if (json_object_object_get_ex(obj, report_keys[i],
			    NULL)) {
				rc = vouch_err_set(e, VOUCH_E_FORMAT, "report: "
				    "%s: only in a final report",
				    report_keys[i]);
				goto out;
			}
	} else {
		if ((rc = get_bool(what, obj, "ok", &t->ok, e)) < 0 ||
		    (rc = get_bool(what, obj, "target_paused",
		    &t->target_paused, e)) < 0 ||
		    (rc = get_uint(what, obj, "tries", 0, COMIG_MAX_DESTS, &u,
		    e)) < 0)
			goto out;
		t->tries = (int)u;
		if ((rc = get_uint(what, obj, "target_downtime_ms", 0,
		    ORDER_INT_MAX, &u, e)) < 0)
			goto out;
		t->target_downtime_ms = (int64_t)u;
		if ((rc = get_uint(what, obj, "total_ms", 0, ORDER_INT_MAX, &u,
		    e)) < 0)
			goto out;
		t->total_ms = (int64_t)u;
		if ((rc = get_text(what, obj, "error", t->error,
		    sizeof(t->error), e)) < 0)
			goto out;
		if (t->ok && t->target_paused) {
			rc = vouch_err_set(e, VOUCH_E_FORMAT, "report: "
			    "target_paused: true in a successful report");
			goto out;
		}
	}
	*r = *t;
	rc = 0;
out:
	json_object_put(obj);
	free(t);
	return rc;
}

static int
report_check(const char *json, size_t len, void *unused, struct vouch_err *e)
{
	struct mig_report r;

	(void)unused;
	return report_decode(json, len, &r, e);
}

int
report_encode(const struct mig_report *r, char **json, struct vouch_err *e)
{
	json_object *obj;
	int ok;

	if (r == NULL || json == NULL ||
	    (unsigned)r->phase > COMIG_PH_FAILED || r->t_ms < 0 ||
	    memchr(r->host, '\0', sizeof(r->host)) == NULL ||
	    memchr(r->msg, '\0', sizeof(r->msg)) == NULL ||
	    memchr(r->error, '\0', sizeof(r->error)) == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "report: invalid "
		    "report to encode");
	if ((obj = json_object_new_object()) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	ok = add(obj, "id", json_object_new_uint64(r->id)) &&
	    add(obj, "phase", json_object_new_string(
	    comig_phase_name(r->phase))) &&
	    add(obj, "done", json_object_new_boolean(r->done != 0)) &&
	    add(obj, "host", json_object_new_string(r->host)) &&
	    add(obj, "t_ms", json_object_new_int64(r->t_ms)) &&
	    add(obj, "bytes", json_object_new_uint64(r->bytes)) &&
	    add(obj, "total", json_object_new_uint64(r->total)) &&
	    add(obj, "mbps", json_object_new_double(
	    isfinite(r->mbps) ? r->mbps : -1)) &&
	    add(obj, "final", json_object_new_boolean(r->final != 0)) &&
	    add(obj, "msg", json_object_new_string(r->msg));
	if (ok && r->final)
		ok = add(obj, "ok", json_object_new_boolean(r->ok != 0)) &&
		    add(obj, "target_paused",
		    json_object_new_boolean(r->target_paused != 0)) &&
		    add(obj, "tries", json_object_new_int(r->tries)) &&
		    add(obj, "target_downtime_ms",
		    json_object_new_int64(r->target_downtime_ms)) &&
		    add(obj, "total_ms", json_object_new_int64(r->total_ms)) &&
		    add(obj, "error", json_object_new_string(r->error));
	return finish(obj, ok, json, report_check, e);
}
