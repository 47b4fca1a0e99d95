import ChainCore
import Foundation
import PlaneCrypto
import TestSupport
import Testing

/// The review web page end to end (docs/review-ui.md): `delong` copied alone into an empty folder serves it
/// (nothing comes from Bundle.module), two real jobs wait for review on the devnet, and a reviewer drives
/// the page in headless Chromium (contrib/tests/review_ui_browser.py, selenium and Debian's chromium) with
/// an injected EIP-1193 wallet that signs with the provider's test key: signs in with SIWE, sees the flagged
/// outputs with their findings, approves one and rejects the other with a reason, and the page shows the
/// signed decisions in the decision log. A browser without the session and a request without the CSRF
/// token are refused; the outputs' HTML, SVG and script payloads never run.
@Suite(.serialized) struct ReviewUITests {
    /// Writes outputs the gate flags (an email address, a small count) with payloads that would run if the
    /// page ever rendered output as markup.
    static let hostileOutputs = #"""
        import csv
        rows = list(csv.DictReader(open("/data/admissions.csv")))
        with open("/out/table.csv", "w") as f:
            f.write("ward,count,contact\n")
            f.write("north,3,ann.smith@example.org\n")
            f.write("south,%d,\"<img src=x onerror=\"\"window.pwned='cell'\"\">\"\n" % len(rows))
        open("/out/page.html", "w").write(
            "<html><body><script>window.pwned2='script'</script>"
            "<img src=x onerror=\"window.pwned2='img'\"><p>contact bob.jones@example.org</p></body></html>\n")
        open("/out/drawing.svg", "w").write(
            "<svg xmlns='http://www.w3.org/2000/svg' onload=\"window.pwned3='svg'\">"
            "<script>window.pwned4='svg-script'</script><text>carol@example.org</text></svg>\n")
        open("/out/<img src=x onerror=\"window.pwned5=1\">.txt", "w").write("line one\nwrite to dave@example.org\n")
        """#

    /// The provider's gate policy for the admissions table (no identifier columns: the outputs' small
    /// numbers must not read as leaked ids, so the case goes to review, not to a block).
    static let policy = """
        {"version": 1, "tables": {"admissions.csv": {"entity": "id",
          "columns": {"id": "other", "age": "other", "admitted": "date"}}}}
        """

    @Test func aReviewerSignsInSeesFindingsAndSignsDecisionsInHeadlessChromium() async throws {
        let w = try ComputeWorld()
        try w.resealWithPolicy(Self.policy)
        // `delong` alone in an empty folder: the page is compiled in.
        let alone = w.dir.appendingPathComponent("alone")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        let binary = alone.appendingPathComponent("delong")
        try FileManager.default.copyItem(at: try DelongProcess.executable, to: binary)
        #expect(try FileManager.default.contentsOfDirectory(atPath: alone.path) == ["delong"])
        let port = try ContribTool.python(
            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        // TLS from a test CA the browser trusts like any CA (no certificate error is ignored).
        let ca = try TestCA(in: w.dir)
        let plane = try w.startCompute(
            executable: binary.path,
            listen: "127.0.0.1:\(port)",
            ca: ca.certificate,
            ["--max-concurrent", "2", "--tls-cert", ca.leafCertificate, "--tls-key", ca.leafKey]
        )
        let page = try await httpGet(plane.url + "/review/")
        #expect(page.status == 200 && page.body.contains("<script src=\"/review/app.js\""), "\(page)")
        let script = try await httpGet(plane.url + "/review/app.js")
        #expect(script.status == 200 && script.body.contains("eth_signTypedData_v4"), "\(script.status)")
        let style = try await httpGet(plane.url + "/review/app.css")
        #expect(style.status == 200, "\(style.status)")

        // Two jobs whose outputs wait for review.
        let bundle = try w.bundle("hostile", Self.hostileOutputs)
        try await w.publish(bundle)
        let approved = try w.submit(to: plane, bundle: bundle)
        let rejected = try w.submit(to: plane, bundle: bundle)
        for job in [approved, rejected] {
            let status = try w.waitForPhase(job, "inReview")
            try #require(status["phase"] as? String == "inReview", "\(status)")
        }
        // The terminal sees the same queue.
        let listed = try w.run([
            "review", "list", "--plane", plane.url, "--allow-insecure-plane-evidence", "--json",
        ])
        let queue = try #require(listed.json?["reviews"] as? [[String: Any]], "\(listed.stdout)")
        #expect(Set(queue.compactMap { $0["job"] as? String }) == [approved, rejected])
        let text = try w.run(["review", "list", "--plane", plane.url, "--allow-insecure-plane-evidence"]).stdout
        #expect(text.contains(approved) && text.contains("approvals 0/2"), "\(text)")

        let report = try BrowserScript.run(
            "contrib/tests/review_ui_browser.py",
            [
                "--url", plane.url, "--ca", ca.certificate, "--home", w.path("browser-home"), "--key",
                w.path("provider.key"), "--approve", approved, "--reject", rejected, "--screenshots", w.dir.path,
            ],
            logs: w.dir.path
        )
        let provider = try Secp256k1.shared.address(privateKey: try Hex.decode(PlaneWorld.providerKey)).checksummed

        // Signed in with the wallet, as the provider; the queue lists both cases.
        #expect(report["signedIn"] as? String == "Signed in as \(provider)", "\(report["signInStatus"] ?? "")")
        let shown = (report["queue"] as? [[String: Any]] ?? []).compactMap { $0["job"] as? String }
        #expect(Set(shown) == [approved, rejected])
        let requests = report["walletRequests"] as? [String] ?? []
        #expect(requests.contains("personal_sign") && requests.contains("eth_signTypedData_v4"), "\(requests)")

        // The case shows each file with its findings and the flagged places marked, as text.
        let opened = try #require(report["approveCase"] as? [String: Any])
        let files = opened["files"] as? [[String: Any]] ?? []
        let paths = files.compactMap { $0["path"] as? String }
        #expect(paths.contains("out/<img src=x onerror=\"window.pwned5=1\">.txt"), "\(paths)")
        let table = try #require(files.first { $0["path"] as? String == "out/table.csv" }, "\(paths)")
        let findings = table["findings"] as? [[String]] ?? []
        #expect(!findings.isEmpty, "table.csv shows its findings")
        #expect(
            (table["flaggedCells"] as? [String] ?? []).contains("ann.smith@example.org"),
            "the flagged cell is marked: \(findings) \(table["flaggedCells"] ?? "")"
        )
        let html = try #require(files.first { $0["path"] as? String == "out/page.html" })
        #expect((html["lines"] as? [String] ?? []).contains { $0.contains("<script>window.pwned2") })
        #expect(opened["inlineScripts"] as? Int == 0 && opened["images"] as? Int == 0, "\(opened)")
        #expect(opened["iframes"] as? Int == 0)

        // Approve and reject, each signed; the page shows the signed decision in the job's log.
        let approval = try #require(report["approve"] as? [String: Any])
        #expect((approval["result"] as? String ?? "").hasPrefix("Approved by \(provider)"), "\(approval)")
        let approvalLog = approval["log"] as? [[String: String]] ?? []
        #expect(
            approvalLog.contains {
                $0["kind"] == "review" && $0["text"]!.contains(provider) && $0["text"]!.contains("approved")
                    && $0["text"]!.contains("signature 0x")
            },
            "\(approvalLog)"
        )
        let rejection = try #require(report["reject"] as? [String: Any])
        #expect((rejection["result"] as? String ?? "").contains("rejected"), "\(rejection)")
        let rejectionLog = rejection["log"] as? [[String: String]] ?? []
        #expect(rejectionLog.contains { $0["kind"] == "review" && $0["text"]!.contains("not releasable") })
        #expect(rejectionLog.contains { $0["kind"] == "outcome" && $0["text"]!.contains("rejected") })
        #expect(try w.waitForEnd(rejected, on: plane)["outcome"] as? String == "reviewRejected")
        let stillWaiting = try w.status(approved, on: plane)
        #expect(stillWaiting["phase"] as? String == "inReview", "one of two approvals: \(stillWaiting)")

        // Refusals: no CSRF token (403) even with a valid signature, no session (401), signed out (401).
        #expect((report["forgedNoCSRF"] as? [Any])?.first as? Int == 403, "\(report["forgedNoCSRF"] ?? "")")
        #expect((report["forgedBadCSRF"] as? [Any])?.first as? Int == 403, "\(report["forgedBadCSRF"] ?? "")")
        #expect((report["otherQueue"] as? [Any])?.first as? Int == 401)
        #expect((report["otherCase"] as? [Any])?.first as? Int == 401)
        #expect((report["otherDecision"] as? [Any])?.first as? Int == 401)
        #expect(report["signOut"] as? Int == 401)

        // Nothing from the outputs ran.
        for key in ["pwnedAfterOpen", "pwnedAtEnd"] {
            let set = (report[key] as? [Any] ?? []).filter { !($0 is NSNull) }
            #expect(set.isEmpty, "\(key): \(set)")
        }

        // Every UI answer carries the strict headers; the cookie is HttpOnly, Secure, SameSite=Strict.
        let headers = try #require(report["headers"] as? [String: [String: Any]])
        #expect(headers.count >= 8)
        for (path, seen) in headers {
            #expect((seen["csp"] as? String ?? "").hasPrefix("default-src 'none'; script-src 'self'"), "\(path)")
            #expect(seen["nosniff"] as? String == "nosniff", "\(path)")
            #expect(seen["referrer"] as? String == "no-referrer", "\(path)")
            #expect(seen["cache"] as? String == "no-store", "\(path)")
        }
        let cookie = try #require(report["cookie"] as? [String: Any])
        #expect(cookie["httpOnly"] as? Bool == true && cookie["secure"] as? Bool == true)
        #expect(cookie["sameSite"] as? String == "Strict" && cookie["path"] as? String == "/review")
    }
}

extension ComputeWorld {
    /// Seals the admissions table again with the provider's gate `policy` inside, and records the new
    /// manifest digest on chain (as `init` does without a policy).
    func resealWithPolicy(_ policy: String) throws {
        let plain = dir.appendingPathComponent("plain")
        try policy.write(to: plain.appendingPathComponent("delong-policy.json"), atomically: true, encoding: .utf8)
        let sealed = datasets + "/" + String(dataset.dropFirst(2))
        try FileManager.default.removeItem(atPath: sealed)
        try run(["dataset", "seal", plain.path, sealed, "--dataset-id", dataset, "--key-file", path("provider.dek")])
        let manifest = try Data(contentsOf: URL(fileURLWithPath: sealed + "/manifest.dlsealed"))
        try call(
            as: "demoProviders:0",
            "DataMarket",
            "updateDataset",
            [dataset, Hex.encode(Digest.sha256([UInt8](manifest))), "1000000000", "s", "m"]
        )
    }
}
