import Attestation
import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import TestSupport
import Testing

/// The real `AttestationEvidenceVerifier` at the wall clock: the test PKI's certificates and CRLs are made when
/// the suite runs, while the token, rental and index use the suite's fixed `KeyReleaseTests.now`.
struct WallClockEvidence: EvidenceVerifier {
    let inner: AttestationEvidenceVerifier
    func verify(_ evidence: [UInt8], now: UInt64) async throws(PrivacyPlaneError) -> AttestedSandbox {
        try await inner.verify(evidence, now: UInt64(Date().timeIntervalSince1970))
    }
}

/// SEV-SNP evidence on key release: the virtee Milan report re-signed by a test PKI (its ARK pinned), with
/// REPORT_DATA bound as the TDX path binds REPORTDATA; each refusal names its own reason and releases nothing.
extension KeyReleaseTests {
    static let snpPKI: Result<SNPTestPKI, SNPTestPKIError> = {
        do {
            let report = try milanReport()
            return .success(try SNPTestPKI(chipID: Array(report[0x1A0..<0x1E0])))
        } catch { return .failure(SNPTestPKIError(description: "\(error)")) }
    }()

    static func milanReport() throws -> [UInt8] {
        let text = try TestData.data("attestation/virtee-sev/report_milan.hex")
        return try Hex.decode(String(decoding: text, as: UTF8.self).filter { $0.isHexDigit })
    }

    /// SHA-256("snp" ‖ MEASUREMENT) of the Milan report: its allow-list digest.
    static func snpDigest() throws -> [UInt8] {
        Digest.sha256(Array("snp".utf8) + Array(try milanReport()[0x90..<0xC0]))
    }

    func snpCertificate(_ name: String) throws -> X509Certificate {
        try SNPVerifier.certificate(try Self.snpPKI.get().pem(name), name: name)
    }

    /// The policy: minimum `minimum`, `crls` (default: an ARK CRL revoking nothing), the test chain configured.
    func snpPolicy(
        minimum: String = "3:0:8:115",
        crls: [[UInt8]]? = nil,
        allowMissingCRL: Bool = false
    ) throws -> SNPPolicy {
        let pki = try Self.snpPKI.get()
        let ark = try snpCertificate("ark")
        return SNPPolicy(
            minimumTCB: try SNPMinimumTCB(parsing: minimum),
            crls: try (crls ?? [try pki.crl(revoking: [])]).map { try X509CRL(der: $0) },
            allowMissingCRL: allowMissingCRL,
            chain: [try snpCertificate("ask"), ark],
            trustedARKs: [Hex.encode(Digest.sha256(ark.der), prefix: false)]
        )
    }

    func snpPlane(_ policy: SNPPolicy) throws -> KeyRelease {
        let issuer = try issuer()
        return KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: Self.domain, signer: issuer.signer),
            evidence: WallClockEvidence(
                inner: AttestationEvidenceVerifier(collateral: nil, policy: AttestationPolicy(), snp: policy)
            ),
            receipts: try receiptLog("snp-\(UUID().uuidString).log"),
            keys: keys,
            logger: nil
        )
    }

    /// A request with the Milan report edited by `edit`, REPORT_DATA bound to `sandbox` unless `bind` is false,
    /// re-signed, carrying the VCEK as a GHCB certificate table (the ASK and ARK come from the policy).
    func snpRequest(
        _ token: SignedAccessToken,
        sandbox: X25519PrivateKey,
        bind: Bool = true,
        _ edit: (inout [UInt8]) -> Void = { _ in }
    ) throws -> KeyReleaseRequest {
        var report = try Self.milanReport()
        if bind {
            let reportData = KeyWrap.reportData(
                recipientKey: sandbox.publicKey,
                agentSigner: Self.agent,
                tokenHash: try token.token.signingHash(Self.domain),
                imageDigest: token.token.imageDigest
            )
            report.replaceSubrange(0x50..<0x90, with: reportData)
        }
        edit(&report)
        let vcek = try snpCertificate("vcek")
        let table = SNPEvidence.makeCertificateTable([("63da758d-e664-4564-adc5-f4b93be8accd", vcek.der)])
        let evidence = SNPEvidence(report: try Self.snpPKI.get().sign(report), certificates: table)
        return KeyReleaseRequest(
            token: token,
            evidence: evidence.bytes,
            sandboxKey: sandbox.publicKey,
            agentSigner: Self.agent
        )
    }

    /// Expects `code` with a reason containing `reason`, and no receipt for the token.
    func expectSNPRefusal(
        _ code: PrivacyPlaneError.Code,
        _ reason: String,
        policy: SNPPolicy? = nil,
        bind: Bool = true,
        _ edit: @escaping (inout [UInt8]) -> Void = { _ in },
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let plane = try snpPlane(try policy ?? snpPolicy())
        let token = try secureToken()
        do {
            _ = try await plane.release(
                try snpRequest(token, sandbox: try X25519PrivateKey(), bind: bind, edit),
                now: Self.now
            )
            Issue.record("expected \(code) (\(reason)), but the key was released", sourceLocation: sourceLocation)
        } catch let error as PrivacyPlaneError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.reason.contains(reason), "\(error.reason)", sourceLocation: sourceLocation)
        }
        #expect(!plane.receipts.isUsed(token: try token.token.signingHash(Self.domain)), sourceLocation: sourceLocation)
    }

    @Test func snpEvidenceBoundAndAllowListedReleasesTheKey() async throws {
        try trust(try Self.snpDigest(), label: "snp runner")
        let plane = try snpPlane(try snpPolicy())
        let sandbox = try X25519PrivateKey()
        let token = try secureToken()
        let request = try snpRequest(token, sandbox: sandbox)
        let response = try await plane.release(request, now: Self.now)
        #expect(response.receipt.receipt.evidenceKind == .snp)
        let report = try SNPEvidence(bytes: request.evidence).report
        #expect(response.receipt.receipt.evidence == (try Hash32(Digest.sha256(report))))
        #expect(try KeyWrap.unwrap(response.wrapped, recipient: sandbox, chainID: Self.domain.chainID) != nil)
    }

    @Test func snpEvidenceNotOnTheAllowListIsRefused() async throws {
        // The TDX-shaped digest of the same MEASUREMENT (no "snp" prefix) does not let an SNP report through.
        try trust(Digest.sha256(Array(try Self.milanReport()[0x90..<0xC0])), label: "not the snp digest")
        try await expectSNPRefusal(.attestationRefused, "not on the final on-chain allow-list")
    }

    @Test func snpRefusalsEachNameTheirReason() async throws {
        try trust(try Self.snpDigest(), label: "snp runner")
        let pki = try Self.snpPKI.get()
        try await expectSNPRefusal(.bindingMismatch, "REPORTDATA does not bind", bind: false)
        try await expectSNPRefusal(.attestationRefused, "expected VMPL 0 (the guest kernel's own report), found VMPL 1")
        {
            $0[0x30] = 1
        }
        try await expectSNPRefusal(.attestationRefused, "expected POLICY bit 19 (DEBUG) clear") { $0[0x0A] |= 0x08 }
        try await expectSNPRefusal(
            .attestationRefused,
            "expected at least bl 3 tee 0 snp 8 ucode 116 (--snp-min-tcb), found bl 3 tee 0 snp 8 ucode 115 (microcode 115 < 116)",
            policy: try snpPolicy(minimum: "3:0:8:116")
        )
        try await expectSNPRefusal(
            .attestationRefused,
            "snp-tcb-below-minimum",
            policy: try snpPolicy(minimum: "4:0:0:0")
        )
        try await expectSNPRefusal(
            .attestationRefused,
            "certificate-revoked: ASK /CN=DeLong Test ASK: expected not revoked, found listed in the CRL by /CN=DeLong Test ARK",
            policy: try snpPolicy(crls: [try pki.crl(revoking: ["ask"])])
        )
        try await expectSNPRefusal(
            .attestationRefused,
            "certificate-revoked: VCEK /CN=DeLong Test VCEK: expected not revoked, found listed in the CRL by /CN=DeLong Test ASK",
            policy: try snpPolicy(crls: [try pki.crl(revoking: []), try pki.crl(by: "ask", revoking: ["vcek"])])
        )
        try await expectSNPRefusal(.attestationRefused, "crl-missing", policy: try snpPolicy(crls: []))
    }

    @Test func snpWithoutACRLIsReleasedOnlyWhenAllowedAndWithoutAPolicyRefused() async throws {
        try trust(try Self.snpDigest(), label: "snp runner")
        let plane = try snpPlane(try snpPolicy(crls: [], allowMissingCRL: true))
        let response = try await plane.release(
            try snpRequest(try secureToken(), sandbox: try X25519PrivateKey()),
            now: Self.now
        )
        #expect(response.receipt.receipt.evidenceKind == .snp)
        // A plane without an SNP policy refuses SNP evidence.
        let issuer = try issuer()
        let noSNP = KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: Self.domain, signer: issuer.signer),
            evidence: AttestationEvidenceVerifier(collateral: nil, policy: AttestationPolicy()),
            receipts: try receiptLog("no-snp.log"),
            keys: keys,
            logger: nil
        )
        await expectRefusal(.attestationRefused) {
            _ = try await noSNP.release(
                try snpRequest(try secureToken(), sandbox: try X25519PrivateKey()),
                now: Self.now
            )
        }
    }
}
