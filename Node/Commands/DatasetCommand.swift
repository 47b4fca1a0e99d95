import ArgumentParser
import Sealing

/// `delong dataset …`: seal, verify and unseal datasets (sealed format v1).
struct DatasetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Seal, verify and unseal datasets; draw and publish desensitized samples.",
        subcommands: [
            DatasetSealCommand.self, DatasetVerifyCommand.self, DatasetUnsealCommand.self, DatasetSampleCommand.self,
            DatasetPublishSampleCommand.self,
        ]
    )
}

/// `delong dataset seal SRC_DIR OUT_DIR --dataset-id 0x… --key-file FILE`
struct DatasetSealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Encrypt a directory tree into a sealed dataset (format v1) and print its manifest digest.",
        discussion: """
            Streams with constant memory. OUT_DIR must not exist (or be empty); it appears only when complete \
            (written under a temporary name, then renamed). The printed manifest digest is the value to \
            register on chain.
            """
    )

    @Argument(help: "Plaintext directory to seal.") var source: String
    @Argument(help: "Output directory for the sealed tree (must not exist).") var output: String
    @Option(help: "Dataset id registered on chain: 0x followed by 64 hex digits.") var datasetId: String
    @Option(help: "Dataset key (DEK): 32 raw bytes or 64 hex digits, mode 0600.") var keyFile: String
    @Option(help: "Version of the dataset key.") var keyVersion: UInt32 = 1
    @Option(help: "Plaintext bytes per chunk: a power of two from 4096 to 1048576.")
    var chunkSize: UInt32 = SealedFormat.defaultChunkSize

    func run() throws {
        try DatasetCLI.run {
            let datasetID = try DatasetID(hex: datasetId)
            let sealer = try Sealer(options: .init(datasetID: datasetID, keyVersion: keyVersion, chunkSize: chunkSize))
            let bar = ByteProgress(label: "sealing")
            let clock = ContinuousClock()
            let start = clock.now
            let result = try sealer.seal(
                source: source,
                output: output,
                keySource: try DatasetCLI.keySource(keyFile: keyFile),
                progress: bar.update
            )
            bar.finish()
            let seconds = (clock.now - start).seconds
            DatasetCLI.note(
                "sealed \(result.manifest.entries.count) entries, \(result.plaintextBytes) bytes in \(DatasetCLI.format(seconds)) s (\(DatasetCLI.format(Double(result.plaintextBytes) / max(seconds, 1e-9) / 1e6)) MB/s)"
            )
            print("0x" + HexBytes.encode(result.manifestDigest))
        }
    }
}

/// `delong dataset verify OUT_DIR --key-file FILE`
struct DatasetVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Authenticate every chunk of a sealed dataset and check sizes and digests against its manifest."
    )

    @Argument(help: "Sealed dataset directory.") var sealed: String
    @Option(help: "Dataset key (DEK) file, mode 0600.") var keyFile: String
    @Option(help: "Expected manifest digest (the on-chain value), 0x + 64 hex digits.") var manifestDigest: String?
    @Option(help: "Expected dataset id, 0x + 64 hex digits.") var datasetId: String?

    func run() throws {
        try DatasetCLI.run {
            let dataset = try DatasetCLI.open(sealed, keyFile: keyFile, digest: manifestDigest, datasetID: datasetId)
            let bar = ByteProgress(label: "verifying")
            let bytes = try dataset.verify(progress: bar.update)
            bar.finish()
            DatasetCLI.note(
                "verified \(dataset.manifest.entries.count) entries, \(bytes) bytes of dataset \(dataset.datasetID)"
            )
            print(dataset.manifestDigestHex)
        }
    }
}

/// `delong dataset unseal OUT_DIR DEST --key-file FILE`
struct DatasetUnsealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unseal",
        abstract: "Decrypt a sealed dataset into a directory (for a provider's own checks)."
    )

    @Argument(help: "Sealed dataset directory.") var sealed: String
    @Argument(help: "Destination directory (must not exist).") var destination: String
    @Option(help: "Dataset key (DEK) file, mode 0600.") var keyFile: String
    @Option(help: "Expected manifest digest, 0x + 64 hex digits.") var manifestDigest: String?

    func run() throws {
        try DatasetCLI.run {
            let dataset = try DatasetCLI.open(sealed, keyFile: keyFile, digest: manifestDigest, datasetID: nil)
            let bar = ByteProgress(label: "unsealing")
            try dataset.unseal(to: destination, progress: bar.update)
            bar.finish()
            DatasetCLI.note("unsealed \(dataset.manifest.entries.count) entries into \(destination)")
        }
    }
}
