public import ChainCore
import ChainRecords
import Foundation
import Logging
import PlaneCrypto
import PlaneProtocol
import Synchronization

/// What an agent out of the plane's process is started with: its job, the plane's agent API, and the job's
/// agent secret (64 hex digits), which the agent presents as a bearer on every call. A Confidential VM gets
/// these as instance metadata (docs/confidential-vm.md).
public struct AgentLaunch: Sendable {
    public let job: Hash32
    public let plane: String
    public let secret: String
    /// Past this, the host may end the agent whatever it is doing (a VM's maxRunDuration).
    public let maxRunSeconds: Int
}

/// Where an out-of-process agent runs: a child process on this machine (``ProcessAgentHost``) or a
/// Confidential VM. Both calls are idempotent on the job.
public protocol AgentHost: Sendable {
    /// Starts `launch.job`'s agent (`delong agent --job ID`), or does nothing if it was started before.
    func start(_ launch: AgentLaunch) async throws
    /// Ends the agent and whatever it ran (SIGKILL semantics; a VM is deleted).
    func stop(_ job: Hash32) async
    /// Removes agents left behind (a VM whose delete was lost, one past its run limit); `ended` says whether
    /// a job of this plane is over. Called every ``sweepInterval``.
    func sweep(ended: @escaping @Sendable (Hash32) -> Bool) async
    /// How often ``sweep(ended:)`` runs (nil: never; a child process cannot outlive its stop).
    var sweepInterval: Duration? { get }
}

extension AgentHost {
    public func sweep(ended: @escaping @Sendable (Hash32) -> Bool) async {}
    public var sweepInterval: Duration? { nil }
}

/// The backend whose agents run out of the plane's process, where an ``AgentHost`` starts them. Each job gets
/// a fresh random agent secret (the plane keeps only its sha256); the agent fetches its job, reports each
/// event, asks for the review desk, and hands back the sealed output over the agent API
/// (Planes/ComputingPlaneHTTP/AgentRoutes.swift). The plane still owns the job log: an event the agent
/// reports is applied by the same state machine, so an agent cannot skip a phase or release without a gate
/// verdict. An agent that never reports its first phase within the queue deadline is killed(timeout).
public actor RemoteBackend: ComputeBackend {
    struct Link {
        let spec: JobSpec
        let facts: JobFacts
        let secretHash: [UInt8]
        var reported = false
        /// A review the agent opened: the desk's wait for it, and its outcome as agents poll for it.
        var reviewTask: Task<Void, Never>?
        var review: PendingReview?
    }

    nonisolated let env: AgentEnvironment
    nonisolated let log: JobLog
    nonisolated let desk: ReviewDesk
    nonisolated let host: any AgentHost
    /// The agent API's base URL as agents reach it (set once the plane listens).
    private var planeURL: String?
    private var links: [Hash32: Link] = [:]

    public init(env: AgentEnvironment, log: JobLog, desk: ReviewDesk, host: any AgentHost) {
        self.env = env
        self.log = log
        self.desk = desk
        self.host = host
        if let interval = host.sweepInterval {
            // The backend lives as long as its plane's process.
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    await self.sweepHost()
                }
            }
        }
    }

    /// The host's sweep, with a job counted as ended when this plane's log says it finished.
    private func sweepHost() async {
        let log = self.log
        await host.sweep { log.state(of: $0.hex)?.isFinished == true }
    }

    /// Where agents reach the plane; jobs launched before this is set wait for it.
    public func serve(at url: String) { planeURL = url }

    nonisolated func record(_ event: JobEvent, _ id: Hash32) throws(ComputingPlaneError) -> JobState {
        switch try log.append(event, job: id.hex, at: ComputePlane.nowMillis()) {
        case .moved(let state), .ignored(let state): return state
        case .invalid(let why): throw ComputingPlaneError(.conflict, why)
        }
    }

    public func launch(_ job: JobSpec, facts: JobFacts) async {
        let id = job.id
        guard links[id] == nil, log.state(of: job.name) == .active(.queued) else { return }
        let secret: String
        do {
            let bytes = try SecretBytes.random(count: 32)
            secret = bytes.withUnsafeBytes { Hex.encode(Array($0), prefix: false) }
        } catch {
            _ = try? record(.failed("no agent secret: \(error)"), id)
            return
        }
        links[id] = Link(spec: job, facts: facts, secretHash: Digest.sha256(Array(secret.utf8)))
        let timeout = Int(job.request.request.limits.timeoutSeconds)
        let budget = env.deadlines.queue + env.deadlines.step * 6 + env.deadlines.review + env.deadlines.publish
        let maxRun = timeout + Int(budget.components.seconds)
        Task {
            for _ in 0..<200 where self.planeURL == nil { try? await Task.sleep(for: .milliseconds(50)) }
            guard let plane = self.planeURL else {
                _ = try? self.record(.failed("the agent API is not listening"), id)
                return
            }
            do {
                try await self.host.start(AgentLaunch(job: id, plane: plane, secret: secret, maxRunSeconds: maxRun))
            } catch {
                self.env.logger.warning("the agent host failed", metadata: ["job": "\(job.name)", "error": "\(error)"])
                _ = try? self.record(.failed("the agent host: \(error)"), id)
                await self.host.stop(id)
                return
            }
            try? await Task.sleep(for: self.env.deadlines.queue)
            await self.expireIfSilent(id)
        }
    }

    private func expireIfSilent(_ id: Hash32) async {
        guard let link = links[id], !link.reported, log.state(of: id.hex)?.isFinished == false else { return }
        env.logger.warning("the agent never reported", metadata: ["job": "\(id.hex)"])
        await terminate(id, reason: .timeout)
    }

    public func status(_ id: Hash32) -> JobState? { log.state(of: id.hex) }

    public func terminate(_ id: Hash32, reason: KillReason) async {
        _ = try? record(.killed(reason), id)
        await desk.close(id)
        links[id]?.reviewTask?.cancel()
        await host.stop(id)
    }

    public func result(_ id: Hash32) -> SealedResult? { SealedResult.read(id, env: env, log: log) }

    public func cleanup(_ id: Hash32) async {
        await host.stop(id)
        links[id] = nil
    }

    // MARK: The agent API

    /// The job whose agent presents `secret`; refused alike for an unknown job and a wrong secret.
    public func authorize(_ id: Hash32, secret: [UInt8]) throws(ComputingPlaneError) -> JobSpec {
        let presented = Digest.sha256(secret)
        guard let link = links[id],
            presented.withUnsafeBytes({ a in link.secretHash.withUnsafeBytes { b in ConstantTime.equals(a, b) } })
        else {
            throw ComputingPlaneError(.forbidden, "no agent of job \(id.hex) holds this secret")
        }
        return link.spec
    }

    /// The job an agent was launched for (after ``authorize``).
    public func spec(_ id: Hash32) throws(ComputingPlaneError) -> JobSpec {
        guard let link = links[id] else { throw ComputingPlaneError(.notFound, "no agent of job \(id.hex)") }
        return link.spec
    }

    /// Applies an event the agent reports (with its facts, when sent); returns the job's state after it.
    /// `published` needs the sealed output first. A terminal event ends the agent's host.
    public func report(
        _ id: Hash32,
        event: JobEvent,
        facts: JobFacts.Values?
    ) async throws(ComputingPlaneError) -> JobState {
        guard let link = links[id] else { throw ComputingPlaneError(.notFound, "no agent of job \(id.hex)") }
        // Refused before anything is taken from the report: a refused event changes nothing.
        if case .submitted = event { throw ComputingPlaneError(.badInput, "an agent cannot submit a job") }
        if let facts { try link.facts.adopt(facts) }
        if event == .published {
            let path = env.resultDirectory(id) + "/output.age"
            guard FileManager.default.fileExists(atPath: path) else {
                throw ComputingPlaneError(.conflict, "published before the sealed output was handed over")
            }
        }
        links[id]?.reported = true
        let state = try record(event, id)
        if state.isFinished {
            await desk.close(id)
            Task { await self.cleanup(id) }
        }
        return state
    }

    /// Keeps the sealed output the agent hands over (before it reports `published`).
    public func deliver(_ id: Hash32, sealed: [UInt8]) throws(ComputingPlaneError) {
        guard links[id] != nil else { throw ComputingPlaneError(.notFound, "no agent of job \(id.hex)") }
        guard case .active(.publishing) = log.state(of: id.hex) else {
            throw ComputingPlaneError(
                .conflict,
                "the sealed output is taken only while the job publishes; it is \(log.state(of: id.hex).map { "\($0)" } ?? "unknown")"
            )
        }
        let directory = env.resultDirectory(id)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try DAStore.writeAtomically(sealed, to: directory + "/output.age")
        } catch { throw ComputingPlaneError(.io, "cannot keep the sealed output: \(error)") }
    }

    /// Opens `id`'s review on the desk (once; a repeated call keeps the first).
    public func openReview(_ id: Hash32, output: OutputPackage, report: GateReport) throws(ComputingPlaneError) {
        guard var link = links[id] else { throw ComputingPlaneError(.notFound, "no agent of job \(id.hex)") }
        guard case .active(.inReview) = log.state(of: id.hex) else {
            throw ComputingPlaneError(.conflict, "job \(id.hex) is not waiting for review")
        }
        guard link.review == nil else { return }
        let token = link.spec.token.token
        let provider: Address
        do {
            guard let record = try env.records.dataset(token.dataset) else {
                throw ComputingPlaneError(.notFound, "no dataset \(token.dataset.hex) in the verified index")
            }
            provider = record.provider
        } catch let error as ComputingPlaneError { throw error } catch {
            throw ComputingPlaneError(.io, "the index: \(error)")
        }
        let desk = self.desk
        let deadline = env.deadlines.review
        let pending = PendingReview()
        link.review = pending
        link.reviewTask = Task {
            pending.settle(
                await desk.review(
                    job: id,
                    dataset: token.dataset,
                    consumer: token.consumer,
                    provider: provider,
                    output: output,
                    report: report,
                    deadline: deadline
                )
            )
        }
        links[id] = link
    }

    /// The review's outcome once settled, waiting at most `wait`; nil while it is still open.
    public func reviewOutcome(_ id: Hash32, wait: Duration) async throws(ComputingPlaneError) -> ReviewDesk.Outcome?? {
        guard let review = links[id]?.review else {
            throw ComputingPlaneError(.conflict, "no review of job \(id.hex) was opened")
        }
        return await review.outcome(waitingAtMost: wait)
    }

    /// Sends AlgorithmRegistry.recordJob for the agent, after checking it names the job as submitted.
    public func recordJob(
        _ id: Hash32,
        outputDigest: Hash32,
        attestationDigest: Hash32
    ) async throws -> String {
        guard let link = links[id] else { throw ComputingPlaneError(.notFound, "no agent of job \(id.hex)") }
        guard case .active(.publishing) = log.state(of: id.hex) else {
            throw ComputingPlaneError(.conflict, "recordJob is sent only while the job publishes")
        }
        let token = link.spec.token.token
        return try await env.recorder.recordJob(
            job: id,
            dataset: token.dataset,
            consumer: token.consumer,
            imageDigest: token.imageDigest,
            outputDigest: outputDigest,
            attestationDigest: attestationDigest
        )
    }
}

/// A review's outcome as agents long-poll for it: settled once; each poll waits for the settlement or its own
/// bound, whichever comes first, and a poll that times out leaves nothing waiting behind it. (Racing the desk's
/// task in a task group did not: a group waits for every child, and a task's value cannot be cancelled, so a
/// poll held until the review ended, past the agent's request timeout.)
final class PendingReview: Sendable {
    private enum State: Sendable {
        case open(waiters: [UInt64: CheckedContinuation<ReviewDesk.Outcome??, Never>], next: UInt64)
        /// nil: the job ended before the review did.
        case settled(ReviewDesk.Outcome?)
    }

    private let state = Mutex(State.open(waiters: [:], next: 0))

    /// Ends the review: every poll waiting now, and every later one, gets `outcome`.
    func settle(_ outcome: ReviewDesk.Outcome?) {
        let waiters = state.withLock { state -> [CheckedContinuation<ReviewDesk.Outcome??, Never>] in
            guard case .open(let waiters, _) = state else { return [] }
            state = .settled(outcome)
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: .some(outcome)) }
    }

    /// The outcome once settled (`.some(nil)`: the job ended first), or `.none` if `wait` passes first.
    func outcome(waitingAtMost wait: Duration) async -> ReviewDesk.Outcome?? {
        await withCheckedContinuation { continuation in
            let ticket = state.withLock { state -> UInt64? in
                switch state {
                case .settled(let outcome):
                    continuation.resume(returning: .some(outcome))
                    return nil
                case .open(var waiters, let next):
                    waiters[next] = continuation
                    state = .open(waiters: waiters, next: next + 1)
                    return next
                }
            }
            guard let ticket else { return }
            Task {
                try? await Task.sleep(for: wait)
                self.expire(ticket)
            }
        }
    }

    private func expire(_ ticket: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<ReviewDesk.Outcome??, Never>? in
            guard case .open(var waiters, let next) = state, let waiter = waiters.removeValue(forKey: ticket) else {
                return nil
            }
            state = .open(waiters: waiters, next: next)
            return waiter
        }
        waiter?.resume(returning: .none)
    }
}
