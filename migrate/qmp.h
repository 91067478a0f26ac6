/*
 * qmp.h - a QEMU Machine Protocol client (unix socket), for the QEMU
 * migration driver.
 *
 * One connection, one thread.  qmp_connect reads the greeting and
 * negotiates capabilities; qmp_exec sends one command and waits for its
 * answer, queueing the asynchronous events that arrive meanwhile (they
 * are returned later by qmp_wait_event / qmp_next_event in arrival
 * order).  Every line from QEMU is bounded (QMP_LINE_MAX) and parsed with
 * json-c; anything else is VOUCH_E_FORMAT.  A QMP error answer is
 * VOUCH_E_STATE with "class: desc" as the reason.
 */
#ifndef VOUCH_MIGRATE_QMP_H
#define VOUCH_MIGRATE_QMP_H

#include <json-c/json.h>

#include "common/err.h"

#define QMP_LINE_MAX	(1u << 20)	/* one JSON message per line */
#define QMP_EVENTS_MAX	1024		/* queued events; oldest dropped */

struct qmp;

/* Connect to the QMP unix socket at path; timeout for the handshake. */
int qmp_connect(const char *path, int timeout_ms, struct qmp **out,
    struct vouch_err *e);
void qmp_close(struct qmp *q);		/* NULL ok */

/*
 * Execute cmd with args (a JSON object, not consumed; NULL: none).  On
 * success *ret (may be NULL) gets the "return" value (caller puts it).
 */
int qmp_exec(struct qmp *q, const char *cmd, struct json_object *args,
    struct json_object **ret, int timeout_ms, struct vouch_err *e);

/*
 * Wait for the event named name (NULL: any).  Queued events are looked at
 * first; events of other names stay queued.  *ev gets the whole event
 * object ({"event", "data", "timestamp"}; caller puts it).
 * VOUCH_E_NOTFOUND on timeout.
 */
int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms,
    struct json_object **ev, struct vouch_err *e);

/* Drop every queued event. */
void qmp_clear_events(struct qmp *q);

#endif
