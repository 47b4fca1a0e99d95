import CSecp256k1

/// An ECDSA signature over secp256k1 with its recovery id, as Ethereum uses it.
public struct Signature: Hashable, Sendable {
    /// 32-byte big-endian r.
    public let r: [UInt8]
    /// 32-byte big-endian s.
    public let s: [UInt8]
    /// 0 or 1: which of the two candidate public keys signed.
    public let recoveryID: UInt8

    /// Half the group order: Ethereum (EIP-2) accepts only s ≤ n/2.
    static let halfOrder: [UInt8] = try! Hex.decode("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")
    static let order: [UInt8] = try! Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")

    /// A signature from r, s (each at most 32 bytes, big-endian) and a recovery id of 0 or 1.
    /// Rejects r or s of zero or not below the group order, and s above n/2 (malleable "high-s").
    public init(r: [UInt8], s: [UInt8], recoveryID: UInt8) throws(ChainError) {
        guard r.count <= 32, s.count <= 32 else {
            throw ChainError(.invalidSignature, "expected r and s of at most 32 bytes, found \(r.count) and \(s.count)")
        }
        let r32 = [UInt8](repeating: 0, count: 32 - r.count) + r
        let s32 = [UInt8](repeating: 0, count: 32 - s.count) + s
        guard recoveryID <= 1 else {
            throw ChainError(.invalidSignature, "expected a recovery id of 0 or 1, found \(recoveryID)")
        }
        guard r32.contains(where: { $0 != 0 }), s32.contains(where: { $0 != 0 }) else {
            throw ChainError(.invalidSignature, "r and s must be non-zero")
        }
        guard r32.lexicographicallyPrecedes(Self.order), s32.lexicographicallyPrecedes(Self.order) else {
            throw ChainError(.invalidSignature, "r and s must be below the secp256k1 group order")
        }
        guard !Self.halfOrder.lexicographicallyPrecedes(s32) else {
            throw ChainError(.invalidSignature, "s is above n/2 (high-s signatures are malleable and refused, EIP-2)")
        }
        self.r = r32
        self.s = s32
        self.recoveryID = recoveryID
    }

    /// Parses the 65-byte r ‖ s ‖ v form of personal_sign and EIP-712 signatures; v may be 0, 1, 27 or 28.
    public init(rsv bytes: [UInt8]) throws(ChainError) {
        guard bytes.count == 65 else {
            throw ChainError(.invalidSignature, "expected a 65-byte signature (r ‖ s ‖ v), found \(bytes.count) bytes")
        }
        let v = bytes[64]
        let id: UInt8
        switch v {
        case 0, 1: id = v
        case 27, 28: id = v - 27
        default: throw ChainError(.invalidSignature, "expected v of 0, 1, 27 or 28, found \(v)")
        }
        try self.init(r: Array(bytes[0..<32]), s: Array(bytes[32..<64]), recoveryID: id)
    }

    /// r ‖ s ‖ v with v = 27 + recovery id (the form wallets return).
    public var rsv: [UInt8] { r + s + [recoveryID + 27] }
}

/// secp256k1 through libsecp256k1: signing, verification and public-key recovery.
///
/// One owner of the library context. The context is created once and randomized; libsecp256k1 documents
/// that a context may be used from several threads for every operation except randomization, so it is
/// shared.
public final class Secp256k1: @unchecked Sendable {
    private let context: OpaquePointer

    /// The process-wide instance.
    public static let shared = Secp256k1()

    private init() {
        context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE))
    }

    deinit { secp256k1_context_destroy(context) }

    /// The 64-byte uncompressed public key (x ‖ y) of a 32-byte private key.
    public func publicKey(privateKey: [UInt8]) throws(ChainError) -> [UInt8] {
        guard privateKey.count == 32 else {
            throw ChainError(.invalidLength, "expected a 32-byte private key, found \(privateKey.count) bytes")
        }
        var pubkey = secp256k1_pubkey()
        let ok = privateKey.withUnsafeBufferPointer { secp256k1_ec_pubkey_create(context, &pubkey, $0.baseAddress!) }
        guard ok == 1 else { throw ChainError(.invalidValue, "private key is zero or not below the group order") }
        return serialize(pubkey)
    }

    /// The address of a private key.
    public func address(privateKey: [UInt8]) throws(ChainError) -> Address {
        try Address(publicKey64: publicKey(privateKey: privateKey))
    }

    /// Signs a 32-byte digest deterministically (RFC 6979); the result is always low-s.
    public func sign(_ digest: Hash32, privateKey: [UInt8]) throws(ChainError) -> Signature {
        guard privateKey.count == 32 else {
            throw ChainError(.invalidLength, "expected a 32-byte private key, found \(privateKey.count) bytes")
        }
        var sig = secp256k1_ecdsa_recoverable_signature()
        let msg = digest.bytes
        let ok = privateKey.withUnsafeBufferPointer { key in
            msg.withUnsafeBufferPointer { m in
                secp256k1_ecdsa_sign_recoverable(context, &sig, m.baseAddress!, key.baseAddress!, nil, nil)
            }
        }
        guard ok == 1 else { throw ChainError(.invalidValue, "private key is zero or not below the group order") }
        var compact = [UInt8](repeating: 0, count: 64)
        var recid: Int32 = 0
        _ = secp256k1_ecdsa_recoverable_signature_serialize_compact(context, &compact, &recid, &sig)
        return try Signature(r: Array(compact[0..<32]), s: Array(compact[32..<64]), recoveryID: UInt8(recid))
    }

    /// The 64-byte public key that produced `signature` over `digest`.
    public func recoverPublicKey(_ digest: Hash32, _ signature: Signature) throws(ChainError) -> [UInt8] {
        var sig = secp256k1_ecdsa_recoverable_signature()
        let compact = signature.r + signature.s
        guard
            secp256k1_ecdsa_recoverable_signature_parse_compact(context, &sig, compact, Int32(signature.recoveryID))
                == 1
        else { throw ChainError(.invalidSignature, "r or s is not a valid secp256k1 scalar") }
        var pubkey = secp256k1_pubkey()
        let msg = digest.bytes
        guard secp256k1_ecdsa_recover(context, &pubkey, &sig, msg) == 1 else {
            throw ChainError(
                .invalidSignature,
                "no public key recovers from this signature (point at infinity or invalid r)"
            )
        }
        return serialize(pubkey)
    }

    /// The address that produced `signature` over `digest` (ecrecover).
    public func recoverAddress(_ digest: Hash32, _ signature: Signature) throws(ChainError) -> Address {
        try Address(publicKey64: recoverPublicKey(digest, signature))
    }

    private func serialize(_ pubkey: secp256k1_pubkey) -> [UInt8] {
        var key = pubkey
        var out = [UInt8](repeating: 0, count: 65)
        var length = 65
        _ = secp256k1_ec_pubkey_serialize(context, &out, &length, &key, UInt32(SECP256K1_EC_UNCOMPRESSED))
        return Array(out[1..<65])
    }
}

/// EIP-191 version 0x45: the digest `personal_sign` signs.
public enum PersonalMessage {
    /// keccak256("\u{19}Ethereum Signed Message:\n" + decimal length + message).
    public static func hash(_ message: [UInt8]) -> Hash32 {
        Keccak256.hash(Array("\u{19}Ethereum Signed Message:\n\(message.count)".utf8) + message)
    }
}
