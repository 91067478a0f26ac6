#!/usr/bin/env python3
# evac_tcbd.py - vouch-tcbd's side of conversation 9 (evacuation) in a few
# lines, for tests/integration/evacuate.sh: exercises vouchd's migration
# executor without the real RC-TCB's decision logic.
#
#   evac_tcbd.py CONN serve --listen PORT --reports FILE [--fail SUBJECT]...
#       [--refuse-reports N]
#       A TLS server with the tcbd certificate: answers HELLO, then
#       ATTEST_REQUEST{SUBJECT} -> VERDICT PASS (FAIL for --fail
#       subjects) and MIG_REPORT{SEQ, JSON} -> ACK{SEQ}, appending
#       {"seq": N, "report": {...}} to FILE (one line each, duplicates
#       too: the test checks that it sees none).  Anything else -> ERROR.
#   evac_tcbd.py CONN order --port PORT --server HOST --seq N --json TEXT
#       HELLO to a vouchd, MIG_ORDER{SEQ, JSON}; prints "ACK N" or
#       "ERROR code message".
#
# CONN = --cert F --key F --ca F --me NAME (as in tcbd_peer.py)
import argparse
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcbd_peer import field, frame, hello, recv_frame  # noqa: E402  (one framing)

T_HELLO, T_VERDICT, T_ACK, T_ERROR = 1, 5, 11, 12
T_MIG_ORDER, T_MIG_REPORT, T_ATTEST_REQUEST = 19, 20, 21
F_HOST, F_ROLE, F_VMIN, F_VMAX = 1, 2, 3, 4
F_SUBJECT, F_VERIFIER, F_TIME, F_RESULT, F_REASON, F_SEQ = 12, 13, 14, 15, 16, 17
F_JSON, F_CODE, F_MESSAGE = 25, 26, 27


def error(code, msg):
    return frame(T_ERROR, [field(F_CODE, struct.pack(">I", code)),
                           field(F_MESSAGE, msg.encode())])


lock = threading.Lock()


def session(conn, a, state):
    try:
        f = recv_frame(conn)
        if f is None or f[0] != T_HELLO:
            return
        conn.sendall(hello(a.me, 2))
        while True:
            f = recv_frame(conn)
            if f is None:
                return
            mtype, fl = f
            if mtype == T_ATTEST_REQUEST:
                subj = fl[F_SUBJECT][0].decode()
                res = 2 if subj in a.fail else 1
                fields = [field(F_SUBJECT, subj.encode()),
                          field(F_VERIFIER, a.me.encode()),
                          field(F_TIME, struct.pack(">Q", int(time.time()))),
                          field(F_RESULT, bytes([res]))]
                if res != 1:
                    fields.append(field(F_REASON, b"lab: refused by evac_tcbd.py"))
                with lock:
                    with open(a.reports + ".attest", "a") as fh:
                        fh.write("%s %s\n" % (subj, "PASS" if res == 1 else "FAIL"))
                conn.sendall(frame(T_VERDICT, fields))
            elif mtype == T_MIG_REPORT:
                seq = struct.unpack(">Q", fl[F_SEQ][0])[0]
                with lock:
                    if state["refuse"] > 0:
                        # a tcbd that drops the connection without an answer
                        state["refuse"] -= 1
                        return
                    rep = json.loads(fl[F_JSON][0])
                    with open(a.reports, "a") as fh:
                        fh.write(json.dumps({"seq": seq, "report": rep}) + "\n")
                conn.sendall(frame(T_ACK, [field(F_SEQ, struct.pack(">Q", seq))]))
            else:
                conn.sendall(error(12, "evac_tcbd.py: type %d not served" % mtype))
                return
    except (ssl.SSLError, OSError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def serve(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.listen))
    ls.listen(16)
    state = {"refuse": a.refuse_reports}
    while True:
        raw, _ = ls.accept()
        raw.settimeout(30)
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            continue
        threading.Thread(target=session, args=(conn, a, state), daemon=True).start()


def order(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    s = ctx.wrap_socket(raw, server_hostname=a.server)
    s.settimeout(20)
    s.sendall(hello(a.me, 2))
    f = recv_frame(s)
    if f is None or f[0] != T_HELLO:
        print("no HELLO")
        return 1
    s.sendall(frame(T_MIG_ORDER, [field(F_SEQ, struct.pack(">Q", a.seq)),
                                  field(F_JSON, a.json.encode())]))
    f = recv_frame(s)
    if f is None:
        print("CLOSED")
        return 1
    if f[0] == T_ACK:
        print("ACK %d" % struct.unpack(">Q", f[1][F_SEQ][0])[0])
        return 0
    if f[0] == T_ERROR:
        print("ERROR %d %s" % (struct.unpack(">I", f[1][F_CODE][0])[0],
                               f[1][F_MESSAGE][0].decode(errors="replace")))
        return 2
    print("TYPE %d" % f[0])
    return 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--me", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", type=int, required=True)
    s.add_argument("--reports", required=True)
    s.add_argument("--fail", action="append", default=[])
    s.add_argument("--refuse-reports", type=int, default=0)
    o = sub.add_parser("order")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--server", required=True)
    o.add_argument("--seq", type=int, required=True)
    o.add_argument("--json", required=True)
    a = p.parse_args()
    if a.cmd == "serve":
        serve(a)
        return 0
    return order(a)


if __name__ == "__main__":
    sys.exit(main())
