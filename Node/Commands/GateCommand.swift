import ArgumentParser
import ComputingPlane
import Foundation

/// `delong gate …`: the Output Gate's automatic checks (docs/output-gate.md).
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract:
            "Check a job's outputs against its plaintext dataset before anything is released (docs/output-gate.md).",
        subcommands: [GateCheckCommand.self]
    )
}

/// `delong gate check OUT_DIR --data DATA_DIR [--policy FILE] [--history DIR] [--json]`
struct GateCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check every file under OUT_DIR against the dataset in DATA_DIR and its delong-policy.json.",
        discussion: """
            Finds the dataset's identifier and key values, verbatim or reformatted rows, canaries, PII patterns \
            (email, phone, Luhn-valid card numbers, IBANs), small counts, and base64 or hex payloads that decode \
            to any of these. Bare tables of counts or statistics are re-derived on the data (labels matched to \
            values, bands and dates; contributors counted as distinct entities) and checked for small cells, \
            dominance (N, K), p %, class disclosure (zero cells), extremes of small groups; model summaries \
            for residual degrees of freedom; tables under --history DIR (earlier releases: files or folders of \
            files) for differencing. A file with a certain finding (something of the dataset) is blocked, a \
            file with any other finding goes to review, a file with none is released; the case decision is the \
            worst file decision. DATA_DIR is only read, never written. Exit codes: 0 release, 1 review or \
            block, 2 bad input (malformed policy or table, unreadable or missing directory).
            """
    )

    @Argument(help: "The job's output directory.") var outDir: String
    @Option(help: "Directory of the dataset's plaintext CSV or Parquet tables (read only).") var data: String
    @Option(help: "The dataset's delong-policy.json (default: DATA_DIR/delong-policy.json).") var policy: String?
    @Option(help: "Earlier releases on the dataset: files, or folders of files (empty means none).")
    var history: String?
    @Flag(help: "Print the report as one JSON object.") var json = false

    func run() throws {
        do {
            let earlier = try history.map { path throws(ComputingPlaneError) in try OutputGate.history(directory: path)
            }
            let index = try DatasetIndex.load(dataDir: data, policyPath: policy)
            let report = try OutputGate.check(directory: outDir, index: index, history: earlier ?? [])
            if json {
                print(String(decoding: report.json(), as: UTF8.self))
            } else {
                print("decision: \(report.decision.rawValue)")
                for file in report.files {
                    print("\(file.decision.rawValue)\t\(file.path)")
                    for finding in file.findings {
                        print("  \(finding.severity.rawValue)\t\(finding.check)\t\(finding.`where`)\t\(finding.detail)")
                    }
                }
            }
            if report.decision != .release { throw ExitCode(ExitCodes.verificationFailed) }
        } catch let error as ComputingPlaneError {
            DatasetCLI.note("error: \(error.reason)")
            throw ExitCode(ExitCodes.malformedInput)
        }
    }
}
