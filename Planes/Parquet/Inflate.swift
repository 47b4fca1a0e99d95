import CCompression

/// GZIP pages through zlib (the same library the Output Gate's bounded decoders use) and ZSTD pages through
/// libzstd, with the output capped at the size the page header declares: a stream that would produce more
/// stops there.
enum Inflate {
    /// One-shot decompression into a buffer of exactly `expected` bytes (libzstd decodes straight into it, so a
    /// frame's declared window allocates nothing more); every frame must fit and together fill it.
    static func zstd(_ input: ArraySlice<UInt8>, expected: Int) -> Result<[UInt8], CodecFailure> {
        var output = [UInt8](repeating: 0, count: max(expected, 1))
        let produced = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { source in
                ZSTD_decompress(out.baseAddress, expected, source.baseAddress, source.count)
            }
        }
        if ZSTD_isError(produced) != 0 {
            let name = ZSTD_getErrorName(produced).map { String(cString: $0) } ?? "error"
            return .failure(CodecFailure("corrupt zstd data (or more than the declared \(expected) bytes): \(name)"))
        }
        guard produced == expected else {
            return .failure(CodecFailure("zstd data inflates to \(produced) bytes, the page header says \(expected)"))
        }
        output.removeLast(output.count - expected)
        return .success(output)
    }

    static func gzip(_ input: ArraySlice<UInt8>, expected: Int) -> Result<[UInt8], CodecFailure> {
        var stream = z_stream()
        // 15 + 32: a zlib or gzip header, detected (writers differ).
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return .failure(CodecFailure("zlib could not start"))
        }
        defer { inflateEnd(&stream) }
        guard input.count <= Int(UInt32.max), expected <= Int(UInt32.max) else {
            return .failure(CodecFailure("a page larger than 4 GiB"))
        }
        // One spare byte: output beyond the declared size is detected, not silently cut.
        var output = [UInt8](repeating: 0, count: expected + 1)
        var status: Int32 = Z_OK
        var produced = 0
        var finished = false
        output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { source in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                while true {
                    status = CCompression.inflate(&stream, Z_NO_FLUSH)
                    produced = out.count - Int(stream.avail_out)
                    if status == Z_STREAM_END {
                        // gzip allows members back to back.
                        if stream.avail_in > 0, stream.avail_out > 0, inflateReset(&stream) == Z_OK { continue }
                        finished = stream.avail_in == 0
                        return
                    }
                    if status != Z_OK || stream.avail_out == 0 { return }
                }
            }
        }
        if produced > expected {
            return .failure(CodecFailure("gzip data inflates past the declared \(expected) bytes"))
        }
        if status == Z_STREAM_END {
            guard finished else { return .failure(CodecFailure("bytes after the gzip stream's end")) }
            guard produced == expected else {
                return .failure(
                    CodecFailure("gzip data inflates to \(produced) bytes, the page header says \(expected)")
                )
            }
            output.removeLast()
            return .success(output)
        }
        if status == Z_OK || status == Z_BUF_ERROR {
            return .failure(CodecFailure("the gzip stream ends early (after \(produced) of \(expected) bytes)"))
        }
        let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
        return .failure(CodecFailure("corrupt gzip data: \(message)"))
    }
}
