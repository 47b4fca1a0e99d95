import Foundation

/// A Python literal as NumPy writes it in a .npy header and pickles carry in dtype descriptions.
indirect enum PyLiteral: Equatable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case null
    case tuple([PyLiteral])
    case dict([(PyLiteral, PyLiteral)])

    static func == (a: PyLiteral, b: PyLiteral) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        case (.tuple(let x), .tuple(let y)): x == y
        default: false
        }
    }

    subscript(key: String) -> PyLiteral? {
        guard case .dict(let pairs) = self else { return nil }
        return pairs.first { $0.0 == .string(key) }?.1
    }

    /// Parses `text` (dicts, lists and tuples as `.tuple`, quoted strings, integers, True/False/None), at most
    /// 8 levels deep and 4,096 items.
    static func parse(_ text: String) -> PyLiteral? {
        var parser = Parser(chars: Array(text.unicodeScalars))
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skip()
        return value
    }

    struct Parser {
        var chars: [Unicode.Scalar]
        var i = 0
        var items = 0

        mutating func skip() {
            while i < chars.count, chars[i] == " " || chars[i] == "\n" || chars[i] == "\t" { i += 1 }
        }

        mutating func value(depth: Int) -> PyLiteral? {
            skip()
            items += 1
            guard i < chars.count, depth < 8, items < 4096 else { return nil }
            let c = chars[i]
            switch c {
            case "{":
                i += 1
                var pairs: [(PyLiteral, PyLiteral)] = []
                while true {
                    skip()
                    guard i < chars.count else { return nil }
                    if chars[i] == "}" {
                        i += 1
                        return .dict(pairs)
                    }
                    guard let key = value(depth: depth + 1) else { return nil }
                    skip()
                    guard i < chars.count, chars[i] == ":" else { return nil }
                    i += 1
                    guard let v = value(depth: depth + 1) else { return nil }
                    pairs.append((key, v))
                    skip()
                    if i < chars.count, chars[i] == "," { i += 1 }
                }
            case "(", "[":
                let close: Unicode.Scalar = c == "(" ? ")" : "]"
                i += 1
                var list: [PyLiteral] = []
                while true {
                    skip()
                    guard i < chars.count else { return nil }
                    if chars[i] == close {
                        i += 1
                        return .tuple(list)
                    }
                    guard let v = value(depth: depth + 1) else { return nil }
                    list.append(v)
                    skip()
                    if i < chars.count, chars[i] == "," { i += 1 }
                }
            case "'", "\"":
                i += 1
                var s = ""
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                    s.unicodeScalars.append(chars[i])
                    i += 1
                }
                guard i < chars.count else { return nil }
                i += 1
                return .string(s)
            default:
                var word = ""
                while i < chars.count,
                    chars[i].properties.isAlphabetic || ("0"..."9").contains(chars[i])
                        || chars[i] == "-" || chars[i] == "L"
                {
                    word.unicodeScalars.append(chars[i])
                    i += 1
                }
                switch word {
                case "True": return .bool(true)
                case "False": return .bool(false)
                case "None": return .null
                default:
                    if word.hasSuffix("L") { word.removeLast() }
                    return Int(word).map(PyLiteral.int)
                }
            }
        }
    }
}

/// A NumPy data type: the kinds the gate reads as values (booleans, integers, floats, strings, bytes,
/// datetimes, structured records) and those it only measures (complex, void, objects).
struct NumpyDType {
    enum Kind {
        case bool, int, uint, float, complex, unicode, bytes, datetime, timedelta, object, void, record
    }
    var kind: Kind
    /// Bytes per item.
    var size: Int
    var littleEndian = true
    /// The datetime unit (`D`, `s`, `ms`, `us`, `ns`).
    var unit = ""
    /// Fields of a structured record: name, type, offset.
    var fields: [(name: String, type: NumpyDType, offset: Int)] = []

    /// Parses a descr string (`<f8`, `|U10`, `<M8[ns]`, `|O`) or a structured list.
    static func parse(_ descr: PyLiteral) -> NumpyDType? {
        switch descr {
        case .string(let s): return parse(s)
        case .tuple(let items):
            var fields: [(String, NumpyDType, Int)] = []
            var offset = 0
            for item in items {
                guard case .tuple(let parts) = item, parts.count == 2, case .string(let name) = parts[0],
                    let type = parse(parts[1])
                else { return nil }
                fields.append((name, type, offset))
                offset += type.size
                guard offset < 1 << 24 else { return nil }
            }
            return NumpyDType(kind: .record, size: offset, fields: fields)
        default: return nil
        }
    }

    static func parse(_ text: String) -> NumpyDType? {
        var s = Substring(text)
        var little = true
        if let first = s.first, "<>|=".contains(first) {
            little = first != ">"
            s = s.dropFirst()
        }
        guard let code = s.first else { return nil }
        var rest = s.dropFirst()
        var unit = ""
        if let open = rest.firstIndex(of: "[") {
            unit = String(rest[rest.index(after: open)...].prefix { $0 != "]" })
            rest = rest[..<open]
        }
        let n = rest.isEmpty ? nil : Int(rest)
        if !rest.isEmpty && n == nil { return nil }
        func sized(_ kind: Kind, _ allowed: Set<Int>) -> NumpyDType? {
            guard let n, allowed.contains(n) else { return nil }
            return NumpyDType(kind: kind, size: n, littleEndian: little, unit: unit)
        }
        switch code {
        case "b": return sized(.int, [1]) ?? (n == nil ? NumpyDType(kind: .int, size: 1) : nil)
        case "?": return NumpyDType(kind: .bool, size: 1)
        case "i": return sized(.int, [1, 2, 4, 8])
        case "u", "B": return sized(.uint, [1, 2, 4, 8])
        case "f": return sized(.float, [2, 4, 8])
        case "c": return sized(.complex, [8, 16])
        case "U":
            guard let n, n >= 0, n < 1 << 20 else { return nil }
            return NumpyDType(kind: .unicode, size: n * 4, littleEndian: little)
        case "S", "a":
            guard let n, n >= 0, n < 1 << 22 else { return nil }
            return NumpyDType(kind: .bytes, size: n)
        case "V":
            guard let n, n >= 0, n < 1 << 22 else { return nil }
            return NumpyDType(kind: .void, size: n)
        case "M": return NumpyDType(kind: .datetime, size: 8, littleEndian: little, unit: unit)
        case "m": return NumpyDType(kind: .timedelta, size: 8, littleEndian: little, unit: unit)
        case "O": return NumpyDType(kind: .object, size: 8)
        default: return nil
        }
    }

    /// The type string pickles give numpy.dtype (`f8`, `i8`, `U5`, `M8[ns]`, `O8`) with the byte order from
    /// the dtype's state.
    static func fromPickle(_ name: String, order: String) -> NumpyDType? {
        if name.hasPrefix("O") { return NumpyDType(kind: .object, size: 8) }
        if name == "b1" { return NumpyDType(kind: .bool, size: 1) }
        return parse((order == ">" ? ">" : "<") + name)
    }

    /// One value as the text the index normalizes: integers, shortest round-trip floats, trimmed strings,
    /// ISO dates; nil for missing values and kinds that carry no comparable value.
    func cell(_ b: ArraySlice<UInt8>) -> String? {
        let start = b.startIndex
        func raw(_ n: Int) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<n {
                let byte = UInt64(b[start + (littleEndian ? k : n - 1 - k)])
                v |= byte << (8 * UInt64(k))
            }
            return v
        }
        switch kind {
        case .bool: return nil
        case .int:
            let v = raw(size)
            let shift = UInt64(64 - 8 * size)
            return String(Int64(bitPattern: v << shift) >> Int64(shift))
        case .uint: return String(raw(size))
        case .float:
            switch size {
            case 8: return Self.number(Double(bitPattern: raw(8)), short: nil)
            case 4:
                let f = Float(bitPattern: UInt32(raw(4)))
                return Self.number(Double(f), short: f.isFinite ? f.description : nil)
            default: return Self.number(Self.half(UInt16(raw(2))), short: nil)
            }
        case .unicode:
            var s = ""
            var k = 0
            while k + 4 <= size {
                let v = UInt32(truncatingIfNeeded: Self.word(b, start + k, littleEndian))
                if v == 0 { break }
                if let scalar = Unicode.Scalar(v) { s.unicodeScalars.append(scalar) }
                k += 4
            }
            return s
        case .bytes:
            let end = b.firstIndex(of: 0) ?? b.endIndex
            return String(decoding: b[start..<end], as: UTF8.self)
        case .datetime:
            let v = Int64(bitPattern: raw(8))
            guard v != Int64.min else { return nil }
            return Self.date(v, unit: unit)
        default: return nil
        }
    }

    static func word(_ b: ArraySlice<UInt8>, _ at: Int, _ little: Bool) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<4 { v |= UInt64(b[at + (little ? k : 3 - k)]) << (8 * UInt64(k)) }
        return v
    }

    static func number(_ d: Double, short: String?) -> String? {
        guard d.isFinite else { return nil }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return short ?? d.description
    }

    static func half(_ h: UInt16) -> Double {
        let sign = (h >> 15) == 1 ? -1.0 : 1.0
        let exponent = Int((h >> 10) & 0x1F)
        let fraction = Double(h & 0x3FF)
        if exponent == 0 { return sign * fraction * pow(2, -24) }
        if exponent == 31 { return .nan }
        return sign * (1 + fraction / 1024) * pow(2, Double(exponent - 15))
    }

    /// `YYYY-MM-DD` (and the time of day when it is not midnight) of a datetime64 value.
    static func date(_ value: Int64, unit: String) -> String? {
        let perSecond: Int64
        switch unit {
        case "D": return civil(days: value)
        case "s": perSecond = 1
        case "ms": perSecond = 1_000
        case "us": perSecond = 1_000_000
        case "ns": perSecond = 1_000_000_000
        default: return String(value)
        }
        let seconds = value / perSecond
        let (days, rest) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let (d, r) = rest < 0 ? (days - 1, rest + 86_400) : (days, rest)
        guard let day = civil(days: d) else { return nil }
        if r == 0 && value % perSecond == 0 { return day }
        return day + String(format: " %02d:%02d:%02d", r / 3600, r / 60 % 60, r % 60)
    }

    /// Howard Hinnant's days-from-civil, inverted.
    static func civil(days: Int64) -> String? {
        guard abs(days) < 3_000_000 else { return nil }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return String(format: "%04d-%02d-%02d", y, m, d)
    }
}

/// A NumPy array of values the gate can read: its type, shape and raw bytes (C or Fortran order), or, for
/// object arrays, the cells a pickle gave.
struct NumpyArray {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    var dtype: NumpyDType
    var shape: [Int]
    var fortran = false
    var data: ArraySlice<UInt8> = []
    /// Object arrays: the cells as text (nil for values that are not strings or numbers).
    var objects: [String?]? = nil

    var count: Int { shape.reduce(1, *) }

    /// The grid the checks read: rows × columns (1-D arrays are one column; more dimensions fold into rows).
    var rows: Int {
        if dtype.kind == .record { return count }
        if shape.count <= 1 { return count }
        return shape.dropLast().reduce(1, *)
    }
    var columns: Int {
        if dtype.kind == .record { return dtype.fields.count }
        return shape.count <= 1 ? 1 : shape.last!
    }

    /// The cell at row `r`, column `c`.
    func cell(_ r: Int, _ c: Int) -> String? {
        if dtype.kind == .record {
            let field = dtype.fields[c]
            let at = data.startIndex + r * dtype.size + field.offset
            guard field.type.kind != .record, at + field.type.size <= data.endIndex else { return nil }
            return field.type.cell(data[at..<(at + field.type.size)])
        }
        var flat = r * columns + c
        if fortran && shape.count == 2 { flat = c * shape[0] + r }
        if let objects { return flat < objects.count ? objects[flat] : nil }
        let at = data.startIndex + flat * dtype.size
        guard dtype.size > 0, at + dtype.size <= data.endIndex else { return nil }
        return dtype.cell(data[at..<(at + dtype.size)])
    }

    var isText: Bool { dtype.kind == .unicode || dtype.kind == .bytes || dtype.kind == .object }

    /// Why a header is refused.
    struct Malformed: Error {
        var reason: String
    }

    /// Parses a .npy file: the header, then the data (object arrays: the header, and the offset of the pickle
    /// that follows it in `pickleStart`).
    static func parse(_ b: [UInt8]) throws(Malformed) -> (array: NumpyArray, pickleStart: Int?) {
        guard b.count >= 10, b.starts(with: magic) else { throw Malformed(reason: "no \\x93NUMPY magic") }
        let major = b[6]
        var headerLength: Int
        var at: Int
        switch major {
        case 1:
            headerLength = Int(b[8]) | Int(b[9]) << 8
            at = 10
        case 2, 3:
            guard b.count >= 12 else { throw Malformed(reason: "truncated header") }
            headerLength = ZipReader.u32(b, 8)
            at = 12
        default: throw Malformed(reason: "format version \(major)")
        }
        guard headerLength <= 1 << 20, at + headerLength <= b.count else {
            throw Malformed(reason: "a header of \(headerLength) bytes that runs past the file")
        }
        let header = String(decoding: b[at..<(at + headerLength)], as: UTF8.self)
        guard let literal = PyLiteral.parse(header), let descr = literal["descr"],
            let dtype = NumpyDType.parse(descr)
        else { throw Malformed(reason: "a header that is not {'descr', 'fortran_order', 'shape'}") }
        guard case .tuple(let dims)? = literal["shape"] else { throw Malformed(reason: "no shape in the header") }
        var shape: [Int] = []
        var count = 1
        for dim in dims {
            guard case .int(let n) = dim, n >= 0, n < 1 << 40 else { throw Malformed(reason: "a bad dimension") }
            shape.append(n)
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product < 1 << 40 else { throw Malformed(reason: "more than 2^40 items") }
            count = product
        }
        let fortran = literal["fortran_order"] == .bool(true)
        let start = at + headerLength
        var array = NumpyArray(dtype: dtype, shape: shape, fortran: fortran)
        if dtype.kind == .object { return (array, start) }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, start + bytes <= b.count else {
            throw Malformed(reason: "\(count) items of \(dtype.size) bytes, more than the file holds")
        }
        array.data = b[start..<(start + bytes)]
        return (array, nil)
    }
}

extension GateScan {
    /// Reads a .npy array and checks it; an object array's pickle is walked, never loaded.
    mutating func npy(_ bytes: [UInt8], place: String) {
        let parsed: (array: NumpyArray, pickleStart: Int?)
        do {
            parsed = try NumpyArray.parse(bytes)
        } catch {
            add("file-type", .likely, place, "a NumPy file the gate cannot read: \(error.reason)")
            return
        }
        if let start = parsed.pickleStart {
            pickle(Array(bytes[start...]), place: place + " (object array pickle)")
            return
        }
        checkArray(parsed.array, place: place)
    }

    /// Checks an array against the dataset: every cell against identifiers and canaries, every row (and, for
    /// a short wide array, every column) against row fingerprints and record triples, and consecutive values
    /// of a flat array for the cells of one row.
    mutating func checkArray(_ array: NumpyArray, place: String) {
        switch array.dtype.kind {
        case .complex, .void, .timedelta, .bool: return
        default: break
        }
        let rows = array.rows
        let columns = array.columns
        guard rows > 0, columns > 0 else { return }
        var window: [(Int, UInt64)] = []
        for r in 0..<rows {
            if r & 1023 == 1023, outOfTime { return timeUp("\(place) row \(r + 1)") }
            var cells: [String] = []
            cells.reserveCapacity(columns)
            for c in 0..<columns {
                guard let cell = array.cell(r, c) else { continue }
                cells.append(cell)
            }
            let rowPlace = columns == 1 ? "\(place) item \(r + 1)" : "\(place) row \(r + 1)"
            checkCells(cells, place: rowPlace, text: array.isText || array.dtype.kind == .record)
            // A flat array that lists rows cell after cell: three record cells of one row within 8 values.
            if columns == 1, let cell = cells.first {
                let h = GateText.hash(GateText.normalize(cell))
                if index.recordValues.contains(h) {
                    window.append((r, h))
                    window.removeAll { $0.0 <= r - 8 }
                    if window.count >= 3 {
                        triples(window.map(\.1), place: "\(place) items \(window[0].0 + 1)-\(r + 1)")
                    }
                }
            }
        }
        // A transposed table (one row per column of the data): its columns are the records.
        if rows <= 64 && columns > rows && rows >= 2 {
            for c in 0..<columns {
                if c & 1023 == 1023, outOfTime { return timeUp("\(place) column \(c + 1)") }
                let cells = (0..<rows).compactMap { array.cell($0, c) }
                checkCells(cells, place: "\(place) column \(c + 1)", text: false)
            }
        }
    }

    /// One row of cells: identifier and canary values, and the row as a record.
    mutating func checkCells(_ cells: [String], place: String, text: Bool) {
        for cell in cells {
            let normalized = GateText.normalize(cell)
            guard !normalized.isEmpty else { continue }
            let h = GateText.hash(normalized)
            if let source = index.identifiers[h] {
                add("identifier", .certain, place, "a value of \(index.describe(source)) of the dataset")
            } else if let canary = index.canaryValues[h] {
                add("canary", .certain, place, "a value of canary \(canary) of the dataset")
            } else if text, cell.contains(where: { $0 == " " || $0 == "@" || $0 == "," || $0 == "\n" }) {
                self.text(cell, prefix: place + ": ", depth: 0)
            }
        }
        if cells.count >= 2 { record(cells: cells, place: place, depth: 0) }
    }
}
