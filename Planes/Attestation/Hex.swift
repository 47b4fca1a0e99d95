/// Lower-case hex, and hex parsing that tolerates a `0x` prefix and whitespace (for quotes in text files).
enum Hex {
    /// `bytes` as lower-case hex without a prefix.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of hex `text`: an optional `0x`/`0X` prefix, any ASCII whitespace anywhere, an even number of
    /// digits of either case. Nil otherwise.
    static func decode(_ text: some Sequence<UInt8>) -> [UInt8]? {
        var digits = Array(text).filter { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }
        if digits.count >= 2, digits[0] == UInt8(ascii: "0"),
            digits[1] == UInt8(ascii: "x") || digits[1] == UInt8(ascii: "X")
        {
            digits.removeFirst(2)
        }
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// The bytes of hex `text` (String form of ``decode(_:)-(Sequence)``).
    static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
