import Foundation
import HTTPTypes
public import Hummingbird
public import HummingbirdCore
import HummingbirdWebSocket
public import Logging
import NIOCore

/// The explore routes: `GET /explore/{sid}/_login?ticket=` (one-time ticket → the proxy's cookie) and
/// every other request under `/explore/{sid}/`, proxied to the session's Jupyter over its UNIX socket,
/// WebSocket upgrades included (docs/explore.md, "The proxy").
///
/// Wiring: HTTP routes go on the app's router; WebSocket routes on a second router with
/// ``ExploreWebSocketContext``, handed to the server through ``serverBuilder(webSocketRouter:)``. An upgrade
/// the WebSocket router declines (not signed in, wrong Origin, Jupyter refused) falls through to the HTTP
/// router, which answers it with the status that says why.
public struct ExploreRoutes: Sendable {
    public let gate: ExploreGate
    public var http = ExploreHTTPProxy()
    public let logger: Logger

    /// Largest WebSocket frame on both legs: Jupyter sends messages of several MiB in one frame (tornado
    /// accepts up to 10 MiB); the WebSocket default of 16 KiB would cut the connection.
    public static let maxFrameSize = 16 << 20

    public init(gate: ExploreGate, logger: Logger) {
        self.gate = gate
        self.logger = logger
    }

    /// Adds the explore routes to `router` (HTTP) and `webSocketRouter` (upgrades). `origin` is the plane's
    /// own `scheme://host:port`, which state-changing requests and upgrades must carry in `Origin`.
    public static func add<Context: RequestContext>(
        to router: Router<Context>,
        webSocketRouter: Router<ExploreWebSocketContext>,
        sessions: any ExploreSessionSource,
        tickets: ExploreTickets,
        origin: @escaping @Sendable () -> String,
        logger: Logger
    ) {
        let routes = ExploreRoutes(
            gate: ExploreGate(sessions: sessions, tickets: tickets, origin: origin),
            logger: logger
        )
        routes.addHTTP(to: router)
        routes.addWebSocket(to: webSocketRouter)
    }

    /// The server channel for an app that serves explore sessions: HTTP/1.1 with WebSocket upgrades decided
    /// by `webSocketRouter`, frames up to ``maxFrameSize``. Wrap it in `.tls(…)` as `.http1()` would be.
    public static func serverBuilder(webSocketRouter: Router<ExploreWebSocketContext>) -> HTTPServerBuilder {
        .http1WebSocketUpgrade(
            webSocketRouter: webSocketRouter,
            configuration: .init(ws: .init(maxFrameSize: maxFrameSize))
        )
    }

    public func addHTTP<Context: RequestContext>(to router: Router<Context>) {
        router.get("/explore/:sid/_login") { request, context in
            await login(request, session: context.parameters.get("sid") ?? "")
        }
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        for path in ["/explore/:sid", "/explore/:sid/**"] as [RouterPath] {
            for method in methods {
                router.on(path, method: method) { request, context in
                    await proxy(request, session: context.parameters.get("sid") ?? "")
                }
            }
        }
    }

    public func addWebSocket(to router: Router<ExploreWebSocketContext>) {
        router.ws(
            "/explore/:sid/**",
            shouldUpgrade: { request, context in
                await openUpstream(request, context: context)
            },
            onUpgrade: { inbound, outbound, context in
                guard let upstream = context.requestContext.upstream.take() else { return }
                try await ExploreWebSocketRelay.relay(browserIn: inbound, browserOut: outbound, upstream: upstream)
            }
        )
    }

    /// Spends the ticket and sets the cookie, or says why not.
    func login(_ request: Request, session sid: String) async -> Response {
        guard ExploreTarget.isSessionID(sid), let target = await gate.sessions.liveSession(sid) else {
            return Self.refusal(.notFound, "there is no live explore session \(sid.prefix(32))")
        }
        guard let ticket = request.uri.queryParameters.get("ticket") else {
            return Self.refusal(.forbidden, "the sign-in link has no ticket")
        }
        switch gate.tickets.redeem(ticket, session: sid, sessionEnds: target.expiresAt) {
        case .failure(let refusal):
            logger.info("explore sign-in refused", metadata: ["session": "\(sid)", "reason": "\(refusal)"])
            return Self.refusal(.forbidden, refusal.reason)
        case .success(let cookie):
            let maxAge = max(0, Int(target.expiresAt.timeIntervalSinceNow))
            var headers = HTTPFields()
            headers[.location] = target.basePath + "lab"
            headers[.setCookie] =
                "\(ExploreTickets.cookieName)=\(cookie); HttpOnly; Secure; SameSite=Strict; Path=\(target.basePath); Max-Age=\(maxAge)"
            headers[.cacheControl] = "no-store"
            headers[.init("Referrer-Policy")!] = "no-referrer"
            return Response(status: .found, headers: headers)
        }
    }

    func proxy(_ request: Request, session sid: String) async -> Response {
        do throws(ExploreGate.Refusal) {
            let target = try await gate.admit(request, session: sid)
            return await http.forward(request, to: target, logger: logger)
        } catch {
            return Self.refusal(error.status, error.reason)
        }
    }

    /// Decides an upgrade: admitted, and Jupyter accepted the upstream leg (whose chosen subprotocol, such
    /// as `v1.kernel.websocket.jupyter.org`, is echoed). Anything else declines, and the HTTP route answers.
    func openUpstream(_ request: Request, context: ExploreWebSocketContext) async -> RouterShouldUpgrade {
        guard let sid = context.parameters.get("sid"), let target = try? await gate.admit(request, session: sid)
        else { return .dontUpgrade }
        do {
            let outcome = try await ExploreWebSocketRelay.connect(
                to: try SocketAddress(unixDomainSocketPath: target.socketPath),
                uri: ExploreGate.upstreamURI(request.uri),
                headers: ExploreGate.upstreamHeaders(request.headers, token: target.jupyterToken, webSocket: true),
                maxFrameSize: Self.maxFrameSize
            )
            guard case .opened(let channel, let subprotocol) = outcome else { return .dontUpgrade }
            context.upstream.put(channel)
            var headers = HTTPFields()
            if let subprotocol { headers[.secWebSocketProtocol] = subprotocol }
            return .upgrade(headers)
        } catch {
            logger.info("explore WebSocket upstream failed", metadata: ["session": "\(sid)", "error": "\(error)"])
            return .dontUpgrade
        }
    }

    /// A short plain-text refusal.
    static func refusal(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: reason + "\n"))
        )
    }
}
