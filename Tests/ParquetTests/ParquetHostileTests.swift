import Foundation
import Testing

@testable import Parquet

/// A Thrift compact writer and a one-column Parquet file built by hand, so each hostile case changes exactly
/// one thing the reader must check.
enum Handmade {
    indirect enum Value {
        case i32(Int64)
        case i64(Int64)
        case binary([UInt8])
        case list(UInt8, [Value])
        case structure([(Int16, Value)])

        var type: UInt8 {
            switch self {
            case .i32: 5
            case .i64: 6
            case .binary: 8
            case .list: 9
            case .structure: 12
            }
        }
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    static func zigzag(_ v: Int64) -> [UInt8] { varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }

    static func encode(_ value: Value) -> [UInt8] {
        switch value {
        case .i32(let v), .i64(let v): return zigzag(v)
        case .binary(let b): return varint(UInt64(b.count)) + b
        case .list(let type, let items):
            let head: [UInt8] =
                items.count < 15 ? [UInt8(items.count) << 4 | type] : [0xF0 | type] + varint(UInt64(items.count))
            return head + items.flatMap(encode)
        case .structure(let fields):
            var out: [UInt8] = []
            var last: Int16 = 0
            for (id, v) in fields {
                let delta = id - last
                if delta > 0 && delta <= 15 {
                    out.append(UInt8(delta) << 4 | v.type)
                } else {
                    out.append(v.type)
                    out += zigzag(Int64(id))
                }
                last = id
                out += encode(v)
            }
            return out + [0]
        }
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    /// One required INT64 column `x`, one row group, one PLAIN data page v1 (its payload and sizes overridable).
    static func file(
        values: [Int64] = [1, -2, 3],
        codec: Int64 = 0,
        payload: [UInt8]? = nil,
        uncompressed: Int64? = nil,
        compressed: Int64? = nil,
        pageCount: Int64? = nil,
        v2Levels: (definition: Int64, repetition: Int64)? = nil
    ) -> [UInt8] {
        let plain = values.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        let body = payload ?? plain
        let count = pageCount ?? Int64(values.count)
        var pageHeader: (Int16, Value) = (5, .structure([(1, .i32(count)), (2, .i32(0)), (3, .i32(3)), (4, .i32(3))]))
        if let levels = v2Levels {
            pageHeader = (
                8,
                .structure([
                    (1, .i32(count)), (2, .i32(0)), (3, .i32(count)), (4, .i32(0)), (5, .i32(levels.definition)),
                    (6, .i32(levels.repetition)),
                ])
            )
        }
        let header = encode(
            .structure([
                (1, .i32(v2Levels == nil ? 0 : 3)), (2, .i32(uncompressed ?? Int64(plain.count))),
                (3, .i32(compressed ?? Int64(body.count))), pageHeader,
            ])
        )
        let chunk = header + body
        let meta = encode(
            .structure([
                (1, .i32(1)),
                (
                    2,
                    .list(
                        12,
                        [
                            .structure([(4, .binary(Array("schema".utf8))), (5, .i32(1))]),
                            .structure([(1, .i32(2)), (3, .i32(0)), (4, .binary(Array("x".utf8)))]),
                        ]
                    )
                ),
                (3, .i64(Int64(values.count))),
                (
                    4,
                    .list(
                        12,
                        [
                            .structure([
                                (
                                    1,
                                    .list(
                                        12,
                                        [
                                            .structure([
                                                (2, .i64(4)),
                                                (
                                                    3,
                                                    .structure([
                                                        (1, .i32(2)), (2, .list(5, [.i32(0)])),
                                                        (3, .list(8, [.binary(Array("x".utf8))])), (4, .i32(codec)),
                                                        (5, .i64(Int64(values.count))),
                                                        (6, .i64(Int64(chunk.count))), (7, .i64(Int64(chunk.count))),
                                                        (9, .i64(4)),
                                                    ])
                                                ),
                                            ])
                                        ]
                                    )
                                ),
                                (2, .i64(Int64(chunk.count))), (3, .i64(Int64(values.count))),
                            ])
                        ]
                    )
                ),
            ])
        )
        return ParquetReader.magic + chunk + meta + le32(meta.count) + ParquetReader.magic
    }

    /// A zstd frame holding `count` zero bytes as one raw block (frame header with single-segment content size).
    static func zstdFrame(of count: Int) -> [UInt8] {
        // Magic; descriptor 0x20 (single segment, 1-byte content size); size; block header: last, raw, size.
        let block = UInt32(count) << 3 | 1
        return [0x28, 0xB5, 0x2F, 0xFD, 0x20, UInt8(count)]
            + [UInt8(block & 0xFF), UInt8(block >> 8 & 0xFF), UInt8(block >> 16 & 0xFF)]
            + [UInt8](repeating: 0, count: count)
    }

    /// A file whose footer is `footer` (raw bytes).
    static func withFooter(_ footer: [UInt8]) -> [UInt8] {
        ParquetReader.magic + footer + le32(footer.count) + ParquetReader.magic
    }
}

/// Untrusted files: every corruption is an error naming what was expected and what was found; nothing traps.
@Suite struct ParquetHostileTests {
    func expectError(
        _ bytes: [UInt8],
        _ code: ParquetError.Code,
        _ fragment: String,
        limits: ParquetLimits = ParquetLimits(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let table = try ParquetReader.read(bytes, name: "hostile.parquet", limits: limits)
            Issue.record(
                "read \(table.rows.count) rows, expected an error containing \"\(fragment)\"",
                sourceLocation: sourceLocation
            )
        } catch {
            #expect(error.code == code, "\(error.reason)", sourceLocation: sourceLocation)
            #expect(error.reason.contains(fragment), "\(error.reason)", sourceLocation: sourceLocation)
            #expect(error.reason.contains("hostile.parquet"), "\(error.reason)", sourceLocation: sourceLocation)
        }
    }

    @Test func theHandmadeFileReadsBack() throws {
        let table = try ParquetReader.read(Handmade.file(), name: "h")
        #expect(table.columns == ["x"])
        #expect(table.rows == [["1"], ["-2"], ["3"]])
    }

    @Test func badMagicAndTruncatedFootersNameWhatWasExpected() {
        var bad = Handmade.file()
        bad.replaceSubrange(0..<4, with: Array("PK\u{3}\u{4}".utf8))
        expectError(bad, .malformed, "expected the Parquet magic \"PAR1\" at the start")
        let file = Handmade.file()
        expectError(Array(file.dropLast(3)), .malformed, "at the end (a truncated file?)")
        expectError(Array(file.prefix(8)), .malformed, "at least 12 bytes")
        var long = file
        long.replaceSubrange(long.count - 8..<long.count - 4, with: Handmade.le32(1 << 30))
        expectError(long, .malformed, "the footer claims 1073741824 bytes")
        // Every truncation and every cut of the footer fails cleanly.
        for cut in 1..<file.count {
            #expect(throws: ParquetError.self) { _ = try ParquetReader.read(Array(file.prefix(cut)), name: "t") }
            let footerCut = Array(file.prefix(cut)) + Array(file.suffix(8))
            if cut < file.count - 8 {
                _ = try? ParquetReader.read(footerCut, name: "t")
            }
        }
    }

    @Test func aPageClaimingFourGiBIsRefusedBeforeAllocating() throws {
        expectError(Handmade.file(uncompressed: 0xFFFF_FFFF), .limitExceeded, "claims 4294967295 uncompressed bytes")
        expectError(Handmade.file(compressed: 0xFFFF_FFFF), .malformed, "claims 4294967295 bytes but the chunk has")
        expectError(Handmade.file(pageCount: 1 << 40), .malformed, "values, but only 3 of the row group's rows remain")
        expectError(Handmade.file(uncompressed: 23), .malformed, "24 uncompressed bytes, the page header says 23")
        // Data page v2 level lengths that would overflow when added, or exceed the page.
        #expect(try ParquetReader.read(Handmade.file(v2Levels: (0, 0)), name: "v2").rows == [["1"], ["-2"], ["3"]])
        expectError(Handmade.file(v2Levels: (.max, .max)), .malformed, "exceed the page's 24 bytes")
        expectError(Handmade.file(v2Levels: (20, 20)), .malformed, "level lengths 20 + 20 exceed")
    }

    @Test func snappyBombsStopAtTheDeclaredSize() {
        // A stream declaring 4 GiB behind a header that says 24 bytes.
        expectError(
            Handmade.file(codec: 1, payload: Handmade.varint(0xFFFF_FFFF) + [0x00, 0x41]),
            .malformed,
            "snappy data declares 4294967295 bytes, the page header 24"
        )
        // A real bomb: one literal byte then copies, 64 MiB from 3 MiB; the header is honest about it but the
        // page limit is 1 MiB: refused before decompressing.
        let size = 64 << 20
        var bomb = Handmade.varint(UInt64(size)) + [0x00, 0x41]
        for _ in 0..<((size - 1) / 64) { bomb += [0xFE, 0x01, 0x00] }  // copy 64 bytes from 1 back
        expectError(
            Handmade.file(codec: 1, payload: bomb, uncompressed: Int64(size)),
            .limitExceeded,
            "more than the limit of 1048576",
            limits: ParquetLimits(maxPageBytes: 1 << 20)
        )
        // Copies that reach before the start, and literals that run past the input.
        expectError(
            Handmade.file(codec: 1, payload: Handmade.varint(24) + [0xFE, 0x10, 0x00]),
            .malformed,
            "a copy from offset 16 with only 0 bytes written"
        )
        expectError(
            Handmade.file(codec: 1, payload: Handmade.varint(24) + [0x5C, 0x41]),
            .malformed,
            "a literal of 24 bytes but 1 input bytes remain"
        )
        expectError(
            Handmade.file(codec: 2, payload: [0x1F, 0x8B, 0x08, 0x00, 0xDE, 0xAD]),
            .malformed,
            "gzip"
        )
        // zstd: a frame header cut short, and a frame whose content is larger than the header declares.
        expectError(Handmade.file(codec: 6, payload: [0x28, 0xB5, 0x2F, 0xFD, 0x00]), .malformed, "corrupt zstd data")
        let big = Handmade.zstdFrame(of: 100)
        expectError(Handmade.file(codec: 6, payload: big), .malformed, "more than the declared 24 bytes")
    }

    @Test func deepThriftNestingAndHugeListsAreRefused() {
        // 100,000 nested structs (field 1, type struct).
        expectError(
            Handmade.withFooter([UInt8](repeating: 0x1C, count: 100_000)),
            .malformed,
            "nested deeper than 32 levels"
        )
        // A list header claiming 2^31 elements in a 10-byte footer.
        expectError(
            Handmade.withFooter([0x29, 0xFC] + Handmade.varint(1 << 31) + [0, 0]),
            .malformed,
            "a length of 2147483648 but only 2 bytes remain"
        )
        expectError(
            Handmade.withFooter([0x15] + [UInt8](repeating: 0xFF, count: 12)),
            .malformed,
            "longer than 64 bits"
        )
        expectError(Handmade.withFooter([0x1D]), .malformed, "unknown field type 13")
    }

    @Test func rowAndCellLimitsHold() {
        expectError(
            Handmade.file(),
            .limitExceeded,
            "3 rows, more than the limit of 2",
            limits: ParquetLimits(maxRows: 2)
        )
        expectError(
            Handmade.file(),
            .limitExceeded,
            "more than the limit of 2 cells",
            limits: ParquetLimits(maxCells: 2)
        )
    }

    /// Deterministic byte flips (xorshift), 1 to 4 per try, over the handmade file and pyarrow's small files
    /// (snappy + dictionary + v1, gzip + plain + v2, zstd + dictionary + v2).
    static func fuzz(_ file: [UInt8], tries: Int, seed: UInt64) -> (decoded: Int, refused: Int) {
        var state = seed
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        var decoded = 0
        var refused = 0
        for _ in 0..<tries {
            var bytes = file
            for _ in 0...(next() % 4) {
                let at = Int(next() % UInt64(bytes.count))
                bytes[at] = next() % 3 == 0 ? UInt8(truncatingIfNeeded: next()) : bytes[at] ^ (1 << UInt8(next() % 8))
            }
            if next() % 10 == 0 { bytes.removeLast(Int(next() % UInt64(bytes.count))) }
            do {
                _ = try ParquetReader.read(bytes, name: "fuzz", limits: ParquetLimits(maxPageBytes: 16 << 20))
                decoded += 1
            } catch {
                refused += 1
            }
        }
        return (decoded, refused)
    }

    @Test func randomByteFlipsThrowOrDecodeButNeverCrash() throws {
        let handmade = Self.fuzz(Handmade.file(values: Array(0..<64)), tries: 3000, seed: 0x9E37_79B9_7F4A_7C15)
        #expect(handmade.decoded + handmade.refused == 3000)
        let dir = try ParquetReference.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ParquetReference.run(["small", dir.path])
        for (n, name) in ["small-dict.parquet", "small-plain.parquet", "small-zstd.parquet"].enumerated() {
            let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(name)))
            _ = try ParquetReader.read(bytes, name: name)
            let result = Self.fuzz(bytes, tries: 1500, seed: 0xD1B5_4A32_D192_ED03 &+ UInt64(n))
            #expect(result.refused > 0)
            print("fuzz \(name): \(result.decoded) decoded, \(result.refused) refused")
        }
    }
}
