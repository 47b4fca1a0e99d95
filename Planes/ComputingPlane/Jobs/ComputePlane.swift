public import ChainCore
import Foundation
import Logging
public import PlaneProtocol

#if canImport(Glibc)
import Glibc
#endif

/// The Computing Plane's job service: accepts Secure jobs, keeps the durable job log, queues them for the
/// backend, takes review decisions and cancels, and answers status. The HTTP routes are a thin layer on it.
public final class ComputePlane: Sendable {
    public let env: AgentEnvironment
    public let log: JobLog
    let backend: LocalBackend
    let state: String

    /// Opens the job log under `state` (replaying it), marks every job a previous runner left unfinished as
    /// killed(runnerLost), and sweeps what such runners left behind.
    public init(env: AgentEnvironment, state: String, maxConcurrent: Int) throws {
        self.env = env
        self.state = state
        for directory in [state, env.work, env.results] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        chmod(env.work, 0o711)
        log = try JobLog(path: state + "/jobs.log")
        let lost = try log.recordLostRunners(at: Self.nowMillis())
        let swept = JobSweeper.sweep(work: env.work, sandbox: env.sandbox)
        if !lost.isEmpty || !swept.isEmpty {
            env.logger.warning(
                "jobs of a previous runner were lost",
                metadata: ["jobs": "\(lost)", "swept": "\(swept)"]
            )
        }
        backend = LocalBackend(maxConcurrent: maxConcurrent, queueWait: env.deadlines.queue)
    }

    static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func factsPath(_ id: Hash32) -> String { env.results + "/" + Hex.encode(id.bytes, prefix: false) + "/facts.json" }

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
        let control = SandboxControl()
        let log = self.log
        var agent = JobAgent(spec: spec, env: env, control: control, facts: facts) { event in
            switch try log.append(event, job: spec.name, at: Self.nowMillis()) {
            case .moved(let state), .ignored(let state): return state
            case .invalid(let why): throw ComputingPlaneError(.badInput, why)
            }
        }
        let backend = self.backend
        agent.executionDone = { await backend.releaseSlot(spec.id) }
        await backend.start(
            agent,
            onQueueTimeout: { [log] in
                _ = try? log.append(.killed(.timeout), job: spec.name, at: Self.nowMillis())
            }
        )
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
        _ = try log.append(.killed(.cancelled), job: id.hex, at: Self.nowMillis())
        await env.desk.close(id)
        await backend.terminate(id, reason: .cancelled)
        return log.state(of: id.hex) ?? status.state
    }

    /// The sealed output of a released job (nil until released).
    public func sealedOutput(_ id: Hash32) -> [UInt8]? {
        guard case .finished(.released) = log.state(of: id.hex) else { return nil }
        let path = env.results + "/" + Hex.encode(id.bytes, prefix: false) + "/output.age"
        return (try? Data(contentsOf: URL(fileURLWithPath: path))).map { [UInt8]($0) }
    }
}

/// What a consumer signs to cancel a job: keccak256("delong/job-cancel/v1" ‖ job id ‖ at as 8 bytes BE).
public enum JobCancellation {
    public static func hash(job: Hash32, at: UInt64) -> Hash32 {
        var at = at.bigEndian
        let bytes = withUnsafeBytes(of: &at) { Array($0) }
        return Keccak256.hash(Array("delong/job-cancel/v1".utf8) + job.bytes + bytes)
    }
}

/// The local backend: agents run in this process, at most `maxConcurrent` at once; the rest wait in a FIFO
/// queue for at most `queueWait`.
actor LocalBackend {
    struct Running {
        let task: Task<Void, Never>
        let control: SandboxControl
    }

    let maxConcurrent: Int
    let queueWait: Duration
    private var running: [Hash32: Running] = [:]
    /// Jobs holding an execution slot (from the end of the queue to the end of their sandbox).
    private var holding: Set<Hash32> = []
    private var active = 0
    private var waiters: [(Hash32, CheckedContinuation<Bool, Never>)] = []

    init(maxConcurrent: Int, queueWait: Duration) {
        self.maxConcurrent = max(1, maxConcurrent)
        self.queueWait = queueWait
    }

    /// Starts `agent` once a slot is free (idempotent on the job id).
    func start(_ agent: JobAgent, onQueueTimeout: @escaping @Sendable () -> Void) {
        let id = agent.spec.id
        guard running[id] == nil else { return }
        let task = Task {
            guard await self.acquire(id) else {
                onQueueTimeout()
                self.running[id] = nil
                return
            }
            self.holding.insert(id)
            await agent.run()
            self.releaseSlot(id)
            self.running[id] = nil
        }
        running[id] = Running(task: task, control: agent.control)
    }

    private func acquire(_ id: Hash32) async -> Bool {
        if active < maxConcurrent {
            active += 1
            return true
        }
        let wait = queueWait
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

    func terminate(_ id: Hash32, reason: KillReason) {
        guard let job = running[id] else { return }
        job.control.kill(reason: reason.rawValue)
        job.task.cancel()
        if let index = waiters.firstIndex(where: { $0.0 == id }) {
            waiters.remove(at: index).1.resume(returning: false)
        }
    }
}

/// What a lost runner leaves: job work directories (with a Decrypt FUSE perhaps still mounted), sandbox
/// staging directories (with /out's tmpfs), and job cgroups. Each is removed; the names are returned.
enum JobSweeper {
    static func sweep(work: String, sandbox: SandboxRunner) -> [String] {
        var swept: [String] = []
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: work)) ?? [] {
            JobWorkspace.remove(work + "/" + name)
            swept.append("work/\(name)")
        }
        for name in (try? fm.contentsOfDirectory(atPath: sandbox.stateDirectory)) ?? [] where name.hasPrefix("job-") {
            let stage = sandbox.stateDirectory + "/" + name
            umount2(stage + "/out", Int32(MNT_DETACH))
            try? fm.removeItem(atPath: stage)
            swept.append("sandbox/\(name)")
        }
        let root = sandbox.cgroupRoot
        let parents =
            fm.fileExists(atPath: root + "/cgroup.controllers")
            ? [root + "/delong"] : ["memory", "pids", "cpu", "cpuacct", "freezer"].map { "\(root)/\($0)/delong" }
        for parent in parents {
            for name in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix("job-") {
                let group = parent + "/" + name
                let procs = (try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8)) ?? ""
                for pid in procs.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
                for _ in 0..<50 where rmdir(group) != 0 { usleep(20_000) }
                swept.append("cgroup/\(name)")
            }
        }
        return swept
    }
}
