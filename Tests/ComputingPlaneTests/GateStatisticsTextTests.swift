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
