public import AsyncHTTPClient
public import Foundation
public import Logging
import NIOHTTP1

/// Where a ``ComputeEngineClient`` gets its bearer tokens (``GoogleAccessTokens``, or a fixed token in tests).
public protocol AccessTokenProvider: Sendable {
    /// A token valid now.
    func token() async throws(ComputeEngineError) -> String
    /// Forget a cached token that Compute Engine refused.
    func invalidate() async
}

extension GoogleAccessTokens: AccessTokenProvider {}

/// The Compute Engine v1 REST calls a job's Confidential VM needs, for one project and zone: insert, get, delete,
/// list and wait on operations. Every call carries a bearer token and a deadline; a 401 drops the cached token and
/// is retried once. Google's error shape becomes a ``ComputeEngineError`` carrying the HTTP status and
/// Google's `reason` and `message`.
public struct ComputeEngineClient: Sendable {
    /// The public endpoint.
    public static let defaultBaseURL = "https://compute.googleapis.com/compute/v1"

    /// The API root without a trailing slash (`…/compute/v1`).
    public let baseURL: String
    public let project: String
    public let zone: String
    private let tokens: any AccessTokenProvider
    private let http: GoogleHTTP
    private let logger: Logger

    /// A client for `project` and `zone`; `timeout` bounds each request (``wait(_:timeout:)`` has its own bound).
    public init(
        project: String,
        zone: String,
        tokens: any AccessTokenProvider,
        baseURL: String = ComputeEngineClient.defaultBaseURL,
        httpClient: HTTPClient = .shared,
        timeout: Duration = .seconds(30),
        logger: Logger = Logger(label: "delong.compute-engine")
    ) {
        self.project = project
        self.zone = zone
        self.tokens = tokens
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.http = GoogleHTTP(client: httpClient, timeout: timeout)
        self.logger = logger
    }

    /// `…/projects/P/zones/Z`.
    var zoneURL: String { "\(baseURL)/projects/\(Self.escape(project))/zones/\(Self.escape(zone))" }

    /// `instances.insert` with `requestId`: the same id within Google's idempotency window returns the same
    /// operation and creates no second instance. Returns the operation; pass it to ``wait(_:timeout:)``.
    public func insert(_ request: InstanceRequest, requestID: UUID) async throws(ComputeEngineError) -> ZoneOperation {
        guard request.zone == zone else {
            throw ComputeEngineError(
                .invalidRequest,
                "instance \(request.name): expected a request for zone \(zone), found one for \(request.zone)"
            )
        }
        let url = "\(zoneURL)/instances?requestId=\(requestID.uuidString.lowercased())"
        let response = try await call(.POST, url, body: try request.jsonBody(), what: "insert \(request.name)")
        logger.info(
            "instance insert requested",
            metadata: ["instance.name": "\(request.name)", "request.id": "\(requestID)"]
        )
        return try decode(ZoneOperation.self, response, what: "insert \(request.name)")
    }

    /// `instances.get`; nil when the instance does not exist (404).
    public func get(_ name: String) async throws(ComputeEngineError) -> Instance? {
        let url = "\(zoneURL)/instances/\(Self.escape(name))"
        let response = try await call(.GET, url, what: "get \(name)", allowNotFound: true)
        if response.status == 404 { return nil }
        return try decode(Instance.self, response, what: "get \(name)")
    }

    /// `instances.delete` with `requestId`; nil when the instance is already gone (404), so deleting twice is
    /// harmless.
    public func delete(_ name: String, requestID: UUID) async throws(ComputeEngineError) -> ZoneOperation? {
        let url = "\(zoneURL)/instances/\(Self.escape(name))?requestId=\(requestID.uuidString.lowercased())"
        let response = try await call(.DELETE, url, what: "delete \(name)", allowNotFound: true)
        if response.status == 404 { return nil }
        logger.info("instance delete requested", metadata: ["instance.name": "\(name)", "request.id": "\(requestID)"])
        return try decode(ZoneOperation.self, response, what: "delete \(name)")
    }

    /// `instances.list` with `filter` (for example `labels.delong-job:*`), every page followed.
    public func list(filter: String? = nil, maxResults: Int = 500) async throws(ComputeEngineError) -> [Instance] {
        var instances: [Instance] = []
        var pageToken: String?
        var pages = 0
        repeat {
            var query = ["maxResults=\(maxResults)"]
            if let filter { query.append("filter=\(Self.queryEscape(filter))") }
            if let pageToken { query.append("pageToken=\(Self.queryEscape(pageToken))") }
            let url = "\(zoneURL)/instances?" + query.joined(separator: "&")
            let response = try await call(.GET, url, what: "list instances")
            let page = try decode(InstanceList.self, response, what: "list instances")
            instances += page.items ?? []
            pageToken = page.nextPageToken.flatMap { $0.isEmpty ? nil : $0 }
            pages += 1
            if pages > 1000 {
                throw ComputeEngineError(
                    .malformedResponse,
                    "list instances: expected the pages to end, found more than 1000 page tokens"
                )
            }
        } while pageToken != nil
        return instances
    }

    /// `zoneOperations.get`.
    public func operation(_ name: String) async throws(ComputeEngineError) -> ZoneOperation {
        let url = "\(zoneURL)/operations/\(Self.escape(name))"
        return try decode(ZoneOperation.self, try await call(.GET, url, what: "get operation \(name)"), what: name)
    }

    /// `zoneOperations.wait` in a loop until the operation is `DONE` or `timeout` has passed. A finished operation
    /// with an `error` throws ``ComputeEngineError/Code/operationFailed`` naming the first error's code and
    /// message (``ComputeEngineError/isZoneResourcePoolExhausted`` tells a full zone).
    @discardableResult
    public func wait(
        _ operation: ZoneOperation,
        timeout: Duration = .seconds(300)
    ) async throws(ComputeEngineError)
        -> ZoneOperation
    {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var current = operation
        while !current.isDone {
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                throw ComputeEngineError(
                    .timedOut,
                    "operation \(operation.name) (\(operation.operationType ?? "?") \(operation.targetName ?? "")): "
                        + "expected DONE within \(timeout), found \(current.status)"
                )
            }
            let url = "\(zoneURL)/operations/\(Self.escape(current.name))/wait"
            // Google answers wait within about 2 minutes; give the request that long, or what is left.
            let response: GoogleHTTP.Response
            do {
                response = try await call(
                    .POST,
                    url,
                    what: "wait for \(current.name)",
                    requestTimeout: min(remaining, .seconds(150)) + .seconds(5)
                )
            } catch {
                // The caller's bound passed while the request was out: that is the answer it asked for.
                guard clock.now >= deadline else { throw error }
                throw ComputeEngineError(
                    .timedOut,
                    "operation \(operation.name) (\(operation.operationType ?? "?") \(operation.targetName ?? "")): "
                        + "expected DONE within \(timeout), found \(current.status) (the last wait: \(error.reason))"
                )
            }
            current = try decode(ZoneOperation.self, response, what: "wait for \(current.name)")
        }
        if let first = current.error?.errors?.first {
            throw ComputeEngineError(
                .operationFailed,
                "operation \(current.name) (\(current.operationType ?? "?") \(current.targetName ?? "")) failed: "
                    + "\(first.code ?? "?"): \(first.message ?? "")",
                httpStatus: current.httpErrorStatusCode,
                apiReason: first.code,
                apiMessage: first.message
            )
        }
        return current
    }

    // MARK: - Requests

    private func call(
        _ method: HTTPMethod,
        _ url: String,
        body: Data? = nil,
        what: String,
        allowNotFound: Bool = false,
        requestTimeout: Duration? = nil
    ) async throws(ComputeEngineError) -> GoogleHTTP.Response {
        let http = requestTimeout.map { GoogleHTTP(client: self.http.client, timeout: $0) } ?? self.http
        var attempt = 0
        while true {
            attempt += 1
            let token = try await tokens.token()
            var headers = [("authorization", "Bearer \(token)"), ("accept", "application/json")]
            if body != nil { headers.append(("content-type", "application/json")) }
            let response = try await http.send(method, url, headers: headers, body: body, logger: logger)
            if response.status == 401 && attempt == 1 {
                await tokens.invalidate()
                continue
            }
            if (200..<300).contains(response.status) || (allowNotFound && response.status == 404) { return response }
            throw Self.apiError(response, what: what)
        }
    }

    /// Google's `{"error":{"code","message","errors":[{"domain","reason","message"}]}}` as a typed error.
    static func apiError(_ response: GoogleHTTP.Response, what: String) -> ComputeEngineError {
        let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]
        let error = object?["error"] as? [String: Any]
        let message = error?["message"] as? String
        let reason =
            ((error?["errors"] as? [[String: Any]])?.first?["reason"] as? String) ?? (error?["status"] as? String)
        return ComputeEngineError(
            .api,
            "\(what): HTTP \(response.status)" + (reason.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? ""),
            httpStatus: response.status,
            apiReason: reason,
            apiMessage: message
        )
    }

    private func decode<T: Decodable>(
        _ type: T.Type,
        _ response: GoogleHTTP.Response,
        what: String
    )
        throws(ComputeEngineError) -> T
    {
        do {
            return try JSONDecoder().decode(T.self, from: response.body)
        } catch {
            throw ComputeEngineError(
                .malformedResponse,
                "\(what): expected a \(T.self) in the answer, found \(response.body.count) bytes that do not decode (\(error))"
            )
        }
    }

    static func escape(_ segment: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(
            CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128))
        )
        allowed.insert(charactersIn: "-._~")
        return segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
    }

    static func queryEscape(_ text: String) -> String { escape(text) }
}
