/// The fork parameters header checks need: when London starts, and the blob schedule of each fork from
/// Cancun on (EIP-4844, EIP-7691, EIP-7892 blob-parameter-only forks), with Osaka's EIP-7918 reserve price.
public struct ChainSpec: Sendable, Hashable {
    /// Blob parameters in force from `timestamp` on.
    public struct BlobSchedule: Sendable, Hashable {
        public var timestamp: UInt64
        public var target: UInt64
        public var max: UInt64
        public var baseFeeUpdateFraction: UInt64
        public init(timestamp: UInt64, target: UInt64, max: UInt64, baseFeeUpdateFraction: UInt64) {
            self.timestamp = timestamp
            self.target = target
            self.max = max
            self.baseFeeUpdateFraction = baseFeeUpdateFraction
        }
    }

    public var chainID: UInt64
    /// First block with EIP-1559 base fees; nil if never.
    public var londonBlock: UInt64?
    /// Blob schedules, ascending by timestamp; empty before Cancun.
    public var blobSchedules: [BlobSchedule]
    /// First timestamp of Osaka (EIP-7918 blob reserve price); nil if not scheduled.
    public var osakaTime: UInt64?

    public init(chainID: UInt64, londonBlock: UInt64?, blobSchedules: [BlobSchedule], osakaTime: UInt64?) {
        self.chainID = chainID
        self.londonBlock = londonBlock
        self.blobSchedules = blobSchedules.sorted { $0.timestamp < $1.timestamp }
        self.osakaTime = osakaTime
    }

    /// From a geth genesis `config` object (chainId, londonBlock, cancunTime…, blobSchedule).
    public init(gethConfig c: RPCJSON.Object) throws(ChainError) {
        func number(_ key: String) -> UInt64? {
            if let n = c[key] as? Int, n >= 0 { return UInt64(n) }
            if let s = c[key] as? String { return try? Hex.decodeUInt64(s) }
            return nil
        }
        guard let chainID = number("chainId") else {
            throw ChainError(.invalidJSON, "genesis config: expected a chainId")
        }
        let schedule = c["blobSchedule"] as? RPCJSON.Object ?? [:]
        var blobs: [BlobSchedule] = []
        for fork in ["cancun", "prague", "osaka", "bpo1", "bpo2", "bpo3", "bpo4", "bpo5"] {
            guard let time = number("\(fork)Time") else { continue }
            guard let p = schedule[fork] as? RPCJSON.Object, let t = p["target"] as? Int, let m = p["max"] as? Int,
                let f = p["baseFeeUpdateFraction"] as? Int
            else {
                throw ChainError(
                    .invalidJSON,
                    "genesis config: \(fork)Time is set but blobSchedule.\(fork) is missing or incomplete"
                )
            }
            blobs.append(
                BlobSchedule(timestamp: time, target: UInt64(t), max: UInt64(m), baseFeeUpdateFraction: UInt64(f))
            )
        }
        self.init(
            chainID: chainID,
            londonBlock: number("londonBlock"),
            blobSchedules: blobs,
            osakaTime: number("osakaTime")
        )
    }

    /// The blob schedule in force at `timestamp`, if Cancun has started.
    public func blobSchedule(at timestamp: UInt64) -> BlobSchedule? {
        blobSchedules.last { $0.timestamp <= timestamp }
    }

    public func isLondon(_ number: UInt64) -> Bool { londonBlock.map { number >= $0 } ?? false }
    public func isOsaka(_ timestamp: UInt64) -> Bool { osakaTime.map { timestamp >= $0 } ?? false }
}
