/*
 * Unit tests: measure/imalog.c's fast path - imalog_parse_ex and its
 * IMALOG_SKIP_TEMPLATE_CHECK flag, the template-data arena (logs that
 * span several chunks), the stored template data against the one
 * ima_entry_template_data rebuilds, and replay through either.
 * (test_imalog.c has the known answers for the format itself.)
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "measure/imalog.h"

#define FILE_SHA256	"be504bad7db0f24b999bfb54d64e83c75f598b71ed759740e78e300cdcc0401c"
#define FILE_SHA1	"449fb5446ad87e371599983561728994da0534ef"
/* From test_imalog.c: an ima-ng, an ima and an ima-sig line. */
#define L1 "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:" \
	FILE_SHA256 " /usr/bin/vouch-test\n"
#define L2 "10 13aa7c17e3117ed78c78b12e45cd47016a2882a1 ima " FILE_SHA1 \
	" /etc/vouch.conf\n"
#define L3 "10 9c9dd0d4362fb745fd4200515e28a28a4da5bbb2 ima-sig sha256:" \
	FILE_SHA256 " /usr/lib/vouch.so 030204aabbccdd\n"
/* L1 with its template hash's last digit changed. */
#define L1_BADHASH "10 563c21e65532b7c299bd20f41aa34b130210778c ima-ng " \
	"sha256:" FILE_SHA256 " /usr/bin/vouch-test\n"

static void
test_skip_template_check(void **state)
{
	static const char good[] = L1 L2 L3;
	static const char bad[] = L2 L1_BADHASH L3;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ima_log *a = NULL, *b = NULL;
	struct pcr_set sa, sb;
	size_t i;

	(void)state;
	/* The default still checks; the flag skips only that check. */
	assert_int_equal(imalog_parse(bad, strlen(bad), &a, &e),
	    VOUCH_E_FORMAT);
	assert_non_null(strstr(e.msg, "line 2: template hash does not match"));
	assert_null(a);
	assert_int_equal(imalog_parse_ex(bad, strlen(bad),
	    IMALOG_SKIP_TEMPLATE_CHECK, &a, &e), 0);
	imalog_free(a);
	/* Every other check runs with the flag. */
	assert_int_equal(imalog_parse_ex("10 zz\n", 6,
	    IMALOG_SKIP_TEMPLATE_CHECK, &a, &e), VOUCH_E_FORMAT);
	assert_int_equal(imalog_parse_ex(L1 "x", strlen(L1) + 1,
	    IMALOG_SKIP_TEMPLATE_CHECK, &a, &e), VOUCH_E_TRUNCATED);
	assert_int_equal(imalog_parse_ex(good, strlen(good), 0x80, &a, &e),
	    VOUCH_E_INVAL);
	/* The same entries and the same replay either way. */
	assert_int_equal(imalog_parse(good, strlen(good), &a, NULL), 0);
	assert_int_equal(imalog_parse_ex(good, strlen(good),
	    IMALOG_SKIP_TEMPLATE_CHECK, &b, NULL), 0);
	assert_int_equal(imalog_count(a), 3);
	assert_int_equal(imalog_count(b), 3);
	for (i = 0; i < 3; i++) {
		const struct ima_entry *x = imalog_get(a, i);
		const struct ima_entry *y = imalog_get(b, i);

		assert_string_equal(x->path, y->path);
		assert_int_equal(x->td_len, y->td_len);
		assert_memory_equal(x->td, y->td, x->td_len);
	}
	sa.nbanks = sb.nbanks = 0;
	assert_int_equal(imalog_replay(a, PCR_ALG_SHA256, &sa, NULL), 0);
	assert_int_equal(imalog_replay(b, PCR_ALG_SHA256, &sb, NULL), 0);
	assert_memory_equal(sa.bank[0].v[10], sb.bank[0].v[10], 32);
	imalog_free(a);
	imalog_free(b);
}

/*
 * The stored template data is what ima_entry_template_data rebuilds
 * from the fields; path and sig point into it; and replay from it gives
 * what replay of entries without it (ima_entry_make, td NULL) gives.
 */
static void
test_stored_template_data(void **state)
{
	static const char text[] = L1 L2 L3;
	uint8_t td[8192];
	struct ima_log *log = NULL;
	size_t i, len;

	(void)state;
	assert_int_equal(imalog_parse(text, strlen(text), &log, NULL), 0);
	for (i = 0; i < imalog_count(log); i++) {
		const struct ima_entry *ent = imalog_get(log, i);

		assert_non_null(ent->td);
		assert_int_equal(ima_entry_template_data(ent, td, sizeof(td),
		    &len, NULL), 0);
		assert_int_equal(len, ent->td_len);
		assert_memory_equal(td, ent->td, len);
		assert_true((const uint8_t *)ent->path > ent->td &&
		    (const uint8_t *)ent->path < ent->td + ent->td_len);
	}
	assert_int_equal(imalog_get(log, 2)->sig_len, 7);
	assert_memory_equal(imalog_get(log, 2)->sig,
	    "\x03\x02\x04\xaa\xbb\xcc\xdd", 7);
	imalog_free(log);
}

/*
 * A log far larger than one arena chunk (64 KiB): 3000 lines of paths up
 * to 200 bytes, mixed case hex, built with ima_entry_make; every entry's
 * fields survive, and the replay equals extending by hand.
 */
static void
test_many_chunks(void **state)
{
	const size_t n = 3000;
	char *text, line[512];
	size_t off = 0, i, cap = n * 400;
	struct ima_log *log = NULL;
	struct pcr_set set;
	uint8_t pcr[32], d[32], tdb[8192];
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_non_null(text = malloc(cap));
	memset(pcr, 0, sizeof(pcr));
	for (i = 0; i < n; i++) {
		struct ima_entry ent;
		char path[256];
		uint8_t fd[32];
		size_t k, plen = 1 + i % 200, tdlen;

		for (k = 0; k < sizeof(fd); k++)
			fd[k] = (uint8_t)(i * 7 + k);
		path[0] = '/';
		for (k = 1; k < plen; k++)
			path[k] = (char)('a' + (i + k) % 26);
		path[plen] = '\0';
		assert_int_equal(ima_entry_make(&ent, 11, PCR_ALG_SHA256, fd,
		    path, NULL), 0);
		assert_int_equal(ima_entry_format(&ent, line, sizeof(line),
		    NULL), 0);
		assert_int_equal(ima_entry_template_data(&ent, tdb,
		    sizeof(tdb), &tdlen, NULL), 0);
		assert_int_equal(pcr_hash(PCR_ALG_SHA256, tdb, tdlen, d, NULL),
		    0);
		assert_int_equal(pcr_extend(PCR_ALG_SHA256, pcr, d, NULL), 0);
		ima_entry_clear(&ent);
		/*
		 * Upper-case hex on odd lines (the kernel writes lower): the
		 * template hash at 3..42 ("11 " first) and the file digest.
		 */
		if (i % 2) {
			char *dg = strstr(line, "sha256:") + 7;

			for (k = 3; k < 43; k++)
				line[k] = (char)toupper((unsigned char)line[k]);
			for (k = 0; k < 64; k++)
				dg[k] = (char)toupper((unsigned char)dg[k]);
		}
		assert_true(off + strlen(line) < cap);
		memcpy(text + off, line, strlen(line));
		off += strlen(line);
	}
	if (imalog_parse(text, off, &log, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(imalog_count(log), n);
	for (i = 0; i < n; i += 97) {
		const struct ima_entry *ent = imalog_get(log, i);

		assert_int_equal(strlen(ent->path), 1 + i % 200);
		assert_int_equal(ent->file_digest[0], (uint8_t)(i * 7));
		assert_int_equal(ent->line, i + 1);
	}
	set.nbanks = 0;
	assert_int_equal(imalog_replay(log, PCR_ALG_SHA256, &set, NULL), 0);
	assert_memory_equal(set.bank[0].v[11], pcr, 32);
	imalog_free(log);
	free(text);
}

/* Control bytes anywhere in a line, LF at every place: named by column. */
static void
test_control_bytes(void **state)
{
	static const char base[] = L1;
	char buf[sizeof(base) + 1];
	size_t at;

	(void)state;
	for (at = 0; at + 1 < strlen(base); at++) {
		struct vouch_err e = VOUCH_ERR_INIT;
		struct ima_log *log = NULL;
		char want[32];
		int r;

		memcpy(buf, base, sizeof(base));
		buf[at] = '\x01';
		r = imalog_parse_ex(buf, strlen(base),
		    IMALOG_SKIP_TEMPLATE_CHECK, &log, &e);
		assert_int_equal(r, VOUCH_E_FORMAT);
		snprintf(want, sizeof(want), "column %zu", at + 1);
		if (strstr(e.msg, want) == NULL)
			fail_msg("byte at %zu: %s", at, e.msg);
		memcpy(buf, base, sizeof(base));
		buf[at] = '\x7f';
		assert_int_equal(imalog_parse(buf, strlen(base), &log, &e),
		    VOUCH_E_FORMAT);
		assert_null(log);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skip_template_check),
		cmocka_unit_test(test_stored_template_data),
		cmocka_unit_test(test_many_chunks),
		cmocka_unit_test(test_control_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
