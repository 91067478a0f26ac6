/*
 * agent.c - vouchd's logic: evidence, runtime measurement, enrolment,
 * epochs, challenges, verdicts.  The steps and their contracts are in
 * agent.h; the conversations in docs/protocol.md.
 *
 * Layout:
 *	agent_priv_*	the privileged half: the only code that touches
 *			the TPM or the runtime log, in its own process
 *			(vouchd) or in-process; reached only through
 *			priv_call(), one fixed request at a time
 *	wire helpers	HELLO exchange, typed receive, ERROR
 *	conversations	serve (3/5), enrol (1), epoch (2), attest (3),
 *			report (4), AK fetch (6)
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/util.h"
#include "measure/imalog.h"
#include "measure/rtlog.h"
#include "attest/agent.h"
#include "attest/agent_client.h"
#include "attest/enrol.h"
#include "attest/evidence.h"
#include "attest/tpm.h"

#define AK_PEM_MAX	8192

struct file_state {
	const char	*path;		/* the policy's, borrowed */
	int		 logged;	/* digest holds the last logged one */
	uint8_t		 digest[PCR_DIGEST_MAX];
};

struct ak_entry {
	char		 host[WIRE_HOST_MAX + 1];
	EVP_PKEY	*pk;
};

struct qverdict {
	char		 subject[WIRE_HOST_MAX + 1];
	uint64_t	 time;
	uint64_t	 epoch;
	uint64_t	 seq;
	uint8_t		 result;
	size_t		 nreasons;
	char		*reasons[VERIFY_MAX_REASONS];
	uint8_t		*evidence;	/* as the subject sent it; may be NULL */
	size_t		 evidence_len;
};

/* The privileged half: the TPM, the AK, the runtime log. */
struct agent_priv {
	const struct agent_conf	*conf;
	struct tpm_ctx		*tpm;
	struct tpm_ak		*ak;
	uint16_t		 banks[PCR_BANKS_MAX];
	size_t			 nbanks;
	uint16_t		 rt_alg;	/* bank for log reconciliation */
	int			 rtlog_dirty;	/* an extend failed: reconcile */
	struct file_state	*files;		/* the policy's, in order */
	size_t			 nfiles;
	char			 note[AGENT_NOTE_MAX];
};

struct agent {
	const struct agent_conf	*conf;

	/* One request at a time to the privileged half. */
	pthread_mutex_t		 priv_lock;
	struct agent_priv	*local;		/* in-process, or NULL */
	int			 priv_fd;	/* to the privileged process */
	int			 priv_dead;	/* it went away */

	/* Read-only after agent_new. */
	struct tls_ctx		*srv;
	struct tls_ctx		*cli;
	char			 pcr_sel[256];	/* the policy's, formatted */
	char			 note[AGENT_NOTE_MAX];

	/* The periodic thread's own state. */
	struct ak_entry		*aks;
	size_t			 naks;
	struct verify_history	*hist;
	struct qverdict		*q;
	size_t			 nq;
	uint64_t		 seq;
	int			 have_epoch;
	uint64_t		 last_epoch;
	int			 enrolled;

	/* Set once before serving: the MIG_ORDER handler. */
	agent_order_fn		 order_fn;
	void			*order_arg;
};

/* ---- pure helpers ----------------------------------------------------- */

int
agent_nonce(const uint8_t random[WIRE_EPOCH_RANDOM_LEN], uint64_t epoch,
    const char *verifier, const char *subject,
    uint8_t nonce[WIRE_NONCE_LEN], struct vouch_err *e)
{
	static const uint8_t zero = 0;
	EVP_MD_CTX *md;
	uint8_t be[8];
	unsigned int n = 0;
	int i, ok;

	if (verifier == NULL || subject == NULL ||
	    !wire_host_name_ok(verifier, strlen(verifier)) ||
	    !wire_host_name_ok(subject, strlen(subject)))
		return vouch_err_set(e, VOUCH_E_INVAL, "nonce: verifier and "
		    "subject must be host names");
	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)(epoch >> (56 - 8 * i));
	if ((md = EVP_MD_CTX_new()) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, AGENT_NONCE_LABEL,
	    strlen(AGENT_NONCE_LABEL)) == 1 &&
	    EVP_DigestUpdate(md, random, WIRE_EPOCH_RANDOM_LEN) == 1 &&
	    EVP_DigestUpdate(md, be, sizeof(be)) == 1 &&
	    EVP_DigestUpdate(md, verifier, strlen(verifier)) == 1 &&
	    EVP_DigestUpdate(md, &zero, 1) == 1 &&
	    EVP_DigestUpdate(md, subject, strlen(subject)) == 1 &&
	    EVP_DigestFinal_ex(md, nonce, &n) == 1 && n == WIRE_NONCE_LEN;
	EVP_MD_CTX_free(md);
	if (!ok)
		return vouch_err_set(e, VOUCH_E_CRYPTO, "nonce: SHA-256 "
		    "failed");
	return 0;
}

uint8_t
agent_apply_lie(enum agent_lie lie, uint8_t honest)
{
	if (honest == WIRE_RESULT_ERROR)
		return honest;
	switch (lie) {
	case AGENT_LIE_FAIL:	return WIRE_RESULT_FAIL;
	case AGENT_LIE_PASS:	return WIRE_RESULT_PASS;
	case AGENT_LIE_NONE:	break;
	}
	return honest;
}

static void
pcr_initial(uint32_t pcr, size_t size, uint8_t *out)
{
	/* PCRs 17-22 (D-RTM) reset to all ones, the others to zero. */
	memset(out, pcr >= 17 && pcr <= 22 ? 0xff : 0x00, size);
}

/* ---- the privileged half: TPM and runtime log ------------------------- */

/*
 * The fixed request table.  Each request and reply is a header and a
 * body of an exact (or bounded) size per operation; the privileged side
 * checks both before looking at a byte and dies on anything else.  The
 * bodies are plain structures: both ends are the same binary, forked.
 *
 *	op		request body		reply body (code 0)
 *	HELLO		(none: sent first by	note, 0..AGENT_NOTE_MAX-1 bytes
 *			 the privileged side)
 *	EVIDENCE	struct priv_evidence	evidence JSON, 1..EVIDENCE_MAX_FILE
 *	MEASURE		struct priv_measure	struct priv_measured
 *	ACTIVATE	struct priv_activate	struct priv_activated
 *
 * A reply with code < 0 carries the error message (1..VOUCH_ERR_MSG_MAX
 * bytes) instead.  The network side can thus ask for a quote with its
 * nonce, for file N of the policy to be re-measured (never for an
 * arbitrary path) and for one credential activation; nothing else.
 */
enum priv_op {
	PRIV_HELLO = 1,
	PRIV_EVIDENCE,
	PRIV_MEASURE,
	PRIV_ACTIVATE,
};

struct priv_hdr {
	uint32_t	op;
	int32_t		code;
	uint32_t	len;
};

struct priv_evidence {
	uint32_t	nonce_len;
	uint8_t		nonce[EVIDENCE_MAX_NONCE];
	char		sel[256];		/* NUL-terminated */
};

struct priv_measure {
	uint32_t	index;			/* into the policy's files */
};

struct priv_measured {
	uint32_t	changed;
};

struct priv_activate {
	uint32_t	credential_len;
	uint8_t		credential[ENROL_MAX_BLOB];
	uint32_t	enc_secret_len;
	uint8_t		enc_secret[ENROL_MAX_BLOB];
};

struct priv_activated {
	uint32_t	secret_len;
	uint8_t		secret[ENROL_SECRET_LEN];
};

static int
extend_tpm(void *arg, uint32_t pcr, const struct pcr_digest *d, size_t n,
    struct vouch_err *e)
{
	return tpm_pcr_extend(arg, pcr, d, n, e);
}

static void
note_add(char *note, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note_add(char *note, const char *fmt, ...)
{
	size_t n = strlen(note);
	va_list ap;

	if (n + 3 >= AGENT_NOTE_MAX)
		return;
	if (n > 0) {
		memcpy(note + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(note + n, AGENT_NOTE_MAX - n, fmt, ap);
	va_end(ap);
}

/* Byte offset of 1-based line `line` in buf. */
static size_t
line_offset(const char *buf, size_t len, size_t line)
{
	size_t off = 0, l = 1;

	while (l < line && off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);

		if (nl == NULL)
			return len;
		off = (size_t)(nl - buf) + 1;
		l++;
	}
	return off;
}

/* Remember the last digest of each policy file among entries [0, k). */
static void
learn_digests(struct agent_priv *p, const struct ima_log *log, size_t k)
{
	size_t i, f;

	for (f = 0; f < p->nfiles; f++)
		p->files[f].logged = 0;
	for (i = 0; i < k; i++) {
		const struct ima_entry *ent = imalog_get(log, i);

		if (ent->file_alg != PCR_ALG_SHA256 ||
		    ent->pcr != policy_runtime_pcr(p->conf->policy))
			continue;
		for (f = 0; f < p->nfiles; f++)
			if (strcmp(p->files[f].path, ent->path) == 0) {
				memcpy(p->files[f].digest, ent->file_digest,
				    32);
				p->files[f].logged = 1;
			}
	}
}

/*
 * Keep the longest prefix of the log that replays to the runtime PCR
 * (agent.h explains why), under the log's exclusive flock so neither the
 * log nor the PCR moves meanwhile.
 */
static int
priv_reconcile(struct agent_priv *p, struct vouch_err *e)
{
	const char *path = p->conf->runtime_log;
	const uint32_t rt = policy_runtime_pcr(p->conf->policy);
	const struct pcr_alg *alg = pcr_alg_by_id(p->rt_alg);
	struct pcr_selection sel;
	struct pcr_set set;
	const struct pcr_bank *pb;
	struct ima_log *log = NULL;
	uint8_t *buf = NULL, run[PCR_DIGEST_MAX], td[IMALOG_MAX_PATH + 512],
	    d[PCR_DIGEST_MAX];
	size_t len = 0, n, i, k = 0, tdlen;
	char aside[PATH_MAX + 8];
	int fd = -1, r, matched;

	if (alg == NULL)
		return vouch_err_set(e, VOUCH_E_INTERNAL, "no PCR bank");
	if ((r = rtlog_lock(path, 0, &fd, e)) < 0)
		return r;
	memset(&sel, 0, sizeof(sel));
	sel.nbanks = 1;
	sel.bank[0].alg = p->rt_alg;
	sel.bank[0].mask = 1u << rt;
	if ((r = tpm_pcr_read(p->tpm, &sel, &set, e)) < 0 ||
	    (r = file_read(path, IMALOG_MAX_SIZE, &buf, &len, e)) < 0)
		goto out;
	if ((pb = pcr_set_bank_const(&set, p->rt_alg)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_TPM, "PCR %u not read", rt);
		goto out;
	}
	pcr_initial(rt, alg->size, run);
	if (len == 0) {
		learn_digests(p, NULL, 0);
		if (memcmp(run, pb->v[rt], alg->size) != 0)
			note_add(p->note, "the runtime log is empty but PCR %u "
			    "is not at its reset value: evidence will fail", rt);
		r = 0;
		goto out;
	}
	if ((r = imalog_parse((const char *)buf, len, &log, e)) < 0) {
		vouch_err_prefix(e, "%s", path);
		goto out;
	}
	n = imalog_count(log);
	matched = memcmp(run, pb->v[rt], alg->size) == 0;
	for (i = 0; i < n; i++) {
		const struct ima_entry *ent = imalog_get(log, i);

		if (ent->pcr != rt)
			continue;
		if (ima_entry_is_violation(ent))
			memset(d, 0xff, alg->size);
		else if ((r = ima_entry_template_data(ent, td, sizeof(td),
		    &tdlen, e)) < 0 ||
		    (r = pcr_hash(p->rt_alg, td, tdlen, d, e)) < 0)
			goto out;
		if ((r = pcr_extend(p->rt_alg, run, d, e)) < 0)
			goto out;
		if (memcmp(run, pb->v[rt], alg->size) == 0) {
			matched = 1;
			k = i + 1;
		}
	}
	if (matched && k == n) {
		learn_digests(p, log, n);
	} else if (matched && k > 0) {
		size_t off = line_offset((const char *)buf, len,
		    imalog_get(log, k)->line);

		if ((r = file_write_atomic(path, buf, off, 0644, e)) < 0)
			goto out;
		note_add(p->note, "cut %zu trailing runtime log line(s) that "
		    "PCR %u does not hold (a crash between append and extend)",
		    n - k, rt);
		learn_digests(p, log, k);
	} else if (matched) {
		/* Nothing explained, PCR at reset: an earlier boot's log. */
		snprintf(aside, sizeof(aside), "%s.prev", path);
		if (rename(path, aside) < 0) {
			r = vouch_err_set(e, VOUCH_E_IO, "rename %s: %s", path,
			    strerror(errno));
			goto out;
		}
		note_add(p->note, "runtime log of an earlier boot moved to %s",
		    aside);
		learn_digests(p, NULL, 0);
	} else {
		note_add(p->note, "the runtime log (%zu lines) does not replay "
		    "to PCR %u: evidence will fail", n, rt);
		learn_digests(p, log, n);
	}
	p->rtlog_dirty = 0;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	imalog_free(log);
	free(buf);
	return r;
}

static int
priv_evidence(struct agent_priv *p, const struct priv_evidence *rq,
    uint8_t **rep, size_t *replen, struct vouch_err *e)
{
	struct pcr_selection sel;
	struct evidence *ev;
	char *json = NULL;
	time_t now;
	struct tm tm;
	int fd = -1, r;

	if (rq->nonce_len == 0 || rq->nonce_len > EVIDENCE_MAX_NONCE ||
	    memchr(rq->sel, '\0', sizeof(rq->sel)) == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "privsep: malformed "
		    "EVIDENCE request");
	if ((r = pcr_selection_parse(rq->sel, &sel, e)) < 0)
		return r;
	if ((ev = evidence_new()) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	/* Shared lock: no measurement between reading the log and quoting. */
	if ((p->conf->eventlog[0] != '\0' && (r = evidence_attach_logs(ev,
	    p->conf->eventlog, NULL, e)) < 0) ||
	    (r = rtlog_lock(p->conf->runtime_log, 1, &fd, e)) < 0 ||
	    (r = evidence_attach_logs(ev, NULL, p->conf->runtime_log, e)) < 0 ||
	    (r = tpm_quote(p->ak, rq->nonce, rq->nonce_len, &sel, ev, e)) < 0)
		goto out;
	close(fd);
	fd = -1;
	memcpy(ev->host, p->conf->host, strlen(p->conf->host) + 1);
	now = time(NULL);
	if (gmtime_r(&now, &tm) != NULL)
		strftime(ev->created, sizeof(ev->created),
		    "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((r = evidence_encode(ev, &json, replen, e)) < 0)
		goto out;
	*rep = (uint8_t *)json;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	evidence_free(ev);
	return r;
}

static int
priv_measure(struct agent_priv *p, const struct priv_measure *rq,
    struct priv_measured *out, struct vouch_err *e)
{
	struct file_state *f;
	uint8_t digest[PCR_DIGEST_MAX];
	int r;

	if (rq->index >= p->nfiles)
		return vouch_err_set(e, VOUCH_E_INVAL, "privsep: no policy "
		    "file %u", rq->index);
	f = &p->files[rq->index];
	out->changed = 0;
	if ((r = measure_file(f->path, PCR_ALG_SHA256, digest, e)) < 0)
		return r;
	if (f->logged && memcmp(f->digest, digest, 32) == 0)
		return 0;
	if (p->rtlog_dirty && (r = priv_reconcile(p, e)) < 0)
		return r;
	if ((r = rtlog_measure(p->conf->runtime_log,
	    policy_runtime_pcr(p->conf->policy), PCR_ALG_SHA256, digest,
	    f->path, p->banks, p->nbanks, extend_tpm, p->tpm, NULL, 0,
	    e)) < 0) {
		/* The log may now be ahead of the TPM: reconcile first. */
		p->rtlog_dirty = 1;
		return r;
	}
	memcpy(f->digest, digest, 32);
	f->logged = 1;
	out->changed = 1;
	return 0;
}

static int
priv_activate(struct agent_priv *p, const struct priv_activate *rq,
    struct priv_activated *out, struct vouch_err *e)
{
	size_t len = sizeof(out->secret);
	int r, r2;

	if (rq->credential_len > ENROL_MAX_BLOB ||
	    rq->enc_secret_len > ENROL_MAX_BLOB)
		return vouch_err_set(e, VOUCH_E_INVAL, "privsep: malformed "
		    "ACTIVATE request");
	/*
	 * libtpms holds 3 objects: activation loads the EK and the AK, so
	 * the AK vouchd keeps loaded is flushed first and loaded again.
	 */
	tpm_ak_close(p->ak);
	p->ak = NULL;
	r = tpm_activate_credential(p->tpm, p->conf->state_dir, rq->credential,
	    rq->credential_len, rq->enc_secret, rq->enc_secret_len,
	    out->secret, &len, e);
	if ((r2 = tpm_ak_open(p->tpm, p->conf->state_dir, &p->ak,
	    r < 0 ? NULL : e)) < 0 && r == 0)
		r = r2;
	out->secret_len = (uint32_t)len;
	return r;
}

/* Fixed-size request bodies and replies, by op. */
static size_t
priv_req_size(uint32_t op)
{
	switch (op) {
	case PRIV_EVIDENCE:	return sizeof(struct priv_evidence);
	case PRIV_MEASURE:	return sizeof(struct priv_measure);
	case PRIV_ACTIVATE:	return sizeof(struct priv_activate);
	}
	return 0;
}

/*
 * Run one request; *rep (malloc'd, *replen bytes) on success.  A
 * malformed request (wrong size, out-of-range field) is VOUCH_E_INVAL,
 * and only that: the serving process dies on it.
 */
static int
priv_exec(struct agent_priv *p, uint32_t op, const void *req, size_t reqlen,
    uint8_t **rep, size_t *replen, struct vouch_err *e)
{
	void *out = NULL;
	size_t outlen = 0;
	int r;

	*rep = NULL;
	*replen = 0;
	if (priv_req_size(op) == 0 || reqlen != priv_req_size(op))
		return vouch_err_set(e, VOUCH_E_INVAL, "privsep: request %u "
		    "of %zu bytes refused", op, reqlen);
	if (p->tpm == NULL || p->ak == NULL)
		return vouch_err_set(e, VOUCH_E_STATE, "the TPM is closed");
	switch (op) {
	case PRIV_EVIDENCE:
		return priv_evidence(p, req, rep, replen, e);
	case PRIV_MEASURE:
		outlen = sizeof(struct priv_measured);
		break;
	case PRIV_ACTIVATE:
		outlen = sizeof(struct priv_activated);
		break;
	}
	if ((out = calloc(1, outlen)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	r = op == PRIV_MEASURE ? priv_measure(p, req, out, e) :
	    priv_activate(p, req, out, e);
	if (r < 0) {
		free_secret(out, outlen);
		return r;
	}
	*rep = out;
	*replen = outlen;
	return 0;
}

void
agent_priv_free(struct agent_priv *p)
{
	if (p == NULL)
		return;
	tpm_ak_close(p->ak);
	tpm_close(p->tpm);
	free(p->files);
	free(p);
}

const char *
agent_priv_note(const struct agent_priv *p)
{
	return p->note;
}

int
agent_priv_new(const struct agent_conf *conf, struct agent_priv **out,
    struct vouch_err *e)
{
	struct agent_priv *p;
	const char *const *files;
	char path[PATH_MAX + 16];
	size_t i;
	int r;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	p->conf = conf;
	p->nfiles = policy_files(conf->policy, &files);
	if (p->nfiles > 0 &&
	    (p->files = calloc(p->nfiles, sizeof(*p->files))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < p->nfiles; i++)
		p->files[i].path = files[i];
	if ((r = tpm_open(conf->tcti[0] ? conf->tcti : NULL, &p->tpm, e)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/ak.pub", conf->state_dir);
	if (access(path, F_OK) != 0) {
		/* A new host: make its AK (the policy says which type). */
		if ((r = tpm_init_state(p->tpm, conf->state_dir,
		    (enum tpm_ak_type)policy_ak_type(conf->policy), 0, e)) < 0)
			goto fail;
		note_add(p->note, "created a new AK in %s", conf->state_dir);
	}
	if ((r = tpm_ak_open(p->tpm, conf->state_dir, &p->ak, e)) < 0 ||
	    (r = tpm_pcr_banks(p->tpm, p->banks, PCR_BANKS_MAX, &p->nbanks,
	    e)) < 0)
		goto fail;
	if (p->nbanks == 0) {
		r = vouch_err_set(e, VOUCH_E_TPM, "the TPM has no PCR bank");
		goto fail;
	}
	p->rt_alg = p->banks[0];
	for (i = 0; i < p->nbanks; i++)
		if (p->banks[i] == PCR_ALG_SHA256)
			p->rt_alg = PCR_ALG_SHA256;
	if ((r = priv_reconcile(p, e)) < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	agent_priv_free(p);
	return r;
}

/* ---- the privileged process's loop and its client -------------------- */

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, b, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, or -1 on error or EOF (even at the first byte). */
static int
read_all(int fd, void *buf, size_t len)
{
	uint8_t *b = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = read(fd, b, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
send_reply(int fd, uint32_t op, int code, const void *body, size_t len,
    const struct vouch_err *e)
{
	struct priv_hdr h;
	const char *msg = e != NULL && e->msg[0] ? e->msg : "error";

	h.op = op;
	h.code = code;
	if (code < 0) {
		body = msg;
		len = strlen(msg);
	}
	h.len = (uint32_t)len;
	if (write_all(fd, &h, sizeof(h)) < 0 ||
	    (len > 0 && write_all(fd, body, len) < 0))
		return -1;
	return 0;
}

int
agent_priv_serve(struct agent_priv *p, int fd, struct vouch_err *e)
{
	struct vouch_err re;
	struct priv_hdr h;
	union {
		struct priv_evidence	ev;
		struct priv_measure	ms;
		struct priv_activate	ac;
	} body;
	uint8_t *rep;
	size_t replen;
	int r;

	if (send_reply(fd, PRIV_HELLO, 0, p->note, strlen(p->note), NULL) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "privsep: write: %s",
		    strerror(errno));
	for (;;) {
		if (read_all(fd, &h, sizeof(h)) < 0)
			return 0;	/* the network side closed: done */
		/* Anything malformed: stop serving (the caller exits). */
		if (h.code != 0 || priv_req_size(h.op) == 0 ||
		    h.len != priv_req_size(h.op))
			return vouch_err_set(e, VOUCH_E_INVAL, "privsep: "
			    "malformed request (op %u, %u bytes)", h.op, h.len);
		if (read_all(fd, &body, h.len) < 0)
			return vouch_err_set(e, VOUCH_E_INVAL, "privsep: "
			    "truncated request");
		memset(&re, 0, sizeof(re));
		r = priv_exec(p, h.op, &body, h.len, &rep, &replen, &re);
		/* A malformed request (VOUCH_E_INVAL): stop serving. */
		if (r == VOUCH_E_INVAL)
			return vouch_err_set(e, r, "%s", re.msg);
		if (send_reply(fd, h.op, r, rep, replen, &re) < 0) {
			free(rep);
			return vouch_err_set(e, VOUCH_E_IO, "privsep: write: "
			    "%s", strerror(errno));
		}
		if (h.op == PRIV_ACTIVATE)
			free_secret(rep, replen);
		else
			free(rep);
		explicit_bzero(&body, sizeof(body));
	}
}

int
agent_priv_run(const struct agent_conf *conf, int fd, struct vouch_err *e)
{
	struct agent_priv *p = NULL;
	int r;

	if ((r = agent_priv_new(conf, &p, e)) < 0) {
		/* The network side's agent_new() reports this reason. */
		(void)send_reply(fd, PRIV_HELLO, r, NULL, 0, e);
		return r;
	}
	r = agent_priv_serve(p, fd, e);
	agent_priv_free(p);
	return r;
}

/* Largest reply body the network side accepts, by op. */
static size_t
priv_rep_max(uint32_t op)
{
	switch (op) {
	case PRIV_HELLO:	return AGENT_NOTE_MAX - 1;
	case PRIV_EVIDENCE:	return EVIDENCE_MAX_FILE;
	case PRIV_MEASURE:	return sizeof(struct priv_measured);
	case PRIV_ACTIVATE:	return sizeof(struct priv_activated);
	}
	return 0;
}

/* Read one reply for op from the privileged process (lock held). */
static int
priv_read_reply(struct agent *a, uint32_t op, uint8_t **rep, size_t *replen,
    struct vouch_err *e)
{
	struct priv_hdr h;
	uint8_t *b;
	int r;

	if (read_all(a->priv_fd, &h, sizeof(h)) < 0) {
		a->priv_dead = 1;
		return vouch_err_set(e, VOUCH_E_IO, "the privileged (TPM) "
		    "process has gone away");
	}
	if (h.op != op || (h.code < 0 && (h.len == 0 ||
	    h.len >= VOUCH_ERR_MSG_MAX)) || (h.code == 0 &&
	    h.len > priv_rep_max(op)) || h.code > 0) {
		a->priv_dead = 1;
		return vouch_err_set(e, VOUCH_E_INTERNAL, "privsep: malformed "
		    "reply (op %u for %u, code %d, %u bytes)", h.op, op,
		    h.code, h.len);
	}
	if ((b = malloc((size_t)h.len + 1)) == NULL) {
		a->priv_dead = 1;
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	if (h.len > 0 && read_all(a->priv_fd, b, h.len) < 0) {
		free(b);
		a->priv_dead = 1;
		return vouch_err_set(e, VOUCH_E_IO, "the privileged (TPM) "
		    "process has gone away");
	}
	b[h.len] = 0;
	if (h.code < 0) {
		r = vouch_err_set(e, h.code, "%s", (char *)b);
		free(b);
		return r;
	}
	*rep = b;
	*replen = h.len;
	return 0;
}

/* The one door to the TPM and the runtime log, from the network side. */
static int
priv_call(struct agent *a, uint32_t op, const void *req, size_t reqlen,
    uint8_t **rep, size_t *replen, struct vouch_err *e)
{
	struct priv_hdr h;
	int r;

	*rep = NULL;
	*replen = 0;
	pthread_mutex_lock(&a->priv_lock);
	if (a->local != NULL)
		r = priv_exec(a->local, op, req, reqlen, rep, replen, e);
	else if (a->priv_fd < 0 || a->priv_dead)
		r = vouch_err_set(e, VOUCH_E_STATE, "the TPM is closed");
	else {
		h.op = op;
		h.code = 0;
		h.len = (uint32_t)reqlen;
		if (write_all(a->priv_fd, &h, sizeof(h)) < 0 ||
		    write_all(a->priv_fd, req, reqlen) < 0) {
			a->priv_dead = 1;
			r = vouch_err_set(e, VOUCH_E_IO, "the privileged (TPM) "
			    "process has gone away");
		} else
			r = priv_read_reply(a, op, rep, replen, e);
	}
	pthread_mutex_unlock(&a->priv_lock);
	return r;
}

int
agent_priv_alive(struct agent *a)
{
	int alive;

	pthread_mutex_lock(&a->priv_lock);
	alive = a->local != NULL || (a->priv_fd >= 0 && !a->priv_dead);
	pthread_mutex_unlock(&a->priv_lock);
	return alive;
}

/* ---- life cycle --------------------------------------------------------- */

static void
qverdict_clear(struct qverdict *v)
{
	size_t i;

	for (i = 0; i < v->nreasons; i++)
		free(v->reasons[i]);
	free(v->evidence);
	memset(v, 0, sizeof(*v));
}

void
agent_tpm_shutdown(struct agent *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->priv_lock);
	agent_priv_free(a->local);
	a->local = NULL;
	if (a->priv_fd >= 0)
		close(a->priv_fd);	/* the privileged process exits */
	a->priv_fd = -1;
	pthread_mutex_unlock(&a->priv_lock);
}

void
agent_free(struct agent *a)
{
	size_t i;

	if (a == NULL)
		return;
	agent_tpm_shutdown(a);
	pthread_mutex_destroy(&a->priv_lock);
	tls_ctx_free(a->srv);
	tls_ctx_free(a->cli);
	for (i = 0; i < a->naks; i++)
		EVP_PKEY_free(a->aks[i].pk);
	free(a->aks);
	verify_history_free(a->hist);
	for (i = 0; i < a->nq; i++)
		qverdict_clear(&a->q[i]);
	free(a->q);
	free(a);
}

const char *
agent_note(const struct agent *a)
{
	return a->note;
}

int
agent_new(const struct agent_conf *conf, int priv_fd, struct agent **out,
    struct vouch_err *e)
{
	struct agent *a;
	char path[PATH_MAX + 16];
	struct timeval tv;
	uint8_t *hello = NULL;
	size_t len = 0;
	int r;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		if (priv_fd >= 0)
			close(priv_fd);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	a->conf = conf;
	a->priv_fd = priv_fd;
	pthread_mutex_init(&a->priv_lock, NULL);
	gettimeofday(&tv, NULL);
	a->seq = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	if (pcr_selection_format(policy_pcrs(conf->policy), a->pcr_sel,
	    sizeof(a->pcr_sel)) < 0) {
		r = vouch_err_set(e, VOUCH_E_CONFIG, "policy PCR selection "
		    "too long");
		goto fail;
	}
	/* The privileged half: in this process, or its first message. */
	if (priv_fd < 0) {
		if ((r = agent_priv_new(conf, &a->local, e)) < 0)
			goto fail;
		snprintf(a->note, sizeof(a->note), "%s", a->local->note);
	} else {
		if ((r = priv_read_reply(a, PRIV_HELLO, &hello, &len, e)) < 0)
			goto fail;
		snprintf(a->note, sizeof(a->note), "%s", (char *)hello);
		free(hello);
	}
	if ((r = tls_ctx_new(TLS_SERVER, conf->tls_cert, conf->tls_key,
	    conf->tls_ca, &a->srv, e)) < 0 ||
	    (r = tls_ctx_new(TLS_CLIENT, conf->tls_cert, conf->tls_key,
	    conf->tls_ca, &a->cli, e)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/history", conf->state_dir);
	if ((r = verify_history_load(path, &a->hist, e)) < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	agent_free(a);
	return r;
}

/* ---- wire helpers: attest/agent_client.c ------------------------------ */

static int
dial(struct agent *a, const struct region_host *h, struct tls_conn **out,
    struct vouch_err *e)
{
	return agent_dial(a->cli, a->conf->host, WIRE_ROLE_VOUCHD, h, out, e);
}

/* ---- conversation 3/5, subject side ------------------------------------- */

int
agent_evidence(struct agent *a, const uint8_t *nonce, size_t nonce_len,
    const char *pcr_sel, uint32_t flags, char **json, size_t *len,
    struct vouch_err *e)
{
	struct priv_evidence rq;
	uint8_t *rep = NULL;
	size_t replen = 0;
	int r;

	/* WIRE_CHAL_FULL_LOG: the whole log is always sent (no deltas). */
	(void)flags;
	memset(&rq, 0, sizeof(rq));
	if (nonce_len == 0 || nonce_len > EVIDENCE_MAX_NONCE)
		return vouch_err_set(e, VOUCH_E_INVAL, "nonce of %zu bytes",
		    nonce_len);
	if (strlen(pcr_sel) >= sizeof(rq.sel))
		return vouch_err_set(e, VOUCH_E_LIMIT, "PCR selection too "
		    "long");
	rq.nonce_len = (uint32_t)nonce_len;
	memcpy(rq.nonce, nonce, nonce_len);
	memcpy(rq.sel, pcr_sel, strlen(pcr_sel) + 1);
	if ((r = priv_call(a, PRIV_EVIDENCE, &rq, sizeof(rq), &rep, &replen,
	    e)) < 0)
		return r;
	*json = (char *)rep;
	*len = replen;
	return 0;
}

void
agent_set_order_handler(struct agent *a, agent_order_fn fn, void *arg)
{
	a->order_fn = fn;
	a->order_arg = arg;
}

/* MIG_ORDER m from c's peer: ACK{SEQ} or ERROR (conversation 9). */
static int
serve_order(struct agent *a, struct tls_conn *c, const struct wire_msg *m,
    struct vouch_err *e)
{
	struct wire_enc *w = NULL;
	const uint8_t *json;
	size_t len;
	uint64_t seq, ack = 0;
	int r;

	if ((r = wire_get_u64(m, WIRE_F_SEQ, &seq, e)) < 0 ||
	    (r = wire_get_bytes(m, WIRE_F_JSON, &json, &len, e)) < 0)
		return r;
	if (a->order_fn == NULL) {
		r = vouch_err_set(e, VOUCH_E_STATE, "no migration section");
		agent_send_error(c, r, e != NULL ? e->msg :
		    "no migration section");
		return r;
	}
	if ((r = a->order_fn(a->order_arg, tls_peer_name(c), seq,
	    (const char *)json, len, &ack, e)) < 0) {
		agent_send_error(c, r, e != NULL ? e->msg : "order refused");
		return r;
	}
	if ((r = wire_enc_new(WIRE_T_ACK, &w, e)) < 0)
		return r;
	if ((r = wire_put_u64(w, WIRE_F_SEQ, ack, e)) < 0) {
		wire_enc_free(w);
		return r;
	}
	return agent_send_enc(c, w, e);
}

int
agent_serve(struct agent *a, int fd, char *peer, size_t peer_cap,
    uint16_t *served, struct vouch_err *e)
{
	struct tls_conn *c = NULL;
	struct wire_msg *m = NULL;
	struct wire_enc *w = NULL;
	const uint8_t *nonce;
	size_t nonce_len, len = 0;
	char sel[257], *json = NULL;
	uint32_t flags = 0;
	int r;

	if (peer != NULL && peer_cap > 0)
		peer[0] = '\0';
	if (served != NULL)
		*served = 0;
	if ((r = tls_accept_fd(a->srv, fd, AGENT_TIMEOUT_MS, &c, e)) < 0)
		return r;
	if (peer != NULL && peer_cap > 0)
		snprintf(peer, peer_cap, "%s", tls_peer_name(c));
	if ((r = agent_recv_hello(c, e)) < 0 ||
	    (r = agent_send_hello(c, a->conf->host, WIRE_ROLE_VOUCHD, e)) < 0 ||
	    (r = tls_recv(c, AGENT_TIMEOUT_MS, &m, NULL, e)) < 0)
		goto out;
	if (served != NULL && (wire_msg_type(m) == WIRE_T_CHALLENGE ||
	    wire_msg_type(m) == WIRE_T_MIG_ORDER))
		*served = wire_msg_type(m);
	if (wire_msg_type(m) == WIRE_T_MIG_ORDER) {
		r = serve_order(a, c, m, e);
		goto out;
	}
	if (wire_msg_type(m) != WIRE_T_CHALLENGE) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s sent %s, expected "
		    "CHALLENGE or MIG_ORDER", tls_peer_name(c),
		    wire_type_name(wire_msg_type(m)) ?
		    wire_type_name(wire_msg_type(m)) : "?");
		agent_send_error(c, VOUCH_E_FORMAT, e != NULL ? e->msg :
		    "unexpected frame");
		goto out;
	}
	if ((r = wire_get_bytes(m, WIRE_F_NONCE, &nonce, &nonce_len, e)) < 0 ||
	    (r = wire_get_str(m, WIRE_F_PCR_SEL, sel, sizeof(sel), e)) < 0 ||
	    (r = wire_get_u32(m, WIRE_F_FLAGS, &flags, e)) < 0)
		goto out;
	if ((r = agent_evidence(a, nonce, nonce_len, sel, flags, &json, &len,
	    e)) < 0) {
		agent_send_error(c, r, e != NULL ? e->msg : "no evidence");
		goto out;
	}
	if (len > WIRE_EVIDENCE_MAX) {
		r = vouch_err_set(e, VOUCH_E_LIMIT, "evidence of %zu bytes is "
		    "over the wire limit", len);
		agent_send_error(c, r, e != NULL ? e->msg : "evidence too large");
		goto out;
	}
	if ((r = wire_enc_new(WIRE_T_EVIDENCE, &w, e)) < 0)
		goto out;
	if ((r = wire_put_bytes(w, WIRE_F_EVIDENCE, json, len, e)) < 0) {
		wire_enc_free(w);
		goto out;
	}
	r = agent_send_enc(c, w, e);
out:
	free(json);
	wire_msg_free(m);
	tls_close(c);
	return r;
}

/* ---- runtime measurement ------------------------------------------------ */

int
agent_measure(struct agent *a, size_t *changed, char *note,
    struct vouch_err *e)
{
	struct vouch_err fe = VOUCH_ERR_INIT;
	struct priv_measure rq;
	struct priv_measured got;
	const char *const *files;
	uint8_t *rep;
	size_t nfiles, i, n = 0, off = 0, replen;
	int r, first_err = 0;

	if (note != NULL)
		note[0] = '\0';
	nfiles = policy_files(a->conf->policy, &files);
	for (i = 0; i < nfiles; i++) {
		rq.index = (uint32_t)i;
		if ((r = priv_call(a, PRIV_MEASURE, &rq, sizeof(rq), &rep,
		    &replen, &fe)) < 0) {
			/* One missing file must not stop the others. */
			if (first_err == 0) {
				first_err = r;
				vouch_err_set(e, r, "%s", fe.msg);
			}
			continue;
		}
		memcpy(&got, rep, sizeof(got));
		free(rep);
		if (!got.changed)
			continue;
		n++;
		if (note != NULL && off + 4 < AGENT_NOTE_MAX) {
			int w = snprintf(note + off, AGENT_NOTE_MAX - off,
			    "%s%s", off ? " " : "", files[i]);

			if (w > 0)
				off += (size_t)w;
		}
	}
	*changed = n;
	return first_err;
}

/* ---- conversation 1: enrolment ----------------------------------------- */

int
agent_enrolled(const struct agent *a)
{
	return a->enrolled;
}

int
agent_enrol(struct agent *a, struct vouch_err *e)
{
	struct enrol_request req;
	struct tls_conn *c = NULL;
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	struct priv_activate rq;
	struct priv_activated got;
	const uint8_t *cred, *enc;
	uint8_t *rep = NULL;
	size_t cred_len, enc_len, replen = 0;
	int r;

	if (a->enrolled)
		return 0;
	memset(&req, 0, sizeof(req));
	memset(&rq, 0, sizeof(rq));
	memset(&got, 0, sizeof(got));
	if ((r = enrol_request_load(a->conf->state_dir, &req, e)) < 0)
		return r;
	if ((r = dial(a, region_tcbd(a->conf->region), &c, e)) < 0)
		goto out;
	if ((r = wire_enc_new(WIRE_T_ENROL_REQUEST, &w, e)) < 0)
		goto out;
	if ((r = wire_put_bytes(w, WIRE_F_EK_PUB, req.ek_pub_der,
	    req.ek_pub_len, e)) < 0 ||
	    (req.ek_cert_der != NULL && (r = wire_put_bytes(w, WIRE_F_EK_CERT,
	    req.ek_cert_der, req.ek_cert_len, e)) < 0) ||
	    (r = wire_put_bytes(w, WIRE_F_AK_PUB, req.ak_pub, req.ak_pub_len,
	    e)) < 0 ||
	    (r = wire_put_bytes(w, WIRE_F_AK_NAME, req.ak_name,
	    req.ak_name_len, e)) < 0) {
		wire_enc_free(w);
		goto out;
	}
	if ((r = agent_send_enc(c, w, e)) < 0 ||
	    (r = agent_recv_want(c, WIRE_T_ENROL_CHALLENGE, &m, e)) < 0)
		goto out;
	if ((r = wire_get_bytes(m, WIRE_F_CREDENTIAL, &cred, &cred_len,
	    e)) < 0 ||
	    (r = wire_get_bytes(m, WIRE_F_ENC_SECRET, &enc, &enc_len, e)) < 0)
		goto out;
	/* The wire bounds both at 1..1024 = ENROL_MAX_BLOB. */
	if (cred_len > sizeof(rq.credential) ||
	    enc_len > sizeof(rq.enc_secret)) {
		r = vouch_err_set(e, VOUCH_E_LIMIT, "credential too large");
		goto out;
	}
	rq.credential_len = (uint32_t)cred_len;
	memcpy(rq.credential, cred, cred_len);
	rq.enc_secret_len = (uint32_t)enc_len;
	memcpy(rq.enc_secret, enc, enc_len);
	if ((r = priv_call(a, PRIV_ACTIVATE, &rq, sizeof(rq), &rep, &replen,
	    e)) < 0) {
		agent_send_error(c, r, "credential activation failed");
		goto out;
	}
	memcpy(&got, rep, sizeof(got));
	free_secret(rep, replen);
	if (got.secret_len > sizeof(got.secret)) {
		r = vouch_err_set(e, VOUCH_E_INTERNAL, "secret too long");
		goto out;
	}
	wire_msg_free(m);
	m = NULL;
	if ((r = wire_enc_new(WIRE_T_ENROL_PROOF, &w, e)) < 0)
		goto out;
	if ((r = wire_put_bytes(w, WIRE_F_SECRET, got.secret, got.secret_len,
	    e)) < 0) {
		wire_enc_free(w);
		goto out;
	}
	if ((r = agent_send_enc(c, w, e)) < 0 ||
	    (r = agent_recv_want(c, WIRE_T_ACK, &m, e)) < 0)
		goto out;
	a->enrolled = 1;
	r = 0;
out:
	explicit_bzero(&got, sizeof(got));
	wire_msg_free(m);
	tls_close(c);
	enrol_request_clear(&req);
	return r;
}

/* ---- conversation 2: epoch ---------------------------------------------- */

int
agent_epoch_fetch(struct agent *a, struct agent_epoch *ep, int *fresh,
    struct vouch_err *e)
{
	struct tls_conn *c = NULL;
	struct wire_msg *m = NULL;
	const uint8_t *rnd;
	size_t rlen, i, n;
	int r;

	memset(ep, 0, sizeof(*ep));
	if ((r = dial(a, region_tcbd(a->conf->region), &c, e)) < 0)
		return r;
	if ((r = agent_recv_want(c, WIRE_T_EPOCH, &m, e)) < 0)
		goto out;
	if ((r = wire_get_u64(m, WIRE_F_EPOCH, &ep->epoch, e)) < 0 ||
	    (r = wire_get_bytes(m, WIRE_F_EPOCH_RANDOM, &rnd, &rlen, e)) < 0)
		goto out;
	memcpy(ep->random, rnd, sizeof(ep->random));
	n = wire_count(m, WIRE_F_NEIGHBOUR);
	for (i = 0; i < n && i < AGENT_NEIGHBOURS_MAX; i++)
		if ((r = wire_get_str_at(m, WIRE_F_NEIGHBOUR, i,
		    ep->neighbours[i], sizeof(ep->neighbours[i]), e)) < 0)
			goto out;
	ep->nneighbours = i;
	*fresh = !a->have_epoch || a->last_epoch != ep->epoch;
	a->have_epoch = 1;
	a->last_epoch = ep->epoch;
	r = 0;
out:
	wire_msg_free(m);
	tls_close(c);
	return r;
}

/* ---- conversation 6: AK public keys from the registrar ------------------ */

int
agent_fetch_ak(struct agent *a, const char *host, char **pem,
    struct vouch_err *e)
{
	struct tls_conn *c = NULL;
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	json_object *req = NULL, *rep = NULL, *v;
	const uint8_t *txt;
	size_t len;
	int r;

	if ((req = json_object_new_object()) == NULL ||
	    json_object_object_add(req, "cmd",
	    json_object_new_string("ak")) != 0 ||
	    json_object_object_add(req, "host",
	    json_object_new_string(host)) != 0) {
		json_object_put(req);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	if ((r = dial(a, region_tcbd(a->conf->region), &c, e)) < 0)
		goto out;
	if ((r = wire_enc_new(WIRE_T_STATUS_REQUEST, &w, e)) < 0)
		goto out;
	if ((r = wire_put_str(w, WIRE_F_JSON,
	    json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
	    e)) < 0) {
		wire_enc_free(w);
		goto out;
	}
	if ((r = agent_send_enc(c, w, e)) < 0 ||
	    (r = agent_recv_want(c, WIRE_T_STATUS_REPLY, &m, e)) < 0 ||
	    (r = wire_get_bytes(m, WIRE_F_JSON, &txt, &len, e)) < 0)
		goto out;
	{
		json_tokener *tok = json_tokener_new();

		if (tok == NULL) {
			r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
			goto out;
		}
		rep = json_tokener_parse_ex(tok, (const char *)txt, (int)len);
		json_tokener_free(tok);
	}
	if (rep == NULL || !json_object_object_get_ex(rep, "ak_pem", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) <= 0 ||
	    json_object_get_string_len(v) > AK_PEM_MAX) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "vouch-tcbd's reply for "
		    "the AK of %s has no \"ak_pem\" string", host);
		goto out;
	}
	if ((*pem = strdup(json_object_get_string(v))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	r = 0;
out:
	json_object_put(req);
	json_object_put(rep);
	wire_msg_free(m);
	tls_close(c);
	return r;
}

/* The cached AK of host, fetched when missing or when refresh is set. */
static int
ak_get(struct agent *a, const char *host, int refresh, EVP_PKEY **out,
    struct vouch_err *e)
{
	struct ak_entry *ent = NULL, *grown;
	EVP_PKEY *pk = NULL;
	char *pem = NULL;
	BIO *bio;
	size_t i;
	int r;

	for (i = 0; i < a->naks; i++)
		if (strcmp(a->aks[i].host, host) == 0)
			ent = &a->aks[i];
	if (ent != NULL && !refresh) {
		*out = ent->pk;
		return 0;
	}
	if ((r = agent_fetch_ak(a, host, &pem, e)) < 0)
		return r;
	bio = BIO_new_mem_buf(pem, -1);
	if (bio != NULL)
		pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	free(pem);
	if (pk == NULL)
		return vouch_err_set(e, VOUCH_E_FORMAT, "the AK of %s from "
		    "vouch-tcbd is not a PEM public key", host);
	if (ent == NULL) {
		if ((grown = realloc(a->aks, (a->naks + 1) *
		    sizeof(*grown))) == NULL) {
			EVP_PKEY_free(pk);
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		}
		a->aks = grown;
		ent = &a->aks[a->naks++];
		snprintf(ent->host, sizeof(ent->host), "%s", host);
	} else
		EVP_PKEY_free(ent->pk);
	ent->pk = pk;
	*out = pk;
	return 0;
}

/* ---- conversation 3, verifier side -------------------------------------- */

static int
queue_push(struct agent *a, struct qverdict *v, struct vouch_err *e)
{
	struct qverdict *grown;

	if (a->nq == AGENT_QUEUE_MAX) {
		/* vouch-tcbd unreachable for long: the oldest is stale. */
		qverdict_clear(&a->q[0]);
		memmove(&a->q[0], &a->q[1], (a->nq - 1) * sizeof(a->q[0]));
		a->nq--;
	}
	if ((grown = realloc(a->q, (a->nq + 1) * sizeof(*grown))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	a->q = grown;
	v->seq = a->seq++;
	a->q[a->nq++] = *v;
	memset(v, 0, sizeof(*v));
	return 0;
}

static int
verdict_reason(struct qverdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
verdict_reason(struct qverdict *v, const char *fmt, ...)
{
	char raw[VERIFY_REASON_MAX + 128], clean[1025];
	va_list ap;

	if (v->nreasons == VERIFY_MAX_REASONS)
		return 0;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	agent_reason_clean(raw, clean, sizeof(clean));
	if ((v->reasons[v->nreasons] = strdup(clean)) == NULL)
		return VOUCH_E_NOMEM;
	v->nreasons++;
	return 0;
}

int
agent_challenge(struct tls_ctx *ctx, const char *me, uint8_t role,
    const struct region_host *h, const uint8_t nonce[WIRE_NONCE_LEN],
    const char *pcr_sel, uint32_t flags, uint8_t **raw, size_t *rawlen,
    struct vouch_err *e)
{
	struct tls_conn *c = NULL;
	struct wire_enc *w = NULL;
	struct wire_msg *m = NULL;
	const uint8_t *p;
	size_t len;
	int r;

	if ((r = agent_dial(ctx, me, role, h, &c, e)) < 0)
		return r;
	if ((r = wire_enc_new(WIRE_T_CHALLENGE, &w, e)) < 0)
		goto out;
	if ((r = wire_put_bytes(w, WIRE_F_NONCE, nonce, WIRE_NONCE_LEN,
	    e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_PCR_SEL, pcr_sel, e)) < 0 ||
	    (r = wire_put_u32(w, WIRE_F_FLAGS, flags, e)) < 0) {
		wire_enc_free(w);
		goto out;
	}
	if ((r = agent_send_enc(c, w, e)) < 0 ||
	    (r = agent_recv_want(c, WIRE_T_EVIDENCE, &m, e)) < 0 ||
	    (r = wire_get_bytes(m, WIRE_F_EVIDENCE, &p, &len, e)) < 0)
		goto out;
	if ((*raw = malloc(len + 1)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*raw, p, len);
	(*raw)[len] = '\0';
	*rawlen = len;
	r = 0;
out:
	wire_msg_free(m);
	tls_close(c);
	if (r < 0)
		vouch_err_prefix(e, "challenge %s", h->name);
	return r;
}

int
agent_attest(struct agent *a, const struct agent_epoch *ep,
    const char *subject, struct agent_outcome *out, struct vouch_err *e)
{
	struct vouch_err why = VOUCH_ERR_INIT;
	const struct region_host *h;
	struct qverdict v;
	struct evidence *ev = NULL;
	struct verify_input in;
	struct verify_result *res = NULL;
	uint8_t nonce[WIRE_NONCE_LEN], honest;
	EVP_PKEY *pk = NULL;
	size_t i;
	int r, refreshed = 0;

	memset(&v, 0, sizeof(v));
	memset(out, 0, sizeof(*out));
	snprintf(v.subject, sizeof(v.subject), "%s", subject);
	v.time = (uint64_t)time(NULL);
	v.epoch = ep->epoch;
	if ((r = agent_nonce(ep->random, ep->epoch, a->conf->host, subject,
	    nonce, e)) < 0)
		return r;
	if (strcmp(subject, a->conf->host) == 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "vouch-tcbd assigned "
		    "this host to challenge itself");
	if ((h = region_find(a->conf->region, subject)) == NULL) {
		v.result = WIRE_RESULT_ERROR;
		verdict_reason(&v, "%s is not a host of region %s", subject,
		    region_name(a->conf->region));
		goto queue;
	}
	if (agent_challenge(a->cli, a->conf->host, WIRE_ROLE_VOUCHD, h, nonce,
	    a->pcr_sel, WIRE_CHAL_FULL_LOG, &v.evidence, &v.evidence_len,
	    &why) < 0 ||
	    evidence_decode((const char *)v.evidence, v.evidence_len, &ev,
	    &why) < 0) {
		/* Unreachable or garbage: UNREACHABLE, never UNTRUSTED. */
		v.result = WIRE_RESULT_ERROR;
		verdict_reason(&v, "%s", why.msg);
		free(v.evidence);
		v.evidence = NULL;
		v.evidence_len = 0;
		goto queue;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto fail;
	}
	for (;;) {
		if (ak_get(a, subject, refreshed, &pk, &why) < 0) {
			v.result = WIRE_RESULT_ERROR;
			verdict_reason(&v, "no AK for %s: %s", subject,
			    why.msg);
			free(v.evidence);
			v.evidence = NULL;
			v.evidence_len = 0;
			goto queue;
		}
		memset(&in, 0, sizeof(in));
		in.ev = ev;
		in.ak = pk;
		in.nonce = nonce;
		in.nonce_len = sizeof(nonce);
		in.policy = a->conf->policy;
		in.history = a->hist;
		if ((r = verify_evidence(&in, res, e)) < 0)
			goto fail;
		/* A re-enrolled host has a new AK: fetch it once. */
		if (res->pass || refreshed ||
		    (res->ran & (1u << VERIFY_SIGNATURE)) == 0)
			break;
		for (i = 0; i < res->nreasons; i++)
			if (res->reasons[i].check == VERIFY_SIGNATURE)
				break;
		if (i == res->nreasons)
			break;
		refreshed = 1;
	}
	honest = res->pass ? WIRE_RESULT_PASS : WIRE_RESULT_FAIL;
	for (i = 0; i < res->nreasons; i++)
		verdict_reason(&v, "%s: %s",
		    verify_check_name(res->reasons[i].check),
		    res->reasons[i].msg);
	if (res->dropped > 0)
		verdict_reason(&v, "%zu more reasons", res->dropped);
	v.result = agent_apply_lie(a->conf->lie, honest);
	if (v.result != honest) {
		out->lied = 1;
		if (v.result == WIRE_RESULT_FAIL)
			verdict_reason(&v, "lab fault switch: reported FAIL");
		else {
			/* A liar shielding a bad host hides the reasons. */
			for (i = 0; i < v.nreasons; i++)
				free(v.reasons[i]);
			v.nreasons = 0;
		}
	}
	/* The verdict stands; the daemon logs the lost replay history. */
	if (res->pass && verify_history_save(a->hist, &why) < 0)
		snprintf(out->note, sizeof(out->note), "verifier history not "
		    "saved: %s", why.msg);
	if (v.evidence_len > WIRE_EVIDENCE_MAX) {
		v.result = WIRE_RESULT_ERROR;
		verdict_reason(&v, "evidence of %zu bytes is over the wire "
		    "limit", v.evidence_len);
		free(v.evidence);
		v.evidence = NULL;
		v.evidence_len = 0;
	}
queue:
	out->result = v.result;
	out->nreasons = v.nreasons;
	if (v.nreasons > 0)
		snprintf(out->reason, sizeof(out->reason), "%s",
		    v.reasons[0]);
	r = queue_push(a, &v, e);
fail:
	qverdict_clear(&v);
	evidence_free(ev);
	free(res);
	return r;
}

/* ---- conversation 4: verdicts ------------------------------------------- */

size_t
agent_queued(const struct agent *a)
{
	return a->nq;
}

static int
send_verdict(struct agent *a, struct tls_conn *c, const struct qverdict *v,
    struct vouch_err *e)
{
	struct wire_enc *w;
	size_t i;
	int r;

	if ((r = wire_enc_new(WIRE_T_VERDICT, &w, e)) < 0)
		return r;
	if ((r = wire_put_str(w, WIRE_F_SUBJECT, v->subject, e)) < 0 ||
	    (r = wire_put_str(w, WIRE_F_VERIFIER, a->conf->host, e)) < 0 ||
	    (r = wire_put_u64(w, WIRE_F_TIME, v->time, e)) < 0 ||
	    (r = wire_put_u8(w, WIRE_F_RESULT, v->result, e)) < 0 ||
	    (r = wire_put_u64(w, WIRE_F_SEQ, v->seq, e)) < 0 ||
	    (r = wire_put_u64(w, WIRE_F_EPOCH, v->epoch, e)) < 0 ||
	    (v->evidence != NULL && (r = wire_put_bytes(w, WIRE_F_EVIDENCE,
	    v->evidence, v->evidence_len, e)) < 0))
		goto fail;
	for (i = 0; i < v->nreasons; i++)
		if ((r = wire_put_str(w, WIRE_F_REASON, v->reasons[i], e)) < 0)
			goto fail;
	return agent_send_enc(c, w, e);
fail:
	wire_enc_free(w);
	return r;
}

/* Drop the first n queued verdicts. */
static void
queue_drop(struct agent *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		qverdict_clear(&a->q[i]);
	memmove(&a->q[0], &a->q[n], (a->nq - n) * sizeof(a->q[0]));
	a->nq -= n;
}

int
agent_report(struct agent *a, size_t *acked, size_t *refused,
    struct vouch_err *e)
{
	struct tls_conn *c = NULL;
	struct wire_msg *m = NULL;
	size_t batch, i;
	uint64_t seq;
	size_t redials = 0, max_redials;
	char refusal[1200] = "";	/* the last refusal, for the log */
	int r = 0;

	*acked = 0;
	*refused = 0;
	if (a->nq == 0)
		return 0;
	/*
	 * vouch-tcbd closes the connection after a refusal (a verdict of an
	 * epoch it no longer accepts, after its restart, say): dial again for
	 * the ones behind it, at most once per queued verdict.  Draining one
	 * refusal per interval while two new verdicts queue up would leave
	 * every later verdict stale too, and this host's subjects PENDING.
	 */
	max_redials = a->nq;
again:
	if ((r = dial(a, region_tcbd(a->conf->region), &c, e)) < 0)
		return r;
	while (a->nq > 0) {
		batch = a->nq < AGENT_PIPELINE ? a->nq : AGENT_PIPELINE;
		for (i = 0; i < batch; i++)
			if ((r = send_verdict(a, c, &a->q[i], e)) < 0)
				goto out;
		for (i = 0; i < batch; i++) {
			r = tls_recv(c, AGENT_TIMEOUT_MS, &m, NULL, e);
			if (r < 0)
				goto out;
			if (wire_msg_type(m) == WIRE_T_ERROR) {
				char msg[1025] = "";

				(void)wire_get_str(m, WIRE_F_MESSAGE, msg,
				    sizeof(msg), NULL);
				/* In order: the first unacknowledged one. */
				snprintf(refusal, sizeof(refusal), "verdict on "
				    "%s (seq %llu) refused: %s",
				    a->q[0].subject,
				    (unsigned long long)a->q[0].seq, msg);
				queue_drop(a, 1);
				(*refused)++;
				wire_msg_free(m);
				m = NULL;
				tls_close(c);
				c = NULL;
				if (a->nq > 0 && redials++ < max_redials)
					goto again;
				r = vouch_err_set(e, VOUCH_E_STATE, "%s",
				    refusal);
				goto out;
			}
			if (wire_msg_type(m) != WIRE_T_ACK ||
			    wire_get_u64(m, WIRE_F_SEQ, &seq, e) < 0 ||
			    seq != a->q[0].seq) {
				r = vouch_err_set(e, VOUCH_E_FORMAT, "vouch-tcbd "
				    "answered a VERDICT with %s, not ACK %llu",
				    wire_type_name(wire_msg_type(m)),
				    (unsigned long long)a->q[0].seq);
				goto out;
			}
			wire_msg_free(m);
			m = NULL;
			queue_drop(a, 1);
			(*acked)++;
		}
	}
	/* refusals on the way are reported, the rest was delivered */
	r = refusal[0] != '\0' ? vouch_err_set(e, VOUCH_E_STATE, "%s%s",
	    refusal, *refused > 1 ? " (and more)" : "") : 0;
out:
	wire_msg_free(m);
	tls_close(c);
	return r;
}
