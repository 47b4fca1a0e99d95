import Glibc

/// Reads `/proc/self/mountinfo` to find a mount without touching it: a mount restricted to a job uid answers
/// even root's `stat` with EACCES, so "is it mounted" cannot be asked of the mount itself.
public enum MountTable {
    /// Whether a filesystem is mounted exactly at `path` (its parent must exist; the path is not followed).
    public static func isMounted(_ path: String) -> Bool { device(of: path) != nil }

    /// `MAJOR:MINOR` of the topmost mount at `path`, or nil when nothing is mounted there.
    public static func device(of path: String) -> String? {
        guard let target = canonical(path), let table = readAll("/proc/self/mountinfo") else { return nil }
        var found: String?
        for line in table.split(separator: UInt8(ascii: "\n")) {
            // Fields: id, parent id, MAJOR:MINOR, root, mount point, ... (spaces inside paths are escaped).
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: false)
            guard fields.count >= 5, unescape(fields[4]) == target else { continue }
            found = String(decoding: fields[2], as: UTF8.self)
        }
        return found
    }

    /// The absolute path with the parent resolved (`realpath`) and the last component kept as given, so the
    /// mount itself is never asked.
    static func canonical(_ path: String) -> [UInt8]? {
        var bytes = Array(path.utf8)
        while bytes.count > 1, bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        let slash = bytes.lastIndex(of: UInt8(ascii: "/"))
        let parent = slash.map { $0 == 0 ? "/" : String(decoding: bytes[..<$0], as: UTF8.self) } ?? "."
        let name = Array(bytes[(slash.map { $0 + 1 } ?? 0)...])
        guard !name.isEmpty, name != Array(".".utf8), name != Array("..".utf8) else { return nil }
        guard let resolved = realpath(parent, nil) else { return nil }
        defer { free(resolved) }
        let base = Array(UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)))
        return (base == [UInt8(ascii: "/")] ? base : base + [UInt8(ascii: "/")]) + name
    }

    /// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
    static func unescape(_ field: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(field.count)
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == UInt8(ascii: "\\"), field.endIndex - i >= 4 {
                let digits = field[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    out.append(digits.reduce(0) { $0 &* 8 &+ ($1 - UInt8(ascii: "0")) })
                    i += 4
                    continue
                }
            }
            out.append(field[i])
            i += 1
        }
        return out
    }

    private static func readAll(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { return out }
            out += buffer[0..<n]
        }
    }
}

extension DecryptFSMount {
    /// Creates `path` as a new directory owned by `uid` (group of the same number, as job uids have), mode 0700,
    /// for a job's Decrypt FUSE: mounted there with ``Options/allowedUID`` set to the same uid, no other non-root
    /// user can even reach the mount, and the FUSE refuses every caller but the job. The directory must not
    /// exist yet (an existing one, or a symlink, could belong to someone else).
    public static func createJobMountDirectory(_ path: String, uid: UInt32) throws(DecryptFSError) {
        guard mkdir(path, 0o700) == 0 else {
            let code = errno
            throw DecryptFSError(
                .mountDirectoryFailed,
                "cannot create the job mount directory \(path): expected a new directory, found \(String(cString: strerror(code))) (errno \(code))"
            )
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw DecryptFSError(.mountDirectoryFailed, "cannot open \(path): \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        // fchmod after fchown: the umask may have taken bits away from 0700, and chown may clear none we need.
        guard fchown(fd, uid_t(uid), gid_t(uid)) == 0, fchmod(fd, 0o700) == 0 else {
            let code = errno
            throw DecryptFSError(
                .mountDirectoryFailed,
                "cannot give \(path) to uid \(uid) with mode 0700: \(String(cString: strerror(code))) (errno \(code))"
            )
        }
    }
}
