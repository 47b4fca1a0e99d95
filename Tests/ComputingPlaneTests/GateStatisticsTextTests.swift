import Foundation
import Testing

@testable import ComputingPlane

/// The byte-level fast paths of normalization (the gate's hot path, measured by `delong-bench gate`) give the
/// same keys as the character-level originals, so the index and the checks still meet.
@Suite struct GateStatisticsTextTests {
    static let alphabet = Array("0123456789 ,.-+'()/_\tAbZz@\"é%:;\n".unicodeScalars.map(Character.init))

    @Test func theASCIIFastPathsAgreeWithTheUnicodeOriginals() {
        var state: UInt64 = 42
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        var samples = [
            "52,310.50", "-0", "-0.00", "+1 (555) 010-2030", "1980-01-02", "O'Brien", "  12  ", "1,2345", "12.",
            ".5", "007", "-", "", "1,234,567.8900", "a.b-", "x_", "Müller", "ab\r\ncd", "\t-3.10\t",
        ]
        for _ in 0..<20_000 {
            samples.append(String((0..<(1 + next(12))).map { _ in Self.alphabet[next(Self.alphabet.count)] }))
        }
        for sample in samples {
            #expect(GateText.normalize(sample) == GateText.unicodeNormalize(sample), "\(sample.debugDescription)")
            #expect(
                GateText.canonicalNumber(sample) == GateText.unicodeCanonicalNumber(sample),
                "\(sample.debugDescription)"
            )
        }
    }
}

/// Month labels: the byte path for ASCII text gives what Foundation's trimming gives.
@Suite struct StatTextMonthTests {
    @Test func asciiMonthsTrimmedOnBytesMatchFoundationsTrimming() {
        let cases = [
            "2020-05", "2020-05-17", "2020/05/17", " 2020-05 ", "\t2020-05-17T10:00\t", "2020-5", "2020-13",
            "0999-01", "2999-12-31", "2020-05/17", "", "   ", "20200517", "2020-05x", " 2020/12 ", "2020-05  ",
        ]
        for text in cases {
            let reference = Array(text.trimmingCharacters(in: .whitespaces).utf8.prefix(10))
            var expected: Int32?
            if reference.count >= 7, reference[0...3].allSatisfy({ $0 >= 48 && $0 <= 57 }),
                reference[4] == 45 || reference[4] == 47, (48...57).contains(reference[5]),
                (48...57).contains(reference[6])
            {
                let year = reference[0...3].reduce(0) { $0 * 10 + Int32($1 - 48) }
                let month = Int32(reference[5] - 48) * 10 + Int32(reference[6] - 48)
                if (1...12).contains(month), (1000...2999).contains(year),
                    reference.count == 7 || reference[7] == reference[4]
                {
                    expected = year * 12 + month - 1
                }
            }
            #expect(StatText.month(text) == expected, "\(text.debugDescription)")
        }
        // Unicode white space still goes through Foundation.
        let unicode = StatText.month("\u{2003}2020-05\u{00A0}")
        #expect(unicode.map(Int.init) == 2020 * 12 + 4)
    }
}
