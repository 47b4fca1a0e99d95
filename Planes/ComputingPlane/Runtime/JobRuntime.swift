public import ChainCore
import Foundation
import Glibc
import PlaneCrypto
public import PlaneProtocol

/// The Python a job runs on: the built runtime venv (named by its digest) or the system Python.
public struct JobRuntime: Sendable, Hashable {
    /// The venv's host path, or nil for the system Python in /usr.
    public var path: String?
    /// The runtime digest, or nil for the system Python.
    public var digest: Hash32?

    /// Debian's python3.11 in /usr, named `system` in results.
    public static let system = JobRuntime(path: nil, digest: nil)

    public init(path: String?, digest: Hash32?) {
        self.path = path
        self.digest = digest
    }

    /// What results call it: `sha256:<hex>`, or `system`.
    public var label: String { digest.map(BundleDigest.text) ?? "system" }

    /// The runtime installed at `layout`, or the system Python when none is built (no venv or no record).
    /// The digest is the one `delong runtime build` recorded; `delong runtime digest` recomputes it.
    public static func installed(_ layout: RuntimeLayout = .standard) throws(ComputingPlaneError) -> JobRuntime {
        guard access(layout.venv + "/bin/python3", X_OK) == 0,
            let record = try RuntimeRecord.read(layout.record)
        else { return .system }
        return JobRuntime(path: layout.venv, digest: record.digest)
    }

    /// The runtime for a bundle that asks for `requested` (nil: the plane's default, whatever is installed).
    /// A bundle naming a runtime this machine does not have is refused, naming both.
    public static func select(requested: Hash32?, installed: JobRuntime) throws(ComputingPlaneError) -> JobRuntime {
        guard let requested else { return installed }
        guard let have = installed.digest else {
            throw ComputingPlaneError(
                .badInput,
                "the bundle asks for runtime \(BundleDigest.text(requested)); this machine has only the system "
                    + "runtime (build one with delong runtime build)"
            )
        }
        guard have == requested else {
            throw ComputingPlaneError(
                .badInput,
                "the bundle asks for runtime \(BundleDigest.text(requested)); this machine's runtime is "
                    + BundleDigest.text(have)
            )
        }
        return installed
    }
}

/// Where the runtime lives. The venv's path is fixed: pip writes it into scripts and compiled files, so a venv
/// built elsewhere has another digest and its scripts would point elsewhere.
public struct RuntimeLayout: Sendable, Hashable {
    /// The venv (bound read-only at the same path in the sandbox).
    public var venv: String
    /// The build record beside it (lock hash and digest); written last by a build, removed first.
    public var record: String
    /// The wheels fetched for the lock (a cache kept between builds).
    public var wheels: String

    public init(venv: String, record: String, wheels: String) {
        self.venv = venv
        self.record = record
        self.wheels = wheels
    }

    /// /opt/delong/runtime, its record /opt/delong/runtime.json, wheels in /var/cache/delong/wheels.
    public static let standard = RuntimeLayout(
        venv: Bubblewrap.runtimeMountPoint,
        record: Bubblewrap.runtimeMountPoint + ".json",
        wheels: "/var/cache/delong/wheels"
    )

    /// The explore runtime (the job runtime plus JupyterLab): /opt/delong/explore-runtime, its record
    /// /opt/delong/explore-runtime.json, wheels in the same cache. Only Explore sandboxes bind it.
    public static let explore = RuntimeLayout(
        venv: "/opt/delong/explore-runtime",
        record: "/opt/delong/explore-runtime.json",
        wheels: "/var/cache/delong/wheels"
    )
}

/// What a build recorded beside the venv: the lock it was built from and the digest it had.
public struct RuntimeRecord: Sendable, Hashable, Codable {
    /// sha256 of the lock file's bytes, lowercase hex.
    public var lockSHA256: String
    /// The runtime digest, `sha256:<hex>`.
    public var runtime: String
    /// The interpreter, for people: path, sha256, Debian package and version.
    public var interpreter: [String: String]

    public init(lockSHA256: String, digest: Hash32, interpreter: RuntimeInterpreter) {
        self.lockSHA256 = lockSHA256
        self.runtime = BundleDigest.text(digest)
        self.interpreter = [
            "path": interpreter.path, "sha256": Hex.encode(interpreter.sha256.bytes, prefix: false),
            "debianPackage": interpreter.debianPackage, "debianVersion": interpreter.debianVersion,
        ]
    }

    /// The digest it names.
    public var digest: Hash32? { try? BundleDigest.parse(runtime) }

    /// The record at `path`, nil when there is none; a damaged record is an error naming the file.
    public static func read(_ path: String) throws(ComputingPlaneError) -> RuntimeRecord? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let record = try? JSONDecoder().decode(RuntimeRecord.self, from: data), record.digest != nil else {
            throw ComputingPlaneError(
                .io,
                "\(path): expected a runtime record {lockSHA256, runtime, interpreter}; rebuild with delong runtime build"
            )
        }
        return record
    }

    /// Writes the record atomically (a temporary file beside it, then rename).
    public func write(_ path: String) throws(ComputingPlaneError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let temporary = path + ".tmp-\(getpid())"
        do {
            try (try encoder.encode(self) + Data("\n".utf8)).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw ComputingPlaneError(.io, "cannot write \(temporary): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw ComputingPlaneError(.io, "cannot rename \(temporary) to \(path): \(ComputingPlaneError.text(code))")
        }
    }
}
