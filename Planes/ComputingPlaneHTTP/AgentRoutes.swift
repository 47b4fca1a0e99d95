import ChainCore
import ChainRecords
import ComputingPlane
import Foundation
import Hummingbird
import NIOCore
import PlaneProtocol
import PrivacyPlaneHTTP

/// The agent API (docs/jobs.md "Agents out of process"): what an agent in its own process or Confidential VM
/// asks of the plane that launched it. Every call carries the job's agent secret as `Authorization: Bearer`;
/// an unknown job and a wrong secret are refused alike (403). Served only with a remote backend.
extension ComputeRoutes {
    /// The largest output an agent hands over: the output tar's cap, base64, plus the gate report.
    static let maxAgentBody = Int(OutputPackage.limits.maxArchiveBytes) / 3 * 4 + (16 << 20)

    func addAgentRoutes(to router: Router<PlaneRequestContext>) {
        guard let remote = plane.remote else { return }
        let agent = AgentAPI(remote: remote, plane: plane)
        router.get("/v1/agent/jobs/:id") { request, context in
            try await handle { try await agent.spec(try await authorize(request, context, remote)) }
        }
        router.post("/v1/agent/jobs/:id/events") { request, context in
            try await handle {
                let id = try await authorize(request, context, remote)
                return try await agent.report(id, try await Self.body(request))
            }
        }
        router.post("/v1/agent/jobs/:id/gate") { request, context in
            try await handle {
                let id = try await authorize(request, context, remote)
                return try await agent.gate(id, try await Self.body(request))
            }
        }
        router.get("/v1/agent/jobs/:id/panel") { request, context in
            try await handle { try await agent.panel(try await authorize(request, context, remote)) }
        }
        router.post("/v1/agent/jobs/:id/review") { request, context in
            try await handle {
                let id = try await authorize(request, context, remote)
                return try await agent.openReview(id, try await Self.body(request, limit: Self.maxAgentBody))
            }
        }
        router.get("/v1/agent/jobs/:id/review") { request, context in
            try await handle { try await agent.reviewOutcome(try await authorize(request, context, remote)) }
        }
        router.get("/v1/agent/jobs/:id/decisions") { request, context in
            try await handle { agent.decisions(try await authorize(request, context, remote)) }
        }
        router.get("/v1/agent/jobs/:id/history") { request, context in
            try await handle { try await agent.history(try await authorize(request, context, remote)) }
        }
        router.post("/v1/agent/jobs/:id/history") { request, context in
            try await handle {
                let id = try await authorize(request, context, remote)
                return try await agent.remember(id, try await Self.bytes(request, limit: Self.maxAgentBody))
            }
        }
        router.put("/v1/agent/jobs/:id/output") { request, context in
            try await handle {
                let id = try await authorize(request, context, remote)
                try await remote.deliver(id, sealed: try await Self.bytes(request, limit: Self.maxAgentBody))
                return ResponseJSON.response(.object([("job", .string(id.hex))]))
            }
        }
        router.post("/v1/agent/jobs/:id/record") { request, context in
            try await handle {
                let id = try await authorize(request, context, remote)
                return try await agent.record(id, try await Self.body(request))
            }
        }
    }

    func authorize(
        _ request: Request,
        _ context: PlaneRequestContext,
        _ remote: RemoteBackend
    ) async throws -> Hash32 {
        let id = try Self.id(context)
        guard let value = request.headers[.authorization], value.hasPrefix("Bearer ") else {
            throw Refusal(.unauthorized, "unauthorized", "expected the job's agent secret as Authorization: Bearer")
        }
        _ = try await remote.authorize(id, secret: Array(value.dropFirst(7).utf8))
        return id
    }

    static func body(_ request: Request, limit: Int) async throws -> [String: Any] {
        let buffer = try await request.body.collect(upTo: limit)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any]
        else { throw Refusal(.badRequest, "bad_request", "expected a JSON object body of at most \(limit) bytes") }
        return object
    }

    static func bytes(_ request: Request, limit: Int) async throws -> [UInt8] {
        let buffer = try await request.body.collect(upTo: limit)
        return Array(buffer.readableBytesView)
    }
}

/// The agent API's handlers, each for a job whose secret was checked.
struct AgentAPI: Sendable {
    typealias Refusal = ComputeRoutes.Refusal

    let remote: RemoteBackend
    let plane: ComputePlane

    var desk: ReviewDesk { plane.desk }

    func spec(_ id: Hash32) async throws -> Response {
        let spec = try await remote.spec(id)
        return ResponseJSON.response(
            .object([
                ("job", .string(id.hex)), ("token", ResponseJSON(any: spec.token.json)),
                ("request", ResponseJSON(any: spec.request.json)), ("submittedAt", .int(spec.submittedAt)),
                ("operator", .string(plane.env.operatorAddress.checksummed)),
            ])
        )
    }

    func report(_ id: Hash32, _ body: [String: Any]) async throws -> Response {
        guard let event = body["event"] as? [String: Any],
            let line = try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])
        else { throw Refusal(.badRequest, "bad_request", "event: expected a job log entry object") }
        let entry = try JobLog.entry(line: Array(line))
        guard entry.job == id.hex else {
            throw Refusal(.badRequest, "bad_request", "event.job: expected \(id.hex), found \(entry.job)")
        }
        var facts: JobFacts.Values?
        if let reported = body["facts"] {
            guard let data = try? JSONSerialization.data(withJSONObject: reported),
                let values = try? JSONDecoder().decode(JobFacts.Values.self, from: data)
            else { throw Refusal(.badRequest, "bad_request", "facts: expected the job's facts object") }
            facts = values
        }
        let state = try await remote.report(id, event: entry.event, facts: facts)
        var phase: ResponseJSON = .null
        if case .active(let current) = state { phase = .string(current.rawValue) }
        return ResponseJSON.response(
            .object([
                ("job", .string(id.hex)), ("state", .string(state.description)),
                ("finished", .bool(state.isFinished)), ("phase", phase),
            ])
        )
    }

    func gate(_ id: Hash32, _ body: [String: Any]) async throws -> Response {
        guard let verdict = (body["verdict"] as? String).flatMap(GateVerdict.init(rawValue:)),
            let digest = (body["gateDigest"] as? String).flatMap({ try? Hash32(hex: $0) })
        else {
            throw Refusal(.badRequest, "bad_request", "expected verdict (release, review or block) and gateDigest")
        }
        let head = try await desk.recordGate(job: id, verdict: verdict, gateDigest: digest)
        return ResponseJSON.response(.object([("head", .string(head.hex))]))
    }

    func panel(_ id: Hash32) async throws -> Response {
        let token = try await remote.spec(id).token.token
        guard let record = try plane.env.records.dataset(token.dataset) else {
            throw Refusal(.notFound, "not_found", "no dataset \(token.dataset.hex) in the verified index")
        }
        let panel = await desk.panel(dataset: token.dataset, provider: record.provider, consumer: token.consumer)
        return ResponseJSON.response(Self.panelJSON(panel))
    }

    static func panelJSON(_ panel: ReviewDesk.Panel) -> ResponseJSON {
        .object([
            ("reviewers", .array(panel.reviewers.map { .string($0.checksummed) })), ("required", .int(panel.required)),
            ("version", panel.version.map { .int($0) } ?? .null),
        ])
    }

    func openReview(_ id: Hash32, _ body: [String: Any]) async throws -> Response {
        guard let encoded = body["archive"] as? String, let archive = Data(base64Encoded: encoded),
            let reportObject = body["report"],
            let reportData = try? JSONSerialization.data(withJSONObject: reportObject),
            let report = try? JSONDecoder().decode(GateReport.self, from: reportData)
        else {
            throw Refusal(.badRequest, "bad_request", "expected archive (base64 output tar) and report (the gate's)")
        }
        let output = try OutputPackage(archive: [UInt8](archive))
        try await remote.openReview(id, output: output, report: report)
        return ResponseJSON.response(.object([("job", .string(id.hex)), ("outputDigest", .string(output.digest.hex))]))
    }

    /// Waits up to 20 s: `{"pending": true}`, `{"ended": true}` (the job ended meanwhile) or the outcome.
    func reviewOutcome(_ id: Hash32) async throws -> Response {
        switch try await remote.reviewOutcome(id, wait: .seconds(20)) {
        case .none: return ResponseJSON.response(.object([("pending", .bool(true))]))
        case .some(.none): return ResponseJSON.response(.object([("ended", .bool(true))]))
        case .some(.some(let outcome)):
            return ResponseJSON.response(
                .object([
                    ("approved", .bool(outcome.approved)),
                    ("decisions", .array(outcome.decisions.map { ResponseJSON(any: $0.json) })),
                    ("summary", .string(outcome.summary)),
                    ("list", outcome.list.map { ResponseJSON(any: $0.json) } ?? .null),
                ])
            )
        }
    }

    func decisions(_ id: Hash32) -> Response {
        ResponseJSON.response(.object([("entries", .array(desk.log.entries(of: id).map { .string($0.line) }))]))
    }

    func history(_ id: Hash32) async throws -> Response {
        let dataset = try await remote.spec(id).token.token.dataset
        let releases = plane.releases.history(of: dataset)
        return ResponseJSON.response(
            .object([
                (
                    "releases",
                    .array(
                        releases.map {
                            .object([
                                ("job", .string($0.job)), ("archive", .string(Data($0.archive).base64EncodedString())),
                            ])
                        }
                    )
                )
            ])
        )
    }

    func remember(_ id: Hash32, _ archive: [UInt8]) async throws -> Response {
        let spec = try await remote.spec(id)
        guard case .active(.publishing) = plane.log.state(of: id.hex) else {
            throw Refusal(.conflict, "conflict", "a release is kept only while its job publishes")
        }
        let output = try OutputPackage(archive: archive)
        try plane.releases.remember(output.archive, job: id, dataset: spec.token.token.dataset)
        return ResponseJSON.response(.object([("outputDigest", .string(output.digest.hex))]))
    }

    func record(_ id: Hash32, _ body: [String: Any]) async throws -> Response {
        guard let output = (body["outputDigest"] as? String).flatMap({ try? Hash32(hex: $0) }),
            let evidence = (body["attestationDigest"] as? String).flatMap({ try? Hash32(hex: $0) })
        else { throw Refusal(.badRequest, "bad_request", "expected outputDigest and attestationDigest (0x + 64 hex)") }
        let transaction = try await remote.recordJob(id, outputDigest: output, attestationDigest: evidence)
        return ResponseJSON.response(.object([("transaction", .string(transaction))]))
    }
}
