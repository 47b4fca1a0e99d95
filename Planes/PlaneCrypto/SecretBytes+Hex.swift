extension SecretBytes {
    /// Hex digits (either case, no prefix, an even count) decoded straight into wiped storage, never through a
    /// String or array that outlives the call; nil when `digits` is not that.
    ///
    /// Public hex (hashes, addresses, quotes) goes through ChainCore's `Hex`; this is only for key material.
    public static func decodingHex(_ digits: some Collection<UInt8>) -> SecretBytes? {
        guard digits.count % 2 == 0 else { return nil }
        return try? SecretBytes(count: digits.count / 2) { (out: UnsafeMutableRawBufferPointer) throws(NotHex) in
            var i = digits.startIndex
            for k in 0..<out.count {
                guard let high = hexValue(digits[i]) else { throw NotHex() }
                i = digits.index(after: i)
                guard let low = hexValue(digits[i]) else { throw NotHex() }
                i = digits.index(after: i)
                out[k] = high << 4 | low
            }
        }
    }

    /// The value of one ASCII hex digit, or nil.
    public static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

private struct NotHex: Error {}
