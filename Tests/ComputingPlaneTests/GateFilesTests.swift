import Foundation
import Testing

@testable import ComputingPlane

/// The format readers one by one: containers decoded and checked, bombs and tricks sent to review, and every
/// parser fed truncated and mutated files without crashing.
@Suite struct GateFilesTests {
    static func check(_ name: String, _ bytes: [UInt8], limits: GateLimits = GateLimits()) -> GateFileVerdict {
        OutputGate.checkFile(path: name, bytes: bytes, index: OutputGateTests.index, limits: limits)
    }

    static let person = OutputGateTests.people[17]
    static var leakCSV: String {
        let p = person
        return "person_id,name,birth_date,postcode,income\n\(p.id),\(p.name),\(p.birth),\(p.postcode),\(p.income)\n"
    }

    /// Python writes one file of each format, with a leaking row and a benign twin.
    static func fixtures() throws -> [String: [UInt8]] {
        let p = person
        let x = [[Double(p.birth.replacingOccurrences(of: "-", with: ""))!, Double(p.postcode)!, Double(p.income)!]]
        let many = OutputGateTests.people.prefix(12).map {
            [Double($0.birth.replacingOccurrences(of: "-", with: ""))!, Double($0.postcode)!, Double($0.income)!]
        }
        var recipes: [[String: Any]] = [
            ["name": "leak.csv.gz", "kind": "gzip", "text": leakCSV],
            ["name": "leak.bz2", "kind": "bz2", "text": leakCSV],
            ["name": "leak.zip", "kind": "zip", "entries": [["name": "a/leak.csv", "text": leakCSV]]],
            ["name": "leak.npy", "kind": "npy", "array": x],
            ["name": "knn.pkl", "kind": "knn", "X": many, "y": many.indices.map { $0 % 2 }],
            ["name": "tree.pkl", "kind": "tree", "X": many, "y": many.indices.map { $0 % 2 }],
        ]
        for proto in 0...5 {
            recipes.append([
                "name": "frame\(proto).pkl", "kind": "dataframe", "protocol": proto,
                "columns": ["person_id", "name", "postcode"], "rows": [[p.id, p.name, Int(p.postcode)!]],
            ])
        }
        return try GateFilesFixtures.make(recipes)
    }

    @Test func leaksInsideEveryFormatBlockWithThePlaceTheyWereFoundAt() throws {
        let files = try Self.fixtures()
        for name in ["leak.csv.gz", "leak.bz2", "leak.zip", "leak.npy", "knn.pkl"] + (0...5).map({ "frame\($0).pkl" }) {
            let verdict = Self.check(name, files[name]!)
            #expect(verdict.decision == .block, "\(name): \(verdict.findings)")
        }
        let zip = Self.check("leak.zip", files["leak.zip"]!)
        #expect(zip.findings.contains { $0.`where`.hasPrefix("entry a/leak.csv > row 1") })
        let knn = Self.check("knn.pkl", files["knn.pkl"]!)
        #expect(
            knn.findings.contains {
                $0.check == "model" && $0.detail.contains("KNeighborsClassifier") && $0.`where`.hasSuffix("_fit_X")
            }
        )
        // A tree whose leaves hold single rows goes to review, naming the tree.
        let tree = Self.check("tree.pkl", files["tree.pkl"]!)
        #expect(tree.decision == .review)
        #expect(tree.findings.contains { $0.check == "model" && $0.detail.contains("leaves") })
    }

    @Test func everyParserSurvivesTruncatedAndMutatedFiles() throws {
        let files = try Self.fixtures()
        var r = OutputGateTests.Rand(state: 99)
        var decisions: [GateVerdict: Int] = [:]
        for name in files.keys.sorted() {
            let bytes = files[name]!
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 40)) {
                decisions[Self.check(name, Array(bytes.prefix(cut))).decision, default: 0] += 1
            }
            for _ in 0..<60 {
                var mutated = bytes
                for _ in 0..<(1 + r.next(4)) { mutated[r.next(mutated.count)] = UInt8(r.next(256)) }
                decisions[Self.check(name, mutated).decision, default: 0] += 1
            }
        }
        // Reaching here without a trap is the test; most damaged files still say something.
        #expect((decisions[.review] ?? 0) + (decisions[.block] ?? 0) > 0)
    }

    @Test func aZipBombOverlappingEntriesAndPathTricksGoToReviewNotACrash() {
        // 50 MB of zeros deflated: past 64x the file.
        let zeros = [UInt8](repeating: 0x30, count: 50 << 20)
        let bomb = Self.zipFile([("zeros.txt", zeros)])
        let verdict = Self.check("bomb.zip", bomb)
        #expect(verdict.decision == .review)
        #expect(verdict.findings.contains { $0.check == "decoding-budget" })
        let trick = Self.check("t.zip", Self.zipFile([("../../etc/x.txt", Array("fine\n".utf8))]))
        #expect(trick.decision == .review)
        #expect(trick.findings.contains { $0.detail.contains("climbs out") })
        // Two central entries pointing at one local entry.
        var overlap = Self.zipFile([("a.txt", Array("hello there\n".utf8))])
        overlap = Self.duplicateCentralEntry(overlap)
        #expect(Self.check("o.zip", overlap).decision == .review)
        // A plain zip of a benign file is released.
        #expect(Self.check("ok.zip", Self.zipFile([("a.txt", Array("all fine\n".utf8))])).decision == .release)
    }

    @Test func nestingPastFourLevelsAndTheTimeBudgetGoToReview() throws {
        var bytes = Array(Self.leakCSV.utf8)
        for level in 0..<3 { bytes = Self.zipFile([("l\(level).zip", bytes)]) }
        // three zips then the CSV: inside the bound, found.
        #expect(Self.check("n.zip", bytes).decision == .block)
        for level in 3..<6 { bytes = Self.zipFile([("l\(level).zip", bytes)]) }
        let deep = Self.check("n.zip", bytes)
        #expect(deep.decision == .review)
        #expect(deep.findings.contains { $0.check == "container" })
        var limits = GateLimits()
        limits.perFileSeconds = 0
        let files = try Self.fixtures()
        let late = Self.check("leak.zip", files["leak.zip"]!, limits: limits)
        #expect(late.findings.contains { $0.check == "time-budget" })
    }

    @Test func compressedPayloadsInTextAreInflatedAndChecked() throws {
        let files = try Self.fixtures()
        let payload = Data(files["leak.csv.gz"]!).base64EncodedString()
        #expect(Self.check("x.txt", Array("blob \(payload)\n".utf8)).decision == .block)
        let hex = files["leak.bz2"]!.map { String(format: "%02x", $0) }.joined()
        #expect(Self.check("x.log", Array("payload=\(hex)\n".utf8)).decision == .block)
    }

    @Test func htmlNotebooksAndSourceAreReadAsTextAndParquetGoesToReview() throws {
        let p = Self.person
        let html =
            "<html><body><table><tr><td>\(p.birth)</td><td>\(p.postcode)</td><td>\(p.income)</td></tr></table></body></html>"
        #expect(Self.check("r.html", Array(html.utf8)).decision == .block)
        let escaped = p.name.unicodeScalars.map { "&#\($0.value);" }.joined()
        #expect(Self.check("r.html", Array("<p>see <!-- \(escaped) --></p>".utf8)).decision == .block)
        #expect(
            Self.check("r.html", Array("<html><p>Mean income 48,213</p><script>var a = 1;</script></html>".utf8))
                .decision == .release
        )
        let notebook: [String: Any] = [
            "cells": [
                [
                    "cell_type": "code", "source": ["df.head()\n"],
                    "outputs": [
                        ["output_type": "execute_result", "data": ["text/html": ["<tr><td>\(p.name)</td></tr>"]]]
                    ],
                ]
            ],
            "nbformat": 4,
        ]
        let nb = Array(try JSONSerialization.data(withJSONObject: notebook))
        let verdict = Self.check("a.ipynb", nb)
        #expect(verdict.decision == .block)
        #expect(verdict.findings.contains { $0.`where`.hasPrefix("cell 1 output 1") })
        #expect(Self.check("a.py", Array("import pandas as pd\nprint(df.mean())\n".utf8)).decision == .release)
        #expect(Self.check("a.sql", Array("select * from people where name = '\(p.name)';\n".utf8)).decision == .block)
        let parquet = Self.check("t.parquet", [0x50, 0x41, 0x52, 0x31, 0, 0, 0x50, 0x41, 0x52, 0x31])
        #expect(parquet.decision == .review)
        #expect(parquet.findings.first?.detail.contains("Parquet: no reader") == true)
    }

    @Test func lowOrderDigitsAndExcessPrecisionAreFlaggedButPandasFloatsAreNot() {
        let p = Self.person
        let digits = Array(p.name.lowercased().unicodeScalars.map { OutputGateTests.pad(Int($0.value), 3) }.joined())
        var csv = "decade,n,mean\n"
        var k = 0
        while k < digits.count {
            let low = String(digits[k..<min(digits.count, k + 6)]).padding(toLength: 6, withPad: "0", startingAt: 0)
            csv += "\(1950 + k),\(100 + k),4\(k % 10)213.12\(low)\n"
            k += 6
        }
        let leak = Self.check("m.csv", Array(csv.utf8))
        #expect(leak.decision == .block, "\(leak.findings)")
        #expect(leak.findings.contains { $0.check == "low-order-digits" })
        let precise =
            "region,n,mean\nnorth,401,48213.2843157421\nsouth,399,47120.9876543210\neast,388,46001.1234567891\nwest,377,49999.4444444444\n"
        #expect(Self.check("p.csv", Array(precise.utf8)).decision == .review)
        let pandas =
            "region,n,mean,share\nnorth,401,48213.28431500001,0.30000000000000004\nsouth,399,47120.98765432102,0.1\neast,388,46001.123456789015,0.7000000000000001\nwest,377,49999.44444444444,0.6\n"
        #expect(Self.check("q.csv", Array(pandas.utf8)).decision == .release)
    }

    /// The digit-window scan (hashes extended digit by digit; triples looked up only while a row holds three
    /// values of the window) finds what the same scan over strings finds: on random digits, on planted canary
    /// values, on three record values of one row within 32 digits, and on values of one row spread too far apart.
    @Test func digitWindowsFindWhatTheScanOverStringsFinds() {
        var r = OutputGateTests.Rand(state: 4242)
        let people = OutputGateTests.people
        var found = 0
        for k in 0..<80 {
            var stream = (0..<400).map { _ in UInt8(48 + r.next(10)) }
            let p = people[r.next(people.count)]
            let birth = p.birth.replacingOccurrences(of: "-", with: "")
            let income = p.income.replacingOccurrences(of: ".", with: "")
            let planted: [(String, Int)]
            switch k % 5 {
            case 1: planted = [(p.postcode + birth + income, r.next(300))]
            case 2: planted = [(p.postcode, 20), (birth, 120), (income, 220)]
            case 3: planted = [("99017", r.next(300))]
            case 4: planted = [(p.postcode + birth, 50), (people[(k * 7) % people.count].income, 70)]
            default: planted = []
            }
            for (digits, at) in planted {
                stream.replaceSubrange(at..<(at + digits.utf8.count), with: Array(digits.utf8))
            }
            var fast = GateScan(index: OutputGateTests.index, limits: GateLimits(), fileBytes: stream.count)
            var strings = GateScan(index: OutputGateTests.index, limits: GateLimits(), fileBytes: stream.count)
            let fastFound = fast.digitWindows(stream, place: "stream \(k)")
            let stringsFound = strings.digitWindowsOfText(stream, place: "stream \(k)")
            #expect(fastFound == stringsFound, "stream \(k)")
            #expect(fast.findings == strings.findings, "stream \(k)")
            if fastFound { found += 1 }
            if k % 5 == 1 || k % 5 == 3 { #expect(fastFound, "stream \(k): a planted value") }
        }
        #expect(found >= 32 && found < 80)
    }

    // MARK: zip writing (stored entries), for the tests above

    static func zipFile(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { u16(v & 0xFFFF) + u16(v >> 16 & 0xFFFF) }
        for (name, data) in entries {
            let offset = out.count
            let compressed = Self.rawDeflate(data)
            let method = compressed.count < data.count ? 8 : 0
            let body = method == 8 ? compressed : data
            let nameBytes = Array(name.utf8)
            out += [0x50, 0x4B, 0x03, 0x04] + u16(20) + u16(0) + u16(method) + u16(0) + u16(0) + u32(0)
            out += u32(body.count) + u32(data.count) + u16(nameBytes.count) + u16(0) + nameBytes + body
            central += [0x50, 0x4B, 0x01, 0x02] + u16(20) + u16(20) + u16(0) + u16(method) + u16(0) + u16(0) + u32(0)
            central += u32(body.count) + u32(data.count) + u16(nameBytes.count) + u16(0) + u16(0) + u16(0) + u16(0)
            central += u32(0) + u32(offset) + nameBytes
        }
        let start = out.count
        out += central
        out += [0x50, 0x4B, 0x05, 0x06] + u16(0) + u16(0) + u16(entries.count) + u16(entries.count)
        out += u32(central.count) + u32(start) + u16(0)
        return out
    }

    /// zlib's deflate without its 2-byte header and 4-byte checksum.
    static func rawDeflate(_ data: [UInt8]) -> [UInt8] {
        let zlib = BoundedInflate.deflate(data)
        return Array(zlib.dropFirst(2).dropLast(4))
    }

    static func duplicateCentralEntry(_ zip: [UInt8]) -> [UInt8] {
        let eocd = zip.count - 22
        let start = Int(zip[eocd + 16]) | Int(zip[eocd + 17]) << 8
        let central = Array(zip[start..<eocd])
        var out = Array(zip[..<eocd]) + central
        var record = Array(zip[eocd...])
        record[8] = 2
        record[10] = 2
        let size = central.count * 2
        record[12] = UInt8(size & 0xFF)
        record[13] = UInt8(size >> 8)
        out += record
        return out
    }
}
