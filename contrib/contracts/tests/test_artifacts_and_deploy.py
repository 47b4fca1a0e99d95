"""Committed artifacts match the sources; the README's event list matches the ABI; deploy works."""

import json
import re
import signal
import subprocess
import sys
import time

from contract_helpers import CONTRACTS, KEYS, Chain, artifact
from eth_utils import keccak

sys.path.insert(0, str(CONTRACTS))
import compile as contracts_compile  # noqa: E402


def test_committed_artifacts_are_not_stale(tmp_path):
    contracts_compile.build(tmp_path)
    for name in contracts_compile.CONTRACTS:
        fresh = (tmp_path / f"{name}.json").read_text()
        committed = (CONTRACTS / "artifacts" / f"{name}.json").read_text()
        assert fresh == committed, f"artifacts/{name}.json is stale: run contrib/contracts/build"


def _abi_event_signatures(abi) -> dict:
    out = {}
    for item in abi:
        if item["type"] == "event":
            out[item["name"]] = (f"{item['name']}(" + ", ".join(
                f"{i['type']}{' indexed' if i['indexed'] else ''} {i['name']}" for i in item["inputs"]) + ")")
    return out


def canonical(sig: str) -> str:
    """`E(bytes32 indexed id, uint256 x)` -> `E(bytes32,uint256)`, the string topic0 hashes."""
    return re.sub(r" \w+(?=,|\))", "", sig.replace(" indexed", "")).replace(" ", "")


def test_readme_lists_every_event_exactly_as_the_abi():
    readme = (CONTRACTS / "README.md").read_text()
    listed = {m.group(1): m.group(0) for m in re.finditer(r"\b([A-Z][A-Za-z]+)\(([^()]*)\)", readme)
              if " indexed " in m.group(0) or m.group(1) in ("Withdrawal", "MeasurementRevoked")}
    for name in contracts_compile.CONTRACTS:
        for event, sig in _abi_event_signatures(artifact(name)["abi"]).items():
            assert listed.get(event) == sig, f"README lists {listed.get(event)!r}, ABI has {sig!r}"
            topic = "0x" + keccak(text=canonical(sig)).hex()
            assert topic in readme, f"README lacks topic0 {topic} of {canonical(sig)}"


def _wait_for_line(proc, timeout=90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            return line.strip()
        if proc.poll() is not None:
            break
    raise AssertionError(f"deploy printed nothing (exit {proc.poll()})")


def test_deploy_starts_a_devnet_writes_addresses_and_stops_on_sigterm(tmp_path):
    out = tmp_path / "deployment.json"
    proc = subprocess.Popen([str(CONTRACTS / "deploy"), "--port", "0", "--demo", "--out", str(out)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = _wait_for_line(proc)
        assert line.startswith("READY http://127.0.0.1:"), line
        dep = json.loads(out.read_text())
        chain = Chain(dep["rpc"])
        assert dep["chainId"] == 31337 and dep["rpc"] == line.split()[1]
        for name in ("DataMarket", "AlgorithmRegistry"):
            code = chain.w3.eth.get_code(dep[name]["address"])
            assert "0x" + bytes(code).hex() == artifact(name)["runtimeBytecode"]
            assert chain.w3.eth.get_transaction_receipt(dep[name]["deployTransaction"]).blockNumber == \
                dep[name]["deployBlock"]
        assert dep["accounts"]["governance"] == KEYS[0].address
        assert dep["accounts"]["privacySigner"] == KEYS[1].address
        assert dep["accounts"]["computingOperator"] == KEYS[2].address
        reg = chain.w3.eth.contract(address=dep["AlgorithmRegistry"]["address"],
                                    abi=artifact("AlgorithmRegistry")["abi"])
        assert reg.functions.privacySigner().call() == KEYS[1].address
        assert reg.functions.operators(KEYS[2].address).call() is True
        # The demo emits every event type of both contracts.
        for name in ("DataMarket", "AlgorithmRegistry"):
            abi = artifact(name)["abi"]
            topics = {"0x" + keccak(text=canonical(s)).hex(): e
                      for e, s in _abi_event_signatures(abi).items()}
            seen = {"0x" + bytes(log["topics"][0]).hex()
                    for log in chain.w3.eth.get_logs({"fromBlock": 0, "address": dep[name]["address"]})}
            missing = [topics[t] for t in topics if t not in seen]
            assert not missing, f"demo emitted no {missing}"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        proc.stdout.close()


def test_deploy_to_an_existing_rpc(devnet, tmp_path):
    out = tmp_path / "d.json"
    r = subprocess.run([str(CONTRACTS / "deploy"), "--rpc", devnet.url, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    dep = json.loads(out.read_text())
    assert dep["rpc"] == devnet.url and "demo" not in dep
    assert Chain(devnet.url).w3.eth.get_code(dep["DataMarket"]["address"]) != b""
