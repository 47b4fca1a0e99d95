import Foundation

/// An output table as the statistical checks read it: a header and rows of text cells, from a CSV or TSV
/// file, a JSON array of objects, or a Markdown table. `place` names where a row is in the file.
struct StatGrid: Sendable {
    var header: [String]
    var rows: [[String]]
    /// The file's own row number of `rows[i]` (1-based, as the other checks count them).
    var rowNumbers: [Int]
    /// How a place is written: "row N" (tables) or "line N" (Markdown).
    var unit = "row"

    init(header: [String], rows: [[String]], rowNumbers: [Int]? = nil, unit: String = "row") {
        self.header = header
        self.rows = rows
        self.rowNumbers = rowNumbers ?? Array(1...max(rows.count, 1)).prefix(rows.count).map { $0 }
        self.unit = unit
        mergeHeaderRows()
    }

    func place(_ row: Int, _ column: Int) -> String {
        "\(unit) \(rowNumbers[row]), column \"\(column < header.count ? header[column] : "\(column + 1)")\""
    }

    /// pandas writes a grouped table with several header lines (`,income,income` / `,mean,count` /
    /// `region,,`): leading rows without any number are folded into the header.
    private mutating func mergeHeaderRows() {
        var merged = 0
        while merged < 3, let first = rows.first, first.count == header.count,
            !first.contains(where: { StatText.number($0) != nil }), rows.count > 1
        {
            for j in header.indices where !first[j].isEmpty {
                header[j] = header[j].isEmpty ? first[j] : header[j] + " " + first[j]
            }
            rows.removeFirst()
            rowNumbers.removeFirst()
            merged += 1
        }
    }

    /// Every Markdown table (a `|` row, a `|---|` separator, then `|` rows) in `text`.
    static func markdown(_ text: String) -> [StatGrid] {
        var grids: [StatGrid] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        var i = 0
        func cells(_ line: Substring) -> [String] {
            var body = line.trimmingCharacters(in: .whitespaces)
            if body.hasPrefix("|") { body.removeFirst() }
            if body.hasSuffix("|") { body.removeLast() }
            return body.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "*", with: "")
            }
        }
        while i + 1 < lines.count {
            let head = lines[i].trimmingCharacters(in: .whitespaces)
            let rule = lines[i + 1].trimmingCharacters(in: .whitespaces)
            guard head.hasPrefix("|"), rule.hasPrefix("|"), rule.contains("-"),
                rule.allSatisfy({ "|-: ".contains($0) })
            else {
                i += 1
                continue
            }
            let header = cells(lines[i])
            var rows: [[String]] = []
            var numbers: [Int] = []
            var j = i + 2
            while j < lines.count, lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("|") {
                let row = cells(lines[j])
                if row.count == header.count {
                    rows.append(row)
                    numbers.append(j + 1)
                }
                j += 1
            }
            if !rows.isEmpty { grids.append(StatGrid(header: header, rows: rows, rowNumbers: numbers, unit: "line")) }
            i = j
        }
        return grids
    }

    /// A JSON array of objects (pandas `to_json(orient="records")`), columns in sorted key order.
    static func json(_ value: Any) -> StatGrid? {
        guard let array = value as? [[String: Any]], let first = array.first, array.count >= 1 else { return nil }
        let keys = first.keys.sorted()
        guard !keys.isEmpty, keys.count <= 256 else { return nil }
        var rows: [[String]] = []
        for object in array {
            guard object.count == keys.count else { return nil }
            var row: [String] = []
            for key in keys {
                guard let cell = object[key] else { return nil }
                if let s = cell as? String {
                    row.append(s)
                } else if let n = cell as? NSNumber {
                    row.append(n.stringValue)
                } else if cell is NSNull {
                    row.append("")
                } else {
                    return nil
                }
            }
            rows.append(row)
        }
        return StatGrid(header: keys, rows: rows, unit: "$ item")
    }
}

/// A numeric band label: `30-39`, `30 to 39`, `[30, 40)`, `(29.999, 40.0]`, `<18`, `<=17`, `65+`, `>=65`,
/// `65 and over`, `under 18`.
struct StatBand: Sendable, Equatable {
    var low = -Double.infinity
    var high = Double.infinity
    var lowClosed = true
    var highClosed = true

    func contains(_ value: Double) -> Bool {
        (lowClosed ? value >= low : value > low) && (highClosed ? value <= high : value < high)
    }

    static func parse(_ raw: String) -> StatBand? {
        var s = StatText.label(raw)
        // Dashes and inequality signs others than ASCII's (through Foundation, only when there is one).
        if s.utf8.contains(where: { $0 >= 0x80 }) {
            s = s.replacingOccurrences(of: "–", with: "-").replacingOccurrences(of: "—", with: "-")
            s = s.replacingOccurrences(of: "≤", with: "<=").replacingOccurrences(of: "≥", with: ">=")
        }
        guard !s.isEmpty, s.count <= 40 else { return nil }
        func num(_ t: some StringProtocol) -> Double? { StatText.number(t.trimmingCharacters(in: .whitespaces)) }
        // Interval notation.
        if let open = s.first, open == "[" || open == "(", let close = s.last, close == "]" || close == ")" {
            let inner = s.dropFirst().dropLast().split(separator: ",")
            guard inner.count == 2, let a = num(inner[0]), let b = num(inner[1]), a <= b else { return nil }
            return StatBand(low: a, high: b, lowClosed: open == "[", highClosed: close == "]")
        }
        for (prefix, closed) in [("<=", true), ("<", false), ("under ", false), ("below ", false)]
        where s.hasPrefix(prefix) {
            guard let b = num(s.dropFirst(prefix.count)) else { return nil }
            return StatBand(high: b, highClosed: closed)
        }
        for (prefix, closed) in [(">=", true), (">", false), ("over ", false), ("above ", false)]
        where s.hasPrefix(prefix) {
            guard let a = num(s.dropFirst(prefix.count)) else { return nil }
            return StatBand(low: a, lowClosed: closed)
        }
        for suffix in ["+", " and over", " and older", " or more", " plus"] where s.hasSuffix(suffix) {
            guard let a = num(s.dropLast(suffix.count)) else { return nil }
            return StatBand(low: a)
        }
        for separator in [" to ", "-"] {
            guard let range = s.range(of: separator, range: s.index(after: s.startIndex)..<s.endIndex) else {
                continue
            }
            guard let a = num(s[..<range.lowerBound]), let b = num(s[range.upperBound...]), a < b else { return nil }
            // Integer bands ("30-39") cover up to the next integer.
            if a.rounded() == a && b.rounded() == b { return StatBand(low: a, high: b + 1, highClosed: false) }
            return StatBand(low: a, high: b)
        }
        return nil
    }
}
