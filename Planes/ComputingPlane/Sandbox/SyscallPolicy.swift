/// What the job's seccomp filter does with each system call it names; every other call is allowed.
///
/// The job already runs in fresh namespaces with no capabilities, so the filter's work is to keep the kernel's
/// riskiest interfaces out of reach, calls that are not namespaced or that have a history of privilege
/// escalations (the list follows Flatpak's `setup_seccomp` and adds what it misses). Calls of another
/// architecture (i386 `int 0x80`, x32) kill the process: a filter without that check is bypassed by them.
public enum SyscallPolicy {
    /// One rule: the call, what happens, and why (CONVENTIONS.md 14: the table is the documentation).
    public struct Rule: Sendable, Hashable {
        /// The system call's name, as libseccomp resolves it.
        public let name: String
        /// The errno the call fails with.
        public let errno: Int32
        /// When set, the rule applies only when `(argument[index] & mask) == value`.
        public let argument: ArgumentMatch?
        /// Why the job may not make this call.
        public let reason: String
    }

    /// A masked comparison on one system call argument.
    public struct ArgumentMatch: Sendable, Hashable {
        public let index: UInt32
        public let mask: UInt64
        public let value: UInt64
    }

    static let EPERM: Int32 = 1
    static let ENOSYS: Int32 = 38

    private static func deny(_ name: String, _ reason: String) -> Rule {
        Rule(name: name, errno: EPERM, argument: nil, reason: reason)
    }

    /// Every rule of the job filter.
    public static let rules: [Rule] = [
        deny("ptrace", "inspects and rewrites other processes; confuses bwrap's reaper"),
        deny("process_vm_readv", "reads another process's memory"),
        deny("process_vm_writev", "writes another process's memory"),
        deny("pidfd_getfd", "steals another process's file descriptors"),
        deny("mount", "changes the filesystem view (the job's mounts are fixed by the sandbox)"),
        deny("umount2", "uncovers what the sandbox hid"),
        deny("pivot_root", "changes the root"),
        deny("chroot", "changes the root"),
        deny("fsopen", "new mount API"),
        deny("fsconfig", "new mount API"),
        deny("fsmount", "new mount API"),
        deny("fspick", "new mount API"),
        deny("open_tree", "new mount API: clones mounts"),
        deny("move_mount", "new mount API"),
        deny("mount_setattr", "new mount API: changes mount flags"),
        deny("unshare", "new namespaces reach kernel code that is otherwise unreachable"),
        deny("setns", "joins other namespaces"),
        Rule(
            name: "clone",
            errno: EPERM,
            argument: ArgumentMatch(index: 0, mask: 0x1000_0000, value: 0x1000_0000),
            reason: "CLONE_NEWUSER: a new user namespace (threads and fork stay allowed)"
        ),
        Rule(
            name: "clone3",
            errno: ENOSYS,
            argument: nil,
            reason: "its flags sit in memory a filter cannot read; ENOSYS makes libc fall back to clone"
        ),
        deny("keyctl", "the kernel keyring is not namespaced"),
        deny("add_key", "the kernel keyring is not namespaced"),
        deny("request_key", "the kernel keyring is not namespaced"),
        deny("bpf", "loads programs into the kernel"),
        deny("perf_event_open", "performance counters: side channels and kernel attack surface"),
        deny("userfaultfd", "used to win kernel races"),
        deny("io_uring_setup", "io_uring runs I/O the filter never sees; a large attack surface"),
        deny("io_uring_enter", "io_uring"),
        deny("io_uring_register", "io_uring"),
        deny("kexec_load", "replaces the kernel"),
        deny("kexec_file_load", "replaces the kernel"),
        deny("init_module", "loads kernel modules"),
        deny("finit_module", "loads kernel modules"),
        deny("delete_module", "unloads kernel modules"),
        deny("open_by_handle_at", "opens files by handle, around every mount (the 'shocker' escape)"),
        deny("name_to_handle_at", "file handles: the other half of open_by_handle_at"),
        deny("acct", "process accounting is host-wide"),
        deny("swapon", "host-wide"),
        deny("swapoff", "host-wide"),
        deny("reboot", "host-wide"),
        deny("settimeofday", "the clock is host-wide"),
        deny("clock_settime", "the clock is host-wide"),
        deny("clock_adjtime", "the clock is host-wide"),
        deny("adjtimex", "the clock is host-wide"),
        deny("syslog", "the kernel log leaks host addresses"),
        deny("quotactl", "host filesystem quotas"),
        deny("lookup_dcookie", "kernel profiling interface"),
        deny("vhangup", "terminal control"),
        deny("uselib", "obsolete loader interface"),
        deny("ioperm", "hardware I/O ports"),
        deny("iopl", "hardware I/O ports"),
        deny("modify_ldt", "segment descriptors: a recurring source of kernel bugs"),
        deny("fanotify_init", "filesystem-wide event monitoring"),
        Rule(
            name: "ioctl",
            errno: EPERM,
            argument: ArgumentMatch(index: 1, mask: 0xFFFF_FFFF, value: 0x5412),
            reason: "TIOCSTI pushes input into a terminal"
        ),
        Rule(
            name: "ioctl",
            errno: EPERM,
            argument: ArgumentMatch(index: 1, mask: 0xFFFF_FFFF, value: 0x541C),
            reason: "TIOCLINUX drives the console"
        ),
    ]
}
