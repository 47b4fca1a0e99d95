public import ChainCore
import Foundation
import Logging
public import Metrics
public import PlaneProtocol

#if canImport(Glibc)
import Glibc
#endif

/// The Computing Plane's job service: accepts Secure jobs, keeps the durable job log, queues them for the
/// backend, takes review decisions and cancels, and answers status. The HTTP routes are a thin layer on it.
public final class ComputePlane: Sendable {
    public let env: AgentEnvironment
    public let log: JobLog
    /// Where flagged outputs wait for reviewers.
    public let desk: ReviewDesk
    /// Earlier releases kept for the gate's differencing, and the desk, as this process holds them.
    public let releases: LocalAgentPlane
    let backend: any ComputeBackend
    /// The backend whose agents run out of this process (nil: they run in it); the agent API serves them.
    public let remote: RemoteBackend?
    let state: String

    /// Opens the job log under `state` (replaying it), marks every job a previous runner left unfinished as
    /// killed(runnerLost), and sweeps what such runners left behind. Jobs that finish are counted into
    /// `metrics` by outcome. With a `host`, agents run where it starts them (a child process, a Confidential
    /// VM) and reach this plane over its agent API; without, they run in this process.
    public init(
        env: AgentEnvironment,
        desk: ReviewDesk,
        state: String,
        maxConcurrent: Int,
        host: (any AgentHost)? = nil,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws {
        self.env = env
        self.desk = desk
        self.state = state
        releases = LocalAgentPlane(desk: desk, results: env.results)
        for directory in [state, env.results] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try JobWorkspace.prepareRoot(env.work)
        log = try JobLog(path: state + "/jobs.log", metrics: metrics)
        let lost = try log.recordLostRunners(at: Self.nowMillis())
        let swept = JobSweeper.sweep(work: env.work, sandbox: env.sandbox)
        if !lost.isEmpty || !swept.isEmpty {
            env.logger.warning(
                "jobs of a previous runner were lost",
                metadata: ["jobs": "\(lost)", "swept": "\(swept)"]
            )
        }
        if let host {
            let remote = RemoteBackend(env: env, log: log, desk: desk, host: host)
            self.remote = remote
            backend = remote
        } else {
            remote = nil
            backend = LocalBackend(env: env, log: log, desk: desk, maxConcurrent: maxConcurrent)
        }
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func factsPath(_ id: Hash32) -> String { env.resultDirectory(id) + "/facts.json" }

    /// Accepts a job: the request must be signed by the token's consumer for the token's job; then the job is
    /// queued. Refusals here are not recorded (nobody has shown they own the job); every later check is.
    public func submit(
        token: SignedAccessToken,
        request: SignedJobRequest
    ) async throws(ComputingPlaneError)
        -> JobState
    {
        let signer: Address
        do { signer = try request.signer(env.jobDomain) } catch {
            throw ComputingPlaneError(.badInput, "the job request's signature: \(error)")
        }
        guard signer == token.token.consumer else {
            throw ComputingPlaneError(
                .badInput,
                "the job request is signed by \(signer.checksummed), the token is for \(token.token.consumer.checksummed)"
            )
        }
        guard request.request.jobID == token.token.jobID else {
            throw ComputingPlaneError(
                .badInput,
                "the request is for job \(request.request.jobID.hex), the token for job \(token.token.jobID.hex)"
            )
        }
        let spec = JobSpec(token: token, request: request, consumer: signer, submittedAt: Self.nowMillis())
        if let known = log.state(of: spec.name) {
            throw ComputingPlaneError(.badInput, "job \(spec.name) was already submitted (now \(known))")
        }
        let facts: JobFacts
        do { facts = try JobFacts(spec: spec, path: factsPath(spec.id)) } catch {
            throw ComputingPlaneError(.io, "cannot record the job: \(error)")
        }
        guard case .moved(let state) = try log.append(.submitted, job: spec.name, at: spec.submittedAt) else {
            throw ComputingPlaneError(.badInput, "job \(spec.name) was already submitted")
        }
        await backend.launch(spec, facts: facts)
        env.logger.info("job submitted", metadata: ["job": "\(spec.name)", "consumer": "\(signer.checksummed)"])
        return state
    }

    /// The job's state, its events and facts; nil for a job never submitted here.
    public func status(_ id: Hash32) -> (state: JobState, events: [JobLog.Entry], facts: JobFacts.Values?)? {
        guard let state = log.state(of: id.hex) else { return nil }
        return (state, log.entries(of: id.hex), (try? JobFacts(reading: factsPath(id)))?.read { $0 })
    }

    /// Jobs of `consumer` (all, when nil), newest first.
    public func list(consumer: Address?) -> [(job: String, state: JobState, facts: JobFacts.Values?)] {
        log.jobs.reversed().compactMap { entry in
            guard let id = try? Hash32(hex: entry.job) else { return nil }
            let facts = (try? JobFacts(reading: factsPath(id)))?.read { $0 }
            if let consumer, facts?.consumer != consumer.checksummed { return nil }
            return (entry.job, entry.state, facts)
        }
    }

    /// Cancels a job for its consumer, who signs keccak256("delong/job-cancel/v1" ‖ job id ‖ at) within five
    /// minutes of the plane's clock. Idempotent: a finished job stays as it ended.
    public func cancel(_ id: Hash32, at: UInt64, signature: Signature) async throws(ComputingPlaneError) -> JobState {
        guard let status = status(id), let facts = status.facts else {
            throw ComputingPlaneError(.badInput, "no job \(id.hex) here")
        }
        let now = UInt64(Date().timeIntervalSince1970)
        guard at + 300 >= now && at <= now + 300 else {
            throw ComputingPlaneError(.badInput, "the cancel is dated \(at); the plane's clock says \(now)")
        }
        let signer: Address
        do { signer = try Secp256k1.shared.recoverAddress(JobCancellation.hash(job: id, at: at), signature) } catch {
            throw ComputingPlaneError(.badInput, "the cancel's signature: \(error)")
        }
        guard signer.checksummed == facts.consumer else {
            throw ComputingPlaneError(
                .badInput,
                "the cancel is signed by \(signer.checksummed); only the job's consumer \(facts.consumer) may cancel it"
            )
        }
        if status.state.isFinished { return status.state }
        await backend.terminate(id, reason: .cancelled)
        return log.state(of: id.hex) ?? status.state
    }

    /// The sealed output of a released job (nil until released).
    public func sealedOutput(_ id: Hash32) async -> [UInt8]? { await backend.result(id)?.sealed }
}

/// What a consumer signs to cancel a job: keccak256("delong/job-cancel/v1" ‖ job id ‖ at as 8 bytes BE).
public enum JobCancellation {
    public static func hash(job: Hash32, at: UInt64) -> Hash32 {
        var at = at.bigEndian
        let bytes = withUnsafeBytes(of: &at) { Array($0) }
        return Keccak256.hash(Array("delong/job-cancel/v1".utf8) + job.bytes + bytes)
    }
}

/// The local backend: agents run in this process, at most `maxConcurrent` executing at once; the rest wait in
/// a FIFO queue for at most the queue deadline. A job holds its slot from the end of its wait to the end of its
/// sandbox, not while its output waits for review.
public actor LocalBackend: ComputeBackend {
    struct Running {
        let task: Task<Void, Never>
        let control: SandboxControl
    }

    let env: AgentEnvironment
    let log: JobLog
    let desk: ReviewDesk
    let maxConcurrent: Int
    private var running: [Hash32: Running] = [:]
    /// Jobs holding an execution slot.
    private var holding: Set<Hash32> = []
    private var active = 0
    private var waiters: [(Hash32, CheckedContinuation<Bool, Never>)] = []

    public init(env: AgentEnvironment, log: JobLog, desk: ReviewDesk, maxConcurrent: Int) {
        self.env = env
        self.log = log
        self.desk = desk
        self.maxConcurrent = max(1, maxConcurrent)
    }

    /// Records `event` for `id`; the state after it.
    nonisolated func record(_ event: JobEvent, _ id: Hash32) throws -> JobState {
        switch try log.append(event, job: id.hex, at: ComputePlane.nowMillis()) {
        case .moved(let state), .ignored(let state): return state
        case .invalid(let why): throw ComputingPlaneError(.badInput, why)
        }
    }

    public func launch(_ job: JobSpec, facts: JobFacts) {
        let id = job.id
        guard running[id] == nil, log.state(of: job.name) == .active(.queued) else { return }
        var agent = JobAgent(spec: job, env: env, control: SandboxControl(), facts: facts) { [self] event in
            try self.record(event, id)
        }
        agent.executionDone = { await self.releaseSlot(id) }
        let task = Task {
            guard await self.acquire(id) else {
                _ = try? self.record(.killed(.timeout), id)
                self.running[id] = nil
                return
            }
            self.holding.insert(id)
            await agent.run()
            self.releaseSlot(id)
            self.running[id] = nil
            self.cleanup(id)
        }
        running[id] = Running(task: task, control: agent.control)
    }

    public func status(_ id: Hash32) -> JobState? { log.state(of: id.hex) }

    public func terminate(_ id: Hash32, reason: KillReason) async {
        _ = try? record(.killed(reason), id)
        await desk.close(id)
        guard let job = running[id] else { return }
        job.control.kill(reason: reason.rawValue)
        job.task.cancel()
        if let index = waiters.firstIndex(where: { $0.0 == id }) {
            waiters.remove(at: index).1.resume(returning: false)
        }
    }

    public func result(_ id: Hash32) -> SealedResult? { SealedResult.read(id, env: env, log: log) }

    public func cleanup(_ id: Hash32) {
        JobWorkspace.remove(env.work + "/" + Hex.encode(id.bytes, prefix: false))
    }

    private func acquire(_ id: Hash32) async -> Bool {
        if active < maxConcurrent {
            active += 1
            return true
        }
        let wait = env.deadlines.queue
        Task {
            try? await Task.sleep(for: wait)
            self.expire(id)
        }
        return await withCheckedContinuation { continuation in waiters.append((id, continuation)) }
    }

    private func expire(_ id: Hash32) {
        guard let index = waiters.firstIndex(where: { $0.0 == id }) else { return }
        waiters.remove(at: index).1.resume(returning: false)
    }

    /// Frees `id`'s execution slot for the next queued job (once; later calls do nothing).
    func releaseSlot(_ id: Hash32) {
        guard holding.remove(id) != nil else { return }
        if waiters.isEmpty {
            active -= 1
        } else {
            waiters.removeFirst().1.resume(returning: true)
        }
    }
}

/// What a lost runner leaves: job work directories (with a Decrypt FUSE perhaps still mounted), sandbox
/// staging directories (with /out's tmpfs), and job cgroups. Only this plane's are removed (its work directory,
/// and sandboxes named with its `namePrefix`): other runners on the host keep theirs. The names are returned.
public enum JobSweeper {
    public static func sweep(work: String, sandbox: SandboxRunner) -> [String] {
        let own = sandbox.namePrefix + "job-"
        var swept: [String] = []
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: work)) ?? [] {
            JobWorkspace.remove(work + "/" + name)
            swept.append("work/\(name)")
        }
        for name in (try? fm.contentsOfDirectory(atPath: sandbox.stateDirectory)) ?? [] where name.hasPrefix(own) {
            let stage = sandbox.stateDirectory + "/" + name
            umount2(stage + "/out", Int32(MNT_DETACH))
            try? fm.removeItem(atPath: stage)
            swept.append("sandbox/\(name)")
        }
        swept += JobCgroup.sweep(root: sandbox.cgroupRoot, prefix: own)
        return swept
    }
}
