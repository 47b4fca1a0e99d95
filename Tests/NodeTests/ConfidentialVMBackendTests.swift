import ChainCore
import ComputeEngine
import Foundation
import TestSupport
import Testing

/// `compute serve --agents gce` against a FAKE Compute Engine (built to the published request and response
/// shapes; it cannot boot a TDX guest): the fake "boots" each instance by starting `delong agent --job ID`
/// here, with what the instance's metadata says, as the boot image would (development evidence).
@Suite(.serialized) struct ConfidentialVMBackendTests {
    func startPlane(_ w: ComputeWorld, _ fake: FakeEngineProcess) throws -> ReadyService {
        try w.startCompute(
            "compute",
            [
                "--agents", "gce", "--gce-key", fake.keyPath, "--gce-zone", fake.zone, "--gce-image",
                "projects/delong-test/global/images/delong-runner", "--gce-endpoint", fake.baseURL,
                "--gce-sweep-seconds", "1",
            ]
        )
    }

    static func alive(_ pid: Int32?) -> Bool { pid.map { kill($0, 0) == 0 } ?? false }

    /// Each test runs on a thread of its own: its synchronous CLI runs and waits block that thread, not one of
    /// the cooperative pool's, and its polls are not held up by the suites that block the pool.
    @Test func aJobRunsEndToEndInAConfidentialVMAndItsVMIsDeleted() async throws {
        try await onOwnThread { try await jobRunsEndToEnd() }
    }

    func jobRunsEndToEnd() async throws {
        let w = try ComputeWorld()
        let fake = try await FakeEngineProcess.start(w)
        let plane = try startPlane(w, fake)
        let bundle = try w.bundle("mean", ComputeJobTests.cleanMean)
        _ = try await w.publish(bundle)
        let job = try w.submit(to: plane, bundle: bundle)
        let name = try InstanceRequest.instanceName(forJobID: job)

        // One Confidential VM for the job, asked for as Compute Engine expects, with the agent's launch in its
        // metadata and a run limit past the job's own timeout. (What the fake saw, not what it holds now: on a
        // loaded machine the job can be over by the time the test looks.)
        #expect(
            try await eventually(within: 300, every: .milliseconds(200)) {
                try await fake.snapshot().bootedPID(name) != nil
            }
        )
        let seen = try await fake.snapshot()
        let pid = seen.bootedPID(name)
        let insert = try #require(seen.insertBody(name), "no insert of \(name)")
        let items = (insert["metadata"] as? [String: Any])?["items"] as? [[String: Any]] ?? []
        let keys = items.compactMap { $0["key"] as? String }
        #expect(keys == ["job-id", "delong-plane", "delong-agent-secret"], "\(keys)")
        #expect((insert["labels"] as? [String: String])?["delong-job"] == String(job.dropFirst(2).prefix(63)))
        let maxRun =
            (((insert["scheduling"] as? [String: Any])?["maxRunDuration"] as? [String: Any])?["seconds"]
            as? String).flatMap { Int($0) } ?? 0
        #expect(maxRun > 60, "\(maxRun)")
        let confidential = insert["confidentialInstanceConfig"] as? [String: Any]
        #expect(confidential?["confidentialInstanceType"] as? String == "TDX")

        let done = try w.waitForEnd(job, seconds: 300)
        #expect(done["outcome"] as? String == "released", "\(done)")
        try w.syncConsumerIndex()
        let fetched = try w.run(
            [
                "job", "fetch", job, "-i", w.path("consumer-age.txt"), "-o", w.path("output"), "--data-dir",
                w.path("consumer-index"), "--json",
            ]
        )
        #expect(fetched.json?["gateVerdict"] as? String == "release", "\(fetched.stdout)")
        #expect(try String(contentsOfFile: w.path("output/out/mean.txt"), encoding: .utf8) == w.expectedMean + "\n")

        // The job ended: the plane deleted its VM (DELETE through the API), which ended the agent.
        #expect(
            try await eventually(within: 120, every: .milliseconds(200)) {
                try await fake.snapshot().instance(name) == nil
            }
        )
        #expect(try await fake.snapshot().deletions.contains { $0 == (name, "api") })
        #expect(await eventually(within: 120, every: .milliseconds(200)) { !Self.alive(pid) })
        // One token exchange served every call; one instance was made (the insert's request id is the job's).
        let after = try await fake.snapshot()
        #expect(after.instancesCreated == 1)
        #expect(after.tokensIssued == 1)

        // A VM left behind for a job the plane has finished (its delete lost) is swept.
        let client = ComputeEngineClient(
            project: fake.project,
            zone: fake.zone,
            tokens: GoogleAccessTokens(
                key: try ServiceAccountKey(json: Data(contentsOf: URL(fileURLWithPath: fake.keyPath)))
            ),
            baseURL: fake.baseURL
        )
        let leftover = try InstanceRequest.forJob(
            job,
            zone: fake.zone,
            machineType: "c3-standard-4",
            sourceImage: "projects/delong-test/global/images/delong-runner",
            maxRunDurationSeconds: 3600,
            metadata: [.init(key: "delong-plane", value: "https://127.0.0.1:1")]
        )
        try await client.wait(try await client.insert(leftover, requestID: UUID()))
        #expect(
            try await eventually(within: 120, every: .milliseconds(200)) {
                try await fake.snapshot().deletions.filter { $0.name == name }.count == 2
            }
        )
    }

    @Test func aCancelDeletesTheJobsVMAndEndsItsAgent() async throws {
        try await onOwnThread { try await cancelDeletesTheVM() }
    }

    func cancelDeletesTheVM() async throws {
        let w = try ComputeWorld()
        let fake = try await FakeEngineProcess.start(w)
        let plane = try startPlane(w, fake)
        let sleeper = try w.bundle("sleeper", ComputeJobTests.sleeper)
        _ = try await w.publish(sleeper)
        let job = try w.submit(to: plane, bundle: sleeper)
        let name = try InstanceRequest.instanceName(forJobID: job)
        _ = try w.waitForPhase(job, "executing")
        let pid = try #require(try await fake.snapshot().bootedPID(name))
        #expect(Self.alive(pid))

        try w.run(["job", "cancel", job])
        #expect(try w.status(job)["outcome"] as? String == "killed(cancelled)")
        #expect(await eventually(within: 120, every: .milliseconds(200)) { !Self.alive(pid) })
        #expect(
            try await eventually(within: 120, every: .milliseconds(200)) {
                try await fake.snapshot().instance(name) == nil
            }
        )
    }
}

/// The FAKE Compute Engine in its own process (`fake-compute-engine`, beside `delong`): this test process's
/// cooperative pool, which every suite shares, cannot starve it. It "boots" each instance by starting
/// `delong agent --job ID` with what the instance's metadata says, as the boot image would.
struct FakeEngineProcess {
    let service: ReadyService
    let keyPath: String
    let project: String
    let zone: String
    let baseURL: String

    /// What the fake holds at one moment (`GET /state`).
    struct Snapshot {
        let json: [String: Any]

        func instance(_ name: String) -> [String: Any]? {
            (json["instances"] as? [[String: Any]])?.first { $0["name"] as? String == name }
        }
        /// The process the fake booted for `name` (kept after the instance is gone).
        func bootedPID(_ name: String) -> Int32? {
            ((json["booted"] as? [[String: Any]])?.first { $0["name"] as? String == name }?["pid"] as? Int)
                .map { Int32($0) }
        }
        /// The first insert body the fake received for `name`.
        func insertBody(_ name: String) -> [String: Any]? {
            (json["inserts"] as? [Any])?.compactMap { $0 as? [String: Any] }.first { $0["name"] as? String == name }
        }
        var deletions: [(name: String, cause: String)] {
            (json["deletions"] as? [[String: Any]] ?? []).map {
                ($0["name"] as? String ?? "", $0["cause"] as? String ?? "")
            }
        }
        var tokensIssued: Int { json["tokensIssued"] as? Int ?? -1 }
        var instancesCreated: Int { json["instancesCreated"] as? Int ?? -1 }
    }

    static func start(_ w: ComputeWorld) async throws -> FakeEngineProcess {
        let delong = try DelongProcess.executable
        let executable = delong.deletingLastPathComponent().appendingPathComponent("fake-compute-engine").path
        let boot: [String: Any] = [
            "executable": delong.path, "root": w.path("vms"),
            "arguments": [
                "--rpc", w.world.devnet.url, "--contracts", w.world.deploymentPath, "--checkpoint",
                "0:\(w.world.genesis)", "--finality", "1", "--allow-insecure-plane-evidence", "--da", w.da,
                "--datasets", w.datasets, "--insecure-dev-measurements", w.measurements, "--plane-cert",
                w.path("compute-state/tls/cert.pem"),
            ],
        ]
        try JSONSerialization.data(withJSONObject: boot).write(to: URL(fileURLWithPath: w.path("fake-boot.json")))
        let keyPath = w.path("gce-key.json")
        let service = try ReadyService(
            executable,
            ["--key-out", keyPath, "--boot", w.path("fake-boot.json")],
            errorLog: URL(fileURLWithPath: w.path("fake-compute-engine.log"))
        )
        let json = try await Self.state(service)
        return FakeEngineProcess(
            service: service,
            keyPath: keyPath,
            project: try #require(json["project"] as? String),
            zone: try #require(json["zone"] as? String),
            baseURL: try #require(json["baseURL"] as? String)
        )
    }

    static func state(_ service: ReadyService) async throws -> [String: Any] {
        let answer = try await httpGet(service.url + "/state")
        guard answer.status == 200 else { throw CocoaError(.fileReadCorruptFile) }
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
    }

    func snapshot() async throws -> Snapshot { Snapshot(json: try await Self.state(service)) }
}
