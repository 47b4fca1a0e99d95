import Foundation
import TestSupport
import Testing

/// `delong compute serve --evidence configfs-tsm` refuses to start (exit 2) where the kernel's report directory is
/// missing, and `--evidence dstack:ENDPOINT` where the endpoint cannot be one, before it syncs or serves anything.
@Suite struct ComputeEvidenceOptionsTests {
    @Test func configfsTSMWithoutItsDirectoryExitsTwoAtStart() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("no-tsm/report").path
        let base = [
            "compute", "serve", "--rpc", "http://127.0.0.1:9", "--contracts", dir.appendingPathComponent("d.json").path,
            "--checkpoint", "0:0x" + String(repeating: "ab", count: 32), "--data-dir",
            dir.appendingPathComponent("data").path, "--listen", "127.0.0.1:0", "--operator-key",
            dir.appendingPathComponent("operator.key").path, "--privacy-plane", "https://127.0.0.1:9", "--da",
            dir.path, "--datasets", dir.path,
        ]
        let refused = try DelongProcess.run(base + ["--evidence", "configfs-tsm", "--configfs-tsm-path", missing])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("--evidence configfs-tsm: configfs-tsm: expected the report directory \(missing)"),
            "\(refused.stderr)"
        )
        let unknown = try DelongProcess.run(base + ["--evidence", "sgx"])
        // Option validation: ArgumentParser's usage error (64).
        #expect(
            unknown.status == 64 && unknown.stderr.contains("expected dev, configfs-tsm or dstack[:SOCKET]"),
            "\(unknown.stderr)"
        )
        // A dstack endpoint that cannot be one: exit 2 at start, naming it.
        let https = try DelongProcess.run(base + ["--evidence", "dstack:https://agent:443"])
        #expect(https.status == 2, "\(https.stderr)")
        #expect(
            https.stderr.contains("--evidence dstack:https://agent:443: dstack guest agent endpoint"),
            "\(https.stderr)"
        )
        let empty = try DelongProcess.run(base + ["--evidence", "dstack:"])
        #expect(empty.status == 2 && empty.stderr.contains("expected a socket path"), "\(empty.stderr)")
        let noMeasurements = try DelongProcess.run(base)
        #expect(noMeasurements.status == 64 && noMeasurements.stderr.contains("--insecure-dev-measurements"))
    }
}
