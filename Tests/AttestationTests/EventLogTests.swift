import ChainCore
import Foundation
import TestSupport
import Testing

@testable import Attestation

/// RTMR replay from CCEL binary logs and dstack's JSON log equals the quotes' RTMRs.
@Suite struct EventLogTests {
    @Test func goTdxGuestCCELReplaysTheCOSQuotesRTMR0To2() throws {
        let log = try EventLog(fileContents: try Fixtures.bytes("go-tdx-guest/ccel_ccel_data.dat"))
        #expect(log.events.count == 43)
        #expect(Set(log.events.map(\.rtmr)) == [0, 1, 2])
        let quote = try TDXQuote(bytes: try Fixtures.bytes("go-tdx-guest/ccel_cos-113-tdx-quote.dat"))
        #expect(log.matches(quote.body) == [true, true, true, true])  // RTMR3 is zero on both sides
    }

    @Test func dstackCCELReplaysTheTappdQuotesRTMR0() throws {
        let log = try EventLog(fileContents: try Fixtures.bytes("dstack/cc-eventlog_ccel.bin"))
        #expect(log.events.count == 18)
        let quote = try TDXQuote(fileContents: try Fixtures.bytes("dcap-qvl/quote-from-tappd.hex"))
        let replayed = log.replay()
        #expect(replayed[0] == quote.body.rtmr[0])
        #expect(Hex.encode(replayed[0], prefix: false).hasPrefix("274c2344"))
        // The sample log is truncated: RTMR1 does not reach the quote's value.
        #expect(replayed[1] != quote.body.rtmr[1])
    }

    @Test func dstackJSONReplaysAllFourRTMRs() throws {
        let log = try EventLog(fileContents: try Fixtures.bytes("dstack/verifier_quote-report.json"))
        #expect(log.events.count == 28)
        let quote = try TDXQuote(bytes: try Fixtures.dstackQuote())
        #expect(log.matches(quote.body) == [true, true, true, true])
        let runtime = log.events.filter { $0.rtmr == 3 }
        #expect(runtime.allSatisfy { $0.eventType == EventLog.dstackRuntimeEventType })
        #expect(runtime.map(\.name).contains("compose-hash"))
        #expect(log.runtimePayload(named: "compose-hash")?.count == 32)
    }

    @Test func theDstackRuntimeDigestRuleMatchesTheFixture() throws {
        let log = try EventLog(fileContents: try Fixtures.bytes("dstack/verifier_quote-report.json"))
        for event in log.events where event.rtmr == 3 {
            #expect(
                EventLog.dstackRuntimeDigest(eventType: event.eventType, name: event.name, payload: event.payload)
                    == event.digest
            )
        }
    }

    func dstackLogJSON() throws -> [[String: Any]] {
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(try Fixtures.bytes("dstack/verifier_quote-report.json")))
                as? [String: Any]
        )
        let text = try #require(object["event_log"] as? String)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
    }

    @Test func aChangedRuntimePayloadIsCaughtByItsDigest() throws {
        var events = try dstackLogJSON()
        let index = try #require(events.firstIndex { $0["event"] as? String == "compose-hash" })
        events[index]["event_payload"] = String(repeating: "ab", count: 32)
        let bytes = Array(try JSONSerialization.data(withJSONObject: events))
        #expect(throws: AttestationError(.measurementMismatch, "")) { try EventLog(fileContents: bytes) }
    }

    @Test func aDroppedEventChangesTheReplay() throws {
        var events = try dstackLogJSON()
        events.remove(at: 3)
        let log = try EventLog(fileContents: Array(try JSONSerialization.data(withJSONObject: events)))
        let quote = try TDXQuote(bytes: try Fixtures.dstackQuote())
        #expect(log.matches(quote.body).contains(false))
    }

    @Test func garbageLogsAreMalformedNotCrashes() throws {
        let ccel = try Fixtures.bytes("go-tdx-guest/ccel_ccel_data.dat")
        for length in [0, 7, 30, 60, 100, 200, 1000] {
            #expect(throws: AttestationError.self) { try EventLog.ccel(Array(ccel[0..<length])) }
        }
        #expect(throws: AttestationError(.malformedEventLog, "")) {
            try EventLog(fileContents: Array("{\"x\":1}".utf8))
        }
        var hostile = ccel
        hostile.replaceSubrange(28..<32, with: [0xFF, 0xFF, 0xFF, 0x7F])  // Spec ID event size
        #expect(throws: AttestationError(.malformedEventLog, "")) { try EventLog.ccel(hostile) }
    }
}
