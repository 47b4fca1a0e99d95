public import ChainCore
import Foundation
import Glibc
import PlaneCrypto
public import PlaneProtocol

/// Builds the runner payload (PlaneProtocol's ``RunnerPayload``): the delong binary, the job runtime venv and
/// the pinned .debs as one canonical tar with its manifest. The same inputs give the same bytes wherever they
/// are and whatever their owners, times, umask or creation order: only paths, normalized modes, contents and
/// link targets reach the archive.
///
/// It reads everything once to hash it and check it (the lock, links, the venv), then streams the archive to a
/// temporary file beside the output, hashing each file again as it is copied (a file that changed in between
/// fails the build), and renames it into place only when complete.
public struct PayloadBuilder: Sendable {
    public var delong: String
    public var runtime: String
    public var debs: String
    public var lock: String
    public var output: String

    public init(delong: String, runtime: String, debs: String, lock: String, output: String) {
        self.delong = delong
        self.runtime = runtime
        self.debs = debs
        self.lock = lock
        self.output = output
    }

    /// What was built.
    public struct Outcome: Sendable {
        public var manifest: PayloadManifest
        /// sha256 of the payload file.
        public var sha256: Hash32
        public var bytes: Int
        public var entries: Int
    }

    /// A file to copy into the archive and the sha256 it had when first read.
    private enum Source {
        case none
        case file(path: String, sha256: Hash32)
        case bytes([UInt8])
    }

    /// Builds the payload. Refused (`.badInput`, exit 2) with what was expected and found: a bad lock, a .deb
    /// missing, extra or with another sha256 than the lock's, a runtime that is not a venv, a link out of it;
    /// `.io` (exit 3) when a file cannot be read or the output written, or an input changed during the build.
    public func build() throws(ComputingPlaneError) -> Outcome {
        let pins: DebLock
        do throws(PlaneProtocolError) {
            guard let text = FileManager.default.contents(atPath: lock) else {
                throw PlaneProtocolError(.io, "cannot read the lock \(lock)")
            }
            pins = try DebLock(parsing: String(decoding: text, as: UTF8.self))
        } catch {
            throw ComputingPlaneError(error.code == .io ? .io : .badInput, "lock \(lock): \(error.reason)")
        }

        var items: [(CanonicalTar.StreamEntry, Source)] = []
        func add(_ path: String, _ kind: CanonicalTar.StreamEntry.Kind, _ source: Source) throws(ComputingPlaneError) {
            do { items.append((try CanonicalTar.StreamEntry(path: Array(path.utf8), kind: kind), source)) } catch {
                throw ComputingPlaneError(.badInput, error.reason)
            }
        }

        // The delong binary: a regular executable file (a link is refused, not followed).
        var st = stat()
        guard lstat(delong, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o111 != 0 else {
            throw ComputingPlaneError(.badInput, "delong \(delong): expected an executable regular file")
        }
        let delongSHA = try Self.hash(delong)
        try add(
            RunnerPayload.delongPath,
            .file(size: Int(st.st_size), executable: true),
            .file(path: delong, sha256: delongSHA)
        )

        // The runtime venv, modes normalized, every link checked.
        let venv = try RuntimeVenv.read(runtime)
        var runtimeEntries: [RuntimeEntry] = []
        try add(RunnerPayload.runtimeDirectory, .directory, .none)
        for entry in venv.entries {
            let mode = RunnerPayload.normalizedMode(entry.kind, mode: entry.mode)
            runtimeEntries.append(RuntimeEntry(path: entry.path, kind: entry.kind, mode: mode, size: entry.size))
            let path = RunnerPayload.runtimeDirectory + "/" + String(decoding: entry.path, as: UTF8.self)
            switch entry.kind {
            case .directory: try add(path, .directory, .none)
            case .file(let sha256):
                let source = venv.path + "/" + String(decoding: entry.path, as: UTF8.self)
                try add(
                    path,
                    .file(size: Int(entry.size), executable: mode == 0o755),
                    .file(path: source, sha256: sha256)
                )
            case .symlink(let target):
                do { try RunnerPayload.checkLink(entry.path, target: target, interpreter: venv.interpreter.path) } catch
                {
                    throw ComputingPlaneError(.badInput, "runtime \(runtime): \(error.reason)")
                }
                try add(path, .symlink(target: target), .none)
            }
        }
        let runtimeDigest = RuntimeDigest.of(entries: runtimeEntries, interpreter: venv.interpreter)
        // The digest binds the interpreter's bytes: a lock carrying another version of its package would give a
        // boot image whose Python is not the one the digest names.
        if let pin = pins.pins.first(where: { $0.name == venv.interpreter.debianPackage }),
            pin.version != venv.interpreter.debianVersion
        {
            throw ComputingPlaneError(
                .badInput,
                "\(pin.name): the runtime's interpreter \(venv.interpreter.path) is version "
                    + "\(venv.interpreter.debianVersion), the lock pins \(pin.version)"
            )
        }

        // The .debs: exactly the lock's, each with the lock's sha256.
        let debEntries = try matchDebs(pins)
        try add(RunnerPayload.debsDirectory, .directory, .none)
        for (file, size, sha256) in debEntries.files {
            try add(
                RunnerPayload.debsDirectory + "/" + file,
                .file(size: size, executable: false),
                .file(path: debs + "/" + file, sha256: sha256)
            )
        }

        let manifest = PayloadManifest(
            delongSHA256: delongSHA,
            runtimeDigest: runtimeDigest,
            interpreter: venv.interpreter,
            debs: debEntries.manifest
        )
        let manifestBytes = manifest.encoded()
        try add(RunnerPayload.manifestPath, .file(size: manifestBytes.count, executable: false), .bytes(manifestBytes))

        items.sort { $0.0.path.lexicographicallyPrecedes($1.0.path) }
        let (sha256, bytes) = try write(items)
        return Outcome(manifest: manifest, sha256: sha256, bytes: bytes, entries: items.count)
    }

    /// The .deb files of `debs` against the lock: sorted by name, with sizes and sha256, and the manifest's view.
    private func matchDebs(
        _ pins: DebLock
    ) throws(ComputingPlaneError) -> (files: [(String, Int, Hash32)], manifest: [PayloadManifest.Deb]) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: debs).sorted() } catch {
            throw ComputingPlaneError(.io, "cannot list the .deb directory \(debs): \(error.localizedDescription)")
        }
        var found: [String: (file: String, version: String)] = [:]
        for file in names {
            guard let (name, version) = DebLock.parseFileName(file) else {
                throw ComputingPlaneError(
                    .badInput,
                    "\(debs)/\(file): expected only .deb files named name_version_arch.deb (as apt-get download "
                        + "names them)"
                )
            }
            guard pins.pins.contains(where: { $0.name == name }) else {
                throw ComputingPlaneError(
                    .badInput,
                    "\(debs)/\(file): an extra package; the lock \(lock) does not pin \(name)"
                )
            }
            guard found[name] == nil else {
                throw ComputingPlaneError(.badInput, "\(debs): two files of \(name): \(found[name]!.file) and \(file)")
            }
            found[name] = (file, version)
        }
        var files: [(String, Int, Hash32)] = []
        var manifest: [PayloadManifest.Deb] = []
        for pin in pins.pins {
            guard let (file, version) = found[pin.name] else {
                throw ComputingPlaneError(
                    .badInput,
                    "\(pin.name) \(pin.version): pinned by the lock, expected \(pin.name)_\(pin.version)_*.deb in "
                        + "\(debs), found none"
                )
            }
            guard version == pin.version else {
                throw ComputingPlaneError(
                    .badInput,
                    "\(pin.name): the lock pins version \(pin.version), found \(file) (version \(version))"
                )
            }
            let path = debs + "/" + file
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                throw ComputingPlaneError(.badInput, "\(path): expected a regular file")
            }
            let sha256 = try Self.hash(path)
            guard sha256 == pin.sha256 else {
                throw ComputingPlaneError(
                    .badInput,
                    "\(pin.name) \(pin.version): the lock pins sha256 \(Hex.encode(pin.sha256.bytes, prefix: false)), "
                        + "found \(Hex.encode(sha256.bytes, prefix: false)) (\(path))"
                )
            }
            files.append((file, Int(st.st_size), sha256))
            manifest.append(
                PayloadManifest.Deb(
                    file: RunnerPayload.debsDirectory + "/" + file,
                    name: pin.name,
                    version: pin.version,
                    sha256: Hex.encode(sha256.bytes, prefix: false)
                )
            )
        }
        return (files, manifest)
    }

    /// Streams the archive to a temporary file beside the output and renames it into place; on any failure the
    /// temporary file is removed and the output left as it was.
    private func write(
        _ items: [(CanonicalTar.StreamEntry, Source)]
    ) throws(ComputingPlaneError) -> (Hash32, Int) {
        let url = URL(fileURLWithPath: output)
        let temporary =
            url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ComputingPlaneError(.io, "cannot create \(temporary): \(ComputingPlaneError.text(errno))")
        }
        var done = false
        defer {
            close(fd)
            if !done { unlink(temporary) }
        }
        let writer = CanonicalTar.StreamWriter(fd: fd, limits: RunnerPayload.limits)
        let result: (sha256: Hash32, count: Int)
        do throws(PlaneProtocolError) {
            for (entry, source) in items {
                try writer.append(entry)
                switch source {
                case .none: break
                case .bytes(let bytes):
                    try writer.write(bytes)
                case .file(let path, let sha256):
                    let copied = try Self.copy(path, size: entry.size, into: writer)
                    guard copied == sha256 else {
                        throw PlaneProtocolError(.io, "\(path): the file changed while the payload was built")
                    }
                }
            }
            result = try writer.finish()
        } catch {
            throw ComputingPlaneError(error.code == .io ? .io : .badInput, error.reason)
        }
        guard fsync(fd) == 0 else {
            throw ComputingPlaneError(.io, "cannot write \(temporary): \(ComputingPlaneError.text(errno))")
        }
        guard rename(temporary, output) == 0 else {
            throw ComputingPlaneError(.io, "cannot rename onto \(output): \(ComputingPlaneError.text(errno))")
        }
        done = true
        return (result.sha256, result.count)
    }

    /// Copies exactly `size` bytes of the regular file at `path` into the archive; returns their sha256.
    private static func copy(
        _ path: String,
        size: Int,
        into writer: CanonicalTar.StreamWriter
    ) throws(PlaneProtocolError) -> Hash32 {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw PlaneProtocolError(.io, "cannot open \(path): \(ComputingPlaneError.text(errno))") }
        defer { close(fd) }
        let context = DigestContext(.sha256)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var left = size
        while left > 0 {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, min(left, $0.count)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw PlaneProtocolError(.io, "\(path): the file changed (shorter, or unreadable) during the build")
            }
            try buffer.withUnsafeBytes { raw in
                Result { () throws(PlaneProtocolError) in
                    let chunk = UnsafeRawBufferPointer(rebasing: raw.prefix(n))
                    context.update(chunk)
                    try writer.write(chunk)
                }
            }.get()
            left -= n
        }
        // sha256 always gives 32 bytes, which is exactly what Hash32 holds.
        return try! Hash32(context.finalize())
    }

    /// sha256 of a regular file (a link as the last component is refused).
    private static func hash(_ path: String) throws(ComputingPlaneError) -> Hash32 {
        do { return try RuntimeTree.sha256(ofFileAt: path) } catch {
            throw ComputingPlaneError(error.code == .io ? .io : .badInput, error.reason)
        }
    }
}
