import ChainCore
import Foundation
import TestSupport
import Testing

/// Where the chain id comes from, and when one RPC endpoint may be trusted alone.
@Suite(.serialized) struct TrustConfigTests {
    /// A devnet with another chain id than the devnet's 31337 (as a testnet would have).
    let devnet: Devnet
    let dir: URL
    let deployment: URL
    let checkpoint: String

    init() async throws {
        devnet = try Devnet(arguments: ["--deterministic", "--chain-id", "1337"])
        dir = try DelongProcess.temporaryDirectory()
        deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--out", deployment.path])
        let genesis = try #require(
            try await devnet.call("eth_getBlockByNumber", params: "[\"0x0\",false]") as? [String: Any]
        )
        checkpoint = "0:\(try #require(genesis["hash"] as? String))"
    }

    func run(_ command: String, rpc: [String], _ dataDir: String, _ extra: [String] = []) throws -> DelongProcess.Result
    {
        try DelongProcess.run(
            [
                "node", command, "--rpc", rpc.joined(separator: ","), "--contracts", deployment.path,
                "--checkpoint", checkpoint, "--data-dir", dir.appendingPathComponent(dataDir).path, "--finality", "2",
            ] + extra
        )
    }

    @Test func deploymentFileCarriesTheChainID() throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: deployment)) as? [String: Any]
        #expect(json?["chainId"] as? Int == 1337)
    }

    /// `--seal none` with one endpoint off the devnet is refused by `node sync` and `node run` (exit 2, saying
    /// why), and accepted with --trust-single-rpc or with a quorum of two endpoints.
    @Test func oneUnsealedEndpointIsTrustedOnlyOnTheDevnetOrWhenAsked() throws {
        for command in ["sync", "run"] {
            let extra = command == "run" ? ["--listen", "127.0.0.1:0"] : []
            let refused = try run(command, rpc: [devnet.url], "refused-\(command)", extra)
            #expect(refused.status == 2, "\(command): \(refused.stderr)")
            #expect(
                refused.stderr.contains("--trust-single-rpc") && refused.stderr.contains("invent blocks"),
                "\(command): \(refused.stderr)"
            )
        }
        let trusted = try run("sync", rpc: [devnet.url], "trusted", ["--trust-single-rpc"])
        #expect(trusted.status == 0, "\(trusted.stderr)")
        let honest = try HostileProxy(upstream: devnet.url, mode: "honest")
        let quorum = try run("sync", rpc: [devnet.url, honest.url], "quorum", ["--quorum", "2"])
        #expect(quorum.status == 0, "\(quorum.stderr)")
    }

    /// The chain id is configuration (`--chain-id`, else the deployment file); an endpoint serving another is
    /// refused with exit 1, naming both ids.
    @Test func anEndpointOfAnotherChainIDIsRefused() throws {
        let r = try run("sync", rpc: [devnet.url], "other", ["--chain-id", "5", "--trust-single-rpc"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("eth_chainId: expected 5 (configured), found 1337"), "\(r.stderr)")
        // A secret in the URL's path or query never reaches the message.
        let keyed = devnet.url + "/v3/SECRETKEY?apikey=SECRET"
        let redacted = try run("sync", rpc: [keyed], "keyed", ["--chain-id", "5", "--trust-single-rpc"])
        #expect(!redacted.stderr.contains("SECRET"), "\(redacted.stderr)")
    }

    /// L5: the indexed head's header must be served as indexed; one served with another hash fails the pass
    /// (before, the parent checks of the next block were silently skipped).
    @Test func aWrongParentHeaderFailsThePass() async throws {
        let first = try run("sync", rpc: [devnet.url], "parent", ["--trust-single-rpc"])
        #expect(first.status == 0, "\(first.stderr)")
        let head = try Hex.decodeUInt64(try #require(try await devnet.call("eth_blockNumber") as? String))
        try await devnet.call("anvil_mine", params: "[\"0x3\"]")
        let proxy = try HostileProxy(upstream: devnet.url, mode: "header-field", block: head)
        let r = try run("sync", rpc: [proxy.url], "parent", ["--trust-single-rpc"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("block \(head)") && r.stderr.contains("parent header"), "\(r.stderr)")
    }
}
