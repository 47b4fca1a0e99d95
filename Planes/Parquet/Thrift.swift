// Thrift compact protocol (the encoding of Parquet's footer and page headers), read into a small generic tree:
//   field header: one byte, high nibble = field id delta (0: a zigzag varint i16 id follows), low nibble = type
//     (1 true, 2 false, 3 i8, 4 i16, 5 i32, 6 i64, 7 double, 8 binary, 9 list, 10 set, 11 map, 12 struct);
//     a 0 byte ends the struct.
//   integers: zigzag ULEB128 varints (i8 is one raw byte); double: 8 bytes little-endian;
//   binary: varint length + bytes; list/set: one byte, size in the high nibble (15: a varint size follows) and
//     the element type in the low nibble; map: varint size, then (if non-empty) one byte key type | value type.
// Every read is bounded: the nesting depth, every length against the bytes that remain, varints to 10 bytes.

/// A decoded Thrift value.
indirect enum ThriftValue: Sendable {
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case binary([UInt8])
    case list([ThriftValue])
    case structure(ThriftStruct)
    /// Maps are read and skipped (Parquet's metadata has none).
    case map
}

/// A decoded Thrift struct: its fields by id.
struct ThriftStruct: Sendable {
    var fields: [(id: Int16, value: ThriftValue)] = []

    subscript(_ id: Int16) -> ThriftValue? {
        for field in fields where field.id == id { return field.value }
        return nil
    }

    func int(_ id: Int16) -> Int64? {
        if case .int(let v) = self[id] { return v }
        return nil
    }

    func bool(_ id: Int16) -> Bool? {
        if case .bool(let v) = self[id] { return v }
        return nil
    }

    func string(_ id: Int16) -> String? {
        if case .binary(let v) = self[id] { return String(decoding: v, as: UTF8.self) }
        return nil
    }

    func structure(_ id: Int16) -> ThriftStruct? {
        if case .structure(let v) = self[id] { return v }
        return nil
    }

    func list(_ id: Int16) -> [ThriftValue]? {
        if case .list(let v) = self[id] { return v }
        return nil
    }

    /// The first field's id, for unions (LogicalType, TimeUnit).
    var unionTag: Int16? { fields.first?.id }
}

/// Reads one struct in compact protocol from `bytes[start..<end]`.
struct ThriftReader {
    /// Deepest nesting of structs, lists and maps accepted.
    static let maxDepth = 32

    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int
    /// What is being read, for error messages ("footer", "page header at offset 1234").
    let context: String

    init(_ bytes: [UInt8], start: Int, end: Int, context: String) {
        self.bytes = bytes
        self.position = start
        self.end = min(end, bytes.count)
        self.context = context
    }

    private func fail(_ message: String) -> ParquetError {
        ParquetError(.malformed, "\(context): corrupt Thrift at byte \(position): \(message)")
    }

    private mutating func byte() throws(ParquetError) -> UInt8 {
        guard position < end else { throw fail("expected another byte, found the end of the data") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func varint() throws(ParquetError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64, shift < 63 || b & 0x7F <= 1 else { throw fail("a varint longer than 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func zigzag() throws(ParquetError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    private mutating func length() throws(ParquetError) -> Int {
        let v = try varint()
        guard v <= UInt64(end - position) else {
            throw fail("a length of \(v) but only \(end - position) bytes remain")
        }
        return Int(v)
    }

    /// Reads a struct (the top-level value).
    mutating func readStruct() throws(ParquetError) -> ThriftStruct {
        try readStruct(depth: 0)
    }

    private mutating func readStruct(depth: Int) throws(ParquetError) -> ThriftStruct {
        guard depth < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
        var result = ThriftStruct()
        var lastID: Int16 = 0
        while true {
            let header = try byte()
            if header == 0 { return result }
            let type = header & 0x0F
            let delta = header >> 4
            let id: Int16
            if delta == 0 {
                let raw = try zigzag()
                guard let narrow = Int16(exactly: raw) else { throw fail("field id \(raw) out of the i16 range") }
                id = narrow
            } else {
                let (sum, overflow) = lastID.addingReportingOverflow(Int16(delta))
                guard !overflow else { throw fail("field id overflows i16") }
                id = sum
            }
            lastID = id
            let value: ThriftValue
            switch type {
            case 1: value = .bool(true)
            case 2: value = .bool(false)
            default: value = try readValue(type: type, depth: depth + 1)
            }
            result.fields.append((id, value))
        }
    }

    private mutating func readValue(type: UInt8, depth: Int) throws(ParquetError) -> ThriftValue {
        switch type {
        case 1, 2:
            // Only inside lists and sets: one byte per boolean.
            return .bool(try byte() == 1)
        case 3: return .int(Int64(Int8(bitPattern: try byte())))
        case 4, 5, 6: return .int(try zigzag())
        case 7:
            guard end - position >= 8 else { throw fail("expected 8 bytes of a double, found \(end - position)") }
            var bits: UInt64 = 0
            for i in 0..<8 { bits |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
            position += 8
            return .double(Double(bitPattern: bits))
        case 8:
            let n = try length()
            defer { position += n }
            return .binary(Array(bytes[position..<position + n]))
        case 9, 10:
            guard depth < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
            let header = try byte()
            let elementType = header & 0x0F
            var count = Int(header >> 4)
            if count == 15 { count = try length() }
            // Every element takes at least one byte, so a count larger than what remains is a lie.
            guard count <= end - position else {
                throw fail("a list of \(count) elements but only \(end - position) bytes remain")
            }
            var items: [ThriftValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                if elementType == 12 {
                    items.append(.structure(try readStruct(depth: depth + 1)))
                } else {
                    items.append(try readValue(type: elementType, depth: depth + 1))
                }
            }
            return .list(items)
        case 11:
            guard depth < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
            let count = try length()
            guard count > 0 else { return .map }
            let kv = try byte()
            guard count * 2 <= end - position else {
                throw fail("a map of \(count) entries but only \(end - position) bytes remain")
            }
            for _ in 0..<count {
                for t in [kv >> 4, kv & 0x0F] {
                    if t == 12 {
                        _ = try readStruct(depth: depth + 1)
                    } else {
                        _ = try readValue(type: t, depth: depth + 1)
                    }
                }
            }
            return .map
        case 12: return .structure(try readStruct(depth: depth))
        default: throw fail("unknown field type \(type)")
        }
    }
}
