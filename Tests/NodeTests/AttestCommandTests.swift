import Foundation
import TestSupport
import Testing

/// `delong attest verify`, run as a process: JSON output and exit codes 0/1/2/3.
@Suite struct AttestCommandTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func path(_ fixture: String) throws -> String { try TestData.url("attestation/" + fixture).path }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func verify(
        _ quote: String,
        _ collateral: String,
        at: String,
        _ extra: [String] = []
    ) throws -> DelongProcess.Result {
        try DelongProcess.run(["attest", "verify", "--quote", quote, "--collateral", collateral, "--at", at] + extra)
    }

    @Test func anUpToDateQuoteExitsZeroWithItsFields() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try verify(
            try path("dcap-qvl/tdx_quote"),
            try path("dcap-qvl/tdx_quote_collateral.json"),
            at: "2025-07-04T10:16:31Z"
        )
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let json = try #require(r.json)
        #expect(json["verified"] as? Bool == true)
        #expect(json["status"] as? String == "UpToDate")
        #expect((json["advisoryIds"] as? [Any])?.isEmpty == true)
        #expect(json["fmspc"] as? String == "b0c06f000000")
        #expect(json["quoteVersion"] as? Int == 4)
        #expect((json["mrTd"] as? String)?.hasPrefix("91eb2b44d141d4ec") == true)
        #expect((json["rtmr0"] as? String)?.hasPrefix("44c0197b39157fdd") == true)
        #expect(json["tdAttributes"] as? String == "0000001000000000")
        #expect((json["reportData"] as? String)?.count == 128)
    }

    @Test func theDstackQuoteWithItsEventLogReplaysEveryRTMR() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixture = try path("dstack/verifier_quote-report.json")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture))) as? [String: Any]
        )
        let hex = try #require(object["quote"] as? String)
        let quote = try write(Array(("0x" + hex + "\n").utf8), "quote.hex")
        let r = try verify(
            quote,
            try path("dcap-qvl/tdx_quote_outdated_collateral.json"),
            at: "2026-03-01T00:00:00Z",
            ["--event-log", fixture]
        )
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let log = try #require(r.json?["eventLog"] as? [String: Any])
        #expect(log["matches"] as? Bool == true)
        #expect(log["events"] as? Int == 28)
        for i in 0..<4 {
            #expect((log["rtmr\(i)"] as? [String: Any])?["match"] as? Bool == true)
        }
    }

    @Test func rejectionsExitOneWithCodeAndReason() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let collateral = try path("dcap-qvl/tdx_quote_collateral.json")
        let tappd = try verify(try path("dcap-qvl/quote-from-tappd.hex"), collateral, at: "2025-07-04T10:16:31Z")
        #expect(tappd.status == 1, "\(tappd.stdout)\(tappd.stderr)")
        #expect(tappd.json?["verified"] as? Bool == false)
        #expect(tappd.json?["code"] as? String == "no-matching-tcb-level")
        #expect((tappd.json?["reason"] as? String)?.contains("No matching TCB level found") == true)

        var quote = Array(try Data(contentsOf: URL(fileURLWithPath: try path("dcap-qvl/tdx_quote"))))
        quote[200] ^= 1
        let flipped = try verify(try write(quote, "flipped.bin"), collateral, at: "2025-07-04T10:16:31Z")
        #expect(flipped.status == 1)
        #expect(flipped.json?["code"] as? String == "quote-signature-invalid")

        let late = try verify(try path("dcap-qvl/tdx_quote"), collateral, at: "2025-08-01T00:00:00Z")
        #expect(late.status == 1)
        #expect(late.json?["code"] as? String == "outside-validity-window")

        // A valid quote with someone else's event log: verified quote, but the replay does not match.
        let log = try verify(
            try path("dcap-qvl/tdx_quote"),
            collateral,
            at: "2025-07-04T10:16:31Z",
            ["--event-log", try path("go-tdx-guest/ccel_ccel_data.dat")]
        )
        #expect(log.status == 1)
        #expect((log.json?["eventLog"] as? [String: Any])?["matches"] as? Bool == false)
    }

    @Test func malformedInputsExitTwo() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let collateral = try path("dcap-qvl/tdx_quote_collateral.json")
        let quote = try path("dcap-qvl/tdx_quote")
        let garbage = try verify(
            try write(Array("not a quote".utf8), "garbage.txt"),
            collateral,
            at: "2025-07-04T10:16:31Z"
        )
        #expect(garbage.status == 2, "\(garbage.stdout)\(garbage.stderr)")
        #expect(garbage.json?["code"] as? String == "malformed-quote")
        let truncated = Array(try Data(contentsOf: URL(fileURLWithPath: quote)).prefix(700))
        #expect(try verify(try write(truncated, "short.bin"), collateral, at: "2025-07-04T10:16:31Z").status == 2)
        let badCollateral = try verify(quote, try write(Array("{}".utf8), "c.json"), at: "2025-07-04T10:16:31Z")
        #expect(badCollateral.status == 2)
        #expect(badCollateral.json?["code"] as? String == "malformed-collateral")
        #expect(try verify(quote, collateral, at: "yesterday").status == 2)
        #expect(try verify(quote, collateral, at: "2025-07-04T10:16:31Z", ["--allow-status", "Revoked"]).status == 2)
        let sgx = try verify(
            try path("dcap-qvl/sgx_quote"),
            try path("dcap-qvl/sgx_quote_collateral.json"),
            at: "2025-07-01T00:00:00Z"
        )
        #expect(sgx.status == 1)
        #expect(sgx.json?["code"] as? String == "unsupported-quote")
    }

    @Test func unreadableFilesExitThree() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try verify(
            dir.appendingPathComponent("missing.bin").path,
            try path("dcap-qvl/tdx_quote_collateral.json"),
            at: "2025-07-04T10:16:31Z"
        )
        #expect(r.status == 3)
        #expect(r.stderr.contains("cannot read quote file"))
        let help = try DelongProcess.run(["attest", "verify", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--allow-status") && help.stdout.contains("Exit codes"))
    }
}
