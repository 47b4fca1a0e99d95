"""A hostile JSON-RPC proxy for DeLong's light-client tests: forwards to an upstream endpoint and tampers
with one kind of answer. Not a product tool: it exists so tests can show that every tampering is detected.

    python hostile_proxy.py UPSTREAM MODE [BLOCK]     prints `READY http://127.0.0.1:PORT`

MODE (BLOCK is the block number the tampering targets, default: every block):
  header-field     change gasUsed in eth_getBlockByNumber, keep the claimed hash
  header-rehash    change gasUsed and recompute the hash, so the header is self-consistent
  receipt-log      change a byte of the first log's data in eth_getBlockReceipts
  drop-receipt     remove the last receipt from eth_getBlockReceipts
  proof-node       change a byte of the last accountProof node in eth_getProof
  clique-forge     re-seal the header with a key that is not a Clique signer, and recompute the hash
  rpc-error        answer every eth_getBlockByNumber / eth_getBlockReceipts with a JSON-RPC error object
  malformed        answer every request with a body that is not JSON
  honest           change nothing
"""

import json
import signal
import socket
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import rlp
from eth_hash.auto import keccak

UPSTREAM, MODE = sys.argv[1], sys.argv[2]
TARGET = int(sys.argv[3], 0) if len(sys.argv) > 3 else None

HEADER_FIELDS = ["parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
                 "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce",
                 "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot",
                 "requestsHash"]
QUANTITIES = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "blobGasUsed", "excessBlobGas"}


def header_hash(block):
    fields = []
    for name in HEADER_FIELDS:
        if name not in block:
            break
        value = block[name]
        if name in QUANTITIES:
            n = int(value, 16)
            fields.append(n.to_bytes((n.bit_length() + 7) // 8, "big"))
        else:
            fields.append(bytes.fromhex(value[2:]))
    return "0x" + keccak(rlp.encode(fields)).hex()


def targeted(number_hex):
    return TARGET is None or int(number_hex, 16) == TARGET


def tamper(method, params, result):
    if result is None:
        return result
    if method == "eth_getBlockByNumber" and MODE == "clique-forge" and targeted(result["number"]):
        from eth_keys import keys
        extra = bytes.fromhex(result["extraData"][2:])
        result["extraData"] = "0x" + extra[:-65].hex()
        seal_hash = bytes.fromhex(header_hash(result)[2:])
        sig = keys.PrivateKey(keccak(b"not a clique signer")).sign_msg_hash(seal_hash)
        result["extraData"] = "0x" + (extra[:-65] + sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v])).hex()
        result["hash"] = header_hash(result)
    elif method == "eth_getBlockByNumber" and MODE in ("header-field", "header-rehash") and targeted(result["number"]):
        result["gasUsed"] = hex(int(result["gasUsed"], 16) + 1)
        if MODE == "header-rehash":
            result["hash"] = header_hash(result)
    elif method == "eth_getBlockReceipts" and result and targeted(result[0]["blockNumber"]):
        if MODE == "receipt-log":
            for receipt in result:
                if receipt["logs"]:
                    data = bytearray.fromhex(receipt["logs"][0]["data"][2:] or "00")
                    data[-1] ^= 1
                    receipt["logs"][0]["data"] = "0x" + data.hex()
                    break
        elif MODE == "drop-receipt":
            result.pop()
    elif method == "eth_getProof" and MODE == "proof-node":
        node = bytearray.fromhex(result["accountProof"][-1][2:])
        node[len(node) // 2] ^= 1
        result["accountProof"][-1] = "0x" + node.hex()
    return result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if MODE == "malformed":
            return self.reply(b"<html>not json")
        calls = json.loads(body)
        if MODE == "rpc-error" and any(c.get("method") in ("eth_getBlockByNumber", "eth_getBlockReceipts")
                                       for c in (calls if isinstance(calls, list) else [calls])):
            error = lambda c: {"jsonrpc": "2.0", "id": c.get("id"), "error": {"code": -32000, "message": "nope"}}
            answer = [error(c) for c in calls] if isinstance(calls, list) else error(calls)
            return self.reply(json.dumps(answer).encode())
        request = urllib.request.Request(UPSTREAM, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            answer = json.loads(r.read())
        if isinstance(calls, list):
            by_id = {c.get("id"): c for c in calls}
            for a in answer:
                c = by_id.get(a.get("id"), {})
                a["result"] = tamper(c.get("method"), c.get("params"), a.get("result"))
        else:
            answer["result"] = tamper(calls.get("method"), calls.get("params"), answer.get("result"))
        self.reply(json.dumps(answer).encode())

    def reply(self, out):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", 0), Handler)
    # Swift's Foundation.Process spawns children with the parent's blocked signals; unblock SIGTERM.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.2)
