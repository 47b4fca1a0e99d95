public import ChainCore

/// Point and range queries over indexed records: what the planes read, through this protocol, without
/// linking LevelDB. Every record carries the block it came from, so a reader can tell final from pending.
public protocol RecordReader: Sendable {
    func head() throws -> IndexHead
    /// The head block's timestamp (unix seconds) from its verified header; 0 when the head is the checkpoint,
    /// whose header the index never saw. How old the index is: the planes refuse to act on a stale one.
    func headTimestamp() throws -> UInt64
    func finalNumber() throws -> UInt64
    func dataset(_ id: Hash32) throws -> DatasetRecord?
    func rental(dataset: Hash32, consumer: Address) throws -> RentalRecord?
    func algorithm(_ imageDigest: Hash32) throws -> AlgorithmRecord?
    func measurement(_ digest: Hash32) throws -> MeasurementRecord?
    /// A Computing Plane operator's authorization (AlgorithmRegistry's OperatorSet).
    func `operator`(_ address: Address) throws -> OperatorRecord?
    func privacySigner() throws -> SignerRecord?
}

/// The indexed chain tip.
public struct IndexHead: Hashable, Sendable {
    public var number: UInt64
    public var hash: Hash32
    public init(number: UInt64, hash: Hash32) {
        self.number = number
        self.hash = hash
    }
}

/// A record the index added or removed (by a reorg): which family, its key, and the block involved.
public struct RecordChange: Hashable, Sendable {
    public enum Family: String, Sendable {
        case dataset, rental, algorithm, job, measurement, `operator`, privacySigner, governance
    }
    public let family: Family
    /// The record's LevelDB key (family prefix + id), as ChainIndex's `Keyspace` builds it.
    public let key: [UInt8]
    public let blockNumber: UInt64

    package init(family: Family, key: [UInt8], blockNumber: UInt64) {
        self.family = family
        self.key = key
        self.blockNumber = blockNumber
    }
}

/// What subscribers of the index are told, in commit order.
public enum IndexEvent: Hashable, Sendable {
    case recordAdded(RecordChange)
    /// A record's value was rolled back by a reorg (it now holds its pre-fork value, or is gone).
    case recordRemoved(RecordChange)
    case headAdvanced(head: IndexHead, final: UInt64)
}
