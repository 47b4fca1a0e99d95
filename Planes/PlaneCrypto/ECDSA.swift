import COpenSSL

/// A NIST P-256 (prime256v1) public key for ECDSA-with-SHA-256 verification.
///
/// Owns one `EVP_PKEY`. The key is never modified after construction, and OpenSSL 3 documents
/// `EVP_DigestVerify*` on a shared key as safe when each call uses its own `EVP_MD_CTX` (as here), hence
/// `@unchecked Sendable`.
public final class P256PublicKey: @unchecked Sendable {
    let pkey: OpaquePointer

    /// SubjectPublicKeyInfo header for an uncompressed P-256 point (id-ecPublicKey, prime256v1, BIT STRING).
    private static let spkiPrefix: [UInt8] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86, 0x48,
        0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ]

    /// `EVP_PKEY_PUBLIC_KEY` (a compound macro Swift does not import): all parameters (0x84) | public key (0x02).
    private static let selectPublicKey: Int32 = 0x86

    /// The key whose affine coordinates are `x ‖ y` (64 bytes), or `0x04 ‖ x ‖ y` (65 bytes).
    ///
    /// Fails when the bytes have another length or are not a point on the curve.
    public convenience init(uncompressedPoint bytes: [UInt8]) throws(PlaneCryptoError) {
        let point: [UInt8]
        switch bytes.count {
        case 64: point = [0x04] + bytes
        case 65 where bytes[0] == 0x04: point = bytes
        default:
            throw PlaneCryptoError(
                .invalidLength,
                "P-256 public key: expected 64 bytes (x ‖ y) or 65 bytes (0x04 ‖ x ‖ y), found \(bytes.count)"
            )
        }
        // EVP_PKEY_fromdata skips OpenSSL 3's generic DER decoder (d2i_PUBKEY costs ~100 µs and takes locks).
        var pkey: OpaquePointer? = nil
        let ok: Int32 = point.withUnsafeBufferPointer { pub in
            "prime256v1".withCString { group in
                guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { return 0 }
                defer { EVP_PKEY_CTX_free(ctx) }
                // OSSL_PARAM keeps the key pointers: they must outlive the call, so use static strings.
                var params = [
                    OSSL_PARAM_construct_utf8_string(Self.cString("group"), UnsafeMutablePointer(mutating: group), 0),
                    OSSL_PARAM_construct_octet_string(
                        Self.cString("pub"),
                        UnsafeMutableRawPointer(mutating: pub.baseAddress),
                        pub.count
                    ),
                    OSSL_PARAM_construct_end(),
                ]
                guard EVP_PKEY_fromdata_init(ctx) == 1 else { return 0 }
                return EVP_PKEY_fromdata(ctx, &pkey, Self.selectPublicKey, &params)
            }
        }
        guard ok == 1, let pkey else {
            _ = OpenSSLErrorQueue.drain()
            throw PlaneCryptoError(.invalidEncoding, "P-256 public key: the 64 bytes are not a point on the curve")
        }
        self.init(owning: pkey)
    }

    /// The key in a DER SubjectPublicKeyInfo; it must be an EC key on P-256.
    public init(subjectPublicKeyInfo der: [UInt8]) throws(PlaneCryptoError) {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            throw PlaneCryptoError(.invalidEncoding, "P-256 public key: \(OpenSSLErrorQueue.drain())")
        }
        guard Self.isP256(parsed) else {
            EVP_PKEY_free(parsed)
            throw PlaneCryptoError(
                .invalidEncoding,
                "public key: expected an EC key on P-256 (prime256v1), found another"
            )
        }
        self.pkey = parsed
    }

    /// A NUL-terminated pointer into a static string literal (valid for the whole program).
    private static func cString(_ s: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
    }

    /// Takes ownership of `pkey` (already checked to be P-256).
    init(owning pkey: OpaquePointer) {
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }

    static func isP256(_ pkey: OpaquePointer) -> Bool {
        guard EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC else { return false }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else { return false }
        let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return group == "prime256v1" || group == "P-256"
    }

    /// Whether `signature`, a raw `r ‖ s` pair of 32-byte big-endian integers, signs SHA-256(`message`).
    public func isValidSignature(rawRS signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let der = Self.derSignature(rawRS: signature) else { return false }
        return isValidSignature(der: der, for: message)
    }

    /// Whether `signature` (DER `ECDSA-Sig-Value`) signs SHA-256(`message`).
    public func isValidSignature(der signature: [UInt8], for message: [UInt8]) -> Bool {
        message.withUnsafeBytes { isValidSignature(der: signature, for: $0) }
    }

    /// Whether `signature` (DER `ECDSA-Sig-Value`) signs SHA-256 of the bytes in `message`.
    public func isValidSignature(der signature: [UInt8], for message: UnsafeRawBufferPointer) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        // The pre-fetched SHA-256 avoids a by-name algorithm fetch (a global lock in OpenSSL 3) per call.
        guard EVP_DigestVerifyInit(ctx, nil, DigestAlgorithm.sha256.md, nil, pkey) == 1 else {
            _ = OpenSSLErrorQueue.drain()
            return false
        }
        let result = signature.withUnsafeBufferPointer { sig in
            EVP_DigestVerify(
                ctx,
                sig.baseAddress,
                sig.count,
                message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                message.count
            )
        }
        if result != 1 { _ = OpenSSLErrorQueue.drain() }
        return result == 1
    }

    /// DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` for a raw 64-byte `r ‖ s`, or nil when the
    /// length is not 64.
    public static func derSignature(rawRS signature: [UInt8]) -> [UInt8]? {
        guard signature.count == 64 else { return nil }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop { $0 == 0 })
            if value.isEmpty { value = [0] }
            if value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02, UInt8(value.count)] + value
        }
        let body = integer(signature[0..<32]) + integer(signature[32..<64])
        return [0x30, UInt8(body.count)] + body
    }
}
