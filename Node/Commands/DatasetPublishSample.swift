import ArgumentParser
import ChainCore
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol
import Sealing

/// `delong dataset publish-sample SAMPLE_DIR --dataset ID --da DIR --rpc URL --contracts FILE --wallet-key KEY
/// [--sealed-under SAMPLE_ID --key-file DEK]`
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
            With --sealed-under SAMPLE_ID --key-file DEK the archive is sealed (one sealed file v1) under the \
            key of SAMPLE_ID, a dataset the same provider registered for the sample (its key from `privacy \
            provider-key --dataset SAMPLE_ID`); the DA store keeps the sealed bytes and the locator is \
            sample:sealed:<SAMPLE_ID>:sha256:<hex of the sealed bytes>. A Computing Plane then asks the Privacy \
            Plane for that key with the consumer's explore token for the dataset.
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
    @Option(
        help: "Seal the sample under the key of this dataset id (the sample's own dataset, same provider; 0x + 64 hex)."
    )
    var sealedUnder: String?
    @Option(help: "The sample dataset's key (DEK) file for --sealed-under: 32 raw bytes or 64 hex digits, mode 0600.")
    var keyFile: String?
    @Option(help: "The key version of --key-file (what privacy provider-key --key-version fetched).")
    var keyVersion: UInt32 = 1
    @Option(help: "Seconds to wait for the transaction's receipt.") var wait: Int = 120
    @Flag(help: "Print the result as one JSON object on stdout.") var json = false

    func validate() throws {
        guard (sealedUnder == nil) == (keyFile == nil) else {
            throw ValidationError("--sealed-under and --key-file go together: a sealed sample needs both")
        }
        guard (1...16).contains(keyVersion) else { throw ValidationError("--key-version: expected 1…16") }
    }

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
        let sampleID = try sealedUnder.map { text in
            try CLIFailure.reporting("--sealed-under") { try Hash32(hex: text) }
        }
        if sampleID == id {
            throw CLIFailure.malformed(
                "--sealed-under: the sample needs a dataset id of its own, not the dataset's \(id.hex) (its key opens the full data)"
            )
        }
        let packed = try PublishedSample.packed(directory: sample)
        let deployment = try DeploymentFile.read(contracts)
        let key = try readKeyFile(walletKey, what: "wallet key")
        let wallet = try WalletSender(endpoint: rpc, key: key)

        // The fields updateDataset replaces, read back so that only the locator changes.
        let (manifest, price, metadata) = try await Self.ownDataset(
            id,
            wallet: wallet,
            deployment: deployment,
            unregistered: "",
            notOwned: "dataset \(id.hex)"
        )

        var stored = packed.archive
        var sampleLocator = packed.locator
        if let sampleID, let keyFile {
            _ = try await Self.ownDataset(
                sampleID,
                wallet: wallet,
                deployment: deployment,
                unregistered: "--sealed-under: ",
                notOwned: "the sample dataset \(sampleID.hex)",
                hint: "; register the sample as a dataset first"
            )
            let key = try KeyFile(path: keyFile).load()
            stored = try SealedBlob.seal(
                packed.archive,
                datasetKey: key,
                datasetID: try DatasetID(bytes: sampleID.bytes),
                keyVersion: keyVersion
            )
            sampleLocator = SampleLocator(digest: BundleDigest.of(stored), sealedUnder: sampleID)
        }
        let store = DAStore(root: da)
        try store.put(stored)
        let locator = sampleLocator.description
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
            "sampleDigest": BundleDigest.text(sampleLocator.digest),
            "archiveDigest": BundleDigest.text(packed.digest),
            "sealed": sampleID != nil,
            "sampleLocator": locator,
            "daPath": store.path(of: sampleLocator.digest),
            "files": packed.entries.filter { $0.contents != nil }.count,
            "bytes": stored.count,
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

    /// The sample's own dataset: registered, live, and the wallet's (the parent's provider) too.
    /// A dataset's record in DataMarket, refused unless it is registered, not retired and the wallet's (the
    /// manifest, price and metadata updateDataset must repeat). `unregistered` and `hint` frame the message for a
    /// dataset that is not registered; `notOwned` names the dataset in the one for another provider's.
    static func ownDataset(
        _ id: Hash32,
        wallet: WalletSender,
        deployment: DeploymentFile,
        unregistered: String,
        notOwned: String,
        hint: String = ""
    ) async throws -> (manifest: [UInt8], price: U256, metadata: [UInt8]) {
        let answer = try ABI.decode(
            [.tuple([.address, .fixedBytes(32), .uint(256), .string, .string, .bool])],
            from: try await wallet.read(
                to: deployment.contracts.dataMarket,
                data: Self.selector("datasets(bytes32)") + id.bytes
            ),
            rawStrings: true
        )
        guard case .tuple(let fields) = answer.first, fields.count == 6,
            case .address(let provider) = fields[0], case .fixedBytes(let manifest) = fields[1],
            case .uint(let price) = fields[2], case .bytes(let metadata) = fields[4],
            case .bool(let retired) = fields[5]
        else { throw CLIFailure.io("DataMarket.datasets(\(id.hex)): an unexpected answer") }
        guard provider != Address.zero else {
            throw CLIFailure.malformed(
                "\(unregistered)dataset \(id.hex) is not registered in DataMarket \(deployment.contracts.dataMarket)\(hint)"
            )
        }
        guard !retired else {
            throw CLIFailure(exitCode: ExitCodes.verificationFailed, message: "dataset \(id.hex) is retired")
        }
        guard provider == wallet.address else {
            throw CLIFailure(
                exitCode: ExitCodes.verificationFailed,
                message:
                    "\(notOwned) belongs to \(provider.checksummed), not to the wallet \(wallet.address.checksummed)"
            )
        }
        return (manifest, price, metadata)
    }

    static func selector(_ signature: String) -> [UInt8] {
        Array(Keccak256.hash(Array(signature.utf8)).bytes.prefix(4))
    }
}
