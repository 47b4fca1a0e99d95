import ComputingPlane
import Foundation
import Testing

/// The gate's file formats against the synthetic people table of OutputGateTests: per covert kind 24 planted
/// leaks (compressed payloads, rows nested in zips, NumPy rows, pickled models that memorize rows, pickled
/// DataFrames, low-order digits, excess precision) and benign files of the same formats, written by Python
/// with the real libraries. Recall per kind and the benign review and block rates are printed and asserted.
@Suite struct GateFilesCorpusTests {
    typealias P = OutputGateTests.Person

    static func birthNumber(_ p: P) -> Int { Int(p.birth.replacingOccurrences(of: "-", with: ""))! }
    static func features(_ p: P) -> [Double] { [Double(birthNumber(p)), Double(p.postcode)!, Double(p.income)!] }
    static func row(_ p: P) -> [Any] { [p.id, p.name, p.birth, Int(p.postcode)!, Double(p.income)!, p.region] }
    static func csvRows(_ people: [P]) -> String {
        "person_id,name,email,birth_date,postcode,income,region\n"
            + people.map { "\($0.id),\($0.name),\($0.email),\($0.birth),\($0.postcode),\($0.income),\($0.region)\n" }
            .joined()
    }

    /// kind → [(file name, recipe or nil, text when written by Swift)], and which kinds must block.
    struct Item {
        var name: String
        var recipe: [String: Any]?
        var text: String?
        var wrap: ((String) -> String)? = nil
    }

    static let mustBlock: Set<String> = ["compressed", "zip-rows", "npy-rows", "dataframe", "low-order-digits"]

    static func corpus() -> (leaks: [String: [Item]], benign: [Item]) {
        var r = OutputGateTests.Rand(state: 2027)
        let people = OutputGateTests.people
        func someone() -> P {
            var p = people[r.next(people.count)]
            while p.name == "Zebulon Quartermaine" { p = people[r.next(people.count)] }
            return p
        }
        func some(_ n: Int) -> [P] { (0..<n).map { _ in someone() } }
        var leaks: [String: [Item]] = [:]
        for i in 0..<24 {
            let text = csvRows(some(1 + i % 3))
            let kinds = ["gzip", "bz2", "zlib", "gzip"]
            let names = ["rows\(i).csv.gz", "rows\(i).txt.bz2", "rows\(i).zz", "payload\(i).gz"]
            var item = Item(name: names[i % 4], recipe: ["name": names[i % 4], "kind": kinds[i % 4], "text": text])
            if i % 4 == 3 { item.wrap = { "{\"blob\": \"\($0)\"}\n" } }
            leaks["compressed", default: []].append(item)
        }
        for i in 0..<24 {
            let rows: [String: Any] = ["name": "out/rows.csv", "text": csvRows(some(1 + i % 2))]
            let aggregate: [String: Any] = ["name": "out/summary.csv", "text": "region,count\nnorth,410\nsouth,388\n"]
            var entries = [aggregate, rows]
            if i % 3 == 1 {
                entries = [
                    aggregate,
                    ["name": "inner.zip", "inner": ["name": "x", "kind": "zip", "entries": [rows]] as [String: Any]],
                ]
            }
            if i % 3 == 2 {
                entries = [
                    aggregate,
                    [
                        "name": "rows.csv.gz",
                        "inner": ["name": "x", "kind": "gzip", "text": rows["text"]!] as [String: Any],
                    ],
                ]
            }
            let name = "archive\(i).\(i % 4 == 0 ? "joblib.zip" : "zip")"
            leaks["zip-rows", default: []].append(
                Item(name: name, recipe: ["name": name, "kind": "zip", "entries": entries, "deflate": i % 2 == 0])
            )
        }
        for i in 0..<24 {
            let group = some(2 + i % 3)
            let name: String
            var recipe: [String: Any]
            switch i % 4 {
            case 0:
                name = "x\(i).npy"
                recipe = ["kind": "npy", "array": group.map(features), "dtype": i % 8 == 0 ? "float64" : "float32"]
            case 1:
                name = "records\(i).npy"
                recipe = [
                    "kind": "npy_records", "fields": [["birth", "M8[D]"], ["postcode", "<i4"], ["income", "<f8"]],
                    "rows": group.map { [$0.birth, Int($0.postcode)!, Double($0.income)!] },
                ]
            case 2:
                name = "names\(i).npy"
                recipe = ["kind": "npy", "array": group.map(\.name)]
            default:
                name = "arrays\(i).npz"
                recipe = ["kind": "npz", "arrays": ["X": group.map(features)], "compressed": i % 8 == 3]
            }
            recipe["name"] = name
            leaks["npy-rows", default: []].append(Item(name: name, recipe: recipe))
        }
        for i in 0..<24 {
            let group = some(12)
            let kind = ["knn", "svc", "knn_reg", "tree", "forest", "svr"][i % 6]
            let format = i % 2 == 0 ? "pickle" : "joblib"
            let name = "model\(i).\(format == "pickle" ? "pkl" : "joblib")"
            leaks["model", default: []].append(
                Item(
                    name: name,
                    recipe: [
                        "name": name, "kind": kind, "format": format, "protocol": 2 + i % 4,
                        "X": group.map(features), "y": group.indices.map { $0 % 2 },
                    ]
                )
            )
        }
        for i in 0..<24 {
            let group = some(3 + i % 4)
            let format = i % 3 == 2 ? "joblib" : "pickle"
            let name = "frame\(i).\(format == "pickle" ? "pkl" : "joblib")"
            var recipe: [String: Any] = [
                "name": name, "kind": "dataframe", "format": format, "protocol": 2 + i % 4,
                "columns": ["person_id", "name", "birth_date", "postcode", "income", "region"],
                "rows": group.map(row),
            ]
            if i % 2 == 1 {
                recipe["columns"] = ["birth_date", "postcode", "income"]
                recipe["rows"] = group.map { [$0.birth, Int($0.postcode)!, Double($0.income)!] }
                recipe["dates"] = ["birth_date"]
            }
            leaks["dataframe", default: []].append(Item(name: name, recipe: recipe))
        }
        for i in 0..<24 {
            let p = someone()
            let payload: String
            if i % 2 == 0 {
                payload = p.name.lowercased().unicodeScalars.map { OutputGateTests.pad(Int($0.value), 3) }.joined()
            } else {
                let income = p.income.replacingOccurrences(of: ".", with: "")
                payload = p.birth.replacingOccurrences(of: "-", with: "") + p.postcode + income
            }
            let chunk = 6
            var digits = Array(payload)
            while digits.count % chunk != 0 { digits.append("0") }
            var csv = "decade,n,mean_income\n"
            for k in 0..<(digits.count / chunk) {
                let low = String(digits[(k * chunk)..<(k * chunk + chunk)])
                csv +=
                    "\(1940 + 10 * k),\(120 + r.next(300)),\(40_000 + r.next(9_000)).\(OutputGateTests.pad(r.next(100), 2))\(low)\n"
            }
            leaks["low-order-digits", default: []].append(Item(name: "means\(i).csv", text: csv))
        }
        for i in 0..<24 {
            var csv = "region,n,mean_income\n"
            for region in OutputGateTests.regions {
                let n = 301 + 2 * r.next(150)
                let mean = Double(40_000 * n + r.next(9_000 * n)) / Double(n) + 0.01 * Double(r.next(100))
                let printed: String
                switch i % 3 {
                case 0: printed = String(format: "%.15g", mean)
                case 1: printed = String(format: "%.14f", mean)
                default: printed = String(format: "%.13f", (mean * 100).rounded() / 100)
                }
                csv += "\(region),\(n),\(printed)\n"
            }
            leaks["excess-precision", default: []].append(Item(name: "precise\(i).csv", text: csv))
        }
        // Benign files of the same formats.
        var benign: [Item] = []
        let columns = ["birth_year", "postcode", "income", "region"]
        let sample = people.prefix(1001).filter { $0.name != "Zebulon Quartermaine" }.map {
            [Int($0.birth.prefix(4))!, Int($0.postcode)!, Double($0.income)!, $0.region] as [Any]
        }
        for i in 0..<8 {
            let means = OutputGateTests.regions.enumerated().map { k, _ in
                [Double(k), Double(300 + r.next(200)), 40_000 + Double(r.next(900_000)) / 100]
            }
            benign.append(Item(name: "agg\(i).npy", recipe: ["name": "agg\(i).npy", "kind": "npy", "array": means]))
        }
        for i in 0..<8 {
            let group = Array(people[(i * 100)..<(i * 100 + 100)])
            let format = i % 2 == 0 ? "pickle" : "joblib"
            let name = "linear\(i).\(format == "pickle" ? "pkl" : "joblib")"
            benign.append(
                Item(
                    name: name,
                    recipe: [
                        "name": name, "kind": i % 4 < 2 ? "linreg" : (i % 4 == 2 ? "logreg" : "tree_k"),
                        "format": format, "protocol": 2 + i % 4, "X": group.map(features),
                        "y": group.map { Int($0.postcode)! % 2 }, "leaf": 25,
                    ]
                )
            )
        }
        for i in 0..<8 {
            var entries: [[String: Any]] = []
            for k in 0..<3 {
                var csv = "region,count,mean_income\n"
                for region in OutputGateTests.regions {
                    csv +=
                        "\(region),\(20 + r.next(400)),\(40_000 + r.next(9_000)).\(OutputGateTests.pad(r.next(100), 2))\n"
                }
                entries.append(["name": "tables/t\(k).csv", "text": csv])
            }
            benign.append(
                Item(name: "tables\(i).zip", recipe: ["name": "tables\(i).zip", "kind": "zip", "entries": entries])
            )
        }
        for i in 0..<8 {
            let rows = Array(sample[(i * 50)..<(i * 50 + 300)])
            benign.append(
                Item(
                    name: "describe\(i).csv",
                    recipe: ["name": "describe\(i).csv", "kind": "describe", "columns": columns, "rows": rows]
                )
            )
        }
        for i in 0..<8 {
            let rows = Array(sample[(i * 30)..<(i * 30 + 360)])
            benign.append(
                Item(
                    name: "groupby\(i).csv",
                    recipe: [
                        "name": "groupby\(i).csv", "kind": "groupby", "columns": columns, "rows": rows, "by": "region",
                    ]
                )
            )
        }
        for i in 0..<4 {
            var rows: [[Any]] = []
            for region in OutputGateTests.regions {
                rows.append([region, 100 + r.next(300), 40_000 + Double(r.next(900_000)) / 100, 0.1 + 0.2])
            }
            let name = "summary\(i).pkl"
            benign.append(
                Item(
                    name: name,
                    recipe: [
                        "name": name, "kind": "dataframe", "protocol": 2 + i,
                        "columns": ["region", "n", "mean", "share"],
                        "rows": rows,
                    ]
                )
            )
        }
        for i in 0..<4 {
            var csv = "region,count,mean_income\n"
            for region in OutputGateTests.regions {
                csv += "\(region),\(20 + r.next(400)),\(Double(40_000 + r.next(9_000)) + 0.1 + 0.2)\n"
            }
            benign.append(
                Item(name: "agg\(i).csv.gz", recipe: ["name": "agg\(i).csv.gz", "kind": "gzip", "text": csv])
            )
        }
        return (leaks, benign)
    }

    static func recipes(_ items: [Item]) -> [[String: Any]] { items.compactMap(\.recipe) }

    static func bytes(_ item: Item, _ files: [String: [UInt8]]) -> [UInt8] {
        if let text = item.text { return Array(text.utf8) }
        let raw = files[item.name]!
        if let wrap = item.wrap { return Array(wrap(Data(raw).base64EncodedString()).utf8) }
        return raw
    }

    @Test func plantedLeaksInFilesAreCaughtAndBenignFilesPassAtTheIssuesBars() throws {
        let (leaks, benign) = Self.corpus()
        let files = try GateFilesFixtures.make(Self.recipes(leaks.values.flatMap { $0 } + benign))
        var failures: [String] = []
        for kind in leaks.keys.sorted() {
            let items = leaks[kind]!
            var caught = 0
            for item in items {
                let name = item.wrap == nil ? item.name : item.name + ".json"
                let verdict = OutputGate.checkFile(
                    path: name,
                    bytes: Self.bytes(item, files),
                    index: OutputGateTests.index
                )
                let ok = Self.mustBlock.contains(kind) ? verdict.decision == .block : verdict.decision != .release
                if ok {
                    caught += 1
                } else {
                    failures.append("\(kind) \(item.name): \(verdict.decision) \(verdict.findings.prefix(3))")
                }
            }
            let recall = Double(caught) / Double(items.count)
            print("gate files recall \(kind): \(caught)/\(items.count) = \(recall)")
            #expect(items.count >= 24)
            #expect(recall >= 0.80, "\(kind): recall \(recall)")
        }
        var reviewed = 0
        var blocked = 0
        for item in benign {
            let verdict = OutputGate.checkFile(
                path: item.name,
                bytes: Self.bytes(item, files),
                index: OutputGateTests.index
            )
            if verdict.decision == .review { reviewed += 1 }
            if verdict.decision == .block { blocked += 1 }
            if verdict.decision != .release { failures.append("benign \(item.name): \(verdict.findings.prefix(3))") }
        }
        let reviewRate = Double(reviewed) / Double(benign.count)
        let blockRate = Double(blocked) / Double(benign.count)
        print("gate files benign: \(benign.count) files, review \(reviewRate), block \(blockRate)")
        for failure in failures.prefix(80) { print("gate files miss: \(failure)") }
        #expect(benign.count >= 40)
        #expect(reviewRate <= 0.10)
        #expect(blockRate <= 0.01)
    }
}
