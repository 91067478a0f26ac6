/*
 * imalog.c - IMA ASCII runtime measurement log: parse, verify each
 * line's template hash, replay, and build ima-ng entries.
 *
 * A line is trusted only after SHA1(template data rebuilt from its
 * fields) equals its TEMPLATE-SHA1; a misparsed path or digest therefore
 * fails that check instead of replaying to a wrong value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/util.h"
#include "measure/imalog.h"

#define SHA1_SIZE	20
/* "ima" template: the name is NUL-padded to IMA_EVENT_NAME_LEN_MAX + 1. */
#define IMA_NAME_FIELD	256
/*
 * Largest template data: ima-sig with the longest algorithm prefix
 * ("sha512:\0"), digest, path and signature, each with its u32 length.
 */
#define TD_MAX		(4 + 16 + PCR_DIGEST_MAX + 4 + IMALOG_MAX_PATH + \
			 4 + IMALOG_MAX_SIG)
#define LINE_MAX_LEN	(2 * TD_MAX + 128)

struct ima_log {
	struct ima_entry	*ent;
	size_t			 n, cap;
};

enum tmpl { TMPL_IMA_NG, TMPL_IMA, TMPL_IMA_SIG };

/*
 * Digest algorithm names as the kernel spells them in the d-ng field
 * (crypto/hash_info.c); they are hashed into the template data, so the
 * spelling matters ("sm3", not "sm3_256").
 */
static const struct {
	uint16_t	 alg;
	const char	*name;
} ima_algs[] = {
	{ PCR_ALG_SHA1, "sha1" },
	{ PCR_ALG_SHA256, "sha256" },
	{ PCR_ALG_SHA384, "sha384" },
	{ PCR_ALG_SHA512, "sha512" },
	{ PCR_ALG_SM3_256, "sm3" },
};

static const char *
ima_alg_name(uint16_t alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ima_algs); i++)
		if (ima_algs[i].alg == alg)
			return ima_algs[i].name;
	return NULL;
}

static int
ima_alg_by_name(const char *s, size_t len, uint16_t *alg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ima_algs); i++)
		if (strlen(ima_algs[i].name) == len &&
		    memcmp(ima_algs[i].name, s, len) == 0) {
			*alg = ima_algs[i].alg;
			return 0;
		}
	return -1;
}

static enum tmpl
tmpl_of(const char *name)
{
	if (strcmp(name, "ima") == 0)
		return TMPL_IMA;
	if (strcmp(name, "ima-sig") == 0)
		return TMPL_IMA_SIG;
	return TMPL_IMA_NG;
}

int
ima_entry_is_violation(const struct ima_entry *ent)
{
	size_t i;

	for (i = 0; i < SHA1_SIZE; i++)
		if (ent->template_sha1[i] != 0)
			return 0;
	return 1;
}

static void
put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * Template data layouts (see imalog.h):
 *   ima-ng:  u32 len | "alg:" NUL digest | u32 len | path NUL
 *   ima-sig: the same, then u32 len | signature
 *   ima:     u8 sha1[20] | path NUL-padded to 256 bytes (no lengths)
 */
int
ima_entry_template_data(const struct ima_entry *ent, uint8_t *buf,
    size_t cap, size_t *lenp, struct vouch_err *e)
{
	const struct pcr_alg *a = pcr_alg_by_id(ent->file_alg);
	const char *an = ima_alg_name(ent->file_alg);
	enum tmpl t = tmpl_of(ent->template_name);
	size_t plen, need, off = 0, dlen;

	if (ent->path == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "entry has no path");
	plen = strlen(ent->path);
	if (t == TMPL_IMA) {
		if (ent->file_alg != PCR_ALG_SHA1)
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "template ima carries only SHA-1 digests");
		if (plen >= IMA_NAME_FIELD)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "path of %zu bytes too long for template ima", plen);
		if (cap < SHA1_SIZE + IMA_NAME_FIELD)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "template data buffer too small");
		memcpy(buf, ent->file_digest, SHA1_SIZE);
		memset(buf + SHA1_SIZE, 0, IMA_NAME_FIELD);
		memcpy(buf + SHA1_SIZE, ent->path, plen);
		*lenp = SHA1_SIZE + IMA_NAME_FIELD;
		return 0;
	}
	if (a == NULL || an == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "file digest algorithm 0x%04x not supported", ent->file_alg);
	if (plen >= IMALOG_MAX_PATH)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "path of %zu bytes exceeds %u", plen, IMALOG_MAX_PATH);
	if (ent->sig_len > IMALOG_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "signature of %zu bytes exceeds %u", ent->sig_len,
		    IMALOG_MAX_SIG);
	dlen = strlen(an) + 2 + a->size;
	need = 4 + dlen + 4 + plen + 1;
	if (t == TMPL_IMA_SIG)
		need += 4 + ent->sig_len;
	if (need > cap)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "template data of %zu bytes exceeds the buffer (%zu)",
		    need, cap);
	put_u32le(buf + off, (uint32_t)dlen);
	off += 4;
	memcpy(buf + off, an, strlen(an));
	off += strlen(an);
	buf[off++] = ':';
	buf[off++] = '\0';
	memcpy(buf + off, ent->file_digest, a->size);
	off += a->size;
	put_u32le(buf + off, (uint32_t)(plen + 1));
	off += 4;
	memcpy(buf + off, ent->path, plen + 1);
	off += plen + 1;
	if (t == TMPL_IMA_SIG) {
		put_u32le(buf + off, (uint32_t)ent->sig_len);
		off += 4;
		if (ent->sig_len > 0)
			memcpy(buf + off, ent->sig, ent->sig_len);
		off += ent->sig_len;
	}
	*lenp = off;
	return 0;
}

void
ima_entry_clear(struct ima_entry *ent)
{
	if (ent == NULL)
		return;
	free(ent->path);
	free(ent->sig);
	memset(ent, 0, sizeof(*ent));
}

int
ima_entry_make(struct ima_entry *ent, uint32_t pcr, uint16_t file_alg,
    const uint8_t *file_digest, const char *path, struct vouch_err *e)
{
	uint8_t td[TD_MAX];
	struct ima_entry t;
	const struct pcr_alg *a = pcr_alg_by_id(file_alg);
	size_t len;
	int r;

	if (pcr >= PCR_NUM)
		return vouch_err_set(e, VOUCH_E_INVAL, "PCR %u out of range",
		    pcr);
	if (a == NULL || ima_alg_name(file_alg) == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "file digest algorithm 0x%04x not supported", file_alg);
	memset(&t, 0, sizeof(t));
	t.pcr = pcr;
	strcpy(t.template_name, "ima-ng");
	t.file_alg = file_alg;
	memcpy(t.file_digest, file_digest, a->size);
	if ((t.path = strdup(path)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = ima_entry_template_data(&t, td, sizeof(td), &len, e)) < 0 ||
	    (r = pcr_hash(PCR_ALG_SHA1, td, len, t.template_sha1, e)) < 0) {
		ima_entry_clear(&t);
		return r;
	}
	*ent = t;
	return 0;
}

static int
path_printable(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
			return 0;
	return 1;
}

int
ima_entry_format(const struct ima_entry *ent, char *buf, size_t n,
    struct vouch_err *e)
{
	const struct pcr_alg *a = pcr_alg_by_id(ent->file_alg);
	enum tmpl t = tmpl_of(ent->template_name);
	char th[2 * SHA1_SIZE + 1], dh[2 * PCR_DIGEST_MAX + 1], *sh = NULL;
	int w;

	if (ent->path == NULL || ent->path[0] == '\0')
		return vouch_err_set(e, VOUCH_E_INVAL, "entry has no path");
	if (!path_printable(ent->path))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "path contains a space or control byte; the IMA ASCII "
		    "format cannot carry it");
	if (a == NULL || ima_alg_name(ent->file_alg) == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "file digest algorithm 0x%04x not supported", ent->file_alg);
	if (ent->sig_len > IMALOG_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT, "signature too long");
	hex_encode(ent->template_sha1, SHA1_SIZE, th);
	hex_encode(ent->file_digest, a->size, dh);
	switch (t) {
	case TMPL_IMA:
		w = snprintf(buf, n, "%u %s ima %s %s\n", ent->pcr, th, dh,
		    ent->path);
		break;
	case TMPL_IMA_SIG:
		if ((sh = malloc(2 * ent->sig_len + 1)) == NULL)
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		hex_encode(ent->sig, ent->sig_len, sh);
		/* An empty signature still gets its separator (as IMA). */
		w = snprintf(buf, n, "%u %s ima-sig %s:%s %s %s\n", ent->pcr,
		    th, ima_alg_name(ent->file_alg), dh, ent->path, sh);
		free(sh);
		break;
	default:
		w = snprintf(buf, n, "%u %s ima-ng %s:%s %s\n", ent->pcr, th,
		    ima_alg_name(ent->file_alg), dh, ent->path);
		break;
	}
	if (w < 0 || (size_t)w >= n)
		return vouch_err_set(e, VOUCH_E_LIMIT, "line buffer too small");
	return 0;
}

/* --- parsing ------------------------------------------------------------ */

/* Decode exactly want bytes of lower/upper-case hex from s[0..len). */
static int
hex_exact(const char *s, size_t len, uint8_t *out, size_t want)
{
	char tmp[2 * PCR_DIGEST_MAX + 1];
	size_t got;

	if (len != 2 * want || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (hex_decode(tmp, out, want, &got, NULL) < 0 || got != want)
		return -1;
	return 0;
}

/* Next space-separated token of line[*pos..len): start and length. */
static int
next_token(const char *line, size_t len, size_t *pos, const char **tok,
    size_t *tlen)
{
	size_t s = *pos, i = s;

	while (i < len && line[i] != ' ')
		i++;
	if (i == s)
		return -1;
	*tok = line + s;
	*tlen = i - s;
	*pos = (i < len) ? i + 1 : i;
	return 0;
}

static int
parse_line(const char *line, size_t len, size_t lineno, struct ima_entry *ent,
    struct vouch_err *e)
{
	uint8_t td[TD_MAX];
	struct ima_entry t;
	const struct pcr_alg *a;
	const char *tok, *colon, *path, *sigp = NULL;
	size_t tlen, pos = 0, plen, siglen = 0, i, tdlen;
	uint8_t h[SHA1_SIZE];
	enum tmpl tm;
	int r;

	memset(&t, 0, sizeof(t));
	t.line = lineno;
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: control byte 0x%02x at column %zu",
			    lineno, (unsigned char)line[i], i + 1);
	/* PCR: decimal, 0..23 */
	if (next_token(line, len, &pos, &tok, &tlen) < 0 || tlen > 2)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: bad PCR field", lineno);
	for (i = 0; i < tlen; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: bad PCR field", lineno);
		t.pcr = t.pcr * 10 + (uint32_t)(tok[i] - '0');
	}
	if (t.pcr >= PCR_NUM)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: PCR %u out of range", lineno, t.pcr);
	if (next_token(line, len, &pos, &tok, &tlen) < 0 ||
	    hex_exact(tok, tlen, t.template_sha1, SHA1_SIZE) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: template hash is not 40 hex digits", lineno);
	if (next_token(line, len, &pos, &tok, &tlen) < 0 ||
	    tlen >= sizeof(t.template_name))
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: bad template name", lineno);
	memcpy(t.template_name, tok, tlen);
	if (strcmp(t.template_name, "ima-ng") != 0 &&
	    strcmp(t.template_name, "ima") != 0 &&
	    strcmp(t.template_name, "ima-sig") != 0)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "line %zu: template '%s' not supported (ima-ng, ima, "
		    "ima-sig)", lineno, t.template_name);
	tm = tmpl_of(t.template_name);

	/* Digest: "alg:hex" (ima-ng, ima-sig) or 40 hex digits (ima). */
	if (next_token(line, len, &pos, &tok, &tlen) < 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: missing file digest", lineno);
	if (tm == TMPL_IMA) {
		t.file_alg = PCR_ALG_SHA1;
		if (hex_exact(tok, tlen, t.file_digest, SHA1_SIZE) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: file digest is not 40 hex digits",
			    lineno);
	} else {
		if ((colon = memchr(tok, ':', tlen)) == NULL ||
		    ima_alg_by_name(tok, (size_t)(colon - tok),
		    &t.file_alg) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: file digest is not ALG:HEX with a "
			    "known algorithm", lineno);
		a = pcr_alg_by_id(t.file_alg);
		if (hex_exact(colon + 1, tlen - (size_t)(colon + 1 - tok),
		    t.file_digest, a->size) < 0)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: %s digest is not %zu hex digits",
			    lineno, a->name, 2 * a->size);
	}

	/*
	 * The path is the rest of the line (ima, ima-ng: it may hold
	 * spaces).  ima-sig always has a separator before its signature
	 * field, even an empty one, so the path ends at the last space.
	 */
	path = line + pos;
	plen = len - pos;
	if (tm == TMPL_IMA_SIG) {
		const char *sp = NULL;
		for (i = plen; i > 0; i--)
			if (path[i - 1] == ' ') {
				sp = path + i - 1;
				break;
			}
		if (sp == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: ima-sig entry lacks a signature field",
			    lineno);
		sigp = sp + 1;
		siglen = (size_t)(path + plen - sigp);
		plen = (size_t)(sp - path);
	}
	if (plen == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: missing path", lineno);
	if (plen >= (tm == TMPL_IMA ? IMA_NAME_FIELD : IMALOG_MAX_PATH))
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "line %zu: path of %zu bytes too long", lineno, plen);
	if (siglen > 2 * IMALOG_MAX_SIG)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "line %zu: signature longer than %u bytes", lineno,
		    IMALOG_MAX_SIG);
	if (siglen % 2 != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT,
		    "line %zu: signature is not hex", lineno);
	if ((t.path = malloc(plen + 1)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	memcpy(t.path, path, plen);
	t.path[plen] = '\0';
	if (siglen > 0) {
		char *tmp;
		size_t got;

		t.sig_len = siglen / 2;
		if ((t.sig = malloc(t.sig_len)) == NULL ||
		    (tmp = malloc(siglen + 1)) == NULL) {
			ima_entry_clear(&t);
			return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		}
		memcpy(tmp, sigp, siglen);
		tmp[siglen] = '\0';
		r = hex_decode(tmp, t.sig, t.sig_len, &got, NULL);
		free(tmp);
		if (r < 0) {
			ima_entry_clear(&t);
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: signature is not hex", lineno);
		}
	}

	if (!ima_entry_is_violation(&t)) {
		if ((r = ima_entry_template_data(&t, td, sizeof(td), &tdlen,
		    e)) < 0 ||
		    (r = pcr_hash(PCR_ALG_SHA1, td, tdlen, h, e)) < 0) {
			ima_entry_clear(&t);
			if (e != NULL)
				vouch_err_prefix(e, "line %zu", lineno);
			return r;
		}
		if (!ct_equal(h, t.template_sha1, SHA1_SIZE)) {
			ima_entry_clear(&t);
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "line %zu: template hash does not match the "
			    "template data", lineno);
		}
	}
	*ent = t;
	return 0;
}

int
imalog_parse(const char *text, size_t len, struct ima_log **out,
    struct vouch_err *e)
{
	struct ima_log *log;
	size_t pos = 0, lineno = 0;
	int r;

	if (text == NULL && len > 0)
		return vouch_err_set(e, VOUCH_E_INVAL, "NULL text");
	if (len > IMALOG_MAX_SIZE)
		return vouch_err_set(e, VOUCH_E_LIMIT,
		    "IMA log of %zu bytes exceeds %u", len, IMALOG_MAX_SIZE);
	if ((log = calloc(1, sizeof(*log))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll;

		lineno++;
		if (nl == NULL) {
			r = vouch_err_set(e, VOUCH_E_TRUNCATED,
			    "line %zu: no newline at the end (truncated?)",
			    lineno);
			goto fail;
		}
		ll = (size_t)(nl - (text + pos));
		if (ll > LINE_MAX_LEN) {
			r = vouch_err_set(e, VOUCH_E_LIMIT,
			    "line %zu: longer than %d bytes", lineno,
			    LINE_MAX_LEN);
			goto fail;
		}
		if (log->n == IMALOG_MAX_ENTRIES) {
			r = vouch_err_set(e, VOUCH_E_LIMIT,
			    "line %zu: more than %u entries", lineno,
			    IMALOG_MAX_ENTRIES);
			goto fail;
		}
		if (log->n == log->cap) {
			size_t ncap = log->cap ? log->cap * 2 : 64;
			struct ima_entry *ne;

			if (ncap > IMALOG_MAX_ENTRIES)
				ncap = IMALOG_MAX_ENTRIES;
			if ((ne = realloc(log->ent, ncap * sizeof(*ne))) == NULL) {
				r = vouch_err_set(e, VOUCH_E_NOMEM,
				    "out of memory");
				goto fail;
			}
			log->ent = ne;
			log->cap = ncap;
		}
		if ((r = parse_line(text + pos, ll, lineno, &log->ent[log->n],
		    e)) < 0)
			goto fail;
		log->n++;
		pos += ll + 1;
	}
	*out = log;
	return 0;
fail:
	imalog_free(log);
	return r;
}

void
imalog_free(struct ima_log *log)
{
	size_t i;

	if (log == NULL)
		return;
	for (i = 0; i < log->n; i++)
		ima_entry_clear(&log->ent[i]);
	free(log->ent);
	free(log);
}

size_t
imalog_count(const struct ima_log *log)
{
	return log->n;
}

const struct ima_entry *
imalog_get(const struct ima_log *log, size_t i)
{
	return i < log->n ? &log->ent[i] : NULL;
}

int
imalog_replay(const struct ima_log *log, uint16_t alg, struct pcr_set *set,
    struct vouch_err *e)
{
	uint8_t td[TD_MAX];
	const struct pcr_alg *a = pcr_alg_by_id(alg);
	struct pcr_bank bank, *dst;
	uint8_t d[PCR_DIGEST_MAX];
	size_t i, tdlen;
	int r;

	if (a == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "hash algorithm 0x%04x not supported", alg);
	/* Work on a copy: *set changes only if the whole log replays. */
	if ((dst = pcr_set_bank(set, alg)) != NULL)
		bank = *dst;
	else {
		if (set->nbanks == PCR_BANKS_MAX)
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "too many PCR banks");
		memset(&bank, 0, sizeof(bank));
		bank.alg = alg;
	}
	for (i = 0; i < log->n; i++) {
		const struct ima_entry *ent = &log->ent[i];

		if (!(bank.set & (1u << ent->pcr))) {
			memset(bank.v[ent->pcr], 0, sizeof(bank.v[ent->pcr]));
			bank.set |= 1u << ent->pcr;
		}
		if (ima_entry_is_violation(ent))
			memset(d, 0xff, a->size);
		else if ((r = ima_entry_template_data(ent, td, sizeof(td),
		    &tdlen, e)) < 0 ||
		    (r = pcr_hash(alg, td, tdlen, d, e)) < 0)
			goto fail;
		if ((r = pcr_extend(alg, bank.v[ent->pcr], d, e)) < 0)
			goto fail;
	}
	if ((dst = pcr_set_bank_add(set, alg, e)) == NULL)
		return e ? e->code : VOUCH_E_INTERNAL;
	*dst = bank;
	return 0;
fail:
	if (e != NULL)
		vouch_err_prefix(e, "line %zu", log->ent[i].line);
	return r;
}

/* --- measuring files ------------------------------------------------------ */

static const EVP_MD *
evp_md(uint16_t alg)
{
	switch (alg) {
	case PCR_ALG_SHA1:
		return EVP_sha1();
	case PCR_ALG_SHA256:
		return EVP_sha256();
	case PCR_ALG_SHA384:
		return EVP_sha384();
	case PCR_ALG_SHA512:
		return EVP_sha512();
	case PCR_ALG_SM3_256:
		return EVP_get_digestbyname("SM3");
	}
	return NULL;
}

int
measure_file(const char *path, uint16_t alg, uint8_t *digest,
    struct vouch_err *e)
{
	const EVP_MD *md = evp_md(alg);
	EVP_MD_CTX *ctx = NULL;
	uint8_t buf[65536], out[EVP_MAX_MD_SIZE];
	unsigned int olen;
	struct stat st;
	ssize_t n;
	int fd, r, err;

	if (md == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "hash algorithm 0x%04x not supported", alg);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
		    strerror(errno));
	/* A FIFO or device would block or never end; IMA measures files. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "%s: not a regular file", path);
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		r = vouch_err_set(e, VOUCH_E_CRYPTO, "EVP_DigestInit failed");
		goto out;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			r = vouch_err_set(e, VOUCH_E_IO, "%s: %s", path,
			    strerror(err));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = vouch_err_set(e, VOUCH_E_CRYPTO,
			    "EVP_DigestUpdate failed");
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, out, &olen) != 1) {
		r = vouch_err_set(e, VOUCH_E_CRYPTO, "EVP_DigestFinal failed");
		goto out;
	}
	memcpy(digest, out, olen);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return r;
}
