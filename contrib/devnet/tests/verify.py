"""Independent checks of what the devnet serves, the way a light client would do them.

Uses only web3.py (JSON-RPC), rlp, eth-hash/eth-keys and the `trie` package's proof verification;
nothing from the devnet's own code. Every check raises AssertionError naming the block and field.
"""

import hashlib

import rlp
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak
from hexbytes import HexBytes
from trie import HexaryTrie

EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
EMPTY_UNCLES = keccak(rlp.encode([]))
CLIQUE_SIGNER = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"  # dev account 9
BLOB_TARGET = {"cancun": 393216, "prague": 786432}


def _b(x) -> bytes:
    return bytes(HexBytes(x))


def extra_data(blk) -> bytes:
    # web3.py's POA middleware (needed for Clique's 97-byte extraData) renames the field.
    return _b(blk["extraData"] if "extraData" in blk else blk["proofOfAuthorityData"])


def header_fields(blk, fork: str) -> list:
    """The header's RLP list, field by field in consensus order, built from the JSON block."""
    f = [_b(blk.parentHash), _b(blk.sha3Uncles), _b(blk.miner), _b(blk.stateRoot), _b(blk.transactionsRoot),
         _b(blk.receiptsRoot), _b(blk.logsBloom), blk.difficulty, blk.number, blk.gasLimit, blk.gasUsed,
         blk.timestamp, extra_data(blk), _b(blk.mixHash), _b(blk.nonce), blk.baseFeePerGas]
    if fork in ("shanghai", "cancun", "prague"):
        f.append(_b(blk.withdrawalsRoot))
    if fork in ("cancun", "prague"):
        f += [blk.blobGasUsed, blk.excessBlobGas, _b(blk.parentBeaconBlockRoot)]
    if fork == "prague":
        f.append(_b(blk.requestsHash))
    return f


def trie_root(items: list[bytes]) -> bytes:
    t = HexaryTrie({})
    for i, item in enumerate(items):
        t[rlp.encode(i)] = item
    return t.root_hash


def bloom_of(logs) -> bytes:
    """Yellow paper bloom: 3 bits per address/topic from keccak pairs, in 2048 bits."""
    bits = 0
    for log in logs:
        for item in [_b(log["address"])] + [_b(t) for t in log["topics"]]:
            h = keccak(item)
            for i in (0, 2, 4):
                bits |= 1 << (int.from_bytes(h[i:i + 2], "big") & 2047)
    return bits.to_bytes(256, "big")


def receipt_encoding(r) -> bytes:
    payload = rlp.encode([b"\x01" if r["status"] == 1 else b"", r["cumulativeGasUsed"], _b(r["logsBloom"]),
                          [[_b(log["address"]), [_b(t) for t in log["topics"]], _b(log["data"])]
                           for log in r["logs"]]])
    return payload if r["type"] == 0 else bytes([r["type"]]) + payload


def expected_base_fee(parent) -> int:
    """EIP-1559 from the parent header alone."""
    target = parent.gasLimit // 2
    if parent.gasUsed == target:
        return parent.baseFeePerGas
    if parent.gasUsed > target:
        delta = max(parent.baseFeePerGas * (parent.gasUsed - target) // target // 8, 1)
        return parent.baseFeePerGas + delta
    return parent.baseFeePerGas - parent.baseFeePerGas * (target - parent.gasUsed) // target // 8


def verify_account(w3, number: int, state_root: bytes, address: str, slots=()) -> dict:
    """eth_getProof checked against the block's stateRoot, then cross-checked with the plain getters."""
    p = w3.eth.get_proof(address, list(slots), number)
    key = keccak(_b(address))
    value = HexaryTrie.get_from_proof(state_root, key, [rlp.decode(bytes(n)) for n in p.accountProof])
    if value == b"":
        acct = [0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH]
    else:
        n, bal, sroot, chash = rlp.decode(value)
        acct = [int.from_bytes(n, "big"), int.from_bytes(bal, "big"), sroot, chash]
    where = f"block {number} account {address}"
    assert acct[0] == p.nonce, f"{where}: proven nonce {acct[0]} != reported {p.nonce}"
    assert acct[1] == p.balance, f"{where}: proven balance {acct[1]} != reported {p.balance}"
    assert acct[2] == _b(p.storageHash), f"{where}: storage root differs from proof"
    assert acct[3] == _b(p.codeHash), f"{where}: code hash differs from proof"
    assert w3.eth.get_balance(address, number) == acct[1], f"{where}: eth_getBalance disagrees with proof"
    assert w3.eth.get_transaction_count(address, number) == acct[0], f"{where}: nonce getter disagrees"
    assert keccak(bytes(w3.eth.get_code(address, number))) == acct[3], f"{where}: eth_getCode hash differs"
    for sp in p.storageProof:
        slot = int.from_bytes(_b(sp.key), "big")
        proven = HexaryTrie.get_from_proof(acct[2], keccak(slot.to_bytes(32, "big")),
                                           [rlp.decode(bytes(n)) for n in sp.proof])
        proven_value = rlp.decode(proven, sedes=rlp.sedes.big_endian_int) if proven else 0
        reported = sp.value if isinstance(sp.value, int) else int.from_bytes(bytes(sp.value), "big")
        assert proven_value == reported, f"{where} slot {slot}: proven {proven_value} != reported {reported}"
        got = int.from_bytes(bytes(w3.eth.get_storage_at(address, slot, number)), "big")
        assert got == proven_value, f"{where} slot {slot}: eth_getStorageAt {got} != proven {proven_value}"
    return {"nonce": acct[0], "balance": acct[1]}


def verify_block(w3, number: int, fork: str, clique: bool, addresses=(), storage=None) -> dict:
    """Check one block end to end; returns the JSON block."""
    blk = w3.eth.get_block(number, full_transactions=True)
    where = f"block {number} ({fork}{'+clique' if clique else ''})"
    fields = header_fields(blk, fork)
    encoded = rlp.encode(fields)
    assert keccak(encoded) == _b(blk.hash), f"{where}: keccak(rlp(header)) != hash"
    raw_header = _b(w3.provider.make_request("debug_getRawHeader", [hex(number)])["result"])
    assert raw_header == encoded, f"{where}: debug_getRawHeader differs from the JSON fields"
    raw_block = rlp.decode(_b(w3.provider.make_request("debug_getRawBlock", [hex(number)])["result"]))
    assert rlp.encode(raw_block[0]) == encoded, f"{where}: debug_getRawBlock's header differs"
    assert len(raw_block[1]) == len(blk.transactions) and raw_block[2] == [], f"{where}: raw block body"
    assert blk.sha3Uncles == HexBytes(EMPTY_UNCLES) and blk.uncles == [], f"{where}: uncles"

    # Parent link and recomputable header fields.
    if number > 0:
        parent = w3.eth.get_block(number - 1)
        assert blk.parentHash == parent.hash, f"{where}: parentHash does not name block {number - 1}"
        assert blk.timestamp > parent.timestamp, f"{where}: timestamp not after parent"
        assert blk.baseFeePerGas == expected_base_fee(parent), f"{where}: baseFeePerGas not per EIP-1559"
        if fork in BLOB_TARGET:
            excess = max(0, parent.excessBlobGas + parent.blobGasUsed - BLOB_TARGET[fork])
            assert blk.excessBlobGas == excess, f"{where}: excessBlobGas not per EIP-4844"
    if fork == "london":
        assert blk.difficulty > 0, f"{where}: pre-Merge difficulty must be positive"
    else:
        assert blk.difficulty == 0 and blk.nonce == HexBytes(b"\0" * 8), f"{where}: post-Merge difficulty/nonce"
    if fork in ("shanghai", "cancun", "prague"):
        assert _b(blk.withdrawalsRoot) == EMPTY_TRIE_ROOT and blk.withdrawals == [], f"{where}: withdrawals"
    if fork == "prague":
        assert _b(blk.requestsHash) == hashlib.sha256(b"").digest(), f"{where}: requestsHash of no requests"

    if clique and number > 0:
        extra = extra_data(blk)
        assert len(extra) == 32 + 65 and blk.difficulty == 2, f"{where}: Clique extraData/difficulty"
        unsealed = list(fields)
        unsealed[12] = extra[:-65]
        sig = extra[-65:]
        signer = keys.Signature(sig[:64] + bytes([sig[64] % 27])).recover_public_key_from_msg_hash(
            keccak(rlp.encode(unsealed))).to_checksum_address()
        assert signer == CLIQUE_SIGNER, f"{where}: Clique seal recovers {signer}, expected the dev signer"

    # Transactions: raw bytes hash to the listed hashes, recover to `from`, and root to transactionsRoot.
    raws = []
    for i, tx in enumerate(blk.transactions):
        raw = _b(w3.provider.make_request("debug_getRawTransaction", [tx.hash.to_0x_hex()])["result"])
        in_block = raw_block[1][i]  # typed: the bytes type||payload; legacy: an RLP list
        assert raw == (in_block if isinstance(in_block, bytes) else rlp.encode(in_block)), \
            f"{where}: tx {i} differs between debug_getRawBlock and debug_getRawTransaction"
        assert keccak(raw) == _b(tx.hash), f"{where}: tx {tx.hash.hex()} raw bytes do not hash to it"
        assert Account.recover_transaction(raw) == tx["from"], f"{where}: tx sender does not recover"
        raws.append(raw)
    assert trie_root(raws) == _b(blk.transactionsRoot), f"{where}: transactionsRoot mismatch"

    # Receipts: re-encoded from JSON; root, per-receipt bloom, block bloom, raw form.
    receipts = w3.eth.get_block_receipts(number)
    assert len(receipts) == len(blk.transactions), f"{where}: receipt count"
    encoded_receipts = [receipt_encoding(r) for r in receipts]
    assert trie_root(encoded_receipts) == _b(blk.receiptsRoot), f"{where}: receiptsRoot mismatch"
    raw_receipts = [_b(x) for x in w3.provider.make_request("debug_getRawReceipts", [hex(number)])["result"]]
    assert raw_receipts == encoded_receipts, f"{where}: debug_getRawReceipts differs from JSON receipts"
    block_bloom = bytearray(256)
    all_logs = []
    for i, r in enumerate(receipts):
        assert bloom_of(r["logs"]) == _b(r["logsBloom"]), f"{where}: receipt {i} bloom"
        block_bloom = bytearray(a | b for a, b in zip(block_bloom, _b(r["logsBloom"])))
        all_logs += r["logs"]
        assert r.transactionHash == blk.transactions[i].hash, f"{where}: receipt {i} order"
    assert bytes(block_bloom) == _b(blk.logsBloom), f"{where}: logsBloom is not the OR of receipt blooms"
    assert [log["logIndex"] for log in all_logs] == list(range(len(all_logs))), f"{where}: logIndex"
    if all_logs:
        by_filter = w3.eth.get_logs({"blockHash": blk.hash})
        assert [x["data"] for x in by_filter] == [x["data"] for x in all_logs], f"{where}: eth_getLogs"
    assert blk.gasUsed == (receipts[-1]["cumulativeGasUsed"] if receipts else 0), f"{where}: gasUsed"

    # State: account and storage proofs against stateRoot.
    for addr in addresses:
        verify_account(w3, number, _b(blk.stateRoot), addr, (storage or {}).get(addr, ()))
    return blk
