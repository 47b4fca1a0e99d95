import AsyncHTTPClient
import Foundation
import HTTPTypes
public import Hummingbird
public import HummingbirdCore
public import Logging
import NIOCore
public import NIOHTTP1

/// The explore proxy's rules, shared by plain HTTP and WebSocket upgrades: who may pass, and what of a
/// request reaches Jupyter. (docs/explore.md, "The proxy")
public struct ExploreGate: Sendable {
    public let sessions: any ExploreSessionSource
    public let tickets: ExploreTickets
    /// The plane's own origin, `scheme://host:port` as a browser sends it in `Origin` (read per request:
    /// a plane listening on port 0 knows its port only once bound).
    public let origin: @Sendable () -> String

    public init(sessions: any ExploreSessionSource, tickets: ExploreTickets, origin: @escaping @Sendable () -> String) {
        self.sessions = sessions
        self.tickets = tickets
        self.origin = origin
    }

    /// A request that may not pass: its status and a short reason.
    public struct Refusal: Error, Sendable {
        public let status: HTTPResponse.Status
        public let reason: String
    }

    /// The live session `sid` names, if the request carries that session's cookie and, when it could change
    /// state (any method but GET/HEAD, and every upgrade), the plane's own Origin.
    public func admit(_ request: Request, session sid: String) async throws(Refusal) -> ExploreTarget {
        guard ExploreTarget.isSessionID(sid), let target = await sessions.liveSession(sid) else {
            if ExploreTarget.isSessionID(sid) { tickets.end(session: sid) }
            throw Refusal(status: .notFound, reason: "there is no live explore session \(sid.prefix(32))")
        }
        let cookie = Self.cookies(request.headers).first { $0.name == ExploreTickets.cookieName }?.value
        guard let cookie, tickets.session(cookie: cookie) == sid else {
            throw Refusal(status: .forbidden, reason: "sign in to this explore session with its one-time link first")
        }
        let changes = !(request.method == .get || request.method == .head) || Self.isUpgrade(request.headers)
        let own = origin()
        if changes, request.headers[.origin] != own {
            throw Refusal(
                status: .forbidden,
                reason: "this request must come from \(own) (Origin was \(request.headers[.origin] ?? "absent"))"
            )
        }
        return target
    }

    /// The request target Jupyter sees: the path as sent, the query without any `token` parameter.
    public static func upstreamURI(_ uri: URI) -> String {
        guard let query = uri.query, !query.isEmpty else { return uri.path }
        let kept = query.split(separator: "&", omittingEmptySubsequences: true).filter { item in
            let name = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            return String(name).removingPercentEncoding?.lowercased() != "token"
        }
        return kept.isEmpty ? uri.path : uri.path + "?" + kept.joined(separator: "&")
    }

    /// Headers that belong to one connection (RFC 9110 §7.6.1) and never cross the proxy.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade",
    ]

    /// The client's headers as Jupyter gets them: no credentials of the client (Authorization, `dl_*`
    /// cookies), no hop-by-hop headers, no Host or Origin (the proxy checked Origin; Jupyter's own check
    /// is skipped for token-authenticated requests), plus `Authorization: token …` and `Host: localhost`
    /// (Jupyter accepts local host names only). Jupyter's own cookies (`_xsrf`, its login cookie) pass.
    public static func upstreamHeaders(_ fields: HTTPFields, token: String, webSocket: Bool = false) -> HTTPHeaders {
        let connectionListed = Set(
            fields[values: .connection].flatMap { $0.split(separator: ",") }.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
        )
        var headers = HTTPHeaders()
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || connectionListed.contains(name) { continue }
            switch name {
            case "authorization", "cookie", "host", "origin", "content-length": continue
            default: break
            }
            // The upgrader writes its own key and version; extensions (compression) are not relayed.
            if webSocket, name.hasPrefix("sec-websocket-"), name != "sec-websocket-protocol" { continue }
            headers.add(name: field.name.rawName, value: field.value)
        }
        let kept = cookies(fields).filter { !$0.name.hasPrefix("dl_") }
        if !kept.isEmpty {
            headers.add(name: "Cookie", value: kept.map { "\($0.name)=\($0.value)" }.joined(separator: "; "))
        }
        headers.add(name: "Host", value: "localhost")
        headers.add(name: "Authorization", value: "token \(token)")
        return headers
    }

    /// Jupyter's response headers as the browser gets them: no hop-by-hop headers, and no header that
    /// carries the token in any form.
    public static func downstreamHeaders(_ headers: HTTPHeaders, token: String) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || value.contains(token) { continue }
            if lower == "location", value.lowercased().contains("token=") { continue }
            guard let fieldName = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }

    /// The request's cookies, in order (every `Cookie` header).
    static func cookies(_ fields: HTTPFields) -> [(name: String, value: String)] {
        fields[values: .cookie].flatMap { header in
            header.split(separator: ";").compactMap { pair -> (name: String, value: String)? in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { return nil }
                return (parts[0].trimmingCharacters(in: .whitespaces), parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
    }

    static func isUpgrade(_ fields: HTTPFields) -> Bool { fields[.upgrade] != nil }
}

/// Plain HTTP to a session's Jupyter over its UNIX socket, bodies streamed both ways.
public struct ExploreHTTPProxy: Sendable {
    /// Largest request body forwarded (notebook saves and uploads; Jupyter's own limit is 512 MiB).
    public var maxRequestBody: Int = 256 << 20
    /// Longest wait for the next bytes from Jupyter.
    public var readTimeout: TimeAmount = .seconds(120)
    /// Longest a whole exchange may take, body streaming included.
    public var deadline: TimeAmount = .minutes(30)

    public init() {}

    /// Largest HTML page (buffered to cut the token out).
    static let maxPage = 16 << 20

    /// One client for every session: connections are pooled per socket path. Process-wide, so it is never
    /// shut down (AsyncHTTPClient requires a shutdown before a client is released).
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(120)),
            connectionPool: .init(idleTimeout: .seconds(30)),
            decompression: .disabled
        )
    )

    public func forward(_ request: Request, to target: ExploreTarget, logger: Logger) async -> Response {
        guard
            let url = URL(httpURLWithSocketPath: target.socketPath, uri: ExploreGate.upstreamURI(request.uri))
        else {
            return ExploreRoutes.refusal(.badRequest, "the request path cannot be forwarded")
        }
        if ExploreGate.isUpgrade(request.headers) {
            // A WebSocket upgrade lands here only when the upstream leg could not be opened.
            return ExploreRoutes.refusal(.badGateway, "the explore session refused the WebSocket connection")
        }
        var upstream = HTTPClientRequest(url: url.absoluteString)
        upstream.method = HTTPMethod(rawValue: request.method.rawValue)
        upstream.headers = ExploreGate.upstreamHeaders(request.headers, token: target.jupyterToken)
        if let length = request.headers[.contentLength].flatMap({ Int($0) }) {
            guard length <= maxRequestBody else {
                return ExploreRoutes.refusal(
                    .contentTooLarge,
                    "request bodies are limited to \(maxRequestBody >> 20) MiB"
                )
            }
            if length > 0 {
                upstream.body = HTTPClientRequest.Body.stream(
                    LimitedBody(base: request.body, limit: length),
                    length: .known(Int64(length))
                )
            }
        } else if request.headers[.transferEncoding] != nil {
            upstream.body = HTTPClientRequest.Body.stream(
                LimitedBody(base: request.body, limit: maxRequestBody),
                length: .unknown
            )
        }
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(upstream, timeout: deadline, logger: logger)
        } catch {
            logger.info("explore upstream failed", metadata: ["session": "\(target.id)", "error": "\(error)"])
            return ExploreRoutes.refusal(.badGateway, "the explore session did not answer")
        }
        var headers = ExploreGate.downstreamHeaders(response.headers, token: target.jupyterToken)
        headers[.cacheControl] = headers[.cacheControl] ?? "no-store"
        let html = response.headers.first(name: "Content-Type")?.lowercased().hasPrefix("text/html") ?? false
        if html, request.method != .head {
            // JupyterLab writes the server's token into every page's config (labapp.py: page_config["token"]);
            // the page works without it (the proxy adds it), so it is cut out. Pages are small: buffered.
            guard var page = try? await response.body.collect(upTo: Self.maxPage) else {
                return ExploreRoutes.refusal(.badGateway, "the explore session sent a page over 16 MiB")
            }
            let text = String(buffer: page)
            if text.contains(target.jupyterToken) {
                page = ByteBuffer(string: text.replacingOccurrences(of: target.jupyterToken, with: ""))
            }
            headers[.contentLength] = "\(page.readableBytes)"
            return Response(
                status: .init(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
                headers: headers,
                body: .init(byteBuffer: page)
            )
        }
        return Response(
            status: .init(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
            headers: headers,
            body: ResponseBody(asyncSequence: response.body)
        )
    }
}

/// A request body that fails once it exceeds `limit` bytes (a chunked body has no length to check first).
struct LimitedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let limit: Int

    struct TooLarge: Error {}

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Int
        var seen = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            seen += buffer.readableBytes
            guard seen <= limit else { throw TooLarge() }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), limit: limit) }
}
