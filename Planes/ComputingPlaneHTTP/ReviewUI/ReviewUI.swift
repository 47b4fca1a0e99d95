import ChainCore
import ComputingPlane
import Foundation
public import Hummingbird
import NIOCore
import PlaneProtocol
public import PrivacyPlane
public import PrivacyPlaneHTTP

/// The reviewers' web page (docs/review-ui.md): a static page compiled into the binary, signed in with the
/// wallet (SIWE), and a JSON API under /review/api/ for the signed-in reviewer.
///
///     GET  /review/, /review/app.js, /review/app.css   the page
///     GET  /review/api/message?address=0x…             a SIWE message with a fresh nonce, to sign
///     POST /review/api/signin   {message, signature}   a session cookie and the CSRF token
///     POST /review/api/signout                          (CSRF)
///     GET  /review/api/queue                            the cases I may decide, oldest first
///     GET  /review/api/cases/:id                        the case: report, rendered files, decisions, log
///     GET  /review/api/cases/:id/files/:n/image         the re-encoded image, when there is one
///     POST /review/api/cases/:id/decision               {approve, reason, decidedAt, signature} (CSRF)
///     GET  /review/api/cases/:id/log                    the job's decision-log entries
///
/// Every answer carries a strict Content-Security-Policy and no-store. The session cookie and the CSRF
/// header are defence in depth: a decision takes effect only with the reviewer's EIP-712 signature.
public struct ReviewUI: Sendable {
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    public static let cookieName = "dl_review"

    let routes: ComputeRoutes
    /// nil when the plane does not know the host browsers reach it as (sign-in is then refused).
    public let configured: ReviewSessions?

    /// The page for `routes`' plane, reached by browsers as `https://<domain>` (HOST:PORT, the SIWE domain);
    /// used sign-in nonces are kept in `nonceLog`. Without a domain the page is served but nobody can sign in.
    public init(routes: ComputeRoutes, domain: String?, nonceLog: String) throws(PrivacyPlaneError) {
        self.routes = routes
        configured = try domain.map { domain throws(PrivacyPlaneError) in
            try ReviewSessions(domain: domain, chainID: routes.env.jobDomain.chainID, nonceLog: nonceLog)
        }
    }

    var sessions: ReviewSessions {
        get throws {
            guard let configured else {
                throw Refusal(
                    .serviceUnavailable,
                    "no_domain",
                    "sign-in is off: the plane was started without --review-domain and with --listen port 0"
                )
            }
            return configured
        }
    }

    var desk: ReviewDesk { routes.plane.desk }

    public func add(to router: Router<PlaneRequestContext>) {
        router.get("/review") { _, _ in Self.secured(Self.asset(ReviewAssets.html, "text/html; charset=utf-8")) }
        router.get("/review/index.html") { _, _ in
            Self.secured(Self.asset(ReviewAssets.html, "text/html; charset=utf-8"))
        }
        router.get("/review/app.js") { _, _ in
            Self.secured(Self.asset(ReviewAssets.js, "text/javascript; charset=utf-8"))
        }
        router.get("/review/app.css") { _, _ in Self.secured(Self.asset(ReviewAssets.css, "text/css; charset=utf-8")) }
        router.get("/review/api/message") { request, _ in await guarded { try message(request) } }
        router.post("/review/api/signin") { request, _ in await guarded { try await signIn(request) } }
        router.post("/review/api/signout") { request, _ in
            await guarded {
                let session = try acting(request)
                try sessions.signOut(session)
                var response = ResponseJSON.response(.object([("signedOut", .bool(true))]))
                response.headers[.setCookie] = Self.cookie("", maxAge: 0)
                return response
            }
        }
        router.get("/review/api/me") { request, _ in
            await guarded {
                let session = try reader(request)
                return ResponseJSON.response(
                    .object([
                        ("address", .string(session.address.checksummed)),
                        ("expiresAt", .string(session.expiresAt.description)),
                    ])
                )
            }
        }
        router.get("/review/api/queue") { request, _ in await guarded { try await queue(try reader(request)) } }
        router.get("/review/api/cases/:id") { request, context in
            await guarded { try await view(try ComputeRoutes.id(context), try reader(request)) }
        }
        router.get("/review/api/cases/:id/log") { request, context in
            await guarded {
                _ = try reader(request)
                return ResponseJSON.response(.object([("log", log(try ComputeRoutes.id(context)))]))
            }
        }
        router.get("/review/api/cases/:id/files/:n/image") { request, context in
            await guarded { try await image(try ComputeRoutes.id(context), context, try reader(request)) }
        }
        router.post("/review/api/cases/:id/decision") { request, context in
            await guarded { try await decide(try ComputeRoutes.id(context), request, try acting(request)) }
        }
    }

    // MARK: Sign-in

    func message(_ request: Request) throws -> Response {
        let text = request.uri.queryParameters.get("address") ?? ""
        guard let address = try? Address(hex: text) else {
            throw Refusal(.badRequest, "bad_request", "address: expected 0x + 40 hex digits, found \(text.prefix(80))")
        }
        let sessions = try self.sessions
        let message = try sessions.message(for: address, now: Self.now())
        return ResponseJSON.response(
            .object([
                ("message", .string(message.text)), ("domain", .string(sessions.domain)),
                ("chainId", .int(sessions.chainID)),
            ])
        )
    }

    func signIn(_ request: Request) async throws -> Response {
        try checkOrigin(request)
        let sessions = try self.sessions
        let body = try await ComputeRoutes.body(request)
        guard let message = body["message"] as? String, let signature = body["signature"] as? String else {
            throw Refusal(.badRequest, "bad_request", "expected {\"message\": SIWE text, \"signature\": 0x…}")
        }
        switch sessions.signIn(message: message, signature: signature, now: Self.now()) {
        case .refused(let why): throw Refusal(.unauthorized, "signin_refused", why)
        case .signedIn(let session, let token, let csrf):
            let seconds = max(0, session.expiresAt.unixSeconds - Self.now().unixSeconds)
            var response = ResponseJSON.response(
                .object([
                    ("address", .string(session.address.checksummed)), ("csrf", .string(csrf)),
                    ("expiresAt", .string(session.expiresAt.description)),
                ])
            )
            response.headers[.setCookie] = Self.cookie(token, maxAge: seconds)
            return response
        }
    }

    static func cookie(_ value: String, maxAge: Int64) -> String {
        "\(cookieName)=\(value); Path=/review; Max-Age=\(maxAge); HttpOnly; Secure; SameSite=Strict"
    }

    /// The signed-in session (401 without one).
    func reader(_ request: Request) throws -> Session {
        guard let session = try sessions.session(token: Self.cookieValue(request), now: Self.now()) else {
            throw Refusal(.unauthorized, "signed_out", "sign in with your wallet first (no live review session)")
        }
        return session
    }

    /// The session of a state-changing request: signed in, from the page's origin, with the CSRF token.
    func acting(_ request: Request) throws -> Session {
        let session = try reader(request)
        try checkOrigin(request)
        guard try sessions.csrfMatches(session, request.headers[.init("X-CSRF-Token")!]) else {
            throw Refusal(.forbidden, "csrf", "expected the session's X-CSRF-Token header")
        }
        return session
    }

    /// A browser names the page's origin in Origin; another origin is refused (403).
    func checkOrigin(_ request: Request) throws {
        let sessions = try self.sessions
        if let origin = request.headers[.init("Origin")!], origin != sessions.origin {
            throw Refusal(.forbidden, "origin", "expected Origin \(sessions.origin), found \(origin.prefix(200))")
        }
    }

    static func cookieValue(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let pair = part.trimmingCharacters(in: .whitespaces)
                if pair.hasPrefix(cookieName + "=") { return String(pair.dropFirst(cookieName.count + 1)) }
            }
        }
        return nil
    }

    // MARK: Cases

    func queue(_ session: Session) async throws -> Response {
        var items: [ResponseJSON] = []
        for item in await desk.waiting() {
            let panel = await desk.panel(dataset: item.dataset, provider: item.provider, consumer: item.consumer)
            guard panel.reviewers.contains(session.address) else { continue }
            let approvals = item.votes.filter(\.decision.approve).count
            let mine = item.votes.contains { (try? $0.signer(routes.env.jobDomain)) == session.address }
            items.append(
                .object([
                    ("job", .string(item.job.hex)), ("dataset", .string(item.dataset.hex)),
                    ("progress", .string("\(approvals)/\(panel.required)")), ("approvals", .int(approvals)),
                    ("required", .int(panel.required)), ("shortfall", .optional(panel.shortfall)),
                    ("since", .int(item.since)), ("deadline", .int(item.deadline)),
                    ("files", .int(item.report.files.count)), ("decidedByMe", .bool(mine)),
                ])
            )
        }
        return ResponseJSON.response(
            .object([("address", .string(session.address.checksummed)), ("cases", .array(items))])
        )
    }

    func open(_ job: Hash32, _ session: Session) async throws -> (ReviewDesk.Case, [(path: String, bytes: [UInt8])]) {
        guard let item = await desk.waiting(job) else {
            throw Refusal(.notFound, "not_in_review", "job \(job.hex) has no output waiting for review")
        }
        return (item, try await desk.files(job, for: session.address))
    }

    func view(_ job: Hash32, _ session: Session) async throws -> Response {
        let (item, files) = try await open(job, session)
        let report = try await desk.report(job, for: session.address)
        let panel = await desk.panel(dataset: item.dataset, provider: item.provider, consumer: item.consumer)
        let byPath = Dictionary(report.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var rendered: [ResponseJSON] = []
        for (n, file) in files.enumerated() {
            var json = ReviewRendering.render(
                path: file.path,
                bytes: file.bytes,
                findings: byPath[file.path]?.findings ?? [],
                index: n
            )
            if case .object(var fields) = json {
                fields.insert(("decision", .string(byPath[file.path]?.decision.rawValue ?? "release")), at: 2)
                json = .object(fields)
            }
            rendered.append(json)
        }
        let domain = routes.env.jobDomain
        let decisions: [ResponseJSON] = item.votes.map { vote in
            .object([
                ("reviewer", .optional((try? vote.signer(domain))?.checksummed)),
                ("approve", .bool(vote.decision.approve)), ("reason", .string(vote.decision.reason)),
                ("decidedAt", .int(vote.decision.decidedAt)),
            ])
        }
        return ResponseJSON.response(
            .object([
                ("job", .string(job.hex)), ("dataset", .string(item.dataset.hex)),
                ("outputDigest", .string(item.outputDigest.hex)), ("provider", .string(item.provider.checksummed)),
                ("gateDecision", .string(report.decision.rawValue)),
                ("progress", .string("\(item.votes.filter(\.decision.approve).count)/\(panel.required)")),
                ("required", .int(panel.required)), ("shortfall", .optional(panel.shortfall)),
                ("reviewers", .array(panel.reviewers.map { .string($0.checksummed) })),
                ("since", .int(item.since)), ("deadline", .int(item.deadline)),
                ("domain", Self.domainJSON(domain)), ("files", .array(rendered)), ("decisions", .array(decisions)),
                ("log", log(job)),
            ])
        )
    }

    static func domainJSON(_ domain: JobDomain) -> ResponseJSON {
        .object([
            ("name", .string(JobDomain.name)), ("version", .string(JobDomain.version)),
            ("chainId", .int(domain.chainID)),
            ("verifyingContract", .string(domain.verifyingContract.checksummed)),
        ])
    }

    /// The job's decision-log entries: hash, sequence, kind and (for reviews) the reviewer and decision.
    func log(_ job: Hash32) -> ResponseJSON {
        .array(
            desk.log.entries(of: job).map { entry in
                let body = (try? JSONSerialization.jsonObject(with: Data(entry.body))) as? [String: Any] ?? [:]
                let review = body["review"] as? [String: Any]
                let decision = review?["review"] as? [String: Any] ?? review
                return .object([
                    ("hash", .string(entry.hash.hex)), ("seq", .int(entry.seq)), ("kind", .string(entry.kind)),
                    ("reviewer", .optional(body["reviewer"] as? String)),
                    ("approve", .optional(decision?["approve"] as? Bool)),
                    ("reason", .optional(decision?["reason"] as? String)),
                    ("signature", .optional(review?["signature"] as? String)),
                    ("outcome", .optional(body["outcome"] as? String)), ("line", .string(entry.line)),
                ])
            }
        )
    }

    func image(_ job: Hash32, _ context: PlaneRequestContext, _ session: Session) async throws -> Response {
        let (_, files) = try await open(job, session)
        guard let n = context.parameters.get("n").flatMap({ Int($0) }), files.indices.contains(n) else {
            throw Refusal(.notFound, "no_file", "expected a file index below \(files.count)")
        }
        guard let png = ReviewRendering.reencodedImage(files[n].bytes) else {
            throw Refusal(.notFound, "no_preview", "no re-encoded preview of this file")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "image/png"],
            body: .init(byteBuffer: ByteBuffer(bytes: png))
        )
    }

    /// The reviewer's signed decision: the server rebuilds the DeLongReview from the case (job, output
    /// digest) and the page's fields, and the desk accepts it only when its signature recovers to one of
    /// the case's reviewers; here it must also be the signed-in address.
    func decide(_ job: Hash32, _ request: Request, _ session: Session) async throws -> Response {
        let body = try await ComputeRoutes.body(request)
        guard let approve = body["approve"] as? Bool, let reason = body["reason"] as? String,
            let at = (body["decidedAt"] as? NSNumber)?.uint64Value
                ?? (body["decidedAt"] as? String).flatMap(UInt64.init),
            let hex = body["signature"] as? String, hex.utf8.count == 132, let bytes = try? Hex.decode(hex),
            let signature = try? Signature(rsv: bytes)
        else {
            throw Refusal(
                .badRequest,
                "bad_request",
                "expected {\"approve\": bool, \"reason\": text, \"decidedAt\": unix seconds, \"signature\": 0x + 130 hex}"
            )
        }
        guard let item = await desk.waiting(job) else {
            throw Refusal(.notFound, "not_in_review", "job \(job.hex) has no output waiting for review")
        }
        let decision = try ReviewDecision(
            jobID: job,
            outputDigest: item.outputDigest,
            approve: approve,
            reason: reason,
            decidedAt: at
        )
        let signed = SignedReviewDecision(decision: decision, signature: signature)
        let signer = try signed.signer(routes.env.jobDomain)
        guard signer == session.address else {
            throw Refusal(
                .forbidden,
                "signer",
                "the decision is signed by \(signer.checksummed); you are signed in as \(session.address.checksummed)"
            )
        }
        let progress = try await desk.decide(signed)
        return ResponseJSON.response(
            .object([
                ("job", .string(job.hex)), ("approve", .bool(approve)), ("reviewer", .string(signer.checksummed)),
                ("approvals", .int(progress.approvals)), ("required", .int(progress.required)),
                ("settled", progress.settled.map { .string($0 ? "approved" : "rejected") } ?? .null),
                ("log", log(job)),
            ])
        )
    }

    // MARK: Plumbing

    typealias Refusal = ComputeRoutes.Refusal

    static func now() -> RFC3339Timestamp { RFC3339Timestamp(unixSeconds: Int64(Date().timeIntervalSince1970)) }

    static func asset(_ text: String, _ type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The headers every UI answer carries.
    static func secured(_ response: Response) -> Response {
        var response = response
        response.headers[.init("Content-Security-Policy")!] = contentSecurityPolicy
        response.headers[.init("X-Content-Type-Options")!] = "nosniff"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        response.headers[.cacheControl] = "no-store"
        response.headers[.init("X-Frame-Options")!] = "DENY"
        return response
    }

    /// Runs an API handler through the plane's error mapping and secures the answer.
    func guarded(_ body: () async throws -> Response) async -> Response {
        let response: Response
        do { response = try await routes.handle(body) } catch {
            response = ResponseJSON.error(.internalServerError, "internal", "internal error")
        }
        return Self.secured(response)
    }
}
