import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// `SNPPolicy` on the virtee Milan report with its real AMD chain (VCEK from the fixture, ASK/ARK as virtee ships
/// them), and the `SNPEvidence` wire form.
@Suite struct SNPPolicyTests {
    /// Inside the Milan VCEK's validity (2023-04-03…2030-04-03).
    static let time = Fixtures.time("2025-06-01T00:00:00Z")

    func milanEvidence(certificates: [UInt8]? = nil) throws -> SNPEvidence {
        let report = try Fixtures.quote("virtee-sev/report_milan.hex")
        let vcek = try Fixtures.bytes("virtee-sev/vcek_milan.der")
        return SNPEvidence(
            report: report,
            certificates: certificates
                ?? SNPEvidence.makeCertificateTable([(SNPEvidence.vcekGUID, vcek)])
        )
    }

    func milanChain() throws -> [X509Certificate] {
        [
            try SNPVerifier.certificate(try Fixtures.bytes("virtee-sev/milan_ask.pem"), name: "ask"),
            try SNPVerifier.certificate(try Fixtures.bytes("virtee-sev/milan_ark.pem"), name: "ark"),
        ]
    }

    @Test func theMilanReportPassesAtItsTCBAndIsRefusedAboveIt() throws {
        let policy = SNPPolicy(
            minimumTCB: try SNPMinimumTCB(parsing: "3:0:8:115"),
            allowMissingCRL: true,
            chain: try milanChain()
        )
        let verified = try policy.verify(try milanEvidence(), at: Self.time)
        #expect(verified.vmpl == 0)
        #expect(
            Hex.encode(verified.measurementDigest, prefix: false)
                == Hex.encode(Digest.sha256(Array("snp".utf8) + verified.measurement), prefix: false)
        )
        var strict = policy
        strict.minimumTCB = try SNPMinimumTCB(parsing: "3:1:8:115")
        let error = #expect(throws: AttestationError(.tcbBelowMinimum, "")) {
            _ = try strict.verify(try milanEvidence(), at: Self.time)
        }
        #expect(error?.reason.contains("TEE 0 < 1") == true, "\(String(describing: error))")
        // Without a CRL and without the allowance, refused.
        var noCRL = policy
        noCRL.allowMissingCRL = false
        #expect(throws: AttestationError(.crlMissing, "")) { _ = try noCRL.verify(try milanEvidence(), at: Self.time) }
        // No VCEK anywhere: the chain is incomplete.
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            _ = try policy.verify(try milanEvidence(certificates: []), at: Self.time)
        }
    }

    @Test func theChainMayBeCarriedAsPEMOrAGHCBTable() throws {
        let vcekDER = try Fixtures.bytes("virtee-sev/vcek_milan.der")
        let chain = try milanChain()
        let table = SNPEvidence.makeCertificateTable([
            (SNPEvidence.vcekGUID, vcekDER), (SNPEvidence.askGUID, chain[0].der), (SNPEvidence.arkGUID, chain[1].der),
        ])
        let entries = try SNPEvidence.certificateTable(table)
        #expect(entries.map(\.guid) == [SNPEvidence.vcekGUID, SNPEvidence.askGUID, SNPEvidence.arkGUID])
        let policy = SNPPolicy(minimumTCB: try SNPMinimumTCB(parsing: "0:0:0:0"), allowMissingCRL: true)
        _ = try policy.verify(try milanEvidence(certificates: table), at: Self.time)
        let pem = try Fixtures.bytes("virtee-sev/milan_ask.pem") + Fixtures.bytes("virtee-sev/milan_ark.pem")
        var withChain = policy
        withChain.chain = try SNPEvidence.certificates(in: pem)
        _ = try withChain.verify(try milanEvidence(), at: Self.time)
    }

    @Test func theWireFormRoundTripsAndRejectsTruncation() throws {
        let evidence = try milanEvidence()
        let bytes = evidence.bytes
        #expect(SNPEvidence.isSNPEvidence(bytes))
        #expect(try SNPEvidence(bytes: bytes) == evidence)
        #expect(throws: AttestationError(.malformedSNPReport, "")) {
            _ = try SNPEvidence(bytes: Array(bytes.dropLast()))
        }
        #expect(throws: AttestationError(.malformedSNPReport, "")) { _ = try SNPEvidence(bytes: bytes + [0]) }
        #expect(throws: AttestationError(.malformedCollateral, "")) { _ = try SNPMinimumTCB(parsing: "3:0:8") }
        #expect(throws: AttestationError(.malformedCollateral, "")) { _ = try SNPMinimumTCB(parsing: "3:0:8:256") }
    }
}
