import Attestation
public import ChainCore
public import ChainRecords
import Foundation
public import PlaneCrypto
public import PlaneProtocol

/// The consumer's (and an auditor's) check of a released job, trusting neither the plane nor its storage:
/// the chain's JobRecorded names the evidence bundle and the ciphertext by digest; the evidence binds the
/// agent's signing key to the job's token and image; that key signed the result record, which names the
/// ciphertext and the plaintext tar. Only then is the output decrypted, and its digest checked too.
public enum ReleasedOutput {
    public struct Verified {
        public let archive: [UInt8]
        public let summary: [String: Any]
    }

    static func fail(_ message: String) -> ComputingPlaneError { ComputingPlaneError(.verification, message) }

    public static func verify(
        job: Hash32,
        evidenceBundle: [UInt8],
        sealed: [UInt8],
        recorded: DeLongEvent.JobFields,
        tokenDomain: TokenDomain,
        jobDomain: JobDomain,
        provider: Address?,
        identities: [AgeIdentity]
    ) throws(ComputingPlaneError) -> Verified {
        guard recorded.jobID == job else { throw fail("JobRecorded is for job \(recorded.jobID.hex), not \(job.hex)") }
        let bundleDigest = BundleDigest.of(evidenceBundle)
        guard bundleDigest == recorded.attestationDigest else {
            throw fail(
                "the evidence bundle hashes to \(bundleDigest.hex); JobRecorded.attestationDigest is \(recorded.attestationDigest.hex)"
            )
        }
        guard let bundle = (try? JSONSerialization.jsonObject(with: Data(evidenceBundle))) as? [String: Any],
            bundle["type"] as? String == "delong-evidence-bundle-v1",
            let agent = bundle["agent"] as? [String: Any],
            let agentSigner = (agent["signer"] as? String).flatMap({ try? Address(hex: $0) }),
            let exchangeKey = (agent["exchangeKey"] as? String).flatMap({ try? Hex.decode($0) }),
            let reportData = (bundle["reportData"] as? String).flatMap({ try? Hex.decode($0) }),
            let evidence = bundle["evidence"] as? [String: Any],
            let evidenceBytes = (evidence["bytes"] as? String).flatMap({ try? Hex.decode($0) })
        else { throw fail("the evidence bundle is not a delong-evidence-bundle-v1 document") }
        let token: SignedAccessToken
        let record: SignedResultRecord
        do {
            token = try SignedAccessToken(json: bundle["token"] as Any)
            record = try SignedResultRecord(json: bundle["result"] as Any)
        } catch { throw fail("the evidence bundle: \(error.reason)") }

        // The evidence binds the agent's keys to this job's token and image.
        let tokenHash: Hash32
        do { tokenHash = try token.token.signingHash(tokenDomain) } catch { throw fail("the token: \(error.reason)") }
        let expected = KeyWrap.reportData(
            recipientKey: exchangeKey,
            agentSigner: agentSigner,
            tokenHash: tokenHash,
            imageDigest: token.token.imageDigest
        )
        guard ConstantTime.equals(expected, reportData) else {
            throw fail("REPORTDATA does not bind the agent's keys, the token and the image digest")
        }
        let evidenceKind: String
        if let development = try? InsecureDevelopmentEvidence(json: evidenceBytes) {
            guard ConstantTime.equals(development.reportData, reportData) else {
                throw fail("the development evidence claims another REPORTDATA")
            }
            evidenceKind = "INSECURE development evidence (no TEE measured the agent)"
        } else {
            throw fail("the evidence is not development evidence, and TDX quotes are not checked here yet")
        }

        // The agent signed the record; the record names this job and its bytes.
        let signer: Address
        do { signer = try record.signer(jobDomain) } catch { throw fail("the result record: \(error.reason)") }
        guard signer == agentSigner else {
            throw fail(
                "the result record is signed by \(signer.checksummed), the attested agent is \(agentSigner.checksummed)"
            )
        }
        let r = record.record
        let pairs: [(String, String, String)] = [
            ("job", r.jobID.hex, job.hex), ("dataset", r.dataset.hex, recorded.datasetID.hex),
            ("consumer", r.consumer.checksummed, recorded.consumer.checksummed),
            ("image digest", r.imageDigest.hex, recorded.imageDigest.hex),
            ("token job", token.token.jobID.hex, job.hex), ("outcome", r.outcome, "released"),
        ]
        for (what, inRecord, onChain) in pairs where inRecord != onChain {
            throw fail("the result record names \(what) \(inRecord); expected \(onChain)")
        }
        let decisions = try verifyDecisions(bundle, record: r, provider: provider, jobDomain: jobDomain)
        let cipherDigest = BundleDigest.of(sealed)
        guard cipherDigest == r.cipherSha256, cipherDigest == recorded.outputDigest else {
            throw fail(
                "the ciphertext hashes to \(cipherDigest.hex); the record says \(r.cipherSha256.hex), JobRecorded.outputDigest \(recorded.outputDigest.hex)"
            )
        }
        let archive: [UInt8]
        do { archive = try Age.decrypt(sealed, identities: identities) } catch {
            throw fail("the output does not decrypt with the identity given: \(error.reason)")
        }
        let plainDigest = BundleDigest.of(archive)
        guard plainDigest == r.outputSha256 else {
            throw fail("the decrypted tar hashes to \(plainDigest.hex); the record says \(r.outputSha256.hex)")
        }
        return Verified(
            archive: archive,
            summary: [
                "job": job.hex, "evidence": evidenceKind, "agentSigner": agentSigner.checksummed,
                "outputSha256": plainDigest.hex, "cipherSha256": cipherDigest.hex,
                "evidenceDigest": bundleDigest.hex, "runtimeDigest": r.runtimeDigest.hex,
                "reviewDigest": r.reviewDigest.hex, "gateDigest": r.gateDigest.hex,
                "gateVerdict": decisions.verdict, "reviewers": decisions.reviewers.map(\.checksummed),
            ]
        )
    }

    /// The gate document, the decision log entries and the reviews the bundle carries agree with the record
    /// (``ReleaseDecisions/verify(_:record:provider:jobDomain:)``, which the auditor runs too).
    static func verifyDecisions(
        _ bundle: [String: Any],
        record r: ResultRecord,
        provider: Address?,
        jobDomain: JobDomain
    ) throws(ComputingPlaneError) -> (verdict: String, reviewers: [Address]) {
        do { return try ReleaseDecisions.verify(bundle, record: r, provider: provider, jobDomain: jobDomain) } catch {
            throw fail(error.reason)
        }
    }
}
