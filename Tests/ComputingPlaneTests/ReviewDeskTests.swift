import ChainCore
import Foundation
import PlaneProtocol
import Testing

@testable import ComputingPlane

/// The hash-chained decision log and the review desk: who may review, how many must approve, what is
/// logged, and that a cut or rewritten log is detected.
@Suite struct ReviewDeskTests {
    static let domain = JobDomain(
        chainID: 31337,
        verifyingContract: try! Address(hex: "0x" + String(repeating: "42", count: 20))
    )
    static func key(_ name: String) -> [UInt8] { Keccak256.hash(utf8: "review desk test " + name).bytes }
    static func address(_ name: String) -> Address { try! Secp256k1.shared.address(privateKey: key(name)) }
    static let dataset = Keccak256.hash(utf8: "dataset")

    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("review-desk-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func desk(_ dir: String) throws -> ReviewDesk {
        try ReviewDesk(domain: domain, logPath: dir + "/decisions.log", reviewersDirectory: dir + "/reviewers")
    }

    static func list(
        version: UInt64,
        _ reviewers: [String],
        required: UInt8,
        signer: String = "provider"
    ) throws
        -> SignedReviewerList
    {
        try SignedReviewerList(
            signing: ReviewerList(
                dataset: dataset,
                version: version,
                reviewers: reviewers.map(address),
                required: required
            ),
            domain: domain,
            privateKey: key(signer)
        )
    }

    static func decision(
        _ job: Hash32,
        _ output: OutputPackage,
        approve: Bool,
        by name: String
    ) throws
        -> SignedReviewDecision
    {
        try SignedReviewDecision(
            signing: ReviewDecision(
                jobID: job,
                outputDigest: output.digest,
                approve: approve,
                reason: "looked at it",
                decidedAt: 1
            ),
            domain: domain,
            privateKey: key(name)
        )
    }

    static func output(_ dir: String) throws -> OutputPackage {
        let out = dir + "/out-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data("mean,49.5\n".utf8).write(to: URL(fileURLWithPath: out + "/mean.csv"))
        return try OutputPackage(outputs: out, log: Array("ok\n".utf8))
    }

    /// Opens a review of a fresh job as `consumer` and returns the job id and the task awaiting the outcome.
    static func open(
        _ desk: ReviewDesk,
        _ dir: String,
        consumer: String = "consumer",
        deadline: Duration = .seconds(60)
    )
        async throws -> (Hash32, OutputPackage, Task<ReviewDesk.Outcome?, Never>)
    {
        let job = Keccak256.hash(utf8: UUID().uuidString)
        let output = try output(dir)
        let task = Task {
            await desk.review(
                job: job,
                dataset: dataset,
                consumer: address(consumer),
                provider: address("provider"),
                output: output,
                report: GateReport(files: []),
                deadline: deadline
            )
        }
        for _ in 0..<200 where await desk.waiting(job) == nil { try await Task.sleep(for: .milliseconds(5)) }
        return (job, output, task)
    }

    @Test func theLogChainsEveryEntryAndRefusesARewrite() throws {
        let dir = try Self.scratch()
        let log = try DecisionLog(path: dir + "/decisions.log")
        let job = Keccak256.hash(utf8: "job")
        let first = try log.append(job: job, kind: "gate", fields: ["verdict": "review"])
        let second = try log.append(job: job, kind: "outcome", fields: ["outcome": "approved"])
        #expect(first.prev == .zero && second.prev == first.hash && second.seq == 1)
        #expect(DecisionLog.chain(first.hash, second.body) == second.hash)
        // Reopened: the same chain.
        #expect(try DecisionLog(path: dir + "/decisions.log").head == second.hash)

        // A rewritten body (the outcome flipped, the hash kept) is refused at open, naming the line.
        let text = try String(contentsOfFile: dir + "/decisions.log", encoding: .utf8)
        try text.replacingOccurrences(of: "approved", with: "rejected").write(
            toFile: dir + "/decisions.log",
            atomically: true,
            encoding: .utf8
        )
        #expect(throws: ComputingPlaneError.self) { try DecisionLog(path: dir + "/decisions.log") }
        do { _ = try DecisionLog(path: dir + "/decisions.log") } catch {
            #expect(error.reason.contains("line 2"), "\(error)")
        }
        // A dropped middle line breaks the chain.
        let lines = text.split(separator: "\n")
        try (String(lines[1]) + "\n").write(toFile: dir + "/decisions.log", atomically: true, encoding: .utf8)
        #expect(throws: ComputingPlaneError.self) { try DecisionLog(path: dir + "/decisions.log") }
    }

    @Test func aCutTailNoLongerHoldsTheHeadARecordNamesAndATornLineIsDropped() throws {
        let dir = try Self.scratch()
        let path = dir + "/decisions.log"
        let log = try DecisionLog(path: path)
        let job = Keccak256.hash(utf8: "job")
        try log.append(job: job, kind: "gate", fields: ["verdict": "review"])
        let head = try log.append(job: job, kind: "outcome", fields: ["outcome": "approved"]).hash
        // The operator cuts the last entry: the log still verifies, but no entry has the head a record named.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try (String(text.split(separator: "\n")[0]) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let cut = try DecisionLog(path: path)
        #expect(!cut.all.contains { $0.hash == head })
        // A crash mid-write leaves a line without its newline: it is dropped, and appends continue the chain.
        try (String(text.split(separator: "\n")[0]) + "\n" + "0xabc {\"partial").write(
            toFile: path,
            atomically: true,
            encoding: .utf8
        )
        let reopened = try DecisionLog(path: path)
        #expect(reopened.all.count == 1)
        let next = try reopened.append(job: job, kind: "outcome", fields: ["outcome": "rejected"])
        #expect(next.prev == reopened.all[0].hash)
        #expect(try DecisionLog(path: path).all.count == 2)
    }

    @Test func theProviderAloneIsShortOfTwoApprovalsAndTheConsumerNeverReviews() async throws {
        let dir = try Self.scratch()
        let desk = try Self.desk(dir)
        let provider = Self.address("provider")
        let bare = await desk.panel(dataset: Self.dataset, provider: provider, consumer: Self.address("consumer"))
        #expect(bare.reviewers == [provider] && bare.required == 2)
        #expect(bare.shortfall?.contains("needs 2 approving reviewers; 1 eligible") == true)

        try await desk.setReviewers(Self.list(version: 1, ["second", "consumer"], required: 2), provider: provider)
        let panel = await desk.panel(dataset: Self.dataset, provider: provider, consumer: Self.address("consumer"))
        #expect(panel.reviewers == [provider, Self.address("second")] && panel.shortfall == nil)

        // Another signer, and a replayed or older version, are refused; the list survives a restart.
        await #expect(throws: ComputingPlaneError(.forbidden, "")) {
            try await desk.setReviewers(
                Self.list(version: 2, ["stranger"], required: 1, signer: "stranger"),
                provider: provider
            )
        }
        await #expect(throws: ComputingPlaneError(.conflict, "")) {
            try await desk.setReviewers(Self.list(version: 1, ["stranger"], required: 1), provider: provider)
        }
        let restarted = try Self.desk(dir)
        #expect(await restarted.reviewers(of: Self.dataset)?.list.version == 1)
    }

    @Test func twoDistinctReviewersReleaseAndEachStepIsLogged() async throws {
        let dir = try Self.scratch()
        let desk = try Self.desk(dir)
        try await desk.setReviewers(Self.list(version: 1, ["second"], required: 2), provider: Self.address("provider"))
        let (job, output, outcome) = try await Self.open(desk, dir)

        // The consumer and a stranger can neither read nor decide.
        await #expect(throws: ComputingPlaneError(.forbidden, "")) {
            try await desk.files(job, for: Self.address("consumer"))
        }
        await #expect(throws: ComputingPlaneError(.forbidden, "")) {
            try await desk.decide(Self.decision(job, output, approve: true, by: "stranger"))
        }
        #expect(try await desk.files(job, for: Self.address("second")).map(\.path) == ["out/mean.csv", "log.txt"])

        let one = try await desk.decide(Self.decision(job, output, approve: true, by: "provider"))
        #expect(one.approvals == 1 && one.required == 2 && one.settled == nil)
        // The same reviewer twice does not make two approvals.
        await #expect(throws: ComputingPlaneError(.conflict, "")) {
            try await desk.decide(Self.decision(job, output, approve: true, by: "provider"))
        }
        let two = try await desk.decide(Self.decision(job, output, approve: true, by: "second"))
        #expect(two.settled == true)
        let ended = try #require(await outcome.value)
        #expect(ended.approved && ended.decisions.count == 2 && ended.list?.list.version == 1)
        #expect(desk.log.entries(of: job).map(\.kind) == ["review", "review", "outcome"])
        #expect(await desk.waiting(job) == nil)
    }

    @Test func oneRejectionRejectsAndTheDeadlineRejectsAShortPanel() async throws {
        let dir = try Self.scratch()
        let desk = try Self.desk(dir)
        try await desk.setReviewers(Self.list(version: 1, ["second"], required: 2), provider: Self.address("provider"))
        let (job, output, outcome) = try await Self.open(desk, dir)
        try await desk.decide(Self.decision(job, output, approve: true, by: "provider"))
        let progress = try await desk.decide(Self.decision(job, output, approve: false, by: "second"))
        #expect(progress.settled == false)
        #expect(await outcome.value?.approved == false)

        // The consumer is the only listed reviewer besides the provider: one short, rejected at the deadline.
        try await desk.setReviewers(
            Self.list(version: 2, ["consumer"], required: 2),
            provider: Self.address("provider")
        )
        let (short, shortOutput, expiring) = try await Self.open(desk, dir, deadline: .milliseconds(300))
        try await desk.decide(Self.decision(short, shortOutput, approve: true, by: "provider"))
        let expired = try #require(await expiring.value)
        #expect(!expired.approved && expired.summary.contains("1 eligible"), "\(expired.summary)")
        #expect(desk.log.entries(of: short).last?.kind == "outcome")
    }
}
