public import ChainCore
import Foundation
import PlaneCrypto

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The runner payload (docs/payload.md): what a Confidential VM boot image carries to run a job's agent, as one
/// canonical tar (``CanonicalTar``'s encoding, with symlinks) so that two builds from the same inputs give the
/// same bytes:
///
/// ```
/// debs/<name>_<version>_<arch>.deb   the pinned Debian packages of contrib/payload/debs.lock
/// delong                             the delong binary (0755)
/// payload.json                       the manifest (``PayloadManifest``), sorted keys
/// runtime/...                        the job runtime venv, modes normalized (0755 dirs and executables, else 0644)
/// ```
public enum RunnerPayload {
    /// The manifest's `format`.
    public static let format = "delong/payload/v1"
    /// Top-level names.
    public static let manifestPath = "payload.json"
    public static let delongPath = "delong"
    public static let runtimeDirectory = "runtime"
    public static let debsDirectory = "debs"
    /// 8 GiB and a million entries: far beyond the real payload (about 700 MB and 14,000 entries).
    public static let limits = CanonicalTar.Limits(maxArchiveBytes: 8 << 30, maxEntries: 1_000_000)

    /// The mode a runtime entry has in the payload and after extraction with umask 022: 0755 for directories and
    /// files with any execute bit, 0644 for other files, 0777 for symlinks (Linux shows every symlink so). The
    /// manifest's runtime digest is computed over these modes, so it is the digest of the extracted tree.
    public static func normalizedMode(_ kind: RuntimeEntry.Kind, mode: UInt32) -> UInt32 {
        switch kind {
        case .directory: 0o755
        case .file: mode & 0o111 != 0 ? 0o755 : 0o644
        case .symlink: 0o777
        }
    }

    /// Refuses a runtime symlink that could lead out of the runtime tree. A relative target may climb only with
    /// leading `..` components, no higher than the link's own directory's depth, then only descend (no `..`
    /// after a name), so it names a path inside the tree whatever the names it passes through are. An absolute
    /// target is allowed only when it is the venv's interpreter (`interpreter`, bound by the runtime digest and
    /// provided by the boot image).
    public static func checkLink(
        _ path: [UInt8],
        target: [UInt8],
        interpreter: String
    ) throws(PlaneProtocolError) {
        let display = "runtime/" + BundlePath.display(path)
        if target.first == UInt8(ascii: "/") {
            guard target == Array(interpreter.utf8) else {
                throw PlaneProtocolError(
                    .unsupportedEntry,
                    "\(display) -> \(BundlePath.display(target)): an absolute link out of the runtime; only the "
                        + "interpreter \(interpreter) may be linked so"
                )
            }
            return
        }
        var depth = path.split(separator: UInt8(ascii: "/")).count - 1
        var descended = false
        for component in target.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.elementsEqual([UInt8(ascii: ".")]) { continue }
            if component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                depth -= 1
                guard !descended, depth >= 0 else {
                    throw PlaneProtocolError(
                        .unsupportedEntry,
                        "\(display) -> \(BundlePath.display(target)): a link that "
                            + (descended ? "climbs after a name (it could leave the tree)" : "leads out of the runtime")
                    )
                }
            } else {
                descended = true
            }
        }
    }
}

/// The runner payload's manifest, `payload.json`: JSON with sorted keys, two-space indentation and a final
/// newline (``encoded()``); a payload holds exactly these bytes.
public struct PayloadManifest: Codable, Sendable, Hashable {
    /// `delong/payload/v1`.
    public var format: String
    /// The delong binary.
    public var delong: Binary
    /// The job runtime and the interpreter its venv links to.
    public var runtime: Runtime
    /// Each pinned Debian package, sorted by file name.
    public var debs: [Deb]

    /// A file named by its sha256.
    public struct Binary: Codable, Sendable, Hashable {
        public var path: String
        public var sha256: String
    }

    /// The runtime's digest (``RuntimeDigest`` of `runtime/` with normalized modes) and its interpreter.
    public struct Runtime: Codable, Sendable, Hashable {
        public var path: String
        public var digest: String
        public var interpreter: Interpreter
    }

    /// ``RuntimeInterpreter`` as JSON.
    public struct Interpreter: Codable, Sendable, Hashable {
        public var path: String
        public var sha256: String
        public var debianPackage: String
        public var debianVersion: String

        public init(_ interpreter: RuntimeInterpreter) {
            path = interpreter.path
            sha256 = Hex.encode(interpreter.sha256.bytes, prefix: false)
            debianPackage = interpreter.debianPackage
            debianVersion = interpreter.debianVersion
        }

        /// Back to the digest's type; nil when `sha256` is not 64 hex digits.
        public var value: RuntimeInterpreter? {
            guard let bytes = try? Hex.decode(sha256), let digest = try? Hash32(bytes) else { return nil }
            return RuntimeInterpreter(
                path: path,
                sha256: digest,
                debianPackage: debianPackage,
                debianVersion: debianVersion
            )
        }
    }

    /// One Debian package: where it is in the payload and what the lock pins.
    public struct Deb: Codable, Sendable, Hashable {
        public var file: String
        public var name: String
        public var version: String
        public var sha256: String

        public init(file: String, name: String, version: String, sha256: String) {
            self.file = file
            self.name = name
            self.version = version
            self.sha256 = sha256
        }
    }

    public init(delongSHA256: Hash32, runtimeDigest: Hash32, interpreter: RuntimeInterpreter, debs: [Deb]) {
        format = RunnerPayload.format
        delong = Binary(path: RunnerPayload.delongPath, sha256: Hex.encode(delongSHA256.bytes, prefix: false))
        runtime = Runtime(
            path: RunnerPayload.runtimeDirectory,
            digest: BundleDigest.text(runtimeDigest),
            interpreter: Interpreter(interpreter)
        )
        self.debs = debs.sorted { $0.file < $1.file }
    }

    /// The one encoding: sorted keys, two-space indentation (JSONEncoder's pretty printing), a final newline.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Strings, arrays and objects of strings always encode.
        return Array(try! encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}

/// `contrib/payload/debs.lock`: one pinned Debian package per line, `name version sha256` (sha256 of the .deb
/// as `apt-get download name=version` fetches it); `#` starts a comment.
public struct DebLock: Sendable, Hashable {
    /// One pin.
    public struct Pin: Sendable, Hashable {
        public var name: String
        public var version: String
        public var sha256: Hash32
    }

    /// The pins, in the lock's order.
    public var pins: [Pin]

    /// Parses a lock; refused with the line: a line without three fields, a bad sha256, a name twice.
    public init(parsing text: String) throws(PlaneProtocolError) {
        var pins: [Pin] = []
        var names: Set<String> = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.isEmpty { continue }
            guard fields.count == 3 else {
                throw PlaneProtocolError(
                    .malformed,
                    "line \(i + 1): expected `name version sha256`, found \(fields.count) fields"
                )
            }
            guard fields[0].allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }),
                !fields[1].contains("/"), !fields[1].contains("_")
            else {
                throw PlaneProtocolError(.malformed, "line \(i + 1): expected a Debian package name and version")
            }
            guard fields[2].count == 64, let bytes = try? Hex.decode(fields[2]), let digest = try? Hash32(bytes) else {
                throw PlaneProtocolError(.malformed, "line \(i + 1): expected a sha256 of 64 hex digits")
            }
            guard names.insert(fields[0]).inserted else {
                throw PlaneProtocolError(.malformed, "line \(i + 1): \(fields[0]) is pinned twice")
            }
            pins.append(Pin(name: fields[0], version: fields[1], sha256: digest))
        }
        guard !pins.isEmpty else { throw PlaneProtocolError(.malformed, "expected at least one pinned package") }
        self.pins = pins
    }

    /// The name and version of a file named as `apt-get download` names it: `name_version_arch.deb`, the
    /// version's `:` written `%3a`. Nil for any other name.
    public static func parseFileName(_ file: String) -> (name: String, version: String)? {
        guard file.hasSuffix(".deb") else { return nil }
        let parts = file.dropLast(4).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        return (String(parts[0]), parts[1].replacingOccurrences(of: "%3a", with: ":"))
    }
}

/// A payload that passed ``PayloadVerifier/verify(path:)``.
public struct VerifiedPayload: Sendable {
    public let manifest: PayloadManifest
    /// sha256 of the payload file.
    public let sha256: Hash32
    /// Its length in bytes.
    public let count: Int
    /// Entries in it.
    public let entries: Int
}

/// Checks a runner payload file: canonical (``CanonicalTar/readCanonical(fd:limits:keeping:maxKeptBytes:)``),
/// only the payload's top-level names, and the manifest true to the contents: delong's sha256, exactly the
/// listed .debs with their sha256, every runtime link inside the tree (or the interpreter), and the runtime
/// digest recomputed from `runtime/`.
public enum PayloadVerifier {
    /// Damage is `.malformed`; a payload that is well formed but not canonical, or whose manifest does not match
    /// its contents, is `.notCanonical` or `.mismatch`.
    public static func verify(path: String) throws(PlaneProtocolError) -> VerifiedPayload {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleTree.ioError("cannot open payload \(path)", errno) }
        defer { close(fd) }
        let manifestPath = Array(RunnerPayload.manifestPath.utf8)
        let (entries, sha256, count) = try CanonicalTar.readCanonical(
            fd: fd,
            limits: RunnerPayload.limits,
            keeping: [manifestPath]
        )
        guard let manifestBytes = entries.first(where: { $0.entry.path == manifestPath })?.contents else {
            throw PlaneProtocolError(.malformed, "expected \(RunnerPayload.manifestPath) in the payload, found none")
        }
        let manifest: PayloadManifest
        do { manifest = try JSONDecoder().decode(PayloadManifest.self, from: Data(manifestBytes)) } catch {
            throw PlaneProtocolError(.malformed, "\(RunnerPayload.manifestPath): not a payload manifest (\(error))")
        }
        guard manifest.format == RunnerPayload.format else {
            throw PlaneProtocolError(
                .malformed,
                "\(RunnerPayload.manifestPath): expected format \(RunnerPayload.format), found \(manifest.format)"
            )
        }
        guard manifest.encoded() == manifestBytes else {
            throw PlaneProtocolError(
                .notCanonical,
                "\(RunnerPayload.manifestPath): expected its canonical JSON (sorted keys, two-space indentation)"
            )
        }
        guard let interpreter = manifest.runtime.interpreter.value,
            let declared = try? BundleDigest.parse(manifest.runtime.digest)
        else {
            throw PlaneProtocolError(.malformed, "\(RunnerPayload.manifestPath): a bad runtime digest or interpreter")
        }

        var delong: Hash32?
        var debs: [String: Hash32] = [:]
        var runtime: [RuntimeEntry] = []
        let runtimePrefix = Array((RunnerPayload.runtimeDirectory + "/").utf8)
        let debsPrefix = Array((RunnerPayload.debsDirectory + "/").utf8)
        for read in entries {
            let entry = read.entry
            let path = entry.path
            if path == Array(RunnerPayload.delongPath.utf8) {
                guard case .file(_, true) = entry.kind else {
                    throw PlaneProtocolError(.mismatch, "delong: expected an executable file")
                }
                delong = read.sha256
            } else if path == manifestPath || path == Array(RunnerPayload.runtimeDirectory.utf8)
                || path == Array(RunnerPayload.debsDirectory.utf8)
            {
                continue
            } else if path.starts(with: runtimePrefix) {
                let relative = Array(path.dropFirst(runtimePrefix.count))
                switch entry.kind {
                case .directory:
                    runtime.append(RuntimeEntry(path: relative, kind: .directory, mode: 0o755, size: 0))
                case .file(let size, let executable):
                    runtime.append(
                        RuntimeEntry(
                            path: relative,
                            kind: .file(sha256: read.sha256!),
                            mode: executable ? 0o755 : 0o644,
                            size: UInt64(size)
                        )
                    )
                case .symlink(let target):
                    try RunnerPayload.checkLink(relative, target: target, interpreter: interpreter.path)
                    runtime.append(
                        RuntimeEntry(
                            path: relative,
                            kind: .symlink(target: target),
                            mode: 0o777,
                            size: UInt64(target.count)
                        )
                    )
                }
            } else if path.starts(with: debsPrefix), case .file = entry.kind,
                !path.dropFirst(debsPrefix.count).contains(UInt8(ascii: "/"))
            {
                debs[entry.displayPath] = read.sha256
            } else {
                throw PlaneProtocolError(
                    .mismatch,
                    "\(entry.displayPath): not part of a payload (expected delong, payload.json, runtime/ and "
                        + "debs/*.deb)"
                )
            }
        }
        guard let delong else { throw PlaneProtocolError(.mismatch, "expected the delong binary, found none") }
        let delongHex = Hex.encode(delong.bytes, prefix: false)
        guard delongHex == manifest.delong.sha256, manifest.delong.path == RunnerPayload.delongPath else {
            throw PlaneProtocolError(
                .mismatch,
                "delong: the manifest says sha256 \(manifest.delong.sha256), the payload holds \(delongHex)"
            )
        }
        let listed = Set(manifest.debs.map(\.file))
        if let missing = listed.subtracting(debs.keys).sorted().first {
            throw PlaneProtocolError(.mismatch, "\(missing): listed in the manifest, not in the payload")
        }
        if let extra = Set(debs.keys).subtracting(listed).sorted().first {
            throw PlaneProtocolError(.mismatch, "\(extra): in the payload, not listed in the manifest")
        }
        for deb in manifest.debs {
            let found = Hex.encode(debs[deb.file]!.bytes, prefix: false)
            guard found == deb.sha256 else {
                throw PlaneProtocolError(
                    .mismatch,
                    "\(deb.file): the manifest says sha256 \(deb.sha256), the payload holds \(found)"
                )
            }
        }
        let computed = RuntimeDigest.of(entries: runtime, interpreter: interpreter)
        guard computed == declared else {
            throw PlaneProtocolError(
                .mismatch,
                "runtime/: the manifest says \(manifest.runtime.digest), its files give \(BundleDigest.text(computed))"
            )
        }
        return VerifiedPayload(manifest: manifest, sha256: sha256, count: count, entries: entries.count)
    }
}
