import ChainCore
import Foundation
import TestSupport
import Testing

/// `delong chain verify-rpc` against the real devnet (py-evm behind JSON-RPC).
@Suite(.serialized) struct ChainVerifyRPCTests {
    @Test func devnetBlocksAndAccountsVerify() async throws {
        let devnet = try Devnet()
        try await devnet.call("anvil_mine", params: "[\"0x10\"]")
        let r = try DelongProcess.run([
            "chain", "verify-rpc", "--rpc", devnet.url,
            "--account", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "--account", "0x000000000000000000000000000000000000dEaD",
        ])
        #expect(r.status == 0, "\(r.stderr)\(r.stdout)")
        let json = try #require(r.json)
        #expect(json["blocks"] as? Int == 17)
        let accounts = try #require(json["accounts"] as? [[String: Any]])
        #expect(accounts.map { $0["exists"] as? Bool } == [true, false])
        #expect(accounts.allSatisfy { $0["valid"] as? Bool == true })
    }

    @Test func anUnreachableEndpointExitsThreeAndABadURLIsAUsageError() throws {
        var r = try DelongProcess.run(["chain", "verify-rpc", "--rpc", "http://127.0.0.1:9", "--timeout", "2"])
        #expect(r.status == 3, "\(r.stderr)")
        r = try DelongProcess.run(["chain", "verify-rpc", "--rpc", "ftp://example"])
        #expect(r.status == 64 && r.stderr.contains("http://"), "\(r.status) \(r.stderr)")
    }
}
