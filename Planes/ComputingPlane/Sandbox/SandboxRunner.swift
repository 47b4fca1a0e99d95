public import ChainCore
import Foundation
import Glibc
import PlaneCrypto
public import PlaneProtocol
import Synchronization

/// One job for the sandbox: a verified bundle, the data it may read, and its limits.
public struct SandboxJob: Sendable {
    public var bundle: AlgorithmBundle
    /// A host directory shown read-only at /data.
    public var data: String?
    /// A runtime venv, or nil for the system Python.
    public var runtime: String?
    /// The runtime's digest, which the result names; nil with the system Python.
    public var runtimeDigest: Hash32?
    public var limits: CgroupLimits
    public var timeout: Duration
    /// /out's size, file count and name length.
    public var outBytes: UInt64 = 256 << 20
    public var outFiles: Int = 1000
    /// /tmp's size.
    public var tmpBytes: UInt64 = 256 << 20
    /// The most the runner keeps of each of the job's stdout and stderr.
    public var logBytes: Int = 8 << 20
    /// Walk `data` first to refuse files the job uid could not read (a plain directory). Off for a Decrypt
    /// FUSE mounted for the job's uid alone, which refuses every other caller, the runner included.
    public var checkDataReadable = true
    /// Lets another thread kill the job (a cancel, a revoked key lease) while it runs.
    public var control: SandboxControl?
    /// Called with the job's host uid once it is leased, before the job starts: where a caller mounts the
    /// job's data for that uid alone (the Decrypt FUSE's uid gate). A throw ends the run before it starts.
    public var beforeLaunch: (@Sendable (UInt32) throws(ComputingPlaneError) -> Void)?

    public init(bundle: AlgorithmBundle, data: String?, runtime: String?, limits: CgroupLimits, timeout: Duration) {
        self.bundle = bundle
        self.data = data
        self.runtime = runtime
        self.limits = limits
        self.timeout = timeout
    }

    /// A job on `runtime` (the built venv, or the system Python).
    public init(bundle: AlgorithmBundle, data: String?, runtime: JobRuntime, limits: CgroupLimits, timeout: Duration) {
        self.init(bundle: bundle, data: data, runtime: runtime.path, limits: limits, timeout: timeout)
        self.runtimeDigest = runtime.digest
    }
}

/// How a job ended and what it left.
public struct SandboxResult: Sendable {
    public enum Outcome: String, Sendable { case exited, killed }
    public struct Output: Sendable, Hashable {
        public var path: String
        public var size: UInt64
        public var sha256: String
    }
    public struct Rejected: Sendable, Hashable {
        public var path: String
        public var reason: String
    }
    public var outcome: Outcome
    public var exitCode: Int32?
    /// Why it was killed, or which limit it met: timeout, memory, pids, outputLimit.
    public var reason: String?
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var peakMemoryBytes: UInt64
    public var outputs: [Output] = []
    public var rejected: [Rejected] = []
    /// The job's host uid (for the record; never 0).
    public var uid: UInt32
    /// When the job's first byte of stdout reached the runner, in seconds after the run started (the runner's
    /// clock from the start of ``SandboxRunner/run(_:outputDirectory:log:)``, set-up included); nil when it
    /// wrote none.
    public var firstStdoutSeconds: Double?
    /// The runtime it ran on: `sha256:<hex>` (the runtime digest) or `system`.
    public var runtime: String = "system"
}

/// Runs jobs in the local sandbox: a host uid of its own, cgroups, bubblewrap with seccomp, /out on a tmpfs,
/// and nothing left behind (no process of the uid, no mount, no cgroup, no staging files).
public struct SandboxRunner: Sendable {
    /// The `delong` executable, re-run as `delong sandbox-exec` for the launch stub.
    public var stubExecutable: String
    public var bubblewrap: String = "/usr/bin/bwrap"
    /// Where the runner keeps per-job staging directories (root-owned).
    public var stateDirectory: String = "/run/delong/sandbox"
    /// Put before each job's staging directory and cgroup name (`<prefix>job-<uid>-<random>`), so that a
    /// Computing Plane sweeping up after a crash removes only its own sandboxes, never another runner's.
    public var namePrefix: String = ""
    public var uids = JobUIDRange.standard
    public var cgroupRoot: String = "/sys/fs/cgroup"

    public init(stubExecutable: String) { self.stubExecutable = stubExecutable }

    /// Runs `job`, copying its kept outputs under `outputDirectory` and streaming its stdout and stderr to
    /// `log` (capped). Throws only when the sandbox cannot run the job at all.
    public func run(
        _ job: SandboxJob,
        outputDirectory: String,
        log: @escaping @Sendable ([UInt8]) -> Void
    ) throws(ComputingPlaneError) -> SandboxResult {
        let clock = ContinuousClock()
        let runStart = clock.now
        guard geteuid() == 0 else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "the sandbox runner needs root (to mount /out and use cgroups)"
            )
        }
        guard access(bubblewrap, X_OK) == 0 else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "bubblewrap is not installed at \(bubblewrap) (Debian: bubblewrap)"
            )
        }
        guard let hierarchy = CgroupHierarchy.detect(root: cgroupRoot) else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "no usable cgroup v2 tree or v1 controllers under \(cgroupRoot)"
            )
        }
        let lease = try uids.lease()
        defer { lease.release() }
        let uid = lease.uid
        try job.beforeLaunch?(uid)
        if let data = job.data, job.checkDataReadable { try Self.checkReadable(data, by: uid) }

        let name = "\(namePrefix)job-\(uid)-\(UUID().uuidString.prefix(8).lowercased())"
        let stage = stateDirectory + "/" + name
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw ComputingPlaneError(.io, "cannot create \(stateDirectory): \(error.localizedDescription)")
        }
        chmod(stateDirectory, 0o711)
        try Self.makeDirectory(stage, mode: 0o711)
        let bundleDir = stage + "/job"
        let outDir = stage + "/out"
        var mounted = false
        var cgroup: JobCgroup? = nil
        defer {
            if let cgroup {
                cgroup.killAll()
                try? cgroup.remove()
            }
            if mounted { umount2(outDir, Int32(MNT_DETACH)) }
            try? FileManager.default.removeItem(atPath: stage)
        }
        try BundleExtraction.extract(job.bundle, into: bundleDir)
        try Self.makeDirectory(outDir, mode: 0o700)
        let options = "size=\(job.outBytes),nr_inodes=\(job.outFiles + 1),mode=0700,uid=\(uid),gid=\(uid)"
        guard mount("tmpfs", outDir, "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), options) == 0 else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "cannot mount /out's tmpfs: \(ComputingPlaneError.text(errno))"
            )
        }
        mounted = true
        cgroup = try JobCgroup(name: name, limits: job.limits, hierarchy: hierarchy)

        var wrap = Bubblewrap(
            bundle: bundleDir,
            data: job.data,
            runtime: job.runtime,
            out: outDir,
            tmpBytes: job.tmpBytes,
            entry: job.bundle.manifest.entry
        )
        for variable in Bubblewrap.passableEnvironment {
            if let value = ProcessInfo.processInfo.environment[variable] { wrap.passEnvironment[variable] = value }
        }
        let setup = clock.now - runStart
        let launch = SandboxLaunch(
            uid: uid,
            cgroupProcs: cgroup!.procsFiles,
            maxOpenFiles: 1024,
            maxFileBytes: job.outBytes,
            bubblewrap: bubblewrap,
            arguments: wrap.arguments(statusFD: SandboxLaunch.statusFD)
        )
        var result = try StubProcess.run(
            executable: stubExecutable,
            launch: launch,
            timeout: job.timeout,
            logBytes: job.logBytes,
            log: log,
            control: job.control,
            afterExit: { cgroup!.killAll() }
        )
        result.uid = uid
        result.runtime = job.runtimeDigest.map(BundleDigest.text) ?? (job.runtime == nil ? "system" : "unknown")
        if let first = result.firstStdoutSeconds {
            result.firstStdoutSeconds =
                first + setup.seconds
        }
        let stats = cgroup!.stats()
        result.cpuSeconds = stats.cpuSeconds
        result.peakMemoryBytes = stats.peakMemoryBytes
        if let killed = job.control?.killReason {
            result.outcome = .killed
            result.reason = killed
        } else if stats.oomKills > 0 {
            result.outcome = .killed
            result.reason = "memory"
        } else if result.reason == nil, stats.pidsLimitHits > 0 {
            result.reason = "pids"
        }
        var fs = statvfs()
        if result.reason == nil, statvfs(outDir, &fs) == 0, fs.f_bavail == 0 || fs.f_favail == 0 {
            result.reason = "outputLimit"
        }
        let collected = try OutputCollector.collect(from: outDir, into: outputDirectory)
        result.outputs = collected.outputs
        result.rejected = collected.rejected
        return result
    }

    /// The job uid reads `directory` through "other" permissions only: every directory needs r-x and every
    /// file r for others, or the job would fail half way. Refused naming the first path it cannot read.
    static func checkReadable(_ directory: String, by uid: UInt32) throws(ComputingPlaneError) {
        var st = stat()
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw ComputingPlaneError(.badInput, "--data \(directory): expected a directory")
        }
        let fm = FileManager.default
        var pending = [directory]
        while let dir = pending.popLast() {
            guard lstat(dir, &st) == 0, st.st_mode & 0o005 == 0o005 || st.st_uid == uid else {
                throw ComputingPlaneError(.badInput, "--data: the job cannot read directory \(dir) (needs o+rx)")
            }
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                let path = dir + "/" + name
                guard lstat(path, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: pending.append(path)
                case S_IFREG:
                    guard st.st_mode & 0o004 != 0 || st.st_uid == uid else {
                        throw ComputingPlaneError(.badInput, "--data: the job cannot read \(path) (needs o+r)")
                    }
                default: continue
                }
            }
        }
    }

    static func makeDirectory(_ path: String, mode: mode_t) throws(ComputingPlaneError) {
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw ComputingPlaneError(.io, "cannot create \(path): \(ComputingPlaneError.text(errno))")
        }
        chmod(path, mode)
    }
}

/// A handle on a running sandbox: `kill(reason:)` SIGKILLs the job from any thread (within the runner's
/// 10 ms poll) and the result names the reason. Killing before the launch kills the job as it starts.
public final class SandboxControl: Sendable {
    private let reason = Mutex<String?>(nil)

    public init() {}

    /// Kills the job; the first reason given is the one the result carries.
    public func kill(reason text: String) {
        reason.withLock { if $0 == nil { $0 = text } }
    }

    /// Why the job was killed, nil while nobody asked.
    public var killReason: String? { reason.withLock { $0 } }
}
