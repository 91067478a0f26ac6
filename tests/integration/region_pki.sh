#!/bin/bash
# region_pki: `vouchctl region init` and `vouchctl host cert` make a region
# CA and host certificates that OpenSSL itself accepts, with private keys
# mode 0600, the SAN and EKUs of the profile in common/pki.h, and refusals
# for what must not happen (replacing a CA, bad host names, bad options).
. "$(dirname "$0")/../lib.sh"

R="$TMP/region"
H="$TMP/hosts"

check "region init" "$VOUCHCTL" region init --dir "$R" --days 30
check "ca.pem and ca.key exist" test -s "$R/ca.pem" -a -s "$R/ca.key"
check "ca.key is mode 0600" test "$(stat -c %a "$R/ca.key")" = 600
check "CA is a CA (openssl x509)" openssl x509 -in "$R/ca.pem" -noout -text
check_grep "CA:TRUE" "CA has basicConstraints CA:TRUE"
check_grep "Certificate Sign" "CA has keyUsage keyCertSign"
check_grep "ASN1 OID: prime256v1" "CA key is P-256"
check "CA is self-signed (openssl verify)" openssl verify -CAfile "$R/ca.pem" "$R/ca.pem"
check_exit 2 "region init refuses to replace a CA" "$VOUCHCTL" region init --dir "$R"
check_grep "already holds a region CA" "refusal says why"

check "host cert host-a with IP" "$VOUCHCTL" host cert host-a --ca-dir "$R" --ip 192.0.2.7 --out "$H"
check "host-a.key is mode 0600" test "$(stat -c %a "$H/host-a.key")" = 600
check "openssl verify -CAfile ca.pem host-a.pem" openssl verify -CAfile "$R/ca.pem" "$H/host-a.pem"
check_grep "host-a.pem: OK" "verify says OK"
check "openssl verify -purpose sslserver" openssl verify -purpose sslserver -CAfile "$R/ca.pem" "$H/host-a.pem"
check "openssl verify -purpose sslclient" openssl verify -purpose sslclient -CAfile "$R/ca.pem" "$H/host-a.pem"
check "host-a certificate text" openssl x509 -in "$H/host-a.pem" -noout -text
check_grep "DNS:host-a, IP Address:192.0.2.7" "SAN has DNS:host-a and IP:192.0.2.7"
check_grep "TLS Web Server Authentication, TLS Web Client Authentication" "EKU serverAuth+clientAuth"
check_grep "CA:FALSE" "host cert is not a CA"
check_grep "Subject: CN ?= ?host-a" "subject CN=host-a"
check "key matches certificate" bash -c "[ \"\$(openssl pkey -in '$H/host-a.key' -pubout)\" = \"\$(openssl x509 -in '$H/host-a.pem' -noout -pubkey)\" ]"
check "serial is 128 random bits" bash -c "s=\$(openssl x509 -in '$H/host-a.pem' -noout -serial | cut -d= -f2); [ \${#s} -ge 30 ]"

check "host cert host-b (default out dir)" bash -c "cd '$TMP' && '$VOUCHCTL' host cert host-b --ca-dir '$R'"
check "host-b.pem in the current directory" openssl verify -CAfile "$R/ca.pem" "$TMP/host-b.pem"
check "host-b certificate text" openssl x509 -in "$TMP/host-b.pem" -noout -ext subjectAltName
check_grep "DNS:host-b" "SAN has DNS:host-b"

# A certificate from another region's CA does not verify against this one.
check "second region init" "$VOUCHCTL" region init --dir "$TMP/other"
check "host cert from the other region" "$VOUCHCTL" host cert host-a --ca-dir "$TMP/other" --out "$TMP/other"
check_exit 2 "foreign certificate fails openssl verify" openssl verify -CAfile "$R/ca.pem" "$TMP/other/host-a.pem"

check_exit 2 "bad host name refused" "$VOUCHCTL" host cert ../evil --ca-dir "$R" --out "$H"
check "nothing written for a bad name" test ! -e "$TMP/evil.key" -a ! -e "$H/../evil.key"
check_exit 2 "upper-case host name refused" "$VOUCHCTL" host cert Host-A --ca-dir "$R" --out "$H"
check_exit 2 "bad IP refused" "$VOUCHCTL" host cert host-c --ip 1.2.3 --ca-dir "$R" --out "$H"
check "no host-c files" test ! -e "$H/host-c.key" -a ! -e "$H/host-c.pem"
check_exit 2 "missing --ca-dir" "$VOUCHCTL" host cert host-c
check_exit 2 "CA dir without a CA" "$VOUCHCTL" host cert host-c --ca-dir "$TMP/nowhere" --out "$H"
check_exit 2 "bad --days" "$VOUCHCTL" region init --dir "$TMP/r2" --days 0
check_exit 2 "region without subcommand" "$VOUCHCTL" region
check "region --help" "$VOUCHCTL" region --help
check_grep "region init --dir DIR" "region help names init"
check "host cert --help" "$VOUCHCTL" host cert --help
check_grep "--ca-dir DIR" "host cert help names --ca-dir"
echo "1..$_tap_n"
