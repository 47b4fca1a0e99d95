import ChainCore
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Synchronization
import Testing

/// H2, L7 and L10: the plane acts only on a fresh index, by a clock that never runs behind the verified head,
/// and only while the on-chain privacy signer is its own key.
extension KeyReleaseTests {
    /// Long enough that no scheduling delay of a loaded test run (a suite can wait minutes for a thread) ages
    /// a fresh gate's monotonic last good pass past it; the stale cases are all stated relative to it.
    static let bound: UInt64 = 3600

    /// A gate whose last good pass ended `passAge` seconds ago.
    func freshness(passAge: Int64 = 0, skew: UInt64 = 60) -> IndexFreshness {
        let gate = IndexFreshness(policy: .init(maxAge: Self.bound, maxClockSkew: skew))
        gate.recordGoodPass(at: .now.advanced(by: .seconds(-passAge)))
        return gate
    }

    func gatedIssuer(_ gate: IndexFreshness) throws -> TokenIssuer {
        try TokenIssuer(
            reader: index,
            domain: Self.domain,
            signingKey: SecretBytes(copying: Self.planeKey),
            freshness: gate
        )
    }

    func gatedRelease(_ gate: IndexFreshness) throws -> KeyRelease {
        KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: Self.domain, signer: try issuer().signer),
            evidence: FaceValueEvidence(),
            receipts: try receiptLog("gated-\(UUID().uuidString).log"),
            keys: keys,
            freshness: gate,
            logger: nil
        )
    }

    func setHeadTime(_ t: UInt64) { index.content.withLock { $0.headTimestamp = t } }

    /// Every way the plane hands out something: a token, a sandbox release and a provider release.
    func everyGrant(
        _ gate: IndexFreshness,
        token: SignedAccessToken,
        wallClock: UInt64
    ) async -> [PrivacyPlaneError.Code?] {
        var codes: [PrivacyPlaneError.Code?] = []
        func code(_ body: () async throws -> Void) async -> PrivacyPlaneError.Code? {
            do {
                try await body()
                return nil
            } catch { return (error as? PrivacyPlaneError)?.code ?? .storage }
        }
        let issuer = try? gatedIssuer(gate)
        let plane = try? gatedRelease(gate)
        codes.append(
            await code {
                _ = try #require(issuer).issue(
                    for: Self.consumer,
                    TokenRequest(
                        dataset: Self.dataset,
                        mode: .secure,
                        imageDigest: Self.image,
                        jobID: Self.job,
                        audience: Self.computingOperator
                    ),
                    now: wallClock
                )
            }
        )
        codes.append(
            await code {
                _ = try await #require(plane).release(
                    try request(token, sandbox: X25519PrivateKey()),
                    now: wallClock
                )
            }
        )
        codes.append(
            await code {
                _ = try await #require(plane).providerKey(
                    for: Self.provider,
                    dataset: Self.dataset,
                    keyVersion: 1,
                    recipientKey: try X25519PrivateKey().publicKey,
                    now: wallClock
                )
            }
        )
        return codes
    }

    @Test func aStaleHeadRefusesTokensAndBothKeyReleasesUntilTheIndexCatchesUp() async throws {
        let token = try secureToken()
        setHeadTime(Self.now - Self.bound - 1)
        #expect(
            await everyGrant(freshness(), token: token, wallClock: Self.now) == [.indexStale, .indexStale, .indexStale]
        )
        // The checkpoint head (no verified block yet) is stale too.
        setHeadTime(0)
        #expect(
            await everyGrant(freshness(), token: token, wallClock: Self.now) == [.indexStale, .indexStale, .indexStale]
        )
        // The sync catches up: the same requests succeed.
        setHeadTime(Self.now - Self.bound)
        #expect(await everyGrant(freshness(), token: token, wallClock: Self.now) == [nil, nil, nil])
    }

    @Test func anOldLastGoodSyncPassRefusesEvenWithARecentHead() async throws {
        let token = try secureToken()
        setHeadTime(Self.now - 5)
        let stalled = freshness(passAge: Int64(Self.bound) + 5)
        #expect(
            await everyGrant(stalled, token: token, wallClock: Self.now) == [.indexStale, .indexStale, .indexStale]
        )
        let never = IndexFreshness(policy: .init(maxAge: Self.bound))
        #expect(await everyGrant(never, token: token, wallClock: Self.now) == [.indexStale, .indexStale, .indexStale])
        // A good pass now: served again, and the pass's age starts over from it.
        let pass = ContinuousClock.now
        stalled.recordGoodPass(at: pass)
        #expect(stalled.secondsSinceGoodPass(at: pass) == 0)
        #expect(await everyGrant(stalled, token: token, wallClock: Self.now) == [nil, nil, nil])
    }

    @Test func theClockNeverRunsBehindTheVerifiedHead() async throws {
        // The head says it is `now`; the host set the guest's clock 50 s back (within the skew).
        setHeadTime(Self.now)
        let gate = freshness()
        #expect(try gate.now(index, wallClock: Self.now - 50) == Self.now)
        #expect(try gate.now(index, wallClock: Self.now + 7) == Self.now + 7)
        // Tokens start at the head's time, not the rolled-back clock.
        let token = try gatedIssuer(gate).issue(
            for: Self.consumer,
            TokenRequest(dataset: Self.dataset, mode: .explore, audience: Self.computingOperator),
            now: Self.now - 50
        )
        #expect(token.token.notBefore == Self.now)
        // A rental that expired (by the chain's time) stays expired under the rolled-back clock.
        index.content.withLock { $0.rentals[Self.rentalKey]?.expiresAt = Self.now - 10 }
        #expect(throws: PrivacyPlaneError(.rentalInactive, "")) {
            _ = try gatedIssuer(gate).issue(
                for: Self.consumer,
                TokenRequest(dataset: Self.dataset, mode: .explore, audience: Self.computingOperator),
                now: Self.now - 50
            )
        }
        // An expired token too: it expired by the head's time, whatever the wall clock says.
        index.content.withLock { $0.rentals[Self.rentalKey]?.expiresAt = Self.now + 86_400 }
        let old = try issuer().issue(
            for: Self.consumer,
            TokenRequest(
                dataset: Self.dataset,
                mode: .secure,
                imageDigest: Self.image,
                jobID: Self.job,
                audience: Self.computingOperator
            ),
            now: Self.now - 4000
        )
        #expect(old.token.expiry < Self.now)
        // (A skew wide enough to let that clock through, so that the token's window decides.)
        let plane = try gatedRelease(freshness(skew: 1000))
        await expectRefusal(.tokenRefused) {
            _ = try await plane.release(try request(old, sandbox: X25519PrivateKey()), now: old.token.expiry - 1)
        }
        // A clock further behind than the skew is refused outright.
        #expect(throws: PrivacyPlaneError(.clockSkew, "")) { _ = try gate.now(index, wallClock: Self.now - 61) }
        #expect(
            await everyGrant(gate, token: try secureToken(), wallClock: Self.now - 61)
                == [.clockSkew, .clockSkew, .clockSkew]
        )
    }

    @Test func aSignerRotatedOnChainStopsTheOldKeyAtOnce() async throws {
        setHeadTime(Self.now)
        let token = try secureToken()
        let me = try issuer().signer
        // Named as the signer: served.
        index.content.withLock { $0.privacySigner = SignerRecord(address: me, updated: InMemoryRecords.origin(3)) }
        #expect(await everyGrant(freshness(), token: token, wallClock: Self.now) == [nil, nil, nil])
        // Governance rotates the signer (in a block not even final yet): every grant stops, with or without
        // the freshness gate.
        let (second, third) = (try secureToken(), try secureToken())
        let successor = try Address(hex: "0x90F79bf6EB2c4f870365E785982E1f101E93b906")
        index.content.withLock {
            $0.privacySigner = SignerRecord(address: successor, updated: InMemoryRecords.origin(100))
        }
        #expect(
            await everyGrant(freshness(), token: second, wallClock: Self.now)
                == [.signerMismatch, .signerMismatch, .signerMismatch]
        )
        let ungated = try release()
        await expectRefusal(.signerMismatch) {
            _ = try await ungated.release(try request(third, sandbox: X25519PrivateKey()), now: Self.now)
        }
        #expect(ungated.receipts.count == 0)
    }
}
