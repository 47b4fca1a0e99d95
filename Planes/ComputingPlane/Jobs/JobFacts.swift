public import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol

/// What the plane knows about one job beyond its state: who asked for what, the digests met on the way,
/// resource use, the review and the published result. Kept as `facts.json` in the job's result directory
/// (written whole and renamed on every change) so that status, logs and fetch survive a restart.
public final class JobFacts: @unchecked Sendable {
    public struct File: Codable, Sendable, Hashable {
        public var path: String
        public var size: Int
        public var sha256: String
    }

    public struct Resources: Codable, Sendable, Hashable {
        public var wallSeconds: Double
        public var cpuSeconds: Double
        public var peakMemoryBytes: UInt64
    }

    public struct Values: Codable, Sendable {
        public var job: String
        public var consumer: String
        public var dataset: String
        public var imageDigest: String
        public var recipient: String
        public var cpus: UInt32
        public var memoryBytes: UInt64
        public var timeoutSeconds: UInt32
        public var submittedAt: Int64
        /// The consumer's signed request and the token, as submitted (for the evidence bundle after a restart).
        public var request: String
        public var token: String
        public var bundleDigest: String?
        public var runtimeDigest: String?
        public var manifestDigest: String?
        public var agentSigner: String?
        public var resources: Resources?
        public var outputDigest: String?
        public var files: [File]?
        public var rejectedOutputs: Int?
        /// The dataset's provider (for a job whose output went to review).
        public var reviewer: String?
        /// Who may review it, and how many approvals it needs.
        public var reviewers: [String]?
        public var reviewRequired: Int?
        /// Why it cannot be approved yet (too few eligible reviewers), or how the review ended.
        public var reviewSummary: String?
        /// The signed decisions (each with its reason: what the consumer sees of the review).
        public var reviews: [String]?
        public var revocation: String?
        /// For an exited job: the built-in exception type and the bundle line (``FailureSummary``).
        public var failure: String?
        public var cipherDigest: String?
        public var evidenceDigest: String?
        public var transaction: String?
        public var result: String?
    }

    public let path: String
    private let lock = NSLock()
    private var values: Values

    /// New facts for `spec`, written at `path`.
    public init(spec: JobSpec, path: String) throws {
        self.path = path
        let request = spec.request.request
        values = Values(
            job: spec.name,
            consumer: spec.consumer.checksummed,
            dataset: request.dataset.hex,
            imageDigest: request.imageDigest.hex,
            recipient: request.outputRecipient.description,
            cpus: request.limits.cpus,
            memoryBytes: request.limits.memoryBytes,
            timeoutSeconds: request.limits.timeoutSeconds,
            submittedAt: spec.submittedAt,
            request: Self.text(spec.request.json),
            token: Self.text(spec.token.json)
        )
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        try save(values)
    }

    /// The facts saved at `path`.
    public init(reading path: String) throws {
        self.path = path
        values = try JSONDecoder().decode(Values.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    public func read<T>(_ body: (Values) -> T) -> T { lock.withLock { body(values) } }

    /// Changes the facts and saves them (a failed save is logged by the caller's next read; facts are not
    /// the job's state, which the job log holds).
    public func update(_ change: (inout Values) -> Void) {
        let snapshot = lock.withLock { () -> Values in
            change(&values)
            return values
        }
        try? save(snapshot)
    }

    /// Takes the facts an agent out of this process reports (docs/jobs.md "Agents out of process"). What the
    /// plane recorded at submission (the job, its consumer, dataset, image, request and token) cannot change.
    public func adopt(_ reported: Values) throws(ComputingPlaneError) {
        let held = read { $0 }
        let fixed: [(String, String, String)] = [
            ("job", held.job, reported.job), ("consumer", held.consumer, reported.consumer),
            ("dataset", held.dataset, reported.dataset), ("imageDigest", held.imageDigest, reported.imageDigest),
            ("recipient", held.recipient, reported.recipient), ("request", held.request, reported.request),
            ("token", held.token, reported.token),
        ]
        for (name, expected, found) in fixed where expected != found {
            throw ComputingPlaneError(
                .badInput,
                "the agent's facts change \(name): expected \(expected), found \(found)"
            )
        }
        var reported = reported
        reported.submittedAt = held.submittedAt
        lock.withLock { values = reported }
        do { try save(reported) } catch { throw ComputingPlaneError(.io, "cannot keep the job's facts: \(error)") }
    }

    private func save(_ snapshot: Values) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try DAStore.writeAtomically([UInt8](try encoder.encode(snapshot)), to: path)
    }

    static func text(_ object: [String: Any]) -> String {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map {
            String(decoding: $0, as: UTF8.self)
        } ?? "{}"
    }

    /// `text` parsed back into a JSON object.
    public static func object(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }
}

/// The Output Gate's verdict document for one output: the gate's report (per file: decision and findings,
/// which name places and checks, never values) and the files the sandbox dropped.
public struct GateDocument: Sendable {
    public let verdict: GateVerdict
    public let report: GateReport
    /// The document as canonical JSON (sorted keys).
    public let text: String
    /// sha256 of `text`: what the result record names.
    public let digest: Hash32

    public var json: [String: Any] { JobFacts.object(text) ?? [:] }

    init(package: OutputPackage, report: GateReport, rejected: [SandboxResult.Rejected]) {
        verdict = report.decision
        self.report = report
        let object: [String: Any] = [
            "version": 2,
            "verdict": verdict.rawValue,
            "report": (try? JSONSerialization.jsonObject(with: Data(report.json()))) ?? [:],
            "outputDigest": package.digest.hex,
            "files": package.files.map { ["path": $0.path, "size": $0.size, "sha256": $0.sha256.hex] },
            "rejected": rejected.map { ["path": $0.path, "reason": $0.reason] },
        ]
        text = JobFacts.text(object)
        digest = BundleDigest.of(Array(text.utf8))
    }
}

/// What an auditor needs to check a released job without trusting the plane (stored in the DA store under
/// its sha256, which JobRecorded.attestationDigest names): the evidence and what it binds, the Privacy
/// Plane's signed receipt, the consumer's request and token, the gate document, the review decisions and the
/// agent's signed result record. Canonical JSON: sorted keys, no spaces.
struct EvidenceBundle {
    let spec: JobSpec
    let attesterKind: String
    let evidence: [UInt8]
    /// The producer's event log (dstack's JSON log under `--evidence dstack`), published beside the quote so an
    /// auditor can replay RTMR3; nil when the producer has none.
    let eventLog: String?
    let reportData: [UInt8]
    let exchangeKey: [UInt8]
    let agentSigner: Address
    let receipt: SignedReceipt
    let gate: GateDocument
    let decisions: [SignedReviewDecision]
    /// The dataset's signed reviewer list the decisions were judged under (nil: none, or no review).
    let reviewerList: SignedReviewerList?
    /// The job's entries of the plane's decision log, as written; the last one's hash is the record's
    /// reviewDigest.
    let log: [DecisionLog.Entry]
    let result: SignedResultRecord

    func encoded() throws -> [UInt8] {
        let object: [String: Any] = [
            "type": "delong-evidence-bundle-v1",
            "job": spec.name,
            "evidence": ["kind": attesterKind, "bytes": Hex.encode(evidence)].merging(
                eventLog.map { ["eventLog": $0] } ?? [:],
                uniquingKeysWith: { a, _ in a }
            ),
            "collateral": attesterKind.hasPrefix("INSECURE") ? "none (development evidence)" : "Intel PCS",
            "reportData": Hex.encode(reportData),
            "agent": ["exchangeKey": Hex.encode(exchangeKey), "signer": agentSigner.checksummed],
            "token": spec.token.json,
            "request": spec.request.json,
            "receipt": receipt.json,
            // The exact text the record's gateDigest hashes.
            "gate": gate.text,
            "reviews": decisions.map(\.json),
            "decisionLog": log.map(\.line),
            "reviewerList": reviewerList?.json ?? NSNull(),
            "result": result.json,
        ]
        return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}
