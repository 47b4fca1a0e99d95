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
        trustCertificate(dir.appendingPathComponent("index/tls/cert.pem").path, for: node.url)
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
        #expect(try await httpGet("\(node.url)/v1/no-such/0x\(String(repeating: "ab", count: 20))").status == 404)
        // /metrics: the sync gauges and counters, and the requests above by route template and status class
        // (the ids asked for never become labels).
        let metrics = try await MetricsScrape.scrape(node.url)
        #expect(metrics.at("delong_index_head_block") == Double(chainHead), "\(metrics.samples)")
        #expect(metrics.at("delong_chain_target_block") >= Double(chainHead))
        #expect(metrics.at("delong_sync_lag_blocks") == metrics.at("delong_chain_target_block") - Double(chainHead))
        #expect(metrics.at("delong_sync_blocks_total") >= Double(chainHead))
        #expect(metrics.at("delong_sync_failures_total") == 0)
        #expect(metrics.at("delong_sync_consecutive_failures") == 0)
        #expect(metrics.at("delong_sync_last_failure_timestamp_seconds").isNaN)
        #expect(metrics.at("delong_index_head_age_seconds") >= 0)
        #expect(metrics.at("process_start_time_seconds") > 1_700_000_000)
        let requests = "delong_http_requests_total"
        let statusCalls = metrics.at(requests, ["route": "/v1/status", "method": "GET", "status": "2xx"])
        #expect(statusCalls >= 1, "\(metrics.samples(of: requests))")
        #expect(metrics.at(requests, ["route": "/v1/datasets/{id}", "method": "GET", "status": "2xx"]) == 1)
        #expect(metrics.at(requests, ["route": "/v1/datasets/{id}", "method": "GET", "status": "4xx"]) == 2)
        #expect(metrics.at(requests, ["route": "/v1/rentals", "method": "GET", "status": "4xx"]) == 1)
        #expect(metrics.at(requests, ["route": "unmatched", "method": "GET", "status": "4xx"]) == 1)
        let latency = ["route": "/v1/datasets/{id}", "method": "GET", "status": "4xx"]
        #expect(metrics.at("delong_http_request_duration_seconds_count", latency) == 2)
        #expect(metrics.at("delong_http_request_duration_seconds_bucket", latency.merging(["le": "+Inf"]) { $1 }) == 2)
        // A counter moves with what the node does: more status calls, more counted.
        for _ in 0..<3 { _ = try await httpGet("\(node.url)/v1/status") }
        let again = try await MetricsScrape.scrape(node.url)
        #expect(again.at(requests, ["route": "/v1/status", "method": "GET", "status": "2xx"]) == statusCalls + 3)
        #expect(again.at(requests, ["route": "/metrics", "method": "GET", "status": "2xx"]) >= 1)
    }

    @Test func servesTLSByDefaultPlainHTTPOnlyOnLoopbackWhenAskedAndRefusesAKeyThatIsNotTheCertificates() async throws {
        let devnet = try Devnet()
        let dir = try DelongProcess.temporaryDirectory()
        let deployment = dir.appendingPathComponent("deployment.json").path
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--out", deployment])
        let base = [
            "node", "run", "--rpc", devnet.url, "--contracts", deployment, "--checkpoint",
            "0:\(try devnet.genesisHash())", "--data-dir", dir.appendingPathComponent("index").path, "--finality", "1",
        ]

        // The generated devnet pair: an independent client (Python's ssl) verifies it for the host name, and
        // the READY line's key is that certificate's.
        let node = try ReadyService(DelongProcess.executable.path, base + ["--listen", "127.0.0.1:0"])
        let generated = dir.appendingPathComponent("index/tls/cert.pem").path
        #expect(node.url.hasPrefix("https://127.0.0.1:"))
        #expect(node.tlsKey == (try TLSFixtures.spkiHash(generated)))
        let localhost = node.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        #expect(try TLSFixtures.independentGet(localhost + "/v1/status", trusting: generated) == "200")
        // Nothing answers plain HTTP on the TLS port.
        await #expect(throws: (any Error).self) {
            _ = try await httpGet(node.url.replacingOccurrences(of: "https://", with: "http://") + "/v1/status")
        }

        // Plain HTTP only on loopback.
        let wildcard = try DelongProcess.run(base + ["--listen", "0.0.0.0:0", "--plain-http"])
        #expect(wildcard.status == 64 || wildcard.status == 2, "\(wildcard.stderr)")
        #expect(wildcard.stderr.contains("plain HTTP is served only on a loopback address"), "\(wildcard.stderr)")
        let plain = try ReadyService(
            DelongProcess.executable.path,
            base.map { $0.hasSuffix("/index") ? $0 + "-plain" : $0 } + ["--listen", "127.0.0.1:0", "--plain-http"]
        )
        #expect(plain.url.hasPrefix("http://127.0.0.1:") && plain.tlsKey == nil)
        #expect(try await httpGet(plain.url + "/v1/status").status == 200)

        // The operator's own pair; a key that is not the certificate's is refused at start.
        let a = try TLSFixtures.opensslPair(in: dir, "a")
        let b = try TLSFixtures.opensslPair(in: dir, "b")
        let operatorArgs = base.map { $0.hasSuffix("/index") ? $0 + "-own" : $0 } + ["--listen", "127.0.0.1:0"]
        let mismatched = try DelongProcess.run(operatorArgs + ["--tls-cert", a.cert, "--tls-key", b.key])
        #expect(mismatched.status == 2, "\(mismatched.stderr)")
        #expect(mismatched.stderr.contains("does not belong to the certificate"), "\(mismatched.stderr)")
        let own = try ReadyService(
            DelongProcess.executable.path,
            operatorArgs + ["--tls-cert", a.cert, "--tls-key", a.key]
        )
        #expect(own.tlsKey == (try TLSFixtures.spkiHash(a.cert)))
        #expect(
            try TLSFixtures.independentGet(
                own.url.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/v1/status",
                trusting: a.cert
            ) == "200"
        )
        #expect(own.terminate(within: 10) == 0, "SIGTERM stops the node cleanly")
    }
}
