"""Every block the devnet produces verifies with an independent client, on each fork and with Clique."""

import pytest
from devnet_helpers import KEYS, artifact, web3_for
from eth_utils import keccak
from web3.middleware import ExtraDataToPOAMiddleware
from verify import verify_account, verify_block

CASES = [("london", False), ("london", True), ("paris", False), ("shanghai", False),
         ("cancun", False), ("prague", False)]
NEVER_USED = "0x00000000000000000000000000000000DeaDBeef"
ZERO = "0x0000000000000000000000000000000000000000"


def send(w3, acct, tx: dict):
    tx = {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
          "value": 0, **tx}
    if "gasPrice" not in tx and "maxFeePerGas" not in tx:
        tx.update(maxFeePerGas=2 * w3.eth.get_block("latest").baseFeePerGas + 10**9, maxPriorityFeePerGas=10**9)
    return w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)


def exercise(w3) -> tuple[str, bytes]:
    """A mix of transaction types, a deployment, events, a mined revert, empty and multi-tx blocks."""
    k = KEYS
    send(w3, k[0], {"to": k[7].address, "value": 10**18, "gas": 21000, "gasPrice": w3.eth.gas_price})  # legacy
    send(w3, k[1], {"to": k[2].address, "value": 5, "gas": 30000, "gasPrice": w3.eth.gas_price, "type": 1,
                    "accessList": [{"address": k[3].address, "storageKeys": ["0x" + "00" * 31 + "01"]}]})
    art = artifact("DataMarket")
    h = send(w3, k[0], {"data": art["bytecode"], "gas": 3_000_000})
    market = w3.eth.contract(address=w3.eth.get_transaction_receipt(h).contractAddress, abi=art["abi"])
    ds = keccak(text="verify/dataset")
    f = market.functions
    send(w3, k[3], f.registerDataset(ds, keccak(text="m"), 1000, "s", "u").build_transaction({"from": k[3].address}))
    send(w3, k[4], f.rent(ds, 60).build_transaction({"from": k[4].address, "value": 60_000 + 7}))
    # Underpaid with a fixed gas limit: mined, status 0.
    h = send(w3, k[5], {"to": market.address, "data": f.rent(ds, 60)._encode_transaction_data(),
                        "value": 1, "gas": 200_000})
    assert w3.eth.get_transaction_receipt(h).status == 0
    w3.provider.make_request("anvil_mine", ["0x3"])
    w3.provider.make_request("evm_setAutomine", [False])
    send(w3, k[5], {"to": k[6].address, "value": 1, "gas": 21000})
    send(w3, k[6], {"to": k[5].address, "value": 2, "gas": 21000})
    w3.provider.make_request("evm_mine", [])
    w3.provider.make_request("evm_setAutomine", [True])
    assert len(w3.eth.get_block("latest").transactions) == 2
    return market.address, ds


@pytest.mark.parametrize("fork,clique", CASES, ids=[f + ("-clique" if c else "") for f, c in CASES])
def test_every_block_verifies(start_devnet, fork, clique):
    dn = start_devnet("--fork", fork, *(["--clique"] if clique else []))
    w3 = web3_for(dn.url)
    if clique:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    market, ds = exercise(w3)
    # Vyper HashMap slots: keccak(slot || key); datasets is slot 1, its struct starts with the provider.
    ds_slot = int.from_bytes(keccak((1).to_bytes(32, "big") + ds), "big")
    addresses = [a.address for a in KEYS] + [ZERO, NEVER_USED, market]
    storage = {market: [0, 1, 2, 3, ds_slot, ds_slot + 1, 2**256 - 1]}
    head = w3.eth.block_number
    assert head >= 9
    for n in range(head + 1):
        verify_block(w3, n, fork, clique, addresses, storage)
    # The dataset's provider really is in a proven storage slot.
    p = w3.eth.get_proof(market, [ds_slot], head)
    assert int.from_bytes(bytes(p.storageProof[0].value), "big") == int(KEYS[3].address, 16)
    # A reorg on this fork: the replacement branch verifies too (a longer one, with new hashes).
    old = [w3.eth.get_block(n).hash for n in (head - 1, head)]
    w3.provider.make_request("devnet_reorg", ["0x2", [], "0x1"])
    assert w3.eth.block_number == head + 1
    assert [w3.eth.get_block(n).hash for n in (head - 1, head)] != old
    for n in range(head - 2, head + 2):
        verify_block(w3, n, fork, clique, addresses, storage)
    # Pending-state and fee methods answer sensibly.
    assert w3.eth.max_priority_fee == 10**9
    hist = w3.eth.fee_history(4, "latest", [50])
    assert len(hist.baseFeePerGas) == 5 and len(hist.reward) == 4


def test_empty_block_rate(start_devnet, capsys):
    """Mines empty blocks in one anvil_mine call; prints the rate and asserts a generous floor."""
    import time
    dn = start_devnet("--fork", "prague")
    w3 = web3_for(dn.url)
    n = 2000
    t = time.perf_counter()
    w3.provider.make_request("anvil_mine", [hex(n)])
    rate = n / (time.perf_counter() - t)
    with capsys.disabled():
        print(f"\n[devnet] mined {n} empty prague blocks at {rate:.0f} blocks/s")
    assert w3.eth.block_number == n
    assert rate >= 300, f"{rate:.0f} blocks/s is below the 300/s floor"
    for b in (1, n // 2, n):
        verify_block(w3, b, "prague", False, [KEYS[0].address])


def test_proof_of_absent_account_and_slot(start_devnet):
    dn = start_devnet()
    w3 = web3_for(dn.url)
    blk = w3.eth.get_block("latest")
    got = verify_account(w3, blk.number, bytes(blk.stateRoot), NEVER_USED, [5])
    assert got == {"nonce": 0, "balance": 0}
