/*
 * order.h - the evacuation order vouch-tcbd gives a source host's vouchd,
 * and the progress records that vouchd reports back (MIG_ORDER and
 * MIG_REPORT JSON, docs/protocol.md conversation 9).
 *
 * This is the one parser of both documents: every field is checked here
 * (types, lengths, ranges, names), so vouchd and vouch-tcbd only ever see
 * validated structs.  The JSON is a single object; unknown keys are
 * refused (a typo is not silently ignored), and so are missing ones.
 *
 * Order (tcbd -> source vouchd):
 *   {"id": 17, "target": "web1", "guard": "web1-guard",
 *    "mode": "evacuate" | "manual", "strategy": "plain" | "standby",
 *    "source": "h1", "dests": ["h3", "h2"]}
 *   id 1..INT64_MAX; names: 1..ORDER_NAME_MAX-1 bytes of [A-Za-z0-9._-],
 *   not starting with '-' or '.' (VMs; guard != target) or
 *   wire host names (hosts, wire_host_name_ok); 1..COMIG_MAX_DESTS dests,
 *   best-ranked first, none equal to source, no repeats.
 *
 * Report (executing vouchd -> tcbd), one per engine event and one final:
 *   {"id": 17, "phase": "target", "done": false, "host": "h3",
 *    "t_ms": 812, "bytes": 12345, "total": 268435456, "mbps": 910.5,
 *    "final": false, "msg": "..."}
 *   final reports add: "ok": true|false, "target_paused": bool,
 *   "tries": N, "target_downtime_ms": N, "total_ms": N, "error": "...".
 *   phase is a comig_phase_name() (lower case); "host" may be "" (no
 *   destination yet); msg and error are at most ORDER_MSG_MAX-1 bytes of
 *   printable UTF-8 (no C0, DEL, C1); integers 0..INT64_MAX (tries
 *   0..COMIG_MAX_DESTS), mbps (the stream's rate in Mbit/s, as QEMU's
 *   query-migrate gives it) a finite number 0..1e9.  The final-only
 *   keys are required in a final report and refused in any other; a
 *   final report with ok and target_paused both true is refused.
 *
 * Hostile input: at most WIRE_MIG_JSON_MAX bytes, no NUL byte, strict
 * JSON (UTF-8 checked, nesting depth <= 4, nothing after the object), no
 * key twice.  The encoders decode their own output before returning it,
 * so they refuse exactly what the decoders would.
 */
#ifndef VOUCH_MIGRATE_ORDER_H
#define VOUCH_MIGRATE_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "migrate/comigrate.h"

#define ORDER_NAME_MAX	64		/* VM names, with the NUL */
#define ORDER_HOST_MAX	254		/* host names, with the NUL */
#define ORDER_MSG_MAX	256

struct mig_order {
	uint64_t	id;
	char		target[ORDER_NAME_MAX], guard[ORDER_NAME_MAX];
	enum comig_mode	mode;
	enum comig_strategy strategy;
	char		source[ORDER_HOST_MAX];
	char		dests[COMIG_MAX_DESTS][ORDER_HOST_MAX];
	size_t		ndests;
};

struct mig_report {
	uint64_t	id;
	enum comig_phase phase;
	int		done;		/* the phase ended (0: started) */
	char		host[ORDER_HOST_MAX];	/* "" = none */
	int64_t		t_ms;		/* since the executor started */
	uint64_t	bytes, total;
	double		mbps;
	char		msg[ORDER_MSG_MAX];
	int		final;		/* the last report of this migration */
	/* final reports only (zero otherwise): */
	int		ok, target_paused, tries;
	int64_t		target_downtime_ms, total_ms;
	char		error[ORDER_MSG_MAX];
};

/* 1 if s is an acceptable VM name (see above). */
int order_vm_name_ok(const char *s);

/* malloc'd JSON text of o / r (NUL-terminated, fits WIRE_MIG_JSON_MAX). */
int order_encode(const struct mig_order *o, char **json, struct vouch_err *e);
int report_encode(const struct mig_report *r, char **json,
    struct vouch_err *e);

/*
 * Parse and validate json[0..len) (need not be NUL-terminated).  Errors
 * name the offending key: "order: dests[2]: not a host name".  *o / *r
 * written only on success.
 */
int order_decode(const char *json, size_t len, struct mig_order *o,
    struct vouch_err *e);
int report_decode(const char *json, size_t len, struct mig_report *r,
    struct vouch_err *e);

/* Phase by name (comig_phase_name's inverse); -1 if unknown. */
int order_phase_from_name(const char *name);

#endif
