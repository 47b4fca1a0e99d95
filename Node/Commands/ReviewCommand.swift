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
        abstract: "Read a job's output waiting for review, and release or reject it (the dataset provider's wallet).",
        discussion: """
            Every Secure job's output waits for its dataset provider's decision; nothing leaves without one. \
            `show` downloads the plaintext output (to the provider only: the request is signed by the provider's \
            wallet); `approve` and `reject` sign an EIP-712 DeLongReview over the job id and the output's \
            sha256, which the plane appends to its decision log. Exit codes: 0 done, 1 refused by the plane, \
            2 malformed input, 3 unreachable, 4 key refused.
            """,
        subcommands: [
            ReviewListCommand.self, ReviewShowCommand.self, ReviewApproveCommand.self, ReviewRejectCommand.self,
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
        _ = try await client.json("/v1/jobs/\(id.hex)/review", ["decision": signed.json])
        print("\(id.hex) \(approve ? "approved" : "rejected") (output \(digest.hex))")
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
            let archive = try await client.send(
                "/v1/jobs/\(options.id.hex)/review/output",
                ["at": "\(at)", "signature": Hex.encode(signature.rsv)],
                maxBody: 512 << 20
            )
            try OutputPackage.unpack(archive, into: out)
            print("\(out): output sha256 \(BundleDigest.of(archive).hex)")
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
