import ChainCore
import ChainRecords
import ComputingPlane
import Foundation
import Hummingbird
import NIOCore
import PlaneProtocol
import PrivacyPlaneHTTP

/// The review API (docs/output-gate.md, "Human review"). What anyone may see of a case: the job, the dataset,
/// who may review, how many approvals it has. What only the case's reviewers see, on a request signed by
/// their key: the gate's findings and the output itself. The consumer sees the gate's verdict and the
/// reviewers' decisions with their reasons, never the findings (they would say which of its values are the
/// dataset's).
extension ComputeRoutes {
    func addReviewRoutes(to router: Router<PlaneRequestContext>) {
        router.get("/v1/reviews") { _, _ in try await handle { await reviews() } }
        router.get("/v1/reviews/log") { _, _ in try await handle { decisionLog() } }
        router.get("/v1/jobs/:id/review") { _, context in try await handle { try await review(try Self.id(context)) } }
        router.post("/v1/jobs/:id/review/output") { request, context in
            try await handle { try await reviewOutput(try Self.id(context), request) }
        }
        router.post("/v1/jobs/:id/review/report") { request, context in
            try await handle { try await reviewReport(try Self.id(context), request) }
        }
        router.post("/v1/jobs/:id/review") { request, context in
            try await handle { try await decide(try Self.id(context), request) }
        }
        router.get("/v1/datasets/:id/reviewers") { _, context in
            try await handle { try await reviewers(try Self.id(context, "dataset")) }
        }
        router.post("/v1/datasets/:id/reviewers") { request, context in
            try await handle { try await setReviewers(try Self.id(context, "dataset"), request) }
        }
    }

    /// Every case waiting, oldest first (no findings, no names, no bytes).
    func reviews() async -> Response {
        var items: [ResponseJSON] = []
        for item in await plane.desk.waiting() { items.append(await caseFields(item)) }
        return ResponseJSON.response(.object([("reviews", .array(items))]))
    }

    func review(_ id: Hash32) async throws -> Response {
        guard let item = await plane.desk.waiting(id) else {
            throw Refusal(.notFound, "not_in_review", "job \(id.hex) has no output waiting for review")
        }
        return ResponseJSON.response(await caseFields(item))
    }

    func caseFields(_ item: ReviewDesk.Case) async -> ResponseJSON {
        let panel = await plane.desk.panel(dataset: item.dataset, provider: item.provider, consumer: item.consumer)
        return .object([
            ("job", .string(item.job.hex)), ("dataset", .string(item.dataset.hex)),
            ("outputDigest", .string(item.outputDigest.hex)), ("provider", .string(item.provider.checksummed)),
            ("reviewers", .array(panel.reviewers.map { .string($0.checksummed) })), ("required", .int(panel.required)),
            ("listVersion", panel.version.map { .string("\($0)") } ?? .null),
            ("approvals", .int(item.votes.filter(\.decision.approve).count)),
            (
                "decided",
                .array(item.votes.compactMap { (try? $0.signer(env.jobDomain)).map { .string($0.checksummed) } })
            ),
            ("shortfall", .optional(panel.shortfall)), ("since", .int(item.since)), ("deadline", .int(item.deadline)),
            ("files", .int(item.report.files.count)),
        ])
    }

    /// The plaintext output tar, to one of the case's reviewers (a signature over the job and a recent time).
    func reviewOutput(_ id: Hash32, _ request: Request) async throws -> Response {
        let (at, signature) = try Self.signedAt(try await Self.body(request), "request")
        let archive = try await plane.desk.output(id, at: at, signature: signature)
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-tar"],
            body: .init(byteBuffer: ByteBuffer(bytes: archive))
        )
    }

    /// The gate's report (per file: decision and findings), to one of the case's reviewers, signed as for
    /// the output.
    func reviewReport(_ id: Hash32, _ request: Request) async throws -> Response {
        let (at, signature) = try Self.signedAt(try await Self.body(request), "request")
        let report = try await plane.desk.report(id, at: at, signature: signature)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: report.json()))
        )
    }

    func decide(_ id: Hash32, _ request: Request) async throws -> Response {
        let decision = try SignedReviewDecision(json: try await Self.body(request)["decision"] as Any)
        guard decision.decision.jobID == id else {
            throw Refusal(
                .badRequest,
                "bad_request",
                "the decision is for job \(decision.decision.jobID.hex), not \(id.hex)"
            )
        }
        let progress = try await plane.desk.decide(decision)
        return ResponseJSON.response(
            .object([
                ("job", .string(id.hex)), ("accepted", .bool(true)), ("approve", .bool(decision.decision.approve)),
                ("approvals", .int(progress.approvals)), ("required", .int(progress.required)),
                ("settled", progress.settled.map { .string($0 ? "approved" : "rejected") } ?? .null),
            ])
        )
    }

    func reviewers(_ dataset: Hash32) async throws -> Response {
        guard let list = await plane.desk.reviewers(of: dataset) else {
            throw Refusal(.notFound, "no_list", "dataset \(dataset.hex) has no reviewer list here")
        }
        return ResponseJSON.response(OrderedJSON(any: list.json))
    }

    /// A new reviewer list, signed by the dataset's provider as the verified index names it.
    func setReviewers(_ dataset: Hash32, _ request: Request) async throws -> Response {
        let signed = try SignedReviewerList(json: try await Self.body(request)["reviewers"] as Any)
        guard signed.list.dataset == dataset else {
            throw Refusal(
                .badRequest,
                "bad_request",
                "the list is for dataset \(signed.list.dataset.hex), not \(dataset.hex)"
            )
        }
        guard let record = try env.records.dataset(dataset), !record.retired else {
            throw Refusal(.notFound, "unknown_dataset", "dataset \(dataset.hex) is not registered, or retired")
        }
        try await plane.desk.setReviewers(signed, provider: record.provider)
        return ResponseJSON.response(
            .object([("dataset", .string(dataset.hex)), ("version", .string("\(signed.list.version)"))])
        )
    }

    /// The whole decision log, as written (for auditors: every line's hash chains to the one before).
    func decisionLog() -> Response {
        let lines = plane.desk.log.all.map(\.line)
        return ResponseJSON.response(
            .object([("head", .string(plane.desk.log.head.hex)), ("entries", .array(lines.map(ResponseJSON.string)))])
        )
    }

    /// What the consumer sees of a review in the job's status: who may decide, how many must approve, the
    /// decisions with their reasons and how it ended.
    static func reviewFields(_ facts: JobFacts.Values?) -> ResponseJSON {
        guard let facts, facts.reviewers != nil || facts.reviews != nil else { return .null }
        let decisions: [ResponseJSON] = (facts.reviews ?? []).compactMap { text in
            guard let review = JobFacts.object(text)?["review"] as? [String: Any] else { return nil }
            return .object([
                ("approve", .optional(review["approve"] as? Bool)), ("reason", .optional(review["reason"] as? String)),
                ("decidedAt", .optional(review["decidedAt"] as? String)),
            ])
        }
        return .object([
            ("reviewers", .array((facts.reviewers ?? []).map(ResponseJSON.string))),
            ("required", facts.reviewRequired.map { .int($0) } ?? .null), ("decisions", .array(decisions)),
            ("summary", .optional(facts.reviewSummary)),
        ])
    }
}
