/// One probe of the escape suite: a job that tries to get out of the sandbox, and the judgement of what it
/// found. The job prints what it sees as `PROBE key value` lines; the judge reads them, the result and what
/// the host saw, and names every way the sandbox failed (none: the probe passed).
public struct EscapeProbe: Sendable {
    /// A short name, for `sandbox selftest --probe NAME`.
    public let name: String
    /// What holds when the probe passes.
    public let claim: String
    /// The job's limits and files.
    public var setup = Setup()
    /// main.py, written for this run's host bait (ports, names, paths).
    let script: @Sendable (HostBait) -> String
    /// Every way the sandbox failed, judged from one run.
    public let judge: @Sendable (ProbeRun) -> [String]

    /// How the probe's job is run.
    public struct Setup: Sendable {
        public var memoryBytes: UInt64 = 2 << 30
        public var pids = 256
        public var cpus: Double = 1
        public var timeout: Duration = .seconds(60)
        /// Files in /data: name, contents, mode.
        public var data: [(name: String, contents: String, mode: UInt16)] = [("t.csv", "a,b\n1,2\n", 0o644)]
        /// How long to wait after the run before looking for what the job left behind.
        public var settle: Duration = .zero
        public init() {}
    }

    init(
        _ name: String,
        _ claim: String,
        setup: Setup = Setup(),
        script: @escaping @Sendable (HostBait) -> String,
        judge: @escaping @Sendable (ProbeRun) -> [String]
    ) {
        self.name = name
        self.claim = claim
        self.setup = setup
        self.script = script
        self.judge = judge
    }
}

/// What one probe's run produced, as the judge sees it.
public struct ProbeRun: Sendable {
    /// How the job ended; nil when the runner refused it.
    public var result: SandboxResult?
    /// Why the runner refused the job, when it did.
    public var refusal: ComputingPlaneError?
    /// The job's `PROBE key value` lines.
    public var probes: [String: String] = [:]
    /// The `Uid:` lines of the job's processes, seen from the host while it ran.
    public var hostUIDs: [String] = []
    /// What the host's bait received: connections and datagrams.
    public var baitContacts = 0
    /// Host wall time of the whole run.
    public var wall: Duration = .zero
    /// Names under the output folder after the run.
    public var outputNames: [String] = []

    public init(
        result: SandboxResult? = nil,
        refusal: ComputingPlaneError? = nil,
        probes: [String: String] = [:],
        hostUIDs: [String] = [],
        baitContacts: Int = 0,
        wall: Duration = .zero,
        outputNames: [String] = []
    ) {
        self.result = result
        self.refusal = refusal
        self.probes = probes
        self.hostUIDs = hostUIDs
        self.baitContacts = baitContacts
        self.wall = wall
        self.outputNames = outputNames
    }

    /// The `PROBE key value` lines of a job's log.
    public static func probes(in log: String) -> [String: String] {
        var found: [String: String] = [:]
        for line in log.split(separator: "\n") where line.hasPrefix("PROBE ") {
            let parts = line.dropFirst(6).split(separator: " ", maxSplits: 1)
            guard let key = parts.first else { continue }
            found[String(key)] = parts.count > 1 ? String(parts[1]) : ""
        }
        return found
    }
}

/// The verdict on one probe.
public struct ProbeVerdict: Sendable {
    public let name: String
    public let claim: String
    /// Every way the sandbox failed; empty when the probe passed.
    public let failures: [String]
    public let seconds: Double
    public var passed: Bool { failures.isEmpty }
}

/// A small vocabulary for judges: each check returns a failure or nothing.
struct Expect {
    private(set) var failures: [String] = []

    mutating func that(_ condition: Bool, _ failure: @autoclosure () -> String) {
        if !condition { failures.append(failure()) }
    }

    /// `key` was printed with exactly `value`.
    mutating func probe(_ run: ProbeRun, _ key: String, is value: String, _ meaning: String) {
        let found = run.probes[key]
        that(found == value, "\(meaning): expected \(key) = \(value), found \(found ?? "nothing")")
    }

    /// The job ran to an exit code of 0 (the probe's script itself did not fail).
    mutating func exitedCleanly(_ run: ProbeRun) {
        guard let result = run.result else {
            failures.append("the job was refused: \(run.refusal?.reason ?? "no reason")")
            return
        }
        that(
            result.outcome == .exited && result.exitCode == 0,
            "the probe job did not exit 0 (outcome \(result.outcome.rawValue), exit code "
                + "\(result.exitCode.map(String.init) ?? "none"), reason \(result.reason ?? "none"))"
        )
    }
}
