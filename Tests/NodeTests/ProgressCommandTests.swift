import Foundation
import Glibc
import TestSupport
import Testing

/// The renderer in commands: frames on stderr when forced, stdout the same either way; none otherwise.
@Suite(.serialized) struct ProgressCommandTests {
    static let clearLine = "\r\u{1B}[K"

    @Test func datasetSealDrawsOnStderrOnlyWhenOn() throws {
        let dir = try DelongProcess.temporaryDirectory()
        let plain = dir.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        var rng = DeterministicBytes(seed: 5)
        try Data(rng.bytes(3_000_000)).write(to: plain.appendingPathComponent("data.bin"))
        let key = dir.appendingPathComponent("dek.key")
        try Data(rng.bytes(32)).write(to: key)
        chmod(key.path, 0o600)
        func seal(_ name: String, _ environment: [String: String]) throws -> DelongProcess.Result {
            try DelongProcess.run(
                [
                    "dataset", "seal", plain.path, dir.appendingPathComponent(name).path, "--dataset-id",
                    "0x" + String(repeating: "ab", count: 32), "--key-file", key.path, "--chunk-size", "4096",
                ],
                environment: environment
            )
        }
        let digest = try Regex("^0x[0-9a-f]{64}\n$")
        let forced = try seal("forced", ["DELONG_PROGRESS": "always"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains(Self.clearLine + "sealing ["), "\(forced.stderr.debugDescription)")
        #expect(forced.stderr.contains("100% 3.0 MB of 3.0 MB"), "the final frame: \(forced.stderr.debugDescription)")
        // The last frame ends with a newline before the summary line.
        #expect(forced.stderr.contains("\nsealed 1 entries"), "\(forced.stderr.debugDescription)")
        #expect(forced.stdout.contains(digest) && !forced.stdout.contains("\u{1B}"), "\(forced.stdout)")
        for (name, environment) in [("piped", [String: String]()), ("never", ["DELONG_PROGRESS": "never"])] {
            let quiet = try seal(name, environment)
            #expect(quiet.status == 0, "\(quiet.stderr)")
            #expect(!quiet.stderr.contains("\u{1B}") && !quiet.stderr.contains("\r"), "\(name): \(quiet.stderr)")
            #expect(quiet.stdout.contains(digest), "\(quiet.stdout)")
        }
    }

    @Test func jobWaitAndNodeSyncDrawWhenForcedAndJSONNever() async throws {
        let w = try ComputeWorld()
        let plane = try w.startCompute()
        let bundle = try w.bundle("clean", ComputeJobTests.cleanMean)
        try await w.publish(bundle)
        let forced = ["DELONG_HOME": w.home, "DELONG_PROGRESS": "always"]
        // bundle publish: its upload and receipt wait on stderr, the two digest lines alone on stdout.
        let published = try DelongProcess.run(
            [
                "bundle", "publish", try w.bundle("other", ComputeJobTests.cleanMean + "\n# other\n"), "--da", w.da,
                "--rpc", w.world.devnet.url, "--contracts", w.world.deploymentPath, "--wallet-key",
                w.path("consumer.key"),
            ],
            environment: forced
        )
        #expect(published.status == 0, "\(published.stderr)")
        #expect(
            published.stderr.contains(Self.clearLine + "bundle publish: published in block"),
            "\(published.stderr.debugDescription)"
        )
        let lines = published.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("bundle sha256:") && lines[1].hasPrefix("image  "), "\(lines)")
        let submitted = try DelongProcess.run(
            [
                "job", "submit", "--plane", plane.url, "--allow-insecure-plane-evidence", "--session",
                w.path("consumer.session"), "--wallet-key", w.path("consumer.key"), "--dataset", w.dataset,
                "--bundle", bundle, "--recipient", try w.recipient, "--timeout", "60", "--memory", "512MiB", "--wait",
            ],
            environment: forced
        )
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let job = String(submitted.stdout.split(separator: "\n").first ?? "")
        #expect(job.hasPrefix("0x") && job.count == 66, "\(submitted.stdout)")
        #expect(
            submitted.stderr.contains(Self.clearLine + "job \(job.prefix(10))…"),
            "\(submitted.stderr.debugDescription)"
        )
        #expect(submitted.stderr.contains("released · "), "the final line: \(submitted.stderr.debugDescription)")
        #expect(!submitted.stdout.contains("\u{1B}") && !submitted.stdout.contains("\r"), "\(submitted.stdout)")
        #expect(submitted.stdout.contains("outcome        released"), "\(submitted.stdout)")

        // --json: no progress even when forced; stdout is the JSON object alone.
        let watched = try DelongProcess.run(["job", "status", job, "--watch", "--json"], environment: forced)
        #expect(watched.status == 0, "\(watched.stderr)")
        #expect(!watched.stderr.contains("\u{1B}") && !watched.stderr.contains("\r"), "\(watched.stderr)")
        #expect(watched.json?["outcome"] as? String == "released", "\(watched.stdout)")
        // Not a terminal and not forced: none.
        let piped = try DelongProcess.run(["job", "status", job, "--watch"], environment: ["DELONG_HOME": w.home])
        #expect(piped.status == 0 && !piped.stderr.contains("\u{1B}"), "\(piped.stderr)")

        // node sync: blocks of the target on stderr, the JSON summary alone on stdout.
        let sync = try DelongProcess.run(
            [
                "node", "sync", "--rpc", w.world.devnet.url, "--contracts", w.world.deploymentPath, "--checkpoint",
                "0:\(w.world.genesis)", "--data-dir", w.path("progress-index"), "--finality", "1",
            ],
            environment: ["DELONG_PROGRESS": "always"]
        )
        #expect(sync.status == 0, "\(sync.stderr)")
        #expect(sync.stderr.contains(Self.clearLine + "sync ["), "\(sync.stderr.debugDescription)")
        #expect(sync.stderr.contains("100% block "), "\(sync.stderr.debugDescription)")
        #expect(sync.json?["head"] != nil && !sync.stdout.contains("\u{1B}"), "\(sync.stdout)")
    }
}
