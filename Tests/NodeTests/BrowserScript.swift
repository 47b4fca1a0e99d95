import Foundation
import TestSupport
import Testing

/// A browser-test script in contrib/tests (selenium driving Debian's chromium), run with the contrib venv's
/// Python from the package root; it prints one JSON object, its report, which the Swift test asserts on.
enum BrowserScript {
    static func run(_ script: String, _ arguments: [String], logs: String) throws -> [String: Any] {
        let process = Process()
        process.executableURL = TestData.packageRoot.appendingPathComponent("contrib/.venv/bin/python")
        process.arguments = [script] + arguments
        process.currentDirectoryURL = TestData.packageRoot
        let name = URL(fileURLWithPath: script).deletingPathExtension().lastPathComponent
        let out = URL(fileURLWithPath: logs).appendingPathComponent("\(name).out")
        let err = URL(fileURLWithPath: logs).appendingPathComponent("\(name).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 0, "\(script): \(stderr.suffix(4000))")
        let data = try Data(contentsOf: out)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(stderr.suffix(2000))")
    }
}
