"""FAKE Intel PCS / PCCS (v4 API) for DeLong's tests: serves one dcap-qvl collateral JSON file the way Intel's
Provisioning Certification Service does. Not a product tool and not a cache: it exists so tests can show how
`delong privacy serve --collateral-url` fetches, caches and reloads collateral.

    python fake_pcs.py COLLATERAL_JSON CA REQUEST_LOG     prints `READY http://127.0.0.1:PORT`

The file is re-read on every request, so a test can rewrite or remove it. Answers:
  GET /sgx/certification/v4/pckcrl?ca=CA&encoding=der  the PCK CRL (DER), header SGX-PCK-CRL-Issuer-Chain
  GET /tdx/certification/v4/tcb?fmspc=FMSPC            {"tcbInfo": <exact signed bytes>, "signature": hex},
                                                       header TCB-Info-Issuer-Chain
  GET /tdx/certification/v4/qe/identity                {"enclaveIdentity": <exact bytes>, "signature": hex},
                                                       header SGX-Enclave-Identity-Issuer-Chain
  GET /sgx/certification/v4/rootcacrl                  the root CA CRL as hex text (as a PCCS answers)
Issuer chains are URL-encoded PEM. Another ca or encoding, or an FMSPC the file is not for: 404; a missing or
unreadable file: 503. Every request line (path and query) is appended to REQUEST_LOG.
"""
import json
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLLATERAL, CA, LOG = sys.argv[1], sys.argv[2], sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with open(LOG, "a") as log:
            log.write(self.path + "\n")
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            with open(COLLATERAL) as f:
                c = json.load(f)
            fmspc = json.loads(c["tcb_info"])["fmspc"]
        except Exception:
            return self.answer(503, b"fake PCS: no collateral")

        def chain(key):
            return urllib.parse.quote(c[key], safe="")

        if url.path == "/sgx/certification/v4/pckcrl":
            if query.get("ca") != CA or query.get("encoding") != "der":
                return self.answer(404, b"fake PCS: wrong ca or encoding")
            return self.answer(200, bytes.fromhex(c["pck_crl"]),
                               [("SGX-PCK-CRL-Issuer-Chain", chain("pck_crl_issuer_chain"))])
        if url.path == "/tdx/certification/v4/tcb":
            if query.get("fmspc", "").upper() != fmspc.upper():
                return self.answer(404, b"fake PCS: no TCB Info for that FMSPC")
            body = '{"tcbInfo":' + c["tcb_info"] + ',"signature":"' + c["tcb_info_signature"] + '"}'
            return self.answer(200, body.encode(), [("TCB-Info-Issuer-Chain", chain("tcb_info_issuer_chain"))])
        if url.path == "/tdx/certification/v4/qe/identity":
            body = '{"enclaveIdentity":' + c["qe_identity"] + ',"signature":"' + c["qe_identity_signature"] + '"}'
            return self.answer(200, body.encode(),
                               [("SGX-Enclave-Identity-Issuer-Chain", chain("qe_identity_issuer_chain"))])
        if url.path == "/sgx/certification/v4/rootcacrl":
            return self.answer(200, c["root_ca_crl"].encode())
        return self.answer(404, b"fake PCS: no such path")

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever(poll_interval=0.2)
