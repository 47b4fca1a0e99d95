import Foundation
import Sampling

/// One dataset column as the statistical checks need it: dictionary codes for categorical values, numbers, and
/// the year and month of dates. Kept in `DatasetIndex` for quasi-identifier, sensitive, date and other columns.
struct StatColumn: Sendable, Equatable {
    /// The column name as in the header, and normalized (for matching output headers).
    var name: String
    var normalizedName: String
    var role: ColumnRole
    /// Normalized value → code; empty when the column has more than `maxCategories` distinct values.
    var dictionary: [String: Int32] = [:]
    /// Code per row (-1: empty), or empty when the column is not categorical.
    var codes: [Int32] = []
    /// Number per row (NaN: missing or not a number), or empty when fewer than 95 % of cells are numbers.
    var numbers: [Double] = []
    /// Month index (year × 12 + month − 1) per row (-1: not a date), or empty when not a date column.
    var months: [Int32] = []
    var nonNegative = true

    static let maxCategories = 4_096

    var isCategorical: Bool { !codes.isEmpty }
    var isNumeric: Bool { !numbers.isEmpty }
    var isDate: Bool { !months.isEmpty }
}

/// One dataset table for re-derivation: its typed columns and the entity (contributor) of each row.
struct StatTable: Sendable, Equatable {
    var name: String
    var rowCount: Int
    /// The policy's entity column.
    var entityName: String
    /// Entity code per row; empty when every row is its own entity (the entity column is unique).
    var entities: [Int32] = []
    var columns: [StatColumn] = []

    /// An empty table (the index cache fills it in).
    init(name: String, rowCount: Int, entityName: String) {
        self.name = name
        self.rowCount = rowCount
        self.entityName = entityName
    }

    /// Builds the typed columns of `table` for the policy's entry.
    init(name: String, table: CSVTable, entry: DatasetPolicy.Table) {
        self.name = name
        rowCount = table.rows.count
        entityName = entry.entity
        if let entityIndex = table.column(entry.entity) {
            var ids: [String: Int32] = [:]
            var codes: [Int32] = []
            codes.reserveCapacity(table.rows.count)
            for row in table.rows {
                let value = row[entityIndex]
                if let code = ids[value] {
                    codes.append(code)
                } else {
                    let code = Int32(ids.count)
                    ids[value] = code
                    codes.append(code)
                }
            }
            if ids.count < table.rows.count { entities = codes }
        }
        for column in entry.columns.keys.sorted() {
            guard let role = entry.columns[column],
                [.quasiIdentifier, .sensitive, .date, .other].contains(role),
                let index = table.column(column)
            else { continue }
            columns.append(Self.build(column, role: role, index: index, rows: table.rows))
        }
    }

    static func build(_ name: String, role: ColumnRole, index: Int, rows: [[String]]) -> StatColumn {
        var column = StatColumn(name: name, normalizedName: StatText.label(name), role: role)
        var dictionary: [String: Int32] = [:]
        var codes: [Int32] = []
        var numbers: [Double] = []
        var months: [Int32] = []
        codes.reserveCapacity(rows.count)
        numbers.reserveCapacity(rows.count)
        var categorical = true
        var numeric = 0
        var dates = 0
        var nonEmpty = 0
        for row in rows {
            let cell = row[index]
            let label = StatText.label(cell)
            if label.isEmpty {
                if categorical { codes.append(-1) }
                numbers.append(.nan)
                months.append(-1)
                continue
            }
            nonEmpty += 1
            if categorical {
                if let code = dictionary[label] {
                    codes.append(code)
                } else if dictionary.count < StatColumn.maxCategories {
                    let code = Int32(dictionary.count)
                    dictionary[label] = code
                    codes.append(code)
                } else {
                    categorical = false
                    dictionary = [:]
                    codes = []
                }
            }
            if let number = StatText.number(cell) {
                numbers.append(number)
                numeric += 1
                if number < 0 { column.nonNegative = false }
            } else {
                numbers.append(.nan)
            }
            if let month = StatText.month(cell) {
                months.append(month)
                dates += 1
            } else {
                months.append(-1)
            }
        }
        if categorical {
            column.dictionary = dictionary
            column.codes = codes
        }
        if nonEmpty > 0 && numeric * 20 >= nonEmpty * 19 && dates * 2 < nonEmpty { column.numbers = numbers }
        if nonEmpty > 0 && dates * 20 >= nonEmpty * 19 { column.months = months }
        return column
    }
}

/// Text helpers shared by the statistical checks.
enum StatText {
    /// A label as matched: case-folded, trimmed, inner spaces collapsed, surrounding quotes dropped.
    static func label(_ text: some StringProtocol) -> String {
        // Fast path: lowercase ASCII without spaces, quotes or underscores is its own label.
        let plain = text.utf8.allSatisfy { b in
            b > 0x20 && b < 0x7F && !(b >= 65 && b <= 90) && b != 0x22 && b != 0x27 && b != 0x60 && b != 0x5F
        }
        if plain { return String(text) }
        var out = ""
        var space = false
        for ch in text.lowercased() {
            if ch.isWhitespace || ch == "_" {
                space = !out.isEmpty
            } else if ch == "\"" || ch == "'" || ch == "`" {
                continue
            } else {
                if space { out.append(" ") }
                space = false
                out.append(ch)
            }
        }
        return out
    }

    /// A plain number: `12`, `-3.5`, `1,234.5`, `1e3`, `12%` (as 12); nil otherwise.
    static func number(_ text: some StringProtocol) -> Double? {
        let utf8 = text.utf8
        guard let first = utf8.first(where: { $0 != 0x20 && $0 != 0x09 }),
            first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                || (first >= 48 && first <= 57)
        else { return nil }
        var s = String(text)
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        if s.hasSuffix("%") { s.removeLast() }
        if s.contains(",") {
            // Thousands separators only: 1,234 or 1,234.5.
            let parts = s.split(separator: ".", maxSplits: 1)
            let groups = parts[0].split(separator: ",", omittingEmptySubsequences: false)
            guard groups.count > 1, groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
            s = groups.joined() + (parts.count > 1 ? "." + parts[1] : "")
        }
        guard let first = s.utf8.first,
            first == UInt8(ascii: "-") || first == UInt8(ascii: "+")
                || first == UInt8(ascii: ".") || (first >= 48 && first <= 57)
        else { return nil }
        guard let value = Double(s), value.isFinite else { return nil }
        return value
    }

    /// Decimal places written in a number cell (0 for integers; 6 significant digits for exponent forms).
    static func decimals(_ text: some StringProtocol) -> Int {
        let s = Substring(text).trimmingCharacters(in: .whitespaces)
        if s.contains("e") || s.contains("E") { return -1 }
        guard let dot = s.firstIndex(of: ".") else { return 0 }
        return s[s.index(after: dot)...].prefix { $0.isNumber }.count
    }

    /// Year × 12 + month − 1 of `YYYY-MM`, `YYYY-MM-DD`, `YYYY/MM/DD` (time parts ignored).
    static func month(_ text: some StringProtocol) -> Int32? {
        // ASCII text is trimmed on bytes (`.whitespaces` holds only space and tab there): Foundation's
        // `trimmingCharacters` took most of the index build, which reads every cell of the dataset here.
        var b = Array(text.utf8)
        if b.allSatisfy({ $0 < 0x80 }) {
            var lo = 0
            var hi = b.count
            while lo < hi, b[lo] == 0x20 || b[lo] == 0x09 { lo += 1 }
            while hi > lo, b[hi - 1] == 0x20 || b[hi - 1] == 0x09 { hi -= 1 }
            b = Array(b[lo..<min(hi, lo + 10)])
        } else {
            b = Array(Substring(text).trimmingCharacters(in: .whitespaces).utf8.prefix(10))
        }
        guard b.count >= 7, b[0...3].allSatisfy({ $0 >= 48 && $0 <= 57 }), b[4] == 45 || b[4] == 47,
            b[5] >= 48 && b[5] <= 57, b[6] >= 48 && b[6] <= 57
        else { return nil }
        let year = b[0...3].reduce(0) { $0 * 10 + Int32($1 - 48) }
        let month = Int32(b[5] - 48) * 10 + Int32(b[6] - 48)
        guard (1...12).contains(month), (1000...2999).contains(year) else { return nil }
        if b.count > 7 && b[7] != b[4] { return nil }
        return year * 12 + month - 1
    }
}
