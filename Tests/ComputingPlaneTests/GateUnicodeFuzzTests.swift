import ComputingPlane
import Foundation
import Testing

/// Outputs are written by the attacker and the gate runs inside the plane's process: no text, whatever its
/// scripts, combining marks or emoji beside digits, addresses and encoded runs, may crash a check.
@Suite struct GateUnicodeFuzzTests {
    static let pieces = [
        "é", "ß", "中文", "🙂", "👩‍👩‍👧", "e\u{301}", "\u{202E}", "\u{FEFF}", "İ", "ﬃ", "١٢٣", "𝟗𝟖𝟕", "\u{0}", "\t", " ",
        "@", ".", ",", "-", "+", "/", "=", "\"", "\n", "\r\n", "0", "42", "4111 1111 1111 1111",
        "DE89370400440532013000",
        "ADM-00042", "a@b.co", "+44 20 7946 0958", "1970-01-01", "SGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=",
        "deadbeefcafebabe0123",
        "person_id", "Ünïcödé", "ａｂｃ", "½", "Ⅻ",
    ]

    @Test func mixedScriptsDigitsAndEncodedRunsNeverCrashAnyTextCheck() {
        var r = OutputGateTests.Rand(state: 2026)
        var checked = 0
        for round in 0..<600 {
            var text = ""
            for _ in 0..<(1 + r.next(60)) { text += r.pick(Self.pieces) }
            // Some rounds mix in the dataset's own cells next to multi-byte characters.
            if round % 3 == 0 {
                let row = String(decoding: OutputGateTests.tableCSV, as: UTF8.self).split(separator: "\n")[
                    1 + r.next(50)
                ]
                text += r.pick(Self.pieces) + row + r.pick(Self.pieces)
            }
            for name in ["out/f.txt", "out/f.csv", "out/f.json", "out/f.md", "out/f.tsv"] {
                let verdict = OutputGate.checkFile(path: name, bytes: Array(text.utf8), index: OutputGateTests.index)
                #expect(verdict.path == name)
                checked += 1
            }
        }
        #expect(checked == 3000)
    }
}
