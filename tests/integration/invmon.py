#!/usr/bin/env python3
"""invmon - the co-migration invariant monitor.

    invmon.py OUT.json HOST=TARGETDIR,GUARDDIR [HOST=TARGETDIR,GUARDDIR ...]

Samples, every few milliseconds until SIGTERM, on every host: the guard
VM's run state and whether its introspection window is plugged and backed
by that host's target memory (QMP on the second monitor socket,
qmp-mon.sock, so the migration driver keeps the first), then the target
VM's run state.  Guards are sampled before targets in each round: the
engine only resumes a target after its guard attached and verified, and
only detaches a guard after its target stopped, so within one round
"target running" and "guard not attached" cannot both be true unless the
invariant is broken.

Writes OUT.json: {"rounds", "max_gap_ms", "violations": [...],
"running_target_rounds", "missed", "hosts_seen"}.  A VM whose socket is
gone (not started yet, or destroyed) counts as not running.  Each QMP
answer has 50 ms: a QEMU that does not answer (at a switchover it
cannot) is "unknown" for that round; a guard is asked up to GUARD_TRIES
times in a round (a loaded host may answer one query late) before its
target is sampled.  A round counts as missed when a
target runs (or was last seen running and does not answer) while its
guard's state is not known to be running+attached; the test fails on
any.
"""
import json
import os
import signal
import socket
import sys
import time


TIMEOUT = 0.05          # per QMP answer
GUARD_TRIES = 3         # per round, for a guard that did not answer
UNKNOWN = "unknown"


class Qmp:
    def __init__(self, path):
        self.path = path
        self.s = None
        self.buf = b""
        self.n = 0

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(self.path)
        self.s = s
        self.buf = b""
        self._read()                     # greeting
        self._cmd({"execute": "qmp_capabilities"})

    def _read(self, want_id=None):
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if not line.strip():
                    continue
                msg = json.loads(line)
                if not isinstance(msg, dict) or "event" in msg:
                    continue
                if want_id is not None and msg.get("id") != want_id:
                    continue        # a late answer to an earlier command
                return msg
            chunk = self.s.recv(65536)
            if not chunk:
                raise OSError("closed")
            self.buf += chunk

    def _cmd(self, obj):
        self.n += 1
        obj = dict(obj, id=self.n)
        self.s.sendall(json.dumps(obj).encode() + b"\n")
        return self._read(self.n)

    def cmd(self, name, args=None):
        """The command's return value; None if the VM is not there;
        UNKNOWN if QEMU did not answer in time (it cannot while it holds
        its lock at a migration's switchover): the connection is dropped
        so a late answer cannot be taken for the next one."""
        try:
            if self.s is None:
                if not os.path.exists(self.path):
                    return None
                self._connect()
            msg = {"execute": name}
            if args is not None:
                msg["arguments"] = args
            r = self._cmd(msg)
            if "return" not in r:
                return {"error": r.get("error")}
            return r["return"]
        except socket.timeout:
            if self.s is not None:
                self.s.close()
            self.s = None
            return UNKNOWN
        except (OSError, ValueError):
            if self.s is not None:
                self.s.close()
            self.s = None
            return None


def sample_guard(h):
    """(running, attached) of h's guard, or UNKNOWN if QEMU did not answer."""
    st = h["g"].cmd("query-status")
    if st == UNKNOWN:
        return UNKNOWN
    running = isinstance(st, dict) and st.get("status") == "running"
    attached = False
    if running:
        # the window device and the memory backend behind it
        md = h["g"].cmd("qom-get", {"path": "/machine/peripheral/win",
                                    "property": "memdev"})
        mp = None
        if isinstance(md, str) and md and md != UNKNOWN:
            mp = h["g"].cmd("qom-get", {"path": md, "property": "mem-path"})
        if UNKNOWN in (md, mp):
            return UNKNOWN
        ram = ""
        try:
            with open(os.path.join(h["tdir"], "ram.path")) as f:
                ram = f.read().strip()
        except OSError:
            pass
        attached = (isinstance(mp, str) and ram != "" and
                    os.path.realpath(mp) == os.path.realpath(ram))
    return (running, attached)


def main():
    out = sys.argv[1]
    hosts = []
    for arg in sys.argv[2:]:
        host, dirs = arg.split("=", 1)
        tdir, gdir = dirs.split(",", 1)
        hosts.append({
            "host": host, "tdir": tdir, "gdir": gdir,
            "t": Qmp(os.path.join(tdir, "qmp-mon.sock")),
            "g": Qmp(os.path.join(gdir, "qmp-mon.sock")),
        })
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    rounds = 0
    max_gap = 0.0
    last = None
    violations = []
    running_rounds = 0
    unknown_targets = 0
    missed = []
    last_t = {}
    seen = set()
    while not stop:
        now = time.monotonic()
        if last is not None:
            max_gap = max(max_gap, (now - last) * 1000)
        last = now
        rounds += 1
        guard = {}
        for h in hosts:
            # A loaded host may leave one QMP answer late: ask the guard
            # again (still before its target is sampled) rather than
            # give up the round.
            for _ in range(GUARD_TRIES):
                guard[h["host"]] = sample_guard(h)
                if guard[h["host"]] != UNKNOWN:
                    break
        for h in hosts:
            st = h["t"].cmd("query-status")
            if st == UNKNOWN:
                # no answer (a switchover, an incoming stream, a slow
                # host).  If it was last seen running it may still run:
                # then only a guard known to run attached makes the
                # round judgeable.  A target last seen stopped can only
                # start again by a cont, which the next answer shows.
                unknown_targets += 1
                if last_t.get(h["host"]) == "running" and \
                        guard[h["host"]] != (True, True):
                    missed.append(round((now - START) * 1000, 1))
                continue
            if not isinstance(st, dict) or "status" not in st:
                last_t[h["host"]] = "gone"
                continue
            last_t[h["host"]] = st.get("status")
            seen.add(h["host"])
            if st.get("status") != "running":
                continue
            running_rounds += 1
            if guard[h["host"]] == UNKNOWN:
                # a running target whose guard could not be sampled:
                # the invariant cannot be judged here
                missed.append(round((now - START) * 1000, 1))
                continue
            g_run, g_att = guard[h["host"]]
            if not (g_run and g_att):
                violations.append({
                    "t_ms": round((now - START) * 1000, 1),
                    "host": h["host"],
                    "guard_running": g_run, "guard_attached": g_att})
        time.sleep(0.003)
    with open(out, "w") as f:
        json.dump({"rounds": rounds, "max_gap_ms": round(max_gap, 1),
                   "violations": violations[:50],
                   "violation_count": len(violations),
                   "running_target_rounds": running_rounds,
                   "unknown_target_samples": unknown_targets,
                   "missed": len(missed), "missed_at_ms": missed[:20],
                   "hosts_seen": sorted(seen)}, f)


START = time.monotonic()
if __name__ == "__main__":
    main()
