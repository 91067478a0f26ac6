/*
 * tpm.c - the host's TPM 2.0 through tpm2-tss ESAPI (contract: tpm.h).
 *
 * Key hierarchy, all re-derived from the TPM's endorsement seed except
 * the AK's wrapped private part kept in the state directory:
 *
 *	TPM_RH_ENDORSEMENT
 *	  `- EK   primary, TCG EK Credential Profile 2.0 default template
 *	          (L-1 RSA-2048 / L-2 ECC P-256), transient, re-created
 *	          on demand: same seed + same template = same key
 *	       `- AK  restricted signing key, ak.pub/ak.priv; Create and
 *	              Load under the EK need a PolicySecret(endorsement)
 *	              session because the EK's authPolicy demands it
 *
 * Slot budget (libtpms: 3 objects, 3 sessions): EK + the slot
 * TPM2_Create uses internally, or EK + AK during Load and
 * ActivateCredential; the EK and the policy session are flushed before
 * any function returns, so an open AK costs exactly one object slot and
 * nothing else stays loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/util.h"
#include "attest/tpm.h"
#include "attest/tpm_priv.h"
#include "attest/enrol.h"

/* Attempts at a quote whose pcrDigest matches the PCR values read. */
#define TPM_QUOTE_TRIES		8
/* PCR_Read calls for one selection: 8 digests per call at worst. */
#define TPM_PCR_READ_CALLS	(PCR_BANKS_MAX * PCR_NUM / 8 + 2)
/* State files are small; anything bigger is not ours. */
#define TPM_STATE_FILE_MAX	4096
/* EK certificates are a few KiB; TCG allows up to an NV index's size. */
#define TPM_EK_CERT_MAX		(16u << 10)

/*
 * Handle ranges for GetCapability(HANDLES).  Spelled out because tss2's
 * TPM2_TRANSIENT_FIRST shifts a signed int into its sign bit (UBSan).
 */
#define TPM_HANDLES_TRANSIENT	0x80000000u
#define TPM_HANDLES_LOADED_SESS	0x02000000u	/* HMAC + policy, loaded */
#define TPM_HANDLES_SAVED_SESS	0x03000000u	/* context-saved sessions */

/* TCG EK NV indices for the low-range default templates. */
#define TPM_NV_EK_CERT_RSA	0x01c00002u
#define TPM_NV_EK_CERT_ECC	0x01c0000au

struct tpm_ctx {
	TSS2_TCTI_CONTEXT	*tcti;
	ESYS_CONTEXT		*esys;
	char			*tcti_str;
	struct tpm_ak		*aks;	/* open AKs, flushed by tpm_close */
};

struct tpm_ak {
	struct tpm_ctx		*t;	/* NULL once tpm_close ran */
	struct tpm_ak		*next;
	ESYS_TR			 handle;
	enum tpm_ak_type	 type;
};

/*
 * TPM2_PolicySecret(TPM_RH_ENDORSEMENT) policy digest (SHA-256), the
 * authPolicy of every TCG default EK template (EK Credential Profile 2.0,
 * B.3.2): admin actions on the EK need the endorsement authorisation.
 */
static const uint8_t ek_policy[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8,
	0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
	0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64,
	0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/* fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt */
#define TPM_EK_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY | \
	TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)
/* fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|sign */
#define TPM_AK_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
	TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static int
tss_err(struct vouch_err *e, TSS2_RC rc, const char *what)
{
	return vouch_err_set(e, VOUCH_E_TPM, "%s: %s (0x%x)", what,
	    Tss2_RC_Decode(rc), (unsigned)rc);
}

static void
flush(struct tpm_ctx *t, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE) {
		/* Nothing useful to do if this fails: the TPM is gone. */
		(void)Esys_FlushContext(t->esys, *h);
		*h = ESYS_TR_NONE;
	}
}

/* TCG default EK template, low range (L-1 RSA-2048, L-2 ECC P-256). */
static void
ek_template(enum tpm_ak_type type, TPM2B_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	p->publicArea.nameAlg = TPM2_ALG_SHA256;
	p->publicArea.objectAttributes = TPM_EK_ATTRS;
	p->publicArea.authPolicy.size = sizeof(ek_policy);
	memcpy(p->publicArea.authPolicy.buffer, ek_policy, sizeof(ek_policy));
	if (type == TPM_AK_RSA_2048) {
		TPMS_RSA_PARMS *r = &p->publicArea.parameters.rsaDetail;

		p->publicArea.type = TPM2_ALG_RSA;
		r->symmetric.algorithm = TPM2_ALG_AES;
		r->symmetric.keyBits.aes = 128;
		r->symmetric.mode.aes = TPM2_ALG_CFB;
		r->scheme.scheme = TPM2_ALG_NULL;
		r->keyBits = 2048;
		r->exponent = 0;
		p->publicArea.unique.rsa.size = 256;	/* 256 zero bytes */
	} else {
		TPMS_ECC_PARMS *c = &p->publicArea.parameters.eccDetail;

		p->publicArea.type = TPM2_ALG_ECC;
		c->symmetric.algorithm = TPM2_ALG_AES;
		c->symmetric.keyBits.aes = 128;
		c->symmetric.mode.aes = TPM2_ALG_CFB;
		c->scheme.scheme = TPM2_ALG_NULL;
		c->curveID = TPM2_ECC_NIST_P256;
		c->kdf.scheme = TPM2_ALG_NULL;
		p->publicArea.unique.ecc.x.size = 32;	/* 32 zero bytes each */
		p->publicArea.unique.ecc.y.size = 32;
	}
}

/* AK template: what tpm2_createak -G ecc|rsa -s ecdsa|rsassa -g sha256 makes. */
static void
ak_template(enum tpm_ak_type type, TPM2B_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	p->publicArea.nameAlg = TPM2_ALG_SHA256;
	p->publicArea.objectAttributes = TPM_AK_ATTRS;
	if (type == TPM_AK_RSA_2048) {
		TPMS_RSA_PARMS *r = &p->publicArea.parameters.rsaDetail;

		p->publicArea.type = TPM2_ALG_RSA;
		r->symmetric.algorithm = TPM2_ALG_NULL;
		r->scheme.scheme = TPM2_ALG_RSASSA;
		r->scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		r->keyBits = 2048;
		r->exponent = 0;
	} else {
		TPMS_ECC_PARMS *c = &p->publicArea.parameters.eccDetail;

		p->publicArea.type = TPM2_ALG_ECC;
		c->symmetric.algorithm = TPM2_ALG_NULL;
		c->scheme.scheme = TPM2_ALG_ECDSA;
		c->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		c->curveID = TPM2_ECC_NIST_P256;
		c->kdf.scheme = TPM2_ALG_NULL;
	}
}

/*
 * Is pub an AK this module made?  Restricted signing, SHA-256 name, and
 * exactly one of the two pinned key types and schemes.
 */
static int
ak_type_of(const TPMT_PUBLIC *pub, enum tpm_ak_type *type)
{
	const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED |
	    TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT;

	if (pub->nameAlg != TPM2_ALG_SHA256 ||
	    (pub->objectAttributes & need) != need ||
	    (pub->objectAttributes & TPMA_OBJECT_DECRYPT))
		return -1;
	if (pub->type == TPM2_ALG_ECC &&
	    pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 &&
	    pub->parameters.eccDetail.scheme.scheme == TPM2_ALG_ECDSA &&
	    pub->parameters.eccDetail.scheme.details.ecdsa.hashAlg ==
	    TPM2_ALG_SHA256) {
		*type = TPM_AK_ECC_P256;
		return 0;
	}
	if (pub->type == TPM2_ALG_RSA &&
	    pub->parameters.rsaDetail.keyBits == 2048 &&
	    pub->parameters.rsaDetail.scheme.scheme == TPM2_ALG_RSASSA &&
	    pub->parameters.rsaDetail.scheme.details.rsassa.hashAlg ==
	    TPM2_ALG_SHA256) {
		*type = TPM_AK_RSA_2048;
		return 0;
	}
	return -1;
}

int
tpm_open(const char *tcti, struct tpm_ctx **out, struct vouch_err *e)
{
	struct tpm_ctx *t;
	TSS2_RC rc;

	if (tcti == NULL || *tcti == '\0')
		tcti = getenv("VOUCH_TCTI");
	if (tcti == NULL || *tcti == '\0')
		tcti = TPM_DEFAULT_TCTI;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->tcti_str = strdup(tcti)) == NULL) {
		free(t);
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	}
	if ((rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti)) != TSS2_RC_SUCCESS) {
		vouch_err_set(e, VOUCH_E_TPM, "TCTI '%s': %s (0x%x)", tcti,
		    Tss2_RC_Decode(rc), (unsigned)rc);
		free(t->tcti_str);
		free(t);
		return VOUCH_E_TPM;
	}
	if ((rc = Esys_Initialize(&t->esys, t->tcti, NULL)) != TSS2_RC_SUCCESS) {
		vouch_err_set(e, VOUCH_E_TPM, "TCTI '%s': Esys_Initialize: %s "
		    "(0x%x)", tcti, Tss2_RC_Decode(rc), (unsigned)rc);
		Tss2_TctiLdr_Finalize(&t->tcti);
		free(t->tcti_str);
		free(t);
		return VOUCH_E_TPM;
	}
	*out = t;
	return 0;
}

void
tpm_close(struct tpm_ctx *t)
{
	struct tpm_ak *ak;

	if (t == NULL)
		return;
	/* AKs the caller forgot: flush them, leave the memory to tpm_ak_close. */
	for (ak = t->aks; ak != NULL; ak = ak->next) {
		flush(t, &ak->handle);
		ak->t = NULL;
	}
	Esys_Finalize(&t->esys);
	Tss2_TctiLdr_Finalize(&t->tcti);
	free(t->tcti_str);
	free(t);
}

const char *
tpm_tcti(const struct tpm_ctx *t)
{
	return t->tcti_str;
}

/* The EK of type, created in the endorsement hierarchy (transient). */
static int
ek_create(struct tpm_ctx *t, enum tpm_ak_type type, ESYS_TR *ek,
    TPM2B_PUBLIC **pub, struct vouch_err *e)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION creation_pcr;
	TSS2_RC rc;

	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&creation_pcr, 0, sizeof(creation_pcr));
	ek_template(type, &tmpl);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
	    &outside, &creation_pcr, ek, pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		*ek = ESYS_TR_NONE;
		return tss_err(e, rc, "creating the EK (CreatePrimary)");
	}
	return 0;
}

/*
 * A policy session satisfying the EK's authPolicy:
 * PolicySecret(TPM_RH_ENDORSEMENT) with the (empty) endorsement auth.
 */
static int
ek_session(struct tpm_ctx *t, ESYS_TR *s, struct vouch_err *e)
{
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPM2B_TIMEOUT *timeout = NULL;
	TPMT_TK_AUTH *ticket = NULL;
	TSS2_RC rc;

	rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY,
	    &sym, TPM2_ALG_SHA256, s);
	if (rc != TSS2_RC_SUCCESS) {
		*s = ESYS_TR_NONE;
		return tss_err(e, rc, "starting the EK policy session");
	}
	rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, *s,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0,
	    &timeout, &ticket);
	Esys_Free(timeout);
	Esys_Free(ticket);
	if (rc != TSS2_RC_SUCCESS) {
		flush(t, s);
		return tss_err(e, rc, "PolicySecret(endorsement)");
	}
	return 0;
}

/* OpenSSL public key of a TPM RSA or ECC P-256 public area (tpm_priv.h). */
int
tpm_pub_to_pkey(const TPMT_PUBLIC *p, EVP_PKEY **out, struct vouch_err *e)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *ex = NULL;
	uint8_t point[1 + 2 * 66];
	int r = VOUCH_E_CRYPTO;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		goto out;
	if (p->type == TPM2_ALG_RSA) {
		const TPM2B_PUBLIC_KEY_RSA *m = &p->unique.rsa;
		uint32_t exp = p->parameters.rsaDetail.exponent;

		if (m->size == 0 || m->size > sizeof(m->buffer)) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "RSA public key of %u bytes", m->size);
			goto out;
		}
		/* exponent 0 means the default, 2^16 + 1 */
		if ((n = BN_bin2bn(m->buffer, m->size, NULL)) == NULL ||
		    (ex = BN_new()) == NULL ||
		    !BN_set_word(ex, exp ? exp : 65537) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, ex))
			goto out;
		pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else if (p->type == TPM2_ALG_ECC &&
	    p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256) {
		const TPMS_ECC_POINT *q = &p->unique.ecc;

		if (q->x.size != 32 || q->y.size != 32) {
			r = vouch_err_set(e, VOUCH_E_FORMAT,
			    "P-256 point with coordinates of %u and %u bytes",
			    q->x.size, q->y.size);
			goto out;
		}
		/* SEC 1 uncompressed point: 0x04 || X || Y */
		point[0] = 0x04;
		memcpy(point + 1, q->x.buffer, 32);
		memcpy(point + 33, q->y.buffer, 32);
		if (!OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, point, 65))
			goto out;
		pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else {
		r = vouch_err_set(e, VOUCH_E_UNSUPPORTED,
		    "public key type 0x%04x not supported", p->type);
		goto out;
	}
	if (pctx == NULL || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*out = pkey;
	pkey = NULL;
	r = 0;
out:
	if (r == VOUCH_E_CRYPTO)
		vouch_err_set(e, r, "OpenSSL cannot build the public key");
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(ex);
	return r;
}

/* SubjectPublicKeyInfo PEM of pkey into a malloc'd buffer. */
static int
pkey_pem(EVP_PKEY *pkey, char **pem, size_t *len, struct vouch_err *e)
{
	BIO *bio;
	char *data;
	long n;
	int r = 0;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if (PEM_write_bio_PUBKEY(bio, pkey) != 1 ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0) {
		r = vouch_err_set(e, VOUCH_E_CRYPTO, "cannot write PEM");
	} else if ((*pem = malloc((size_t)n)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	} else {
		memcpy(*pem, data, (size_t)n);
		*len = (size_t)n;
	}
	BIO_free(bio);
	return r;
}

static int
write_pub_pem(const char *path, const TPMT_PUBLIC *p, struct vouch_err *e)
{
	EVP_PKEY *pkey = NULL;
	char *pem = NULL;
	size_t len = 0;
	int r;

	if ((r = tpm_pub_to_pkey(p, &pkey, e)) == 0 &&
	    (r = pkey_pem(pkey, &pem, &len, e)) == 0)
		r = file_write_atomic(path, pem, len, 0644, e);
	free(pem);
	EVP_PKEY_free(pkey);
	return r;
}

/* Name = nameAlg (BE16) || SHA-256(marshalled TPMT_PUBLIC). */
int
tpm_object_name(const TPMT_PUBLIC *p, uint8_t name[TPM_NAME_LEN],
    struct vouch_err *e)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;
	TSS2_RC rc;

	if ((rc = Tss2_MU_TPMT_PUBLIC_Marshal(p, buf, sizeof(buf), &off)) !=
	    TSS2_RC_SUCCESS)
		return tss_err(e, rc, "marshalling the AK public area");
	name[0] = (uint8_t)(p->nameAlg >> 8);
	name[1] = (uint8_t)p->nameAlg;
	return pcr_hash(PCR_ALG_SHA256, buf, off, name + 2, e);
}

static int
state_path(char *buf, size_t n, const char *dir, const char *file,
    struct vouch_err *e)
{
	int w = snprintf(buf, n, "%s/%s", dir, file);

	if (w < 0 || (size_t)w >= n)
		return vouch_err_set(e, VOUCH_E_LIMIT, "path too long: %s/%s",
		    dir, file);
	return 0;
}

/* NV property TPM_PT_NV_BUFFER_MAX: the largest NV_Read chunk. */
static uint16_t
nv_chunk(struct tpm_ctx *t)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	uint32_t v = 512;	/* the smallest any TPM offers in practice */

	if (Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1,
	    &more, &cap) == TSS2_RC_SUCCESS && cap != NULL &&
	    cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property ==
	    TPM2_PT_NV_BUFFER_MAX &&
	    cap->data.tpmProperties.tpmProperty[0].value >= 64)
		v = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	if (v > TPM2_MAX_NV_BUFFER_SIZE)
		v = TPM2_MAX_NV_BUFFER_SIZE;
	return (uint16_t)v;
}

/*
 * The EK certificate at index, if the TPM has one: VOUCH_E_NOTFOUND when
 * the index is not defined.  *der is malloc'd.
 */
static int
ek_cert_read(struct tpm_ctx *t, uint32_t index, uint8_t **der,
    size_t *len, struct vouch_err *e)
{
	TPM2B_NV_PUBLIC *nvpub = NULL;
	TPM2B_MAX_NV_BUFFER *chunk = NULL;
	ESYS_TR nv = ESYS_TR_NONE;
	uint8_t *buf = NULL;
	uint16_t size, off = 0, step;
	TSS2_RC rc;
	int r = 0;

	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &nv);
	if (rc != TSS2_RC_SUCCESS) {
		/* TPM_RC_HANDLE (any parameter/handle number): not defined */
		if ((rc & 0xbf) == TPM2_RC_HANDLE)
			return vouch_err_set(e, VOUCH_E_NOTFOUND,
			    "no EK certificate at NV 0x%08x", index);
		return tss_err(e, rc, "EK certificate index");
	}
	if ((rc = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &nvpub, NULL)) != TSS2_RC_SUCCESS) {
		r = tss_err(e, rc, "NV_ReadPublic of the EK certificate");
		goto out;
	}
	size = nvpub->nvPublic.dataSize;
	if (size == 0 || size > TPM_EK_CERT_MAX) {
		r = vouch_err_set(e, VOUCH_E_LIMIT,
		    "EK certificate index 0x%08x holds %u bytes", index, size);
		goto out;
	}
	if ((buf = malloc(size)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	step = nv_chunk(t);
	while (off < size) {
		uint16_t n = (uint16_t)(size - off < step ? size - off : step);

		/* EK certificate indices are AUTHREAD with an empty auth */
		rc = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD,
		    ESYS_TR_NONE, ESYS_TR_NONE, n, off, &chunk);
		if (rc != TSS2_RC_SUCCESS) {
			r = tss_err(e, rc, "NV_Read of the EK certificate");
			goto out;
		}
		if (chunk->size != n) {
			r = vouch_err_set(e, VOUCH_E_TPM, "NV_Read returned "
			    "%u bytes, asked for %u", chunk->size, n);
			goto out;
		}
		memcpy(buf + off, chunk->buffer, n);
		off = (uint16_t)(off + n);
		Esys_Free(chunk);
		chunk = NULL;
	}
	*der = buf;
	*len = size;
	buf = NULL;
out:
	Esys_Free(chunk);
	Esys_Free(nvpub);
	free(buf);
	/* An NV ESYS_TR is only a local record: close, never flush. */
	if (nv != ESYS_TR_NONE)
		(void)Esys_TR_Close(t->esys, &nv);
	return r;
}

/* Does the DER certificate certify exactly the key of pub? */
static int
cert_matches(const uint8_t *der, size_t len, const TPMT_PUBLIC *pub)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	EVP_PKEY *k = NULL;
	int ok = 0;

	if (x != NULL && p == der + len && tpm_pub_to_pkey(pub, &k, NULL) == 0)
		ok = EVP_PKEY_eq(X509_get0_pubkey(x), k) == 1;
	EVP_PKEY_free(k);
	X509_free(x);
	return ok;
}

int
tpm_init_state(struct tpm_ctx *t, const char *statedir,
    enum tpm_ak_type type, int force, struct vouch_err *e)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl, *ekpub = NULL, *akpub = NULL;
	TPM2B_PRIVATE *akpriv = NULL;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION creation_pcr;
	ESYS_TR ek = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	uint8_t pubbuf[sizeof(TPM2B_PUBLIC)], privbuf[sizeof(TPM2B_PRIVATE)];
	uint8_t name[34], *cert = NULL;
	char path[4096], namehex[2 * sizeof(name) + 2];
	size_t publen = 0, privlen = 0, certlen = 0;
	struct stat st;
	TSS2_RC rc;
	int r;

	if (type != TPM_AK_ECC_P256 && type != TPM_AK_RSA_2048)
		return vouch_err_set(e, VOUCH_E_INVAL, "unknown AK type %d",
		    (int)type);
	if ((r = state_path(path, sizeof(path), statedir, "ak.pub", e)) < 0)
		return r;
	if (!force && stat(path, &st) == 0)
		return vouch_err_set(e, VOUCH_E_EXISTS,
		    "%s exists (use force to replace the AK)", path);
	if ((r = dir_create(statedir, 0700, e)) < 0)
		return r;

	if ((r = ek_create(t, type, &ek, &ekpub, e)) < 0)
		goto out;
	if ((r = ek_session(t, &sess, e)) < 0)
		goto out;
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&creation_pcr, 0, sizeof(creation_pcr));
	ak_template(type, &tmpl);
	rc = Esys_Create(t->esys, ek, sess, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
	    &tmpl, &outside, &creation_pcr, &akpriv, &akpub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		r = tss_err(e, rc, "creating the AK under the EK (Create)");
		goto out;
	}
	flush(t, &sess);

	/* The certificate the TPM holds for this very EK, if any. */
	r = ek_cert_read(t, type == TPM_AK_RSA_2048 ? TPM_NV_EK_CERT_RSA :
	    TPM_NV_EK_CERT_ECC, &cert, &certlen, e);
	flush(t, &ek);
	if (r == VOUCH_E_NOTFOUND)
		r = 0;
	else if (r < 0)
		goto out;

	if ((rc = Tss2_MU_TPM2B_PUBLIC_Marshal(akpub, pubbuf, sizeof(pubbuf),
	    &publen)) != TSS2_RC_SUCCESS ||
	    (rc = Tss2_MU_TPM2B_PRIVATE_Marshal(akpriv, privbuf,
	    sizeof(privbuf), &privlen)) != TSS2_RC_SUCCESS) {
		r = tss_err(e, rc, "marshalling the AK");
		goto out;
	}
	if ((r = tpm_object_name(&akpub->publicArea, name, e)) < 0)
		goto out;
	hex_encode(name, sizeof(name), namehex);
	strcat(namehex, "\n");

	/*
	 * ak.pub goes first and comes back last: it marks a complete state
	 * directory, so a failure part-way leaves no ak.pub (tpm_ak_open
	 * refuses, init needs no force) rather than an old ak.pub beside a
	 * new ak.priv.  (Such a mix would not load anyway: the private
	 * part's integrity HMAC covers the public area's name.)
	 */
	if ((r = state_path(path, sizeof(path), statedir, "ak.pub", e)) < 0)
		goto out;
	(void)unlink(path);
	if ((r = state_path(path, sizeof(path), statedir, "ak.priv", e)) < 0 ||
	    (r = file_write_atomic(path, privbuf, privlen, 0600, e)) < 0 ||
	    (r = state_path(path, sizeof(path), statedir, "ak.pem", e)) < 0 ||
	    (r = write_pub_pem(path, &akpub->publicArea, e)) < 0 ||
	    (r = state_path(path, sizeof(path), statedir, "ak.name", e)) < 0 ||
	    (r = file_write_atomic(path, namehex, strlen(namehex), 0644, e)) < 0 ||
	    (r = state_path(path, sizeof(path), statedir, "ek.pem", e)) < 0 ||
	    (r = write_pub_pem(path, &ekpub->publicArea, e)) < 0 ||
	    (r = state_path(path, sizeof(path), statedir, "ek-cert.der", e)) < 0)
		goto out;
	/*
	 * Only a certificate for the re-created EK is useful to a verifier;
	 * one for another key (a TPM provisioned with a different template)
	 * is left out rather than mislead.
	 */
	if (cert != NULL && cert_matches(cert, certlen, &ekpub->publicArea)) {
		if ((r = file_write_atomic(path, cert, certlen, 0644, e)) < 0)
			goto out;
	} else {
		(void)unlink(path);
	}
	if ((r = state_path(path, sizeof(path), statedir, "ak.pub", e)) < 0 ||
	    (r = file_write_atomic(path, pubbuf, publen, 0644, e)) < 0)
		goto out;
	r = 0;
out:
	flush(t, &sess);
	flush(t, &ek);
	Esys_Free(ekpub);
	Esys_Free(akpub);
	Esys_Free(akpriv);
	free(cert);
	explicit_bzero(privbuf, sizeof(privbuf));
	return r;
}

static int
read_state(const char *dir, const char *file, uint8_t **buf, size_t *len,
    struct vouch_err *e)
{
	char path[4096];
	int r;

	if ((r = state_path(path, sizeof(path), dir, file, e)) < 0)
		return r;
	if ((r = file_read(path, TPM_STATE_FILE_MAX, buf, len, e)) < 0)
		return vouch_err_prefix(e, "%s", path);
	return 0;
}

/*
 * Load the AK of statedir under the re-created EK into *akh.  ekh NULL:
 * the EK is flushed before returning, the AK holds one object slot.
 * ekh non-NULL: the EK stays loaded in *ekh too (two slots, both the
 * caller's to flush).  On error nothing stays loaded.
 */
static int
ak_load(struct tpm_ctx *t, const char *statedir, ESYS_TR *ekh, ESYS_TR *akh,
    enum tpm_ak_type *typep, struct vouch_err *e)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	ESYS_TR ek = ESYS_TR_NONE, sess = ESYS_TR_NONE, h = ESYS_TR_NONE;
	enum tpm_ak_type type;
	uint8_t *pubbuf = NULL, *privbuf = NULL;
	size_t publen = 0, privlen = 0, off;
	TSS2_RC rc;
	int r;

	memset(&pub, 0, sizeof(pub));
	memset(&priv, 0, sizeof(priv));
	if ((r = read_state(statedir, "ak.pub", &pubbuf, &publen, e)) < 0 ||
	    (r = read_state(statedir, "ak.priv", &privbuf, &privlen, e)) < 0)
		goto out;
	off = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pubbuf, publen, &off, &pub) !=
	    TSS2_RC_SUCCESS || off != publen) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s/ak.pub: not a "
		    "marshalled TPM2B_PUBLIC (%zu bytes)", statedir, publen);
		goto out;
	}
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(privbuf, privlen, &off, &priv) !=
	    TSS2_RC_SUCCESS || off != privlen) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s/ak.priv: not a "
		    "marshalled TPM2B_PRIVATE (%zu bytes)", statedir, privlen);
		goto out;
	}
	if (ak_type_of(&pub.publicArea, &type) < 0) {
		r = vouch_err_set(e, VOUCH_E_FORMAT, "%s/ak.pub: not a "
		    "restricted ECDSA-P256 or RSASSA-2048 SHA-256 signing key",
		    statedir);
		goto out;
	}
	if ((r = ek_create(t, type, &ek, NULL, e)) < 0 ||
	    (r = ek_session(t, &sess, e)) < 0)
		goto out;
	rc = Esys_Load(t->esys, ek, sess, ESYS_TR_NONE, ESYS_TR_NONE, &priv,
	    &pub, &h);
	if (rc != TSS2_RC_SUCCESS) {
		h = ESYS_TR_NONE;
		r = tss_err(e, rc, "loading the AK under the EK (Load)");
		goto out;
	}
	*akh = h;
	*typep = type;
	if (ekh != NULL) {
		*ekh = ek;
		ek = ESYS_TR_NONE;
	}
	r = 0;
out:
	flush(t, &sess);
	flush(t, &ek);
	free(pubbuf);
	free_secret(privbuf, privlen);
	explicit_bzero(&priv, sizeof(priv));
	return r;
}

int
tpm_ak_open(struct tpm_ctx *t, const char *statedir, struct tpm_ak **out,
    struct vouch_err *e)
{
	struct tpm_ak *ak;
	enum tpm_ak_type type;
	ESYS_TR h = ESYS_TR_NONE;
	int r;

	if ((ak = calloc(1, sizeof(*ak))) == NULL)
		return vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
	if ((r = ak_load(t, statedir, NULL, &h, &type, e)) < 0) {
		free(ak);
		return r;
	}
	ak->t = t;
	ak->handle = h;
	ak->type = type;
	ak->next = t->aks;
	t->aks = ak;
	*out = ak;
	return 0;
}

/*
 * TPM2_ActivateCredential (contract: enrol.h).  Slots: EK + AK (two
 * objects), one policy session for the Load, flushed, then a fresh one
 * for ActivateCredential: a policy session used once is reset, its
 * PolicySecret no longer holds.  The AK's authorisation is its empty
 * password.  The TPM checks the blob's integrity HMAC (keyed from the
 * seed only the EK can recover, bound to the AK's name) before it
 * decrypts anything.
 */
int
tpm_activate_credential(struct tpm_ctx *t, const char *statedir,
    const uint8_t *credential, size_t credential_len,
    const uint8_t *enc_secret, size_t enc_secret_len,
    uint8_t *secret, size_t *secret_len, struct vouch_err *e)
{
	TPM2B_ID_OBJECT cred;
	TPM2B_ENCRYPTED_SECRET encs;
	TPM2B_DIGEST *info = NULL;
	ESYS_TR ek = ESYS_TR_NONE, ak = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	enum tpm_ak_type type;
	size_t off;
	TSS2_RC rc;
	int r;

	memset(&cred, 0, sizeof(cred));
	memset(&encs, 0, sizeof(encs));
	off = 0;
	if (credential_len > ENROL_MAX_BLOB ||
	    Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential, credential_len,
	    &off, &cred) != TSS2_RC_SUCCESS || off != credential_len ||
	    cred.size == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "the credential is "
		    "not a marshalled TPM2B_ID_OBJECT (%zu bytes)",
		    credential_len);
	off = 0;
	if (enc_secret_len > ENROL_MAX_BLOB ||
	    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc_secret,
	    enc_secret_len, &off, &encs) != TSS2_RC_SUCCESS ||
	    off != enc_secret_len || encs.size == 0)
		return vouch_err_set(e, VOUCH_E_FORMAT, "the encrypted secret "
		    "is not a marshalled TPM2B_ENCRYPTED_SECRET (%zu bytes)",
		    enc_secret_len);
	if ((r = ak_load(t, statedir, &ek, &ak, &type, e)) < 0)
		return r;
	if ((r = ek_session(t, &sess, e)) < 0)
		goto out;
	rc = Esys_ActivateCredential(t->esys, ak, ek, ESYS_TR_PASSWORD, sess,
	    ESYS_TR_NONE, &cred, &encs, &info);
	if (rc != TSS2_RC_SUCCESS) {
		info = NULL;
		r = tss_err(e, rc, "ActivateCredential (a credential for "
		    "another EK or AK, or a damaged one)");
		goto out;
	}
	if (info->size == 0 || info->size > ENROL_SECRET_LEN) {
		r = vouch_err_set(e, VOUCH_E_LIMIT, "activated secret of %u "
		    "bytes (at most %d)", info->size, ENROL_SECRET_LEN);
		goto out;
	}
	memcpy(secret, info->buffer, info->size);
	*secret_len = info->size;
	r = 0;
out:
	if (info != NULL) {
		explicit_bzero(info, sizeof(*info));
		Esys_Free(info);
	}
	flush(t, &sess);
	flush(t, &ak);
	flush(t, &ek);
	return r;
}

void
tpm_ak_close(struct tpm_ak *ak)
{
	struct tpm_ak **pp;

	if (ak == NULL)
		return;
	if (ak->t != NULL) {
		flush(ak->t, &ak->handle);
		for (pp = &ak->t->aks; *pp != NULL; pp = &(*pp)->next)
			if (*pp == ak) {
				*pp = ak->next;
				break;
			}
	}
	free(ak);
}

enum tpm_ak_type
tpm_ak_type(const struct tpm_ak *ak)
{
	return ak->type;
}

/*
 * TPML_PCR_SELECTION of sel, banks in sel's order; bit i of pcrSelect
 * byte i/8 is PCR 8*(i/8) + i%8, three bytes for 24 PCRs.
 */
static void
tpml_selection(const struct pcr_selection *sel, TPML_PCR_SELECTION *tp)
{
	size_t b;

	memset(tp, 0, sizeof(*tp));
	tp->count = (uint32_t)sel->nbanks;
	for (b = 0; b < sel->nbanks; b++) {
		TPMS_PCR_SELECTION *s = &tp->pcrSelections[b];

		s->hash = sel->bank[b].alg;
		s->sizeofSelect = 3;
		s->pcrSelect[0] = (uint8_t)sel->bank[b].mask;
		s->pcrSelect[1] = (uint8_t)(sel->bank[b].mask >> 8);
		s->pcrSelect[2] = (uint8_t)(sel->bank[b].mask >> 16);
	}
}

static uint32_t
tpms_mask(const TPMS_PCR_SELECTION *s)
{
	uint32_t m = 0;
	unsigned i;

	for (i = 0; i < s->sizeofSelect && i < sizeof(s->pcrSelect); i++)
		m |= (uint32_t)s->pcrSelect[i] << (8 * i);
	return m;
}

static int
check_selection(const struct pcr_selection *sel, struct vouch_err *e)
{
	size_t b, k;

	if (sel->nbanks == 0 || sel->nbanks > PCR_BANKS_MAX)
		return vouch_err_set(e, VOUCH_E_INVAL, "empty PCR selection");
	for (b = 0; b < sel->nbanks; b++) {
		if (pcr_alg_by_id(sel->bank[b].alg) == NULL)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
			    "PCR bank 0x%04x", sel->bank[b].alg);
		if (sel->bank[b].mask == 0 ||
		    sel->bank[b].mask >> PCR_NUM != 0)
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "bad PCR mask 0x%x", sel->bank[b].mask);
		for (k = 0; k < b; k++)
			if (sel->bank[k].alg == sel->bank[b].alg)
				return vouch_err_set(e, VOUCH_E_INVAL,
				    "PCR bank 0x%04x selected twice",
				    sel->bank[b].alg);
	}
	return 0;
}

int
tpm_pcr_read(struct tpm_ctx *t, const struct pcr_selection *sel,
    struct pcr_set *out, struct vouch_err *e)
{
	struct pcr_selection left;
	struct pcr_set set;
	TPML_PCR_SELECTION in, *got = NULL;
	TPML_DIGEST *vals = NULL;
	uint32_t counter;
	size_t call, b, k;
	TSS2_RC rc;
	int r;

	if ((r = check_selection(sel, e)) < 0)
		return r;
	memset(&set, 0, sizeof(set));
	for (b = 0; b < sel->nbanks; b++)
		if (pcr_set_bank_add(&set, sel->bank[b].alg, NULL) == NULL)
			return vouch_err_set(e, VOUCH_E_INTERNAL,
			    "cannot add PCR bank 0x%04x", sel->bank[b].alg);
	left = *sel;
	/*
	 * PCR_Read answers at most 8 digests per call and says which PCRs
	 * they are (pcrSelectionOut); ask again for the rest.  A call that
	 * makes no progress means a bank the TPM has not allocated.
	 */
	for (call = 0; call < TPM_PCR_READ_CALLS; call++) {
		size_t vi = 0, progress = 0;

		for (b = 0, k = 0; b < left.nbanks; b++)
			if (left.bank[b].mask != 0)
				left.bank[k++] = left.bank[b];
		left.nbanks = k;
		if (left.nbanks == 0)
			break;
		tpml_selection(&left, &in);
		rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, &in, &counter, &got, &vals);
		if (rc != TSS2_RC_SUCCESS)
			return tss_err(e, rc, "PCR_Read");
		for (b = 0; b < got->count && b < TPM2_NUM_PCR_BANKS; b++) {
			const struct pcr_alg *a =
			    pcr_alg_by_id(got->pcrSelections[b].hash);
			uint32_t m = tpms_mask(&got->pcrSelections[b]);
			struct pcr_bank *pb;
			size_t i;

			if (m == 0)
				continue;
			if (a == NULL || (pb = pcr_set_bank(&set, a->id)) == NULL ||
			    (m & ~pcr_selection_mask(&left, a->id)) != 0) {
				r = vouch_err_set(e, VOUCH_E_TPM, "PCR_Read "
				    "returned PCRs that were not asked for");
				goto fail;
			}
			for (i = 0; i < PCR_NUM; i++) {
				if (!(m & (1u << i)))
					continue;
				if (vi >= vals->count ||
				    vals->digests[vi].size != a->size) {
					r = vouch_err_set(e, VOUCH_E_TPM,
					    "PCR_Read returned a short or "
					    "missing digest for %s PCR %zu",
					    a->name, i);
					goto fail;
				}
				memcpy(pb->v[i], vals->digests[vi].buffer,
				    a->size);
				pb->set |= 1u << i;
				vi++;
				progress++;
			}
			for (k = 0; k < left.nbanks; k++)
				if (left.bank[k].alg == a->id)
					left.bank[k].mask &= ~m;
		}
		Esys_Free(got);
		Esys_Free(vals);
		got = NULL;
		vals = NULL;
		if (progress == 0) {
			const struct pcr_alg *a = pcr_alg_by_id(left.bank[0].alg);
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
			    "the TPM has no %s PCR bank allocated (or no such "
			    "PCRs)", a->name);
		}
	}
	for (b = 0; b < left.nbanks; b++)
		if (left.bank[b].mask != 0)
			return vouch_err_set(e, VOUCH_E_TPM,
			    "PCR_Read did not return every PCR");
	*out = set;
	return 0;
fail:
	Esys_Free(got);
	Esys_Free(vals);
	return r;
}

/*
 * The quote's pcrDigest: H(value of each selected PCR), banks in the
 * selection's order, PCRs in ascending index within a bank, H = SHA-256
 * (the hash of the AK's signing scheme).
 */
static int
pcr_composite(const struct pcr_selection *sel, const struct pcr_set *vals,
    uint8_t out[32], struct vouch_err *e)
{
	uint8_t buf[PCR_BANKS_MAX * PCR_NUM * PCR_DIGEST_MAX];
	size_t b, i, n = 0;

	for (b = 0; b < sel->nbanks; b++) {
		const struct pcr_alg *a = pcr_alg_by_id(sel->bank[b].alg);
		const struct pcr_bank *pb = pcr_set_bank_const(vals, a->id);

		for (i = 0; i < PCR_NUM; i++) {
			if (!(sel->bank[b].mask & (1u << i)))
				continue;
			if (pb == NULL || !(pb->set & (1u << i)))
				return vouch_err_set(e, VOUCH_E_INTERNAL,
				    "%s PCR %zu was not read", a->name, i);
			memcpy(buf + n, pb->v[i], a->size);
			n += a->size;
		}
	}
	return pcr_hash(PCR_ALG_SHA256, buf, n, out, e);
}

int
tpm_quote(struct tpm_ak *ak, const uint8_t *nonce, size_t nonce_len,
    const struct pcr_selection *sel, struct evidence *ev, struct vouch_err *e)
{
	struct tpm_ctx *t = ak->t;
	TPM2B_DATA qdata;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPML_PCR_SELECTION in;
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	TPMS_ATTEST att;
	struct pcr_set vals;
	uint8_t digest[32], sigbuf[sizeof(TPMT_SIGNATURE)];
	uint8_t *attest_copy = NULL, *sig_copy = NULL;
	size_t siglen, off, try;
	TSS2_RC rc;
	int r;

	if (t == NULL || ak->handle == ESYS_TR_NONE)
		return vouch_err_set(e, VOUCH_E_STATE, "the AK is not loaded");
	if (nonce_len > EVIDENCE_MAX_NONCE || nonce_len > sizeof(qdata.buffer))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "nonce of %zu bytes (at most %u)", nonce_len,
		    EVIDENCE_MAX_NONCE);
	if ((r = check_selection(sel, e)) < 0)
		return r;
	memset(&qdata, 0, sizeof(qdata));
	qdata.size = (uint16_t)nonce_len;
	if (nonce_len > 0)
		memcpy(qdata.buffer, nonce, nonce_len);
	tpml_selection(sel, &in);

	for (try = 0; try < TPM_QUOTE_TRIES; try++) {
		Esys_Free(quoted);
		Esys_Free(sig);
		quoted = NULL;
		sig = NULL;
		if ((r = tpm_pcr_read(t, sel, &vals, e)) < 0)
			goto out;
		rc = Esys_Quote(t->esys, ak->handle, ESYS_TR_PASSWORD,
		    ESYS_TR_NONE, ESYS_TR_NONE, &qdata, &scheme, &in, &quoted,
		    &sig);
		if (rc != TSS2_RC_SUCCESS) {
			r = tss_err(e, rc, "Quote");
			goto out;
		}
		off = 0;
		if (quoted->size > EVIDENCE_MAX_ATTEST ||
		    Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData,
		    quoted->size, &off, &att) != TSS2_RC_SUCCESS ||
		    off != quoted->size || att.magic != TPM2_GENERATED_VALUE ||
		    att.type != TPM2_ST_ATTEST_QUOTE ||
		    att.attested.quote.pcrDigest.size != sizeof(digest)) {
			r = vouch_err_set(e, VOUCH_E_TPM,
			    "the TPM returned a malformed quote");
			goto out;
		}
		if ((r = pcr_composite(sel, &vals, digest, e)) < 0)
			goto out;
		/* A PCR extended between the read and the quote: again. */
		if (memcmp(digest, att.attested.quote.pcrDigest.buffer,
		    sizeof(digest)) == 0)
			break;
	}
	if (try == TPM_QUOTE_TRIES) {
		r = vouch_err_set(e, VOUCH_E_STATE, "PCRs kept changing: no "
		    "quote matched the values read in %d attempts",
		    TPM_QUOTE_TRIES);
		goto out;
	}
	siglen = 0;
	if ((rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sigbuf, sizeof(sigbuf),
	    &siglen)) != TSS2_RC_SUCCESS) {
		r = tss_err(e, rc, "marshalling the signature");
		goto out;
	}
	if (siglen > EVIDENCE_MAX_SIG) {
		r = vouch_err_set(e, VOUCH_E_LIMIT, "signature of %zu bytes",
		    siglen);
		goto out;
	}
	if ((attest_copy = malloc(quoted->size)) == NULL ||
	    (sig_copy = malloc(siglen)) == NULL) {
		r = vouch_err_set(e, VOUCH_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(attest_copy, quoted->attestationData, quoted->size);
	memcpy(sig_copy, sigbuf, siglen);

	free(ev->attest);
	free(ev->sig);
	ev->attest = attest_copy;
	ev->attest_len = quoted->size;
	ev->sig = sig_copy;
	ev->sig_len = siglen;
	attest_copy = sig_copy = NULL;
	memset(ev->nonce, 0, sizeof(ev->nonce));
	if (nonce_len > 0)
		memcpy(ev->nonce, nonce, nonce_len);
	ev->nonce_len = nonce_len;
	ev->sel = *sel;
	ev->pcrs = vals;
	r = 0;
out:
	free(attest_copy);
	free(sig_copy);
	Esys_Free(quoted);
	Esys_Free(sig);
	return r;
}

int
tpm_pcr_banks(struct tpm_ctx *t, uint16_t *algs, size_t max, size_t *n,
    struct vouch_err *e)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	size_t i, k = 0;
	TSS2_RC rc;

	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(e, rc, "GetCapability(PCRS)");
	for (i = 0; i < cap->data.assignedPCR.count &&
	    i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &cap->data.assignedPCR.pcrSelections[i];

		/* a bank with no PCR selected is not allocated */
		if (tpms_mask(s) == 0)
			continue;
		if (k == max) {
			Esys_Free(cap);
			return vouch_err_set(e, VOUCH_E_LIMIT,
			    "the TPM has more than %zu PCR banks", max);
		}
		algs[k++] = s->hash;
	}
	Esys_Free(cap);
	*n = k;
	return 0;
}

int
tpm_pcr_extend(struct tpm_ctx *t, uint32_t pcr, const struct pcr_digest *d,
    size_t n, struct vouch_err *e)
{
	TPML_DIGEST_VALUES v;
	size_t i;
	TSS2_RC rc;

	if (pcr >= PCR_NUM)
		return vouch_err_set(e, VOUCH_E_INVAL, "PCR %u out of range",
		    pcr);
	if (n == 0 || n > TPM2_NUM_PCR_BANKS || n > PCR_BANKS_MAX)
		return vouch_err_set(e, VOUCH_E_INVAL, "%zu digests to extend",
		    n);
	memset(&v, 0, sizeof(v));
	v.count = (uint32_t)n;
	for (i = 0; i < n; i++) {
		const struct pcr_alg *a = pcr_alg_by_id(d[i].alg);

		if (a == NULL)
			return vouch_err_set(e, VOUCH_E_UNSUPPORTED,
			    "hash algorithm 0x%04x", d[i].alg);
		v.digests[i].hashAlg = a->id;
		memcpy(&v.digests[i].digest, d[i].d, a->size);
	}
	rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &v);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(e, rc, "PCR_Extend");
	return 0;
}

/* Handles of one range (first's top byte) the TPM reports. */
static int
count_handles(struct tpm_ctx *t, uint32_t first, size_t *n,
    struct vouch_err *e)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = TPM2_YES;
	uint32_t prop = first;
	size_t k = 0, i, rounds;
	TSS2_RC rc;

	/* bounded: a range holds at most 2^24 handles, each round >= 1 */
	for (rounds = 0; more == TPM2_YES && rounds < 1024; rounds++) {
		rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, TPM2_CAP_HANDLES, prop, TPM2_MAX_CAP_HANDLES,
		    &more, &cap);
		if (rc != TSS2_RC_SUCCESS)
			return tss_err(e, rc, "GetCapability(HANDLES)");
		for (i = 0; i < cap->data.handles.count; i++) {
			uint32_t h = cap->data.handles.handle[i];

			if (h >> 24 != first >> 24) {
				more = TPM2_NO;
				break;
			}
			k++;
			prop = h + 1;
		}
		if (cap->data.handles.count == 0)
			more = TPM2_NO;
		Esys_Free(cap);
		cap = NULL;
	}
	*n = k;
	return 0;
}

int
tpm_handle_counts(struct tpm_ctx *t, size_t *objects, size_t *sessions,
    struct vouch_err *e)
{
	size_t o, loaded, saved;
	int r;

	/* sessions: loaded (0x02...) and context-saved (0x03...) ones */
	if ((r = count_handles(t, TPM_HANDLES_TRANSIENT, &o, e)) < 0 ||
	    (r = count_handles(t, TPM_HANDLES_LOADED_SESS, &loaded, e)) < 0 ||
	    (r = count_handles(t, TPM_HANDLES_SAVED_SESS, &saved, e)) < 0)
		return r;
	*objects = o;
	*sessions = loaded + saved;
	return 0;
}
