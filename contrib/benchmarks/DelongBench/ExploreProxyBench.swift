// delong-bench explore-proxy: the explore proxy's cost, measured against the same upstream reached directly.
// The upstream is a small Hummingbird app on a UNIX socket (not Jupyter: its own limits would dominate):
// GET <base>api/status answers 60 bytes of JSON; the WebSocket <base>api/stream answers a text "N" with N
// binary frames of --frame-kb KiB. Direct = AsyncHTTPClient over http+unix / the relay's own WebSocket
// client on the socket; proxied = the same clients over loopback TCP through ExploreRoutes.

import AsyncHTTPClient
import ChainCore
import ComputingPlaneHTTP
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization

struct BenchSessions: ExploreSessionSource {
    let target: ExploreTarget
    func liveSession(_ id: String) async -> ExploreTarget? { id == target.id ? target : nil }
}

func exploreProxyBench(requests: Int, streamMB: Int, frameKB: Int) async -> Int32 {
    do {
        try await exploreProxyBenchRun(requests: requests, streamMB: streamMB, frameKB: frameKB)
        return 0
    } catch {
        FileHandle.standardError.write(Data("explore-proxy: \(error)\n".utf8))
        return 1
    }
}

private final class BoundPort: Sendable {
    private let port = Mutex<Int?>(nil)
    var value: Int? { port.withLock { $0 } }
    func set(_ value: Int?) { port.withLock { $0 = value } }
}

private func exploreProxyBenchRun(requests: Int, streamMB: Int, frameKB: Int) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "explore-bench-\(UUID().uuidString.prefix(8))"
    )
    try FileManager.default.createDirectory(
        at: directory,
        withIntermediateDirectories: true,
        attributes: [.posixPermissions: 0o700]
    )
    defer { try? FileManager.default.removeItem(at: directory) }
    let socketPath = directory.appendingPathComponent("up.sock").path
    let sid = "0123456789abcdef0123456789abcdef"
    let base = "/explore/\(sid)/"
    let token = String(repeating: "7", count: 64)
    let logger = Logger(label: "explore-bench")

    // The upstream.
    let upstream = Router()
    upstream.get("/explore/:sid/api/status") { _, _ in #"{"started":"2026-01-01T00:00:00Z","kernels":0,"ok":1}"# }
    let upstreamWS = Router(context: BasicWebSocketRequestContext.self)
    let frame = ByteBuffer(repeating: UInt8(ascii: "a"), count: frameKB << 10)
    upstreamWS.ws("/explore/:sid/api/stream") { inbound, outbound, _ in
        for try await message in inbound.messages(maxSize: 1 << 10) {
            guard case .text(let text) = message, let count = Int(text) else { continue }
            for _ in 0..<count { try await outbound.write(.binary(frame)) }
        }
    }
    let upstreamApp = Application(
        router: upstream,
        server: .http1WebSocketUpgrade(
            webSocketRouter: upstreamWS,
            configuration: .init(ws: .init(maxFrameSize: ExploreRoutes.maxFrameSize))
        ),
        configuration: .init(address: .unixDomainSocket(path: socketPath)),
        logger: logger
    )

    // The proxy.
    let target = ExploreTarget(
        id: sid,
        socketPath: socketPath,
        jupyterToken: token,
        basePath: base,
        consumer: try! Address(Array(repeating: 1, count: 20)),
        expiresAt: Date().addingTimeInterval(3600)
    )
    let tickets = ExploreTickets()
    let port = BoundPort()
    let router = Router()
    let webSocketRouter = Router(context: ExploreWebSocketContext.self)
    ExploreRoutes.add(
        to: router,
        webSocketRouter: webSocketRouter,
        sessions: BenchSessions(target: target),
        tickets: tickets,
        origin: { "http://127.0.0.1:\(port.value ?? 0)" },
        logger: logger
    )
    let proxyApp = Application(
        router: router,
        server: ExploreRoutes.serverBuilder(webSocketRouter: webSocketRouter),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.set(channel.localAddress?.port) },
        logger: logger
    )
    let servers = Task {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await upstreamApp.runService(gracefulShutdownSignals: []) }
            group.addTask { try await proxyApp.runService(gracefulShutdownSignals: []) }
            try await group.waitForAll()
        }
    }
    defer { servers.cancel() }
    var proxyPort = 0
    for _ in 0..<500 {
        if let bound = port.value, FileManager.default.fileExists(atPath: socketPath) {
            proxyPort = bound
            break
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    guard proxyPort != 0 else { throw BenchFailure("the servers did not start") }
    let origin = "http://127.0.0.1:\(proxyPort)"

    let client = benchClient
    var login = HTTPClientRequest(url: origin + base + "_login?ticket=" + tickets.issue(session: sid))
    login.method = .GET
    let loginResponse = try await client.execute(login, timeout: .seconds(10))
    guard loginResponse.status == .found, let setCookie = loginResponse.headers.first(name: "Set-Cookie") else {
        throw BenchFailure("sign-in failed: \(loginResponse.status)")
    }
    let cookie = String(setCookie.prefix { $0 != ";" })

    // HTTP: one request at a time, direct and proxied interleaved in rounds so both see the same load.
    let direct = URL(httpURLWithSocketPath: socketPath, uri: base + "api/status")!.absoluteString
    let proxied = origin + base + "api/status"
    func once(_ url: String, proxied: Bool) async throws -> Double {
        var request = HTTPClientRequest(url: url)
        if proxied {
            request.headers.add(name: "Cookie", value: cookie)
        } else {
            request.headers.add(name: "Authorization", value: "token \(token)")
            request.headers.add(name: "Host", value: "localhost")
        }
        let start = ContinuousClock.now
        let response = try await client.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 16)
        let elapsed = ContinuousClock.now - start
        guard response.status == .ok, body.readableBytes > 0 else {
            throw BenchFailure("GET \(url): \(response.status)")
        }
        return Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
    }
    for _ in 0..<200 {
        _ = try await once(direct, proxied: false)
        _ = try await once(proxied, proxied: true)
    }
    var directTimes: [Double] = []
    var proxiedTimes: [Double] = []
    let round = 100
    for _ in 0..<max(1, requests / round) {
        for _ in 0..<round { directTimes.append(try await once(direct, proxied: false)) }
        for _ in 0..<round { proxiedTimes.append(try await once(proxied, proxied: true)) }
    }
    func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
    let d50 = percentile(directTimes, 0.5)
    let d95 = percentile(directTimes, 0.95)
    let p50 = percentile(proxiedTimes, 0.5)
    let p95 = percentile(proxiedTimes, 0.95)
    print("explore-proxy HTTP: \(directTimes.count) sequential GETs each (60-byte JSON)")
    print(String(format: "  direct over the socket : p50 %.3f ms  p95 %.3f ms", d50, d95))
    print(String(format: "  through the proxy      : p50 %.3f ms  p95 %.3f ms", p50, p95))
    print(String(format: "  overhead               : p50 %.3f ms  p95 %.3f ms   (bar: <= 2 ms)", p50 - d50, p95 - d95))

    // WebSocket: stream `streamMB` MiB down (Jupyter's heavy direction), three rounds each, median MB/s.
    let frames = max(1, (streamMB << 20) / (frameKB << 10))
    func stream(proxied: Bool) async throws -> Double {
        var headers = HTTPHeaders()
        let address: SocketAddress
        if proxied {
            address = try SocketAddress(ipAddress: "127.0.0.1", port: proxyPort)
            headers.add(name: "Host", value: "127.0.0.1:\(proxyPort)")
            headers.add(name: "Cookie", value: cookie)
            headers.add(name: "Origin", value: origin)
        } else {
            address = try SocketAddress(unixDomainSocketPath: socketPath)
            headers.add(name: "Host", value: "localhost")
            headers.add(name: "Authorization", value: "token \(token)")
        }
        let outcome = try await ExploreWebSocketRelay.connect(
            to: address,
            uri: base + "api/stream",
            headers: headers,
            maxFrameSize: ExploreRoutes.maxFrameSize
        )
        guard case .opened(let channel, _) = outcome else { throw BenchFailure("the WebSocket was refused") }
        var received = 0
        let start = ContinuousClock.now
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(
                WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: "\(frames)"))
            )
            for try await frame in inbound where frame.opcode == .binary || frame.opcode == .continuation {
                received += frame.length
                if received >= frames * (frameKB << 10) { break }
            }
            try? await outbound.write(ExploreWebSocketRelay.closeFrame(.normalClosure, reason: nil, masked: true))
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard received == frames * (frameKB << 10) else { throw BenchFailure("received \(received) bytes") }
        return Double(received) / 1e6 / seconds
    }
    _ = try await stream(proxied: false)
    _ = try await stream(proxied: true)
    var directRates: [Double] = []
    var proxiedRates: [Double] = []
    for _ in 0..<3 {
        directRates.append(try await stream(proxied: false))
        proxiedRates.append(try await stream(proxied: true))
    }
    print("explore-proxy WebSocket: \(frames) frames of \(frameKB) KiB (\(streamMB) MiB) downstream, median of 3")
    print(String(format: "  direct over the socket : %.0f MB/s", percentile(directRates, 0.5)))
    print(String(format: "  through the proxy      : %.0f MB/s   (bar: >= 50 MB/s)", percentile(proxiedRates, 0.5)))
}

/// Does not follow the sign-in's redirect. Process-wide, never shut down.
let benchClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
