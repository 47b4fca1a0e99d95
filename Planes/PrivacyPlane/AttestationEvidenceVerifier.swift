public import Attestation
import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol

/// Key release's evidence check through the Attestation module: an Intel TDX quote verified with DCAP
/// against collateral from a ``DCAPCollateralStore`` (prepared once per load, reloaded on SIGHUP and a
/// timer), an AMD SEV-SNP report (`SNPEvidence`, prefix `DLSNPv1\0`) verified with the ``snp`` policy when one
/// is configured, or — only when the policy allows it — the INSECURE development evidence (a JSON document
/// starting with `{`).
///
/// Expired collateral is the plane's problem, not the sandbox's: it refuses with `collateralExpired` (503)
/// before looking at the quote. The TCB status and debug checks are the policy's; the allow-list and
/// REPORTDATA binding are `KeyRelease`'s, which knows the token and the index.
public struct AttestationEvidenceVerifier: EvidenceVerifier {
    /// Where the prepared collateral comes from.
    public let store: DCAPCollateralStore
    public let policy: AttestationPolicy
    /// The SEV-SNP policy; nil refuses SNP evidence.
    public let snp: SNPPolicy?

    /// Prepared collateral of a file source or given at start; nil refuses TDX quotes unless a PCS serves them.
    public var collateral: VerifiedCollateral? { store.current }

    /// A verifier of fixed collateral (nil refuses every TDX quote: no way to check its TCB).
    public init(collateral: VerifiedCollateral?, policy: AttestationPolicy, snp: SNPPolicy? = nil) {
        self.init(store: DCAPCollateralStore(initial: collateral), policy: policy, snp: snp)
    }

    public init(store: DCAPCollateralStore, policy: AttestationPolicy, snp: SNPPolicy? = nil) {
        self.store = store
        self.policy = policy
        self.snp = snp
    }

    public func verify(_ evidence: [UInt8], now: UInt64) async throws(PrivacyPlaneError) -> AttestedSandbox {
        if SNPEvidence.isSNPEvidence(evidence) { return try verifySNP(evidence, now: now) }
        let verified: VerifiedQuote
        do {
            if evidence.first == UInt8(ascii: "{") {
                verified = try InsecureDevelopmentEvidence(json: evidence).insecurelyAccept()
            } else {
                let quote = try TDXQuote(bytes: evidence)
                let collateral = try await store.collateral(for: quote, now: Int64(now))
                try store.checkNotExpired(collateral, at: Int64(now))
                verified = try DCAPVerifier.verify(
                    quote: quote,
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
        let digests = verified.allowListDigests
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
    /// SEV-SNP evidence through ``snp``: its digest is SHA-256("snp" ‖ MEASUREMENT)
    /// (`VerifiedSNPReport.measurementDigest`), its evidence hash SHA-256 of the 1184 report bytes.
    func verifySNP(_ evidence: [UInt8], now: UInt64) throws(PrivacyPlaneError) -> AttestedSandbox {
        guard let snp else {
            throw PrivacyPlaneError(
                .attestationRefused,
                "SEV-SNP evidence: expected a plane started with an SNP policy (--snp-min-tcb), found none configured"
            )
        }
        let verified: VerifiedSNPReport
        do {
            verified = try snp.verify(
                try SNPEvidence(bytes: evidence),
                at: Date(timeIntervalSince1970: TimeInterval(now))
            )
        } catch {
            throw PrivacyPlaneError(.attestationRefused, "\(error)")
        }
        guard let evidenceHash = try? Hash32(Digest.sha256(verified.report.bytes)),
            let digest = try? Hash32(verified.measurementDigest)
        else { throw PrivacyPlaneError(.attestationRefused, "SEV-SNP evidence: digest is not 32 bytes") }
        return AttestedSandbox(
            kind: .snp,
            evidenceHash: evidenceHash,
            reportData: verified.reportData,
            measurementDigests: [digest],
            tcbStatus: "SNP REPORTED_TCB \(verified.reportedTCB)"
        )
    }

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
