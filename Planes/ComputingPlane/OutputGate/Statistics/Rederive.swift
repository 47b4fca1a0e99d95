import Foundation
import Sampling

/// Re-derivation of a bare output table: its label columns (and crosstab header labels) are matched to values,
/// bands or dates of one dataset table's columns, every cell is recomputed on the data within the output's
/// rounding, and the contributors of each matched cell are counted as distinct entities. The findings are the
/// statistical disclosure rules (threshold, dominance, p %, class disclosure, extremes); all are `likely`.
struct Rederivation {
    enum Statistic: String, CaseIterable {
        case count, mean, median, sum, min, max, std
    }

    /// A label dimension: an output column (or the header) matched to a dataset column.
    struct Dim {
        enum Kind {
            case category
            case bands([StatBand])
            case month, year
        }
        var column: Int
        var kind: Kind
        /// Bin of each output label (-2: a total, -3: no match).
        var labelBins: [Int32]
        var hasTotal: Bool
    }

    /// What a value column was re-derived as.
    struct Derived {
        var statistic: Statistic
        var column: Int?
        var matched: [Bool]
    }

    let table: StatTable
    let thresholds: DatasetPolicy.Thresholds

    static let wildcard: Int32 = -2
    static let noMatch: Int32 = -3
    static let stopWords: Set<String> = ["total", "all", "overall", "grand total", "sum", "margin"]

    // MARK: Entry

    /// Findings for `grid` against the best-matching dataset table (none when its labels match nothing).
    static func findings(_ grid: StatGrid, index: DatasetIndex) -> [GateFinding] {
        guard grid.rows.count >= 1, grid.header.count >= 2, grid.rows.count <= 100_000 else { return [] }
        var best: (score: Double, findings: [GateFinding])?
        for table in index.statTables {
            let engine = Rederivation(table: table, thresholds: index.thresholds)
            guard let result = engine.run(grid) else { continue }
            if best == nil || result.score > best!.score { best = result }
        }
        return best?.findings ?? []
    }

    // MARK: Matching labels

    func bin(_ dim: Dim, row r: Int) -> Int32 {
        let column = table.columns[dim.column]
        switch dim.kind {
        case .category: return column.codes[r]
        case .month: return column.months[r]
        case .year: return column.months[r] < 0 ? -1 : column.months[r] / 12
        case .bands(let bands):
            let v = column.numbers[r]
            if v.isNaN { return -1 }
            for (i, band) in bands.enumerated() where band.contains(v) { return Int32(i) }
            return -1
        }
    }

    /// Matches a list of labels (an output column's cells, or crosstab header cells) to a dataset column.
    func matchLabels(_ labels: [String], name: String, numericAllowed: Bool) -> Dim? {
        let normalized = labels.map { StatText.label($0) }
        let totals = normalized.map { Self.stopWords.contains($0) }
        let real = normalized.enumerated().filter { !totals[$0.offset] && !$0.element.isEmpty }.map(\.element)
        guard !real.isEmpty else { return nil }
        let distinct = Set(real)
        let headerName = StatText.label(name)
        var best: (score: Double, dim: Dim)?
        func consider(_ score: Double, _ dim: Dim) {
            if score > (best?.score ?? 0) { best = (score, dim) }
        }
        let allNumbers = real.allSatisfy { StatText.number($0) != nil }
        for (c, column) in table.columns.enumerated() {
            let named = !headerName.isEmpty && (headerName == column.normalizedName)
            if allNumbers && !numericAllowed && !named { continue }
            if column.isCategorical {
                let hits = distinct.filter { column.dictionary[$0] != nil }.count
                let fraction = Double(hits) / Double(distinct.count)
                if fraction >= 0.8 && (hits >= 2 || named || distinct.count == 1) {
                    let bins = normalized.enumerated().map { i, l -> Int32 in
                        totals[i] ? Self.wildcard : (column.dictionary[l] ?? Self.noMatch)
                    }
                    consider(
                        fraction + (named ? 1 : 0) + 0.01,
                        Dim(column: c, kind: .category, labelBins: bins, hasTotal: totals.contains(true))
                    )
                }
            }
            if column.isNumeric && !allNumbers {
                var bands: [StatBand] = []
                var bins: [Int32] = []
                var parsed = 0
                for (i, l) in normalized.enumerated() {
                    if totals[i] {
                        bins.append(Self.wildcard)
                    } else if let band = StatBand.parse(l) {
                        parsed += 1
                        if let at = bands.firstIndex(of: band) {
                            bins.append(Int32(at))
                        } else {
                            bands.append(band)
                            bins.append(Int32(bands.count - 1))
                        }
                    } else {
                        bins.append(Self.noMatch)
                    }
                }
                if parsed * 10 >= real.count * 8 && bands.count >= 1 {
                    // Which numeric column the bands are of: the named one, else the one they cover best.
                    var covered = 0
                    var present = 0
                    let stride = max(1, column.numbers.count / 20_000)
                    var r = 0
                    while r < column.numbers.count {
                        let v = column.numbers[r]
                        if !v.isNaN {
                            present += 1
                            if bands.contains(where: { $0.contains(v) }) { covered += 1 }
                        }
                        r += stride
                    }
                    let coverage = present == 0 ? 0 : Double(covered) / Double(present)
                    if coverage >= 0.02 || named {
                        consider(
                            0.5 + coverage * 0.4 + (named ? 1 : 0),
                            Dim(column: c, kind: .bands(bands), labelBins: bins, hasTotal: totals.contains(true))
                        )
                    }
                }
            }
            if column.isDate {
                let months = normalized.map { StatText.month($0) }
                if real.count > 0, months.compactMap({ $0 }).count * 10 >= real.count * 8 {
                    let bins = normalized.indices.map { i -> Int32 in
                        totals[i] ? Self.wildcard : (months[i] ?? Self.noMatch)
                    }
                    consider(
                        0.9 + (named ? 1 : 0),
                        Dim(column: c, kind: .month, labelBins: bins, hasTotal: totals.contains(true))
                    )
                }
                let years = normalized.map { l -> Int32? in
                    guard l.count == 4, let y = Int32(l), (1000...2999).contains(y) else { return nil }
                    return y
                }
                let yearHeader = named || headerName.contains("year")
                if yearHeader, years.compactMap({ $0 }).count * 10 >= real.count * 8 {
                    let bins = normalized.indices.map { i -> Int32 in
                        totals[i] ? Self.wildcard : (years[i] ?? Self.noMatch)
                    }
                    consider(
                        0.9 + (named ? 1 : 0),
                        Dim(column: c, kind: .year, labelBins: bins, hasTotal: totals.contains(true))
                    )
                }
            }
        }
        return best?.dim
    }

    // MARK: Run

    func run(_ grid: StatGrid) -> (score: Double, findings: [GateFinding])? {
        let width = grid.header.count
        let rows = grid.rows.filter { $0.count == width }
        guard rows.count == grid.rows.count else { return nil }
        // Label columns: text columns matched to the data; number columns only when their header names a column.
        var dims: [(outColumn: Int, dim: Dim)] = []
        var valueColumns: [Int] = []
        for j in 0..<width {
            let cells = rows.map { $0[j] }
            let nonEmpty = cells.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            let numeric = nonEmpty.filter { StatText.number($0) != nil }.count
            let mostlyNumeric = !nonEmpty.isEmpty && numeric * 10 >= nonEmpty.count * 8
            if dims.count < 3, let dim = matchLabels(cells, name: grid.header[j], numericAllowed: false),
                !(mostlyNumeric && StatText.label(grid.header[j]) != table.columns[dim.column].normalizedName
                    && !StatText.label(grid.header[j]).contains("year"))
            {
                dims.append((j, dim))
            } else if mostlyNumeric {
                valueColumns.append(j)
            }
        }
        guard !valueColumns.isEmpty else { return nil }
        // A crosstab: the value columns' headers are labels too.
        var headerDim: Dim?
        if valueColumns.count >= 2 {
            headerDim = matchLabels(valueColumns.map { grid.header[$0] }, name: "", numericAllowed: true)
            if let h = headerDim, dims.contains(where: { $0.dim.column == h.column }) { headerDim = nil }
        }
        guard !dims.isEmpty || headerDim != nil else { return nil }
        let labelScore = Double(dims.count + (headerDim == nil ? 0 : 1))

        // Groups: output row × header position.
        let positions = headerDim.map { $0.labelBins.count } ?? 1
        var groupOfKey: [Int64: [Int32]] = [:]
        for i in rows.indices {
            var key: Int64 = 0
            var usable = true
            for d in dims {
                let b = d.dim.labelBins[i]
                if b == Self.noMatch { usable = false }
                key = (key << 20) | Int64(b + 3)
            }
            if usable { groupOfKey[key, default: []].append(Int32(i)) }
        }
        // An aggregate has one row per label combination (a second for a repeated block at most); rows that
        // repeat their labels are records, not cells, and are left to the record checks.
        guard !groupOfKey.isEmpty, groupOfKey.values.allSatisfy({ $0.count <= 2 }) else { return nil }
        var headerPositions: [Int32: [Int32]] = [:]
        var headerTotals: [Int32] = []
        if let h = headerDim {
            for (p, b) in h.labelBins.enumerated() {
                if b == Self.wildcard {
                    headerTotals.append(Int32(p))
                } else if b >= 0 {
                    headerPositions[b, default: []].append(Int32(p))
                }
            }
        }
        var members = [[Int32]](repeating: [], count: rows.count * positions)
        let totalDims = dims.indices.filter { dims[$0].dim.hasTotal }
        var dimBins = [Int32](repeating: 0, count: dims.count)
        for r in 0..<table.rowCount {
            var ok = true
            for (d, entry) in dims.enumerated() {
                let b = bin(entry.dim, row: r)
                if b < 0 {
                    ok = false
                    break
                }
                dimBins[d] = b
            }
            guard ok else { continue }
            var headerTargets: [Int32] = [0]
            if let h = headerDim {
                let b = bin(h, row: r)
                headerTargets = (b >= 0 ? headerPositions[b] ?? [] : []) + headerTotals
                if headerTargets.isEmpty { continue }
            }
            // Every combination of a dimension's own bin and its total.
            let combinations = 1 << totalDims.count
            for mask in 0..<combinations {
                var key: Int64 = 0
                for d in dims.indices {
                    var b = dimBins[d]
                    if let t = totalDims.firstIndex(of: d), mask & (1 << t) != 0 { b = Self.wildcard }
                    key = (key << 20) | Int64(b + 3)
                }
                guard let outRows = groupOfKey[key] else { continue }
                for outRow in outRows {
                    for p in headerTargets { members[Int(outRow) * positions + Int(p)].append(Int32(r)) }
                }
            }
        }

        // Each value column: which statistic of which dataset column it is.
        var findings: [GateFinding] = []
        var cellsMatched = 0
        let stats = CellStats(table: table)
        func position(_ j: Int) -> Int {
            guard headerDim != nil, let p = valueColumns.firstIndex(of: j) else { return 0 }
            return p
        }
        var derivedColumns: [Int: Derived] = [:]
        if headerDim != nil {
            // One statistic for every cell of a crosstab or pivot table.
            if let derived = derive(
                grid: grid,
                rows: rows,
                columns: valueColumns,
                members: members,
                positions: positions,
                position: position,
                stats: stats,
                header: ""
            ) {
                for j in valueColumns { derivedColumns[j] = derived }
            }
        } else {
            for j in valueColumns {
                if let derived = derive(
                    grid: grid,
                    rows: rows,
                    columns: [j],
                    members: members,
                    positions: positions,
                    position: position,
                    stats: stats,
                    header: grid.header[j]
                ) {
                    derivedColumns[j] = derived
                }
            }
        }
        guard !derivedColumns.isEmpty else { return nil }
        let min = thresholds.minCellCount
        let dimensions = dims.count + (headerDim == nil ? 0 : 1)
        for j in valueColumns.sorted() {
            guard let derived = derivedColumns[j] else { continue }
            for i in rows.indices {
                let cell = rows[i][j]
                let group = members[i * positions + position(j)]
                guard StatText.number(cell) != nil else {
                    // pandas writes an empty cell (or NaN) where a pivot table's group has no one.
                    let text = cell.trimmingCharacters(in: .whitespaces).lowercased()
                    if dimensions >= 2, group.isEmpty, text.isEmpty || text == "nan" {
                        findings.append(
                            GateFinding(
                                check: "class-disclosure",
                                severity: .likely,
                                where: grid.place(i, j),
                                detail:
                                    "re-derived from \(table.name): an empty cell of a crosstab (no one in this group has this value)"
                            )
                        )
                    }
                    continue
                }
                let values = derived.column.map { stats.values(group, column: $0) }
                let n = derived.statistic == .count ? group.count : (values?.values.count ?? group.count)
                let entities =
                    derived.statistic == .count ? stats.entities(group) : (values.map { stats.entities($0.rows) } ?? 0)
                cellsMatched += 1
                let place = grid.place(i, j)
                let column = derived.column.map { table.columns[$0].name }
                let what = derived.statistic == .count ? "count" : "\(derived.statistic.rawValue) of \(column ?? "?")"
                let who = table.entities.isEmpty ? "rows" : "distinct \(table.entityName) values"
                if n == 0 {
                    if derived.statistic == .count && dimensions >= 2 {
                        findings.append(
                            GateFinding(
                                check: "class-disclosure",
                                severity: .likely,
                                where: place,
                                detail:
                                    "re-derived from \(table.name): a zero cell of a crosstab (no one in this group has this value, so the rest of the group all share the others)"
                            )
                        )
                    }
                    continue
                }
                if entities < min {
                    let check = derived.statistic == .min || derived.statistic == .max ? "extremes" : "threshold"
                    findings.append(
                        GateFinding(
                            check: check,
                            severity: .likely,
                            where: place,
                            detail:
                                "re-derived from \(table.name): the \(what) covers \(entities) \(who), below minCellCount \(min)"
                        )
                    )
                    continue
                }
                if let values, let c = derived.column, derived.statistic == .sum || derived.statistic == .mean,
                    table.columns[c].role == .sensitive, table.columns[c].nonNegative
                {
                    let totals = stats.entityTotals(values)
                    let total = totals.reduce(0, +)
                    guard total > 0 else { continue }
                    // The dominance and p% rules read the largest few contributors, not a sort of all of them.
                    let top = Self.largest(Swift.max(thresholds.dominanceN, 2), of: totals)
                    let n = Swift.min(thresholds.dominanceN, top.count)
                    let topN = top.prefix(n).reduce(0, +)
                    if topN / total > thresholds.dominanceK {
                        findings.append(
                            GateFinding(
                                check: "dominance",
                                severity: .likely,
                                where: place,
                                detail:
                                    "re-derived from \(table.name): the top \(n) contributors hold \(Int((topN / total * 100).rounded())) % of the \(what) (rule \(thresholds.dominanceN), \(thresholds.dominanceK))"
                            )
                        )
                    }
                    if top.count >= 2, top[0] > 0, (total - top[0] - top[1]) < thresholds.pPercent * top[0] {
                        findings.append(
                            GateFinding(
                                check: "p-percent",
                                severity: .likely,
                                where: place,
                                detail:
                                    "re-derived from \(table.name): the second largest contributor could estimate the largest within \(Int(thresholds.pPercent * 100)) % from the \(what)"
                            )
                        )
                    }
                }
            }
        }
        _ = cellsMatched
        return (labelScore + Double(derivedColumns.count) * 0.1, findings)
    }

    /// The `count` largest of `values`, largest first.
    static func largest(_ count: Int, of values: [Double]) -> [Double] {
        var top: [Double] = []
        top.reserveCapacity(count + 1)
        for v in values where top.count < count || v > top[top.count - 1] {
            var i = top.count
            while i > 0 && top[i - 1] < v { i -= 1 }
            top.insert(v, at: i)
            if top.count > count { top.removeLast() }
        }
        return top
    }

    /// Finds the statistic (and dataset column) that reproduces the cells of `columns`, within their rounding.
    func derive(
        grid: StatGrid,
        rows: [[String]],
        columns: [Int],
        members: [[Int32]],
        positions: Int,
        position: (Int) -> Int,
        stats: CellStats,
        header: String
    ) -> Derived? {
        var cells: [(text: String, value: Double, group: [Int32])] = []
        for j in columns {
            for i in rows.indices {
                guard let v = StatText.number(rows[i][j]) else { continue }
                cells.append((rows[i][j], v, members[i * positions + position(j)]))
            }
        }
        guard !cells.isEmpty else { return nil }
        let decimals = cells.map { StatText.decimals($0.text) }.max() ?? 0
        let integers = decimals == 0
        let nonZero = cells.filter { $0.value != 0 }
        let base: Double =
            integers && nonZero.count >= 3 && nonZero.allSatisfy({ $0.value.truncatingRemainder(dividingBy: 10) == 0 })
            ? 10
            : integers && nonZero.count >= 3 && nonZero.allSatisfy({ $0.value.truncatingRemainder(dividingBy: 5) == 0 })
                ? 5 : 1
        func close(_ a: Double, _ b: Double) -> Bool {
            let tolerance = decimals < 0 ? abs(b) * 5e-6 : 0.5 * pow(10, -Double(decimals)) + abs(b) * 1e-9
            return abs(a - b) <= Swift.max(tolerance, base / 2) + 1e-9
        }
        // Candidates: the header's words first (a statistic, a column), then every combination.
        let words = Set(StatText.label(header).split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        let named = table.columns.indices.filter {
            table.columns[$0].isNumeric
                && (words.contains(table.columns[$0].normalizedName)
                    || StatText.label(header).contains(table.columns[$0].normalizedName))
        }
        var statistic: [Statistic] = []
        let synonyms: [(Set<String>, Statistic)] = [
            (["count", "n", "size", "freq", "frequency", "cnt", "number", "records", "obs"], .count),
            (["mean", "avg", "average"], .mean), (["median", "p50"], .median), (["sum", "total"], .sum),
            (["min", "minimum", "lowest", "smallest"], .min), (["max", "maximum", "highest", "largest"], .max),
            (["std", "sd", "stdev", "stddev"], .std),
        ]
        for (set, s) in synonyms where !set.isDisjoint(with: words) { statistic.append(s) }
        var candidates: [(Statistic, Int?)] = []
        let numericColumns = table.columns.indices.filter { table.columns[$0].isNumeric }
        let columnsFirst = named + numericColumns.filter { !named.contains($0) }
        for s in statistic {
            if s == .count {
                candidates.append((.count, nil))
            } else {
                candidates += (named.isEmpty ? columnsFirst : named).map { (s, $0) }
            }
        }
        if statistic.isEmpty {
            if integers { candidates.append((.count, nil)) }
            for s in [Statistic.mean, .sum, .max, .min, .std, .median] { candidates += columnsFirst.map { (s, $0) } }
        }
        for (s, c) in candidates.prefix(64) {
            var matched = 0
            for cell in cells {
                guard let value = stats.compute(s, column: c, group: cell.group) else {
                    if cell.group.isEmpty && (cell.value == 0 || cell.text.isEmpty) { matched += 1 }
                    continue
                }
                if close(cell.value, value)
                    || (s == .std && c != nil
                        && close(
                            cell.value,
                            stats.compute(.std, column: c, group: cell.group, population: true) ?? .nan
                        ))
                {
                    matched += 1
                }
            }
            if matched * 10 >= cells.count * 9 && matched >= 1 {
                return Derived(statistic: s, column: c, matched: [])
            }
        }
        return nil
    }
}

/// Cell computations over a group of dataset rows.
struct CellStats {
    let table: StatTable

    func values(_ group: [Int32], column: Int) -> (values: [Double], rows: [Int32]) {
        let numbers = table.columns[column].numbers
        var values: [Double] = []
        var rows: [Int32] = []
        values.reserveCapacity(group.count)
        for r in group where !numbers[Int(r)].isNaN {
            values.append(numbers[Int(r)])
            rows.append(r)
        }
        return (values, rows)
    }

    func entities(_ group: [Int32]) -> Int {
        if table.entities.isEmpty { return group.count }
        var seen = Set<Int32>()
        for r in group { seen.insert(table.entities[Int(r)]) }
        return seen.count
    }

    func entityTotals(_ values: (values: [Double], rows: [Int32])) -> [Double] {
        if table.entities.isEmpty { return values.values }
        var totals: [Int32: Double] = [:]
        for (v, r) in zip(values.values, values.rows) { totals[table.entities[Int(r)], default: 0] += v }
        return Array(totals.values)
    }

    func compute(_ s: Rederivation.Statistic, column: Int?, group: [Int32], population: Bool = false) -> Double? {
        if s == .count { return Double(group.count) }
        guard let column else { return nil }
        let v = values(group, column: column).values
        guard !v.isEmpty else { return nil }
        switch s {
        case .count: return Double(group.count)
        case .sum: return v.reduce(0, +)
        case .mean: return v.reduce(0, +) / Double(v.count)
        case .min: return v.min()
        case .max: return v.max()
        case .median:
            let sorted = v.sorted()
            let m = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2
        case .std:
            let dof = population ? v.count : v.count - 1
            guard dof > 0 else { return nil }
            let mean = v.reduce(0, +) / Double(v.count)
            return (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(dof)).squareRoot()
        }
    }
}
