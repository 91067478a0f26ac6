/*
 * Unit tests: measure/imalog.c.
 *
 * Known answers were computed independently with this python3 script
 * (content = b"vouch test file\n"):
 *
 *	import hashlib, struct
 *	def ng(alg, digest, path, sig=None):
 *	    d = alg.encode() + b":\0" + digest
 *	    td = struct.pack("<I", len(d)) + d + \
 *	        struct.pack("<I", len(path) + 1) + path.encode() + b"\0"
 *	    if sig is not None:
 *	        td += struct.pack("<I", len(sig)) + sig
 *	    return td
 *	fd = hashlib.sha256(content).digest()
 *	td1 = ng("sha256", fd, "/usr/bin/vouch-test")         # ima-ng
 *	td2 = hashlib.sha1(content).digest() + \
 *	    b"/etc/vouch.conf".ljust(256, b"\0")                # ima
 *	td3 = ng("sha256", fd, "/usr/lib/vouch.so",
 *	    bytes.fromhex("030204aabbccdd"))                    # ima-sig
 *	td4 = ng("sha256", fd, "/usr/lib/nosig.so", b"")        # ima-sig, empty
 *	hashlib.sha1(tdN).hexdigest()                           # TEMPLATE-SHA1
 *	# replay of td1, td2, a violation, td3, td4 into PCR 10 from zero:
 *	for each: pcr = H(pcr + (b"\xff"*n if violation else H(td)))
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
#include "measure/imalog.h"

#define FILE_CONTENT	"vouch test file\n"
#define FILE_SHA256	"be504bad7db0f24b999bfb54d64e83c75f598b71ed759740e78e300cdcc0401c"
#define FILE_SHA1	"449fb5446ad87e371599983561728994da0534ef"

#define L1 "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:" \
	FILE_SHA256 " /usr/bin/vouch-test\n"
#define L2 "10 13aa7c17e3117ed78c78b12e45cd47016a2882a1 ima " FILE_SHA1 \
	" /etc/vouch.conf\n"
#define LV "10 0000000000000000000000000000000000000000 ima-ng sha256:" \
	"0000000000000000000000000000000000000000000000000000000000000000" \
	" /var/log/open-for-write\n"
#define L3 "10 9c9dd0d4362fb745fd4200515e28a28a4da5bbb2 ima-sig sha256:" \
	FILE_SHA256 " /usr/lib/vouch.so 030204aabbccdd\n"
#define L4 "10 0763cae281bc470a412475189bff777e192b55f6 ima-sig sha256:" \
	FILE_SHA256 " /usr/lib/nosig.so \n"

#define REPLAY_SHA256 "b580c9f7735d5c850bdd9e0790cf3aa5ae08f7564d87bd20a12a95c2601fcd68"
#define REPLAY_SHA1   "f8abb91e3571da456d85e68eb8efeb3b0bed0ad3"

static const char known_log[] = L1 L2 LV L3 L4;

static void
hex_of(const uint8_t *d, size_t n, char *out)
{
	hex_encode(d, n, out);
}

static void
test_parse_known_answers(void **state)
{
	struct ima_log *log = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const struct ima_entry *ent;
	char hex[129];

	(void)state;
	if (imalog_parse(known_log, strlen(known_log), &log, &e) != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(imalog_count(log), 5);

	ent = imalog_get(log, 0);
	assert_int_equal(ent->pcr, 10);
	assert_string_equal(ent->template_name, "ima-ng");
	assert_int_equal(ent->file_alg, PCR_ALG_SHA256);
	hex_of(ent->file_digest, 32, hex);
	assert_string_equal(hex, FILE_SHA256);
	assert_string_equal(ent->path, "/usr/bin/vouch-test");
	assert_int_equal(ent->line, 1);
	assert_false(ima_entry_is_violation(ent));

	ent = imalog_get(log, 1);
	assert_string_equal(ent->template_name, "ima");
	assert_int_equal(ent->file_alg, PCR_ALG_SHA1);
	assert_string_equal(ent->path, "/etc/vouch.conf");

	ent = imalog_get(log, 2);
	assert_true(ima_entry_is_violation(ent));
	assert_int_equal(ent->line, 3);

	ent = imalog_get(log, 3);
	assert_string_equal(ent->template_name, "ima-sig");
	assert_string_equal(ent->path, "/usr/lib/vouch.so");
	assert_int_equal(ent->sig_len, 7);
	hex_of(ent->sig, ent->sig_len, hex);
	assert_string_equal(hex, "030204aabbccdd");

	ent = imalog_get(log, 4);
	assert_string_equal(ent->path, "/usr/lib/nosig.so");
	assert_int_equal(ent->sig_len, 0);
	assert_null(imalog_get(log, 5));
	imalog_free(log);
}

static void
test_replay_known_answers(void **state)
{
	struct ima_log *log = NULL;
	struct pcr_set set;
	const struct pcr_bank *b;
	char hex[129];

	(void)state;
	memset(&set, 0, sizeof(set));
	assert_int_equal(imalog_parse(known_log, strlen(known_log), &log,
	    NULL), 0);
	assert_int_equal(imalog_replay(log, PCR_ALG_SHA256, &set, NULL), 0);
	assert_int_equal(imalog_replay(log, PCR_ALG_SHA1, &set, NULL), 0);
	b = pcr_set_bank_const(&set, PCR_ALG_SHA256);
	assert_non_null(b);
	assert_int_equal(b->set, 1u << 10);
	hex_of(b->v[10], 32, hex);
	assert_string_equal(hex, REPLAY_SHA256);
	b = pcr_set_bank_const(&set, PCR_ALG_SHA1);
	hex_of(b->v[10], 20, hex);
	assert_string_equal(hex, REPLAY_SHA1);

	/* Replaying again continues from the values already .set. */
	assert_int_equal(imalog_replay(log, PCR_ALG_SHA256, &set, NULL), 0);
	b = pcr_set_bank_const(&set, PCR_ALG_SHA256);
	hex_of(b->v[10], 32, hex);
	assert_string_not_equal(hex, REPLAY_SHA256);
	assert_int_equal(imalog_replay(log, 0x0099, &set, NULL),
	    VOUCH_E_UNSUPPORTED);
	imalog_free(log);
}

/* A violation extends ff..ff, not H(template data) or zero. */
static void
test_violation_extends_ones(void **state)
{
	struct ima_log *log = NULL;
	struct pcr_set set;
	uint8_t ones[32], want[32] = { 0 };

	(void)state;
	memset(&set, 0, sizeof(set));
	assert_int_equal(imalog_parse(LV, strlen(LV), &log, NULL), 0);
	assert_int_equal(imalog_replay(log, PCR_ALG_SHA256, &set, NULL), 0);
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(pcr_extend(PCR_ALG_SHA256, want, ones, NULL), 0);
	assert_memory_equal(set.bank[0].v[10], want, 32);
	imalog_free(log);
}

/*
 * A real kernel line (Debian 6.1 under OVMF + swtpm, captured with
 * tools/guest/fwlog.sh): ima-sig with an empty signature (note the
 * trailing space), and the sha256 PCR 10 value that TPM then held.
 */
#define KERNEL_LINE "10 dd49bacd6b143caa965283b85310c30c072301b2 ima-sig " \
	"sha256:caea019e405a8336c606c6ae24218232bb4841d90bd3d951a435c433a681c2fe" \
	" boot_aggregate \n"
#define KERNEL_PCR10 "8f7d11170a3a267c22bbbd430717bafe804efaf444f7a7784652d9d71662c585"

static void
test_real_kernel_line(void **state)
{
	struct ima_log *log = NULL;
	struct pcr_set set;
	struct vouch_err e = VOUCH_ERR_INIT;
	char hex[65], line[256];

	(void)state;
	memset(&set, 0, sizeof(set));
	if (imalog_parse(KERNEL_LINE, strlen(KERNEL_LINE), &log, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(imalog_get(log, 0)->path, "boot_aggregate");
	assert_int_equal(imalog_replay(log, PCR_ALG_SHA256, &set, NULL), 0);
	hex_of(set.bank[0].v[10], 32, hex);
	assert_string_equal(hex, KERNEL_PCR10);
	/* Formatting gives back the kernel's exact bytes. */
	assert_int_equal(ima_entry_format(imalog_get(log, 0), line,
	    sizeof(line), NULL), 0);
	assert_string_equal(line, KERNEL_LINE);
	imalog_free(log);
}

static void
test_bad_lines(void **state)
{
	static const struct {
		const char	*line;
		int		 code;
		const char	*needle;
	} cases[] = {
		{ "x 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA256 " /a\n", VOUCH_E_FORMAT, "PCR" },
		{ "24 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA256 " /a\n", VOUCH_E_FORMAT, "out of range" },
		{ "10 563c21e65532b7c299bd20f41aa34b13021077 ima-ng sha256:"
		    FILE_SHA256 " /a\n", VOUCH_E_FORMAT, "40 hex" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778g ima-ng sha256:"
		    FILE_SHA256 " /a\n", VOUCH_E_FORMAT, "40 hex" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-foo sha256:"
		    FILE_SHA256 " /a\n", VOUCH_E_UNSUPPORTED, "ima-foo" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng md5:"
		    FILE_SHA256 " /a\n", VOUCH_E_FORMAT, "known algorithm" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA1 " /a\n", VOUCH_E_FORMAT, "64 hex" },
		/* L1 with a different path: the template hash catches it. */
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA256 " /usr/bin/vouch-tesT\n", VOUCH_E_FORMAT,
		    "does not match" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA256 "\n", VOUCH_E_FORMAT, "path" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA256 " /a\tb\n", VOUCH_E_FORMAT, "control byte" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA256 " /a\r\n", VOUCH_E_FORMAT, "control byte" },
		{ "\n", VOUCH_E_FORMAT, "PCR" },
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-sig sha256:"
		    FILE_SHA256 "\n", VOUCH_E_FORMAT, "signature field" },
		{ "10 9c9dd0d4362fb745fd4200515e28a28a4da5bbb2 ima-sig sha256:"
		    FILE_SHA256 " /usr/lib/vouch.so 030204aabbccd\n",
		    VOUCH_E_FORMAT, "signature" },
		{ "10 9c9dd0d4362fb745fd4200515e28a28a4da5bbb2 ima-sig sha256:"
		    FILE_SHA256 " /usr/lib/vouch.so 030204aabbccdx\n",
		    VOUCH_E_FORMAT, "signature" },
		/* No final newline: a log cut short. */
		{ "10 563c21e65532b7c299bd20f41aa34b130210778b ima-ng sha256:"
		    FILE_SHA256 " /usr/bin/vouch-test", VOUCH_E_TRUNCATED,
		    "newline" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ima_log *log = NULL;
		struct vouch_err e = VOUCH_ERR_INIT;
		char text[1024];
		int r;

		/* The bad line is line 2, after a good one. */
		snprintf(text, sizeof(text), "%s%s", L1, cases[i].line);
		r = imalog_parse(text, strlen(text), &log, &e);
		if (r != cases[i].code)
			fail_msg("case %zu: got %d (%s), want %d", i, r, e.msg,
			    cases[i].code);
		assert_null(log);
		if (strncmp(e.msg, "line 2:", 7) != 0 ||
		    strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("case %zu: '%s' lacks 'line 2:' or '%s'", i,
			    e.msg, cases[i].needle);
	}
}

static void
test_truncations(void **state)
{
	size_t len, ok = 0;

	(void)state;
	/* Every prefix parses (at a line end) or fails cleanly. */
	for (len = 0; len <= strlen(known_log); len++) {
		struct ima_log *log = NULL;
		char *copy = malloc(len + 1);
		int r;

		assert_non_null(copy);
		memcpy(copy, known_log, len);
		r = imalog_parse(copy, len, &log, NULL);
		if (len == 0 || known_log[len - 1] == '\n') {
			assert_int_equal(r, 0);
			ok++;
		} else
			assert_true(r < 0);
		imalog_free(log);
		free(copy);
	}
	assert_int_equal(ok, 6);
}

static void
test_make_format_roundtrip(void **state)
{
	struct ima_entry ent;
	struct ima_log *log = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint8_t d[32];
	size_t n;
	char line[512];

	(void)state;
	assert_int_equal(hex_decode(FILE_SHA256, d, sizeof(d), &n, NULL), 0);
	assert_int_equal(ima_entry_make(&ent, 10, PCR_ALG_SHA256, d,
	    "/usr/bin/vouch-test", &e), 0);
	assert_int_equal(ima_entry_format(&ent, line, sizeof(line), &e), 0);
	assert_string_equal(line, L1);	/* the independent known answer */
	assert_int_equal(ima_entry_format(&ent, line, 20, &e), VOUCH_E_LIMIT);
	ima_entry_clear(&ent);

	/* Made entries parse back; PCR 23 and sha1 file digests too. */
	assert_int_equal(ima_entry_make(&ent, 23, PCR_ALG_SHA1, d, "/x", &e), 0);
	assert_int_equal(ima_entry_format(&ent, line, sizeof(line), &e), 0);
	assert_int_equal(imalog_parse(line, strlen(line), &log, &e), 0);
	assert_int_equal(imalog_get(log, 0)->pcr, 23);
	assert_memory_equal(imalog_get(log, 0)->template_sha1,
	    ent.template_sha1, 20);
	imalog_free(log);
	ima_entry_clear(&ent);

	/* Paths IMA's format cannot carry are refused by format. */
	assert_int_equal(ima_entry_make(&ent, 23, PCR_ALG_SHA256, d,
	    "/a b", &e), 0);
	assert_int_equal(ima_entry_format(&ent, line, sizeof(line), &e),
	    VOUCH_E_INVAL);
	ima_entry_clear(&ent);
	assert_int_equal(ima_entry_make(&ent, 24, PCR_ALG_SHA256, d, "/a", &e),
	    VOUCH_E_INVAL);
	assert_int_equal(ima_entry_make(&ent, 10, 0x0099, d, "/a", &e),
	    VOUCH_E_UNSUPPORTED);
	ima_entry_clear(NULL);
}

static void
test_template_data(void **state)
{
	struct ima_log *log = NULL;
	uint8_t td[512];
	size_t len;

	(void)state;
	assert_int_equal(imalog_parse(known_log, strlen(known_log), &log,
	    NULL), 0);
	/* ima-ng: 4 + "sha256:\0" + 32 + 4 + "/usr/bin/vouch-test\0" */
	assert_int_equal(ima_entry_template_data(imalog_get(log, 0), td,
	    sizeof(td), &len, NULL), 0);
	assert_int_equal(len, 4 + 8 + 32 + 4 + 20);
	assert_memory_equal(td, "\x28\0\0\0sha256:\0", 12);
	/* ima: 20 + 256, no length prefixes */
	assert_int_equal(ima_entry_template_data(imalog_get(log, 1), td,
	    sizeof(td), &len, NULL), 0);
	assert_int_equal(len, 276);
	/* ima-sig: + 4 + 7 */
	assert_int_equal(ima_entry_template_data(imalog_get(log, 3), td,
	    sizeof(td), &len, NULL), 0);
	assert_int_equal(len, 4 + 8 + 32 + 4 + 18 + 4 + 7);
	assert_int_equal(ima_entry_template_data(imalog_get(log, 3), td,
	    10, &len, NULL), VOUCH_E_LIMIT);
	imalog_free(log);
}

static void
test_measure_file(void **state)
{
	char path[] = "/tmp/vouch-imalog-XXXXXX", hex[129];
	uint8_t d[64];
	struct vouch_err e = VOUCH_ERR_INIT;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, FILE_CONTENT, strlen(FILE_CONTENT)),
	    (ssize_t)strlen(FILE_CONTENT));
	close(fd);
	assert_int_equal(measure_file(path, PCR_ALG_SHA256, d, &e), 0);
	hex_of(d, 32, hex);
	assert_string_equal(hex, FILE_SHA256);
	assert_int_equal(measure_file(path, PCR_ALG_SHA1, d, &e), 0);
	hex_of(d, 20, hex);
	assert_string_equal(hex, FILE_SHA1);
	unlink(path);
	assert_int_equal(measure_file(path, PCR_ALG_SHA256, d, &e),
	    VOUCH_E_IO);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(measure_file("/tmp", PCR_ALG_SHA256, d, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(measure_file("/tmp", 0x0099, d, &e),
	    VOUCH_E_UNSUPPORTED);
}

static void
test_limits(void **state)
{
	struct ima_log *log = NULL;
	char *text;
	size_t n = IMALOG_MAX_PATH + 200, i;

	(void)state;
	assert_int_equal(imalog_parse("", (size_t)IMALOG_MAX_SIZE + 1, &log,
	    NULL), VOUCH_E_LIMIT);
	/* A path of IMALOG_MAX_PATH bytes. */
	text = malloc(n);
	assert_non_null(text);
	i = (size_t)snprintf(text, n, "10 563c21e65532b7c299bd20f41aa34b130210778b"
	    " ima-ng sha256:" FILE_SHA256 " /");
	memset(text + i, 'a', IMALOG_MAX_PATH);
	text[i + IMALOG_MAX_PATH] = '\n';
	assert_int_equal(imalog_parse(text, i + IMALOG_MAX_PATH + 1, &log,
	    NULL), VOUCH_E_LIMIT);
	free(text);
	/* Empty text: an empty log. */
	assert_int_equal(imalog_parse("", 0, &log, NULL), 0);
	assert_int_equal(imalog_count(log), 0);
	imalog_free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_known_answers),
		cmocka_unit_test(test_replay_known_answers),
		cmocka_unit_test(test_violation_extends_ones),
		cmocka_unit_test(test_real_kernel_line),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_make_format_roundtrip),
		cmocka_unit_test(test_template_data),
		cmocka_unit_test(test_measure_file),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
