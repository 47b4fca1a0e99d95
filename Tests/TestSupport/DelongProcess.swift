public import Foundation

/// Runs the built `delong` executable, as an operator would (or a reference tool such as Debian's `age`), and
/// captures what it prints.
public enum DelongProcess {
    /// The result of one run.
    public struct Result: Sendable {
        public let status: Int32
        /// stdout's bytes, as printed (binary output stays intact).
        public let stdoutData: Data
        public let stderr: String
        public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
        /// stdout parsed as a JSON object, when it is one.
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
        }
        /// stdout parsed as a JSON array of objects, when it is one.
        public var jsonArray: [[String: Any]]? {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [[String: Any]]
        }
    }

    /// The `delong` binary beside the test bundle (SwiftPM builds it first: the test target depends on it), or
    /// the one `DELONG_EXECUTABLE` names (a release build, to time what users run).
    public static var executable: URL {
        get throws {
            if let named = ProcessInfo.processInfo.environment["DELONG_EXECUTABLE"], !named.isEmpty {
                return URL(fileURLWithPath: named)
            }
            let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            for dir in [bundleDir, bundleDir.deletingLastPathComponent()] {
                let candidate = dir.appendingPathComponent("delong")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            }
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [NSFilePathErrorKey: bundleDir.appendingPathComponent("delong").path]
            )
        }
    }

    /// Runs `delong` with `arguments` and waits for it.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try run(executable: try executable.path, arguments, environment: environment)
    }

    /// Runs the program at `path` with `arguments` (stdin empty, `environment` added to this process's) and
    /// waits for it.
    public static func run(
        executable path: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardInput = FileHandle.nullDevice
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so a full stderr pipe cannot block the child. stderr is read on a thread
        // of its own: Dispatch's global queue has a bounded number of threads (2 cores on CI), and many tests run
        // processes at once.
        let errData = LockedData()
        let errRead = DispatchSemaphore(value: 0)
        let reader = Thread {
            errData.set(err.fileHandleForReading.readDataToEndOfFile())
            errRead.signal()
        }
        reader.name = "DelongProcess stderr"
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        errRead.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdoutData: outData,
            stderr: String(decoding: errData.get(), as: UTF8.self)
        )
    }

    /// A fresh temporary directory, removed by the caller.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("delong-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) {
        lock.lock()
        data = d
        lock.unlock()
    }
    func get() -> Data {
        lock.lock()
        defer { lock.unlock() }
        return data
    }
}
