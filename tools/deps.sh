#!/bin/sh
# Install the Debian packages vouch needs, only those missing.
# Runs as root on Debian 12 (make deps; make check and make demo call it).
set -eu
PKGS="build-essential pkg-config libtss2-dev swtpm swtpm-tools tpm2-tools
libssl-dev libconfig-dev libjson-c-dev libcmocka-dev libxen-dev libbpf-dev
libsqlite3-dev libcurl4-openssl-dev clang-14 libfuzzer-14-dev libclang-rt-14-dev
qemu-system-x86 ovmf busybox-static cpio xz-utils zstd iproute2 jq openssl python3 procps"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run 'make deps' as root (or apt-get install them)" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
