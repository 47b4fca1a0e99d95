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
            to any of these. A file with a certain finding (something of the dataset) is blocked, a file with \
            any other finding goes to review, a file with none is released; the case decision is the worst file \
            decision. DATA_DIR is only read, never written. Exit codes: 0 release, 1 review or block, 2 bad \
            input (malformed policy, unreadable directory, Parquet data). Not yet: --history is accepted but \
            differencing against earlier releases is not built, so it changes nothing; statistical \
            re-derivation, dominance and p% rules, images, pickles and models are not inspected (such files go \
            to review).
            """
    )

    @Argument(help: "The job's output directory.") var outDir: String
    @Option(help: "Directory of the dataset's plaintext CSV tables (read only).") var data: String
    @Option(help: "The dataset's delong-policy.json (default: DATA_DIR/delong-policy.json).") var policy: String?
    @Option(help: "Earlier releases on the dataset (accepted; differencing is not built yet).") var history: String?
    @Flag(help: "Print the report as one JSON object.") var json = false

    func run() throws {
        do {
            if let history {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: history, isDirectory: &isDir), isDir.boolValue else {
                    throw ComputingPlaneError(.badInput, "--history \(history): expected a directory")
                }
            }
            let index = try DatasetIndex.load(dataDir: data, policyPath: policy)
            let report = try OutputGate.check(directory: outDir, index: index)
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
