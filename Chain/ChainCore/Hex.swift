/// Hexadecimal encoding as Ethereum's JSON-RPC uses it ("0x"-prefixed, lower case).
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `bytes` as "0x…" lower-case hex.
    public static func encode(_ bytes: some Sequence<UInt8>, prefix: Bool = true) -> String {
        var out: [UInt8] = prefix ? [0x30, 0x78] : []
        out.reserveCapacity(out.count + bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex data: an even number of hex digits, with or without "0x".
    public static func decode(_ string: some StringProtocol) throws(ChainError) -> [UInt8] {
        // Fast path over contiguous UTF-8; anything it refuses is decoded again below for the error message.
        if let decoded = string.utf8.withContiguousStorageIfAvailable({ fastDecode($0) }), let bytes = decoded {
            return bytes
        }
        var utf8 = Substring(string).utf8[...]
        if utf8.starts(with: [0x30, 0x78]) || utf8.starts(with: [0x30, 0x58]) { utf8 = utf8.dropFirst(2) }
        guard utf8.count % 2 == 0 else {
            throw ChainError(
                .invalidHex,
                "expected an even number of hex digits, found \(utf8.count) in \(preview(string))"
            )
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8? = nil
        for c in utf8 {
            guard let v = nibble(c) else {
                throw ChainError(
                    .invalidHex,
                    "expected hex digits, found \(String(UnicodeScalar(c))) in \(preview(string))"
                )
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return out
    }

    /// The bytes of "0x"-prefixed or bare hex digits, nil for anything else.
    static func fastDecode(_ b: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var i = 0
        if b.count >= 2 && b[0] == 0x30 && b[1] | 0x20 == 0x78 { i = 2 }
        let n = b.count - i
        guard n % 2 == 0 else { return nil }
        var ok = true
        let out = [UInt8](unsafeUninitializedCapacity: n / 2) { out, count in
            var j = 0
            while i < b.count {
                guard let h = nibble(b[i]), let l = nibble(b[i + 1]) else {
                    ok = false
                    break
                }
                out[j] = h << 4 | l
                j += 1
                i += 2
            }
            count = j
        }
        return ok ? out : nil
    }

    /// A "0x" quantity of at most 16 significant digits, nil for anything else.
    static func fastUInt64(_ b: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard b.count >= 3, b[0] == 0x30, b[1] | 0x20 == 0x78 else { return nil }
        var v: UInt64 = 0
        for i in 2..<b.count {
            guard let d = nibble(b[i]), v >> 60 == 0 else { return nil }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    /// Decodes hex data of exactly `count` bytes.
    public static func decode(_ string: some StringProtocol, count: Int) throws(ChainError) -> [UInt8] {
        let bytes = try decode(string)
        guard bytes.count == count else {
            throw ChainError(
                .invalidLength,
                "expected \(count) bytes of hex, found \(bytes.count) in \(preview(string))"
            )
        }
        return bytes
    }

    /// Decodes a JSON-RPC quantity ("0x0", "0x1a"; no leading zeros required) to big-endian bytes
    /// without leading zeros.
    public static func decodeQuantity(_ string: some StringProtocol) throws(ChainError) -> [UInt8] {
        var s = Substring(string)
        guard s.hasPrefix("0x") || s.hasPrefix("0X") else {
            throw ChainError(.invalidHex, "expected a 0x-prefixed quantity, found \(preview(string))")
        }
        s = s.dropFirst(2)
        guard !s.isEmpty else { throw ChainError(.invalidHex, "expected at least one hex digit after 0x") }
        if s.count % 2 == 1 { s = "0" + s }
        var bytes = try decode(s)
        if let first = bytes.firstIndex(where: { $0 != 0 }) { bytes.removeSubrange(..<first) } else { bytes = [] }
        return bytes
    }

    /// Decodes a quantity that must fit in 64 bits.
    public static func decodeUInt64(_ string: some StringProtocol) throws(ChainError) -> UInt64 {
        if let fast = string.utf8.withContiguousStorageIfAvailable({ fastUInt64($0) }), let v = fast { return v }
        let bytes = try decodeQuantity(string)
        guard bytes.count <= 8 else {
            throw ChainError(.overflow, "expected a 64-bit quantity, found \(preview(string))")
        }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    @inline(__always)
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }

    static func preview(_ s: some StringProtocol) -> String {
        s.count <= 24 ? "\"\(s)\"" : "\"\(s.prefix(20))…\" (\(s.count) chars)"
    }
}

extension Array where Element == UInt8 {
    /// The bytes as "0x…" hex.
    public var hex: String { Hex.encode(self) }
}

/// Big-endian bytes of an unsigned integer without leading zeros (RLP's scalar form).
@inlinable
public func minimalBigEndian(_ value: UInt64) -> [UInt8] {
    guard value != 0 else { return [] }
    let n = (64 - value.leadingZeroBitCount + 7) / 8
    return (0..<n).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(n - 1 - $0))) }
}
