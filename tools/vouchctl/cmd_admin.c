/*
 * cmd_admin.c - vouchctl status | hosts | ivt | rank | host show | watch |
 * alerts | pairs | protect | unprotect | migrations | migrate:
 * questions to vouch-tcbd (conversation 6 of docs/protocol.md) over its
 * local admin socket (default) or mutual TLS with an admin certificate.
 *
 *	C: HELLO{HOST, ROLE=vouchctl}        S: HELLO
 *	C: STATUS_REQUEST{JSON}              S: STATUS_REPLY{JSON}   (repeatable)
 *
 * The JSON of the reply is printed as is with --json; otherwise as a
 * table.  Exit: 0 answered, 1 vouch-tcbd answered with an error, 2 usage
 * or connection error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/tls.h"
#include "common/wire.h"
#include "tcb/service.h"
#include "tcb/tcbd_conf.h"
#include "tools/vouchctl/vouchctl.h"

#define ADMIN_TIMEOUT_MS	10000

struct admin_opts {
	const char	*socket;
	const char	*connect;	/* ADDR:PORT: mutual TLS instead */
	const char	*name;		/* the tcbd's certificate name */
	const char	*cert, *key, *ca;
	int		 json;
};

/* The options every admin command takes: how to reach vouch-tcbd, --json. */
#define ADMIN_CONN_LONGOPTS \
	{ "socket", required_argument, NULL, 's' }, \
	{ "connect", required_argument, NULL, 'C' }, \
	{ "name", required_argument, NULL, 'N' }, \
	{ "cert", required_argument, NULL, 'c' }, \
	{ "key", required_argument, NULL, 'k' }, \
	{ "ca", required_argument, NULL, 'a' }, \
	{ "json", no_argument, NULL, 'j' }

/* 1 if ch was one of ADMIN_CONN_LONGOPTS (stored in o), else 0. */
static int
admin_conn_opt(struct admin_opts *o, int ch, char *arg)
{
	switch (ch) {
	case 's': o->socket = arg; return 1;
	case 'C': o->connect = arg; return 1;
	case 'N': o->name = arg; return 1;
	case 'c': o->cert = arg; return 1;
	case 'k': o->key = arg; return 1;
	case 'a': o->ca = arg; return 1;
	case 'j': o->json = 1; return 1;
	}
	return 0;
}

struct admin_conn {
	int		 fd;
	struct tls_conn	*tls;
	struct tls_ctx	*ctx;
};

static void
admin_usage(FILE *f)
{
	fprintf(f,
	    "usage: vouchctl status [OPTIONS]\n"
	    "       vouchctl hosts  [OPTIONS]\n"
	    "       vouchctl ivt    [OPTIONS]\n"
	    "       vouchctl rank   [OPTIONS] [--vcpus N] [--mib N] [--max N]\n"
	    "       vouchctl host show HOST [OPTIONS]\n"
	    "       vouchctl watch  [OPTIONS] [--from-start] [--count N] "
	    "[--timeout S]\n"
	    "       vouchctl alerts [OPTIONS] [--host H] [--target T] "
	    "[--limit N]\n"
	    "\n"
	    "Ask vouch-tcbd (the RC-TCB) about the region.\n"
	    "  status      epoch, host counts per state\n"
	    "  hosts       one line per host: state, fresh PASSes, verifiers\n"
	    "  ivt         the integrity validation table, every field\n"
	    "  rank        TRUSTED destinations for a VM of --vcpus/--mib\n"
	    "  host show   one host: record, AK, last verdict and last direct\n"
	    "              attestation with their reasons\n"
	    "  watch       print state changes and other IVT events as they "
	    "happen\n"
	    "  alerts      guard findings hosts sent (ALERT), newest first:\n"
	    "              of host H, of target VM T, at most N (default 20,\n"
	    "              at most 400)\n"
	    "\n"
	    "OPTIONS:\n"
	    "  --socket PATH   admin unix socket (default %s)\n"
	    "  --connect ADDR:PORT --name TCBD --cert F --key F --ca F\n"
	    "                  mutual TLS with an admin certificate instead\n"
	    "  --json          print vouch-tcbd's JSON reply\n",
	    TCBD_DEFAULT_SOCKET);
}

/* The first SAN DNS name of a certificate, else its CN (as tls.c does). */
static int
cert_name(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	GENERAL_NAMES *gens;
	int i, ok = 0;

	if (f == NULL)
		return -1;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return -1;
	if ((gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL)) != NULL) {
		for (i = 0; !ok && i < sk_GENERAL_NAME_num(gens); i++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == GEN_DNS) {
				snprintf(out, cap, "%.*s",
				    ASN1_STRING_length(g->d.dNSName),
				    (const char *)ASN1_STRING_get0_data(
				    g->d.dNSName));
				ok = 1;
			}
		}
		GENERAL_NAMES_free(gens);
	}
	if (!ok && X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, out, (int)cap) > 0)
		ok = 1;
	X509_free(x);
	return ok ? 0 : -1;
}

static int
conn_send(struct admin_conn *c, struct wire_enc *w, struct vouch_err *e)
{
	const uint8_t *f;
	size_t len;
	int r;

	if ((r = wire_enc_finish(w, &f, &len, e)) < 0)
		return r;
	if (c->tls != NULL)
		return tls_send(c->tls, f, len, ADMIN_TIMEOUT_MS, e);
	return svc_fd_send(c->fd, f, len, ADMIN_TIMEOUT_MS, e);
}

static int
conn_recv(struct admin_conn *c, uint16_t want, struct wire_msg **m,
    struct vouch_err *e)
{
	int r;

	if (c->tls != NULL)
		r = tls_recv(c->tls, ADMIN_TIMEOUT_MS, m, NULL, e);
	else
		r = svc_fd_recv(c->fd, ADMIN_TIMEOUT_MS, m, NULL, e);
	if (r < 0)
		return r;
	if (wire_msg_type(*m) == want)
		return 0;
	if (wire_msg_type(*m) == WIRE_T_ERROR) {
		char msg[1025] = "";

		(void)wire_get_str(*m, WIRE_F_MESSAGE, msg, sizeof(msg), NULL);
		r = vouch_err_set(e, VOUCH_E_STATE, "vouch-tcbd refused: %s", msg);
	} else
		r = vouch_err_set(e, VOUCH_E_FORMAT, "vouch-tcbd sent %s, not %s",
		    wire_type_name(wire_msg_type(*m)), wire_type_name(want));
	wire_msg_free(*m);
	*m = NULL;
	return r;
}

static void
conn_close(struct admin_conn *c)
{
	tls_close(c->tls);
	tls_ctx_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->tls = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

static int
conn_open(const struct admin_opts *o, struct admin_conn *c, struct vouch_err *e)
{
	char me[WIRE_HOST_MAX + 1] = "vouchctl";
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	int r;

	c->fd = -1;
	c->tls = NULL;
	c->ctx = NULL;
	if (o->connect != NULL) {
		const char *colon = strrchr(o->connect, ':');
		char addr[64];
		long port;

		if (colon == NULL || (size_t)(colon - o->connect) >= sizeof(addr) ||
		    (port = strtol(colon + 1, NULL, 10)) < 1 || port > 65535 ||
		    o->name == NULL || o->cert == NULL || o->key == NULL ||
		    o->ca == NULL)
			return vouch_err_set(e, VOUCH_E_INVAL, "--connect "
			    "ADDR:PORT needs --name, --cert, --key and --ca");
		snprintf(addr, sizeof(addr), "%.*s", (int)(colon - o->connect),
		    o->connect);
		if (cert_name(o->cert, me, sizeof(me)) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT, "%s: no host "
			    "name in the certificate", o->cert);
		if ((r = tls_ctx_new(TLS_CLIENT, o->cert, o->key, o->ca, &c->ctx,
		    e)) < 0 ||
		    (r = tls_connect(c->ctx, addr, (uint16_t)port, o->name,
		    ADMIN_TIMEOUT_MS, &c->tls, e)) < 0)
			goto fail;
	} else {
		struct sockaddr_un sa;

		if (strlen(o->socket) >= sizeof(sa.sun_path))
			return vouch_err_set(e, VOUCH_E_INVAL, "%s: path too "
			    "long", o->socket);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, o->socket, strlen(o->socket));
		if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = vouch_err_set(e, VOUCH_E_IO, "%s: %s (is vouch-tcbd "
			    "running?)", o->socket, strerror(errno));
			goto fail;
		}
	}
	if ((r = wire_enc_new(WIRE_T_HELLO, &w, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_HOST, me, e)) < 0 ||
	    (r = wire_put_u8(w, WIRE_F_ROLE, WIRE_ROLE_CTL, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_VERSION_MIN, WIRE_VERSION_MIN, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_VERSION_MAX, WIRE_VERSION_MAX, e)) < 0 ||
	    (r = conn_send(c, w, e)) < 0 ||
	    (r = conn_recv(c, WIRE_T_HELLO, &m, e)) < 0)
		goto fail;
	wire_msg_free(m);
	wire_enc_free(w);
	return 0;
fail:
	wire_enc_free(w);
	conn_close(c);
	return r;
}

/* One request; *reply (json-c, caller puts) on success. */
static int
ask(struct admin_conn *c, json_object *req, json_object **reply,
    struct vouch_err *e)
{
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	struct json_tokener *tok;
	const uint8_t *p;
	size_t n;
	int r;

	if ((r = wire_enc_new(WIRE_T_STATUS_REQUEST, &w, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_JSON, json_object_to_json_string_ext(
	    req, JSON_C_TO_STRING_PLAIN), e)) < 0 ||
	    (r = conn_send(c, w, e)) < 0 ||
	    (r = conn_recv(c, WIRE_T_STATUS_REPLY, &m, e)) < 0 ||
	    (r = wire_get_bytes(m, WIRE_F_JSON, &p, &n, e)) < 0)
		goto out;
	if ((tok = json_tokener_new()) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	*reply = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	json_tokener_free(tok);
	if (*reply == NULL)
		r = vouch_err_set(e, VOUCH_E_FORMAT, "STATUS_REPLY: not JSON");
out:
	wire_msg_free(m);
	wire_enc_free(w);
	return r;
}

static const char *
jget_str(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return "";
	return json_object_get_string(v);
}

static int64_t
jget_int(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || v == NULL)
		return 0;
	return json_object_get_int64(v);
}

/* "12s ago" from a ms timestamp and the reply's "now". */
static void
age(char *buf, size_t cap, int64_t now, int64_t t)
{
	int64_t s;

	if (t < 0) {
		snprintf(buf, cap, "never");
		return;
	}
	s = (now - t) / 1000;
	if (s < 120)
		snprintf(buf, cap, "%llds ago", (long long)s);
	else if (s < 7200)
		snprintf(buf, cap, "%lldm ago", (long long)(s / 60));
	else
		snprintf(buf, cap, "%lldh ago", (long long)(s / 3600));
}

static void
print_status(json_object *r)
{
	json_object *st, *v;

	printf("RC-TCB %s, region %s, policy %s\n", jget_str(r, "name"),
	    jget_str(r, "region"), jget_str(r, "policy"));
	printf("epoch %lld (interval %llds, freshness %llds), quorum %lld of "
	    "%lld\n", (long long)jget_int(r, "epoch"),
	    (long long)jget_int(r, "interval_s"),
	    (long long)jget_int(r, "freshness_s"),
	    (long long)jget_int(r, "quorum"),
	    (long long)jget_int(r, "neighbours"));
	printf("hosts %lld, enrolled %lld:", (long long)jget_int(r, "hosts"),
	    (long long)jget_int(r, "enrolled"));
	if (json_object_object_get_ex(r, "states", &st)) {
		json_object_object_foreach(st, k, val) {
			printf(" %s %lld", k, (long long)json_object_get_int64(val));
			(void)val;
		}
	}
	printf("\n");
	printf("verdicts applied %lld, refused %lld; store %s\n",
	    (long long)jget_int(r, "verdicts_applied"),
	    (long long)jget_int(r, "verdicts_refused"), jget_str(r, "store"));
	if (json_object_object_get_ex(r, "ek_ca_checked", &v) &&
	    !json_object_get_boolean(v))
		printf("WARNING: EK certificates are not checked (no ek_ca; "
		    "lab only)\n");
}

static void
print_hosts(json_object *r, int full)
{
	json_object *a, *h, *v;
	int64_t now = jget_int(r, "now");
	size_t i, j;
	char buf[32];

	if (!json_object_object_get_ex(r, "hosts", &a))
		return;
	if (full)
		printf("%-20s %-11s %7s %6s %6s %7s %8s %9s %5s\n", "HOST",
		    "STATE", "FRESH/K", "PASSES", "FAILS", "STREAK", "SUSPECT",
		    "DISPROVED", "RESET");
	else
		printf("%-20s %-11s %-10s %7s  %s\n", "HOST", "STATE", "SINCE",
		    "FRESH/K", "VERIFIERS");
	for (i = 0; i < json_object_array_length(a); i++) {
		h = json_object_array_get_idx(a, i);
		age(buf, sizeof(buf), now, jget_int(h, "since"));
		if (full) {
			printf("%-20s %-11s %5lld/%lld %6lld %6lld %7lld %8lld "
			    "%9lld %5lld\n", jget_str(h, "name"),
			    jget_str(h, "state"),
			    (long long)jget_int(h, "fresh_passes"),
			    (long long)jget_int(h, "quorum_k"),
			    (long long)jget_int(h, "passes"),
			    (long long)jget_int(h, "fails"),
			    (long long)jget_int(h, "pass_streak"),
			    (long long)jget_int(h, "suspect_episodes"),
			    (long long)jget_int(h, "disproved"),
			    (long long)jget_int(h, "reset_count"));
			continue;
		}
		printf("%-20s %-11s %-10s %5lld/%lld ", jget_str(h, "name"),
		    jget_str(h, "state"), buf,
		    (long long)jget_int(h, "fresh_passes"),
		    (long long)jget_int(h, "quorum_k"));
		if (json_object_object_get_ex(h, "verifiers", &v))
			for (j = 0; j < json_object_array_length(v); j++)
				printf(" %s", json_object_get_string(
				    json_object_array_get_idx(v, j)));
		printf("\n");
	}
}

static void
print_vinfo(const char *title, json_object *v, int64_t now)
{
	json_object *a, *c;
	char buf[32];
	size_t i;

	age(buf, sizeof(buf), now, jget_int(v, "time"));
	printf("%s: %s by %s, %s", title, jget_str(v, "result"),
	    jget_str(v, "verifier"), buf);
	if (jget_str(v, "claimed")[0])
		printf(" (claimed %s, re-verified %s)", jget_str(v, "claimed"),
		    jget_str(v, "reverified")[0] ? jget_str(v, "reverified") :
		    "-");
	printf("\n");
	if (jget_int(v, "epoch"))
		printf("  epoch %lld\n", (long long)jget_int(v, "epoch"));
	if (jget_str(v, "pcr_selection")[0])
		printf("  evidence %lld bytes, PCRs %s, created %s\n",
		    (long long)jget_int(v, "evidence_bytes"),
		    jget_str(v, "pcr_selection"), jget_str(v, "created"));
	if (json_object_object_get_ex(v, "counters", &c))
		printf("  quote counters: clock %lld resetCount %lld "
		    "restartCount %lld%s\n", (long long)jget_int(c, "clock"),
		    (long long)jget_int(c, "reset_count"),
		    (long long)jget_int(c, "restart_count"),
		    jget_int(v, "reboot") ? " (reboot)" : "");
	if (json_object_object_get_ex(v, "reasons", &a))
		for (i = 0; i < json_object_array_length(a); i++)
			printf("  reason: %s\n", json_object_get_string(
			    json_object_array_get_idx(a, i)));
	if (jget_int(v, "reasons_total") > (int64_t)json_object_array_length(a))
		printf("  (%lld reasons in all)\n",
		    (long long)jget_int(v, "reasons_total"));
}

static void
print_host(json_object *r)
{
	json_object *h, *a, *v;
	int64_t now = jget_int(r, "now");
	char buf[32];
	size_t i;

	if (!json_object_object_get_ex(r, "host", &h))
		return;
	age(buf, sizeof(buf), now, jget_int(h, "since"));
	printf("host %s: %s since %s\n", jget_str(h, "name"),
	    jget_str(h, "state"), buf);
	printf("  enrolled %s, fresh PASSes %lld of quorum %lld (%lld "
	    "neighbours%s)\n", jget_int(h, "enrolled") ? "yes" : "no",
	    (long long)jget_int(h, "fresh_passes"),
	    (long long)jget_int(h, "quorum_k"),
	    (long long)jget_int(h, "quorum_n"),
	    jget_int(h, "degraded") ? ", degraded" : "");
	printf("  passes %lld, fails %lld, streak %lld, suspect episodes "
	    "%lld, accusations disproved %lld, resetCount %lld\n",
	    (long long)jget_int(h, "passes"), (long long)jget_int(h, "fails"),
	    (long long)jget_int(h, "pass_streak"),
	    (long long)jget_int(h, "suspect_episodes"),
	    (long long)jget_int(h, "disproved"),
	    (long long)jget_int(h, "reset_count"));
	if (json_object_object_get_ex(r, "ak", &a))
		printf("  AK name %s\n", jget_str(a, "name"));
	if (json_object_object_get_ex(h, "verdicts", &a))
		for (i = 0; i < json_object_array_length(a); i++) {
			v = json_object_array_get_idx(a, i);
			age(buf, sizeof(buf), now, jget_int(v, "time"));
			printf("  verifier %-16s %-7s %-10s%s%s%s\n",
			    jget_str(v, "verifier"), jget_str(v, "result"),
			    jget_int(v, "time") < 0 ? "-" : buf,
			    jget_int(v, "accuser") ? " accuser" : "",
			    jget_str(v, "reason")[0] ? " " : "",
			    jget_str(v, "reason"));
		}
	if (json_object_object_get_ex(r, "last_verdict", &v))
		print_vinfo("last verdict", v, now);
	if (json_object_object_get_ex(r, "last_direct", &v))
		print_vinfo("last direct attestation", v, now);
}

static void
print_rank(json_object *r)
{
	json_object *a, *x;
	size_t i;

	if (!json_object_object_get_ex(r, "rank", &a))
		return;
	printf("%-4s %-20s %s\n", "RANK", "HOST", "SCORE");
	for (i = 0; i < json_object_array_length(a); i++) {
		x = json_object_array_get_idx(a, i);
		printf("%-4zu %-20s %lld\n", i + 1, jget_str(x, "name"),
		    (long long)jget_int(x, "score"));
	}
}

static void
print_alerts(json_object *r)
{
	json_object *a, *x, *f, *d;
	size_t i;
	time_t t;
	struct tm tm;
	char ts[32];

	if (!json_object_object_get_ex(r, "alerts", &a))
		return;
	printf("%-6s %-20s %-12s %-12s %-20s %-4s %s\n", "SEQ", "TIME",
	    "HOST", "TARGET", "TYPE", "CRIT", "DETAIL");
	for (i = 0; i < json_object_array_length(a); i++) {
		x = json_object_array_get_idx(a, i);
		t = (time_t)(jget_int(x, "time") / 1000);
		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		d = NULL;
		if (json_object_object_get_ex(x, "finding", &f))
			(void)json_object_object_get_ex(f, "detail", &d);
		printf("%-6lld %-20s %-12s %-12s %-20s %-4s %s\n",
		    (long long)jget_int(x, "seq"), ts, jget_str(x, "host"),
		    jget_str(x, "target"), jget_str(x, "type"),
		    json_object_object_get_ex(x, "critical", &f) &&
		    json_object_get_boolean(f) ? "yes" : "no",
		    d != NULL ? json_object_get_string(d) : "");
	}
}

static void
print_event(json_object *x, int json)
{
	time_t t;
	struct tm tm;
	char ts[32];

	if (json) {
		printf("%s\n", json_object_to_json_string_ext(x,
		    JSON_C_TO_STRING_PLAIN));
		fflush(stdout);
		return;
	}
	t = (time_t)(jget_int(x, "time") / 1000);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s %-20s %-16s", ts, jget_str(x, "kind"), jget_str(x, "host"));
	if (jget_str(x, "from")[0])
		printf(" %s -> %s", jget_str(x, "from"), jget_str(x, "to"));
	if (jget_str(x, "verifier")[0])
		printf(" verifier %s", jget_str(x, "verifier"));
	if (jget_str(x, "reason")[0])
		printf(": %s", jget_str(x, "reason"));
	printf("\n");
	fflush(stdout);
}

/* Reply errors ({"error": ...}) exit 1 after printing. */
static int
reply_failed(json_object *r)
{
	json_object *v;

	if (!json_object_object_get_ex(r, "error", &v))
		return 0;
	ctl_err("vouch-tcbd: %s", json_object_get_string(v));
	return 1;
}

static int
watch(struct admin_opts *o, int from_start, long count, long timeout_s)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct admin_conn c;
	int64_t after = 0;
	long shown = 0;
	time_t until = timeout_s > 0 ? time(NULL) + timeout_s : 0;
	int caught_up = from_start;

	for (;;) {
		json_object *req = json_object_new_object(), *rep = NULL, *a;
		size_t i, n;
		int r;

		json_object_object_add(req, "cmd", json_object_new_string(
		    "events"));
		json_object_object_add(req, "after", json_object_new_int64(after));
		json_object_object_add(req, "max", json_object_new_int(1000));
		/* One connection per poll: the daemon's frame deadline holds. */
		r = conn_open(o, &c, &e);
		if (r == 0) {
			r = ask(&c, req, &rep, &e);
			conn_close(&c);
		}
		json_object_put(req);
		if (r < 0) {
			ctl_err("%s", e.msg);
			return EXIT_USAGE;
		}
		if (reply_failed(rep)) {
			json_object_put(rep);
			return EXIT_FAILV;
		}
		n = 0;
		if (json_object_object_get_ex(rep, "events", &a))
			n = json_object_array_length(a);
		for (i = 0; caught_up && i < n; i++) {
			print_event(json_object_array_get_idx(a, i), o->json);
			if (count > 0 && ++shown >= count) {
				json_object_put(rep);
				return 0;
			}
		}
		after = jget_int(rep, "last");
		json_object_put(rep);
		if (n < 1000)
			caught_up = 1;
		if (until != 0 && time(NULL) >= until)
			return count > 0 ? EXIT_FAILV : 0;
		if (n < 1000) {
			struct timespec ts = { 0, 300000000L };

			nanosleep(&ts, NULL);
		}
	}
}

int
cmd_admin(int argc, char **argv)
{
	static const struct option longopts[] = {
		ADMIN_CONN_LONGOPTS,
		{ "vcpus", required_argument, NULL, 'V' },
		{ "mib", required_argument, NULL, 'M' },
		{ "max", required_argument, NULL, 'x' },
		{ "from-start", no_argument, NULL, 'F' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "target", required_argument, NULL, 'T' },
		{ "limit", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct admin_opts o = { TCBD_DEFAULT_SOCKET, NULL, NULL, NULL, NULL,
	    NULL, 0 };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct admin_conn c;
	const char *cmd = argv[0], *host = NULL;
	const char *a_host = NULL, *a_target = NULL;
	json_object *req, *rep = NULL;
	long vcpus = 0, mib = 0, max = 10, count = 0, timeout_s = 0;
	long limit = 20;
	int ch, from_start = 0, r;

	if (strcmp(cmd, "host") == 0) {
		/* vouchctl host show HOST: argv = host show HOST [opts] */
		if (argc < 3) {
			admin_usage(stderr);
			return EXIT_USAGE;
		}
		host = argv[2];
		argc -= 2;
		argv += 2;
	}
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (admin_conn_opt(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'V': vcpus = strtol(optarg, NULL, 10); break;
		case 'M': mib = strtol(optarg, NULL, 10); break;
		case 'x': max = strtol(optarg, NULL, 10); break;
		case 'F': from_start = 1; break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 't': timeout_s = strtol(optarg, NULL, 10); break;
		case 'H': a_host = optarg; break;
		case 'T': a_target = optarg; break;
		case 'L': limit = strtol(optarg, NULL, 10); break;
		case 'h': admin_usage(stdout); return 0;
		default: admin_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || vcpus < 0 || mib < 0 || max < 1 || max > 64 ||
	    count < 0 || timeout_s < 0 || limit < 1 || limit > 400 ||
	    ((a_host != NULL || a_target != NULL) &&
	    strcmp(cmd, "alerts") != 0)) {
		admin_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "watch") == 0)
		return watch(&o, from_start, count, timeout_s);

	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(host != NULL ?
	    "host" : cmd));
	if (host != NULL)
		json_object_object_add(req, "name", json_object_new_string(host));
	if (strcmp(cmd, "rank") == 0) {
		json_object_object_add(req, "vcpus", json_object_new_int64(vcpus));
		json_object_object_add(req, "mib", json_object_new_int64(mib));
		json_object_object_add(req, "max", json_object_new_int64(max));
	}
	if (strcmp(cmd, "alerts") == 0) {
		if (a_host != NULL)
			json_object_object_add(req, "host",
			    json_object_new_string(a_host));
		if (a_target != NULL)
			json_object_object_add(req, "target",
			    json_object_new_string(a_target));
		json_object_object_add(req, "max", json_object_new_int64(limit));
	}
	if ((r = conn_open(&o, &c, &e)) == 0) {
		r = ask(&c, req, &rep, &e);
		conn_close(&c);
	}
	json_object_put(req);
	if (r < 0) {
		ctl_err("%s", e.msg);
		return EXIT_USAGE;
	}
	if (o.json)
		printf("%s\n", json_object_to_json_string_ext(rep,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	if (reply_failed(rep)) {
		json_object_put(rep);
		return EXIT_FAILV;
	}
	if (!o.json) {
		if (strcmp(cmd, "status") == 0)
			print_status(rep);
		else if (strcmp(cmd, "hosts") == 0)
			print_hosts(rep, 0);
		else if (strcmp(cmd, "ivt") == 0)
			print_hosts(rep, 1);
		else if (strcmp(cmd, "rank") == 0)
			print_rank(rep);
		else if (strcmp(cmd, "alerts") == 0)
			print_alerts(rep);
		else
			print_host(rep);
	}
	json_object_put(rep);
	return 0;
}

int
cmd_host_admin(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return cmd_admin(argc, argv);
	return cmd_host(argc, argv);
}

/* ---- protected pairs and migrations (docs/protocol.md 9) ------------ */

static void
mig_usage(FILE *f, const char *cmd)
{
	if (strcmp(cmd, "pairs") == 0)
		fprintf(f, "usage: vouchctl pairs [OPTIONS]\n\n"
		    "The protected pairs vouch-tcbd evacuates: target VM, "
		    "guard VM, host,\nvCPUs and MiB of the two together.\n");
	else if (strcmp(cmd, "protect") == 0)
		fprintf(f, "usage: vouchctl protect TARGET --guard GUARD --on "
		    "HOST [--vcpus N] [--mem MIB] [OPTIONS]\n\n"
		    "Protect TARGET (a VM on HOST watched by the guard VM "
		    "GUARD): if HOST\nbecomes UNTRUSTED, vouch-tcbd moves both "
		    "to a TRUSTED host with room\nfor N vCPUs and MIB MiB "
		    "(target and guard together).\n");
	else if (strcmp(cmd, "unprotect") == 0)
		fprintf(f, "usage: vouchctl unprotect TARGET [OPTIONS]\n\n"
		    "Stop protecting TARGET (refused while it is migrating).\n");
	else if (strcmp(cmd, "migrations") == 0)
		fprintf(f, "usage: vouchctl migrations [--id N] [--target T] "
		    "[--limit N] [OPTIONS]\n\n"
		    "Evacuations and manual migrations, newest first (at most "
		    "N, default 20):\nid, target, guard, source -> destination, "
		    "phase, result, MiB sent,\ntarget downtime, total time, "
		    "error.  RESULT is empty while it runs,\nthen DONE, FAILED "
		    "or LOST (no report for the report timeout).\n");
	else
		fprintf(f, "usage: vouchctl migrate TARGET --to HOST "
		    "[--no-wait] [OPTIONS]\n\n"
		    "Co-migrate TARGET and its guard to HOST (TRUSTED, with "
		    "room for both),\nthen follow it: a progress bar on a "
		    "terminal, one line per change\notherwise.  Exit 0 on DONE, "
		    "1 on FAILED or LOST (the error is printed),\n2 on usage or "
		    "connection errors.  --no-wait prints the id and exits.\n");
	fprintf(f, "\nOPTIONS:\n"
	    "  --socket PATH   admin unix socket (default %s)\n"
	    "  --connect ADDR:PORT --name TCBD --cert F --key F --ca F\n"
	    "                  mutual TLS with an admin certificate instead\n"
	    "  --json          print vouch-tcbd's JSON reply\n",
	    TCBD_DEFAULT_SOCKET);
}

/* One request on its own connection; *rep on success (0). */
static int
ask_once(const struct admin_opts *o, json_object *req, json_object **rep)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct admin_conn c;
	int r;

	if ((r = conn_open(o, &c, &e)) == 0) {
		r = ask(&c, req, rep, &e);
		conn_close(&c);
	}
	if (r < 0)
		ctl_err("%s", e.msg);
	return r;
}

static void
print_pairs(json_object *r)
{
	json_object *a, *x;
	size_t i;

	if (!json_object_object_get_ex(r, "pairs", &a))
		return;
	printf("%-20s %-20s %-16s %6s %8s\n", "TARGET", "GUARD", "HOST",
	    "VCPUS", "MIB");
	for (i = 0; i < json_object_array_length(a); i++) {
		x = json_object_array_get_idx(a, i);
		printf("%-20s %-20s %-16s %6lld %8lld\n", jget_str(x, "target"),
		    jget_str(x, "guard"), jget_str(x, "host"),
		    (long long)jget_int(x, "vcpus"),
		    (long long)jget_int(x, "mem_mib"));
	}
}

static const char *
mig_dest_of(json_object *x, char *buf, size_t cap)
{
	json_object *d;

	if (jget_str(x, "host")[0] != '\0')
		return jget_str(x, "host");
	if (json_object_object_get_ex(x, "dests", &d) &&
	    json_object_array_length(d) > 0) {
		snprintf(buf, cap, "%s?", json_object_get_string(
		    json_object_array_get_idx(d, 0)));
		return buf;
	}
	return "-";
}

static void
print_migrations(json_object *r)
{
	json_object *a, *x;
	size_t i;

	if (!json_object_object_get_ex(r, "migrations", &a))
		return;
	printf("%-5s %-16s %-16s %-22s %-13s %-7s %8s %9s %9s %s\n", "ID",
	    "TARGET", "GUARD", "SOURCE -> HOST", "PHASE", "RESULT", "MIB",
	    "DOWNTIME", "TOTAL", "ERROR");
	for (i = 0; i < json_object_array_length(a); i++) {
		char route[80], dest[80], down[24], total[24];
		const char *res;

		x = json_object_array_get_idx(a, i);
		snprintf(route, sizeof(route), "%s -> %s", jget_str(x, "source"),
		    mig_dest_of(x, dest, sizeof(dest)));
		res = jget_str(x, "result");
		snprintf(down, sizeof(down), "%lld ms",
		    (long long)jget_int(x, "downtime_ms"));
		snprintf(total, sizeof(total), "%.1f s",
		    (double)jget_int(x, "total_ms") / 1000.0);
		printf("%-5lld %-16s %-16s %-22s %-13s %-7s %8.1f %9s %9s %s\n",
		    (long long)jget_int(x, "id"), jget_str(x, "target"),
		    jget_str(x, "guard"), route, jget_str(x, "phase"),
		    res[0] ? res : "running",
		    (double)jget_int(x, "bytes") / 1048576.0,
		    res[0] ? down : "-", res[0] ? total : "-",
		    jget_str(x, "error"));
	}
}

static double
jget_double(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ?
	    json_object_get_double(v) : 0;
}

/* A migration row's stream rate: "mbps" is QEMU's megabits/s; MiB/s. */
static double
mib_per_s(json_object *x)
{
	return jget_double(x, "mbps") * 1e6 / 8.0 / 1048576.0;
}

/* Follow migration id until it ends: 0 DONE, 1 FAILED/LOST, 2 error. */
static int
follow(const struct admin_opts *o, long long id)
{
	int tty = isatty(STDOUT_FILENO);
	char last[512] = "";

	for (;;) {
		json_object *req = json_object_new_object(), *rep = NULL, *a, *x;
		const char *res;
		char line[512], size[64];
		double mib, tot;
		int r;

		json_object_object_add(req, "cmd",
		    json_object_new_string("migrations"));
		json_object_object_add(req, "id", json_object_new_int64(id));
		r = ask_once(o, req, &rep);
		json_object_put(req);
		if (r < 0)
			return EXIT_USAGE;
		if (reply_failed(rep)) {
			json_object_put(rep);
			return EXIT_USAGE;
		}
		if (!json_object_object_get_ex(rep, "migrations", &a) ||
		    json_object_array_length(a) != 1) {
			json_object_put(rep);
			ctl_err("migration %lld: no such migration", id);
			return EXIT_USAGE;
		}
		x = json_object_array_get_idx(a, 0);
		res = jget_str(x, "result");
		mib = (double)jget_int(x, "bytes") / 1048576.0;
		tot = (double)jget_int(x, "total") / 1048576.0;
		/* "12.0/128.5 MiB" while a stream runs, "156.8 MiB" after */
		if (tot > 0)
			snprintf(size, sizeof(size), "%.1f/%.1f MiB", mib, tot);
		else
			snprintf(size, sizeof(size), "%.1f MiB", mib);
		if (tty) {
			char bar[31];
			int k, fill = tot > 0 ? (int)(30.0 * mib / tot) : 0;

			if (fill > 30)
				fill = 30;
			for (k = 0; k < 30; k++)
				bar[k] = k < fill ? '#' : '.';
			bar[30] = '\0';
			snprintf(line, sizeof(line), "migration %lld %-12s [%s] "
			    "%s %.1f MiB/s %s", id,
			    jget_str(x, "phase"), bar, size,
			    mib_per_s(x), jget_str(x, "host"));
			printf("\r%-100s", line);
			fflush(stdout);
		} else {
			snprintf(line, sizeof(line), "migration %lld: phase %s, "
			    "host %s, %s, %.1f MiB/s", id,
			    jget_str(x, "phase"), jget_str(x, "host")[0] ?
			    jget_str(x, "host") : "-", size, mib_per_s(x));
			if (strcmp(line, last) != 0) {
				printf("%s\n", line);
				fflush(stdout);
				snprintf(last, sizeof(last), "%s", line);
			}
		}
		if (res[0] != '\0') {
			int ok = strcmp(res, "DONE") == 0;

			if (tty)
				printf("\n");
			if (ok)
				printf("migration %lld: DONE: %s and %s on %s "
				    "(target downtime %lld ms, total %.1f s)\n",
				    id, jget_str(x, "target"),
				    jget_str(x, "guard"), jget_str(x, "host"),
				    (long long)jget_int(x, "downtime_ms"),
				    (double)jget_int(x, "total_ms") / 1000.0);
			else
				ctl_err("migration %lld: %s: %s%s", id, res,
				    jget_str(x, "error"),
				    json_object_object_get_ex(x, "target_paused",
				    &a) && json_object_get_boolean(a) ?
				    " (target left paused)" : "");
			json_object_put(rep);
			return ok ? 0 : EXIT_FAILV;
		}
		json_object_put(rep);
		{
			struct timespec ts = { 0, 200000000L };

			nanosleep(&ts, NULL);
		}
	}
}

int
cmd_migrations(int argc, char **argv)
{
	static const struct option longopts[] = {
		ADMIN_CONN_LONGOPTS,
		{ "guard", required_argument, NULL, 'g' },
		{ "on", required_argument, NULL, 'o' },
		{ "to", required_argument, NULL, 'T' },
		{ "vcpus", required_argument, NULL, 'V' },
		{ "mem", required_argument, NULL, 'M' },
		{ "id", required_argument, NULL, 'i' },
		{ "target", required_argument, NULL, 't' },
		{ "limit", required_argument, NULL, 'L' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct admin_opts o = { TCBD_DEFAULT_SOCKET, NULL, NULL, NULL, NULL,
	    NULL, 0 };
	const char *cmd = argv[0], *guard = NULL, *on = NULL, *to = NULL;
	const char *target = NULL, *f_target = NULL;
	long vcpus = 0, mem = 0, limit = 20, id = 0;
	int ch, no_wait = 0, r, need_target;
	json_object *req, *rep = NULL;
	char *end;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		end = NULL;
		if (admin_conn_opt(&o, ch, optarg))
			continue;
		switch (ch) {
		case 'g': guard = optarg; break;
		case 'o': on = optarg; break;
		case 'T': to = optarg; break;
		case 'V': vcpus = strtol(optarg, &end, 10); break;
		case 'M': mem = strtol(optarg, &end, 10); break;
		case 'i': id = strtol(optarg, &end, 10); break;
		case 't': f_target = optarg; break;
		case 'L': limit = strtol(optarg, &end, 10); break;
		case 'W': no_wait = 1; break;
		case 'h': mig_usage(stdout, cmd); return 0;
		default: mig_usage(stderr, cmd); return EXIT_USAGE;
		}
		if (end != NULL && *end != '\0') {
			mig_usage(stderr, cmd);
			return EXIT_USAGE;
		}
	}
	need_target = strcmp(cmd, "protect") == 0 ||
	    strcmp(cmd, "unprotect") == 0 || strcmp(cmd, "migrate") == 0;
	if (need_target && optind < argc)
		target = argv[optind++];
	if (optind != argc || (need_target && target == NULL) ||
	    vcpus < 0 || mem < 0 || limit < 1 || limit > 1000 || id < 0 ||
	    (strcmp(cmd, "protect") == 0 && (guard == NULL || on == NULL)) ||
	    (strcmp(cmd, "migrate") == 0 && to == NULL)) {
		mig_usage(stderr, cmd);
		return EXIT_USAGE;
	}
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (target != NULL)
		json_object_object_add(req, "target",
		    json_object_new_string(target));
	if (strcmp(cmd, "protect") == 0) {
		json_object_object_add(req, "guard", json_object_new_string(guard));
		json_object_object_add(req, "host", json_object_new_string(on));
		json_object_object_add(req, "vcpus", json_object_new_int64(vcpus));
		json_object_object_add(req, "mem_mib", json_object_new_int64(mem));
	} else if (strcmp(cmd, "migrations") == 0) {
		if (id > 0)
			json_object_object_add(req, "id",
			    json_object_new_int64(id));
		if (f_target != NULL)
			json_object_object_add(req, "target",
			    json_object_new_string(f_target));
		json_object_object_add(req, "limit", json_object_new_int64(limit));
	} else if (strcmp(cmd, "migrate") == 0)
		json_object_object_add(req, "to", json_object_new_string(to));
	r = ask_once(&o, req, &rep);
	json_object_put(req);
	if (r < 0)
		return EXIT_USAGE;
	if (o.json && !(strcmp(cmd, "migrate") == 0 && !no_wait))
		printf("%s\n", json_object_to_json_string_ext(rep,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	if (reply_failed(rep)) {
		json_object_put(rep);
		return EXIT_FAILV;
	}
	r = 0;
	if (strcmp(cmd, "migrate") == 0) {
		long long mid = (long long)jget_int(rep, "id");

		if (no_wait) {
			if (!o.json)
				printf("migration %lld\n", mid);
		} else {
			if (!o.json)
				printf("migration %lld: %s to %s\n", mid, target,
				    to);
			r = follow(&o, mid);
			if (o.json) {
				json_object *q = json_object_new_object(), *x;

				json_object_object_add(q, "cmd",
				    json_object_new_string("migrations"));
				json_object_object_add(q, "id",
				    json_object_new_int64(mid));
				if (ask_once(&o, q, &x) == 0) {
					printf("%s\n",
					    json_object_to_json_string_ext(x,
					    JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_SPACED));
					json_object_put(x);
				}
				json_object_put(q);
			}
		}
	} else if (!o.json) {
		if (strcmp(cmd, "pairs") == 0)
			print_pairs(rep);
		else if (strcmp(cmd, "migrations") == 0)
			print_migrations(rep);
		else if (strcmp(cmd, "protect") == 0)
			printf("%s protected (guard %s, on %s)\n", target, guard,
			    on);
		else
			printf("%s no longer protected\n", target);
	}
	json_object_put(rep);
	return r;
}
