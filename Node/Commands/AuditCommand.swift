import ArgumentParser
import Attestation
import Audit
import ChainCore
import ChainIndex
import Foundation
import LightClient
import Logging
import PlaneProtocol

/// `delong audit …`: checks from public data only.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit jobs from public data: the chain, the DA store, the evidence bundle.",
        subcommands: [AuditJobCommand.self]
    )
}

/// `delong audit job JOB_ID (--data-dir INDEX | --rpc URL --contracts FILE --checkpoint N:HASH) [--da DIR]
/// [--evidence FILE] [--source DIR] [--output FILE] [--json]`.
struct AuditJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Check a Secure job from JobRecorded to the consumer's ciphertext, trusting no operator.",
        discussion: """
            Checks, in order, each with what it found and what it expected (docs/audit.md): JobRecorded is in \
            the verified chain data; its image was published (AlgorithmPublished) before it; the DA store's \
            bundle re-hashes to the bundle digest and is canonical; a rebuild from --source gives the same \
            digest; the evidence bundle re-hashes to JobRecorded.attestationDigest; the attestation verifies \
            (development evidence only on the devnet, reported INSECURE); its measurements are on the \
            allow-list at the job's block; REPORTDATA binds the image digest and the agent's keys; the result \
            record is signed by that agent key; the release was automatic or carries the reviewers' \
            signatures; the key-release receipt is signed by the on-chain privacy signer and included under a \
            receipt-log head the Privacy Plane published to the DA store; the ciphertext (--output) hashes to \
            JobRecorded.outputDigest. With --rpc the chain is synced into a temporary index first. Exit \
            codes: 0 every check passed (optional checks without their input are skipped), 1 a check failed, \
            2 malformed input (a bad job id, options, an unreadable file or index), 3 an unreachable RPC \
            endpoint.
            """
    )
    @Argument(help: "The job id (0x + 64 hex).") var job: String
    @Option(help: "A verified index (`delong node sync`).") var dataDir: String?
    @Option(help: "JSON-RPC endpoint(s) to sync a temporary index from (with --contracts and --checkpoint).")
    var rpc: String?
    @Option(help: "With --rpc: the deployment file.") var contracts: String?
    @Option(help: "With --rpc: the trusted checkpoint NUMBER:HASH.") var checkpoint: String?
    @Option(
        help:
            "With --rpc: blocks below the head after which records are final (default: 1 on the devnet, chain id 31337; else 12)."
    )
    var finality: UInt64?
    @Option(help: "The DA store directory (bundles, evidence bundles, receipt heads).") var da: String?
    @Option(help: "The evidence bundle as a file (else read from --da under JobRecorded.attestationDigest).")
    var evidence: String?
    @Option(help: "The algorithm's source folder: packed and compared with the published bundle.") var source: String?
    @Option(help: "The consumer's ciphertext (output.age): compared with JobRecorded.outputDigest.") var output: String?
    @Flag(help: "Print the verdict as JSON.") var json = false

    /// Malformed options exit 2 (as every malformed input does), not ArgumentParser's usage status.
    func checkOptions() throws -> Hash32 {
        guard job.count == 66, let id = try? Hash32(hex: job) else {
            throw Self.malformed("JOB_ID: expected 0x and 64 hex digits, found \"\(job)\"")
        }
        if dataDir == nil {
            guard rpc != nil, contracts != nil, checkpoint != nil else {
                throw Self.malformed("expected --data-dir INDEX, or --rpc URL --contracts FILE --checkpoint N:HASH")
            }
        } else if rpc != nil {
            throw Self.malformed("expected either --data-dir or --rpc, not both")
        }
        return id
    }

    static func malformed(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("delong: \(message)\n".utf8))
        return ExitCode(ExitCodes.malformedInput)
    }

    static func readFile(_ path: String?, _ option: String) throws -> [UInt8]? {
        guard let path else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw malformed("\(option) \(path): cannot read the file")
        }
        return [UInt8](data)
    }

    func run() async throws {
        let id = try checkOptions()
        let evidenceBytes = try Self.readFile(evidence, "--evidence")
        let outputBytes = try Self.readFile(output, "--output")
        if let source {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw Self.malformed("--source \(source): expected a directory")
            }
        }
        if let da {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: da, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw Self.malformed("--da \(da): expected a directory")
            }
        }
        var temporary: String?
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
        let index: ChainIndex
        if let dataDir {
            do { index = try ChainIndex(existingAt: dataDir) } catch {
                throw Self.malformed("--data-dir \(dataDir): \(error)")
            }
        } else {
            let directory = NSTemporaryDirectory() + "delong-audit-\(UUID().uuidString)"
            temporary = directory
            let depth: UInt64
            if let finality {
                depth = finality
            } else {
                let deployment: DeploymentFile
                do { deployment = try DeploymentFile.read(contracts!) } catch {
                    throw Self.malformed("--contracts \(contracts!): \(error)")
                }
                depth = deployment.chainID == U256(InsecureDevelopmentEvidence.devnetChainID) ? 1 : 12
            }
            let options: SyncOptions
            do {
                options = try SyncOptions.parse([
                    "--rpc", rpc!, "--contracts", contracts!, "--checkpoint", checkpoint!, "--data-dir", directory,
                    "--finality", "\(depth)",
                ])
            } catch { throw Self.malformed("--rpc, --contracts, --checkpoint: \(error)") }
            let logger = Logger(label: "delong.audit")
            index = try await options.reportingFailures {
                let syncer = try await options.makeSyncer(logger: logger)
                _ = try await syncer.sync()
                return syncer.index
            }
        }
        let verdict = JobAudit.run(
            JobAuditInputs(
                job: id,
                index: index,
                da: da.map { DAStore(root: $0) },
                evidenceBundle: evidenceBytes,
                source: source,
                output: outputBytes
            )
        )
        print(json ? renderJSON(verdict.json) : verdict.text)
        if !verdict.passed { throw ExitCode(ExitCodes.verificationFailed) }
    }
}
