import ChainCore
import Foundation
import TestSupport
import Testing

/// `delong node run`: follows the devnet's head and serves the index over HTTP.
@Suite(.serialized) struct NodeRunTests {
    @Test func followsTheHeadAndServesStatusRecordsAndMetrics() async throws {
        let devnet = try Devnet(arguments: ["--deterministic"])
        let dir = try DelongProcess.temporaryDirectory()
        let deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--demo", "--out", deployment.path])
        let genesis = try #require(
            try await devnet.call("eth_getBlockByNumber", params: "[\"0x0\",false]") as? [String: Any]
        )
        let node = try ReadyService(
            try DelongProcess.executable.path,
            [
                "node", "run", "--rpc", devnet.url, "--contracts", deployment.path, "--checkpoint",
                "0:\(try #require(genesis["hash"] as? String))",
                "--data-dir", dir.appendingPathComponent("index").path, "--finality", "4", "--listen", "127.0.0.1:0",
                "--poll", "0.2",
            ]
        )
        let demo = try #require(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: deployment)) as? [String: Any])?["demo"]
                as? [String: Any]
        )
        let dataset = try #require((demo["datasets"] as? [String: String])?["admissions"])

        // The node catches up, then follows blocks mined after it started.
        try await devnet.call("anvil_mine", params: "[\"0x5\"]")
        let chainHead = try Hex.decodeUInt64(try #require(try await devnet.call("eth_blockNumber") as? String))
        var head: UInt64 = 0
        for _ in 0..<100 where head < chainHead {
            try await Task.sleep(for: .milliseconds(100))
            let status = try await httpGet("\(node.url)/v1/status")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
            head = UInt64((json["head"] as? [String: Any])?["number"] as? Int ?? 0)
        }
        #expect(head == chainHead)

        let ds = try await httpGet("\(node.url)/v1/datasets/\(dataset)")
        #expect(ds.status == 200 && ds.body.contains("\"manifestDigest\""))
        let rentals = try await httpGet("\(node.url)/v1/rentals?dataset=\(dataset)")
        #expect(rentals.status == 200)
        #expect((try JSONSerialization.jsonObject(with: Data(rentals.body.utf8)) as? [Any])?.count == 2)
        #expect(try await httpGet("\(node.url)/v1/datasets/0x1234").status == 400)
        #expect(try await httpGet("\(node.url)/v1/datasets/0x\(String(repeating: "0", count: 64))").status == 404)
        #expect(try await httpGet("\(node.url)/v1/rentals").status == 400)
        let metrics = try await httpGet("\(node.url)/metrics")
        #expect(
            metrics.status == 200 && metrics.body.contains("delong_index_head_block \(chainHead)"),
            "\(metrics.body)"
        )
    }
}
