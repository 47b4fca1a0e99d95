import ChainCore
import ComputeEngine
import ComputeEngineFake
import Foundation
import TestSupport
import Testing

/// `compute serve --agents gce` against a FAKE Compute Engine (built to the published request and response
/// shapes; it cannot boot a TDX guest): the fake "boots" each instance by starting `delong agent --job ID`
/// here, with what the instance's metadata says, as the boot image would (development evidence).
@Suite(.serialized) struct ConfidentialVMBackendTests {
    /// The boot image's part: the agent for the instance's job, its secret piped in from the metadata.
    static func boot(_ w: ComputeWorld) throws -> FakeComputeEngine.Boot {
        let executable = try DelongProcess.executable.path
        let options = [
            "--rpc", w.world.devnet.url, "--contracts", w.world.deploymentPath, "--checkpoint", "0:\(w.world.genesis)",
            "--finality", "1", "--allow-insecure-plane-evidence", "--da", w.da, "--datasets", w.datasets,
            "--insecure-dev-measurements", w.measurements, "--plane-cert", w.path("compute-state/tls/cert.pem"),
        ]
        let root = w.path("vms")
        return { name, metadata in
            func value(_ key: String) -> String { metadata.first { $0.key == key }?.value ?? "" }
            let state = root + "/" + name
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments =
                [
                    "agent", "--job", "0x" + value("job-id"), "--plane", value("delong-plane"), "--state-dir", state,
                    "--data-dir", state + "/index",
                ] + options
            let input = Pipe()
            process.standardInput = input
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            try input.fileHandleForWriting.write(contentsOf: Data((value("delong-agent-secret") + "\n").utf8))
            try input.fileHandleForWriting.close()
            return process
        }
    }

    func startPlane(_ w: ComputeWorld, _ fake: FakeComputeEngine, account: TestServiceAccount) throws -> ReadyService {
        let key = w.path("gce-key.json")
        try account.keyJSON(tokenURI: fake.tokenURI).write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        return try w.startCompute(
            "compute",
            [
                "--agents", "gce", "--gce-key", key, "--gce-zone", fake.zone, "--gce-image",
                "projects/delong-test/global/images/delong-runner", "--gce-endpoint", fake.baseURL,
                "--gce-sweep-seconds", "1",
            ]
        )
    }

    static func alive(_ pid: Int32?) -> Bool { pid.map { kill($0, 0) == 0 } ?? false }

    /// Polls `condition` without blocking a thread (the fake is an actor: a blocking wait on it from the
    /// cooperative pool could starve the tasks that answer it) until it holds or `seconds` pass.
    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    @Test func aJobRunsEndToEndInAConfidentialVMAndItsVMIsDeleted() async throws {
        let w = try ComputeWorld()
        let account = try TestServiceAccount()
        let fake = try await FakeComputeEngine.start(account: account, boot: try Self.boot(w))
        defer { Task { await fake.shutdown() } }
        let plane = try startPlane(w, fake, account: account)
        let bundle = try w.bundle("mean", ComputeJobTests.cleanMean)
        _ = try await w.publish(bundle)
        let job = try w.submit(to: plane, bundle: bundle)
        let name = try InstanceRequest.instanceName(forJobID: job)

        // One Confidential VM for the job, asked for as Compute Engine expects, with the agent's launch in its
        // metadata and a run limit past the job's own timeout.
        #expect(try await Self.eventually(60) { await fake.instance(name)?.pid != nil })
        let instance = try #require(await fake.instance(name), "no instance \(name)")
        let keys = instance.metadata.map(\.key)
        #expect(keys == ["job-id", "delong-plane", "delong-agent-secret"], "\(keys)")
        #expect(instance.labels["delong-job"] == String(job.dropFirst(2).prefix(63)))
        #expect(instance.maxRunDurationSeconds > 60, "\(instance.maxRunDurationSeconds)")
        let body = try #require(try JSONSerialization.jsonObject(with: instance.body) as? [String: Any])
        let confidential = body["confidentialInstanceConfig"] as? [String: Any]
        #expect(confidential?["confidentialInstanceType"] as? String == "TDX")

        let done = try w.waitForEnd(job, seconds: 120)
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
        #expect(try await Self.eventually(30) { await fake.instance(name) == nil })
        #expect(await fake.deletions().contains { $0.name == name && $0.cause == .api })
        #expect(!Self.alive(instance.pid))
        // One token exchange served every call; one instance was made (the insert's request id is the job's).
        #expect(await fake.instancesCreated() == 1)
        #expect(await fake.tokensIssued() == 1)

        // A VM left behind for a job the plane has finished (its delete lost) is swept.
        let client = ComputeEngineClient(
            project: account.projectID,
            zone: fake.zone,
            tokens: GoogleAccessTokens(key: try ServiceAccountKey(json: account.keyJSON(tokenURI: fake.tokenURI))),
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
        #expect(try await Self.eventually(30) { await fake.deletions().filter { $0.name == name }.count == 2 })
    }

    @Test func aCancelDeletesTheJobsVMAndEndsItsAgent() async throws {
        let w = try ComputeWorld()
        let account = try TestServiceAccount()
        let fake = try await FakeComputeEngine.start(account: account, boot: try Self.boot(w))
        defer { Task { await fake.shutdown() } }
        let plane = try startPlane(w, fake, account: account)
        let sleeper = try w.bundle("sleeper", ComputeJobTests.sleeper)
        _ = try await w.publish(sleeper)
        let job = try w.submit(to: plane, bundle: sleeper)
        let name = try InstanceRequest.instanceName(forJobID: job)
        _ = try w.waitForPhase(job, "executing")
        let pid = try #require(await fake.instance(name)?.pid)
        #expect(Self.alive(pid))

        try w.run(["job", "cancel", job])
        #expect(try w.status(job)["outcome"] as? String == "killed(cancelled)")
        #expect(try await Self.eventually(30) { !Self.alive(pid) })
        #expect(try await Self.eventually(30) { await fake.instance(name) == nil })
    }
}
