/*
 * region.h - the region's topology: who is in it and where to reach them.
 * Shared configuration of vouchd and vouch-tcbd (libconfig, validated
 * completely; errors name file:line: field):
 *
 *	region = {
 *	  name = "lab";
 *	  tcbd = { name = "tcbd"; addr = "127.0.0.1"; port = 7000; };
 *	  hosts = (
 *	    { name = "h1"; addr = "127.0.0.1"; port = 7001; },
 *	    { name = "h2"; addr = "10.0.0.2";  port = 7001; }
 *	  );
 *	};
 *
 * Names are lower-case DNS names (wire_host_name_ok): they are the TLS
 * identities.  Names and (addr, port) pairs are unique.
 */
#ifndef VOUCH_REGION_H
#define VOUCH_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define REGION_MAX_HOSTS	4096
#define REGION_NAME_MAX		253
#define REGION_ADDR_MAX		63

struct region_host {
	char		name[REGION_NAME_MAX + 1];
	char		addr[REGION_ADDR_MAX + 1];	/* numeric IPv4/IPv6 */
	uint16_t	port;
};

struct region;

int region_load(const char *path, struct region **out, struct vouch_err *e);
int region_load_string(const char *name, const char *text, struct region **out,
    struct vouch_err *e);
void region_free(struct region *r);	/* NULL ok */

const char *region_name(const struct region *r);
const struct region_host *region_tcbd(const struct region *r);
size_t region_count(const struct region *r);
const struct region_host *region_get(const struct region *r, size_t i);
/* NULL if name is not a host of the region (the tcbd is not a host). */
const struct region_host *region_find(const struct region *r, const char *name);

#endif
