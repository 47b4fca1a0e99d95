/// A 32-byte hash (Keccak-256 output, trie roots, block hashes).
public struct Hash32: Hashable, Sendable, Comparable, CustomStringConvertible {
    // Four words in memory order: byte i of the hash is byte i of this storage.
    @usableFromInline var w0, w1, w2, w3: UInt64

    /// The hash whose words are Keccak state lanes 0–3 (little-endian lanes, as Keccak defines them).
    @inlinable
    init(lanes l0: UInt64, _ l1: UInt64, _ l2: UInt64, _ l3: UInt64) {
        w0 = l0.littleEndian
        w1 = l1.littleEndian
        w2 = l2.littleEndian
        w3 = l3.littleEndian
    }

    /// The all-zero hash.
    public static let zero = Hash32(lanes: 0, 0, 0, 0)

    /// A hash from exactly 32 bytes.
    public init(_ bytes: some Collection<UInt8>) throws(ChainError) {
        guard bytes.count == 32 else {
            throw ChainError(.invalidLength, "expected 32 bytes for a hash, found \(bytes.count)")
        }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        (w0, w1, w2, w3) = words
    }

    /// A hash from exactly 32 bytes at `raw` (the caller checked the count).
    @inline(__always)
    init(loading raw: UnsafeRawBufferPointer) {
        w0 = raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    /// A hash from "0x" + 64 hex digits.
    public init(hex: some StringProtocol) throws(ChainError) {
        let bytes = try Hex.decode(hex, count: 32)
        self = bytes.withUnsafeBytes { Hash32(loading: $0) }
    }

    /// The 32 bytes.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: (w0, w1, w2, w3)) { Array($0) }
    }

    /// "0x" + 64 hex digits.
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func < (a: Hash32, b: Hash32) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

extension Hash32 {
    /// keccak256(rlp("")): the root of an empty trie.
    public static let emptyTrieRoot = Keccak256.hash([0x80])
    /// keccak256(rlp([])): the ommers hash of a block with no ommers.
    public static let emptyListHash = Keccak256.hash([0xC0])
    /// keccak256(""): the code hash of an account without code.
    public static let emptyCodeHash = Keccak256.hash([UInt8]())
}
