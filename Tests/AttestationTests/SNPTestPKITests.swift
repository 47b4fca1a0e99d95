import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// SEV-SNP paths no AMD fixture exercises (a debug policy, a VCEK of another chip or TCB, a VLEK, a Turin report,
/// non-PSS or short keys), with a test PKI made by the openssl command line: a test ARK and ASK (RSA-4096,
/// RSASSA-PSS SHA-384) pinned through `trustedARKs`, P-384 leaves carrying AMD's extensions, and the virtee Milan
/// report with edited fields re-signed by the test leaf's key.
@Suite struct SNPTestPKITests {
    /// The test certificates are valid from when openssl made them (now) for ten years.
    static let time = Date().addingTimeInterval(60)

    /// The PKI, made once for the suite (RSA-4096 key generation takes seconds).
    static let pki: Result<TestPKI, FixtureMissing> = {
        do { return .success(try TestPKI()) } catch { return .failure(FixtureMissing(description: "\(error)")) }
    }()

    func pki() throws -> TestPKI { try Self.pki.get() }

    /// The virtee Milan report with `edit` applied, re-signed by the test leaf key.
    func report(_ edit: (inout [UInt8]) -> Void = { _ in }) throws -> SNPReport {
        var bytes = try Fixtures.quote("virtee-sev/report_milan.hex")
        edit(&bytes)
        return try SNPReport(bytes: try pki().sign(bytes))
    }

    func verify(_ report: SNPReport, leaf: String = "vcek", allowDebug: Bool = false) throws -> VerifiedSNPReport {
        let pki = try pki()
        let chain = try SNPVerifier.verifyChain(
            ark: try pki.certificate("ark"),
            ask: try pki.certificate("ask"),
            vcek: try pki.certificate(leaf),
            at: Self.time,
            trustedARKs: [pki.arkFingerprint]
        )
        return try SNPVerifier.verify(report, chain: chain, allowDebug: allowDebug)
    }

    func failure(_ report: SNPReport, leaf: String = "vcek") throws -> AttestationError.Code? {
        do {
            _ = try verify(report, leaf: leaf)
            return nil
        } catch let error as AttestationError {
            return error.code
        }
    }

    @Test func aReSignedReportVerifiesOnlyWithItsARKPinned() throws {
        let pki = try pki()
        let verified = try verify(try report())
        #expect(verified.signingKey == .vcek)
        #expect(verified.chain.arkFingerprint == pki.arkFingerprint)
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            _ = try SNPVerifier.verify(
                try report(),
                vcek: try pki.certificate("vcek"),
                ask: try pki.certificate("ask"),
                ark: try pki.certificate("ark"),
                at: Self.time
            )
        }
    }

    @Test func aDebugPolicyIsRefusedUnlessAllowed() throws {
        let debug = try report { $0[0x08 + 2] |= 0x08 }  // POLICY bit 19
        #expect(debug.isDebugAllowed)
        #expect(try failure(debug) == .debugGuest)
        #expect(try verify(debug, allowDebug: true).policy & SNPReport.policyDebugBit != 0)
    }

    @Test func aVCEKOfAnotherChipIsRejected() throws {
        #expect(try failure(try report { $0[0x1A0] ^= 0x01 }) == .vcekMismatch)
    }

    @Test(arguments: [0x180, 0x181, 0x186, 0x187])
    func aVCEKOfAnotherTCBIsRejected(_ offset: Int) throws {
        #expect(try failure(try report { $0[offset] &+= 1 }) == .vcekMismatch)
    }

    @Test func aVLEKReportVerifiesWithAVLEKAndNeedsHwIDForAVCEK() throws {
        let vlekReport = try report { $0[0x48] = 0x04 }  // SIGNING_KEY = 1
        let verified = try verify(vlekReport, leaf: "vlek")
        #expect(verified.signingKey == .vlek)
        #expect(verified.chain.tcb.hardwareID == nil)
        // A VCEK-signed report with a certificate that names no chip is refused.
        #expect(try failure(try report(), leaf: "vlek") == .vcekMismatch)
    }

    @Test func aTurinReportVerifiesWithItsFMCSPLAndEightByteHwID() throws {
        let turin = try report { bytes in
            bytes[0] = 3  // VERSION 3: CPUID fields present
            bytes[0x188] = 0x1A  // CPUID_FAM_ID: Turin
            bytes.replaceSubrange(0x180..<0x188, with: [1, 2, 3, 4, 0, 0, 0, 5])  // fmc bl tee snp … ucode
            bytes.replaceSubrange(0x1A8..<0x1E0, with: [UInt8](repeating: 0, count: 56))
        }
        #expect(turin.reportedTCB.isTurinLayout)
        #expect(turin.reportedTCB.fmc == 1)
        let verified = try verify(turin, leaf: "turin")
        #expect(verified.chain.tcb.fmc == 1)
        #expect(verified.chain.tcb.hardwareID?.count == 8)
        // A VCEK for this chip and these SPLs but without fmcSPL does not match the Turin report; the Milan-layout
        // VCEK (other hwID) does not either, nor the Turin VCEK a Milan report.
        do {
            _ = try verify(turin, leaf: "turinNoFMC")
            Issue.record("a Turin report verified with a VCEK without fmcSPL")
        } catch let error as AttestationError {
            #expect(error.code == .vcekMismatch)
            #expect(error.reason.contains("TCB extensions"), "\(error)")
        }
        #expect(try failure(turin) == .vcekMismatch)
        #expect(try failure(try report(), leaf: "turin") == .vcekMismatch)
    }

    @Test func anotherSignatureAlgorithmIsUnsupported() throws {
        #expect(try failure(try report { $0[0x34] = 2 }) == .unsupportedSNPReport)
    }

    @Test(arguments: ["pkcs1", "ask2048"])
    func chainsWithoutPSSOrRSA4096AreRejected(_ variant: String) throws {
        let pki = try pki()
        let ask = variant == "ask2048" ? "ask2048" : "ask"
        let leaf = variant == "pkcs1" ? "vcekPKCS1" : "vcek2048"
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            _ = try SNPVerifier.verifyChain(
                ark: try pki.certificate("ark"),
                ask: try pki.certificate(ask),
                vcek: try pki.certificate(leaf),
                at: Self.time,
                trustedARKs: [pki.arkFingerprint]
            )
        }
    }
}

/// The shared test PKI (TestSupport's `SNPTestPKI`) for the virtee Milan report's chip, with its ARK's fingerprint.
struct TestPKI: Sendable {
    let base: SNPTestPKI
    let arkFingerprint: String

    init() throws {
        let report = try Fixtures.quote("virtee-sev/report_milan.hex")
        let base = try SNPTestPKI(chipID: Array(report[0x1A0..<0x1E0]))
        let ark = try SNPVerifier.certificate(try base.pem("ark"), name: "ark")
        self.base = base
        self.arkFingerprint = Hex.encode(Digest.sha256(ark.der), prefix: false)
    }

    func certificate(_ name: String) throws -> X509Certificate {
        try SNPVerifier.certificate(try base.pem(name), name: name)
    }

    func sign(_ report: [UInt8]) throws -> [UInt8] { try base.sign(report) }
}
