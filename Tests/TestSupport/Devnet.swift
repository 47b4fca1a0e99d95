import AsyncHTTPClient
import Foundation
import LightClient
import Logging
import NIOCore
import NIOHTTP1

/// A child process that prints `READY http://…` as its first stdout line and serves until SIGTERM.
public final class ReadyService: @unchecked Sendable {
    public let url: String
    private let process: Process

    /// Starts `executable` (relative to the package root) and waits up to 60 s for its READY line.
    public init(_ executable: String, _ arguments: [String]) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "delong-service-\(UUID().uuidString).out"
        )
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL =
            executable.hasPrefix("/")
            ? URL(fileURLWithPath: executable) : TestData.packageRoot.appendingPathComponent(executable)
        process.arguments = arguments
        process.currentDirectoryURL = TestData.packageRoot
        // A file, not a pipe: nobody has to keep draining it for the service to make progress.
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        var ready: String? = nil
        while ready == nil && Date() < deadline && process.isRunning {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            ready = text.split(separator: "\n").first { $0.hasPrefix("READY ") }.map {
                String($0.dropFirst(6).split(separator: " ")[0])
            }
            if ready == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        try? FileManager.default.removeItem(at: log)
        guard let ready else {
            Self.stop(process)
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "\(executable) did not print READY within 60 s"]
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
}

/// A plain HTTP GET (for the node's read-only API): status code and body.
public func httpGet(_ url: String) async throws -> (status: Int, body: String) {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(buffer: body))
}

/// An HTTP request with an optional body and headers: status code and body (up to 1 MiB).
public func httpRequest(
    _ url: String,
    method: String = "POST",
    body: [UInt8]? = nil,
    headers: [(String, String)] = []
) async throws -> (status: Int, body: String) {
    var request = HTTPClientRequest(url: url)
    request.method = HTTPMethod(rawValue: method)
    request.headers.add(name: "Content-Type", value: "application/json")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(body) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let collected = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(buffer: collected))
}

/// The local devnet (contrib/devnet/run, py-evm behind JSON-RPC) as a child process of a test.
public final class Devnet: @unchecked Sendable {
    public let service: ReadyService
    public var url: String { service.url }

    /// Starts a devnet on a free port. The venv must exist or be creatable: contrib/scripts/test.sh makes it
    /// before the Swift tests run.
    public init(arguments: [String] = []) throws {
        service = try ReadyService("contrib/devnet/run", ["--port", "0"] + arguments)
    }

    /// One JSON-RPC call through DeLong's own client; returns the result.
    /// The hash of block 0, the devnet's checkpoint (asked with the contrib venv's Python, independently).
    public func genesisHash() throws -> String {
        try ContribTool.python(
            "import json,sys,urllib.request as u; r=u.urlopen(u.Request(sys.argv[1], json.dumps({'jsonrpc':'2.0','id':1,'method':'eth_getBlockByNumber','params':['0x0',False]}).encode(), {'Content-Type':'application/json'})); print(json.load(r)['result']['hash'])",
            [url]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    public func call(_ method: String, params: String = "[]") async throws -> Any {
        try await JSONRPCClient(endpoint: url).call(
            RPCRequest(method, params: params),
            logger: Logger(label: "test.devnet")
        )
    }
}

/// contrib/devnet/hostile_proxy.py in front of an endpoint, tampering with one kind of answer.
public final class HostileProxy: @unchecked Sendable {
    public let service: ReadyService
    public var url: String { service.url }

    public init(upstream: String, mode: String, block: UInt64? = nil) throws {
        service = try ReadyService(
            "contrib/.venv/bin/python",
            ["contrib/devnet/hostile_proxy.py", upstream, mode] + (block.map { ["\($0)"] } ?? [])
        )
    }
}
