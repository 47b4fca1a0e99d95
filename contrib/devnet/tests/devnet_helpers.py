"""Shared by the devnet tests: dev keys (derived by eth-account, not by the devnet), clients, paths."""

import json
import sys
from pathlib import Path

from eth_account import Account
from web3 import Web3

CONTRIB = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(CONTRIB / "python"))
from devnet_process import RUN as RUN_PATH  # noqa: E402,F401
from devnet_process import DevnetProcess  # noqa: E402,F401

MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()
KEYS = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(10)]


def web3_for(url: str) -> Web3:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))


def artifact(name: str) -> dict:
    return json.loads((CONTRIB / "contracts" / "artifacts" / f"{name}.json").read_text())
