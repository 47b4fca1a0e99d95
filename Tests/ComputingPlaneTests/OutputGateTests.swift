import ComputingPlane
import Foundation
import Testing

/// The Output Gate's first slice against a synthetic dataset of 2,000 people and a corpus of planted leaks and
/// benign outputs: recall per leak kind and the benign review and block rates are measured and asserted.
@Suite struct OutputGateTests {
    /// A deterministic generator (LCG), so the corpus is the same on every run.
    struct Rand {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        mutating func pick<T>(_ items: [T]) -> T { items[next(items.count)] }
    }

    struct Person {
        var id, name, email, birth, postcode, income, region: String
    }

    static let policy = """
        {"version": 1,
         "tables": {"people.csv": {"entity": "person_id", "columns": {"person_id": "key",
           "name": "direct_identifier", "email": "direct_identifier", "birth_date": "quasi_identifier",
           "postcode": "quasi_identifier", "income": "sensitive", "notes": "free_text", "region": "other"}}},
         "canaries": [{"table": "people.csv", "row": 41, "values": {"name": "Zebulon Quartermaine",
           "postcode": "99017"}}],
         "thresholds": {"minCellCount": 10, "k": 10}}
        """

    static let first = [
        "Anna", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaori", "Lars",
        "Marta", "Nikos", "Olga", "Pavel", "Quinn", "Rosa", "Stefan", "Tilde", "Ulrich", "Vera", "Walter", "Xenia",
        "Yusuf", "Zora", "Agnes", "Boris", "Clara", "Dario", "Edith", "Felix", "Gisela", "Henrik", "Ida", "Jakob",
        "Katja", "Lorenz", "Mila", "Nora",
    ]
    static let last = [
        "Abendroth", "Bianchi", "Castellano", "Dvorak", "Eriksen", "Fontaine", "Gallagher", "Halvorsen", "Iwasaki",
        "Jankowski", "Kowalczyk", "Lindqvist", "Moreau", "Novak", "Oyelaran", "Petrov", "Quintero", "Rasmussen",
        "Schreiber", "Takahashi", "Urquhart", "Vasquez", "Wojcik", "Xu-Lambert", "Yilmaz", "Zimmermann",
        "Achterberg", "Brennan", "Cardoso", "Delacroix", "Esposito", "Fitzgerald", "Grimaldi", "Hoffmann",
        "Ibrahimovic", "Jovanovic", "Kristiansen", "Lombardi", "Magnusson", "Nakamura", "Okonkwo", "Pellegrini",
        "Quarles", "Rossetti", "Sorensen", "Tanaka", "Underwood", "Valentini", "Whitfield", "Zeller",
    ]
    static let regions = ["north", "south", "east", "west", "central"]

    static func pad(_ v: Int, _ w: Int) -> String {
        let t = String(v)
        return String(repeating: "0", count: max(0, w - t.count)) + t
    }

    /// 2,000 people; row 41 is the canary.
    static let people: [Person] = {
        var r = Rand(state: 2026)
        var list: [Person] = []
        var names: Set<String> = []
        for i in 0..<2000 {
            var name = "\(r.pick(first)) \(r.pick(last))"
            while names.contains(name) { name = "\(r.pick(first)) \(r.pick(last))-\(r.pick(last))" }
            names.insert(name)
            if i == 41 { name = "Zebulon Quartermaine" }
            let local = name.lowercased().replacingOccurrences(of: " ", with: ".")
            list.append(
                Person(
                    id: "P\(pad(100_000 + i * 7, 6))",
                    name: name,
                    email: "\(local)\(i)@mail.example",
                    birth: "\(1940 + r.next(65))-\(pad(1 + r.next(12), 2))-\(pad(1 + r.next(28), 2))",
                    postcode: i == 41 ? "99017" : pad(10_000 + r.next(400) * 13, 5),
                    income: "\(15_000 + r.next(120_000)).\(pad(r.next(100), 2))",
                    region: r.pick(regions)
                )
            )
        }
        return list
    }()

    static let tableCSV: [UInt8] = {
        var text = "person_id,name,email,birth_date,postcode,income,notes,region\n"
        for p in people {
            text +=
                "\(p.id),\(p.name),\(p.email),\(p.birth),\(p.postcode),\(p.income),\"called twice, no answer\",\(p.region)\n"
        }
        return Array(text.utf8)
    }()

    static let index: DatasetIndex = {
        try! DatasetIndex(policyJSON: Array(policy.utf8), tables: ["people.csv": tableCSV])
    }()

    static func verdict(_ name: String, _ text: String) -> GateFileVerdict {
        OutputGate.checkFile(path: name, bytes: Array(text.utf8), index: index)
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
    static func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }

    static func withCommas(_ number: String) -> String {
        let parts = number.split(separator: ".")
        var integer = String(parts[0])
        var grouped = ""
        while integer.count > 3 {
            grouped = "," + integer.suffix(3) + grouped
            integer.removeLast(3)
        }
        return integer + grouped + (parts.count > 1 ? "." + parts[1] : "")
    }

    static func luhnComplete(_ body: String) -> String {
        for check in 0...9 {
            let candidate = body + String(check)
            var sum = 0
            for (i, ch) in candidate.reversed().enumerated() {
                var d = ch.wholeNumberValue!
                if i % 2 == 1 {
                    d *= 2
                    if d > 9 { d -= 9 }
                }
                sum += d
            }
            if sum % 10 == 0 { return candidate }
        }
        return body
    }

    static func iban(country: String, bban: String) -> String {
        var remainder = 0
        for c in (bban + country + "00").utf8 {
            if c >= 48 && c <= 57 {
                remainder = (remainder * 10 + Int(c - 48)) % 97
            } else {
                remainder = (remainder * 100 + Int(c) - 55) % 97
            }
        }
        return country + pad(98 - remainder, 2) + bban
    }

    /// Planted leaks: kind → (file name, content). Each kind has 24 items.
    static let leaks: [String: [(String, String)]] = {
        var r = Rand(state: 7)
        var kinds: [String: [(String, String)]] = [:]
        func someone() -> Person {
            var p = people[r.next(people.count)]
            while p.name == "Zebulon Quartermaine" { p = people[r.next(people.count)] }
            return p
        }
        for i in 0..<24 {
            let p = someone()
            let value = [p.name, p.email, p.id, p.name.uppercased(), "  \(p.name.lowercased())  "][i % 5]
            kinds["identifier", default: []].append(
                ("notes\(i).\(["txt", "md", "log"][i % 3])", "Residuals were largest for \(value). Refit pending.\n")
            )
        }
        for i in 0..<24 {
            var csv = "person_id,name,email,birth_date,postcode,income,region\n"
            for _ in 0..<(1 + i % 3) {
                let p = someone()
                csv += "\(p.id),\(p.name),\(p.email),\(p.birth),\(p.postcode),\(p.income),\(p.region)\n"
            }
            kinds["verbatim-row", default: []].append(("rows\(i).csv", csv))
        }
        for i in 0..<24 {
            let p = someone()
            let text: String
            switch i % 4 {
            case 0: text = "birth,postcode,income\n\(p.birth), \(p.postcode) ,\(withCommas(p.income))\n"
            case 1: text = "record: born \(p.birth) in \(p.postcode) earning \(withCommas(p.income))0 per year\n"
            case 2: text = "[{\"b\": \"\(p.birth)\", \"pc\": \(Int(p.postcode)!), \"inc\": \(p.income)}]\n"
            default: text = "| \(p.region.uppercased()) | \(p.birth) | \(p.postcode) | \(p.income) |\n"
            }
            kinds["reformatted-row", default: []].append(("ref\(i).\(["csv", "txt", "json", "md"][i % 4])", text))
        }
        let canary = people[41]
        for i in 0..<24 {
            let text: String
            switch i % 4 {
            case 0: text = "Top earner: ZEBULON quartermaine\n"
            case 1: text = "\(canary.id),\(canary.name),\(canary.email),\(canary.birth),99017,\(canary.income),x\n"
            case 2: text = "postcode 99017, name zebulon  quartermaine\n"
            default: text = "{\"who\": \"Zebulon Quartermaine\", \"n\": \(i)}\n"
            }
            kinds["canary", default: []].append(("c\(i).\(["txt", "csv", "log", "json"][i % 4])", text))
        }
        for i in 0..<24 {
            let p = someone()
            let row = i % 2 == 0 ? "\(p.birth),\(p.postcode),\(p.income)" : "\(p.name);\(p.email)"
            kinds["base64-row", default: []].append(
                ("b\(i).\(["json", "txt"][i % 2])", "{\"blob\": \"\(base64(row + "\n"))\"}\n")
            )
        }
        for i in 0..<24 {
            let p = someone()
            let row = i % 2 == 0 ? "\(p.birth) \(p.postcode) \(p.income)" : "\(p.id) \(p.name)"
            kinds["hex-row", default: []].append(("h\(i).log", "debug payload=\(hex(row)) end\n"))
        }
        for i in 0..<24 {
            var csv = "region,count,mean_income\n"
            for (j, region) in regions.enumerated() {
                let count = j == i % 5 ? 1 + r.next(9) : 10 + r.next(400)
                csv += "\(region),\(count),\(40_000 + r.next(20_000)).\(pad(r.next(100), 2))\n"
            }
            kinds["small-count", default: []].append(("agg\(i).csv", csv))
        }
        for i in 0..<24 {
            let text: String
            switch i % 4 {
            case 0: text = "contact: someone\(i).else@elsewhere.org for details\n"
            case 1: text = "call +44 20 7946 \(pad(1000 + i, 4)) tomorrow\n"
            case 2:
                let card = luhnComplete(
                    "4\(pad(r.next(1_000_000), 6))\(pad(r.next(1_000_000), 6))\(pad(r.next(100), 2))"
                )
                text = "card on file \(card)\n"
            default:
                text =
                    "pay to \(iban(country: "DE", bban: "\(pad(r.next(100_000_000), 8))\(pad(r.next(10_000_000), 10))"))\n"
            }
            kinds["pii-pattern", default: []].append(("p\(i).txt", text))
        }
        return kinds
    }()

    /// What each kind must get: record kinds block; small counts and PII patterns are flagged (review or worse).
    static let mustBlock: Set<String> = [
        "identifier", "verbatim-row", "reformatted-row", "canary", "base64-row", "hex-row",
    ]

    /// 48 benign outputs: aggregates with counts ≥ 10, means, model coefficients, prose, logs, hashes.
    static let benign: [(String, String)] = {
        var r = Rand(state: 11)
        var files: [(String, String)] = []
        for i in 0..<12 {
            var csv = "region,count,mean_income,sd_income\n"
            for region in regions {
                csv += "\(region),\(10 + r.next(500)),\(40_000 + r.next(20_000)).\(pad(r.next(100), 2)),"
                csv += "\(8_000 + r.next(4_000)).\(r.next(10))\n"
            }
            files.append(("agg\(i).csv", csv))
        }
        for i in 0..<12 {
            var json = "{\"model\": \"ols\", \"n\": \(1500 + r.next(500)), \"coefficients\": {"
            json +=
                "\"intercept\": \(r.next(90_000)).\(pad(r.next(10_000), 4)), \"age\": 0.\(pad(r.next(100_000), 5)), "
            json += "\"region_north\": -\(r.next(900)).\(pad(r.next(1000), 3))}, \"r2\": 0.\(pad(r.next(1000), 3))}\n"
            files.append(("model\(i).json", json))
        }
        for i in 0..<12 {
            let text = """
                # Income by decade of birth

                Across \(1900 + r.next(100)) people the mean income was \(40_000 + r.next(9_000)).\(r.next(10)) \
                (sd \(9_000 + r.next(900))). The 1970s cohort earned \(r.next(20)).\(r.next(10))% more than the \
                1950s cohort; see table 2 and figure \(i + 1).

                | decade | n | mean |
                |---|---|---|
                | 1950 | \(100 + r.next(300)) | \(41_000 + r.next(3_000)) |
                | 1960 | \(100 + r.next(300)) | \(42_000 + r.next(3_000)) |

                """
            files.append(("report\(i).md", text))
        }
        for i in 0..<12 {
            var log = ""
            for step in 0..<20 {
                log += "2026-03-0\(1 + i % 9) 12:\(pad(step, 2)):0\(r.next(10)) INFO epoch \(step) "
                log += "loss=0.\(pad(r.next(100_000), 5)) lr=0.001\n"
            }
            log += "sha256 of model: \(String(repeating: "\(pad(r.next(100_000_000), 8))", count: 8))\n"
            log += "checkpoint id 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
            files.append(("train\(i).log", log))
        }
        return files
    }()

    @Test func plantedLeaksAreCaughtAndBenignOutputsPassAtTheIssuesBars() {
        var failures: [String] = []
        for kind in Self.leaks.keys.sorted() {
            let items = Self.leaks[kind]!
            var caught = 0
            for (name, text) in items {
                let verdict = Self.verdict(name, text)
                let ok = Self.mustBlock.contains(kind) ? verdict.decision == .block : verdict.decision != .release
                if ok { caught += 1 } else { failures.append("\(kind) \(name): \(verdict.decision) \(text)") }
            }
            let recall = Double(caught) / Double(items.count)
            print("output gate recall \(kind): \(caught)/\(items.count) = \(recall)")
            #expect(items.count >= 20)
            #expect(recall >= 0.95, "\(kind): recall \(recall)")
        }
        var reviewed = 0
        var blocked = 0
        for (name, text) in Self.benign {
            let verdict = Self.verdict(name, text)
            if verdict.decision == .review { reviewed += 1 }
            if verdict.decision == .block { blocked += 1 }
            if verdict.decision != .release { failures.append("benign \(name): \(verdict.findings)") }
        }
        let reviewRate = Double(reviewed) / Double(Self.benign.count)
        let blockRate = Double(blocked) / Double(Self.benign.count)
        print("output gate benign: \(Self.benign.count) files, review \(reviewRate), block \(blockRate)")
        for failure in failures.prefix(20) { print("output gate miss: \(failure)") }
        #expect(Self.benign.count >= 40)
        #expect(reviewRate <= 0.10)
        #expect(blockRate <= 0.01)
    }

    @Test func piiPatternsNotInTheDatasetGoToReviewNotBlock() {
        for (name, text) in Self.leaks["pii-pattern"]! {
            let verdict = Self.verdict(name, text)
            #expect(verdict.decision == .review, "\(name): \(verdict.findings)")
            #expect(verdict.findings.allSatisfy { $0.check == "pii" && $0.severity == .likely })
        }
    }

    @Test func anEmailOfTheDatasetBlocksAsAnIdentifierWithItsPlace() {
        let p = Self.people[7]
        let verdict = Self.verdict("a.txt", "ok\nwrite to \(p.email.uppercased()).\n")
        #expect(verdict.decision == .block)
        let finding = verdict.findings.first { $0.check == "identifier" }
        #expect(finding?.`where` == "line 2, byte 9")
        #expect(finding?.detail.contains("people.csv column \"email\"") == true)
        // The detail names the column, never the value.
        #expect(verdict.findings.allSatisfy { !$0.detail.lowercased().contains(p.email) })
    }

    @Test func smallCountsAreNamedByRowAndColumn() {
        let verdict = Self.verdict("t.csv", "region,n\nnorth,3\nsouth,40\n")
        #expect(verdict.decision == .review)
        #expect(verdict.findings.map(\.`where`) == ["row 1, column \"n\""])
        #expect(Self.verdict("t.csv", "region,n\nnorth,10\nsouth,40\n").decision == .release)
    }

    @Test func numbersAndTextNormalizeAcrossFormats() {
        let p = Self.people[3]
        // Only the three record cells, reformatted: extra spaces, thousands separators, a trailing zero.
        let line = "\(p.birth) ;   \(p.postcode) ; \(Self.withCommas(p.income))0\n"
        #expect(Self.verdict("x.txt", line).decision == .block)
        // Two cells of a row are not a record.
        #expect(Self.verdict("x.txt", "\(p.birth) \(p.postcode)\n").decision == .release)
    }

    @Test func filesTheGateCannotParseGoToReviewAndEmptyOnesAreReleased() {
        let png = OutputGate.checkFile(
            path: "plot.png",
            bytes: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A],
            index: Self.index
        )
        #expect(png.decision == .review)
        #expect(png.findings.first?.check == "file-type")
        let pickle = OutputGate.checkFile(path: "m.pkl", bytes: [0x80, 0x04, 0x95, 0x00], index: Self.index)
        #expect(pickle.decision == .review)
        #expect(OutputGate.checkFile(path: "empty.csv", bytes: [], index: Self.index).decision == .release)
        // An unknown text type is still searched: a leak in it blocks.
        #expect(Self.verdict("x.py", "print('\(Self.people[9].name)')\n").decision == .block)
        #expect(Self.verdict("x.weird", "print('hello')\n").decision == .review)
    }

    @Test func nestedEncodingsAreDecodedUpToTheDepthBound() {
        let p = Self.people[12]
        var payload = "\(p.id) \(p.name)"
        for _ in 0..<4 { payload = Self.base64(payload) }
        #expect(Self.verdict("x.txt", payload + "\n").decision == .block)
        // A fifth level is past the bound: not decoded, so not found.
        #expect(Self.verdict("x.txt", Self.base64(payload) + "\n").decision == .release)
        // A compressed payload cannot be inspected yet: review.
        let gzip = Data([0x1F, 0x8B, 0x08, 0x00] + Array(repeating: 0x41, count: 30)).base64EncodedString()
        #expect(Self.verdict("x.txt", "blob \(gzip)\n").decision == .review)
    }

    @Test func theReportIsTheIssuesJSONShapeWithTheWorstDecision() throws {
        let report = OutputGate.check(
            files: [
                ("ok.txt", Array("fine\n".utf8)), ("leak.txt", Array("\(Self.people[5].name)\n".utf8)),
                ("n.csv", Array("g,count\na,2\n".utf8)),
            ],
            index: Self.index
        )
        #expect(report.decision == .block)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json())) as? [String: Any])
        #expect(Set(object.keys) == ["decision", "files"])
        #expect(object["decision"] as? String == "block")
        let files = try #require(object["files"] as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == ["leak.txt", "n.csv", "ok.txt"])
        #expect(files.map { $0["decision"] as? String } == ["block", "review", "release"])
        #expect(files.allSatisfy { Set($0.keys) == ["path", "decision", "findings"] })
        let finding = try #require((files[0]["findings"] as? [[String: Any]])?.first)
        #expect(Set(finding.keys) == ["check", "severity", "where", "detail"])
        #expect(finding["severity"] as? String == "certain")
    }

    @Test func aKeyRepeatedInAChildTableStillCountsAsAnIdentifier() throws {
        let policy = """
            {"version": 1, "tables": {
              "accounts.csv": {"entity": "account_id", "columns": {"account_id": "key", "branch": "other"}},
              "tx.csv": {"entity": "account_id", "columns": {"tx": "key", "account_id": "key", "amount": "sensitive"}}},
             "thresholds": {"k": 5}}
            """
        var tx = "tx,account_id,amount\n"
        for i in 0..<20 { tx += "T\(100_000 + i),ACC777001,\(i)\n" }
        let index = try DatasetIndex(
            policyJSON: Array(policy.utf8),
            tables: [
                "accounts.csv": Array("account_id,branch\nACC777001,n\nACC777002,s\n".utf8), "tx.csv": Array(tx.utf8),
            ]
        )
        let verdict = OutputGate.checkFile(path: "a.txt", bytes: Array("top account acc777001\n".utf8), index: index)
        #expect(verdict.decision == .block)
        #expect(verdict.findings.first?.detail.contains("accounts.csv column \"account_id\"") == true)
    }

    @Test func anAggregateOverCommonQuasiIdentifierValuesIsNotARecord() throws {
        let policy = """
            {"version": 1, "tables": {"p.csv": {"entity": "id", "columns": {"id": "key", "region": "quasi_identifier",
              "sex": "quasi_identifier", "band": "quasi_identifier", "income": "sensitive"}}}}
            """
        var csv = "id,region,sex,band,income\n"
        for i in 0..<3000 {
            csv += "X\(100_000 + i),\(["north", "south", "east"][i % 3]),\(["f", "m"][i % 2]),"
            csv += "\(["20-29", "30-39", "40-49", "50-59", "60+"][i % 5]),\(20_000 + i * 13).5\n"
        }
        let index = try DatasetIndex(policyJSON: Array(policy.utf8), tables: ["p.csv": Array(csv.utf8)])
        let aggregate = "region,sex,band,count\nnorth,f,20-29,100\nsouth,m,30-39,100\n"
        #expect(OutputGate.checkFile(path: "a.csv", bytes: Array(aggregate.utf8), index: index).decision == .release)
        // A rare cell (the income) with two common ones is still not a record; the row itself is.
        let row = "north;f;20-29;\(20_000 + 30 * 13).5"
        #expect(OutputGate.checkFile(path: "r.txt", bytes: Array(row.utf8), index: index).decision == .release)
        let full = "X100030,north,f,20-29,\(20_000 + 30 * 13).5"
        #expect(OutputGate.checkFile(path: "r.txt", bytes: Array(full.utf8), index: index).decision == .block)
    }

    @Test func aMalformedPolicyOrAMalformedParquetTableIsBadInput() {
        #expect(throws: ComputingPlaneError(.badInput, "")) {
            try DatasetIndex(policyJSON: Array("{\"version\": 1, \"tables\": {}, \"extra\": 1}".utf8), tables: [:])
        }
        let parquet = """
            {"version": 1, "tables": {"t.parquet": {"entity": "id", "columns": {"id": "key"}}}}
            """
        #expect(throws: ComputingPlaneError(.badInput, "")) {
            try DatasetIndex(policyJSON: Array(parquet.utf8), tables: ["t.parquet": [0x50, 0x41, 0x52, 0x31]])
        }
    }
}

/// Large text files run their numeric-channel pass and their table or text pass on two threads
/// (`GateLimits.concurrentPassBytes`); the report must be the one a single thread writes, finding for finding,
/// including the per-file cap, its overflow note and the rule that a later certain finding still decides.
@Suite struct GateConcurrentPassTests {
    typealias T = OutputGateTests

    static func both(_ name: String, _ bytes: [UInt8]) -> (serial: GateFileVerdict, concurrent: GateFileVerdict) {
        var serial = GateLimits()
        serial.concurrentPassBytes = .max
        var concurrent = GateLimits()
        concurrent.concurrentPassBytes = 0
        return (
            OutputGate.checkFile(path: name, bytes: bytes, index: T.index, limits: serial),
            OutputGate.checkFile(path: name, bytes: bytes, index: T.index, limits: concurrent)
        )
    }

    @Test func everyCorpusOutputGetsTheSerialReport() {
        var outputs = T.benign
        for kind in T.leaks.keys.sorted() { outputs += T.leaks[kind]! }
        var compared = 0
        for (name, text) in outputs {
            let (serial, concurrent) = Self.both(name, Array(text.utf8))
            #expect(serial == concurrent, "\(name)")
            compared += 1
        }
        #expect(compared >= 200)
    }

    /// A large predictions file with leaks in both passes' reach: identifiers and emails in rows (the table
    /// pass), low-order digits that spell a postcode (the numeric pass), more findings than the cap, and a
    /// certain finding past the cap after only likely ones.
    @Test func aLargeFileWithLeaksForBothPassesGetsTheSerialReport() {
        var r = T.Rand(state: 99)
        var csv = "row,score,prediction,note\n"
        for line in 0..<30_000 {
            let note: String
            switch line {
            case 10_000..<10_300: note = "call +44 20 7946 \(T.pad(line % 10_000, 4))"  // likely (phone), past the cap
            case 20_000: note = T.people[7].name  // certain, after the cap is full
            case 25_000..<25_005: note = T.people[line - 24_990].email
            default: note = "ok"
            }
            // Scores of few digits: long random digit streams spell 5-digit dataset values by chance.
            csv += "\(line),0.\(line % 2 == 0 ? 25 : 75),\(r.next(2)),\(note)\n"
        }
        // Low-order digits: the last 3 digits of a column spell a dataset name as character codes.
        let secret = Array(T.people[3].name.utf8)
        var codes = ""
        for (k, byte) in secret.enumerated() { codes += "\(k),0.\(r.next(1000))\(T.pad(Int(byte), 3)),1,ok\n" }
        // Without the codes the only certain findings come after the cap is full (one must replace the last).
        for (text, certain) in [(csv, "identifier"), (csv + codes, "low-order-digits")] {
            let bytes = Array(text.utf8)
            #expect(bytes.count > GateLimits().concurrentPassBytes)
            let (serial, concurrent) = Self.both("predictions.csv", bytes)
            #expect(serial == concurrent)
            #expect(serial.decision == .block)
            #expect(serial.findings.count == GateLimits().maxFindingsPerFile + 1, "the cap and its overflow note")
            #expect(
                serial.findings.contains { $0.check == certain && $0.severity == .certain },
                "\(certain): \(serial.findings.filter { $0.severity == .certain })"
            )
        }
    }
}
