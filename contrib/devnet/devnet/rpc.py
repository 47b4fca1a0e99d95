"""JSON-RPC 2.0 over the DevChain: parameter parsing, result formatting, method table."""

import json
import sys
import traceback
from typing import Any, Callable, Optional

import rlp
from eth._utils.address import generate_contract_address
from eth.vm.spoof import SpoofTransaction
from eth.constants import ZERO_ADDRESS
from eth.exceptions import Revert
from eth_utils import keccak

from .chain import ChainError, DevChain, MinedBlock

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700, -32600, -32601, -32602, -32603)
EXECUTION_REVERTED = 3  # geth's code; clients read the revert data from error.data
PRIORITY_FEE = 10**9  # suggested tip: 1 gwei
CLIENT_VERSION = "delong-devnet/0.1 (py-evm 0.12.1b1)"


# ---- parameter parsing (every failure is INVALID_PARAMS naming what was expected) ------------

def _bad(what: str, got: Any) -> ChainError:
    return ChainError(INVALID_PARAMS, f"invalid params: expected {what}, got {json.dumps(got)[:80]}")


def quantity(v: Any, what: str = "a hex quantity like 0x1a") -> int:
    if isinstance(v, bool):
        raise _bad(what, v)
    if isinstance(v, int) and v >= 0:
        return v  # tolerated, as hardhat and anvil do
    if not isinstance(v, str) or not v.startswith("0x") or len(v) < 3:
        raise _bad(what, v)
    try:
        return int(v, 16)
    except ValueError:
        raise _bad(what, v) from None


def data(v: Any, size: Optional[int] = None, what: Optional[str] = None) -> bytes:
    what = what or (f"{size} bytes of 0x-prefixed hex" if size else "0x-prefixed hex data")
    if not isinstance(v, str) or not v.startswith("0x") or len(v) % 2:
        raise _bad(what, v)
    try:
        b = bytes.fromhex(v[2:])
    except ValueError:
        raise _bad(what, v) from None
    if size is not None and len(b) != size:
        raise _bad(what, v)
    return b


def address(v: Any) -> bytes:
    return data(v, 20, "a 20-byte 0x address")


def json_list(v: Any, what: str = "a JSON array") -> list:
    if not isinstance(v, list):
        raise _bad(what, v)
    return v


def json_object(v: Any, what: str = "a JSON object") -> dict:
    if not isinstance(v, dict):
        raise _bad(what, v)
    return v


def percentiles(v: Any) -> list:
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                          and 0 <= x <= 100 for x in v):
        raise _bad("a list of percentiles 0..100", v)
    return v


def q(n: int) -> str:
    return hex(n)


def d(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _encode(obj) -> bytes:
    """Wire encoding of a transaction or receipt: typed ones are type byte || RLP."""
    if getattr(obj, "type_id", None) is not None:
        return obj.encode()
    return rlp.encode(obj)


class Params:
    def __init__(self, method: str, params: Any):
        if params is None:
            params = []
        if not isinstance(params, list):
            raise ChainError(INVALID_PARAMS, f"invalid params: {method} takes a JSON array of positional params")
        self.method, self.items = method, params

    def get(self, i: int, parse: Callable[[Any], Any], default: Any = ..., name: str = "") -> Any:
        if i >= len(self.items) or (self.items[i] is None and default is not ...):
            if default is ...:
                raise ChainError(INVALID_PARAMS, f"invalid params: {self.method} needs parameter {i + 1}"
                                                 f"{' (' + name + ')' if name else ''}")
            return default
        return parse(self.items[i])

    def at_most(self, n: int) -> None:
        if len(self.items) > n:
            raise ChainError(INVALID_PARAMS, f"invalid params: {self.method} takes at most {n} parameters, "
                                             f"got {len(self.items)}")


# ---- the RPC surface --------------------------------------------------------------------------

class DevnetRPC:
    def __init__(self, chain: DevChain):
        self.chain = chain
        self.methods: dict[str, Callable[[Params], Any]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("rpc_")}
        # Aliases under the other dev-node names.
        self.methods.update({
            "hardhat_mine": self.rpc_anvil_mine, "anvil_setAutomine": self.rpc_evm_setAutomine,
            "hardhat_getAutomine": self.rpc_anvil_getAutomine,
            "anvil_snapshot": self.rpc_evm_snapshot, "anvil_revert": self.rpc_evm_revert,
            "anvil_increaseTime": self.rpc_evm_increaseTime,
            "anvil_setNextBlockTimestamp": self.rpc_evm_setNextBlockTimestamp,
        })

    # -- dispatch --

    def handle_body(self, body: bytes) -> Optional[bytes]:
        """One HTTP body in, one HTTP body out (None when only notifications were sent)."""
        try:
            req = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            return _dump(_error(None, PARSE_ERROR, f"parse error: {e}"))
        if isinstance(req, list):
            if not req:
                return _dump(_error(None, INVALID_REQUEST, "invalid request: empty batch"))
            out = [r for r in (self.handle_one(x) for x in req) if r is not None]
            return _dump(out) if out else None
        out = self.handle_one(req)
        return _dump(out) if out is not None else None

    def handle_one(self, req: Any) -> Optional[dict]:
        if not isinstance(req, dict):
            return _error(None, INVALID_REQUEST, "invalid request: expected a JSON-RPC object")
        rid = req.get("id")
        if req.get("jsonrpc") != "2.0" or not isinstance(req.get("method"), str) or \
                not isinstance(rid, (str, int, type(None))) or isinstance(rid, bool):
            return _error(rid if isinstance(rid, (str, int)) else None, INVALID_REQUEST,
                          'invalid request: expected {"jsonrpc":"2.0","method":string,"params":[...],"id":...}')
        fn = self.methods.get(req["method"])
        try:
            if fn is None:
                raise ChainError(METHOD_NOT_FOUND, f"the method {req['method']} does not exist/is not available")
            result = fn(Params(req["method"], req.get("params")))
        except ChainError as e:
            return _error(rid, e.code, e.message, e.data) if "id" in req else None
        except Exception as e:  # noqa: BLE001 - a bug must not kill the server
            traceback.print_exc(file=sys.stderr)  # stderr is the devnet's log; stdout stays clean
            return _error(rid, INTERNAL_ERROR, f"internal error: {type(e).__name__}: {e}") if "id" in req else None
        if "id" not in req:
            return None  # a notification gets no response
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    # -- block lookup --

    def _block(self, tag: Any) -> Optional[MinedBlock]:
        """A block tag, number, or EIP-1898 object; None when that block does not exist (yet)."""
        c = self.chain
        if isinstance(tag, dict):
            if "blockHash" in tag:
                mb = c.by_hash.get(data(tag["blockHash"], 32))
                if mb is None:
                    raise ChainError(-32000, f"header for hash {tag['blockHash']} not found")
                if tag.get("requireCanonical") and c.canon[mb.number] is not mb:
                    raise ChainError(-32000, f"hash {tag['blockHash']} is not currently canonical")
                return mb
            if "blockNumber" in tag:
                return self._block(tag["blockNumber"])
            raise _bad("a block tag, number or {blockHash|blockNumber}", tag)
        if tag in ("latest", "pending", "safe", "finalized"):
            return c.head
        if tag == "earliest":
            return c.canon[0]
        n = quantity(tag, 'a block number or "latest"/"earliest"/"pending"/"safe"/"finalized"')
        return c.canon[n] if n < len(c.canon) else None

    def _state_block(self, p: Params, i: int) -> MinedBlock:
        mb = self._block(p.get(i, lambda x: x, "latest"))
        if mb is None:
            raise ChainError(-32000, "header not found")
        return mb

    # -- formatting --

    def _tx_json(self, mb: Optional[MinedBlock], index: int, tx, sender: bytes) -> dict:
        type_id = getattr(tx, "type_id", None) or 0
        out = {"type": q(type_id), "hash": d(tx.hash), "nonce": q(tx.nonce), "from": d(sender),
               "to": d(tx.to) if tx.to else None, "value": q(tx.value), "gas": q(tx.gas),
               "input": d(tx.data), "r": q(tx.r), "s": q(tx.s),
               "blockHash": d(mb.hash) if mb else None, "blockNumber": q(mb.number) if mb else None,
               "transactionIndex": q(index) if mb else None}
        if type_id == 0:
            out.update(gasPrice=q(tx.gas_price), v=q(tx.v))
            if tx.v >= 35:
                out["chainId"] = q((tx.v - 35) // 2)
            return out
        out.update(chainId=q(tx.chain_id), v=q(tx.y_parity), yParity=q(tx.y_parity),
                   accessList=[{"address": d(a), "storageKeys": [d(k.to_bytes(32, "big")) for k in keys]}
                               for a, keys in tx.access_list])
        if type_id == 1:
            out["gasPrice"] = q(tx.gas_price)
        else:
            out.update(maxFeePerGas=q(tx.max_fee_per_gas), maxPriorityFeePerGas=q(tx.max_priority_fee_per_gas),
                       gasPrice=q(self._effective_price(tx, mb) if mb else tx.max_fee_per_gas))
        if type_id == 3:  # blob transactions
            out["maxFeePerBlobGas"] = q(tx.max_fee_per_blob_gas)
            out["blobVersionedHashes"] = [d(h) for h in tx.blob_versioned_hashes]
        return out

    @staticmethod
    def _effective_price(tx, mb: MinedBlock) -> int:
        base = mb.header.base_fee_per_gas
        if getattr(tx, "max_fee_per_gas", None) is None:
            return tx.gas_price
        return min(tx.max_fee_per_gas, base + tx.max_priority_fee_per_gas)

    def _block_json(self, mb: MinedBlock, full: bool) -> dict:
        h = mb.header
        out = {
            "number": q(h.block_number), "hash": d(h.hash), "parentHash": d(h.parent_hash),
            "nonce": d(h.nonce), "sha3Uncles": d(h.uncles_hash),
            "logsBloom": d(h.bloom.to_bytes(256, "big")), "transactionsRoot": d(h.transaction_root),
            "stateRoot": d(h.state_root), "receiptsRoot": d(h.receipt_root), "miner": d(h.coinbase),
            "difficulty": q(h.difficulty), "totalDifficulty": q(mb.total_difficulty),
            "extraData": d(h.extra_data), "size": q(len(rlp.encode(mb.block))),
            "gasLimit": q(h.gas_limit), "gasUsed": q(h.gas_used), "timestamp": q(h.timestamp),
            "mixHash": d(h.mix_hash), "baseFeePerGas": q(h.base_fee_per_gas), "uncles": [],
        }
        for attr, key, fmt in (("withdrawals_root", "withdrawalsRoot", d), ("blob_gas_used", "blobGasUsed", q),
                               ("excess_blob_gas", "excessBlobGas", q),
                               ("parent_beacon_block_root", "parentBeaconBlockRoot", d),
                               ("requests_hash", "requestsHash", d)):
            if hasattr(h, attr):
                out[key] = fmt(getattr(h, attr))
        if hasattr(h, "withdrawals_root"):
            out["withdrawals"] = []
        txs = mb.block.transactions
        out["transactions"] = ([self._tx_json(mb, i, tx, mb.senders[i]) for i, tx in enumerate(txs)]
                               if full else [d(tx.hash) for tx in txs])
        return out

    def _receipts_json(self, mb: MinedBlock) -> list[dict]:
        out, prev_cumulative, log_index = [], 0, 0
        for i, (tx, r) in enumerate(zip(mb.block.transactions, mb.receipts)):
            sender = mb.senders[i]
            logs = []
            for log in r.logs:
                logs.append({"address": d(log.address), "topics": [d(t.to_bytes(32, "big")) for t in log.topics],
                             "data": d(log.data), "blockNumber": q(mb.number), "blockHash": d(mb.hash),
                             "transactionHash": d(tx.hash), "transactionIndex": q(i),
                             "logIndex": q(log_index), "removed": False})
                log_index += 1
            out.append({
                "type": q(getattr(tx, "type_id", None) or 0), "transactionHash": d(tx.hash),
                "transactionIndex": q(i), "blockHash": d(mb.hash), "blockNumber": q(mb.number),
                "from": d(sender), "to": d(tx.to) if tx.to else None,
                "contractAddress": None if tx.to else d(generate_contract_address(sender, tx.nonce)),
                "cumulativeGasUsed": q(r.gas_used), "gasUsed": q(r.gas_used - prev_cumulative),
                "effectiveGasPrice": q(self._effective_price(tx, mb)),
                "status": q(1 if r.state_root == b"\x01" else 0),
                "logsBloom": d(r.bloom.to_bytes(256, "big")), "logs": logs,
            })
            prev_cumulative = r.gas_used
        return out

    # -- chain info --

    def rpc_web3_clientVersion(self, p):
        return CLIENT_VERSION

    def rpc_eth_chainId(self, p):
        return q(self.chain.chain_id)

    def rpc_net_version(self, p):
        return str(self.chain.chain_id)

    def rpc_net_listening(self, p):
        return True

    def rpc_eth_syncing(self, p):
        return False

    def rpc_eth_accounts(self, p):
        return [d(a.address) for a in self.chain.accounts]

    def rpc_eth_blockNumber(self, p):
        with self.chain.lock:
            return q(self.chain.head.number)

    def rpc_eth_gasPrice(self, p):
        with self.chain.lock:
            return q(self.chain.next_base_fee() + PRIORITY_FEE)

    def rpc_eth_maxPriorityFeePerGas(self, p):
        return q(PRIORITY_FEE)

    def rpc_eth_feeHistory(self, p):
        p.at_most(3)
        count = p.get(0, quantity, name="blockCount")
        wanted = p.get(2, percentiles, [])
        with self.chain.lock:
            newest = self._block(p.get(1, lambda x: x, name="newestBlock"))
            if newest is None:
                raise ChainError(-32000, "header not found")
            count = max(0, min(count, 1024, newest.number + 1))
            blocks = self.chain.canon[newest.number - count + 1: newest.number + 1]
            fees = [mb.header.base_fee_per_gas for mb in blocks]
            fees.append(self.chain.next_base_fee() if newest is self.chain.head else
                        self.chain.canon[newest.number + 1].header.base_fee_per_gas)
            out = {"oldestBlock": q(blocks[0].number if blocks else newest.number),
                   "baseFeePerGas": [q(f) for f in fees],
                   "gasUsedRatio": [mb.header.gas_used / mb.header.gas_limit for mb in blocks]}
            if wanted:
                out["reward"] = []
                for mb in blocks:
                    tips = sorted(self._effective_price(tx, mb) - mb.header.base_fee_per_gas
                                  for tx in mb.block.transactions)
                    out["reward"].append([q(tips[min(len(tips) - 1, int(len(tips) * pc / 100))] if tips else 0)
                                          for pc in wanted])
            return out

    # -- blocks --

    def rpc_eth_getBlockByNumber(self, p):
        p.at_most(2)
        with self.chain.lock:
            mb = self._block(p.get(0, lambda x: x, name="block"))
            full = p.get(1, _bool, False)
            return self._block_json(mb, full) if mb else None

    def rpc_eth_getBlockByHash(self, p):
        p.at_most(2)
        with self.chain.lock:
            mb = self.chain.by_hash.get(p.get(0, lambda x: data(x, 32), name="blockHash"))
            full = p.get(1, _bool, False)
            return self._block_json(mb, full) if mb else None

    def rpc_eth_getBlockTransactionCountByNumber(self, p):
        with self.chain.lock:
            mb = self._block(p.get(0, lambda x: x))
            return q(len(mb.block.transactions)) if mb else None

    def rpc_eth_getBlockReceipts(self, p):
        p.at_most(1)
        with self.chain.lock:
            tag = p.get(0, lambda x: x, name="block")
            if isinstance(tag, str) and len(tag) == 66:
                mb = self.chain.by_hash.get(data(tag, 32))
            else:
                mb = self._block(tag)
            return self._receipts_json(mb) if mb else None

    # -- transactions --

    def rpc_eth_sendRawTransaction(self, p):
        p.at_most(1)
        return d(self.chain.send_raw_transaction(p.get(0, data, name="signed transaction")))

    def rpc_eth_getTransactionByHash(self, p):
        p.at_most(1)
        h = p.get(0, lambda x: data(x, 32), name="transactionHash")
        with self.chain.lock:
            loc = self.chain.tx_index.get(h)
            if loc:
                mb, i = loc
                return self._tx_json(mb, i, mb.block.transactions[i], mb.senders[i])
            for tx in self.chain.pool:
                if tx.hash == h:
                    return self._tx_json(None, 0, tx, tx.sender)
            return None

    def rpc_eth_getTransactionReceipt(self, p):
        p.at_most(1)
        h = p.get(0, lambda x: data(x, 32), name="transactionHash")
        with self.chain.lock:
            loc = self.chain.tx_index.get(h)
            return self._receipts_json(loc[0])[loc[1]] if loc else None

    def rpc_eth_getTransactionCount(self, p):
        p.at_most(2)
        addr = p.get(0, address, name="address")
        tag = p.get(1, lambda x: x, "latest")
        with self.chain.lock:
            mb = self._state_block(p, 1)
            n = self.chain.account(mb.header.state_root, addr).nonce
            if tag == "pending":
                n += sum(1 for tx in self.chain.pool if tx.sender == addr)
            return q(n)

    # -- state --

    def rpc_eth_getBalance(self, p):
        p.at_most(2)
        addr = p.get(0, address, name="address")
        with self.chain.lock:
            return q(self.chain.account(self._state_block(p, 1).header.state_root, addr).balance)

    def rpc_eth_getCode(self, p):
        p.at_most(2)
        addr = p.get(0, address, name="address")
        with self.chain.lock:
            return d(self.chain.code(self._state_block(p, 1).header.state_root, addr))

    def rpc_eth_getStorageAt(self, p):
        p.at_most(3)
        addr = p.get(0, address, name="address")
        slot = p.get(1, _slot, name="slot")
        with self.chain.lock:
            value = self.chain.storage(self._state_block(p, 2).header.state_root, addr, slot)
            return d(value.to_bytes(32, "big"))

    def rpc_eth_getProof(self, p):
        p.at_most(3)
        addr = p.get(0, address, name="address")
        slots = p.get(1, lambda x: [_slot(s) for s in json_list(x, "a list of storage keys")], name="storageKeys")
        with self.chain.lock:
            mb = self._state_block(p, 2)
            pr = self.chain.proof(mb.header.state_root, addr, slots)
        a = pr["account"]
        return {"address": d(addr), "balance": q(a.balance), "nonce": q(a.nonce),
                "codeHash": d(a.code_hash), "storageHash": d(a.storage_root),
                "accountProof": [d(n) for n in pr["accountProof"]],
                "storageProof": [{"key": d(s.to_bytes(32, "big")), "value": q(v), "proof": [d(n) for n in nodes]}
                                 for s, v, nodes in pr["storage"]]}

    def _call_tx(self, obj: Any, mb: MinedBlock, gas_default: int):
        obj = json_object(obj, "a transaction call object")
        sender = address(obj["from"]) if obj.get("from") else ZERO_ADDRESS
        to = address(obj["to"]) if obj.get("to") else b""
        payload = obj.get("input", obj.get("data"))
        tx = self.chain.vm_class.create_unsigned_transaction(
            nonce=self.chain.account(mb.header.state_root, sender).nonce,
            gas_price=0, gas=quantity(obj["gas"]) if obj.get("gas") else gas_default,
            to=to, value=quantity(obj["value"]) if obj.get("value") else 0,
            data=data(payload) if payload else b"")
        return SpoofTransaction(tx, from_=sender)

    def _execute(self, tx, mb: MinedBlock, pending: bool = False):
        try:
            comp = self.chain.call(mb, tx, pending)
        except Exception as e:  # noqa: BLE001 - py-evm validation errors (nonce, funds, intrinsic gas)
            raise ChainError(-32000, f"call failed: {e}") from None
        if comp.is_error:
            if isinstance(comp.error, Revert):
                out = comp.output
                raise ChainError(EXECUTION_REVERTED, "execution reverted" + _reason_suffix(out), d(out))
            raise ChainError(-32000, f"execution failed: {type(comp.error).__name__}: {comp.error}")
        return comp

    def rpc_eth_call(self, p):
        p.at_most(3)
        with self.chain.lock:
            mb = self._state_block(p, 1)
            pending = p.get(1, lambda x: x, "latest") == "pending"
            tx = self._call_tx(p.get(0, lambda x: x, name="transaction"), mb, mb.header.gas_limit)
            return d(self._execute(tx, mb, pending).output)

    def rpc_eth_estimateGas(self, p):
        p.at_most(2)
        with self.chain.lock:
            mb = self._state_block(p, 1)
            # Estimating for the head means estimating for the next block (its time may be set).
            pending = mb is self.chain.head
            obj = p.get(0, lambda x: x, name="transaction")
            # Run once at the full limit first, so a revert reports its reason like geth does.
            self._execute(self._call_tx(obj, mb, mb.header.gas_limit), mb, pending)
            return q(self.chain.estimate_gas(mb, self._call_tx(obj, mb, mb.header.gas_limit), pending))

    # -- logs --

    def rpc_eth_getLogs(self, p):
        p.at_most(1)
        f = p.get(0, lambda x: json_object(x, "a filter object"), name="filter")
        addrs = f.get("address")
        addrs = None if addrs is None else {address(a) for a in (addrs if isinstance(addrs, list) else [addrs])}
        topics = []
        for t in f.get("topics") or []:
            if t is None:
                topics.append(None)
            elif isinstance(t, list):
                topics.append({data(x, 32) for x in t} if t else None)
            else:
                topics.append({data(t, 32)})
        with self.chain.lock:
            if f.get("blockHash"):
                if "fromBlock" in f or "toBlock" in f:
                    raise ChainError(INVALID_PARAMS, "invalid params: blockHash excludes fromBlock/toBlock")
                mb = self.chain.by_hash.get(data(f["blockHash"], 32))
                if mb is None:
                    raise ChainError(-32000, "unknown block")
                blocks = [mb]
            else:
                lo = self._block(f.get("fromBlock", "latest"))
                hi = self._block(f.get("toBlock", "latest"))
                lo_n = lo.number if lo else self.chain.head.number + 1
                hi_n = hi.number if hi else self.chain.head.number
                if lo_n > hi_n:
                    return []
                blocks = self.chain.canon[lo_n:hi_n + 1]
            out = []
            for mb in blocks:
                if not any(r.logs for r in mb.receipts):
                    continue
                for rj in self._receipts_json(mb):
                    for log in rj["logs"]:
                        if addrs is not None and bytes.fromhex(log["address"][2:]) not in addrs:
                            continue
                        lt = [bytes.fromhex(t[2:]) for t in log["topics"]]
                        if any(want is not None and (i >= len(lt) or lt[i] not in want)
                               for i, want in enumerate(topics)):
                            continue
                        out.append(log)
            return out

    # -- raw (debug_) --

    def _raw_block(self, p: Params) -> MinedBlock:
        p.at_most(1)
        mb = self._block(p.get(0, lambda x: x, name="block"))
        if mb is None:
            raise ChainError(-32000, "block not found")
        return mb

    def rpc_debug_getRawHeader(self, p):
        with self.chain.lock:
            return d(rlp.encode(self._raw_block(p).header))

    def rpc_debug_getRawBlock(self, p):
        with self.chain.lock:
            return d(rlp.encode(self._raw_block(p).block))

    def rpc_debug_getRawReceipts(self, p):
        with self.chain.lock:
            return [d(_encode(r)) for r in self._raw_block(p).receipts]

    def rpc_debug_getRawTransaction(self, p):
        p.at_most(1)
        h = p.get(0, lambda x: data(x, 32), name="transactionHash")
        with self.chain.lock:
            loc = self.chain.tx_index.get(h)
            return d(_encode(loc[0].block.transactions[loc[1]])) if loc else None

    # -- dev controls (anvil / hardhat names) --

    def rpc_evm_mine(self, p):
        p.at_most(1)
        arg = p.get(0, lambda x: x, None)
        ts = None
        if isinstance(arg, dict):  # hardhat accepts {timestamp, blocks}
            count = quantity(arg.get("blocks", 1))
            ts = quantity(arg["timestamp"]) if arg.get("timestamp") is not None else None
            self.chain.mine(count, timestamp=ts)
        else:
            self.chain.mine(1, timestamp=quantity(arg) if arg is not None else None)
        return "0x0"

    def rpc_anvil_mine(self, p):
        p.at_most(2)
        count = p.get(0, quantity, 1)
        interval = p.get(1, quantity, None)
        self.chain.mine(count, interval=interval)
        return None

    def rpc_evm_setAutomine(self, p):
        p.at_most(1)
        on = p.get(0, _bool, name="enabled")
        with self.chain.lock:
            self.chain.automine = on
            if on and self.chain.pool:
                self.chain.mine(1)  # as anvil: switching automine on flushes the pool
        return None

    def rpc_anvil_getAutomine(self, p):
        return self.chain.automine

    def rpc_evm_snapshot(self, p):
        return q(self.chain.snapshot())

    def rpc_evm_revert(self, p):
        p.at_most(1)
        return self.chain.revert(p.get(0, quantity, name="snapshot id"))

    def rpc_evm_increaseTime(self, p):
        p.at_most(1)
        return q(self.chain.increase_time(p.get(0, quantity, name="seconds")))

    def rpc_evm_setNextBlockTimestamp(self, p):
        p.at_most(1)
        self.chain.set_next_timestamp(p.get(0, quantity, name="timestamp"))
        return None

    def _reorg_args(self, p: Params):
        depth = p.get(0, quantity, name="depth")
        txs = p.get(1, lambda x: json_list(x, "a list of [rawTx, blockOffset] pairs"), [])
        pairs = []
        for item in txs:
            if not (isinstance(item, list) and len(item) == 2):
                raise _bad("[rawTx, blockOffset]", item)
            pairs.append((data(item[0]), quantity(item[1])))
        return depth, pairs

    def rpc_anvil_reorg(self, p):
        """anvil_reorg(depth, [[rawTx, blockOffset], ...]): same-height replacement branch."""
        p.at_most(2)
        depth, pairs = self._reorg_args(p)
        self.chain.reorg(depth, pairs)
        return None

    def rpc_devnet_reorg(self, p):
        """devnet_reorg(depth, [[rawTx, blockOffset], ...], extraBlocks): also reports the new head."""
        p.at_most(3)
        depth, pairs = self._reorg_args(p)
        extra = p.get(2, quantity, 0)
        r = self.chain.reorg(depth, pairs, extra)
        return {"depth": q(r["depth"]), "oldHead": d(r["oldHead"]), "newHead": d(r["newHead"]),
                "forkPoint": d(r["forkPoint"]), "newHeadNumber": q(self.chain.head.number)}


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _bad("true or false", v)
    return v


def _slot(v: Any) -> int:
    # Storage keys come as 32-byte data or as a quantity; both name the same slot.
    if isinstance(v, str) and v.startswith("0x") and len(v) == 66:
        return int(v, 16)
    n = quantity(v, "a storage key (32-byte hex or quantity)")
    if n >= 2**256:
        raise _bad("a storage key below 2**256", v)
    return n


def _reason_suffix(out: bytes) -> str:
    """Decode Error(string) the way geth words it: 'execution reverted: <reason>'."""
    if out[:4] == keccak(b"Error(string)")[:4] and len(out) >= 68:
        try:
            n = int.from_bytes(out[36:68], "big")
            return ": " + out[68:68 + n].decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - malformed reason: report without it
            return ""
    return ""


def _error(rid: Any, code: int, message: str, data_: Optional[str] = None) -> dict:
    err = {"code": code, "message": message}
    if data_ is not None:
        err["data"] = data_
    return {"jsonrpc": "2.0", "id": rid, "error": err}


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
