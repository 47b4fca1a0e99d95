"""HTTP transport: JSON-RPC over POST on 127.0.0.1, keep-alive, one thread per connection."""

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .rpc import DevnetRPC

MAX_BODY = 32 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    rpc: DevnetRPC  # set on the subclass made by make_server

    def setup(self):
        super().setup()
        # Without this, Nagle + delayed ACK cost ~40 ms per keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._reply(411, b'{"error":"Content-Length required"}')
        if length < 0 or length > MAX_BODY:
            return self._reply(413, b'{"error":"body too large"}')
        body = self.rfile.read(length)
        out = self.rpc.handle_body(body)
        self._reply(200, out if out is not None else b"")

    def do_GET(self):
        self._reply(405, b'{"error":"use POST with a JSON-RPC body"}')

    def _reply(self, status: int, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # quiet: stdout carries only the READY line, stderr only problems


class DevnetServer(ThreadingHTTPServer):
    daemon_threads = True  # open keep-alive connections must not block shutdown
    allow_reuse_address = True


def make_server(rpc: DevnetRPC, host: str, port: int) -> DevnetServer:
    handler = type("Handler", (_Handler,), {"rpc": rpc})
    return DevnetServer((host, port), handler)
