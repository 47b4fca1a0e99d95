import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct DeLongEventTests {
    /// Our event ABIs match the committed contract artifacts: names, types, indexed flags, topic0.
    @Test func eventABIsMatchTheCompiledContracts() throws {
        for (name, ours) in [
            ("DataMarket", DeLongContracts.dataMarketEvents),
            ("AlgorithmRegistry", DeLongContracts.algorithmRegistryEvents),
        ] {
            let url = TestData.packageRoot.appendingPathComponent("contrib/contracts/artifacts/\(name).json")
            let artifact = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            let abi = try #require(artifact["abi"] as? [[String: Any]]).filter { $0["type"] as? String == "event" }
            #expect(abi.count == ours.count, "\(name)")
            for entry in abi {
                let eventName = try #require(entry["name"] as? String)
                let inputs = try #require(entry["inputs"] as? [[String: Any]])
                let event = try #require(ours.first { $0.name == eventName }, "\(eventName) missing")
                #expect(
                    event.parameters.map(\.type.description) == inputs.map { $0["type"] as? String ?? "" },
                    "\(eventName)"
                )
                #expect(
                    event.parameters.map(\.indexed) == inputs.map { $0["indexed"] as? Bool ?? false },
                    "\(eventName)"
                )
            }
        }
    }

    /// Every event of the demo activity, decoded by us and by web3.py from the same verified receipts.
    @Test func demoActivityDecodesLikeWeb3() async throws {
        let devnet = try Devnet()
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--demo", "--out", deployment.path])
        let contracts = try DeLongContracts(
            deploymentJSON: try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: deployment)) as? [String: Any]
            )
        )

        let head = try Hex.decodeUInt64(try #require(try await devnet.call("eth_blockNumber") as? String))
        var ours: [String] = []
        var skippedByBloom = 0
        for n in 0...head {
            let block = try #require(
                try await devnet.call("eth_getBlockByNumber", params: "[\"0x\(String(n, radix: 16))\",false]")
                    as? [String: Any]
            )
            let header = try RPCJSON.header(block)
            let receipts = try
                (try #require(
                    try await devnet.call("eth_getBlockReceipts", params: "[\"0x\(String(n, radix: 16))\"]")
                        as? [[String: Any]]
                )).map(RPCJSON.receipt)
            #expect(Receipts.root(receipts) == header.receiptsRoot)
            let events = try receipts.flatMap(\.logs).compactMap(contracts.decode)
            if !contracts.mayHaveEvents(header.logsBloom) {
                #expect(events.isEmpty, "bloom said no DeLong event in block \(n)")
                skippedByBloom += 1
            }
            ours += events.map(Self.render)
        }
        #expect(skippedByBloom > 0)

        let reference = try Self.web3Events(rpc: devnet.url, deployment: deployment.path)
        #expect(ours == reference)
        let names = Set(ours.map { String($0.prefix { $0 != "(" }) })
        #expect(names.count == 15, "every event type appears: \(names.sorted())")
    }

    @Test func foreignAndUnknownLogsAreToldApart() throws {
        let contracts = DeLongContracts(
            dataMarket: try Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            algorithmRegistry: try Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
        )
        let stranger = Log(
            address: try Address(hex: "0x000000000000000000000000000000000000dEaD"),
            topics: [],
            data: []
        )
        #expect(try contracts.decode(stranger) == nil)
        let unknownTopic = Log(address: contracts.dataMarket, topics: [Keccak256.hash(utf8: "Nope()")], data: [])
        #expect(throws: ChainError(.invalidABI, "")) { try contracts.decode(unknownTopic) }
        // A registry event claimed by the market contract is not accepted either.
        let misplaced = Log(
            address: contracts.dataMarket,
            topics: [DeLongContracts.algorithmRegistryEvents[3].topic, .zero],
            data: []
        )
        #expect(throws: ChainError(.invalidABI, "")) { try contracts.decode(misplaced) }
        let truncated = Log(
            address: contracts.dataMarket,
            topics: [DeLongContracts.dataMarketEvents[7].topic, .zero],
            data: [1, 2, 3]
        )
        #expect(throws: ChainError(.invalidABI, "")) { try contracts.decode(truncated) }
    }

    /// Values the contracts can legally emit decode exactly: uint256 times above 2^64 (`rent(ds, 2**64)` on a
    /// free dataset), strings that are not UTF-8 (Vyper does not check), and strings as long as the bound.
    @Test func everyValueTheContractsCanEmitDecodesExactly() throws {
        let contracts = Self.contracts
        let (dataset, consumer, provider) = (Keccak256.hash(utf8: "ds"), Address.zero, Self.provider)
        let past64 = U256(UInt64.max).addingReportingOverflow(U256(1_000_000)).partialValue
        let started = Log(
            address: contracts.dataMarket,
            topics: [DeLongContracts.dataMarketEvents[3].topic, dataset, Self.topic(consumer), Self.topic(provider)],
            data: try ABI.encode(
                [.uint(256), .uint(256), .uint(256)],
                [.uint(U256(1_700_000_000)), .uint(past64), .uint(.zero)]
            )
        )
        guard case .rentalStarted(_, _, let startedAt, let expiresAt, _) = try contracts.decode(started) else {
            Issue.record("expected RentalStarted")
            return
        }
        #expect(startedAt == U256(1_700_000_000) && expiresAt == past64)

        let notUTF8: [UInt8] = [0xFF, 0xFE, 0x41, 0xC3]
        let long = [UInt8](repeating: 0x61, count: 1024)
        let registered = Log(
            address: contracts.dataMarket,
            topics: [DeLongContracts.dataMarketEvents[0].topic, dataset, Self.topic(provider)],
            // The ABI encodes string and bytes alike; .bytes lets the test write bytes that are not UTF-8.
            data: try ABI.encode(
                [.fixedBytes(32), .uint(256), .bytes, .bytes],
                [.fixedBytes(Keccak256.hash(utf8: "m").bytes), .uint(.zero), .bytes(notUTF8), .bytes(long)]
            )
        )
        guard case .datasetRegistered(let f) = try contracts.decode(registered) else {
            Issue.record("expected DatasetRegistered")
            return
        }
        #expect(f.sampleLocator.bytes == notUTF8 && !f.sampleLocator.isUTF8)
        #expect(f.sampleLocator.description == "\u{FFFD}\u{FFFD}A\u{FFFD}")
        #expect(f.metadataURI.bytes == long && f.metadataURI.string == String(repeating: "a", count: 1024))

        let published = Log(
            address: contracts.algorithmRegistry,
            topics: [DeLongContracts.algorithmRegistryEvents[0].topic, dataset, Self.topic(provider)],
            data: try ABI.encode([.fixedBytes(32), .bytes], [.fixedBytes(dataset.bytes), .bytes(notUTF8)])
        )
        guard case .algorithmPublished(_, _, _, let locator) = try contracts.decode(published) else {
            Issue.record("expected AlgorithmPublished")
            return
        }
        #expect(locator.bytes == notUTF8)
    }

    /// What the ABI cannot produce is still refused: a data section of the wrong length for the event.
    @Test func aLayoutTheABICannotProduceIsRefused() throws {
        let contracts = Self.contracts
        let short = Log(
            address: contracts.dataMarket,
            topics: [
                DeLongContracts.dataMarketEvents[3].topic, .zero, Self.topic(.zero), Self.topic(Self.provider),
            ],
            data: try ABI.encode([.uint(256), .uint(256)], [.uint(.zero), .uint(.zero)])
        )
        #expect(throws: ChainError(.invalidABI, "")) { try contracts.decode(short) }
        let tooManyTopics = Log(
            address: contracts.dataMarket,
            topics: [DeLongContracts.dataMarketEvents[7].topic, .zero, .zero],
            data: U256(1).bigEndianBytes
        )
        #expect(throws: ChainError(.invalidABI, "")) { try contracts.decode(tooManyTopics) }
    }

    // MARK: Helpers

    static let contracts = DeLongContracts(
        dataMarket: try! Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        algorithmRegistry: try! Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    )
    static let provider = try! Address(hex: "0x90F79bf6EB2c4f870365E785982E1f101E93b906")
    static func topic(_ a: Address) -> Hash32 { try! Hash32([UInt8](repeating: 0, count: 12) + a.bytes) }

    static func render(_ e: DeLongEvent) -> String {
        func h(_ x: Hash32) -> String { x.hex }
        func a(_ x: Address) -> String { x.hex }
        func d(_ f: DeLongEvent.DatasetFields) -> [String] {
            [
                h(f.datasetID), a(f.provider), h(f.manifestDigest), "\(f.pricePerSecond)", "\(f.sampleLocator)",
                "\(f.metadataURI)",
            ]
        }
        let (name, fields): (String, [String])
        switch e {
        case .datasetRegistered(let f): (name, fields) = ("DatasetRegistered", d(f))
        case .datasetUpdated(let f): (name, fields) = ("DatasetUpdated", d(f))
        case .datasetRetired(let id, let p): (name, fields) = ("DatasetRetired", [h(id), a(p)])
        case .rentalStarted(let k, let p, let s, let x, let paid):
            (name, fields) = ("RentalStarted", [h(k.datasetID), a(k.consumer), a(p), "\(s)", "\(x)", "\(paid)"])
        case .rentalExtended(let k, let p, let s, let x, let paid):
            (name, fields) = ("RentalExtended", [h(k.datasetID), a(k.consumer), a(p), "\(s)", "\(x)", "\(paid)"])
        case .rentalRevoked(let k, let p, let x, let r):
            (name, fields) = ("RentalRevoked", [h(k.datasetID), a(k.consumer), a(p), "\(x)", "\(r)"])
        case .earningsSettled(let k, let p, let amt):
            (name, fields) = ("EarningsSettled", [h(k.datasetID), a(k.consumer), a(p), "\(amt)"])
        case .withdrawal(let acct, let amt): (name, fields) = ("Withdrawal", [a(acct), "\(amt)"])
        case .algorithmPublished(let i, let p, let b, let l):
            (name, fields) = ("AlgorithmPublished", [h(i), a(p), h(b), "\(l)"])
        case .jobRecorded(let j):
            (name, fields) = (
                "JobRecorded",
                [
                    h(j.jobID), h(j.datasetID), a(j.consumer), h(j.imageDigest), h(j.outputDigest),
                    h(j.attestationDigest), a(j.operator),
                ]
            )
        case .measurementTrusted(let dg, let m, let l): (name, fields) = ("MeasurementTrusted", [h(dg), m.hex, "\(l)"])
        case .measurementRevoked(let dg): (name, fields) = ("MeasurementRevoked", [h(dg)])
        case .operatorSet(let o, let ok): (name, fields) = ("OperatorSet", [a(o), ok ? "true" : "false"])
        case .privacySignerSet(let p, let s): (name, fields) = ("PrivacySignerSet", [a(p), a(s)])
        case .governanceTransferred(let p, let g): (name, fields) = ("GovernanceTransferred", [a(p), a(g)])
        }
        return "\(name)(\(fields.joined(separator: ",")))"
    }

    /// web3.py, as an independent decoder: every log of both contracts, in chain order, rendered like `render`.
    static func web3Events(rpc: String, deployment: String) throws -> [String] {
        let script = """
            import json, sys
            from web3 import Web3
            from web3.middleware import ExtraDataToPOAMiddleware
            w3 = Web3(Web3.HTTPProvider(sys.argv[1]))
            w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
            dep = json.load(open(sys.argv[2]))
            out = []
            contracts = {}
            for name in ("DataMarket", "AlgorithmRegistry"):
                abi = json.load(open(f"contrib/contracts/artifacts/{name}.json"))["abi"]
                contracts[dep[name]["address"].lower()] = w3.eth.contract(address=dep[name]["address"], abi=abi)
            def fmt(t, v):
                if t.startswith("bytes"): return "0x" + bytes(v).hex()
                if t == "address": return v.lower()
                if t == "bool": return "true" if v else "false"
                return str(v)
            for log in w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"}):
                c = contracts.get(log["address"].lower())
                if c is None: continue
                for ev in c.abi:
                    if ev["type"] != "event": continue
                    try:
                        d = getattr(c.events, ev["name"])().process_log(log)
                    except Exception:
                        continue
                    out.append(ev["name"] + "(" + ",".join(fmt(i["type"], d["args"][i["name"]]) for i in ev["inputs"]) + ")")
                    break
            print(json.dumps(out))
            """
        let output = try ContribTool.python(script, [rpc, deployment])
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String])
    }
}
