import Foundation

/// Runs a contrib tool (a script or the contrib venv's Python) from the package root and returns its stdout.
public enum ContribTool {
    /// `environment`, when given, replaces this process's environment for the tool.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> String {
        let process = Process()
        process.executableURL =
            arguments[0].hasPrefix("/")
            ? URL(fileURLWithPath: arguments[0]) : TestData.packageRoot.appendingPathComponent(arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.currentDirectoryURL = TestData.packageRoot
        if let environment { process.environment = environment }
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "\(arguments[0]) exited \(process.terminationStatus)"]
            )
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The contrib venv's Python running `script` with `arguments` (web3.py and eth-account as references).
    public static func python(_ script: String, _ arguments: [String] = []) throws -> String {
        let python = TestData.packageRoot.appendingPathComponent("contrib/.venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw CocoaError(
                .fileNoSuchFile,
                userInfo: [NSLocalizedDescriptionKey: "contrib/.venv is missing: run contrib/python/venv.sh"]
            )
        }
        return try run(["contrib/.venv/bin/python", "-c", script] + arguments)
    }

    /// The system's python3 running `script` (for `cryptography`, from Debian's python3-cryptography).
    public static func systemPython(_ script: String, _ arguments: [String] = []) throws -> String {
        try run(["/usr/bin/env", "python3", "-c", script] + arguments)
    }
}
