import ChainCore
import Foundation
import TestSupport
import Testing

/// `compute serve --evidence dstack:SOCKET` on the devnet, against contrib/dstack's FAKE guest agent: the plane's
/// own evidence and each job agent's evidence are GetQuote quotes with dstack's event log. The fake's quote is
/// dstack's recorded one with REPORTDATA patched (its signature no longer verifies), so the Privacy Plane, which
/// has no DCAP collateral here, refuses the key: the job ends refused(attestation), having asked for a quote of
/// its own REPORTDATA.
@Suite(.serialized) struct ComputeDstackEvidenceTests {
    @Test func jobAgentsAttestThroughTheGuestAgentsGetQuote() async throws {
        let w = try ComputeWorld()
        let agentDir = w.dir.appendingPathComponent("dstack")
        try FileManager.default.createDirectory(at: agentDir, withIntermediateDirectories: true)
        let log = w.dir.appendingPathComponent("dstack-requests.jsonl")
        let agent = try FakeGuestAgent.start(in: agentDir, log: log)
        let plane = try w.startCompute("compute", ["--evidence", "dstack:" + agent.url])

        // The plane's own evidence: a TDX quote binding its operator and TLS key, with the agent's event log.
        let (status, attestation) = try await PlaneWorld.call(plane.url, "/v1/attestation")
        #expect(status == 200)
        let evidence = try #require(attestation["evidence"] as? [String: Any], "\(attestation)")
        #expect(evidence["type"] as? String == "tdx", "\(evidence)")
        let quote = try #require((evidence["evidence"] as? String).flatMap { try? Hex.decode($0) })
        #expect(Hex.encode(Array(quote[568..<632])) == evidence["reportData"] as? String)
        #expect((evidence["eventLog"] as? String)?.contains("compose-hash") == true)

        // A job: its agent asks GetQuote for its own REPORTDATA; the Privacy Plane judges that quote.
        let mean = try w.bundle("mean", ComputeJobTests.meanAge)
        let image = try await w.publish(mean)
        let quotesBefore = try quoteRequests(log).count
        let job = try await w.postJob(to: plane, image: image)
        let end = try w.waitForEnd(job, on: plane)
        #expect(end["outcome"] as? String == "refused(attestation)", "\(end)")
        let detail = end["detail"] as? String ?? ""
        #expect(detail.contains("Privacy Plane refused the key"), "\(end)")
        let asked = try quoteRequests(log).dropFirst(quotesBefore)
        #expect(asked.count >= 1)
        // The agent's REPORTDATA (a SHA-512 transcript: 64 bytes, not the plane's own binding).
        #expect(asked.allSatisfy { $0.count == 128 && $0 != String(repeating: "0", count: 128) })
        #expect(!asked.contains(String((evidence["reportData"] as? String ?? "").dropFirst(2))))
    }

    /// The report_data hex of each GetQuote request in the fake's log, in order.
    func quoteRequests(_ log: URL) throws -> [String] {
        try String(contentsOf: log, encoding: .utf8).split(separator: "\n").compactMap { line in
            let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard entry?["path"] as? String == "/GetQuote", let body = entry?["body"] as? String else { return nil }
            let request = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            return request?["report_data"] as? String
        }
    }
}
