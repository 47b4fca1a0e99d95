import ChainCore
import Foundation
import NIOConcurrencyHelpers
public import NIOCore
public import NIOHTTP1
import NIOPosix
public import NIOSSL
import PlaneCrypto

/// A plane's base URL: `https://HOST:PORT[/PREFIX]`, or `http://` on a loopback address only.
public struct PlaneURL: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let port: Int
    /// A path prefix before every route (no trailing slash), for a plane behind a reverse proxy.
    public let prefix: String

    public init(_ text: String) throws(PlaneProtocolError) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
            let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil, url.user == nil
        else {
            throw PlaneProtocolError(
                .malformed,
                "expected a plane URL like https://HOST:PORT, found \"\(text)\""
            )
        }
        self.scheme = scheme
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = url.port ?? (scheme == "https" ? 443 : 80)
        var prefix = url.path
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.prefix = prefix
    }

    public var isTLS: Bool { scheme == "https" }

    /// Whether the host is a loopback address (127.0.0.0/8, ::1) or `localhost`: the only hosts plain HTTP may
    /// reach, because nothing on the wire between two processes of one machine can read it.
    public var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    public var description: String {
        "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)\(prefix)"
    }
}

/// How a client decides that the TLS peer is the plane it means to talk to. Nothing ever skips this: a
/// connection whose peer fails it is closed before a byte of the request is written.
public enum PlaneTrust: Sendable {
    /// The peer's public key (SHA-256 of its DER SubjectPublicKeyInfo) must be this one: a pinned
    /// certificate, or the key an attestation document bound (see ``AttestedPlane``).
    case publicKey(sha256: [UInt8])
    /// The peer's chain must lead to one of these roots and name the URL's host (an operator's own CA, or a
    /// public one in front of the plane).
    case certificateAuthorities([NIOSSLCertificate])
    /// Plain HTTP, allowed only to a loopback address and only when the caller asked for it.
    case plainLoopback
}

/// SHA-256 of a certificate's DER SubjectPublicKeyInfo: the TLS key identity that pins and attestation
/// bindings name.
public enum TLSKeyIdentity {
    public static func sha256(of certificate: NIOSSLCertificate) throws(PlaneProtocolError) -> [UInt8] {
        do { return Digest.sha256(try certificate.extractPublicKey().toSPKIBytes()) } catch {
            throw PlaneProtocolError(.untrusted, "cannot read the public key of the plane's certificate: \(error)")
        }
    }

    /// The first certificate of a PEM file's bytes.
    public static func certificate(pem: [UInt8], what: String) throws(PlaneProtocolError) -> NIOSSLCertificate {
        do {
            guard let first = try NIOSSLCertificate.fromPEMBytes(pem).first else {
                throw PlaneProtocolError(.malformed, "\(what): expected a PEM certificate, found none")
            }
            return first
        } catch let error as PlaneProtocolError { throw error } catch {
            throw PlaneProtocolError(.malformed, "\(what): expected a PEM certificate: \(error)")
        }
    }

    /// `sha256:<hex>`, as READY lines and attestation documents print it.
    public static func text(_ hash: [UInt8]) -> String { "sha256:" + Hex.encode(hash, prefix: false) }
}

/// One HTTP/1.1 exchange with a plane over a fresh connection (TLS 1.2+ verified by a ``PlaneTrust``), on
/// SwiftNIO: the verification callback sees the peer's certificate, which AsyncHTTPClient does not expose.
public enum PlaneHTTPS {
    /// A plane's answer.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
    }

    /// Sends `method path` with `body` and returns the answer (at most `maxBody` bytes of body).
    /// `observePeer` is given the TLS peer's key hash once the trust check passed.
    public static func send(
        _ method: HTTPMethod,
        _ path: String,
        to url: PlaneURL,
        trust: PlaneTrust,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        timeout: TimeAmount = .seconds(30),
        maxBody: Int = 4 << 20
    ) async throws(PlaneProtocolError) -> Response {
        try await exchange(
            method,
            path,
            url: url,
            trust: trust,
            headers: headers,
            body: body,
            timeout: timeout,
            maxBody: maxBody
        ).response
    }

    /// The same exchange, also returning the key hash of the certificate the peer presented (nil over plain
    /// HTTP). With `capture`, any certificate is accepted *for this exchange only*: the caller must check the
    /// returned key before believing the answer (``AttestedPlane`` does, against attestation evidence).
    static func exchange(
        _ method: HTTPMethod,
        _ path: String,
        url: PlaneURL,
        trust: PlaneTrust?,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        timeout: TimeAmount,
        maxBody: Int
    ) async throws(PlaneProtocolError) -> (response: Response, peerKey: [UInt8]?) {
        if case .plainLoopback = trust {
            guard !url.isTLS, url.isLoopback else {
                throw PlaneProtocolError(
                    .insecureTransport,
                    url.isTLS
                        ? "plain HTTP was asked for, but the plane URL \(url) is https"
                        : "plain HTTP is allowed only to a loopback address; \(url) is not one"
                )
            }
        } else {
            guard url.isTLS else {
                throw PlaneProtocolError(
                    .insecureTransport,
                    url.isLoopback
                        ? "refusing plain HTTP to \(url) unless asked for (--plain-http, loopback only); use https"
                        : "refusing plain HTTP to \(url): only loopback addresses may be reached without TLS"
                )
            }
        }
        let peer = NIOLockedValueBox<[UInt8]?>(nil)
        let refusal = NIOLockedValueBox<String?>(nil)
        let group = MultiThreadedEventLoopGroup.singleton
        let loop = group.next()
        let promise = loop.makePromise(of: Response.self)
        let tlsContext: NIOSSLContext?
        do { tlsContext = url.isTLS ? try context(for: trust) : nil } catch {
            throw PlaneProtocolError(.untrusted, "cannot set up TLS: \(error)")
        }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let handler = try makeHandler(
                            context: tlsContext,
                            url: url,
                            trust: trust,
                            peer: peer,
                            refusal: refusal
                        )
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        ResponseCollector(promise: promise, maxBody: maxBody)
                    )
                }
            }
        let channel: any Channel
        do { channel = try await bootstrap.connect(host: url.host, port: url.port).get() } catch {
            promise.fail(error)
            throw PlaneProtocolError(.unreachable, "cannot reach the plane at \(url): \(error)")
        }
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(PlaneProtocolError(.unreachable, "the plane at \(url) did not answer within \(timeout)"))
            channel.close(promise: nil)
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: url.prefix + path)
        head.headers.add(
            name: "Host",
            value: url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)"
        )
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Length", value: "\(body?.count ?? 0)")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body, !body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        do {
            let response = try await promise.futureResult.get()
            deadline.cancel()
            channel.close(promise: nil)
            return (response, peer.withLockedValue { $0 })
        } catch {
            deadline.cancel()
            channel.close(promise: nil)
            if let reason = refusal.withLockedValue({ $0 }) {
                throw PlaneProtocolError(.untrusted, "the plane at \(url) is not trusted: \(reason)")
            }
            if let error = error as? PlaneProtocolError { throw error }
            throw PlaneProtocolError(.unreachable, "no answer from the plane at \(url): \(error)")
        }
    }

    private static func context(for trust: PlaneTrust?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if case .certificateAuthorities(let roots) = trust {
            configuration.trustRoots = .certificates(roots)
            configuration.certificateVerification = .fullVerification
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func makeHandler(
        context: NIOSSLContext,
        url: PlaneURL,
        trust: PlaneTrust?,
        peer: NIOLockedValueBox<[UInt8]?>,
        refusal: NIOLockedValueBox<String?>
    ) throws -> NIOSSLClientHandler {
        // SNI carries names, never addresses (RFC 6066 §3).
        let serverName = SelfSignedCertificate.isIPAddress(url.host) ? nil : url.host
        switch trust {
        case .certificateAuthorities:
            // BoringSSL's own chain and host-name check (names only: SNI cannot carry an address).
            guard let serverName else {
                throw PlaneProtocolError(
                    .untrusted,
                    "a CA-issued certificate is checked against a host name; \(url) names an address (pin the certificate instead)"
                )
            }
            return try NIOSSLClientHandler(context: context, serverHostname: serverName)
        case .publicKey, .plainLoopback, nil:
            // Pinned: the key must be the expected one. Capture (nil): any key is recorded, and the caller
            // checks it against evidence before it believes a byte of the answer.
            let expected: [UInt8]?
            if case .publicKey(let pinned) = trust { expected = pinned } else { expected = nil }
            return try NIOSSLClientHandler(context: context, serverHostname: serverName) { chain, verdict in
                guard let leaf = chain.first, let key = try? TLSKeyIdentity.sha256(of: leaf) else {
                    refusal.withLockedValue { $0 = "it presented no usable certificate" }
                    return verdict.succeed(.failed)
                }
                if let expected, !ConstantTime.equals(key, expected) {
                    refusal.withLockedValue {
                        $0 =
                            "its TLS key \(TLSKeyIdentity.text(key)) is not the one expected (\(TLSKeyIdentity.text(expected)))"
                    }
                    return verdict.succeed(.failed)
                }
                peer.withLockedValue { $0 = key }
                verdict.succeed(.certificateVerified)
            }
        }
    }
}

/// Collects one HTTP response (head, body up to a cap, end) into a promise.
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<PlaneHTTPS.Response>
    private let maxBody: Int
    private var response: PlaneHTTPS.Response?

    init(promise: EventLoopPromise<PlaneHTTPS.Response>, maxBody: Int) {
        self.promise = promise
        self.maxBody = maxBody
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = .init(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: [])
        case .body(var buffer):
            guard response != nil else { return }
            guard response!.body.count + buffer.readableBytes <= maxBody else {
                promise.fail(PlaneProtocolError(.malformed, "the plane's answer is larger than \(maxBody) bytes"))
                context.close(promise: nil)
                return
            }
            response!.body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            if let response { promise.succeed(response) }
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(PlaneProtocolError(.unreachable, "the plane closed the connection before answering"))
        context.fireChannelInactive()
    }
}
