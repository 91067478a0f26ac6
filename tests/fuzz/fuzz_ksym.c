/*
 * libFuzzer target: ids/ksym.c.  Arbitrary bytes as guest memory (find
 * and decode kallsyms; every decoded name within the names blob) and
 * as a System.map text; then lookups on whatever was decoded.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ids/ksym.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
exercise(const struct ksyms *k)
{
	uint64_t a, off;
	size_t i;

	for (i = 0; i < k->n && i < 64; i++) {
		const struct ksym *s = &k->syms[i];
		const char *name;

		if (s->name >= k->names_len)
			__builtin_trap();
		name = k->names + s->name;
		if (memchr(name, '\0', k->names_len - s->name) == NULL)
			__builtin_trap();
		if (ksym_addr(k, name, &a) != 0)
			__builtin_trap();
		(void)ksym_size(k, name);
		if (ksym_name_at(k, s->addr, &off) == NULL)
			__builtin_trap();
		if (i > 0 && k->syms[i - 1].addr > s->addr)
			__builtin_trap();
	}
	(void)ksym_name_at(k, 0, &off);
	(void)ksym_name_at(k, UINT64_MAX, &off);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ksym_kallsyms_loc loc;
	struct ksyms k;

	if (ksym_find_kallsyms(data, size, &loc, NULL) == 0) {
		if (ksym_load_kallsyms(data, size, &loc, &k, NULL) != 0)
			__builtin_trap();	/* found sets must decode */
		if (k.n != loc.num_syms)
			__builtin_trap();
		exercise(&k);
		ksym_free(&k);
	}
	if (ksym_load_system_map((const char *)data, size, &k, NULL) == 0) {
		exercise(&k);
		ksym_free(&k);
	}
	return 0;
}
