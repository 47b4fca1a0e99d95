import Foundation
import Glibc
import Synchronization

/// One session's sandbox on the host: its uid lease, directories (home tmpfs, socket directory, settings), cgroup,
/// and the thread that runs the launch stub until JupyterLab exits.
///
/// Layout under the state directory, all root-owned unless said: `<name>/` 0711; `home/` a tmpfs of the
/// session uid, 0700; `socket/` 0700 of the session uid (Jupyter creates its socket there, 0600); `etc/` 0500 of
/// the session uid with `jupyter_server_config.json` 0400 (the token).
final class RunningSession: Sendable {
    let session: ExploreSession
    let sample: String
    let stage: String
    var home: String { stage + "/home" }
    var uid: UInt32 { lease.uid }
    private let lease: JobUIDRange.Lease
    private let cgroup: JobCgroup
    private let control = SandboxControl()
    private let state = Mutex<State>(State())

    private struct State {
        var exited = false
        var onExit: (@Sendable () -> Void)?
        /// The end of JupyterLab's output, for a failed start's message (the token is masked).
        var tail: [UInt8] = []
        var tornDown = false
    }

    private init(session: ExploreSession, sample: String, stage: String, lease: JobUIDRange.Lease, cgroup: JobCgroup) {
        self.session = session
        self.sample = sample
        self.stage = stage
        self.lease = lease
        self.cgroup = cgroup
    }

    /// Prepares the session's directories and cgroup and starts the launch stub on a thread of its own.
    static func launch(
        _ draft: ExploreSession,
        sample: String,
        configuration c: ExploreConfiguration
    ) throws(ComputingPlaneError) -> RunningSession {
        guard geteuid() == 0 else {
            throw ComputingPlaneError(.systemUnsupported, "Explore sessions need root (to mount homes and use cgroups)")
        }
        guard access(c.bubblewrap, X_OK) == 0 else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "bubblewrap is not installed at \(c.bubblewrap) (Debian: bubblewrap)"
            )
        }
        guard access(c.runtime + "/bin/python3", X_OK) == 0 else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "the explore runtime is not built at \(c.runtime) (delong runtime build --explore)"
            )
        }
        guard let hierarchy = CgroupHierarchy.detect(root: c.cgroupRoot) else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "no usable cgroup v2 tree or v1 controllers under \(c.cgroupRoot)"
            )
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: sample, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ComputingPlaneError(.badInput, "sample \(sample): expected a directory, found none")
        }
        let lease = try c.uids.lease()
        var keep = false
        defer { if !keep { lease.release() } }
        let uid = lease.uid
        try SandboxRunner.checkReadable(sample, by: uid)

        let name = "\(c.namePrefix)explore-\(uid)-\(draft.id.prefix(8))"
        let stage = c.stateDirectory + "/" + name
        do {
            try FileManager.default.createDirectory(atPath: c.stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw ComputingPlaneError(.io, "cannot create \(c.stateDirectory): \(error.localizedDescription)")
        }
        chmod(c.stateDirectory, 0o711)
        let home = stage + "/home"
        let socketDirectory = stage + "/socket"
        let etc = stage + "/etc"
        var mounted = false
        var cgroup: JobCgroup?
        defer {
            if !keep {
                if let cgroup {
                    cgroup.killAll()
                    try? cgroup.remove()
                }
                if mounted { umount2(home, Int32(MNT_DETACH)) }
                try? FileManager.default.removeItem(atPath: stage)
            }
        }
        try SandboxRunner.makeDirectory(stage, mode: 0o711)
        try SandboxRunner.makeDirectory(home, mode: 0o700)
        let options = "size=\(c.homeBytes),nr_inodes=\(c.homeFiles + 1),mode=0700,uid=\(uid),gid=\(uid)"
        guard mount("tmpfs", home, "tmpfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), options) == 0 else {
            throw ComputingPlaneError(
                .systemUnsupported,
                "cannot mount the home tmpfs: \(ComputingPlaneError.text(errno))"
            )
        }
        mounted = true
        try SandboxRunner.makeDirectory(socketDirectory, mode: 0o700)
        try SandboxRunner.makeDirectory(etc, mode: 0o700)
        let session = ExploreSession(
            id: draft.id,
            consumer: draft.consumer,
            dataset: draft.dataset,
            socketPath: socketDirectory + "/" + ExploreSandbox.socketName,
            jupyterToken: draft.jupyterToken,
            basePath: draft.basePath,
            startedAt: draft.startedAt,
            expiresAt: draft.expiresAt
        )
        let config = ExploreSandbox.jupyterConfig(
            token: session.jupyterToken,
            basePath: session.basePath,
            idleSeconds: max(1, Int(c.idleLimit.seconds))
        )
        try writeSecret(config, to: etc + "/jupyter_server_config.json", uid: uid)
        guard chown(socketDirectory, uid, uid) == 0, chown(etc, uid, uid) == 0, chmod(etc, 0o500) == 0 else {
            throw ComputingPlaneError(.io, "cannot hand \(stage) to uid \(uid): \(ComputingPlaneError.text(errno))")
        }
        cgroup = try JobCgroup(name: name, limits: c.limits, hierarchy: hierarchy)

        let sandbox = ExploreSandbox(
            runtime: c.runtime,
            sample: sample,
            config: etc,
            home: home,
            socketDirectory: socketDirectory,
            tmpBytes: c.tmpBytes
        )
        let launch = SandboxLaunch(
            uid: uid,
            cgroupProcs: cgroup!.procsFiles,
            maxOpenFiles: 1024,
            maxFileBytes: max(c.homeBytes, c.tmpBytes),
            bubblewrap: c.bubblewrap,
            arguments: sandbox.arguments(statusFD: SandboxLaunch.statusFD)
        )
        let run = RunningSession(session: session, sample: sample, stage: stage, lease: lease, cgroup: cgroup!)
        // A backstop behind the reaper: the stub kills the sandbox a little after the session's end.
        let backstop = Duration.seconds(max(1, session.expiresAt.timeIntervalSinceNow)) + c.stopGrace + .seconds(30)
        let stub = c.stubExecutable
        let group = cgroup!
        Thread.detachNewThread {
            _ = try? StubProcess.run(
                executable: stub,
                launch: launch,
                timeout: backstop,
                logBytes: 64 << 10,
                log: { bytes in run.keepTail(bytes) },
                control: run.control,
                afterExit: { group.killAll() }
            )
            run.markExited()
        }
        keep = true
        return run
    }

    /// Writes `bytes` to a new file readable only by `uid` (0400).
    private static func writeSecret(_ bytes: [UInt8], to path: String, uid: UInt32) throws(ComputingPlaneError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw ComputingPlaneError(.io, "cannot create \(path): \(ComputingPlaneError.text(errno))")
        }
        defer { close(fd) }
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count, fchown(fd, uid, uid) == 0, fchmod(fd, 0o400) == 0
        else { throw ComputingPlaneError(.io, "cannot write \(path): \(ComputingPlaneError.text(errno))") }
    }

    private func keepTail(_ bytes: [UInt8]) {
        state.withLock {
            $0.tail += bytes
            if $0.tail.count > 8192 { $0.tail.removeFirst($0.tail.count - 8192) }
        }
    }

    private func markExited() {
        let callback = state.withLock {
            $0.exited = true
            return $0.onExit
        }
        callback?()
    }

    var exited: Bool { state.withLock { $0.exited } }

    /// Calls `body` once JupyterLab has exited (now, if it already has).
    func onExit(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock {
            $0.onExit = body
            return $0.exited
        }
        if now { body() }
    }

    /// The end of JupyterLab's output, the token masked.
    func diagnostics() -> String {
        let text = String(decoding: state.withLock { $0.tail }, as: UTF8.self)
        let masked = text.replacingOccurrences(of: session.jupyterToken, with: "<token>")
        return masked.isEmpty ? "no output" : String(masked.suffix(2000))
    }

    /// SIGTERM to every process of the sandbox but bubblewrap's own (whose death would SIGKILL the rest), then
    /// SIGKILL to all once `grace` has passed; returns when the stub thread has finished, and whether the
    /// sandbox ended within the grace.
    @discardableResult
    func terminate(grace: Duration) async -> Bool {
        for pid in cgroup.processes() where Self.command(of: pid) != "bwrap" { kill(pid, SIGTERM) }
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while !exited, clock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        let graceful = exited
        if !graceful {
            control.kill(reason: "stopped")
            cgroup.killAll()
        }
        while !exited { try? await Task.sleep(for: .milliseconds(20)) }
        return graceful
    }

    /// Empties and removes the cgroup, unmounts the home, removes the directories and releases the uid.
    func tearDown() {
        let first = state.withLock { state in
            defer { state.tornDown = true }
            return !state.tornDown
        }
        guard first else { return }
        cgroup.killAll()
        try? cgroup.remove()
        umount2(home, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: stage)
        lease.release()
    }

    static func command(of pid: pid_t) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Reading a notebook out of a session's home, and the gate checks it must pass.
enum NotebookFile {
    /// The file at `path` under `home`: relative, ending in `.ipynb`, no `.`/`..`/empty component, no
    /// symbolic link anywhere (each component opened with O_NOFOLLOW), a regular file of at most `limit` bytes.
    static func read(home: String, path: String, limit: Int) throws(ComputingPlaneError) -> [UInt8] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !path.hasPrefix("/"), !path.utf8.contains(0), path.hasSuffix(".ipynb"),
            parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." })
        else {
            throw ComputingPlaneError(
                .badInput,
                "notebook path \"\(path.prefix(200))\": expected a path relative to the home ending in .ipynb, "
                    + "without . or .. components"
            )
        }
        var directory = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else {
            throw ComputingPlaneError(.io, "the session's home: \(ComputingPlaneError.text(errno))")
        }
        for part in parts.dropLast() {
            let next = openat(directory, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = errno
            close(directory)
            guard next >= 0 else {
                throw ComputingPlaneError(
                    .badInput,
                    "notebook \(path): \(part) is not a directory of the home (\(ComputingPlaneError.text(code)))"
                )
            }
            directory = next
        }
        let fd = openat(directory, parts.last!, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        let code = errno
        close(directory)
        guard fd >= 0 else {
            throw ComputingPlaneError(.badInput, "notebook \(path): \(ComputingPlaneError.text(code)) in the home")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ComputingPlaneError(.badInput, "notebook \(path): expected a regular file")
        }
        guard st.st_size <= limit else {
            throw ComputingPlaneError(
                .badInput,
                "notebook \(path): \(st.st_size) bytes, larger than the cap of \(limit)"
            )
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw ComputingPlaneError(.io, "notebook \(path): \(ComputingPlaneError.text(errno))") }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        guard bytes.count <= limit else {
            throw ComputingPlaneError(.badInput, "notebook \(path): larger than the cap of \(limit) bytes")
        }
        return bytes
    }

    /// The checks a notebook must pass to leave: the gate's identifier and canary findings (values of the
    /// sample's key and direct-identifier columns, canary values and rows), from the gate's full scan of it.
    static let checks: Set<String> = ["identifier", "canary"]

    static func gateFindings(path: String, bytes: [UInt8], index: DatasetIndex) -> [GateFinding] {
        let name = (path as NSString).lastPathComponent
        return OutputGate.checkFile(path: name, bytes: bytes, index: index).findings.filter {
            checks.contains($0.check)
        }
    }
}
