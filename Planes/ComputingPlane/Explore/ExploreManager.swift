public import ChainCore
public import Foundation
import Glibc
public import Logging
import PlaneCrypto
import Synchronization

/// One running Explore session: JupyterLab on a sample, reached only through its UNIX socket.
public struct ExploreSession: Sendable, Hashable {
    /// 128 random bits, 32 lowercase hex digits.
    public let id: String
    public let consumer: Address
    public let dataset: Hash32
    /// The host path of Jupyter's UNIX socket.
    public let socketPath: String
    /// The per-session 256-bit secret Jupyter accepts (`Authorization: token …`); never logged, never sent to
    /// a browser.
    public let jupyterToken: String
    /// `/explore/<id>/`, Jupyter's base URL.
    public let basePath: String
    public let startedAt: Date
    /// min(rental end, start + the maximum session length).
    public let expiresAt: Date

    public init(
        id: String,
        consumer: Address,
        dataset: Hash32,
        socketPath: String,
        jupyterToken: String,
        basePath: String,
        startedAt: Date,
        expiresAt: Date
    ) {
        self.id = id
        self.consumer = consumer
        self.dataset = dataset
        self.socketPath = socketPath
        self.jupyterToken = jupyterToken
        self.basePath = basePath
        self.startedAt = startedAt
        self.expiresAt = expiresAt
    }
}

/// Why a session ended (logged with its stop).
public enum ExploreEndReason: String, Sendable, Hashable {
    /// The consumer (or the plane) asked.
    case stopped
    /// The rental ended, or the session reached its maximum length.
    case expired
    /// No kernel activity for the idle limit.
    case idle
    /// The rental check said the rental is no longer active (revoked, or reorged away).
    case rentalRevoked
    /// JupyterLab exited by itself.
    case serverExited
    /// The plane is shutting down.
    case shutdown
}

/// How Explore sessions run and when they end.
public struct ExploreConfiguration: Sendable {
    /// The `delong` executable, re-run as `delong sandbox-exec` for the launch stub (as for jobs).
    public var stubExecutable: String
    public var bubblewrap = "/usr/bin/bwrap"
    /// Where sessions keep their directories (root-owned, 0711).
    public var stateDirectory = "/run/delong/explore"
    /// Put before each session's directory and cgroup name (`<prefix>explore-<uid>-<id8>`): a restart sweeps
    /// only names with its own prefix.
    public var namePrefix = ""
    /// Sessions run as uids of the job range (never host root).
    public var uids = JobUIDRange.standard
    public var cgroupRoot = "/sys/fs/cgroup"
    /// The explore runtime venv.
    public var runtime = RuntimeLayout.explore.venv
    /// Memory 2 GiB (swap off), 256 processes and threads, one CPU.
    public var limits = CgroupLimits(memoryBytes: 2 << 30, pids: 256, cpus: 1)
    /// The home tmpfs (notebooks): size and file count.
    public var homeBytes: UInt64 = 512 << 20
    public var homeFiles = 10_000
    /// The private /tmp's size.
    public var tmpBytes: UInt64 = 256 << 20
    /// The longest a session runs, whatever the rental says.
    public var maxSession: Duration = .seconds(6 * 3600)
    /// A session ends when its kernels were idle this long (and Jupyter culls idle kernels after it too).
    public var idleLimit: Duration = .seconds(30 * 60)
    /// How often the reaper asks the rental check and Jupyter's kernels.
    public var pollInterval: Duration = .seconds(60)
    /// How long a start waits for `/api/status` to answer.
    public var startDeadline: Duration = .seconds(30)
    /// Between SIGTERM and SIGKILL when a session stops.
    public var stopGrace: Duration = .seconds(10)
    public var maxSessionsPerConsumer = 2
    public var maxSessions = 8
    /// Whether the consumer's rental of the dataset is still active; polled every `pollInterval`.
    public var rentalActive: @Sendable (Address, Hash32) async -> Bool = { _, _ in true }
    /// The index the notebook download is checked against (identifiers and canaries), from the dataset and
    /// the sample directory. Its policy must not come from the sample directory: everything there is visible at
    /// /data, and a policy lists the canaries. Without one configured, downloads are refused.
    public var gateIndex: @Sendable (Hash32, String) throws(ComputingPlaneError) -> DatasetIndex = {
        (dataset: Hash32, _: String) throws(ComputingPlaneError) -> DatasetIndex in
        throw ComputingPlaneError(
            .forbidden,
            "notebook downloads need the gate's index for dataset \(dataset) (ExploreConfiguration.gateIndex); "
                + "none is configured"
        )
    }

    public init(stubExecutable: String) { self.stubExecutable = stubExecutable }
}

/// Starts, watches and ends Explore sessions: JupyterLab from the explore runtime in the job sandbox (no
/// network, the sample read-only at /data, a private home, a UNIX socket), each under its own uid and cgroup.
///
/// A reaper ends a session at its expiry, when its kernels were idle for the idle limit (polled from
/// `/api/kernels`: the server's own `last_activity` moves while an idle Lab tab is open), and when the rental
/// check says no. Stopping sends SIGTERM, then SIGKILL after the grace, and removes the session's directories
/// and cgroup. A new manager sweeps what a crashed one left under its name prefix.
public actor ExploreManager {
    public nonisolated let configuration: ExploreConfiguration
    private let logger: Logger
    private var running: [String: RunningSession] = [:]
    /// Starts under way, per consumer (counted against the limits).
    private var starting: [Address: Int] = [:]
    private var lastActivity: [String: Date] = [:]
    private var lastPoll: [String: ContinuousClock.Instant] = [:]
    private var indexes: [String: DatasetIndex] = [:]
    private var reaper: Task<Void, Never>?
    private var ended: [String: ExploreEndReason] = [:]
    private var endedOrder: [String] = []

    /// Sweeps the directories and cgroups a previous manager with the same prefix left.
    public init(configuration: ExploreConfiguration, logger: Logger = Logger(label: "delong.explore")) {
        self.configuration = configuration
        self.logger = logger
        let swept = Self.sweep(configuration)
        if !swept.isEmpty { logger.notice("swept stale explore sessions", metadata: ["swept": "\(swept)"]) }
    }

    deinit { reaper?.cancel() }

    /// Sessions running now (for `delong_explore_sessions_open`).
    public var openSessions: Int { running.count }

    // MARK: Public interface

    /// Starts a session for `consumer` on `dataset`'s sample directory and returns once Jupyter answers
    /// `/api/status` over its socket (or fails after the start deadline, leaving nothing behind).
    public func start(
        consumer: Address,
        dataset: Hash32,
        rentalEnd: Date,
        sample: String
    ) async throws(ComputingPlaneError) -> ExploreSession {
        let now = Date()
        guard rentalEnd > now else {
            throw ComputingPlaneError(
                .forbidden,
                "the rental ended at \(rentalEnd); an Explore session needs an active one"
            )
        }
        let ofConsumer =
            running.values.filter { $0.session.consumer == consumer }.count + starting[consumer, default: 0]
        guard ofConsumer < configuration.maxSessionsPerConsumer else {
            throw ComputingPlaneError(
                .conflict,
                "consumer \(consumer) already has \(ofConsumer) Explore sessions (at most "
                    + "\(configuration.maxSessionsPerConsumer)); stop one first"
            )
        }
        let total = running.count + starting.values.reduce(0, +)
        guard total < configuration.maxSessions else {
            throw ComputingPlaneError(
                .conflict,
                "this plane runs \(total) Explore sessions, its maximum; try again later"
            )
        }
        starting[consumer, default: 0] += 1
        defer { starting[consumer, default: 1] -= 1 }

        let id = Self.randomHex(bytes: 16)
        let token = Self.randomHex(bytes: 32)
        let maxEnd = now.addingTimeInterval(configuration.maxSession.seconds)
        let session = ExploreSession(
            id: id,
            consumer: consumer,
            dataset: dataset,
            socketPath: "",
            jupyterToken: token,
            basePath: "/explore/\(id)/",
            startedAt: now,
            expiresAt: min(rentalEnd, maxEnd)
        )
        let clock = ContinuousClock()
        let began = clock.now
        let run = try RunningSession.launch(session, sample: sample, configuration: configuration)
        let deadline = clock.now + configuration.startDeadline
        while true {
            if run.exited {
                run.tearDown()
                throw ComputingPlaneError(
                    .sandboxFailure,
                    "JupyterLab exited before it answered: \(run.diagnostics())"
                )
            }
            if let status = try? await UnixSocketHTTP.get(
                socketPath: run.session.socketPath,
                path: run.session.basePath + "api/status",
                token: token,
                timeout: 2
            ), status.status == 200 {
                break
            }
            if clock.now >= deadline {
                await run.terminate(grace: configuration.stopGrace)
                run.tearDown()
                throw ComputingPlaneError(
                    .sandboxFailure,
                    "JupyterLab did not answer /api/status within \(configuration.startDeadline): \(run.diagnostics())"
                )
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        running[id] = run
        lastActivity[id] = now
        lastPoll[id] = clock.now
        run.onExit { [weak self] in
            Task { await self?.stop(id, reason: .serverExited) }
        }
        ensureReaper()
        logger.info(
            "explore session started",
            metadata: [
                "session": "\(id)", "consumer": "\(consumer)", "dataset": "\(dataset)", "uid": "\(run.uid)",
                "readySeconds": "\(String(format: "%.2f", (clock.now - began).seconds))",
                "expiresAt": "\(run.session.expiresAt)",
            ]
        )
        return run.session
    }

    /// The live session `id`, nil once it ended (or when there is none).
    public func session(_ id: String) -> ExploreSession? { running[id]?.session }

    /// Why session `id` ended (the latest 4,096 ends are kept), nil while it runs or when unknown.
    public func endReason(_ id: String) -> ExploreEndReason? { ended[id] }

    /// The consumer's live sessions, oldest first.
    public func sessions(consumer: Address) -> [ExploreSession] {
        running.values.map(\.session).filter { $0.consumer == consumer }.sorted { $0.startedAt < $1.startedAt }
    }

    /// Ends session `id`: SIGTERM to JupyterLab and its kernels, SIGKILL after the grace, then its directories
    /// and cgroup are removed. Idempotent: stopping an ended or unknown session does nothing.
    public func stop(_ id: String, reason: ExploreEndReason) async {
        guard let run = running.removeValue(forKey: id) else { return }
        ended[id] = reason
        if ended.count > 4096, let oldest = endedOrder.first {
            ended[oldest] = nil
            endedOrder.removeFirst()
        }
        endedOrder.append(id)
        lastActivity[id] = nil
        lastPoll[id] = nil
        indexes[id] = nil
        let graceful = await run.terminate(grace: configuration.stopGrace)
        run.tearDown()
        logger.info(
            "explore session stopped",
            metadata: [
                "session": "\(id)", "consumer": "\(run.session.consumer)", "dataset": "\(run.session.dataset)",
                "reason": "\(reason.rawValue)", "killed": "\(!graceful)",
                "seconds": "\(Int(Date().timeIntervalSince(run.session.startedAt)))",
            ]
        )
    }

    /// Ends every session (the plane is stopping) and the reaper.
    public func shutdown() async {
        reaper?.cancel()
        reaper = nil
        for id in running.keys.sorted() { await stop(id, reason: .shutdown) }
        // This plane's own folder on the host, now empty (rmdir leaves it when anything remains).
        rmdir(configuration.stateDirectory)
    }

    /// A notebook of session `id`'s home, once it passes the Output Gate's identifier and canary checks
    /// against the sample's index. `path` is relative to the home, ends in `.ipynb`, and no component of it may
    /// be a symbolic link, `.` or `..`. A notebook carrying an identifier or a canary is refused (forbidden),
    /// naming each finding (never the value).
    public func notebook(_ id: String, path: String) async throws(ComputingPlaneError) -> [UInt8] {
        guard let run = running[id] else {
            throw ComputingPlaneError(.conflict, "Explore session \(id.prefix(32)): not running")
        }
        let bytes = try NotebookFile.read(home: run.home, path: path, limit: GateLimits().maxFileBytes)
        let index: DatasetIndex
        if let cached = indexes[id] {
            index = cached
        } else {
            let make = configuration.gateIndex
            let (dataset, sample) = (run.session.dataset, run.sample)
            let built = await Task.detached { () -> Result<DatasetIndex, ComputingPlaneError> in
                do throws(ComputingPlaneError) { return .success(try make(dataset, sample)) } catch {
                    return .failure(error)
                }
            }.value
            index = try built.get()
            if running[id] != nil { indexes[id] = index }
        }
        let findings = NotebookFile.gateFindings(path: path, bytes: bytes, index: index)
        guard findings.isEmpty else {
            logger.notice(
                "explore notebook refused",
                metadata: ["session": "\(id)", "path": "\(path)", "findings": "\(findings.count)"]
            )
            let listed = findings.prefix(10).map { "\($0.check) at \($0.where): \($0.detail)" }
            throw ComputingPlaneError(
                .forbidden,
                "notebook \(path) cannot leave: the gate found \(findings.count) identifier or canary value(s) of "
                    + "the sample: " + listed.joined(separator: "; ")
            )
        }
        logger.info(
            "explore notebook downloaded",
            metadata: ["session": "\(id)", "path": "\(path)", "bytes": "\(bytes.count)"]
        )
        return bytes
    }

    // MARK: Reaper

    private func ensureReaper() {
        guard reaper == nil else { return }
        reaper = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                guard let self else { return }
                await self.reap()
            }
        }
    }

    /// One round: expiry every tick; the rental check and idle kernels every poll interval.
    func reap() async {
        let clock = ContinuousClock()
        for id in running.keys.sorted() {
            guard let run = running[id] else { continue }
            if Date() >= run.session.expiresAt {
                await stop(id, reason: .expired)
                continue
            }
            guard let polled = lastPoll[id], clock.now - polled >= configuration.pollInterval else { continue }
            lastPoll[id] = clock.now
            let active = await configuration.rentalActive(run.session.consumer, run.session.dataset)
            if !active {
                await stop(id, reason: .rentalRevoked)
                continue
            }
            guard running[id] != nil else { continue }
            if let newest = await Self.kernelActivity(run.session) {
                lastActivity[id] = max(lastActivity[id] ?? run.session.startedAt, newest)
            }
            let idleFor = Date().timeIntervalSince(lastActivity[id] ?? run.session.startedAt)
            if idleFor >= configuration.idleLimit.seconds, running[id] != nil {
                await stop(id, reason: .idle)
            }
        }
    }

    /// The newest kernel activity (now while a kernel is busy), or nil when there is no kernel or Jupyter did
    /// not answer.
    static func kernelActivity(_ session: ExploreSession) async -> Date? {
        guard
            let response = try? await UnixSocketHTTP.get(
                socketPath: session.socketPath,
                path: session.basePath + "api/kernels",
                token: session.jupyterToken,
                timeout: 5
            ), response.status == 200,
            let kernels = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [[String: Any]]
        else { return nil }
        var newest: Date?
        for kernel in kernels {
            if kernel["execution_state"] as? String == "busy" { return Date() }
            if let text = kernel["last_activity"] as? String, let date = parseTimestamp(text) {
                newest = max(newest ?? date, date)
            }
        }
        return newest
    }

    /// Jupyter's timestamps: `2026-12-04T02:41:09.123456Z` (fraction optional, `Z` or `+00:00`).
    static func parseTimestamp(_ text: String) -> Date? {
        var main = text
        var fraction = 0.0
        if let zone = main.lastIndex(where: { $0 == "Z" || $0 == "+" }) { main = String(main[..<zone]) }
        if let dot = main.firstIndex(of: ".") {
            fraction = Double("0" + main[dot...]) ?? 0
            main = String(main[..<dot])
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: main + "Z").map { $0.addingTimeInterval(fraction) }
    }

    // MARK: Helpers

    static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }, prefix: false)
    }

    /// Removes what sessions of this prefix left: their directories (unmounting the home) and cgroups.
    static func sweep(_ configuration: ExploreConfiguration) -> [String] {
        let own = configuration.namePrefix + "explore-"
        let fm = FileManager.default
        var swept: [String] = []
        swept += JobCgroup.sweep(root: configuration.cgroupRoot, prefix: own)
        for name in (try? fm.contentsOfDirectory(atPath: configuration.stateDirectory)) ?? [] where name.hasPrefix(own)
        {
            let stage = configuration.stateDirectory + "/" + name
            umount2(stage + "/home", Int32(MNT_DETACH))
            try? fm.removeItem(atPath: stage)
            swept.append("explore/\(name)")
        }
        return swept
    }
}
