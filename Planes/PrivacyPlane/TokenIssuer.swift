public import ChainCore
public import ChainRecords
public import PlaneCrypto

/// What a signed-in consumer asks for.
public struct TokenRequest: Hashable, Sendable {
    public var dataset: Hash32
    public var mode: AccessToken.Mode
    /// The algorithm to run (Secure Mode only; zero for explore).
    public var imageDigest: Hash32
    /// The job the token is for (Secure Mode only; zero for explore).
    public var jobID: Hash32

    public init(dataset: Hash32, mode: AccessToken.Mode, imageDigest: Hash32 = .zero, jobID: Hash32 = .zero) {
        self.dataset = dataset
        self.mode = mode
        self.imageDigest = imageDigest
        self.jobID = jobID
    }
}

/// Issues access tokens against the verified index, signed with the Privacy Plane's secp256k1 key.
///
/// - Explore tokens need an active rental (pending records count: exploring samples is low risk).
/// - Secure tokens need an active rental recorded in a *final* block that outlasts `maxJobDuration`,
///   and the algorithm's image digest published in a final block: a reorg cannot take back what a job uses.
///
/// A token lives at most `maxJobDuration` (secure) or `exploreLifetime` (explore), and never past the rental.
/// It carries a random nonce; `KeyRelease` uses each token at most once.
public struct TokenIssuer: Sendable {
    public let reader: any RecordReader
    public let domain: TokenDomain
    public let maxJobDuration: UInt64
    public let exploreLifetime: UInt64
    private let signingKey: SecretBytes
    /// The address matching the signing key (what AlgorithmRegistry's privacy signer must be).
    public let signer: Address
    /// The index's freshness bounds and the plane's clock; nil checks neither (unit tests of other checks,
    /// benchmarks). `privacy serve` always sets it.
    public let freshness: IndexFreshness?

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
        signer = try PlaneSigner.withKey(signingKey) { (k) throws(ChainError) in
            try Secp256k1.shared.address(privateKey: k)
        }
        self.reader = reader
        self.domain = domain
        self.signingKey = signingKey
        self.maxJobDuration = maxJobDuration
        self.exploreLifetime = exploreLifetime
        self.freshness = freshness
    }

    /// A token for `consumer` (the signed-in address) at the wall-clock time `now` (unix seconds), or the
    /// reason it is refused. The token's times follow the plane's clock (see `IndexFreshness`).
    public func issue(
        for consumer: Address,
        _ request: TokenRequest,
        now wallClock: UInt64
    ) throws(PrivacyPlaneError) -> SignedAccessToken {
        let now = try Self.gate(reader, freshness, signer: signer, wallClock: wallClock)
        let rental = try Self.checkRental(reader, dataset: request.dataset, consumer: consumer, now: now)
        let expiry: UInt64
        switch request.mode {
        case .explore:
            guard request.imageDigest == .zero, request.jobID == .zero else {
                throw PrivacyPlaneError(.badRequest, "explore tokens carry no image digest or job id")
            }
            expiry = min(now + exploreLifetime, rental.expiresAt)
        case .secure:
            guard request.imageDigest != .zero, request.jobID != .zero else {
                throw PrivacyPlaneError(.badRequest, "secure tokens need an image digest and a job id")
            }
            let final = try Self.read { () throws in try reader.finalNumber() }
            try Self.checkFinalRental(rental, final: final, until: now + maxJobDuration)
            try Self.checkAlgorithm(reader, request.imageDigest, final: final)
            expiry = now + maxJobDuration
        }
        let token = AccessToken(
            consumer: consumer,
            dataset: request.dataset,
            mode: request.mode,
            imageDigest: request.imageDigest,
            jobID: request.jobID,
            notBefore: now,
            expiry: expiry,
            nonce: try Self.randomNonce()
        )
        return try PlaneSigner.withKey(signingKey) { (k) throws(ChainError) in
            try SignedAccessToken(signing: token, domain: domain, privateKey: k)
        }
    }

    // MARK: Checks shared with key release (which re-checks at release time)

    /// What every token and key release checks first: the on-chain privacy signer is still `signer` (a
    /// rotation stops the old key at once, even before the rotating block is final), and the index is fresh.
    /// Returns the plane's "now" for `wallClock` (the wall clock itself when `freshness` is nil).
    static func gate(
        _ reader: any RecordReader,
        _ freshness: IndexFreshness?,
        signer: Address,
        wallClock: UInt64
    ) throws(PrivacyPlaneError) -> UInt64 {
        if let named = try read({ () throws in try reader.privacySigner() }), named.address != signer {
            throw PrivacyPlaneError(
                .signerMismatch,
                "AlgorithmRegistry's privacy signer is now \(named.address.checksummed) (block \(named.updated.blockNumber)), not this plane's key \(signer.checksummed); the plane no longer signs or releases"
            )
        }
        guard let freshness else { return wallClock }
        return try freshness.now(reader, wallClock: wallClock)
    }

    /// The rental of (dataset, consumer), active at `now`, on a dataset that is registered and not retired.
    static func checkRental(
        _ reader: any RecordReader,
        dataset: Hash32,
        consumer: Address,
        now: UInt64
    ) throws(PrivacyPlaneError) -> RentalRecord {
        guard let record = try read({ () throws in try reader.dataset(dataset) }) else {
            throw PrivacyPlaneError(.unknownDataset, "dataset \(dataset.hex) is not registered on chain")
        }
        guard !record.retired else { throw PrivacyPlaneError(.unknownDataset, "dataset \(dataset.hex) is retired") }
        guard let rental = try read({ () throws in try reader.rental(dataset: dataset, consumer: consumer) }) else {
            throw PrivacyPlaneError(.rentalInactive, "\(consumer.checksummed) has no rental of \(dataset.hex)")
        }
        guard rental.status == .active else {
            throw PrivacyPlaneError(.rentalInactive, "the rental of \(dataset.hex) was revoked by the provider")
        }
        guard rental.expiresAt > now else {
            throw PrivacyPlaneError(
                .rentalInactive,
                "the rental of \(dataset.hex) expired at \(rental.expiresAt) (now \(now))"
            )
        }
        return rental
    }

    /// The rental's latest event is final and the rental lasts until at least `until`.
    static func checkFinalRental(_ rental: RentalRecord, final: UInt64, until: UInt64) throws(PrivacyPlaneError) {
        guard rental.updated.blockNumber <= final else {
            throw PrivacyPlaneError(
                .rentalInactive,
                "the rental's latest event (block \(rental.updated.blockNumber)) is not final yet (final head \(final))"
            )
        }
        guard rental.expiresAt >= until else {
            throw PrivacyPlaneError(
                .rentalInactive,
                "the rental expires at \(rental.expiresAt), before the job's maximum end \(until); extend it first"
            )
        }
    }

    /// The algorithm is published in a final block.
    static func checkAlgorithm(_ reader: any RecordReader, _ image: Hash32, final: UInt64) throws(PrivacyPlaneError) {
        guard let algorithm = try read({ () throws in try reader.algorithm(image) }) else {
            throw PrivacyPlaneError(.algorithmNotPublished, "image digest \(image.hex) is not published on chain")
        }
        guard algorithm.published.blockNumber <= final else {
            throw PrivacyPlaneError(
                .algorithmNotPublished,
                "image digest \(image.hex) was published in block \(algorithm.published.blockNumber), not final yet (final head \(final))"
            )
        }
    }

    /// The dataset record, for callers outside the plane's checks (the receipts route filters by provider).
    public static func readDataset(_ reader: any RecordReader, _ id: Hash32) throws(PrivacyPlaneError) -> DatasetRecord?
    {
        try read { () throws in try reader.dataset(id) }
    }

    static func read<T>(_ body: () throws -> T) throws(PrivacyPlaneError) -> T {
        do { return try body() } catch { throw PrivacyPlaneError(.indexUnavailable, "index read failed: \(error)") }
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
