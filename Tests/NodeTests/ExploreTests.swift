import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import TestSupport
import Testing

/// Explore Mode end to end on the devnet (docs/explore.md): the provider draws a sample of the sealed table and
/// publishes it (DA store + sampleLocator on chain); the consumer starts a session with the CLI and drives
/// JupyterLab in headless Chromium (contrib/tests/explore_browser.py) over the plane's proxy, with TLS from a
/// test CA the browser trusts like any CA (no certificate error is ignored): a notebook reads the sample with
/// pandas, a socket to the outside fails, the used ticket and another session's cookie are refused, the
/// notebook downloads through the gate, and revoking the rental ends the session.
@Suite(.serialized) struct ExploreTests {
    /// A world whose provider published a sample of its table, and a plane with a certificate from a test CA.
    static func samplePublishedAndPlane() async throws -> (
        w: ComputeWorld, ca: TestCA, plane: ReadyService, planeOptions: [String]
    ) {
        let w = try ComputeWorld()
        // The provider: a desensitized sample of the plaintext table, then published.
        let sample = w.path("sample")
        let drawn = try w.run([
            "dataset", "sample", w.path("plain"), "--policy", w.path("plain/delong-policy.json"), "--out", sample,
            "--rows", "120", "--k", "5", "--seed", "7", "--json",
        ])
        #expect(drawn.json?["k"] != nil, "\(drawn.stdout)")
        let published = try w.run([
            "dataset", "publish-sample", sample, "--dataset", w.dataset, "--da", w.da, "--rpc",
            w.world.devnet.url, "--contracts", w.world.deploymentPath, "--wallet-key", w.path("provider.key"),
            "--json",
        ])
        let locator = try #require(published.json?["sampleLocator"] as? String, "\(published.stderr)")
        #expect(locator.hasPrefix("sample:sha256:"))
        // Only the provider may name its dataset's sample.
        let stranger = try w.run(
            [
                "dataset", "publish-sample", sample, "--dataset", w.dataset, "--da", w.da, "--rpc",
                w.world.devnet.url, "--contracts", w.world.deploymentPath, "--wallet-key", w.path("stranger.key"),
            ],
            allowFailure: true
        )
        #expect(stranger.status == 1 && stranger.stderr.contains("belongs to"), "\(stranger.stderr)")

        // The plane, with a certificate from a test CA.
        let ca = try TestCA(in: w.dir)
        let plane = try w.startCompute(
            "explore",
            ca: ca.certificate,
            [
                "--tls-cert", ca.leafCertificate, "--tls-key", ca.leafKey, "--explore-poll", "1",
                "--explore-idle", "600",
            ]
        )
        let planeOptions = ["--plane", plane.url, "--allow-insecure-plane-evidence"]
        try await w.waitForHead(of: plane)
        return (w, ca, plane, planeOptions)
    }

    @Test func aProviderPublishesASampleAndAConsumerExploresItInHeadlessChromium() async throws {
        let (w, ca, plane, planeOptions) = try await Self.samplePublishedAndPlane()

        let clock = ContinuousClock()
        let startedAt = clock.now
        let started = try w.run(
            ["explore", "start"] + planeOptions + ["--session", w.path("consumer.session"), "--dataset", w.dataset]
        )
        let startTime = clock.now - startedAt
        let url = started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.hasPrefix(plane.url + "/explore/") && url.contains("/_login?ticket="), "\(started.stdout)")
        let second = try w.run(
            ["explore", "start", "--json"] + planeOptions + [
                "--session", w.path("consumer.session"), "--dataset", w.dataset,
            ]
        )
        let other = try #require(second.json?["session"] as? String, "\(second.stdout)")
        #expect(second.json?["control"] == nil, "the control secret stays in the CLI's own file")
        let listed = try w.run(["explore", "list", "--json"]).stdout
        #expect(listed.contains(other) && listed.contains("running"), "\(listed)")

        let report = try BrowserScript.run(
            "contrib/tests/explore_browser.py",
            [
                "--url", url, "--ca", ca.certificate, "--home", w.path("browser-home"), "--table", "admissions.csv",
                "--other", "/explore/\(other)/", "--screenshots", w.dir.path,
            ],
            logs: w.dir.path
        )
        // Session start to a usable Lab: the CLI's start (Jupyter answering in the sandbox) plus the browser's
        // load from the sign-in link to the launcher (the browser's own start left out). Printed, not asserted.
        let load = report["labLoadSeconds"] as? Double ?? .nan
        let start = Double(startTime.components.seconds) + Double(startTime.components.attoseconds) / 1e18
        print(
            String(
                format: "explore: session start %.2f s + Lab load %.2f s = %.2f s to a usable Lab",
                start,
                load,
                start + load
            )
        )
        print("explore: the Lab's resources: \(report["labResources"] ?? "none")")
        let session = try #require(URL(string: url)?.pathComponents.dropFirst(2).first)
        #expect(report["landed"] as? String == "/explore/\(session)/lab", "\(report)")
        let cookie = try #require(report["cookie"] as? [String: Any], "\(report)")
        #expect(cookie["httpOnly"] as? Bool == true && cookie["secure"] as? Bool == true)
        #expect(cookie["sameSite"] as? String == "Strict" && cookie["path"] as? String == "/explore/\(session)/")
        let pandas = report["pandas"] as? String ?? ""
        #expect(pandas.contains("FILES ['admissions.csv', 'report.json']"), "\(pandas)")
        #expect(pandas.contains("COLUMNS ['id', 'age', 'admitted']") || pandas.contains("'age'"), "\(pandas)")
        let network = report["network"] as? String ?? ""
        #expect(network.contains("NET-BLOCKED") && !network.contains("NET-OPEN"), "\(network)")
        #expect(network.contains("[(1, 'lo')]") && !network.contains("UID 0"), "\(network)")
        #expect((report["ticketReplay"] as? [Any])?.first as? Int == 403, "\(report["ticketReplay"] ?? "")")
        #expect((report["otherSession"] as? [Any])?.first as? Int == 403, "\(report["otherSession"] ?? "")")

        // The notebook leaves through the gate's identifier and canary checks against the sample.
        #expect(report["saved"] as? Bool == true, "the notebook was saved: \(report)")
        let notebook = try #require(report["notebook"] as? String).trimmingCharacters(in: .whitespaces)
        let saved = w.path("analysis.ipynb")
        try w.run([
            "explore", "notebook", session, notebook.hasSuffix(".ipynb") ? notebook : notebook + ".ipynb", "-o", saved,
        ])
        #expect(try String(contentsOfFile: saved, encoding: .utf8).contains("pd.read_csv"))

        // Stopping a session ends it at once; then a token opens one session, once.
        let stopped = try w.run(["explore", "stop", other]).stdout
        #expect(stopped.contains("ended (stopped)"), "\(stopped)")
        let exploreToken = try #require(try await w.jobBody(for: plane, image: "", explore: true).body["token"])
        #expect(try await PlaneWorld.call(plane.url, "/v1/explore", ["token": exploreToken]).0 == 201)
        let spent = try await PlaneWorld.call(plane.url, "/v1/explore", ["token": exploreToken])
        #expect(spent.0 == 409 || spent.0 == 429, "\(spent)")
        let image = try await w.publish(try w.bundle("noop", "print(1)\n"))
        let secureToken = try #require(try await w.jobBody(for: plane, image: image).body["token"])
        let secure = try await PlaneWorld.call(plane.url, "/v1/explore", ["token": secureToken])
        #expect(secure.0 == 403 && "\(secure.1)".contains("explore token"), "\(secure)")
        let otherOperator = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"  // dev account 7
        try w.call(as: "governance", "AlgorithmRegistry", "setOperator", [otherOperator, "true"])
        _ = try await w.world.devnet.call("anvil_mine", params: "[\"0x2\"]")
        try await w.waitForHead(of: w.privacy)
        let elsewhereToken = try #require(
            try await w.jobBody(for: plane, image: "", explore: true, audience: otherOperator).body["token"]
        )
        let elsewhere = try await PlaneWorld.call(plane.url, "/v1/explore", ["token": elsewhereToken])
        #expect(elsewhere.0 == 403 && "\(elsewhere.1)".contains("not this one"), "\(elsewhere)")

        // The provider revokes the rental: every session ends within a poll, and the cookie opens nothing.
        let consumer = try Secp256k1.shared.address(privateKey: try Hex.decode(PlaneWorld.consumerKey))
        try w.call(as: "demoProviders:0", "DataMarket", "revokeRental", [w.dataset, consumer.checksummed])
        let revokedAt = Date()
        var mine: [String: Any] = [:]
        while Date().timeIntervalSince(revokedAt) < 60 {
            let rows = try #require(try w.run(["explore", "list", "--json"]).jsonArray)
            mine = rows.first { $0["session"] as? String == session } ?? [:]
            if rows.allSatisfy({ $0["state"] as? String == "ended" }) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(mine["state"] as? String == "ended" && mine["reason"] as? String == "rentalRevoked", "\(mine)")
        // A poll is 1 s; the plane's index must see the block first (0.3 s polls), and a loaded host is slower.
        #expect(Date().timeIntervalSince(revokedAt) < 30, "ended within a poll of the revocation")
        let after = try await httpRequest(
            plane.url + "/explore/\(session)/api/contents",
            method: "GET",
            headers: [("Cookie", "dl_explore=\(cookie["value"] as? String ?? "")")]
        )
        #expect(after.status == 404, "\(after)")
    }

    /// Session start to a usable Lab, as a consumer sees it: `explore start` (the plane starts JupyterLab in
    /// the sandbox and answers once Jupyter does) plus the browser's load from the sign-in link to the
    /// launcher, the browser's own start left out. `DELONG_EXPLORE_LAB_STARTS` sessions (default 2), one after
    /// another; the times are printed with p50 and p95 (the bar is 5 s at p95; a benchmark, not asserted).
    @Test func sessionStartToAUsableLab() async throws {
        let runs = Int(ProcessInfo.processInfo.environment["DELONG_EXPLORE_LAB_STARTS"] ?? "") ?? 2
        let (w, ca, plane, planeOptions) = try await Self.samplePublishedAndPlane()
        defer { withExtendedLifetime(plane) {} }  // the plane lives as long as its service handle
        let clock = ContinuousClock()
        var times: [(start: Double, load: Double)] = []
        for run in 0..<runs {
            let began = clock.now
            let url = try w.run(
                ["explore", "start"] + planeOptions + ["--session", w.path("consumer.session"), "--dataset", w.dataset]
            ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let start = clock.now - began
            #expect(url.hasPrefix("https://") && url.contains("/_login?ticket="), "\(url)")
            let report = try BrowserScript.run(
                "contrib/tests/explore_browser.py",
                ["--url", url, "--ca", ca.certificate, "--home", w.path("browser-home-\(run)"), "--launcher-only"],
                logs: w.dir.path
            )
            let load = try #require(report["labLoadSeconds"] as? Double, "\(report)")
            times.append((Double(start.components.seconds) + Double(start.components.attoseconds) / 1e18, load))
            let session = try #require(URL(string: url)?.pathComponents.dropFirst(2).first)
            #expect(report["landed"] as? String == "/explore/\(session)/lab", "\(report)")
            #expect(try w.run(["explore", "stop", session]).stdout.contains("ended (stopped)"))
        }
        let totals = times.map { $0.start + $0.load }.sorted()
        let p95 = totals[min(totals.count - 1, Int((Double(totals.count) * 0.95).rounded(.up)) - 1)]
        print(
            "explore session start to a usable Lab over \(runs) sessions (start + load): "
                + times.map { String(format: "%.2f+%.2f", $0.start, $0.load) }.joined(separator: " ")
                + String(format: " s; p50 %.2f s, p95 %.2f s", totals[totals.count / 2], p95)
        )
        #expect(times.count == runs)
    }

    /// A plane stopped (SIGTERM) while a session runs ends it: no Lab, home mount or cgroup outlives the plane.
    @Test func aStoppedPlaneLeavesNoSessionBehind() async throws {
        let w = try ComputeWorld()
        let sample = w.path("sample")
        try w.run([
            "dataset", "sample", w.path("plain"), "--policy", w.path("plain/delong-policy.json"), "--out", sample,
            "--rows", "120", "--k", "5", "--seed", "7",
        ])
        try w.run([
            "dataset", "publish-sample", sample, "--dataset", w.dataset, "--da", w.da, "--rpc", w.world.devnet.url,
            "--contracts", w.world.deploymentPath, "--wallet-key", w.path("provider.key"),
        ])
        let plane = try w.startCompute("stopping")
        try await w.waitForHead(of: plane)
        // What the plane names its sessions on the host (ComputeServeCommand.planeTag of its state directory).
        let stateDir = URL(fileURLWithPath: w.path("stopping-state")).standardizedFileURL.path
        let tag = Hex.encode(Array(Digest.sha256(Array(stateDir.utf8)).prefix(8)), prefix: false)
        func mounts() throws -> [String] {
            try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8).split(separator: "\n")
                .map { String($0.split(separator: " ")[1]) }.filter { $0.hasPrefix("/run/delong/explore/\(tag)/") }
        }
        func cgroups() -> [String] {  // cgroup v2, or v1's memory controller
            ["/sys/fs/cgroup/delong", "/sys/fs/cgroup/memory/delong"].flatMap {
                ((try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? []).filter {
                    $0.hasPrefix("\(tag)-explore-")
                }
            }
        }
        try w.run([
            "explore", "start", "--plane", plane.url, "--allow-insecure-plane-evidence", "--session",
            w.path("consumer.session"), "--dataset", w.dataset,
        ])
        let mounted = try mounts()
        #expect(mounted.count == 1, "the session's home is mounted: \(mounted)")
        #expect(cgroups().count == 1, "the session has its cgroup: \(cgroups())")

        #expect(plane.terminate(within: 60) == 0, "the plane stopped on SIGTERM")
        let left = try mounts()
        #expect(left.isEmpty, "left mounted: \(left)")
        #expect(cgroups().isEmpty, "left cgroups: \(cgroups())")
        #expect(!FileManager.default.fileExists(atPath: "/run/delong/explore/\(tag)"), "its state directory is removed")
    }
}
