import ComputingPlane
import Foundation
import TestSupport
import Testing

/// Cgroup handling on a fake cgroupfs: a v2 tree (this machine has v1, most users have v2) and detection.
@Suite struct JobCgroupTests {
    static func fakeV2() throws -> URL {
        let root = try DelongProcess.temporaryDirectory()
        try Data("cpuset cpu io memory hugetlb pids rdma misc\n".utf8).write(
            to: root.appendingPathComponent("cgroup.controllers")
        )
        return root
    }

    @Test func v2IsDetectedByItsControllersFileAndV1ByItsControllers() throws {
        let v2 = try Self.fakeV2()
        defer { try? FileManager.default.removeItem(at: v2) }
        #expect(CgroupHierarchy.detect(root: v2.path) == .v2(root: v2.path))

        let v1 = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: v1) }
        #expect(CgroupHierarchy.detect(root: v1.path) == nil, "an empty tree is neither")
        for controller in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
            let dir = v1.appendingPathComponent(controller)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data().write(to: dir.appendingPathComponent("cgroup.procs"))
        }
        #expect(CgroupHierarchy.detect(root: v1.path) == .v1(root: v1.path))
    }

    @Test func aV2GroupGetsItsLimitsAndReportsItsCounters() throws {
        let root = try Self.fakeV2()
        defer { try? FileManager.default.removeItem(at: root) }
        let group = try JobCgroup(
            name: "job-1",
            limits: CgroupLimits(memoryBytes: 256 << 20, pids: 64, cpus: 1.5),
            hierarchy: .v2(root: root.path)
        )
        let dir = root.appendingPathComponent("delong/job-1")
        func read(_ file: String) throws -> String {
            try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
        }
        #expect(try read("memory.max") == "\(256 << 20)")
        #expect(try read("memory.swap.max") == "0")
        #expect(try read("pids.max") == "64")
        #expect(try read("cpu.max") == "150000 100000")
        #expect(
            try String(contentsOf: root.appendingPathComponent("delong/cgroup.subtree_control"), encoding: .utf8)
                == "+memory +pids +cpu"
        )
        #expect(group.procsFiles == [dir.appendingPathComponent("cgroup.procs").path])

        // The kernel's counters, as v2 writes them.
        try Data("123456789\n".utf8).write(to: dir.appendingPathComponent("memory.peak"))
        try Data("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n".utf8).write(
            to: dir.appendingPathComponent("cpu.stat")
        )
        try Data("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n".utf8).write(
            to: dir.appendingPathComponent("memory.events")
        )
        try Data("max 7\n".utf8).write(to: dir.appendingPathComponent("pids.events"))
        let stats = group.stats()
        #expect(stats.peakMemoryBytes == 123_456_789)
        #expect(stats.cpuSeconds == 2.5)
        #expect(stats.oomKills == 1)
        #expect(stats.pidsLimitHits == 7)

        // Killing writes cgroup.kill; an empty group is then removed.
        try Data().write(to: dir.appendingPathComponent("cgroup.procs"))
        #expect(group.killAll(timeout: .milliseconds(100)))
        #expect(try read("cgroup.kill") == "1")
    }

    @Test func aGroupThatExistsAlreadyIsRefused() throws {
        let root = try Self.fakeV2()
        defer { try? FileManager.default.removeItem(at: root) }
        let limits = CgroupLimits(memoryBytes: 1 << 30, pids: 10, cpus: 1)
        _ = try JobCgroup(name: "twice", limits: limits, hierarchy: .v2(root: root.path))
        #expect(throws: ComputingPlaneError(.sandboxFailure, "")) {
            _ = try JobCgroup(name: "twice", limits: limits, hierarchy: .v2(root: root.path))
        }
    }
}

/// `SandboxCheck` names what is missing and how to fix it.
@Suite struct SandboxCheckTests {
    @Test func missingBubblewrapAndCgroupsAreReportedWithAFix() throws {
        let empty = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: empty) }
        let items = SandboxCheck.run(bubblewrap: "/nonexistent/bwrap", cgroupRoot: empty.path)
        let byName = Dictionary(uniqueKeysWithValues: items.map { ($0.name, $0) })
        #expect(byName["bubblewrap"]?.ok == false)
        #expect(byName["bubblewrap"]?.fix == "apt-get install bubblewrap")
        #expect(byName["cgroups"]?.ok == false)
        #expect(byName["cgroups"]?.fix != nil)
        #expect(byName["seccomp filter"]?.ok == true, "libseccomp builds the filter here")
        #expect(items.filter(\.ok).allSatisfy { $0.fix == nil })
    }
}
