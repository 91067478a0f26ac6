#!/bin/bash
# Policies through the CLI: the shipped templates validate, errors name
# file:line: field, --json is machine-readable, and `policy refvals` turns
# a real firmware event log (OVMF + swtpm, kept in the fuzz corpus) and a
# runtime log into a policy whose entries match the logs one for one.
. "$(dirname "$0")/../lib.sh"
V=$VOUCHCTL
OVMF_LOG="$ROOT/tests/fuzz/corpus/eventlog/ovmf-sha1-256-384-512.bin"

for t in "$ROOT"/policies/*.cfg; do
	case $(basename "$t") in
	guard-*.cfg)	# guard policies (docs/guards.md): vouch-guard checks them
		check "guard policy $(basename "$t") validates" "$B/vouch-guard" -n --policy "$t" ;;
	*)	check "template $(basename "$t") validates" $V policy check "$t" ;;
	esac
done

cat >"$TMP/bad.cfg" <<'CFG'
version = 1;
name = "bad";
reference = {
  runtime = (
    { path = "/boot/xen.gz"; digest = "sha256:abcd"; }
  );
};
CFG
check_exit 1 "a policy with a short digest is refused" $V policy check "$TMP/bad.cfg"
check_grep "bad.cfg:5: reference.runtime\[0\].digest: sha256 digest must be 32 bytes, not 2" \
    "the error names file, line and field"
printf 'version = 1;\nattestation = { pcrs = "sha256:0-7"; colour = "red"; };\n' >"$TMP/unknown.cfg"
check_exit 1 "an unknown key is refused" $V policy check "$TMP/unknown.cfg"
check_grep "unknown.cfg:2: attestation.colour: unknown key" "the unknown key is named with its line"
check_exit 1 "policy check --json on a good and a bad file" \
    $V policy check --json "$ROOT/policies/xen-grub.cfg" "$TMP/bad.cfg"
if jqe '.[0].ok == true and .[1].ok == false and (.[1].error | test("bad.cfg:5"))' \
    "$TMP/last.out" >/dev/null; then tap_ok "--json reports each file"
else tap_fail "--json reports each file" "$(cat "$TMP/last.out")"; fi
check_exit 2 "refvals without any source is a usage error" $V policy refvals

# refvals from the real OVMF log with the xen-efi template (PCRs 0-7,23)
check "refvals from a real OVMF event log" $V policy refvals \
    --template "$ROOT/policies/xen-efi.cfg" --eventlog "$OVMF_LOG" -o "$TMP/efi.cfg"
check "the generated policy validates" $V policy check "$TMP/efi.cfg"
$V eventlog show --json "$OVMF_LOG" >"$TMP/events.json"
want=$(jq '[.[] | select(.type != "EV_NO_ACTION" and .pcr <= 7 and .digests.sha256 != null)] | length' "$TMP/events.json")
got=$(grep -c '{ pcr = [0-9]*; digest = "sha256:' "$TMP/efi.cfg")
if [ "$want" -gt 0 ] && [ "$want" = "$got" ]; then tap_ok "one boot reference per extending PCR 0-7 event ($got)"
else tap_fail "one boot reference per extending PCR 0-7 event" "want $want, got $got"; fi
d=$(jq -r '[.[] | select(.pcr == 0 and .type == "EV_S_CRTM_VERSION")][0].digests.sha256' "$TMP/events.json")
if grep -q "pcr = 0; digest = \"sha256:$d\"; type = \"EV_S_CRTM_VERSION\"" "$TMP/efi.cfg"; then
	tap_ok "the CRTM version event's digest, type and PCR are in the policy"
else tap_fail "the CRTM version event's digest, type and PCR are in the policy"; fi
if grep -q 'pcr = 9;' "$TMP/efi.cfg"; then tap_fail "PCR 9 (not quoted by the template) is left out"
else tap_ok "PCR 9 (not quoted by the template) is left out"; fi

# refvals --measure hashes the template's files; --runtime-log copies entries
mkdir -p "$TMP/host"
echo hypervisor >"$TMP/host/xen.gz"; echo toolstack >"$TMP/host/xl"
printf 'version = 1;\nname = "m";\nmeasure = { files = [ "%s", "%s" ]; };\n' \
    "$TMP/host/xen.gz" "$TMP/host/xl" >"$TMP/m.cfg"
check "refvals --measure" $V policy refvals --template "$TMP/m.cfg" --measure -o "$TMP/m-out.cfg"
h=$(sha256sum "$TMP/host/xen.gz" | cut -c1-64)
if grep -q "path = \"$TMP/host/xen.gz\"; digest = \"sha256:$h\"" "$TMP/m-out.cfg"; then
	tap_ok "--measure records sha256sum's digest of each file"
else tap_fail "--measure records sha256sum's digest of each file"; fi
printf 'version = 1;\nmeasure = { files = [ "%s/missing" ]; };\n' "$TMP" >"$TMP/miss.cfg"
check_exit 2 "--measure on a missing file fails" $V policy refvals --template "$TMP/miss.cfg" --measure
check_grep "missing" "the missing file is named"
check_exit 2 "refvals from a garbage event log fails" $V policy refvals --eventlog "$TMP/m.cfg"
