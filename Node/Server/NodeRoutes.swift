import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import Hummingbird
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
    /// More Prometheus text appended to /metrics (`privacy serve`: the DCAP collateral's reload counters).
    var extraMetrics: (@Sendable () -> String)? = nil

    func addRoutes(to router: Router<BasicRequestContext>) { addRoutes(to: router) { _, _ in nil } }

    /// The routes, each first asking `admit` (a rate limit), whose answer, when it has one, is sent instead.
    func addRoutes<Context: RequestContext>(
        to router: Router<Context>,
        admit: @escaping @Sendable (Request, Context) -> Response?
    ) {
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

    /// Prometheus text exposition format, version 0.0.4.
    func metrics() async throws -> Response {
        let head = try index.head()
        let headTime = try index.headTimestamp()
        let (blocks, events, reorgs, failures, target) = await (
            state.blocks, state.events, state.reorgs, state.failures, state.target
        )
        let (consecutive, sinceGoodPass, lastFailure) = await (
            state.consecutiveFailures, state.secondsSinceGoodPass(), state.lastFailure
        )
        let wall = Self.unixNow()
        // Unknown values are NaN, as Prometheus writes them.
        let headAge = headTime > 0 ? "\(wall > headTime ? wall - headTime : 0)" : "NaN"
        let passAge = sinceGoodPass.map { String(format: "%.3f", $0) } ?? "NaN"
        let failedAt = lastFailure.map { String(format: "%.3f", $0.at.timeIntervalSince1970) } ?? "NaN"
        let counters: [(String, String, String, UInt64)] = [
            ("delong_index_head_block", "gauge", "Number of the newest indexed block.", head.number),
            ("delong_index_final_block", "gauge", "Number of the newest final block.", try index.finalNumber()),
            ("delong_chain_target_block", "gauge", "The endpoint's head at the last sync pass.", target),
            ("delong_sync_blocks_total", "counter", "Blocks verified and indexed since start.", blocks),
            ("delong_sync_events_total", "counter", "DeLong events indexed since start.", events),
            ("delong_sync_reorgs_total", "counter", "Reorgs unwound since start.", reorgs),
            (
                "delong_sync_failures_total", "counter",
                "Sync passes that stopped at a block that did not verify or an endpoint error.", failures
            ),
        ]
        let rows: [(String, String, String, String)] =
            counters.map { ($0.0, $0.1, $0.2, "\($0.3)") } + [
                (
                    "delong_index_head_timestamp_seconds", "gauge", "Timestamp of the newest indexed block.",
                    "\(headTime)"
                ),
                ("delong_index_head_age_seconds", "gauge", "Seconds since the newest indexed block was made.", headAge),
                (
                    "delong_sync_last_success_age_seconds", "gauge", "Seconds since the last sync pass that succeeded.",
                    passAge
                ),
                (
                    "delong_sync_consecutive_failures", "gauge",
                    "Failed sync passes since the last one that succeeded.",
                    "\(consecutive)"
                ),
                (
                    "delong_sync_last_failure_timestamp_seconds", "gauge",
                    "When the last sync pass failed (its message is lastFailure in /v1/status).", failedAt
                ),
            ]
        let text =
            rows.map { "# HELP \($0.0) \($0.2)\n# TYPE \($0.0) \($0.1)\n\($0.0) \($0.3)\n" }.joined()
            + (extraMetrics?() ?? "")
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
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
