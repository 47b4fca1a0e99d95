public import ChainCore
import PlaneCrypto

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The job runtime's digest: what a bundle's `delong.json` `runtime` names and what the image digest binds.
///
/// A venv is not a plain tree of files: it holds symlinks, and its interpreter lives outside it. So the digest
/// is sha256 of a canonical listing of the venv plus the interpreter it runs on (docs/runtime.md):
///
/// ```
/// listing = "delong/runtime/v1" NUL
///           "interpreter" NUL sha256-hex(interpreter bytes) NUL debian-package NUL debian-version NUL
///           then per entry under the venv (not the venv itself), sorted byte-wise by path:
///           path NUL type NUL mode NUL size NUL payload NUL
/// runtimeDigest = sha256(listing)
/// ```
///
/// `path` is the entry's path relative to the venv, as the kernel's bytes; `type` is `d` (directory), `f`
/// (regular file) or `l` (symlink); `mode` the permission bits (`st_mode & 07777`) as four octal digits; `size`
/// decimal: the file's length, 0 for a directory, the target's length for a symlink; `payload` the file's
/// sha256 in lowercase hex, the symlink's target bytes, or nothing for a directory. Neither paths nor link
/// targets can hold NUL, so the listing parses one way only. Owners and times are not part of it.
public enum RuntimeDigest {
    /// The listing's first field: its version.
    public static let domain = "delong/runtime/v1"

    /// The listing of `entries` (any order; sorted here) on `interpreter`.
    public static func listing(entries: [RuntimeEntry], interpreter: RuntimeInterpreter) -> [UInt8] {
        var out = Array(domain.utf8) + [0]
        for field in [
            "interpreter", Hex.encode(interpreter.sha256.bytes, prefix: false), interpreter.debianPackage,
            interpreter.debianVersion,
        ] {
            out += Array(field.utf8) + [0]
        }
        for entry in entries.sorted(by: { $0.path.lexicographicallyPrecedes($1.path) }) {
            out += entry.path + [0]
            out += Array(entry.kind.letter.utf8) + [0]
            out += Array(octal(entry.mode).utf8) + [0]
            out += Array(String(entry.size).utf8) + [0]
            switch entry.kind {
            case .directory: break
            case .file(let sha256): out += Array(Hex.encode(sha256.bytes, prefix: false).utf8)
            case .symlink(let target): out += target
            }
            out.append(0)
        }
        return out
    }

    /// sha256 of the listing.
    public static func of(entries: [RuntimeEntry], interpreter: RuntimeInterpreter) -> Hash32 {
        BundleDigest.of(listing(entries: entries, interpreter: interpreter))
    }

    /// The permission bits as four octal digits (`0755`).
    static func octal(_ mode: UInt32) -> String {
        let text = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: 4 - text.count) + text
    }
}

/// One entry of a runtime venv, as the listing holds it.
public struct RuntimeEntry: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case directory
        /// A regular file and the sha256 of its bytes.
        case file(sha256: Hash32)
        /// A symlink and its target's bytes (not followed).
        case symlink(target: [UInt8])

        var letter: String {
            switch self {
            case .directory: "d"
            case .file: "f"
            case .symlink: "l"
            }
        }
    }

    /// The path relative to the venv, as the kernel's bytes (no leading `/`, no `.` or `..`).
    public var path: [UInt8]
    public var kind: Kind
    /// Permission bits (`st_mode & 07777`).
    public var mode: UInt32
    /// The file's length, 0 for a directory, the target's length for a symlink.
    public var size: UInt64

    public init(path: [UInt8], kind: Kind, mode: UInt32, size: UInt64) {
        self.path = path
        self.kind = kind
        self.mode = mode & 0o7777
        self.size = size
    }
}

/// The interpreter a venv runs on, as the runtime digest binds it.
public struct RuntimeInterpreter: Sendable, Hashable {
    /// Where it is (for people; the listing holds the venv's link to it).
    public var path: String
    /// sha256 of the executable's bytes.
    public var sha256: Hash32
    /// The Debian package that ships it (`python3.11-minimal`), or `-` when no package does.
    public var debianPackage: String
    /// That package's version (`3.11.2-6+deb12u6`), or `-`.
    public var debianVersion: String

    public init(path: String, sha256: Hash32, debianPackage: String, debianVersion: String) {
        self.path = path
        self.sha256 = sha256
        self.debianPackage = debianPackage
        self.debianVersion = debianVersion
    }
}

/// Reads a venv into runtime entries. Symlinks are listed, never followed; the walk goes through directory
/// descriptors opened with `O_NOFOLLOW`, so a link swapped in during the walk is refused, not followed.
/// Refused, naming the path: devices, FIFOs, sockets, and trees beyond `maxEntries` or `maxDepth`.
public enum RuntimeTree {
    /// More entries than any runtime has (the standard one has about 14,000).
    public static let maxEntries = 1_000_000
    /// Deeper than any runtime is.
    public static let maxDepth = 64

    /// The entries under `root` (not `root` itself), with every regular file hashed.
    public static func entries(under root: String) throws(PlaneProtocolError) -> [RuntimeEntry] {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleTree.ioError("cannot open directory \(root)", errno) }
        defer { close(fd) }
        var entries: [RuntimeEntry] = []
        try walk(fd, path: [], depth: 0, into: &entries)
        return entries
    }

    private static func walk(
        _ fd: Int32,
        path: [UInt8],
        depth: Int,
        into entries: inout [RuntimeEntry]
    ) throws(PlaneProtocolError) {
        guard depth < maxDepth else {
            throw PlaneProtocolError(.tooLarge, "\(BundlePath.display(path)): deeper than \(maxDepth) directories")
        }
        for name in try BundleTree.names(fd, path: path) {
            let child = path.isEmpty ? name : path + [UInt8(ascii: "/")] + name
            let display = BundlePath.display(child)
            guard entries.count < maxEntries else {
                throw PlaneProtocolError(.tooLarge, "expected at most \(maxEntries) entries, found more")
            }
            var st = stat()
            guard BundleTree.withCName(name, { fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw BundleTree.ioError("cannot stat \(display)", errno)
            }
            let mode = UInt32(st.st_mode) & 0o7777
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                entries.append(RuntimeEntry(path: child, kind: .directory, mode: mode, size: 0))
                let sub = BundleTree.withCName(name) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                guard sub >= 0 else { throw BundleTree.ioError("cannot open directory \(display)", errno) }
                defer { close(sub) }
                try walk(sub, path: child, depth: depth + 1, into: &entries)
            case S_IFREG:
                let (digest, size) = try hashFile(fd, name: name, display: display, expected: st)
                entries.append(RuntimeEntry(path: child, kind: .file(sha256: digest), mode: mode, size: size))
            case S_IFLNK:
                var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = BundleTree.withCName(name) { cName in
                    buffer.withUnsafeMutableBytes {
                        readlinkat(fd, cName, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count)
                    }
                }
                guard n >= 0, n < buffer.count else {
                    throw BundleTree.ioError("cannot read the link \(display)", errno)
                }
                let target = Array(buffer.prefix(n))
                entries.append(
                    RuntimeEntry(path: child, kind: .symlink(target: target), mode: mode, size: UInt64(target.count))
                )
            default:
                throw PlaneProtocolError(
                    .unsupportedEntry,
                    "\(display): a device, FIFO or socket; a runtime holds only files, directories and symlinks"
                )
            }
        }
    }

    /// sha256 of the regular file at `path` (the interpreter a venv's link reaches: resolve the link first; a
    /// symlink as the last component is refused).
    public static func sha256(ofFileAt path: String) throws(PlaneProtocolError) -> Hash32 {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw BundleTree.ioError("cannot stat \(path)", errno) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw PlaneProtocolError(.unsupportedEntry, "\(path): expected a regular file")
        }
        return try hashFile(AT_FDCWD, name: Array(path.utf8), display: path, expected: st).0
    }

    /// sha256 and length of a regular file, opened without following links and checked to be the file stat'ed.
    static func hashFile(
        _ dir: Int32,
        name: [UInt8],
        display: String,
        expected: stat
    ) throws(PlaneProtocolError) -> (Hash32, UInt64) {
        let fd = BundleTree.withCName(name) { openat(dir, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw BundleTree.ioError("cannot open \(display)", errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_ino == expected.st_ino, st.st_dev == expected.st_dev,
            st.st_mode & S_IFMT == S_IFREG
        else {
            throw PlaneProtocolError(.io, "\(display): the file changed while the tree was read")
        }
        let context = DigestContext(.sha256)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total: UInt64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw BundleTree.ioError("cannot read \(display)", errno) }
            if n == 0 { break }
            buffer.withUnsafeBytes { context.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            total += UInt64(n)
        }
        guard total == UInt64(st.st_size) else {
            throw PlaneProtocolError(.io, "\(display): the file changed size while it was read")
        }
        // sha256 always gives 32 bytes, which is exactly what Hash32 holds.
        return (try! Hash32(context.finalize()), total)
    }
}
