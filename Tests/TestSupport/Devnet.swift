public import Foundation
import LightClient
import Logging

/// The local devnet (contrib/devnet/run, py-evm behind JSON-RPC) as a child process of a test.
public final class Devnet: @unchecked Sendable {
    public let url: String
    private let process: Process

    /// Starts a devnet on a free port and waits (up to 60 s) for its READY line. The venv must exist or be
    /// creatable: contrib/scripts/test.sh makes it before the Swift tests run.
    public init(arguments: [String] = []) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "delong-devnet-\(UUID().uuidString).out"
        )
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = TestData.packageRoot.appendingPathComponent("contrib/devnet/run")
        process.arguments = ["--port", "0"] + arguments
        // A file, not a pipe: nobody has to keep draining it for the devnet to make progress.
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        var ready: String? = nil
        while ready == nil && Date() < deadline && process.isRunning {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            ready = text.split(separator: "\n").first { $0.hasPrefix("READY ") }.map { String($0.dropFirst(6)) }
            if ready == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        try? FileManager.default.removeItem(at: log)
        guard let ready else {
            Self.stop(process)
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "the devnet did not print READY within 60 s"]
            )
        }
        self.url = ready
    }

    deinit { Self.stop(process) }

    /// SIGTERM, then SIGKILL after 5 s; polls instead of `waitUntilExit`, which spins on Linux.
    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// One JSON-RPC call through DeLong's own client; returns the result.
    @discardableResult
    public func call(_ method: String, params: String = "[]") async throws -> Any {
        try await JSONRPCClient(endpoint: url).call(
            RPCRequest(method, params: params),
            logger: Logger(label: "test.devnet")
        )
    }
}
