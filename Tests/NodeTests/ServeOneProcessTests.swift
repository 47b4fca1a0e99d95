import ChainCore
import Foundation
import Glibc
import PlaneCrypto
import TestSupport
import Testing

/// `delong serve --config FILE --one-process`: the node and both planes in one process, on the devnet only.
@Suite(.serialized) struct ServeOneProcessTests {
    typealias Supervisor = ServeCommandTests.Supervisor

    /// Every process below `pid` (children, their children, …), from /proc's parent links.
    static func descendants(of pid: pid_t) -> Set<pid_t> {
        var parents: [pid_t: pid_t] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses, so split after the last ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { parents[child] = parent }
        }
        var found: Set<pid_t> = []
        var frontier: Set<pid_t> = [pid]
        while !frontier.isEmpty {
            let next = Set(parents.filter { frontier.contains($0.value) }.keys).subtracting(found)
            found.formUnion(next)
            frontier = next
        }
        return found
    }

    @Test func theNodeAndBothPlanesRunInOneProcessAndOneSigtermLeavesNothing() async throws {
        let w = try ComputeWorld()
        // A published sample, so an Explore session can run in the one process's Computing Plane.
        let sample = w.path("sample")
        try w.run([
            "dataset", "sample", w.path("plain"), "--policy", w.path("plain/delong-policy.json"), "--out", sample,
            "--rows", "120", "--k", "5", "--seed", "7",
        ])
        try w.run([
            "dataset", "publish-sample", sample, "--dataset", w.dataset, "--da", w.da, "--rpc", w.world.devnet.url,
            "--contracts", w.world.deploymentPath, "--wallet-key", w.path("provider.key"),
        ])
        _ = try await w.world.devnet.call("anvil_mine", params: "[\"0x2\"]")
        let folder = w.path("one")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config: [String: Any] = [
            "version": 1,
            "chain": [
                "rpc": w.world.devnet.url, "contracts": w.world.deploymentPath, "checkpoint": "0:\(w.world.genesis)",
                "finality": 1, "poll": 0.3,
            ],
            "node": ["data-dir": "node", "listen": "127.0.0.1:0", "plain-http": true],
            // The world's root secret: the sample's key is the same whichever plane releases it.
            "privacy": [
                "data-dir": "privacy", "signing-key": w.world.signingKeyFile,
                "root-secret": "file:" + w.dir.appendingPathComponent("root.key").path, "domain": PlaneWorld.domain,
                "listen": "127.0.0.1:0", "max-job-seconds": 600, "allow-insecure-development-evidence": true,
                // Not what this test is about: a loaded machine made the devnet's head older than the default
                // bound (13 s here) between any block the test mined and the plane's check.
                "max-index-age": 600,
            ],
            "compute": [
                "data-dir": "compute", "listen": "127.0.0.1:0", "operator-key": w.path("operator.key"),
                "privacy-plane": "${privacy}", "allow-insecure-plane-evidence": true, "da": w.da,
                "datasets": w.datasets, "insecure-dev-measurements": w.measurements,
            ],
        ]
        try ServeCommandTests.write(config, to: folder + "/serve.json")

        let serve = try Supervisor(config: folder + "/serve.json", in: folder, ["--one-process"])
        let services = try serve.ready()
        let order = serve.lines.filter { $0.hasPrefix("SERVING ") }.map { $0.split(separator: " ")[1] }
        #expect(order == ["node", "privacy", "compute"], "\(serve.lines)")
        #expect(serve.lines.last == "READY")
        // One process: every SERVING line names serve's own pid.
        for (name, service) in services {
            #expect(service.pid == serve.process.processIdentifier, "\(name) runs in pid \(service.pid)")
        }
        try await ServeCommandTests.expectStatusOK(services, in: folder)
        let privacy = try #require(services["privacy"])
        let compute = try #require(services["compute"])

        // An Explore session of the one process's Computing Plane: its mount, its cgroup, its processes.
        let stateDir = URL(fileURLWithPath: folder + "/compute/compute").standardizedFileURL.path
        let tag = Hex.encode(Array(Digest.sha256(Array(stateDir.utf8)).prefix(8)), prefix: false)
        func mounts() throws -> [String] {
            try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8).split(separator: "\n")
                .map { String($0.split(separator: " ")[1]) }.filter { $0.hasPrefix("/run/delong/explore/\(tag)/") }
        }
        func cgroups() -> [String] {  // cgroup v2, or v1's memory controller
            ["/sys/fs/cgroup/delong", "/sys/fs/cgroup/memory/delong"].flatMap {
                ((try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? []).filter { $0.hasPrefix("\(tag)-") }
            }
        }
        let explore = [
            "explore", "start", "--plane", compute.url, "--allow-insecure-plane-evidence", "--session",
            w.path("one.session"), "--dataset", w.dataset,
        ]
        // The consumer signs in to this Privacy Plane (the one the Computing Plane was given as ${privacy}).
        try w.run([
            "privacy", "login", "--plane", privacy.url, "--allow-insecure-plane-evidence", "--wallet-key",
            w.path("consumer.key"), "--domain", PlaneWorld.domain, "--chain-id", "\(w.world.chainID)", "--out",
            w.path("one.session"),
        ])
        let started = try w.run(explore, allowFailure: true)
        #expect(started.status == 0, "\(started.stderr)")
        let mounted = try mounts()
        #expect(mounted.count == 1, "the session's home is mounted: \(mounted)")
        #expect(cgroups().count == 1, "the session has its cgroup: \(cgroups())")
        let below = Self.descendants(of: serve.process.processIdentifier)
        #expect(!below.isEmpty, "the session's sandbox runs below serve")

        // One SIGTERM stops all three, newest first; exit 0, and nothing is left.
        kill(serve.process.processIdentifier, SIGTERM)
        #expect(serve.exitStatus(within: 120) == 0, "\(serve.stderr)")
        #expect(serve.stderr.contains("stopping compute, privacy, node"), "\(serve.stderr)")
        #expect(!ServeCommandTests.alive(serve.process.processIdentifier))
        for pid in below { #expect(!ServeCommandTests.alive(pid), "process \(pid) outlived serve") }
        let left = try mounts()
        #expect(left.isEmpty, "left mounted: \(left)")
        #expect(cgroups().isEmpty, "left cgroups: \(cgroups())")
        #expect(!FileManager.default.fileExists(atPath: "/run/delong/explore/\(tag)"), "its state directory is gone")
    }

    @Test func aChainOtherThanTheDevnetIsRefusedBeforeAnythingStarts() throws {
        let dir = try DelongProcess.temporaryDirectory().path
        let deployment: [String: Any] = ["chainId": 1]
        try JSONSerialization.data(withJSONObject: deployment).write(to: URL(fileURLWithPath: dir + "/mainnet.json"))
        try JSONSerialization.data(withJSONObject: ["chainId": 31337])
            .write(to: URL(fileURLWithPath: dir + "/devnet.json"))
        func config(contracts: String, chainID: Int? = nil) -> [String: Any] {
            [
                "version": 1,
                "chain": [
                    "rpc": "http://127.0.0.1:1,http://127.0.0.1:2", "quorum": 2, "contracts": contracts,
                    "checkpoint": "0:0x" + String(repeating: "0", count: 64),
                ].merging(chainID.map { ["chain-id": $0] } ?? [:]) { $1 },
                "node": ["data-dir": "node", "listen": "127.0.0.1:0", "plain-http": true],
            ]
        }
        let cases: [(String, [String: Any], String)] = [
            ("deployment", config(contracts: "mainnet.json"), "found 1 for node (the deployment file mainnet.json)"),
            ("chain-id", config(contracts: "devnet.json", chainID: 5), "found 5 for node (--chain-id)"),
        ]
        for (name, body, message) in cases {
            try ServeCommandTests.write(body, to: dir + "/\(name).json")
            let r = try DelongProcess.run(["serve", "--config", dir + "/\(name).json", "--one-process"])
            #expect(r.status == 2, "\(name): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("refused except on the devnet: expected chain id 31337"), "\(r.stderr)")
            #expect(r.stderr.contains(message), "\(name): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(name): \(r.stdout)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/node"), "\(name): the node's index was made")
        }
    }
}
