/*
 * agent_conf.h - vouchd's configuration (libconfig), read once at
 * start-up, validated completely, handed on as one structure.  Unknown
 * keys, wrong types, out-of-range values and inconsistencies are errors
 * "file:line: field: message".  Example (every path absolute):
 *
 *	host        = "h1";                       this host; a region host
 *	tcti        = "device:/dev/tpmrm0";       optional (tpm.h default)
 *	state_dir   = "/var/lib/vouch";           AK files (tpm.h layout),
 *	                                          verifier history
 *	listen      = "127.0.0.1:7001";           optional: default the
 *	                                          host's addr:port in region
 *	region      = "/etc/vouch/region.cfg";    common/region.h
 *	policy      = "/etc/vouch/policy.cfg";    attest/policy.h
 *	tls = { cert = "/etc/vouch/h1.pem"; key = "/etc/vouch/h1.key";
 *	        ca = "/etc/vouch/ca.pem"; };
 *	eventlog    = "/sys/kernel/security/tpm0/binary_bios_measurements";
 *	                                          optional
 *	runtime_log = "/var/lib/vouch/runtime_measurements";
 *	                                          optional: default
 *	                                          state_dir/runtime_measurements
 *	interval    = 30;                         optional, 1..86400 s:
 *	                                          default the policy's
 *	                                          measure.interval
 *	lab = { enabled = true; lie = "fail"; };  optional, tests only
 *
 * The lab fault switch: lab.lie = "fail" makes every verdict FAIL,
 * "pass" makes every verdict PASS ("none", the default: honest).  It
 * exists so tests can prove that a lying neighbour cannot evict a healthy
 * host.  It is honoured only with lab.enabled = true AND a region whose
 * name starts with "lab"; anything else with lab.enabled or a lie set is
 * a configuration error, so a production host cannot be made to lie by a
 * config typo.
 *
 * The region and policy files are loaded and validated here too (so
 * `vouchd -n` checks everything vouchd will use); the host must be a
 * member of the region.
 */
#ifndef VOUCH_AGENT_CONF_H
#define VOUCH_AGENT_CONF_H

#include <stdint.h>
#include <stdio.h>
#include <limits.h>

#include "common/err.h"
#include "common/region.h"
#include "attest/policy.h"

#define AGENT_INTERVAL_MAX	86400
#define AGENT_TCTI_MAX		255

enum agent_lie {
	AGENT_LIE_NONE = 0,	/* honest */
	AGENT_LIE_FAIL,		/* every verdict FAIL (lab only) */
	AGENT_LIE_PASS,		/* every verdict PASS (lab only) */
};

struct agent_conf {
	char		 path[PATH_MAX];	/* the config file */
	char		 host[REGION_NAME_MAX + 1];
	char		 tcti[AGENT_TCTI_MAX + 1];	/* "" = tpm.h default */
	char		 state_dir[PATH_MAX];
	char		 listen_addr[REGION_ADDR_MAX + 1];
	uint16_t	 listen_port;
	char		 region_path[PATH_MAX];
	char		 policy_path[PATH_MAX];
	char		 tls_cert[PATH_MAX];
	char		 tls_key[PATH_MAX];
	char		 tls_ca[PATH_MAX];
	char		 eventlog[PATH_MAX];		/* "" = none */
	char		 runtime_log[PATH_MAX];
	unsigned	 interval;			/* seconds */
	int		 lab;				/* lab.enabled */
	enum agent_lie	 lie;
	struct region	*region;			/* owned */
	struct policy	*policy;			/* owned */
};

/* Load and validate path; *out (free with agent_conf_free) on success. */
int agent_conf_load(const char *path, struct agent_conf **out,
    struct vouch_err *e);
/* Same from text (name is used in messages); paths inside are real files. */
int agent_conf_load_string(const char *name, const char *text,
    struct agent_conf **out, struct vouch_err *e);
void agent_conf_free(struct agent_conf *c);	/* NULL ok */

/* The effective configuration (defaults filled in), libconfig syntax. */
void agent_conf_print(const struct agent_conf *c, FILE *f);

/* "none", "fail", "pass". */
const char *agent_lie_name(enum agent_lie lie);

#endif
