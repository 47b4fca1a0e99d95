import ChainCore
import ChainRecords
import Logging
import PlaneCrypto
public import PlaneProtocol

extension KeyRelease {
    /// Releases a sealed sample's key to a Computing Plane that holds a consumer's explore token for the
    /// parent dataset (docs/privacy-plane.md, "Sample keys"), at the wall-clock time `wallClock`.
    ///
    /// In order: the plane's clock; the token (signature, window), an explore token (a secure token never gets
    /// a sample key here), a sample that is not the parent itself (an explore token never gets the parent's
    /// key); the token not used before; the evidence, its measurements on the final allow-list and its
    /// REPORTDATA binding the recipient key, the token and the sample dataset (`KeyWrap.sampleReportData`); the
    /// token's audience an authorized operator (final); the consumer's rental of the parent active and final;
    /// the parent's on-chain `sampleLocator`, in a final block, naming exactly this sample dataset; the sample
    /// dataset registered (final), not retired, by the parent's provider. Then a `sample` receipt naming the
    /// token is appended (so a token releases one key) and the sample dataset's key leaves, wrapped. No lease:
    /// the key opens one archive.
    public func releaseSample(
        _ request: SampleKeyRequest,
        now wallClock: UInt64,
        admission: ReleaseAdmission = .unlimited
    ) async throws(PrivacyPlaneError) -> KeyReleaseResponse {
        try await counted("sample") { () async throws(PrivacyPlaneError) in
            try await releaseSampleChecked(request, now: wallClock, admission: admission)
        }
    }

    private func releaseSampleChecked(
        _ request: SampleKeyRequest,
        now wallClock: UInt64,
        admission: ReleaseAdmission
    ) async throws(PrivacyPlaneError) -> KeyReleaseResponse {
        let now = try self.now(wallClock: wallClock)
        let verified = try checks.verify(request.token, now: now, admission: admission)
        try Self.checkKeyVersion(request.keyVersion)
        let token = verified.token
        let tokenHash = verified.signingHash
        guard token.mode == .explore else {
            throw PrivacyPlaneError(
                .tokenRefused,
                "a \(token.mode.name) token never releases a sample key; an explore token is needed"
            )
        }
        guard request.sample != token.dataset else {
            throw PrivacyPlaneError(
                .forbidden,
                "the sample key of \(token.dataset.hex) is asked for under its own id: an explore token never releases a dataset's own key"
            )
        }
        guard request.recipientKey.count == X25519PrivateKey.length else {
            throw PrivacyPlaneError(
                .badRequest,
                "recipient key: expected 32 bytes (X25519), found \(request.recipientKey.count)"
            )
        }
        guard !receipts.isUsed(token: tokenHash) else {
            throw PrivacyPlaneError(.tokenAlreadyUsed, "token \(tokenHash.hex) was already used for a key release")
        }

        let (attested, final, _) = try await attest(
            request.evidence,
            now: now,
            reportData: KeyWrap.sampleReportData(
                recipientKey: request.recipientKey,
                tokenHash: tokenHash,
                sampleDataset: request.sample
            ),
            binding:
                "this recipient key, token and sample dataset (expected SHA-512(\"delong/report-data/sample/v1\" ‖ key ‖ token hash ‖ sample dataset))",
            what: "a sample key",
            dataset: token.dataset,
            tokenHash: tokenHash
        )
        try checks.audience(token.audience, final: final)
        let rental = try checks.rental(dataset: token.dataset, consumer: token.consumer, now: now)
        try checks.finalRental(rental, final: final, until: now)
        try sampleOf(parent: token.dataset, is: request.sample, final: final)

        let head = try checks.head()
        let wrapped = try wrap(
            dataset: request.sample,
            keyVersion: request.keyVersion,
            tokenHash: tokenHash,
            evidenceHash: attested.evidenceHash,
            recipientKey: request.recipientKey
        )
        let receipt = try await receipts.append(
            KeyReleaseReceipt(
                kind: .sample,
                rental: token.rental,
                dataset: request.sample,
                recipient: token.consumer,
                blockNumber: head.number,
                blockHash: head.hash,
                token: tokenHash,
                evidence: attested.evidenceHash,
                evidenceKind: attested.kind,
                imageDigest: .zero,
                jobID: .zero,
                keyVersion: request.keyVersion,
                releasedAt: now
            ),
            tokenNotBefore: token.notBefore,
            tokenExpiry: token.expiry
        )
        logger?.info(
            "sample key released",
            metadata: [
                "receipt": "\(receipt.receipt.sequence)", "dataset": "\(token.dataset.hex)",
                "sample": "\(request.sample.hex)", "consumer": "\(token.consumer.checksummed)",
                "evidence": "\(attested.kind)",
            ]
        )
        return KeyReleaseResponse(wrapped: wrapped, receipt: receipt)
    }

    /// The parent's sample locator, in a final block, names `sample` as the dataset it is sealed under, and
    /// `sample` is a registered (final), live dataset of the parent's provider.
    func sampleOf(parent: Hash32, is sample: Hash32, final: UInt64) throws(PrivacyPlaneError) {
        guard let record = try checks.dataset(parent) else {
            throw PrivacyPlaneError(.unknownDataset, "dataset \(parent.hex) is not registered on chain")
        }
        let locator: SampleLocator
        do { locator = try SampleLocator.parse(record.sampleLocatorText.bytes) } catch {
            throw PrivacyPlaneError(
                .forbidden,
                "dataset \(parent.hex) names no sealed sample: \(error.reason)"
            )
        }
        guard locator.sealedUnder == sample else {
            throw PrivacyPlaneError(
                .forbidden,
                "dataset \(parent.hex)'s sample locator names \(locator.sealedUnder.map { "the sample dataset \($0.hex)" } ?? "a plain sample"), not \(sample.hex)"
            )
        }
        guard record.updated.blockNumber <= final else {
            throw PrivacyPlaneError(
                .forbidden,
                "dataset \(parent.hex)'s sample locator was set in block \(record.updated.blockNumber), not final yet (final head \(final))"
            )
        }
        guard let sampleRecord = try checks.dataset(sample), !sampleRecord.retired else {
            throw PrivacyPlaneError(.unknownDataset, "the sample dataset \(sample.hex) is not registered or is retired")
        }
        guard sampleRecord.registered.blockNumber <= final else {
            throw PrivacyPlaneError(
                .unknownDataset,
                "the sample dataset \(sample.hex) was registered in block \(sampleRecord.registered.blockNumber), not final yet (final head \(final))"
            )
        }
        guard sampleRecord.provider == record.provider else {
            throw PrivacyPlaneError(
                .forbidden,
                "the sample dataset \(sample.hex) belongs to \(sampleRecord.provider.checksummed), not to \(parent.hex)'s provider \(record.provider.checksummed)"
            )
        }
    }
}
