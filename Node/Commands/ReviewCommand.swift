import ArgumentParser
import ChainCore
import ComputingPlane
import Foundation
import PlaneCrypto
import PlaneProtocol

/// `delong review …`: the dataset provider's human review of a Secure job's output.
struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Read a job's output the Output Gate flagged, and approve or reject it (a reviewer's wallet).",
        discussion: """
            An output the gate flags waits for its reviewers: the dataset's provider and the addresses of the \
            provider's signed reviewer list (`reviewers`), never the consumer; two must approve unless the list \
            says one; one rejection rejects. `show` downloads the plaintext output and prints the gate's \
            findings (to a reviewer only: the request is signed by the reviewer's wallet); `approve` and \
            `reject` sign an EIP-712 DeLongReview over the job id and the output's sha256, which the plane \
            appends to its hash-chained decision log. Exit codes: 0 done, 1 refused by the plane, 2 malformed \
            input, 3 unreachable, 4 key refused (not a reviewer).
            """,
        subcommands: [
            ReviewListCommand.self, ReviewShowCommand.self, ReviewApproveCommand.self, ReviewRejectCommand.self,
            ReviewReviewersCommand.self,
        ]
    )
}

/// What the review commands share: the plane, the job, the provider's key.
struct ReviewOptions: ParsableArguments {
    @Argument(help: "The job id (0x + 64 hex).") var job: String
    @OptionGroup var plane: PlaneOptions
    @Option(help: "The dataset provider's wallet key file (0600).") var walletKey: String

    func validate() throws {
        guard job.hasPrefix("0x"), (try? Hash32(hex: job)) != nil else {
            throw ValidationError("JOB: expected 0x + 64 hex digits, found \"\(job)\"")
        }
    }

    var id: Hash32 { try! Hash32(hex: job) }

    func client() async throws -> ComputePlaneClient {
        let (url, trust) = try await plane.connection()
        return ComputePlaneClient(url: url, trust: trust)
    }

    /// Signs a decision on the waiting output and sends it.
    func decide(approve: Bool, reason: String) async throws {
        let client = try await client()
        let identity = try await client.identity()
        let waiting = try await client.json("/v1/jobs/\(id.hex)/review")
        guard let digest = (waiting["outputDigest"] as? String).flatMap({ try? Hash32(hex: $0) }) else {
            throw PlaneProtocolError(.malformed, "the plane's review answer has no output digest")
        }
        let decision = try ReviewDecision(
            jobID: id,
            outputDigest: digest,
            approve: approve,
            reason: reason,
            decidedAt: UInt64(Date().timeIntervalSince1970)
        )
        let key = try readKeyFile(walletKey, what: "wallet key")
        let signed = try key.withUnsafeBytes { raw in
            try SignedReviewDecision(
                signing: decision,
                domain: JobDomain(chainID: identity.chainID, verifyingContract: identity.registry),
                privateKey: Array(raw)
            )
        }
        let progress = try await client.json("/v1/jobs/\(id.hex)/review", ["decision": signed.json])
        let approvals = (progress["approvals"] as? Int).map(String.init) ?? "?"
        let required = (progress["required"] as? Int).map(String.init) ?? "?"
        let state = (progress["settled"] as? String) ?? "waiting for more reviewers"
        print(
            "\(id.hex) \(approve ? "approved" : "rejected") (output \(digest.hex)): \(approvals) of \(required) approvals, \(state)"
        )
    }
}

/// `delong review show JOB --plane URL --wallet-key KEY -o DIR`.
struct ReviewShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Download the output waiting for review (plaintext, to the provider only) into a new directory."
    )
    @OptionGroup var options: ReviewOptions
    @Option(name: [.customShort("o"), .long], help: "Directory to create.") var out: String

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let client = try await options.client()
            let at = UInt64(Date().timeIntervalSince1970)
            let key = try readKeyFile(options.walletKey, what: "wallet key")
            let signature = try key.withUnsafeBytes {
                try Secp256k1.shared.sign(ReviewDesk.outputRequestHash(job: options.id, at: at), privateKey: Array($0))
            }
            let signed: [String: Any] = ["at": "\(at)", "signature": Hex.encode(signature.rsv)]
            let archive = try await client.send(
                "/v1/jobs/\(options.id.hex)/review/output",
                signed,
                maxBody: 512 << 20
            )
            let report = try await client.json("/v1/jobs/\(options.id.hex)/review/report", signed)
            try OutputPackage.unpack(archive, into: out)
            print("\(out): output sha256 \(BundleDigest.of(archive).hex)")
            print("gate: \(report["decision"] as? String ?? "?")")
            for file in report["files"] as? [[String: Any]] ?? [] {
                let path = Terminal.safe(file["path"] as? String ?? "?")
                for finding in file["findings"] as? [[String: Any]] ?? [] {
                    let text = ["check", "severity", "where", "detail"].map {
                        Terminal.safe(finding[$0] as? String ?? "")
                    }
                    print("  \(path): \(text[0]) (\(text[1])) at \(text[2]): \(text[3])")
                }
            }
        }
    }
}

/// `delong review approve JOB --reason TEXT`.
struct ReviewApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Release the output: it is sealed to the consumer and recorded on chain."
    )
    @OptionGroup var options: ReviewOptions
    @Option(help: "Why (kept in the decision log and signed).") var reason: String

    func run() async throws {
        try await PlaneClientSupport.reporting { try await options.decide(approve: true, reason: reason) }
    }
}

/// `delong review reject JOB --reason TEXT`.
struct ReviewRejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject the output: nothing is released; the job ends reviewRejected."
    )
    @OptionGroup var options: ReviewOptions
    @Option(help: "Why (kept in the decision log and signed).") var reason: String

    func run() async throws {
        try await PlaneClientSupport.reporting { try await options.decide(approve: false, reason: reason) }
    }
}

/// `delong review reviewers --dataset ID --plane URL --wallet-key KEY [--reviewer ADDR]… [--required N]`.
struct ReviewReviewersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reviewers",
        abstract: "Show, or (with --reviewer or --required) replace, a dataset's signed reviewer list.",
        discussion: """
            The dataset's provider names who reviews its outputs besides itself and how many approvals an \
            output needs (1 or 2; 2 by default). The list is signed (EIP-712 DeLongReviewers) with the next \
            version after the plane's, so an older list cannot be replayed. The consumer of a job never reviews \
            it, even when listed.
            """
    )
    @Option(help: "The dataset id (0x + 64 hex).") var dataset: String
    @OptionGroup var plane: PlaneOptions
    @Option(help: "The dataset provider's wallet key file (0600); needed to change the list.") var walletKey: String?
    @Option(help: "A reviewer's address (repeat for several); replaces the list.") var reviewer: [String] = []
    @Option(help: "Approvals an output needs: 1 or 2.") var required: UInt8?

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let id: Hash32
            do { id = try Hash32(hex: dataset) } catch {
                throw PlaneProtocolError(.malformed, "--dataset: expected 0x + 64 hex digits, found \"\(dataset)\"")
            }
            let (url, trust) = try await plane.connection()
            let client = ComputePlaneClient(url: url, trust: trust)
            let current = try? SignedReviewerList(json: try await client.json("/v1/datasets/\(id.hex)/reviewers"))
            guard !reviewer.isEmpty || required != nil else {
                guard let list = current?.list else {
                    print("\(id.hex): no reviewer list; the provider alone reviews, and 2 approvals are needed")
                    return
                }
                print("\(id.hex) version \(list.version): \(list.required) approvals from the provider or")
                for address in list.reviewers { print("  \(address.checksummed)") }
                return
            }
            guard let walletKey else {
                throw PlaneProtocolError(.malformed, "--wallet-key: the provider's key is needed to change the list")
            }
            var addresses: [Address] = []
            for text in reviewer {
                do { addresses.append(try Address(hex: text)) } catch {
                    throw PlaneProtocolError(.malformed, "--reviewer: expected a 0x address, found \"\(text)\"")
                }
            }
            let identity = try await client.identity()
            let list = try ReviewerList(
                dataset: id,
                version: (current?.list.version ?? 0) + 1,
                reviewers: reviewer.isEmpty ? current?.list.reviewers ?? [] : addresses,
                required: required ?? current?.list.required ?? ReviewerList.defaultRequired
            )
            let key = try readKeyFile(walletKey, what: "wallet key")
            let signed = try key.withUnsafeBytes { raw in
                try SignedReviewerList(
                    signing: list,
                    domain: JobDomain(chainID: identity.chainID, verifyingContract: identity.registry),
                    privateKey: Array(raw)
                )
            }
            _ = try await client.json("/v1/datasets/\(id.hex)/reviewers", ["reviewers": signed.json])
            print(
                "\(id.hex) version \(list.version): \(list.reviewers.count) reviewers, \(list.required) approvals needed"
            )
        }
    }
}

/// `delong review list --plane URL [--json]`: the cases waiting for review (GET /v1/reviews), oldest first.
struct ReviewListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the outputs waiting for review: job, dataset, approvals of required, deadline, shortfall."
    )
    @OptionGroup var plane: PlaneOptions
    @Flag(help: "Print the plane's JSON answer.") var json = false

    func run() async throws {
        try await PlaneClientSupport.reporting {
            let (url, trust) = try await plane.connection()
            let answer = try await ComputePlaneClient(url: url, trust: trust).json("/v1/reviews")
            let cases = answer["reviews"] as? [[String: Any]] ?? []
            if json {
                print(OrderedJSON(any: answer).rendered())
                return
            }
            if cases.isEmpty { print("no output waits for review") }
            for item in cases {
                let deadline = (item["deadline"] as? NSNumber).map {
                    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: $0.doubleValue / 1000))
                }
                var line = "\(item["job"] as? String ?? "?") dataset \(item["dataset"] as? String ?? "?")"
                line += " approvals \(item["approvals"] as? Int ?? 0)/\(item["required"] as? Int ?? 0)"
                line += " files \(item["files"] as? Int ?? 0) deadline \(deadline ?? "?")"
                if let shortfall = item["shortfall"] as? String { line += " shortfall: \(shortfall)" }
                print(line)
            }
        }
    }
}
