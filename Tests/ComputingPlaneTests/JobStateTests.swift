import ComputingPlane
import Foundation
import TestSupport
import Testing

/// The job's life as a value: every rule of `JobMachine.next`, and the durable log that replays it.
struct JobStateTests {
    /// The happy path through every phase, gated to review and approved.
    static let releasedPath: [JobEvent] = [
        .submitted, .advanced(to: .provisioning), .advanced(to: .fetching), .advanced(to: .attesting),
        .advanced(to: .awaitingKey), .advanced(to: .executing), .exited(code: 0), .advanced(to: .gating),
        .gated(.review), .reviewed(approved: true), .advanced(to: .publishing), .published,
    ]

    func run(_ events: [JobEvent]) throws -> JobState? { try JobMachine.replay(events) }

    @Test func aJobWalksEveryPhaseToReleased() throws {
        var state: JobState? = nil
        var seen: [String] = []
        for event in Self.releasedPath {
            guard case .moved(let next) = JobMachine.next(state, event) else {
                Issue.record("\(event) did not move \(String(describing: state))")
                return
            }
            state = next
            seen.append(next.stage)
        }
        #expect(state == .finished(.released))
        #expect(seen.first == "pending" && seen.contains("running") && seen.contains("finishing"))
        #expect(state?.description == "finished(released)")
    }

    @Test func eachDecisionEndsInItsOwnOutcome() throws {
        let toGate = Array(Self.releasedPath.prefix(8))
        #expect(try run(toGate + [.gated(.block)]) == .finished(.gateBlocked))
        #expect(try run(toGate + [.gated(.review), .reviewed(approved: false)]) == .finished(.reviewRejected))
        #expect(try run(toGate + [.gated(.release)]) == .active(.sealing))
        let toRun = Array(Self.releasedPath.prefix(6))
        #expect(try run(toRun + [.exited(code: 3)]) == .finished(.exited(3)))
        #expect(try run(toRun + [.exited(code: 0)]) == .active(.collecting))
        #expect(try run(toRun + [.killed(.memory)])?.description == "finished(killed(memory))")
        #expect(try run([.submitted, .failed("disk full")]) == .finished(.infraError("disk full")))
    }

    /// Every refusal reason, in every phase before the job runs, ends as refused(reason) with its detail; after
    /// the job ran a refusal is invalid.
    @Test func refusalsOnlyBeforeTheJobRuns() throws {
        for reason in RefusalReason.allCases {
            for length in 1...5 {
                let state = try run(Array(Self.releasedPath.prefix(length)) + [.refused(reason, detail: "why")])
                #expect(state == .finished(.refused(reason, detail: "why")))
                #expect(state?.description == "finished(refused(\(reason.rawValue)))")
            }
            let ran = try #require(try run(Array(Self.releasedPath.prefix(7))))
            guard case .invalid = JobMachine.next(ran, .refused(reason, detail: "late")) else {
                Issue.record("a refusal after execution was accepted")
                continue
            }
        }
    }

    /// Cancel in every phase gives one terminal outcome; repeating it, or any later event, changes nothing.
    @Test func cancelInEveryPhaseIsTerminalAndIdempotent() throws {
        for length in 1..<Self.releasedPath.count {
            let state = try #require(try run(Array(Self.releasedPath.prefix(length))))
            #expect(!state.isFinished)
            guard case .moved(let cancelled) = JobMachine.next(state, .killed(.cancelled)) else {
                Issue.record("cancel did not move \(state)")
                continue
            }
            #expect(cancelled == .finished(.killed(.cancelled)))
            for later in [JobEvent.killed(.cancelled), .killed(.revoked), .exited(code: 0), .published, .failed("x")] {
                #expect(JobMachine.next(cancelled, later) == .ignored(cancelled))
            }
        }
    }

    @Test func outOfOrderEventsAreInvalid() {
        let queued = JobState.active(.queued)
        for event: JobEvent in [
            .advanced(to: .executing), .advanced(to: .queued), .exited(code: 0), .gated(.release),
            .reviewed(approved: true), .published, .submitted, .advanced(to: .collecting), .advanced(to: .sealing),
        ] {
            guard case .invalid = JobMachine.next(queued, event) else {
                Issue.record("\(event) was accepted in queued")
                continue
            }
        }
        guard case .invalid = JobMachine.next(nil, .advanced(to: .provisioning)) else {
            Issue.record("an event for a job never submitted was accepted")
            return
        }
    }

    // MARK: The durable log

    @Test func theLogReplaysToTheSameStatesAfterReopening() throws {
        let dir = try DelongProcess.temporaryDirectory()
        let path = dir.appendingPathComponent("jobs.log").path
        do {
            let log = try JobLog(path: path)
            for (i, event) in Self.releasedPath.enumerated() { try log.append(event, job: "a", at: Int64(i)) }
            try log.append(.submitted, job: "b", at: 100)
            try log.append(.refused(.rental, detail: "rental \"x\" ended\nat block 7"), job: "b", at: 101)
            try log.append(.submitted, job: "c", at: 102)
            try log.append(.advanced(to: .provisioning), job: "c", at: 103)
            // A repeated terminal event is ignored and not written.
            #expect(try log.append(.killed(.cancelled), job: "b", at: 104) == .ignored(log.state(of: "b")!))
            #expect(throws: ComputingPlaneError(.badInput, "")) { try log.append(.published, job: "c", at: 105) }
        }
        let reopened = try JobLog(path: path)
        #expect(reopened.state(of: "a") == .finished(.released))
        #expect(reopened.state(of: "b") == .finished(.refused(.rental, detail: "rental \"x\" ended\nat block 7")))
        #expect(reopened.state(of: "c") == .active(.provisioning))
        #expect(reopened.entries(of: "a").map(\.event) == Self.releasedPath)
        #expect(reopened.jobs.map(\.job) == ["a", "b", "c"])
        // The runner died mid-job: at start, the unfinished job becomes killed(runnerLost), durably.
        #expect(try reopened.recordLostRunners(at: 200) == ["c"])
        #expect(try JobLog(path: path).state(of: "c") == .finished(.killed(.runnerLost)))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// A crash mid-append leaves a cut last line: it is dropped (that event never took effect). A damaged line
    /// elsewhere, or an impossible event sequence, refuses to open.
    @Test func aCutLastLineIsDroppedAndCorruptionRefusesToOpen() throws {
        let dir = try DelongProcess.temporaryDirectory()
        let path = dir.appendingPathComponent("jobs.log").path
        do {
            let log = try JobLog(path: path)
            try log.append(.submitted, job: "a", at: 1)
            try log.append(.advanced(to: .provisioning), job: "a", at: 2)
        }
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try (whole + Data("{\"job\":\"a\",\"at\":3,\"event\":\"adv".utf8)).write(to: URL(fileURLWithPath: path))
        let recovered = try JobLog(path: path)
        #expect(recovered.state(of: "a") == .active(.provisioning))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == whole)
        try recovered.append(.advanced(to: .fetching), job: "a", at: 4)
        #expect(try JobLog(path: path).state(of: "a") == .active(.fetching))

        for damaged in [
            "{\"job\":\"a\",\"at\":1,\"event\":\"submitted\"}\nnot json\n",
            "{\"job\":\"a\",\"at\":1,\"event\":\"submitted\"}\n{\"job\":\"a\",\"at\":2,\"event\":\"published\"}\n",
            "{\"job\":\"a\",\"at\":1,\"event\":\"teleported\"}\n",
            "{\"job\":\"a\",\"at\":1,\"event\":\"submitted\"}\n{\"job\":\"a\",\"at\":2,\"event\":\"killed\",\"reason\":\"bored\"}\n",
        ] {
            try Data(damaged.utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: ComputingPlaneError(.badInput, "")) { _ = try JobLog(path: path) }
        }
    }
}
