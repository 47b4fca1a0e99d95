import ArgumentParser
import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import PlaneProtocol

/// `delong index …`: read the local index (read-only queries; the index is written by `delong node sync`).
struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Query the verified index: status, datasets, rentals, algorithms, jobs.",
        subcommands: [
            IndexStatusCommand.self, IndexRentalsCommand.self, IndexDatasetCommand.self, IndexAlgorithmCommand.self,
            IndexJobCommand.self,
        ]
    )

    /// Opens the index without knowing its configuration: reads it back from the index itself.
    static func open(_ options: IndexOptions) throws -> ChainIndex {
        do {
            return try ChainIndex(existingAt: options.indexPath)
        } catch {
            FileHandle.standardError.write(Data("delong: index \(options.dataDir): \(error)\n".utf8))
            throw ExitCode(ExitCodes.ioError)
        }
    }

    static func emit(_ value: JSONOutput, json: Bool, text: () -> String) {
        print(json ? value.rendered() : text())
    }
}

extension RecordOrigin {
    var json: JSONOutput {
        .object([("block", .int(blockNumber)), ("blockHash", .string(blockHash.hex)), ("log", .int(logIndex))])
    }
}

extension ChainText {
    /// The exact bytes as 0x-hex: a string a contract emitted need not be UTF-8, and the display form
    /// replaces what is not.
    var hexJSON: JSONOutput { .string(Hex.encode(bytes)) }
}

extension DatasetRecord {
    func json(final: UInt64) -> JSONOutput {
        .object([
            ("id", .string(id.hex)), ("provider", .string(provider.checksummed)),
            ("manifestDigest", .string(manifestDigest.hex)),
            ("pricePerSecond", .string("\(pricePerSecond)")), ("sampleLocator", .string(sampleLocator)),
            ("sampleLocatorHex", sampleLocatorText.hexJSON), ("metadataURI", .string(metadataURI)),
            ("metadataURIHex", metadataURIText.hexJSON),
            ("retired", .bool(retired)), ("registered", registered.json), ("updated", updated.json),
            ("final", .bool(updated.blockNumber <= final)),
        ])
    }
}

extension JobRecord {
    func json(final: UInt64) -> JSONOutput {
        .object([
            ("jobId", .string(job.jobID.hex)), ("dataset", .string(job.datasetID.hex)),
            ("consumer", .string(job.consumer.checksummed)), ("imageDigest", .string(job.imageDigest.hex)),
            ("outputDigest", .string(job.outputDigest.hex)),
            ("attestationDigest", .string(job.attestationDigest.hex)), ("operator", .string(job.operator.checksummed)),
            ("recorded", recorded.json), ("final", .bool(recorded.blockNumber <= final)),
        ])
    }
}

extension RentalRecord {
    func json(final: UInt64) -> JSONOutput {
        .object([
            ("dataset", .string(datasetID.hex)), ("consumer", .string(consumer.checksummed)),
            ("provider", .string(provider.checksummed)),
            ("startedAt", .int(startedAt)), ("expiresAt", .int(expiresAt)),
            // The contract's uint256 values; the numbers above saturate at 2^64 - 1.
            ("startedAtExact", .string("\(startedAtExact)")), ("expiresAtExact", .string("\(expiresAtExact)")),
            ("paid", .string("\(paid)")),
            ("status", .string(status == .active ? "active" : "revoked")), ("refund", .string("\(refund)")),
            ("updated", updated.json), ("final", .bool(updated.blockNumber <= final)),
        ])
    }
}

struct IndexStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The indexed head, the final block and record counts."
    )
    @OptionGroup var index: IndexOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let idx = try IndexCommand.open(index)
        let (head, final) = (try idx.head(), try idx.finalNumber())
        let datasets = try idx.datasets().count
        let measurements = try idx.measurements().count
        let stats = try idx.recordStats()
        IndexCommand.emit(
            .object([
                ("chainId", .int(idx.config.chainID)),
                ("dataMarket", .string(idx.config.contracts.dataMarket.checksummed)),
                ("algorithmRegistry", .string(idx.config.contracts.algorithmRegistry.checksummed)),
                ("checkpoint", .int(idx.config.checkpoint.number)),
                ("head", .object([("number", .int(head.number)), ("hash", .string(head.hash.hex))])),
                ("final", .int(final)), ("finalityDepth", .int(idx.config.finalityDepth)), ("datasets", .int(datasets)),
                ("measurements", .int(measurements)), ("records", .int(stats.count)),
                ("recordBytes", .int(stats.bytes)),
                ("privacySigner", .optional(try idx.privacySigner()?.address.checksummed)),
                ("digest", .string(try idx.digest().hex)),
            ]),
            json: json
        ) {
            "chain \(idx.config.chainID) · head \(head.number) \(head.hash.hex) · final \(final) · \(datasets) datasets · \(measurements) measurements"
        }
    }
}

struct IndexRentalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rentals",
        abstract: "Rentals of a consumer or of a dataset."
    )
    @OptionGroup var index: IndexOptions
    @Option(help: "Consumer address.") var consumer: String?
    @Option(help: "Dataset id (0x + 64 hex digits).") var dataset: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (consumer == nil) != (dataset == nil) else {
            throw ValidationError("give exactly one of --consumer and --dataset")
        }
        if let consumer, (try? Address(hex: consumer)) == nil {
            throw ValidationError("--consumer: expected 0x followed by 40 hex digits")
        }
        if let dataset, (try? Hash32(hex: dataset)) == nil {
            throw ValidationError("--dataset: expected 0x followed by 64 hex digits")
        }
    }

    func run() throws {
        let idx = try IndexCommand.open(index)
        let final = try idx.finalNumber()
        let rentals =
            try consumer.map { try idx.rentals(consumer: Address(hex: $0)) }
            ?? idx.rentals(dataset: Hash32(hex: dataset!))
        IndexCommand.emit(.array(rentals.map { $0.json(final: final) }), json: json) {
            rentals.isEmpty
                ? "no rentals"
                : rentals.map {
                    "\($0.datasetID.hex) \($0.consumer.checksummed) \($0.status == .active ? "active" : "revoked") until \($0.expiresAt)\($0.updated.blockNumber <= final ? "" : " (pending)")"
                }.joined(separator: "\n")
        }
    }
}

struct IndexDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dataset", abstract: "One dataset by id.")
    @OptionGroup var index: IndexOptions
    @Argument(help: "Dataset id (0x + 64 hex digits).") var id: String
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if (try? Hash32(hex: id)) == nil { throw ValidationError("dataset id: expected 0x followed by 64 hex digits") }
    }

    func run() throws {
        let idx = try IndexCommand.open(index)
        guard let d = try idx.dataset(try Hash32(hex: id)) else {
            FileHandle.standardError.write(Data("delong: no dataset \(id) in the index\n".utf8))
            throw ExitCode(ExitCodes.verificationFailed)
        }
        let final = try idx.finalNumber()
        IndexCommand.emit(d.json(final: final), json: json) {
            "\(d.id.hex) by \(d.provider.checksummed) · manifest \(d.manifestDigest.hex) · \(d.pricePerSecond) wei/s\(d.retired ? " · retired" : "")"
        }
    }
}

struct IndexAlgorithmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "algorithm",
        abstract: "One published algorithm by image digest, with its jobs."
    )
    @OptionGroup var index: IndexOptions
    @Argument(help: "Image digest (0x + 64 hex digits).") var digest: String
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if (try? Hash32(hex: digest)) == nil {
            throw ValidationError("image digest: expected 0x followed by 64 hex digits")
        }
    }

    func run() throws {
        let idx = try IndexCommand.open(index)
        let image = try Hash32(hex: digest)
        guard let a = try idx.algorithm(image) else {
            FileHandle.standardError.write(Data("delong: no algorithm \(digest) in the index\n".utf8))
            throw ExitCode(ExitCodes.verificationFailed)
        }
        let jobs = try idx.jobs(imageDigest: image)
        let final = try idx.finalNumber()
        IndexCommand.emit(
            .object([
                ("imageDigest", .string(a.imageDigest.hex)), ("publisher", .string(a.publisher.checksummed)),
                ("bundleDigest", .string(a.bundleDigest.hex)),
                ("daLocator", .string(a.daLocator)), ("daLocatorHex", a.daLocatorText.hexJSON),
                ("published", a.published.json),
                (
                    "jobs",
                    .array(
                        jobs.map { $0.json(final: final) }
                    )
                ),
            ]),
            json: json
        ) {
            "\(a.imageDigest.hex) by \(a.publisher.checksummed) · bundle \(a.bundleDigest.hex) · \(a.daLocator) · \(jobs.count) jobs"
        }
    }
}

struct IndexJobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "One recorded job (JobRecorded) by job id: its dataset, consumer, image, output and evidence digests."
    )
    @OptionGroup var index: IndexOptions
    @Argument(help: "Job id (0x + 64 hex digits).") var id: String
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if (try? Hash32(hex: id)) == nil { throw ValidationError("job id: expected 0x followed by 64 hex digits") }
    }

    func run() throws {
        let idx = try IndexCommand.open(index)
        guard let j = try idx.job(try Hash32(hex: id)) else {
            FileHandle.standardError.write(Data("delong: no JobRecorded for \(id) in the index\n".utf8))
            throw ExitCode(ExitCodes.verificationFailed)
        }
        let final = try idx.finalNumber()
        IndexCommand.emit(j.json(final: final), json: json) {
            "\(j.job.jobID.hex) on \(j.job.datasetID.hex) for \(j.job.consumer.checksummed) · image \(j.job.imageDigest.hex) · output \(j.job.outputDigest.hex) · evidence \(j.job.attestationDigest.hex) · block \(j.recorded.blockNumber)\(j.recorded.blockNumber <= final ? "" : " (pending)")"
        }
    }
}
