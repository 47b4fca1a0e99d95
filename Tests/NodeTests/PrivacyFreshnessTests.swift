import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import TestSupport
import Testing

/// A proxy in front of the devnet that stalls every request while a flag file exists (an endpoint that
/// stopped answering), and forwards them again once it is gone.
final class FreezableProxy: @unchecked Sendable {
    let service: ReadyService
    let flag: URL
    var url: String { service.url }

    static let script = """
        import os, sys, time, signal, urllib.request
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        UPSTREAM, FLAG = sys.argv[1], sys.argv[2]
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                while os.path.exists(FLAG):
                    time.sleep(0.05)
                try:
                    request = urllib.request.Request(UPSTREAM, data=body, headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(request, timeout=30) as r:
                        out = r.read()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except Exception:
                    pass
            def log_message(self, fmt, *args):
                pass
        class Server(ThreadingHTTPServer):
            daemon_threads = True
        server = Server(("127.0.0.1", 0), Handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever(poll_interval=0.2)
        """

    init(upstream: String, flag: URL) throws {
        self.flag = flag
        service = try ReadyService("contrib/.venv/bin/python", ["-c", Self.script, upstream, flag.path])
    }

    func freeze() { _ = FileManager.default.createFile(atPath: flag.path, contents: Data()) }
    func thaw() { try? FileManager.default.removeItem(at: flag) }
}

/// H2 over HTTP: `privacy serve` behind an endpoint that freezes turns key releases and tokens into
/// 503 index_stale within its bound, says why in /v1/status and /metrics, and serves again once the
/// endpoint answers.
@Suite(.serialized) struct PrivacyFreshnessTests {
    static let maxAge = 10.0

    let world: PlaneWorld
    let proxy: FreezableProxy
    let plane: ReadyService

    init() throws {
        world = try PlaneWorld()
        proxy = try FreezableProxy(upstream: world.devnet.url, flag: world.dir.appendingPathComponent("frozen"))
        plane = try world.startPlane(
            [
                "--timeout", "1", "--poll", "0.3", "--max-index-age", "\(Int(Self.maxAge))",
                "--allow-insecure-development-evidence",
            ],
            rpc: proxy.url + "/v3/SECRETKEY?apikey=SECRETKEY"
        )
    }

    var devnet: Devnet { world.devnet }
    var deployment: [String: Any] { world.deployment }
    var demo: [String: Any] { world.demo }
    var chainID: UInt64 { world.chainID }

    func post(_ path: String, _ body: [String: Any], session: String? = nil) async throws -> (Int, [String: Any]) {
        try await PlaneWorld.call(plane.url, path, body, session: session)
    }

    func signIn(_ key: String) async throws -> String { try await world.signIn(key, at: plane.url) }

    /// A key-release request for a fresh secure token, with development evidence of the demo's runner.
    func releaseRequest(session: String) async throws -> [String: Any] {
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])
        let image = try #require(demo["imageDigest"] as? String)
        // On a loaded machine the devnet's blocks can fall behind the bound for a while (CI once saw more than a
        // minute beside the gate's OCR corpus, and more than three with the Explore suites starting JupyterLab
        // alongside, each RPC call then outlasting the 1 s timeout): wait until fresh.
        var (status, token) = (0, [String: Any]())
        _ = try await within(420) {
            (status, token) = try await post(
                "/v1/tokens",
                [
                    "dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": Keccak256.hash(utf8: "j").hex,
                    "audience": world.computingOperator,
                ],
                session: session
            )
            return status == 200
        }
        #expect(status == 200, "\(token)")
        let signed = try SignedAccessToken(json: token)
        let sandbox = try X25519PrivateKey()
        let registry = (deployment["AlgorithmRegistry"] as? [String: Any])?["address"] as? String ?? ""
        let reportData = KeyWrap.reportData(
            recipientKey: sandbox.publicKey,
            agentSigner: PlaneWorld.agentSigner,
            tokenHash: try signed.token.signingHash(
                TokenDomain(chainID: chainID, verifyingContract: try Address(hex: registry))
            ),
            imageDigest: signed.token.imageDigest
        )
        let m = try Hex.decode(
            try ContribTool.python(
                "import hashlib; s=lambda t: hashlib.sha256(t.encode()).digest()[:24]*2; print((s('demo MRTD')+s('demo RTMR0')+s('demo RTMR1')+s('demo RTMR2')).hex())"
            ).trimmingCharacters(in: .whitespacesAndNewlines)
        )
        let hex = { (r: Range<Int>) in Hex.encode(Array(m[r]), prefix: false) }
        let evidence =
            "{\"type\":\"delong-dev-insecure-v1\",\"mrTd\":\"\(hex(0..<48))\",\"rtmr\":[\"\(hex(48..<96))\",\"\(hex(96..<144))\",\"\(hex(144..<192))\",\"\(String(repeating: "00", count: 48))\"],\"reportData\":\"\(Hex.encode(reportData, prefix: false))\"}"
        return [
            "token": token, "evidence": Hex.encode(Array(evidence.utf8)), "sandboxKey": Hex.encode(sandbox.publicKey),
            "agentSigner": PlaneWorld.agentSigner.hex,
        ]
    }

    static func code(_ body: [String: Any]) -> String? { (body["error"] as? [String: Any])?["code"] as? String }

    /// Polls `body` every quarter second until it returns true or `seconds` pass; returns the time it took.
    func within(_ seconds: Double, _ body: () async throws -> Bool) async throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try await body() { return Date().timeIntervalSince(start) }
            try await Task.sleep(for: .milliseconds(250))
        }
        return nil
    }

    @Test func aFrozenEndpointTurnsReleasesTo503WithinTheBoundAndTheyRecover() async throws {
        // The chain goes on making blocks, as a real one does (a block a little over every second).
        let devnet = self.devnet
        let miner = Task {
            while !Task.isCancelled {
                _ = try? await devnet.call("evm_mine")
                try? await Task.sleep(for: .milliseconds(1200))
            }
        }
        defer { miner.cancel() }
        let consumer = try await signIn(PlaneWorld.consumerKey)
        let provider = try await signIn(PlaneWorld.providerKey)
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])
        let first = try await releaseRequest(session: consumer)
        let second = try await releaseRequest(session: consumer)
        var (fresh, body) = (0, [String: Any]())
        // Fresh first: with every suite running at once, the devnet and the plane's sync can fall 30 s behind
        // for a while (a CI rehearsal saw it); the bound under test starts only once the plane is fresh.
        _ = try await within(180) {
            (fresh, body) = try await post("/v1/keys/release", first)
            return fresh == 200
        }
        #expect(fresh == 200, "\(body)")

        proxy.freeze()
        // Probe with explore tokens (they change nothing) until the plane refuses; a release probe would use
        // its token while the index is still fresh.
        var refusal: [String: Any] = [:]
        // A loaded 2-core machine running the whole suite can starve this test and the plane alike for many
        // seconds (35 s seen): the time the probes themselves were stalled beyond a normal round trip is not the
        // plane's lateness, so it is taken out of the elapsed time that the bound is checked against.
        var stalled = 0.0
        let took = try await within(60) {
            let sent = Date()
            let (status, body) = try await post(
                "/v1/tokens",
                ["dataset": dataset, "mode": "explore", "audience": world.computingOperator],
                session: consumer
            )
            stalled += max(0, Date().timeIntervalSince(sent) - 0.5)
            refusal = body
            return status == 503
        }
        let elapsed = try #require(took, "tokens never turned to 503: \(refusal)")
        #expect(Self.code(refusal) == "index_stale", "\(refusal)")
        // The bound, plus one poll and one request timeout for the pass in flight, plus slack for load.
        #expect(elapsed - stalled <= Self.maxAge + 0.3 + 1 + 8, "503 after \(elapsed) s (\(stalled) s of it stalled)")

        // While frozen: key releases and provider keys are refused the same way; status and metrics say why.
        let (release, r) = try await post("/v1/keys/release", second)
        #expect(release == 503 && Self.code(r) == "index_stale", "\(r)")
        let (providerKey, p) = try await post(
            "/v1/keys/provider",
            ["dataset": dataset, "recipientKey": Hex.encode(try X25519PrivateKey().publicKey)],
            session: provider
        )
        #expect(providerKey == 503 && Self.code(p) == "index_stale", "\(p)")
        // On a loaded machine the 503 can come first from the head's age (the miner starved), before the frozen
        // pass has failed: wait until the status shows the frozen endpoint, then check what it says.
        var status: [String: Any] = [:]
        _ = try await within(40) {
            let text = try await httpGet(plane.url + "/v1/status").body
            status = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
            let f = status["freshness"] as? [String: Any] ?? [:]
            return (f["consecutiveFailures"] as? Int ?? 0) >= 1
                && (f["lastGoodSyncSecondsAgo"] as? Int ?? 0) >= Int(Self.maxAge) - 1
        }
        let freshness = try #require(status["freshness"] as? [String: Any], "\(status)")
        #expect((freshness["lastGoodSyncSecondsAgo"] as? Int ?? 0) >= Int(Self.maxAge) - 1, "\(freshness)")
        // (The demo's deploy makes blocks faster than one a second, so the devnet's head time runs ahead of the
        // wall clock and its age may read 0 here; its refusal is pinned by the unit tests.)
        #expect(freshness["headAgeSeconds"] is Int, "\(freshness)")
        #expect((freshness["consecutiveFailures"] as? Int ?? 0) >= 1, "\(freshness)")
        #expect((freshness["lastFailure"] as? [String: Any])?["message"] is String, "\(freshness)")
        #expect((status["failures"] as? Int ?? 0) >= 1)
        // L2: the endpoint's path and query (an API key, often) never leave the process.
        let statusText = try await httpGet(plane.url + "/v1/status").body
        #expect(!statusText.contains("SECRETKEY") && statusText.contains("127.0.0.1"), "\(statusText)")
        let releases = (status["privacyPlane"] as? [String: Any])?["releases"] as? [String: Any]
        #expect(releases?["serving"] as? Bool == false && releases?["code"] as? String == "index_stale", "\(status)")
        let metrics = try await MetricsScrape.scrape(plane.url)
        #expect(metrics.at("delong_sync_last_success_age_seconds") >= Self.maxAge - 1, "\(metrics.samples)")
        #expect(metrics.at("delong_sync_consecutive_failures") >= 1)
        #expect(metrics.at("delong_sync_failures_total") >= 1)
        #expect(metrics.at("delong_sync_last_failure_timestamp_seconds") > 1_700_000_000)
        #expect(metrics.value("delong_index_head_age_seconds") != nil)
        // Both refusals above are counted by their code.
        #expect(metrics.at("delong_key_releases_total", ["kind": "sandbox", "outcome": "indexStale"]) >= 1)
        #expect(metrics.at("delong_key_releases_total", ["kind": "provider", "outcome": "indexStale"]) >= 1)

        // The endpoint answers again: the next good pass makes the plane serve the refused request.
        proxy.thaw()
        var last: (Int, [String: Any]) = (0, [:])
        let recovered = try await within(60) {
            last = try await post("/v1/keys/release", second)
            return last.0 == 200
        }
        #expect(recovered != nil, "never recovered: \(last)")
        // The miner may be starved on a loaded machine, so the head can age past the bound again for a while.
        var after: [String: Any] = [:]
        _ = try await within(30) {
            after =
                (try? JSONSerialization.jsonObject(with: Data(try await httpGet(plane.url + "/v1/status").body.utf8))
                    as? [String: Any]) ?? [:]
            return ((after["privacyPlane"] as? [String: Any])?["releases"] as? [String: Any])?["serving"] as? Bool
                == true
        }
        #expect(
            ((after["privacyPlane"] as? [String: Any])?["releases"] as? [String: Any])?["serving"] as? Bool == true,
            "\(after)"
        )
    }
}
