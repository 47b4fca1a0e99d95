import ChainCore
import ChainRecords
import Foundation
import MetricsTestKit
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Synchronization
import Testing

/// Key leases: a release grants one, the agent signer renews it, and the first sight of a revocation in the
/// index (pending or final) ends it for good; so does a missed renewal. Token audiences are checked at issue.
@Suite struct KeyLeaseTests {
    let base: KeyReleaseTests
    /// What the plane records through swift-metrics.
    let metrics = TestMetrics()
    var index: InMemoryRecords { base.index }
    static let now = KeyReleaseTests.now

    init() throws { base = try KeyReleaseTests() }

    /// A plane with `seconds`-long leases and a released key: the plane and the lease.
    func released(seconds: UInt64 = 30, freshness: IndexFreshness? = nil) async throws -> (KeyRelease, KeyLease) {
        let issuer = try base.issuer()
        let plane = KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: KeyReleaseTests.domain, signer: issuer.signer),
            evidence: FaceValueEvidence(),
            receipts: try base.receiptLog(),
            keys: base.keys,
            freshness: freshness,
            leases: try KeyLeases(seconds: seconds, metrics: metrics),
            logger: nil,
            metrics: metrics
        )
        let token = try base.secureToken()
        let response = try await plane.release(
            try base.request(token, sandbox: X25519PrivateKey()),
            now: Self.now
        )
        #expect(response.lease.id == (try token.token.signingHash(KeyReleaseTests.domain)))
        return (plane, response.lease)
    }

    func renewal(_ lease: KeyLease, at: UInt64, key: [UInt8] = KeyReleaseTests.agentKey) throws -> LeaseRenewal {
        try LeaseRenewal(signing: lease.id, at: at, privateKey: key)
    }

    func expectRenewalRefused(
        _ plane: KeyRelease,
        _ lease: KeyLease,
        at: UInt64,
        _ code: PrivacyPlaneError.Code,
        naming: String,
        key: [UInt8] = KeyReleaseTests.agentKey,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        do {
            _ = try plane.renew(try renewal(lease, at: at, key: key), now: at)
            Issue.record("expected \(code), but the renewal succeeded", sourceLocation: sourceLocation)
        } catch let error as PrivacyPlaneError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.reason.contains(naming), "\(error.reason)", sourceLocation: sourceLocation)
        } catch { Issue.record("expected \(code), found \(error)", sourceLocation: sourceLocation) }
    }

    @Test func aReleaseGrantsALeaseThatRenewalsExtend() async throws {
        let (plane, lease) = try await released(seconds: 30)
        #expect(lease.expiresAt == Self.now + 30 && lease.renewEvery == 10)
        let renewed = try plane.renew(try renewal(lease, at: Self.now + 10), now: Self.now + 10)
        #expect(renewed == KeyLease(id: lease.id, expiresAt: Self.now + 40, renewEvery: 10))
        // Renewed before its new end, again and again: the lease outlives its first 30 s.
        let later = try plane.renew(try renewal(lease, at: Self.now + 35), now: Self.now + 35)
        #expect(later.expiresAt == Self.now + 65)
        #expect(plane.leases.active(now: Self.now + 35) == 1 && plane.leases.renewed == 2)
        plane.leases.recordGauges(now: Self.now + 35)
        #expect(try metrics.expectMeter("delong_leases_active").lastValue == 1)
        #expect(try metrics.expectCounter("delong_lease_renewals_total").totalValue == 2)
        let released = [("kind", "sandbox"), ("outcome", "released")]
        #expect(try metrics.expectCounter("delong_key_releases_total", released).totalValue == 1)
    }

    @Test func aPendingRentalRevocationEndsTheLeaseAtFirstSightAndForGood() async throws {
        let (plane, lease) = try await released()
        // Block 99 is pending (final head 96): the release needed final records, the lease does not wait.
        index.content.withLock {
            $0.rentals[KeyReleaseTests.rentalKey]?.status = .revoked
            $0.rentals[KeyReleaseTests.rentalKey]?.updated = InMemoryRecords.origin(99)
        }
        try expectRenewalRefused(
            plane,
            lease,
            at: Self.now + 5,
            .leaseRevoked,
            naming: "the rental was revoked in block 99 (pending, final head 96)"
        )
        // A reorg that undoes the revocation does not bring the lease back.
        index.content.withLock { $0.rentals[KeyReleaseTests.rentalKey]?.status = .active }
        try expectRenewalRefused(plane, lease, at: Self.now + 6, .leaseRevoked, naming: "was revoked")
        #expect(plane.leases.refused(.revoked) == 2 && plane.leases.active(now: Self.now + 6) == 0)
        let refused = "delong_lease_renewals_refused_total"
        #expect(try metrics.expectCounter(refused, [("reason", "revoked")]).totalValue == 2)
        #expect(try metrics.expectCounter(refused, [("reason", "signature")]).totalValue == 0)
    }

    @Test func aRetiredDatasetEndsTheLease() async throws {
        let (plane, lease) = try await released()
        index.content.withLock {
            $0.datasets[KeyReleaseTests.dataset]?.retired = true
            $0.datasets[KeyReleaseTests.dataset]?.updated = InMemoryRecords.origin(100)
        }
        try expectRenewalRefused(
            plane,
            lease,
            at: Self.now + 5,
            .leaseRevoked,
            naming: "was retired in block 100 (pending, final head 96)"
        )
    }

    @Test func aPendingMeasurementRevocationEndsTheLease() async throws {
        let (plane, lease) = try await released()
        index.content.withLock {
            $0.measurements[KeyReleaseTests.measurement]?.trusted = false
            $0.measurements[KeyReleaseTests.measurement]?.updated = InMemoryRecords.origin(98)
        }
        try expectRenewalRefused(
            plane,
            lease,
            at: Self.now + 5,
            .leaseRevoked,
            naming: "measurement \(KeyReleaseTests.measurement.hex) was revoked in block 98 (pending"
        )
    }

    @Test func aRotatedPrivacySignerOrAnExpiredRentalEndsTheLease() async throws {
        let (plane, lease) = try await released()
        index.content.withLock {
            $0.privacySigner = SignerRecord(address: KeyReleaseTests.consumer, updated: InMemoryRecords.origin(99))
        }
        try expectRenewalRefused(plane, lease, at: Self.now + 5, .leaseRevoked, naming: "privacy signer is now")
    }

    @Test func theRentalsEndEndsTheLease() async throws {
        let (plane, lease) = try await released(seconds: 600)
        index.content.withLock { $0.rentals[KeyReleaseTests.rentalKey]?.expiresAt = Self.now + 100 }
        _ = try plane.renew(try renewal(lease, at: Self.now + 99), now: Self.now + 99)
        try expectRenewalRefused(
            plane,
            lease,
            at: Self.now + 100,
            .leaseRevoked,
            naming: "the rental expired at \(Self.now + 100)"
        )
    }

    @Test func aStaleIndexEndsTheLease() async throws {
        index.content.withLock { $0.headTimestamp = Self.now }
        let freshness = IndexFreshness(policy: .init(maxAge: 60))
        freshness.recordGoodPass()
        let (plane, lease) = try await released(seconds: 600, freshness: freshness)
        // A good sync pass just now (a loaded machine may take a minute to get here): only the head's age counts.
        freshness.recordGoodPass()
        _ = try plane.renew(try renewal(lease, at: Self.now + 50), now: Self.now + 50)
        freshness.recordGoodPass()
        // 61 s after the head block with no newer one: the plane cannot tell whether anything was revoked.
        try expectRenewalRefused(plane, lease, at: Self.now + 61, .leaseRevoked, naming: "at most 60 s is accepted")
    }

    @Test func aMissedRenewalEndsTheLeaseForGood() async throws {
        let (plane, lease) = try await released(seconds: 9)
        #expect(lease.renewEvery == 3)
        try expectRenewalRefused(plane, lease, at: Self.now + 9, .leaseExpired, naming: "expired at")
        // A later request that looks valid (right signer, fresh time, nothing revoked) is still refused, even
        // one whose clock reading falls back inside the old window.
        try expectRenewalRefused(plane, lease, at: Self.now + 12, .leaseExpired, naming: "for good")
        try expectRenewalRefused(plane, lease, at: Self.now + 8, .leaseExpired, naming: "for good")
        #expect(plane.leases.refused(.expired) == 3)
    }

    @Test func aRenewalSignedByAnotherKeyOrAtAStaleTimeIsRefused() async throws {
        let (plane, lease) = try await released()
        let stranger = Keccak256.hash(utf8: "not the agent").bytes
        try expectRenewalRefused(
            plane,
            lease,
            at: Self.now + 5,
            .leaseRefused,
            naming: "not the agent signer bound at release",
            key: stranger
        )
        // `at` 31 s from the plane's clock is stale; 30 s is accepted.
        do {
            _ = try plane.renew(try renewal(lease, at: Self.now + 36), now: Self.now + 5)
            Issue.record("a stale renewal time was accepted")
        } catch let error as PrivacyPlaneError {
            #expect(error.code == .leaseRefused && error.reason.contains("stale"), "\(error)")
        }
        _ = try plane.renew(try renewal(lease, at: Self.now + 35), now: Self.now + 5)
        #expect(plane.leases.refused(.signature) == 1 && plane.leases.refused(.stale) == 1)
        // An unknown lease (never granted, or granted before a plane restart).
        let unknown = KeyLease(id: Keccak256.hash(utf8: "no such lease"), expiresAt: 0, renewEvery: 0)
        try expectRenewalRefused(plane, unknown, at: Self.now + 5, .unknownLease, naming: "no lease")
    }

    @Test func aReleaseNeedsTheAgentSignerItsEvidenceBinds() async throws {
        let plane = try base.release()
        let token = try base.secureToken()
        var request = try base.request(token, sandbox: X25519PrivateKey())
        // REPORTDATA binds the agent signer: another address in the request does not match it.
        request.agentSigner = try Address(hex: "0x00000000000000000000000000000000000000a9")
        await base.expectRefusal(.bindingMismatch) { _ = try await plane.release(request, now: Self.now) }
        request.agentSigner = .zero
        await base.expectRefusal(.badRequest) { _ = try await plane.release(request, now: Self.now) }
        #expect(plane.receipts.count == 0 && plane.leases.active(now: Self.now) == 0)
    }

    @Test func leaseLengthsOutsideThreeToSixHundredSecondsAreRefused() throws {
        for seconds: UInt64 in [0, 2, 601] {
            #expect(throws: PrivacyPlaneError(.invalidConfiguration, "")) { _ = try KeyLeases(seconds: seconds) }
        }
        #expect(try KeyLeases(seconds: 3).renewEvery == 1)
        #expect(try KeyLeases(seconds: 600).renewEvery == 200)
    }

    // MARK: Token audience

    @Test(arguments: [
        "none", "explore without one", "explore for a stranger", "not an operator", "deauthorized", "pending",
    ])
    func secureTokensNeedAnAuthorizedFinalOperatorAsAudience(_ case: String) throws {
        let issuer = try base.issuer()
        let stranger = try Address(hex: "0x00000000000000000000000000000000000000b7")
        var request = TokenRequest(
            dataset: KeyReleaseTests.dataset,
            mode: .secure,
            imageDigest: KeyReleaseTests.image,
            jobID: KeyReleaseTests.job,
            audience: KeyReleaseTests.computingOperator
        )
        let expected: (PrivacyPlaneError.Code, String)
        switch `case` {
        case "none":
            request.audience = .zero
            expected = (.audienceRefused, "found none")
        case "explore without one":
            request = TokenRequest(dataset: KeyReleaseTests.dataset, mode: .explore)
            expected = (.audienceRefused, "explore tokens need an audience")
        case "explore for a stranger":
            request = TokenRequest(dataset: KeyReleaseTests.dataset, mode: .explore, audience: stranger)
            expected = (.audienceRefused, "\(stranger.checksummed) is not a Computing Plane operator")
        case "not an operator":
            request.audience = stranger
            expected = (.audienceRefused, "\(stranger.checksummed) is not a Computing Plane operator")
        case "deauthorized":
            index.content.withLock {
                $0.operators[KeyReleaseTests.computingOperator]?.authorized = false
                $0.operators[KeyReleaseTests.computingOperator]?.updated = InMemoryRecords.origin(50)
            }
            expected = (.audienceRefused, "no longer an authorized")
        default:
            index.content.withLock {
                $0.operators[KeyReleaseTests.computingOperator]?.updated = InMemoryRecords.origin(97)
            }
            expected = (.audienceRefused, "not final yet (final head 96)")
        }
        do {
            _ = try issuer.issue(for: KeyReleaseTests.consumer, request, now: Self.now)
            Issue.record("\(`case`): a token was issued")
        } catch {
            #expect(error.code == expected.0, "\(`case`): \(error)")
            #expect(error.reason.contains(expected.1), "\(`case`): \(error.reason)")
        }
    }

    @Test func theAudienceIsSignedIntoTheToken() throws {
        let token = try base.secureToken()
        #expect(token.token.audience == KeyReleaseTests.computingOperator)
        var other = token
        other.token.audience = try Address(hex: "0x00000000000000000000000000000000000000b7")
        let verifier = TokenVerifier(domain: KeyReleaseTests.domain, signer: try base.issuer().signer)
        guard case .rejected(.wrongSigner) = verifier.verify(other, now: Self.now) else {
            Issue.record("a token with another audience still verified")
            return
        }
    }
}
