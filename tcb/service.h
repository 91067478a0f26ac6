/*
 * service.h - the RC-TCB service (vouch-tcbd's logic) as a library: the
 * server side of the region conversations of docs/protocol.md, fed with
 * decoded wire messages and answering with encoded frames, so a unit
 * test can play every neighbour with messages it builds itself.
 *
 *	daemon (I/O)                    service                  IVT / store
 *	tls_recv -> wire_msg ---------> svc_conv_input() ------> ivt_* inputs
 *	tls_send <- frames   <--------- struct svc_reply         store_sync (ACK after)
 *	ticker ---------------------->  svc_tick()               epochs, ivt_tick
 *	workers -------------------->   svc_direct_next/run()    ATTEST_DIRECTLY
 *
 * Conversations (one per connection; the peer's identity is its TLS
 * certificate name, never a message field):
 *
 *	HELLO -> HELLO, then by the client's next move:
 *	  ENROL_REQUEST -> ENROL_CHALLENGE, ENROL_PROOF -> ACK{0} | ERROR
 *	  VERDICT* (pipelined, up to SVC_BATCH_MAX) -> ACK{SEQ} each, after
 *	      the batch's one store transaction committed (group commit)
 *	  nothing for SVC_IDLE_MS -> EPOCH{EPOCH, EPOCH_RANDOM, NEIGHBOUR*},
 *	      then close (the epoch conversation has no client request; the
 *	      client's silence after HELLO is what selects it)
 *	  ALERT* (pipelined, up to SVC_BATCH_MAX) -> ACK{SEQ} each, after
 *	      the batch's one store transaction committed (a guard's
 *	      findings; region hosts only, the sender is the certificate)
 *	  STATUS_REQUEST -> STATUS_REPLY (admins only; repeatable)
 *	  MIG_REPORT* (pipelined) -> ACK{SEQ} each once stored; the sender
 *	      must be the migration's source host (region hosts only)
 *	  ATTEST_REQUEST{SUBJECT} -> VERDICT{SUBJECT, VERIFIER = tcbd,
 *	      TIME, RESULT, REASON}: a direct attestation with a fresh nonce
 *	      run right then, in the caller's thread (the connection's),
 *	      without the lock during the challenge; PASS only if the
 *	      evidence verified and the subject is TRUSTED.  MIG_REPORT and
 *	      ATTEST_REQUEST may follow each other on one connection.
 *	Anything else, or any refusal: ERROR and close.
 *
 * Verdicts are re-verified here with the subject's enrolled AK, the
 * region policy, the nonce re-derived for (EPOCH, verifier, subject) and
 * a replay history per (subject, verifier); the IVT gets PASS only if
 * both the neighbour and the re-verification say PASS.  Epochs: a new
 * one every interval (EPOCH + 1, 32 random bytes); the current and the
 * previous are accepted, older ones are stale.  The epoch number
 * survives restarts (store meta "epoch"); its random does not, so no
 * nonce of a previous run is ever accepted again.
 *
 * Actions the IVT returns are performed here: ATTEST_DIRECTLY and
 * REAPPRAISE queue a direct attestation (conversation 5, run by the
 * daemon's workers), EMIT_UNTRUSTED logs and runs the on_untrusted hook
 * (fork + execve, argv = { hook, host, reason }, no shell),
 * REASSIGN_NEIGHBOURS takes effect in the next EPOCH answers.
 *
 * Threads: every entry point may be called from any thread.  One lock
 * guards the IVT, the store, the AK table and the epochs; verification,
 * network I/O and the wait for a verdict batch's disk flush run outside
 * it.  The library does not log: messages
 * go to hooks.event (the daemon logs them).
 */
#ifndef VOUCH_SERVICE_H
#define VOUCH_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/wire.h"
#include "tcb/tcbd_conf.h"

#define SVC_BATCH_MAX		64	/* pipelined VERDICTs per commit */
#define SVC_IDLE_MS		250	/* silence after HELLO: send EPOCH */
#define SVC_FRAME_TIMEOUT_MS	5000	/* per frame (docs/protocol.md) */
#define SVC_EVIDENCE_TIMEOUT_MS	15000	/* a quote plus logs may take longer */
#define SVC_REASONS_KEPT	8	/* per verdict, for `host show` */
#define SVC_NONCE_LABEL		"vouch-challenge-v1"

enum svc_level { SVC_ERR = 0, SVC_WARN, SVC_INFO, SVC_DEBUG };

/*
 * The transport of a direct attestation: send CHALLENGE{nonce, pcr_sel,
 * flags} to host and return its EVIDENCE value (malloc'd, *evidence).
 * A negative return means the host could not be reached or answered
 * nonsense (UNREACHABLE, never UNTRUSTED).
 */
typedef int (*svc_challenge_fn)(void *arg, const char *host,
    const uint8_t nonce[WIRE_NONCE_LEN], const char *pcr_sel, uint32_t flags,
    uint8_t **evidence, size_t *len, struct vouch_err *e);

/*
 * The transport of an evacuation order (conversation 9): send
 * MIG_ORDER{SEQ = id, JSON = json} to host (the source) after HELLO.
 * 0: ACK{SEQ = id}; 1: the source answered ERROR (its message in
 * why[cap]); negative: unreachable or nonsense (retried).
 */
typedef int (*svc_order_fn)(void *arg, const char *host, uint64_t id,
    const char *json, char *why, size_t cap, struct vouch_err *e);

struct svc_hooks {
	/* Messages for the log; NULL drops them.  msg has no newline. */
	void		(*event)(void *arg, enum svc_level lvl, const char *msg);
	/* RC-TCB clock in ms; NULL: CLOCK_REALTIME. */
	int64_t		(*now_ms)(void *arg);
	/* NULL: mutual TLS to the host's region address (conversation 5). */
	svc_challenge_fn challenge;
	void		*arg;
	/* NULL: mutual TLS to the source's region address (conversation 9). */
	svc_order_fn	order;
};

struct svc;

/*
 * Load the region and policy named by c, open the store, rebuild the
 * IVT (store_load), reconcile it with the region (new hosts join,
 * removed ones leave, enrolled = has an AK binding) and start epoch
 * (stored + 1).  hooks may be NULL.  *out only on success.
 */
int svc_new(const struct tcbd_conf *c, const struct svc_hooks *hooks,
    struct svc **out, struct vouch_err *e);
/* NULL ok.  Waits for nothing: stop the daemon's threads first. */
void svc_free(struct svc *s);
/* Wake svc_direct_next() waiters for good (shutdown). */
void svc_stop(struct svc *s);

/* --- conversations --------------------------------------------------- */

enum svc_transport {
	SVC_TLS = 0,	/* peer = verified certificate name */
	SVC_LOCAL,	/* the admin unix socket: file permissions decide */
};

/* Frames to send, in order; close: send them, then close. */
struct svc_reply {
	uint8_t		**frame;
	size_t		 *len;
	size_t		  n, cap;
	int		  close;
};
#define SVC_REPLY_INIT	{ NULL, NULL, 0, 0, 0 }
void svc_reply_reset(struct svc_reply *r);	/* frees the frames */
void svc_reply_free(struct svc_reply *r);	/* NULL ok */

struct svc_conv;

/* peer: the TLS peer name (ignored for SVC_LOCAL). */
int svc_conv_new(struct svc *s, enum svc_transport tr, const char *peer,
    struct svc_conv **out, struct vouch_err *e);
void svc_conv_free(struct svc_conv *c);	/* NULL ok; wipes secrets */

/*
 * Feed n messages that arrived together (n <= SVC_BATCH_MAX), in order;
 * replies are appended to out.  Consecutive VERDICTs share one store
 * transaction: their ACKs are appended only after it committed.  The
 * messages stay the caller's.
 */
void svc_conv_input(struct svc_conv *c, struct wire_msg *const *m, size_t n,
    struct svc_reply *out);
/* 1 if the conversation waits for the client's first move after HELLO. */
int svc_conv_at_choice(const struct svc_conv *c);
/* The client was silent for SVC_IDLE_MS after HELLO: answer EPOCH. */
void svc_conv_idle(struct svc_conv *c, struct svc_reply *out);
/* How many frames the next svc_conv_input may take (1 or SVC_BATCH_MAX). */
size_t svc_conv_batch_max(const struct svc_conv *c);
/* A frame the daemon could not decode: ERROR{1000 + why} and close. */
void svc_conv_reject(struct svc_conv *c, enum wire_reason why,
    const struct vouch_err *err, struct svc_reply *out);

/* --- time-driven work ------------------------------------------------ */

/*
 * Start a new epoch when the interval has passed, expire PASSes, retry
 * open direct attestations, reap finished hook processes.  Call at least
 * four times per interval.
 */
int svc_tick(struct svc *s, struct vouch_err *e);
/* Start a new epoch now (lab: tests that age a recorded verdict). */
int svc_epoch_advance(struct svc *s, struct vouch_err *e);
/* Current epoch number and random. */
void svc_epoch(struct svc *s, uint64_t *epoch, uint8_t random[32]);

/*
 * NONCE = SHA-256("vouch-challenge-v1" || random || u64be epoch ||
 * verifier || 0x00 || subject)   (docs/protocol.md, conversation 3)
 */
void svc_nonce_derive(const uint8_t random[WIRE_EPOCH_RANDOM_LEN],
    uint64_t epoch, const char *verifier, const char *subject,
    uint8_t nonce[WIRE_NONCE_LEN]);

/* --- direct attestations (conversation 5) ---------------------------- */

struct svc_job {
	char		host[IVT_NAME_MAX + 1];
	uint32_t	flags;		/* WIRE_CHAL_* */
};

/*
 * Wait up to timeout_ms for a queued direct attestation: 1 and *job,
 * 0 on timeout, -1 after svc_stop().
 */
int svc_direct_next(struct svc *s, int timeout_ms, struct svc_job *job);
/* Challenge, re-verify, feed ivt_direct_result, persist, act. */
void svc_direct_run(struct svc *s, const struct svc_job *job);
/* Run every queued job in this thread (tests); returns how many ran. */
size_t svc_direct_run_pending(struct svc *s);

/* --- evacuation orders (conversation 9) ------------------------------ */

/*
 * EMIT_UNTRUSTED plans an evacuation of every protected pair on the host
 * (docs/tcb.md, "Evacuation"): each becomes a migration row and an order
 * job.  The daemon's order worker delivers them: svc_order_next waits
 * up to timeout_ms for a job that is due (1 and *job, 0 on timeout, -1
 * after svc_stop()); svc_order_run sends it (hooks.order or mutual TLS)
 * and records the answer: ACK -> ordered, ERROR -> FAILED, unreachable
 * -> retried with backoff until the report timeout, then LOST + alert.
 */
struct svc_order_job {
	long long	id;		/* the migration */
	int64_t		not_before;	/* RC-TCB clock, ms */
	unsigned	attempts;
};
int svc_order_next(struct svc *s, int timeout_ms, struct svc_order_job *job);
void svc_order_run(struct svc *s, const struct svc_order_job *job);
/* Run every due order job in this thread (tests); returns how many ran. */
size_t svc_order_run_pending(struct svc *s);

/* --- administration -------------------------------------------------- */

/*
 * Answer one STATUS_REQUEST JSON document (docs/man/vouch-tcbd.8 lists
 * the commands): *reply is malloc'd JSON.  Errors: VOUCH_E_FORMAT for a
 * malformed request, VOUCH_E_NOTFOUND for an unknown host, ...
 */
int svc_admin(struct svc *s, const char *json, size_t len, char **reply,
    struct vouch_err *e);

/* --- frames over a plain file descriptor (the admin unix socket) ------ */

/*
 * Read one frame: header, wire_decode_header() (limits before any
 * allocation), body, wire_decode_owned().  One deadline for the whole
 * frame.  why as in tls_recv().
 */
int svc_fd_recv(int fd, int timeout_ms, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e);
int svc_fd_send(int fd, const uint8_t *frame, size_t len, int timeout_ms,
    struct vouch_err *e);

#endif
