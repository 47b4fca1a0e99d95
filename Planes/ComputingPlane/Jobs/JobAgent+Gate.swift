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

    /// Every earlier release on `dataset` by any consumer, as files `<job>/<path>` (from the plane).
    func history(_ dataset: Hash32) async throws -> [(path: String, bytes: [UInt8])] {
        let releases: [(job: String, archive: [UInt8])]
        do { releases = try await env.plane.history(of: dataset) } catch {
            throw AgentStop.failed("the earlier releases for differencing: \(error)")
        }
        var files: [(path: String, bytes: [UInt8])] = []
        for release in releases {
            guard let entries = try? CanonicalTar.verify(release.archive, limits: OutputPackage.limits) else {
                logger.warning(
                    "an earlier release cannot be read; it is left out of differencing",
                    metadata: ["job": "\(release.job)"]
                )
                continue
            }
            for entry in entries {
                if let contents = entry.contents { files.append((release.job + "/" + entry.displayPath, contents)) }
            }
        }
        return files
    }
}
