public import ChainCore
import Foundation
public import NIOCore
import NIOHTTP1

/// A typed client of a Privacy Plane's HTTP API (docs/privacy-plane.md): what providers, consumers and
/// sandboxes link, without the plane itself. Every request goes over TLS to a peer the ``PlaneTrust`` accepts
/// (or plain HTTP to loopback, when asked). Every refusal is a `PlaneProtocolError` of code `refused`
/// carrying the plane's status and error envelope.
public struct PrivacyPlaneClient: Sendable {
    /// The plane's base URL, e.g. `https://127.0.0.1:8547`.
    public let url: PlaneURL
    public let trust: PlaneTrust
    let timeout: TimeAmount

    public init(url: PlaneURL, trust: PlaneTrust, timeout: TimeAmount = .seconds(30)) {
        self.url = url
        self.trust = trust
        self.timeout = timeout
    }

    /// A client of a plane whose TLS key its attestation binds (see ``AttestedPlane``).
    public init(_ plane: AttestedPlane, timeout: TimeAmount = .seconds(30)) {
        self.init(url: plane.url, trust: plane.trust, timeout: timeout)
    }

    /// A sign-in the plane accepted.
    public struct Login: Hashable, Sendable {
        /// The bearer token for the signed-in routes.
        public var session: String
        public var address: String?
        public var expiresAt: String?
    }

    /// A fresh SIWE nonce (`GET /v1/nonce`).
    public func nonce() async throws(PlaneProtocolError) -> String {
        guard let nonce = try await call("/v1/nonce")["nonce"] as? String else {
            throw PlaneProtocolError(.malformed, "the plane's /v1/nonce answer has no nonce")
        }
        return nonce
    }

    /// Signs in with an EIP-4361 message and its personal-sign signature (`POST /v1/login`).
    public func login(message: String, signature: Signature) async throws(PlaneProtocolError) -> Login {
        let answer = try await call("/v1/login", ["message": message, "signature": Hex.encode(signature.rsv)])
        guard let session = answer["session"] as? String else {
            throw PlaneProtocolError(.malformed, "the plane's /v1/login answer has no session")
        }
        return Login(
            session: session,
            address: answer["address"] as? String,
            expiresAt: answer["expiresAt"] as? String
        )
    }

    /// An access token for the signed-in consumer (`POST /v1/tokens`).
    public func token(_ request: TokenRequest, session: String) async throws(PlaneProtocolError) -> SignedAccessToken {
        try SignedAccessToken(json: try await call("/v1/tokens", request.json, session: session))
    }

    /// A sandbox's key release (`POST /v1/keys/release`): the wrapped DEK, its receipt and the key lease the
    /// sandbox must renew (``renew(lease:signerKey:at:)``) every `lease.renewEvery` seconds.
    public func release(_ request: KeyReleaseRequest) async throws(PlaneProtocolError) -> KeyReleaseResponse {
        let response = try KeyReleaseResponse(json: try await call("/v1/keys/release", request.json))
        guard response.lease.id == response.wrapped.tokenHash else {
            throw PlaneProtocolError(
                .malformed,
                "the plane's key release carries lease \(response.lease.id.hex), expected the token's \(response.wrapped.tokenHash.hex)"
            )
        }
        return response
    }

    /// A sealed sample's key for a Computing Plane (`POST /v1/keys/sample`): the wrapped key of the sample
    /// dataset and its receipt (no lease: the key opens one archive and is dropped).
    public func sampleKey(_ request: SampleKeyRequest) async throws(PlaneProtocolError) -> KeyReleaseResponse {
        let response = try KeyReleaseResponse(json: try await call("/v1/keys/sample", request.json))
        guard response.wrapped.dataset == request.sample, response.wrapped.keyVersion == request.keyVersion else {
            throw PlaneProtocolError(
                .malformed,
                "the plane's sample key is for dataset \(response.wrapped.dataset.hex) version \(response.wrapped.keyVersion), expected \(request.sample.hex) version \(request.keyVersion)"
            )
        }
        return response
    }

    /// The same as ``release(_:)``.
    public func releaseKey(_ request: KeyReleaseRequest) async throws(PlaneProtocolError) -> KeyReleaseResponse {
        try await release(request)
    }

    /// Renews key lease `lease` at `at` (unix seconds), signed with the agent's 32-byte secp256k1 private key
    /// `signerKey` (the one whose address the sandbox's REPORTDATA bound). A refusal throws `leaseRevoked`
    /// (HTTP 403 `lease_revoked` or `lease_refused`) or `leaseExpired` (HTTP 410 `lease_expired`, 404
    /// `unknown_lease`): the lease is over. Other failures (`unreachable`, `refused` with another status,
    /// `untrusted`) are the transport's or the plane's, not a verdict on the lease.
    public func renew(lease: Hash32, signerKey: [UInt8], at: UInt64) async throws(PlaneProtocolError) -> KeyLease {
        let renewal: LeaseRenewal
        do throws(ChainError) { renewal = try LeaseRenewal(signing: lease, at: at, privateKey: signerKey) } catch {
            throw PlaneProtocolError(.malformed, "cannot sign the lease renewal: \(error.reason)")
        }
        let answer: [String: Any]
        do throws(PlaneProtocolError) { answer = try await call("/v1/keys/renew", renewal.json) } catch {
            guard error.code == .refused, let refusal = error.refusal else { throw error }
            switch (refusal.status, refusal.envelope.code) {
            case (403, "lease_revoked"), (403, "lease_refused"):
                throw PlaneProtocolError(refusedWith: refusal.status, refusal.envelope, code: .leaseRevoked)
            case (410, _), (404, "unknown_lease"):
                throw PlaneProtocolError(refusedWith: refusal.status, refusal.envelope, code: .leaseExpired)
            default: throw error
            }
        }
        let renewed = try KeyLease(json: answer["lease"])
        guard renewed.id == lease else {
            throw PlaneProtocolError(.malformed, "the plane renewed lease \(renewed.id.hex), expected \(lease.hex)")
        }
        return renewed
    }

    /// A provider's own dataset key (`POST /v1/keys/provider`).
    public func providerKey(
        _ request: ProviderKeyRequest,
        session: String
    ) async throws(PlaneProtocolError) -> KeyReleaseResponse {
        try KeyReleaseResponse(json: try await call("/v1/keys/provider", request.json, session: session))
    }

    /// The plane's token domain (chain id and AlgorithmRegistry), from its `/v1/attestation`.
    public func tokenDomain() async throws(PlaneProtocolError) -> TokenDomain {
        let identity = try await call("/v1/attestation")
        guard let d = identity["tokenDomain"] as? [String: Any], let chainID = d["chainId"] as? Int, chainID >= 0,
            let registry = (d["verifyingContract"] as? String).flatMap({ try? Address(hex: $0) })
        else { throw PlaneProtocolError(.malformed, "the plane's /v1/attestation has no token domain") }
        return TokenDomain(chainID: UInt64(chainID), verifyingContract: registry)
    }

    /// POSTs (or GETs, without a body) JSON; the answer's JSON object, or a `refused` error with the plane's
    /// envelope.
    public func call(
        _ path: String,
        _ body: [String: Any]? = nil,
        session: String? = nil
    ) async throws(PlaneProtocolError) -> [String: Any] {
        var headers = [("Content-Type", "application/json")]
        if let session { headers.append(("Authorization", "Bearer \(session)")) }
        let encoded: [UInt8]?
        do { encoded = try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) } } catch {
            throw PlaneProtocolError(.malformed, "cannot encode the request to \(path): \(error)")
        }
        let response = try await PlaneHTTPS.send(
            body == nil ? .GET : .POST,
            path,
            to: url,
            trust: trust,
            headers: headers,
            body: encoded,
            timeout: timeout
        )
        let status = response.status
        let data = Data(response.body)
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        guard status == 200 else {
            throw PlaneProtocolError(
                refusedWith: status,
                ErrorEnvelope(json: object) ?? ErrorEnvelope(code: "http_\(status)", message: "no message")
            )
        }
        guard let object else {
            throw PlaneProtocolError(.malformed, "the plane answered \(path) with something other than JSON")
        }
        return object
    }
}
