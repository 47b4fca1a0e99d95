// Solidity contract ABI: types, encoding and strict decoding of static and dynamic values, and event logs.
//
// Decoding treats its input as hostile: offsets and lengths are bounds-checked before anything is allocated,
// padding must be zero, and values must fit their declared width, so a malicious log cannot crash the
// indexer or smuggle a different value past a later re-encoding.

/// An ABI type.
public indirect enum ABIType: Hashable, Sendable, CustomStringConvertible {
    case uint(Int)
    case int(Int)
    case address
    case bool
    /// bytes1…bytes32.
    case fixedBytes(Int)
    case bytes
    case string
    case array(ABIType)
    case fixedArray(ABIType, Int)
    case tuple([ABIType])

    /// Parses a canonical or aliased type: "uint" (uint256), "int", "bytes32", "(uint256,string)[2][]"…
    public init(parsing text: String) throws(ChainError) {
        var parser = ABITypeParser(text: Array(text.utf8))
        self = try parser.parse()
        guard parser.position == parser.text.count else {
            throw ChainError(.invalidABI, "unexpected text after type at position \(parser.position) in \"\(text)\"")
        }
    }

    /// The canonical form used in signatures.
    public var description: String {
        switch self {
        case .uint(let n): return "uint\(n)"
        case .int(let n): return "int\(n)"
        case .address: return "address"
        case .bool: return "bool"
        case .fixedBytes(let n): return "bytes\(n)"
        case .bytes: return "bytes"
        case .string: return "string"
        case .array(let t): return "\(t)[]"
        case .fixedArray(let t, let n): return "\(t)[\(n)]"
        case .tuple(let ts): return "(" + ts.map(\.description).joined(separator: ",") + ")"
        }
    }

    /// Whether the value lives in the tail (dynamic) rather than in place.
    public var isDynamic: Bool {
        switch self {
        case .bytes, .string, .array: return true
        case .fixedArray(let t, let n): return n > 0 && t.isDynamic
        case .tuple(let ts): return ts.contains(where: \.isDynamic)
        default: return false
        }
    }

    /// Bytes a value of this type takes in the head.
    var headSize: Int {
        switch self {
        case .fixedArray(let t, let n) where !isDynamic: return t.headSize * n
        case .tuple(let ts) where !isDynamic: return ts.reduce(0) { $0 + $1.headSize }
        default: return 32
        }
    }
}

struct ABITypeParser {
    let text: [UInt8]
    var position = 0

    mutating func parse() throws(ChainError) -> ABIType {
        var base: ABIType
        if position < text.count && text[position] == UInt8(ascii: "(") {
            position += 1
            var members: [ABIType] = []
            if position < text.count && text[position] == UInt8(ascii: ")") {
                position += 1
            } else {
                while true {
                    members.append(try parse())
                    guard position < text.count else { throw fail("unterminated tuple") }
                    let c = text[position]
                    position += 1
                    if c == UInt8(ascii: ")") { break }
                    guard c == UInt8(ascii: ",") else { throw fail("expected ',' or ')' in tuple") }
                }
            }
            base = .tuple(members)
        } else {
            let start = position
            while position < text.count, isNameByte(text[position]) { position += 1 }
            base = try elementary(String(decoding: text[start..<position], as: UTF8.self))
        }
        while position < text.count && text[position] == UInt8(ascii: "[") {
            position += 1
            let start = position
            while position < text.count, text[position] >= 0x30 && text[position] <= 0x39 { position += 1 }
            guard position < text.count && text[position] == UInt8(ascii: "]") else {
                throw fail("unterminated array suffix")
            }
            let digits = String(decoding: text[start..<position], as: UTF8.self)
            position += 1
            if digits.isEmpty {
                base = .array(base)
            } else {
                guard let n = Int(digits), n > 0, n <= 65_536 else { throw fail("array length \(digits) out of range") }
                base = .fixedArray(base, n)
            }
        }
        return base
    }

    private func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
    }

    private func fail(_ what: String) -> ChainError {
        ChainError(.invalidABI, "\(what) at position \(position) in \"\(String(decoding: text, as: UTF8.self))\"")
    }

    private func elementary(_ name: String) throws(ChainError) -> ABIType {
        switch name {
        case "address": return .address
        case "bool": return .bool
        case "string": return .string
        case "bytes": return .bytes
        case "uint": return .uint(256)
        case "int": return .int(256)
        case "function": return .fixedBytes(24)
        default: break
        }
        for (prefix, make) in [("uint", ABIType.uint), ("int", ABIType.int)] where name.hasPrefix(prefix) {
            if let n = Int(name.dropFirst(prefix.count)), n % 8 == 0, (8...256).contains(n) { return make(n) }
        }
        if name.hasPrefix("bytes"), let n = Int(name.dropFirst(5)), (1...32).contains(n) { return .fixedBytes(n) }
        throw ChainError(.invalidABI, "unknown ABI type \"\(name)\"")
    }
}

/// An ABI value. Signed integers are held as 256-bit two's complement words.
public indirect enum ABIValue: Hashable, Sendable {
    case uint(U256)
    case int(U256)
    case address(Address)
    case bool(Bool)
    case fixedBytes([UInt8])
    case bytes([UInt8])
    case string(String)
    case array([ABIValue])
    case tuple([ABIValue])

    /// A signed value from a Swift integer.
    public static func int(_ v: Int64) -> ABIValue {
        v >= 0 ? .int(U256(UInt64(v))) : .int(U256.max - U256(UInt64(-(v + 1))))
    }
}

/// ABI encoding and decoding.
public enum ABI {
    /// Encodes `values` as the tuple of `types` (function arguments, event data).
    public static func encode(_ types: [ABIType], _ values: [ABIValue]) throws(ChainError) -> [UInt8] {
        try encode(.tuple(types), .tuple(values))
    }

    /// Encodes one value of `type`.
    public static func encode(_ type: ABIType, _ value: ABIValue) throws(ChainError) -> [UInt8] {
        switch (type, value) {
        case (.uint(let bits), .uint(let v)):
            guard v.bitWidth <= bits else { throw ChainError(.invalidABI, "value \(v) does not fit uint\(bits)") }
            return v.bigEndianBytes
        case (.int(let bits), .int(let v)):
            guard fitsSigned(v, bits: bits) else { throw ChainError(.invalidABI, "value does not fit int\(bits)") }
            return v.bigEndianBytes
        case (.address, .address(let a)):
            return [UInt8](repeating: 0, count: 12) + a.bytes
        case (.bool, .bool(let b)):
            return [UInt8](repeating: 0, count: 31) + [b ? 1 : 0]
        case (.fixedBytes(let n), .fixedBytes(let b)):
            guard b.count == n else { throw ChainError(.invalidABI, "bytes\(n) needs \(n) bytes, found \(b.count)") }
            return b + [UInt8](repeating: 0, count: 32 - n)
        case (.bytes, .bytes(let b)):
            return U256(UInt64(b.count)).bigEndianBytes + padded(b)
        case (.string, .string(let s)):
            let b = Array(s.utf8)
            return U256(UInt64(b.count)).bigEndianBytes + padded(b)
        case (.array(let t), .array(let items)):
            return U256(UInt64(items.count)).bigEndianBytes
                + (try encodeSequence(Array(repeating: t, count: items.count), items))
        case (.fixedArray(let t, let n), .array(let items)):
            guard items.count == n else {
                throw ChainError(.invalidABI, "\(type) needs \(n) items, found \(items.count)")
            }
            return try encodeSequence(Array(repeating: t, count: n), items)
        case (.tuple(let ts), .tuple(let items)):
            guard items.count == ts.count else {
                throw ChainError(.invalidABI, "\(type) needs \(ts.count) items, found \(items.count)")
            }
            return try encodeSequence(ts, items)
        default:
            throw ChainError(.invalidABI, "value \(value) does not match type \(type)")
        }
    }

    private static func encodeSequence(_ types: [ABIType], _ values: [ABIValue]) throws(ChainError) -> [UInt8] {
        let headLength = types.reduce(0) { $0 + $1.headSize }
        var head: [UInt8] = []
        var tail: [UInt8] = []
        for (t, v) in zip(types, values) {
            let encoded = try encode(t, v)
            if t.isDynamic {
                head += U256(UInt64(headLength + tail.count)).bigEndianBytes
                tail += encoded
            } else {
                head += encoded
            }
        }
        return head + tail
    }

    private static func padded(_ b: [UInt8]) -> [UInt8] {
        b + [UInt8](repeating: 0, count: (32 - b.count % 32) % 32)
    }

    static func fitsSigned(_ v: U256, bits: Int) -> Bool {
        guard bits < 256 else { return true }
        // The top 256 - bits + 1 bits must all equal the sign bit.
        let negative = v.bit(255)
        for i in (bits - 1)..<256 where v.bit(i) != negative { return false }
        return true
    }

    // MARK: Decoding

    /// Decodes the tuple of `types` from `data`; trailing bytes beyond what the types reference are allowed
    /// (as in calldata), but every referenced byte must be in range.
    ///
    /// With `rawStrings`, every `string` comes back as `.bytes` holding exactly the encoded bytes (the ABI does
    /// not require UTF-8); without it, a string that is not UTF-8 is an error.
    public static func decode(
        _ types: [ABIType],
        from data: [UInt8],
        rawStrings: Bool = false
    ) throws(ChainError) -> [ABIValue] {
        let options = DecodeOptions(rawStrings: rawStrings)
        guard case .tuple(let values) = try decode(.tuple(types), data: data[...], at: 0, depth: 0, options: options)
        else { return [] }
        return values
    }

    private struct DecodeOptions {
        var rawStrings: Bool
    }

    private static func word(_ data: ArraySlice<UInt8>, _ offset: Int) throws(ChainError) -> ArraySlice<UInt8> {
        guard offset >= 0, offset <= data.count - 32 else {
            throw ChainError(.invalidABI, "expected 32 bytes at offset \(offset), found \(max(0, data.count - offset))")
        }
        let start = data.startIndex + offset
        return data[start..<start + 32]
    }

    private static func smallInt(_ w: ArraySlice<UInt8>, _ what: String, limit: Int) throws(ChainError) -> Int {
        guard w.prefix(24).allSatisfy({ $0 == 0 }) else { throw ChainError(.invalidABI, "\(what) is too large") }
        let v = w.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard v <= UInt64(limit) else {
            throw ChainError(.invalidABI, "\(what) \(v) exceeds the \(limit) bytes available")
        }
        return Int(v)
    }

    private static func decode(
        _ type: ABIType,
        data: ArraySlice<UInt8>,
        at offset: Int,
        depth: Int,
        options: DecodeOptions
    ) throws(ChainError) -> ABIValue {
        guard depth < 64 else { throw ChainError(.invalidABI, "nesting deeper than 64") }
        switch type {
        case .uint(let bits):
            let v = try U256(bigEndian: word(data, offset))
            guard v.bitWidth <= bits else {
                throw ChainError(.invalidABI, "value at offset \(offset) does not fit uint\(bits)")
            }
            return .uint(v)
        case .int(let bits):
            let v = try U256(bigEndian: word(data, offset))
            guard fitsSigned(v, bits: bits) else {
                throw ChainError(.invalidABI, "value at offset \(offset) does not fit int\(bits)")
            }
            return .int(v)
        case .address:
            let w = try word(data, offset)
            guard w.prefix(12).allSatisfy({ $0 == 0 }) else {
                throw ChainError(.invalidABI, "address at offset \(offset) has non-zero padding")
            }
            return .address(try Address(w.suffix(20)))
        case .bool:
            let w = try word(data, offset)
            guard w.prefix(31).allSatisfy({ $0 == 0 }), w.last! <= 1 else {
                throw ChainError(.invalidABI, "bool at offset \(offset) is not 0 or 1")
            }
            return .bool(w.last! == 1)
        case .fixedBytes(let n):
            let w = try word(data, offset)
            guard w.dropFirst(n).allSatisfy({ $0 == 0 }) else {
                throw ChainError(.invalidABI, "bytes\(n) at offset \(offset) has non-zero padding")
            }
            return .fixedBytes(Array(w.prefix(n)))
        case .bytes, .string:
            let length = try smallInt(word(data, offset), "length at offset \(offset)", limit: data.count - offset - 32)
            let start = data.startIndex + offset + 32
            let padded = (length + 31) / 32 * 32
            guard padded <= data.count - offset - 32 else {
                throw ChainError(.invalidABI, "padding of \(type) at offset \(offset) runs past the data")
            }
            guard data[(start + length)..<(start + padded)].allSatisfy({ $0 == 0 }) else {
                throw ChainError(.invalidABI, "\(type) at offset \(offset) has non-zero padding")
            }
            let bytes = Array(data[start..<start + length])
            if case .bytes = type { return .bytes(bytes) }
            if options.rawStrings { return .bytes(bytes) }
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw ChainError(.invalidABI, "string at offset \(offset) is not valid UTF-8")
            }
            return .string(s)
        case .array(let t):
            let count = try smallInt(
                word(data, offset),
                "array length at offset \(offset)",
                limit: (data.count - offset - 32) / 32
            )
            let body = data[(data.startIndex + offset + 32)...]
            return .array(
                try decodeSequence(Array(repeating: t, count: count), data: body, depth: depth, options: options)
            )
        case .fixedArray(let t, let n):
            if type.isDynamic {
                return .array(
                    try decodeSequence(
                        Array(repeating: t, count: n),
                        data: data[(data.startIndex + offset)...],
                        depth: depth,
                        options: options
                    )
                )
            }
            guard n * t.headSize <= data.count - offset else {
                throw ChainError(.invalidABI, "\(type) at offset \(offset) runs past the data")
            }
            return .array(
                try decodeSequence(
                    Array(repeating: t, count: n),
                    data: data[(data.startIndex + offset)...],
                    depth: depth,
                    options: options
                )
            )
        case .tuple(let ts):
            guard
                case .array(let values) = ABIValue.array(
                    try decodeSequence(ts, data: data[(data.startIndex + offset)...], depth: depth, options: options)
                )
            else { return .tuple([]) }
            return .tuple(values)
        }
    }

    private static func decodeSequence(
        _ types: [ABIType],
        data: ArraySlice<UInt8>,
        depth: Int,
        options: DecodeOptions
    ) throws(ChainError) -> [ABIValue] {
        var values: [ABIValue] = []
        values.reserveCapacity(min(types.count, 1024))
        var head = 0
        for t in types {
            if t.isDynamic {
                let pointer = try smallInt(word(data, head), "offset at \(head)", limit: data.count)
                values.append(try decode(t, data: data, at: pointer, depth: depth + 1, options: options))
            } else {
                values.append(try decode(t, data: data, at: head, depth: depth + 1, options: options))
            }
            head += t.headSize
        }
        return values
    }
}

/// An event's ABI, to recognise and decode its logs.
public struct ABIEvent: Hashable, Sendable {
    /// One event parameter.
    public struct Parameter: Hashable, Sendable {
        public var name: String
        public var type: ABIType
        public var indexed: Bool
        public init(_ name: String, _ type: ABIType, indexed: Bool = false) {
            self.name = name
            self.type = type
            self.indexed = indexed
        }
    }

    public var name: String
    public var parameters: [Parameter]

    public init(name: String, parameters: [Parameter]) {
        self.name = name
        self.parameters = parameters
    }

    /// "Name(type1,type2,…)".
    public var signature: String { "\(name)(" + parameters.map(\.type.description).joined(separator: ",") + ")" }
    /// keccak256 of the signature: topic 0 of every log of this event.
    public var topic: Hash32 { Keccak256.hash(utf8: signature) }

    /// Decodes a log of this event: indexed values from topics (dynamic ones only as their Keccak-256,
    /// given as `.fixedBytes`), the rest from data. Parameters come back in declaration order. With
    /// `rawStrings`, strings come back as `.bytes` (see `ABI.decode`).
    public func decode(_ log: Log, rawStrings: Bool = false) throws(ChainError) -> [(name: String, value: ABIValue)] {
        let indexed = parameters.filter(\.indexed)
        guard log.topics.first == topic else {
            throw ChainError(
                .invalidABI,
                "log topic0 \(log.topics.first?.hex ?? "none") is not \(signature) (\(topic.hex))"
            )
        }
        guard log.topics.count == indexed.count + 1 else {
            throw ChainError(.invalidABI, "\(name): expected \(indexed.count + 1) topics, found \(log.topics.count)")
        }
        let dataValues = try ABI.decode(
            parameters.filter { !$0.indexed }.map(\.type),
            from: log.data,
            rawStrings: rawStrings
        )
        var topics = log.topics.dropFirst().makeIterator()
        var data = dataValues.makeIterator()
        var out: [(String, ABIValue)] = []
        for p in parameters {
            if p.indexed {
                let topic = topics.next()!.bytes
                if p.type.isDynamic
                    || {
                        if case .tuple = p.type { return true }
                        if case .fixedArray = p.type { return true }
                        return false
                    }()
                {
                    out.append((p.name, .fixedBytes(topic)))
                } else {
                    do { out.append((p.name, try ABI.decode([p.type], from: topic)[0])) } catch {
                        throw error.within("\(name).\(p.name)")
                    }
                }
            } else {
                out.append((p.name, data.next()!))
            }
        }
        return out
    }
}
