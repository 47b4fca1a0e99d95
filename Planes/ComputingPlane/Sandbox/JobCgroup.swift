import Foundation
public import Glibc

/// Limits a job's cgroup enforces.
public struct CgroupLimits: Sendable, Hashable {
    /// Memory in bytes (swap off: memory+swap capped at the same value).
    public var memoryBytes: UInt64
    /// Processes and threads.
    public var pids: Int
    /// CPUs (decimals allowed): quota per 100 ms period.
    public var cpus: Double

    public init(memoryBytes: UInt64, pids: Int, cpus: Double) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpus = cpus
    }
}

/// What a job's cgroup counted.
public struct CgroupStats: Sendable, Hashable {
    /// The most memory the job's processes held at once (bytes), tmpfs pages included.
    public var peakMemoryBytes: UInt64 = 0
    /// CPU time of all the job's processes.
    public var cpuSeconds: Double = 0
    /// Processes the kernel's OOM killer killed for exceeding the memory limit.
    public var oomKills: UInt64 = 0
    /// Times a fork or clone failed at the pids limit.
    public var pidsLimitHits: UInt64 = 0
}

/// The cgroup hierarchy layout of this machine, found at run time.
public enum CgroupHierarchy: Sendable, Hashable {
    /// cgroup v2: one tree (`cgroup.controllers` at its root).
    case v2(root: String)
    /// cgroup v1: one tree per controller (`memory`, `pids`, `cpu`, `cpuacct`, `freezer` under the root).
    case v1(root: String)

    /// The layout under `root`, or nil when neither a v2 tree nor the v1 controllers a job needs are there.
    public static func detect(root: String = "/sys/fs/cgroup") -> CgroupHierarchy? {
        let fm = FileManager.default
        if fm.fileExists(atPath: root + "/cgroup.controllers") { return .v2(root: root) }
        let needed = ["memory", "pids", "cpu", "cpuacct", "freezer"]
        if needed.allSatisfy({ fm.fileExists(atPath: "\(root)/\($0)/cgroup.procs") }) { return .v1(root: root) }
        return nil
    }
}

/// One job's cgroup (a directory per v1 controller, or one v2 directory): created with its limits before the
/// job starts, read for its counters, emptied by force when the job ends, and removed.
public final class JobCgroup: Sendable {
    /// The layout it lives in.
    public let hierarchy: CgroupHierarchy
    /// Its directories: one for v2; memory, pids, cpu, cpuacct, freezer for v1 (the same order).
    public let directories: [String]

    /// Creates `delong/<name>` with `limits`. Refuses an existing group (a name is used by one job at a time).
    public init(name: String, limits: CgroupLimits, hierarchy: CgroupHierarchy) throws(ComputingPlaneError) {
        self.hierarchy = hierarchy
        switch hierarchy {
        case .v2(let root):
            directories = ["\(root)/delong/\(name)"]
        case .v1(let root):
            directories = ["memory", "pids", "cpu", "cpuacct", "freezer"].map { "\(root)/\($0)/delong/\(name)" }
        }
        for directory in directories {
            let parent = (directory as NSString).deletingLastPathComponent
            if mkdir(parent, 0o755) != 0 && errno != EEXIST {
                throw ComputingPlaneError(
                    .systemUnsupported,
                    "cannot create cgroup \(parent): \(ComputingPlaneError.text(errno))"
                )
            }
            if case .v2(let root) = hierarchy, parent != root {
                // The job's controllers must be enabled for the children of delong/ (and delong/ in the root).
                try? Self.write("+memory +pids +cpu", to: root + "/cgroup.subtree_control")
                try Self.write("+memory +pids +cpu", to: parent + "/cgroup.subtree_control")
            }
            guard mkdir(directory, 0o755) == 0 else {
                throw ComputingPlaneError(
                    .sandboxFailure,
                    "cannot create cgroup \(directory): \(ComputingPlaneError.text(errno))"
                )
            }
        }
        try apply(limits)
    }

    private func apply(_ limits: CgroupLimits) throws(ComputingPlaneError) {
        let quota = max(1000, Int((limits.cpus * 100_000).rounded()))
        switch hierarchy {
        case .v2:
            let d = directories[0]
            try Self.write("\(limits.memoryBytes)", to: d + "/memory.max")
            try? Self.write("0", to: d + "/memory.swap.max")  // absent when the kernel has no swap accounting
            try Self.write("\(limits.pids)", to: d + "/pids.max")
            try Self.write("\(quota) 100000", to: d + "/cpu.max")
        case .v1:
            let (memory, pids, cpu) = (directories[0], directories[1], directories[2])
            try Self.write("\(limits.memoryBytes)", to: memory + "/memory.limit_in_bytes")
            if FileManager.default.fileExists(atPath: memory + "/memory.memsw.limit_in_bytes") {
                try Self.write("\(limits.memoryBytes)", to: memory + "/memory.memsw.limit_in_bytes")
            }
            try? Self.write("0", to: memory + "/memory.swappiness")
            try Self.write("\(limits.pids)", to: pids + "/pids.max")
            try Self.write("100000", to: cpu + "/cpu.cfs_period_us")
            try Self.write("\(quota)", to: cpu + "/cpu.cfs_quota_us")
        }
    }

    /// The `cgroup.procs` files a process writes its pid into to join every controller.
    public var procsFiles: [String] { directories.map { $0 + "/cgroup.procs" } }

    /// The processes in the group now.
    public func processes() -> [pid_t] {
        let text = (try? String(contentsOfFile: directories.last! + "/cgroup.procs", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// The group's counters.
    public func stats() -> CgroupStats {
        var s = CgroupStats()
        switch hierarchy {
        case .v2:
            let d = directories[0]
            s.peakMemoryBytes = Self.number(d + "/memory.peak") ?? 0
            s.cpuSeconds = Double(Self.keyed(d + "/cpu.stat", "usage_usec") ?? 0) / 1e6
            s.oomKills = Self.keyed(d + "/memory.events", "oom_kill") ?? 0
            s.pidsLimitHits = Self.keyed(d + "/pids.events", "max") ?? 0
        case .v1:
            s.peakMemoryBytes = Self.number(directories[0] + "/memory.max_usage_in_bytes") ?? 0
            s.oomKills = Self.keyed(directories[0] + "/memory.oom_control", "oom_kill") ?? 0
            s.pidsLimitHits = Self.keyed(directories[1] + "/pids.events", "max") ?? 0
            s.cpuSeconds = Double(Self.number(directories[3] + "/cpuacct.usage") ?? 0) / 1e9
        }
        return s
    }

    /// Kills every process in the group and waits (up to `timeout`) until it is empty. The group is frozen
    /// first (v1 freezer), or killed in one step (v2 `cgroup.kill`), so nothing forks away while it is emptied.
    @discardableResult
    public func killAll(timeout: Duration = .seconds(5)) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        switch hierarchy {
        case .v2:
            let d = directories[0]
            if (try? Self.write("1", to: d + "/cgroup.kill")) == nil {
                try? Self.write("1", to: d + "/cgroup.freeze")
                for pid in processes() { kill(pid, SIGKILL) }
                try? Self.write("0", to: d + "/cgroup.freeze")
            }
        case .v1:
            let freezer = directories[4]
            try? Self.write("FROZEN", to: freezer + "/freezer.state")
            for pid in processes() { kill(pid, SIGKILL) }
            try? Self.write("THAWED", to: freezer + "/freezer.state")
        }
        while clock.now < deadline {
            if processes().isEmpty { return true }
            for pid in processes() { kill(pid, SIGKILL) }
            usleep(2_000)
        }
        return processes().isEmpty
    }

    /// Removes the group's directories (after `killAll`).
    /// Kills the processes of, and removes, every DeLong cgroup under `root` whose name starts with `prefix`
    /// (what a killed runner left: v2's one tree or v1's controllers); their names, as `cgroup/<name>`.
    static func sweep(root: String, prefix: String) -> [String] {
        let fm = FileManager.default
        let parents =
            fm.fileExists(atPath: root + "/cgroup.controllers")
            ? [root + "/delong"] : ["memory", "pids", "cpu", "cpuacct", "freezer"].map { "\(root)/\($0)/delong" }
        var swept: [String] = []
        for parent in parents {
            for name in (try? fm.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
                let group = parent + "/" + name
                let procs = (try? String(contentsOfFile: group + "/cgroup.procs", encoding: .utf8)) ?? ""
                for pid in procs.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
                for _ in 0..<50 where rmdir(group) != 0 { usleep(20_000) }
                swept.append("cgroup/\(name)")
            }
        }
        return swept
    }

    public func remove() throws(ComputingPlaneError) {
        for directory in directories where rmdir(directory) != 0 && errno != ENOENT {
            throw ComputingPlaneError(
                .sandboxFailure,
                "cannot remove cgroup \(directory): \(ComputingPlaneError.text(errno))"
            )
        }
    }

    // MARK: Files

    static func write(_ text: String, to path: String) throws(ComputingPlaneError) {
        // As a shell's `>` opens it: cgroupfs ignores O_CREAT and O_TRUNC on its files, a test's fake tree needs them.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ComputingPlaneError(.sandboxFailure, "cannot open \(path): \(ComputingPlaneError.text(errno))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw ComputingPlaneError(
                .sandboxFailure,
                "cannot write \"\(text)\" to \(path): \(ComputingPlaneError.text(errno))"
            )
        }
    }

    static func number(_ path: String) -> UInt64? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// The value of `key` in a flat-keyed cgroup file ("key value" lines).
    static func keyed(_ path: String, _ key: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return UInt64(parts[1]) }
        }
        return nil
    }
}
