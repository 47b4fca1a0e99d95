import ChainCore
public import Foundation
import PlaneCrypto
import Synchronization

/// Sign-in to explore sessions: one-time tickets, exchanged for the proxy's own cookie.
///
/// A ticket is 256 random bits bound to one session, valid for `ticketLifetime` and spent by its first
/// presentation (wherever it is presented). A cookie is another 256 random bits that names one session
/// until that session ends. Both are kept only as SHA-256 digests and looked up by digest, so a lookup's
/// timing says nothing about the secret, and a memory dump of the tables holds no usable secret.
public final class ExploreTickets: Sendable {
    /// How long a ticket may wait to be redeemed.
    public static let ticketLifetime: TimeInterval = 60
    /// The cookie's name; every `dl_*` cookie is the plane's own and never reaches Jupyter.
    public static let cookieName = "dl_explore"

    private struct Grant {
        let session: String
        let expiresAt: Date
    }

    private let tickets = Mutex<[[UInt8]: Grant]>([:])
    private let cookies = Mutex<[[UInt8]: Grant]>([:])

    public init() {}

    /// A fresh ticket for `session`, valid for `ticketLifetime` from `now`.
    public func issue(session: String, now: Date = Date()) -> String {
        let ticket = Self.secret()
        let grant = Grant(session: session, expiresAt: now.addingTimeInterval(Self.ticketLifetime))
        tickets.withLock { table in
            table = table.filter { $0.value.expiresAt > now }
            table[Digest.sha256(Array(ticket.utf8))] = grant
        }
        return ticket
    }

    /// Why a ticket was not accepted (a short sentence for the 403 page).
    public enum Refusal: Error, Equatable, Sendable {
        case unknown, expired, otherSession
        public var reason: String {
            switch self {
            case .unknown: "this sign-in link is unknown or was already used; ask for a new one"
            case .expired: "this sign-in link has expired (links last 60 s); ask for a new one"
            case .otherSession: "this sign-in link belongs to another explore session"
            }
        }
    }

    /// Spends `ticket` at `session`: a new cookie value for that session, valid until `sessionEnds`.
    /// The ticket is spent even when refused, so a leaked link is good for one try at most.
    public func redeem(
        _ ticket: String,
        session: String,
        sessionEnds: Date,
        now: Date = Date()
    ) -> Result<String, Refusal> {
        let grant = tickets.withLock { $0.removeValue(forKey: Digest.sha256(Array(ticket.utf8))) }
        guard let grant else { return .failure(.unknown) }
        guard grant.expiresAt > now else { return .failure(.expired) }
        guard grant.session == session else { return .failure(.otherSession) }
        let cookie = Self.secret()
        cookies.withLock { table in
            table = table.filter { $0.value.expiresAt > now }
            table[Digest.sha256(Array(cookie.utf8))] = Grant(session: session, expiresAt: sessionEnds)
        }
        return .success(cookie)
    }

    /// The session a cookie value names, while its session has not ended.
    public func session(cookie: String, now: Date = Date()) -> String? {
        let grant = cookies.withLock { $0[Digest.sha256(Array(cookie.utf8))] }
        guard let grant, grant.expiresAt > now else { return nil }
        return grant.session
    }

    /// Forgets every ticket and cookie of `session` (it ended).
    public func end(session: String) {
        tickets.withLock { $0 = $0.filter { $0.value.session != session } }
        cookies.withLock { $0 = $0.filter { $0.value.session != session } }
    }

    /// 256 random bits as 64 hex digits.
    static func secret() -> String {
        var rng = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }, prefix: false)
    }
}
