public import ChainCore
import Foundation
import Glibc

/// A content-addressed store of bundle bytes: `<root>/sha256/<64 hex>`. A plain directory by default; an
/// S3-compatible bucket mounted with rclone or JuiceFS works the same. Objects appear whole or not at all, and
/// every read is checked against its address, so a store that was tampered with cannot pass off other bytes.
public struct DAStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// Where the object with `digest` lives.
    public func path(of digest: Hash32) -> String {
        root + "/sha256/" + Hex.encode(digest.bytes, prefix: false)
    }

    /// Stores `bytes` under their sha256 and returns it. An object already present with the right bytes is left
    /// alone; one with other bytes (damaged or planted) is replaced.
    @discardableResult
    public func put(_ bytes: [UInt8]) throws(PlaneProtocolError) -> Hash32 {
        let digest = BundleDigest.of(bytes)
        let target = path(of: digest)
        if let existing = try? read(target, limit: bytes.count + 1), BundleDigest.of(existing) == digest {
            return digest
        }
        let directory = root + "/sha256"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PlaneProtocolError(.io, "DA store \(root): cannot create \(directory): \(error.localizedDescription)")
        }
        try Self.writeAtomically(bytes, to: target)
        return digest
    }

    /// The object with `digest`, refused unless its bytes hash to it.
    public func get(
        _ digest: Hash32,
        limit: Int = CanonicalTar.Limits.standard.maxArchiveBytes
    ) throws(PlaneProtocolError) -> [UInt8] {
        let bytes = try read(path(of: digest), limit: limit)
        let found = BundleDigest.of(bytes)
        guard found == digest else {
            throw PlaneProtocolError(
                .notCanonical,
                "DA store \(root): object \(BundleDigest.text(digest)) holds bytes of \(BundleDigest.text(found))"
            )
        }
        return bytes
    }

    private func read(_ path: String, limit: Int) throws(PlaneProtocolError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw PlaneProtocolError(.io, "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw PlaneProtocolError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return bytes }
            bytes += buffer[0..<n]
            guard bytes.count <= limit else {
                throw PlaneProtocolError(.tooLarge, "\(path): expected at most \(limit) bytes, found more")
            }
        }
    }

    /// Writes `bytes` to `path` whole or not at all: a temporary file beside it, fsync'd, renamed, and the
    /// directory fsync'd so the rename survives a crash.
    public static func writeAtomically(
        _ bytes: [UInt8],
        to path: String,
        mode: UInt32 = 0o644
    ) throws(PlaneProtocolError) {
        let name = (path as NSString).lastPathComponent
        let parent = (path as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        let temporary = directory + "/.\(name).\(UUID().uuidString).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else {
            throw PlaneProtocolError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        var ok = true
        var written = 0
        while ok && written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false } else { written += n }
        }
        let reason = String(cString: strerror(errno))
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw PlaneProtocolError(.io, "cannot write \(path): \(reason)")
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}
