/*
 * Unit tests: ids/ksym.c with synthetic kallsyms tables and System.map
 * texts.  The builder below is an independent, minimal re-implementation
 * of what scripts/kallsyms.c emits (greedy token compression, offsets,
 * markers, optional seqs_of_names), placed at an odd offset inside
 * garbage so that alignment is exercised too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ids/ksym.h"

#define NSYN	600		/* > 2 marker blocks */
#define LEAD	13		/* garbage before the tables */
#define BASE	0xffffffff81000000ull

struct syn_sym {
	char		text[300];	/* type letter + name */
	uint64_t	addr;
	int		absolute;
};

struct syn {
	uint8_t		*p;
	size_t		 len, cap;
	struct ksym_kallsyms_loc loc;	/* where the builder put things */
	size_t		 seqs;
	size_t		 last_name;	/* offset of the last name entry */
};

/* multi-character tokens in slots no character uses */
static const char *const multi[] = { "sym_", "init_", "task", "_table",
    "sys_", "call", "per", "cpu" };

static void
put(struct syn *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void
put_u8(struct syn *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put_u16(struct syn *b, uint16_t v)
{
	put_u8(b, (uint8_t)v);
	put_u8(b, (uint8_t)(v >> 8));
}

static void
put_u32(struct syn *b, uint32_t v)
{
	put_u16(b, (uint16_t)v);
	put_u16(b, (uint16_t)(v >> 16));
}

/* .balign 8 relative to the start of the tables (LEAD) */
static void
align8(struct syn *b)
{
	while ((b->len - LEAD) % 8 != 0)
		put_u8(b, 0);
}

static void
tokens(char tok[256][16])
{
	unsigned i, k = 0;

	for (i = 0; i < 256; i++) {
		if (i > 0x20 && i < 0x7f)
			snprintf(tok[i], 16, "%c", (char)i);
		else if (k < sizeof(multi) / sizeof(multi[0]))
			snprintf(tok[i], 16, "%s", multi[k++]);
		else
			snprintf(tok[i], 16, "Z%u", i);	/* unused filler */
	}
}

/* Greedy compression: longest token matching at each position. */
static size_t
compress(char tok[256][16], const char *s, uint8_t *out)
{
	size_t n = 0;

	while (*s != '\0') {
		unsigned best = (uint8_t)*s, i;
		size_t bl = 1;

		for (i = 0; i < 256; i++) {
			size_t l = strlen(tok[i]);

			if ((i <= 0x20 || i >= 0x7f) && tok[i][0] != 'Z' &&
			    l > bl && strncmp(s, tok[i], l) == 0) {
				best = i;
				bl = l;
			}
		}
		out[n++] = (uint8_t)best;
		s += bl;
	}
	return n;
}

static void
syn_syms(struct syn_sym *s)
{
	size_t i;

	snprintf(s[0].text, sizeof(s[0].text), "Afixed_percpu_data");
	s[0].addr = 0;
	s[0].absolute = 1;
	snprintf(s[1].text, sizeof(s[1].text), "Acpu_tss_rw");
	s[1].addr = 0x6000;
	s[1].absolute = 1;
	snprintf(s[2].text, sizeof(s[2].text), "T_text");
	s[2].addr = BASE;
	snprintf(s[3].text, sizeof(s[3].text), "T_stext");
	s[3].addr = BASE;
	for (i = 4; i < NSYN; i++) {
		snprintf(s[i].text, sizeof(s[i].text), "tsym_%04zu", i);
		s[i].addr = BASE + 0x1000 + 0x40 * i;
	}
	snprintf(s[100].text, sizeof(s[100].text), "Dinit_task");
	snprintf(s[101].text, sizeof(s[101].text), "Rsys_call_table");
	/* a name compressing to more than 127 bytes: the 2-byte length */
	s[300].text[0] = 't';
	memset(s[300].text + 1, 'q', 200);
	s[300].text[201] = '\0';
	snprintf(s[NSYN - 1].text, sizeof(s[0].text), "T_etext");
}

/* Build the tables; with_seqs adds kallsyms_seqs_of_names. */
static void
syn_build(struct syn *b, int with_seqs)
{
	static struct syn_sym s[NSYN];
	char tok[256][16];
	uint32_t markers[(NSYN + 255) / 256];
	size_t i, names0, tt0;
	uint64_t base = BASE;

	memset(b, 0, sizeof(*b));
	syn_syms(s);
	tokens(tok);
	for (i = 0; i < LEAD; i++)
		put_u8(b, (uint8_t)(0xa5 ^ i));
	b->loc.offsets = b->len;
	for (i = 0; i < NSYN; i++)
		put_u32(b, s[i].absolute ? (uint32_t)s[i].addr :
		    (uint32_t)(int32_t)(int64_t)(base - s[i].addr - 1));
	align8(b);
	b->loc.relative_base = b->len;
	put_u32(b, (uint32_t)base);
	put_u32(b, (uint32_t)(base >> 32));
	align8(b);
	b->loc.num_syms_off = b->len;
	put_u32(b, NSYN);
	align8(b);
	b->loc.names = names0 = b->len;
	for (i = 0; i < NSYN; i++) {
		uint8_t c[400];
		size_t n = compress(tok, s[i].text, c);

		if (i % 256 == 0)
			markers[i / 256] = (uint32_t)(b->len - names0);
		b->last_name = b->len;
		if (n > 127) {
			put_u8(b, (uint8_t)(0x80 | (n & 0x7f)));
			put_u8(b, (uint8_t)(n >> 7));
		} else
			put_u8(b, (uint8_t)n);
		put(b, c, n);
	}
	align8(b);
	b->loc.markers = b->len;
	for (i = 0; i < (NSYN + 255) / 256; i++)
		put_u32(b, markers[i]);
	align8(b);
	if (with_seqs) {
		/* name order of our symbols, computed the slow way */
		uint32_t order[NSYN], j, t;

		for (j = 0; j < NSYN; j++)
			order[j] = j;
		for (j = 0; j < NSYN; j++)
			for (t = j + 1; t < NSYN; t++)
				if (strcmp(s[order[t]].text + 1,
				    s[order[j]].text + 1) < 0) {
					uint32_t x = order[j];
					order[j] = order[t];
					order[t] = x;
				}
		b->seqs = b->len;
		for (j = 0; j < NSYN; j++) {
			put_u8(b, (uint8_t)(order[j] >> 16));
			put_u8(b, (uint8_t)(order[j] >> 8));
			put_u8(b, (uint8_t)order[j]);
		}
		align8(b);
	}
	b->loc.token_table = tt0 = b->len;
	{
		uint16_t idx[256];

		for (i = 0; i < 256; i++) {
			idx[i] = (uint16_t)(b->len - tt0);
			put(b, tok[i], strlen(tok[i]) + 1);
		}
		align8(b);
		b->loc.token_index = b->len;
		for (i = 0; i < 256; i++)
			put_u16(b, idx[i]);
	}
	for (i = 0; i < 37; i++)
		put_u8(b, (uint8_t)(0x3c + i));
	b->loc.base = base;
	b->loc.num_syms = NSYN;
}

static void
check_decoded(const struct ksyms *k)
{
	uint64_t a, off;
	const char *n;
	char longname[201];

	assert_int_equal(k->n, NSYN);
	assert_int_equal(ksym_addr(k, "init_task", &a), 0);
	assert_true(a == BASE + 0x1000 + 0x40 * 100);
	assert_int_equal(ksym_addr(k, "sys_call_table", &a), 0);
	assert_true(a == BASE + 0x1000 + 0x40 * 101);
	assert_int_equal(ksym_addr(k, "_text", &a), 0);
	assert_true(a == BASE);
	assert_int_equal(ksym_addr(k, "fixed_percpu_data", &a), 0);
	assert_true(a == 0);
	assert_int_equal(ksym_addr(k, "cpu_tss_rw", &a), 0);
	assert_true(a == 0x6000);
	assert_int_equal(ksym_addr(k, "sym_0599", &a), VOUCH_E_NOTFOUND);
	assert_int_equal(ksym_addr(k, "_etext", &a), 0);
	memset(longname, 'q', 200);
	longname[200] = '\0';
	assert_int_equal(ksym_addr(k, longname, &a), 0);
	assert_true(a == BASE + 0x1000 + 0x40 * 300);
	assert_int_equal(ksym_addr(k, "nonexistent", &a), VOUCH_E_NOTFOUND);
	assert_true(ksym_size(k, "init_task") == 0x40);
	assert_true(ksym_size(k, "_etext") == 0);	/* last */
	assert_true(ksym_size(k, "nope") == 0);
	n = ksym_name_at(k, BASE + 0x1000 + 0x40 * 100 + 0x10, &off);
	assert_non_null(n);
	assert_string_equal(n, "init_task");
	assert_true(off == 0x10);
	n = ksym_name_at(k, BASE + 5, &off);
	assert_string_equal(n, "_stext");	/* first by name at BASE */
	assert_true(off == 5);
	for (size_t i = 0; i < k->n; i++) {
		const char *s = k->names + k->syms[i].name;

		assert_true(k->syms[i].name < k->names_len);
		if (i > 0)
			assert_true(k->syms[i - 1].addr <= k->syms[i].addr);
		assert_true(strlen(s) > 0);
	}
	assert_int_equal(k->syms[0].type, 'A');
}

static void
t_synthetic(void **state)
{
	struct syn b;
	struct ksym_kallsyms_loc loc;
	struct ksyms k;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	syn_build(&b, 0);
	assert_int_equal(ksym_find_kallsyms(b.p, b.len, &loc, &e), 0);
	assert_int_equal(loc.offsets, b.loc.offsets);
	assert_int_equal(loc.relative_base, b.loc.relative_base);
	assert_int_equal(loc.num_syms_off, b.loc.num_syms_off);
	assert_int_equal(loc.names, b.loc.names);
	assert_int_equal(loc.markers, b.loc.markers);
	assert_int_equal(loc.token_table, b.loc.token_table);
	assert_int_equal(loc.token_index, b.loc.token_index);
	assert_true(loc.base == BASE);
	assert_int_equal(loc.num_syms, NSYN);
	assert_int_equal(ksym_load_kallsyms(b.p, b.len, &loc, &k, &e), 0);
	check_decoded(&k);
	ksym_free(&k);
	assert_null(k.syms);
	ksym_free(NULL);
	free(b.p);
}

static void
t_synthetic_seqs(void **state)
{
	struct syn b;
	struct ksym_kallsyms_loc loc;
	struct ksyms k;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	syn_build(&b, 1);
	assert_int_equal(ksym_find_kallsyms(b.p, b.len, &loc, &e), 0);
	assert_int_equal(loc.markers, b.loc.markers);
	assert_int_equal(loc.names, b.loc.names);
	assert_int_equal(loc.token_table, b.loc.token_table);
	assert_int_equal(ksym_load_kallsyms(b.p, b.len, &loc, &k, &e), 0);
	check_decoded(&k);
	ksym_free(&k);
	free(b.p);
}

/* A corrupted copy must be refused by the finder and by the loader. */
static void
expect_refused(const struct syn *b, uint8_t *p, const char *what)
{
	struct ksym_kallsyms_loc loc;
	struct ksyms k = { 0 };
	struct vouch_err e = VOUCH_ERR_INIT;
	int r;

	r = ksym_find_kallsyms(p, b->len, &loc, &e);
	if (r != VOUCH_E_NOTFOUND)
		fail_msg("%s: find returned %d", what, r);
	assert_int_equal(e.code, VOUCH_E_NOTFOUND);
	assert_true(e.msg[0] != '\0');
	memset(&e, 0, sizeof(e));
	r = ksym_load_kallsyms(p, b->len, &b->loc, &k, &e);
	if (r >= 0)
		fail_msg("%s: load accepted it", what);
	assert_int_equal(e.code, r);
	assert_null(k.syms);
}

static void
t_corrupt(void **state)
{
	struct syn b;
	uint8_t *p;
	uint32_t v;

	(void)state;
	for (int seqs = 0; seqs < 2; seqs++) {
		syn_build(&b, seqs);
		p = malloc(b.len);
		assert_non_null(p);

		/* token index: one entry off by one */
		memcpy(p, b.p, b.len);
		p[b.loc.token_index + 2 * 0x41] ^= 1;
		expect_refused(&b, p, "token index");

		/* token table: token 'A' loses its NUL */
		memcpy(p, b.p, b.len);
		p[b.loc.token_table + (b.p[b.loc.token_index + 2 * 'A'] |
		    b.p[b.loc.token_index + 2 * 'A' + 1] << 8) + 1] = 'x';
		expect_refused(&b, p, "token table");

		/* markers: second marker does not match the names */
		memcpy(p, b.p, b.len);
		p[b.loc.markers + 4] += 1;
		expect_refused(&b, p, "markers");

		/* names: last entry runs past the names into the markers */
		memcpy(p, b.p, b.len);
		p[b.last_name] = 0x7f;
		expect_refused(&b, p, "names past end");

		/* names: an entry of length 0 */
		memcpy(p, b.p, b.len);
		p[b.loc.names] = 0;
		expect_refused(&b, p, "empty name");

		/* num_syms: huge, and off by 256 */
		memcpy(p, b.p, b.len);
		memset(p + b.loc.num_syms_off, 0xff, 4);
		expect_refused(&b, p, "num_syms huge");
		memcpy(p, b.p, b.len);
		v = NSYN + 256;
		memcpy(p + b.loc.num_syms_off, &v, 4);
		expect_refused(&b, p, "num_syms +256");

		/* offsets: two relative addresses swapped (unsorted) */
		memcpy(p, b.p, b.len);
		memcpy(p + b.loc.offsets + 4 * 10, b.p + b.loc.offsets + 4 * 11,
		    4);
		memcpy(p + b.loc.offsets + 4 * 11, b.p + b.loc.offsets + 4 * 10,
		    4);
		expect_refused(&b, p, "offsets unsorted");

		if (seqs) {
			/* seqs_of_names: a repeated index */
			memcpy(p, b.p, b.len);
			memcpy(p + b.seqs + 3, p + b.seqs, 3);
			expect_refused(&b, p, "seqs repeated");
		}
		free(p);
		free(b.p);
	}
}

static void
t_bad_loc(void **state)
{
	struct syn b;
	struct ksym_kallsyms_loc loc;
	struct ksyms k;
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	syn_build(&b, 0);
	loc = b.loc;
	loc.names += 8;
	loc.num_syms_off += 8;
	assert_true(ksym_load_kallsyms(b.p, b.len, &loc, &k, &e) < 0);
	loc = b.loc;
	loc.token_table = SIZE_MAX - 3;
	assert_true(ksym_load_kallsyms(b.p, b.len, &loc, &k, &e) < 0);
	loc = b.loc;
	loc.token_index = b.len + 100;
	assert_true(ksym_load_kallsyms(b.p, b.len, &loc, &k, &e) < 0);
	loc = b.loc;
	loc.base += 1;
	assert_true(ksym_load_kallsyms(b.p, b.len, &loc, &k, &e) < 0);
	assert_int_equal(ksym_load_kallsyms(NULL, 0, &loc, &k, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(ksym_find_kallsyms(b.p, b.len, NULL, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(ksym_find_kallsyms(NULL, 0, &loc, NULL),
	    VOUCH_E_NOTFOUND);
	free(b.p);
}

/* Truncations, and bit flips all over the tables. */
static void
t_mutations(void **state)
{
	struct syn b;
	struct ksym_kallsyms_loc loc;
	struct ksyms k;
	uint8_t *p;
	size_t i;

	(void)state;
	syn_build(&b, 1);
	p = malloc(b.len);
	assert_non_null(p);
	for (i = 0; i < b.len; i += 7) {
		memcpy(p, b.p, i);
		/* the token index is last: any cut through the tables fails */
		if (i < b.loc.token_index + 512)
			assert_int_equal(ksym_find_kallsyms(p, i, &loc, NULL),
			    VOUCH_E_NOTFOUND);
	}
	for (i = 0; i < b.len; i++) {
		/* every byte of the small tables; every 5th of the big ones */
		if (i % 5 != 0 && ((i >= b.loc.offsets &&
		    i < b.loc.relative_base) || (i >= b.loc.names &&
		    i < b.loc.markers) || (i >= b.seqs &&
		    i < b.loc.token_table)))
			continue;
		memcpy(p, b.p, b.len);
		p[i] ^= (uint8_t)(1u << (i % 8));
		if (ksym_find_kallsyms(p, b.len, &loc, NULL) != 0)
			continue;
		/* whatever was found must decode cleanly */
		assert_int_equal(ksym_load_kallsyms(p, b.len, &loc, &k, NULL),
		    0);
		assert_int_equal(k.n, loc.num_syms);
		ksym_free(&k);
	}
	free(p);
	free(b.p);
}

/*
 * Megabytes of nothing but digit tokens (every 20 bytes an anchor) are
 * searched in linear time, and a real table right behind them, its
 * token walk shared with the flood's, is still found.
 */
static void
t_digit_flood(void **state)
{
	static const char pat[] = "0\0" "1\0" "2\0" "3\0" "4\0" "5\0"
	    "6\0" "7\0" "8\0" "9";
	const size_t flood = 4u << 20;
	struct ksym_kallsyms_loc loc;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct syn b;
	uint8_t *p;
	size_t i;

	(void)state;
	syn_build(&b, 1);
	p = malloc(flood + b.len);
	assert_non_null(p);
	for (i = 0; i < flood; i++)
		p[i] = (uint8_t)pat[i % 20];
	assert_int_equal(ksym_find_kallsyms(p, flood, &loc, &e),
	    VOUCH_E_NOTFOUND);
	/* the flood ends in a NUL; the tables start with garbage */
	memcpy(p + flood, b.p, b.len);
	assert_int_equal(ksym_find_kallsyms(p, flood + b.len, &loc, &e), 0);
	assert_int_equal(loc.token_table, flood + b.loc.token_table);
	free(p);
	free(b.p);
}

/* --- System.map ----------------------------------------------------------- */

static const char sysmap[] =
    "0000000000000000 A fixed_percpu_data\n"
    "ffffffff81000000 T _stext\n"
    "ffffffff81000000 T _text\n"
    "ffffffff81000040 t helper\r\n"
    "ffffffff81000100 T _etext\n"
    "\n"
    "ffffffff82000000 D init_task\n"
    "ffffffff82001000 D init_pid_ns";	/* no final newline */

static void
t_system_map(void **state)
{
	struct ksyms k;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t a, off;

	(void)state;
	assert_int_equal(ksym_load_system_map(sysmap, strlen(sysmap), &k, &e),
	    0);
	assert_int_equal(k.n, 7);
	assert_int_equal(ksym_addr(&k, "init_task", &a), 0);
	assert_true(a == 0xffffffff82000000ull);
	assert_int_equal(ksym_addr(&k, "helper", &a), 0);
	assert_true(a == 0xffffffff81000040ull);
	assert_int_equal(ksym_addr(&k, "init_pid_ns", &a), 0);
	assert_true(ksym_size(&k, "init_task") == 0x1000);
	assert_true(ksym_size(&k, "_text") == 0x40);
	assert_true(ksym_size(&k, "init_pid_ns") == 0);
	assert_string_equal(ksym_name_at(&k, 0xffffffff81000050ull, &off),
	    "helper");
	assert_true(off == 0x10);
	assert_string_equal(ksym_name_at(&k, 0xffffffff81000000ull, &off),
	    "_stext");
	assert_string_equal(ksym_name_at(&k, 5, &off), "fixed_percpu_data");
	ksym_free(&k);
}

static void
t_system_map_placeholder(void **state)
{
	/* Debian's linux-image ships this file (83 bytes) */
	static const char ph[] = "ffffffffffffffff B The real System.map is "
	    "in the linux-image-<version>-dbg package\n";
	struct ksyms k = { 0 };
	struct vouch_err e = VOUCH_ERR_INIT;

	(void)state;
	assert_int_equal(strlen(ph), 83);
	assert_int_equal(ksym_load_system_map(ph, strlen(ph), &k, &e),
	    VOUCH_E_NOTFOUND);
	assert_non_null(strstr(e.msg, "placeholder"));
	assert_null(k.syms);
}

static void
t_system_map_bad(void **state)
{
	static const char *const bad[] = {
		"ffffffff81000000 T\n",
		"ffffffff81000000  T name\n",
		"zzzz T name\n",
		"11111111111111111 T name\n",	/* 17 digits */
		"ffffffff81000000 T na me\n",
		"ffffffff81000000 1 name\n",
		"ffffffff81000000 T name\tmod\n",
	};
	struct ksyms k;
	struct vouch_err e = VOUCH_ERR_INIT;
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "ffffffff81000000 T ok\n%s", bad[i]);
		assert_int_equal(ksym_load_system_map(buf, strlen(buf), &k,
		    &e), VOUCH_E_FORMAT);
		assert_non_null(strstr(e.msg, "line 2"));
	}
	/* an embedded NUL is a bad character */
	assert_int_equal(ksym_load_system_map("0 T a\0b\n", 8, &k, &e),
	    VOUCH_E_FORMAT);
	assert_int_equal(ksym_load_system_map("", 0, &k, &e),
	    VOUCH_E_NOTFOUND);
	assert_int_equal(ksym_load_system_map("\n\n", 2, &k, &e),
	    VOUCH_E_NOTFOUND);
}

static void
t_empty_lookups(void **state)
{
	struct ksyms k = { 0 };
	uint64_t a, off;

	(void)state;
	assert_int_equal(ksym_addr(&k, "x", &a), VOUCH_E_NOTFOUND);
	assert_int_equal(ksym_addr(NULL, "x", &a), VOUCH_E_NOTFOUND);
	assert_true(ksym_size(&k, "x") == 0);
	assert_null(ksym_name_at(&k, 1, &off));
	assert_null(ksym_name_at(NULL, 1, &off));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_synthetic),
		cmocka_unit_test(t_synthetic_seqs),
		cmocka_unit_test(t_corrupt),
		cmocka_unit_test(t_bad_loc),
		cmocka_unit_test(t_mutations),
		cmocka_unit_test(t_digit_flood),
		cmocka_unit_test(t_system_map),
		cmocka_unit_test(t_system_map_placeholder),
		cmocka_unit_test(t_system_map_bad),
		cmocka_unit_test(t_empty_lookups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
