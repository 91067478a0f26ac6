/*
 * fake_quote.h - signed evidence without a TPM, for tests/unit/test_service.c
 * and tests/bench/bench_ingest.c (header-only: both link only libvouch.a).
 *
 * An OpenSSL ECDSA P-256 key stands for a TPM's AK: it signs a real
 * TPMS_ATTEST (quote.h layout) over one PCR of the sha256 bank, so the
 * verifier runs its whole checklist on it.  The key is "enrolled" by
 * writing its binding straight into the store (what a successful
 * credential activation would have written).  The matching policy pins
 * that PCR's value (FQ_POLICY), so no event log is needed:
 *
 *	TPMS_ATTEST: ff544347 8018 | 0000 (no signer) | 0020 nonce |
 *	             clock u64 | reset u32 | restart u32 | safe 01 |
 *	             fw u64 | 00000001 000b 03 010000 (PCR 0) |
 *	             0020 SHA-256(PCR 0 value)
 *	TPMT_SIGNATURE: 0018 000b | 0020 r | 0020 s
 */
#ifndef VOUCH_TESTS_FAKE_QUOTE_H
#define VOUCH_TESTS_FAKE_QUOTE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/evidence.h"
#include "measure/pcr.h"
#include "tcb/store.h"

/* The policy FQ evidence passes: PCR 0 pinned to zero. */
#define FQ_POLICY \
	"version = 1;\nname = \"fake-quote\";\n" \
	"attestation = { pcrs = \"sha256:0\"; runtime_pcr = 23; ak = \"ecc\"; };\n" \
	"measure = { files = [ ]; interval = 1; };\n" \
	"reference = { boot = ( ); runtime = ( ); pcr_values = ( { pcr = 0; " \
	"value = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"; } ); };\n"

static EVP_PKEY *
fq_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void
fq_put16(uint8_t **p, unsigned v)
{
	(*p)[0] = (uint8_t)(v >> 8);
	(*p)[1] = (uint8_t)v;
	*p += 2;
}

static void
fq_put32(uint8_t **p, uint32_t v)
{
	fq_put16(p, v >> 16);
	fq_put16(p, v & 0xffff);
}

static void
fq_put64(uint8_t **p, uint64_t v)
{
	fq_put32(p, (uint32_t)(v >> 32));
	fq_put32(p, (uint32_t)v);
}

/*
 * Evidence JSON (malloc'd, *len) for nonce[32], PCR 0 = pcr0[32], the
 * given counters, signed by key.  NULL on failure.
 */
static char *
fq_evidence(EVP_PKEY *key, const uint8_t nonce[32], const uint8_t pcr0[32],
    uint64_t clock, uint32_t reset, size_t *len)
{
	struct evidence *ev = evidence_new();
	uint8_t att[256], *p = att, sig[128], *q = sig, der[80], dig[32];
	const uint8_t *dp = der;
	size_t derlen = sizeof(der);
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	struct pcr_bank *pb;
	char *json = NULL;

	if (ev == NULL)
		return NULL;
	fq_put32(&p, 0xff544347u);
	fq_put16(&p, 0x8018);
	fq_put16(&p, 0);
	fq_put16(&p, 32);
	memcpy(p, nonce, 32);
	p += 32;
	fq_put64(&p, clock);
	fq_put32(&p, reset);
	fq_put32(&p, 0);
	*p++ = 1;
	fq_put64(&p, 0x20191023);
	fq_put32(&p, 1);
	fq_put16(&p, PCR_ALG_SHA256);
	*p++ = 3;
	*p++ = 0x01;
	*p++ = 0;
	*p++ = 0;
	fq_put16(&p, 32);
	if (EVP_Digest(pcr0, 32, dig, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	memcpy(p, dig, 32);
	p += 32;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, att, (size_t)(p - att)) != 1 ||
	    (es = d2i_ECDSA_SIG(NULL, &dp, (long)derlen)) == NULL)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	fq_put16(&q, 0x0018);
	fq_put16(&q, PCR_ALG_SHA256);
	fq_put16(&q, 32);
	if (BN_bn2binpad(r, q, 32) != 32)
		goto out;
	q += 32;
	fq_put16(&q, 32);
	if (BN_bn2binpad(s, q, 32) != 32)
		goto out;
	q += 32;
	memcpy(ev->nonce, nonce, 32);
	ev->nonce_len = 32;
	if (pcr_selection_parse("sha256:0", &ev->sel, NULL) < 0 ||
	    (ev->attest = malloc((size_t)(p - att))) == NULL ||
	    (ev->sig = malloc((size_t)(q - sig))) == NULL ||
	    (pb = pcr_set_bank_add(&ev->pcrs, PCR_ALG_SHA256, NULL)) == NULL)
		goto out;
	memcpy(ev->attest, att, (size_t)(p - att));
	ev->attest_len = (size_t)(p - att);
	memcpy(ev->sig, sig, (size_t)(q - sig));
	ev->sig_len = (size_t)(q - sig);
	memcpy(pb->v[0], pcr0, 32);
	pb->set = 1;
	if (evidence_encode(ev, &json, len, NULL) < 0)
		json = NULL;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	evidence_free(ev);
	return json;
}

/* Bind key to host in the store, as a successful enrolment would. */
static int
fq_enrol(struct store *st, const char *host, EVP_PKEY *key, int64_t now)
{
	struct store_ak *ak = calloc(1, sizeof(*ak));
	unsigned char *der = NULL;
	int n, r = -1;

	if (ak == NULL || (n = i2d_PUBKEY(key, &der)) <= 0 ||
	    (size_t)n > sizeof(ak->spki))
		goto out;
	snprintf(ak->host, sizeof(ak->host), "%s", host);
	memcpy(ak->spki, der, (size_t)n);
	ak->spki_len = (size_t)n;
	/* The TPM name of a key only the store sees: unique per host. */
	ak->ak_name[0] = 0x00;
	ak->ak_name[1] = 0x0b;
	if (EVP_Digest(der, (size_t)n, ak->ak_name + 2, NULL, EVP_sha256(),
	    NULL) != 1)
		goto out;
	ak->ak_name_len = 34;
	ak->ak_pub[0] = 0;
	ak->ak_pub_len = 1;
	ak->enrolled_at = now;
	r = store_ak_put(st, ak, NULL);
out:
	OPENSSL_free(der);
	free(ak);
	return r;
}

#endif
