public import Attestation
import ChainCore
import Foundation
import PlaneProtocol

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

extension AttestationEvidenceVerifier {
    /// The chain id of the project's devnet (contrib/devnet): the only chain on which the insecure development
    /// evidence may be accepted without naming the chain.
    public static let devnetChainID = InsecureDevelopmentEvidence.devnetChainID

    /// Refuses the insecure development evidence on `chainID` unless it is the devnet's or the operator named
    /// exactly that chain id (`--allow-insecure-development-evidence-on-chain`), so a copied demo command line
    /// pointed at a real chain does not open its allow-list to anyone who can write JSON.
    public static func checkDevelopmentEvidenceAllowed(
        chainID: UInt64,
        namedChainID: UInt64?
    ) throws(PrivacyPlaneError) {
        if let namedChainID {
            guard namedChainID == chainID else {
                throw PrivacyPlaneError(
                    .invalidConfiguration,
                    "--allow-insecure-development-evidence-on-chain \(namedChainID): the configured chain id is "
                        + "\(chainID); development evidence is allowed only on the chain named"
                )
            }
            return
        }
        guard chainID == devnetChainID else {
            throw PrivacyPlaneError(
                .invalidConfiguration,
                "--allow-insecure-development-evidence: refused on chain id \(chainID), which is not the devnet "
                    + "(\(devnetChainID)); development evidence is not attestation. To accept it on this chain "
                    + "anyway, add --allow-insecure-development-evidence-on-chain \(chainID)"
            )
        }
    }
}
