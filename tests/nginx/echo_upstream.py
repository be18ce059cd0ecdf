#!/usr/bin/env python3
"""echo_upstream.py - a stand-in FHIR server that logs what reaches it.

  echo_upstream.py --port-file FILE --log FILE

Listens on 127.0.0.1 (a free port, written to --port-file once listening)
and answers every request with a small FHIR Bundle. Each request it receives
is one JSON line in --log: {"method", "path", "body_bytes", "body"} (the
body's first 200 bytes, as text). Request bodies are read whole, framed by
Content-Length or chunked, so that a body nginx forwards is never missed.
Standard library only.
"""
import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self):
        body = self.read_body()
        with LOCK, open(self.server.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "body_bytes": len(body),
                                "body": body[:200].decode("utf-8", "replace")}) + "\n")
        reply = b'{"resourceType":"Bundle","type":"searchset","total":0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = answer

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.log = a.log
    open(a.log, "a").close()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
