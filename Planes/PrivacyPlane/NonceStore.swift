/// A nonce handed to a wallet for one sign-in.
public struct IssuedNonce: Hashable, Sendable {
    /// The nonce (letters and digits, `NonceGenerator.length` long).
    public let value: String
    /// After this instant the nonce is refused.
    public let expiresAt: RFC3339Timestamp
}

/// What happened when a sign-in tried to use a nonce.
public enum NonceConsumption: Hashable, Sendable {
    /// The nonce was issued here, unused and unexpired; it is now used (durably).
    case consumed
    /// The nonce was never issued here (or its record was dropped after it expired).
    case unknown
    /// The nonce was used before: a replay.
    case alreadyUsed
    /// The nonce expired unused.
    case expired
}

/// Issues single-use, expiring sign-in nonces and remembers which were used.
///
/// Implementations must never accept a nonce twice, across restarts too: either a restart forgets every
/// nonce issued before it (fail closed; `FileNonceStore` keeps unused nonces in memory only), or `consume`
/// is durable before it returns. `FileNonceStore` records uses in an append-only file;
/// a LevelDB-backed one can implement the same protocol.
public protocol NonceStore: Sendable {
    /// Issues a fresh random nonce valid from `now` for `lifetime`.
    func issue(now: RFC3339Timestamp, lifetime: Duration) throws(PrivacyPlaneError) -> IssuedNonce
    /// Uses `nonce` once: `.consumed` the first time (when issued here and not expired), then `.alreadyUsed`.
    func consume(_ nonce: String, now: RFC3339Timestamp) throws(PrivacyPlaneError) -> NonceConsumption
}

/// Random alphanumeric nonces from the system's cryptographic generator.
public enum NonceGenerator {
    /// 20 characters from 62 carry 119 bits, above the 96 the node requires (and EIP-4361's 8-character minimum).
    public static let length = 20
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A fresh nonce from `SystemRandomNumberGenerator`.
    public static func make() -> String {
        var rng = SystemRandomNumberGenerator()
        return make(using: &rng)
    }

    /// A nonce from `rng` (tests may pass a seeded one). Uniform: bytes ≥ 248 (= 4 × 62) are redrawn.
    public static func make(using rng: inout some RandomNumberGenerator) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        while out.count < length {
            let byte = UInt8.random(in: 0...255, using: &rng)
            if byte < 248 { out.append(alphabet[Int(byte % 62)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
