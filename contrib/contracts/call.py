"""Send one DataMarket or AlgorithmRegistry call from a devnet account; print the receipt as JSON.

    contrib/contracts/call --rpc URL --deployment FILE --as ROLE CONTRACT FUNCTION [ARG...] [--value WEI]

ROLE is a role of deploy.py (governance, privacySigner, computingOperator) or demoProviders:I,
demoConsumers:I, or an account index. Arguments are converted by the function's ABI types: bytes32 and
bytes from 0x-hex, address from 0x-hex, integers from decimal, strings as given. A development tool for the
devnet (demo script and tests), with the mnemonic's well-known keys.
"""

import argparse
import json
import sys

from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from deploy import ROLES, Deployer, load_artifact


def account_index(deployment: dict, role: str) -> int:
    if role.isdigit():
        return int(role)
    name, _, i = role.partition(":")
    index = deployment["accountIndexes"].get(name, ROLES.get(name))
    if index is None:
        raise SystemExit(f"unknown role {role!r}")
    return index[int(i)] if isinstance(index, list) else index


def convert(kind: str, text: str):
    if kind.startswith("uint") or kind.startswith("int"):
        return int(text)
    if kind == "address":
        return Web3.to_checksum_address(text)
    if kind.startswith("bytes"):
        return bytes.fromhex(text.removeprefix("0x"))
    if kind == "bool":
        return text in ("true", "1")
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rpc", required=True)
    p.add_argument("--deployment", required=True)
    p.add_argument("--as", dest="role", required=True)
    p.add_argument("--value", type=int, default=0)
    p.add_argument("contract", choices=["DataMarket", "AlgorithmRegistry"])
    p.add_argument("function")
    p.add_argument("args", nargs="*")
    a = p.parse_args()
    deployment = json.load(open(a.deployment))
    w3 = Web3(Web3.HTTPProvider(a.rpc, request_kwargs={"timeout": 60}))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    abi = load_artifact(a.contract)["abi"]
    entry = next((e for e in abi if e.get("type") == "function" and e["name"] == a.function), None)
    if entry is None or len(entry["inputs"]) != len(a.args):
        raise SystemExit(f"{a.contract}.{a.function}: expected {len(entry['inputs']) if entry else '?'} arguments")
    values = [convert(i["type"], t) for i, t in zip(entry["inputs"], a.args)]
    contract = w3.eth.contract(address=deployment[a.contract]["address"], abi=abi)
    d = Deployer(w3)
    receipt = d.send(account_index(deployment, a.role), getattr(contract.functions, a.function)(*values),
                     value=a.value)
    print(json.dumps({"transaction": "0x" + receipt.transactionHash.hex().removeprefix("0x"),
                      "block": receipt.blockNumber}))


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"call: {e}", file=sys.stderr)
        sys.exit(1)
