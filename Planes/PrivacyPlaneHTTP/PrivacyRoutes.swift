import ChainCore
import ChainRecords
import Foundation
public import Hummingbird
public import Logging
import NIOCore
public import PlaneProtocol
public import PrivacyPlane

/// The Privacy Plane's HTTP API under /v1 (docs/privacy-plane.md):
///
///     GET  /v1/nonce                 a fresh SIWE nonce
///     POST /v1/login                 {message, signature} → a session (Bearer token)
///     POST /v1/tokens                Bearer; {dataset, mode, imageDigest?, jobId?, audience?} → a signed token
///     POST /v1/keys/release          {token, evidence, sandboxKey, agentSigner, keyVersion?} → the wrapped DEK,
///                                    its receipt and its lease
///     POST /v1/keys/sample           {token, sample, evidence, recipientKey, keyVersion?} → a sealed sample's key
///                                    for a Computing Plane holding an explore token, and its receipt
///     POST /v1/keys/renew            {lease, at, signature} → the renewed lease (signed by the agent signer)
///     POST /v1/keys/provider         Bearer (the dataset's provider); {dataset, recipientKey, keyVersion?}
///     GET  /v1/receipts?from=N&limit=M   the receipt log
///     GET  /v1/attestation           the plane's signer, its own evidence when it has any, its DCAP collateral
///
/// Errors are JSON {"error": {"code", "message"}} with a distinct status per kind; bodies are capped at
/// `maxBody` bytes (413 beyond); callers are rate limited (429) per address once signed in, and anonymous
/// endpoints per client (the peer address, or a trusted proxy's X-Forwarded-For) under a global ceiling.
///
/// The routes parse typed requests (PlaneProtocol's wire types) and format typed answers; every decision
/// is the plane's (`TokenIssuer`, `KeyRelease`, their `AccessChecks`).
public struct PrivacyRoutes: Sendable {
    let signIn: SignInService
    let issuer: TokenIssuer
    let release: KeyRelease
    let ownEvidence: @Sendable () -> ResponseJSON
    let perAddress: RateLimiter
    let anonymous: ClientRateLimiter
    let clients: ClientAddresses
    let logger: Logger
    /// The DCAP collateral store whose state GET /v1/attestation reports (`collateral`), when there is one.
    let collateral: DCAPCollateralStore?

    public init(
        signIn: SignInService,
        issuer: TokenIssuer,
        release: KeyRelease,
        ownEvidence: @escaping @Sendable () -> ResponseJSON,
        perAddress: RateLimiter,
        anonymous: ClientRateLimiter,
        clients: ClientAddresses,
        logger: Logger,
        collateral: DCAPCollateralStore? = nil
    ) {
        self.collateral = collateral
        self.signIn = signIn
        self.issuer = issuer
        self.release = release
        self.ownEvidence = ownEvidence
        self.perAddress = perAddress
        self.anonymous = anonymous
        self.clients = clients
        self.logger = logger
    }

    static let maxBody = 256 * 1024

    public func addRoutes(to router: Router<PlaneRequestContext>) {
        router.get("/v1/nonce") { request, context in
            try await handle { try nonce(client: client(request, context)) }
        }
        router.post("/v1/login") { request, context in
            try await handle { try await login(request, client: client(request, context)) }
        }
        router.post("/v1/tokens") { request, _ in try await handle { try await token(request) } }
        router.post("/v1/keys/release") { request, context in
            try await handle { try await keyRelease(request, client: client(request, context)) }
        }
        router.post("/v1/keys/sample") { request, context in
            try await handle { try await sampleKey(request, client: client(request, context)) }
        }
        router.post("/v1/keys/renew") { request, _ in try await handle { try await renew(request) } }
        router.post("/v1/keys/provider") { request, _ in try await handle { try await providerKey(request) } }
        router.get("/v1/receipts") { request, _ in try await handle { try receipts(request) } }
        router.get("/v1/receipts/head") { request, context in
            try await handle { try receiptsHead(client: client(request, context)) }
        }
        router.get("/v1/attestation") { _, _ in
            ResponseJSON.response(
                .object(
                    [
                        ("signer", .string(issuer.signer.checksummed)),
                        (
                            "tokenDomain",
                            .object([
                                ("name", .string(TokenDomain.name)), ("version", .string(TokenDomain.version)),
                                ("chainId", .int(issuer.domain.chainID)),
                                ("verifyingContract", .string(issuer.domain.verifyingContract.checksummed)),
                            ])
                        ),
                        ("evidence", ownEvidence()),
                    ] + (collateral.map { [("collateral", $0.status.json(now: Int64(Self.unixNow())))] } ?? [])
                )
            )
        }
    }

    // MARK: Handlers

    func client(_ request: Request, _ context: PlaneRequestContext) -> String {
        clients.client(of: request, peer: context.remoteAddress)
    }

    /// The rate limit for the node's read routes on this listener (`/v1/status`, `/v1/rentals`, …).
    public func admitNodeRoute(_ request: Request, _ context: PlaneRequestContext) -> Response? {
        anonymous.allow("node", client: client(request, context))
            ? nil : ResponseJSON.error(.tooManyRequests, Refusal.rateLimited.code, Refusal.rateLimited.message)
    }

    func nonce(client: String) throws -> Response {
        guard anonymous.allow("nonce", client: client) else { throw Refusal.rateLimited }
        let issued = try signIn.issueNonce(now: Self.now())
        return ResponseJSON.response(
            .object([("nonce", .string(issued.value)), ("expiresAt", .string(issued.expiresAt.description))])
        )
    }

    func login(_ request: Request, client: String) async throws -> Response {
        guard anonymous.allow("login", client: client) else { throw Refusal.rateLimited }
        let field = WireField(try await Self.body(request), "login")
        let message = try field.string("message")
        switch signIn.signIn(message: Array(message.utf8), signatureHex: try field.string("signature"), now: Self.now())
        {
        case .refused(let failure):
            throw Refusal.http(
                failure.isMalformed ? .badRequest : .unauthorized,
                "siwe_\(failure.code)",
                failure.reason
            )
        case .signedIn(let session, let token):
            return ResponseJSON.response(
                .object([
                    ("session", .string(token)), ("address", .string(session.address.checksummed)),
                    ("expiresAt", .string(session.expiresAt.description)),
                ])
            )
        }
    }

    func token(_ request: Request) async throws -> Response {
        let session = try authenticate(request)
        let tokenRequest = try TokenRequest(json: try await Self.body(request))
        let token = try issuer.issue(for: session.address, tokenRequest, now: Self.unixNow())
        logger.info(
            "token issued",
            metadata: [
                "consumer": "\(session.address.checksummed)", "mode": "\(tokenRequest.mode)",
                "dataset": "\(token.token.dataset.hex)",
            ]
        )
        return ResponseJSON.response(Self.output(token.json))
    }

    func keyRelease(_ request: Request, client: String) async throws -> Response {
        let releaseRequest = try KeyReleaseRequest(json: try await Self.body(request))
        let (anonymous, perAddress) = (self.anonymous, self.perAddress)
        let response = try await release.release(
            releaseRequest,
            now: Self.unixNow(),
            admission: ReleaseAdmission(
                forged: { anonymous.allow("forged", client: client) },
                consumer: { perAddress.allow($0.hex) }
            )
        )
        return ResponseJSON.response(Self.output(response.json))
    }

    /// A sealed sample's key for a Computing Plane holding an explore token (rate-limited like a release).
    func sampleKey(_ request: Request, client: String) async throws -> Response {
        let sampleRequest = try SampleKeyRequest(json: try await Self.body(request))
        let (anonymous, perAddress) = (self.anonymous, self.perAddress)
        let response = try await release.releaseSample(
            sampleRequest,
            now: Self.unixNow(),
            admission: ReleaseAdmission(
                forged: { anonymous.allow("forged", client: client) },
                consumer: { perAddress.allow($0.hex) }
            )
        )
        return ResponseJSON.response(Self.output(response.json))
    }

    /// A lease renewal. Not rate limited beyond the body cap: an unknown lease costs one table lookup, and
    /// only a known lease (a token hash) costs an ecrecover.
    func renew(_ request: Request) async throws -> Response {
        let renewal = try LeaseRenewal(json: try await Self.body(request))
        let lease = try release.renew(renewal, now: Self.unixNow())
        return ResponseJSON.response(Self.output(["lease": lease.json]))
    }

    func providerKey(_ request: Request) async throws -> Response {
        let session = try authenticate(request)
        let providerRequest = try ProviderKeyRequest(json: try await Self.body(request))
        let response = try await release.providerKey(
            for: session.address,
            dataset: providerRequest.dataset,
            keyVersion: providerRequest.keyVersion,
            recipientKey: providerRequest.recipientKey,
            now: Self.unixNow()
        )
        return ResponseJSON.response(Self.output(response.json))
    }

    /// The caller's receipts: those whose recipient is the signed-in address (a consumer's releases, a
    /// provider's own keys), and those of datasets it provides. One answer reads at most `scanLimit`
    /// receipts from `from` on and returns `next`, where the following page starts.
    func receipts(_ request: Request) throws -> Response {
        let session = try authenticate(request)
        let query = request.uri.queryParameters
        let from = query.get("from").flatMap { UInt64($0) } ?? 0
        let limit = max(1, min(query.get("limit").flatMap { Int($0) } ?? 100, 1000))
        let lines = try release.receipts.lines(from: from, limit: Self.scanLimit)
        var providers: [Hash32: Bool] = [:]
        var mine: [String] = []
        var next = from
        for (sequence, line) in lines {
            guard mine.count < limit else { break }
            next = sequence + 1
            let receipt = try ReceiptLog.decode(line, domain: release.receipts.domain, at: "receipt \(sequence)")
                .receipt
            var visible = receipt.recipient == session.address
            if !visible {
                if providers[receipt.dataset] == nil {
                    providers[receipt.dataset] =
                        try release.checks.dataset(receipt.dataset)?.provider == session.address
                }
                visible = providers[receipt.dataset] ?? false
            }
            if visible { mine.append(String(decoding: line, as: UTF8.self)) }
        }
        let count = release.receipts.count
        let body =
            "{\"count\":\(count),\"next\":\(lines.isEmpty ? from : next),\"receipts\":["
            + mine.joined(separator: ",") + "]}\n"
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    static let scanLimit = 2000

    /// Public, aggregated: how many receipts the log holds and the hash of the last (what an auditor
    /// anchors), nothing about who got which key.
    func receiptsHead(client: String) throws -> Response {
        guard anonymous.allow("receipts", client: client) else { throw Refusal.rateLimited }
        let head = release.receipts.head
        return ResponseJSON.response(.object([("count", .int(head.count)), ("last", .string(head.last.hex))]))
    }

    // MARK: Plumbing

    /// The session named by `Authorization: Bearer <token>`, rate limited per address.
    func authenticate(_ request: Request) throws -> Session {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Refusal.http(
                .unauthorized,
                "session_required",
                "expected Authorization: Bearer <session> from /v1/login"
            )
        }
        switch signIn.sessions.lookup(token: String(header.dropFirst(7)), now: Self.now()) {
        case .valid(let session):
            guard perAddress.allow(session.address.hex) else { throw Refusal.rateLimited }
            return session
        case .unknown: throw Refusal.http(.unauthorized, "session_unknown", "no such session; sign in again")
        case .expired: throw Refusal.http(.unauthorized, "session_expired", "the session has ended; sign in again")
        }
    }

    static func body(_ request: Request) async throws -> [String: Any] {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maxBody) } catch {
            throw Refusal.http(.contentTooLarge, "body_too_large", "request bodies are limited to \(maxBody) bytes")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]
        else { throw Refusal.http(.badRequest, "malformed_json", "expected a JSON object body") }
        return object
    }

    static func now() -> RFC3339Timestamp { RFC3339Timestamp(unixSeconds: Int64(Date().timeIntervalSince1970)) }
    static func unixNow() -> UInt64 { UInt64(Date().timeIntervalSince1970) }

    /// Foundation JSON (from the wire types) rendered through ResponseJSON, keys sorted for stable output.
    static func output(_ value: Any) -> ResponseJSON {
        switch value {
        case let s as String: return .string(s)
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(i)
        case let d as [String: Any]: return .object(d.keys.sorted().map { ($0, output(d[$0]!)) })
        case let a as [Any]: return .array(a.map(output))
        default: return .string("\(value)")
        }
    }

    /// Maps refusals to statuses; anything unexpected is a 500 whose details stay in the log.
    func handle(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let refusal as Refusal {
            return ResponseJSON.error(refusal.status, refusal.code, refusal.message)
        } catch let error as PrivacyPlaneError {
            let status = Self.status(error.code)
            if status == .internalServerError || status == .serviceUnavailable {
                logger.error("privacy plane failure", metadata: ["error": "\(error)"])
            }
            return ResponseJSON.error(status, ErrorEnvelope.snakeCase(error.code.rawValue), error.reason)
        } catch let error as PlaneProtocolError {
            // The wire types' parse errors: a request field missing, malformed or out of bounds.
            return ResponseJSON.error(.badRequest, "bad_request", error.reason)
        } catch {
            logger.error("privacy plane failure", metadata: ["error": "\(error)"])
            return ResponseJSON.error(.internalServerError, "internal", "internal error")
        }
    }

    static func status(_ code: PrivacyPlaneError.Code) -> HTTPResponse.Status {
        switch code {
        case .badRequest, .malformedMessage, .malformedTimestamp: return .badRequest
        case .tokenRefused: return .unauthorized
        case .forbidden, .rentalInactive, .algorithmNotPublished, .attestationRefused, .bindingMismatch,
            .audienceRefused, .leaseRefused, .leaseRevoked:
            return .forbidden
        case .unknownDataset, .unknownLease: return .notFound
        case .leaseExpired: return .gone
        case .tokenAlreadyUsed: return .conflict
        case .rateLimited: return .tooManyRequests
        case .keyUnavailable, .indexUnavailable, .indexStale, .clockSkew, .signerMismatch, .collateralExpired,
            .collateralUnavailable:
            return .serviceUnavailable
        case .invalidConfiguration, .storage, .corruptStore: return .internalServerError
        }
    }

    struct Refusal: Error {
        let status: HTTPResponse.Status
        let code: String
        let message: String
        static func http(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Refusal {
            Refusal(status: status, code: code, message: message)
        }
        static let rateLimited = Refusal(
            status: .tooManyRequests,
            code: "rate_limited",
            message: "too many requests; retry later"
        )
    }
}
