public import ChainCore
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

/// Where a job's agent runs (design §7, after OpenSAFELY's ExecutorAPI). Every call is idempotent on the job
/// id: a repeated launch of a known job starts nothing new, a repeated terminate changes nothing, `status`
/// never changes anything, and `cleanup` is the last call a job gets. The local backend runs the agent in this
/// process; the Confidential VM backend (the production issue) runs the same agent in a TDX guest.
public protocol ComputeBackend: Sendable {
    /// Starts the job's agent, unless it already runs or ran.
    func launch(_ job: JobSpec) async throws(ComputingPlaneError)
    /// Whether the job's agent is still running here.
    func isRunning(_ id: Hash32) async -> Bool
    /// Kills the job (SIGKILL semantics): its sandbox dies, its key is dropped, nothing is released. The
    /// agent records the kill with `reason` unless the job already ended.
    func terminate(_ id: Hash32, reason: KillReason) async
    /// Removes what the job left on this machine (mounts, sandboxes, work files); the sealed result stays.
    func cleanup(_ id: Hash32) async
}
