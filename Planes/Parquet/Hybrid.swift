// The RLE / bit-packed hybrid (definition levels, dictionary indices, RLE booleans):
//   run := header varint; header & 1 == 0: an RLE run of header >> 1 copies of one value stored in
//   ceil(bitWidth / 8) bytes little-endian; header & 1 == 1: header >> 1 groups of 8 values, each bitWidth bits,
//   packed least significant bit first.
// The decoder produces exactly `count` values: a run longer than needed is cut, one that runs past the data
// is an error; nothing is allocated from a run's declared length.

enum Hybrid {
    /// Decodes `count` values of `bitWidth` (0…32) bits from `bytes[start..<end]`.
    static func decode(
        _ bytes: [UInt8],
        start: Int,
        end: Int,
        bitWidth: Int,
        count: Int,
        what: String
    ) throws(ParquetError) -> [UInt32] {
        guard (0...32).contains(bitWidth) else {
            throw ParquetError(.malformed, "\(what): expected a bit width of 0…32, found \(bitWidth)")
        }
        guard start >= 0, start <= end, end <= bytes.count else {
            throw ParquetError(.malformed, "\(what): a level or index run outside the page")
        }
        var out = [UInt32](repeating: 0, count: count)
        if count == 0 { return out }
        if bitWidth == 0 { return out }
        var filled = 0
        var failure: String?
        let byteWidth = (bitWidth + 7) / 8
        let mask: UInt64 = bitWidth == 32 ? 0xFFFF_FFFF : (1 << UInt64(bitWidth)) - 1
        bytes.withUnsafeBufferPointer { buffer in
            out.withUnsafeMutableBufferPointer { target in
                let p = buffer.baseAddress!
                var i = start
                while filled < count {
                    // Header varint (at most 5 bytes: runs are < 2^32).
                    var header: UInt64 = 0
                    var shift: UInt64 = 0
                    while true {
                        guard i < end else {
                            failure = "expected \(count - filled) more values, found the end of the data"
                            return
                        }
                        let b = p[i]
                        i += 1
                        header |= UInt64(b & 0x7F) << shift
                        if b & 0x80 == 0 { break }
                        shift += 7
                        guard shift < 35 else {
                            failure = "a run header longer than 5 bytes"
                            return
                        }
                    }
                    if header & 1 == 0 {
                        let run = Int(header >> 1)
                        guard run > 0 else {
                            failure = "an empty RLE run"
                            return
                        }
                        guard end - i >= byteWidth else {
                            failure = "an RLE run's value runs past the end of the data"
                            return
                        }
                        var value: UInt64 = 0
                        for k in 0..<byteWidth { value |= UInt64(p[i + k]) << (8 * UInt64(k)) }
                        i += byteWidth
                        guard value <= mask else {
                            failure = "an RLE value \(value) wider than \(bitWidth) bits"
                            return
                        }
                        let take = min(run, count - filled)
                        let v = UInt32(value)
                        for k in 0..<take { target[filled + k] = v }
                        filled += take
                    } else {
                        let groups = Int(header >> 1)
                        guard groups > 0 else {
                            failure = "an empty bit-packed run"
                            return
                        }
                        let values = groups <= (count - filled + 7) / 8 ? groups * 8 : count - filled
                        let take = min(values, count - filled)
                        let neededBits = take * bitWidth
                        let neededBytes = (neededBits + 7) / 8
                        guard end - i >= neededBytes else {
                            failure = "a bit-packed run of \(take) values needs \(neededBytes) bytes, \(end - i) remain"
                            return
                        }
                        var bitPos = 0
                        for k in 0..<take {
                            let byte = i + (bitPos >> 3)
                            let offset = UInt64(bitPos & 7)
                            var word: UInt64 = 0
                            let available = min(5, end - byte)
                            for m in 0..<available { word |= UInt64(p[byte + m]) << (8 * UInt64(m)) }
                            target[filled + k] = UInt32((word >> offset) & mask)
                            bitPos += bitWidth
                        }
                        filled += take
                        // When the run was not cut, its values fill whole groups: exactly these bytes.
                        i += neededBytes
                    }
                }
            }
        }
        if let failure { throw ParquetError(.malformed, "\(what): \(failure)") }
        return out
    }
}
