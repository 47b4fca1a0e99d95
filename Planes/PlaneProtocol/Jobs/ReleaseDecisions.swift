public import ChainCore
import Foundation

/// How a released output's decisions are checked, by the consumer's `job fetch` and by the auditor alike: the
/// gate document, the decision log entries and the reviews an evidence bundle carries agree with the signed
/// result record.
public enum ReleaseDecisions {
    static func fail(_ message: String) -> PlaneProtocolError { PlaneProtocolError(.malformed, message) }

    /// The gate document, the decision log entries and the reviews the bundle carries agree with the record:
    /// the document hashes to gateDigest; every log entry hashes right and belongs to this job, in seq order,
    /// the last one's hash being reviewDigest; the log's gate entry names the document; a reviewed output
    /// carries the logged decisions, each over this output and signed by a distinct reviewer the provider
    /// named (or the provider), enough of them to meet the list's count, and an approved outcome last.
    public static func verify(
        _ bundle: [String: Any],
        record r: ResultRecord,
        provider: Address?,
        jobDomain: JobDomain
    ) throws(PlaneProtocolError) -> (verdict: String, reviewers: [Address]) {
        guard let gateText = bundle["gate"] as? String, BundleDigest.of(Array(gateText.utf8)) == r.gateDigest,
            let gate = (try? JSONSerialization.jsonObject(with: Data(gateText.utf8))) as? [String: Any],
            let verdict = gate["verdict"] as? String
        else { throw Self.fail("the gate document is missing or does not hash to the record's gateDigest") }
        guard let lines = bundle["decisionLog"] as? [String], !lines.isEmpty else {
            throw Self.fail("the evidence bundle carries no decision log entries")
        }
        var entries: [DecisionLogEntry] = []
        for (number, line) in lines.enumerated() {
            let entry = try DecisionLogEntry.parse(Array(line.utf8), line: number + 1)
            guard entry.job == r.jobID, entries.last.map({ $0.seq < entry.seq }) ?? true else {
                throw Self.fail("decision log entry \(number + 1) is for another job or out of order")
            }
            entries.append(entry)
        }
        guard entries.last?.hash == r.reviewDigest else {
            throw Self.fail(
                "the last decision log entry hashes to \(entries.last?.hash.hex ?? "-"); the record's reviewDigest is \(r.reviewDigest.hex)"
            )
        }
        func body(_ entry: DecisionLogEntry) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(entry.body))) as? [String: Any] ?? [:]
        }
        let first = body(entries[0])
        guard entries[0].kind == "gate", first["verdict"] as? String == verdict,
            first["gateDigest"] as? String == r.gateDigest.hex
        else { throw Self.fail("the decision log's first entry is not this gate document's verdict") }
        switch verdict {
        case "release":
            guard entries.count == 1 else { throw Self.fail("a released-by-the-gate output has later log entries") }
            return (verdict, [])
        case "review":
            break
        default:
            throw Self.fail("the gate's verdict was \(verdict); only release or review can be released")
        }
        guard entries.last?.kind == "outcome", body(entries[entries.count - 1])["outcome"] as? String == "approved"
        else { throw Self.fail("the decision log does not end with an approved review") }
        let logged = entries.dropFirst().dropLast()
        guard let reviews = bundle["reviews"] as? [Any], reviews.count == logged.count,
            logged.allSatisfy({ $0.kind == "review" })
        else { throw Self.fail("the reviews do not match the decision log's review entries") }
        var list: SignedReviewerList?
        if let listJSON = bundle["reviewerList"], !(listJSON is NSNull) {
            do { list = try SignedReviewerList(json: listJSON) } catch {
                throw Self.fail("the reviewer list: \(error.reason)")
            }
        }
        if let list {
            let signer: Address
            do { signer = try list.signer(jobDomain) } catch { throw Self.fail("the reviewer list: \(error.reason)") }
            guard list.list.dataset == r.dataset, provider.map({ $0 == signer }) ?? true else {
                throw Self.fail("the reviewer list is not the dataset's provider's list for this dataset")
            }
        }
        var reviewers: [Address] = []
        for (review, entry) in zip(reviews, logged) {
            let decision: SignedReviewDecision
            let signer: Address
            do {
                decision = try SignedReviewDecision(json: review)
                signer = try decision.signer(jobDomain)
            } catch { throw Self.fail("a review decision: \(error.reason)") }
            let loggedReview = body(entry)["review"] as? [String: Any]
            guard let loggedReview, (try? SignedReviewDecision(json: loggedReview)) == decision else {
                throw Self.fail("a review decision differs from the one the log holds")
            }
            guard decision.decision.approve, decision.decision.jobID == r.jobID,
                decision.decision.outputDigest == r.outputSha256
            else { throw Self.fail("a review decision is not an approval of this job's output") }
            let eligible = (provider.map { [$0] } ?? []) + (list?.list.reviewers ?? [])
            guard provider == nil || eligible.contains(signer), signer != r.consumer, !reviewers.contains(signer) else {
                throw Self.fail("\(signer.checksummed) is not a distinct reviewer the provider named")
            }
            reviewers.append(signer)
        }
        let required = Int(list?.list.required ?? ReviewerList.defaultRequired)
        guard reviewers.count >= required else {
            throw Self.fail("\(reviewers.count) approvals; the reviewer list requires \(required)")
        }
        return (verdict, reviewers)
    }
}
