import Foundation

/// A number as printed, for the covert-channel checks: where the digits of its fraction are in the scanned
/// text's bytes, and its count of significant digits. Plain values, so that hundreds of thousands of them
/// are copied and grouped without reference counting.
struct PrintedNumber {
    /// The fraction's first byte in the text.
    var fractionStart: Int32
    var fractionCount: Int32
    /// Significant digits (leading zeros of the whole number not counted, trailing zeros counted).
    var significant: Int32

    /// `[-+]digits.digits` standing alone in `b[range]` (not part of a word, a version number or a date),
    /// appended to `out`; returns how many were found.
    @discardableResult
    static func scan(_ b: [UInt8], _ range: Range<Int>, into out: inout [PrintedNumber]) -> Int {
        var found = 0
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            guard b[i].isDigit,
                i == range.lowerBound || !(b[i - 1].isDigit || b[i - 1].isLetter || b[i - 1] == UInt8(ascii: "."))
            else {
                i += 1
                continue
            }
            let start = i
            while i < end, b[i].isDigit { i += 1 }
            let integerEnd = i
            guard i + 1 < end, b[i] == UInt8(ascii: "."), b[i + 1].isDigit else { continue }
            i += 1
            let fractionStart = i
            while i < end, b[i].isDigit { i += 1 }
            // 1.2.3, 1.5e-3, 12.5abc are not plain decimals.
            if i < end, b[i] == UInt8(ascii: ".") || b[i].isLetter { continue }
            // Significant digits: all from the first that is not 0 (the point counts in neither part).
            var first = start
            while first < i, b[first] == UInt8(ascii: "0") || b[first] == UInt8(ascii: ".") { first += 1 }
            let significant = first == i ? 0 : (i - first) - (first < integerEnd ? 1 : 0)
            out.append(
                PrintedNumber(
                    fractionStart: Int32(truncatingIfNeeded: fractionStart),
                    fractionCount: Int32(truncatingIfNeeded: i - fractionStart),
                    significant: Int32(truncatingIfNeeded: significant)
                )
            )
            found += 1
        }
        return found
    }

    /// The line breaks `Character.isNewline` knows, on UTF-8: the length of the one at `b[i]`, or 0.
    static func newline(_ b: [UInt8], at i: Int) -> Int {
        switch b[i] {
        case 0x0A, 0x0B, 0x0C, 0x0D: return 1
        case 0xC2: return i + 1 < b.count && b[i + 1] == 0x85 ? 2 : 0
        case 0xE2: return i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9) ? 3 : 0
        default: return 0
        }
    }
}

extension GateScan {
    /// Numeric covert channels in a text or table: more significant digits than printing a double needs or a
    /// fixed format with many digits (review), and low-order digits that decode to text or dataset values (a
    /// dataset value blocks).
    mutating func numericChannels(name: String, text: String) {
        let b = Array(text.utf8)
        let ext = (name as NSString).pathExtension.lowercased()
        let separator: UInt8? = ext == "csv" ? UInt8(ascii: ",") : ext == "tsv" ? 0x09 : nil
        // Numbers by column (or by place on the line), named only once the file is read.
        var byPlace: [[PrintedNumber]] = []
        var all: [PrintedNumber] = []
        var scratch: [PrintedNumber] = []
        var lines = 0
        var lineStart = 0
        var i = 0
        while i <= b.count {
            let breakLength = i < b.count ? PrintedNumber.newline(b, at: i) : 1
            guard breakLength > 0 else {
                i += 1
                continue
            }
            defer {
                i += breakLength
                lineStart = i
            }
            guard i > lineStart else { continue }  // empty lines are skipped
            lines += 1
            if lines & 1023 == 0, outOfTime { return timeUp("numbers") }
            if let separator {
                var column = 0
                var cellStart = lineStart
                for k in lineStart...i where k == i || b[k] == separator {
                    scratch.removeAll(keepingCapacity: true)
                    if PrintedNumber.scan(b, cellStart..<k, into: &scratch) == 1 {
                        while byPlace.count <= column { byPlace.append([]) }
                        byPlace[column].append(scratch[0])
                    }
                    all += scratch
                    column += 1
                    cellStart = k + 1
                }
            } else {
                let before = all.count
                PrintedNumber.scan(b, lineStart..<i, into: &all)
                for k in before..<all.count {
                    while byPlace.count <= k - before { byPlace.append([]) }
                    byPlace[k - before].append(all[k])
                }
            }
            if all.count > 200_000 { break }
        }
        guard all.count >= 4 else { return }
        var columns: [String: [PrintedNumber]] = [:]
        for (k, numbers) in byPlace.enumerated() where !numbers.isEmpty {
            columns[separator == nil ? "number \(k + 1) of each line" : "column \(k + 1)"] = numbers
        }
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
            // The most common count of decimals (a unique mode whenever it reaches 3 in 4).
            var decimals: [Int32: Int] = [:]
            for number in numbers { decimals[number.fractionCount, default: 0] += 1 }
            if let (d, same) = decimals.max(by: { $0.value < $1.value }), d >= 10, same * 4 >= numbers.count * 3,
                numbers.contains(where: {
                    $0.fractionCount == d && b[Int($0.fractionStart + $0.fractionCount) - 1] == UInt8(ascii: "0")
                })
            {
                add(
                    "precision",
                    .likely,
                    key,
                    "\(same) numbers printed with a fixed \(d) decimals: more precision than a statistic needs"
                )
                continue
            }
            var significant: [Int32: Int] = [:]
            for number in numbers { significant[number.significant, default: 0] += 1 }
            if let (s, same) = significant.max(by: { $0.value < $1.value }), (12...15).contains(s),
                same * 4 >= numbers.count * 3
            {
                add(
                    "precision",
                    .likely,
                    key,
                    "\(same) numbers printed with \(s) significant digits: more precision than a statistic needs"
                )
            }
        }
        // Low-order digits.
        for key in columns.keys.sorted() {
            let numbers = columns[key]!
            guard numbers.count >= 3 else { continue }
            lowOrderDigits(numbers, in: b, place: key)
        }
    }

    /// Streams of low-order digits (the last 1 to 6 digits of each fraction, or all its digits after the first
    /// 0 to 4) decoded as 3-digit and 2-digit character codes and searched for dataset values.
    mutating func lowOrderDigits(_ numbers: [PrintedNumber], in text: [UInt8], place: String) {
        // Each stream is the first 20,000 digits of its parts, from at least 3 numbers.
        func stream(_ part: (_ start: Int, _ count: Int) -> Range<Int>?) -> [UInt8]? {
            var digits: [UInt8] = []
            var parts = 0
            for number in numbers {
                guard let range = part(Int(number.fractionStart), Int(number.fractionCount)) else { continue }
                parts += 1
                if digits.count < 20_000 { digits.append(contentsOf: text[range].prefix(20_000 - digits.count)) }
                if parts >= 3 && digits.count >= 20_000 { break }
            }
            return parts >= 3 ? digits : nil
        }
        var streams: [(String, [UInt8])] = []
        for s in 1...6 {
            if let digits = stream({ $1 >= s ? ($0 + $1 - s)..<($0 + $1) : nil }) {
                streams.append(("the last \(s) digits", digits))
            }
        }
        for p in 0...4 {
            if let digits = stream({ $1 > p ? ($0 + p)..<($0 + $1) : nil }) {
                streams.append(("the digits after decimal \(p)", digits))
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
        // How many of the window's record values each dataset row holds (`RowCounts`, small enough to stay in
        // cache: a flat array over the rows missed it at almost every access).
        var rowHits = RowCounts()
        // prefix[l]: the FNV state of the window's first l digits.
        var prefix = [UInt64](repeating: GateText.hashStart, count: 13)
        // The window's candidates (9 lengths, 3 forms from 5 digits on) and their lengths.
        var candidates = [UInt64](repeating: 0, count: 27)
        var lengths = [Int](repeating: 0, count: 27)
        let dot = UInt8(ascii: ".")
        let zero = UInt8(ascii: "0")
        for i in 0..<stream.count {
            let longest = min(12, stream.count - i)
            if longest >= 1 { for l in 1...longest { prefix[l] = GateText.hashStep(prefix[l - 1], stream[i + l - 1]) } }
            guard longest >= 4 else { continue }
            var count = 0
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
                    candidates[count] = GateText.mix(state)
                    lengths[count] = length
                    count += 1
                }
            }
            // All the candidates' filter bits are read before any is tested: the filter is larger than the
            // cache, and loads that do not wait on one another's branches overlap their misses.
            var pass = index.valueBitMask(candidates, count: count)
            while pass != 0 {
                let k = pass.trailingZeroBitCount
                pass &= pass - 1
                let h = candidates[k]
                let length = lengths[k]
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
                    let rows = index.recordRows(h)
                    if !rowHits.fits(rows.count) {
                        rowHits.rebuild(for: hits.map { index.recordRows($0.1) })
                    } else {
                        for row in rows { rowHits.increment(row) }
                    }
                }
            }
            while let first = hits.first, first.0 < i - 32 {
                hits.removeFirst()
                for row in index.recordRows(first.1) { rowHits.decrement(row) }
            }
            if hits.count >= 3, rowHits.rowsWithThree > 0 {
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

/// Counts per dataset row, for the rows a sliding window's values hold: an open-addressing table of a few
/// thousand slots. A row whose count falls to 0 keeps its slot until the table is rebuilt, which happens when
/// half the slots are taken.
struct RowCounts {
    private var rows: [Int32]
    private var counts: [UInt8]
    private var taken = 0
    /// Rows holding 3 or more of the values.
    private(set) var rowsWithThree = 0

    init(slots: Int = 4096) {
        rows = [Int32](repeating: -1, count: slots)
        counts = [UInt8](repeating: 0, count: slots)
    }

    /// Whether `more` rows can be counted before the table must be rebuilt.
    func fits(_ more: Int) -> Bool { (taken + more) * 2 <= rows.count }

    /// Empties the table (growing it when needed) and counts the rows of every value in `values`.
    mutating func rebuild(for values: [ArraySlice<Int32>]) {
        let total = values.reduce(0) { $0 + $1.count }
        var slots = rows.count
        while total * 4 > slots { slots *= 2 }
        self = RowCounts(slots: slots)
        for list in values { for row in list { increment(row) } }
    }

    private func slot(_ row: Int32) -> Int {
        let mask = rows.count - 1
        var k = Int(truncatingIfNeeded: (UInt64(UInt32(bitPattern: row)) &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
        while rows[k] != row && rows[k] != -1 { k = (k + 1) & mask }
        return k
    }

    mutating func increment(_ row: Int32) {
        let k = slot(row)
        if rows[k] == -1 {
            rows[k] = row
            taken += 1
        }
        counts[k] &+= 1
        if counts[k] == 3 { rowsWithThree += 1 }
    }

    mutating func decrement(_ row: Int32) {
        let k = slot(row)
        guard rows[k] == row, counts[k] > 0 else { return }
        counts[k] -= 1
        if counts[k] == 2 { rowsWithThree -= 1 }
    }
}
