/*
 * pki.c - region CA and host certificates.  Contract and certificate
 * profile: pki.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "util.h"
#include "wire.h"

#define PEM_FILE_MAX	(64u << 10)
#define SKEW_SECONDS	300

static int
crypto_err(struct vouch_err *e, const char *what)
{
	unsigned long err, last = 0;
	char buf[256] = "no OpenSSL error recorded";

	while ((err = ERR_get_error()) != 0)
		last = err;
	if (last != 0)
		ERR_error_string_n(last, buf, sizeof(buf));
	return vouch_err_set(e, VOUCH_E_CRYPTO, "pki: %s: %s", what, buf);
}

static int
path_join(char *out, size_t cap, const char *dir, const char *name,
    const char *ext, struct vouch_err *e)
{
	if ((size_t)snprintf(out, cap, "%s/%s%s", dir, name, ext) >= cap)
		return vouch_err_set(e, VOUCH_E_INVAL, "pki: path too long");
	return 0;
}

/* 128 random bits; an ASN.1 INTEGER of up to 17 octets, never zero. */
static int
set_serial(X509 *x)
{
	uint8_t b[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1 ||
		    (bn = BN_bin2bn(b, sizeof(b), bn)) == NULL)
			goto out;
	} while (BN_is_zero(bn));
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
out:
	BN_free(bn);
	return ok ? 0 : -1;
}

/* An extension from a fixed, literal value (no user input reaches here). */
static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A v3 certificate with serial, validity, subject CN and public key. */
static X509 *
cert_new(EVP_PKEY *key, const char *cn, unsigned days)
{
	X509 *x;
	X509_NAME *n;

	if ((x = X509_new()) == NULL)
		return NULL;
	if (X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -SKEW_SECONDS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0,
	    NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    (n = X509_get_subject_name(x)) == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
pem_cert(X509 *x, BIO **out)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
		BIO_free(b);
		return -1;
	}
	*out = b;
	return 0;
}

/* Secure-memory BIO: its buffer is cleared when it grows and when freed. */
static int
pem_key(EVP_PKEY *k, BIO **out)
{
	BIO *b = BIO_new(BIO_s_secmem());

	if (b == NULL || PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		BIO_free(b);
		return -1;
	}
	*out = b;
	return 0;
}

/*
 * Write key then certificate; if the certificate cannot be written the
 * key just written is removed again, so a failure leaves nothing new.
 */
static int
write_pair(const char *key_path, BIO *key, const char *cert_path, BIO *cert,
    struct vouch_err *e)
{
	char *p;
	long n;
	int r;

	if ((n = BIO_get_mem_data(key, &p)) <= 0)
		return vouch_err_set(e, VOUCH_E_INTERNAL, "pki: empty key");
	if ((r = file_write_atomic(key_path, p, (size_t)n, 0600, e)) < 0)
		return r;
	if ((n = BIO_get_mem_data(cert, &p)) <= 0 ||
	    (r = file_write_atomic(cert_path, p, (size_t)n, 0644, e)) < 0) {
		unlink(key_path);
		return n <= 0 ? vouch_err_set(e, VOUCH_E_INTERNAL,
		    "pki: empty certificate") : r;
	}
	return 0;
}

static int
check_days(unsigned days, struct vouch_err *e)
{
	if (days < 1 || days > PKI_DAYS_MAX)
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "pki: validity of %u days, allowed 1..%d", days,
		    PKI_DAYS_MAX);
	return 0;
}

int
pki_ca_create(const char *dir, unsigned days, struct vouch_err *e)
{
	char key_path[4096], cert_path[4096], cn[64], hex[9];
	uint8_t rnd[4];
	struct stat st;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	BIO *kb = NULL, *cb = NULL;
	int r;

	if (dir == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "pki: no directory");
	if ((r = check_days(days, e)) < 0 ||
	    (r = path_join(key_path, sizeof(key_path), dir, "ca", ".key",
	    e)) < 0 ||
	    (r = path_join(cert_path, sizeof(cert_path), dir, "ca", ".pem",
	    e)) < 0)
		return r;
	if (stat(key_path, &st) == 0 || stat(cert_path, &st) == 0)
		return vouch_err_set(e, VOUCH_E_EXISTS,
		    "pki: %s already holds a region CA; remove it by hand to "
		    "replace it (every host certificate must then be reissued)",
		    dir);
	if ((r = dir_create(dir, 0700, e)) < 0)
		return r;
	ERR_clear_error();
	/* A random suffix keeps two regions' CA names apart in logs. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return crypto_err(e, "RAND_bytes");
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(cn, sizeof(cn), "vouch region CA %s", hex);

	if ((key = EVP_EC_gen("P-256")) == NULL) {
		r = crypto_err(e, "P-256 key generation");
		goto out;
	}
	if ((x = cert_new(key, cn, days)) == NULL ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, x, NID_authority_key_identifier, "keyid:always") < 0 ||
	    X509_sign(x, key, EVP_sha256()) <= 0) {
		r = crypto_err(e, "building the CA certificate");
		goto out;
	}
	if (pem_key(key, &kb) < 0 || pem_cert(x, &cb) < 0) {
		r = crypto_err(e, "PEM encoding");
		goto out;
	}
	r = write_pair(key_path, kb, cert_path, cb, e);
out:
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return r;
}

/* Read the CA's certificate and key and check that they belong together. */
static int
load_ca(const char *dir, X509 **cert, EVP_PKEY **key, struct vouch_err *e)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int r;

	if ((r = path_join(path, sizeof(path), dir, "ca", ".pem", e)) < 0 ||
	    (r = file_read(path, PEM_FILE_MAX, &buf, &len, e)) < 0)
		return r;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		r = crypto_err(e, "cannot read the CA certificate");
		vouch_err_prefix(e, "%s", path);
		goto out;
	}
	BIO_free(b);
	b = NULL;
	free(buf);
	buf = NULL;
	if (X509_check_ca(x) != 1) {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: not a CA certificate", path);
		goto out;
	}
	if ((r = path_join(path, sizeof(path), dir, "ca", ".key", e)) < 0 ||
	    (r = file_read(path, PEM_FILE_MAX, &buf, &len, e)) < 0)
		goto out;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"")) == NULL) {
		r = crypto_err(e, "cannot read the CA key");
		vouch_err_prefix(e, "%s", path);
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		r = vouch_err_set(e, VOUCH_E_FORMAT,
		    "%s: the CA key does not match ca.pem", path);
		goto out;
	}
	*cert = x;
	*key = k;
	x = NULL;
	k = NULL;
	r = 0;
out:
	BIO_free(b);
	free_secret(buf, len);
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}

/* subjectAltName DNS:host and optionally IP:ip, built without parsing. */
static int
add_san(X509 *x, const char *host, const uint8_t *ip, size_t iplen)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *dns = NULL;
	ASN1_OCTET_STRING *ipos = NULL;
	int ok = 0;

	if (gens == NULL || (g = GENERAL_NAME_new()) == NULL ||
	    (dns = ASN1_IA5STRING_new()) == NULL ||
	    ASN1_STRING_set(dns, host, (int)strlen(host)) != 1)
		goto out;
	GENERAL_NAME_set0_value(g, GEN_DNS, dns);
	dns = NULL;
	if (sk_GENERAL_NAME_push(gens, g) <= 0)
		goto out;
	g = NULL;
	if (iplen > 0) {
		if ((g = GENERAL_NAME_new()) == NULL ||
		    (ipos = ASN1_OCTET_STRING_new()) == NULL ||
		    ASN1_OCTET_STRING_set(ipos, ip, (int)iplen) != 1)
			goto out;
		GENERAL_NAME_set0_value(g, GEN_IPADD, ipos);
		ipos = NULL;
		if (sk_GENERAL_NAME_push(gens, g) <= 0)
			goto out;
		g = NULL;
	}
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_IA5STRING_free(dns);
	ASN1_OCTET_STRING_free(ipos);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return ok ? 0 : -1;
}

int
pki_host_issue(const char *ca_dir, const char *host, const char *ip,
    unsigned days, const char *out_dir, struct vouch_err *e)
{
	char key_path[4096], cert_path[4096];
	uint8_t ipb[16];
	size_t iplen = 0;
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *cakey = NULL, *key = NULL;
	BIO *kb = NULL, *cb = NULL;
	int r;

	if (ca_dir == NULL || host == NULL || out_dir == NULL)
		return vouch_err_set(e, VOUCH_E_INVAL, "pki: bad arguments");
	if (!wire_host_name_ok(host, strlen(host)))
		return vouch_err_set(e, VOUCH_E_INVAL,
		    "pki: '%s' is not a valid host name (lower-case DNS name: "
		    "labels of a-z, 0-9 and '-', separated by dots)", host);
	if (ip != NULL) {
		if (inet_pton(AF_INET, ip, ipb) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, ip, ipb) == 1)
			iplen = 16;
		else
			return vouch_err_set(e, VOUCH_E_INVAL,
			    "pki: '%s' is not an IPv4 or IPv6 address", ip);
	}
	if ((r = check_days(days, e)) < 0 ||
	    (r = path_join(key_path, sizeof(key_path), out_dir, host, ".key",
	    e)) < 0 ||
	    (r = path_join(cert_path, sizeof(cert_path), out_dir, host, ".pem",
	    e)) < 0)
		return r;
	ERR_clear_error();
	if ((r = load_ca(ca_dir, &ca, &cakey, e)) < 0)
		return r;
	if ((key = EVP_EC_gen("P-256")) == NULL) {
		r = crypto_err(e, "P-256 key generation");
		goto out;
	}
	if ((x = cert_new(key, host, days)) == NULL ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1) {
		r = crypto_err(e, "building the host certificate");
		goto out;
	}
	/* Never outlive the CA: a chain past its root's expiry is dead. */
	if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)) > 0 &&
	    X509_set1_notAfter(x, X509_get0_notAfter(ca)) != 1) {
		r = crypto_err(e, "clamping the validity");
		goto out;
	}
	if (add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, ca, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
	    add_ext(x, ca, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, ca, NID_authority_key_identifier, "keyid:always") < 0 ||
	    add_san(x, host, ipb, iplen) < 0 ||
	    X509_sign(x, cakey, EVP_sha256()) <= 0) {
		r = crypto_err(e, "building the host certificate");
		goto out;
	}
	if (pem_key(key, &kb) < 0 || pem_cert(x, &cb) < 0) {
		r = crypto_err(e, "PEM encoding");
		goto out;
	}
	if ((r = dir_create(out_dir, 0700, e)) < 0)
		goto out;
	r = write_pair(key_path, kb, cert_path, cb, e);
out:
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	ERR_clear_error();
	return r;
}
