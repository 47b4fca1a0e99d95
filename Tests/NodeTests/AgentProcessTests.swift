import ChainCore
import Foundation
import TestSupport
import Testing

/// Agents out of the plane's process (`compute serve --agents process`): each job's agent is its own
/// `delong agent --job ID` child with its own light client, reaching the plane over the agent API. The same
/// path a Confidential VM takes; here the host is a child process.
@Suite(.serialized) struct AgentProcessTests {
    func startPlane(_ w: ComputeWorld) throws -> ReadyService {
        let options: [String: Any] = [
            "rpc": w.world.devnet.url, "contracts": w.world.deploymentPath, "checkpoint": "0:\(w.world.genesis)",
            "finality": 1, "allow-insecure-plane-evidence": true, "da": w.da, "datasets": w.datasets,
            "insecure-dev-measurements": w.measurements,
        ]
        let file = w.path("agent-options.json")
        try JSONSerialization.data(withJSONObject: options).write(to: URL(fileURLWithPath: file))
        return try w.startCompute("compute", ["--agents", "process", "--agent-options", file])
    }

    /// The pids of `delong agent` processes for `job`.
    static func agents(of job: String) -> [Int32] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.count > 3 && arguments[1] == "agent" && arguments[3] == job
        }
    }

    /// 64-hex-digit fields in the agents' command lines and environments (an agent secret would be one).
    static func agentSecrets(_ w: ComputeWorld) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var found: [String] = []
        for pid in pids.compactMap(Int32.init) {
            guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                String(decoding: command, as: UTF8.self).contains("\u{0}agent\u{0}--job")
            else { continue }
            let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
            for field in (command + environment).split(separator: 0).map({ String(decoding: $0, as: UTF8.self) })
            where field.count == 64 && field.allSatisfy(\.isHexDigit) {
                found.append("\(pid): \(field.prefix(8))…")
            }
        }
        return found
    }

    @Test func aReviewedJobIsReleasedThroughAnAgentInItsOwnProcess() async throws {
        let w = try ComputeWorld()
        let plane = try startPlane(w)
        let bundle = try w.bundle("mean", ComputeJobTests.meanAge)
        _ = try await w.publish(bundle)
        let job = try w.submit(to: plane, bundle: bundle)

        let waiting = try w.waitForPhase(job, "inReview")
        #expect(waiting["phase"] as? String == "inReview", "\(waiting)")
        let agents = Self.agents(of: job)
        #expect(agents.count == 1, "\(agents)")
        // The agent got its secret on standard input: neither its command line nor its environment holds it.
        let secrets = Self.agentSecrets(w)
        #expect(secrets.isEmpty, "\(secrets)")

        // The agent API refuses a wrong secret, and a job it did not launch, alike.
        for path in ["/v1/agent/jobs/\(job)", "/v1/agent/jobs/0x\(String(repeating: "ab", count: 32))"] {
            let (status, body) = try await PlaneWorld.call(plane.url, path, session: String(repeating: "0", count: 64))
            #expect(status == 403, "\(path): \(status) \(body)")
        }
        let (unauthorized, _) = try await PlaneWorld.call(plane.url, "/v1/agent/jobs/\(job)")
        #expect(unauthorized == 401)

        // Reviewers decide on the plane's desk; the agent out of process gets the outcome and releases.
        _ = try w.setReviewers(on: plane, ["reviewer.key"], required: 2)
        _ = try w.review("approve", job, on: plane)
        _ = try w.review("approve", job, on: plane, key: "reviewer.key")
        let done = try w.waitForEnd(job, seconds: 120)
        #expect(done["outcome"] as? String == "released", "\(done)")
        let events = (done["phases"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
        #expect(events == ComputeJobTests.reviewedAndReleased, "\(events)")
        #expect(done["transaction"] as? String != nil && done["evidenceDigest"] as? String != nil, "\(done)")

        // The consumer checks the result against its own light client (the record the agent signed, the
        // evidence it published, JobRecorded the plane sent for it) and decrypts.
        try w.syncConsumerIndex()
        let fetched = try w.run(
            [
                "job", "fetch", job, "-i", w.path("consumer-age.txt"), "-o", w.path("output"), "--data-dir",
                w.path("consumer-index"), "--json",
            ]
        )
        #expect(fetched.json?["gateVerdict"] as? String == "review", "\(fetched.stdout)")
        #expect(try String(contentsOfFile: w.path("output/out/mean.txt"), encoding: .utf8) == w.expectedMean + "\n")

        // The agent is gone, and so is everything it kept on this machine.
        _ = try w.wait(job, seconds: 30) { _ in Self.agents(of: job).isEmpty }
        #expect(Self.agents(of: job).isEmpty)
        _ = try w.wait(job, seconds: 30) { _ in
            ((try? FileManager.default.contentsOfDirectory(atPath: w.path("compute-state/agents"))) ?? []).isEmpty
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: w.path("compute-state/agents"))) ?? []).isEmpty)
    }

    @Test func aCancelEndsTheAgentProcessAndItsSandbox() async throws {
        let w = try ComputeWorld()
        let plane = try startPlane(w)
        let sleeper = try w.bundle("sleeper", ComputeJobTests.sleeper)
        try await w.publish(sleeper)
        let job = try w.submit(to: plane, bundle: sleeper)
        _ = try w.waitForPhase(job, "executing")
        #expect(Self.agents(of: job).count == 1)

        let started = Date()
        try w.run(["job", "cancel", job])
        #expect(try w.status(job)["outcome"] as? String == "killed(cancelled)")
        _ = try w.wait(job, seconds: 30) { _ in Self.agents(of: job).isEmpty }
        #expect(Self.agents(of: job).isEmpty)
        #expect(Date().timeIntervalSince(started) < 30)
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        #expect(!mounts.contains(w.path("compute-state/agents")))
        // A late event from an agent of a finished job changes nothing: the job stays as it ended.
        #expect(try w.status(job)["outcome"] as? String == "killed(cancelled)")
    }
}
