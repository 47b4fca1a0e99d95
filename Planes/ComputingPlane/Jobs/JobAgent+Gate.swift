import ChainCore
import Foundation
import Logging
import PlaneCrypto
import PlaneProtocol
import Sampling
import Sealing

/// The Output Gate inside the job pipeline: the agent reads the dataset's policy and tables from the sealed
/// copy with the leased key (in memory; the policy never reaches the job, whose mount hides it) and checks
/// the output against them and against every earlier release on the same dataset.
extension JobAgent {
    /// The name of the provider's gate policy inside a sealed dataset (hidden from jobs: its canaries are
    /// secrets).
    static let policyName = "delong-policy.json"

    /// The gate's report on `package`. A dataset without a policy cannot be compared with its data, so every
    /// file goes to review saying so; a policy or table that cannot be read does the same.
    func gate(
        _ package: OutputPackage,
        dataset: String,
        key: SecretBytes,
        history: [(path: String, bytes: [UInt8])]
    )
        -> GateReport
    {
        let index: DatasetIndex
        do {
            guard let built = try Self.datasetIndex(dataset: dataset, key: key, manifest: expectedManifest) else {
                return Self.unchecked(
                    package,
                    "the dataset has no \(Self.policyName): outputs cannot be compared with its data"
                )
            }
            index = built
        } catch {
            logger.error("the gate could not read the dataset", metadata: ["error": "\(error)"])
            return Self.unchecked(package, "the gate could not read the dataset's tables: \(error)")
        }
        return OutputGate.check(files: package.contents, index: index, history: history)
    }

    var expectedManifest: Hash32? { facts.read { $0.manifestDigest }.flatMap { try? Hash32(hex: $0) } }

    /// Every file to review with one finding saying why nothing was checked.
    static func unchecked(_ package: OutputPackage, _ why: String) -> GateReport {
        GateReport(
            files: package.contents.map {
                GateFileVerdict(
                    path: $0.path,
                    findings: [GateFinding(check: "policy", severity: .likely, where: "file", detail: why)]
                )
            }
        )
    }

    /// The index of the sealed dataset at `dataset` under its own policy (nil when it has none).
    static func datasetIndex(dataset: String, key: SecretBytes, manifest: Hash32?) throws -> DatasetIndex? {
        let sealed = try SealedDataset(
            root: dataset,
            keySource: InMemoryKeySource(key: key),
            expectedManifestDigest: manifest?.bytes
        )
        let files = Dictionary(
            sealed.manifest.entries.filter { $0.kind == .file }.map { ($0.path, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        guard let policyEntry = files[policyName] else { return nil }
        let policyBytes = try read(sealed, policyEntry, limit: DatasetPolicy.maxBytes)
        let policy = try DatasetPolicy(json: policyBytes)
        var tables: [String: [UInt8]] = [:]
        for name in policy.tables.keys {
            guard let entry = files[name] else {
                throw ComputingPlaneError(.badInput, "the policy names table \(name), which the sealed dataset lacks")
            }
            tables[name] = try read(sealed, entry, limit: 4 << 30)
        }
        return try DatasetIndex(policyJSON: policyBytes, tables: tables)
    }

    /// One sealed file's plaintext, at most `limit` bytes.
    static func read(_ sealed: SealedDataset, _ entry: Manifest.Entry, limit: Int) throws -> [UInt8] {
        let reader = try sealed.openFile(entry)
        guard reader.plaintextLength <= UInt64(limit) else {
            throw ComputingPlaneError(
                .badInput,
                "\(entry.path): \(reader.plaintextLength) bytes, larger than the limit of \(limit)"
            )
        }
        var bytes = [UInt8](repeating: 0, count: Int(reader.plaintextLength))
        var offset = 0
        while offset < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                try reader.read(at: UInt64(offset), into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]))
            }
            guard n > 0 else { throw ComputingPlaneError(.io, "\(entry.path): short read at \(offset)") }
            offset += n
        }
        return bytes
    }

    // MARK: Earlier releases

    /// Where released outputs of `dataset` are kept for differencing (plaintext tars, one per job).
    func historyDirectory(_ dataset: Hash32) -> String {
        env.results + "/history/" + Hex.encode(dataset.bytes, prefix: false)
    }

    /// Every earlier release on `dataset` by any consumer, as files `<job>/<path>`.
    func history(_ dataset: Hash32) -> [(path: String, bytes: [UInt8])] {
        let directory = historyDirectory(dataset)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        var files: [(path: String, bytes: [UInt8])] = []
        for name in names where name.hasSuffix(".tar") {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name),
                let entries = try? CanonicalTar.verify(Array(data), limits: OutputPackage.limits)
            else {
                logger.warning(
                    "an earlier release cannot be read; it is left out of differencing",
                    metadata: ["file": "\(name)"]
                )
                continue
            }
            let job = String(name.dropLast(4))
            for entry in entries {
                if let contents = entry.contents { files.append((job + "/" + entry.displayPath, contents)) }
            }
        }
        return files
    }

    /// Keeps a released output for the gate's later differencing.
    func remember(_ package: OutputPackage, dataset: Hash32) throws {
        let directory = historyDirectory(dataset)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try DAStore.writeAtomically(
            package.archive,
            to: directory + "/" + Hex.encode(spec.id.bytes, prefix: false) + ".tar"
        )
    }
}
