/*
 * evidence.c - the evidence file: strict JSON decoding with json-c, and
 * the matching encoder.  The format is drawn in evidence.h and
 * documented in docs/evidence.md.
 *
 * Decoding trusts nothing but also judges nothing: it checks that every
 * field is present (or optional), of the right JSON type, well encoded
 * and within its limit, and leaves every security decision (does the
 * signature hold, do the PCR values match the quote, do the logs replay)
 * to the verifier.  Errors name the field ("pcrs.sha256.7: ...").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "common/json.h"
#include "common/util.h"
#include "measure/eventlog.h"
#include "measure/imalog.h"
#include "attest/evidence.h"

#define EVIDENCE_FORMAT		"vouch-evidence"
#define EVIDENCE_VERSION	1
/* Nesting of the format is 3; anything deeper is refused early. */
#define EVIDENCE_MAX_DEPTH	8
/* RFC 3339 date-times fit in 39 bytes with any fraction we accept. */
#define EVIDENCE_MAX_CREATED	(sizeof(((struct evidence *)0)->created) - 1)

struct evidence *
evidence_new(void)
{
	return calloc(1, sizeof(struct evidence));
}

void
evidence_free(struct evidence *ev)
{
	if (ev == NULL)
		return;
	free(ev->attest);
	free(ev->sig);
	free(ev->event_log);
	free(ev->runtime_log);
	free(ev);
}

/*
 * Error with the field name in front of a helper's reason (hex_decode,
 * b64_decode and pcr_selection_parse say what is wrong, not where).
 */
static int
field_err(struct vouch_err *e, const char *field, const struct vouch_err *why)
{
	return vouch_err_set(e, why->code, "%s: %s", field, why->msg);
}

static int
want_type(json_object *o, enum json_type t, const char *field,
    const char *label, struct vouch_err *e)
{
	if (json_object_get_type(o) != t)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: expected %s, got %s", field, label,
		    json_type_label(json_object_get_type(o)));
	return 0;
}

/* A JSON string with no NUL inside; *s and *n valid while o lives. */
static int
get_string(json_object *o, const char *field, const char **s, size_t *n,
    struct vouch_err *e)
{
	int r, len;

	if ((r = want_type(o, json_type_string, field, "a string", e)) < 0)
		return r;
	*s = json_object_get_string(o);
	len = json_object_get_string_len(o);
	if (*s == NULL || len < 0)
		return vouch_err_set(e, VOUCH_E_INTERNAL, "%s: no string", field);
	*n = (size_t)len;
	if (memchr(*s, '\0', *n) != NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: contains a NUL character", field);
	return 0;
}

/* Printable ASCII only: these fields end up on terminals and in logs. */
static int
check_printable(const char *s, size_t n, const char *field,
    struct vouch_err *e)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s: non-printable character at offset %zu",
			    field, i);
	return 0;
}

/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM).
 * Shape only: the field is informational, but it must not carry junk.
 */
static int
check_rfc3339(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i = 0, k;

	for (k = 0; shape[k] != '\0'; k++, i++) {
		if (i >= n)
			return -1;
		if (shape[k] == 'd' ? (s[i] < '0' || s[i] > '9') :
		    (shape[k] == 'T' ? (s[i] != 'T' && s[i] != 't') :
		    s[i] != shape[k]))
			return -1;
	}
	if (i < n && s[i] == '.') {
		for (k = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == k)
			return -1;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == n ? 0 : -1;
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return -1;
	for (k = i + 1; k < n; k++)
		if (k != i + 3 && (s[k] < '0' || s[k] > '9'))
			return -1;
	return 0;
}

static int
decode_hex_field(json_object *o, const char *field, uint8_t *out, size_t cap,
    size_t *outlen, struct vouch_err *e)
{
	struct vouch_err why = VOUCH_ERR_INIT;
	const char *s;
	size_t n;
	int r;

	if ((r = get_string(o, field, &s, &n, e)) < 0)
		return r;
	if (hex_decode(s, out, cap, outlen, &why) < 0)
		return field_err(e, field, &why);
	return 0;
}

static int
decode_b64_field(json_object *o, const char *field, size_t max, uint8_t **out,
    size_t *outlen, struct vouch_err *e)
{
	struct vouch_err why = VOUCH_ERR_INIT;
	const char *s;
	size_t n;
	int r;

	if ((r = get_string(o, field, &s, &n, e)) < 0)
		return r;
	if (b64_decode(s, n, max, out, outlen, &why) < 0)
		return field_err(e, field, &why);
	return 0;
}

/* "0".."23", canonical decimal (no sign, no leading zero). */
static int
parse_pcr_index(const char *key, uint32_t *idx)
{
	size_t n = strlen(key);

	if (n == 0 || n > 2 || key[0] < '0' || key[0] > '9' ||
	    (n == 2 && (key[0] == '0' || key[1] < '0' || key[1] > '9')))
		return -1;
	*idx = (uint32_t)(key[0] - '0');
	if (n == 2)
		*idx = *idx * 10 + (uint32_t)(key[1] - '0');
	return *idx < PCR_NUM ? 0 : -1;
}

static int
decode_quote(json_object *q, struct evidence *ev, struct vouch_err *e)
{
	json_object *attest = NULL, *sig = NULL;
	int r;

	if ((r = want_type(q, json_type_object, "quote", "an object", e)) < 0)
		return r;
	json_object_object_foreach(q, key, val) {
		if (strcmp(key, "attest") == 0)
			attest = val;
		else if (strcmp(key, "signature") == 0)
			sig = val;
		else
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "quote: unknown key '%.64s'", key);
	}
	if (attest == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "quote.attest: missing");
	if (sig == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "quote.signature: missing");
	if ((r = decode_b64_field(attest, "quote.attest", EVIDENCE_MAX_ATTEST,
	    &ev->attest, &ev->attest_len, e)) < 0)
		return r;
	if (ev->attest_len == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "quote.attest: empty");
	if ((r = decode_b64_field(sig, "quote.signature", EVIDENCE_MAX_SIG,
	    &ev->sig, &ev->sig_len, e)) < 0)
		return r;
	if (ev->sig_len == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "quote.signature: empty");
	return 0;
}

/* Needs ev->sel already decoded: every value must be of a selected PCR. */
static int
decode_pcrs(json_object *pcrs, struct evidence *ev, struct vouch_err *e)
{
	char field[64];
	int r;

	if ((r = want_type(pcrs, json_type_object, "pcrs", "an object",
	    e)) < 0)
		return r;
	json_object_object_foreach(pcrs, bname, bval) {
		const struct pcr_alg *a = pcr_alg_by_name(bname);
		struct pcr_bank *bank;
		uint32_t mask;

		if (a == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "pcrs: unknown bank '%.32s'", bname);
		snprintf(field, sizeof(field), "pcrs.%s", a->name);
		if ((r = want_type(bval, json_type_object, field, "an object",
		    e)) < 0)
			return r;
		if ((mask = pcr_selection_mask(&ev->sel, a->id)) == 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s: bank not in pcr_selection", field);
		if ((bank = pcr_set_bank_add(&ev->pcrs, a->id, e)) == NULL)
			return vouch_err_prefix(e, "%s", field);
		json_object_object_foreach(bval, iname, ival) {
			uint32_t idx;
			size_t n;

			if (parse_pcr_index(iname, &idx) < 0)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "%s: bad PCR index '%.16s' (0..%d)", field,
				    iname, PCR_NUM - 1);
			snprintf(field, sizeof(field), "pcrs.%s.%u", a->name,
			    idx);
			if (!(mask & (1u << idx)))
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "%s: PCR not in pcr_selection", field);
			if ((r = decode_hex_field(ival, field, bank->v[idx],
			    PCR_DIGEST_MAX, &n, e)) < 0)
				return r;
			if (n != a->size)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "%s: %zu bytes, a %s PCR holds %zu",
				    field, n, a->name, a->size);
			bank->set |= 1u << idx;
			snprintf(field, sizeof(field), "pcrs.%s", a->name);
		}
	}
	return 0;
}

static int
decode_root(json_object *root, struct evidence *ev, struct vouch_err *e)
{
	json_object *format = NULL, *version = NULL, *nonce = NULL,
	    *sel = NULL, *quote = NULL, *pcrs = NULL, *elog = NULL,
	    *rlog = NULL, *host = NULL, *created = NULL;
	struct vouch_err why = VOUCH_ERR_INIT;
	const char *s;
	size_t n;
	int r;

	if ((r = want_type(root, json_type_object, "evidence", "an object",
	    e)) < 0)
		return r;
	json_object_object_foreach(root, key, val) {
		static const char *const names[] = { "format", "version",
		    "nonce", "pcr_selection", "quote", "pcrs", "event_log",
		    "runtime_log", "host", "created" };
		json_object **slots[] = { &format, &version, &nonce, &sel,
		    &quote, &pcrs, &elog, &rlog, &host, &created };
		size_t i;

		for (i = 0; i < ARRAY_SIZE(names); i++)
			if (strcmp(key, names[i]) == 0)
				break;
		if (i == ARRAY_SIZE(names))
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "unknown key '%.64s'", key);
		/* json-c hands a JSON null over as NULL: not "missing". */
		if (val == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s: null is not allowed", names[i]);
		*slots[i] = val;
	}

	if (format == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT, "format: missing");
	if ((r = get_string(format, "format", &s, &n, e)) < 0)
		return r;
	if (strcmp(s, EVIDENCE_FORMAT) != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "format: '%.64s' is not '" EVIDENCE_FORMAT "'", s);
	if (version == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT, "version: missing");
	if ((r = want_type(version, json_type_int, "version", "an integer",
	    e)) < 0)
		return r;
	if (json_object_get_int64(version) != EVIDENCE_VERSION)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "version: %lld is not supported (only %d)",
		    (long long)json_object_get_int64(version),
		    EVIDENCE_VERSION);

	if (nonce == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT, "nonce: missing");
	if ((r = decode_hex_field(nonce, "nonce", ev->nonce,
	    sizeof(ev->nonce), &ev->nonce_len, e)) < 0)
		return r;

	if (sel == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "pcr_selection: missing");
	if ((r = get_string(sel, "pcr_selection", &s, &n, e)) < 0)
		return r;
	if (pcr_selection_parse(s, &ev->sel, &why) < 0)
		return field_err(e, "pcr_selection", &why);

	if (quote == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT, "quote: missing");
	if ((r = decode_quote(quote, ev, e)) < 0)
		return r;

	if (pcrs == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT, "pcrs: missing");
	if ((r = decode_pcrs(pcrs, ev, e)) < 0)
		return r;

	if (elog != NULL) {
		if ((r = decode_b64_field(elog, "event_log", EVENTLOG_MAX_SIZE,
		    &ev->event_log, &ev->event_log_len, e)) < 0)
			return r;
		if (ev->event_log_len == 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "event_log: empty (omit the key instead)");
	}
	if (rlog != NULL) {
		if ((r = get_string(rlog, "runtime_log", &s, &n, e)) < 0)
			return r;
		if (n > IMALOG_MAX_SIZE)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "runtime_log: %zu bytes, at most %u allowed", n,
			    IMALOG_MAX_SIZE);
		if ((ev->runtime_log = malloc(n + 1)) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		memcpy(ev->runtime_log, s, n + 1);
		ev->runtime_log_len = n;
	}
	if (host != NULL) {
		if ((r = get_string(host, "host", &s, &n, e)) < 0)
			return r;
		if (n > EVIDENCE_MAX_HOST)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "host: %zu bytes, at most %d allowed", n,
			    EVIDENCE_MAX_HOST);
		if ((r = check_printable(s, n, "host", e)) < 0)
			return r;
		memcpy(ev->host, s, n + 1);
	}
	if (created != NULL) {
		if ((r = get_string(created, "created", &s, &n, e)) < 0)
			return r;
		if (n > EVIDENCE_MAX_CREATED)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "created: %zu bytes, at most %zu allowed", n,
			    EVIDENCE_MAX_CREATED);
		if (check_rfc3339(s, n) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "created: not an RFC 3339 date-time");
		memcpy(ev->created, s, n + 1);
	}
	return 0;
}

int
evidence_decode(const char *json, size_t len, struct evidence **out,
    struct vouch_err *e)
{
	struct json_tokener *tok;
	struct evidence *ev;
	json_object *root;
	enum json_tokener_error jerr;
	size_t end;
	int r;

	if (json == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "evidence_decode: NULL");
	if (len > EVIDENCE_MAX_FILE)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "evidence: %zu bytes, at most %u allowed", len,
		    EVIDENCE_MAX_FILE);
	if (len == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "evidence: empty");
	if ((tok = json_tokener_new_ex(EVIDENCE_MAX_DEPTH)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (root == NULL || jerr != json_tokener_success) {
		json_object_put(root);
		if (jerr == json_tokener_continue)
			return vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "evidence: JSON ends early (truncated?)");
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "evidence: bad JSON near byte %zu: %s", end,
		    json_tokener_error_desc(jerr));
	}
	/* Only whitespace may follow the one top-level value. */
	for (; end < len; end++)
		if (json[end] != ' ' && json[end] != '\t' &&
		    json[end] != '\n' && json[end] != '\r')
			break;
	if (end != len) {
		json_object_put(root);
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "evidence: trailing data at byte %zu", end);
	}
	if ((ev = evidence_new()) == NULL) {
		json_object_put(root);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	r = decode_root(root, ev, e);
	json_object_put(root);
	if (r < 0) {
		evidence_free(ev);
		return r;
	}
	*out = ev;
	return 0;
}

/* Add key to obj; on failure the caller frees obj (val is consumed). */
static int
add(json_object *obj, const char *key, json_object *val)
{
	if (val == NULL)
		return -1;
	if (json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

static json_object *
new_b64(const uint8_t *p, size_t n)
{
	json_object *o;
	char *s;

	if ((s = malloc(b64_encoded_size(n))) == NULL)
		return NULL;
	b64_encode(p, n, s);
	o = json_object_new_string(s);
	free(s);
	return o;
}

static json_object *
new_hex(const uint8_t *p, size_t n)
{
	char buf[2 * PCR_DIGEST_MAX + 1];

	if (n > PCR_DIGEST_MAX)
		return NULL;
	hex_encode(p, n, buf);
	return json_object_new_string(buf);
}

static json_object *
encode_pcrs(const struct evidence *ev)
{
	json_object *pcrs, *bank;
	char idx[8];
	size_t b;
	int i;

	if ((pcrs = json_object_new_object()) == NULL)
		return NULL;
	for (b = 0; b < ev->pcrs.nbanks; b++) {
		const struct pcr_bank *pb = &ev->pcrs.bank[b];
		const struct pcr_alg *a = pcr_alg_by_id(pb->alg);

		if (a == NULL || pb->set == 0)
			continue;
		if ((bank = json_object_new_object()) == NULL)
			goto fail;
		for (i = 0; i < PCR_NUM; i++) {
			if (!(pb->set & (1u << i)))
				continue;
			snprintf(idx, sizeof(idx), "%d", i);
			if (add(bank, idx, new_hex(pb->v[i], a->size)) < 0) {
				json_object_put(bank);
				goto fail;
			}
		}
		if (add(pcrs, a->name, bank) < 0)
			goto fail;
	}
	return pcrs;
fail:
	json_object_put(pcrs);
	return NULL;
}

int
evidence_encode(const struct evidence *ev, char **json, size_t *len,
    struct vouch_err *e)
{
	json_object *root, *quote;
	char selbuf[512], *hexnonce, *out;
	const char *text;
	size_t n;

	if (ev == NULL || json == NULL || ev->attest == NULL ||
	    ev->sig == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "evidence_encode: no quote in the evidence");
	if (ev->nonce_len > EVIDENCE_MAX_NONCE ||
	    ev->attest_len > EVIDENCE_MAX_ATTEST ||
	    ev->sig_len > EVIDENCE_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "evidence_encode: nonce, attest or signature over its limit");
	if (pcr_selection_format(&ev->sel, selbuf, sizeof(selbuf)) < 0)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "evidence_encode: PCR selection too long");
	if ((hexnonce = malloc(2 * ev->nonce_len + 1)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	hex_encode(ev->nonce, ev->nonce_len, hexnonce);

	if ((root = json_object_new_object()) == NULL)
		goto nomem;
	if (add(root, "format", json_object_new_string(EVIDENCE_FORMAT)) < 0 ||
	    add(root, "version", json_object_new_int(EVIDENCE_VERSION)) < 0 ||
	    add(root, "nonce", json_object_new_string(hexnonce)) < 0 ||
	    add(root, "pcr_selection", json_object_new_string(selbuf)) < 0)
		goto nomem;
	if ((quote = json_object_new_object()) == NULL ||
	    add(root, "quote", quote) < 0 ||
	    add(quote, "attest", new_b64(ev->attest, ev->attest_len)) < 0 ||
	    add(quote, "signature", new_b64(ev->sig, ev->sig_len)) < 0)
		goto nomem;
	if (add(root, "pcrs", encode_pcrs(ev)) < 0)
		goto nomem;
	if (ev->event_log != NULL && ev->event_log_len > 0 &&
	    add(root, "event_log", new_b64(ev->event_log,
	    ev->event_log_len)) < 0)
		goto nomem;
	if (ev->runtime_log != NULL) {
		if (ev->runtime_log_len > IMALOG_MAX_SIZE) {
			json_object_put(root);
			free(hexnonce);
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "evidence_encode: runtime log over its limit");
		}
		if (add(root, "runtime_log", json_object_new_string_len(
		    ev->runtime_log, (int)ev->runtime_log_len)) < 0)
			goto nomem;
	}
	if (ev->host[0] != '\0' &&
	    add(root, "host", json_object_new_string(ev->host)) < 0)
		goto nomem;
	if (ev->created[0] != '\0' &&
	    add(root, "created", json_object_new_string(ev->created)) < 0)
		goto nomem;

	text = json_object_to_json_string_length(root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (text == NULL || (out = malloc(n + 2)) == NULL)
		goto nomem;
	memcpy(out, text, n);
	out[n++] = '\n';
	out[n] = '\0';
	json_object_put(root);
	free(hexnonce);
	*json = out;
	if (len != NULL)
		*len = n;
	return 0;
nomem:
	json_object_put(root);
	free(hexnonce);
	return vouch_err_set(e, VOUCH_E_NOMEM, "evidence_encode: out of memory");
}

int
evidence_attach_logs(struct evidence *ev, const char *eventlog,
    const char *runtime_log, struct vouch_err *e)
{
	uint8_t *fw = NULL, *rt = NULL;
	size_t fwlen = 0, rtlen = 0;
	int r;

	if (eventlog != NULL &&
	    (r = file_read(eventlog, EVENTLOG_MAX_SIZE, &fw, &fwlen, e)) < 0)
		return r;
	if (runtime_log != NULL) {
		if ((r = file_read(runtime_log, IMALOG_MAX_SIZE, &rt, &rtlen,
		    e)) < 0) {
			free(fw);
			return r;
		}
		if (memchr(rt, '\0', rtlen) != NULL) {
			free(fw);
			free(rt);
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s: NUL byte in the runtime log", runtime_log);
		}
	}
	if (eventlog != NULL) {
		free(ev->event_log);
		ev->event_log = fw;
		ev->event_log_len = fwlen;
	}
	if (runtime_log != NULL) {
		free(ev->runtime_log);
		ev->runtime_log = (char *)rt;
		ev->runtime_log_len = rtlen;
	}
	return 0;
}

int
evidence_load(const char *path, struct evidence **out, struct vouch_err *e)
{
	uint8_t *buf;
	size_t len;
	int r;

	if ((r = file_read(path, EVIDENCE_MAX_FILE, &buf, &len, e)) < 0)
		return r;
	r = evidence_decode((const char *)buf, len, out, e);
	free(buf);
	if (r < 0)
		return vouch_err_prefix(e, "%s", strcmp(path, "-") == 0 ?
		    "<stdin>" : path);
	return 0;
}

int
evidence_save(const char *path, const struct evidence *ev,
    struct vouch_err *e)
{
	char *json;
	size_t len;
	int r;

	if ((r = evidence_encode(ev, &json, &len, e)) < 0)
		return r;
	if (strcmp(path, "-") == 0) {
		if (fwrite(json, 1, len, stdout) != len || fflush(stdout) != 0)
			r = vouch_err_set(e, VOUCH_E_IO,
			    "<stdout>: write failed");
	} else
		r = file_write_atomic(path, json, len, 0644, e);
	free(json);
	return r;
}
