"""The devnet's chain: py-evm executes blocks; this module decides what the canonical chain is.

py-evm's own fork choice scores blocks by difficulty (or by height after the Merge), which cannot
express "replace the last N blocks with a different branch of the same height". So the devnet keeps
the canonical list itself and uses py-evm only to build, execute and finalize each block on top of a
parent it names. State tries, headers and receipt/transaction tries live in one in-memory AtomicDB;
they are content-addressed, so snapshots and reorgs only move the canonical pointer.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import rlp
from eth.chains.base import Chain
from eth.consensus.clique._utils import sign_block_header
from eth.consensus.clique.clique import configure_header as clique_configure_header
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3, ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth_utils import ValidationError
from eth.rlp.accounts import Account
from eth.vm.forks import CancunVM, LondonVM, ParisVM, PragueVM, ShanghaiVM
from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
from eth.vm.forks.prague.constants import (CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, HISTORY_STORAGE_ADDRESS,
                                           WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS)
from eth_utils import keccak
from trie import HexaryTrie

from .accounts import BALANCE, CLIQUE_SIGNER_INDEX, dev_accounts

FORKS = {
    "london": LondonVM,
    "paris": ParisVM,
    "shanghai": ShanghaiVM,
    "cancun": CancunVM,
    "prague": PragueVM,
}
POST_MERGE = {"paris", "shanghai", "cancun", "prague"}
WITHDRAWALS = {"shanghai", "cancun", "prague"}
BEACON_ROOT = {"cancun", "prague"}

GAS_LIMIT = 30_000_000
DETERMINISTIC_GENESIS_TIME = 1_700_000_000
CLIQUE_VANITY = 32
CLIQUE_SEAL = 65
CLIQUE_EPOCH = 30_000  # py-evm's and geth's default
# System contracts whose presence makes even an empty block change state (EIP-4788/2935/7002/7251).
SYSTEM_CONTRACTS = (BEACON_ROOTS_ADDRESS, HISTORY_STORAGE_ADDRESS, WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
                    CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS)


class ChainError(Exception):
    """An error the RPC layer reports as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Optional[str] = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclass
class MinedBlock:
    block: object  # py-evm block of the configured fork
    receipts: tuple
    senders: tuple  # canonical sender address per transaction (recovered once)
    total_difficulty: int

    @property
    def header(self):
        return self.block.header

    @property
    def hash(self) -> bytes:
        return self.block.header.hash

    @property
    def number(self) -> int:
        return self.block.header.block_number


@dataclass
class Snapshot:
    head: int
    automine: bool
    time_offset: int
    next_timestamp: Optional[int]
    pool: list = field(default_factory=list)


class DevChain:
    """A single-writer chain; every public method takes the lock, so RPC threads may share it."""

    def __init__(self, fork: str = "prague", chain_id: int = 31337, clique: bool = False,
                 deterministic: bool = False, accounts: int = 10):
        if fork not in FORKS:
            raise ValueError(f"unknown fork {fork!r}; expected one of {', '.join(FORKS)}")
        if clique and fork != "london":
            # py-evm can only seal Clique on pre-Merge headers.
            raise ValueError(f"--clique needs --fork london (Clique is a pre-Merge consensus), got {fork}")
        self.fork, self.chain_id, self.clique, self.deterministic = fork, chain_id, clique, deterministic
        self.lock = threading.RLock()
        derived = dev_accounts(max(accounts, CLIQUE_SIGNER_INDEX + 1))
        self.accounts = derived[:max(accounts, 1)]
        self.clique_signer = derived[CLIQUE_SIGNER_INDEX] if clique else None

        vm_class = FORKS[fork]
        if clique:
            # Clique: long extraData (vanity + seal), difficulty as given (not PoW's), and no block
            # or uncle rewards, as in geth. These are the settings py-evm's CliqueApplier uses.
            vm_class = vm_class.configure(extra_data_max_bytes=65535,
                                          configure_header=clique_configure_header,
                                          get_block_reward=staticmethod(int),
                                          get_uncle_reward=staticmethod(int))
        self.vm_class = vm_class
        self.post_merge = fork in POST_MERGE

        self.db = AtomicDB()
        chain_class = Chain.configure(__name__="DevnetChain", vm_configuration=((0, vm_class),),
                                      chain_id=chain_id)
        genesis_time = DETERMINISTIC_GENESIS_TIME if deterministic else int(time.time())
        params = {"gas_limit": GAS_LIMIT, "timestamp": genesis_time, "coinbase": ZERO_ADDRESS,
                  "difficulty": 0 if self.post_merge else 1, "nonce": b"\0" * 8}
        if clique:
            params["extra_data"] = (b"\0" * CLIQUE_VANITY + self.clique_signer.address
                                    + b"\0" * CLIQUE_SEAL)
        state = {a.address: {"balance": BALANCE, "nonce": 0, "code": b"", "storage": {}}
                 for a in self.accounts}
        self._py_chain = chain_class.from_genesis(self.db, params, state)
        self.chaindb = self._py_chain.chaindb
        genesis = self._py_chain.get_canonical_block_by_number(0)

        self.canon: list[MinedBlock] = []
        self.by_hash: dict[bytes, MinedBlock] = {}
        self.tx_index: dict[bytes, tuple[MinedBlock, int]] = {}
        self._append(MinedBlock(genesis, (), (), genesis.header.difficulty))

        self.automine = True
        self.pool: list = []  # pending transactions while automine is off
        self.time_offset = 0  # evm_increaseTime total
        self.pending_increase = 0  # evm_increaseTime not yet used: the next block is at least this far on
        self.next_timestamp: Optional[int] = None
        self.fast_empty = True  # see _build_empty; tests compare it against the full VM path
        self._empty_requests_hash: Optional[bytes] = None
        self._noop_cache: tuple = (None, False)
        self.snapshots: dict[int, Snapshot] = {}
        self.next_snapshot_id = 1
        self.reorg_count = 0

    # ---- canonical chain bookkeeping -------------------------------------------------------

    @property
    def head(self) -> MinedBlock:
        return self.canon[-1]

    def _append(self, mb: MinedBlock) -> None:
        self.canon.append(mb)
        self.by_hash[mb.hash] = mb
        for i, tx in enumerate(mb.block.transactions):
            self.tx_index[tx.hash] = (mb, i)

    def _truncate(self, number: int) -> list[MinedBlock]:
        """Drop every canonical block above `number`; returns the dropped blocks."""
        dropped = self.canon[number + 1:]
        del self.canon[number + 1:]
        for mb in dropped:
            for tx in mb.block.transactions:
                self.tx_index.pop(tx.hash, None)
        return dropped

    # ---- block production ------------------------------------------------------------------

    def _peek_timestamp(self, parent: MinedBlock) -> int:
        """Next block's time: wall clock + offset, or parent + 1 when --deterministic.

        evm_increaseTime(s) guarantees the next block is at least s after its parent, even when
        fast mining has run the chain ahead of the clock.
        """
        ph = parent.header
        if self.next_timestamp is not None:
            ts = self.next_timestamp
        elif self.deterministic:
            ts = ph.timestamp + 1 + self.pending_increase
        else:
            ts = max(int(time.time()) + self.time_offset, ph.timestamp + self.pending_increase)
        return max(ts, ph.timestamp + 1)

    def _timestamp_for(self, parent: MinedBlock) -> int:
        ts = self._peek_timestamp(parent)
        if self.next_timestamp is not None:
            # An explicit timestamp moves the clock (as in Hardhat): later blocks continue from it.
            self.time_offset = ts - int(time.time())
            self.next_timestamp = None
        self.pending_increase = 0
        return ts

    def _header_fields(self, ph, timestamp: int, vanity: bytes) -> dict:
        fields = {"timestamp": timestamp, "gas_limit": ph.gas_limit, "coinbase": ZERO_ADDRESS}
        if self.clique:
            # Single signer, always in turn: difficulty 2; seal space reserved, filled in _build.
            # Epoch checkpoints list the signer set between vanity and seal (EIP-225).
            signers = self.clique_signer.address if (ph.block_number + 1) % CLIQUE_EPOCH == 0 else b""
            fields.update(difficulty=2, nonce=b"\0" * 8, mix_hash=b"\0" * 32,
                          extra_data=vanity.ljust(CLIQUE_VANITY, b"\0") + signers + b"\0" * CLIQUE_SEAL)
        else:
            fields["extra_data"] = vanity
        if self.post_merge:
            # Stand-ins for the beacon chain's randomness and root: derived, so runs are repeatable.
            fields["mix_hash"] = keccak(ph.hash + b"prevRandao" + vanity)
        if self.fork in BEACON_ROOT:
            fields["parent_beacon_block_root"] = keccak(ph.hash + b"beaconRoot" + vanity)
        return fields

    def _empty_is_noop(self, parent: MinedBlock) -> bool:
        """True when an empty block cannot change state, so its header can be derived directly.

        Post-Merge there is no block reward; the coinbase is touched with 0 wei, which changes nothing
        (EIP-161 leaves no empty accounts behind, and genesis has none); and the system-contract
        calls run only when their code is deployed. Cached per state root: empty blocks keep it.
        """
        if not (self.fast_empty and self.post_merge):
            return False
        if self.fork == "prague" and self._empty_requests_hash is None:
            return False  # learn the empty-requests hash from one full build first
        root = parent.header.state_root
        if self._noop_cache[0] != root:
            self._noop_cache = (root, all(self.account(root, a).code_hash == EMPTY_SHA3 for a in SYSTEM_CONTRACTS))
        return self._noop_cache[1]

    def _build_empty(self, parent: MinedBlock, timestamp: int, vanity: bytes) -> MinedBlock:
        """An empty block without running the VM: ~5x faster; equal to the VM's (tested)."""
        header = self.vm_class.create_header_from_parent(parent.header, **self._header_fields(
            parent.header, timestamp, vanity))
        if self.fork == "prague":
            header = header.copy(requests_hash=self._empty_requests_hash)
        body = {"header": header, "transactions": (), "uncles": ()}
        if self.fork in WITHDRAWALS:
            body["withdrawals"] = ()
        block = self.vm_class.get_block_class()(**body)
        self.db[block.hash] = rlp.encode(block.header)
        return MinedBlock(block, (), (), parent.total_difficulty)

    def _build(self, parent: MinedBlock, txs: list, timestamp: int, vanity: bytes = b"",
               empty_noop: Optional[bool] = None) -> MinedBlock:
        """Execute `txs` on top of `parent` and return the finalized (and sealed) block."""
        if not txs and (empty_noop if empty_noop is not None else self._empty_is_noop(parent)):
            return self._build_empty(parent, timestamp, vanity)
        base = self.vm_class.create_header_from_parent(parent.header, **self._header_fields(
            parent.header, timestamp, vanity))
        vm = self._py_chain.get_vm(base)
        body = {"header": base, "transactions": tuple(txs), "uncles": ()}
        if self.fork in WITHDRAWALS:
            body["withdrawals"] = ()
        template = vm.get_block_class()(**body)
        block = vm.import_block(template).block
        if self.clique:
            block = block.copy(header=sign_block_header(block.header, self.clique_signer.private_key))
        # Children look their parent up by hash (header validation, BLOCKHASH).
        self.db[block.hash] = rlp.encode(block.header)
        if not txs and self.fork == "prague":
            self._empty_requests_hash = block.header.requests_hash
        receipts = tuple(block.get_receipts(self.chaindb))
        senders = tuple(tx.sender for tx in block.transactions)
        return MinedBlock(block, receipts, senders, parent.total_difficulty + block.header.difficulty)

    def _mine_one(self, txs: list, vanity: bytes = b"", timestamp: Optional[int] = None) -> MinedBlock:
        parent = self.head
        ts = timestamp if timestamp is not None else self._timestamp_for(parent)
        mb = self._build(parent, txs, ts, vanity)
        self._append(mb)
        return mb

    def _mine_pool(self) -> MinedBlock:
        txs, self.pool = self.pool, []
        ts = self._timestamp_for(self.head)
        try:
            return self._mine_one(txs, timestamp=ts)
        except ValidationError:
            pass
        # Some pending transaction is invalid now: keep the largest valid prefix-by-prefix set.
        accepted = []
        for tx in txs:
            try:
                self._build(self.head, accepted + [tx], ts)
                accepted.append(tx)
            except ValidationError:
                continue
        return self._mine_one(accepted, timestamp=ts)

    def mine(self, count: int = 1, interval: Optional[int] = None, timestamp: Optional[int] = None) -> int:
        with self.lock:
            for i in range(count):
                if timestamp is not None and i == 0:
                    if timestamp <= self.head.header.timestamp:
                        raise ChainError(-32602, f"timestamp {timestamp} is not after the head's "
                                                 f"{self.head.header.timestamp}")
                    self.next_timestamp = timestamp
                elif interval is not None and i > 0:
                    self.next_timestamp = self.head.header.timestamp + interval
                self._mine_pool()
            return self.head.number

    # ---- transactions ----------------------------------------------------------------------

    def decode_transaction(self, raw: bytes):
        try:
            tx = self.vm_class.get_transaction_builder().decode(raw)
            tx.check_signature_validity()
            sender = tx.sender
        except Exception as e:  # noqa: BLE001 - any decoding failure is the client's fault
            raise ChainError(-32602, f"invalid raw transaction: {e}") from None
        type_id = getattr(tx, "type_id", None) or 0
        if type_id not in (0, 1, 2):
            # Blob and set-code transactions need blob sidecars / authorizations we do not serve.
            raise ChainError(-32000, f"transaction type {type_id} is not supported by this devnet (0, 1, 2 are)")
        tx_chain = getattr(tx, "chain_id", None)
        if tx_chain is not None and tx_chain != self.chain_id:
            raise ChainError(-32000, f"invalid chain id: transaction has {tx_chain}, chain is {self.chain_id}")
        return tx, sender

    def _precheck(self, tx, sender: bytes) -> None:
        """Reject what geth's pool would, with geth's wording, before executing anything."""
        head = self.head.header
        acct = self.account(head.state_root, sender)
        pending = sum(1 for p in self.pool if p.sender == sender)
        if tx.nonce < acct.nonce + (pending if not self.automine else 0):
            raise ChainError(-32000, f"nonce too low: next nonce {acct.nonce}, tx nonce {tx.nonce}")
        if self.automine and tx.nonce > acct.nonce:
            raise ChainError(-32000, f"nonce too high: next nonce {acct.nonce}, tx nonce {tx.nonce} "
                                     "(automine is on, so gaps are never filled)")
        if tx.gas > head.gas_limit:
            raise ChainError(-32000, f"exceeds block gas limit: gas {tx.gas}, limit {head.gas_limit}")
        max_fee = getattr(tx, "max_fee_per_gas", None) or tx.gas_price
        next_base = self.next_base_fee()
        if max_fee < next_base:
            raise ChainError(-32000, f"max fee per gas less than block base fee: maxFeePerGas: {max_fee} "
                                     f"baseFee: {next_base}")
        cost = tx.gas * max_fee + tx.value
        if acct.balance < cost:
            raise ChainError(-32000, f"insufficient funds for gas * price + value: balance {acct.balance}, "
                                     f"tx cost {cost}")

    def send_raw_transaction(self, raw: bytes) -> bytes:
        with self.lock:
            tx, sender = self.decode_transaction(raw)
            if tx.hash in self.tx_index or any(p.hash == tx.hash for p in self.pool):
                return tx.hash  # idempotent resubmission, as geth answers "already known" harmlessly
            self._precheck(tx, sender)
            if not self.automine:
                self.pool.append(tx)
                return tx.hash
            try:
                self._mine_one([tx])
            except ValidationError as e:
                raise ChainError(-32000, f"transaction rejected: {e}") from None
            return tx.hash

    # ---- dev controls ----------------------------------------------------------------------

    def snapshot(self) -> int:
        with self.lock:
            sid = self.next_snapshot_id
            self.next_snapshot_id += 1
            self.snapshots[sid] = Snapshot(self.head.number, self.automine, self.time_offset,
                                           self.next_timestamp, list(self.pool))
            return sid

    def revert(self, sid: int) -> bool:
        """Hardhat semantics: go back to the snapshot and forget it and every later one."""
        with self.lock:
            snap = self.snapshots.get(sid)
            if snap is None:
                return False
            self._truncate(snap.head)
            self.automine, self.time_offset = snap.automine, snap.time_offset
            self.next_timestamp, self.pool = snap.next_timestamp, list(snap.pool)
            for k in [k for k in self.snapshots if k >= sid]:
                del self.snapshots[k]
            return True

    def increase_time(self, seconds: int) -> int:
        with self.lock:
            self.time_offset += seconds
            self.pending_increase += seconds
            return self.time_offset

    def set_next_timestamp(self, ts: int) -> None:
        with self.lock:
            if ts <= self.head.header.timestamp:
                raise ChainError(-32602, f"timestamp {ts} is not after the head's {self.head.header.timestamp}")
            self.next_timestamp = ts

    def reorg(self, depth: int, txs: list[tuple[bytes, int]], extra_blocks: int = 0) -> dict:
        """Drop the last `depth` blocks and mine `depth + extra_blocks` different ones in their place.

        `txs` are (raw signed transaction, block offset in the new branch) pairs, as in anvil_reorg.
        The dropped blocks' transactions are discarded, not re-queued. New blocks carry a marker in
        extraData, so even empty ones get new hashes.
        """
        with self.lock:
            if depth < 1 or depth > self.head.number:
                raise ChainError(-32602, f"reorg depth must be 1..{self.head.number} (head), got {depth}")
            new_len = depth + extra_blocks
            decoded = []
            for raw, offset in txs:
                if not 0 <= offset < new_len:
                    raise ChainError(-32602, f"block offset {offset} outside the new branch 0..{new_len - 1}")
                decoded.append((self.decode_transaction(raw)[0], offset))
            old_head = self.head
            fork_point = old_head.number - depth
            old_times = [mb.header.timestamp for mb in self.canon[fork_point + 1:]]
            dropped = self._truncate(fork_point)
            self.reorg_count += 1
            vanity = f"reorg {self.reorg_count}".encode()
            try:
                for i in range(new_len):
                    ts = old_times[i] if i < len(old_times) else self._timestamp_for(self.head)
                    ts = max(ts, self.head.header.timestamp + 1)
                    self._mine_one([tx for tx, off in decoded if off == i], vanity, timestamp=ts)
            except ValidationError as e:
                # Put the old branch back so a bad request leaves the chain as it was.
                self._truncate(fork_point)
                for mb in dropped:
                    self._append(mb)
                raise ChainError(-32000, f"reorg transaction rejected: {e}") from None
            return {"depth": depth, "oldHead": old_head.hash, "newHead": self.head.hash,
                    "forkPoint": self.canon[fork_point].hash}

    # ---- reads -----------------------------------------------------------------------------

    def next_base_fee(self) -> int:
        h = self.head.header
        probe = self.vm_class.create_header_from_parent(h, timestamp=h.timestamp + 1, gas_limit=h.gas_limit,
                                                        **({"difficulty": 2} if self.clique else {}))
        return probe.base_fee_per_gas

    def account(self, state_root: bytes, address: bytes) -> Account:
        raw = HexaryTrie(self.db, state_root).get(keccak(address))
        if not raw:
            return Account(0, 0, BLANK_ROOT_HASH, EMPTY_SHA3)
        return rlp.decode(raw, sedes=Account)

    def code(self, state_root: bytes, address: bytes) -> bytes:
        code_hash = self.account(state_root, address).code_hash
        return b"" if code_hash == EMPTY_SHA3 else self.db[code_hash]

    def storage(self, state_root: bytes, address: bytes, slot: int) -> int:
        acct = self.account(state_root, address)
        raw = HexaryTrie(self.db, acct.storage_root).get(keccak(slot.to_bytes(32, "big")))
        return rlp.decode(raw, sedes=rlp.sedes.big_endian_int) if raw else 0

    def proof(self, state_root: bytes, address: bytes, slots: list[int]) -> dict:
        """EIP-1186: the account's path from stateRoot and each slot's path from its storage root."""
        acct = self.account(state_root, address)
        account_proof = HexaryTrie(self.db, state_root).get_proof(keccak(address))
        storage_trie = HexaryTrie(self.db, acct.storage_root)
        storage = []
        for slot in slots:
            key = keccak(slot.to_bytes(32, "big"))
            raw = storage_trie.get(key)
            value = rlp.decode(raw, sedes=rlp.sedes.big_endian_int) if raw else 0
            nodes = storage_trie.get_proof(key) if acct.storage_root != BLANK_ROOT_HASH else ()
            storage.append((slot, value, [rlp.encode(n) for n in nodes]))
        return {"account": acct, "accountProof": [rlp.encode(n) for n in account_proof], "storage": storage}

    def _state_at(self, mb: MinedBlock, pending: bool = False):
        """A throwaway state after block `mb`.

        By default in `mb`'s own context (number, time), as geth's eth_call. With `pending` (only
        for the head) in the context of the block that would be mined next, honouring
        evm_setNextBlockTimestamp, so estimates fit the block the transaction will land in.
        """
        header = mb.header
        if pending:
            ts = self._peek_timestamp(mb)
            header = self.vm_class.create_header_from_parent(header, **self._header_fields(header, ts, b""))
        vm = self._py_chain.get_vm(header)
        # Calls pay no gas: lift the block gas limit and the base fee (geth's NoBaseFee does the same).
        ctx = header.copy(gas_limit=max(header.gas_limit, 2**63 - 1), base_fee_per_gas=0)
        return vm.build_state(self.db, ctx, vm.chain_context, vm.get_prev_hashes(ctx.parent_hash, self.chaindb))

    def call(self, mb: MinedBlock, tx, pending: bool = False):
        """Execute without charging gas; the returned computation says whether it reverted."""
        return self._state_at(mb, pending).costless_execute_transaction(tx)

    def estimate_gas(self, mb: MinedBlock, tx, pending: bool = False) -> int:
        return self._py_chain.gas_estimator(self._state_at(mb, pending), tx)
