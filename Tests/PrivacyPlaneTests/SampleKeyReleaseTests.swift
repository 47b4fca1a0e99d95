import ChainCore
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Synchronization
import TestSupport
import Testing

/// A sealed sample's key (docs/privacy-plane.md, "Sample keys"): released to an attested Computing Plane on an
/// explore token for the parent dataset, only when the parent's final on-chain sample locator names exactly that
/// sample dataset and both datasets have one provider; never on a secure token, never the parent's own key.
@Suite struct SampleKeyReleaseTests {
    static let sample = Keccak256.hash(utf8: "admissions sample")
    static let strangerSample = Keccak256.hash(utf8: "another provider's dataset")
    static let otherParent = Keccak256.hash(utf8: "another dataset")
    static let stranger = try! Address(hex: "0x90F79bf6EB2c4f870365E785982E1f101E93b906")
    static let sealedDigest = BundleDigest.of(Array("the sealed sample".utf8))

    let base: KeyReleaseTests
    var index: InMemoryRecords { base.index }

    init() throws {
        base = try KeyReleaseTests()
        let parent = KeyReleaseTests.dataset
        base.index.content.withLock { c in
            func dataset(_ id: Hash32, provider: Address, locator: String) -> DatasetRecord {
                DatasetRecord(
                    id: id,
                    provider: provider,
                    manifestDigest: Keccak256.hash(utf8: "manifest \(id.hex)"),
                    pricePerSecond: U256(1),
                    sampleLocator: ChainText(locator),
                    metadataURI: "ipfs://meta",
                    retired: false,
                    registered: InMemoryRecords.origin(12),
                    updated: InMemoryRecords.origin(12)
                )
            }
            c.datasets[parent]?.sampleLocatorText = ChainText(Self.locator(Self.sample))
            c.datasets[Self.sample] = dataset(Self.sample, provider: KeyReleaseTests.provider, locator: "")
            c.datasets[Self.strangerSample] = dataset(Self.strangerSample, provider: Self.stranger, locator: "")
            // Another dataset the consumer rents, whose locator names no sealed sample.
            c.datasets[Self.otherParent] = dataset(
                Self.otherParent,
                provider: KeyReleaseTests.provider,
                locator: SampleLocator(digest: Self.sealedDigest).description
            )
            c.rentals[DeLongEvent.RentalKey(datasetID: Self.otherParent, consumer: KeyReleaseTests.consumer)] =
                c.rentals[KeyReleaseTests.rentalKey].map {
                    var r = $0
                    r.datasetID = Self.otherParent
                    return r
                }
        }
    }

    static func locator(_ sample: Hash32) -> String {
        SampleLocator(digest: sealedDigest, sealedUnder: sample).description
    }

    func token(_ mode: AccessToken.Mode, dataset: Hash32 = KeyReleaseTests.dataset) throws -> SignedAccessToken {
        try base.issuer().issue(
            for: KeyReleaseTests.consumer,
            TokenRequest(
                dataset: dataset,
                mode: mode,
                imageDigest: mode == .secure ? KeyReleaseTests.image : .zero,
                jobID: mode == .secure ? KeyReleaseTests.job : .zero,
                audience: KeyReleaseTests.computingOperator
            ),
            now: KeyReleaseTests.now
        )
    }

    /// A request whose evidence binds the plane's key, the token and the sample, as the Computing Plane's does.
    func request(
        _ token: SignedAccessToken,
        sample: Hash32 = sample,
        recipient: X25519PrivateKey,
        measurement: Hash32 = KeyReleaseTests.measurement
    ) throws -> SampleKeyRequest {
        let reportData = KeyWrap.sampleReportData(
            recipientKey: recipient.publicKey,
            tokenHash: try token.token.signingHash(KeyReleaseTests.domain),
            sampleDataset: sample
        )
        return SampleKeyRequest(
            token: token,
            sample: sample,
            evidence: FaceValueEvidence.make(reportData: reportData, measurement: measurement),
            recipientKey: recipient.publicKey
        )
    }

    @Test func anExploreTokenGetsTheSampleKeyOnceWithASampleReceipt() async throws {
        let plane = try base.release()
        let recipient = try X25519PrivateKey()
        let token = try token(.explore)
        let response = try await plane.releaseSample(
            try request(token, recipient: recipient),
            now: KeyReleaseTests.now + 1
        )
        let opened = try #require(try KeyWrap.unwrap(response.wrapped, recipient: recipient, chainID: 31337))
        #expect(opened.constantTimeEquals(try base.keys.dek(datasetID: Self.sample, keyVersion: 1)))
        #expect(!opened.constantTimeEquals(try base.keys.dek(datasetID: KeyReleaseTests.dataset, keyVersion: 1)))
        let receipt = response.receipt.receipt
        #expect(receipt.kind == .sample && receipt.dataset == Self.sample && receipt.recipient == token.token.consumer)
        #expect(receipt.token == (try token.token.signingHash(KeyReleaseTests.domain)))
        #expect(receipt.rental == token.token.rental && receipt.jobID == .zero)
        #expect(response.lease == .none)
        // One key per token: the receipt spends it, for this path and for every other.
        await base.expectRefusal(.tokenAlreadyUsed) {
            _ = try await plane.releaseSample(
                try request(token, recipient: X25519PrivateKey()),
                now: KeyReleaseTests.now
            )
        }
    }

    /// The brief's refusals, each on its own with everything else valid.
    @Test func everySampleCheckRefusesOnItsOwn() async throws {
        let plane = try base.release()
        let now = KeyReleaseTests.now + 1
        // A secure token never gets a sample key.
        await base.expectRefusal(.tokenRefused) {
            _ = try await plane.releaseSample(try request(try token(.secure), recipient: X25519PrivateKey()), now: now)
        }
        // An explore token never gets the parent's own key, on either path.
        await base.expectRefusal(.forbidden) {
            _ = try await plane.releaseSample(
                try request(try token(.explore), sample: KeyReleaseTests.dataset, recipient: X25519PrivateKey()),
                now: now
            )
        }
        await base.expectRefusal(.tokenRefused) {
            _ = try await plane.release(
                try base.request(try token(.explore), sandbox: X25519PrivateKey()),
                now: now
            )
        }
        // An explore token for another dataset: that dataset's locator names no sealed sample.
        await base.expectRefusal(.forbidden) {
            _ = try await plane.releaseSample(
                try request(try token(.explore, dataset: Self.otherParent), recipient: X25519PrivateKey()),
                now: now
            )
        }
        // The locator names another sample than the one asked for.
        await base.expectRefusal(.forbidden) {
            _ = try await plane.releaseSample(
                try request(try token(.explore), sample: Self.strangerSample, recipient: X25519PrivateKey()),
                now: now
            )
        }
        // Evidence that binds another sample dataset, or sandbox-style evidence, or an untrusted measurement.
        let recipient = try X25519PrivateKey()
        var rebound = try request(try token(.explore), recipient: recipient)
        let otherBinding = KeyWrap.sampleReportData(
            recipientKey: recipient.publicKey,
            tokenHash: try rebound.token.token.signingHash(KeyReleaseTests.domain),
            sampleDataset: Self.strangerSample
        )
        rebound.evidence = FaceValueEvidence.make(reportData: otherBinding, measurement: KeyReleaseTests.measurement)
        await base.expectRefusal(.bindingMismatch) { _ = try await plane.releaseSample(rebound, now: now) }
        let untrusted = try request(
            try token(.explore),
            recipient: X25519PrivateKey(),
            measurement: Keccak256.hash(utf8: "untrusted")
        )
        await base.expectRefusal(.attestationRefused) { _ = try await plane.releaseSample(untrusted, now: now) }

        // The parent's locator names a dataset of another provider.
        index.content.withLock {
            $0.datasets[KeyReleaseTests.dataset]?.sampleLocatorText = ChainText(Self.locator(Self.strangerSample))
        }
        do {
            _ = try await plane.releaseSample(
                try request(try token(.explore), sample: Self.strangerSample, recipient: X25519PrivateKey()),
                now: now
            )
            Issue.record("a sample of another provider got its key")
        } catch let error as PrivacyPlaneError {
            #expect(error.code == .forbidden && error.reason.contains("belongs to"), "\(error)")
        }
        // A locator update that is not final yet, a pending or revoked rental, a retired sample.
        for edit in ["pending locator", "pending rental", "revoked", "retired sample", "pending sample"] {
            index.content.withLock { c in
                c.datasets[KeyReleaseTests.dataset]?.sampleLocatorText = ChainText(Self.locator(Self.sample))
                c.datasets[KeyReleaseTests.dataset]?.updated = InMemoryRecords.origin(10)
                c.rentals[KeyReleaseTests.rentalKey]?.updated = InMemoryRecords.origin(20)
                c.rentals[KeyReleaseTests.rentalKey]?.status = .active
                c.datasets[Self.sample]?.retired = false
                c.datasets[Self.sample]?.registered = InMemoryRecords.origin(12)
            }
            let t = try token(.explore)
            index.content.withLock { c in
                switch edit {
                case "pending locator": c.datasets[KeyReleaseTests.dataset]?.updated = InMemoryRecords.origin(99)
                case "pending rental": c.rentals[KeyReleaseTests.rentalKey]?.updated = InMemoryRecords.origin(99)
                case "revoked": c.rentals[KeyReleaseTests.rentalKey]?.status = .revoked
                case "retired sample": c.datasets[Self.sample]?.retired = true
                default: c.datasets[Self.sample]?.registered = InMemoryRecords.origin(99)
                }
            }
            do {
                _ = try await plane.releaseSample(try request(t, recipient: X25519PrivateKey()), now: now)
                Issue.record("\(edit): the sample key was released")
            } catch {
                #expect(error is PrivacyPlaneError, "\(edit): \(error)")
            }
        }
        // With every edit undone, the same kind of request succeeds: the refusals above were the edits'.
        index.content.withLock { c in
            c.datasets[Self.sample]?.registered = InMemoryRecords.origin(12)
        }
        #expect(plane.receipts.count == 0, "no refusal left a receipt")
        _ = try await plane.releaseSample(try request(try token(.explore), recipient: X25519PrivateKey()), now: now)
        #expect(plane.receipts.count == 1)
    }

    /// The token's audience must be an authorized operator, as for sessions.
    @Test func anExploreTokenForADeauthorizedPlaneGetsNoSampleKey() async throws {
        let plane = try base.release()
        let token = try token(.explore)
        index.content.withLock { $0.operators[KeyReleaseTests.computingOperator]?.authorized = false }
        await base.expectRefusal(.audienceRefused) {
            _ = try await plane.releaseSample(
                try request(token, recipient: X25519PrivateKey()),
                now: KeyReleaseTests.now
            )
        }
    }
}
