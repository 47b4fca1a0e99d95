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

    /// The gate document, the decision log entries and the reviews the bundle carries agree with the record:
    /// the document hashes to gateDigest; every log entry hashes right and belongs to this job, in seq order,
    /// the last one's hash being reviewDigest; the log's gate entry names the document; a reviewed output
    /// carries the logged decisions, each over this output and signed by a distinct reviewer the provider
    /// named (or the provider), enough of them to meet the list's count, and an approved outcome last.
    static func verifyDecisions(
        _ bundle: [String: Any],
        record r: ResultRecord,
        provider: Address?,
        jobDomain: JobDomain
    ) throws(ComputingPlaneError) -> (verdict: String, reviewers: [Address]) {
        guard let gateText = bundle["gate"] as? String, BundleDigest.of(Array(gateText.utf8)) == r.gateDigest,
            let gate = (try? JSONSerialization.jsonObject(with: Data(gateText.utf8))) as? [String: Any],
            let verdict = gate["verdict"] as? String
        else { throw fail("the gate document is missing or does not hash to the record's gateDigest") }
        guard let lines = bundle["decisionLog"] as? [String], !lines.isEmpty else {
            throw fail("the evidence bundle carries no decision log entries")
        }
        var entries: [DecisionLog.Entry] = []
        for (number, line) in lines.enumerated() {
            let entry = try DecisionLog.parse(Array(line.utf8), line: number + 1)
            guard entry.job == r.jobID, entries.last.map({ $0.seq < entry.seq }) ?? true else {
                throw fail("decision log entry \(number + 1) is for another job or out of order")
            }
            entries.append(entry)
        }
        guard entries.last?.hash == r.reviewDigest else {
            throw fail(
                "the last decision log entry hashes to \(entries.last?.hash.hex ?? "-"); the record's reviewDigest is \(r.reviewDigest.hex)"
            )
        }
        func body(_ entry: DecisionLog.Entry) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(entry.body))) as? [String: Any] ?? [:]
        }
        let first = body(entries[0])
        guard entries[0].kind == "gate", first["verdict"] as? String == verdict,
            first["gateDigest"] as? String == r.gateDigest.hex
        else { throw fail("the decision log's first entry is not this gate document's verdict") }
        switch verdict {
        case "release":
            guard entries.count == 1 else { throw fail("a released-by-the-gate output has later log entries") }
            return (verdict, [])
        case "review":
            break
        default:
            throw fail("the gate's verdict was \(verdict); only release or review can be released")
        }
        guard entries.last?.kind == "outcome", body(entries[entries.count - 1])["outcome"] as? String == "approved"
        else { throw fail("the decision log does not end with an approved review") }
        let logged = entries.dropFirst().dropLast()
        guard let reviews = bundle["reviews"] as? [Any], reviews.count == logged.count,
            logged.allSatisfy({ $0.kind == "review" })
        else { throw fail("the reviews do not match the decision log's review entries") }
        var list: SignedReviewerList?
        if let listJSON = bundle["reviewerList"], !(listJSON is NSNull) {
            do { list = try SignedReviewerList(json: listJSON) } catch {
                throw fail("the reviewer list: \(error.reason)")
            }
        }
        if let list {
            let signer: Address
            do { signer = try list.signer(jobDomain) } catch { throw fail("the reviewer list: \(error.reason)") }
            guard list.list.dataset == r.dataset, provider.map({ $0 == signer }) ?? true else {
                throw fail("the reviewer list is not the dataset's provider's list for this dataset")
            }
        }
        var reviewers: [Address] = []
        for (review, entry) in zip(reviews, logged) {
            let decision: SignedReviewDecision
            let signer: Address
            do {
                decision = try SignedReviewDecision(json: review)
                signer = try decision.signer(jobDomain)
            } catch { throw fail("a review decision: \(error.reason)") }
            let loggedReview = body(entry)["review"] as? [String: Any]
            guard let loggedReview, (try? SignedReviewDecision(json: loggedReview)) == decision else {
                throw fail("a review decision differs from the one the log holds")
            }
            guard decision.decision.approve, decision.decision.jobID == r.jobID,
                decision.decision.outputDigest == r.outputSha256
            else { throw fail("a review decision is not an approval of this job's output") }
            let eligible = (provider.map { [$0] } ?? []) + (list?.list.reviewers ?? [])
            guard provider == nil || eligible.contains(signer), signer != r.consumer, !reviewers.contains(signer) else {
                throw fail("\(signer.checksummed) is not a distinct reviewer the provider named")
            }
            reviewers.append(signer)
        }
        let required = Int(list?.list.required ?? ReviewerList.defaultRequired)
        guard reviewers.count >= required else {
            throw fail("\(reviewers.count) approvals; the reviewer list requires \(required)")
        }
        return (verdict, reviewers)
    }
}
