/// The one error type of the Attestation module: a quote, collateral or event log was malformed, or it did
/// not verify.
///
/// Equal by ``code`` only; ``reason`` names what was expected and what was found. The codes are stable strings
/// (the CLI prints them), so callers and scripts may match on them.
public struct AttestationError: Error, Hashable, CustomStringConvertible, Sendable {
    /// The kind of failure. Raw values are stable and printed by `delong attest verify`.
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// The quote bytes do not follow the DCAP v4/v5 layout (truncated, bad lengths, unknown body type).
        case malformedQuote = "malformed-quote"
        /// A well-formed quote of a kind this verifier does not accept (SGX, another key type, unknown vendor).
        case unsupportedQuote = "unsupported-quote"
        /// The collateral JSON, a certificate, a CRL or the TCB Info / QE Identity JSON could not be parsed.
        case malformedCollateral = "malformed-collateral"
        /// The event log could not be parsed.
        case malformedEventLog = "malformed-event-log"
        /// The evaluation time lies outside a validity window (TCB Info, QE Identity, a CRL or a certificate).
        case outsideValidityWindow = "outside-validity-window"
        /// A certificate chain does not lead to the Intel SGX Root CA (or, for SEV-SNP, to a trusted AMD ARK), or a CRL
        /// is not signed by its issuer.
        case certificateChainInvalid = "certificate-chain-invalid"
        /// A certificate in a chain is listed in its issuer's CRL.
        case certificateRevoked = "certificate-revoked"
        /// The TCB Info or QE Identity signature does not verify with the TCB signing certificate.
        case collateralSignatureInvalid = "collateral-signature-invalid"
        /// The QE report is not signed by the PCK certificate's key.
        case qeReportSignatureInvalid = "qe-report-signature-invalid"
        /// QE report data[0..<32] is not SHA-256(attestation key ‖ QE authentication data).
        case qeReportDataMismatch = "qe-report-data-mismatch"
        /// The QE report does not match the QE Identity (MRSIGNER, ISVPRODID, MISCSELECT, ATTRIBUTES, ISVSVN).
        case qeIdentityMismatch = "qe-identity-mismatch"
        /// The quote (header ‖ body) is not signed by the attestation key.
        case quoteSignatureInvalid = "quote-signature-invalid"
        /// The PCK certificate's FMSPC is not the TCB Info's, or the TCB Info is not for TDX.
        case tcbInfoMismatch = "tcb-info-mismatch"
        /// No TCB level of the TCB Info is met by the platform's SVNs (or the TDX module is not recognised).
        case noMatchingTCBLevel = "no-matching-tcb-level"
        /// The combined TCB status is Revoked, or a policy does not accept the status.
        case tcbStatusRejected = "tcb-status-rejected"
        /// The TD runs in debug mode (TD_ATTRIBUTES.DEBUG) and debug TDs are not allowed.
        case debugTD = "debug-td"
        /// TD attributes have reserved bits set, SEPT_VE_DISABLE clear, or MRSERVICETD is not zero.
        case tdAttributesInvalid = "td-attributes-invalid"
        /// REPORTDATA is not the value the caller expected.
        case reportDataMismatch = "report-data-mismatch"
        /// The measurements do not match what was expected (event log replay, allow-list).
        case measurementMismatch = "measurement-mismatch"
        /// Insecure development evidence was presented where real attestation is required, or is malformed.
        case developmentEvidence = "development-evidence"
        /// The SEV-SNP report bytes do not follow the ATTESTATION_REPORT layout (size, version, signature fields).
        case malformedSNPReport = "malformed-snp-report"
        /// The SEV-SNP report uses a signature algorithm other than ECDSA P-384 with SHA-384.
        case unsupportedSNPReport = "unsupported-snp-report"
        /// The SEV-SNP report is not signed by the VCEK's (or VLEK's) key.
        case snpReportSignatureInvalid = "snp-report-signature-invalid"
        /// The VCEK is not this report's: its hwID is not the CHIP_ID or its TCB extensions are not REPORTED_TCB.
        case vcekMismatch = "vcek-mismatch"
        /// The SEV-SNP guest policy allows debugging (POLICY bit 19) and debug guests are not allowed.
        case debugGuest = "debug-guest"
        /// The SEV-SNP report was requested from a VM privilege level other than 0.
        case vmplRefused = "snp-vmpl-refused"
        /// The SEV-SNP REPORTED_TCB is below the policy's minimum (boot loader, TEE, SNP firmware or microcode).
        case tcbBelowMinimum = "snp-tcb-below-minimum"
        /// No AMD CRL covers a certificate of the chain and the policy requires one.
        case crlMissing = "crl-missing"
        /// An evidence producer (the dstack guest agent) could not be reached or answered something unusable.
        case evidenceUnavailable = "evidence-unavailable"

        /// Whether this code means the input could not be parsed (exit status 2) rather than did not verify.
        public var isMalformed: Bool {
            switch self {
            case .malformedQuote, .malformedCollateral, .malformedEventLog, .malformedSNPReport: true
            default: false
            }
        }
    }

    /// The kind of failure.
    public let code: Code
    /// What was expected and what was found.
    public let reason: String
    /// Where the error was raised.
    public let file: String
    /// The line where the error was raised.
    public let line: Int

    /// An error of kind `code` explaining what was expected and what was found.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "AttestationError.\(code.rawValue): \(reason)" }
}
