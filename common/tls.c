/*
 * tls.c - mutual TLS 1.3 over non-blocking sockets with deadlines; frames
 * go through wire.c.  Contract: tls.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "util.h"

#define KEY_FILE_MAX	(64u << 10)

struct tls_ctx {
	SSL_CTX		*ssl;
	enum tls_side	 side;
};

struct tls_conn {
	SSL		*ssl;
	int		 fd;
	int		 up;		/* handshake completed */
	char		 peer[WIRE_HOST_MAX + 1];
};

/* ------------------------------------------------------------------ */

/* The most useful OpenSSL reason in the thread's queue, then clear it. */
static const char *
ssl_reason(char *buf, size_t n)
{
	unsigned long err, last = 0;

	while ((err = ERR_get_error()) != 0)
		last = err;
	if (last == 0)
		snprintf(buf, n, "no OpenSSL error recorded");
	else
		ERR_error_string_n(last, buf, n);
	return buf;
}

static int
crypto_err(struct vouch_err *e, const char *what)
{
	char buf[256];

	return vouch_err_set(e, VOUCH_E_CRYPTO, "tls: %s: %s", what,
	    ssl_reason(buf, sizeof(buf)));
}

/* Never prompt for a passphrase: keys are stored unencrypted, 0600. */
static int
no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf; (void)size; (void)rw; (void)u;
	return 0;
}

static int
load_key(SSL_CTX *ssl, const char *path, struct vouch_err *e)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int r;

	if ((r = file_read(path, KEY_FILE_MAX, &pem, &len, e)) < 0)
		return r;
	if (len > INT32_MAX ||
	    (bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase,
	    NULL)) == NULL) {
		r = crypto_err(e, "cannot read the private key");
		vouch_err_prefix(e, "%s", path);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ssl, key) != 1 ||
	    SSL_CTX_check_private_key(ssl) != 1) {
		r = crypto_err(e, "private key does not match the certificate");
		vouch_err_prefix(e, "%s", path);
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	free_secret(pem, len);
	return r;
}

/*
 * Verify our own certificate against the region CA now, so a host with a
 * certificate from the wrong region, or an expired one, fails at start-up
 * with a clear message rather than at every peer.
 */
static int
check_own_cert(SSL_CTX *ssl, enum tls_side side, struct vouch_err *e)
{
	X509_STORE_CTX *sc;
	X509 *cert = SSL_CTX_get0_certificate(ssl);
	int ok;

	if (cert == NULL || (sc = X509_STORE_CTX_new()) == NULL)
		return crypto_err(e, "no certificate");
	if (X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ssl), cert,
	    NULL) != 1) {
		X509_STORE_CTX_free(sc);
		return crypto_err(e, "X509_STORE_CTX_init");
	}
	X509_STORE_CTX_set_purpose(sc, side == TLS_SERVER ?
	    X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(sc);
	if (ok != 1) {
		int v = X509_STORE_CTX_get_error(sc);
		X509_STORE_CTX_free(sc);
		ERR_clear_error();
		return vouch_err_set(e, VOUCH_E_CRYPTO,
		    "tls: own certificate does not verify against the region "
		    "CA: %s", X509_verify_cert_error_string(v));
	}
	X509_STORE_CTX_free(sc);
	return 0;
}

int
tls_ctx_new(enum tls_side side, const char *cert_path, const char *key_path,
    const char *ca_path, struct tls_ctx **out, struct vouch_err *e)
{
	struct tls_ctx *c;
	SSL_CTX *ssl;
	X509_VERIFY_PARAM *vp;
	STACK_OF(X509_NAME) *cas;
	int r;

	if (cert_path == NULL || key_path == NULL || ca_path == NULL ||
	    (side != TLS_SERVER && side != TLS_CLIENT))
		return vouch_err_set(e, VOUCH_E_INVAL, "tls: bad arguments");
	ERR_clear_error();
	ssl = SSL_CTX_new(side == TLS_SERVER ? TLS_server_method() :
	    TLS_client_method());
	if (ssl == NULL)
		return crypto_err(e, "SSL_CTX_new");
	if (SSL_CTX_set_min_proto_version(ssl, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ssl, TLS1_3_VERSION) != 1) {
		r = crypto_err(e, "cannot pin TLS 1.3");
		goto fail;
	}
	/* Full handshake every time: no tickets, no session cache. */
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
	if (side == TLS_SERVER)
		SSL_CTX_set_num_tickets(ssl, 0);

	/* Trust exactly the region CA: no default paths, no intermediates. */
	if (SSL_CTX_load_verify_file(ssl, ca_path) != 1) {
		r = crypto_err(e, "cannot load the region CA");
		vouch_err_prefix(e, "%s", ca_path);
		goto fail;
	}
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ssl, 1);
	vp = SSL_CTX_get0_param(ssl);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_WILDCARDS);
	if (side == TLS_SERVER) {
		/* Name the region CA in the CertificateRequest. */
		if ((cas = SSL_load_client_CA_file(ca_path)) == NULL) {
			r = crypto_err(e, "cannot read the region CA's name");
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ssl, cas);
	}

	if (SSL_CTX_use_certificate_chain_file(ssl, cert_path) != 1) {
		r = crypto_err(e, "cannot load the certificate");
		vouch_err_prefix(e, "%s", cert_path);
		goto fail;
	}
	if ((r = load_key(ssl, key_path, e)) < 0)
		goto fail;
	if ((r = check_own_cert(ssl, side, e)) < 0) {
		vouch_err_prefix(e, "%s", cert_path);
		goto fail;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	c->ssl = ssl;
	c->side = side;
	*out = c;
	return 0;
fail:
	SSL_CTX_free(ssl);
	ERR_clear_error();
	return r;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

/* ------------------------------------------------------------------ */

static int64_t
deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
}

/* Wait for fd to become ready for events; 0, or VOUCH_E_IO on timeout. */
static int
wait_fd(int fd, short events, int64_t deadline, const char *what,
    struct vouch_err *e)
{
	struct pollfd p;
	int r, left;

	for (;;) {
		if (deadline < 0)
			left = -1;
		else {
			int64_t d = deadline - mono_ms();
			if (d <= 0)
				return vouch_err_set(e, VOUCH_E_IO,
				    "tls: %s: timed out", what);
			left = d > INT32_MAX ? INT32_MAX : (int)d;
		}
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return vouch_err_set(e, VOUCH_E_IO, "tls: %s: poll: %s",
			    what, strerror(errno));
		if (r == 0)
			continue;	/* re-check the deadline */
		return 0;
	}
}

/*
 * After an SSL call returned ret <= 0: wait and return 0 to retry, or
 * return an error naming what failed (and why the peer was refused, if
 * certificate verification was the cause).
 */
static int
ssl_retry(struct tls_conn *c, int ret, int64_t deadline, const char *what,
    struct vouch_err *e)
{
	char buf[256];
	long v;

	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		return wait_fd(c->fd, POLLIN, deadline, what, e);
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return wait_fd(c->fd, POLLOUT, deadline, what, e);
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return vouch_err_set(e, VOUCH_E_IO,
		    "tls: %s: connection closed by the peer", what);
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0)
			return vouch_err_set(e, VOUCH_E_IO, "tls: %s: %s", what,
			    errno ? strerror(errno) : "unexpected EOF");
		break;
	default:
		break;
	}
	v = SSL_get_verify_result(c->ssl);
	if (v != X509_V_OK) {
		ERR_clear_error();
		return vouch_err_set(e, VOUCH_E_CRYPTO,
		    "tls: %s: peer certificate refused: %s", what,
		    X509_verify_cert_error_string(v));
	}
	return vouch_err_set(e, VOUCH_E_CRYPTO, "tls: %s: %s", what,
	    ssl_reason(buf, sizeof(buf)));
}

/*
 * The host name a verified peer certificate stands for: the first SAN
 * DNS name; the CN only when there is no DNS name at all (the rule
 * X509_check_host applies on the client side).
 */
static int
peer_identity(X509 *cert, char *out, size_t cap)
{
	GENERAL_NAMES *gens;
	const unsigned char *p = NULL;
	int i, n, len = -1, have_dns = 0;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	n = gens ? sk_GENERAL_NAME_num(gens) : 0;
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		have_dns = 1;
		p = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		break;
	}
	if (!have_dns) {
		const X509_NAME *sub = X509_get_subject_name(cert);
		int idx = X509_NAME_get_index_by_NID(sub, NID_commonName, -1);
		if (idx >= 0) {
			const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(
			    X509_NAME_get_entry(sub, idx));
			p = ASN1_STRING_get0_data(cn);
			len = ASN1_STRING_length(cn);
		}
	}
	if (p == NULL || len <= 0 || (size_t)len >= cap ||
	    !wire_host_name_ok((const char *)p, (size_t)len)) {
		GENERAL_NAMES_free(gens);
		return -1;
	}
	memcpy(out, p, (size_t)len);
	out[len] = '\0';
	GENERAL_NAMES_free(gens);
	return 0;
}

static int
handshake(struct tls_conn *c, enum tls_side side, int64_t deadline,
    struct vouch_err *e)
{
	const char *what = side == TLS_SERVER ? "handshake (accept)" :
	    "handshake (connect)";
	X509 *peer;
	int r;

	for (;;) {
		ERR_clear_error();
		r = side == TLS_SERVER ? SSL_accept(c->ssl) :
		    SSL_connect(c->ssl);
		if (r == 1)
			break;
		if ((r = ssl_retry(c, r, deadline, what, e)) < 0)
			return r;
	}
	/* SSL_VERIFY_FAIL_IF_NO_PEER_CERT makes these hold; check anyway. */
	peer = SSL_get0_peer_certificate(c->ssl);
	if (peer == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return vouch_err_set(e, VOUCH_E_CRYPTO,
		    "tls: %s: no verified peer certificate", what);
	if (SSL_version(c->ssl) != TLS1_3_VERSION)
		return vouch_err_set(e, VOUCH_E_CRYPTO,
		    "tls: %s: not TLS 1.3", what);
	if (side == TLS_SERVER && peer_identity(peer, c->peer,
	    sizeof(c->peer)) < 0)
		return vouch_err_set(e, VOUCH_E_CRYPTO,
		    "tls: %s: peer certificate names no valid host", what);
	c->up = 1;
	return 0;
}

static int
conn_new(struct tls_ctx *ctx, int fd, struct tls_conn **out,
    struct vouch_err *e)
{
	struct tls_conn *c;
	int one = 1;

	/* Frames are request/response: do not wait to fill segments. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	c->fd = fd;
	ERR_clear_error();
	if ((c->ssl = SSL_new(ctx->ssl)) == NULL ||
	    SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		free(c);
		return crypto_err(e, "SSL_new");
	}
	*out = c;
	return 0;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

int
tls_accept_fd(struct tls_ctx *ctx, int fd, int timeout_ms,
    struct tls_conn **out, struct vouch_err *e)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct tls_conn *c;
	int r;

	if (ctx == NULL || ctx->side != TLS_SERVER || fd < 0) {
		if (fd >= 0)
			close(fd);
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "tls: accept needs a server context");
	}
	if (set_nonblock(fd) < 0) {
		r = vouch_err_set(e, VOUCH_E_IO, "tls: fcntl: %s",
		    strerror(errno));
		close(fd);
		return r;
	}
	if ((r = conn_new(ctx, fd, &c, e)) < 0) {
		close(fd);
		return r;
	}
	if ((r = handshake(c, TLS_SERVER, deadline, e)) < 0) {
		tls_close(c);
		return r;
	}
	*out = c;
	return 0;
}

int
tls_accept(struct tls_ctx *ctx, int lfd, int timeout_ms,
    struct tls_conn **out, struct vouch_err *e)
{
	int64_t deadline = deadline_of(timeout_ms);
	int fd, r;

	if (ctx == NULL || ctx->side != TLS_SERVER)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "tls: accept needs a server context");
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd >= 0) {
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
			break;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return vouch_err_set(e, VOUCH_E_IO, "tls: accept: %s",
			    strerror(errno));
		if ((r = wait_fd(lfd, POLLIN, deadline, "accept", e)) < 0)
			return r;
	}
	if (timeout_ms >= 0) {
		int64_t left = deadline - mono_ms();
		timeout_ms = left < 1 ? 1 : left > INT32_MAX ? INT32_MAX :
		    (int)left;
	}
	return tls_accept_fd(ctx, fd, timeout_ms, out, e);
}

int
tls_listen(const char *addr, uint16_t port, int *fdp, uint16_t *bound_port,
    struct vouch_err *e)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ports[8];
	int fd = -1, one = 1, r, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ports, sizeof(ports), "%u", (unsigned)port);
	if ((r = getaddrinfo(addr, ports, &hints, &res)) != 0)
		return vouch_err_set(e, VOUCH_E_IO, "tls: %s: %s",
		    addr ? addr : "*", gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return vouch_err_set(e, VOUCH_E_IO, "tls: listen on %s:%u: %s",
		    addr ? addr : "*", (unsigned)port, strerror(err));
	if (bound_port != NULL) {
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
			err = errno;
			close(fd);
			return vouch_err_set(e, VOUCH_E_IO,
			    "tls: getsockname: %s", strerror(err));
		}
		*bound_port = ss.ss_family == AF_INET6 ?
		    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
		    ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	*fdp = fd;
	return 0;
}

/* Non-blocking TCP connect to the first address of addr that answers. */
static int
tcp_connect(const char *addr, uint16_t port, int64_t deadline, int *fdp,
    struct vouch_err *e)
{
	struct addrinfo hints, *res = NULL, *ai;
	char ports[8];
	int fd = -1, r, err = ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(ports, sizeof(ports), "%u", (unsigned)port);
	if ((r = getaddrinfo(addr, ports, &hints, &res)) != 0)
		return vouch_err_set(e, VOUCH_E_IO, "tls: %s: %s", addr,
		    gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		socklen_t sl = sizeof(err);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS)
			err = errno;
		else if (wait_fd(fd, POLLOUT, deadline, "connect", NULL) < 0)
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		else if (err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return vouch_err_set(e, VOUCH_E_IO, "connect to %s:%u: %s",
		    addr, (unsigned)port, strerror(err));
	*fdp = fd;
	return 0;
}

int
tls_tcp_connect(const char *addr, uint16_t port, int timeout_ms, int *fdp,
    struct vouch_err *e)
{
	return tcp_connect(addr, port, deadline_of(timeout_ms), fdp, e);
}

int
tls_connect(struct tls_ctx *ctx, const char *addr, uint16_t port,
    const char *peer_name, int timeout_ms, struct tls_conn **out,
    struct vouch_err *e)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct tls_conn *c;
	int fd = -1, r;

	if (ctx == NULL || ctx->side != TLS_CLIENT || addr == NULL ||
	    peer_name == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "tls: connect needs a client context, address and name");
	if (!wire_host_name_ok(peer_name, strlen(peer_name)))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "tls: '%s' is not a valid host name", peer_name);
	if ((r = tcp_connect(addr, port, deadline, &fd, e)) < 0)
		return r;
	if ((r = conn_new(ctx, fd, &c, e)) < 0) {
		close(fd);
		return r;
	}
	/* The server's certificate must name peer_name (checked in verify). */
	if (SSL_set1_host(c->ssl, peer_name) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, peer_name) != 1) {
		r = crypto_err(e, "SSL_set1_host");
		tls_close(c);
		return r;
	}
	if ((r = handshake(c, TLS_CLIENT, deadline, e)) < 0) {
		vouch_err_prefix(e, "%s (%s:%u)", peer_name, addr,
		    (unsigned)port);
		tls_close(c);
		return r;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", peer_name);
	*out = c;
	return 0;
}

const char *
tls_peer_name(const struct tls_conn *c)
{
	return c->peer;
}

int
tls_conn_fd(const struct tls_conn *c)
{
	return c->fd;
}

int
tls_pending(const struct tls_conn *c)
{
	return SSL_pending(c->ssl) > 0;
}

/* ------------------------------------------------------------------ */

static int
read_full(struct tls_conn *c, uint8_t *buf, size_t n, int64_t deadline,
    struct vouch_err *e)
{
	size_t got;
	int r;

	while (n > 0) {
		ERR_clear_error();
		r = SSL_read_ex(c->ssl, buf, n, &got);
		if (r == 1) {
			buf += got;
			n -= got;
			continue;
		}
		if ((r = ssl_retry(c, r, deadline, "read", e)) < 0)
			return r;
	}
	return 0;
}

int
tls_send(struct tls_conn *c, const uint8_t *frame, size_t len,
    int timeout_ms, struct vouch_err *e)
{
	int64_t deadline = deadline_of(timeout_ms);
	size_t done;
	int r;

	if (c == NULL || !c->up || frame == NULL || len < WIRE_HDR_LEN ||
	    len > wire_frame_limit(0))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "tls: send: not a frame (%zu bytes) or no connection", len);
	while (len > 0) {
		ERR_clear_error();
		/* On a retry SSL_write_ex must see the same buffer again. */
		r = SSL_write_ex(c->ssl, frame, len, &done);
		if (r == 1) {
			frame += done;
			len -= done;
			continue;
		}
		if ((r = ssl_retry(c, r, deadline, "write", e)) < 0)
			return r;
	}
	return 0;
}

int
tls_recv(struct tls_conn *c, int timeout_ms, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e)
{
	int64_t deadline = deadline_of(timeout_ms);
	uint8_t hdr[WIRE_HDR_LEN], *buf;
	struct wire_hdr h;
	size_t len;
	int r;

	if (c == NULL || !c->up)
		return vouch_err_set(e, VOUCH_E_INVAL, "tls: recv: no connection");
	if ((r = read_full(c, hdr, sizeof(hdr), deadline, e)) < 0)
		return r;
	/* Limits first: an oversize body is refused unread, unallocated. */
	if ((r = wire_decode_header(hdr, sizeof(hdr), &h, why, e)) < 0)
		return r;
	len = WIRE_HDR_LEN + (size_t)h.body_len;
	if ((buf = malloc(len)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	memcpy(buf, hdr, sizeof(hdr));
	if ((r = read_full(c, buf + WIRE_HDR_LEN, h.body_len, deadline,
	    e)) < 0 ||
	    (r = wire_decode_owned(buf, len, out, why, e)) < 0) {
		free_secret(buf, len);
		return r;
	}
	return 0;
}

void
tls_close(struct tls_conn *c)
{
	if (c == NULL)
		return;
	if (c->up) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);	/* one close_notify, no wait */
	}
	SSL_free(c->ssl);
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
