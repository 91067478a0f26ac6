/*
 * agent_client.h - the client half of a region conversation's opening,
 * shared by every program that talks to vouchd or vouch-tcbd with a host
 * certificate (vouchd, vouch-guard's alert sender): connect with mutual
 * TLS, HELLO both ways, and the frame helpers around it.  Every call uses
 * AGENT_TIMEOUT_MS per frame.  Nothing here logs.  (agent_reason_clean,
 * declared in agent.h, lives here too.)
 *
 *	C: HELLO{HOST=me, ROLE=role, VERSION_MIN, VERSION_MAX}
 *	S: HELLO{HOST=<its certificate name>, ...}   or ERROR
 */
#ifndef VOUCH_AGENT_CLIENT_H
#define VOUCH_AGENT_CLIENT_H

#include <stdint.h>

#include "common/err.h"
#include "common/region.h"
#include "common/tls.h"
#include "common/wire.h"

/*
 * Connect to h with ctx (a TLS_CLIENT context; the server's certificate
 * must name h), HELLO as me/role, read the server's HELLO (its HOST must
 * be its certificate's name, a common version must exist).  *out only on
 * success; errors are prefixed with "NAME (ADDR:PORT)".  A server that
 * refuses our certificate shows here as VOUCH_E_CRYPTO or VOUCH_E_IO (TLS
 * 1.3: the refusal arrives at the first read); one that refuses the
 * HELLO as VOUCH_E_STATE with its ERROR text.
 */
int agent_dial(struct tls_ctx *ctx, const char *me, uint8_t role,
    const struct region_host *h, struct tls_conn **out, struct vouch_err *e);

/* Finish w and send it (w is freed either way). */
int agent_send_enc(struct tls_conn *c, struct wire_enc *w,
    struct vouch_err *e);
/* Best effort ERROR{code (negative ok), msg made a wire string}. */
void agent_send_error(struct tls_conn *c, int code, const char *msg);
int agent_send_hello(struct tls_conn *c, const char *me, uint8_t role,
    struct vouch_err *e);
/*
 * The next frame, which must be of type want: an ERROR becomes
 * VOUCH_E_STATE with its text; another type is answered with ERROR.
 */
int agent_recv_want(struct tls_conn *c, uint16_t want, struct wire_msg **out,
    struct vouch_err *e);
/* The peer's HELLO: HOST must be its certificate's name. */
int agent_recv_hello(struct tls_conn *c, struct vouch_err *e);

#endif
