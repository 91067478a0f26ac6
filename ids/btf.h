/*
 * btf.h - structure layouts from the kernel's own BTF (libbpf).
 *
 * Debian kernels carry BTF (CONFIG_DEBUG_INFO_BTF): the .BTF section of
 * vmlinux, or the bytes between __start_BTF and __stop_BTF in a running
 * guest's memory.  No debug package and no hard-coded offsets: every
 * offset the IDS uses is looked up here by name.
 *
 * Member paths may name members of anonymous structs/unions directly
 * (as C does) and may descend with '.': "pid_links", "numbers.nr",
 * "mkobj.kobj.entry".  Array members give the offset of element 0.
 */
#ifndef VOUCH_IDS_BTF_H
#define VOUCH_IDS_BTF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VMI_BTF_MAX	(64u << 20)	/* BTF blobs larger than this: E_LIMIT */

struct vmi_btf;

/* Parse a raw BTF blob (copied; data may be freed afterwards). */
int vmi_btf_load(const void *data, size_t len, struct vmi_btf **out,
    struct vouch_err *e);
/* The .BTF section of an ELF vmlinux file. */
int vmi_btf_load_elf(const char *path, struct vmi_btf **out,
    struct vouch_err *e);
void vmi_btf_free(struct vmi_btf *b);	/* NULL ok */

/*
 * Byte offset (and size, may be NULL) of member path in struct or union
 * type_name.  Bitfield members: VOUCH_E_UNSUPPORTED.  Unknown type or
 * member: VOUCH_E_NOTFOUND, naming which.
 */
int vmi_btf_offset(const struct vmi_btf *b, const char *type_name,
    const char *path, uint32_t *off, uint32_t *size, struct vouch_err *e);

/* sizeof(struct/union type_name). */
int vmi_btf_sizeof(const struct vmi_btf *b, const char *type_name,
    uint32_t *size, struct vouch_err *e);

/* Value of an enumerator (e.g. "PIDTYPE_PID", "__NR_syscalls"-style). */
int vmi_btf_enum(const struct vmi_btf *b, const char *name, int64_t *val,
    struct vouch_err *e);

#endif
