"""JSON-RPC behaviour: errors, batches, dev methods, reorgs, transaction rejection, process lifecycle."""

import json
import signal
import socket
import subprocess
import time
import urllib.request
from urllib.parse import urlparse

import pytest
from devnet_helpers import KEYS, RUN_PATH, web3_for
from verify import verify_block


def post(url: str, body) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, raw, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
    return json.loads(text) if text else None


def call(url: str, method: str, *params):
    return post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})


def transfer(w3, sender, to, value=1, nonce=None, **extra):
    tx = {"chainId": w3.eth.chain_id, "to": to, "value": value, "gas": 21000,
          "nonce": w3.eth.get_transaction_count(sender.address, "pending") if nonce is None else nonce,
          "maxFeePerGas": 2 * w3.eth.get_block("latest").baseFeePerGas + 10**9,
          "maxPriorityFeePerGas": 10**9, **extra}
    return sender.sign_transaction(tx).raw_transaction


@pytest.fixture
def devnet(start_devnet):
    return start_devnet()


def test_ready_line_is_first_and_fast():
    t = time.monotonic()
    p = subprocess.Popen([str(RUN_PATH), "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        elapsed = time.monotonic() - t
        assert line.startswith("READY http://127.0.0.1:")
        assert elapsed < 2.0, f"READY after {elapsed:.2f}s"
        assert call(line.split()[1].strip(), "eth_blockNumber")["result"] == "0x0"
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def test_sigterm_exits_cleanly_and_frees_the_port(start_devnet):
    dn = start_devnet()
    w3 = web3_for(dn.url)
    w3.eth.block_number  # hold a keep-alive connection open across the shutdown
    assert dn.stop() == 0
    port = urlparse(dn.url).port
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_jsonrpc_error_codes(devnet):
    url = devnet.url
    assert post(url, b"{not json")["error"]["code"] == -32700
    assert post(url, {"jsonrpc": "2.0", "id": 1})["error"]["code"] == -32600
    assert post(url, {"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"})["error"]["code"] == -32600
    assert post(url, [])["error"]["code"] == -32600
    assert post(url, "just a string")["error"]["code"] == -32600
    r = call(url, "eth_noSuchMethod")
    assert r["error"]["code"] == -32601 and "eth_noSuchMethod" in r["error"]["message"] and r["id"] == 1
    for method, params in [("eth_getBalance", ["0xnothex", "latest"]), ("eth_getBalance", []),
                           ("eth_getBlockByNumber", ["0x0", "yes"]), ("eth_getBlockByNumber", ["soon", False]),
                           ("eth_getBalance", ["0x" + "00" * 19, "latest"]),
                           ("eth_sendRawTransaction", ["0x1234"]), ("eth_chainId", {"named": 1}),
                           ("eth_getStorageAt", ["0x" + "00" * 20, "0x0", "latest", "extra"])]:
        r = call(url, method, *params) if isinstance(params, list) else \
            post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        assert r["error"]["code"] == -32602, (method, params, r)
        assert "expected" in r["error"]["message"] or "needs" in r["error"]["message"] or \
            "takes" in r["error"]["message"] or "invalid" in r["error"]["message"]


def test_batches_and_notifications(devnet):
    url = devnet.url
    out = post(url, [{"jsonrpc": "2.0", "id": "a", "method": "eth_chainId", "params": []},
                     {"jsonrpc": "2.0", "id": 2, "method": "nope"},
                     7,
                     {"jsonrpc": "2.0", "method": "evm_mine", "params": []},  # notification: no reply
                     {"jsonrpc": "2.0", "id": 3, "method": "net_version"}])
    assert [x.get("id") for x in out] == ["a", 2, None, 3]
    assert out[0]["result"] == "0x7a69" and out[1]["error"]["code"] == -32601
    assert out[2]["error"]["code"] == -32600 and out[3]["result"] == "31337"
    assert call(url, "eth_blockNumber")["result"] == "0x1"  # the notification still mined
    assert post(url, {"jsonrpc": "2.0", "method": "evm_mine"}) is None


def test_revert_reason_and_transaction_rejections(devnet):
    url = devnet.url
    w3 = web3_for(url)
    # Init code that reverts with Error("nope"): PUSH the ABI-encoded reason into memory, REVERT.
    reason = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + (4).to_bytes(32, "big") + \
        b"nope".ljust(32, b"\0")
    code = b"".join(b"\x7f" + reason[i:i + 32].ljust(32, b"\0") + b"\x60" + bytes([i]) + b"\x52"
                    for i in range(0, len(reason), 32)) + b"\x60" + bytes([len(reason)]) + b"\x60\x00\xfd"
    r = call(url, "eth_call", {"from": KEYS[0].address, "data": "0x" + code.hex()}, "latest")
    assert r["error"]["code"] == 3 and r["error"]["message"] == "execution reverted: nope"
    assert r["error"]["data"] == "0x" + reason.hex()
    r = call(url, "eth_estimateGas", {"from": KEYS[0].address, "data": "0x" + code.hex()})
    assert r["error"]["code"] == 3
    assert int(call(url, "eth_estimateGas", {"from": KEYS[0].address, "to": KEYS[1].address,
                                             "value": "0x1"})["result"], 16) == 21000

    w3.eth.send_raw_transaction(transfer(w3, KEYS[0], KEYS[1].address))
    stale = transfer(w3, KEYS[0], KEYS[1].address, nonce=0, value=2)
    r = call(url, "eth_sendRawTransaction", "0x" + stale.hex())
    assert r["error"]["code"] == -32000 and "nonce too low" in r["error"]["message"]
    poor = KEYS[8].sign_transaction({"chainId": 31337, "to": KEYS[1].address, "value": 10**23, "gas": 21000,
                                     "nonce": 0, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1})
    r = call(url, "eth_sendRawTransaction", "0x" + poor.raw_transaction.hex())
    assert r["error"]["code"] == -32000 and "insufficient funds" in r["error"]["message"]
    wrong_chain = transfer(w3, KEYS[0], KEYS[1].address, chainId=1)
    r = call(url, "eth_sendRawTransaction", "0x" + wrong_chain.hex())
    assert r["error"]["code"] == -32000 and "chain id" in r["error"]["message"]
    assert w3.eth.block_number == 1


def test_snapshot_revert_and_automine(devnet):
    url = devnet.url
    w3 = web3_for(url)
    sid = call(url, "evm_snapshot")["result"]
    call(url, "anvil_mine", "0x5")
    assert w3.eth.block_number == 5
    assert call(url, "evm_revert", sid)["result"] is True
    assert w3.eth.block_number == 0
    assert call(url, "evm_revert", sid)["result"] is False  # a snapshot is used up by reverting

    assert call(url, "evm_setAutomine", False)["result"] is None
    h1 = w3.eth.send_raw_transaction(transfer(w3, KEYS[0], KEYS[1].address))
    h2 = w3.eth.send_raw_transaction(transfer(w3, KEYS[0], KEYS[1].address))
    assert w3.eth.block_number == 0 and w3.eth.get_transaction_count(KEYS[0].address, "pending") == 2
    assert w3.eth.get_transaction(h1).blockHash is None
    call(url, "evm_mine")
    blk = w3.eth.get_block(1)
    assert blk.transactions == [h1, h2]
    call(url, "evm_setAutomine", True)


def test_time_controls(devnet):
    url = devnet.url
    w3 = web3_for(url)
    t0 = w3.eth.get_block("latest").timestamp
    call(url, "evm_setNextBlockTimestamp", hex(t0 + 1000))
    call(url, "evm_mine")
    assert w3.eth.get_block("latest").timestamp == t0 + 1000
    call(url, "evm_mine", hex(t0 + 5000))
    assert w3.eth.get_block("latest").timestamp == t0 + 5000
    assert call(url, "evm_setNextBlockTimestamp", hex(t0))["error"]["code"] == -32602
    call(url, "anvil_mine", "0x3", "0x64")  # 3 blocks, 100 s apart
    times = [w3.eth.get_block(n).timestamp for n in (3, 4, 5)]
    assert times[1] - times[0] == 100 and times[2] - times[1] == 100
    before = w3.eth.get_block("latest").timestamp
    call(url, "evm_increaseTime", hex(3600))
    call(url, "evm_mine")
    assert w3.eth.get_block("latest").timestamp >= before + 3600


def test_reorg_replaces_blocks_and_transactions(devnet):
    url = devnet.url
    w3 = web3_for(url)
    h_old = w3.eth.send_raw_transaction(transfer(w3, KEYS[0], KEYS[1].address, value=111))  # block 1
    call(url, "anvil_mine", "0x4")  # blocks 2..5
    old = [w3.eth.get_block(n) for n in range(6)]
    bal_before = w3.eth.get_balance(KEYS[2].address)
    # Replace blocks 3..5 with a branch that carries a different transfer in its second block.
    new_tx = transfer(w3, KEYS[3], KEYS[2].address, value=222)
    assert call(url, "anvil_reorg", "0x3", [["0x" + new_tx.hex(), 1]])["result"] is None
    assert w3.eth.block_number == 5
    new = [w3.eth.get_block(n) for n in range(6)]
    assert [b.hash for b in new[:3]] == [b.hash for b in old[:3]]
    assert all(new[n].hash != old[n].hash for n in (3, 4, 5))
    assert new[3].parentHash == old[2].hash
    assert len(new[4].transactions) == 1
    assert w3.eth.get_balance(KEYS[2].address) == bal_before + 222
    assert w3.eth.get_transaction_receipt(h_old).blockNumber == 1  # below the fork point: kept
    # The dropped branch is still served by hash (as geth does for side chains) but not by number.
    assert w3.eth.get_block(old[4].hash).hash == old[4].hash
    for n in range(6):
        verify_block(w3, n, "prague", False, [KEYS[2].address, KEYS[3].address])

    # A deeper reorg that drops a transaction and makes the chain longer.
    h_drop = new[4].transactions[0]
    r = call(url, "devnet_reorg", "0x2", [], "0x3")["result"]
    assert r["newHeadNumber"] == "0x8" and w3.eth.block_number == 8
    assert call(url, "eth_getTransactionReceipt", h_drop.to_0x_hex())["result"] is None
    assert w3.eth.get_balance(KEYS[2].address) == bal_before
    for n in range(9):
        verify_block(w3, n, "prague", False, [KEYS[2].address])
    assert call(url, "anvil_reorg", "0x64", [])["error"]["code"] == -32602  # deeper than the chain


def test_deterministic_runs_repeat(start_devnet):
    hashes = []
    for _ in range(2):
        dn = start_devnet("--deterministic", "--fork", "cancun")
        w3 = web3_for(dn.url)
        w3.eth.send_raw_transaction(transfer(w3, KEYS[0], KEYS[1].address))
        call(dn.url, "anvil_mine", "0x3")
        hashes.append([w3.eth.get_block(n).hash for n in range(5)])
        dn.stop()
    assert hashes[0] == hashes[1]


def test_logs_filters(devnet):
    url = devnet.url
    w3 = web3_for(url)
    # Init code: LOG2(topic1=0x..aa, topic2=0x..bb) with empty data, then return nothing.
    init = bytes.fromhex("60bb60aa60006000a200")
    for _ in range(2):
        tx = KEYS[0].sign_transaction({"chainId": 31337, "data": init, "gas": 100000, "value": 0,
                                       "nonce": w3.eth.get_transaction_count(KEYS[0].address),
                                       "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9})
        w3.eth.send_raw_transaction(tx.raw_transaction)
    aa, bb = "0x" + "00" * 31 + "aa", "0x" + "00" * 31 + "bb"
    assert len(w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"})) == 2
    assert len(w3.eth.get_logs({"fromBlock": 2, "toBlock": 2})) == 1
    assert len(w3.eth.get_logs({"fromBlock": 0, "topics": [aa, bb]})) == 2
    assert len(w3.eth.get_logs({"fromBlock": 0, "topics": [None, [bb, aa]]})) == 2
    assert len(w3.eth.get_logs({"fromBlock": 0, "topics": [bb]})) == 0
    creator = w3.eth.get_transaction_receipt(w3.eth.get_block(1).transactions[0]).contractAddress
    assert len(w3.eth.get_logs({"fromBlock": 0, "address": creator})) == 1
