public import Foundation
public import Logging

/// Removes job VMs that outlived their job: it lists the zone's instances that carry the `delong-job` label and
/// deletes (each with a fresh request id) those whose `creationTimestamp` + `maxRunDuration` + `grace` has passed,
/// and those for which the caller's `jobEnded` says the job is over. `maxRunDuration` with `DELETE` is
/// Compute Engine's own kill switch; the sweeper is the second one, for instances it missed or that were
/// created without it.
///
/// Sweeping is idempotent: an instance already gone (404) or already being deleted (`STOPPING`) is not an error.
public struct InstanceSweeper: Sendable {
    /// Whether the job a VM runs has ended (the runner's job log says so).
    public typealias JobEnded = @Sendable (Instance) async -> Bool

    /// What one sweep did.
    public struct Report: Sendable, Hashable {
        /// The instances it asked Compute Engine to delete (already gone ones included).
        public var deleted: [String]
        /// The labelled instances it left running.
        public var kept: [String]
    }

    public let client: ComputeEngineClient
    /// Time past `maxRunDuration` before the sweeper acts (Compute Engine's own deletion comes first).
    public let grace: Duration
    /// Used for instances without `maxRunDuration`: created longer ago than this, they are deleted.
    public let defaultMaxRun: Duration
    private let now: @Sendable () -> Date
    private let logger: Logger

    /// A sweeper over `client`'s zone.
    public init(
        client: ComputeEngineClient,
        grace: Duration = .seconds(300),
        defaultMaxRun: Duration = .seconds(86_400),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "delong.compute-engine.sweeper")
    ) {
        self.client = client
        self.grace = grace
        self.defaultMaxRun = defaultMaxRun
        self.now = now
        self.logger = logger
    }

    /// The filter that lists job VMs: every instance that has the `delong-job` label.
    public static var labelFilter: String { "labels.\(InstanceRequest.jobLabel):*" }

    /// Whether `instance` has outlived its `maxRunDuration` (or ``defaultMaxRun``) plus ``grace`` at `date`.
    public func isExpired(_ instance: Instance, at date: Date) -> Bool {
        guard let created = instance.createdAt else { return false }
        let limit = instance.maxRunDurationSeconds.map { Double($0) } ?? Self.seconds(defaultMaxRun)
        return date.timeIntervalSince(created) > limit + Self.seconds(grace)
    }

    /// One sweep: deletes expired or ended job VMs and returns their names (sorted) and the ones kept.
    @discardableResult
    public func sweep(jobEnded: JobEnded = { _ in false }) async throws(ComputeEngineError) -> Report {
        let instances = try await client.list(filter: Self.labelFilter)
        var report = Report(deleted: [], kept: [])
        let date = now()
        // STOPPING: a delete (ours or Compute Engine's own) is already under way.
        for instance in instances
        where instance.labels?[InstanceRequest.jobLabel] != nil && instance.status != "STOPPING" {
            let expired = isExpired(instance, at: date)
            let ended = expired ? false : await jobEnded(instance)
            guard expired || ended else {
                report.kept.append(instance.name)
                continue
            }
            _ = try await client.delete(instance.name, requestID: UUID())
            logger.info(
                "job instance swept",
                metadata: [
                    "instance.name": "\(instance.name)", "sweep.why": "\(expired ? "expired" : "job ended")",
                    "job.id": "\(instance.labels?[InstanceRequest.jobLabel] ?? "")",
                ]
            )
            report.deleted.append(instance.name)
        }
        report.deleted.sort()
        report.kept.sort()
        return report
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
