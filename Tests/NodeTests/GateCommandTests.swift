import Foundation
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

        // Review alone is exit 1 too; --history is accepted (differencing is not built yet).
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

        let parquet = try dataDir(extra: ["more.parquet": "PAR1"])
        let pq = try DelongProcess.run(["gate", "check", out.path, "--data", parquet.path])
        #expect(pq.status == 2)
        #expect(pq.stderr.contains("Parquet tables are not supported yet"))

        let missing = try DelongProcess.run([
            "gate", "check", out.path, "--data", dir.appendingPathComponent("nope").path,
        ])
        #expect(missing.status == 2)
        let noOut = try DelongProcess.run([
            "gate", "check", dir.appendingPathComponent("nope").path, "--data", try dataDir().path,
        ])
        #expect(noOut.status == 2)
    }
}
