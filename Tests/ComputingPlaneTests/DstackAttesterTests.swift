import Attestation
import ComputingPlane
import Foundation
import TestSupport
import Testing

/// `compute serve --evidence dstack`: the agents' evidence is the guest agent's GetQuote answer (here contrib/
/// dstack's FAKE agent, serving dstack's recorded quote with REPORTDATA patched), with dstack's event log.
@Suite struct DstackAttesterTests {
    @Test func theAgentsEvidenceIsAQuoteOfTheirReportDataWithTheEventLog() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try FakeGuestAgent.start(in: dir)
        let attester = DstackAttester(agent: DstackGuestAgent(endpoint: .unix(service.url)))
        let reportData = (0..<64).map { UInt8(255 - $0) }
        let attested = try attester.attest(reportData: reportData)
        #expect(try TDXQuote(bytes: attested.bytes).body.reportData == reportData)
        let log = try #require(attested.eventLog)
        #expect(try EventLog(fileContents: Array(log.utf8)).runtimePayload(named: "compose-hash")?.count == 32)
        // The plain evidence is the same quote (a fake that patches deterministically answers the same bytes).
        #expect(try attester.evidence(reportData: reportData) == attested.bytes)
        #expect(attester.kind.contains("dstack"))
        // Development evidence has no event log.
        let development = try DevelopmentAttester(measurements: [UInt8](repeating: 0, count: 192))
        #expect(try development.attest(reportData: reportData).eventLog == nil)
    }
}
