/// A bounds-checked little-endian reader over a byte array. Every read checks the remaining length first, so
/// hostile length fields can neither crash nor cause an allocation larger than the input.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int
    let what: String
    let code: AttestationError.Code

    init(
        _ bytes: [UInt8],
        from offset: Int = 0,
        to end: Int? = nil,
        what: String,
        code: AttestationError.Code = .malformedQuote
    ) {
        self.bytes = bytes
        self.code = code
        self.offset = offset
        self.end = end ?? bytes.count
        self.what = what
    }

    var remaining: Int { end - offset }

    mutating func take(_ count: Int, _ field: String) throws(AttestationError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw AttestationError(
                code,
                "\(what): \(field) needs \(count) bytes at offset \(offset), found \(max(remaining, 0))"
            )
        }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func skip(_ count: Int, _ field: String) throws(AttestationError) {
        guard count >= 0, count <= remaining else {
            throw AttestationError(
                code,
                "\(what): \(field) needs \(count) bytes at offset \(offset), found \(max(remaining, 0))"
            )
        }
        offset += count
    }

    mutating func u16(_ field: String) throws(AttestationError) -> UInt16 {
        let b = try take(2, field)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func u32(_ field: String) throws(AttestationError) -> UInt32 {
        let b = try take(4, field)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    mutating func u64(_ field: String) throws(AttestationError) -> UInt64 {
        let b = try take(8, field)
        return b.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
