/*
 * bench_ingest - verdict ingest of a real vouch-tcbd over mutual TLS.
 *
 *   bench_ingest BUILD [HOSTS] [ROUNDS]
 *
 * Simulates HOSTS (default 1000) hosts, each verifying its 8 ring
 * predecessors (neighbours = 8, quorum 2), so each verifier connection
 * carries 8 pipelined VERDICTs per round.  Every verdict holds a PASS
 * quote signed by the subject's AK for the nonce of (epoch, verifier,
 * subject): OpenSSL P-256 keys enrolled straight into the store before
 * vouch-tcbd starts (tests/fake_quote.h), evidence pre-computed after the
 * epoch is fetched, so the timed part is only: TLS, the daemon's wire
 * decoding, re-verification (signature, nonce, PCR digest, pinned value,
 * counters), the IVT and the group-committed store transaction, ACKs.
 *
 * Prints "verdict ingest: N verdicts/s": ACKed verdicts over the wall
 * time of ROUNDS + 1 rounds (default 4 + 1) per verifier connection, TLS
 * handshakes included (one per 8 * (ROUNDS + 1) verdicts); all client
 * threads together; the daemon shares the machine's cores with them.
 * Then the CPU time per verdict of the daemon and of the clients over the
 * same window: on a shared, loaded machine the rate moves with the load,
 * the CPU cost much less, and 1e6 / (daemon + clients) us is the rate
 * one otherwise idle core would sustain.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/pki.h"
#include "common/tls.h"
#include "common/wire.h"
#include "tcb/service.h"
#include "tcb/store.h"
#include "tests/fake_quote.h"

#define NBR		8
#define THREADS		4
#define TIMEOUT_MS	30000

static int nhosts = 1000, rounds = 4;
static char dir[64];
static EVP_PKEY **keys;
static uint64_t epoch;
static uint8_t epoch_rnd[32];
static uint16_t tcbd_port;

/*
 * evidence[(v * NBR + k) * (rounds + 1) + r]: verifier v, k-th subject,
 * round r (0..ROUNDS)
 */
static char **evidence;
static size_t *evlen;

struct worker {
	int		 id;
	struct tls_ctx	**ctx;		/* per verifier */
	struct tls_conn	**conn;
	uint64_t	 acked, errors;
};


static pid_t tcbd_pid;

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "bench_ingest: %s: %s (files in %s)\n", what,
	    why ? why : "", dir);
	if (tcbd_pid > 0)
		kill(tcbd_pid, SIGTERM);
	exit(2);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
host_name(int i, char *buf, size_t cap)
{
	snprintf(buf, cap, "h%04d", i);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		die(path, strerror(errno));
}

static int
send_enc(struct tls_conn *c, struct wire_enc *w)
{
	const uint8_t *f;
	size_t len;

	if (wire_enc_finish(w, &f, &len, NULL) < 0)
		return -1;
	return tls_send(c, f, len, TIMEOUT_MS, NULL);
}

/* Connect as host i and exchange HELLOs. */
static struct tls_conn *
dial(int i, struct tls_ctx **ctxp)
{
	char name[16], cert[128], key[128], ca[128];
	struct vouch_err e = VOUCH_ERR_INIT;
	struct tls_conn *c = NULL;
	struct wire_enc *w;
	struct wire_msg *m = NULL;

	host_name(i, name, sizeof(name));
	snprintf(cert, sizeof(cert), "%s/pki/%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s/pki/%s.key", dir, name);
	snprintf(ca, sizeof(ca), "%s/pki/ca/ca.pem", dir);
	if (*ctxp == NULL && tls_ctx_new(TLS_CLIENT, cert, key, ca, ctxp,
	    &e) < 0)
		die("tls_ctx_new", e.msg);
	if (tls_connect(*ctxp, "127.0.0.1", tcbd_port, "tcbd", TIMEOUT_MS, &c,
	    &e) < 0)
		die("connect", e.msg);
	if (wire_enc_new(WIRE_T_HELLO, &w, NULL) < 0 ||
	    wire_put_str(w, WIRE_F_HOST, name, NULL) < 0 ||
	    wire_put_u8(w, WIRE_F_ROLE, WIRE_ROLE_VOUCHD, NULL) < 0 ||
	    wire_put_u32(w, WIRE_F_VERSION_MIN, 1, NULL) < 0 ||
	    wire_put_u32(w, WIRE_F_VERSION_MAX, 1, NULL) < 0 ||
	    send_enc(c, w) < 0 ||
	    tls_recv(c, TIMEOUT_MS, &m, NULL, &e) < 0 ||
	    wire_msg_type(m) != WIRE_T_HELLO)
		die("HELLO", e.msg);
	wire_enc_free(w);
	wire_msg_free(m);
	return c;
}

/* Conversation 2: the epoch every nonce derives from. */
static void
fetch_epoch(void)
{
	struct tls_ctx *ctx = NULL;
	struct tls_conn *c = dial(0, &ctx);
	struct wire_msg *m = NULL;
	struct vouch_err e = VOUCH_ERR_INIT;
	const uint8_t *p;
	size_t n;

	if (tls_recv(c, TIMEOUT_MS, &m, NULL, &e) < 0 ||
	    wire_msg_type(m) != WIRE_T_EPOCH ||
	    wire_get_u64(m, WIRE_F_EPOCH, &epoch, NULL) < 0 ||
	    wire_get_bytes(m, WIRE_F_EPOCH_RANDOM, &p, &n, NULL) < 0)
		die("EPOCH", e.msg);
	memcpy(epoch_rnd, p, 32);
	wire_msg_free(m);
	tls_close(c);
	tls_ctx_free(ctx);
}

static int
subject_of(int v, int k)
{
	return ((v - 1 - k) % nhosts + nhosts) % nhosts;
}

static void *
sign_main(void *arg)
{
	struct worker *w = arg;
	int v, k, r;

	for (v = w->id; v < nhosts; v += THREADS)
		for (k = 0; k < NBR; k++) {
			char vn[16], sn[16];
			uint8_t nonce[32];
			int s = subject_of(v, k);

			host_name(v, vn, sizeof(vn));
			host_name(s, sn, sizeof(sn));
			svc_nonce_derive(epoch_rnd, epoch, vn, sn, nonce);
			for (r = 0; r <= rounds; r++) {
				size_t i = ((size_t)v * NBR + (size_t)k) *
				    (size_t)(rounds + 1) + (size_t)r;
				uint8_t zero[32] = { 0 };

				/* clock per (subject, verifier, round): newer */
				evidence[i] = fq_evidence(keys[s], nonce, zero,
				    1000 + (uint64_t)r * 100 + (uint64_t)k, 1,
				    &evlen[i]);
				if (evidence[i] == NULL)
					die("sign", "fq_evidence");
			}
		}
	return NULL;
}

/*
 * Verifiers in chunks of CHUNK connections per thread: each connection
 * speaks right after HELLO (silence would select the epoch conversation)
 * and never idles for the daemon's 5 s frame deadline, and a round of a
 * chunk takes well over a millisecond, so one pair's verdicts of two
 * rounds never share an RC-TCB millisecond (the IVT would ignore the
 * second as a duplicate).
 */
#define CHUNK	50

static void
send_round(struct worker *w, int v, int r, uint64_t *seq)
{
	char vn[16];
	int k;

	host_name(v, vn, sizeof(vn));
	for (k = 0; k < NBR; k++) {
		size_t i = ((size_t)v * NBR + (size_t)k) * (size_t)(rounds + 1) +
		    (size_t)r;
		struct wire_enc *enc;
		char sn[16];

		host_name(subject_of(v, k), sn, sizeof(sn));
		if (wire_enc_new(WIRE_T_VERDICT, &enc, NULL) < 0 ||
		    wire_put_str(enc, WIRE_F_SUBJECT, sn, NULL) < 0 ||
		    wire_put_str(enc, WIRE_F_VERIFIER, vn, NULL) < 0 ||
		    wire_put_u64(enc, WIRE_F_TIME, (uint64_t)time(NULL), NULL) < 0 ||
		    wire_put_u8(enc, WIRE_F_RESULT, WIRE_RESULT_PASS, NULL) < 0 ||
		    wire_put_bytes(enc, WIRE_F_EVIDENCE, evidence[i], evlen[i],
		    NULL) < 0 ||
		    wire_put_u64(enc, WIRE_F_SEQ, (*seq)++, NULL) < 0 ||
		    wire_put_u64(enc, WIRE_F_EPOCH, epoch, NULL) < 0 ||
		    send_enc(w->conn[v], enc) < 0)
			die("send VERDICT", NULL);
		wire_enc_free(enc);
	}
}

static void
read_acks(struct worker *w, int v)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	int k;

	for (k = 0; k < NBR; k++) {
		struct wire_msg *m = NULL;

		if (tls_recv(w->conn[v], TIMEOUT_MS, &m, NULL, &e) < 0)
			die("recv ACK", e.msg);
		if (wire_msg_type(m) == WIRE_T_ACK)
			w->acked++;
		else {
			char msg[1100] = "";

			(void)wire_get_str(m, WIRE_F_MESSAGE, msg, sizeof(msg),
			    NULL);
			if (w->errors++ == 0)
				fprintf(stderr, "bench_ingest: refused: %s\n", msg);
		}
		wire_msg_free(m);
	}
}

static void *
ingest_main(void *arg)
{
	struct worker *w = arg;
	uint64_t seq = 1;
	int first, v, r, n;

	for (first = w->id; first < nhosts; first += THREADS * CHUNK) {
		for (r = 0; r <= rounds; r++) {
			for (v = first, n = 0; v < nhosts && n < CHUNK;
			    v += THREADS, n++) {
				if (r == 0)
					w->conn[v] = dial(v, &w->ctx[v]);
				send_round(w, v, r, &seq);
			}
			for (v = first, n = 0; v < nhosts && n < CHUNK;
			    v += THREADS, n++)
				read_acks(w, v);
		}
		for (v = first, n = 0; v < nhosts && n < CHUNK; v += THREADS, n++) {
			tls_close(w->conn[v]);
			tls_ctx_free(w->ctx[v]);
		}
	}
	return NULL;
}

/* CPU seconds (user + system) of process pid so far, -1 if unknown. */
static double
proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "pid (comm) ": state is field 3, utime 14, stime 15 */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* "verdicts_applied" from vouch-tcbd's status over the admin socket. */
static long long
applied_count(const char *sock)
{
	struct sockaddr_un sa;
	struct wire_enc *w;
	struct wire_msg *m = NULL;
	const uint8_t *p;
	const char *q;
	size_t n;
	long long v = -1;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	if (wire_enc_new(WIRE_T_HELLO, &w, NULL) == 0 &&
	    wire_put_str(w, WIRE_F_HOST, "bench", NULL) == 0 &&
	    wire_put_u8(w, WIRE_F_ROLE, WIRE_ROLE_CTL, NULL) == 0 &&
	    wire_put_u32(w, WIRE_F_VERSION_MIN, 1, NULL) == 0 &&
	    wire_put_u32(w, WIRE_F_VERSION_MAX, 1, NULL) == 0) {
		const uint8_t *f;
		size_t len;

		if (wire_enc_finish(w, &f, &len, NULL) == 0 &&
		    svc_fd_send(fd, f, len, TIMEOUT_MS, NULL) == 0 &&
		    svc_fd_recv(fd, TIMEOUT_MS, &m, NULL, NULL) == 0) {
			wire_msg_free(m);
			m = NULL;
		}
	}
	wire_enc_free(w);
	if (wire_enc_new(WIRE_T_STATUS_REQUEST, &w, NULL) == 0 &&
	    wire_put_str(w, WIRE_F_JSON, "{\"cmd\":\"status\"}", NULL) == 0) {
		const uint8_t *f;
		size_t len;

		if (wire_enc_finish(w, &f, &len, NULL) == 0 &&
		    svc_fd_send(fd, f, len, TIMEOUT_MS, NULL) == 0 &&
		    svc_fd_recv(fd, TIMEOUT_MS, &m, NULL, NULL) == 0 &&
		    wire_get_bytes(m, WIRE_F_JSON, &p, &n, NULL) == 0) {
			char *t = strndup((const char *)p, n);

			if (t != NULL && (q = strstr(t, "\"verdicts_applied\":")) != NULL)
				v = strtoll(q + 19, NULL, 10);
			free(t);
		}
	}
	wire_enc_free(w);
	wire_msg_free(m);
	close(fd);
	return v;
}

int
main(int argc, char **argv)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct store *st;
	char path[256], text[1024], *region;
	size_t rlen = 0, cap, total;
	pid_t pid;
	double t0, t1, d0, d1, c0, c1;
	long long applied;
	int i, lfd, status;
	FILE *rf;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: bench_ingest BUILD [HOSTS] [ROUNDS]\n");
		return 2;
	}
	if (argc > 2)
		nhosts = atoi(argv[2]);
	if (argc > 3)
		rounds = atoi(argv[3]);
	if (nhosts < NBR + 1 || nhosts > 4000 || rounds < 1 || rounds > 100)
		die("arguments", "HOSTS 9..4000, ROUNDS 1..100");
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/bench_ingest.XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", strerror(errno));

	/* the region: a free port for vouch-tcbd, certificates for all */
	if (tls_listen("127.0.0.1", 0, &lfd, &tcbd_port, &e) < 0)
		die("port", e.msg);
	close(lfd);
	snprintf(path, sizeof(path), "%s/pki/ca", dir);
	if (pki_ca_create(path, 1, &e) < 0)
		die("CA", e.msg);
	snprintf(text, sizeof(text), "%s/pki", dir);
	if (pki_host_issue(path, "tcbd", "127.0.0.1", 1, text, &e) < 0)
		die("tcbd cert", e.msg);
	cap = (size_t)nhosts * 80 + 256;
	if ((region = malloc(cap)) == NULL || (rf = fmemopen(region, cap, "w")) == NULL)
		die("region", "out of memory");
	fprintf(rf, "region = { name = \"lab-bench\";\n tcbd = { name = \"tcbd\"; "
	    "addr = \"127.0.0.1\"; port = %u; };\n hosts = (\n", tcbd_port);
	if ((keys = calloc((size_t)nhosts, sizeof(*keys))) == NULL)
		die("keys", "out of memory");
	snprintf(path, sizeof(path), "%s/ivt.db", dir);
	if (store_open(path, &st, &e) < 0)
		die("store", e.msg);
	snprintf(path, sizeof(path), "%s/pki/ca", dir);
	for (i = 0; i < nhosts; i++) {
		char name[16];

		host_name(i, name, sizeof(name));
		fprintf(rf, "  { name = \"%s\"; addr = \"127.0.0.1\"; port = %d; }%s\n",
		    name, 40000 + i, i + 1 < nhosts ? "," : "");
		if (pki_host_issue(path, name, NULL, 1, text, &e) < 0)
			die("host cert", e.msg);
		if ((keys[i] = fq_key()) == NULL ||
		    fq_enrol(st, name, keys[i], 0) < 0)
			die("enrol", name);
	}
	store_free(st);
	fprintf(rf, " ); };\n");
	fclose(rf);
	rlen = strlen(region);
	snprintf(path, sizeof(path), "%s/region.cfg", dir);
	{
		FILE *f = fopen(path, "w");

		if (f == NULL || fwrite(region, 1, rlen, f) != rlen || fclose(f))
			die(path, strerror(errno));
	}
	free(region);
	snprintf(path, sizeof(path), "%s/policy.cfg", dir);
	write_text(path, FQ_POLICY);
	snprintf(text, sizeof(text),
	    "name = \"tcbd\"; region = \"region.cfg\"; policy = \"policy.cfg\";\n"
	    "store = \"sqlite:ivt.db\"; admin_socket = \"tcbd.sock\";\n"
	    "tls = { cert = \"pki/tcbd.pem\"; key = \"pki/tcbd.key\"; "
	    "ca = \"pki/ca/ca.pem\"; };\n"
	    "interval = 600; freshness = 1800; neighbours = %d; quorum = 2;\n"
	    "max_connections = %d;\n", NBR, nhosts + 64);
	snprintf(path, sizeof(path), "%s/tcbd.cfg", dir);
	write_text(path, text);

	/* the daemon under test */
	fflush(NULL);
	if ((pid = fork()) < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		char bin[512], logp[128];
		FILE *lf;

		snprintf(bin, sizeof(bin), "%s/vouch-tcbd", argv[1]);
		snprintf(logp, sizeof(logp), "%s/tcbd.log", dir);
		if ((lf = freopen(logp, "w", stderr)) == NULL ||
		    freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execl(bin, bin, "-d", "-f", path, (char *)NULL);
		_exit(127);
	}
	tcbd_pid = pid;
	snprintf(path, sizeof(path), "%s/tcbd.sock", dir);
	for (i = 0; i < 600 && applied_count(path) < 0; i++)
		usleep(50000);
	if (applied_count(path) < 0)
		die("vouch-tcbd did not start", dir);
	fetch_epoch();

	total = (size_t)nhosts * NBR * (size_t)(rounds + 1);
	if ((evidence = calloc(total, sizeof(*evidence))) == NULL ||
	    (evlen = calloc(total, sizeof(*evlen))) == NULL)
		die("evidence", "out of memory");
	memset(w, 0, sizeof(w));
	for (i = 0; i < THREADS; i++) {
		w[i].id = i;
		if (pthread_create(&th[i], NULL, sign_main, &w[i]) != 0)
			die("thread", NULL);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);

	d0 = proc_cpu_s(pid);
	c0 = self_cpu_s();
	t0 = now_s();
	for (i = 0; i < THREADS; i++) {
		if ((w[i].ctx = calloc((size_t)nhosts, sizeof(*w[i].ctx))) == NULL ||
		    (w[i].conn = calloc((size_t)nhosts, sizeof(*w[i].conn))) == NULL)
			die("workers", "out of memory");
		if (pthread_create(&th[i], NULL, ingest_main, &w[i]) != 0)
			die("thread", NULL);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	d1 = proc_cpu_s(pid);
	c1 = self_cpu_s();
	{
		uint64_t acked = 0, errors = 0;

		for (i = 0; i < THREADS; i++) {
			acked += w[i].acked;
			errors += w[i].errors;
			free(w[i].ctx);
			free(w[i].conn);
		}
		applied = applied_count(path);
		printf("verdict ingest: %.0f verdicts/s (%llu verdicts from %d "
		    "simulated hosts over TLS, %d pipelined per connection, "
		    "re-verified and group-committed; %llu applied, %llu "
		    "refused)\n", (double)acked / (t1 - t0),
		    (unsigned long long)acked, nhosts, NBR, applied,
		    (unsigned long long)errors);
		if (acked > 0 && d0 >= 0 && d1 >= 0 && c0 >= 0 && c1 >= 0)
			printf("verdict ingest CPU: %.0f us per verdict in "
			    "vouch-tcbd, %.0f us in the clients (%.0f verdicts/s "
			    "per idle core)\n", (d1 - d0) * 1e6 / (double)acked,
			    (c1 - c0) * 1e6 / (double)acked,
			    (double)acked / (d1 - d0 + c1 - c0));
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
		for (i = 0; i < (int)total; i++)
			free(evidence[i]);
		free(evidence);
		free(evlen);
		for (i = 0; i < nhosts; i++)
			EVP_PKEY_free(keys[i]);
		free(keys);
		/* every ACKed verdict must have been applied */
		if (errors == 0 && (uint64_t)applied == acked) {
			snprintf(text, sizeof(text), "rm -rf %s", dir);
			if (system(text) != 0)
				fprintf(stderr, "bench_ingest: %s left\n", dir);
			return 0;
		}
		fprintf(stderr, "bench_ingest: not every verdict was applied "
		    "(see %s/tcbd.log)\n", dir);
		return 1;
	}
}
