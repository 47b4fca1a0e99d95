/// A Recursive Length Prefix item: a byte string or a list of items.
///
/// Decoding is strict: only the canonical encoding of an item is accepted (no leading zeros in lengths,
/// no long form for short payloads, no single byte below 0x80 wrapped as a string), and every byte of the
/// input must belong to exactly one item. Errors name the offset and what was expected.
public enum RLPItem: Hashable, Sendable {
    case bytes([UInt8])
    case list([RLPItem])

    /// Nesting beyond this is refused: no honest Ethereum structure comes close, and it bounds recursion.
    public static let maxDepth = 128

    /// An unsigned integer in RLP's scalar form (big-endian, no leading zeros; zero is the empty string).
    public static func uint(_ value: UInt64) -> RLPItem { .bytes(minimalBigEndian(value)) }
    /// A 256-bit unsigned integer in RLP's scalar form.
    public static func uint(_ value: U256) -> RLPItem { .bytes(value.minimalBytes) }
    /// A hash as a 32-byte string.
    public static func hash(_ value: Hash32) -> RLPItem { .bytes(value.bytes) }
    /// An address as a 20-byte string, or the empty string for `nil` (contract creation).
    public static func address(_ value: Address?) -> RLPItem { .bytes(value?.bytes ?? []) }

    // MARK: Encoding

    /// The canonical encoding.
    public var encoded: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(encodedLength)
        append(to: &out)
        return out
    }

    /// Length of the canonical encoding.
    public var encodedLength: Int {
        switch self {
        case .bytes(let b):
            if b.count == 1 && b[0] < 0x80 { return 1 }
            return Self.headerLength(b.count) + b.count
        case .list(let items):
            let payload = items.reduce(0) { $0 + $1.encodedLength }
            return Self.headerLength(payload) + payload
        }
    }

    /// Appends the canonical encoding to `out`.
    public func append(to out: inout [UInt8]) {
        switch self {
        case .bytes(let b):
            if b.count == 1 && b[0] < 0x80 {
                out.append(b[0])
            } else {
                Self.appendHeader(&out, length: b.count, shortBase: 0x80)
                out.append(contentsOf: b)
            }
        case .list(let items):
            let payload = items.reduce(0) { $0 + $1.encodedLength }
            Self.appendHeader(&out, length: payload, shortBase: 0xC0)
            for item in items { item.append(to: &out) }
        }
    }

    @inline(__always)
    static func headerLength(_ length: Int) -> Int {
        length < 56 ? 1 : 1 + minimalBigEndian(UInt64(length)).count
    }

    static func appendHeader(_ out: inout [UInt8], length: Int, shortBase: UInt8) {
        if length < 56 {
            out.append(shortBase + UInt8(length))
        } else {
            let len = minimalBigEndian(UInt64(length))
            out.append(shortBase + 55 + UInt8(len.count))
            out.append(contentsOf: len)
        }
    }

    // MARK: Decoding

    /// Decodes exactly one item that spans all of `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(ChainError) -> RLPItem {
        var reader = RLPReader(bytes)
        let item = try reader.readItem(depth: 0)
        guard reader.offset == bytes.count else {
            throw ChainError(
                .invalidRLP,
                "expected the item to end the input at byte \(reader.offset), found \(bytes.count - reader.offset) trailing bytes"
            )
        }
        return item
    }

    /// Decodes a concatenation of items (for example a chain.rlp file of blocks).
    public static func decodeSequence(_ bytes: [UInt8]) throws(ChainError) -> [RLPItem] {
        var reader = RLPReader(bytes)
        var items: [RLPItem] = []
        while reader.offset < bytes.count { items.append(try reader.readItem(depth: 0)) }
        return items
    }

    // MARK: Typed access

    /// The byte string, or an error naming `field` when this is a list.
    public func bytes(_ field: @autoclosure () -> String = "value") throws(ChainError) -> [UInt8] {
        guard case .bytes(let b) = self else {
            throw ChainError(.invalidRLP, "\(field()): expected a byte string, found a list")
        }
        return b
    }

    /// The list items, or an error naming `field` when this is a byte string.
    public func list(_ field: @autoclosure () -> String = "value") throws(ChainError) -> [RLPItem] {
        guard case .list(let l) = self else {
            throw ChainError(.invalidRLP, "\(field()): expected a list, found a byte string")
        }
        return l
    }

    /// A canonical scalar (no leading zeros) that fits in 64 bits.
    public func uint64(_ field: @autoclosure () -> String = "value") throws(ChainError) -> UInt64 {
        let b = try scalarBytes(field())
        guard b.count <= 8 else {
            throw ChainError(.overflow, "\(field()): expected at most 8 bytes, found \(b.count)")
        }
        return b.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A canonical scalar (no leading zeros) that fits in 256 bits.
    public func u256(_ field: @autoclosure () -> String = "value") throws(ChainError) -> U256 {
        let b = try scalarBytes(field())
        do { return try U256(bigEndian: b) } catch { throw error.within(field()) }
    }

    /// A 32-byte string.
    public func hash32(_ field: @autoclosure () -> String = "value") throws(ChainError) -> Hash32 {
        do { return try Hash32(bytes(field())) } catch { throw error.within(field()) }
    }

    /// A 20-byte string.
    public func address(_ field: @autoclosure () -> String = "value") throws(ChainError) -> Address {
        do { return try Address(bytes(field())) } catch { throw error.within(field()) }
    }

    /// A 20-byte string, or the empty string for none (the `to` of a contract creation).
    public func optionalAddress(_ field: @autoclosure () -> String = "value") throws(ChainError) -> Address? {
        let b = try bytes(field())
        if b.isEmpty { return nil }
        do { return try Address(b) } catch { throw error.within(field()) }
    }

    private func scalarBytes(_ field: String) throws(ChainError) -> [UInt8] {
        let b = try bytes(field)
        if let first = b.first, first == 0 {
            throw ChainError(.invalidRLP, "\(field): expected a scalar without leading zeros, found \(Hex.encode(b))")
        }
        return b
    }
}

/// A cursor over RLP input; internal so that only RLPItem's strict rules decode.
struct RLPReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func readItem(depth: Int) throws(ChainError) -> RLPItem {
        guard depth <= RLPItem.maxDepth else {
            throw ChainError(.invalidRLP, "nesting deeper than \(RLPItem.maxDepth) at byte \(offset)")
        }
        let start = offset
        guard offset < bytes.count else {
            throw ChainError(.invalidRLP, "expected an item at byte \(offset), found the end of input")
        }
        let prefix = bytes[offset]
        offset += 1
        switch prefix {
        case 0x00...0x7F:
            return .bytes([prefix])
        case 0x80...0xB7:
            let length = Int(prefix - 0x80)
            let payload = try take(length, at: start)
            if length == 1 && payload[0] < 0x80 {
                throw ChainError(
                    .invalidRLP,
                    "byte \(start): single byte 0x\(String(payload[0], radix: 16)) below 0x80 must be encoded as itself"
                )
            }
            return .bytes(payload)
        case 0xB8...0xBF:
            let length = try readLongLength(Int(prefix - 0xB7), at: start)
            return .bytes(try take(length, at: start))
        case 0xC0...0xF7:
            return .list(try readList(Int(prefix - 0xC0), at: start, depth: depth))
        default:  // 0xF8...0xFF
            let length = try readLongLength(Int(prefix - 0xF7), at: start)
            return .list(try readList(length, at: start, depth: depth))
        }
    }

    /// Reads one item's prefix with the same canonical rules as `readItem` and returns where its payload lies,
    /// without copying it; the cursor moves past the item. A list's items are not read.
    mutating func readSpan() throws(ChainError) -> RLPSpan {
        let start = offset
        guard offset < bytes.count else {
            throw ChainError(.invalidRLP, "expected an item at byte \(offset), found the end of input")
        }
        let prefix = bytes[offset]
        offset += 1
        let isList: Bool
        let length: Int
        switch prefix {
        case 0x00...0x7F:
            return RLPSpan(isList: false, start: start, end: offset)
        case 0x80...0xB7:
            isList = false
            length = Int(prefix - 0x80)
            if length == 1 && offset < bytes.count && bytes[offset] < 0x80 {
                throw ChainError(
                    .invalidRLP,
                    "byte \(start): single byte 0x\(String(bytes[offset], radix: 16)) below 0x80 must be encoded as itself"
                )
            }
        case 0xB8...0xBF:
            isList = false
            length = try readLongLength(Int(prefix - 0xB7), at: start)
        case 0xC0...0xF7:
            isList = true
            length = Int(prefix - 0xC0)
        default:
            isList = true
            length = try readLongLength(Int(prefix - 0xF7), at: start)
        }
        guard length <= bytes.count - offset else {
            throw ChainError(
                .invalidRLP,
                "byte \(start): expected \(length) bytes of payload, found \(bytes.count - offset)"
            )
        }
        let span = RLPSpan(isList: isList, start: offset, end: offset + length)
        offset += length
        return span
    }

    private mutating func readList(_ length: Int, at start: Int, depth: Int) throws(ChainError) -> [RLPItem] {
        guard length <= bytes.count - offset else {
            throw ChainError(
                .invalidRLP,
                "byte \(start): list of \(length) bytes runs past the end of input (\(bytes.count - offset) left)"
            )
        }
        let end = offset + length
        var items: [RLPItem] = []
        while offset < end {
            let item = try readItem(depth: depth + 1)
            guard offset <= end else {
                throw ChainError(.invalidRLP, "byte \(start): an element runs past the end of its list")
            }
            items.append(item)
        }
        return items
    }

    private mutating func readLongLength(_ lengthOfLength: Int, at start: Int) throws(ChainError) -> Int {
        let lenBytes = try take(lengthOfLength, at: start)
        guard lenBytes[0] != 0 else {
            throw ChainError(.invalidRLP, "byte \(start): length has a leading zero byte (non-canonical)")
        }
        guard lengthOfLength <= 7 else {
            throw ChainError(.invalidRLP, "byte \(start): length of \(lengthOfLength) bytes is too large")
        }
        let length = lenBytes.reduce(0) { $0 << 8 | Int($1) }
        guard length >= 56 else {
            throw ChainError(
                .invalidRLP,
                "byte \(start): long form used for a length of \(length) (< 56, non-canonical)"
            )
        }
        return length
    }

    private mutating func take(_ count: Int, at start: Int) throws(ChainError) -> [UInt8] {
        guard count <= bytes.count - offset else {
            throw ChainError(
                .invalidRLP,
                "byte \(start): expected \(count) bytes of payload, found \(bytes.count - offset)"
            )
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
}

/// Where an item's payload lies in the input (see `RLPReader.readSpan`).
struct RLPSpan {
    var isList: Bool
    var start: Int
    var end: Int
    var count: Int { end - start }
}

/// Typed reads of header fields straight from the input, with `RLPItem`'s rules and messages.
extension RLPReader {
    func bytes(_ s: RLPSpan, _ field: String) throws(ChainError) -> [UInt8] {
        guard !s.isList else { throw ChainError(.invalidRLP, "\(field): expected a byte string, found a list") }
        return Array(bytes[s.start..<s.end])
    }

    func hash32(_ s: RLPSpan, _ field: String) throws(ChainError) -> Hash32 {
        guard !s.isList else { throw ChainError(.invalidRLP, "\(field): expected a byte string, found a list") }
        guard s.count == 32 else {
            throw ChainError(.invalidLength, "expected 32 bytes for a hash, found \(s.count)").within(field)
        }
        return bytes.withUnsafeBytes { Hash32(loading: UnsafeRawBufferPointer(rebasing: $0[s.start..<s.end])) }
    }

    func address(_ s: RLPSpan, _ field: String) throws(ChainError) -> Address {
        do { return try Address(bytes(s, field)) } catch { throw error.within(field) }
    }

    private func scalar(_ s: RLPSpan, _ field: String) throws(ChainError) {
        guard !s.isList else { throw ChainError(.invalidRLP, "\(field): expected a byte string, found a list") }
        if s.count > 0 && bytes[s.start] == 0 {
            throw ChainError(
                .invalidRLP,
                "\(field): expected a scalar without leading zeros, found \(Hex.encode(Array(bytes[s.start..<s.end])))"
            )
        }
    }

    func uint64(_ s: RLPSpan, _ field: String) throws(ChainError) -> UInt64 {
        try scalar(s, field)
        guard s.count <= 8 else { throw ChainError(.overflow, "\(field): expected at most 8 bytes, found \(s.count)") }
        var v: UInt64 = 0
        for i in s.start..<s.end { v = v << 8 | UInt64(bytes[i]) }
        return v
    }

    func u256(_ s: RLPSpan, _ field: String) throws(ChainError) -> U256 {
        try scalar(s, field)
        if s.count <= 8 { return U256(try uint64(s, field)) }
        do { return try U256(bigEndian: bytes[s.start..<s.end]) } catch { throw error.within(field) }
    }
}
