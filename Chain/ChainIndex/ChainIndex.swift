public import ChainCore
public import ChainRecords

/// A verified block's contribution to the index: its identity and the DeLong events its verified receipts hold.
/// Built by `apply` from a `VerifiedBlock` (which only ChainCore's verifier builds); internal, so no caller
/// outside the module can index a block that was not verified.
struct IndexedBlock: Sendable {
    var number: UInt64
    var hash: Hash32
    var parentHash: Hash32
    var timestamp: UInt64
    /// (log index within the block, event), in block order.
    var events: [(logIndex: UInt64, event: DeLongEvent)]
    /// The seal checker's state after this block (Clique: the signer set, recent signers and votes), stored with
    /// the head in the same batch; nil leaves the stored state as it is.
    var consensusState: [UInt8]?

    init(
        number: UInt64,
        hash: Hash32,
        parentHash: Hash32,
        timestamp: UInt64,
        events: [(logIndex: UInt64, event: DeLongEvent)],
        consensusState: [UInt8]? = nil
    ) {
        self.number = number
        self.hash = hash
        self.parentHash = parentHash
        self.timestamp = timestamp
        self.events = events
        self.consensusState = consensusState
    }

    /// The DeLong events of a verified block's receipts, with their log index in the block.
    init(_ block: VerifiedBlock, contracts: DeLongContracts) throws(IndexError) {
        var events: [(logIndex: UInt64, event: DeLongEvent)] = []
        var logIndex: UInt64 = 0
        for receipt in block.receipts ?? [] {
            for log in receipt.logs {
                do {
                    if let event = try contracts.decode(log) { events.append((logIndex, event)) }
                } catch {
                    // The receipts verified, so this is what the chain holds: the contract emitted a log its ABI
                    // cannot produce. Indexing past it would silently lose state.
                    throw IndexError(
                        kind: .contractMismatch,
                        reason: "block \(block.number) log \(logIndex): \(error.reason)",
                        blockNumber: block.number,
                        logIndex: logIndex,
                        detail: error.reason
                    )
                }
                logIndex += 1
            }
        }
        self.init(
            number: block.number,
            hash: block.hash,
            parentHash: block.parentHash,
            timestamp: block.timestamp,
            events: events,
            consensusState: block.consensusState
        )
    }
}

/// What the index was built for; opening it with another configuration is refused.
public struct IndexConfig: Hashable, Sendable {
    public var chainID: UInt64
    public var contracts: DeLongContracts
    public var checkpoint: IndexHead
    /// Blocks deeper than this below the head are final; undo data is kept only for the others.
    public var finalityDepth: UInt64

    public init(chainID: UInt64, contracts: DeLongContracts, checkpoint: IndexHead, finalityDepth: UInt64) {
        self.chainID = chainID
        self.contracts = contracts
        self.checkpoint = checkpoint
        self.finalityDepth = finalityDepth
    }

    var rlp: RLPItem {
        .list([
            .uint(chainID), .address(contracts.dataMarket), .address(contracts.algorithmRegistry),
            .uint(checkpoint.number), .hash(checkpoint.hash), .uint(finalityDepth),
        ])
    }

    init(stored: [UInt8]) throws(ChainError) {
        let f = try RLPItem.decode(stored).list("index config")
        guard f.count == 6 else { throw ChainError(.invalidRLP, "index config: expected 6 fields, found \(f.count)") }
        self.init(
            chainID: try f[0].uint64(),
            contracts: DeLongContracts(dataMarket: try f[1].address(), algorithmRegistry: try f[2].address()),
            checkpoint: IndexHead(number: try f[3].uint64(), hash: try f[4].hash32()),
            finalityDepth: try f[5].uint64()
        )
    }
}

/// An index failure with what was expected and what was found.
public struct IndexError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        case storage, configMismatch, notContiguous, corrupt
        /// A verified receipt holds a log of a DeLong contract that its ABI cannot produce.
        case contractMismatch
    }
    public let kind: Kind
    public let reason: String
    /// The block (and log) a `.contractMismatch` is about, and the decoder's reason.
    public var blockNumber: UInt64? = nil
    public var logIndex: UInt64? = nil
    public var detail: String? = nil
    public var description: String { reason }
}

/// DeLong's records in LevelDB, advanced one verified block at a time.
///
/// Each `apply` writes the block's records, its undo data and the new head in one atomic LevelDB batch, so a
/// crash at any moment leaves the index at some block boundary, and a restart resumes from `head()`.
/// `unwind` replays undo data to roll back a reorganized branch.
public final class ChainIndex: @unchecked Sendable {
    let db: LevelDB
    public let config: IndexConfig
    let broadcaster = IndexBroadcaster()

    /// Opens (or creates) the index at `path` for `config`.
    public init(path: String, config: IndexConfig) throws(IndexError) {
        do { db = try LevelDB(path: path) } catch { throw IndexError(kind: .storage, reason: "\(error)") }
        self.config = config
        let stored = try read(Keyspace.indexConfig)
        if let stored {
            guard stored == config.rlp.encoded else {
                throw IndexError(
                    kind: .configMismatch,
                    reason:
                        "the index at \(path) was built for another chain id, contract set, checkpoint or finality depth"
                )
            }
        } else {
            var batch = WriteBatch()
            batch.put(Keyspace.indexConfig, config.rlp.encoded)
            batch.put(Keyspace.indexHead, Keyspace.be(config.checkpoint.number) + config.checkpoint.hash.bytes)
            batch.put(
                Keyspace.block(config.checkpoint.number),
                config.checkpoint.hash.bytes + Hash32.zero.bytes + Keyspace.be(0)
            )
            try write(batch)
        }
    }

    /// Opens an existing index with the configuration it was built with (for read-only tools).
    public convenience init(existingAt path: String) throws(IndexError) {
        let db: LevelDB
        do { db = try LevelDB(path: path, createIfMissing: false) } catch {
            throw IndexError(kind: .storage, reason: "\(error)")
        }
        let raw: [UInt8]?
        do { raw = try db.get(Keyspace.indexConfig) } catch { throw IndexError(kind: .storage, reason: "\(error)") }
        guard let raw else { throw IndexError(kind: .corrupt, reason: "\(path) holds no DeLong index") }
        let config: IndexConfig
        do throws(ChainError) { config = try IndexConfig(stored: raw) } catch {
            throw IndexError(kind: .corrupt, reason: "index config: \(error.reason)")
        }
        try self.init(db: db, config: config)
    }

    init(db: LevelDB, config: IndexConfig) throws(IndexError) {
        self.db = db
        self.config = config
    }

    // MARK: Head

    /// The last indexed block.
    public func head() throws(IndexError) -> IndexHead {
        guard let raw = try read(Keyspace.indexHead), raw.count == 40 else {
            throw IndexError(kind: .corrupt, reason: "index head missing or malformed")
        }
        return IndexHead(number: Keyspace.uint64(raw[0..<8]), hash: try hash(raw[8..<40]))
    }

    /// The seal checker's state at the head (see `VerifiedBlock.consensusState`), nil when none was stored.
    public func consensusState() throws(IndexError) -> [UInt8]? { try read(Keyspace.consensusState) }

    /// The hash of indexed block `number`, while it is within the reorg window (or the checkpoint).
    public func blockHash(_ number: UInt64) throws(IndexError) -> Hash32? {
        guard let raw = try read(Keyspace.block(number)), raw.count >= 32 else { return nil }
        return try hash(raw[0..<32])
    }

    /// The newest final block number: `head - finalityDepth` (never below the checkpoint).
    public func finalNumber() throws(IndexError) -> UInt64 {
        let h = try head().number
        return max(config.checkpoint.number, h >= config.finalityDepth ? h - config.finalityDepth : 0)
    }

    // MARK: Apply and unwind

    /// Indexes `blocks`, which must continue the head (each one's parent is the one before), in one atomic batch.
    /// Only verified blocks are accepted; their DeLong events are decoded here from their verified receipts.
    /// Returns how many events were indexed.
    @discardableResult
    public func apply(_ blocks: [VerifiedBlock]) throws(IndexError) -> Int {
        var indexed: [IndexedBlock] = []
        indexed.reserveCapacity(blocks.count)
        var events = 0
        for block in blocks {
            let b = try IndexedBlock(block, contracts: config.contracts)
            events += b.events.count
            indexed.append(b)
        }
        try apply(indexed: indexed)
        return events
    }

    func apply(indexed blocks: [IndexedBlock]) throws(IndexError) {
        guard !blocks.isEmpty else { return }
        var head = try head()
        var overlay = Overlay(index: self)
        for block in blocks {
            guard block.number == head.number + 1, block.parentHash == head.hash else {
                throw IndexError(
                    kind: .notContiguous,
                    reason:
                        "block \(block.number) (parent \(block.parentHash.hex)) does not continue the index head \(head.number) (\(head.hash.hex))"
                )
            }
            overlay.beginBlock(block.number)
            for (logIndex, event) in block.events {
                try overlay.apply(
                    event,
                    origin: RecordOrigin(blockNumber: block.number, blockHash: block.hash, logIndex: logIndex)
                )
            }
            if let state = block.consensusState { try overlay.put(Keyspace.consensusState, state) }
            overlay.batch.put(Keyspace.undo(block.number), overlay.undoRecord())
            overlay.batch.put(
                Keyspace.block(block.number),
                block.hash.bytes + block.parentHash.bytes + Keyspace.be(block.timestamp)
            )
            // Undo data and block hashes below the finality window are never needed again.
            let window = config.finalityDepth + 1
            if block.number > config.checkpoint.number + window {
                overlay.batch.delete(Keyspace.undo(block.number - window))
                overlay.batch.delete(Keyspace.block(block.number - window))
            }
            head = IndexHead(number: block.number, hash: block.hash)
        }
        overlay.batch.put(Keyspace.indexHead, Keyspace.be(head.number) + head.hash.bytes)
        try write(overlay.batch)
        broadcaster.publish(
            overlay.changes.map(IndexEvent.recordAdded) + [.headAdvanced(head: head, final: try finalNumber())]
        )
    }

    /// Rolls back every block above `number` (which must be within the reorg window), newest first, in one batch.
    public func unwind(to number: UInt64) throws(IndexError) {
        let head = try head()
        guard number < head.number else { return }
        guard number >= config.checkpoint.number, head.number - number <= config.finalityDepth else {
            throw IndexError(
                kind: .notContiguous,
                reason:
                    "cannot unwind to \(number): only the last \(config.finalityDepth) blocks above \(head.number - min(head.number, config.finalityDepth)) can be rolled back"
            )
        }
        var batch = WriteBatch()
        var removed: [RecordChange] = []
        for n in stride(from: head.number, to: number, by: -1) {
            guard let raw = try read(Keyspace.undo(n)) else {
                throw IndexError(kind: .corrupt, reason: "undo data for block \(n) is missing")
            }
            let entries: [RLPItem]
            do { entries = try RLPItem.decode(raw).list("undo") } catch {
                throw IndexError(kind: .corrupt, reason: "undo data for block \(n): \(error.reason)")
            }
            for entry in entries {
                do {
                    let f = try entry.list("undo entry")
                    guard f.count == 3 else { throw ChainError(.invalidRLP, "expected 3 fields") }
                    let key = try f[0].bytes()
                    let present = try f[1].uint64() == 1
                    let value = try f[2].bytes()
                    if present { batch.put(key, value) } else { batch.delete(key) }
                    if let family = RecordChange.family(of: key) {
                        removed.append(RecordChange(family: family, key: key, blockNumber: n))
                    }
                } catch {
                    throw IndexError(kind: .corrupt, reason: "undo data for block \(n): \(error)")
                }
            }
            batch.delete(Keyspace.undo(n))
            batch.delete(Keyspace.block(n))
        }
        guard let hash = try blockHash(number) else {
            throw IndexError(kind: .corrupt, reason: "hash of block \(number) is missing")
        }
        batch.put(Keyspace.indexHead, Keyspace.be(number) + hash.bytes)
        try write(batch)
        broadcaster.publish(
            removed.map(IndexEvent.recordRemoved) + [
                .headAdvanced(head: IndexHead(number: number, hash: hash), final: try finalNumber())
            ]
        )
    }

    // MARK: Storage helpers

    func read(_ key: [UInt8]) throws(IndexError) -> [UInt8]? {
        do { return try db.get(key) } catch { throw IndexError(kind: .storage, reason: "\(error)") }
    }

    func scan(_ prefix: [UInt8], limit: Int = .max) throws(IndexError) -> [(key: [UInt8], value: [UInt8])] {
        do { return try db.scan(prefix: prefix, limit: limit) } catch {
            throw IndexError(kind: .storage, reason: "\(error)")
        }
    }

    private func write(_ batch: WriteBatch) throws(IndexError) {
        do { try db.write(batch, sync: true) } catch { throw IndexError(kind: .storage, reason: "\(error)") }
    }

    private func hash(_ bytes: ArraySlice<UInt8>) throws(IndexError) -> Hash32 {
        do { return try Hash32(bytes) } catch { throw IndexError(kind: .corrupt, reason: error.reason) }
    }
}

/// Pending writes of one `apply`: later events of the same batch see earlier ones, and the first value each
/// key had before the block is kept as its undo entry.
struct Overlay {
    let index: ChainIndex
    var batch = WriteBatch()
    private var pending: [[UInt8]: [UInt8]?] = [:]
    private var undo: [(key: [UInt8], previous: [UInt8]?)] = []
    private var touched: Set<[UInt8]> = []
    /// Records written, in order, for subscribers.
    var changes: [RecordChange] = []
    private var block: UInt64 = 0

    init(index: ChainIndex) { self.index = index }

    mutating func beginBlock(_ number: UInt64) {
        block = number
        undo = []
        touched = []
    }

    func undoRecord() -> [UInt8] {
        RLPItem.list(
            undo.map { .list([.bytes($0.key), .uint(UInt64($0.previous == nil ? 0 : 1)), .bytes($0.previous ?? [])]) }
        ).encoded
    }

    mutating func get(_ key: [UInt8]) throws(IndexError) -> [UInt8]? {
        if let p = pending[key] { return p }
        return try index.read(key)
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) throws(IndexError) {
        if let family = RecordChange.family(of: key) {
            changes.append(RecordChange(family: family, key: key, blockNumber: block))
        }
        if !touched.contains(key) {
            undo.append((key, try get(key)))
            touched.insert(key)
        }
        pending[key] = .some(value)
        batch.put(key, value)
    }

    mutating func record<R: StoredRecord>(_ key: [UInt8], as type: R.Type) throws(IndexError) -> R? {
        guard let raw = try get(key) else { return nil }
        do { return try R(encoded: raw) } catch {
            throw IndexError(kind: .corrupt, reason: "record at \(Hex.encode(key)): \(error.reason)")
        }
    }

    mutating func apply(_ event: DeLongEvent, origin: RecordOrigin) throws(IndexError) {
        switch event {
        case .datasetRegistered(let f):
            let r = DatasetRecord(
                id: f.datasetID,
                provider: f.provider,
                manifestDigest: f.manifestDigest,
                pricePerSecond: f.pricePerSecond,
                sampleLocator: f.sampleLocator,
                metadataURI: f.metadataURI,
                retired: false,
                registered: origin,
                updated: origin
            )
            try put(Keyspace.dataset(f.datasetID), r.encoded)
            try put(Keyspace.datasetByProvider(f.provider, f.datasetID), [])
        case .datasetUpdated(let f):
            var r =
                try record(Keyspace.dataset(f.datasetID), as: DatasetRecord.self)
                ?? DatasetRecord(
                    id: f.datasetID,
                    provider: f.provider,
                    manifestDigest: f.manifestDigest,
                    pricePerSecond: f.pricePerSecond,
                    sampleLocator: f.sampleLocator,
                    metadataURI: f.metadataURI,
                    retired: false,
                    registered: origin,
                    updated: origin
                )
            r.manifestDigest = f.manifestDigest
            r.pricePerSecond = f.pricePerSecond
            r.sampleLocatorText = f.sampleLocator
            r.metadataURIText = f.metadataURI
            r.updated = origin
            try put(Keyspace.dataset(f.datasetID), r.encoded)
        case .datasetRetired(let id, _):
            guard var r = try record(Keyspace.dataset(id), as: DatasetRecord.self) else { return }
            r.retired = true
            r.updated = origin
            try put(Keyspace.dataset(id), r.encoded)
        case .rentalStarted(let k, let provider, let startedAt, let expiresAt, let paid):
            var r = RentalRecord(
                datasetID: k.datasetID,
                consumer: k.consumer,
                provider: provider,
                startedAt: 0,
                expiresAt: 0,
                paid: paid,
                status: .active,
                refund: .zero,
                updated: origin
            )
            r.startedAtExact = startedAt
            r.expiresAtExact = expiresAt
            try put(Keyspace.rental(k.datasetID, k.consumer), r.encoded)
            try put(Keyspace.rentalByConsumer(k.consumer, k.datasetID), [])
        case .rentalExtended(let k, _, _, let expiresAt, let paid):
            guard var r = try record(Keyspace.rental(k.datasetID, k.consumer), as: RentalRecord.self) else { return }
            r.expiresAtExact = expiresAt
            let (sum, overflow) = r.paid.addingReportingOverflow(paid)
            r.paid = overflow ? .max : sum
            r.updated = origin
            try put(Keyspace.rental(k.datasetID, k.consumer), r.encoded)
        case .rentalRevoked(let k, _, let expiresAt, let refund):
            guard var r = try record(Keyspace.rental(k.datasetID, k.consumer), as: RentalRecord.self) else { return }
            r.expiresAtExact = expiresAt
            r.status = .revoked
            r.refund = refund
            r.updated = origin
            try put(Keyspace.rental(k.datasetID, k.consumer), r.encoded)
        case .earningsSettled, .withdrawal:
            return  // money movements change no access decision
        case .algorithmPublished(let image, let publisher, let bundle, let locator):
            let r = AlgorithmRecord(
                imageDigest: image,
                publisher: publisher,
                bundleDigest: bundle,
                daLocator: locator,
                published: origin
            )
            try put(Keyspace.algorithm(image), r.encoded)
        case .jobRecorded(let job):
            try put(Keyspace.job(job.jobID), JobRecord(job: job, recorded: origin).encoded)
            try put(Keyspace.jobByImage(job.imageDigest, job.jobID), [])
        case .measurementTrusted(let digest, let measurements, let label):
            let r = MeasurementRecord(
                digest: digest,
                measurements: measurements,
                label: label,
                trusted: true,
                updated: origin
            )
            try put(Keyspace.measurement(digest), r.encoded)
        case .measurementRevoked(let digest):
            var r =
                try record(Keyspace.measurement(digest), as: MeasurementRecord.self)
                ?? MeasurementRecord(digest: digest, measurements: [], label: "", trusted: false, updated: origin)
            r.trusted = false
            r.updated = origin
            try put(Keyspace.measurement(digest), r.encoded)
        case .operatorSet(let address, let authorized):
            try put(
                Keyspace.operator(address),
                OperatorRecord(address: address, authorized: authorized, updated: origin).encoded
            )
        case .privacySignerSet(_, let signer):
            try put(Keyspace.privacySigner, SignerRecord(address: signer, updated: origin).encoded)
        case .governanceTransferred(_, let governance):
            try put(Keyspace.governance, SignerRecord(address: governance, updated: origin).encoded)
        }
    }
}
