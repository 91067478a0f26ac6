/*
 * enrol.c - credential activation, the registrar's half and the request
 * files (contract: enrol.h; the host's TPM half is in tpm.c).
 *
 * MakeCredential in software (TPM 2.0 Part 1 "Credential Protection",
 * "Secret Sharing"; Part 2 TPM2B_ID_OBJECT).  The EK is the TCG default
 * template's (tpm.c re-creates it): nameAlg SHA-256, AES-128-CFB, so
 * every hash below is SHA-256 and the seed is 32 bytes.
 *
 *   RSA-2048 EK:  seed = 32 random bytes
 *                 encSecret = RSA-OAEP(SHA-256, MGF1-SHA-256,
 *                             label "IDENTITY\0") of seed
 *   ECC P-256 EK: (d, Q) ephemeral; Z = x(d * EK)
 *                 seed = KDFe(Z, "IDENTITY", x(Q), x(EK), 256 bits)
 *                 encSecret = TPMS_ECC_POINT Q
 *
 *   symKey  = KDFa(seed, "STORAGE", akName, -, 128 bits)
 *   hmacKey = KDFa(seed, "INTEGRITY", -, -, 256 bits)
 *   encIdentity = AES-128-CFB(symKey, IV 0, TPM2B_DIGEST(secret))
 *   outerHMAC   = HMAC-SHA256(hmacKey, encIdentity || akName)
 *
 *   KDFa(k, label, u, v, bits) = HMAC(k, i || label || 0 || u || v || bits)
 *   KDFe(Z, label, u, v)       = H(i || Z || label || 0 || u || v)
 *   with i = 1, 2, ... (u32be), output truncated to bits.
 *
 * The wire and file forms (all big endian):
 *
 *   credential, TPM2B_ID_OBJECT (70 bytes for a 32-byte secret):
 *	+-------+-------+--------------+-------------------------------+
 *	| size  | 0x20  | outerHMAC 32 | encIdentity: CFB(0x0020 ||    |
 *	| u16   | u16   |              |              secret 32)  34   |
 *	+-------+-------+--------------+-------------------------------+
 *   enc_secret, TPM2B_ENCRYPTED_SECRET:
 *	RSA: | size u16 = 256 | OAEP ciphertext 256 |
 *	ECC: | size u16 = 68  | 0x0020 | x 32 | 0x0020 | y 32 |
 *
 * Refusals: VOUCH_E_FORMAT (malformed or inconsistent: name mismatch,
 * certificate for another key), VOUCH_E_UNSUPPORTED (AK attributes, key
 * types), VOUCH_E_NOTFOUND (no EK certificate but an EK CA given),
 * VOUCH_E_CRYPTO (the EK certificate does not chain to the EK CA),
 * VOUCH_E_LIMIT (a field beyond the wire limits).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <tss2/tss2_mu.h>

#include "common/util.h"
#include "attest/enrol.h"
#include "attest/tpm_priv.h"

/* Wire limits of ENROL_REQUEST (common/wire.h). */
#define ENROL_EK_PUB_MAX	2048
#define ENROL_AK_PUB_MAX	1024
#define ENROL_NAME_MIN		22	/* SHA-1 name */
#define ENROL_NAME_MAX		66	/* SHA-512 name */
/* ek.pem: base64 of at most ENROL_EK_PUB_MAX bytes plus armour. */
#define ENROL_EK_PEM_MAX	(2 * ENROL_EK_PUB_MAX + 256)
/* ak.name: hex, a newline, maybe a CR. */
#define ENROL_NAME_HEX_MAX	(2 * ENROL_NAME_MAX + 2)

#define ENROL_H		32	/* SHA-256 (EK nameAlg): seed size */
#define ENROL_SYM	16	/* AES-128 */
#define ENROL_RSA_CT	256	/* RSA-2048 ciphertext */
#define ENROL_P256	32	/* P-256 coordinate */

/* Label for the seed: the terminating zero is part of it. */
static const char label_identity[] = "IDENTITY";

/* What the AK must have: restricted signing key, bound to its TPM. */
static const struct {
	TPMA_OBJECT	bit;
	const char	*name;
} ak_attrs[] = {
	{ TPMA_OBJECT_FIXEDTPM, "fixedTPM" },
	{ TPMA_OBJECT_FIXEDPARENT, "fixedParent" },
	{ TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin" },
	{ TPMA_OBJECT_USERWITHAUTH, "userWithAuth" },
	{ TPMA_OBJECT_RESTRICTED, "restricted" },
	{ TPMA_OBJECT_SIGN_ENCRYPT, "sign" },
};

static int
ossl_err(struct vouch_err *e, const char *what)
{
	char buf[200];
	unsigned long code = ERR_get_error();

	if (code == 0)
		snprintf(buf, sizeof(buf), "no detail");
	else
		ERR_error_string_n(code, buf, sizeof(buf));
	ERR_clear_error();
	return vouch_err_set(e, VOUCH_E_CRYPTO, "%s: %s", what, buf);
}

/* ---- request files ------------------------------------------------ */

static int
enrol_path(char *buf, size_t n, const char *dir, const char *file,
    struct vouch_err *e)
{
	int w = snprintf(buf, n, "%s/%s", dir, file);

	if (w < 0 || (size_t)w >= n)
		return vouch_err_set(e, VOUCH_E_LIMIT, "path too long: %s/%s",
		    dir, file);
	return 0;
}

/* ek.pem (SubjectPublicKeyInfo PEM) to DER. */
static int
load_ek_pem(const char *path, uint8_t **der, size_t *len, struct vouch_err *e)
{
	uint8_t *pem = NULL, *out = NULL;
	size_t pemlen = 0;
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	int n, r;

	if ((r = file_read(path, ENROL_EK_PEM_MAX, &pem, &pemlen, e)) < 0)
		return r;
	if (pemlen > INT_MAX ||
	    (bio = BIO_new_mem_buf(pem, (int)pemlen)) == NULL ||
	    (k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL ||
	    (n = i2d_PUBKEY(k, &out)) <= 0) {
		ERR_clear_error();
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s: not a PEM public "
		    "key", path);
		goto out;
	}
	if ((size_t)n > ENROL_EK_PUB_MAX) {
		r = vouch_err_set(e, VOUCH_E_LIMIT, "%s: public key of %d "
		    "bytes (at most %d)", path, n, ENROL_EK_PUB_MAX);
		goto out;
	}
	if ((*der = malloc((size_t)n)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*der, out, (size_t)n);
	*len = (size_t)n;
	r = 0;
out:
	OPENSSL_free(out);
	EVP_PKEY_free(k);
	BIO_free(bio);
	free(pem);
	return r;
}

/* ak.name: hex of nameAlg || digest, one line. */
static int
load_name(const char *path, uint8_t **name, size_t *len, struct vouch_err *e)
{
	uint8_t *txt = NULL, buf[ENROL_NAME_MAX];
	size_t n = 0, got = 0;
	int r;

	if ((r = file_read(path, ENROL_NAME_HEX_MAX, &txt, &n, e)) < 0)
		return r;
	/* file_read NUL-terminates; drop the line end */
	while (n > 0 && (txt[n - 1] == '\n' || txt[n - 1] == '\r'))
		txt[--n] = '\0';
	r = hex_decode((const char *)txt, buf, sizeof(buf), &got, e);
	if (r < 0) {
		free(txt);
		return vouch_err_prefix(e, "%s", path);
	}
	free(txt);
	if (got < ENROL_NAME_MIN)
		return vouch_err_set(e, VOUCH_E_FORMAT, "%s: a name of %zu "
		    "bytes (at least %d)", path, got, ENROL_NAME_MIN);
	if ((*name = malloc(got)) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	memcpy(*name, buf, got);
	*len = got;
	return 0;
}

int
enrol_request_load(const char *statedir, struct enrol_request *out,
    struct vouch_err *e)
{
	struct enrol_request q;
	char path[4096];
	int r;

	memset(&q, 0, sizeof(q));
	if ((r = enrol_path(path, sizeof(path), statedir, "ek.pem", e)) < 0 ||
	    (r = load_ek_pem(path, &q.ek_pub_der, &q.ek_pub_len, e)) < 0)
		goto fail;
	if ((r = enrol_path(path, sizeof(path), statedir, "ek-cert.der",
	    e)) < 0)
		goto fail;
	/* tpm.c writes no ek-cert.der when the TPM has no certificate */
	if (access(path, F_OK) == 0 || errno != ENOENT) {
		if ((r = file_read(path, ENROL_MAX_DER, &q.ek_cert_der,
		    &q.ek_cert_len, e)) < 0)
			goto fail;
		if (q.ek_cert_len == 0) {
			r = vouch_err_set(e, VOUCH_E_FORMAT, "%s: empty",
			    path);
			goto fail;
		}
	}
	if ((r = enrol_path(path, sizeof(path), statedir, "ak.pub", e)) < 0 ||
	    (r = file_read(path, ENROL_AK_PUB_MAX, &q.ak_pub, &q.ak_pub_len,
	    e)) < 0)
		goto fail;
	if ((r = enrol_path(path, sizeof(path), statedir, "ak.name", e)) < 0 ||
	    (r = load_name(path, &q.ak_name, &q.ak_name_len, e)) < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	enrol_request_clear(&q);
	return r;
}

void
enrol_request_clear(struct enrol_request *r)
{
	if (r == NULL)
		return;
	free(r->ek_pub_der);
	free(r->ek_cert_der);
	free(r->ak_pub);
	free(r->ak_name);
	memset(r, 0, sizeof(*r));
}

/* ---- checks ------------------------------------------------------- */

static int
unmarshal_pub(const uint8_t *buf, size_t len, TPM2B_PUBLIC *pub,
    struct vouch_err *e)
{
	size_t off = 0;

	memset(pub, 0, sizeof(*pub));
	if (buf == NULL || len == 0 || len > ENROL_AK_PUB_MAX ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, pub) !=
	    TSS2_RC_SUCCESS || off != len)
		return vouch_err_set(e, VOUCH_E_FORMAT, "AK public area: not a "
		    "marshalled TPM2B_PUBLIC (%zu bytes)", len);
	return 0;
}

/*
 * The AK is an attestation key a verifier can rely on: a restricted
 * signing key that never left its TPM, with a SHA-256 name and one of the
 * two pinned key types and schemes (verify.h pins the scheme by type).
 */
static int
ak_check(const TPMT_PUBLIC *p, struct vouch_err *e)
{
	size_t i;

	if (p->nameAlg != TPM2_ALG_SHA256)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: nameAlg "
		    "0x%04x, not SHA-256", p->nameAlg);
	for (i = 0; i < ARRAY_SIZE(ak_attrs); i++)
		if (!(p->objectAttributes & ak_attrs[i].bit))
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: "
			    "attribute %s is not set (attributes 0x%08x)",
			    ak_attrs[i].name, p->objectAttributes);
	if (p->objectAttributes & TPMA_OBJECT_DECRYPT)
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: attribute "
		    "decrypt is set: not a signing-only key");
	if (p->type == TPM2_ALG_ECC) {
		const TPMS_ECC_PARMS *c = &p->parameters.eccDetail;

		if (c->curveID != TPM2_ECC_NIST_P256)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: ECC "
			    "curve 0x%04x, not NIST P-256", c->curveID);
		if (c->scheme.scheme != TPM2_ALG_ECDSA ||
		    c->scheme.details.ecdsa.hashAlg != TPM2_ALG_SHA256)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: ECC "
			    "scheme is not ECDSA-SHA256");
		if (p->unique.ecc.x.size != ENROL_P256 ||
		    p->unique.ecc.y.size != ENROL_P256)
			return vouch_err_set(e, VOUCH_E_FORMAT, "AK: P-256 "
			    "point with coordinates of %u and %u bytes",
			    p->unique.ecc.x.size, p->unique.ecc.y.size);
		return 0;
	}
	if (p->type == TPM2_ALG_RSA) {
		const TPMS_RSA_PARMS *rp = &p->parameters.rsaDetail;

		if (rp->keyBits != 2048)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: RSA "
			    "key of %u bits, not 2048", rp->keyBits);
		if (rp->scheme.scheme != TPM2_ALG_RSASSA ||
		    rp->scheme.details.rsassa.hashAlg != TPM2_ALG_SHA256)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: RSA "
			    "scheme is not RSASSA-SHA256");
		if (p->unique.rsa.size != 256)
			return vouch_err_set(e, VOUCH_E_FORMAT, "AK: RSA "
			    "modulus of %u bytes", p->unique.rsa.size);
		return 0;
	}
	return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "AK: key type 0x%04x, "
	    "not ECC or RSA", p->type);
}

/* The EK: RSA-2048 or ECC P-256 (the low-range TCG templates). */
enum ek_kind { EK_RSA, EK_ECC };

static int
ek_parse(const uint8_t *der, size_t len, EVP_PKEY **out, enum ek_kind *kind,
    struct vouch_err *e)
{
	const unsigned char *p = der;
	EVP_PKEY *k;
	char group[32];

	if (der == NULL || len == 0 || len > ENROL_EK_PUB_MAX)
		return vouch_err_set(e, len > ENROL_EK_PUB_MAX ?
		    VOUCH_E_LIMIT : VOUCH_E_FORMAT, "EK public key of %zu "
		    "bytes", len);
	if ((k = d2i_PUBKEY(NULL, &p, (long)len)) == NULL || p != der + len) {
		ERR_clear_error();
		EVP_PKEY_free(k);
		return vouch_err_set(e, VOUCH_E_FORMAT, "EK public key: not "
		    "a SubjectPublicKeyInfo");
	}
	if (EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) == 2048) {
		*kind = EK_RSA;
	} else if (EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) == 1 &&
	    strcmp(group, "prime256v1") == 0) {
		*kind = EK_ECC;
	} else {
		ERR_clear_error();
		EVP_PKEY_free(k);
		return vouch_err_set(e, VOUCH_E_UNSUPPORTED, "EK: not an "
		    "RSA-2048 or ECC P-256 key (TCG low-range templates)");
	}
	*out = k;
	return 0;
}

/* The EK certificate chains to the EK CA and certifies ek. */
static int
ek_cert_check(const uint8_t *der, size_t len, EVP_PKEY *ek,
    const char *ca_path, struct vouch_err *e)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	int r, err;

	if (der == NULL || len == 0)
		return vouch_err_set(e, VOUCH_E_NOTFOUND, "no EK certificate "
		    "in the request, but an EK CA is required");
	if (len > ENROL_MAX_DER)
		return vouch_err_set(e, VOUCH_E_LIMIT, "EK certificate of %zu "
		    "bytes (at most %d)", len, ENROL_MAX_DER);
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
		ERR_clear_error();
		r = vouch_err_set(e, VOUCH_E_FORMAT, "EK certificate: not "
		    "an X.509 DER certificate");
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(x), ek) != 1) {
		ERR_clear_error();
		r = vouch_err_set(e, VOUCH_E_FORMAT, "EK certificate: "
		    "certifies another key than the EK of the request");
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	if (X509_STORE_load_file(store, ca_path) != 1) {
		ERR_clear_error();
		r = vouch_err_set(e, VOUCH_E_IO, "%s: cannot load the EK CA "
		    "certificates", ca_path);
		goto out;
	}
	/*
	 * Purpose "any": an EK certificate is neither a TLS client nor a
	 * server certificate, and the TCG profile gives it only
	 * keyEncipherment (swtpm's local CA sets even less).  What matters
	 * is the signature chain to the manufacturer CA and validity.
	 */
	if (X509_STORE_CTX_init(ctx, store, x, NULL) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1) {
		r = ossl_err(e, "EK certificate verification setup");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		ERR_clear_error();
		r = vouch_err_set(e, VOUCH_E_CRYPTO, "EK certificate does not "
		    "chain to the EK CA %s: %s", ca_path,
		    X509_verify_cert_error_string(err));
		goto out;
	}
	r = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(x);
	return r;
}

/* ---- KDFs and MakeCredential --------------------------------------- */

static void
put_u16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * KDFa (Part 1, 11.4.10.2) with HMAC-SHA256; out gets bytes (at most
 * 64) bytes, counter blocks truncated at the end.
 */
static int
kdfa(const uint8_t *key, size_t keylen, const char *label,
    const uint8_t *u, size_t ulen, uint8_t *out, size_t bytes,
    struct vouch_err *e)
{
	uint8_t in[4 + 16 + ENROL_NAME_MAX + 4], block[ENROL_H];
	size_t llen = strlen(label) + 1, n, done = 0, blen;
	uint32_t i;
	int r = 0;

	if (llen > 16 || ulen > ENROL_NAME_MAX || bytes > 64)
		return vouch_err_set(e, VOUCH_E_INTERNAL, "kdfa: bad sizes");
	/* i || label || 00 || contextU || (contextV empty) || bits */
	memcpy(in + 4, label, llen);
	if (ulen > 0)
		memcpy(in + 4 + llen, u, ulen);
	put_u32(in + 4 + llen + ulen, (uint32_t)(bytes * 8));
	n = 4 + llen + ulen + 4;
	for (i = 1; done < bytes; i++) {
		put_u32(in, i);
		if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
		    in, n, block, sizeof(block), &blen) == NULL ||
		    blen != sizeof(block)) {
			r = ossl_err(e, "KDFa HMAC");
			break;
		}
		blen = bytes - done < sizeof(block) ? bytes - done :
		    sizeof(block);
		memcpy(out + done, block, blen);
		done += blen;
	}
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(in, sizeof(in));
	return r;
}

/* Fixed-width big-endian coordinate of an EC key (x or y). */
static int
ec_coord(const EVP_PKEY *k, const char *which, uint8_t out[ENROL_P256],
    struct vouch_err *e)
{
	BIGNUM *bn = NULL;
	int r = 0;

	if (EVP_PKEY_get_bn_param(k, which, &bn) != 1 ||
	    BN_bn2binpad(bn, out, ENROL_P256) != ENROL_P256)
		r = ossl_err(e, "EC point coordinate");
	BN_free(bn);
	return r;
}

/*
 * ECC seed: ECDH of a fresh P-256 key with the EK; Z is the shared
 * point's x; seed = KDFe(SHA-256, Z, "IDENTITY", x(Q), x(EK)), one block
 * since the seed is one digest long.  encSecret is Q as TPMS_ECC_POINT.
 */
static int
seed_ecc(EVP_PKEY *ek, uint8_t seed[ENROL_H], uint8_t *enc, size_t *enclen,
    struct vouch_err *e)
{
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *dctx = NULL;
	EVP_MD_CTX *md = NULL;
	uint8_t z[ENROL_P256], qx[ENROL_P256], qy[ENROL_P256];
	uint8_t ekx[ENROL_P256], ctr[4];
	size_t zlen = sizeof(z);
	unsigned int hlen = 0;
	int r;

	if ((eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		r = ossl_err(e, "ephemeral P-256 key");
		goto out;
	}
	if ((dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) == NULL ||
	    EVP_PKEY_derive_init(dctx) != 1 ||
	    EVP_PKEY_derive_set_peer(dctx, ek) != 1 ||
	    EVP_PKEY_derive(dctx, z, &zlen) != 1 || zlen != sizeof(z)) {
		r = ossl_err(e, "ECDH with the EK");
		goto out;
	}
	if ((r = ec_coord(eph, OSSL_PKEY_PARAM_EC_PUB_X, qx, e)) < 0 ||
	    (r = ec_coord(eph, OSSL_PKEY_PARAM_EC_PUB_Y, qy, e)) < 0 ||
	    (r = ec_coord(ek, OSSL_PKEY_PARAM_EC_PUB_X, ekx, e)) < 0)
		goto out;
	put_u32(ctr, 1);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, ctr, sizeof(ctr)) != 1 ||
	    EVP_DigestUpdate(md, z, sizeof(z)) != 1 ||
	    EVP_DigestUpdate(md, label_identity,
	    sizeof(label_identity)) != 1 ||
	    EVP_DigestUpdate(md, qx, sizeof(qx)) != 1 ||
	    EVP_DigestUpdate(md, ekx, sizeof(ekx)) != 1 ||
	    EVP_DigestFinal_ex(md, seed, &hlen) != 1 || hlen != ENROL_H) {
		r = ossl_err(e, "KDFe");
		goto out;
	}
	/* TPM2B_ENCRYPTED_SECRET: size, then Q as TPMS_ECC_POINT */
	put_u16(enc, 4 + 2 * ENROL_P256);
	put_u16(enc + 2, ENROL_P256);
	memcpy(enc + 4, qx, ENROL_P256);
	put_u16(enc + 4 + ENROL_P256, ENROL_P256);
	memcpy(enc + 6 + ENROL_P256, qy, ENROL_P256);
	*enclen = 6 + 2 * ENROL_P256;
	r = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(eph);	/* frees (and clears) the ephemeral scalar */
	return r;
}

/* RSA seed: 32 random bytes, OAEP-SHA256 with the label "IDENTITY\0". */
static int
seed_rsa(EVP_PKEY *ek, uint8_t seed[ENROL_H], uint8_t *enc, size_t *enclen,
    struct vouch_err *e)
{
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *label = NULL;
	size_t outlen = ENROL_RSA_CT;
	int r;

	if (RAND_bytes(seed, ENROL_H) != 1)
		return ossl_err(e, "random seed");
	if ((label = OPENSSL_malloc(sizeof(label_identity))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	memcpy(label, label_identity, sizeof(label_identity));
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL)) == NULL ||
	    EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1) {
		r = ossl_err(e, "RSA-OAEP setup");
		goto out;
	}
	/* the context owns the label from here on */
	if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label,
	    (int)sizeof(label_identity)) != 1) {
		r = ossl_err(e, "RSA-OAEP label");
		goto out;
	}
	label = NULL;
	if (EVP_PKEY_encrypt(ctx, enc + 2, &outlen, seed, ENROL_H) != 1 ||
	    outlen != ENROL_RSA_CT) {
		r = ossl_err(e, "RSA-OAEP encryption of the seed");
		goto out;
	}
	put_u16(enc, outlen);
	*enclen = 2 + outlen;
	r = 0;
out:
	OPENSSL_free(label);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* credential = TPM2B_ID_OBJECT of secret, see the layout above. */
static int
wrap_secret(const uint8_t seed[ENROL_H], const uint8_t *name, size_t namelen,
    const uint8_t secret[ENROL_SECRET_LEN], uint8_t *cred, size_t *credlen,
    struct vouch_err *e)
{
	uint8_t symkey[ENROL_SYM], hmackey[ENROL_H], iv[ENROL_SYM] = { 0 };
	uint8_t plain[2 + ENROL_SECRET_LEN], mac_in[2 + ENROL_SECRET_LEN +
	    ENROL_NAME_MAX];
	uint8_t *hmac = cred + 4, *encid = cred + 4 + ENROL_H;
	const size_t idlen = sizeof(plain);
	EVP_CIPHER_CTX *c = NULL;
	size_t maclen = 0;
	int n1 = 0, n2 = 0, r;

	if ((r = kdfa(seed, ENROL_H, "STORAGE", name, namelen, symkey,
	    sizeof(symkey), e)) < 0 ||
	    (r = kdfa(seed, ENROL_H, "INTEGRITY", NULL, 0, hmackey,
	    sizeof(hmackey), e)) < 0)
		goto out;
	/* encIdentity: the secret as TPM2B_DIGEST, CFB with a zero IV */
	put_u16(plain, ENROL_SECRET_LEN);
	memcpy(plain + 2, secret, ENROL_SECRET_LEN);
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_128_cfb128(), NULL, symkey,
	    iv) != 1 ||
	    EVP_EncryptUpdate(c, encid, &n1, plain, (int)idlen) != 1 ||
	    EVP_EncryptFinal_ex(c, encid + n1, &n2) != 1 ||
	    (size_t)(n1 + n2) != idlen) {
		r = ossl_err(e, "AES-128-CFB of the credential");
		goto out;
	}
	memcpy(mac_in, encid, idlen);
	memcpy(mac_in + idlen, name, namelen);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmackey,
	    sizeof(hmackey), mac_in, idlen + namelen, hmac, ENROL_H,
	    &maclen) == NULL || maclen != ENROL_H) {
		r = ossl_err(e, "outer HMAC of the credential");
		goto out;
	}
	put_u16(cred, 2 + ENROL_H + idlen);
	put_u16(cred + 2, ENROL_H);
	*credlen = 4 + ENROL_H + idlen;
	r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(symkey, sizeof(symkey));
	OPENSSL_cleanse(hmackey, sizeof(hmackey));
	OPENSSL_cleanse(plain, sizeof(plain));
	return r;
}

int
enrol_challenge_make(const struct enrol_request *req,
    const char *ek_ca_path, struct enrol_challenge *out, struct vouch_err *e)
{
	struct enrol_challenge c;
	TPM2B_PUBLIC ak;
	EVP_PKEY *ek = NULL;
	enum ek_kind kind = EK_RSA;
	uint8_t name[TPM_NAME_LEN], seed[ENROL_H];
	int r;

	memset(&c, 0, sizeof(c));
	if (req->ak_name == NULL || req->ak_name_len < ENROL_NAME_MIN ||
	    req->ak_name_len > ENROL_NAME_MAX)
		return vouch_err_set(e, VOUCH_E_FORMAT, "AK name of %zu bytes "
		    "(%d..%d)", req->ak_name_len, ENROL_NAME_MIN,
		    ENROL_NAME_MAX);
	if ((r = unmarshal_pub(req->ak_pub, req->ak_pub_len, &ak, e)) < 0 ||
	    (r = ak_check(&ak.publicArea, e)) < 0 ||
	    (r = tpm_object_name(&ak.publicArea, name, e)) < 0)
		return r;
	/* the name the TPM will bind the credential to is this one */
	if (req->ak_name_len != sizeof(name) ||
	    CRYPTO_memcmp(req->ak_name, name, sizeof(name)) != 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "AK name does not "
		    "match the AK public area (nameAlg || SHA-256 of it)");
	if ((r = ek_parse(req->ek_pub_der, req->ek_pub_len, &ek, &kind, e)) < 0)
		return r;
	if (ek_ca_path != NULL && (r = ek_cert_check(req->ek_cert_der,
	    req->ek_cert_len, ek, ek_ca_path, e)) < 0)
		goto out;
	if (RAND_bytes(c.secret, sizeof(c.secret)) != 1) {
		r = ossl_err(e, "random secret");
		goto out;
	}
	/* enc_secret: TPM2B_ENCRYPTED_SECRET (size, then the body) */
	if (kind == EK_RSA)
		r = seed_rsa(ek, seed, c.enc_secret, &c.enc_secret_len, e);
	else
		r = seed_ecc(ek, seed, c.enc_secret, &c.enc_secret_len, e);
	if (r < 0)
		goto out;
	if ((r = wrap_secret(seed, name, sizeof(name), c.secret, c.credential,
	    &c.credential_len, e)) < 0)
		goto out;
	*out = c;
	r = 0;
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(&c, sizeof(c));
	EVP_PKEY_free(ek);
	return r;
}

int
enrol_proof_check(const struct enrol_challenge *c, const uint8_t *proof,
    size_t len)
{
	/* the length is public (always ENROL_SECRET_LEN); the bytes not */
	if (c == NULL || proof == NULL || len != sizeof(c->secret))
		return 0;
	return CRYPTO_memcmp(c->secret, proof, sizeof(c->secret)) == 0;
}

int
enrol_ak_pubkey(const uint8_t *ak_pub, size_t len, EVP_PKEY **out,
    struct vouch_err *e)
{
	TPM2B_PUBLIC pub;
	int r;

	if ((r = unmarshal_pub(ak_pub, len, &pub, e)) < 0 ||
	    (r = ak_check(&pub.publicArea, e)) < 0)
		return r;
	return tpm_pub_to_pkey(&pub.publicArea, out, e);
}
