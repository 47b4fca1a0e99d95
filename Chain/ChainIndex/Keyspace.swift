public import ChainCore

// The index's LevelDB keyspace: the only code that builds keys. Numbers are big-endian so that iteration
// follows block order; every family has a one-byte prefix.
//
//   "h" + number(8)                      -> blockHash(32) ‖ parentHash(32) ‖ timestamp(8)   indexed blocks
//   "u" + number(8)                      -> undo: RLP [[key, present(0/1), previousValue], …] for that block
//   "d" + datasetId(32)                  -> DatasetRecord
//   "r" + datasetId(32) + consumer(20)   -> RentalRecord
//   "c" + consumer(20) + datasetId(32)   -> ""   rentals by consumer
//   "p" + provider(20) + datasetId(32)   -> ""   datasets by provider
//   "a" + imageDigest(32)                -> AlgorithmRecord
//   "j" + jobId(32)                      -> JobRecord
//   "i" + imageDigest(32) + jobId(32)    -> ""   jobs by image digest
//   "m" + measurementDigest(32)          -> MeasurementRecord
//   "o" + operator(20)                   -> OperatorRecord
//   "PrivacySigner"                      -> SignerRecord
//   "Governance"                         -> SignerRecord
//   "IndexHead"                          -> number(8) ‖ hash(32)
//   "ConsensusState"                     -> the seal checker's state at the head (RLP; Clique: CliqueSnapshot),
//                                           written in the same batch as the head and undone with its block
//   "IndexConfig"                        -> RLP [chainId, dataMarket, algorithmRegistry, checkpointNumber, checkpointHash]

/// Keys of the index.
public enum Keyspace {
    public static let indexHead = Array("IndexHead".utf8)
    public static let indexConfig = Array("IndexConfig".utf8)
    public static let privacySigner = Array("PrivacySigner".utf8)
    public static let governance = Array("Governance".utf8)
    public static let consensusState = Array("ConsensusState".utf8)

    public static func block(_ number: UInt64) -> [UInt8] { [0x68] + be(number) }
    public static func undo(_ number: UInt64) -> [UInt8] { [0x75] + be(number) }
    public static func dataset(_ id: Hash32) -> [UInt8] { [0x64] + id.bytes }
    public static func rental(_ dataset: Hash32, _ consumer: Address) -> [UInt8] {
        [0x72] + dataset.bytes + consumer.bytes
    }
    public static func rentalsOfDataset(_ dataset: Hash32) -> [UInt8] { [0x72] + dataset.bytes }
    public static let rentals: [UInt8] = [0x72]
    public static func rentalByConsumer(_ consumer: Address, _ dataset: Hash32) -> [UInt8] {
        [0x63] + consumer.bytes + dataset.bytes
    }
    public static func rentalsOfConsumer(_ consumer: Address) -> [UInt8] { [0x63] + consumer.bytes }
    public static func datasetByProvider(_ provider: Address, _ dataset: Hash32) -> [UInt8] {
        [0x70] + provider.bytes + dataset.bytes
    }
    public static func datasetsOfProvider(_ provider: Address) -> [UInt8] { [0x70] + provider.bytes }
    public static let datasets: [UInt8] = [0x64]
    public static func algorithm(_ image: Hash32) -> [UInt8] { [0x61] + image.bytes }
    public static let algorithms: [UInt8] = [0x61]
    public static func job(_ id: Hash32) -> [UInt8] { [0x6A] + id.bytes }
    public static let jobs: [UInt8] = [0x6A]
    public static func jobByImage(_ image: Hash32, _ job: Hash32) -> [UInt8] { [0x69] + image.bytes + job.bytes }
    public static func jobsOfImage(_ image: Hash32) -> [UInt8] { [0x69] + image.bytes }
    public static func measurement(_ digest: Hash32) -> [UInt8] { [0x6D] + digest.bytes }
    public static let measurements: [UInt8] = [0x6D]
    public static func `operator`(_ address: Address) -> [UInt8] { [0x6F] + address.bytes }
    public static let operators: [UInt8] = [0x6F]

    /// Record families, for digests over the whole index (every family whose values are records).
    public static let recordPrefixes: [[UInt8]] = [
        datasets, rentals, algorithms, jobs, measurements, operators, privacySigner, governance,
    ]

    static func be(_ n: UInt64) -> [UInt8] { withUnsafeBytes(of: n.bigEndian) { Array($0) } }
    static func uint64(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }
}
