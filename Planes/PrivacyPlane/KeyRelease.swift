public import ChainCore
public import ChainRecords
public import Logging
public import Metrics
import PlaneCrypto
public import PlaneProtocol
import Synchronization

/// What attestation evidence proved about a sandbox, once verified.
public struct AttestedSandbox: Hashable, Sendable {
    public var kind: EvidenceKind
    /// SHA-256 of the evidence as presented (the quote's signed bytes for TDX).
    public var evidenceHash: Hash32
    /// The 64 bytes the sandbox bound into its evidence (see `KeyWrap.reportData`).
    public var reportData: [UInt8]
    /// The allow-list digests its measurements match: sha256(MRTD‖RTMR0‖RTMR1‖RTMR2) and the same with RTMR3,
    /// as AlgorithmRegistry's `MeasurementTrusted` records them.
    public var measurementDigests: [Hash32]
    /// The platform's TCB status (for receipts and logs).
    public var tcbStatus: String

    public init(
        kind: EvidenceKind,
        evidenceHash: Hash32,
        reportData: [UInt8],
        measurementDigests: [Hash32],
        tcbStatus: String
    ) {
        self.kind = kind
        self.evidenceHash = evidenceHash
        self.reportData = reportData
        self.measurementDigests = measurementDigests
        self.tcbStatus = tcbStatus
    }
}

/// Verifies a sandbox's attestation evidence at a time (unix seconds): signatures, collateral and TCB policy.
/// The allow-list and REPORTDATA binding are checked by `KeyRelease` itself.
public protocol EvidenceVerifier: Sendable {
    func verify(_ evidence: [UInt8], now: UInt64) async throws(PrivacyPlaneError) -> AttestedSandbox
}

/// The Privacy Plane's key release: every check, then the wrapped DEK and a signed receipt on disk.
///
/// Order matters: the token (signature, window, Secure Mode), the evidence (quote and TCB, or the development
/// type only when allowed), the measurements on the final on-chain allow-list, the REPORTDATA binding of
/// sandbox key, agent signer, token and image digest, then the rental and the algorithm again (final, at this
/// moment). Only then is the token used: a receipt naming it is appended durably and a key lease granted before
/// the key leaves.
///
/// The key is a lease (`KeyLeases`): the sandbox agent renews it (`renew`) with its signer key, and each
/// renewal re-checks the rental, the dataset, the measurement and the plane's signer on the *latest* index
/// state, pending blocks included, so a revocation is acted on at first sight; a refused or missed renewal ends
/// the lease for good.
public final class KeyRelease: Sendable {
    /// The token, chain and clock decisions (shared with token issuing).
    public let checks: AccessChecks
    public var reader: any RecordReader { checks.reader }
    public var tokens: TokenVerifier { checks.tokens }
    public let evidence: any EvidenceVerifier
    public let receipts: ReceiptLog
    /// Whether the insecure development evidence is accepted (never in production).
    public let allowDevelopmentEvidence: Bool
    private let keys: DatasetKeys
    public var freshness: IndexFreshness? { checks.freshness }
    /// Provider key releases per dataset: at most `perWindow` in `window` seconds, and within a window one
    /// receipt per key version (a repeat gets the key wrapped afresh and the earlier receipt, not a new one).
    public let providerLimits: ProviderLimits
    private let providerWindows = Mutex<[Hash32: ProviderWindow]>([:])
    /// The key leases granted to sandboxes (in memory; a restart loses them: renewals are then refused).
    public let leases: KeyLeases
    let logger: Logger?
    /// Where releases are counted by kind and outcome (`delong_key_releases_total`).
    let metrics: any MetricsFactory

    /// The key versions the plane derives. Nothing on chain says which versions a dataset uses, so the
    /// bound is small and fixed: a caller cannot mint unboundedly many distinct keys per dataset, and each
    /// receipt records the version it released.
    public static let keyVersions: ClosedRange<UInt32> = 1...16

    static func checkKeyVersion(_ version: UInt32) throws(PrivacyPlaneError) {
        guard keyVersions.contains(version) else {
            throw PrivacyPlaneError(
                .badRequest,
                "keyVersion: expected \(keyVersions.lowerBound)…\(keyVersions.upperBound), found \(version)"
            )
        }
    }

    public struct ProviderLimits: Sendable {
        public var perWindow: Int
        public var window: UInt64
        public init(perWindow: Int = 30, window: UInt64 = 3600) {
            self.perWindow = perWindow
            self.window = window
        }
    }

    private struct ProviderWindow {
        var start: UInt64
        var count = 0
        var receipts: [UInt32: SignedReceipt] = [:]
    }

    public init(
        reader: any RecordReader,
        tokens: TokenVerifier,
        evidence: any EvidenceVerifier,
        receipts: ReceiptLog,
        keys: DatasetKeys,
        allowDevelopmentEvidence: Bool = false,
        freshness: IndexFreshness? = nil,
        providerLimits: ProviderLimits = ProviderLimits(),
        leases: KeyLeases? = nil,
        logger: Logger?,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.metrics = metrics
        self.leases = leases ?? KeyLeases.standard()
        self.checks = AccessChecks(reader: reader, tokens: tokens, freshness: freshness)
        self.evidence = evidence
        self.receipts = receipts
        self.keys = keys
        self.allowDevelopmentEvidence = allowDevelopmentEvidence
        self.providerLimits = providerLimits
        self.logger = logger
        // Both kinds' releases from the start, at 0; refusals appear with their first occurrence.
        for kind in ["sandbox", "provider", "sample"] { Self.releases(kind, "released", metrics) }
    }

    /// The plane's "now" for the wall-clock time `wallClock`, once the on-chain signer is still this plane's
    /// and the index is fresh (see `IndexFreshness`); what a caller should verify tokens at.
    public func now(wallClock: UInt64) throws(PrivacyPlaneError) -> UInt64 {
        try checks.now(wallClock: wallClock)
    }

    /// The counter of `kind` releases with `outcome`: `released`, or the refusal's code (a closed set, so
    /// the series stay bounded).
    @discardableResult
    static func releases(_ kind: String, _ outcome: String, _ metrics: any MetricsFactory) -> Counter {
        Counter(
            label: "delong_key_releases_total",
            dimensions: [("kind", kind), ("outcome", outcome)],
            factory: metrics
        )
    }

    /// Releases the dataset key to the sandbox in `request`, at the wall-clock time `wallClock` (unix seconds).
    /// `admission` rate-limits callers by the token's verdict (see `ReleaseAdmission`). Counted by outcome.
    public func release(
        _ request: KeyReleaseRequest,
        now wallClock: UInt64,
        admission: ReleaseAdmission = .unlimited
    ) async throws(PrivacyPlaneError) -> KeyReleaseResponse {
        try await counted("sandbox") { () async throws(PrivacyPlaneError) in
            try await releaseChecked(request, now: wallClock, admission: admission)
        }
    }

    /// `body`'s answer, its outcome counted under `kind` in `delong_key_releases_total`.
    func counted(
        _ kind: String,
        _ body: () async throws(PrivacyPlaneError) -> KeyReleaseResponse
    ) async throws(PrivacyPlaneError) -> KeyReleaseResponse {
        do throws(PrivacyPlaneError) {
            let response = try await body()
            Self.releases(kind, "released", metrics).increment()
            return response
        } catch {
            Self.releases(kind, error.code.rawValue, metrics).increment()
            throw error
        }
    }

    /// The caller's evidence verified at `now`: development evidence only when the plane allows it (then
    /// logged, naming `what` and the token), its measurements on the final allow-list, its REPORTDATA equal to
    /// `reportData` (`binding` names what that binds, for the refusal). Returns the evidence, the final block
    /// it was judged at and the allow-listed measurement.
    func attest(
        _ evidence: [UInt8],
        now: UInt64,
        reportData: [UInt8],
        binding: String,
        what: String,
        dataset: Hash32,
        tokenHash: Hash32
    ) async throws(PrivacyPlaneError) -> (attested: AttestedSandbox, final: UInt64, measurement: Hash32) {
        let attested = try await self.evidence.verify(evidence, now: now)
        if attested.kind == .developmentInsecure {
            guard allowDevelopmentEvidence else {
                throw PrivacyPlaneError(
                    .attestationRefused,
                    "development evidence is insecure and refused; the plane accepts it only when started with --allow-insecure-development-evidence"
                )
            }
            logger?.warning(
                "INSECURE development evidence accepted for \(what)",
                metadata: ["dataset": "\(dataset.hex)", "token": "\(tokenHash.hex)"]
            )
        }
        let final = try checks.finalNumber()
        let measurement = try checks.allowListed(attested.measurementDigests, final: final)
        guard ConstantTime.equals(reportData, attested.reportData) else {
            throw PrivacyPlaneError(.bindingMismatch, "REPORTDATA does not bind \(binding)")
        }
        return (attested, final, measurement)
    }

    private func releaseChecked(
        _ request: KeyReleaseRequest,
        now wallClock: UInt64,
        admission: ReleaseAdmission
    ) async throws(PrivacyPlaneError) -> KeyReleaseResponse {
        let now = try self.now(wallClock: wallClock)
        // The plane's clock came first: a stale index or a rotated signer refuses before any signature work.
        let verified = try checks.verify(request.token, now: now, admission: admission)
        try Self.checkKeyVersion(request.keyVersion)
        let token = verified.token
        let tokenHash = verified.signingHash
        guard token.mode == .secure else {
            throw PrivacyPlaneError(
                .tokenRefused,
                "an explore token never releases a dataset key; a secure token is needed"
            )
        }
        guard request.sandboxKey.count == X25519PrivateKey.length else {
            throw PrivacyPlaneError(
                .badRequest,
                "sandbox key: expected 32 bytes (X25519), found \(request.sandboxKey.count)"
            )
        }
        guard request.agentSigner != .zero else {
            throw PrivacyPlaneError(
                .badRequest,
                "agentSigner: expected the address of the sandbox agent's secp256k1 key, found zero"
            )
        }
        // Cheap before expensive: a used token is refused before its evidence is verified.
        guard !receipts.isUsed(token: tokenHash) else {
            throw PrivacyPlaneError(.tokenAlreadyUsed, "token \(tokenHash.hex) was already used for a key release")
        }

        let (attested, final, measurement) = try await attest(
            request.evidence,
            now: now,
            reportData: KeyWrap.reportData(
                recipientKey: request.sandboxKey,
                agentSigner: request.agentSigner,
                tokenHash: tokenHash,
                imageDigest: token.imageDigest
            ),
            binding:
                "this sandbox key, agent signer, token and image digest (expected SHA-512(\"delong/report-data/v2\" ‖ key ‖ agent signer ‖ token hash ‖ image digest))",
            what: "a key release",
            dataset: token.dataset,
            tokenHash: tokenHash
        )
        let rental = try checks.rental(dataset: token.dataset, consumer: token.consumer, now: now)
        try checks.finalRental(rental, final: final, until: now)
        try checks.algorithm(token.imageDigest, final: final)

        let head = try checks.head()
        let wrapped = try wrap(
            dataset: token.dataset,
            keyVersion: request.keyVersion,
            tokenHash: tokenHash,
            evidenceHash: attested.evidenceHash,
            recipientKey: request.sandboxKey
        )
        try leases.admit(now: now)
        let receipt = try await appendSandboxReceipt(
            token: token,
            tokenHash: tokenHash,
            attested: attested,
            keyVersion: request.keyVersion,
            head: head,
            now: now
        )
        let lease = leases.grant(
            KeyLeases.Grant(
                id: tokenHash,
                agentSigner: request.agentSigner,
                dataset: token.dataset,
                consumer: token.consumer,
                measurement: measurement
            ),
            now: wallClock
        )
        logger?.info(
            "key released",
            metadata: [
                "receipt": "\(receipt.receipt.sequence)", "dataset": "\(token.dataset.hex)",
                "consumer": "\(token.consumer.checksummed)", "evidence": "\(attested.kind)",
                "lease": "\(tokenHash.hex)", "leaseExpiresAt": "\(lease.expiresAt)",
            ]
        )
        return KeyReleaseResponse(wrapped: wrapped, receipt: receipt, lease: lease)
    }

    private func appendSandboxReceipt(
        token: AccessToken,
        tokenHash: Hash32,
        attested: AttestedSandbox,
        keyVersion: UInt32,
        head: IndexHead,
        now: UInt64
    ) async throws(PrivacyPlaneError) -> SignedReceipt {
        try await receipts.append(
            KeyReleaseReceipt(
                kind: .sandbox,
                rental: token.rental,
                dataset: token.dataset,
                recipient: token.consumer,
                blockNumber: head.number,
                blockHash: head.hash,
                token: tokenHash,
                evidence: attested.evidenceHash,
                evidenceKind: attested.kind,
                imageDigest: token.imageDigest,
                jobID: token.jobID,
                keyVersion: keyVersion,
                releasedAt: now
            ),
            tokenNotBefore: token.notBefore,
            tokenExpiry: token.expiry
        )
    }

    /// Renews a key lease at the wall-clock time `wallClock` (unix seconds). In order: the lease is known
    /// (`unknownLease`); the signature recovers the agent signer bound at release (`leaseRefused`); `at` is
    /// within `KeyLeases.maxSkew` of the plane's wall clock (`leaseRefused`); the lease has not ended
    /// (`leaseExpired`, `leaseRevoked`); then the revocation checks on the latest index state, pending records
    /// included (`leaseRevoked`, which ends the lease for good). Returns the extended lease.
    public func renew(_ renewal: LeaseRenewal, now wallClock: UInt64) throws(PrivacyPlaneError) -> KeyLease {
        var reason = KeyLeases.RefusalReason.unknown
        do throws(PrivacyPlaneError) {
            let lease = try renewChecked(renewal, wallClock: wallClock, reason: &reason)
            leases.count(nil)
            return lease
        } catch {
            leases.count(reason)
            // Unknown ids cost nothing to send: logged at debug only, so they cannot flood the log.
            logger?.log(
                level: reason == .unknown ? .debug : .warning,
                "lease renewal refused",
                metadata: ["lease": "\(renewal.lease.hex)", "reason": "\(reason.rawValue)", "why": "\(error.reason)"]
            )
            throw error
        }
    }

    /// The checks of `renew`; `reason` is what a refusal counts as.
    private func renewChecked(
        _ renewal: LeaseRenewal,
        wallClock: UInt64,
        reason: inout KeyLeases.RefusalReason
    ) throws(PrivacyPlaneError) -> KeyLease {
        let id = renewal.lease
        reason = .unknown
        let grant = try leases.granted(id)
        reason = .signature
        let signer: Address
        do { signer = try renewal.signer() } catch {
            throw PrivacyPlaneError(.leaseRefused, "lease \(id.hex): the renewal's signature does not recover")
        }
        guard signer == grant.agentSigner else {
            throw PrivacyPlaneError(
                .leaseRefused,
                "lease \(id.hex): the renewal is signed by \(signer.checksummed), not the agent signer bound at release \(grant.agentSigner.checksummed)"
            )
        }
        // Leases run on the wall clock, which the agent's `at` is read from too: the plane's decision clock
        // (`now(wallClock:)`, never below the head block's time) can run ahead of it, e.g. on a devnet that
        // mined a burst of blocks one second apart, and would stretch a lease or refuse fresh renewals.
        let now = wallClock
        reason = .stale
        let skew = renewal.at > now ? renewal.at - now : now - renewal.at
        guard skew <= KeyLeases.maxSkew else {
            throw PrivacyPlaneError(
                .leaseRefused,
                "lease \(id.hex): stale renewal time \(renewal.at), \(skew) s from the plane's clock \(now) (at most \(KeyLeases.maxSkew) s)"
            )
        }
        reason = .expired
        do { _ = try leases.live(id, now: now) } catch {
            if error.code == .leaseRevoked { reason = .revoked }
            throw error
        }
        reason = .revoked
        if let why = revocation(of: grant, wallClock: wallClock) {
            leases.revoke(id, reason: why, now: now)
            logger?.warning(
                "lease revoked",
                metadata: ["lease": "\(id.hex)", "dataset": "\(grant.dataset.hex)", "why": "\(why)"]
            )
            throw PrivacyPlaneError(.leaseRevoked, "lease \(id.hex) revoked: \(why)")
        }
        return try leases.extend(id, now: now)
    }

    /// What, in the latest index state (pending blocks included), ends a lease granted on `grant`; nil when
    /// nothing does.
    func revocation(of grant: KeyLeases.Grant, wallClock: UInt64) -> String? {
        do throws(PrivacyPlaneError) {
            // The plane's signer still this key, and the index fresh (or the plane can no longer judge).
            let now = try checks.now(wallClock: wallClock)
            let final = try checks.finalNumber()
            func when(_ block: UInt64) -> String {
                block <= final ? "block \(block) (final)" : "block \(block) (pending, final head \(final))"
            }
            guard let dataset = try checks.dataset(grant.dataset) else {
                return "the dataset \(grant.dataset.hex) is no longer in the index (a reorg removed it)"
            }
            if dataset.retired {
                return "the dataset \(grant.dataset.hex) was retired in \(when(dataset.updated.blockNumber))"
            }
            let consumer = grant.consumer
            guard
                let rental = try AccessChecks.read({ () throws in
                    try reader.rental(dataset: grant.dataset, consumer: consumer)
                })
            else { return "the rental of \(grant.dataset.hex) is no longer in the index (a reorg removed it)" }
            if rental.status != .active {
                return "the rental was revoked in \(when(rental.updated.blockNumber))"
            }
            if rental.expiresAt <= now {
                return "the rental expired at \(rental.expiresAt) (now \(now))"
            }
            let digest = grant.measurement
            guard let m = try AccessChecks.read({ () throws in try reader.measurement(digest) }) else {
                return "measurement \(digest.hex) is no longer in the index (a reorg removed it)"
            }
            if !m.trusted {
                return "measurement \(digest.hex) was revoked in \(when(m.updated.blockNumber))"
            }
            return nil
        } catch {
            return error.reason
        }
    }

    /// The DEK for the dataset's registered provider (from a final block), wrapped to `recipientKey`. Counted
    /// by outcome.
    public func providerKey(
        for provider: Address,
        dataset: Hash32,
        keyVersion: UInt32,
        recipientKey: [UInt8],
        now wallClock: UInt64
    ) async throws(PrivacyPlaneError) -> KeyReleaseResponse {
        try await counted("provider") { () async throws(PrivacyPlaneError) in
            try await providerKeyChecked(
                for: provider,
                dataset: dataset,
                keyVersion: keyVersion,
                recipientKey: recipientKey,
                now: wallClock
            )
        }
    }

    private func providerKeyChecked(
        for provider: Address,
        dataset: Hash32,
        keyVersion: UInt32,
        recipientKey: [UInt8],
        now wallClock: UInt64
    ) async throws(PrivacyPlaneError) -> KeyReleaseResponse {
        let now = try self.now(wallClock: wallClock)
        try Self.checkKeyVersion(keyVersion)
        guard let record = try checks.dataset(dataset) else {
            throw PrivacyPlaneError(.unknownDataset, "dataset \(dataset.hex) is not registered on chain")
        }
        guard record.provider == provider else {
            throw PrivacyPlaneError(
                .forbidden,
                "dataset \(dataset.hex) belongs to \(record.provider.checksummed), not \(provider.checksummed)"
            )
        }
        let final = try checks.finalNumber()
        guard record.registered.blockNumber <= final else {
            throw PrivacyPlaneError(
                .unknownDataset,
                "dataset \(dataset.hex) was registered in block \(record.registered.blockNumber), not final yet (final head \(final))"
            )
        }
        guard recipientKey.count == X25519PrivateKey.length else {
            throw PrivacyPlaneError(
                .badRequest,
                "recipient key: expected 32 bytes (X25519), found \(recipientKey.count)"
            )
        }
        let limits = providerLimits
        let earlier = try providerWindows.withLock {
            (table: inout [Hash32: ProviderWindow]) throws(PrivacyPlaneError) -> SignedReceipt? in
            if table.count > 4096 { table = table.filter { now < $0.value.start + limits.window } }
            var w = table[dataset] ?? ProviderWindow(start: now)
            if now >= w.start + limits.window || now < w.start { w = ProviderWindow(start: now) }
            guard w.count < limits.perWindow else {
                throw PrivacyPlaneError(
                    .rateLimited,
                    "dataset \(dataset.hex) had \(limits.perWindow) provider key releases in the last \(limits.window) s; retry after \(w.start + limits.window)"
                )
            }
            w.count += 1
            table[dataset] = w
            return w.receipts[keyVersion].flatMap { $0.receipt.recipient == provider ? $0 : nil }
        }
        let head = try checks.head()
        let wrapped = try wrap(
            dataset: dataset,
            keyVersion: keyVersion,
            tokenHash: .zero,
            evidenceHash: .zero,
            recipientKey: recipientKey,
            provider: true
        )
        if let earlier {
            // The provider already holds this key version, and a receipt says so: not logged again.
            logger?.info(
                "provider key released again (recorded by receipt \(earlier.receipt.sequence))",
                metadata: ["dataset": "\(dataset.hex)"]
            )
            return KeyReleaseResponse(wrapped: wrapped, receipt: earlier)
        }
        let receipt = try await receipts.append(
            KeyReleaseReceipt(
                kind: .provider,
                rental: .zero,
                dataset: dataset,
                recipient: provider,
                blockNumber: head.number,
                blockHash: head.hash,
                token: .zero,
                evidence: .zero,
                evidenceKind: .none,
                imageDigest: .zero,
                jobID: .zero,
                keyVersion: keyVersion,
                releasedAt: now
            )
        )
        providerWindows.withLock { table in
            if table[dataset]?.start ?? .max <= now { table[dataset]?.receipts[keyVersion] = receipt }
        }
        logger?.info(
            "provider key released",
            metadata: ["receipt": "\(receipt.receipt.sequence)", "dataset": "\(dataset.hex)"]
        )
        return KeyReleaseResponse(wrapped: wrapped, receipt: receipt)
    }

    func wrap(
        dataset: Hash32,
        keyVersion: UInt32,
        tokenHash: Hash32,
        evidenceHash: Hash32,
        recipientKey: [UInt8],
        provider: Bool = false
    ) throws(PrivacyPlaneError) -> KeyWrap.Wrapped {
        do {
            let dek =
                provider
                ? try keys.providerDEK(datasetID: dataset, keyVersion: keyVersion)
                : try keys.dek(datasetID: dataset, keyVersion: keyVersion)
            return try KeyWrap.wrap(
                dek,
                chainID: keys.deployment.chainID,
                dataset: dataset,
                keyVersion: keyVersion,
                tokenHash: tokenHash,
                evidenceHash: evidenceHash,
                recipientKey: recipientKey
            )
        } catch let error as PlaneCryptoError where error.code == .invalidKey {
            throw PrivacyPlaneError(.badRequest, error.reason)
        } catch {
            throw PrivacyPlaneError(.keyUnavailable, "key wrap failed: \(error)")
        }
    }
}
