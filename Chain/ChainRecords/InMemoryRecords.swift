public import ChainCore
public import Synchronization

/// A `RecordReader` over records held in memory: for tests and benchmarks of the planes, which then run
/// their real checks without a synced LevelDB index. Set `content` to whatever the chain should say.
public final class InMemoryRecords: RecordReader {
    public struct Content: Sendable {
        public var head: IndexHead
        public var final: UInt64
        /// The head block's timestamp (unix seconds); 0 means unknown, as for a checkpoint head.
        public var headTimestamp: UInt64 = 0
        public var datasets: [Hash32: DatasetRecord] = [:]
        public var rentals: [DeLongEvent.RentalKey: RentalRecord] = [:]
        public var algorithms: [Hash32: AlgorithmRecord] = [:]
        public var measurements: [Hash32: MeasurementRecord] = [:]
        public var operators: [Address: OperatorRecord] = [:]
        public var privacySigner: SignerRecord?

        public init(head: IndexHead, final: UInt64) {
            self.head = head
            self.final = final
        }
    }

    public let content: Mutex<Content>

    public init(_ content: Content) { self.content = Mutex(content) }

    public func head() throws -> IndexHead { content.withLock { $0.head } }
    public func headTimestamp() throws -> UInt64 { content.withLock { $0.headTimestamp } }
    public func finalNumber() throws -> UInt64 { content.withLock { $0.final } }
    public func dataset(_ id: Hash32) throws -> DatasetRecord? { content.withLock { $0.datasets[id] } }
    public func rental(dataset: Hash32, consumer: Address) throws -> RentalRecord? {
        content.withLock { $0.rentals[DeLongEvent.RentalKey(datasetID: dataset, consumer: consumer)] }
    }
    public func algorithm(_ imageDigest: Hash32) throws -> AlgorithmRecord? {
        content.withLock { $0.algorithms[imageDigest] }
    }
    public func measurement(_ digest: Hash32) throws -> MeasurementRecord? {
        content.withLock { $0.measurements[digest] }
    }
    public func `operator`(_ address: Address) throws -> OperatorRecord? {
        content.withLock { $0.operators[address] }
    }
    public func privacySigner() throws -> SignerRecord? { content.withLock { $0.privacySigner } }
}
