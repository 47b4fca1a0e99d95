import Foundation
import Testing

@testable import ComputingPlane

/// The image covert channels against the synthetic people table of OutputGateTests: 24 planted leaks per kind
/// (PNG metadata, JPEG EXIF/COM, LSB payloads, scatter plots with one mark per record, tables rendered as
/// pixels, SVG text and coordinates) and 48 benign images (matplotlib bar, line and histogram charts as PNG and
/// SVG, photos without metadata). The images are drawn by contrib/scripts/gate-image-fixtures.py with the job
/// runtime's matplotlib and Pillow (CI builds /opt/delong/runtime before the tests; $DELONG_FIXTURE_PYTHON
/// overrides the interpreter). OCR runs (tesseract-ocr is installed by .ci/run). Asserted: recall ≥ 0.80 per
/// kind, benign review ≤ 10 %, benign block ≤ 1 %.
@Suite struct GateImagesCorpusTests {
    typealias Person = OutputGateTests.Person
    static let people = OutputGateTests.people
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func someone(_ r: inout OutputGateTests.Rand) -> Person {
        var p = people[r.next(people.count)]
        while p.name == "Zebulon Quartermaine" { p = people[r.next(people.count)] }
        return p
    }

    static func row(_ p: Person) -> String {
        "\(p.id),\(p.name),\(p.email),\(p.birth),\(p.postcode),\(p.income),\(p.region)"
    }

    /// Year plus month as a fraction: a birth date as a plot coordinate.
    static func year(_ p: Person) -> Double {
        let parts = p.birth.split(separator: "-").compactMap { Double($0) }
        return parts[0] + (parts[1] - 1) / 12
    }

    /// kind → items for the fixture script (or literal bytes for SVGs written here).
    static func corpus() -> (leaks: [String: [[String: Any]]], benign: [[String: Any]]) {
        var r = OutputGateTests.Rand(state: 404)
        var leaks: [String: [[String: Any]]] = [:]
        for i in 0..<24 {
            let p = someone(&r)
            let q = someone(&r)
            let text: String
            switch i % 4 {
            case 0: text = "person_id,name,email,birth_date,postcode,income,region\n\(row(p))\n\(row(q))\n"
            case 1: text = "analyst note: outlier is \(p.name)"
            case 2: text = "ids: \(p.id) \(q.id)"
            default: text = "{\"b\": \"\(p.birth)\", \"pc\": \"\(p.postcode)\", \"inc\": \(p.income)}"
            }
            leaks["png-metadata", default: []].append([
                "file": "meta\(i).png", "kind": "png-text", "chunk": ["tEXt", "zTXt", "iTXt"][i % 3],
                "key": ["Comment", "Description", "Author", "notes"][i % 4], "text": text, "seed": i,
            ])
        }
        for i in 0..<24 {
            let p = someone(&r)
            var item: [String: Any] = ["file": "exif\(i).jpg", "kind": "jpeg-meta", "seed": 100 + i]
            switch i % 4 {
            case 0: item["exif"] = "\(p.name) \(p.id)"
            case 1: item["exif"] = row(p)
            case 2: item["comment"] = row(p)
            default: item["comment"] = "contact \(p.email)"
            }
            leaks["jpeg-metadata", default: []].append(item)
        }
        for i in 0..<24 {
            let count = [1, 5, 10, 20, 40, 3][i % 6]
            let rows = (0..<count).map { _ in row(someone(&r)) }.joined(separator: "\n") + "\n"
            var item: [String: Any] = [
                "file": "lsb\(i).png", "kind": "lsb", "payload": rows, "seed": 200 + i,
                "chart": ["bar", "line"][i % 2],
            ]
            switch i % 6 {
            case 1: item["channel"] = 0
            case 2: item["channel"] = 2
            case 3: item["bits"] = 2
            case 4: item["zlib"] = true
            case 5: item["mode"] = "RGBA"
            default: break
            }
            leaks["lsb", default: []].append(item)
        }
        for i in 0..<24 {
            let n = [60, 120, 250, 500, 1000, 2000][i % 6]
            let start = r.next(people.count - n + 1)
            let subset = Array(people[start..<(start + n)])
            leaks["scatter", default: []].append([
                "file": "scatter\(i).\(i % 2 == 0 ? "png" : "svg")", "kind": "scatter",
                "format": i % 2 == 0 ? "png" : "svg", "x": subset.map(year),
                "y": subset.map { Double($0.income)! }, "s": [12, 6, 20][i % 3], "xlabel": "birth year",
                "ylabel": "income", "title": "income by birth year",
            ])
        }
        for i in 0..<24 {
            let separator = ["  ", " | ", "   "][i % 3]
            var lines = [["id", "name", "birth", "postcode", "income"].joined(separator: separator)]
            for _ in 0..<(2 + i % 5) {
                let p = someone(&r)
                lines.append([p.id, p.name, p.birth, p.postcode, p.income].joined(separator: separator))
            }
            leaks["table-pixels", default: []].append([
                "file": "table\(i).\(i % 2 == 0 ? "png" : "jpg")", "kind": "table", "lines": lines,
                "font": [16, 20, 24][i % 3], "format": i % 2 == 0 ? "png" : "jpeg",
            ])
        }
        for i in 0..<24 {
            leaks["svg-content", default: []].append(["file": "svg\(i).svg", "svg": svgLeak(i, &r)])
        }
        var benign: [[String: Any]] = []
        for i in 0..<12 {
            benign.append([
                "file": "bar\(i).\(i < 8 ? "png" : "svg")", "kind": "bar", "format": i < 8 ? "png" : "svg",
                "seed": 300 + i, "title": "people per region",
            ])
            benign.append([
                "file": "line\(i).\(i < 8 ? "png" : "svg")", "kind": "line", "format": i < 8 ? "png" : "svg",
                "seed": 400 + i, "points": [12, 24, 36][i % 3], "markers": i % 2 == 0, "title": "mean income",
            ])
            benign.append([
                "file": "hist\(i).\(i < 8 ? "png" : "svg")", "kind": "hist", "format": i < 8 ? "png" : "svg",
                "seed": 500 + i, "bins": [10, 20, 40][i % 3], "title": "income distribution",
            ])
            benign.append([
                "file": "photo\(i).\(i % 2 == 0 ? "png" : "jpg")", "kind": "photo", "seed": 600 + i,
                "format": i % 2 == 0 ? "png" : "jpeg", "noise": [3, 6, 10][i % 3],
            ])
        }
        return (leaks, benign)
    }

    /// SVGs written by hand that carry rows: text, tspans, entities, data attributes, comments, titles,
    /// metadata and circles whose coordinates are dataset values.
    static func svgLeak(_ i: Int, _ r: inout OutputGateTests.Rand) -> String {
        let head =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
            + "xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"400\" height=\"300\">\n"
        let p = someone(&r)
        var body = ""
        switch i % 8 {
        case 0:
            for (k, line) in [row(p), row(someone(&r))].enumerated() {
                body += "<text x=\"10\" y=\"\(20 + 14 * k)\" font-size=\"10\">\(line)</text>\n"
            }
        case 1:
            body += "<text x=\"5\" y=\"5\"><tspan>\(p.birth)</tspan><tspan dx=\"4\">\(p.postcode)</tspan>"
            body += "<tspan dx=\"4\">\(p.income)</tspan></text>\n"
        case 2:
            body += "<text>" + p.name.unicodeScalars.map { "&#x\(String($0.value, radix: 16));" }.joined() + "</text>\n"
        case 3:
            body +=
                "<g id=\"pt\" data-birth=\"\(p.birth)\" data-postcode=\"\(p.postcode)\" data-income=\"\(p.income)\">"
            body += "<rect x=\"1\" y=\"1\" width=\"4\" height=\"4\"/></g>\n"
        case 4:
            body += "<!-- source row: \(row(p)) -->\n<rect width=\"100\" height=\"50\"/>\n"
        case 5:
            body += "<title>\(p.name)</title><desc>selected case \(p.id)</desc>\n"
        case 6:
            body += "<metadata>{\"birth\": \"\(p.birth)\", \"postcode\": \(p.postcode), \"income\": \(p.income)}"
            body += "</metadata>\n"
        default:
            for _ in 0..<40 {
                let q = someone(&r)
                body += "<circle cx=\"\(q.income)\" cy=\"\(q.postcode)\" r=\"2\" fill=\"#1f77b4\"/>\n"
            }
        }
        return head + body + "</svg>\n"
    }

    /// Row-carrying kinds must block; the scatter kind must be flagged (review or block).
    static let mustBlock: Set<String> = ["png-metadata", "jpeg-metadata", "lsb", "table-pixels"]

    static func render(_ items: [[String: Any]], into dir: String) throws {
        let scripted = items.filter { $0["svg"] == nil }
        for item in items {
            if let svg = item["svg"] as? String {
                try Data(svg.utf8).write(to: URL(fileURLWithPath: dir + "/" + (item["file"] as! String)))
            }
        }
        let spec = dir + "/spec.json"
        try JSONSerialization.data(withJSONObject: ["items": scripted]).write(to: URL(fileURLWithPath: spec))
        let python = ProcessInfo.processInfo.environment["DELONG_FIXTURE_PYTHON"] ?? "/opt/delong/runtime/bin/python3"
        try #require(
            FileManager.default.isExecutableFile(atPath: python),
            "the corpus needs matplotlib and Pillow: build the job runtime (delong runtime build) or set DELONG_FIXTURE_PYTHON"
        )
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root + "/contrib/scripts/gate-image-fixtures.py", spec, dir]
        process.environment = ["MPLCONFIGDIR": dir + "/.mpl", "PATH": "/usr/bin:/bin", "HOME": dir]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "gate-image-fixtures.py failed")
        try FileManager.default.removeItem(atPath: spec)
    }

    @Test func plantedImageLeaksAreCaughtAndBenignImagesPassAtTheIssuesBars() throws {
        try #require(GateOCR.system.missingTool == nil, "tesseract-ocr and bubblewrap must be installed")
        let (leaks, benign) = Self.corpus()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gate-images-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.render(leaks.values.flatMap { $0 } + benign, into: dir)
        func check(_ item: [String: Any]) throws -> GateFileVerdict {
            let name = item["file"] as! String
            let bytes = try #require(FileManager.default.contents(atPath: dir + "/" + name), "\(name) not rendered")
            return OutputGate.checkFile(path: name, bytes: Array(bytes), index: OutputGateTests.index)
        }
        var failures: [String] = []
        for kind in leaks.keys.sorted() {
            let items = leaks[kind]!
            var caught = 0
            for item in items {
                let verdict = try check(item)
                let ok = Self.mustBlock.contains(kind) ? verdict.decision == .block : verdict.decision != .release
                if ok {
                    caught += 1
                } else {
                    failures.append("\(kind) \(item["file"]!): \(verdict.decision) \(verdict.findings.prefix(3))")
                }
            }
            let recall = Double(caught) / Double(items.count)
            print("image gate recall \(kind): \(caught)/\(items.count) = \(recall)")
            #expect(items.count >= 24)
            #expect(recall >= 0.80, "\(kind): recall \(recall)")
        }
        var reviewed = 0
        var blocked = 0
        for item in benign {
            let verdict = try check(item)
            if verdict.decision == .review { reviewed += 1 }
            if verdict.decision == .block { blocked += 1 }
            if verdict.decision != .release { failures.append("benign \(item["file"]!): \(verdict.findings)") }
        }
        let reviewRate = Double(reviewed) / Double(benign.count)
        let blockRate = Double(blocked) / Double(benign.count)
        print("image gate benign (\(benign.count)): review \(reviewRate), block \(blockRate)")
        for failure in failures { print("image gate miss: \(failure)") }
        #expect(benign.count >= 48)
        #expect(reviewRate <= 0.10)
        #expect(blockRate <= 0.01)
    }
}
