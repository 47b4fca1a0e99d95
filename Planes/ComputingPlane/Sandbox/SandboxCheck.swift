import Foundation
import Glibc

/// What the sandbox needs from this machine, each item with what was found and how to fix it when missing.
public enum SandboxCheck {
    /// One requirement.
    public struct Item: Sendable, Hashable {
        public var name: String
        public var ok: Bool
        public var found: String
        /// How to fix it, when not ok.
        public var fix: String?
    }

    /// Every requirement, checked now.
    public static func run(bubblewrap: String = "/usr/bin/bwrap", cgroupRoot: String = "/sys/fs/cgroup") -> [Item] {
        var items: [Item] = []
        items.append(
            Item(
                name: "root",
                ok: geteuid() == 0,
                found: "euid \(geteuid())",
                fix: "run the runner as root: it mounts /out, creates cgroups and drops each job to its own uid"
            )
        )
        items.append(
            Item(
                name: "bubblewrap",
                ok: access(bubblewrap, X_OK) == 0,
                found: access(bubblewrap, X_OK) == 0 ? bubblewrap : "not at \(bubblewrap)",
                fix: "apt-get install bubblewrap"
            )
        )
        let maxNamespaces = read("/proc/sys/user/max_user_namespaces")
        let debianSwitch = read("/proc/sys/kernel/unprivileged_userns_clone")
        let userns = (Int(maxNamespaces ?? "0") ?? 0) > 0 && (debianSwitch == nil || debianSwitch == "1")
        items.append(
            Item(
                name: "unprivileged user namespaces",
                ok: userns,
                found:
                    "max_user_namespaces \(maxNamespaces ?? "?"), unprivileged_userns_clone \(debianSwitch ?? "absent")",
                fix: "sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1"
            )
        )
        let apparmor = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
        items.append(
            Item(
                name: "AppArmor user-namespace restriction",
                ok: apparmor != "1",
                found: apparmor.map { "apparmor_restrict_unprivileged_userns \($0)" } ?? "absent",
                fix: "Ubuntu 24.04+: give bwrap an AppArmor profile with `userns,` (or sysctl "
                    + "kernel.apparmor_restrict_unprivileged_userns=0)"
            )
        )
        let actions = read("/proc/sys/kernel/seccomp/actions_avail") ?? ""
        items.append(
            Item(
                name: "seccomp",
                ok: actions.contains("kill_process") && actions.contains("errno"),
                found: actions.isEmpty ? "no seccomp in this kernel" : "actions \(actions)",
                fix: "a kernel with CONFIG_SECCOMP_FILTER"
            )
        )
        do {
            let fd = try SeccompFilter.exportToMemfd()
            var st = stat()
            fstat(fd, &st)
            close(fd)
            items.append(
                Item(
                    name: "seccomp filter",
                    ok: true,
                    found: "\(SyscallPolicy.rules.count) rules, \(st.st_size) bytes of BPF"
                )
            )
        } catch {
            items.append(
                Item(
                    name: "seccomp filter",
                    ok: false,
                    found: error.reason,
                    fix: "apt-get install libseccomp2 (2.5.4 or later)"
                )
            )
        }
        switch CgroupHierarchy.detect(root: cgroupRoot) {
        case .v2(let root)?:
            let controllers = read(root + "/cgroup.controllers") ?? ""
            let missing = ["memory", "pids", "cpu"].filter {
                !controllers.split(separator: " ").contains(Substring($0))
            }
            items.append(
                Item(
                    name: "cgroups",
                    ok: missing.isEmpty,
                    found: "v2 at \(root), controllers: \(controllers)",
                    fix: "enable \(missing.joined(separator: ", ")) (systemd: Delegate=yes for the runner's unit)"
                )
            )
        case .v1(let root)?:
            items.append(Item(name: "cgroups", ok: true, found: "v1 at \(root): memory, pids, cpu, cpuacct, freezer"))
        case nil:
            items.append(
                Item(
                    name: "cgroups",
                    ok: false,
                    found: "no v2 tree or v1 controllers under \(cgroupRoot)",
                    fix: "mount cgroup2 at /sys/fs/cgroup"
                )
            )
        }
        let fuse = access("/dev/fuse", R_OK | W_OK) == 0
        let fusermount = access("/usr/bin/fusermount3", X_OK) == 0
        items.append(
            Item(
                name: "FUSE (Decrypt FUSE for /data)",
                ok: fuse && fusermount,
                found: "/dev/fuse \(fuse ? "usable" : "missing"), fusermount3 \(fusermount ? "present" : "missing")",
                fix: "apt-get install fuse3; load the fuse module"
            )
        )
        for i in items.indices where items[i].ok { items[i].fix = nil }
        return items
    }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
