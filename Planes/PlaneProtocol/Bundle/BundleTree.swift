#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Reads a directory tree into bundle entries, refusing what a bundle cannot hold.
///
/// The walk goes through directory file descriptors (`openat` with `O_NOFOLLOW`), so a symlink swapped in
/// during the walk is refused rather than followed, and names are taken as the kernel's bytes. Refused, naming
/// the path: symlinks, devices, FIFOs, sockets, files with more than one hard link, names that are not UTF-8,
/// and trees beyond the limits.
public enum BundleTree {
    /// The entries under `root` (not including `root` itself).
    public static func entries(
        under root: String,
        limits: CanonicalTar.Limits = .standard
    ) throws(PlaneProtocolError)
        -> [BundleEntry]
    {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("cannot open directory \(root)", errno) }
        defer { close(fd) }
        var walk = Walk(limits: limits)
        try walk.directory(fd, path: [])
        return walk.entries
    }

    private struct Walk {
        let limits: CanonicalTar.Limits
        var entries: [BundleEntry] = []
        /// The archive size so far, so an oversized tree is refused before it is all read into memory.
        var archiveBytes = 2 * CanonicalTar.blockSize

        init(limits: CanonicalTar.Limits) { self.limits = limits }

        mutating func directory(_ fd: Int32, path: [UInt8]) throws(PlaneProtocolError) {
            for name in try names(fd, path: path) {
                let child = path.isEmpty ? name : path + [UInt8(ascii: "/")] + name
                let display = BundlePath.display(child)
                guard String(validating: name, as: UTF8.self) != nil else {
                    throw PlaneProtocolError(.unsupportedEntry, "\(display): expected a UTF-8 name, found other bytes")
                }
                var st = stat()
                let statResult = withCName(name) { fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }
                guard statResult == 0 else { throw ioError("cannot stat \(display)", errno) }
                try count(child, dataLength: 0)
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    entries.append(try BundleEntry(path: child, kind: .directory))
                    let sub = withCName(name) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                    guard sub >= 0 else { throw ioError("cannot open directory \(display)", errno) }
                    defer { close(sub) }
                    try directory(sub, path: child)
                case S_IFREG:
                    guard st.st_nlink == 1 else {
                        throw PlaneProtocolError(
                            .unsupportedEntry,
                            "\(display): a file with \(st.st_nlink) hard links; bundles hold files with one name"
                        )
                    }
                    try count(child, dataLength: Int(st.st_size))
                    let contents = try file(fd, name: name, display: display, expected: st)
                    let executable = st.st_mode & 0o111 != 0
                    entries.append(
                        try BundleEntry(path: child, kind: .file(contents: contents, executable: executable))
                    )
                default:
                    throw PlaneProtocolError(
                        .unsupportedEntry,
                        "\(display): \(kind(st.st_mode)); bundles hold only files and dirs"
                    )
                }
            }
        }

        /// Adds an entry's share to the archive size and entry count, refusing past the limits.
        mutating func count(_ path: [UInt8], dataLength: Int) throws(PlaneProtocolError) {
            if dataLength == 0 {
                guard entries.count < limits.maxEntries else {
                    throw PlaneProtocolError(.tooLarge, "expected at most \(limits.maxEntries) entries, found more")
                }
                archiveBytes += CanonicalTar.blockSize
            }
            archiveBytes += CanonicalTar.padded(dataLength)
            guard archiveBytes <= limits.maxArchiveBytes else {
                throw PlaneProtocolError(
                    .tooLarge,
                    "expected a bundle of at most \(limits.maxArchiveBytes) bytes; the tree is larger at "
                        + BundlePath.display(path)
                )
            }
        }

        /// A regular file's bytes, opened without following links and checked to be the file just stat'ed.
        func file(_ dir: Int32, name: [UInt8], display: String, expected: stat) throws(PlaneProtocolError) -> [UInt8] {
            let fd = withCName(name) { openat(dir, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw ioError("cannot open \(display)", errno) }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_ino == expected.st_ino, st.st_dev == expected.st_dev,
                st.st_mode & S_IFMT == S_IFREG
            else {
                throw PlaneProtocolError(.io, "\(display): the file changed while the tree was read")
            }
            var out = [UInt8](repeating: 0, count: Int(st.st_size))
            var done = 0
            while done < out.count {
                let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw ioError("cannot read \(display)", errno) }
                guard n > 0 else { throw PlaneProtocolError(.io, "\(display): the file shrank while it was read") }
                done += n
            }
            var extra: UInt8 = 0
            guard Glibc.read(fd, &extra, 1) == 0 else {
                throw PlaneProtocolError(.io, "\(display): the file grew while it was read")
            }
            return out
        }
    }

    /// Calls `body` with `name`'s exact bytes as a C string (no re-encoding).
    static func withCName<T>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
        (name + [0]).withUnsafeBytes { body($0.assumingMemoryBound(to: CChar.self).baseAddress!) }
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "a symlink"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }

    /// The names in directory `fd` (without . and ..).
    static func names(_ fd: Int32, path: [UInt8]) throws(PlaneProtocolError) -> [[UInt8]] {
        // fdopendir takes ownership of its descriptor: give it a duplicate.
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw ioError("cannot list \(path.isEmpty ? "." : BundlePath.display(path))", errno)
        }
        defer { closedir(dir) }
        var out: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw ioError("cannot list \(BundlePath.display(path))", errno) }
                return out
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            out.append(name)
        }
    }

    /// An I/O failure naming what was attempted and the errno's text (the runtime digest walks trees too).
    static func ioError(_ what: String, _ code: Int32) -> PlaneProtocolError {
        PlaneProtocolError(.io, "\(what): \(String(cString: strerror(code)))")
    }
}
