import ChainCore
import Foundation
import TestSupport
import Testing

/// The remaining execution-apis and helios transcripts: single receipts, raw transactions, logs and the
/// verifiable API's proofs, each tied back to a block whose hash we computed ourselves.
@Suite struct TranscriptTests {
    /// eth_getTransactionReceipt for every transaction type: the receipt decodes, its block is the chain.rlp
    /// block of that number, and the transaction at its index has its hash and type.
    @Test func singleReceiptsBelongToTheirBlocks() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        var checked = 0
        for file in try TestData.files(in: "chain/execution-apis/eth_getTransactionReceipt") {
            guard
                let json = try TestData.rpcResult("chain/execution-apis/eth_getTransactionReceipt/\(file)")
                    as? [String: Any]
            else { continue }
            let receipt = try RPCJSON.receipt(json)
            let n = try Hex.decodeUInt64(try #require(json["blockNumber"] as? String))
            let block = blocks[Int(n) - 1]
            #expect(block.header.hash.hex == json["blockHash"] as? String, "\(file)")
            let index = Int(try Hex.decodeUInt64(try #require(json["transactionIndex"] as? String)))
            let tx = block.transactions[index]
            #expect(tx.hash.hex == json["transactionHash"] as? String, "\(file)")
            #expect(tx.type == receipt.type, "\(file)")
            #expect(Bloom(logs: receipt.logs) == receipt.logsBloom, "\(file)")
            checked += 1
        }
        #expect(checked >= 6)
    }

    /// debug_getRawTransaction: keccak of the raw bytes is the requested hash, and the transaction is in the chain.
    @Test func rawTransactionHashesToItsRequest() throws {
        let text = String(
            decoding: try TestData.data("chain/execution-apis/debug_getRawTransaction/get-tx.io"),
            as: UTF8.self
        )
        let request = try #require(text.split(separator: "\n").first { $0.hasPrefix(">> ") })
        let params = try #require(
            (try JSONSerialization.jsonObject(with: Data(request.dropFirst(3).utf8)) as? [String: Any])?["params"]
                as? [String]
        )
        let raw = try Hex.decode(
            try #require(try TestData.rpcResult("chain/execution-apis/debug_getRawTransaction/get-tx.io") as? String)
        )
        #expect(Keccak256.hash(raw).hex == params[0])
        let tx = try Transaction(encoded: raw)
        #expect(tx.encoded == raw)
        #expect(try ChainFixtures.hiveBlocks().contains { $0.transactions.contains(tx) })
    }

    /// eth_getLogs: every log is in a block of the chain whose bloom admits its address and topics.
    @Test func logsAreAdmittedByTheirBlocksBlooms() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        var checked = 0
        for file in try TestData.files(in: "chain/execution-apis/eth_getLogs") {
            guard let logs = try TestData.rpcResult("chain/execution-apis/eth_getLogs/\(file)") as? [[String: Any]]
            else { continue }
            for log in logs {
                let n = try Hex.decodeUInt64(try #require(log["blockNumber"] as? String))
                let header = blocks[Int(n) - 1].header
                #expect(header.hash.hex == log["blockHash"] as? String, "\(file)")
                #expect(header.logsBloom.mayContain(try Hex.decode(try #require(log["address"] as? String))))
                for topic in try #require(log["topics"] as? [String]) {
                    #expect(header.logsBloom.mayContain(try Hex.decode(topic)))
                }
                checked += 1
            }
        }
        #expect(checked > 0)
    }

    /// helios verifiable_api: account and storage proofs against mainnet block 21925176, code against codeHash,
    /// and receipt proofs for the logs against its receiptsRoot.
    @Test func heliosVerifiableAPIProofsVerify() throws {
        let block = try RPCJSON.header(try #require(try TestData.json("chain/helios/rpc/block.json") as? [String: Any]))
        let accounts = try #require(
            (try TestData.json("chain/helios/verifiable_api/access_list.json") as? [String: Any])?["accounts"]
                as? [String: [String: Any]]
        )
        for (address, entry) in accounts {
            var json = try #require(entry["account"] as? [String: Any])
            json["address"] = address
            json["storageHash"] = json["storageRoot"]
            json["accountProof"] = entry["accountProof"]
            json["storageProof"] = entry["storageProof"]
            let verdict = try UnverifiedAccountProof(json: json).verify(stateRoot: block.stateRoot)
            #expect(verdict.valid, "\(address): \(verdict.accountReason ?? "") \(verdict.slots.compactMap(\.reason))")
            let code = try Hex.decode(try #require(entry["code"] as? String))
            #expect(Keccak256.hash(code).hex == json["codeHash"] as? String)
        }
        let logs = try #require(try TestData.json("chain/helios/verifiable_api/logs.json") as? [String: Any])
        for (_, value) in try #require(logs["receiptProofs"] as? [String: [String: Any]]) {
            let receiptJSON = try #require(value["receipt"] as? [String: Any])
            let receipt = try RPCJSON.receipt(receiptJSON)
            let proof = try (try #require(value["receiptProof"] as? [String])).map { try Hex.decode($0) }
            let index = try Hex.decodeUInt64(try #require(receiptJSON["transactionIndex"] as? String))
            #expect(
                try Trie.verifyProof(root: block.receiptsRoot, key: RLPItem.uint(index).encoded, proof: proof)
                    == receipt.encoded
            )
        }
    }
}
