// The parts of Parquet's FileMetaData (parquet.thrift) this reader uses, built from the Thrift tree with every
// number range-checked. Field ids are the ones in parquet.thrift.

/// Parquet physical types (parquet.thrift `Type`).
enum PhysicalType: Int64, Sendable {
    case boolean = 0
    case int32 = 1
    case int64 = 2
    case int96 = 3
    case float = 4
    case double = 5
    case byteArray = 6
    case fixedLenByteArray = 7

    var name: String {
        switch self {
        case .boolean: "BOOLEAN"
        case .int32: "INT32"
        case .int64: "INT64"
        case .int96: "INT96"
        case .float: "FLOAT"
        case .double: "DOUBLE"
        case .byteArray: "BYTE_ARRAY"
        case .fixedLenByteArray: "FIXED_LEN_BYTE_ARRAY"
        }
    }
}

/// Compression codecs (parquet.thrift `CompressionCodec`).
enum Codec: Sendable, Equatable {
    case uncompressed, snappy, gzip, zstd
    case other(Int64)

    init(_ raw: Int64) {
        switch raw {
        case 0: self = .uncompressed
        case 1: self = .snappy
        case 2: self = .gzip
        case 6: self = .zstd
        default: self = .other(raw)
        }
    }

    static func name(_ raw: Int64) -> String {
        switch raw {
        case 0: "UNCOMPRESSED"
        case 1: "SNAPPY"
        case 2: "GZIP"
        case 3: "LZO"
        case 4: "BROTLI"
        case 5: "LZ4"
        case 6: "ZSTD"
        case 7: "LZ4_RAW"
        default: "codec \(raw)"
        }
    }
}

/// Encodings (parquet.thrift `Encoding`).
enum Encoding {
    static let plain: Int64 = 0
    static let plainDictionary: Int64 = 2
    static let rle: Int64 = 3
    static let bitPacked: Int64 = 4
    static let rleDictionary: Int64 = 8

    static func name(_ raw: Int64) -> String {
        switch raw {
        case 0: "PLAIN"
        case 2: "PLAIN_DICTIONARY"
        case 3: "RLE"
        case 4: "BIT_PACKED"
        case 5: "DELTA_BINARY_PACKED"
        case 6: "DELTA_LENGTH_BYTE_ARRAY"
        case 7: "DELTA_BYTE_ARRAY"
        case 8: "RLE_DICTIONARY"
        case 9: "BYTE_STREAM_SPLIT"
        default: "encoding \(raw)"
        }
    }
}

/// How a column's values become cell text.
enum ColumnKind: Sendable, Equatable {
    case boolean
    /// INT32/INT64 (and INT_8…UINT_64): `signed` false renders the bit pattern as unsigned.
    case integer(signed: Bool)
    case float
    case double
    /// UTF-8 text (BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY, annotated or not: the bytes must be valid UTF-8).
    case text
    /// FIXED_LEN_BYTE_ARRAY UUID, rendered 8-4-4-4-12.
    case uuid
    /// INT32 days since 1970-01-01.
    case date
    /// INT64 in the unit (1 ms, 2 µs, 3 ns) or INT96 (ns); `utc` renders a `+00:00` suffix as pandas does for
    /// tz-aware columns.
    case timestamp(unit: Int, utc: Bool)
    /// TIME as INT32 ms or INT64 µs/ns since midnight.
    case time(unit: Int)
    /// DECIMAL of any physical carrier, rendered as Python's str(Decimal).
    case decimal(scale: Int)
}

/// One flat (leaf) column of the schema.
struct ColumnSchema: Sendable {
    var name: String
    var physical: PhysicalType
    var typeLength: Int
    var optional: Bool
    var kind: ColumnKind
}

/// A column chunk's location and coding.
struct ColumnChunkInfo: Sendable {
    var codec: Int64
    var valueCount: Int
    var start: Int
    var compressedSize: Int
    var physical: PhysicalType
}

/// A row group: its row count and one chunk per column.
struct RowGroupInfo: Sendable {
    var rows: Int
    var columns: [ColumnChunkInfo]
}

/// The footer, decoded and checked.
struct FileMetadata: Sendable {
    var columns: [ColumnSchema]
    var rows: Int
    var rowGroups: [RowGroupInfo]

    init(_ root: ThriftStruct, fileName: String, dataEnd: Int, limits: ParquetLimits) throws(ParquetError) {
        func fail(_ message: String) -> ParquetError { ParquetError(.malformed, "\(fileName): footer: \(message)") }
        func int(_ s: ThriftStruct, _ id: Int16, _ what: String, min: Int64 = 0) throws(ParquetError) -> Int {
            guard let v = s.int(id) else { throw fail("expected \(what), found none") }
            guard v >= min, v <= Int64(Int32.max) * 1024 else { throw fail("\(what) is \(v), out of range") }
            return Int(v)
        }
        guard let schema = root.list(2), case .structure(let top)? = schema.first else {
            throw fail("expected a schema list, found none")
        }
        let childCount = top.int(5) ?? 0
        guard childCount >= 1, childCount == schema.count - 1 else {
            if schema.count - 1 != childCount,
                let nested = schema.dropFirst().first(where: {
                    if case .structure(let s) = $0 { return (s.int(5) ?? 0) > 0 }
                    return false
                }), case .structure(let s) = nested
            {
                throw ParquetError(
                    .unsupported,
                    "\(fileName): column \(s.string(4) ?? "?") is nested (a group of \(s.int(5) ?? 0) fields): only flat schemas are read"
                )
            }
            throw fail("expected a root with at least one column, found \(childCount) of \(schema.count - 1) elements")
        }
        guard childCount <= limits.maxColumns else {
            throw ParquetError(
                .limitExceeded,
                "\(fileName): \(childCount) columns, more than the limit of \(limits.maxColumns)"
            )
        }
        var columns: [ColumnSchema] = []
        for element in schema.dropFirst() {
            guard case .structure(let s) = element else { throw fail("expected a schema element, found another value") }
            let name = s.string(4) ?? ""
            if let children = s.int(5), children > 0 {
                throw ParquetError(
                    .unsupported,
                    "\(fileName): column \(name) is nested (a group of \(children) fields): only flat schemas are read"
                )
            }
            let repetition = s.int(3) ?? 0
            if repetition == 2 {
                throw ParquetError(
                    .unsupported,
                    "\(fileName): column \(name) is repeated (a list): only flat schemas are read"
                )
            }
            guard repetition == 0 || repetition == 1 else { throw fail("column \(name): repetition \(repetition)") }
            guard let rawType = s.int(1), let physical = PhysicalType(rawValue: rawType) else {
                throw fail("column \(name): expected a physical type 0…7, found \(s.int(1).map(String.init) ?? "none")")
            }
            var typeLength = 0
            if physical == .fixedLenByteArray {
                typeLength = try int(s, 2, "column \(name)'s type_length", min: 1)
                guard typeLength <= limits.maxValueBytes else {
                    throw fail("column \(name): type_length \(typeLength) exceeds \(limits.maxValueBytes)")
                }
            }
            let kind = try Self.kind(of: s, name: name, physical: physical, typeLength: typeLength, fileName: fileName)
            columns.append(
                ColumnSchema(
                    name: name,
                    physical: physical,
                    typeLength: typeLength,
                    optional: repetition == 1,
                    kind: kind
                )
            )
        }
        self.columns = columns
        guard let rowCount = root.int(3), rowCount >= 0 else { throw fail("expected num_rows, found none") }
        guard rowCount <= Int64(limits.maxRows) else {
            throw ParquetError(
                .limitExceeded,
                "\(fileName): \(rowCount) rows, more than the limit of \(limits.maxRows)"
            )
        }
        rows = Int(rowCount)
        let (cells, overflow) = rows.multipliedReportingOverflow(by: columns.count)
        guard !overflow, cells <= limits.maxCells else {
            throw ParquetError(
                .limitExceeded,
                "\(fileName): \(rows) rows × \(columns.count) columns, more than the limit of \(limits.maxCells) cells"
            )
        }
        var groups: [RowGroupInfo] = []
        var total = 0
        for (g, element) in (root.list(4) ?? []).enumerated() {
            guard case .structure(let rg) = element else { throw fail("row group \(g): expected a struct") }
            let groupRows = try int(rg, 3, "row group \(g)'s num_rows")
            total += groupRows
            guard total <= rows else { throw fail("the row groups hold more rows than num_rows (\(rows))") }
            let chunks = rg.list(1) ?? []
            guard chunks.count == columns.count else {
                throw fail("row group \(g): expected \(columns.count) column chunks, found \(chunks.count)")
            }
            var infos: [ColumnChunkInfo] = []
            for (c, chunk) in chunks.enumerated() {
                let where_ = "row group \(g), column \(columns[c].name)"
                guard case .structure(let cc) = chunk else { throw fail("\(where_): expected a column chunk") }
                if let path = cc.string(1), !path.isEmpty {
                    throw ParquetError(
                        .unsupported,
                        "\(fileName): \(where_): data in another file (\(path)) is not read"
                    )
                }
                guard let meta = cc.structure(3) else { throw fail("\(where_): expected column metadata, found none") }
                guard meta.int(1) == columns[c].physical.rawValue else {
                    throw fail("\(where_): the chunk's type \(meta.int(1) ?? -1) differs from the schema's")
                }
                if let path = meta.list(3), path.count != 1 {
                    throw ParquetError(.unsupported, "\(fileName): \(where_): a nested path of \(path.count) parts")
                }
                let valueCount = try int(meta, 5, "\(where_)'s num_values")
                let compressed = try int(meta, 7, "\(where_)'s total_compressed_size")
                let dataOffset = try int(meta, 9, "\(where_)'s data_page_offset", min: 4)
                var start = dataOffset
                if let dict = meta.int(11), dict >= 4, dict < Int64(dataOffset) { start = Int(dict) }
                let (chunkEnd, over) = start.addingReportingOverflow(compressed)
                guard !over, chunkEnd <= dataEnd else {
                    throw fail(
                        "\(where_): expected the chunk's \(compressed) bytes at offset \(start) to lie before the footer (offset \(dataEnd))"
                    )
                }
                infos.append(
                    ColumnChunkInfo(
                        codec: meta.int(4) ?? 0,
                        valueCount: valueCount,
                        start: start,
                        compressedSize: compressed,
                        physical: columns[c].physical
                    )
                )
            }
            groups.append(RowGroupInfo(rows: groupRows, columns: infos))
        }
        guard total == rows else { throw fail("num_rows is \(rows) but the row groups hold \(total)") }
        rowGroups = groups
    }

    static func kind(
        of s: ThriftStruct,
        name: String,
        physical: PhysicalType,
        typeLength: Int,
        fileName: String
    ) throws(ParquetError) -> ColumnKind {
        func unsupported(_ what: String) -> ParquetError {
            ParquetError(.unsupported, "\(fileName): column \(name): \(what) is not supported")
        }
        func timeUnit(_ t: ThriftStruct?) -> Int? {
            guard let tag = t?.structure(2)?.unionTag, (1...3).contains(tag) else { return nil }
            return Int(tag)
        }
        // The logical type (newer writers) wins over the converted type.
        if let logical = s.structure(10), let tag = logical.unionTag {
            switch (tag, physical) {
            case (1, .byteArray), (4, .byteArray), (12, .byteArray): return .text
            case (5, .int32), (5, .int64), (5, .byteArray), (5, .fixedLenByteArray):
                let scale = Int(logical.structure(5)?.int(1) ?? s.int(7) ?? 0)
                guard (0...76).contains(scale) else { throw unsupported("DECIMAL scale \(scale)") }
                guard physical != .fixedLenByteArray || typeLength <= 16 else {
                    throw unsupported("DECIMAL wider than 16 bytes")
                }
                return .decimal(scale: scale)
            case (6, .int32): return .date
            case (7, .int32), (7, .int64):
                guard let unit = timeUnit(logical.structure(7)) else { throw unsupported("TIME without a unit") }
                return .time(unit: unit)
            case (8, .int64):
                guard let unit = timeUnit(logical.structure(8)) else { throw unsupported("TIMESTAMP without a unit") }
                return .timestamp(unit: unit, utc: logical.structure(8)?.bool(1) ?? false)
            case (10, .int32), (10, .int64):
                return .integer(signed: logical.structure(10)?.bool(2) ?? true)
            case (14, .fixedLenByteArray) where typeLength == 16: return .uuid
            case (11, _): break  // UNKNOWN (always null): plain rendering.
            default:
                let names: [Int16: String] = [
                    1: "STRING", 2: "MAP", 3: "LIST", 4: "ENUM", 5: "DECIMAL", 6: "DATE", 7: "TIME", 8: "TIMESTAMP",
                    10: "INTEGER", 12: "JSON", 13: "BSON", 14: "UUID", 15: "FLOAT16", 16: "VARIANT",
                ]
                throw unsupported("logical type \(names[tag] ?? "\(tag)") on \(physical.name)")
            }
        }
        if let converted = s.int(6) {
            switch (converted, physical) {
            case (0, .byteArray), (4, .byteArray), (19, .byteArray): return .text
            case (5, .int32), (5, .int64), (5, .byteArray), (5, .fixedLenByteArray):
                let scale = Int(s.int(7) ?? 0)
                guard (0...76).contains(scale) else { throw unsupported("DECIMAL scale \(scale)") }
                guard physical != .fixedLenByteArray || typeLength <= 16 else {
                    throw unsupported("DECIMAL wider than 16 bytes")
                }
                return .decimal(scale: scale)
            case (6, .int32): return .date
            case (7, .int32): return .time(unit: 1)
            case (8, .int64): return .time(unit: 2)
            case (9, .int64): return .timestamp(unit: 1, utc: true)
            case (10, .int64): return .timestamp(unit: 2, utc: true)
            case (11...14, .int32), (11...14, .int64): return .integer(signed: false)
            case (15...18, .int32), (15...18, .int64): return .integer(signed: true)
            default: throw unsupported("converted type \(converted) on \(physical.name)")
            }
        }
        switch physical {
        case .boolean: return .boolean
        case .int32, .int64: return .integer(signed: true)
        case .int96: return .timestamp(unit: 3, utc: false)
        case .float: return .float
        case .double: return .double
        case .byteArray, .fixedLenByteArray: return .text
        }
    }
}
