// Parquet file layout (https://parquet.apache.org/docs/file-format/):
//   "PAR1" | column chunks … | FileMetaData (Thrift compact) | footer length (u32 LE) | "PAR1"
// A column chunk is a run of pages, each a PageHeader (Thrift compact) followed by compressed_page_size bytes:
//   DICTIONARY_PAGE: PLAIN values; DATA_PAGE (v1): [definition levels: u32 LE length + RLE hybrid] values,
//   all compressed together; DATA_PAGE_V2: definition levels (uncompressed, length in the header) then the
//   values, compressed unless is_compressed is false.
// This reader decodes flat schemas (each column REQUIRED or OPTIONAL), PLAIN and dictionary encodings (RLE for
// booleans), codecs UNCOMPRESSED, SNAPPY, GZIP and ZSTD, into cell text (CellText.swift). Every size read from the
// file is checked against the bytes that hold it and against ParquetLimits before anything is allocated.

/// A Parquet table as cells: the column names and the rows as text, the way pandas' to_csv writes them.
public struct ParquetTable: Sendable, Equatable {
    /// Column names, in schema order (pandas' `__index_level_N__` index columns are left out).
    public var columns: [String]
    /// Data rows; every row has `columns.count` cells. A null is an empty cell.
    public var rows: [[String]]
}

/// Limits that keep a hostile file from exhausting memory or time.
public struct ParquetLimits: Sendable {
    /// Largest footer (FileMetaData) in bytes.
    public var maxFooterBytes: Int
    /// Most columns.
    public var maxColumns: Int
    /// Most rows.
    public var maxRows: Int
    /// Most cells (rows × columns).
    public var maxCells: Int
    /// Largest page, uncompressed, in bytes.
    public var maxPageBytes: Int
    /// Largest single value (a string) in bytes.
    public var maxValueBytes: Int

    /// Creates limits; the defaults match the CSV reader's (1 MiB per value, 4,096 columns, 50,000,000 rows).
    public init(
        maxFooterBytes: Int = 64 << 20,
        maxColumns: Int = 4096,
        maxRows: Int = 50_000_000,
        maxCells: Int = 500_000_000,
        maxPageBytes: Int = 512 << 20,
        maxValueBytes: Int = 1 << 20
    ) {
        self.maxFooterBytes = maxFooterBytes
        self.maxColumns = maxColumns
        self.maxRows = maxRows
        self.maxCells = maxCells
        self.maxPageBytes = maxPageBytes
        self.maxValueBytes = maxValueBytes
    }
}

/// Reads a whole Parquet file held in memory.
public enum ParquetReader {
    /// The first (and last) four bytes of every Parquet file.
    public static let magic: [UInt8] = Array("PAR1".utf8)

    /// Whether `bytes` starts and ends like a Parquet file.
    public static func looksLikeParquet(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 12 && bytes.starts(with: magic) && Array(bytes.suffix(4)) == magic
    }

    /// Parses `bytes` (the whole file) into rows of cell text; `name` is used in error messages.
    public static func read(
        _ bytes: [UInt8],
        name: String,
        limits: ParquetLimits = ParquetLimits()
    ) throws(ParquetError) -> ParquetTable {
        let (names, columns) = try readColumns(bytes, name: name, limits: limits)
        let rowCount = columns.first?.count ?? 0
        var rows: [[String]] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var row: [String] = []
            row.reserveCapacity(columns.count)
            for column in columns { row.append(column[r]) }
            rows.append(row)
        }
        return ParquetTable(columns: names, rows: rows)
    }

    /// Parses `bytes` into columns of cell text (column-major: `columns[c][r]`).
    public static func readColumns(
        _ bytes: [UInt8],
        name: String,
        limits: ParquetLimits = ParquetLimits()
    ) throws(ParquetError) -> (names: [String], columns: [[String]]) {
        let metadata = try footer(bytes, name: name, limits: limits)
        var names: [String] = []
        var seen = Set<String>()
        var keep: [Int] = []
        for (c, column) in metadata.columns.enumerated() {
            if isPandasIndex(column.name) { continue }
            guard !column.name.isEmpty else {
                throw ParquetError(.malformed, "\(name): column \(c + 1) has an empty name")
            }
            guard seen.insert(column.name).inserted else {
                throw ParquetError(.malformed, "\(name): duplicate column name \"\(column.name)\"")
            }
            names.append(column.name)
            keep.append(c)
        }
        var columns: [[String]] = []
        for c in keep {
            var cells = ColumnCells(schema: metadata.columns[c], file: name, limits: limits, rows: metadata.rows)
            for (g, group) in metadata.rowGroups.enumerated() {
                try cells.readChunk(bytes, group.columns[c], rows: group.rows, group: g)
            }
            columns.append(cells.finish())
        }
        return (names, columns)
    }

    /// pandas stores a non-default index as columns `__index_level_0__`, … (to_csv(index=False) leaves it out).
    static func isPandasIndex(_ name: String) -> Bool {
        name.hasPrefix("__index_level_") && name.hasSuffix("__")
    }

    static func footer(_ bytes: [UInt8], name: String, limits: ParquetLimits) throws(ParquetError) -> FileMetadata {
        guard bytes.count >= 12 else {
            throw ParquetError(
                .malformed,
                "\(name): expected a Parquet file (at least 12 bytes: magic, footer, magic), found \(bytes.count) bytes"
            )
        }
        guard bytes.starts(with: magic) else {
            throw ParquetError(
                .malformed,
                "\(name): expected the Parquet magic \"PAR1\" at the start, found \(quoted(bytes.prefix(4)))"
            )
        }
        let tail = Array(bytes.suffix(4))
        if tail == Array("PARE".utf8) {
            throw ParquetError(.unsupported, "\(name): an encrypted footer (PARE) is not supported")
        }
        guard tail == magic else {
            throw ParquetError(
                .malformed,
                "\(name): expected the Parquet magic \"PAR1\" at the end (a truncated file?), found \(quoted(tail[...]))"
            )
        }
        let n = bytes.count
        let length = Int(bytes[n - 8]) | Int(bytes[n - 7]) << 8 | Int(bytes[n - 6]) << 16 | Int(bytes[n - 5]) << 24
        guard length <= n - 12 else {
            throw ParquetError(
                .malformed,
                "\(name): the footer claims \(length) bytes but the file holds only \(n - 12) between its magics"
            )
        }
        guard length <= limits.maxFooterBytes else {
            throw ParquetError(
                .limitExceeded,
                "\(name): a footer of \(length) bytes, more than the limit of \(limits.maxFooterBytes)"
            )
        }
        let start = n - 8 - length
        var reader = ThriftReader(bytes, start: start, end: n - 8, context: "\(name): footer")
        let root = try reader.readStruct()
        return try FileMetadata(root, fileName: name, dataEnd: start, limits: limits)
    }

    static func quoted(_ bytes: ArraySlice<UInt8>) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return "\"\(String(decoding: bytes, as: UTF8.self))\"" }
        return "bytes " + bytes.map { String($0, radix: 16) }.joined(separator: " ")
    }
}

/// Decoded values of one page (or a dictionary): rendered text, or raw instants for a timestamp column, which
/// is rendered once its whole column is known.
enum PageValues {
    case text([String])
    case instants([Int64])

    var count: Int {
        switch self {
        case .text(let v): v.count
        case .instants(let v): v.count
        }
    }
}

/// One column's cells, filled chunk by chunk.
struct ColumnCells {
    let schema: ColumnSchema
    let file: String
    let limits: ParquetLimits
    var cells: [String] = []
    var instants: [Int64] = []
    var nulls: [Bool] = []
    var isTimestamp: Bool

    init(schema: ColumnSchema, file: String, limits: ParquetLimits, rows: Int) {
        self.schema = schema
        self.file = file
        self.limits = limits
        if case .timestamp = schema.kind {
            isTimestamp = true
            instants.reserveCapacity(rows)
            nulls.reserveCapacity(rows)
        } else {
            isTimestamp = false
            cells.reserveCapacity(rows)
        }
    }

    func finish() -> [String] {
        if case .timestamp(let unit, let utc) = schema.kind {
            return CellText.timestamps(instants, nulls: nulls, unit: unit, utc: utc)
        }
        return cells
    }

    mutating func readChunk(_ bytes: [UInt8], _ chunk: ColumnChunkInfo, rows: Int, group: Int) throws(ParquetError) {
        let place = "\(file): row group \(group), column \(schema.name)"
        guard chunk.valueCount == rows else {
            throw ParquetError(
                .malformed,
                "\(place): expected \(rows) values (the row group's rows), the chunk declares \(chunk.valueCount)"
            )
        }
        let codec = Codec(chunk.codec)
        if case .other(let raw) = codec {
            throw ParquetError(
                .unsupported,
                "\(place): codec \(Codec.name(raw)) is not supported (expected UNCOMPRESSED, SNAPPY, GZIP or ZSTD)"
            )
        }
        var position = chunk.start
        let end = chunk.start + chunk.compressedSize
        var dictionary: PageValues?
        var done = 0
        while done < rows {
            guard position < end else {
                throw ParquetError(
                    .malformed,
                    "\(place): expected \(rows - done) more values, found the end of the column chunk at offset \(end)"
                )
            }
            var reader = ThriftReader(
                bytes,
                start: position,
                end: end,
                context: "\(place): page header at offset \(position)"
            )
            let header = try reader.readStruct()
            let at = position
            position = reader.position
            let pageType = header.int(1) ?? -1
            guard let rawUncompressed = header.int(2), let rawCompressed = header.int(3), rawUncompressed >= 0,
                rawCompressed >= 0
            else {
                throw ParquetError(.malformed, "\(place): page at offset \(at): expected page sizes, found none")
            }
            guard rawCompressed <= Int64(end - position) else {
                throw ParquetError(
                    .malformed,
                    "\(place): page at offset \(at) claims \(rawCompressed) bytes but the chunk has \(end - position) left"
                )
            }
            guard rawUncompressed <= Int64(limits.maxPageBytes) else {
                throw ParquetError(
                    .limitExceeded,
                    "\(place): page at offset \(at) claims \(rawUncompressed) uncompressed bytes, more than the limit of \(limits.maxPageBytes)"
                )
            }
            let compressed = Int(rawCompressed)
            let uncompressed = Int(rawUncompressed)
            let payload = bytes[position..<position + compressed]
            position += compressed
            let pagePlace = "\(place): page at offset \(at)"
            switch pageType {
            case 2:
                guard let dph = header.structure(7), let n = dph.int(1), n >= 0 else {
                    throw ParquetError(.malformed, "\(pagePlace): a dictionary page without a valid value count")
                }
                // A dictionary holds values of this chunk: never more than its rows.
                guard n <= Int64(rows) else {
                    throw ParquetError(
                        .malformed,
                        "\(pagePlace): a dictionary of \(n) values for a chunk of \(rows) rows"
                    )
                }
                let encoding = dph.int(2) ?? Encoding.plain
                guard encoding == Encoding.plain || encoding == Encoding.plainDictionary else {
                    throw ParquetError(
                        .unsupported,
                        "\(pagePlace): dictionary encoding \(Encoding.name(encoding)) (expected PLAIN)"
                    )
                }
                let page = try decompress(payload, codec: codec, expected: uncompressed, place: pagePlace)
                var cursor = 0
                dictionary = try plain(page, cursor: &cursor, count: Int(n), place: pagePlace)
            case 0, 3:
                let v2 = pageType == 3
                guard let dph = header.structure(v2 ? 8 : 5), let rawCount = dph.int(1), rawCount >= 0 else {
                    throw ParquetError(.malformed, "\(pagePlace): a data page without a value count")
                }
                guard rawCount <= Int64(rows - done) else {
                    throw ParquetError(
                        .malformed,
                        "\(pagePlace): \(rawCount) values, but only \(rows - done) of the row group's rows remain"
                    )
                }
                let count = Int(rawCount)
                let encoding = dph.int(v2 ? 4 : 2) ?? -1
                var page: [UInt8]
                var cursor = 0
                var defined: [UInt32]?
                if v2 {
                    let defLength = dph.int(5) ?? 0
                    let repLength = dph.int(6) ?? 0
                    // Each is checked before the sum, which then cannot overflow.
                    guard defLength >= 0, repLength >= 0, defLength <= Int64(compressed),
                        repLength <= Int64(compressed),
                        defLength + repLength <= Int64(compressed), defLength + repLength <= Int64(uncompressed)
                    else {
                        throw ParquetError(
                            .malformed,
                            "\(pagePlace): level lengths \(repLength) + \(defLength) exceed the page's \(compressed) bytes"
                        )
                    }
                    let levels = Int(defLength + repLength)
                    let levelBytes = Array(payload.prefix(levels))
                    let rest = payload.dropFirst(levels)
                    let values: [UInt8]
                    if dph.bool(7) ?? true {
                        values = try decompress(rest, codec: codec, expected: uncompressed - levels, place: pagePlace)
                    } else {
                        guard rest.count == uncompressed - levels else {
                            throw ParquetError(
                                .malformed,
                                "\(pagePlace): \(rest.count) uncompressed value bytes, the header says \(uncompressed - levels)"
                            )
                        }
                        values = Array(rest)
                    }
                    page = levelBytes + values
                    if schema.optional {
                        defined = try Hybrid.decode(
                            page,
                            start: Int(repLength),
                            end: levels,
                            bitWidth: 1,
                            count: count,
                            what: "\(pagePlace): definition levels"
                        )
                    }
                    cursor = levels
                } else {
                    page = try decompress(payload, codec: codec, expected: uncompressed, place: pagePlace)
                    if schema.optional {
                        guard page.count >= 4 else {
                            throw ParquetError(
                                .malformed,
                                "\(pagePlace): expected definition levels, found \(page.count) bytes"
                            )
                        }
                        let length = Int(page[0]) | Int(page[1]) << 8 | Int(page[2]) << 16 | Int(page[3]) << 24
                        guard length <= page.count - 4 else {
                            throw ParquetError(
                                .malformed,
                                "\(pagePlace): definition levels claim \(length) bytes, the page holds \(page.count - 4)"
                            )
                        }
                        defined = try Hybrid.decode(
                            page,
                            start: 4,
                            end: 4 + length,
                            bitWidth: 1,
                            count: count,
                            what: "\(pagePlace): definition levels"
                        )
                        cursor = 4 + length
                    }
                }
                var present = count
                if let defined {
                    present = 0
                    for d in defined where d == 1 { present += 1 }
                }
                let values: PageValues
                switch encoding {
                case Encoding.plain:
                    values = try plain(page, cursor: &cursor, count: present, place: pagePlace)
                case Encoding.plainDictionary, Encoding.rleDictionary:
                    guard let dictionary else {
                        throw ParquetError(
                            .malformed,
                            "\(pagePlace): dictionary-encoded values without a dictionary page"
                        )
                    }
                    guard cursor < page.count || present == 0 else {
                        throw ParquetError(
                            .malformed,
                            "\(pagePlace): expected the indices' bit width, found the page's end"
                        )
                    }
                    let width = present == 0 ? 0 : Int(page[cursor])
                    let indices = try Hybrid.decode(
                        page,
                        start: min(cursor + 1, page.count),
                        end: page.count,
                        bitWidth: width,
                        count: present,
                        what: "\(pagePlace): dictionary indices"
                    )
                    values = try gather(dictionary, indices, place: pagePlace)
                case Encoding.rle where schema.physical == .boolean:
                    guard page.count - cursor >= 4 else {
                        throw ParquetError(.malformed, "\(pagePlace): expected RLE booleans, found the page's end")
                    }
                    let length =
                        Int(page[cursor]) | Int(page[cursor + 1]) << 8 | Int(page[cursor + 2]) << 16
                        | Int(page[cursor + 3]) << 24
                    guard length <= page.count - cursor - 4 else {
                        throw ParquetError(.malformed, "\(pagePlace): RLE booleans claim \(length) bytes past the page")
                    }
                    let bits = try Hybrid.decode(
                        page,
                        start: cursor + 4,
                        end: cursor + 4 + length,
                        bitWidth: 1,
                        count: present,
                        what: "\(pagePlace): RLE booleans"
                    )
                    values = .text(bits.map { $0 == 1 ? "True" : "False" })
                default:
                    throw ParquetError(
                        .unsupported,
                        "\(pagePlace): encoding \(Encoding.name(encoding)) is not supported (expected PLAIN or a dictionary)"
                    )
                }
                append(values, defined: defined)
                done += count
            default:
                // Index pages and unknown page types carry no values.
                continue
            }
        }
    }

    private mutating func append(_ values: PageValues, defined: [UInt32]?) {
        switch values {
        case .text(let text):
            guard let defined else {
                cells.append(contentsOf: text)
                return
            }
            var j = 0
            for d in defined {
                if d == 1 {
                    cells.append(text[j])
                    j += 1
                } else {
                    cells.append("")
                }
            }
        case .instants(let raw):
            guard let defined else {
                instants.append(contentsOf: raw)
                nulls.append(contentsOf: repeatElement(false, count: raw.count))
                return
            }
            var j = 0
            for d in defined {
                if d == 1 {
                    instants.append(raw[j])
                    nulls.append(false)
                    j += 1
                } else {
                    instants.append(0)
                    nulls.append(true)
                }
            }
        }
    }

    private func gather(_ dictionary: PageValues, _ indices: [UInt32], place: String) throws(ParquetError) -> PageValues
    {
        let size = dictionary.count
        for i in indices where Int(i) >= size {
            throw ParquetError(.malformed, "\(place): dictionary index \(i), but the dictionary holds \(size) values")
        }
        switch dictionary {
        case .text(let text): return .text(indices.map { text[Int($0)] })
        case .instants(let raw): return .instants(indices.map { raw[Int($0)] })
        }
    }

    private func decompress(
        _ payload: ArraySlice<UInt8>,
        codec: Codec,
        expected: Int,
        place: String
    ) throws(ParquetError) -> [UInt8] {
        let result: Result<[UInt8], CodecFailure>
        switch codec {
        case .uncompressed:
            guard payload.count == expected else {
                throw ParquetError(
                    .malformed,
                    "\(place): \(payload.count) uncompressed bytes, the page header says \(expected)"
                )
            }
            return Array(payload)
        case .snappy: result = Snappy.decompress(payload, expected: expected)
        case .gzip: result = Inflate.gzip(payload, expected: expected)
        case .zstd: result = Inflate.zstd(payload, expected: expected)
        case .other(let raw): result = .failure(CodecFailure("codec \(Codec.name(raw))"))
        }
        switch result {
        case .success(let bytes): return bytes
        case .failure(let failure): throw ParquetError(.malformed, "\(place): \(failure.message)")
        }
    }

    /// PLAIN-decodes `count` values starting at `cursor`.
    private func plain(_ page: [UInt8], cursor: inout Int, count: Int, place: String) throws(ParquetError) -> PageValues
    {
        let available = page.count - cursor
        func need(_ bytes: Int) throws(ParquetError) {
            guard bytes <= available else {
                throw ParquetError(
                    .malformed,
                    "\(place): \(count) \(schema.physical.name) values need \(bytes) bytes, the page holds \(available)"
                )
            }
        }
        let start = cursor
        switch schema.physical {
        case .boolean:
            try need((count + 7) / 8)
            cursor += (count + 7) / 8
            return .text(
                (0..<count).map { i in (page[start + i >> 3] >> UInt8(i & 7)) & 1 == 1 ? "True" : "False" }
            )
        case .int32:
            let (bytes, overflow) = count.multipliedReportingOverflow(by: 4)
            guard !overflow else { throw ParquetError(.malformed, "\(place): a value count that overflows") }
            try need(bytes)
            cursor += bytes
            return try render32(page, start: start, count: count, place: place)
        case .int64:
            let (bytes, overflow) = count.multipliedReportingOverflow(by: 8)
            guard !overflow else { throw ParquetError(.malformed, "\(place): a value count that overflows") }
            try need(bytes)
            cursor += bytes
            return try render64(page, start: start, count: count, place: place)
        case .int96:
            let (bytes, overflow) = count.multipliedReportingOverflow(by: 12)
            guard !overflow else { throw ParquetError(.malformed, "\(place): a value count that overflows") }
            try need(bytes)
            cursor += bytes
            var raw: [Int64] = []
            raw.reserveCapacity(count)
            for i in 0..<count {
                let base = start + 12 * i
                let nanos = Self.load64(page, base)
                let julian = Int64(Int32(bitPattern: Self.load32(page, base + 8)))
                let days = julian - 2_440_588
                let (dayNanos, o1) = days.multipliedReportingOverflow(by: 86_400_000_000_000)
                let (total, o2) = dayNanos.addingReportingOverflow(nanos)
                guard !o1, !o2 else {
                    throw ParquetError(.malformed, "\(place): an INT96 timestamp out of the 64-bit nanosecond range")
                }
                raw.append(total)
            }
            return .instants(raw)
        case .float:
            let (bytes, overflow) = count.multipliedReportingOverflow(by: 4)
            guard !overflow else { throw ParquetError(.malformed, "\(place): a value count that overflows") }
            try need(bytes)
            cursor += bytes
            return .text(
                (0..<count).map { i in
                    CellText.python(Float(bitPattern: UInt32(truncatingIfNeeded: Self.load32(page, start + 4 * i))))
                }
            )
        case .double:
            let (bytes, overflow) = count.multipliedReportingOverflow(by: 8)
            guard !overflow else { throw ParquetError(.malformed, "\(place): a value count that overflows") }
            try need(bytes)
            cursor += bytes
            return .text(
                (0..<count).map { i in
                    CellText.python(Double(bitPattern: UInt64(bitPattern: Self.load64(page, start + 8 * i))))
                }
            )
        case .byteArray:
            // At least 4 bytes (the length) per value.
            let (least, overflow) = count.multipliedReportingOverflow(by: 4)
            guard !overflow else { throw ParquetError(.malformed, "\(place): a value count that overflows") }
            try need(least)
            var out: [String] = []
            out.reserveCapacity(count)
            var p = start
            for _ in 0..<count {
                guard page.count - p >= 4 else {
                    throw ParquetError(.malformed, "\(place): expected a BYTE_ARRAY length, found the page's end")
                }
                let length = Int(UInt32(truncatingIfNeeded: Self.load32(page, p)))
                p += 4
                guard length <= page.count - p else {
                    throw ParquetError(
                        .malformed,
                        "\(place): a BYTE_ARRAY value of \(length) bytes, but the page has \(page.count - p) left"
                    )
                }
                guard length <= limits.maxValueBytes else {
                    throw ParquetError(
                        .limitExceeded,
                        "\(place): a value of \(length) bytes, more than the limit of \(limits.maxValueBytes)"
                    )
                }
                out.append(try renderBytes(page, p, length, place: place))
                p += length
            }
            cursor = p
            return .text(out)
        case .fixedLenByteArray:
            let width = schema.typeLength
            let (bytes, overflow) = count.multipliedReportingOverflow(by: width)
            guard !overflow else { throw ParquetError(.malformed, "\(place): a value count that overflows") }
            try need(bytes)
            cursor += bytes
            var out: [String] = []
            out.reserveCapacity(count)
            for i in 0..<count { out.append(try renderBytes(page, start + width * i, width, place: place)) }
            return .text(out)
        }
    }

    private func renderBytes(_ page: [UInt8], _ at: Int, _ length: Int, place: String) throws(ParquetError) -> String {
        try page.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<UInt8>) throws(ParquetError) -> String in
            let slice = UnsafeBufferPointer(rebasing: buffer[at..<at + length])
            switch schema.kind {
            case .decimal(let scale):
                guard length <= 16 else {
                    throw ParquetError(.unsupported, "\(place): a DECIMAL of \(length) bytes (at most 16 are read)")
                }
                return CellText.decimal(CellText.int128(bigEndian: slice), scale: scale)
            case .uuid:
                return CellText.uuid(slice)
            default:
                guard let text = String(validating: slice, as: UTF8.self) else {
                    throw ParquetError(
                        .malformed,
                        "\(place): a value that is not valid UTF-8 (binary data is not read)"
                    )
                }
                return text
            }
        }
    }

    private func render32(_ page: [UInt8], start: Int, count: Int, place: String) throws(ParquetError) -> PageValues {
        var out: [String] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let v = Int32(bitPattern: UInt32(truncatingIfNeeded: Self.load32(page, start + 4 * i)))
            switch schema.kind {
            case .integer(let signed): out.append(signed ? String(v) : String(UInt32(bitPattern: v)))
            case .date: out.append(CellText.date(days: Int64(v)))
            case .decimal(let scale): out.append(CellText.decimal(Int128(v), scale: scale))
            case .time(let unit): out.append(CellText.time(Int64(v), unit: unit))
            default: out.append(String(v))
            }
        }
        return .text(out)
    }

    private func render64(_ page: [UInt8], start: Int, count: Int, place: String) throws(ParquetError) -> PageValues {
        if isTimestamp {
            return .instants((0..<count).map { i in Self.load64(page, start + 8 * i) })
        }
        var out: [String] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let v = Self.load64(page, start + 8 * i)
            switch schema.kind {
            case .integer(let signed): out.append(signed ? String(v) : String(UInt64(bitPattern: v)))
            case .decimal(let scale): out.append(CellText.decimal(Int128(v), scale: scale))
            case .time(let unit): out.append(CellText.time(v, unit: unit))
            default: out.append(String(v))
            }
        }
        return .text(out)
    }

    @inline(__always) static func load32(_ page: [UInt8], _ at: Int) -> UInt32 {
        page.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) }.littleEndian
    }

    @inline(__always) static func load64(_ page: [UInt8], _ at: Int) -> Int64 {
        page.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int64.self) }.littleEndian
    }
}
