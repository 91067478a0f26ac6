/*
 * guard.h - a guard: one target VM, its checks, its baseline, its state.
 *
 * The pairing comes from the guard policy (libconfig, docs/guards.md):
 *
 *	version = 1;
 *	guards = (
 *	  { target = "web1";			  name of the target VM
 *	    memory = "qemu-file:/dev/shm/web1";	  ids/mem.h spec
 *	    vmlinux = "/var/lib/vouch/vmlinux";	  optional (ids/linux.h)
 *	    system_map = "...";			  optional
 *	    checks = [ "processes", "hidden_processes", "syscall_table",
 *	               "idt", "kernel_text", "modules", "shared_cred" ];
 *	    period_ms = 100;			  10 .. 3600000
 *	    repair = false;			  write repairs into guest memory
 *	    state = "/var/lib/vouch/guard/web1.json";  baseline + last findings
 *	  } );
 *
 * Unknown keys, wrong types, unknown check names, duplicate targets:
 * VOUCH_E_CONFIG with file:line and the field (common/conf.h).
 *
 * State (JSON, written atomically; the co-migration moves it):
 *	{ "version": 1, "target": "web1", "release": "6.1.0-56-amd64",
 *	  "paired_at": "<RFC 3339>", "slide": "0x...",
 *	  "baseline": { "syscalls": ["0x...", ...], "idt": ["0x...", ...],
 *	                "text": {"start": "0x...", "end": "0x...",
 *	                         "pages": ["<sha256 hex>", ...]},
 *	                "rodata": { same } },
 *	  "runs": N, "last_run": "<RFC 3339>",
 *	  "last_findings": [ <finding objects as below> ] }
 *
 * A finding as a JSON object (one per line in the findings stream):
 *	{ "time": "...", "target": "web1", "check": "syscall_table",
 *	  "type": "syscall_hook", "critical": true, "index": 39, "pid": -1,
 *	  "addr": "0x...", "expected": "0x...", "actual": "0x...",
 *	  "expected_sym": "__x64_sys_getpid", "actual_sym": "__x64_sys_getppid+0x0",
 *	  "detail": "..." }
 */
#ifndef VOUCH_IDS_GUARD_H
#define VOUCH_IDS_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "ids/checks.h"
#include "ids/linux.h"
#include "ids/mem.h"

#define GUARD_MAX_GUARDS	256
#define GUARD_PERIOD_MIN_MS	10u
#define GUARD_PERIOD_MAX_MS	3600000u
#define GUARD_DEFAULT_POLICY	"/etc/vouch/guards.cfg"
#define GUARD_DEFAULT_PERIOD_MS	1000u
/* Limits of a state file (hostile input: guard_state_load). */
#define GUARD_STATE_MAX_BYTES	(64u << 20)
#define GUARD_STATE_MAX_PAGES	262144u		/* 1 GiB of .text or .rodata */
#define GUARD_STATE_MAX_FINDINGS 4096u

struct guard_conf {
	char		target[64];
	char		memory[256];
	char		vmlinux[256];		/* "" if none */
	char		system_map[256];	/* "" if none */
	unsigned	checks;			/* VMI_CHECK_* mask */
	unsigned	period_ms;
	int		repair;
	char		state[256];		/* "" = no state file */
};

struct guard_policy {
	struct guard_conf *g;
	size_t		n;
};
int guard_policy_load(const char *path, struct guard_policy *p,
    struct vouch_err *e);
int guard_policy_load_string(const char *name, const char *text,
    struct guard_policy *p, struct vouch_err *e);
void guard_policy_free(struct guard_policy *p);
const struct guard_conf *guard_policy_find(const struct guard_policy *p,
    const char *target);

struct guard {
	struct guard_conf conf;
	struct vmi_mem	*mem;
	struct vmi_linux *lx;
	struct vmi_baseline base;
	int		have_base;
	uint64_t	runs;
	int		detached;	/* memory closed (guard_detach) */
	struct vmi_findings last;	/* findings of the last run */
	struct vmi_run_stats last_stats;
	int64_t		paired_at_ms;	/* when the baseline was taken (Unix ms) */
	int64_t		last_run_ms;	/* end of the last run (or of the
					   verification in guard_open); 0 = never */
};

/*
 * Open the target's memory (writable iff conf->repair) and build the
 * profile.  Loads conf->state if it exists (its baseline is verified
 * against the running guest's text: findings go to *f); otherwise takes
 * a new baseline and writes the state.
 */
int guard_open(const struct guard_conf *conf, struct guard **out,
    struct vmi_findings *f, struct vouch_err *e);
void guard_close(struct guard *g);

/*
 * Close the guest memory but keep everything else (profile, baseline
 * with its page copies, findings): the guard's window can be unplugged,
 * e.g. before the guard VM migrates.  guard_run refuses while detached.
 */
void guard_detach(struct guard *g);
/*
 * Reopen conf->memory (the window re-plugged, possibly onto the target's
 * destination memory) and verify the target before anything else: the
 * profile is re-validated (vmi_linux_rebind; rebuilt only if the kernel
 * moved, which a migration never does), then the syscall table, the IDT
 * and kernel .text/.rodata are compared with the baseline (memcmp against
 * the baseline's page copies, pages that differ hashed).  Findings of
 * that verification go to *f (its caller decides: a target with findings
 * must not resume).
 */
int guard_reattach(struct guard *g, struct vmi_findings *f,
    struct vouch_err *e);

/*
 * One run of the enabled checks.  With repair on, a syscall-table entry
 * that differs from the baseline is written back and a VMI_F_REPAIRED
 * finding added (guest memory is never written with repair off).
 * Findings of this run are in g->last.
 */
int guard_run(struct guard *g, struct vouch_err *e);

/*
 * Write one finding as a single-line JSON object (no newline).  "time" is
 * g->last_run_ms (now if 0); expected_sym/actual_sym are given for
 * syscall and IDT findings when g->lx has symbols.
 */
void guard_finding_json(const struct guard *g, const struct vmi_finding *x,
    FILE *out);

/*
 * State to/from a JSON file.  Save writes atomically (file_write_atomic,
 * mode 0600).  Load replaces g->base, g->runs, g->last, g->paired_at_ms
 * and g->last_run_ms only on success; every field is validated (hex
 * lengths, page counts against the ranges, limits above) and an error
 * names the field.  If g->conf.target is set, the state's target must
 * equal it.  The release/slide check against the running guest is
 * guard_open's.
 */
int guard_state_save(const struct guard *g, const char *path,
    struct vouch_err *e);
int guard_state_load(struct guard *g, const char *path, struct vouch_err *e);

#endif
