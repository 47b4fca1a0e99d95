import Foundation
import Glibc
import PlaneProtocol

/// Runs escape probes in the sandbox Secure jobs use, watches the host while they run, and judges them.
/// Beyond each probe's own judgement, every run must leave nothing behind: no process of the job uid, no
/// sandbox mount, no staging directory.
public struct EscapeSuite: Sendable {
    public var runner: SandboxRunner
    /// The Python the probes run on: the one `sandbox run` would use.
    public var runtime: JobRuntime

    public init(runner: SandboxRunner, runtime: JobRuntime) {
        self.runner = runner
        self.runtime = runtime
    }

    /// Runs `probe` once. Throws only when this machine cannot run the sandbox at all.
    public func run(_ probe: EscapeProbe, bait: HostBait) throws(ComputingPlaneError) -> ProbeVerdict {
        let start = ContinuousClock.now
        let scratch = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let data = scratch + "/data"
        let out = scratch + "/out"
        try SandboxRunner.makeDirectory(data, mode: 0o755)
        try SandboxRunner.makeDirectory(out, mode: 0o700)
        for file in probe.setup.data {
            let path = data + "/" + file.name
            guard FileManager.default.createFile(atPath: path, contents: Data(file.contents.utf8)) else {
                throw ComputingPlaneError(.io, "cannot write \(path)")
            }
            chmod(path, mode_t(file.mode))
        }
        let bundle: AlgorithmBundle
        do {
            let main = try BundleEntry(
                path: Array("main.py".utf8),
                kind: .file(contents: Array(probe.script(bait).utf8), executable: false)
            )
            bundle = try AlgorithmBundle.packed(entries: [main])
        } catch {
            throw ComputingPlaneError(.sandboxFailure, "probe \(probe.name): cannot pack its bundle: \(error.reason)")
        }
        let job = SandboxJob(
            bundle: bundle,
            data: data,
            runtime: runtime,
            limits: CgroupLimits(
                memoryBytes: probe.setup.memoryBytes,
                pids: probe.setup.pids,
                cpus: probe.setup.cpus
            ),
            timeout: probe.setup.timeout
        )

        // This probe's cgroup names carry a marker of their own, so the watcher finds this probe's job and not
        // another sandbox's job running beside it.
        var runner = self.runner
        runner.namePrefix += "probe-" + String(UInt64.random(in: 0...UInt64.max), radix: 16) + "-"
        let log = LogBuffer()
        let watcher = HostWatcher(cgroupMarker: "/" + runner.namePrefix + "job-")
        watcher.start()
        var run = ProbeRun()
        do {
            run.result = try runner.run(job, outputDirectory: out) { log.append($0) }
        } catch  where error.code == .badInput {
            run.refusal = error
        } catch {
            watcher.stop()
            throw error
        }
        watcher.stop()
        run.wall = ContinuousClock.now - start
        if probe.setup.settle > .zero { Thread.sleep(forTimeInterval: probe.setup.settle.seconds) }
        run.probes = ProbeRun.probes(in: log.text)
        run.hostUIDs = watcher.seen
        run.baitContacts = bait.contacts()
        run.outputNames = Self.names(under: out)

        var failures = probe.judge(run)
        if let uid = run.result?.uid { failures += Self.leftovers(of: uid, runner: runner) }
        return ProbeVerdict(
            name: probe.name,
            claim: probe.claim,
            failures: failures,
            seconds: (ContinuousClock.now - start).seconds
        )
    }

    /// What a finished job of `uid` that `runner` ran left behind.
    static func leftovers(of uid: UInt32, runner: SandboxRunner) -> [String] {
        var found: [String] = []
        // A zombie has exited: it runs nothing and holds nothing but its pid until init reaps it.
        let processes = HostWatcher.processes { lines in
            lines.contains { $0.hasPrefix("Uid:") && $0.contains("\t\(uid)\t") }
                && !lines.contains { $0.hasPrefix("State:\tZ") }
        }
        if !processes.isEmpty {
            let commands = processes.map { String($0.cmdline.prefix(80)) }
            found.append("\(processes.count) processes of the job uid \(uid) remain: \(commands)")
        }
        let stage = runner.stateDirectory + "/" + runner.namePrefix + "job-\(uid)-"
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        if mounts.contains(stage) { found.append("a mount under \(stage)… remains") }
        let staged = (try? FileManager.default.contentsOfDirectory(atPath: runner.stateDirectory)) ?? []
        if staged.contains(where: { $0.hasPrefix(runner.namePrefix + "job-\(uid)-") }) {
            found.append("a staging directory \(stage)… remains")
        }
        return found
    }

    static func scratchDirectory() throws(ComputingPlaneError) -> String {
        var template = Array("/tmp/delong-selftest-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ComputingPlaneError(
                .io,
                "cannot create a scratch directory in /tmp: \(ComputingPlaneError.text(errno))"
            )
        }
        let path = String(cString: made)
        chmod(path, 0o755)  // the job uid walks into /data through it
        return path
    }

    /// Relative paths of everything under `root`.
    static func names(under root: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        return walker.compactMap { $0 as? String }.sorted()
    }
}

/// Watches the host's /proc while a probe runs, for the job's main.py process and its host uids. A thread of
/// its own: the runner blocks the caller's.
private final class HostWatcher: @unchecked Sendable {
    /// Part of the job's cgroup path (`/proc/PID/cgroup`).
    private let cgroupMarker: String
    private let lock = NSLock()
    private var running = true
    private var found: [String] = []
    private let done = DispatchSemaphore(value: 0)

    var seen: [String] { lock.withLock { found } }

    init(cgroupMarker: String) { self.cgroupMarker = cgroupMarker }

    func start() {
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            while lock.withLock({ running }) {
                // The stub's and bwrap's command lines name /job/main.py too; they hold "sandbox".
                let lines = Self.processes { _ in true }
                    .filter { $0.cmdline.contains("/job/main.py") && !$0.cmdline.contains("sandbox") }
                    .filter { $0.cgroup.contains(cgroupMarker) }
                    .compactMap { $0.status.first { $0.hasPrefix("Uid:") } }
                if !lines.isEmpty {
                    lock.withLock { found = lines }
                    return
                }
                usleep(20_000)
            }
        }
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }

    /// Host processes whose status lines satisfy `match`: their command line and status lines.
    static func processes(
        where match: ([String]) -> Bool
    ) -> [(cmdline: String, status: [String], cgroup: String)] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }
        return pids.compactMap { pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
            let lines = status.split(separator: "\n").map(String.init)
            guard match(lines) else { return nil }
            let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            let cgroup = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
            return (String(decoding: cmdline, as: UTF8.self), lines, cgroup)
        }
    }
}
