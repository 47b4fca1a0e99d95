"""Command line: start the devnet and print `READY http://127.0.0.1:PORT` as the first stdout line."""

import argparse
import signal
import sys

from .chain import FORKS, DevChain
from .rpc import DevnetRPC
from .server import make_server


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="contrib/devnet/run", description="DeLong local Ethereum devnet (py-evm).")
    ap.add_argument("--port", type=int, default=8545, help="TCP port on 127.0.0.1; 0 picks a free one (default 8545)")
    ap.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1; keep it local)")
    ap.add_argument("--chain-id", type=int, default=31337, help="chain id (default 31337)")
    ap.add_argument("--fork", choices=list(FORKS), default="prague", help="EVM rules for every block (default prague)")
    ap.add_argument("--clique", action="store_true",
                    help="seal blocks with Clique (single signer: dev account 9); needs --fork london")
    ap.add_argument("--deterministic", action="store_true",
                    help="fixed genesis time and +1 s per block, so the same calls give the same hashes")
    ap.add_argument("--accounts", type=int, default=10, help="number of funded dev accounts (default 10)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.clique and args.fork != "london":
        print(f"devnet: --clique needs --fork london (Clique is pre-Merge); got --fork {args.fork}", file=sys.stderr)
        return 2
    chain = DevChain(args.fork, args.chain_id, args.clique, args.deterministic, args.accounts)
    try:
        server = make_server(DevnetRPC(chain), args.host, args.port)
    except OSError as e:
        print(f"devnet: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 1

    def stop(signum, frame):
        raise SystemExit(0)  # unwinds serve_forever in the main thread; the finally closes the socket

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Swift's Foundation.Process spawns children with the parent's blocked signals; unblock ours.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    host, port = server.server_address[:2]
    print(f"READY http://{host}:{port}", flush=True)
    print(f"devnet: fork={args.fork} chainId={args.chain_id} clique={args.clique} "
          f"deterministic={args.deterministic}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
