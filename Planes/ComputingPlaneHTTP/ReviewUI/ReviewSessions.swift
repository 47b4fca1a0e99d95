public import ChainCore
import Foundation
import PlaneCrypto
public import PrivacyPlane
import Synchronization

/// The review page's sign-in: the Privacy Plane's SIWE verifier, nonce store and session store (reused, not
/// copied), and one CSRF token per session.
///
/// A session is an opaque `<id>.<secret>` token (``SessionStore``) kept in an HttpOnly cookie, bound to the
/// signed-in address and ending after `lifetime` or at the message's Expiration Time, whichever is first.
/// The CSRF token is returned once, at sign-in, and every state-changing request must carry it in
/// `X-CSRF-Token`; it is compared in constant time. The server never holds a reviewer's key: the wallet
/// signs the SIWE message and each decision.
public final class ReviewSessions: Sendable {
    /// The longest a review session lasts.
    public static let lifetime: Duration = .seconds(900)
    /// The longest a sign-in message may stay valid (its Expiration Time is required and at most this far
    /// after now).
    public static let maxMessageLifetime: Duration = .seconds(600)

    public let signIn: SignInService
    /// The authority users sign in to (the plane's HOST:PORT), bound into every SIWE message.
    public let domain: String
    public let chainID: UInt64
    private let csrf = Mutex<[String: [UInt8]]>([:])

    /// Sessions for a plane reached as `domain` on chain `chainID`; used nonces are recorded in `nonceLog`.
    public init(domain: String, chainID: UInt64, nonceLog: String) throws(PrivacyPlaneError) {
        self.domain = domain
        self.chainID = chainID
        let policy = try SIWEPolicy(
            domain: domain,
            scheme: "https",
            uri: .origin("https://" + domain),
            chainIDs: [chainID],
            maxAge: Self.maxMessageLifetime
        )
        signIn = SignInService(
            verifier: SIWEVerifier(policy: policy),
            nonces: try FileNonceStore(path: nonceLog),
            sessions: SessionStore(),
            nonceLifetime: .seconds(300),
            sessionLifetime: Self.lifetime,
            logger: nil
        )
    }

    /// The origin the page is served from (what a browser's Origin header says).
    public var origin: String { "https://" + domain }

    /// The EIP-4361 message for `address` to sign with a fresh nonce: the page shows it in the wallet
    /// and sends it back signed.
    public func message(for address: Address, now: RFC3339Timestamp) throws(PrivacyPlaneError) -> SIWEMessage {
        let nonce = try signIn.issueNonce(now: now)
        return try SIWEMessage(
            scheme: "https",
            domain: domain,
            address: address,
            statement: "Sign in to review DeLong job outputs.",
            uri: origin + "/review/",
            chainID: chainID,
            nonce: nonce.value,
            issuedAt: now,
            expirationTime: now.adding(Self.maxMessageLifetime)
        )
    }

    /// The outcome of a sign-in: a session with its cookie token and CSRF token, or why not.
    public enum SignInResult: Sendable {
        case signedIn(Session, token: String, csrf: String)
        case refused(String)
    }

    /// Verifies the signed message (domain, URI, chain id, times, the nonce issued here, the signature),
    /// requires an Expiration Time, and opens a session.
    public func signIn(message: String, signature: String, now: RFC3339Timestamp) -> SignInResult {
        guard let parsed = try? SIWEMessage(parsing: message) else { return .refused("the message does not parse") }
        guard let expiry = parsed.expirationTime, let latest = now.adding(Self.maxMessageLifetime), expiry <= latest
        else {
            return .refused("the message must expire within \(Self.maxMessageLifetime.components.seconds) s")
        }
        switch signIn.signIn(message: Array(message.utf8), signatureHex: signature, now: now) {
        case .refused(let failure): return .refused(failure.reason)
        case .signedIn(let session, let token):
            var rng = SystemRandomNumberGenerator()
            let secret = Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }, prefix: false)
            csrf.withLock { table in
                table[session.id] = Array(secret.utf8)
            }
            return .signedIn(session, token: token, csrf: secret)
        }
    }

    /// The live session a cookie token names, or nil.
    public func session(token: String?, now: RFC3339Timestamp) -> Session? {
        guard let token, case .valid(let session) = signIn.sessions.lookup(token: token, now: now) else { return nil }
        return session
    }

    /// True when `presented` is the session's CSRF token (constant time).
    public func csrfMatches(_ session: Session, _ presented: String?) -> Bool {
        guard let presented, let expected = csrf.withLock({ $0[session.id] }) else { return false }
        return ConstantTime.equals(Array(presented.utf8), expected)
    }

    /// Ends a session at once.
    public func signOut(_ session: Session) {
        signIn.sessions.revoke(id: session.id)
        _ = csrf.withLock { $0.removeValue(forKey: session.id) }
    }
}
