import ChainCore
public import ComputingPlane
import Foundation
public import Hummingbird
public import Logging
import PlaneCrypto
import PlaneProtocol
public import PrivacyPlaneHTTP
import Synchronization

/// The consumer's API for Explore sessions under /v1/explore (docs/explore.md "HTTP API"): start a session
/// with an explore token, then follow, re-ticket, stop it and download its notebooks with the control secret
/// the start returned. The browser side (sign-in and the proxy) is `ExploreRoutes`.
public struct ExploreAPIRoutes: Sendable {
    public let admission: ExploreAdmission
    public let manager: ExploreManager
    public let tickets: ExploreTickets
    /// False when the operator turned Explore Mode off: every start is 503.
    public let enabled: Bool
    /// The plane's own `scheme://host:port`, the one-time URLs' origin.
    public let origin: @Sendable () -> String
    /// The job routes, whose error mapping these routes share.
    let errors: ComputeRoutes
    public let logger: Logger
    let controls = ExploreControls()

    public init(
        admission: ExploreAdmission,
        manager: ExploreManager,
        tickets: ExploreTickets,
        enabled: Bool,
        origin: @escaping @Sendable () -> String,
        errors: ComputeRoutes,
        logger: Logger
    ) {
        self.admission = admission
        self.manager = manager
        self.tickets = tickets
        self.enabled = enabled
        self.origin = origin
        self.errors = errors
        self.logger = logger
    }

    public func addRoutes(to router: Router<PlaneRequestContext>) {
        router.post("/v1/explore") { request, _ in try await handle { try await start(request) } }
        router.get("/v1/explore/:session") { request, context in
            try await handle { try await status(try control(request, context)) }
        }
        router.post("/v1/explore/:session/stop") { request, context in
            try await handle { try await stop(try control(request, context)) }
        }
        router.post("/v1/explore/:session/ticket") { request, context in
            try await handle { try await ticket(try control(request, context)) }
        }
        router.get("/v1/explore/:session/notebook") { request, context in
            try await handle { try await notebook(try control(request, context), request) }
        }
    }

    // MARK: Handlers

    func start(_ request: Request) async throws -> Response {
        guard enabled else {
            throw ComputeRoutes.Refusal(.serviceUnavailable, "explore_off", "this plane does not serve Explore Mode")
        }
        let body = try await ComputeRoutes.body(request)
        let token = try SignedAccessToken(json: body["token"] as Any)
        let admitted = try await admission.admit(token)
        let session: ExploreSession
        do {
            session = try await manager.start(
                consumer: admitted.consumer,
                dataset: admitted.dataset,
                rentalEnd: admitted.rentalEnd,
                sample: admitted.sample
            )
        } catch {
            // The manager's only conflicts are its session limits: try again later.
            guard error.code == .conflict else { throw error }
            throw ComputeRoutes.Refusal(.tooManyRequests, "busy", error.reason)
        }
        let control = try Self.randomHex(bytes: 32)
        controls.add(session, control: control)
        logger.info(
            "explore session started",
            metadata: [
                "session": "\(session.id)", "consumer": "\(session.consumer.checksummed)",
                "dataset": "\(session.dataset.hex)", "sample": "\(BundleDigest.text(admitted.sampleDigest))",
            ]
        )
        return ResponseJSON.response(
            .object(
                [
                    ("session", .string(session.id)), ("url", .string(signInURL(session))),
                    ("dataset", .string(session.dataset.hex)),
                    ("sampleDigest", .string(BundleDigest.text(admitted.sampleDigest))),
                ] + Self.times(session.startedAt, session.expiresAt) + [("control", .string(control))]
            ),
            status: .created
        )
    }

    func status(_ known: ExploreControls.Entry) async throws -> Response {
        let live = await manager.session(known.id) != nil
        let reason = live ? nil : (await manager.endReason(known.id))?.rawValue ?? "ended"
        return ResponseJSON.response(
            .object(
                [
                    ("session", .string(known.id)), ("state", .string(live ? "running" : "ended")),
                    ("reason", .optional(reason)), ("dataset", .string(known.dataset.hex)),
                ] + Self.times(known.startedAt, known.expiresAt)
            )
        )
    }

    func stop(_ known: ExploreControls.Entry) async throws -> Response {
        await manager.stop(known.id, reason: .stopped)
        tickets.end(session: known.id)
        let reason = (await manager.endReason(known.id))?.rawValue ?? ExploreEndReason.stopped.rawValue
        return ResponseJSON.response(
            .object([("session", .string(known.id)), ("state", .string("ended")), ("reason", .string(reason))])
        )
    }

    func ticket(_ known: ExploreControls.Entry) async throws -> Response {
        guard let session = await manager.session(known.id) else {
            throw ComputeRoutes.Refusal(.conflict, "conflict", "explore session \(known.id) has ended")
        }
        return ResponseJSON.response(.object([("session", .string(known.id)), ("url", .string(signInURL(session)))]))
    }

    func notebook(_ known: ExploreControls.Entry, _ request: Request) async throws -> Response {
        guard let path = request.uri.queryParameters.get("path") else {
            throw ComputeRoutes.Refusal(.badRequest, "bad_request", "path: expected the notebook's path in the home")
        }
        let bytes = try await manager.notebook(known.id, path: path)
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-ipynb+json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    // MARK: Helpers

    func signInURL(_ session: ExploreSession) -> String {
        origin() + session.basePath + "_login?ticket=" + tickets.issue(session: session.id)
    }

    /// The session the path names, if the request carries its control secret (`Authorization: Bearer …`).
    func control(_ request: Request, _ context: PlaneRequestContext) throws -> ExploreControls.Entry {
        let id = context.parameters.get("session") ?? ""
        guard ExploreTarget.isSessionID(id) else {
            throw ComputeRoutes.Refusal(.badRequest, "bad_request", "session: expected 32 lower-case hex digits")
        }
        guard let known = controls.entry(id) else {
            throw ComputeRoutes.Refusal(.notFound, "not_found", "no explore session \(id) here")
        }
        let presented = request.headers[.authorization].flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
        }
        guard let presented, known.matches(presented) else {
            throw ComputeRoutes.Refusal(
                .unauthorized,
                "unauthorized",
                "expected the session's control secret as Authorization: Bearer (from delong explore start)"
            )
        }
        return known
    }

    static func times(_ started: Date, _ expires: Date) -> [(String, ResponseJSON)] {
        [
            ("startedAt", .int(Int64(started.timeIntervalSince1970))),
            ("expiresAt", .int(Int64(expires.timeIntervalSince1970))),
        ]
    }

    static func randomHex(bytes: Int) throws -> String {
        try SecretBytes.random(count: bytes).withUnsafeBytes { Hex.encode(Array($0), prefix: false) }
    }

    func handle(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let error as ComputingPlaneError where error.code == .sandboxFailure {
            logger.error("explore session failed to start", metadata: ["error": "\(error)"])
            return ResponseJSON.error(.serviceUnavailable, "unavailable", error.reason)
        } catch let error as ComputingPlaneError where error.code == .verification {
            // The sample's bytes do not match the chain: the DA store is wrong, not the consumer.
            logger.error("explore sample refused", metadata: ["error": "\(error)"])
            return ResponseJSON.error(.badGateway, "sample_mismatch", error.reason)
        } catch {
            return try await errors.handle { throw error }
        }
    }
}

/// The control secrets of the sessions started here: kept as SHA-256 hashes, compared in constant time.
final class ExploreControls: Sendable {
    struct Entry: Sendable {
        let id: String
        let dataset: Hash32
        let startedAt: Date
        let expiresAt: Date
        let hash: [UInt8]

        func matches(_ presented: String) -> Bool {
            let digest = Digest.sha256(Array(presented.utf8))
            return digest.withUnsafeBytes { a in hash.withUnsafeBytes { b in ConstantTime.equals(a, b) } }
        }
    }

    private let entries = Mutex<[String: Entry]>([:])

    func add(_ session: ExploreSession, control: String) {
        let entry = Entry(
            id: session.id,
            dataset: session.dataset,
            startedAt: session.startedAt,
            expiresAt: session.expiresAt,
            hash: Digest.sha256(Array(control.utf8))
        )
        entries.withLock { table in
            // Sessions long ended are forgotten: a day after their end.
            let cutoff = Date().addingTimeInterval(-86_400)
            table = table.filter { $0.value.expiresAt > cutoff }
            table[session.id] = entry
        }
    }

    func entry(_ id: String) -> Entry? { entries.withLock { $0[id] } }
}

extension ExploreManager: ExploreSessionSource {
    /// What the proxy needs of a live session.
    public func liveSession(_ id: String) async -> ExploreTarget? {
        guard let s = session(id) else { return nil }
        return ExploreTarget(
            id: s.id,
            socketPath: s.socketPath,
            jupyterToken: s.jupyterToken,
            basePath: s.basePath,
            consumer: s.consumer,
            expiresAt: s.expiresAt
        )
    }
}
