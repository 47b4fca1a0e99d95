import ChainCore
public import ComputingPlane
import Foundation
public import Hummingbird
public import Logging
public import Metrics
import NIOCore
public import PlaneProtocol
public import PrivacyPlaneHTTP

/// The Computing Plane's HTTP API under /v1 (docs/jobs.md "HTTP API"). Status and events carry no output
/// bytes and no output names (they could carry data past review); the output leaves only sealed, after a
/// review decision, or as plaintext to the dataset's provider for review, on a request signed by that key.
public struct ComputeRoutes: Sendable {
    public let plane: ComputePlane
    public let ownEvidence: @Sendable () -> ResponseJSON
    public let privacyPlane: String
    public let logger: Logger

    public init(
        plane: ComputePlane,
        ownEvidence: @escaping @Sendable () -> ResponseJSON,
        privacyPlane: String,
        logger: Logger
    ) {
        self.plane = plane
        self.ownEvidence = ownEvidence
        self.privacyPlane = privacyPlane
        self.logger = logger
    }

    var env: AgentEnvironment { plane.env }

    /// Largest request body: a token, a signed request, a decision.
    static let maxBody = 64 << 10

    public func addRoutes(to router: Router<PlaneRequestContext>) {
        router.get("/v1/attestation") { _, _ in attestation() }
        router.post("/v1/jobs") { request, _ in try await handle { try await submit(request) } }
        router.get("/v1/jobs") { request, _ in try await handle { try list(request) } }
        router.get("/v1/jobs/:id") { _, context in try await handle { try await status(try Self.id(context)) } }
        router.get("/v1/jobs/:id/events") { _, context in try await handle { try events(try Self.id(context)) } }
        router.post("/v1/jobs/:id/cancel") { request, context in
            try await handle { try await cancel(try Self.id(context), request) }
        }
        router.get("/v1/jobs/:id/output") { _, context in
            try await handle { try await output(try Self.id(context)) }
        }
        router.get("/v1/jobs/:id/result") { _, context in try await handle { try result(try Self.id(context)) } }
        addReviewRoutes(to: router)
        addAgentRoutes(to: router)
    }

    // MARK: Handlers

    func attestation() -> Response {
        ResponseJSON.response(
            .object([
                ("signer", .string(env.operatorAddress.checksummed)),
                (
                    "tokenDomain",
                    .object([
                        ("name", .string(TokenDomain.name)), ("version", .string(TokenDomain.version)),
                        ("chainId", .int(env.tokenDomain.chainID)),
                        ("verifyingContract", .string(env.tokenDomain.verifyingContract.checksummed)),
                    ])
                ),
                ("runtimeDigest", .optional(env.runtime.digest.map(BundleDigest.text))),
                ("privacyPlane", .string(privacyPlane)),
                ("evidence", ownEvidence()),
            ])
        )
    }

    func submit(_ request: Request) async throws -> Response {
        let body = try await Self.body(request)
        let token = try SignedAccessToken(json: body["token"] as Any)
        let signed = try SignedJobRequest(json: body["request"] as Any)
        let state = try await plane.submit(token: token, request: signed)
        return ResponseJSON.response(
            .object([("job", .string(signed.request.jobID.hex)), ("state", .string(state.description))]),
            status: .accepted
        )
    }

    func list(_ request: Request) throws -> Response {
        let consumer = try request.uri.queryParameters.get("consumer").map { text throws -> Address in
            guard let address = try? Address(hex: text) else {
                throw Refusal(.badRequest, "bad_request", "consumer: expected 0x + 40 hex digits, found \(text)")
            }
            return address
        }
        let jobs = plane.list(consumer: consumer).prefix(1000).map { job in
            ResponseJSON.object(
                [("job", .string(job.job))] + Self.stateFields(job.state)
                    + [
                        ("dataset", .optional(job.facts?.dataset)), ("imageDigest", .optional(job.facts?.imageDigest)),
                        ("submittedAt", job.facts.map { .int($0.submittedAt) } ?? .null),
                    ]
            )
        }
        return ResponseJSON.response(.object([("jobs", .array(Array(jobs)))]))
    }

    func status(_ id: Hash32) async throws -> Response {
        guard let status = plane.status(id) else { throw Self.unknown(id) }
        var facts = status.facts
        // While the output waits, the panel is the current one (the provider may name reviewers meanwhile).
        if let item = await plane.desk.waiting(id) {
            let panel = await plane.desk.panel(dataset: item.dataset, provider: item.provider, consumer: item.consumer)
            facts?.reviewers = panel.reviewers.map(\.checksummed)
            facts?.reviewRequired = panel.required
            facts?.reviewSummary = panel.shortfall ?? "\(item.votes.count) of \(panel.required) reviewers have decided"
        }
        var fields: [(String, ResponseJSON)] = [("job", .string(id.hex))] + Self.stateFields(status.state)
        fields += [
            ("consumer", .optional(facts?.consumer)), ("dataset", .optional(facts?.dataset)),
            ("imageDigest", .optional(facts?.imageDigest)), ("bundleDigest", .optional(facts?.bundleDigest)),
            ("runtimeDigest", .optional(facts?.runtimeDigest)), ("recipient", .optional(facts?.recipient)),
            ("submittedAt", facts.map { .int($0.submittedAt) } ?? .null),
            ("phases", .array(status.events.map(Self.event))),
            ("resources", Self.resources(facts?.resources)),
            ("reviewer", .optional(facts?.reviewer)), ("review", Self.reviewFields(facts)),
            ("revocation", .optional(facts?.revocation)),
            ("failure", .optional(facts?.failure)),
            ("outputDigest", .optional(facts?.outputDigest)), ("cipherDigest", .optional(facts?.cipherDigest)),
            ("evidenceDigest", .optional(facts?.evidenceDigest)), ("transaction", .optional(facts?.transaction)),
        ]
        return ResponseJSON.response(.object(fields))
    }

    func events(_ id: Hash32) throws -> Response {
        guard let status = plane.status(id) else { throw Self.unknown(id) }
        return ResponseJSON.response(
            .object([
                ("job", .string(id.hex)), ("events", .array(status.events.map(Self.event))),
                ("resources", Self.resources(status.facts?.resources)),
            ])
        )
    }

    func cancel(_ id: Hash32, _ request: Request) async throws -> Response {
        let (at, signature) = try Self.signedAt(try await Self.body(request), "cancel")
        let state = try await plane.cancel(id, at: at, signature: signature)
        return ResponseJSON.response(.object([("job", .string(id.hex))] + Self.stateFields(state)))
    }

    func output(_ id: Hash32) async throws -> Response {
        guard plane.status(id) != nil else { throw Self.unknown(id) }
        guard let sealed = await plane.sealedOutput(id) else {
            throw Refusal(.conflict, "not_released", "job \(id.hex) has released no output")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream"],
            body: .init(byteBuffer: ByteBuffer(bytes: sealed))
        )
    }

    /// The signed result record and the evidence bundle (from the DA store) of a released job.
    func result(_ id: Hash32) throws -> Response {
        guard let status = plane.status(id), let facts = status.facts else { throw Self.unknown(id) }
        guard let result = facts.result.flatMap(JobFacts.object), let digest = facts.evidenceDigest,
            let evidenceDigest = try? Hash32(hex: digest)
        else { throw Refusal(.conflict, "not_released", "job \(id.hex) has no result record") }
        let bundle = try env.da.get(evidenceDigest, limit: 64 << 20)
        return ResponseJSON.response(
            .object([
                ("job", .string(id.hex)), ("result", ResponseJSON(any: result)),
                ("evidenceDigest", .string(digest)), ("evidence", .string(String(decoding: bundle, as: UTF8.self))),
                ("transaction", .optional(facts.transaction)),
            ])
        )
    }

    /// Sets the job gauges from the job log into `metrics` (when /metrics is scraped): jobs by stage and
    /// finished jobs by outcome name, every stage and outcome written (0 when none), so a series falls back
    /// to 0 rather than keeping its last value.
    public func recordGauges(metrics: any MetricsFactory) {
        var byStage: [String: Int] = [:]
        var outcomes: [String: Int] = [:]
        for job in plane.log.jobs {
            byStage[job.state.stage, default: 0] += 1
            if case .finished(let outcome) = job.state { outcomes[outcome.name, default: 0] += 1 }
        }
        for stage in ["pending", "running", "finishing", "finished"] {
            Meter(label: "delong_compute_jobs", dimensions: [("stage", stage)], factory: metrics)
                .set(byStage[stage] ?? 0)
        }
        for outcome in JobOutcome.names {
            Meter(label: "delong_compute_outcomes", dimensions: [("outcome", outcome)], factory: metrics)
                .set(outcomes[outcome] ?? 0)
        }
    }

    // MARK: Encoding

    static func stateFields(_ state: JobState) -> [(String, ResponseJSON)] {
        switch state {
        case .active(let phase):
            return [("state", .string(phase.stage)), ("phase", .string(phase.rawValue)), ("outcome", .null)]
        case .finished(let outcome):
            var detail: String? = nil
            if case .refused(_, let d) = outcome { detail = d }
            if case .infraError(let d) = outcome { detail = d }
            return [
                ("state", .string("finished")), ("phase", .null), ("outcome", .string(outcome.description)),
                ("detail", .optional(detail)),
            ]
        }
    }

    static func event(_ entry: JobLog.Entry) -> ResponseJSON {
        .object([("at", .int(entry.at)), ("event", .string(JobLog.describe(entry.event)))])
    }

    static func resources(_ r: JobFacts.Resources?) -> ResponseJSON {
        guard let r else { return .null }
        return .object([
            ("wallSeconds", .number(String(format: "%.3f", r.wallSeconds))),
            ("cpuSeconds", .number(String(format: "%.3f", r.cpuSeconds))),
            ("peakMemoryBytes", .int(r.peakMemoryBytes)),
        ])
    }

    // MARK: Plumbing

    struct Refusal: Error {
        let status: HTTPResponse.Status
        let code: String
        let message: String
        init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
            self.status = status
            self.code = code
            self.message = message
        }
    }

    static func unknown(_ id: Hash32) -> Refusal { Refusal(.notFound, "unknown_job", "no job \(id.hex) here") }

    static func id(_ context: PlaneRequestContext, _ what: String = "job") throws -> Hash32 {
        let text = context.parameters.get("id") ?? ""
        guard let id = try? Hash32(hex: text), text.hasPrefix("0x") else {
            throw Refusal(
                .badRequest,
                "bad_request",
                "\(what) id: expected 0x + 64 hex digits, found \(text.prefix(80))"
            )
        }
        return id
    }

    /// `{"at": "<unix seconds>", "signature": "0x<65 bytes rsv>"}`: a signed, dated request.
    static func signedAt(_ body: [String: Any], _ what: String) throws -> (UInt64, Signature) {
        guard let text = body["at"] as? String, let at = UInt64(text) else {
            throw Refusal(.badRequest, "bad_request", "\(what).at: expected unix seconds as a decimal string")
        }
        guard let hex = body["signature"] as? String, hex.utf8.count == 132, let bytes = try? Hex.decode(hex),
            let signature = try? Signature(rsv: bytes)
        else {
            throw Refusal(.badRequest, "bad_request", "\(what).signature: expected 0x + 130 hex digits (r ‖ s ‖ v)")
        }
        return (at, signature)
    }

    static func body(_ request: Request) async throws -> [String: Any] {
        let buffer = try await request.body.collect(upTo: maxBody)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any]
        else { throw Refusal(.badRequest, "bad_request", "expected a JSON object body of at most \(maxBody) bytes") }
        return object
    }

    func handle(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let refusal as Refusal {
            return ResponseJSON.error(refusal.status, refusal.code, refusal.message)
        } catch let error as ComputingPlaneError {
            switch error.code {
            case .badInput: return ResponseJSON.error(.badRequest, "bad_request", error.reason)
            case .forbidden: return ResponseJSON.error(.forbidden, "forbidden", error.reason)
            case .conflict: return ResponseJSON.error(.conflict, "conflict", error.reason)
            case .notFound: return ResponseJSON.error(.notFound, "not_found", error.reason)
            case .io, .sandboxFailure, .systemUnsupported, .verification:
                logger.error("computing plane failure", metadata: ["error": "\(error)"])
                return ResponseJSON.error(.internalServerError, "internal", error.reason)
            }
        } catch let error as PlaneProtocolError {
            return ResponseJSON.error(.badRequest, "bad_request", error.reason)
        } catch let error as HTTPError {
            return ResponseJSON.error(error.status, "bad_request", "\(error)")
        } catch {
            logger.error("computing plane failure", metadata: ["error": "\(error)"])
            return ResponseJSON.error(.internalServerError, "internal", "internal error")
        }
    }
}
