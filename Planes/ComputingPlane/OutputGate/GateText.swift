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
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return mix(h)
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
        var sum: UInt64 = 0
        for h in Set(hashes) { sum = sum &+ mix(h ^ 0x5bd1_e995) }
        return mix(sum &+ UInt64(Set(hashes).count))
    }

    /// An order-independent key of three distinct value hashes.
    static func triple(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        let sorted = [a, b, c].sorted()
        return mix(mix(mix(sorted[0]) ^ sorted[1]) ^ sorted[2])
    }

    /// A word of a line, with its byte offset in the line.
    struct Token {
        var text: Substring
        var offset: Int
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

    /// The words of `line`, with leading `. ' _` and trailing `. ' _ - +` trimmed.
    static func tokens(_ line: Substring) -> [Token] {
        var result: [Token] = []
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
            while let first = word.first, ".'_".contains(first) { word = word.dropFirst() }
            while let last = word.last, ".'_-+".contains(last) { word = word.dropLast() }
            if !word.isEmpty { result.append(Token(text: word, offset: startOffset)) }
        }
        return result
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
