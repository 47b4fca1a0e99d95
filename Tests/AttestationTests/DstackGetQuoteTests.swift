import Attestation
import ChainCore
import Foundation
import TestSupport
import Testing

/// The dstack guest agent's GetQuote as an evidence producer, against contrib/dstack's FAKE guest agent (the
/// published API on a Unix socket, serving dstack's recorded quote with REPORTDATA patched as dstack's simulator
/// does, so its signature no longer verifies) and against hostile stand-ins. No dstack CVM exists here.
@Suite struct DstackGetQuoteTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func agent(_ service: ReadyService) -> DstackGuestAgent { DstackGuestAgent(endpoint: .unix(service.url)) }

    func fixture() throws -> [String: String] {
        let object = try TestData.json(FakeGuestAgent.quoteFixture) as? [String: Any] ?? [:]
        return object.compactMapValues { $0 as? String }
    }

    @Test func theRequestIsTheReportDataInHexZeroPaddedTo64Bytes() throws {
        let body = try DstackGuestAgent.quoteRequest(reportData: [1, 2, 3])
        #expect(
            String(decoding: body, as: UTF8.self)
                == "{\"report_data\":\"010203" + String(repeating: "0", count: 122) + "\"}"
        )
        #expect(throws: AttestationError.self) {
            _ = try DstackGuestAgent.quoteRequest(reportData: [UInt8](repeating: 1, count: 65))
        }
    }

    @Test func aQuoteBindsTheReportDataAndCarriesDstacksEventLog() throws {
        let log = dir.appendingPathComponent("requests.jsonl")
        let service = try FakeGuestAgent.start(in: dir, log: log)
        let reportData = (0..<64).map { UInt8($0 * 3 & 0xFF) }
        let answer = try agent(service).quote(reportData: reportData)

        // The request on the wire: POST /GetQuote, JSON, exactly the padded report data.
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        let request = try #require(
            try JSONSerialization.jsonObject(with: Data(lines.last!.utf8)) as? [String: Any]
        )
        #expect(request["path"] as? String == "/GetQuote")
        #expect(request["contentType"] as? String == "application/json")
        #expect(request["body"] as? String == "{\"report_data\":\"\(Hex.encode(reportData, prefix: false))\"}")

        // The quote is a TDX quote whose REPORTDATA is ours; the event log is the agent's, and it replays the
        // quote's RTMR0-3 (REPORTDATA is not measured, so the patch leaves them as the CVM had them).
        let quote = try TDXQuote(bytes: answer.quote)
        #expect(quote.body.reportData == reportData && answer.reportData == reportData)
        let recorded = try fixture()
        #expect(answer.eventLog == recorded["event_log"] && answer.vmConfig == recorded["vm_config"])
        let events = try EventLog(fileContents: Array(answer.eventLog.utf8))
        #expect(events.matches(quote.body) == [true, true, true, true])
        #expect(events.runtimePayload(named: "compose-hash")?.count == 32)

        // Patched like dstack's simulator: the quote no longer verifies (the signature covers REPORTDATA).
        let collateral = try DCAPVerifier.prepare(
            try QuoteCollateral(
                json: Array(try TestData.data("attestation/dcap-qvl/tdx_quote_outdated_collateral.json"))
            )
        )
        let at = Date(timeIntervalSince1970: 1_772_323_200)  // 2026-03-01, inside the collateral's window
        #expect {
            _ = try DCAPVerifier.verify(quote: answer.quote, collateral: collateral, at: at)
        } throws: { ($0 as? AttestationError)?.code == .quoteSignatureInvalid }
        // …while the recorded quote, unpatched, does: the failure is the patch, not the collateral.
        let original = try #require(Hex.decode(lenient: recorded["quote"] ?? ""))
        #expect(try DCAPVerifier.verify(quote: original, collateral: collateral, at: at).status == .upToDate)
    }

    @Test func shortReportDataIsZeroPaddedOnBothSides() throws {
        let service = try FakeGuestAgent.start(in: dir)
        let answer = try agent(service).quote(reportData: [0xAB, 0xCD])
        #expect(answer.reportData == [0xAB, 0xCD] + [UInt8](repeating: 0, count: 62))
        #expect(try TDXQuote(bytes: answer.quote).body.reportData == answer.reportData)
    }

    @Test func anAgentThatIsDownIsAClearRefusal() throws {
        let missing = DstackGuestAgent(endpoint: .unix(dir.appendingPathComponent("none.sock").path))
        #expect {
            _ = try missing.quote(reportData: [1])
        } throws: { error in
            (error as? AttestationError)?.code == .evidenceUnavailable && "\(error)".contains("cannot connect")
                && "\(error)".contains("none.sock")
        }
    }

    @Test func theFakeRefusesMalformedHexAsTheAgentDoes() throws {
        let service = try FakeGuestAgent.start(in: dir)
        #expect {
            _ = try agent(service).call("GetQuote", body: Array("{\"report_data\":\"zz\"}".utf8), maxResponse: 4096)
        } throws: { "\($0)".contains("GetQuote answered HTTP 400: report_data: invalid hex") }
        let noQuotes = try FakeGuestAgent.start(in: try DelongProcess.temporaryDirectory(), quotes: false)
        #expect {
            _ = try agent(noQuotes).quote(reportData: [1])
        } throws: { "\($0)".contains("HTTP 400") && "\($0)".contains("no TDX quote available") }
    }

    /// Answers that must not become evidence, each refused naming what was wrong.
    @Test func wrongOrBrokenAnswersAreRefusedNamingTheProblem() throws {
        let recorded = try fixture()
        let quoteHex = try #require(recorded["quote"])
        let asked = [UInt8](repeating: 0x5A, count: 64)
        let askedHex = Hex.encode(asked, prefix: false)
        var patched = try #require(Hex.decode(lenient: quoteHex))
        patched.replaceSubrange(568..<632, with: asked)
        let patchedHex = Hex.encode(patched, prefix: false)
        func body(quote: String, reportData: String, eventLog: String = "\"[]\"") -> String {
            FakeGuestAgent.ok("{\"quote\":\"\(quote)\",\"event_log\":\(eventLog),\"report_data\":\"\(reportData)\"}")
        }
        let cases: [(String, String)] = [
            // The recorded answer as it was: another report_data echoed.
            (body(quote: quoteHex, reportData: recorded["report_data"] ?? ""), "report_data: expected \(askedHex)"),
            // Our report_data echoed, but the quote binds another.
            (body(quote: quoteHex, reportData: askedHex), "quote REPORTDATA: expected \(askedHex)"),
            (body(quote: "zz" + patchedHex, reportData: askedHex), "\"quote\" in hex"),
            (body(quote: patchedHex, reportData: "xyz"), "\"report_data\" in hex"),
            (body(quote: "0400", reportData: askedHex), "dstack GetQuote quote:"),
            (body(quote: patchedHex, reportData: askedHex, eventLog: "[]"), "\"event_log\" as a JSON string"),
            (FakeGuestAgent.ok("{\"report_data\":\"\(askedHex)\"}"), "expected a hex string \"quote\""),
            (FakeGuestAgent.ok("[]"), "other than a JSON object"),
            (
                "HTTP/1.1 500 Oops\r\nContent-Length: 17\r\n\r\n{\"error\": \"boom\"}",
                "GetQuote answered HTTP 500: boom"
            ),
            (
                "HTTP/1.1 200 OK\r\n\r\n" + String(repeating: "x", count: DstackGuestAgent.maxQuoteResponse + 10),
                "larger than \(DstackGuestAgent.maxQuoteResponse) bytes"
            ),
        ]
        for (answer, expected) in cases {
            let server = try FakeGuestAgent.answering(answer, in: dir)
            #expect(throws: AttestationError.self, "\(expected)") { _ = try agent(server).quote(reportData: asked) }
            do {
                _ = try agent(server).quote(reportData: asked)
            } catch {
                #expect("\(error)".contains(expected), "expected \(expected), found \(error)")
            }
        }
        // The patched answer itself passes: the cases fail for the reason each names.
        let good = try FakeGuestAgent.answering(body(quote: patchedHex, reportData: askedHex), in: dir)
        #expect(try agent(good).quote(reportData: asked).quote == patched)
    }

    @Test func theAgentIsFoundAsTheSDKsFindIt() throws {
        let none: (String) -> Bool = { _ in false }
        #expect(
            try DstackGuestAgent.locate(nil, environment: [:], exists: none).endpoint == .unix("/var/run/dstack.sock")
        )
        #expect(
            try DstackGuestAgent.locate(nil, environment: [:], exists: { $0 == "/run/dstack/dstack.sock" }).endpoint
                == .unix("/run/dstack/dstack.sock")
        )
        #expect(
            try DstackGuestAgent.locate(nil, environment: [:], exists: { $0.hasPrefix("/run/") }).endpoint
                == .unix("/run/dstack.sock")
        )
        let simulator = ["DSTACK_SIMULATOR_ENDPOINT": "http://127.0.0.1:8090"]
        #expect(
            try DstackGuestAgent.locate(nil, environment: simulator, exists: { _ in true }).endpoint
                == .http(host: "127.0.0.1", port: 8090)
        )
        #expect(
            try DstackGuestAgent.locate(nil, environment: ["DSTACK_SIMULATOR_ENDPOINT": "/tmp/sim.sock"], exists: none)
                .endpoint == .unix("/tmp/sim.sock")
        )
        // An explicit socket wins over the variable.
        #expect(try DstackGuestAgent.locate("/x.sock", environment: simulator).endpoint == .unix("/x.sock"))
        #expect(try DstackGuestAgent.named("dstack:/x.sock", environment: simulator)?.endpoint == .unix("/x.sock"))
        #expect(
            try DstackGuestAgent.named("dstack", environment: simulator)?.endpoint
                == .http(host: "127.0.0.1", port: 8090)
        )
        #expect(try DstackGuestAgent.named("dev") == nil)
        #expect(try DstackGuestAgent.Endpoint(parsing: "http://[::1]:80").description == "http://[::1]:80")
        for bad in ["https://agent:443", "http://:80", "http://host:0", "http://host:x", "dstack:"] {
            #expect(throws: AttestationError.self, "\(bad)") {
                _ = try DstackGuestAgent.named(bad.hasPrefix("dstack") ? bad : "dstack:" + bad)
            }
        }
    }

    /// DSTACK_SIMULATOR_ENDPOINT=http://HOST:PORT: the same API over TCP (a one-shot stand-in on loopback).
    @Test func theSimulatorsHTTPEndpointIsSpokenOverTCP() throws {
        let recorded = try fixture()
        var patched = try #require(Hex.decode(lenient: recorded["quote"] ?? ""))
        let asked = [UInt8](repeating: 7, count: 64)
        patched.replaceSubrange(568..<632, with: asked)
        let answer = FakeGuestAgent.ok(
            "{\"quote\":\"\(Hex.encode(patched, prefix: false))\",\"event_log\":\"[]\",\"report_data\":\"\(Hex.encode(asked, prefix: false))\"}"
        )
        let file = dir.appendingPathComponent("tcp-answer")
        try Data(answer.utf8).write(to: file)
        let server = try ReadyService(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, sys, signal
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                answer = open(sys.argv[1], "rb").read()
                s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
                print("READY http://127.0.0.1:%d" % s.getsockname()[1], flush=True)
                while True:
                    c, _ = s.accept(); c.recv(65536); c.sendall(answer); c.close()
                """,
                file.path,
            ]
        )
        let agent = try #require(
            try DstackGuestAgent.named("dstack", environment: ["DSTACK_SIMULATOR_ENDPOINT": server.url])
        )
        #expect(try agent.quote(reportData: asked).quote == patched)
    }
}
