import ChainCore
public import Foundation
public import PlaneCrypto

/// The AMD Root Keys (ARKs) this module trusts by default, pinned by the SHA-256 of their DER encoding.
///
/// Each is AMD's self-signed RSA-4096 root for one processor family (subject `CN=ARK-<family>, O=Advanced Micro
/// Devices`), as published by AMD's Key Distribution Service and shipped by virtee/sev (`src/certs/snp/builtin/
/// <family>/ark.pem`); the fingerprints were taken from those files. Only fingerprints are embedded: the ARK
/// certificate itself comes with the evidence and must hash to one of these.
public enum AMDRootKeys {
    /// ARK-Milan, 2020-10-22…2045-10-22.
    public static let milan = "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd"
    /// ARK-Genoa, 2022-01-26…2047-01-26.
    public static let genoa = "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1"
    /// ARK-Turin, 2023-05-15…2048-05-15.
    public static let turin = "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a"
    /// Milan, Genoa and Turin: the default set of ``SNPVerifier/verifyChain(ark:ask:vcek:at:trustedARKs:)``.
    public static let all: Set<String> = [milan, genoa, turin]
}

/// The SPLs and hardware ID an AMD VCEK/VLEK certificate was issued for (its AMD extensions).
public struct SNPCertificateTCB: Sendable, Hashable {
    /// blSPL (1.3.6.1.4.1.3704.1.3.1).
    public let bootLoader: UInt8
    /// teeSPL (…3.2).
    public let tee: UInt8
    /// snpSPL (…3.3).
    public let snp: UInt8
    /// ucodeSPL (…3.8).
    public let microcode: UInt8
    /// fmcSPL (…3.9), present on Turin certificates only.
    public let fmc: UInt8?
    /// hwID (1.3.6.1.4.1.3704.1.4): the chip ID (64 bytes on Milan/Genoa, 8 on Turin); nil in a VLEK.
    public let hardwareID: [UInt8]?
    /// productName (1.3.6.1.4.1.3704.1.2), e.g. `Milan-B0` or `Turin`, when present.
    public let productName: String?
}

/// An AMD certificate chain ARK → ASK (or ASVK) → VCEK (or VLEK) whose signatures, algorithms, key sizes and
/// validity windows were checked at one time. Only ``SNPVerifier/verifyChain(ark:ask:vcek:at:trustedARKs:)``
/// makes one.
public struct VerifiedAMDChain: Sendable {
    /// The root (self-signed, pinned by fingerprint).
    public let ark: X509Certificate
    /// The intermediate (ASK, or ASVK for a VLEK).
    public let ask: X509Certificate
    /// The leaf whose P-384 key signs reports.
    public let vcek: X509Certificate
    /// SHA-256 of the ARK's DER, lower-case hex (one of the trusted set).
    public let arkFingerprint: String
    /// The leaf's AMD extensions.
    public let tcb: SNPCertificateTCB
    /// The evaluation time (seconds since the Unix epoch).
    public let time: Int64

    fileprivate init(
        ark: X509Certificate,
        ask: X509Certificate,
        vcek: X509Certificate,
        arkFingerprint: String,
        tcb: SNPCertificateTCB,
        time: Int64
    ) {
        self.ark = ark
        self.ask = ask
        self.vcek = vcek
        self.arkFingerprint = arkFingerprint
        self.tcb = tcb
        self.time = time
    }
}

/// A SEV-SNP report whose signature verified with a verified AMD chain and whose chip ID, TCB and debug policy
/// were checked. Only ``SNPVerifier`` makes one.
public struct VerifiedSNPReport: Sendable {
    /// Which key signed the report.
    public enum SigningKey: String, Sendable {
        /// A Versioned Chip Endorsement Key: bound to one chip (hwID = CHIP_ID) and its TCB.
        case vcek
        /// A Versioned Loaded Endorsement Key: issued to a cloud provider, not bound to a chip.
        case vlek
    }

    /// The verified report.
    public let report: SNPReport
    /// Which key signed it.
    public let signingKey: SigningKey
    /// The chain it verified with.
    public let chain: VerifiedAMDChain

    /// MEASUREMENT (48 bytes): the launch digest of the guest's initial memory and VMSAs.
    public var measurement: [UInt8] { report.measurement }
    /// REPORT_DATA (64 bytes).
    public var reportData: [UInt8] { report.reportData }
    /// CHIP_ID (64 bytes).
    public var chipID: [UInt8] { report.chipID }
    /// REPORTED_TCB (equal to the VCEK's SPL extensions).
    public var reportedTCB: SNPTCBVersion { report.reportedTCB }
    /// The guest policy.
    public var policy: UInt64 { report.policy }
    /// The VM privilege level that requested the report.
    public var vmpl: UInt32 { report.vmpl }
    /// HOST_DATA (32 bytes).
    public var hostData: [UInt8] { report.hostData }

    /// SHA-256(`"snp"` ‖ MEASUREMENT): the digest the on-chain AlgorithmRegistry allow-list (`MeasurementTrusted`)
    /// names for an SEV-SNP runner. The ASCII prefix keeps it apart from TDX digests (SHA-256 of 192 or 240 bytes
    /// of MRTD ‖ RTMRs), so a value allowed for one technology can never match the other.
    public var measurementDigest: [UInt8] { Digest.sha256(Array("snp".utf8) + report.measurement) }

    fileprivate init(report: SNPReport, signingKey: SigningKey, chain: VerifiedAMDChain) {
        self.report = report
        self.signingKey = signingKey
        self.chain = chain
    }
}

/// AMD SEV-SNP report verification, offline: the AMD chain at a caller-supplied time, then the report.
///
/// Pure: no network, no clock. Revocation (AMD's CRL for ASK/VCEK) and minimum TCB levels are not checked here;
/// see docs/attestation.md.
public enum SNPVerifier {
    static let oidProductName = "1.3.6.1.4.1.3704.1.2"
    static let oidBootLoader = "1.3.6.1.4.1.3704.1.3.1"
    static let oidTEE = "1.3.6.1.4.1.3704.1.3.2"
    static let oidSNP = "1.3.6.1.4.1.3704.1.3.3"
    static let oidMicrocode = "1.3.6.1.4.1.3704.1.3.8"
    static let oidFMC = "1.3.6.1.4.1.3704.1.3.9"
    static let oidHardwareID = "1.3.6.1.4.1.3704.1.4"

    /// Verifies ARK (self-signed, RSA-4096, fingerprint in `trustedARKs`) → ASK (RSA-4096) → VCEK/VLEK (P-384),
    /// every signature RSASSA-PSS with SHA-384, every certificate valid at `time`, and reads the leaf's AMD
    /// extensions.
    public static func verifyChain(
        ark: X509Certificate,
        ask: X509Certificate,
        vcek: X509Certificate,
        at time: Date,
        trustedARKs: Set<String> = AMDRootKeys.all
    ) throws(AttestationError) -> VerifiedAMDChain {
        let now = Int64(time.timeIntervalSince1970.rounded(.down))
        let fingerprint = Hex.encode(Digest.sha256(ark.der), prefix: false)
        guard trustedARKs.contains(fingerprint) else {
            throw AttestationError(
                .certificateChainInvalid,
                "ARK \(ark.subject): expected a trusted AMD root (SHA-256 of Milan, Genoa or Turin ARK), "
                    + "found SHA-256 \(fingerprint)"
            )
        }
        for (name, certificate, isCA) in [("ARK", ark, true), ("ASK", ask, true), ("VCEK", vcek, false)] {
            guard let algorithm = certificate.signatureAlgorithm, algorithm.digest == "SHA384",
                algorithm.keyType == "RSASSA-PSS"
            else {
                let found = certificate.signatureAlgorithm.map { "\($0.keyType) with \($0.digest)" } ?? "unknown"
                throw AttestationError(
                    .certificateChainInvalid,
                    "\(name) \(certificate.subject): expected an RSASSA-PSS SHA-384 signature, found \(found)"
                )
            }
            if isCA {
                guard certificate.rsaPublicKeyBits == 4096 else {
                    throw AttestationError(
                        .certificateChainInvalid,
                        "\(name) \(certificate.subject): expected an RSA-4096 key, found "
                            + (certificate.rsaPublicKeyBits.map { "RSA-\($0)" } ?? "a non-RSA key")
                    )
                }
            } else {
                guard certificate.hasP384PublicKey else {
                    throw AttestationError(
                        .certificateChainInvalid,
                        "\(name) \(certificate.subject): expected an EC P-384 key, found another key type"
                    )
                }
            }
        }
        for (name, certificate, issuer) in [("ARK", ark, ark), ("ASK", ask, ark), ("VCEK", vcek, ask)] {
            guard certificate.isSigned(by: issuer) else {
                throw AttestationError(
                    .certificateChainInvalid,
                    "\(name) \(certificate.subject): expected a signature by \(issuer.subject), found issuer "
                        + "\(certificate.issuer) with a signature that does not verify"
                )
            }
        }
        for (name, certificate) in [("ARK", ark), ("ASK", ask), ("VCEK", vcek)] {
            guard certificate.isValid(at: now) else {
                throw AttestationError(
                    .outsideValidityWindow,
                    "\(name) \(certificate.subject): expected \(now) in \(certificate.notBefore)…"
                        + "\(certificate.notAfter) (Unix seconds), found outside"
                )
            }
        }
        let tcb = try certificateTCB(vcek)
        return VerifiedAMDChain(ark: ark, ask: ask, vcek: vcek, arkFingerprint: fingerprint, tcb: tcb, time: now)
    }

    /// Verifies `report` with a verified chain: ECDSA P-384/SHA-384 signature over bytes 0..<0x2A0 by the leaf's
    /// key; for a VCEK its hwID equals CHIP_ID; the leaf's SPL extensions equal REPORTED_TCB; POLICY's debug bit
    /// is clear unless `allowDebug`.
    public static func verify(
        _ report: SNPReport,
        chain: VerifiedAMDChain,
        allowDebug: Bool = false
    ) throws(AttestationError) -> VerifiedSNPReport {
        guard report.signatureAlgorithm == SNPReport.ecdsaP384SHA384 else {
            throw AttestationError(
                .unsupportedSNPReport,
                "SEV-SNP report: expected SIGNATURE_ALGO 1 (ECDSA P-384 SHA-384), found \(report.signatureAlgorithm)"
            )
        }
        let signingKey: VerifiedSNPReport.SigningKey
        switch report.signingKey {
        case 0: signingKey = .vcek
        case 1: signingKey = .vlek
        default:
            throw AttestationError(
                .unsupportedSNPReport,
                "SEV-SNP report: expected SIGNING_KEY 0 (VCEK) or 1 (VLEK), found \(report.signingKey)"
            )
        }
        guard
            chain.vcek.isValidP384Signature(
                rawRS: report.signatureR + report.signatureS,
                for: Array(report.signedBytes)
            )
        else {
            throw AttestationError(
                .snpReportSignatureInvalid,
                "SEV-SNP report: expected an ECDSA P-384 SHA-384 signature by \(chain.vcek.subject) over bytes "
                    + "0..<0x2A0, found one that does not verify"
            )
        }
        let cert = chain.tcb
        // A VCEK names its chip (hwID); a VLEK does not. Whenever the certificate names a chip, it must be this one.
        if signingKey == .vcek && cert.hardwareID == nil {
            throw AttestationError(
                .vcekMismatch,
                "VCEK: expected a hwID extension (1.3.6.1.4.1.3704.1.4) for a VCEK-signed report, found none"
            )
        }
        if let hardwareID = cert.hardwareID {
            // Turin's hwID is 8 bytes: the leading bytes of a CHIP_ID whose rest is zero.
            let chip = report.chipID
            guard !hardwareID.isEmpty, hardwareID.count <= chip.count,
                chip.prefix(hardwareID.count).elementsEqual(hardwareID),
                chip.dropFirst(hardwareID.count).allSatisfy({ $0 == 0 })
            else {
                throw AttestationError(
                    .vcekMismatch,
                    "VCEK hwID: expected the report's CHIP_ID \(Hex.encode(chip, prefix: false)), found \(Hex.encode(hardwareID, prefix: false))"
                )
            }
        }
        let reported = report.reportedTCB
        guard
            cert.bootLoader == reported.bootLoader, cert.tee == reported.tee, cert.snp == reported.snp,
            cert.microcode == reported.microcode, cert.fmc == reported.fmc
        else {
            let certText =
                (cert.fmc.map { "fmc \($0) " } ?? "")
                + "bl \(cert.bootLoader) tee \(cert.tee) snp \(cert.snp) ucode \(cert.microcode)"
            throw AttestationError(
                .vcekMismatch,
                "\(signingKey.rawValue.uppercased()) TCB extensions: expected the report's REPORTED_TCB \(reported) "
                    + "(\(reported.hex)), found \(certText)"
            )
        }
        if report.isDebugAllowed && !allowDebug {
            throw AttestationError(
                .debugGuest,
                "SEV-SNP report: expected POLICY bit 19 (DEBUG) clear, found policy 0x\(String(report.policy, radix: 16))"
            )
        }
        return VerifiedSNPReport(report: report, signingKey: signingKey, chain: chain)
    }

    /// Verifies the chain at `time` (see ``verifyChain(ark:ask:vcek:at:trustedARKs:)``), then `report` with it.
    public static func verify(
        _ report: SNPReport,
        vcek: X509Certificate,
        ask: X509Certificate,
        ark: X509Certificate,
        at time: Date,
        trustedARKs: Set<String> = AMDRootKeys.all,
        allowDebug: Bool = false
    ) throws(AttestationError) -> VerifiedSNPReport {
        let chain = try verifyChain(ark: ark, ask: ask, vcek: vcek, at: time, trustedARKs: trustedARKs)
        return try verify(report, chain: chain, allowDebug: allowDebug)
    }

    /// One certificate from DER or PEM bytes (the first PEM block), as AMD's KDS serves them (VCEK DER, ASK/ARK
    /// PEM). Fails with ``AttestationError/Code/malformedCollateral``.
    public static func certificate(_ bytes: [UInt8], name: String) throws(AttestationError) -> X509Certificate {
        do {
            if bytes.first == 0x30 { return try X509Certificate(der: bytes) }
            guard let first = try X509Certificate.pemChain(bytes).first else {
                throw AttestationError(
                    .malformedCollateral,
                    "\(name): expected a DER or PEM certificate, found neither"
                )
            }
            return first
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.malformedCollateral, "\(name): \(error)")
        }
    }

    /// The AMD extensions of a VCEK or VLEK certificate.
    static func certificateTCB(_ leaf: X509Certificate) throws(AttestationError) -> SNPCertificateTCB {
        func spl(_ oid: String, _ name: String) throws(AttestationError) -> UInt8? {
            guard let value = leaf.extensionValue(oid: oid) else { return nil }
            guard let number = derSmallInteger(value) else {
                throw AttestationError(
                    .malformedCollateral,
                    "VCEK \(name) (\(oid)): expected a DER INTEGER 0…255, found \(Hex.encode(value, prefix: false))"
                )
            }
            return number
        }
        func required(_ oid: String, _ name: String) throws(AttestationError) -> UInt8 {
            guard let value = try spl(oid, name) else {
                throw AttestationError(.malformedCollateral, "VCEK: expected extension \(name) (\(oid)), found none")
            }
            return value
        }
        var hardwareID = leaf.extensionValue(oid: oidHardwareID)
        // AMD stores the raw chip ID (64 bytes; 8 on Turin) as the extension value; accept a DER OCTET STRING
        // wrapping of those lengths as well (66 or 10 bytes, so a raw ID is never mistaken for one).
        if let value = hardwareID, value.count == 66 || value.count == 10, value[0] == 0x04,
            Int(value[1]) == value.count - 2
        {
            hardwareID = Array(value[2...])
        }
        var productName: String? = nil
        if let value = leaf.extensionValue(oid: oidProductName), value.count >= 2, value[0] == 0x16,
            Int(value[1]) == value.count - 2
        {
            productName = String(decoding: value[2...], as: UTF8.self)
        }
        return SNPCertificateTCB(
            bootLoader: try required(oidBootLoader, "blSPL"),
            tee: try required(oidTEE, "teeSPL"),
            snp: try required(oidSNP, "snpSPL"),
            microcode: try required(oidMicrocode, "ucodeSPL"),
            fmc: try spl(oidFMC, "fmcSPL"),
            hardwareID: hardwareID,
            productName: productName
        )
    }

    /// A DER INTEGER (tag 2, short length) with a value 0…255, e.g. `02 01 73` or `02 02 00 80`.
    static func derSmallInteger(_ der: [UInt8]) -> UInt8? {
        guard der.count >= 3, der[0] == 0x02, Int(der[1]) == der.count - 2 else { return nil }
        let body = der[2...]
        switch body.count {
        case 1 where body[body.startIndex] < 0x80: return body[body.startIndex]
        case 2 where body[body.startIndex] == 0 && body[body.startIndex + 1] >= 0x80: return body[body.startIndex + 1]
        default: return nil
        }
    }
}
