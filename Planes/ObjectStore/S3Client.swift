public import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
public import NIOHTTP1
import PlaneCrypto

/// A small S3 client: HEAD/GET/PUT of single objects, path-style (`ENDPOINT/BUCKET/KEY`), every request signed
/// with ``SigV4`` and given a deadline. Works with AWS and with S3-compatible stores (MinIO, Ceph, moto).
///
/// Errors say which request failed and why: ``ObjectStoreError/Code/bucketMissing``,
/// ``ObjectStoreError/Code/credentialsRefused`` (HTTP 403), ``ObjectStoreError/Code/unreachable`` (no answer).
public struct S3Client: Sendable {
    /// `scheme://host[:port]`, without a trailing slash.
    public let endpoint: String
    public let credentials: S3Credentials
    private let hostHeader: String
    private let http: HTTPClient
    private let timeout: Duration
    private let now: @Sendable () -> Date

    /// The default endpoint of AWS S3 in `region`.
    public static func awsEndpoint(region: String) -> String { "https://s3.\(region).amazonaws.com" }

    /// A client for `endpoint` (`http://` or `https://`, host and optional port, no path).
    public init(
        endpoint: String,
        credentials: S3Credentials,
        httpClient: HTTPClient = .shared,
        timeout: Duration = .seconds(30),
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(ObjectStoreError) {
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty, url.path.isEmpty || url.path == "/", url.query == nil,
            url.user == nil
        else {
            throw ObjectStoreError(
                .malformed,
                "S3 endpoint: expected http(s)://HOST[:PORT] with no path, found \(endpoint.prefix(200))"
            )
        }
        let defaultPort = scheme == "https" ? 443 : 80
        let hostPart = host.contains(":") ? "[\(host)]" : host
        self.hostHeader = url.port.map { $0 == defaultPort ? hostPart : "\(hostPart):\($0)" } ?? hostPart
        self.endpoint = "\(scheme)://\(self.hostHeader)"
        self.credentials = credentials
        self.http = httpClient
        self.timeout = timeout
        self.now = now
    }

    /// A response: status, headers and at most the body the caller allowed.
    public struct Response: Sendable {
        public let status: UInt
        public let headers: HTTPHeaders
        public let body: [UInt8]
    }

    /// Checks that `bucket` exists and the credentials may use it (HEAD bucket).
    public func headBucket(_ bucket: String, logger: Logger) async throws(ObjectStoreError) {
        let r = try await send(.HEAD, bucket: bucket, key: nil, logger: logger)
        guard r.status == 200 else { throw classify(r, what: "HEAD s3://\(bucket)", bucket: bucket, head: true) }
    }

    /// The length of the object, or nil when there is none (HEAD object).
    public func headObject(bucket: String, key: String, logger: Logger) async throws(ObjectStoreError) -> Int? {
        let r = try await send(.HEAD, bucket: bucket, key: key, logger: logger)
        if r.status == 404 { return nil }
        guard r.status == 200 else {
            throw classify(r, what: "HEAD s3://\(bucket)/\(key)", bucket: bucket, head: true)
        }
        return r.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
    }

    /// The object's bytes (at most `limit`), or nil when there is no such key.
    public func getObject(
        bucket: String,
        key: String,
        limit: Int,
        logger: Logger
    ) async throws(ObjectStoreError) -> [UInt8]? {
        let r = try await send(.GET, bucket: bucket, key: key, limit: limit, logger: logger)
        if r.status == 404, Self.xmlValue("Code", in: r.body) != "NoSuchBucket" { return nil }
        guard r.status == 200 else { throw classify(r, what: "GET s3://\(bucket)/\(key)", bucket: bucket) }
        return r.body
    }

    /// Stores `bytes` at `key` in one PUT (S3 makes a PUT visible whole or not at all). The body's SHA-256 is
    /// signed and sent as `x-amz-content-sha256`, which S3 checks against the bytes it receives.
    public func putObject(bucket: String, key: String, bytes: [UInt8], logger: Logger) async throws(ObjectStoreError) {
        let r = try await send(.PUT, bucket: bucket, key: key, body: bytes, logger: logger)
        guard r.status == 200 else { throw classify(r, what: "PUT s3://\(bucket)/\(key)", bucket: bucket) }
    }

    /// Sends one signed request. Only transport failures throw here; statuses are the caller's to judge.
    public func send(
        _ method: HTTPMethod,
        bucket: String,
        key: String?,
        body: [UInt8] = [],
        limit: Int = 1 << 20,
        logger: Logger
    ) async throws(ObjectStoreError) -> Response {
        let path = "/" + bucket + (key.map { "/" + $0 } ?? "")
        let amzDate = SigV4.amzDate(now())
        let payloadHash = SigV4.hex(Digest.sha256(body))
        var signed: [(name: String, value: String)] = [
            ("host", hostHeader), ("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash),
        ]
        if let token = credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        let authorization = try SigV4.authorization(
            SigV4.Request(method: method.rawValue, path: path, headers: signed, payloadHash: payloadHash),
            accessKeyID: credentials.accessKeyID,
            secret: credentials.secretAccessKey,
            amzDate: amzDate,
            scope: SigV4.Scope(date: String(amzDate.prefix(8)), region: credentials.region, service: "s3")
        )
        var request = HTTPClientRequest(url: endpoint + SigV4.canonicalURI(path))
        request.method = method
        for (name, value) in signed { request.headers.add(name: name, value: value) }
        request.headers.add(name: "authorization", value: authorization)
        if method == .PUT {
            request.headers.add(name: "content-length", value: "\(body.count)")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        logger.debug(
            "s3 request",
            metadata: ["s3.method": "\(method.rawValue)", "s3.path": "\(path)", "s3.bytes": "\(body.count)"]
        )
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: .now() + .init(timeout), logger: logger)
        } catch {
            throw ObjectStoreError(
                .unreachable,
                "\(method.rawValue) \(endpoint)\(path): no answer from the S3 endpoint (\(error))"
            )
        }
        do {
            let bytes = method == .HEAD ? ByteBuffer() : try await response.body.collect(upTo: limit)
            return Response(status: response.status.code, headers: response.headers, body: Array(buffer: bytes))
        } catch is NIOTooManyBytesError {
            throw ObjectStoreError(
                .tooLarge,
                "\(method.rawValue) \(endpoint)\(path): expected at most \(limit) bytes, found more"
            )
        } catch {
            throw ObjectStoreError(
                .unreachable,
                "\(method.rawValue) \(endpoint)\(path): the answer broke off (\(error))"
            )
        }
    }

    /// Turns a failed answer into an error that names the request, the status and S3's own code and message.
    func classify(_ r: Response, what: String, bucket: String, head: Bool = false) -> ObjectStoreError {
        let code = Self.xmlValue("Code", in: r.body)
        let message = Self.xmlValue("Message", in: r.body)
        let detail = "HTTP \(r.status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
        switch (r.status, code) {
        case (404, "NoSuchBucket"),
            (404, nil) where head:
            return ObjectStoreError(
                .bucketMissing,
                "\(what): expected bucket \(bucket) to exist at \(endpoint), found none (\(detail))"
            )
        case (403, _):
            return ObjectStoreError(
                .credentialsRefused,
                "\(what): the store refused access key \(credentials.accessKeyID) (\(detail)); check "
                    + "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION"
            )
        default:
            return ObjectStoreError(.io, "\(what): unexpected answer \(detail)")
        }
    }

    /// The text of the first `<name>…</name>` element of an S3 XML error body.
    static func xmlValue(_ name: String, in body: [UInt8]) -> String? {
        let text = String(decoding: body.prefix(16 << 10), as: UTF8.self)
        guard let open = text.range(of: "<\(name)>"),
            let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound]).prefix(300).description
    }
}
