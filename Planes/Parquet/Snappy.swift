// Snappy raw block format (what Parquet's SNAPPY codec holds; no framing):
//   preamble: the uncompressed length as a ULEB128 varint (at most 5 bytes, < 2^32);
//   then elements, each starting with a tag byte whose low 2 bits give its kind:
//     00 literal: length-1 in the upper 6 bits (60…63: the length-1 follows in 1…4 bytes little-endian),
//        then the bytes;
//     01 copy: length 4 + bits 2…4, offset = bits 5…7 << 8 | next byte;
//     10 copy: length-1 in the upper 6 bits, offset in the next 2 bytes little-endian;
//     11 copy: length-1 in the upper 6 bits, offset in the next 4 bytes little-endian.
//   A copy repeats `length` bytes starting `offset` bytes back (it may overlap its own output).
// The decoder writes into a buffer of exactly the declared length, which must equal what the page header
// says, so a "bomb" cannot allocate more than the caller allowed; every offset and length is checked.

enum Snappy {
    /// The uncompressed length the preamble declares, and where the elements start.
    static func declaredLength(_ input: ArraySlice<UInt8>) -> (length: Int, start: Int)? {
        var result = 0
        var shift = 0
        var i = input.startIndex
        while i < input.endIndex, shift <= 28 {
            let b = input[i]
            result |= Int(b & 0x7F) << shift
            i += 1
            if b & 0x80 == 0 { return result <= Int(UInt32.max) ? (result, i) : nil }
            shift += 7
        }
        return nil
    }

    /// Decompresses `input` to exactly `expected` bytes, or says what went wrong.
    static func decompress(_ input: ArraySlice<UInt8>, expected: Int) -> Result<[UInt8], CodecFailure> {
        guard let (length, start) = declaredLength(input) else {
            return .failure(CodecFailure("expected a snappy length preamble, found a corrupt varint"))
        }
        guard length == expected else {
            return .failure(CodecFailure("snappy data declares \(length) bytes, the page header \(expected)"))
        }
        var output = [UInt8](repeating: 0, count: length)
        var failure: String?
        output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { source in
                let src = source.baseAddress!
                let n = source.count
                var i = start - input.startIndex
                var o = 0
                let dst = out.baseAddress
                while i < n {
                    let tag = src[i]
                    i += 1
                    var len: Int
                    var offset: Int
                    switch tag & 3 {
                    case 0:
                        len = Int(tag >> 2)
                        if len >= 60 {
                            let extra = len - 59
                            guard n - i >= extra else {
                                failure = "a literal length runs past the end of the input"
                                return
                            }
                            len = 0
                            for k in 0..<extra { len |= Int(src[i + k]) << (8 * k) }
                            i += extra
                        }
                        len += 1
                        guard len <= n - i else {
                            failure = "a literal of \(len) bytes but \(n - i) input bytes remain"
                            return
                        }
                        guard len <= length - o else {
                            failure = "a literal past the declared length of \(length) bytes"
                            return
                        }
                        (dst! + o).update(from: src + i, count: len)
                        i += len
                        o += len
                        continue
                    case 1:
                        guard i < n else {
                            failure = "a copy's offset runs past the end of the input"
                            return
                        }
                        len = 4 + Int((tag >> 2) & 7)
                        offset = Int(tag >> 5) << 8 | Int(src[i])
                        i += 1
                    case 2:
                        guard n - i >= 2 else {
                            failure = "a copy's offset runs past the end of the input"
                            return
                        }
                        len = Int(tag >> 2) + 1
                        offset = Int(src[i]) | Int(src[i + 1]) << 8
                        i += 2
                    default:
                        guard n - i >= 4 else {
                            failure = "a copy's offset runs past the end of the input"
                            return
                        }
                        len = Int(tag >> 2) + 1
                        offset = Int(src[i]) | Int(src[i + 1]) << 8 | Int(src[i + 2]) << 16 | Int(src[i + 3]) << 24
                        i += 4
                    }
                    guard offset > 0, offset <= o else {
                        failure = "a copy from offset \(offset) with only \(o) bytes written"
                        return
                    }
                    guard len <= length - o else {
                        failure = "a copy past the declared length of \(length) bytes"
                        return
                    }
                    let d = dst!
                    if offset >= len {
                        (d + o).update(from: d + o - offset, count: len)
                    } else {
                        for k in 0..<len { d[o + k] = d[o + k - offset] }
                    }
                    o += len
                }
                if o != length { failure = "the data ends after \(o) of the declared \(length) bytes" }
            }
        }
        if let failure { return .failure(CodecFailure(failure)) }
        return .success(output)
    }
}
