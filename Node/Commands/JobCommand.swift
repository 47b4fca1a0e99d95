import ArgumentParser
import ChainCore
import ChainIndex
import ChainRecords
import ComputingPlane
import Foundation
import PlaneCrypto
import PlaneProtocol

/// `delong job …`: a consumer's Secure jobs.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Submit Secure jobs to a Computing Plane, follow them, cancel them, fetch their sealed output.",
        discussion: """
            Jobs submitted from here are remembered in $DELONG_HOME/jobs (default ~/.delong/jobs) with their \
            plane's URL and TLS key, so the other commands take only the job id. Exit codes: 0 done (submit \
            --wait, status --watch: the job was released); 1 the job ended otherwise, or a check failed (fetch); \
            2 malformed input or an unknown job; 3 unreachable plane or I/O error; 4 key refused.
            """,
        subcommands: [
            JobSubmitCommand.self, JobStatusCommand.self, JobLogsCommand.self, JobCancelCommand.self,
            JobListCommand.self, JobFetchCommand.self,
        ]
    )
}

/// The plane a known job runs on, pinned to the TLS key it presented at submission.
struct KnownJob {
    let entry: LocalJob
    let id: Hash32
    let client: ComputePlaneClient

    init(_ text: String) throws {
        guard let id = try? Hash32(hex: text), text.hasPrefix("0x") else {
            throw CLIFailure.malformed("job id: expected 0x + 64 hex digits, found \(text)")
        }
        self.id = id
        entry = try LocalJob.records.entry(id.hex)
        client = try ComputePlaneClient(url: entry.plane, pinnedKey: entry.tlsKey)
    }

    func status() async throws -> [String: Any] { try await client.json("/v1/jobs/\(id.hex)") }
}

/// `delong job submit`.
struct JobSubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a published algorithm as a Secure job on a rented dataset.",
        discussion: """
            Connects to the Computing Plane (--plane, its attestation verified unless pinned), gets a Secure \
            token from the Privacy Plane it names (or --privacy-plane) for (dataset, image digest, a random job \
            id, this plane), signs the job request (token hash, output recipient, limits) as EIP-712 with the \
            wallet key, and submits it. The bundle must be the published one: its digest and the plane's runtime \
            make the image digest. With --wait, follows the job to its end.
            """
    )

    @OptionGroup var options: PlaneOptions
    @Option(help: "Session file from `delong privacy login` (the Privacy Plane the token comes from).")
    var session: String
    @Option(help: "The Privacy Plane's URL (default: the one the Computing Plane names).") var privacyPlane: String?
    @Option(help: "Trust only the Privacy Plane whose certificate (PEM) has this file's key.")
    var privacyPlaneCert: String?
    @Option(help: "Wallet private key file (0600): signs the job request; must be the session's address.")
    var walletKey: String
    @Option(help: "Dataset id (0x + 64 hex).") var dataset: String
    @Option(help: "The algorithm: a folder (packed canonically) or a canonical bundle file.") var bundle: String
    @Option(help: "The age X25519 recipient (age1…) the output is sealed to (`delong key new`).") var recipient: String
    @Option(help: "CPUs for the job.") var cpus: UInt32 = 1
    @Option(help: "Memory for the job: bytes, or with KiB/MiB/GiB.") var memory: String = "2GiB"
    @Option(help: "Seconds the job may run.") var timeout: UInt32 = 3600
    @Flag(help: "Follow the job until it ends; the exit code says how it ended.") var wait = false
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        guard (try? Hash32(hex: dataset)) != nil else {
            throw ValidationError("--dataset: expected 0x + 64 hex digits, found \"\(dataset)\"")
        }
        guard (try? AgeRecipient(parsing: recipient)) != nil else {
            throw ValidationError("--recipient: expected an age X25519 recipient (age1…), found \"\(recipient)\"")
        }
        guard (1...64).contains(cpus) else { throw ValidationError("--cpus: expected 1…64") }
        guard (1...(7 * 86400)).contains(timeout) else { throw ValidationError("--timeout: expected 1…604800 s") }
        guard (try? ByteSize.parse(memory)) != nil else {
            throw ValidationError("--memory: expected bytes or a size like 512MiB, found \"\(memory)\"")
        }
    }

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let (url, trust) = try await options.connection()
            let compute = ComputePlaneClient(url: url, trust: trust)
            let plane = try await compute.identity()
            let algorithm = try BundleInput.read(bundle)
            guard let runtime = algorithm.manifest.runtime ?? plane.runtimeDigest else {
                throw CLIFailure.malformed("the bundle names no runtime and the plane reports none")
            }
            let image = ImageDigest.of(runtime: runtime, bundle: algorithm.digest)
            let datasetID = try Hash32(hex: dataset)
            let jobID = try Hash32(try SecretBytes.random(count: 32).withUnsafeBytes { Array($0) })

            guard let privacyText = privacyPlane ?? plane.privacyPlane else {
                throw CLIFailure.malformed("the plane names no Privacy Plane; give --privacy-plane")
            }
            var privacyTrust = options
            privacyTrust.planeCert = privacyPlaneCert
            privacyTrust.planeCa = nil
            let (privacyURL, trustOfPrivacy) = try await PlaneOptions.connection(
                to: try PlaneURL(privacyText),
                options: privacyTrust
            )
            let token = try await PrivacyPlaneClient(url: privacyURL, trust: trustOfPrivacy).token(
                TokenRequest(
                    dataset: datasetID,
                    mode: .secure,
                    imageDigest: image,
                    jobID: jobID,
                    audience: plane.operatorAddress
                ),
                session: try readSession(session)
            )
            let tokenDomain = TokenDomain(chainID: plane.chainID, verifyingContract: plane.registry)
            let request = JobRequest(
                jobID: jobID,
                dataset: datasetID,
                imageDigest: image,
                tokenHash: try token.token.signingHash(tokenDomain),
                plane: plane.operatorAddress,
                outputRecipient: try AgeRecipient(parsing: recipient),
                limits: JobLimits(
                    cpus: cpus,
                    memoryBytes: try ByteSize.parse(memory),
                    timeoutSeconds: timeout
                )
            )
            let key = try readKeyFile(walletKey, what: "wallet key")
            let signed = try key.withUnsafeBytes { raw in
                try SignedJobRequest(
                    signing: request,
                    domain: JobDomain(chainID: plane.chainID, verifyingContract: plane.registry),
                    privateKey: Array(raw)
                )
            }
            let answer = try await compute.json("/v1/jobs", ["token": token.json, "request": signed.json])
            try LocalJob.records.save(
                LocalJob(
                    job: jobID.hex,
                    plane: url.description,
                    tlsKey: ComputePlaneClient.pin(of: trust),
                    dataset: datasetID.hex,
                    imageDigest: image.hex,
                    recipient: recipient,
                    submittedAt: Int64(Date().timeIntervalSince1970),
                    walletKey: URL(fileURLWithPath: walletKey).standardizedFileURL.path
                ),
                id: jobID.hex
            )
            if json && !wait {
                print(renderJSON(answer))
            } else {
                print(jobID.hex)
                FileHandle.standardError.write(
                    Data(
                        "submitted to \(url) (operator \(plane.operatorAddress.checksummed)), image \(image.hex)\n".utf8
                    )
                )
            }
            if wait {
                let final = try await JobWatch.follow(try KnownJob(jobID.hex), json: json)
                if final["outcome"] as? String != "released" { throw ExitCode(ExitCodes.verificationFailed) }
            }
        }
    }
}

/// Following a job on a terminal: one line per phase change, until it ends.
enum JobWatch {
    /// Event times with milliseconds (a whole job can take less than a second).
    nonisolated(unsafe) static let time: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    static func follow(_ job: KnownJob, json: Bool) async throws -> [String: Any] {
        let progress = CLIProgress.forCommand(json: json)
        let short = String(job.id.hex.prefix(10)) + "…"
        var seen = 0
        var phase = "submitted"
        var began: Double? = nil  // the job's first event (Unix seconds): elapsed is the job's, not the watch's
        let elapsed = { CLIProgress.duration(began.map { Date().timeIntervalSince1970 - $0 } ?? progress.seconds) }
        do {
            while true {
                let status = try await job.status()
                let phases = status["phases"] as? [[String: Any]] ?? []
                if !json {
                    for phase in phases.dropFirst(seen) {
                        let at = (phase["at"] as? Int).map { Date(timeIntervalSince1970: Double($0) / 1000) }
                        let time = at.map { JobWatch.time.string(from: $0) } ?? "?"
                        progress.note("  \(time)  \(phase["event"] as? String ?? "?")")
                    }
                }
                seen = phases.count
                began = began ?? (phases.first?["at"] as? Int).map { Double($0) / 1000 }
                phase = [status["state"] as? String, status["phase"] as? String].compactMap { $0 }.joined(
                    separator: " "
                )
                if status["state"] as? String == "finished" {
                    let ended = (phases.last?["at"] as? Int).map { Double($0) / 1000 }
                    let took = began.flatMap { start in ended.map { $0 - start } }
                    progress.finish(
                        "job \(short) \(status["outcome"] as? String ?? phase) · "
                            + (took.map { CLIProgress.duration($0) } ?? elapsed())
                    )
                    if json { print(renderJSON(status)) } else { print(JobStatusCommand.summary(status)) }
                    return status
                }
                // The elapsed time moves between polls (every 500 ms).
                for _ in 0..<5 {
                    progress.update("job \(short) \(phase) · \(elapsed())")
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        } catch {
            progress.clear()
            throw error
        }
    }
}

/// `delong job status ID [--watch] [--json]`.
struct JobStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A job's state, phase or outcome, digests and resource use."
    )
    @Argument(help: "The job id (0x + 64 hex).") var id: String
    @Flag(help: "Follow the job until it ends.") var watch = false
    @Flag(help: "Print the plane's status object as JSON.") var json = false

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let job = try KnownJob(id)
            if watch {
                let final = try await JobWatch.follow(job, json: json)
                if final["outcome"] as? String != "released" { throw ExitCode(ExitCodes.verificationFailed) }
                return
            }
            let status = try await job.status()
            print(json ? renderJSON(status) : Self.summary(status))
        }
    }

    static func summary(_ s: [String: Any]) -> String {
        var lines = ["job            \(s["job"] as? String ?? "?")"]
        if let outcome = s["outcome"] as? String {
            lines.append("outcome        \(outcome)" + ((s["detail"] as? String).map { ": \($0)" } ?? ""))
        } else {
            lines.append("state          \(s["state"] as? String ?? "?") (\(s["phase"] as? String ?? "?"))")
        }
        for key in [
            "dataset", "imageDigest", "outputDigest", "cipherDigest", "evidenceDigest", "transaction", "revocation",
            "failure",
        ] {
            if let value = s[key] as? String {
                lines.append(key.padding(toLength: 15, withPad: " ", startingAt: 0) + value)
            }
        }
        if let r = s["resources"] as? [String: Any] {
            lines.append(
                "used           \(r["wallSeconds"] ?? "?") s wall, \(r["cpuSeconds"] ?? "?") s CPU, peak \(r["peakMemoryBytes"] ?? "?") bytes"
            )
        }
        return lines.joined(separator: "\n")
    }
}

/// `delong job logs ID`: phase events and resource use (the job's own stdout and stderr are outputs).
struct JobLogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "A job's phase events and resource use; its stdout and stderr are outputs and pass the gate."
    )
    @Argument(help: "The job id.") var id: String
    @Flag(help: "Print the plane's answer as JSON.") var json = false

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let job = try KnownJob(id)
            let events = try await job.client.json("/v1/jobs/\(job.id.hex)/events")
            if json {
                print(renderJSON(events))
                return
            }
            for event in events["events"] as? [[String: Any]] ?? [] {
                let at = Date(timeIntervalSince1970: Double(event["at"] as? Int ?? 0) / 1000)
                print("\(JobWatch.time.string(from: at))  \(event["event"] as? String ?? "?")")
            }
            if let r = events["resources"] as? [String: Any] {
                print(
                    "resources: \(r["wallSeconds"] ?? "?") s wall, \(r["cpuSeconds"] ?? "?") s CPU, peak memory \(r["peakMemoryBytes"] ?? "?") bytes"
                )
            }
        }
    }
}

/// `delong job cancel ID [--wallet-key KEY]`.
struct JobCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a job (its consumer's wallet signs the cancel); a finished job stays as it ended."
    )
    @Argument(help: "The job id.") var id: String
    @Option(help: "The consumer's wallet key file (0600); default: the one the job was submitted with.")
    var walletKey: String?
    @Flag(help: "Print the plane's answer as JSON.") var json = false

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let job = try KnownJob(id)
            let at = UInt64(Date().timeIntervalSince1970)
            guard let keyFile = walletKey ?? job.entry.walletKey else {
                throw CLIFailure.malformed("no wallet key recorded for \(job.id.hex); give --wallet-key")
            }
            let key = try readKeyFile(keyFile, what: "wallet key")
            let signature = try key.withUnsafeBytes {
                try Secp256k1.shared.sign(JobCancellation.hash(job: job.id, at: at), privateKey: Array($0))
            }
            let answer = try await job.client.json(
                "/v1/jobs/\(job.id.hex)/cancel",
                ["at": "\(at)", "signature": Hex.encode(signature.rsv)]
            )
            print(
                json
                    ? renderJSON(answer)
                    : "\(job.id.hex) \(answer["outcome"] as? String ?? answer["state"] as? String ?? "?")"
            )
        }
    }
}

/// `delong job list`.
struct JobListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The jobs submitted from here, newest first, with their state on their plane."
    )
    @Flag(help: "Print a JSON array.") var json = false

    func run() async throws {
        try await PlaneClientSupport.reporting {
            var rows: [[String: Any]] = []
            for entry in LocalJob.records.all().sorted(by: { $0.submittedAt > $1.submittedAt }) {
                var row: [String: Any] = ["job": entry.job, "plane": entry.plane, "dataset": entry.dataset]
                do {
                    let status = try await KnownJob(entry.job).status()
                    row["state"] = status["state"]
                    row["phase"] = status["phase"]
                    row["outcome"] = status["outcome"]
                } catch {
                    row["state"] = "unknown (\(error))"
                }
                rows.append(row)
            }
            if json {
                print(renderJSON(rows))
                return
            }
            for row in rows {
                let state = row["outcome"] as? String ?? "\(row["state"] ?? "?") (\(row["phase"] as? String ?? "-"))"
                print("\(row["job"] as? String ?? "?")  \(state)  \(row["plane"] as? String ?? "")")
            }
        }
    }
}

/// `delong job fetch ID -i KEY -o DIR`.
struct JobFetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download a released output, check it against the signed result record and the chain, decrypt it.",
        discussion: """
            Checks, before writing anything: the evidence bundle hashes to JobRecorded.attestationDigest and \
            the age file to JobRecorded.outputDigest in the verified index at --data-dir (sync it with `delong \
            node sync`); the result record is signed by the agent key the evidence's REPORTDATA binds with the \
            job's token and image; the record names this job, dataset, consumer and image, and the sha256 of the \
            ciphertext and of the decrypted tar; the gate document hashes to the record's gateDigest and the \
            job's decision log entries chain to its reviewDigest; a reviewed output carries enough approvals, \
            each signed by the provider or a reviewer the provider's signed list names, never the consumer. \
            Then unpacks the tar into DIR (out/… and log.txt).
            """
    )
    @Argument(help: "The job id.") var id: String
    @Option(name: [.customShort("i"), .long], help: "The age identity file (`delong key new`).") var identity: String
    @Option(name: [.customShort("o"), .long], help: "Directory to create for the output.") var out: String
    @Option(
        help:
            "Also keep the checked ciphertext here (the age file JobRecorded.outputDigest names), for Debian's `age -d` or `delong audit job --output`; must not exist."
    )
    var sealed: String?
    @OptionGroup var index: IndexOptions
    @Flag(help: "Print what was checked as JSON.") var json = false

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let job = try KnownJob(id)
            guard !FileManager.default.fileExists(atPath: out) else {
                throw CLIFailure.malformed("-o \(out): expected a directory that does not exist yet")
            }
            if let sealed, FileManager.default.fileExists(atPath: sealed) {
                throw CLIFailure.malformed("--sealed \(sealed): expected a file that does not exist yet")
            }
            let ageIdentities = try KeyRecipientCommand.identities(in: identity)
            let chain = try ChainIndex(existingAt: index.dataDir)
            guard let recorded = try chain.job(job.id) else {
                throw CLIFailure(
                    exitCode: ExitCodes.verificationFailed,
                    message:
                        "no JobRecorded for \(job.id.hex) in the verified index at \(index.dataDir) (sync it: delong node sync …)"
                )
            }
            let answer = try await job.client.json("/v1/jobs/\(job.id.hex)/result")
            guard let evidence = answer["evidence"] as? String else {
                throw CLIFailure(exitCode: ExitCodes.verificationFailed, message: "the plane sent no evidence bundle")
            }
            let ciphertext = try await job.client.send("/v1/jobs/\(job.id.hex)/output", maxBody: 512 << 20)
            let registry = chain.config.contracts.algorithmRegistry
            let verified = try ReleasedOutput.verify(
                job: job.id,
                evidenceBundle: Array(evidence.utf8),
                sealed: ciphertext,
                recorded: recorded.job,
                tokenDomain: TokenDomain(chainID: chain.config.chainID, verifyingContract: registry),
                jobDomain: JobDomain(chainID: chain.config.chainID, verifyingContract: registry),
                provider: try chain.dataset(recorded.job.datasetID)?.provider,
                identities: ageIdentities
            )
            let files = try OutputPackage.unpack(verified.archive, into: out)
            if let sealed {
                do {
                    try Data(ciphertext).write(to: URL(fileURLWithPath: sealed), options: .atomic)
                } catch {
                    throw CLIFailure.io("--sealed \(sealed): \(error)")
                }
            }
            if json {
                print(renderJSON(verified.summary))
            } else {
                print(
                    "\(out): \(files) files, output sha256 \(verified.summary["outputSha256"] ?? "")"
                )
                FileHandle.standardError.write(Data("checked: \(verified.summary["evidence"] ?? "")\n".utf8))
            }
        }
    }
}

/// A JSON answer printed as the CLI prints JSON.
func renderJSON(_ value: Any) -> String { JSONOutput(any: value).rendered() }
