public import ChainCore
import PlaneCrypto
import Synchronization

/// A signed-in session: an account, the chain it signed in for, and when the session ends.
public struct Session: Hashable, Sendable {
    /// The public half of the token, for logs and revocation (not a credential on its own).
    public let id: String
    /// The account the session acts for; every request under the session is this address.
    public let address: Address
    /// The chain id the sign-in message named.
    public let chainID: UInt64
    /// The session ends at this instant (never later than the message's Expiration Time).
    public let expiresAt: RFC3339Timestamp
}

/// The outcome of presenting a session token.
public enum SessionLookup: Hashable, Sendable {
    /// The token is valid: the session it names.
    case valid(Session)
    /// No such session, or the secret does not match.
    case unknown
    /// The session has ended.
    case expired
}

/// Sessions in memory, created only from a `VerifiedSIWE` whose nonce was consumed (see `SignInService`).
///
/// A token is "<id>.<secret>": 8 random bytes naming the session and 32 random bytes (256 bits) of secret,
/// both hex. Only the secret's Keccak-256 is kept, and a presented secret is compared in constant time.
/// Sessions do not survive a restart (users sign in again; nonces, which must not be reopened, do persist).
public final class SessionStore: Sendable {
    private struct Entry {
        let session: Session
        let secretHash: [UInt8]
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// An empty store.
    public init() {}

    /// Creates a session for the verified sign-in, ending at `now + lifetime` or at the message's Expiration
    /// Time, whichever is first; returns it with its token (shown once, never stored).
    public func create(
        for signIn: VerifiedSIWE,
        now: RFC3339Timestamp,
        lifetime: Duration
    ) -> (session: Session, token: String) {
        var rng = SystemRandomNumberGenerator()
        let id = Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) }, prefix: false)
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var end = now.adding(lifetime) ?? now
        if let expiry = signIn.message.expirationTime, expiry < end { end = expiry }
        let session = Session(id: id, address: signIn.address, chainID: signIn.message.chainID, expiresAt: end)
        let entry = Entry(session: session, secretHash: Keccak256.hash(secret).bytes)
        entries.withLock { table in
            table = table.filter { $0.value.session.expiresAt > now }
            table[id] = entry
        }
        return (session, id + "." + Hex.encode(secret, prefix: false))
    }

    /// The session a token names, if the token is genuine and the session has not ended at `now`.
    public func lookup(token: String, now: RFC3339Timestamp) -> SessionLookup {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 16, parts[1].utf8.count == 64,
            let secret = try? Hex.decode(parts[1])
        else { return .unknown }
        let presented = Keccak256.hash(secret).bytes
        guard let entry = entries.withLock({ $0[String(parts[0])] }) else { return .unknown }
        guard ConstantTime.equals(presented, entry.secretHash) else { return .unknown }
        guard now < entry.session.expiresAt else { return .expired }
        return .valid(entry.session)
    }

    /// Ends a session at once.
    public func revoke(id: String) { _ = entries.withLock { $0.removeValue(forKey: id) } }
}
