"""FAKE dstack guest agent, for machines without a dstack CVM (tests, demos). NOT SECURE.

Serves the part of the guest agent's published RPC API that DeLong uses, over a Unix socket, with the
same request and response shapes (dstack sdk/curl/api.md):

  POST /GetKey   {"path", "purpose"[, "algorithm"]}  -> {"key": hex (32 bytes), "signature_chain": [hex, ...]}
  POST /GetQuote {"report_data": hex, at most 64 bytes} -> {"quote": hex, "event_log": "<JSON array as text>",
                                                          "report_data": hex (64 bytes), "vm_config": "<JSON text>"}
  GET  /Info                                          -> {"app_id", "instance_id", "app_name", ...}

Keys are HMAC-SHA256(seed, path || 0x00 || purpose): deterministic per seed like the real KMS derivation is
per app identity, and derived from a seed anyone with this file can read. The signature chain is empty
hex strings (the fake has no KMS to sign with). Errors follow the agent: HTTP 400/404 with {"error"}.

GetQuote needs --quote-fixture: a GetQuote answer recorded from a real CVM (dstack's verifier fixture
quote-report.json has exactly these fields). Like dstack's own simulator (guest-agent-simulator,
patch_report_data), the fake overwrites the quote's REPORTDATA with the request's report_data zero-padded to
64 bytes, so the quote's signature NO LONGER VERIFIES: the answer has the real shape and binding, not a real
attestation. Without --quote-fixture GetQuote answers 400 {"error"}.

Usage: python3 fake_guest_agent.py SOCKET_PATH [--seed HEX] [--quote-fixture FILE] [--log FILE]
(prints "READY SOCKET_PATH" when listening; --log appends one JSON line per request: method, path, the body's exact text, Content-Type)
"""
import argparse
import hashlib
import hmac
import json
import os
import signal
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

MAX_BODY = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-dstack-guest-agent"

    def address_string(self):  # Unix sockets have no peer address
        return "unix"

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.split("?")[0] == "/Info":
            return self.reply(200, {"app_id": "fa" * 20, "instance_id": "fb" * 20, "app_name": "delong-fake",
                                    "compose_hash": "00" * 32, "tcb_info": "{}", "vm_config": "{}"})
        self.reply(404, {"error": f"no such endpoint {self.path}"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.reply(400, {"error": "request too large"})
        raw = self.rfile.read(length)
        endpoint = self.path.split("?")[0]
        if self.server.log:
            with open(self.server.log, "a") as log:
                log.write(json.dumps({"method": "POST", "path": endpoint, "body": raw.decode("utf-8", "replace"),
                                      "contentType": self.headers.get("Content-Type")}) + "\n")
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            return self.reply(400, {"error": "request body is not JSON"})
        if endpoint == "/GetKey":
            path, purpose = request.get("path"), request.get("purpose", "")
            if not isinstance(path, str) or not path:
                return self.reply(400, {"error": "missing path"})
            if request.get("algorithm", "secp256k1") != "secp256k1":
                return self.reply(400, {"error": "this fake derives secp256k1 keys only"})
            key = hmac.new(self.server.seed, path.encode() + b"\x00" + str(purpose).encode(), hashlib.sha256)
            return self.reply(200, {"key": key.hexdigest(), "signature_chain": ["", ""]})
        if endpoint == "/GetQuote":
            return self.get_quote(request)
        self.reply(404, {"error": f"no such endpoint {endpoint}"})


    def get_quote(self, request):
        if self.server.quote_fixture is None:
            return self.reply(400, {"error": "fake guest agent: no TDX quote available (no --quote-fixture)"})
        text = request.get("report_data", "")
        if not isinstance(text, str):
            return self.reply(400, {"error": "report_data: expected a hex string"})
        try:
            report_data = bytes.fromhex(text[2:] if text.startswith("0x") else text)
        except ValueError:
            return self.reply(400, {"error": "report_data: invalid hex"})
        if len(report_data) > 64:
            return self.reply(400, {"error": "report_data: at most 64 bytes"})
        report_data = report_data.ljust(64, b"\x00")
        answer = dict(self.server.quote_fixture)
        quote = bytearray.fromhex(answer["quote"].removeprefix("0x"))
        # TDX quote v4: 48-byte header, then the TD report, REPORTDATA at its offset 520. v5 puts the body
        # type (2 bytes) and size (4 bytes) between header and body.
        version = int.from_bytes(quote[0:2], "little")
        offset = 48 + 520 if version == 4 else 48 + 6 + 520
        quote[offset:offset + 64] = report_data
        answer["quote"] = quote.hex()
        answer["report_data"] = report_data.hex()
        return self.reply(200, answer)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("socket")
    parser.add_argument("--seed", default="00" * 32, help="hex seed of the key derivation")
    parser.add_argument("--quote-fixture", help="a recorded GetQuote answer (JSON) to serve, REPORTDATA patched")
    parser.add_argument("--log", help="append each request as a JSON line to this file")
    args = parser.parse_args()
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = Server(args.socket, Handler)
    server.seed = bytes.fromhex(args.seed)
    server.log = args.log
    server.quote_fixture = None
    if args.quote_fixture:
        with open(args.quote_fixture) as f:
            fixture = json.load(f)
        server.quote_fixture = {name: fixture[name] for name in ("quote", "event_log", "report_data", "vm_config")}
    # Swift's Foundation.Process spawns children with the parent's blocked signals; tests stop us with SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    print(f"READY {args.socket}", flush=True)
    try:
        server.serve_forever()
    finally:
        os.unlink(args.socket)


if __name__ == "__main__":
    sys.exit(main())
