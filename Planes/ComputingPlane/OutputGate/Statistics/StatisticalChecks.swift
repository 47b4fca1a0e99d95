import Foundation
import Sampling

/// The statistical disclosure checks of the Output Gate (docs/output-gate.md, "Statistical disclosure"):
/// re-derivation of bare tables, residual degrees of freedom of model summaries, and differencing against
/// earlier releases. Every finding is `likely` (review), never `certain`.
enum StatisticalChecks {
    /// Markdown tables re-derived per file (each is one pass over the dataset); the rest are not.
    static let maxTablesPerFile = 64

    /// Re-derivation findings for one output table.
    static func table(_ grid: StatGrid, index: DatasetIndex) -> [GateFinding] {
        guard !index.statTables.isEmpty else { return [] }
        return Rederivation.findings(grid, index: index)
    }

    /// Markdown tables and model summaries in a text file.
    static func text(_ text: String, index: DatasetIndex) -> [GateFinding] {
        var findings: [GateFinding] = []
        if text.contains("|") {
            for grid in StatGrid.markdown(text).prefix(maxTablesPerFile) { findings += table(grid, index: index) }
        }
        if text.contains("Residual") || text.contains("Df Residuals") || text.contains("No. Observations") {
            let minimum = index.thresholds.minDegreesOfFreedom
            for model in ModelSummary.residualDegrees(text) where model.dof < minimum {
                findings.append(
                    GateFinding(
                        check: "degrees-of-freedom",
                        severity: .likely,
                        where: "line \(model.line)",
                        detail:
                            "a model with \(model.dof) residual degrees of freedom (\(model.source)), below minDegreesOfFreedom \(minimum)"
                    )
                )
            }
        }
        return findings
    }

    // MARK: Tables of a file

    /// The tables of a file the statistical checks read: CSV, TSV, a JSON array of objects, Markdown tables.
    static func grids(path: String, bytes: [UInt8]) -> [StatGrid] {
        let ext = (path as NSString).pathExtension.lowercased()
        switch ext {
        case "csv":
            return csv(bytes).map { [$0] } ?? []
        case "tsv":
            guard let text = String(validating: bytes, as: UTF8.self) else { return [] }
            let lines = text.split(whereSeparator: \.isNewline).map {
                $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            }
            guard let header = lines.first, lines.allSatisfy({ $0.count == header.count }) else { return [] }
            return [StatGrid(header: header, rows: Array(lines.dropFirst()))]
        case "json":
            guard let value = try? JSONSerialization.jsonObject(with: Data(bytes)), let grid = StatGrid.json(value)
            else { return [] }
            return [grid]
        case "md", "txt", "text", "log":
            guard let text = String(validating: bytes, as: UTF8.self) else { return [] }
            return StatGrid.markdown(text)
        default:
            return []
        }
    }

    /// A CSV table, read leniently: pandas writes empty and repeated header names (`,income,income` for an
    /// unnamed index and a grouped header), which the strict dataset reader refuses.
    static func csv(_ bytes: [UInt8]) -> StatGrid? {
        if let table = try? CSVReader.parse(bytes, name: "output") {
            return StatGrid(header: table.header, rows: table.rows)
        }
        var width = 1
        var quoted = false
        for b in bytes {
            if b == UInt8(ascii: "\"") { quoted.toggle() }
            if !quoted && b == UInt8(ascii: ",") { width += 1 }
            if !quoted && b == 0x0A { break }
        }
        let synthetic = (1...width).map { "c\($0)" }.joined(separator: ",") + "\n"
        guard let table = try? CSVReader.parse(Array(synthetic.utf8) + bytes, name: "output"), !table.rows.isEmpty
        else { return nil }
        return StatGrid(header: table.rows[0], rows: Array(table.rows.dropFirst()))
    }

    // MARK: Differencing

    /// Tables of the current release that, taken with a table of an earlier release of the same shape (same
    /// header, same row labels), isolate fewer than minCellCount entities: one release's population contains
    /// the other's (every shared count cell moves the same way) and a cell differs by 1 to minCellCount − 1.
    static func differencing(
        current: [(path: String, bytes: [UInt8])],
        history: [(path: String, bytes: [UInt8])],
        minCellCount: Int
    ) -> [String: [GateFinding]] {
        guard !history.isEmpty else { return [:] }
        var earlier: [String: [(path: String, grid: StatGrid)]] = [:]
        for file in history {
            for grid in grids(path: file.path, bytes: file.bytes) {
                earlier[signature(grid), default: []].append((file.path, grid))
            }
        }
        var out: [String: [GateFinding]] = [:]
        for file in current {
            for grid in grids(path: file.path, bytes: file.bytes) {
                for old in earlier[signature(grid)] ?? [] {
                    out[file.path, default: []] += compare(
                        grid,
                        old.grid,
                        oldPath: old.path,
                        minCellCount: minCellCount
                    )
                }
            }
        }
        return out
    }

    static func signature(_ grid: StatGrid) -> String {
        grid.header.map { StatText.label($0) }.joined(separator: "\u{1F}")
    }

    /// Label key of a row: its non-numeric cells.
    static func rowKey(_ row: [String], labels: [Int]) -> String {
        labels.map { StatText.label(row[$0]) }.joined(separator: "\u{1F}")
    }

    static func compare(_ new: StatGrid, _ old: StatGrid, oldPath: String, minCellCount: Int) -> [GateFinding] {
        let width = new.header.count
        guard old.header.count == width, !new.rows.isEmpty else { return [] }
        // Label columns: any cell not a number; value columns: every non-empty cell an integer.
        var labels: [Int] = []
        var values: [Int] = []
        for j in 0..<width {
            let cells = (new.rows + old.rows).map { $0[j].trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let numbers = cells.compactMap { StatText.number($0) }
            if numbers.count < cells.count {
                labels.append(j)
            } else if !numbers.isEmpty, numbers.allSatisfy({ $0.rounded() == $0 && $0 >= 0 }) {
                values.append(j)
            }
        }
        guard !values.isEmpty else { return [] }
        var oldRows: [String: [String]] = [:]
        for row in old.rows { oldRows[rowKey(row, labels: labels)] = row }
        var cells: [(row: Int, column: Int, difference: Double)] = []
        var shared = 0
        for (i, row) in new.rows.enumerated() {
            guard let before = oldRows[rowKey(row, labels: labels)] else { continue }
            shared += 1
            for j in values {
                guard let a = StatText.number(row[j]), let b = StatText.number(before[j]) else { continue }
                if a != b { cells.append((i, j, a - b)) }
            }
        }
        // Same labels, one population inside the other, not rounded (differences of rounded cells are noise).
        guard shared * 10 >= new.rows.count * 8, !cells.isEmpty else { return [] }
        let up = cells.allSatisfy { $0.difference > 0 }
        let down = cells.allSatisfy { $0.difference < 0 }
        guard up || down else { return [] }
        let allCells = values.flatMap { j in (new.rows + old.rows).compactMap { StatText.number($0[j]) } }.filter {
            $0 != 0
        }
        if allCells.count >= 3 && allCells.allSatisfy({ $0.truncatingRemainder(dividingBy: 5) == 0 }) { return [] }
        var findings: [GateFinding] = []
        for cell in cells where abs(cell.difference) >= 1 && abs(cell.difference) < Double(minCellCount) {
            findings.append(
                GateFinding(
                    check: "differencing",
                    severity: .likely,
                    where: new.place(cell.row, cell.column),
                    detail:
                        "differs by \(Int(abs(cell.difference))) from the same cell of the earlier release \(oldPath): together they isolate fewer than minCellCount \(minCellCount) entities"
                )
            )
        }
        return findings
    }
}
