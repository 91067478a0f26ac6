/*
 * pki.h - the region's own small PKI for mutual TLS (tls.h): one region CA
 * and a certificate per host.  OpenSSL 3 EVP/X509 only, ECDSA P-256,
 * SHA-256 signatures.
 *
 *	region CA (self-signed)			host certificate
 *	  subject  CN=vouch region CA <hex>	  subject  CN=<host>
 *	  basicConstraints critical CA:TRUE,	  basicConstraints critical CA:FALSE
 *	      pathlen:0				  keyUsage critical digitalSignature
 *	  keyUsage critical keyCertSign,cRLSign	  extendedKeyUsage serverAuth,clientAuth
 *	  subject/authority key identifiers	  subjectAltName DNS:<host>[,IP:<addr>]
 *						  subject/authority key identifiers
 *	  serial: 128 random bits, both		  validity: never past the CA's
 *	  notBefore: now - 5 minutes (clock skew between hosts), both
 *
 * Files: DIR/ca.pem + DIR/ca.key; OUT/<host>.pem + OUT/<host>.key.  Keys
 * are unencrypted PKCS#8 PEM, mode 0600, written through
 * file_write_atomic(); key bytes in memory are wiped.  Directories are
 * created 0700 when missing.  A call that fails leaves no new files.
 */
#ifndef VOUCH_PKI_H
#define VOUCH_PKI_H

#include "err.h"

#define PKI_CA_DAYS_DEFAULT	3650
#define PKI_HOST_DAYS_DEFAULT	365
#define PKI_DAYS_MAX		36500

/*
 * Create a region CA valid for days (1..PKI_DAYS_MAX) in dir.  Refuses
 * with VOUCH_E_EXISTS if dir/ca.key or dir/ca.pem exists: replacing a
 * region CA orphans every host certificate, so it is never implicit.
 */
int pki_ca_create(const char *dir, unsigned days, struct vouch_err *e);

/*
 * Issue a certificate for host (a wire_host_name_ok() name) with the CA
 * in ca_dir, valid for days (clamped to the CA's own expiry), with an
 * extra IP SAN if ip (IPv4 or IPv6 text) is not NULL.  Writes (replacing)
 * out_dir/<host>.key and out_dir/<host>.pem.
 */
int pki_host_issue(const char *ca_dir, const char *host, const char *ip,
    unsigned days, const char *out_dir, struct vouch_err *e);

#endif
