import ChainCore
import Foundation
import TestSupport
import Testing

/// A proxy between the node and the devnet tampers with one kind of answer; each tampering is detected,
/// the sync stops with exit 1 naming the block and field, and nothing of the tampered block is indexed.
@Suite(.serialized) struct HostileRPCTests {
    let devnet: Devnet
    let dir: URL
    let deployment: URL
    let checkpoint: String
    /// The block of the demo that holds the most DeLong events (the tampering target).
    let eventBlock: UInt64

    init() async throws {
        devnet = try Devnet(arguments: ["--deterministic"])
        dir = try DelongProcess.temporaryDirectory()
        deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--demo", "--out", deployment.path])
        let genesis = try #require(
            try await devnet.call("eth_getBlockByNumber", params: "[\"0x0\",false]") as? [String: Any]
        )
        checkpoint = "0:\(try #require(genesis["hash"] as? String))"
        // A block with a DataMarket event: the third demo transaction block is a dataset registration.
        eventBlock = 5
        try await devnet.call("anvil_mine", params: "[\"0x20\"]")
    }

    func sync(through proxy: HostileProxy, _ dataDir: String) throws -> DelongProcess.Result {
        try DelongProcess.run([
            "node", "sync", "--rpc", proxy.url, "--contracts", deployment.path, "--checkpoint", checkpoint,
            "--data-dir", dir.appendingPathComponent(dataDir).path, "--finality", "4", "--batch", "8",
        ])
    }

    func head(_ dataDir: String) throws -> Int? {
        let r = try DelongProcess.run([
            "index", "status", "--data-dir", dir.appendingPathComponent(dataDir).path, "--json",
        ])
        return ((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any]).flatMap {
            ($0["head"] as? [String: Any])?["number"] as? Int
        }
    }

    @Test func anHonestProxyChangesNothing() throws {
        let proxy = try HostileProxy(upstream: devnet.url, mode: "honest")
        #expect(try sync(through: proxy, "honest").status == 0)
    }

    @Test(arguments: [("header-field", "hash"), ("receipt-log", "receiptsRoot"), ("drop-receipt", "receiptsRoot")])
    func tamperingIsDetectedBeforeTheBlockIsIndexed(mode: String, field: String) throws {
        let proxy = try HostileProxy(upstream: devnet.url, mode: mode, block: eventBlock)
        let r = try sync(through: proxy, mode)
        #expect(r.status == 1, "\(mode): \(r.stderr)")
        #expect(r.stderr.contains("block \(eventBlock)") && r.stderr.contains(field), "\(mode): \(r.stderr)")
        let indexed = try #require(try head(mode))
        #expect(indexed < Int(eventBlock), "\(mode): the index stopped before the tampered block")
    }

    /// A self-consistent forged header (hash recomputed) cannot be told from a real one alone; its child,
    /// served with it, does not link to it, so the sync stops there.
    @Test func aRehashedForgedHeaderFailsToLinkWithItsChild() throws {
        let proxy = try HostileProxy(upstream: devnet.url, mode: "header-rehash", block: eventBlock)
        let r = try sync(through: proxy, "rehash")
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("block \(eventBlock + 1)") && r.stderr.contains("parentHash"), "\(r.stderr)")
        #expect(try #require(try head("rehash")) < Int(eventBlock))
    }

    @Test func aTamperedAccountProofIsRejected() throws {
        let proxy = try HostileProxy(upstream: devnet.url, mode: "proof-node")
        let market = try #require(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: deployment)) as? [String: Any])?["DataMarket"]
                as? [String: Any]
        )
        let r = try DelongProcess.run([
            "chain", "verify-rpc", "--rpc", proxy.url, "--account", try #require(market["address"] as? String),
        ])
        #expect(r.status == 1, "\(r.stderr)")
        #expect((r.json?["failures"] as? [String])?.first?.contains("account") == true)
    }
}

/// A Clique devnet: the node checks every seal against the signer set of the genesis checkpoint.
@Suite(.serialized) struct CliqueSyncTests {
    @Test func cliqueSealsVerifyAndAForgedSealIsRefused() async throws {
        let devnet = try Devnet(arguments: ["--fork", "london", "--clique", "--deterministic"])
        let dir = try DelongProcess.temporaryDirectory()
        let deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--demo", "--out", deployment.path])
        try await devnet.call("anvil_mine", params: "[\"0x10\"]")
        let genesis = try #require(
            try await devnet.call("eth_getBlockByNumber", params: "[\"0x0\",false]") as? [String: Any]
        )
        let checkpoint = "0:\(try #require(genesis["hash"] as? String))"
        func sync(_ url: String, _ dataDir: String) throws -> DelongProcess.Result {
            try DelongProcess.run([
                "node", "sync", "--rpc", url, "--contracts", deployment.path, "--checkpoint", checkpoint, "--seal",
                "clique",
                "--data-dir", dir.appendingPathComponent(dataDir).path, "--finality", "4", "--batch", "8",
            ])
        }
        let honest = try sync(devnet.url, "honest")
        #expect(honest.status == 0, "\(honest.stderr)")
        let proxy = try HostileProxy(upstream: devnet.url, mode: "clique-forge", block: 6)
        let forged = try sync(proxy.url, "forged")
        #expect(forged.status == 1)
        #expect(forged.stderr.contains("block 6") && forged.stderr.contains("Clique seal"), "\(forged.stderr)")
    }
}

extension HostileRPCTests {
    func sync(_ endpoints: [String], quorum: Int, _ dataDir: String) throws -> DelongProcess.Result {
        try DelongProcess.run([
            "node", "sync", "--rpc", endpoints.joined(separator: ","), "--quorum", "\(quorum)", "--timeout", "2",
            "--contracts", deployment.path, "--checkpoint", checkpoint,
            "--data-dir", dir.appendingPathComponent(dataDir).path, "--finality", "4", "--batch", "8",
        ])
    }

    @Test func anUnreachableEndpointIsSkippedForTheNext() throws {
        let r = try sync(["http://127.0.0.1:9", devnet.url], quorum: 1, "failover")
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// A hostile primary of three endpoints cannot stop the sync: whether it serves blocks that do not verify,
    /// is outvoted by the other two, answers with JSON-RPC errors or with bytes that are not JSON, it is
    /// demoted and the sync reaches the chain head from the others.
    @Test(arguments: [
        ("receipt-log", 1), ("receipt-log", 2), ("header-field", 1), ("header-rehash", 2), ("rpc-error", 1),
        ("malformed", 2),
    ])
    func aHostilePrimaryIsDemotedAndSyncReachesTheHead(mode: String, quorum: Int) async throws {
        let hostile = try HostileProxy(upstream: devnet.url, mode: mode, block: eventBlock)
        let honest = try HostileProxy(upstream: devnet.url, mode: "honest")
        let dataDir = "primary-\(mode)-\(quorum)"
        let r = try sync([hostile.url, devnet.url, honest.url], quorum: quorum, dataDir)
        #expect(r.status == 0, "\(mode) quorum \(quorum): \(r.stderr)")
        let chainHead = try Hex.decodeUInt64(try #require(try await devnet.call("eth_blockNumber") as? String))
        #expect(try head(dataDir) == Int(chainHead), "\(mode) quorum \(quorum)")
    }

    @Test func aQuorumDetectsAnEndpointServingAnotherChain() throws {
        let forger = try HostileProxy(upstream: devnet.url, mode: "header-rehash", block: eventBlock)
        let honest = try HostileProxy(upstream: devnet.url, mode: "honest")
        // Two of two must agree: the forger breaks the quorum at the forged block.
        let split = try sync([devnet.url, forger.url], quorum: 2, "split")
        #expect(split.status == 1)
        #expect(split.stderr.contains("block \(eventBlock)") && split.stderr.contains("quorum"), "\(split.stderr)")
        // Two of three: the forger is outvoted and demoted, the sync completes.
        let outvoted = try sync([devnet.url, forger.url, honest.url], quorum: 2, "outvoted")
        #expect(outvoted.status == 0, "\(outvoted.stderr)")
    }
}
