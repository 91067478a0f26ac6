/*
 * ksym.h - kernel symbols without debug packages.
 *
 * Two sources, one table:
 *  - the kernel's own kallsyms tables (CONFIG_KALLSYMS_BASE_RELATIVE,
 *    6.1 layout: kallsyms_offsets, _relative_base, _num_syms, _names,
 *    _markers, _token_table, _token_index; KALLSYMS_ABSOLUTE_PERCPU
 *    honoured), located by their structure in any byte buffer: the
 *    stripped vmlinux Debian ships inside vmlinuz, or a window of guest
 *    physical memory.  Addresses come out exactly as the tables hold
 *    them: unslid from an image file, slid (KASLR) from a running guest,
 *    because kallsyms_relative_base is relocated at boot.
 *  - a real System.map ("ADDR TYPE NAME" lines).  Debian's linux-image
 *    ships an 83-byte placeholder; it is recognised and refused with
 *    VOUCH_E_NOTFOUND ("placeholder System.map") so callers fall back.
 *
 * Every table index, offset and length read from the buffer is bounds-
 * checked against the buffer; the decoder never follows a value it has
 * not checked (the buffer may be hostile guest memory).
 */
#ifndef VOUCH_IDS_KSYM_H
#define VOUCH_IDS_KSYM_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define KSYM_MAX_SYMS	(1u << 21)	/* 2M symbols: hard limit */
#define KSYM_NAME_MAX	512

struct ksym {
	uint64_t	addr;
	uint32_t	name;	/* offset into ksyms.names */
	char		type;	/* nm letter: T t D d R r B b A ... */
};

struct ksyms {
	struct ksym	*syms;		/* sorted by addr, then name */
	size_t		n;
	char		*names;		/* NUL-separated */
	size_t		names_len;
	uint32_t	*by_name;	/* indices into syms, sorted by name */
};

/* Where the kallsyms tables sit in the searched buffer (byte offsets). */
struct ksym_kallsyms_loc {
	size_t		offsets;	/* kallsyms_offsets */
	size_t		relative_base;	/* kallsyms_relative_base (u64) */
	size_t		num_syms_off;	/* kallsyms_num_syms */
	size_t		names;		/* kallsyms_names */
	size_t		markers;	/* kallsyms_markers */
	size_t		token_table;	/* kallsyms_token_table */
	size_t		token_index;	/* kallsyms_token_index */
	uint64_t	base;		/* value of kallsyms_relative_base */
	uint32_t	num_syms;
};

/*
 * Find the kallsyms tables in buf[0..len).  VOUCH_E_NOTFOUND if no
 * consistent set is there.  Deterministic: the first consistent set.
 */
int ksym_find_kallsyms(const uint8_t *buf, size_t len,
    struct ksym_kallsyms_loc *loc, struct vouch_err *e);

/* Decode the tables found by ksym_find_kallsyms into *out. */
int ksym_load_kallsyms(const uint8_t *buf, size_t len,
    const struct ksym_kallsyms_loc *loc, struct ksyms *out,
    struct vouch_err *e);

/* Parse a System.map text (len bytes, NUL not required). */
int ksym_load_system_map(const char *text, size_t len, struct ksyms *out,
    struct vouch_err *e);

/* Address of name: 0, or VOUCH_E_NOTFOUND.  O(log n). */
int ksym_addr(const struct ksyms *s, const char *name, uint64_t *addr);

/*
 * Size of the object at name: the distance to the next symbol with a
 * higher address (0 if name is unknown or the last symbol).
 */
uint64_t ksym_size(const struct ksyms *s, const char *name);

/*
 * The symbol containing addr (the highest symbol <= addr), its offset
 * in *off; NULL if addr is below every symbol.  For findings ("now points
 * to evil_read+0x10").
 */
const char *ksym_name_at(const struct ksyms *s, uint64_t addr, uint64_t *off);

void ksym_free(struct ksyms *s);	/* NULL ok; leaves *s zeroed */

#endif
