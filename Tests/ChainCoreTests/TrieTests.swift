import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct TrieTests {
    /// ethereum/tests convention: "0x…" strings are hex, others raw UTF-8; null deletes.
    static func bytes(_ v: Any?) throws -> [UInt8]? {
        guard let s = v as? String else { return nil }
        return s.hasPrefix("0x") ? try Hex.decode(s) : Array(s.utf8)
    }

    static func pairs(_ input: Any) throws -> [(key: [UInt8], value: [UInt8])] {
        if let ordered = input as? [[Any]] {
            return try ordered.map { (try bytes($0[0]) ?? [], try bytes($0[1]) ?? []) }
        }
        let map = try #require(input as? [String: Any])
        return try map.map { (try bytes($0.key) ?? [], try bytes($0.value) ?? []) }
    }

    @Test(arguments: ["trietest.json", "trieanyorder.json"])
    func plainTrieRootsMatchEthereumTests(file: String) throws {
        let tests = try #require(try TestData.json("chain/ethereum-tests/\(file)") as? [String: [String: Any]])
        for (name, test) in tests {
            var p = try Self.pairs(try #require(test["in"]))
            #expect(Trie.root(p).hex == test["root"] as? String, "\(name)")
            if file == "trieanyorder.json" {
                p.shuffle()
                #expect(Trie.root(p).hex == test["root"] as? String, "\(name) shuffled")
            }
        }
    }

    @Test(arguments: ["trietest_secureTrie.json", "trieanyorder_secureTrie.json", "hex_encoded_securetrie_test.json"])
    func secureTrieRootsMatchEthereumTests(file: String) throws {
        let tests = try #require(try TestData.json("chain/ethereum-tests/\(file)") as? [String: [String: Any]])
        for (name, test) in tests {
            // Deletions (empty values) must remove the hashed key, so resolve the sequence before hashing.
            var latest: [[UInt8]: [UInt8]] = [:]
            var order: [[UInt8]] = []
            for (k, v) in try Self.pairs(try #require(test["in"])) {
                if latest[k] == nil { order.append(k) }
                latest[k] = v
            }
            let pairs = order.map { (key: $0, value: latest[$0]!) }
            #expect(Trie.secureRoot(pairs).hex == test["root"] as? String, "\(name)")
        }
    }

    @Test func emptyTrieHasTheWellKnownRoot() {
        #expect(Trie.root([]).hex == "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
        #expect(Trie.orderedRoot([]) == .emptyTrieRoot)
    }

    /// helios verifiable_api/receipt.json: a receipt proof against mainnet block 21925176's receiptsRoot.
    @Test func mainnetReceiptProofVerifiesAndTamperingIsDetected() throws {
        let doc = try #require(try TestData.json("chain/helios/verifiable_api/receipt.json") as? [String: Any])
        let block = try #require(try TestData.json("chain/helios/rpc/block.json") as? [String: Any])
        let root = try RPCJSON.header(block).receiptsRoot
        let receiptJSON = try #require(doc["receipt"] as? [String: Any])
        let receipt = try RPCJSON.receipt(receiptJSON)
        let index = try Hex.decodeUInt64(try #require(receiptJSON["transactionIndex"] as? String))
        let proof = try (try #require(doc["receiptProof"] as? [String])).map { try Hex.decode($0) }
        let key = RLPItem.uint(index).encoded
        #expect(try Trie.verifyProof(root: root, key: key, proof: proof) == receipt.encoded)

        var tampered = proof
        tampered[tampered.count - 1][40] ^= 0x01
        #expect(throws: ChainError(.invalidProof, "")) { try Trie.verifyProof(root: root, key: key, proof: tampered) }
        #expect(throws: ChainError(.invalidProof, "")) {
            try Trie.verifyProof(root: root, key: key, proof: Array(proof.dropLast()))
        }
    }
}
