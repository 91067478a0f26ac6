/*
 * service.c - the RC-TCB service: conversations, epochs, re-verification,
 * the IVT and its store, and the actions the IVT returns (service.h).
 *
 * Locking.  s->mu guards the IVT, the store (one SQLite connection), the
 * AK table, the per-host records for `host show`, the epochs and the
 * direct-attestation queue.  Each (subject, verifier) pair has its own
 * replay history with its own mutex, taken only while verifying and never
 * while s->mu is wanted, so verification (the expensive part: one
 * signature check and the log replays) runs on every core at once while
 * the IVT sees one input at a time.  A verdict batch's disk flush is not
 * under s->mu either (group_commit: the batches of all connections that
 * arrive while a commit is in flight share the next transaction, whose
 * fdatasync runs without the lock; then act and acknowledge).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/buffer.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/region.h"
#include "common/tls.h"
#include "common/util.h"
#include "attest/enrol.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/verify.h"
#include "migrate/order.h"
#include "tcb/ivt.h"
#include "tcb/rank.h"
#include "tcb/service.h"
#include "tcb/store.h"

#define HOOKS_MAX		64	/* hook processes not yet reaped */
#define EVENTS_MAX		1000	/* per admin "events" request */
#define ALERTS_MAX		400	/* per admin "alerts" request: 400 x
					   16 KiB stays below ADMIN_JSON_MAX */
#define ADMIN_JSON_MAX		(8u << 20)
#define ERROR_MSG_MAX		1024
#define PCR_SEL_TEXT		256

/* ---- a small string-keyed hash map (keys copied, values borrowed) ---- */

struct smap_ent {
	char	*key;
	void	*val;
};

struct smap {
	struct smap_ent	*v;
	size_t		 n, cap;	/* cap: 0 or a power of two */
};

static uint64_t
smap_hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL;

	while (*k != '\0') {
		h ^= (unsigned char)*k++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void *
smap_get(const struct smap *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	for (i = smap_hash(key) & (m->cap - 1); m->v[i].key != NULL;
	    i = (i + 1) & (m->cap - 1))
		if (strcmp(m->v[i].key, key) == 0)
			return m->v[i].val;
	return NULL;
}

static int
smap_grow(struct smap *m)
{
	struct smap_ent *old = m->v;
	size_t oldcap = m->cap, i, cap = m->cap ? m->cap * 2 : 64;

	if ((m->v = calloc(cap, sizeof(*m->v))) == NULL) {
		m->v = old;
		return VOUCH_E_NOMEM;
	}
	m->cap = cap;
	for (i = 0; i < oldcap; i++) {
		size_t j;

		if (old[i].key == NULL)
			continue;
		for (j = smap_hash(old[i].key) & (cap - 1); m->v[j].key != NULL;
		    j = (j + 1) & (cap - 1))
			;
		m->v[j] = old[i];
	}
	free(old);
	return 0;
}

/* Insert or replace; the old value (if any) is the caller's to free. */
static int
smap_put(struct smap *m, const char *key, void *val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap && smap_grow(m) < 0)
		return VOUCH_E_NOMEM;
	for (i = smap_hash(key) & (m->cap - 1); m->v[i].key != NULL;
	    i = (i + 1) & (m->cap - 1))
		if (strcmp(m->v[i].key, key) == 0) {
			m->v[i].val = val;
			return 0;
		}
	if ((m->v[i].key = strdup(key)) == NULL)
		return VOUCH_E_NOMEM;
	m->v[i].val = val;
	m->n++;
	return 0;
}

static void
smap_free(struct smap *m, void (*fr)(void *))
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		if (m->v[i].key != NULL) {
			free(m->v[i].key);
			if (fr != NULL)
				fr(m->v[i].val);
		}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- state ---------------------------------------------------------- */

/* A host's enrolled AK: the store's record and the key the verifier uses. */
struct ak_ent {
	struct store_ak	 rec;
	EVP_PKEY	*key;
};

/* One appraisal as `vouchctl host show` tells it. */
struct vinfo {
	int			valid;
	char			verifier[IVT_NAME_MAX + 1];
	int64_t			time;		/* RC-TCB clock, ms */
	uint64_t		epoch;		/* 0: none (direct, ERROR) */
	int			claimed;	/* WIRE_RESULT_* (0: direct) */
	int			reverified;	/* -1 not run, 0 FAIL, 1 PASS */
	enum ivt_result		fed;
	char			pcr_sel[PCR_SEL_TEXT];
	char			created[40];
	size_t			evidence_len;
	int			have_counters;
	struct verify_counters	counters;
	int			reboot;
	size_t			nreasons;	/* shown */
	size_t			total_reasons;
	char			reason[SVC_REASONS_KEPT][VERIFY_REASON_MAX];
};

struct hinfo {
	struct vinfo	verdict;	/* last neighbour verdict applied */
	struct vinfo	direct;		/* last direct attestation */
};

/* Replay history and duplicate detection of one (subject, verifier). */
struct pair {
	pthread_mutex_t		 mu;	/* guards hist */
	struct verify_history	*hist;
	int			 have_digest;	/* under s->mu */
	uint8_t			 digest[32];
};

struct svc {
	pthread_mutex_t		 mu;
	pthread_cond_t		 jobs_cv;
	struct tcbd_conf	 conf;
	struct svc_hooks	 hooks;
	struct region		*region;
	struct policy		*policy;
	char			 pcr_sel[PCR_SEL_TEXT];
	struct store		*store;
	struct ivt		*ivt;
	struct tls_ctx		*client;	/* direct attestations */
	struct smap		 aks;		/* host -> ak_ent */
	struct smap		 info;		/* host -> hinfo */
	struct smap		 pairs;		/* "subject/verifier" -> pair */
	/* epochs */
	uint64_t		 epoch;
	uint8_t			 rnd[WIRE_EPOCH_RANDOM_LEN];
	int			 have_prev;
	uint8_t			 prev_rnd[WIRE_EPOCH_RANDOM_LEN];
	int64_t			 epoch_at;	/* when the current began */
	int64_t			 started;
	/* direct attestation queue and the jobs in flight */
	struct svc_job		*queue;
	size_t			 nqueue, capqueue;
	struct svc_job		*inflight;
	size_t			 ninflight, capinflight;
	int			 stopped;
	/* hook processes to reap */
	pid_t			 hook_pid[HOOKS_MAX];
	size_t			 nhooks;
	uint64_t		 verdicts_applied;
	uint64_t		 verdicts_refused;
	uint64_t		 alerts_stored;
	uint64_t		 alerts_refused;
	/* evacuation orders to deliver (conversation 9) */
	pthread_cond_t		 ord_cv;
	struct svc_order_job	*orders;
	size_t			 norders, caporders;
	long long		*ord_inflight;
	size_t			 nord_inflight, capord_inflight;
	int64_t			 lost_check_at;
	uint64_t		 reports_stored;
	/* group commit of verdict batches (group_commit) */
	pthread_cond_t		 gc_cv;
	struct gc_wait		*gc_pending;	/* batches in the next commit */
	struct ivt_actions	 gc_acts;	/* their actions */
	int			 gc_leader;	/* a commit is in progress */
};

/* One connection's batch waiting for the group commit that carries it. */
struct gc_wait {
	struct gc_wait		*next;
	int			 done, ok;
	struct vouch_err	 err;
};

enum conv_state {
	CS_HELLO = 0,	/* expect HELLO */
	CS_CHOICE,	/* after HELLO: the client's move or silence */
	CS_PROOF,	/* expect ENROL_PROOF */
	CS_VERDICTS,	/* expect VERDICT* */
	CS_ADMIN,	/* expect STATUS_REQUEST* */
	CS_ALERTS,	/* expect ALERT* */
	CS_EVAC,	/* expect MIG_REPORT* / ATTEST_REQUEST */
	CS_DONE,
};

struct svc_conv {
	struct svc		*s;
	enum svc_transport	 tr;
	char			 peer[IVT_NAME_MAX + 1];
	enum conv_state		 st;
	int			 role;
	int			 have_seq;
	uint64_t		 last_seq;
	/* enrolment in progress */
	struct enrol_challenge	 chal;
	struct store_ak		*pending_ak;
	EVP_PKEY		*pending_key;
};

/* ---- small helpers -------------------------------------------------- */

static int64_t
clock_now(struct svc *s)
{
	struct timespec ts;

	if (s->hooks.now_ms != NULL)
		return s->hooks.now_ms(s->hooks.arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The IVT's clock never runs backwards, whatever the wall clock does. */
static int64_t
ivt_clock(struct svc *s)
{
	int64_t now = clock_now(s), last = ivt_now(s->ivt);

	return now > last ? now : last;
}

static void emit(struct svc *s, enum svc_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
emit(struct svc *s, enum svc_level lvl, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;

	if (s->hooks.event == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->hooks.event(s->hooks.arg, lvl, buf);
}

/* Copy src into a wire "string": printable, 1..cap-1 bytes. */
static void
sanitize(char *dst, size_t cap, const char *src)
{
	size_t i, n = 0;

	for (i = 0; src[i] != '\0' && n + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	/* Never cut a UTF-8 sequence in half: back off to a lead byte. */
	if (src[i] != '\0')
		while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
			n--;
	if (n > 0 && src[i] != '\0' &&
	    ((unsigned char)dst[n - 1] & 0xc0) == 0xc0)
		n--;
	if (n == 0)
		dst[n++] = '-';
	dst[n] = '\0';
}

/* ---- replies -------------------------------------------------------- */

void
svc_reply_reset(struct svc_reply *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free_secret(r->frame[i], r->len[i]);
	r->n = 0;
	r->close = 0;
}

void
svc_reply_free(struct svc_reply *r)
{
	if (r == NULL)
		return;
	svc_reply_reset(r);
	free(r->frame);
	free(r->len);
	r->frame = NULL;
	r->len = NULL;
	r->cap = 0;
}

/* Append the finished frame of w; on failure the reply is closed. */
static int
reply_add(struct svc_reply *r, struct wire_enc *w)
{
	const uint8_t *f;
	size_t len;
	uint8_t *copy;

	if (wire_enc_finish(w, &f, &len, NULL) < 0)
		goto fail;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		uint8_t **nf = realloc(r->frame, cap * sizeof(*nf));
		size_t *nl;

		if (nf == NULL)
			goto fail;
		r->frame = nf;
		if ((nl = realloc(r->len, cap * sizeof(*nl))) == NULL)
			goto fail;
		r->len = nl;
		r->cap = cap;
	}
	if ((copy = malloc(len)) == NULL)
		goto fail;
	memcpy(copy, f, len);
	r->frame[r->n] = copy;
	r->len[r->n++] = len;
	return 0;
fail:
	r->close = 1;
	return VOUCH_E_NOMEM;
}

static void
reply_error(struct svc_reply *r, uint32_t code, const char *msg)
{
	struct wire_enc *w;
	char text[ERROR_MSG_MAX + 1];

	sanitize(text, sizeof(text), msg);
	if (code < 1 || code > 65535)
		code = (uint32_t)-VOUCH_E_INTERNAL;
	if (wire_enc_new(WIRE_T_ERROR, &w, NULL) == 0) {
		if (wire_put_u32(w, WIRE_F_CODE, code, NULL) == 0 &&
		    wire_put_str(w, WIRE_F_MESSAGE, text, NULL) == 0)
			(void)reply_add(r, w);
		wire_enc_free(w);
	}
	r->close = 1;
}

static void
reply_verr(struct svc_reply *r, int code, const char *msg)
{
	reply_error(r, (uint32_t)(code < 0 ? -code : VOUCH_E_INTERNAL), msg);
}

static void
reply_ack(struct svc_reply *r, uint64_t seq)
{
	struct wire_enc *w;

	if (wire_enc_new(WIRE_T_ACK, &w, NULL) < 0) {
		r->close = 1;
		return;
	}
	if (wire_put_u64(w, WIRE_F_SEQ, seq, NULL) < 0)
		r->close = 1;
	else
		(void)reply_add(r, w);
	wire_enc_free(w);
}

/* ---- epochs and nonces ---------------------------------------------- */

/*
 * SHA-256 fetched once: EVP_sha256() in EVP_DigestInit_ex makes OpenSSL 3
 * fetch the implementation again on every call (name map lookups under
 * locks), and every VERDICT digests twice (its nonce, its content).
 */
static EVP_MD *svc_sha256_md;
static pthread_once_t svc_sha256_once = PTHREAD_ONCE_INIT;

static void
svc_sha256_fetch(void)
{
	svc_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
svc_sha256(void)
{
	pthread_once(&svc_sha256_once, svc_sha256_fetch);
	return svc_sha256_md;
}

void
svc_nonce_derive(const uint8_t random[WIRE_EPOCH_RANDOM_LEN], uint64_t epoch,
    const char *verifier, const char *subject, uint8_t nonce[WIRE_NONCE_LEN])
{
	uint8_t be[8], zero = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int i;

	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)(epoch >> (56 - 8 * i));
	if (md == NULL || svc_sha256() == NULL ||
	    EVP_DigestInit_ex(md, svc_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, SVC_NONCE_LABEL,
	    sizeof(SVC_NONCE_LABEL) - 1) != 1 ||
	    EVP_DigestUpdate(md, random, WIRE_EPOCH_RANDOM_LEN) != 1 ||
	    EVP_DigestUpdate(md, be, 8) != 1 ||
	    EVP_DigestUpdate(md, verifier, strlen(verifier)) != 1 ||
	    EVP_DigestUpdate(md, &zero, 1) != 1 ||
	    EVP_DigestUpdate(md, subject, strlen(subject)) != 1 ||
	    EVP_DigestFinal_ex(md, nonce, &n) != 1 || n != WIRE_NONCE_LEN)
		/*
		 * No digest means no nonce anyone could match: an all-zero
		 * nonce would be guessable, so poison it with fresh random.
		 */
		(void)RAND_bytes(nonce, WIRE_NONCE_LEN);
	EVP_MD_CTX_free(md);
}

/* Under s->mu.  The new number is durable before any nonce uses it. */
static int
epoch_next(struct svc *s, struct vouch_err *e)
{
	uint8_t rnd[WIRE_EPOCH_RANDOM_LEN];
	int r;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return vouch_err_set(e, VOUCH_E_CRYPTO, "epoch: RAND_bytes");
	if ((r = store_meta_put(s->store, "epoch", (int64_t)(s->epoch + 1),
	    e)) < 0)
		return r;
	if (s->epoch != 0) {
		memcpy(s->prev_rnd, s->rnd, sizeof(rnd));
		s->have_prev = 1;
	}
	memcpy(s->rnd, rnd, sizeof(rnd));
	s->epoch++;
	s->epoch_at = clock_now(s);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return 0;
}

void
svc_epoch(struct svc *s, uint64_t *epoch, uint8_t random[32])
{
	pthread_mutex_lock(&s->mu);
	*epoch = s->epoch;
	memcpy(random, s->rnd, WIRE_EPOCH_RANDOM_LEN);
	pthread_mutex_unlock(&s->mu);
}

int
svc_epoch_advance(struct svc *s, struct vouch_err *e)
{
	int r;

	pthread_mutex_lock(&s->mu);
	r = epoch_next(s, e);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* The random of epoch ep if it is the current or the previous one. */
static int
epoch_random(const struct svc *s, uint64_t ep, uint8_t out[32])
{
	if (ep == s->epoch) {
		memcpy(out, s->rnd, WIRE_EPOCH_RANDOM_LEN);
		return 0;
	}
	if (s->have_prev && ep + 1 == s->epoch) {
		memcpy(out, s->prev_rnd, WIRE_EPOCH_RANDOM_LEN);
		return 0;
	}
	return -1;
}

/* ---- actions -------------------------------------------------------- */

static int
job_find(const struct svc_job *v, size_t n, const char *host)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].host, host) == 0)
			return 1;
	return 0;
}

static int
job_push(struct svc_job **v, size_t *n, size_t *cap, const struct svc_job *j)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct svc_job *nv = realloc(*v, nc * sizeof(*nv));

		if (nv == NULL)
			return VOUCH_E_NOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = *j;
	return 0;
}

static void
job_remove(struct svc_job *v, size_t *n, const char *host)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(v[i].host, host) == 0) {
			memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
			(*n)--;
			return;
		}
}

/* Under s->mu.  A host already queued or being attested is not doubled. */
static void
direct_enqueue(struct svc *s, const char *host, uint32_t flags)
{
	struct svc_job j;

	if (job_find(s->queue, s->nqueue, host) ||
	    job_find(s->inflight, s->ninflight, host))
		return;
	memset(&j, 0, sizeof(j));
	snprintf(j.host, sizeof(j.host), "%s", host);
	j.flags = flags;
	if (job_push(&s->queue, &s->nqueue, &s->capqueue, &j) < 0) {
		emit(s, SVC_ERR, "direct attestation of %s not queued: out of "
		    "memory", host);
		return;
	}
	pthread_cond_signal(&s->jobs_cv);
}

/*
 * EMIT_UNTRUSTED's hook: fork + execve, never a shell, so a reason that
 * holds shell syntax (it may quote a neighbour's words) is only ever an
 * argument.  Under s->mu (the pid table); the child calls nothing but
 * async-signal-safe functions before execve.
 */
static void
run_hook(struct svc *s, const char *host, const char *reason)
{
	static char *const envp[] = {
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	    NULL };
	char *argv[4];
	pid_t pid;

	if (s->conf.on_untrusted[0] == '\0')
		return;
	if (s->nhooks == HOOKS_MAX) {
		emit(s, SVC_ERR, "on_untrusted hook for %s not run: %d hooks "
		    "still running", host, HOOKS_MAX);
		return;
	}
	argv[0] = s->conf.on_untrusted;
	argv[1] = (char *)host;
	argv[2] = (char *)reason;
	argv[3] = NULL;
	if ((pid = fork()) < 0) {
		emit(s, SVC_ERR, "on_untrusted hook for %s: fork: %s", host,
		    strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	s->hook_pid[s->nhooks++] = pid;
	emit(s, SVC_INFO, "on_untrusted hook %s started for %s (pid %ld)",
	    argv[0], host, (long)pid);
}

static void
reap_hooks(struct svc *s)
{
	size_t i = 0;

	while (i < s->nhooks) {
		int st;
		pid_t r = waitpid(s->hook_pid[i], &st, WNOHANG);

		if (r == 0) {
			i++;
			continue;
		}
		if (r > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			emit(s, SVC_WARN, "on_untrusted hook (pid %ld) failed: "
			    "%s %d", (long)r, WIFEXITED(st) ? "exit" :
			    "signal", WIFEXITED(st) ? WEXITSTATUS(st) :
			    WIFSIGNALED(st) ? WTERMSIG(st) : -1);
		s->hook_pid[i] = s->hook_pid[--s->nhooks];
	}
}

static void evacuate_host(struct svc *s, const char *host);

/* Perform what the IVT asked for.  Under s->mu (all of it is quick). */
static void
perform(struct svc *s, const struct ivt_actions *acts)
{
	size_t i;

	for (i = 0; i < acts->n; i++) {
		const struct ivt_action *a = &acts->v[i];

		switch (a->kind) {
		case IVT_ACT_STATE:
			emit(s, a->to == IVT_UNTRUSTED ? SVC_ERR : SVC_INFO,
			    "host %s: %s -> %s%s%s", a->host,
			    ivt_state_name(a->from), ivt_state_name(a->to),
			    a->reason[0] ? ": " : "", a->reason);
			break;
		case IVT_ACT_ATTEST_DIRECTLY:
			emit(s, SVC_INFO, "host %s accused (%s): attesting it "
			    "directly", a->host, a->reason);
			direct_enqueue(s, a->host, WIRE_CHAL_FULL_LOG);
			break;
		case IVT_ACT_REAPPRAISE:
			/*
			 * The neighbours' verdicts on the previous boot are
			 * void (the IVT did that); the RC-TCB also appraises
			 * the new boot itself with the full boot log, so a
			 * bad boot is caught without waiting for a quorum.
			 */
			emit(s, SVC_INFO, "host %s rebooted (%s): full "
			    "re-appraisal", a->host, a->reason);
			direct_enqueue(s, a->host, WIRE_CHAL_FULL_LOG);
			break;
		case IVT_ACT_EMIT_UNTRUSTED:
			emit(s, SVC_ERR, "UNTRUSTED host %s: %s", a->host,
			    a->reason);
			run_hook(s, a->host, a->reason[0] ? a->reason :
			    "untrusted");
			evacuate_host(s, a->host);
			break;
		case IVT_ACT_REASSIGN_NEIGHBOURS:
			/* Served in the next EPOCH answers. */
			emit(s, SVC_DEBUG, "host %s: verifiers reassigned",
			    a->host);
			break;
		case IVT_ACT_QUORUM_DEGRADED:
			emit(s, SVC_WARN, "host %s: quorum degraded to %u of %u "
			    "(policy %u of %u)", a->host, a->k, a->n,
			    s->conf.ivt.quorum, s->conf.ivt.neighbours);
			break;
		case IVT_ACT_QUORUM_RESTORED:
			emit(s, SVC_INFO, "host %s: quorum restored (%u of %u)",
			    a->host, a->k, a->n);
			break;
		case IVT_ACT_DISPROVED:
			emit(s, SVC_WARN, "verifier %s's FAIL on %s was "
			    "disproved by direct attestation", a->verifier,
			    a->host);
			break;
		}
	}
}

/*
 * Persist what the IVT changed (and acts), then perform acts.  On a sync
 * failure the IVT in memory is ahead of the store: rebuild it from the
 * store (nothing of this batch was acknowledged) and report the failure.
 * Under s->mu.
 */
static int
commit_ex(struct svc *s, struct ivt_actions *acts, uint64_t *ticket,
    struct vouch_err *e)
{
	struct ivt_actions reload = IVT_ACTIONS_INIT;
	struct ivt *fresh = NULL;
	int r;

	if (ticket != NULL) {
		if ((r = store_sync_deferred(s->store, s->ivt, acts, ticket,
		    e)) == 0)
			return 0;
	} else if ((r = store_sync(s->store, s->ivt, acts, e)) == 0) {
		perform(s, acts);
		return 0;
	}
	emit(s, SVC_ERR, "store sync failed (%s): reloading the IVT from the "
	    "store", e != NULL ? e->msg : "?");
	if (ivt_new(&s->conf.ivt, &fresh, NULL) == 0 &&
	    store_load(s->store, fresh, ivt_clock(s), &reload, NULL) == 0) {
		ivt_free(s->ivt);
		s->ivt = fresh;
		perform(s, &reload);
	} else {
		ivt_free(fresh);
		emit(s, SVC_ERR, "reloading the IVT failed too: the IVT in "
		    "memory is ahead of the store until the next sync");
	}
	ivt_actions_free(&reload);
	return r;
}

static int
commit(struct svc *s, struct ivt_actions *acts, struct vouch_err *e)
{
	return commit_ex(s, acts, NULL, e);
}

/*
 * Commit without waiting for the disk, under s->mu; on failure as
 * commit() (the IVT is reloaded, nothing is acknowledged).
 */
static int
commit_deferred(struct svc *s, struct ivt_actions *acts, uint64_t *ticket,
    struct vouch_err *e)
{
	return commit_ex(s, acts, ticket, e);
}

static int
acts_append(struct ivt_actions *dst, const struct ivt_actions *src)
{
	if (src->n == 0)
		return 0;
	if (dst->n + src->n > dst->cap) {
		size_t cap = 2 * (dst->n + src->n);
		struct ivt_action *v = realloc(dst->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		dst->v = v;
		dst->cap = cap;
	}
	memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
	dst->n += src->n;
	return 0;
}

/*
 * Under s->mu: commit every pending batch in one transaction, wait for
 * the disk without s->mu, perform the batches' actions, tell their
 * waiters.  Batches that arrive meanwhile wait for the next leader.
 */
static void
group_lead(struct svc *s)
{
	struct gc_wait *batch = s->gc_pending, *w;
	struct ivt_actions acts = s->gc_acts;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t ticket = 0;
	int r, committed;

	s->gc_pending = NULL;
	memset(&s->gc_acts, 0, sizeof(s->gc_acts));
	s->gc_leader = 1;
	committed = (r = commit_deferred(s, &acts, &ticket, &e)) == 0;
	if (committed && ticket != 0) {
		/* The disk flush is shared and runs without s->mu. */
		pthread_mutex_unlock(&s->mu);
		r = store_durable(s->store, ticket, &e);
		pthread_mutex_lock(&s->mu);
	}
	/*
	 * Committed: the actions are performed even if the flush failed
	 * (the IVT has moved on; an UNTRUSTED hook is better run than
	 * not), but nothing is acknowledged then.
	 */
	if (committed)
		perform(s, &acts);
	if (committed && r < 0)
		emit(s, SVC_ERR, "store: %s", e.msg);
	for (w = batch; w != NULL; w = w->next) {
		w->done = 1;
		w->ok = r == 0;
		w->err = e;
	}
	s->gc_leader = 0;
	ivt_actions_free(&acts);
	pthread_cond_broadcast(&s->gc_cv);
}

/*
 * Group commit of a verdict batch already applied to the IVT, under
 * s->mu: returns 0 once a transaction carrying it is on disk and acts
 * performed.  The first waiter leads (group_lead); the others wait, and
 * every connection whose batch came while a commit was in flight shares
 * the next transaction and fdatasync (a host judged by several verifiers
 * meanwhile is written once).  The fsync never runs under s->mu.
 */
static int
group_commit(struct svc *s, const struct ivt_actions *acts,
    struct vouch_err *e)
{
	/* On the heap: it is on s->gc_pending until a leader took it. */
	struct gc_wait *me = calloc(1, sizeof(*me));
	int r;

	if (me == NULL || acts_append(&s->gc_acts, acts) < 0) {
		free(me);
		return vouch_err_set(e, VOUCH_E_NOMEM, "group commit");
	}
	me->next = s->gc_pending;
	s->gc_pending = me;
	while (!me->done) {
		if (!s->gc_leader)
			group_lead(s);
		else
			pthread_cond_wait(&s->gc_cv, &s->mu);
	}
	r = me->ok ? 0 : me->err.code < 0 ? me->err.code : VOUCH_E_IO;
	if (r < 0 && e != NULL)
		*e = me->err;
	free(me);
	return r;
}

/* ---- per-host records for `host show` ------------------------------- */

static struct hinfo *
hinfo_get(struct svc *s, const char *host)
{
	struct hinfo *h = smap_get(&s->info, host);

	if (h != NULL)
		return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if (smap_put(&s->info, host, h) < 0) {
		free(h);
		return NULL;
	}
	return h;
}

static void
vinfo_reason(struct vinfo *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
vinfo_reason(struct vinfo *v, const char *fmt, ...)
{
	va_list ap;

	v->total_reasons++;
	if (v->nreasons == SVC_REASONS_KEPT)
		return;
	va_start(ap, fmt);
	vsnprintf(v->reason[v->nreasons++], VERIFY_REASON_MAX, fmt, ap);
	va_end(ap);
}

/* Fill v from a verification (ev and res may be NULL). */
static void
vinfo_from_verify(struct vinfo *v, const struct evidence *ev,
    const struct verify_result *res)
{
	size_t i;

	if (ev != NULL) {
		(void)pcr_selection_format(&ev->sel, v->pcr_sel,
		    sizeof(v->pcr_sel));
		snprintf(v->created, sizeof(v->created), "%s", ev->created);
	}
	if (res == NULL)
		return;
	v->reverified = res->pass ? 1 : 0;
	v->reboot = res->reboot;
	if (res->ran & (1u << VERIFY_ATTEST)) {
		v->have_counters = 1;
		v->counters = res->counters;
	}
	for (i = 0; i < res->nreasons; i++)
		vinfo_reason(v, "%s: %s", verify_check_name(
		    res->reasons[i].check), res->reasons[i].msg);
	v->total_reasons += res->dropped;
}

/*
 * The IVT's one-line reason (IVT_REASON_MAX): the first reason of a
 * failed verification, which names the check and, for reference values,
 * the offending file.  Reference-value and log reasons go first: they say
 * what is wrong with the host, the others only that the quote is unusable.
 */
static void
summary_reason(char *dst, size_t cap, const char *prefix,
    const struct verify_result *res)
{
	size_t i, best = 0;

	for (i = 0; i < res->nreasons; i++)
		if (res->reasons[i].check == VERIFY_REFVALS ||
		    res->reasons[i].check == VERIFY_RUNTIME_LOG) {
			best = i;
			break;
		}
	if (res->nreasons == 0)
		snprintf(dst, cap, "%sfailed", prefix);
	else
		snprintf(dst, cap, "%s%s: %s", prefix,
		    verify_check_name(res->reasons[best].check),
		    res->reasons[best].msg);
}

/* ---- re-verification ------------------------------------------------ */

static struct pair *
pair_get(struct svc *s, const char *subject, const char *verifier)
{
	char key[2 * IVT_NAME_MAX + 2];
	struct pair *p;

	snprintf(key, sizeof(key), "%s/%s", subject, verifier);
	if ((p = smap_get(&s->pairs, key)) != NULL)
		return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	/*
	 * In memory only, by design: the nonce binds every quote to an
	 * epoch random that dies with this process, so after a restart no
	 * earlier quote can pass the nonce check anyway.  The path is one
	 * that never exists, so the history starts empty.
	 */
	if (verify_history_load("/nonexistent/vouch-tcbd/history", &p->hist,
	    NULL) < 0) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	if (smap_put(&s->pairs, key, p) < 0) {
		verify_history_free(p->hist);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	return p;
}

static void
pair_free(void *v)
{
	struct pair *p = v;

	verify_history_free(p->hist);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* The AK of host with a reference for the caller, or NULL. Under s->mu. */
static EVP_PKEY *
ak_ref(struct svc *s, const char *host)
{
	struct ak_ent *a = smap_get(&s->aks, host);

	if (a == NULL || a->key == NULL || EVP_PKEY_up_ref(a->key) != 1)
		return NULL;
	return a->key;
}

static void
ak_free(void *v)
{
	struct ak_ent *a = v;

	EVP_PKEY_free(a->key);
	free(a);
}

/*
 * Verify evidence bytes against ak and nonce with the pair's history.
 * Returns 0 with *res filled (and *evp decoded, caller frees) or a
 * negative code when the evidence does not even decode (*why says why).
 */
static int
reverify(struct svc *s, struct pair *p, EVP_PKEY *ak, const uint8_t *evb,
    size_t evlen, const uint8_t nonce[WIRE_NONCE_LEN], struct evidence **evp,
    struct verify_result *res, struct vouch_err *why)
{
	struct verify_input in;
	struct evidence *ev = NULL;
	int r;

	if ((r = evidence_decode((const char *)evb, evlen, &ev, why)) < 0)
		return r;
	memset(&in, 0, sizeof(in));
	in.ev = ev;
	in.ak = ak;
	in.nonce = nonce;
	in.nonce_len = WIRE_NONCE_LEN;
	in.policy = s->policy;
	in.history = p->hist;
	pthread_mutex_lock(&p->mu);
	r = verify_evidence(&in, res, why);
	pthread_mutex_unlock(&p->mu);
	if (r < 0) {
		evidence_free(ev);
		return r;
	}
	*evp = ev;
	return 0;
}

/* ---- conversations -------------------------------------------------- */

int
svc_conv_new(struct svc *s, enum svc_transport tr, const char *peer,
    struct svc_conv **out, struct vouch_err *e)
{
	struct svc_conv *c;

	if (tr == SVC_TLS && (peer == NULL ||
	    !wire_host_name_ok(peer, strlen(peer)) ||
	    strlen(peer) > IVT_NAME_MAX))
		return vouch_err_set(e, VOUCH_E_INVAL, "conversation: peer "
		    "name missing or longer than %d", IVT_NAME_MAX);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "conversation");
	c->s = s;
	c->tr = tr;
	snprintf(c->peer, sizeof(c->peer), "%s", tr == SVC_TLS ? peer :
	    "local-admin");
	*out = c;
	return 0;
}

static void
conv_clear_enrol(struct svc_conv *c)
{
	OPENSSL_cleanse(&c->chal, sizeof(c->chal));
	free(c->pending_ak);
	c->pending_ak = NULL;
	EVP_PKEY_free(c->pending_key);
	c->pending_key = NULL;
}

void
svc_conv_free(struct svc_conv *c)
{
	if (c == NULL)
		return;
	conv_clear_enrol(c);
	free(c);
}

int
svc_conv_at_choice(const struct svc_conv *c)
{
	return c->st == CS_CHOICE && c->role == WIRE_ROLE_VOUCHD;
}

size_t
svc_conv_batch_max(const struct svc_conv *c)
{
	return c->st == CS_VERDICTS || c->st == CS_CHOICE ||
	    c->st == CS_ALERTS || c->st == CS_EVAC ? SVC_BATCH_MAX : 1;
}

void
svc_conv_reject(struct svc_conv *c, enum wire_reason why,
    const struct vouch_err *err, struct svc_reply *out)
{
	char msg[ERROR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", err != NULL && err->msg[0] ?
	    err->msg : wire_reason_name(why));
	c->st = CS_DONE;
	reply_error(out, why != WIRE_R_OK ? WIRE_ERR_REASON_BASE + why :
	    (uint32_t)-VOUCH_E_FORMAT, msg);
}

static void
conv_fail(struct svc_conv *c, struct svc_reply *out, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
conv_fail(struct svc_conv *c, struct svc_reply *out, int code,
    const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(c->s, SVC_WARN, "%s: %s", c->peer, msg);
	c->st = CS_DONE;
	conv_clear_enrol(c);
	reply_verr(out, code, msg);
}

static void
on_hello(struct svc_conv *c, const struct wire_msg *m, struct svc_reply *out)
{
	struct svc *s = c->s;
	char host[WIRE_HOST_MAX + 1];
	uint8_t role;
	uint32_t vmin, vmax;
	struct wire_enc *w;

	if (wire_get_str(m, WIRE_F_HOST, host, sizeof(host), NULL) < 0 ||
	    wire_get_u8(m, WIRE_F_ROLE, &role, NULL) < 0 ||
	    wire_get_u32(m, WIRE_F_VERSION_MIN, &vmin, NULL) < 0 ||
	    wire_get_u32(m, WIRE_F_VERSION_MAX, &vmax, NULL) < 0) {
		conv_fail(c, out, VOUCH_E_FORMAT, "HELLO: fields missing");
		return;
	}
	if (vmin > WIRE_VERSION_MAX || vmax < WIRE_VERSION_MIN || vmin > vmax) {
		conv_fail(c, out, VOUCH_E_UNSUPPORTED, "HELLO: versions %u..%u, "
		    "this RC-TCB speaks %d..%d", vmin, vmax, WIRE_VERSION_MIN,
		    WIRE_VERSION_MAX);
		return;
	}
	if (c->tr == SVC_TLS && strcmp(host, c->peer) != 0) {
		conv_fail(c, out, VOUCH_E_FORMAT, "HELLO.HOST '%s' is not the "
		    "certificate's name '%s'", host, c->peer);
		return;
	}
	switch (role) {
	case WIRE_ROLE_VOUCHD:
		if (c->tr != SVC_TLS || region_find(s->region, c->peer) == NULL) {
			conv_fail(c, out, VOUCH_E_STATE, "%s is not a host of "
			    "region %s", c->peer, region_name(s->region));
			return;
		}
		break;
	case WIRE_ROLE_CTL:
		if (c->tr == SVC_TLS && !tcbd_conf_is_admin(&s->conf, c->peer)) {
			conv_fail(c, out, VOUCH_E_STATE, "%s is not an admin "
			    "(tcbd admins list)", c->peer);
			return;
		}
		break;
	default:
		conv_fail(c, out, VOUCH_E_STATE, "HELLO: role %u may not talk "
		    "to the RC-TCB", role);
		return;
	}
	c->role = role;
	if (wire_enc_new(WIRE_T_HELLO, &w, NULL) < 0) {
		conv_fail(c, out, VOUCH_E_NOMEM, "out of memory");
		return;
	}
	if (wire_put_str(w, WIRE_F_HOST, s->conf.name, NULL) < 0 ||
	    wire_put_u8(w, WIRE_F_ROLE, WIRE_ROLE_TCBD, NULL) < 0 ||
	    wire_put_u32(w, WIRE_F_VERSION_MIN, WIRE_VERSION, NULL) < 0 ||
	    wire_put_u32(w, WIRE_F_VERSION_MAX, WIRE_VERSION, NULL) < 0 ||
	    reply_add(out, w) < 0) {
		wire_enc_free(w);
		conv_fail(c, out, VOUCH_E_NOMEM, "out of memory");
		return;
	}
	wire_enc_free(w);
	c->st = role == WIRE_ROLE_CTL ? CS_ADMIN : CS_CHOICE;
}

void
svc_conv_idle(struct svc_conv *c, struct svc_reply *out)
{
	struct svc *s = c->s;
	const char *names[64];
	struct wire_enc *w;
	size_t n, i;
	int r = 0;

	if (!svc_conv_at_choice(c)) {
		conv_fail(c, out, VOUCH_E_STATE, "no frame received");
		return;
	}
	if (wire_enc_new(WIRE_T_EPOCH, &w, NULL) < 0) {
		conv_fail(c, out, VOUCH_E_NOMEM, "out of memory");
		return;
	}
	pthread_mutex_lock(&s->mu);
	n = ivt_subjects_of(s->ivt, c->peer, names, 64);
	if (n > 64)
		n = 64;
	if (wire_put_u64(w, WIRE_F_EPOCH, s->epoch, NULL) < 0 ||
	    wire_put_bytes(w, WIRE_F_EPOCH_RANDOM, s->rnd, sizeof(s->rnd),
	    NULL) < 0)
		r = -1;
	for (i = 0; r == 0 && i < n; i++)
		if (wire_put_str(w, WIRE_F_NEIGHBOUR, names[i], NULL) < 0)
			r = -1;
	pthread_mutex_unlock(&s->mu);
	if (r < 0 || reply_add(out, w) < 0) {
		wire_enc_free(w);
		conv_fail(c, out, VOUCH_E_INTERNAL, "cannot encode EPOCH");
		return;
	}
	wire_enc_free(w);
	c->st = CS_DONE;
	out->close = 1;
}

/* -- enrolment -- */

static int
copy_field(const struct wire_msg *m, uint16_t tag, uint8_t **dst, size_t *len)
{
	const uint8_t *p;
	size_t n;

	if (wire_get_bytes(m, tag, &p, &n, NULL) < 0)
		return -1;
	if ((*dst = malloc(n)) == NULL)
		return -1;
	memcpy(*dst, p, n);
	*len = n;
	return 0;
}

static void
on_enrol_request(struct svc_conv *c, const struct wire_msg *m,
    struct svc_reply *out)
{
	struct svc *s = c->s;
	struct enrol_request req;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store_ak *ak = NULL;
	EVP_PKEY *key = NULL;
	struct wire_enc *w = NULL;
	unsigned char *der = NULL;
	int n, want;

	memset(&req, 0, sizeof(req));
	if (copy_field(m, WIRE_F_EK_PUB, &req.ek_pub_der, &req.ek_pub_len) < 0 ||
	    copy_field(m, WIRE_F_AK_PUB, &req.ak_pub, &req.ak_pub_len) < 0 ||
	    copy_field(m, WIRE_F_AK_NAME, &req.ak_name, &req.ak_name_len) < 0 ||
	    (wire_count(m, WIRE_F_EK_CERT) > 0 && copy_field(m, WIRE_F_EK_CERT,
	    &req.ek_cert_der, &req.ek_cert_len) < 0)) {
		conv_fail(c, out, VOUCH_E_NOMEM, "ENROL_REQUEST: cannot copy "
		    "its fields");
		goto out;
	}
	if (req.ak_pub_len > STORE_AK_PUB_MAX ||
	    req.ak_name_len > STORE_AK_NAME_MAX) {
		conv_fail(c, out, VOUCH_E_LIMIT, "ENROL_REQUEST: AK too large");
		goto out;
	}
	if (enrol_ak_pubkey(req.ak_pub, req.ak_pub_len, &key, &e) < 0) {
		conv_fail(c, out, e.code, "enrolment refused: %s", e.msg);
		goto out;
	}
	want = policy_ak_type(s->policy) == 1 ? EVP_PKEY_RSA : EVP_PKEY_EC;
	if (EVP_PKEY_get_base_id(key) != want) {
		conv_fail(c, out, VOUCH_E_UNSUPPORTED, "enrolment refused: the "
		    "policy wants %s AKs", want == EVP_PKEY_RSA ? "RSA" :
		    "ECC");
		goto out;
	}
	if ((n = i2d_PUBKEY(key, &der)) <= 0 || (size_t)n > STORE_AK_SPKI_MAX) {
		conv_fail(c, out, VOUCH_E_CRYPTO, "enrolment: cannot encode "
		    "the AK");
		goto out;
	}
	/* Checks the EK certificate (if configured), the AK and its name. */
	if (enrol_challenge_make(&req, s->conf.ek_ca[0] ? s->conf.ek_ca : NULL,
	    &c->chal, &e) < 0) {
		conv_fail(c, out, e.code, "enrolment refused: %s", e.msg);
		goto out;
	}
	if ((ak = calloc(1, sizeof(*ak))) == NULL) {
		conv_fail(c, out, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	snprintf(ak->host, sizeof(ak->host), "%s", c->peer);
	memcpy(ak->ak_pub, req.ak_pub, req.ak_pub_len);
	ak->ak_pub_len = req.ak_pub_len;
	memcpy(ak->ak_name, req.ak_name, req.ak_name_len);
	ak->ak_name_len = req.ak_name_len;
	memcpy(ak->spki, der, (size_t)n);
	ak->spki_len = (size_t)n;
	if (EVP_Digest(req.ek_pub_der, req.ek_pub_len, ak->ek_sha256, NULL,
	    EVP_sha256(), NULL) != 1) {
		conv_fail(c, out, VOUCH_E_CRYPTO, "enrolment: SHA-256 failed");
		goto out;
	}
	if (wire_enc_new(WIRE_T_ENROL_CHALLENGE, &w, NULL) < 0 ||
	    wire_put_bytes(w, WIRE_F_CREDENTIAL, c->chal.credential,
	    c->chal.credential_len, NULL) < 0 ||
	    wire_put_bytes(w, WIRE_F_ENC_SECRET, c->chal.enc_secret,
	    c->chal.enc_secret_len, NULL) < 0 || reply_add(out, w) < 0) {
		conv_fail(c, out, VOUCH_E_INTERNAL, "cannot encode "
		    "ENROL_CHALLENGE");
		goto out;
	}
	c->pending_ak = ak;
	c->pending_key = key;
	ak = NULL;
	key = NULL;
	c->st = CS_PROOF;
out:
	wire_enc_free(w);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	free(ak);
	enrol_request_clear(&req);
}

/* Under s->mu: bind the AK, admit the host to the ring, persist. */
static int
enrol_commit(struct svc *s, struct store_ak *ak, EVP_PKEY *key,
    struct ivt_actions *acts, struct vouch_err *e)
{
	struct ak_ent *old = smap_get(&s->aks, ak->host), *ne;
	struct ivt_host_rec *rec;
	int64_t now = ivt_clock(s);
	int r, same, restart;

	same = old != NULL && old->rec.ak_name_len == ak->ak_name_len &&
	    memcmp(old->rec.ak_name, ak->ak_name, ak->ak_name_len) == 0;
	ak->enrolled_at = same ? old->rec.enrolled_at : now;
	if ((r = store_ak_put(s->store, ak, e)) < 0)
		return r;
	if ((ne = calloc(1, sizeof(*ne))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	ne->rec = *ak;
	if (EVP_PKEY_up_ref(key) != 1) {
		free(ne);
		return vouch_err_set(e, VOUCH_E_CRYPTO, "EVP_PKEY_up_ref");
	}
	ne->key = key;
	if ((r = smap_put(&s->aks, ak->host, ne)) < 0) {
		ak_free(ne);
		return vouch_err_set(e, r, "out of memory");
	}
	if (old != NULL)
		ak_free(old);
	if ((rec = malloc(sizeof(*rec))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if (ivt_host_get(s->ivt, ak->host, rec, NULL) < 0)
		r = ivt_host_join(s->ivt, ak->host, 1, now, acts, NULL, e);
	else {
		/*
		 * A new AK is a new TPM identity: verdicts on the old one
		 * mean nothing, so the host starts again from PENDING.  An
		 * UNTRUSTED host is latched until it leaves and enrols again
		 * (docs/tcb.md): a successful proof is that re-admission.
		 */
		restart = !same || rec->untrusted;
		if (restart) {
			if (rec->untrusted)
				emit(s, SVC_WARN, "UNTRUSTED host %s enrolled "
				    "again: re-admitted as PENDING", ak->host);
			r = ivt_host_leave(s->ivt, ak->host, now, acts, NULL, e);
			if (r == 0)
				r = ivt_host_join(s->ivt, ak->host, 1, now, acts,
				    NULL, e);
		} else
			r = ivt_host_enrol(s->ivt, ak->host, now, acts, NULL, e);
	}
	free(rec);
	if (r < 0)
		return r;
	return commit(s, acts, e);
}

static void
on_enrol_proof(struct svc_conv *c, const struct wire_msg *m,
    struct svc_reply *out)
{
	struct svc *s = c->s;
	struct ivt_actions acts = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	const uint8_t *p;
	size_t n;
	int r;

	if (wire_get_bytes(m, WIRE_F_SECRET, &p, &n, NULL) < 0 ||
	    enrol_proof_check(&c->chal, p, n) != 1) {
		conv_fail(c, out, VOUCH_E_CRYPTO, "enrolment refused: the "
		    "activated credential is wrong (the AK is not in the TPM "
		    "of that EK)");
		return;
	}
	pthread_mutex_lock(&s->mu);
	r = enrol_commit(s, c->pending_ak, c->pending_key, &acts, &e);
	pthread_mutex_unlock(&s->mu);
	ivt_actions_free(&acts);
	if (r < 0) {
		conv_fail(c, out, r, "enrolment of %s failed: %s", c->peer,
		    e.msg);
		return;
	}
	emit(s, SVC_INFO, "host %s enrolled its AK", c->peer);
	conv_clear_enrol(c);
	reply_ack(out, 0);
	c->st = CS_DONE;
	out->close = 1;
}

/* -- verdicts -- */

struct vitem {
	char			 subject[IVT_NAME_MAX + 1];
	uint8_t			 result;	/* WIRE_RESULT_* */
	uint64_t		 seq;
	int			 has_epoch;
	uint64_t		 epoch;
	const uint8_t		*ev;
	size_t			 ev_len;
	uint8_t			 digest[32];
	int			 dup;
	EVP_PKEY		*ak;
	struct pair		*pair;
	uint8_t			 nonce[WIRE_NONCE_LEN];
	/* outcome */
	enum ivt_result		 fed;
	int			 have_reset;
	uint32_t		 reset;
	char			 reason[IVT_REASON_MAX];
	struct vinfo		 info;
};

/* Content digest of a verdict without its SEQ (duplicates on re-send). */
static int
verdict_digest(const struct wire_msg *m, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t i, n = wire_msg_nfields(m);
	unsigned int len = 0;
	int ok = md != NULL && svc_sha256() != NULL &&
	    EVP_DigestInit_ex(md, svc_sha256(), NULL) == 1;

	for (i = 0; ok && i < n; i++) {
		uint16_t tag;
		const uint8_t *v;
		size_t vl;
		uint8_t hdr[10];
		int k;

		if (wire_msg_field(m, i, &tag, &v, &vl) < 0) {
			ok = 0;
			break;
		}
		if (tag == WIRE_F_SEQ)
			continue;
		hdr[0] = (uint8_t)(tag >> 8);
		hdr[1] = (uint8_t)tag;
		for (k = 0; k < 8; k++)
			hdr[2 + k] = (uint8_t)((uint64_t)vl >> (56 - 8 * k));
		ok = EVP_DigestUpdate(md, hdr, sizeof(hdr)) == 1 &&
		    EVP_DigestUpdate(md, v, vl) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* Parse and check one VERDICT's own fields; -1 with *code/msg on refusal. */
static int
vitem_parse(struct svc_conv *c, const struct wire_msg *m, struct vitem *it,
    int *code, char *msg, size_t cap)
{
	char verifier[WIRE_HOST_MAX + 1], subject[WIRE_HOST_MAX + 1];

	if (wire_msg_type(m) != WIRE_T_VERDICT) {
		*code = VOUCH_E_STATE;
		snprintf(msg, cap, "%s received where VERDICT was expected",
		    wire_type_name(wire_msg_type(m)));
		return -1;
	}
	if (wire_get_str(m, WIRE_F_VERIFIER, verifier, sizeof(verifier),
	    NULL) < 0 || wire_get_str(m, WIRE_F_SUBJECT, subject,
	    sizeof(subject), NULL) < 0 ||
	    wire_get_u8(m, WIRE_F_RESULT, &it->result, NULL) < 0) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT: fields missing");
		return -1;
	}
	if (strcmp(verifier, c->peer) != 0) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT.VERIFIER '%s' is not the "
		    "certificate's name '%s'", verifier, c->peer);
		return -1;
	}
	if (strlen(subject) > IVT_NAME_MAX) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT.SUBJECT longer than %d",
		    IVT_NAME_MAX);
		return -1;
	}
	snprintf(it->subject, sizeof(it->subject), "%s", subject);
	if (wire_get_u64(m, WIRE_F_SEQ, &it->seq, NULL) < 0) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT without SEQ: the RC-TCB "
		    "acknowledges by SEQ");
		return -1;
	}
	if (c->have_seq && it->seq <= c->last_seq) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT SEQ %llu not above %llu: SEQ must "
		    "increase strictly per connection",
		    (unsigned long long)it->seq,
		    (unsigned long long)c->last_seq);
		return -1;
	}
	c->have_seq = 1;
	c->last_seq = it->seq;
	it->has_epoch = wire_get_u64(m, WIRE_F_EPOCH, &it->epoch, NULL) == 0;
	if (wire_get_bytes(m, WIRE_F_EVIDENCE, &it->ev, &it->ev_len, NULL) < 0) {
		it->ev = NULL;
		it->ev_len = 0;
	}
	if (it->result == WIRE_RESULT_PASS && it->ev == NULL) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT PASS on %s without EVIDENCE: the "
		    "RC-TCB re-verifies every PASS", it->subject);
		return -1;
	}
	if (it->ev != NULL && !it->has_epoch) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT with EVIDENCE but no EPOCH: its "
		    "nonce cannot be re-derived");
		return -1;
	}
	if (it->ev != NULL && it->result == WIRE_RESULT_ERROR) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "VERDICT ERROR carries no EVIDENCE");
		return -1;
	}
	if (verdict_digest(m, it->digest) < 0) {
		*code = VOUCH_E_CRYPTO;
		snprintf(msg, cap, "cannot digest the verdict");
		return -1;
	}
	return 0;
}

/* Under s->mu: epoch, subject's AK, duplicates.  -1 on refusal. */
static int
vitem_admit(struct svc_conv *c, struct vitem *it, int *code, char *msg,
    size_t cap)
{
	struct svc *s = c->s;
	uint8_t rnd[WIRE_EPOCH_RANDOM_LEN];

	if (it->has_epoch && epoch_random(s, it->epoch, rnd) < 0) {
		*code = VOUCH_E_STATE;
		snprintf(msg, cap, "VERDICT on %s for epoch %llu refused as "
		    "stale: the RC-TCB accepts epochs %llu and %llu only",
		    it->subject, (unsigned long long)it->epoch,
		    (unsigned long long)(s->have_prev ? s->epoch - 1 :
		    s->epoch), (unsigned long long)s->epoch);
		return -1;
	}
	if (region_find(s->region, it->subject) == NULL) {
		*code = VOUCH_E_NOTFOUND;
		snprintf(msg, cap, "VERDICT on %s: not a host of the region",
		    it->subject);
		return -1;
	}
	if ((it->pair = pair_get(s, it->subject, c->peer)) == NULL) {
		*code = VOUCH_E_NOMEM;
		snprintf(msg, cap, "out of memory");
		return -1;
	}
	if (it->pair->have_digest &&
	    memcmp(it->pair->digest, it->digest, 32) == 0) {
		it->dup = 1;
		return 0;
	}
	if (it->ev != NULL) {
		if ((it->ak = ak_ref(s, it->subject)) == NULL) {
			*code = VOUCH_E_STATE;
			snprintf(msg, cap, "VERDICT on %s refused: %s has no "
			    "enrolled AK, its evidence cannot be verified",
			    it->subject, it->subject);
			return -1;
		}
		svc_nonce_derive(rnd, it->epoch, c->peer, it->subject,
		    it->nonce);
	}
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return 0;
}

/* Outside the lock: re-verify the evidence, decide what the IVT gets. */
static void
vitem_verify(struct svc_conv *c, const struct wire_msg *m, struct vitem *it)
{
	struct verify_result *res = NULL;
	struct evidence *ev = NULL;
	struct vouch_err why = VOUCH_ERR_INIT;
	char first[IVT_REASON_MAX] = "";
	size_t i, nr = wire_count(m, WIRE_F_REASON);

	it->info.valid = 1;
	snprintf(it->info.verifier, sizeof(it->info.verifier), "%s", c->peer);
	it->info.epoch = it->has_epoch ? it->epoch : 0;
	it->info.claimed = it->result;
	it->info.reverified = -1;
	it->info.evidence_len = it->ev_len;
	for (i = 0; i < nr; i++) {
		char r[VERIFY_REASON_MAX];

		if (wire_get_str_at(m, WIRE_F_REASON, i, r, sizeof(r), NULL) < 0)
			continue;
		if (i == 0)
			snprintf(first, sizeof(first), "%s: %s", c->peer, r);
		vinfo_reason(&it->info, "%s says: %s", c->peer, r);
	}
	if (it->result == WIRE_RESULT_ERROR) {
		it->fed = IVT_UNREACH;
		snprintf(it->reason, sizeof(it->reason), "%s", first[0] ? first :
		    "unreachable");
		return;
	}
	if (it->ev != NULL && (res = malloc(sizeof(*res))) != NULL &&
	    reverify(c->s, it->pair, it->ak, it->ev, it->ev_len, it->nonce,
	    &ev, res, &why) == 0) {
		vinfo_from_verify(&it->info, ev, res);
		if (res->ran & (1u << VERIFY_ATTEST)) {
			it->have_reset = 1;
			it->reset = res->counters.reset_count;
		}
		if (!res->pass)
			summary_reason(it->reason, sizeof(it->reason),
			    "tcbd re-verification: ", res);
	} else if (it->ev != NULL) {
		it->info.reverified = 0;
		if (res == NULL)
			snprintf(why.msg, sizeof(why.msg), "out of memory");
		vinfo_reason(&it->info, "tcbd re-verification: %s", why.msg);
		snprintf(it->reason, sizeof(it->reason),
		    "tcbd re-verification: %s", why.msg);
	}
	if (it->result == WIRE_RESULT_PASS && it->info.reverified == 1)
		it->fed = IVT_PASS;
	else {
		it->fed = IVT_FAIL;
		/* The RC-TCB's own finding, if it has one, is the reason. */
		if (it->reason[0] == '\0')
			snprintf(it->reason, sizeof(it->reason), "%s",
			    first[0] ? first : "neighbour FAIL");
	}
	it->info.fed = it->fed;
	evidence_free(ev);
	free(res);
}

static void
on_verdicts(struct svc_conv *c, struct wire_msg *const *m, size_t n,
    struct svc_reply *out)
{
	struct svc *s = c->s;
	struct ivt_actions acts = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct ivt_host_rec *rec = NULL;
	struct vitem *it;
	char msg[ERROR_MSG_MAX] = "";
	int code = 0, synced;
	size_t i, bad = n, applied = 0;

	if ((it = calloc(n, sizeof(*it))) == NULL ||
	    (rec = malloc(sizeof(*rec))) == NULL) {
		free(it);
		conv_fail(c, out, VOUCH_E_NOMEM, "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		if (vitem_parse(c, m[i], &it[i], &code, msg, sizeof(msg)) < 0) {
			bad = i;
			break;
		}
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < bad; i++)
		if (vitem_admit(c, &it[i], &code, msg, sizeof(msg)) < 0) {
			bad = i;
			break;
		}
	pthread_mutex_unlock(&s->mu);

	for (i = 0; i < bad; i++)
		if (!it[i].dup)
			vitem_verify(c, m[i], &it[i]);

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < bad; i++) {
		struct ivt_verdict v;
		enum ivt_why why = IVT_WHY_OK;
		int r;

		if (it[i].dup)
			continue;
		memset(&v, 0, sizeof(v));
		v.subject = it[i].subject;
		v.verifier = c->peer;
		v.time = ivt_clock(s);
		v.result = it[i].fed;
		v.reason = it[i].reason[0] ? it[i].reason : NULL;
		v.reset_count = it[i].reset;
		/*
		 * A FAIL whose quote could not be read carries no counters:
		 * take the last known ones, or the IVT would drop it as a
		 * resetCount going backwards and a garbage quote would
		 * silence an accusation.
		 */
		if (!it[i].have_reset && ivt_host_get(s->ivt, v.subject, rec,
		    NULL) == 0)
			v.reset_count = rec->reset_count;
		it[i].info.time = v.time;
		r = ivt_verdict(s->ivt, &v, &acts, &why, &e);
		if (r == 0) {
			applied++;
			continue;
		}
		if (why == IVT_WHY_STALE || why == IVT_WHY_DUPLICATE ||
		    why == IVT_WHY_RESET_BACKWARDS) {
			/* Ignored, not refused: acknowledged, not applied. */
			it[i].dup = 1;
			continue;
		}
		bad = i;
		code = r;
		snprintf(msg, sizeof(msg), "VERDICT on %s refused (%s): %s",
		    it[i].subject, ivt_why_name(why), e.msg);
		break;
	}
	synced = group_commit(s, &acts, &e) == 0;
	if (synced) {
		for (i = 0; i < bad; i++) {
			struct hinfo *h;

			if (it[i].pair != NULL) {
				it[i].pair->have_digest = 1;
				memcpy(it[i].pair->digest, it[i].digest, 32);
			}
			if (!it[i].dup && it[i].info.valid &&
			    (h = hinfo_get(s, it[i].subject)) != NULL)
				h->verdict = it[i].info;
		}
		s->verdicts_applied += applied;
	}
	if (bad < n)
		s->verdicts_refused++;
	pthread_mutex_unlock(&s->mu);

	if (!synced) {
		/* Nothing of the batch is acknowledged: the client re-sends. */
		conv_fail(c, out, VOUCH_E_IO, "store: %s", e.msg);
	} else {
		for (i = 0; i < bad; i++)
			reply_ack(out, it[i].seq);
		if (bad < n)
			conv_fail(c, out, code ? code : VOUCH_E_STATE, "%s",
			    msg);
		else
			c->st = CS_VERDICTS;
	}
	for (i = 0; i < n; i++)
		EVP_PKEY_free(it[i].ak);
	free(it);
	free(rec);
	ivt_actions_free(&acts);
}

/* -- alerts (conversation 8) -- */

/* 1 if t is a finding type name: [a-z0-9_]+ (the wire bounds the length). */
static int
alert_type_ok(const char *t)
{
	size_t i;

	for (i = 0; t[i] != '\0'; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' &&
		    t[i] <= '9') || t[i] == '_'))
			return 0;
	return i > 0;
}

/* 1 if json[0..len) is exactly one JSON object (strict). */
static int
json_object_ok(const char *json, size_t len)
{
	struct json_tokener *tok;
	json_object *o;
	int ok;

	if (len > INT32_MAX || (tok = json_tokener_new_ex(32)) == NULL)
		return 0;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, json, (int)len);
	ok = o != NULL && json_tokener_get_parse_end(tok) == len &&
	    json_object_is_type(o, json_type_object);
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

/* Parse and check one ALERT; -1 with *code/msg on refusal. */
static int
alert_parse(struct svc_conv *c, const struct wire_msg *m,
    struct store_alert *a, int *has_seq, uint64_t *seq, int *code, char *msg,
    size_t cap)
{
	const uint8_t *json;
	uint64_t t;
	uint8_t crit;
	size_t len;

	if (wire_msg_type(m) != WIRE_T_ALERT) {
		*code = VOUCH_E_STATE;
		snprintf(msg, cap, "%s received where ALERT was expected",
		    wire_type_name(wire_msg_type(m)));
		return -1;
	}
	memset(a, 0, sizeof(*a));
	if (wire_get_str(m, WIRE_F_TARGET, a->target, sizeof(a->target),
	    NULL) < 0 || wire_get_str(m, WIRE_F_TYPE, a->type,
	    sizeof(a->type), NULL) < 0 ||
	    wire_get_u8(m, WIRE_F_CRITICAL, &crit, NULL) < 0 ||
	    wire_get_u64(m, WIRE_F_TIME, &t, NULL) < 0 ||
	    wire_get_bytes(m, WIRE_F_JSON, &json, &len, NULL) < 0) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "ALERT: fields missing");
		return -1;
	}
	if (!alert_type_ok(a->type)) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "ALERT.TYPE '%s' is not a finding type "
		    "([a-z0-9_]+)", a->type);
		return -1;
	}
	if (t > INT64_MAX) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "ALERT.TIME %llu out of range",
		    (unsigned long long)t);
		return -1;
	}
	if (!json_object_ok((const char *)json, len)) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "ALERT on %s: JSON is not one JSON object",
		    a->target);
		return -1;
	}
	*has_seq = wire_get_u64(m, WIRE_F_SEQ, seq, NULL) == 0;
	if (*has_seq && c->have_seq && *seq <= c->last_seq) {
		*code = VOUCH_E_FORMAT;
		snprintf(msg, cap, "ALERT SEQ %llu not above %llu: SEQ must "
		    "increase strictly per connection",
		    (unsigned long long)*seq, (unsigned long long)c->last_seq);
		return -1;
	}
	if (*has_seq) {
		c->have_seq = 1;
		c->last_seq = *seq;
	}
	snprintf(a->host, sizeof(a->host), "%s", c->peer);
	a->critical = crit != 0;
	a->time = (int64_t)t;
	a->json = (const char *)json;
	a->json_len = len;
	return 0;
}

/*
 * ALERT*: the good ones before a bad one are stored in one transaction
 * and acknowledged (in order, after the commit); a bad one is answered
 * with ERROR and the connection closed.  The sender is the certificate's
 * name: HELLO admitted only region hosts (role vouchd) this far.
 */
static void
on_alerts(struct svc_conv *c, struct wire_msg *const *m, size_t n,
    struct svc_reply *out)
{
	struct svc *s = c->s;
	struct store_alert *a;
	struct vouch_err e = VOUCH_ERR_INIT;
	uint64_t *seq;
	int *has_seq, code = 0, r = 0;
	char msg[ERROR_MSG_MAX] = "";
	size_t i, good = n;

	if (c->tr != SVC_TLS || c->role != WIRE_ROLE_VOUCHD) {
		conv_fail(c, out, VOUCH_E_STATE, "ALERT from %s: only region "
		    "hosts send alerts", c->peer);
		return;
	}
	a = calloc(n, sizeof(*a));
	seq = calloc(n, sizeof(*seq));
	has_seq = calloc(n, sizeof(*has_seq));
	if (a == NULL || seq == NULL || has_seq == NULL) {
		conv_fail(c, out, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (alert_parse(c, m[i], &a[i], &has_seq[i], &seq[i], &code,
		    msg, sizeof(msg)) < 0) {
			good = i;
			break;
		}
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < good; i++)
		a[i].received = clock_now(s);
	if (good > 0)
		r = store_alerts_put(s->store, a, good, STORE_ALERT_KEEP, &e);
	if (r == 0)
		s->alerts_stored += good;
	if (good < n)
		s->alerts_refused++;
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		/* Nothing of the batch is acknowledged: the sender re-sends. */
		conv_fail(c, out, VOUCH_E_IO, "store: %s", e.msg);
		goto out;
	}
	for (i = 0; i < good; i++) {
		emit(s, a[i].critical ? SVC_WARN : SVC_INFO, "alert #%lld from "
		    "%s: %s %s%s", a[i].seq, c->peer, a[i].target, a[i].type,
		    a[i].critical ? " (critical)" : "");
		reply_ack(out, has_seq[i] ? seq[i] : (uint64_t)a[i].seq);
	}
	if (good < n)
		conv_fail(c, out, code ? code : VOUCH_E_FORMAT, "%s", msg);
	else
		c->st = CS_ALERTS;
out:
	free(a);
	free(seq);
	free(has_seq);
}

static int admin_request(struct svc *s, const char *json, size_t len,
    int host_only, char **reply, struct vouch_err *e);
static void on_reports(struct svc_conv *c, struct wire_msg *const *m,
    size_t n, struct svc_reply *out);
static void on_attest_request(struct svc_conv *c, const struct wire_msg *m,
    struct svc_reply *out);

static void
on_status(struct svc_conv *c, const struct wire_msg *m, struct svc_reply *out)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct wire_enc *w;
	const uint8_t *p;
	char *reply = NULL;
	size_t n;
	int r;

	if (wire_get_bytes(m, WIRE_F_JSON, &p, &n, NULL) < 0) {
		conv_fail(c, out, VOUCH_E_FORMAT, "STATUS_REQUEST without JSON");
		return;
	}
	if ((r = admin_request(c->s, (const char *)p, n,
	    c->role != WIRE_ROLE_CTL, &reply, &e)) < 0) {
		/* A bad request is the admin's mistake: answer, keep going. */
		json_object *o = json_object_new_object();

		json_object_object_add(o, "error", json_object_new_string(e.msg));
		json_object_object_add(o, "code", json_object_new_int(-r));
		reply = strdup(json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		if (reply == NULL) {
			conv_fail(c, out, VOUCH_E_NOMEM, "out of memory");
			return;
		}
	}
	if (wire_enc_new(WIRE_T_STATUS_REPLY, &w, NULL) < 0 ||
	    wire_put_str(w, WIRE_F_JSON, reply, &e) < 0 ||
	    reply_add(out, w) < 0) {
		wire_enc_free(w);
		free(reply);
		conv_fail(c, out, VOUCH_E_LIMIT, "STATUS_REPLY: %s", e.msg);
		return;
	}
	wire_enc_free(w);
	free(reply);
}

void
svc_conv_input(struct svc_conv *c, struct wire_msg *const *m, size_t n,
    struct svc_reply *out)
{
	size_t i = 0;

	while (i < n && c->st != CS_DONE && !out->close) {
		uint16_t t = wire_msg_type(m[i]);

		switch (c->st) {
		case CS_HELLO:
			if (t != WIRE_T_HELLO) {
				conv_fail(c, out, VOUCH_E_STATE, "%s received "
				    "where HELLO was expected",
				    wire_type_name(t));
				return;
			}
			on_hello(c, m[i++], out);
			break;
		case CS_CHOICE:
		case CS_VERDICTS: {
			size_t j = i;

			if (c->st == CS_CHOICE && t == WIRE_T_ENROL_REQUEST) {
				on_enrol_request(c, m[i++], out);
				break;
			}
			if (c->st == CS_CHOICE && t == WIRE_T_ALERT) {
				c->st = CS_ALERTS;
				break;	/* the ALERT case below takes it */
			}
			if (c->st == CS_CHOICE && (t == WIRE_T_MIG_REPORT ||
			    t == WIRE_T_ATTEST_REQUEST)) {
				c->st = CS_EVAC;
				break;	/* the CS_EVAC case below takes it */
			}
			if (c->st == CS_CHOICE && t == WIRE_T_STATUS_REQUEST) {
				/* A host asking the registrar for an AK. */
				on_status(c, m[i++], out);
				c->st = CS_DONE;
				out->close = 1;
				break;
			}
			/* Every VERDICT up to the next other frame: one commit. */
			while (j < n && wire_msg_type(m[j]) == WIRE_T_VERDICT)
				j++;
			if (j == i) {
				conv_fail(c, out, VOUCH_E_STATE, "%s received "
				    "where %s was expected", wire_type_name(t),
				    c->st == CS_CHOICE ? "ENROL_REQUEST, "
				    "VERDICT, ALERT, MIG_REPORT or "
				    "ATTEST_REQUEST" :
				    "VERDICT");
				return;
			}
			on_verdicts(c, m + i, j - i, out);
			i = j;
			break;
		}
		case CS_ALERTS: {
			/* Every ALERT up to the next other frame: one commit. */
			size_t j = i;

			while (j < n && wire_msg_type(m[j]) == WIRE_T_ALERT)
				j++;
			if (j == i) {
				conv_fail(c, out, VOUCH_E_STATE, "%s received "
				    "where ALERT was expected",
				    wire_type_name(t));
				return;
			}
			on_alerts(c, m + i, j - i, out);
			i = j;
			break;
		}
		case CS_EVAC: {
			/* Every MIG_REPORT up to the next other frame. */
			size_t j = i;

			if (t == WIRE_T_ATTEST_REQUEST) {
				on_attest_request(c, m[i++], out);
				break;
			}
			while (j < n && wire_msg_type(m[j]) == WIRE_T_MIG_REPORT)
				j++;
			if (j == i) {
				conv_fail(c, out, VOUCH_E_STATE, "%s received "
				    "where MIG_REPORT or ATTEST_REQUEST was "
				    "expected", wire_type_name(t));
				return;
			}
			on_reports(c, m + i, j - i, out);
			i = j;
			break;
		}
		case CS_PROOF:
			if (t != WIRE_T_ENROL_PROOF) {
				conv_fail(c, out, VOUCH_E_STATE, "%s received "
				    "where ENROL_PROOF was expected",
				    wire_type_name(t));
				return;
			}
			on_enrol_proof(c, m[i++], out);
			break;
		case CS_ADMIN:
			if (t != WIRE_T_STATUS_REQUEST) {
				conv_fail(c, out, VOUCH_E_STATE, "%s received "
				    "where STATUS_REQUEST was expected",
				    wire_type_name(t));
				return;
			}
			on_status(c, m[i++], out);
			break;
		case CS_DONE:
			break;
		}
	}
	if (i < n && c->st == CS_DONE && !out->close)
		conv_fail(c, out, VOUCH_E_STATE, "frame after the end of the "
		    "conversation");
}

/* ---- direct attestation (conversation 5) ---------------------------- */

int
svc_direct_next(struct svc *s, int timeout_ms, struct svc_job *job)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (s->nqueue == 0 && !s->stopped)
		if (pthread_cond_timedwait(&s->jobs_cv, &s->mu, &ts) ==
		    ETIMEDOUT)
			break;
	if (s->stopped)
		r = -1;
	else if (s->nqueue > 0 && job_push(&s->inflight, &s->ninflight,
	    &s->capinflight, &s->queue[0]) == 0) {
		*job = s->queue[0];
		memmove(&s->queue[0], &s->queue[1],
		    (s->nqueue - 1) * sizeof(*s->queue));
		s->nqueue--;
		r = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

void
svc_stop(struct svc *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopped = 1;
	pthread_cond_broadcast(&s->jobs_cv);
	pthread_cond_broadcast(&s->ord_cv);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Mutual TLS to host's region address and the HELLO exchange (we speak
 * as the tcbd; the answer must be the host's own HELLO).  *out only on
 * success.
 */
static int
host_hello(struct svc *s, const char *host, struct tls_conn **out,
    struct vouch_err *e)
{
	const struct region_host *rh;
	struct tls_conn *conn = NULL;
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	const uint8_t *f;
	size_t fl;
	char name[WIRE_HOST_MAX + 1];
	int r;

	pthread_mutex_lock(&s->mu);
	rh = region_find(s->region, host);
	pthread_mutex_unlock(&s->mu);
	if (rh == NULL)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "%s: not in the "
		    "region", host);
	if (s->client == NULL)
		return vouch_err_set(e, VOUCH_E_STATE, "no TLS client context");
	if ((r = tls_connect(s->client, rh->addr, rh->port, host,
	    SVC_FRAME_TIMEOUT_MS, &conn, e)) < 0)
		return r;
	if ((r = wire_enc_new(WIRE_T_HELLO, &w, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_HOST, s->conf.name, e)) < 0 ||
	    (r = wire_put_u8(w, WIRE_F_ROLE, WIRE_ROLE_TCBD, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_VERSION_MIN, WIRE_VERSION, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_VERSION_MAX, WIRE_VERSION, e)) < 0 ||
	    (r = wire_enc_finish(w, &f, &fl, e)) < 0 ||
	    (r = tls_send(conn, f, fl, SVC_FRAME_TIMEOUT_MS, e)) < 0 ||
	    (r = tls_recv(conn, SVC_FRAME_TIMEOUT_MS, &m, NULL, e)) < 0)
		goto out;
	if (wire_msg_type(m) != WIRE_T_HELLO ||
	    wire_get_str(m, WIRE_F_HOST, name, sizeof(name), NULL) < 0 ||
	    strcmp(name, host) != 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s answered %s, not its "
		    "HELLO", host, wire_type_name(wire_msg_type(m)));
		goto out;
	}
	*out = conn;
	conn = NULL;
	r = 0;
out:
	wire_msg_free(m);
	wire_enc_free(w);
	tls_close(conn);
	return r;
}

/* The default transport: mutual TLS to the host's region address. */
static int
tls_challenge(struct svc *s, const char *host, const uint8_t *nonce,
    const char *pcr_sel, uint32_t flags, uint8_t **evidence, size_t *len,
    struct vouch_err *e)
{
	struct tls_conn *conn = NULL;
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	const uint8_t *f, *p;
	size_t fl, n;
	int r;

	if ((r = host_hello(s, host, &conn, e)) < 0)
		return r;
	if ((r = wire_enc_new(WIRE_T_CHALLENGE, &w, e)) < 0 ||
	    (r = wire_put_bytes(w, WIRE_F_NONCE, nonce, WIRE_NONCE_LEN, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_PCR_SEL, pcr_sel, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_FLAGS, flags, e)) < 0 ||
	    (r = wire_enc_finish(w, &f, &fl, e)) < 0 ||
	    (r = tls_send(conn, f, fl, SVC_FRAME_TIMEOUT_MS, e)) < 0 ||
	    (r = tls_recv(conn, SVC_EVIDENCE_TIMEOUT_MS, &m, NULL, e)) < 0)
		goto out;
	if (wire_msg_type(m) != WIRE_T_EVIDENCE ||
	    wire_get_bytes(m, WIRE_F_EVIDENCE, &p, &n, NULL) < 0) {
		char why[ERROR_MSG_MAX + 1] = "";

		if (wire_msg_type(m) == WIRE_T_ERROR)
			(void)wire_get_str(m, WIRE_F_MESSAGE, why, sizeof(why),
			    NULL);
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s answered %s, not "
		    "EVIDENCE%s%s", host, wire_type_name(wire_msg_type(m)),
		    why[0] ? ": " : "", why);
		goto out;
	}
	if ((*evidence = malloc(n)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*evidence, p, n);
	*len = n;
	r = 0;
out:
	wire_msg_free(m);
	wire_enc_free(w);
	tls_close(conn);
	return r;
}

void
svc_direct_run(struct svc *s, const struct svc_job *job)
{
	struct ivt_actions acts = IVT_ACTIONS_INIT;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct verify_result *res = NULL;
	struct evidence *ev = NULL;
	struct vinfo *info = NULL;
	struct pair *p;
	struct hinfo *h;
	EVP_PKEY *ak;
	uint8_t nonce[WIRE_NONCE_LEN], *evb = NULL;
	size_t evlen = 0;
	enum ivt_result result;
	enum ivt_why why = IVT_WHY_OK;
	char reason[IVT_REASON_MAX];
	int r;

	pthread_mutex_lock(&s->mu);
	ak = ak_ref(s, job->host);
	p = pair_get(s, job->host, s->conf.name);
	pthread_mutex_unlock(&s->mu);
	if ((info = calloc(1, sizeof(*info))) == NULL ||
	    (res = malloc(sizeof(*res))) == NULL || p == NULL) {
		emit(s, SVC_ERR, "direct attestation of %s: out of memory",
		    job->host);
		goto done;
	}
	info->valid = 1;
	snprintf(info->verifier, sizeof(info->verifier), "%s", s->conf.name);
	info->reverified = -1;
	if (ak == NULL) {
		/* Nothing to verify against: refuse to guess either way. */
		emit(s, SVC_WARN, "direct attestation of %s: no enrolled AK",
		    job->host);
		goto done;
	}
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		emit(s, SVC_ERR, "direct attestation of %s: RAND_bytes failed",
		    job->host);
		goto done;
	}
	if (s->hooks.challenge != NULL)
		r = s->hooks.challenge(s->hooks.arg, job->host, nonce,
		    s->pcr_sel, job->flags, &evb, &evlen, &e);
	else
		r = tls_challenge(s, job->host, nonce, s->pcr_sel, job->flags,
		    &evb, &evlen, &e);
	if (r < 0) {
		result = IVT_UNREACH;
		snprintf(reason, sizeof(reason), "direct: unreachable: %s",
		    e.msg);
		vinfo_reason(info, "unreachable: %s", e.msg);
	} else if (reverify(s, p, ak, evb, evlen, nonce, &ev, res, &e) < 0) {
		/* A host that answers garbage fails its own attestation. */
		result = IVT_FAIL;
		snprintf(reason, sizeof(reason), "direct: %s", e.msg);
		vinfo_reason(info, "evidence: %s", e.msg);
		info->reverified = 0;
	} else {
		vinfo_from_verify(info, ev, res);
		result = res->pass ? IVT_PASS : IVT_FAIL;
		if (res->pass)
			snprintf(reason, sizeof(reason), "direct: PASS");
		else
			summary_reason(reason, sizeof(reason), "direct: ", res);
	}
	info->evidence_len = evlen;
	info->fed = result;

	pthread_mutex_lock(&s->mu);
	info->time = ivt_clock(s);
	r = ivt_direct_result(s->ivt, job->host, info->time, result, reason,
	    &acts, &why, &e);
	if (r == 0)
		(void)commit(s, &acts, &e);
	else if (why != IVT_WHY_NOT_REQUESTED)
		emit(s, SVC_WARN, "direct result on %s not applied (%s): %s",
		    job->host, ivt_why_name(why), e.msg);
	if ((h = hinfo_get(s, job->host)) != NULL)
		h->direct = *info;
	pthread_mutex_unlock(&s->mu);
	emit(s, result == IVT_PASS ? SVC_INFO : SVC_WARN, "direct attestation "
	    "of %s: %s (%s)", job->host, ivt_result_name(result), reason);
done:
	pthread_mutex_lock(&s->mu);
	job_remove(s->inflight, &s->ninflight, job->host);
	pthread_mutex_unlock(&s->mu);
	OPENSSL_cleanse(nonce, sizeof(nonce));
	ivt_actions_free(&acts);
	evidence_free(ev);
	free(evb);
	free(res);
	free(info);
	EVP_PKEY_free(ak);
}

size_t
svc_direct_run_pending(struct svc *s)
{
	struct svc_job job;
	size_t n = 0;

	for (;;) {
		int more;

		pthread_mutex_lock(&s->mu);
		more = s->nqueue > 0;
		pthread_mutex_unlock(&s->mu);
		if (!more || svc_direct_next(s, 0, &job) != 1)
			return n;
		svc_direct_run(s, &job);
		n++;
	}
}

/* ---- evacuation (docs/tcb.md "Evacuation", docs/protocol.md 9) ------ */

#define ORDER_BACKOFF_MAX_MS	30000
#define LOST_CHECK_MS		1000
#define MIGS_SCAN_MAX		10000	/* active migrations looked at */
#define UNCONSTRAINED_VCPUS	(1u << 20)
#define UNCONSTRAINED_MIB	(1ull << 40)

static int64_t
evac_timeout_ms(const struct svc *s)
{
	return (int64_t)s->conf.evac_report_timeout * 1000;
}

/* Under s->mu: an alert row (type "evacuation") and a log line. */
static void
evac_alert(struct svc *s, const char *host, const char *target, long long id,
    int critical, const char *msg)
{
	struct store_alert a;
	struct vouch_err e = VOUCH_ERR_INIT;
	json_object *o = json_object_new_object();
	const char *text;

	emit(s, critical ? SVC_ERR : SVC_WARN, "evacuation of %s from %s "
	    "(migration %lld): %s", target, host, id, msg);
	if (o == NULL)
		return;
	json_object_object_add(o, "migration", json_object_new_int64(id));
	json_object_object_add(o, "detail", json_object_new_string(msg));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	memset(&a, 0, sizeof(a));
	snprintf(a.host, sizeof(a.host), "%s", host);
	snprintf(a.target, sizeof(a.target), "%s", target);
	snprintf(a.type, sizeof(a.type), "evacuation");
	a.critical = critical;
	a.time = a.received = clock_now(s);
	a.json = text;
	a.json_len = strlen(text);
	if (store_alerts_put(s->store, &a, 1, STORE_ALERT_KEEP, &e) < 0)
		emit(s, SVC_ERR, "evacuation alert not stored: %s", e.msg);
	json_object_put(o);
}

/* Under s->mu. */
static void
order_enqueue(struct svc *s, long long id, int64_t not_before,
    unsigned attempts)
{
	size_t i;

	for (i = 0; i < s->norders; i++)
		if (s->orders[i].id == id)
			return;
	if (s->norders == s->caporders) {
		size_t nc = s->caporders ? s->caporders * 2 : 16;
		struct svc_order_job *nv = realloc(s->orders,
		    nc * sizeof(*nv));

		if (nv == NULL) {
			emit(s, SVC_ERR, "order of migration %lld not queued: "
			    "out of memory", id);
			return;
		}
		s->orders = nv;
		s->caporders = nc;
	}
	s->orders[s->norders].id = id;
	s->orders[s->norders].not_before = not_before;
	s->orders[s->norders].attempts = attempts;
	s->norders++;
	pthread_cond_signal(&s->ord_cv);
}

/* The destination a running migration will occupy: host, else dests[0]. */
static void
mig_dest(const struct store_mig *m, char *out, size_t cap)
{
	const char *comma;

	if (m->host[0] != '\0') {
		snprintf(out, cap, "%s", m->host);
		return;
	}
	comma = strchr(m->dests, ',');
	snprintf(out, cap, "%.*s", comma != NULL ? (int)(comma - m->dests) :
	    (int)strlen(m->dests), m->dests);
}

struct vec {
	void	*v;
	size_t	 n, cap, size;
};

static int
vec_push(struct vec *v, const void *el)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 16;
		void *nv = realloc(v->v, nc * v->size);

		if (nv == NULL)
			return VOUCH_E_NOMEM;
		v->v = nv;
		v->cap = nc;
	}
	memcpy((char *)v->v + v->n * v->size, el, v->size);
	v->n++;
	return 0;
}

static int
pair_vec_cb(void *arg, const struct store_pair *p, struct vouch_err *e)
{
	if (vec_push(arg, p) < 0)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	return 0;
}

static int
mig_vec_cb(void *arg, const struct store_mig *m, struct vouch_err *e)
{
	if (vec_push(arg, m) < 0)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	return 0;
}

static int
active_migs(struct svc *s, struct vec *out, struct vouch_err *e)
{
	struct store_mig_query q = { NULL, 1, MIGS_SCAN_MAX };

	out->size = sizeof(struct store_mig);
	return store_migs(s->store, &q, mig_vec_cb, out, e);
}

/*
 * Spare room of host for protected pairs: the configured capacity less
 * the pairs placed there and those in flight to it.  Under s->mu.
 */
static void
host_spare(struct svc *s, const char *host, const struct vec *pairs,
    const struct vec *migs, uint32_t *vcpus, uint64_t *mib)
{
	const struct store_pair *p = pairs->v;
	const struct store_mig *m = migs->v;
	uint64_t uv = 0, um = 0, cv, cm;
	size_t i, j;

	cv = s->conf.evac_host_vcpus ? s->conf.evac_host_vcpus :
	    UNCONSTRAINED_VCPUS;
	cm = s->conf.evac_host_mib ? s->conf.evac_host_mib : UNCONSTRAINED_MIB;
	for (i = 0; i < pairs->n; i++)
		if (strcmp(p[i].host, host) == 0) {
			uv += p[i].vcpus;
			um += p[i].mem_mib;
		}
	for (j = 0; j < migs->n; j++) {
		char d[IVT_NAME_MAX + 1];

		mig_dest(&m[j], d, sizeof(d));
		if (strcmp(d, host) != 0)
			continue;
		for (i = 0; i < pairs->n; i++)
			if (strcmp(p[i].target, m[j].target) == 0 &&
			    strcmp(p[i].host, host) != 0) {
				uv += p[i].vcpus;
				um += p[i].mem_mib;
			}
	}
	*vcpus = (uint32_t)(uv >= cv ? 0 : cv - uv);
	*mib = um >= cm ? 0 : cm - um;
}

/*
 * Destinations for pair, best first, never exclude (the source): TRUSTED
 * hosts with a fresh quorum and room for target + guard, ranked.  Writes
 * at most COMIG_MAX_DESTS names into dests (comma list); returns how
 * many.  Under s->mu.
 */
static int
plan_dests(struct svc *s, const struct store_pair *pair, const char *exclude,
    char *dests, size_t cap, struct vouch_err *e)
{
	struct vec pairs = { NULL, 0, 0, sizeof(struct store_pair) };
	struct vec migs = { NULL, 0, 0, sizeof(struct store_mig) };
	struct rank_result best[COMIG_MAX_DESTS];
	struct rank_request rq;
	struct rank_cand *c = NULL;
	int64_t now = ivt_clock(s);
	size_t n, m = 0, i, k, total = ivt_size(s->ivt);
	int r;

	dests[0] = '\0';
	if ((r = store_pairs(s->store, pair_vec_cb, &pairs, e)) < 0 ||
	    (r = active_migs(s, &migs, e)) < 0)
		goto out;
	if (total == 0) {
		r = 0;
		goto out;
	}
	if ((c = calloc(total, sizeof(*c))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	n = ivt_candidates(s->ivt, now, c, total);
	if (n > total)
		n = total;
	for (i = 0; i < n; i++) {
		if (strcmp(c[i].name, exclude) == 0)
			continue;
		c[m] = c[i];
		host_spare(s, c[m].name, &pairs, &migs, &c[m].spare_vcpus,
		    &c[m].spare_mib);
		m++;
	}
	rq.vcpus = pair->vcpus;
	rq.mib = pair->mem_mib;
	k = rank_top(c, m, &s->conf.rank, &rq, now, best, COMIG_MAX_DESTS);
	for (i = 0; i < k; i++) {
		size_t used = strlen(dests);

		snprintf(dests + used, cap - used, "%s%s", i ? "," : "",
		    c[best[i].idx].name);
	}
	r = (int)k;
out:
	free(c);
	free(pairs.v);
	free(migs.v);
	return r;
}

static void
mig_init(struct svc *s, struct store_mig *m, const struct store_pair *p,
    const char *mode, int standby)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->target, sizeof(m->target), "%s", p->target);
	snprintf(m->guard, sizeof(m->guard), "%s", p->guard);
	snprintf(m->source, sizeof(m->source), "%s", p->host);
	snprintf(m->mode, sizeof(m->mode), "%s", mode);
	snprintf(m->strategy, sizeof(m->strategy), "%s", standby ? "standby" :
	    "plain");
	snprintf(m->phase, sizeof(m->phase), "%s",
	    comig_phase_name(COMIG_PH_PREPARE));
	m->created_at = m->updated_at = clock_now(s);
}

/* Plan and record the evacuation of every pair on host.  Under s->mu. */
static void
evacuate_host(struct svc *s, const char *host)
{
	struct vec pairs = { NULL, 0, 0, sizeof(struct store_pair) };
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store_mig *m;
	size_t i;

	if ((m = malloc(sizeof(*m))) == NULL ||
	    store_pairs(s->store, pair_vec_cb, &pairs, &e) < 0) {
		emit(s, SVC_ERR, "evacuation of %s not planned: %s", host,
		    m == NULL ? "out of memory" : e.msg);
		free(m);
		free(pairs.v);
		return;
	}
	for (i = 0; i < pairs.n; i++) {
		const struct store_pair *p = &((struct store_pair *)pairs.v)[i];
		int n;

		if (strcmp(p->host, host) != 0)
			continue;
		if (store_mig_active(s->store, p->target, m, NULL) == 0) {
			emit(s, SVC_INFO, "evacuation of %s: migration %lld "
			    "already running", p->target, m->id);
			continue;
		}
		mig_init(s, m, p, "evacuate", s->conf.evac_standby);
		if ((n = plan_dests(s, p, host, m->dests, sizeof(m->dests),
		    &e)) < 0) {
			emit(s, SVC_ERR, "evacuation of %s not planned: %s",
			    p->target, e.msg);
			continue;
		}
		if (n == 0) {
			snprintf(m->result, sizeof(m->result), "FAILED");
			snprintf(m->phase, sizeof(m->phase), "%s",
			    comig_phase_name(COMIG_PH_FAILED));
			snprintf(m->error, sizeof(m->error), "no trusted "
			    "destination with capacity");
			m->finished_at = m->created_at;
		}
		if (store_mig_put(s->store, m, 0, &e) < 0) {
			emit(s, SVC_ERR, "evacuation of %s not recorded: %s",
			    p->target, e.msg);
			continue;
		}
		if (n == 0) {
			evac_alert(s, host, p->target, m->id, 1, m->error);
			continue;
		}
		emit(s, SVC_WARN, "evacuating %s (guard %s) from %s: migration "
		    "%lld to %s", p->target, p->guard, host, m->id, m->dests);
		order_enqueue(s, m->id, 0, 0);
	}
	free(pairs.v);
	free(m);
}

/* Row m as the order its source gets. */
static int
mig_order_of(const struct store_mig *m, struct mig_order *o,
    struct vouch_err *e)
{
	const char *p = m->dests;

	memset(o, 0, sizeof(*o));
	o->id = (uint64_t)m->id;
	snprintf(o->target, sizeof(o->target), "%s", m->target);
	snprintf(o->guard, sizeof(o->guard), "%s", m->guard);
	snprintf(o->source, sizeof(o->source), "%s", m->source);
	o->mode = strcmp(m->mode, "manual") == 0 ? COMIG_MANUAL :
	    COMIG_EVACUATE;
	o->strategy = strcmp(m->strategy, "standby") == 0 ? COMIG_STANDBY :
	    COMIG_PLAIN;
	while (*p != '\0' && o->ndests < COMIG_MAX_DESTS) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len >= ORDER_HOST_MAX)
			return vouch_err_set(e, VOUCH_E_FORMAT, "migration "
			    "%lld: bad destination list", m->id);
		memcpy(o->dests[o->ndests], p, len);
		o->dests[o->ndests++][len] = '\0';
		p += len + (comma != NULL);
	}
	return 0;
}

/* Under s->mu: finish a running row. */
static void
mig_finish(struct svc *s, struct store_mig *m, const char *result,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
mig_finish(struct svc *s, struct store_mig *m, const char *result,
    const char *fmt, ...)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->error, sizeof(m->error), fmt, ap);
	va_end(ap);
	snprintf(m->result, sizeof(m->result), "%s", result);
	m->updated_at = m->finished_at = clock_now(s);
	if (store_mig_put(s->store, m, 0, &e) < 0) {
		emit(s, SVC_ERR, "migration %lld: not recorded: %s", m->id,
		    e.msg);
		return;
	}
	/* an evacuation that did not happen leaves a pair on a bad host */
	evac_alert(s, m->source, m->target, m->id,
	    strcmp(m->mode, "evacuate") == 0, m->error);
}

int
svc_order_next(struct svc *s, int timeout_ms, struct svc_order_job *job)
{
	int64_t until = mono_ms() + timeout_ms;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		int64_t now = clock_now(s), wait;
		size_t i;

		if (s->stopped) {
			r = -1;
			break;
		}
		for (i = 0; i < s->norders; i++)
			if (s->orders[i].not_before <= now)
				break;
		if (i < s->norders) {
			if (s->nord_inflight == s->capord_inflight) {
				size_t nc = s->capord_inflight ?
				    s->capord_inflight * 2 : 16;
				long long *nv = realloc(s->ord_inflight,
				    nc * sizeof(*nv));

				if (nv == NULL)
					break;
				s->ord_inflight = nv;
				s->capord_inflight = nc;
			}
			*job = s->orders[i];
			s->ord_inflight[s->nord_inflight++] = job->id;
			memmove(&s->orders[i], &s->orders[i + 1],
			    (s->norders - i - 1) * sizeof(*s->orders));
			s->norders--;
			r = 1;
			break;
		}
		wait = until - mono_ms();
		if (wait <= 0)
			break;
		if (wait > 100)
			wait = 100;	/* jobs become due as time passes */
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)wait * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->ord_cv, &s->mu, &ts);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Mutual TLS to the source: HELLO, MIG_ORDER -> ACK | ERROR. */
static int
tls_order(struct svc *s, const char *host, uint64_t id, const char *json,
    char *why, size_t cap, struct vouch_err *e)
{
	struct tls_conn *conn = NULL;
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	const uint8_t *f;
	size_t fl;
	uint64_t seq;
	int r;

	if ((r = host_hello(s, host, &conn, e)) < 0)
		return r;
	if ((r = wire_enc_new(WIRE_T_MIG_ORDER, &w, e)) < 0 ||
	    (r = wire_put_u64(w, WIRE_F_SEQ, id, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_JSON, json, e)) < 0 ||
	    (r = wire_enc_finish(w, &f, &fl, e)) < 0 ||
	    (r = tls_send(conn, f, fl, SVC_FRAME_TIMEOUT_MS, e)) < 0 ||
	    (r = tls_recv(conn, SVC_FRAME_TIMEOUT_MS, &m, NULL, e)) < 0)
		goto out;
	if (wire_msg_type(m) == WIRE_T_ERROR) {
		why[0] = '\0';
		(void)wire_get_str(m, WIRE_F_MESSAGE, why, cap, NULL);
		r = 1;
	} else if (wire_msg_type(m) != WIRE_T_ACK ||
	    wire_get_u64(m, WIRE_F_SEQ, &seq, NULL) < 0 || seq != id)
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s answered %s, not "
		    "ACK{%llu}", host, wire_type_name(wire_msg_type(m)),
		    (unsigned long long)id);
	else
		r = 0;
out:
	wire_msg_free(m);
	wire_enc_free(w);
	tls_close(conn);
	return r;
}

void
svc_order_run(struct svc *s, const struct svc_order_job *job)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store_mig *m;
	struct mig_order o;
	char *json = NULL, why[ERROR_MSG_MAX + 1] = "";
	char source[IVT_NAME_MAX + 1];
	int r = -1, send = 0;
	size_t i;

	if ((m = malloc(sizeof(*m))) == NULL)
		goto done;
	pthread_mutex_lock(&s->mu);
	if (store_mig_get(s->store, job->id, m, &e) < 0)
		emit(s, SVC_ERR, "order of migration %lld: %s", job->id, e.msg);
	else if (m->result[0] != '\0' || m->ordered_at != 0)
		;	/* finished or delivered meanwhile */
	else if (mig_order_of(m, &o, &e) < 0 ||
	    order_encode(&o, &json, &e) < 0)
		mig_finish(s, m, "FAILED", "order not encodable: %s", e.msg);
	else {
		send = 1;
		snprintf(source, sizeof(source), "%s", m->source);
	}
	pthread_mutex_unlock(&s->mu);
	if (!send)
		goto done;

	if (s->hooks.order != NULL)
		r = s->hooks.order(s->hooks.arg, source, (uint64_t)job->id,
		    json, why, sizeof(why), &e);
	else
		r = tls_order(s, source, (uint64_t)job->id, json, why,
		    sizeof(why), &e);

	pthread_mutex_lock(&s->mu);
	if (store_mig_get(s->store, job->id, m, NULL) == 0 &&
	    m->result[0] == '\0') {
		int64_t now = clock_now(s);

		if (r == 0) {
			if (m->ordered_at == 0) {
				m->ordered_at = now;
				m->updated_at = now;
				if (store_mig_put(s->store, m, 0, &e) < 0)
					emit(s, SVC_ERR, "migration %lld: %s",
					    m->id, e.msg);
			}
			emit(s, SVC_INFO, "migration %lld: %s accepted the "
			    "order", m->id, source);
		} else if (r > 0) {
			mig_finish(s, m, "FAILED", "%s refused the order: %s",
			    source, why[0] ? why : "ERROR");
		} else if (now - m->created_at >= evac_timeout_ms(s)) {
			mig_finish(s, m, "LOST", "source %s unreachable for "
			    "%u s: %s", source, s->conf.evac_report_timeout,
			    e.msg);
		} else {
			int64_t back = 1000LL << (job->attempts < 5 ?
			    job->attempts : 5);

			if (back > ORDER_BACKOFF_MAX_MS)
				back = ORDER_BACKOFF_MAX_MS;
			emit(s, SVC_WARN, "migration %lld: order to %s not "
			    "delivered (%s): retry in %lld ms", m->id, source,
			    e.msg, (long long)back);
			order_enqueue(s, m->id, now + back, job->attempts + 1);
		}
	}
	pthread_mutex_unlock(&s->mu);
done:
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nord_inflight; i++)
		if (s->ord_inflight[i] == job->id) {
			s->ord_inflight[i] = s->ord_inflight[--s->nord_inflight];
			break;
		}
	pthread_mutex_unlock(&s->mu);
	free(json);
	free(m);
}

size_t
svc_order_run_pending(struct svc *s)
{
	struct svc_order_job job;
	size_t n = 0;

	while (svc_order_next(s, 0, &job) == 1) {
		svc_order_run(s, &job);
		n++;
	}
	return n;
}

/* Under s->mu: running rows without news for the report timeout. */
static void
lost_check(struct svc *s, int64_t now)
{
	struct vec migs = { NULL, 0, 0, sizeof(struct store_mig) };
	struct vouch_err e = VOUCH_ERR_INIT;
	size_t i;

	if (now - s->lost_check_at < LOST_CHECK_MS)
		return;
	s->lost_check_at = now;
	if (active_migs(s, &migs, &e) < 0) {
		emit(s, SVC_ERR, "migrations: %s", e.msg);
		free(migs.v);
		return;
	}
	for (i = 0; i < migs.n; i++) {
		struct store_mig *m = &((struct store_mig *)migs.v)[i];

		if (now - m->updated_at < evac_timeout_ms(s))
			continue;
		mig_finish(s, m, "LOST", "no report from %s for %u s (last "
		    "phase %s)", m->source, s->conf.evac_report_timeout,
		    m->phase);
	}
	free(migs.v);
}

/* Under s->mu, at start: orders not yet acknowledged are sent again. */
static int
requeue_orders(struct svc *s, struct vouch_err *e)
{
	struct vec migs = { NULL, 0, 0, sizeof(struct store_mig) };
	size_t i;
	int r;

	if ((r = active_migs(s, &migs, e)) < 0) {
		free(migs.v);
		return r;
	}
	for (i = 0; i < migs.n; i++) {
		struct store_mig *m = &((struct store_mig *)migs.v)[i];

		if (m->ordered_at == 0)
			order_enqueue(s, m->id, 0, 0);
	}
	free(migs.v);
	return 0;
}

/* -- MIG_REPORT intake -- */

/* Under s->mu: apply one report; -1 with code/msg on refusal. */
static int
report_apply(struct svc_conv *c, const struct mig_report *rp, int *code,
    char *msg, size_t cap)
{
	struct svc *s = c->s;
	struct vouch_err e = VOUCH_ERR_INIT;
	struct store_mig *m;
	int r = 0;

	if ((m = malloc(sizeof(*m))) == NULL) {
		*code = VOUCH_E_NOMEM;
		snprintf(msg, cap, "out of memory");
		return -1;
	}
	if (store_mig_get(s->store, (long long)rp->id, m, &e) < 0) {
		*code = e.code;
		snprintf(msg, cap, "MIG_REPORT: migration %llu: %s",
		    (unsigned long long)rp->id, e.msg);
		r = -1;
		goto out;
	}
	if (strcmp(m->source, c->peer) != 0) {
		*code = VOUCH_E_STATE;
		snprintf(msg, cap, "MIG_REPORT: migration %lld is run by %s, "
		    "not %s", m->id, m->source, c->peer);
		r = -1;
		goto out;
	}
	if (m->result[0] != '\0')
		goto out;	/* finished: acknowledged, ignored (resends) */
	snprintf(m->phase, sizeof(m->phase), "%s", comig_phase_name(rp->phase));
	if (rp->host[0] != '\0')
		snprintf(m->host, sizeof(m->host), "%s", rp->host);
	if (rp->bytes != 0 || rp->total != 0) {
		m->bytes = rp->bytes;
		m->total = rp->total;
		m->mbps = rp->mbps;
	}
	m->updated_at = clock_now(s);
	if (m->ordered_at == 0)
		m->ordered_at = m->updated_at;	/* it runs: the order arrived */
	if (rp->final) {
		snprintf(m->result, sizeof(m->result), "%s", rp->ok ? "DONE" :
		    "FAILED");
		snprintf(m->error, sizeof(m->error), "%s", rp->error);
		m->target_paused = rp->target_paused;
		m->tries = rp->tries;
		m->downtime_ms = rp->target_downtime_ms;
		m->total_ms = rp->total_ms;
		m->finished_at = m->updated_at;
	}
	if (store_mig_put(s->store, m, rp->final && rp->ok, &e) < 0) {
		*code = VOUCH_E_IO;
		snprintf(msg, cap, "store: %s", e.msg);
		r = -1;
		goto out;
	}
	s->reports_stored++;
	if (rp->final && rp->ok)
		emit(s, SVC_INFO, "migration %lld: %s (guard %s) is on %s "
		    "(downtime %lld ms, total %lld ms)", m->id, m->target,
		    m->guard, m->host, (long long)m->downtime_ms,
		    (long long)m->total_ms);
	else if (rp->final)
		evac_alert(s, m->source, m->target, m->id, m->target_paused ||
		    strcmp(m->mode, "evacuate") == 0, m->target_paused ?
		    (m->error[0] ? m->error : "target left paused") :
		    (m->error[0] ? m->error : "migration failed"));
out:
	free(m);
	return r;
}

static void
on_reports(struct svc_conv *c, struct wire_msg *const *m, size_t n,
    struct svc_reply *out)
{
	struct svc *s = c->s;
	struct vouch_err e = VOUCH_ERR_INIT;
	char msg[ERROR_MSG_MAX] = "";
	int code = 0;
	size_t i;

	if (c->tr != SVC_TLS || c->role != WIRE_ROLE_VOUCHD) {
		conv_fail(c, out, VOUCH_E_STATE, "MIG_REPORT from %s: only "
		    "region hosts report migrations", c->peer);
		return;
	}
	for (i = 0; i < n; i++) {
		struct mig_report rp;
		const uint8_t *json;
		size_t len;
		uint64_t seq;
		int r;

		if (wire_get_u64(m[i], WIRE_F_SEQ, &seq, NULL) < 0 ||
		    wire_get_bytes(m[i], WIRE_F_JSON, &json, &len, NULL) < 0) {
			conv_fail(c, out, VOUCH_E_FORMAT, "MIG_REPORT: fields "
			    "missing");
			return;
		}
		if (report_decode((const char *)json, len, &rp, &e) < 0) {
			conv_fail(c, out, VOUCH_E_FORMAT, "MIG_REPORT: %s",
			    e.msg);
			return;
		}
		pthread_mutex_lock(&s->mu);
		r = report_apply(c, &rp, &code, msg, sizeof(msg));
		pthread_mutex_unlock(&s->mu);
		if (r < 0) {
			conv_fail(c, out, code ? code : VOUCH_E_STATE, "%s",
			    msg);
			return;
		}
		reply_ack(out, seq);
	}
	c->st = CS_EVAC;
}

/* -- ATTEST_REQUEST: a direct attestation now, answered as a VERDICT -- */

/*
 * Challenge host with a fresh nonce and verify against its enrolled AK
 * and the region policy.  Not under s->mu (network I/O).  Returns
 * IVT_PASS, IVT_FAIL or IVT_UNREACH with reason.
 */
static enum ivt_result
attest_now(struct svc *s, const char *host, char *reason, size_t cap)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct verify_result *res = NULL;
	struct evidence *ev = NULL;
	struct pair *p;
	EVP_PKEY *ak;
	uint8_t nonce[WIRE_NONCE_LEN], *evb = NULL;
	size_t evlen = 0;
	enum ivt_result result = IVT_UNREACH;
	int r;

	pthread_mutex_lock(&s->mu);
	ak = ak_ref(s, host);
	p = pair_get(s, host, s->conf.name);
	pthread_mutex_unlock(&s->mu);
	if (ak == NULL) {
		snprintf(reason, cap, "%s has no enrolled AK", host);
		result = IVT_FAIL;
		goto out;
	}
	if (p == NULL || (res = malloc(sizeof(*res))) == NULL ||
	    RAND_bytes(nonce, sizeof(nonce)) != 1) {
		snprintf(reason, cap, "out of memory or no randomness");
		result = IVT_UNREACH;
		goto out;
	}
	if (s->hooks.challenge != NULL)
		r = s->hooks.challenge(s->hooks.arg, host, nonce, s->pcr_sel,
		    0, &evb, &evlen, &e);
	else
		r = tls_challenge(s, host, nonce, s->pcr_sel, 0, &evb, &evlen,
		    &e);
	if (r < 0) {
		snprintf(reason, cap, "unreachable: %s", e.msg);
		result = IVT_UNREACH;
	} else if (reverify(s, p, ak, evb, evlen, nonce, &ev, res, &e) < 0) {
		snprintf(reason, cap, "evidence: %s", e.msg);
		result = IVT_FAIL;
	} else if (!res->pass) {
		summary_reason(reason, cap, "", res);
		result = IVT_FAIL;
	} else {
		snprintf(reason, cap, "fresh evidence verified");
		result = IVT_PASS;
	}
out:
	OPENSSL_cleanse(nonce, sizeof(nonce));
	evidence_free(ev);
	free(evb);
	free(res);
	EVP_PKEY_free(ak);
	return result;
}

static void
on_attest_request(struct svc_conv *c, const struct wire_msg *m,
    struct svc_reply *out)
{
	struct svc *s = c->s;
	struct ivt_host_rec *rec;
	struct wire_enc *w = NULL;
	char subject[WIRE_HOST_MAX + 1], reason[IVT_REASON_MAX + 64] = "";
	char text[ERROR_MSG_MAX + 1];
	enum ivt_result got;
	int trusted = 0;
	uint8_t result;

	if (c->tr != SVC_TLS || c->role != WIRE_ROLE_VOUCHD) {
		conv_fail(c, out, VOUCH_E_STATE, "ATTEST_REQUEST from %s: only "
		    "region hosts ask", c->peer);
		return;
	}
	if (wire_get_str(m, WIRE_F_SUBJECT, subject, sizeof(subject),
	    NULL) < 0) {
		conv_fail(c, out, VOUCH_E_FORMAT, "ATTEST_REQUEST: SUBJECT "
		    "missing");
		return;
	}
	if (region_find(s->region, subject) == NULL) {
		conv_fail(c, out, VOUCH_E_NOTFOUND, "ATTEST_REQUEST: %s is not "
		    "a host of the region", subject);
		return;
	}
	got = attest_now(s, subject, reason, sizeof(reason));
	if ((rec = malloc(sizeof(*rec))) != NULL) {
		pthread_mutex_lock(&s->mu);
		trusted = ivt_host_get(s->ivt, subject, rec, NULL) == 0 &&
		    rec->state == IVT_TRUSTED;
		pthread_mutex_unlock(&s->mu);
		free(rec);
	}
	if (got == IVT_PASS && !trusted) {
		snprintf(reason, sizeof(reason), "fresh evidence verified, but "
		    "%s is not TRUSTED in the IVT", subject);
		result = WIRE_RESULT_FAIL;
	} else
		result = got == IVT_PASS ? WIRE_RESULT_PASS :
		    got == IVT_FAIL ? WIRE_RESULT_FAIL : WIRE_RESULT_ERROR;
	emit(s, result == WIRE_RESULT_PASS ? SVC_INFO : SVC_WARN, "attestation "
	    "of %s asked by %s: %s (%s)", subject, c->peer,
	    result == WIRE_RESULT_PASS ? "PASS" : result == WIRE_RESULT_FAIL ?
	    "FAIL" : "ERROR", reason);
	sanitize(text, sizeof(text), reason);
	if (wire_enc_new(WIRE_T_VERDICT, &w, NULL) < 0 ||
	    wire_put_str(w, WIRE_F_SUBJECT, subject, NULL) < 0 ||
	    wire_put_str(w, WIRE_F_VERIFIER, s->conf.name, NULL) < 0 ||
	    wire_put_u64(w, WIRE_F_TIME, (uint64_t)(clock_now(s) / 1000),
	    NULL) < 0 ||
	    wire_put_u8(w, WIRE_F_RESULT, result, NULL) < 0 ||
	    wire_put_str(w, WIRE_F_REASON, text, NULL) < 0 ||
	    reply_add(out, w) < 0) {
		wire_enc_free(w);
		conv_fail(c, out, VOUCH_E_INTERNAL, "cannot encode VERDICT");
		return;
	}
	wire_enc_free(w);
	c->st = CS_EVAC;
}

/* ---- ticks ---------------------------------------------------------- */

int
svc_tick(struct svc *s, struct vouch_err *e)
{
	struct ivt_actions acts = IVT_ACTIONS_INIT;
	int64_t now;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	now = ivt_clock(s);
	if (now - s->epoch_at >= s->conf.ivt.interval_ms)
		r = epoch_next(s, e);
	if (r == 0 && (r = ivt_tick(s->ivt, now, &acts, e)) == 0)
		r = commit(s, &acts, e);
	lost_check(s, clock_now(s));
	reap_hooks(s);
	pthread_mutex_unlock(&s->mu);
	ivt_actions_free(&acts);
	return r;
}

/* ---- administration ------------------------------------------------- */

static json_object *
jstr(const char *s)
{
	return json_object_new_string(s);
}

static json_object *
jhex(const uint8_t *b, size_t n)
{
	char buf[2 * STORE_AK_NAME_MAX + 1];

	if (n > STORE_AK_NAME_MAX)
		n = STORE_AK_NAME_MAX;
	hex_encode(b, n, buf);
	return json_object_new_string(buf);
}

static json_object *
slot_json(const struct ivt_slot_rec *sl)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "verifier", jstr(sl->verifier));
	json_object_object_add(o, "result", jstr(ivt_result_name(sl->result)));
	json_object_object_add(o, "time", json_object_new_int64(sl->time));
	json_object_object_add(o, "reset_count",
	    json_object_new_int64(sl->reset_count));
	json_object_object_add(o, "accuser", json_object_new_boolean(sl->accuser));
	json_object_object_add(o, "disproved",
	    json_object_new_boolean(sl->disproved));
	json_object_object_add(o, "reason", jstr(sl->reason));
	return o;
}

/* One host; full = every field of the record (ivt, host). */
static json_object *
host_json(const struct ivt_host_rec *r, int full)
{
	json_object *o = json_object_new_object(), *v = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "name", jstr(r->name));
	json_object_object_add(o, "state", jstr(ivt_state_name(r->state)));
	json_object_object_add(o, "since", json_object_new_int64(r->since));
	json_object_object_add(o, "enrolled", json_object_new_boolean(r->enrolled));
	json_object_object_add(o, "fresh_passes",
	    json_object_new_int64(r->fresh_passes));
	json_object_object_add(o, "quorum_k", json_object_new_int64(r->quorum.k));
	json_object_object_add(o, "quorum_n", json_object_new_int64(r->quorum.n));
	json_object_object_add(o, "degraded",
	    json_object_new_boolean(r->quorum.degraded));
	json_object_object_add(o, "quorum_at", json_object_new_int64(r->quorum_at));
	for (i = 0; i < r->nslot; i++)
		json_object_array_add(v, full ? slot_json(&r->slot[i]) :
		    jstr(r->slot[i].verifier));
	json_object_object_add(o, full ? "verdicts" : "verifiers", v);
	if (!full)
		return o;
	json_object_object_add(o, "reset_known",
	    json_object_new_boolean(r->reset_known));
	json_object_object_add(o, "reset_count",
	    json_object_new_int64(r->reset_count));
	json_object_object_add(o, "passes", json_object_new_int64((int64_t)r->passes));
	json_object_object_add(o, "fails", json_object_new_int64((int64_t)r->fails));
	json_object_object_add(o, "pass_streak",
	    json_object_new_int64(r->pass_streak));
	json_object_object_add(o, "suspect_episodes",
	    json_object_new_int64(r->suspect_episodes));
	json_object_object_add(o, "last_suspect_at",
	    json_object_new_int64(r->last_suspect_at));
	json_object_object_add(o, "disproved",
	    json_object_new_int64((int64_t)r->disproved));
	json_object_object_add(o, "untrusted", json_object_new_boolean(r->untrusted));
	json_object_object_add(o, "accused", json_object_new_boolean(r->accused));
	json_object_object_add(o, "direct_unreach",
	    json_object_new_boolean(r->direct_unreach));
	json_object_object_add(o, "direct_requested_at",
	    json_object_new_int64(r->direct_requested_at));
	json_object_object_add(o, "direct_pass_at",
	    json_object_new_int64(r->direct_pass_at));
	json_object_object_add(o, "spare_vcpus",
	    json_object_new_int64(r->spare_vcpus));
	json_object_object_add(o, "spare_mib",
	    json_object_new_int64((int64_t)r->spare_mib));
	return o;
}

static json_object *
vinfo_json(const struct vinfo *v)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	json_object_object_add(o, "verifier", jstr(v->verifier));
	json_object_object_add(o, "time", json_object_new_int64(v->time));
	if (v->epoch)
		json_object_object_add(o, "epoch",
		    json_object_new_int64((int64_t)v->epoch));
	if (v->claimed)
		json_object_object_add(o, "claimed", jstr(
		    v->claimed == WIRE_RESULT_PASS ? "PASS" :
		    v->claimed == WIRE_RESULT_FAIL ? "FAIL" : "ERROR"));
	json_object_object_add(o, "reverified", v->reverified < 0 ? NULL :
	    jstr(v->reverified ? "PASS" : "FAIL"));
	json_object_object_add(o, "result", jstr(ivt_result_name(v->fed)));
	json_object_object_add(o, "evidence_bytes",
	    json_object_new_int64((int64_t)v->evidence_len));
	if (v->pcr_sel[0])
		json_object_object_add(o, "pcr_selection", jstr(v->pcr_sel));
	if (v->created[0])
		json_object_object_add(o, "created", jstr(v->created));
	if (v->have_counters) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "clock",
		    json_object_new_int64((int64_t)v->counters.clock));
		json_object_object_add(c, "reset_count",
		    json_object_new_int64(v->counters.reset_count));
		json_object_object_add(c, "restart_count",
		    json_object_new_int64(v->counters.restart_count));
		json_object_object_add(o, "counters", c);
		json_object_object_add(o, "reboot",
		    json_object_new_boolean(v->reboot));
	}
	for (i = 0; i < v->nreasons; i++)
		json_object_array_add(a, jstr(v->reason[i]));
	json_object_object_add(o, "reasons", a);
	json_object_object_add(o, "reasons_total",
	    json_object_new_int64((int64_t)v->total_reasons));
	return o;
}

static int
get_int_arg(json_object *req, const char *key, int64_t min, int64_t max,
    int64_t *out, struct vouch_err *e)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return vouch_err_set(e, VOUCH_E_FORMAT, "'%s' must be an "
		    "integer", key);
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return vouch_err_set(e, VOUCH_E_FORMAT, "'%s' must be %lld..%lld",
		    key, (long long)min, (long long)max);
	*out = x;
	return 0;
}

/* An optional string argument; *out stays NULL when absent. */
static int
get_str_arg(json_object *req, const char *key, const char **out,
    struct vouch_err *e)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return vouch_err_set(e, VOUCH_E_FORMAT, "'%s' must be a "
		    "string", key);
	*out = json_object_get_string(v);
	return 0;
}

/* One stored alert; the finding goes back as the object it was. */
static int
alert_json(void *arg, const struct store_alert *al, struct vouch_err *e)
{
	json_object *x = json_object_new_object(), *f;

	(void)e;
	json_object_object_add(x, "seq", json_object_new_int64(al->seq));
	json_object_object_add(x, "host", jstr(al->host));
	json_object_object_add(x, "target", jstr(al->target));
	json_object_object_add(x, "type", jstr(al->type));
	json_object_object_add(x, "critical",
	    json_object_new_boolean(al->critical));
	json_object_object_add(x, "time", json_object_new_int64(al->time));
	json_object_object_add(x, "received",
	    json_object_new_int64(al->received));
	/* checked when it arrived; a file edited since is shown as text */
	f = json_tokener_parse(al->json);
	json_object_object_add(x, "finding", f != NULL ? f : jstr(al->json));
	json_object_array_add(arg, x);
	return 0;
}

#define MIGS_MAX	1000	/* per admin "migrations" request */

static json_object *
pair_json(const struct store_pair *p)
{
	json_object *x = json_object_new_object();

	json_object_object_add(x, "target", json_object_new_string(p->target));
	json_object_object_add(x, "guard", json_object_new_string(p->guard));
	json_object_object_add(x, "host", json_object_new_string(p->host));
	json_object_object_add(x, "vcpus", json_object_new_int64(p->vcpus));
	json_object_object_add(x, "mem_mib",
	    json_object_new_int64((int64_t)p->mem_mib));
	json_object_object_add(x, "added_at", json_object_new_int64(p->added_at));
	return x;
}

static int
pair_json_cb(void *arg, const struct store_pair *p, struct vouch_err *e)
{
	(void)e;
	json_object_array_add(arg, pair_json(p));
	return 0;
}

static json_object *
mig_json(const struct store_mig *m)
{
	json_object *x = json_object_new_object(), *d = json_object_new_array();
	const char *p = m->dests;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		json_object_array_add(d, json_object_new_string_len(p,
		    (int)len));
		p += len + (comma != NULL);
	}
	json_object_object_add(x, "id", json_object_new_int64(m->id));
	json_object_object_add(x, "target", json_object_new_string(m->target));
	json_object_object_add(x, "guard", json_object_new_string(m->guard));
	json_object_object_add(x, "source", json_object_new_string(m->source));
	json_object_object_add(x, "dests", d);
	json_object_object_add(x, "mode", json_object_new_string(m->mode));
	json_object_object_add(x, "strategy",
	    json_object_new_string(m->strategy));
	json_object_object_add(x, "phase", json_object_new_string(m->phase));
	json_object_object_add(x, "host", json_object_new_string(m->host));
	json_object_object_add(x, "bytes",
	    json_object_new_int64((int64_t)m->bytes));
	json_object_object_add(x, "total",
	    json_object_new_int64((int64_t)m->total));
	json_object_object_add(x, "mbps", json_object_new_double(m->mbps));
	json_object_object_add(x, "result", json_object_new_string(m->result));
	json_object_object_add(x, "error", json_object_new_string(m->error));
	json_object_object_add(x, "target_paused",
	    json_object_new_boolean(m->target_paused));
	json_object_object_add(x, "tries", json_object_new_int(m->tries));
	json_object_object_add(x, "downtime_ms",
	    json_object_new_int64(m->downtime_ms));
	json_object_object_add(x, "total_ms", json_object_new_int64(m->total_ms));
	json_object_object_add(x, "created_at",
	    json_object_new_int64(m->created_at));
	json_object_object_add(x, "updated_at",
	    json_object_new_int64(m->updated_at));
	json_object_object_add(x, "finished_at",
	    json_object_new_int64(m->finished_at));
	json_object_object_add(x, "ordered_at",
	    json_object_new_int64(m->ordered_at));
	return x;
}

static int
mig_json_cb(void *arg, const struct store_mig *m, struct vouch_err *e)
{
	(void)e;
	json_object_array_add(arg, mig_json(m));
	return 0;
}

/* Under s->mu. */
static int
admin_cmd(struct svc *s, const char *cmd, json_object *req, json_object *o,
    struct vouch_err *e)
{
	struct ivt_host_rec *rec = NULL;
	int64_t now = ivt_clock(s);
	size_t i, n = ivt_size(s->ivt);
	int r = 0;

	json_object_object_add(o, "now", json_object_new_int64(now));
	if ((rec = malloc(sizeof(*rec))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if (strcmp(cmd, "status") == 0) {
		int64_t count[IVT_UNREACHABLE + 1] = { 0 }, enrolled = 0;
		json_object *st = json_object_new_object();

		for (i = 0; i < n; i++)
			if (ivt_host_get(s->ivt, ivt_host_name(s->ivt, i), rec,
			    NULL) == 0) {
				count[rec->state]++;
				enrolled += rec->enrolled;
			}
		json_object_object_add(o, "name", jstr(s->conf.name));
		json_object_object_add(o, "region", jstr(region_name(s->region)));
		json_object_object_add(o, "policy", jstr(policy_name(s->policy)));
		json_object_object_add(o, "store", jstr(s->conf.store));
		json_object_object_add(o, "epoch",
		    json_object_new_int64((int64_t)s->epoch));
		json_object_object_add(o, "interval_s",
		    json_object_new_int64(s->conf.ivt.interval_ms / 1000));
		json_object_object_add(o, "freshness_s",
		    json_object_new_int64(s->conf.ivt.freshness_ms / 1000));
		json_object_object_add(o, "quorum", json_object_new_int64(
		    s->conf.ivt.quorum));
		json_object_object_add(o, "neighbours", json_object_new_int64(
		    s->conf.ivt.neighbours));
		json_object_object_add(o, "hosts", json_object_new_int64((int64_t)n));
		json_object_object_add(o, "enrolled", json_object_new_int64(enrolled));
		for (i = 0; i <= IVT_UNREACHABLE; i++)
			json_object_object_add(st, ivt_state_name(
			    (enum ivt_state)i), json_object_new_int64(count[i]));
		json_object_object_add(o, "states", st);
		json_object_object_add(o, "ek_ca_checked",
		    json_object_new_boolean(s->conf.ek_ca[0] != '\0'));
		json_object_object_add(o, "uptime_s",
		    json_object_new_int64((now - s->started) / 1000));
		json_object_object_add(o, "verdicts_applied",
		    json_object_new_int64((int64_t)s->verdicts_applied));
		json_object_object_add(o, "verdicts_refused",
		    json_object_new_int64((int64_t)s->verdicts_refused));
		json_object_object_add(o, "direct_queued",
		    json_object_new_int64((int64_t)s->nqueue));
		json_object_object_add(o, "alerts_stored",
		    json_object_new_int64((int64_t)s->alerts_stored));
		json_object_object_add(o, "alerts_refused",
		    json_object_new_int64((int64_t)s->alerts_refused));
	} else if (strcmp(cmd, "hosts") == 0 || strcmp(cmd, "ivt") == 0) {
		json_object *a = json_object_new_array();
		int full = strcmp(cmd, "ivt") == 0;

		for (i = 0; i < n; i++)
			if (ivt_host_get(s->ivt, ivt_host_name(s->ivt, i), rec,
			    NULL) == 0)
				json_object_array_add(a, host_json(rec, full));
		json_object_object_add(o, "hosts", a);
	} else if (strcmp(cmd, "host") == 0) {
		json_object *v;
		const char *name;
		struct hinfo *h;
		struct ak_ent *ak;

		if (!json_object_object_get_ex(req, "name", &v) ||
		    (name = json_object_get_string(v)) == NULL ||
		    !json_object_is_type(v, json_type_string)) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "host: 'name' "
			    "(string) required");
			goto out;
		}
		if (ivt_host_get(s->ivt, name, rec, NULL) < 0) {
			r = vouch_err_set(e, VOUCH_E_NOTFOUND, "host %s: not in "
			    "the IVT", name);
			goto out;
		}
		json_object_object_add(o, "host", host_json(rec, 1));
		if ((ak = smap_get(&s->aks, name)) != NULL) {
			json_object *a = json_object_new_object();

			json_object_object_add(a, "name", jhex(ak->rec.ak_name,
			    ak->rec.ak_name_len));
			json_object_object_add(a, "ek_sha256",
			    jhex(ak->rec.ek_sha256, 32));
			json_object_object_add(a, "enrolled_at",
			    json_object_new_int64(ak->rec.enrolled_at));
			json_object_object_add(o, "ak", a);
		}
		if ((h = smap_get(&s->info, name)) != NULL) {
			if (h->verdict.valid)
				json_object_object_add(o, "last_verdict",
				    vinfo_json(&h->verdict));
			if (h->direct.valid)
				json_object_object_add(o, "last_direct",
				    vinfo_json(&h->direct));
		}
	} else if (strcmp(cmd, "rank") == 0) {
		const char *names[IVT_RANK_MAX];
		int64_t scores[IVT_RANK_MAX], vcpus = 0, mib = 0, max = 10;
		struct rank_request rq;
		json_object *a = json_object_new_array();
		size_t k;

		json_object_object_add(o, "rank", a);
		if ((r = get_int_arg(req, "vcpus", 0, UINT32_MAX, &vcpus, e)) < 0 ||
		    (r = get_int_arg(req, "mib", 0, INT64_MAX, &mib, e)) < 0 ||
		    (r = get_int_arg(req, "max", 1, IVT_RANK_MAX, &max, e)) < 0)
			goto out;
		rq.vcpus = (uint32_t)vcpus;
		rq.mib = (uint64_t)mib;
		k = ivt_rank(s->ivt, now, &s->conf.rank, &rq, names, scores,
		    (size_t)max);
		for (i = 0; i < k; i++) {
			json_object *x = json_object_new_object();

			json_object_object_add(x, "name", jstr(names[i]));
			json_object_object_add(x, "score",
			    json_object_new_int64(scores[i]));
			json_object_array_add(a, x);
		}
	} else if (strcmp(cmd, "events") == 0) {
		struct ivt_action *ev;
		int64_t after = 0, max = 100;
		json_object *a = json_object_new_array();
		int k, j;

		json_object_object_add(o, "events", a);
		if ((r = get_int_arg(req, "after", 0, INT64_MAX, &after, e)) < 0 ||
		    (r = get_int_arg(req, "max", 1, EVENTS_MAX, &max, e)) < 0)
			goto out;
		if ((ev = calloc((size_t)max, sizeof(*ev))) == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
			goto out;
		}
		if ((k = store_events(s->store, after, ev, (int)max, e)) < 0) {
			free(ev);
			r = k;
			goto out;
		}
		/* The event log is append-only: sequence numbers are dense. */
		for (j = 0; j < k; j++) {
			json_object *x = json_object_new_object();

			json_object_object_add(x, "seq",
			    json_object_new_int64(after + j + 1));
			json_object_object_add(x, "time",
			    json_object_new_int64(ev[j].time));
			json_object_object_add(x, "kind",
			    jstr(ivt_act_name(ev[j].kind)));
			json_object_object_add(x, "host", jstr(ev[j].host));
			if (ev[j].verifier[0])
				json_object_object_add(x, "verifier",
				    jstr(ev[j].verifier));
			if (ev[j].kind == IVT_ACT_STATE) {
				json_object_object_add(x, "from",
				    jstr(ivt_state_name(ev[j].from)));
				json_object_object_add(x, "to",
				    jstr(ivt_state_name(ev[j].to)));
			}
			if (ev[j].reason[0])
				json_object_object_add(x, "reason",
				    jstr(ev[j].reason));
			json_object_array_add(a, x);
		}
		json_object_object_add(o, "last", json_object_new_int64(after + k));
		free(ev);
	} else if (strcmp(cmd, "ak") == 0) {
		/*
		 * The registrar hands neighbours each other's AK public keys
		 * (DESIGN.md, trust model): what vouchd appraises with.
		 */
		json_object *v;
		const char *name;
		struct ak_ent *ak;
		BIO *bio;
		BUF_MEM *bm;

		if (!json_object_object_get_ex(req, "host", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    (name = json_object_get_string(v)) == NULL) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "ak: 'host' "
			    "(string) required");
			goto out;
		}
		if ((ak = smap_get(&s->aks, name)) == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOTFOUND, "ak: %s has no "
			    "enrolled AK", name);
			goto out;
		}
		if ((bio = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_PUBKEY(bio, ak->key) != 1) {
			BIO_free(bio);
			r = vouch_err_set(e, VOUCH_E_CRYPTO, "ak: PEM encoding");
			goto out;
		}
		BIO_get_mem_ptr(bio, &bm);
		json_object_object_add(o, "host", jstr(name));
		json_object_object_add(o, "ak_pem",
		    json_object_new_string_len(bm->data, (int)bm->length));
		json_object_object_add(o, "ak_name", jhex(ak->rec.ak_name,
		    ak->rec.ak_name_len));
		BIO_free(bio);
	} else if (strcmp(cmd, "alerts") == 0) {
		struct store_alert_query q = { NULL, NULL, 100 };
		json_object *a = json_object_new_array();
		int64_t max = 100;

		json_object_object_add(o, "alerts", a);
		if ((r = get_str_arg(req, "host", &q.host, e)) < 0 ||
		    (r = get_str_arg(req, "target", &q.target, e)) < 0 ||
		    (r = get_int_arg(req, "max", 1, ALERTS_MAX, &max, e)) < 0)
			goto out;
		q.max = (int)max;
		if ((r = store_alerts(s->store, &q, alert_json, a, e)) < 0)
			goto out;
	} else if (strcmp(cmd, "protect") == 0) {
		struct store_pair p;
		const char *target = NULL, *guard = NULL, *host = NULL;
		int64_t vcpus = 0, mib = 0;

		if ((r = get_str_arg(req, "target", &target, e)) < 0 ||
		    (r = get_str_arg(req, "guard", &guard, e)) < 0 ||
		    (r = get_str_arg(req, "host", &host, e)) < 0 ||
		    (r = get_int_arg(req, "vcpus", 0, 1000000, &vcpus, e)) < 0 ||
		    (r = get_int_arg(req, "mem_mib", 0, 1LL << 40, &mib, e)) < 0)
			goto out;
		if (target == NULL || guard == NULL || host == NULL) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "protect: 'target', "
			    "'guard' and 'host' (strings) required");
			goto out;
		}
		if (!order_vm_name_ok(target) || !order_vm_name_ok(guard) ||
		    strcmp(target, guard) == 0) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "protect: target "
			    "and guard must be two different VM names "
			    "([A-Za-z0-9._-], 1..%d bytes)", STORE_VM_MAX - 1);
			goto out;
		}
		if (region_find(s->region, host) == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOTFOUND, "protect: %s is "
			    "not a host of the region", host);
			goto out;
		}
		memset(&p, 0, sizeof(p));
		snprintf(p.target, sizeof(p.target), "%s", target);
		snprintf(p.guard, sizeof(p.guard), "%s", guard);
		snprintf(p.host, sizeof(p.host), "%s", host);
		p.vcpus = (uint32_t)vcpus;
		p.mem_mib = (uint64_t)mib;
		p.added_at = now;
		if ((r = store_pair_put(s->store, &p, e)) < 0)
			goto out;
		json_object_object_add(o, "pair", pair_json(&p));
	} else if (strcmp(cmd, "unprotect") == 0) {
		const char *target = NULL;
		struct store_mig *m;

		if ((r = get_str_arg(req, "target", &target, e)) < 0)
			goto out;
		if (target == NULL) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "unprotect: 'target' "
			    "(string) required");
			goto out;
		}
		if ((m = malloc(sizeof(*m))) == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
			goto out;
		}
		if (store_mig_active(s->store, target, m, NULL) == 0) {
			r = vouch_err_set(e, VOUCH_E_STATE, "unprotect: %s is "
			    "being migrated (migration %lld)", target, m->id);
			free(m);
			goto out;
		}
		free(m);
		if ((r = store_pair_del(s->store, target, e)) < 0)
			goto out;
		json_object_object_add(o, "target", jstr(target));
	} else if (strcmp(cmd, "pairs") == 0) {
		json_object *a = json_object_new_array();

		json_object_object_add(o, "pairs", a);
		if ((r = store_pairs(s->store, pair_json_cb, a, e)) < 0)
			goto out;
	} else if (strcmp(cmd, "migrations") == 0) {
		json_object *a = json_object_new_array();
		int64_t id = 0, limit = 50;
		const char *target = NULL;

		json_object_object_add(o, "migrations", a);
		if ((r = get_int_arg(req, "id", 1, INT64_MAX, &id, e)) < 0 ||
		    (r = get_int_arg(req, "limit", 1, MIGS_MAX, &limit, e)) < 0 ||
		    (r = get_str_arg(req, "target", &target, e)) < 0)
			goto out;
		if (id > 0) {
			struct store_mig *m = malloc(sizeof(*m));

			if (m == NULL) {
				r = vouch_err_set(e, VOUCH_E_NOMEM, "out of "
				    "memory");
				goto out;
			}
			if ((r = store_mig_get(s->store, id, m, e)) == 0)
				json_object_array_add(a, mig_json(m));
			free(m);
			if (r < 0)
				goto out;
		} else {
			struct store_mig_query q = { target, 0, (int)limit };

			if ((r = store_migs(s->store, &q, mig_json_cb, a, e)) < 0)
				goto out;
		}
	} else if (strcmp(cmd, "migrate") == 0) {
		const char *target = NULL, *to = NULL;
		struct store_pair p;
		struct store_mig *m;
		char dests[sizeof(m->dests)];
		int k, found = 0;

		if ((r = get_str_arg(req, "target", &target, e)) < 0 ||
		    (r = get_str_arg(req, "to", &to, e)) < 0)
			goto out;
		if (target == NULL || to == NULL) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "migrate: 'target' "
			    "and 'to' (strings) required");
			goto out;
		}
		if ((r = store_pair_get(s->store, target, &p, e)) < 0)
			goto out;
		if ((m = malloc(sizeof(*m))) == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
			goto out;
		}
		if (store_mig_active(s->store, target, m, NULL) == 0) {
			r = vouch_err_set(e, VOUCH_E_STATE, "migrate: %s is "
			    "already being migrated (migration %lld)", target,
			    m->id);
			free(m);
			goto out;
		}
		if (strcmp(to, p.host) == 0) {
			free(m);
			r = vouch_err_set(e, VOUCH_E_STATE, "migrate: %s already "
			    "runs on %s", target, to);
			goto out;
		}
		if (ivt_host_get(s->ivt, to, rec, NULL) < 0 ||
		    rec->state != IVT_TRUSTED) {
			free(m);
			r = vouch_err_set(e, VOUCH_E_STATE, "migrate: %s is %s, "
			    "not TRUSTED", to, ivt_host_get(s->ivt, to, rec,
			    NULL) < 0 ? "not in the IVT" :
			    ivt_state_name(rec->state));
			goto out;
		}
		if ((k = plan_dests(s, &p, p.host, dests, sizeof(dests),
		    e)) < 0) {
			free(m);
			r = k;
			goto out;
		}
		for (i = 0; i < (size_t)k; i++) {
			const char *d = dests;
			size_t j;

			for (j = 0; j < i; j++)
				d = strchr(d, ',') + 1;
			if (strncmp(d, to, strlen(to)) == 0 &&
			    (d[strlen(to)] == ',' || d[strlen(to)] == '\0'))
				found = 1;
		}
		if (!found) {
			free(m);
			r = vouch_err_set(e, VOUCH_E_STATE, "migrate: %s is not "
			    "an eligible destination for %s (%u vCPUs, %llu "
			    "MiB: stale quorum or no capacity)", to, target,
			    p.vcpus, (unsigned long long)p.mem_mib);
			goto out;
		}
		mig_init(s, m, &p, "manual", s->conf.evac_standby);
		snprintf(m->dests, sizeof(m->dests), "%s", to);
		if ((r = store_mig_put(s->store, m, 0, e)) < 0) {
			free(m);
			goto out;
		}
		emit(s, SVC_INFO, "manual migration %lld: %s (guard %s) from %s "
		    "to %s", m->id, m->target, m->guard, m->source, to);
		order_enqueue(s, m->id, 0, 0);
		json_object_object_add(o, "id", json_object_new_int64(m->id));
		free(m);
	} else if (strcmp(cmd, "epoch-advance") == 0) {
		if (!s->conf.allow_faults) {
			r = vouch_err_set(e, VOUCH_E_STATE, "epoch-advance is a "
			    "lab command: set lab.allow_faults");
			goto out;
		}
		if ((r = epoch_next(s, e)) < 0)
			goto out;
		json_object_object_add(o, "epoch",
		    json_object_new_int64((int64_t)s->epoch));
	} else
		r = vouch_err_set(e, VOUCH_E_FORMAT, "unknown command '%s' "
		    "(status, hosts, ivt, rank, host, events, alerts, ak, pairs, "
		    "protect, unprotect, migrations, migrate)", cmd);
out:
	free(rec);
	return r;
}

/* host_only: a region host (not an admin) may ask for AKs and no more. */
static int
admin_request(struct svc *s, const char *json, size_t len, int host_only,
    char **reply, struct vouch_err *e)
{
	struct json_tokener *tok;
	json_object *req, *v, *o;
	const char *cmd, *text;
	int r;

	if (len > INT32_MAX || (tok = json_tokener_new_ex(8)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	req = json_tokener_parse_ex(tok, json, (int)len);
	if (req != NULL && json_tokener_get_parse_end(tok) != len) {
		json_object_put(req);
		req = NULL;
	}
	json_tokener_free(tok);
	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		json_object_put(req);
		return vouch_err_set(e, VOUCH_E_FORMAT, "request: not a JSON "
		    "object");
	}
	if (!json_object_object_get_ex(req, "cmd", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		json_object_put(req);
		return vouch_err_set(e, VOUCH_E_FORMAT, "request: 'cmd' "
		    "(string) required");
	}
	cmd = json_object_get_string(v);
	if (host_only && strcmp(cmd, "ak") != 0) {
		r = vouch_err_set(e, VOUCH_E_STATE, "'%s' is for admins; "
		    "hosts may ask for 'ak' only", cmd);
		json_object_put(req);	/* cmd lives in req: after the message */
		return r;
	}
	o = json_object_new_object();
	json_object_object_add(o, "cmd", jstr(cmd));
	pthread_mutex_lock(&s->mu);
	r = admin_cmd(s, cmd, req, o, e);
	pthread_mutex_unlock(&s->mu);
	if (r == 0) {
		text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		if (strlen(text) > ADMIN_JSON_MAX)
			r = vouch_err_set(e, VOUCH_E_LIMIT, "reply over %u bytes",
			    ADMIN_JSON_MAX);
		else if ((*reply = strdup(text)) == NULL)
			r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	json_object_put(o);
	json_object_put(req);
	return r;
}

int
svc_admin(struct svc *s, const char *json, size_t len, char **reply,
    struct vouch_err *e)
{
	return admin_request(s, json, len, 0, reply, e);
}

/* ---- frames over a file descriptor ---------------------------------- */

static int
fd_wait(int fd, short ev, int64_t deadline, struct vouch_err *e)
{
	struct pollfd p;
	struct timespec ts;
	int64_t left;
	int r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		left = deadline < 0 ? -1 : deadline -
		    ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		if (deadline >= 0 && left <= 0)
			return vouch_err_set(e, VOUCH_E_IO, "timed out");
		p.fd = fd;
		p.events = ev;
		p.revents = 0;
		r = poll(&p, 1, left < 0 ? -1 : (int)(left > INT32_MAX ?
		    INT32_MAX : left));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return vouch_err_set(e, VOUCH_E_IO, "poll: %s",
			    strerror(errno));
	}
}

static int64_t
deadline_of(int timeout_ms)
{
	struct timespec ts;

	if (timeout_ms < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
}

static int
fd_read_full(int fd, uint8_t *buf, size_t len, int64_t deadline,
    struct vouch_err *e)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		int r;

		if ((r = fd_wait(fd, POLLIN, deadline, e)) < 0)
			return r;
		n = read(fd, buf + got, len - got);
		if (n == 0)
			return vouch_err_set(e, VOUCH_E_IO, "peer closed the "
			    "connection");
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return vouch_err_set(e, VOUCH_E_IO, "read: %s",
			    strerror(errno));
		}
		got += (size_t)n;
	}
	return 0;
}

int
svc_fd_recv(int fd, int timeout_ms, struct wire_msg **out,
    enum wire_reason *why, struct vouch_err *e)
{
	uint8_t hdr[WIRE_HDR_LEN], *buf;
	struct wire_hdr h;
	int64_t deadline = deadline_of(timeout_ms);
	int r;

	if (why != NULL)
		*why = WIRE_R_OK;
	if ((r = fd_read_full(fd, hdr, sizeof(hdr), deadline, e)) < 0)
		return r;
	if ((r = wire_decode_header(hdr, sizeof(hdr), &h, why, e)) < 0)
		return r;
	if ((buf = malloc(WIRE_HDR_LEN + (size_t)h.body_len)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	memcpy(buf, hdr, sizeof(hdr));
	if ((r = fd_read_full(fd, buf + WIRE_HDR_LEN, h.body_len, deadline,
	    e)) < 0 ||
	    (r = wire_decode_owned(buf, WIRE_HDR_LEN + (size_t)h.body_len, out,
	    why, e)) < 0) {
		free_secret(buf, WIRE_HDR_LEN + (size_t)h.body_len);
		return r;
	}
	return 0;
}

int
svc_fd_send(int fd, const uint8_t *frame, size_t len, int timeout_ms,
    struct vouch_err *e)
{
	int64_t deadline = deadline_of(timeout_ms);
	size_t off = 0;

	while (off < len) {
		ssize_t n;
		int r;

		if ((r = fd_wait(fd, POLLOUT, deadline, e)) < 0)
			return r;
		n = write(fd, frame + off, len - off);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return vouch_err_set(e, VOUCH_E_IO, "write: %s",
			    strerror(errno));
		}
		off += (size_t)n;
	}
	return 0;
}

/* ---- life cycle ----------------------------------------------------- */

static int
load_ak(void *arg, const struct store_ak *rec, struct vouch_err *e)
{
	struct svc *s = arg;
	const unsigned char *p = rec->spki;
	struct ak_ent *a;
	int r;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	a->rec = *rec;
	if ((a->key = d2i_PUBKEY(NULL, &p, (long)rec->spki_len)) == NULL ||
	    p != rec->spki + rec->spki_len) {
		free(a);
		return vouch_err_set(e, VOUCH_E_FORMAT, "store: AK of %s: not "
		    "a SubjectPublicKeyInfo", rec->host);
	}
	if ((r = smap_put(&s->aks, rec->host, a)) < 0) {
		ak_free(a);
		return vouch_err_set(e, r, "out of memory");
	}
	return 0;
}

/* Hosts of the region join, others leave; enrolled = has an AK. */
static int
reconcile(struct svc *s, struct ivt_actions *acts, struct vouch_err *e)
{
	struct ivt_host_rec *rec;
	const char **gone = NULL;
	int64_t now = ivt_clock(s);
	size_t i, n, ngone = 0;
	int r = 0;

	if ((rec = malloc(sizeof(*rec))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; r == 0 && i < region_count(s->region); i++) {
		const char *name = region_get(s->region, i)->name;
		int has_ak = smap_get(&s->aks, name) != NULL;

		if (strlen(name) > IVT_NAME_MAX) {
			r = vouch_err_set(e, VOUCH_E_CONFIG, "region host %s: "
			    "names of the RC-TCB are at most %d bytes", name,
			    IVT_NAME_MAX);
			break;
		}
		if (ivt_host_get(s->ivt, name, rec, NULL) < 0)
			r = ivt_host_join(s->ivt, name, has_ak, now, acts, NULL,
			    e);
		else if (has_ak && !rec->enrolled)
			r = ivt_host_enrol(s->ivt, name, now, acts, NULL, e);
	}
	n = ivt_size(s->ivt);
	if (r == 0 && (gone = calloc(n + 1, sizeof(*gone))) == NULL)
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	for (i = 0; r == 0 && i < n; i++) {
		const char *name = ivt_host_name(s->ivt, i);

		if (region_find(s->region, name) == NULL &&
		    (gone[ngone++] = strdup(name)) == NULL)
			r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	for (i = 0; i < ngone; i++) {
		if (r == 0 && gone[i] != NULL)
			r = ivt_host_leave(s->ivt, gone[i], now, acts, NULL, e);
		free((char *)gone[i]);
	}
	free(gone);
	free(rec);
	return r;
}

int
svc_new(const struct tcbd_conf *c, const struct svc_hooks *hooks,
    struct svc **out, struct vouch_err *e)
{
	struct ivt_actions acts = IVT_ACTIONS_INIT;
	struct svc *s;
	int64_t ep = 0;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->jobs_cv, NULL);
	pthread_cond_init(&s->ord_cv, NULL);
	pthread_cond_init(&s->gc_cv, NULL);
	s->conf = *c;
	if (hooks != NULL)
		s->hooks = *hooks;
	s->started = clock_now(s);
	if ((r = region_load(c->region, &s->region, e)) < 0 ||
	    (r = policy_load(c->policy, &s->policy, e)) < 0)
		goto fail;
	if (strcmp(region_tcbd(s->region)->name, c->name) != 0) {
		r = vouch_err_set(e, VOUCH_E_CONFIG, "%s: name '%s' is not the "
		    "region's tcbd ('%s' in %s)", c->path, c->name,
		    region_tcbd(s->region)->name, c->region);
		goto fail;
	}
	if (pcr_selection_format(policy_pcrs(s->policy), s->pcr_sel,
	    sizeof(s->pcr_sel)) < 0) {
		r = vouch_err_set(e, VOUCH_E_CONFIG, "%s: PCR selection too "
		    "long", c->policy);
		goto fail;
	}
	if (s->hooks.challenge == NULL &&
	    (r = tls_ctx_new(TLS_CLIENT, c->tls_cert, c->tls_key, c->tls_ca,
	    &s->client, e)) < 0)
		goto fail;
	if ((r = store_open(c->store, &s->store, e)) < 0 ||
	    (r = ivt_new(&c->ivt, &s->ivt, e)) < 0 ||
	    (r = store_load(s->store, s->ivt, clock_now(s), &acts, e)) < 0 ||
	    (r = store_aks_load(s->store, load_ak, s, e)) < 0 ||
	    (r = reconcile(s, &acts, e)) < 0 ||
	    (r = store_sync(s->store, s->ivt, &acts, e)) < 0)
		goto fail;
	if ((r = store_meta_get(s->store, "epoch", &ep, e)) < 0 &&
	    r != VOUCH_E_NOTFOUND)
		goto fail;
	s->epoch = ep > 0 ? (uint64_t)ep : 0;
	/* The previous run's random is gone: its epoch is not "previous". */
	if ((r = epoch_next(s, e)) < 0)
		goto fail;
	s->have_prev = 0;
	pthread_mutex_lock(&s->mu);
	perform(s, &acts);
	/* Orders a previous run planned but never delivered. */
	r = requeue_orders(s, e);
	pthread_mutex_unlock(&s->mu);
	if (r < 0)
		goto fail;
	ivt_actions_free(&acts);
	*out = s;
	return 0;
fail:
	ivt_actions_free(&acts);
	svc_free(s);
	return r;
}

void
svc_free(struct svc *s)
{
	if (s == NULL)
		return;
	reap_hooks(s);
	smap_free(&s->aks, ak_free);
	smap_free(&s->info, free);
	smap_free(&s->pairs, pair_free);
	ivt_free(s->ivt);
	store_free(s->store);
	tls_ctx_free(s->client);
	policy_free(s->policy);
	region_free(s->region);
	free(s->queue);
	free(s->inflight);
	free(s->orders);
	free(s->ord_inflight);
	pthread_cond_destroy(&s->ord_cv);
	pthread_cond_destroy(&s->gc_cv);
	ivt_actions_free(&s->gc_acts);
	OPENSSL_cleanse(s->rnd, sizeof(s->rnd));
	OPENSSL_cleanse(s->prev_rnd, sizeof(s->prev_rnd));
	pthread_cond_destroy(&s->jobs_cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
