import ChainCore
import Foundation
import PlaneCrypto
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

/// A test AMD-like PKI in a temporary directory, made with the openssl command line.
struct TestPKI: Sendable {
    let dir: URL
    let arkFingerprint: String

    init() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("delong-snp-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        func openssl(_ arguments: [String]) throws { try Self.openssl(arguments, in: dir) }
        func write(_ text: String, _ name: String) throws { try Self.write(text, name, in: dir) }
        let report = try Fixtures.quote("virtee-sev/report_milan.hex")
        let chipID = Array(report[0x1A0..<0x1E0])
        let pss = ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"]
        for (key, bits) in [("ark", 4096), ("ask", 4096), ("ask2048", 2048)] {
            try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)", "-out", "\(key).key"])
        }
        try openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "vcek.key"])
        try openssl(
            [
                "req", "-new", "-x509", "-key", "ark.key", "-subj", "/CN=DeLong Test ARK", "-days", "3650",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-out", "ark.pem",
            ] + pss
        )
        try write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n", "ca.ext")
        func spl(_ component: Int, _ value: Int) -> String {
            "1.3.6.1.4.1.3704.1.3.\(component)=DER:0201\(Hex.encode([UInt8(value)], prefix: false))\n"
        }
        let hwID = "1.3.6.1.4.1.3704.1.4=DER:\(Hex.encode(chipID, prefix: false))\n"
        // The Milan report's REPORTED_TCB: bl 3, tee 0, snp 8, ucode 115.
        let milan = spl(1, 3) + spl(2, 0) + spl(3, 8) + spl(8, 115)
        try write(milan + hwID, "vcek.ext")
        try write(milan, "vlek.ext")
        let turinHwID = "1.3.6.1.4.1.3704.1.4=DER:" + Hex.encode(chipID.prefix(8), prefix: false) + "\n"
        try write(spl(9, 1) + spl(1, 2) + spl(2, 3) + spl(3, 4) + spl(8, 5) + turinHwID, "turin.ext")
        try write(spl(1, 2) + spl(2, 3) + spl(3, 4) + spl(8, 5) + turinHwID, "turinNoFMC.ext")
        func issue(
            _ name: String,
            key: String,
            subject: String,
            by issuer: String,
            ext: String,
            _ sig: [String]
        )
            throws
        {
            try openssl(["req", "-new", "-key", "\(key).key", "-subj", subject, "-out", "\(name).csr"])
            try openssl(
                [
                    "x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key",
                    "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", "\(name).pem",
                ] + sig
            )
        }
        try issue("ask", key: "ask", subject: "/CN=DeLong Test ASK", by: "ark", ext: "ca.ext", pss)
        try issue("ask2048", key: "ask2048", subject: "/CN=DeLong Test ASK 2048", by: "ark", ext: "ca.ext", pss)
        try issue("vcek", key: "vcek", subject: "/CN=DeLong Test VCEK", by: "ask", ext: "vcek.ext", pss)
        try issue("vlek", key: "vcek", subject: "/CN=DeLong Test VLEK", by: "ask", ext: "vlek.ext", pss)
        try issue("turin", key: "vcek", subject: "/CN=DeLong Test Turin VCEK", by: "ask", ext: "turin.ext", pss)
        try issue(
            "turinNoFMC",
            key: "vcek",
            subject: "/CN=DeLong Test Turin VCEK",
            by: "ask",
            ext: "turinNoFMC.ext",
            pss
        )
        try issue("vcekPKCS1", key: "vcek", subject: "/CN=DeLong Test VCEK", by: "ask", ext: "vcek.ext", ["-sha384"])
        try issue("vcek2048", key: "vcek", subject: "/CN=DeLong Test VCEK", by: "ask2048", ext: "vcek.ext", pss)
        let ark = try X509Certificate.pemChain(try Self.read("ark.pem", in: dir))[0]
        self.dir = dir
        self.arkFingerprint = Hex.encode(Digest.sha256(ark.der), prefix: false)
    }

    func certificate(_ name: String) throws -> X509Certificate {
        try SNPVerifier.certificate(try Self.read("\(name).pem", in: dir), name: name)
    }

    /// `report` with bytes 0..<0x2A0 signed (ECDSA P-384, SHA-384) by the test leaf key, R and S stored as
    /// 72-byte little-endian fields at 0x2A0.
    func sign(_ report: [UInt8]) throws -> [UInt8] {
        let name = "tbs-\(UUID().uuidString)"
        try Data(report[0..<0x2A0]).write(to: dir.appendingPathComponent(name))
        try Self.openssl(["dgst", "-sha384", "-sign", "vcek.key", "-out", "\(name).sig", name], in: dir)
        let der = try Self.read("\(name).sig", in: dir)
        var signed = report
        var i = 2
        for field in 0..<2 {
            let length = Int(der[i + 1])
            var value = Array(der[(i + 2)..<(i + 2 + length)])
            while value.count > 48 { value.removeFirst() }
            let littleEndian = Array(value.reversed()) + [UInt8](repeating: 0, count: 72 - value.count)
            signed.replaceSubrange((0x2A0 + 72 * field)..<(0x2A0 + 72 * (field + 1)), with: littleEndian)
            i += 2 + length
        }
        return signed
    }

    private static func write(_ text: String, _ name: String, in dir: URL) throws {
        try Data(text.utf8).write(to: dir.appendingPathComponent(name))
    }

    private static func read(_ name: String, in dir: URL) throws -> [UInt8] {
        Array(try Data(contentsOf: dir.appendingPathComponent(name)))
    }

    private static func openssl(_ arguments: [String], in dir: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = dir
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        _ = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureMissing(
                description: "openssl \(arguments.joined(separator: " ")) failed: "
                    + String(decoding: errors, as: UTF8.self)
            )
        }
    }
}
