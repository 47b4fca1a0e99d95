public import ChainCore
import Foundation

/// Decoded fixtures shared by several suites.
public enum ChainFixtures {
    /// Blocks 1…54 of the execution-apis hive chain (Frontier through Osaka and BPO forks).
    public static func hiveBlocks() throws -> [Block] {
        let bytes = [UInt8](try TestData.data("chain/execution-apis/chain.rlp"))
        return try RLPItem.decodeSequence(bytes).map { try Block(rlp: $0) }
    }

    /// The hive chain's genesis header (from the debug_getRawHeader transcript).
    public static func hiveGenesis() throws -> Header {
        guard let hex = try TestData.rpcResult("chain/execution-apis/debug_getRawHeader/get-genesis.io") as? String
        else {
            throw ChainError(.invalidJSON, "genesis transcript has no result")
        }
        return try Header(encoded: Hex.decode(hex))
    }

    /// The hive chain's fork schedule.
    public static func hiveSpec() throws -> ChainSpec {
        let genesis = try TestData.json("chain/execution-apis/genesis.json") as? [String: Any]
        return try ChainSpec(gethConfig: genesis?["config"] as? [String: Any] ?? [:])
    }
}
