import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

/// What every Secure-job suite starts from: the devnet with the demo deployment, a Privacy Plane with short
/// key leases, the admissions dataset sealed for real under its provider's key (its manifest digest updated on
/// chain), the consumer signed in with an age identity, and helpers to publish bundles, start a Computing
/// Plane and drive jobs through the CLI exactly as the README does.
struct ComputeWorld {
    static let operatorKey = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
    /// A second reviewer the provider names in its reviewer list.
    static let reviewerKey = Keccak256.hash(utf8: "compute world second reviewer").hex
    /// The gate policy sealed with the table: `id` is its key (one canary row), age a quasi-identifier.
    static let policy = """
        {"version": 1,
         "tables": {"admissions.csv": {"entity": "id",
           "columns": {"id": "key", "age": "quasi_identifier", "admitted": "date"}}},
         "canaries": [{"table": "admissions.csv", "row": 41, "values": {"id": "ADM-00042"}}]}
        """
    /// The demo runner's development measurements (MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2), trusted on chain by the demo.
    static let measurementsScript =
        "import hashlib; s=lambda t: hashlib.sha256(t.encode()).digest()[:24]*2; print((s('demo MRTD')+s('demo RTMR0')+s('demo RTMR1')+s('demo RTMR2')).hex())"

    let world: PlaneWorld
    let privacy: ReadyService
    let dataset: String
    let measurements: String
    var dir: URL { world.dir }

    /// `receiptHeadEvery`: the Privacy Plane publishes its receipt-log head to the DA store (`da`) every this
    /// many receipts (what an auditor checks receipts against).
    init(leaseSeconds: Int = 5, receiptHeadEvery: Int? = nil) throws {
        world = try PlaneWorld()
        let da = world.dir.appendingPathComponent("da").path
        let heads = receiptHeadEvery.map { ["--da", da, "--receipt-head-every", "\($0)"] }
        privacy = try world.startPlane(
            [
                "--poll", "0.3", "--allow-insecure-development-evidence", "--max-index-age", "3600",
                "--lease-seconds", "\(leaseSeconds)",
            ] + (heads ?? [])
        )
        dataset = try #require((world.demo["datasets"] as? [String: String])?["admissions"])
        measurements = try ContribTool.python(Self.measurementsScript).trimmingCharacters(in: .whitespacesAndNewlines)
        for (name, key) in [
            ("operator.key", Self.operatorKey), ("provider.key", PlaneWorld.providerKey),
            ("consumer.key", PlaneWorld.consumerKey), ("stranger.key", PlaneWorld.strangerKey),
            ("reviewer.key", Self.reviewerKey),
        ] {
            _ = FileManager.default.createFile(
                atPath: path(name),
                contents: Data(key.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        }
        for (who, key) in [("provider", "provider.key"), ("consumer", "consumer.key")] {
            try run([
                "privacy", "login", "--plane", privacy.url, "--allow-insecure-plane-evidence", "--wallet-key",
                path(key), "--domain", PlaneWorld.domain, "--chain-id", "\(world.chainID)", "--out",
                path("\(who).session"),
            ])
        }
        // The provider seals the dataset under its key and records the sealed manifest's digest on chain.
        try run([
            "privacy", "provider-key", "--plane", privacy.url, "--allow-insecure-plane-evidence", "--session",
            path("provider.session"), "--dataset", dataset, "--out", path("provider.dek"),
        ])
        let plain = dir.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        let rows = (1...200).map {
            "ADM-\(String(format: "%05d", $0)),\(20 + $0 % 60),2024-01-\(String(format: "%02d", 1 + $0 % 28))"
        }
        try ("id,age,admitted\n" + rows.joined(separator: "\n") + "\n").write(
            to: plain.appendingPathComponent("admissions.csv"),
            atomically: true,
            encoding: .utf8
        )
        try Self.policy.write(to: plain.appendingPathComponent("delong-policy.json"), atomically: true, encoding: .utf8)
        let sealed = datasets + "/" + String(dataset.dropFirst(2))
        try FileManager.default.createDirectory(atPath: datasets, withIntermediateDirectories: true)
        try run(["dataset", "seal", plain.path, sealed, "--dataset-id", dataset, "--key-file", path("provider.dek")])
        let manifest = try Data(contentsOf: URL(fileURLWithPath: sealed + "/manifest.dlsealed"))
        try call(
            as: "demoProviders:0",
            "DataMarket",
            "updateDataset",
            [dataset, Hex.encode(Digest.sha256([UInt8](manifest))), "1000000000", "s", "m"]
        )
        try run(["key", "new", "--out", path("consumer-age.txt")])
    }

    var datasets: String { path("datasets") }
    var da: String { path("da") }
    var home: String { path("home") }
    /// The mean age of the sealed table, as the test algorithm prints it.
    var expectedMean: String { String(format: "%.4f", Double((1...200).map { 20 + $0 % 60 }.reduce(0, +)) / 200) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    var recipient: String {
        get throws {
            try run(["key", "recipient", path("consumer-age.txt")]).stdout.trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        }
    }

    /// Runs `delong` as the consumer's machine does (its job registry under `home`); fails on a non-zero exit
    /// unless `allowFailure`.
    @discardableResult
    func run(_ arguments: [String], allowFailure: Bool = false) throws -> DelongProcess.Result {
        let result = try DelongProcess.run(arguments, environment: ["DELONG_HOME": home])
        if !allowFailure {
            #expect(result.status == 0, "delong \(arguments.prefix(3).joined(separator: " ")): \(result.stderr)")
        }
        return result
    }

    /// One contract call from a devnet role (contrib/contracts/call).
    @discardableResult
    func call(as role: String, _ contract: String, _ function: String, _ arguments: [String]) throws -> String {
        try ContribTool.run(
            [
                "contrib/contracts/call", "--rpc", world.devnet.url, "--deployment", world.deploymentPath, "--as", role,
                contract, function,
            ] + arguments
        )
    }

    /// A bundle folder with `main.py`.
    func bundle(_ name: String, _ main: String) throws -> String {
        let folder = dir.appendingPathComponent("bundles/\(name)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try main.write(to: folder.appendingPathComponent("main.py"), atomically: true, encoding: .utf8)
        return folder.path
    }

    /// Publishes `bundle` (DA store and chain) and mines two empty blocks so the record is final (the devnet
    /// mines only on transactions; tokens need a final AlgorithmPublished); returns the image digest.
    @discardableResult
    func publish(_ bundle: String, runtime: String? = nil) async throws -> String {
        let result = try run(
            [
                "bundle", "publish", bundle, "--da", da, "--rpc", world.devnet.url, "--contracts", world.deploymentPath,
                "--wallet-key", path("consumer.key"), "--json",
            ] + (runtime.map { ["--runtime", $0] } ?? [])
        )
        _ = try await world.devnet.call("anvil_mine", params: "[\"0x2\"]")
        try await waitForHead(of: privacy)
        return try #require(result.json?["imageDigest"] as? String, "\(result.stderr)")
    }

    /// Waits (at most 90 s: CI runs every suite at once on two cores, and a plane's poll then waited past
    /// 20 s) until `service`'s light client has reached the devnet's head block.
    func waitForHead(of service: ReadyService) async throws {
        let head = try await world.devnet.call("eth_blockNumber") as? String ?? "0x0"
        let target = UInt64(head.dropFirst(2), radix: 16) ?? 0
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            let (_, status) = try await PlaneWorld.call(service.url, "/v1/status")
            if let number = (status["head"] as? [String: Any])?["number"] as? Int, UInt64(number) >= target { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(service.url) did not reach block \(target) within 90 s")
    }

    /// `compute serve` on the devnet; `name` keeps its index and state apart from other planes'. `executable`
    /// runs another copy of `delong`; `ca` is the CA that issued a certificate given in `extra` (--tls-cert),
    /// trusted instead of the plane's self-signed one.
    func startCompute(
        _ name: String = "compute",
        executable: String? = nil,
        measurements: String? = nil,
        listen: String = "127.0.0.1:0",
        ca: String? = nil,
        _ extra: [String] = []
    ) throws
        -> ReadyService
    {
        let plane = try ReadyService(
            try executable ?? DelongProcess.executable.path,
            [
                "compute", "serve", "--rpc", world.devnet.url, "--contracts", world.deploymentPath, "--checkpoint",
                "0:\(world.genesis)", "--data-dir", path("\(name)-index"), "--finality", "1", "--poll", "0.3",
                "--listen", listen, "--operator-key", path("operator.key"), "--privacy-plane", privacy.url,
                "--allow-insecure-plane-evidence", "--da", da, "--datasets", datasets, "--insecure-dev-measurements",
                measurements ?? self.measurements, "--state-dir", path("\(name)-state"), "--work-dir",
                path("\(name)-work"),
            ] + extra,
            errorLog: dir.appendingPathComponent("\(name).err")
        )
        trustCertificate(ca ?? path("\(name)-state/tls/cert.pem"), for: plane.url)
        return plane
    }

    /// `job submit` as the consumer; the job id.
    func submit(to plane: ReadyService, bundle: String, _ extra: [String] = []) throws -> String {
        let result = try run(
            [
                "job", "submit", "--plane", plane.url, "--allow-insecure-plane-evidence", "--session",
                path("consumer.session"), "--wallet-key", path("consumer.key"), "--dataset", dataset, "--bundle",
                bundle,
                "--recipient", try recipient, "--timeout", "60", "--memory", "512MiB",
            ] + extra
        )
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `job status --json` (a job submitted with the CLI), or the plane's GET /v1/jobs/ID (one posted by hand).
    func status(_ job: String, on plane: ReadyService? = nil) throws -> [String: Any] {
        if let plane {
            let answer = try httpRequest(plane.url + "/v1/jobs/" + job)
            return try #require(try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])
        }
        return try #require(try run(["job", "status", job, "--json"]).json)
    }

    /// A synchronous GET (the CLI-style polling loops are synchronous): the body, whatever its status. It waits
    /// off the cooperative pool (see `blockingAwait`), and throws what the request threw.
    func httpRequest(_ url: String) throws -> String {
        try blockingAwait { try await httpGet(url).body }
    }

    /// Polls the job until `done` holds (at most `seconds`); the last status.
    func wait(
        _ job: String,
        on plane: ReadyService? = nil,
        seconds: Double = 90,
        until done: ([String: Any]) -> Bool
    ) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        var last: [String: Any] = [:]
        var failure: (any Error)?
        while Date() < deadline {
            do {
                last = try status(job, on: plane)
                failure = nil
            } catch {
                // A plane's request that failed (a timeout under load) is polled again; the CLI's is not.
                guard plane != nil else { throw error }
                failure = error
            }
            if failure == nil && done(last) { return last }
            Thread.sleep(forTimeInterval: 0.3)
        }
        let lastFailure = failure.map { "; the last request failed: \($0)" } ?? ""
        Issue.record("job \(job) did not get there within \(seconds) s: \(last)\(lastFailure)")
        return last
    }

    func waitForPhase(_ job: String, _ phase: String) throws -> [String: Any] {
        try wait(job) { $0["phase"] as? String == phase || $0["state"] as? String == "finished" }
    }

    func waitForEnd(_ job: String, on plane: ReadyService? = nil, seconds: Double = 90) throws -> [String: Any] {
        try wait(job, on: plane, seconds: seconds) { $0["state"] as? String == "finished" }
    }

    /// `node sync` of the consumer's own light-client index (what `job fetch` trusts).
    func syncConsumerIndex() throws {
        try run(
            [
                "node", "sync", "--rpc", world.devnet.url, "--contracts", world.deploymentPath, "--checkpoint",
                "0:\(world.genesis)", "--data-dir", path("consumer-index"), "--finality", "1",
            ]
        )
    }

    /// The address of a key file's key.
    func address(_ keyFile: String) throws -> String {
        let hex = try String(contentsOfFile: path(keyFile), encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        return try Secp256k1.shared.address(privateKey: Hex.decode(hex)).checksummed
    }

    /// `review reviewers` as the provider: names `reviewers` (key files) and the approvals needed.
    @discardableResult
    func setReviewers(on plane: ReadyService, _ reviewers: [String], required: Int) throws -> DelongProcess.Result {
        try run(
            [
                "review", "reviewers", "--dataset", dataset, "--plane", plane.url, "--allow-insecure-plane-evidence",
                "--wallet-key", path("provider.key"), "--required", "\(required)",
            ] + reviewers.flatMap { ["--reviewer", try address($0)] }
        )
    }

    /// `review approve|reject` as `key`'s owner (the provider unless told otherwise).
    @discardableResult
    func review(
        _ verdict: String,
        _ job: String,
        on plane: ReadyService,
        key: String = "provider.key",
        allowFailure: Bool = false
    ) throws -> DelongProcess.Result {
        try run(
            [
                "review", verdict, job, "--plane", plane.url, "--allow-insecure-plane-evidence", "--wallet-key",
                path(key), "--reason", "checked by the test",
            ],
            allowFailure: allowFailure
        )
    }
}
