import ChainCore
import Foundation
import TestSupport
import Testing

/// `delong chain verify-block` and `verify-proof`, run as a process on every block and proof in the test data.
@Suite struct ChainVerifyCommandTests {
    let dir: URL

    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func write(_ name: String, _ value: Any) throws -> String {
        let url = dir.appendingPathComponent(name)
        if let s = value as? String {
            try Data(s.utf8).write(to: url)
        } else {
            try JSONSerialization.data(withJSONObject: value).write(to: url)
        }
        return url.path
    }

    @Test(arguments: [
        "alchemy14151203", "infura2000004withTransactions", "infura15571241withTransactions",
        "infura-goerli-block-10536893", "testdata-from-rpc-goerli", "testdata-from-rpc-goerli-london",
        "testdata-from-rpc-with-withdrawals", "testdata-from-rpc-with-uncles",
    ])
    func realJSONBlocksVerify(name: String) throws {
        let r = try DelongProcess.run([
            "chain", "verify-block", "--block", TestData.url("chain/ethereumjs/\(name).json").path,
        ])
        #expect(r.status == 0, "\(r.stderr)\(r.stdout)")
        let json = try #require(r.json)
        #expect(json["valid"] as? Bool == true)
        // Two of these list transaction hashes only: their root cannot be checked and is reported as null.
        let hashesOnly = ["testdata-from-rpc-with-withdrawals", "testdata-from-rpc-with-uncles"].contains(name)
        let matches = (json["transactionsRoot"] as? [String: Any])?["matches"]
        #expect(hashesOnly ? matches is NSNull : matches as? Bool == true)
    }

    @Test func mainnetBlockWithReceiptsVerifies() throws {
        let r = try DelongProcess.run([
            "chain", "verify-block", "--block", TestData.url("chain/helios/rpc/block.json").path,
            "--receipts", TestData.url("chain/helios/rpc/receipts.json").path,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json)
        #expect((json["receiptsRoot"] as? [String: Any])?["matches"] as? Bool == true)
        #expect((json["logsBloom"] as? [String: Any])?["matches"] as? Bool == true)
        #expect((json["withdrawalsRoot"] as? [String: Any])?["matches"] as? Bool == true)
    }

    /// debug_getRawBlock + debug_getRawReceipts for every block of the hive chain that has a transcript,
    /// and every block of chain.rlp re-encoded as raw hex.
    @Test func rawBlocksAndRawReceiptsVerify() throws {
        let rawBlock = try #require(
            try TestData.rpcResult("chain/execution-apis/debug_getRawBlock/get-block-n.io") as? String
        )
        let rawReceipts = try #require(
            try TestData.rpcResult("chain/execution-apis/debug_getRawReceipts/get-block-n.io") as? [String]
        )
        let r = try DelongProcess.run([
            "chain", "verify-block", "--block", write("b.hex", rawBlock), "--receipts", write("r.json", rawReceipts),
        ])
        #expect(r.status == 0, "\(r.stderr)\(r.stdout)")
        for block in try ChainFixtures.hiveBlocks() where block.header.number % 9 == 0 {
            let encoded = RLPItem.list(
                [
                    block.header.rlp,
                    .list(
                        block.transactions.map { $0.type == 0 ? (try! RLPItem.decode($0.encoded)) : .bytes($0.encoded) }
                    ), .list(block.ommers.map(\.rlp)),
                ] + (block.withdrawals.map { [.list($0.map { try! RLPItem.decode($0.encoded) })] } ?? [])
            ).encoded
            let run = try DelongProcess.run([
                "chain", "verify-block", "--block", write("block-\(block.header.number).hex", encoded.hex),
            ])
            #expect(run.status == 0, "block \(block.header.number): \(run.stderr)\(run.stdout)")
        }
    }

    @Test func everyHiveReceiptsTranscriptVerifiesWithItsBlock() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        for file in try TestData.files(in: "chain/execution-apis/eth_getBlockReceipts") {
            guard
                let receipts = try TestData.rpcResult("chain/execution-apis/eth_getBlockReceipts/\(file)")
                    as? [[String: Any]],
                let numberHex = receipts.first?["blockNumber"] as? String,
                let n = Int(numberHex.dropFirst(2), radix: 16), n > 0
            else { continue }
            let block = blocks[n - 1]
            // The transcripts carry receipts only; pair them with their block's header as eth_getBlockByNumber JSON.
            var header: [String: Any] = ["hash": block.header.hash.hex]
            header.merge(Self.headerJSON(block.header)) { a, _ in a }
            let r = try DelongProcess.run([
                "chain", "verify-block", "--block", write("h\(n).json", header), "--receipts",
                write("r\(n).json", receipts),
            ])
            #expect(r.status == 0, "\(file): \(r.stderr)\(r.stdout)")
        }
    }

    @Test func tamperedBlocksExitOneAndNameTheMismatch() throws {
        var json = try #require(
            try TestData.json("chain/ethereumjs/infura15571241withTransactions.json") as? [String: Any]
        )
        var txs = try #require(json["transactions"] as? [[String: Any]])
        txs[3]["value"] = "0x1"
        json["transactions"] = txs
        var r = try DelongProcess.run(["chain", "verify-block", "--block", write("t.json", json)])
        #expect(r.status == 1)
        #expect((r.json?["transactionsRoot"] as? [String: Any])?["matches"] as? Bool == false)

        var header = try #require(try TestData.json("chain/helios/rpc/block.json") as? [String: Any])
        header["gasUsed"] = "0x1"
        r = try DelongProcess.run(["chain", "verify-block", "--block", write("h.json", header)])
        #expect(r.status == 1)
        #expect((r.json?["hash"] as? [String: Any])?["matches"] as? Bool == false)

        var receipts = try #require(try TestData.json("chain/helios/rpc/receipts.json") as? [[String: Any]])
        receipts.swapAt(0, 1)
        r = try DelongProcess.run([
            "chain", "verify-block", "--block", TestData.url("chain/helios/rpc/block.json").path, "--receipts",
            write("r.json", receipts),
        ])
        #expect(r.status == 1)
        #expect((r.json?["receiptsRoot"] as? [String: Any])?["matches"] as? Bool == false)
    }

    @Test func malformedInputExitsTwoWithAMessageNamingWhere() throws {
        var r = try DelongProcess.run(["chain", "verify-block", "--block", write("bad.json", "{\"number\": ")])
        #expect(r.status == 2 && r.stderr.contains("not valid JSON"))
        var json = try #require(
            try TestData.json("chain/ethereumjs/infura15571241withTransactions.json") as? [String: Any]
        )
        var txs = try #require(json["transactions"] as? [[String: Any]])
        txs[5]["to"] = "0x1234"
        json["transactions"] = txs
        r = try DelongProcess.run(["chain", "verify-block", "--block", write("t.json", json)])
        #expect(r.status == 2 && r.stderr.contains("transactions[5]") && r.stderr.contains("to"), "\(r.stderr)")
        r = try DelongProcess.run(["chain", "verify-block", "--block", write("trunc.hex", "0xf90211a0")])
        #expect(r.status == 2 && r.stderr.contains("byte"), "\(r.stderr)")
        r = try DelongProcess.run(["chain", "verify-block", "--block", dir.appendingPathComponent("missing.json").path])
        #expect(r.status == 3)
        r = try DelongProcess.run([
            "chain", "verify-proof", "--proof", TestData.url("chain/helios/rpc/proof.json").path, "--state-root",
            "0x12",
        ])
        #expect(r.status != 0 && r.stderr.contains("64 hex digits"))
    }

    @Test func proofsVerifyAndForgeriesExitOne() throws {
        let block = try #require(try TestData.json("chain/helios/rpc/block.json") as? [String: Any])
        let stateRoot = try #require(block["stateRoot"] as? String)
        var r = try DelongProcess.run([
            "chain", "verify-proof", "--proof", TestData.url("chain/helios/rpc/proof.json").path, "--state-root",
            stateRoot,
        ])
        #expect(r.status == 0, "\(r.stderr)\(r.stdout)")
        #expect((r.json?["storage"] as? [[String: Any]])?.first?["valid"] as? Bool == true)

        var proof = try #require(try TestData.json("chain/helios/rpc/proof.json") as? [String: Any])
        var slots = try #require(proof["storageProof"] as? [[String: Any]])
        slots[0]["value"] = "0x1"
        proof["storageProof"] = slots
        r = try DelongProcess.run([
            "chain", "verify-proof", "--proof", write("p.json", proof), "--state-root", stateRoot,
        ])
        #expect(r.status == 1)
        #expect((r.json?["account"] as? [String: Any])?["valid"] as? Bool == true)

        let head = try #require(try ChainFixtures.hiveBlocks().last)
        for file in try TestData.files(in: "chain/execution-apis/eth_getProof") {
            let result = try #require(try TestData.rpcResult("chain/execution-apis/eth_getProof/\(file)"))
            r = try DelongProcess.run([
                "chain", "verify-proof", "--proof", write(file + ".json", result), "--state-root",
                head.header.stateRoot.hex,
            ])
            #expect(r.status == 0, "\(file): \(r.stderr)\(r.stdout)")
        }
        r = try DelongProcess.run([
            "chain", "verify-proof", "--proof", TestData.url("chain/helios/rpc/proof.json").path, "--state-root",
            head.header.stateRoot.hex,
        ])
        #expect(r.status == 1)
        #expect((r.json?["account"] as? [String: Any])?["valid"] as? Bool == false)
    }

    static func headerJSON(_ h: Header) -> [String: Any] {
        var o: [String: Any] = [
            "parentHash": h.parentHash.hex, "sha3Uncles": h.ommersHash.hex, "miner": h.beneficiary.hex,
            "stateRoot": h.stateRoot.hex, "transactionsRoot": h.transactionsRoot.hex,
            "receiptsRoot": h.receiptsRoot.hex,
            "logsBloom": h.logsBloom.bytes.hex, "difficulty": h.difficulty.quantity, "number": U256(h.number).quantity,
            "gasLimit": U256(h.gasLimit).quantity, "gasUsed": U256(h.gasUsed).quantity,
            "timestamp": U256(h.timestamp).quantity,
            "extraData": h.extraData.hex, "mixHash": h.mixHash.hex, "nonce": h.nonce.hex,
        ]
        if let v = h.baseFeePerGas { o["baseFeePerGas"] = v.quantity }
        if let v = h.withdrawalsRoot { o["withdrawalsRoot"] = v.hex }
        if let v = h.blobGasUsed { o["blobGasUsed"] = U256(v).quantity }
        if let v = h.excessBlobGas { o["excessBlobGas"] = U256(v).quantity }
        if let v = h.parentBeaconBlockRoot { o["parentBeaconBlockRoot"] = v.hex }
        if let v = h.requestsHash { o["requestsHash"] = v.hex }
        return o
    }
}
