import AsyncHTTPClient
import ChainCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import Testing

@testable import ComputingPlaneHTTP

/// The explore proxy against a real Jupyter server on a UNIX socket, through a real loopback listener:
/// ticket sign-in, the cookie, the Origin check, credential stripping, REST and the kernel WebSocket.
@Suite struct ExploreProxyTests {
    @Test func ticketsAreSingleUseBoundAndShortLived() throws {
        let tickets = ExploreTickets()
        let now = Date()
        let ends = now.addingTimeInterval(3600)
        let a = String(repeating: "a", count: 32)
        let b = String(repeating: "b", count: 32)
        let first = tickets.issue(session: a, now: now)
        #expect(first.count == 64)
        guard case .success(let cookie) = tickets.redeem(first, session: a, sessionEnds: ends, now: now) else {
            Issue.record("a fresh ticket was refused")
            return
        }
        #expect(tickets.session(cookie: cookie, now: now) == a)
        #expect(tickets.redeem(first, session: a, sessionEnds: ends, now: now) == .failure(.unknown))
        let other = tickets.issue(session: b, now: now)
        #expect(tickets.redeem(other, session: a, sessionEnds: ends, now: now) == .failure(.otherSession))
        #expect(tickets.redeem(other, session: b, sessionEnds: ends, now: now) == .failure(.unknown))
        let late = tickets.issue(session: a, now: now)
        #expect(
            tickets.redeem(late, session: a, sessionEnds: ends, now: now.addingTimeInterval(61)) == .failure(.expired)
        )
        #expect(tickets.session(cookie: cookie, now: ends.addingTimeInterval(1)) == nil)
        tickets.end(session: a)
        #expect(tickets.session(cookie: cookie, now: now) == nil)
    }

    @Test func upstreamRequestsCarryOnlyTheSessionToken() throws {
        var fields = HTTPFields()
        fields[.authorization] = "token stolen"
        fields[.cookie] = "dl_explore=abc; _xsrf=2|x; dl_other=1"
        fields.append(HTTPField(name: .cookie, value: "username-localhost=y"))
        fields[.connection] = "keep-alive, X-Secret"
        fields[HTTPField.Name("X-Secret")!] = "1"
        fields[.origin] = "https://evil.example"
        fields[.accept] = "application/json"
        let headers = ExploreGate.upstreamHeaders(fields, token: "T0K")
        #expect(headers["Authorization"] == ["token T0K"])
        #expect(headers["Cookie"] == ["_xsrf=2|x; username-localhost=y"])
        #expect(headers["X-Secret"].isEmpty && headers["Connection"].isEmpty && headers["Origin"].isEmpty)
        #expect(headers["Host"] == ["localhost"] && headers["Accept"] == ["application/json"])

        #expect(
            ExploreGate.upstreamURI(URI("/explore/x/api/contents?token=abc&type=file"))
                == "/explore/x/api/contents?type=file"
        )
        #expect(ExploreGate.upstreamURI(URI("/explore/x/lab?%74oken=abc")) == "/explore/x/lab")
        #expect(ExploreGate.upstreamURI(URI("/explore/x/lab?tokens=1")) == "/explore/x/lab?tokens=1")

        var response = HTTPHeaders()
        response.add(name: "Location", value: "/explore/x/lab?token=T0K")
        response.add(name: "X-Leak", value: "token T0K")
        response.add(name: "Set-Cookie", value: "_xsrf=2|y; Path=/explore/x/")
        response.add(name: "Transfer-Encoding", value: "chunked")
        let downstream = ExploreGate.downstreamHeaders(response, token: "T0K")
        #expect(downstream[.location] == nil && downstream[HTTPField.Name("X-Leak")!] == nil)
        #expect(downstream[.transferEncoding] == nil && downstream[.setCookie] == "_xsrf=2|y; Path=/explore/x/")
    }

    @Test func proxiesJupyterOverItsSocket() async throws {
        let jupyter = try await JupyterServer.start()
        defer { jupyter.stop() }
        let other = ExploreTestSessions.newID()
        let sessions = ExploreTestSessions(targets: [
            jupyter.target,
            ExploreTarget(
                id: other,
                socketPath: jupyter.socketPath,
                jupyterToken: jupyter.token,
                basePath: "/explore/\(other)/",
                consumer: try! Address(Array(repeating: 2, count: 20)),
                expiresAt: Date().addingTimeInterval(3600)
            ),
        ])
        let tickets = ExploreTickets()
        try await ExploreTestServer.with(sessions: sessions, tickets: tickets) { server in
            let base = server.base + jupyter.target.basePath

            // Neither no cookie nor Jupyter's own token opens the door.
            #expect(try await server.get(base + "api/contents").status == .forbidden)
            #expect(try await server.get(base + "api/contents?token=\(jupyter.token)").status == .forbidden)
            let unknown = "/explore/\(String(repeating: "0", count: 32))/api/contents"
            #expect(try await server.get(server.base + unknown).status == .notFound)

            // A ticket becomes the cookie once.
            let ticket = tickets.issue(session: jupyter.target.id)
            let login = try await server.get(base + "_login?ticket=\(ticket)")
            #expect(login.status == .found)
            #expect(login.headers.first(name: "Location") == jupyter.target.basePath + "lab")
            let setCookie = try #require(login.headers.first(name: "Set-Cookie"))
            for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=\(jupyter.target.basePath);"] {
                #expect(setCookie.contains(attribute), "Set-Cookie lacks \(attribute): \(setCookie)")
            }
            let cookie = String(setCookie.prefix { $0 != ";" })
            #expect(try await server.get(base + "_login?ticket=\(ticket)").status == .forbidden)
            let foreign = tickets.issue(session: other)
            #expect(try await server.get(base + "_login?ticket=\(foreign)").status == .forbidden)

            // The other session's cookie does not open this one.
            let otherTicket = tickets.issue(session: other)
            let otherLogin = try await server.get(server.base + "/explore/\(other)/_login?ticket=\(otherTicket)")
            let otherCookie = String(try #require(otherLogin.headers.first(name: "Set-Cookie")).prefix { $0 != ";" })
            #expect(try await server.get(base + "api/contents", headers: ["Cookie": otherCookie]).status == .forbidden)

            // With the cookie, Jupyter answers, and never with its token.
            let contents = try await server.get(base + "api/contents", headers: ["Cookie": cookie])
            #expect(contents.status == .ok)
            #expect(!contents.body.contains(jupyter.token))
            #expect(!contents.headers.contains { $0.value.contains(jupyter.token) })
            let lab = try await server.get(base + "lab", headers: ["Cookie": cookie])
            #expect(lab.status == .ok && lab.body.contains("jupyter-config-data"))
            #expect(!lab.body.contains(jupyter.token) && !lab.headers.contains { $0.value.contains(jupyter.token) })

            // The client's Authorization is replaced, not forwarded: a wrong one changes nothing.
            let wrongAuth = try await server.get(
                base + "api/contents",
                headers: ["Cookie": cookie, "Authorization": "token not-the-token"]
            )
            #expect(wrongAuth.status == .ok)

            // State changes need the plane's own Origin.
            let kernelBody = #"{"name":"python3"}"#
            let foreignPost = try await server.request(
                base + "api/kernels",
                method: .POST,
                headers: ["Cookie": cookie, "Origin": "https://evil.example", "Content-Type": "application/json"],
                body: kernelBody
            )
            #expect(foreignPost.status == .forbidden)
            let noOriginPost = try await server.request(
                base + "api/kernels",
                method: .POST,
                headers: ["Cookie": cookie, "Content-Type": "application/json"],
                body: kernelBody
            )
            #expect(noOriginPost.status == .forbidden)
            let created = try await server.request(
                base + "api/kernels",
                method: .POST,
                headers: ["Cookie": cookie, "Origin": server.base, "Content-Type": "application/json"],
                body: kernelBody
            )
            #expect(created.status == .created, "POST /api/kernels: \(created.status) \(created.body.prefix(300))")
            let kernel = try #require(
                (try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])?["id"] as? String
            )

            // The kernel channels through the proxy: a foreign Origin is refused, the subprotocol is echoed,
            // and 6 MB of output arrives intact.
            let channels = jupyter.target.basePath + "api/kernels/\(kernel)/channels"
            let refused = try await server.webSocket(
                channels,
                headers: ["Cookie": cookie, "Origin": "https://evil.example"]
            )
            if case .opened(let channel, _) = refused { try? await channel.channel.close() }
            #expect({ if case .refused = refused { true } else { false } }(), "a foreign Origin was upgraded")

            let v1 = try await server.webSocket(
                channels,
                headers: [
                    "Cookie": cookie, "Origin": server.base,
                    "Sec-WebSocket-Protocol": "v1.kernel.websocket.jupyter.org",
                ]
            )
            guard case .opened(let v1Channel, let subprotocol) = v1 else {
                Issue.record("the v1 kernel WebSocket was not upgraded")
                return
            }
            #expect(subprotocol == "v1.kernel.websocket.jupyter.org")
            try await v1Channel.channel.close()

            let opened = try await server.webSocket(channels, headers: ["Cookie": cookie, "Origin": server.base])
            guard case .opened(let channel, _) = opened else {
                Issue.record("the kernel WebSocket was not upgraded")
                return
            }
            let size = Int(ProcessInfo.processInfo.environment["EXPLORE_SIZE"] ?? "") ?? 6_000_000
            let result = try await KernelClient.execute(
                "print('x' * \(size))",
                on: channel
            )
            #expect(result.stdout.count == size + 1, "stdout had \(result.stdout.count) characters")
            #expect(result.stdout.utf8.allSatisfy { $0 == UInt8(ascii: "x") || $0 == UInt8(ascii: "\n") })
            #expect(result.largestFrame > 5 << 20, "largest frame \(result.largestFrame) bytes")
            #expect(!result.raw.contains(jupyter.token))
        }
    }
}

/// Sessions the test serves: a fixed table.
struct ExploreTestSessions: ExploreSessionSource {
    let targets: [ExploreTarget]
    func liveSession(_ id: String) async -> ExploreTarget? { targets.first { $0.id == id } }

    static func newID() -> String { String(ExploreTickets.secret().prefix(32)) }
}

/// A Jupyter server on a UNIX socket in a fresh 0700 directory, its token in a 0600 config file.
struct JupyterServer {
    let process: Process
    let directory: URL
    let socketPath: String
    let token: String
    let target: ExploreTarget

    /// The explore runtime's Python (`DELONG_EXPLORE_PYTHON`, else the installed runtime).
    static func python() throws -> String {
        let path =
            ProcessInfo.processInfo.environment["DELONG_EXPLORE_PYTHON"] ?? "/opt/delong/explore-runtime/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure(
                "no explore runtime Python at \(path): install the explore runtime, or set DELONG_EXPLORE_PYTHON to a "
                    + "python3 that has jupyterlab"
            )
        }
        return path
    }

    static func start() async throws -> JupyterServer {
        let python = try python()
        let id = ExploreTestSessions.newID()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("explore-\(id.prefix(8))")
        try FileManager.default.createDirectory(
            at: directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let socketPath = directory.appendingPathComponent("jl.sock").path
        let token = ExploreTickets.secret()
        let config: [String: Any] = [
            "IdentityProvider": ["token": token],
            "ServerApp": [
                "sock": socketPath, "sock_mode": "0600", "base_url": "/explore/\(id)/", "root_dir": directory.path,
                "terminals_enabled": false, "open_browser": false,
            ],
            "LabApp": ["news_url": NSNull(), "extension_manager": "readonly"],
            // Jupyter's default 1 MB/s output limit would replace the 6 MB print with a warning.
            "ZMQChannelsWebsocketConnection": ["iopub_data_rate_limit": 1e12],
        ]
        let configDir = directory.appendingPathComponent("config")
        try FileManager.default.createDirectory(
            at: configDir,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let configFile = configDir.appendingPathComponent("jupyter_server_config.json")
        guard
            FileManager.default.createFile(
                atPath: configFile.path,
                contents: try JSONSerialization.data(withJSONObject: config),
                attributes: [.posixPermissions: 0o600]
            )
        else { throw TestFailure("cannot write \(configFile.path)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "jupyterlab", "--allow-root"]
        process.currentDirectoryURL = directory
        process.environment = [
            "HOME": directory.path, "PATH": "/usr/bin:/bin", "JUPYTER_CONFIG_DIR": configDir.path,
            "JUPYTER_DATA_DIR": directory.appendingPathComponent("data").path,
            "JUPYTER_RUNTIME_DIR": directory.appendingPathComponent("runtime").path,
        ]
        let log = directory.appendingPathComponent("jupyter.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let server = JupyterServer(
            process: process,
            directory: directory,
            socketPath: socketPath,
            token: token,
            target: ExploreTarget(
                id: id,
                socketPath: socketPath,
                jupyterToken: token,
                basePath: "/explore/\(id)/",
                consumer: try! Address(Array(repeating: 1, count: 20)),
                expiresAt: Date().addingTimeInterval(3600)
            )
        )
        // About 2 s alone; a fresh CI machine starting every suite at once took over 60 s (a cold runtime, a
        // loaded 2-core host), so the wait is long: the test is about the proxy, not the start time.
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            if process.isRunning, FileManager.default.fileExists(atPath: socketPath),
                let url = URL(httpURLWithSocketPath: socketPath, uri: "/explore/\(id)/api/status")
            {
                var request = HTTPClientRequest(url: url.absoluteString)
                request.headers.add(name: "Authorization", value: "token \(token)")
                request.headers.add(name: "Host", value: "localhost")  // AsyncHTTPClient sends none over a socket
                if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)),
                    response.status == .ok
                {
                    return server
                }
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        server.stop()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw TestFailure("Jupyter did not answer on its socket within 300 s:\n\(output.suffix(2000))")
    }

    /// SIGTERM, then SIGKILL after 5 s (a server started from the test process may not act on SIGTERM).
    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning, Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The explore routes on a loopback listener, as `compute serve` would wire them.
struct ExploreTestServer: Sendable {
    let base: String

    struct Reply: Sendable {
        let status: HTTPResponseStatus
        let headers: HTTPHeaders
        let body: String
    }

    static func with(
        sessions: any ExploreSessionSource,
        tickets: ExploreTickets,
        _ body: (ExploreTestServer) async throws -> Void
    ) async throws {
        let router = Router()
        let webSocketRouter = Router(context: ExploreWebSocketContext.self)
        let port = PortBox()
        // The origin is known once bound (port 0: a fixed port would race other tests).
        ExploreRoutes.add(
            to: router,
            webSocketRouter: webSocketRouter,
            sessions: sessions,
            tickets: tickets,
            origin: { "http://127.0.0.1:\(port.value ?? 0)" },
            logger: Logger(label: "explore-test")
        )
        let app = Application(
            router: router,
            server: ExploreRoutes.serverBuilder(webSocketRouter: webSocketRouter),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.set(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "explore-test")
        )
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { task.cancel() }
        let bound = try await port.wait()
        try await body(ExploreTestServer(base: "http://127.0.0.1:\(bound)"))
    }

    /// A browser-like client that does not follow redirects (the sign-in's 302 is under test). Process-wide,
    /// never shut down.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(redirectConfiguration: .disallow)
    )

    func get(_ url: String, headers: [String: String] = [:]) async throws -> Reply {
        try await request(url, method: .GET, headers: headers, body: nil)
    }

    func request(_ url: String, method: HTTPMethod, headers: [String: String], body: String?) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: response.status, headers: response.headers, body: String(buffer: bytes))
    }

    /// Opens a WebSocket through the proxy (the relay's own client, over TCP here).
    func webSocket(_ path: String, headers: [String: String]) async throws -> ExploreWebSocketRelay.Outcome {
        var fields = HTTPHeaders()
        for (name, value) in headers { fields.add(name: name, value: value) }
        fields.add(name: "Host", value: String(base.dropFirst("http://".count)))
        let port = Int(base.split(separator: ":").last!)!
        return try await ExploreWebSocketRelay.connect(
            to: try SocketAddress(ipAddress: "127.0.0.1", port: port),
            uri: path,
            headers: fields,
            maxFrameSize: ExploreRoutes.maxFrameSize
        )
    }
}

/// The port a server bound, once it is running.
final class PortBox: Sendable {
    private let state = Mutex<Int?>(nil)
    var value: Int? { state.withLock { $0 } }
    func set(_ port: Int) { state.withLock { $0 = port } }

    func wait() async throws -> Int {
        for _ in 0..<500 {
            if let value { return value }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the server did not start within 10 s")
    }
}

/// Just enough of the Jupyter kernel protocol (JSON over the WebSocket, no subprotocol) to run code and
/// collect its stdout.
enum KernelClient {
    struct Result {
        var stdout = ""
        var largestFrame = 0
        var raw = ""
    }

    static func execute(
        _ code: String,
        on channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>,
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await run(code, on: channel) }
            group.addTask {
                try await Task.sleep(for: timeout)
                try? await channel.channel.close()
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let result = first else {
                throw TestFailure("the kernel did not finish within \(timeout)")
            }
            return result
        }
    }

    static func run(_ code: String, on channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>) async throws -> Result
    {
        let id = UUID().uuidString
        let session = UUID().uuidString
        let request: [String: Any] = [
            "header": [
                "msg_id": id, "username": "test", "session": session, "msg_type": "execute_request", "version": "5.3",
            ],
            "parent_header": [String: Any](), "metadata": [String: Any](),
            "content": [
                "code": code, "silent": false, "store_history": false, "user_expressions": [String: Any](),
                "allow_stdin": false, "stop_on_error": true,
            ],
            "channel": "shell", "buffers": [Any](),
        ]
        let json = try JSONSerialization.data(withJSONObject: request)
        var result = Result()
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(
                WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(bytes: json))
            )
            var message = ByteBuffer()
            frames: for try await frame in inbound {
                switch frame.opcode {
                case .text, .binary, .continuation:
                    result.largestFrame = max(result.largestFrame, frame.length)
                    var data = frame.unmaskedData
                    message.writeBuffer(&data)
                    guard frame.fin else { continue }
                    defer { message.clear() }
                    let text = String(buffer: message)
                    guard
                        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                        let parent = object["parent_header"] as? [String: Any], parent["msg_id"] as? String == id,
                        let type = (object["header"] as? [String: Any])?["msg_type"] as? String,
                        let content = object["content"] as? [String: Any]
                    else { continue }
                    // Stream text is checked character by character by the caller; the rest is kept whole.
                    if type == "stream" {
                        result.stdout += content["text"] as? String ?? ""
                    } else {
                        result.raw += text
                    }
                    if type == "status", content["execution_state"] as? String == "idle" { break frames }
                case .ping:
                    try await outbound.write(
                        WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
                    )
                case .connectionClose:
                    break frames
                default:
                    continue
                }
            }
            try? await outbound.write(ExploreWebSocketRelay.closeFrame(.normalClosure, reason: nil, masked: true))
        }
        return result
    }
}
