public import ChainCore
public import ChainIndex
public import ChainRecords
import Foundation
public import Logging

/// How block producers are checked beyond the hash chain.
public enum SealPolicy: Sendable {
    /// No seal check: the hash chain from the checkpoint (and the finality depth) is the only defence.
    case none
    /// Clique (EIP-225): the signer set comes from the checkpoint header's extraData and is refreshed at each
    /// epoch header synced through. A restart re-reads it from the checkpoint, so a signer-set change between
    /// the checkpoint and the head fails closed until a newer checkpoint is configured.
    case clique(epoch: UInt64)
}

/// Progress of one sync pass.
public struct SyncProgress: Sendable {
    public var head: IndexHead
    public var target: UInt64
    public var blocks: UInt64
    public var receiptsFetched: UInt64
    public var events: UInt64
    public var reorgs: UInt64
}

/// Moves the index forward through verified blocks only.
///
/// For each block: the header must hash to the hash the endpoint claims and link to the indexed parent, pass
/// the parent-only header checks when a chain spec is known, and — only if its logs bloom may contain a DeLong
/// contract (blooms have no false negatives) — have receipts whose trie root equals its receiptsRoot. Then its
/// DeLong events go into the index, a batch of blocks per LevelDB write. A parent mismatch is a reorg: the
/// syncer walks back to the fork point within the finality window and unwinds the index there.
public final class Syncer: Sendable {
    public let rpc: EndpointPool
    public let index: ChainIndex
    public let spec: ChainSpec?
    public let seal: SealPolicy
    /// Blocks fetched per JSON-RPC batch (and indexed per LevelDB write).
    public let batchSize: UInt64
    let logger: Logger

    public init(
        rpc: EndpointPool,
        index: ChainIndex,
        spec: ChainSpec?,
        seal: SealPolicy = .none,
        batchSize: UInt64 = 64,
        logger: Logger
    ) {
        self.rpc = rpc
        self.index = index
        self.spec = spec
        self.seal = seal
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// Syncs up to the endpoint's current head (or `target`), calling `progress` after each batch.
    @discardableResult
    public func sync(to target: UInt64? = nil, progress: (SyncProgress) -> Void = { _ in }) async throws -> SyncProgress
    {
        let head = try index.head()
        let goal: UInt64
        if let target {
            goal = target
        } else {
            goal = try Hex.decodeUInt64(
                try await expectString(rpc.call(.blockNumber, logger: logger), "eth_blockNumber")
            )
        }
        var signers: [Address] = []
        let clique: Bool
        if case .clique = seal { clique = true } else { clique = false }
        if head == index.config.checkpoint || clique {
            // Everything hangs off the checkpoint: it must be on the endpoint's chain.
            let checkpoint = index.config.checkpoint
            let object =
                try await rpc.call(.blockByNumber(checkpoint.number, fullTransactions: false), logger: logger)
                as? [String: Any]
            let served = try object.map { (o: [String: Any]) throws -> Header in try RPCJSON.header(o) }
            guard let served, served.hash == checkpoint.hash else {
                throw SyncFailure(
                    blockNumber: checkpoint.number,
                    field: "checkpoint",
                    expected: checkpoint.hash.hex,
                    found: served?.hash.hex ?? "no block",
                    endpoint: rpc.endpoint
                )
            }
            if clique {
                do { signers = try Clique.signers(checkpoint: served) } catch {
                    throw SyncFailure(
                        blockNumber: checkpoint.number,
                        field: "extraData (Clique signers)",
                        expected: "a signer list",
                        found: error.reason,
                        endpoint: rpc.endpoint
                    )
                }
            }
        }
        var state = SyncProgress(head: head, target: goal, blocks: 0, receiptsFetched: 0, events: 0, reorgs: 0)
        // The header of the index head, for the parent checks of the next block: fetched once per pass (and
        // after a reorg), then carried from batch to batch.
        var headHeader: Header? = nil
        var headHeaderKnown = false
        while state.head.number < goal {
            let first = state.head.number + 1
            let last = min(goal, first + batchSize - 1)
            let headers = try await fetchHeaders(first...last)
            if let disagreement = await rpc.confirm(headers.map(\.hash), for: first...last, logger: logger) {
                throw SyncFailure(
                    blockNumber: disagreement.block,
                    field: "hash (quorum of \(rpc.quorum))",
                    expected: "\(rpc.quorum) endpoints serving the same block",
                    found: disagreement.detail,
                    endpoint: rpc.endpoint
                )
            }
            // A first header that does not continue the index means the chain reorganized under us.
            if let h = headers.first, h.header.parentHash != state.head.hash {
                try await handleReorg(at: state.head)
                state.reorgs += 1
                state.head = try index.head()
                headHeaderKnown = false
                continue
            }
            if !headHeaderKnown {
                headHeader = try await parentHeaderIfNeeded(state.head)
                headHeaderKnown = true
            }
            var blocks: [IndexedBlock] = []
            var parent: (header: Header?, hash: Hash32) = (headHeader, state.head.hash)
            var needReceipts: [UInt64] = []
            for (header, hash) in headers {
                try check(header, hash: hash, parent: parent.header, parentHash: parent.hash)
                if case .clique(let epoch) = seal {
                    if let f = Clique.check(header, signers: signers).first {
                        throw SyncFailure(
                            blockNumber: header.number,
                            field: f.field,
                            expected: f.expected,
                            found: f.found,
                            endpoint: rpc.endpoint
                        )
                    }
                    if epoch > 0, header.number % epoch == 0, let next = try? Clique.signers(checkpoint: header) {
                        signers = next
                    }
                }
                if index.config.contracts.mayHaveEvents(header.logsBloom) { needReceipts.append(header.number) }
                parent = (header, hash)
            }
            let receipts = try await fetchReceipts(needReceipts)
            for (header, hash) in headers {
                var events: [(logIndex: UInt64, event: DeLongEvent)] = []
                if let list = receipts[header.number] {
                    let root = Receipts.root(list)
                    guard root == header.receiptsRoot else {
                        throw SyncFailure(
                            blockNumber: header.number,
                            field: "receiptsRoot",
                            expected: header.receiptsRoot.hex,
                            found: "\(root.hex) from the receipts served",
                            endpoint: rpc.endpoint
                        )
                    }
                    var logIndex: UInt64 = 0
                    for receipt in list {
                        for log in receipt.logs {
                            do {
                                if let event = try index.config.contracts.decode(log) {
                                    events.append((logIndex, event))
                                }
                            } catch {
                                // The receipts verified, so the endpoint served what the chain holds: the
                                // contract emitted a log its ABI cannot produce. Say so loudly; it is no value
                                // a user chose (every value the ABI allows decodes).
                                let failure = SyncFailure(
                                    .contractMismatch,
                                    blockNumber: header.number,
                                    field: "log \(logIndex)",
                                    expected: "a DeLong event as the contract ABI lays it out",
                                    found: error.reason,
                                    endpoint: rpc.endpoint
                                )
                                logger.error(
                                    "contract and ABI disagree: sync stops at this block",
                                    metadata: [
                                        "block.number": "\(header.number)", "log.index": "\(logIndex)",
                                        "error": "\(failure)",
                                    ]
                                )
                                throw failure
                            }
                            logIndex += 1
                        }
                    }
                    state.receiptsFetched += 1
                }
                state.events += UInt64(events.count)
                blocks.append(
                    IndexedBlock(
                        number: header.number,
                        hash: hash,
                        parentHash: header.parentHash,
                        timestamp: header.timestamp,
                        events: events
                    )
                )
            }
            try index.apply(blocks)
            state.blocks += UInt64(blocks.count)
            state.head = IndexHead(number: last, hash: blocks.last!.hash)
            headHeader = headers.last?.header
            logger.debug(
                "indexed blocks",
                metadata: ["block.first": "\(first)", "block.last": "\(last)", "events.count": "\(state.events)"]
            )
            progress(state)
        }
        return state
    }

    // MARK: Verification

    private func check(_ header: Header, hash: Hash32, parent: Header?, parentHash: Hash32) throws(SyncFailure) {
        guard header.parentHash == parentHash else {
            throw SyncFailure(
                blockNumber: header.number,
                field: "parentHash",
                expected: parentHash.hex,
                found: header.parentHash.hex,
                endpoint: rpc.endpoint
            )
        }
        if let parent {
            let failures = HeaderChecks.check(header, parent: parent, parentHash: parentHash, spec: spec)
            if let f = failures.first {
                throw SyncFailure(
                    blockNumber: header.number,
                    field: f.field,
                    expected: f.expected,
                    found: f.found,
                    endpoint: rpc.endpoint
                )
            }
        }
    }

    // MARK: Fetching

    /// Headers of `range`, each with the hash we computed; the endpoint's claimed hash must agree.
    private func fetchHeaders(_ range: ClosedRange<UInt64>) async throws -> [(header: Header, hash: Hash32)] {
        let results = try await rpc.batch(range.map { .blockByNumber($0, fullTransactions: false) }, logger: logger)
        var out: [(Header, Hash32)] = []
        for (n, result) in zip(range, results) {
            guard let object = result as? [String: Any] else {
                throw SyncFailure(
                    blockNumber: n,
                    field: "block",
                    expected: "a block object",
                    found: "\(type(of: result))",
                    endpoint: rpc.endpoint
                )
            }
            let header: Header
            do { header = try RPCJSON.header(object) } catch {
                throw SyncFailure(
                    blockNumber: n,
                    field: "header",
                    expected: "a well-formed header",
                    found: error.reason,
                    endpoint: rpc.endpoint
                )
            }
            let hash = header.hash
            guard header.number == n else {
                throw SyncFailure(
                    blockNumber: n,
                    field: "number",
                    expected: "\(n)",
                    found: "\(header.number)",
                    endpoint: rpc.endpoint
                )
            }
            if let claimed = object["hash"] as? String, claimed.lowercased() != hash.hex {
                throw SyncFailure(
                    blockNumber: n,
                    field: "hash",
                    expected: "keccak(rlp(header)) = \(hash.hex)",
                    found: claimed,
                    endpoint: rpc.endpoint
                )
            }
            out.append((header, hash))
        }
        return out
    }

    private func fetchReceipts(_ numbers: [UInt64]) async throws -> [UInt64: [Receipt]] {
        guard !numbers.isEmpty else { return [:] }
        let results = try await rpc.batch(numbers.map { .blockReceipts($0) }, logger: logger)
        var out: [UInt64: [Receipt]] = [:]
        for (n, result) in zip(numbers, results) {
            guard let list = result as? [[String: Any]] else {
                throw SyncFailure(
                    blockNumber: n,
                    field: "receipts",
                    expected: "an array of receipts",
                    found: "\(type(of: result))",
                    endpoint: rpc.endpoint
                )
            }
            do { out[n] = try list.map(RPCJSON.receipt) } catch {
                throw SyncFailure(
                    blockNumber: n,
                    field: "receipts",
                    expected: "well-formed receipts",
                    found: error.reason,
                    endpoint: rpc.endpoint
                )
            }
        }
        return out
    }

    /// The indexed head's header, for parent checks of the next block (nil at the checkpoint when the
    /// endpoint cannot serve it, e.g. a pruned node).
    private func parentHeaderIfNeeded(_ head: IndexHead) async throws -> Header? {
        guard
            let object = try await rpc.call(.blockByNumber(head.number, fullTransactions: false), logger: logger)
                as? [String: Any],
            let header = try? RPCJSON.header(object), header.hash == head.hash
        else { return nil }
        return header
    }

    /// Walks back from `head` to the newest block the endpoint still has on its canonical chain, and unwinds
    /// the index there. Refuses when the fork point is below the finality window.
    private func handleReorg(at head: IndexHead) async throws {
        let floor = try index.finalNumber()
        var n = head.number
        while n > floor {
            n -= 1
            guard let ours = try index.blockHash(n) else { break }
            let object =
                try await rpc.call(.blockByNumber(n, fullTransactions: false), logger: logger) as? [String: Any]
            let theirs = try object.map { (o: [String: Any]) throws -> Hash32 in try RPCJSON.header(o).hash }
            if theirs == ours {
                logger.info("reorg", metadata: ["block.number": "\(head.number)", "fork.point": "\(n)"])
                try index.unwind(to: n)
                return
            }
        }
        throw SyncFailure(
            blockNumber: head.number,
            field: "parentHash",
            expected: "a fork point within the last \(index.config.finalityDepth) blocks",
            found: "none: the endpoint's chain diverges at or below final block \(floor)",
            endpoint: rpc.endpoint
        )
    }

    private func expectString(_ value: Any, _ method: String) throws -> String {
        guard let s = value as? String else {
            throw RPCError(kind: .malformed, endpoint: rpc.endpoint, method: method, detail: "expected a string result")
        }
        return s
    }
}
