/// A Secure job's life as a value (docs/jobs.md): a coarse state with an ordered phase while it runs, one
/// terminal outcome when it ends, and a pure transition function that the durable job log replays. No
/// sandbox, clock or file is involved here, so every rule is unit-tested on its own.
///
///     pending:   queued → provisioning → fetching → attesting → awaitingKey
///     running:   executing
///     finishing: collecting → gating → [inReview] → sealing → publishing
///     finished:  released | gateBlocked | reviewRejected | exited(code) | killed(reason) | refused(reason)
///                | infraError(message)
public enum JobPhase: String, Sendable, Hashable, CaseIterable, Comparable {
    case queued, provisioning, fetching, attesting, awaitingKey
    case executing
    case collecting, gating, inReview, sealing, publishing

    /// `pending`, `running` or `finishing`.
    public var stage: String {
        switch self {
        case .queued, .provisioning, .fetching, .attesting, .awaitingKey: "pending"
        case .executing: "running"
        case .collecting, .gating, .inReview, .sealing, .publishing: "finishing"
        }
    }

    /// Before the job's code runs: where a refusal can still end the job.
    public var isBeforeExecution: Bool { stage == "pending" }

    public static func < (a: JobPhase, b: JobPhase) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Why a job was killed.
public enum KillReason: String, Sendable, Hashable, CaseIterable {
    case timeout, memory, pids, disk, outputLimit, revoked, cancelled, runnerLost
}

/// Which check refused a job before it ran.
public enum RefusalReason: String, Sendable, Hashable, CaseIterable {
    case token, rental, bundleDigest, imageDigest, attestation
}

/// What the Output Gate decided for the whole output.
public enum GateVerdict: String, Sendable, Hashable, CaseIterable {
    case release, review, block
}

/// How a job ended. `detail` texts say what was expected and what was found; the outcome's name is what
/// `delong job status` prints.
public enum JobOutcome: Sendable, Hashable, CustomStringConvertible {
    case released
    case gateBlocked
    case reviewRejected
    case exited(Int32)
    case killed(KillReason)
    case refused(RefusalReason, detail: String)
    case infraError(String)

    public var description: String {
        switch self {
        case .released: "released"
        case .gateBlocked: "gateBlocked"
        case .reviewRejected: "reviewRejected"
        case .exited(let code): "exited(\(code))"
        case .killed(let reason): "killed(\(reason.rawValue))"
        case .refused(let reason, _): "refused(\(reason.rawValue))"
        case .infraError: "infraError"
        }
    }

    /// The outcome's name without its detail (`killed`, not `killed(timeout)`): one of ``names``, so metrics
    /// labelled with it stay bounded.
    public var name: String {
        switch self {
        case .released: "released"
        case .gateBlocked: "gateBlocked"
        case .reviewRejected: "reviewRejected"
        case .exited: "exited"
        case .killed: "killed"
        case .refused: "refused"
        case .infraError: "infraError"
        }
    }

    /// Every ``name``.
    public static let names = [
        "released", "gateBlocked", "reviewRejected", "exited", "killed", "refused", "infraError",
    ]
}

/// Where a job is.
public enum JobState: Sendable, Hashable, CustomStringConvertible {
    case active(JobPhase)
    case finished(JobOutcome)

    public var isFinished: Bool {
        if case .finished = self { return true }
        return false
    }

    /// `pending`, `running`, `finishing` or `finished`.
    public var stage: String {
        switch self {
        case .active(let phase): phase.stage
        case .finished: "finished"
        }
    }

    public var description: String {
        switch self {
        case .active(let phase): "\(phase.stage)(\(phase.rawValue))"
        case .finished(let outcome): "finished(\(outcome))"
        }
    }
}

/// What happens to a job. Each is recorded in the job log before it takes effect.
public enum JobEvent: Sendable, Hashable {
    /// The plane accepted the job: it is queued. The first event of every job, and only of a new one.
    case submitted
    /// The runner entered the next phase of the plain sequence (queued → … → executing, collecting → gating,
    /// sealing → publishing).
    case advanced(to: JobPhase)
    /// A check before execution refused the job.
    case refused(RefusalReason, detail: String)
    /// The job's processes are gone: 0 goes on to collecting, anything else ends the job.
    case exited(code: Int32)
    /// The runner killed the job (limit, deadline, revocation, cancel, or a runner lost at restart).
    case killed(KillReason)
    /// The Output Gate's verdict on the collected output.
    case gated(GateVerdict)
    /// The review decision (the required reviewers approved, or one rejected, or the deadline passed).
    case reviewed(approved: Bool)
    /// The sealed output and its record are published: the job is released.
    case published
    /// Something of ours failed (not the job's doing).
    case failed(String)
}

/// The result of applying an event.
public enum JobTransition: Sendable, Hashable {
    /// The event moved the job to this state.
    case moved(JobState)
    /// The job had already finished: nothing changes (repeated cancels, a late exit after a kill).
    case ignored(JobState)
    /// The event cannot happen in this state (a bug or a corrupt log); the state does not change.
    case invalid(String)
}

public enum JobMachine {
    /// Phases reached by a plain advance, each from the one before it.
    static let plainSteps: [JobPhase: JobPhase] = [
        .provisioning: .queued, .fetching: .provisioning, .attesting: .fetching, .awaitingKey: .attesting,
        .executing: .awaitingKey, .gating: .collecting, .publishing: .sealing,
    ]

    /// The pure transition: the one place a job's rules live. `state` is nil for a job not yet seen.
    public static func next(_ state: JobState?, _ event: JobEvent) -> JobTransition {
        guard let state else {
            return event == .submitted ? .moved(.active(.queued)) : .invalid("the job was never submitted")
        }
        guard case .active(let phase) = state else { return .ignored(state) }
        switch event {
        case .submitted:
            return .invalid("the job was already submitted")
        case .advanced(let target):
            guard plainSteps[target] == phase else {
                return .invalid("cannot advance from \(phase.rawValue) to \(target.rawValue)")
            }
            return .moved(.active(target))
        case .refused(let reason, let detail):
            guard phase.isBeforeExecution else {
                return .invalid("a refusal (\(reason.rawValue)) after the job ran, in \(phase.rawValue)")
            }
            return .moved(.finished(.refused(reason, detail: detail)))
        case .exited(let code):
            guard phase == .executing else { return .invalid("an exit in \(phase.rawValue), not executing") }
            return .moved(code == 0 ? .active(.collecting) : .finished(.exited(code)))
        case .killed(let reason):
            return .moved(.finished(.killed(reason)))
        case .gated(let verdict):
            guard phase == .gating else { return .invalid("a gate verdict in \(phase.rawValue), not gating") }
            switch verdict {
            case .release: return .moved(.active(.sealing))
            case .review: return .moved(.active(.inReview))
            case .block: return .moved(.finished(.gateBlocked))
            }
        case .reviewed(let approved):
            guard phase == .inReview else { return .invalid("a review decision in \(phase.rawValue), not inReview") }
            return .moved(approved ? .active(.sealing) : .finished(.reviewRejected))
        case .published:
            guard phase == .publishing else { return .invalid("published in \(phase.rawValue), not publishing") }
            return .moved(.finished(.released))
        case .failed(let message):
            return .moved(.finished(.infraError(message)))
        }
    }

    /// Replays `events` of one job; the first invalid event is an error naming its position.
    public static func replay(_ events: [JobEvent]) throws(ComputingPlaneError) -> JobState? {
        var state: JobState? = nil
        for (index, event) in events.enumerated() {
            switch next(state, event) {
            case .moved(let moved): state = moved
            case .ignored: continue
            case .invalid(let why):
                throw ComputingPlaneError(.badInput, "job log event \(index): \(why)")
            }
        }
        return state
    }
}
