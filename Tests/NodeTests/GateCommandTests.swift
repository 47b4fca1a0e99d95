import Foundation
import Synchronization
import TestSupport
import Testing

/// `delong gate check`, run as a process: exit 0 release, 1 review or block, 2 bad input; the JSON shape of
/// the issue; DATA_DIR is never written.
@Suite struct GateCommandTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    static let policy = """
        {"version": 1,
         "tables": {"people.csv": {"entity": "id", "columns": {"id": "key", "name": "direct_identifier",
           "birth": "quasi_identifier", "postcode": "quasi_identifier", "income": "sensitive"}}}}
        """

    func dataDir(policy: String = Self.policy, extra: [String: String] = [:]) throws -> URL {
        let data = dir.appendingPathComponent("data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        var csv = "id,name,birth,postcode,income\n"
        for i in 0..<200 {
            csv += "ID\(100_000 + i),Person\(i) Family\(i % 37),19\(50 + i % 50)-0\(1 + i % 9)-1\(i % 10),"
            csv += "\(20_000 + i * 17),\(30_000 + i * 101).\(10 + i % 90)\n"
        }
        try Data(csv.utf8).write(to: data.appendingPathComponent("people.csv"))
        try Data(policy.utf8).write(to: data.appendingPathComponent("delong-policy.json"))
        for (name, text) in extra { try Data(text.utf8).write(to: data.appendingPathComponent(name)) }
        return data
    }

    func outDir(_ files: [String: String]) throws -> URL {
        let out = dir.appendingPathComponent("out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: out.appendingPathComponent("sub"),
            withIntermediateDirectories: true
        )
        for (name, text) in files { try Data(text.utf8).write(to: out.appendingPathComponent(name)) }
        return out
    }

    func listing(_ url: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: url.path) {
            result[name] = try Data(contentsOf: url.appendingPathComponent(name))
        }
        return result
    }

    @Test func releaseExitsZeroAndLeaksExitOneWithTheIssuesJSON() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try dataDir()
        let before = try listing(data)
        let clean = try outDir(["means.csv": "decade,count,mean\n1950,40,31234.5\n1960,60,33456.7\n"])
        let ok = try DelongProcess.run(["gate", "check", clean.path, "--data", data.path, "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.json?["decision"] as? String == "release")

        let leaky = try outDir([
            "means.csv": "decade,count,mean\n1950,40,31234.5\n", "sub/notes.txt": "worst fit: person17 FAMILY17\n",
            "small.csv": "decade,n\n1950,4\n",
        ])
        let run = try DelongProcess.run(["gate", "check", leaky.path, "--data", data.path, "--json"])
        #expect(run.status == 1, "\(run.stderr)")
        let report = try #require(run.json)
        #expect(Set(report.keys) == ["decision", "files"])
        #expect(report["decision"] as? String == "block")
        let files = try #require(report["files"] as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == ["means.csv", "small.csv", "sub/notes.txt"])
        #expect(files.map { $0["decision"] as? String } == ["release", "review", "block"])
        let finding = try #require((files[2]["findings"] as? [[String: Any]])?.first)
        #expect(Set(finding.keys) == ["check", "severity", "where", "detail"])
        #expect(finding["check"] as? String == "identifier")
        #expect(finding["where"] as? String == "line 1, byte 11")

        // Review alone is exit 1 too; an empty --history changes nothing.
        let history = try outDir([:])
        let review = try DelongProcess.run([
            "gate", "check", try outDir(["small.csv": "decade,n\n1950,4\n"]).path, "--data", data.path,
            "--history", history.path, "--json",
        ])
        #expect(review.status == 1, "\(review.stderr)")
        #expect(review.json?["decision"] as? String == "review")
        #expect(try listing(data) == before)
    }

    @Test func badInputExitsTwoWithAReason() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = try outDir(["a.txt": "hello\n"])
        let malformed = try dataDir(policy: "{\"version\": 1, \"tables\": {}, \"colour\": 1}")
        let bad = try DelongProcess.run(["gate", "check", out.path, "--data", malformed.path, "--json"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("policy"))

        let parquet = try dataDir(
            policy: Self.policy.replacingOccurrences(of: "people.csv", with: "people.parquet"),
            extra: ["people.parquet": "PAR1"]
        )
        let pq = try DelongProcess.run(["gate", "check", out.path, "--data", parquet.path])
        #expect(pq.status == 2)
        #expect(pq.stderr.contains("people.parquet: expected a Parquet file"), "\(pq.stderr)")

        let missing = try DelongProcess.run([
            "gate", "check", out.path, "--data", dir.appendingPathComponent("nope").path,
        ])
        #expect(missing.status == 2)
        let noOut = try DelongProcess.run([
            "gate", "check", dir.appendingPathComponent("nope").path, "--data", try dataDir().path,
        ])
        #expect(noOut.status == 2)
    }

    /// A Parquet dataset (typed columns pyarrow writes from people.csv) and the CSV pandas writes for the same
    /// frame give the same gate report on outputs that release, review and block.
    @Test func aParquetDatasetAndItsCSVTwinGiveTheSameGateReport() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try dataDir()
        let csv = dir.appendingPathComponent("twin-csv")
        let parquet = dir.appendingPathComponent("twin-parquet")
        for url in [csv, parquet] {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        let python = ProcessInfo.processInfo.environment["DELONG_FIXTURE_PYTHON"] ?? "/opt/delong/runtime/bin/python3"
        try ContribTool.run([
            python, "contrib/references/parquet_fixtures.py", "twin", source.appendingPathComponent("people.csv").path,
            parquet.appendingPathComponent("people.parquet").path, csv.appendingPathComponent("people.csv").path,
        ])
        try Data(Self.policy.utf8).write(to: csv.appendingPathComponent("delong-policy.json"))
        try Data(Self.policy.replacingOccurrences(of: "people.csv", with: "people.parquet").utf8)
            .write(to: parquet.appendingPathComponent("delong-policy.json"))
        let outputs = [
            try outDir(["means.csv": "decade,count,mean\n1950,40,31234.5\n1960,60,33456.7\n"]),
            try outDir(["small.csv": "decade,n\n1950,4\n", "sub/notes.txt": "worst fit: person17 FAMILY17\n"]),
            try outDir(["rows.csv": "id,birth,postcode\nID100017,1967-08-17,20289\nID100018,1968-09-18,20306\n"]),
        ]
        var decisions: [String] = []
        for output in outputs {
            let fromCSV = try gate([output.path, "--data", csv.path, "--json"])
            let fromParquet = try gate([output.path, "--data", parquet.path, "--json"])
            #expect(fromCSV.status == fromParquet.status, "\(fromParquet.stderr)")
            let a = try #require(fromCSV.json)
            // Findings name the table; the Parquet dataset's is people.parquet.
            let named = fromParquet.stdout.replacingOccurrences(of: "people.parquet", with: "people.csv")
            let b = try #require(try JSONSerialization.jsonObject(with: Data(named.utf8)) as? [String: Any])
            #expect(fromParquet.stdout.contains("people.parquet") == (b["decision"] as? String == "block"))
            #expect((a as NSDictionary) == (b as NSDictionary))
            decisions.append(b["decision"] as? String ?? "?")
        }
        #expect(decisions == ["release", "block", "block"])
    }

    /// Runs `delong gate check` with its index cache under this test's directory.
    func gate(_ arguments: [String], cache: URL? = nil) throws -> DelongProcess.Result {
        try DelongProcess.run(
            ["gate", "check"] + arguments,
            environment: ["XDG_CACHE_HOME": (cache ?? dir.appendingPathComponent("cache")).path]
        )
    }

    @Test func historyFindsDifferencingAndAMissingHistoryIsBadInput() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try dataDir()
        let now = try outDir(["groups.csv": "group,n\nalpha,40\nbeta,57\ngamma,61\n"])
        // Safe alone.
        #expect(try gate([now.path, "--data", data.path, "--json"]).status == 0)
        // Empty history: none.
        let empty = try outDir([:])
        #expect(try gate([now.path, "--data", data.path, "--history", empty.path, "--json"]).status == 0)
        // An earlier release of the same table over 3 more people, in a folder of the history.
        let history = try outDir(["sub/release-1.csv": "group,n\nalpha,40\nbeta,60\ngamma,61\n"])
        let run = try gate([now.path, "--data", data.path, "--history", history.path, "--json"])
        #expect(run.status == 1, "\(run.stderr)")
        let files = try #require(run.json?["files"] as? [[String: Any]])
        let findings = try #require(files.first?["findings"] as? [[String: Any]])
        #expect(findings.map { $0["check"] as? String } == ["differencing"])
        #expect(findings.first?["where"] as? String == "row 2, column \"n\"")
        #expect((findings.first?["detail"] as? String)?.contains("sub/release-1.csv") == true)
        // A missing history directory, or a file where a directory is expected: exit 2.
        let missing = try gate([now.path, "--data", data.path, "--history", dir.appendingPathComponent("no").path])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("--history"))
        let file = history.appendingPathComponent("sub/release-1.csv")
        #expect(try gate([now.path, "--data", data.path, "--history", file.path]).status == 2)
    }

    /// (name → size, modification date) of every entry of a directory.
    func stamps(_ url: URL) throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: url.path) {
            let a = try FileManager.default.attributesOfItem(atPath: url.appendingPathComponent(name).path)
            out[name] = "\(a[.size] ?? "") \((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        return out
    }

    @Test func theIndexIsCachedOutsideDataDirConcurrentRunsAgreeAndACorruptCacheIsRebuilt() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try dataDir()
        let before = try listing(data)
        let beforeStamps = try stamps(data)
        let out = try outDir(["notes.txt": "worst fit: person17 FAMILY17\n", "ok.csv": "decade,count\n1950,40\n"])
        let cache = dir.appendingPathComponent("xdg")
        // Two runs at once on an empty cache.
        let results = Mutex<[DelongProcess.Result?]>([nil, nil])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = try? gate([out.path, "--data", data.path, "--json"], cache: cache)
            results.withLock { $0[i] = r }
        }
        let (a, b) = results.withLock { ($0[0], $0[1]) }
        #expect(a?.status == 1 && b?.status == 1)
        #expect(a?.stdout == b?.stdout)
        let cacheDir = cache.appendingPathComponent("delong")
        let entries = try FileManager.default.contentsOfDirectory(atPath: cacheDir.path)
        #expect(entries.count == 1 && entries[0].hasPrefix("gate-index-") && entries[0].hasSuffix(".bin"), "\(entries)")
        let cacheFile = cacheDir.appendingPathComponent(entries[0])
        let good = try Data(contentsOf: cacheFile)
        // A cached run gives the same report.
        let cached = try gate([out.path, "--data", data.path, "--json"], cache: cache)
        #expect(cached.stdout == a?.stdout)
        // Corrupt the cache: flip bytes in the middle, then truncate it; each time it is ignored and rebuilt.
        var flipped = good
        flipped[flipped.count / 2] ^= 0xFF
        try flipped.write(to: cacheFile)
        #expect(try gate([out.path, "--data", data.path, "--json"], cache: cache).stdout == a?.stdout)
        let rebuilt = try Data(contentsOf: cacheFile)
        #expect(rebuilt != flipped && rebuilt.count == good.count)
        try Data(good.prefix(40)).write(to: cacheFile)
        #expect(try gate([out.path, "--data", data.path, "--json"], cache: cache).stdout == a?.stdout)
        #expect(try Data(contentsOf: cacheFile).count == good.count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cacheDir.path).count == 1)
        // DATA_DIR untouched: same listing, bytes, sizes and modification times.
        #expect(try listing(data) == before)
        #expect(try stamps(data) == beforeStamps)
    }
}
