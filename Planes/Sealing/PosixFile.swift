import Glibc

/// One open file descriptor, closed on deinit; the one place where errno becomes a ``SealingError``.
/// `pread` is safe from many threads at once, so sharing is fine (`@unchecked Sendable`).
final class PosixFile: @unchecked Sendable {
    let fd: Int32
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    static func openForReading(_ path: String) throws(SealingError) -> PosixFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw errnoError("open for reading", path) }
        return PosixFile(fd: fd, path: path)
    }

    /// Creates a new file; fails if it exists (callers write to temporary names and rename).
    static func createExclusive(_ path: String, mode: mode_t = 0o644) throws(SealingError) -> PosixFile {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw errnoError("create", path) }
        return PosixFile(fd: fd, path: path)
    }

    func size() throws(SealingError) -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Self.errnoError("stat", path) }
        return UInt64(st.st_size)
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or throws (a short file is an error, not a short read).
    func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(SealingError) {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.errnoError("read", path)
            }
            if n == 0 {
                throw SealingError(
                    .mismatch,
                    "\(path): expected \(buffer.count) bytes at offset \(offset), found end of file"
                )
            }
            done += n
        }
    }

    /// Reads up to `buffer.count` bytes from the current position; returns 0 at end of file.
    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws(SealingError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = read(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.errnoError("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// `readSome` into an array (typed throws cannot cross `withUnsafeMutableBytes`, so bridge through Result).
    func readSome(into array: inout [UInt8]) throws(SealingError) -> Int {
        var result: Result<Int, SealingError> = .success(0)
        array.withUnsafeMutableBytes { b in result = Result { () throws(SealingError) in try readSome(into: b) } }
        return try result.get()
    }

    /// Exactly `count` bytes at `offset` as an array.
    func readExactly(count: Int, at offset: UInt64) throws(SealingError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var result: Result<Void, SealingError> = .success(())
        out.withUnsafeMutableBytes { b in
            result = Result { () throws(SealingError) in try readExactly(into: b, at: offset) }
        }
        try result.get()
        return out
    }

    /// Writes an array fully.
    func writeAll(_ array: [UInt8]) throws(SealingError) {
        var result: Result<Void, SealingError> = .success(())
        array.withUnsafeBytes { b in result = Result { () throws(SealingError) in try writeAll(b) } }
        try result.get()
    }

    func writeAll(_ buffer: UnsafeRawBufferPointer) throws(SealingError) {
        var done = 0
        while done < buffer.count {
            let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.errnoError("write", path)
            }
            done += n
        }
    }

    func sync() throws(SealingError) {
        guard fsync(fd) == 0 else { throw Self.errnoError("fsync", path) }
    }

    static func errnoError(
        _ operation: String,
        _ path: String,
        file: String = #fileID,
        line: Int = #line
    )
        -> SealingError
    {
        let code = errno
        let message = String(cString: strerror(code))
        return SealingError(.io, "cannot \(operation) \(path): \(message) (errno \(code))", file: file, line: line)
    }
}
