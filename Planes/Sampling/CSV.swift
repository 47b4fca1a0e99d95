/// A CSV table held in memory: a header row and data rows of the same width.
public struct CSVTable: Sendable, Equatable {
    /// Column names, in file order.
    public var header: [String]
    /// Data rows; every row has `header.count` fields.
    public var rows: [[String]]

    /// Creates a table; rows must have the header's width.
    public init(header: [String], rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    /// The index of the column named `name`, if any.
    public func column(_ name: String) -> Int? { header.firstIndex(of: name) }
}

/// Limits that keep a hostile file from exhausting memory.
public struct CSVLimits: Sendable {
    /// Largest field in bytes.
    public var maxFieldBytes: Int
    /// Most columns in a row.
    public var maxColumns: Int
    /// Most data rows.
    public var maxRows: Int

    /// Creates limits.
    public init(maxFieldBytes: Int = 1 << 20, maxColumns: Int = 4096, maxRows: Int = 50_000_000) {
        self.maxFieldBytes = maxFieldBytes
        self.maxColumns = maxColumns
        self.maxRows = maxRows
    }
}

/// A strict RFC 4180 reader: comma separator, `"` quoting with `""` escapes, embedded commas, quotes and
/// newlines inside quoted fields, LF or CRLF line ends, an optional final line end, UTF-8 (a leading BOM is
/// skipped). The first record is the header. Every record must have the header's width; a quote inside an
/// unquoted field, text after a closing quote, or an unterminated quote is an error naming the line.
public enum CSVReader {
    /// Parses `bytes` (the whole file); `name` is used in error messages.
    public static func parse(
        _ bytes: [UInt8],
        name: String,
        limits: CSVLimits = CSVLimits()
    ) throws(SamplingError) -> CSVTable {
        var records: [[String]] = []
        var record: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        let n = bytes.count
        var width = -1

        func fail(_ message: String) -> SamplingError {
            SamplingError(.malformedCSV, "\(name): line \(line): \(message)")
        }
        func finishField() throws(SamplingError) {
            // ASCII is valid UTF-8 as it is; the validating initializer is generic and slower, so it is kept
            // for fields with other bytes.
            if field.allSatisfy({ $0 < 0x80 }) {
                record.append(String(decoding: field, as: UTF8.self))
            } else if let text = String(validating: field, as: UTF8.self) {
                record.append(text)
            } else {
                throw fail("field \(record.count + 1) is not valid UTF-8")
            }
            field.removeAll(keepingCapacity: true)
            if record.count > limits.maxColumns {
                throw fail("more than \(limits.maxColumns) columns")
            }
        }
        func finishRecord() throws(SamplingError) {
            try finishField()
            if width < 0 {
                width = record.count
            } else if record.count != width {
                throw SamplingError(
                    .malformedCSV,
                    "\(name): line \(recordLine): expected \(width) fields (the header's width), found \(record.count)"
                )
            }
            records.append(record)
            if records.count > limits.maxRows + 1 {
                throw fail("more than \(limits.maxRows) data rows")
            }
            record = []
            record.reserveCapacity(max(width, 0))
        }

        if i >= n { throw SamplingError(.malformedCSV, "\(name): empty file (expected a header row)") }
        while i < n {
            // Start of a field.
            if bytes[i] == UInt8(ascii: "\"") {
                let quoteLine = line
                i += 1
                var closed = false
                while i < n {
                    let b = bytes[i]
                    if b == UInt8(ascii: "\"") {
                        if i + 1 < n && bytes[i + 1] == UInt8(ascii: "\"") {
                            field.append(b)
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    if b == 0x0A { line += 1 }
                    field.append(b)
                    i += 1
                    if field.count > limits.maxFieldBytes {
                        throw fail("field larger than \(limits.maxFieldBytes) bytes")
                    }
                }
                if !closed {
                    throw SamplingError(.malformedCSV, "\(name): line \(quoteLine): unterminated quoted field")
                }
                // After a closing quote: separator, line end or end of file.
                if i < n {
                    let b = bytes[i]
                    if b == UInt8(ascii: ",") {
                        try finishField()
                        i += 1
                        if i == n { try finishRecord() }
                        continue
                    } else if b == 0x0A || (b == 0x0D && i + 1 < n && bytes[i + 1] == 0x0A) {
                        try finishRecord()
                        i += b == 0x0D ? 2 : 1
                        line += 1
                        recordLine = line
                        continue
                    } else {
                        throw fail(
                            "expected a comma or line end after a closing quote, found \"\(Character(Unicode.Scalar(b)))\""
                        )
                    }
                } else {
                    try finishRecord()
                }
                continue
            }
            // Unquoted field.
            while i < n {
                let b = bytes[i]
                if b == UInt8(ascii: ",") || b == 0x0A || b == 0x0D { break }
                if b == UInt8(ascii: "\"") { throw fail("quote inside an unquoted field") }
                field.append(b)
                i += 1
                if field.count > limits.maxFieldBytes {
                    throw fail("field larger than \(limits.maxFieldBytes) bytes")
                }
            }
            if i == n {
                try finishRecord()
                break
            }
            let b = bytes[i]
            if b == UInt8(ascii: ",") {
                try finishField()
                i += 1
                if i == n { try finishRecord() }
            } else if b == 0x0A {
                try finishRecord()
                i += 1
                line += 1
                recordLine = line
            } else {  // CR
                guard i + 1 < n, bytes[i + 1] == 0x0A else { throw fail("bare carriage return outside quotes") }
                try finishRecord()
                i += 2
                line += 1
                recordLine = line
            }
        }
        guard let header = records.first else {
            throw SamplingError(.malformedCSV, "\(name): empty file (expected a header row)")
        }
        var seen = Set<String>()
        for column in header {
            if column.isEmpty { throw SamplingError(.malformedCSV, "\(name): line 1: empty column name in the header") }
            if !seen.insert(column).inserted {
                throw SamplingError(.malformedCSV, "\(name): line 1: duplicate column name \"\(column)\"")
            }
        }
        return CSVTable(header: header, rows: Array(records.dropFirst()))
    }
}

/// Writes RFC 4180 CSV: fields holding a comma, quote, CR or LF are quoted (quotes doubled); lines end in LF.
public enum CSVWriter {
    /// The CSV bytes of `table`.
    public static func write(_ table: CSVTable) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 * (table.rows.count + 1))
        func append(_ record: [String]) {
            for (index, field) in record.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                let utf8 = field.utf8
                let needsQuotes = utf8.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
                if needsQuotes {
                    out.append(0x22)
                    for b in utf8 {
                        if b == 0x22 { out.append(0x22) }
                        out.append(b)
                    }
                    out.append(0x22)
                } else {
                    out.append(contentsOf: utf8)
                }
            }
            out.append(0x0A)
        }
        append(table.header)
        for row in table.rows { append(row) }
        return out
    }
}
