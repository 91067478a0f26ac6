/*
 * Unit tests: attest/evidence.c - encode/decode round trip, load/save,
 * and every malformed field rejected with a message naming the field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "attest/evidence.h"

static struct evidence *
sample(void)
{
	struct evidence *ev = evidence_new();
	struct pcr_bank *b;
	size_t i;

	assert_non_null(ev);
	for (i = 0; i < 20; i++)
		ev->nonce[i] = (uint8_t)i;
	ev->nonce_len = 20;
	assert_int_equal(pcr_selection_parse("sha256:0,1,23+sha1:7", &ev->sel,
	    NULL), 0);
	assert_non_null(b = pcr_set_bank_add(&ev->pcrs, PCR_ALG_SHA256, NULL));
	memset(b->v[0], 0x11, 32);
	memset(b->v[1], 0x22, 32);
	memset(b->v[23], 0x33, 32);
	b->set = 1u << 0 | 1u << 1 | 1u << 23;
	assert_non_null(b = pcr_set_bank_add(&ev->pcrs, PCR_ALG_SHA1, NULL));
	memset(b->v[7], 0x77, 20);
	b->set = 1u << 7;
	ev->attest_len = 100;
	assert_non_null(ev->attest = malloc(ev->attest_len));
	for (i = 0; i < ev->attest_len; i++)
		ev->attest[i] = (uint8_t)(i * 7);
	ev->sig_len = 70;
	assert_non_null(ev->sig = malloc(ev->sig_len));
	for (i = 0; i < ev->sig_len; i++)
		ev->sig[i] = (uint8_t)(255 - i);
	ev->event_log_len = 5;
	assert_non_null(ev->event_log = malloc(5));
	memcpy(ev->event_log, "\x01\x02\x00\xff\x10", 5);
	assert_non_null(ev->runtime_log = strdup("23 abc ima-ng x /a/b\n"
	    "23 def ima-ng \"quoted\" \\ /c\n"));
	ev->runtime_log_len = strlen(ev->runtime_log);
	strcpy(ev->host, "host-1.lab");
	strcpy(ev->created, "2026-11-23T10:00:00.123Z");
	return ev;
}

static void
assert_same(const struct evidence *a, const struct evidence *b)
{
	size_t i;

	assert_int_equal(a->nonce_len, b->nonce_len);
	assert_memory_equal(a->nonce, b->nonce, a->nonce_len);
	assert_int_equal(a->sel.nbanks, b->sel.nbanks);
	for (i = 0; i < a->sel.nbanks; i++)
		assert_int_equal(pcr_selection_mask(&b->sel, a->sel.bank[i].alg),
		    a->sel.bank[i].mask);
	assert_int_equal(a->attest_len, b->attest_len);
	assert_memory_equal(a->attest, b->attest, a->attest_len);
	assert_int_equal(a->sig_len, b->sig_len);
	assert_memory_equal(a->sig, b->sig, a->sig_len);
	assert_int_equal(a->pcrs.nbanks, b->pcrs.nbanks);
	for (i = 0; i < a->pcrs.nbanks; i++) {
		const struct pcr_bank *x = &a->pcrs.bank[i];
		const struct pcr_bank *y = pcr_set_bank_const(&b->pcrs, x->alg);
		int k;

		assert_non_null(y);
		assert_int_equal(x->set, y->set);
		for (k = 0; k < PCR_NUM; k++)
			if (x->set & (1u << k))
				assert_memory_equal(x->v[k], y->v[k],
				    pcr_alg_by_id(x->alg)->size);
	}
	assert_int_equal(a->event_log_len, b->event_log_len);
	if (a->event_log_len)
		assert_memory_equal(a->event_log, b->event_log,
		    a->event_log_len);
	assert_int_equal(a->runtime_log_len, b->runtime_log_len);
	if (a->runtime_log)
		assert_string_equal(a->runtime_log, b->runtime_log);
	assert_string_equal(a->host, b->host);
	assert_string_equal(a->created, b->created);
}

static void
test_round_trip(void **state)
{
	struct evidence *ev = sample(), *back = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	char *json, *json2;
	size_t len, len2;

	(void)state;
	assert_int_equal(evidence_encode(ev, &json, &len, &e), 0);
	assert_int_equal(strlen(json), len);
	assert_non_null(strstr(json, "\"format\": \"vouch-evidence\""));
	if (evidence_decode(json, len, &back, &e) != 0)
		fail_msg("decode: %s\n%s", e.msg, json);
	assert_same(ev, back);
	/* Encoding is deterministic. */
	assert_int_equal(evidence_encode(back, &json2, &len2, &e), 0);
	assert_string_equal(json, json2);
	free(json);
	free(json2);
	evidence_free(back);

	/* Optional parts absent. */
	free(ev->event_log);
	ev->event_log = NULL;
	ev->event_log_len = 0;
	free(ev->runtime_log);
	ev->runtime_log = NULL;
	ev->runtime_log_len = 0;
	ev->host[0] = ev->created[0] = '\0';
	assert_int_equal(evidence_encode(ev, &json, &len, &e), 0);
	assert_null(strstr(json, "event_log"));
	assert_int_equal(evidence_decode(json, len, &back, &e), 0);
	assert_same(ev, back);
	free(json);
	evidence_free(back);
	evidence_free(ev);
}

static void
test_load_save(void **state)
{
	struct evidence *ev = sample(), *back = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	char path[128];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/vouch-test-ev.%ld.json",
	    (long)getpid());
	assert_int_equal(evidence_save(path, ev, &e), 0);
	assert_int_equal(evidence_load(path, &back, &e), 0);
	assert_same(ev, back);
	evidence_free(back);
	back = NULL;

	assert_non_null(f = fopen(path, "w"));
	fputs("{ \"format\": \"vouch-evidence\" ", f);
	fclose(f);
	assert_int_equal(evidence_load(path, &back, &e), VOUCH_E_TRUNCATED);
	assert_null(back);
	/* Errors carry the path. */
	assert_non_null(strstr(e.msg, path));
	unlink(path);
	assert_int_equal(evidence_load(path, &back, &e), VOUCH_E_IO);
	evidence_free(ev);
}

/*
 * Replace the value of a top-level (or "quote."/"pcrs.sha256.") key in
 * the sample's JSON text by hand-built text, so that every malformed
 * variant differs from a valid file in exactly one field.
 */
static char *
variant(const char *key, const char *value)
{
	struct evidence *ev = sample();
	char *json, *out, *p, *q, *eol;
	size_t len;
	char pat[64];

	assert_int_equal(evidence_encode(ev, &json, &len, NULL), 0);
	evidence_free(ev);
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	assert_non_null(p = strstr(json, pat));
	q = p + strlen(pat);
	/* The value runs to the end of its line (minus a trailing comma). */
	if (*q == '{') {
		int depth = 0;

		for (eol = q; ; eol++) {
			if (*eol == '{')
				depth++;
			if (*eol == '}' && --depth == 0) {
				eol++;
				break;
			}
		}
	} else {
		eol = strchr(q, '\n');
		if (eol[-1] == ',')
			eol--;
	}
	assert_non_null(out = malloc(len + strlen(value) + 1));
	memcpy(out, json, (size_t)(q - json));
	strcpy(out + (q - json), value);
	strcat(out, eol);
	free(json);
	return out;
}

static void
expect_bad(const char *json, int code, const char *sub)
{
	struct evidence *ev = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	int r = evidence_decode(json, strlen(json), &ev, &e);

	if (r == 0)
		fail_msg("accepted: %s", json);
	assert_null(ev);
	if (code != 0 && r != code)
		fail_msg("code %d, want %d (%s)", r, code, e.msg);
	if (strstr(e.msg, sub) == NULL)
		fail_msg("message '%s' lacks '%s'", e.msg, sub);
}

static void
bad_field(const char *key, const char *value, int code, const char *sub)
{
	char *json = variant(key, value);

	expect_bad(json, code, sub);
	free(json);
}

static void
test_malformed_fields(void **state)
{
	char big[600];
	char *json;

	(void)state;
	/* Sanity: the unmodified variant decodes. */
	json = variant("host", "\"ok\"");
	{
		struct evidence *ev = NULL;
		assert_int_equal(evidence_decode(json, strlen(json), &ev, NULL),
		    0);
		evidence_free(ev);
	}
	free(json);

	bad_field("format", "\"other\"", VOUCH_E_FORMAT, "format:");
	bad_field("format", "1", VOUCH_E_FORMAT, "format: expected a string");
	bad_field("version", "2", VOUCH_E_UNSUPPORTED, "version: 2");
	bad_field("version", "\"1\"", VOUCH_E_FORMAT, "version: expected an "
	    "integer");
	bad_field("version", "1.0", VOUCH_E_FORMAT, "version:");
	bad_field("nonce", "\"0g\"", VOUCH_E_FORMAT, "nonce: bad hex");
	bad_field("nonce", "\"abc\"", VOUCH_E_FORMAT, "nonce: hex string has "
	    "odd length");
	memset(big, 'a', 131);	/* 130 hex digits: 65 bytes */
	big[0] = '"';
	big[131] = '"';
	big[132] = '\0';
	bad_field("nonce", big, VOUCH_E_LIMIT, "nonce: hex string decodes to "
	    "65 bytes");
	bad_field("nonce", "null", VOUCH_E_FORMAT, "nonce: null is not allowed");
	bad_field("pcrs", "{ \"sha256\": { \"0\": null } }", VOUCH_E_FORMAT,
	    "pcrs.sha256.0: expected a string, got null");
	bad_field("pcr_selection", "\"sha999:0\"", VOUCH_E_FORMAT,
	    "pcr_selection: unknown PCR bank");
	bad_field("pcr_selection", "\"sha256:24\"", VOUCH_E_FORMAT,
	    "pcr_selection:");
	bad_field("pcr_selection", "[]", VOUCH_E_FORMAT, "pcr_selection: "
	    "expected a string");
	bad_field("quote", "{ \"attest\": \"AAAA\" }", VOUCH_E_FORMAT,
	    "quote.signature: missing");
	bad_field("quote", "{ \"signature\": \"AAAA\" }", VOUCH_E_FORMAT,
	    "quote.attest: missing");
	bad_field("quote", "{ \"attest\": \"AAAA\", \"signature\": \"AAAA\", "
	    "\"x\": 1 }", VOUCH_E_FORMAT, "quote: unknown key 'x'");
	bad_field("quote", "{ \"attest\": \"AA!A\", \"signature\": \"AAAA\" }",
	    VOUCH_E_FORMAT, "quote.attest: bad base64");
	bad_field("quote", "{ \"attest\": \"AAA\", \"signature\": \"AAAA\" }",
	    VOUCH_E_FORMAT, "quote.attest: base64 length");
	bad_field("quote", "{ \"attest\": \"\", \"signature\": \"AAAA\" }",
	    VOUCH_E_FORMAT, "quote.attest: empty");
	bad_field("quote", "{ \"attest\": \"AAAA\", \"signature\": 5 }",
	    VOUCH_E_FORMAT, "quote.signature: expected a string");
	bad_field("quote", "\"AAAA\"", VOUCH_E_FORMAT, "quote: expected an "
	    "object");
	{
		/* 1368 base64 chars = 1026 bytes > EVIDENCE_MAX_ATTEST */
		char *q = malloc(1500);

		assert_non_null(q);
		strcpy(q, "{ \"attest\": \"");
		memset(q + strlen(q), 'A', 1368);
		strcpy(q + 13 + 1368, "\", \"signature\": \"AAAA\" }");
		bad_field("quote", q, VOUCH_E_LIMIT, "quote.attest: base64 "
		    "decodes to 1026 bytes");
		free(q);
	}
	bad_field("pcrs", "{ \"sha256\": { \"24\": \"00\" } }", VOUCH_E_FORMAT,
	    "pcrs.sha256: bad PCR index '24'");
	bad_field("pcrs", "{ \"sha256\": { \"01\": \"00\" } }", VOUCH_E_FORMAT,
	    "pcrs.sha256: bad PCR index '01'");
	bad_field("pcrs", "{ \"sha256\": { \"-1\": \"00\" } }", VOUCH_E_FORMAT,
	    "pcrs.sha256: bad PCR index");
	bad_field("pcrs", "{ \"sha256\": { \"0\": \"0011\" } }", VOUCH_E_FORMAT,
	    "pcrs.sha256.0: 2 bytes, a sha256 PCR holds 32");
	bad_field("pcrs", "{ \"sha256\": { \"0\": \"zz\" } }", VOUCH_E_FORMAT,
	    "pcrs.sha256.0: bad hex");
	bad_field("pcrs", "{ \"sha256\": { \"0\": 0 } }", VOUCH_E_FORMAT,
	    "pcrs.sha256.0: expected a string");
	bad_field("pcrs", "{ \"sha256\": { \"5\": \"" "00000000000000000000000000"
	    "00000000000000000000000000000000000000\" } }", VOUCH_E_FORMAT,
	    "pcrs.sha256.5: PCR not in pcr_selection");
	bad_field("pcrs", "{ \"sha384\": { } }", VOUCH_E_FORMAT,
	    "pcrs.sha384: bank not in pcr_selection");
	bad_field("pcrs", "{ \"md5\": { } }", VOUCH_E_FORMAT,
	    "pcrs: unknown bank 'md5'");
	bad_field("pcrs", "{ \"sha256\": [] }", VOUCH_E_FORMAT,
	    "pcrs.sha256: expected an object");
	bad_field("pcrs", "[]", VOUCH_E_FORMAT, "pcrs: expected an object");
	bad_field("event_log", "\"A===\"", VOUCH_E_FORMAT, "event_log:");
	bad_field("event_log", "\"\"", VOUCH_E_FORMAT, "event_log: empty");
	bad_field("event_log", "true", VOUCH_E_FORMAT, "event_log: expected a "
	    "string");
	bad_field("runtime_log", "\"a\\u0000b\"", VOUCH_E_FORMAT,
	    "runtime_log: contains a NUL");
	bad_field("runtime_log", "{}", VOUCH_E_FORMAT, "runtime_log: expected "
	    "a string");
	memset(big, 'h', sizeof(big) - 1);
	big[0] = '"';
	big[300] = '"';
	big[301] = '\0';
	bad_field("host", big, VOUCH_E_LIMIT, "host: 299 bytes");
	bad_field("host", "\"a\\u001bb\"", VOUCH_E_FORMAT, "host: "
	    "non-printable");
	bad_field("created", "\"yesterday\"", VOUCH_E_FORMAT, "created: not an "
	    "RFC 3339");
	bad_field("created", "\"2026-11-23T10:00:00\"", VOUCH_E_FORMAT,
	    "created:");
	/* An offset instead of Z is RFC 3339 too. */
	json = variant("created", "\"2026-11-23T10:00:00+01:00\"");
	{
		struct evidence *ev = NULL;
		assert_int_equal(evidence_decode(json, strlen(json), &ev, NULL),
		    0);
		assert_string_equal(ev->created, "2026-11-23T10:00:00+01:00");
		evidence_free(ev);
	}
	free(json);
}

static void
test_malformed_json(void **state)
{
	char *json, *p;

	(void)state;
	expect_bad("", VOUCH_E_FORMAT, "empty");
	expect_bad("[]", VOUCH_E_FORMAT, "evidence: expected an object");
	expect_bad("{", VOUCH_E_TRUNCATED, "truncated");
	expect_bad("{\"format\": \"vouch-evidence\"} x", VOUCH_E_FORMAT,
	    "evidence:");
	expect_bad("{\"format\": \"vouch-evidence\",}", VOUCH_E_FORMAT,
	    "evidence: bad JSON");
	expect_bad("{\"format\": \"vouch-evidence\", \"version\": 1}",
	    VOUCH_E_FORMAT, "nonce: missing");
	expect_bad("{\"version\": 1}", VOUCH_E_FORMAT, "format: missing");
	expect_bad("{\"format\": \"vouch-evidence\"}", VOUCH_E_FORMAT,
	    "version: missing");
	expect_bad("{\"format\": \"vouch-evidence\", \"version\": 1, "
	    "\"nonce\": \"00\"}", VOUCH_E_FORMAT, "pcr_selection: missing");
	expect_bad("{\"format\": \"vouch-evidence\", \"version\": 1, "
	    "\"nonce\": \"00\", \"pcr_selection\": \"sha256:0\"}",
	    VOUCH_E_FORMAT, "quote: missing");
	expect_bad("{\"format\": \"vouch-evidence\", \"version\": 1, "
	    "\"nonce\": \"00\", \"pcr_selection\": \"sha256:0\", \"quote\": "
	    "{\"attest\": \"AAAA\", \"signature\": \"AAAA\"}}",
	    VOUCH_E_FORMAT, "pcrs: missing");
	/* Deep nesting is cut off early. */
	expect_bad("{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}",
	    VOUCH_E_FORMAT, "evidence: bad JSON");

	/* An unknown top-level key. */
	json = variant("host", "\"x\",\n  \"extra\": 1");
	expect_bad(json, VOUCH_E_FORMAT, "unknown key 'extra'");
	free(json);

	/* Every truncation of a valid file fails cleanly. */
	{
		struct evidence *ev = sample(), *out = NULL;
		size_t len, i;

		assert_int_equal(evidence_encode(ev, &json, &len, NULL), 0);
		evidence_free(ev);
		/* Strip the final newline and closing brace ... */
		for (i = 0; i + 2 < len; i++) {
			if (evidence_decode(json, i, &out, NULL) == 0)
				fail_msg("truncated to %zu accepted", i);
			assert_null(out);
		}
		/* ... and invalid UTF-8 inside a string. */
		assert_non_null(p = strstr(json, "host-1"));
		p[0] = (char)0xc3;
		p[1] = (char)0x28;
		assert_int_not_equal(evidence_decode(json, len, &out, NULL), 0);
		free(json);
	}
}

static void
test_encode_refuses(void **state)
{
	struct evidence *ev = sample();
	char *json = NULL;

	(void)state;
	free(ev->attest);
	ev->attest = NULL;
	assert_int_equal(evidence_encode(ev, &json, NULL, NULL), VOUCH_E_INVAL);
	assert_null(json);
	evidence_free(ev);
	evidence_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_load_save),
		cmocka_unit_test(test_malformed_fields),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_encode_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
