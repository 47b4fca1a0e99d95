public import ChainCore
import Foundation
public import PlaneProtocol

/// What a job's agent asks of the Computing Plane that runs it: the review desk (the gate's verdict in the
/// decision log, the panel, a review and its outcome, the job's log entries) and earlier releases on the same
/// dataset, which the gate's differencing reads. ``LocalAgentPlane`` is the plane's own desk and results
/// directory (the agent runs in the plane's process); an agent in its own process or Confidential VM reaches
/// the same calls over the plane's agent API (docs/jobs.md "Agents out of process").
public protocol AgentPlane: Sendable {
    /// Appends the gate's verdict on `job` to the decision log.
    func recordGate(job: Hash32, verdict: GateVerdict, gateDigest: Hash32) async throws
    /// Who may review `dataset`'s outputs for `consumer`, and how many must approve.
    func panel(dataset: Hash32, provider: Address, consumer: Address) async throws -> ReviewDesk.Panel
    /// Opens the review of `job`'s output and waits for its outcome (nil: the job ended meanwhile).
    func review(
        job: Hash32,
        dataset: Hash32,
        consumer: Address,
        provider: Address,
        output: OutputPackage,
        report: GateReport,
        deadline: Duration
    ) async throws -> ReviewDesk.Outcome?
    /// The decision log's entries of `job`, in order (the evidence bundle carries them).
    func decisions(of job: Hash32) async throws -> [DecisionLog.Entry]
    /// Every earlier release on `dataset`: the job (64 hex digits) and its output tar.
    func history(of dataset: Hash32) async throws -> [(job: String, archive: [UInt8])]
    /// Keeps `job`'s released output tar for later differencing.
    func remember(_ archive: [UInt8], job: Hash32, dataset: Hash32) async throws
}

/// The plane's own desk and results directory: what an agent in the plane's process uses.
public struct LocalAgentPlane: AgentPlane {
    public let desk: ReviewDesk
    /// Released outputs are kept under `<results>/history/<dataset hex>/<job hex>.tar`.
    public let results: String

    public init(desk: ReviewDesk, results: String) {
        self.desk = desk
        self.results = results
    }

    public func recordGate(job: Hash32, verdict: GateVerdict, gateDigest: Hash32) async throws {
        try await desk.recordGate(job: job, verdict: verdict, gateDigest: gateDigest)
    }

    public func panel(dataset: Hash32, provider: Address, consumer: Address) async -> ReviewDesk.Panel {
        await desk.panel(dataset: dataset, provider: provider, consumer: consumer)
    }

    public func review(
        job: Hash32,
        dataset: Hash32,
        consumer: Address,
        provider: Address,
        output: OutputPackage,
        report: GateReport,
        deadline: Duration
    ) async -> ReviewDesk.Outcome? {
        await desk.review(
            job: job,
            dataset: dataset,
            consumer: consumer,
            provider: provider,
            output: output,
            report: report,
            deadline: deadline
        )
    }

    public func decisions(of job: Hash32) -> [DecisionLog.Entry] { desk.log.entries(of: job) }

    func historyDirectory(_ dataset: Hash32) -> String {
        results + "/history/" + Hex.encode(dataset.bytes, prefix: false)
    }

    public func history(of dataset: Hash32) -> [(job: String, archive: [UInt8])] {
        let directory = historyDirectory(dataset)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        return names.compactMap { name in
            guard name.hasSuffix(".tar"), let data = FileManager.default.contents(atPath: directory + "/" + name)
            else { return nil }
            return (String(name.dropLast(4)), [UInt8](data))
        }
    }

    public func remember(_ archive: [UInt8], job: Hash32, dataset: Hash32) throws {
        let directory = historyDirectory(dataset)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try DAStore.writeAtomically(archive, to: directory + "/" + Hex.encode(job.bytes, prefix: false) + ".tar")
    }
}
