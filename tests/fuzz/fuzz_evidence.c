/*
 * fuzz_evidence.c - libFuzzer target for the evidence surface: the JSON
 * decoder, then the whole verifier checklist (TPMS_ATTEST and
 * TPMT_SIGNATURE parsers, event log and runtime log parsing and replay,
 * reference values, counters) against a fixed AK, nonce and policy.
 *
 * The seeds in tests/fuzz/corpus/evidence/ are quotes signed by this AK
 * (its private half is not kept), so mutations start from evidence that
 * passes every check and reach every stage.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/verify.h"

static const char ak_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzzAuWqzagbemyC9Us8nmLkIFcIuj\n"
    "77yetRWsFqNeMsBxwoPUZ85SJ3LJvfHIM8sOvTWMUnnTBdimFiG449uYxg==\n"
    "-----END PUBLIC KEY-----\n";

static const char policy_text[] =
    "version = 1;\n"
    "name = \"fuzz\";\n"
    "attestation = { pcrs = \"sha256:23\"; runtime_pcr = 23; ak = \"ecc\"; };\n"
    "reference = {\n"
    "  runtime = (\n"
    "    { path = \"/usr/bin/file0\"; digest = \"sha256:"
    "9ebfa94ebde652b2e072ba2f966fb17222bdb3694fa4111c3c8ff40a725e6c2e\"; },\n"
    "    { path = \"/usr/bin/file1\"; digest = \"sha256:"
    "645ea2ce08345c081e1c7d07a714ed6b49044eca397988d279617455e66b11f7\"; },\n"
    "    { path = \"/usr/bin/file2\"; digest = \"sha256:"
    "8c59c269d781411cdf6a3f4941fd3c4fd0caa8347a72cc783936b5dc9098e5c1\"; } );\n"
    "};\n";

static EVP_PKEY *ak;
static struct policy *policy;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
init_once(void)
{
	BIO *bio;

	if (ak != NULL)
		return;
	bio = BIO_new_mem_buf(ak_pem, (int)sizeof(ak_pem) - 1);
	ak = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (ak == NULL || policy_load_string("fuzz", policy_text, &policy,
	    NULL) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[32] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	};
	struct verify_result res;
	struct verify_input in;
	struct evidence *ev = NULL;
	struct verify_history *history = NULL;
	char *json;
	size_t len;

	init_once();
	if (evidence_decode((const char *)data, size, &ev, NULL) != 0)
		return 0;
	/* A fresh (empty, never saved) history: each input stands alone. */
	if (verify_history_load("/nonexistent/vouch-fuzz-history", &history,
	    NULL) != 0)
		abort();
	/* Whatever decodes must encode again. */
	if (evidence_encode(ev, &json, &len, NULL) != 0)
		abort();
	free(json);
	memset(&in, 0, sizeof(in));
	in.ev = ev;
	in.ak = ak;
	in.nonce = nonce;
	in.nonce_len = sizeof(nonce);
	in.policy = policy;
	in.history = history;
	if (verify_evidence(&in, &res, NULL) != 0)
		abort();
	/* A PASS must have no reason, a FAIL at least one. */
	if (res.pass != (res.nreasons == 0))
		abort();
	verify_history_free(history);
	evidence_free(ev);
	return 0;
}
