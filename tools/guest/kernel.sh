#!/bin/bash
# tools/guest/kernel.sh - fetch Debian's distribution kernel for QEMU guests.
#
#   tools/guest/kernel.sh [CACHEDIR]      (default build/cache)
#
# Prints one line: the directory holding vmlinuz and config (and the
# unpacked package under pkg/).  The kernel is the linux-image-6.1.0-*
# package that linux-image-amd64 depends on, fetched with apt-get download
# and unpacked with dpkg -x, so guests run exactly what Debian ships
# (TPM TIS driver built in, BTF in vmlinuz).  The result is cached: a
# second call only prints the directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${1:-$ROOT/build/cache}
case "$CACHE" in /*) ;; *) CACHE="$PWD/$CACHE" ;; esac

die() { echo "kernel.sh: $*" >&2; exit 1; }

# Resolve the versioned package the meta-package points at.  Without apt
# lists apt-cache knows nothing: refresh them once and ask again.
resolve_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '/Depends: linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
pkg=$(resolve_pkg || true)
if [ -z "$pkg" ]; then
	apt-get update -qq >&2 || die "apt-get update failed"
	pkg=$(resolve_pkg || true)
fi
[ -n "$pkg" ] || die "cannot resolve the package linux-image-amd64 depends on"

dir="$CACHE/kernel/$pkg"
if [ -f "$dir/vmlinuz" ] && [ -f "$dir/config" ]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$CACHE/kernel"
work=$(mktemp -d "$CACHE/kernel/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; a failure is most
# often missing or stale lists, so update once and retry.
if ! (cd "$work" && apt-get download -q "$pkg" >&2); then
	apt-get update -qq >&2 || die "apt-get update failed"
	(cd "$work" && apt-get download -q "$pkg" >&2) ||
	    die "apt-get download $pkg failed"
fi
deb=$(ls "$work"/*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || die "apt-get download produced no .deb"
dpkg -x "$deb" "$work/pkg"
vmlinuz=$(ls "$work"/pkg/boot/vmlinuz-* 2>/dev/null | head -n1)
config=$(ls "$work"/pkg/boot/config-* 2>/dev/null | head -n1)
[ -n "$vmlinuz" ] && [ -n "$config" ] || die "$deb has no /boot/vmlinuz-* or config-*"
cp "$vmlinuz" "$work/vmlinuz"
cp "$config" "$work/config"
rm -f "$deb"
# Publish atomically so a concurrent or interrupted run never sees half a
# kernel directory.
rm -rf "$dir"
mv "$work" "$dir"
trap - EXIT
echo "$dir"
