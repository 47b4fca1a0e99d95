public import Foundation

/// Locates DeLong's shared test data: `$DELONG_TESTDATA`, else `../shared/testdata` beside the package root.
///
/// Tests read these files in place; they are never copied into the repository. When neither location
/// exists, every test that needs the data fails with instructions instead of being skipped.
public enum TestData {
    /// The package root, found from this source file's location (Tests/TestSupport/TestData.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The test-data root directory.
    public static func root() throws -> URL {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["DELONG_TESTDATA"], !env.isEmpty {
            candidates.append(URL(fileURLWithPath: env))
        }
        candidates.append(packageRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata"))
        for candidate in candidates
        where FileManager.default.fileExists(atPath: candidate.appendingPathComponent("chain").path) {
            return candidate
        }
        throw TestDataMissing(searched: candidates.map(\.path))
    }

    /// A file under the test-data root, e.g. `url("chain/ethereum-tests/rlptest.json")`.
    public static func url(_ relativePath: String) throws -> URL {
        let url = try root().appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TestDataMissing(searched: [url.path])
        }
        return url
    }

    /// The bytes of a test-data file; `.gz` files are decompressed with gzip.
    public static func data(_ relativePath: String) throws -> Data {
        let url = try url(relativePath)
        if relativePath.hasSuffix(".gz") { return try gunzip(url) }
        return try Data(contentsOf: url)
    }

    /// A JSON test-data file parsed with JSONSerialization.
    public static func json(_ relativePath: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(relativePath), options: [.fragmentsAllowed])
    }

    private static func gunzip(_ url: URL) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec gzip -dc \"$0\"", url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestDataMissing(searched: [url.path]) }
        return out
    }
}

/// Thrown when the shared test data cannot be found; the message says how to get it.
public struct TestDataMissing: Error, CustomStringConvertible {
    public let searched: [String]
    public var description: String {
        """
        DeLong test data not found (looked in: \(searched.joined(separator: ", "))).
        Put the shared test data beside the package as ../shared/testdata, set DELONG_TESTDATA to its path,
        or fetch it from its public origins with: contrib/scripts/fetch-testdata.sh ../shared/testdata
        """
    }
}

extension TestData {
    /// The `result` of the response line (`<< …`) of an execution-apis `.io` transcript, or `nil` when the
    /// response is an error or null.
    public static func rpcResult(_ relativePath: String) throws -> Any? {
        let text = String(decoding: try data(relativePath), as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("<< ") {
            let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(3).utf8)) as? [String: Any]
            guard let result = object?["result"], !(result is NSNull) else { return nil }
            return result
        }
        return nil
    }

    /// Every file name in a test-data directory.
    public static func files(in relativeDirectory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url(relativeDirectory).path).sorted()
    }
}
