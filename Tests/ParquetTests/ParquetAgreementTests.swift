import Foundation
import Parquet
import Sampling
import TestSupport
import Testing

/// The reader against pyarrow and pandas, cell by cell, on files pyarrow writes: every codec it reads (none,
/// snappy, gzip, zstd) × dictionary on and off × data page v1 and v2, each physical and logical type with nulls,
/// several row groups and pages; pandas' own writer (index column), INT96; a 200,000-row table.
@Suite(.serialized) struct ParquetAgreementTests {
    @Test func everyCodecEncodingAndTypeMatchesPandasCellByCell() throws {
        let dir = try ParquetReference.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let answer = try ParquetReference.run(["matrix", dir.path])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
        let files = try #require(json["files"] as? [String])
        #expect(files.count == 18)
        for name in files {
            let differences = try ParquetReference.differences(
                parquet: dir.appendingPathComponent(name + ".parquet"),
                csv: dir.appendingPathComponent(name + ".csv")
            )
            #expect(differences.isEmpty, "\(name) (pyarrow \(json["pyarrow"] ?? "?")): \(differences)")
        }
        // A negative control: one changed cell in pandas' CSV is found.
        let csv = dir.appendingPathComponent("types-snappy-dict-v1.csv")
        var text = try String(contentsOf: csv, encoding: .utf8)
        let first = try #require(text.range(of: "north"))
        text.replaceSubrange(first, with: "norte")
        try Data(text.utf8).write(to: csv)
        let control = try ParquetReference.differences(
            parquet: dir.appendingPathComponent("types-snappy-dict-v1.parquet"),
            csv: csv
        )
        #expect(control.count == 1 && control.first?.contains("s_low: 1 cells differ") == true, "\(control)")
        // The matrix really covers several row groups, data page v2 and each codec.
        let table = try ParquetReader.read(
            Array(try Data(contentsOf: dir.appendingPathComponent("types-gzip-plain-v2.parquet"))),
            name: "t"
        )
        #expect(table.rows.count == 1000)
        #expect(table.columns.contains("dec_wide") && table.columns.contains("ts_utc"))
    }

    @Test func nestedColumnsAndLZ4AreRefusedNamingTheColumnAndCodec() throws {
        let dir = try ParquetReference.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ParquetReference.run(["matrix", dir.path])
        #expect {
            _ = try ParquetReader.read(
                Array(try Data(contentsOf: dir.appendingPathComponent("nested.parquet"))),
                name: "n"
            )
        } throws: { error in
            let error = error as? ParquetError
            return error?.code == .unsupported && error?.reason.contains("column tags") == true
        }
        #expect {
            _ = try ParquetReader.read(
                Array(try Data(contentsOf: dir.appendingPathComponent("lz4.parquet"))),
                name: "z"
            )
        } throws: { error in
            let error = error as? ParquetError
            return error?.code == .unsupported && error?.reason.contains("LZ4") == true
        }
        // Through the table reader: exit-2 codes of the sampler.
        #expect(throws: SamplingError(.unsupportedFormat, "")) {
            _ = try TableReader.parse(
                Array(try Data(contentsOf: dir.appendingPathComponent("nested.parquet"))),
                name: "n.parquet"
            )
        }
    }

    @Test func aTwoHundredThousandRowTableMatchesPandas() throws {
        let dir = try ParquetReference.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ParquetReference.run(["big", dir.path, "200000", "snappy"])
        let differences = try ParquetReference.differences(
            parquet: dir.appendingPathComponent("big.parquet"),
            csv: dir.appendingPathComponent("big.csv")
        )
        #expect(differences.isEmpty, "\(differences)")
    }
}
