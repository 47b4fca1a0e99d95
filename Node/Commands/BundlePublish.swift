import ArgumentParser
import ChainCore
import ChainRecords
import ComputingPlane
import Foundation
import LightClient
import Logging
import ObjectStore
import PlaneCrypto
import PlaneProtocol

/// `delong bundle publish BUNDLE --da DIR|s3://BUCKET[/PREFIX] [--s3-endpoint URL] --rpc URL --contracts FILE
/// --wallet-key KEY [--runtime DIGEST] [--json]`
struct BundlePublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Store a bundle in the DA store and record it on chain (AlgorithmRegistry.publish).",
        discussion: """
            BUNDLE is a folder (packed canonically) or a canonical bundle file. Its bytes go to the \
            content-addressed DA store (DIR/sha256/<hex> in a directory, or PREFIX/sha256/<hex> in an S3 bucket \
            with --da s3://BUCKET[/PREFIX], signed with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION \
            and sent to --s3-endpoint, default AWS S3 in AWS_REGION), then publish(imageDigest, bundleDigest, \
            daLocator) is sent from the wallet. In S3 an object already at that address is read back and must \
            hash to it, and is never overwritten (a directory store replaces damaged bytes). \
            imageDigest = sha256("delong/image/v1" || runtime digest || bundle digest); the locator \
            da:sha256:<bundle>?runtime=sha256:<runtime> carries the runtime so that the plane and auditors can \
            recompute it. The runtime is the one delong.json names, else --runtime, else the runtime built here.
            Prints the bundle digest, the image digest, the locator and the transaction.
            Exit 0 published; 1 the chain refused it (already published, reverted) or the DA store holds other \
            bytes at the bundle's address; 2 bad input (also: the S3 bucket does not exist); 3 I/O or RPC error \
            (also: the S3 endpoint does not answer); 4 the wallet key file was refused, or the S3 store refused \
            the credentials.
            """
    )

    @Argument(help: "The bundle: a folder or a canonical bundle file.") var bundle: String
    @Option(help: "DA store: a directory (created when missing) or s3://BUCKET[/PREFIX].") var da: String
    @Option(help: "S3 endpoint for an s3:// --da: http(s)://HOST[:PORT]; default AWS S3 in AWS_REGION.")
    var s3Endpoint: String?
    @Option(help: "JSON-RPC endpoint of the chain.") var rpc: String
    @Option(help: "Deployment file (contrib/contracts/deploy output).") var contracts: String
    @Option(help: "Wallet private key file (0600; 32 raw bytes or 64 hex digits).") var walletKey: String
    @Option(help: "Runtime digest (sha256:<hex>) when delong.json names none; default: the runtime built here.")
    var runtime: String?
    @Option(help: "Seconds to wait for the transaction's receipt.") var wait: Int = 120
    @Flag(help: "Print the result as one JSON object on stdout.") var json = false

    func validate() throws {
        if s3Endpoint != nil && !S3Location.isS3(da) {
            throw ValidationError("--s3-endpoint is only for an s3:// --da, found --da \(da)")
        }
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
        let progress = CLIProgress.forCommand(json: json)
        do { try await publish(progress: progress) } catch {
            progress.clear()
            throw error
        }
    }

    private func publish(progress: CLIProgress) async throws {
        let algorithm = try BundleInput.read(bundle)
        let runtimeDigest = try chooseRuntime(named: algorithm.manifest.runtime)
        let locator = DALocator(bundle: algorithm.digest, runtime: runtimeDigest)
        let deployment = try DeploymentFile.read(contracts)
        let key = try readKeyFile(walletKey, what: "wallet key")
        let daPath = try await progress.ticking(
            "bundle publish: storing \(CLIProgress.bytes(UInt64(algorithm.archive.count))) in the DA store"
        ) { try await store(algorithm.archive) }

        let call = try ABI.encode(
            [.fixedBytes(32), .fixedBytes(32), .string],
            [.fixedBytes(locator.imageDigest.bytes), .fixedBytes(algorithm.digest.bytes), .string(locator.description)]
        )
        let wallet = try WalletSender(endpoint: rpc, key: key)
        let sent = try await progress.ticking("bundle publish: sent AlgorithmRegistry.publish, waiting for its receipt")
        {
            try await wallet.send(
                to: deployment.contracts.algorithmRegistry,
                data: Keccak256.hash(Array("publish(bytes32,bytes32,string)".utf8)).bytes.prefix(4) + call,
                expectedChainID: deployment.chainID,
                wait: .seconds(wait)
            )
        }
        progress.finish("bundle publish: published in block \(sent.block) · \(CLIProgress.duration(progress.seconds))")
        let result: [String: Any] = [
            "bundleDigest": BundleDigest.text(algorithm.digest),
            "runtimeDigest": BundleDigest.text(runtimeDigest),
            "imageDigest": Hex.encode(locator.imageDigest.bytes),
            "daLocator": locator.description,
            "daPath": daPath,
            "publisher": wallet.address.description,
            "transaction": sent.hash,
            "block": sent.block,
        ]
        if json {
            print(SandboxRunCommand.serialize(result))
        } else {
            print("bundle \(BundleDigest.text(algorithm.digest))")
            print("image  \(Hex.encode(locator.imageDigest.bytes))")
            FileHandle.standardError.write(
                Data("published by \(wallet.address) in transaction \(sent.hash), block \(sent.block)\n".utf8)
            )
        }
    }

    /// Puts `archive` in the DA store --da names and returns where it is (a path or an s3:// URL). S3 is written
    /// before anything reaches the chain, so a store that fails leaves no on-chain record behind.
    private func store(_ archive: [UInt8]) async throws -> String {
        guard S3Location.isS3(da) else {
            let store = DAStore(root: da)
            let digest = try store.put(archive)
            return store.path(of: digest)
        }
        let location = try S3Location.parse(da)
        let credentials = try S3Credentials.fromEnvironment(ProcessInfo.processInfo.environment)
        let client = try S3Client(
            endpoint: s3Endpoint ?? S3Client.awsEndpoint(region: credentials.region),
            credentials: credentials
        )
        let store = S3ContentStore(client: client, location: location)
        let (digest, outcome) = try await store.put(archive, logger: Logger(label: "delong.bundle.publish"))
        FileHandle.standardError.write(Data("DA object \(store.url(of: digest)): \(outcome.rawValue)\n".utf8))
        return store.url(of: digest)
    }

    /// delong.json's runtime, else --runtime, else the one built here; two that disagree are refused.
    private func chooseRuntime(named manifest: Hash32?) throws -> Hash32 {
        let option = try runtime.map { text throws -> Hash32 in
            do { return try BundleDigest.parse(text) } catch {
                throw CLIFailure.malformed("--runtime: \(error)")
            }
        }
        if let manifest, let option, manifest != option {
            throw CLIFailure.malformed(
                "the bundle's delong.json names runtime \(BundleDigest.text(manifest)), --runtime "
                    + BundleDigest.text(option)
            )
        }
        if let chosen = manifest ?? option { return chosen }
        guard let built = try JobRuntime.installed().digest else {
            throw CLIFailure.malformed(
                "no runtime digest: the bundle's delong.json names none, --runtime is not given and no runtime is "
                    + "built here (delong runtime build)"
            )
        }
        return built
    }
}

/// A bundle given on the command line: a folder (packed canonically) or a canonical bundle file.
enum BundleInput {
    static func read(_ path: String) throws -> AlgorithmBundle {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PlaneProtocolError(.io, "bundle \(path): no such file or directory")
        }
        return isDirectory.boolValue
            ? try AlgorithmBundle.packed(entries: try BundleTree.entries(under: path))
            : try AlgorithmBundle.verified(archive: try BundleCommand.readArchive(path))
    }
}
