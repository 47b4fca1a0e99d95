import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct CliqueTests {
    static func goerliSigners() throws -> [Address] {
        let genesis = try #require(try TestData.json("chain/ethereumjs/goerliGethGenesis.json") as? [String: Any])
        return try Clique.signers(extraData: Hex.decode(try #require(genesis["extraData"] as? String)))
    }

    /// Goerli blocks 1–7: sealed in turn by the genesis's only signer.
    @Test func goerliGenesisSignerSealedTheFirstBlocks() throws {
        let signers = try Self.goerliSigners()
        #expect(signers.map(\.hex) == ["0xe0a2bd4258d2768837baa26a28fe71dc079f84c7"])
        let blocks = try #require(try TestData.json("chain/ethereumjs/goerliBlocks.json") as? [[String: Any]])
        for b in blocks {
            let header = try RPCJSON.header(try #require(b["header"] as? [String: Any]))
            #expect(try Clique.signer(header) == signers[0], "block \(header.number)")
            #expect(Clique.check(header, signers: signers).isEmpty, "block \(header.number)")
        }
    }

    /// Goerli 1,000,000 (pre-London) and 5,102,442 (London: the base fee is in the seal hash): our recovered
    /// signer equals py-evm's.
    @Test func laterGoerliSignersMatchPyEVM() throws {
        let script = """
            import json, sys
            from eth.consensus.clique._utils import get_block_signer
            from eth.rlp.headers import BlockHeader
            from eth.vm.forks.london.blocks import LondonBlockHeader
            d = json.load(open(sys.argv[1]))
            h = lambda k: bytes.fromhex(d[k][2:])
            q = lambda k: int(d[k], 16)
            kw = dict(parent_hash=h("parentHash"), uncles_hash=h("sha3Uncles"), coinbase=h("miner"), state_root=h("stateRoot"),
                      transaction_root=h("transactionsRoot"), receipt_root=h("receiptsRoot"), bloom=int(d["logsBloom"], 16),
                      difficulty=q("difficulty"), block_number=q("number"), gas_limit=q("gasLimit"), gas_used=q("gasUsed"),
                      timestamp=q("timestamp"), extra_data=h("extraData"), mix_hash=h("mixHash"), nonce=h("nonce"))
            header = LondonBlockHeader(base_fee_per_gas=q("baseFeePerGas"), **kw) if "baseFeePerGas" in d else BlockHeader(**kw)
            print("0x" + get_block_signer(header).hex())
            """
        for name in ["testdata-from-rpc-goerli", "testdata-from-rpc-goerli-london"] {
            let url = try TestData.url("chain/ethereumjs/\(name).json")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            let header = try RPCJSON.header(json)
            let reference = try ContribTool.python(script, [url.path]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try Clique.signer(header).hex == reference, "\(name)")
        }
    }

    @Test func forgedOrMisplacedSealsAreRefused() throws {
        let signers = try Self.goerliSigners()
        let blocks = try #require(try TestData.json("chain/ethereumjs/goerliBlocks.json") as? [[String: Any]])
        var header = try RPCJSON.header(try #require(blocks[2]["header"] as? [String: Any]))
        // Re-sealed by a key that is not a signer.
        var unsealed = header
        unsealed.extraData.removeLast(Clique.sealLength)
        let forgery = try Secp256k1.shared.sign(
            try Clique.sealHash(header),
            privateKey: Keccak256.hash(utf8: "not a signer").bytes
        )
        header.extraData = unsealed.extraData + forgery.r + forgery.s + [forgery.recoveryID]
        #expect(Clique.check(header, signers: signers).map(\.field) == ["extraData (Clique seal)"])
        // The seal covers the difficulty: claiming out-of-turn after the fact breaks the seal.
        var wrongDifficulty = try RPCJSON.header(try #require(blocks[2]["header"] as? [String: Any]))
        wrongDifficulty.difficulty = Clique.outOfTurnDifficulty
        #expect(Clique.check(wrongDifficulty, signers: signers).map(\.field) == ["extraData (Clique seal)"])
        var short = wrongDifficulty
        short.extraData = Array(short.extraData.prefix(40))
        #expect(throws: ChainError.self) { try Clique.signer(short) }
    }
}
