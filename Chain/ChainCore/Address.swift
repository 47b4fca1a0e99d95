/// A 20-byte Ethereum account address.
public struct Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The 20 bytes.
    public let bytes: [UInt8]

    /// An address from exactly 20 bytes.
    public init(_ bytes: some Collection<UInt8>) throws(ChainError) {
        guard bytes.count == 20 else {
            throw ChainError(.invalidLength, "expected 20 bytes for an address, found \(bytes.count)")
        }
        self.bytes = Array(bytes)
    }

    /// Parses "0x" + 40 hex digits. Mixed-case input must carry a valid EIP-55 checksum;
    /// all-lower or all-upper input carries none and is accepted as is.
    public init(hex: some StringProtocol) throws(ChainError) {
        try self.init(Hex.decode(hex, count: 20))
        let digits = hex.hasPrefix("0x") || hex.hasPrefix("0X") ? Substring(hex).dropFirst(2) : Substring(hex)
        // The digits decoded as hex, so the only letters are a-f and A-F.
        var hasLower = false
        var hasUpper = false
        for c in digits.utf8 {
            if c >= 0x61 { hasLower = true } else if c >= 0x41 { hasUpper = true }
        }
        if hasLower && hasUpper && "0x" + digits != checksummed {
            throw ChainError(.invalidValue, "address \(hex) has an invalid EIP-55 checksum; expected \(checksummed)")
        }
    }

    /// The zero address.
    public static let zero = try! Address([UInt8](repeating: 0, count: 20))

    /// The address of a 64-byte uncompressed public key (x ‖ y): the last 20 bytes of its Keccak-256.
    public init(publicKey64 key: [UInt8]) throws(ChainError) {
        guard key.count == 64 else {
            throw ChainError(.invalidLength, "expected a 64-byte public key, found \(key.count) bytes")
        }
        try self.init(Keccak256.hash(key).bytes.suffix(20))
    }

    /// The EIP-55 mixed-case checksum form.
    public var checksummed: String {
        let lower = Hex.encode(bytes, prefix: false)
        let hash = Keccak256.hash(Array(lower.utf8)).bytes
        var out = "0x"
        for (i, c) in lower.enumerated() {
            let nibble = (hash[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0x0F
            out.append(nibble >= 8 ? Character(c.uppercased()) : c)
        }
        return out
    }

    /// Lower-case "0x…" hex.
    public var hex: String { Hex.encode(bytes) }
    public var description: String { checksummed }
    public static func < (a: Address, b: Address) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}
