#!/usr/bin/env python3
"""flood.py - the attack of issue 26, for tests and benchmarks.

Opens CONNECTIONS connections from SOURCE (a loopback address such as
127.0.0.2) to TARGET, each sending the headers of a request that announces a
huge body (--announce bytes) and then --send bytes of it, and holds them
open until --hold seconds have passed or the file --stop-file exists. Then it
closes every connection and prints one line of JSON:

  {"opened": N, "refused": N, "closed_by_server": N, "sent": BYTES,
   "answers": {"413": N, ...}, "still_open": N, "late": N}

"refused" counts connections the server closed or reset before any answer
(a refusal at accept reads as a reset or an immediate EOF), "answers" the
HTTP statuses read back, "still_open" those the server still held at the
end. --reconnect opens a new connection for each one the server drops, for
as long as the flood holds. --late N then opens N more connections that send
what the socket takes and hang up at once, while they may still wait in the
server's accept queue: they arrive there as data followed by a FIN.
Standard library only; never leaves loopback.
"""
import argparse
import errno
import json
import os
import select
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="HOST:PORT")
    ap.add_argument("--source", default="127.0.0.2")
    ap.add_argument("--connections", type=int, default=300)
    ap.add_argument("--path", default="/ext_authz/fhir/r4/Patient")
    ap.add_argument("--method", default="POST")
    ap.add_argument("--announce", type=int, default=10**12,
                    help="the Content-Length announced")
    ap.add_argument("--chunked", action="store_true",
                    help="Transfer-Encoding: chunked instead of a Content-Length")
    ap.add_argument("--send", type=int, default=1 << 20,
                    help="body bytes sent on each connection")
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--stop-file")
    ap.add_argument("--ready-file", help="touched once every connection has sent")
    ap.add_argument("--reconnect", action="store_true",
                    help="replace every connection the server drops")
    ap.add_argument("--late", type=int, default=0,
                    help="connections that send and hang up at once, after the others")
    a = ap.parse_args()

    host, port = a.target.rsplit(":", 1)
    port = int(port)
    if a.chunked:
        framing = "Transfer-Encoding: chunked\r\n"
    else:
        framing = "Content-Length: %d\r\n" % a.announce
    head = ("%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/fhir+json\r\n"
            "Authorization: Bearer x\r\n\r\n" % (a.method, a.path, host, framing)).encode()
    chunk = b"x" * 65536
    if a.chunked:
        chunk = b"%x\r\n" % len(chunk) + chunk + b"\r\n"

    sel = selectors.DefaultSelector()
    conns = {}
    stats = {"opened": 0, "refused": 0, "closed_by_server": 0, "sent": 0, "answers": {},
             "late": 0}

    def drop(s, refused):
        st = conns.pop(s, None)
        if st is None:
            return
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        if refused and not st["answer"]:
            stats["refused"] += 1
        else:
            stats["closed_by_server"] += 1
        if a.reconnect and time.monotonic() < deadline:
            connect()

    def open_socket():
        """A connection from --source under way, or None when refused."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((a.source, 0))
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            return None
        return s

    def connect():
        s = open_socket()
        if s is None:
            stats["refused"] += 1
            return
        stats["opened"] += 1
        conns[s] = {"out": head, "left": a.send, "answer": b""}
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def hang_up_late():
        for _ in range(a.late):
            s = open_socket()
            if s is None:
                continue
            select.select([], [s], [], 2.0)
            try:
                s.send(head + chunk[: min(len(chunk), a.send)])
            except OSError:
                pass
            s.close()
            stats["late"] += 1

    deadline = time.monotonic() + a.hold
    for _ in range(a.connections):
        connect()
    ready = False
    while time.monotonic() < deadline:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        if not ready and all(st["left"] == 0 and not st["out"] for st in conns.values()):
            ready = True
            hang_up_late()
            if a.ready_file:
                open(a.ready_file, "w").close()
        for key, ev in sel.select(timeout=0.05):
            s = key.fileobj
            st = conns.get(s)
            if st is None:
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except OSError:
                    drop(s, True)
                    continue
                if not data:
                    drop(s, True)
                    continue
                if not st["answer"] and data.startswith(b"HTTP/1."):
                    code = data.split(b" ", 2)[1].decode()
                    stats["answers"][code] = stats["answers"].get(code, 0) + 1
                st["answer"] += data[:64]
            if ev & selectors.EVENT_WRITE and s in conns:
                if not st["out"] and st["left"] > 0:
                    st["out"] = chunk[: min(len(chunk), st["left"])] if not a.chunked else chunk
                    st["left"] -= min(len(chunk), st["left"])
                if st["out"]:
                    try:
                        n = s.send(st["out"])
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        drop(s, e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNREFUSED))
                        continue
                    stats["sent"] += n
                    st["out"] = st["out"][n:]
                if not st["out"] and st["left"] == 0:
                    sel.modify(s, selectors.EVENT_READ)
    if not ready:
        hang_up_late()
        if a.ready_file:
            open(a.ready_file, "w").close()
    stats["still_open"] = len(conns)
    for s in list(conns):
        sel.unregister(s)
        s.close()
    print(json.dumps(stats, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
