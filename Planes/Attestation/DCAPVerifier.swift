public import ChainCore
public import Foundation
public import PlaneCrypto

/// Collateral whose signatures and chains have been checked against the trust anchor (time-independent
/// work), ready to verify many quotes. Only ``DCAPVerifier/prepare(_:trustAnchor:)`` makes one.
///
/// Validity windows are time-dependent, so they are checked per quote against the caller's time
/// (see ``validFrom`` and ``validUntil`` for the intersection).
public struct VerifiedCollateral: Sendable {
    /// The parsed collateral.
    public let collateral: QuoteCollateral
    /// The trust anchor the chains were verified to.
    public let trustAnchor: X509Certificate
    /// The verified PCK CA (issuer of the PCK CRL): PCK leaf certificates must be issued by it.
    public let pckIssuer: X509Certificate
    /// Every validity window the evaluation time must lie in, in checking order.
    let windows: [(name: String, from: Int64, until: Int64)]
    /// Verified PCK chains and parsed attestation keys, shared by every copy.
    let cache = VerificationCache()

    /// Start of the intersection of all collateral validity windows (seconds since the Unix epoch).
    public var validFrom: Int64 { windows.map(\.from).max() ?? .min }
    /// End (inclusive) of the intersection of all collateral validity windows.
    public var validUntil: Int64 { windows.map(\.until).min() ?? .max }
    /// Every validity window (TCB Info, QE Identity, both CRLs, each certificate), in checking order: what
    /// a caller names when the collateral has expired.
    public var validityWindows: [(name: String, from: Int64, until: Int64)] { windows }

    fileprivate init(
        collateral: QuoteCollateral,
        trustAnchor: X509Certificate,
        pckIssuer: X509Certificate,
        windows: [(name: String, from: Int64, until: Int64)]
    ) {
        self.collateral = collateral
        self.trustAnchor = trustAnchor
        self.pckIssuer = pckIssuer
        self.windows = windows
    }
}

/// A TDX quote that passed DCAP verification, or insecure development evidence (see ``kind``).
/// Only this module builds one.
public struct VerifiedQuote: Sendable {
    /// Where the measurements come from.
    public enum Kind: String, Sendable {
        /// An Intel TDX quote verified with DCAP collateral to the Intel SGX Root CA.
        case intelTDX
        /// ``DevelopmentEvidence``: NOT verified by any hardware; anyone can make it.
        case insecureDevelopment
    }

    /// Where the measurements come from; ``AttestationPolicy`` refuses `.insecureDevelopment` by default.
    public let kind: Kind
    /// Quote version (4 or 5; 0 for development evidence).
    public let version: UInt16
    /// The TD report (measurements, attributes, REPORTDATA).
    public let report: TDReport
    /// Combined TCB status (platform, TDX module and QE, converged as Intel's QVL does).
    public let status: TCBStatus
    /// Advisory IDs of the matched TCB levels (platform first, then module and QE), without repeats.
    public let advisoryIDs: [String]
    /// Platform TCB status before merging with the QE status.
    public let platformStatus: TCBStatus
    /// QE TCB status from the QE Identity.
    public let qeStatus: TCBStatus
    /// The FMSPC from the PCK certificate (6 bytes; empty for development evidence).
    public let fmspc: [UInt8]
    /// SHA-256 of the quote bytes without trailing padding (of the evidence bytes for development evidence).
    public let quoteHash: [UInt8]
    /// QE report ISVSVN.
    public let qeISVSVN: UInt16

    /// MRTD.
    public var mrTD: [UInt8] { report.mrTD }
    /// RTMR0…3.
    public var rtmr: [[UInt8]] { report.rtmr }
    /// REPORTDATA.
    public var reportData: [UInt8] { report.reportData }

    init(
        kind: Kind,
        version: UInt16,
        report: TDReport,
        status: TCBStatus,
        advisoryIDs: [String],
        platformStatus: TCBStatus,
        qeStatus: TCBStatus,
        fmspc: [UInt8],
        quoteHash: [UInt8],
        qeISVSVN: UInt16
    ) {
        self.kind = kind
        self.version = version
        self.report = report
        self.status = status
        self.advisoryIDs = advisoryIDs
        self.platformStatus = platformStatus
        self.qeStatus = qeStatus
        self.fmspc = fmspc
        self.quoteHash = quoteHash
        self.qeISVSVN = qeISVSVN
    }
}

extension VerifiedQuote {
    /// The digest the on-chain AlgorithmRegistry allow-list (`MeasurementTrusted`) names: for an Intel TDX quote
    /// SHA-256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 [‖ RTMR3]); for development evidence the same values in their own
    /// domain, SHA-256(``InsecureDevelopmentEvidence/digestDomain`` ‖ MRTD ‖ …), so development evidence can
    /// only match a digest trusted explicitly as a development digest, never a production one. Include RTMR3
    /// when the runner's RTMR3 is meaningful (dstack compose hash).
    public func measurementDigest(includingRTMR3: Bool) -> [UInt8] {
        let rtmr = includingRTMR3 ? report.rtmr : Array(report.rtmr[0..<3])
        switch kind {
        case .intelTDX: return Digest.sha256(report.mrTD + rtmr.flatMap { $0 })
        case .insecureDevelopment:
            return InsecureDevelopmentEvidence.measurementDigest(measurements: report.mrTD + rtmr.flatMap { $0 })
        }
    }

    /// Both allow-list forms of this quote's measurements (without RTMR3, then with it): an allow-list entry
    /// matches either.
    public var allowListDigests: [Hash32] {
        [false, true].compactMap { try? Hash32(measurementDigest(includingRTMR3: $0)) }
    }
}

/// Intel TDX DCAP quote verification, offline, from collateral (the checks and order of dcap-qvl 0.7.0).
///
/// Pure: no network, no clock (the caller passes the evaluation time). See docs/attestation.md.
public enum DCAPVerifier {
    /// Verifies the collateral's chains, CRL signatures, TCB Info and QE Identity signatures to `trustAnchor`.
    /// Do this once per collateral and reuse the result for every quote (the hot path then costs three
    /// ECDSA verifications and a few hashes per quote).
    public static func prepare(
        _ collateral: QuoteCollateral,
        trustAnchor: X509Certificate = IntelRootCA.certificate
    ) throws(AttestationError) -> VerifiedCollateral {
        let root = trustAnchor
        let rootCRL = collateral.rootCACRL
        guard rootCRL.isSigned(by: root) else {
            throw AttestationError(
                .certificateChainInvalid,
                "root CA CRL: expected issuer \(root.subject) with a valid signature, found issuer \(rootCRL.issuer)"
            )
        }
        if rootCRL.covers(root), rootCRL.lists(root) {
            throw AttestationError(.certificateRevoked, "root CA \(root.subject) is listed in the root CA CRL")
        }
        func verifyChain(_ chain: [X509Certificate], _ name: String) throws(AttestationError) -> X509Certificate {
            // chain[0] is the leaf; every next certificate (or finally the anchor) must issue the previous one.
            guard let leaf = chain.first else {
                throw AttestationError(.certificateChainInvalid, "\(name): expected certificates, found none")
            }
            var index = 0
            while index < chain.count {
                let cert = chain[index]
                if cert.der == root.der {
                    guard index == chain.count - 1 else {
                        throw AttestationError(.certificateChainInvalid, "\(name): root CA appears before the end")
                    }
                    break
                }
                let issuer = index + 1 < chain.count ? chain[index + 1] : root
                guard issuer.isCA, cert.isSigned(by: issuer) else {
                    throw AttestationError(
                        .certificateChainInvalid,
                        "\(name): expected \(cert.subject) to be signed by CA \(issuer.subject)"
                            + (index + 1 < chain.count ? "" : " (the trust anchor)") + ", it is not"
                    )
                }
                if issuer.der == root.der || index + 1 == chain.count {
                    guard issuer.der == root.der else {
                        throw AttestationError(
                            .certificateChainInvalid,
                            "\(name): expected the chain to end at the Intel SGX Root CA, found \(issuer.subject)"
                        )
                    }
                    guard rootCRL.covers(cert) else {
                        throw AttestationError(
                            .certificateChainInvalid,
                            "\(name): the root CA CRL (issuer \(rootCRL.issuer)) does not cover \(cert.subject)"
                        )
                    }
                    if rootCRL.lists(cert) {
                        throw AttestationError(
                            .certificateRevoked,
                            "\(name): \(cert.subject) (serial \(Hex.encode(cert.serialNumber, prefix: false))) is revoked by the root CA CRL"
                        )
                    }
                }
                index += 1
            }
            return leaf
        }
        func verifySigned(
            _ json: [UInt8],
            _ signature: [UInt8],
            by signer: X509Certificate,
            _ name: String
        ) throws(AttestationError) {
            guard let key = signer.p256PublicKey, key.isValidSignature(rawRS: signature, for: json) else {
                throw AttestationError(
                    .collateralSignatureInvalid,
                    "\(name): expected a valid ECDSA P-256 signature by \(signer.subject) over the \(json.count) "
                        + "signed bytes, the signature does not verify"
                )
            }
        }
        let tcbSigner = try verifyChain(collateral.tcbInfoIssuerChain, "TCB Info issuer chain")
        try checkTCBSigner(collateral.tcbInfoIssuerChain, root: root, "TCB Info issuer chain")
        try verifySigned(collateral.tcbInfoJSON, collateral.tcbInfoSignature, by: tcbSigner, "TCB Info")
        let qeSigner = try verifyChain(collateral.qeIdentityIssuerChain, "QE Identity issuer chain")
        try checkTCBSigner(collateral.qeIdentityIssuerChain, root: root, "QE Identity issuer chain")
        try verifySigned(collateral.qeIdentityJSON, collateral.qeIdentitySignature, by: qeSigner, "QE Identity")
        let pckIssuer = try verifyChain(collateral.pckCRLIssuerChain, "PCK CRL issuer chain")
        try checkPCKCA(collateral.pckCRLIssuerChain, root: root)
        guard pckIssuer.isCA, collateral.pckCRL.isSigned(by: pckIssuer) else {
            throw AttestationError(
                .certificateChainInvalid,
                "PCK CRL: expected a valid signature by \(pckIssuer.subject), found issuer \(collateral.pckCRL.issuer)"
            )
        }
        let tcb = collateral.tcbInfo
        let qe = collateral.qeIdentity
        var windows: [(name: String, from: Int64, until: Int64)] = [
            ("TCB Info (issueDate…nextUpdate)", tcb.issueDate, tcb.nextUpdate),
            ("QE Identity (issueDate…nextUpdate)", qe.issueDate, qe.nextUpdate),
            ("root CA CRL (thisUpdate…nextUpdate)", rootCRL.thisUpdate, rootCRL.nextUpdate ?? .max),
            ("PCK CRL (thisUpdate…nextUpdate)", collateral.pckCRL.thisUpdate, collateral.pckCRL.nextUpdate ?? .max),
        ]
        var seen: Set<[UInt8]> = []
        for cert in [root] + collateral.tcbInfoIssuerChain + collateral.qeIdentityIssuerChain
            + collateral.pckCRLIssuerChain
        where seen.insert(cert.der).inserted {
            windows.append(("certificate \(cert.subject) (notBefore…notAfter)", cert.notBefore, cert.notAfter))
        }
        return VerifiedCollateral(collateral: collateral, trustAnchor: root, pckIssuer: pckIssuer, windows: windows)
    }

    /// Subject common name of Intel's TCB signing certificate, the only signer of TCB Info and QE Identity.
    public static let tcbSigningCommonName = "Intel SGX TCB Signing"
    /// Subject common names of the Intel CAs that issue PCK certificates and sign the PCK CRL.
    public static let pckCACommonNames: Set<String> = ["Intel SGX PCK Platform CA", "Intel SGX PCK Processor CA"]

    /// Whether `chain[0]` is issued by `root` itself: the chain is the certificate alone or it and the root.
    static func isIssuedDirectlyByRoot(_ chain: [X509Certificate], root: X509Certificate) -> Bool {
        guard let first = chain.first, first.der != root.der else { return false }
        return chain.count == 1 || (chain.count == 2 && chain[1].der == root.der)
    }

    /// The signer of TCB Info or QE Identity (the leaf of an issuer chain already verified to `root`) must be
    /// Intel's TCB signing certificate: subject CN exactly ``tcbSigningCommonName``, issued directly by the root,
    /// not a CA, and without the SGX PCK extension. Any other end-entity certificate under the root (a PCK
    /// certificate above all, whose key lives in a CPU and whose revocation this path never consults) must not
    /// be able to vouch for a TCB level.
    static func checkTCBSigner(
        _ chain: [X509Certificate],
        root: X509Certificate,
        _ name: String
    ) throws(AttestationError) {
        guard let signer = chain.first else {
            throw AttestationError(.certificateChainInvalid, "\(name): expected certificates, found none")
        }
        let names = signer.subjectCommonNames
        guard names == [tcbSigningCommonName] else {
            throw AttestationError(
                .certificateChainInvalid,
                "\(name): expected the signer's subject CN to be \"\(tcbSigningCommonName)\", found "
                    + (names.isEmpty ? "none" : names.map { "\"\($0)\"" }.joined(separator: ", "))
                    + " (\(signer.subject))"
            )
        }
        guard isIssuedDirectlyByRoot(chain, root: root) else {
            throw AttestationError(
                .certificateChainInvalid,
                "\(name): expected the TCB signing certificate to be issued directly by \(root.subject), found "
                    + "issuer \(signer.issuer) in a chain of \(chain.count) certificate(s)"
            )
        }
        guard !signer.isCA else {
            throw AttestationError(
                .certificateChainInvalid,
                "\(name): expected the TCB signing certificate to be an end entity (basicConstraints CA:FALSE), "
                    + "found a CA certificate"
            )
        }
        guard signer.extensionValue(oid: PCKExtensions.oid) == nil else {
            throw AttestationError(
                .certificateChainInvalid,
                "\(name): expected no SGX PCK extension (\(PCKExtensions.oid)) on the TCB signing certificate, "
                    + "found one (a PCK certificate cannot sign collateral)"
            )
        }
    }

    /// The PCK CRL issuer (the leaf of its chain, already verified to `root`) must be an Intel PCK CA by subject
    /// (``pckCACommonNames``), a CA, issued directly by the root.
    static func checkPCKCA(_ chain: [X509Certificate], root: X509Certificate) throws(AttestationError) {
        guard let ca = chain.first else {
            throw AttestationError(.certificateChainInvalid, "PCK CRL issuer chain: expected certificates, found none")
        }
        let names = ca.subjectCommonNames
        guard names.count == 1, pckCACommonNames.contains(names[0]) else {
            throw AttestationError(
                .certificateChainInvalid,
                "PCK CRL issuer chain: expected the subject CN to be "
                    + pckCACommonNames.sorted().map { "\"\($0)\"" }.joined(separator: " or ") + ", found "
                    + (names.isEmpty ? "none" : names.map { "\"\($0)\"" }.joined(separator: ", "))
                    + " (\(ca.subject))"
            )
        }
        guard ca.isCA, isIssuedDirectlyByRoot(chain, root: root) else {
            throw AttestationError(
                .certificateChainInvalid,
                "PCK CRL issuer chain: expected \(ca.subject) to be a CA issued directly by \(root.subject), found "
                    + (ca.isCA ? "issuer \(ca.issuer) in a chain of \(chain.count) certificate(s)" : "an end entity")
            )
        }
    }

    /// Parses the collateral's signatures once and verifies `quote` at `time`: convenience for one quote.
    public static func verify(
        quote: [UInt8],
        collateral: QuoteCollateral,
        at time: Date,
        allowDebug: Bool = false
    ) throws(AttestationError) -> VerifiedQuote {
        try verify(quote: quote, collateral: try prepare(collateral), at: time, allowDebug: allowDebug)
    }

    /// Verifies `quote` against prepared collateral at `time` (the hot path).
    public static func verify(
        quote bytes: [UInt8],
        collateral: VerifiedCollateral,
        at time: Date,
        allowDebug: Bool = false
    ) throws(AttestationError) -> VerifiedQuote {
        try verify(quote: try TDXQuote(bytes: bytes), collateral: collateral, at: time, allowDebug: allowDebug)
    }

    /// Verifies an already parsed quote against prepared collateral at `time`.
    public static func verify(
        quote: TDXQuote,
        collateral: VerifiedCollateral,
        at time: Date,
        allowDebug: Bool = false
    ) throws(AttestationError) -> VerifiedQuote {
        try verify(
            quote: quote,
            quoteHash: Digest.sha256(quote.bytes),
            collateral: collateral,
            at: Int64(time.timeIntervalSince1970.rounded(.down)),
            allowDebug: allowDebug
        )
    }

    static func verify(
        quote: TDXQuote,
        quoteHash: [UInt8],
        collateral prepared: VerifiedCollateral,
        at now: Int64,
        allowDebug: Bool
    ) throws(AttestationError) -> VerifiedQuote {
        let collateral = prepared.collateral
        // Quote header.
        guard quote.attestationKeyType == 2 else {
            throw AttestationError(
                .unsupportedQuote,
                "quote: expected attestation key type 2 (ECDSA-256 with P-256), found \(quote.attestationKeyType)"
            )
        }
        guard quote.qeVendorID == TDXQuote.intelQEVendorID else {
            throw AttestationError(
                .unsupportedQuote,
                "quote: expected the Intel QE vendor ID \(Hex.encode(TDXQuote.intelQEVendorID, prefix: false)), found "
                    + Hex.encode(quote.qeVendorID, prefix: false)
            )
        }
        // Collateral kind and time windows.
        let qeIdentity = collateral.qeIdentity
        guard qeIdentity.id == "TD_QE", qeIdentity.version == 2 || qeIdentity.version == 3 else {
            throw AttestationError(
                .qeIdentityMismatch,
                "QE Identity: expected id TD_QE version 2 or 3 for a TDX quote, found \(qeIdentity.id) version "
                    + "\(qeIdentity.version)"
            )
        }
        for window in prepared.windows where now < window.from || now > window.until {
            throw AttestationError(
                .outsideValidityWindow,
                "\(window.name): valid \(RFC3339.format(window.from))…\(RFC3339.format(window.until)), "
                    + "evaluated at \(RFC3339.format(now)) (\(now < window.from ? "not yet valid" : "expired"))"
            )
        }
        // PCK chain: leaf issued by the collateral's PCK CA, then (optionally) the root itself.
        let signature = quote.signature
        let entry: VerificationCache.PCKEntry
        if let cached = prepared.cache.pck(signature.pckChainPEM) {
            entry = cached
        } else {
            entry = try verifyPCKChain(signature.pckChainPEM, prepared)
            prepared.cache.store(entry, for: signature.pckChainPEM)
        }
        let leaf = entry.leaf
        let pck = entry.extensions
        guard leaf.isValid(at: now) else {
            throw AttestationError(
                .outsideValidityWindow,
                "PCK certificate (notBefore…notAfter): valid \(RFC3339.format(leaf.notBefore))…"
                    + "\(RFC3339.format(leaf.notAfter)), evaluated at \(RFC3339.format(now))"
            )
        }
        // QE report: signed by the PCK key, binds the attestation key.
        guard let pckKey = leaf.p256PublicKey,
            pckKey.isValidSignature(rawRS: signature.qeReportSignature, for: signature.qeReportBytes)
        else {
            throw AttestationError(
                .qeReportSignatureInvalid,
                "QE report: expected a valid ECDSA P-256 signature by the PCK certificate's key, it does not verify"
            )
        }
        guard signature.qeAuthData.count == 32 else {
            throw AttestationError(
                .malformedQuote,
                "QE authentication data: expected 32 bytes, found \(signature.qeAuthData.count)"
            )
        }
        let qeHash = Digest.sha256(signature.attestationKey + signature.qeAuthData)
        let qeReport = signature.qeReport
        guard Array(qeReport.reportData[0..<32]) == qeHash else {
            throw AttestationError(
                .qeReportDataMismatch,
                "QE report data[0..<32]: expected SHA-256(attestation key ‖ QE auth data) = \(Hex.encode(qeHash, prefix: false)), "
                    + "found \(Hex.encode(qeReport.reportData[0..<32], prefix: false))"
            )
        }
        let qeStatus = try matchQEIdentity(qeReport, qeIdentity)
        // The quote itself: header ‖ body signed by the attestation key.
        let attestationKey: P256PublicKey
        if let cached = prepared.cache.key(signature.attestationKey) {
            attestationKey = cached
        } else {
            do { attestationKey = try P256PublicKey(uncompressedPoint: signature.attestationKey) } catch {
                throw AttestationError(
                    .quoteSignatureInvalid,
                    "quote attestation key: expected a P-256 point, found none (\(error.reason))"
                )
            }
            prepared.cache.store(attestationKey, for: signature.attestationKey)
        }
        guard attestationKey.isValidSignature(rawRS: signature.quoteSignature, for: quote.signedRegion) else {
            throw AttestationError(
                .quoteSignatureInvalid,
                "quote: expected a valid ECDSA P-256 signature by the attestation key over the "
                    + "\(quote.signedRegion.count)-byte header and TD report, it does not verify"
            )
        }
        // Platform TCB.
        let platform = try matchPlatformTCB(quote: quote, pck: pck, tcbInfo: collateral.tcbInfo)
        let combined = platform.merged(with: qeStatus)
        guard combined.status != .revoked else {
            throw AttestationError(
                .tcbStatusRejected,
                "TCB status: platform \(platform.status.rawValue), QE \(qeStatus.status.rawValue) converge to "
                    + "Revoked, which is never acceptable"
            )
        }
        try checkTDAttributes(quote.body, allowDebug: allowDebug)
        return VerifiedQuote(
            kind: .intelTDX,
            version: quote.version,
            report: quote.body,
            status: combined.status,
            advisoryIDs: combined.advisoryIDs,
            platformStatus: platform.status,
            qeStatus: qeStatus.status,
            fmspc: pck.fmspc,
            quoteHash: quoteHash,
            qeISVSVN: qeReport.isvSVN
        )
    }

    /// The quote's PCK chain: the leaf issued by the collateral's PCK CA (then optionally the root), not
    /// revoked by the PCK CRL, with its SGX extension parsed. Time-independent, hence cacheable.
    static func verifyPCKChain(
        _ pem: [UInt8],
        _ prepared: VerifiedCollateral
    ) throws(AttestationError) -> VerificationCache.PCKEntry {
        let collateral = prepared.collateral
        let chain: [X509Certificate]
        do { chain = try X509Certificate.pemChain(pem) } catch {
            throw AttestationError(.malformedQuote, "quote PCK certificate chain: \(error.reason)")
        }
        guard chain.count >= 2 else {
            throw AttestationError(
                .certificateChainInvalid,
                "quote PCK chain: expected at least the PCK certificate and its CA, found \(chain.count) certificate(s)"
            )
        }
        let leaf = chain[0]
        let pckCA = prepared.pckIssuer
        guard chain[1].der == pckCA.der else {
            throw AttestationError(
                .certificateChainInvalid,
                "quote PCK chain: expected the PCK CA of the collateral's PCK CRL (\(pckCA.subject)), found "
                    + chain[1].subject
            )
        }
        for extra in chain.dropFirst(2) where extra.der != prepared.trustAnchor.der {
            throw AttestationError(
                .certificateChainInvalid,
                "quote PCK chain: expected the Intel SGX Root CA after the PCK CA, found \(extra.subject)"
            )
        }
        guard leaf.isSigned(by: pckCA) else {
            throw AttestationError(
                .certificateChainInvalid,
                "quote PCK certificate \(leaf.subject): expected a valid signature by \(pckCA.subject), it is not"
            )
        }
        guard collateral.pckCRL.covers(leaf) else {
            throw AttestationError(
                .certificateChainInvalid,
                "PCK CRL: issuer \(collateral.pckCRL.issuer) does not cover the PCK certificate (issuer \(leaf.issuer))"
            )
        }
        if collateral.pckCRL.lists(leaf) {
            throw AttestationError(
                .certificateRevoked,
                "PCK certificate serial \(Hex.encode(leaf.serialNumber, prefix: false)) is revoked by the PCK CRL"
            )
        }
        guard let extensionValue = leaf.extensionValue(oid: PCKExtensions.oid) else {
            throw AttestationError(
                .malformedQuote,
                "PCK certificate: expected the Intel SGX extension \(PCKExtensions.oid), found none"
            )
        }
        return VerificationCache.PCKEntry(leaf: leaf, extensions: try PCKExtensions(der: extensionValue))
    }

    static func status(_ name: String, _ what: String) throws(AttestationError) -> TCBStatus {
        guard let status = TCBStatus(rawValue: name) else {
            throw AttestationError(
                .malformedCollateral,
                "\(what): expected a TCB status (\(TCBStatus.allCases.map(\.rawValue).joined(separator: ", "))), "
                    + "found \(name)"
            )
        }
        return status
    }

    /// QE Identity policy (MRSIGNER, not debug, ISVPRODID, masked MISCSELECT and ATTRIBUTES) and QE TCB level.
    static func matchQEIdentity(
        _ report: EnclaveReport,
        _ identity: QEIdentity
    ) throws(AttestationError) -> StatusWithAdvisories {
        guard report.mrSigner == identity.mrSigner else {
            throw AttestationError(
                .qeIdentityMismatch,
                "QE MRSIGNER: expected \(Hex.encode(identity.mrSigner, prefix: false)), found \(Hex.encode(report.mrSigner, prefix: false))"
            )
        }
        guard report.attributes[0] & 0x02 == 0 else {
            throw AttestationError(.qeIdentityMismatch, "QE report: expected a production enclave, found DEBUG set")
        }
        guard Int(report.isvProdID) == identity.isvProdID else {
            throw AttestationError(
                .qeIdentityMismatch,
                "QE ISVPRODID: expected \(identity.isvProdID), found \(report.isvProdID)"
            )
        }
        let mask = identity.miscSelectMask
        guard report.miscSelect & mask == identity.miscSelect & mask else {
            throw AttestationError(
                .qeIdentityMismatch,
                "QE MISCSELECT (masked by \(String(mask, radix: 16))): expected "
                    + "\(String(identity.miscSelect & mask, radix: 16)), found \(String(report.miscSelect & mask, radix: 16))"
            )
        }
        for i in 0..<16
        where report.attributes[i] & identity.attributesMask[i]
            != identity.attributes[i] & identity.attributesMask[i]
        {
            throw AttestationError(
                .qeIdentityMismatch,
                "QE ATTRIBUTES byte \(i) (masked): expected "
                    + "\(String(identity.attributes[i] & identity.attributesMask[i], radix: 16)), found "
                    + "\(String(report.attributes[i] & identity.attributesMask[i], radix: 16))"
            )
        }
        for level in identity.tcbLevels where Int(report.isvSVN) >= level.isvSVN {
            return StatusWithAdvisories(
                status: try status(level.statusName, "QE Identity tcbLevels"),
                advisoryIDs: level.advisoryIDs
            )
        }
        throw AttestationError(
            .qeIdentityMismatch,
            "QE ISVSVN: expected at least \(identity.tcbLevels.last?.isvSVN ?? 0) (lowest QE Identity level), "
                + "found \(report.isvSVN)"
        )
    }

    /// FMSPC, TCB Info kind, first TCB level met by the PCK's SGX SVNs/PCESVN and the quote's TEE_TCB_SVN,
    /// merged with the TDX module identity's status (dcap-qvl `match_platform_tcb`).
    static func matchPlatformTCB(
        quote: TDXQuote,
        pck: PCKExtensions,
        tcbInfo: TCBInfo
    ) throws(AttestationError) -> StatusWithAdvisories {
        guard pck.fmspc == tcbInfo.fmspc else {
            throw AttestationError(
                .tcbInfoMismatch,
                "FMSPC: the PCK certificate says \(Hex.encode(pck.fmspc, prefix: false)), the TCB Info is for "
                    + Hex.encode(tcbInfo.fmspc, prefix: false)
            )
        }
        guard tcbInfo.version >= 3, tcbInfo.id == "TDX" else {
            throw AttestationError(
                .tcbInfoMismatch,
                "TCB Info: expected id TDX version ≥ 3 for a TDX quote, found \(tcbInfo.id) version \(tcbInfo.version)"
            )
        }
        let tee = quote.body.teeTCBSVN
        for level in tcbInfo.tcbLevels {
            guard pck.pceSVN >= level.pceSVN else { continue }
            guard !zip(pck.sgxComponentSVNs, level.sgxComponents).contains(where: { $0 < $1 }) else { continue }
            guard !level.tdxComponents.isEmpty else {
                throw AttestationError(.malformedCollateral, "TCB Info: a TDX TCB level has no tdxtcbcomponents")
            }
            guard !zip(tee, level.tdxComponents).contains(where: { $0 < $1 }) else { continue }
            var result = StatusWithAdvisories(
                status: try status(level.statusName, "TCB Info tcbLevels"),
                advisoryIDs: level.advisoryIDs
            )
            if let module = try matchTDXModule(quote.body, tcbInfo) { result = result.merged(with: module) }
            return result
        }
        throw AttestationError(
            .noMatchingTCBLevel,
            "No matching TCB level found: PCK SGX SVNs \(pck.sgxComponentSVNs.map(String.init).joined(separator: ",")) "
                + "PCESVN \(pck.pceSVN), TEE_TCB_SVN \(Hex.encode(tee, prefix: false)) meet none of the "
                + "\(tcbInfo.tcbLevels.count) levels of TCB Info FMSPC \(Hex.encode(tcbInfo.fmspc, prefix: false))"
        )
    }

    /// TDX module identity (Intel QVL / dcap-qvl): TEE_TCB_SVN[1] > 0 selects `tdxModuleIdentities` entry
    /// `TDX_<hex>`, whose MRSIGNER and masked SEAMATTRIBUTES must match and whose level for TEE_TCB_SVN[0]
    /// gives the module status; otherwise the base `tdxModule` is checked and adds no status.
    static func matchTDXModule(_ report: TDReport, _ tcbInfo: TCBInfo) throws(AttestationError) -> StatusWithAdvisories?
    {
        guard let base = tcbInfo.tdxModule else {
            throw AttestationError(.malformedCollateral, "TDX TCB Info is missing the tdxModule field")
        }
        let isvSVN = Int(report.teeTCBSVN[0])
        let majorVersion = report.teeTCBSVN[1]
        var identity = base
        var levels: [(isvSVN: Int, statusName: String, advisoryIDs: [String])]?
        if majorVersion > 0, !tcbInfo.tdxModuleIdentities.isEmpty {
            let wanted = "TDX_" + (majorVersion < 16 ? "0" : "") + String(majorVersion, radix: 16, uppercase: true)
            guard let found = tcbInfo.tdxModuleIdentities.first(where: { $0.id.uppercased() == wanted }) else {
                throw AttestationError(
                    .noMatchingTCBLevel,
                    "TDX module: expected a tdxModuleIdentities entry \(wanted) for module major version "
                        + "\(majorVersion), found only \(tcbInfo.tdxModuleIdentities.map(\.id).joined(separator: ", "))"
                )
            }
            identity = found
            levels = found.tcbLevels
        }
        guard report.mrSignerSeam == identity.mrSigner else {
            throw AttestationError(
                .noMatchingTCBLevel,
                "TDX module MRSIGNERSEAM: expected \(Hex.encode(identity.mrSigner, prefix: false)), found \(Hex.encode(report.mrSignerSeam, prefix: false))"
            )
        }
        for i in 0..<8 {
            let mask = identity.attributesMask[i]
            let actual = report.seamAttributes[i]
            guard actual & mask == identity.attributes[i] & mask, actual & ~mask == 0 else {
                throw AttestationError(
                    .noMatchingTCBLevel,
                    "TDX module SEAMATTRIBUTES: expected \(Hex.encode(identity.attributes, prefix: false)) under mask "
                        + "\(Hex.encode(identity.attributesMask, prefix: false)), found \(Hex.encode(report.seamAttributes, prefix: false))"
                )
            }
        }
        guard let levels else { return nil }
        for level in levels where isvSVN >= level.isvSVN {
            return StatusWithAdvisories(
                status: try status(level.statusName, "TCB Info tdxModuleIdentities tcbLevels"),
                advisoryIDs: level.advisoryIDs
            )
        }
        throw AttestationError(
            .noMatchingTCBLevel,
            "TDX module \(identity.id): ISVSVN \(isvSVN) is below every level (lowest \(levels.last?.isvSVN ?? 0))"
        )
    }

    /// TD attributes: DEBUG off (unless allowed), no reserved bits, SEPT_VE_DISABLE on; TD 1.5 MRSERVICETD zero.
    static func checkTDAttributes(_ report: TDReport, allowDebug: Bool) throws(AttestationError) {
        let a = report.tdAttributesValue
        if report.isDebug && !allowDebug {
            throw AttestationError(
                .debugTD,
                "TD attributes \(Hex.encode(report.tdAttributes, prefix: false)): DEBUG is set (the host can read the TD); "
                    + "expected a production TD"
            )
        }
        let reservedLower = (a >> 8) & 0xF_FFFF  // bits 8…27
        let reservedBit29 = (a >> 29) & 1
        let reservedOther = (a >> 32) & 0x7FFF_FFFF  // bits 32…62
        guard reservedLower == 0, reservedBit29 == 0, reservedOther == 0 else {
            throw AttestationError(
                .tdAttributesInvalid,
                "TD attributes \(Hex.encode(report.tdAttributes, prefix: false)): reserved bits are set; expected them clear"
            )
        }
        guard (a >> 28) & 1 == 1 else {
            throw AttestationError(
                .tdAttributesInvalid,
                "TD attributes \(Hex.encode(report.tdAttributes, prefix: false)): expected SEPT_VE_DISABLE (bit 28) set, found clear"
            )
        }
        if let service = report.mrServiceTD, service.contains(where: { $0 != 0 }) {
            throw AttestationError(
                .tdAttributesInvalid,
                "TD 1.5 MRSERVICETD: expected zero (no service TD binding), found \(Hex.encode(service, prefix: false))"
            )
        }
    }
}
