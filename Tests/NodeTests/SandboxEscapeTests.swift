import Foundation
import Glibc
import TestSupport
import Testing

/// The escape suite through `delong sandbox selftest`, probe by probe, and `delong sandbox run` in its pinned form.
/// Probes reach only this machine: listeners the selftest opens on its own addresses and abstract sockets.
@Suite(.serialized) struct SandboxEscapeTests {
    /// Runs `script` as main.py with `data` at /data; returns the result JSON, the exit status and stderr.
    static func run(
        _ script: String,
        data: [String: String] = ["t.csv": "a,b\n1,2\n"],
        options: [String] = []
    ) throws -> (json: [String: Any], status: Int32, stderr: String, out: URL) {
        let dir = try DelongProcess.temporaryDirectory()
        chmod(dir.path, 0o755)
        let bundle = dir.appendingPathComponent("bundle")
        let dataDir = dir.appendingPathComponent("data")
        for d in [bundle, dataDir] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            chmod(d.path, 0o755)
        }
        try Data(script.utf8).write(to: bundle.appendingPathComponent("main.py"))
        for (name, text) in data {
            try Data(text.utf8).write(to: dataDir.appendingPathComponent(name))
            chmod(dataDir.appendingPathComponent(name).path, 0o644)
        }
        let out = dir.appendingPathComponent("out")
        let r = try DelongProcess.run(
            ["sandbox", "run", bundle.path, "--data", dataDir.path, "--out", out.path, "--json"] + options
        )
        let json = try #require(r.json, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        return (json, r.status, r.stderr, out)
    }

    /// Every probe of the escape suite, by name: `sandbox selftest` refuses a name it does not know.
    static let probes = [
        "network", "identity", "denied-calls", "i386", "grandchild", "outputs", "memory", "pids", "timeout", "tmp",
        "output-limit", "cpu", "unreadable-data",
    ]

    @Test(arguments: probes) func theEscapeProbePasses(_ name: String) throws {
        let r = try DelongProcess.run(["sandbox", "selftest", "--probe", name, "--json"])
        let json = try #require(r.json, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        let verdicts = try #require(json["probes"] as? [[String: Any]])
        #expect(verdicts.map { $0["name"] as? String } == [name])
        let failures = verdicts.first?["failures"] as? [String] ?? ["no verdict"]
        #expect(failures.isEmpty, "\(name): \(failures.joined(separator: "; "))")
        #expect(json["ok"] as? Bool == true)
        #expect(r.status == 0)
    }

    @Test func selftestRefusesAnUnknownProbeNamingTheKnownOnes() throws {
        let r = try DelongProcess.run(["sandbox", "selftest", "--probe", "teleport"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("teleport") && r.stderr.contains("denied-calls"))
    }

    @Test func aJobsOutputsLandUnderOutAndItsResultIsOneJSONObject() throws {
        let ok = try Self.run(
            "import os\nos.makedirs('/out/r')\nopen('/out/r/sum.txt', 'w').write(str(sum(int(x) for x in open('/data/t.csv').read().split()[1].split(','))))\nprint('done')"
        )
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.json["outcome"] as? String == "exited" && ok.json["exitCode"] as? Int == 0)
        #expect(ok.json["reason"] is NSNull)
        #expect(ok.json["runtime"] is String)
        for key in ["wallSeconds", "cpuSeconds", "peakMemoryBytes"] { #expect(ok.json[key] is NSNumber, "\(key)") }
        #expect((ok.json["outputs"] as? [[String: Any]])?.map { $0["path"] as? String } == ["r/sum.txt"])
        #expect(try String(contentsOf: ok.out.appendingPathComponent("r/sum.txt"), encoding: .utf8) == "3")
        #expect(ok.stderr.contains("done"), "the job's stdout goes to stderr")

        let failing = try Self.run("import sys\nsys.exit(3)")
        #expect(failing.status == 1)
        #expect(failing.json["outcome"] as? String == "exited" && failing.json["exitCode"] as? Int == 3)
    }

    @Test func dataTheJobUidCannotReadIsBadInputNamingTheFile() throws {
        let dir = try DelongProcess.temporaryDirectory()
        chmod(dir.path, 0o755)
        let bundle = dir.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true)
        try Data("print(1)".utf8).write(to: bundle.appendingPathComponent("main.py"))
        let data = dir.appendingPathComponent("d")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        chmod(data.path, 0o755)
        try Data("x".utf8).write(to: data.appendingPathComponent("private.csv"))
        chmod(data.appendingPathComponent("private.csv").path, 0o600)
        let r = try DelongProcess.run([
            "sandbox", "run", bundle.path, "--data", data.path, "--out", dir.appendingPathComponent("o").path, "--json",
        ])
        #expect(r.status == 2)
        #expect(r.stderr.contains("private.csv"))
        #expect(r.json?["outcome"] as? String == "refused")
    }

    @Test func sandboxCheckFindsThisMachineReady() throws {
        let r = try DelongProcess.run(["sandbox", "check", "--json"])
        let json = try #require(r.json, "\(r.stdout)\(r.stderr)")
        let checks = try #require(json["checks"] as? [[String: Any]])
        let failing = checks.filter { $0["ok"] as? Bool != true }.map { "\($0["name"] ?? "?"): \($0["found"] ?? "")" }
        #expect(failing.isEmpty, "\(failing)")
        #expect(r.status == 0)
        #expect(checks.count >= 8)
    }
}
