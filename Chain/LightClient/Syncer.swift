public import ChainCore
public import ChainIndex
public import ChainRecords
import Foundation
public import Logging

/// How block producers are checked beyond the hash chain.
public enum SealPolicy: Sendable {
    /// No seal check: the hash chain from the checkpoint (and the finality depth) is the only defence.
    case none
    /// Clique (EIP-225): the signer set starts from the checkpoint header's extraData and then changes only
    /// through votes, exactly as EIP-225 counts them; an epoch header must list the set the votes produced.
    /// A signer may seal at most one of any floor(N/2)+1 consecutive blocks. The set, its recent signers and
    /// the pending votes are kept in the index with the head (`CliqueSnapshot`), so a restart resumes them.
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
/// syncer walks back to the fork point within the finality window (each step confirmed by the quorum) and
/// unwinds the index there.
///
/// A pass that fails because an endpoint served something that does not verify, or because the endpoints
/// disagree, demotes the primary and is retried on the next endpoint, once per configured endpoint.
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
    ///
    /// A failed pass is retried with the next endpoint as the primary (the one that was primary is demoted),
    /// as many times as there are endpoints. A `.contractMismatch` is not retried: the verified chain holds it.
    @discardableResult
    public func sync(to target: UInt64? = nil, progress: (SyncProgress) -> Void = { _ in }) async throws -> SyncProgress
    {
        var state = SyncProgress(head: try index.head(), target: 0, blocks: 0, receiptsFetched: 0, events: 0, reorgs: 0)
        var attempt = 1
        while true {
            let primary = rpc.endpoint
            do {
                try await pass(&state, to: target, progress: progress)
                return state
            } catch let failure as SyncFailure where failure.kind != .contractMismatch {
                try retry(after: failure, primary: primary, attempt: &attempt)
            } catch let error as RPCError {
                // Every endpoint failed to answer (failover demoted each one); another round may still help.
                try retry(after: error, primary: primary, attempt: &attempt)
            }
        }
    }

    private func retry(after error: any Error, primary: String, attempt: inout Int) throws {
        // Rotate: the primary of a failed pass goes to the back (unless the pass already demoted it).
        if rpc.endpoint == primary { rpc.demote(primary, reason: "\(error)") }
        guard attempt < rpc.endpoints.count else { throw error }
        attempt += 1
        logger.warning(
            "sync pass failed; retrying with the next endpoint",
            metadata: ["error": "\(error)", "rpc.endpoint": "\(EndpointName.redacted(rpc.endpoint))"]
        )
    }

    private func pass(
        _ state: inout SyncProgress,
        to target: UInt64?,
        progress: (SyncProgress) -> Void
    ) async throws {
        state.head = try index.head()
        let goal: UInt64
        if let target {
            goal = target
        } else {
            goal = try Hex.decodeUInt64(
                try await expectString(rpc.call(.blockNumber, logger: logger), "eth_blockNumber")
            )
        }
        state.target = goal
        var clique = try await cliqueSnapshot(head: state.head)
        // The header of the index head, for the parent checks of the next block: fetched once per pass (and
        // after a reorg), then carried from batch to batch.
        var headHeader: Header? = nil
        var outvotes = 0
        while state.head.number < goal {
            let first = state.head.number + 1
            let last = min(goal, first + batchSize - 1)
            let headers = try await fetchHeaders(first...last)
            let primary = rpc.endpoint
            switch await rpc.confirm(headers.map(\.hash), for: first...last, logger: logger) {
            case .confirmed:
                outvotes = 0
            case .outvoted(let majority):
                // The majority serves other blocks: fetch them again from a majority endpoint.
                outvotes += 1
                guard outvotes < rpc.endpoints.count else {
                    throw SyncFailure(
                        .quorum,
                        blockNumber: first,
                        field: "hash (quorum of \(rpc.quorum))",
                        expected: "a stable majority",
                        found: "the primary was outvoted \(outvotes) times in a row, last by \(majority)",
                        endpoint: primary
                    )
                }
                headHeader = nil
                continue
            case .failed(let block, let detail):
                throw SyncFailure(
                    .quorum,
                    blockNumber: block,
                    field: "hash (quorum of \(rpc.quorum))",
                    expected: "\(rpc.quorum) endpoints serving the same block",
                    found: detail,
                    endpoint: rpc.endpoint
                )
            }
            // A first header that does not continue the index means the chain reorganized under us.
            if let h = headers.first, h.header.parentHash != state.head.hash {
                try await handleReorg(at: state.head)
                state.reorgs += 1
                state.head = try index.head()
                headHeader = nil
                clique = try await cliqueSnapshot(head: state.head)
                continue
            }
            if headHeader == nil { headHeader = try await parentHeader(state.head) }
            var blocks: [IndexedBlock] = []
            var parent: (header: Header?, hash: Hash32) = (headHeader, state.head.hash)
            var needReceipts: [UInt64] = []
            var snapshots: [UInt64: [UInt8]] = [:]
            for (header, hash) in headers {
                try check(header, hash: hash, parent: parent.header, parentHash: parent.hash)
                if var snapshot = clique {
                    if let f = snapshot.apply(header).first {
                        throw SyncFailure(
                            blockNumber: header.number,
                            field: f.field,
                            expected: f.expected,
                            found: f.found,
                            endpoint: rpc.endpoint
                        )
                    }
                    snapshots[header.number] = snapshot.encoded
                    clique = snapshot
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
                    events = try decodeEvents(list, block: header.number)
                    state.receiptsFetched += 1
                }
                state.events += UInt64(events.count)
                blocks.append(
                    IndexedBlock(
                        number: header.number,
                        hash: hash,
                        parentHash: header.parentHash,
                        timestamp: header.timestamp,
                        events: events,
                        consensusState: snapshots[header.number]
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
    }

    /// The DeLong events of verified receipts, with their log index in the block.
    private func decodeEvents(_ list: [Receipt], block: UInt64) throws -> [(logIndex: UInt64, event: DeLongEvent)] {
        var events: [(logIndex: UInt64, event: DeLongEvent)] = []
        var logIndex: UInt64 = 0
        for receipt in list {
            for log in receipt.logs {
                do {
                    if let event = try index.config.contracts.decode(log) { events.append((logIndex, event)) }
                } catch {
                    // The receipts verified, so the endpoint served what the chain holds: the contract emitted
                    // a log its ABI cannot produce. Say so loudly; it is no value a user chose (every value
                    // the ABI allows decodes).
                    let failure = SyncFailure(
                        .contractMismatch,
                        blockNumber: block,
                        field: "log \(logIndex)",
                        expected: "a DeLong event as the contract ABI lays it out",
                        found: error.reason,
                        endpoint: rpc.endpoint
                    )
                    logger.error(
                        "contract and ABI disagree: sync stops at this block",
                        metadata: ["block.number": "\(block)", "log.index": "\(logIndex)", "error": "\(failure)"]
                    )
                    throw failure
                }
                logIndex += 1
            }
        }
        return events
    }

    /// The Clique state at `head`: from the index, or (at the checkpoint) from the checkpoint header, which must
    /// be on the endpoint's chain. nil without Clique.
    private func cliqueSnapshot(head: IndexHead) async throws -> CliqueSnapshot? {
        let checkpoint = index.config.checkpoint
        guard case .clique(let epoch) = seal else {
            if head == checkpoint { _ = try await checkpointHeader() }
            return nil
        }
        if let stored = try index.consensusState() {
            do throws(ChainError) {
                let snapshot = try CliqueSnapshot(encoded: stored, epoch: epoch)
                guard snapshot.number == head.number else {
                    throw ChainError(.invalidValue, "snapshot at \(snapshot.number), head at \(head.number)")
                }
                return snapshot
            } catch {
                throw SyncFailure(
                    .checkpoint,
                    blockNumber: head.number,
                    field: "index (Clique signer state)",
                    expected: "the signer state of the indexed head",
                    found: error.reason,
                    endpoint: "-"
                )
            }
        }
        guard head == checkpoint else {
            throw SyncFailure(
                .checkpoint,
                blockNumber: head.number,
                field: "index (Clique signer state)",
                expected: "the signer state kept with the head",
                found: "none: this index was built without it; sync a new data directory from the checkpoint",
                endpoint: "-"
            )
        }
        let served = try await checkpointHeader()
        do { return try CliqueSnapshot(checkpoint: served, epoch: epoch) } catch {
            throw SyncFailure(
                .checkpoint,
                blockNumber: checkpoint.number,
                field: "extraData (Clique signers)",
                expected: "a signer list",
                found: error.reason,
                endpoint: rpc.endpoint
            )
        }
    }

    /// The checkpoint header as the endpoint serves it; everything hangs off it, so it must be on its chain.
    private func checkpointHeader() async throws -> Header {
        let checkpoint = index.config.checkpoint
        let object =
            try await rpc.call(.blockByNumber(checkpoint.number, fullTransactions: false), logger: logger)
            as? [String: Any]
        let served = try object.map { (o: [String: Any]) throws -> Header in try RPCJSON.header(o) }
        guard let served, served.hash == checkpoint.hash else {
            throw SyncFailure(
                .checkpoint,
                blockNumber: checkpoint.number,
                field: "checkpoint",
                expected: checkpoint.hash.hex,
                found: served?.hash.hex ?? "no block",
                endpoint: rpc.endpoint
            )
        }
        return served
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

    /// The indexed head's header, for the parent checks of the next block. It must be served and hash to the
    /// head's hash; otherwise the pass fails (a header that is not served cannot be skipped past).
    private func parentHeader(_ head: IndexHead) async throws -> Header {
        let object =
            try await rpc.call(.blockByNumber(head.number, fullTransactions: false), logger: logger) as? [String: Any]
        let header = object.flatMap { try? RPCJSON.header($0) }
        guard let header, header.hash == head.hash else {
            throw SyncFailure(
                blockNumber: head.number,
                field: "parent header",
                expected: "the indexed head's header, hashing to \(head.hash.hex)",
                found: header.map { "a header hashing to \($0.hash.hex)" } ?? "no header",
                endpoint: rpc.endpoint
            )
        }
        return header
    }

    /// Walks back from `head` to the newest block the endpoints still have on their canonical chain, and unwinds
    /// the index there. Every hash the walk compares is confirmed by the quorum (a primary alone cannot make
    /// the unwind deeper). Refuses when the fork point is below the finality window.
    private func handleReorg(at head: IndexHead) async throws {
        let floor = try index.finalNumber()
        var n = head.number
        while n > floor {
            n -= 1
            guard let ours = try index.blockHash(n) else { break }
            let object =
                try await rpc.call(.blockByNumber(n, fullTransactions: false), logger: logger) as? [String: Any]
            guard let theirs = object.flatMap({ try? RPCJSON.header($0).hash }) else {
                throw SyncFailure(
                    blockNumber: n,
                    field: "block",
                    expected: "a header (reorg walk-back)",
                    found: "none",
                    endpoint: rpc.endpoint
                )
            }
            let primary = rpc.endpoint
            switch await rpc.confirm([theirs], for: n...n, logger: logger) {
            case .confirmed: break
            case .outvoted(let majority):
                throw SyncFailure(
                    .quorum,
                    blockNumber: n,
                    field: "hash (reorg walk-back, quorum of \(rpc.quorum))",
                    expected: "the block the majority (\(majority)) serves",
                    found: "another block \(n) (\(theirs.hex))",
                    endpoint: primary
                )
            case .failed(let block, let detail):
                throw SyncFailure(
                    .quorum,
                    blockNumber: block,
                    field: "hash (reorg walk-back, quorum of \(rpc.quorum))",
                    expected: "\(rpc.quorum) endpoints serving the same block",
                    found: detail,
                    endpoint: rpc.endpoint
                )
            }
            if theirs == ours {
                logger.info("reorg", metadata: ["block.number": "\(head.number)", "fork.point": "\(n)"])
                try index.unwind(to: n)
                return
            }
        }
        throw SyncFailure(
            .deepReorg,
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
