import Foundation
import TestSupport
import Testing

/// `delong bundle publish` on the devnet: the bytes land content-addressed in the DA store and the registry
/// records the pair, read back with web3.py and recomputed with hashlib, independently of DeLong's code.
@Suite(.serialized) struct BundlePublishTests {
    static let walletKey = """
        import json, sys
        from eth_account import Account
        Account.enable_unaudited_hdwallet_features()
        acct = Account.from_mnemonic(json.load(open(sys.argv[1]))["mnemonic"], account_path="m/44'/60'/0'/0/5")
        print(acct.key.hex().removeprefix("0x"), acct.address)
        """

    static let readBack = """
        import hashlib, json, sys
        from web3 import Web3
        w3 = Web3(Web3.HTTPProvider(sys.argv[1]))
        dep = json.load(open(sys.argv[2]))
        abi = json.load(open("contrib/contracts/artifacts/AlgorithmRegistry.json"))["abi"]
        registry = w3.eth.contract(address=dep["AlgorithmRegistry"]["address"], abi=abi)
        bundle = open(sys.argv[3], "rb").read()
        runtime = bytes.fromhex(sys.argv[4])
        image = hashlib.sha256(b"delong/image/v1" + runtime + hashlib.sha256(bundle).digest()).digest()
        publisher, digest, locator = registry.functions.algorithms(image).call()
        print(json.dumps({"image": "0x" + image.hex(), "publisher": publisher, "bundle": digest.hex(),
                          "locator": locator, "bundleSha": hashlib.sha256(bundle).hexdigest()}))
        """

    @Test func publishStoresTheBytesAndRecordsTheImageAndBundleOnChain() async throws {
        let devnet = try Devnet(arguments: ["--deterministic"])
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let deployment = dir.appendingPathComponent("deployment.json")
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--out", deployment.path])
        let wallet = try ContribTool.python(Self.walletKey, [deployment.path]).split(separator: " ")
        let keyFile = dir.appendingPathComponent("wallet.key")
        try Data(wallet[0].utf8).write(to: keyFile)
        chmod(keyFile.path, 0o600)
        let bundle = dir.appendingPathComponent("algo")
        try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true)
        try Data("print('hello')\n".utf8).write(to: bundle.appendingPathComponent("main.py"))
        let runtime = String(repeating: "ab", count: 32)
        let da = dir.appendingPathComponent("da")
        let publish = [
            "bundle", "publish", bundle.path, "--da", da.path, "--rpc", devnet.url, "--contracts", deployment.path,
            "--wallet-key", keyFile.path, "--runtime", "sha256:" + runtime, "--json",
        ]

        let r = try DelongProcess.run(publish)
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(r.json, "\(r.stdout)\(r.stderr)")
        let bundleHex = try #require((json["bundleDigest"] as? String)?.dropFirst(7)).description
        let stored = da.appendingPathComponent("sha256/\(bundleHex)")
        let onChain = try #require(
            try JSONSerialization.jsonObject(
                with: Data(ContribTool.python(Self.readBack, [devnet.url, deployment.path, stored.path, runtime]).utf8)
            ) as? [String: Any]
        )
        #expect(onChain["bundleSha"] as? String == bundleHex, "the DA object is addressed by its own sha256")
        #expect(onChain["bundle"] as? String == bundleHex)
        #expect(json["imageDigest"] as? String == onChain["image"] as? String)
        #expect(
            (onChain["publisher"] as? String)?.lowercased()
                == String(wallet[1]).trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        )
        #expect(onChain["locator"] as? String == "da:sha256:\(bundleHex)?runtime=sha256:\(runtime)")
        // The stored bytes are the canonical bundle `bundle pack` writes.
        let packed = dir.appendingPathComponent("algo.tar")
        #expect(try DelongProcess.run(["bundle", "pack", bundle.path, "-o", packed.path]).status == 0)
        #expect(try Data(contentsOf: packed) == Data(contentsOf: stored))

        // The same image again: the registry refuses it before anything is sent.
        let again = try DelongProcess.run(publish)
        #expect(again.status == 1)
        #expect(again.stderr.contains("already published"), "\(again.stderr)")

        // A runtime the bundle's delong.json contradicts is bad input; nothing reaches the chain.
        try Data("{\"runtime\": \"sha256:\(String(repeating: "cd", count: 32))\"}".utf8)
            .write(to: bundle.appendingPathComponent("delong.json"))
        let contradicted = try DelongProcess.run(publish)
        #expect(contradicted.status == 2)
        #expect(contradicted.stderr.contains("delong.json names runtime"))

        // A wallet key others can read is refused.
        chmod(keyFile.path, 0o644)
        try FileManager.default.removeItem(at: bundle.appendingPathComponent("delong.json"))
        try Data("print('other')\n".utf8).write(to: bundle.appendingPathComponent("main.py"))
        #expect(try DelongProcess.run(publish).status == 4)
    }
}
