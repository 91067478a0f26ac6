/*
 * Unit tests: common/tls.c and common/pki.c - mutual TLS 1.3 over
 * loopback between a server thread and the test (client) thread, with a
 * region CA, host certificates, a second "foreign" CA and a self-signed
 * certificate made by pki.c in a temporary directory.  Misbehaving
 * clients are written against OpenSSL directly, not through tls.c, since
 * an attacker does not use our library.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/pki.h"
#include "common/tls.h"
#include "common/wire.h"

#define TMO	5000

static char dir[64];

/* dir/<sub>/<name>.<ext> */
static const char *
p(const char *sub, const char *name, const char *ext)
{
	static char buf[8][256];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s/%s.%s", dir, sub, name, ext);
	return buf[k];
}

/*
 *	dir/ca/ca.{pem,key}		region CA
 *	dir/ca/host-{a,b,x}.{pem,key}	region host certificates
 *	dir/ca2/ca.{pem,key}		a foreign CA (also: a self-signed cert)
 *	dir/ca2/host-{a,b}.{pem,key}	certificates from the foreign CA
 */
static int
setup(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	char ca[128], ca2[128];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/vouch-tls.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca", dir);
	snprintf(ca2, sizeof(ca2), "%s/ca2", dir);
	if (pki_ca_create(ca, 30, &e) < 0 ||
	    pki_host_issue(ca, "host-a", "127.0.0.1", 30, ca, &e) < 0 ||
	    pki_host_issue(ca, "host-b", NULL, 30, ca, &e) < 0 ||
	    pki_host_issue(ca, "host-x", NULL, 30, ca, &e) < 0 ||
	    pki_ca_create(ca2, 30, &e) < 0 ||
	    pki_host_issue(ca2, "host-a", NULL, 30, ca2, &e) < 0 ||
	    pki_host_issue(ca2, "host-b", NULL, 30, ca2, &e) < 0) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct tls_ctx *
ctx(enum tls_side side, const char *sub, const char *host, const char *casub)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_ctx *c = NULL;

	if (tls_ctx_new(side, p(sub, host, "pem"), p(sub, host, "key"),
	    p(casub, "ca", "pem"), &c, &e) < 0)
		fail_msg("tls_ctx_new %s/%s: %s", sub, host, e.msg);
	return c;
}

static int64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the server thread: accept, then read frames and ACK each ---- */

struct srv {
	struct tls_ctx		*ctx;
	int			 lfd;
	uint16_t		 port;
	int			 recv_timeout;
	int			 max_frames;
	pthread_t		 th;
	/* results */
	int			 accept_rc, recv_rc, frames;
	enum wire_reason	 why;
	int64_t			 recv_ms;	/* duration of the failing recv */
	char			 peer[WIRE_HOST_MAX + 1];
	uint64_t		 bytes;		/* sum of EVIDENCE lengths */
	struct vouch_err	 e;
};

static void *
server_main(void *arg)
{
	struct srv *s = arg;
	struct tls_conn *c = NULL;

	s->accept_rc = tls_accept(s->ctx, s->lfd, TMO, &c, &s->e);
	if (s->accept_rc < 0)
		return NULL;
	snprintf(s->peer, sizeof(s->peer), "%s", tls_peer_name(c));
	while (s->frames < s->max_frames) {
		struct wire_msg *m = NULL;
		struct wire_enc *w = NULL;
		const uint8_t *f, *v;
		size_t len;
		int64_t t0 = ms_now();

		s->recv_rc = tls_recv(c, s->recv_timeout, &m, &s->why, &s->e);
		s->recv_ms = ms_now() - t0;
		if (s->recv_rc < 0)
			break;
		s->frames++;
		if (wire_count(m, WIRE_F_EVIDENCE) > 0 &&
		    wire_get_bytes(m, WIRE_F_EVIDENCE, &v, &len, NULL) == 0)
			s->bytes += len;
		if (wire_enc_new(WIRE_T_ACK, &w, NULL) == 0 &&
		    wire_put_u64(w, WIRE_F_SEQ, (uint64_t)s->frames, NULL) == 0 &&
		    wire_enc_finish(w, &f, &len, NULL) == 0)
			(void)tls_send(c, f, len, TMO, NULL);
		wire_enc_free(w);
		wire_msg_free(m);
	}
	tls_close(c);
	return NULL;
}

static void
server_start(struct srv *s, struct tls_ctx *c, int max_frames, int recv_tmo)
{
	struct vouch_err e = VOUCH_ERR_INIT;

	memset(s, 0, sizeof(*s));
	s->ctx = c;
	s->max_frames = max_frames;
	s->recv_timeout = recv_tmo;
	s->accept_rc = 1;	/* "never ran" */
	if (tls_listen("127.0.0.1", 0, &s->lfd, &s->port, &e) < 0)
		fail_msg("listen: %s", e.msg);
	assert_true(s->port != 0);
	assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void
server_join(struct srv *s)
{
	assert_int_equal(pthread_join(s->th, NULL), 0);
	close(s->lfd);
}

/* ---- a client written directly against OpenSSL ---- */

/*
 * Connect with cert/key (either may be NULL: no certificate), TLS up to
 * max_version, verifying nothing; try to send an ACK and read a reply.
 * Returns 1 if the reply arrived (the server accepted us), else 0.
 */
static int
raw_client(uint16_t port, const char *cert, const char *key, int max_version)
{
	struct sockaddr_in sa;
	SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	uint8_t frame[WIRE_HDR_LEN + 14] = "VCHW\0\1\0\13\0\0\0\0\0\0\0\16"
	    "\0\21\0\0\0\10\0\0\0\0\0\0\0\1";
	uint8_t reply[64];
	size_t n = 0;
	int fd, got = 0;

	assert_non_null(sc);
	SSL_CTX_set_max_proto_version(sc, max_version);
	SSL_CTX_set_verify(sc, SSL_VERIFY_NONE, NULL);
	if (cert != NULL) {
		assert_int_equal(SSL_CTX_use_certificate_file(sc, cert,
		    SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(sc, key,
		    SSL_FILETYPE_PEM), 1);
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	{
		struct timeval tv = { 5, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	ssl = SSL_new(sc);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) == 1 &&
	    SSL_write_ex(ssl, frame, sizeof(frame), &n) == 1 &&
	    SSL_read_ex(ssl, reply, sizeof(reply), &n) == 1 && n > 0)
		got = 1;
	SSL_free(ssl);
	SSL_CTX_free(sc);
	close(fd);
	ERR_clear_error();
	return got;
}

/* ---- tests ---- */

static void
test_mutual_tls_roundtrip(void **state)
{
	struct tls_ctx *sc = ctx(TLS_SERVER, "ca", "host-a", "ca");
	struct tls_ctx *cc = ctx(TLS_CLIENT, "ca", "host-b", "ca");
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_conn *c = NULL;
	struct srv s;
	uint8_t *ev;
	int i;

	(void)state;
	server_start(&s, sc, 3, TMO);
	if (tls_connect(cc, "127.0.0.1", s.port, "host-a", TMO, &c, &e) < 0)
		fail_msg("connect: %s", e.msg);
	assert_string_equal(tls_peer_name(c), "host-a");
	assert_true(tls_conn_fd(c) >= 0);

	/* 1 MiB of evidence: many TLS records, partial reads. */
	ev = malloc(1u << 20);
	assert_non_null(ev);
	memset(ev, '{', 1u << 20);
	for (i = 0; i < 3; i++) {
		struct wire_enc *w = NULL;
		struct wire_msg *m = NULL;
		const uint8_t *f;
		uint64_t seq = 0;
		size_t len;

		assert_int_equal(wire_enc_new(WIRE_T_EVIDENCE, &w, NULL), 0);
		assert_int_equal(wire_put_bytes(w, WIRE_F_EVIDENCE, ev,
		    (1u << 20) - (size_t)i, NULL), 0);
		assert_int_equal(wire_enc_finish(w, &f, &len, NULL), 0);
		if (tls_send(c, f, len, TMO, &e) < 0)
			fail_msg("send: %s", e.msg);
		wire_enc_free(w);
		if (tls_recv(c, TMO, &m, NULL, &e) < 0)
			fail_msg("recv: %s", e.msg);
		assert_int_equal(wire_msg_type(m), WIRE_T_ACK);
		assert_int_equal(wire_get_u64(m, WIRE_F_SEQ, &seq, NULL), 0);
		assert_int_equal(seq, (uint64_t)i + 1);
		wire_msg_free(m);
	}
	free(ev);
	tls_close(c);
	server_join(&s);
	assert_int_equal(s.accept_rc, 0);
	assert_string_equal(s.peer, "host-b");
	assert_int_equal(s.frames, 3);
	assert_int_equal(s.bytes, 3 * (1u << 20) - 3);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/* The server refuses in the handshake and never reads a frame. */
static void
refused_client(const char *cert, const char *key, int max_version,
    const char *why_substr)
{
	struct tls_ctx *sc = ctx(TLS_SERVER, "ca", "host-a", "ca");
	struct srv s;
	int got;

	server_start(&s, sc, 1, TMO);
	got = raw_client(s.port, cert, key, max_version);
	server_join(&s);
	assert_int_equal(got, 0);
	if (s.accept_rc >= 0)
		fail_msg("server accepted a client with %s", cert ? cert : "no cert");
	assert_int_equal(s.accept_rc, VOUCH_E_CRYPTO);
	if (strstr(s.e.msg, why_substr) == NULL)
		fail_msg("server said '%s', want '%s'", s.e.msg, why_substr);
	assert_int_equal(s.frames, 0);
	assert_int_equal(s.recv_rc, 0);	/* tls_recv never ran */
	tls_ctx_free(sc);
}

static void
test_region_client_accepted_raw(void **state)
{
	struct tls_ctx *sc = ctx(TLS_SERVER, "ca", "host-a", "ca");
	struct srv s;

	(void)state;
	/* The raw client itself works when its certificate is good. */
	server_start(&s, sc, 1, TMO);
	assert_int_equal(raw_client(s.port, p("ca", "host-b", "pem"),
	    p("ca", "host-b", "key"), TLS1_3_VERSION), 1);
	server_join(&s);
	assert_int_equal(s.accept_rc, 0);
	assert_int_equal(s.frames, 1);
	tls_ctx_free(sc);
}

static void
test_self_signed_client_refused(void **state)
{
	(void)state;
	refused_client(p("ca2", "ca", "pem"), p("ca2", "ca", "key"),
	    TLS1_3_VERSION, "peer certificate refused");
}

static void
test_foreign_ca_client_refused(void **state)
{
	(void)state;
	refused_client(p("ca2", "host-b", "pem"), p("ca2", "host-b", "key"),
	    TLS1_3_VERSION, "peer certificate refused");
}

static void
test_no_cert_client_refused(void **state)
{
	(void)state;
	refused_client(NULL, NULL, TLS1_3_VERSION, "certificate");
}

static void
test_tls12_client_refused(void **state)
{
	(void)state;
	refused_client(p("ca", "host-b", "pem"), p("ca", "host-b", "key"),
	    TLS1_2_VERSION, "unsupported protocol");
}

/* A client refuses a server whose certificate names another host. */
static void
test_wrong_server_name_refused(void **state)
{
	struct tls_ctx *sc = ctx(TLS_SERVER, "ca", "host-x", "ca");
	struct tls_ctx *cc = ctx(TLS_CLIENT, "ca", "host-b", "ca");
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_conn *c = NULL;
	struct srv s;

	(void)state;
	server_start(&s, sc, 1, TMO);
	assert_int_equal(tls_connect(cc, "127.0.0.1", s.port, "host-a", TMO,
	    &c, &e), VOUCH_E_CRYPTO);
	assert_null(c);
	if (strstr(e.msg, "hostname mismatch") == NULL)
		fail_msg("client said '%s'", e.msg);
	server_join(&s);
	assert_true(s.accept_rc < 0);
	assert_int_equal(s.frames, 0);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/* A client refuses a server certified by a foreign CA. */
static void
test_foreign_server_refused(void **state)
{
	struct tls_ctx *sc = ctx(TLS_SERVER, "ca2", "host-a", "ca2");
	struct tls_ctx *cc = ctx(TLS_CLIENT, "ca", "host-b", "ca");
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_conn *c = NULL;
	struct srv s;

	(void)state;
	server_start(&s, sc, 1, TMO);
	assert_int_equal(tls_connect(cc, "127.0.0.1", s.port, "host-a", TMO,
	    &c, &e), VOUCH_E_CRYPTO);
	if (strstr(e.msg, "peer certificate refused") == NULL)
		fail_msg("client said '%s'", e.msg);
	server_join(&s);
	assert_true(s.accept_rc < 0);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/*
 * An oversize frame is refused from its header alone: the server's
 * tls_recv returns LIMIT at once instead of waiting for a body that
 * never comes.
 */
static void
test_oversize_refused_before_body(void **state)
{
	struct tls_ctx *sc = ctx(TLS_SERVER, "ca", "host-a", "ca");
	struct tls_ctx *cc = ctx(TLS_CLIENT, "ca", "host-b", "ca");
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_conn *c = NULL;
	struct srv s;
	/* EVIDENCE header claiming 512 MiB, and no body. */
	static const uint8_t hdr[WIRE_HDR_LEN] = { 'V', 'C', 'H', 'W', 0, 1,
	    0, WIRE_T_EVIDENCE, 0, 0, 0, 0, 0x20, 0, 0, 0 };

	(void)state;
	server_start(&s, sc, 1, 4000);
	if (tls_connect(cc, "127.0.0.1", s.port, "host-a", TMO, &c, &e) < 0)
		fail_msg("connect: %s", e.msg);
	assert_int_equal(tls_send(c, hdr, sizeof(hdr), TMO, &e), 0);
	server_join(&s);
	assert_int_equal(s.recv_rc, VOUCH_E_LIMIT);
	assert_int_equal(s.why, WIRE_R_OVERSIZE);
	assert_true(s.recv_ms < 2000);
	assert_int_equal(s.frames, 0);
	tls_close(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/*
 * A bad header over TLS is rejected with its wire reason; a peer that
 * sends nothing cannot hold tls_recv past its timeout.
 */
static void
test_recv_reject_and_timeout(void **state)
{
	struct tls_ctx *sc = ctx(TLS_SERVER, "ca", "host-a", "ca");
	struct tls_ctx *cc = ctx(TLS_CLIENT, "ca", "host-b", "ca");
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_conn *c = NULL;
	struct srv s;
	static const uint8_t v0[WIRE_HDR_LEN] = { 'V', 'C', 'H', 'W' };

	(void)state;
	server_start(&s, sc, 1, 300);
	if (tls_connect(cc, "127.0.0.1", s.port, "host-a", TMO, &c, &e) < 0)
		fail_msg("connect: %s", e.msg);
	assert_int_equal(tls_send(c, v0, sizeof(v0), TMO, &e), 0);
	server_join(&s);
	assert_int_equal(s.recv_rc, VOUCH_E_UNSUPPORTED);
	assert_int_equal(s.why, WIRE_R_BAD_VERSION);
	tls_close(c);

	server_start(&s, sc, 1, 300);
	if (tls_connect(cc, "127.0.0.1", s.port, "host-a", TMO, &c, &e) < 0)
		fail_msg("connect: %s", e.msg);
	server_join(&s);	/* nothing sent at all */
	assert_int_equal(s.recv_rc, VOUCH_E_IO);
	assert_non_null(strstr(s.e.msg, "timed out"));
	assert_true(s.recv_ms >= 250 && s.recv_ms < 3000);
	tls_close(c);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}

/* Misconfiguration fails at context creation, not at the first peer. */
static void
test_ctx_errors(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_ctx *c = NULL;

	(void)state;
	assert_int_equal(tls_ctx_new(TLS_SERVER, p("ca2", "host-a", "pem"),
	    p("ca2", "host-a", "key"), p("ca", "ca", "pem"), &c, &e),
	    VOUCH_E_CRYPTO);
	assert_non_null(strstr(e.msg, "does not verify"));
	assert_int_equal(tls_ctx_new(TLS_SERVER, p("ca", "host-a", "pem"),
	    p("ca", "host-b", "key"), p("ca", "ca", "pem"), &c, &e),
	    VOUCH_E_CRYPTO);
	assert_int_equal(tls_ctx_new(TLS_CLIENT, p("ca", "nope", "pem"),
	    p("ca", "host-b", "key"), p("ca", "ca", "pem"), &c, &e),
	    VOUCH_E_CRYPTO);
	assert_int_equal(tls_ctx_new(TLS_CLIENT, p("ca", "host-b", "pem"),
	    p("ca", "nope", "key"), p("ca", "ca", "pem"), &c, &e), VOUCH_E_IO);
	assert_null(c);
	tls_ctx_free(NULL);
	tls_close(NULL);

	c = ctx(TLS_CLIENT, "ca", "host-b", "ca");
	assert_int_equal(tls_connect(c, "127.0.0.1", 1, "Host-A", 100, &(struct
	    tls_conn *){ NULL }, &e), VOUCH_E_INVAL);
	tls_ctx_free(c);
}

/* pki: file modes, refusal to replace a CA, bad names and addresses. */
static void
test_pki_files(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct stat st;
	char ca[128], out[128];

	(void)state;
	assert_int_equal(stat(p("ca", "ca", "key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(p("ca", "host-a", "key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(ca, sizeof(ca), "%s/ca", dir);
	assert_int_equal(pki_ca_create(ca, 30, &e), VOUCH_E_EXISTS);
	snprintf(out, sizeof(out), "%s/bad", dir);
	assert_int_equal(pki_host_issue(ca, "../evil", NULL, 30, out, &e),
	    VOUCH_E_INVAL);
	assert_int_equal(pki_host_issue(ca, "host-c", "300.1.1.1", 30, out,
	    &e), VOUCH_E_INVAL);
	assert_int_equal(pki_host_issue(ca, "host-c", NULL, 0, out, &e),
	    VOUCH_E_INVAL);
	assert_int_not_equal(stat(out, &st), 0);	/* nothing written */
	assert_int_equal(pki_host_issue(ca, "host-c", "::1", 30, out, &e), 0);
	assert_int_equal(stat(p("bad", "host-c", "key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_tls_roundtrip),
		cmocka_unit_test(test_region_client_accepted_raw),
		cmocka_unit_test(test_self_signed_client_refused),
		cmocka_unit_test(test_foreign_ca_client_refused),
		cmocka_unit_test(test_no_cert_client_refused),
		cmocka_unit_test(test_tls12_client_refused),
		cmocka_unit_test(test_wrong_server_name_refused),
		cmocka_unit_test(test_foreign_server_refused),
		cmocka_unit_test(test_oversize_refused_before_body),
		cmocka_unit_test(test_recv_reject_and_timeout),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_pki_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
