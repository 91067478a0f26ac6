/*
 * tls.h - the mutual-TLS channel every daemon-to-daemon and vouchctl-to-
 * daemon connection uses (OpenSSL, TLS 1.3 only), carrying wire frames.
 *
 * Trust: each side holds its own host certificate and key and the region
 * CA certificate (made by pki.h / `vouchctl region init`, `vouchctl host
 * cert`).  Both sides REQUIRE a peer certificate and verify it against the
 * region CA only (no system trust store, no intermediates: chain depth 1,
 * strict X.509).  A peer without a region-signed certificate therefore
 * fails inside the handshake, before any frame is read or parsed.
 * The client also checks that the server's certificate names the host it
 * meant to reach (SAN DNS name, or the CN when the certificate has no DNS
 * name; no wildcards).  Session resumption is off: every connection does
 * a full mutual handshake.
 *
 *	server				client
 *	tls_ctx_new(TLS_SERVER, ...)	tls_ctx_new(TLS_CLIENT, ...)
 *	tls_listen("0.0.0.0", 7411, &lfd, NULL)
 *	tls_accept(ctx, lfd, 5000, &c)	tls_connect(ctx, "10.0.0.2", 7411,
 *					    "host-b", 5000, &c)
 *	tls_peer_name(c) -> "host-a"	tls_peer_name(c) -> "host-b"
 *	tls_recv(c, ...) / tls_send(c, ...)
 *	tls_close(c)
 *
 * TLS 1.3 ordering: the client's certificate is checked by the server
 * after the client has sent its Finished, so tls_connect() may succeed
 * for a client the server then refuses; that client learns it from the
 * alert at its first tls_recv()/tls_send() (VOUCH_E_CRYPTO or
 * VOUCH_E_IO).  The server side never gets a connection object for it.
 *
 * Blocking with timeouts: sockets are non-blocking underneath and every
 * call polls against one deadline (timeout_ms; -1 waits for ever), so a
 * slow peer cannot hold a call past its timeout, even byte by byte.
 *
 * Errors: VOUCH_E_IO (connect/accept failed, timed out, peer closed),
 * VOUCH_E_CRYPTO (the TLS handshake or record layer failed, e.g. the peer
 * certificate was refused; the message says why), VOUCH_E_INVAL, and for
 * tls_recv() the wire.h decode errors.
 *
 * Writes to a peer that has gone away raise SIGPIPE: processes using this
 * module must ignore SIGPIPE (daemons do at start-up).
 * Contexts are read-only after creation and may be shared by threads; a
 * connection belongs to one thread at a time.
 */
#ifndef VOUCH_TLS_H
#define VOUCH_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wire.h"

enum tls_side { TLS_SERVER, TLS_CLIENT };

struct tls_ctx;
struct tls_conn;

/*
 * Load cert_path (PEM host certificate), key_path (PEM private key, not
 * encrypted; the file's bytes are wiped after loading) and ca_path (PEM
 * region CA certificate).  The own certificate must verify against the CA
 * and match the key, so a misconfigured host fails here, not at its first
 * peer.  *out only on success.
 */
int tls_ctx_new(enum tls_side side, const char *cert_path,
    const char *key_path, const char *ca_path, struct tls_ctx **out,
    struct vouch_err *e);
/* NULL is a no-op; the private key is freed (and so cleared) with it. */
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * A listening TCP socket (non-blocking, close-on-exec) on addr:port;
 * port 0 picks a free port, returned in *bound_port (may be NULL).
 */
int tls_listen(const char *addr, uint16_t port, int *fd, uint16_t *bound_port,
    struct vouch_err *e);

/*
 * Wait for one connection on listening socket lfd and run the server
 * handshake.  *out only on success.
 */
int tls_accept(struct tls_ctx *ctx, int lfd, int timeout_ms,
    struct tls_conn **out, struct vouch_err *e);
/*
 * Server handshake on an already accepted socket (for daemons with their
 * own accept loop).  fd is owned by the call: kept in *out on success,
 * closed on failure.
 */
int tls_accept_fd(struct tls_ctx *ctx, int fd, int timeout_ms,
    struct tls_conn **out, struct vouch_err *e);

/*
 * Connect to addr:port (numeric address or resolvable name) and run the
 * client handshake, requiring the server's certificate to name peer_name
 * (a wire_host_name_ok() name).  *out only on success.
 */
int tls_connect(struct tls_ctx *ctx, const char *addr, uint16_t port,
    const char *peer_name, int timeout_ms, struct tls_conn **out,
    struct vouch_err *e);

/*
 * The peer's host name from its verified certificate: the first SAN DNS
 * name, else the CN; always a wire_host_name_ok() name (a region-signed
 * certificate naming anything else is refused in tls_accept).  Owned by
 * the connection.
 */
const char *tls_peer_name(const struct tls_conn *c);
/* The socket, for poll() in an event loop; still owned by c. */
int tls_conn_fd(const struct tls_conn *c);
/* 1 if decrypted bytes wait in the TLS buffer (poll would not show them). */
int tls_pending(const struct tls_conn *c);

/*
 * Write one whole frame (normally from wire_enc_finish()).  Only its
 * size is checked here (WIRE_HDR_LEN .. the hard maximum).
 */
int tls_send(struct tls_conn *c, const uint8_t *frame, size_t len,
    int timeout_ms, struct vouch_err *e);
/*
 * Read one whole frame: the header first, checked by wire_decode_header()
 * (so an oversize or unknown frame is refused before its body is
 * allocated or read), then exactly body_len bytes, then wire_decode().
 * *out owns the frame buffer (wire_msg_free() wipes it).  why gets the
 * wire reason of a rejected frame (may be NULL).  After any error the
 * stream is out of step: close the connection.
 */
int tls_recv(struct tls_conn *c, int timeout_ms, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e);

/* Send close_notify (best effort), close the socket, free.  NULL no-op. */
void tls_close(struct tls_conn *c);

/*
 * Plain TCP: a non-blocking, close-on-exec socket connected to the first
 * address of addr that answers within timeout_ms (the TCP layer under
 * tls_connect, for streams that may run without TLS).
 */
int tls_tcp_connect(const char *addr, uint16_t port, int timeout_ms,
    int *fdp, struct vouch_err *e);

#endif
