/// A 2048-bit log bloom filter (Yellow Paper §4.3.1): three bits per address or topic.
public struct Bloom: Hashable, Sendable {
    /// The 256 bytes.
    public private(set) var bytes: [UInt8]

    /// The empty bloom.
    public init() { bytes = [UInt8](repeating: 0, count: 256) }

    /// A bloom from exactly 256 bytes.
    public init(_ bytes: [UInt8]) throws(ChainError) {
        guard bytes.count == 256 else {
            throw ChainError(.invalidLength, "expected a 256-byte bloom, found \(bytes.count) bytes")
        }
        self.bytes = bytes
    }

    /// Adds an address or topic.
    public mutating func insert(_ value: [UInt8]) {
        let h = Keccak256.hash(value).bytes
        for i in stride(from: 0, to: 6, by: 2) {
            let bit = (Int(h[i]) << 8 | Int(h[i + 1])) & 2047
            bytes[255 - bit / 8] |= 1 << UInt8(bit % 8)
        }
    }

    /// False only when `value` was certainly never inserted (blooms have no false negatives).
    public func mayContain(_ value: [UInt8]) -> Bool {
        let h = Keccak256.hash(value).bytes
        for i in stride(from: 0, to: 6, by: 2) {
            let bit = (Int(h[i]) << 8 | Int(h[i + 1])) & 2047
            if bytes[255 - bit / 8] & (1 << UInt8(bit % 8)) == 0 { return false }
        }
        return true
    }

    /// The union of two blooms.
    public mutating func formUnion(_ other: Bloom) {
        for i in 0..<256 { bytes[i] |= other.bytes[i] }
    }

    /// The bloom of a set of logs.
    public init(logs: [Log]) {
        self.init()
        for log in logs {
            insert(log.address.bytes)
            for topic in log.topics { insert(topic.bytes) }
        }
    }
}

/// An event log.
public struct Log: Hashable, Sendable {
    public var address: Address
    public var topics: [Hash32]
    public var data: [UInt8]

    public init(address: Address, topics: [Hash32], data: [UInt8]) {
        self.address = address
        self.topics = topics
        self.data = data
    }

    var rlp: RLPItem { .list([.address(address), .list(topics.map(RLPItem.hash)), .bytes(data)]) }

    init(rlp: RLPItem) throws(ChainError) {
        let f = try rlp.list("log")
        guard f.count == 3 else { throw ChainError(.invalidReceipt, "expected a log of 3 fields, found \(f.count)") }
        address = try f[0].address("log address")
        topics = try f[1].list("log topics").map { (t: RLPItem) throws(ChainError) -> Hash32 in
            try t.hash32("log topic")
        }
        data = try f[2].bytes("log data")
    }
}
