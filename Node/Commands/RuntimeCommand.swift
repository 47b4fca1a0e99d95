import ArgumentParser
import ChainCore
import ComputingPlane
import Foundation
import PlaneProtocol

/// `delong runtime …`: the job runtime (a read-only Python 3.11 venv at a fixed path) and its digest.
struct RuntimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Build the job runtime venv, or print a runtime's digest.",
        subcommands: [RuntimeBuildCommand.self, RuntimeDigestCommand.self]
    )

    /// Maps a ComputingPlane error to its exit code after printing it.
    static func fail(_ error: ComputingPlaneError) -> ExitCode {
        FileHandle.standardError.write(Data("delong: \(error.reason)\n".utf8))
        return ExitCode(ExitCodes.code(for: error))
    }
}

/// `delong runtime build [--explore] [--lock FILE] [--force] [--json]`
struct RuntimeBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the job runtime at \(RuntimeLayout.standard.venv) (or with --explore the explore runtime at "
            + "\(RuntimeLayout.explore.venv)) from hash-locked requirements.",
        discussion: """
            Fetches the lock's wheels into \(RuntimeLayout.standard.wheels) (each checked against its sha256), \
            installs them into a Python 3.11 venv built beside the target and renamed into place, and records the \
            lock hash and the runtime digest in \(RuntimeLayout.standard.record). Does nothing when the record \
            names the same lock (use --force to rebuild). Needs root. Prints the runtime digest.
            --explore builds the explore runtime (the job runtime's pins plus JupyterLab, for Explore Mode) the \
            same way at \(RuntimeLayout.explore.venv), recorded in \(RuntimeLayout.explore.record), from \
            contrib/runtime/explore-requirements.lock by default. Secure jobs never see it.
            Exit 0 built or up to date; 2 a bad lock file; 3 a fetch, install or I/O failure; 5 not root or no \
            unshare/pip on this machine.
            """
    )

    @Flag(help: "Build the explore runtime (the job runtime plus JupyterLab) instead of the job runtime.")
    var explore = false
    @Option(
        help: """
            The requirements lock (pinned versions with sha256 hashes); default contrib/runtime/requirements.lock, \
            or contrib/runtime/explore-requirements.lock with --explore.
            """
    )
    var lock: String?
    @Flag(help: "Rebuild even when the installed runtime was built from this lock.") var force = false
    @Flag(help: "Print {runtime, built, lockSHA256, path} as JSON.") var json = false

    func run() throws {
        let defaultLock = explore ? "contrib/runtime/explore-requirements.lock" : "contrib/runtime/requirements.lock"
        let lockPath = URL(fileURLWithPath: lock ?? defaultLock).standardizedFileURL.path
        let builder = explore ? RuntimeBuilder.explore(lock: lockPath) : RuntimeBuilder(lock: lockPath)
        let outcome: RuntimeBuilder.Outcome
        do {
            outcome = try builder.build(force: force) { line in
                FileHandle.standardError.write(Data("delong: runtime: \(line)\n".utf8))
            }
        } catch { throw RuntimeCommand.fail(error) }
        if json {
            let object: [String: Any] = [
                "runtime": outcome.record.runtime, "built": outcome.built, "lockSHA256": outcome.record.lockSHA256,
                "path": builder.layout.venv,
            ]
            let data = try JSONSerialization.data(
                withJSONObject: object,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
            print(String(decoding: data, as: UTF8.self))
        } else {
            if !outcome.built {
                FileHandle.standardError.write(Data("delong: runtime: up to date (built from this lock)\n".utf8))
            }
            print(outcome.record.runtime)
        }
    }
}

/// `delong runtime digest [PATH] [--json]`
struct RuntimeDigestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the runtime digest of a venv (default \(RuntimeLayout.standard.venv)): sha256:<64 hex>.",
        discussion: """
            Recomputes it from the files: sha256 of a canonical listing of the venv (path, type, mode, size, \
            sha256 of each file or a link's target, sorted byte-wise) plus the interpreter's sha256 and Debian \
            package version (docs/runtime.md). Exit 0 ok; 2 not a venv (or a symlink loop, a special file); \
            3 a file could not be read.
            """
    )

    @Argument(help: "The venv.") var path: String = RuntimeLayout.standard.venv
    @Flag(help: "Print {runtime, path, entries, files, bytes, interpreter} as JSON.") var json = false

    func run() throws {
        let venv: RuntimeVenv
        do { venv = try RuntimeVenv.read(path) } catch { throw RuntimeCommand.fail(error) }
        let digest = BundleDigest.text(venv.digest)
        guard json else {
            print(digest)
            return
        }
        var files = 0
        var bytes: UInt64 = 0
        for entry in venv.entries {
            if case .file = entry.kind {
                files += 1
                bytes += entry.size
            }
        }
        let object: [String: Any] = [
            "runtime": digest, "path": venv.path, "entries": venv.entries.count, "files": files, "bytes": bytes,
            "interpreter": [
                "path": venv.interpreter.path, "sha256": Hex.encode(venv.interpreter.sha256.bytes, prefix: false),
                "debianPackage": venv.interpreter.debianPackage, "debianVersion": venv.interpreter.debianVersion,
            ],
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}
