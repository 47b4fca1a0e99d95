import ChainCore
import Foundation
import TestSupport
import Testing

/// `delong node sync` and `delong index …` against the real devnet, compared with what web3.py reads.
@Suite(.serialized) struct NodeSyncTests {
    let devnet: Devnet
    let dir: URL
    let deployment: URL

    init() throws {
        devnet = try Devnet(arguments: ["--deterministic"])
        dir = try DelongProcess.temporaryDirectory()
        deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--demo", "--out", deployment.path])
    }

    func checkpoint() async throws -> String {
        let genesis = try #require(
            try await devnet.call("eth_getBlockByNumber", params: "[\"0x0\",false]") as? [String: Any]
        )
        return "0:\(try #require(genesis["hash"] as? String))"
    }

    func sync(_ dataDir: String, finality: Int = 4, extra: [String] = []) async throws -> DelongProcess.Result {
        try DelongProcess.run(
            [
                "node", "sync", "--rpc", devnet.url, "--contracts", deployment.path, "--checkpoint",
                try await checkpoint(),
                "--data-dir", dir.appendingPathComponent(dataDir).path, "--finality", "\(finality)",
            ] + extra
        )
    }

    func index(_ arguments: [String], _ dataDir: String) throws -> Any? {
        let r = try DelongProcess.run(
            ["index"] + arguments + ["--data-dir", dir.appendingPathComponent(dataDir).path, "--json"]
        )
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }

    func digest(_ dataDir: String) throws -> String? {
        (try index(["status"], dataDir) as? [String: Any])?["digest"] as? String
    }

    var demo: [String: Any] {
        get throws {
            try #require(
                (try JSONSerialization.jsonObject(with: Data(contentsOf: deployment)) as? [String: Any])?["demo"]
                    as? [String: Any]
            )
        }
    }

    @Test func syncedIndexMatchesWhatWeb3ReadsFromTheChain() async throws {
        let r = try await sync("index")
        #expect(r.status == 0, "\(r.stderr)")
        let reference = try #require(
            try JSONSerialization.jsonObject(
                with: Data(ContribTool.python(Self.web3State, [devnet.url, deployment.path]).utf8)
            ) as? [String: Any]
        )
        let datasets = try #require(reference["datasets"] as? [String: [String: Any]])
        #expect(datasets.count == 3)
        for (id, expected) in datasets {
            let ours = try #require(try index(["dataset", id], "index") as? [String: Any])
            for key in ["provider", "manifestDigest", "pricePerSecond", "sampleLocator", "metadataURI"] {
                #expect(
                    (ours[key] as? String)?.lowercased() == (expected[key] as? String)?.lowercased(),
                    "\(id) \(key)"
                )
            }
            #expect(ours["retired"] as? Bool == expected["retired"] as? Bool)
        }
        let rentals = try #require(reference["rentals"] as? [[String: Any]])
        #expect(rentals.count >= 3)
        for expected in rentals {
            let dataset = try #require(expected["dataset"] as? String)
            let consumer = try #require(expected["consumer"] as? String)
            let ours = try #require(try index(["rentals", "--dataset", dataset], "index") as? [[String: Any]])
            let match = try #require(
                ours.first { ($0["consumer"] as? String)?.lowercased() == consumer.lowercased() },
                "rental \(dataset) \(consumer)"
            )
            #expect(match["startedAt"] as? Int == expected["startedAt"] as? Int)
            #expect(match["expiresAt"] as? Int == expected["expiresAt"] as? Int)
        }
        let algorithm = try #require(reference["algorithm"] as? [String: Any])
        let image = try #require(try demo["imageDigest"] as? String)
        let ours = try #require(try index(["algorithm", image], "index") as? [String: Any])
        #expect((ours["publisher"] as? String)?.lowercased() == (algorithm["publisher"] as? String)?.lowercased())
        #expect(ours["daLocator"] as? String == algorithm["daLocator"] as? String)
        #expect((ours["jobs"] as? [Any])?.count == 1)
        // Each JobRecorded web3.py finds in the logs, read back by `delong index job`.
        let jobs = try #require(reference["jobs"] as? [[String: Any]])
        #expect(jobs.count == 1)
        for expected in jobs {
            let id = try #require(expected["jobId"] as? String)
            let job = try #require(try index(["job", id], "index") as? [String: Any])
            for (key, theirs) in [
                ("dataset", "datasetId"), ("consumer", "consumer"), ("imageDigest", "imageDigest"),
                ("outputDigest", "outputDigest"), ("attestationDigest", "attestationDigest"), ("operator", "operator"),
            ] {
                #expect((job[key] as? String)?.lowercased() == (expected[theirs] as? String)?.lowercased(), "\(key)")
            }
            #expect((job["recorded"] as? [String: Any])?["block"] as? Int == expected["block"] as? Int)
        }
        let unknown = try DelongProcess.run(
            [
                "index", "job", Keccak256.hash(utf8: "no such job").hex, "--data-dir",
                dir.appendingPathComponent("index").path,
            ]
        )
        #expect(unknown.status == 1 && unknown.stderr.contains("no JobRecorded"), "\(unknown.stderr)")
        let status = try #require(try index(["status"], "index") as? [String: Any])
        #expect(
            (status["privacySigner"] as? String)?.lowercased() == (reference["privacySigner"] as? String)?.lowercased()
        )
    }

    /// A reorg inside the finality window is followed; the index equals a fresh sync of the new chain.
    /// One deeper than the window is refused, naming the fork.
    @Test func reorgsFollowTheCanonicalChainAndDeepOnesAreRefused() async throws {
        #expect(try await sync("index").status == 0)
        let jobID = try #require(try demo["jobId"] as? String)
        // Drop the block that recorded the job (the demo's last) and mine two others.
        try await devnet.call("devnet_reorg", params: "[\"0x1\",[],\"0x2\"]")
        let r = try await sync("index")
        #expect(r.status == 0, "\(r.stderr)")
        let image = try #require(try demo["imageDigest"] as? String)
        let algorithm = try #require(try index(["algorithm", image], "index") as? [String: Any])
        let jobs = try #require(algorithm["jobs"] as? [Any])
        #expect(jobs.isEmpty, "job \(jobID) was on the dropped branch")
        #expect(try await sync("fresh").status == 0)
        let (reorged, fresh) = (try digest("index"), try digest("fresh"))
        #expect(reorged != nil && reorged == fresh)

        try await devnet.call("anvil_mine", params: "[\"0x8\"]")
        #expect(try await sync("shallow", finality: 2).status == 0)
        try await devnet.call("devnet_reorg", params: "[\"0x5\",[],\"0x1\"]")
        let deep = try await sync("shallow", finality: 2)
        #expect(deep.status == 1)
        #expect(deep.stderr.contains("fork point"), "\(deep.stderr)")
    }

    /// kill -9 at random moments mid-sync, 15 times; then a clean finish equals a sync never interrupted.
    /// Each round mines fresh blocks and kills within the time they take to sync, measured on this machine,
    /// so every round has work to interrupt however fast the machine is.
    @Test func killedSyncsResumeToTheSameIndex() async throws {
        let blocksPerRound = 500
        try await devnet.call("anvil_mine", params: "[\"0x1388\"]")  // 5,000 blocks
        let started = ContinuousClock.now
        #expect(try await sync("clean").status == 0)
        let perRound = (ContinuousClock.now - started) * blocksPerRound / 5_000
        let cp = try await checkpoint()
        // Rounds go on until 15 were killed mid-sync (at most 40): a round that finished before its kill means
        // the machine got faster than when `perRound` was measured (a loaded suite run), so later kills come
        // earlier.
        var killedMidway = 0
        var rounds = 0
        var scale = 1.0
        while killedMidway < 15 && rounds < 40 {
            rounds += 1
            try await devnet.call("anvil_mine", params: "[\"0x\(String(blocksPerRound, radix: 16))\"]")
            let process = Process()
            process.executableURL = try DelongProcess.executable
            process.arguments = [
                "node", "sync", "--rpc", devnet.url, "--contracts", deployment.path, "--checkpoint", cp,
                "--data-dir", dir.appendingPathComponent("crashy").path, "--finality", "4", "--batch", "16",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await Task.sleep(for: perRound * Double.random(in: 0.1...0.9) * scale)
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killedMidway += 1
            } else {
                scale *= 0.7
            }
            while process.isRunning { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(killedMidway >= 15, "15 runs were killed while syncing (\(rounds) rounds)")
        #expect(try await sync("crashy").status == 0)
        #expect(try await sync("clean").status == 0)
        let (crashy, clean) = (try digest("crashy"), try digest("clean"))
        #expect(crashy != nil && crashy == clean)
    }

    @Test func aCheckpointOffTheChainIsRefused() throws {
        let r = try DelongProcess.run([
            "node", "sync", "--rpc", devnet.url, "--contracts", deployment.path,
            "--checkpoint", "0:0x" + String(repeating: "ab", count: 32), "--data-dir",
            dir.appendingPathComponent("x").path,
        ])
        #expect(r.status == 1)
        #expect(r.stderr.contains("checkpoint"), "\(r.stderr)")
    }

    /// web3.py reads the contracts' storage getters: the state the index must have derived from events alone.
    static let web3State = """
        import json, sys
        from web3 import Web3
        w3 = Web3(Web3.HTTPProvider(sys.argv[1]))
        dep = json.load(open(sys.argv[2]))
        art = lambda n: json.load(open(f"contrib/contracts/artifacts/{n}.json"))["abi"]
        market = w3.eth.contract(address=dep["DataMarket"]["address"], abi=art("DataMarket"))
        registry = w3.eth.contract(address=dep["AlgorithmRegistry"]["address"], abi=art("AlgorithmRegistry"))
        demo = dep["demo"]
        out = {"datasets": {}, "rentals": []}
        for name, ds in demo["datasets"].items():
            p, m, price, s, u, retired = market.functions.datasets(ds).call()
            out["datasets"][ds] = {"provider": p, "manifestDigest": "0x" + m.hex(), "pricePerSecond": str(price),
                                   "sampleLocator": s, "metadataURI": u, "retired": retired}
            for c in dep["accounts"]["demoConsumers"]:
                started, expires, escrow, settled = market.functions.rentals(ds, c).call()
                if started:
                    out["rentals"].append({"dataset": ds, "consumer": c, "startedAt": started, "expiresAt": expires})
        pub, bundle, loc = registry.functions.algorithms(demo["imageDigest"]).call()
        out["algorithm"] = {"publisher": pub, "bundleDigest": "0x" + bundle.hex(), "daLocator": loc}
        out["privacySigner"] = registry.functions.privacySigner().call()
        out["jobs"] = [{k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in e.args.items()}
                       | {"block": e.blockNumber}
                       for e in registry.events.JobRecorded().get_logs(from_block=0)]
        print(json.dumps(out))
        """
}

extension NodeSyncTests {
    /// Point reads: every demo rental proven from DataMarket's storage agrees with the index and with web3.py.
    @Test func rentalsProvenFromStorageAgreeWithTheIndex() async throws {
        #expect(try await sync("index").status == 0)
        let reference = try #require(
            try JSONSerialization.jsonObject(
                with: Data(ContribTool.python(Self.web3State, [devnet.url, deployment.path]).utf8)
            ) as? [String: Any]
        )
        let rentals = try #require(reference["rentals"] as? [[String: Any]])
        for expected in rentals {
            let r = try DelongProcess.run([
                "node", "prove-rental", "--rpc", devnet.url, "--data-dir", dir.appendingPathComponent("index").path,
                "--dataset", try #require(expected["dataset"] as? String), "--consumer",
                try #require(expected["consumer"] as? String),
            ])
            #expect(r.status == 0, "\(r.stderr)\(r.stdout)")
            let proven = try #require(r.json?["proven"] as? [String: Any])
            #expect(proven["expiresAt"] as? String == "\(try #require(expected["expiresAt"] as? Int))")
        }
        let tamper = try HostileProxy(upstream: devnet.url, mode: "proof-node")
        let refused = try DelongProcess.run([
            "node", "prove-rental", "--rpc", tamper.url, "--data-dir", dir.appendingPathComponent("index").path,
            "--dataset", try #require(rentals.first?["dataset"] as? String),
            "--consumer", try #require(rentals.first?["consumer"] as? String),
        ])
        #expect(refused.status == 1 && refused.stderr.contains("eth_getProof"), "\(refused.stderr)")
    }
}
