import Foundation
import TestSupport
import Testing

/// `delong privacy serve` refuses risky configurations before it serves: the insecure development evidence on a
/// chain that is not the devnet (unless the chain id is named), and a `file:` root secret that does not exist
/// (unless `--create-root-secret` asks for a new one).
@Suite(.serialized) struct PrivacyServeOptionsTests {
    // The devnet's account 1, AlgorithmRegistry's privacy signer after `deploy`.
    static let privacySignerKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

    /// A deployed devnet (with `devnetArguments`) and the `privacy serve` arguments for it, without the options
    /// under test. The endpoint twice (by address and by name) with quorum 2, so no single-RPC rule stands in the
    /// way of what is under test.
    func setUp(_ devnetArguments: [String] = []) throws -> (devnet: Devnet, dir: URL, arguments: [String]) {
        let devnet = try Devnet(arguments: devnetArguments)
        let dir = try DelongProcess.temporaryDirectory()
        let deployment = dir.appendingPathComponent("deployment.json").path
        try ContribTool.run(["contrib/contracts/deploy", "--rpc", devnet.url, "--out", deployment])
        let keyFile = dir.appendingPathComponent("signing.key").path
        _ = FileManager.default.createFile(
            atPath: keyFile,
            contents: Data(Self.privacySignerKey.utf8),
            attributes: [.posixPermissions: 0o600]
        )
        let genesis = try devnet.genesisHash()
        let arguments = [
            "privacy", "serve", "--rpc",
            "\(devnet.url),\(devnet.url.replacingOccurrences(of: "127.0.0.1", with: "localhost"))",
            "--quorum", "2", "--contracts", deployment,
            "--checkpoint", "0:\(genesis)", "--data-dir", dir.appendingPathComponent("data").path, "--finality", "1",
            "--signing-key", keyFile, "--domain", "delong.test", "--listen", "127.0.0.1:0",
        ]
        return (devnet, dir, arguments)
    }

    @Test func developmentEvidenceIsRefusedOnAChainThatIsNotTheDevnetUnlessItsIdIsNamed() throws {
        let (devnet, dir, base) = try setUp(["--chain-id", "5151"])
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = devnet
        let arguments =
            base + [
                "--root-secret", "file:" + dir.appendingPathComponent("root.key").path, "--create-root-secret",
                "--allow-insecure-development-evidence",
            ]
        let refused = try DelongProcess.run(arguments)
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("refused on chain id 5151, which is not the devnet (31337)"),
            "\(refused.stderr)"
        )
        #expect(refused.stderr.contains("--allow-insecure-development-evidence-on-chain 5151"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("root.key").path))

        let otherChain = try DelongProcess.run(arguments + ["--allow-insecure-development-evidence-on-chain", "1"])
        #expect(otherChain.status == 2, "\(otherChain.stderr)")
        #expect(otherChain.stderr.contains("the configured chain id is 5151"), "\(otherChain.stderr)")

        let alone = try DelongProcess.run(
            Array(arguments.dropLast()) + ["--allow-insecure-development-evidence-on-chain", "5151"]
        )
        #expect(alone.status == 64 || alone.status == 2, "\(alone.stderr)")
        #expect(alone.stderr.contains("expected --allow-insecure-development-evidence too"), "\(alone.stderr)")

        // Off the devnet, TLS needs the operator's pair or an explicit self-signed one.
        let noTLS = try DelongProcess.run(arguments + ["--allow-insecure-development-evidence-on-chain", "5151"])
        #expect(noTLS.status == 2, "\(noTLS.stderr)")
        #expect(noTLS.stderr.contains("TLS needs --tls-cert and --tls-key on chain id 5151"), "\(noTLS.stderr)")

        // Naming the chain id (and how TLS is set up) starts the plane.
        let named = try ReadyService(
            DelongProcess.executable.path,
            arguments + ["--allow-insecure-development-evidence-on-chain", "5151", "--tls-self-signed"]
        )
        #expect(named.url.hasPrefix("https://127.0.0.1:"))
    }

    @Test func aMissingFileRootSecretIsCreatedOnlyWithCreateRootSecret() throws {
        let (devnet, dir, base) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = devnet
        let path = dir.appendingPathComponent("root.key").path
        let refused = try DelongProcess.run(base + ["--root-secret", "file:" + path])
        #expect(refused.status == 4, "\(refused.stderr)")
        #expect(refused.stderr.contains("root secret file \(path) does not exist"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--create-root-secret"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))

        let created = try ReadyService(
            DelongProcess.executable.path,
            base + ["--root-secret", "file:" + path, "--create-root-secret"]
        )
        #expect(created.url.hasPrefix("https://127.0.0.1:"))
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == 32)
    }
}
