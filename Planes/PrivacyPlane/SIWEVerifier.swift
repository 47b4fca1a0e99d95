public import ChainCore

/// Checks EIP-4361 sign-in messages against a `SIWEPolicy`; the only builder of `VerifiedSIWE`.
///
/// Pure: no clock, disk or network. Checks run cheapest first and the first failure is the verdict:
/// grammar → signature shape (65 bytes, else "contract wallet") → signature scalars (v, low s) → domain and
/// scheme → URI → chain id → Expiration Time → Not Before → Issued At (→ maximum age) → expected nonce →
/// EIP-191 recovery (secp256k1) against the message's address.
public struct SIWEVerifier: Sendable {
    /// What messages must be bound to.
    public let policy: SIWEPolicy

    /// A verifier for `policy`.
    public init(policy: SIWEPolicy) { self.policy = policy }

    /// Parses `messageText` and `signatureHex` ("0x" + 130 hex digits), then verifies.
    public func verify(
        messageText: [UInt8],
        signatureHex: String,
        now: RFC3339Timestamp,
        expectedNonce: String? = nil
    ) -> SIWEVerdict {
        let message: SIWEMessage
        do { message = try SIWEMessage(parsing: messageText) } catch {
            return .rejected(.malformedMessage(error.reason))
        }
        let trimmed = signatureHex.hasPrefix("0x") || signatureHex.hasPrefix("0X") ? signatureHex : "0x" + signatureHex
        let bytes: [UInt8]
        do { bytes = try Hex.decode(trimmed) } catch {
            return .rejected(.malformedSignature("expected 0x-prefixed hex bytes: \(error.reason)"))
        }
        return verify(message, signature: bytes, now: now, expectedNonce: expectedNonce)
    }

    /// Verifies a parsed message and its raw signature bytes (r ‖ s ‖ v).
    public func verify(
        _ message: SIWEMessage,
        signature bytes: [UInt8],
        now: RFC3339Timestamp,
        expectedNonce: String? = nil
    ) -> SIWEVerdict {
        // Shape first: a wrong length cannot come from an EOA, and contract wallets need chain state.
        guard bytes.count == 65 else { return .rejected(.contractWalletUnsupported(signatureLength: bytes.count)) }
        let signature: Signature
        do { signature = try Signature(rsv: bytes) } catch { return .rejected(.invalidSignature(error.reason)) }

        if let failure = bindingFailure(message) ?? timeFailure(message, now: now) {
            return .rejected(failure)
        }
        if let expectedNonce, expectedNonce != message.nonce {
            return .rejected(.nonceMismatch(expected: expectedNonce, found: message.nonce))
        }
        let recovered: Address
        do { recovered = try Secp256k1.shared.recoverAddress(message.signingHash, signature) } catch {
            return .rejected(.invalidSignature(error.reason))
        }
        guard recovered == message.address else {
            return .rejected(.signatureMismatch(recovered: recovered, expected: message.address))
        }
        return .verified(VerifiedSIWE(unchecked: message, signature: signature, verifiedAt: now))
    }

    /// Domain, scheme, URI and chain id against the policy.
    func bindingFailure(_ message: SIWEMessage) -> SIWEFailure? {
        if let domain = policy.domain {
            guard message.domain == domain else { return .domainMismatch(expected: domain, found: message.domain) }
            let scheme = message.scheme ?? "https"
            guard scheme.lowercased() == policy.scheme.lowercased() else {
                return .schemeMismatch(expected: policy.scheme, found: scheme)
            }
        }
        switch policy.uri {
        case .any: break
        case .origin(let origin):
            guard let found = Self.origin(of: message.uri), found == Self.normalisedOrigin(origin) else {
                return .uriNotAllowed(uri: message.uri, rule: "origin \(origin)")
            }
        case .prefix(let prefix):
            guard message.uri.hasPrefix(prefix) else {
                return .uriNotAllowed(uri: message.uri, rule: "a URI under \(prefix)")
            }
            let rest = message.uri.utf8.dropFirst(prefix.utf8.count)
            let boundary = prefix.hasSuffix("/") || rest.isEmpty || [0x2F, 0x3F, 0x23].contains(rest.first!)
            guard boundary else { return .uriNotAllowed(uri: message.uri, rule: "a URI under \(prefix)") }
        }
        if let allowed = policy.chainIDs, !allowed.contains(message.chainID) {
            return .chainNotAllowed(message.chainID)
        }
        return nil
    }

    /// Expiration Time, Not Before and Issued At against `now`, each with the policy's clock skew.
    func timeFailure(_ message: SIWEMessage, now: RFC3339Timestamp) -> SIWEFailure? {
        let skew = policy.clockSkew
        if let expiry = message.expirationTime, now.sinceEpoch >= expiry.sinceEpoch + skew {
            return .expired(at: expiry, now: now)
        }
        if let notBefore = message.notBefore, now.sinceEpoch + skew < notBefore.sinceEpoch {
            return .notYetValid(until: notBefore, now: now)
        }
        if policy.rejectsFutureIssuedAt, message.issuedAt.sinceEpoch > now.sinceEpoch + skew {
            return .issuedInFuture(at: message.issuedAt, now: now)
        }
        if let maxAge = policy.maxAge, message.issuedAt.sinceEpoch + maxAge + skew < now.sinceEpoch {
            return .tooOld(issuedAt: message.issuedAt, now: now)
        }
        return nil
    }

    /// "scheme://authority" of a URI with an authority, the scheme lower-cased; nil without one.
    static func origin(of uri: String) -> String? {
        let bytes = Array(uri.utf8)
        guard let colon = bytes.firstIndex(of: 0x3A), bytes[(colon + 1)...].starts(with: [0x2F, 0x2F]) else {
            return nil
        }
        let authorityStart = colon + 3
        let end = bytes[authorityStart...].firstIndex(where: { [0x2F, 0x3F, 0x23].contains($0) }) ?? bytes.count
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        return scheme + "://" + String(decoding: bytes[authorityStart..<end], as: UTF8.self)
    }

    static func normalisedOrigin(_ origin: String) -> String? {
        var trimmed = origin
        if trimmed.hasSuffix("/") { trimmed.removeLast() }
        return Self.origin(of: trimmed)
    }
}

/// A sign-in message whose signature, binding and validity period `SIWEVerifier` checked.
///
/// Only the verifier builds one (its initialiser is private to this file), so code that takes a `VerifiedSIWE`
/// cannot be handed an unchecked message.
/// It says nothing about the nonce's single use: `SignInService` consumes the nonce before making a session.
public struct VerifiedSIWE: Hashable, Sendable {
    /// The checked message.
    public let message: SIWEMessage
    /// The signature that recovers to `message.address`.
    public let signature: Signature
    /// When it was checked.
    public let verifiedAt: RFC3339Timestamp

    /// The signed-in account.
    public var address: Address { message.address }

    fileprivate init(unchecked message: SIWEMessage, signature: Signature, verifiedAt: RFC3339Timestamp) {
        self.message = message
        self.signature = signature
        self.verifiedAt = verifiedAt
    }
}
