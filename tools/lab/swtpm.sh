#!/bin/bash
# swtpm.sh - a lab of software TPMs, one per simulated host.
#
#   swtpm.sh start N DIR    N fresh TPMs under DIR/tpm0..tpmN-1 (stops any
#                           running ones of DIR first)
#   swtpm.sh stop DIR       stop every TPM of DIR (by pid file) and wait
#   swtpm.sh reset DIR I    restart TPM I keeping its state: a host reboot
#                           (the next TPM2_Startup(CLEAR) bumps resetCount)
#   swtpm.sh status DIR     one line per TPM: index, pid, TCTI, running?
#
# Layout (every path absolute: swtpm -d changes to /, and a relative
# --tpmstate puts the TPM into failure mode):
#
#	DIR/ca/			lab EK CA, created once and kept
#	    ca.pem		the EK CA certificates (issuer + root), PEM
#	    swtpm_setup.conf, swtpm-localca.conf, swtpm-localca.options
#	DIR/tpmI/		TPM I's NV state (tpm2-00.permall)
#	    tcti		"swtpm:host=127.0.0.1,port=P"
#	    port		P (server); P+1 is the control channel
#	    pid, log, setup.log
#
# Each TPM is manufactured by swtpm_setup with the lab CA (RSA-2048 EK
# certificate at NV 0x01c00002, the ECC P-384 one at 0x01c00016, a
# platform certificate) and gets here, in addition, a certificate for the
# low-range ECC P-256 EK of the TCG default template at NV 0x01c0000a,
# which swtpm_setup 0.7 does not make.  Nothing is written under /etc or
# /var: swtpm_setup and swtpm_localca read the config files of DIR/ca.
#
# Environment: SWTPM_PCR_BANKS (default sha256) banks to activate.
set -u

prog=${0##*/}
BANKS=${SWTPM_PCR_BANKS:-sha256}

usage() {
	cat <<EOF
usage: $prog start N DIR | stop DIR | reset DIR I | status DIR

  start N DIR   start N swtpm instances with fresh state under DIR/tpmI,
                EK certificates from the lab CA in DIR/ca (created once);
                writes DIR/tpmI/tcti and DIR/tpmI/port, DIR/ca/ca.pem
  stop DIR      stop the instances of DIR and wait for them to exit
  reset DIR I   restart instance I keeping its state (a host reboot)
  status DIR    list the instances of DIR
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "'$c' not found (make deps)"
	done
}

# abs DIR: DIR as an absolute path (DIR need not exist yet)
abs() {
	case "$1" in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# port_free P: neither P nor P+1 is listening on any address
port_free() {
	! ss -Htln | awk '{print $4}' | grep -qE "[:.]($1|$(($1 + 1)))\$"
}

# pick_port: an even port in 10000..32766, below Linux's ephemeral range
# (32768..60999) so no outgoing connection holds it, whose pair is free
# now (another program may still take it before swtpm binds: start_one
# retries)
pick_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + RANDOM % 11384 * 2))
		if port_free "$p"; then echo "$p"; return 0; fi
	done
	return 1
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# our_pid TDIR: the pid of the swtpm serving TDIR, if it runs (checked
# against its command line: never signal a recycled pid)
our_pid() {
	local pid
	pid=$(cat "$1/pid" 2>/dev/null) || return 1
	alive "$pid" && grep -qa "dir=$1" "/proc/$pid/cmdline" 2>/dev/null &&
	    echo "$pid"
}

# ask_stop TDIR: ask the swtpm of TDIR to exit, do not wait.  The control
# channel's shutdown saves the state like TPM power-off; SIGTERM is the
# fallback.  Either takes swtpm 1-2 s, so stop signals every instance
# first and then waits for all.
ask_stop() {
	local t=$1 pid p
	pid=$(our_pid "$t") || return 0
	p=$(cat "$t/port" 2>/dev/null)
	if [ -z "$p" ] ||
	    ! swtpm_ioctl --tcp "127.0.0.1:$(($p + 1))" -s >/dev/null 2>&1; then
		kill -TERM "$pid" 2>/dev/null
	fi
}

# wait_stop TDIR: wait (5 s, then SIGKILL) until the swtpm of TDIR is gone
wait_stop() {
	local t=$1 pid i
	pid=$(our_pid "$t") || { rm -f "$t/pid"; return 0; }
	for ((i = 0; i < 250; i++)); do
		alive "$pid" || break
		sleep 0.02
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			alive "$pid" || break
			sleep 0.02
		done
	fi
	alive "$pid" && { echo "$prog: pid $pid ($t) does not exit" >&2; return 1; }
	rm -f "$t/pid"
	return 0
}

# stop_one TDIR: stop the swtpm of TDIR and wait until it is gone
stop_one() {
	ask_stop "$1"
	wait_stop "$1"
}

# run_swtpm TDIR PORT: start the daemon on the existing state of TDIR
run_swtpm() {
	local t=$1 p=$2 i
	rm -f "$t/pid"
	swtpm socket --tpm2 --tpmstate "dir=$t" \
	    --server "type=tcp,port=$p,bindaddr=127.0.0.1" \
	    --ctrl "type=tcp,port=$(($p + 1)),bindaddr=127.0.0.1" \
	    --flags not-need-init,startup-clear \
	    --log "file=$t/log,level=1" \
	    --daemon --pid "file=$t/pid" >>"$t/log" 2>&1 || return 1
	for ((i = 0; i < 100; i++)); do
		[ -s "$t/pid" ] && ! port_free "$p" && return 0
		sleep 0.02
	done
	return 1
}

# start_one TDIR: swtpm on a free port pair, retried if the port was taken
start_one() {
	local t=$1 p try
	for ((try = 0; try < 5; try++)); do
		p=$(pick_port) || { echo "$prog: no free port pair" >&2; return 1; }
		if run_swtpm "$t" "$p"; then
			echo "$p" >"$t/port"
			echo "swtpm:host=127.0.0.1,port=$p" >"$t/tcti"
			return 0
		fi
		stop_one "$t"
	done
	echo "$prog: swtpm for $t did not start (see $t/log)" >&2
	return 1
}

# ca_setup DIR: the private swtpm_setup/swtpm_localca configuration
ca_setup() {
	local ca=$1/ca
	mkdir -p "$ca" || die "cannot create $ca"
	[ -f "$ca/swtpm_setup.conf" ] && return 0
	cat >"$ca/swtpm-localca.conf" <<EOF
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
EOF
	cat >"$ca/swtpm-localca.options" <<EOF
--platform-manufacturer vouch-lab
--platform-version 2.1
--platform-model swtpm
EOF
	cat >"$ca/swtpm_setup.conf.tmp" <<EOF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $ca/swtpm-localca.conf
create_certs_tool_options = $ca/swtpm-localca.options
active_pcr_banks = $BANKS
EOF
	mv "$ca/swtpm_setup.conf.tmp" "$ca/swtpm_setup.conf"
}

# ecc_p256_ek_cert TDIR: certify the low-range ECC P-256 EK (TCG template
# L-2, what `vouchctl tpm init --ak ecc` re-creates) and store the
# certificate at its TCG NV index 0x01c0000a with the attributes
# swtpm_setup gives the other EK certificates.  The TPM is still private
# to this script, so flushing every transient object is safe.
ecc_p256_ek_cert() {
	local t=$1 ca=$2 tcti w hex x y size
	tcti=$(cat "$t/tcti")
	w=$(mktemp -d "$t/.ekc.XXXXXX") || return 1
	tpm2_createek -T "$tcti" -G ecc -c "$w/ek.ctx" -u "$w/ek.pem" -f pem \
	    >/dev/null 2>"$w/err" &&
	    tpm2_flushcontext -T "$tcti" -t >/dev/null 2>>"$w/err" ||
	    { cat "$w/err" >&2; rm -rf "$w"; return 1; }
	# the uncompressed point 04||X||Y ends the SubjectPublicKeyInfo
	hex=$(openssl pkey -pubin -in "$w/ek.pem" -outform der | tail -c 64 |
	    od -An -v -tx1 | tr -d ' \n')
	x=${hex:0:64} y=${hex:64:64}
	swtpm_localca --type ek --ek "x=$x,y=$y,id=secp256r1" --dir "$w" \
	    --tpm-spec-family 2.0 --tpm-spec-level 0 --tpm-spec-revision 164 \
	    --tpm-manufacturer id:00001014 --tpm-model swtpm \
	    --tpm-version id:20191023 --tpm2 \
	    --configfile "$ca/swtpm-localca.conf" \
	    --optsfile "$ca/swtpm-localca.options" >/dev/null 2>"$w/err" ||
	    { cat "$w/err" >&2; rm -rf "$w"; return 1; }
	size=$(stat -c %s "$w/ek.cert")
	tpm2_nvdefine -T "$tcti" 0x01c0000a -C p -s "$size" \
	    -a "ppwrite|writedefine|ppread|ownerread|authread|platformcreate|no_da" \
	    >/dev/null 2>"$w/err" &&
	    tpm2_nvwrite -T "$tcti" 0x01c0000a -C p -i "$w/ek.cert" \
	    >/dev/null 2>>"$w/err" ||
	    { cat "$w/err" >&2; rm -rf "$w"; return 1; }
	rm -rf "$w"
}

# make_one DIR I: manufacture TPM I with fresh state and start it
make_one() {
	local d=$1 i=$2 t=$1/tpm$2
	rm -rf "$t" && mkdir -p "$t" || return 1
	swtpm_setup --tpm2 --tpmstate "$t" --createek --create-ek-cert \
	    --create-platform-cert --config "$d/ca/swtpm_setup.conf" \
	    --logfile "$t/setup.log" >/dev/null 2>&1 ||
	    { echo "$prog: swtpm_setup failed for $t:" >&2; tail -5 "$t/setup.log" >&2; return 1; }
	start_one "$t" || return 1
	ecc_p256_ek_cert "$t" "$d/ca" ||
	    { echo "$prog: ECC P-256 EK certificate for $t failed" >&2; return 1; }
}

cmd_stop() {
	local d=$1 t rc=0
	[ -d "$d" ] || return 0
	for t in "$d"/tpm*; do
		[ -d "$t" ] && ask_stop "$t"
	done
	for t in "$d"/tpm*; do
		[ -d "$t" ] || continue
		wait_stop "$t" || rc=1
	done
	return $rc
}

cmd_start() {
	local n=$1 d=$2 i jobs=() rc=0 ncpu
	case "$n" in ''|*[!0-9]*) die "N must be a number, got '$n'" ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le 256 ] || die "N must be 1..256"
	need swtpm swtpm_setup swtpm_localca swtpm_ioctl ss openssl tpm2_createek \
	    tpm2_nvdefine tpm2_nvwrite tpm2_flushcontext
	mkdir -p "$d" || die "cannot create $d"
	cmd_stop "$d" || die "could not stop the running instances of $d"
	rm -rf "$d"/tpm*
	ca_setup "$d"
	# TPM 0 alone first: swtpm_localca creates the CA on first use
	make_one "$d" 0 || { cmd_stop "$d"; die "instance 0 failed"; }
	cat "$d/ca/issuercert.pem" "$d/ca/swtpm-localca-rootca-cert.pem" \
	    >"$d/ca/ca.pem.tmp" && mv "$d/ca/ca.pem.tmp" "$d/ca/ca.pem" ||
	    die "cannot write $d/ca/ca.pem"
	ncpu=$(nproc 2>/dev/null || echo 2)
	for ((i = 1; i < n; i++)); do
		make_one "$d" "$i" &
		jobs+=($!)
		if [ ${#jobs[@]} -ge $((ncpu * 2)) ]; then
			wait "${jobs[0]}" || rc=1
			jobs=("${jobs[@]:1}")
		fi
	done
	for i in "${jobs[@]}"; do wait "$i" || rc=1; done
	if [ $rc -ne 0 ]; then
		cmd_stop "$d"
		die "some instances failed to start"
	fi
	echo "$prog: $n TPM(s) running under $d (CA: $d/ca/ca.pem)"
}

cmd_reset() {
	local d=$1 i=$2 t p
	case "$i" in ''|*[!0-9]*) die "I must be a number, got '$i'" ;; esac
	t=$d/tpm$i
	[ -f "$t/port" ] && [ -f "$t/tpm2-00.permall" ] ||
	    die "$t: no such instance (swtpm.sh start first)"
	p=$(cat "$t/port")
	stop_one "$t" || die "$t: could not stop"
	# same port: the TCTI the host was given stays valid across reboots
	run_swtpm "$t" "$p" || die "$t: did not restart on port $p (see $t/log)"
}

cmd_status() {
	local d=$1 t pid
	for t in "$d"/tpm*; do
		[ -d "$t" ] || continue
		pid=$(cat "$t/pid" 2>/dev/null)
		printf '%s %s %s %s\n' "${t##*/tpm}" "${pid:--}" \
		    "$(cat "$t/tcti" 2>/dev/null)" \
		    "$(alive "$pid" && echo running || echo stopped)"
	done
}

case "${1:-}" in
-h|--help|help) usage; exit 0 ;;
start)	[ $# -eq 3 ] || { usage >&2; exit 2; }
	cmd_start "$2" "$(abs "$3")" ;;
stop)	[ $# -eq 2 ] || { usage >&2; exit 2; }
	cmd_stop "$(abs "$2")" ;;
reset)	[ $# -eq 3 ] || { usage >&2; exit 2; }
	cmd_reset "$(abs "$2")" "$3" ;;
status) [ $# -eq 2 ] || { usage >&2; exit 2; }
	cmd_status "$(abs "$2")" ;;
*)	usage >&2; exit 2 ;;
esac
