import CLinux
import CSeccomp
import Glibc

/// The job's seccomp program, built with libseccomp from `SyscallPolicy` and exported as classic BPF into a
/// sealed memfd that bubblewrap loads with `--seccomp FD` just before it executes the job.
///
/// Only the native architecture is in the filter, so a call made through another ABI (i386 `int 0x80`, x32)
/// meets the bad-architecture action: the process is killed.
public enum SeccompFilter {
    /// Writes the filter to a new memfd and returns the descriptor, positioned at its start and not
    /// close-on-exec (bubblewrap reads it after exec).
    public static func exportToMemfd(
        _ rules: [SyscallPolicy.Rule] = SyscallPolicy.rules
    ) throws(ComputingPlaneError)
        -> Int32
    {
        guard let ctx = seccomp_init(CSeccomp_actAllow()) else {
            throw ComputingPlaneError(.systemUnsupported, "seccomp_init failed: is libseccomp usable on this kernel?")
        }
        defer { seccomp_release(ctx) }
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, CSeccomp_actKillProcess()), "bad-arch action")
        // bwrap sets no_new_privs itself; leave it to bwrap so the filter loads at the point bwrap chooses.
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0), "no_new_privs attribute")
        for rule in rules {
            let nr = seccomp_syscall_resolve_name(rule.name)
            guard nr != __NR_SCMP_ERROR else {
                throw ComputingPlaneError(.systemUnsupported, "libseccomp does not know the system call \(rule.name)")
            }
            let action = CSeccomp_actErrno(UInt16(rule.errno))
            if let match = rule.argument {
                try check(
                    CSeccomp_ruleAddMasked(ctx, action, nr, match.index, match.mask, match.value),
                    "rule for \(rule.name)"
                )
            } else {
                try check(CSeccomp_ruleAdd(ctx, action, nr), "rule for \(rule.name)")
            }
        }
        let fd = memfd_create("delong-seccomp", 0)
        guard fd >= 0 else {
            throw ComputingPlaneError(.systemUnsupported, "memfd_create: \(ComputingPlaneError.text(errno))")
        }
        let exported = seccomp_export_bpf(ctx, fd)
        guard exported == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            close(fd)
            throw ComputingPlaneError(.systemUnsupported, "seccomp_export_bpf: \(ComputingPlaneError.text(-exported))")
        }
        return fd
    }

    private static func check(_ result: Int32, _ what: String) throws(ComputingPlaneError) {
        guard result == 0 else {
            throw ComputingPlaneError(.systemUnsupported, "seccomp \(what): \(ComputingPlaneError.text(-result))")
        }
    }
}
