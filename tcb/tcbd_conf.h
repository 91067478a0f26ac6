/*
 * tcbd_conf.h - the configuration file of vouch-tcbd (libconfig), read
 * once at start-up and validated completely: unknown keys, wrong types
 * and out-of-range values are errors naming file:line: field.
 *
 *	name = "tcbd";                      TLS identity; region.cfg's tcbd.name
 *	region = "/etc/vouch/region.cfg";   topology (common/region.h)
 *	policy = "/etc/vouch/policy.cfg";   attestation policy (attest/policy.h)
 *	store = "sqlite:/var/lib/vouch/ivt.db";
 *	admin_socket = "/run/vouch/tcbd.sock";
 *	tls = { cert = "..."; key = "..."; ca = "..."; };
 *	ek_ca = "/etc/vouch/ek-ca.pem";     absent: EK certs NOT checked (lab)
 *	admins = [ "admin" ];               certificate names allowed to ask
 *	                                    STATUS_REQUEST over mutual TLS
 *	interval = 30;                      seconds per epoch (1..3600)
 *	freshness = 90;                     seconds a PASS counts (>= interval)
 *	neighbours = 2; quorum = 2; quorum_min = 1;
 *	max_connections = 256;              concurrent TLS clients
 *	rank = { w_fresh = 40; w_history = 20; w_capacity = 30;
 *	         w_suspect = 50; streak_cap = 20; fit_cap = 4;
 *	         suspect_window = 3600; };  seconds
 *	on_untrusted = "/usr/local/sbin/vouch-evacuate";  run as HOOK HOST REASON
 *	evacuation = { strategy = "plain";  "plain" | "standby" (migrate/)
 *	               report_timeout = 120; s without a report: LOST (5..86400)
 *	               host_vcpus = 0;       each host's capacity for protected
 *	               host_mib = 0; };      pairs; 0: not a constraint
 *	lab = { allow_faults = false; };    test-only switches (see the man page)
 *
 * Only name, region, policy, store and tls are required.  Relative paths
 * are taken relative to the configuration file's directory, so a lab
 * directory can be moved.  The listening address and port are the
 * region's tcbd entry: one place says where the RC-TCB is.
 */
#ifndef VOUCH_TCBD_CONF_H
#define VOUCH_TCBD_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "tcb/ivt.h"
#include "tcb/rank.h"

#define TCBD_PATH_MAX		1024
#define TCBD_ADMINS_MAX		16
#define TCBD_DEFAULT_SOCKET	"/run/vouch/tcbd.sock"
#define TCBD_DEFAULT_MAXCONN	256

struct tcbd_conf {
	char			name[IVT_NAME_MAX + 1];
	char			path[TCBD_PATH_MAX];	/* the file itself */
	char			region[TCBD_PATH_MAX];
	char			policy[TCBD_PATH_MAX];
	char			store[TCBD_PATH_MAX];
	char			admin_socket[TCBD_PATH_MAX];
	char			tls_cert[TCBD_PATH_MAX];
	char			tls_key[TCBD_PATH_MAX];
	char			tls_ca[TCBD_PATH_MAX];
	char			ek_ca[TCBD_PATH_MAX];	/* "": not checked */
	char			on_untrusted[TCBD_PATH_MAX];	/* "": none */
	char			admins[TCBD_ADMINS_MAX][IVT_NAME_MAX + 1];
	unsigned		nadmins;
	unsigned		max_connections;
	struct ivt_config	ivt;		/* interval, freshness, quorum */
	struct rank_weights	rank;
	int			allow_faults;	/* lab.allow_faults */
	/* evacuation (docs/tcb.md, "Evacuation") */
	int			evac_standby;	/* strategy: 0 plain, 1 standby */
	unsigned		evac_report_timeout;	/* s */
	unsigned		evac_host_vcpus;	/* 0: unconstrained */
	unsigned long long	evac_host_mib;		/* 0: unconstrained */
};

#define TCBD_DEFAULT_REPORT_TIMEOUT	120

/* Defaults for everything optional (the values in the comment above). */
void tcbd_conf_default(struct tcbd_conf *c);

/* Parse and validate; *out only on success. */
int tcbd_conf_load(const char *path, struct tcbd_conf *out,
    struct vouch_err *e);
int tcbd_conf_load_string(const char *name, const char *text,
    struct tcbd_conf *out, struct vouch_err *e);

/* The effective configuration in the file's own syntax (-nv). */
void tcbd_conf_print(const struct tcbd_conf *c, FILE *f);

/* 1 if name may ask STATUS_REQUEST over mutual TLS. */
int tcbd_conf_is_admin(const struct tcbd_conf *c, const char *name);

#endif
