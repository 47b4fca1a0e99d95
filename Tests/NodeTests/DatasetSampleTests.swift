import Foundation
import TestSupport
import Testing

/// `delong dataset sample`, run as a process: the output's k and l agree with pycanon, bad input exits 2 and
/// writes nothing.
@Suite struct DatasetSampleTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }
    /// Shares another suite's directory (DatasetSampleParquetTests builds its tables here).
    init(directory: URL) { dir = directory }

    static let policy = """
        {"version": 1,
         "tables": {
           "accounts.csv": {"entity": "account_id", "columns": {"account_id": "key", "name": "direct_identifier",
             "email": "direct_identifier", "birth_date": "quasi_identifier", "postcode": "quasi_identifier",
             "balance": "sensitive", "opened": "date", "memo": "free_text", "branch": "other"}},
           "transactions.csv": {"entity": "account_id", "columns": {"tx_id": "key", "account_id": "key",
             "amount": "sensitive", "category": "quasi_identifier", "booked": "date"}}},
         "canaries": [{"table": "accounts.csv", "row": 41, "values": {"postcode": "10037"}}],
         "thresholds": {"k": 10}}
        """

    /// Writes synthetic accounts.csv (people) and transactions.csv (1-3 per account) into a new data dir.
    func dataDir(people: Int = 3000) throws -> (URL, [String]) {
        var state: UInt64 = 99
        func pick(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        func pad(_ v: Int, _ w: Int) -> String {
            let t = String(v)
            return String(repeating: "0", count: max(0, w - t.count)) + t
        }
        var identifiers: [String] = []
        var accounts = "account_id,name,email,birth_date,postcode,balance,opened,memo,branch\n"
        var transactions = "tx_id,account_id,amount,category,booked\n"
        var tx = 0
        for i in 0..<people {
            let account = "ACC\(pad(500_000 + i * 3, 7))"
            let name = "Name\(i) Surname\(pick(50))"
            let email = "user\(i)@example.net"
            identifiers += [account, name, email]
            let birth = "\(1940 + pick(65))-\(pad(1 + pick(12), 2))-\(pad(1 + pick(28), 2))"
            let postcode = pad(10_000 + pick(300) * 37, 5)
            accounts +=
                "\(account),\"\(name)\",\(email),\(birth),\(postcode),\(pick(90_000)).\(pad(pick(100), 2)),"
                + "\(2000 + pick(24))-\(pad(1 + pick(12), 2))-15,\"memo, \"\"quoted\"\"\nline\",\(["n", "s", "e"][pick(3)])\n"
            for _ in 0..<(1 + pick(3)) {
                tx += 1
                identifiers.append("T\(pad(tx, 9))")
                transactions +=
                    "T\(pad(tx, 9)),\(account),\(pick(4000) - 2000),\(["food", "rent", "travel", "fees"][pick(4)]),"
                    + "20\(10 + pick(14))-0\(1 + pick(9))-0\(1 + pick(9))\r\n"
            }
        }
        let data = dir.appendingPathComponent("data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data(accounts.utf8).write(to: data.appendingPathComponent("accounts.csv"))
        try Data(transactions.utf8).write(to: data.appendingPathComponent("transactions.csv"))
        try Data(Self.policy.utf8).write(to: data.appendingPathComponent("delong-policy.json"))
        return (data, identifiers)
    }

    func sample(_ data: URL, out: URL, _ extra: [String] = [], policy: URL? = nil) throws -> DelongProcess.Result {
        try DelongProcess.run(
            [
                "dataset", "sample", data.path,
                "--policy", (policy ?? data.appendingPathComponent("delong-policy.json")).path,
                "--out", out.path,
            ] + extra
        )
    }

    @Test func aSampleIsWrittenWithReportAndPycanonAgreesOnKAndL() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (data, identifiers) = try dataDir()
        let out = dir.appendingPathComponent("sample")
        let run = try sample(data, out: out, ["--rows", "1500", "--k", "10", "--seed", "7", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try #require(run.json)
        let policyDigest = try ContribTool.run([
            "/usr/bin/sha256sum", data.appendingPathComponent("delong-policy.json").path,
        ])
        #expect(report["policySHA256"] as? String == String(policyDigest.prefix(64)))
        let written = try JSONSerialization.jsonObject(
            with: Data(contentsOf: out.appendingPathComponent("report.json"))
        )
        #expect((written as? NSDictionary) == (report as NSDictionary))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
                == ["accounts.csv", "report.json", "transactions.csv"]
        )
        // No source identifier or key survives anywhere in the written files.
        var text = ""
        for name in ["accounts.csv", "transactions.csv", "report.json"] {
            text += try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8)
        }
        let cells = Set(text.split(whereSeparator: { ",\n\"".contains($0) }).map(String.init))
        for identifier in identifiers { #expect(!cells.contains(identifier)) }
        #expect(!text.contains("@example.net"))
        #expect(!text.contains("ACC"))

        // pycanon (contrib/references/.venv) recomputes k and l on each written table.
        let tables = try #require(report["tables"] as? [[String: Any]])
        let k = try #require(report["k"] as? [String: Any])
        #expect((k["reached"] as? Int).map { $0 >= 10 } == true)
        for table in tables {
            let name = try #require(table["name"] as? String)
            let qi = try #require(table["quasiIdentifiers"] as? [String])
            let l = try #require(table["l"] as? [String: Int])
            guard !qi.isEmpty else { continue }
            for (sensitive, reportedL) in l {
                let answer = try ContribTool.run([
                    "contrib/references/.venv/bin/python", "contrib/references/kl_check.py",
                    out.appendingPathComponent(name).path, qi.joined(separator: ","), sensitive,
                ])
                let json = try #require(
                    try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
                )
                #expect(json["k"] as? Int == table["k"] as? Int, "\(name): pycanon k vs report")
                #expect(json["l"] as? Int == reportedL, "\(name).\(sensitive): pycanon l vs report")
                #expect((json["k"] as? Int).map { $0 >= 10 } == true)
                #expect(reportedL >= 2)
            }
        }
    }

    func expectRefused(_ run: DelongProcess.Result, out: URL, _ message: String) throws {
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains(message), "\(run.stderr)")
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []
        #expect(entries.isEmpty, "something was written: \(entries)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
    }

    @Test func hostileInputsExitTwoAndWriteNothing() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        // Malformed CSV (unterminated quote).
        do {
            let (data, _) = try dataDir(people: 50)
            try Data("tx_id,account_id,amount,category,booked\nT1,\"ACC1,1,food,2020-01-01\n".utf8)
                .write(to: data.appendingPathComponent("transactions.csv"))
            let out = dir.appendingPathComponent("out-csv")
            try expectRefused(
                try sample(data, out: out),
                out: out,
                "transactions.csv: line 2: unterminated quoted field"
            )
        }
        // Unknown policy key, wrong role, missing entity column.
        for (policy, message) in [
            (
                Self.policy.replacingOccurrences(of: "\"thresholds\"", with: "\"threshold\""),
                "unknown key \"threshold\""
            ),
            (
                Self.policy.replacingOccurrences(of: "\"branch\": \"other\"", with: "\"branch\": \"public\""),
                "expected one of key"
            ),
            (
                Self.policy.replacingOccurrences(
                    of: "\"entity\": \"account_id\", \"columns\": {\"tx_id\"",
                    with: "\"entity\": \"acct\", \"columns\": {\"tx_id\""
                ), "\"acct\" is not one of the table's columns"
            ),
        ] {
            let (data, _) = try dataDir(people: 50)
            let file = dir.appendingPathComponent("policy-\(UUID().uuidString).json")
            try Data(policy.utf8).write(to: file)
            let out = dir.appendingPathComponent("out-\(UUID().uuidString)")
            try expectRefused(try sample(data, out: out, policy: file), out: out, message)
        }
        // The entity column missing from the table's header.
        do {
            let (data, _) = try dataDir(people: 50)
            try Data("tx_id,acct,amount,category,booked\nT1,A,1,food,2020-01-01\n".utf8)
                .write(to: data.appendingPathComponent("transactions.csv"))
            let out = dir.appendingPathComponent("out-entity")
            try expectRefused(try sample(data, out: out), out: out, "the policy lists column \"account_id\"")
        }
        // An oversized field (over 1 MiB).
        do {
            let (data, _) = try dataDir(people: 50)
            let big = String(repeating: "x", count: (1 << 20) + 10)
            try Data("tx_id,account_id,amount,category,booked\nT1,ACC1,1,\(big),2020-01-01\n".utf8)
                .write(to: data.appendingPathComponent("transactions.csv"))
            let out = dir.appendingPathComponent("out-big")
            try expectRefused(try sample(data, out: out), out: out, "field larger than")
        }
        // A truncated Parquet table, and one whose sample name (CSV) is another table's.
        do {
            let (data, _) = try dataDir(people: 50)
            try Data("PAR1".utf8).write(to: data.appendingPathComponent("transactions.parquet"))
            let policy = dir.appendingPathComponent("policy-parquet.json")
            try Data(Self.policy.replacingOccurrences(of: "transactions.csv", with: "transactions.parquet").utf8)
                .write(to: policy)
            let out = dir.appendingPathComponent("out-parquet")
            try expectRefused(try sample(data, out: out, policy: policy), out: out, "expected a Parquet file")
            let clash = dir.appendingPathComponent("policy-clash.json")
            try Data(
                Self.policy.replacingOccurrences(
                    of: "\"transactions.csv\": {",
                    with:
                        "\"accounts.parquet\": {\"entity\": \"id\", \"columns\": {\"id\": \"key\"}}, \"transactions.csv\": {"
                ).utf8
            ).write(to: clash)
            try expectRefused(
                try sample(data, out: out, policy: clash),
                out: out,
                "would both be written as accounts.csv"
            )
        }
        // A non-empty --out is refused and left as it was.
        do {
            let (data, _) = try dataDir(people: 50)
            let out = dir.appendingPathComponent("out-full")
            try fm.createDirectory(at: out, withIntermediateDirectories: true)
            try Data("keep".utf8).write(to: out.appendingPathComponent("mine.txt"))
            let run = try sample(data, out: out)
            #expect(run.status == 2)
            #expect(run.stderr.contains("expected a new or empty directory"))
            #expect(try fm.contentsOfDirectory(atPath: out.path) == ["mine.txt"])
        }
        // k that cannot hold: exit 1, nothing written.
        do {
            let (data, _) = try dataDir(people: 60)
            let out = dir.appendingPathComponent("out-k")
            let run = try sample(data, out: out, ["--rows", "5", "--k", "50"])
            #expect(run.status == 1, "\(run.stderr)")
            #expect(run.stderr.contains("k = 50 cannot hold"))
            #expect(!fm.fileExists(atPath: out.path))
        }
        // An existing empty --out is filled.
        do {
            let (data, _) = try dataDir(people: 200)
            let out = dir.appendingPathComponent("out-empty")
            try fm.createDirectory(at: out, withIntermediateDirectories: true)
            let run = try sample(data, out: out, ["--rows", "200"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(fm.fileExists(atPath: out.appendingPathComponent("report.json").path))
        }
    }
}
