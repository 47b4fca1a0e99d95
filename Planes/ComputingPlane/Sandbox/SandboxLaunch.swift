import CLinux
import Foundation
import Glibc

/// What the launch stub does between the runner and bubblewrap, in the order it does it.
///
/// The runner (root) cannot hand these steps to Foundation's `Process`: the job must join its cgroups, get its
/// rlimits and lose root *before* bubblewrap runs (root launching bwrap leaves the job host uid 0 even with
/// `--uid`), and the seccomp memfd must survive exec. So the runner re-executes `delong sandbox-exec SPEC`,
/// which runs `execute()`: join the cgroups, set rlimits, build the filter, drop every id to the job uid,
/// ask for SIGKILL when the runner dies, and exec bubblewrap with `--seccomp FD`.
public struct SandboxLaunch: Codable, Sendable, Hashable {
    /// The job's host uid and gid (the same number).
    public var uid: UInt32
    /// `cgroup.procs` files to join.
    public var cgroupProcs: [String]
    /// RLIMIT_NOFILE.
    public var maxOpenFiles: UInt64
    /// RLIMIT_FSIZE: the largest file the job can write (bytes).
    public var maxFileBytes: UInt64
    /// The bubblewrap executable.
    public var bubblewrap: String
    /// bubblewrap's options, then `--`, then the job's command; `--seccomp FD` is inserted first.
    public var arguments: [String]

    public init(
        uid: UInt32,
        cgroupProcs: [String],
        maxOpenFiles: UInt64,
        maxFileBytes: UInt64,
        bubblewrap: String,
        arguments: [String]
    ) {
        self.uid = uid
        self.cgroupProcs = cgroupProcs
        self.maxOpenFiles = maxOpenFiles
        self.maxFileBytes = maxFileBytes
        self.bubblewrap = bubblewrap
        self.arguments = arguments
    }

    /// The descriptor on which the stub reports a failure before bubblewrap runs (closed on exec).
    public static let errorFD: Int32 = 3
    /// The descriptor bubblewrap writes its JSON status to (`--json-status-fd`).
    public static let statusFD: Int32 = 4

    /// Marks every descriptor numbered `first` or above close-on-exec. Closing them here instead would pull
    /// descriptors out from under this process's own runtime: libdispatch's manager thread polls an epoll
    /// descriptor, and crashes (SIGILL, "Do not close random Unix descriptors") if it finds it gone.
    static func closeOnExec(from first: Int32) {
        guard let dir = opendir("/proc/self/fd") else { return }
        var open: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let fd = Int32(name), fd >= first { open.append(fd) }
        }
        let own = dirfd(dir)
        closedir(dir)
        for fd in open where fd != own {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// The spec as one argument.
    public func encoded() -> String {
        // Encoding a struct of strings and numbers cannot fail.
        String(decoding: try! JSONEncoder().encode(self), as: UTF8.self)
    }

    /// The spec from its argument.
    public static func decode(_ text: String) throws(ComputingPlaneError) -> SandboxLaunch {
        do { return try JSONDecoder().decode(SandboxLaunch.self, from: Data(text.utf8)) } catch {
            throw ComputingPlaneError(.badInput, "sandbox-exec: expected a launch spec, found \(text.prefix(60))")
        }
    }

    /// Runs in the stub process: never returns. Any failure is printed and exits 127 before the job starts,
    /// so the runner never mistakes a stub failure for the job's exit.
    public func execute() -> Never {
        func fail(_ what: String, _ code: Int32 = errno) -> Never {
            let text = "\(what): \(ComputingPlaneError.text(code))"
            _ = text.withCString { Glibc.write(Self.errorFD, $0, strlen($0)) }
            _exit(127)
        }
        // Only stdin, stdout, stderr, bubblewrap's status pipe and the seccomp memfd (made below) cross into the
        // sandbox; the error pipe closes on exec, so the runner reads EOF exactly when bubblewrap started.
        Self.closeOnExec(from: Self.statusFD + 1)
        guard fcntl(Self.errorFD, F_SETFD, FD_CLOEXEC) == 0 else { fail("error pipe") }
        let pid = "\(getpid())"
        for file in cgroupProcs {
            let fd = open(file, O_WRONLY | O_CLOEXEC)
            guard fd >= 0, Glibc.write(fd, pid, pid.utf8.count) == pid.utf8.count else { fail("join \(file)") }
            close(fd)
        }
        var core = rlimit(rlim_cur: 0, rlim_max: 0)
        var files = rlimit(rlim_cur: rlim_t(maxOpenFiles), rlim_max: rlim_t(maxOpenFiles))
        var size = rlimit(rlim_cur: rlim_t(maxFileBytes), rlim_max: rlim_t(maxFileBytes))
        guard setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &core) == 0,
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &files) == 0,
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &size) == 0
        else { fail("setrlimit") }
        // A job writing past RLIMIT_FSIZE must see EFBIG, not die of SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)
        let filter: Int32
        do { filter = try SeccompFilter.exportToMemfd() } catch { fail("seccomp: \(error.reason)", 0) }
        guard CLinux_setgroupsEmpty() == 0 else { fail("setgroups") }
        guard CLinux_setresgid(uid, uid, uid) == 0 else { fail("setresgid \(uid)") }
        guard CLinux_setresuid(uid, uid, uid) == 0 else { fail("setresuid \(uid)") }
        // Root must be gone for good: getting it back has to fail.
        guard getuid() == uid, geteuid() == uid, getgid() == uid, CLinux_setuid(0) != 0 else {
            fail("dropping to uid \(uid) did not stick", EPERM)
        }
        // Set after the uid change (a credential change clears it): the runner's death kills bwrap, and
        // bwrap's --die-with-parent kills the job.
        guard CLinux_setParentDeathSignal(SIGKILL) == 0 else { fail("PR_SET_PDEATHSIG") }
        if getppid() == 1 { fail("the runner is gone", ESRCH) }
        // This stub's runtime blocks most signals on its thread, and exec keeps the mask: the job must start with
        // none blocked, or it could not be asked to stop (SIGTERM) or use alarms.
        var none = sigset_t()
        sigemptyset(&none)
        guard pthread_sigmask(SIG_SETMASK, &none, nil) == 0 else { fail("pthread_sigmask") }
        let argv = [bubblewrap, "--seccomp", "\(filter)"] + arguments
        var cArgs = argv.map { strdup($0) }
        cArgs.append(nil)
        execv(bubblewrap, &cArgs)
        fail("exec \(bubblewrap)")
    }
}
