import Foundation

/// Normalization, hashing and tokenizing shared by the dataset index and the checks: the same function turns a
/// dataset cell and an output token into the same key, so case, spacing, punctuation and number formats do
/// not hide a value.
enum GateText {
    /// Case-folds, trims and collapses spaces. A value made only of digits and number or phone punctuation
    /// becomes a canonical decimal (`52,310.50` → `52310.5`) when it is one, and its digits otherwise
    /// (`+1 (555) 010-2030` → `15550102030`, `1980-01-02` → `19800102`). Other text keeps letters, digits,
    /// spaces and `@ . _ -`; every other punctuation mark is dropped (`O'Brien` → `obrien`).
    static func normalize(_ text: some StringProtocol) -> String {
        if let fast = asciiNormalize(text) { return fast }
        return unicodeNormalize(text)
    }

    /// `normalize` for ASCII text, on bytes (the hot path of the index build and of every scanned line); nil for
    /// other text. Same result as `unicodeNormalize`.
    static func asciiNormalize(_ text: some StringProtocol) -> String? {
        var out: [UInt8] = []
        let ascii =
            text.utf8.withContiguousStorageIfAvailable { asciiNormalize($0, into: &out) }
            ?? Array(text.utf8).withUnsafeBufferPointer { asciiNormalize($0, into: &out) }
        return ascii ? String(decoding: out, as: UTF8.self) : nil
    }

    /// `normalize` of ASCII `bytes` into `out` (replacing its contents, keeping its capacity); false when the
    /// bytes are not all ASCII. The one ASCII normalizer: `asciiNormalize` and `normalizedHash` both call it.
    static func asciiNormalize(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        var numeric = true
        var hasDigit = false
        for b in bytes {
            guard b < 0x80 else { return false }
            switch b {
            case 0x30...0x39: hasDigit = true
            case 0x2B, 0x2D, 0x2E, 0x2C, 0x27, 0x28, 0x29, 0x20, 0x2F, 0x5F, 0x09: break
            default: numeric = false
            }
        }
        if numeric && hasDigit {
            if asciiCanonicalNumber(bytes, into: &out) { return true }
            out.removeAll(keepingCapacity: true)
            for b in bytes where b >= 0x30 && b <= 0x39 { out.append(b) }
            return true
        }
        var pendingSpace = false
        for var b in bytes {
            if b == 0x20 || (b >= 0x09 && b <= 0x0D) {
                pendingSpace = !out.isEmpty
                continue
            }
            if b >= 0x41 && b <= 0x5A { b += 0x20 }
            let keep =
                (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x40 || b == 0x2E || b == 0x5F
                || b == 0x2D
            guard keep else { continue }
            if pendingSpace {
                out.append(0x20)
                pendingSpace = false
            }
            out.append(b)
        }
        while let last = out.last, last == 0x2E || last == 0x2D || last == 0x5F { out.removeLast() }
        return true
    }

    /// `hash(normalize(text))` without building strings for ASCII text (`buffer` is scratch space a caller
    /// reuses across calls); nil when the text normalizes to nothing.
    static func normalizedHash(_ bytes: UnsafeBufferPointer<UInt8>, buffer: inout [UInt8]) -> UInt64? {
        guard asciiNormalize(bytes, into: &buffer) else {
            let normalized = unicodeNormalize(String(decoding: bytes, as: UTF8.self))
            return normalized.isEmpty ? nil : hash(normalized)
        }
        guard !buffer.isEmpty else { return nil }
        var h = hashStart
        for byte in buffer { h = hashStep(h, byte) }
        return mix(h)
    }

    /// `normalizedHash` of a string's bytes.
    static func normalizedHash(_ text: some StringProtocol, buffer: inout [UInt8]) -> UInt64? {
        return text.utf8.withContiguousStorageIfAvailable { normalizedHash($0, buffer: &buffer) }
            ?? Array(text.utf8).withUnsafeBufferPointer { normalizedHash($0, buffer: &buffer) }
    }

    /// `normalize` for any text, on characters.
    static func unicodeNormalize(_ text: some StringProtocol) -> String {
        var numeric = true
        var hasDigit = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "0"..."9": hasDigit = true
            case "+", "-", ".", ",", "'", "(", ")", " ", "/", "_", "\t": break
            default: numeric = false
            }
            if !numeric { break }
        }
        if numeric && hasDigit {
            if let number = canonicalNumber(text) { return number }
            return String(text.unicodeScalars.filter { ("0"..."9").contains($0) }.map(Character.init))
        }
        var out = ""
        var pendingSpace = false
        for character in text.lowercased() {
            if character.isWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            guard character.isLetter || character.isNumber || "@._-".contains(character) else { continue }
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            out.append(character)
        }
        while out.hasSuffix(".") || out.hasSuffix("-") || out.hasSuffix("_") { out.removeLast() }
        return out
    }

    /// `[+-]digits[.digits]` with optional `,`-grouped thousands; trailing fraction zeros removed.
    static func canonicalNumber(_ text: some StringProtocol) -> String? {
        let bytes = Array(text.utf8)
        if bytes.allSatisfy({ $0 < 0x80 }) { return asciiCanonicalNumber(bytes) }
        return unicodeCanonicalNumber(text)
    }

    /// `canonicalNumber` on ASCII bytes (spaces and tabs trimmed). Same result as `unicodeCanonicalNumber`.
    static func asciiCanonicalNumber(_ bytes: [UInt8]) -> String? {
        var out: [UInt8] = []
        let number = bytes.withUnsafeBufferPointer { asciiCanonicalNumber($0, into: &out) }
        return number ? String(decoding: out, as: UTF8.self) : nil
    }

    /// `asciiCanonicalNumber` into `out` (replacing its contents); false (contents unspecified) when it is none.
    static func asciiCanonicalNumber(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        var lo = 0
        var hi = bytes.count
        while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 { lo += 1 }
        while hi > lo, bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09 { hi -= 1 }
        var negative = false
        if lo < hi, bytes[lo] == 0x2B {
            lo += 1
        } else if lo < hi, bytes[lo] == 0x2D {
            negative = true
            lo += 1
        }
        var dot = -1
        for i in lo..<hi where bytes[i] == 0x2E {
            guard dot < 0 else { return false }
            dot = i
        }
        let integerEnd = dot < 0 ? hi : dot
        guard integerEnd > lo else { return false }
        out.removeAll(keepingCapacity: true)
        if negative { out.append(0x2D) }
        var groups = 0
        var groupLength = 0
        var firstGroupLength = 0
        var allZero = true
        for i in lo...integerEnd {
            if i == integerEnd || bytes[i] == 0x2C {
                guard groupLength > 0 else { return false }
                if groups == 0 { firstGroupLength = groupLength } else if groupLength != 3 { return false }
                groups += 1
                groupLength = 0
                continue
            }
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39 else { return false }
            if b != 0x30 { allZero = false }
            out.append(b)
            groupLength += 1
        }
        if groups > 1 && firstGroupLength > 3 { return false }
        var fractionEnd = hi
        if dot >= 0 {
            guard hi > dot + 1 else { return false }
            for i in (dot + 1)..<hi { guard bytes[i] >= 0x30 && bytes[i] <= 0x39 else { return false } }
            while fractionEnd > dot + 1 && bytes[fractionEnd - 1] == 0x30 { fractionEnd -= 1 }
        }
        let hasFraction = dot >= 0 && fractionEnd > dot + 1
        if negative && allZero && !hasFraction { out.removeFirst() }
        if hasFraction {
            out.append(0x2E)
            out.append(contentsOf: bytes[(dot + 1)..<fractionEnd])
        }
        return true
    }

    /// `canonicalNumber` for any text.
    static func unicodeCanonicalNumber(_ text: some StringProtocol) -> String? {
        var body = Substring(text.trimmingCharacters(in: .whitespaces))
        var sign = ""
        if body.hasPrefix("+") {
            body = body.dropFirst()
        } else if body.hasPrefix("-") {
            sign = "-"
            body = body.dropFirst()
        }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let integerPart = parts.first, !integerPart.isEmpty else { return nil }
        let groups = integerPart.split(separator: ",", omittingEmptySubsequences: false)
        for (i, group) in groups.enumerated() {
            guard !group.isEmpty, group.allSatisfy(\.isASCIIDigit) else { return nil }
            if groups.count > 1 && ((i == 0 && group.count > 3) || (i > 0 && group.count != 3)) { return nil }
        }
        var integer = groups.joined()
        var fraction = ""
        if parts.count == 2 {
            guard parts[1].allSatisfy(\.isASCIIDigit), !parts[1].isEmpty else { return nil }
            fraction = String(parts[1])
            while fraction.hasSuffix("0") { fraction.removeLast() }
        }
        if integer.isEmpty { integer = "0" }
        if sign == "-" && Set(integer) == ["0"] && fraction.isEmpty { sign = "" }
        return sign + integer + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// FNV-1a over the UTF-8 bytes, finished with a SplitMix64 step (stable across runs and machines).
    static func hash(_ text: String) -> UInt64 {
        var h = hashStart
        for byte in text.utf8 { h = hashStep(h, byte) }
        return mix(h)
    }

    /// FNV-1a's offset basis: `hash` is `mix` of `hashStep` folded over the bytes from here, so a scan can
    /// extend one state byte by byte instead of building strings.
    static let hashStart: UInt64 = 0xcbf2_9ce4_8422_2325

    /// One FNV-1a step.
    @inline(__always)
    static func hashStep(_ state: UInt64, _ byte: UInt8) -> UInt64 {
        (state ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    /// SplitMix64's finalizer.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// An order-independent fingerprint of a set of cell hashes.
    static func fingerprint(_ hashes: some Collection<UInt64>) -> UInt64 {
        // The sum over distinct hashes is the same in any order; a short row's repeats are found by looking
        // back rather than by hashing into a set.
        guard hashes.count <= 32 else {
            let distinct = Set(hashes)
            return mix(distinct.reduce(0) { $0 &+ mix($1 ^ 0x5bd1_e995) } &+ UInt64(distinct.count))
        }
        var sum: UInt64 = 0
        var count: UInt64 = 0
        var seen = hashes.startIndex
        for i in hashes.indices {
            defer { seen = hashes.index(after: seen) }
            if hashes[hashes.startIndex..<seen].contains(hashes[i]) { continue }
            sum = sum &+ mix(hashes[i] ^ 0x5bd1_e995)
            count += 1
        }
        return mix(sum &+ count)
    }

    /// An order-independent key of three distinct value hashes.
    static func triple(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        // Sorted without an array: this runs for every triple of every line.
        let (lo, hi) = a < b ? (a, b) : (b, a)
        let (s0, s1, s2) = c < lo ? (c, lo, hi) : c < hi ? (lo, c, hi) : (lo, hi, c)
        return mix(mix(mix(s0) ^ s1) ^ s2)
    }

    /// A word of a line, with its byte offset in the line.
    struct Token {
        var text: Substring
        /// Where the word starts, before its leading `. ' _` are trimmed (the place findings name).
        var offset: Int
        /// Where `text` starts in the line's UTF-8 bytes, and its length there.
        var start: Int
        var length: Int
    }

    /// Separators between words: white space and the punctuation that delimits values in prose, CSV, JSON,
    /// Markdown and logs. `@ . _ - + '` stay inside words (emails, decimals, names, phone groups).
    static func isSeparator(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C: return true
        case UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\""), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"),
            UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "|"), UInt8(ascii: "="), UInt8(ascii: "\\"),
            UInt8(ascii: "`"), UInt8(ascii: "*"), UInt8(ascii: "#"), UInt8(ascii: "!"), UInt8(ascii: "?"),
            UInt8(ascii: "/"):
            return true
        default: return false
        }
    }

    /// `. ' _`, trimmed from the start of a word.
    @inline(__always)
    static func isLeadingTrim(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ".") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "_")
    }

    /// `. ' _ - +`, trimmed from the end of a word.
    @inline(__always)
    static func isTrailingTrim(_ byte: UInt8) -> Bool {
        isLeadingTrim(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
    }

    /// The words of `line`, with leading `. ' _` and trailing `. ' _ - +` trimmed.
    static func tokens(_ line: Substring) -> [Token] {
        var result: [Token] = []
        tokens(line, into: &result)
        return result
    }

    /// `tokens` appended to `result` (a buffer a caller reuses from line to line).
    static func tokens(_ line: Substring, into result: inout [Token]) {
        let utf8 = line.utf8
        var index = utf8.startIndex
        var offset = 0
        while index != utf8.endIndex {
            while index != utf8.endIndex, isSeparator(utf8[index]) {
                index = utf8.index(after: index)
                offset += 1
            }
            guard index != utf8.endIndex else { break }
            let start = index
            let startOffset = offset
            while index != utf8.endIndex, !isSeparator(utf8[index]) {
                index = utf8.index(after: index)
                offset += 1
            }
            var word = line[start..<index]
            var textStart = startOffset
            if word.utf8.allSatisfy({ $0 < 0x80 }) {
                // ASCII, trimmed on bytes: each byte is a character.
                var lo = start
                var hi = index
                while lo != hi, isLeadingTrim(utf8[lo]) {
                    lo = utf8.index(after: lo)
                    textStart += 1
                }
                while lo != hi, isTrailingTrim(utf8[utf8.index(before: hi)]) { hi = utf8.index(before: hi) }
                word = line[lo..<hi]
            } else {
                while let first = word.first, ".'_".contains(first) { word = word.dropFirst() }
                while let last = word.last, ".'_-+".contains(last) { word = word.dropLast() }
                textStart += utf8.distance(from: start, to: word.startIndex)
            }
            if !word.isEmpty {
                result.append(Token(text: word, offset: startOffset, start: textStart, length: word.utf8.count))
            }
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
