public import ChainCore

/// Why a sign-in was refused. Each case's `reason` says what was expected and what was found.
public enum SIWEFailure: Hashable, Sendable, CustomStringConvertible {
    /// The message text does not follow EIP-4361.
    case malformedMessage(String)
    /// The signature is not hex.
    case malformedSignature(String)
    /// The signature is not 65 bytes, so it cannot be an externally owned account's; contract wallets
    /// (EIP-1271) sign with arbitrary bytes and are not supported yet.
    case contractWalletUnsupported(signatureLength: Int)
    /// 65 bytes, but not a valid secp256k1 signature (v, high s, r or s out of range).
    case invalidSignature(String)
    /// The signature recovers to another address than the message's.
    case signatureMismatch(recovered: Address, expected: Address)
    /// The message names another domain.
    case domainMismatch(expected: String, found: String)
    /// The message names another scheme.
    case schemeMismatch(expected: String, found: String)
    /// The message's URI is outside the policy's origin or prefix.
    case uriNotAllowed(uri: String, rule: String)
    /// The message's chain id is not accepted.
    case chainNotAllowed(UInt64)
    /// The message's nonce is not the one the caller expected.
    case nonceMismatch(expected: String, found: String)
    /// Expiration Time (plus the skew) has passed.
    case expired(at: RFC3339Timestamp, now: RFC3339Timestamp)
    /// Not Before (minus the skew) has not come yet.
    case notYetValid(until: RFC3339Timestamp, now: RFC3339Timestamp)
    /// Issued At lies further in the future than the skew.
    case issuedInFuture(at: RFC3339Timestamp, now: RFC3339Timestamp)
    /// Issued At lies further in the past than the policy's maximum age.
    case tooOld(issuedAt: RFC3339Timestamp, now: RFC3339Timestamp)
    /// The nonce was never issued here (or its record has been compacted away after expiry).
    case nonceUnknown(String)
    /// The nonce has already been used for a sign-in.
    case nonceAlreadyUsed(String)
    /// The nonce expired before it was used.
    case nonceExpired(String)
    /// The nonce store could not record the use; the sign-in is refused rather than left replayable.
    case storageFailure(String)

    /// The sentence every contract-wallet answer contains.
    public static let contractWalletsNotSupported = "EIP-1271 contract wallets are not supported yet"

    /// True when the input could not be parsed at all (message grammar or signature hex).
    public var isMalformed: Bool {
        switch self {
        case .malformedMessage, .malformedSignature: return true
        default: return false
        }
    }

    /// A stable machine-readable name ("expired", "signatureMismatch", …).
    public var code: String {
        switch self {
        case .malformedMessage: return "malformedMessage"
        case .malformedSignature: return "malformedSignature"
        case .contractWalletUnsupported: return "contractWalletUnsupported"
        case .invalidSignature: return "invalidSignature"
        case .signatureMismatch: return "signatureMismatch"
        case .domainMismatch: return "domainMismatch"
        case .schemeMismatch: return "schemeMismatch"
        case .uriNotAllowed: return "uriNotAllowed"
        case .chainNotAllowed: return "chainNotAllowed"
        case .nonceMismatch: return "nonceMismatch"
        case .expired: return "expired"
        case .notYetValid: return "notYetValid"
        case .issuedInFuture: return "issuedInFuture"
        case .tooOld: return "tooOld"
        case .nonceUnknown: return "nonceUnknown"
        case .nonceAlreadyUsed: return "nonceAlreadyUsed"
        case .nonceExpired: return "nonceExpired"
        case .storageFailure: return "storageFailure"
        }
    }

    /// What was expected and what was found.
    public var reason: String {
        switch self {
        case .malformedMessage(let why): return "malformed SIWE message: \(why)"
        case .malformedSignature(let why): return "malformed signature: \(why)"
        case .contractWalletUnsupported(let length):
            return "the signature is \(length) bytes, not the 65 bytes (r ‖ s ‖ v) of an externally owned "
                + "account; \(Self.contractWalletsNotSupported)"
        case .invalidSignature(let why):
            return "invalid signature: \(why) (if the address is a contract wallet: "
                + "\(Self.contractWalletsNotSupported))"
        case .signatureMismatch(let recovered, let expected):
            return "the signature recovers to \(recovered.checksummed), not the message's address "
                + "\(expected.checksummed) (if that is a contract wallet: \(Self.contractWalletsNotSupported))"
        case .domainMismatch(let expected, let found):
            return "the message is for domain \(SIWEMessage.quoted(found)), expected \(SIWEMessage.quoted(expected))"
        case .schemeMismatch(let expected, let found):
            return "the message is for scheme \(SIWEMessage.quoted(found)), expected \(SIWEMessage.quoted(expected))"
        case .uriNotAllowed(let uri, let rule):
            return "the message's URI \(SIWEMessage.quoted(uri)) is not allowed: expected \(rule)"
        case .chainNotAllowed(let id): return "chain id \(id) is not accepted here"
        case .nonceMismatch(let expected, let found):
            return "the message's nonce is \(SIWEMessage.quoted(found)), expected \(SIWEMessage.quoted(expected))"
        case .expired(let at, let now): return "the message expired at \(at) (now \(now))"
        case .notYetValid(let until, let now): return "the message is not valid before \(until) (now \(now))"
        case .issuedInFuture(let at, let now):
            return "the message's Issued At \(at) lies in the future (now \(now)) beyond the allowed clock skew"
        case .tooOld(let issuedAt, let now):
            return "the message was issued at \(issuedAt), longer ago than allowed (now \(now))"
        case .nonceUnknown(let nonce): return "nonce \(SIWEMessage.quoted(nonce)) was not issued here"
        case .nonceAlreadyUsed(let nonce):
            return "nonce \(SIWEMessage.quoted(nonce)) has already been used (replayed sign-in)"
        case .nonceExpired(let nonce): return "nonce \(SIWEMessage.quoted(nonce)) has expired"
        case .storageFailure(let why): return "the sign-in could not be recorded: \(why)"
        }
    }

    public var description: String { reason }
}

/// The outcome of verifying a sign-in message.
public enum SIWEVerdict: Sendable {
    /// Every check passed.
    case verified(VerifiedSIWE)
    /// The first check that failed, with its reason.
    case rejected(SIWEFailure)

    /// The verified message, if any.
    public var verified: VerifiedSIWE? {
        if case .verified(let v) = self { return v }
        return nil
    }

    /// The failure, if any.
    public var failure: SIWEFailure? {
        if case .rejected(let f) = self { return f }
        return nil
    }
}
