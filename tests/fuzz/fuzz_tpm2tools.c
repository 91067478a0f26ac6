/*
 * fuzz_tpm2tools.c - libFuzzer target for the tpm2-tools quote files:
 * tpm2tools_decode over .msg (TPMS_ATTEST), .sig (TPMT_SIGNATURE) and
 * .pcrs (tpm2_quote's serialised PCR file), i.e. quote.c's parsers and
 * the .pcrs layout.
 *
 * One input carries the three files:
 *
 *	u16be msglen | u16be siglen | msg[msglen] | sig[siglen] | pcrs[rest]
 *
 * (lengths past the end are cut to what is there).  The seeds in
 * tests/fuzz/corpus/tpm2tools/ are well-formed triplets (ECDSA, RSASSA,
 * RSAPSS; one and three banks), so mutations start past every check.
 * Whatever decodes must hold the .msg and .sig bytes unchanged, and
 * they must parse again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/evidence.h"
#include "attest/quote.h"
#include "attest/tpm2tools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evidence *ev = (struct evidence *)&size;	/* must stay */
	struct quote_attest q;
	struct quote_sig sig;
	size_t msglen, siglen;

	if (size < 4)
		return 0;
	msglen = (size_t)data[0] << 8 | data[1];
	siglen = (size_t)data[2] << 8 | data[3];
	data += 4;
	size -= 4;
	if (msglen > size)
		msglen = size;
	if (siglen > size - msglen)
		siglen = size - msglen;
	if (tpm2tools_decode(data, msglen, data + msglen, siglen,
	    data + msglen + siglen, size - msglen - siglen, &ev, NULL) != 0) {
		if (ev != (struct evidence *)&size)
			abort();	/* *out written on failure */
		return 0;
	}
	/* What decodes is a quote and a signature quote.c accepts, kept. */
	if (ev->attest_len != msglen || memcmp(ev->attest, data, msglen) != 0 ||
	    ev->sig_len != siglen ||
	    memcmp(ev->sig, data + msglen, siglen) != 0 ||
	    quote_attest_parse(ev->attest, ev->attest_len, &q, NULL) != 0 ||
	    quote_sig_parse(ev->sig, ev->sig_len, &sig, NULL) != 0 ||
	    ev->sel.nbanks == 0)
		abort();
	evidence_free(ev);
	return 0;
}
