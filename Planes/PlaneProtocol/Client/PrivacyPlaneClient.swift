public import AsyncHTTPClient
public import ChainCore
import Foundation
public import NIOCore
import NIOHTTP1

/// A typed client of a Privacy Plane's HTTP API (docs/privacy-plane.md): what providers, consumers and
/// sandboxes link, without the plane itself. Every refusal is a `PlaneProtocolError` of code `refused`
/// carrying the plane's status and error envelope.
public struct PrivacyPlaneClient: Sendable {
    /// The plane's base URL, e.g. `http://127.0.0.1:8547`.
    public let base: String
    let http: HTTPClient
    let timeout: TimeAmount

    public init(base: String, http: HTTPClient = .shared, timeout: TimeAmount = .seconds(30)) {
        self.base = base
        self.http = http
        self.timeout = timeout
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

    /// A sandbox's key release (`POST /v1/keys/release`).
    public func releaseKey(_ request: KeyReleaseRequest) async throws(PlaneProtocolError) -> KeyReleaseResponse {
        try KeyReleaseResponse(json: try await call("/v1/keys/release", request.json))
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
        var request = HTTPClientRequest(url: base + path)
        request.method = body == nil ? .GET : .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let session { request.headers.add(name: "Authorization", value: "Bearer \(session)") }
        let status: Int
        let data: Data
        do {
            if let body { request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))) }
            let response = try await http.execute(request, timeout: timeout)
            status = Int(response.status.code)
            data = Data((try await response.body.collect(upTo: 4 << 20)).readableBytesView)
        } catch {
            throw PlaneProtocolError(.unreachable, "cannot reach the Privacy Plane at \(base): \(error)")
        }
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
