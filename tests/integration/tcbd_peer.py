#!/usr/bin/env python3
# tcbd_peer.py - a scriptable (and deliberately misbehaving) region peer
# for tests/integration/region.sh: speaks the wire format of
# docs/protocol.md over mutual TLS 1.3 to vouch-tcbd, so a test can send
# exactly the frames it wants: genuine ones, replays of recorded ones,
# forged, malformed, truncated and oversize ones.
#
#   tcbd_peer.py CONN epoch
#       HELLO, then wait for EPOCH; print {"epoch": N, "random": HEX,
#       "neighbours": [...]}
#   tcbd_peer.py CONN verdict --subject S --result pass|fail|error
#       [--evidence FILE] [--epoch N] [--seq N] [--save FRAME] [--twice]
#       HELLO, VERDICT; print the answer; --save keeps the VERDICT frame;
#       --twice sends it again at once on a new connection (a re-send)
#   tcbd_peer.py CONN send FRAME...
#       HELLO, then the frames' bytes as they are (replays); print answers
#   tcbd_peer.py CONN raw KIND
#       HELLO, then a hostile frame: bad-magic, bad-version, oversize,
#       truncated, trailing-garbage, unknown-tag, no-hello (raw bytes
#       instead of HELLO)
#   tcbd_peer.py nonce RANDOM_HEX EPOCH VERIFIER SUBJECT
#       the challenge nonce of conversation 3
#
# CONN = --addr A --port P --cert F --key F --ca F --me NAME [--server NAME]
# Answers print as one line: "ACK <seq>", "ERROR <code> <message>",
# "EPOCH ...", "CLOSED" (the server closed without a frame), "TIMEOUT".
import argparse
import hashlib
import json
import socket
import ssl
import struct
import sys

T_HELLO, T_EPOCH, T_VERDICT, T_ACK, T_ERROR = 1, 2, 5, 11, 12
F_HOST, F_ROLE, F_VMIN, F_VMAX = 1, 2, 3, 4
F_EPOCH, F_RANDOM, F_NEIGHBOUR = 5, 6, 7
F_EVIDENCE, F_SUBJECT, F_VERIFIER, F_TIME, F_RESULT = 11, 12, 13, 14, 15
F_SEQ, F_CODE, F_MESSAGE = 17, 26, 27


def field(tag, value):
    return struct.pack(">HI", tag, len(value)) + value


def frame(mtype, fields, version=1, reserved=0, body_len=None):
    body = b"".join(fields)
    n = len(body) if body_len is None else body_len
    return b"VCHW" + struct.pack(">HHII", version, mtype, reserved, n) + body


def hello(me, role=1):
    """HELLO as a vouchd (role 1) or as the tcbd (role 2)."""
    return frame(T_HELLO, [field(F_HOST, me.encode()), field(F_ROLE, bytes([role])),
                           field(F_VMIN, struct.pack(">I", 1)),
                           field(F_VMAX, struct.pack(">I", 1))])


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(s):
    """(type, {tag: [values]}) or None if the peer closed."""
    try:
        hdr = recv_exact(s, 16)
        if hdr is None:
            return None
        _, mtype, _, n = struct.unpack(">HHII", hdr[4:16])
        body = recv_exact(s, n)
    except (ssl.SSLError, OSError):
        return None
    if body is None:
        return None
    fields, off = {}, 0
    while off < len(body):
        tag, ln = struct.unpack(">HI", body[off:off + 6])
        fields.setdefault(tag, []).append(body[off + 6:off + 6 + ln])
        off += 6 + ln
    return mtype, fields


def describe(f):
    if f is None:
        return "CLOSED"
    mtype, fl = f
    if mtype == T_ACK:
        return "ACK %d" % struct.unpack(">Q", fl[F_SEQ][0])[0]
    if mtype == T_ERROR:
        return "ERROR %d %s" % (struct.unpack(">I", fl[F_CODE][0])[0],
                                fl[F_MESSAGE][0].decode(errors="replace"))
    if mtype == T_EPOCH:
        return "EPOCH %d" % struct.unpack(">Q", fl[F_EPOCH][0])[0]
    return "TYPE %d" % mtype


def connect(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    raw = socket.create_connection((a.addr, a.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=a.server)
    s.settimeout(10)
    return s


def open_session(a):
    s = connect(a)
    s.sendall(hello(a.me))
    f = recv_frame(s)
    if f is None or f[0] != T_HELLO:
        print("no HELLO: " + describe(f))
        sys.exit(1)
    return s


def nonce(random_hex, epoch, verifier, subject):
    h = hashlib.sha256()
    h.update(b"vouch-challenge-v1" + bytes.fromhex(random_hex) +
             struct.pack(">Q", epoch) + verifier.encode() + b"\0" +
             subject.encode())
    return h.hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--port", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--me")
    p.add_argument("--server", default="tcbd")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("epoch")
    v = sub.add_parser("verdict")
    v.add_argument("--subject", required=True)
    v.add_argument("--result", choices=["pass", "fail", "error"], required=True)
    v.add_argument("--evidence")
    v.add_argument("--epoch", type=int)
    v.add_argument("--seq", type=int, default=1)
    v.add_argument("--save")
    v.add_argument("--twice", action="store_true",
                   help="send the same frame again on a new connection")
    sd = sub.add_parser("send")
    sd.add_argument("frames", nargs="+")
    r = sub.add_parser("raw")
    r.add_argument("kind")
    n = sub.add_parser("nonce")
    n.add_argument("random")
    n.add_argument("epoch", type=int)
    n.add_argument("verifier")
    n.add_argument("subject")
    a = p.parse_args()

    if a.cmd == "nonce":
        print(nonce(a.random, a.epoch, a.verifier, a.subject))
        return 0
    if a.cmd == "epoch":
        s = open_session(a)
        f = recv_frame(s)
        if f is None or f[0] != T_EPOCH:
            print(describe(f))
            return 1
        fl = f[1]
        print(json.dumps({
            "epoch": struct.unpack(">Q", fl[F_EPOCH][0])[0],
            "random": fl[F_RANDOM][0].hex(),
            "neighbours": [x.decode() for x in fl.get(F_NEIGHBOUR, [])]}))
        return 0
    if a.cmd == "verdict":
        res = {"pass": 1, "fail": 2, "error": 3}[a.result]
        fields = [field(F_SUBJECT, a.subject.encode()),
                  field(F_VERIFIER, a.me.encode()),
                  field(F_TIME, struct.pack(">Q", 0)),
                  field(F_RESULT, bytes([res])),
                  field(F_SEQ, struct.pack(">Q", a.seq))]
        if a.evidence:
            with open(a.evidence, "rb") as fh:
                fields.append(field(F_EVIDENCE, fh.read()))
        if a.epoch is not None:
            fields.append(field(F_EPOCH, struct.pack(">Q", a.epoch)))
        fr = frame(T_VERDICT, fields)
        if a.save:
            with open(a.save, "wb") as fh:
                fh.write(fr)
        for _ in range(2 if a.twice else 1):
            s = open_session(a)
            s.sendall(fr)
            print(describe(recv_frame(s)))
            s.close()
        return 0
    if a.cmd == "send":
        s = open_session(a)
        for path in a.frames:
            with open(path, "rb") as fh:
                s.sendall(fh.read())
            print(describe(recv_frame(s)))
        return 0
    if a.cmd == "raw":
        good = frame(T_VERDICT, [field(F_SUBJECT, b"h1")])
        kinds = {
            "bad-magic": b"XXXX" + good[4:],
            "bad-version": frame(T_VERDICT, [], version=9),
            # 1 GiB VERDICT: refused from the header, nothing allocated
            "oversize": frame(T_VERDICT, [], body_len=1 << 30),
            "truncated": frame(T_VERDICT, [field(F_SUBJECT, b"h1")],
                               body_len=100),
            "trailing-garbage": frame(T_VERDICT, [field(F_SUBJECT, b"h1")],
                                      body_len=8) + b"garbage!",
            "unknown-tag": frame(T_VERDICT, [field(999, b"x")]),
            "zero-type": frame(0, []),
        }
        if a.kind == "no-hello":
            s = connect(a)
            s.sendall(b"\x00" * 64)
            print(describe(recv_frame(s)))
            return 0
        s = open_session(a)
        s.sendall(kinds[a.kind])
        if a.kind == "truncated":
            # stop sending: the server's frame deadline must end this
            s.settimeout(15)
        try:
            print(describe(recv_frame(s)))
        except socket.timeout:
            print("TIMEOUT")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
