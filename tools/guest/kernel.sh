#!/bin/bash
# tools/guest/kernel.sh - fetch Debian's distribution kernel for QEMU guests.
#
#   tools/guest/kernel.sh [CACHEDIR]      (default build/cache)
#
# Prints one line: the directory holding vmlinuz, config, System.map and
# vmlinux (and the unpacked package under pkg/).  The kernel is the linux-image-6.1.0-*
# package that linux-image-amd64 depends on, fetched with apt-get download
# and unpacked with dpkg -x, so guests run exactly what Debian ships
# (TPM TIS driver built in, BTF in vmlinuz).  The result is cached: a
# second call only prints the directory.
#
# vmlinux is the ELF kernel extracted from vmlinuz (QEMU boots it with
# -kernel through its PVH entry, skipping the decompressor: ~2 s instead
# of ~5 s under TCG, and no physical/virtual KASLR).  Debian's System.map
# is an 83-byte placeholder (the real one is in the -dbg package); it is
# kept as shipped.  A cached directory from before vmlinux existed gets
# the missing files added without downloading again.
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
# apt-cache takes most of a second: the answer is kept in the cache and
# asked again only after the package lists changed (an apt-get update).
resolved="$CACHE/kernel/resolved"
pkg=
if [ -f "$resolved" ] && [ "$resolved" -nt /var/lib/apt/lists ]; then
	pkg=$(cat "$resolved" 2>/dev/null || true)
	case "$pkg" in linux-image-[0-9]*-amd64) ;; *) pkg= ;; esac
fi
[ -n "$pkg" ] || pkg=$(resolve_pkg || true)
if [ -z "$pkg" ]; then
	apt-get update -qq >&2 || die "apt-get update failed"
	pkg=$(resolve_pkg || true)
fi
[ -n "$pkg" ] || die "cannot resolve the package linux-image-amd64 depends on"
if [ "$(cat "$resolved" 2>/dev/null)" != "$pkg" ]; then
	mkdir -p "$CACHE/kernel" && echo "$pkg" >"$resolved.$$" && mv "$resolved.$$" "$resolved"
fi

# u32 LE (or u8 with N=1) at byte offset OFF of FILE
le() { od -An -tu"${3:-4}" -j "$2" -N "${3:-4}" "$1" | tr -d ' '; }

# extract_vmlinux VMLINUZ OUT: the ELF inside a bzImage.  The payload
# (boot protocol >= 2.08) starts at (setup_sects+1)*512+payload_offset
# and its last 4 bytes are the decompressed size (LE).
extract_vmlinux() {
	local z=$1 out=$2 sects off len size magic tmp
	[ "$(od -An -c -j $((0x202)) -N 4 "$z" | tr -d ' ')" = HdrS ] ||
	    die "$z: not a bzImage (no HdrS)"
	sects=$(le "$z" $((0x1f1)) 1)
	[ "$sects" -ne 0 ] || sects=4
	off=$(( (sects + 1) * 512 + $(le "$z" $((0x248))) ))
	len=$(le "$z" $((0x24c)))
	[ "$len" -gt 4 ] || die "$z: no payload"
	size=$(le "$z" $((off + len - 4)))
	magic=$(od -An -tx1 -j "$off" -N 6 "$z" | tr -d ' \n')
	tmp=$(mktemp "$out.XXXXXX")
	local -a dec
	case "$magic" in
	fd377a585a00*) dec=(xz -dc) ;;
	28b52ffd*) dec=(zstd -dcq) ;;
	1f8b*) dec=(gzip -dc) ;;
	*) rm -f "$tmp"; die "$z: unknown payload compression (magic $magic)" ;;
	esac
	command -v "${dec[0]}" >/dev/null || { rm -f "$tmp"; die "${dec[0]} missing"; }
	# The size word is cut off; dd (not tail|head) so no SIGPIPE under pipefail.
	if ! dd if="$z" iflag=skip_bytes,count_bytes skip="$off" count=$((len - 4)) \
	    bs=1M status=none | "${dec[@]}" >"$tmp"; then
		rm -f "$tmp"; die "$z: ${dec[0]} failed on the payload"
	fi
	[ "$(od -An -tx1 -N 4 "$tmp" | tr -d ' \n')" = 7f454c46 ] ||
	    { rm -f "$tmp"; die "$z: payload is not an ELF"; }
	[ "$(stat -c %s "$tmp")" -eq "$size" ] ||
	    { rm -f "$tmp"; die "$z: payload is $(stat -c %s "$tmp") bytes, header says $size"; }
	chmod 644 "$tmp"
	mv "$tmp" "$out"
}

# complete DIR: add the files derived from vmlinuz / pkg if missing
complete() {
	local d=$1 map
	if [ ! -f "$d/System.map" ]; then
		map=$(ls "$d"/pkg/boot/System.map-* 2>/dev/null | head -n1)
		[ -n "$map" ] || die "$d/pkg has no /boot/System.map-*"
		cp "$map" "$d/System.map.tmp.$$" && mv "$d/System.map.tmp.$$" "$d/System.map"
	fi
	[ -f "$d/vmlinux" ] || extract_vmlinux "$d/vmlinuz" "$d/vmlinux"
}

dir="$CACHE/kernel/$pkg"
if [ -f "$dir/vmlinuz" ] && [ -f "$dir/config" ]; then
	complete "$dir"
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
complete "$work"
# Publish atomically so a concurrent or interrupted run never sees half a
# kernel directory.
rm -rf "$dir"
mv "$work" "$dir"
trap - EXIT
echo "$dir"
