/*
 * Unit tests: attest/enrol.c, the registrar's half of credential
 * activation.  No TPM: keys and certificates from OpenSSL, AK public
 * areas built and marshalled with tss2-mu, and the TPM's side of
 * TPM2_ActivateCredential redone here in software with the EK's private
 * key (written apart from enrol.c, from TPM 2.0 Part 1 "Credential
 * Protection"), so a credential that decrypts here decrypts in a TPM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <tss2/tss2_mu.h>

#include "common/util.h"
#include "attest/enrol.h"

static char dir[64];
static char ca_pem[128], oca_pem[128];

/* Keys and certificates shared by the tests (RSA keygen is slow). */
static EVP_PKEY *ca_key, *oca_key, *ek_ecc, *ek_rsa, *ak_ecc, *ak_rsa,
    *stranger;
static X509 *ca_cert, *oca_cert;

/* ---- fixtures ------------------------------------------------------ */

static X509 *
make_cert(EVP_PKEY *subject, EVP_PKEY *issuer_key, X509 *issuer, int ca,
    long serial)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509_EXTENSION *ext;

	assert_non_null(x);
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), serial));
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)(ca ? "test EK CA" : "test EK"), -1, -1,
	    0));
	assert_true(X509_set_subject_name(x, n));
	assert_true(X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : n));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_true(X509_set_pubkey(x, subject));
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
		    "critical,CA:TRUE");
		assert_non_null(ext);
		assert_true(X509_add_ext(x, ext, -1));
		X509_EXTENSION_free(ext);
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
		assert_non_null(ext);
		assert_true(X509_add_ext(x, ext, -1));
		X509_EXTENSION_free(ext);
	}
	/* EK certificates: no extensions at all (swtpm's lack several) */
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static void
write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(PEM_write_X509(f, x));
	fclose(f);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vouch-enrol.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	snprintf(oca_pem, sizeof(oca_pem), "%s/oca.pem", dir);
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	oca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ek_ecc = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ak_ecc = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	stranger = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ek_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ak_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!ca_key || !oca_key || !ek_ecc || !ak_ecc || !stranger ||
	    !ek_rsa || !ak_rsa)
		return -1;
	ca_cert = make_cert(ca_key, ca_key, NULL, 1, 1);
	oca_cert = make_cert(oca_key, oca_key, NULL, 1, 1);
	write_pem(ca_pem, ca_cert);
	write_pem(oca_pem, oca_cert);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(oca_key);
	EVP_PKEY_free(ek_ecc);
	EVP_PKEY_free(ek_rsa);
	EVP_PKEY_free(ak_ecc);
	EVP_PKEY_free(ak_rsa);
	EVP_PKEY_free(stranger);
	X509_free(ca_cert);
	X509_free(oca_cert);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *
dup_bytes(const void *p, size_t n)
{
	uint8_t *d = malloc(n);

	assert_non_null(d);
	memcpy(d, p, n);
	return d;
}

static void
bn_fixed(const EVP_PKEY *k, const char *param, uint8_t *out, size_t n)
{
	BIGNUM *bn = NULL;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, out, (int)n), (int)n);
	BN_free(bn);
}

/* The AK public area tpm.c's template gives, with key k's public part. */
static void
ak_area(EVP_PKEY *k, TPM2B_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	p->publicArea.nameAlg = TPM2_ALG_SHA256;
	p->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
	    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
	    TPMA_OBJECT_SIGN_ENCRYPT;
	if (EVP_PKEY_is_a(k, "RSA")) {
		TPMS_RSA_PARMS *r = &p->publicArea.parameters.rsaDetail;

		p->publicArea.type = TPM2_ALG_RSA;
		r->symmetric.algorithm = TPM2_ALG_NULL;
		r->scheme.scheme = TPM2_ALG_RSASSA;
		r->scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		r->keyBits = 2048;
		p->publicArea.unique.rsa.size = 256;
		bn_fixed(k, OSSL_PKEY_PARAM_RSA_N,
		    p->publicArea.unique.rsa.buffer, 256);
	} else {
		TPMS_ECC_PARMS *c = &p->publicArea.parameters.eccDetail;

		p->publicArea.type = TPM2_ALG_ECC;
		c->symmetric.algorithm = TPM2_ALG_NULL;
		c->scheme.scheme = TPM2_ALG_ECDSA;
		c->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		c->curveID = TPM2_ECC_NIST_P256;
		c->kdf.scheme = TPM2_ALG_NULL;
		p->publicArea.unique.ecc.x.size = 32;
		p->publicArea.unique.ecc.y.size = 32;
		bn_fixed(k, OSSL_PKEY_PARAM_EC_PUB_X,
		    p->publicArea.unique.ecc.x.buffer, 32);
		bn_fixed(k, OSSL_PKEY_PARAM_EC_PUB_Y,
		    p->publicArea.unique.ecc.y.buffer, 32);
	}
}

/*
 * Marshal p into the request's ak_pub and (if set_name) its name:
 * 0x000b || SHA-256(TPMT_PUBLIC), the TPMT_PUBLIC being ak_pub after its
 * two size bytes.
 */
static void
req_set_ak(struct enrol_request *q, const TPM2B_PUBLIC *p, int set_name)
{
	uint8_t buf[sizeof(TPM2B_PUBLIC)], name[34];
	size_t off = 0;
	unsigned int hl = 0;

	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(p, buf, sizeof(buf),
	    &off), TSS2_RC_SUCCESS);
	free(q->ak_pub);
	q->ak_pub = dup_bytes(buf, off);
	q->ak_pub_len = off;
	if (!set_name)
		return;
	name[0] = 0x00;
	name[1] = 0x0b;
	assert_true(EVP_Digest(buf + 2, off - 2, name + 2, &hl, EVP_sha256(),
	    NULL));
	free(q->ak_name);
	q->ak_name = dup_bytes(name, sizeof(name));
	q->ak_name_len = sizeof(name);
}

static void
req_set_cert(struct enrol_request *q, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	free(q->ek_cert_der);
	q->ek_cert_der = dup_bytes(der, (size_t)n);
	q->ek_cert_len = (size_t)n;
	OPENSSL_free(der);
}

/* A complete, valid request: ek's SPKI, a certificate by the CA, ak. */
static void
req_build(struct enrol_request *q, EVP_PKEY *ek, EVP_PKEY *ak)
{
	unsigned char *der = NULL;
	TPM2B_PUBLIC p;
	X509 *x;
	int n;

	memset(q, 0, sizeof(*q));
	n = i2d_PUBKEY(ek, &der);
	assert_true(n > 0);
	q->ek_pub_der = dup_bytes(der, (size_t)n);
	q->ek_pub_len = (size_t)n;
	OPENSSL_free(der);
	x = make_cert(ek, ca_key, ca_cert, 0, 7);
	req_set_cert(q, x);
	X509_free(x);
	ak_area(ak, &p);
	req_set_ak(q, &p, 1);
}

/* ---- the TPM's side, in software ----------------------------------- */

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* KDFa with SHA-256 for at most 32 bytes: one HMAC block. */
static void
t_kdfa(const uint8_t *seed, const char *label, const uint8_t *u,
    size_t ulen, uint8_t *out, size_t bytes)
{
	uint8_t in[128], block[32];
	size_t n = 0, l = strlen(label) + 1, bl = 0;

	assert_true(bytes <= 32 && 4 + l + ulen + 4 <= sizeof(in));
	be32(in, 1);
	n = 4;
	memcpy(in + n, label, l);
	n += l;
	if (ulen)
		memcpy(in + n, u, ulen);
	n += ulen;
	be32(in + n, (uint32_t)(bytes * 8));
	n += 4;
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, seed,
	    32, in, n, block, sizeof(block), &bl));
	memcpy(out, block, bytes);
}

/* Recover the seed from enc_secret with the EK's private key. */
static int
t_seed(EVP_PKEY *ekpriv, const struct enrol_challenge *c, uint8_t seed[32])
{
	size_t n = 32;

	if (EVP_PKEY_is_a(ekpriv, "RSA")) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ekpriv,
		    NULL);
		unsigned char *label = OPENSSL_malloc(9);
		uint8_t plain[256];
		int ok;

		assert_non_null(label);
		memcpy(label, "IDENTITY", 9);
		assert_int_equal(c->enc_secret_len, 258);
		assert_int_equal(c->enc_secret[0] << 8 | c->enc_secret[1], 256);
		assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx,
		    RSA_PKCS1_OAEP_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx,
		    EVP_sha256()), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx,
		    EVP_sha256()), 1);
		assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label,
		    9), 1);
		/* OpenSSL wants room for a whole modulus */
		n = sizeof(plain);
		ok = EVP_PKEY_decrypt(ctx, plain, &n, c->enc_secret + 2, 256)
		    == 1 && n == 32;
		if (ok)
			memcpy(seed, plain, 32);
		EVP_PKEY_CTX_free(ctx);
		return ok ? 0 : -1;
	} else {
		/* enc_secret: 0x0044 | 0x0020 x | 0x0020 y */
		OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
		OSSL_PARAM *params;
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		EVP_PKEY *q = NULL;
		EVP_PKEY_CTX *dc;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		uint8_t pt[65], z[32], ekx[32], ctr[4];
		size_t zl = sizeof(z);
		unsigned int hl = 0;

		assert_int_equal(c->enc_secret_len, 70);
		assert_int_equal(c->enc_secret[0] << 8 | c->enc_secret[1], 68);
		assert_int_equal(c->enc_secret[2] << 8 | c->enc_secret[3], 32);
		assert_int_equal(c->enc_secret[36] << 8 | c->enc_secret[37], 32);
		pt[0] = 4;
		memcpy(pt + 1, c->enc_secret + 4, 32);
		memcpy(pt + 33, c->enc_secret + 38, 32);
		assert_true(OSSL_PARAM_BLD_push_utf8_string(b,
		    OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0));
		assert_true(OSSL_PARAM_BLD_push_octet_string(b,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)));
		params = OSSL_PARAM_BLD_to_param(b);
		assert_int_equal(EVP_PKEY_fromdata_init(pc), 1);
		assert_int_equal(EVP_PKEY_fromdata(pc, &q, EVP_PKEY_PUBLIC_KEY,
		    params), 1);
		dc = EVP_PKEY_CTX_new_from_pkey(NULL, ekpriv, NULL);
		assert_int_equal(EVP_PKEY_derive_init(dc), 1);
		assert_int_equal(EVP_PKEY_derive_set_peer(dc, q), 1);
		assert_int_equal(EVP_PKEY_derive(dc, z, &zl), 1);
		bn_fixed(ekpriv, OSSL_PKEY_PARAM_EC_PUB_X, ekx, 32);
		/* KDFe: H(1 || Z || "IDENTITY\0" || x(Q) || x(EK)) */
		be32(ctr, 1);
		assert_true(EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		    EVP_DigestUpdate(md, ctr, 4) &&
		    EVP_DigestUpdate(md, z, 32) &&
		    EVP_DigestUpdate(md, "IDENTITY", 9) &&
		    EVP_DigestUpdate(md, c->enc_secret + 4, 32) &&
		    EVP_DigestUpdate(md, ekx, 32) &&
		    EVP_DigestFinal_ex(md, seed, &hl));
		EVP_MD_CTX_free(md);
		EVP_PKEY_CTX_free(dc);
		EVP_PKEY_free(q);
		EVP_PKEY_CTX_free(pc);
		OSSL_PARAM_free(params);
		OSSL_PARAM_BLD_free(b);
		return 0;
	}
}

/*
 * TPM2_ActivateCredential for an AK of the given name: check the outer
 * HMAC, then decrypt.  -1 where the TPM answers TPM_RC_INTEGRITY.
 */
static int
t_activate(EVP_PKEY *ekpriv, const struct enrol_challenge *c,
    const uint8_t *name, size_t namelen, uint8_t out[32])
{
	uint8_t seed[32], sym[16], hk[32], mac[32], macin[256], plain[64];
	uint8_t iv[16] = { 0 };
	const uint8_t *cr = c->credential;
	size_t idlen, ml = 0;
	EVP_CIPHER_CTX *x;
	int n = 0;

	if (t_seed(ekpriv, c, seed) < 0)
		return -1;
	/* size | 0x0020 | HMAC | encIdentity */
	assert_int_equal((size_t)(cr[0] << 8 | cr[1]), c->credential_len - 2);
	assert_int_equal(cr[2] << 8 | cr[3], 32);
	idlen = c->credential_len - 36;
	assert_true(idlen <= sizeof(plain) && idlen + namelen <= sizeof(macin));
	t_kdfa(seed, "INTEGRITY", NULL, 0, hk, 32);
	memcpy(macin, cr + 36, idlen);
	memcpy(macin + idlen, name, namelen);
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hk, 32,
	    macin, idlen + namelen, mac, sizeof(mac), &ml));
	if (CRYPTO_memcmp(mac, cr + 4, 32) != 0)
		return -1;
	t_kdfa(seed, "STORAGE", name, namelen, sym, 16);
	x = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_DecryptInit_ex(x, EVP_aes_128_cfb128(), NULL, sym,
	    iv), 1);
	assert_int_equal(EVP_DecryptUpdate(x, plain, &n, cr + 36, (int)idlen),
	    1);
	EVP_CIPHER_CTX_free(x);
	assert_int_equal(n, (int)idlen);
	assert_int_equal(plain[0] << 8 | plain[1], 32);
	assert_int_equal(idlen, 34);
	memcpy(out, plain + 2, 32);
	return 0;
}

/* ---- tests ---------------------------------------------------------- */

static void
roundtrip(EVP_PKEY *ek, EVP_PKEY *ak)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct enrol_request q;
	struct enrol_challenge c, c2;
	uint8_t got[32], other[34];

	req_build(&q, ek, ak);
	if (enrol_challenge_make(&q, ca_pem, &c, &e) != 0)
		fail_msg("enrol_challenge_make: %s", e.msg);
	assert_int_equal(c.credential_len, 70);
	assert_int_equal(t_activate(ek, &c, q.ak_name, q.ak_name_len, got), 0);
	assert_memory_equal(got, c.secret, 32);
	assert_int_equal(enrol_proof_check(&c, got, sizeof(got)), 1);
	/* bound to the AK's name: another name fails the integrity check */
	memcpy(other, q.ak_name, sizeof(other));
	other[33] ^= 1;
	assert_int_equal(t_activate(ek, &c, other, sizeof(other), got), -1);
	/* and to the blob: any flipped credential byte fails it too */
	c2 = c;
	c2.credential[40] ^= 0x80;
	assert_int_equal(t_activate(ek, &c2, q.ak_name, q.ak_name_len, got),
	    -1);
	/* a fresh secret and seed each time */
	assert_int_equal(enrol_challenge_make(&q, ca_pem, &c2, &e), 0);
	assert_memory_not_equal(c.secret, c2.secret, 32);
	assert_memory_not_equal(c.enc_secret, c2.enc_secret,
	    c.enc_secret_len);
	enrol_request_clear(&q);
	assert_null(q.ak_pub);
}

static void
test_ecc_ek_ecc_ak(void **state)
{
	(void)state;
	roundtrip(ek_ecc, ak_ecc);
}

static void
test_rsa_ek_rsa_ak(void **state)
{
	(void)state;
	roundtrip(ek_rsa, ak_rsa);
}

static void
test_mixed_types(void **state)
{
	(void)state;
	roundtrip(ek_rsa, ak_ecc);
	roundtrip(ek_ecc, ak_rsa);
}

/* make must fail with code and a reason containing what. */
static void
expect_refusal(const struct enrol_request *q, const char *ca, int code,
    const char *what)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct enrol_challenge c;

	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(enrol_challenge_make(q, ca, &c, &e), code);
	if (strstr(e.msg, what) == NULL)
		fail_msg("reason '%s' lacks '%s'", e.msg, what);
	/* outputs are written only on success */
	assert_int_equal(c.credential_len, (size_t)0xa5a5a5a5a5a5a5a5ull);
}

static void
test_ak_missing_attributes(void **state)
{
	static const struct {
		TPMA_OBJECT	bit;
		const char	*name;
	} attrs[] = {
		{ TPMA_OBJECT_RESTRICTED, "restricted" },
		{ TPMA_OBJECT_SIGN_ENCRYPT, "sign" },
		{ TPMA_OBJECT_FIXEDTPM, "fixedTPM" },
		{ TPMA_OBJECT_FIXEDPARENT, "fixedParent" },
		{ TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin" },
		{ TPMA_OBJECT_USERWITHAUTH, "userWithAuth" },
	};
	struct enrol_request q;
	TPM2B_PUBLIC p;
	size_t i;

	(void)state;
	req_build(&q, ek_ecc, ak_ecc);
	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		ak_area(ak_ecc, &p);
		p.publicArea.objectAttributes &= ~attrs[i].bit;
		req_set_ak(&q, &p, 1);	/* a consistent name: only the bit */
		expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, attrs[i].name);
	}
	ak_area(ak_ecc, &p);
	p.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT;
	req_set_ak(&q, &p, 1);
	expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, "decrypt");
	/* and the untouched area passes, so each refusal is the bit's */
	ak_area(ak_ecc, &p);
	req_set_ak(&q, &p, 1);
	{
		struct enrol_challenge c;

		assert_int_equal(enrol_challenge_make(&q, ca_pem, &c, NULL), 0);
	}
	enrol_request_clear(&q);
}

static void
test_ak_types(void **state)
{
	struct enrol_request q;
	TPM2B_PUBLIC p;

	(void)state;
	req_build(&q, ek_ecc, ak_ecc);
	ak_area(ak_ecc, &p);
	p.publicArea.nameAlg = TPM2_ALG_SHA1;
	req_set_ak(&q, &p, 1);
	expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, "nameAlg");
	ak_area(ak_ecc, &p);
	p.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
	req_set_ak(&q, &p, 1);
	expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, "curve");
	ak_area(ak_ecc, &p);
	p.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg =
	    TPM2_ALG_SHA384;
	req_set_ak(&q, &p, 1);
	expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, "ECDSA-SHA256");
	ak_area(ak_rsa, &p);
	p.publicArea.parameters.rsaDetail.keyBits = 1024;
	req_set_ak(&q, &p, 1);
	expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, "1024");
	ak_area(ak_rsa, &p);
	p.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSAPSS;
	req_set_ak(&q, &p, 1);
	expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, "RSASSA");
	/* a keyedhash object is no AK */
	memset(&p, 0, sizeof(p));
	p.publicArea.type = TPM2_ALG_KEYEDHASH;
	p.publicArea.nameAlg = TPM2_ALG_SHA256;
	p.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
	    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
	    TPMA_OBJECT_SIGN_ENCRYPT;
	p.publicArea.parameters.keyedHashDetail.scheme.scheme =
	    TPM2_ALG_HMAC;
	p.publicArea.parameters.keyedHashDetail.scheme.details.hmac.hashAlg =
	    TPM2_ALG_SHA256;
	req_set_ak(&q, &p, 1);
	expect_refusal(&q, ca_pem, VOUCH_E_UNSUPPORTED, "key type");
	/* a marshalled area with a byte more or less */
	ak_area(ak_ecc, &p);
	req_set_ak(&q, &p, 1);
	q.ak_pub_len--;
	expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "TPM2B_PUBLIC");
	enrol_request_clear(&q);
}

static void
test_name_mismatch(void **state)
{
	struct enrol_request q;
	size_t i;

	(void)state;
	req_build(&q, ek_ecc, ak_ecc);
	for (i = 0; i < q.ak_name_len; i += 11) {
		q.ak_name[i] ^= 0x01;
		expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "does not match");
		q.ak_name[i] ^= 0x01;
	}
	/* the name of another AK */
	{
		struct enrol_request o;

		req_build(&o, ek_ecc, ak_rsa);
		memcpy(q.ak_name, o.ak_name, q.ak_name_len);
		expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "does not match");
		enrol_request_clear(&o);
	}
	/* a SHA-1-sized name: the right length range, the wrong name */
	q.ak_name_len = 22;
	expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "does not match");
	q.ak_name_len = 21;
	expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "AK name of 21 bytes");
	enrol_request_clear(&q);
}

static void
test_ek_cert_other_ca(void **state)
{
	struct enrol_request q;
	struct enrol_challenge c;
	X509 *x;

	(void)state;
	req_build(&q, ek_ecc, ak_ecc);
	x = make_cert(ek_ecc, oca_key, oca_cert, 0, 9);
	req_set_cert(&q, x);
	X509_free(x);
	expect_refusal(&q, ca_pem, VOUCH_E_CRYPTO, "does not chain");
	/* fair: the same request passes under the CA that did sign it */
	assert_int_equal(enrol_challenge_make(&q, oca_pem, &c, NULL), 0);
	/* a certificate signed by the EK itself chains to nothing */
	x = make_cert(ek_ecc, ek_ecc, NULL, 0, 3);
	req_set_cert(&q, x);
	X509_free(x);
	expect_refusal(&q, ca_pem, VOUCH_E_CRYPTO, "does not chain");
	enrol_request_clear(&q);
}

static void
test_ek_cert_other_key(void **state)
{
	struct enrol_request q;
	X509 *x;

	(void)state;
	req_build(&q, ek_ecc, ak_ecc);
	/* a genuine certificate of the right CA, for a stranger's key */
	x = make_cert(stranger, ca_key, ca_cert, 0, 11);
	req_set_cert(&q, x);
	X509_free(x);
	expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "another key");
	/* the RSA EK's certificate beside the ECC EK */
	x = make_cert(ek_rsa, ca_key, ca_cert, 0, 12);
	req_set_cert(&q, x);
	X509_free(x);
	expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "another key");
	enrol_request_clear(&q);
}

static void
test_ek_cert_absent_or_bad(void **state)
{
	struct enrol_request q;
	struct enrol_challenge c;
	char missing[160];

	(void)state;
	req_build(&q, ek_rsa, ak_ecc);
	q.ek_cert_der[10] ^= 0xff;
	expect_refusal(&q, ca_pem, VOUCH_E_FORMAT, "X.509");
	free(q.ek_cert_der);
	q.ek_cert_der = NULL;
	q.ek_cert_len = 0;
	expect_refusal(&q, ca_pem, VOUCH_E_NOTFOUND, "no EK certificate");
	/* lab mode: no CA, no certificate check */
	assert_int_equal(enrol_challenge_make(&q, NULL, &c, NULL), 0);
	/* an unreadable CA file is an I/O error, not a refusal */
	snprintf(missing, sizeof(missing), "%s/nope.pem", dir);
	{
		X509 *x = make_cert(ek_rsa, ca_key, ca_cert, 0, 13);

		req_set_cert(&q, x);
		X509_free(x);
	}
	expect_refusal(&q, missing, VOUCH_E_IO, "nope.pem");
	enrol_request_clear(&q);
}

static void
test_ek_types(void **state)
{
	struct enrol_request q;
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	unsigned char *der = NULL;
	int n;

	(void)state;
	assert_non_null(p384);
	req_build(&q, ek_ecc, ak_ecc);
	n = i2d_PUBKEY(p384, &der);
	free(q.ek_pub_der);
	q.ek_pub_der = dup_bytes(der, (size_t)n);
	q.ek_pub_len = (size_t)n;
	OPENSSL_free(der);
	expect_refusal(&q, NULL, VOUCH_E_UNSUPPORTED, "P-256");
	q.ek_pub_len--;
	expect_refusal(&q, NULL, VOUCH_E_FORMAT, "SubjectPublicKeyInfo");
	q.ek_pub_len = 2049;
	expect_refusal(&q, NULL, VOUCH_E_LIMIT, "2049");
	enrol_request_clear(&q);
	EVP_PKEY_free(p384);
}

static void
test_proof_check(void **state)
{
	struct enrol_challenge c;
	uint8_t p[ENROL_SECRET_LEN + 1];
	size_t i;

	(void)state;
	memset(&c, 0, sizeof(c));
	for (i = 0; i < ENROL_SECRET_LEN; i++)
		c.secret[i] = (uint8_t)(i * 7 + 1);
	memcpy(p, c.secret, ENROL_SECRET_LEN);
	p[ENROL_SECRET_LEN] = 0;
	assert_int_equal(enrol_proof_check(&c, p, ENROL_SECRET_LEN), 1);
	for (i = 0; i < ENROL_SECRET_LEN * 8; i++) {
		p[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(enrol_proof_check(&c, p, ENROL_SECRET_LEN), 0);
		p[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	assert_int_equal(enrol_proof_check(&c, p, ENROL_SECRET_LEN - 1), 0);
	assert_int_equal(enrol_proof_check(&c, p, ENROL_SECRET_LEN + 1), 0);
	assert_int_equal(enrol_proof_check(&c, p, 0), 0);
	assert_int_equal(enrol_proof_check(&c, NULL, ENROL_SECRET_LEN), 0);
	assert_int_equal(enrol_proof_check(NULL, p, ENROL_SECRET_LEN), 0);
}

static void
test_ak_pubkey(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct enrol_request q;
	EVP_PKEY *k = NULL;
	TPM2B_PUBLIC p;

	(void)state;
	memset(&q, 0, sizeof(q));
	ak_area(ak_ecc, &p);
	req_set_ak(&q, &p, 0);
	assert_int_equal(enrol_ak_pubkey(q.ak_pub, q.ak_pub_len, &k, &e), 0);
	assert_int_equal(EVP_PKEY_eq(k, ak_ecc), 1);
	EVP_PKEY_free(k);
	k = NULL;
	ak_area(ak_rsa, &p);
	req_set_ak(&q, &p, 0);
	assert_int_equal(enrol_ak_pubkey(q.ak_pub, q.ak_pub_len, &k, &e), 0);
	assert_int_equal(EVP_PKEY_eq(k, ak_rsa), 1);
	assert_int_not_equal(EVP_PKEY_eq(k, ak_ecc), 1);
	EVP_PKEY_free(k);
	k = NULL;
	assert_int_equal(enrol_ak_pubkey(q.ak_pub, q.ak_pub_len - 1, &k, &e), VOUCH_E_FORMAT);
	assert_null(k);
	p.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	req_set_ak(&q, &p, 0);
	assert_int_equal(enrol_ak_pubkey(q.ak_pub, q.ak_pub_len, &k, &e),
	    VOUCH_E_UNSUPPORTED);
	assert_null(k);
	enrol_request_clear(&q);
}

static void
write_file(const char *d, const char *name, const void *buf, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void
test_request_load(void **state)
{
	struct vouch_err e = VOUCH_ERR_INIT;
	struct enrol_request src, q;
	struct enrol_challenge c;
	char sd[128], path[256], hex[2 * 34 + 2];
	uint8_t big[1100];
	FILE *f;

	(void)state;
	snprintf(sd, sizeof(sd), "%s/state", dir);
	assert_int_equal(mkdir(sd, 0700), 0);
	req_build(&src, ek_ecc, ak_ecc);
	snprintf(path, sizeof(path), "%s/ek.pem", sd);
	assert_non_null(f = fopen(path, "w"));
	assert_true(PEM_write_PUBKEY(f, ek_ecc));
	fclose(f);
	write_file(sd, "ek-cert.der", src.ek_cert_der, src.ek_cert_len);
	write_file(sd, "ak.pub", src.ak_pub, src.ak_pub_len);
	hex_encode(src.ak_name, src.ak_name_len, hex);
	strcat(hex, "\n");
	write_file(sd, "ak.name", hex, strlen(hex));

	assert_int_equal(enrol_request_load(sd, &q, &e), 0);
	assert_int_equal(q.ek_pub_len, src.ek_pub_len);
	assert_memory_equal(q.ek_pub_der, src.ek_pub_der, src.ek_pub_len);
	assert_int_equal(q.ek_cert_len, src.ek_cert_len);
	assert_memory_equal(q.ek_cert_der, src.ek_cert_der, src.ek_cert_len);
	assert_int_equal(q.ak_pub_len, src.ak_pub_len);
	assert_memory_equal(q.ak_pub, src.ak_pub, src.ak_pub_len);
	assert_int_equal(q.ak_name_len, 34);
	assert_memory_equal(q.ak_name, src.ak_name, 34);
	/* and the loaded request makes a challenge */
	assert_int_equal(enrol_challenge_make(&q, ca_pem, &c, &e), 0);
	enrol_request_clear(&q);

	/* no ek-cert.der: the certificate is absent, not an error */
	snprintf(path, sizeof(path), "%s/ek-cert.der", sd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(enrol_request_load(sd, &q, &e), 0);
	assert_null(q.ek_cert_der);
	assert_int_equal(q.ek_cert_len, 0);
	enrol_request_clear(&q);

	/* a bad hex name, an odd one, a too short one */
	write_file(sd, "ak.name", "000bzz\n", 7);
	memset(&q, 0x5a, sizeof(q));
	assert_true(enrol_request_load(sd, &q, &e) < 0);
	assert_non_null(strstr(e.msg, "ak.name"));
	/* outputs written only on success */
	assert_int_equal(q.ak_pub_len, (size_t)0x5a5a5a5a5a5a5a5aull);
	write_file(sd, "ak.name", "000b0102\n", 9);
	assert_int_equal(enrol_request_load(sd, &q, &e), VOUCH_E_FORMAT);
	write_file(sd, "ak.name", hex, strlen(hex));
	/* an oversized ak.pub */
	memset(big, 0, sizeof(big));
	write_file(sd, "ak.pub", big, sizeof(big));
	assert_int_equal(enrol_request_load(sd, &q, &e), VOUCH_E_LIMIT);
	/* a missing one */
	snprintf(path, sizeof(path), "%s/ak.pub", sd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(enrol_request_load(sd, &q, &e), VOUCH_E_IO);
	/* ek.pem that is no key */
	write_file(sd, "ak.pub", src.ak_pub, src.ak_pub_len);
	write_file(sd, "ek.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n"
	    "-----END PUBLIC KEY-----\n", 57);
	assert_int_equal(enrol_request_load(sd, &q, &e), VOUCH_E_FORMAT);
	enrol_request_clear(&src);
	enrol_request_clear(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecc_ek_ecc_ak),
		cmocka_unit_test(test_rsa_ek_rsa_ak),
		cmocka_unit_test(test_mixed_types),
		cmocka_unit_test(test_ak_missing_attributes),
		cmocka_unit_test(test_ak_types),
		cmocka_unit_test(test_name_mismatch),
		cmocka_unit_test(test_ek_cert_other_ca),
		cmocka_unit_test(test_ek_cert_other_key),
		cmocka_unit_test(test_ek_cert_absent_or_bad),
		cmocka_unit_test(test_ek_types),
		cmocka_unit_test(test_proof_check),
		cmocka_unit_test(test_ak_pubkey),
		cmocka_unit_test(test_request_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
