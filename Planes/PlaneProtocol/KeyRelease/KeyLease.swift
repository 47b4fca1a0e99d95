public import ChainCore

/// The lease a sandbox holds a released dataset key under. The Privacy Plane grants it with the key and the
/// sandbox agent renews it every `renewEvery` seconds (``LeaseRenewal``); each renewal re-checks the rental,
/// the dataset and the measurements on the latest index state, pending blocks included, so a revocation ends
/// the lease on first sight. A refused or missed renewal ends it for good: the agent must then stop the job
/// and drop the key.
public struct KeyLease: Hashable, Sendable {
    /// The lease's id: the token's EIP-712 signing hash (one key release per token, so one lease per token).
    public var id: Hash32
    /// Unix seconds: the lease ends here unless renewed before.
    public var expiresAt: UInt64
    /// Seconds between renewals the plane asks for (a third of the lease).
    public var renewEvery: UInt64

    public init(id: Hash32, expiresAt: UInt64, renewEvery: UInt64) {
        self.id = id
        self.expiresAt = expiresAt
        self.renewEvery = renewEvery
    }

    /// No lease (a provider's own key).
    public static let none = KeyLease(id: .zero, expiresAt: 0, renewEvery: 0)

    static let renewalLabel = Array("delong/lease-renewal/v1".utf8)

    /// What the agent signs to renew lease `id` at `at` (unix seconds), with the secp256k1 key whose address
    /// its attestation bound: keccak256("delong/lease-renewal/v1" ‖ id (32) ‖ at (8 bytes, big-endian)).
    public static func renewalHash(id: Hash32, at: UInt64) -> Hash32 {
        Keccak256.hash(renewalLabel + id.bytes + withUnsafeBytes(of: at.bigEndian) { Array($0) })
    }
}

/// A renewal request (`POST /v1/keys/renew`): the lease, the agent's time and its signature over
/// ``KeyLease/renewalHash(id:at:)``.
public struct LeaseRenewal: Hashable, Sendable {
    public var lease: Hash32
    /// The agent's clock (unix seconds); the plane refuses one more than 30 s from its own.
    public var at: UInt64
    public var signature: Signature

    public init(lease: Hash32, at: UInt64, signature: Signature) {
        self.lease = lease
        self.at = at
        self.signature = signature
    }

    /// Signs a renewal of `lease` at `at` with the agent's 32-byte secp256k1 private key.
    public init(signing lease: Hash32, at: UInt64, privateKey: [UInt8]) throws(ChainError) {
        self.init(
            lease: lease,
            at: at,
            signature: try Secp256k1.shared.sign(KeyLease.renewalHash(id: lease, at: at), privateKey: privateKey)
        )
    }

    /// The address that signed the renewal.
    public func signer() throws(ChainError) -> Address {
        try Secp256k1.shared.recoverAddress(KeyLease.renewalHash(id: lease, at: at), signature)
    }
}
