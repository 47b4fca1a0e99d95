import Foundation
import TestSupport
import Testing

/// `delong attest verify --snp-report … --vcek … --ask … --ark …`, run as a process: JSON output and exit codes.
@Suite struct AttestSNPCommandTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func path(_ fixture: String) throws -> String { try TestData.url("attestation/virtee-sev/" + fixture).path }

    func verify(
        report: String? = nil,
        ask: String = "milan_ask.pem",
        ark: String = "milan_ark.pem",
        at: String = "2025-01-01T00:00:00Z",
        _ extra: [String] = []
    ) throws -> DelongProcess.Result {
        try DelongProcess.run(
            [
                "attest", "verify", "--snp-report", try report ?? path("report_milan.hex"), "--vcek",
                try path("vcek_milan.der"), "--ask", try path(ask), "--ark", try path(ark), "--at", at,
            ] + extra
        )
    }

    @Test func theMilanReportExitsZeroWithItsFields() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try verify()
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let json = try #require(r.json)
        #expect(json["verified"] as? Bool == true)
        #expect(json["signingKey"] as? String == "vcek")
        #expect(json["product"] as? String == "Milan-B0")
        #expect((json["measurement"] as? String)?.hasPrefix("7a1e5c266c0108db") == true)
        #expect(
            json["measurementDigest"] as? String == "c2b3756375d79e10809464d8c907d02b1901f973a787f0a9968afb73a8c63e75"
        )
        let tcb = try #require(json["reportedTcb"] as? [String: Any])
        #expect(tcb["raw"] as? String == "0300000000000873")
        #expect(tcb["microcode"] as? Int == 115)
    }

    @Test func rejectionsExitOneMalformedTwoUnreadableThree() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let genoa = try verify(ask: "genoa_ask.pem", ark: "genoa_ark.pem")
        #expect(genoa.status == 1, "\(genoa.stdout)\(genoa.stderr)")
        #expect(genoa.json?["code"] as? String == "certificate-chain-invalid")
        let late = try verify(at: "2031-01-01T00:00:00Z")
        #expect(late.status == 1)
        #expect(late.json?["code"] as? String == "outside-validity-window")

        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: try path("report_milan.hex"))))
        let short = dir.appendingPathComponent("short.hex")
        try Data(bytes.prefix(200)).write(to: short)
        let truncated = try verify(report: short.path)
        #expect(truncated.status == 2, "\(truncated.stdout)\(truncated.stderr)")
        #expect(truncated.json?["code"] as? String == "malformed-snp-report")

        // Hex digit 43 is byte 21's low nibble: virtee's milan_report_invalid.
        bytes[43] = bytes[43] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let flipped = dir.appendingPathComponent("flipped.hex")
        try Data(bytes).write(to: flipped)
        let tampered = try verify(report: flipped.path)
        #expect(tampered.status == 1)
        #expect(tampered.json?["code"] as? String == "snp-report-signature-invalid")

        let missing = try verify(report: dir.appendingPathComponent("none.hex").path)
        #expect(missing.status == 3)
        let mixed = try verify(["--quote", try path("report_milan.hex")])
        #expect(mixed.status == 2)
    }
}
