import Foundation
import Testing

@testable import Parquet

/// Cell text of numbers against Python: doubles as repr writes them, float32s as numpy's str (pandas' to_csv
/// uses each), over random bit patterns of every magnitude; decimals as str(Decimal).
@Suite struct CellTextTests {
    @Test func floatsAndDoublesOfEveryMagnitudeMatchPythonAndNumpy() throws {
        let dir = try ParquetReference.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ParquetReference.run(["floats", dir.path, "5"])
        func lines(_ name: String) throws -> [Substring] {
            try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8).split(separator: "\n")
        }
        let doubles = Array(try Data(contentsOf: dir.appendingPathComponent("doubles.bin")))
        let doubleText = try lines("doubles.txt")
        #expect(doubleText.count == doubles.count / 8 && doubleText.count > 40000)
        var wrong: [String] = []
        for (i, expected) in doubleText.enumerated() {
            let v = doubles.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8 * i, as: Double.self) }
            if CellText.python(v) != expected { wrong.append("\(CellText.python(v)) vs \(expected)") }
        }
        let floats = Array(try Data(contentsOf: dir.appendingPathComponent("floats.bin")))
        let floatText = try lines("floats.txt")
        #expect(floatText.count == floats.count / 4 && floatText.count > 40000)
        for (i, expected) in floatText.enumerated() {
            let v = floats.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
            if CellText.python(v) != expected { wrong.append("float32 \(CellText.python(v)) vs \(expected)") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) differ: \(wrong.prefix(5))")
    }

    @Test func decimalsAreWrittenAsPythonsStrOfDecimal() {
        #expect(CellText.decimal(0, scale: 2) == "0.00")
        #expect(CellText.decimal(-1, scale: 2) == "-0.01")
        #expect(CellText.decimal(12345, scale: 0) == "12345")
        #expect(CellText.decimal(1, scale: 6) == "0.000001")
        #expect(CellText.decimal(1, scale: 7) == "1E-7")
        #expect(CellText.decimal(-89, scale: 9) == "-8.9E-8")
        #expect(CellText.decimal(Int128.max, scale: 38) == "1.70141183460469231731687303715884105727")
        #expect(CellText.decimal(Int128.min, scale: 0) == "-170141183460469231731687303715884105728")
    }
}
