/*
 * Log replay hashes a few hundred short inputs per verification.  Through
 * OpenSSL 3's EVP layer each short digest costs 300-850 ns (provider fetch,
 * context set-up); the direct SHA functions cost ~130 ns (measured here,
 * SHA-NI, 70-byte input).  They are deprecated in 3.0 but present and
 * correct, so this one file keeps using them for the SHA family.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "measure/pcr.h"

static const struct pcr_alg algs[] = {
	{ PCR_ALG_SHA1, "sha1", 20 },
	{ PCR_ALG_SHA256, "sha256", 32 },
	{ PCR_ALG_SHA384, "sha384", 48 },
	{ PCR_ALG_SHA512, "sha512", 64 },
	{ PCR_ALG_SM3_256, "sm3_256", 32 },
};

const struct pcr_alg *
pcr_alg_by_id(uint16_t id)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].id == id)
			return &algs[i];
	return NULL;
}

const struct pcr_alg *
pcr_alg_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

int
pcr_hash(uint16_t alg, const void *data, size_t len, uint8_t *out,
    struct vouch_err *e)
{
	static EVP_MD *sm3;	/* fetched once; OpenSSL may lack it */
	unsigned int n;

	switch (alg) {
	case PCR_ALG_SHA1: {
		/* Not SHA1(): the one-shot goes through a provider fetch. */
		SHA_CTX c;
		SHA1_Init(&c);
		SHA1_Update(&c, data, len);
		SHA1_Final(out, &c);
		return 0;
	}
	case PCR_ALG_SHA256: {
		SHA256_CTX c;
		SHA256_Init(&c);
		SHA256_Update(&c, data, len);
		SHA256_Final(out, &c);
		return 0;
	}
	case PCR_ALG_SHA384: {
		SHA512_CTX c;
		SHA384_Init(&c);
		SHA384_Update(&c, data, len);
		SHA384_Final(out, &c);
		return 0;
	}
	case PCR_ALG_SHA512: {
		SHA512_CTX c;
		SHA512_Init(&c);
		SHA512_Update(&c, data, len);
		SHA512_Final(out, &c);
		return 0;
	}
	case PCR_ALG_SM3_256:
		if (sm3 == NULL && (sm3 = EVP_MD_fetch(NULL, "SM3", NULL)) == NULL)
			break;
		if (EVP_Digest(data, len, out, &n, sm3, NULL) != 1)
			return vouch_err_set(e, VOUCH_E_CRYPTO,
			    "EVP_Digest(SM3) failed");
		return 0;
	}
	return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
	    "hash algorithm 0x%04x not supported", alg);
}

int
pcr_extend(uint16_t alg, uint8_t *pcr, const uint8_t *digest,
    struct vouch_err *e)
{
	const struct pcr_alg *a = pcr_alg_by_id(alg);
	uint8_t buf[2 * PCR_DIGEST_MAX];

	if (a == NULL)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "hash algorithm 0x%04x not supported", alg);
	memcpy(buf, pcr, a->size);
	memcpy(buf + a->size, digest, a->size);
	return pcr_hash(alg, buf, 2 * a->size, pcr, e);
}

static int
parse_range_list(const char *s, uint32_t *mask, struct vouch_err *e)
{
	char *end;
	long lo, hi;

	if (strcmp(s, "all") == 0) {
		*mask = (1u << PCR_NUM) - 1;
		return 0;
	}
	*mask = 0;
	while (*s != '\0') {
		lo = strtol(s, &end, 10);
		if (end == s || lo < 0 || lo >= PCR_NUM)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "bad PCR index at '%s' (0..%d)", s, PCR_NUM - 1);
		hi = lo;
		s = end;
		if (*s == '-') {
			s++;
			hi = strtol(s, &end, 10);
			if (end == s || hi < lo || hi >= PCR_NUM)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "bad PCR range end at '%s'", s);
			s = end;
		}
		for (; lo <= hi; lo++)
			*mask |= 1u << lo;
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "unexpected '%c' in PCR list", *s);
	}
	if (*mask == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "empty PCR list");
	return 0;
}

int
pcr_selection_parse(const char *s, struct pcr_selection *out,
    struct vouch_err *e)
{
	struct pcr_selection sel;
	char buf[512], *tok, *save = NULL, *colon;
	size_t i;

	memset(&sel, 0, sizeof(sel));
	if (strlen(s) >= sizeof(buf))
		return vouch_err_set(e, VOUCH_E_LIMIT, "PCR selection too long");
	strcpy(buf, s);
	for (tok = strtok_r(buf, "+", &save); tok != NULL;
	    tok = strtok_r(NULL, "+", &save)) {
		const struct pcr_alg *a;
		uint32_t mask;
		int r;

		if ((colon = strchr(tok, ':')) == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "'%s': expected BANK:PCRS, e.g. sha256:0-7,23", tok);
		*colon = '\0';
		if ((a = pcr_alg_by_name(tok)) == NULL)
			return vouch_err_set(e, VOUCH_E_FORMAT,
			    "unknown PCR bank '%s'", tok);
		if ((r = parse_range_list(colon + 1, &mask, e)) < 0)
			return r;
		for (i = 0; i < sel.nbanks; i++)
			if (sel.bank[i].alg == a->id)
				return vouch_err_set(e, VOUCH_E_FORMAT,
				    "bank '%s' selected twice", tok);
		if (sel.nbanks == PCR_BANKS_MAX)
			return vouch_err_set(e, VOUCH_E_LIMIT, "too many banks");
		sel.bank[sel.nbanks].alg = a->id;
		sel.bank[sel.nbanks].mask = mask;
		sel.nbanks++;
	}
	if (sel.nbanks == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "empty PCR selection");
	*out = sel;
	return 0;
}

int
pcr_selection_format(const struct pcr_selection *sel, char *buf, size_t n)
{
	size_t off = 0, b;
	int i, w;

	if (n == 0)
		return VOUCH_E_LIMIT;
	buf[0] = '\0';
	for (b = 0; b < sel->nbanks; b++) {
		const struct pcr_alg *a = pcr_alg_by_id(sel->bank[b].alg);
		uint32_t m = sel->bank[b].mask;
		int first = 1;

		w = snprintf(buf + off, n - off, "%s%s:", b ? "+" : "",
		    a ? a->name : "?");
		if (w < 0 || (size_t)w >= n - off)
			return VOUCH_E_LIMIT;
		off += (size_t)w;
		for (i = 0; i < PCR_NUM; i++) {
			int j = i;
			if (!(m & (1u << i)))
				continue;
			while (j + 1 < PCR_NUM && (m & (1u << (j + 1))))
				j++;
			if (j > i + 1)
				w = snprintf(buf + off, n - off, "%s%d-%d",
				    first ? "" : ",", i, j);
			else if (j == i + 1)
				w = snprintf(buf + off, n - off, "%s%d,%d",
				    first ? "" : ",", i, j);
			else
				w = snprintf(buf + off, n - off, "%s%d",
				    first ? "" : ",", i);
			if (w < 0 || (size_t)w >= n - off)
				return VOUCH_E_LIMIT;
			off += (size_t)w;
			first = 0;
			i = j;
		}
	}
	return 0;
}

uint32_t
pcr_selection_mask(const struct pcr_selection *sel, uint16_t alg)
{
	size_t i;

	for (i = 0; i < sel->nbanks; i++)
		if (sel->bank[i].alg == alg)
			return sel->bank[i].mask;
	return 0;
}

struct pcr_bank *
pcr_set_bank(struct pcr_set *s, uint16_t alg)
{
	size_t i;

	for (i = 0; i < s->nbanks; i++)
		if (s->bank[i].alg == alg)
			return &s->bank[i];
	return NULL;
}

const struct pcr_bank *
pcr_set_bank_const(const struct pcr_set *s, uint16_t alg)
{
	size_t i;

	for (i = 0; i < s->nbanks; i++)
		if (s->bank[i].alg == alg)
			return &s->bank[i];
	return NULL;
}

struct pcr_bank *
pcr_set_bank_add(struct pcr_set *s, uint16_t alg, struct vouch_err *e)
{
	struct pcr_bank *b;

	if ((b = pcr_set_bank(s, alg)) != NULL)
		return b;
	if (pcr_alg_by_id(alg) == NULL) {
		vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "hash algorithm 0x%04x not supported", alg);
		return NULL;
	}
	if (s->nbanks == PCR_BANKS_MAX) {
		vouch_err_set(e, VOUCH_E_LIMIT, "too many PCR banks");
		return NULL;
	}
	b = &s->bank[s->nbanks++];
	memset(b, 0, sizeof(*b));
	b->alg = alg;
	return b;
}
