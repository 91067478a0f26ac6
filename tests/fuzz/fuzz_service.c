/*
 * libFuzzer target: the RC-TCB service's conversations (tcb/service.c)
 * with hostile peers.  The input is a stream of wire frames (each
 * "u32be length | frame bytes"); those the wire module accepts are fed,
 * in order, to one conversation of region host h1 (or, if the first byte
 * is odd, of the local admin socket) after its HELLO, the way the daemon
 * feeds them.  Properties that abort on violation:
 *  - every reply frame decodes (the service never emits a frame the wire
 *    module would reject);
 *  - after a reply that closes, no further input is taken.
 * The service is real (IVT, SQLite store in /dev/shm, verifier, policy);
 * direct attestations run through a transport that reports UNREACHABLE.
 * Seeds: tests/fuzz/corpus/service/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/wire.h"
#include "tcb/service.h"
#include "tcb/tcbd_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct svc *svc;
static int64_t fake_ms = 1700000000000LL;
static char dir[] = "/dev/shm/fuzz_service.XXXXXX";

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_service: property violated: %s\n", what);
		abort();
	}
}

static int64_t
now_ms(void *arg)
{
	(void)arg;
	return fake_ms += 7;
}

static int
unreachable(void *arg, const char *host, const uint8_t nonce[32],
    const char *pcr_sel, uint32_t flags, uint8_t **ev, size_t *len,
    struct vouch_err *e)
{
	(void)arg; (void)host; (void)nonce; (void)pcr_sel; (void)flags;
	(void)ev; (void)len;
	return vouch_err_set(e, VOUCH_E_IO, "fuzz: no network");
}

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	check(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0, path);
}

/* Leave nothing in /dev/shm when libFuzzer exits. */
static void
cleanup(void)
{
	static const char *const files[] = { "ivt.db", "ivt.db-wal",
	    "ivt.db-shm", "region.cfg", "policy.cfg" };
	char path[128];
	size_t i;

	svc_free(svc);
	svc = NULL;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct svc_hooks hooks;
	struct tcbd_conf conf;
	struct vouch_err e = VOUCH_ERR_INIT;
	char path[128];

	(void)argc;
	(void)argv;
	check(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/region.cfg", dir);
	put_file(path, "region = { name = \"lab-fuzz\";\n"
	    " tcbd = { name = \"tcbd\"; addr = \"127.0.0.1\"; port = 1; };\n"
	    " hosts = ( { name = \"h1\"; addr = \"127.0.0.1\"; port = 11; },\n"
	    "  { name = \"h2\"; addr = \"127.0.0.1\"; port = 12; },\n"
	    "  { name = \"h3\"; addr = \"127.0.0.1\"; port = 13; } ); };\n");
	snprintf(path, sizeof(path), "%s/policy.cfg", dir);
	put_file(path, "version = 1; name = \"fuzz\";\n"
	    "attestation = { pcrs = \"sha256:0\"; runtime_pcr = 23; };\n");
	snprintf(path, sizeof(path), "%s/tcbd.cfg", dir);
	if (tcbd_conf_load_string(path, "name = \"tcbd\"; region = "
	    "\"region.cfg\"; policy = \"policy.cfg\"; store = \"ivt.db\";\n"
	    "tls = { cert = \"c\"; key = \"k\"; ca = \"a\"; };\n"
	    "interval = 1; freshness = 3; lab = { allow_faults = true; };\n",
	    &conf, &e) < 0) {
		fprintf(stderr, "fuzz_service: %s\n", e.msg);
		abort();
	}
	memset(&hooks, 0, sizeof(hooks));
	hooks.now_ms = now_ms;
	hooks.challenge = unreachable;
	if (svc_new(&conf, &hooks, &svc, &e) < 0) {
		fprintf(stderr, "fuzz_service: %s\n", e.msg);
		abort();
	}
	atexit(cleanup);
	return 0;
}

static struct wire_msg *
hello(const char *host, uint8_t role)
{
	struct wire_enc *w;
	struct wire_msg *m = NULL;
	const uint8_t *f;
	uint8_t *copy;
	size_t len = 0;

	check(wire_enc_new(WIRE_T_HELLO, &w, NULL) == 0 &&
	    wire_put_str(w, WIRE_F_HOST, host, NULL) == 0 &&
	    wire_put_u8(w, WIRE_F_ROLE, role, NULL) == 0 &&
	    wire_put_u32(w, WIRE_F_VERSION_MIN, 1, NULL) == 0 &&
	    wire_put_u32(w, WIRE_F_VERSION_MAX, 1, NULL) == 0 &&
	    wire_enc_finish(w, &f, &len, NULL) == 0, "HELLO");
	copy = malloc(len);
	check(copy != NULL, "malloc");
	memcpy(copy, f, len);
	check(wire_decode_owned(copy, len, &m, NULL, NULL) == 0, "HELLO decode");
	wire_enc_free(w);
	return m;
}

static void
check_replies(struct svc_reply *out)
{
	size_t i;

	for (i = 0; i < out->n; i++) {
		struct wire_msg *m = NULL;

		check(wire_decode(out->frame[i], out->len[i], &m, NULL,
		    NULL) == 0, "reply frame decodes");
		wire_msg_free(m);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svc_reply out = SVC_REPLY_INIT;
	struct svc_conv *c = NULL;
	struct wire_msg *batch[SVC_BATCH_MAX];
	size_t off = 1, n = 0, i;
	int local;

	if (size < 1)
		return 0;
	local = data[0] & 1;
	if (svc_conv_new(svc, local ? SVC_LOCAL : SVC_TLS, "h1", &c, NULL) < 0)
		return 0;
	batch[0] = hello(local ? "admin" : "h1", local ? WIRE_ROLE_CTL :
	    WIRE_ROLE_VOUCHD);
	svc_conv_input(c, batch, 1, &out);
	wire_msg_free(batch[0]);
	check_replies(&out);
	while (off + 4 <= size && n < SVC_BATCH_MAX) {
		size_t len = (size_t)data[off] << 24 | (size_t)data[off + 1] << 16 |
		    (size_t)data[off + 2] << 8 | data[off + 3];

		off += 4;
		if (len > size - off)
			break;
		if (wire_decode(data + off, len, &batch[n], NULL, NULL) == 0)
			n++;
		off += len;
	}
	if (n > 0 && !out.close) {
		svc_reply_reset(&out);
		svc_conv_input(c, batch, n, &out);
		check_replies(&out);
	} else if (n == 0 && svc_conv_at_choice(c)) {
		svc_reply_reset(&out);
		svc_conv_idle(c, &out);
		check_replies(&out);
		check(out.close, "EPOCH closes");
	}
	for (i = 0; i < n; i++)
		wire_msg_free(batch[i]);
	svc_reply_free(&out);
	svc_conv_free(c);
	/* time runs: epochs, freshness, the queued direct attestations */
	(void)svc_tick(svc, NULL);
	(void)svc_direct_run_pending(svc);
	return 0;
}
