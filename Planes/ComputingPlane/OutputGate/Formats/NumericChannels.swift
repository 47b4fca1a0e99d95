import Foundation

/// Numbers as printed, for the covert-channel checks: the digits of the fraction and the count of
/// significant digits.
struct PrintedNumber {
    var integer: Substring
    var fraction: Substring
    /// Significant digits (leading zeros of the whole number not counted, trailing zeros counted).
    var significant: Int

    /// `[-+]digits.digits` standing alone (not part of a word, a version number or a date).
    static func scan(_ line: Substring) -> [PrintedNumber] {
        let b = Array(line.utf8)
        var out: [PrintedNumber] = []
        var i = 0
        while i < b.count {
            guard b[i].isDigit, i == 0 || !(b[i - 1].isDigit || b[i - 1].isLetter || b[i - 1] == UInt8(ascii: "."))
            else {
                i += 1
                continue
            }
            let start = i
            while i < b.count, b[i].isDigit { i += 1 }
            let integerEnd = i
            guard i + 1 < b.count, b[i] == UInt8(ascii: "."), b[i + 1].isDigit else { continue }
            i += 1
            let fractionStart = i
            while i < b.count, b[i].isDigit { i += 1 }
            // 1.2.3, 1.5e-3, 12.5abc are not plain decimals.
            if i < b.count, b[i] == UInt8(ascii: ".") || b[i].isLetter { continue }
            let integer = line.utf8[
                line.utf8.index(
                    line.utf8.startIndex,
                    offsetBy: start
                )..<line.utf8.index(line.utf8.startIndex, offsetBy: integerEnd)
            ]
            let fraction = line.utf8[
                line.utf8.index(
                    line.utf8.startIndex,
                    offsetBy: fractionStart
                )..<line.utf8.index(line.utf8.startIndex, offsetBy: i)
            ]
            let digits = Array(integer) + Array(fraction)
            let significant = digits.count - (digits.firstIndex { $0 != UInt8(ascii: "0") } ?? digits.count)
            out.append(
                PrintedNumber(integer: Substring(integer), fraction: Substring(fraction), significant: significant)
            )
        }
        return out
    }
}

extension GateScan {
    /// Numeric covert channels in a text or table: more significant digits than printing a double needs or a
    /// fixed format with many digits (review), and low-order digits that decode to text or dataset values (a
    /// dataset value blocks).
    mutating func numericChannels(name: String, text: String) {
        var columns: [String: [PrintedNumber]] = [:]
        var all: [PrintedNumber] = []
        let ext = (name as NSString).pathExtension.lowercased()
        let separator: Character? = ext == "csv" ? "," : ext == "tsv" ? "\t" : nil
        var lines = 0
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            lines += 1
            if lines & 1023 == 0, outOfTime { return timeUp("numbers") }
            if let separator {
                for (c, cell) in line.split(separator: separator, omittingEmptySubsequences: false).enumerated() {
                    let numbers = PrintedNumber.scan(cell)
                    if numbers.count == 1 { columns["column \(c + 1)", default: []].append(numbers[0]) }
                    all += numbers
                }
            } else {
                for (k, number) in PrintedNumber.scan(line).enumerated() {
                    columns["number \(k + 1) of each line", default: []].append(number)
                    all.append(number)
                }
            }
            if all.count > 200_000 { break }
        }
        guard all.count >= 4 else { return }
        if columns.count > 1 { columns["every number in order"] = all }
        // Excess precision.
        let overlong = all.filter { $0.significant > 17 }.count
        if overlong >= 3 {
            add(
                "precision",
                .likely,
                "numbers",
                "\(overlong) numbers with more than 17 significant digits, more than a double holds: digits beyond a statistic's precision can carry data"
            )
        }
        for key in columns.keys.sorted() where key != "every number in order" {
            let numbers = columns[key]!
            guard numbers.count >= 4 else { continue }
            let decimals = Dictionary(grouping: numbers, by: \.fraction.count)
            if let (d, same) = decimals.max(by: { $0.value.count < $1.value.count }), d >= 10,
                same.count * 4 >= numbers.count * 3, same.contains(where: { $0.fraction.hasSuffix("0") })
            {
                add(
                    "precision",
                    .likely,
                    key,
                    "\(same.count) numbers printed with a fixed \(d) decimals: more precision than a statistic needs"
                )
                continue
            }
            let significant = Dictionary(grouping: numbers, by: \.significant)
            if let (s, same) = significant.max(by: { $0.value.count < $1.value.count }), (12...15).contains(s),
                same.count * 4 >= numbers.count * 3
            {
                add(
                    "precision",
                    .likely,
                    key,
                    "\(same.count) numbers printed with \(s) significant digits: more precision than a statistic needs"
                )
            }
        }
        // Low-order digits.
        for key in columns.keys.sorted() {
            let numbers = columns[key]!
            guard numbers.count >= 3 else { continue }
            lowOrderDigits(numbers, place: key)
        }
    }

    /// Streams of low-order digits (the last 1 to 6 digits of each fraction, or all its digits after the first
    /// 0 to 4) decoded as 3-digit and 2-digit character codes and searched for dataset values.
    mutating func lowOrderDigits(_ numbers: [PrintedNumber], place: String) {
        var streams: [(String, [UInt8])] = []
        for s in 1...6 {
            let parts = numbers.filter { $0.fraction.count >= s }.map { Array($0.fraction.utf8.suffix(s)) }
            if parts.count >= 3 { streams.append(("the last \(s) digits", Array(parts.joined().prefix(20_000)))) }
        }
        for p in 0...4 {
            let parts = numbers.filter { $0.fraction.count > p }.map { Array($0.fraction.utf8.dropFirst(p)) }
            if parts.count >= 3 {
                streams.append(("the digits after decimal \(p)", Array(parts.joined().prefix(20_000))))
            }
        }
        var tried: Set<[UInt8]> = []
        var readable: (String, String)?
        for (label, stream) in streams where stream.count >= 12 && tried.insert(stream).inserted {
            if outOfTime { return timeUp(place) }
            let where_ = "\(place), \(label)"
            // 3-digit codes (032-126), every alignment.
            for shift in 0..<3 {
                for run in Self.decodeRuns(stream, width: 3, from: shift, offset: 0) where run.count >= 5 {
                    if decodedText(run, place: where_, how: "3-digit character codes") { return }
                    if readable == nil, !label.hasPrefix("the last 1 "), !label.hasPrefix("the last 2 "),
                        Self.readable(run)
                    {
                        readable = (where_, run)
                    }
                }
            }
            // 2-digit codes: as ASCII (32-99) and shifted by 32 (any pair is printable: only a dataset match counts).
            for shift in 0..<2 {
                for run in Self.decodeRuns(stream, width: 2, from: shift, offset: 0) where run.count >= 6 {
                    if decodedText(run, place: where_, how: "2-digit character codes") { return }
                }
                for run in Self.decodeRuns(stream, width: 2, from: shift, offset: 32) where run.count >= 6 {
                    if decodedText(run, place: where_, how: "2-digit character codes + 32") { return }
                }
            }
            if digitWindows(stream, place: where_) { return }
        }
        if let (where_, run) = readable {
            add(
                "low-order-digits",
                .likely,
                where_,
                "decoded as 3-digit character codes, they spell text (\(run.count) characters)"
            )
        }
    }

    /// Letters and spaces, with a word: what random digits almost never decode to.
    static func readable(_ run: String) -> Bool {
        // A constant column (lr=0.001 on every line) repeats one code: not text.
        guard run.count >= 8, Set(run).count >= 5 else { return false }
        let letters = run.filter { $0.isLetter || $0 == " " || "@.-_".contains($0) }.count
        let words = run.split(separator: " ").filter { $0.count >= 2 && $0.allSatisfy(\.isLetter) }.count
        return letters * 100 >= run.count * 90 && words >= 1 && run.filter(\.isLetter).count >= 6
    }

    /// Runs of printable characters decoded from `width`-digit codes (+ `offset`).
    static func decodeRuns(_ digits: [UInt8], width: Int, from: Int, offset: Int) -> [String] {
        var runs: [String] = []
        var current = ""
        var i = from
        while i + width <= digits.count {
            var code = 0
            for k in 0..<width { code = code * 10 + Int(digits[i + k] - 48) }
            code += offset
            if (32...126).contains(code) {
                current.unicodeScalars.append(Unicode.Scalar(UInt8(code)))
            } else {
                if current.count >= 5 { runs.append(current) }
                current = ""
            }
            i += width
        }
        if current.count >= 5 { runs.append(current) }
        return runs
    }

    /// Checks decoded digits as text: true (with a certain finding) when they hold a value of the dataset.
    mutating func decodedText(_ run: String, place: String, how: String) -> Bool {
        var sub = GateScan(index: index, limits: limits, fileBytes: fileBytes)
        sub.text(run, prefix: "", depth: limits.maxDepth)
        if let certain = sub.findings.first(where: { $0.severity == .certain }) {
            add("low-order-digits", .certain, place, "decoded as \(how), they give \(certain.detail)")
            return true
        }
        return false
    }

    /// Digit windows that are identifier, canary or record values (three of one row within 32 digits).
    ///
    /// Each window of 4 to 12 digits is read as digits, with a decimal point before its last digit and before
    /// its last two; each is hashed as `GateText.normalize` would print it (trailing fraction zeros dropped),
    /// extending one FNV state digit by digit instead of building strings. The record values of the last 32
    /// digits are counted per dataset row (`DatasetIndex.recordRows`): their triples are looked up only while
    /// some row holds three of them, as no triple of the index can match otherwise.
    mutating func digitWindows(_ stream: [UInt8], place: String) -> Bool {
        guard stream.allSatisfy(\.isDigit) else { return digitWindowsOfText(stream, place: place) }
        var hits: [(Int, UInt64)] = []
        var rowHits: [Int32: Int32] = [:]
        var rowsWithThree = 0
        // prefix[l]: the FNV state of the window's first l digits.
        var prefix = [UInt64](repeating: GateText.hashStart, count: 13)
        let dot = UInt8(ascii: ".")
        let zero = UInt8(ascii: "0")
        for i in 0..<stream.count {
            let longest = min(12, stream.count - i)
            if longest >= 1 { for l in 1...longest { prefix[l] = GateText.hashStep(prefix[l - 1], stream[i + l - 1]) } }
            if longest >= 4 {
                for length in 4...longest {
                    let last = stream[i + length - 1]
                    let penultimate = stream[i + length - 2]
                    for form in 0..<(length >= 5 ? 3 : 1) {
                        let state: UInt64
                        switch form {
                        case 0: state = prefix[length]
                        case 1:
                            state =
                                last == zero
                                ? prefix[length - 1]
                                : GateText.hashStep(GateText.hashStep(prefix[length - 1], dot), last)
                        default:
                            let integer = prefix[length - 2]
                            if last != zero {
                                state = GateText.hashStep(
                                    GateText.hashStep(GateText.hashStep(integer, dot), penultimate),
                                    last
                                )
                            } else if penultimate != zero {
                                state = GateText.hashStep(GateText.hashStep(integer, dot), penultimate)
                            } else {
                                state = integer
                            }
                        }
                        let h = GateText.mix(state)
                        guard index.mayBeValue(h) else { continue }
                        if length >= 6, let source = index.identifiers[h] {
                            add("low-order-digits", .certain, place, "they spell a value of \(index.describe(source))")
                            return true
                        }
                        if length >= 5, let canary = index.canaryValues[h] {
                            add("low-order-digits", .certain, place, "they spell a value of canary \(canary)")
                            return true
                        }
                        if index.recordValues.contains(h), !hits.contains(where: { $0.1 == h }) {
                            hits.append((i, h))
                            for row in index.recordRows(h) {
                                let n = rowHits[row, default: 0] + 1
                                rowHits[row] = n
                                if n == 3 { rowsWithThree += 1 }
                            }
                        }
                    }
                }
            }
            while let first = hits.first, first.0 < i - 32 {
                hits.removeFirst()
                for row in index.recordRows(first.1) {
                    let n = rowHits[row, default: 1] - 1
                    if n == 2 { rowsWithThree -= 1 }
                    rowHits[row] = n == 0 ? nil : n
                }
            }
            if hits.count >= 3, rowsWithThree > 0 {
                let before = findings.count
                triples(hits.map(\.1), place: place)
                if findings.count > before || findings.contains(where: { $0.where == place && $0.severity == .certain })
                {
                    return true
                }
            }
        }
        return false
    }

    /// `digitWindows` on strings, for a stream that is not all digits (the streams of `lowOrderDigits` are).
    mutating func digitWindowsOfText(_ stream: [UInt8], place: String) -> Bool {
        var hits: [(Int, UInt64)] = []
        for i in 0..<stream.count {
            for length in 4...12 where i + length <= stream.count {
                let digits = String(decoding: stream[i..<(i + length)], as: UTF8.self)
                var candidates = [digits]
                if length >= 5 {
                    candidates.append(String(digits.dropLast(1)) + "." + String(digits.suffix(1)))
                    candidates.append(String(digits.dropLast(2)) + "." + String(digits.suffix(2)))
                }
                for candidate in candidates {
                    let normalized = GateText.normalize(candidate)
                    let h = GateText.hash(normalized)
                    if length >= 6, let source = index.identifiers[h] {
                        add("low-order-digits", .certain, place, "they spell a value of \(index.describe(source))")
                        return true
                    }
                    if length >= 5, let canary = index.canaryValues[h] {
                        add("low-order-digits", .certain, place, "they spell a value of canary \(canary)")
                        return true
                    }
                    if index.recordValues.contains(h), !hits.contains(where: { $0.1 == h }) { hits.append((i, h)) }
                }
            }
            hits.removeAll { $0.0 < i - 32 }
            if hits.count >= 3 {
                let before = findings.count
                triples(hits.map(\.1), place: place)
                if findings.count > before || findings.contains(where: { $0.where == place && $0.severity == .certain })
                {
                    return true
                }
            }
        }
        return false
    }
}
