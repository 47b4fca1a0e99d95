import COpenSSL

/// X25519 (RFC 7748) Diffie-Hellman through OpenSSL's EVP_PKEY interface: the key agreement of key release.
///
/// Private keys live in ``SecretBytes`` (wiped when released); every derived secret does too. A shared secret
/// of all zeros — what a low-order peer point yields — is refused, as RFC 7748 §6.1 advises, so a hostile
/// peer cannot force a known key.
public struct X25519PrivateKey: Sendable {
    /// Length of private keys, public keys and shared secrets.
    public static let length = 32

    private let secret: SecretBytes
    /// The matching 32-byte public key.
    public let publicKey: [UInt8]

    /// A fresh key from the operating system's CSPRNG.
    public init() throws(PlaneCryptoError) {
        try self.init(secret: SecretBytes.random(count: Self.length))
    }

    /// A key from 32 raw bytes (RFC 7748 clamps them when used).
    public init(secret: SecretBytes) throws(PlaneCryptoError) {
        guard secret.count == Self.length else {
            throw PlaneCryptoError(.invalidLength, "X25519 private key must be 32 bytes, found \(secret.count)")
        }
        self.secret = secret
        let key = try Self.privateKey(secret)
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: Self.length)
        var length = Self.length
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == Self.length else {
            throw .openSSL("EVP_PKEY_get_raw_public_key(X25519)")
        }
        publicKey = out
    }

    /// The shared secret with `peer` (a 32-byte public key). Refuses wrong lengths and low-order points.
    public func sharedSecret(with peer: [UInt8]) throws(PlaneCryptoError) -> SecretBytes {
        guard peer.count == Self.length else {
            throw PlaneCryptoError(.invalidLength, "X25519 public key must be 32 bytes, found \(peer.count)")
        }
        let key = try Self.privateKey(secret)
        defer { EVP_PKEY_free(key) }
        guard let peerKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, peer, peer.count) else {
            throw .openSSL("EVP_PKEY_new_raw_public_key(X25519)")
        }
        defer { EVP_PKEY_free(peerKey) }
        guard let ctx = EVP_PKEY_CTX_new(key, nil) else { throw .openSSL("EVP_PKEY_CTX_new(X25519)") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_derive_init(ctx) == 1, EVP_PKEY_derive_set_peer(ctx, peerKey) == 1 else {
            throw .openSSL("EVP_PKEY_derive_init(X25519)")
        }
        let shared = try SecretBytes(count: Self.length) {
            (out: UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) in
            var length = Self.length
            // OpenSSL itself fails the derivation for an all-zero result (low-order peer point).
            guard EVP_PKEY_derive(ctx, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length) == 1,
                length == Self.length
            else {
                _ = OpenSSLErrorQueue.drain()
                throw PlaneCryptoError(.invalidKey, "X25519 peer public key is a low-order point (shared secret zero)")
            }
        }
        // Belt and braces: never hand out an all-zero secret whatever the OpenSSL version does.
        let zero = shared.withUnsafeBytes { $0.allSatisfy { $0 == 0 } }
        guard !zero else {
            throw PlaneCryptoError(.invalidKey, "X25519 peer public key is a low-order point (shared secret zero)")
        }
        return shared
    }

    private static func privateKey(_ secret: SecretBytes) throws(PlaneCryptoError) -> OpaquePointer {
        let key = secret.withUnsafeBytes { s in
            EVP_PKEY_new_raw_private_key(
                EVP_PKEY_X25519,
                nil,
                s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                s.count
            )
        }
        guard let key else { throw .openSSL("EVP_PKEY_new_raw_private_key(X25519)") }
        return key
    }
}
