import Foundation
import Parquet
import Sampling

/// `delong-bench parquet [--rows N] [--rounds R]`: reads a snappy Parquet table of N rows (default 1,000,000;
/// 8 columns: ids, strings, dictionary strings, ints, doubles, dates, booleans) written by pyarrow, with the
/// Swift reader (to cell text, column-major and as rows), beside pyarrow.parquet.read_table, pandas.read_parquet
/// and pandas.read_parquet + astype(str) (text cells, the closest to what the Swift reader builds) in the same
/// run, and the Swift CSV reader on the CSV twin pandas writes. The Python side is the job runtime's
/// ($DELONG_FIXTURE_PYTHON, else /opt/delong/runtime/bin/python3). Medians of R rounds; nothing is asserted.
func runParquetSubcommand() -> Bool {
    guard CommandLine.arguments.dropFirst().first == "parquet" else { return false }
    func option(_ name: String, _ fallback: Int) -> Int {
        guard let i = CommandLine.arguments.firstIndex(of: name), i + 1 < CommandLine.arguments.count,
            let value = Int(CommandLine.arguments[i + 1]), value > 0
        else { return fallback }
        return value
    }
    let rows = option("--rows", 1_000_000)
    let rounds = option("--rounds", 3)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let script = root.appendingPathComponent("contrib/references/parquet_fixtures.py").path
    let python = ProcessInfo.processInfo.environment["DELONG_FIXTURE_PYTHON"] ?? "/opt/delong/runtime/bin/python3"
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parquet-bench-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    func runPython(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments
        let out = Pipe()
        process.standardOutput = out
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }
    do {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    } catch {
        print("parquet: cannot create \(dir.path): \(error)")
        return true
    }
    print("parquet: writing \(rows) rows with pyarrow (snappy) ...")
    guard runPython(["big", dir.path, String(rows), "snappy"]) != nil,
        let bytes = try? [UInt8](Data(contentsOf: dir.appendingPathComponent("big.parquet"))),
        let csv = try? [UInt8](Data(contentsOf: dir.appendingPathComponent("big.csv")))
    else {
        print("parquet: the runtime's pyarrow could not write the table (\(python))")
        return true
    }
    let megabytes = Double(bytes.count) / 1e6
    func median(_ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            try body()
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        return times.sorted()[times.count / 2]
    }
    do {
        var cells = 0
        let columnar = try median {
            let (_, columns) = try ParquetReader.readColumns(bytes, name: "big.parquet")
            cells = columns.count * (columns.first?.count ?? 0)
        }
        let asRows = try median { _ = try ParquetReader.read(bytes, name: "big.parquet") }
        let csvTime = try median { _ = try CSVReader.parse(csv, name: "big.csv") }
        func line(_ label: String, _ seconds: Double, bytes: Double = megabytes, of input: String = "Parquet") {
            let padded = label.count < 46 ? label + String(repeating: " ", count: 46 - label.count) : label
            print(
                padded
                    + String(
                        format: " %7.3f s  %7.1f MB/s of %@  %6.2f M cells/s",
                        seconds,
                        bytes / seconds,
                        input as NSString,
                        Double(cells) / seconds / 1e6
                    )
            )
        }
        print(
            String(
                format: "parquet: %d rows, %d cells, %.1f MB snappy Parquet (CSV twin %.1f MB); medians of %d",
                rows,
                cells,
                megabytes,
                Double(csv.count) / 1e6,
                rounds
            )
        )
        line("  Swift ParquetReader.readColumns (1 thread)", columnar)
        line("  Swift ParquetReader.read (rows)", asRows)
        line("  Swift CSVReader.parse on the CSV twin", csvTime, bytes: Double(csv.count) / 1e6, of: "CSV")
        if let answer = runPython(["time", dir.appendingPathComponent("big.parquet").path, String(rounds)]),
            let json = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
        {
            let threads = json["threads"] as? Int ?? 0
            for (key, label) in [
                ("pyarrow_read_table", "pyarrow.parquet.read_table (\(threads) threads)"),
                ("pandas_read_parquet", "pandas.read_parquet"),
                ("pandas_read_parquet_to_csv_strings", "pandas.read_parquet + astype(str)"),
            ] {
                if let seconds = json[key] as? Double { line("  " + label, seconds) }
            }
        } else {
            print("parquet: the runtime's Python could not time pyarrow")
        }
    } catch {
        print("parquet: read failed: \(error)")
    }
    return true
}
