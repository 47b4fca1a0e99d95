import COpenSSL

/// ChaCha20-Poly1305 (RFC 8439) with a fixed key, through one reusable OpenSSL cipher context per direction.
///
/// The key is loaded once; each message then only sets its 12-byte nonce, as ``AES256GCM`` does. OpenSSL
/// wipes the contexts' key material when they are freed. Not thread-safe: use one instance per thread.
public final class ChaCha20Poly1305 {
    /// Key length in bytes.
    public static let keyLength = 32
    /// Nonce length in bytes.
    public static let nonceLength = 12
    /// Tag length in bytes.
    public static let tagLength = 16

    private let encryptor: OpaquePointer
    private let decryptor: OpaquePointer

    /// Loads `key` (32 bytes) into fresh encryption and decryption contexts.
    public init(key: SecretBytes) throws(PlaneCryptoError) {
        guard key.count == Self.keyLength else {
            throw PlaneCryptoError(.invalidLength, "ChaCha20-Poly1305 key must be 32 bytes, found \(key.count)")
        }
        guard let e = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
        guard let d = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_CTX_free(e)
            throw .openSSL("EVP_CIPHER_CTX_new")
        }
        encryptor = e
        decryptor = d
        let cipher = CipherAlgorithm.chacha20Poly1305.cipher
        let ok = key.withUnsafeBytes { k -> Bool in
            let kp = k.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return EVP_EncryptInit_ex2(e, cipher, kp, nil, nil) == 1
                && EVP_DecryptInit_ex2(d, cipher, kp, nil, nil) == 1
        }
        guard ok else { throw .openSSL("EVP_CipherInit_ex2(ChaCha20-Poly1305)") }
    }

    deinit {
        EVP_CIPHER_CTX_free(encryptor)
        EVP_CIPHER_CTX_free(decryptor)
    }

    /// Encrypts `plaintext` into `ciphertext` (same length; may be the same memory) and writes the tag.
    /// No associated data: age, the one user, authenticates none.
    public func seal(
        nonce: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        ciphertext: UnsafeMutableRawBufferPointer,
        tag: UnsafeMutableRawBufferPointer
    ) throws(PlaneCryptoError) {
        guard nonce.count == Self.nonceLength, tag.count == Self.tagLength, ciphertext.count == plaintext.count else {
            throw PlaneCryptoError(
                .invalidLength,
                "ChaCha20-Poly1305 seal expects a 12-byte nonce, 16-byte tag and equal text lengths; found \(nonce.count), \(tag.count), \(plaintext.count)/\(ciphertext.count)"
            )
        }
        let ctx = encryptor
        var outLength: Int32 = 0
        guard EVP_EncryptInit_ex2(ctx, nil, nil, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nil) == 1
        else { throw .openSSL("EVP_EncryptInit_ex2(nonce)") }
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
        var scratch = (UInt64(0), UInt64(0))  // the final call writes no bytes; give it a valid pointer anyway
        let finalOK = withUnsafeMutableBytes(of: &scratch) {
            EVP_EncryptFinal_ex(ctx, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), &outLength)
        }
        guard finalOK == 1 else { throw .openSSL("EVP_EncryptFinal_ex") }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagLength), tag.baseAddress) == 1 else {
            throw .openSSL("EVP_CTRL_AEAD_GET_TAG")
        }
    }

    /// Decrypts and authenticates. Returns false (and zeroes `plaintext`) when the tag does not verify;
    /// the caller must then treat the data as absent, never use `plaintext`.
    public func open(
        nonce: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer,
        tag: UnsafeRawBufferPointer,
        plaintext: UnsafeMutableRawBufferPointer
    ) throws(PlaneCryptoError) -> Bool {
        guard nonce.count == Self.nonceLength, tag.count == Self.tagLength, ciphertext.count == plaintext.count else {
            throw PlaneCryptoError(
                .invalidLength,
                "ChaCha20-Poly1305 open expects a 12-byte nonce, 16-byte tag and equal text lengths; found \(nonce.count), \(tag.count), \(ciphertext.count)/\(plaintext.count)"
            )
        }
        let ctx = decryptor
        var outLength: Int32 = 0
        guard EVP_DecryptInit_ex2(ctx, nil, nil, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nil) == 1
        else { throw .openSSL("EVP_DecryptInit_ex2(nonce)") }
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
                EVP_CTRL_AEAD_SET_TAG,
                Int32(Self.tagLength),
                UnsafeMutableRawPointer(mutating: tag.baseAddress)
            ) == 1
        else { throw .openSSL("EVP_CTRL_AEAD_SET_TAG") }
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
}
