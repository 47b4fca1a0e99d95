"""FAKE dstack guest agent, for machines without a dstack CVM (tests, demos). NOT SECURE.

Serves the part of the guest agent's published RPC API that DeLong uses, over a Unix socket, with the
same request and response shapes (dstack sdk/curl/api.md):

  POST /GetKey   {"path", "purpose"[, "algorithm"]}  -> {"key": hex (32 bytes), "signature_chain": [hex, ...]}
  POST /GetQuote {"report_data": hex}                 -> 400 {"error": ...}: this fake has no TDX to quote with
  GET  /Info                                          -> {"app_id", "instance_id", "app_name", ...}

Keys are HMAC-SHA256(seed, path || 0x00 || purpose): deterministic per seed like the real KMS derivation is
per app identity, and derived from a seed anyone with this file can read. The signature chain is empty
hex strings (the fake has no KMS to sign with). Errors follow the agent: HTTP 400/404 with {"error"}.

Usage: python3 fake_guest_agent.py SOCKET_PATH [--seed HEX]   (prints "READY SOCKET_PATH" when listening)
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
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.reply(400, {"error": "request body is not JSON"})
        endpoint = self.path.split("?")[0]
        if endpoint == "/GetKey":
            path, purpose = request.get("path"), request.get("purpose", "")
            if not isinstance(path, str) or not path:
                return self.reply(400, {"error": "missing path"})
            if request.get("algorithm", "secp256k1") != "secp256k1":
                return self.reply(400, {"error": "this fake derives secp256k1 keys only"})
            key = hmac.new(self.server.seed, path.encode() + b"\x00" + str(purpose).encode(), hashlib.sha256)
            return self.reply(200, {"key": key.hexdigest(), "signature_chain": ["", ""]})
        if endpoint == "/GetQuote":
            return self.reply(400, {"error": "fake guest agent: no TDX quote available"})
        self.reply(404, {"error": f"no such endpoint {endpoint}"})


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("socket")
    parser.add_argument("--seed", default="00" * 32, help="hex seed of the key derivation")
    args = parser.parse_args()
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = Server(args.socket, Handler)
    server.seed = bytes.fromhex(args.seed)
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
