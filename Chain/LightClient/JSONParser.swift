import Foundation

/// A strict JSON (RFC 8259) parser into the same value types `JSONSerialization` produces (`[String: Any]`,
/// `[Any]`, `String`, `Int` or `Double`, `Bool`, `NSNull`), but built as native Swift values straight from the
/// bytes: no Foundation containers to bridge. The light client's hot path (every block it syncs arrives as
/// JSON) spent most of its time in `JSONSerialization` and the bridging casts after it.
///
/// Refuses what JSONSerialization refuses: trailing bytes, control characters and invalid escapes in strings,
/// invalid UTF-8, leading zeros, nesting deeper than `maxDepth`.
enum JSONParser {
    static let maxDepth = 256

    struct Failure: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "byte \(offset): \(reason)" }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Any {
        var p = Cursor(base: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, end: bytes.count)
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == p.end else { throw Failure(offset: p.i, reason: "trailing bytes after the JSON value") }
        return value
    }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> Any {
        try bytes.withUnsafeBytes { raw in Result { () throws(Failure) -> Any in try parse(raw) } }.get()
    }

    private struct Cursor {
        let base: UnsafeRawPointer
        let end: Int
        var i = 0

        init(base: UnsafeRawPointer, end: Int) {
            self.base = base
            self.end = end
        }

        @inline(__always) func byte(_ at: Int) -> UInt8 { base.load(fromByteOffset: at, as: UInt8.self) }

        @inline(__always) mutating func skipSpace() {
            while i < end {
                let c = byte(i)
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                i += 1
            }
        }

        func fail(_ reason: String) -> Failure { Failure(offset: i, reason: reason) }

        mutating func value(depth: Int) throws(Failure) -> Any {
            guard i < end else { throw fail("expected a value, found the end of input") }
            switch byte(i) {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return try string()
            case UInt8(ascii: "t"):
                try literal("true")
                return true
            case UInt8(ascii: "f"):
                try literal("false")
                return false
            case UInt8(ascii: "n"):
                try literal("null")
                return NSNull()
            default: return try number()
            }
        }

        mutating func literal(_ word: StaticString) throws(Failure) {
            let n = word.utf8CodeUnitCount
            guard end - i >= n, memcmp(base + i, word.utf8Start, n) == 0 else { throw fail("expected \(word)") }
            i += n
        }

        mutating func object(depth: Int) throws(Failure) -> [String: Any] {
            guard depth <= JSONParser.maxDepth else { throw fail("nesting deeper than \(JSONParser.maxDepth)") }
            i += 1
            var out: [String: Any] = [:]
            out.reserveCapacity(24)  // a block header's fields: no rehashing while it fills
            skipSpace()
            if i < end && byte(i) == UInt8(ascii: "}") {
                i += 1
                return out
            }
            while true {
                skipSpace()
                guard i < end, byte(i) == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipSpace()
                guard i < end, byte(i) == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                i += 1
                skipSpace()
                out[key] = try value(depth: depth)
                skipSpace()
                guard i < end else { throw fail("unterminated object") }
                let c = byte(i)
                i += 1
                if c == UInt8(ascii: "}") { return out }
                guard c == UInt8(ascii: ",") else { throw Failure(offset: i - 1, reason: "expected ',' or '}'") }
            }
        }

        mutating func array(depth: Int) throws(Failure) -> [Any] {
            guard depth <= JSONParser.maxDepth else { throw fail("nesting deeper than \(JSONParser.maxDepth)") }
            i += 1
            var out: [Any] = []
            skipSpace()
            if i < end && byte(i) == UInt8(ascii: "]") {
                i += 1
                return out
            }
            while true {
                skipSpace()
                out.append(try value(depth: depth))
                skipSpace()
                guard i < end else { throw fail("unterminated array") }
                let c = byte(i)
                i += 1
                if c == UInt8(ascii: "]") { return out }
                guard c == UInt8(ascii: ",") else { throw Failure(offset: i - 1, reason: "expected ',' or ']'") }
            }
        }

        mutating func string() throws(Failure) -> String {
            i += 1
            let start = i
            var ascii = true
            // Fast path: no escapes.
            while i < end {
                let c = byte(i)
                ascii = ascii && c < 0x80
                if c == UInt8(ascii: "\"") {
                    let raw = UnsafeRawBufferPointer(start: base + start, count: i - start)
                    i += 1
                    // ASCII (every hex field) needs no validation; anything else must be valid UTF-8.
                    if ascii { return String(decoding: raw, as: UTF8.self) }
                    guard let s = String(validating: raw, as: UTF8.self) else {
                        throw Failure(offset: start, reason: "string is not valid UTF-8")
                    }
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                guard c >= 0x20 else { throw fail("control character in a string") }
                i += 1
            }
            var bytes = [UInt8](UnsafeRawBufferPointer(start: base + start, count: i - start))
            while i < end {
                let c = byte(i)
                i += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: bytes, as: UTF8.self) else {
                        throw Failure(offset: start, reason: "string is not valid UTF-8")
                    }
                    return s
                case UInt8(ascii: "\\"):
                    guard i < end else { throw fail("unterminated escape") }
                    let e = byte(i)
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
                    case UInt8(ascii: "b"): bytes.append(0x08)
                    case UInt8(ascii: "f"): bytes.append(0x0C)
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "r"): bytes.append(0x0D)
                    case UInt8(ascii: "t"): bytes.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard end - i >= 6, byte(i) == UInt8(ascii: "\\"), byte(i + 1) == UInt8(ascii: "u") else {
                                throw fail("unpaired surrogate")
                            }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw fail("unpaired surrogate")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                        bytes.append(contentsOf: UTF8.encode(u)!)
                    default: throw fail("invalid escape")
                    }
                default:
                    guard c >= 0x20 else { throw Failure(offset: i - 1, reason: "control character in a string") }
                    bytes.append(c)
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard end - i >= 4 else { throw fail("expected 4 hex digits") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = byte(i)
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("expected a hex digit")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func number() throws(Failure) -> Any {
            let start = i
            func digit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
            if i < end && byte(i) == UInt8(ascii: "-") { i += 1 }
            guard i < end, digit(byte(i)) else { throw Failure(offset: start, reason: "expected a value") }
            if byte(i) == UInt8(ascii: "0") {
                i += 1
                if i < end && digit(byte(i)) { throw fail("leading zero in a number") }
            } else {
                while i < end && digit(byte(i)) { i += 1 }
            }
            var integral = true
            if i < end && byte(i) == UInt8(ascii: ".") {
                integral = false
                i += 1
                guard i < end, digit(byte(i)) else { throw fail("expected a digit after '.'") }
                while i < end && digit(byte(i)) { i += 1 }
            }
            if i < end && (byte(i) == UInt8(ascii: "e") || byte(i) == UInt8(ascii: "E")) {
                integral = false
                i += 1
                if i < end && (byte(i) == UInt8(ascii: "+") || byte(i) == UInt8(ascii: "-")) { i += 1 }
                guard i < end, digit(byte(i)) else { throw fail("expected a digit in the exponent") }
                while i < end && digit(byte(i)) { i += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(start: base + start, count: i - start), as: UTF8.self)
            if integral, let n = Int(text) { return n }
            guard let d = Double(text) else { throw Failure(offset: start, reason: "number out of range") }
            return d
        }
    }
}
