import Foundation
import Glibc
import TestSupport
import Testing

/// `delong serve --config FILE`: the node and both planes as child processes of one supervisor, on the devnet.
@Suite(.serialized) struct ServeCommandTests {
    /// A running `delong serve`: its process, and what it printed.
    final class Supervisor {
        let process = Process()
        let output: URL
        let errors: URL

        init(config: String, in folder: String, _ extra: [String] = []) throws {
            output = URL(fileURLWithPath: folder + "/serve.out")
            errors = URL(fileURLWithPath: folder + "/serve.err")
            for file in [output, errors] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
            process.executableURL = try DelongProcess.executable
            process.arguments = ["serve", "--config", config] + extra
            process.standardOutput = try FileHandle(forWritingTo: output)
            process.standardError = try FileHandle(forWritingTo: errors)
            try process.run()
        }

        var lines: [String] {
            ((try? String(contentsOf: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        var stderr: String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }

        /// Waits for READY; then each service's URL and pid from its SERVING line.
        func ready(within seconds: Double = 180) throws -> [String: (url: String, pid: pid_t)] {
            let deadline = Date().addingTimeInterval(seconds)
            while !lines.contains("READY") && process.isRunning && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.1)
            }
            try #require(lines.contains("READY"), "serve printed no READY: \(lines)\n\(stderr)")
            var services: [String: (url: String, pid: pid_t)] = [:]
            for line in lines where line.hasPrefix("SERVING ") {
                let parts = line.split(separator: " ").map(String.init)  // SERVING NAME URL pid PID
                services[parts[1]] = (parts[2], pid_t(parts[4]) ?? -1)
            }
            return services
        }

        func exitStatus(within seconds: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            return process.isRunning ? nil : process.terminationStatus
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    static func alive(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 }

    static func write(_ config: [String: Any], to path: String) throws {
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: path))
    }

    /// The node and both planes answer `GET /v1/status` with 200, the planes over TLS with the certificates serve
    /// made for them under `folder`. (The Computing Plane was given the Privacy Plane's URL once it was known, and
    /// attested it.)
    static func expectStatusOK(_ services: [String: (url: String, pid: pid_t)], in folder: String) async throws {
        let certificates: [(name: String, path: String?)] = [
            ("node", nil), ("privacy", "/privacy/privacy/tls/cert.pem"), ("compute", "/compute/compute/tls/cert.pem"),
        ]
        for (name, certificate) in certificates {
            let service = try #require(services[name], "serve started no \(name): \(services.keys.sorted())")
            let status = try await httpRequest(
                service.url + "/v1/status",
                method: "GET",
                trusting: certificate.map { folder + $0 }
            )
            #expect(status.status == 200, "\(name)'s /v1/status: expected 200, found \(status.status) \(status.body)")
        }
    }

    @Test func startsTheNodeAndBothPlanesInOrderAndStopsThemTogether() async throws {
        let w = try ComputeWorld()
        let folder = w.path("serve")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Relative paths are the config folder's: the supervisor runs its children there.
        let config: [String: Any] = [
            "version": 1,
            "chain": [
                "rpc": w.world.devnet.url, "contracts": w.world.deploymentPath, "checkpoint": "0:\(w.world.genesis)",
                "finality": 1, "poll": 0.3,
            ],
            "node": ["data-dir": "node", "listen": "127.0.0.1:0", "plain-http": true],
            "privacy": [
                "data-dir": "privacy", "signing-key": w.world.signingKeyFile, "root-secret": "file:root.key",
                "create-root-secret": true, "domain": PlaneWorld.domain, "listen": "127.0.0.1:0",
                "max-job-seconds": 600, "allow-insecure-development-evidence": true,
            ],
            "compute": [
                "data-dir": "compute", "listen": "127.0.0.1:0", "operator-key": w.path("operator.key"),
                "privacy-plane": "${privacy}", "allow-insecure-plane-evidence": true, "da": w.da,
                "datasets": w.datasets, "insecure-dev-measurements": w.measurements,
            ],
        ]
        try Self.write(config, to: folder + "/serve.json")

        let serve = try Supervisor(config: folder + "/serve.json", in: folder)
        let services = try serve.ready()
        #expect(Set(services.keys) == ["node", "privacy", "compute"], "\(serve.lines)")
        let order = serve.lines.filter { $0.hasPrefix("SERVING ") }.map { $0.split(separator: " ")[1] }
        #expect(order == ["node", "privacy", "compute"])
        try await Self.expectStatusOK(services, in: folder)
        #expect(
            FileManager.default.fileExists(atPath: folder + "/root.key"),
            "the root secret is in the config's folder"
        )

        // SIGTERM stops all three, newest first, and serve exits 0.
        kill(serve.process.processIdentifier, SIGTERM)
        #expect(serve.exitStatus(within: 120) == 0, "\(serve.stderr)")
        #expect(serve.stderr.contains("stopping compute, privacy, node"), "\(serve.stderr)")
        for (name, service) in services { #expect(!Self.alive(service.pid), "\(name) still runs") }

        // A service that dies on its own takes the others down, and serve says which and exits 1.
        let again = try Supervisor(config: folder + "/serve.json", in: folder + "/..")
        let second = try again.ready()
        kill(try #require(second["privacy"]).pid, SIGKILL)
        #expect(again.exitStatus(within: 120) == 1, "\(again.stderr)")
        #expect(again.stderr.contains("privacy exited with status"), "\(again.stderr)")
        for (name, service) in second { #expect(!Self.alive(service.pid), "\(name) still runs") }
    }

    @Test func aBadConfigStartsNothingAndSaysWhy() throws {
        let dir = try DelongProcess.temporaryDirectory().path
        let base: [String: Any] = [
            "version": 1,
            "chain": [
                "rpc": "http://127.0.0.1:1", "contracts": "deployment.json",
                "checkpoint": "0:0x" + String(repeating: "0", count: 64),
            ],
        ]
        let cases: [(String, [String: Any], Int32, String)] = [
            ("unknown section", base.merging(["nodes": [String: Any]()]) { $1 }, 2, "unknown key \"nodes\""),
            ("version", base.merging(["version": 2, "node": [String: Any]()]) { $1 }, 2, "version: expected 1"),
            ("nothing to start", base, 2, "expected at least one of node, privacy, compute"),
            (
                "an option the service lacks", base.merging(["node": ["colour": "blue"]]) { $1 }, 2,
                "node: Unknown option '--colour'"
            ),
            (
                "a value of the wrong type", base.merging(["node": ["listen": ["a": 1]]]) { $1 }, 2,
                "node.listen: expected"
            ),
            (
                "a later service's URL", base.merging(["node": ["listen": "${compute}"]]) { $1 }, 2,
                "${compute} names no service started before it"
            ),
        ]
        for (name, config, status, message) in cases {
            let path = dir + "/\(name.replacingOccurrences(of: " ", with: "-")).json"
            try Self.write(config, to: path)
            let r = try DelongProcess.run(["serve", "--config", path])
            #expect(r.status == status && r.stderr.contains(message), "\(name): \(r.status) \(r.stderr)")
        }
        let missing = try DelongProcess.run(["serve", "--config", dir + "/none.json"])
        #expect(missing.status == 3 && missing.stderr.contains("cannot read"), "\(missing.stderr)")
        try Data("{\"version\": 1,".utf8).write(to: URL(fileURLWithPath: dir + "/torn.json"))
        let torn = try DelongProcess.run(["serve", "--config", dir + "/torn.json"])
        #expect(torn.status == 2 && torn.stderr.contains("expected a JSON object"), "\(torn.stderr)")
    }
}
