/// The one error type of PrivacyPlane: a code to branch on and a reason for people.
///
/// Two errors are equal when their codes are; the reason says what was expected and what was found.
/// Verification outcomes are not errors: they are verdicts (`SIWEVerdict`, `NonceConsumption`).
public struct PrivacyPlaneError: Error, Hashable, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Hashable {
        /// A sign-in message does not follow the EIP-4361 grammar.
        case malformedMessage
        /// A timestamp is not an RFC 3339 date-time.
        case malformedTimestamp
        /// A policy or store was configured with values outside their bounds.
        case invalidConfiguration
        /// A store's file could not be read, written or synced.
        case storage
        /// A store's file holds records it cannot understand (never silently skipped).
        case corruptStore
        /// A root secret could not be had: missing, wrong size, or readable by others.
        case keyUnavailable
        /// The index has no such dataset, or it is retired.
        case unknownDataset
        /// No rental, or one that is revoked, expired, too short for the job, or not yet final.
        case rentalInactive
        /// The algorithm's image digest is not published (finally) on chain.
        case algorithmNotPublished
        /// The caller may not have this: a token for another account, or a DEK for someone else's dataset.
        case forbidden
        /// A token failed verification: signature, validity window, mode or shape.
        case tokenRefused
        /// A token was presented again after a key release already used it.
        case tokenAlreadyUsed
        /// Attestation evidence did not verify, or its measurements are not on the on-chain allow-list.
        case attestationRefused
        /// The evidence's REPORTDATA does not bind this sandbox key, token and image digest.
        case bindingMismatch
        /// A request field is missing, malformed or out of bounds.
        case badRequest
        /// The index could not be read.
        case indexUnavailable
        /// The index is too old to decide on: its head block, or its last successful sync pass, is older
        /// than the plane's bound (see `IndexFreshness`).
        case indexStale
        /// The wall clock is further behind the verified head's time than the plane accepts.
        case clockSkew
        /// AlgorithmRegistry names a privacy signer other than this plane's key: the key was rotated out.
        case signerMismatch
        /// The plane's DCAP collateral is past a nextUpdate (TCB Info, QE Identity, a CRL) or a certificate's
        /// notAfter: TDX quotes cannot be judged until fresh collateral is loaded (the plane's fault, not the
        /// caller's).
        case collateralExpired
        /// The plane has no DCAP collateral for the quote's platform yet: its PCS or PCCS could not be reached.
        case collateralUnavailable
        /// Too many requests of this kind for this subject (e.g. provider key releases of one dataset).
        case rateLimited
        /// A token's audience is missing, or not a Computing Plane operator authorized in a final block.
        case audienceRefused
        /// A lease renewal names a lease the plane does not hold (never granted, pruned, or lost in a restart).
        case unknownLease
        /// A lease renewal's signature is not the agent signer's bound at release, or its time is stale.
        case leaseRefused
        /// A lease renewal came after the lease ended: a missed renewal ends it for good.
        case leaseExpired
        /// The lease was revoked on first sight of a revocation in the index (pending or final): the rental,
        /// dataset, measurement or signer, or the index went stale. Every later renewal is refused too.
        case leaseRevoked
    }

    /// What kind of failure this is.
    public let code: Code
    /// What was expected and what was found.
    public let reason: String
    /// Where the error was raised (for debugging; not part of equality).
    public let file: String
    /// Where the error was raised (for debugging; not part of equality).
    public let line: Int

    /// An error with a code and a reason.
    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    public static func == (lhs: PrivacyPlaneError, rhs: PrivacyPlaneError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
