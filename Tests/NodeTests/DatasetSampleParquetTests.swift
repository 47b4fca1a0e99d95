import Foundation
import TestSupport
import Testing

/// `delong dataset sample` on Parquet tables: typed Parquet files pyarrow writes from the test's CSV tables
/// (dates, integers, decimals as doubles) give the same report.json figures as the CSV pandas writes for the
/// same frames, with the same seed; the sample's tables are CSV.
@Suite struct DatasetSampleParquetTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    static var python: String {
        ProcessInfo.processInfo.environment["DELONG_FIXTURE_PYTHON"] ?? "/opt/delong/runtime/bin/python3"
    }

    /// The report without what legitimately differs: the policy digest and each table's `source`.
    static func figures(_ report: [String: Any]) -> NSDictionary {
        var report = report
        report["policySHA256"] = nil
        report["tables"] = (report["tables"] as? [[String: Any]])?.map { table in
            var table = table
            table["source"] = nil
            return table
        }
        return report as NSDictionary
    }

    @Test func aParquetDatasetAndItsCSVTwinGiveTheSameReport() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (source, _) = try DatasetSampleTests(directory: dir).dataDir(people: 2000)
        let csv = dir.appendingPathComponent("twin-csv")
        let parquet = dir.appendingPathComponent("twin-parquet")
        for url in [csv, parquet] {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        for table in ["accounts", "transactions"] {
            try ContribTool.run([
                Self.python, "contrib/references/parquet_fixtures.py", "twin",
                source.appendingPathComponent("\(table).csv").path,
                parquet.appendingPathComponent("\(table).parquet").path,
                csv.appendingPathComponent("\(table).csv").path,
            ])
        }
        try Data(DatasetSampleTests.policy.utf8).write(to: csv.appendingPathComponent("delong-policy.json"))
        try Data(DatasetSampleTests.policy.replacingOccurrences(of: ".csv", with: ".parquet").utf8)
            .write(to: parquet.appendingPathComponent("delong-policy.json"))

        var reports: [[String: Any]] = []
        for data in [csv, parquet] {
            let out = dir.appendingPathComponent("sample-\(data.lastPathComponent)")
            let run = try DelongProcess.run([
                "dataset", "sample", data.path, "--policy", data.appendingPathComponent("delong-policy.json").path,
                "--out", out.path, "--rows", "800", "--seed", "11", "--json",
            ])
            #expect(run.status == 0, "\(run.stderr)")
            reports.append(try #require(run.json))
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
                    == ["accounts.csv", "report.json", "transactions.csv"]
            )
        }
        #expect(Self.figures(reports[0]) == Self.figures(reports[1]))
        let tables = try #require(reports[1]["tables"] as? [[String: Any]])
        #expect(tables.map { $0["name"] as? String } == ["accounts.csv", "transactions.csv"])
        #expect(tables.map { $0["source"] as? String } == ["accounts.parquet", "transactions.parquet"])
        #expect((reports[0]["tables"] as? [[String: Any]])?.allSatisfy { $0["source"] == nil } == true)
        #expect((tables.first?["rowsIn"] as? Int) == 2000)
    }
}
