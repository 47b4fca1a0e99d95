public import Logging

/// The whole wallet sign-in: issue a nonce, verify the signed message, use the nonce once, open a session.
public final class SignInService: Sendable {
    /// The message checks.
    public let verifier: SIWEVerifier
    /// Where nonces are issued and used up.
    public let nonces: any NonceStore
    /// Where sessions live.
    public let sessions: SessionStore
    /// How long a nonce may wait for its signed message.
    public let nonceLifetime: Duration
    /// How long a session lasts at most.
    public let sessionLifetime: Duration
    private let logger: Logger?

    /// A service with its stores and lifetimes; `logger` nil logs nothing (tests).
    public init(
        verifier: SIWEVerifier,
        nonces: any NonceStore,
        sessions: SessionStore,
        nonceLifetime: Duration = .seconds(600),
        sessionLifetime: Duration = .seconds(3600),
        logger: Logger?
    ) {
        self.verifier = verifier
        self.nonces = nonces
        self.sessions = sessions
        self.nonceLifetime = nonceLifetime
        self.sessionLifetime = sessionLifetime
        self.logger = logger
    }

    /// The outcome of a sign-in.
    public enum Outcome: Sendable {
        /// Signed in: the session and its token (to hand to the client once).
        case signedIn(Session, token: String)
        /// Refused, with the reason (clients should get a generic 401; the reason is for logs and operators).
        case refused(SIWEFailure)
    }

    /// A fresh nonce for a wallet to put into its message.
    public func issueNonce(now: RFC3339Timestamp) throws(PrivacyPlaneError) -> IssuedNonce {
        try nonces.issue(now: now, lifetime: nonceLifetime)
    }

    /// Verifies `message` and `signatureHex`, then uses the message's nonce once and opens a session.
    ///
    /// The nonce is used only after the signature verified, so nobody can burn others' nonces with forged
    /// messages; a replay of a verified message finds its nonce used and is refused.
    public func signIn(message: [UInt8], signatureHex: String, now: RFC3339Timestamp) -> Outcome {
        let verified: VerifiedSIWE
        switch verifier.verify(messageText: message, signatureHex: signatureHex, now: now) {
        case .rejected(let failure):
            logger?.debug("sign-in refused", metadata: ["siwe.failure": "\(failure.code)"])
            return .refused(failure)
        case .verified(let v): verified = v
        }
        let nonce = verified.message.nonce
        let failure: SIWEFailure?
        do {
            switch try nonces.consume(nonce, now: now) {
            case .consumed: failure = nil
            case .unknown: failure = .nonceUnknown(nonce)
            case .alreadyUsed: failure = .nonceAlreadyUsed(nonce)
            case .expired: failure = .nonceExpired(nonce)
            }
        } catch {
            failure = .storageFailure(error.reason)
        }
        if let failure {
            logger?.info(
                "sign-in refused",
                metadata: ["siwe.failure": "\(failure.code)", "wallet.address": "\(verified.address)"]
            )
            return .refused(failure)
        }
        let (session, token) = sessions.create(for: verified, now: now, lifetime: sessionLifetime)
        logger?.info("signed in", metadata: ["wallet.address": "\(verified.address)", "session.id": "\(session.id)"])
        return .signedIn(session, token: token)
    }
}
