import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import TestSupport
import Testing

/// `delong privacy serve --collateral FILE | --collateral-url URL` over HTTP. The testdata collateral
/// (nextUpdate July 2025) is expired today, so a TDX key release is the plane's 503 collateral_expired naming
/// what expired; rewriting the file and sending SIGHUP swaps the collateral in without a restart (GET
/// /v1/attestation); a bad file keeps the last good one and is counted in /metrics; SIGHUP never stops the
/// server. From a (fake) PCS the collateral is fetched for the quote's FMSPC and refetched on the timer.
@Suite(.serialized) struct PrivacyCollateralTests {
    let world: PlaneWorld
    let collateral: URL
    let running = Running()
    var plane: ReadyService { running.plane! }

    /// The plane each test starts (with its own collateral options).
    final class Running: @unchecked Sendable { var plane: ReadyService? }

    init() throws {
        world = try PlaneWorld()
        collateral = world.dir.appendingPathComponent("collateral.json")
        try TestData.data("attestation/dcap-qvl/tdx_quote_collateral.json").write(to: collateral)
    }

    var dir: URL { world.dir }
    var demo: [String: Any] { world.demo }
    var chainID: UInt64 { world.chainID }

    /// `privacy serve` with the suite's arguments and `collateralArguments`.
    func start(_ collateralArguments: [String]) throws {
        running.plane = try world.startPlane(["--poll", "0.2", "--max-index-age", "3600"] + collateralArguments)
    }

    func json(_ path: String) async throws -> [String: Any] {
        let r = try await httpGet(plane.url + path)
        #expect(r.status == 200, "\(r.body)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
    }

    func collateralStatus() async throws -> [String: Any] {
        try #require(try await json("/v1/attestation")["collateral"] as? [String: Any])
    }

    func loadedFMSPCs() async throws -> [String] {
        ((try await collateralStatus()["loaded"] as? [[String: Any]]) ?? []).compactMap { $0["fmspc"] as? String }
    }

    /// Sends SIGHUP until `done` holds (repeated in case one is lost), for up to 20 s.
    func hangUp(until done: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<40 {
            plane.signal(SIGHUP)
            for _ in 0..<5 {
                if try await done() { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return false
    }

    /// A value of /metrics (-1 when absent), the whole exposition checked on the way.
    func metric(_ name: String) async throws -> Double {
        try await MetricsScrape.scrape(plane.url).at(name)
    }

    func post(_ path: String, _ body: [String: Any], session: String? = nil) async throws -> (Int, [String: Any]) {
        try await PlaneWorld.call(plane.url, path, body, session: session)
    }

    func signIn(_ key: String) async throws -> String { try await world.signIn(key, at: plane.url) }

    /// A TDX key release with a valid token and the testdata quote: its status and error.
    func releaseTDXQuote() async throws -> (Int, [String: Any]) {
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])
        let image = try #require(demo["imageDigest"] as? String)
        let session = try await signIn(PlaneWorld.consumerKey)
        let (issued, token) = try await post(
            "/v1/tokens",
            [
                "dataset": dataset, "mode": "secure", "imageDigest": image, "jobId": Keccak256.hash(utf8: "c").hex,
                "audience": world.computingOperator,
            ],
            session: session
        )
        #expect(issued == 200, "\(token)")
        let quote = try TestData.data("attestation/dcap-qvl/tdx_quote")
        let (status, refusal) = try await post(
            "/v1/keys/release",
            [
                "token": token, "evidence": Hex.encode(Array(quote)),
                "sandboxKey": Hex.encode(try X25519PrivateKey().publicKey),
                "agentSigner": PlaneWorld.agentSigner.hex,
            ]
        )
        return (status, refusal["error"] as? [String: Any] ?? [:])
    }

    /// Polls for up to 20 s until `done` holds.
    func eventually(_ done: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if try await done() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func expiredCollateralIsA503NamingWhatExpiredAndSIGHUPReloadsTheFile() async throws {
        try start(["--collateral", collateral.path])
        // Loaded at start, expired today.
        let initial = try await collateralStatus()
        let loaded = try #require((initial["loaded"] as? [[String: Any]])?.first)
        #expect(loaded["fmspc"] as? String == "B0C06F000000", "\(initial)")
        #expect(loaded["tcbInfoNextUpdate"] as? String == "2025-07-19T10:16:03Z", "\(initial)")
        #expect(loaded["expired"] as? Bool == true, "\(initial)")
        #expect(initial["refreshes"] as? Int == 0 && initial["refreshFailures"] as? Int == 0, "\(initial)")

        // A TDX key release with a valid token: the plane's fault, 503 collateral_expired, saying what and when.
        let (status, error) = try await releaseTDXQuote()
        #expect(status == 503, "\(error)")
        #expect(error["code"] as? String == "collateral_expired", "\(error)")
        let message = error["message"] as? String ?? ""
        #expect(message.contains("TCB Info (issueDate…nextUpdate) ended 2025-07-19T10:16:03Z"), "\(message)")
        // /metrics: one collateral loaded, valid until a time already past, no reload yet, the refusal counted.
        let atStart = try await MetricsScrape.scrape(plane.url)
        #expect(atStart.at("delong_collateral_loaded") == 1, "\(atStart.samples)")
        let validUntil = atStart.at("delong_collateral_valid_until_timestamp_seconds")
        #expect(validUntil > 1_600_000_000 && validUntil <= 1_752_920_163, "\(validUntil)")  // ≤ 2025-07-19T10:16:03Z
        #expect(atStart.at("delong_collateral_refreshes_total") == 0)
        #expect(atStart.at("delong_collateral_last_refresh_timestamp_seconds").isNaN)
        #expect(atStart.at("delong_key_releases_total", ["kind": "sandbox", "outcome": "collateralExpired"]) == 1)

        // The file rewritten (another platform's collateral), then SIGHUP: swapped in, no restart.
        try TestData.data("attestation/dcap-qvl/tdx_quote_outdated_collateral.json").write(to: collateral)
        #expect(try await hangUp { try await loadedFMSPCs() == ["90C06F000000"] })
        let reloaded = try await collateralStatus()
        #expect((reloaded["refreshes"] as? Int ?? 0) >= 1 && reloaded["lastRefresh"] is String, "\(reloaded)")
        #expect(try await metric("delong_collateral_refreshes_total") == Double(reloaded["refreshes"] as? Int ?? -2))
        #expect(try await metric("delong_collateral_last_refresh_timestamp_seconds") > 1_700_000_000)

        // A bad file: the reload fails, the last good collateral stays, /metrics and /v1/attestation say so.
        try Data("{\"not\": \"collateral\"}".utf8).write(to: collateral)
        #expect(try await hangUp { try await metric("delong_collateral_refresh_failures_total") >= 1 })
        #expect(try await loadedFMSPCs() == ["90C06F000000"])
        let failed = try await collateralStatus()
        let lastFailure = try #require(failed["lastFailure"] as? [String: Any], "\(failed)")
        #expect((lastFailure["reason"] as? String)?.contains("collateral.json") == true, "\(failed)")
        #expect(try await metric("delong_collateral_last_failure_timestamp_seconds") > 1_700_000_000)
        #expect(try await httpGet(plane.url + "/v1/status").status == 200, "still serving after SIGHUPs")
    }

    @Test func fromAPCSTheQuotesPlatformIsFetchedOnFirstSightAndRefetchedOnTheTimer() async throws {
        try TestData.data("attestation/dcap-qvl/tdx_quote_collateral.json").write(to: collateral)
        let log = dir.appendingPathComponent("pcs-requests.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let pcs = try ReadyService(
            "contrib/.venv/bin/python",
            [
                TestData.packageRoot.appendingPathComponent("contrib/devnet/fake_pcs.py").path, collateral.path,
                "platform", log.path,
            ]
        )
        try start(["--collateral-url", pcs.url, "--collateral-refresh", "1"])
        let before = try await collateralStatus()
        #expect(before["source"] as? String == "PCS \(pcs.url)", "\(before)")
        #expect(try await loadedFMSPCs().isEmpty, "nothing is fetched before a quote needs it")

        // The first quote of platform B0C06F makes the plane fetch its collateral (expired today: 503).
        let (status, error) = try await releaseTDXQuote()
        #expect(status == 503 && error["code"] as? String == "collateral_expired", "\(error)")
        #expect(try await loadedFMSPCs() == ["B0C06F000000"])
        let requests = (try String(contentsOf: log, encoding: .utf8)).split(separator: "\n").map(String.init)
        #expect(requests.contains("/tdx/certification/v4/tcb?fmspc=B0C06F000000"), "\(requests)")
        #expect(requests.contains("/sgx/certification/v4/pckcrl?ca=platform&encoding=der"), "\(requests)")

        // The timer refetches it; once the PCS fails, the last good collateral stays and the failure is counted.
        #expect(try await eventually { (try await collateralStatus()["refreshes"] as? Int ?? 0) >= 1 })
        try FileManager.default.removeItem(at: collateral)
        #expect(try await eventually { try await metric("delong_collateral_refresh_failures_total") >= 1 })
        #expect(try await loadedFMSPCs() == ["B0C06F000000"])
        let failed = try await collateralStatus()
        let lastFailure = try #require(failed["lastFailure"] as? [String: Any], "\(failed)")
        #expect((lastFailure["reason"] as? String)?.contains("503") == true, "\(failed)")
    }
}

/// The collateral options are checked before anything starts: one source only, an http(s) PCS URL, and a
/// positive refresh interval.
@Suite struct PrivacyCollateralOptionsTests {
    static let base = [
        "privacy", "serve", "--rpc", "http://127.0.0.1:9", "--contracts", "deployment.json", "--checkpoint",
        "0:0x" + String(repeating: "0", count: 64), "--data-dir", "unused", "--signing-key", "unused",
        "--root-secret", "file:unused", "--domain", "delong.test",
    ]

    @Test(arguments: [
        (["--collateral", "c.json", "--collateral-url", "https://pccs.example"], "found both"),
        (["--collateral-url", "ftp://pccs.example"], "expected an http(s) URL of a PCS or PCCS"),
        (["--collateral-url", "http://pccs.example"], "expected https (plain http only on loopback)"),
        (["--collateral", "c.json", "--collateral-refresh", "0"], "--collateral-refresh: expected a positive number"),
    ])
    func badCollateralOptionsAreRefusedUpFront(options: [String], message: String) throws {
        let result = try DelongProcess.run(Self.base + options)
        #expect(result.status != 0, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}
