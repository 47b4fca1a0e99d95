import ArgumentParser
import ChainCore
import ChainRecords
import Foundation
import PlaneProtocol

/// `delong dataset publish-sample SAMPLE_DIR --dataset ID --da DIR --rpc URL --contracts FILE --wallet-key KEY`
struct DatasetPublishSampleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish-sample",
        abstract: "Store a desensitized sample in the DA store and name it on chain (the dataset's sampleLocator).",
        discussion: """
            SAMPLE_DIR is what `delong dataset sample` wrote (the tables and report.json). It is packed as one \
            canonical tar (the bundle format), written to the content-addressed DA store DIR/sha256/<hex>, and \
            DataMarket.updateDataset is sent from the provider's wallet with sampleLocator = \
            sample:sha256:<hex>; the dataset's other fields (manifest digest, price, metadata URI) are read from \
            the chain and sent back unchanged. A Computing Plane serves Explore Mode from exactly those bytes: \
            it checks them against the on-chain digest before it mounts them.
            Exit 0 published; 1 the chain refused it (not the provider, retired); 2 bad input; 3 I/O or RPC \
            error; 4 the wallet key file was refused.
            """
    )

    @Argument(help: "The sample directory (delong dataset sample --out).") var sample: String
    @Option(help: "Dataset id registered on chain: 0x followed by 64 hex digits.") var dataset: String
    @Option(help: "DA store directory (created when missing).") var da: String
    @Option(help: "JSON-RPC endpoint of the chain.") var rpc: String
    @Option(help: "Deployment file (contrib/contracts/deploy output).") var contracts: String
    @Option(help: "The provider's wallet private key file (0600; 32 raw bytes or 64 hex digits).") var walletKey: String
    @Option(help: "Seconds to wait for the transaction's receipt.") var wait: Int = 120
    @Flag(help: "Print the result as one JSON object on stdout.") var json = false

    func run() async throws {
        do {
            try await publish()
        } catch let error as ExitCode {
            throw error
        } catch {
            throw ExitCodes.report(error)
        }
    }

    private func publish() async throws {
        let id = try CLIFailure.reporting("--dataset") { try Hash32(hex: dataset) }
        let packed = try PublishedSample.packed(directory: sample)
        let deployment = try DeploymentFile.read(contracts)
        let key = try readKeyFile(walletKey, what: "wallet key")
        let wallet = try WalletSender(endpoint: rpc, key: key)

        // The fields updateDataset replaces, read back so that only the locator changes.
        let current = try ABI.decode(
            [.tuple([.address, .fixedBytes(32), .uint(256), .string, .string, .bool])],
            from: try await wallet.read(
                to: deployment.contracts.dataMarket,
                data: Self.selector("datasets(bytes32)") + id.bytes
            ),
            rawStrings: true
        )
        guard case .tuple(let fields) = current.first, fields.count == 6,
            case .address(let provider) = fields[0], case .fixedBytes(let manifest) = fields[1],
            case .uint(let price) = fields[2], case .bytes(let metadata) = fields[4],
            case .bool(let retired) = fields[5]
        else { throw CLIFailure.io("DataMarket.datasets(\(id.hex)): an unexpected answer") }
        guard provider != Address.zero else {
            throw CLIFailure.malformed(
                "dataset \(id.hex) is not registered in DataMarket \(deployment.contracts.dataMarket)"
            )
        }
        guard !retired else {
            throw CLIFailure(exitCode: ExitCodes.verificationFailed, message: "dataset \(id.hex) is retired")
        }
        guard provider == wallet.address else {
            throw CLIFailure(
                exitCode: ExitCodes.verificationFailed,
                message:
                    "dataset \(id.hex) belongs to \(provider.checksummed), not to the wallet \(wallet.address.checksummed)"
            )
        }

        let store = DAStore(root: da)
        try store.put(packed.archive)
        let locator = packed.locator.description
        let call = try ABI.encode(
            [.fixedBytes(32), .fixedBytes(32), .uint(256), .bytes, .bytes],
            [.fixedBytes(id.bytes), .fixedBytes(manifest), .uint(price), .bytes(Array(locator.utf8)), .bytes(metadata)]
        )
        let sent = try await wallet.send(
            to: deployment.contracts.dataMarket,
            data: Self.selector("updateDataset(bytes32,bytes32,uint256,string,string)") + call,
            expectedChainID: deployment.chainID,
            wait: .seconds(wait)
        )
        let result: [String: Any] = [
            "dataset": id.hex,
            "sampleDigest": BundleDigest.text(packed.digest),
            "sampleLocator": locator,
            "daPath": store.path(of: packed.digest),
            "files": packed.entries.filter { $0.contents != nil }.count,
            "bytes": packed.archive.count,
            "transaction": sent.hash,
            "block": sent.block,
        ]
        if json {
            print(SandboxRunCommand.serialize(result))
        } else {
            print("sample \(locator)")
            FileHandle.standardError.write(
                Data("named on chain by \(wallet.address) in transaction \(sent.hash), block \(sent.block)\n".utf8)
            )
        }
    }

    static func selector(_ signature: String) -> [UInt8] {
        Array(Keccak256.hash(Array(signature.utf8)).bytes.prefix(4))
    }
}
