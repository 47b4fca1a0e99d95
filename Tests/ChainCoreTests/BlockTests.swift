import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct HiveChainTests {
    /// chain.rlp: every header links to its parent by hash, and every body matches its header's commitments.
    @Test func everyBlockLinksAndMatchesItsCommitments() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        #expect(blocks.count == 54)
        var parentHash = try ChainFixtures.hiveGenesis().hash
        var txTypes: [UInt8: Int] = [:]
        for block in blocks {
            let h = block.header
            #expect(h.parentHash == parentHash, "block \(h.number) parent link")
            #expect(block.computedTransactionsRoot == h.transactionsRoot, "block \(h.number) transactionsRoot")
            #expect(block.computedOmmersHash == h.ommersHash, "block \(h.number) ommersHash")
            #expect(block.computedWithdrawalsRoot == h.withdrawalsRoot, "block \(h.number) withdrawalsRoot")
            for tx in block.transactions { txTypes[tx.type, default: 0] += 1 }
            parentHash = h.hash
        }
        #expect(txTypes == [0: 196, 1: 23, 2: 23, 3: 6, 4: 1])
        // headfcu.json names the head.
        let fcu = try #require(try TestData.json("chain/execution-apis/headfcu.json") as? [String: Any])
        let params = try #require((fcu["params"] as? [Any])?.first as? [String: Any])
        #expect(params["headBlockHash"] as? String == parentHash.hex)
    }

    @Test func headerFieldCountsCoverEveryFork() throws {
        let counts = Set(
            try ChainFixtures.hiveBlocks().map {
                $0.header.rlp.encodedLength > 0 ? (try $0.header.rlp.list().count) : 0
            }
        )
        #expect(counts == [15, 16, 17, 20, 21])
    }

    /// Each header passes the parent-only checks; each forged field is caught.
    @Test func parentChecksPassOnTheRealChainAndCatchForgeries() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        let spec = try ChainFixtures.hiveSpec()
        var parent = try ChainFixtures.hiveGenesis()
        for block in blocks {
            let failures = HeaderChecks.check(block.header, parent: parent, parentHash: parent.hash, spec: spec)
            #expect(failures.isEmpty, "block \(block.header.number): \(failures)")
            parent = block.header
        }
        let (p, child) = (blocks[40].header, blocks[41].header)
        var forged = child
        forged.baseFeePerGas = child.baseFeePerGas.map { $0 + U256(1) }
        #expect(HeaderChecks.check(forged, parent: p, parentHash: p.hash, spec: spec).map(\.field) == ["baseFeePerGas"])
        forged = child
        forged.excessBlobGas = (child.excessBlobGas ?? 0) + 1
        #expect(HeaderChecks.check(forged, parent: p, parentHash: p.hash, spec: spec).map(\.field) == ["excessBlobGas"])
        forged = child
        forged.gasLimit = p.gasLimit + p.gasLimit / 1024
        #expect(
            HeaderChecks.check(forged, parent: p, parentHash: p.hash, spec: spec).contains { $0.field == "gasLimit" }
        )
        forged = child
        forged.timestamp = p.timestamp
        #expect(
            HeaderChecks.check(forged, parent: p, parentHash: p.hash, spec: spec).contains { $0.field == "timestamp" }
        )
        #expect(HeaderChecks.check(child, parent: p, parentHash: .zero, spec: spec).map(\.field) == ["parentHash"])
    }

    @Test func everyTransactionSenderRecovers() throws {
        for block in try ChainFixtures.hiveBlocks() {
            for tx in block.transactions {
                _ = try tx.sender()
                #expect(try Transaction(encoded: tx.encoded) == tx)
            }
        }
    }

    /// debug_getRawReceipts for block 3: the ordered trie of the raw receipts is block 3's receiptsRoot.
    @Test func rawReceiptsMatchReceiptsRootAndBloom() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        let raw = try #require(
            try TestData.rpcResult("chain/execution-apis/debug_getRawReceipts/get-block-n.io") as? [String]
        )
        let receipts = try raw.map { try Receipt(encoded: Hex.decode($0)) }
        #expect(receipts.map(\.encoded.hex) == raw)
        #expect(Receipts.root(receipts) == blocks[2].header.receiptsRoot)
        #expect(Receipts.bloom(receipts) == blocks[2].header.logsBloom)
    }

    /// eth_getBlockReceipts transcripts: the JSON receipts rebuild the receiptsRoot of their block.
    @Test func jsonBlockReceiptsRebuildReceiptsRoots() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        var checked = 0
        for file in try TestData.files(in: "chain/execution-apis/eth_getBlockReceipts") {
            guard
                let result = try TestData.rpcResult("chain/execution-apis/eth_getBlockReceipts/\(file)")
                    as? [[String: Any]],
                let first = result.first, let numberHex = first["blockNumber"] as? String
            else { continue }
            let number = try Hex.decodeUInt64(numberHex)
            let header = try #require(number == 0 ? nil : blocks[Int(number) - 1].header)
            let receipts = try result.map(RPCJSON.receipt)
            #expect(Receipts.root(receipts) == header.receiptsRoot, "\(file)")
            #expect(Receipts.bloom(receipts) == header.logsBloom, "\(file)")
            checked += 1
        }
        #expect(checked >= 3)
    }

    /// eth_getBlockByNumber/ByHash transcripts (first blocks of London, Merge, Shanghai, Cancun, Prague…):
    /// the JSON header hashes to the given hash and equals the chain.rlp header.
    @Test func jsonHeadersHashToTheirHashAndMatchChainRLP() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        var checked = 0
        for dir in ["eth_getBlockByNumber", "eth_getBlockByHash"] {
            for file in try TestData.files(in: "chain/execution-apis/\(dir)") {
                guard let json = try TestData.rpcResult("chain/execution-apis/\(dir)/\(file)") as? [String: Any] else {
                    continue
                }
                let header = try RPCJSON.header(json)
                #expect(header.hash.hex == json["hash"] as? String, "\(dir)/\(file)")
                if header.number > 0 { #expect(header == blocks[Int(header.number) - 1].header, "\(file)") }
                checked += 1
            }
        }
        #expect(checked >= 8)
    }

    @Test func rawBlockAndRawHeaderTranscriptsDecode() throws {
        let blocks = try ChainFixtures.hiveBlocks()
        let rawBlock = try #require(
            try TestData.rpcResult("chain/execution-apis/debug_getRawBlock/get-block-n.io") as? String
        )
        let block = try Block(encoded: Hex.decode(rawBlock))
        #expect(block == blocks[Int(block.header.number) - 1])
        let rawHeader = try #require(
            try TestData.rpcResult("chain/execution-apis/debug_getRawHeader/get-block-n.io") as? String
        )
        let header = try Header(encoded: Hex.decode(rawHeader))
        #expect(header == blocks[Int(header.number) - 1].header)
        #expect(try TestData.rpcResult("chain/execution-apis/debug_getRawBlock/get-invalid-number.io") == nil)
    }
}

@Suite struct RealBlockTests {
    /// JSON blocks from mainnet and testnets (ethereumjs test data): hash, transaction hashes and roots.
    @Test(arguments: [
        "alchemy14151203", "infura2000004withTransactions", "infura15571241withTransactions",
        "infura-goerli-block-10536893", "testdata-from-rpc-goerli", "testdata-from-rpc-goerli-london",
        "testdata-from-rpc-with-withdrawals", "testdata-from-rpc-with-uncles",
        "testdata-from-rpc-with-uncles_uncle-block-data",
    ])
    func jsonBlockHashesAndRootsMatch(name: String) throws {
        let json = try #require(try TestData.json("chain/ethereumjs/\(name).json") as? [String: Any])
        let header = try RPCJSON.header(json)
        #expect(header.hash.hex == json["hash"] as? String)
        if let txs = json["transactions"] as? [[String: Any]] {
            let decoded = try txs.map(RPCJSON.transaction)
            for (tx, j) in zip(decoded, txs) {
                #expect(tx.hash.hex == j["hash"] as? String, "\(name) tx \(j["hash"] ?? "")")
            }
            #expect(Trie.orderedRoot(decoded.map(\.encoded)) == header.transactionsRoot)
            for (tx, j) in zip(decoded, txs) { #expect(try tx.sender().hex == (j["from"] as? String)?.lowercased()) }
        }
        if let withdrawals = json["withdrawals"] as? [[String: Any]] {
            #expect(Trie.orderedRoot(try withdrawals.map(RPCJSON.withdrawal).map(\.encoded)) == header.withdrawalsRoot)
        }
    }

    @Test func uncleHashCommitsToTheUncleHeader() throws {
        let block = try #require(
            try TestData.json("chain/ethereumjs/testdata-from-rpc-with-uncles.json") as? [String: Any]
        )
        let uncle = try #require(
            try TestData.json("chain/ethereumjs/testdata-from-rpc-with-uncles_uncle-block-data.json") as? [String: Any]
        )
        let b = try RPCJSON.header(block)
        let u = try RPCJSON.header(uncle)
        #expect(Keccak256.hash(RLPItem.list([u.rlp]).encoded) == b.ommersHash)
    }

    /// Mainnet and Goerli blocks 1…n (BlockData layout, no hash given): each links to the previous hash.
    @Test(arguments: [
        ("mainnetBlocks", "0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"),
        ("goerliBlocks", "0xbf7e331f7f7c1dd2e05159666b3bf8bc7a8a3a9eb1d518969eab529dd9b88c1a"),
    ])
    func blockDataChainsLink(name: String, genesis: String) throws {
        let blocks = try #require(try TestData.json("chain/ethereumjs/\(name).json") as? [[String: Any]])
        var parent = genesis
        for b in blocks {
            let header = try RPCJSON.header(try #require(b["header"] as? [String: Any]))
            #expect(header.parentHash.hex == parent, "\(name) block \(header.number)")
            parent = header.hash.hex
        }
    }

    /// helios: mainnet block 21925176 (Cancun) with its 202 receipts.
    @Test func mainnetCancunBlockReceiptsRootAndBloom() throws {
        let block = try #require(try TestData.json("chain/helios/rpc/block.json") as? [String: Any])
        let header = try RPCJSON.header(block)
        #expect(header.hash.hex == block["hash"] as? String)
        let receipts = try (try #require(try TestData.json("chain/helios/rpc/receipts.json") as? [[String: Any]])).map(
            RPCJSON.receipt
        )
        #expect(receipts.count == 202)
        #expect(Receipts.root(receipts) == header.receiptsRoot)
        #expect(Receipts.bloom(receipts) == header.logsBloom)
        for r in receipts { #expect(Bloom(logs: r.logs) == r.logsBloom) }
        let withdrawals = try (try #require(block["withdrawals"] as? [[String: Any]])).map(RPCJSON.withdrawal)
        #expect(Trie.orderedRoot(withdrawals.map(\.encoded)) == header.withdrawalsRoot)
    }

    /// ethereum/tests BasicTests/genesishashestest.json: mainnet genesis.
    @Test func mainnetGenesisHash() throws {
        let test = try #require(try TestData.json("chain/ethereum-tests/genesishashestest.json") as? [String: Any])
        let rlp = try Hex.decode(try #require(test["genesis_rlp_hex"] as? String))
        let block = try Block(encoded: rlp)
        #expect(
            block.header.hash.hex.dropFirst(2)
                == (test["genesis_hash"] as? String ?? "").replacingOccurrences(of: "0x", with: "")
        )
    }
}
