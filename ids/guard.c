/*
 * guard.c - one guard: open a target, keep its baseline and state, run
 * its checks, repair hooked system-call entries (see guard.h).
 *
 * The state file is hostile input like any other file: it is parsed with
 * a depth-limited json-c tokener, every member is type-checked, unknown
 * members are refused, and every count is checked against the ranges it
 * describes before memory is allocated for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "common/json.h"
#include "common/util.h"
#include "ids/guard.h"

#define STATE_VERSION		1
#define STATE_MAX_DEPTH		16
/* Lowest kernel-half address (48-bit paging; 57-bit is lower still). */
#define KERNEL_HALF		0xff00000000000000ull
/* A symbol+offset further than this from its symbol is not named. */
#define SYM_MAX_OFF		(1u << 20)

/* RFC 3339 UTC with milliseconds: 2026-11-23T10:04:05.123Z */
static void
fmt_time(int64_t ms, char *buf, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, cap, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int
digits(const char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Strict: YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z (what fmt_time writes, and more). */
static int
parse_time(const char *s, int64_t *ms)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, frac = 0, fd = 0;
	size_t n = strlen(s), i;
	time_t t;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' &&
	    s[10] != 't') || s[13] != ':' || s[16] != ':' ||
	    digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 ||
	    digits(s + 8, 2, &d) < 0 || digits(s + 11, 2, &h) < 0 ||
	    digits(s + 14, 2, &mi) < 0 || digits(s + 17, 2, &sec) < 0)
		return -1;
	i = 19;
	if (s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fd++)
			if (fd < 3)
				frac = frac * 10 + (s[i] - '0');
		if (fd == 0 || fd > 9)
			return -1;
		for (; fd < 3; fd++)
			frac *= 10;
	}
	if (i + 1 != n || (s[i] != 'Z' && s[i] != 'z'))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

static json_object *
jhex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_object_new_string(buf);
}

/* "0x" and 1..16 hex digits, either case. */
static int
parse_hex64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i, n = strlen(s);

	if (n < 3 || n > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -1;
	for (i = 2; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		v = (v << 4) | d;
	}
	*out = v;
	return 0;
}

/* ---- findings as JSON ------------------------------------------------ */

static int
names_code(enum vmi_finding_type t)
{
	return t == VMI_F_SYSCALL_HOOK || t == VMI_F_SYSCALL_OUTSIDE_TEXT ||
	    t == VMI_F_IDT_HOOK || t == VMI_F_IDT_OUTSIDE_TEXT ||
	    t == VMI_F_REPAIRED;
}

static json_object *
jsym(const struct guard *g, uint64_t addr)
{
	const char *name;
	uint64_t off = 0;
	char buf[KSYM_NAME_MAX + 24];

	if (addr == 0 || g->lx == NULL || g->lx->syms.n == 0 ||
	    (name = ksym_name_at(&g->lx->syms, addr, &off)) == NULL ||
	    off >= SYM_MAX_OFF)
		return NULL;
	if (off == 0)
		snprintf(buf, sizeof(buf), "%s", name);
	else
		snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, name, off);
	return json_object_new_string(buf);
}

/* Is check exactly one known bit with a name? */
static const char *
check_name(unsigned check)
{
	if (check == 0 || (check & (check - 1)) != 0 ||
	    (check & ~(unsigned)VMI_CHECK_ALL) != 0)
		return NULL;
	return vmi_check_name(check);
}

static json_object *
finding_obj(const struct guard *g, const struct vmi_finding *x)
{
	json_object *o = json_object_new_object();
	const char *cn = check_name(x->check);
	const char *tn = vmi_finding_type_name(x->type);
	char t[40], detail[sizeof(x->detail)];

	fmt_time(g->last_run_ms > 0 ? g->last_run_ms : wall_ms(), t, sizeof(t));
	/* detail is a fixed array: never read past it even if unterminated */
	snprintf(detail, sizeof(detail), "%.*s", (int)sizeof(x->detail) - 1,
	    x->detail);
	json_object_object_add(o, "time", json_object_new_string(t));
	json_object_object_add(o, "target", json_object_new_string(
	    g->conf.target));
	json_object_object_add(o, "check", cn != NULL ?
	    json_object_new_string(cn) : NULL);
	json_object_object_add(o, "type", json_object_new_string(
	    tn != NULL ? tn : "unknown"));
	json_object_object_add(o, "critical", json_object_new_boolean(
	    x->critical != 0));
	json_object_object_add(o, "index", json_object_new_int64(x->index));
	json_object_object_add(o, "pid", json_object_new_int(x->pid));
	json_object_object_add(o, "addr", jhex(x->addr));
	json_object_object_add(o, "expected", jhex(x->expected));
	json_object_object_add(o, "actual", jhex(x->actual));
	if (names_code(x->type)) {
		json_object_object_add(o, "expected_sym", jsym(g, x->expected));
		json_object_object_add(o, "actual_sym", jsym(g, x->actual));
	}
	json_object_object_add(o, "detail", json_object_new_string(detail));
	return o;
}

void
guard_finding_json(const struct guard *g, const struct vmi_finding *x,
    FILE *out)
{
	json_object *o;

	if (g == NULL || x == NULL || out == NULL)
		return;
	o = finding_obj(g, x);
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), out);
	json_object_put(o);
}

/* ---- state: save ----------------------------------------------------- */

static json_object *
range_obj(uint64_t start, uint64_t end, const uint8_t (*hash)[VMI_HASH_LEN],
    size_t pages)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	char hex[2 * VMI_HASH_LEN + 1];
	size_t i;

	json_object_object_add(o, "start", jhex(start));
	json_object_object_add(o, "end", jhex(end));
	for (i = 0; i < pages; i++) {
		hex_encode(hash[i], VMI_HASH_LEN, hex);
		json_object_array_add(a, json_object_new_string(hex));
	}
	json_object_object_add(o, "pages", a);
	return o;
}

/* The state directory, created 0700 on first use. */
static int
make_parent(const char *path, struct vouch_err *e)
{
	const char *slash = strrchr(path, '/');
	char dir[sizeof(((struct guard_conf *)0)->state) + 64];
	struct stat st;

	if (slash == NULL || slash == path)
		return 0;
	if ((size_t)(slash - path) >= sizeof(dir))
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: path too long", path);
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) == 0)
		return 0;
	return dir_create(dir, 0700, e);
}

int
guard_state_save(const struct guard *g, const char *path, struct vouch_err *e)
{
	const struct vmi_baseline *b;
	json_object *root, *base, *a;
	const char *text;
	char t[40];
	size_t i;
	int r;

	if (g == NULL || path == NULL || path[0] == '\0')
		return vouch_err_set(e, VOUCH_E_INVAL, "guard_state_save: no "
		    "guard or path");
	if (!g->have_base)
		return vouch_err_set(e, VOUCH_E_STATE, "%s: no baseline to save",
		    g->conf.target);
	b = &g->base;
	if (b->nr_syscalls > VMI_MAX_SYSCALLS)
		return vouch_err_set(e, VOUCH_E_INTERNAL, "baseline: %" PRIu32
		    " syscalls", b->nr_syscalls);
	root = json_object_new_object();
	json_object_object_add(root, "version", json_object_new_int(
	    STATE_VERSION));
	json_object_object_add(root, "target", json_object_new_string(
	    g->conf.target));
	json_object_object_add(root, "release", json_object_new_string(
	    b->release));
	fmt_time(g->paired_at_ms, t, sizeof(t));
	json_object_object_add(root, "paired_at", json_object_new_string(t));
	json_object_object_add(root, "slide", jhex(b->slide));

	base = json_object_new_object();
	a = json_object_new_array();
	for (i = 0; i < b->nr_syscalls; i++)
		json_object_array_add(a, jhex(b->syscalls[i]));
	json_object_object_add(base, "syscalls", a);
	a = json_object_new_array();
	for (i = 0; i < VMI_IDT_ENTRIES; i++)
		json_object_array_add(a, jhex(b->idt[i]));
	json_object_object_add(base, "idt", a);
	json_object_object_add(base, "text", range_obj(b->text_start,
	    b->text_end, (const uint8_t (*)[VMI_HASH_LEN])b->text_hash,
	    b->text_pages));
	json_object_object_add(base, "rodata", range_obj(b->rodata_start,
	    b->rodata_end, (const uint8_t (*)[VMI_HASH_LEN])b->rodata_hash,
	    b->rodata_pages));
	json_object_object_add(root, "baseline", base);

	json_object_object_add(root, "runs", json_object_new_int64(
	    g->runs > INT64_MAX ? INT64_MAX : (int64_t)g->runs));
	if (g->last_run_ms > 0) {
		fmt_time(g->last_run_ms, t, sizeof(t));
		json_object_object_add(root, "last_run",
		    json_object_new_string(t));
	} else
		json_object_object_add(root, "last_run", NULL);
	a = json_object_new_array();
	for (i = 0; i < g->last.n && i < GUARD_STATE_MAX_FINDINGS; i++)
		json_object_array_add(a, finding_obj(g, &g->last.v[i]));
	json_object_object_add(root, "last_findings", a);

	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL)
		r = vouch_err_set(e, VOUCH_E_NOMEM, "cannot serialise the state");
	else if ((r = make_parent(path, e)) < 0 ||
	    (r = file_write_atomic(path, text, strlen(text), 0600, e)) < 0)
		vouch_err_prefix(e, "state of %s", g->conf.target);
	json_object_put(root);
	return r;
}

/* ---- state: load (hostile input) ------------------------------------- */

struct sload {
	const char	*path;
	struct vouch_err *e;
};

static int
bad(struct sload *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(struct sload *s, const char *field, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vouch_err_set(s->e, VOUCH_E_FORMAT, "%s: state field %s: %s",
	    s->path, field, msg);
}

/* Member key of o, of type t; missing: error if required, else *out NULL. */
static int
member(struct sload *s, json_object *o, const char *field, const char *key,
    json_type t, int required, json_object **out)
{
	char f[128];
	json_object *m = NULL;

	snprintf(f, sizeof(f), "%s%s%s", field, field[0] ? "." : "", key);
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &m)) {
		if (required)
			return bad(s, f, "missing");
		return 0;
	}
	if (!json_object_is_type(m, t))
		return bad(s, f, "expected %s, not %s", json_type_label(t),
		    json_type_label(json_object_get_type(m)));
	*out = m;
	return 0;
}

static int
only_keys(struct sload *s, json_object *o, const char *field,
    const char *const *allowed)
{
	json_object_object_foreach(o, key, val) {
		const char *const *a;
		(void)val;
		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (*a == NULL) {
			char f[160];

			snprintf(f, sizeof(f), "%s%s%.64s", field,
			    field[0] ? "." : "", key);
			return bad(s, f, "unknown member");
		}
	}
	return 0;
}

/* A JSON string without embedded NUL, of at most max bytes. */
static int
str_ok(json_object *o, size_t max)
{
	const char *v = json_object_get_string(o);
	size_t n = (size_t)json_object_get_string_len(o);

	return v != NULL && strlen(v) == n && n <= max;
}

static int
get_hex(struct sload *s, json_object *o, const char *field, const char *key,
    uint64_t *out)
{
	json_object *m;
	char f[128];
	int r;

	if ((r = member(s, o, field, key, json_type_string, 1, &m)) < 0)
		return r;
	snprintf(f, sizeof(f), "%s%s%s", field, field[0] ? "." : "", key);
	if (!str_ok(m, 18) || parse_hex64(json_object_get_string(m), out) < 0)
		return bad(s, f, "expected \"0x\" and 1 to 16 hex digits");
	return 0;
}

static int
get_time(struct sload *s, json_object *o, const char *key, int nullable,
    int64_t *out)
{
	json_object *m = NULL;

	if (!json_object_object_get_ex(o, key, &m))
		return bad(s, key, "missing");
	if (m == NULL && nullable) {
		*out = 0;
		return 0;
	}
	if (!json_object_is_type(m, json_type_string) || !str_ok(m, 40) ||
	    parse_time(json_object_get_string(m), out) < 0)
		return bad(s, key, "expected an RFC 3339 UTC time "
		    "(YYYY-MM-DDTHH:MM:SS[.fff]Z)%s", nullable ? " or null" : "");
	return 0;
}

static int
hex_array(struct sload *s, json_object *o, const char *field, size_t min,
    size_t max, uint64_t *out, size_t *n)
{
	size_t i, len = json_object_array_length(o);
	char f[96];

	if (len < min || len > max)
		return min == max ? bad(s, field, "%zu entries, expected %zu",
		    len, min) : bad(s, field, "%zu entries, expected %zu to %zu",
		    len, min, max);
	for (i = 0; i < len; i++) {
		json_object *el = json_object_array_get_idx(o, i);

		snprintf(f, sizeof(f), "%s[%zu]", field, i);
		if (!json_object_is_type(el, json_type_string) ||
		    !str_ok(el, 18) ||
		    parse_hex64(json_object_get_string(el), &out[i]) < 0)
			return bad(s, f, "expected \"0x\" and 1 to 16 hex digits");
	}
	*n = len;
	return 0;
}

static int
load_range(struct sload *s, json_object *base, const char *key,
    uint64_t *start, uint64_t *end, uint8_t (**hash)[VMI_HASH_LEN],
    size_t *pages)
{
	static const char *const keys[] = { "start", "end", "pages", NULL };
	char field[32], f[64];
	json_object *o, *a;
	uint64_t st, en, want;
	size_t i, len;
	uint8_t (*h)[VMI_HASH_LEN];
	int r;

	snprintf(field, sizeof(field), "baseline.%s", key);
	if ((r = member(s, base, "baseline", key, json_type_object, 1, &o)) < 0 ||
	    (r = only_keys(s, o, field, keys)) < 0 ||
	    (r = get_hex(s, o, field, "start", &st)) < 0 ||
	    (r = get_hex(s, o, field, "end", &en)) < 0 ||
	    (r = member(s, o, field, "pages", json_type_array, 1, &a)) < 0)
		return r;
	snprintf(f, sizeof(f), "%s.start", field);
	if (st < KERNEL_HALF)
		return bad(s, f, "0x%" PRIx64 " is not a kernel address", st);
	snprintf(f, sizeof(f), "%s.end", field);
	if (en <= st)
		return bad(s, f, "0x%" PRIx64 " is not above start 0x%" PRIx64,
		    en, st);
	if (en - st > (uint64_t)GUARD_STATE_MAX_PAGES * VMI_PAGE_SIZE)
		return bad(s, f, "range of %" PRIu64 " bytes exceeds %u pages",
		    en - st, GUARD_STATE_MAX_PAGES);
	want = (en - st + VMI_PAGE_SIZE - 1) / VMI_PAGE_SIZE;
	snprintf(f, sizeof(f), "%s.pages", field);
	len = json_object_array_length(a);
	if (len != want)
		return bad(s, f, "%zu page hashes for a range of %" PRIu64
		    " pages", len, want);
	if ((h = calloc(len, sizeof(*h))) == NULL)
		return vouch_err_set(s->e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; i < len; i++) {
		json_object *el = json_object_array_get_idx(a, i);
		size_t got = 0;

		if (!json_object_is_type(el, json_type_string) ||
		    !str_ok(el, 2 * VMI_HASH_LEN) ||
		    json_object_get_string_len(el) != 2 * VMI_HASH_LEN ||
		    hex_decode(json_object_get_string(el), h[i], VMI_HASH_LEN,
		    &got, NULL) < 0 || got != VMI_HASH_LEN) {
			snprintf(f, sizeof(f), "%s.pages[%zu]", field, i);
			free(h);
			return bad(s, f, "expected %d hex digits (SHA-256)",
			    2 * VMI_HASH_LEN);
		}
	}
	*start = st;
	*end = en;
	*hash = h;
	*pages = len;
	return 0;
}

static int
finding_type_from_name(const char *name, enum vmi_finding_type *t)
{
	int i;

	for (i = VMI_F_HIDDEN_PROCESS; i <= VMI_F_REPAIRED; i++) {
		const char *n = vmi_finding_type_name((enum vmi_finding_type)i);

		if (n != NULL && strcmp(n, name) == 0) {
			*t = (enum vmi_finding_type)i;
			return 0;
		}
	}
	return -1;
}

static int
load_finding(struct sload *s, json_object *o, size_t idx,
    struct vmi_finding *x)
{
	static const char *const keys[] = { "time", "target", "check", "type",
	    "critical", "index", "pid", "addr", "expected", "actual",
	    "expected_sym", "actual_sym", "detail", NULL };
	char field[48], f[80];
	json_object *m;
	int64_t i64;
	int r;

	snprintf(field, sizeof(field), "last_findings[%zu]", idx);
	memset(x, 0, sizeof(*x));
	if (!json_object_is_type(o, json_type_object))
		return bad(s, field, "expected an object");
	if ((r = only_keys(s, o, field, keys)) < 0)
		return r;
	/* check: a name, or null for a finding of no single check */
	snprintf(f, sizeof(f), "%s.check", field);
	if (!json_object_object_get_ex(o, "check", &m))
		return bad(s, f, "missing");
	if (m != NULL) {
		if (!json_object_is_type(m, json_type_string) || !str_ok(m, 32) ||
		    (x->check = vmi_check_from_name(json_object_get_string(m)))
		    == 0)
			return bad(s, f, "not a check name");
	}
	snprintf(f, sizeof(f), "%s.type", field);
	if ((r = member(s, o, field, "type", json_type_string, 1, &m)) < 0)
		return r;
	if (!str_ok(m, 32) || finding_type_from_name(json_object_get_string(m),
	    &x->type) < 0)
		return bad(s, f, "not a finding type");
	if ((r = member(s, o, field, "critical", json_type_boolean, 1, &m)) < 0)
		return r;
	x->critical = json_object_get_boolean(m) ? 1 : 0;
	if ((r = member(s, o, field, "index", json_type_int, 1, &m)) < 0)
		return r;
	x->index = json_object_get_int64(m);
	if ((r = member(s, o, field, "pid", json_type_int, 1, &m)) < 0)
		return r;
	i64 = json_object_get_int64(m);
	if (i64 < -1 || i64 > INT32_MAX) {
		snprintf(f, sizeof(f), "%s.pid", field);
		return bad(s, f, "%" PRId64 " is out of range -1..%d", i64,
		    INT32_MAX);
	}
	x->pid = (int32_t)i64;
	if ((r = get_hex(s, o, field, "addr", &x->addr)) < 0 ||
	    (r = get_hex(s, o, field, "expected", &x->expected)) < 0 ||
	    (r = get_hex(s, o, field, "actual", &x->actual)) < 0)
		return r;
	if ((r = member(s, o, field, "detail", json_type_string, 1, &m)) < 0)
		return r;
	if (!str_ok(m, sizeof(x->detail) - 1)) {
		snprintf(f, sizeof(f), "%s.detail", field);
		return bad(s, f, "longer than %zu bytes or holds a NUL",
		    sizeof(x->detail) - 1);
	}
	memcpy(x->detail, json_object_get_string(m),
	    (size_t)json_object_get_string_len(m) + 1);
	/* informational members: type-checked, not kept */
	if ((r = member(s, o, field, "time", json_type_string, 0, &m)) < 0 ||
	    (r = member(s, o, field, "target", json_type_string, 0, &m)) < 0)
		return r;
	if (json_object_object_get_ex(o, "expected_sym", &m) && m != NULL &&
	    !json_object_is_type(m, json_type_string)) {
		snprintf(f, sizeof(f), "%s.expected_sym", field);
		return bad(s, f, "expected a string or null");
	}
	if (json_object_object_get_ex(o, "actual_sym", &m) && m != NULL &&
	    !json_object_is_type(m, json_type_string)) {
		snprintf(f, sizeof(f), "%s.actual_sym", field);
		return bad(s, f, "expected a string or null");
	}
	return 0;
}

static void
range_free(struct vmi_baseline *b)
{
	free(b->text_hash);
	free(b->rodata_hash);
	b->text_hash = NULL;
	b->rodata_hash = NULL;
}

static int
printable(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v >= 0x7f)
			return 0;
	return 1;
}

static int
parse_state(struct sload *s, json_object *root, const char *want_target,
    struct vmi_baseline *b, uint64_t *runs, int64_t *paired, int64_t *last,
    struct vmi_findings *f)
{
	static const char *const keys[] = { "version", "target", "release",
	    "paired_at", "slide", "baseline", "runs", "last_run",
	    "last_findings", NULL };
	static const char *const bkeys[] = { "syscalls", "idt", "text",
	    "rodata", NULL };
	json_object *m, *base;
	size_t i, n;
	int64_t v;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return bad(s, "(top level)", "expected an object");
	if ((r = only_keys(s, root, "", keys)) < 0 ||
	    (r = member(s, root, "", "version", json_type_int, 1, &m)) < 0)
		return r;
	if (json_object_get_int64(m) != STATE_VERSION)
		return bad(s, "version", "%" PRId64 " is not supported (only %d)",
		    json_object_get_int64(m), STATE_VERSION);
	if ((r = member(s, root, "", "target", json_type_string, 1, &m)) < 0)
		return r;
	if (!str_ok(m, 63) || json_object_get_string_len(m) == 0 ||
	    !printable(json_object_get_string(m)))
		return bad(s, "target", "expected a target name of 1 to 63 "
		    "printable bytes");
	if (want_target != NULL && want_target[0] != '\0' &&
	    strcmp(want_target, json_object_get_string(m)) != 0)
		return vouch_err_set(s->e, VOUCH_E_STATE, "%s: state field "
		    "target: the state belongs to '%.63s', not '%s'", s->path,
		    json_object_get_string(m), want_target);
	if ((r = member(s, root, "", "release", json_type_string, 1, &m)) < 0)
		return r;
	if (!str_ok(m, sizeof(b->release) - 1) ||
	    json_object_get_string_len(m) == 0 ||
	    !printable(json_object_get_string(m)))
		return bad(s, "release", "expected 1 to %zu printable bytes",
		    sizeof(b->release) - 1);
	memcpy(b->release, json_object_get_string(m),
	    (size_t)json_object_get_string_len(m) + 1);
	if ((r = get_time(s, root, "paired_at", 0, paired)) < 0 ||
	    (r = get_hex(s, root, "", "slide", &b->slide)) < 0)
		return r;

	if ((r = member(s, root, "", "baseline", json_type_object, 1,
	    &base)) < 0 ||
	    (r = only_keys(s, base, "baseline", bkeys)) < 0 ||
	    (r = member(s, base, "baseline", "syscalls", json_type_array, 1,
	    &m)) < 0 ||
	    (r = hex_array(s, m, "baseline.syscalls", 1, VMI_MAX_SYSCALLS,
	    b->syscalls, &n)) < 0)
		return r;
	b->nr_syscalls = (uint32_t)n;
	if ((r = member(s, base, "baseline", "idt", json_type_array, 1, &m)) < 0 ||
	    (r = hex_array(s, m, "baseline.idt", VMI_IDT_ENTRIES,
	    VMI_IDT_ENTRIES, b->idt, &n)) < 0 ||
	    (r = load_range(s, base, "text", &b->text_start, &b->text_end,
	    &b->text_hash, &b->text_pages)) < 0 ||
	    (r = load_range(s, base, "rodata", &b->rodata_start,
	    &b->rodata_end, &b->rodata_hash, &b->rodata_pages)) < 0)
		return r;

	if ((r = member(s, root, "", "runs", json_type_int, 1, &m)) < 0)
		return r;
	if ((v = json_object_get_int64(m)) < 0)
		return bad(s, "runs", "%" PRId64 " is negative", v);
	*runs = (uint64_t)v;
	if ((r = get_time(s, root, "last_run", 1, last)) < 0 ||
	    (r = member(s, root, "", "last_findings", json_type_array, 1,
	    &m)) < 0)
		return r;
	if ((n = json_object_array_length(m)) > GUARD_STATE_MAX_FINDINGS)
		return bad(s, "last_findings", "%zu findings, at most %u", n,
		    GUARD_STATE_MAX_FINDINGS);
	for (i = 0; i < n; i++) {
		struct vmi_finding x;

		if ((r = load_finding(s, json_object_array_get_idx(m, i), i,
		    &x)) < 0)
			return r;
		if ((r = vmi_findings_add(f, &x)) < 0)
			return vouch_err_set(s->e, r, "out of memory");
	}
	return 0;
}

int
guard_state_load(struct guard *g, const char *path, struct vouch_err *e)
{
	struct sload s = { path, e };
	struct json_tokener *tok;
	json_object *root = NULL;
	struct vmi_baseline *b;
	struct vmi_findings f = { NULL, 0, 0 };
	uint64_t runs = 0;
	int64_t paired = 0, last = 0;
	uint8_t *buf = NULL;
	size_t len, end;
	int r;

	if (g == NULL || path == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "guard_state_load: NULL "
		    "argument");
	/* struct vmi_baseline is ~10 KiB: not on the stack */
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = file_read(path, GUARD_STATE_MAX_BYTES, &buf, &len, e)) < 0)
		goto out;
	if (strlen((const char *)buf) != len) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s: state holds a NUL byte",
		    path);
		goto out;
	}
	if (len > INT32_MAX || (tok = json_tokener_new_ex(STATE_MAX_DEPTH)) ==
	    NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "%s: cannot parse", path);
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s: not JSON: %s at byte "
		    "%zu", path, json_tokener_error_desc(
		    json_tokener_get_error(tok)), json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		goto out;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; end < len; end++)
		if (buf[end] != ' ' && buf[end] != '\n' && buf[end] != '\t' &&
		    buf[end] != '\r') {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "%s: data after the "
			    "JSON object at byte %zu", path, end);
			goto out;
		}
	if ((r = parse_state(&s, root, g->conf.target, b, &runs, &paired, &last,
	    &f)) < 0)
		goto out;
	/* commit */
	vmi_baseline_free(&g->base);
	g->base = *b;
	memset(b, 0, sizeof(*b));
	g->have_base = 1;
	vmi_findings_free(&g->last);
	g->last = f;
	memset(&f, 0, sizeof(f));
	g->runs = runs;
	g->paired_at_ms = paired;
	g->last_run_ms = last;
	r = 0;
out:
	range_free(b);
	free(b);
	vmi_findings_free(&f);
	json_object_put(root);
	free(buf);
	return r;
}

/* ---- lifecycle ------------------------------------------------------- */

int
guard_open(const struct guard_conf *conf, struct guard **out,
    struct vmi_findings *f, struct vouch_err *e)
{
	struct vmi_findings local = { NULL, 0, 0 };
	struct vmi_linux_opts o;
	struct guard *g;
	struct stat st;
	int r;

	if (conf == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "guard_open: NULL argument");
	if (conf->checks == 0 || (conf->checks & ~(unsigned)VMI_CHECK_ALL) != 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "%s: bad check mask 0x%x",
		    conf->target, conf->checks);
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	g->conf = *conf;
	/* Read-only unless repairs are on: a bug cannot write the guest. */
	if ((r = vmi_mem_open(conf->memory, conf->repair ? VMI_MEM_WRITE : 0,
	    &g->mem, e)) < 0)
		goto fail;
	o.vmlinux = conf->vmlinux[0] != '\0' ? conf->vmlinux : NULL;
	o.system_map = conf->system_map[0] != '\0' ? conf->system_map : NULL;
	if ((r = vmi_linux_open(g->mem, &o, &g->lx, e)) < 0)
		goto fail;

	if (conf->state[0] != '\0' && stat(conf->state, &st) == 0) {
		if ((r = guard_state_load(g, conf->state, e)) < 0)
			goto fail;
		if (strcmp(g->base.release, g->lx->release) != 0) {
			r = vouch_err_set(e, VOUCH_E_STATE, "%s: baseline of "
			    "kernel %s, but the guest runs %s (remove the state "
			    "to pair again)", conf->state, g->base.release,
			    g->lx->release);
			goto fail;
		}
		if (g->base.slide != g->lx->slide) {
			/* A reboot since pairing: nothing vouches for it. */
			r = vouch_err_set(e, VOUCH_E_STATE, "%s: baseline taken "
			    "with KASLR slide 0x%" PRIx64 ", the guest runs with "
			    "0x%" PRIx64 ": it rebooted since pairing (remove the "
			    "state to pair again)", conf->state, g->base.slide,
			    g->lx->slide);
			goto fail;
		}
		if (g->base.nr_syscalls != g->lx->nr_syscalls) {
			r = vouch_err_set(e, VOUCH_E_STATE, "%s: baseline of %"
			    PRIu32 " system calls, the guest has %" PRIu32,
			    conf->state, g->base.nr_syscalls, g->lx->nr_syscalls);
			goto fail;
		}
		if ((r = vmi_baseline_verify(g->lx, &g->base, f != NULL ? f :
		    &local, e)) < 0)
			goto fail;
		/* the verification is the latest check: its findings' time */
		g->last_run_ms = wall_ms();
	} else if (conf->state[0] != '\0' && errno != ENOENT) {
		r = vouch_err_set(e, VOUCH_E_IO, "%s: %s", conf->state,
		    strerror(errno));
		goto fail;
	} else {
		if ((r = vmi_baseline_take(g->lx, &g->base, e)) < 0)
			goto fail;
		g->have_base = 1;
		if (g->base.release[0] == '\0')
			memcpy(g->base.release, g->lx->release,
			    sizeof(g->base.release));
		g->paired_at_ms = wall_ms();
		if (conf->state[0] != '\0' &&
		    (r = guard_state_save(g, conf->state, e)) < 0)
			goto fail;
	}
	vmi_findings_free(&local);
	*out = g;
	return 0;
fail:
	vouch_err_prefix(e, "guard %s", conf->target);
	vmi_findings_free(&local);
	guard_close(g);
	return r;
}

void
guard_close(struct guard *g)
{
	if (g == NULL)
		return;
	vmi_baseline_free(&g->base);
	vmi_findings_free(&g->last);
	vmi_linux_close(g->lx);
	vmi_mem_close(g->mem);
	free(g);
}

void
guard_detach(struct guard *g)
{
	if (g == NULL || g->detached)
		return;
	vmi_mem_close(g->mem);
	g->mem = NULL;
	g->detached = 1;
}

int
guard_reattach(struct guard *g, struct vmi_findings *f, struct vouch_err *e)
{
	struct vouch_err re = VOUCH_ERR_INIT;
	struct vmi_run_stats st;
	int r;

	if (g == NULL || f == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "guard_reattach: NULL");
	if (!g->detached)
		guard_detach(g);
	if ((r = vmi_mem_open(g->conf.memory, g->conf.repair ? VMI_MEM_WRITE :
	    0, &g->mem, e)) < 0)
		return vouch_err_prefix(e, "guard %s", g->conf.target);
	if (vmi_linux_rebind(g->lx, g->mem, &re) < 0) {
		struct vmi_linux_opts o;
		struct vmi_linux *lx;

		o.vmlinux = g->conf.vmlinux[0] != '\0' ? g->conf.vmlinux : NULL;
		o.system_map = g->conf.system_map[0] != '\0' ?
		    g->conf.system_map : NULL;
		if ((r = vmi_linux_open(g->mem, &o, &lx, e)) < 0)
			goto fail;
		if (strcmp(lx->release, g->base.release) != 0 ||
		    lx->slide != g->base.slide) {
			vmi_linux_close(lx);
			r = vouch_err_set(e, VOUCH_E_STATE, "not the paired "
			    "kernel any more (%s)", re.msg);
			goto fail;
		}
		vmi_linux_close(g->lx);
		g->lx = lx;
	}
	g->detached = 0;
	if (g->base.text_copy != NULL && g->base.rodata_copy != NULL)
		r = vmi_run_checks(g->lx, &g->base, VMI_CHECK_SYSCALLS |
		    VMI_CHECK_IDT | VMI_CHECK_TEXT, f, &st, e);
	else
		r = vmi_baseline_verify(g->lx, &g->base, f, e);
	if (r < 0)
		goto fail;
	g->last_run_ms = wall_ms();
	return 0;
fail:
	vmi_mem_close(g->mem);
	g->mem = NULL;
	g->detached = 1;
	return vouch_err_prefix(e, "guard %s", g->conf.target);
}

/* ---- runs and repairs ------------------------------------------------ */

/*
 * Write the baseline entry back into sys_call_table[idx] and read it back.
 * The entry is one aligned 8-byte word, written with one copy.
 */
static int
repair_syscall(struct guard *g, uint32_t idx, struct vouch_err *e)
{
	struct vmi_linux *lx = g->lx;
	struct vmi_finding x;
	uint64_t want = g->base.syscalls[idx], before = 0, after = 0;
	uint64_t slot = lx->sys_call_table + 8ull * idx;
	uint8_t w[8];
	int r;

	memset(&x, 0, sizeof(x));
	x.check = VMI_CHECK_SYSCALLS;
	x.index = idx;
	x.pid = -1;
	x.addr = slot;
	x.expected = want;
	if (!vmi_linux_in_text(lx, want)) {
		/* Never write a value that is not itself kernel text. */
		r = vouch_err_set(e, VOUCH_E_STATE, "baseline entry 0x%" PRIx64
		    " is outside kernel text", want);
		goto failed;
	}
	if ((r = vmem_read_u64(&lx->vm, slot, &before, e)) < 0)
		goto failed;
	x.actual = before;
	if (before == want)
		return 0;	/* put back meanwhile: nothing to do */
	vmi_put_le64(want, w);
	if ((r = vmem_write(&lx->vm, slot, w, sizeof(w), e)) < 0 ||
	    (r = vmem_read_u64(&lx->vm, slot, &after, e)) < 0)
		goto failed;
	if (after != want) {
		r = vouch_err_set(e, VOUCH_E_IO, "read back 0x%" PRIx64, after);
		goto failed;
	}
	x.type = VMI_F_REPAIRED;
	x.critical = 0;
	snprintf(x.detail, sizeof(x.detail), "sys_call_table[%" PRIu32 "] "
	    "restored to 0x%" PRIx64 " (was 0x%" PRIx64 ")", idx, want, before);
	return vmi_findings_add(&g->last, &x);
failed:
	/* A repair that did not happen is a finding, not a failed run. */
	x.type = VMI_F_UNREADABLE;
	x.critical = 1;
	snprintf(x.detail, sizeof(x.detail), "repair of sys_call_table[%"
	    PRIu32 "] failed: %s", idx, e != NULL ? e->msg : vouch_strerror(r));
	return vmi_findings_add(&g->last, &x);
}

int
guard_run(struct guard *g, struct vouch_err *e)
{
	struct vouch_err re = VOUCH_ERR_INIT;
	size_t i, n;
	int r;

	if (g == NULL || g->lx == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "guard_run: guard not open");
	if (g->detached)
		return vouch_err_set(e, VOUCH_E_STATE, "guard %s is detached",
		    g->conf.target);
	vmi_findings_reset(&g->last);
	memset(&g->last_stats, 0, sizeof(g->last_stats));
	/* The guest may have changed its page tables since the last run. */
	vmem_flush(&g->lx->vm);
	if ((r = vmi_run_checks(g->lx, g->have_base ? &g->base : NULL,
	    g->conf.checks, &g->last, &g->last_stats, e)) < 0)
		return vouch_err_prefix(e, "guard %s", g->conf.target);
	g->runs++;
	g->last_run_ms = wall_ms();
	if (!g->conf.repair || !g->have_base ||
	    !(g->mem->flags & VMI_MEM_WRITE))
		return 0;
	n = g->last.n;		/* only this run's hooks, not the repairs */
	for (i = 0; i < n; i++) {
		const struct vmi_finding *x = &g->last.v[i];
		uint32_t idx;

		if (x->type != VMI_F_SYSCALL_HOOK || x->index < 0 ||
		    x->index >= (int64_t)g->base.nr_syscalls ||
		    x->index >= (int64_t)g->lx->nr_syscalls)
			continue;
		idx = (uint32_t)x->index;
		re.msg[0] = '\0';
		/* x may move when the array grows: nothing of it used after */
		if ((r = repair_syscall(g, idx, &re)) < 0)
			return vouch_err_set(e, r, "guard %s: out of memory",
			    g->conf.target);
	}
	return 0;
}
