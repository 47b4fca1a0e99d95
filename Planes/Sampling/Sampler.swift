import Foundation
import PlaneCrypto

/// Options of one sample run.
public struct SampleOptions: Sendable {
    /// Entities to draw.
    public var entities = 1000
    /// k override (else the policy's `thresholds.k`).
    public var k: Int? = nil
    /// Seed of the row draw and the noise; nil draws one from the OS.
    public var seed: UInt64? = nil
    /// Largest share of a table's drawn rows that may be suppressed.
    public var maxSuppression = 0.10
    /// l target for sensitive columns (met where a table's column has at least that many distinct values).
    public var l = 2
    /// Laplace scale as a fraction of a numeric sensitive column's standard deviation.
    public var noiseScaleFactor = 0.05
    /// Largest per-entity date shift in days.
    public var maxShiftDays = 180

    /// The defaults.
    public init() {}
}

/// A finished sample: output tables by name and the report.
public struct Sample: Sendable {
    public var tables: [String: CSVTable]
    public var report: SampleReport
}

/// Draws a desensitized sample of a dataset under its policy (docs/sampling.md). Pure: no file or network I/O.
public enum Sampler {
    /// Samples `tables` (table name → parsed CSV, every table the policy lists) under `policy`.
    public static func sample(
        tables source: [String: CSVTable],
        policy: DatasetPolicy,
        options: SampleOptions = SampleOptions()
    ) throws(SamplingError) -> Sample {
        let k = options.k ?? policy.thresholds.k
        guard k >= 1 else { throw SamplingError(.malformedPolicy, "k must be at least 1, found \(k)") }
        guard options.entities >= 1 else {
            throw SamplingError(.malformedPolicy, "--rows must be at least 1, found \(options.entities)")
        }
        let names = policy.tables.keys.sorted()
        // Validate the data against the policy.
        for name in names {
            guard let table = source[name] else {
                throw SamplingError(.dataMismatch, "table \(name) is listed in the policy but missing from the data")
            }
            let entry = policy.tables[name]!
            for column in entry.columns.keys.sorted() where table.column(column) == nil {
                throw SamplingError(
                    .dataMismatch,
                    "\(name): the policy lists column \"\(column)\" but the header has \(table.header.joined(separator: ", "))"
                )
            }
        }
        for canary in policy.canaries {
            let count = source[canary.table]?.rows.count ?? 0
            guard canary.row < count else {
                throw SamplingError(
                    .dataMismatch,
                    "canary in \(canary.table) names data row \(canary.row) but the table has \(count) data rows"
                )
            }
        }

        // Canary rows and their entities never enter the sample.
        var canaryRows: [String: Set<Int>] = [:]
        var canaryEntities = Set<String>()
        for canary in policy.canaries {
            canaryRows[canary.table, default: []].insert(canary.row)
            let table = source[canary.table]!
            let entityIndex = table.column(policy.tables[canary.table]!.entity)!
            canaryEntities.insert(table.rows[canary.row][entityIndex])
        }

        // The entity pool in first-seen order (deterministic), then a seeded partial shuffle.
        var pool: [String] = []
        var seen = Set<String>()
        for name in names {
            let table = source[name]!
            let entityIndex = table.column(policy.tables[name]!.entity)!
            for row in table.rows {
                let entity = row[entityIndex]
                if entity.isEmpty || canaryEntities.contains(entity) { continue }
                if seen.insert(entity).inserted { pool.append(entity) }
            }
        }
        var generator: SeededGenerator
        if let seed = options.seed {
            generator = SeededGenerator(seed: seed)
        } else {
            let bytes: [UInt8]
            do {
                bytes = try SecureRandom.bytes(count: 8)
            } catch {
                throw SamplingError(.crypto, "the OS random source failed: \(error)")
            }
            generator = SeededGenerator(seed: bytes.reduce(0) { $0 << 8 | UInt64($1) })
        }
        let drawCount = min(options.entities, pool.count)
        for i in 0..<drawCount {
            let j = i + Int(generator.next() % UInt64(pool.count - i))
            pool.swapAt(i, j)
        }
        var rank: [String: Int] = [:]
        for i in 0..<drawCount { rank[pool[i]] = i }

        let key = try PseudonymKey()
        var outputs: [String: CSVTable] = [:]
        var reports: [SampleReport.Table] = []
        for name in names {
            let (table, report) = try sampleTable(
                name: name,
                table: source[name]!,
                entry: policy.tables[name]!,
                canaryRows: canaryRows[name] ?? [],
                rank: rank,
                key: key,
                k: k,
                options: options,
                generator: &generator
            )
            outputs[name] = table
            reports.append(report)
        }

        // Leak check: no source value of a key or direct-identifier column may appear as an output cell.
        // Pseudonymized columns hold HMAC outputs by construction and are not scanned.
        var outputCells = Set<String>()
        for name in names {
            let table = outputs[name]!
            let keyColumns = Set(policy.tables[name]!.columns(withRole: .key))
            let scanned = table.header.indices.filter { !keyColumns.contains(table.header[$0]) }
            for row in table.rows {
                for index in scanned { outputCells.insert(row[index]) }
            }
        }
        var leaked = Set<String>()
        for name in names {
            let table = source[name]!
            for (column, role) in policy.tables[name]!.columns where role == .key || role == .directIdentifier {
                let index = table.column(column)!
                for row in table.rows where !row[index].isEmpty && outputCells.contains(row[index]) {
                    leaked.insert(row[index])
                }
            }
        }
        let found = leaked.count
        let ks = reports.compactMap(\.k)
        let ls = reports.flatMap { $0.l.values }
        let report = SampleReport(
            entities: .init(
                requested: options.entities,
                available: pool.count,
                drawn: drawCount,
                canaryEntitiesExcluded: canaryEntities.count
            ),
            k: .init(target: k, reached: ks.min()),
            l: .init(target: options.l, reached: ls.min()),
            seeded: options.seed != nil,
            pseudonyms: .init(),
            dateShift: .init(maxDays: options.maxShiftDays),
            maxSuppression: options.maxSuppression,
            tables: reports,
            identifierValuesFound: found
        )
        return Sample(tables: outputs, report: report)
    }

    // MARK: One table

    private static func sampleTable(
        name: String,
        table: CSVTable,
        entry: DatasetPolicy.Table,
        canaryRows: Set<Int>,
        rank: [String: Int],
        key: PseudonymKey,
        k: Int,
        options: SampleOptions,
        generator: inout SeededGenerator
    ) throws(SamplingError) -> (CSVTable, SampleReport.Table) {
        let entityIndex = table.column(entry.entity)!
        // Drawn rows, ordered by the entity's draw rank (stable within an entity): row order reveals nothing
        // of the source order.
        var drawn: [(rank: Int, index: Int)] = []
        for (index, row) in table.rows.enumerated() where !canaryRows.contains(index) {
            if let r = rank[row[entityIndex]] { drawn.append((r, index)) }
        }
        drawn.sort { $0.rank != $1.rank ? $0.rank < $1.rank : $0.index < $1.index }
        let rows = drawn.map { table.rows[$0.index] }
        let n = rows.count

        var columnReports: [SampleReport.Column] = []
        var noiseReports: [SampleReport.Noise] = []
        var utility: [SampleReport.Utility] = []
        // Output columns in source order: name and the per-row values.
        var kept: [(name: String, values: [String])] = []
        var qiColumns: [(name: String, hierarchy: Hierarchy)] = []
        var sensitiveColumns: [String] = []

        for (index, column) in table.header.enumerated() {
            let values = rows.map { $0[index] }
            guard let role = entry.columns[column] else {
                columnReports.append(.init(name: column, role: "unlisted", action: "dropped"))
                continue
            }
            switch role {
            case .directIdentifier, .freeText:
                columnReports.append(.init(name: column, role: role.rawValue, action: "dropped"))
            case .key:
                kept.append((column, values.map { $0.isEmpty ? "" : key.pseudonym($0) }))
                columnReports.append(.init(name: column, role: role.rawValue, action: "pseudonymized"))
            case .other:
                kept.append((column, values))
                columnReports.append(.init(name: column, role: role.rawValue, action: "kept"))
            case .date:
                var out: [String] = []
                out.reserveCapacity(n)
                for (i, value) in values.enumerated() {
                    if value.isEmpty {
                        out.append("")
                        continue
                    }
                    guard let date = CivilDate(Substring(value)) else {
                        throw SamplingError(
                            .dataMismatch,
                            "\(name): column \"\(column)\" has the date role but a drawn row holds a value that is not YYYY-MM-DD (\(value.count) characters)"
                        )
                    }
                    let shift = key.shiftDays(entity: rows[i][entityIndex], maxDays: options.maxShiftDays)
                    out.append(CivilDate(days: date.days + shift).monthText)
                }
                kept.append((column, out))
                columnReports.append(
                    .init(name: column, role: role.rawValue, action: "shifted", detail: "per-entity shift, month")
                )
            case .sensitive:
                sensitiveColumns.append(column)
                if let numbers = numericValues(values), !numbers.isEmpty {
                    let present = numbers.compactMap { $0 }
                    let mean = present.reduce(0, +) / Double(max(present.count, 1))
                    let sd = standardDeviation(present, mean: mean)
                    let scale = options.noiseScaleFactor * sd
                    let decimals = values.map(decimalPlaces).max() ?? 0
                    var out: [String] = []
                    out.reserveCapacity(n)
                    for number in numbers {
                        guard let number else {
                            out.append("")
                            continue
                        }
                        let noised = scale > 0 ? number + generator.laplace(scale: scale) : number
                        out.append(formatNumber(noised, decimals: decimals))
                    }
                    let after = out.compactMap(Double.init)
                    let meanAfter = after.reduce(0, +) / Double(max(after.count, 1))
                    utility.append(
                        .init(
                            column: column,
                            distinctBefore: Set(values).count,
                            distinctAfter: Set(out).count,
                            meanBefore: mean,
                            meanAfter: meanAfter,
                            sdBefore: sd,
                            sdAfter: standardDeviation(after, mean: meanAfter)
                        )
                    )
                    noiseReports.append(
                        .init(column: column, scale: scale, scaleFactor: options.noiseScaleFactor, decimals: decimals)
                    )
                    kept.append((column, out))
                    columnReports.append(.init(name: column, role: role.rawValue, action: "noised"))
                } else {
                    kept.append((column, values))
                    columnReports.append(.init(name: column, role: role.rawValue, action: "kept"))
                }
            case .quasiIdentifier:
                qiColumns.append((column, Hierarchy(values: values)))
                kept.append((column, values))  // replaced after generalization
                columnReports.append(.init(name: column, role: role.rawValue, action: "generalized"))
            }
        }

        // Generalize quasi-identifiers greedily until at most the suppression budget violates k (and l).
        let budget = Int((options.maxSuppression * Double(n)).rounded(.down))
        let sensitiveCodes: [[Int32]] = sensitiveColumns.map { column in
            encode(kept.first { $0.name == column }!.values)
        }
        let lRequired: [Bool] = sensitiveCodes.map { codes in Set(codes).count >= options.l }
        var levels = [Int](repeating: 0, count: qiColumns.count)
        var cache: [[Int: [Int32]]] = Array(repeating: [:], count: qiColumns.count)
        func codes(_ j: Int, _ level: Int) -> [Int32] {
            if let hit = cache[j][level] { return hit }
            let value = encode(qiColumns[j].hierarchy.apply(level: level))
            cache[j][level] = value
            return value
        }
        var distinctCache: [[Int: Int]] = Array(repeating: [:], count: qiColumns.count)
        func distinctCount(_ j: Int, _ level: Int) -> Int {
            if let hit = distinctCache[j][level] { return hit }
            let value = Int(codes(j, level).max().map { $0 + 1 } ?? 0)
            distinctCache[j][level] = value
            return value
        }
        func evaluate(_ levels: [Int]) -> (violating: Int, classes: [Int32], classOK: [Bool]) {
            let columns = (0..<levels.count).map { codes($0, levels[$0]) }
            let classes = combine(columns, count: n)
            let classCount = Int(classes.max().map { $0 + 1 } ?? 0)
            var size = [Int](repeating: 0, count: classCount)
            for c in classes { size[Int(c)] += 1 }
            var diverse = [Bool](repeating: true, count: classCount)
            for (s, codes) in sensitiveCodes.enumerated() where lRequired[s] {
                // Distinct sensitive values per class.
                var seen = Set<Int64>()
                var distinct = [Int](repeating: 0, count: classCount)
                for i in 0..<n where seen.insert(Int64(classes[i]) << 32 | Int64(codes[i])).inserted {
                    distinct[Int(classes[i])] += 1
                }
                for c in 0..<classCount where distinct[c] < options.l { diverse[c] = false }
            }
            let ok = (0..<classCount).map { size[$0] >= k && diverse[$0] }
            var violating = 0
            for c in classes where !ok[Int(c)] { violating += 1 }
            return (violating, classes, ok)
        }
        var state = evaluate(levels)
        while state.violating > budget {
            // Prefer a generalization step over dropping a column; then the fewest violating rows; then the
            // column with the most distinct values.
            var best: (j: Int, violating: Int, drops: Bool, distinct: Int)? = nil
            for j in 0..<qiColumns.count where levels[j] < qiColumns[j].hierarchy.dropLevel {
                var trial = levels
                trial[j] += 1
                let violating = evaluate(trial).violating
                let drops = trial[j] == qiColumns[j].hierarchy.dropLevel
                let distinct = distinctCount(j, levels[j])
                let better: Bool
                if let b = best {
                    if drops != b.drops {
                        better = !drops
                    } else {
                        better = violating < b.violating || (violating == b.violating && distinct > b.distinct)
                    }
                } else {
                    better = true
                }
                if better { best = (j, violating, drops, distinct) }
            }
            guard let best else { break }
            levels[best.j] += 1
            state = evaluate(levels)
        }
        if state.violating > budget {
            throw SamplingError(
                .kNotReached,
                "\(name): k = \(k) cannot hold: \(n) rows drawn, \(state.violating) would need suppression with every quasi-identifier dropped (limit \(budget))"
            )
        }

        // Apply the levels, suppress violating rows, compute k and l on the output.
        var keep = [Bool](repeating: true, count: n)
        for i in 0..<n where !state.classOK[Int(state.classes[i])] { keep[i] = false }
        var outputColumns: [(name: String, values: [String])] = []
        var qiKept: [String] = []
        for (column, values) in kept {
            if let j = qiColumns.firstIndex(where: { $0.name == column }) {
                let hierarchy = qiColumns[j].hierarchy
                let level = levels[j]
                if let idx = columnReports.firstIndex(where: { $0.name == column }) {
                    columnReports[idx].detail = hierarchy.describe(level: level)
                    if level == hierarchy.dropLevel { columnReports[idx].action = "dropped" }
                }
                if level == hierarchy.dropLevel { continue }
                let generalized = hierarchy.apply(level: level)
                let output = zip(generalized, keep).filter(\.1).map(\.0)
                utility.append(
                    .init(
                        column: column,
                        distinctBefore: Set(values).count,
                        distinctAfter: Set(output).count,
                        suppressionTVD: totalVariation(generalized, output)
                    )
                )
                qiKept.append(column)
                outputColumns.append((column, generalized))
            } else {
                outputColumns.append((column, values))
            }
        }
        var outRows: [[String]] = []
        outRows.reserveCapacity(n)
        for i in 0..<n where keep[i] { outRows.append(outputColumns.map { $0.values[i] }) }
        let output = CSVTable(header: outputColumns.map(\.name), rows: outRows)

        // k and l of the output, from the class ids of the final levels (only kept rows count).
        var kReached: Int? = nil
        var lReached: [String: Int] = [:]
        if !outRows.isEmpty {
            let classes = qiKept.isEmpty ? [Int32](repeating: 0, count: n) : state.classes
            let classCount = Int(classes.max().map { $0 + 1 } ?? 0)
            var size = [Int](repeating: 0, count: classCount)
            for i in 0..<n where keep[i] { size[Int(classes[i])] += 1 }
            if !qiKept.isEmpty { kReached = size.filter { $0 > 0 }.min() }
            for (s, column) in sensitiveColumns.enumerated() {
                var seen = Set<Int64>()
                var distinct = [Int](repeating: 0, count: classCount)
                for i in 0..<n where keep[i] {
                    if seen.insert(Int64(classes[i]) << 32 | Int64(sensitiveCodes[s][i])).inserted {
                        distinct[Int(classes[i])] += 1
                    }
                }
                lReached[column] = (0..<classCount).filter { size[$0] > 0 }.map { distinct[$0] }.min() ?? 0
            }
        }

        let report = SampleReport.Table(
            name: name,
            entity: entry.entity,
            rowsIn: table.rows.count,
            rowsDrawn: n,
            rowsSuppressed: n - outRows.count,
            rowsOut: outRows.count,
            canaryRowsExcluded: canaryRows.count,
            k: kReached,
            quasiIdentifiers: qiKept,
            l: lReached,
            columns: columnReports,
            noise: noiseReports,
            utility: utility
        )
        return (output, report)
    }

    // MARK: Helpers

    /// Dense codes of `values` (equal strings, equal codes).
    static func encode(_ values: [String]) -> [Int32] {
        var ids: [String: Int32] = [:]
        return values.map { value in
            if let id = ids[value] { return id }
            let id = Int32(ids.count)
            ids[value] = id
            return id
        }
    }

    /// Dense class ids of the combination of `columns` (each a code array of length `count`).
    static func combine(_ columns: [[Int32]], count: Int) -> [Int32] {
        var classes = [Int32](repeating: 0, count: count)
        for column in columns {
            var ids: [Int64: Int32] = [:]
            for i in 0..<count {
                let pair = Int64(classes[i]) << 32 | Int64(column[i])
                if let id = ids[pair] {
                    classes[i] = id
                } else {
                    let id = Int32(ids.count)
                    ids[pair] = id
                    classes[i] = id
                }
            }
        }
        return classes
    }

    /// The numbers of `values` (nil for empty cells), or nil when a non-empty value is not a number.
    static func numericValues(_ values: [String]) -> [Double?]? {
        var out: [Double?] = []
        out.reserveCapacity(values.count)
        for value in values {
            if value.isEmpty {
                out.append(nil)
                continue
            }
            guard let number = Double(value), number.isFinite else { return nil }
            out.append(number)
        }
        return out
    }

    static func standardDeviation(_ values: [Double], mean: Double) -> Double {
        guard values.count > 1 else { return 0 }
        let sum = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (sum / Double(values.count - 1)).squareRoot()
    }

    static func decimalPlaces(_ text: String) -> Int {
        guard let dot = text.firstIndex(of: ".") else { return 0 }
        return min(text.distance(from: dot, to: text.endIndex) - 1, 6)
    }

    /// `value` rounded to `decimals` places, as plain decimal text (no exponent).
    static func formatNumber(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (value * scale).rounded()
        guard abs(scaled) < 9e15 else { return String(format: "%.\(decimals)f", value) }
        let integer = Int(scaled)
        if decimals == 0 { return String(integer) }
        let magnitude = String(abs(integer))
        let padded =
            magnitude.count > decimals
            ? magnitude : String(repeating: "0", count: decimals + 1 - magnitude.count) + magnitude
        let sign = integer < 0 ? "-" : ""
        return sign + padded.dropLast(decimals) + "." + padded.suffix(decimals)
    }

    /// Total variation distance between the empirical distributions of `a` and `b`.
    static func totalVariation(_ a: [String], _ b: [String]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return a.isEmpty && b.isEmpty ? 0 : 1 }
        var pa: [String: Double] = [:]
        var pb: [String: Double] = [:]
        for v in a { pa[v, default: 0] += 1 / Double(a.count) }
        for v in b { pb[v, default: 0] += 1 / Double(b.count) }
        var sum = 0.0
        for key in Set(pa.keys).union(pb.keys) { sum += abs((pa[key] ?? 0) - (pb[key] ?? 0)) }
        return sum / 2
    }
}
