public import ChainCore
import PlaneCrypto

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The same canonical ustar encoding as ``CanonicalTar/encode(_:limits:)``, written to and read from a file
/// descriptor entry by entry, for trees too large to hold in memory (the runner payload: about 700 MB), and with
/// symlinks, which bundles refuse but a Python venv holds.
///
/// A symlink is written as GNU tar writes it with the command in docs/bundles.md: type `2`, mode 0755, size 0,
/// its target in the link name field (at most 100 bytes).
extension CanonicalTar {
    /// One entry of a streamed archive; a file's bytes are written or read separately.
    public struct StreamEntry: Sendable, Hashable {
        /// What the entry is.
        public enum Kind: Sendable, Hashable {
            /// A directory (mode 0755).
            case directory
            /// A regular file of `size` bytes; mode 0755 when `executable`, else 0644.
            case file(size: Int, executable: Bool)
            /// A symlink to `target` (never followed here).
            case symlink(target: [UInt8])
        }

        /// The relative path, as bytes (the rules of ``BundlePath``).
        public let path: [UInt8]
        public let kind: Kind

        /// An entry after checking its path, and a symlink's target (not empty, no NUL).
        public init(path: [UInt8], kind: Kind) throws(PlaneProtocolError) {
            try BundlePath.check(path)
            if case .symlink(let target) = kind {
                guard !target.isEmpty, !target.contains(0) else {
                    throw PlaneProtocolError(.malformed, "\(BundlePath.display(path)): an empty link target or NUL")
                }
            }
            self.path = path
            self.kind = kind
        }

        /// The path for people.
        public var displayPath: String { BundlePath.display(path) }

        /// The file's length (0 for a directory or a symlink).
        public var size: Int {
            if case .file(let size, _) = kind { return size }
            return 0
        }

        /// The canonical header of this entry.
        func header() throws(PlaneProtocolError) -> [UInt8] {
            switch kind {
            case .directory:
                try CanonicalTar.header(path: path, mode: 0o755, size: 0, type: UInt8(ascii: "5"))
            case .file(let size, let executable):
                try CanonicalTar.header(
                    path: path,
                    mode: executable ? 0o755 : 0o644,
                    size: size,
                    type: UInt8(ascii: "0")
                )
            case .symlink(let target):
                try CanonicalTar.header(path: path, mode: 0o755, size: 0, type: UInt8(ascii: "2"), linkName: target)
            }
        }
    }

    // MARK: Writing

    /// Writes a canonical archive to a file descriptor: entries must come in byte-wise path order, each file's
    /// bytes right after its entry. It keeps the sha256 and length of everything written.
    public final class StreamWriter {
        private let fd: Int32
        private let limits: Limits
        private let digest = DigestContext(.sha256)
        private var buffer: [UInt8] = []
        private var lastPath: [UInt8]?
        private var remaining = 0
        private var padding = 0
        private var entries = 0
        /// Bytes written so far.
        public private(set) var count = 0

        /// A writer to `fd` (not closed here).
        public init(fd: Int32, limits: Limits) {
            self.fd = fd
            self.limits = limits
            buffer.reserveCapacity(1 << 20)
        }

        /// Starts `entry`; a file's `size` bytes must follow through ``write(_:)``.
        public func append(_ entry: StreamEntry) throws(PlaneProtocolError) {
            guard remaining == 0 else {
                throw PlaneProtocolError(.malformed, "\(entry.displayPath): the previous file lacks \(remaining) bytes")
            }
            try pad()
            if let lastPath, !lastPath.lexicographicallyPrecedes(entry.path) {
                throw PlaneProtocolError(
                    .malformed,
                    "\(entry.displayPath): expected entries in byte-wise path order, after \(BundlePath.display(lastPath))"
                )
            }
            entries += 1
            guard entries <= limits.maxEntries else {
                throw PlaneProtocolError(.tooLarge, "expected at most \(limits.maxEntries) entries, found more")
            }
            lastPath = entry.path
            try put(entry.header())
            remaining = entry.size
            padding = padded(entry.size) - entry.size
        }

        /// Bytes of the current file.
        public func write(_ bytes: UnsafeRawBufferPointer) throws(PlaneProtocolError) {
            guard bytes.count <= remaining else {
                throw PlaneProtocolError(.malformed, "\(bytes.count - remaining) bytes more than the entry's size")
            }
            remaining -= bytes.count
            try put(bytes)
        }

        /// Ends the archive (two zero blocks, padding to a whole record) and returns its sha256 and length.
        public func finish() throws(PlaneProtocolError) -> (sha256: Hash32, count: Int) {
            guard remaining == 0 else {
                throw PlaneProtocolError(.malformed, "the last file lacks \(remaining) bytes")
            }
            try pad()
            let end = count + 2 * blockSize
            let total = (end + recordSize - 1) / recordSize * recordSize
            try put([UInt8](repeating: 0, count: total - count))
            try flush()
            // sha256 always gives 32 bytes, which is exactly what Hash32 holds.
            return (try! Hash32(digest.finalize()), count)
        }

        private func pad() throws(PlaneProtocolError) {
            if padding > 0 { try put([UInt8](repeating: 0, count: padding)) }
            padding = 0
        }

        /// Bytes of the current file, from an array.
        public func write(_ bytes: [UInt8]) throws(PlaneProtocolError) {
            // The standard library's withUnsafeBytes only rethrows `any Error`: carry the typed error out.
            try bytes.withUnsafeBytes { raw in Result { () throws(PlaneProtocolError) in try write(raw) } }.get()
        }

        private func put(_ bytes: [UInt8]) throws(PlaneProtocolError) {
            try bytes.withUnsafeBytes { raw in Result { () throws(PlaneProtocolError) in try put(raw) } }.get()
        }

        private func put(_ bytes: UnsafeRawBufferPointer) throws(PlaneProtocolError) {
            guard count + bytes.count <= limits.maxArchiveBytes else {
                throw PlaneProtocolError(.tooLarge, "expected an archive of at most \(limits.maxArchiveBytes) bytes")
            }
            digest.update(bytes)
            count += bytes.count
            buffer.append(contentsOf: bytes)
            if buffer.count >= 1 << 20 { try flush() }
        }

        private func flush() throws(PlaneProtocolError) {
            var done = 0
            while done < buffer.count {
                let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw BundleTree.ioError("cannot write the archive", errno) }
                done += n
            }
            buffer.removeAll(keepingCapacity: true)
        }
    }

    // MARK: Reading

    /// One entry read by ``readCanonical(fd:limits:keeping:)``: a file's sha256, and its bytes when asked for.
    public struct ReadEntry: Sendable {
        public var entry: StreamEntry
        /// sha256 of a file's bytes (nil for a directory or symlink).
        public var sha256: Hash32?
        /// The file's bytes, for the paths asked for.
        public var contents: [UInt8]?
    }

    /// Reads the archive at `fd` strictly and checks it is canonical without holding it in memory: every header
    /// is re-encoded from its fields and must equal the bytes read, paths must increase byte-wise, every parent
    /// directory must come before its children, padding must be zeros, and the archive must end with two zero
    /// blocks and zeros to a whole record. Returns the entries and the archive's sha256 and length.
    ///
    /// Damage (truncation, a bad checksum or field, an unsupported type) is `.malformed`; a well-formed archive
    /// in another encoding is `.notCanonical`, naming the entry and the header field.
    public static func readCanonical(
        fd: Int32,
        limits: Limits,
        keeping: Set<[UInt8]> = [],
        maxKeptBytes: Int = 1 << 20
    ) throws(PlaneProtocolError) -> (entries: [ReadEntry], sha256: Hash32, count: Int) {
        let reader = BlockReader(fd: fd)
        var entries: [ReadEntry] = []
        var directories: Set<[UInt8]> = []
        var lastPath: [UInt8]?
        while true {
            let offset = reader.count
            guard let block = try reader.read(blockSize) else {
                throw PlaneProtocolError(.malformed, "the archive ends without its two zero blocks (truncated?)")
            }
            if block.allSatisfy({ $0 == 0 }) {
                guard let second = try reader.read(blockSize), second.allSatisfy({ $0 == 0 }) else {
                    throw PlaneProtocolError(.malformed, "at byte \(offset): expected two zero blocks at the end")
                }
                let end = reader.count
                while let rest = try reader.read(blockSize) {
                    guard rest.allSatisfy({ $0 == 0 }) else {
                        throw PlaneProtocolError(.malformed, "data after the end of the archive (byte \(offset))")
                    }
                }
                let total = (end + recordSize - 1) / recordSize * recordSize
                guard reader.count >= total else {
                    throw PlaneProtocolError(
                        .malformed,
                        "expected the archive padded with zeros to \(total) bytes, found \(reader.count) (truncated?)"
                    )
                }
                guard reader.count == total else {
                    throw PlaneProtocolError(
                        .notCanonical,
                        "expected the archive padded with zeros to \(total) bytes (whole 10,240-byte records), "
                            + "found \(reader.count)"
                    )
                }
                return (entries, reader.finalize(), reader.count)
            }
            guard reader.count <= limits.maxArchiveBytes else {
                throw PlaneProtocolError(.tooLarge, "expected an archive of at most \(limits.maxArchiveBytes) bytes")
            }
            let entry = try streamEntry(block[...], at: offset)
            guard entries.count < limits.maxEntries else {
                throw PlaneProtocolError(.tooLarge, "expected at most \(limits.maxEntries) entries, found more")
            }
            let canonical = try entry.header()
            if let at = (0..<blockSize).first(where: { canonical[$0] != block[$0] }) {
                throw PlaneProtocolError(
                    .notCanonical,
                    "\(entry.displayPath): expected the canonical header; the first difference is in its "
                        + "\(fieldName(at)) field (byte \(offset + at))"
                )
            }
            if let lastPath, !lastPath.lexicographicallyPrecedes(entry.path) {
                throw PlaneProtocolError(
                    lastPath == entry.path ? .malformed : .notCanonical,
                    lastPath == entry.path
                        ? "\(entry.displayPath): listed twice"
                        : "\(entry.displayPath): expected entries in byte-wise path order, it follows "
                            + BundlePath.display(lastPath)
                )
            }
            lastPath = entry.path
            if let slash = entry.path.lastIndex(of: UInt8(ascii: "/")) {
                let parent = Array(entry.path[..<slash])
                guard directories.contains(parent) else {
                    throw PlaneProtocolError(
                        .notCanonical,
                        "\(entry.displayPath): expected its directory \(BundlePath.display(parent))/ listed before it"
                    )
                }
            }
            var read = ReadEntry(entry: entry, sha256: nil, contents: nil)
            switch entry.kind {
            case .directory: directories.insert(entry.path)
            case .symlink: break
            case .file(let size, _):
                let keep = keeping.contains(entry.path)
                guard !keep || size <= maxKeptBytes else {
                    throw PlaneProtocolError(
                        .tooLarge,
                        "\(entry.displayPath): expected at most \(maxKeptBytes) bytes, found \(size)"
                    )
                }
                let context = DigestContext(.sha256)
                var kept: [UInt8] = []
                var left = size
                while left > 0 {
                    guard let chunk = try reader.read(min(left, 1 << 20)) else {
                        throw PlaneProtocolError(
                            .malformed,
                            "\(entry.displayPath): the archive ends inside its \(size) bytes (truncated?)"
                        )
                    }
                    context.update(chunk)
                    if keep { kept += chunk }
                    left -= chunk.count
                }
                let padding = padded(size) - size
                if padding > 0 {
                    guard let zeros = try reader.read(padding) else {
                        throw PlaneProtocolError(.malformed, "\(entry.displayPath): the archive ends in its padding")
                    }
                    guard zeros.allSatisfy({ $0 == 0 }) else {
                        throw PlaneProtocolError(.notCanonical, "\(entry.displayPath): expected zeros after its data")
                    }
                }
                // sha256 always gives 32 bytes, which is exactly what Hash32 holds.
                read.sha256 = try! Hash32(context.finalize())
                if keep { read.contents = kept }
            }
            entries.append(read)
        }
    }

    /// The entry a header describes; only directories, regular files and symlinks are accepted.
    static func streamEntry(_ h: ArraySlice<UInt8>, at offset: Int) throws(PlaneProtocolError) -> StreamEntry {
        let fields = try headerFields(h, at: offset)
        var name = fields.name
        let display = BundlePath.display(name)
        switch fields.type {
        case UInt8(ascii: "0"), 0:
            guard name.last != UInt8(ascii: "/") else {
                throw PlaneProtocolError(.malformed, "\(display): a file named with a trailing slash")
            }
            return try StreamEntry(path: name, kind: .file(size: fields.size, executable: fields.mode & 0o111 != 0))
        case UInt8(ascii: "5"):
            guard name.last == UInt8(ascii: "/") else {
                throw PlaneProtocolError(.notCanonical, "\(display): a directory named without its trailing slash")
            }
            guard fields.size == 0 else { throw PlaneProtocolError(.malformed, "\(display): a directory with data") }
            name.removeLast()
            return try StreamEntry(path: name, kind: .directory)
        case UInt8(ascii: "2"):
            guard fields.size == 0 else { throw PlaneProtocolError(.malformed, "\(display): a symlink with data") }
            return try StreamEntry(path: name, kind: .symlink(target: fields.linkName))
        case UInt8(ascii: "1"):
            throw PlaneProtocolError(.unsupportedEntry, "\(display): a hard link; expected files, dirs and symlinks")
        default:
            throw PlaneProtocolError(
                .unsupportedEntry,
                "\(display): tar entry type \(BundlePath.display([fields.type])) (a device, FIFO or extension "
                    + "header); expected files (0), symlinks (2) and dirs (5)"
            )
        }
    }

    /// The name of the header field at `offset` within a header, for messages.
    static func fieldName(_ offset: Int) -> String {
        let fields: [(Range<Int>, String)] = [
            (0..<100, "name"), (100..<108, "mode"), (108..<124, "uid/gid"), (124..<136, "size"),
            (136..<148, "mtime"), (148..<156, "checksum"), (156..<157, "type"), (157..<257, "link name"),
            (257..<265, "magic/version"), (265..<329, "uname/gname"), (329..<345, "device numbers"),
            (345..<500, "prefix"),
        ]
        return fields.first { $0.0.contains(offset) }?.1 ?? "padding"
    }

    /// Reads exact counts of bytes from a descriptor, hashing all it reads.
    private final class BlockReader {
        let fd: Int32
        let digest = DigestContext(.sha256)
        var count = 0

        init(fd: Int32) { self.fd = fd }

        /// Exactly `n` bytes, nil at the end of the file (also when fewer than `n` remain).
        func read(_ n: Int) throws(PlaneProtocolError) -> [UInt8]? {
            var out = [UInt8](repeating: 0, count: n)
            var got = 0
            while got < n {
                let r = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, n - got) }
                if r < 0 && errno == EINTR { continue }
                guard r >= 0 else { throw BundleTree.ioError("cannot read the archive", errno) }
                if r == 0 { break }
                got += r
            }
            out.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0.prefix(got))) }
            count += got
            return got == n ? out : nil
        }

        func finalize() -> Hash32 {
            // sha256 always gives 32 bytes, which is exactly what Hash32 holds.
            try! Hash32(digest.finalize())
        }
    }
}
