import CCompression

/// Decompression of attacker-written bytes with a hard cap on the output: zlib and gzip streams (PNG's IDAT,
/// .gz files, zip's deflate entries as raw deflate) through zlib, and bzip2 through libbz2. A stream that
/// would produce more than `limit` bytes stops there and says so instead of allocating it.
enum BoundedInflate {
    /// The framing of a deflate stream.
    enum Framing {
        /// RFC 1950 (PNG, Python's zlib.compress).
        case zlib
        /// RFC 1952 (.gz), several members allowed.
        case gzip
        /// RFC 1951, no header (zip entries).
        case raw

        var windowBits: Int32 {
            switch self {
            case .zlib: 15
            case .gzip: 15 + 16
            case .raw: -15
            }
        }
    }

    /// Why a stream did not decode in full.
    enum Failure: Error, Equatable {
        /// More than the limit would come out.
        case overLimit(Int)
        /// The bytes are not a valid stream (zlib's or libbz2's message).
        case corrupt(String)
        /// The stream ends before its end marker.
        case truncated
    }

    /// Inflates `input` to at most `limit` bytes.
    static func inflate(_ input: [UInt8], framing: Framing, limit: Int) -> Result<[UInt8], Failure> {
        var stream = z_stream()
        guard inflateInit2_(&stream, framing.windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return .failure(.corrupt("zlib could not start")) }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        return input.withUnsafeBufferPointer { source -> Result<[UInt8], Failure> in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    let status = CCompression.inflate(&stream, Z_NO_FLUSH)
                    return (status, buffer.count - Int(stream.avail_out))
                }
                if output.count + produced > limit { return .failure(.overLimit(limit)) }
                output += chunk[0..<produced]
                switch status {
                case Z_STREAM_END:
                    // gzip allows members back to back.
                    guard framing == .gzip, stream.avail_in > 0 else { return .success(output) }
                    guard inflateReset(&stream) == Z_OK else { return .failure(.corrupt("zlib reset failed")) }
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress: the input ended before the stream did.
                    if produced == 0 { return .failure(.truncated) }
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    return .failure(.corrupt(message))
                }
            }
        }
    }

    /// Decompresses a bzip2 stream to at most `limit` bytes.
    static func bunzip2(_ input: [UInt8], limit: Int) -> Result<[UInt8], Failure> {
        var stream = bz_stream()
        guard BZ2_bzDecompressInit(&stream, 0, 0) == BZ_OK else { return .failure(.corrupt("libbz2 could not start")) }
        defer { BZ2_bzDecompressEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        return input.withUnsafeBufferPointer { source -> Result<[UInt8], Failure> in
            stream.next_in = UnsafeMutableRawPointer(mutating: source.baseAddress)?.assumingMemoryBound(to: CChar.self)
            stream.avail_in = UInt32(source.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                    stream.next_out = UnsafeMutableRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self)
                    stream.avail_out = UInt32(buffer.count)
                    let status = BZ2_bzDecompress(&stream)
                    return (status, buffer.count - Int(stream.avail_out))
                }
                if output.count + produced > limit { return .failure(.overLimit(limit)) }
                output += chunk[0..<produced]
                switch status {
                case BZ_STREAM_END: return .success(output)
                case BZ_OK: if produced == 0 && stream.avail_in == 0 { return .failure(.truncated) }
                default: return .failure(.corrupt("libbz2 error \(status)"))
                }
            }
        }
    }

    /// Compresses `input` as a zlib stream (for re-encoded images).
    static func deflate(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var size = compressBound(UInt(input.count))
        var output = [UInt8](repeating: 0, count: Int(size))
        let status = output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { inp in
                compress2(out.baseAddress, &size, inp.baseAddress, UInt(inp.count), level)
            }
        }
        precondition(status == Z_OK, "compress2 with a bound-sized buffer cannot fail")
        return Array(output[0..<Int(size)])
    }
}
