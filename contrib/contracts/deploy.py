"""Deploy DataMarket and AlgorithmRegistry from the standard dev accounts; write their addresses.

Without --rpc it starts a devnet itself, deploys, writes --out, prints `READY <rpc>` and keeps the
devnet in the foreground until SIGTERM/SIGINT. With --demo it also creates activity that touches
every event (datasets, rentals with an extension and a revocation, algorithms, a job, a measurement).

Roles (indexes into the test mnemonic "test test ... junk", path m/44'/60'/0'/0/N):
  0 deployer and AlgorithmRegistry governance   1 Privacy Plane signer
  2 Computing Plane operator                    3, 4 demo providers     5, 6 demo consumers
  9 Clique signer (devnet --clique only; it sends no transactions)
"""

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
from devnet_process import DevnetProcess  # noqa: E402

MNEMONIC = "test test test test test test test test test test test junk"
ROLES = {"deployer": 0, "governance": 0, "privacySigner": 1, "computingOperator": 2}
DEMO_PROVIDERS, DEMO_CONSUMERS = (3, 4), (5, 6)


def dev_keys(n: int = 10) -> list:
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(n)]


def load_artifact(name: str) -> dict:
    return json.loads((HERE / "artifacts" / f"{name}.json").read_text())


class Deployer:
    """Signs locally with the dev keys and waits for every receipt; a failed transaction is fatal."""

    def __init__(self, w3: Web3):
        self.w3, self.keys = w3, dev_keys()
        self.chain_id = w3.eth.chain_id

    def send(self, who: int, fn=None, *, value: int = 0, data: bytes = None):
        acct = self.keys[who]
        base = {"from": acct.address, "value": value, "chainId": self.chain_id,
                "nonce": self.w3.eth.get_transaction_count(acct.address, "pending")}
        if fn is not None:
            tx = fn.build_transaction(base)
        else:  # contract creation: no constructor arguments, so plain data
            tip = self.w3.eth.max_priority_fee
            fee = 2 * self.w3.eth.get_block("latest").baseFeePerGas + tip
            tx = {**base, "data": data, "maxPriorityFeePerGas": tip, "maxFeePerGas": fee,
                  "gas": self.w3.eth.estimate_gas({**base, "data": data})}
        raw = acct.sign_transaction(tx).raw_transaction
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(raw), timeout=60)
        if receipt.status != 1:
            raise RuntimeError(f"transaction {receipt.transactionHash.hex()} failed")
        return receipt

    def deploy(self, name: str) -> tuple:
        art = load_artifact(name)
        receipt = self.send(ROLES["deployer"], data=bytes.fromhex(art["bytecode"][2:]))
        contract = self.w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])
        return contract, {"address": receipt.contractAddress, "deployBlock": receipt.blockNumber,
                          "deployTransaction": "0x" + receipt.transactionHash.hex().removeprefix("0x")}


def sha(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def demo(d: Deployer, market, registry) -> dict:
    """Activity for the node's demo to sync; every DataMarket and AlgorithmRegistry event appears."""
    w3 = d.w3
    prov_a, prov_b = DEMO_PROVIDERS
    cons_a, cons_b = DEMO_CONSUMERS
    gwei = 10**9
    ds = {n: keccak(text=f"delong/demo/dataset/{n}") for n in ("admissions", "genomics", "legacy")}
    f = market.functions
    d.send(prov_a, f.registerDataset(ds["admissions"], sha("admissions manifest v1"), 1 * gwei,
                                     "delong-demo://samples/admissions", "delong-demo://meta/admissions.json"))
    d.send(prov_b, f.registerDataset(ds["genomics"], sha("genomics manifest v1"), 3 * gwei,
                                     "delong-demo://samples/genomics", "delong-demo://meta/genomics.json"))
    d.send(prov_b, f.updateDataset(ds["genomics"], sha("genomics manifest v2"), 2 * gwei,
                                   "delong-demo://samples/genomics-v2", "delong-demo://meta/genomics.json"))
    d.send(prov_a, f.registerDataset(ds["legacy"], sha("legacy manifest v1"), gwei,
                                     "delong-demo://samples/legacy", "delong-demo://meta/legacy.json"))
    d.send(prov_a, f.retireDataset(ds["legacy"]))
    # Consumer A rents admissions for an hour (overpaying; the excess comes back) and extends it.
    d.send(cons_a, f.rent(ds["admissions"], 3600), value=3600 * gwei + 12345)
    d.send(cons_a, f.extend(ds["admissions"], 1800), value=1800 * gwei)
    # Consumer B rents admissions for two hours and gets revoked; rents genomics for ten minutes.
    d.send(cons_b, f.rent(ds["admissions"], 7200), value=7200 * gwei)
    d.send(cons_b, f.rent(ds["genomics"], 600), value=600 * 2 * gwei)
    d.send(prov_a, f.revokeRental(ds["admissions"], w3.to_checksum_address(d.keys[cons_b].address)))
    d.send(cons_b, f.withdraw())
    d.send(prov_a, f.settle(ds["admissions"], d.keys[cons_a].address))
    d.send(prov_a, f.withdraw())

    r = registry.functions
    measurements = sha("demo MRTD")[:24] * 2 + sha("demo RTMR0")[:24] * 2 + \
        sha("demo RTMR1")[:24] * 2 + sha("demo RTMR2")[:24] * 2  # 4 x 48 bytes
    # The demo runner is a development sandbox (no TDX): its evidence lives in the development digest domain,
    # sha256("delong/dev-measurements/v1" || MRTD || RTMR0..2), which no real TDX quote can match. The raw
    # bytes logged are that digest's preimage, so the contract's sha256(measurements) check holds.
    dev_measurements = b"delong/dev-measurements/v1" + measurements
    mdigest = hashlib.sha256(dev_measurements).digest()
    d.send(ROLES["governance"], r.trustMeasurement(mdigest, dev_measurements,
                                                   "demo runner v1 (development evidence, not real TDX)"))
    old = sha("demo runner v0 measurements")
    d.send(ROLES["governance"], r.trustMeasurement(old, b"", "demo runner v0"))
    d.send(ROLES["governance"], r.revokeMeasurement(old))
    # A consistent record: image = sha256("delong/image/v1" || runtime || bundle), and the locator names the bundle's
    # DA address and the runtime (docs/bundles.md), so the planes can recompute the image digest.
    runtime, bundle = sha("demo job runtime"), sha("demo algorithm bundle: mean-age")
    image = hashlib.sha256(b"delong/image/v1" + runtime + bundle).digest()
    d.send(cons_a, r.publish(image, bundle, f"da:sha256:{bundle.hex()}?runtime=sha256:{runtime.hex()}"))
    job = keccak(text="delong/demo/job/1")
    d.send(ROLES["computingOperator"], r.recordJob(job, ds["admissions"], d.keys[cons_a].address, image,
                                                   sha("demo output"), sha("demo attestation")))
    hexs = lambda b: "0x" + b.hex()  # noqa: E731
    return {"datasets": {k: hexs(v) for k, v in ds.items()}, "imageDigest": hexs(image), "jobId": hexs(job),
            "measurementDigest": hexs(mdigest)}


def deploy_all(rpc: str, with_demo: bool) -> dict:
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60}))
    # Clique chains carry 97+ bytes of extraData, which web3.py rejects without this middleware.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    d = Deployer(w3)
    market, market_info = d.deploy("DataMarket")
    registry, registry_info = d.deploy("AlgorithmRegistry")
    keys = d.keys
    d.send(ROLES["governance"], registry.functions.setPrivacySigner(keys[ROLES["privacySigner"]].address))
    d.send(ROLES["governance"], registry.functions.setOperator(keys[ROLES["computingOperator"]].address, True))
    out = {
        "chainId": d.chain_id, "rpc": rpc,
        "DataMarket": market_info, "AlgorithmRegistry": registry_info,
        "accounts": {**{role: keys[i].address for role, i in ROLES.items()},
                     "demoProviders": [keys[i].address for i in DEMO_PROVIDERS],
                     "demoConsumers": [keys[i].address for i in DEMO_CONSUMERS]},
        "mnemonic": MNEMONIC,
        "accountIndexes": {**ROLES, "demoProviders": list(DEMO_PROVIDERS), "demoConsumers": list(DEMO_CONSUMERS)},
    }
    if with_demo:
        out["demo"] = demo(d, market, registry)
    out["head"] = w3.eth.block_number
    return out


def write_atomically(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(prog="contrib/contracts/deploy", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="where to write the deployment JSON")
    ap.add_argument("--rpc", help="deploy to this JSON-RPC URL and exit (default: start a devnet and keep it)")
    ap.add_argument("--demo", action="store_true", help="also create demo activity")
    ap.add_argument("--port", type=int, default=8545, help="port of the devnet started without --rpc (default 8545)")
    for flag in ("--fork", "--chain-id"):
        ap.add_argument(flag, help="passed to the devnet started without --rpc")
    for flag in ("--clique", "--deterministic"):
        ap.add_argument(flag, action="store_true", help="passed to the devnet started without --rpc")
    args = ap.parse_args()

    if args.rpc:
        result = deploy_all(args.rpc, args.demo)
        write_atomically(args.out, result)
        print(f"DEPLOYED {args.out} DataMarket={result['DataMarket']['address']} "
              f"AlgorithmRegistry={result['AlgorithmRegistry']['address']}", flush=True)
        return 0

    devnet_args = []
    if args.fork:
        devnet_args += ["--fork", args.fork]
    if args.chain_id:
        devnet_args += ["--chain-id", args.chain_id]
    devnet_args += [f for f, on in (("--clique", args.clique), ("--deterministic", args.deterministic)) if on]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    devnet = DevnetProcess(*devnet_args, port=args.port)
    try:
        result = deploy_all(devnet.url, args.demo)
        write_atomically(args.out, result)
        print(f"READY {devnet.url} {args.out}", flush=True)
        print(f"deploy: DataMarket={result['DataMarket']['address']} "
              f"AlgorithmRegistry={result['AlgorithmRegistry']['address']}; Ctrl-C or SIGTERM stops the devnet",
              file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if devnet.proc.poll() is not None:
                print(f"deploy: the devnet exited ({devnet.proc.returncode})", file=sys.stderr)
                return 1
    finally:
        devnet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
