public import AsyncHTTPClient
public import Foundation
import JWTKit
public import Logging
import NIOHTTP1

/// OAuth access tokens for a service account: an RS256 JWT assertion (header `kid` = `private_key_id`; claims
/// `iss`, `scope`, `aud` = `token_uri`, `iat`, `exp` = `iat` + 3600) exchanged at `token_uri` with the
/// `urn:ietf:params:oauth:grant-type:jwt-bearer` grant. A token is reused until 60 s before it expires.
///
/// Transient refusals (`internal_failure`, `server_error`, `temporarily_unavailable`, HTTP 5xx, no answer) are
/// retried up to `maxAttempts` times in all; any other refusal throws ``ComputeEngineError/Code/tokenRefused``
/// with Google's `error` and `error_description`. Tokens and the key are never logged.
public actor GoogleAccessTokens {
    /// The scope Compute Engine calls need.
    public static let computeScope = "https://www.googleapis.com/auth/compute"
    /// The errors Google's own client retries (`google/oauth2/_client.py`).
    static let transientErrors: Set<String> = ["internal_failure", "server_error", "temporarily_unavailable"]

    /// The account the tokens are for.
    nonisolated public let key: ServiceAccountKey
    /// The scope asked for.
    nonisolated public let scope: String
    private let http: GoogleHTTP
    private let maxAttempts: Int
    private let retryDelay: Duration
    private let now: @Sendable () -> Date
    private let logger: Logger
    private var cached: (token: String, refreshAfter: Date)?
    private var inFlight: Task<(String, Date), any Error>?
    /// How many exchanges reached the token endpoint with an answer (for tests and metrics).
    public private(set) var exchanges = 0

    /// Tokens for `key` with `scope`, each exchange given `timeout`.
    public init(
        key: ServiceAccountKey,
        scope: String = GoogleAccessTokens.computeScope,
        httpClient: HTTPClient = .shared,
        timeout: Duration = .seconds(30),
        maxAttempts: Int = 3,
        retryDelay: Duration = .milliseconds(500),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "delong.compute-engine.token")
    ) {
        self.key = key
        self.scope = scope
        self.http = GoogleHTTP(client: httpClient, timeout: timeout)
        self.maxAttempts = max(1, maxAttempts)
        self.retryDelay = retryDelay
        self.now = now
        self.logger = logger
    }

    /// A valid access token: the cached one while it has more than 60 s left, else a fresh exchange (concurrent
    /// callers share one exchange).
    public func token() async throws(ComputeEngineError) -> String {
        if let cached, now() < cached.refreshAfter { return cached.token }
        let task: Task<(String, Date), any Error>
        if let inFlight {
            task = inFlight
        } else {
            task = Task { try await self.exchange() }
            inFlight = task
        }
        do {
            let (token, refreshAfter) = try await task.value
            inFlight = nil
            cached = (token, refreshAfter)
            return token
        } catch {
            inFlight = nil
            if let error = error as? ComputeEngineError { throw error }
            throw ComputeEngineError(.tokenRefused, "token exchange failed: \(error)")
        }
    }

    /// Drops the cached token (after a 401 from Compute Engine, say), so the next ``token()`` exchanges anew.
    public func invalidate() { cached = nil }

    /// The signed assertion: `header.claims.signature`, RS256 with the account's key.
    func assertion(issuedAt: Date) async throws(ComputeEngineError) -> String {
        let iat = Int(issuedAt.timeIntervalSince1970)
        let claims = AssertionClaims(iss: key.clientEmail, scope: scope, aud: key.tokenURI, iat: iat, exp: iat + 3600)
        let keys = JWTKeyCollection()
        await keys.add(rsa: key.privateKey, digestAlgorithm: .sha256, kid: JWKIdentifier(string: key.privateKeyID))
        do {
            return try await keys.sign(claims, kid: JWKIdentifier(string: key.privateKeyID))
        } catch {
            throw ComputeEngineError(
                .malformedKey,
                "service-account key \(key.privateKeyID): signing failed (\(error))"
            )
        }
    }

    private func exchange() async throws(ComputeEngineError) -> (String, Date) {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await exchangeOnce()
            } catch {
                guard error.isTransientTokenError, attempt < maxAttempts else { throw error }
                logger.info(
                    "token exchange: transient refusal, retrying",
                    metadata: ["token.attempt": "\(attempt)", "token.reason": "\(error.apiReason ?? "\(error.code)")"]
                )
                try? await Task.sleep(for: retryDelay * attempt)
            }
        }
    }

    private func exchangeOnce() async throws(ComputeEngineError) -> (String, Date) {
        let issuedAt = now()
        let jwt = try await assertion(issuedAt: issuedAt)
        let form =
            "grant_type=" + Self.formEscape("urn:ietf:params:oauth:grant-type:jwt-bearer")
            + "&assertion=" + Self.formEscape(jwt)
        let response = try await http.send(
            .POST,
            key.tokenURI,
            headers: [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")],
            body: Data(form.utf8),
            logger: logger
        )
        exchanges += 1
        let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]
        guard response.status == 200 else {
            let error = object?["error"] as? String
            let description = object?["error_description"] as? String
            throw ComputeEngineError(
                .tokenRefused,
                "token exchange at \(key.tokenURI) for \(key.clientEmail): HTTP \(response.status)"
                    + (error.map { " \($0)" } ?? "") + (description.map { ": \($0)" } ?? ""),
                httpStatus: response.status,
                apiReason: error,
                apiMessage: description
            )
        }
        guard let object, let token = object["access_token"] as? String, !token.isEmpty else {
            throw ComputeEngineError(
                .malformedResponse,
                "token exchange at \(key.tokenURI): expected {access_token, expires_in, token_type}, found no access_token"
            )
        }
        let expiresIn = (object["expires_in"] as? NSNumber)?.intValue ?? 3600
        if let type = object["token_type"] as? String, type.lowercased() != "bearer" {
            throw ComputeEngineError(
                .malformedResponse,
                "token exchange at \(key.tokenURI): expected token_type Bearer, found \(type.prefix(40))"
            )
        }
        logger.debug("token exchanged", metadata: ["token.expires_in": "\(expiresIn)"])
        return (token, issuedAt.addingTimeInterval(TimeInterval(max(0, expiresIn - 60))))
    }

    /// `application/x-www-form-urlencoded` escaping: only unreserved characters stay as they are.
    static func formEscape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(
            CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128))
        )
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// The claims of the assertion (`google/oauth2/service_account.py`).
struct AssertionClaims: JWTPayload {
    let iss: String
    let scope: String
    let aud: String
    let iat: Int
    let exp: Int

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

extension ComputeEngineError {
    /// A refusal the token endpoint documents as transient, a 5xx, or no answer at all.
    var isTransientTokenError: Bool {
        switch code {
        case .unreachable: return true
        case .tokenRefused:
            if let reason = apiReason, GoogleAccessTokens.transientErrors.contains(reason) { return true }
            return (httpStatus ?? 0) >= 500
        default: return false
        }
    }
}
