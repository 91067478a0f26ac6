/*
 * test_service.c - the RC-TCB service (tcb/service.c) with real IVT,
 * store (SQLite in a temp dir), verifier and policy, and fake neighbours:
 * every frame is built here, evidence is signed by OpenSSL keys enrolled
 * straight into the store (tests/fake_quote.h), and direct attestations
 * go through a scripted transport instead of TLS.
 *
 * Region: h1..h4 enrolled, neighbours 2, quorum 2: h1 <- h2,h3
 * h2 <- h3,h4  h3 <- h4,h1  h4 <- h1,h2; h5 is in the region but never
 * enrolled (no AK: PENDING, outside the ring).
 */
#include <setjmp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "common/wire.h"
#include "migrate/order.h"
#include "tcb/service.h"
#include "tcb/store.h"
#include "tcb/tcbd_conf.h"
#include "tests/fake_quote.h"

#define NHOSTS	4

enum behaviour { GOOD, TAMPERED, UNREACHABLE_HOST, ROGUE };

struct fx {
	char			 dir[64];
	struct tcbd_conf	 conf;
	struct svc		*s;
	struct svc_hooks	 hooks;
	int64_t			 now;
	EVP_PKEY		*key[NHOSTS + 1];	/* [i] for hI */
	EVP_PKEY		*rogue;
	enum behaviour		 how[NHOSTS + 1];
	uint64_t		 clock[NHOSTS + 1];
	uint64_t		 seq;
	int			 direct_calls;
	/* the scripted order transport: 0 ACK, 1 ERROR, -1 unreachable */
	int			 order_answer;
	int			 orders_sent;
	char			 order_host[64];
	char			 order_json[4096];
};

static const uint8_t zero32[32];

/* 1 if s occurs in p[0..n) (memmem is not C11/POSIX). */
static int
has(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s), i;

	for (i = 0; i + k <= n; i++)
		if (memcmp(p + i, s, k) == 0)
			return 1;
	return 0;
}

static int64_t
fake_now(void *arg)
{
	return ((struct fx *)arg)->now;
}

static int
host_index(const char *h)
{
	return h[0] == 'h' && h[1] >= '1' && h[1] <= '0' + NHOSTS &&
	    h[2] == '\0' ? h[1] - '0' : -1;
}

/* The scripted direct-attestation transport. */
static int
fake_challenge(void *arg, const char *host, const uint8_t nonce[32],
    const char *pcr_sel, uint32_t flags, uint8_t **evidence, size_t *len,
    struct vouch_err *e)
{
	struct fx *f = arg;
	int i = host_index(host);
	uint8_t bad[32];

	(void)flags;
	f->direct_calls++;
	assert_string_equal(pcr_sel, "sha256:0");
	if (i < 0 || f->how[i] == UNREACHABLE_HOST)
		return vouch_err_set(e, VOUCH_E_IO, "connection refused");
	memset(bad, 0x11, sizeof(bad));
	*evidence = (uint8_t *)fq_evidence(f->how[i] == ROGUE ? f->rogue :
	    f->key[i], nonce, f->how[i] == TAMPERED ? bad : zero32,
	    ++f->clock[i], 1, len);
	return *evidence != NULL ? 0 : vouch_err_set(e, VOUCH_E_INTERNAL, "x");
}

static int
fake_order(void *arg, const char *host, uint64_t id, const char *json,
    char *why, size_t cap, struct vouch_err *e)
{
	struct fx *f = arg;

	(void)id;
	f->orders_sent++;
	snprintf(f->order_host, sizeof(f->order_host), "%s", host);
	snprintf(f->order_json, sizeof(f->order_json), "%s", json);
	if (f->order_answer > 0) {
		snprintf(why, cap, "no such domain");
		return 1;
	}
	if (f->order_answer < 0)
		return vouch_err_set(e, VOUCH_E_IO, "connection refused");
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int
fx_start(struct fx *f)
{
	struct vouch_err e = VOUCH_ERR_INIT;

	if (svc_new(&f->conf, &f->hooks, &f->s, &e) < 0) {
		fprintf(stderr, "svc_new: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store *st;
	char path[128], text[2048];
	int i;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_service.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/region.cfg", f->dir);
	write_file(path, "region = { name = \"lab-unit\";\n"
	    " tcbd = { name = \"tcbd\"; addr = \"127.0.0.1\"; port = 1; };\n"
	    " hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 11; },\n"
	    "  { name = \"h2\"; addr = \"127.0.0.1\"; port = 12; },\n"
	    "  { name = \"h3\"; addr = \"127.0.0.1\"; port = 13; },\n"
	    "  { name = \"h4\"; addr = \"127.0.0.1\"; port = 14; },\n"
	    "  { name = \"h5\"; addr = \"127.0.0.1\"; port = 15; } ); };\n");
	snprintf(path, sizeof(path), "%s/policy.cfg", f->dir);
	write_file(path, FQ_POLICY);
	snprintf(path, sizeof(path), "%s/hook.sh", f->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$1|$2\" >>%s/hook.out\n",
	    f->dir);
	write_file(path, text);
	chmod(path, 0755);
	snprintf(text, sizeof(text),
	    "name = \"tcbd\"; region = \"region.cfg\"; policy = \"policy.cfg\";\n"
	    "store = \"sqlite:ivt.db\";\n"
	    "tls = { cert = \"none.pem\"; key = \"none.key\"; ca = \"ca.pem\"; };\n"
	    "interval = 1; freshness = 5; on_untrusted = \"hook.sh\";\n"
	    "evacuation = { report_timeout = 30; host_vcpus = 8; "
	    "host_mib = 8192; };\n"
	    "lab = { allow_faults = true; };\n");
	snprintf(path, sizeof(path), "%s/tcbd.cfg", f->dir);
	if (tcbd_conf_load_string(path, text, &f->conf, &e) < 0)
		fail_msg("%s", e.msg);
	f->now = 1700000000000LL;
	assert_int_equal(store_open(f->conf.store, &st, &e), 0);
	for (i = 1; i <= NHOSTS; i++) {
		char h[8];

		snprintf(h, sizeof(h), "h%d", i);
		assert_non_null(f->key[i] = fq_key());
		assert_int_equal(fq_enrol(st, h, f->key[i], f->now), 0);
	}
	store_free(st);
	assert_non_null(f->rogue = fq_key());
	f->hooks.now_ms = fake_now;
	f->hooks.challenge = fake_challenge;
	f->hooks.order = fake_order;
	f->hooks.arg = f;
	f->seq = 1;
	assert_int_equal(fx_start(f), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	int i;

	svc_free(f->s);
	for (i = 0; i <= NHOSTS; i++)
		EVP_PKEY_free(f->key[i]);
	EVP_PKEY_free(f->rogue);
	/*
	 * on_untrusted hooks the service started may still be writing into
	 * the directory (svc_free does not wait for them): reap them first.
	 */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		errno = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- frames ---- */

static struct wire_msg *
finish(struct wire_enc *w)
{
	const uint8_t *fr;
	size_t len;
	uint8_t *copy;
	struct wire_msg *m;

	assert_int_equal(wire_enc_finish(w, &fr, &len, NULL), 0);
	copy = malloc(len);
	memcpy(copy, fr, len);
	assert_int_equal(wire_decode_owned(copy, len, &m, NULL, NULL), 0);
	wire_enc_free(w);
	return m;
}

static struct wire_msg *
hello(const char *host, uint8_t role)
{
	struct wire_enc *w;

	assert_int_equal(wire_enc_new(WIRE_T_HELLO, &w, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_HOST, host, NULL), 0);
	assert_int_equal(wire_put_u8(w, WIRE_F_ROLE, role, NULL), 0);
	assert_int_equal(wire_put_u32(w, WIRE_F_VERSION_MIN, 1, NULL), 0);
	assert_int_equal(wire_put_u32(w, WIRE_F_VERSION_MAX, 1, NULL), 0);
	return finish(w);
}

static struct wire_msg *
verdict(const char *subject, const char *verifier, uint8_t result,
    const char *ev, size_t evlen, int has_epoch, uint64_t epoch, uint64_t seq,
    const char *reason)
{
	struct wire_enc *w;

	assert_int_equal(wire_enc_new(WIRE_T_VERDICT, &w, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_SUBJECT, subject, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_VERIFIER, verifier, NULL), 0);
	assert_int_equal(wire_put_u64(w, WIRE_F_TIME, 1, NULL), 0);
	assert_int_equal(wire_put_u8(w, WIRE_F_RESULT, result, NULL), 0);
	assert_int_equal(wire_put_u64(w, WIRE_F_SEQ, seq, NULL), 0);
	if (reason != NULL)
		assert_int_equal(wire_put_str(w, WIRE_F_REASON, reason, NULL), 0);
	if (ev != NULL)
		assert_int_equal(wire_put_bytes(w, WIRE_F_EVIDENCE, ev, evlen,
		    NULL), 0);
	if (has_epoch)
		assert_int_equal(wire_put_u64(w, WIRE_F_EPOCH, epoch, NULL), 0);
	return finish(w);
}

static struct wire_msg *
status_req(const char *json)
{
	struct wire_enc *w;

	assert_int_equal(wire_enc_new(WIRE_T_STATUS_REQUEST, &w, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_JSON, json, NULL), 0);
	return finish(w);
}

/* Type of reply frame i (decoded); *m gets it if m != NULL. */
static uint16_t
reply_type(const struct svc_reply *r, size_t i, struct wire_msg **m)
{
	struct wire_msg *x;
	uint16_t t;

	assert_true(i < r->n);
	assert_int_equal(wire_decode(r->frame[i], r->len[i], &x, NULL, NULL), 0);
	t = wire_msg_type(x);
	if (m != NULL)
		*m = x;
	else
		wire_msg_free(x);
	return t;
}

/* Feed one message to c (taking it), replies into out (reset first). */
static void
feed(struct svc_conv *c, struct wire_msg *m, struct svc_reply *out)
{
	svc_reply_reset(out);
	svc_conv_input(c, &m, 1, out);
	wire_msg_free(m);
}

/* A conversation of peer after a good HELLO. */
static struct svc_conv *
open_as(struct fx *f, const char *peer, uint8_t role)
{
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c;

	assert_int_equal(svc_conv_new(f->s, SVC_TLS, peer, &c, NULL), 0);
	feed(c, hello(peer, role), &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_HELLO);
	assert_false(out.close);
	svc_reply_free(&out);
	return c;
}

/* Evidence for (subject) as challenged by verifier in the current epoch. */
static char *
good_evidence(struct fx *f, const char *verifier, const char *subject,
    EVP_PKEY *key, const uint8_t *pcr0, uint64_t *epoch, size_t *len)
{
	uint8_t rnd[32], nonce[32];
	int i = host_index(subject);

	svc_epoch(f->s, epoch, rnd);
	svc_nonce_derive(rnd, *epoch, verifier, subject, nonce);
	return fq_evidence(key != NULL ? key : f->key[i], nonce,
	    pcr0 != NULL ? pcr0 : zero32, ++f->clock[i], 1, len);
}

/* One verdict from verifier on subject; returns the reply's first type. */
static uint16_t
send_verdict(struct fx *f, const char *verifier, const char *subject,
    uint8_t result, EVP_PKEY *key, const uint8_t *pcr0, char *msg, size_t cap)
{
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = open_as(f, verifier, WIRE_ROLE_VOUCHD);
	struct wire_msg *r;
	uint64_t epoch;
	size_t len = 0;
	char *ev = NULL;
	uint16_t t;

	/* The IVT keeps one verdict per verifier and RC-TCB millisecond. */
	f->now += 10;
	if (result != WIRE_RESULT_ERROR)
		ev = good_evidence(f, verifier, subject, key, pcr0, &epoch, &len);
	else
		svc_epoch(f->s, &epoch, (uint8_t[32]){ 0 });
	feed(c, verdict(subject, verifier, result, ev, len, 1, epoch, f->seq++,
	    result == WIRE_RESULT_PASS ? NULL : "unit test says so"), &out);
	t = reply_type(&out, 0, &r);
	if (msg != NULL && t == WIRE_T_ERROR)
		assert_int_equal(wire_get_str(r, WIRE_F_MESSAGE, msg, cap, NULL), 0);
	wire_msg_free(r);
	svc_reply_free(&out);
	svc_conv_free(c);
	free(ev);
	return t;
}

/* A field of host h from the admin "host" command. */
static json_object *
host_json(struct fx *f, const char *h)
{
	char req[64], *reply = NULL;
	json_object *o, *x;

	snprintf(req, sizeof(req), "{\"cmd\":\"host\",\"name\":\"%s\"}", h);
	assert_int_equal(svc_admin(f->s, req, strlen(req), &reply, NULL), 0);
	o = json_tokener_parse(reply);
	free(reply);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "host", &x));
	json_object_get(x);
	json_object_put(o);
	return x;
}

static const char *
state_of(struct fx *f, const char *h, char *buf, size_t cap)
{
	json_object *x = host_json(f, h), *v;

	assert_true(json_object_object_get_ex(x, "state", &v));
	snprintf(buf, cap, "%s", json_object_get_string(v));
	json_object_put(x);
	return buf;
}

static int64_t
host_int(struct fx *f, const char *h, const char *key)
{
	json_object *x = host_json(f, h), *v;
	int64_t r;

	assert_true(json_object_object_get_ex(x, key, &v));
	r = json_object_get_int64(v);
	json_object_put(x);
	return r;
}

/* Both neighbours of every host PASS: everyone TRUSTED. */
static void
all_pass(struct fx *f)
{
	static const char *const pairs[][2] = {
	    { "h2", "h1" }, { "h3", "h1" }, { "h3", "h2" }, { "h4", "h2" },
	    { "h4", "h3" }, { "h1", "h3" }, { "h1", "h4" }, { "h2", "h4" } };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(pairs); i++)
		assert_int_equal(send_verdict(f, pairs[i][0], pairs[i][1],
		    WIRE_RESULT_PASS, NULL, NULL, NULL, 0), WIRE_T_ACK);
}

/* ---- tests ---- */

static void
test_nonce_vector(void **state)
{
	uint8_t rnd[32], got[32], want[32], buf[128];
	size_t n = 0;
	int i;

	(void)state;
	for (i = 0; i < 32; i++)
		rnd[i] = (uint8_t)i;
	memcpy(buf, "vouch-challenge-v1", 18);
	n = 18;
	memcpy(buf + n, rnd, 32);
	n += 32;
	for (i = 0; i < 8; i++)
		buf[n++] = (uint8_t)(0x0102030405060708ULL >> (56 - 8 * i));
	memcpy(buf + n, "alpha", 5);
	n += 5;
	buf[n++] = 0;
	memcpy(buf + n, "bravo", 5);
	n += 5;
	assert_int_equal(EVP_Digest(buf, n, want, NULL, EVP_sha256(), NULL), 1);
	svc_nonce_derive(rnd, 0x0102030405060708ULL, "alpha", "bravo", got);
	assert_memory_equal(got, want, 32);
	svc_nonce_derive(rnd, 0x0102030405060708ULL, "bravo", "alpha", got);
	assert_memory_not_equal(got, want, 32);
}

static void
test_hello_refusals(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c;

	/* HELLO.HOST must be the certificate's name */
	assert_int_equal(svc_conv_new(f->s, SVC_TLS, "h1", &c, NULL), 0);
	feed(c, hello("h2", WIRE_ROLE_VOUCHD), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	assert_true(out.close);
	svc_conv_free(c);
	/* not a host of the region */
	assert_int_equal(svc_conv_new(f->s, SVC_TLS, "h9", &c, NULL), 0);
	feed(c, hello("h9", WIRE_ROLE_VOUCHD), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	svc_conv_free(c);
	/* a host is no admin */
	assert_int_equal(svc_conv_new(f->s, SVC_TLS, "h1", &c, NULL), 0);
	feed(c, hello("h1", WIRE_ROLE_CTL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	svc_conv_free(c);
	/* anything before HELLO */
	assert_int_equal(svc_conv_new(f->s, SVC_TLS, "h1", &c, NULL), 0);
	feed(c, status_req("{\"cmd\":\"status\"}"), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	assert_true(out.close);
	svc_conv_free(c);
	/* a frame the daemon could not decode */
	assert_int_equal(svc_conv_new(f->s, SVC_TLS, "h1", &c, NULL), 0);
	svc_reply_reset(&out);
	svc_conv_reject(c, WIRE_R_OVERSIZE, NULL, &out);
	{
		struct wire_msg *m;
		uint32_t code;

		assert_int_equal(reply_type(&out, 0, &m), WIRE_T_ERROR);
		assert_int_equal(wire_get_u32(m, WIRE_F_CODE, &code, NULL), 0);
		assert_int_equal(code, WIRE_ERR_REASON_BASE + WIRE_R_OVERSIZE);
		wire_msg_free(m);
	}
	assert_true(out.close);
	svc_conv_free(c);
	svc_reply_free(&out);
}

static void
test_epoch_on_silence(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	struct wire_msg *m;
	uint64_t e1, e2, got;
	uint8_t rnd[32];
	const uint8_t *p;
	size_t n;
	char nb[2][16];

	assert_true(svc_conv_at_choice(c));
	svc_epoch(f->s, &e1, rnd);
	svc_conv_idle(c, &out);
	assert_int_equal(reply_type(&out, 0, &m), WIRE_T_EPOCH);
	assert_true(out.close);
	assert_int_equal(wire_get_u64(m, WIRE_F_EPOCH, &got, NULL), 0);
	assert_int_equal(got, e1);
	assert_int_equal(wire_get_bytes(m, WIRE_F_EPOCH_RANDOM, &p, &n, NULL), 0);
	assert_memory_equal(p, rnd, 32);
	/* h2 challenges the hosts it verifies: h1 and h4 */
	assert_int_equal(wire_count(m, WIRE_F_NEIGHBOUR), 2);
	assert_int_equal(wire_get_str_at(m, WIRE_F_NEIGHBOUR, 0, nb[0], 16,
	    NULL), 0);
	assert_int_equal(wire_get_str_at(m, WIRE_F_NEIGHBOUR, 1, nb[1], 16,
	    NULL), 0);
	assert_string_equal(nb[0], "h1");
	assert_string_equal(nb[1], "h4");
	wire_msg_free(m);
	svc_conv_free(c);
	svc_reply_free(&out);

	/* a new epoch every interval, with a new random */
	f->now += 1000;
	assert_int_equal(svc_tick(f->s, NULL), 0);
	svc_epoch(f->s, &e2, (uint8_t[32]){ 0 });
	assert_int_equal(e2, e1 + 1);
	/* the number survives a restart; the random does not */
	svc_free(f->s);
	assert_int_equal(fx_start(f), 0);
	svc_epoch(f->s, &e1, rnd);
	assert_true(e1 > e2);
}

static void
test_quorum_to_trusted(void **state)
{
	struct fx *f = *state;
	char st[32];

	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "PENDING");
	assert_int_equal(send_verdict(f, "h2", "h1", WIRE_RESULT_PASS, NULL,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "PENDING");
	assert_int_equal(send_verdict(f, "h3", "h1", WIRE_RESULT_PASS, NULL,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "TRUSTED");
	/* a verifier that is not assigned is refused */
	assert_int_equal(send_verdict(f, "h4", "h1", WIRE_RESULT_PASS, NULL,
	    NULL, NULL, 0), WIRE_T_ERROR);
	/* freshness: without new PASSes h1 leaves TRUSTED */
	f->now += 6000;
	assert_int_equal(svc_tick(f->s, NULL), 0);
	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "PENDING");
}

static void
test_pipelined_batch_acks_in_order(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = open_as(f, "h3", WIRE_ROLE_VOUCHD);
	struct wire_msg *m[3], *r;
	char *ev1, *ev2;
	size_t l1, l2, i;
	uint64_t epoch, seq;

	ev1 = good_evidence(f, "h3", "h1", NULL, NULL, &epoch, &l1);
	ev2 = good_evidence(f, "h3", "h2", NULL, NULL, &epoch, &l2);
	m[0] = verdict("h1", "h3", WIRE_RESULT_PASS, ev1, l1, 1, epoch, 10, NULL);
	m[1] = verdict("h2", "h3", WIRE_RESULT_PASS, ev2, l2, 1, epoch, 11, NULL);
	/* SEQ must increase strictly: the third is refused */
	m[2] = verdict("h2", "h3", WIRE_RESULT_PASS, ev2, l2, 1, epoch, 11, NULL);
	svc_conv_input(c, m, 3, &out);
	assert_int_equal(out.n, 3);
	for (i = 0; i < 2; i++) {
		assert_int_equal(reply_type(&out, i, &r), WIRE_T_ACK);
		assert_int_equal(wire_get_u64(r, WIRE_F_SEQ, &seq, NULL), 0);
		assert_int_equal(seq, 10 + i);
		wire_msg_free(r);
	}
	assert_int_equal(reply_type(&out, 2, NULL), WIRE_T_ERROR);
	assert_true(out.close);
	assert_int_equal(host_int(f, "h1", "passes"), 1);
	assert_int_equal(host_int(f, "h2", "passes"), 1);
	for (i = 0; i < 3; i++)
		wire_msg_free(m[i]);
	free(ev1);
	free(ev2);
	svc_reply_free(&out);
	svc_conv_free(c);
}

static void
test_replay_stale_and_duplicate(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c;
	struct wire_msg *r;
	char *ev, msg[1100];
	size_t len;
	uint64_t epoch;

	ev = good_evidence(f, "h2", "h1", NULL, NULL, &epoch, &len);
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, verdict("h1", "h2", WIRE_RESULT_PASS, ev, len, 1, epoch, 5,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ACK);
	svc_conv_free(c);
	assert_int_equal(host_int(f, "h1", "passes"), 1);
	/* re-sent on a new connection with another SEQ: duplicate, ACKed */
	f->now += 10;
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, verdict("h1", "h2", WIRE_RESULT_PASS, ev, len, 1, epoch, 6,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ACK);
	svc_conv_free(c);
	assert_int_equal(host_int(f, "h1", "passes"), 1);
	/* two epochs later the recording is stale: refused */
	assert_int_equal(svc_epoch_advance(f->s, NULL), 0);
	assert_int_equal(svc_epoch_advance(f->s, NULL), 0);
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, verdict("h1", "h2", WIRE_RESULT_PASS, ev, len, 1, epoch, 7,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, &r), WIRE_T_ERROR);
	assert_int_equal(wire_get_str(r, WIRE_F_MESSAGE, msg, sizeof(msg),
	    NULL), 0);
	assert_non_null(strstr(msg, "stale"));
	wire_msg_free(r);
	svc_conv_free(c);
	/* the recorded evidence in a current VERDICT: its nonce is old */
	svc_epoch(f->s, &epoch, (uint8_t[32]){ 0 });
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, verdict("h1", "h2", WIRE_RESULT_PASS, ev, len, 1, epoch, 8,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ACK);
	svc_conv_free(c);
	assert_int_equal(host_int(f, "h1", "passes"), 1);
	assert_int_equal(host_int(f, "h1", "fails"), 1);
	assert_string_equal(state_of(f, "h1", msg, sizeof(msg)), "SUSPECT");
	free(ev);
	svc_reply_free(&out);
}

static void
test_unenrolled_ak_and_direct_clears(void **state)
{
	struct fx *f = *state;
	char st[32], *reply = NULL;
	const char *req = "{\"cmd\":\"host\",\"name\":\"h1\"}";

	all_pass(f);
	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "TRUSTED");
	/* h2 forwards evidence signed by an AK nobody enrolled */
	assert_int_equal(send_verdict(f, "h2", "h1", WIRE_RESULT_PASS, f->rogue,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "SUSPECT");
	assert_int_equal(svc_admin(f->s, req, strlen(req), &reply, NULL), 0);
	assert_non_null(strstr(reply, "\"reverified\":\"FAIL\""));
	assert_non_null(strstr(reply, "signature"));
	free(reply);
	/* the RC-TCB attests h1 itself: PASS, the accuser is disproved */
	assert_int_equal(svc_direct_run_pending(f->s), 1);
	assert_int_equal(f->direct_calls, 1);
	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "TRUSTED");
	assert_int_equal(host_int(f, "h2", "disproved"), 1);
}

static void
test_liar_cannot_evict_nor_shield(void **state)
{
	struct fx *f = *state;
	char st[32];
	int i;

	all_pass(f);
	/* a FAIL without evidence from h2, every interval: never UNTRUSTED */
	for (i = 0; i < 3; i++) {
		f->now += 100;
		assert_int_equal(send_verdict(f, "h2", "h1", WIRE_RESULT_FAIL,
		    NULL, NULL, NULL, 0), WIRE_T_ACK);
		assert_string_equal(state_of(f, "h1", st, sizeof(st)), "SUSPECT");
		assert_int_equal(svc_direct_run_pending(f->s), 1);
		assert_string_equal(state_of(f, "h1", st, sizeof(st)), "TRUSTED");
	}
	assert_int_equal(host_int(f, "h2", "disproved"), 3);
	/* a PASS forwarded for a tampered host fails re-verification */
	f->how[3] = TAMPERED;
	{
		uint8_t bad[32];

		memset(bad, 0x11, sizeof(bad));
		assert_int_equal(send_verdict(f, "h4", "h3", WIRE_RESULT_PASS,
		    NULL, bad, NULL, 0), WIRE_T_ACK);
	}
	assert_string_equal(state_of(f, "h3", st, sizeof(st)), "SUSPECT");
	assert_int_equal(svc_direct_run_pending(f->s), 1);
	assert_string_equal(state_of(f, "h3", st, sizeof(st)), "UNTRUSTED");
}

static void
test_untrusted_runs_hook(void **state)
{
	struct fx *f = *state;
	char st[32], path[128], *buf = NULL;
	size_t len = 0;
	int i;

	all_pass(f);
	f->how[2] = TAMPERED;
	assert_int_equal(send_verdict(f, "h3", "h2", WIRE_RESULT_FAIL, NULL,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_int_equal(svc_direct_run_pending(f->s), 1);
	assert_string_equal(state_of(f, "h2", st, sizeof(st)), "UNTRUSTED");
	/* hook: argv = host, reason (no shell); reaped by svc_tick */
	snprintf(path, sizeof(path), "%s/hook.out", f->dir);
	for (i = 0; i < 200 && access(path, R_OK) != 0; i++)
		usleep(10000);
	usleep(50000);
	assert_int_equal(svc_tick(f->s, NULL), 0);
	assert_int_equal(file_read(path, 4096, (uint8_t **)&buf, &len, NULL), 0);
	{
		int ok = strstr(buf, "h2|") == buf &&
		    strstr(buf, "refvals:") != NULL;
		char copy[256];

		snprintf(copy, sizeof(copy), "%s", buf);
		free(buf);
		if (!ok)
			fail_msg("hook got: %s", copy);
	}
	/* an UNTRUSTED host's verdicts are refused */
	assert_int_equal(send_verdict(f, "h3", "h2", WIRE_RESULT_PASS, NULL,
	    NULL, NULL, 0), WIRE_T_ERROR);
}

static void
test_unreachable_is_not_untrusted(void **state)
{
	struct fx *f = *state;
	char st[32];

	all_pass(f);
	f->how[4] = UNREACHABLE_HOST;
	assert_int_equal(send_verdict(f, "h1", "h4", WIRE_RESULT_FAIL, NULL,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_int_equal(svc_direct_run_pending(f->s), 1);
	assert_string_equal(state_of(f, "h4", st, sizeof(st)), "UNREACHABLE");
	/* retried every interval until the host answers */
	f->now += 1000;
	assert_int_equal(svc_tick(f->s, NULL), 0);
	f->how[4] = GOOD;
	assert_int_equal(svc_direct_run_pending(f->s), 1);
	assert_string_equal(state_of(f, "h4", st, sizeof(st)), "TRUSTED");
	/* a neighbour's ERROR verdict never makes a host UNTRUSTED */
	assert_int_equal(send_verdict(f, "h1", "h4", WIRE_RESULT_ERROR, NULL,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_string_not_equal(state_of(f, "h4", st, sizeof(st)), "UNTRUSTED");
}

static void
test_protocol_refusals(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c;
	uint64_t epoch;

	svc_epoch(f->s, &epoch, (uint8_t[32]){ 0 });
	/* PASS without evidence */
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, verdict("h1", "h2", WIRE_RESULT_PASS, NULL, 0, 1, epoch, 1,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	svc_conv_free(c);
	/* VERIFIER is not the certificate's name */
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, verdict("h1", "h3", WIRE_RESULT_ERROR, NULL, 0, 1, epoch, 1,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	svc_conv_free(c);
	/* a verdict on a host outside the region */
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, verdict("h9", "h2", WIRE_RESULT_ERROR, NULL, 0, 1, epoch, 1,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	svc_conv_free(c);
	/* an enrolment whose AK does not parse */
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	{
		struct wire_enc *w;
		uint8_t junk[40];

		memset(junk, 0x5a, sizeof(junk));
		assert_int_equal(wire_enc_new(WIRE_T_ENROL_REQUEST, &w, NULL), 0);
		assert_int_equal(wire_put_bytes(w, WIRE_F_EK_PUB, junk, 40,
		    NULL), 0);
		assert_int_equal(wire_put_bytes(w, WIRE_F_AK_PUB, junk, 40,
		    NULL), 0);
		assert_int_equal(wire_put_bytes(w, WIRE_F_AK_NAME, junk, 34,
		    NULL), 0);
		feed(c, finish(w), &out);
	}
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	assert_true(out.close);
	svc_conv_free(c);
	svc_reply_free(&out);
}

static void
test_unenrolled_subject_refused(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	struct wire_msg *r;
	uint8_t rnd[32], nonce[32];
	uint64_t epoch;
	size_t len;
	char *ev, msg[1100], st[32];

	/* evidence "of h5" signed by a key no enrolment ever bound */
	svc_epoch(f->s, &epoch, rnd);
	svc_nonce_derive(rnd, epoch, "h2", "h5", nonce);
	ev = fq_evidence(f->rogue, nonce, zero32, 1, 1, &len);
	assert_non_null(ev);
	feed(c, verdict("h5", "h2", WIRE_RESULT_PASS, ev, len, 1, epoch, 1,
	    NULL), &out);
	assert_int_equal(reply_type(&out, 0, &r), WIRE_T_ERROR);
	assert_int_equal(wire_get_str(r, WIRE_F_MESSAGE, msg, sizeof(msg),
	    NULL), 0);
	assert_non_null(strstr(msg, "no enrolled AK"));
	assert_true(out.close);
	assert_string_equal(state_of(f, "h5", st, sizeof(st)), "PENDING");
	wire_msg_free(r);
	free(ev);
	svc_reply_free(&out);
	svc_conv_free(c);
}

static void
test_admin_commands(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c;
	struct wire_msg *m;
	const uint8_t *p;
	size_t n;
	char *reply = NULL;
	static const char *const ok[] = {
	    "{\"cmd\":\"status\"}", "{\"cmd\":\"hosts\"}", "{\"cmd\":\"ivt\"}",
	    "{\"cmd\":\"rank\",\"vcpus\":1,\"mib\":1,\"max\":3}",
	    "{\"cmd\":\"events\",\"after\":0,\"max\":5}",
	    "{\"cmd\":\"ak\",\"host\":\"h1\"}", "{\"cmd\":\"epoch-advance\"}" };
	static const char *const bad[] = {
	    "", "[]", "{\"cmd\":7}", "{\"cmd\":\"nope\"}",
	    "{\"cmd\":\"host\",\"name\":\"h9\"}", "{\"cmd\":\"rank\",\"max\":0}",
	    "{\"cmd\":\"status\"} trailing" };
	size_t i;

	all_pass(f);
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(svc_admin(f->s, ok[i], strlen(ok[i]), &reply,
		    NULL), 0);
		free(reply);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		assert_true(svc_admin(f->s, bad[i], strlen(bad[i]), &reply,
		    NULL) < 0);
	/* rank: every host TRUSTED, no capacity asked for */
	assert_int_equal(svc_admin(f->s, "{\"cmd\":\"rank\"}", 14, &reply,
	    NULL), 0);
	assert_non_null(strstr(reply, "\"score\""));
	free(reply);
	/* over the local socket: HELLO, then requests, repeatable */
	assert_int_equal(svc_conv_new(f->s, SVC_LOCAL, NULL, &c, NULL), 0);
	feed(c, hello("vouchctl", WIRE_ROLE_CTL), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_HELLO);
	for (i = 0; i < 2; i++) {
		feed(c, status_req("{\"cmd\":\"status\"}"), &out);
		assert_int_equal(reply_type(&out, 0, &m), WIRE_T_STATUS_REPLY);
		assert_int_equal(wire_get_bytes(m, WIRE_F_JSON, &p, &n, NULL), 0);
		assert_true(has(p, n, "\"TRUSTED\":4"));
		wire_msg_free(m);
		assert_false(out.close);
	}
	svc_conv_free(c);
	/* a host may ask for AKs only */
	c = open_as(f, "h1", WIRE_ROLE_VOUCHD);
	feed(c, status_req("{\"cmd\":\"ak\",\"host\":\"h2\"}"), &out);
	assert_int_equal(reply_type(&out, 0, &m), WIRE_T_STATUS_REPLY);
	assert_int_equal(wire_get_bytes(m, WIRE_F_JSON, &p, &n, NULL), 0);
	assert_true(has(p, n, "BEGIN PUBLIC KEY"));
	wire_msg_free(m);
	svc_conv_free(c);
	c = open_as(f, "h1", WIRE_ROLE_VOUCHD);
	feed(c, status_req("{\"cmd\":\"ivt\"}"), &out);
	assert_int_equal(reply_type(&out, 0, &m), WIRE_T_STATUS_REPLY);
	assert_int_equal(wire_get_bytes(m, WIRE_F_JSON, &p, &n, NULL), 0);
	assert_true(has(p, n, "\"error\""));
	wire_msg_free(m);
	svc_conv_free(c);
	svc_reply_free(&out);
}

static struct wire_msg *
alert_msg(const char *target, const char *type, int critical, const char *json,
    int has_seq, uint64_t seq)
{
	struct wire_enc *w;

	assert_int_equal(wire_enc_new(WIRE_T_ALERT, &w, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_TARGET, target, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_TYPE, type, NULL), 0);
	assert_int_equal(wire_put_u8(w, WIRE_F_CRITICAL, (uint8_t)critical,
	    NULL), 0);
	assert_int_equal(wire_put_u64(w, WIRE_F_TIME, 1700000000123ull, NULL),
	    0);
	assert_int_equal(wire_put_str(w, WIRE_F_JSON, json, NULL), 0);
	if (has_seq)
		assert_int_equal(wire_put_u64(w, WIRE_F_SEQ, seq, NULL), 0);
	return finish(w);
}

/* The admin "alerts" view: how many, and the JSON for a closer look. */
static size_t
alerts_of(struct fx *f, const char *req, json_object **out)
{
	char *reply = NULL;
	json_object *o, *a;
	size_t n;

	assert_int_equal(svc_admin(f->s, req, strlen(req), &reply, NULL), 0);
	o = json_tokener_parse(reply);
	free(reply);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "alerts", &a));
	n = json_object_array_length(a);
	if (out != NULL)
		*out = o;
	else
		json_object_put(o);
	return n;
}

#define FINDING	"{\"target\":\"web1\",\"type\":\"syscall_hook\"," \
	"\"critical\":true,\"index\":39}"

static void
test_alerts_stored_and_acked(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = open_as(f, "h1", WIRE_ROLE_VOUCHD);
	struct wire_msg *m[3], *r;
	json_object *o, *a, *x, *v;
	uint64_t seq;
	size_t i;

	/* pipelined after HELLO: one commit, ACK{SEQ} each, in order */
	m[0] = alert_msg("web1", "syscall_hook", 1, FINDING, 1, 5);
	m[1] = alert_msg("web2", "repaired", 0, "{\"index\":39}", 1, 6);
	svc_conv_input(c, m, 2, &out);
	assert_int_equal(out.n, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(reply_type(&out, i, &r), WIRE_T_ACK);
		assert_int_equal(wire_get_u64(r, WIRE_F_SEQ, &seq, NULL), 0);
		assert_int_equal(seq, 5 + i);
		wire_msg_free(r);
		wire_msg_free(m[i]);
	}
	assert_false(out.close);
	/* more on the same connection; without SEQ the ACK is the store's */
	feed(c, alert_msg("web1", "text_modified", 1, "{}", 0, 0), &out);
	assert_int_equal(reply_type(&out, 0, &r), WIRE_T_ACK);
	assert_int_equal(wire_get_u64(r, WIRE_F_SEQ, &seq, NULL), 0);
	assert_int_equal(seq, 3);
	wire_msg_free(r);
	/* a verdict is not an alert: ERROR and close */
	feed(c, verdict("h2", "h1", WIRE_RESULT_ERROR, NULL, 0, 0, 0, 1, NULL),
	    &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	assert_true(out.close);
	svc_conv_free(c);

	/* the admin view: newest first, the finding as an object */
	assert_int_equal(alerts_of(f, "{\"cmd\":\"alerts\"}", &o), 3);
	assert_true(json_object_object_get_ex(o, "alerts", &a));
	x = json_object_array_get_idx(a, 2);
	assert_true(json_object_object_get_ex(x, "host", &v));
	assert_string_equal(json_object_get_string(v), "h1");
	assert_true(json_object_object_get_ex(x, "type", &v));
	assert_string_equal(json_object_get_string(v), "syscall_hook");
	assert_true(json_object_object_get_ex(x, "critical", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(x, "time", &v));
	assert_true(json_object_get_int64(v) == 1700000000123ll);
	assert_true(json_object_object_get_ex(x, "finding", &v));
	assert_true(json_object_is_type(v, json_type_object));
	assert_true(json_object_object_get_ex(v, "index", &v));
	assert_int_equal(json_object_get_int(v), 39);
	json_object_put(o);
	assert_int_equal(alerts_of(f, "{\"cmd\":\"alerts\",\"target\":"
	    "\"web1\"}", NULL), 2);
	assert_int_equal(alerts_of(f, "{\"cmd\":\"alerts\",\"host\":\"h2\"}",
	    NULL), 0);
	assert_int_equal(alerts_of(f, "{\"cmd\":\"alerts\",\"max\":1}", NULL),
	    1);
	{
		char *reply = NULL;
		static const char *const bad[] = {
		    "{\"cmd\":\"alerts\",\"max\":0}",
		    "{\"cmd\":\"alerts\",\"max\":100000}",
		    "{\"cmd\":\"alerts\",\"host\":7}" };

		for (i = 0; i < ARRAY_SIZE(bad); i++)
			assert_true(svc_admin(f->s, bad[i], strlen(bad[i]),
			    &reply, NULL) < 0);
		assert_int_equal(svc_admin(f->s, "{\"cmd\":\"status\"}", 16,
		    &reply, NULL), 0);
		assert_non_null(strstr(reply, "\"alerts_stored\":3"));
		free(reply);
	}
	/* a host asks for AKs only, not for alerts */
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	feed(c, status_req("{\"cmd\":\"alerts\"}"), &out);
	assert_int_equal(reply_type(&out, 0, &r), WIRE_T_STATUS_REPLY);
	{
		const uint8_t *p;
		size_t n;

		assert_int_equal(wire_get_bytes(r, WIRE_F_JSON, &p, &n, NULL),
		    0);
		assert_true(has(p, n, "\"error\""));
	}
	wire_msg_free(r);
	svc_conv_free(c);
	svc_reply_free(&out);
}

static void
test_alerts_refused(void **state)
{
	struct fx *f = *state;
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c;
	struct wire_msg *m[3], *r;
	uint64_t seq;
	char msg[1100];
	size_t i;

	/* a certificate that is not a host of the region: refused at HELLO */
	assert_int_equal(svc_conv_new(f->s, SVC_TLS, "rogue", &c, NULL), 0);
	feed(c, hello("rogue", WIRE_ROLE_VOUCHD), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	assert_true(out.close);
	svc_conv_free(c);
	/* ... and without HELLO */
	assert_int_equal(svc_conv_new(f->s, SVC_TLS, "rogue", &c, NULL), 0);
	feed(c, alert_msg("web1", "syscall_hook", 1, FINDING, 1, 1), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	svc_conv_free(c);
	/* an admin (vouchctl) sends no alerts */
	assert_int_equal(svc_conv_new(f->s, SVC_LOCAL, NULL, &c, NULL), 0);
	feed(c, hello("vouchctl", WIRE_ROLE_CTL), &out);
	feed(c, alert_msg("web1", "syscall_hook", 1, FINDING, 1, 1), &out);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
	svc_conv_free(c);

	/* malformed: the good one before is stored and ACKed, then ERROR */
	c = open_as(f, "h1", WIRE_ROLE_VOUCHD);
	m[0] = alert_msg("web1", "syscall_hook", 1, FINDING, 1, 7);
	m[1] = alert_msg("web1", "syscall_hook", 1, "[1, 2]", 1, 8);
	m[2] = alert_msg("web1", "syscall_hook", 1, FINDING, 1, 9);
	svc_reply_reset(&out);
	svc_conv_input(c, m, 3, &out);
	if (out.n != 2 && reply_type(&out, 0, &r) == WIRE_T_ERROR) {
		assert_int_equal(wire_get_str(r, WIRE_F_MESSAGE, msg,
		    sizeof(msg), NULL), 0);
		fail_msg("%s", msg);
	}
	assert_int_equal(out.n, 2);
	assert_int_equal(reply_type(&out, 0, &r), WIRE_T_ACK);
	assert_int_equal(wire_get_u64(r, WIRE_F_SEQ, &seq, NULL), 0);
	assert_int_equal(seq, 7);
	wire_msg_free(r);
	assert_int_equal(reply_type(&out, 1, &r), WIRE_T_ERROR);
	assert_int_equal(wire_get_str(r, WIRE_F_MESSAGE, msg, sizeof(msg),
	    NULL), 0);
	assert_non_null(strstr(msg, "not one JSON object"));
	wire_msg_free(r);
	assert_true(out.close);
	for (i = 0; i < 3; i++)
		wire_msg_free(m[i]);
	svc_conv_free(c);
	/* each other refusal on a fresh connection */
	{
		static const struct { const char *type, *json; uint64_t seq; }
		    bad[] = {
			{ "Syscall-Hook", FINDING, 20 },	/* type charset */
			{ "syscall_hook", "{\"a\":1} {}", 21 },	/* two values */
			{ "syscall_hook", "{\"a\":", 22 },	/* cut short */
		    };

		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
			feed(c, alert_msg("web1", bad[i].type, 0, bad[i].json,
			    1, bad[i].seq), &out);
			assert_int_equal(out.n, 1);
			assert_int_equal(reply_type(&out, 0, NULL),
			    WIRE_T_ERROR);
			assert_true(out.close);
			svc_conv_free(c);
		}
	}
	/* SEQ must increase strictly per connection */
	c = open_as(f, "h2", WIRE_ROLE_VOUCHD);
	m[0] = alert_msg("web1", "syscall_hook", 1, FINDING, 1, 30);
	m[1] = alert_msg("web1", "syscall_hook", 1, FINDING, 1, 30);
	svc_reply_reset(&out);
	svc_conv_input(c, m, 2, &out);
	assert_int_equal(out.n, 2);
	assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ACK);
	assert_int_equal(reply_type(&out, 1, NULL), WIRE_T_ERROR);
	wire_msg_free(m[0]);
	wire_msg_free(m[1]);
	svc_conv_free(c);
	svc_reply_free(&out);
	/* only the two good ones were stored; nothing from "rogue" */
	assert_int_equal(alerts_of(f, "{\"cmd\":\"alerts\"}", NULL), 2);
	assert_int_equal(alerts_of(f, "{\"cmd\":\"alerts\",\"host\":"
	    "\"rogue\"}", NULL), 0);
}

/*
 * Group commit: verifiers on their own threads pipeline batches at once;
 * every verdict is ACKed (their batches share transactions and flushes),
 * nothing is refused, and what the ACKs promised survives a restart.
 */
#define GC_ROUNDS	6

struct gc_thread {
	struct svc_conv		*c;
	struct wire_msg		*m[GC_ROUNDS][2];
	size_t			 acks, others;
};

static void *
gc_main(void *p)
{
	struct gc_thread *g = p;
	int r;

	for (r = 0; r < GC_ROUNDS; r++) {
		struct svc_reply out = SVC_REPLY_INIT;
		size_t i;

		svc_conv_input(g->c, g->m[r], 2, &out);
		for (i = 0; i < out.n; i++) {
			struct wire_msg *x = NULL;

			if (wire_decode(out.frame[i], out.len[i], &x, NULL,
			    NULL) == 0 && wire_msg_type(x) == WIRE_T_ACK)
				g->acks++;
			else
				g->others++;
			wire_msg_free(x);
		}
		svc_reply_free(&out);
	}
	return NULL;
}

static void
test_concurrent_batches_group_commit(void **state)
{
	/* verifier -> its two subjects (all_pass's ring) */
	static const char *const ring[NHOSTS][3] = {
	    { "h1", "h3", "h4" }, { "h2", "h1", "h4" },
	    { "h3", "h1", "h2" }, { "h4", "h2", "h3" } };
	struct fx *f = *state;
	struct gc_thread g[NHOSTS];
	pthread_t th[NHOSTS];
	char st[32];
	int64_t passes[NHOSTS + 1];
	uint64_t epoch;
	int v, r, k, i;

	memset(g, 0, sizeof(g));
	for (v = 0; v < NHOSTS; v++) {
		g[v].c = open_as(f, ring[v][0], WIRE_ROLE_VOUCHD);
		for (r = 0; r < GC_ROUNDS; r++)
			for (k = 0; k < 2; k++) {
				size_t len;
				char *ev = good_evidence(f, ring[v][0],
				    ring[v][1 + k], NULL, NULL, &epoch, &len);

				g[v].m[r][k] = verdict(ring[v][1 + k],
				    ring[v][0], WIRE_RESULT_PASS, ev, len, 1,
				    epoch, f->seq++, NULL);
				free(ev);
			}
	}
	for (v = 0; v < NHOSTS; v++)
		assert_int_equal(pthread_create(&th[v], NULL, gc_main, &g[v]),
		    0);
	for (v = 0; v < NHOSTS; v++)
		assert_int_equal(pthread_join(th[v], NULL), 0);
	for (v = 0; v < NHOSTS; v++) {
		assert_int_equal(g[v].acks, 2 * GC_ROUNDS);
		assert_int_equal(g[v].others, 0);
		for (r = 0; r < GC_ROUNDS; r++)
			for (k = 0; k < 2; k++)
				wire_msg_free(g[v].m[r][k]);
		svc_conv_free(g[v].c);
	}
	for (i = 1; i <= NHOSTS; i++) {
		char h[8];

		snprintf(h, sizeof(h), "h%d", i);
		assert_string_equal(state_of(f, h, st, sizeof(st)), "TRUSTED");
		passes[i] = host_int(f, h, "passes");
		assert_true(passes[i] >= 2);
	}
	svc_free(f->s);
	f->s = NULL;
	assert_int_equal(fx_start(f), 0);
	for (i = 1; i <= NHOSTS; i++) {
		char h[8];

		snprintf(h, sizeof(h), "h%d", i);
		assert_int_equal(host_int(f, h, "passes"), passes[i]);
		assert_string_equal(state_of(f, h, st, sizeof(st)), "TRUSTED");
	}
}

static void
test_restart_keeps_everything(void **state)
{
	struct fx *f = *state;
	char st[32];
	int64_t p1;

	all_pass(f);
	p1 = host_int(f, "h1", "passes");
	assert_true(p1 >= 2);
	svc_free(f->s);
	f->s = NULL;
	assert_int_equal(fx_start(f), 0);
	assert_int_equal(host_int(f, "h1", "passes"), p1);
	assert_string_equal(state_of(f, "h1", st, sizeof(st)), "TRUSTED");
	/* the AKs are still enrolled: verdicts verify after the restart */
	assert_int_equal(send_verdict(f, "h2", "h1", WIRE_RESULT_PASS, NULL,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_int_equal(host_int(f, "h1", "passes"), p1 + 1);
}

static void
test_fd_frames(void **state)
{
	int sv[2];
	struct wire_enc *w;
	struct wire_msg *m = NULL;
	const uint8_t *fr;
	size_t len;
	enum wire_reason why;
	uint8_t junk[16] = "XXXXjunkjunkjunk";

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(wire_enc_new(WIRE_T_ACK, &w, NULL), 0);
	assert_int_equal(wire_put_u64(w, WIRE_F_SEQ, 42, NULL), 0);
	assert_int_equal(wire_enc_finish(w, &fr, &len, NULL), 0);
	assert_int_equal(svc_fd_send(sv[0], fr, len, 1000, NULL), 0);
	wire_enc_free(w);
	assert_int_equal(svc_fd_recv(sv[1], 1000, &m, &why, NULL), 0);
	assert_int_equal(wire_msg_type(m), WIRE_T_ACK);
	wire_msg_free(m);
	assert_int_equal(svc_fd_send(sv[0], junk, sizeof(junk), 1000, NULL), 0);
	assert_true(svc_fd_recv(sv[1], 1000, &m, &why, NULL) < 0);
	assert_int_equal(why, WIRE_R_BAD_MAGIC);
	/* nothing arrives: the deadline holds */
	assert_true(svc_fd_recv(sv[1], 50, &m, &why, NULL) < 0);
	close(sv[0]);
	close(sv[1]);
}

static void
test_conf_errors(void **state)
{
	struct tcbd_conf c;
	struct vouch_err e = VOUCH_ERR_INIT;
	static const char base[] = "name = \"tcbd\"; region = \"r\"; "
	    "policy = \"p\"; store = \"s.db\"; tls = { cert = \"c\"; "
	    "key = \"k\"; ca = \"a\"; };\n";
	char text[512];

	(void)state;
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", base, &c, &e), 0);
	assert_string_equal(c.store, "/etc/s.db");
	assert_string_equal(c.admin_socket, TCBD_DEFAULT_SOCKET);
	assert_int_equal(c.ivt.quorum, 2);
	snprintf(text, sizeof(text), "%scolour = 1;\n", base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
	if (strstr(e.msg, ":2: colour: unknown key") == NULL)
		fail_msg("%s", e.msg);
	snprintf(text, sizeof(text), "%sinterval = 10; freshness = 5;\n", base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
	snprintf(text, sizeof(text), "%squorum = 3; neighbours = 2;\n", base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
	snprintf(text, sizeof(text), "%srank = { w_fresh = 1001; };\n", base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
	snprintf(text, sizeof(text), "%sadmins = [ \"Not A Host\" ];\n", base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
}

/* ---- evacuation (conversation 9) ---- */

static json_object *
admin(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An admin command that must succeed; the reply object (caller puts). */
static json_object *
admin(struct fx *f, const char *fmt, ...)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	char req[512], *reply = NULL;
	json_object *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	if (svc_admin(f->s, req, strlen(req), &reply, &e) < 0)
		fail_msg("%s: %s", req, e.msg);
	o = json_tokener_parse(reply);
	free(reply);
	assert_non_null(o);
	return o;
}

/* An admin command that must fail; its message into msg. */
static int
admin_fails(struct fx *f, const char *req, char *msg, size_t cap)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	char *reply = NULL;
	int r = svc_admin(f->s, req, strlen(req), &reply, &e);

	free(reply);
	assert_true(r < 0);
	snprintf(msg, cap, "%s", e.msg);
	return r;
}

static void
protect(struct fx *f, const char *target, const char *host, int vcpus,
    int mib)
{
	json_object_put(admin(f, "{\"cmd\":\"protect\",\"target\":\"%s\","
	    "\"guard\":\"%s-g\",\"host\":\"%s\",\"vcpus\":%d,\"mem_mib\":%d}",
	    target, target, host, vcpus, mib));
}

/* Field key of migration id (as a string; ints printed). */
static const char *
mig_field(struct fx *f, long long id, const char *key, char *buf, size_t cap)
{
	json_object *o = admin(f, "{\"cmd\":\"migrations\",\"id\":%lld}", id);
	json_object *a, *x, *v;

	assert_true(json_object_object_get_ex(o, "migrations", &a));
	assert_int_equal(json_object_array_length(a), 1);
	x = json_object_array_get_idx(a, 0);
	assert_true(json_object_object_get_ex(x, key, &v));
	snprintf(buf, cap, "%s", json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return buf;
}

static size_t
count_migrations(struct fx *f)
{
	json_object *o = admin(f, "{\"cmd\":\"migrations\"}"), *a;
	size_t n;

	assert_true(json_object_object_get_ex(o, "migrations", &a));
	n = json_object_array_length(a);
	json_object_put(o);
	return n;
}

/* h2 fails its direct attestation: UNTRUSTED, evacuation planned. */
static void
make_h2_untrusted(struct fx *f)
{
	char st[32];

	f->how[2] = TAMPERED;
	assert_int_equal(send_verdict(f, "h3", "h2", WIRE_RESULT_FAIL, NULL,
	    NULL, NULL, 0), WIRE_T_ACK);
	assert_int_equal(svc_direct_run_pending(f->s), 1);
	assert_string_equal(state_of(f, "h2", st, sizeof(st)), "UNTRUSTED");
}

static struct wire_msg *
mig_report(uint64_t seq, const struct mig_report *r)
{
	struct wire_enc *w;
	char *json = NULL;

	assert_int_equal(report_encode(r, &json, NULL), 0);
	assert_int_equal(wire_enc_new(WIRE_T_MIG_REPORT, &w, NULL), 0);
	assert_int_equal(wire_put_u64(w, WIRE_F_SEQ, seq, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_JSON, json, NULL), 0);
	free(json);
	return finish(w);
}

/* Send one report as peer; the reply's type (ERROR message into msg). */
static uint16_t
send_report(struct fx *f, const char *peer, const struct mig_report *r,
    char *msg, size_t cap)
{
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = open_as(f, peer, WIRE_ROLE_VOUCHD);
	struct wire_msg *m;
	uint64_t seq;
	uint16_t t;

	feed(c, mig_report(77, r), &out);
	t = reply_type(&out, 0, &m);
	if (t == WIRE_T_ACK) {
		assert_int_equal(wire_get_u64(m, WIRE_F_SEQ, &seq, NULL), 0);
		assert_int_equal(seq, 77);
	} else if (msg != NULL)
		assert_int_equal(wire_get_str(m, WIRE_F_MESSAGE, msg, cap,
		    NULL), 0);
	wire_msg_free(m);
	svc_reply_free(&out);
	svc_conv_free(c);
	return t;
}

static void
test_evacuation_planned_by_rank_and_capacity(void **state)
{
	struct fx *f = *state;
	struct mig_order o;
	struct vouch_err e = VOUCH_ERR_INIT;
	char a[300], b[300], buf[64];

	all_pass(f);
	protect(f, "db1", "h2", 4, 4096);
	protect(f, "web1", "h2", 4, 4096);
	protect(f, "app1", "h3", 4, 4096);	/* h3: room for one more */
	protect(f, "big1", "h2", 16, 1024);	/* fits nowhere */
	make_h2_untrusted(f);
	assert_int_equal(count_migrations(f), 3);
	assert_string_equal(state_of(f, "h3", buf, sizeof(buf)), "TRUSTED");
	/* pairs in target order: big1 (1), db1 (2), web1 (3) */
	assert_string_equal(mig_field(f, 1, "target", buf, sizeof(buf)), "big1");
	assert_string_equal(mig_field(f, 1, "result", buf, sizeof(buf)),
	    "FAILED");
	assert_string_equal(mig_field(f, 1, "error", buf, sizeof(buf)),
	    "no trusted destination with capacity");
	assert_string_equal(mig_field(f, 2, "result", buf, sizeof(buf)), "");
	assert_string_equal(mig_field(f, 2, "phase", buf, sizeof(buf)),
	    "prepare");
	assert_string_equal(mig_field(f, 2, "source", buf, sizeof(buf)), "h2");
	mig_field(f, 2, "dests", a, sizeof(a));
	/*
	 * h2's fall reassigns the verifiers of h1 and h4 (ring h1 <- h2,h3,
	 * h4 <- h1,h2): their quorum is gone until their new neighbours
	 * report, so h3 is the one TRUSTED destination.  It had room for
	 * one more pair (4 of 8 vCPUs): db1 takes it, web1 finds none.
	 */
	assert_string_equal(a, "[\"h3\"]");
	assert_string_equal(mig_field(f, 3, "target", b, sizeof(b)), "web1");
	assert_string_equal(mig_field(f, 3, "result", b, sizeof(b)), "FAILED");
	assert_string_equal(mig_field(f, 3, "dests", b, sizeof(b)), "[]");
	/* the FAILED one is an alert */
	{
		json_object *x = admin(f, "{\"cmd\":\"alerts\",\"host\":\"h2\"}");

		assert_non_null(strstr(json_object_to_json_string_ext(x, JSON_C_TO_STRING_PLAIN),
		    "\"type\":\"evacuation\""));
		json_object_put(x);
	}
	/* the orders go to the source, one per migration */
	assert_int_equal(svc_order_run_pending(f->s), 1);
	assert_int_equal(f->orders_sent, 1);
	assert_string_equal(f->order_host, "h2");
	assert_int_equal(order_decode(f->order_json, strlen(f->order_json), &o,
	    &e), 0);
	assert_int_equal(o.mode, COMIG_EVACUATE);
	assert_int_equal(o.strategy, COMIG_PLAIN);
	assert_string_equal(o.guard, "db1-g");
	assert_true(o.ndests == 1);
	assert_string_equal(o.dests[0], "h3");
	assert_true(atoll(mig_field(f, 2, "ordered_at", buf, sizeof(buf))) > 0);
	/* delivered orders are not sent again */
	assert_int_equal(svc_order_run_pending(f->s), 0);
}

static void
test_evacuation_not_duplicated(void **state)
{
	struct fx *f = *state;
	char buf[64];

	all_pass(f);
	protect(f, "web1", "h2", 2, 1024);
	f->order_answer = -1;		/* h2 unreachable */
	make_h2_untrusted(f);
	assert_int_equal(count_migrations(f), 1);
	assert_int_equal(svc_order_run_pending(f->s), 1);
	assert_int_equal(svc_order_run_pending(f->s), 0);	/* backoff */
	/* restart: the row survives, is not planned twice, order re-sent */
	svc_free(f->s);
	f->s = NULL;
	assert_int_equal(fx_start(f), 0);
	assert_int_equal(count_migrations(f), 1);
	f->order_answer = 0;
	assert_int_equal(svc_order_run_pending(f->s), 1);
	assert_true(atoll(mig_field(f, 1, "ordered_at", buf, sizeof(buf))) > 0);
	/* a manual migration of a pair in flight is refused */
	{
		char msg[256];

		admin_fails(f, "{\"cmd\":\"migrate\",\"target\":\"web1\","
		    "\"to\":\"h1\"}", msg, sizeof(msg));
		assert_non_null(strstr(msg, "already being migrated"));
	}
	/* no report for report_timeout: LOST + alert */
	f->now += 31000;
	assert_int_equal(svc_tick(f->s, NULL), 0);
	assert_string_equal(mig_field(f, 1, "result", buf, sizeof(buf)), "LOST");
	assert_int_equal(count_migrations(f), 1);
}

static void
test_order_refused_and_unreachable(void **state)
{
	struct fx *f = *state;
	char buf[300];

	all_pass(f);
	protect(f, "web1", "h2", 2, 1024);
	protect(f, "web2", "h2", 2, 1024);
	f->order_answer = 1;		/* vouchd answers ERROR */
	make_h2_untrusted(f);
	assert_int_equal(svc_order_run_pending(f->s), 2);
	assert_string_equal(mig_field(f, 1, "result", buf, sizeof(buf)),
	    "FAILED");
	assert_non_null(strstr(mig_field(f, 1, "error", buf, sizeof(buf)),
	    "no such domain"));
	/* a manual one to an unreachable source: retried, then LOST */
	f->order_answer = -1;
	protect(f, "web3", "h1", 2, 1024);
	json_object_put(admin(f, "{\"cmd\":\"migrate\",\"target\":\"web3\","
	    "\"to\":\"h3\"}"));
	assert_int_equal(svc_order_run_pending(f->s), 1);
	f->now += 31000;
	assert_int_equal(svc_order_run_pending(f->s), 1);
	assert_string_equal(mig_field(f, 3, "result", buf, sizeof(buf)), "LOST");
	assert_non_null(strstr(mig_field(f, 3, "error", buf, sizeof(buf)),
	    "unreachable"));
}

static void
test_reports(void **state)
{
	struct fx *f = *state;
	struct mig_report r;
	char buf[300], msg[256];

	all_pass(f);
	protect(f, "web1", "h2", 2, 1024);
	make_h2_untrusted(f);
	assert_int_equal(svc_order_run_pending(f->s), 1);
	memset(&r, 0, sizeof(r));
	r.id = 1;
	r.phase = COMIG_PH_TARGET;
	snprintf(r.host, sizeof(r.host), "h4");
	r.bytes = 1 << 20;
	r.total = 4 << 20;
	r.mbps = 100.5;
	/* only the source reports; unknown ids are refused */
	assert_int_equal(send_report(f, "h3", &r, msg, sizeof(msg)),
	    WIRE_T_ERROR);
	assert_non_null(strstr(msg, "run by h2, not h3"));
	r.id = 9;
	assert_int_equal(send_report(f, "h2", &r, msg, sizeof(msg)),
	    WIRE_T_ERROR);
	r.id = 1;
	assert_int_equal(send_report(f, "h2", &r, NULL, 0), WIRE_T_ACK);
	assert_string_equal(mig_field(f, 1, "phase", buf, sizeof(buf)),
	    "target");
	assert_string_equal(mig_field(f, 1, "host", buf, sizeof(buf)), "h4");
	assert_string_equal(mig_field(f, 1, "bytes", buf, sizeof(buf)),
	    "1048576");
	/* final ok: DONE, the pair now lives on h4 */
	r.final = 1;
	r.ok = 1;
	r.done = 1;
	r.phase = COMIG_PH_DONE;
	r.tries = 1;
	r.target_downtime_ms = 42;
	r.total_ms = 1234;
	assert_int_equal(send_report(f, "h2", &r, NULL, 0), WIRE_T_ACK);
	assert_string_equal(mig_field(f, 1, "result", buf, sizeof(buf)), "DONE");
	assert_string_equal(mig_field(f, 1, "downtime_ms", buf, sizeof(buf)),
	    "42");
	{
		json_object *o = admin(f, "{\"cmd\":\"pairs\"}");

		assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		    "\"host\":\"h4\""));
		json_object_put(o);
	}
	/* a resend after the end is acknowledged and ignored */
	r.ok = 0;
	r.phase = COMIG_PH_FAILED;
	assert_int_equal(send_report(f, "h2", &r, NULL, 0), WIRE_T_ACK);
	assert_string_equal(mig_field(f, 1, "result", buf, sizeof(buf)), "DONE");
	/* admins may not report; a report over the admin role is refused */
	{
		struct svc_reply out = SVC_REPLY_INIT;
		struct svc_conv *c;

		assert_int_equal(svc_conv_new(f->s, SVC_LOCAL, NULL, &c, NULL), 0);
		feed(c, hello("local-admin", WIRE_ROLE_CTL), &out);
		feed(c, mig_report(1, &r), &out);
		assert_int_equal(reply_type(&out, 0, NULL), WIRE_T_ERROR);
		svc_reply_free(&out);
		svc_conv_free(c);
	}
}

static void
test_report_paused_alerts(void **state)
{
	struct fx *f = *state;
	struct mig_report r;
	char buf[300];

	all_pass(f);
	protect(f, "web1", "h2", 2, 1024);
	make_h2_untrusted(f);
	memset(&r, 0, sizeof(r));
	r.id = 1;
	r.final = 1;
	r.phase = COMIG_PH_FAILED;
	r.target_paused = 1;
	r.tries = 3;
	snprintf(r.error, sizeof(r.error), "guard refused the target");
	assert_int_equal(send_report(f, "h2", &r, NULL, 0), WIRE_T_ACK);
	assert_string_equal(mig_field(f, 1, "result", buf, sizeof(buf)),
	    "FAILED");
	assert_string_equal(mig_field(f, 1, "target_paused", buf, sizeof(buf)),
	    "true");
	{
		json_object *o = admin(f, "{\"cmd\":\"alerts\",\"target\":"
		    "\"web1\"}");
		const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

		assert_non_null(strstr(t, "guard refused the target"));
		assert_non_null(strstr(t, "\"critical\":true"));
		json_object_put(o);
	}
	/* the pair stays where it was */
	{
		json_object *o = admin(f, "{\"cmd\":\"pairs\"}");

		assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		    "\"host\":\"h2\""));
		json_object_put(o);
	}
}

/* ATTEST_REQUEST{subject} as h1; the VERDICT's RESULT. */
static uint8_t
ask_attest(struct fx *f, const char *subject, char *reason, size_t cap)
{
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = open_as(f, "h1", WIRE_ROLE_VOUCHD);
	struct wire_enc *w;
	struct wire_msg *m;
	char name[64];
	uint64_t t;
	uint8_t res;

	assert_int_equal(wire_enc_new(WIRE_T_ATTEST_REQUEST, &w, NULL), 0);
	assert_int_equal(wire_put_str(w, WIRE_F_SUBJECT, subject, NULL), 0);
	feed(c, finish(w), &out);
	assert_int_equal(reply_type(&out, 0, &m), WIRE_T_VERDICT);
	assert_false(out.close);
	assert_int_equal(wire_get_str(m, WIRE_F_SUBJECT, name, sizeof(name),
	    NULL), 0);
	assert_string_equal(name, subject);
	assert_int_equal(wire_get_str(m, WIRE_F_VERIFIER, name, sizeof(name),
	    NULL), 0);
	assert_string_equal(name, "tcbd");
	assert_int_equal(wire_get_u64(m, WIRE_F_TIME, &t, NULL), 0);
	assert_int_equal(t, (uint64_t)(f->now / 1000));
	assert_int_equal(wire_get_u8(m, WIRE_F_RESULT, &res, NULL), 0);
	assert_int_equal(wire_get_str(m, WIRE_F_REASON, reason, cap, NULL), 0);
	wire_msg_free(m);
	svc_reply_free(&out);
	svc_conv_free(c);
	return res;
}

static void
test_attest_request(void **state)
{
	struct fx *f = *state;
	char reason[256];
	int calls;

	all_pass(f);
	calls = f->direct_calls;
	assert_int_equal(ask_attest(f, "h3", reason, sizeof(reason)),
	    WIRE_RESULT_PASS);
	assert_int_equal(f->direct_calls, calls + 1);	/* fresh, every time */
	assert_int_equal(ask_attest(f, "h3", reason, sizeof(reason)),
	    WIRE_RESULT_PASS);
	assert_int_equal(f->direct_calls, calls + 2);
	f->how[4] = TAMPERED;
	assert_int_equal(ask_attest(f, "h4", reason, sizeof(reason)),
	    WIRE_RESULT_FAIL);
	f->how[4] = ROGUE;	/* signed by a key that is not h4's AK */
	assert_int_equal(ask_attest(f, "h4", reason, sizeof(reason)),
	    WIRE_RESULT_FAIL);
	f->how[4] = UNREACHABLE_HOST;
	assert_int_equal(ask_attest(f, "h4", reason, sizeof(reason)),
	    WIRE_RESULT_ERROR);
	/* good evidence but not TRUSTED (no AK: PENDING) */
	assert_int_equal(ask_attest(f, "h5", reason, sizeof(reason)),
	    WIRE_RESULT_FAIL);
	/* good evidence from a host the IVT holds UNTRUSTED: FAIL */
	make_h2_untrusted(f);
	f->how[2] = GOOD;
	assert_int_equal(ask_attest(f, "h2", reason, sizeof(reason)),
	    WIRE_RESULT_FAIL);
	assert_non_null(strstr(reason, "not TRUSTED"));
}

static void
test_manual_migrate_refusals(void **state)
{
	struct fx *f = *state;
	char msg[256], buf[64];
	json_object *o, *v;

	all_pass(f);
	protect(f, "web1", "h1", 2, 1024);
	protect(f, "huge", "h1", 6, 8000);
	protect(f, "fill", "h4", 4, 4096);
	admin_fails(f, "{\"cmd\":\"migrate\",\"target\":\"nope\",\"to\":\"h3\"}",
	    msg, sizeof(msg));
	assert_non_null(strstr(msg, "not a protected target"));
	admin_fails(f, "{\"cmd\":\"migrate\",\"target\":\"web1\",\"to\":\"h1\"}",
	    msg, sizeof(msg));
	assert_non_null(strstr(msg, "already runs on h1"));
	admin_fails(f, "{\"cmd\":\"migrate\",\"target\":\"web1\",\"to\":\"h5\"}",
	    msg, sizeof(msg));
	assert_non_null(strstr(msg, "not TRUSTED"));
	admin_fails(f, "{\"cmd\":\"migrate\",\"target\":\"web1\"}", msg,
	    sizeof(msg));
	/* h4 has 4 vCPUs left: huge (6) does not fit there */
	admin_fails(f, "{\"cmd\":\"migrate\",\"target\":\"huge\",\"to\":\"h4\"}",
	    msg, sizeof(msg));
	assert_non_null(strstr(msg, "not an eligible destination"));
	admin_fails(f, "{\"cmd\":\"protect\",\"target\":\"x\",\"guard\":\"x\","
	    "\"host\":\"h1\"}", msg, sizeof(msg));
	admin_fails(f, "{\"cmd\":\"protect\",\"target\":\"-x\",\"guard\":\"g\","
	    "\"host\":\"h1\"}", msg, sizeof(msg));
	admin_fails(f, "{\"cmd\":\"protect\",\"target\":\"x\",\"guard\":\"g\","
	    "\"host\":\"h9\"}", msg, sizeof(msg));
	o = admin(f, "{\"cmd\":\"migrate\",\"target\":\"web1\",\"to\":\"h3\"}");
	assert_true(json_object_object_get_ex(o, "id", &v));
	assert_int_equal(json_object_get_int64(v), 1);
	json_object_put(o);
	assert_string_equal(mig_field(f, 1, "mode", buf, sizeof(buf)), "manual");
	assert_string_equal(mig_field(f, 1, "dests", buf, sizeof(buf)),
	    "[\"h3\"]");
	admin_fails(f, "{\"cmd\":\"unprotect\",\"target\":\"web1\"}", msg,
	    sizeof(msg));
	assert_non_null(strstr(msg, "being migrated"));
	json_object_put(admin(f, "{\"cmd\":\"unprotect\",\"target\":\"huge\"}"));
	admin_fails(f, "{\"cmd\":\"unprotect\",\"target\":\"huge\"}", msg,
	    sizeof(msg));
}

static void
test_evacuation_conf(void **state)
{
	struct tcbd_conf c;
	struct vouch_err e = VOUCH_ERR_INIT;
	static const char base[] = "name = \"tcbd\"; region = \"r\"; "
	    "policy = \"p\"; store = \"s.db\"; tls = { cert = \"c\"; "
	    "key = \"k\"; ca = \"a\"; };\n";
	char text[512];

	(void)state;
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", base, &c, &e), 0);
	assert_int_equal(c.evac_standby, 0);
	assert_int_equal(c.evac_report_timeout, 120);
	snprintf(text, sizeof(text), "%sevacuation = { strategy = \"standby\"; "
	    "report_timeout = 60; host_vcpus = 32; host_mib = 65536; };\n",
	    base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e), 0);
	assert_int_equal(c.evac_standby, 1);
	assert_int_equal(c.evac_report_timeout, 60);
	assert_int_equal(c.evac_host_vcpus, 32);
	assert_int_equal(c.evac_host_mib, 65536);
	snprintf(text, sizeof(text), "%sevacuation = { strategy = \"warm\"; };\n",
	    base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
	if (strstr(e.msg, ":2: ") == NULL || strstr(e.msg, "strategy") == NULL)
		fail_msg("%s", e.msg);
	snprintf(text, sizeof(text), "%sevacuation = { report_timeout = 1; };\n",
	    base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
	snprintf(text, sizeof(text), "%sevacuation = { colour = 1; };\n", base);
	assert_int_equal(tcbd_conf_load_string("/etc/t.cfg", text, &c, &e),
	    VOUCH_E_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nonce_vector),
		cmocka_unit_test(test_fd_frames),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test_setup_teardown(test_hello_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_on_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_to_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_batch_acks_in_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_stale_and_duplicate,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unenrolled_ak_and_direct_clears,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_liar_cannot_evict_nor_shield,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_runs_hook, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_is_not_untrusted,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unenrolled_subject_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alerts_stored_and_acked,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_alerts_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_batches_group_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_everything, setup,
		    teardown),
		cmocka_unit_test(test_evacuation_conf),
		cmocka_unit_test_setup_teardown(
		    test_evacuation_planned_by_rank_and_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evacuation_not_duplicated,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_refused_and_unreachable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_paused_alerts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_attest_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_manual_migrate_refusals, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
