import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct AccountProofTests {
    static func proof(_ path: String) throws -> UnverifiedAccountProof {
        let json = try #require(try TestData.json(path) as? [String: Any])
        return try UnverifiedAccountProof(json: json)
    }

    static func rootOfFirstNode(_ p: UnverifiedAccountProof) -> Hash32 { Keccak256.hash(p.accountProof[0]) }

    /// helios: the deposit contract with one storage slot, at mainnet block 21925176.
    @Test func mainnetDepositContractProofVerifiesAgainstTheBlockStateRoot() throws {
        let block = try #require(try TestData.json("chain/helios/rpc/block.json") as? [String: Any])
        let stateRoot = try RPCJSON.header(block).stateRoot
        let verdict = try Self.proof("chain/helios/rpc/proof.json").verify(stateRoot: stateRoot)
        #expect(verdict.valid, "\(verdict.accountReason ?? "") \(verdict.slots.map { $0.reason ?? "" })")
        #expect(verdict.accountExists)
        #expect(verdict.slots.count == 1)
        let miner = try Self.proof("chain/helios/rpc/block_miner_proof.json").verify(stateRoot: stateRoot)
        #expect(miner.valid, "\(miner.accountReason ?? "")")
    }

    /// ethereumjs Ropsten: existing account, absent account (exclusion proof), contract with a zero slot.
    @Test(arguments: ["ropsten_validAccount", "ropsten_nonexistentAccount", "ropsten_contractWithStorage"])
    func ropstenProofsVerify(name: String) throws {
        let p = try Self.proof("chain/ethereumjs/\(name).json")
        let verdict = p.verify(stateRoot: Self.rootOfFirstNode(p))
        #expect(verdict.valid, "\(verdict.accountReason ?? "") \(verdict.slots.map { $0.reason ?? "" })")
        #expect(verdict.accountExists == (name != "ropsten_nonexistentAccount"))
    }

    /// execution-apis: proofs at the hive chain's head (block 54 of chain.rlp).
    @Test(arguments: [
        "get-account-proof-blockhash", "get-account-proof-default-block", "get-account-proof-latest",
        "get-account-proof-with-storage",
    ])
    func hiveChainProofsVerifyAgainstBlock54(name: String) throws {
        let blocks = try ChainFixtures.hiveBlocks()
        let head = try #require(blocks.last)
        #expect(head.header.number == 54)
        let json = try #require(
            try TestData.rpcResult("chain/execution-apis/eth_getProof/\(name).io") as? [String: Any]
        )
        let verdict = try UnverifiedAccountProof(json: json).verify(stateRoot: head.header.stateRoot)
        #expect(verdict.valid, "\(verdict.accountReason ?? "") \(verdict.slots.map { $0.reason ?? "" })")
    }

    @Test func claimsThatDifferFromTheProofAreRejected() throws {
        var p = try Self.proof("chain/helios/rpc/proof.json")
        let block = try #require(try TestData.json("chain/helios/rpc/block.json") as? [String: Any])
        let root = try RPCJSON.header(block).stateRoot
        let balance = p.balance
        p.balance = balance + U256(1)
        #expect(!p.verify(stateRoot: root).accountValid)
        p.balance = balance
        p.storage[0].value = p.storage[0].value + U256(1)
        let verdict = p.verify(stateRoot: root)
        #expect(verdict.accountValid && !verdict.slots[0].valid)
        #expect(!p.verify(stateRoot: Hash32.zero).accountValid)
    }
}
