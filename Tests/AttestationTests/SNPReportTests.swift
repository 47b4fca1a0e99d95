import ChainCore
import Foundation
import PlaneCrypto
import Testing

@testable import Attestation

/// AMD SEV-SNP: the virtee/sev Milan report verifies with its VCEK and AMD's Milan chain; tampering, a foreign
/// chain, a time outside the VCEK's window and bad lengths are rejected with the right code.
@Suite struct SNPReportTests {
    /// Inside every window: VCEK 2023-04-03T19:23:43Z…2030-04-03T19:23:43Z, ASK and ARK 2020…2045.
    static let inWindow = "2025-01-01T00:00:00Z"

    static func report() throws -> [UInt8] { try Fixtures.quote("virtee-sev/report_milan.hex") }

    static func certificate(_ path: String) throws -> X509Certificate {
        try SNPVerifier.certificate(try Fixtures.bytes("virtee-sev/" + path), name: path)
    }

    static func milanChain() throws -> (vcek: X509Certificate, ask: X509Certificate, ark: X509Certificate) {
        (try certificate("vcek_milan.der"), try certificate("milan_ask.pem"), try certificate("milan_ark.pem"))
    }

    func failure(_ bytes: [UInt8], at time: String = inWindow) throws -> AttestationError? {
        let (vcek, ask, ark) = try Self.milanChain()
        do {
            let report = try SNPReport(bytes: bytes)
            _ = try SNPVerifier.verify(report, vcek: vcek, ask: ask, ark: ark, at: Fixtures.time(time))
            return nil
        } catch {
            return error
        }
    }

    @Test func milanReportVerifiesWithItsVCEKAndTheMilanChain() throws {
        let (vcek, ask, ark) = try Self.milanChain()
        let report = try SNPReport(bytes: try Self.report())
        let verified = try SNPVerifier.verify(report, vcek: vcek, ask: ask, ark: ark, at: Fixtures.time(Self.inWindow))
        #expect(verified.signingKey == .vcek)
        #expect(verified.chain.arkFingerprint == AMDRootKeys.milan)
        #expect(verified.chain.tcb.productName == "Milan-B0")
        #expect(verified.chain.tcb.hardwareID == report.chipID)
        #expect(verified.chain.tcb.fmc == nil)
        #expect(
            Hex.encode(verified.measurement, prefix: false)
                == "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
        )
        // SHA-256("snp" ‖ MEASUREMENT), computed independently with Python's hashlib.
        #expect(
            Hex.encode(verified.measurementDigest, prefix: false)
                == "c2b3756375d79e10809464d8c907d02b1901f973a787f0a9968afb73a8c63e75"
        )
    }

    /// Values from the MANIFEST, which agree with the independent Python reader omne-attest 0.1.0 (PyPI).
    @Test func milanReportFieldsMatchTheIndependentReader() throws {
        let report = try SNPReport(bytes: try Self.report())
        #expect(report.version == 2)
        #expect(report.guestSVN == 0)
        #expect(report.policy == 196608)
        #expect(!report.isDebugAllowed)
        #expect(report.vmpl == 0)
        #expect(report.signatureAlgorithm == 1)
        #expect(report.signingKey == 0)
        #expect(report.platformInfo == 1)
        #expect(report.reportedTCB.hex == "0300000000000873")
        #expect(report.reportedTCB.bootLoader == 3)
        #expect(report.reportedTCB.tee == 0)
        #expect(report.reportedTCB.snp == 8)
        #expect(report.reportedTCB.microcode == 115)
        #expect(report.reportedTCB.fmc == nil)
        #expect(report.currentTCB == report.reportedTCB)
        #expect(report.committedTCB == report.reportedTCB)
        #expect(report.launchTCB == report.reportedTCB)
        #expect(report.currentFirmware == (1, 52, 4))
        #expect(
            Hex.encode(report.reportData, prefix: false)
                == "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0"
                + "f3f8dae7b79fecb3d1cd82bd6a93ebfd"
        )
        #expect(report.hostData == [UInt8](repeating: 0, count: 32))
        #expect(report.familyID == [UInt8](repeating: 0, count: 16))
        #expect(report.idKeyDigest == [UInt8](repeating: 0, count: 48))
        #expect(
            Hex.encode(report.reportID, prefix: false)
                == "92b3b47d59f0a2a10a74c5678868a80238cf593c01a82f3cffb878e904c28d5b"
        )
        #expect(
            Hex.encode(report.chipID, prefix: false)
                == "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e24"
                + "4324884738c72b082e2f87a44d541eb6"
        )
    }

    /// virtee/sev's `milan_report_invalid`: byte 21 (inside FAMILY_ID) flipped.
    @Test func flippingByte21BreaksTheSignature() throws {
        var bytes = try Self.report()
        bytes[21] ^= 0x01
        let error = try #require(try failure(bytes))
        #expect(error.code == .snpReportSignatureInvalid)
    }

    @Test(arguments: [0x2A0, 0x2A0 + 47, 0x2A0 + 72, 0x2A0 + 72 + 20])
    func flippingASignatureByteIsRejected(_ offset: Int) throws {
        var bytes = try Self.report()
        bytes[offset] ^= 0x01
        let error = try #require(try failure(bytes))
        #expect(error.code == .snpReportSignatureInvalid)
    }

    @Test func signatureHighBytesMustBeZero() throws {
        var bytes = try Self.report()
        bytes[0x2A0 + 60] = 0x01
        let error = try #require(try failure(bytes))
        #expect(error.code == .malformedSNPReport)
    }

    @Test func theGenoaChainDoesNotVerifyTheMilanVCEK() throws {
        let vcek = try Self.certificate("vcek_milan.der")
        let ask = try Self.certificate("genoa_ask.pem")
        let ark = try Self.certificate("genoa_ark.pem")
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            _ = try SNPVerifier.verifyChain(ark: ark, ask: ask, vcek: vcek, at: Fixtures.time(Self.inWindow))
        }
        // Nor a Milan ASK under the Genoa ARK.
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            _ = try SNPVerifier.verifyChain(
                ark: ark,
                ask: try Self.certificate("milan_ask.pem"),
                vcek: vcek,
                at: Fixtures.time(Self.inWindow)
            )
        }
    }

    @Test func anARKOutsideTheTrustedSetIsRejected() throws {
        let (vcek, ask, ark) = try Self.milanChain()
        do {
            _ = try SNPVerifier.verifyChain(
                ark: ark,
                ask: ask,
                vcek: vcek,
                at: Fixtures.time(Self.inWindow),
                trustedARKs: [AMDRootKeys.genoa, AMDRootKeys.turin]
            )
            Issue.record("a Milan ARK outside the trusted set verified")
        } catch {
            #expect(error.code == .certificateChainInvalid)
            #expect(error.reason.contains(AMDRootKeys.milan))
        }
    }

    @Test(arguments: ["2023-04-03T19:23:42Z", "2030-04-03T19:23:44Z", "2046-01-01T00:00:00Z"])
    func timesOutsideTheVCEKWindowAreRejected(_ time: String) throws {
        let error = try #require(try failure(try Self.report(), at: time))
        #expect(error.code == .outsideValidityWindow)
    }

    @Test func theVCEKWindowIsInclusive() throws {
        #expect(try failure(try Self.report(), at: "2023-04-03T19:23:43Z") == nil)
        #expect(try failure(try Self.report(), at: "2030-04-03T19:23:43Z") == nil)
    }

    @Test(arguments: [0, 1, 0x2A0, 1183, 1185, 4096])
    func wrongLengthsFailCleanlyNamingExpectedAndFound(_ count: Int) throws {
        let full = try Self.report()
        let bytes =
            count <= full.count ? Array(full.prefix(count)) : full + [UInt8](repeating: 0, count: count - full.count)
        do {
            _ = try SNPReport(bytes: bytes)
            Issue.record("a \(count)-byte report parsed")
        } catch {
            #expect(error.code == .malformedSNPReport)
            #expect(error.reason.contains("expected 1184 bytes, found \(count)"), "\(error)")
        }
    }

    @Test func aVersion1ReportIsMalformed() throws {
        var bytes = try Self.report()
        bytes[0] = 1
        #expect(throws: AttestationError(.malformedSNPReport, "")) { _ = try SNPReport(bytes: bytes) }
    }

    @Test func theTurinVCEKChainVerifiesWithItsFMCSPL() throws {
        let vcek = try Self.certificate("vcek_turin.der")
        let ask = try Self.certificate("turin_ask.pem")
        let ark = try Self.certificate("turin_ark.pem")
        let chain = try SNPVerifier.verifyChain(
            ark: ark,
            ask: ask,
            vcek: vcek,
            at: Fixtures.time("2026-01-01T00:00:00Z")
        )
        #expect(chain.arkFingerprint == AMDRootKeys.turin)
        #expect(chain.tcb.productName == "Turin")
        #expect(chain.tcb.fmc == 0)
        #expect(chain.tcb.bootLoader == 0)
        #expect(chain.tcb.tee == 0)
        #expect(chain.tcb.snp == 0)
        #expect(chain.tcb.microcode == 9)
        #expect(chain.tcb.hardwareID.map { Hex.encode($0, prefix: false) } == "1e550a8ee5cf9f4d")
        // The Turin VCEK does not chain to the Milan ASK.
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            _ = try SNPVerifier.verifyChain(
                ark: try Self.certificate("milan_ark.pem"),
                ask: try Self.certificate("milan_ask.pem"),
                vcek: vcek,
                at: Fixtures.time("2026-01-01T00:00:00Z")
            )
        }
    }

    @Test func theMilanReportDoesNotVerifyWithTheTurinVCEK() throws {
        let chain = try SNPVerifier.verifyChain(
            ark: try Self.certificate("turin_ark.pem"),
            ask: try Self.certificate("turin_ask.pem"),
            vcek: try Self.certificate("vcek_turin.der"),
            at: Fixtures.time("2026-01-01T00:00:00Z")
        )
        #expect(throws: AttestationError(.snpReportSignatureInvalid, "")) {
            _ = try SNPVerifier.verify(try SNPReport(bytes: try Self.report()), chain: chain)
        }
    }

    @Test func turinTCBLayoutPutsFMCInByteZero() {
        // fmc 1, bl 2, tee 3, snp 4, ucode 0x55 (little-endian bytes 01 02 03 04 00 00 00 55).
        let tcb = SNPTCBVersion(raw: 0x5500_0000_0403_0201, turin: true)
        #expect(tcb.fmc == 1)
        #expect(tcb.bootLoader == 2)
        #expect(tcb.tee == 3)
        #expect(tcb.snp == 4)
        #expect(tcb.microcode == 0x55)
        #expect(tcb.hex == "0102030400000055")
        let milan = SNPTCBVersion(raw: 0x5500_0000_0403_0201, turin: false)
        #expect(milan.fmc == nil)
        #expect(milan.bootLoader == 1)
        #expect(milan.tee == 2)
        #expect(milan.snp == 0)
        #expect(milan.microcode == 0x55)
    }

    @Test func splExtensionsAreSmallDERIntegers() {
        #expect(SNPVerifier.derSmallInteger([0x02, 0x01, 0x73]) == 115)
        #expect(SNPVerifier.derSmallInteger([0x02, 0x02, 0x00, 0x80]) == 128)
        #expect(SNPVerifier.derSmallInteger([0x02, 0x01, 0x80]) == nil)  // negative
        #expect(SNPVerifier.derSmallInteger([0x02, 0x02, 0x01, 0x00]) == nil)  // 256
        #expect(SNPVerifier.derSmallInteger([0x04, 0x01, 0x01]) == nil)  // not an INTEGER
        #expect(SNPVerifier.derSmallInteger([0x02, 0x05, 0x01]) == nil)  // length beyond the bytes
    }
}
