import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

@testable import Attestation

/// Revocation end to end with a test PKI made by the openssl command line: a test root (passed as the trust
/// anchor instead of Intel's), a PCK CA whose CRL lists the PCK certificate, and a real quote whose PCK chain
/// is replaced by the test chain. Revocation is checked before the QE report signature, so the revoked leaf
/// fails with certificate-revoked, while the same leaf on a CRL that does not list it gets past revocation and
/// fails later, at the QE report signature (the real PCK key signed that report, not the test leaf's).
/// The same kind of test PKI pins who may sign collateral: only a certificate shaped like Intel's TCB signing
/// certificate signs TCB Info and QE Identity, and only a PCK CA by subject signs the PCK CRL.
@Suite struct RevocationTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("delong-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    @discardableResult
    func openssl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = dir
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureMissing(description: "openssl \(arguments.joined(separator: " ")) failed")
        }
        return String(decoding: data, as: UTF8.self)
    }

    func write(_ text: String, _ name: String) throws {
        try Data(text.utf8).write(to: dir.appendingPathComponent(name))
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: dir.appendingPathComponent(name))) }

    func text(_ name: String) throws -> String { String(decoding: try read(name), as: UTF8.self) }

    /// A CA database for `openssl ca` (revocation and CRLs).
    func caConfig(_ name: String) throws {
        try write("", "\(name).index")
        try write("01\n", "\(name).crlnumber")
        try write(
            """
            [ca]
            default_ca = d
            [d]
            database = \(name).index
            crlnumber = \(name).crlnumber
            default_md = sha256
            default_crl_days = 30
            """,
            "\(name).cnf"
        )
    }

    func crl(_ name: String, key: String, cert: String) throws -> String {
        try openssl([
            "ca", "-config", "\(name).cnf", "-keyfile", key, "-cert", cert, "-gencrl", "-out", "\(name).crl.pem",
        ])
        try openssl(["crl", "-in", "\(name).crl.pem", "-outform", "DER", "-out", "\(name).crl.der"])
        return Hex.encode(try read("\(name).crl.der"), prefix: false)
    }

    /// ECDSA signature by `key` over `file` as raw r ‖ s.
    func sign(_ json: String, key: String) throws -> String {
        try write(json, "tbs.json")
        try openssl(["dgst", "-sha256", "-sign", key, "-out", "sig.der", "tbs.json"])
        let der = try read("sig.der")
        var i = 2
        var parts: [[UInt8]] = []
        for _ in 0..<2 {
            let length = Int(der[i + 1])
            var value = Array(der[(i + 2)..<(i + 2 + length)])
            while value.count > 32 { value.removeFirst() }
            parts.append([UInt8](repeating: 0, count: 32 - value.count) + value)
            i += 2 + length
        }
        return Hex.encode(parts[0] + parts[1], prefix: false)
    }

    /// Issues `name`.pem for `name`.key with `subject`, signed by `issuer`, with the extensions in the file `ext`.
    func issue(_ name: String, subject: String, by issuer: String, ext: String) throws {
        try openssl(["req", "-new", "-key", "\(name).key", "-subj", subject, "-out", "\(name).csr"])
        try openssl([
            "x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key",
            "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", "\(name).pem",
        ])
    }

    @Test func aRevokedPCKCertificateIsRejectedAndAnUnlistedOneIsNot() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let realQuote = try Fixtures.quote("dcap-qvl/tdx_quote")
        let parsed = try TDXQuote(bytes: realQuote)
        let realLeaf = try X509Certificate.pemChain(parsed.signature.pckChainPEM)[0]
        let sgxExtension = try #require(realLeaf.extensionValue(oid: PCKExtensions.oid))

        for key in ["root", "pck", "leaf", "tcb"] {
            try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "\(key).key"])
        }
        try openssl([
            "req", "-new", "-x509", "-key", "root.key", "-subj", "/CN=DeLong Test Root CA", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", "root.pem",
        ])
        try write("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n", "ca.ext")
        try write("keyUsage=critical,digitalSignature\n", "signer.ext")
        try write(
            "keyUsage=critical,digitalSignature\n1.2.840.113741.1.13.1=DER:\(Hex.encode(sgxExtension, prefix: false))\n",
            "leaf.ext"
        )
        try issue("pck", subject: "/CN=Intel SGX PCK Platform CA", by: "root", ext: "ca.ext")
        try issue("tcb", subject: "/CN=Intel SGX TCB Signing", by: "root", ext: "signer.ext")
        try issue("leaf", subject: "/CN=DeLong Test PCK Certificate", by: "pck", ext: "leaf.ext")
        let root = try text("root.pem")
        let pck = try text("pck.pem")
        let tcbSigner = try text("tcb.pem")
        let anchor = try X509Certificate.pemChain(Array(root.utf8))[0]

        try caConfig("rootca")
        let rootCRL = try crl("rootca", key: "root.key", cert: "root.pem")
        try caConfig("pckca")
        let cleanPCKCRL = try crl("pckca", key: "pck.key", cert: "pck.pem")
        try openssl(["ca", "-config", "pckca.cnf", "-keyfile", "pck.key", "-cert", "pck.pem", "-revoke", "leaf.pem"])
        let revokingPCKCRL = try crl("pckca", key: "pck.key", cert: "pck.pem")

        // The fixture's TCB Info and QE Identity with a window around now, signed by the test TCB signer.
        let fixture = try #require(
            try JSONSerialization.jsonObject(with: Data(try Fixtures.bytes(Fixtures.tdx))) as? [String: Any]
        )
        func widen(_ json: String) -> String {
            json.replacingOccurrences(
                of: #""issueDate":"[^"]*","nextUpdate":"[^"]*""#,
                with: #""issueDate":"2020-01-01T00:00:00Z","nextUpdate":"2099-01-01T00:00:00Z""#,
                options: .regularExpression
            )
        }
        let tcbInfo = widen(try #require(fixture["tcb_info"] as? String))
        let qeIdentity = widen(try #require(fixture["qe_identity"] as? String))
        func collateral(pckCRL: String) throws -> QuoteCollateral {
            let object: [String: Any] = [
                "pck_crl_issuer_chain": pck + root, "root_ca_crl": rootCRL, "pck_crl": pckCRL,
                "tcb_info_issuer_chain": tcbSigner + root, "tcb_info": tcbInfo,
                "tcb_info_signature": try sign(tcbInfo, key: "tcb.key"),
                "qe_identity_issuer_chain": tcbSigner + root, "qe_identity": qeIdentity,
                "qe_identity_signature": try sign(qeIdentity, key: "tcb.key"),
            ]
            return try QuoteCollateral(json: Array(try JSONSerialization.data(withJSONObject: object)))
        }

        // The real quote with the test PCK chain spliced in (lengths adjusted).
        let chain = Array((try text("leaf.pem") + pck + root).utf8)
        let signatureStart = parsed.signedLength + 4
        let inner = signatureStart + 128 + 6 + 384 + 64 + 2 + parsed.signature.qeAuthData.count
        func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        var quote = Array(realQuote[0..<(inner + 2)]) + le32(chain.count) + chain
        quote.replaceSubrange(
            parsed.signedLength..<(parsed.signedLength + 4),
            with: le32(quote.count - signatureStart)
        )
        quote.replaceSubrange(
            (signatureStart + 130)..<(signatureStart + 134),
            with: le32(quote.count - (signatureStart + 134))
        )
        #expect(try TDXQuote(bytes: quote).signature.pckChainPEM == chain)

        let now = Date()
        let revoked = try DCAPVerifier.prepare(try collateral(pckCRL: revokingPCKCRL), trustAnchor: anchor)
        #expect(revoked.collateral.pckCRL.revokedCount == 1)
        #expect(throws: AttestationError(.certificateRevoked, "")) {
            try DCAPVerifier.verify(quote: quote, collateral: revoked, at: now)
        }
        let clean = try DCAPVerifier.prepare(try collateral(pckCRL: cleanPCKCRL), trustAnchor: anchor)
        #expect(throws: AttestationError(.qeReportSignatureInvalid, "")) {
            try DCAPVerifier.verify(quote: quote, collateral: clean, at: now)
        }
        // The same collateral does not verify to Intel's root.
        #expect(throws: AttestationError(.certificateChainInvalid, "")) {
            try DCAPVerifier.prepare(try collateral(pckCRL: cleanPCKCRL))
        }
    }

    /// Collateral with the fixture's TCB Info and QE Identity (window widened to around now), each signed by the
    /// given key with the given issuer chain, and a PCK CRL by `pckCA`.
    func collateral(
        tcbChain: String,
        tcbKey: String,
        qeChain: String? = nil,
        qeKey: String? = nil,
        pckCA: String = "pck"
    ) throws -> QuoteCollateral {
        let fixture = try #require(
            try JSONSerialization.jsonObject(with: Data(try Fixtures.bytes(Fixtures.tdx))) as? [String: Any]
        )
        func widen(_ json: String) -> String {
            json.replacingOccurrences(
                of: #""issueDate":"[^"]*","nextUpdate":"[^"]*""#,
                with: #""issueDate":"2020-01-01T00:00:00Z","nextUpdate":"2099-01-01T00:00:00Z""#,
                options: .regularExpression
            )
        }
        let root = try text("root.pem")
        let tcbInfo = widen(try #require(fixture["tcb_info"] as? String))
        let qeIdentity = widen(try #require(fixture["qe_identity"] as? String))
        try caConfig("rootca")
        try caConfig(pckCA + "ca")
        let object: [String: Any] = [
            "pck_crl_issuer_chain": try text("\(pckCA).pem") + root,
            "root_ca_crl": try crl("rootca", key: "root.key", cert: "root.pem"),
            "pck_crl": try crl(pckCA + "ca", key: "\(pckCA).key", cert: "\(pckCA).pem"),
            "tcb_info_issuer_chain": tcbChain, "tcb_info": tcbInfo,
            "tcb_info_signature": try sign(tcbInfo, key: tcbKey),
            "qe_identity_issuer_chain": qeChain ?? tcbChain, "qe_identity": qeIdentity,
            "qe_identity_signature": try sign(qeIdentity, key: qeKey ?? tcbKey),
        ]
        return try QuoteCollateral(json: Array(try JSONSerialization.data(withJSONObject: object)))
    }

    @Test func onlyIntelsTCBSigningCertificateMaySignTCBInfoAndQEIdentity() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let realQuote = try Fixtures.quote("dcap-qvl/tdx_quote")
        let realLeaf = try X509Certificate.pemChain(try TDXQuote(bytes: realQuote).signature.pckChainPEM)[0]
        let sgxExtension = try #require(realLeaf.extensionValue(oid: PCKExtensions.oid))
        for key in ["root", "pck", "tcb", "leaf", "named", "tagged", "ca", "stranger", "otherca"] {
            try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "\(key).key"])
        }
        try openssl([
            "req", "-new", "-x509", "-key", "root.key", "-subj", "/CN=DeLong Test Root CA", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", "root.pem",
        ])
        try write("basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n", "ca.ext")
        try write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n", "signer.ext")
        try write(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                + "1.2.840.113741.1.13.1=DER:\(Hex.encode(sgxExtension, prefix: false))\n",
            "pckleaf.ext"
        )
        try write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\n", "sca.ext")
        try issue("pck", subject: "/CN=Intel SGX PCK Platform CA", by: "root", ext: "ca.ext")
        try issue("tcb", subject: "/CN=Intel SGX TCB Signing/O=Intel Corporation", by: "root", ext: "signer.ext")
        // A PCK-like certificate: issued by the PCK CA, carrying the SGX extension, an end entity.
        try issue("leaf", subject: "/CN=Intel SGX PCK Certificate", by: "pck", ext: "pckleaf.ext")
        // The TCB signer's name on a certificate the PCK CA issued.
        try issue("named", subject: "/CN=Intel SGX TCB Signing", by: "pck", ext: "signer.ext")
        // The TCB signer's name and issuer, but with the PCK extension.
        try issue("tagged", subject: "/CN=Intel SGX TCB Signing", by: "root", ext: "pckleaf.ext")
        // The TCB signer's name and issuer, but a CA.
        try issue("ca", subject: "/CN=Intel SGX TCB Signing", by: "root", ext: "sca.ext")
        // A well-formed signer under the root with another name.
        try issue("stranger", subject: "/CN=DeLong Test TCB Signing", by: "root", ext: "signer.ext")
        // A CA under the root that is not a PCK CA by subject.
        try issue("otherca", subject: "/CN=DeLong Test PCK CA", by: "root", ext: "ca.ext")
        let root = try text("root.pem")
        let pck = try text("pck.pem")
        let anchor = try X509Certificate.pemChain(Array(root.utf8))[0]
        func refusal(_ collateral: QuoteCollateral) -> AttestationError? {
            do {
                _ = try DCAPVerifier.prepare(collateral, trustAnchor: anchor)
                return nil
            } catch { return error }
        }

        // Intel's shape verifies, with or without the root at the end of the chain.
        let tcb = try text("tcb.pem")
        #expect(refusal(try collateral(tcbChain: tcb + root, tcbKey: "tcb.key")) == nil)
        #expect(refusal(try collateral(tcbChain: tcb, tcbKey: "tcb.key")) == nil)

        let cases: [(what: String, chain: String, key: String, reason: String)] = [
            ("a PCK certificate", try text("leaf.pem") + pck + root, "leaf.key", "subject CN"),
            ("the name under the PCK CA", try text("named.pem") + pck + root, "named.key", "issued directly by"),
            ("the name with the PCK extension", try text("tagged.pem") + root, "tagged.key", "PCK extension"),
            ("the name on a CA", try text("ca.pem") + root, "ca.key", "end entity"),
            ("another name under the root", try text("stranger.pem") + root, "stranger.key", "Intel SGX TCB Signing"),
        ]
        for (what, chain, key, reason) in cases {
            let onTCBInfo = try #require(refusal(try collateral(tcbChain: chain, tcbKey: key)), "\(what)")
            #expect(onTCBInfo.code == .certificateChainInvalid, "\(what)")
            #expect(onTCBInfo.reason.hasPrefix("TCB Info issuer chain"), "\(what): \(onTCBInfo)")
            #expect(onTCBInfo.reason.contains(reason), "\(what): \(onTCBInfo)")
            let onQE = try #require(
                refusal(
                    try collateral(tcbChain: tcb + root, tcbKey: "tcb.key", qeChain: chain, qeKey: key)
                ),
                "\(what)"
            )
            #expect(onQE.code == .certificateChainInvalid, "\(what)")
            #expect(onQE.reason.hasPrefix("QE Identity issuer chain"), "\(what): \(onQE)")
        }

        // The PCK CRL is signed by its issuer, but the issuer is not a PCK CA by subject.
        let otherCA = try #require(refusal(try collateral(tcbChain: tcb + root, tcbKey: "tcb.key", pckCA: "otherca")))
        #expect(otherCA.code == .certificateChainInvalid)
        #expect(otherCA.reason.contains("Intel SGX PCK Platform CA"), "\(otherCA)")
        #expect(otherCA.reason.contains("DeLong Test PCK CA"), "\(otherCA)")
    }
}
