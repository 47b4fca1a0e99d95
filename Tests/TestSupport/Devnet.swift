import AsyncHTTPClient
public import Foundation
import LightClient
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// A child process that prints `READY http(s)://… [… tls-key sha256:HEX]` as its first stdout line and serves
/// until SIGTERM.
public final class ReadyService: @unchecked Sendable {
    public let url: String
    /// The `tls-key` the READY line names (`sha256:<hex>`), if any.
    public let tlsKey: String?
    private let process: Process

    /// Starts `executable` (relative to the package root) and waits up to 60 s for its READY line; its stderr
    /// goes to `errorLog` when given. With `environment` the child gets exactly that environment, else ours.
    public init(
        _ executable: String,
        _ arguments: [String],
        errorLog: URL? = nil,
        environment: [String: String]? = nil
    ) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "delong-service-\(UUID().uuidString).out"
        )
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL =
            executable.hasPrefix("/")
            ? URL(fileURLWithPath: executable) : TestData.packageRoot.appendingPathComponent(executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.currentDirectoryURL = TestData.packageRoot
        // A file, not a pipe: nobody has to keep draining it for the service to make progress.
        process.standardOutput = try FileHandle(forWritingTo: log)
        if let errorLog {
            _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: errorLog)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(60)
        var ready: [Substring]? = nil
        while ready == nil && Date() < deadline && process.isRunning {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            ready = text.split(separator: "\n").first { $0.hasPrefix("READY ") }.map {
                $0.dropFirst(6).split(separator: " ")
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
        self.url = String(ready[0])
        self.tlsKey = ready.firstIndex(of: "tls-key").flatMap { $0 + 1 < ready.count ? String(ready[$0 + 1]) : nil }
    }

    /// SIGTERM, then waits up to `seconds` for the exit: its status, or nil if it is still running (then it is
    /// killed when the service is released).
    public func terminate(within seconds: Double) -> Int32? {
        process.terminate()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Whether the process still runs.
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` to the service (SIGHUP reloads a serve command's TLS pair and evidence).
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

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

/// An HTTP(S) GET (for the node's read-only API): status code and body. Over https, `trusting` names the PEM
/// certificate to trust as the only root (AsyncHTTPClient on BoringSSL: full chain and host-name checks).
public func httpGet(_ url: String, trusting certificate: String? = nil) async throws -> (status: Int, body: String) {
    let response = try await TrustingClients.client(certificate ?? TrustingClients.registered(url)).execute(
        HTTPClientRequest(url: url),
        timeout: .seconds(10)
    )
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(buffer: body))
}

/// An HTTP(S) request with an optional body and headers: status code and body (up to 1 MiB).
public func httpRequest(
    _ url: String,
    method: String = "POST",
    body: [UInt8]? = nil,
    headers: [(String, String)] = [],
    trusting certificate: String? = nil
) async throws -> (status: Int, body: String) {
    let client = try TrustingClients.client(certificate ?? TrustingClients.registered(url))
    var request = HTTPClientRequest(url: url)
    request.method = HTTPMethod(rawValue: method)
    request.headers.add(name: "Content-Type", value: "application/json")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(body) }
    let response = try await client.execute(request, timeout: .seconds(30))
    let collected = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(buffer: collected))
}

/// Trust `certificate` (PEM) for every https request under `baseURL` that names no certificate itself.
public func trustCertificate(_ certificate: String, for baseURL: String) {
    TrustingClients.register(certificate, for: baseURL)
}

/// One AsyncHTTPClient per trusted certificate, for the life of the test process (never shut down, so never
/// deinitialised while in use).
enum TrustingClients {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var clients: [String: HTTPClient] = [:]
    nonisolated(unsafe) private static var bases: [String: String] = [:]

    static func register(_ certificate: String, for baseURL: String) {
        lock.lock()
        defer { lock.unlock() }
        bases[baseURL] = certificate
    }

    static func registered(_ url: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return bases.first { url.hasPrefix($0.key + "/") || url == $0.key }?.value
    }

    static func client(_ certificate: String?) throws -> HTTPClient {
        guard let certificate else { return .shared }
        lock.lock()
        defer { lock.unlock() }
        if let client = clients[certificate] { return client }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        clients[certificate] = client
        return client
    }
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
