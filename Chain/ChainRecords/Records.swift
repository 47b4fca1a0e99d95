public import ChainCore

/// Where a record last changed: the block that carried the event. Records in blocks deeper than the
/// finality depth are final; the others are pending and can be rolled back by a reorg.
public struct RecordOrigin: Hashable, Sendable {
    public var blockNumber: UInt64
    public var blockHash: Hash32
    public var logIndex: UInt64
    public init(blockNumber: UInt64, blockHash: Hash32, logIndex: UInt64) {
        self.blockNumber = blockNumber
        self.blockHash = blockHash
        self.logIndex = logIndex
    }
}

/// A dataset offered on DataMarket.
public struct DatasetRecord: Hashable, Sendable {
    public var id: Hash32
    public var provider: Address
    public var manifestDigest: Hash32
    public var pricePerSecond: U256
    /// Exactly as emitted (need not be UTF-8).
    public var sampleLocatorText: ChainText
    /// Exactly as emitted (need not be UTF-8).
    public var metadataURIText: ChainText
    public var retired: Bool
    public var registered: RecordOrigin
    public var updated: RecordOrigin

    public init(
        id: Hash32,
        provider: Address,
        manifestDigest: Hash32,
        pricePerSecond: U256,
        sampleLocator: ChainText,
        metadataURI: ChainText,
        retired: Bool,
        registered: RecordOrigin,
        updated: RecordOrigin
    ) {
        self.id = id
        self.provider = provider
        self.manifestDigest = manifestDigest
        self.pricePerSecond = pricePerSecond
        self.sampleLocatorText = sampleLocator
        self.metadataURIText = metadataURI
        self.retired = retired
        self.registered = registered
        self.updated = updated
    }

    /// Display form (invalid UTF-8 shown as U+FFFD); `sampleLocatorText` holds the exact bytes.
    public var sampleLocator: String { sampleLocatorText.description }
    /// Display form (invalid UTF-8 shown as U+FFFD); `metadataURIText` holds the exact bytes.
    public var metadataURI: String { metadataURIText.description }
}

/// A consumer's rental of a dataset, as the latest of its events left it.
public struct RentalRecord: Hashable, Sendable {
    public enum Status: UInt8, Sendable {
        case active = 0
        case revoked = 1
    }
    public var datasetID: Hash32
    public var consumer: Address
    public var provider: Address
    /// Unix seconds, exactly as emitted (a uint256 in the contract).
    public var startedAtExact: U256
    /// Unix seconds, exactly as emitted: `rent(ds, 2**64)` on a free dataset gives a value above 64 bits.
    public var expiresAtExact: U256
    /// `startedAtExact`, saturated to `UInt64.max`.
    public var startedAt: UInt64 {
        get { startedAtExact.uint64 ?? .max }
        set { startedAtExact = U256(newValue) }
    }
    /// Unix seconds, saturated to `UInt64.max` (a time past 2^64 seconds never comes); the rental grants access
    /// while `expiresAt > now` and the status is `.active`.
    public var expiresAt: UInt64 {
        get { expiresAtExact.uint64 ?? .max }
        set { expiresAtExact = U256(newValue) }
    }
    /// Total paid over the rental's lifetime (start plus extensions), in wei.
    public var paid: U256
    public var status: Status
    /// Refunded on revocation, in wei.
    public var refund: U256
    public var updated: RecordOrigin

    /// Whether the rental grants access at `now` (unix seconds).
    public func isActive(at now: UInt64) -> Bool { status == .active && expiresAt > now }

    public init(
        datasetID: Hash32,
        consumer: Address,
        provider: Address,
        startedAt: UInt64,
        expiresAt: UInt64,
        paid: U256,
        status: Status,
        refund: U256,
        updated: RecordOrigin
    ) {
        self.datasetID = datasetID
        self.consumer = consumer
        self.provider = provider
        self.startedAtExact = U256(startedAt)
        self.expiresAtExact = U256(expiresAt)
        self.paid = paid
        self.status = status
        self.refund = refund
        self.updated = updated
    }
}

/// An algorithm published to the DA layer (AlgorithmRegistry).
public struct AlgorithmRecord: Hashable, Sendable {
    public var imageDigest: Hash32
    public var publisher: Address
    public var bundleDigest: Hash32
    /// Exactly as emitted (need not be UTF-8).
    public var daLocatorText: ChainText
    public var published: RecordOrigin

    /// Display form (invalid UTF-8 shown as U+FFFD); `daLocatorText` holds the exact bytes.
    public var daLocator: String { daLocatorText.description }

    public init(
        imageDigest: Hash32,
        publisher: Address,
        bundleDigest: Hash32,
        daLocator: ChainText,
        published: RecordOrigin
    ) {
        self.imageDigest = imageDigest
        self.publisher = publisher
        self.bundleDigest = bundleDigest
        self.daLocatorText = daLocator
        self.published = published
    }
}

/// A job recorded by a Computing Plane operator.
public struct JobRecord: Hashable, Sendable {
    public var job: DeLongEvent.JobFields
    public var recorded: RecordOrigin

    public init(job: DeLongEvent.JobFields, recorded: RecordOrigin) {
        self.job = job
        self.recorded = recorded
    }
}

/// A Computing Plane measurement on (or removed from) the allow-list.
public struct MeasurementRecord: Hashable, Sendable {
    public var digest: Hash32
    public var measurements: [UInt8]
    /// Exactly as emitted (need not be UTF-8).
    public var labelText: ChainText
    public var trusted: Bool
    public var updated: RecordOrigin

    /// Display form (invalid UTF-8 shown as U+FFFD); `labelText` holds the exact bytes.
    public var label: String { labelText.description }

    public init(digest: Hash32, measurements: [UInt8], label: ChainText, trusted: Bool, updated: RecordOrigin) {
        self.digest = digest
        self.measurements = measurements
        self.labelText = label
        self.trusted = trusted
        self.updated = updated
    }
}

/// A Computing Plane operator's authorization.
public struct OperatorRecord: Hashable, Sendable {
    public var address: Address
    public var authorized: Bool
    public var updated: RecordOrigin

    public init(address: Address, authorized: Bool, updated: RecordOrigin) {
        self.address = address
        self.authorized = authorized
        self.updated = updated
    }
}

/// The Privacy Plane signer or the governance address.
public struct SignerRecord: Hashable, Sendable {
    public var address: Address
    public var updated: RecordOrigin

    public init(address: Address, updated: RecordOrigin) {
        self.address = address
        self.updated = updated
    }
}

// MARK: Storage encoding (RLP lists; strict decoding rejects anything else)

/// How ChainIndex stores a record: one RLP list per value.
package protocol StoredRecord {
    var rlp: RLPItem { get }
    init(rlp: RLPItem) throws(ChainError)
}

extension StoredRecord {
    package var encoded: [UInt8] { rlp.encoded }
    package init(encoded: [UInt8]) throws(ChainError) { try self.init(rlp: RLPItem.decode(encoded)) }
}

private func fields(_ item: RLPItem, _ count: Int, _ what: String) throws(ChainError) -> [RLPItem] {
    let f = try item.list(what)
    guard f.count == count else { throw ChainError(.invalidRLP, "\(what): expected \(count) fields, found \(f.count)") }
    return f
}

/// Strings are stored as the exact bytes emitted (which need not be UTF-8).
private func text(_ item: RLPItem, _ what: String) throws(ChainError) -> ChainText {
    ChainText(bytes: try item.bytes(what))
}

private func flag(_ item: RLPItem, _ what: String) throws(ChainError) -> Bool {
    let v = try item.uint64(what)
    guard v <= 1 else { throw ChainError(.invalidRLP, "\(what): expected 0 or 1, found \(v)") }
    return v == 1
}

extension RecordOrigin: StoredRecord {
    package var rlp: RLPItem { .list([.uint(blockNumber), .hash(blockHash), .uint(logIndex)]) }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 3, "origin")
        self.init(
            blockNumber: try f[0].uint64("origin block"),
            blockHash: try f[1].hash32("origin hash"),
            logIndex: try f[2].uint64("origin log")
        )
    }
}

extension DatasetRecord: StoredRecord {
    package var rlp: RLPItem {
        .list([
            .hash(id), .address(provider), .hash(manifestDigest), .uint(pricePerSecond),
            .bytes(sampleLocatorText.bytes),
            .bytes(metadataURIText.bytes), .uint(UInt64(retired ? 1 : 0)), registered.rlp, updated.rlp,
        ])
    }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 9, "dataset")
        self.init(
            id: try f[0].hash32(),
            provider: try f[1].address(),
            manifestDigest: try f[2].hash32(),
            pricePerSecond: try f[3].u256(),
            sampleLocator: try text(f[4], "sampleLocator"),
            metadataURI: try text(f[5], "metadataURI"),
            retired: try flag(f[6], "retired"),
            registered: try RecordOrigin(rlp: f[7]),
            updated: try RecordOrigin(rlp: f[8])
        )
    }
}

extension RentalRecord: StoredRecord {
    package var rlp: RLPItem {
        .list([
            .hash(datasetID), .address(consumer), .address(provider), .uint(startedAtExact), .uint(expiresAtExact),
            .uint(paid),
            .uint(UInt64(status.rawValue)), .uint(refund), updated.rlp,
        ])
    }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 9, "rental")
        guard let status = Status(rawValue: UInt8(truncatingIfNeeded: try f[6].uint64("status"))) else {
            throw ChainError(.invalidRLP, "rental: unknown status")
        }
        self.init(
            datasetID: try f[0].hash32(),
            consumer: try f[1].address(),
            provider: try f[2].address(),
            startedAt: 0,
            expiresAt: 0,
            paid: try f[5].u256(),
            status: status,
            refund: try f[7].u256(),
            updated: try RecordOrigin(rlp: f[8])
        )
        startedAtExact = try f[3].u256()
        expiresAtExact = try f[4].u256()
    }
}

extension AlgorithmRecord: StoredRecord {
    package var rlp: RLPItem {
        .list([
            .hash(imageDigest), .address(publisher), .hash(bundleDigest), .bytes(daLocatorText.bytes), published.rlp,
        ])
    }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 5, "algorithm")
        self.init(
            imageDigest: try f[0].hash32(),
            publisher: try f[1].address(),
            bundleDigest: try f[2].hash32(),
            daLocator: try text(f[3], "daLocator"),
            published: try RecordOrigin(rlp: f[4])
        )
    }
}

extension JobRecord: StoredRecord {
    package var rlp: RLPItem {
        .list([
            .hash(job.jobID), .hash(job.datasetID), .address(job.consumer), .hash(job.imageDigest),
            .hash(job.outputDigest),
            .hash(job.attestationDigest), .address(job.operator), recorded.rlp,
        ])
    }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 8, "job")
        self.init(
            job: DeLongEvent.JobFields(
                jobID: try f[0].hash32(),
                datasetID: try f[1].hash32(),
                consumer: try f[2].address(),
                imageDigest: try f[3].hash32(),
                outputDigest: try f[4].hash32(),
                attestationDigest: try f[5].hash32(),
                operator: try f[6].address()
            ),
            recorded: try RecordOrigin(rlp: f[7])
        )
    }
}

extension MeasurementRecord: StoredRecord {
    package var rlp: RLPItem {
        .list([
            .hash(digest), .bytes(measurements), .bytes(labelText.bytes), .uint(UInt64(trusted ? 1 : 0)), updated.rlp,
        ])
    }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 5, "measurement")
        self.init(
            digest: try f[0].hash32(),
            measurements: try f[1].bytes(),
            label: try text(f[2], "label"),
            trusted: try flag(f[3], "trusted"),
            updated: try RecordOrigin(rlp: f[4])
        )
    }
}

extension OperatorRecord: StoredRecord {
    package var rlp: RLPItem { .list([.address(address), .uint(UInt64(authorized ? 1 : 0)), updated.rlp]) }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 3, "operator")
        self.init(
            address: try f[0].address(),
            authorized: try flag(f[1], "authorized"),
            updated: try RecordOrigin(rlp: f[2])
        )
    }
}

extension SignerRecord: StoredRecord {
    package var rlp: RLPItem { .list([.address(address), updated.rlp]) }
    package init(rlp: RLPItem) throws(ChainError) {
        let f = try fields(rlp, 2, "signer")
        self.init(address: try f[0].address(), updated: try RecordOrigin(rlp: f[1]))
    }
}
