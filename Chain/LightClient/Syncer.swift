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
    /// JSON-RPC requests (HTTP requests: one per call or batch) and the calls they carried, this sync.
    public var rpcRequests: UInt64 = 0
    public var rpcCalls: UInt64 = 0
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
    let verifier: ChainVerifier
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
        self.verifier = ChainVerifier(
            spec: spec,
            watched: [index.config.contracts.dataMarket, index.config.contracts.algorithmRegistry]
        )
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
        let sentBefore = rpc.sent
        while true {
            let primary = rpc.endpoint
            do {
                try await pass(&state, to: target, progress: progress)
                let sent = rpc.sent
                state.rpcRequests = sent.requests - sentBefore.requests
                state.rpcCalls = sent.calls - sentBefore.calls
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
            let hashes = rpc.quorum > 1 ? headers.map(\.header.hash) : []
            switch await rpc.confirm(hashes, for: first...last, logger: logger) {
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
            // Verify (pure, ChainCore), then apply: the index takes only what the verifier built.
            let endpoint = rpc.endpoint
            let parent = (header: headHeader, hash: state.head.hash, number: state.head.number)
            let linked: LinkedHeaders
            do { linked = try verifier.link(headers, parent: parent, seal: clique) } catch {
                throw SyncFailure(error, endpoint: endpoint)
            }
            let receipts = try await fetchReceipts(linked.receiptsNeeded)
            let blocks: [VerifiedBlock]
            do { blocks = try verifier.verify(linked, receipts: receipts) } catch {
                throw SyncFailure(error, endpoint: endpoint)
            }
            if clique != nil { clique = linked.seal }
            state.receiptsFetched += UInt64(blocks.lazy.filter { $0.receipts != nil }.count)
            let events: Int
            do { events = try index.apply(blocks) } catch { throw failure(applying: error, endpoint: endpoint) }
            state.events += UInt64(events)
            state.blocks += UInt64(blocks.count)
            state.head = IndexHead(number: last, hash: blocks.last!.hash)
            headHeader = blocks.last?.header
            logger.debug(
                "indexed blocks",
                metadata: ["block.first": "\(first)", "block.last": "\(last)", "events.count": "\(state.events)"]
            )
            progress(state)
        }
    }

    /// A `.contractMismatch` from the index as the sync failure it is (logged loudly: no endpoint can fix it);
    /// any other index error as it is.
    private func failure(applying error: IndexError, endpoint: String) -> any Error {
        guard error.kind == .contractMismatch else { return error }
        let failure = SyncFailure(
            .contractMismatch,
            blockNumber: error.blockNumber ?? 0,
            field: "log \(error.logIndex ?? 0)",
            expected: "a DeLong event as the contract ABI lays it out",
            found: error.detail ?? error.reason,
            endpoint: endpoint
        )
        logger.error(
            "contract and ABI disagree: sync stops at this block",
            metadata: [
                "block.number": "\(failure.blockNumber)", "log.index": "\(error.logIndex ?? 0)", "error": "\(failure)",
            ]
        )
        return failure
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

    // MARK: Fetching

    /// Headers of `range` as served, each with the hash the endpoint claims (checked by the verifier).
    private func fetchHeaders(_ range: ClosedRange<UInt64>) async throws -> [ServedHeader] {
        let results = try await rpc.batch(range.map { .blockByNumber($0, fullTransactions: false) }, logger: logger)
        var out: [ServedHeader] = []
        out.reserveCapacity(results.count)
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
            do {
                let header = try RPCJSON.header(object)
                let claimed = try (object["hash"] as? String).map { (s: String) throws(ChainError) in try Hash32(hex: s)
                }
                out.append(ServedHeader(header: header, claimedHash: claimed))
            } catch {
                throw SyncFailure(
                    blockNumber: n,
                    field: "header",
                    expected: "a well-formed header",
                    found: error.reason,
                    endpoint: rpc.endpoint
                )
            }
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
