/// The job's view of the world, as bubblewrap options: the pure part of the sandbox, unit-tested as argv.
///
/// Every namespace is new (`--unshare-all`: only loopback, no host abstract sockets, own pids, ipc, uts,
/// cgroup), user namespaces cannot be nested (`--disable-userns`), no capability survives, the environment is
/// a short whitelist, and only these paths exist: /usr (and the /lib, /lib64, /bin links into it), fonts,
/// the bundle at /job, the data at /data and the runtime read-only; /out writable; /tmp a private tmpfs.
public struct Bubblewrap: Sendable, Hashable {
    /// The extracted bundle (read-only at /job).
    public var bundle: String
    /// The data (read-only at /data), if any.
    public var data: String?
    /// A runtime venv (read-only at `runtimeMountPoint`), or nil for the system Python in /usr.
    public var runtime: String?
    /// The host directory bound writable at /out (a tmpfs owned by the job uid).
    public var out: String
    /// The size of the private /tmp tmpfs.
    public var tmpBytes: UInt64
    /// The entry script, relative to /job.
    public var entry: String
    /// Extra environment variables passed through (e.g. OpenBLAS hints); names only from a fixed list.
    public var passEnvironment: [String: String] = [:]

    /// Where a runtime venv appears inside the sandbox (the path it was built at, so its scripts work).
    public static let runtimeMountPoint = "/opt/delong/runtime"
    /// The uid and gid the job sees inside its user namespace.
    public static let insideID = "1000"
    /// Environment variables the runner may pass through, because numeric libraries need them on some CPUs.
    public static let passableEnvironment: Set<String> = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]

    public init(bundle: String, data: String?, runtime: String?, out: String, tmpBytes: UInt64, entry: String) {
        self.bundle = bundle
        self.data = data
        self.runtime = runtime
        self.out = out
        self.tmpBytes = tmpBytes
        self.entry = entry
    }

    /// The interpreter the job runs with.
    public var python: String { runtime == nil ? "/usr/bin/python3" : Self.runtimeMountPoint + "/bin/python3" }

    /// What every sandbox (a job's, an Explore session's) starts with: all namespaces new, no nested user
    /// namespaces, the inside uid and gid, no capability, an empty environment, /usr read-only, fonts, /proc,
    /// /dev, and a private /tmp of `tmpBytes`. The caller adds its own binds, environment and command.
    public static func isolation(hostname: String, tmpBytes: UInt64) -> [String] {
        [
            "--unshare-all", "--unshare-user", "--disable-userns",
            "--uid", insideID, "--gid", insideID, "--hostname", hostname,
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
            "--ro-bind-try", "/etc/fonts", "/etc/fonts",
            "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--proc", "/proc", "--dev", "/dev",
            "--size", "\(tmpBytes)", "--tmpfs", "/tmp",
        ]
    }

    /// bubblewrap's arguments (without `--seccomp`, which the launch stub adds), `--`, and the job's command.
    public func arguments(statusFD: Int32) -> [String] {
        var a = Self.isolation(hostname: "job", tmpBytes: tmpBytes)
        a += [
            "--ro-bind", bundle, "/job",
            "--bind", out, "/out",
        ]
        if let data { a += ["--ro-bind", data, "/data"] }
        if let runtime { a += ["--ro-bind", runtime, Self.runtimeMountPoint] }
        let path = runtime == nil ? "/usr/bin:/bin" : "\(Self.runtimeMountPoint)/bin:/usr/bin:/bin"
        a += [
            "--setenv", "PATH", path, "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        ]
        for name in passEnvironment.keys.sorted() where Self.passableEnvironment.contains(name) {
            a += ["--setenv", name, passEnvironment[name]!]
        }
        a += ["--chdir", "/job", "--json-status-fd", "\(statusFD)", "--", python, "-I", "-B", "/job/" + entry]
        return a
    }
}
