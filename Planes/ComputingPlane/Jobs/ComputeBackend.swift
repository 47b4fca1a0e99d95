public import ChainCore
import Foundation
public import PlaneProtocol

/// A Secure job as the plane accepted it: the Privacy Plane's token and the consumer's signed request, which
/// names the output recipient and the limits. Both signatures were checked at submission; the agent checks
/// the token again against the verified index before anything runs.
public struct JobSpec: Sendable {
    public var token: SignedAccessToken
    public var request: SignedJobRequest
    /// The token's consumer, who signed the request.
    public var consumer: Address
    /// Unix milliseconds.
    public var submittedAt: Int64

    public init(token: SignedAccessToken, request: SignedJobRequest, consumer: Address, submittedAt: Int64) {
        self.token = token
        self.request = request
        self.consumer = consumer
        self.submittedAt = submittedAt
    }

    public var id: Hash32 { request.request.jobID }
    /// The id as the job log and the API spell it: 0x + 64 hex digits.
    public var name: String { id.hex }
}

/// A released job's output as the backend hands it out: the age file and the agent's signed record.
public struct SealedResult: Sendable {
    public var sealed: [UInt8]
    public var record: SignedResultRecord
    /// sha256 of the evidence bundle in the DA store (JobRecorded.attestationDigest).
    public var evidenceDigest: Hash32

    /// A released job's result as the plane keeps it: `output.age` and the facts under its result directory.
    static func read(_ id: Hash32, env: AgentEnvironment, log: JobLog) -> SealedResult? {
        guard case .finished(.released) = log.state(of: id.hex) else { return nil }
        let directory = env.resultDirectory(id)
        guard let sealed = FileManager.default.contents(atPath: directory + "/output.age"),
            let facts = try? JobFacts(reading: directory + "/facts.json").read({ $0 }),
            let record = facts.result.flatMap(JobFacts.object).flatMap({ try? SignedResultRecord(json: $0) }),
            let evidence = facts.evidenceDigest.flatMap({ try? Hash32(hex: $0) })
        else { return nil }
        return SealedResult(sealed: [UInt8](sealed), record: record, evidenceDigest: evidence)
    }
}

/// Where a job's agent runs (design §7, after OpenSAFELY's ExecutorAPI). Every call is idempotent on the job
/// id: a repeated launch of a known job starts nothing new, a repeated terminate changes nothing, `status` and
/// `result` never change anything, and `cleanup` may be called any number of times. The local backend
/// (``LocalBackend``) runs the agent in this process; ``RemoteBackend`` runs the same agent where an
/// ``AgentHost`` starts it (a child process, a Confidential VM), and it reports the same events over the
/// plane's agent API.
public protocol ComputeBackend: Sendable {
    /// Starts the job's agent (queued until a slot is free), unless it was launched before.
    func launch(_ job: JobSpec, facts: JobFacts) async
    /// Where the job is, from the durable job log (nil for a job never launched here).
    func status(_ id: Hash32) async -> JobState?
    /// Kills the job (SIGKILL semantics) and records `killed(reason)` unless it already ended: its sandbox
    /// dies, its key is dropped, nothing is released.
    func terminate(_ id: Hash32, reason: KillReason) async
    /// The sealed output and signed record of a released job; nil otherwise.
    func result(_ id: Hash32) async -> SealedResult?
    /// Removes what the job left on this machine (work directory, mounts); the sealed result stays.
    func cleanup(_ id: Hash32) async
}
