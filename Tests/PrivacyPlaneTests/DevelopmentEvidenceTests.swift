import Attestation
import ChainCore
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Synchronization
import Testing

/// The insecure development evidence through the real `AttestationEvidenceVerifier`: its measurements are
/// hashed in their own digest domain, so it can only match a digest trusted as a development digest.
extension KeyReleaseTests {
    /// MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 of a "production" image (192 bytes).
    static let productionMeasurements = (0..<192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }

    func trust(_ digest: [UInt8], label: String) throws {
        let hash = try Hash32(digest)
        index.content.withLock {
            $0.measurements[hash] = MeasurementRecord(
                digest: hash,
                measurements: [],
                label: ChainText(label),
                trusted: true,
                updated: InMemoryRecords.origin(5)
            )
        }
    }

    func developmentPlane() throws -> KeyRelease {
        let issuer = try issuer()
        return KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: Self.domain, signer: issuer.signer),
            evidence: AttestationEvidenceVerifier(
                collateral: nil,
                policy: AttestationPolicy(allowInsecureDevelopment: true)
            ),
            receipts: try receiptLog("development.log"),
            keys: keys,
            allowDevelopmentEvidence: true,
            logger: nil
        )
    }

    /// Development evidence claiming `measurements`, bound to `sandbox`, the token and the image.
    func developmentRequest(_ token: SignedAccessToken, sandbox: X25519PrivateKey) throws -> KeyReleaseRequest {
        let m = Self.productionMeasurements
        let evidence = try InsecureDevelopmentEvidence(
            mrTD: Array(m[0..<48]),
            rtmr: [Array(m[48..<96]), Array(m[96..<144]), Array(m[144..<192]), [UInt8](repeating: 0, count: 48)],
            reportData: KeyWrap.reportData(
                recipientKey: sandbox.publicKey,
                agentSigner: KeyReleaseTests.agent,
                tokenHash: try token.token.signingHash(Self.domain),
                imageDigest: token.token.imageDigest
            )
        )
        return KeyReleaseRequest(
            token: token,
            evidence: evidence.json(),
            sandboxKey: sandbox.publicKey,
            agentSigner: KeyReleaseTests.agent
        )
    }

    @Test func developmentEvidenceClaimingAProductionDigestIsRefused() async throws {
        // Governance trusts the production image's digest (SHA-256 of its measurements, as a TDX quote gives).
        try trust(Digest.sha256(Self.productionMeasurements), label: "production runner")
        let plane = try developmentPlane()
        await expectRefusal(.attestationRefused) {
            _ = try await plane.release(
                try developmentRequest(try secureToken(), sandbox: X25519PrivateKey()),
                now: Self.now
            )
        }
        // Only the development digest of the same values, trusted as such, lets development evidence through.
        let development = InsecureDevelopmentEvidence.measurementDigest(measurements: Self.productionMeasurements)
        #expect(development == Digest.sha256(Array("delong/dev-measurements/v1".utf8) + Self.productionMeasurements))
        try trust(development, label: "development runner")
        let sandbox = try X25519PrivateKey()
        let response = try await plane.release(
            try developmentRequest(try secureToken(), sandbox: sandbox),
            now: Self.now
        )
        #expect(response.receipt.receipt.evidenceKind == .developmentInsecure)
        #expect(try KeyWrap.unwrap(response.wrapped, recipient: sandbox, chainID: Self.domain.chainID) != nil)
    }

    @Test func developmentEvidenceIsRefusedOnAChainOtherThanTheDevnetUnlessNamed() throws {
        try AttestationEvidenceVerifier.checkDevelopmentEvidenceAllowed(chainID: 31337, namedChainID: nil)
        try AttestationEvidenceVerifier.checkDevelopmentEvidenceAllowed(chainID: 5151, namedChainID: 5151)
        let error = #expect(throws: PrivacyPlaneError(.invalidConfiguration, "")) {
            try AttestationEvidenceVerifier.checkDevelopmentEvidenceAllowed(chainID: 1, namedChainID: nil)
        }
        #expect(error?.reason.contains("refused on chain id 1, which is not the devnet (31337)") == true)
        #expect(error?.reason.contains("--allow-insecure-development-evidence-on-chain 1") == true)
        #expect(throws: PrivacyPlaneError(.invalidConfiguration, "")) {
            try AttestationEvidenceVerifier.checkDevelopmentEvidenceAllowed(chainID: 1, namedChainID: 31337)
        }
    }
}
