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
 *	migration = {                             optional: without it
 *	    hook = "/usr/libexec/vouch/vmhook";   vouchd refuses MIG_ORDER
 *	    hook_args = [ "/srv/vms" ];           optional, <= 16 strings
 *	    strategy = "any";                     optional: which order
 *	                                          strategies this host runs,
 *	                                          "plain", "standby" or "any"
 *	    stream_timeout = 600;                 optional, s per stream
 *	    max_bw = 0;                           optional, bytes/s per
 *	                                          stream, 0 = unlimited
 *	    hook_timeout = 300;                   optional, s per hook call
 *	};
 *
 * The migration section configures the evacuation executor
 * (attest/evacuate.h, docs/evacuation.md): the site hook is run with
 * fork + execve (never a shell) as  hook hook_args... VERB ARGS...
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
#define AGENT_HOOK_ARGS_MAX	16
#define AGENT_HOOK_ARG_LEN	1024	/* per hook argument, with the NUL */
#define AGENT_STREAM_TIMEOUT_MAX 86400
#define AGENT_HOOK_TIMEOUT_MAX	3600

enum agent_lie {
	AGENT_LIE_NONE = 0,	/* honest */
	AGENT_LIE_FAIL,		/* every verdict FAIL (lab only) */
	AGENT_LIE_PASS,		/* every verdict PASS (lab only) */
};

/* Which order strategies (migrate/order.h) this host executes. */
enum agent_mig_strategy {
	AGENT_MIG_ANY = 0,
	AGENT_MIG_PLAIN,
	AGENT_MIG_STANDBY,
};

/* The migration section (all zero: absent). */
struct agent_migration {
	int		 enabled;		/* the section is present */
	char		 hook[PATH_MAX];
	char		 hook_args[AGENT_HOOK_ARGS_MAX][AGENT_HOOK_ARG_LEN];
	size_t		 nhook_args;
	enum agent_mig_strategy strategy;
	unsigned	 stream_timeout;	/* seconds, default 600 */
	uint64_t	 max_bw;		/* bytes/s, 0 = unlimited */
	unsigned	 hook_timeout;		/* seconds, default 300 */
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
	struct agent_migration migration;
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

/* "any", "plain", "standby". */
const char *agent_mig_strategy_name(enum agent_mig_strategy s);

/* "none", "fail", "pass". */
const char *agent_lie_name(enum agent_lie lie);

#endif
