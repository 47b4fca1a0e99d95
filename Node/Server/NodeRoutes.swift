import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import Hummingbird
import Metrics
import NIOCore
import PlaneProtocol
import PrivacyPlane

/// The node's read-only HTTP API: status, records and Prometheus metrics.
struct NodeRoutes {
    let index: ChainIndex
    let state: NodeState
    /// The Privacy Plane's freshness gate, when this node serves one (`privacy serve`): status says whether
    /// it would act now, and why not.
    var freshness: IndexFreshness? = nil
    /// The most rentals one `/v1/rentals` answer lists (`?limit=` asks for fewer); nil lists all (`node run`,
    /// a localhost tool). `privacy serve`, whose listener is public, bounds it.
    var maxRows: Int? = nil
    /// Sets the serving plane's gauges before /metrics renders (`privacy serve`: leases and collateral;
    /// `compute serve`: jobs and Explore sessions). Its counters are recorded as they move.
    var collectMetrics: (@Sendable () async -> Void)? = nil

    func addRoutes(to router: Router<BasicRequestContext>) { addRoutes(to: router) { _, _ in nil } }

    /// The routes, each first asking `admit` (a rate limit), whose answer, when it has one, is sent instead.
    /// First of all it adds the request metrics middleware, so these and every route added after them (the
    /// plane's) are counted and timed.
    func addRoutes<Context: RequestContext>(
        to router: Router<Context>,
        admit: @escaping @Sendable (Request, Context) -> Response?
    ) {
        router.add(middleware: RequestMetricsMiddleware<Context>(factory: state.metrics.factory))
        router.get("/v1/status") { request, context in
            if let refused = admit(request, context) { return refused }
            return try await status()
        }
        router.get("/v1/datasets/:id") { request, context in
            try admit(request, context) ?? dataset(context.parameters.get("id") ?? "")
        }
        router.get("/v1/rentals") { request, context in
            try admit(request, context)
                ?? rentals(
                    consumer: request.uri.queryParameters.get("consumer"),
                    dataset: request.uri.queryParameters.get("dataset"),
                    limit: request.uri.queryParameters.get("limit")
                )
        }
        router.get("/v1/algorithms/:digest") { request, context in
            try admit(request, context) ?? algorithm(context.parameters.get("digest") ?? "")
        }
        router.get("/metrics") { request, context in
            if let refused = admit(request, context) { return refused }
            return try await metrics()
        }
    }

    // MARK: Handlers

    func status() async throws -> Response {
        let head = try index.head()
        let headTime = try index.headTimestamp()
        let (blocks, events, reorgs, failures, target, lastError) = await (
            state.blocks, state.events, state.reorgs, state.failures, state.target, state.lastError
        )
        let (consecutive, sinceGoodPass, lastFailure) = await (
            state.consecutiveFailures, state.secondsSinceGoodPass(), state.lastFailure
        )
        let wall = Self.unixNow()
        var fields: [(String, JSONOutput)] = [
            ("chainId", .int(index.config.chainID)),
            (
                "head",
                .object([
                    ("number", .int(head.number)), ("hash", .string(head.hash.hex)), ("timestamp", .int(headTime)),
                ])
            ),
            ("final", .int(try index.finalNumber())), ("target", .int(target)),
            ("lag", .int(target > head.number ? target - head.number : 0)),
            ("blocks", .int(blocks)), ("events", .int(events)), ("reorgs", .int(reorgs)),
            ("failures", .int(failures)),
            ("lastError", .optional(lastError)),
            (
                "freshness",
                .object([
                    // Seconds since the head block was made (null before the first block after the checkpoint).
                    ("headAgeSeconds", headTime > 0 ? .int(wall > headTime ? wall - headTime : 0) : .null),
                    // Seconds since the last sync pass that succeeded (null before the first).
                    ("lastGoodSyncSecondsAgo", sinceGoodPass.map { .int(UInt64($0)) } ?? .null),
                    ("consecutiveFailures", .int(consecutive)),
                    (
                        "lastFailure",
                        lastFailure.map {
                            .object([
                                ("message", .string($0.message)),
                                ("at", .int(UInt64(max(0, $0.at.timeIntervalSince1970)))),
                            ])
                        } ?? .null
                    ),
                ])
            ),
        ]
        if let freshness {
            let verdict: JSONOutput
            do {
                _ = try freshness.now(index, wallClock: wall)
                verdict = .object([("serving", .bool(true))])
            } catch {
                verdict = .object([
                    ("serving", .bool(false)), ("code", .string(ErrorEnvelope.snakeCase(error.code.rawValue))),
                    ("reason", .string(error.reason)),
                ])
            }
            fields.append(
                (
                    "privacyPlane",
                    .object(
                        [
                            ("maxIndexAgeSeconds", .int(freshness.policy.maxAge)),
                            ("maxClockSkewSeconds", .int(freshness.policy.maxClockSkew)),
                        ] + [("releases", verdict)]
                    )
                )
            )
        }
        return Self.json(.object(fields))
    }

    static func unixNow() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970)) }

    func dataset(_ id: String) throws -> Response {
        guard let hash = try? Hash32(hex: id) else {
            return Self.error(.badRequest, "malformed_id", "expected a dataset id of 0x + 64 hex digits")
        }
        guard let d = try index.dataset(hash) else {
            return Self.error(.notFound, "not_found", "no dataset \(hash.hex) in the index")
        }
        return Self.json(d.json(final: try index.finalNumber()))
    }

    func rentals(consumer: String?, dataset: String?, limit: String? = nil) throws -> Response {
        let asked = limit.flatMap { Int($0) }
        guard limit == nil || (asked ?? 0) > 0 else {
            return Self.error(.badRequest, "malformed_limit", "expected limit= a positive integer")
        }
        let rows = min(asked ?? .max, maxRows ?? .max)
        let final = try index.finalNumber()
        switch (consumer, dataset) {
        case (let c?, nil):
            guard let address = try? Address(hex: c) else {
                return Self.error(.badRequest, "malformed_address", "expected consumer=0x + 40 hex digits")
            }
            return Self.json(.array(try index.rentals(consumer: address, limit: rows).map { $0.json(final: final) }))
        case (nil, let d?):
            guard let id = try? Hash32(hex: d) else {
                return Self.error(.badRequest, "malformed_id", "expected dataset=0x + 64 hex digits")
            }
            return Self.json(.array(try index.rentals(dataset: id, limit: rows).map { $0.json(final: final) }))
        default:
            return Self.error(.badRequest, "missing_filter", "give exactly one of consumer= and dataset=")
        }
    }

    func algorithm(_ digest: String) throws -> Response {
        guard let image = try? Hash32(hex: digest) else {
            return Self.error(.badRequest, "malformed_digest", "expected an image digest of 0x + 64 hex digits")
        }
        guard let a = try index.algorithm(image) else {
            return Self.error(.notFound, "not_found", "no algorithm \(image.hex) in the index")
        }
        let jobs = try index.jobs(imageDigest: image)
        return Self.json(
            .object([
                ("imageDigest", .string(a.imageDigest.hex)), ("publisher", .string(a.publisher.checksummed)),
                ("bundleDigest", .string(a.bundleDigest.hex)),
                ("daLocator", .string(a.daLocator)), ("published", a.published.json), ("jobs", .int(jobs.count)),
            ])
        )
    }

    /// Prometheus text exposition format, version 0.0.4, rendered by this process's registry once the sync
    /// gauges (and the plane's, `collectMetrics`) are set from the index and `state`.
    func metrics() async throws -> Response {
        let head = try index.head()
        let headTime = try index.headTimestamp()
        let final = try index.finalNumber()
        let (target, consecutive, sinceGoodPass, lastFailure) = await (
            state.target, state.consecutiveFailures, state.secondsSinceGoodPass(), state.lastFailure
        )
        let wall = Self.unixNow()
        let f = state.metrics.factory
        func gauge(_ name: String, _ value: Double) { Meter(label: name, factory: f).set(value) }
        gauge("delong_index_head_block", Double(head.number))
        gauge("delong_index_final_block", Double(final))
        gauge("delong_chain_target_block", Double(target))
        gauge("delong_sync_lag_blocks", Double(target > head.number ? target - head.number : 0))
        gauge("delong_index_head_timestamp_seconds", Double(headTime))
        // Unknown values are NaN, as Prometheus writes them.
        gauge("delong_index_head_age_seconds", headTime > 0 ? Double(wall > headTime ? wall - headTime : 0) : .nan)
        gauge("delong_sync_last_success_age_seconds", sinceGoodPass ?? .nan)
        gauge("delong_sync_consecutive_failures", Double(consecutive))
        gauge("delong_sync_last_failure_timestamp_seconds", lastFailure?.at.timeIntervalSince1970 ?? .nan)
        return try await state.metrics.response { await collectMetrics?() }
    }

    // MARK: Encoding

    static func json(_ value: JSONOutput, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.rendered() + "\n"))
        )
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        json(.object([("error", .object([("code", .string(code)), ("message", .string(message))]))]), status: status)
    }
}
