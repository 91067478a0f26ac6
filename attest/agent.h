/*
 * agent.h - vouchd's logic as a library: the host side of every region
 * conversation (docs/protocol.md, "Conversations").  The daemon
 * (daemons/vouchd.c) only parses options, runs threads and logs; every
 * step here returns what happened and never logs.
 *
 *	start-up	agent_priv_new (privileged): TPM + AK, runtime log
 *			reconciled with the TPM; agent_new (network side):
 *			TLS contexts, verifier history
 *	every interval	agent_measure      re-measure the policy's files
 *			agent_enrol        (1) until it succeeds
 *			agent_epoch_fetch  (2) epoch + neighbours
 *			agent_attest       (3) challenge + appraise one
 *			                   neighbour, queue the verdict
 *			agent_report       (4) send queued verdicts
 *	any time	agent_serve        (3)/(5) answer one CHALLENGE
 *
 * Threads: agent_serve may run in any number of threads at once, next to
 * one thread running the periodic steps (which are not reentrant).
 *
 * Privilege separation (STYLE point 9).  The TPM, the AK and the runtime
 * log belong to the privileged half, struct agent_priv.  vouchd runs it
 * in its own process: it forks, the child calls agent_priv_new() and
 * agent_priv_serve() on one end of a socketpair, and the network side
 * calls agent_new() with the other end (agent_priv_run() is the child's
 * whole life).  The network side can then only
 * send a fixed table of requests (a quote with a nonce over a PCR
 * selection; re-measure policy file N; one credential activation), each
 * of an exact size that the privileged side checks before reading it; it
 * exits on anything malformed.  Both ends are the same binary, so the
 * request bodies are fixed-size C structures (drawn in agent.c).  The
 * network side still writes one file, the verifier history; a seccomp
 * sandbox for it is not done yet.  With priv_fd = -1, agent_new() runs the
 * privileged half in-process behind the same request function (tools,
 * tests).
 *
 * Runtime measurement.  Each policy file (measure.files, logged under
 * the path the policy names, as reference values name it) is hashed
 * every interval; an ima-ng line is appended and the runtime PCR
 * extended (measure/rtlog.h order: line fsync'd, then extend) only when
 * its digest differs from the last digest logged for that path, so an
 * unchanged host's log does not grow every interval while a changed
 * file (and a change back) is always recorded.  At start-up the log is
 * reconciled with the PCR: the longest prefix of the log that replays
 * to the PCR's value is kept (trailing lines a crash left between
 * append and extend are cut, since the verifier demands an exact
 * replay); a log that explains nothing while the PCR is still at its
 * reset value belongs to an earlier boot and is moved aside to
 * LOG.prev.
 *
 * Verdict sequence numbers start at the start-up time in microseconds
 * and increase by one per verdict, so they increase across restarts as
 * well as within a connection, and a re-sent verdict keeps its SEQ
 * (vouch-tcbd recognises the duplicate).
 */
#ifndef VOUCH_AGENT_H
#define VOUCH_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/region.h"
#include "common/tls.h"
#include "common/wire.h"
#include "attest/agent_conf.h"
#include "attest/verify.h"

#define AGENT_TIMEOUT_MS	5000	/* per frame (protocol.md) */
#define AGENT_QUEUE_MAX		1024	/* verdicts held for vouch-tcbd */
#define AGENT_PIPELINE		64	/* VERDICTs in flight per connection */
#define AGENT_NOTE_MAX		512
#define AGENT_NONCE_LABEL	"vouch-challenge-v1"

struct agent;
struct agent_priv;

/*
 * The privileged half: open the TPM (conf->tcti) and the AK of
 * conf->state_dir (creating an AK if there is none) and reconcile the
 * runtime log.  conf is borrowed and must outlive it.  What start-up did
 * is in agent_priv_note().  *out only on success.
 */
int agent_priv_new(const struct agent_conf *conf, struct agent_priv **out,
    struct vouch_err *e);
/* NULL ok.  Flushes the AK from the TPM. */
void agent_priv_free(struct agent_priv *p);
const char *agent_priv_note(const struct agent_priv *p);
/*
 * Serve requests on fd (a socketpair end) until the other end closes
 * (returns 0) or sends anything malformed (returns VOUCH_E_INVAL: the
 * caller exits).  The first message is sent unasked: the start-up note.
 */
int agent_priv_serve(struct agent_priv *p, int fd, struct vouch_err *e);
/*
 * The privileged process's whole life: agent_priv_new(), then serve fd;
 * if start-up fails, its reason is sent as the first message (so the
 * network side's agent_new() fails with it) and returned.
 */
int agent_priv_run(const struct agent_conf *conf, int fd,
    struct vouch_err *e);

/*
 * The network side: TLS contexts, the verifier history (state_dir/
 * history), the verdict queue.  priv_fd is the socketpair end of a
 * process running agent_priv_serve() (owned by the agent from here on,
 * even on failure), or -1 to run the privileged half in-process.  Fails
 * with the privileged side's reason if it could not start.  conf is
 * borrowed and must outlive the agent.  *out only on success.
 */
int agent_new(const struct agent_conf *conf, int priv_fd, struct agent **out,
    struct vouch_err *e);
/* NULL ok.  Must not race other calls. */
void agent_free(struct agent *a);
/*
 * Close the privileged half (waiting for a request in progress; the
 * privileged process sees EOF, flushes the AK and exits) so that no
 * handle stays loaded even if threads still run; later requests fail
 * with VOUCH_E_STATE.  For a clean exit while connections may be in
 * flight.
 */
void agent_tpm_shutdown(struct agent *a);
/* 0 once the privileged process has gone away (vouchd then exits). */
int agent_priv_alive(struct agent *a);
/* A human note about start-up (runtime log recovery), "" if none. */
const char *agent_note(const struct agent *a);

/*
 * The challenge nonce of conversation 3 (a pure function):
 *	SHA-256("vouch-challenge-v1" || EPOCH_RANDOM || u64be EPOCH ||
 *	        verifier || 0x00 || subject)
 */
int agent_nonce(const uint8_t random[WIRE_EPOCH_RANDOM_LEN], uint64_t epoch,
    const char *verifier, const char *subject,
    uint8_t nonce[WIRE_NONCE_LEN], struct vouch_err *e);

/*
 * Evidence for a challenge: a quote over pcr_sel (pcr.h syntax) with the
 * nonce, the firmware event log (if configured) and the runtime log,
 * read under the runtime log's shared lock so the log and the quoted
 * PCR agree.  *json is malloc'd evidence JSON (caller frees).
 */
int agent_evidence(struct agent *a, const uint8_t *nonce, size_t nonce_len,
    const char *pcr_sel, uint32_t flags, char **json, size_t *len,
    struct vouch_err *e);

/*
 * The handler of MIG_ORDER (conversation 9; attest/evacuate.h's
 * evac_order fits): peer is the certificate name, seq and json[0..len)
 * the frame's fields.  0: answered ACK{SEQ=*ack}; negative: answered
 * ERROR with e's message.  Without a handler (no migration section)
 * every MIG_ORDER is answered ERROR "no migration section".
 */
typedef int (*agent_order_fn)(void *arg, const char *peer, uint64_t seq,
    const char *json, size_t len, uint64_t *ack, struct vouch_err *e);
/* Set before agent_serve runs in any thread. */
void agent_set_order_handler(struct agent *a, agent_order_fn fn, void *arg);

/*
 * Serve one accepted socket (owned by the call, always closed): the TLS
 * handshake, HELLO, then one request: CHALLENGE -> EVIDENCE
 * (conversation 3 from a neighbour, 5 from vouch-tcbd, or `vouchctl
 * challenge`) or MIG_ORDER -> ACK | ERROR (conversation 9, through the
 * order handler).  Anything else is answered with ERROR.  peer (peer_cap
 * bytes, may be NULL) gets the peer's certificate name once the
 * handshake succeeded; *served (may be NULL) the request's type
 * (WIRE_T_CHALLENGE, WIRE_T_MIG_ORDER) once it was read, else 0.
 */
int agent_serve(struct agent *a, int fd, char *peer, size_t peer_cap,
    uint16_t *served, struct vouch_err *e);

/*
 * Re-measure the policy's files (see above).  *changed gets the number
 * of new log entries; note (AGENT_NOTE_MAX, may be NULL) names them.
 */
int agent_measure(struct agent *a, size_t *changed, char *note,
    struct vouch_err *e);

/* Conversation 1 (enrol.h); idempotent once it succeeded. */
int agent_enrol(struct agent *a, struct vouch_err *e);
int agent_enrolled(const struct agent *a);

#define AGENT_NEIGHBOURS_MAX	64
struct agent_epoch {
	uint64_t	epoch;
	uint8_t		random[WIRE_EPOCH_RANDOM_LEN];
	size_t		nneighbours;
	char		neighbours[AGENT_NEIGHBOURS_MAX][WIRE_HOST_MAX + 1];
};

/*
 * Conversation 2.  *fresh is 1 if the epoch differs from the last one
 * fetched (the neighbours have not been challenged in it yet).
 */
int agent_epoch_fetch(struct agent *a, struct agent_epoch *ep, int *fresh,
    struct vouch_err *e);

/* What one appraisal gave (for the daemon's log). */
struct agent_outcome {
	uint8_t		result;			/* WIRE_RESULT_* */
	int		lied;			/* the lab switch changed it */
	size_t		nreasons;
	char		reason[VERIFY_REASON_MAX + 64];	/* the first one */
	char		note[VERIFY_REASON_MAX + 64];	/* "" or a warning */
};

/*
 * The client half of conversation 3 for any caller (vouchd, `vouchctl
 * challenge`): connect to h with ctx (a TLS_CLIENT context), HELLO as
 * me/role, CHALLENGE{nonce, pcr_sel, flags}, and hand out the EVIDENCE
 * value as received (*raw malloc'd and NUL-terminated, *rawlen without
 * the NUL).  Nothing is appraised here.
 */
int agent_challenge(struct tls_ctx *ctx, const char *me, uint8_t role,
    const struct region_host *h, const uint8_t nonce[WIRE_NONCE_LEN],
    const char *pcr_sel, uint32_t flags, uint8_t **raw, size_t *rawlen,
    struct vouch_err *e);

/*
 * Conversation 3 as verifier: challenge subject with the nonce derived
 * from ep, appraise its evidence (AK from vouch-tcbd, cached; this
 * host's policy; the history file), apply the lab fault switch, and
 * queue the VERDICT (with the evidence) for agent_report.  Returns 0
 * whenever a verdict was queued, including FAIL and ERROR.
 */
int agent_attest(struct agent *a, const struct agent_epoch *ep,
    const char *subject, struct agent_outcome *out, struct vouch_err *e);

/*
 * Conversation 4: send the queued verdicts (pipelined, at most
 * AGENT_PIPELINE unacknowledged), drop each one acknowledged; a verdict
 * answered with ERROR is dropped too (refused: re-sending cannot help)
 * and counted in *refused.  Unacknowledged verdicts stay queued for the
 * next call.
 */
int agent_report(struct agent *a, size_t *acked, size_t *refused,
    struct vouch_err *e);
size_t agent_queued(const struct agent *a);

/*
 * Fetch a host's AK public key (PEM) from vouch-tcbd, the registrar
 * (conversation 6: STATUS_REQUEST {"cmd":"ak","host":NAME} ->
 * STATUS_REPLY {"ak_pem":"..."}).  *pem is malloc'd.
 */
int agent_fetch_ak(struct agent *a, const char *host, char **pem,
    struct vouch_err *e);

/*
 * Pure helpers, exposed for tests.  agent_apply_lie: the result a
 * lying verifier reports instead of the honest one (ERROR, "no
 * appraisal possible", is never changed: it carries no evidence).
 * agent_reason_clean: make a verifier reason a valid wire "string"
 * (control bytes -> '?', cut to 1024 bytes on a UTF-8 boundary).
 */
uint8_t agent_apply_lie(enum agent_lie lie, uint8_t honest);
void agent_reason_clean(const char *in, char *out, size_t cap);

#endif
