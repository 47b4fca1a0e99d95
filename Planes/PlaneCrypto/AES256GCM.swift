import COpenSSL

/// AES-256-GCM with a fixed key, through one reusable OpenSSL cipher context per direction.
///
/// The key is loaded into the `EVP_CIPHER_CTX` once (key schedule and GHASH tables computed once); each
/// message then only sets its 12-byte nonce, so the per-chunk cost is the cipher work itself. OpenSSL wipes
/// the context's key material when the context is freed. Not thread-safe: use one instance per thread.
public final class AES256GCM {
    /// Key length in bytes.
    public static let keyLength = 32
    /// Nonce length in bytes (the GCM-recommended 96 bits).
    public static let nonceLength = 12
    /// Tag length in bytes.
    public static let tagLength = 16

    private let encryptor: OpaquePointer
    private let decryptor: OpaquePointer

    /// Loads `key` (32 bytes) into fresh encryption and decryption contexts.
    public init(key: SecretBytes) throws(PlaneCryptoError) {
        guard key.count == Self.keyLength else {
            throw PlaneCryptoError(.invalidLength, "AES-256-GCM key must be 32 bytes, found \(key.count)")
        }
        guard let e = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
        guard let d = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_CTX_free(e)
            throw .openSSL("EVP_CIPHER_CTX_new")
        }
        encryptor = e
        decryptor = d
        let cipher = CipherAlgorithm.aes256gcm.cipher
        let ok = key.withUnsafeBytes { k -> Bool in
            let kp = k.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return EVP_EncryptInit_ex2(e, cipher, kp, nil, nil) == 1
                && EVP_DecryptInit_ex2(d, cipher, kp, nil, nil) == 1
        }
        guard ok else { throw .openSSL("EVP_CipherInit_ex2(AES-256-GCM)") }
    }

    deinit {
        EVP_CIPHER_CTX_free(encryptor)
        EVP_CIPHER_CTX_free(decryptor)
    }

    /// Encrypts `plaintext` into `ciphertext` (same length; may be the same memory) and writes the tag.
    public func seal(
        nonce: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        ciphertext: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawBufferPointer
    ) throws(PlaneCryptoError) {
        guard nonce.count == Self.nonceLength, tag.count == Self.tagLength, ciphertext.count == plaintext.count else {
            throw PlaneCryptoError(
                .invalidLength,
                "AES-256-GCM seal expects a 12-byte nonce, 16-byte tag and equal text lengths; found \(nonce.count), \(tag.count), \(plaintext.count)/\(ciphertext.count)"
            )
        }
        let ctx = encryptor
        var outLength: Int32 = 0
        guard EVP_EncryptInit_ex2(ctx, nil, nil, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nil) == 1
        else { throw .openSSL("EVP_EncryptInit_ex2(nonce)") }
        if aad.count > 0 {
            guard
                EVP_EncryptUpdate(
                    ctx,
                    nil,
                    &outLength,
                    aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    Int32(aad.count)
                ) == 1
            else { throw .openSSL("EVP_EncryptUpdate(aad)") }
        }
        if plaintext.count > 0 {
            guard
                EVP_EncryptUpdate(
                    ctx,
                    ciphertext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    &outLength,
                    plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    Int32(plaintext.count)
                ) == 1
            else { throw .openSSL("EVP_EncryptUpdate") }
        }
        var scratch = (UInt64(0), UInt64(0))  // GCM final writes no bytes; give it a valid pointer anyway
        let finalOK = withUnsafeMutableBytes(of: &scratch) {
            EVP_EncryptFinal_ex(ctx, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), &outLength)
        }
        guard finalOK == 1 else { throw .openSSL("EVP_EncryptFinal_ex") }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagLength), tag.baseAddress) == 1 else {
            throw .openSSL("EVP_CTRL_GCM_GET_TAG")
        }
    }

    /// Decrypts and authenticates. Returns false (and zeroes `plaintext`) when the tag does not verify;
    /// the caller must then treat the data as absent, never use `plaintext`.
    public func open(
        nonce: UnsafeRawBufferPointer,
        aad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeRawBufferPointer,
        plaintext: UnsafeMutableRawBufferPointer
    ) throws(PlaneCryptoError) -> Bool {
        guard nonce.count == Self.nonceLength, tag.count == Self.tagLength, ciphertext.count == plaintext.count else {
            throw PlaneCryptoError(
                .invalidLength,
                "AES-256-GCM open expects a 12-byte nonce, 16-byte tag and equal text lengths; found \(nonce.count), \(tag.count), \(ciphertext.count)/\(plaintext.count)"
            )
        }
        let ctx = decryptor
        var outLength: Int32 = 0
        guard EVP_DecryptInit_ex2(ctx, nil, nil, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nil) == 1
        else { throw .openSSL("EVP_DecryptInit_ex2(nonce)") }
        if aad.count > 0 {
            guard
                EVP_DecryptUpdate(
                    ctx,
                    nil,
                    &outLength,
                    aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    Int32(aad.count)
                ) == 1
            else { throw .openSSL("EVP_DecryptUpdate(aad)") }
        }
        if ciphertext.count > 0 {
            guard
                EVP_DecryptUpdate(
                    ctx,
                    plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    &outLength,
                    ciphertext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    Int32(ciphertext.count)
                ) == 1
            else { throw .openSSL("EVP_DecryptUpdate") }
        }
        guard
            EVP_CIPHER_CTX_ctrl(
                ctx,
                EVP_CTRL_GCM_SET_TAG,
                Int32(Self.tagLength),
                UnsafeMutableRawPointer(mutating: tag.baseAddress)
            ) == 1
        else { throw .openSSL("EVP_CTRL_GCM_SET_TAG") }
        var scratch = (UInt64(0), UInt64(0))
        let verified =
            withUnsafeMutableBytes(of: &scratch) {
                EVP_DecryptFinal_ex(ctx, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), &outLength)
            } == 1
        if !verified {
            ERR_clear_error()
            if plaintext.count > 0 { OPENSSL_cleanse(plaintext.baseAddress, plaintext.count) }
        }
        return verified
    }

    /// Convenience: returns ciphertext ‖ tag.
    public func seal(nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws(PlaneCryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + Self.tagLength)
        var result: Result<Void, PlaneCryptoError> = .success(())
        out.withUnsafeMutableBytes { o in
            nonce.withUnsafeBytes { n in
                aad.withUnsafeBytes { a in
                    plaintext.withUnsafeBytes { p in
                        result = Result { () throws(PlaneCryptoError) in
                            try seal(
                                nonce: n,
                                aad: a,
                                plaintext: p,
                                ciphertext: UnsafeMutableRawBufferPointer(rebasing: o[0..<p.count]),
                                tag: UnsafeMutableRawBufferPointer(rebasing: o[p.count...])
                            )
                        }
                    }
                }
            }
        }
        try result.get()
        return out
    }

    /// Convenience: opens ciphertext ‖ tag; nil when authentication fails.
    public func open(nonce: [UInt8], aad: [UInt8], sealed: [UInt8]) throws(PlaneCryptoError) -> [UInt8]? {
        guard sealed.count >= Self.tagLength else { return nil }
        let length = sealed.count - Self.tagLength
        var out = [UInt8](repeating: 0, count: length)
        var result: Result<Bool, PlaneCryptoError> = .success(false)
        out.withUnsafeMutableBytes { o in
            nonce.withUnsafeBytes { n in
                aad.withUnsafeBytes { a in
                    sealed.withUnsafeBytes { s in
                        result = Result { () throws(PlaneCryptoError) in
                            try open(
                                nonce: n,
                                aad: a,
                                ciphertext: UnsafeRawBufferPointer(rebasing: s[0..<length]),
                                tag: UnsafeRawBufferPointer(rebasing: s[length...]),
                                plaintext: o
                            )
                        }
                    }
                }
            }
        }
        return try result.get() ? out : nil
    }
}

/// A fetched `EVP_CIPHER` (immutable, shareable between threads).
final class CipherAlgorithm: @unchecked Sendable {
    static let aes256gcm = CipherAlgorithm("AES-256-GCM")
    static let chacha20Poly1305 = CipherAlgorithm("ChaCha20-Poly1305")
    let cipher: OpaquePointer
    private init(_ name: String) {
        guard let c = EVP_CIPHER_fetch(nil, name, nil) else { fatalError("OpenSSL: EVP_CIPHER_fetch(\(name)) failed") }
        cipher = c
    }
    deinit { EVP_CIPHER_free(cipher) }
}
