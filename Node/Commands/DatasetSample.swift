import ArgumentParser
import Foundation
import Glibc
import PlaneCrypto
import Sampling

/// `delong dataset sample DATA_DIR --policy FILE --out DIR [--rows N] [--k K] [--seed S] [--json]`
struct DatasetSampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Draw a desensitized sample of a plaintext dataset under its delong-policy.json (docs/sampling.md).",
        discussion: """
            DATA_DIR holds the tables the policy lists, CSV or Parquet (*.parquet). OUT_DIR is created (or must \
            be empty) and receives the sample tables as CSV under their source names (x.parquet becomes x.csv) \
            plus report.json; it appears only when complete. Exit 0 \
            when written and k holds, 1 when k cannot hold, 2 for bad input, 3 for I/O errors.
            """
    )

    @Argument(help: "Directory of plaintext tables (CSV or Parquet).") var dataDir: String
    @Option(help: "The dataset's delong-policy.json.") var policy: String
    @Option(help: "Output directory (created, or must be empty).") var out: String
    @Option(help: "Entities to draw.") var rows: Int = 1000
    @Option(help: "k of k-anonymity (default: the policy's thresholds.k).") var k: Int?
    @Option(help: "Seed of the row draw and the noise (the pseudonym secret is always fresh).") var seed: UInt64?
    @Flag(help: "Print report.json on stdout.") var json = false

    func run() throws {
        do {
            let report = try SampleCLI.run(
                dataDir: dataDir,
                policyPath: policy,
                out: out,
                rows: rows,
                k: k,
                seed: seed
            )
            if json { print(String(decoding: report, as: UTF8.self)) }
        } catch {
            DatasetCLI.note("error: \(error.reason)")
            throw ExitCode(SampleCLI.exitCode(for: error))
        }
    }
}

/// File handling of `dataset sample`: reads the tables, runs the pure sampler, writes atomically.
enum SampleCLI {
    static let maxTableBytes = 4 << 30

    static func exitCode(for error: SamplingError) -> Int32 {
        switch error.code {
        case .malformedCSV, .malformedParquet, .malformedPolicy, .dataMismatch, .unsupportedFormat:
            return ExitCodes.malformedInput
        case .kNotReached: return ExitCodes.verificationFailed
        case .io, .crypto: return ExitCodes.ioError
        }
    }

    /// Samples and writes; returns the report.json bytes.
    static func run(
        dataDir: String,
        policyPath: String,
        out: String,
        rows: Int,
        k: Int?,
        seed: UInt64?
    ) throws(SamplingError) -> [UInt8] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dataDir, isDirectory: &isDir), isDir.boolValue else {
            throw SamplingError(
                .dataMismatch,
                "DATA_DIR \(dataDir): expected a directory of CSV or Parquet tables, found none"
            )
        }
        if fm.fileExists(atPath: out, isDirectory: &isDir) {
            let entries = (try? fm.contentsOfDirectory(atPath: out)) ?? ["?"]
            guard isDir.boolValue, entries.isEmpty else {
                throw SamplingError(
                    .dataMismatch,
                    "--out \(out): expected a new or empty directory, found existing content"
                )
            }
        }
        guard rows >= 1 else { throw SamplingError(.malformedPolicy, "--rows: expected at least 1, found \(rows)") }
        if let k, k < 1 { throw SamplingError(.malformedPolicy, "--k: expected at least 1, found \(k)") }

        let policyBytes = try read(policyPath, limit: DatasetPolicy.maxBytes)
        let policy = try DatasetPolicy(json: policyBytes)
        // Samples are CSV: a Parquet table `x.parquet` is written as `x.csv`, which must not be another table's.
        var sampleNames: [String: String] = [:]
        for name in policy.tables.keys.sorted() {
            let written = TableReader.sampleName(name)
            if let other = sampleNames[written] {
                throw SamplingError(
                    .dataMismatch,
                    "tables \(other) and \(name) would both be written as \(written) (samples are CSV)"
                )
            }
            sampleNames[written] = name
        }
        var tables: [String: CSVTable] = [:]
        for name in policy.tables.keys.sorted() {
            let path = (dataDir as NSString).appendingPathComponent(name)
            guard fm.fileExists(atPath: path) else {
                throw SamplingError(.dataMismatch, "table \(name) is listed in the policy but \(path) does not exist")
            }
            tables[name] = try TableReader.parse(try read(path, limit: maxTableBytes), name: name)
        }
        var options = SampleOptions()
        options.entities = rows
        options.k = k
        options.seed = seed
        var sample = try Sampler.sample(tables: tables, policy: policy, options: options)
        sample.report.policySHA256 = Digest.sha256(policyBytes).map { String(format: "%02x", $0) }.joined()
        for index in sample.report.tables.indices {
            let source = sample.report.tables[index].name
            let written = TableReader.sampleName(source)
            if written != source {
                sample.report.tables[index].name = written
                sample.report.tables[index].source = source
            }
        }
        sample.tables = Dictionary(
            uniqueKeysWithValues: sample.tables.map { (TableReader.sampleName($0.key), $0.value) }
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let report: [UInt8]
        do {
            report = Array(try encoder.encode(sample.report)) + [0x0A]
        } catch {
            throw SamplingError(.io, "report.json: could not encode: \(error)")
        }
        try writeAtomically(out: out, tables: sample.tables, report: report)
        return report
    }

    static func read(_ path: String, limit: Int) throws(SamplingError) -> [UInt8] {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attributes?[.size] as? Int, size > limit {
            throw SamplingError(.malformedCSV, "\(path): \(size) bytes, larger than the limit of \(limit)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SamplingError(.io, "\(path): could not be read")
        }
        return Array(data)
    }

    /// Writes everything under a temporary sibling of `out`, then renames it into place.
    static func writeAtomically(out: String, tables: [String: CSVTable], report: [UInt8]) throws(SamplingError) {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: out).standardizedFileURL
        let parent = target.deletingLastPathComponent()
        let temp = parent.appendingPathComponent(".\(target.lastPathComponent).partial-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: temp, withIntermediateDirectories: true)
            for (name, table) in tables {
                let url = temp.appendingPathComponent(name)
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(CSVWriter.write(table)).write(to: url)
            }
            try Data(report).write(to: temp.appendingPathComponent("report.json"))
            // rename(2) replaces an existing empty directory atomically.
            guard rename(temp.path, target.path) == 0 else {
                throw SamplingError(.io, "\(out): rename failed (errno \(errno))")
            }
        } catch {
            try? fm.removeItem(at: temp)
            if let error = error as? SamplingError { throw error }
            throw SamplingError(.io, "\(out): could not write the sample: \(error.localizedDescription)")
        }
    }
}
