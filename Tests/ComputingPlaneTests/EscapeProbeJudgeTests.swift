import Glibc
import Testing

@testable import ComputingPlane

/// The escape suite's judges fail the sandbox on what a broken sandbox would show: a selftest that could not
/// fail would prove nothing.
struct EscapeProbeJudgeTests {
    static func probe(_ name: String) throws -> EscapeProbe {
        try #require(EscapeProbe.all.first { $0.name == name })
    }

    static func exited(_ code: Int32 = 0, uid: UInt32 = 2_100_000_007) -> SandboxResult {
        SandboxResult(
            outcome: .exited,
            exitCode: code,
            reason: nil,
            wallSeconds: 1,
            cpuSeconds: 0.5,
            peakMemoryBytes: 1 << 20,
            uid: uid
        )
    }

    static let cleanNetwork = [
        "interfaces": "lo", "routes": "0", "tcp": "refused 111", "tcp6": "refused 111", "udp": "reached",
        "abstract": "refused 111", "host0": "refused 101",
    ]

    @Test func aSealedNetworkPassesAndEveryLeakFails() throws {
        let network = try Self.probe("network")
        #expect(network.judge(ProbeRun(result: Self.exited(), probes: Self.cleanNetwork)).isEmpty)

        var withInterface = Self.cleanNetwork
        withInterface["interfaces"] = "eth0,lo"
        #expect(network.judge(ProbeRun(result: Self.exited(), probes: withInterface)).count == 1)
        var reachedHost = Self.cleanNetwork
        reachedHost["host0"] = "reached"
        #expect(network.judge(ProbeRun(result: Self.exited(), probes: reachedHost)).count == 1)
        // A datagram that got out shows only on the host's side.
        #expect(network.judge(ProbeRun(result: Self.exited(), probes: Self.cleanNetwork, baitContacts: 1)).count == 1)
        // A probe job that crashed proves nothing.
        #expect(!network.judge(ProbeRun(result: Self.exited(1), probes: Self.cleanNetwork)).isEmpty)
    }

    @Test func aCallTheFilterMissedFailsNamingIt() throws {
        let denied = try Self.probe("denied-calls")
        var probes = Dictionary(uniqueKeysWithValues: EscapeProbe.deniedCallNumbers.map { ($0.name, "\(EPERM)") })
        probes["clone3"] = "\(ENOSYS)"
        probes["clone_newuser"] = "\(EPERM)"
        probes["tiocsti"] = "\(EPERM)"
        probes["fork"] = "7"
        #expect(denied.judge(ProbeRun(result: Self.exited(), probes: probes)).isEmpty)
        probes["bpf"] = "\(EINVAL)"
        let failures = denied.judge(ProbeRun(result: Self.exited(), probes: probes))
        #expect(failures.count == 1 && failures[0].hasPrefix("bpf:") && failures[0].contains("missed"))
    }

    @Test func aJobAsRootOrSeenWithAnotherHostUidFails() throws {
        let identity = try Self.probe("identity")
        let root = identity.judge(ProbeRun(result: Self.exited(uid: 0), hostUIDs: ["Uid:\t0\t0\t0\t0"]))
        #expect(root.contains { $0.contains("root") })
        let unseen = identity.judge(ProbeRun(result: Self.exited()))
        #expect(unseen.contains { $0.contains("never seen") })
    }

    @Test func everyDenyRuleOfThePolicyIsProbed() {
        let probed = Set(EscapeProbe.deniedCallNumbers.map(\.name))
        let denied = SyscallPolicy.rules.filter { $0.argument == nil && $0.errno == EPERM }.map(\.name)
        #expect(denied.count >= 40)
        #expect(Set(denied).subtracting(probed).isEmpty, "deny rules no probe calls")
    }

    @Test func probeLinesAreReadFromAnInterleavedLog() {
        let log = "noise\nPROBE a 1 2\nPROBE b\nPROBEx c\n  PROBE d 4\n"
        #expect(ProbeRun.probes(in: log) == ["a": "1 2", "b": ""])
    }
}
