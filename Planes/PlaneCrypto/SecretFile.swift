import Glibc

/// The one place secret files are read and written: keys, root secrets, sessions.
///
/// Reading refuses anything but a regular file with no access for group or others (mode 0600 or stricter);
/// writing creates the file 0600 under a temporary name, syncs it and renames it into place (or, with
/// `exclusive`, creates it in place with O_EXCL so no other process can win a race to it).
public enum SecretFile {
    /// The file's bytes, at most `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = 4096) throws(PlaneCryptoError) -> SecretBytes {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw PlaneCryptoError(.secretFile, "\(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw PlaneCryptoError(.secretFile, "\(path) is not a regular file")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw PlaneCryptoError(
                .secretFile,
                "\(path) has mode \(String(mode, radix: 8)); expected 600 or stricter, no access for group or others (chmod 600 \(path))"
            )
        }
        guard st.st_size <= maxBytes else {
            throw PlaneCryptoError(.secretFile, "\(path) has \(st.st_size) bytes; expected at most \(maxBytes)")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw PlaneCryptoError(.secretFile, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: maxBytes + 1)
        defer { SecretBytes.wipe(&buffer) }
        var count = 0
        while count < buffer.count {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw PlaneCryptoError(.secretFile, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            count += n
        }
        guard count <= maxBytes else {
            throw PlaneCryptoError(.secretFile, "\(path) has more than \(maxBytes) bytes")
        }
        return SecretBytes(copying: buffer[0..<count])
    }

    /// A 32-byte key: 32 raw bytes, or 64 hex digits (optional `0x`, surrounding whitespace allowed), decoded
    /// into wiped buffers only.
    public static func readKey(_ path: String) throws(PlaneCryptoError) -> SecretBytes {
        let file = try read(path, maxBytes: 256)
        if file.count == 32 { return file }
        var text = file.withUnsafeBytes { Array($0) }
        defer { SecretBytes.wipe(&text) }
        while let last = text.last, last == 10 || last == 13 || last == 32 || last == 9 { text.removeLast() }
        if text.count >= 2, text[0] == UInt8(ascii: "0"), text[1] | 0x20 == UInt8(ascii: "x") {
            text.removeFirst(2)
        }
        guard text.count == 64, let key = SecretBytes.decodingHex(text) else {
            throw PlaneCryptoError(.secretFile, "\(path): expected 32 raw bytes or 64 hex digits")
        }
        return key
    }

    /// Writes `bytes` with mode 0600: under a temporary name, synced, then renamed over `path`; with
    /// `exclusive`, created in place and never over an existing file.
    public static func write(_ bytes: SecretBytes, to path: String, exclusive: Bool = false) throws(PlaneCryptoError) {
        try bytes.withUnsafeBytes { (b) throws(PlaneCryptoError) in try write(b, to: path, exclusive: exclusive) }
    }

    /// The same for bytes that are not key material (a session token).
    public static func write(_ bytes: [UInt8], to path: String, exclusive: Bool = false) throws(PlaneCryptoError) {
        let result = bytes.withUnsafeBytes { (b) -> Result<Void, PlaneCryptoError> in
            Result { () throws(PlaneCryptoError) in try write(b, to: path, exclusive: exclusive) }
        }
        try result.get()
    }

    static func write(_ bytes: UnsafeRawBufferPointer, to path: String, exclusive: Bool) throws(PlaneCryptoError) {
        let target = exclusive ? path : path + ".tmp-\(getpid())"
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PlaneCryptoError(.secretFile, "cannot create \(target): \(String(cString: strerror(errno)))")
        }
        var written = 0
        while written < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            written += n
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, exclusive || rename(target, path) == 0 else {
            unlink(target)
            throw PlaneCryptoError(.secretFile, "cannot write \(path)")
        }
    }
}
