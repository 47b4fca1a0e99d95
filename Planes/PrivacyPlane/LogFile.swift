#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The durable append-only files of the Privacy Plane (nonce store, key-release receipts): one `flock`ed
/// descriptor per file, each record one `write` followed by `fsync`, and a torn last line — a record whose
/// operation never returned — cut off when the file is opened again.
enum LogFile {
    /// Opens `path` (mode 0600) and takes an exclusive lock, so a second process cannot use the same file.
    static func openLocked(_ path: String, flags: Int32) throws(PrivacyPlaneError) -> Int32 {
        let fd = open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw storageError("cannot open \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = storageError("\(path) is locked by another process")
            close(fd)
            throw error
        }
        return fd
    }

    /// The whole file, from the start.
    static func readAll(fd: Int32, path: String) throws(PrivacyPlaneError) -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw storageError("cannot seek in \(path)") }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw storageError("cannot read \(path)") }
            if n == 0 { break }
            data += buffer[0..<n]
        }
        return data
    }

    /// Streams the file's complete lines (without their LF) from the start, 64 KiB at a time, to `body` until
    /// it returns false. Returns the offset after the last complete line seen and the file's size (they
    /// differ when the file ends in a torn line).
    @discardableResult
    static func forEachLine(
        fd: Int32,
        path: String,
        _ body: (ArraySlice<UInt8>) throws(PrivacyPlaneError) -> Bool
    ) throws(PrivacyPlaneError) -> (complete: Int, total: Int) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var carry: [UInt8] = []
        var offset = 0
        var complete = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw storageError("cannot read \(path)") }
            if n == 0 { break }
            carry += buffer[0..<n]
            offset += n
            var start = carry.startIndex
            while let newline = carry[start...].firstIndex(of: 0x0A) {
                complete += newline - start + 1
                guard try body(carry[start..<newline]) else { return (complete, offset) }
                start = newline + 1
            }
            carry.removeSubrange(..<start)
            if carry.count > 16 << 20 { throw PrivacyPlaneError(.corruptStore, "\(path) holds a line over 16 MiB") }
        }
        return (complete, offset)
    }

    /// Reads the file's complete lines after `header`, writing the header to a new (or torn-header) file and
    /// cutting a torn last line. Throws `corruptStore` when the first line is not `header`.
    static func openLines(fd: Int32, path: String, header: String) throws(PrivacyPlaneError) -> [ArraySlice<UInt8>] {
        var data = try readAll(fd: fd, path: path)
        let headerLine = Array((header + "\n").utf8)
        if data.isEmpty || (data.count < headerLine.count && headerLine.starts(with: data)) {
            // A new file, or a crash while writing the header.
            guard ftruncate(fd, 0) == 0 else { throw storageError("cannot truncate \(path)") }
            try append(headerLine, fd: fd, path: path)
            try fsyncDirectory(of: path)
            return []
        }
        if let lastNewline = data.lastIndex(of: 0x0A), lastNewline != data.count - 1 {
            guard ftruncate(fd, off_t(lastNewline + 1)) == 0, fsync(fd) == 0 else {
                throw storageError("cannot cut the torn last record of \(path)")
            }
            data.removeSubrange((lastNewline + 1)...)
        }
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        guard let first = lines.first, first.elementsEqual(header.utf8) else {
            throw PrivacyPlaneError(.corruptStore, "\(path) does not start with \"\(header)\"")
        }
        return Array(lines.dropFirst())
    }

    /// Writes `bytes` and makes them durable before returning.
    static func append(_ bytes: [UInt8], fd: Int32, path: String) throws(PrivacyPlaneError) {
        try writeAll(bytes, fd: fd, path: path)
        guard fsync(fd) == 0 else { throw storageError("cannot fsync \(path)") }
    }

    static func writeAll(_ bytes: [UInt8], fd: Int32, path: String) throws(PrivacyPlaneError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw storageError("cannot write \(path)") }
            offset += n
        }
    }

    static func fsyncDirectory(of path: String) throws(PrivacyPlaneError) {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw storageError("cannot open directory \(directory)") }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw storageError("cannot fsync directory \(directory)") }
    }

    static func storageError(_ what: String) -> PrivacyPlaneError {
        let code = errno
        return PrivacyPlaneError(.storage, "\(what): \(String(cString: strerror(code))) (errno \(code))")
    }
}
