import ChainCore
import Foundation
import TestSupport
import Testing

/// Any chain user can send values that do not fit the obvious Swift types: those values are indexed, never a
/// reason to stop. Driven through web3.py as a user would, then synced with the pinned command form.
@Suite(.serialized) struct HostileValueTests {
    /// Account 7 registers a free dataset and account 8 rents it for 2**64 seconds and extends by 2**64 more;
    /// raw calldata (Vyper does not check UTF-8) registers a dataset and publishes an algorithm with strings
    /// that are not UTF-8, one at the contract's 256-byte bound; then an ordinary registration follows.
    static let userActivity = """
        import json, sys
        from web3 import Web3
        from eth_abi import encode
        from eth_account import Account
        from eth_utils import keccak
        w3 = Web3(Web3.HTTPProvider(sys.argv[1]))
        dep = json.load(open(sys.argv[2]))
        Account.enable_unaudited_hdwallet_features()
        key = lambda i: Account.from_mnemonic(dep["mnemonic"], account_path=f"m/44'/60'/0'/0/{i}")
        provider, consumer = key(7), key(8)
        art = lambda n: json.load(open(f"contrib/contracts/artifacts/{n}.json"))["abi"]
        market = w3.eth.contract(address=dep["DataMarket"]["address"], abi=art("DataMarket"))
        registry = w3.eth.contract(address=dep["AlgorithmRegistry"]["address"], abi=art("AlgorithmRegistry"))
        def send(acct, to, data, value=0):
            tx = {"from": acct.address, "to": to, "data": data, "value": value, "chainId": w3.eth.chain_id,
                  "nonce": w3.eth.get_transaction_count(acct.address, "pending")}
            tx["gas"] = w3.eth.estimate_gas(tx) * 2
            tx["maxPriorityFeePerGas"] = w3.eth.max_priority_fee
            tx["maxFeePerGas"] = 2 * w3.eth.get_block("latest").baseFeePerGas + tx["maxPriorityFeePerGas"]
            r = w3.eth.wait_for_transaction_receipt(
                w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction), timeout=60)
            assert r.status == 1, r
            return r
        call = lambda fn: fn._encode_transaction_data()
        raw = lambda sig, types, values: keccak(text=sig)[:4] + encode(types, values)
        free, odd, plain = (keccak(text=f"hostile/{n}") for n in ("free", "odd", "plain"))
        send(provider, market.address, call(market.functions.registerDataset(free, keccak(text="m"), 0, "s", "u")))
        send(consumer, market.address, call(market.functions.rent(free, 2**64)))
        send(consumer, market.address, call(market.functions.extend(free, 2**64)))
        not_utf8, long_odd = b"\\xff\\xfe", b"\\xc3" * 256
        send(provider, market.address, raw("registerDataset(bytes32,bytes32,uint256,string,string)",
             ["bytes32", "bytes32", "uint256", "bytes", "bytes"], [odd, keccak(text="m2"), 5, not_utf8, long_odd]))
        image = keccak(text="hostile/image")
        send(provider, registry.address, raw("publish(bytes32,bytes32,string)",
             ["bytes32", "bytes32", "bytes"], [image, keccak(text="bundle"), not_utf8]))
        send(provider, market.address, call(market.functions.registerDataset(plain, keccak(text="m3"), 1, "p", "q")))
        started, expires, escrow, settled = market.functions.rentals(free, consumer.address).call()
        hexs = lambda b: "0x" + b.hex()
        print(json.dumps({"free": hexs(free), "odd": hexs(odd), "plain": hexs(plain), "image": hexs(image),
                          "consumer": consumer.address, "startedAt": str(started), "expiresAt": str(expires),
                          "notUTF8": hexs(not_utf8), "longOdd": hexs(long_odd), "head": w3.eth.block_number}))
        """

    @Test func valuesAnyUserCanEmitNeverHaltSyncAndAreIndexedExactly() async throws {
        let devnet = try Devnet(arguments: ["--deterministic"])
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--out", deployment.path])
        let activity = try #require(
            try JSONSerialization.jsonObject(
                with: Data(ContribTool.python(Self.userActivity, [devnet.url, deployment.path]).utf8)
            ) as? [String: Any]
        )
        let expires = try #require(activity["expiresAt"] as? String)
        #expect(try U256(decimal: expires) > U256(UInt64.max), "the rental ends past 2^64 seconds")
        let genesis = try #require(
            try await devnet.call("eth_getBlockByNumber", params: "[\"0x0\",false]") as? [String: Any]
        )
        let data = dir.appendingPathComponent("index").path
        // The pinned command form, unchanged.
        let r = try DelongProcess.run([
            "node", "sync", "--rpc", devnet.url, "--contracts", deployment.path,
            "--checkpoint", "0:\(try #require(genesis["hash"] as? String))", "--data-dir", data, "--finality", "2",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        func index(_ arguments: [String]) throws -> DelongProcess.Result {
            try DelongProcess.run(["index"] + arguments + ["--data-dir", data, "--json"])
        }
        let status = try index(["status"])
        #expect((status.json?["head"] as? [String: Any])?["number"] as? Int == activity["head"] as? Int)

        let rentals = try index(["rentals", "--dataset", try #require(activity["free"] as? String)])
        #expect(rentals.status == 0, "\(rentals.stderr)")
        let rental = try #require(
            (try JSONSerialization.jsonObject(with: Data(rentals.stdout.utf8)) as? [[String: Any]])?.first
        )
        #expect(rental["expiresAtExact"] as? String == expires)
        #expect(rental["startedAtExact"] as? String == activity["startedAt"] as? String)
        #expect(rental["status"] as? String == "active")

        let odd = try index(["dataset", try #require(activity["odd"] as? String)])
        #expect(odd.status == 0, "\(odd.stderr)")
        #expect(odd.json?["sampleLocatorHex"] as? String == activity["notUTF8"] as? String)
        #expect(odd.json?["metadataURIHex"] as? String == activity["longOdd"] as? String)
        #expect(odd.json?["sampleLocator"] as? String == "\u{FFFD}\u{FFFD}")

        let algorithm = try index(["algorithm", try #require(activity["image"] as? String)])
        #expect(algorithm.status == 0, "\(algorithm.stderr)")
        #expect(algorithm.json?["daLocatorHex"] as? String == activity["notUTF8"] as? String)

        let plain = try index(["dataset", try #require(activity["plain"] as? String)])
        #expect(plain.status == 0, "the ordinary registration after the odd values is indexed: \(plain.stderr)")
        #expect(plain.json?["sampleLocator"] as? String == "p")
    }
}
