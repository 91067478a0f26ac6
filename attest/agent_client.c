/*
 * agent_client.c - the client side every region conversation starts
 * with (connect, HELLO both ways) and the small frame helpers around it,
 * shared by vouchd (attest/agent.c), vouchctl and vouch-guard's alert
 * sender.  Contract: agent_client.h.  Depends on common/ only, so a
 * program that only talks to vouch-tcbd does not pull in the TPM.
 */
#include <stdio.h>
#include <string.h>

#include "common/tls.h"
#include "common/wire.h"
#include "attest/agent.h"
#include "attest/agent_client.h"

void
agent_reason_clean(const char *in, char *out, size_t cap)
{
	size_t i, max;

	if (cap == 0)
		return;
	/* ASCII only: always a valid wire string, whatever the input. */
	max = cap - 1 < 1024 ? cap - 1 : 1024;
	for (i = 0; in[i] != '\0' && i < max; i++) {
		unsigned char ch = (unsigned char)in[i];

		out[i] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	if (i == 0 && max > 0)
		out[i++] = '?';
	out[i] = '\0';
}

int
agent_send_enc(struct tls_conn *c, struct wire_enc *w, struct vouch_err *e)
{
	const uint8_t *frame;
	size_t len;
	int r;

	if ((r = wire_enc_finish(w, &frame, &len, e)) == 0)
		r = tls_send(c, frame, len, AGENT_TIMEOUT_MS, e);
	wire_enc_free(w);
	return r;
}

void
agent_send_error(struct tls_conn *c, int code, const char *msg)
{
	struct wire_enc *w = NULL;
	char clean[1025];

	agent_reason_clean(msg, clean, sizeof(clean));
	if (code < 0)
		code = -code;
	if (code < 1 || code > 65535)
		code = -VOUCH_E_INTERNAL;
	if (wire_enc_new(WIRE_T_ERROR, &w, NULL) < 0)
		return;
	if (wire_put_u32(w, WIRE_F_CODE, (uint32_t)code, NULL) < 0 ||
	    wire_put_str(w, WIRE_F_MESSAGE, clean, NULL) < 0) {
		wire_enc_free(w);
		return;
	}
	(void)agent_send_enc(c, w, NULL);
}

int
agent_send_hello(struct tls_conn *c, const char *me, uint8_t role,
    struct vouch_err *e)
{
	struct wire_enc *w;
	int r;

	if ((r = wire_enc_new(WIRE_T_HELLO, &w, e)) < 0)
		return r;
	if ((r = wire_put_str(w, WIRE_F_HOST, me, e)) < 0 ||
	    (r = wire_put_u8(w, WIRE_F_ROLE, role, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_VERSION_MIN, WIRE_VERSION_MIN, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_VERSION_MAX, WIRE_VERSION_MAX, e)) < 0) {
		wire_enc_free(w);
		return r;
	}
	return agent_send_enc(c, w, e);
}

/*
 * Receive the next frame, which must be of type want.  An ERROR from the
 * peer becomes VOUCH_E_STATE with its text; any other type is answered
 * with ERROR.  *out only on success.
 */
int
agent_recv_want(struct tls_conn *c, uint16_t want, struct wire_msg **out,
    struct vouch_err *e)
{
	struct wire_msg *m = NULL;
	char msg[1025];
	uint32_t code = 0;
	int r;

	if ((r = tls_recv(c, AGENT_TIMEOUT_MS, &m, NULL, e)) < 0)
		return r;
	if (wire_msg_type(m) == want) {
		*out = m;
		return 0;
	}
	if (wire_msg_type(m) == WIRE_T_ERROR) {
		msg[0] = '\0';
		(void)wire_get_u32(m, WIRE_F_CODE, &code, NULL);
		(void)wire_get_str(m, WIRE_F_MESSAGE, msg, sizeof(msg), NULL);
		wire_msg_free(m);
		return vouch_err_set(e, VOUCH_E_STATE, "%s answered ERROR "
		    "%u: %s", tls_peer_name(c), code, msg);
	}
	r = vouch_err_set(e, VOUCH_E_FORMAT, "%s sent %s, expected %s",
	    tls_peer_name(c), wire_type_name(wire_msg_type(m)),
	    wire_type_name(want));
	wire_msg_free(m);
	agent_send_error(c, VOUCH_E_FORMAT, e != NULL ? e->msg : "unexpected frame");
	return r;
}

/* A peer's HELLO: its HOST must be its certificate's name. */
int
agent_recv_hello(struct tls_conn *c, struct vouch_err *e)
{
	struct wire_msg *m;
	char host[WIRE_HOST_MAX + 1];
	uint32_t vmin = 0, vmax = 0;
	int r;

	if ((r = agent_recv_want(c, WIRE_T_HELLO, &m, e)) < 0)
		return r;
	if ((r = wire_get_str(m, WIRE_F_HOST, host, sizeof(host), e)) < 0 ||
	    (r = wire_get_u32(m, WIRE_F_VERSION_MIN, &vmin, e)) < 0 ||
	    (r = wire_get_u32(m, WIRE_F_VERSION_MAX, &vmax, e)) < 0) {
		wire_msg_free(m);
		return r;
	}
	wire_msg_free(m);
	if (strcmp(host, tls_peer_name(c)) != 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "HELLO.HOST '%s' is not "
		    "the certificate's name '%s'", host, tls_peer_name(c));
		agent_send_error(c, VOUCH_E_FORMAT, "HELLO.HOST differs from the "
		    "certificate name");
		return r;
	}
	if (vmin > WIRE_VERSION_MAX || vmax < WIRE_VERSION_MIN ||
	    vmin > vmax) {
		agent_send_error(c, VOUCH_E_UNSUPPORTED, "no common protocol "
		    "version");
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "%s speaks "
		    "versions %u..%u, we %d..%d", host, vmin, vmax,
		    WIRE_VERSION_MIN, WIRE_VERSION_MAX);
	}
	return 0;
}

/* Client side: connect, HELLO both ways.  *out only on success. */
int
agent_dial(struct tls_ctx *ctx, const char *me, uint8_t role,
    const struct region_host *h, struct tls_conn **out, struct vouch_err *e)
{
	struct tls_conn *c = NULL;
	int r;

	if ((r = tls_connect(ctx, h->addr, h->port, h->name,
	    AGENT_TIMEOUT_MS, &c, e)) < 0 ||
	    (r = agent_send_hello(c, me, role, e)) < 0 ||
	    (r = agent_recv_hello(c, e)) < 0) {
		vouch_err_prefix(e, "%s (%s:%u)", h->name, h->addr, h->port);
		tls_close(c);
		return r;
	}
	*out = c;
	return 0;
}

