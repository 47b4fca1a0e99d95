import Foundation
import Parquet
import Sampling
import TestSupport
import Testing

/// pyarrow and pandas as the independent reference: contrib/references/parquet_fixtures.py, run by the job
/// runtime's Python ($DELONG_FIXTURE_PYTHON, else /opt/delong/runtime/bin/python3), writes Parquet files and
/// the CSV pandas writes for each.
enum ParquetReference {
    static var python: String {
        ProcessInfo.processInfo.environment["DELONG_FIXTURE_PYTHON"] ?? "/opt/delong/runtime/bin/python3"
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        try ContribTool.run([python, "contrib/references/parquet_fixtures.py"] + arguments)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("parquet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Differences between the Parquet reader's cells and pandas' CSV: per column, the count and the first one.
    static func differences(parquet: URL, csv: URL) throws -> [String] {
        let table = try ParquetReader.read(Array(try Data(contentsOf: parquet)), name: parquet.lastPathComponent)
        let expected = try CSVReader.parse(Array(try Data(contentsOf: csv)), name: csv.lastPathComponent)
        var found: [String] = []
        if table.columns != expected.header {
            found.append("columns: \(table.columns) vs pandas \(expected.header)")
            return found
        }
        if table.rows.count != expected.rows.count {
            found.append("rows: \(table.rows.count) vs pandas \(expected.rows.count)")
            return found
        }
        for (c, column) in table.columns.enumerated() {
            var count = 0
            var first = ""
            for (r, row) in table.rows.enumerated() where row[c] != expected.rows[r][c] {
                if count == 0 { first = "row \(r): \"\(row[c])\" vs pandas \"\(expected.rows[r][c])\"" }
                count += 1
            }
            if count > 0 {
                found.append("\(parquet.lastPathComponent) \(column): \(count) cells differ, first \(first)")
            }
        }
        return found
    }
}
