import ChainCore
import Foundation
import Glibc
import PlaneCrypto
import PlaneProtocol

/// Builds a runtime: a Python 3.11 venv at a fixed path from a hash-locked requirements file. The job runtime
/// (``RuntimeLayout/standard``) and the explore runtime (``RuntimeLayout/explore``: the job runtime's pins plus
/// JupyterLab) are built the same way; only the layout, the lock and the import check differ.
///
/// Reproducible: the wheels are checked against the lock's sha256 (`--require-hashes`, binary wheels only, no
/// dependency resolution), installed with `SOURCE_DATE_EPOCH=0` (compiled files carry a source hash, not a
/// time), umask 022, no pip configuration, and always at the same absolute path, which pip writes into scripts
/// and compiled files. Atomic: the venv is built in a directory beside the target, shown at the target path
/// through a bind mount in a private mount namespace while pip runs, then renamed into place; the record of
/// the lock hash and digest is written last. Cached: nothing is done when the record names the same lock.
public struct RuntimeBuilder: Sendable {
    public var layout: RuntimeLayout
    /// The requirements lock (pinned versions, sha256 of each wheel).
    public var lock: String
    /// The base interpreter: Debian's python3.11.
    public var python: String = "/usr/bin/python3.11"
    /// Modules that must import once the venv is built.
    public var checkImports = ["numpy", "pandas", "scipy", "sklearn", "pyarrow", "matplotlib"]

    public init(layout: RuntimeLayout = .standard, lock: String) {
        self.layout = layout
        self.lock = lock
    }

    /// The explore runtime's builder: its own venv and record, the same wheel cache, and a check that
    /// JupyterLab and the kernel import too.
    public static func explore(lock: String) -> RuntimeBuilder {
        var builder = RuntimeBuilder(layout: .explore, lock: lock)
        builder.checkImports += ["jupyterlab", "jupyter_server", "ipykernel"]
        return builder
    }

    /// What a build did.
    public struct Outcome: Sendable {
        /// False when the installed runtime was already built from this lock.
        public var built: Bool
        public var record: RuntimeRecord
    }

    /// Builds the runtime unless the record says it was built from this lock (or `force`). `progress` gets
    /// one line per step.
    public func build(force: Bool = false, progress: (String) -> Void) throws(ComputingPlaneError) -> Outcome {
        guard geteuid() == 0 else {
            throw ComputingPlaneError(.systemUnsupported, "delong runtime build needs root (it writes \(layout.venv))")
        }
        guard let lockBytes = FileManager.default.contents(atPath: lock) else {
            throw ComputingPlaneError(.badInput, "lock file \(lock): cannot read it (pass --lock FILE)")
        }
        try Self.checkLock(lockBytes, path: lock)
        let lockHash = Hex.encode(Digest.sha256(Array(lockBytes)), prefix: false)
        let parent = (layout.venv as NSString).deletingLastPathComponent
        try Self.makeDirectories([parent, layout.wheels])

        // One build at a time.
        let lockFD = open(parent + "/.runtime-build.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0, flock(lockFD, LOCK_EX) == 0 else {
            throw ComputingPlaneError(
                .io,
                "cannot lock \(parent)/.runtime-build.lock: \(ComputingPlaneError.text(errno))"
            )
        }
        defer { close(lockFD) }

        if !force, access(layout.venv + "/bin/python3", X_OK) == 0, let record = try? RuntimeRecord.read(layout.record),
            record.lockSHA256 == lockHash
        {
            return Outcome(built: false, record: record)
        }

        progress("fetching wheels into \(layout.wheels) (checked against the lock)")
        try Self.run(
            [
                python, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--require-hashes",
                "--only-binary=:all:", "--no-deps", "--dest", layout.wheels, "--requirement", lock,
            ],
            environment: ProcessInfo.processInfo.environment,
            what: "fetching the wheels"
        )

        let staging = parent + "/.runtime-build-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        guard mkdir(staging, 0o755) == 0, chmod(staging, 0o755) == 0 else {
            throw ComputingPlaneError(.io, "cannot create \(staging): \(ComputingPlaneError.text(errno))")
        }
        var createdPlaceholder = false
        if access(layout.venv, F_OK) != 0 {
            guard mkdir(layout.venv, 0o755) == 0 else {
                throw ComputingPlaneError(.io, "cannot create \(layout.venv): \(ComputingPlaneError.text(errno))")
            }
            createdPlaceholder = true
        }
        var installed = false
        defer {
            try? FileManager.default.removeItem(atPath: staging)
            if createdPlaceholder && !installed { rmdir(layout.venv) }
        }

        progress("installing into \(layout.venv) (built in \(staging), SOURCE_DATE_EPOCH=0)")
        let imports = checkImports.joined(separator: ", ")
        let script = """
            set -eu
            mount --bind "$1" "$2"
            cd /
            umask 022
            "$3" -m venv --without-pip "$2"
            SOURCE_DATE_EPOCH=0 PYTHONHASHSEED=0 PIP_CONFIG_FILE=/dev/null "$3" -m pip --disable-pip-version-check \
                --no-input --quiet --python "$2/bin/python3" install --no-index --find-links "$4" --require-hashes \
                --only-binary=:all: --no-deps --no-cache-dir --requirement "$5"
            MPLCONFIGDIR="$(mktemp -d)" "$2/bin/python3" -I -B -c "import \(imports)"
            """
        try Self.run(
            [
                "unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", staging,
                layout.venv,
                python, layout.wheels, lock,
            ],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"],
            what: "installing the runtime"
        )

        // The record goes first, so a half-swapped runtime is never taken for a built one.
        unlink(layout.record)
        try Self.swap(staging, into: layout.venv)
        installed = true
        progress("computing the runtime digest")
        let venv = try RuntimeVenv.read(layout.venv)
        let record = RuntimeRecord(lockSHA256: lockHash, digest: venv.digest, interpreter: venv.interpreter)
        try record.write(layout.record)
        return Outcome(built: true, record: record)
    }

    /// Every requirement line of the lock pins one version and carries at least one sha256.
    static func checkLock(_ bytes: Data, path: String) throws(ComputingPlaneError) {
        let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\\\n", with: " ")
        var count = 0
        for raw in text.split(separator: "\n") {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let name = trimmed.split(separator: " ").first.map(String.init) ?? trimmed
            guard name.contains("=="), trimmed.contains("--hash=sha256:") else {
                throw ComputingPlaneError(
                    .badInput,
                    "lock file \(path): expected NAME==VERSION --hash=sha256:HEX on every requirement, found \"\(trimmed.prefix(80))\""
                )
            }
            count += 1
        }
        guard count > 0 else {
            throw ComputingPlaneError(.badInput, "lock file \(path): expected requirements, found none")
        }
    }

    /// Moves the built venv to `target`: one rename over an empty placeholder, else the old venv is moved aside
    /// first and deleted after.
    static func swap(_ staging: String, into target: String) throws(ComputingPlaneError) {
        if rename(staging, target) == 0 { return }
        guard errno == ENOTEMPTY || errno == EEXIST else {
            throw ComputingPlaneError(.io, "cannot rename \(staging) to \(target): \(ComputingPlaneError.text(errno))")
        }
        let old = target + ".old-\(getpid())"
        guard rename(target, old) == 0 else {
            throw ComputingPlaneError(.io, "cannot move \(target) aside: \(ComputingPlaneError.text(errno))")
        }
        guard rename(staging, target) == 0 else {
            let code = errno
            rename(old, target)
            throw ComputingPlaneError(.io, "cannot rename \(staging) to \(target): \(ComputingPlaneError.text(code))")
        }
        try? FileManager.default.removeItem(atPath: old)
    }

    static func makeDirectories(_ paths: [String]) throws(ComputingPlaneError) {
        for path in paths {
            do {
                try FileManager.default.createDirectory(
                    atPath: path,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o755]
                )
            } catch {
                throw ComputingPlaneError(.io, "cannot create \(path): \(error.localizedDescription)")
            }
        }
    }

    /// Runs `arguments` (looked up in PATH), its output on this process's stderr; a failure names the step.
    static func run(_ arguments: [String], environment: [String: String], what: String) throws(ComputingPlaneError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.standardError
        process.standardError = FileHandle.standardError
        do { try process.run() } catch {
            throw ComputingPlaneError(.systemUnsupported, "\(what): cannot start \(arguments[0]): \(error)")
        }
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw ComputingPlaneError(
                .io,
                "\(what) failed (\(arguments.prefix(3).joined(separator: " ")) … exited \(process.terminationStatus))"
            )
        }
    }
}
