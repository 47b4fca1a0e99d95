public import ChainCore
public import ChainRecords
public import PlaneCrypto
public import PlaneProtocol

/// Issues access tokens against the verified index, signed with the Privacy Plane's secp256k1 key.
///
/// - Both modes need an active rental recorded in a *final* block and an audience (the Computing Plane that
///   runs the job or serves the session) that is an operator authorized in a final block: a reorg cannot take
///   back what a session or a job uses, and a token opens nothing on another plane.
/// - Secure tokens also need a rental that outlasts `maxJobDuration` and the algorithm's image digest
///   published in a final block.
///
/// A token lives at most `maxJobDuration` (secure) or `exploreLifetime` (explore), and never past the rental.
/// It carries a random nonce; `KeyRelease` uses each token at most once.
public struct TokenIssuer: Sendable {
    /// The chain and clock decisions (rental, algorithm, signer, freshness), shared with key release.
    public let checks: AccessChecks
    public var reader: any RecordReader { checks.reader }
    public var domain: TokenDomain { checks.tokens.domain }
    public let maxJobDuration: UInt64
    public let exploreLifetime: UInt64
    private let signingKey: SecretBytes
    /// The address matching the signing key (what AlgorithmRegistry's privacy signer must be).
    public var signer: Address { checks.signer }
    public var freshness: IndexFreshness? { checks.freshness }

    public init(
        reader: any RecordReader,
        domain: TokenDomain,
        signingKey: SecretBytes,
        maxJobDuration: UInt64 = 3600,
        exploreLifetime: UInt64 = 3600,
        freshness: IndexFreshness? = nil
    ) throws(PrivacyPlaneError) {
        guard signingKey.count == 32 else {
            throw PrivacyPlaneError(.invalidConfiguration, "signing key must be 32 bytes, found \(signingKey.count)")
        }
        guard maxJobDuration > 0, exploreLifetime > 0 else {
            throw PrivacyPlaneError(.invalidConfiguration, "token lifetimes must be positive")
        }
        let signer = try PlaneSigner.withKey(signingKey) { (k) throws(ChainError) in
            try Secp256k1.shared.address(privateKey: k)
        }
        self.checks = AccessChecks(
            reader: reader,
            tokens: TokenVerifier(domain: domain, signer: signer),
            freshness: freshness
        )
        self.signingKey = signingKey
        self.maxJobDuration = maxJobDuration
        self.exploreLifetime = exploreLifetime
    }

    /// A token for `consumer` (the signed-in address) at the wall-clock time `now` (unix seconds), or the
    /// reason it is refused. The token's times follow the plane's clock (see `IndexFreshness`).
    public func issue(
        for consumer: Address,
        _ request: TokenRequest,
        now wallClock: UInt64
    ) throws(PrivacyPlaneError) -> SignedAccessToken {
        let now = try checks.now(wallClock: wallClock)
        let rental = try checks.rental(dataset: request.dataset, consumer: consumer, now: now)
        let expiry: UInt64
        switch request.mode {
        case .explore:
            guard request.imageDigest == .zero, request.jobID == .zero else {
                throw PrivacyPlaneError(.badRequest, "explore tokens carry no image digest or job id")
            }
            guard request.audience != .zero else {
                throw PrivacyPlaneError(
                    .audienceRefused,
                    "explore tokens need an audience: the operator address of the Computing Plane that serves the session, found none (zero)"
                )
            }
            let final = try checks.finalNumber()
            try checks.finalRental(rental, final: final, until: now)
            try checks.audience(request.audience, final: final)
            expiry = min(now + exploreLifetime, rental.expiresAt)
        case .secure:
            guard request.imageDigest != .zero, request.jobID != .zero else {
                throw PrivacyPlaneError(.badRequest, "secure tokens need an image digest and a job id")
            }
            guard request.audience != .zero else {
                throw PrivacyPlaneError(
                    .audienceRefused,
                    "secure tokens need an audience: the operator address of the Computing Plane the job runs on, found none (zero)"
                )
            }
            let final = try checks.finalNumber()
            try checks.finalRental(rental, final: final, until: now + maxJobDuration)
            try checks.algorithm(request.imageDigest, final: final)
            try checks.audience(request.audience, final: final)
            expiry = now + maxJobDuration
        }
        let token = AccessToken(
            consumer: consumer,
            dataset: request.dataset,
            mode: request.mode,
            imageDigest: request.imageDigest,
            jobID: request.jobID,
            audience: request.audience,
            notBefore: now,
            expiry: expiry,
            nonce: try Self.randomNonce()
        )
        return try PlaneSigner.withKey(signingKey) { (k) throws(ChainError) in
            try SignedAccessToken(signing: token, domain: domain, privateKey: k)
        }
    }

    static func randomNonce() throws(PrivacyPlaneError) -> Hash32 {
        do { return try Hash32(SecureRandom.bytes(count: 32)) } catch {
            throw PrivacyPlaneError(.invalidConfiguration, "random source failed: \(error)")
        }
    }
}

/// Lends the plane's secp256k1 key to libsecp256k1 calls as a temporary array that is wiped afterwards.
enum PlaneSigner {
    static func withKey<T>(
        _ key: SecretBytes,
        _ body: ([UInt8]) throws(ChainError) -> T
    ) throws(PrivacyPlaneError) -> T {
        var copy = key.withUnsafeBytes { Array($0) }
        defer { SecretBytes.wipe(&copy) }
        do { return try body(copy) } catch {
            throw PrivacyPlaneError(.invalidConfiguration, "plane signing key: \(error.reason)")
        }
    }
}
