#!/usr/bin/env python3
"""fhir_stub.py - the FHIR server behind nginx in the module's tests: a small
in-memory store that answers reads, searches by subject/patient, creates,
updates, patches, deletes and transaction bundles the way a FHIR server's
REST API does, serves the stored bytes exactly as written (a decimal 1.50
stays 1.50), and logs every request it receives (method, path, body) as one
JSON line, so that a test can assert what never reached it.

  fhir_stub.py DATA_DIR LOG_FILE READY_FILE
"""
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA, LOG, READY = sys.argv[1], sys.argv[2], sys.argv[3]
store = {}  # "Type/id" -> bytes
lock = threading.Lock()
for name in sorted(os.listdir(DATA)):
    if name.endswith(".json"):
        raw = open(os.path.join(DATA, name), "rb").read()
        doc = json.loads(raw)
        store[f"{doc['resourceType']}/{doc['id']}"] = raw.strip()


def references(doc):
    out = []
    for key in ("subject", "patient"):
        ref = doc.get(key)
        if isinstance(ref, dict) and "reference" in ref:
            out.append(ref["reference"])
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def search(self, rtype, params):
        want = [v for k, vs in params.items() if k in ("subject", "patient") for v in vs]
        with lock:
            hits = [raw for key, raw in store.items() if key.startswith(rtype + "/")
                    and (not want or any(r in want for r in references(json.loads(raw))))]
        entries = b",".join(b'{"resource":' + raw + b'}' for raw in hits)
        return (b'{"resourceType":"Bundle","type":"searchset","total":%d,"entry":[%s]}'
                % (len(hits), entries))

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        with lock, open(LOG, "a") as log:
            log.write(json.dumps({"method": self.command, "path": self.path,
                                  "body": body.decode("utf-8", "replace")}) + "\n")
        # Everything after the first ".../r4" is the FHIR path.
        path = url.path.split("/r4", 1)[1].strip("/") if "/r4" in url.path else ""
        parts = path.split("/") if path else []
        params = urllib.parse.parse_qs(url.query)
        m = self.command
        if parts == ["metadata"]:
            return self.answer(200, b'{"resourceType":"CapabilityStatement","status":"active"}')
        if m == "POST" and not parts:
            doc = json.loads(body)
            out = b",".join(b'{"response":{"status":"200 OK"}}' for _ in doc.get("entry", []))
            return self.answer(200, b'{"resourceType":"Bundle","type":"transaction-response",'
                               b'"entry":[' + out + b']}')
        if len(parts) == 2 and parts[1] == "_search" and m == "POST":
            return self.answer(200, self.search(parts[0], urllib.parse.parse_qs(body.decode())))
        if len(parts) == 1 and m in ("GET", "HEAD"):
            return self.answer(200, self.search(parts[0], params))
        if len(parts) == 1 and m == "POST":
            doc = json.loads(body)
            with lock:
                doc["id"] = "new%d" % len(store)
                raw = json.dumps(doc, separators=(",", ":")).encode()
                store[f"{parts[0]}/{doc['id']}"] = raw
            return self.answer(201, raw, {"Location": f"{parts[0]}/{doc['id']}"})
        if len(parts) == 2:
            key = "/".join(parts)
            with lock:
                if m in ("GET", "HEAD"):
                    raw = store.get(key)
                    if raw is None:
                        return self.answer(404, b'{"resourceType":"OperationOutcome"}')
                    return self.answer(200, raw, {"ETag": 'W/"1"'})
                if m == "PUT":
                    store[key] = body
                    return self.answer(200, body)
                if m == "PATCH":
                    return self.answer(200, store.get(key, b"{}"))
                if m == "DELETE":
                    store.pop(key, None)
                    return self.answer(204)
        return self.answer(400, b'{"resourceType":"OperationOutcome"}')

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(READY + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(READY + ".tmp", READY)
server.serve_forever()
