#!/usr/bin/env python3
"""guestctl.py - talk to a lab guest's sockets (stdlib only).

  guestctl.py cmd SOCK LINE [TIMEOUT]
      Send LINE on the guest's command channel (ttyS1 as a unix-socket
      chardev) and print the answer lines between "VOUCH-BEGIN LINE" and
      "VOUCH-END LINE RC"; exit with RC.  124 on timeout, 3 on I/O error.
  guestctl.py line SOCK VERB [TIMEOUT]
      vouch-guard's control port (--control): send "VERB TOKEN" (a fresh
      token), print the text of the answer "TOKEN TEXT" (answers to other
      tokens, late ones, are skipped); exit 1 if it is a FAIL or an ERROR.
  guestctl.py qmp SOCK JSON [TIMEOUT]
      QMP handshake (qmp_capabilities), then one command.  JSON is a QMP
      command object or just a command name ("query-status").  Prints the
      "return" value as JSON; on an error prints it on stderr, exit 1.
  guestctl.py qmp-wait-event SOCK EVENT [TIMEOUT]
      Handshake, then wait for EVENT (e.g. STOP, MIGRATION); prints the
      event object.  Only events emitted after the connection count.
  guestctl.py qmp-then-event SOCK JSON EVENT [TIMEOUT [KEY=VALUE]]
      Handshake, one command, then wait (on the same connection) for
      EVENT whose data has KEY=VALUE (e.g. device_del, then
      DEVICE_DELETED device=win); prints the event object.  An event
      that arrives before the command's return counts too.

QEMU serves one client at a time on each socket: a second client waits
in the listen backlog until the first disconnects.
"""
import json
import os
import socket
import sys
import time


class Timeout(Exception):
    pass


def connect(path, deadline):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(max(0.1, deadline - time.monotonic()))
    s.connect(path)
    return s


class Lines:
    """Line reader over a socket with an absolute deadline."""

    def __init__(self, sock, deadline):
        self.sock, self.deadline, self.buf = sock, deadline, b""

    def readline(self):
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Timeout()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Timeout() from None
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")


def do_cmd(path, line, timeout):
    line = line.strip()
    if not line or "\n" in line:
        print("guestctl: empty or multi-line command", file=sys.stderr)
        return 2
    deadline = time.monotonic() + timeout
    begin, end = "VOUCH-BEGIN " + line, "VOUCH-END " + line + " "
    try:
        s = connect(path, deadline)
        # A leading newline ends any partial line a dead client left behind.
        s.sendall(b"\n" + line.encode() + b"\n")
        r = Lines(s, deadline)
        while r.readline() != begin:
            pass  # stale output of an earlier (timed-out) command
        while True:
            l = r.readline()
            if l.startswith(end) and l[len(end):].isdigit():
                return int(l[len(end):])
            print(l, flush=True)
    except Timeout:
        print("guestctl: no answer to '%s' within %gs" % (line, timeout),
              file=sys.stderr)
        return 124
    except (OSError, EOFError) as e:
        print("guestctl: %s: %s" % (path, e), file=sys.stderr)
        return 3


class QMP:
    def __init__(self, path, deadline):
        self.r = Lines(connect(path, deadline), deadline)
        greeting = self.recv()
        if "QMP" not in greeting:
            raise EOFError("no QMP greeting: %r" % greeting)
        self.execute({"execute": "qmp_capabilities"})

    def recv(self):
        while True:
            l = self.r.readline()
            if l.strip():
                return json.loads(l)

    def execute(self, cmd):
        self.r.sock.sendall(json.dumps(cmd).encode() + b"\n")
        while True:
            m = self.recv()
            if "return" in m or "error" in m:
                return m


def parse_cmd(text):
    text = text.strip()
    if not text.startswith("{"):
        return {"execute": text}
    return json.loads(text)


def do_qmp(path, text, timeout):
    try:
        cmd = parse_cmd(text)
    except ValueError as e:
        print("guestctl: bad JSON: %s" % e, file=sys.stderr)
        return 2
    try:
        q = QMP(path, time.monotonic() + timeout)
        m = q.execute(cmd)
    except Timeout:
        print("guestctl: QMP timeout after %gs" % timeout, file=sys.stderr)
        return 124
    except (OSError, EOFError, ValueError) as e:
        print("guestctl: %s: %s" % (path, e), file=sys.stderr)
        return 3
    if "error" in m:
        print(json.dumps(m["error"]), file=sys.stderr)
        return 1
    print(json.dumps(m["return"]))
    return 0


def do_wait_event(path, event, timeout):
    try:
        q = QMP(path, time.monotonic() + timeout)
        while True:
            m = q.recv()
            if m.get("event") == event:
                print(json.dumps(m))
                return 0
    except Timeout:
        print("guestctl: no %s event within %gs" % (event, timeout),
              file=sys.stderr)
        return 124
    except (OSError, EOFError, ValueError) as e:
        print("guestctl: %s: %s" % (path, e), file=sys.stderr)
        return 3


def do_then_event(path, text, event, timeout, match):
    key, _, value = match.partition("=") if match else ("", "", "")
    try:
        cmd = parse_cmd(text)
    except ValueError as e:
        print("guestctl: bad JSON: %s" % e, file=sys.stderr)
        return 2

    def hit(m):
        return m.get("event") == event and (
            not key or str(m.get("data", {}).get(key)) == value)
    try:
        q = QMP(path, time.monotonic() + timeout)
        q.r.sock.sendall(json.dumps(cmd).encode() + b"\n")
        seen = None
        while True:
            m = q.recv()
            if hit(m):
                seen = m
            if "error" in m:
                print(json.dumps(m["error"]), file=sys.stderr)
                return 1
            if "return" in m:
                break
        while seen is None:
            m = q.recv()
            if hit(m):
                seen = m
        print(json.dumps(seen))
        return 0
    except Timeout:
        print("guestctl: no %s event within %gs" % (event, timeout),
              file=sys.stderr)
        return 124
    except (OSError, EOFError, ValueError) as e:
        print("guestctl: %s: %s" % (path, e), file=sys.stderr)
        return 3


def do_line(path, verb, timeout):
    deadline = time.monotonic() + timeout
    token = "%d-%d" % (os.getpid(), int(time.monotonic() * 1000) % 1000000)
    try:
        s = connect(path, deadline)
        s.sendall(b"\n" + ("%s %s\n" % (verb, token)).encode())
        r = Lines(s, deadline)
        while True:
            l = r.readline()
            if l.startswith(token + " "):
                text = l[len(token) + 1:]
                print(text)
                return 1 if ("FAIL" in text.split()[:2] or
                             text.startswith("ERROR")) else 0
    except Timeout:
        print("guestctl: no answer to '%s' within %gs" % (verb, timeout),
              file=sys.stderr)
        return 124
    except (OSError, EOFError) as e:
        print("guestctl: %s: %s" % (path, e), file=sys.stderr)
        return 3


def main(argv):
    if len(argv) >= 5 and argv[1] == "qmp-then-event":
        timeout = float(argv[5]) if len(argv) > 5 else 30.0
        return do_then_event(argv[2], argv[3], argv[4], timeout,
                             argv[6] if len(argv) > 6 else "")
    if len(argv) < 4 or argv[1] not in ("cmd", "line", "qmp", "qmp-wait-event"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    timeout = float(argv[4]) if len(argv) > 4 else 30.0
    op, path, arg = argv[1], argv[2], argv[3]
    if op == "cmd":
        return do_cmd(path, arg, timeout)
    if op == "line":
        return do_line(path, arg, timeout)
    if op == "qmp":
        return do_qmp(path, arg, timeout)
    return do_wait_event(path, arg, timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
