import ChainCore
public import Foundation
public import PlaneCrypto

/// A minimum SEV-SNP TCB: each of boot loader, TEE, SNP firmware and microcode SPL must be at least this.
public struct SNPMinimumTCB: Sendable, Hashable, CustomStringConvertible {
    public var bootLoader: UInt8
    public var tee: UInt8
    public var snp: UInt8
    public var microcode: UInt8

    public init(bootLoader: UInt8, tee: UInt8, snp: UInt8, microcode: UInt8) {
        self.bootLoader = bootLoader
        self.tee = tee
        self.snp = snp
        self.microcode = microcode
    }

    /// Parses `BL:TEE:SNP:UCODE` (four decimal numbers 0…255), e.g. `3:0:8:115`.
    public init(parsing text: String) throws(AttestationError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { UInt8($0) }
        guard parts.count == 4, let bl = parts[0], let tee = parts[1], let snp = parts[2], let ucode = parts[3] else {
            throw AttestationError(
                .malformedCollateral,
                "SNP minimum TCB: expected BL:TEE:SNP:UCODE (four numbers 0…255, e.g. 3:0:8:115), found \"\(text)\""
            )
        }
        self.init(bootLoader: bl, tee: tee, snp: snp, microcode: ucode)
    }

    public var description: String { "bl \(bootLoader) tee \(tee) snp \(snp) ucode \(microcode)" }
}

/// What key release accepts from SEV-SNP evidence: a report verified with an AMD chain (pinned ARK → ASK → VCEK or
/// VLEK), neither certificate revoked by AMD's CRLs, requested at VMPL 0, not a debug guest, and REPORTED_TCB at
/// least ``minimumTCB``. REPORT_DATA and the allow-list are the caller's (the Privacy Plane's key release).
public struct SNPPolicy: Sendable {
    /// The lowest REPORTED_TCB accepted.
    public var minimumTCB: SNPMinimumTCB
    /// AMD's CRLs (the ARK's CRL lists revoked ASKs; a CRL by an ASK, when given, lists revoked VCEKs).
    public var crls: [X509CRL]
    /// Accept a chain whose ASK no CRL covers (INSECURE: a revoked ASK would go unnoticed).
    public var allowMissingCRL: Bool
    /// Certificates used when the evidence carries none, or lacks some (VCEK, ASK, ARK).
    public var chain: [X509Certificate]
    /// SHA-256 fingerprints of the ARKs trusted.
    public var trustedARKs: Set<String>

    public init(
        minimumTCB: SNPMinimumTCB,
        crls: [X509CRL] = [],
        allowMissingCRL: Bool = false,
        chain: [X509Certificate] = [],
        trustedARKs: Set<String> = AMDRootKeys.all
    ) {
        self.minimumTCB = minimumTCB
        self.crls = crls
        self.allowMissingCRL = allowMissingCRL
        self.chain = chain
        self.trustedARKs = trustedARKs
    }

    /// CRLs from a file: DER (one CRL) or PEM (one or more `X509 CRL` blocks).
    public static func crls(fileContents bytes: [UInt8], name: String) throws(AttestationError) -> [X509CRL] {
        do {
            if bytes.first == 0x30 { return [try X509CRL(der: bytes)] }
            let text = String(decoding: bytes, as: UTF8.self)
            var result: [X509CRL] = []
            let begin = "-----BEGIN X509 CRL-----"
            let end = "-----END X509 CRL-----"
            var rest = Substring(text)
            while let start = rest.range(of: begin) {
                guard let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) else { break }
                let body = rest[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
                guard let der = Data(base64Encoded: String(body)) else {
                    throw AttestationError(.malformedCollateral, "\(name): a CRL block is not base64")
                }
                result.append(try X509CRL(der: Array(der)))
                rest = rest[stop.upperBound...]
            }
            guard !result.isEmpty else {
                throw AttestationError(.malformedCollateral, "\(name): expected a DER or PEM CRL, found neither")
            }
            return result
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.malformedCollateral, "\(name): \(error)")
        }
    }

    /// Verifies `evidence` at `time`: chain, CRLs, report signature and chip/TCB binding, debug, VMPL, minimum TCB.
    /// Each refusal has its own ``AttestationError/Code`` and names what was expected and what was found.
    public func verify(_ evidence: SNPEvidence, at time: Date) throws(AttestationError) -> VerifiedSNPReport {
        let report = try SNPReport(bytes: evidence.report)
        let (ark, ask, vcek) = try pickChain(try evidence.parsedCertificates())
        let chain = try SNPVerifier.verifyChain(ark: ark, ask: ask, vcek: vcek, at: time, trustedARKs: trustedARKs)
        try checkRevocation(chain, at: Int64(time.timeIntervalSince1970.rounded(.down)))
        let verified = try SNPVerifier.verify(report, chain: chain, allowDebug: false)
        guard report.vmpl == 0 else {
            throw AttestationError(
                .vmplRefused,
                "SEV-SNP report: expected VMPL 0 (the guest kernel's own report), found VMPL \(report.vmpl)"
            )
        }
        let tcb = report.reportedTCB
        let low = [
            ("boot loader", tcb.bootLoader, minimumTCB.bootLoader), ("TEE", tcb.tee, minimumTCB.tee),
            ("SNP firmware", tcb.snp, minimumTCB.snp), ("microcode", tcb.microcode, minimumTCB.microcode),
        ].filter { $0.1 < $0.2 }
        guard low.isEmpty else {
            throw AttestationError(
                .tcbBelowMinimum,
                "SEV-SNP REPORTED_TCB: expected at least \(minimumTCB) (--snp-min-tcb), found \(tcb) ("
                    + low.map { "\($0.0) \($0.1) < \($0.2)" }.joined(separator: ", ") + ")"
            )
        }
        return verified
    }

    /// The VCEK/VLEK (the P-384 leaf), ASK (RSA, not self-signed) and ARK (RSA, self-signed): the evidence's first,
    /// then the configured chain's.
    func pickChain(
        _ carried: [X509Certificate]
    ) throws(AttestationError) -> (X509Certificate, X509Certificate, X509Certificate) {
        let pool = carried + chain
        let leaf = pool.first { $0.hasP384PublicKey }
        let ark = pool.first { !$0.hasP384PublicKey && $0.subject == $0.issuer }
        let ask = pool.first { !$0.hasP384PublicKey && $0.subject != $0.issuer }
        guard let leaf, let ask, let ark else {
            let found = [leaf.map { _ in "VCEK" }, ask.map { _ in "ASK" }, ark.map { _ in "ARK" }].compactMap { $0 }
            throw AttestationError(
                .certificateChainInvalid,
                "SEV-SNP chain: expected a VCEK (or VLEK), an ASK and an ARK from the evidence or --snp-cert-chain, "
                    + "found \(found.isEmpty ? "none" : found.joined(separator: ", "))"
            )
        }
        return (ark, ask, leaf)
    }

    /// The ASK against the ARK's CRL (required unless ``allowMissingCRL``), the leaf against an ASK CRL when given.
    func checkRevocation(_ chain: VerifiedAMDChain, at now: Int64) throws(AttestationError) {
        for (name, certificate, issuer, required) in [
            ("ASK", chain.ask, chain.ark, !allowMissingCRL), ("VCEK", chain.vcek, chain.ask, false),
        ] {
            let covering = crls.filter { $0.covers(certificate) }
            if covering.isEmpty && required {
                throw AttestationError(
                    .crlMissing,
                    "AMD CRL: expected a CRL by \(issuer.subject) covering the \(name) \(certificate.subject) "
                        + "(--snp-crl), found none; --snp-allow-missing-crl accepts that (insecure)"
                )
            }
            for crl in covering {
                guard crl.isSigned(by: issuer) else {
                    throw AttestationError(
                        .certificateChainInvalid,
                        "AMD CRL by \(crl.issuer): expected a signature by \(issuer.subject), found one that does not verify"
                    )
                }
                guard crl.isCurrent(at: now) else {
                    throw AttestationError(
                        .outsideValidityWindow,
                        "AMD CRL by \(crl.issuer): expected \(now) in \(crl.thisUpdate)…"
                            + "\(crl.nextUpdate.map(String.init) ?? "open") (Unix seconds), found outside"
                    )
                }
                if crl.lists(certificate) {
                    throw AttestationError(
                        .certificateRevoked,
                        "\(name) \(certificate.subject): expected not revoked, found listed in the CRL by \(crl.issuer)"
                    )
                }
            }
        }
    }
}
