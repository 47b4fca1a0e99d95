public import ChainCore
import Foundation
import Glibc
import PlaneCrypto
public import PlaneProtocol

/// A runtime venv read from disk: checked to be a venv, listed, and its interpreter identified, so its runtime
/// digest (PlaneProtocol's ``RuntimeDigest``) can be computed.
public struct RuntimeVenv: Sendable {
    /// The venv's real path (symlinks in the given path resolved).
    public var path: String
    public var interpreter: RuntimeInterpreter
    public var entries: [RuntimeEntry]

    /// The runtime digest.
    public var digest: Hash32 { RuntimeDigest.of(entries: entries, interpreter: interpreter) }

    /// Reads the venv at `path`. Refused with a reason: a path that does not resolve (a symlink loop, nothing
    /// there), a directory that is not a venv (no `pyvenv.cfg` file, no `bin/python3`), an interpreter that
    /// cannot be resolved or read, and what ``RuntimeTree`` refuses.
    public static func read(
        _ path: String,
        packageOf: (String) -> (package: String, version: String) = DebianPackage.owner(of:)
    ) throws(ComputingPlaneError) -> RuntimeVenv {
        let root = try resolve(path, what: "runtime")
        var st = stat()
        guard stat(root, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw ComputingPlaneError(
                .badInput,
                "runtime \(path): expected a venv directory, found another kind of file"
            )
        }
        guard lstat(root + "/pyvenv.cfg", &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ComputingPlaneError(.badInput, "runtime \(path): not a venv (expected a pyvenv.cfg file, found none)")
        }
        guard lstat(root + "/bin/python3", &st) == 0 else {
            throw ComputingPlaneError(.badInput, "runtime \(path): not a venv (expected bin/python3, found none)")
        }
        let python = try resolve(root + "/bin/python3", what: "the runtime's interpreter")
        guard stat(python, &st) == 0, st.st_mode & S_IFMT == S_IFREG, access(python, X_OK) == 0 else {
            throw ComputingPlaneError(
                .badInput,
                "runtime \(path): bin/python3 resolves to \(python), expected an executable file"
            )
        }
        let interpreterDigest: Hash32
        do { interpreterDigest = try RuntimeTree.sha256(ofFileAt: python) } catch {
            throw ComputingPlaneError(.io, error.reason)
        }
        let owner = packageOf(python)
        let interpreter = RuntimeInterpreter(
            path: python,
            sha256: interpreterDigest,
            debianPackage: owner.package,
            debianVersion: owner.version
        )
        do {
            let entries = try RuntimeTree.entries(under: root)
            return RuntimeVenv(path: root, interpreter: interpreter, entries: entries)
        } catch {
            throw ComputingPlaneError(error.code == .io ? .io : .badInput, "runtime \(path): \(error.reason)")
        }
    }

    /// `path` with every symlink resolved; a loop or a missing target is named.
    static func resolve(_ path: String, what: String) throws(ComputingPlaneError) -> String {
        guard let resolved = realpath(path, nil) else {
            let code = errno
            let why =
                code == ELOOP
                ? "a symlink loop"
                : code == ENOENT ? "nothing there (or a dangling link)" : ComputingPlaneError.text(code)
            throw ComputingPlaneError(.badInput, "\(what) \(path): cannot resolve the path: \(why)")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Which Debian package ships a file, and its version, from dpkg's database.
public enum DebianPackage {
    /// The package owning `path` and its installed version, or `-` for both when dpkg knows none.
    public static func owner(of path: String) -> (package: String, version: String) {
        guard let search = run(["dpkg-query", "-S", path]),
            let line = search.split(separator: "\n").first(where: { $0.hasSuffix(": " + path) }),
            let package = line.split(separator: ":").first.map(String.init), !package.contains(",")
        else { return ("-", "-") }
        guard let version = run(["dpkg-query", "-W", "-f=${Version}", package]), !version.isEmpty else {
            return (package, "-")
        }
        return (package, version)
    }

    private static func run(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
