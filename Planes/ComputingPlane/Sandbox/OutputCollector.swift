import Foundation
import Glibc
import PlaneCrypto

/// Takes a finished job's outputs out of its /out tmpfs, after every job process is dead.
///
/// Only regular files with one link and UTF-8 names are kept, each opened relative to its directory with
/// `O_NOFOLLOW` and copied to the same relative path under the destination (directories 0700, files 0600).
/// Symlinks, FIFOs, sockets, devices, hard links and undecodable names are rejected with a reason.
enum OutputCollector {
    struct Collected {
        var outputs: [SandboxResult.Output] = []
        var rejected: [SandboxResult.Rejected] = []
    }

    static func collect(from source: String, into destination: String) throws(ComputingPlaneError) -> Collected {
        var collected = Collected()
        let root = open(source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else {
            throw ComputingPlaneError(.io, "cannot open \(source): \(ComputingPlaneError.text(errno))")
        }
        defer { close(root) }
        try walk(root, relative: "", into: destination, &collected)
        collected.outputs.sort { $0.path < $1.path }
        collected.rejected.sort { $0.path < $1.path }
        return collected
    }

    private static func walk(
        _ dir: Int32,
        relative: String,
        into destination: String,
        _ collected: inout Collected
    ) throws(ComputingPlaneError) {
        let copy = dup(dir)
        guard copy >= 0, let stream = fdopendir(copy) else { return }
        var names: [[UInt8]] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        closedir(stream)
        for name in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard let text = String(validating: name, as: UTF8.self), !text.contains("\u{0}") else {
                collected.rejected.append(
                    .init(path: relative + String(decoding: name, as: UTF8.self), reason: "name is not UTF-8")
                )
                continue
            }
            let path = relative + text
            var st = stat()
            guard fstatat(dir, text, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                collected.rejected.append(.init(path: path, reason: "cannot stat: \(ComputingPlaneError.text(errno))"))
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                let sub = openat(dir, text, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else { continue }
                defer { close(sub) }
                try walk(sub, relative: path + "/", into: destination, &collected)
            case S_IFREG where st.st_nlink == 1:
                collected.outputs.append(try copyFile(dir, name: text, relative: path, into: destination))
            case S_IFREG:
                collected.rejected.append(.init(path: path, reason: "a hard link (\(st.st_nlink) names)"))
            case S_IFLNK:
                collected.rejected.append(.init(path: path, reason: "a symlink"))
            case S_IFIFO:
                collected.rejected.append(.init(path: path, reason: "a FIFO"))
            case S_IFSOCK:
                collected.rejected.append(.init(path: path, reason: "a socket"))
            default:
                collected.rejected.append(.init(path: path, reason: "a device or special file"))
            }
        }
    }

    private static func copyFile(
        _ dir: Int32,
        name: String,
        relative: String,
        into destination: String
    ) throws(ComputingPlaneError) -> SandboxResult.Output {
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw ComputingPlaneError(.io, "cannot open output \(relative): \(ComputingPlaneError.text(errno))")
        }
        defer { close(fd) }
        let target = destination + "/" + relative
        let parent = (target as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: parent,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw ComputingPlaneError(.io, "cannot create \(parent): \(error.localizedDescription)")
        }
        let out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard out >= 0 else {
            throw ComputingPlaneError(.io, "cannot create \(target): \(ComputingPlaneError.text(errno))")
        }
        defer { close(out) }
        let digest = DigestContext(.sha256)
        var size: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw ComputingPlaneError(.io, "cannot read output \(relative): \(ComputingPlaneError.text(errno))")
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { Glibc.write(out, $0.baseAddress! + written, n - written) }
                guard w > 0 else {
                    throw ComputingPlaneError(.io, "cannot write \(target): \(ComputingPlaneError.text(errno))")
                }
                written += w
            }
            size += UInt64(n)
        }
        guard fsync(out) == 0 else {
            throw ComputingPlaneError(.io, "cannot sync \(target): \(ComputingPlaneError.text(errno))")
        }
        let hex = digest.finalize().map { String(format: "%02x", $0) }.joined()
        return SandboxResult.Output(path: relative, size: size, sha256: hex)
    }
}
