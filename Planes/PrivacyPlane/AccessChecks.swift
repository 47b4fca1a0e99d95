public import ChainCore
public import ChainRecords
public import PlaneProtocol

/// Who may ask again: the rate limits a caller (the HTTP routes) puts on key release. The plane asks at the
/// two points where the answer is known: a token that fails verification (a forgery costs one ecrecover, so
/// it counts against a limit of anonymous callers), and a token that verifies (counted against its consumer,
/// so nobody can spend another account's allowance with forged tokens). A `false` refuses with
/// `rateLimited`.
public struct ReleaseAdmission: Sendable {
    public var forged: @Sendable () -> Bool
    public var consumer: @Sendable (Address) -> Bool

    public init(forged: @escaping @Sendable () -> Bool, consumer: @escaping @Sendable (Address) -> Bool) {
        self.forged = forged
        self.consumer = consumer
    }

    /// No limits (library callers, tests, benchmarks).
    public static let unlimited = ReleaseAdmission(forged: { true }, consumer: { _ in true })
}

/// Every decision token issuing and key release make against the verified index and the plane's clock, in
/// one place: the signer and freshness gate, the token, the rental, the algorithm and the measurement
/// allow-list. `TokenIssuer` and `KeyRelease` call these and decide nothing of their own about the chain.
public struct AccessChecks: Sendable {
    public let reader: any RecordReader
    /// The token domain and the plane's signer address.
    public let tokens: TokenVerifier
    /// The index's freshness bounds and the plane's clock; nil checks neither (unit tests of other checks,
    /// benchmarks). `privacy serve` always sets it.
    public let freshness: IndexFreshness?

    public init(reader: any RecordReader, tokens: TokenVerifier, freshness: IndexFreshness?) {
        self.reader = reader
        self.tokens = tokens
        self.freshness = freshness
    }

    /// The plane's signer address (what AlgorithmRegistry's privacy signer must be).
    public var signer: Address { tokens.signer }

    /// What every token and key release checks first: the on-chain privacy signer is still `signer` (a
    /// rotation stops the old key at once, even before the rotating block is final), and the index is fresh.
    /// Returns the plane's "now" for `wallClock` (the wall clock itself when `freshness` is nil).
    public func now(wallClock: UInt64) throws(PrivacyPlaneError) -> UInt64 {
        if let named = try Self.read({ () throws in try reader.privacySigner() }), named.address != signer {
            throw PrivacyPlaneError(
                .signerMismatch,
                "AlgorithmRegistry's privacy signer is now \(named.address.checksummed) (block \(named.updated.blockNumber)), not this plane's key \(signer.checksummed); the plane no longer signs or releases"
            )
        }
        guard let freshness else { return wallClock }
        return try freshness.now(reader, wallClock: wallClock)
    }

    /// The token's signature (the plane's key) and validity window at `now`, then its consumer's admission.
    public func verify(
        _ token: SignedAccessToken,
        now: UInt64,
        admission: ReleaseAdmission = .unlimited
    ) throws(PrivacyPlaneError) -> VerifiedAccessToken {
        switch tokens.verify(token, now: now) {
        case .rejected(let why):
            guard admission.forged() else { throw Self.rateLimited }
            throw PrivacyPlaneError(.tokenRefused, why.description)
        case .verified(let verified):
            guard admission.consumer(verified.token.consumer) else { throw Self.rateLimited }
            return verified
        }
    }

    static let rateLimited = PrivacyPlaneError(.rateLimited, "too many requests; retry later")

    /// The rental of (dataset, consumer), active at `now`, on a dataset that is registered and not retired.
    public func rental(dataset: Hash32, consumer: Address, now: UInt64) throws(PrivacyPlaneError) -> RentalRecord {
        guard let record = try self.dataset(dataset) else {
            throw PrivacyPlaneError(.unknownDataset, "dataset \(dataset.hex) is not registered on chain")
        }
        guard !record.retired else { throw PrivacyPlaneError(.unknownDataset, "dataset \(dataset.hex) is retired") }
        guard let rental = try Self.read({ () throws in try reader.rental(dataset: dataset, consumer: consumer) })
        else {
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
    public func finalRental(_ rental: RentalRecord, final: UInt64, until: UInt64) throws(PrivacyPlaneError) {
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
    public func algorithm(_ image: Hash32, final: UInt64) throws(PrivacyPlaneError) {
        guard let algorithm = try Self.read({ () throws in try reader.algorithm(image) }) else {
            throw PrivacyPlaneError(.algorithmNotPublished, "image digest \(image.hex) is not published on chain")
        }
        guard algorithm.published.blockNumber <= final else {
            throw PrivacyPlaneError(
                .algorithmNotPublished,
                "image digest \(image.hex) was published in block \(algorithm.published.blockNumber), not final yet (final head \(final))"
            )
        }
        // Anyone may publish any pair: a record whose runtime and bundle do not make its image names nothing.
        do {
            _ = try DALocator.check(
                imageDigest: image,
                bundleDigest: algorithm.bundleDigest,
                locator: algorithm.daLocatorText.bytes
            )
        } catch {
            throw PrivacyPlaneError(
                .algorithmNotPublished,
                "image digest \(image.hex): the published record is inconsistent: \(error.reason)"
            )
        }
    }

    /// A token's audience: a Computing Plane operator authorized on chain, in a final block.
    public func audience(_ address: Address, final: UInt64) throws(PrivacyPlaneError) {
        guard let record = try Self.read({ () throws in try reader.operator(address) }) else {
            throw PrivacyPlaneError(
                .audienceRefused,
                "audience \(address.checksummed) is not a Computing Plane operator in AlgorithmRegistry"
            )
        }
        guard record.authorized else {
            throw PrivacyPlaneError(
                .audienceRefused,
                "audience \(address.checksummed) is no longer an authorized Computing Plane operator (deauthorized in block \(record.updated.blockNumber))"
            )
        }
        guard record.updated.blockNumber <= final else {
            throw PrivacyPlaneError(
                .audienceRefused,
                "audience \(address.checksummed) was authorized in block \(record.updated.blockNumber), not final yet (final head \(final))"
            )
        }
    }

    /// One of `digests` (a sandbox's measurement digests) is trusted on chain, in a final block; returns it.
    @discardableResult
    public func allowListed(_ digests: [Hash32], final: UInt64) throws(PrivacyPlaneError) -> Hash32 {
        for digest in digests {
            guard let m = try Self.read({ () throws in try reader.measurement(digest) }) else { continue }
            if m.trusted && m.updated.blockNumber <= final { return digest }
        }
        throw PrivacyPlaneError(
            .attestationRefused,
            "measurements \(digests.map(\.hex).joined(separator: ", ")) are not on the final on-chain allow-list"
        )
    }

    /// The dataset record (nil when not registered).
    public func dataset(_ id: Hash32) throws(PrivacyPlaneError) -> DatasetRecord? {
        try Self.read { () throws in try reader.dataset(id) }
    }

    /// The highest final block number of the index.
    public func finalNumber() throws(PrivacyPlaneError) -> UInt64 {
        try Self.read { () throws in try reader.finalNumber() }
    }

    /// The index head a decision is made at (what receipts name).
    public func head() throws(PrivacyPlaneError) -> IndexHead {
        try Self.read { () throws in try reader.head() }
    }

    static func read<T>(_ body: () throws -> T) throws(PrivacyPlaneError) -> T {
        do { return try body() } catch { throw PrivacyPlaneError(.indexUnavailable, "index read failed: \(error)") }
    }
}
