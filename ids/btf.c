/*
 * btf.c - structure layouts from kernel BTF, on libbpf.
 *
 * libbpf parses and sanity-checks the blob (btf__new copies it); this
 * file adds the lookups the IDS needs and the .BTF extraction from an
 * ELF vmlinux, done here with explicit bounds so a damaged file gives
 * our own error instead of whatever libbpf's loader would print.
 *
 * Walks over types (modifier chains, anonymous members) are bounded by
 * depth limits: a hostile blob with a type cycle ends in VOUCH_E_FORMAT.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "ids/btf.h"

#define BTF_MOD_DEPTH	64	/* typedef/const/volatile/array chain */
#define BTF_ANON_DEPTH	32	/* anonymous struct/union nesting */
#define BTF_VISIT_MAX	(1u << 20)	/* members looked at per lookup */
#define BTF_PATH_MAX	256	/* member path length */
#define ELF_MAX_SHNUM	4096
#define ELF_SHSTR_MAX	(1u << 20)

struct vmi_btf {
	struct btf	*btf;
};

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static void
quiet_libbpf(void)
{
	/* library code never prints, libbpf included */
	(void)libbpf_set_print(NULL);
}

int
vmi_btf_load(const void *data, size_t len, struct vmi_btf **out,
    struct vouch_err *e)
{
	struct vmi_btf *b;
	int err;

	if (data == NULL || out == NULL || len == 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "no BTF data");
	if (len > VMI_BTF_MAX)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "BTF blob of %zu bytes (limit %u)", len,
		    (unsigned)VMI_BTF_MAX);
	(void)pthread_once(&quiet_once, quiet_libbpf);
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	errno = 0;
	b->btf = btf__new(data, (__u32)len);
	if (b->btf == NULL) {
		err = errno;
		free(b);
		if (err == ENOMEM)
			return vouch_err_set(e, VOUCH_E_NOMEM,
			    "out of memory parsing BTF");
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "BTF blob of %zu bytes rejected by libbpf: %s", len,
		    strerror(err != 0 ? err : EINVAL));
	}
	*out = b;
	return 0;
}

void
vmi_btf_free(struct vmi_btf *b)
{
	if (b == NULL)
		return;
	btf__free(b->btf);
	free(b);
}

/* --- ELF: find .BTF ------------------------------------------------------ */

static int
pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path,
    const char *what, struct vouch_err *e)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done,
		    (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vouch_err_set(e, VOUCH_E_IO, "%s: reading %s: %s",
			    path, what, strerror(errno));
		if (r == 0)
			return vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "%s: file ends in %s", path, what);
		done += (size_t)r;
	}
	return 0;
}

/* off + n within size, without overflow. */
static int
in_file(uint64_t off, uint64_t n, uint64_t size)
{
	return off <= size && n <= size - off;
}

int
vmi_btf_load_elf(const char *path, struct vmi_btf **out,
    struct vouch_err *e)
{
	Elf64_Ehdr eh;
	Elf64_Shdr *sh = NULL, *btf_sh = NULL;
	char *shstr = NULL;
	uint8_t *blob = NULL;
	struct stat st;
	uint64_t fsize, shstr_size;
	size_t i;
	int fd, r;

	if (path == NULL || out == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "no path or output");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = vouch_err_set(e, VOUCH_E_IO, "%s: not a regular file",
		    path);
		goto out;
	}
	fsize = (uint64_t)st.st_size;
	if ((r = pread_all(fd, &eh, sizeof(eh), 0, path, "the ELF header",
	    e)) < 0)
		goto out;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s: not an ELF file",
		    path);
		goto out;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB) {
		r = vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "%s: not a little-endian ELF64 file", path);
		goto out;
	}
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shnum > ELF_MAX_SHNUM || eh.e_shstrndx == SHN_UNDEF ||
	    eh.e_shstrndx >= eh.e_shnum ||
	    !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr),
	    fsize)) {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: bad section header table (shoff %llu, shnum %u, "
		    "shentsize %u, shstrndx %u)", path,
		    (unsigned long long)eh.e_shoff, eh.e_shnum,
		    eh.e_shentsize, eh.e_shstrndx);
		goto out;
	}
	if ((sh = calloc(eh.e_shnum, sizeof(*sh))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = pread_all(fd, sh, eh.e_shnum * sizeof(*sh), eh.e_shoff,
	    path, "the section headers", e)) < 0)
		goto out;
	shstr_size = sh[eh.e_shstrndx].sh_size;
	if (sh[eh.e_shstrndx].sh_type != SHT_STRTAB || shstr_size == 0 ||
	    shstr_size > ELF_SHSTR_MAX ||
	    !in_file(sh[eh.e_shstrndx].sh_offset, shstr_size, fsize)) {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: bad section name table", path);
		goto out;
	}
	if ((shstr = malloc(shstr_size + 1)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = pread_all(fd, shstr, shstr_size,
	    sh[eh.e_shstrndx].sh_offset, path, "section names", e)) < 0)
		goto out;
	shstr[shstr_size] = '\0';
	for (i = 0; i < eh.e_shnum; i++) {
		if (sh[i].sh_name >= shstr_size ||
		    strcmp(shstr + sh[i].sh_name, ".BTF") != 0)
			continue;
		if (btf_sh != NULL) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "%s: two .BTF sections", path);
			goto out;
		}
		btf_sh = &sh[i];
	}
	if (btf_sh == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOTFOUND,
		    "%s: no .BTF section (kernel without "
		    "CONFIG_DEBUG_INFO_BTF?)", path);
		goto out;
	}
	if (btf_sh->sh_type != SHT_PROGBITS || btf_sh->sh_size == 0 ||
	    !in_file(btf_sh->sh_offset, btf_sh->sh_size, fsize)) {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: .BTF section outside the file or empty", path);
		goto out;
	}
	if (btf_sh->sh_size > VMI_BTF_MAX) {
		r = vouch_err_set(e, VOUCH_E_LIMIT,
		    "%s: .BTF is %llu bytes (limit %u)", path,
		    (unsigned long long)btf_sh->sh_size,
		    (unsigned)VMI_BTF_MAX);
		goto out;
	}
	if ((blob = malloc(btf_sh->sh_size)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = pread_all(fd, blob, btf_sh->sh_size, btf_sh->sh_offset,
	    path, ".BTF", e)) < 0)
		goto out;
	if ((r = vmi_btf_load(blob, btf_sh->sh_size, out, e)) < 0)
		(void)vouch_err_prefix(e, "%s", path);
out:
	free(blob);
	free(shstr);
	free(sh);
	close(fd);
	return r;
}

/* --- lookups ------------------------------------------------------------- */

/*
 * Follow typedef/const/volatile/restrict/type tags, and arrays to their
 * element type when through_arrays, to the type that matters.
 */
static int
strip(const struct btf *btf, uint32_t id, int through_arrays, uint32_t *out)
{
	int depth;

	for (depth = 0; depth < BTF_MOD_DEPTH; depth++) {
		const struct btf_type *t = btf__type_by_id(btf, id);

		if (t == NULL)
			return -1;
		if (btf_is_mod(t) || btf_is_typedef(t))
			id = t->type;
		else if (through_arrays && btf_is_array(t))
			id = btf_array(t)->type;
		else {
			*out = id;
			return 0;
		}
	}
	return -1;
}

/* A struct or union named name (or a typedef of one). */
static int
find_composite(const struct btf *btf, const char *name, uint32_t *id,
    struct vouch_err *e)
{
	__s32 r;
	uint32_t s;

	if ((r = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT)) > 0 ||
	    (r = btf__find_by_name_kind(btf, name, BTF_KIND_UNION)) > 0) {
		*id = (uint32_t)r;
		return 0;
	}
	if ((r = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF)) > 0 &&
	    strip(btf, (uint32_t)r, 0, &s) == 0 &&
	    btf_is_composite(btf__type_by_id(btf, s))) {
		*id = s;
		return 0;
	}
	return vouch_err_set(e, VOUCH_E_NOTFOUND,
	    "BTF: no struct or union \"%s\"", name);
}

/*
 * Member name (namelen bytes) of composite type id, looking through
 * anonymous struct/union members.  *bits gets its bit offset, *mid its
 * type.  1 found, 0 not found, <0 error.  *budget bounds the members
 * visited: anonymous members sharing types could otherwise make a
 * hostile blob's search exponential.
 */
static int
find_member(const struct btf *btf, uint32_t id, const char *name,
    size_t namelen, int depth, uint64_t *bits, uint32_t *mid, int *bitfield,
    uint32_t *budget)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_member *m;
	uint16_t i, n;

	if (t == NULL || !btf_is_composite(t) || depth > BTF_ANON_DEPTH)
		return -1;
	m = btf_members(t);
	n = btf_vlen(t);
	for (i = 0; i < n; i++, m++) {
		uint32_t bo = btf_member_bit_offset(t, i);

		if (*budget == 0)
			return -1;
		(*budget)--;

		if (m->name_off != 0) {
			const char *mn = btf__name_by_offset(btf, m->name_off);

			if (mn == NULL || strlen(mn) != namelen ||
			    memcmp(mn, name, namelen) != 0)
				continue;
			*bits = bo;
			*mid = m->type;
			*bitfield = btf_member_bitfield_size(t, i) != 0 ||
			    bo % 8 != 0;
			return 1;
		} else {
			uint32_t sub;
			uint64_t subbits;
			int r;

			if (strip(btf, m->type, 0, &sub) < 0)
				return -1;
			if (!btf_is_composite(btf__type_by_id(btf, sub)))
				continue;
			r = find_member(btf, sub, name, namelen, depth + 1,
			    &subbits, mid, bitfield, budget);
			if (r < 0)
				return r;
			if (r == 1) {
				*bits = bo + subbits;
				return 1;
			}
		}
	}
	return 0;
}

int
vmi_btf_offset(const struct vmi_btf *b, const char *type_name,
    const char *path, uint32_t *off, uint32_t *size, struct vouch_err *e)
{
	const char *p, *dot;
	uint64_t bits = 0;
	uint32_t id, mid = 0;
	__s64 sz;
	int r;

	if (b == NULL || type_name == NULL || path == NULL || off == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "missing argument");
	if (path[0] == '\0' || strlen(path) > BTF_PATH_MAX)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "BTF: bad member path for %s", type_name);
	if ((r = find_composite(b->btf, type_name, &id, e)) < 0)
		return r;
	for (p = path;; p = dot + 1) {
		uint64_t mbits;
		uint32_t budget = BTF_VISIT_MAX;
		size_t n;
		int bitfield = 0;

		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n == 0)
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "BTF: empty component in \"%s\"", path);
		r = find_member(b->btf, id, p, n, 0, &mbits, &mid, &bitfield,
		    &budget);
		if (r < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "BTF: %s.%s: broken type information", type_name,
			    path);
		if (r == 0)
			return vouch_err_set(e, VOUCH_E_NOTFOUND,
			    "BTF: %s has no member \"%.*s\" (in \"%s\")",
			    type_name, (int)n, p, path);
		if (bitfield)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
			    "BTF: %s.%s: \"%.*s\" is a bitfield", type_name,
			    path, (int)n, p);
		bits += mbits;
		if (dot == NULL)
			break;
		/* descend: through typedefs, modifiers and arrays (elem 0) */
		if (strip(b->btf, mid, 1, &id) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "BTF: %s.%s: broken type information", type_name,
			    path);
		if (!btf_is_composite(btf__type_by_id(b->btf, id)))
			return vouch_err_set(e, VOUCH_E_NOTFOUND,
			    "BTF: %s.%s: \"%.*s\" is not a struct or union",
			    type_name, path, (int)n, p);
	}
	if (bits / 8 > UINT32_MAX)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "BTF: %s.%s: offset out of range", type_name, path);
	sz = btf__resolve_size(b->btf, mid);
	if (sz < 0 || sz > UINT32_MAX)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "BTF: %s.%s: member has no size", type_name, path);
	*off = (uint32_t)(bits / 8);
	if (size != NULL)
		*size = (uint32_t)sz;
	return 0;
}

int
vmi_btf_sizeof(const struct vmi_btf *b, const char *type_name,
    uint32_t *size, struct vouch_err *e)
{
	const struct btf_type *t;
	uint32_t id;
	int r;

	if (b == NULL || type_name == NULL || size == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "missing argument");
	if ((r = find_composite(b->btf, type_name, &id, e)) < 0)
		return r;
	t = btf__type_by_id(b->btf, id);
	*size = t->size;
	return 0;
}

int
vmi_btf_enum(const struct vmi_btf *b, const char *name, int64_t *val,
    struct vouch_err *e)
{
	uint32_t id, n;
	uint16_t i;

	if (b == NULL || name == NULL || val == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "missing argument");
	n = btf__type_cnt(b->btf);
	for (id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(b->btf, id);
		const char *en;

		if (t == NULL)
			continue;
		if (btf_is_enum(t)) {
			const struct btf_enum *v = btf_enum(t);

			for (i = 0; i < btf_vlen(t); i++, v++) {
				en = btf__name_by_offset(b->btf, v->name_off);
				if (en == NULL || strcmp(en, name) != 0)
					continue;
				/* kflag: signed; else the 32 bits unsigned */
				*val = btf_kflag(t) ? (int64_t)v->val :
				    (int64_t)(uint32_t)v->val;
				return 0;
			}
		} else if (btf_is_enum64(t)) {
			const struct btf_enum64 *v = btf_enum64(t);

			for (i = 0; i < btf_vlen(t); i++, v++) {
				en = btf__name_by_offset(b->btf, v->name_off);
				if (en == NULL || strcmp(en, name) != 0)
					continue;
				*val = (int64_t)btf_enum64_value(v);
				return 0;
			}
		}
	}
	return vouch_err_set(e, VOUCH_E_NOTFOUND,
	    "BTF: no enumerator \"%s\"", name);
}
