"""Shared by the contract tests: dev keys and roles, a signing client with time control, artifacts."""

import json
import sys
from pathlib import Path

from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

CONTRACTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CONTRACTS.parent / "python"))
from devnet_process import DevnetProcess  # noqa: E402,F401

MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()
KEYS = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]
GOV, SIGNER, OPERATOR, PROVIDER, PROVIDER2, CONSUMER, CONSUMER2, STRANGER = (KEYS[i] for i in range(8))


def artifact(name: str) -> dict:
    return json.loads((CONTRACTS / "artifacts" / f"{name}.json").read_text())


class Chain:
    """Signs with eth-account, sends raw transactions, waits for receipts; controls block time."""

    def __init__(self, url: str):
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))

    def rpc(self, method, *params):
        r = self.w3.provider.make_request(method, list(params))
        assert "error" not in r, r
        return r["result"]

    def _raw(self, acct, tx: dict) -> bytes:
        return acct.sign_transaction(tx).raw_transaction

    def send(self, acct, fn, value: int = 0, expect_success: bool = True):
        tx = fn.build_transaction({"from": acct.address, "value": value,
                                   "nonce": self.w3.eth.get_transaction_count(acct.address)})
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(self._raw(acct, tx)))
        if expect_success:
            assert receipt.status == 1
        return receipt

    def send_unchecked(self, acct, contract, fn, value: int = 0, gas: int = 500_000):
        """Send without the eth_estimateGas pre-check, so a reverting call is mined (status 0)."""
        base = self.w3.eth.get_block("latest").baseFeePerGas
        tx = {"to": contract.address, "data": fn._encode_transaction_data(), "value": value, "gas": gas,
              "chainId": self.w3.eth.chain_id, "nonce": self.w3.eth.get_transaction_count(acct.address),
              "maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9}
        return self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(self._raw(acct, tx)))

    def reverts(self, acct, fn, reason: str, value: int = 0) -> None:
        try:
            fn.call({"from": acct.address, "value": value})
        except ContractLogicError as e:
            assert f"execution reverted: {reason}" == e.message, f"expected {reason!r}, got {e.message!r}"
            return
        raise AssertionError(f"call did not revert (expected {reason!r})")

    def deploy(self, name: str):
        art = artifact(name)
        base = self.w3.eth.get_block("latest").baseFeePerGas
        tx = {"data": art["bytecode"], "gas": 5_000_000, "value": 0, "chainId": self.w3.eth.chain_id,
              "nonce": self.w3.eth.get_transaction_count(GOV.address),
              "maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9}
        r = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(self._raw(GOV, tx)))
        assert r.status == 1
        return self.w3.eth.contract(address=r.contractAddress, abi=art["abi"]), r

    def next_block_at(self, ts: int) -> None:
        self.rpc("evm_setNextBlockTimestamp", hex(ts))

    def now(self) -> int:
        return self.w3.eth.get_block("latest").timestamp

    def balance(self, who) -> int:
        return self.w3.eth.get_balance(who.address if hasattr(who, "address") else who)

    def gas_cost(self, receipt) -> int:
        return receipt.gasUsed * receipt.effectiveGasPrice


def events(contract, receipt, name: str) -> list:
    # DISCARD: a receipt holds other events too; only `name` is wanted here.
    return [e.args for e in contract.events[name]().process_receipt(receipt, errors=DISCARD)]
