public import Attestation
import ChainCore
import Foundation

/// Key release's evidence check through the Attestation module: an Intel TDX quote verified with DCAP
/// against collateral prepared once (chains and signatures), or — only when the policy allows it — the
/// INSECURE development evidence (a JSON document starting with `{`).
///
/// The TCB status and debug checks are the policy's; the allow-list and REPORTDATA binding are
/// `KeyRelease`'s, which knows the token and the index.
public struct AttestationEvidenceVerifier: EvidenceVerifier {
    /// Prepared collateral; nil refuses every TDX quote (no way to check its TCB).
    public let collateral: VerifiedCollateral?
    public let policy: AttestationPolicy

    public init(collateral: VerifiedCollateral?, policy: AttestationPolicy) {
        self.collateral = collateral
        self.policy = policy
    }

    public func verify(_ evidence: [UInt8], now: UInt64) throws(PrivacyPlaneError) -> AttestedSandbox {
        let verified: VerifiedQuote
        do {
            if evidence.first == UInt8(ascii: "{") {
                verified = try InsecureDevelopmentEvidence(json: evidence).insecurelyAccept()
            } else {
                guard let collateral else {
                    throw PrivacyPlaneError(
                        .attestationRefused,
                        "this plane has no DCAP collateral (start it with --collateral), so it cannot verify TDX quotes"
                    )
                }
                verified = try DCAPVerifier.verify(
                    quote: evidence,
                    collateral: collateral,
                    at: Date(timeIntervalSince1970: TimeInterval(now)),
                    allowDebug: policy.allowDebug
                )
            }
            try policy.check(verified, expectedReportData: nil)
        } catch let error as PrivacyPlaneError {
            throw error
        } catch {
            throw PrivacyPlaneError(.attestationRefused, "\(error)")
        }
        let digests = [false, true].compactMap { try? Hash32(verified.measurementDigest(includingRTMR3: $0)) }
        guard let evidenceHash = try? Hash32(verified.quoteHash) else {
            throw PrivacyPlaneError(.attestationRefused, "evidence hash is not 32 bytes")
        }
        return AttestedSandbox(
            kind: verified.kind == .intelTDX ? .tdx : .developmentInsecure,
            evidenceHash: evidenceHash,
            reportData: verified.reportData,
            measurementDigests: digests,
            tcbStatus: verified.status.rawValue
        )
    }
}
