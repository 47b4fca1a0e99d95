import ChainCore
public import ComputingPlane
import Foundation
public import PlaneProtocol

/// How the review page shows one output file: as data the page puts into the DOM with `textContent` only.
///
/// Every output is written by the job (the attacker, for this purpose), so nothing here is markup: a CSV or
/// TSV file becomes a table of strings (capped; says when truncated), valid UTF-8 becomes lines of text
/// (HTML and SVG included: shown as text, never rendered), an image is offered only as a re-encoded copy
/// (``reencodedImage(_:)``), and anything else is a hex dump. The gate's findings are attached to the
/// places their `where` names: `row N, column "C"` marks a cell, `row N` a row, `line N` a line, `byte N`
/// the line or dump row holding that offset; for a finding inside a decoded payload the first place named
/// (the outermost) is marked.
public enum ReviewRendering {
    public static let maxRows = 200
    public static let maxColumns = 40
    public static let maxCellCharacters = 200
    public static let maxLines = 2000
    public static let maxLineCharacters = 2000
    public static let maxDumpBytes = 4096

    /// The image as a fresh PNG of its decoded pixels with nothing of the original's chunks or trailing
    /// bytes (``GateImage/reencode(_:maxPixels:)``), or nil when none can be made: a JPEG, a 16-bit or
    /// interlaced PNG (the page then says "no preview").
    public static func reencodedImage(_ bytes: [UInt8]) -> [UInt8]? { GateImage.reencode(bytes) }

    /// A place in a file that a finding names.
    public enum Place: Hashable, Sendable {
        /// Data row (1-based; 0 is the header) and, when named, the column.
        case cell(row: Int, column: String?)
        case line(Int)
        case byte(Int)
        case header
    }

    /// The outermost place `text` names, nil when it names none this page can mark.
    public static func place(_ text: String) -> Place? {
        let scalars = Array(text)
        func number(after index: Int) -> Int? {
            var digits = ""
            var i = index
            while i < scalars.count, let d = scalars[i].wholeNumberValue, scalars[i].isASCII {
                digits.append(Character(String(d)))
                i += 1
            }
            return digits.isEmpty ? nil : Int(digits.prefix(12))
        }
        // The first keyword wins: a decoding path names the outer file's place first.
        var best: (Int, Place)? = nil
        for (keyword, make) in [
            ("row ", { (n: Int) -> Place in .cell(row: n, column: column(in: text)) }), ("line ", { .line($0) }),
            ("byte ", { .byte($0) }),
        ] as [(String, (Int) -> Place)] {
            guard let range = text.range(of: keyword) else { continue }
            let start = text.distance(from: text.startIndex, to: range.upperBound)
            guard let n = number(after: start) else { continue }
            let at = text.distance(from: text.startIndex, to: range.lowerBound)
            if best == nil || at < best!.0 { best = (at, make(n)) }
        }
        if let best { return best.1 }
        return text.hasPrefix("header") ? .header : nil
    }

    /// The quoted column name after `column "` (the gate quotes it).
    static func column(in text: String) -> String? {
        guard let open = text.range(of: "column \"") else { return nil }
        let rest = text[open.upperBound...]
        guard let close = rest.lastIndex(of: "\"") else { return nil }
        return String(rest[..<close])
    }

    /// The file as the page's JSON.
    public static func render(path: String, bytes: [UInt8], findings: [GateFinding], index: Int) -> OrderedJSON {
        let places = findings.map { place($0.where) }
        var fields: [(String, OrderedJSON)] = [
            ("index", .int(index)), ("path", .string(path)), ("size", .int(bytes.count)),
            ("sha256", .string(BundleDigest.of(bytes).hex)),
            (
                "findings",
                .array(
                    findings.map {
                        .object([
                            ("check", .string($0.check)), ("severity", .string($0.severity.rawValue)),
                            ("where", .string($0.where)), ("detail", .string($0.detail)),
                        ])
                    }
                )
            ),
        ]
        let lower = path.lowercased()
        if isImage(bytes) {
            fields.append(("kind", .string("image")))
            fields.append(("preview", .bool(reencodedImage(bytes) != nil)))
        } else if lower.hasSuffix(".csv") || lower.hasSuffix(".tsv"),
            let text = String(validating: bytes, as: UTF8.self)
        {
            fields += table(text, separator: lower.hasSuffix(".tsv") ? "\t" : ",", places: places)
        } else if let text = String(validating: bytes, as: UTF8.self), !bytes.contains(0) {
            fields += lines(text, places: places)
        } else {
            fields += dump(bytes, places: places)
        }
        return .object(fields)
    }

    static func isImage(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) || bytes.starts(with: [0xFF, 0xD8, 0xFF])
            || bytes.starts(with: Array("GIF8".utf8))
    }

    static func clip(_ text: some StringProtocol, _ limit: Int) -> (String, Bool) {
        text.count > limit ? (String(text.prefix(limit)), true) : (String(text), false)
    }

    /// A CSV/TSV table: rows of cells (header first), with `flagged` [row, column] pairs (column -1: the
    /// whole row).
    static func table(_ text: String, separator: Character, places: [Place?]) -> [(String, OrderedJSON)] {
        let all = parse(text, separator: separator, maxRows: maxRows + 1)
        let header = all.rows.first ?? []
        var clipped = false
        let rows: [OrderedJSON] = all.rows.map { row in
            .array(
                row.prefix(maxColumns).map { cell in
                    let (text, cut) = clip(cell, maxCellCharacters)
                    clipped = clipped || cut
                    return .string(text)
                }
            )
        }
        var flagged: [OrderedJSON] = []
        for case .some(let place) in places {
            switch place {
            case .cell(let row, let column):
                let index = column.flatMap { name in header.firstIndex(of: name) } ?? -1
                flagged.append(.array([.int(row), .int(index)]))
            case .header: flagged.append(.array([.int(0), .int(-1)]))
            case .line(let n): flagged.append(.array([.int(n - 1), .int(-1)]))
            case .byte: break
            }
        }
        let columns = all.rows.map(\.count).max() ?? 0
        return [
            ("kind", .string("table")), ("rows", .array(rows)), ("flagged", .array(flagged)),
            ("totalRows", .int(all.total)), ("totalColumns", .int(columns)),
            ("truncated", .bool(all.total > rows.count || columns > maxColumns || clipped)),
        ]
    }

    /// RFC 4180-ish: quoted fields may hold separators, quotes ("") and newlines. Keeps at most `maxRows`
    /// rows and counts the rest.
    static func parse(_ text: String, separator: Character, maxRows: Int) -> (rows: [[String]], total: Int) {
        var rows: [[String]] = []
        var row: [String] = []
        var cell = ""
        var quoted = false
        var total = 0
        var iterator = text.makeIterator()
        var pending: Character? = nil
        func endRow() {
            row.append(cell)
            cell = ""
            if rows.count < maxRows { rows.append(row) }
            total += 1
            row = []
        }
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            cell.append("\"")
                        } else {
                            quoted = false
                            pending = next
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(c)
                }
            } else if c == "\"" && cell.isEmpty {
                quoted = true
            } else if c == separator {
                row.append(cell)
                cell = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                endRow()
            } else {
                cell.append(c)
            }
        }
        if !cell.isEmpty || !row.isEmpty { endRow() }
        return (rows, total)
    }

    /// Text as lines, with the 1-based numbers of flagged lines.
    static func lines(_ text: String, places: [Place?]) -> [(String, OrderedJSON)] {
        let all = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        var clipped = false
        let shown: [OrderedJSON] = all.prefix(maxLines).map { line in
            let (text, cut) = clip(line, maxLineCharacters)
            clipped = clipped || cut
            return .string(text)
        }
        var flagged: [Int] = []
        for case .some(let place) in places {
            switch place {
            case .line(let n): flagged.append(n)
            case .cell(let row, _): flagged.append(row + 1)
            case .header: flagged.append(1)
            case .byte(let offset): flagged.append(lineNumber(of: offset, in: Array(text.utf8)))
            }
        }
        return [
            ("kind", .string("text")), ("lines", .array(shown)), ("flagged", .array(flagged.map { .int($0) })),
            ("totalLines", .int(all.count)), ("truncated", .bool(all.count > maxLines || clipped)),
        ]
    }

    static func lineNumber(of offset: Int, in bytes: [UInt8]) -> Int {
        1 + bytes.prefix(max(0, offset)).reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// Bytes that are neither text nor an image: a hex dump of the first ``maxDumpBytes``, 16 per line.
    static func dump(_ bytes: [UInt8], places: [Place?]) -> [(String, OrderedJSON)] {
        let shown = bytes.prefix(maxDumpBytes)
        var lines: [OrderedJSON] = []
        var offset = 0
        while offset < shown.count {
            let chunk = shown[offset..<min(offset + 16, shown.count)]
            let hex = chunk.map { String(format: "%02x", $0) }.joined(separator: " ")
            let ascii = String(chunk.map { (0x20..<0x7F).contains($0) ? Character(UnicodeScalar($0)) : "." })
            let padded = hex.padding(toLength: 47, withPad: " ", startingAt: 0)
            lines.append(.string(String(format: "%08x  ", offset) + padded + "  " + ascii))
            offset += 16
        }
        var flagged: [Int] = []
        for case .some(.byte(let at)) in places { flagged.append(at / 16 + 1) }
        return [
            ("kind", .string("binary")), ("lines", .array(lines)), ("flagged", .array(flagged.map { .int($0) })),
            ("truncated", .bool(bytes.count > maxDumpBytes)),
        ]
    }
}
