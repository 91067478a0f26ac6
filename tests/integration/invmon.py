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
"running_target_rounds", "hosts_seen"}.  A VM whose socket is gone (not
started yet, or destroyed) counts as not running.
"""
import json
import os
import signal
import socket
import sys
import time


class Qmp:
    def __init__(self, path):
        self.path = path
        self.s = None
        self.buf = b""

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(0.5)
        s.connect(self.path)
        self.s = s
        self.buf = b""
        self._read()                     # greeting
        self._cmd({"execute": "qmp_capabilities"})

    def _read(self):
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if not line.strip():
                    continue
                msg = json.loads(line)
                if "event" in msg:
                    continue
                return msg
            chunk = self.s.recv(65536)
            if not chunk:
                raise OSError("closed")
            self.buf += chunk

    def _cmd(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")
        return self._read()

    def cmd(self, name, args=None):
        """The command's return value, or None if the VM is not there."""
        try:
            if self.s is None:
                if not os.path.exists(self.path):
                    return None
                self._connect()
            msg = {"execute": name}
            if args is not None:
                msg["arguments"] = args
            r = self._cmd(msg)
            return r.get("return", {"error": r.get("error")})
        except (OSError, ValueError):
            if self.s is not None:
                self.s.close()
            self.s = None
            return None


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
    seen = set()
    while not stop:
        now = time.monotonic()
        if last is not None:
            max_gap = max(max_gap, (now - last) * 1000)
        last = now
        rounds += 1
        guard = {}
        for h in hosts:
            st = h["g"].cmd("query-status")
            running = bool(st) and st.get("status") == "running"
            attached = False
            if running:
                # the window device and the memory backend behind it
                md = h["g"].cmd("qom-get", {"path": "/machine/peripheral/win",
                                            "property": "memdev"})
                mp = None
                if isinstance(md, str) and md:
                    mp = h["g"].cmd("qom-get", {"path": md,
                                                "property": "mem-path"})
                ram = ""
                try:
                    with open(os.path.join(h["tdir"], "ram.path")) as f:
                        ram = f.read().strip()
                except OSError:
                    pass
                attached = (isinstance(mp, str) and ram != "" and
                            os.path.realpath(mp) == os.path.realpath(ram))
            guard[h["host"]] = (running, attached)
        for h in hosts:
            st = h["t"].cmd("query-status")
            if not st:
                continue
            seen.add(h["host"])
            if st.get("status") != "running":
                continue
            running_rounds += 1
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
                   "hosts_seen": sorted(seen)}, f)


START = time.monotonic()
if __name__ == "__main__":
    main()
