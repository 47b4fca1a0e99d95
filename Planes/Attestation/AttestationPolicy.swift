/// What a relying party (the Privacy Plane's key release) accepts from a ``VerifiedQuote``.
///
/// Defaults are strict: only `UpToDate`, no debug TDs, no development evidence.
public struct AttestationPolicy: Sendable, Hashable {
    /// TCB statuses to accept (Revoked is never accepted, whatever is listed).
    public var acceptableStatuses: Set<TCBStatus>
    /// Accept debug TDs (their memory is readable by the host: never in production).
    public var allowDebug: Bool
    /// Accept ``InsecureDevelopmentEvidence`` (no hardware involved: never in production).
    public var allowInsecureDevelopment: Bool

    /// A policy; the defaults accept only UpToDate production TDX quotes.
    public init(
        acceptableStatuses: Set<TCBStatus> = [.upToDate],
        allowDebug: Bool = false,
        allowInsecureDevelopment: Bool = false
    ) {
        self.acceptableStatuses = acceptableStatuses
        self.allowDebug = allowDebug
        self.allowInsecureDevelopment = allowInsecureDevelopment
    }

    /// Checks `verified` against the policy and, when given, that its REPORTDATA equals `expectedReportData`
    /// (compared in constant time; 64 bytes, or a shorter prefix the rest of which must be zero).
    public func check(_ verified: VerifiedQuote, expectedReportData: [UInt8]?) throws(AttestationError) {
        if verified.kind == .insecureDevelopment && !allowInsecureDevelopment {
            throw AttestationError(
                .developmentEvidence,
                "evidence is \(InsecureDevelopmentEvidence.type) (no hardware attestation); expected an Intel TDX quote"
            )
        }
        guard verified.status != .revoked, acceptableStatuses.contains(verified.status) else {
            throw AttestationError(
                .tcbStatusRejected,
                "TCB status: expected one of \(acceptableStatuses.map(\.rawValue).sorted().joined(separator: ", ")), "
                    + "found \(verified.status.rawValue) (advisories: \(verified.advisoryIDs.joined(separator: ", ")))"
            )
        }
        if verified.report.isDebug && !allowDebug {
            throw AttestationError(.debugTD, "TD attributes: DEBUG is set; expected a production TD")
        }
        if let expected = expectedReportData {
            guard expected.count <= 64 else {
                throw AttestationError(
                    .reportDataMismatch,
                    "REPORTDATA: expected value is \(expected.count) bytes; REPORTDATA holds 64"
                )
            }
            let padded = expected + [UInt8](repeating: 0, count: 64 - expected.count)
            guard Self.constantTimeEqual(padded, verified.reportData) else {
                throw AttestationError(
                    .reportDataMismatch,
                    "REPORTDATA: the quote's value differs from the expected binding (values not shown)"
                )
            }
        }
    }

    /// Equality whose time depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
