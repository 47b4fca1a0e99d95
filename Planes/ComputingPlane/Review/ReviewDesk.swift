public import ChainCore
import Foundation
public import PlaneProtocol

/// Where outputs the gate flagged wait for people. The reviewers of a dataset's outputs are its provider and
/// the addresses of the provider's signed ``ReviewerList`` (the highest version the plane has seen), never
/// the consumer who asked; `required` of them (two by default) must approve. Each signs an EIP-712
/// ``ReviewDecision`` over the job id and the sha256 of the output tar; one rejection rejects. Every
/// decision and the outcome are appended to the hash-chained ``DecisionLog`` before they take effect.
/// Nothing skips review: an output without enough approvals is rejected at the deadline.
public actor ReviewDesk {
    /// One output waiting for review.
    public struct Case: Sendable {
        public let job: Hash32
        public let dataset: Hash32
        public let consumer: Address
        public let provider: Address
        /// sha256 of the output tar.
        public let outputDigest: Hash32
        /// What the gate found, per file.
        public let report: GateReport
        /// Unix milliseconds.
        public let since: Int64
        public let deadline: Int64
        /// The decisions so far (each from a different eligible reviewer).
        public internal(set) var votes: [SignedReviewDecision] = []
        /// The output's files, which only eligible reviewers read.
        let contents: [(path: String, bytes: [UInt8])]
        let archive: [UInt8]
    }

    /// Who may decide on a case and how many approvals it needs.
    public struct Panel: Sendable, Hashable {
        public let reviewers: [Address]
        public let required: Int
        /// The list's version (nil: the dataset has none; its provider alone reviews).
        public let version: UInt64?

        public init(reviewers: [Address], required: Int, version: UInt64?) {
            self.reviewers = reviewers
            self.required = required
            self.version = version
        }

        /// Why the case cannot be approved with this panel (nil when it can).
        public var shortfall: String? {
            reviewers.count >= required
                ? nil
                : "needs \(required) approving reviewers; \(reviewers.count) eligible (the provider and the dataset's signed reviewer list, without the consumer)"
        }
    }

    /// How a review ended.
    public struct Outcome: Sendable {
        public let approved: Bool
        /// The signed decisions, in the order they came.
        public let decisions: [SignedReviewDecision]
        /// Why, in words (for the job's facts).
        public let summary: String
        /// The dataset's signed reviewer list when the review ended (nil: the provider alone reviewed).
        public let list: SignedReviewerList?

        public init(approved: Bool, decisions: [SignedReviewDecision], summary: String, list: SignedReviewerList?) {
            self.approved = approved
            self.decisions = decisions
            self.summary = summary
            self.list = list
        }
    }

    public let domain: JobDomain
    nonisolated public let log: DecisionLog
    private let reviewersDirectory: String
    private var lists: [Hash32: SignedReviewerList] = [:]
    private var cases: [Hash32: Case] = [:]
    private var settled: [Hash32: Outcome] = [:]
    private var waiters: [Hash32: CheckedContinuation<Outcome?, Never>] = [:]

    /// A desk whose decision log is `logPath` (verified at open) and whose reviewer lists are kept as
    /// `<dataset>.json` under `reviewersDirectory`.
    public init(domain: JobDomain, logPath: String, reviewersDirectory: String) throws(ComputingPlaneError) {
        self.domain = domain
        self.log = try DecisionLog(path: logPath)
        self.reviewersDirectory = reviewersDirectory
        do {
            try FileManager.default.createDirectory(atPath: reviewersDirectory, withIntermediateDirectories: true)
        } catch {
            throw ComputingPlaneError(.io, "cannot create \(reviewersDirectory): \(error.localizedDescription)")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: reviewersDirectory)) ?? []
        for name in names where name.hasSuffix(".json") {
            let path = reviewersDirectory + "/" + name
            guard let data = FileManager.default.contents(atPath: path),
                let object = try? JSONSerialization.jsonObject(with: data),
                let signed = try? SignedReviewerList(json: object)
            else { throw ComputingPlaneError(.io, "the reviewer list \(path) does not parse") }
            lists[signed.list.dataset] = signed
        }
    }

    // MARK: Reviewer lists

    /// The dataset's current signed list, nil when it has none.
    public func reviewers(of dataset: Hash32) -> SignedReviewerList? { lists[dataset] }

    /// Accepts `signed` when `provider` (the dataset's provider in the verified index) signed it and its
    /// version is above the one held; kept on disk before it takes effect.
    public func setReviewers(_ signed: SignedReviewerList, provider: Address) throws(ComputingPlaneError) {
        let list = signed.list
        let signer: Address
        do { signer = try signed.signer(domain) } catch {
            throw ComputingPlaneError(.badInput, "the reviewer list's signature: \(error.reason)")
        }
        guard signer == provider else {
            throw ComputingPlaneError(
                .forbidden,
                "the reviewer list is signed by \(signer.checksummed); only the dataset's provider \(provider.checksummed) names its reviewers"
            )
        }
        if let held = lists[list.dataset], held.list.version >= list.version {
            throw ComputingPlaneError(
                .conflict,
                "reviewer list version \(list.version): expected a version above \(held.list.version), the one held"
            )
        }
        let path = reviewersDirectory + "/" + Hex.encode(list.dataset.bytes, prefix: false) + ".json"
        do {
            let data = try JSONSerialization.data(withJSONObject: signed.json, options: [.sortedKeys])
            try DAStore.writeAtomically([UInt8](data), to: path)
        } catch {
            throw ComputingPlaneError(.io, "cannot keep the reviewer list at \(path): \(error)")
        }
        lists[list.dataset] = signed
    }

    /// The panel for a case: the provider and the list's reviewers, without the consumer.
    public func panel(dataset: Hash32, provider: Address, consumer: Address) -> Panel {
        let list = lists[dataset]?.list
        var reviewers = [provider]
        for reviewer in list?.reviewers ?? [] where !reviewers.contains(reviewer) { reviewers.append(reviewer) }
        reviewers.removeAll { $0 == consumer }
        return Panel(
            reviewers: reviewers,
            required: Int(list?.required ?? ReviewerList.defaultRequired),
            version: list?.version
        )
    }

    // MARK: Cases

    /// The gate's verdict on `job`, appended to the log; returns the log's head after it.
    @discardableResult
    public func recordGate(
        job: Hash32,
        verdict: GateVerdict,
        gateDigest: Hash32
    ) throws(ComputingPlaneError)
        -> Hash32
    {
        try log.append(job: job, kind: "gate", fields: ["verdict": verdict.rawValue, "gateDigest": gateDigest.hex])
            .hash
    }

    /// Every case waiting, oldest first.
    public func waiting() -> [Case] { cases.values.sorted { $0.since < $1.since } }

    /// The case of `job`, nil when nothing of it waits.
    public func waiting(_ job: Hash32) -> Case? { cases[job] }

    /// Opens the review of `job`'s output and waits for its outcome until `deadline` (rejected then).
    /// Returns nil when the job ended meanwhile (a cancel).
    public func review(
        job: Hash32,
        dataset: Hash32,
        consumer: Address,
        provider: Address,
        output: OutputPackage,
        report: GateReport,
        deadline: Duration
    ) async -> Outcome? {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        cases[job] = Case(
            job: job,
            dataset: dataset,
            consumer: consumer,
            provider: provider,
            outputDigest: output.digest,
            report: report,
            since: now,
            deadline: now + deadline.components.seconds * 1000,
            contents: output.contents,
            archive: output.archive
        )
        let timer = Task {
            try? await Task.sleep(for: deadline)
            self.expire(job)
        }
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome?, Never>) in
                if let early = settled[job] {
                    continuation.resume(returning: early)
                } else {
                    waiters[job] = continuation
                }
            }
        } onCancel: {
            Task { await self.close(job) }
        }
        timer.cancel()
        cases[job] = nil
        settled[job] = nil
        return outcome
    }

    /// The waiting output's tar for one of its reviewers: a reviewer signs
    /// keccak256("delong/review-output/v1" ‖ job id ‖ at) within five minutes of the plane's clock.
    public func output(_ job: Hash32, at: UInt64, signature: Signature) throws(ComputingPlaneError) -> [UInt8] {
        try open(job, for: try Self.reader(job, at: at, signature: signature)).archive
    }

    /// The gate's report on the waiting output, for one of its reviewers (signed as for ``output(_:at:signature:)``).
    public func report(_ job: Hash32, at: UInt64, signature: Signature) throws(ComputingPlaneError) -> GateReport {
        try open(job, for: try Self.reader(job, at: at, signature: signature)).report
    }

    /// Who signed a dated read request (within five minutes of the plane's clock).
    static func reader(_ job: Hash32, at: UInt64, signature: Signature) throws(ComputingPlaneError) -> Address {
        let now = UInt64(Date().timeIntervalSince1970)
        guard at + 300 >= now && at <= now + 300 else {
            throw ComputingPlaneError(.badInput, "the request is dated \(at); the plane's clock says \(now)")
        }
        do { return try Secp256k1.shared.recoverAddress(outputRequestHash(job: job, at: at), signature) } catch {
            throw ComputingPlaneError(.badInput, "the request's signature: \(error)")
        }
    }

    /// The gate's report on the waiting output, for `reader` when it is one of the case's reviewers (a
    /// signed-in session's address).
    public func report(_ job: Hash32, for reader: Address) throws(ComputingPlaneError) -> GateReport {
        try open(job, for: reader).report
    }

    /// The waiting output's files, for `reader` when it is one of the case's reviewers.
    public func files(
        _ job: Hash32,
        for reader: Address
    ) throws(ComputingPlaneError) -> [(path: String, bytes: [UInt8])] {
        try open(job, for: reader).contents
    }

    private func open(_ job: Hash32, for reader: Address) throws(ComputingPlaneError) -> Case {
        guard let open = cases[job], settled[job] == nil else {
            throw ComputingPlaneError(.conflict, "job \(job.hex) has no output waiting for review")
        }
        let panel = panel(dataset: open.dataset, provider: open.provider, consumer: open.consumer)
        guard panel.reviewers.contains(reader) else {
            throw ComputingPlaneError(
                .forbidden,
                "\(reader.checksummed) is not a reviewer of this output (the provider \(open.provider.checksummed) and the dataset's reviewer list are; the consumer never is)"
            )
        }
        return open
    }

    /// What a reviewer signs to read an output: keccak256("delong/review-output/v1" ‖ job id ‖ at, 8 bytes BE).
    public static func outputRequestHash(job: Hash32, at: UInt64) -> Hash32 {
        var at = at.bigEndian
        return Keccak256.hash(
            Array("delong/review-output/v1".utf8) + job.bytes + withUnsafeBytes(of: &at) { Array($0) }
        )
    }

    /// Ends the wait of `job` (a cancel or kill of the job): logged, and the agent gets nil.
    public func close(_ job: Hash32) {
        guard cases[job] != nil, settled[job] == nil else { return }
        _ = try? log.append(job: job, kind: "outcome", fields: ["outcome": "closed"])
        waiters.removeValue(forKey: job)?.resume(returning: nil)
        cases[job] = nil
    }

    private func expire(_ job: Hash32) {
        guard let open = cases[job], settled[job] == nil else { return }
        let panel = panel(dataset: open.dataset, provider: open.provider, consumer: open.consumer)
        let approvals = open.votes.filter(\.decision.approve).count
        let why =
            panel.shortfall.map { "the review deadline passed: \($0)" }
            ?? "the review deadline passed with \(approvals) of \(panel.required) approvals"
        settle(job, Outcome(approved: false, decisions: open.votes, summary: why, list: lists[open.dataset]))
    }

    private func settle(_ job: Hash32, _ outcome: Outcome) {
        guard settled[job] == nil else { return }
        // The outcome is logged before it takes effect; a log that cannot be written rejects.
        var outcome = outcome
        do {
            try log.append(
                job: job,
                kind: "outcome",
                fields: ["outcome": outcome.approved ? "approved" : "rejected", "summary": outcome.summary]
            )
        } catch {
            outcome = Outcome(
                approved: false,
                decisions: outcome.decisions,
                summary: "the decision log: \(error)",
                list: outcome.list
            )
        }
        settled[job] = outcome
        waiters.removeValue(forKey: job)?.resume(returning: outcome)
    }

    /// How far a case has come after a decision.
    public struct Progress: Sendable {
        public let approvals: Int
        public let required: Int
        /// approved or rejected once settled, nil while it waits.
        public let settled: Bool?
    }

    /// Accepts `decision` from one of the case's reviewers who has not decided yet, for the output that
    /// waits; else a `badInput` error naming what was expected and what was found.
    @discardableResult
    public func decide(_ decision: SignedReviewDecision) throws(ComputingPlaneError) -> Progress {
        let job = decision.decision.jobID
        let signer: Address
        do { signer = try decision.signer(domain) } catch {
            throw ComputingPlaneError(.badInput, "the review decision's signature: \(error)")
        }
        var open = try self.open(job, for: signer)
        guard decision.decision.outputDigest == open.outputDigest else {
            throw ComputingPlaneError(
                .conflict,
                "the decision is for output \(decision.decision.outputDigest.hex); the output waiting is \(open.outputDigest.hex)"
            )
        }
        guard !open.votes.contains(where: { (try? $0.signer(domain)) == signer }) else {
            throw ComputingPlaneError(.conflict, "\(signer.checksummed) has already decided on job \(job.hex)")
        }
        try log.append(job: job, kind: "review", fields: ["review": decision.json, "reviewer": signer.checksummed])
        open.votes.append(decision)
        cases[job] = open
        let panel = panel(dataset: open.dataset, provider: open.provider, consumer: open.consumer)
        let approvals = open.votes.filter(\.decision.approve).count
        // One rejection rejects; enough approvals approve; otherwise the case waits.
        let verdict: Bool? = !decision.decision.approve ? false : approvals >= panel.required ? true : nil
        if let verdict {
            let summary = verdict ? "approved by \(approvals) reviewers" : "rejected by \(signer.checksummed)"
            settle(
                job,
                Outcome(approved: verdict, decisions: open.votes, summary: summary, list: lists[open.dataset])
            )
        }
        return Progress(approvals: approvals, required: panel.required, settled: verdict)
    }
}
